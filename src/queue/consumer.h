/*
 * The consumer runner: one subscription of one topic.  It claims batches of
 * messages through the transport, gives the handler those it has not handled
 * before, and settles each batch in one transaction: the handler's own
 * writes, the handled event ids, acknowledgements, retries with backoff and
 * dead letters.  Handlers may be asynchronous (HTTP calls).
 */
#ifndef CHARGEGATE_CONSUMER_H
#define CHARGEGATE_CONSUMER_H

#include <stdint.h>

struct event_base;
struct Transport;
struct QueueMessage;
struct Consumer;
struct ConsumerBatch;

typedef void (*consumer_handler)(struct ConsumerBatch *b, void *arg);

struct ConsumerSpec {
	const char *subscription;
	const char *topic;
	int batch_size;
	int max_batches;	/* batches handled at once */
	int64_t lease_ms;
	int max_attempts;
	int64_t poll_ms;
	consumer_handler handle;
	void *arg;
	/*
	 * How many more messages the handler can take now (its free slots), or
	 * NULL for batch_size: claims never take more, so work the handler
	 * cannot start waits in the database, not in memory.  When it frees
	 * capacity the handler calls consumer_wake().
	 */
	int (*capacity)(void *arg);
	/* The outbox the handler writes, whose relay is woken after a batch settled, or NULL. */
	const char *notify_outbox;
};

struct Consumer *consumer_new(struct event_base *base, struct Transport *t, const struct ConsumerSpec *spec);
void consumer_free(struct Consumer *c);
/* Draining: no consumer claims anything new; batches in flight still settle. */
void consumer_stop_all(void);

/* Batches claimed and not yet settled: for draining. */
int consumer_busy(const struct Consumer *c);

/* Claim again soon: the handler has capacity again. */
void consumer_wake(struct Consumer *c);

/* For handlers: the messages to handle (duplicates are already filtered out). */
int consumer_batch_count(const struct ConsumerBatch *b);
const struct QueueMessage *consumer_batch_message(const struct ConsumerBatch *b, int i);
const char *consumer_batch_subscription(const struct ConsumerBatch *b);

/* One outcome per message, then consumer_batch_finish() once. */
void consumer_done(struct ConsumerBatch *b, int i);
/* delay_ms < 0: the default exponential backoff with jitter */
void consumer_retry(struct ConsumerBatch *b, int i, int64_t delay_ms, const char *error);
void consumer_dead(struct ConsumerBatch *b, int i, const char *error);
/* Not now, and not a failure: back to the queue after delay_ms (see QUEUE_POSTPONE). */
void consumer_postpone(struct ConsumerBatch *b, int i, int64_t delay_ms, const char *why);
/* A statement of the handler's own, committed with the batch (values copied). */
void consumer_add_step(struct ConsumerBatch *b, const char *sql, int nparams, const char *const *values);
void consumer_batch_finish(struct ConsumerBatch *b);

#endif
