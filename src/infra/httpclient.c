#include "autoconfig.h"

#include "infra/httpclient.h"

#include "infra/addrpolicy.h"
#include "infra/alloc.h"
#include "infra/clock.h"
#include "infra/log.h"
#include "infra/redact.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#ifdef PACKAGE_VERSION
#define USER_AGENT "chargegate/" PACKAGE_VERSION
#else
#define USER_AGENT "chargegate"
#endif

struct Transfer;

/* A list of transfers: the waiting FIFO or the running set. */
struct TransferList {
	struct Transfer *head;
	struct Transfer *tail;
	int n;
};

/* One socket libcurl asked us to watch (curl_multi_assign'ed to it). */
struct SockWatch {
	struct SockWatch *prev;
	struct SockWatch *next;
	struct HttpClient *client;
	curl_socket_t fd;
	bool armed;
	struct event ev;
};

struct Transfer {
	struct Transfer *prev;
	struct Transfer *next;
	struct TransferList *list;	/* the list holding it */
	struct HttpClient *client;
	CURL *easy;			/* NULL until it starts */
	bool added;			/* to the multi handle */
	struct curl_slist *headers;
	struct curl_slist *resolve;
	char *url;
	char *body;
	size_t body_len;
	long timeout_ms;
	long connect_timeout_ms;
	int64_t deadline_ms;		/* 0: none */
	size_t cap;
	struct AddrPolicy *policy;	/* our copy, or NULL */
	httpclient_cb cb;
	void *arg;
	char *resp;
	size_t resp_len;
	size_t resp_alloc;
	bool truncated;
	bool blocked;			/* some address was refused by the policy */
	int addresses;			/* addresses libcurl tried to connect to (or reused) */
	int blocked_addresses;		/* of them, refused by the policy */
	char blocked_why[256];
	char errbuf[CURL_ERROR_SIZE];
	struct timespec started;
};

struct HttpClient {
	struct event_base *base;
	CURLM *multi;
	struct event timer;	/* libcurl's single timeout */
	struct event kick;	/* starts waiting transfers from the loop */
	struct event expiry;	/* fails waiting transfers whose deadline passed */
	int max_concurrency;
	struct TransferList waiting;
	struct TransferList running;
	struct SockWatch *watches;
};

static int curl_users;

static void curl_acquire(void)
{
	CURLcode rc;

	if (curl_users++ > 0)
		return;
	rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK)
		fatal("httpclient: could not initialise libcurl: %s", curl_easy_strerror(rc));
}

static void curl_release(void)
{
	if (--curl_users == 0)
		curl_global_cleanup();
}

