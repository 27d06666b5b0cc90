#include "autoconfig.h"

#include "infra/httpserver.h"

#include "infra/alloc.h"
#include "infra/clock.h"
#include "infra/httpparse.h"
#include "infra/log.h"
#include "infra/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/listener.h>
#include <json-c/json.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Out of descriptors: accepting pauses this long, then tries again. */
#define ACCEPT_PAUSE_MS 100
/* One "out of descriptors" line at most this often; the others are counted. */
#define ACCEPT_LOG_EVERY_MS 10000
/* Reading stops while this much is buffered and not yet parsed (pipelined requests). */
#define READ_HIGH_WATER (HTTP_MAX_HEAD + 64 * 1024)
/*
 * After a last answer the connection is half-closed and what the client
 * still sends (a body refused with 413) is read and dropped for a while:
 * closing with unread data would reset the connection and the client could
 * lose the answer (nginx's "lingering close").
 */
#define LINGER_MS 2000
#define LINGER_MAX_BYTES (4 * 1024 * 1024)
/* A client that does not read its answers gets no more of them beyond this much. */
#define OUTPUT_HIGH_WATER (256 * 1024)

enum ConnState {
	C_HEAD,		/* waiting for (the rest of) a request head */
	C_BODY,		/* reading a Content-Length body */
	C_CHUNKED,	/* reading a chunked body */
	C_HANDLER,	/* the handler has the request */
	C_CLOSING,	/* the last answer is being written */
	C_LINGER	/* written and half-closed: dropping what still arrives */
};

struct Conn;

struct HttpServer {
	struct event_base *base;
	struct evconnlistener *listener;
	struct event accept_pause;
	struct HttpLimits limits;
	http_handler handler;
	void *arg;
	bool draining;
	int connections;
	int pending;
	struct Conn *conns;
	int64_t last_accept_log;
	uint64_t accept_errors_unlogged;
	struct MetricsHistogram *latency;
	uint64_t *rejected_connections, *bad_requests;
};

struct HttpExchange {
	struct HttpServer *srv;
	struct Conn *conn;		/* NULL once the client is gone */
	char *head_buf;			/* the parsed head points into it */
	struct HttpHead head;
	char method[16];
	bool is_head;			/* HEAD: answered as GET, without the body */
	char *path;
	struct evbuffer *body;
	struct evbuffer *out_headers;	/* "Name: value\r\n" lines of the answer */
	int64_t started_ms;
};

struct Conn {
	struct Conn *prev, *next;
	struct HttpServer *srv;
	struct bufferevent *bev;
	enum ConnState state;
	struct HttpExchange *x;		/* being read or handled */
	uint64_t body_left;
	struct HttpChunked chunked;
	struct event timer;		/* the request's deadline, or the idle timeout */
	struct event resume;		/* parse what is buffered, after an answer */
	bool request_started;		/* bytes of the next request arrived */
	size_t lingered;		/* bytes dropped while lingering */
};

static void conn_parse(struct Conn *c);

/* --- problem documents ---------------------------------------------------------- */

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 410: return "Gone";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 421: return "Misdirected Request";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	}
	return status >= 500 ? "Server Error" : status >= 400 ? "Client Error" : "OK";
}

static struct json_object *problem_doc(int status, const char *type, const char *title, const char *detail)
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
	return doc;
}

char *http_problem_text(int status, const char *type, const char *title, const char *detail)
{
	struct json_object *doc = problem_doc(status, type, title, detail);
	char *s = xstrdup(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));

	json_object_put(doc);
	return s;
}

/* --- connections ---------------------------------------------------------------- */

static void exchange_free(struct HttpExchange *x)
{
	if (!x)
		return;
	free(x->head_buf);
	free(x->path);
	if (x->body)
		evbuffer_free(x->body);
	if (x->out_headers)
		evbuffer_free(x->out_headers);
	free(x);
}

static void conn_free(struct Conn *c)
{
	struct HttpServer *srv = c->srv;

	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->connections--;
	event_del(&c->timer);
	event_del(&c->resume);
	bufferevent_free(c->bev);
	if (c->x && c->state == C_HANDLER) {
		c->x->conn = NULL;	/* the handler still answers; the answer is dropped */
		log_debug("http: client went away before %s %s was answered", c->x->method, c->x->path);
	} else {
		exchange_free(c->x);
	}
	free(c);
}

static void arm_timer(struct Conn *c, int64_t ms)
{
	struct timeval tv = clock_timeval(ms);

	if (evtimer_add(&c->timer, &tv) != 0)
		log_error("http: could not arm a connection's timer");
}

