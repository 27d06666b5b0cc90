#include "autoconfig.h"

#include "kafka/subscriber.h"

#include "infra/alloc.h"
#include "infra/log.h"
#include "infra/pgarray.h"
#include "infra/pgpool.h"
#include "infra/uuid.h"
#include "kafka/kafka.h"
#include "kafka/offsets.h"
#include "queue/claimrows.h"
#include "queue/settle.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A message id handed to the consumer runner: claim sequence and index. */
#define ID_SHIFT 20
#define ID_INDEX_MASK ((INT64_C(1) << ID_SHIFT) - 1)

/* A polled message, valid as a chargegate event. */
struct KMsg {
	rd_kafka_message_t *rkm;
	uint64_t gen;		/* its partition's generation when polled */
	int attempts;
	char event_id[37];
	char event_type[64];
	char aggregate_id[37];
	char *payload;
	struct KMsg *next;	/* in the buffer */
};

/* Messages handed out by one claim, until their batch is settled. */
struct KClaim {
	struct KafkaSubscriber *s;
	uint64_t seq;
	struct KMsg **msgs;	/* NULL once settled */
	int n, left;
	int failures;		/* failed settles */
	transport_claim_cb cb;	/* while the claim query runs */
	void *arg;
	struct KClaim *prev, *next;
};

struct KafkaSubscriber {
	struct KafkaClient client;	/* first: the handle's opaque */
	const struct KafkaCommon *k;
	char name[64];
	char topic[64];
	char ktopic[256];
	char group[256];
	rd_kafka_t *rk;
	struct KafkaPump pump;
	struct KOffsets *offsets;
	struct KMsg *head, *tail;	/* polled, not yet claimed */
	int buffered, buffer_max;
	struct KClaim *claims;
	uint64_t seq;
	ksub_wake_fn wake;
	void *wake_arg;
	bool topic_missing_logged;
};

static void kmsg_free(struct KMsg *m)
{
	if (!m)
		return;
	rd_kafka_message_destroy(m->rkm);
	free(m->payload);
	free(m);
}

static const char *msg_topic(const struct KMsg *m)
{
	return rd_kafka_topic_name(m->rkm->rkt);
}

/* --- offsets --------------------------------------------------------------------- */

static void add_offset(const char *topic, int32_t partition, int64_t offset, void *arg)
{
	rd_kafka_topic_partition_list_add(arg, topic, partition)->offset = offset;
}

/* Commit what may be committed (all partitions, or one when topic is set). */
static void commit_offsets(struct KafkaSubscriber *s, const char *topic, int32_t partition, bool async)
{
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(4);
	rd_kafka_resp_err_t e;

	if (!list)
		fatal("kafka: out of memory");
	if (koffsets_collect(s->offsets, topic, partition, add_offset, list) > 0) {
		e = rd_kafka_commit(s->rk, list, async ? 1 : 0);
		if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
			log_warning_f(LOG_F(.subscription = s->name),
				      "kafka consumer: could not commit offsets (the messages will be delivered again "
				      "and recognised as handled): %s",
				      rd_kafka_err2str(e));
	}
	rd_kafka_topic_partition_list_destroy(list);
}

static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *offsets,
		      void *opaque)
{
	struct KafkaSubscriber *s = opaque;

	if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
		log_warning_f(LOG_F(.subscription = s->name), "kafka consumer: offset commit failed: %s",
			      rd_kafka_err2str(err));
		return;
	}
	for (int i = 0; offsets && i < offsets->cnt; i++) {
		if (offsets->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR)
			log_warning_f(LOG_F(.subscription = s->name),
				      "kafka consumer: offset commit of %s [%d] failed: %s", offsets->elems[i].topic,
				      (int)offsets->elems[i].partition, rd_kafka_err2str(offsets->elems[i].err));
	}
}

/* --- the buffer -------------------------------------------------------------------- */

static void buffer_push(struct KafkaSubscriber *s, struct KMsg *m)
{
	m->next = NULL;
	if (s->tail)
		s->tail->next = m;
	else
		s->head = m;
	s->tail = m;
	s->buffered++;
}

