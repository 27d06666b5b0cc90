/*
 * The asynchronous HTTP client against a tiny evhttp peer on 127.0.0.1 in
 * the same event loop: answers and their bodies, the response cap,
 * timeouts, refused connections, redirects not followed, Retry-After, the
 * address policy (also on a reused connection), the concurrency bound and
 * the exactly-once, never-inside-post callback.
 */
#include "autoconfig.h"

#include "infra/addrpolicy.h"
#include "infra/httpclient.h"

#include <arpa/inet.h>
#include "unit_run.h"

#include <check.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_RESULTS 16
#define BIG_BODY (100 * 1024)

/* --- the peer ------------------------------------------------------------------- */

struct Peer {
	struct event_base *base;
	struct evhttp *http;
	int port;
	int requests;
	int inflight;
	int max_inflight;
	int peer_ports[MAX_RESULTS];	/* client port of each request: same port, same connection */
};

struct Delayed {
	struct Peer *peer;
	struct evhttp_request *req;
};

static void reply_text(struct evhttp_request *req, int code, const char *text)
{
	struct evbuffer *b = evbuffer_new();

	ck_assert_ptr_nonnull(b);
	evbuffer_add(b, text, strlen(text));
	evhttp_send_reply(req, code, NULL, b);
	evbuffer_free(b);
}

static void delayed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct Delayed *d = arg;

	d->peer->inflight--;
	reply_text(d->req, 200, "slow");
	free(d);
}

static void reply_later(struct Peer *p, struct evhttp_request *req, int ms)
{
	struct Delayed *d = malloc(sizeof(*d));
	struct timeval tv = { 0, ms * 1000 };

	ck_assert_ptr_nonnull(d);
	d->peer = p;
	d->req = req;
	p->inflight++;
	if (p->inflight > p->max_inflight)
		p->max_inflight = p->inflight;
	ck_assert_int_eq(event_base_once(p->base, -1, EV_TIMEOUT, delayed_cb, d, &tv), 0);
}

/* "ok:<request body>|<X-Test>|<Content-Type>" */
static void reply_echo(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *xt = evhttp_find_header(h, "X-Test");
	const char *ct = evhttp_find_header(h, "Content-Type");
	char text[512];
	size_t n = evbuffer_get_length(in);

	ck_assert_uint_lt(n, 256);
	snprintf(text, sizeof(text), "ok:%.*s|%s|%s", (int)n, (const char *)evbuffer_pullup(in, -1),
		 xt ? xt : "", ct ? ct : "");
	reply_text(req, 200, text);
}

static void reply_big(struct evhttp_request *req)
{
	char *big = malloc(BIG_BODY + 1);

	ck_assert_ptr_nonnull(big);
	memset(big, 'x', BIG_BODY);
	big[BIG_BODY] = '\0';
	reply_text(req, 200, big);
	free(big);
}

static void reply_with_header(struct evhttp_request *req, int code, const char *name, const char *value)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), name, value);
	reply_text(req, code, "see header");
}

