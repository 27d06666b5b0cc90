/*
 * An asynchronous PostgreSQL connection pool on the daemon's event_base.
 * Queries are queued and run on the first idle connection; nothing here ever
 * blocks the loop.  Broken connections reconnect by themselves with backoff.
 */
#ifndef CHARGEGATE_PGPOOL_H
#define CHARGEGATE_PGPOOL_H

#include <stdbool.h>
#include <libpq-fe.h>

struct event_base;
struct PgPool;

enum PgStatus {
	PG_OK,		/* res holds the result (tuples or command ok) */
	PG_ERROR,	/* the server rejected the query; res holds the error */
	PG_UNAVAILABLE,	/* no connection: the query was never sent; res is NULL */
	PG_INTERRUPTED	/* the connection broke after the query was sent: it may or may not have
			   taken effect (committed); res is NULL */
};

/*
 * Called exactly once per query.  res belongs to the pool and is cleared
 * after the callback returns; err is a one-line reason when status != PG_OK.
 */
typedef void (*pgpool_cb)(enum PgStatus status, PGresult *res, const char *err, void *arg);

/* Notified whenever the pool gains its first or loses its last connection. */
typedef void (*pgpool_state_cb)(bool up, void *arg);

struct PgPool *pgpool_new(struct event_base *base, const char *name, const char *conninfo, int size);
void pgpool_free(struct PgPool *pool);

void pgpool_set_state_cb(struct PgPool *pool, pgpool_state_cb cb, void *arg);

/* Called with each NOTIFY channel name received on any of the pool's connections. */
typedef void (*pgpool_notify_cb)(const char *channel, void *arg);
void pgpool_set_notify_cb(struct PgPool *pool, pgpool_notify_cb cb, void *arg);

/* True while at least one connection is usable. */
bool pgpool_is_up(const struct PgPool *pool);

/*
 * Run sql with text parameters (values are copied; NULL values are SQL
 * NULL).  The callback always runs later from the loop, never from inside
 * this call; while the pool is down it gets PG_UNAVAILABLE at once.
 */
void pgpool_query(struct PgPool *pool, const char *sql, int nparams, const char *const *values,
		  pgpool_cb cb, void *arg);

/* One statement of a transaction; values are text parameters (copied). */
struct PgStep {
	const char *sql;
	int nparams;
	const char *const *values;
};

/*
 * Called once per transaction.  On PG_OK results[i] is step i's result;
 * otherwise results is NULL and err says which step failed and why.  The
 * results belong to the pool and are cleared after the callback returns.
 */
typedef void (*pgpool_tx_cb)(enum PgStatus status, PGresult **results, int nsteps, const char *err, void *arg);

/*
 * Run steps in one transaction in a single round trip (pipeline mode:
 * BEGIN, the steps, COMMIT, sync).  If any step fails nothing is committed.
 */
void pgpool_tx(struct PgPool *pool, const struct PgStep *steps, int nsteps, pgpool_tx_cb cb, void *arg);

#endif