static int64_t elapsed_ms(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* --- transfer lists ----------------------------------------------------------- */

static void list_push(struct TransferList *l, struct Transfer *t)
{
	t->list = l;
	t->next = NULL;
	t->prev = l->tail;
	if (l->tail)
		l->tail->next = t;
	else
		l->head = t;
	l->tail = t;
	l->n++;
}

static void list_remove(struct Transfer *t)
{
	struct TransferList *l = t->list;

	if (!l)
		return;
	if (t->prev)
		t->prev->next = t->next;
	else
		l->head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	else
		l->tail = t->prev;
	l->n--;
	t->list = NULL;
	t->prev = t->next = NULL;
}

/* --- a transfer: creation, libcurl callbacks, completion ---------------------------- */

static struct curl_slist *slist_add(struct curl_slist *list, const char *line)
{
	struct curl_slist *l = curl_slist_append(list, line);

	if (!l)
		fatal("out of memory");
	return l;
}

/*
 * The URL for a log line, without the password an operator may have put in
 * authorization.url.  One buffer: the loop is single-threaded and each
 * caller uses the text before the next call.
 */
static const char *shown_url(const struct Transfer *t)
{
	static char buf[4096];

	return redact_url(buf, sizeof(buf), t->url);
}

static struct Transfer *transfer_new(struct HttpClient *c, const struct HttpClientRequest *req, httpclient_cb cb,
				     void *arg)
{
	struct Transfer *t = xcalloc(1, sizeof(*t));

	t->client = c;
	t->cb = cb;
	t->arg = arg;
	t->url = xstrdup(req->url ? req->url : "");
	t->body = xmalloc(req->body_len + 1);
	if (req->body_len)
		memcpy(t->body, req->body, req->body_len);
	t->body[req->body_len] = '\0';
	t->body_len = req->body_len;
	for (const char *const *h = req->headers; h && *h; h++)
		t->headers = slist_add(t->headers, *h);
	for (const char *const *r = req->resolve; r && *r; r++)
		t->resolve = slist_add(t->resolve, *r);
	/* no "Expect: 100-continue" round trip */
	t->headers = slist_add(t->headers, "Expect:");
	t->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : HTTPCLIENT_DEFAULT_TIMEOUT_MS;
	t->connect_timeout_ms = req->connect_timeout_ms > 0 ? req->connect_timeout_ms : t->timeout_ms;
	t->deadline_ms = req->deadline_ms;
	t->cap = req->max_response_bytes > 0 ? req->max_response_bytes : HTTPCLIENT_DEFAULT_MAX_RESPONSE;
	t->policy = addrpolicy_clone(req->policy);
	return t;
}

static void transfer_free(struct Transfer *t)
{
	if (t->easy)
		curl_easy_cleanup(t->easy);
	curl_slist_free_all(t->headers);
	curl_slist_free_all(t->resolve);
	addrpolicy_free(t->policy);
	free(t->url);
	free(t->body);
	free(t->resp);
	free(t);
}

/* Keep at most cap bytes of the body; read (and drop) the rest. */
static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct Transfer *t = userdata;
	size_t n = size * nmemb;
	size_t room = t->cap - t->resp_len;
	size_t keep = n < room ? n : room;

	if (keep < n)
		t->truncated = true;
	if (keep == 0)
		return n;
	if (t->resp_len + keep + 1 > t->resp_alloc) {
		size_t want = t->resp_alloc ? t->resp_alloc * 2 : 4096;
		char *p;

		while (want < t->resp_len + keep + 1)
			want *= 2;
		if (want > t->cap + 1)
			want = t->cap + 1;
		p = xrealloc(t->resp, want);
		t->resp = p;
		t->resp_alloc = want;
	}
	memcpy(t->resp + t->resp_len, ptr, keep);
	t->resp_len += keep;
	t->resp[t->resp_len] = '\0';
	return n;
}

static void note_blocked(struct Transfer *t, const char *why)
{
	size_t used = strlen(t->blocked_why);

	if (t->blocked && used + 2 < sizeof(t->blocked_why))
		snprintf(t->blocked_why + used, sizeof(t->blocked_why) - used, "; %s", why);
	else if (!t->blocked)
		snprintf(t->blocked_why, sizeof(t->blocked_why), "%s", why);
	t->blocked = true;
	t->blocked_addresses++;
	log_debug("httpclient: refused to connect to %s: %s", shown_url(t), why);
}

/* libcurl is about to open a socket to a resolved address: check it first. */
static curl_socket_t open_socket_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct Transfer *t = clientp;
	char why[160];
	curl_socket_t fd;

	if (purpose != CURLSOCKTYPE_IPCXN)
		return CURL_SOCKET_BAD;
	t->addresses++;
	if (!addrpolicy_check_sockaddr(t->policy, &addr->addr, (socklen_t)addr->addrlen, why, sizeof(why))) {
		note_blocked(t, why);
		return CURL_SOCKET_BAD;
	}
	fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
	if (fd < 0) {
		log_warning("httpclient: could not open a socket for %s: %s", shown_url(t), strerror(errno));
		return CURL_SOCKET_BAD;
	}
	return fd;
}

/* Before the request goes out on a new or reused connection: check its peer. */
static int prereq_cb(void *clientp, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
	struct Transfer *t = clientp;
	char why[160];

	if (addrpolicy_check_text(t->policy, primary_ip, why, sizeof(why)))
		return CURL_PREREQFUNC_OK;
	t->addresses = t->blocked_addresses = 0;	/* the one peer decides */
	t->addresses++;
	note_blocked(t, why);
	return CURL_PREREQFUNC_ABORT;
}

static enum HttpClientError classify(const struct Transfer *t, CURLcode rc)
{
	/* final only when every address was refused: one that failed otherwise may work next time */
	if (t->blocked && t->blocked_addresses == t->addresses &&
	    (rc == CURLE_COULDNT_CONNECT || rc == CURLE_ABORTED_BY_CALLBACK))
		return HTTPC_ERR_BLOCKED_ADDRESS;
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return HTTPC_ERR_DNS;
	case CURLE_OPERATION_TIMEDOUT:
		return HTTPC_ERR_TIMEOUT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CLIENTCERT:
	case CURLE_USE_SSL_FAILED:
		return HTTPC_ERR_TLS;
	default:
		return HTTPC_ERR_CONNECT;
	}
}

