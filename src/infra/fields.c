#include "autoconfig.h"

#include "infra/fields.h"

#include "infra/uuid.h"

#include <stdio.h>

/*
 * 1 to max printable ASCII characters.  The character set is checked
 * before the length so that a long non-ASCII string is not blamed for its
 * byte count.
 */
static bool check_printable(const char *s, size_t len, size_t max, char *err, size_t errsize)
{
	if (len == 0) {
		snprintf(err, errsize, "must not be empty");
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x21 || c > 0x7e) {
			snprintf(err, errsize,
				 "must contain only printable ASCII characters (0x21-0x7E); found byte 0x%02x at offset %zu",
				 c, i);
			return false;
		}
	}
	if (len > max) {
		snprintf(err, errsize, "must be at most %zu characters", max);
		return false;
	}
	return true;
}

bool field_check_station_id(const char *s, size_t len, char *err, size_t errsize)
{
	if (uuid_is_canonical(s, len))
		return true;
	snprintf(err, errsize, "must be a UUID in canonical 8-4-4-4-12 form");
	return false;
}

bool field_check_driver_token(const char *s, size_t len, char *err, size_t errsize)
{
	return check_printable(s, len, FIELD_MAX_TOKEN_LEN, err, errsize);
}

bool field_check_idempotency_key(const char *s, size_t len, char *err, size_t errsize)
{
	return check_printable(s, len, FIELD_MAX_IDEMPOTENCY_KEY_LEN, err, errsize);
}
