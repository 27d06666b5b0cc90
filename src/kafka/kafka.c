/*
 * The Kafka transport: the module's entry point and the TransportOps.
 * Relays go through the idempotent producer (producer.c), subscriptions
 * through one consumer group each (subscriber.c).  Wake-ups of relays
 * ("outbox:" channels) still travel through PostgreSQL -- in-process and by
 * LISTEN/NOTIFY across daemons, as in PostgreSQL mode, because the outboxes
 * live there -- while consumers are woken by librdkafka when messages
 * arrive, and by the consumer runner's poll for due retries.
 */
#include "autoconfig.h"

#include "infra/log.h"
#include "infra/alloc.h"
#include "infra/identity.h"
#include "infra/pgpool.h"
#include "kafka/kafka.h"
#include "kafka/producer.h"
#include "kafka/subscriber.h"
#include "queue/pgtransport.h"
#include "queue/transport.h"
#include "kafka/loader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_WATCHERS 64
#define MAX_SUBSCRIBERS 32

struct TopicWatcher {
	char topic[64];
	transport_wake_cb cb;
	void *arg;
};

struct KafkaTransport {
	struct Transport base;
	struct KafkaCommon k;
	struct Transport *pg;	/* wake-ups of the relays */
	struct KafkaProducer *producer;
	struct KafkaSubscriber *subs[MAX_SUBSCRIBERS];
	int nsubs;
	struct TopicWatcher watchers[MAX_WATCHERS];
	int nwatchers;
};

/* Exported: the one symbol the daemon looks up. */
struct Transport *chargegate_kafka_transport_new(struct event_base *base, struct PgPool *pool,
						 const struct KafkaSettings *settings, char *err, size_t errsize);

/* --- relay ----------------------------------------------------------------------- */

static void k_relay(struct Transport *tr, const char *outbox, int limit, transport_relay_cb cb, void *arg)
{
	struct KafkaTransport *t = tr->impl;

	kproducer_relay(t->producer, outbox, limit, cb, arg);
}

/* --- subscriptions ------------------------------------------------------------------ */

static void wake_topic(void *arg, const char *topic)
{
	struct KafkaTransport *t = arg;

	for (int i = 0; i < t->nwatchers; i++) {
		if (strcmp(t->watchers[i].topic, topic) == 0)
			t->watchers[i].cb(t->watchers[i].arg);
	}
}

static struct KafkaSubscriber *find_sub(const struct KafkaTransport *t, const char *name)
{
	for (int i = 0; i < t->nsubs; i++) {
		if (strcmp(ksub_name(t->subs[i]), name) == 0)
			return t->subs[i];
	}
	return NULL;
}

struct SubscribeCall {
	struct KafkaTransport *t;
	char subscription[64];
	char topic[64];
	transport_count_cb cb;
	void *arg;
};

/* The subscription exists in PostgreSQL (its retries live there): now the consumer group. */
static void subscribed(enum PgStatus st, PGresult *res, const char *err, void *arg)
{
	struct SubscribeCall *sc = arg;
	struct KafkaTransport *t = sc->t;
	struct KafkaSubscriber *s;
	char why[512];

	if (st != PG_OK) {
		sc->cb(-1, err, sc->arg);
	} else if (find_sub(t, sc->subscription)) {
		sc->cb(0, NULL, sc->arg);
	} else if (t->nsubs == MAX_SUBSCRIBERS) {
		sc->cb(-1, "too many Kafka subscriptions", sc->arg);
	} else if (!(s = ksub_new(&t->k, sc->subscription, sc->topic, wake_topic, t, why, sizeof(why)))) {
		log_error_f(LOG_F(.subscription = sc->subscription), "kafka consumer: could not start: %s", why);
		sc->cb(-1, why, sc->arg);
	} else {
		t->subs[t->nsubs++] = s;
		sc->cb(0, NULL, sc->arg);
	}
	free(sc);
}

static void k_subscribe(struct Transport *tr, const char *subscription, const char *topic, transport_count_cb cb,
			void *arg)
{
	struct KafkaTransport *t = tr->impl;
	struct SubscribeCall *sc = xcalloc(1, sizeof(*sc));
	const char *params[2] = { subscription, topic };

	sc->t = t;
	snprintf(sc->subscription, sizeof(sc->subscription), "%s", subscription);
	snprintf(sc->topic, sizeof(sc->topic), "%s", topic);
	sc->cb = cb;
	sc->arg = arg;
	pgpool_query(t->k.pool, "SELECT 1 FROM chargegate.ensure_subscription($1, $2)", 2, params, subscribed, sc);
}

static void k_claim(struct Transport *tr, const char *subscription, const char *owner, int limit, int64_t lease_ms,
		    transport_claim_cb cb, void *arg)
{
	struct KafkaTransport *t = tr->impl;
	struct KafkaSubscriber *s = find_sub(t, subscription);

	if (!s) {
		cb(NULL, -1, "not subscribed", arg);
		return;
	}
	ksub_claim(s, owner, limit, lease_ms, cb, arg);
}

