#include "autoconfig.h"

#include "request/apikeys.h"

#include "infra/alloc.h"
#include "infra/apikey.h"
#include "infra/clock.h"
#include "infra/log.h"
#include "infra/metrics.h"
#include "infra/pgarray.h"
#include "infra/pgpool.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char snapshot_sql[] = "SELECT id, key_hash, revoked FROM chargegate.api_key_snapshot($1::bigint[])";

struct Entry {
	unsigned char hash[APIKEY_HASH_LEN];
	int64_t id;
	bool revoked;
	bool used;		/* reported as used since this snapshot arrived */
};

struct ApiKeys {
	struct PgPool *pool;
	struct event timer;
	struct Entry *entries;	/* sorted by hash */
	int n;
	int64_t fresh_until_ms;	/* monotonic; 0: no snapshot yet */
	bool failing;		/* the last read failed (logged once per outage) */
	int64_t *used;		/* ids to report with the next read */
	int nused, capused;
	uint64_t *refused[APIKEY_UNCHECKED + 1];
};

static int by_hash(const void *a, const void *b)
{
	return memcmp(((const struct Entry *)a)->hash, ((const struct Entry *)b)->hash, APIKEY_HASH_LEN);
}

static void schedule(struct ApiKeys *ks, int64_t ms)
{
	struct timeval tv = clock_timeval(ms);

	if (evtimer_add(&ks->timer, &tv) != 0)
		fatal("apikeys: could not arm the refresh timer");
}

/* The rows as a sorted table; false (and the old table kept) when one is malformed. */
static bool load_entries(struct ApiKeys *ks, PGresult *res)
{
	int n = PQntuples(res);
	struct Entry *e = xcalloc((size_t)n + 1, sizeof(*e));

	for (int i = 0; i < n; i++) {
		e[i].id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		e[i].revoked = PQgetvalue(res, i, 2)[0] == 't';
		if (!apikey_hash_from_hex(PQgetvalue(res, i, 1), e[i].hash)) {
			log_error("api keys: key %lld has a malformed hash in chargegate.api_key; keeping the previous "
				  "snapshot", (long long)e[i].id);
			free(e);
			return false;
		}
	}
	qsort(e, (size_t)n, sizeof(*e), by_hash);
	free(ks->entries);
	ks->entries = e;
	ks->n = n;
	return true;
}

struct Read {
	struct ApiKeys *ks;
	int64_t sent_ms;
};

static void snapshot_done(enum PgStatus st, PGresult *res, const char *err, void *arg)
{
	struct Read *r = arg;
	struct ApiKeys *ks = r->ks;
	int64_t sent_ms = r->sent_ms;

	free(r);
	if (st != PG_OK) {
		if (!ks->failing)
			log_warning("api keys: could not read chargegate.api_key (requests are answered 503 once the "
				 "snapshot is older than %d ms): %s", APIKEYS_MAX_STALE_MS, err ? err : "no answer");
		ks->failing = true;
		schedule(ks, APIKEYS_REFRESH_MS);
		return;
	}
	if (load_entries(ks, res)) {
		/* trusted from when it was asked for: a revocation may have committed right after */
		ks->fresh_until_ms = sent_ms + APIKEYS_MAX_STALE_MS;
		if (ks->failing)
			log_info("api keys: read again (%d keys)", ks->n);
		ks->failing = false;
	}
	schedule(ks, APIKEYS_REFRESH_MS);
}

static void read_snapshot(evutil_socket_t fd, short what, void *arg)
{
	struct ApiKeys *ks = arg;
	struct PgArray used = PGARRAY_INIT;
	struct Read *r = xmalloc(sizeof(*r));
	char *literal;

	(void)fd;
	(void)what;
	for (int i = 0; i < ks->nused; i++)
		pgarray_int(&used, ks->used[i]);
	ks->nused = 0;
	literal = pgarray_finish(&used);
	r->ks = ks;
	r->sent_ms = clock_now_ms();
	pgpool_query(ks->pool, snapshot_sql, 1, (const char *const *)&literal, snapshot_done, r);
	free(literal);
}

