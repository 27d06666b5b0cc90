/*
 * cg-queue-worker: drives the queue layer (relay + consumer runner over the
 * PostgreSQL transport) with a test handler, for the queue's integration
 * tests and bench/queue.  Not installed.
 *
 *   cg-queue-worker --db CONNINFO [--relay] [--subscription S --topic T]
 *                   [--batch N] [--batches N] [--lease MS] [--max-attempts N]
 *                   [--poll MS] [--no-listen] [--record] [--fail-every N]
 *                   [--handler-delay MS] [--latency FILE] [--exit-idle MS]
 *                   [--transport postgres|kafka] [--kafka BOOTSTRAP] [--kafka-prefix P]
 *
 * --record      the handler writes (subscription, event_id) into
 *               chargegate_test.handled in the settle transaction, so a test
 *               can check that every event was handled exactly once
 * --fail-every  every Nth message fails (retried with backoff)
 * --latency     appends "event_id handler_start_us" lines to FILE
 * --exit-idle   exit once nothing was handled for MS milliseconds (counted
 *               from the first handled message; with --relay only, from the
 *               first relayed row)
 * --transport   kafka: the Kafka module ($CHARGEGATE_KAFKA_MODULE or the
 *               installed one) with brokers --kafka and topic prefix
 *               --kafka-prefix (default "chargegate.")
 */
#include "autoconfig.h"

#include "infra/log.h"
#include "infra/alloc.h"
#include "infra/metrics.h"
#include "infra/pgpool.h"
#include "queue/consumer.h"
#include "queue/pgtransport.h"
#include "queue/relay.h"
#include "queue/transport.h"
#include "kafka/loader.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

struct Worker {
	const char *db;
	bool relay, listen, record;
	const char *subscription, *topic;
	struct ConsumerSpec spec;
	int fail_every;
	int64_t handler_delay_ms;
	FILE *latency;
	int64_t exit_idle_ms;
	const char *transport, *kafka, *kafka_prefix;
	struct event_base *base;
	long handled, seen;
	long handled_at_last_tick;
	uint64_t relayed, relayed_at_last_tick;
	struct Relay *relays[3];
	int64_t idle_ms;
};

struct Delayed {
	struct event ev;
	struct ConsumerBatch *b;
	struct Worker *w;
};

static int64_t now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void finish_batch(struct Worker *w, struct ConsumerBatch *b)
{
	int n = consumer_batch_count(b);
	size_t cap = 64 + (size_t)n * 40;
	char *ids = xmalloc(cap), *p = ids;
	const char *params[2];

	p += sprintf(p, "{");
	for (int i = 0; i < n; i++) {
		const struct QueueMessage *m = consumer_batch_message(b, i);

		if (w->fail_every > 0 && ++w->seen % w->fail_every == 0) {
			consumer_retry(b, i, 100, "injected failure");
			continue;
		}
		consumer_done(b, i);
		w->handled++;
		p += sprintf(p, "%s%s", p[-1] == '{' ? "" : ",", m->event_id);
	}
	sprintf(p, "}");
	if (w->record) {
		params[0] = consumer_batch_subscription(b);
		params[1] = ids;
		consumer_add_step(b,
				  "INSERT INTO chargegate_test.handled (subscription, event_id) "
				  "SELECT $1, unnest($2::uuid[])",
				  2, params);
	}
	free(ids);
	consumer_batch_finish(b);
}

static void delayed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct Delayed *d = arg;

	finish_batch(d->w, d->b);
	free(d);
}

