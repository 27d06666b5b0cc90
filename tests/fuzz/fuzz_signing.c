/*
 * libFuzzer target for webhook signing (src/infra/signing.c): any secret
 * gives a key or an error without echoing it; a key verifies its own
 * signature and not one over another body; any header, however broken, is
 * verified without a crash.
 */
#include "autoconfig.h"

#include "infra/signing.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cut = size / 2;
	char *secret = malloc(cut + 1), *header = malloc(size - cut + 1), err[256], sig[SIGNING_HEADER_SIZE];
	struct SigningKey *key;
	const struct SigningKey *keys[1];

	if (!secret || !header)
		abort();
	memcpy(secret, data, cut);
	secret[cut] = '\0';
	memcpy(header, data + cut, size - cut);
	header[size - cut] = '\0';
	key = signing_key_new(secret, err, sizeof(err));
	if (key) {
		keys[0] = key;
		if (!signing_header(key, NULL, "msg_1", "1764000000", header, strlen(header), sig))
			abort();
		if (!signing_verify(sig, keys, 1, "msg_1", "1764000000", header, strlen(header)))
			abort();
		if (signing_verify(sig, keys, 1, "msg_1", "1764000000", "other body", 10) && strcmp(header, "other body"))
			abort();
		signing_verify(header, keys, 1, "msg_1", "1764000000", "{}", 2);
		signing_key_free(key);
	} else if (!err[0] || (strlen(secret) > 8 && strstr(err, secret))) {
		abort();	/* a reason, and never the secret itself */
	}
	free(secret);
	free(header);
	return 0;
}
