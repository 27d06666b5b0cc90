#include "autoconfig.h"

#include "notification/circuitlog.h"

#include "infra/alloc.h"
#include "infra/identity.h"
#include "infra/log.h"
#include "infra/pgpool.h"
#include "notification/destinations.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/*
 * Transitions wait here while the database is slow or down; past this many
 * the oldest are dropped: a destination flapping that fast is better seen
 * in the log than in a table that lags minutes behind.
 */
#define MAX_QUEUED 256

static const char record_sql[] = "SELECT chargegate.record_circuit($1, $2, $3, $4, $5, $6)";

struct Pending {
	struct Pending *next;
	char *key;
	bool open;
	int failures;
	long long cooldown_ms;
	char *last_error;
};

struct CircuitLog {
	struct PgPool *pool;
	char daemon[96];		/* host:pid (daemon_identity), as the lease owners */
	struct Pending *head, *tail;
	int queued;
	bool in_flight;
	bool stopping;
};

static void pending_free(struct Pending *p)
{
	free(p->key);
	free(p->last_error);
	free(p);
}

static void send_next(struct CircuitLog *cl);

static void written(enum PgStatus status, PGresult *res, const char *err, void *arg)
{
	struct CircuitLog *cl = arg;
	struct Pending *p = cl->head;

	(void)res;
	cl->in_flight = false;
	if (status != PG_OK)
		log_warning_f(LOG_F(.destination = p->key),
			      "callback destination: could not record its circuit as %s in "
			      "chargegate.destination_circuit (status and the status page may show it wrongly): %s",
			      p->open ? "open" : "closed", err ? err : "unknown error");
	cl->head = p->next;
	if (!cl->head)
		cl->tail = NULL;
	cl->queued--;
	pending_free(p);
	send_next(cl);
}

static void send_next(struct CircuitLog *cl)
{
	struct Pending *p = cl->head;
	char failures[16], cooldown[32];
	const char *values[6];

	if (!p || cl->in_flight || cl->stopping)
		return;
	snprintf(failures, sizeof(failures), "%d", p->failures);
	snprintf(cooldown, sizeof(cooldown), "%lld", p->cooldown_ms);
	values[0] = p->key;
	values[1] = cl->daemon;
	values[2] = p->open ? "true" : "false";
	values[3] = cooldown;
	values[4] = failures;
	values[5] = p->last_error;
	cl->in_flight = true;
	pgpool_query(cl->pool, record_sql, 6, values, written, cl);
}

static void drop_oldest(struct CircuitLog *cl)
{
	/* the head may be in flight: drop the one after it */
	struct Pending **pp = cl->in_flight ? &cl->head->next : &cl->head;
	struct Pending *p = *pp;

	if (!p)
		return;
	log_warning_f(LOG_F(.destination = p->key),
		      "callback destination: its circuit change is not recorded, %d others wait (database slow or down)",
		      cl->queued);
	*pp = p->next;
	if (cl->tail == p)
		cl->tail = pp == &cl->head ? NULL : cl->head;
	cl->queued--;
	pending_free(p);
}

void circuitlog_record(struct CircuitLog *cl, const struct CircuitChange *c)
{
	struct Pending *p;

	if (!cl || cl->stopping)
		return;
	if (cl->queued >= MAX_QUEUED)
		drop_oldest(cl);
	p = xcalloc(1, sizeof(*p));
	p->key = xstrdup(c->key);
	p->open = c->open;
	p->failures = c->failures;
	p->cooldown_ms = (long long)c->cooldown_ms;
	p->last_error = xstrdup(c->last_error ? c->last_error : "");
	if (cl->tail)
		cl->tail->next = p;
	else
		cl->head = p;
	cl->tail = p;
	cl->queued++;
	send_next(cl);
}

struct CircuitLog *circuitlog_new(struct PgPool *pool)
{
	struct CircuitLog *cl = xcalloc(1, sizeof(*cl));

	cl->pool = pool;
	daemon_identity(cl->daemon, sizeof(cl->daemon));
	return cl;
}

int circuitlog_pending(const struct CircuitLog *cl)
{
	return cl && !cl->stopping ? cl->queued : 0;
}

void circuitlog_cancel(struct CircuitLog *cl)
{
	if (cl)
		cl->stopping = true;
}

void circuitlog_free(struct CircuitLog *cl)
{
	if (!cl)
		return;
	while (cl->head) {
		struct Pending *p = cl->head;

		cl->head = p->next;
		pending_free(p);
	}
	free(cl);
}
