#include "autoconfig.h"

#include "queue/settle.h"

#include "infra/pgarray.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { A_HANDLED, A_LEASES, A_FENCES, A_FAIL_IDS, A_FAIL_LEASES, A_FAIL_DELAYS, A_FAIL_ERRORS, A_POSTPONED, A_N };

static const char settle_batches_sql[] =
	"SELECT batch_id, outcome FROM chargegate.settle_batches($1, $2, $3::bigint[], $4::bigint[], $5::bigint[], "
	"$6::bigint[], $7::int[], $8::text[], $9::int, $10::boolean, $11::boolean[])";
static const char record_handled_sql[] = "SELECT chargegate.record_handled($1, $2::uuid[])";

/* Messages arrive grouped by lease; each lease is listed once. */
static bool lease_seen(const struct SettleRequest *req, int upto, int64_t lease_id)
{
	for (int j = upto - 1; j >= 0; j--) {
		if (req->msgs[j].lease_id == lease_id)
			return true;
	}
	return false;
}

/* A message that is not acknowledged: a retry, a dead letter or postponed. */
static void add_failure(struct PgArray *a, const struct QueueMessage *m, const struct QueueOutcome *o)
{
	pgarray_int(&a[A_FAIL_IDS], m->id);
	pgarray_int(&a[A_FAIL_LEASES], m->lease_id);
	if (o->result == QUEUE_DEAD)
		pgarray_null(&a[A_FAIL_DELAYS]);	/* a permanent failure */
	else
		pgarray_int(&a[A_FAIL_DELAYS], o->retry_after_ms);
	pgarray_text(&a[A_FAIL_ERRORS], o->error ? o->error : "failed");
	pgarray_bool(&a[A_POSTPONED], o->result == QUEUE_POSTPONE);
}

static void collect(struct SettleSql *s, const struct SettleRequest *req, struct PgArray *a)
{
	for (int i = 0; i < req->n; i++) {
		const struct QueueMessage *m = &req->msgs[i];
		const struct QueueOutcome *o = &req->outcomes[i];

		if (o->result == QUEUE_DONE && !m->handled) {
			pgarray_text(&a[A_HANDLED], m->event_id);
			s->handled_count++;
		}
		if (m->lease_id <= 0)
			continue;
		if (!lease_seen(req, i, m->lease_id)) {
			pgarray_int(&a[A_LEASES], m->lease_id);
			pgarray_int(&a[A_FENCES], m->fence);
			s->leases++;
		}
		if (o->result != QUEUE_DONE)
			add_failure(a, m, o);
	}
}

void settle_sql_build(struct SettleSql *s, const struct SettleRequest *req)
{
	struct PgArray a[A_N];

	memset(s, 0, sizeof(*s));
	for (int i = 0; i < A_N; i++)
		a[i] = (struct PgArray)PGARRAY_INIT;
	collect(s, req, a);
	for (int i = 0; i < A_N; i++)
		s->arrays[i] = pgarray_finish(&a[i]);
	snprintf(s->max_attempts, sizeof(s->max_attempts), "%d", req->max_attempts);
	s->settle_params[0] = req->subscription;
	s->settle_params[1] = req->owner;
	for (int i = A_LEASES; i <= A_FAIL_ERRORS; i++)
		s->settle_params[2 + i - A_LEASES] = s->arrays[i];
	s->settle_params[8] = s->max_attempts;
	s->settle_params[9] = req->require_leases ? "true" : "false";
	s->settle_params[10] = s->arrays[A_POSTPONED];
	s->settle = (struct PgStep){ settle_batches_sql, 11, s->settle_params };
	s->handled_params[0] = req->subscription;
	s->handled_params[1] = s->arrays[A_HANDLED];
	s->handled = (struct PgStep){ record_handled_sql, 2, s->handled_params };
}

void settle_sql_free(struct SettleSql *s)
{
	for (int i = 0; i < A_N; i++)
		free(s->arrays[i]);
	memset(s, 0, sizeof(*s));
}

int settle_sql_stale(PGresult *res, const struct QueueMessage *msgs, int n)
{
	int batch = PQfnumber(res, "batch_id"), outcome = PQfnumber(res, "outcome"), stale = 0;

	if (batch < 0 || outcome < 0)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		int64_t lease = atoll(PQgetvalue(res, i, batch));

		if (strcmp(PQgetvalue(res, i, outcome), "stale") != 0)
			continue;
		for (int k = 0; k < n; k++)
			stale += msgs[k].lease_id == lease;
	}
	return stale;
}