static void k_settle(struct Transport *tr, const struct SettleRequest *req, transport_count_cb cb, void *arg)
{
	struct KafkaTransport *t = tr->impl;
	struct KafkaSubscriber *s = find_sub(t, req->subscription);

	if (!s) {
		cb(-1, "not subscribed", arg);
		return;
	}
	ksub_settle(s, req, cb, arg);
}

/* Only retries stored in PostgreSQL hold leases: the PostgreSQL transport renews them. */
static void k_extend(struct Transport *tr, const char *subscription, const char *owner,
		     const struct QueueMessage *msgs, int n, int64_t lease_ms, transport_count_cb cb, void *arg)
{
	struct KafkaTransport *t = tr->impl;

	t->pg->ops->extend(t->pg, subscription, owner, msgs, n, lease_ms, cb, arg);
}

/* --- wake-ups ------------------------------------------------------------------------- */

static void k_watch(struct Transport *tr, const char *channel, transport_wake_cb cb, void *arg)
{
	struct KafkaTransport *t = tr->impl;
	struct TopicWatcher *w;
	enum ChannelKind kind;
	const char *name;

	if (!transport_channel_parse(channel, &kind, &name) || kind != CHANNEL_TOPIC) {
		t->pg->ops->watch(t->pg, channel, cb, arg);
		return;
	}
	if (t->nwatchers == MAX_WATCHERS)
		fatal("kafka: more than %d watchers", MAX_WATCHERS);
	w = &t->watchers[t->nwatchers++];
	snprintf(w->topic, sizeof(w->topic), "%s", name);
	w->cb = cb;
	w->arg = arg;
}

/* Topics need no notice: Kafka tells the consumers itself. */
static void k_notify(struct Transport *tr, const char *channel)
{
	struct KafkaTransport *t = tr->impl;
	enum ChannelKind kind;
	const char *name;

	if (!transport_channel_parse(channel, &kind, &name) || kind != CHANNEL_TOPIC)
		t->pg->ops->notify(t->pg, channel);
}

/* --- lifecycle -------------------------------------------------------------------------- */

static void common_free(struct KafkaCommon *k)
{
	for (int i = 0; i < k->nprops; i++) {
		free(k->names[i]);
		free(k->values[i]);
	}
	free(k->names);
	free(k->values);
	free(k->bootstrap);
	free(k->prefix);
}

static void k_free(struct Transport *tr)
{
	struct KafkaTransport *t = tr->impl;

	for (int i = 0; i < t->nsubs; i++)
		ksub_free(t->subs[i]);
	kproducer_free(t->producer);
	t->pg->ops->free(t->pg);
	common_free(&t->k);
	free(t);
}

static const struct TransportOps kafka_ops = {
	.name = "kafka",
	.relay = k_relay,
	.subscribe = k_subscribe,
	.claim = k_claim,
	.settle = k_settle,
	.extend = k_extend,
	.watch = k_watch,
	.notify = k_notify,
	.free = k_free,
};

static void common_init(struct KafkaCommon *k, struct event_base *base, struct PgPool *pool,
			const struct KafkaSettings *s)
{

	k->base = base;
	k->pool = pool;
	k->bootstrap = xstrdup(s->bootstrap_servers);
	k->prefix = xstrdup(s->topic_prefix);
	k->lease_ms = s->lease_ms;
	k->nprops = s->nproperties;
	k->names = xcalloc((size_t)(s->nproperties + 1), sizeof(char *));
	k->values = xcalloc((size_t)(s->nproperties + 1), sizeof(char *));
	for (int i = 0; i < s->nproperties; i++) {
		k->names[i] = xstrdup(s->property_names[i]);
		k->values[i] = xstrdup(s->property_values[i]);
	}
	daemon_identity(k->host_pid, sizeof(k->host_pid));
}

struct Transport *chargegate_kafka_transport_new(struct event_base *base, struct PgPool *pool,
						 const struct KafkaSettings *settings, char *err, size_t errsize)
{
	struct KafkaTransport *t;

	if (settings->abi != KAFKA_MODULE_ABI) {
		snprintf(err, errsize, "the Kafka module (interface %d) does not fit this chargegated (interface %d): "
			 "install the module of the same version",
			 KAFKA_MODULE_ABI, settings->abi);
		return NULL;
	}
	t = xcalloc(1, sizeof(*t));
	t->base.ops = &kafka_ops;
	t->base.impl = t;
	common_init(&t->k, base, pool, settings);
	if (!ksub_check_config(&t->k, err, errsize) || !(t->producer = kproducer_new(&t->k, err, errsize))) {
		common_free(&t->k);
		free(t);
		return NULL;
	}
	t->pg = pgtransport_new(base, pool, settings->listen);
	log_info("kafka transport: librdkafka %s, topics %s*", rd_kafka_version_str(), t->k.prefix);
	return &t->base;
}
