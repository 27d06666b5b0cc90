/*
 * The PostgreSQL transport: topics emulated with tables (sql/002_topics.sql),
 * claims with FOR UPDATE SKIP LOCKED, wake-ups through a dedicated LISTEN
 * connection plus in-process wake-ups, and coalesced payload-free NOTIFYs.
 */
#ifndef CHARGEGATE_PGTRANSPORT_H
#define CHARGEGATE_PGTRANSPORT_H

#include <stdbool.h>

struct event_base;
struct PgPool;
struct Transport;

/*
 * pool runs the queue's queries; a sibling pool of one connection LISTENs
 * unless listen is false (poll-only mode, for PgBouncer transaction pooling).
 */
struct Transport *pgtransport_new(struct event_base *base, struct PgPool *pool, bool listen);

#endif
