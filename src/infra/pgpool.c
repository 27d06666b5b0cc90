#include "autoconfig.h"

#include "infra/pgpool.h"

#include "infra/alloc.h"
#include "infra/clock.h"
#include "infra/log.h"
#include "infra/metrics.h"
#include "infra/redact.h"
#include "infra/resolve.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 2000
/* A query the server did not cancel by its deadline gets this much longer before its connection is dropped. */
#define DEADLINE_GRACE_MS 500
#define CONNECT_TIMEOUT_MIN_MS 2000
#define MAX_HOSTS 8
#define IDLE_CHECK_MS 10000

/*
 * DOWN -> (RESOLVING: host names looked up off the loop) -> CONNECTING ->
 * SETUP (session timeouts set) -> IDLE <-> BUSY; any failure -> DOWN.
 */
enum ConnState { CONN_DOWN, CONN_RESOLVING, CONN_CONNECTING, CONN_SETUP, CONN_IDLE, CONN_BUSY };

struct StepCopy {
	char *sql;
	int nparams;
	char **values;
};

/* A single query, or a pipelined transaction of steps. */
struct PgQuery {
	struct PgQuery *next;
	bool tx;
	int nsteps;
	struct StepCopy *steps;
	PGresult **results;	/* one per step */
	int reading;		/* pipeline: index of the statement being read (0 = BEGIN) */
	char err[1024];		/* the first failure of a transaction */
	bool timed_out;		/* that failure was the server's timeout (statement or lock) */
	int64_t deadline_ms;	/* monotonic; 0: none */
	pgpool_cb cb;
	pgpool_tx_cb txcb;
	void *arg;
};

struct PgConn {
	struct PgPool *pool;
	int index;
	PGconn *conn;
	enum ConnState state;
	struct event ev;	/* socket readiness; re-assigned on every arm */
	bool ev_set;
	struct event retry_timer;
	struct event deadline_timer;	/* connecting, or the query in flight */
	int backoff_ms;
	struct ResolveReq *resolving;
	int nresolved;			/* hosts looked up so far */
	char addrs[MAX_HOSTS][RESOLVE_ADDR_SIZE];	/* hostaddr for each host ("" for a socket directory) */
	struct PgQuery *query;	/* in flight */
	bool rolling_back;	/* busy with the ROLLBACK after a failed transaction */
	bool logged_down;	/* one log line per outage, not one per retry */
};

struct PgPool {
	struct event_base *base;
	char *name;
	char *conninfo;
	int size;
	int64_t query_timeout_ms;	/* 0: none */
	char setup_sql[256];		/* the session's timeouts, sent on every new connection */
	PQconninfoOption *opts;		/* conninfo, parsed; NULL when it does not parse */
	char conninfo_err[512];
	char *hosts[MAX_HOSTS];		/* its host list, split */
	int nhosts;
	struct Resolver *resolver;	/* NULL when every host is an address or a socket */
	struct event expire_timer;	/* the oldest queued query's deadline */
	char tcp_user_timeout[24];	/* ms unacknowledged data may wait before the kernel gives up */
	char app_name[64];		/* pg_stat_activity.application_name, unless conninfo sets one */
	struct PgConn *conns;
	struct PgQuery *head, *tail;
	int queued;
	int nup;
	bool ever_tried;	/* every connection has made its first attempt */
	char last_err[512];	/* why the last connection was lost or refused: told to queries failed while down */
	int first_attempts;
	struct event dispatch_ev;
	pgpool_state_cb state_cb;
	void *state_arg;
	pgpool_notify_cb notify_cb;
	void *notify_arg;
	struct PgPool *next_pool;	/* every pool of the process: whose backend sent a NOTIFY */
};

static struct PgPool *all_pools;

/* Whether a backend is one of this process's connections, in any pool. */
static bool own_backend(int pid)
{
	for (const struct PgPool *p = all_pools; p; p = p->next_pool) {
		for (int i = 0; i < p->size; i++) {
			if (p->conns[i].conn && PQbackendPID(p->conns[i].conn) == pid)
				return true;
		}
	}
	return false;
}

static void conn_start(struct PgConn *c);
static void conn_ready(struct PgConn *c);
static void conn_wait_idle(struct PgConn *c);
static void conn_send(struct PgConn *c, struct PgQuery *q);
static struct PgQuery *query_new(int nsteps);
static void copy_step(struct StepCopy *dst, const char *sql, int nparams, const char *const *values);
static void conn_arm(struct PgConn *c, short what);
static void conn_flush(struct PgConn *c);
static bool send_step(PGconn *conn, const char *sql, int nparams, char **values);
static void pool_dispatch(struct PgPool *pool);
static void pool_arm_expiry(struct PgPool *pool);

