#include "autoconfig.h"

#include "queue/retention.h"

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

#define INTERVAL_MS 5000
#define BACKLOG_PAUSE_MS 50
#define MAX_POLICIES 4

struct Policy {
	struct Retention *r;
	struct RetentionPolicy p;
	struct event timer;
	bool failing;		/* logged once per outage */
};

struct Retention {
	struct PgPool *pool;
	struct Policy policies[MAX_POLICIES];
	int n;
	uint64_t *deleted;
};

static void arm(struct Policy *pol, int64_t ms)
{
	struct timeval tv = clock_timeval(ms);

	if (evtimer_add(&pol->timer, &tv) != 0)
		fatal("retention: could not arm the %s timer", pol->p.name);
}

static void purge_done(enum PgStatus st, PGresult *res, const char *err, void *arg)
{
	struct Policy *pol = arg;
	bool more = false;

	if (st != PG_OK) {
		if (!pol->failing)
			log_warning("retention: %s: could not purge (retried every %d s): %s", pol->p.name,
				    INTERVAL_MS / 1000, err);
		pol->failing = true;
		arm(pol, INTERVAL_MS);
		return;
	}
	if (pol->failing)
		log_info("retention: %s: purging again", pol->p.name);
	pol->failing = false;
	for (int i = 0; i < PQntuples(res); i++) {
		long long n = atoll(PQgetvalue(res, i, 1));

		*pol->r->deleted += (uint64_t)n;
		more = more || n >= pol->p.limit;
		if (n > 0)
			log_debug("retention: %s: deleted %lld rows from %s", pol->p.name, n, PQgetvalue(res, i, 0));
	}
	/* a backlog is deleted in steady chunks, leaving room for the real work */
	arm(pol, more ? BACKLOG_PAUSE_MS : INTERVAL_MS);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct Policy *pol = arg;
	char ms[32], lim[16];
	const char *params[2] = { ms, lim };

	(void)fd;
	(void)what;
	snprintf(ms, sizeof(ms), "%lld", (long long)pol->p.retention_ms);
	snprintf(lim, sizeof(lim), "%d", pol->p.limit);
	pgpool_query(pol->r->pool, pol->p.sql, 2, params, purge_done, pol);
}

struct Retention *retention_new(struct event_base *base, struct PgPool *pool, const struct RetentionPolicy *policies,
				int npolicies)
{
	struct Retention *r = xcalloc(1, sizeof(*r));

	if (npolicies > MAX_POLICIES)
		fatal("retention: %d policies, at most %d", npolicies, MAX_POLICIES);
	r->pool = pool;
	r->deleted = metrics_counter("chargegate_retention_deleted_rows_total", NULL,
				     "Done rows deleted by the retention policies.");
	for (int i = 0; i < npolicies; i++) {
		struct Policy *pol = &r->policies[r->n++];

		pol->r = r;
		pol->p = policies[i];
		evtimer_assign(&pol->timer, base, timer_cb, pol);
		arm(pol, INTERVAL_MS);
	}
	return r;
}

void retention_free(struct Retention *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->n; i++)
		evtimer_del(&r->policies[i].timer);
	free(r);
}