static void error_text(const struct Transfer *t, CURLcode rc, enum HttpClientError e, char *buf, size_t size)
{
	if (e == HTTPC_ERR_BLOCKED_ADDRESS)
		snprintf(buf, size, "blocked address: %s", t->blocked_why);
	else if (t->blocked)
		snprintf(buf, size, "%s (blocked address: %s)", t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc),
			 t->blocked_why);
	else
		snprintf(buf, size, "%s", t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc));
}

static int64_t retry_after(struct Transfer *t)
{
	struct curl_header *h = NULL;
	CURLHcode hc = curl_easy_header(t->easy, "Retry-After", 0, CURLH_HEADER, -1, &h);

	if (hc == CURLHE_OK && h && h->value)
		return httpclient_parse_retry_after(h->value, time(NULL));
	if (hc != CURLHE_MISSING && hc != CURLHE_NOHEADERS && hc != CURLHE_BADINDEX)
		log_warning("httpclient: could not read the Retry-After header of %s: error %d", shown_url(t), (int)hc);
	return -1;
}

/* Leave the lists and the multi handle, call back, free. */
static void deliver(struct Transfer *t, const struct HttpClientResponse *r)
{
	struct HttpClient *c = t->client;

	list_remove(t);
	if (t->added) {
		CURLMcode mc = curl_multi_remove_handle(c->multi, t->easy);

		if (mc != CURLM_OK)
			log_error("httpclient: curl_multi_remove_handle for %s failed: %s", shown_url(t),
				  curl_multi_strerror(mc));
		t->added = false;
	}
	t->cb(r, t->arg);
	transfer_free(t);
}

static void fail(struct Transfer *t, enum HttpClientError e, const char *text)
{
	struct HttpClientResponse r = { 0 };

	r.body = "";
	r.error = e;
	r.error_text = text;
	r.retry_after_ms = -1;
	if (t->list == &t->client->running)
		r.latency_ms = elapsed_ms(&t->started);
	deliver(t, &r);
}

static void complete(struct Transfer *t, CURLcode rc)
{
	struct HttpClientResponse r = { 0 };
	char text[CURL_ERROR_SIZE + 320] = "";
	long code = 0;

	r.body = t->resp ? t->resp : "";
	r.body_len = t->resp_len;
	r.truncated = t->truncated;
	r.latency_ms = elapsed_ms(&t->started);
	r.retry_after_ms = -1;
	r.error_text = text;
	if (rc == CURLE_OK) {
		CURLcode ic = curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);

		if (ic != CURLE_OK || code <= 0) {
			rc = ic != CURLE_OK ? ic : CURLE_WEIRD_SERVER_REPLY;
			snprintf(t->errbuf, sizeof(t->errbuf), "no HTTP status: %s", curl_easy_strerror(rc));
		}
	}
	if (rc == CURLE_OK) {
		r.status = (int)code;
		r.error = HTTPC_OK;
		r.retry_after_ms = retry_after(t);
	} else {
		r.error = classify(t, rc);
		error_text(t, rc, r.error, text, sizeof(text));
	}
	deliver(t, &r);
}

#define EASY_SET(t, opt, val)                                                                    \
	do {                                                                                     \
		CURLcode rc_ = curl_easy_setopt((t)->easy, opt, val);                            \
		if (rc_ != CURLE_OK) {                                                           \
			log_error("httpclient: curl_easy_setopt(%s) for %s failed: %s", #opt,    \
				  shown_url(t), curl_easy_strerror(rc_));                        \
			return false;                                                            \
		}                                                                                \
	} while (0)

static bool setup_policy(struct Transfer *t)
{
	EASY_SET(t, CURLOPT_OPENSOCKETFUNCTION, open_socket_cb);
	EASY_SET(t, CURLOPT_OPENSOCKETDATA, t);
	EASY_SET(t, CURLOPT_PREREQFUNCTION, prereq_cb);
	EASY_SET(t, CURLOPT_PREREQDATA, t);
	return true;
}

