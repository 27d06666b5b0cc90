#include "autoconfig.h"

#include "notification/webhook.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void webhook_headers(struct WebhookHeaders *h, const struct SigningKey *key, const struct SigningKey *previous,
		     const char *webhook_id, const char *body)
{
	char ts[24], sig[SIGNING_HEADER_SIZE];
	int n = 0;

	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	h->list[n++] = "Content-Type: application/json";
	h->list[n++] = "User-Agent: chargegate/" PACKAGE_VERSION;
	snprintf(h->id, sizeof(h->id), "webhook-id: %s", webhook_id);
	h->list[n++] = h->id;
	snprintf(h->timestamp, sizeof(h->timestamp), "webhook-timestamp: %s", ts);
	h->list[n++] = h->timestamp;
	if (key && signing_header(key, previous, webhook_id, ts, body, strlen(body), sig)) {
		snprintf(h->signature, sizeof(h->signature), "webhook-signature: %s", sig);
		h->list[n++] = h->signature;
	}
	h->list[n] = NULL;
}
