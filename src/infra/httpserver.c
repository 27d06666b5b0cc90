#include "autoconfig.h"

#include "infra/httpserver.h"

#include "infra/log.h"
#include "infra/metrics.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HEADER_LIMIT (16 * 1024)
#define IDLE_TIMEOUT_SECS 60
#define SLOT_BUCKETS 4096

struct ConnSlot;

struct HttpServer {
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *sock;
	http_handler handler;
	void *arg;
	int max_connections;
	int connections;
	int pending;
	struct ConnSlot *slots[SLOT_BUCKETS];
	struct MetricsHistogram *latency;
	uint64_t *rejected_connections;
};

struct HttpExchange {
	struct HttpServer *srv;
	struct evhttp_request *req;	/* NULL once the client is gone */
	struct evhttp_connection *evcon;
	char method[16];
	char *path;
	struct timespec started;
};

/* Per-connection bookkeeping for the connection cap. */
struct ConnSlot {
	struct ConnSlot *next;		/* hash chain */
	struct HttpServer *srv;
	struct evhttp_connection *evcon;
	struct HttpExchange *pending;	/* evhttp answers one request per connection at a time */
};

static const char *method_name(enum evhttp_cmd_type t)
{
	switch (t) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE: return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH: return "PATCH";
	}
	return "UNKNOWN";
}

static double elapsed_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void exchange_free(struct HttpExchange *x)
{
	x->srv->pending--;
	free(x->path);
	free(x);
}

static unsigned slot_bucket(const struct evhttp_connection *evcon);

/* evhttp calls this when a connection closes, answered or not. */
static void conn_close_cb(struct evhttp_connection *evcon, void *arg)
{
	struct ConnSlot *slot = arg;
	struct HttpExchange *x = slot->pending;

	struct ConnSlot **pp = &slot->srv->slots[slot_bucket(evcon)];

	while (*pp != slot)
		pp = &(*pp)->next;
	*pp = slot->next;
	slot->srv->connections--;
	if (x) {
		x->req = NULL;
		x->evcon = NULL;
		log_debug("http: client went away before %s %s was answered", x->method, x->path);
	}
	free(slot);
}

static unsigned slot_bucket(const struct evhttp_connection *evcon)
{
	uintptr_t v = (uintptr_t)evcon;

	return (unsigned)((v >> 4) ^ (v >> 16)) % SLOT_BUCKETS;
}

static struct ConnSlot *slot_find(struct HttpServer *srv, const struct evhttp_connection *evcon)
{
	for (struct ConnSlot *s = srv->slots[slot_bucket(evcon)]; s; s = s->next) {
		if (s->evcon == evcon)
			return s;
	}
	return NULL;
}

/* evhttp 2.1 has no accept hook: a connection is counted at its first request. */
static struct ConnSlot *conn_slot(struct HttpServer *srv, struct evhttp_connection *evcon)
{
	struct ConnSlot *slot = slot_find(srv, evcon);
	unsigned b = slot_bucket(evcon);

	if (slot)
		return slot;
	slot = calloc(1, sizeof(*slot));
	if (!slot)
		fatal("out of memory");
	slot->srv = srv;
	slot->evcon = evcon;
	slot->next = srv->slots[b];
	srv->slots[b] = slot;
	srv->connections++;
	evhttp_connection_set_closecb(evcon, conn_close_cb, slot);
	return slot;
}

static char *request_path(struct evhttp_request *req)
{
	const char *uri = evhttp_request_get_uri(req);
	size_t n = strcspn(uri, "?#");
	char *path = malloc(n + 1);

	if (!path)
		fatal("out of memory");
	memcpy(path, uri, n);
	path[n] = '\0';
	return path;
}

static void gen_cb(struct evhttp_request *req, void *arg)
{
	struct HttpServer *srv = arg;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct ConnSlot *slot = conn_slot(srv, evcon);
	struct HttpExchange *x = calloc(1, sizeof(*x));

	if (!x)
		fatal("out of memory");
	x->srv = srv;
	x->req = req;
	x->evcon = evcon;
	snprintf(x->method, sizeof(x->method), "%s", method_name(evhttp_request_get_command(req)));
	x->path = request_path(req);
	clock_gettime(CLOCK_MONOTONIC, &x->started);
	srv->pending++;
	slot->pending = x;
	if (srv->connections > srv->max_connections) {
		(*srv->rejected_connections)++;
		httpx_add_header(x, "Connection", "close");
		httpx_problem(x, 503, "overloaded", "Service Unavailable",
			      "too many open connections; retry later", NULL);
		return;
	}
	srv->handler(x, srv->arg);
}

static bool parse_listen(const char *listen, char *host, size_t hostsize, int *port, char *err, size_t errsize)
{
	const char *colon = strrchr(listen, ':');
	char *end;
	long p;
	size_t hlen;

	if (!colon || colon == listen) {
		snprintf(err, errsize, "invalid listen address \"%s\": expected host:port", listen);
		return false;
	}
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || p < 1 || p > 65535) {
		snprintf(err, errsize, "invalid port in listen address \"%s\"", listen);
		return false;
	}
	hlen = (size_t)(colon - listen);
	if (listen[0] == '[' && hlen >= 2 && listen[hlen - 1] == ']') {
		listen++;
		hlen -= 2;
	}
	if (hlen >= hostsize) {
		snprintf(err, errsize, "host too long in listen address \"%s\"", listen);
		return false;
	}
	memcpy(host, listen, hlen);
	host[hlen] = '\0';
	*port = (int)p;
	return true;
}