static bool setup_easy(struct Transfer *t)
{
	t->easy = curl_easy_init();
	if (!t->easy)
		fatal("httpclient: curl_easy_init failed (out of memory)");
	EASY_SET(t, CURLOPT_PRIVATE, t);
	EASY_SET(t, CURLOPT_ERRORBUFFER, t->errbuf);
	EASY_SET(t, CURLOPT_URL, t->url);
	EASY_SET(t, CURLOPT_PROTOCOLS_STR, "http,https");
	EASY_SET(t, CURLOPT_FOLLOWLOCATION, 0L);
	/* the peer we check must be the peer we talk to */
	EASY_SET(t, CURLOPT_PROXY, "");
	EASY_SET(t, CURLOPT_NOPROXY, "*");
	EASY_SET(t, CURLOPT_NOSIGNAL, 1L);
	EASY_SET(t, CURLOPT_TIMEOUT_MS, t->timeout_ms);
	EASY_SET(t, CURLOPT_CONNECTTIMEOUT_MS, t->connect_timeout_ms);
	EASY_SET(t, CURLOPT_POST, 1L);
	EASY_SET(t, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->body_len);
	EASY_SET(t, CURLOPT_POSTFIELDS, t->body);
	EASY_SET(t, CURLOPT_HTTPHEADER, t->headers);
	EASY_SET(t, CURLOPT_USERAGENT, USER_AGENT);
	EASY_SET(t, CURLOPT_WRITEFUNCTION, write_cb);
	EASY_SET(t, CURLOPT_WRITEDATA, t);
	if (t->resolve)
		EASY_SET(t, CURLOPT_RESOLVE, t->resolve);
	return t->policy ? setup_policy(t) : true;
}

/* What is left of a transfer's deadline, in ms; LONG_MAX when it has none. */
static long time_left(const struct Transfer *t)
{
	return t->deadline_ms ? (long)(t->deadline_ms - clock_now_ms()) : LONG_MAX;
}

static void start(struct HttpClient *c, struct Transfer *t)
{
	CURLMcode mc;
	char text[256];
	long left = time_left(t);

	if (left <= 0) {
		fail(t, HTTPC_ERR_TIMEOUT, "the deadline passed before a connection was free");
		return;
	}
	if (left < t->timeout_ms)
		t->timeout_ms = left;
	if (t->connect_timeout_ms > t->timeout_ms)
		t->connect_timeout_ms = t->timeout_ms;
	list_remove(t);
	list_push(&c->running, t);
	clock_gettime(CLOCK_MONOTONIC, &t->started);
	if (!setup_easy(t)) {
		fail(t, HTTPC_ERR_CONNECT, "could not set up the transfer (see the log)");
		return;
	}
	mc = curl_multi_add_handle(c->multi, t->easy);
	if (mc != CURLM_OK) {
		snprintf(text, sizeof(text), "curl_multi_add_handle failed: %s", curl_multi_strerror(mc));
		log_error("httpclient: %s for %s", text, shown_url(t));
		fail(t, HTTPC_ERR_CONNECT, text);
		return;
	}
	t->added = true;
}

/* --- the multi handle on the event loop ---------------------------------------------- */

static void arm_expiry(struct HttpClient *c);

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct HttpClient *c = arg;

	while (c->waiting.head && c->running.n < c->max_concurrency)
		start(c, c->waiting.head);
	arm_expiry(c);
}

/* Waiting transfers whose deadline passed fail now, not when a connection frees. */
static void expiry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct HttpClient *c = arg;
	struct Transfer *t = c->waiting.head, *next;

	for (; t; t = next) {
		next = t->next;
		if (t->deadline_ms && time_left(t) <= 0)
			fail(t, HTTPC_ERR_TIMEOUT, "the deadline passed while waiting for a free connection");
	}
	arm_expiry(c);
}

static void arm_expiry(struct HttpClient *c)
{
	int64_t soonest = 0;
	struct timeval tv;

	for (struct Transfer *t = c->waiting.head; t; t = t->next) {
		if (t->deadline_ms && (!soonest || t->deadline_ms < soonest))
			soonest = t->deadline_ms;
	}
	if (!soonest) {
		event_del(&c->expiry);
		return;
	}
	tv = clock_timeval(soonest - clock_now_ms());
	if (evtimer_add(&c->expiry, &tv) != 0)
		log_error("httpclient: could not arm the deadline timer of waiting requests");
}

static void kick(struct HttpClient *c)
{
	if (c->waiting.head && c->running.n < c->max_concurrency)
		event_active(&c->kick, 0, 0);
}

