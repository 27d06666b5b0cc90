/*
 * Validation of POST /v1/charging-sessions (DESIGN §3, stable): the body
 * and the Idempotency-Key header, with the field rules of infra/fields.h
 * (which the authorization worker applies to the commands it takes).
 */
#ifndef CHARGEGATE_VALIDATE_H
#define CHARGEGATE_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

struct StartRequest {
	char station_id[37]; /* canonical UUID, lower-cased */
	char *driver_token;
	char *callback_url;
};

struct FieldError {
	char field[32];   /* "station_id", "driver_token", "callback_url" or "body" */
	char detail[160]; /* lower case, e.g. "is required", "must be a string" */
};

#define VALIDATE_MAX_ERRORS 8

struct ValidationResult {
	int nerrors;
	struct FieldError errors[VALIDATE_MAX_ERRORS];
};

/*
 * Parse and validate body[0..len).  True when valid: out is filled (unless
 * out is NULL) and the caller frees it with start_request_free().  False
 * otherwise: out holds nothing to free, and res lists one error per invalid
 * member in the order station_id, driver_token, callback_url; a body that
 * is not a JSON object yields a single error with field "body".  Unknown
 * members are ignored; of duplicate members the last one counts.
 */
bool validate_start_request(const char *body, size_t len, struct StartRequest *out, struct ValidationResult *res);

/* Free what validate_start_request() allocated; NULL-safe and idempotent. */
void start_request_free(struct StartRequest *req);

/*
 * Idempotency-Key header value (NUL-terminated): 1 to 255 printable ASCII
 * characters 0x21-0x7E.  On false err gets a detail phrase as above.
 */
bool validate_idempotency_key(const char *key, char *err, size_t errsize);

#endif
