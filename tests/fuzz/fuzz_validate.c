/*
 * libFuzzer target: any byte string given to validate_start_request() must
 * produce either a valid request or at least one error, never a crash, a
 * leak or undefined behaviour.  See README.md for how to run it.
 */
#include "autoconfig.h"

#include "request/validate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_result(bool ok, const struct StartRequest *req, const struct ValidationResult *res)
{
	if (ok) {
		if (res->nerrors != 0 || req->driver_token == NULL || req->callback_url == NULL
		    || strlen(req->station_id) != 36)
			abort();
		return;
	}
	if (res->nerrors < 1 || res->nerrors > VALIDATE_MAX_ERRORS || req->driver_token != NULL)
		abort();
	for (int i = 0; i < res->nerrors; i++) {
		if (res->errors[i].field[0] == '\0' || res->errors[i].detail[0] == '\0')
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct StartRequest req;
	struct ValidationResult res;
	char key[300];
	char err[160];
	bool ok;

	/* a copy of exactly size bytes, so reads past the end are caught */
	char *body = malloc(size ? size : 1);

	if (body == NULL)
		abort();
	memcpy(body, data, size);
	ok = validate_start_request(body, size, &req, &res);
	check_result(ok, &req, &res);
	start_request_free(&req);
	free(body);

	if (size < sizeof(key)) {
		memcpy(key, data, size);
		key[size] = '\0';
		if (!validate_idempotency_key(key, err, sizeof(err)) && err[0] == '\0')
			abort();
	}
	return 0;
}
