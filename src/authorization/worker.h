/*
 * The Authorization worker: consumes StartChargingSessionRequestCommand,
 * re-validates it (invalid -> decision "invalid" without a call), asks the
 * authorization service (DESIGN §4) and, with the batch's acknowledgement,
 * writes the audit rows and the AuthorizationDecisionCallback events.
 */
#ifndef CHARGEGATE_AUTHZ_WORKER_H
#define CHARGEGATE_AUTHZ_WORKER_H

#include <stdint.h>

struct event_base;
struct Transport;
struct HttpClient;
struct QueueSettings;
struct AuthzWorker;

struct AuthzWorker *authz_worker_new(struct event_base *base, struct Transport *t, struct HttpClient *http,
				     const struct QueueSettings *qs, const char *url, int64_t timeout_ms);
void authz_worker_free(struct AuthzWorker *w);
int authz_worker_busy(const struct AuthzWorker *w);

#endif