/* The last answer is out: half-close, and drop what the client still sends for a while. */
static void conn_linger(struct Conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	c->state = C_LINGER;
	if (shutdown(bufferevent_getfd(c->bev), SHUT_WR) != 0) {
		conn_free(c);
		return;
	}
	evbuffer_drain(in, evbuffer_get_length(in));
	bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
	if (bufferevent_enable(c->bev, EV_READ) != 0) {
		conn_free(c);
		return;
	}
	arm_timer(c, LINGER_MS);
}

/* Write what is left (within LINGER_MS: a client may not read it), then close. */
static void conn_close_after_write(struct Conn *c)
{
	c->state = C_CLOSING;
	if (bufferevent_disable(c->bev, EV_READ) != 0)
		log_error("http: could not stop reading a closing connection");
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_linger(c);
	else
		arm_timer(c, LINGER_MS);
}

/* Status line, headers and body of an answer onto the connection. */
static void write_answer(struct Conn *c, int status, const char *content_type, struct evbuffer *extra_headers,
			 const char *body, size_t len, bool close, bool head_only)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status, reason_phrase(status));
	if (content_type)
		evbuffer_add_printf(out, "Content-Type: %s\r\n", content_type);
	evbuffer_add_printf(out, "Content-Length: %zu\r\n", len);
	if (extra_headers)
		evbuffer_add_buffer(out, extra_headers);
	if (close)
		evbuffer_add(out, "Connection: close\r\n", 19);
	evbuffer_add(out, "\r\n", 2);
	if (!head_only && len)
		evbuffer_add(out, body, len);
}

/* The server's own answer to a request it will not hand over; the connection closes. */
static void refuse(struct Conn *c, int status, const char *type, const char *detail)
{
	char *doc = http_problem_text(status, type, reason_phrase(status), detail);

	(*c->srv->bad_requests)++;
	log_debug("http: %d: %s", status, detail);
	write_answer(c, status, "application/problem+json", NULL, doc, strlen(doc), true, false);
	free(doc);
	exchange_free(c->x);
	c->x = NULL;
	conn_close_after_write(c);
}

/* --- requests --------------------------------------------------------------------- */

static char *target_path(const char *target)
{
	size_t n = strcspn(target, "?#");
	char *p = xmalloc(n + 1);

	memcpy(p, target, n);
	p[n] = '\0';
	return p;
}

static void dispatch(struct Conn *c)
{
	struct HttpExchange *x = c->x;
	struct HttpServer *srv = c->srv;

	c->state = C_HANDLER;
	event_del(&c->timer);
	if (srv->draining) {
		refuse(c, 503, "shutting-down", "the service is shutting down; retry on another connection");
		return;
	}
	srv->pending++;
	srv->handler(x, srv->arg);
}

/* A complete head is in head[0..len): parse it and decide how to read the body. */
static void start_request(struct Conn *c, char *head, size_t len)
{
	struct HttpExchange *x = xcalloc(1, sizeof(*x));
	char err[256];
	int st;

	if (!(x->body = evbuffer_new()) || !(x->out_headers = evbuffer_new()))
		fatal("http: could not allocate an exchange's buffers");
	x->srv = c->srv;
	x->conn = c;
	x->head_buf = head;
	x->started_ms = clock_now_ms();
	c->x = x;
	if ((st = httpparse_head(head, len, &x->head, err, sizeof(err))) != 0) {
		refuse(c, st, st == 431 ? "headers-too-large" : st == 505 ? "http-version" : "bad-request", err);
		return;
	}
	x->is_head = strcmp(x->head.method, "HEAD") == 0;
	snprintf(x->method, sizeof(x->method), "%s", x->is_head ? "GET" : x->head.method);
	x->path = target_path(x->head.target);
	if ((x->head.body == HTTP_BODY_LENGTH && x->head.content_length > c->srv->limits.max_body)) {
		snprintf(err, sizeof(err), "the request body is larger than %zu bytes", c->srv->limits.max_body);
		refuse(c, 413, "body-too-large", err);
		return;
	}
	if (x->head.expect_continue && x->head.body != HTTP_BODY_NONE)
		evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25);
	c->body_left = x->head.content_length;
	memset(&c->chunked, 0, sizeof(c->chunked));
	c->state = x->head.body == HTTP_BODY_CHUNKED ? C_CHUNKED : C_BODY;
}

