#include "autoconfig.h"

#include "request/api.h"

#include "infra/alloc.h"
#include "infra/httpserver.h"
#include "infra/json.h"
#include "infra/log.h"
#include "infra/metrics.h"
#include "infra/migrate.h"
#include "infra/pgpool.h"
#include "infra/uuid.h"
#include "request/apikeys.h"
#include "request/ingest.h"
#include "request/validate.h"

#include <event2/buffer.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define COLLECTION "/v1/charging-sessions"

static const char accepted_message[] =
	"Request is being processed asynchronously. The result will be sent to the provided callback URL.";

#define SELECT_REQUEST \
	"SELECT request_id, station_id, status, decision, decision_reason, callback_attempts," \
	" to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')," \
	" to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')" \
	" FROM chargegate.charging_session_request WHERE request_id = $1"

static const char get_request_sql[] = SELECT_REQUEST;
/* With API keys on, a request is visible to the key that created it only. */
static const char get_own_request_sql[] = SELECT_REQUEST " AND api_key_id = $2";

struct Api {
	struct PgPool *pool;
	struct Ingest *ingest;
	struct ApiKeys *keys;	/* NULL: http.api_keys is off */
	int schema_version;
	uint64_t *accepted, *replayed, *rejected, *unavailable;
};

/*
 * One POST waiting for its group commit.  If the client leaves meanwhile the
 * exchange stays valid and the answer is dropped; the row is committed anyway.
 */
struct PendingPost {
	struct HttpExchange *x;
	struct IngestItem *item;
	struct Api *api;
	bool has_key;		/* sent with an Idempotency-Key */
};

/* One GET waiting for the database. */
struct PendingGet {
	struct HttpExchange *x;
	struct Api *api;
	int schema_version;	/* /readyz: what the first query found */
};

/* 5xx details are the product's words; the database's own go to the log only. */
static void problem_unavailable(struct HttpExchange *x, const char *what, const char *why)
{
	char detail[256];

	log_debug("api: %s %s: the database is unavailable: %s", httpx_method(x), httpx_path(x), why ? why : "");
	snprintf(detail, sizeof(detail), "the database is unavailable; %s, retry later", what);
	httpx_add_header(x, "Retry-After", "1");
	httpx_problem(x, 503, "database-unavailable", "Service Unavailable", detail, NULL);
}

/* The database did not finish in time (busy, or a lock held elsewhere). */
static void problem_timeout(struct HttpExchange *x, const char *what, const char *why)
{
	char detail[256];

	log_debug("api: %s %s: the database did not answer in time: %s", httpx_method(x), httpx_path(x),
		  why ? why : "");
	snprintf(detail, sizeof(detail), "the database did not answer within the time allowed; %s, retry later", what);
	httpx_add_header(x, "Retry-After", "1");
	httpx_problem(x, 503, "database-timeout", "Service Unavailable", detail, NULL);
}

/* The connection broke while the request was committing: it may or may not be stored. */
static void problem_unknown_outcome(struct HttpExchange *x, bool has_key)
{
	httpx_add_header(x, "Retry-After", "1");
	httpx_problem(x, 503, "outcome-unknown", "Service Unavailable",
		      has_key ? "the database connection was lost while the request was being stored: it may or may not "
				"have been accepted; retry with the same Idempotency-Key to get its outcome"
			      : "the database connection was lost while the request was being stored: it may or may not "
				"have been accepted; send an Idempotency-Key so that a retry cannot create it twice",
		      NULL);
}

static bool content_type_is_json(const char *ct)
{
	size_t n;

	if (!ct)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	n = strcspn(ct, "; \t");
	return n == strlen("application/json") && strncasecmp(ct, "application/json", n) == 0;
}

static void reply_accepted(struct HttpExchange *x, const char *request_id)
{
	struct json_object *body = json_new_object();
	char location[128];

	snprintf(location, sizeof(location), COLLECTION "/%s", request_id);
	json_set_string(body, "status", "accepted");
	json_set_string(body, "message", accepted_message);
	json_set_string(body, "request_id", request_id);
	httpx_add_header(x, "Location", location);
	httpx_reply_json(x, 202, "application/json", body);
	json_object_put(body);
}

