#include "autoconfig.h"

#include "queue/topology.h"

#include "infra/log.h"
#include "queue/settings.h"

#include <stdio.h>
#include <string.h>

#define NO_OUTBOX (-1)

static const struct {
	const char *topic, *outbox;
} topics[NTOPICS] = {
	[TOPIC_CHARGING_SESSION_REQUEST] = { "charging_session_request", "charging_session_request_outbox" },
	[TOPIC_AUTHORIZATION_DECISION_CALLBACK] = { "authorization_decision_callback",
						    "authorization_decision_callback_outbox" },
	[TOPIC_CALLBACK_DELIVERY] = { "callback_delivery", "callback_delivery_outbox" },
	[TOPIC_CALLBACK_RETRY] = { "callback_retry", "callback_retry_outbox" },
};

static const struct {
	const char *name;
	enum TopicId reads;
	int writes;		/* enum TopicId whose outbox the handler writes, or NO_OUTBOX */
} subscriptions[NSUBSCRIPTIONS] = {
	[SUB_AUTHORIZATION] = { "authorization", TOPIC_CHARGING_SESSION_REQUEST, TOPIC_AUTHORIZATION_DECISION_CALLBACK },
	[SUB_NOTIFICATION] = { "notification", TOPIC_AUTHORIZATION_DECISION_CALLBACK, TOPIC_CALLBACK_DELIVERY },
	[SUB_NOTIFICATION_RETRY] = { "notification_retry", TOPIC_CALLBACK_RETRY, TOPIC_CALLBACK_DELIVERY },
	[SUB_RETRY_SCHEDULER] = { "retry_scheduler", TOPIC_CALLBACK_DELIVERY, TOPIC_CALLBACK_RETRY },
	[SUB_REQUEST_STATUS_DECISIONS] = { "request_status_decisions", TOPIC_AUTHORIZATION_DECISION_CALLBACK,
					   NO_OUTBOX },
	[SUB_REQUEST_STATUS_DELIVERIES] = { "request_status_deliveries", TOPIC_CALLBACK_DELIVERY, NO_OUTBOX },
	/* writes attempt rows only: a failed notice never publishes another */
	[SUB_FAILURE_NOTICE] = { "failure_notice", TOPIC_CALLBACK_DELIVERY, NO_OUTBOX },
};

const char *topology_outbox(enum TopicId t)
{
	return topics[t].outbox;
}

struct ConsumerSpec topology_consumer_spec(enum SubscriptionId s, const struct QueueSettings *qs,
					   consumer_handler handle, void *arg)
{
	return (struct ConsumerSpec){
		.subscription = subscriptions[s].name,
		.topic = topics[subscriptions[s].reads].topic,
		.batch_size = qs->batch_size,
		.max_batches = TOPOLOGY_DEFAULT_MAX_BATCHES,
		.lease_ms = qs->lease_ms,
		.max_attempts = qs->max_attempts,
		.poll_ms = qs->poll_ms,
		.handle = handle,
		.arg = arg,
		.notify_outbox = subscriptions[s].writes == NO_OUTBOX ? NULL : topics[subscriptions[s].writes].outbox,
	};
}

static bool has_row(const PGresult *res, const char *name, const char *topic)
{
	for (int r = 0; r < PQntuples(res); r++) {
		if (strcmp(PQgetvalue(res, r, 0), name) == 0 && strcmp(PQgetvalue(res, r, 1), topic) == 0)
			return true;
	}
	return false;
}

static bool declared(const char *const (*pairs)[2], int n, const char *name, const char *topic)
{
	for (int i = 0; i < n; i++) {
		if (strcmp(pairs[i][0], name) == 0 && strcmp(pairs[i][1], topic) == 0)
			return true;
	}
	return false;
}

/* Each declared (name, topic) pair must be a row of sql; other rows are only reported. */
static bool same_pairs(PGconn *conn, const char *sql, const char *what, const char *const (*pairs)[2], int n,
		       char *err, size_t errsize)
{
	PGresult *res = PQexec(conn, sql);
	bool ok = true;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(err, errsize, "could not read the %ss: %s", what, PQresultErrorMessage(res));
		err[strcspn(err, "\n")] = '\0';
		PQclear(res);
		return false;
	}
	for (int i = 0; ok && i < n; i++) {
		if (!has_row(res, pairs[i][0], pairs[i][1])) {
			snprintf(err, errsize, "this build expects the %s %s of topic %s, which the database does not "
				 "have: run chargegatectl migrate with this version", what, pairs[i][0], pairs[i][1]);
			ok = false;
		}
	}
	/* a newer schema's additions are for newer daemons: this one runs what it knows */
	for (int r = 0; ok && r < PQntuples(res); r++) {
		if (!declared(pairs, n, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1)))
			log_warning("the database has the %s %s of topic %s, which this build does not know (is the "
				    "schema newer?): this daemon leaves it alone", what, PQgetvalue(res, r, 0),
				    PQgetvalue(res, r, 1));
	}
	PQclear(res);
	return ok;
}

bool topology_check(PGconn *conn, char *err, size_t errsize)
{
	const char *outboxes[NTOPICS][2], *subs[NSUBSCRIPTIONS][2];

	for (int t = 0; t < NTOPICS; t++) {
		outboxes[t][0] = topics[t].outbox;
		outboxes[t][1] = topics[t].topic;
	}
	for (int s = 0; s < NSUBSCRIPTIONS; s++) {
		subs[s][0] = subscriptions[s].name;
		subs[s][1] = topics[subscriptions[s].reads].topic;
	}
	return same_pairs(conn, "SELECT name, topic FROM chargegate.outbox", "outbox", outboxes, NTOPICS, err,
			  errsize) &&
	       same_pairs(conn, "SELECT name, topic FROM chargegate.subscription WHERE builtin", "built-in subscription",
			  subs, NSUBSCRIPTIONS, err, errsize);
}