/* The head ends at the first empty line; NULL until it has arrived (or with *bad when it cannot). */
static char *take_head(struct Conn *c, size_t *len, int *bad)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_ptr end;
	char *head;

	*bad = 0;
	/* RFC 9112 §2.2: empty lines before a request line are ignored */
	while (evbuffer_get_length(in) >= 2 && memcmp(evbuffer_pullup(in, 2), "\r\n", 2) == 0)
		evbuffer_drain(in, 2);
	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos < 0) {
		if (evbuffer_get_length(in) > HTTP_MAX_HEAD)
			*bad = 431;
		return NULL;
	}
	if ((size_t)end.pos + 2 > HTTP_MAX_HEAD) {
		*bad = 431;
		return NULL;
	}
	*len = (size_t)end.pos + 2;	/* the last header line's CRLF, not the empty line */
	head = xmalloc(*len + 1);
	evbuffer_remove(in, head, *len);
	head[*len] = '\0';
	evbuffer_drain(in, 2);
	return head;
}

/* Step the connection's state machine once; false when it must wait for input (or is gone). */
static bool conn_step(struct Conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t len, n;
	char *head;
	int bad;

	switch (c->state) {
	case C_HEAD:
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) > OUTPUT_HIGH_WATER)
			return false;	/* the client reads its answers first (write_cb resumes) */
		if (evbuffer_get_length(in) > 0 && !c->request_started) {
			c->request_started = true;
			arm_timer(c, c->srv->limits.request_timeout_ms);	/* from its first byte */
		}
		head = take_head(c, &len, &bad);
		if (bad) {
			refuse(c, bad, "headers-too-large", "the request head is larger than 16 KiB");
			return false;
		}
		if (!head)
			return false;
		start_request(c, head, len);
		return c->state != C_CLOSING;
	case C_BODY:
		n = evbuffer_get_length(in) < c->body_left ? evbuffer_get_length(in) : (size_t)c->body_left;
		evbuffer_remove_buffer(in, c->x->body, n);
		c->body_left -= n;
		if (c->body_left > 0)
			return false;
		dispatch(c);
		return false;
	case C_CHUNKED:
		bad = httpparse_chunked(&c->chunked, in, c->x->body, c->srv->limits.max_body);
		if (bad == 0)
			return false;
		if (bad == 1)
			dispatch(c);
		else
			refuse(c, bad, bad == 413 ? "body-too-large" : "bad-request",
			       bad == 413 ? "the request body is too large" : "the chunked request body is malformed");
		return false;
	default:
		return false;
	}
}

static void conn_parse(struct Conn *c)
{
	while (conn_step(c))
		;
}

/* --- events ----------------------------------------------------------------------- */

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct Conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (c->state == C_LINGER) {
		c->lingered += evbuffer_get_length(in);
		evbuffer_drain(in, evbuffer_get_length(in));
		if (c->lingered > LINGER_MAX_BYTES)
			conn_free(c);
		return;
	}
	conn_parse(c);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
	struct Conn *c = arg;

	if (c->state == C_CLOSING && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_linger(c);
	else if (c->state == C_HEAD && evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		event_active(&c->resume, EV_TIMEOUT, 0);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct Conn *c = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_free(c);
}

/* The request deadline, or the keep-alive idle time, has passed. */
static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct Conn *c = arg;
	char detail[160];

	if (c->state == C_LINGER || c->state == C_CLOSING) {
		conn_free(c);
		return;
	}
	if (c->state == C_HANDLER)
		return;
	if (!c->request_started) {
		conn_free(c);	/* idle keep-alive connection: just close it */
		return;
	}
	snprintf(detail, sizeof(detail), "the whole request must arrive within %lld ms",
		 (long long)c->srv->limits.request_timeout_ms);
	refuse(c, 408, "request-timeout", detail);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_parse(arg);
}

/* --- accepting ------------------------------------------------------------------------ */

