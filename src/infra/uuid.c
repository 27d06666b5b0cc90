#include "autoconfig.h"

#include "infra/uuid.h"

#include "infra/log.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

static bool is_dash_position(size_t i)
{
	return i == 8 || i == 13 || i == 18 || i == 23;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool uuid_is_canonical(const char *s, size_t len)
{
	if (s == NULL || len != UUID_TEXT_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (is_dash_position(i) ? s[i] != '-' : !is_hex(s[i]))
			return false;
	}
	return true;
}

static void random_bytes(uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom(buf + got, len - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fatal("could not generate a uuid: getrandom: %s", strerror(errno));
		got += (size_t)n;
	}
}

void uuid_generate_v4(char out[UUID_TEXT_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[16];
	size_t o = 0;

	random_bytes(b, sizeof(b));
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* variant 10xx */
	for (size_t i = 0; i < sizeof(b); i++) {
		if (is_dash_position(o))
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0x0f];
	}
	out[o] = '\0';
}
