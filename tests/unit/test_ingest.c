/*
 * Group commit (src/request/ingest.c) against a fake pgpool_query_by held
 * in memory, answered when the test says so: requests arriving together
 * share one transaction, a full batch leaves at once, no more batches are
 * in flight than connections allowed, outcomes are matched by ord, a
 * refused batch is retried row by row so that only the bad row fails,
 * every failure of the pool maps to the outcome the API turns into its
 * answer, and a batch that never got a connection is answered at its
 * deadline without being sent.
 */
#include "autoconfig.h"

#include "infra/clock.h"
#include "infra/pgpool.h"
#include "request/ingest.h"
#include "request/validate.h"

#include "unit_run.h"

#include <check.h>
#include <event2/event.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXQ 32
#define MAXITEMS 64

/* --- the fake pool: the one function ingest.c calls -------------------------- */

struct Query {
	int rows;		/* elements of the first array parameter */
	char tokens[MAXITEMS][32];	/* driver_token of each row, in ord order */
	pgpool_cb cb;
	void *arg;
	bool answered;
};

static struct Query queries[MAXQ];
static int nqueries;

/* Elements of a one-dimensional array literal of simple quoted strings: {"a","b"}. */
static int array_elements(const char *lit, char out[][32])
{
	int n = 0;

	for (const char *p = strchr(lit, '"'); p; p = strchr(p, '"')) {
		const char *end = strchr(p + 1, '"');

		ck_assert_ptr_nonnull(end);
		snprintf(out[n++], 32, "%.*s", (int)(end - p - 1), p + 1);
		p = end + 1;
	}
	return n;
}

void pgpool_query_by(struct PgPool *pool, int64_t deadline_ms, const char *sql, int nparams,
		     const char *const *values, pgpool_cb cb, void *arg)
{
	struct Query *q = &queries[nqueries++];
	char stations[MAXITEMS][32];

	(void)pool;
	(void)deadline_ms;
	ck_assert_int_lt(nqueries, MAXQ);
	ck_assert_ptr_nonnull(strstr(sql, "chargegate.accept_requests("));
	ck_assert_int_eq(nparams, 5);
	q->rows = array_elements(values[1], q->tokens);
	ck_assert_int_eq(array_elements(values[0], stations), q->rows);
	q->cb = cb;
	q->arg = arg;
}

static int in_flight(void)
{
	int n = 0;

	for (int i = 0; i < nqueries; i++)
		n += !queries[i].answered;
	return n;
}

/* Answers query i with one row per (ord, outcome); outcome NULL leaves a row out. */
static void answer_rows(int i, const char *const *outcomes)
{
	struct Query *q = &queries[i];
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	PGresAttDesc cols[3] = { { .name = "ord" }, { .name = "request_id" }, { .name = "outcome" } };
	int row = 0;

	ck_assert(!q->answered);
	ck_assert(PQsetResultAttrs(res, 3, cols));
	for (int k = q->rows - 1; k >= 0; k--) {	/* in reverse: ord, not the order, matches */
		char ord[16], id[64];

		if (!outcomes[k])
			continue;
		snprintf(ord, sizeof(ord), "%d", k + 1);
		snprintf(id, sizeof(id), "id-%s", q->tokens[k]);
		ck_assert(PQsetvalue(res, row, 0, ord, (int)strlen(ord)));
		ck_assert(PQsetvalue(res, row, 1, id, (int)strlen(id)));
		ck_assert(PQsetvalue(res, row, 2, (char *)outcomes[k], (int)strlen(outcomes[k])));
		row++;
	}
	q->answered = true;
	q->cb(PG_OK, res, NULL, q->arg);
	PQclear(res);
}

static void answer_created(int i)
{
	const char *created[MAXITEMS];

	for (int k = 0; k < MAXITEMS; k++)
		created[k] = "created";
	answer_rows(i, created);
}

static void answer_status(int i, enum PgStatus st, const char *err)
{
	queries[i].answered = true;
	queries[i].cb(st, NULL, err, queries[i].arg);
}

/* --- the clients ---------------------------------------------------------------- */

struct Client {
	int calls;
	enum IngestOutcome outcome;
	char id[64];
	char detail[160];
};

static struct Client clients[MAXITEMS];
static int commits;

static void answered(enum IngestOutcome outcome, const char *request_id, const char *detail, void *arg)
{
	struct Client *c = arg;

	c->calls++;
	c->outcome = outcome;
	snprintf(c->id, sizeof(c->id), "%s", request_id ? request_id : "");
	snprintf(c->detail, sizeof(c->detail), "%s", detail ? detail : "");
}

