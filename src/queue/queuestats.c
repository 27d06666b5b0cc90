#include "autoconfig.h"

#include "queue/queuestats.h"

#include "infra/alloc.h"
#include "infra/clock.h"
#include "infra/log.h"
#include "infra/metrics.h"
#include "infra/pgpool.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Often enough for an alert's "for: 5m" and a dashboard's 15 s scrape;
 * each refresh reads only unpublished outbox rows (a partial index) and
 * the small subscription_batch table.
 */
#define INTERVAL_MS 10000
#define MAX_ROWS 32
#define NAME_SIZE 64

/* Unpublished rows only (the view reads the pending index of every outbox). */
static const char OUTBOX_SQL[] =
	"SELECT o.name AS name,"
	" count(r.*) FILTER (WHERE r.available_at <= now()) AS pending,"
	" count(r.*) FILTER (WHERE r.available_at > now()) AS delayed,"
	" coalesce(extract(epoch FROM now() - min(r.available_at) FILTER (WHERE r.available_at <= now())), 0)"
	"   AS oldest_pending_age"
	" FROM chargegate.outbox o LEFT JOIN chargegate.outbox_pending_rows r ON r.outbox = o.name GROUP BY o.name";

/* The figures of chargegate.subscription_status, without its handled_event counts. */
static const char SUBSCRIPTION_SQL[] =
	"SELECT s.name AS name,"
	" coalesce(sum(cardinality(b.message_ids)) FILTER (WHERE b.state = 'ready' AND b.available_at <= now()), 0)"
	"   AS ready,"
	" coalesce(sum(cardinality(b.message_ids)) FILTER (WHERE b.state = 'ready' AND b.available_at > now()), 0)"
	"   AS retrying,"
	" coalesce(sum(cardinality(b.message_ids)) FILTER (WHERE b.state = 'leased'), 0) AS leased,"
	" coalesce(sum(cardinality(b.message_ids)) FILTER (WHERE b.state = 'dead'), 0) AS dead,"
	" coalesce(extract(epoch FROM now() - min(b.created_at) FILTER (WHERE b.state <> 'dead')), 0) AS oldest_age"
	" FROM chargegate.subscription s LEFT JOIN chargegate.subscription_batch b ON b.subscription = s.name"
	" GROUP BY s.name";

enum OutboxColumn { OB_PENDING, OB_DELAYED, OB_OLDEST, OB_NCOLS };
enum SubColumn { SUB_READY, SUB_RETRYING, SUB_LEASED, SUB_DEAD, SUB_OLDEST, SUB_NCOLS };

/* The figures' columns by name, in the order of the enums above. */
static const char *const outbox_columns[OB_NCOLS] = { "pending", "delayed", "oldest_pending_age" };
static const char *const subscription_columns[SUB_NCOLS] = { "ready", "retrying", "leased", "dead", "oldest_age" };

/* One outbox or subscription: its gauges read v[] (registered when the name first appears). */
struct StatRow {
	char name[NAME_SIZE];
	double v[SUB_NCOLS];
};

struct StatTable {
	struct QueueStats *qs;
	const char *what;	/* "outbox" or "subscription": the label, and in logs */
	const char *sql;
	const char *const *columns;
	int ncols;
	void (*register_row)(struct StatRow *row);
	struct StatRow rows[MAX_ROWS];
	int n;
	bool failing;		/* logged once per outage */
	bool warned;		/* a row left out, or a column missing: logged once */
};

struct QueueStats {
	struct PgPool *pool;
	struct event timer;
	struct StatTable outboxes, subscriptions;
	int pending;		/* queries of this refresh not answered yet */
	int64_t refreshed_ms;	/* last refresh whose queries both worked, or the start */
};

static void register_outbox(struct StatRow *row)
{
	char labels[NAME_SIZE + 16];

	snprintf(labels, sizeof(labels), "outbox=\"%s\"", row->name);
	metrics_gauge_value("chargegate_outbox_pending", labels,
			    "Outbox rows due for publishing and not yet published.", &row->v[OB_PENDING]);
	metrics_gauge_value("chargegate_outbox_delayed", labels,
			    "Outbox rows waiting for a later time (a retry or a delay).", &row->v[OB_DELAYED]);
	metrics_gauge_value("chargegate_outbox_oldest_pending_age_seconds", labels,
			    "Age of the oldest due outbox row not yet published (0 when none).", &row->v[OB_OLDEST]);
}

static void register_subscription(struct StatRow *row)
{
	static const char *const states[] = { [SUB_READY] = "ready", [SUB_RETRYING] = "retrying",
					      [SUB_LEASED] = "leased", [SUB_DEAD] = "dead" };
	char labels[NAME_SIZE + 48];

	for (int i = SUB_READY; i <= SUB_DEAD; i++) {
		snprintf(labels, sizeof(labels), "subscription=\"%s\",state=\"%s\"", row->name, states[i]);
		metrics_gauge_value("chargegate_subscription_messages", labels,
				    "Messages of a subscription by state: ready, retrying (waiting for a retry), "
				    "leased, dead (dead letters).",
				    &row->v[i]);
	}
	snprintf(labels, sizeof(labels), "subscription=\"%s\"", row->name);
	metrics_gauge_value("chargegate_subscription_oldest_age_seconds", labels,
			    "Age of the oldest message of a subscription not yet handled, dead letters apart "
			    "(0 when none).",
			    &row->v[SUB_OLDEST]);
}