static void query_free(struct PgQuery *q)
{
	for (int k = 0; k < q->nsteps; k++) {
		for (int i = 0; i < q->steps[k].nparams; i++)
			free(q->steps[k].values[i]);
		free(q->steps[k].values);
		free(q->steps[k].sql);
		PQclear(q->results[k]);
	}
	free(q->steps);
	free(q->results);
	free(q);
}

static void query_finish(struct PgQuery *q, enum PgStatus st, const char *err)
{
	if (q->tx)
		q->txcb(st, st == PG_OK ? q->results : NULL, q->nsteps, err, q->arg);
	else
		q->cb(st, q->results[0], err, q->arg);
	query_free(q);
}

/* Failure text from libpq ends with a newline; logs and problem documents want one line. */
static const char *one_line(char *buf, size_t size, const char *msg)
{
	size_t n = 0;

	for (const char *p = msg; *p && n + 1 < size; p++)
		buf[n++] = (*p == '\n' || *p == '\r') ? ' ' : *p;
	while (n > 0 && buf[n - 1] == ' ')
		n--;
	buf[n] = '\0';
	return buf;
}

static void pool_set_up(struct PgPool *pool, int delta)
{
	bool was_up = pool->nup > 0;

	pool->nup += delta;
	if (was_up != (pool->nup > 0)) {
		if (pool->nup > 0)
			log_info("pool %s: database reachable", pool->name);
		else
			log_warning("pool %s: no database connection left", pool->name);
		if (pool->state_cb)
			pool->state_cb(pool->nup > 0, pool->state_arg);
	}
}

static void conn_disarm(struct PgConn *c)
{
	if (c->ev_set) {
		event_del(&c->ev);
		c->ev_set = false;
	}
}

/* Nothing of this connection attempt may call back any more. */
static void conn_stop(struct PgConn *c)
{
	conn_disarm(c);
	evtimer_del(&c->deadline_timer);
	resolve_cancel(c->resolving);
	c->resolving = NULL;
}

static void conn_set_deadline(struct PgConn *c, int64_t at_ms)
{
	struct timeval tv = clock_timeval(at_ms - clock_now_ms());

	if (evtimer_add(&c->deadline_timer, &tv) != 0)
		fatal("pool %s: could not arm a deadline timer", c->pool->name);
}

static void conn_schedule_retry(struct PgConn *c)
{
	struct timeval tv = clock_timeval(c->backoff_ms);

	if (evtimer_add(&c->retry_timer, &tv) != 0)
		fatal("pool %s: could not arm the reconnect timer", c->pool->name);
	c->backoff_ms = c->backoff_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : c->backoff_ms * 2;
}

static void conn_broken(struct PgConn *c, const char *why)
{
	struct PgPool *pool = c->pool;
	char line[512], buf[512];
	bool was_up = c->state == CONN_IDLE || c->state == CONN_BUSY;

	one_line(line, sizeof(line), why);
	redact_conninfo(buf, sizeof(buf), line, pool->conninfo);
	snprintf(pool->last_err, sizeof(pool->last_err), "%s", buf);
	if (was_up || !c->logged_down)
		log_warning("pool %s: connection %d lost: %s", pool->name, c->index, buf);
	c->logged_down = true;
	conn_stop(c);
	PQfinish(c->conn);
	c->conn = NULL;
	c->state = CONN_DOWN;
	c->rolling_back = false;
	if (c->query) {
		struct PgQuery *q = c->query;

		c->query = NULL;
		query_finish(q, PG_INTERRUPTED, buf);
	}
	if (was_up)
		pool_set_up(pool, -1);
	conn_schedule_retry(c);
	/* queries queued while the pool is down fail fast instead of waiting */
	event_active(&pool->dispatch_ev, EV_TIMEOUT, 0);
}

static void conn_first_attempt_done(struct PgConn *c)
{
	struct PgPool *pool = c->pool;

	if (!pool->ever_tried && ++pool->first_attempts >= pool->size) {
		pool->ever_tried = true;
		event_active(&pool->dispatch_ev, EV_TIMEOUT, 0);
	}
}

/* Connected: set the session's timeouts before it takes work. */
static void conn_connected(struct PgConn *c)
{
	if (PQsetnonblocking(c->conn, 1) != 0 || PQsendQuery(c->conn, c->pool->setup_sql) != 1) {
		conn_broken(c, PQerrorMessage(c->conn));
		conn_first_attempt_done(c);
		return;
	}
	c->state = CONN_SETUP;
	conn_flush(c);
}