static void check_done(struct HttpClient *c)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(c->multi, &left))) {
		char *priv = NULL;
		CURLcode rc = msg->data.result;
		CURLcode ic;

		if (msg->msg != CURLMSG_DONE)
			continue;
		ic = curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		if (ic != CURLE_OK || !priv) {
			log_error("httpclient: a finished transfer has no owner: %s", curl_easy_strerror(ic));
			continue;
		}
		complete((struct Transfer *)(void *)priv, rc);
	}
	kick(c);
}

static void drive(struct HttpClient *c, curl_socket_t fd, int action)
{
	int running = 0;
	CURLMcode mc = curl_multi_socket_action(c->multi, fd, action, &running);

	if (mc != CURLM_OK)
		log_error("httpclient: curl_multi_socket_action failed: %s", curl_multi_strerror(mc));
	check_done(c);
}

static void timer_event_cb(evutil_socket_t fd, short what, void *arg)
{
	drive(arg, CURL_SOCKET_TIMEOUT, 0);
}

static void sock_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct SockWatch *w = arg;
	int action = 0;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	/* w may be freed inside: libcurl removes sockets it closes */
	drive(w->client, (curl_socket_t)fd, action);
}

/* CURLMOPT_TIMERFUNCTION: only arm our timer; never call libcurl from here. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct HttpClient *c = userp;
	struct timeval tv;

	if (timeout_ms < 0) {
		if (evtimer_del(&c->timer) != 0)
			log_error("httpclient: could not stop the libcurl timer");
		return 0;
	}
	tv = clock_timeval(timeout_ms);
	if (evtimer_add(&c->timer, &tv) != 0) {
		log_error("httpclient: could not arm the libcurl timer (%ld ms)", timeout_ms);
		return -1;
	}
	return 0;
}

static void watch_free(struct HttpClient *c, struct SockWatch *w)
{
	if (w->armed && event_del(&w->ev) != 0)
		log_error("httpclient: could not stop watching socket %d", (int)w->fd);
	if (w->prev)
		w->prev->next = w->next;
	else
		c->watches = w->next;
	if (w->next)
		w->next->prev = w->prev;
	free(w);
}

static struct SockWatch *watch_new(struct HttpClient *c, curl_socket_t fd)
{
	struct SockWatch *w = xcalloc(1, sizeof(*w));

	w->client = c;
	w->fd = fd;
	w->next = c->watches;
	if (c->watches)
		c->watches->prev = w;
	c->watches = w;
	return w;
}

static int watch_arm(struct HttpClient *c, struct SockWatch *w, int what)
{
	short kind = EV_PERSIST;

	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (w->armed && event_del(&w->ev) != 0)
		log_error("httpclient: could not stop watching socket %d", (int)w->fd);
	w->armed = false;
	if (event_assign(&w->ev, c->base, w->fd, kind, sock_event_cb, w) != 0 || event_add(&w->ev, NULL) != 0) {
		log_error("httpclient: could not watch socket %d", (int)w->fd);
		return -1;
	}
	w->armed = true;
	return 0;
}

/* CURLMOPT_SOCKETFUNCTION: what libcurl wants to know about socket s. */
static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct HttpClient *c = userp;
	struct SockWatch *w = socketp;
	CURLMcode mc;

	if (what == CURL_POLL_REMOVE) {
		if (w)
			watch_free(c, w);
		return 0;
	}
	if (!w) {
		w = watch_new(c, s);
		mc = curl_multi_assign(c->multi, s, w);
		if (mc != CURLM_OK) {
			log_error("httpclient: curl_multi_assign for socket %d failed: %s", (int)s,
				  curl_multi_strerror(mc));
			watch_free(c, w);
			return -1;
		}
	}
	return watch_arm(c, w, what);
}

/* --- the public API ----------------------------------------------------------------- */

static void multi_set(CURLMcode mc, const char *what)
{
	if (mc != CURLM_OK)
		fatal("httpclient: curl_multi_setopt(%s) failed: %s", what, curl_multi_strerror(mc));
}

struct HttpClient *httpclient_new(struct event_base *base, int max_concurrency)
{
	struct HttpClient *c = xcalloc(1, sizeof(*c));
	long conns = max_concurrency > 0 ? max_concurrency : 1;

