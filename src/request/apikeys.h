/*
 * Who may use the API (DESIGN §3): the daemon checks "Authorization:
 * Bearer <key>" against the keys it holds in memory, a snapshot of
 * chargegate.api_key read about once a second.  A snapshot older than
 * APIKEYS_MAX_STALE_MS is not trusted: requests are answered 503 until a
 * fresh one arrives, so a revocation reaches every daemon within that time.
 */
#ifndef CHARGEGATE_APIKEYS_H
#define CHARGEGATE_APIKEYS_H

#include <stdint.h>

#define APIKEYS_REFRESH_MS 1000
#define APIKEYS_MAX_STALE_MS 4000

struct event_base;
struct PgPool;
struct ApiKeys;

enum ApiKeyVerdict {
	APIKEY_OK,
	APIKEY_MISSING,		/* no Authorization header, or not a Bearer token */
	APIKEY_UNKNOWN,		/* no key has this hash */
	APIKEY_REVOKED,
	APIKEY_UNCHECKED	/* no fresh snapshot: the database has not answered */
};

/* Starts reading snapshots on pool at once. */
struct ApiKeys *apikeys_new(struct event_base *base, struct PgPool *pool);
/* After the pool is freed (its callbacks must not outlive this). */
void apikeys_free(struct ApiKeys *ks);

/* Judges an Authorization header value (NULL: absent); *key_id is set for APIKEY_OK. */
enum ApiKeyVerdict apikeys_check(struct ApiKeys *ks, const char *authorization, int64_t *key_id);

#endif
