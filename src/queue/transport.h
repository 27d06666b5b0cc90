/*
 * The transport: how outbox rows become topic messages and how
 * subscriptions receive them.  The relay and the consumer runner speak only
 * this interface; the PostgreSQL transport (pgtransport.c) and the optional
 * Kafka module implement it.
 */
#ifndef CHARGEGATE_TRANSPORT_H
#define CHARGEGATE_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>


struct QueueMessage {
	int64_t id;		/* the message's id in its topic */
	int64_t lease_id;	/* the leased batch it came in (PostgreSQL); 0 where none */
	int64_t fence;		/* lease fencing token (0 where the transport has none) */
	int attempts;		/* deliveries so far, this one included */
	bool handled;		/* this subscription handled the event already (duplicate) */
	int64_t age_ms;		/* since the message was published, by the database's clock (0: unknown) */
	char event_id[37];
	char event_type[64];
	char aggregate_id[37];
	char *payload;		/* JSON text */
};

/*
 * QUEUE_POSTPONE: not handled now, and not a failure either (e.g. its
 * destination is saturated or paused): back to the queue after a delay,
 * without counting as an attempt, never a dead letter.
 */
enum QueueResult { QUEUE_PENDING = 0, QUEUE_DONE, QUEUE_RETRY, QUEUE_DEAD, QUEUE_POSTPONE };

/* The outcome of one message, filled in by its handler. */
struct QueueOutcome {
	enum QueueResult result;
	int64_t retry_after_ms;	/* QUEUE_RETRY, QUEUE_POSTPONE */
	char *error;		/* QUEUE_RETRY, QUEUE_DEAD, QUEUE_POSTPONE (why) */
};

/*
 * A handled batch to settle in one transaction: the handler's own writes
 * (steps), the handled event ids, the acknowledgements, retries and dead
 * letters.  Either all of it commits or none.  With require_leases a lease
 * that is no longer held (it expired, another consumer may own the
 * messages now) makes the whole transaction fail: only the holder's writes
 * may commit.  Without it (giving messages back after a failed settle)
 * stale leases are only counted.
 */
/*
 * A statement of the handler's own (its context's writes), committed in the
 * same transaction as the settle: the store is PostgreSQL whatever carries
 * the messages.  Values are text parameters; NULL is SQL NULL.
 */
struct QueueStep {
	const char *sql;
	int nparams;
	const char *const *values;
};

struct SettleRequest {
	const char *subscription;
	const char *owner;
	int max_attempts;
	bool require_leases;
	int n;
	const struct QueueMessage *msgs;
	const struct QueueOutcome *outcomes;
	const struct QueueStep *steps;
	int nsteps;
};

typedef void (*transport_count_cb)(int count, const char *err, void *arg);

/* What one relay call did. */
struct RelayResult {
	int moved;		/* rows relayed; -1 on error (see err) */
	int64_t next_due_ms;	/* when a delayed row is due; -1: none */
	bool unsubscribed;	/* the topic has no subscription: nothing moved, rows stay pending */
	const char *err;	/* NULL unless moved < 0 */
};
typedef void (*transport_relay_cb)(const struct RelayResult *r, void *arg);
typedef void (*transport_claim_cb)(struct QueueMessage *msgs, int n, const char *err, void *arg);
typedef void (*transport_wake_cb)(void *arg);

struct Transport;

struct TransportOps {
	const char *name;
	/* Move up to limit due rows of an outbox table to its topic. */
	void (*relay)(struct Transport *t, const char *outbox, int limit, transport_relay_cb cb, void *arg);
	/* Create the subscription if needed (count unused). */
	void (*subscribe)(struct Transport *t, const char *subscription, const char *topic, transport_count_cb cb,
			  void *arg);
	/* Lease up to limit messages; msgs (owned by the transport) live until the callback returns. */
	void (*claim)(struct Transport *t, const char *subscription, const char *owner, int limit, int64_t lease_ms,
		      transport_claim_cb cb, void *arg);
	/* Settle a batch; count = messages whose acknowledgement was refused as stale. */
	void (*settle)(struct Transport *t, const struct SettleRequest *req, transport_count_cb cb, void *arg);
	/*
	 * Renew the leases of msgs (those with a lease_id) for lease_ms while
	 * their work is in flight; count = leases no longer held.
	 */
	void (*extend)(struct Transport *t, const char *subscription, const char *owner,
		       const struct QueueMessage *msgs, int n, int64_t lease_ms, transport_count_cb cb, void *arg);
	/* Call cb when new work may be waiting on channel (transport_channel()). */
	void (*watch)(struct Transport *t, const char *channel, transport_wake_cb cb, void *arg);
	/* Tell watchers here and in other daemons that channel has new work. */
	void (*notify)(struct Transport *t, const char *channel);
	void (*free)(struct Transport *t);
};

struct Transport {
	const struct TransportOps *ops;
	void *impl;
};

/* Frees a claim's messages (for transports building QueueMessage arrays). */
void transport_free_messages(struct QueueMessage *msgs, int n);

/*
 * Wake-up channels name an outbox (its relay has work) or a topic (its
 * subscriptions have work).  Their text form is written here only.
 */
enum ChannelKind { CHANNEL_OUTBOX, CHANNEL_TOPIC };
#define TRANSPORT_CHANNEL_SIZE 160

void transport_channel(enum ChannelKind kind, const char *name, char out[TRANSPORT_CHANNEL_SIZE]);
/* The kind and name of a channel; false for anything else. */
bool transport_channel_parse(const char *channel, enum ChannelKind *kind, const char **name);

#endif