static struct KMsg *buffer_pop(struct KafkaSubscriber *s)
{
	struct KMsg *m = s->head;

	if (!m)
		return NULL;
	s->head = m->next;
	if (!s->head)
		s->tail = NULL;
	s->buffered--;
	return m;
}

/* Messages given back go first: they are the oldest. */
static void buffer_push_front(struct KafkaSubscriber *s, struct KMsg **msgs, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		if (!msgs[i])
			continue;
		msgs[i]->next = s->head;
		s->head = msgs[i];
		if (!s->tail)
			s->tail = msgs[i];
		s->buffered++;
	}
}

/* A revoked partition's buffered messages go: its new owner reads them. */
static void buffer_drop(struct KafkaSubscriber *s, const char *topic, int32_t partition)
{
	struct KMsg **pp = &s->head;

	s->tail = NULL;
	while (*pp) {
		struct KMsg *m = *pp;

		if (m->rkm->partition == partition && strcmp(msg_topic(m), topic) == 0) {
			*pp = m->next;
			s->buffered--;
			kmsg_free(m);
			continue;
		}
		s->tail = m;
		pp = &m->next;
	}
}

/* --- polling ------------------------------------------------------------------------- */

static bool header(rd_kafka_headers_t *hdrs, const char *name, char *out, size_t outsize)
{
	const void *value;
	size_t size;

	if (!hdrs || rd_kafka_header_get_last(hdrs, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR || !value ||
	    size == 0 || size >= outsize)
		return false;
	memcpy(out, value, size);
	out[size] = '\0';
	for (size_t i = 0; i < size; i++) {
		if (out[i] < 0x21 || out[i] > 0x7e)
			return false;
	}
	return true;
}

static bool payload_is_object(const char *payload, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *obj;
	bool ok;

	if (!tok)
		fatal("kafka: out of memory");
	obj = json_tokener_parse_ex(tok, payload, (int)len);
	ok = obj && json_tokener_get_error(tok) == json_tokener_success &&
	     json_object_is_type(obj, json_type_object) && json_tokener_get_parse_end(tok) == len;
	json_object_put(obj);
	json_tokener_free(tok);
	return ok;
}

/* NULL when m is a chargegate event (fills km), else why not. */
static const char *parse_event(const rd_kafka_message_t *rkm, struct KMsg *km)
{
	rd_kafka_headers_t *hdrs = NULL;

	if (rd_kafka_message_headers(rkm, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return "it has no headers";
	if (!header(hdrs, "event_id", km->event_id, sizeof(km->event_id)) ||
	    !uuid_is_canonical(km->event_id, strlen(km->event_id)))
		return "its event_id header is missing or not a UUID";
	if (!header(hdrs, "event_type", km->event_type, sizeof(km->event_type)))
		return "its event_type header is missing or malformed";
	if (!rkm->key || !uuid_is_canonical(rkm->key, rkm->key_len))
		return "its key is not a UUID";
	memcpy(km->aggregate_id, rkm->key, 36);
	km->aggregate_id[36] = '\0';
	if (!rkm->payload || memchr(rkm->payload, '\0', rkm->len) || !payload_is_object(rkm->payload, rkm->len))
		return "its value is not a JSON object";
	km->payload = xmalloc(rkm->len + 1);
	memcpy(km->payload, rkm->payload, rkm->len);
	km->payload[rkm->len] = '\0';
	return NULL;
}

static void poll_error(struct KafkaSubscriber *s, const rd_kafka_message_t *rkm)
{
	if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
		return;
	if (rkm->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
		if (!s->topic_missing_logged)
			log_info_f(LOG_F(.subscription = s->name),
				   "kafka consumer: topic %s does not exist yet; waiting for it", s->ktopic);
		s->topic_missing_logged = true;
		return;
	}
	log_warning_f(LOG_F(.subscription = s->name), "kafka consumer: %s", rd_kafka_message_errstr(rkm));
}

/* One polled message into the buffer, or skipped (and settled) when it is not ours. */
static void take(struct KafkaSubscriber *s, rd_kafka_message_t *rkm)
{
	const char *topic = rd_kafka_topic_name(rkm->rkt);
	struct KMsg *km;
	const char *why;
	uint64_t gen = koffsets_add(s->offsets, topic, rkm->partition, rkm->offset);

	if (gen == 0) {
		log_debug_f(LOG_F(.subscription = s->name), "kafka consumer: ignoring a message of unassigned %s [%d]",
			    topic, (int)rkm->partition);
		rd_kafka_message_destroy(rkm);
		return;
	}
	km = xcalloc(1, sizeof(*km));
	km->rkm = rkm;
	km->gen = gen;
	km->attempts = 1;
	why = parse_event(rkm, km);
	if (why) {
		log_error_f(LOG_F(.subscription = s->name),
			    "kafka consumer: skipping %s [%d] offset %lld: not a chargegate event: %s", topic,
			    (int)rkm->partition, (long long)rkm->offset, why);
		koffsets_done(s->offsets, topic, rkm->partition, rkm->offset, gen);
		kmsg_free(km);
		commit_offsets(s, topic, rkm->partition, true);
		return;
	}
	buffer_push(s, km);
}

static void pump(void *arg)
{
	struct KafkaSubscriber *s = arg;
	int before = s->buffered;
	rd_kafka_message_t *rkm;

	while (s->buffered < s->buffer_max && (rkm = rd_kafka_consumer_poll(s->rk, 0)) != NULL) {
		if (rkm->err) {
			poll_error(s, rkm);
			rd_kafka_message_destroy(rkm);
			continue;
		}
		take(s, rkm);
	}
	if (s->buffered > before)
		s->wake(s->wake_arg, s->topic);
}

/* --- rebalances ----------------------------------------------------------------------- */

static bool cooperative(rd_kafka_t *rk)
{
	const char *proto = rd_kafka_rebalance_protocol(rk);

	return proto && strcmp(proto, "COOPERATIVE") == 0;
}

static void apply_assignment(struct KafkaSubscriber *s, rd_kafka_topic_partition_list_t *parts, bool assign)
{
	rd_kafka_error_t *error = NULL;
	rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;

	if (cooperative(s->rk))
		error = assign ? rd_kafka_incremental_assign(s->rk, parts) : rd_kafka_incremental_unassign(s->rk, parts);
	else
		e = rd_kafka_assign(s->rk, assign ? parts : NULL);
	if (error) {
		log_error_f(LOG_F(.subscription = s->name), "kafka consumer: could not %s partitions: %s",
			    assign ? "take" : "give up", rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
	} else if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		log_error_f(LOG_F(.subscription = s->name), "kafka consumer: could not %s partitions: %s",
			    assign ? "take" : "give up", rd_kafka_err2str(e));
	}
}

static void revoke(struct KafkaSubscriber *s, rd_kafka_topic_partition_list_t *parts)
{
	bool lost = rd_kafka_assignment_lost(s->rk);

	for (int i = 0; i < parts->cnt; i++) {
		const char *topic = parts->elems[i].topic;
		int32_t partition = parts->elems[i].partition;

		if (!lost)
			commit_offsets(s, topic, partition, true);	/* what is settled, before the partition goes */
		buffer_drop(s, topic, partition);
		koffsets_revoke(s->offsets, topic, partition);
	}
	log_info_f(LOG_F(.subscription = s->name), "kafka consumer: %s %d partition%s", lost ? "lost" : "gave up",
		   parts->cnt, parts->cnt == 1 ? "" : "s");
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
			 void *opaque)
{
	struct KafkaSubscriber *s = opaque;

	switch (err) {
	case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
		for (int i = 0; i < parts->cnt; i++)
			koffsets_assign(s->offsets, parts->elems[i].topic, parts->elems[i].partition);
		log_info_f(LOG_F(.subscription = s->name), "kafka consumer: assigned %d partition%s of %s", parts->cnt,
			   parts->cnt == 1 ? "" : "s", s->ktopic);
		apply_assignment(s, parts, true);
		break;
	case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
		revoke(s, parts);
		apply_assignment(s, parts, false);
		break;
	default:
		log_error_f(LOG_F(.subscription = s->name), "kafka consumer: rebalance failed: %s",
			    rd_kafka_err2str(err));
		for (int i = 0; i < parts->cnt; i++) {
			buffer_drop(s, parts->elems[i].topic, parts->elems[i].partition);
			koffsets_revoke(s->offsets, parts->elems[i].topic, parts->elems[i].partition);
		}
		apply_assignment(s, parts, false);
		break;
	}
}

/* --- claims ------------------------------------------------------------------------------ */

static struct KClaim *claim_new(struct KafkaSubscriber *s, int limit)
{
	struct KClaim *c = xcalloc(1, sizeof(*c));

	c->s = s;
	c->seq = ++s->seq;
	c->msgs = xcalloc((size_t)limit, sizeof(*c->msgs));
	while (c->n < limit && s->head)
		c->msgs[c->n++] = buffer_pop(s);
	c->left = c->n;
	c->next = s->claims;
	if (s->claims)
		s->claims->prev = c;
	s->claims = c;
	return c;
}

static void claim_free(struct KClaim *c)
{
	struct KafkaSubscriber *s = c->s;

	if (c->prev)
		c->prev->next = c->next;
	else
		s->claims = c->next;
	if (c->next)
		c->next->prev = c->prev;
	for (int i = 0; i < c->n; i++)
		kmsg_free(c->msgs[i]);
	free(c->msgs);
	free(c);
}

/* The messages were not handed out after all (or their settle failed for good): back to the buffer. */
static void claim_give_back(struct KClaim *c, bool retried)
{
	struct KafkaSubscriber *s = c->s;

	for (int i = 0; i < c->n; i++) {
		struct KMsg *m = c->msgs[i];

		if (!m)
			continue;
		if (!koffsets_current(s->offsets, msg_topic(m), m->rkm->partition, m->gen)) {
			kmsg_free(m);	/* revoked meanwhile: the new owner has it */
			c->msgs[i] = NULL;
			continue;
		}
		m->attempts += retried;
	}
	buffer_push_front(s, c->msgs, c->n);
	memset(c->msgs, 0, (size_t)c->n * sizeof(*c->msgs));
	claim_free(c);
}

static struct KClaim *claim_find(struct KafkaSubscriber *s, uint64_t seq)
{
	for (struct KClaim *c = s->claims; c; c = c->next) {
		if (c->seq == seq)
			return c;
	}
	return NULL;
}

/* Due retries from PostgreSQL, as claim_messages returns them. */
static bool in_result(PGresult *res, const char *event_id)
{
	for (int i = 0; res && i < PQntuples(res); i++) {
		if (strcmp(PQgetvalue(res, i, 0), event_id) == 0)
			return true;
	}
	return false;
}

static void fill_kafka(struct QueueMessage *msgs, const struct KClaim *c, PGresult *handled)
{
	for (int i = 0; i < c->n; i++) {
		const struct KMsg *m = c->msgs[i];

		msgs[i].id = (int64_t)(c->seq << ID_SHIFT) | i;
		msgs[i].attempts = m->attempts;
		memcpy(msgs[i].event_id, m->event_id, sizeof(m->event_id));
		memcpy(msgs[i].event_type, m->event_type, sizeof(m->event_type));
		memcpy(msgs[i].aggregate_id, m->aggregate_id, sizeof(m->aggregate_id));
		msgs[i].payload = xstrdup(m->payload);
		msgs[i].handled = in_result(handled, m->event_id);
	}
}

static uint32_t hash_id(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/*
 * The same event twice in one claim (published again after a relay's lease
 * expired, or a Kafka copy beside a retry): the later copies count as
 * handled, so one batch never records an event id twice.
 */
static void mark_copies(struct QueueMessage *msgs, int n)
{
	size_t size = 1;
	int *slots;

	while (size < (size_t)n * 2)
		size *= 2;
	slots = xcalloc(size, sizeof(*slots));
	for (int i = 0; i < n; i++) {
		size_t j = hash_id(msgs[i].event_id) & (size - 1);

		while (slots[j] && strcmp(msgs[slots[j] - 1].event_id, msgs[i].event_id) != 0)
			j = (j + 1) & (size - 1);
		if (slots[j])
			msgs[i].handled = true;
		else
			slots[j] = i + 1;
	}
	free(slots);
}

/*
 * An event already in flight in another claim of this subscription (a
 * copy published again after a crash) counts as handled here: the copy in
 * flight is settled, or given back, for both -- and it holds the partition's
 * commit back until then.  Only copies of the partition's current
 * generation count: a revoked one holds nothing back.
 */
static bool counts_in_flight(const struct KafkaSubscriber *s, const struct KMsg *m)
{
	return m && koffsets_current(s->offsets, msg_topic(m), m->rkm->partition, m->gen);
}

static void mark_in_flight(const struct KafkaSubscriber *s, const struct KClaim *self, struct QueueMessage *msgs,
			   int n)
{
	size_t size = 1, count = 0;
	const char **set;

	for (const struct KClaim *c = s->claims; c; c = c->next)
		count += c == self ? 0 : (size_t)c->n;
	if (count == 0)
		return;
	while (size < count * 2)
		size *= 2;
	set = xcalloc(size, sizeof(*set));
	for (const struct KClaim *c = s->claims; c; c = c->next) {
		for (int i = 0; c != self && i < c->n; i++) {
			size_t j;

			if (!counts_in_flight(s, c->msgs[i]))
				continue;
			for (j = hash_id(c->msgs[i]->event_id) & (size - 1); set[j]; j = (j + 1) & (size - 1))
				;
			set[j] = c->msgs[i]->event_id;
		}
	}
	for (int i = 0; i < n; i++) {
		for (size_t j = hash_id(msgs[i].event_id) & (size - 1); set[j]; j = (j + 1) & (size - 1)) {
			if (strcmp(set[j], msgs[i].event_id) == 0) {
				msgs[i].handled = true;
				break;
			}
		}
	}
	free(set);
}

static void claimed(enum PgStatus st, PGresult **results, int nsteps, const char *err, void *arg)
{
	struct KClaim *c = arg;
	struct KafkaSubscriber *s = c->s;
	transport_claim_cb cb = c->cb;
	void *cb_arg = c->arg;
	struct QueueMessage *msgs;
	char why[256];
	int nretries, n;

	if (st != PG_OK) {
		claim_give_back(c, false);
		cb(NULL, -1, err, cb_arg);
		return;
	}
	nretries = PQntuples(results[0]);
	n = nretries + c->n;
	msgs = xcalloc((size_t)n, sizeof(*msgs));
	if (!claimrows_decode(results[0], msgs, why, sizeof(why))) {
		transport_free_messages(msgs, nretries);
		claim_give_back(c, false);
		cb(NULL, -1, why, cb_arg);
		return;
	}
	fill_kafka(msgs + nretries, c, c->n > 0 ? results[1] : NULL);
	mark_copies(msgs, n);
	mark_in_flight(s, c, msgs, n);
	if (c->n == 0)
		claim_free(c);
	cb(msgs, n, NULL, cb_arg);
	transport_free_messages(msgs, n);
	if (s->buffered > 0)
		s->wake(s->wake_arg, s->topic);	/* more than fit in this batch */
}

static const char retries_sql[] = "SELECT * FROM chargegate.claim_messages($1, $2, $3::int, $4::int)";
static const char handled_sql[] =
	"SELECT h.event_id FROM chargegate.handled_event h WHERE h.subscription = $1 AND h.event_id = ANY ($2::uuid[])";

void ksub_claim(struct KafkaSubscriber *s, const char *owner, int limit, int64_t lease_ms, transport_claim_cb cb,
		void *arg)
{
	struct KClaim *c;
	struct PgArray ids = PGARRAY_INIT;
	char lim[16], lease[32], *idtext;
	const char *rp[4] = { s->name, owner, lim, lease }, *hp[2] = { s->name, NULL };
	struct PgStep steps[2] = { { retries_sql, 4, rp }, { handled_sql, 2, hp } };

	s->buffer_max = limit * 4 > 64 ? limit * 4 : 64;
	pump(s);
	c = claim_new(s, limit);
	c->cb = cb;
	c->arg = arg;
	snprintf(lim, sizeof(lim), "%d", limit - c->n > 0 ? limit - c->n : 1);
	snprintf(lease, sizeof(lease), "%lld", (long long)lease_ms);
	for (int i = 0; i < c->n; i++)
		pgarray_text(&ids, c->msgs[i]->event_id);
	idtext = pgarray_finish(&ids);
	hp[1] = idtext;
	pgpool_tx(s->k->pool, steps, c->n > 0 ? 2 : 1, claimed, c);
	free(idtext);
}

/* --- settling -------------------------------------------------------------------------------- */

struct SettleCall {
	struct KafkaSubscriber *s;
	transport_count_cb cb;
	void *arg;
	int64_t *kids;		/* ids of the Kafka messages in the batch */
	int nkids;
	int settle_step;	/* settle_batches' step, -1 when none */
	struct SettleSql sql;	/* settle_batches and record_handled, as in PostgreSQL mode */
	const struct QueueMessage *msgs;
	int n;
};

/* An error text for jsonb: ASCII only, so no invalid UTF-8 can break the transaction. */
static struct json_object *ascii_string(const char *s)
{
	char *copy = xstrdup(s ? s : "failed");
	struct json_object *j;

	for (char *p = copy; *p; p++) {
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	}
	j = json_object_new_string(copy);
	free(copy);
	if (!j)
		fatal("kafka: out of memory");
	return j;
}

static void add_member(struct json_object *o, const char *key, struct json_object *v)
{
	if (json_object_object_add(o, key, v) != 0)
		fatal("kafka: out of memory");
}

static struct json_object *checked(struct json_object *j)
{
	if (!j)
		fatal("kafka: out of memory");
	return j;
}

/*
 * A Kafka message that was not acknowledged goes to the PostgreSQL retry
 * storage; a postponed one without counting its delivery as an attempt.
 */
static void defer_item(struct json_object *arr, const struct QueueMessage *m, const struct QueueOutcome *o)
{
	struct json_object *item = json_object_new_object();
	struct json_object *payload = json_tokener_parse(m->payload);
	int attempts = o->result == QUEUE_POSTPONE && m->attempts > 0 ? m->attempts - 1 : m->attempts;

	if (!item)
		fatal("kafka: out of memory");
	add_member(item, "event_id", checked(json_object_new_string(m->event_id)));
	add_member(item, "event_type", checked(json_object_new_string(m->event_type)));
	add_member(item, "aggregate_id", checked(json_object_new_string(m->aggregate_id)));
	add_member(item, "payload", payload ? payload : checked(json_object_new_object()));
	add_member(item, "attempts", checked(json_object_new_int(attempts)));
	add_member(item, "retry_after_ms",
		   o->result == QUEUE_DEAD ? NULL : checked(json_object_new_int64(o->retry_after_ms)));
	add_member(item, "error", ascii_string(o->error));
	add_member(item, "postponed", checked(json_object_new_boolean(o->result == QUEUE_POSTPONE)));
	if (json_object_array_add(arr, item) != 0)
		fatal("kafka: out of memory");
}

/* The Kafka messages of the batch: their ids, and what goes to the retry storage. */
static void collect_kafka(const struct SettleRequest *req, struct SettleCall *sc, struct json_object *defer)
{
	for (int i = 0; i < req->n; i++) {
		const struct QueueMessage *m = &req->msgs[i];

		if (m->lease_id != 0)
			continue;
		sc->kids[sc->nkids++] = m->id;
		if (req->outcomes[i].result != QUEUE_DONE)
			defer_item(defer, m, &req->outcomes[i]);
	}
}

/* The batch's transaction committed: its Kafka messages are done, offsets may move. */
static void kafka_settled(struct KafkaSubscriber *s, const struct SettleCall *sc)
{
	for (int i = 0; i < sc->nkids; i++) {
		struct KClaim *c = claim_find(s, (uint64_t)sc->kids[i] >> ID_SHIFT);
		int idx = (int)(sc->kids[i] & ID_INDEX_MASK);
		struct KMsg *m;

		if (!c || idx >= c->n || !(m = c->msgs[idx]))
			continue;
		koffsets_done(s->offsets, msg_topic(m), m->rkm->partition, m->rkm->offset, m->gen);
		kmsg_free(m);
		c->msgs[idx] = NULL;
		if (--c->left == 0)
			claim_free(c);
	}
	commit_offsets(s, NULL, 0, true);
}

/*
 * The transaction failed.  The consumer runner settles the batch once more
 * (as retries); when that fails too, the messages go back to the buffer so
 * they are handled again -- nothing is committed past them meanwhile.
 */
static void kafka_unsettled(struct KafkaSubscriber *s, const struct SettleCall *sc)
{
	uint64_t last = 0;

	for (int i = 0; i < sc->nkids; i++) {
		uint64_t seq = (uint64_t)sc->kids[i] >> ID_SHIFT;
		struct KClaim *c;

		if (seq == last || !(c = claim_find(s, seq)))
			continue;
		last = seq;
		if (++c->failures >= 2) {
			log_warning_f(LOG_F(.subscription = s->name),
				      "kafka consumer: %d messages go back to be handled again", c->left);
			claim_give_back(c, true);
		}
	}
}

static void settled(enum PgStatus st, PGresult **results, int nsteps, const char *err, void *arg)
{
	struct SettleCall *sc = arg;
	struct KafkaSubscriber *s = sc->s;
	int stale = 0;

	if (st == PG_OK && sc->settle_step >= 0)
		stale = settle_sql_stale(results[sc->settle_step], sc->msgs, sc->n);
	if (st == PG_OK && stale < 0)
		err = "settle_batches returned unexpected columns (run chargegatectl migrate)";
	if (st == PG_OK)
		kafka_settled(s, sc);
	else
		kafka_unsettled(s, sc);
	sc->cb(st == PG_OK && stale >= 0 ? stale : -1, st == PG_OK && stale >= 0 ? NULL : err, sc->arg);
	settle_sql_free(&sc->sql);
	free(sc->kids);
	free(sc);
}

static const char defer_sql[] = "SELECT chargegate.defer_messages($1, $2::jsonb, $3::int)";

void ksub_settle(struct KafkaSubscriber *s, const struct SettleRequest *req, transport_count_cb cb, void *arg)
{
	struct SettleCall *sc = xcalloc(1, sizeof(*sc));
	struct json_object *defer = json_object_new_array();
	struct PgStep *steps = xcalloc((size_t)req->nsteps + 4, sizeof(*steps));
	const char *dp[3];
	int k = 0;

	if (!defer)
		fatal("kafka: out of memory");
	sc->s = s;
	sc->cb = cb;
	sc->arg = arg;
	sc->kids = xcalloc((size_t)req->n, sizeof(*sc->kids));
	sc->msgs = req->msgs;
	sc->n = req->n;
	sc->settle_step = -1;
	collect_kafka(req, sc, defer);
	settle_sql_build(&sc->sql, req);
	/* first: it locks the leased retries, and a lost lease aborts everything (see pg_settle) */
	if (sc->sql.leases > 0) {
		sc->settle_step = k;
		steps[k++] = sc->sql.settle;
	}
	if (sc->sql.handled_count > 0)
		steps[k++] = sc->sql.handled;
	for (int i = 0; i < req->nsteps; i++)
		steps[k++] = (struct PgStep){ req->steps[i].sql, req->steps[i].nparams, req->steps[i].values };
	dp[0] = req->subscription;
	dp[1] = json_object_to_json_string_ext(defer, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	dp[2] = sc->sql.max_attempts;
	if (json_object_array_length(defer) > 0)
		steps[k++] = (struct PgStep){ defer_sql, 3, dp };
	if (k == 0)
		steps[k++] = (struct PgStep){ "SELECT 1", 0, NULL };
	pgpool_tx(s->k->pool, steps, k, settled, sc);
	json_object_put(defer);
	free(steps);
}

/* --- the consumer -------------------------------------------------------------------------------- */

static rd_kafka_conf_t *consumer_conf(const struct KafkaCommon *k, const char *group, struct KafkaClient *client,
				      char *err, size_t errsize)
{
	const char *const fixed[] = { "group.id", group, "enable.auto.commit", "false", "enable.auto.offset.store",
				      "false", NULL };

	return kconf_new(k, KAFKA_CONSUMER, fixed, client, err, errsize);
}

bool ksub_check_config(const struct KafkaCommon *k, char *err, size_t errsize)
{
	struct KafkaClient client = { .label = "kafka consumer (configuration check)" };
	rd_kafka_conf_t *conf = consumer_conf(k, "chargegate-check", &client, err, errsize);

	if (!conf)
		return false;
	rd_kafka_conf_destroy(conf);
	return true;
}

static bool subscribe_topic(struct KafkaSubscriber *s, char *err, size_t errsize)
{
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
	rd_kafka_resp_err_t e;

	if (!list)
		fatal("kafka: out of memory");
	rd_kafka_topic_partition_list_add(list, s->ktopic, RD_KAFKA_PARTITION_UA);
	e = rd_kafka_subscribe(s->rk, list);
	rd_kafka_topic_partition_list_destroy(list);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, errsize, "could not subscribe to %s: %s", s->ktopic, rd_kafka_err2str(e));
		return false;
	}
	return true;
}

static bool consumer_start(struct KafkaSubscriber *s, char *err, size_t errsize)
{
	rd_kafka_conf_t *conf = consumer_conf(s->k, s->group, &s->client, err, errsize);
	rd_kafka_resp_err_t e;

	if (!conf)
		return false;
	rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
	rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);
	s->rk = kconf_handle(conf, KAFKA_CONSUMER, err, errsize);
	if (!s->rk)
		return false;
	e = rd_kafka_poll_set_consumer(s->rk);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, errsize, "could not route events to the consumer queue: %s", rd_kafka_err2str(e));
		return false;
	}
	return subscribe_topic(s, err, errsize) &&
	       kpump_setup(&s->pump, s->k->base, rd_kafka_queue_get_consumer(s->rk), pump, s, err, errsize);
}

