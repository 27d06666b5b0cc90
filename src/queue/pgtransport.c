#include "autoconfig.h"

#include "queue/pgtransport.h"

#include "infra/alloc.h"
#include "infra/log.h"
#include "infra/metrics.h"
#include "infra/pgarray.h"
#include "infra/pgpool.h"
#include "queue/claimrows.h"
#include "queue/settle.h"
#include "queue/transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WATCHERS 64

struct Watcher {
	char channel[96];	/* PostgreSQL channel name */
	transport_wake_cb cb;
	void *arg;
};

/* Coalesced NOTIFY: at most one in flight per channel, one more queued. */
struct Notice {
	char channel[96];
	bool in_flight;
	bool again;
	struct PgTransport *t;
};

struct PgTransport {
	struct Transport base;
	struct event_base *evbase;
	struct PgPool *pool;
	struct PgPool *listen_pool;	/* NULL in poll-only mode */
	struct Watcher watchers[MAX_WATCHERS];
	int nwatchers;
	struct Notice notices[MAX_WATCHERS];
	int nnotices;
	uint64_t *own_notifies;	/* with LISTEN only */
};

struct Call {
	struct PgTransport *t;
	transport_relay_cb relay_cb;
	transport_count_cb count_cb;
	transport_claim_cb claim_cb;
	void *arg;
};

static struct Call *call_new(struct PgTransport *t, transport_count_cb ccb, transport_claim_cb kcb, void *arg)
{
	struct Call *c = xcalloc(1, sizeof(*c));

	c->t = t;
	c->count_cb = ccb;
	c->claim_cb = kcb;
	c->arg = arg;
	return c;
}

static struct Call *relay_call_new(struct PgTransport *t, transport_relay_cb cb, void *arg)
{
	struct Call *c = call_new(t, NULL, NULL, arg);

	c->relay_cb = cb;
	return c;
}

/* The NOTIFY channel: an outbox's is chargegate_NAME, a topic's chargegate_topic_NAME. */
static void pg_channel(const char *channel, char *out, size_t size)
{
	enum ChannelKind kind;
	const char *name;

	if (!transport_channel_parse(channel, &kind, &name))
		fatal("pgtransport: \"%s\" is not a wake-up channel", channel);
	snprintf(out, size, kind == CHANNEL_OUTBOX ? "chargegate_%s" : "chargegate_topic_%s", name);
}

static void wake_local(struct PgTransport *t, const char *pgchan)
{
	for (int i = 0; i < t->nwatchers; i++) {
		if (strcmp(t->watchers[i].channel, pgchan) == 0)
			t->watchers[i].cb(t->watchers[i].arg);
	}
}

static void wake_all(struct PgTransport *t)
{
	for (int i = 0; i < t->nwatchers; i++)
		t->watchers[i].cb(t->watchers[i].arg);
}

/* --- relay ------------------------------------------------------------------ */

static void count_done(enum PgStatus st, PGresult *res, const char *err, void *arg)
{
	struct Call *c = arg;
	int n = -1;

	if (st == PG_OK)
		n = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) ? atoi(PQgetvalue(res, 0, 0)) : 0;
	c->count_cb(n, st == PG_OK ? NULL : err, c->arg);
	free(c);
}

/* Column col of row 0, by name; NULL (with *why set) when the result lacks it. */
static const char *named(PGresult *res, const char *col, const char **why)
{
	int i = PQfnumber(res, col);

	if (i < 0) {
		*why = "relay_outbox returned an unexpected row (run chargegatectl migrate)";
		return NULL;
	}
	return PQgetisnull(res, 0, i) ? "" : PQgetvalue(res, 0, i);
}