static void committed(void *arg)
{
	(void)arg;
	commits++;
}

static struct event_base *base;

static struct Ingest *setup(int batch_size, int64_t wait_ms, int64_t timeout_ms, int max_inflight)
{
	struct Ingest *ing;

	memset(queries, 0, sizeof(queries));
	memset(clients, 0, sizeof(clients));
	nqueries = 0;
	commits = 0;
	base = event_base_new();
	ing = ingest_new(base, NULL, batch_size, wait_ms, timeout_ms, max_inflight);
	ingest_on_commit(ing, committed, NULL);
	return ing;
}

/* Client k submits a request whose driver token is "tok<k>". */
static void submit(struct Ingest *ing, int k)
{
	char token[32];
	struct StartRequest req = { .station_id = "123e4567-e89b-12d3-a456-426614174000", .driver_token = token,
				    .callback_url = (char *)"https://cpo.example/cb" };

	snprintf(token, sizeof(token), "tok%d", k);
	ck_assert_ptr_nonnull(ingest_submit(ing, &req, NULL, 0, answered, &clients[k]));
}

static void run_for(int ms)
{
	struct timeval tv = clock_timeval(ms);

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static void teardown(struct Ingest *ing)
{
	ck_assert_int_eq(in_flight(), 0);
	ingest_free(ing);
	event_base_free(base);
}

START_TEST(requests_arriving_together_share_one_transaction)
{
	struct Ingest *ing = setup(100, 5, 5000, 4);

	for (int k = 0; k < 10; k++)
		submit(ing, k);
	ck_assert_int_eq(nqueries, 0);	/* they wait for the batch timer, for others to join */
	run_for(20);
	ck_assert_int_eq(nqueries, 1);
	ck_assert_int_eq(queries[0].rows, 10);
	ck_assert_int_eq(ingest_pending(ing), 10);
	answer_created(0);
	for (int k = 0; k < 10; k++) {
		char id[64];

		snprintf(id, sizeof(id), "id-tok%d", k);
		ck_assert_int_eq(clients[k].calls, 1);
		ck_assert_int_eq(clients[k].outcome, INGEST_CREATED);
		ck_assert_str_eq(clients[k].id, id);	/* matched by ord, though the rows came reversed */
	}
	ck_assert_int_eq(commits, 1);
	ck_assert_int_eq(ingest_pending(ing), 0);
	teardown(ing);
}
END_TEST

START_TEST(a_full_batch_leaves_at_once_and_no_more_are_in_flight_than_allowed)
{
	struct Ingest *ing = setup(4, 100, 5000, 1);

	for (int k = 0; k < 10; k++)
		submit(ing, k);
	ck_assert_int_eq(nqueries, 1);	/* full: sent without waiting for the timer */
	ck_assert_int_eq(queries[0].rows, 4);
	run_for(20);
	ck_assert_int_eq(nqueries, 1);	/* the second full batch waits for the one connection */
	answer_created(0);
	ck_assert_int_eq(nqueries, 2);
	ck_assert_int_eq(queries[1].rows, 4);
	ck_assert_str_eq(queries[1].tokens[0], "tok4");
	answer_created(1);
	ck_assert_int_eq(nqueries, 2);	/* the last two are not a full batch: they wait for the timer */
	run_for(150);
	ck_assert_int_eq(nqueries, 3);
	ck_assert_int_eq(queries[2].rows, 2);
	answer_created(2);
	for (int k = 0; k < 10; k++)
		ck_assert_int_eq(clients[k].calls, 1);
	teardown(ing);
}
END_TEST

START_TEST(each_row_gets_its_own_outcome)
{
	struct Ingest *ing = setup(4, 0, 5000, 1);
	const char *outcomes[4] = { "replayed", "conflict", NULL, "created" };

	for (int k = 0; k < 4; k++)
		submit(ing, k);
	ck_assert_int_eq(nqueries, 1);
	answer_rows(0, outcomes);
	ck_assert_int_eq(clients[0].outcome, INGEST_REPLAYED);
	ck_assert_str_eq(clients[0].id, "id-tok0");
	ck_assert_int_eq(clients[1].outcome, INGEST_CONFLICT);
	ck_assert_int_eq(clients[2].outcome, INGEST_FAILED);
	ck_assert_str_eq(clients[2].detail, "the database returned no outcome for the row");
	ck_assert_int_eq(clients[3].outcome, INGEST_CREATED);
	ck_assert_int_eq(commits, 1);
	teardown(ing);
}
END_TEST

START_TEST(a_refused_batch_is_retried_row_by_row_so_only_the_bad_row_fails)
{
	struct Ingest *ing = setup(3, 0, 5000, 4);

	for (int k = 0; k < 3; k++)
		submit(ing, k);
	ck_assert_int_eq(nqueries, 1);
	answer_status(0, PG_ERROR, "ERROR: value too long");
	ck_assert_int_eq(nqueries, 4);	/* one transaction per row */
	for (int i = 1; i < 4; i++)
		ck_assert_int_eq(queries[i].rows, 1);
	answer_created(1);
	answer_status(2, PG_ERROR, "ERROR: value too long");
	answer_created(3);
	ck_assert_int_eq(clients[0].outcome, INGEST_CREATED);
	ck_assert_int_eq(clients[1].outcome, INGEST_FAILED);
	ck_assert_str_eq(clients[1].detail, "ERROR: value too long");
	ck_assert_int_eq(clients[2].outcome, INGEST_CREATED);
	ck_assert_int_eq(nqueries, 4);	/* a refused single row is not retried again */
	for (int k = 0; k < 3; k++)
		ck_assert_int_eq(clients[k].calls, 1);
	teardown(ing);
}
END_TEST

START_TEST(pool_failures_become_the_outcomes_the_api_answers_with)
{
	const struct {
		enum PgStatus st;
		enum IngestOutcome want;
	} cases[] = {
		{ PG_UNAVAILABLE, INGEST_UNAVAILABLE },	/* never sent: 503, nothing stored */
		{ PG_TIMEOUT, INGEST_TIMEOUT },		/* cancelled: 503 database-timeout */
		{ PG_INTERRUPTED, INGEST_UNKNOWN },	/* maybe committed: retry with the key */
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct Ingest *ing = setup(2, 0, 5000, 1);

		submit(ing, 0);
		submit(ing, 1);
		answer_status(0, cases[c].st, "the fake says so");
		ck_assert_int_eq(nqueries, 1);	/* not split: the rows were not refused */
		for (int k = 0; k < 2; k++) {
			ck_assert_int_eq(clients[k].calls, 1);
			ck_assert_int_eq(clients[k].outcome, cases[c].want);
			ck_assert_str_eq(clients[k].detail, "the fake says so");
		}
		ck_assert_int_eq(commits, 0);
		teardown(ing);
	}
}
END_TEST

START_TEST(a_batch_that_gets_no_connection_is_answered_at_its_deadline_unsent)
{
	struct Ingest *ing = setup(1, 0, 200, 1);
	int64_t started = clock_now_ms();

	submit(ing, 0);	/* takes the only connection, which hangs */
	submit(ing, 1);
	ck_assert_int_eq(nqueries, 1);
	for (int i = 0; i < 100 && clients[1].calls == 0; i++)
		run_for(10);
	ck_assert_int_eq(clients[1].calls, 1);
	ck_assert_int_eq(clients[1].outcome, INGEST_TIMEOUT);
	ck_assert_int_ge(clock_now_ms() - started, 190);
	ck_assert_int_lt(clock_now_ms() - started, 1000);
	ck_assert_int_eq(nqueries, 1);	/* never sent, so nothing was stored */
	ck_assert_int_eq(clients[0].calls, 0);	/* the query in flight answers for itself */
	answer_status(0, PG_TIMEOUT, "canceling statement due to statement timeout");
	ck_assert_int_eq(clients[0].outcome, INGEST_TIMEOUT);
	teardown(ing);
}
END_TEST

START_TEST(what_is_still_waiting_at_shutdown_is_answered)
{
	struct Ingest *ing = setup(100, 1000, 5000, 1);

	submit(ing, 0);
	submit(ing, 1);
	ck_assert_int_eq(nqueries, 0);
	ingest_free(ing);
	for (int k = 0; k < 2; k++) {
		ck_assert_int_eq(clients[k].calls, 1);
		ck_assert_int_eq(clients[k].outcome, INGEST_UNAVAILABLE);
	}
	event_base_free(base);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ingest");
	TCase *tc = tcase_create("ingest");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, requests_arriving_together_share_one_transaction);
	tcase_add_test(tc, a_full_batch_leaves_at_once_and_no_more_are_in_flight_than_allowed);
	tcase_add_test(tc, each_row_gets_its_own_outcome);
	tcase_add_test(tc, a_refused_batch_is_retried_row_by_row_so_only_the_bad_row_fails);
	tcase_add_test(tc, pool_failures_become_the_outcomes_the_api_answers_with);
	tcase_add_test(tc, a_batch_that_gets_no_connection_is_answered_at_its_deadline_unsent);
	tcase_add_test(tc, what_is_still_waiting_at_shutdown_is_answered);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
