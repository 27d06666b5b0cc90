/*
 * The authorization service's answer (DESIGN §4, stable): a 2xx JSON
 * object with "status" one of allowed, not_allowed, unknown, invalid, an
 * optional "reason" string, and optionally the "station_id" and
 * "driver_token" that were asked about.  Anything else -- a body that does
 * not parse, a member given twice, an echo of another station or driver,
 * a status outside the four -- is not a decision: "unknown", with the
 * cause.  Pure, so that it is unit tested and fuzzed on its own.
 */
#ifndef CHARGEGATE_AUTHZ_ANSWER_H
#define CHARGEGATE_AUTHZ_ANSWER_H

#include <stddef.h>

#define AUTHZ_REASON_MAX 256
#define AUTHZ_CAUSE_MAX 320

struct AuthzDecision {
	const char *decision;			/* "allowed", "not_allowed", "unknown" or "invalid" (static) */
	char reason[AUTHZ_REASON_MAX];		/* "" when none */
	char cause[AUTHZ_CAUSE_MAX];		/* why it is unknown; "" for a real decision */
};

/* Read the 2xx body of an answer about station and token. */
void authz_answer_read(const char *body, size_t len, const char *station, const char *token,
		       struct AuthzDecision *out);

#endif