static struct StatRow *find_row(struct StatTable *t, const char *name)
{
	for (int i = 0; i < t->n; i++) {
		if (strcmp(t->rows[i].name, name) == 0)
			return &t->rows[i];
	}
	/* names come from our own tables; a label must not need escaping */
	if (t->n == MAX_ROWS || strlen(name) >= NAME_SIZE || strpbrk(name, "\"\\\n"))
		return NULL;
	snprintf(t->rows[t->n].name, NAME_SIZE, "%s", name);
	t->register_row(&t->rows[t->n]);
	return &t->rows[t->n++];
}

static void warn_once(struct StatTable *t, const char *what, const char *name)
{
	char buf[NAME_SIZE * 2];

	if (t->warned)
		return;
	t->warned = true;
	log_warning("queue stats: %s \"%s\" %s", t->what, log_sanitize(buf, sizeof(buf), name, strlen(name)), what);
}

/* Columns by name: a query edited out of step with the enums fails loudly, not with shifted figures. */
static bool column_numbers(struct StatTable *t, PGresult *res, int *cols)
{
	for (int c = 0; c <= t->ncols; c++) {
		const char *name = c == 0 ? "name" : t->columns[c - 1];

		cols[c] = PQfnumber(res, name);
		if (cols[c] < 0) {
			warn_once(t, "figures not exported: the query has no such column", name);
			return false;
		}
	}
	return true;
}

static void store(struct StatTable *t, PGresult *res)
{
	int cols[SUB_NCOLS + 1];

	if (!column_numbers(t, res, cols))
		return;
	for (int r = 0; r < PQntuples(res); r++) {
		struct StatRow *row = find_row(t, PQgetvalue(res, r, cols[0]));

		if (!row) {
			warn_once(t, "not exported: too many, or a name a label cannot carry", PQgetvalue(res, r, cols[0]));
			continue;
		}
		for (int c = 0; c < t->ncols; c++)
			row->v[c] = strtod(PQgetvalue(res, r, cols[c + 1]), NULL);
	}
}

static void arm(struct QueueStats *qs)
{
	struct timeval tv = clock_timeval(INTERVAL_MS);

	if (evtimer_add(&qs->timer, &tv) != 0)
		fatal("queue stats: could not arm the refresh timer");
}

static void refresh_done(struct QueueStats *qs)
{
	if (!qs->outboxes.failing && !qs->subscriptions.failing)
		qs->refreshed_ms = clock_now_ms();
	arm(qs);
}

static void query_done(enum PgStatus st, PGresult *res, const char *err, void *arg)
{
	struct StatTable *t = arg;
	struct QueueStats *qs = t->qs;

	if (st != PG_OK) {
		if (!t->failing)
			log_warning("queue stats: could not read the %s figures (retried every %d s): %s", t->what,
				    INTERVAL_MS / 1000, err);
		t->failing = true;
	} else {
		if (t->failing)
			log_info("queue stats: reading the %s figures again", t->what);
		t->failing = false;
		store(t, res);
	}
	if (--qs->pending == 0)
		refresh_done(qs);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct QueueStats *qs = arg;

	(void)fd;
	(void)what;
	qs->pending = 2;
	pgpool_query(qs->pool, qs->outboxes.sql, 0, NULL, query_done, &qs->outboxes);
	pgpool_query(qs->pool, qs->subscriptions.sql, 0, NULL, query_done, &qs->subscriptions);
}

static double age_gauge(void *arg)
{
	const struct QueueStats *qs = arg;

	return (double)(clock_now_ms() - qs->refreshed_ms) / 1000.0;
}

static void table_init(struct StatTable *t, struct QueueStats *qs, const char *what, const char *sql,
		       const char *const *columns, int ncols, void (*register_row)(struct StatRow *))
{
	t->qs = qs;
	t->what = what;
	t->sql = sql;
	t->columns = columns;
	t->ncols = ncols;
	t->register_row = register_row;
}

struct QueueStats *queuestats_new(struct event_base *base, struct PgPool *pool)
{
	struct QueueStats *qs = xcalloc(1, sizeof(*qs));

	qs->pool = pool;
	qs->refreshed_ms = clock_now_ms();
	table_init(&qs->outboxes, qs, "outbox", OUTBOX_SQL, outbox_columns, OB_NCOLS, register_outbox);
	table_init(&qs->subscriptions, qs, "subscription", SUBSCRIPTION_SQL, subscription_columns, SUB_NCOLS,
		   register_subscription);
	metrics_gauge("chargegate_queue_stats_age_seconds", NULL,
		      "Seconds since the outbox and subscription figures were last read from the database.",
		      age_gauge, qs);
	evtimer_assign(&qs->timer, base, timer_cb, qs);
	/* at once: a daemon just started shows its backlog on the first scrape */
	timer_cb(-1, 0, qs);
	return qs;
}

void queuestats_free(struct QueueStats *qs)
{
	if (!qs)
		return;
	evtimer_del(&qs->timer);
	metrics_forget_gauges(qs, sizeof(*qs));
	free(qs);
}
