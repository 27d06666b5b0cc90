/*
 * The HTTP client: asynchronous POSTs through libcurl's multi-socket API
 * on the daemon's event_base (curl's hiperfifo.c / multi-event.c), never
 * blocking the loop.
 *
 * One client is one libcurl multi handle, so it keeps connections open
 * and reuses them.  At most max_concurrency transfers run at once; further
 * requests wait in a FIFO.  Redirects are never followed, only http and
 * https are spoken, proxies from the environment are ignored, and the
 * response body is kept up to a cap (the rest is read and dropped).
 *
 * With an address policy, every address libcurl is about to connect to is
 * checked before the socket is opened, and the peer of a reused connection
 * before the request is sent, so a request only reaches checked addresses
 * (DESIGN §5; DNS rebinding cannot slip through).  A name whose addresses
 * are partly blocked is tried on the others; HTTPC_ERR_BLOCKED_ADDRESS
 * (final) means every address was refused.
 *
 * The callback of a request is called exactly once, from the event loop,
 * never from inside httpclient_post.  It must not free the client.
 */
#ifndef CHARGEGATE_HTTPCLIENT_H
#define CHARGEGATE_HTTPCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event_base;
struct AddrPolicy;
struct HttpClient;

#define HTTPCLIENT_DEFAULT_MAX_RESPONSE (64 * 1024)
/*
 * What of a peer's response body is stored with an attempt or an audit row:
 * whoever owns a callback URL chooses the body, and a stored 64 KiB per
 * attempt would let any client fill the disk.
 */
#define HTTPCLIENT_STORED_BODY_MAX 4096
#define HTTPCLIENT_DEFAULT_TIMEOUT_MS 30000
/* Large enough for every class name, "http_NNN" included. */
#define HTTPCLIENT_CLASS_SIZE 24

struct HttpClientRequest {
	const char *url;		/* http:// or https:// */
	const char *body;		/* POSTed as is; copied */
	size_t body_len;
	const char *const *headers;	/* NULL-terminated "Name: value" list, or NULL; copied */
	long timeout_ms;		/* the whole transfer; 0: HTTPCLIENT_DEFAULT_TIMEOUT_MS */
	/*
	 * A monotonic time (clock_now_ms) by which the answer must be in,
	 * waiting for a free connection included; 0: none.  A request still
	 * waiting then fails with HTTPC_ERR_TIMEOUT, a running one gets only
	 * the time left.
	 */
	int64_t deadline_ms;
	long connect_timeout_ms;	/* 0: the same as timeout_ms */
	size_t max_response_bytes;	/* 0: HTTPCLIENT_DEFAULT_MAX_RESPONSE */
	const struct AddrPolicy *policy;	/* NULL: any address; copied */
	/*
	 * NULL-terminated "host:port:address[,address...]" entries that take
	 * the place of DNS for those names (curl's --resolve), or NULL; copied.
	 */
	const char *const *resolve;
};

/*
 * Why there is no HTTP answer (DESIGN §5 error classes).  HTTPC_OK means an
 * answer arrived, whatever its status.  "connect" covers every failure to
 * get an answer that is not one of the others: refused, reset, an empty or
 * malformed reply, a URL libcurl rejects.
 */
enum HttpClientError {
	HTTPC_OK = 0,
	HTTPC_ERR_DNS,
	HTTPC_ERR_CONNECT,
	HTTPC_ERR_TLS,
	HTTPC_ERR_TIMEOUT,
	HTTPC_ERR_BLOCKED_ADDRESS,
	HTTPC_ERR_CANCELLED,	/* httpclient_free with the request unfinished; no attempt to record */
};

struct HttpClientResponse {
	int status;			/* HTTP status; 0 unless error is HTTPC_OK */
	const char *body;		/* NUL-terminated, valid during the callback */
	size_t body_len;		/* at most the request's cap */
	bool truncated;			/* the answer had more than the cap */
	int64_t latency_ms;		/* from the start of the transfer to its end */
	enum HttpClientError error;
	const char *error_text;		/* "" when error is HTTPC_OK */
	int64_t retry_after_ms;		/* from a Retry-After header; -1 when none or invalid */
};

typedef void (*httpclient_cb)(const struct HttpClientResponse *resp, void *arg);

/* max_concurrency >= 1 transfers at once; as many connections are kept. */
struct HttpClient *httpclient_new(struct event_base *base, int max_concurrency);
/*
 * Cancels every unfinished request (its callback gets HTTPC_ERR_CANCELLED)
 * and closes the connections.  Drain first with httpclient_pending().
 */
void httpclient_free(struct HttpClient *c);

void httpclient_post(struct HttpClient *c, const struct HttpClientRequest *req, httpclient_cb cb, void *arg);

/* Requests posted whose callback has not run yet (running and waiting). */
int httpclient_pending(const struct HttpClient *c);

/*
 * The error class to record: NULL for a 2xx answer, "http_NNN" for any
 * other answer, else "dns", "connect", "tls", "timeout",
 * "blocked_address" or "cancelled".  Written into buf (at least
 * HTTPCLIENT_CLASS_SIZE bytes) and returned.
 */
const char *httpclient_error_class_name(const struct HttpClientResponse *resp, char *buf, size_t size);

/*
 * A Retry-After value in milliseconds from now: delay-seconds ("120") or
 * an HTTP-date (a date in the past gives 0); -1 when value is neither.
 */
int64_t httpclient_parse_retry_after(const char *value, time_t now);

#endif