/* A result of the setup statements; the connection is ready after the last. */
static void conn_setup_result(struct PgConn *c)
{
	PGresult *r;
	char buf[512];

	if (!PQconsumeInput(c->conn)) {
		conn_broken(c, PQerrorMessage(c->conn));
		conn_first_attempt_done(c);
		return;
	}
	while (!PQisBusy(c->conn)) {
		r = PQgetResult(c->conn);
		if (!r) {
			conn_ready(c);
			return;
		}
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			snprintf(buf, sizeof(buf), "could not set the session's timeouts (%s): %s", c->pool->setup_sql,
				 PQresultErrorMessage(r));
			PQclear(r);
			conn_broken(c, buf);
			conn_first_attempt_done(c);
			return;
		}
		PQclear(r);
	}
	conn_arm(c, EV_READ);
}

/*
 * Idle: read, to notice a server-side close, and check the connection now
 * and then -- a path that silently drops packets (a dead NAT entry, a
 * firewall) is otherwise noticed only by the next query.
 */
static void conn_wait_idle(struct PgConn *c)
{
	conn_arm(c, EV_READ);
	conn_set_deadline(c, clock_now_ms() + IDLE_CHECK_MS);
}

static void ping_done(enum PgStatus st, PGresult *res, const char *err, void *arg)
{
	(void)st;
	(void)res;
	(void)err;
	(void)arg;	/* a failure has already broken the connection, with its reason logged */
}

static void conn_ready(struct PgConn *c)
{
	evtimer_del(&c->deadline_timer);
	if (c->logged_down)
		log_info("pool %s: connection %d re-established", c->pool->name, c->index);
	else
		log_debug("pool %s: connection %d established", c->pool->name, c->index);
	c->logged_down = false;
	c->backoff_ms = RECONNECT_MIN_MS;
	c->state = CONN_IDLE;
	pool_set_up(c->pool, +1);
	conn_first_attempt_done(c);
	conn_wait_idle(c);
	pool_dispatch(c->pool);
}

static void conn_poll_connect(struct PgConn *c)
{
	switch (PQconnectPoll(c->conn)) {
	case PGRES_POLLING_READING:
		conn_arm(c, EV_READ);
		break;
	case PGRES_POLLING_WRITING:
		conn_arm(c, EV_WRITE);
		break;
	case PGRES_POLLING_OK:
		conn_connected(c);
		break;
	default:
		conn_broken(c, PQerrorMessage(c->conn));
		conn_first_attempt_done(c);
		break;
	}
}

/*
 * A pipelined transaction whose step failed leaves the session in an
 * aborted transaction block (the Sync does not end an explicit BEGIN), and
 * every later statement on the connection would fail.  Roll it back before
 * the connection takes other work; true when the ROLLBACK is on its way.
 */
static bool conn_rollback(struct PgConn *c)
{
	PGTransactionStatusType ts = PQtransactionStatus(c->conn);

	if (ts != PQTRANS_INERROR && ts != PQTRANS_INTRANS)
		return false;
	if (!send_step(c->conn, "ROLLBACK", 0, NULL)) {
		conn_broken(c, PQerrorMessage(c->conn));
		return true;
	}
	c->rolling_back = true;
	c->state = CONN_BUSY;
	conn_set_deadline(c, clock_now_ms() + (c->pool->query_timeout_ms ? c->pool->query_timeout_ms : 5000) +
				     DEADLINE_GRACE_MS);
	conn_flush(c);
	return true;
}

/* One result of that ROLLBACK; true once it is complete and the connection is idle again. */
static bool conn_rollback_result(struct PgConn *c, PGresult *r)
{
	char buf[512];

	if (r) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			log_warning("pool %s: connection %d: ROLLBACK after a failed transaction failed: %s",
				    c->pool->name, c->index, one_line(buf, sizeof(buf), PQresultErrorMessage(r)));
		PQclear(r);
		return false;
	}
	c->rolling_back = false;
	c->state = CONN_IDLE;
	conn_wait_idle(c);
	pool_dispatch(c->pool);
	return true;
}

/* The server gave up on the statement by its own timeouts: nothing of it took effect. */
static bool is_timeout(const PGresult *r)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	return state && (strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0);
}

