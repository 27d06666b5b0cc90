/*
 * The pool's state machine (src/infra/pgpool.c) where a real PostgreSQL
 * server cannot be made to stand: nobody listening, a peer that accepts
 * TCP and never speaks, and a server that completes the start-up and then
 * never answers a query.  The pool must answer every query exactly once
 * and by its deadline, never from inside the call, report up and down
 * through the state callback, and connect again after dropping a
 * connection.  (The pool against a real server: tests/integration.)
 */
#include "autoconfig.h"

#include "infra/clock.h"
#include "infra/pgpool.h"

#include <arpa/inet.h>
#include "unit_run.h"

#include <check.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* A listening socket on a free loopback port; its port in *port. */
static int listen_any(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static bool read_full(int fd, void *buf, size_t n)
{
	for (size_t got = 0; got < n;) {
		ssize_t r = read(fd, (char *)buf + got, n - got);

		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	return true;
}

/* One length-prefixed start-up packet; false at EOF. */
static bool read_startup(int fd)
{
	unsigned char len[4];
	char body[1024];
	uint32_t n;

	if (!read_full(fd, len, 4))
		return false;
	n = ((uint32_t)len[0] << 24 | (uint32_t)len[1] << 16 | (uint32_t)len[2] << 8 | len[3]) - 4;
	return n < sizeof(body) && read_full(fd, body, n);
}

/*
 * The server that goes silent: AuthenticationOk and ReadyForQuery, an
 * answer to the session's setup statements, then it reads and never
 * answers.  Each connection in turn, until killed.
 */
static void silent_server(int lfd)
{
	static const char auth_ok[] = { 'R', 0, 0, 0, 8, 0, 0, 0, 0 };
	static const char ready[] = { 'Z', 0, 0, 0, 5, 'I' };
	static const char set_done[] = { 'C', 0, 0, 0, 8, 'S', 'E', 'T', 0 };
	char buf[4096];

	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			_exit(1);
		if (read_startup(fd) && write(fd, auth_ok, sizeof(auth_ok)) > 0 && write(fd, ready, sizeof(ready)) > 0 &&
		    read(fd, buf, sizeof(buf)) > 0 && write(fd, set_done, sizeof(set_done)) > 0 &&
		    write(fd, ready, sizeof(ready)) > 0) {
			while (read(fd, buf, sizeof(buf)) > 0)
				;	/* every query after the setup goes unanswered */
		}
		close(fd);
	}
}

/* --- the pool's side ------------------------------------------------------------ */

struct Answer {
	int calls;
	enum PgStatus status;
	char err[512];
	int64_t at_ms;
	bool inside_call;
};

static bool calling;

static void answered(enum PgStatus st, PGresult *res, const char *err, void *arg)
{
	struct Answer *a = arg;

	(void)res;
	a->calls++;
	a->status = st;
	a->at_ms = clock_now_ms();
	a->inside_call = calling;
	snprintf(a->err, sizeof(a->err), "%s", err ? err : "");
}

struct States {
	int ups, downs;
};

static void state_changed(bool up, void *arg)
{
	struct States *s = arg;

	if (up)
		s->ups++;
	else
		s->downs++;
}

static void query(struct PgPool *pool, int64_t deadline_ms, struct Answer *a)
{
	calling = true;
	pgpool_query_by(pool, deadline_ms, "SELECT 1", 0, NULL, answered, a);
	calling = false;
}

/* Runs base until a has been answered, or 10 s. */
static void wait_for(struct event_base *base, const struct Answer *a)
{
	for (int i = 0; i < 1000 && a->calls == 0; i++) {
		struct timeval tv = clock_timeval(10);

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	ck_assert_int_eq(a->calls, 1);
}

static struct PgPool *pool_on(struct event_base *base, int port, int64_t query_timeout_ms)
{
	char conninfo[160];

	snprintf(conninfo, sizeof(conninfo),
		 "host=127.0.0.1 port=%d dbname=x user=x sslmode=disable gssencmode=disable", port);
	return pgpool_new(base, "test", conninfo, 1, query_timeout_ms);
}

START_TEST(nobody_listening_fails_fast_and_never_from_inside_the_call)
{
	struct event_base *base = event_base_new();
	int port, lfd = listen_any(&port);
	struct PgPool *pool;
	struct Answer first = { 0 }, later = { 0 };
	int64_t started;

	close(lfd);	/* the port is free now: connecting is refused */
	pool = pool_on(base, port, 5000);
	started = clock_now_ms();
	query(pool, 0, &first);
	ck_assert_int_eq(first.calls, 0);
	wait_for(base, &first);
	ck_assert_int_eq(first.status, PG_UNAVAILABLE);
	ck_assert(!first.inside_call);
	ck_assert_int_lt(first.at_ms - started, 1000);	/* refused: not held until the query timeout */
	ck_assert_msg(strstr(first.err, "database unavailable: connection to server at \"127.0.0.1\"") == first.err &&
			      strstr(first.err, "Connection refused"), "err: %s", first.err);
	query(pool, 0, &later);	/* the pool is known down: at once, still from the loop */
	ck_assert_int_eq(later.calls, 0);
	wait_for(base, &later);
	ck_assert_int_eq(later.status, PG_UNAVAILABLE);
	pgpool_free(pool);
	event_base_free(base);
}
END_TEST

START_TEST(a_peer_that_never_speaks_is_given_up_at_the_deadlines)
{
	struct event_base *base = event_base_new();
	int port, lfd = listen_any(&port);	/* the kernel accepts; nobody answers */
	struct PgPool *pool = pool_on(base, port, 500);
	struct Answer a = { 0 }, b = { 0 }, c = { 0 };
	int64_t started = clock_now_ms();

	query(pool, started + 300, &a);
	wait_for(base, &a);
	ck_assert_int_eq(a.status, PG_TIMEOUT);	/* the caller's deadline: never sent, nothing done */
	ck_assert_int_ge(a.at_ms - started, 290);
	ck_assert_int_lt(a.at_ms - started, 1000);
	query(pool, 0, &b);
	wait_for(base, &b);
	ck_assert_int_eq(b.status, PG_TIMEOUT);	/* the 500 ms query timeout, counted from the queueing */
	ck_assert_int_ge(b.at_ms - a.at_ms, 490);
	ck_assert_int_lt(b.at_ms - a.at_ms, 1000);
	/* the first attempt ends at the connect deadline (at least 2 s): the pool is known down */
	while (clock_now_ms() - started < 2300) {
		struct timeval tv = clock_timeval(10);

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	query(pool, 0, &c);
	wait_for(base, &c);
	ck_assert_int_eq(c.status, PG_UNAVAILABLE);
	ck_assert_int_lt(c.at_ms - (started + 2300), 200);
	ck_assert_str_eq(c.err, "database unavailable: could not connect within 2000 ms");
	pgpool_free(pool);
	close(lfd);
	event_base_free(base);
}
END_TEST

START_TEST(a_server_that_goes_silent_loses_its_connection_and_the_pool_reconnects)
{
	struct event_base *base = event_base_new();
	int port, lfd = listen_any(&port);
	pid_t server = fork();
	struct PgPool *pool;
	struct States states = { 0 };
	struct Answer a = { 0 };
	int64_t sent;

	ck_assert_int_ge(server, 0);
	if (server == 0)
		silent_server(lfd);
	close(lfd);
	pool = pool_on(base, port, 300);
	pgpool_set_state_cb(pool, state_changed, &states);
	for (int i = 0; i < 300 && states.ups == 0; i++) {
		struct timeval tv = clock_timeval(10);

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	ck_assert_int_eq(states.ups, 1);
	sent = clock_now_ms();
	query(pool, 0, &a);
	wait_for(base, &a);
	/* sent, then no answer: it may have taken effect, so the caller is told so */
	ck_assert_int_eq(a.status, PG_INTERRUPTED);
	ck_assert_int_ge(a.at_ms - sent, 290);	/* the query timeout, plus a grace for the server's own */
	ck_assert_int_lt(a.at_ms - sent, 2000);
	ck_assert_int_eq(states.downs, 1);
	for (int i = 0; i < 500 && states.ups < 2; i++) {
		struct timeval tv = clock_timeval(10);

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	ck_assert_int_eq(states.ups, 2);	/* connected again after a backoff */
	pgpool_free(pool);
	kill(server, SIGKILL);
	waitpid(server, NULL, 0);
	event_base_free(base);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pgpool");
	TCase *tc = tcase_create("pgpool");

	signal(SIGPIPE, SIG_IGN);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, nobody_listening_fails_fast_and_never_from_inside_the_call);
	tcase_add_test(tc, a_peer_that_never_speaks_is_given_up_at_the_deadlines);
	tcase_add_test(tc, a_server_that_goes_silent_loses_its_connection_and_the_pool_reconnects);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
