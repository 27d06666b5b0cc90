/*
 * The retry scheduler: consumes CallbackFailed and, while attempts remain,
 * schedules the next one in callback_retry_outbox with available_at at the
 * failure's next_attempt_at; the relay publishes it only when it is due.
 */
#ifndef CHARGEGATE_NOTIFICATION_RETRY_H
#define CHARGEGATE_NOTIFICATION_RETRY_H

struct event_base;
struct Transport;
struct QueueSettings;
struct RetryScheduler;

struct RetryScheduler *retry_scheduler_new(struct event_base *base, struct Transport *t, const struct QueueSettings *qs);
void retry_scheduler_free(struct RetryScheduler *r);
int retry_scheduler_busy(const struct RetryScheduler *r);

#endif
