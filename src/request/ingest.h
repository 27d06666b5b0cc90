/*
 * Group commit of accepted requests: concurrent POSTs are written by one
 * call of chargegate.accept_requests() -- one transaction for the batch --
 * and each caller is answered only after that commit.  A batch is sent when
 * it is full, when its bounded wait is over, or as soon as a database
 * connection frees up; a batch that fails is retried row by row so one bad
 * row fails only its own request.
 */
#ifndef CHARGEGATE_INGEST_H
#define CHARGEGATE_INGEST_H

#include <stdint.h>

struct event_base;
struct PgPool;
struct StartRequest;
struct Ingest;
struct IngestItem;

enum IngestOutcome {
	INGEST_CREATED,		/* committed: request row + command */
	INGEST_REPLAYED,	/* the Idempotency-Key was seen with the same body */
	INGEST_CONFLICT,	/* the Idempotency-Key was seen with another body */
	INGEST_UNAVAILABLE,	/* database unreachable: nothing was stored */
	INGEST_UNKNOWN,		/* the connection broke while the batch was committing: stored or not */
	INGEST_TIMEOUT,		/* not stored within the timeout (cancelled, or never sent): nothing was stored */
	INGEST_FAILED		/* the database refused this row */
};

/* request_id is set for CREATED, REPLAYED and CONFLICT; detail for failures. */
typedef void (*ingest_cb)(enum IngestOutcome outcome, const char *request_id, const char *detail, void *arg);

/* timeout_ms: every request is answered within it (database.query_timeout), stored or not. */
struct Ingest *ingest_new(struct event_base *base, struct PgPool *pool, int batch_size, int64_t batch_wait_ms,
			  int64_t timeout_ms, int max_inflight);
void ingest_free(struct Ingest *ing);

/*
 * api_key_id: the API key the request came with (0: none); the request
 * belongs to it and its Idempotency-Key is scoped to it.
 * The callback runs later from the loop, exactly once.
 * NULL (and no callback) when too many requests are waiting already.
 */
struct IngestItem *ingest_submit(struct Ingest *ing, const struct StartRequest *req, const char *idempotency_key,
				 int64_t api_key_id, ingest_cb cb, void *arg);

/* ingest.batch_wait changed by a reload: applies to the next batch. */
void ingest_set_batch_wait(struct Ingest *ing, int64_t batch_wait_ms);

/* Called after every batch that created at least one request committed. */
void ingest_on_commit(struct Ingest *ing, void (*cb)(void *arg), void *arg);

/* Items accepted but not yet answered (waiting or in flight). */
int ingest_pending(const struct Ingest *ing);

#endif
