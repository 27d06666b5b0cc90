/*
 * The authorization service's answer (src/authorization/answer.c,
 * DESIGN §4): the four decisions with their reason; everything else is
 * "unknown" with its cause -- an answer that does not parse, repeats a
 * member, echoes another station or driver, or has no valid status.
 */
#include "autoconfig.h"

#include "authorization/answer.h"

#include "unit_run.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define STATION "123e4567-e89b-12d3-a456-426614174000"

static struct AuthzDecision read_answer(const char *body)
{
	struct AuthzDecision d;

	authz_answer_read(body, strlen(body), STATION, "tok", &d);
	return d;
}

START_TEST(the_four_decisions_and_their_reason)
{
	struct AuthzDecision d = read_answer("{\"status\":\"not_allowed\",\"reason\":\"BLOCKED\"}");

	ck_assert_str_eq(d.decision, "not_allowed");
	ck_assert_str_eq(d.reason, "BLOCKED");
	ck_assert_str_eq(d.cause, "");
	ck_assert_str_eq(read_answer("{\"status\":\"allowed\"}").decision, "allowed");
	ck_assert_str_eq(read_answer("{\"status\":\"unknown\"}").decision, "unknown");
	ck_assert_str_eq(read_answer("{\"status\":\"invalid\"}").cause, "");
	d = read_answer("{\"status\":\"allowed\",\"station_id\":\"123E4567-E89B-12D3-A456-426614174000\","
			"\"driver_token\":\"tok\",\"extra\":[1,{\"a\":2}]}");
	ck_assert_str_eq(d.decision, "allowed");
}
END_TEST

START_TEST(anything_else_is_unknown_with_its_cause)
{
	static const struct {
		const char *body, *cause;
	} cases[] = {
		{ "not json", "unparseable answer: body is not valid JSON" },
		{ "[\"allowed\"]", "unparseable answer: body is a JSON array, expected an object" },
		{ "{\"status\":\"not_allowed\",\"status\":\"allowed\"}", "unparseable answer: an object in the body names a member twice" },
		{ "{\"status\":\"Allowed\"}", "answer has no valid status" },
		{ "{\"status\":1}", "answer has no valid status" },
		{ "{}", "answer has no valid status" },
		{ "{\"status\":\"allowed\",\"station_id\":\"00000000-0000-4000-8000-000000000000\"}",
		  "answer echoes a different station_id" },
		{ "{\"status\":\"allowed\",\"driver_token\":\"TOK\"}", "answer echoes a different driver_token" },
		{ "{\"status\":\"allowed\",\"driver_token\":null}", "answer echoes a driver_token that is not a string" },
		{ "{\"status\":\"allowed\",\"station_id\":42}", "answer echoes a station_id that is not a string" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct AuthzDecision d = read_answer(cases[i].body);

		ck_assert_msg(strcmp(d.decision, "unknown") == 0, "%s: %s", cases[i].body, d.decision);
		ck_assert_msg(strncmp(d.cause, cases[i].cause, strlen(cases[i].cause)) == 0, "%s: %s", cases[i].body,
			      d.cause);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("authz_answer");
	TCase *tc = tcase_create("authz_answer");

	tcase_add_test(tc, the_four_decisions_and_their_reason);
	tcase_add_test(tc, anything_else_is_unknown_with_its_cause);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