static void note_used(struct ApiKeys *ks, struct Entry *e)
{
	if (e->used)
		return;
	e->used = true;
	if (ks->nused == ks->capused) {
		int cap = ks->capused ? 2 * ks->capused : 16;
		int64_t *p = xrealloc(ks->used, (size_t)cap * sizeof(*p));

		ks->used = p;
		ks->capused = cap;
	}
	ks->used[ks->nused++] = e->id;
}

static enum ApiKeyVerdict judge(struct ApiKeys *ks, const char *authorization, int64_t *key_id)
{
	struct Entry probe, *e;
	const char *token;
	size_t len;

	if (!apikey_bearer_token(authorization, &token, &len))
		return APIKEY_MISSING;
	if (ks->fresh_until_ms == 0 || clock_now_ms() > ks->fresh_until_ms) {
		if (!ks->failing && ks->fresh_until_ms != 0)
			log_warning("api keys: chargegate.api_key has not been read for %d ms (the database has not "
				    "answered): requests are answered 503 until it is", APIKEYS_MAX_STALE_MS);
		ks->failing = ks->fresh_until_ms != 0;
		return APIKEY_UNCHECKED;
	}
	/* the lookup is by the hash of what was sent: its timing says nothing about a key */
	apikey_hash(token, len, probe.hash);
	e = bsearch(&probe, ks->entries, (size_t)ks->n, sizeof(*e), by_hash);
	if (!e)
		return APIKEY_UNKNOWN;
	if (e->revoked)
		return APIKEY_REVOKED;
	note_used(ks, e);
	*key_id = e->id;
	return APIKEY_OK;
}

enum ApiKeyVerdict apikeys_check(struct ApiKeys *ks, const char *authorization, int64_t *key_id)
{
	enum ApiKeyVerdict v = judge(ks, authorization, key_id);

	if (v != APIKEY_OK)
		(*ks->refused[v])++;
	return v;
}

static double key_count(void *arg)
{
	const struct ApiKeys *ks = arg;
	int active = 0;

	for (int i = 0; i < ks->n; i++)
		active += !ks->entries[i].revoked;
	return active;
}

static double snapshot_age(void *arg)
{
	const struct ApiKeys *ks = arg;

	if (ks->fresh_until_ms == 0)
		return -1;
	return (double)(clock_now_ms() - (ks->fresh_until_ms - APIKEYS_MAX_STALE_MS)) / 1000.0;
}

static void register_metrics(struct ApiKeys *ks)
{
	static const char help[] = "Requests to /v1 refused for their API key, by reason (unchecked: answered 503).";

	ks->refused[APIKEY_MISSING] = metrics_counter("chargegate_api_key_refusals_total", "reason=\"missing\"", help);
	ks->refused[APIKEY_UNKNOWN] = metrics_counter("chargegate_api_key_refusals_total", "reason=\"unknown\"", help);
	ks->refused[APIKEY_REVOKED] = metrics_counter("chargegate_api_key_refusals_total", "reason=\"revoked\"", help);
	ks->refused[APIKEY_UNCHECKED] =
		metrics_counter("chargegate_api_key_refusals_total", "reason=\"unchecked\"", help);
	metrics_gauge("chargegate_api_keys", NULL, "Active (not revoked) API keys in this daemon's snapshot.",
		      key_count, ks);
	metrics_gauge("chargegate_api_key_snapshot_age_seconds", NULL,
		      "Age of this daemon's API key snapshot (-1: none yet); beyond 4 s requests are answered 503.",
		      snapshot_age, ks);
}

struct ApiKeys *apikeys_new(struct event_base *base, struct PgPool *pool)
{
	struct ApiKeys *ks = xcalloc(1, sizeof(*ks));

	ks->pool = pool;
	if (evtimer_assign(&ks->timer, base, read_snapshot, ks) != 0)
		fatal("apikeys: could not create the refresh timer");
	register_metrics(ks);
	schedule(ks, 0);
	return ks;
}

void apikeys_free(struct ApiKeys *ks)
{
	if (!ks)
		return;
	evtimer_del(&ks->timer);
	free(ks->entries);
	free(ks->used);
	free(ks);
}
