#include "autoconfig.h"

#include "infra/resolve.h"

#include "infra/alloc.h"
#include "infra/log.h"

#include <arpa/inet.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/*
 * libevent reports a cancellation later, from the loop, and that report
 * reads the evdns base: a cancelled request is kept until it comes, and the
 * base is freed only once none is outstanding.
 */
struct Resolver {
	struct event_base *base;
	struct evdns_base *dns;
	struct ResolveReq *reqs;	/* in flight */
	int cancelling;		/* cancelled, their EAI_CANCEL report not yet in */
	bool closing;		/* resolver_free() ran: free when cancelling reaches 0 */
};

struct ResolveReq {
	struct ResolveReq *next, **prevp;
	struct Resolver *r;
	struct evdns_getaddrinfo_request *pending;
	bool running;		/* inside resolve_start: the callback may come synchronously */
	bool done;
	resolve_cb cb;
	void *arg;
};

struct Resolver *resolver_new(struct event_base *base, char *err, size_t errsize)
{
	struct Resolver *r = xcalloc(1, sizeof(*r));

	r->base = base;
	/* reads /etc/resolv.conf and /etc/hosts, as getaddrinfo() would */
	r->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (!r->dns) {
		snprintf(err, errsize, "could not set up the DNS resolver (evdns_base_new failed)");
		free(r);
		return NULL;
	}
	return r;
}

static void unlink_req(struct ResolveReq *q)
{
	*q->prevp = q->next;
	if (q->next)
		q->next->prevp = q->prevp;
}

static void free_now(evutil_socket_t fd, short what, void *arg)
{
	struct Resolver *r = arg;

	(void)fd;
	(void)what;
	/* fail_requests = 0: every request was cancelled and has reported */
	evdns_base_free(r->dns, 0);
	free(r);
}

void resolver_free(struct Resolver *r)
{
	if (!r)
		return;
	while (r->reqs)
		resolve_cancel(r->reqs);
	r->closing = true;
	if (r->cancelling == 0)
		free_now(-1, 0, r);
}

bool resolve_is_literal(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	return host[0] == '/' || host[0] == '@' || inet_pton(AF_INET, host, &a4) == 1 ||
	       inet_pton(AF_INET6, host, &a6) == 1;
}

static bool addr_text(const struct sockaddr *sa, char out[RESOLVE_ADDR_SIZE])
{
	const void *a = sa->sa_family == AF_INET ? (const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr
						 : (const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

	return inet_ntop(sa->sa_family, a, out, RESOLVE_ADDR_SIZE) != NULL;
}

static void finish(struct ResolveReq *q, const char *addr, const char *err)
{
	q->done = true;
	q->pending = NULL;
	unlink_req(q);
	q->cb(addr, err, q->arg);
	if (!q->running)
		free(q);
}

static void lookup_done(int result, struct evutil_addrinfo *res, void *arg)
{
	struct ResolveReq *q = arg;
	char addr[RESOLVE_ADDR_SIZE], err[256];
	const struct evutil_addrinfo *pick = NULL;

	if (result == EVUTIL_EAI_CANCEL) {
		struct Resolver *r = q->r;

		if (res)
			evutil_freeaddrinfo(res);
		free(q);
		/* not from inside evdns's own callback: from the loop, once */
		if (--r->cancelling == 0 && r->closing &&
		    event_base_once(r->base, -1, EV_TIMEOUT, free_now, r, NULL) != 0)
			log_error("resolver: could not schedule its release (event_base_once failed)");
		return;
	}
	for (const struct evutil_addrinfo *ai = res; ai; ai = ai->ai_next) {
		if (!pick || (ai->ai_family == AF_INET && pick->ai_family != AF_INET))
			pick = ai;
	}
	if (result == 0 && pick && addr_text(pick->ai_addr, addr)) {
		finish(q, addr, NULL);
	} else {
		snprintf(err, sizeof(err), "%s", result ? evutil_gai_strerror(result) : "no usable address");
		finish(q, NULL, err);
	}
	if (res)
		evutil_freeaddrinfo(res);
}

struct ResolveReq *resolve_start(struct Resolver *r, const char *host, resolve_cb cb, void *arg)
{
	struct evutil_addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
					 .ai_flags = EVUTIL_AI_ADDRCONFIG };
	struct ResolveReq *q = xcalloc(1, sizeof(*q));

	q->r = r;
	q->cb = cb;
	q->arg = arg;
	q->next = r->reqs;
	if (q->next)
		q->next->prevp = &q->next;
	q->prevp = &r->reqs;
	r->reqs = q;
	q->running = true;
	q->pending = evdns_getaddrinfo(r->dns, host, NULL, &hints, lookup_done, q);
	q->running = false;
	if (q->done) {
		free(q);
		return NULL;
	}
	return q;
}

void resolve_cancel(struct ResolveReq *q)
{
	if (!q)
		return;
	unlink_req(q);
	q->done = true;
	if (!q->pending) {
		free(q);
		return;
	}
	q->r->cancelling++;
	evdns_getaddrinfo_cancel(q->pending);	/* lookup_done gets EAI_CANCEL later and frees q */
}
