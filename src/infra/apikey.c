#include "autoconfig.h"

#include "infra/apikey.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define KEY_BYTES 32

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Unpadded base64url of n bytes; out has room for 4 * n / 3 + 2 characters. */
static void b64url_encode(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;

	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = b64url[(acc >> bits) & 63];
		}
	}
	if (bits > 0)
		out[o++] = b64url[(acc << (6 - bits)) & 63];
	out[o] = '\0';
}

bool apikey_generate(char out[APIKEY_SIZE], char *err, size_t errsize)
{
	unsigned char raw[KEY_BYTES];
	size_t got = 0;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errsize, "could not read random bytes: getrandom: %s", strerror(errno));
			return false;
		}
		got += (size_t)n;
	}
	memcpy(out, APIKEY_PREFIX, sizeof(APIKEY_PREFIX) - 1);
	b64url_encode(raw, sizeof(raw), out + sizeof(APIKEY_PREFIX) - 1);
	return true;
}

void apikey_hash(const char *token, size_t len, unsigned char out[APIKEY_HASH_LEN])
{
	unsigned int n = 0;

	/* EVP_Digest with a built-in algorithm fails only when out of memory */
	if (EVP_Digest(token, len, out, &n, EVP_sha256(), NULL) != 1 || n != APIKEY_HASH_LEN)
		memset(out, 0, APIKEY_HASH_LEN);	/* matches no stored key: the check fails closed */
}

void apikey_hash_hex(const unsigned char hash[APIKEY_HASH_LEN], char out[APIKEY_HASH_HEX_SIZE])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < APIKEY_HASH_LEN; i++) {
		out[2 * i] = hex[hash[i] >> 4];
		out[2 * i + 1] = hex[hash[i] & 15];
	}
	out[2 * APIKEY_HASH_LEN] = '\0';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool apikey_hash_from_hex(const char *s, unsigned char out[APIKEY_HASH_LEN])
{
	if (strlen(s) != 2 * APIKEY_HASH_LEN)
		return false;
	for (int i = 0; i < APIKEY_HASH_LEN; i++) {
		int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

/* RFC 6750 b64token: ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/", then "="s. */
static bool is_b64token(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && s[i] != '\0' && (strchr("-._~+/", s[i]) || (s[i] >= '0' && s[i] <= '9') ||
					    ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z')))
		i++;
	if (i == 0)
		return false;
	while (i < len && s[i] == '=')
		i++;
	return i == len;
}

bool apikey_bearer_token(const char *header, const char **token, size_t *len)
{
	const char *t;
	size_t n;

	if (!header || strncasecmp(header, "Bearer ", 7) != 0)
		return false;
	t = header + 7;
	while (*t == ' ')
		t++;
	n = strlen(t);
	while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
		n--;
	if (n == 0 || n > APIKEY_MAX_TOKEN || !is_b64token(t, n))
		return false;
	*token = t;
	*len = n;
	return true;
}