struct KafkaSubscriber *ksub_new(const struct KafkaCommon *k, const char *subscription, const char *topic,
				 ksub_wake_fn wake, void *wake_arg, char *err, size_t errsize)
{
	struct KafkaSubscriber *s = xcalloc(1, sizeof(*s));

	s->k = k;
	snprintf(s->name, sizeof(s->name), "%s", subscription);
	snprintf(s->topic, sizeof(s->topic), "%s", topic);
	snprintf(s->ktopic, sizeof(s->ktopic), "%s%s", k->prefix, topic);
	snprintf(s->group, sizeof(s->group), "%s%s", k->prefix, subscription);
	snprintf(s->client.label, sizeof(s->client.label), "kafka consumer");
	s->client.subscription = s->name;
	s->offsets = koffsets_new();
	s->buffer_max = 64;
	s->wake = wake;
	s->wake_arg = wake_arg;
	if (!consumer_start(s, err, errsize)) {
		if (s->rk)
			rd_kafka_destroy(s->rk);
		koffsets_free(s->offsets);
		free(s);
		return NULL;
	}
	log_info_f(LOG_F(.subscription = s->name), "kafka consumer: group %s reads %s", s->group, s->ktopic);
	return s;
}

const char *ksub_name(const struct KafkaSubscriber *s)
{
	return s->name;
}

void ksub_free(struct KafkaSubscriber *s)
{
	rd_kafka_resp_err_t e;
	struct KMsg *m;

	if (!s)
		return;
	kpump_cleanup(&s->pump);
	commit_offsets(s, NULL, 0, false);
	while (s->claims)
		claim_free(s->claims);	/* unsettled: delivered again to whoever owns the partition next */
	while ((m = buffer_pop(s)) != NULL)
		kmsg_free(m);
	e = rd_kafka_consumer_close(s->rk);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_warning_f(LOG_F(.subscription = s->name), "kafka consumer: could not leave the group cleanly: %s",
			      rd_kafka_err2str(e));
	rd_kafka_destroy(s->rk);
	koffsets_free(s->offsets);
	free(s);
}