static void handle(struct ConsumerBatch *b, void *arg)
{
	struct Worker *w = arg;
	struct Delayed *d;
	struct timeval tv;

	if (w->latency) {
		int64_t t = now_us();

		for (int i = 0; i < consumer_batch_count(b); i++)
			fprintf(w->latency, "%s %lld\n", consumer_batch_message(b, i)->event_id, (long long)t);
		fflush(w->latency);
	}
	if (w->handler_delay_ms <= 0) {
		finish_batch(w, b);
		return;
	}
	d = xcalloc(1, sizeof(*d));
	d->b = b;
	d->w = w;
	tv.tv_sec = w->handler_delay_ms / 1000;
	tv.tv_usec = (w->handler_delay_ms % 1000) * 1000;
	evtimer_assign(&d->ev, w->base, delayed_cb, d);
	evtimer_add(&d->ev, &tv);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct Worker *w = arg;

	w->relayed = 0;
	for (int i = 0; i < 3; i++)
		w->relayed += relay_rows(w->relays[i]);
	if (w->handled != w->handled_at_last_tick || w->relayed != w->relayed_at_last_tick) {
		w->handled_at_last_tick = w->handled;
		w->relayed_at_last_tick = w->relayed;
		w->idle_ms = 0;
		return;
	}
	if (w->handled == 0 && w->relayed == 0)
		return;
	w->idle_ms += 100;
	if (w->exit_idle_ms > 0 && w->idle_ms >= w->exit_idle_ms)
		event_base_loopexit(w->base, NULL);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

static struct Transport *transport_new(struct Worker *w, struct PgPool *pool)
{
	struct KafkaSettings ks = { .abi = KAFKA_MODULE_ABI, .listen = w->listen,
				    .lease_ms = w->spec.lease_ms };
	struct Transport *t;
	char err[1024];

	if (!w->transport || strcmp(w->transport, "postgres") == 0)
		return pgtransport_new(w->base, pool, w->listen);
	if (strcmp(w->transport, "kafka") != 0)
		fatal("--transport must be postgres or kafka");
	ks.bootstrap_servers = w->kafka ? w->kafka : "";
	ks.topic_prefix = w->kafka_prefix ? w->kafka_prefix : "chargegate.";
	t = transport_load_kafka(w->base, pool, &ks, err, sizeof(err));
	if (!t)
		fatal("%s", err);
	return t;
}

static void parse(struct Worker *w, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", 1, NULL, 'd' },		   { "relay", 0, NULL, 'r' },	     { "subscription", 1, NULL, 's' },
		{ "topic", 1, NULL, 't' },	   { "batch", 1, NULL, 'b' },	     { "batches", 1, NULL, 'B' },
		{ "lease", 1, NULL, 'l' },	   { "max-attempts", 1, NULL, 'm' }, { "poll", 1, NULL, 'p' },
		{ "no-listen", 0, NULL, 'N' },	   { "record", 0, NULL, 'R' },	     { "fail-every", 1, NULL, 'f' },
		{ "handler-delay", 1, NULL, 'D' }, { "latency", 1, NULL, 'L' },	     { "exit-idle", 1, NULL, 'x' },
		{ "transport", 1, NULL, 'T' },	   { "kafka", 1, NULL, 'K' },	     { "kafka-prefix", 1, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': w->db = optarg; break;
		case 'r': w->relay = true; break;
		case 's': w->subscription = optarg; break;
		case 't': w->topic = optarg; break;
		case 'b': w->spec.batch_size = atoi(optarg); break;
		case 'B': w->spec.max_batches = atoi(optarg); break;
		case 'l': w->spec.lease_ms = atoll(optarg); break;
		case 'm': w->spec.max_attempts = atoi(optarg); break;
		case 'p': w->spec.poll_ms = atoll(optarg); break;
		case 'N': w->listen = false; break;
		case 'R': w->record = true; break;
		case 'f': w->fail_every = atoi(optarg); break;
		case 'D': w->handler_delay_ms = atoll(optarg); break;
		case 'L':
			w->latency = fopen(optarg, "a");
			if (!w->latency)
				fatal("could not open \"%s\"", optarg);
			break;
		case 'x': w->exit_idle_ms = atoll(optarg); break;
		case 'T': w->transport = optarg; break;
		case 'K': w->kafka = optarg; break;
		case 'P': w->kafka_prefix = optarg; break;
		default: fprintf(stderr, "cg-queue-worker: bad arguments (see the source's header)\n"); exit(2);
		}
	}
	if (!w->db)
		fatal("--db is required");
}

int main(int argc, char **argv)
{
	struct Worker w = { .listen = true,
			    .spec = { .batch_size = 100, .max_batches = 2, .lease_ms = 30000, .max_attempts = 10,
				      .poll_ms = 1000 } };
	static const char *const outboxes[] = { "charging_session_request_outbox",
						"authorization_decision_callback_outbox", "callback_delivery_outbox" };
	struct Consumer *consumer = NULL;
	struct PgPool *pool;
	struct Transport *t;
	struct event *tick, *sigterm, *sigint;
	struct timeval tv = { 0, 100000 };

	parse(&w, argc, argv);
	log_setup(getenv("CG_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_INFO, LOG_FMT_TEXT);
	w.base = event_base_new();
	pool = pgpool_new(w.base, "worker", w.db, 4, 30000);
	t = transport_new(&w, pool);
	for (int i = 0; w.relay && i < 3; i++)
		w.relays[i] = relay_new(w.base, t, outboxes[i], w.spec.batch_size, w.spec.poll_ms);
	if (w.subscription) {
		w.spec.subscription = w.subscription;
		w.spec.topic = w.topic ? w.topic : "charging_session_request";
		w.spec.handle = handle;
		w.spec.arg = &w;
		consumer = consumer_new(w.base, t, &w.spec);
	}
	tick = event_new(w.base, -1, EV_PERSIST, tick_cb, &w);
	event_add(tick, &tv);
	sigterm = evsignal_new(w.base, SIGTERM, stop_cb, w.base);
	sigint = evsignal_new(w.base, SIGINT, stop_cb, w.base);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	event_base_dispatch(w.base);
	printf("handled %ld relayed %llu\n", w.handled, (unsigned long long)w.relayed);
	fflush(stdout);
	pgpool_free(pool);
	consumer_free(consumer);
	for (int i = 0; i < 3; i++)
		relay_free(w.relays[i]);
	t->ops->free(t);
	event_free(tick);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(w.base);
	metrics_cleanup();
	if (w.latency)
		fclose(w.latency);
	return 0;
}