/* Over max_connections: a short answer written at once, then closed. */
static void turn_away(struct HttpServer *srv, evutil_socket_t fd)
{
	static char *canned;
	static size_t canned_len;

	if (!canned) {
		char *doc = http_problem_text(503, "overloaded", "Service Unavailable",
					      "too many open connections; retry later");
		size_t size = strlen(doc) + 200;

		canned = xmalloc(size);
		snprintf(canned, size,
			 "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\n"
			 "Content-Length: %zu\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s",
			 strlen(doc), doc);
		canned_len = strlen(canned);
		free(doc);
	}
	(*srv->rejected_connections)++;
	if (send(fd, canned, canned_len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("http: could not answer a connection over the limit: %s", strerror(errno));
	evutil_closesocket(fd);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct HttpServer *srv = arg;
	struct Conn *c;

	if (srv->connections >= srv->limits.max_connections || srv->draining) {
		turn_away(srv, fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->srv = srv;
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		log_error("http: could not set up an accepted connection");
		evutil_closesocket(fd);
		free(c);
		return;
	}
	evtimer_assign(&c->timer, srv->base, timer_cb, c);
	event_assign(&c->resume, srv->base, -1, 0, resume_cb, c);
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, READ_HIGH_WATER);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) != 0) {
		log_error("http: could not read an accepted connection");
		bufferevent_free(c->bev);
		free(c);
		return;
	}
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->connections++;
	/* a new connection must send its first request within the request timeout */
	c->request_started = true;
	arm_timer(c, srv->limits.request_timeout_ms);
}

static void accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct HttpServer *srv = arg;

	if (srv->listener && evconnlistener_enable(srv->listener) != 0)
		log_error("http: could not resume accepting connections");
}

/* EMFILE and the like: pause instead of spinning on a connection that cannot be accepted. */
static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct HttpServer *srv = arg;
	int err = EVUTIL_SOCKET_ERROR();
	int64_t now = clock_now_ms();
	struct timeval tv = clock_timeval(ACCEPT_PAUSE_MS);

	if (evconnlistener_disable(l) != 0 || evtimer_add(&srv->accept_pause, &tv) != 0)
		log_error("http: could not pause accepting connections");
	if (now - srv->last_accept_log >= ACCEPT_LOG_EVERY_MS) {
		log_warning("http: could not accept a connection: %s; pausing %d ms%s", evutil_socket_error_to_string(err),
			    ACCEPT_PAUSE_MS, srv->accept_errors_unlogged ? " (and more such errors since the last line)" : "");
		srv->last_accept_log = now;
		srv->accept_errors_unlogged = 0;
	} else {
		srv->accept_errors_unlogged++;
	}
}

static bool parse_listen(const char *listen, char *host, size_t hostsize, char *port, size_t portsize, char *err,
			 size_t errsize)
{
	const char *colon = strrchr(listen, ':');
	size_t hlen;
	char *end;
	long p;

	if (!colon || colon == listen) {
		snprintf(err, errsize, "invalid listen address \"%s\": expected host:port", listen);
		return false;
	}
	p = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || p < 1 || p > 65535) {
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
	snprintf(port, portsize, "%ld", p);
	return true;
}

bool httpserver_listen_host(const char *listen, char *host, size_t hostsize, char *err, size_t errsize)
{
	char port[8];

	return parse_listen(listen, host, hostsize, port, sizeof(port), err, errsize);
}

bool httpserver_listen_valid(const char *listen, char *err, size_t errsize)
{
	char host[256];

	return httpserver_listen_host(listen, host, sizeof(host), err, errsize);
}

static struct evconnlistener *listen_on(struct HttpServer *srv, const char *listen, char *err, size_t errsize)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *ai = NULL;
	struct evconnlistener *l;
	char host[256], port[8];
	int rc;

	if (!parse_listen(listen, host, sizeof(host), port, sizeof(port), err, errsize))
		return NULL;
	/* once, at start, before the loop runs: a blocking lookup is fine here */
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		snprintf(err, errsize, "could not listen on %s: %s", listen, gai_strerror(rc));
		return NULL;
	}
	l = evconnlistener_new_bind(srv->base, accept_cb, srv, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
				    ai->ai_addr, (int)ai->ai_addrlen);
	if (!l)
		snprintf(err, errsize, "could not listen on %s: %s", listen, strerror(errno));
	freeaddrinfo(ai);
	return l;
}

static bool addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

bool httpserver_listen_is_loopback(const char *listen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *ai = NULL;
	char host[256], port[8], err[256];
	bool loopback;

	if (!parse_listen(listen, host, sizeof(host), port, sizeof(port), err, sizeof(err)) ||
	    getaddrinfo(host, port, &hints, &ai) != 0)
		return false;
	/* the address listen_on() binds is the first one */
	loopback = addr_is_loopback(ai->ai_addr);
	freeaddrinfo(ai);
	return loopback;
}

static double connections_gauge(void *arg)
{
	return ((struct HttpServer *)arg)->connections;
}

