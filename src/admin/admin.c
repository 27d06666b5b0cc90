#include "autoconfig.h"

#include "admin/admin.h"

#include "admin/assets.h"
#include "infra/alloc.h"
#include "infra/httpserver.h"
#include "infra/log.h"
#include "infra/metrics.h"
#include "infra/pgpool.h"
#include "infra/uuid.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* An operator's browser or two and a Prometheus scraper; more is a misuse, answered 503. */
#define ADMIN_MAX_CONNECTIONS 64
/* Only GET and HEAD are served: a body is never read, so a small one suffices before the 405. */
#define ADMIN_MAX_BODY 1024
/* As on the API's listener: a kept-alive browser waits this long between refreshes. */
#define ADMIN_IDLE_TIMEOUT_MS 60000
/* The recent requests the page lists: a screenful. */
#define RECENT_REQUESTS "50"

#define API_PREFIX "/ui/api/"
#define REQUESTS_PATH API_PREFIX "requests"

/* The page may load only its own files and JSON: no inline script, no other origin. */
static const char csp[] = "default-src 'self'";

struct Admin {
	struct PgPool *pool;
	struct HttpServer *http;	/* NULL: the page is served on the API's listener */
	char listen_host[256];		/* admin.listen's host, without brackets: a Host the page answers to */
};

/* One JSON read waiting for the database. */
struct PendingRead {
	struct HttpExchange *x;
	const char *what;	/* for the 404 and the log: "request", "status" */
};

static void common_headers(struct HttpExchange *x)
{
	httpx_add_header(x, "Content-Security-Policy", csp);
	httpx_add_header(x, "X-Content-Type-Options", "nosniff");
	httpx_add_header(x, "X-Frame-Options", "DENY");
	httpx_add_header(x, "Referrer-Policy", "no-referrer");
	httpx_add_header(x, "Cache-Control", "no-store");
}

static void reply_bytes(struct HttpExchange *x, const char *content_type, const void *data, size_t len)
{
	struct evbuffer *buf = evbuffer_new();

	if (!buf || evbuffer_add(buf, data, len) != 0)
		fatal("out of memory");
	httpx_reply(x, 200, content_type, buf);
	evbuffer_free(buf);
}

static const char *content_type_of(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (dot && strcmp(dot, ".css") == 0)
		return "text/css; charset=utf-8";
	if (dot && strcmp(dot, ".js") == 0)
		return "text/javascript; charset=utf-8";
	return "text/html; charset=utf-8";
}

/* "/ui" is ui.html; "/ui/NAME" one of the other embedded files. */
static const struct AdminAsset *asset_for(const char *path)
{
	const char *name = strcmp(path, "/ui") == 0 || strcmp(path, "/ui/") == 0 ? "ui.html" : NULL;

	if (!name && strncmp(path, "/ui/", 4) == 0 && strcmp(path + 4, "ui.html") != 0)
		name = path + 4;
	for (const struct AdminAsset *a = admin_assets; name && a->name; a++) {
		if (strcmp(a->name, name) == 0)
			return a;
	}
	return NULL;
}

