/*
 * UUIDs as text: the canonical 8-4-4-4-12 form of RFC 9562.
 */
#ifndef CHARGEGATE_UUID_H
#define CHARGEGATE_UUID_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the canonical text form, without the terminating NUL. */
#define UUID_TEXT_LEN 36

/* True when s[0..len) is exactly 36 characters of 8-4-4-4-12 hexadecimal
 * digits (either case) separated by dashes. */
bool uuid_is_canonical(const char *s, size_t len);

/* Write a new random (version 4) UUID, lower case and NUL-terminated.
 * Randomness comes from getrandom(2); if that fails the process exits. */
void uuid_generate_v4(char out[UUID_TEXT_LEN + 1]);

#endif
