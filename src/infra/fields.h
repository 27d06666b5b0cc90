/*
 * The rules of a request's fields (DESIGN §3), below the contexts: the API
 * checks a request with them, and the authorization worker checks the
 * command it takes from the queue -- an edge too -- with the same ones.
 * On false, err gets a detail phrase ("must not be empty", ...).
 */
#ifndef CHARGEGATE_FIELDS_H
#define CHARGEGATE_FIELDS_H

#include <stdbool.h>
#include <stddef.h>

#define FIELD_MAX_TOKEN_LEN 255
#define FIELD_MAX_IDEMPOTENCY_KEY_LEN 255

/* station_id: a UUID in canonical 8-4-4-4-12 form, either case. */
bool field_check_station_id(const char *s, size_t len, char *err, size_t errsize);

/* driver_token: 1 to 255 printable ASCII characters (0x21-0x7E). */
bool field_check_driver_token(const char *s, size_t len, char *err, size_t errsize);

/* The Idempotency-Key header: the same character rule, 1 to 255. */
bool field_check_idempotency_key(const char *s, size_t len, char *err, size_t errsize);

#endif
