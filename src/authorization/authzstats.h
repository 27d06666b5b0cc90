/*
 * Authorization figures for /metrics: decisions by value, calls that ended
 * "unknown" by cause (timeout, connection, a non-2xx status, an answer
 * that is not a decision), and the latency of every call.
 */
#ifndef CHARGEGATE_AUTHZSTATS_H
#define CHARGEGATE_AUTHZSTATS_H

#include <stdbool.h>

struct HttpClientResponse;
struct AuthzStats;

/* Registers every series at once, at zero. */
struct AuthzStats *authzstats_new(void);
void authzstats_free(struct AuthzStats *st);

/*
 * One decision made: r is the service's answer (NULL when no call was made,
 * as for "invalid"); bad_answer when a 2xx answer was not a decision.
 */
void authzstats_decided(struct AuthzStats *st, const char *decision, const struct HttpClientResponse *r,
			bool bad_answer);

#endif
