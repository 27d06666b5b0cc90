/*
 * The rows of chargegate.claim_messages() as QueueMessages, read by column
 * name: the PostgreSQL transport claims through it, and the Kafka module
 * for the retries it keeps in PostgreSQL.
 */
#ifndef CHARGEGATE_CLAIMROWS_H
#define CHARGEGATE_CLAIMROWS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

struct QueueMessage;

/*
 * Fill msgs[0..PQntuples(res)) (zeroed by the caller; payloads are
 * malloc'd, freed with transport_free_messages).  false with the reason in
 * err when res lacks one of the function's columns: a schema that does not
 * match this build, which must fail loudly.
 */
bool claimrows_decode(PGresult *res, struct QueueMessage *msgs, char *err, size_t errsize);

#endif
