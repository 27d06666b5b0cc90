/*
 * The HTTP server: libevent's evhttp behind a small exchange API.  A handler
 * may answer at once or later (after a database round trip).  Every exchange
 * must be answered exactly once: if the client went away meanwhile the
 * exchange stays valid, and the answer is dropped safely.
 */
#ifndef CHARGEGATE_HTTPSERVER_H
#define CHARGEGATE_HTTPSERVER_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct evbuffer;
struct json_object;
struct HttpServer;
struct HttpExchange;

typedef void (*http_handler)(struct HttpExchange *x, void *arg);

/* Request bodies above this are cut off by evhttp itself (plain 413). */
#define HTTP_HARD_BODY_LIMIT (1024 * 1024)

struct HttpServer *httpserver_new(struct event_base *base, const char *listen, int max_connections,
				  http_handler handler, void *arg, char *err, size_t errsize);
/* Close the listening socket; exchanges in progress still get answered. */
void httpserver_stop_accepting(struct HttpServer *srv);
/* Exchanges accepted but not answered yet. */
int httpserver_pending(const struct HttpServer *srv);
void httpserver_free(struct HttpServer *srv);

/* The request */
const char *httpx_method(const struct HttpExchange *x);	/* "GET", "POST", … */
const char *httpx_path(const struct HttpExchange *x);	/* decoded-less path, no query */
const char *httpx_header(const struct HttpExchange *x, const char *name);
const char *httpx_body(struct HttpExchange *x, size_t *len);
/* The client disconnected before the answer: the answer will be dropped. */
bool httpx_gone(const struct HttpExchange *x);

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

#endif