static void http_date_in(int seconds, char *buf, size_t size)
{
	time_t t = time(NULL) + seconds;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void peer_cb(struct evhttp_request *req, void *arg)
{
	struct Peer *p = arg;
	const char *uri = evhttp_request_get_uri(req);
	char *addr = NULL;
	ev_uint16_t port = 0;
	char date[64];

	evhttp_connection_get_peer(evhttp_request_get_connection(req), &addr, &port);
	if (p->requests < MAX_RESULTS)
		p->peer_ports[p->requests] = port;
	p->requests++;
	if (strcmp(uri, "/ok") == 0) {
		reply_echo(req);
	} else if (strcmp(uri, "/big") == 0) {
		reply_big(req);
	} else if (strcmp(uri, "/slow") == 0) {
		reply_later(p, req, 100);
	} else if (strcmp(uri, "/hang") == 0) {
		/* never answered; evhttp frees it with the connection */
	} else if (strcmp(uri, "/redirect") == 0) {
		reply_with_header(req, 302, "Location", "/ok");
	} else if (strcmp(uri, "/retry") == 0) {
		reply_with_header(req, 503, "Retry-After", "7");
	} else if (strcmp(uri, "/retrydate") == 0) {
		http_date_in(30, date, sizeof(date));
		reply_with_header(req, 429, "Retry-After", date);
	} else {
		reply_text(req, 404, "no such path");
	}
}

static void peer_start(struct Peer *p, struct event_base *base)
{
	struct evhttp_bound_socket *sock;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	memset(p, 0, sizeof(*p));
	p->base = base;
	p->http = evhttp_new(base);
	ck_assert_ptr_nonnull(p->http);
	sock = evhttp_bind_socket_with_handle(p->http, "127.0.0.1", 0);
	ck_assert_ptr_nonnull(sock);
	ck_assert_int_eq(getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&sin, &len), 0);
	p->port = ntohs(sin.sin_port);
	evhttp_set_allowed_methods(p->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_gencb(p->http, peer_cb, p);
}

/* A port nobody listens on. */
static int closed_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

/* --- the client side ---------------------------------------------------------------- */

struct Result {
	bool done;
	int order;
	int status;
	enum HttpClientError error;
	char cls[HTTPCLIENT_CLASS_SIZE];
	char error_text[512];
	char *body;
	size_t body_len;
	bool truncated;
	int64_t latency_ms;
	int64_t retry_after_ms;
};

struct Fixture {
	struct event_base *base;
	struct Peer peer;
	struct HttpClient *client;
	struct Result res[MAX_RESULTS];
	int done;
	bool in_post;
};

static struct Fixture f;

static void result_cb(const struct HttpClientResponse *r, void *arg)
{
	struct Result *res = arg;
	const char *cls;

	ck_assert_msg(!f.in_post, "callback called from inside httpclient_post");
	ck_assert_msg(!res->done, "callback called twice");
	res->done = true;
	res->order = f.done++;
	res->status = r->status;
	res->error = r->error;
	cls = httpclient_error_class_name(r, res->cls, sizeof(res->cls));
	if (!cls)
		res->cls[0] = '\0';
	snprintf(res->error_text, sizeof(res->error_text), "%s", r->error_text);
	res->body = malloc(r->body_len + 1);
	ck_assert_ptr_nonnull(res->body);
	memcpy(res->body, r->body, r->body_len + 1);
	res->body_len = r->body_len;
	res->truncated = r->truncated;
	res->latency_ms = r->latency_ms;
	res->retry_after_ms = r->retry_after_ms;
}

static void setup(void)
{
	memset(&f, 0, sizeof(f));
	f.base = event_base_new();
	ck_assert_ptr_nonnull(f.base);
	peer_start(&f.peer, f.base);
	f.client = httpclient_new(f.base, 4);
	ck_assert_ptr_nonnull(f.client);
}

static void teardown(void)
{
	httpclient_free(f.client);
	evhttp_free(f.peer.http);
	event_base_free(f.base);
	for (int i = 0; i < MAX_RESULTS; i++)
		free(f.res[i].body);
}

static void url_for(char *buf, size_t size, const char *host, const char *path)
{
	snprintf(buf, size, "http://%s:%d%s", host, f.peer.port, path);
}

static void post_full(int i, const char *url, const struct HttpClientRequest *tmpl)
{
	struct HttpClientRequest req = { 0 };

	if (tmpl)
		req = *tmpl;
	req.url = url;
	f.in_post = true;
	httpclient_post(f.client, &req, result_cb, &f.res[i]);
	f.in_post = false;
}

static void post(int i, const char *path, const struct HttpClientRequest *tmpl)
{
	char url[256];

	url_for(url, sizeof(url), "127.0.0.1", path);
	post_full(i, url, tmpl);
}

static bool deadline_hit;

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	deadline_hit = true;
	event_base_loopbreak(arg);
}

