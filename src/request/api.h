/*
 * The ChargingSessionRequest context's HTTP API (DESIGN §3):
 * POST/GET /v1/charging-sessions, /healthz, /readyz, /metrics.
 */
#ifndef CHARGEGATE_API_H
#define CHARGEGATE_API_H

/* Request bodies larger than this are answered 413 (DESIGN §3). */
#define API_MAX_BODY (16 * 1024)

struct HttpExchange;
struct PgPool;
struct Ingest;
struct ApiKeys;
struct Api;

/* keys: the API key snapshot, or NULL when http.api_keys is off (not owned). */
struct Api *api_new(struct PgPool *pool, struct Ingest *ingest, struct ApiKeys *keys, int schema_version);
void api_free(struct Api *api);

/* The server's handler: pass api as its argument. */
void api_handle(struct HttpExchange *x, void *api);

#endif
