#include "autoconfig.h"

#include "authorization/authzstats.h"

#include "infra/alloc.h"
#include "infra/httpclient.h"
#include "infra/metrics.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const decision_names[] = { "allowed", "not_allowed", "unknown", "invalid" };
#define NDECISIONS (sizeof(decision_names) / sizeof(decision_names[0]))

enum Cause { CAUSE_TIMEOUT, CAUSE_CONNECT, CAUSE_HTTP_STATUS, CAUSE_BAD_ANSWER, CAUSE_COUNT };
static const char *const cause_names[CAUSE_COUNT] = { "timeout", "connect", "http_status", "bad_answer" };

struct AuthzStats {
	uint64_t *decisions[NDECISIONS];
	uint64_t *failures[CAUSE_COUNT];
	struct MetricsHistogram *latency;
};

struct AuthzStats *authzstats_new(void)
{
	struct AuthzStats *st = xcalloc(1, sizeof(*st));
	char labels[48];

	for (size_t i = 0; i < NDECISIONS; i++) {
		snprintf(labels, sizeof(labels), "decision=\"%s\"", decision_names[i]);
		st->decisions[i] = metrics_counter("chargegate_authorization_decisions_total", labels,
						   "Authorization decisions made, by decision.");
	}
	for (int i = 0; i < CAUSE_COUNT; i++) {
		snprintf(labels, sizeof(labels), "cause=\"%s\"", cause_names[i]);
		st->failures[i] = metrics_counter("chargegate_authorization_failures_total", labels,
						  "Authorization calls that ended \"unknown\" without the service "
						  "saying so, by cause.");
	}
	st->latency = metrics_histogram("chargegate_authorization_duration_seconds", NULL,
					"Duration of authorization calls, from sending to the answer or the error.");
	return st;
}

void authzstats_free(struct AuthzStats *st)
{
	free(st);
}

static void count_failure(struct AuthzStats *st, const struct HttpClientResponse *r, bool bad_answer)
{
	if (r->error == HTTPC_ERR_TIMEOUT)
		(*st->failures[CAUSE_TIMEOUT])++;
	else if (r->error != HTTPC_OK)
		(*st->failures[CAUSE_CONNECT])++;
	else if (r->status < 200 || r->status > 299)
		(*st->failures[CAUSE_HTTP_STATUS])++;
	else if (bad_answer)
		(*st->failures[CAUSE_BAD_ANSWER])++;
}

void authzstats_decided(struct AuthzStats *st, const char *decision, const struct HttpClientResponse *r,
			bool bad_answer)
{
	for (size_t i = 0; i < NDECISIONS; i++) {
		if (decision && strcmp(decision, decision_names[i]) == 0)
			(*st->decisions[i])++;
	}
	if (!r)
		return;
	count_failure(st, r, bad_answer);
	metrics_observe(st->latency, (double)r->latency_ms / 1000.0);
}