static void relay_done(enum PgStatus st, PGresult *res, const char *err, void *arg)
{
	struct Call *c = arg;
	struct RelayResult r = { .moved = -1, .next_due_ms = -1, .err = err };
	const char *moved = NULL, *next = NULL, *unsub = NULL, *topic = NULL;
	char chan[96];

	if (st == PG_OK && PQntuples(res) != 1)
		r.err = "relay_outbox returned no row";
	else if (st == PG_OK && (moved = named(res, "moved", &r.err)) && (next = named(res, "next_due_ms", &r.err)) &&
		 (unsub = named(res, "unsubscribed", &r.err)) && (topic = named(res, "topic", &r.err))) {
		r.moved = atoi(moved);
		r.next_due_ms = *next ? atoll(next) : -1;
		r.unsubscribed = unsub[0] == 't';
		r.err = NULL;
	}
	/* the function's NOTIFY reaches other daemons; wake our own consumers now */
	if (r.moved > 0) {
		snprintf(chan, sizeof(chan), "chargegate_topic_%s", topic);
		wake_local(c->t, chan);
	}
	c->relay_cb(&r, c->arg);
	free(c);
}

static void pg_relay(struct Transport *tr, const char *outbox, int limit, transport_relay_cb cb, void *arg)
{
	struct PgTransport *t = tr->impl;
	char lim[16];
	const char *params[2] = { outbox, lim };

	snprintf(lim, sizeof(lim), "%d", limit);
	pgpool_query(t->pool,
		     "SELECT r.moved, r.next_due_ms, r.unsubscribed, "
		     "(SELECT topic FROM chargegate.outbox WHERE name = $1) AS topic "
		     "FROM chargegate.relay_outbox($1, $2::int) r",
		     2, params, relay_done, relay_call_new(t, cb, arg));
}

/* --- subscriptions -------------------------------------------------------------- */

static void pg_subscribe(struct Transport *tr, const char *subscription, const char *topic, transport_count_cb cb,
			 void *arg)
{
	struct PgTransport *t = tr->impl;
	const char *params[2] = { subscription, topic };

	pgpool_query(t->pool, "SELECT 1 FROM chargegate.ensure_subscription($1, $2)", 2, params, count_done,
		     call_new(t, cb, NULL, arg));
}

static void claim_done(enum PgStatus st, PGresult *res, const char *err, void *arg)
{
	struct Call *c = arg;
	struct QueueMessage *msgs = NULL;
	char why[256];
	int n = st == PG_OK ? PQntuples(res) : -1;

	if (n > 0) {
		msgs = xcalloc((size_t)n, sizeof(*msgs));
		if (!claimrows_decode(res, msgs, why, sizeof(why))) {
			transport_free_messages(msgs, n);
			msgs = NULL;
			n = -1;
			err = why;
		}
	}
	c->claim_cb(msgs, n, n >= 0 ? NULL : err, c->arg);
	transport_free_messages(msgs, n);
	free(c);
}

static void pg_claim(struct Transport *tr, const char *subscription, const char *owner, int limit, int64_t lease_ms,
		     transport_claim_cb cb, void *arg)
{
	struct PgTransport *t = tr->impl;
	char lim[16], lease[32];
	const char *params[4] = { subscription, owner, lim, lease };

	snprintf(lim, sizeof(lim), "%d", limit);
	snprintf(lease, sizeof(lease), "%lld", (long long)lease_ms);
	pgpool_query(t->pool, "SELECT * FROM chargegate.claim_messages($1, $2, $3::int, $4::int)", 4, params,
		     claim_done, call_new(t, NULL, cb, arg));
}

/* --- settle ------------------------------------------------------------------ */

struct SettleCall {
	struct Call call;
	struct SettleSql sql;
	const struct QueueMessage *msgs;	/* the caller's, alive until the callback */
	int n;
};

static void settle_done(enum PgStatus st, PGresult **results, int nsteps, const char *err, void *arg)
{
	struct SettleCall *sc = arg;
	int stale = st == PG_OK ? settle_sql_stale(results[0], sc->msgs, sc->n) : -1;

	if (st == PG_OK && stale < 0)
		err = "settle_batches returned unexpected columns (run chargegatectl migrate)";
	sc->call.count_cb(stale, stale < 0 ? err : NULL, sc->call.arg);
	settle_sql_free(&sc->sql);
	free(sc);
}