struct HttpServer *httpserver_new(struct event_base *base, const char *listen, const struct HttpLimits *limits,
				  http_handler handler, void *arg, char *err, size_t errsize)
{
	struct HttpServer *srv = xcalloc(1, sizeof(*srv));

	srv->base = base;
	srv->limits = *limits;
	srv->handler = handler;
	srv->arg = arg;
	srv->listener = listen_on(srv, listen, err, errsize);
	if (!srv->listener) {
		free(srv);
		return NULL;
	}
	evconnlistener_set_error_cb(srv->listener, accept_error_cb);
	evtimer_assign(&srv->accept_pause, base, accept_resume_cb, srv);
	srv->latency = metrics_histogram("chargegate_http_request_duration_seconds", NULL,
					 "Time from request to answer.");
	srv->rejected_connections = metrics_counter("chargegate_http_rejected_connections_total", NULL,
						    "Connections turned away because http.max_connections was reached.");
	srv->bad_requests = metrics_counter("chargegate_http_refused_requests_total", NULL,
					    "Requests the server answered itself without the handler: malformed, too "
					    "large, too slow, or while draining.");
	metrics_gauge("chargegate_http_connections", NULL, "Open HTTP connections.", connections_gauge, srv);
	log_info("http: listening on %s", listen);
	return srv;
}

/* Waiting for a request that has not started: nothing to finish. */
static bool conn_idle(const struct Conn *c)
{
	return c->state == C_HEAD && !c->request_started && evbuffer_get_length(bufferevent_get_input(c->bev)) == 0;
}

void httpserver_stop_accepting(struct HttpServer *srv)
{
	struct Conn *c, *next;

	if (!srv)
		return;
	srv->draining = true;
	if (srv->listener) {
		evconnlistener_free(srv->listener);
		srv->listener = NULL;
	}
	event_del(&srv->accept_pause);
	/* idle kept-alive connections close now; the others finish their request (answered 503) */
	for (c = srv->conns; c; c = next) {
		next = c->next;
		if (conn_idle(c))
			conn_free(c);
	}
}

int httpserver_pending(const struct HttpServer *srv)
{
	int n = 0;

	if (!srv)
		return 0;
	for (const struct Conn *c = srv->conns; c; c = c->next)
		n += !conn_idle(c) && c->state != C_HANDLER && c->state != C_LINGER;	/* a request on its way, an answer */
	return srv->pending + n;
}

void httpserver_free(struct HttpServer *srv)
{
	if (!srv)
		return;
	httpserver_stop_accepting(srv);
	while (srv->conns)
		conn_free(srv->conns);
	free(srv);
}

/* --- the exchange ------------------------------------------------------------------------ */

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
	return httpparse_header(&x->head, name);
}

int httpx_header_count(const struct HttpExchange *x, const char *name)
{
	return httpparse_header_count(&x->head, name);
}

const char *httpx_body(struct HttpExchange *x, size_t *len)
{
	const char *p;

	*len = evbuffer_get_length(x->body);
	if (*len == 0)
		return "";
	p = (const char *)evbuffer_pullup(x->body, -1);
	return p ? p : "";
}

void httpx_add_header(struct HttpExchange *x, const char *name, const char *value)
{
	evbuffer_add_printf(x->out_headers, "%s: %s\r\n", name, value);
}

void httpx_reply(struct HttpExchange *x, int status, const char *content_type, struct evbuffer *body)
{
	struct Conn *c = x->conn;
	struct HttpServer *srv = x->srv;
	size_t len = body ? evbuffer_get_length(body) : 0;
	bool close;

	srv->pending--;
	if (!c) {
		exchange_free(x);
		return;
	}
	close = x->head.close || srv->draining;
	write_answer(c, status, content_type, x->out_headers, len ? (const char *)evbuffer_pullup(body, -1) : "", len,
		     close, x->is_head);
	metrics_observe(srv->latency, (double)(clock_now_ms() - x->started_ms) / 1000.0);
	exchange_free(x);
	c->x = NULL;
	if (close) {
		conn_close_after_write(c);
		return;
	}
	c->state = C_HEAD;
	c->request_started = false;
	arm_timer(c, srv->limits.idle_timeout_ms);
	event_active(&c->resume, EV_TIMEOUT, 0);	/* a pipelined request may be waiting */
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
	struct json_object *doc = problem_doc(status, type, title, detail);

	if (errors)
		json_object_object_add(doc, "errors", errors);
	httpx_reply_json(x, status, "application/problem+json", doc);
	json_object_put(doc);
}
