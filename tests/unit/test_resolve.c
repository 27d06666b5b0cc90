/*
 * Host names looked up off the event loop (src/infra/resolve.c): a name
 * from /etc/hosts, a name that does not exist, literals that need no
 * lookup, and a cancelled lookup whose callback never runs.
 */
#include "autoconfig.h"

#include "infra/resolve.h"

#include "unit_run.h"

#include <check.h>
#include <event2/event.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct Result {
	int calls;
	char addr[RESOLVE_ADDR_SIZE];
	char err[256];
};

static void done(const char *addr, const char *err, void *arg)
{
	struct Result *r = arg;

	r->calls++;
	snprintf(r->addr, sizeof(r->addr), "%s", addr ? addr : "");
	snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
}

static struct Result lookup(const char *host)
{
	struct event_base *base = event_base_new();
	char err[256];
	struct Resolver *r = resolver_new(base, err, sizeof(err));
	struct Result res = { 0 };

	ck_assert_msg(r != NULL, "%s", err);
	resolve_start(r, host, done, &res);
	/* evdns gives up by itself (timeouts and retries); no lookup outlives this loop */
	while (res.calls == 0 && event_base_loop(base, EVLOOP_ONCE) == 0)
		;
	resolver_free(r);
	event_base_free(base);
	return res;
}

/* What the system's own resolver says: a machine without "localhost" in /etc/hosts has nothing to check. */
static bool system_knows_localhost(void)
{
	struct addrinfo *ai = NULL;
	bool ok = getaddrinfo("localhost", NULL, NULL, &ai) == 0;

	if (ai)
		freeaddrinfo(ai);
	return ok;
}

START_TEST(localhost_comes_from_the_hosts_file)
{
	struct Result res;

	if (!system_knows_localhost())
		return;
	res = lookup("localhost");

	ck_assert_int_eq(res.calls, 1);
	ck_assert_msg(strcmp(res.addr, "127.0.0.1") == 0 || strcmp(res.addr, "::1") == 0, "%s", res.addr);
}
END_TEST

START_TEST(an_unknown_name_fails_with_a_reason)
{
	struct Result res = lookup("no-such-host.invalid");

	ck_assert_int_eq(res.calls, 1);
	ck_assert_str_eq(res.addr, "");
	ck_assert_str_ne(res.err, "");
}
END_TEST

START_TEST(literals_need_no_lookup)
{
	ck_assert(resolve_is_literal("127.0.0.1"));
	ck_assert(resolve_is_literal("::1"));
	ck_assert(resolve_is_literal("/var/run/postgresql"));
	ck_assert(!resolve_is_literal("localhost"));
	ck_assert(!resolve_is_literal("db.example.com"));
}
END_TEST

START_TEST(a_cancelled_lookup_never_calls_back)
{
	struct event_base *base = event_base_new();
	char err[256];
	struct Resolver *r = resolver_new(base, err, sizeof(err));
	struct Result res = { 0 };
	struct ResolveReq *q = resolve_start(r, "no-such-host.invalid", done, &res);

	ck_assert(q != NULL);
	resolve_cancel(q);
	event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_int_eq(res.calls, 0);
	/* and one still pending when the resolver goes */
	resolve_start(r, "other-missing-host.invalid", done, &res);
	resolver_free(r);
	/* libevent reports cancellations from the loop; the resolver goes after them */
	for (int turn = 0; turn < 3; turn++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_int_eq(res.calls, 0);
	event_base_free(base);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("resolve");
	TCase *tc = tcase_create("resolve");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, localhost_comes_from_the_hosts_file);
	tcase_add_test(tc, an_unknown_name_fails_with_a_reason);
	tcase_add_test(tc, literals_need_no_lookup);
	tcase_add_test(tc, a_cancelled_lookup_never_calls_back);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