/*
 * One transaction: the settlement first (it locks the batches; with
 * require_leases a lost lease aborts it all), then the handled event ids (a
 * duplicate aborts it all, see record_handled), then the handler's own
 * writes.
 */
static void pg_settle(struct Transport *tr, const struct SettleRequest *req, transport_count_cb cb, void *arg)
{
	struct PgTransport *t = tr->impl;
	struct SettleCall *sc = xcalloc(1, sizeof(*sc));
	struct PgStep *steps = xcalloc((size_t)req->nsteps + 2, sizeof(*steps));
	int k = 0;

	sc->call.t = t;
	sc->call.count_cb = cb;
	sc->call.arg = arg;
	sc->msgs = req->msgs;
	sc->n = req->n;
	settle_sql_build(&sc->sql, req);
	steps[k++] = sc->sql.settle;
	if (sc->sql.handled_count > 0)
		steps[k++] = sc->sql.handled;
	for (int i = 0; i < req->nsteps; i++)
		steps[k++] = (struct PgStep){ req->steps[i].sql, req->steps[i].nparams, req->steps[i].values };
	pgpool_tx(t->pool, steps, k, settle_done, sc);
	free(steps);
}

/* --- lease renewal -------------------------------------------------------------- */

static void pg_extend(struct Transport *tr, const char *subscription, const char *owner,
		      const struct QueueMessage *msgs, int n, int64_t lease_ms, transport_count_cb cb, void *arg)
{
	struct PgTransport *t = tr->impl;
	struct PgArray ids = PGARRAY_INIT, fences = PGARRAY_INIT;
	char *idtext, *fencetext, lease[32];
	const char *params[5];
	int64_t last = 0;

	/* messages arrive grouped by lease: each lease once */
	for (int i = 0; i < n; i++) {
		if (msgs[i].lease_id <= 0 || msgs[i].lease_id == last)
			continue;
		last = msgs[i].lease_id;
		pgarray_int(&ids, msgs[i].lease_id);
		pgarray_int(&fences, msgs[i].fence);
	}
	idtext = pgarray_finish(&ids);
	fencetext = pgarray_finish(&fences);
	snprintf(lease, sizeof(lease), "%lld", (long long)lease_ms);
	params[0] = subscription;
	params[1] = owner;
	params[2] = idtext;
	params[3] = fencetext;
	params[4] = lease;
	pgpool_query(t->pool, "SELECT chargegate.extend_leases($1, $2, $3::bigint[], $4::bigint[], $5::int)", 5,
		     params, count_done, call_new(t, cb, NULL, arg));
	free(idtext);
	free(fencetext);
}

/* --- wake-ups -------------------------------------------------------------------- */

static void listen_done(enum PgStatus st, PGresult *res, const char *err, void *arg)
{
	if (st != PG_OK)
		log_warning("queue: LISTEN failed: %s", err);
}

static void listen_channel(struct PgTransport *t, const char *pgchan)
{
	char sql[160];

	if (!t->listen_pool)
		return;
	snprintf(sql, sizeof(sql), "LISTEN \"%s\"", pgchan);
	pgpool_query(t->listen_pool, sql, 0, NULL, listen_done, NULL);
}

static void pg_watch(struct Transport *tr, const char *channel, transport_wake_cb cb, void *arg)
{
	struct PgTransport *t = tr->impl;
	struct Watcher *w;

	if (t->nwatchers == MAX_WATCHERS)
		fatal("queue: more than %d watchers", MAX_WATCHERS);
	w = &t->watchers[t->nwatchers++];
	pg_channel(channel, w->channel, sizeof(w->channel));
	w->cb = cb;
	w->arg = arg;
	listen_channel(t, w->channel);
}

