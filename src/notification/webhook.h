/*
 * The headers of one webhook attempt, callbacks and failure notices alike
 * (DESIGN §5, Standard Webhooks): webhook-id, the same on every attempt of
 * one message; webhook-timestamp, fresh on each; webhook-signature when a
 * signing key is set (both signatures during a rotation).
 */
#ifndef CHARGEGATE_WEBHOOK_H
#define CHARGEGATE_WEBHOOK_H

#include "infra/signing.h"

struct WebhookHeaders {
	const char *list[8];	/* NULL-terminated: HttpClientRequest.headers */
	char id[80], timestamp[48], signature[SIGNING_HEADER_SIZE + 32];
};

/* Fills h for body, signed with key (and previous) when key is not NULL. */
void webhook_headers(struct WebhookHeaders *h, const struct SigningKey *key, const struct SigningKey *previous,
		     const char *webhook_id, const char *body);

#endif
