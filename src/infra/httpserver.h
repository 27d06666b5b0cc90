/*
 * The HTTP/1.1 server: chargegate's own, on libevent bufferevents, so that
 * every byte of framing is the product's decision (DESIGN §3):
 *
 *  - strict framing: one Content-Length of digits only, or
 *    "Transfer-Encoding: chunked" exactly, never both; exactly one Host on
 *    HTTP/1.1; header names without spaces; no NUL, CR or LF inside a
 *    value; no obsolete line folding.  Anything else is 400 and the
 *    connection closes (request-smuggling material behind a proxy);
 *  - limits: a body over max_body is answered 413 as soon as its size is
 *    known (from Content-Length, before reading it) and never buffered
 *    whole; headers over 16 KiB are 431; a whole request must arrive within
 *    request_timeout (408); max_connections counts every open connection,
 *    further ones get a 503 and are closed at once; when descriptors run
 *    out the listener pauses instead of spinning;
 *  - every answer the server gives itself is RFC 9457 problem+json;
 *  - HEAD is served as GET without the body; pipelined requests are
 *    answered in order.
 *
 * A handler may answer at once or later (after a database round trip).
 * Every exchange must be answered exactly once: if the client went away
 * meanwhile the exchange stays valid, and the answer is dropped safely.
 */
#ifndef CHARGEGATE_HTTPSERVER_H
#define CHARGEGATE_HTTPSERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
struct json_object;
struct HttpServer;
struct HttpExchange;

typedef void (*http_handler)(struct HttpExchange *x, void *arg);

struct HttpLimits {
	int max_connections;		/* open connections, idle and in progress alike */
	int64_t request_timeout_ms;	/* from a request's first byte (a connection's start) to its last */
	int64_t idle_timeout_ms;	/* a kept-alive connection waiting for its next request */
	size_t max_body;		/* larger bodies are answered 413 */
};

struct HttpServer *httpserver_new(struct event_base *base, const char *listen, const struct HttpLimits *limits,
				  http_handler handler, void *arg, char *err, size_t errsize);
/*
 * Close the listening socket: draining.  Idle kept-alive connections
 * close; exchanges in progress still get answered (then their connection
 * closes); requests still arriving on open connections get 503 with
 * Connection: close.
 */
void httpserver_stop_accepting(struct HttpServer *srv);

/* Is listen host:port or [ipv6]:port?  False with the reason in err (a malformed setting, not a busy port). */
bool httpserver_listen_valid(const char *listen, char *err, size_t errsize);
/* Its host part, without the brackets of an IPv6 literal; false as above. */
bool httpserver_listen_host(const char *listen, char *host, size_t hostsize, char *err, size_t errsize);
/* True when listen (as for httpserver_new) is a loopback address: only this host can connect. */
bool httpserver_listen_is_loopback(const char *listen);
/*
 * Work in progress: exchanges not answered yet, requests being received,
 * answers being written.  Draining waits for it.
 */
int httpserver_pending(const struct HttpServer *srv);
void httpserver_free(struct HttpServer *srv);

/* The request */
const char *httpx_method(const struct HttpExchange *x);	/* "GET" (also for HEAD), "POST", ... */
const char *httpx_path(const struct HttpExchange *x);	/* the target's path, no query */
/* The value of the first header name (any case), or NULL. */
const char *httpx_header(const struct HttpExchange *x, const char *name);
/* How many headers are called name. */
int httpx_header_count(const struct HttpExchange *x, const char *name);
const char *httpx_body(struct HttpExchange *x, size_t *len);

/* The answer: headers first, then exactly one of the reply calls. */
void httpx_add_header(struct HttpExchange *x, const char *name, const char *value);
void httpx_reply(struct HttpExchange *x, int status, const char *content_type, struct evbuffer *body);
/* Serializes obj (not consumed) as the body. */
void httpx_reply_json(struct HttpExchange *x, int status, const char *content_type, struct json_object *obj);
/*
 * An RFC 9457 problem document; type is a short slug
 * ("invalid-request"), errors (consumed, may be NULL) a JSON array.
 */
void httpx_problem(struct HttpExchange *x, int status, const char *type, const char *title,
		   const char *detail, struct json_object *errors);

/* A problem document as text, for answers outside an exchange (malloc'd). */
char *http_problem_text(int status, const char *type, const char *title, const char *detail);

#endif