static void notify_send(struct Notice *n);

static void notify_done(enum PgStatus st, PGresult *res, const char *err, void *arg)
{
	struct Notice *n = arg;

	n->in_flight = false;
	if (st != PG_OK)
		log_debug("queue: NOTIFY %s failed (pollers will catch up): %s", n->channel, err);
	if (n->again) {
		n->again = false;
		notify_send(n);
	}
}

static void notify_send(struct Notice *n)
{
	const char *params[1] = { n->channel };

	n->in_flight = true;
	pgpool_query(n->t->pool, "SELECT pg_notify($1, '')", 1, params, notify_done, n);
}

static struct Notice *notice_for(struct PgTransport *t, const char *pgchan)
{
	for (int i = 0; i < t->nnotices; i++) {
		if (strcmp(t->notices[i].channel, pgchan) == 0)
			return &t->notices[i];
	}
	if (t->nnotices == MAX_WATCHERS)
		return NULL;
	snprintf(t->notices[t->nnotices].channel, sizeof(t->notices[0].channel), "%s", pgchan);
	t->notices[t->nnotices].t = t;
	return &t->notices[t->nnotices++];
}

/*
 * In-process watchers are woken at once; other daemons get a payload-free
 * NOTIFY from its own small transaction, so the writer's transaction never
 * takes NOTIFY's global commit lock.  Bursts coalesce into one NOTIFY in
 * flight and at most one queued.
 */
static void pg_notify_channel(struct Transport *tr, const char *channel)
{
	struct PgTransport *t = tr->impl;
	char pgchan[96];
	struct Notice *n;

	pg_channel(channel, pgchan, sizeof(pgchan));
	wake_local(t, pgchan);
	n = notice_for(t, pgchan);
	if (!n)
		return;
	if (n->in_flight)
		n->again = true;
	else
		notify_send(n);
}

/*
 * Our own NOTIFYs (a relay that moved rows, pg_notify_channel) woke the
 * local watchers when they were sent: waking them again only makes empty
 * claims.  Other daemons' wake ours.
 */
static void on_notification(const char *channel, bool own, void *arg)
{
	struct PgTransport *t = arg;

	if (own) {
		(*t->own_notifies)++;
		return;
	}
	wake_local(t, channel);
}

/* After (re)connecting: listen again and catch up on what was missed meanwhile. */
static void on_listen_state(bool up, void *arg)
{
	struct PgTransport *t = arg;

	if (!up)
		return;
	for (int i = 0; i < t->nwatchers; i++)
		listen_channel(t, t->watchers[i].channel);
	wake_all(t);
}

static void pg_free(struct Transport *tr)
{
	struct PgTransport *t = tr->impl;

	pgpool_free(t->listen_pool);
	free(t);
}

static const struct TransportOps pg_ops = {
	.name = "postgres",
	.relay = pg_relay,
	.subscribe = pg_subscribe,
	.claim = pg_claim,
	.settle = pg_settle,
	.extend = pg_extend,
	.watch = pg_watch,
	.notify = pg_notify_channel,
	.free = pg_free,
};

struct Transport *pgtransport_new(struct event_base *base, struct PgPool *pool, bool listen)
{
	struct PgTransport *t = xcalloc(1, sizeof(*t));

	t->base.ops = &pg_ops;
	t->base.impl = t;
	t->evbase = base;
	t->pool = pool;
	if (listen) {
		t->listen_pool = pgpool_new_sibling(pool, "listen", 1);
		t->own_notifies = metrics_counter("chargegate_queue_own_notifications_total", NULL,
						  "NOTIFYs this daemon sent itself and ignored (its watchers were woken "
						  "when they were sent).");
		pgpool_set_notify_cb(t->listen_pool, on_notification, t);
		pgpool_set_state_cb(t->listen_pool, on_listen_state, t);
	}
	return &t->base;
}
