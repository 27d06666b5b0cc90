/*
 * What a webhook attempt's answer means (src/notification/outcome.c,
 * DESIGN §5), for callbacks and failure notices alike: 2xx is delivered;
 * 410 Gone and a refused address are final; anything else is retried on
 * the schedule, jittered, later when a 429 or 503 asks with Retry-After
 * (capped, and only those two), until the schedule is spent; and the
 * attempt record's members.
 */
#include "autoconfig.h"

#include "infra/httpclient.h"
#include "notification/outcome.h"

#include "unit_run.h"

#include <check.h>
#include <json-c/json.h>
#include <string.h>

static const int64_t delays[] = { 1000, 5000 };
static const struct RetrySchedule schedule = { delays, 2, 4000 };

static struct HttpClientResponse answer(int status, int64_t retry_after_ms)
{
	return (struct HttpClientResponse){ .status = status, .error = HTTPC_OK, .error_text = "",
					    .retry_after_ms = retry_after_ms, .body = "", .latency_ms = 12 };
}

static struct HttpClientResponse failure(enum HttpClientError error)
{
	return (struct HttpClientResponse){ .error = error, .error_text = "boom", .retry_after_ms = -1, .body = "" };
}

START_TEST(a_2xx_is_delivered_410_and_a_refused_address_are_final)
{
	struct HttpClientResponse ok = answer(204, -1), gone = answer(410, -1), blocked = failure(HTTPC_ERR_BLOCKED_ADDRESS);

	ck_assert_int_eq(outcome_of(&ok, &schedule, 1, 0).kind, OUTCOME_DELIVERED);
	ck_assert_int_eq(outcome_of(&gone, &schedule, 1, 0).kind, OUTCOME_FAILED);
	ck_assert_int_eq(outcome_of(&blocked, &schedule, 1, 0).kind, OUTCOME_FAILED);
}
END_TEST

START_TEST(other_failures_follow_the_schedule_until_it_is_spent)
{
	struct HttpClientResponse e500 = answer(500, -1), timeout = failure(HTTPC_ERR_TIMEOUT);
	struct Outcome first = outcome_of(&e500, &schedule, 1, 0), second = outcome_of(&timeout, &schedule, 2, 0);

	ck_assert_int_eq(first.kind, OUTCOME_RETRY);
	ck_assert(first.retry_in_ms >= 800 && first.retry_in_ms <= 1200);	/* ±20 % */
	ck_assert_int_eq(second.kind, OUTCOME_RETRY);
	ck_assert(second.retry_in_ms >= 4000 && second.retry_in_ms <= 6000);
	ck_assert_int_eq(outcome_of(&e500, &schedule, 3, 0).kind, OUTCOME_FAILED);
}
END_TEST

START_TEST(retry_after_of_a_429_or_503_waits_longer_capped)
{
	struct HttpClientResponse busy = answer(503, 3000), slow = answer(429, 60000), short_ask = answer(503, 10),
				  other = answer(500, 3000);

	ck_assert_int_eq(outcome_of(&busy, &schedule, 1, 0).retry_in_ms, 3000);
	ck_assert_int_eq(outcome_of(&slow, &schedule, 1, 0).retry_in_ms, 4000);	/* max_retry_after */
	ck_assert(outcome_of(&short_ask, &schedule, 1, 0).retry_in_ms >= 800);	/* never sooner than the schedule */
	ck_assert(outcome_of(&other, &schedule, 1, 0).retry_in_ms <= 1200);	/* only 429 and 503 may ask */
	ck_assert_int_eq(outcome_retry_delay_ms(&schedule, 0, -1, 0), -1);
}
END_TEST

START_TEST(the_record_has_the_answer_s_members)
{
	struct HttpClientResponse e500 = answer(500, -1), ok = answer(200, -1), refused = failure(HTTPC_ERR_CONNECT);
	struct Outcome retry = outcome_of(&e500, &schedule, 1, 0), done = outcome_of(&ok, &schedule, 1, 0),
		       last = outcome_of(&refused, &schedule, 3, 0);
	struct json_object *a = json_object_new_object(), *b = json_object_new_object(), *c = json_object_new_object();

	e500.body = "oops";
	e500.body_len = 4;
	outcome_record(a, &e500, &retry);
	ck_assert_str_eq(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN),
			 "{\"final\":false,\"latency_ms\":12,\"http_status\":500,\"error_class\":\"http_500\","
			 "\"response_body\":\"oops\"}");
	outcome_record(b, &ok, &done);
	ck_assert_str_eq(json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN),
			 "{\"final\":true,\"latency_ms\":12,\"http_status\":200}");
	outcome_record(c, &refused, &last);
	ck_assert_str_eq(json_object_to_json_string_ext(c, JSON_C_TO_STRING_PLAIN),
			 "{\"final\":true,\"latency_ms\":0,\"error_class\":\"connect\"}");
	json_object_put(a);
	json_object_put(b);
	json_object_put(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("outcome");
	TCase *tc = tcase_create("outcome");

	tcase_add_test(tc, a_2xx_is_delivered_410_and_a_refused_address_are_final);
	tcase_add_test(tc, other_failures_follow_the_schedule_until_it_is_spent);
	tcase_add_test(tc, retry_after_of_a_429_or_503_waits_longer_capped);
	tcase_add_test(tc, the_record_has_the_answer_s_members);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
