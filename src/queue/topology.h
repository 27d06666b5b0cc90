/*
 * The pipeline's wiring, declared once (DESIGN §2): which outbox feeds
 * which topic, which built-in subscription reads which topic, and which
 * outbox its handler writes.  The schema declares the same in
 * chargegate.outbox and chargegate.subscription (builtin); the daemon
 * checks at start that both agree, so a name written here is the name the
 * database uses.
 */
#ifndef CHARGEGATE_TOPOLOGY_H
#define CHARGEGATE_TOPOLOGY_H

#include "queue/consumer.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

struct QueueSettings;

enum TopicId {
	TOPIC_CHARGING_SESSION_REQUEST,
	TOPIC_AUTHORIZATION_DECISION_CALLBACK,
	TOPIC_CALLBACK_DELIVERY,
	TOPIC_CALLBACK_RETRY,
	NTOPICS
};

enum SubscriptionId {
	SUB_AUTHORIZATION,
	SUB_NOTIFICATION,
	SUB_NOTIFICATION_RETRY,
	SUB_RETRY_SCHEDULER,
	SUB_REQUEST_STATUS_DECISIONS,
	SUB_REQUEST_STATUS_DELIVERIES,
	SUB_FAILURE_NOTICE,
	NSUBSCRIPTIONS
};

const char *topology_outbox(enum TopicId t);	/* "charging_session_request_outbox" */

/*
 * Batches a consumer handles at once unless its context says otherwise:
 * one being handled while the next is claimed, so handling never waits for
 * a claim's round trip.  Contexts whose handlers call out over HTTP allow
 * as many batches as they have call slots.
 */
#define TOPOLOGY_DEFAULT_MAX_BATCHES 2

/*
 * The consumer of a built-in subscription: its topic, the outbox its
 * handler writes (woken after each settle), the shared queue settings.
 */
struct ConsumerSpec topology_consumer_spec(enum SubscriptionId s, const struct QueueSettings *qs,
					   consumer_handler handle, void *arg);

/*
 * Compares the declaration with the database's (blocking; at start):
 * false and err when something declared here is missing there.
 */
bool topology_check(PGconn *conn, char *err, size_t errsize);

#endif
