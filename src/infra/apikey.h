/*
 * API keys as bytes: a new key is "cgk_" and 43 base64url characters
 * (256 random bits); only its SHA-256 is ever stored.  The Authorization
 * header parser is here too, so the daemon and the tests agree on it.
 */
#ifndef CHARGEGATE_APIKEY_H
#define CHARGEGATE_APIKEY_H

#include <stdbool.h>
#include <stddef.h>

#define APIKEY_PREFIX "cgk_"
#define APIKEY_SIZE (sizeof(APIKEY_PREFIX) - 1 + 43 + 1)	/* with the NUL */
#define APIKEY_HASH_LEN 32
#define APIKEY_HASH_HEX_SIZE (2 * APIKEY_HASH_LEN + 1)
/* Longer bearer tokens are not keys of ours: refused without hashing. */
#define APIKEY_MAX_TOKEN 512

/* A fresh key from the kernel's random source; false (and err) when it fails. */
bool apikey_generate(char out[APIKEY_SIZE], char *err, size_t errsize);

/* SHA-256 of the token's len bytes. */
void apikey_hash(const char *token, size_t len, unsigned char out[APIKEY_HASH_LEN]);

/* Lower-case hex of a hash, as bytea's hex input wants it after "\x". */
void apikey_hash_hex(const unsigned char hash[APIKEY_HASH_LEN], char out[APIKEY_HASH_HEX_SIZE]);

/* 64 hex digits back into a hash; false when s is anything else. */
bool apikey_hash_from_hex(const char *s, unsigned char out[APIKEY_HASH_LEN]);

/*
 * The token of an "Authorization: Bearer <token>" value (RFC 6750 §2.1:
 * the scheme is case-insensitive, one or more spaces, token68 characters).
 * false when the header is absent, of another scheme, or malformed.
 */
bool apikey_bearer_token(const char *header, const char **token, size_t *len);

#endif
