#include "autoconfig.h"

#include "queue/retention.h"

#include "infra/log.h"
#include "infra/metrics.h"
#include "infra/pgpool.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define INTERVAL_MS 5000
#define BATCH 5000

struct Retention {
	struct PgPool *pool;
	int64_t retention_ms;
	struct event timer;
	bool running;
	uint64_t *deleted;
};

static void retention_run(struct Retention *r);

static void arm(struct Retention *r, int64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };

	evtimer_add(&r->timer, &tv);
}

static void purge_done(enum PgStatus st, PGresult *res, const char *err, void *arg)
{
	struct Retention *r = arg;
	bool more = false;

	r->running = false;
	if (st != PG_OK) {
		log_warning("retention: could not purge expired rows: %s", err);
		arm(r, INTERVAL_MS);
		return;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		long long n = atoll(PQgetvalue(res, i, 1));

		*r->deleted += (uint64_t)n;
		more = more || n >= BATCH;
		if (n > 0)
			log_debug("retention: deleted %lld rows from %s", n, PQgetvalue(res, i, 0));
	}
	/* a backlog is deleted in steady chunks, leaving room for the real work */
	arm(r, more ? 50 : INTERVAL_MS);
}

static void retention_run(struct Retention *r)
{
	char ms[32], lim[16];
	const char *params[2] = { ms, lim };

	snprintf(ms, sizeof(ms), "%lld", (long long)r->retention_ms);
	snprintf(lim, sizeof(lim), "%d", BATCH);
	r->running = true;
	pgpool_query(r->pool, "SELECT * FROM chargegate.purge_expired($1::bigint, $2::int)", 2, params, purge_done, r);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	retention_run(arg);
}

struct Retention *retention_new(struct event_base *base, struct PgPool *pool, int64_t retention_ms)
{
	struct Retention *r = calloc(1, sizeof(*r));

	if (!r)
		fatal("out of memory");
	r->pool = pool;
	r->retention_ms = retention_ms;
	evtimer_assign(&r->timer, base, timer_cb, r);
	r->deleted = metrics_counter("chargegate_retention_deleted_rows_total", NULL,
				     "Done rows deleted by the retention policy.");
	arm(r, INTERVAL_MS);
	return r;
}

void retention_free(struct Retention *r)
{
	if (!r)
		return;
	evtimer_del(&r->timer);
	free(r);
}