static void conn_query_done(struct PgConn *c)
{
	struct PgQuery *q = c->query;
	PGresult *res = q->results[0];
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	char buf[1024];

	c->query = NULL;
	c->state = CONN_IDLE;
	evtimer_del(&c->deadline_timer);
	if (q->tx && PQexitPipelineMode(c->conn) != 1) {
		conn_broken(c, PQerrorMessage(c->conn));	/* finishes nothing: query detached */
		query_finish(q, PG_UNAVAILABLE, "could not leave pipeline mode");
		return;
	}
	if (q->tx && q->err[0])
		conn_rollback(c);	/* before the callback can queue work for this connection */
	if (q->tx)
		query_finish(q, !q->err[0] ? PG_OK : q->timed_out ? PG_TIMEOUT : PG_ERROR, q->err[0] ? q->err : NULL);
	else if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		query_finish(q, PG_OK, NULL);
	else
		query_finish(q, is_timeout(res) ? PG_TIMEOUT : PG_ERROR,
			     one_line(buf, sizeof(buf), res ? PQresultErrorMessage(res) : "no result"));
	if (c->state == CONN_IDLE)
		conn_wait_idle(c);
	pool_dispatch(c->pool);
}

static void conn_deliver_notifies(struct PgConn *c)
{
	PGnotify *n;

	while ((n = PQnotifies(c->conn)) != NULL) {
		if (c->pool->notify_cb)
			c->pool->notify_cb(n->relname, own_backend(n->be_pid), c->pool->notify_arg);
		PQfreemem(n);
	}
}

/* Statement i of a pipelined transaction: 0 is BEGIN, nsteps + 1 is COMMIT. */
static void tx_store(struct PgQuery *q, PGresult *r)
{
	ExecStatusType st = PQresultStatus(r);
	int step = q->reading - 1;
	char buf[900];

	if (!q->err[0] && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		q->timed_out = is_timeout(r);
		if (step >= 0 && step < q->nsteps)
			snprintf(q->err, sizeof(q->err), "step %d: %s", step + 1,
				 one_line(buf, sizeof(buf), PQresultErrorMessage(r)));
		else
			snprintf(q->err, sizeof(q->err), "%s: %s", step < 0 ? "BEGIN" : "COMMIT",
				 one_line(buf, sizeof(buf), PQresultErrorMessage(r)));
	}
	if (step >= 0 && step < q->nsteps && !q->results[step])
		q->results[step] = r;
	else
		PQclear(r);
}

/* true when the query in flight is complete */
static bool conn_take_result(struct PgConn *c, PGresult *r)
{
	struct PgQuery *q = c->query;

	if (!q->tx) {
		if (!r)
			return true;
		if (!q->results[0])
			q->results[0] = r;	/* the first result carries the answer */
		else
			PQclear(r);
		return false;
	}
	if (!r) {
		q->reading++;	/* NULL separates the statements of a pipeline */
		return false;
	}
	if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
		PQclear(r);
		return true;
	}
	tx_store(q, r);
	return false;
}

static void conn_read_results(struct PgConn *c)
{
	if (!PQconsumeInput(c->conn)) {
		conn_broken(c, PQerrorMessage(c->conn));
		return;
	}
	conn_deliver_notifies(c);
	while (!PQisBusy(c->conn)) {
		if (c->rolling_back) {
			if (conn_rollback_result(c, PQgetResult(c->conn)))
				return;
			continue;
		}
		if (conn_take_result(c, PQgetResult(c->conn))) {
			conn_query_done(c);
			return;
		}
	}
	conn_arm(c, EV_READ);
}

static void conn_flush(struct PgConn *c)
{
	int r = PQflush(c->conn);

	if (r < 0)
		conn_broken(c, PQerrorMessage(c->conn));
	else if (r == 1)
		conn_arm(c, EV_READ | EV_WRITE);
	else
		conn_arm(c, EV_READ);
}

static void conn_idle_input(struct PgConn *c)
{
	if (!PQconsumeInput(c->conn) || PQstatus(c->conn) == CONNECTION_BAD) {
		conn_broken(c, PQerrorMessage(c->conn));
		return;
	}
	conn_deliver_notifies(c);
	conn_arm(c, EV_READ);
}

static void conn_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct PgConn *c = arg;

	c->ev_set = false;
	switch (c->state) {
	case CONN_CONNECTING:
		conn_poll_connect(c);
		break;
	case CONN_SETUP:
		if (what & EV_WRITE) {
			conn_flush(c);
			if (c->state != CONN_SETUP || !(what & EV_READ))
				break;
		}
		conn_setup_result(c);
		break;
	case CONN_BUSY:
		if (what & EV_WRITE) {
			conn_flush(c);
			if (c->state != CONN_BUSY || !(what & EV_READ))
				break;
		}
		conn_read_results(c);
		break;
	case CONN_IDLE:
		conn_idle_input(c);
		break;
	case CONN_DOWN:
	case CONN_RESOLVING:
		break;
	}
}

