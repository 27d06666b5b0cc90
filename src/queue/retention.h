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

/* Policies are copied (their strings must outlive r). */
struct Retention *retention_new(struct event_base *base, struct PgPool *pool, const struct RetentionPolicy *policies,
				int npolicies);
void retention_free(struct Retention *r);

#endif
