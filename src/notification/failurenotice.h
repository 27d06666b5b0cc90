/*
 * Operational failure notices (DESIGN §6, callback.failure_url): when a
 * request's callback delivery ends failed -- its retries spent, 410 Gone, a
 * refused address, an invalid URL -- the operator's endpoint receives a
 * signed CallbackDeliveryFailed summary, so their systems can act on it.
 *
 * The built-in subscription failure_notice reads the callback_delivery
 * topic: the final CallbackFailed event is durable before the notice is
 * sent, so a daemon killed in between loses nothing (the lease expires and
 * the message comes back).  Everything else on the topic, and every event
 * while callback.failure_url is unset, is acknowledged at once.
 *
 * Delivery as for callbacks (DESIGN §5): Standard Webhooks headers (the
 * webhook-id is the CallbackFailed event's id, the same on every attempt),
 * signed with callback.signing_secret, no redirects, retried on
 * callback.retry_schedule (through the queue: consumer_retry with the
 * schedule's delay, so queue.max_attempts also bounds it); what an answer
 * means is decided as for callbacks (outcome.h), and attempts are numbered
 * from the attempts recorded, not from the queue's deliveries.  The notices
 * have their own HTTP client and at most callback.per_destination_concurrency
 * in flight: they never take capacity from drivers' callbacks.  A failed
 * notice is recorded (failure_notice_attempt) and never notified again.
 *
 * The URL is the operator's own configuration, like authorization.url, not
 * a caller's input: its address is not checked against the SSRF ranges, so
 * an endpoint on the operator's private network needs no exception that
 * would open that network to drivers' callback URLs too.
 */
#ifndef CHARGEGATE_NOTIFICATION_FAILURENOTICE_H
#define CHARGEGATE_NOTIFICATION_FAILURENOTICE_H

#include <stdint.h>

struct event_base;
struct PgPool;
struct Transport;
struct QueueSettings;
struct SigningKey;
struct FailureNotices;

/* Read at every batch, so a reload applies to what is sent next. */
struct FailureNoticeSettings {
	const char *url;		/* callback.failure_url; NULL: notices are off */
	int64_t timeout_ms;		/* callback.timeout */
	const int64_t *schedule_ms;	/* callback.retry_schedule: delays before attempts 2, 3, ... */
	int schedule_len;
	int64_t max_retry_after_ms;	/* callback.max_retry_after: cap on a Retry-After */
	int max_in_flight;		/* callback.per_destination_concurrency */
	const struct SigningKey *key;		/* NULL: unsigned */
	const struct SigningKey *previous_key;	/* NULL unless rotating */
};

/*
 * settings (and what it points to) must outlive the notices; pool reads the
 * attempts recorded (a notice's attempt number) and must outlive them too.
 */
struct FailureNotices *failure_notices_new(struct event_base *base, struct Transport *t, struct PgPool *pool,
					   const struct QueueSettings *qs, const struct FailureNoticeSettings *settings);
/* Shutdown, before the database pool goes: notices in flight are given back to the queue. */
void failure_notices_cancel(struct FailureNotices *f);
void failure_notices_free(struct FailureNotices *f);
int failure_notices_busy(const struct FailureNotices *f);

#endif