/* PQsocket() can change while connecting: re-read it on every arm. */
static void conn_arm(struct PgConn *c, short what)
{
	int fd = PQsocket(c->conn);

	conn_disarm(c);
	if (fd < 0) {
		conn_broken(c, "connection has no socket");
		return;
	}
	event_assign(&c->ev, c->pool->base, fd, what, conn_event_cb, c);
	if (event_add(&c->ev, NULL) != 0) {
		conn_broken(c, "could not register the connection's socket with the event loop");
		return;
	}
	c->ev_set = true;
}

/*
 * libpq's keywords: our defaults first, then the operator's conninfo (which
 * wins: libpq keeps the last value of a repeated keyword), then the
 * addresses we looked up, so that libpq does no DNS of its own.
 */
static void conn_params(const struct PgConn *c, const char **kw, const char **val, char *hostaddr, size_t size)
{
	const struct PgPool *pool = c->pool;
	int n = 0;

	/* a dead peer is noticed within 5 + 3 x 2 s on an idle connection */
	kw[n] = "keepalives", val[n++] = "1";
	kw[n] = "keepalives_idle", val[n++] = "5";
	kw[n] = "keepalives_interval", val[n++] = "2";
	kw[n] = "keepalives_count", val[n++] = "3";
	kw[n] = "tcp_user_timeout", val[n++] = pool->tcp_user_timeout;
	kw[n] = "application_name", val[n++] = pool->app_name;
	for (const PQconninfoOption *o = pool->opts; o && o->keyword; o++) {
		if (o->val && o->val[0])
			kw[n] = o->keyword, val[n++] = o->val;
	}
	if (pool->resolver) {
		size_t len = 0;

		hostaddr[0] = '\0';
		for (int i = 0; i < pool->nhosts; i++)
			len += (size_t)snprintf(hostaddr + len, len < size ? size - len : 0, "%s%s", i ? "," : "",
						c->addrs[i]);
		kw[n] = "hostaddr", val[n++] = hostaddr;
	}
	kw[n] = NULL, val[n] = NULL;
}

static void conn_connect(struct PgConn *c)
{
	const char *kw[64], *val[64];
	char hostaddr[MAX_HOSTS * (RESOLVE_ADDR_SIZE + 1)];

	conn_params(c, kw, val, hostaddr, sizeof(hostaddr));
	c->conn = PQconnectStartParams(kw, val, 0);
	if (!c->conn)
		fatal("pool %s: out of memory starting a connection", c->pool->name);
	if (PQstatus(c->conn) == CONNECTION_BAD) {
		conn_broken(c, PQerrorMessage(c->conn));
		conn_first_attempt_done(c);
		return;
	}
	c->state = CONN_CONNECTING;
	conn_poll_connect(c);
}

static void conn_resolve_next(struct PgConn *c);

static void conn_resolved(const char *addr, const char *err, void *arg)
{
	struct PgConn *c = arg;
	char buf[512];

	c->resolving = NULL;
	if (!addr) {
		snprintf(buf, sizeof(buf), "could not look up host \"%s\": %s", c->pool->hosts[c->nresolved], err);
		conn_broken(c, buf);
		conn_first_attempt_done(c);
		return;
	}
	snprintf(c->addrs[c->nresolved++], RESOLVE_ADDR_SIZE, "%s", addr);
	conn_resolve_next(c);
}

/* Looks up the next host name of the list; connects once every host has an address. */
static void conn_resolve_next(struct PgConn *c)
{
	const struct PgPool *pool = c->pool;

	while (c->nresolved < pool->nhosts) {
		const char *h = pool->hosts[c->nresolved];

		if (!resolve_is_literal(h)) {
			c->state = CONN_RESOLVING;
			c->resolving = resolve_start(pool->resolver, h, conn_resolved, c);
			return;	/* conn_resolved() continues, maybe already has */
		}
		snprintf(c->addrs[c->nresolved++], RESOLVE_ADDR_SIZE, "%s", h[0] == '/' || h[0] == '@' ? "" : h);
	}
	conn_connect(c);
}

static void conn_start(struct PgConn *c)
{
	struct PgPool *pool = c->pool;
	int64_t connect_ms = pool->query_timeout_ms > CONNECT_TIMEOUT_MIN_MS ? pool->query_timeout_ms
									   : CONNECT_TIMEOUT_MIN_MS;

	if (!pool->opts) {
		conn_broken(c, pool->conninfo_err);
		conn_first_attempt_done(c);
		return;
	}
	conn_set_deadline(c, clock_now_ms() + connect_ms);
	c->nresolved = 0;
	if (pool->resolver)
		conn_resolve_next(c);
	else
		conn_connect(c);
}

