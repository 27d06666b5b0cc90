#include "autoconfig.h"

#include "notification/outcome.h"

#include "infra/clock.h"
#include "infra/httpclient.h"
#include "infra/json.h"

#include <json-c/json.h>
#include <stdbool.h>

/* Spread of each retry delay around its schedule entry. */
#define RETRY_JITTER_PCT 20

int64_t outcome_retry_delay_ms(const struct RetrySchedule *s, int attempt, int64_t retry_after_ms, uint32_t random)
{
	int64_t delay;

	if (attempt < 1 || attempt > s->len)
		return -1;
	/* ±20 %, so that a receiver that comes back is not hit by every retry at once */
	delay = clock_jitter_by(s->delays_ms[attempt - 1], RETRY_JITTER_PCT, random);
	if (retry_after_ms > 0) {
		int64_t asked = retry_after_ms < s->max_retry_after_ms ? retry_after_ms : s->max_retry_after_ms;

		if (asked > delay)
			delay = asked;
	}
	return delay;
}

static bool answered(const struct HttpClientResponse *r)
{
	return r->error == HTTPC_OK;
}

struct Outcome outcome_of(const struct HttpClientResponse *r, const struct RetrySchedule *s, int attempt,
			   uint32_t random)
{
	bool asks_to_wait = answered(r) && (r->status == 429 || r->status == 503);
	int64_t delay;

	if (answered(r) && r->status >= 200 && r->status <= 299)
		return (struct Outcome){ OUTCOME_DELIVERED, 0 };
	/* retrying cannot change these */
	if (r->error == HTTPC_ERR_BLOCKED_ADDRESS || (answered(r) && r->status == 410))
		return (struct Outcome){ OUTCOME_FAILED, 0 };
	delay = outcome_retry_delay_ms(s, attempt, asks_to_wait ? r->retry_after_ms : -1, random);
	return delay < 0 ? (struct Outcome){ OUTCOME_FAILED, 0 } : (struct Outcome){ OUTCOME_RETRY, delay };
}

void outcome_record(struct json_object *item, const struct HttpClientResponse *r, const struct Outcome *a)
{
	char cls[HTTPCLIENT_CLASS_SIZE];

	json_set(item, "final", json_object_new_boolean(a->kind != OUTCOME_RETRY));
	json_set_int(item, "latency_ms", r->latency_ms);
	if (answered(r))
		json_set_int(item, "http_status", r->status);
	if (a->kind != OUTCOME_DELIVERED)
		json_set_string(item, "error_class", httpclient_error_class_name(r, cls, sizeof(cls)));
	if (r->body_len > 0)
		json_set(item, "response_body",
			 json_new_string_lossy(r->body, r->body_len < HTTPCLIENT_STORED_BODY_MAX ? r->body_len
											 : HTTPCLIENT_STORED_BODY_MAX));
}
