/*
 * Host names to addresses without blocking the event loop: libevent's
 * evdns (resolv.conf and /etc/hosts), one lookup at a time per caller.
 * libpq would otherwise call getaddrinfo() inside PQconnectPoll() and
 * stall every connection of the daemon while a DNS server is slow.
 */
#ifndef CHARGEGATE_RESOLVE_H
#define CHARGEGATE_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct Resolver;
struct ResolveReq;

#define RESOLVE_ADDR_SIZE 64	/* an IPv4 or IPv6 address as text */

/*
 * Called once per lookup, from the loop.  On success addr is the first
 * address (text, IPv4 preferred) and err NULL; on failure addr is NULL and
 * err says why.
 */
typedef void (*resolve_cb)(const char *addr, const char *err, void *arg);

/* NULL (and err) when the resolver cannot be set up. */
struct Resolver *resolver_new(struct event_base *base, char *err, size_t errsize);
/*
 * Cancels what is in flight first (their callbacks do not run).  libevent
 * reports cancellations from the loop: with lookups in flight, the memory
 * is released on the loop's next turn, not at once.
 */
void resolver_free(struct Resolver *r);

/* True when host needs no lookup: an IP address or a Unix-socket directory. */
bool resolve_is_literal(const char *host);

/*
 * Starts a lookup; the callback may run before this returns (a hosts-file
 * hit).  Returns a handle for resolve_cancel(), or NULL once the callback
 * has run.
 */
struct ResolveReq *resolve_start(struct Resolver *r, const char *host, resolve_cb cb, void *arg);
/* The callback will not run. */
void resolve_cancel(struct ResolveReq *req);

#endif
