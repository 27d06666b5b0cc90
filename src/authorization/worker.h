/*
 * The Authorization worker: consumes StartChargingSessionRequestCommand,
 * re-validates it (invalid -> decision "invalid" without a call), asks the
 * authorization service (DESIGN §4) and, with the batch's acknowledgement,
 * writes the audit rows and the AuthorizationDecisionCallback events.
 *
 * Isolation (DESIGN §5): the worker has its own HTTP client and capacity
 * (authorization.concurrency), never shared with callbacks, and claims only
 * what it can send at once.  authorization.timeout counts from the moment
 * the worker takes a request: no answer by then makes the decision
 * "unknown", whatever else is busy.
 */
#ifndef CHARGEGATE_AUTHZ_WORKER_H
#define CHARGEGATE_AUTHZ_WORKER_H

#include <stdint.h>

struct event_base;
struct Transport;
struct QueueSettings;
struct AuthzWorker;

struct AuthzWorker *authz_worker_new(struct event_base *base, struct Transport *t, const struct QueueSettings *qs,
				     const char *url, int64_t timeout_ms, int concurrency);
/* Shutdown, before the database pool goes: calls in flight are cancelled. */
void authz_worker_cancel(struct AuthzWorker *w);
void authz_worker_free(struct AuthzWorker *w);
int authz_worker_busy(const struct AuthzWorker *w);

#endif
