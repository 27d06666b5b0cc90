/*
 * The statements of a settle transaction that both transports share:
 * settle_batches for the messages that came in leased batches
 * (QueueMessage.lease_id > 0) and record_handled for every message handled
 * now.  The PostgreSQL transport settles with exactly these; the Kafka
 * module adds its own for the messages it polled from Kafka.
 */
#ifndef CHARGEGATE_SETTLE_H
#define CHARGEGATE_SETTLE_H

#include "infra/pgpool.h"
#include "queue/transport.h"

#include <stdbool.h>

/* Built from a SettleRequest; the steps point into it until settle_sql_free(). */
struct SettleSql {
	struct PgStep settle;	/* valid when leases > 0 */
	struct PgStep handled;	/* valid when handled > 0 */
	int leases;
	int handled_count;
	/* owned parameter texts */
	char *arrays[8];
	char max_attempts[16];
	const char *settle_params[11];
	const char *handled_params[2];
};

void settle_sql_build(struct SettleSql *s, const struct SettleRequest *req);
void settle_sql_free(struct SettleSql *s);

/*
 * Messages of msgs[0..n) whose batch settle_batches' result res reports
 * "stale" (their lease had expired); -1 when res lacks its columns.
 */
int settle_sql_stale(PGresult *res, const struct QueueMessage *msgs, int n);

#endif
