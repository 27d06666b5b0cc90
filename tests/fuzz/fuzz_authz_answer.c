/*
 * libFuzzer target for the authorization service's answer
 * (src/authorization/answer.c): any body gives one of the four decisions,
 * with a cause exactly when it is not a real one, never a crash.
 */
#include "autoconfig.h"

#include "authorization/answer.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const decisions[] = { "allowed", "not_allowed", "unknown", "invalid" };
	struct AuthzDecision d;
	char *body = malloc(size ? size : 1);
	bool known = false;

	if (!body)
		abort();
	memcpy(body, data, size);
	authz_answer_read(body, size, "123e4567-e89b-12d3-a456-426614174000", "validDriverToken123", &d);
	for (size_t i = 0; i < 4; i++)
		known = known || (d.decision && strcmp(d.decision, decisions[i]) == 0);
	if (!known || (d.cause[0] && strcmp(d.decision, "unknown") != 0))
		abort();
	if (strlen(d.reason) >= AUTHZ_REASON_MAX || strlen(d.cause) >= AUTHZ_CAUSE_MAX)
		abort();
	free(body);
	return 0;
}
