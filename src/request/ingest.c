#include "autoconfig.h"

#include "request/ingest.h"

#include "infra/alloc.h"
#include "infra/clock.h"
#include "infra/log.h"
#include "infra/metrics.h"
#include "infra/pgarray.h"
#include "infra/pgpool.h"
#include "request/validate.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Beyond this many waiting requests new ones are refused (503), not queued. */
#define MAX_WAITING 65536

static const char accept_sql[] =
	"SELECT ord, request_id, outcome FROM chargegate.accept_requests($1::uuid[], $2::text[], "
	"$3::text[], $4::text[], $5::bigint[])";

struct IngestItem {
	struct IngestItem *next;
	char station_id[37];
	char *driver_token;
	char *callback_url;
	char *idempotency_key;	/* NULL when absent */
	int64_t api_key_id;	/* 0: none */
	int64_t deadline_ms;	/* monotonic: answered by then, whatever the database does */
	ingest_cb cb;
	void *arg;
};

struct Batch {
	struct Batch *next;
	struct Ingest *ing;
	struct IngestItem *head, *tail;
	int n;
	bool solo;		/* a retry of one row from a failed batch */
	int64_t deadline_ms;	/* its earliest item's */
};

struct Ingest {
	struct event_base *base;
	struct PgPool *pool;
	int batch_size;
	int64_t batch_wait_ms;
	int64_t timeout_ms;	/* database.query_timeout, counted from a request's arrival */
	int max_inflight;
	int inflight;
	int waiting;		/* items not yet answered */
	struct Batch *open;	/* filling */
	struct Batch *ready_head, *ready_tail;	/* full or due, waiting for a connection */
	struct event timer;
	bool timer_armed;
	struct event expire_timer;	/* the oldest ready batch's deadline */
	void (*on_commit)(void *);
	void *on_commit_arg;
	uint64_t *batches, *rows, *batch_failures;
};

static void batch_send(struct Batch *b);

static void item_finish(struct Ingest *ing, struct IngestItem *it, enum IngestOutcome o, const char *id,
			const char *detail)
{
	ing->waiting--;
	it->cb(o, id, detail, it->arg);
	free(it->driver_token);
	free(it->callback_url);
	free(it->idempotency_key);
	free(it);
}

static void batch_push(struct Batch *b, struct IngestItem *it)
{
	it->next = NULL;
	if (b->tail)
		b->tail->next = it;
	else
		b->head = it;
	b->tail = it;
	b->n++;
	if (b->n == 1 || it->deadline_ms < b->deadline_ms)
		b->deadline_ms = it->deadline_ms;
}

static struct Batch *batch_new(struct Ingest *ing, bool solo)
{
	struct Batch *b = xcalloc(1, sizeof(*b));

	b->ing = ing;
	b->solo = solo;
	return b;
}

static void arm_expiry(struct Ingest *ing)
{
	struct timeval tv;

	if (!ing->ready_head || evtimer_pending(&ing->expire_timer, NULL))
		return;
	tv = clock_timeval(ing->ready_head->deadline_ms - clock_now_ms());
	if (evtimer_add(&ing->expire_timer, &tv) != 0)
		fatal("ingest: could not arm the expiry timer");
}

static void ready_push(struct Ingest *ing, struct Batch *b)
{
	b->next = NULL;
	if (ing->ready_tail)
		ing->ready_tail->next = b;
	else
		ing->ready_head = b;
	ing->ready_tail = b;
	arm_expiry(ing);
}

static struct Batch *ready_pop(struct Ingest *ing)
{
	struct Batch *b = ing->ready_head;

	ing->ready_head = b->next;
	if (!ing->ready_head)
		ing->ready_tail = NULL;
	return b;
}

static void batch_fail(struct Batch *b, enum IngestOutcome o, const char *err);

/*
 * Batches still waiting for a connection when their time is up are
 * answered now (nothing was sent, so nothing was stored): the client
 * hears within database.query_timeout even when every connection hangs.
 */
static void expire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct Ingest *ing = arg;
	int64_t now = clock_now_ms();

	(void)fd;
	(void)what;
	while (ing->ready_head && ing->ready_head->deadline_ms <= now) {
		struct Batch *b = ready_pop(ing);

		log_warning("ingest: a batch of %d waited %lld ms for a database connection: answered 503", b->n,
			    (long long)ing->timeout_ms);
		batch_fail(b, INGEST_TIMEOUT, "no database connection was free within database.query_timeout");
		free(b);
	}
	arm_expiry(ing);
}

