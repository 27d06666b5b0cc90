/*
 * Queue figures for /metrics: per outbox the rows waiting for the relay
 * and the age of the oldest one, per subscription its messages by state
 * and the age of the oldest undelivered one.  They are read from the
 * database every few seconds (a scrape never waits for a query) and are
 * the same in every daemon of one database: alerts take their max().
 */
#ifndef CHARGEGATE_QUEUESTATS_H
#define CHARGEGATE_QUEUESTATS_H

struct event_base;
struct PgPool;
struct QueueStats;

struct QueueStats *queuestats_new(struct event_base *base, struct PgPool *pool);
void queuestats_free(struct QueueStats *qs);

#endif