static void wait_for(int want)
{
	struct event *dl = evtimer_new(f.base, deadline_cb, f.base);
	struct timeval tv = { 15, 0 };

	ck_assert_ptr_nonnull(dl);
	deadline_hit = false;
	ck_assert_int_eq(evtimer_add(dl, &tv), 0);
	while (f.done < want && !deadline_hit)
		event_base_loop(f.base, EVLOOP_ONCE);
	event_free(dl);
	ck_assert_msg(f.done >= want, "only %d of %d callbacks after 15 s", f.done, want);
}

/* --- tests ---------------------------------------------------------------------------- */

START_TEST(post_gets_200_with_body_and_sends_headers)
{
	static const char *const headers[] = { "Content-Type: application/json", "X-Test: abc", NULL };
	struct HttpClientRequest req = { 0 };

	req.body = "{\"a\":1}";
	req.body_len = strlen(req.body);
	req.headers = headers;
	post(0, "/ok", &req);
	ck_assert(!f.res[0].done);
	ck_assert_int_eq(httpclient_pending(f.client), 1);
	wait_for(1);
	ck_assert_int_eq(f.res[0].error, HTTPC_OK);
	ck_assert_int_eq(f.res[0].status, 200);
	ck_assert_str_eq(f.res[0].body, "ok:{\"a\":1}|abc|application/json");
	ck_assert(!f.res[0].truncated);
	ck_assert_str_eq(f.res[0].cls, "");
	ck_assert_str_eq(f.res[0].error_text, "");
	ck_assert_int_eq(f.res[0].retry_after_ms, -1);
	ck_assert_int_ge(f.res[0].latency_ms, 0);
	ck_assert_int_eq(httpclient_pending(f.client), 0);
}
END_TEST

START_TEST(body_is_capped_at_64k_and_marked_truncated)
{
	struct HttpClientRequest small = { 0 };

	post(0, "/big", NULL);
	small.max_response_bytes = 10;
	post(1, "/big", &small);
	wait_for(2);
	ck_assert_int_eq(f.res[0].error, HTTPC_OK);
	ck_assert_int_eq(f.res[0].status, 200);
	ck_assert_uint_eq(f.res[0].body_len, 64 * 1024);
	ck_assert_uint_eq(strlen(f.res[0].body), 64 * 1024);
	ck_assert(f.res[0].truncated);
	ck_assert_int_eq(f.res[1].status, 200);
	ck_assert_str_eq(f.res[1].body, "xxxxxxxxxx");
	ck_assert(f.res[1].truncated);
}
END_TEST

START_TEST(timeout_is_classified_within_margin)
{
	struct HttpClientRequest req = { 0 };

	req.timeout_ms = 300;
	post(0, "/hang", &req);
	wait_for(1);
	ck_assert_int_eq(f.res[0].error, HTTPC_ERR_TIMEOUT);
	ck_assert_str_eq(f.res[0].cls, "timeout");
	ck_assert_int_eq(f.res[0].status, 0);
	ck_assert_int_ge(f.res[0].latency_ms, 290);
	ck_assert_int_le(f.res[0].latency_ms, 1300);
	ck_assert_str_ne(f.res[0].error_text, "");
}
END_TEST

START_TEST(refused_connection_is_connect)
{
	char url[128];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", closed_port());
	post_full(0, url, NULL);
	wait_for(1);
	ck_assert_int_eq(f.res[0].error, HTTPC_ERR_CONNECT);
	ck_assert_str_eq(f.res[0].cls, "connect");
	ck_assert_int_eq(f.res[0].status, 0);
}
END_TEST

START_TEST(redirect_is_not_followed)
{
	post(0, "/redirect", NULL);
	wait_for(1);
	ck_assert_int_eq(f.res[0].error, HTTPC_OK);
	ck_assert_int_eq(f.res[0].status, 302);
	ck_assert_str_eq(f.res[0].cls, "http_302");
	ck_assert_int_eq(f.peer.requests, 1);
}
END_TEST

