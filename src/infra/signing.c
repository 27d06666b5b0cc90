#include "autoconfig.h"

#include "infra/signing.h"

#include "infra/alloc.h"
#include "infra/log.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHA256_LEN 32
#define SIG_PREFIX "v1,"

struct SigningKey {
	size_t len;
	unsigned char bytes[];
};

/* --- base64 (RFC 4648, standard alphabet) ----------------------------------------- */

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Decode s (padding optional, nothing else allowed) into out, which has
 * room for 3 * strlen(s) / 4 + 3 bytes; false when s is not base64.
 */
static bool b64_decode(const char *s, unsigned char *out, size_t *outlen)
{
	size_t len = strlen(s), n = 0;
	uint32_t acc = 0;
	int bits = 0;

	while (len > 0 && s[len - 1] == '=')
		len--;
	size_t pad = strlen(s) - len;

	if (pad > 2 || len % 4 == 1 || (pad > 0 && (len + pad) % 4 != 0))
		return false;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value((unsigned char)s[i]);

		if (v < 0)
			return false;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	*outlen = n;
	return true;
}

/* --- keys --------------------------------------------------------------------- */

static struct SigningKey *key_alloc(size_t cap)
{
	struct SigningKey *k = xcalloc(1, sizeof(*k) + cap);

	return k;
}

struct SigningKey *signing_key_new(const char *secret, char *err, size_t errsize)
{
	size_t plen = strlen(SIGNING_SECRET_PREFIX);
	struct SigningKey *k;

	if (strncmp(secret, SIGNING_SECRET_PREFIX, plen) != 0) {
		if (*secret == '\0') {
			snprintf(err, errsize, "signing secret is empty");
			return NULL;
		}
		k = key_alloc(strlen(secret));
		k->len = strlen(secret);
		memcpy(k->bytes, secret, k->len);
		return k;
	}
	k = key_alloc(strlen(secret + plen) * 3 / 4 + 3);
	if (!b64_decode(secret + plen, k->bytes, &k->len)) {
		snprintf(err, errsize, "signing secret: the part after \"%s\" is not valid base64", SIGNING_SECRET_PREFIX);
		signing_key_free(k);
		return NULL;
	}
	if (k->len == 0) {
		snprintf(err, errsize, "signing secret: no key after \"%s\"", SIGNING_SECRET_PREFIX);
		signing_key_free(k);
		return NULL;
	}
	return k;
}

void signing_key_free(struct SigningKey *key)
{
	if (!key)
		return;
	OPENSSL_cleanse(key->bytes, key->len);
	free(key);
}

/* --- signatures ------------------------------------------------------------------ */

static void log_crypto_error(const char *what, const char *id)
{
	char buf[256];
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "unknown libcrypto error");
	ERR_clear_error();
	log_error_f(LOG_F(.event_id = id), "signing: could not %s: %s", what, buf);
}

/* HMAC-SHA256 over id "." timestamp "." body. */
static bool hmac_message(const struct SigningKey *key, const char *id, const char *timestamp, const char *body,
			 size_t body_len, unsigned char mac[SHA256_LEN])
{
	size_t idlen = strlen(id), tslen = strlen(timestamp);
	size_t total = idlen + 1 + tslen + 1 + body_len;
	unsigned char *msg = xmalloc(total ? total : 1);
	unsigned int maclen = 0;
	bool ok;

	memcpy(msg, id, idlen);
	msg[idlen] = '.';
	memcpy(msg + idlen + 1, timestamp, tslen);
	msg[idlen + 1 + tslen] = '.';
	if (body_len)
		memcpy(msg + idlen + tslen + 2, body, body_len);
	ok = HMAC(EVP_sha256(), key->bytes, (int)key->len, msg, total, mac, &maclen) != NULL &&
	     maclen == SHA256_LEN;
	free(msg);
	if (!ok)
		log_crypto_error("compute HMAC-SHA256", id);
	return ok;
}

bool signing_sign(const struct SigningKey *key, const char *id, const char *timestamp, const char *body,
		  size_t body_len, char out[SIGNING_SIGNATURE_SIZE])
{
	unsigned char mac[SHA256_LEN];
	int n;

	out[0] = '\0';
	if (!hmac_message(key, id, timestamp, body, body_len, mac))
		return false;
	memcpy(out, SIG_PREFIX, strlen(SIG_PREFIX));
	n = EVP_EncodeBlock((unsigned char *)out + strlen(SIG_PREFIX), mac, SHA256_LEN);
	OPENSSL_cleanse(mac, sizeof(mac));
	if (n != 44) {
		out[0] = '\0';
		log_crypto_error("base64-encode the signature", id);
		return false;
	}
	return true;
}

bool signing_header(const struct SigningKey *current, const struct SigningKey *previous, const char *id,
		    const char *timestamp, const char *body, size_t body_len, char out[SIGNING_HEADER_SIZE])
{
	char second[SIGNING_SIGNATURE_SIZE];

	if (!signing_sign(current, id, timestamp, body, body_len, out))
		return false;
	if (!previous)
		return true;
	if (!signing_sign(previous, id, timestamp, body, body_len, second)) {
		out[0] = '\0';
		return false;
	}
	strcat(out, " ");
	strcat(out, second);
	return true;
}

/* Does token[0..len) equal one of the expected signatures? */
static bool token_matches(const char *token, size_t len, char expected[][SIGNING_SIGNATURE_SIZE], int n)
{
	bool found = false;

	for (int i = 0; i < n; i++) {
		if (len == strlen(expected[i]) && CRYPTO_memcmp(token, expected[i], len) == 0)
			found = true;
	}
	return found;
}

bool signing_verify(const char *header, const struct SigningKey *const *keys, int nkeys, const char *id,
		    const char *timestamp, const char *body, size_t body_len)
{
	char (*expected)[SIGNING_SIGNATURE_SIZE];
	bool found = false;
	const char *p = header;

	if (!header || nkeys <= 0)
		return false;
	expected = xcalloc((size_t)nkeys, sizeof(*expected));
	for (int i = 0; i < nkeys; i++) {
		if (!signing_sign(keys[i], id, timestamp, body, body_len, expected[i]))
			expected[i][0] = '\0';
	}
	while (*p) {
		size_t len = strcspn(p, " ");

		if (len > strlen(SIG_PREFIX) && strncmp(p, SIG_PREFIX, strlen(SIG_PREFIX)) == 0 &&
		    token_matches(p, len, expected, nkeys))
			found = true;
		p += len;
		p += strspn(p, " ");
	}
	OPENSSL_cleanse(expected, (size_t)nkeys * sizeof(*expected));
	free(expected);
	return found;
}
