#include "autoconfig.h"

#include "infra/addrpolicy.h"

#include "infra/alloc.h"
#include "infra/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An IPv4 address is kept in b[0..4), an IPv6 address in b[0..16). */
struct Addr {
	int family;
	unsigned char b[16];
};

struct Net {
	struct Addr addr;
	int prefix;
};

struct NetList {
	int n;
	int cap;
	struct Net *nets;
};

struct AddrPolicy {
	bool allow_private;
	struct NetList allowed;		/* opened although blocked */
	struct NetList denied;		/* blocked whatever else says (the operator's own ranges) */
};

struct Range {
	const char *cidr;
	const char *what;	/* "loopback address (127.0.0.0/8)" */
};

#define RANGE(cidr, name) { cidr, name " (" cidr ")" }

/* More specific entries first: the first match names the range. */
static const struct Range v4_blocked[] = {
	RANGE("255.255.255.255/32", "broadcast address"),
	RANGE("169.254.169.254/32", "cloud metadata address"),
	RANGE("169.254.170.2/32", "cloud metadata address"),	/* AWS ECS task credentials */
	RANGE("100.100.100.200/32", "cloud metadata address"),	/* Alibaba */
	RANGE("168.63.129.16/32", "cloud metadata address"),	/* Azure WireServer */
	RANGE("192.0.0.192/32", "cloud metadata address"),	/* Oracle */
	RANGE("0.0.0.0/8", "\"this network\" address"),
	RANGE("10.0.0.0/8", "private address"),
	RANGE("100.64.0.0/10", "shared (CGNAT) address"),
	RANGE("127.0.0.0/8", "loopback address"),
	RANGE("169.254.0.0/16", "link-local address"),
	RANGE("172.16.0.0/12", "private address"),
	RANGE("192.0.0.0/24", "IETF protocol assignment address"),
	RANGE("192.0.2.0/24", "documentation address"),
	RANGE("192.88.99.0/24", "6to4 relay anycast address"),
	RANGE("192.168.0.0/16", "private address"),
	RANGE("198.18.0.0/15", "benchmarking address"),
	RANGE("198.51.100.0/24", "documentation address"),
	RANGE("203.0.113.0/24", "documentation address"),
	RANGE("224.0.0.0/4", "multicast address"),
	RANGE("240.0.0.0/4", "reserved address"),
};

static const struct Range v6_blocked[] = {
	RANGE("::/128", "unspecified address"),
	RANGE("::1/128", "loopback address"),
	RANGE("fd00:ec2::254/128", "cloud metadata address"),
	RANGE("64:ff9b:1::/48", "local-use NAT64 address"),
	RANGE("100::/64", "discard-only address"),
	RANGE("2001:db8::/32", "documentation address"),
	RANGE("fc00::/7", "unique local address"),
	RANGE("fe80::/10", "link-local address"),
	RANGE("fec0::/10", "site-local address"),
	RANGE("ff00::/8", "multicast address"),
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* --- addresses and subnets ------------------------------------------------------ */

static bool parse_addr(const char *text, struct Addr *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, text, out->b) == 1) {
		out->family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, text, out->b) == 1) {
		out->family = AF_INET6;
		return true;
	}
	return false;
}

static int family_bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

static bool parse_prefix(const char *s, int maxbits, int *out)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0 || v > maxbits)
		return false;
	*out = (int)v;
	return true;
}

