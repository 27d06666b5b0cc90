#include "autoconfig.h"

#include "authorization/answer.h"

#include "infra/json.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const decisions[] = { "allowed", "not_allowed", "unknown", "invalid" };

static const char *known_decision(const char *s)
{
	for (size_t i = 0; s && i < sizeof(decisions) / sizeof(decisions[0]); i++) {
		if (strcmp(s, decisions[i]) == 0)
			return decisions[i];
	}
	return NULL;
}

/*
 * The answer may echo what was asked; an echo of something else is an
 * answer about another driver or station, not a decision.  NULL when the
 * echoes (if any) match, else the cause.
 */
static const char *echo_mismatch(struct json_object *answer, const char *station, const char *token)
{
	struct json_object *v;

	if (json_object_object_get_ex(answer, "station_id", &v)) {
		if (!json_object_is_type(v, json_type_string))
			return "answer echoes a station_id that is not a string";
		/* a station id may come back in upper case */
		if (strcasecmp(json_object_get_string(v), station) != 0)
			return "answer echoes a different station_id";
	}
	if (json_object_object_get_ex(answer, "driver_token", &v)) {
		if (!json_object_is_type(v, json_type_string))
			return "answer echoes a driver_token that is not a string";
		if (strcmp(json_object_get_string(v), token) != 0)
			return "answer echoes a different driver_token";
	}
	return NULL;
}

static void unknown(struct AuthzDecision *out, const char *cause)
{
	out->decision = "unknown";
	snprintf(out->cause, sizeof(out->cause), "%s", cause);
}

void authz_answer_read(const char *body, size_t len, const char *station, const char *token,
		       struct AuthzDecision *out)
{
	struct json_object *answer = NULL;
	const char *status, *reason, *mismatch;
	char err[256];

	memset(out, 0, sizeof(*out));
	if (!json_parse_object_unique(body, len, &answer, err, sizeof(err))) {
		snprintf(out->cause, sizeof(out->cause), "unparseable answer: %s", err);
		out->decision = "unknown";
		return;
	}
	status = json_get_string(answer, "status");
	reason = json_get_string(answer, "reason");
	mismatch = echo_mismatch(answer, station, token);
	if (mismatch) {
		unknown(out, mismatch);
	} else {
		out->decision = known_decision(status);
		if (!out->decision)
			unknown(out, "answer has no valid status");
		if (reason)
			snprintf(out->reason, sizeof(out->reason), "%s", reason);
	}
	json_object_put(answer);
}