/* The connection or the query in flight ran out of time. */
static void conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct PgConn *c = arg;
	char buf[256];

	(void)fd;
	(void)what;
	if (c->state == CONN_IDLE) {
		struct PgQuery *q = query_new(1);

		copy_step(&q->steps[0], "SELECT 1", 0, NULL);
		q->cb = ping_done;
		q->deadline_ms = clock_now_ms() + (c->pool->query_timeout_ms ? c->pool->query_timeout_ms : 5000);
		conn_send(c, q);
		return;
	}
	if (c->state == CONN_BUSY) {
		snprintf(buf, sizeof(buf), "no answer within database.query_timeout (%lld ms): the connection is "
			 "dropped", (long long)c->pool->query_timeout_ms);
		conn_broken(c, buf);
		return;
	}
	snprintf(buf, sizeof(buf), "could not connect within %lld ms",
		 (long long)(c->pool->query_timeout_ms > CONNECT_TIMEOUT_MIN_MS ? c->pool->query_timeout_ms
										: CONNECT_TIMEOUT_MIN_MS));
	conn_broken(c, buf);
	conn_first_attempt_done(c);
}

static void conn_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_start(arg);
}

static bool send_step(PGconn *conn, const char *sql, int nparams, char **values)
{
	return PQsendQueryParams(conn, sql, nparams, NULL, (const char *const *)values, NULL, NULL, 0) == 1;
}

static bool send_tx(PGconn *conn, const struct PgQuery *q)
{
	if (!PQenterPipelineMode(conn) || !send_step(conn, "BEGIN", 0, NULL))
		return false;
	for (int k = 0; k < q->nsteps; k++) {
		if (!send_step(conn, q->steps[k].sql, q->steps[k].nparams, q->steps[k].values))
			return false;
	}
	return send_step(conn, "COMMIT", 0, NULL) && PQpipelineSync(conn) == 1;
}

static void conn_send(struct PgConn *c, struct PgQuery *q)
{
	bool ok;

	c->query = q;
	c->state = CONN_BUSY;
	if (q->deadline_ms)
		conn_set_deadline(c, q->deadline_ms + DEADLINE_GRACE_MS);
	if (q->tx)
		ok = send_tx(c->conn, q);
	else
		ok = send_step(c->conn, q->steps[0].sql, q->steps[0].nparams, q->steps[0].values);
	if (!ok) {
		conn_broken(c, PQerrorMessage(c->conn));
		return;
	}
	conn_flush(c);
}

static struct PgQuery *pool_pop(struct PgPool *pool)
{
	struct PgQuery *q = pool->head;

	if (q) {
		pool->head = q->next;
		if (!pool->head)
			pool->tail = NULL;
		pool->queued--;
	}
	return q;
}

static void pool_fail_queued(struct PgPool *pool, const char *why)
{
	struct PgQuery *q;

	while ((q = pool_pop(pool)) != NULL)
		query_finish(q, PG_UNAVAILABLE, why);
}

static void pool_dispatch(struct PgPool *pool)
{
	if (pool->nup == 0) {
		char why[600];

		if (!pool->ever_tried)
			return;
		snprintf(why, sizeof(why), "database unavailable: %s", pool->last_err);
		pool_fail_queued(pool, why);
		return;
	}
	for (int i = 0; i < pool->size && pool->head; i++) {
		struct PgConn *c = &pool->conns[i];

		if (c->state == CONN_IDLE)
			conn_send(c, pool_pop(pool));
	}
}

static void pool_dispatch_cb(evutil_socket_t fd, short what, void *arg)
{
	pool_dispatch(arg);
}

/* Queries that waited for a connection past their deadline fail: they were never sent. */
static void pool_expire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct PgPool *pool = arg;
	int64_t now = clock_now_ms();
	char why[160];

	(void)fd;
	(void)what;
	snprintf(why, sizeof(why), "no database connection was free within database.query_timeout (%lld ms)",
		 (long long)pool->query_timeout_ms);
	while (pool->head && pool->head->deadline_ms <= now)
		query_finish(pool_pop(pool), PG_TIMEOUT, why);
	pool_arm_expiry(pool);
}

static void pool_arm_expiry(struct PgPool *pool)
{
	struct timeval tv;

	if (!pool->head || !pool->head->deadline_ms || evtimer_pending(&pool->expire_timer, NULL))
		return;
	tv = clock_timeval(pool->head->deadline_ms - clock_now_ms());
	if (evtimer_add(&pool->expire_timer, &tv) != 0)
		fatal("pool %s: could not arm the expiry timer", pool->name);
}