START_TEST(retry_after_seconds_and_date_are_read)
{
	post(0, "/retry", NULL);
	post(1, "/retrydate", NULL);
	wait_for(2);
	ck_assert_int_eq(f.res[0].status, 503);
	ck_assert_str_eq(f.res[0].cls, "http_503");
	ck_assert_int_eq(f.res[0].retry_after_ms, 7000);
	ck_assert_int_eq(f.res[1].status, 429);
	ck_assert_str_eq(f.res[1].cls, "http_429");
	ck_assert_int_ge(f.res[1].retry_after_ms, 27000);
	ck_assert_int_le(f.res[1].retry_after_ms, 30000);
}
END_TEST

START_TEST(retry_after_parser)
{
	/* Wed, 21 Oct 2015 07:28:00 GMT */
	const time_t date = 1445412480;

	ck_assert_int_eq(httpclient_parse_retry_after("120", 0), 120000);
	ck_assert_int_eq(httpclient_parse_retry_after(" 5 \r\n", 0), 5000);
	ck_assert_int_eq(httpclient_parse_retry_after("0", 0), 0);
	ck_assert_int_eq(httpclient_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", date - 60), 60000);
	ck_assert_int_eq(httpclient_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", date + 60), 0);
	ck_assert_int_eq(httpclient_parse_retry_after("99999999999999999999", 0), (int64_t)9999999999 * 1000);
	ck_assert_int_eq(httpclient_parse_retry_after("soon", 0), -1);
	ck_assert_int_eq(httpclient_parse_retry_after("", 0), -1);
	ck_assert_int_eq(httpclient_parse_retry_after("-5", 0), -1);
	ck_assert_int_eq(httpclient_parse_retry_after("1.5", 0), -1);
	/* found by tests/fuzz/fuzz_retry_after.c: a date libcurl reads as far in the future overflowed */
	ck_assert_int_eq(httpclient_parse_retry_after("Wed,\xf9" "2t 7:2:2]:1112012012[Oct 7:2:2]:00 G", 1764000000),
			 INT64_C(9999999999) * 1000);
	ck_assert_int_eq(httpclient_parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", 1764000000),
			 INT64_C(9999999999) * 1000);
	ck_assert_int_eq(httpclient_parse_retry_after("Sat, 25 Nov 2028 16:00:00 GMT", 1764000000),
			 (INT64_C(1858780800) - 1764000000) * 1000);
}
END_TEST

START_TEST(policy_blocks_loopback_before_connecting)
{
	struct AddrPolicy *strict = addrpolicy_new(false);
	struct HttpClientRequest req = { 0 };
	char url[256];

	req.policy = strict;
	post(0, "/ok", &req);
	url_for(url, sizeof(url), "localhost", "/ok");
	post_full(1, url, &req);
	/* the client copies the policy */
	addrpolicy_free(strict);
	wait_for(2);
	ck_assert_int_eq(f.res[0].error, HTTPC_ERR_BLOCKED_ADDRESS);
	ck_assert_str_eq(f.res[0].cls, "blocked_address");
	ck_assert_msg(strstr(f.res[0].error_text, "127.0.0.1 is a loopback address"), "%s", f.res[0].error_text);
	ck_assert_int_eq(f.res[0].status, 0);
	ck_assert_int_eq(f.res[1].error, HTTPC_ERR_BLOCKED_ADDRESS);
	ck_assert_int_eq(f.peer.requests, 0);
}
END_TEST

START_TEST(policy_allows_private_when_opened)
{
	struct AddrPolicy *open = addrpolicy_new(true);
	struct AddrPolicy *listed = addrpolicy_new(false);
	struct HttpClientRequest req = { 0 };
	char err[128];

	ck_assert(addrpolicy_allow_network(listed, "127.0.0.0/8", err, sizeof(err)));
	req.policy = open;
	post(0, "/ok", &req);
	req.policy = listed;
	post(1, "/ok", &req);
	wait_for(2);
	ck_assert_int_eq(f.res[0].error, HTTPC_OK);
	ck_assert_int_eq(f.res[0].status, 200);
	ck_assert_int_eq(f.res[1].error, HTTPC_OK);
	ck_assert_int_eq(f.res[1].status, 200);
	addrpolicy_free(open);
	addrpolicy_free(listed);
}
END_TEST

/* A name resolving to addresses, some of them blocked: the others are tried. */
START_TEST(policy_judges_each_address_of_a_name)
{
	struct AddrPolicy *loopback_only = addrpolicy_new(false);
	struct HttpClientRequest req = { 0 };
	char err[128], url[256], mixed[64], dead[64], blocked[64];
	const char *r0[] = { mixed, NULL }, *r1[] = { dead, NULL }, *r2[] = { blocked, NULL };

	ck_assert(addrpolicy_allow_network(loopback_only, "127.0.0.0/8", err, sizeof(err)));
	snprintf(mixed, sizeof(mixed), "mixed.test:%d:10.0.0.1,127.0.0.1", f.peer.port);
	snprintf(dead, sizeof(dead), "dead.test:%d:10.0.0.1,127.0.0.2", f.peer.port);
	snprintf(blocked, sizeof(blocked), "blocked.test:%d:10.0.0.1,192.168.1.1", f.peer.port);
	req.policy = loopback_only;
	req.timeout_ms = 2000;
	req.resolve = r0;
	url_for(url, sizeof(url), "mixed.test", "/ok");
	post_full(0, url, &req);
	req.resolve = r1;
	url_for(url, sizeof(url), "dead.test", "/ok");
	post_full(1, url, &req);
	req.resolve = r2;
	url_for(url, sizeof(url), "blocked.test", "/ok");
	post_full(2, url, &req);
	wait_for(3);
	ck_assert_msg(f.res[0].error == HTTPC_OK && f.res[0].status == 200, "mixed: %s", f.res[0].error_text);
	ck_assert_msg(f.res[1].error == HTTPC_ERR_CONNECT, "one refused by the policy, one refusing: %s",
		      f.res[1].error_text);
	ck_assert_str_eq(f.res[1].cls, "connect");
	ck_assert_int_eq(f.res[2].error, HTTPC_ERR_BLOCKED_ADDRESS);
	addrpolicy_free(loopback_only);
}
END_TEST

START_TEST(denied_networks_win_over_everything)
{
	struct AddrPolicy *p = addrpolicy_new(true);
	struct HttpClientRequest req = { 0 };
	char err[128];

	ck_assert(addrpolicy_allow_network(p, "127.0.0.0/8", err, sizeof(err)));
	ck_assert(addrpolicy_deny_network(p, "127.0.0.0/24", err, sizeof(err)));
	req.policy = p;
	post(0, "/ok", &req);
	wait_for(1);
	ck_assert_int_eq(f.res[0].error, HTTPC_ERR_BLOCKED_ADDRESS);
	ck_assert_msg(strstr(f.res[0].error_text, "127.0.0.1 is in a denied network (127.0.0.0/24"), "%s",
		      f.res[0].error_text);
	ck_assert_int_eq(f.peer.requests, 0);
	addrpolicy_free(p);
}
END_TEST

START_TEST(reused_connection_is_checked_again)
{
	struct AddrPolicy *open = addrpolicy_new(true);
	struct AddrPolicy *strict = addrpolicy_new(false);
	struct HttpClientRequest req = { 0 };

	req.policy = open;
	post(0, "/ok", &req);
	wait_for(1);
	post(1, "/ok", &req);
	wait_for(2);
	/* the second request went over the first one's connection */
	ck_assert_int_eq(f.peer.requests, 2);
	ck_assert_int_eq(f.peer.peer_ports[0], f.peer.peer_ports[1]);
	req.policy = strict;
	post(2, "/ok", &req);
	wait_for(3);
	ck_assert_int_eq(f.res[2].error, HTTPC_ERR_BLOCKED_ADDRESS);
	ck_assert_int_eq(f.peer.requests, 2);
	addrpolicy_free(open);
	addrpolicy_free(strict);
}
END_TEST

START_TEST(concurrency_bound_is_respected_in_fifo_order)
{
	httpclient_free(f.client);
	f.client = httpclient_new(f.base, 2);
	for (int i = 0; i < 6; i++)
		post(i, "/slow", NULL);
	ck_assert_int_eq(httpclient_pending(f.client), 6);
	wait_for(6);
	ck_assert_int_eq(f.peer.max_inflight, 2);
	for (int i = 0; i < 6; i++) {
		ck_assert_int_eq(f.res[i].status, 200);
		ck_assert_str_eq(f.res[i].body, "slow");
	}
	for (int i = 0; i < 2; i++)
		for (int j = 4; j < 6; j++)
			ck_assert_int_lt(f.res[i].order, f.res[j].order);
	ck_assert_int_eq(httpclient_pending(f.client), 0);
}
END_TEST

START_TEST(errors_are_reported_from_the_loop)
{
	post_full(0, "ftp://127.0.0.1/file", NULL);
	post_full(1, "not a url", NULL);
	ck_assert(!f.res[0].done && !f.res[1].done);
	wait_for(2);
	ck_assert_int_eq(f.res[0].error, HTTPC_ERR_CONNECT);
	ck_assert_int_eq(f.res[1].error, HTTPC_ERR_CONNECT);
	ck_assert_str_ne(f.res[0].error_text, "");
}
END_TEST

START_TEST(free_cancels_unfinished_requests)
{
	httpclient_free(f.client);
	f.client = httpclient_new(f.base, 1);
	post(0, "/hang", NULL);
	post(1, "/ok", NULL);
	/* the first one runs, the second one waits */
	while (f.peer.requests == 0)
		event_base_loop(f.base, EVLOOP_ONCE);
	ck_assert_int_eq(httpclient_pending(f.client), 2);
	httpclient_free(f.client);
	f.client = NULL;
	ck_assert_int_eq(f.done, 2);
	ck_assert_int_eq(f.res[0].error, HTTPC_ERR_CANCELLED);
	ck_assert_str_eq(f.res[0].cls, "cancelled");
	ck_assert_int_eq(f.res[1].error, HTTPC_ERR_CANCELLED);
}
END_TEST

START_TEST(error_class_names)
{
	struct HttpClientResponse r = { 0 };
	char buf[HTTPCLIENT_CLASS_SIZE];

	r.status = 204;
	ck_assert_ptr_null(httpclient_error_class_name(&r, buf, sizeof(buf)));
	r.status = 410;
	ck_assert_str_eq(httpclient_error_class_name(&r, buf, sizeof(buf)), "http_410");
	r.status = 0;
	r.error = HTTPC_ERR_DNS;
	ck_assert_str_eq(httpclient_error_class_name(&r, buf, sizeof(buf)), "dns");
	r.error = HTTPC_ERR_TLS;
	ck_assert_str_eq(httpclient_error_class_name(&r, buf, sizeof(buf)), "tls");
	r.error = HTTPC_ERR_TIMEOUT;
	ck_assert_str_eq(httpclient_error_class_name(&r, buf, sizeof(buf)), "timeout");
}
END_TEST

static Suite *httpclient_suite(void)
{
	Suite *s = suite_create("httpclient");
	TCase *tc = tcase_create("httpclient");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, post_gets_200_with_body_and_sends_headers);
	tcase_add_test(tc, body_is_capped_at_64k_and_marked_truncated);
	tcase_add_test(tc, timeout_is_classified_within_margin);
	tcase_add_test(tc, refused_connection_is_connect);
	tcase_add_test(tc, redirect_is_not_followed);
	tcase_add_test(tc, retry_after_seconds_and_date_are_read);
	tcase_add_test(tc, retry_after_parser);
	tcase_add_test(tc, policy_blocks_loopback_before_connecting);
	tcase_add_test(tc, policy_allows_private_when_opened);
	tcase_add_test(tc, policy_judges_each_address_of_a_name);
	tcase_add_test(tc, denied_networks_win_over_everything);
	tcase_add_test(tc, reused_connection_is_checked_again);
	tcase_add_test(tc, concurrency_bound_is_respected_in_fifo_order);
	tcase_add_test(tc, errors_are_reported_from_the_loop);
	tcase_add_test(tc, free_cancels_unfinished_requests);
	tcase_add_test(tc, error_class_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(httpclient_suite());
}