	curl_acquire();
	c->base = base;
	c->max_concurrency = (int)conns;
	c->multi = curl_multi_init();
	if (!c->multi)
		fatal("httpclient: curl_multi_init failed (out of memory)");
	if (evtimer_assign(&c->timer, base, timer_event_cb, c) != 0 ||
	    event_assign(&c->kick, base, -1, 0, kick_cb, c) != 0 || evtimer_assign(&c->expiry, base, expiry_cb, c) != 0)
		fatal("httpclient: could not set up the client's events");
	multi_set(curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb), "CURLMOPT_SOCKETFUNCTION");
	multi_set(curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c), "CURLMOPT_SOCKETDATA");
	multi_set(curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb), "CURLMOPT_TIMERFUNCTION");
	multi_set(curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c), "CURLMOPT_TIMERDATA");
	multi_set(curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns), "CURLMOPT_MAX_TOTAL_CONNECTIONS");
	multi_set(curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, conns), "CURLMOPT_MAX_HOST_CONNECTIONS");
	multi_set(curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, conns), "CURLMOPT_MAXCONNECTS");
	return c;
}

void httpclient_free(struct HttpClient *c)
{
	CURLMcode mc;

	if (!c)
		return;
	/* a callback may post again: those are cancelled too */
	while (c->running.head || c->waiting.head)
		fail(c->running.head ? c->running.head : c->waiting.head, HTTPC_ERR_CANCELLED,
		     "the HTTP client was shut down");
	mc = curl_multi_cleanup(c->multi);
	if (mc != CURLM_OK)
		log_error("httpclient: curl_multi_cleanup failed: %s", curl_multi_strerror(mc));
	while (c->watches)
		watch_free(c, c->watches);
	if (event_del(&c->timer) != 0 || event_del(&c->kick) != 0 || event_del(&c->expiry) != 0)
		log_error("httpclient: could not remove the client's events");
	free(c);
	curl_release();
}

void httpclient_post(struct HttpClient *c, const struct HttpClientRequest *req, httpclient_cb cb, void *arg)
{
	list_push(&c->waiting, transfer_new(c, req, cb, arg));
	/* even with a free slot: the transfer starts, and may end, from the loop */
	event_active(&c->kick, 0, 0);
}

int httpclient_pending(const struct HttpClient *c)
{
	return c ? c->waiting.n + c->running.n : 0;
}

const char *httpclient_error_class_name(const struct HttpClientResponse *resp, char *buf, size_t size)
{
	static const char *const names[] = {
		[HTTPC_OK] = NULL,
		[HTTPC_ERR_DNS] = "dns",
		[HTTPC_ERR_CONNECT] = "connect",
		[HTTPC_ERR_TLS] = "tls",
		[HTTPC_ERR_TIMEOUT] = "timeout",
		[HTTPC_ERR_BLOCKED_ADDRESS] = "blocked_address",
		[HTTPC_ERR_CANCELLED] = "cancelled",
	};

	if (resp->error == HTTPC_OK) {
		if (resp->status >= 200 && resp->status <= 299)
			return NULL;
		snprintf(buf, size, "http_%03d", resp->status);
		return buf;
	}
	if ((unsigned)resp->error >= sizeof(names) / sizeof(names[0]) || !names[resp->error])
		snprintf(buf, size, "connect");
	else
		snprintf(buf, size, "%s", names[resp->error]);
	return buf;
}

/* The longest Retry-After read: about 300 years (the sender caps it far lower). */
#define RETRY_AFTER_CAP_S INT64_C(9999999999)

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
	}
	return n > 0;
}

int64_t httpclient_parse_retry_after(const char *value, time_t now)
{
	char buf[128];
	size_t n;
	time_t when;

	while (*value == ' ' || *value == '\t')
		value++;
	n = strlen(value);
	while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t' || value[n - 1] == '\r' || value[n - 1] == '\n'))
		n--;
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, value, n);
	buf[n] = '\0';
	if (all_digits(buf, n)) {
		/* more than ten digits is more than 300 years: cap it */
		if (n > 10)
			return RETRY_AFTER_CAP_S * 1000;
		return (int64_t)strtoll(buf, NULL, 10) * 1000;
	}
	when = curl_getdate(buf, NULL);
	if (when == (time_t)-1)
		return -1;
	if (when <= now)
		return 0;
	/* a date far in the future (libcurl reads odd years) must not overflow */
	return (int64_t)(when - now > RETRY_AFTER_CAP_S ? RETRY_AFTER_CAP_S : when - now) * 1000;
}