static bool prefix_match(const unsigned char *a, const unsigned char *net, int bits)
{
	int full = bits / 8, rest = bits % 8;
	unsigned char mask;

	if (memcmp(a, net, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (unsigned char)(0xff << (8 - rest));
	return (a[full] & mask) == (net[full] & mask);
}

/* Are bits after the prefix set? */
static bool host_bits_set(const struct Addr *a, int prefix)
{
	struct Addr masked = *a;
	int bytes = family_bits(a->family) / 8;

	for (int i = 0; i < bytes; i++) {
		int keep = prefix - i * 8;

		if (keep <= 0)
			masked.b[i] = 0;
		else if (keep < 8)
			masked.b[i] &= (unsigned char)(0xff << (8 - keep));
	}
	return memcmp(masked.b, a->b, (size_t)bytes) != 0;
}

/* "a.b.c.d/n" or "x::y/n" (a bare address: a host). */
static bool parse_net(const char *cidr, struct Net *out, char *err, size_t errsize)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(cidr, '/');
	size_t hostlen = slash ? (size_t)(slash - cidr) : strlen(cidr);

	bool ok = hostlen < sizeof(host);

	if (ok) {
		memcpy(host, cidr, hostlen);
		host[hostlen] = '\0';
		ok = parse_addr(host, &out->addr);
	}
	if (!ok) {
		snprintf(err, errsize, "\"%s\" is not an IPv4 or IPv6 subnet such as 192.168.0.0/16 or fd00::/8", cidr);
		return false;
	}
	out->prefix = family_bits(out->addr.family);
	if (slash && !parse_prefix(slash + 1, family_bits(out->addr.family), &out->prefix)) {
		snprintf(err, errsize, "\"%s\": prefix length must be a number between 0 and %d", cidr,
			 family_bits(out->addr.family));
		return false;
	}
	if (host_bits_set(&out->addr, out->prefix)) {
		snprintf(err, errsize, "\"%s\" has bits set after the /%d prefix", cidr, out->prefix);
		return false;
	}
	return true;
}

static bool net_contains(const struct Net *n, const struct Addr *a)
{
	return n->addr.family == a->family && prefix_match(a->b, n->addr.b, n->prefix);
}

static void addr_text(const struct Addr *a, char *buf, size_t size)
{
	if (!inet_ntop(a->family, a->b, buf, (socklen_t)size))
		snprintf(buf, size, "(unprintable address)");
}

/* --- the blocked ranges --------------------------------------------------------- */

static const struct Range *match_table(const struct Range *table, size_t n, const struct Addr *a)
{
	for (size_t i = 0; i < n; i++) {
		struct Net net;
		char err[128];

		if (!parse_net(table[i].cidr, &net, err, sizeof(err)))
			fatal("addrpolicy: bad built-in range %s: %s", table[i].cidr, err);
		if (net_contains(&net, a))
			return &table[i];
	}
	return NULL;
}

static bool all_zero(const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (b[i])
			return false;
	}
	return true;
}

static void set_v4(struct Addr *out, const unsigned char *b, bool invert)
{
	memset(out, 0, sizeof(*out));
	out->family = AF_INET;
	for (int i = 0; i < 4; i++)
		out->b[i] = invert ? (unsigned char)~b[i] : b[i];
}

/*
 * The IPv4 addresses an IPv6 address carries (at most two, for Teredo);
 * returns their number and names the form.
 */
static int embedded_v4(const unsigned char *b, struct Addr v4[2], const char **form)
{
	static const unsigned char nat64[12] = { 0x00, 0x64, 0xff, 0x9b };

	if (all_zero(b, 10) && b[10] == 0xff && b[11] == 0xff) {
		*form = "IPv4-mapped";
	} else if (all_zero(b, 8) && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0) {
		*form = "IPv4-translated";
	} else if (all_zero(b, 12)) {
		*form = "IPv4-compatible";
	} else if (memcmp(b, nat64, sizeof(nat64)) == 0) {
		*form = "NAT64";
	} else if (b[0] == 0x20 && b[1] == 0x02) {
		*form = "6to4";
		set_v4(&v4[0], b + 2, false);
		return 1;
	} else if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0) {
		*form = "Teredo";
		set_v4(&v4[0], b + 4, false);
		set_v4(&v4[1], b + 12, true);
		return 2;
	} else {
		return 0;
	}
	set_v4(&v4[0], b + 12, false);
	return 1;
}

struct Verdict {
	const struct Range *range;	/* NULL: not blocked */
	struct Addr via;		/* the address the range matched */
	const char *form;		/* NULL, or the IPv6 form carrying via */
};

static struct Verdict classify(const struct Addr *a)
{
	struct Verdict v = { NULL, *a, NULL };
	struct Addr v4[2];
	int n;

	if (a->family == AF_INET) {
		v.range = match_table(v4_blocked, ARRAY_LEN(v4_blocked), a);
		return v;
	}
	v.range = match_table(v6_blocked, ARRAY_LEN(v6_blocked), a);
	if (v.range)
		return v;
	n = embedded_v4(a->b, v4, &v.form);
	for (int i = 0; i < n; i++) {
		v.range = match_table(v4_blocked, ARRAY_LEN(v4_blocked), &v4[i]);
		if (v.range) {
			v.via = v4[i];
			return v;
		}
	}
	v.form = NULL;
	return v;
}

/* --- the policy ----------------------------------------------------------------- */

struct AddrPolicy *addrpolicy_new(bool allow_private_networks)
{
	struct AddrPolicy *p = xcalloc(1, sizeof(*p));

	p->allow_private = allow_private_networks;
	return p;
}

void addrpolicy_free(struct AddrPolicy *p)
{
	if (!p)
		return;
	free(p->allowed.nets);
	free(p->denied.nets);
	free(p);
}

static void list_copy(struct NetList *dst, const struct NetList *src)
{
	if (src->n == 0)
		return;
	dst->nets = xcalloc((size_t)src->n, sizeof(*dst->nets));
	memcpy(dst->nets, src->nets, (size_t)src->n * sizeof(*dst->nets));
	dst->n = dst->cap = src->n;
}