static void read_done(enum PgStatus st, PGresult *res, const char *err, void *arg)
{
	struct PendingRead *r = arg;
	struct HttpExchange *x = r->x;
	char detail[128];

	if (st == PG_TIMEOUT || st == PG_INTERRUPTED) {
		log_warning("admin: %s: the database did not answer in time: %s", httpx_path(x), err ? err : "");
		httpx_add_header(x, "Retry-After", "1");
		httpx_problem(x, 503, "database-timeout", "Service Unavailable",
			      "the database did not answer within database.query_timeout; retry later", NULL);
	} else if (st == PG_UNAVAILABLE) {
		log_debug("admin: %s: the database is unavailable: %s", httpx_path(x), err ? err : "");
		httpx_add_header(x, "Retry-After", "1");
		httpx_problem(x, 503, "database-unavailable", "Service Unavailable",
			      "the database is unavailable; retry later", NULL);
	} else if (st != PG_OK || PQntuples(res) != 1) {
		log_error("admin: %s: reading the %s failed: %s", httpx_path(x), r->what,
			  err ? err : "not one row");
		httpx_problem(x, 500, "internal-error", "Internal Server Error",
			      "the status could not be read (the daemon's log has the cause)", NULL);
	} else if (PQgetisnull(res, 0, 0)) {
		snprintf(detail, sizeof(detail), "no %s has this id", r->what);
		httpx_problem(x, 404, "not-found", "Not Found", detail, NULL);
	} else {
		reply_bytes(x, "application/json", PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
	}
	free(r);
}

/* The JSON a SQL function returns, as it returns it. */
static void read_json(struct Admin *a, struct HttpExchange *x, const char *what, const char *sql, const char *param)
{
	struct PendingRead *r = xcalloc(1, sizeof(*r));

	r->x = x;
	r->what = what;
	pgpool_query(a->pool, sql, param ? 1 : 0, param ? &param : NULL, read_done, r);
}

static void handle_api(struct Admin *a, struct HttpExchange *x, const char *path)
{
	const char *id;

	if (strcmp(path, API_PREFIX "status") == 0) {
		read_json(a, x, "status", "SELECT chargegate.status_report()::text", NULL);
	} else if (strcmp(path, REQUESTS_PATH) == 0) {
		read_json(a, x, "requests", "SELECT chargegate.recent_requests($1::int)::text", RECENT_REQUESTS);
	} else if (strncmp(path, REQUESTS_PATH "/", strlen(REQUESTS_PATH) + 1) == 0) {
		id = path + strlen(REQUESTS_PATH) + 1;
		if (!uuid_is_canonical(id, strlen(id)))
			httpx_problem(x, 400, "invalid-request-id", "Bad Request",
				      "a request id is a UUID in the 8-4-4-4-12 hexadecimal form", NULL);
		else
			read_json(a, x, "charging-session request", "SELECT chargegate.request_story($1::uuid)::text",
				  id);
	} else {
		httpx_problem(x, 404, "not-found", "Not Found", "no such resource on the status page", NULL);
	}
}

/* The host part of a Host header value (brackets kept on an IPv6 literal) into out; false when too long. */
static bool host_part(const char *value, char *out, size_t outsize)
{
	const char *end = value[0] == '[' ? strchr(value, ']') : strrchr(value, ':');
	size_t len = end ? (size_t)(end - value) + (value[0] == '[') : strlen(value);

	if (len == 0 || len >= outsize)
		return false;
	memcpy(out, value, len);
	out[len] = '\0';
	return true;
}

static bool is_ip_literal(const char *host)
{
	unsigned char addr[16];
	char v6[64];
	size_t len = strlen(host);

	if (inet_pton(AF_INET, host, addr) == 1)
		return true;
	if (host[0] != '[' || len < 3 || len - 2 >= sizeof(v6) || host[len - 1] != ']')
		return false;
	memcpy(v6, host + 1, len - 2);
	v6[len - 2] = '\0';
	return inet_pton(AF_INET6, v6, addr) == 1;
}

/*
 * DNS rebinding: a web site the operator visits can point its own name at
 * 127.0.0.1 and read the keyless page through the browser.  Its requests
 * carry that name in Host, so the page answers only to a name that cannot
 * be rebound: an IP literal, localhost, or the host admin.listen names.
 * A request without Host (HTTP/1.0) comes from no browser.
 */
static bool host_allowed(const struct Admin *a, const char *value)
{
	char host[256];

	if (!value)
		return true;
	if (!host_part(value, host, sizeof(host)))
		return false;
	if (is_ip_literal(host) || strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0)
		return true;
	if (host[0] == '[')
		return false;
	return strcasecmp(host, a->listen_host) == 0;
}

bool admin_owns_path(const char *path)
{
	return strcmp(path, "/ui") == 0 || strncmp(path, "/ui/", 4) == 0;
}

void admin_serve(struct HttpExchange *x, void *arg)
{
	struct Admin *a = arg;
	const char *path = httpx_path(x);
	const struct AdminAsset *asset;
	char detail[128];

	common_headers(x);
	if (!host_allowed(a, httpx_header(x, "Host"))) {
		log_debug("admin: %s: refused a Host that is neither an IP address, localhost nor admin.listen's host",
			  path);
		httpx_problem(x, 421, "misdirected-request", "Misdirected Request",
			      "the status page answers only to an IP address, localhost or the host of admin.listen "
			      "in the Host header (a defence against DNS rebinding)", NULL);
	} else if (strcmp(httpx_method(x), "GET") != 0) {	/* HEAD arrives as GET */
		snprintf(detail, sizeof(detail), "the status page is read-only: %s is not allowed, only GET and HEAD",
			 httpx_method(x));
		httpx_add_header(x, "Allow", "GET, HEAD");
		httpx_problem(x, 405, "method-not-allowed", "Method Not Allowed", detail, NULL);
	} else if (strcmp(path, "/metrics") == 0) {
		metrics_serve(x);
	} else if (strncmp(path, API_PREFIX, strlen(API_PREFIX)) == 0) {
		handle_api(a, x, path);
	} else if ((asset = asset_for(path)) != NULL) {
		reply_bytes(x, content_type_of(asset->name), asset->data, asset->len);
	} else {
		httpx_problem(x, 404, "not-found", "Not Found", "no such resource; the status page is at /ui", NULL);
	}
}

struct Admin *admin_new_shared(struct PgPool *pool, const char *listen)
{
	struct Admin *a = xcalloc(1, sizeof(*a));
	char err[256];

	/* validated at start (config_check_startup): on a failure no name is trusted beyond IP literals */
	if (!httpserver_listen_host(listen, a->listen_host, sizeof(a->listen_host), err, sizeof(err)))
		a->listen_host[0] = '\0';
	a->pool = pool;
	return a;
}

struct Admin *admin_new(struct event_base *base, struct PgPool *pool, const char *listen,
			int64_t request_timeout_ms, char *err, size_t errsize)
{
	struct Admin *a = admin_new_shared(pool, listen);
	struct HttpLimits limits = {
		.max_connections = ADMIN_MAX_CONNECTIONS,
		.request_timeout_ms = request_timeout_ms,
		.idle_timeout_ms = ADMIN_IDLE_TIMEOUT_MS,
		.max_body = ADMIN_MAX_BODY,
	};

	a->http = httpserver_new(base, listen, &limits, admin_serve, a, err, errsize);
	if (!a->http) {
		free(a);
		return NULL;
	}
	return a;
}

void admin_stop_accepting(struct Admin *a)
{
	if (a && a->http)
		httpserver_stop_accepting(a->http);
}

int admin_pending(const struct Admin *a)
{
	return a && a->http ? httpserver_pending(a->http) : 0;
}

void admin_free(struct Admin *a)
{
	if (!a)
		return;
	httpserver_free(a->http);
	free(a);
}
