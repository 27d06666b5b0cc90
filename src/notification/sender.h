/*
 * The Notification context's sender: consumes AuthorizationDecisionCallback
 * (first attempt) and CallbackRetryRequested (later attempts) and POSTs the
 * decision to the request's callback_url per DESIGN §5 -- Standard Webhooks
 * headers and signature, no redirects, SSRF-checked addresses, 64 KiB of
 * answer read.  Each attempt is recorded, and its outcome published as
 * CallbackDeliverySucceeded or CallbackFailed (with the next attempt's time,
 * or final) in the same transaction as the acknowledgement.
 *
 * Isolation (DESIGN §5): the sender has its own HTTP client and capacity
 * (callback.concurrency), never shared with authorization calls, claims
 * only what it can start, and schedules each callback per destination
 * (destinations.h): a saturated or paused destination's deliveries are
 * postponed to the queue -- no attempt is made or counted -- and never
 * hold up the others.
 */
#ifndef CHARGEGATE_NOTIFICATION_SENDER_H
#define CHARGEGATE_NOTIFICATION_SENDER_H

#include <stdint.h>

struct event_base;
struct Transport;
struct HttpClient;
struct AddrPolicy;
struct SigningKey;
struct QueueSettings;
struct Sender;
struct PgPool;

struct SenderSettings {
	int concurrency;		/* callback.concurrency: deliveries in flight at once */
	int per_destination;		/* callback.per_destination_concurrency */
	int circuit_failures;		/* callback.circuit_failures */
	int64_t circuit_cooldown_ms;	/* callback.circuit_cooldown */
	int64_t timeout_ms;
	const int64_t *schedule_ms;	/* delays before attempts 2, 3, ... */
	int schedule_len;
	int64_t max_retry_after_ms;
	const struct AddrPolicy *policy;	/* copied by the HTTP client per request */
	const struct SigningKey *key;		/* NULL: unsigned */
	const struct SigningKey *previous_key;	/* NULL unless rotating */
};

/*
 * settings (and what it points to) must outlive the sender; pool records
 * circuit transitions (circuitlog.h) and must be freed between
 * sender_cancel() and sender_free().
 */
struct Sender *sender_new(struct event_base *base, struct Transport *t, struct PgPool *pool,
			  const struct QueueSettings *qs, const struct SenderSettings *settings);
/* The settings changed (a reload); concurrency needs a restart. */
void sender_reconfigure(struct Sender *s);
/*
 * Draining: this daemon's open circuits are recorded closed (they go with
 * it), and circuits that open from now on are not recorded;
 * sender_busy() counts those writes.
 */
void sender_stop(struct Sender *s);
/*
 * Shutdown, before the database pool goes: deliveries in flight are
 * cancelled and those waiting for a slot given back to the queue.
 */
void sender_cancel(struct Sender *s);
void sender_free(struct Sender *s);
int sender_busy(const struct Sender *s);

#endif