/* The conninfo, parsed once: its host list decides whether connections need DNS first. */
static void pool_parse_conninfo(struct PgPool *pool, struct event_base *base)
{
	char *err = NULL, rerr[256];
	bool need_dns = false, has_hostaddr = false;

	pool->opts = PQconninfoParse(pool->conninfo, &err);
	if (!pool->opts) {
		snprintf(pool->conninfo_err, sizeof(pool->conninfo_err), "database.url does not parse: %s",
			 err ? err : "out of memory");
		PQfreemem(err);
		return;
	}
	for (const PQconninfoOption *o = pool->opts; o->keyword; o++) {
		if (strcmp(o->keyword, "hostaddr") == 0 && o->val && o->val[0])
			has_hostaddr = true;
		if (strcmp(o->keyword, "host") != 0 || !o->val || !o->val[0])
			continue;
		for (char *h = o->val, *end; pool->nhosts < MAX_HOSTS; h = end + 1) {
			end = strchr(h, ',');
			pool->hosts[pool->nhosts] = end ? xstrndup(h, (size_t)(end - h)) : xstrdup(h);
			need_dns = need_dns || !resolve_is_literal(pool->hosts[pool->nhosts]);
			pool->nhosts++;
			if (!end)
				break;
		}
	}
	/* an operator's hostaddr already spares libpq the lookup */
	if (!need_dns || has_hostaddr)
		return;
	pool->resolver = resolver_new(base, rerr, sizeof(rerr));
	if (!pool->resolver)
		log_warning("pool %s: %s; libpq will look host names up itself, blocking while it does", pool->name,
			    rerr);
}

static void pool_set_timeouts(struct PgPool *pool, int64_t query_timeout_ms)
{
	long long t = (long long)query_timeout_ms;

	pool->query_timeout_ms = query_timeout_ms;
	snprintf(pool->tcp_user_timeout, sizeof(pool->tcp_user_timeout), "%lld", t > 5000 ? 2 * t : 10000);
	/*
	 * The server ends what we would stop waiting for: a lock wait reports
	 * itself as one (55P03) before the statement's own timeout (57014), and a
	 * transaction left open by a vanished client ends by itself.
	 */
	snprintf(pool->setup_sql, sizeof(pool->setup_sql),
		 "SET statement_timeout = %lld; SET lock_timeout = %lld; SET idle_in_transaction_session_timeout = %lld",
		 t, t * 4 / 5, 2 * t);
}

static double connections_gauge(void *arg)
{
	return ((const struct PgPool *)arg)->nup;
}

static double size_gauge(void *arg)
{
	return ((const struct PgPool *)arg)->size;
}

static double queued_gauge(void *arg)
{
	return ((const struct PgPool *)arg)->queued;
}

/* Forgotten in pgpool_free: the gauges read the pool itself. */
static void pool_register_gauges(struct PgPool *pool)
{
	char labels[96];

	snprintf(labels, sizeof(labels), "pool=\"%s\"", pool->name);
	metrics_gauge("chargegate_database_connections", labels,
		      "Open, working connections of a database pool (0: the database is unreachable).",
		      connections_gauge, pool);
	metrics_gauge("chargegate_database_pool_size", labels, "Connections a database pool keeps open.", size_gauge,
		      pool);
	metrics_gauge("chargegate_database_queued_queries", labels,
		      "Queries of a database pool waiting for a free connection.", queued_gauge, pool);
}

struct PgPool *pgpool_new(struct event_base *base, const char *name, const char *conninfo, int size,
			  int64_t query_timeout_ms)
{
	struct PgPool *pool = xcalloc(1, sizeof(*pool));

	pool->base = base;
	pool->name = xstrdup(name);
	pool->conninfo = xstrdup(conninfo);
	pool->size = size;
	snprintf(pool->app_name, sizeof(pool->app_name), "chargegated %s", name);
	pool_set_timeouts(pool, query_timeout_ms);
	pool_parse_conninfo(pool, base);
	pool->conns = xcalloc((size_t)size, sizeof(*pool->conns));
	event_assign(&pool->dispatch_ev, base, -1, 0, pool_dispatch_cb, pool);
	evtimer_assign(&pool->expire_timer, base, pool_expire_cb, pool);
	for (int i = 0; i < size; i++) {
		struct PgConn *c = &pool->conns[i];

		c->pool = pool;
		c->index = i;
		c->backoff_ms = RECONNECT_MIN_MS;
		evtimer_assign(&c->retry_timer, base, conn_retry_cb, c);
		evtimer_assign(&c->deadline_timer, base, conn_deadline_cb, c);
	}
	pool->next_pool = all_pools;
	all_pools = pool;
	pool_register_gauges(pool);
	for (int i = 0; i < size; i++)
		conn_start(&pool->conns[i]);
	return pool;
}

