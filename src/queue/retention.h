/*
 * Retention: every few seconds, delete done rows older than queue.retention
 * in bounded batches (chargegate.purge_expired), so that tables stay flat
 * under steady load.
 */
#ifndef CHARGEGATE_RETENTION_H
#define CHARGEGATE_RETENTION_H

#include <stdint.h>

struct event_base;
struct PgPool;
struct Retention;

struct Retention *retention_new(struct event_base *base, struct PgPool *pool, int64_t retention_ms);
void retention_free(struct Retention *r);

#endif
