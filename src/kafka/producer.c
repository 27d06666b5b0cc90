#include "autoconfig.h"

#include "kafka/producer.h"

#include "infra/alloc.h"
#include "infra/log.h"
#include "infra/pgarray.h"
#include "infra/pgpool.h"
#include "kafka/kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A failed delivery is tried again after this long (the row stays pending). */
#define PUBLISH_RETRY_MS 1000
#define PUBLISH_RETRY_MS_TEXT "1000"
/* How much longer than message.timeout.ms an outbox lease lasts. */
#define LEASE_MARGIN_MS 2000
/* Topics whose metadata is fetched at start (one per outbox). */
#define MAX_WARM_TOPICS 16

struct Row {
	int64_t id;
	rd_kafka_resp_err_t err;
	bool reported;
	struct Batch *batch;
};

/* One relay call: claimed rows, produced, waiting for their reports, then marked. */
struct Batch {
	struct KafkaProducer *p;
	char outbox[64];
	struct Row *rows;
	int n;
	int waiting;		/* produced, no report yet */
	int64_t next_due_ms;
	transport_relay_cb cb;
	void *arg;
	struct Batch *prev, *next;
};

struct KafkaProducer {
	struct KafkaClient client;	/* first: the handle's opaque */
	const struct KafkaCommon *k;
	rd_kafka_t *rk;
	struct KafkaPump pump;
	char owner[160];
	char lease[32];
	bool fatal;
	bool closing;
	struct Batch *batches;
	int waiting;
	rd_kafka_topic_t *warm[MAX_WARM_TOPICS];
	int nwarm;
};

static const char claim_sql[] = "SELECT id, event_id, event_type, aggregate_id, payload, topic"
				 " FROM chargegate.claim_outbox($1, $2, $3::int, $4::int)";
static const char next_due_sql[] = "SELECT chargegate.outbox_next_due_ms($1)";
static const char mark_sql[] = "SELECT chargegate.mark_published($1, $2::bigint[])";
static const char failed_sql[] = "SELECT chargegate.record_publish_error($1, $2, $3::bigint[], $4::text[], $5::int)";

/* --- batches ---------------------------------------------------------------- */

static struct Batch *batch_new(struct KafkaProducer *p, const char *outbox, transport_relay_cb cb, void *arg)
{
	struct Batch *b = xcalloc(1, sizeof(*b));

	b->p = p;
	snprintf(b->outbox, sizeof(b->outbox), "%s", outbox);
	b->cb = cb;
	b->arg = arg;
	b->next_due_ms = -1;
	b->next = p->batches;
	if (p->batches)
		p->batches->prev = b;
	p->batches = b;
	return b;
}

static void batch_free(struct Batch *b)
{
	struct KafkaProducer *p = b->p;

	if (b->prev)
		b->prev->next = b->next;
	else
		p->batches = b->next;
	if (b->next)
		b->next->prev = b->prev;
	free(b->rows);
	free(b);
}

/* Ends the relay call: the callback, then the batch is gone. */
static void batch_end(struct Batch *b, int moved, const char *err)
{
	transport_relay_cb cb = b->cb;
	void *arg = b->arg;
	struct RelayResult r = { .moved = moved, .next_due_ms = b->next_due_ms, .err = err };

	batch_free(b);
	cb(&r, arg);
}

static void marked(enum PgStatus st, PGresult **results, int nsteps, const char *err, void *arg)
{
	struct Batch *b = arg;
	int ok = 0;

	if (st != PG_OK) {
		log_warning("kafka relay %s: delivered rows could not be marked published (they will be published "
			    "again when their lease expires): %s",
			    b->outbox, err);
		batch_end(b, -1, err);
		return;
	}
	for (int i = 0; i < b->n; i++)
		ok += b->rows[i].err == RD_KAFKA_RESP_ERR_NO_ERROR;
	batch_end(b, ok, NULL);
}

