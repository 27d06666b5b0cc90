#include "autoconfig.h"

#include "notification/deliverystats.h"

#include "infra/alloc.h"
#include "infra/httpclient.h"
#include "infra/metrics.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The error classes of DESIGN §5, with http_NNN by hundreds. */
enum FailClass { FC_DNS, FC_CONNECT, FC_TLS, FC_TIMEOUT, FC_BLOCKED, FC_HTTP_3XX, FC_HTTP_4XX, FC_HTTP_5XX,
		 FC_HTTP_OTHER, FC_COUNT };

static const char *const class_names[FC_COUNT] = {
	[FC_DNS] = "dns",	  [FC_CONNECT] = "connect",	[FC_TLS] = "tls",
	[FC_TIMEOUT] = "timeout", [FC_BLOCKED] = "blocked_address", [FC_HTTP_3XX] = "http_3xx",
	[FC_HTTP_4XX] = "http_4xx", [FC_HTTP_5XX] = "http_5xx",	[FC_HTTP_OTHER] = "http_other",
};

struct DeliveryStats {
	uint64_t *delivered, *failed;
	uint64_t *failures[FC_COUNT];
	struct MetricsHistogram *latency;
};

struct DeliveryStats *deliverystats_new(void)
{
	struct DeliveryStats *ds = xcalloc(1, sizeof(*ds));
	const char *help = "Callback attempts that ended, by outcome: delivered (a 2xx answer) or failed.";
	char labels[64];

	ds->delivered = metrics_counter("chargegate_callback_attempts_total", "outcome=\"delivered\"", help);
	ds->failed = metrics_counter("chargegate_callback_attempts_total", "outcome=\"failed\"", help);
	for (int i = 0; i < FC_COUNT; i++) {
		snprintf(labels, sizeof(labels), "error_class=\"%s\"", class_names[i]);
		ds->failures[i] = metrics_counter("chargegate_callback_failures_total", labels,
						  "Failed callback attempts by error class (http_NNN by hundreds).");
	}
	ds->latency = metrics_histogram("chargegate_callback_duration_seconds", NULL,
					"Duration of callback attempts, from sending to the answer or the error.");
	return ds;
}

void deliverystats_free(struct DeliveryStats *ds)
{
	free(ds);
}

static enum FailClass fail_class(const struct HttpClientResponse *r)
{
	switch (r->error) {
	case HTTPC_ERR_DNS:
		return FC_DNS;
	case HTTPC_ERR_TLS:
		return FC_TLS;
	case HTTPC_ERR_TIMEOUT:
		return FC_TIMEOUT;
	case HTTPC_ERR_BLOCKED_ADDRESS:
		return FC_BLOCKED;
	case HTTPC_OK:
		break;
	default:
		return FC_CONNECT;
	}
	if (r->status >= 300 && r->status <= 399)
		return FC_HTTP_3XX;
	if (r->status >= 400 && r->status <= 499)
		return FC_HTTP_4XX;
	if (r->status >= 500 && r->status <= 599)
		return FC_HTTP_5XX;
	return FC_HTTP_OTHER;
}

void deliverystats_attempt(struct DeliveryStats *ds, const struct HttpClientResponse *r, bool delivered)
{
	if (delivered) {
		(*ds->delivered)++;
	} else {
		(*ds->failed)++;
		(*ds->failures[fail_class(r)])++;
	}
	/* a refused address was never sent: its zero latency would flatter the histogram */
	if (r->error != HTTPC_ERR_BLOCKED_ADDRESS)
		metrics_observe(ds->latency, (double)r->latency_ms / 1000.0);
}