static void post_done(enum IngestOutcome o, const char *request_id, const char *detail, void *arg)
{
	struct PendingPost *p = arg;
	struct HttpExchange *x = p->x;

	switch (o) {
	case INGEST_CREATED:
		(*p->api->accepted)++;
		log_debug_f(LOG_F(.request_id = request_id), "api: accepted");
		reply_accepted(x, request_id);
		break;
	case INGEST_REPLAYED:
		(*p->api->replayed)++;
		log_debug_f(LOG_F(.request_id = request_id),
			    "api: accepted again (a retry with the same Idempotency-Key)");
		reply_accepted(x, request_id);
		break;
	case INGEST_CONFLICT:
		/* no request id: the answer must not name another request */
		httpx_problem(x, 422, "idempotency-key-reused", "Unprocessable Content",
			      "this Idempotency-Key was already used with a different body", NULL);
		break;
	case INGEST_UNAVAILABLE:
		(*p->api->unavailable)++;
		problem_unavailable(x, "nothing was stored", detail);
		break;
	case INGEST_UNKNOWN:
		(*p->api->unavailable)++;
		problem_unknown_outcome(x, p->has_key);
		break;
	case INGEST_TIMEOUT:
		(*p->api->unavailable)++;
		problem_timeout(x, "nothing was stored", detail);
		break;
	case INGEST_FAILED:
		httpx_problem(x, 500, "internal-error", "Internal Server Error",
			      "the request could not be stored (the daemon's log has the cause); nothing was stored",
			      NULL);
		break;
	}
	free(p);
}

static void reject_invalid(struct Api *api, struct HttpExchange *x, const struct ValidationResult *res)
{
	struct json_object *errors = json_new_array();

	for (int i = 0; i < res->nerrors; i++) {
		struct json_object *e = json_new_object();

		json_set_string(e, "field", res->errors[i].field);
		json_set_string(e, "detail", res->errors[i].detail);
		json_append(errors, e);
	}
	(*api->rejected)++;
	httpx_problem(x, 400, "invalid-request", "Bad Request",
		      res->nerrors == 1 ? "the request has an invalid member" : "the request has invalid members",
		      errors);
}

static bool check_idempotency_key(struct Api *api, struct HttpExchange *x, const char *key)
{
	struct ValidationResult res = { 0 };

	if (!key || validate_idempotency_key(key, res.errors[0].detail, sizeof(res.errors[0].detail)))
		return true;
	res.nerrors = 1;
	snprintf(res.errors[0].field, sizeof(res.errors[0].field), "Idempotency-Key");
	reject_invalid(api, x, &res);
	return false;
}