static void log_failures(const struct Batch *b, int failed)
{
	for (int i = 0; i < b->n; i++) {
		if (b->rows[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			log_warning("kafka relay %s: %d of %d rows were not delivered and stay pending (first: row %lld: "
				    "%s)",
				    b->outbox, failed, b->n, (long long)b->rows[i].id, rd_kafka_err2str(b->rows[i].err));
			return;
		}
	}
}

/* Every report is in: one transaction marks the delivered rows and records the failed ones. */
static void batch_reported(struct Batch *b)
{
	struct KafkaProducer *p = b->p;
	struct PgArray ok = PGARRAY_INIT, bad = PGARRAY_INIT, errs = PGARRAY_INIT;
	struct PgStep steps[2];
	const char *mp[2], *fp[5];
	char *owned[3];
	int k = 0;

	for (int i = 0; i < b->n; i++) {
		if (b->rows[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			pgarray_int(&ok, b->rows[i].id);
			continue;
		}
		pgarray_int(&bad, b->rows[i].id);
		pgarray_text(&errs, rd_kafka_err2str(b->rows[i].err));
	}
	if (bad.n > 0) {
		log_failures(b, bad.n);
		if (b->next_due_ms < 0 || b->next_due_ms > PUBLISH_RETRY_MS)
			b->next_due_ms = PUBLISH_RETRY_MS;
	}
	mp[0] = fp[0] = b->outbox;
	if (ok.n > 0)
		steps[k++] = (struct PgStep){ mark_sql, 2, mp };
	if (bad.n > 0)
		steps[k++] = (struct PgStep){ failed_sql, 5, fp };
	owned[0] = pgarray_finish(&ok);
	owned[1] = pgarray_finish(&bad);
	owned[2] = pgarray_finish(&errs);
	mp[1] = owned[0];
	fp[1] = p->owner;
	fp[2] = owned[1];
	fp[3] = owned[2];
	fp[4] = PUBLISH_RETRY_MS_TEXT;
	pgpool_tx(p->k->pool, steps, k, marked, b);	/* values are copied */
	for (int i = 0; i < 3; i++)
		free(owned[i]);
}

/* --- producing ------------------------------------------------------------------ */

static rd_kafka_resp_err_t produce_row(struct KafkaProducer *p, struct Row *row, PGresult *res, int i)
{
	char topic[256];
	const char *event_id = PQgetvalue(res, i, 1), *event_type = PQgetvalue(res, i, 2);
	const char *key = PQgetvalue(res, i, 3), *payload = PQgetvalue(res, i, 4);

	snprintf(topic, sizeof(topic), "%s%s", p->k->prefix, PQgetvalue(res, i, 5));
	return rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				 RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE((void *)payload, strlen(payload)),
				 RD_KAFKA_V_HEADER("event_id", event_id, -1),
				 RD_KAFKA_V_HEADER("event_type", event_type, -1), RD_KAFKA_V_OPAQUE(row),
				 RD_KAFKA_V_END);
}

static void claimed(enum PgStatus st, PGresult **results, int nsteps, const char *err, void *arg)
{
	struct Batch *b = arg;
	struct KafkaProducer *p = b->p;
	PGresult *res;

	if (st != PG_OK) {
		batch_end(b, -1, err);
		return;
	}
	res = results[0];
	if (!PQgetisnull(results[1], 0, 0))
		b->next_due_ms = atoll(PQgetvalue(results[1], 0, 0));
	b->n = PQntuples(res);
	if (b->n == 0) {
		batch_end(b, 0, NULL);
		return;
	}
	b->rows = xcalloc((size_t)b->n, sizeof(*b->rows));
	for (int i = 0; i < b->n; i++) {
		struct Row *row = &b->rows[i];

		row->id = atoll(PQgetvalue(res, i, 0));
		row->batch = b;
		row->err = produce_row(p, row, res, i);
		if (row->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			b->waiting++;
			p->waiting++;
		}
	}
	if (b->waiting == 0)
		batch_reported(b);	/* nothing was accepted: record the failures now */
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct KafkaProducer *p = opaque;
	struct Row *row = m->_private;
	struct Batch *b;

	if (!row || row->reported)
		return;
	b = row->batch;
	row->reported = true;
	row->err = m->err;
	b->waiting--;
	p->waiting--;
	if (b->waiting == 0 && !p->closing)
		batch_reported(b);
}

/* --- the handle ---------------------------------------------------------------------- */

static void serve(void *arg)
{
	struct KafkaProducer *p = arg;

	while (rd_kafka_poll(p->rk, 0) > 0)
		;
}

/* The outbox lease outlives a delivery attempt: a report always comes before another relay takes the row. */
static void set_lease(struct KafkaProducer *p, rd_kafka_conf_t *conf)
{
	char value[32];
	size_t size = sizeof(value);
	long long timeout = 300000, lease;

	if (rd_kafka_conf_get(conf, "message.timeout.ms", value, &size) == RD_KAFKA_CONF_OK)
		timeout = atoll(value);
	lease = timeout + LEASE_MARGIN_MS;
	if (lease < p->k->lease_ms)
		lease = p->k->lease_ms;
	snprintf(p->lease, sizeof(p->lease), "%lld", lease);
}

static bool handle_new(struct KafkaProducer *p, char *err, size_t errsize)
{
	static const char *const fixed[] = { "enable.idempotence", "true", "acks", "all", NULL };
	rd_kafka_conf_t *conf = kconf_new(p->k, KAFKA_PRODUCER, fixed, &p->client, err, errsize);

	if (!conf)
		return false;
	rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
	set_lease(p, conf);
	p->rk = kconf_handle(conf, KAFKA_PRODUCER, err, errsize);
	if (!p->rk)
		return false;
	if (!kpump_setup(&p->pump, p->k->base, rd_kafka_queue_get_main(p->rk), serve, p, err, errsize)) {
		rd_kafka_destroy(p->rk);
		p->rk = NULL;
		return false;
	}
	p->fatal = false;
	return true;
}

/* Reports of purged messages are served (and ignored when closing) before the handle goes. */
static void handle_free(struct KafkaProducer *p)
{
	rd_kafka_resp_err_t e;

	if (!p->rk)
		return;
	for (int i = 0; i < p->nwarm; i++)
		rd_kafka_topic_destroy(p->warm[i]);
	p->nwarm = 0;
	e = rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_warning("kafka producer: could not purge its queue: %s", rd_kafka_err2str(e));
	serve(p);
	kpump_cleanup(&p->pump);
	rd_kafka_destroy(p->rk);
	p->rk = NULL;
}

static bool producer_fatal(struct KafkaProducer *p)
{
	char why[512];

	if (p->fatal)
		return true;
	if (rd_kafka_fatal_error(p->rk, why, sizeof(why)) == RD_KAFKA_RESP_ERR_NO_ERROR)
		return false;
	log_error("kafka producer: fatal error, it will be recreated once its deliveries are reported: %s", why);
	p->fatal = true;
	return true;
}

/* After a fatal error (idempotence broken) the handle cannot go on: replace it. */
static bool recreate(struct KafkaProducer *p, char *err, size_t errsize)
{
	if (p->batches) {
		snprintf(err, errsize, "the producer failed fatally and waits for its last delivery reports");
		return false;
	}
	handle_free(p);
	if (!handle_new(p, err, errsize))
		return false;
	log_info("kafka producer: recreated after a fatal error");
	return true;
}

void kproducer_relay(struct KafkaProducer *p, const char *outbox, int limit, transport_relay_cb cb, void *arg)
{
	struct Batch *b;
	char lim[16], err[512];
	const char *cp[4] = { outbox, p->owner, lim, p->lease };
	const struct PgStep steps[2] = { { claim_sql, 4, cp }, { next_due_sql, 1, cp } };

	if (producer_fatal(p) && !recreate(p, err, sizeof(err))) {
		struct RelayResult r = { .moved = -1, .next_due_ms = -1, .err = err };

		cb(&r, arg);
		return;
	}
	snprintf(lim, sizeof(lim), "%d", limit);
	b = batch_new(p, outbox, cb, arg);
	pgpool_tx(p->k->pool, steps, 2, claimed, b);
}

/* The outboxes' topics: handles make librdkafka fetch their metadata now, not at the first row. */
static void warm_topics(enum PgStatus st, PGresult *res, const char *err, void *arg)
{
	struct KafkaProducer *p = arg;
	char topic[256];

	if (st != PG_OK) {
		log_warning("kafka producer: could not read the outboxes' topics (their metadata comes with the first "
			    "row): %s",
			    err);
		return;
	}
	for (int i = 0; i < PQntuples(res) && p->nwarm < MAX_WARM_TOPICS && p->rk; i++) {
		snprintf(topic, sizeof(topic), "%s%s", p->k->prefix, PQgetvalue(res, i, 0));
		p->warm[p->nwarm] = rd_kafka_topic_new(p->rk, topic, NULL);
		if (!p->warm[p->nwarm])
			log_warning("kafka producer: could not create a handle for topic %s: %s", topic,
				    rd_kafka_err2str(rd_kafka_last_error()));
		else
			p->nwarm++;
	}
}

struct KafkaProducer *kproducer_new(const struct KafkaCommon *k, char *err, size_t errsize)
{
	struct KafkaProducer *p = xcalloc(1, sizeof(*p));

	p->k = k;
	snprintf(p->client.label, sizeof(p->client.label), "kafka producer");
	snprintf(p->owner, sizeof(p->owner), "%s:relay", k->host_pid);
	if (!handle_new(p, err, errsize)) {
		free(p);
		return NULL;
	}
	log_info("kafka producer: idempotent, acks=all, bootstrap servers %s, outbox leases of %s ms", k->bootstrap,
		 p->lease);
	pgpool_query(k->pool, "SELECT topic FROM chargegate.outbox ORDER BY name", 0, NULL, warm_topics, p);
	return p;
}

void kproducer_free(struct KafkaProducer *p)
{
	if (!p)
		return;
	p->closing = true;
	if (p->waiting > 0)
		log_warning("kafka producer: %d rows still wait for their delivery report; they will be published "
			    "again when their lease expires",
			    p->waiting);
	handle_free(p);
	while (p->batches)
		batch_free(p->batches);
	free(p);
}