static void pump(struct Ingest *ing)
{
	while (ing->inflight < ing->max_inflight) {
		struct Batch *b = ing->ready_head;

		if (!b && ing->open && ing->open->n > 0 && !ing->timer_armed) {
			b = ing->open;	/* natural batching: take what gathered meanwhile */
			ing->open = NULL;
			ready_push(ing, b);
		}
		if (!b)
			return;
		ready_pop(ing);
		ing->inflight++;
		batch_send(b);
	}
}

#define NPARAMS 5

static void batch_params(const struct Batch *b, char *params[NPARAMS])
{
	struct PgArray a[NPARAMS] = { PGARRAY_INIT, PGARRAY_INIT, PGARRAY_INIT, PGARRAY_INIT, PGARRAY_INIT };

	for (const struct IngestItem *it = b->head; it; it = it->next) {
		pgarray_text(&a[0], it->station_id);
		pgarray_text(&a[1], it->driver_token);
		pgarray_text(&a[2], it->callback_url);
		pgarray_text(&a[3], it->idempotency_key);
		if (it->api_key_id)
			pgarray_int(&a[4], it->api_key_id);
		else
			pgarray_null(&a[4]);
	}
	for (int k = 0; k < NPARAMS; k++)
		params[k] = pgarray_finish(&a[k]);
}

static enum IngestOutcome outcome_of(const char *s)
{
	if (strcmp(s, "created") == 0)
		return INGEST_CREATED;
	if (strcmp(s, "replayed") == 0)
		return INGEST_REPLAYED;
	if (strcmp(s, "conflict") == 0)
		return INGEST_CONFLICT;
	return INGEST_FAILED;
}

static void batch_answer(struct Batch *b, PGresult *res)
{
	struct IngestItem **items = xcalloc((size_t)b->n, sizeof(*items));
	int i = 0;
	bool created = false;

	for (struct IngestItem *it = b->head; it; it = it->next)
		items[i++] = it;
	for (int r = 0; r < PQntuples(res); r++) {
		int ord = atoi(PQgetvalue(res, r, 0));

		if (ord < 1 || ord > b->n || !items[ord - 1])
			continue;
		created = created || strcmp(PQgetvalue(res, r, 2), "created") == 0;
		item_finish(b->ing, items[ord - 1], outcome_of(PQgetvalue(res, r, 2)), PQgetvalue(res, r, 1), NULL);
		items[ord - 1] = NULL;
	}
	if (created && b->ing->on_commit)
		b->ing->on_commit(b->ing->on_commit_arg);
	for (i = 0; i < b->n; i++) {
		if (items[i])
			item_finish(b->ing, items[i], INGEST_FAILED, NULL, "the database returned no outcome for the row");
	}
	free(items);
}

static void batch_fail(struct Batch *b, enum IngestOutcome o, const char *err)
{
	struct IngestItem *it = b->head, *next;

	for (; it; it = next) {
		next = it->next;
		item_finish(b->ing, it, o, NULL, err);
	}
}

/* Retry each row alone so that the one row the database refuses fails alone. */
static void batch_split(struct Batch *b)
{
	struct IngestItem *it = b->head, *next;

	for (; it; it = next) {
		struct Batch *solo = batch_new(b->ing, true);

		next = it->next;
		batch_push(solo, it);
		ready_push(b->ing, solo);
	}
}

static void batch_done(enum PgStatus st, PGresult *res, const char *err, void *arg)
{
	struct Batch *b = arg;
	struct Ingest *ing = b->ing;

	ing->inflight--;
	if (st == PG_OK) {
		batch_answer(b, res);
	} else if (st == PG_UNAVAILABLE) {
		batch_fail(b, INGEST_UNAVAILABLE, err);
	} else if (st == PG_TIMEOUT) {
		log_warning("ingest: a batch of %d was not stored within database.query_timeout (%s): answered 503",
			    b->n, err);
		batch_fail(b, INGEST_TIMEOUT, err);
	} else if (st == PG_INTERRUPTED) {
		log_warning("ingest: the connection broke while a batch of %d was committing (%s): whether it was "
			    "stored is unknown; the clients are told to retry with their Idempotency-Key",
			    b->n, err);
		batch_fail(b, INGEST_UNKNOWN, err);
	} else {
		(*ing->batch_failures)++;
		if (b->solo || b->n == 1) {
			char station[64];

			/* no request_id field: the refused transaction is what would have assigned it */
			log_error("ingest: the database refused a request for station %s: %s",
				  log_sanitize(station, sizeof(station), b->head->station_id, strlen(b->head->station_id)),
				  err);
			batch_fail(b, INGEST_FAILED, err);
		} else {
			log_warning("ingest: batch of %d failed (%s); retrying row by row", b->n, err);
			batch_split(b);
		}
	}
	free(b);
	pump(ing);
}