struct HttpServer *httpserver_new(struct event_base *base, const char *listen, int max_connections,
				  http_handler handler, void *arg, char *err, size_t errsize)
{
	struct HttpServer *srv;
	char host[256];
	int port;

	if (!parse_listen(listen, host, sizeof(host), &port, err, errsize))
		return NULL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		fatal("out of memory");
	srv->base = base;
	srv->handler = handler;
	srv->arg = arg;
	srv->max_connections = max_connections;
	srv->http = evhttp_new(base);
	if (!srv->http)
		fatal("could not create the HTTP server");
	srv->sock = evhttp_bind_socket_with_handle(srv->http, host, (ev_uint16_t)port);
	if (!srv->sock) {
		snprintf(err, errsize, "could not listen on %s: %s", listen, strerror(errno));
		evhttp_free(srv->http);
		free(srv);
		return NULL;
	}
	evhttp_set_max_body_size(srv->http, HTTP_HARD_BODY_LIMIT);
	evhttp_set_max_headers_size(srv->http, HEADER_LIMIT);
	evhttp_set_timeout(srv->http, IDLE_TIMEOUT_SECS);
	/* every method reaches the handler, which answers 405 itself as problem+json */
	evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
						     EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
						     EVHTTP_REQ_PATCH | EVHTTP_REQ_TRACE);
	evhttp_set_gencb(srv->http, gen_cb, srv);
	srv->latency = metrics_histogram("chargegate_http_request_duration_seconds", NULL,
					 "Time from request to answer.");
	srv->rejected_connections = metrics_counter("chargegate_http_rejected_connections_total", NULL,
						    "Requests refused because http.max_connections was reached.");
	log_info("http: listening on %s", listen);
	return srv;
}

void httpserver_stop_accepting(struct HttpServer *srv)
{
	if (srv && srv->sock) {
		evhttp_del_accept_socket(srv->http, srv->sock);
		srv->sock = NULL;
	}
}

int httpserver_pending(const struct HttpServer *srv)
{
	return srv ? srv->pending : 0;
}

void httpserver_free(struct HttpServer *srv)
{
	if (!srv)
		return;
	evhttp_free(srv->http);
	free(srv);
}

const char *httpx_method(const struct HttpExchange *x)
{
	return x->method;
}

const char *httpx_path(const struct HttpExchange *x)
{
	return x->path;
}

const char *httpx_header(const struct HttpExchange *x, const char *name)
{
	return x->req ? evhttp_find_header(evhttp_request_get_input_headers(x->req), name) : NULL;
}

const char *httpx_body(struct HttpExchange *x, size_t *len)
{
	struct evbuffer *in;
	const char *p;

	*len = 0;
	if (!x->req)
		return "";
	in = evhttp_request_get_input_buffer(x->req);
	*len = evbuffer_get_length(in);
	if (*len == 0)
		return "";
	p = (const char *)evbuffer_pullup(in, -1);
	return p ? p : "";
}

bool httpx_gone(const struct HttpExchange *x)
{
	return x->req == NULL;
}

void httpx_add_header(struct HttpExchange *x, const char *name, const char *value)
{
	if (x->req)
		evhttp_add_header(evhttp_request_get_output_headers(x->req), name, value);
}

void httpx_reply(struct HttpExchange *x, int status, const char *content_type, struct evbuffer *body)
{
	struct ConnSlot *slot = x->evcon ? slot_find(x->srv, x->evcon) : NULL;

	if (slot)
		slot->pending = NULL;
	if (x->req) {
		if (content_type)
			httpx_add_header(x, "Content-Type", content_type);
		evhttp_send_reply(x->req, status, NULL, body);
		metrics_observe(x->srv->latency, elapsed_since(&x->started));
	}
	exchange_free(x);
}

void httpx_reply_json(struct HttpExchange *x, int status, const char *content_type, struct json_object *obj)
{
	struct evbuffer *buf = evbuffer_new();
	size_t len;
	const char *s;

	if (!buf)
		fatal("out of memory");
	s = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	evbuffer_add(buf, s, len);
	evbuffer_add(buf, "\n", 1);
	httpx_reply(x, status, content_type, buf);
	evbuffer_free(buf);
}

void httpx_problem(struct HttpExchange *x, int status, const char *type, const char *title,
		   const char *detail, struct json_object *errors)
{
	struct json_object *doc = json_object_new_object();
	char typebuf[128];

	if (!doc)
		fatal("out of memory");
	snprintf(typebuf, sizeof(typebuf), "urn:chargegate:problem:%s", type);
	json_object_object_add(doc, "type", json_object_new_string(typebuf));
	json_object_object_add(doc, "title", json_object_new_string(title));
	json_object_object_add(doc, "status", json_object_new_int(status));
	json_object_object_add(doc, "detail", json_object_new_string(detail));
	if (errors)
		json_object_object_add(doc, "errors", errors);
	httpx_reply_json(x, status, "application/problem+json", doc);
	json_object_put(doc);
}
