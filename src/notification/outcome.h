/*
 * What a webhook attempt's answer means (DESIGN §5), for callbacks and failure
 * notices alike: a 2xx is delivered; 410 Gone and a refused address are
 * over for good; anything else is retried after the schedule's next delay,
 * jittered, or later when a 429 or 503 asks so with Retry-After (capped),
 * until the schedule is spent.  Also the members every attempt record
 * shares, so both record an answer the same way.
 */
#ifndef CHARGEGATE_NOTIFICATION_OUTCOME_H
#define CHARGEGATE_NOTIFICATION_OUTCOME_H

#include <stdint.h>

struct HttpClientResponse;
struct json_object;

/* How much of an answer is read (DESIGN §5); the record keeps less (HTTPCLIENT_STORED_BODY_MAX). */
#define OUTCOME_READ_MAX (64 * 1024)

struct RetrySchedule {
	const int64_t *delays_ms;	/* callback.retry_schedule: before attempts 2, 3, ... */
	int len;
	int64_t max_retry_after_ms;	/* callback.max_retry_after: cap on a Retry-After */
};

enum OutcomeKind {
	OUTCOME_DELIVERED,
	OUTCOME_RETRY,		/* another attempt follows after retry_in_ms */
	OUTCOME_FAILED,		/* final: no attempt follows */
	OUTCOME_NKINDS
};

struct Outcome {
	enum OutcomeKind kind;
	int64_t retry_in_ms;	/* OUTCOME_RETRY only */
};

/* The answer to attempt number `attempt` (1: the first); random spreads the delay. */
struct Outcome outcome_of(const struct HttpClientResponse *r, const struct RetrySchedule *s, int attempt,
			   uint32_t random);

/*
 * The delay before attempt `attempt + 1`, or -1 when the schedule is spent;
 * retry_after_ms (-1: none) is what a 429 or 503 asked for.
 */
int64_t outcome_retry_delay_ms(const struct RetrySchedule *s, int attempt, int64_t retry_after_ms, uint32_t random);

/*
 * The attempt record's members that come from the answer: final,
 * latency_ms, http_status (when one came), error_class (unless delivered)
 * and the start of the answer's body.
 */
void outcome_record(struct json_object *item, const struct HttpClientResponse *r, const struct Outcome *a);

#endif
