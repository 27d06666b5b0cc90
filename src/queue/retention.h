/*
 * Retention: every few seconds each policy -- a purge function deleting
 * what is old and done in bounded batches -- runs once, and again at once
 * while it filled a batch, so that tables stay flat under steady load.
 * The daemon names the policies (queue.retention, request.retention); this
 * module only paces them.
 */
#ifndef CHARGEGATE_RETENTION_H
#define CHARGEGATE_RETENTION_H

#include <stdint.h>

struct event_base;
struct PgPool;
struct Retention;

struct RetentionPolicy {
	const char *name;	/* in logs: "queue", "requests" */
	const char *sql;	/* SELECT table_name, deleted FROM f($1::bigint retention_ms, $2::int limit) */
	int64_t retention_ms;
	int limit;		/* rows per table per call */
};

/*
 * The two policies, the same in the daemon and in chargegatectl purge.  A
 * queue purge deletes at most 5,000 rows per table per call: a few
 * milliseconds on a hot table, never long enough to hold up a relay's
 * claim.  A request purge takes 1,000 requests per call, each with about
 * five rows hanging off it (audit, attempts, key).  The _WAITING form waits
 * for the retention duty instead of returning nothing when a daemon holds it.
 */
#define RETENTION_QUEUE_SQL "SELECT table_name, deleted FROM chargegate.purge_expired($1::bigint, $2::int)"
#define RETENTION_QUEUE_LIMIT 5000
#define RETENTION_REQUESTS_SQL "SELECT table_name, deleted FROM chargegate.purge_requests($1::bigint, $2::int)"
#define RETENTION_REQUESTS_SQL_WAITING \
	"SELECT table_name, deleted FROM chargegate.purge_requests($1::bigint, $2::int, true)"
#define RETENTION_REQUESTS_LIMIT 1000

/* Policies are copied (their strings must outlive r). */
struct Retention *retention_new(struct event_base *base, struct PgPool *pool, const struct RetentionPolicy *policies,
				int npolicies);
void retention_free(struct Retention *r);

#endif