static void handle_post(struct Api *api, struct HttpExchange *x, int64_t key_id)
{
	struct ValidationResult res = { 0 };
	struct StartRequest req = { 0 };
	const char *key = httpx_header(x, "Idempotency-Key");
	size_t len;
	const char *body = httpx_body(x, &len);
	struct PendingPost *p;

	if (len > API_MAX_BODY) {
		httpx_problem(x, 413, "body-too-large", "Content Too Large",
			      "the request body is larger than 16 KiB", NULL);
		return;
	}
	if (!content_type_is_json(httpx_header(x, "Content-Type"))) {
		httpx_problem(x, 415, "unsupported-media-type", "Unsupported Media Type",
			      "the request body must be sent with Content-Type: application/json", NULL);
		return;
	}
	if (!check_idempotency_key(api, x, key))
		return;
	if (!validate_start_request(body, len, &req, &res)) {
		reject_invalid(api, x, &res);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->x = x;
	p->api = api;
	p->has_key = key != NULL;
	p->item = ingest_submit(api->ingest, &req, key, key_id, post_done, p);
	start_request_free(&req);
	if (!p->item) {
		free(p);
		httpx_add_header(x, "Retry-After", "1");
		httpx_problem(x, 503, "overloaded", "Service Unavailable",
			      "too many requests are waiting for the database; nothing was stored, retry later", NULL);
		return;
	}
}

static struct json_object *nullable_string(PGresult *res, int col)
{
	return PQgetisnull(res, 0, col) ? NULL : json_object_new_string(PQgetvalue(res, 0, col));
}

static void get_done(enum PgStatus st, PGresult *res, const char *err, void *arg)
{
	struct PendingGet *g = arg;
	struct HttpExchange *x = g->x;
	struct json_object *body;

	free(g);
	if (st == PG_TIMEOUT || st == PG_INTERRUPTED) {
		problem_timeout(x, "the request could not be read", err);
		return;
	}
	if (st != PG_OK) {
		problem_unavailable(x, "the request could not be read", err);
		return;
	}
	if (PQntuples(res) == 0) {
		httpx_problem(x, 404, "not-found", "Not Found", "no charging-session request has this id", NULL);
		return;
	}
	body = json_new_object();
	json_set_string(body, "request_id", PQgetvalue(res, 0, 0));
	json_set_string(body, "station_id", PQgetvalue(res, 0, 1));
	json_set_string(body, "status", PQgetvalue(res, 0, 2));
	json_set(body, "decision", nullable_string(res, 3));
	if (!PQgetisnull(res, 0, 4))
		json_set_string(body, "reason", PQgetvalue(res, 0, 4));
	json_set_int(body, "callback_attempts", atoll(PQgetvalue(res, 0, 5)));
	json_set_string(body, "created_at", PQgetvalue(res, 0, 6));
	json_set_string(body, "updated_at", PQgetvalue(res, 0, 7));
	httpx_reply_json(x, 200, "application/json", body);
	json_object_put(body);
}

static void query_for(struct Api *api, struct HttpExchange *x, const char *sql, int n, const char *const *params,
		      pgpool_cb cb)
{
	struct PendingGet *g = xcalloc(1, sizeof(*g));

	g->x = x;
	g->api = api;
	pgpool_query(api->pool, sql, n, params, cb, g);
}

static void handle_get_one(struct Api *api, struct HttpExchange *x, const char *id, int64_t key_id)
{
	char key[24];
	const char *params[2] = { id, key };

	if (!uuid_is_canonical(id, strlen(id))) {
		httpx_problem(x, 404, "not-found", "Not Found", "no charging-session request has this id", NULL);
		return;
	}
	if (!api->keys) {
		query_for(api, x, get_request_sql, 1, params, get_done);
		return;
	}
	snprintf(key, sizeof(key), "%lld", (long long)key_id);
	query_for(api, x, get_own_request_sql, 2, params, get_done);
}

/* RFC 6750 §3: a 401 names the scheme, and error="invalid_token" when a token was sent. */
static void problem_unauthorized(struct HttpExchange *x, enum ApiKeyVerdict v)
{
	static const char *const detail[] = {
		[APIKEY_MISSING] = "this API needs an API key: send it as Authorization: Bearer <key>",
		[APIKEY_UNKNOWN] = "the API key is not valid",
		[APIKEY_REVOKED] = "the API key was revoked",
	};

	httpx_add_header(x, "WWW-Authenticate",
			 v == APIKEY_MISSING ? "Bearer realm=\"chargegate\""
					     : "Bearer realm=\"chargegate\", error=\"invalid_token\"");
	httpx_problem(x, 401, "unauthorized", "Unauthorized", detail[v], NULL);
}

/* The key a /v1 request is made with (0 with keys off); false when it has been answered. */
static bool authenticate(struct Api *api, struct HttpExchange *x, int64_t *key_id)
{
	enum ApiKeyVerdict v;

	*key_id = 0;
	if (!api->keys)
		return true;
	if (httpx_header_count(x, "Authorization") > 1) {
		struct ValidationResult res = { .nerrors = 1 };

		snprintf(res.errors[0].field, sizeof(res.errors[0].field), "Authorization");
		snprintf(res.errors[0].detail, sizeof(res.errors[0].detail), "send one Authorization header, not several");
		reject_invalid(api, x, &res);
		return false;
	}
	v = apikeys_check(api->keys, httpx_header(x, "Authorization"), key_id);
	if (v == APIKEY_OK)
		return true;
	if (v == APIKEY_UNCHECKED) {
		httpx_add_header(x, "Retry-After", "1");
		httpx_problem(x, 503, "database-unavailable", "Service Unavailable",
			      "API keys cannot be checked while the database is unavailable; nothing was done, "
			      "retry later", NULL);
		return false;
	}
	problem_unauthorized(x, v);
	return false;
}

/*
 * Ready means a POST can be stored now: besides the schema, the tables it
 * writes must not be locked away (a DBA's LOCK TABLE, a long migration).
 * ROW EXCLUSIVE is what an INSERT takes, so this conflicts exactly with
 * what would block one, and holds nothing once the probe commits.
 */
static const struct PgStep write_probe[] = {
	{ "SET LOCAL lock_timeout = 200", 0, NULL },
	{ "LOCK TABLE chargegate.charging_session_request, chargegate.charging_session_request_outbox,"
	  " chargegate.idempotency_key IN ROW EXCLUSIVE MODE", 0, NULL },
};

static void write_probe_done(enum PgStatus st, PGresult **results, int nsteps, const char *err, void *arg)
{
	struct PendingGet *g = arg;
	struct HttpExchange *x = g->x;
	struct json_object *body;
	int version = g->schema_version;

	(void)results;
	(void)nsteps;
	free(g);
	if (st == PG_TIMEOUT) {
		log_debug("api: /readyz: %s", err);
		httpx_add_header(x, "Retry-After", "1");
		httpx_problem(x, 503, "writes-blocked", "Service Unavailable",
			      "another database session holds a lock on the requests' tables: requests cannot be "
			      "stored until it is released", NULL);
		return;
	}
	if (st != PG_OK) {
		problem_unavailable(x, "not ready", err);
		return;
	}
	body = json_new_object();
	json_set_string(body, "status", "ready");
	json_set_int(body, "schema_version", version);
	httpx_reply_json(x, 200, "application/json", body);
	json_object_put(body);
}

static void readyz_done(enum PgStatus st, PGresult *res, const char *err, void *arg)
{
	struct PendingGet *g = arg;
	struct HttpExchange *x = g->x;
	int have = st == PG_OK && PQntuples(res) == 1 ? atoi(PQgetvalue(res, 0, 0)) : -1;
	char detail[512];

	if (have < 0) {
		free(g);
		problem_unavailable(x, "not ready", err ? err : "no answer");
		return;
	}
	if (have < g->api->schema_version) {
		snprintf(detail, sizeof(detail), "the schema is at version %d, this build needs %d: run chargegatectl migrate",
			 have, g->api->schema_version);
		free(g);
		httpx_problem(x, 503, "schema-behind", "Service Unavailable", detail, NULL);
		return;
	}
	g->schema_version = have;
	pgpool_tx(g->api->pool, write_probe, sizeof(write_probe) / sizeof(write_probe[0]), write_probe_done, g);
}

static void method_not_allowed(struct HttpExchange *x, const char *allow)
{
	char detail[128];

	snprintf(detail, sizeof(detail), "%s is not allowed here; allowed: %s", httpx_method(x), allow);
	httpx_add_header(x, "Allow", allow);
	httpx_problem(x, 405, "method-not-allowed", "Method Not Allowed", detail, NULL);
}

static bool is(const struct HttpExchange *x, const char *method)
{
	return strcmp(httpx_method(x), method) == 0;
}

static void handle_simple_get(struct Api *api, struct HttpExchange *x, const char *path)
{
	struct json_object *body;

	if (!is(x, "GET")) {
		method_not_allowed(x, "GET");
		return;
	}
	if (strcmp(path, "/readyz") == 0) {
		query_for(api, x, migrate_version_sql, 0, NULL, readyz_done);
		return;
	}
	if (strcmp(path, "/metrics") == 0) {
		metrics_serve(x);
		return;
	}
	body = json_new_object();
	json_set_string(body, "status", "ok");
	httpx_reply_json(x, 200, "application/json", body);
	json_object_put(body);
}

void api_handle(struct HttpExchange *x, void *arg)
{
	struct Api *api = arg;
	const char *path = httpx_path(x);
	int64_t key_id;

	if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 || strcmp(path, "/metrics") == 0) {
		handle_simple_get(api, x, path);
	} else if (strcmp(path, COLLECTION) == 0) {
		if (!is(x, "POST"))
			method_not_allowed(x, "POST");
		else if (authenticate(api, x, &key_id))
			handle_post(api, x, key_id);
	} else if (strncmp(path, COLLECTION "/", strlen(COLLECTION) + 1) == 0 &&
		   !strchr(path + strlen(COLLECTION) + 1, '/')) {
		if (!is(x, "GET"))
			method_not_allowed(x, "GET");
		else if (authenticate(api, x, &key_id))
			handle_get_one(api, x, path + strlen(COLLECTION) + 1, key_id);
	} else {
		httpx_problem(x, 404, "not-found", "Not Found", "no such resource", NULL);
	}
}

struct Api *api_new(struct PgPool *pool, struct Ingest *ingest, struct ApiKeys *keys, int schema_version)
{
	struct Api *api = xcalloc(1, sizeof(*api));

	api->pool = pool;
	api->ingest = ingest;
	api->keys = keys;
	api->schema_version = schema_version;
	api->accepted = metrics_counter("chargegate_requests_total", "outcome=\"accepted\"",
					"Charging-session requests by outcome.");
	api->replayed = metrics_counter("chargegate_requests_total", "outcome=\"replayed\"",
					"Charging-session requests by outcome.");
	api->rejected = metrics_counter("chargegate_requests_total", "outcome=\"invalid\"",
					"Charging-session requests by outcome.");
	api->unavailable = metrics_counter("chargegate_requests_total", "outcome=\"unavailable\"",
					   "Charging-session requests by outcome.");
	return api;
}

void api_free(struct Api *api)
{
	free(api);
}
