/*
 * libFuzzer target for the Authorization header (src/infra/apikey.c):
 * any value either carries no Bearer token or a token that lies inside it,
 * is at most APIKEY_MAX_TOKEN bytes of RFC 6750 token characters, and
 * hashes without a crash.
 */
#include "autoconfig.h"

#include "infra/apikey.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = malloc(size + 1);
	unsigned char hash[APIKEY_HASH_LEN];
	const char *token;
	size_t len;

	if (!value)
		abort();
	memcpy(value, data, size);
	value[size] = '\0';
	if (apikey_bearer_token(value, &token, &len)) {
		if (token < value || token + len > value + strlen(value) || len == 0 || len > APIKEY_MAX_TOKEN)
			abort();
		for (size_t i = 0; i < len; i++)
			if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=", token[i]) ||
			    token[i] == '\0')
				abort();
		apikey_hash(token, len, hash);
	}
	free(value);
	return 0;
}