struct AddrPolicy *addrpolicy_clone(const struct AddrPolicy *p)
{
	struct AddrPolicy *c;

	if (!p)
		return NULL;
	c = addrpolicy_new(p->allow_private);
	list_copy(&c->allowed, &p->allowed);
	list_copy(&c->denied, &p->denied);
	return c;
}

static bool list_add(struct NetList *l, const char *cidr, char *err, size_t errsize)
{
	struct Net net;

	if (!parse_net(cidr, &net, err, errsize))
		return false;
	if (l->n == l->cap) {
		int cap = l->cap ? l->cap * 2 : 8;
		struct Net *nets = xrealloc(l->nets, (size_t)cap * sizeof(*nets));

		l->nets = nets;
		l->cap = cap;
	}
	l->nets[l->n++] = net;
	return true;
}

bool addrpolicy_allow_network(struct AddrPolicy *p, const char *cidr, char *err, size_t errsize)
{
	return list_add(&p->allowed, cidr, err, errsize);
}

bool addrpolicy_deny_network(struct AddrPolicy *p, const char *cidr, char *err, size_t errsize)
{
	return list_add(&p->denied, cidr, err, errsize);
}

static const struct Net *in_list(const struct NetList *l, const struct Addr *a)
{
	for (int i = 0; i < l->n; i++) {
		if (net_contains(&l->nets[i], a))
			return &l->nets[i];
	}
	return NULL;
}

static void explain(const struct Addr *a, const struct Verdict *v, char *why, size_t whysize)
{
	char text[INET6_ADDRSTRLEN];

	if (!why || whysize == 0)
		return;
	addr_text(a, text, sizeof(text));
	if (v->form)
		snprintf(why, whysize, "%s is a %s in %s form", text, v->range->what, v->form);
	else
		snprintf(why, whysize, "%s is a %s", text, v->range->what);
}

/* The operator's denied networks win over everything, the IPv4 an IPv6 form carries included. */
static bool denied(const struct AddrPolicy *p, const struct Addr *a, char *why, size_t whysize)
{
	struct Addr v4[2];
	const char *form;
	const struct Net *hit = in_list(&p->denied, a);
	int n = hit || a->family != AF_INET6 ? 0 : embedded_v4(a->b, v4, &form);
	char text[INET6_ADDRSTRLEN], net[INET6_ADDRSTRLEN];

	for (int i = 0; i < n && !hit; i++)
		hit = in_list(&p->denied, &v4[i]);
	if (!hit)
		return false;
	if (why && whysize) {
		addr_text(a, text, sizeof(text));
		addr_text(&hit->addr, net, sizeof(net));
		snprintf(why, whysize, "%s is in a denied network (%s/%d, callback.denied_networks)", text, net,
			 hit->prefix);
	}
	return true;
}

static bool check_addr(const struct AddrPolicy *p, const struct Addr *a, char *why, size_t whysize)
{
	struct Verdict v;

	if (denied(p, a, why, whysize))
		return false;
	v = classify(a);
	if (!v.range || p->allow_private)
		return true;
	if (in_list(&p->allowed, a) || (v.form && in_list(&p->allowed, &v.via)))
		return true;
	explain(a, &v, why, whysize);
	return false;
}

static bool refuse(char *why, size_t whysize, const char *reason)
{
	if (why && whysize)
		snprintf(why, whysize, "%s", reason);
	return false;
}

bool addrpolicy_check_sockaddr(const struct AddrPolicy *p, const struct sockaddr *sa, socklen_t len,
			       char *why, size_t whysize)
{
	struct Addr a;

	memset(&a, 0, sizeof(a));
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		struct sockaddr_in sin;

		memcpy(&sin, sa, sizeof(sin));
		a.family = AF_INET;
		memcpy(a.b, &sin.sin_addr, 4);
	} else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, sa, sizeof(sin6));
		a.family = AF_INET6;
		memcpy(a.b, &sin6.sin6_addr, 16);
	} else {
		return refuse(why, whysize, "not an IPv4 or IPv6 address");
	}
	return check_addr(p, &a, why, whysize);
}

bool addrpolicy_check_text(const struct AddrPolicy *p, const char *addr, char *why, size_t whysize)
{
	struct Addr a;

	if (!parse_addr(addr, &a))
		return refuse(why, whysize, "not a numeric IP address");
	return check_addr(p, &a, why, whysize);
}

const char *addrpolicy_blocked_range(const char *addr)
{
	struct Addr a;
	struct Verdict v;

	if (!parse_addr(addr, &a))
		return "not a numeric IP address";
	v = classify(&a);
	return v.range ? v.range->what : NULL;
}