struct PgPool *pgpool_new_sibling(const struct PgPool *like, const char *name, int size)
{
	return pgpool_new(like->base, name, like->conninfo, size, like->query_timeout_ms);
}

void pgpool_free(struct PgPool *pool)
{
	if (!pool)
		return;
	for (struct PgPool **p = &all_pools; *p; p = &(*p)->next_pool) {
		if (*p == pool) {
			*p = pool->next_pool;
			break;
		}
	}
	pool->state_cb = NULL;
	metrics_forget_gauges(pool, sizeof(*pool));
	for (int i = 0; i < pool->size; i++) {
		struct PgConn *c = &pool->conns[i];

		conn_stop(c);
		evtimer_del(&c->retry_timer);
		if (c->query) {
			query_finish(c->query, PG_UNAVAILABLE, "shutting down");
			c->query = NULL;
		}
		PQfinish(c->conn);
	}
	pool_fail_queued(pool, "shutting down");
	event_del(&pool->dispatch_ev);
	evtimer_del(&pool->expire_timer);
	resolver_free(pool->resolver);
	PQconninfoFree(pool->opts);
	for (int i = 0; i < pool->nhosts; i++)
		free(pool->hosts[i]);
	free(pool->conns);
	free(pool->conninfo);
	free(pool->name);
	free(pool);
}

void pgpool_set_state_cb(struct PgPool *pool, pgpool_state_cb cb, void *arg)
{
	pool->state_cb = cb;
	pool->state_arg = arg;
}

void pgpool_set_notify_cb(struct PgPool *pool, pgpool_notify_cb cb, void *arg)
{
	pool->notify_cb = cb;
	pool->notify_arg = arg;
}

static void copy_step(struct StepCopy *dst, const char *sql, int nparams, const char *const *values)
{
	dst->sql = xstrdup(sql);
	dst->nparams = nparams;
	dst->values = xcalloc((size_t)(nparams ? nparams : 1), sizeof(char *));
	for (int i = 0; i < nparams; i++)
		dst->values[i] = values[i] ? xstrdup(values[i]) : NULL;
}

/* deadline_ms: the caller's own (monotonic), when earlier than the pool's timeout; 0: none */
static void pool_enqueue(struct PgPool *pool, struct PgQuery *q, int64_t deadline_ms)
{
	if (pool->tail)
		pool->tail->next = q;
	else
		pool->head = q;
	pool->tail = q;
	pool->queued++;
	q->deadline_ms = pool->query_timeout_ms ? clock_now_ms() + pool->query_timeout_ms : 0;
	if (deadline_ms && (!q->deadline_ms || deadline_ms < q->deadline_ms))
		q->deadline_ms = deadline_ms;
	pool_arm_expiry(pool);
	event_active(&pool->dispatch_ev, EV_TIMEOUT, 0);
}

static struct PgQuery *query_new(int nsteps)
{
	struct PgQuery *q = xcalloc(1, sizeof(*q));

	q->nsteps = nsteps;
	q->steps = xcalloc((size_t)nsteps, sizeof(*q->steps));
	q->results = xcalloc((size_t)nsteps, sizeof(*q->results));
	return q;
}

void pgpool_query_by(struct PgPool *pool, int64_t deadline_ms, const char *sql, int nparams,
		     const char *const *values, pgpool_cb cb, void *arg)
{
	struct PgQuery *q = query_new(1);

	copy_step(&q->steps[0], sql, nparams, values);
	q->cb = cb;
	q->arg = arg;
	pool_enqueue(pool, q, deadline_ms);
}

void pgpool_query(struct PgPool *pool, const char *sql, int nparams, const char *const *values,
		  pgpool_cb cb, void *arg)
{
	pgpool_query_by(pool, 0, sql, nparams, values, cb, arg);
}

void pgpool_tx(struct PgPool *pool, const struct PgStep *steps, int nsteps, pgpool_tx_cb cb, void *arg)
{
	struct PgQuery *q = query_new(nsteps);

	for (int k = 0; k < nsteps; k++)
		copy_step(&q->steps[k], steps[k].sql, steps[k].nparams, steps[k].values);
	q->tx = true;
	q->txcb = cb;
	q->arg = arg;
	pool_enqueue(pool, q, 0);
}
