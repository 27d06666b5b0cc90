/*
 * An asynchronous PostgreSQL connection pool on the daemon's event_base.
 * Queries are queued and run on the first idle connection; nothing here ever
 * blocks the loop.  Broken connections reconnect by themselves with backoff.
 */
#ifndef CHARGEGATE_PGPOOL_H
#define CHARGEGATE_PGPOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <libpq-fe.h>

struct event_base;
struct PgPool;

enum PgStatus {
	PG_OK,		/* res holds the result (tuples or command ok) */
	PG_ERROR,	/* the server rejected the query; res holds the error */
	PG_UNAVAILABLE,	/* no connection: the query was never sent; res is NULL */
	PG_INTERRUPTED,	/* the connection broke after the query was sent, or no answer came by the
			   deadline: it may or may not have taken effect (committed); res is NULL */
	PG_TIMEOUT	/* not done within the query timeout: the server cancelled it, or it never
			   got a connection; nothing took effect.  res holds the error or is NULL */
};

/*
 * Called exactly once per query.  res belongs to the pool and is cleared
 * after the callback returns; err is a one-line reason when status != PG_OK.
 */
typedef void (*pgpool_cb)(enum PgStatus status, PGresult *res, const char *err, void *arg);

/* Notified whenever the pool gains its first or loses its last connection. */
typedef void (*pgpool_state_cb)(bool up, void *arg);

/*
 * query_timeout_ms (database.query_timeout) bounds every query from the
 * moment it is queued: the session's statement_timeout and lock_timeout
 * end it on the server, a query still waiting for a connection fails
 * PG_TIMEOUT, and one with no answer shortly after is dropped with its
 * connection (PG_INTERRUPTED).  It also bounds connecting (at least 2 s).
 */
struct PgPool *pgpool_new(struct event_base *base, const char *name, const char *conninfo, int size,
			  int64_t query_timeout_ms);
/* Another pool to the same database with the same timeouts (e.g. for LISTEN). */
struct PgPool *pgpool_new_sibling(const struct PgPool *like, const char *name, int size);
void pgpool_free(struct PgPool *pool);

void pgpool_set_state_cb(struct PgPool *pool, pgpool_state_cb cb, void *arg);

/*
 * Called with each NOTIFY channel name received on any of the pool's
 * connections; own is true when a connection of this process (any pool)
 * sent it.
 */
typedef void (*pgpool_notify_cb)(const char *channel, bool own, void *arg);
void pgpool_set_notify_cb(struct PgPool *pool, pgpool_notify_cb cb, void *arg);


/*
 * Run sql with text parameters (values are copied; NULL values are SQL
 * NULL).  The callback always runs later from the loop, never from inside
 * this call; while the pool is down it gets PG_UNAVAILABLE at once.
 */
void pgpool_query(struct PgPool *pool, const char *sql, int nparams, const char *const *values,
		  pgpool_cb cb, void *arg);

/*
 * The same, answered by deadline_ms (monotonic, clock_now_ms()) when that
 * comes before the pool's query timeout: for a caller whose own client has
 * already waited.
 */
void pgpool_query_by(struct PgPool *pool, int64_t deadline_ms, const char *sql, int nparams,
		     const char *const *values, pgpool_cb cb, void *arg);

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