static void batch_send(struct Batch *b)
{
	char *params[NPARAMS];

	batch_params(b, params);
	(*b->ing->batches)++;
	*b->ing->rows += (uint64_t)b->n;
	pgpool_query_by(b->ing->pool, b->deadline_ms, accept_sql, NPARAMS, (const char *const *)params, batch_done,
			b);
	for (int k = 0; k < NPARAMS; k++)
		free(params[k]);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct Ingest *ing = arg;

	ing->timer_armed = false;	/* the open batch is due: it leaves with the next free slot */
	pump(ing);
}

struct Ingest *ingest_new(struct event_base *base, struct PgPool *pool, int batch_size, int64_t batch_wait_ms,
			  int64_t timeout_ms, int max_inflight)
{
	struct Ingest *ing = xcalloc(1, sizeof(*ing));

	ing->base = base;
	ing->pool = pool;
	ing->batch_size = batch_size;
	ing->batch_wait_ms = batch_wait_ms;
	ing->timeout_ms = timeout_ms;
	ing->max_inflight = max_inflight < 1 ? 1 : max_inflight;
	evtimer_assign(&ing->timer, base, timer_cb, ing);
	evtimer_assign(&ing->expire_timer, base, expire_cb, ing);
	ing->batches = metrics_counter("chargegate_ingest_batches_total", NULL,
				       "Transactions that wrote accepted requests (group commit).");
	ing->rows = metrics_counter("chargegate_ingest_rows_total", NULL, "Requests sent to the database in batches.");
	ing->batch_failures = metrics_counter("chargegate_ingest_batch_failures_total", NULL,
					      "Batches the database refused (then retried row by row).");
	return ing;
}

void ingest_free(struct Ingest *ing)
{
	struct Batch *b, *next;

	if (!ing)
		return;
	evtimer_del(&ing->timer);
	evtimer_del(&ing->expire_timer);
	for (b = ing->ready_head; b; b = next) {
		next = b->next;
		batch_fail(b, INGEST_UNAVAILABLE, "shutting down");
		free(b);
	}
	if (ing->open) {
		batch_fail(ing->open, INGEST_UNAVAILABLE, "shutting down");
		free(ing->open);
	}
	free(ing);
}

static void arm_timer(struct Ingest *ing)
{
	struct timeval tv = clock_timeval(ing->batch_wait_ms);

	if (evtimer_add(&ing->timer, &tv) != 0)
		fatal("ingest: could not arm the batch timer");
	ing->timer_armed = true;
}

struct IngestItem *ingest_submit(struct Ingest *ing, const struct StartRequest *req, const char *idempotency_key,
				 int64_t api_key_id, ingest_cb cb, void *arg)
{
	struct IngestItem *it;

	if (ing->waiting >= MAX_WAITING)
		return NULL;
	it = xcalloc(1, sizeof(*it));
	memcpy(it->station_id, req->station_id, sizeof(it->station_id));
	it->driver_token = xstrdup(req->driver_token);
	it->callback_url = xstrdup(req->callback_url);
	it->idempotency_key = idempotency_key ? xstrdup(idempotency_key) : NULL;
	it->api_key_id = api_key_id;
	it->deadline_ms = clock_now_ms() + ing->timeout_ms;
	it->cb = cb;
	it->arg = arg;
	ing->waiting++;
	if (!ing->open)
		ing->open = batch_new(ing, false);
	batch_push(ing->open, it);
	if (ing->open->n >= ing->batch_size) {
		if (ing->timer_armed) {
			evtimer_del(&ing->timer);
			ing->timer_armed = false;
		}
		ready_push(ing, ing->open);
		ing->open = NULL;
	} else if (ing->open->n == 1) {
		arm_timer(ing);	/* a zero wait still lets this loop turn's requests join */
	}
	pump(ing);
	return it;
}

void ingest_set_batch_wait(struct Ingest *ing, int64_t batch_wait_ms)
{
	if (ing)
		ing->batch_wait_ms = batch_wait_ms;
}

void ingest_on_commit(struct Ingest *ing, void (*cb)(void *arg), void *arg)
{
	ing->on_commit = cb;
	ing->on_commit_arg = arg;
}

int ingest_pending(const struct Ingest *ing)
{
	return ing ? ing->waiting : 0;
}
