/*
 * SSRF protection (DESIGN §5): every blocked range, the IPv6 forms that
 * carry an IPv4 address, allow_private_networks, the allow-list and the
 * deny-list.
 */
#include "autoconfig.h"

#include "infra/addrpolicy.h"

#include <arpa/inet.h>
#include "unit_run.h"

#include <check.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* addr as inet_ntop writes it */
static void canonical(const char *addr, char *out, size_t size)
{
	unsigned char b[16];
	int af = strchr(addr, ':') ? AF_INET6 : AF_INET;

	ck_assert_int_eq(inet_pton(af, addr, b), 1);
	ck_assert_ptr_nonnull(inet_ntop(af, b, out, (socklen_t)size));
}

/* Blocked by the default policy, and naming the expected range. */
static void expect_blocked(const char *addr, const char *range_part)
{
	struct AddrPolicy *p = addrpolicy_new(false);
	char why[256] = "", canon[INET6_ADDRSTRLEN], want[128];
	const char *range = addrpolicy_blocked_range(addr);
	const char *form = strstr(range_part, " in ");

	canonical(addr, canon, sizeof(canon));
	ck_assert_msg(!addrpolicy_check_text(p, addr, why, sizeof(why)), "%s was allowed", addr);
	ck_assert_msg(strncmp(why, canon, strlen(canon)) == 0, "reason for %s does not name it: %s", addr, why);
	ck_assert_msg(strstr(why, range_part) != NULL, "reason for %s: \"%s\", expected \"%s\"", addr, why,
		      range_part);
	/* the range itself does not say in which form it was found */
	snprintf(want, sizeof(want), "%.*s", (int)(form ? form - range_part : (ptrdiff_t)strlen(range_part)), range_part);
	ck_assert_msg(range && strstr(range, want), "range of %s: %s", addr, range ? range : "(none)");
	addrpolicy_free(p);
}

static void expect_allowed(const struct AddrPolicy *p, const char *addr)
{
	char why[256] = "";

	ck_assert_msg(addrpolicy_check_text(p, addr, why, sizeof(why)), "%s was refused: %s", addr, why);
}

static void expect_public(const char *addr)
{
	struct AddrPolicy *p = addrpolicy_new(false);

	ck_assert_msg(addrpolicy_blocked_range(addr) == NULL, "%s counted as %s", addr, addrpolicy_blocked_range(addr));
	expect_allowed(p, addr);
	addrpolicy_free(p);
}

START_TEST(blocks_every_ipv4_range)
{
	expect_blocked("127.0.0.1", "loopback address (127.0.0.0/8)");
	expect_blocked("127.255.255.254", "loopback");
	expect_blocked("10.0.0.1", "private address (10.0.0.0/8)");
	expect_blocked("10.255.255.255", "private");
	expect_blocked("172.16.0.1", "private address (172.16.0.0/12)");
	expect_blocked("172.31.255.255", "private address (172.16.0.0/12)");
	expect_blocked("192.168.1.1", "private address (192.168.0.0/16)");
	expect_blocked("169.254.1.1", "link-local address (169.254.0.0/16)");
	expect_blocked("100.64.0.1", "shared (CGNAT) address (100.64.0.0/10)");
	expect_blocked("100.127.255.255", "CGNAT");
	expect_blocked("0.0.0.0", "\"this network\" address (0.0.0.0/8)");
	expect_blocked("0.1.2.3", "this network");
	expect_blocked("240.0.0.1", "reserved address (240.0.0.0/4)");
	expect_blocked("255.255.255.254", "reserved");
	expect_blocked("255.255.255.255", "broadcast address");
	expect_blocked("198.18.0.1", "benchmarking address (198.18.0.0/15)");
	expect_blocked("198.19.255.255", "benchmarking");
	expect_blocked("224.0.0.1", "multicast address (224.0.0.0/4)");
	expect_blocked("239.255.255.255", "multicast");
	expect_blocked("192.0.0.8", "IETF protocol assignment address (192.0.0.0/24)");
	expect_blocked("192.0.2.1", "documentation address (192.0.2.0/24)");
	expect_blocked("198.51.100.7", "documentation address (198.51.100.0/24)");
	expect_blocked("203.0.113.255", "documentation address (203.0.113.0/24)");
	expect_blocked("192.88.99.1", "6to4 relay anycast address (192.88.99.0/24)");
}
END_TEST

START_TEST(names_cloud_metadata_addresses)
{
	expect_blocked("169.254.169.254", "cloud metadata address (169.254.169.254/32)");
	expect_blocked("100.100.100.200", "cloud metadata address (100.100.100.200/32)");
	expect_blocked("169.254.170.2", "cloud metadata address (169.254.170.2/32)");
	expect_blocked("168.63.129.16", "cloud metadata address (168.63.129.16/32)");
	expect_blocked("192.0.0.192", "cloud metadata address (192.0.0.192/32)");
	expect_blocked("::ffff:168.63.129.16", "cloud metadata address (168.63.129.16/32) in IPv4-mapped form");
	expect_blocked("fd00:ec2::254", "cloud metadata address (fd00:ec2::254/128)");
}
END_TEST

START_TEST(range_edges_are_exact)
{
	expect_public("172.15.255.255");
	expect_public("172.32.0.0");
	expect_public("100.63.255.255");
	expect_public("100.128.0.0");
	expect_public("198.17.255.255");
	expect_public("198.20.0.0");
	expect_public("223.255.255.255");
	expect_public("192.167.255.255");
	expect_public("169.253.255.255");
	expect_public("11.0.0.0");
	expect_public("168.63.129.15");
	expect_public("192.0.1.255");
	expect_public("192.0.3.0");
	expect_public("1.1.1.1");
	expect_public("93.184.216.34");
}
END_TEST

START_TEST(blocks_every_ipv6_range)
{
	expect_blocked("::1", "loopback address (::1/128)");
	expect_blocked("::", "unspecified address (::/128)");
	expect_blocked("fc00::1", "unique local address (fc00::/7)");
	expect_blocked("fdff:ffff::1", "unique local");
	expect_blocked("fe80::1", "link-local address (fe80::/10)");
	expect_blocked("febf::1", "link-local");
	expect_blocked("fec0::1", "site-local address (fec0::/10)");
	expect_blocked("ff02::1", "multicast address (ff00::/8)");
	expect_blocked("64:ff9b:1::1", "local-use NAT64");
	expect_blocked("2001:db8::1", "documentation address (2001:db8::/32)");
	expect_blocked("100::1", "discard-only address (100::/64)");
	expect_public("2001:4860:4860::8888");
	expect_public("2606:4700:4700::1111");
	expect_public("fbff::1");
	expect_public("fe7f::1");
}
END_TEST

START_TEST(judges_ipv6_forms_by_their_ipv4_address)
{
	expect_blocked("::ffff:127.0.0.1", "loopback address (127.0.0.0/8) in IPv4-mapped form");
	expect_blocked("::ffff:7f00:1", "loopback");
	expect_blocked("::ffff:169.254.169.254", "cloud metadata address (169.254.169.254/32) in IPv4-mapped form");
	expect_blocked("::ffff:0:10.1.2.3", "private address (10.0.0.0/8) in IPv4-translated form");
	expect_blocked("::10.0.0.1", "private address (10.0.0.0/8) in IPv4-compatible form");
	expect_blocked("::127.0.0.2", "loopback");
	expect_blocked("64:ff9b::192.168.0.1", "private address (192.168.0.0/16) in NAT64 form");
	expect_blocked("64:ff9b::a9fe:a9fe", "cloud metadata");
	expect_blocked("2002:c0a8:0101::1", "private address (192.168.0.0/16) in 6to4 form");
	expect_blocked("2002:7f00:1::", "loopback");
	/* Teredo: server 10.0.0.1, client 93.184.216.34 (stored inverted) */
	expect_blocked("2001:0:a00:1::a247:27dd", "private address (10.0.0.0/8) in Teredo form");
	/* Teredo: server 93.184.216.34, client 127.0.0.1 inverted = 80ff:fffe */
	expect_blocked("2001:0:5db8:d822::80ff:fffe", "loopback address (127.0.0.0/8) in Teredo form");
	expect_public("::ffff:8.8.8.8");
	expect_public("64:ff9b::8.8.8.8");
	expect_public("2002:0808:0808::1");
}
END_TEST

START_TEST(allow_private_networks_opens_every_range)
{
	static const char *const addrs[] = {
		"127.0.0.1", "10.1.1.1", "172.16.5.5", "192.168.0.1", "169.254.169.254", "100.64.0.1",
		"0.0.0.0", "240.0.0.1", "255.255.255.255", "198.18.0.1", "224.0.0.1", "::1", "::",
		"fc00::1", "fe80::1", "ff02::1", "::ffff:127.0.0.1", "fd00:ec2::254", "100.100.100.200",
	};
	struct AddrPolicy *p = addrpolicy_new(true);

	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++)
		expect_allowed(p, addrs[i]);
	expect_allowed(p, "8.8.8.8");
	addrpolicy_free(p);
}
END_TEST

START_TEST(allow_list_opens_only_its_subnets)
{
	struct AddrPolicy *p = addrpolicy_new(false);
	char err[256], why[256];

	ck_assert(addrpolicy_allow_network(p, "10.20.0.0/16", err, sizeof(err)));
	ck_assert(addrpolicy_allow_network(p, "fd12:3456::/32", err, sizeof(err)));
	ck_assert(addrpolicy_allow_network(p, "127.0.0.5", err, sizeof(err)));
	expect_allowed(p, "10.20.255.1");
	expect_allowed(p, "::ffff:10.20.0.9");	/* the IPv4 subnet opens the mapped form */
	expect_allowed(p, "fd12:3456:1::1");
	expect_allowed(p, "127.0.0.5");
	expect_allowed(p, "8.8.8.8");
	ck_assert(!addrpolicy_check_text(p, "10.21.0.1", why, sizeof(why)));
	ck_assert(!addrpolicy_check_text(p, "127.0.0.6", why, sizeof(why)));
	ck_assert(!addrpolicy_check_text(p, "fd12:3457::1", why, sizeof(why)));
	ck_assert(!addrpolicy_check_text(p, "192.168.0.1", why, sizeof(why)));
	addrpolicy_free(p);
}
END_TEST

START_TEST(deny_list_wins_over_everything)
{
	struct AddrPolicy *p = addrpolicy_new(true);
	char err[128], why[256] = "";

	ck_assert(addrpolicy_allow_network(p, "10.0.0.0/8", err, sizeof(err)));
	ck_assert(addrpolicy_deny_network(p, "10.1.0.0/16", err, sizeof(err)));
	ck_assert(addrpolicy_deny_network(p, "93.184.216.0/24", err, sizeof(err)));
	ck_assert(!addrpolicy_deny_network(p, "93.184.216.1/24", err, sizeof(err)));
	expect_allowed(p, "10.2.0.1");
	ck_assert(!addrpolicy_check_text(p, "10.1.2.3", why, sizeof(why)));
	ck_assert_str_eq(why, "10.1.2.3 is in a denied network (10.1.0.0/16, callback.denied_networks)");
	ck_assert(!addrpolicy_check_text(p, "93.184.216.34", why, sizeof(why)));
	ck_assert(!addrpolicy_check_text(p, "::ffff:93.184.216.34", why, sizeof(why)));
	ck_assert_msg(strstr(why, "denied network (93.184.216.0/24"), "%s", why);
	ck_assert(!addrpolicy_check_text(p, "2002:5db8:d822::1", why, sizeof(why)));	/* 6to4 of 93.184.216.34 */
	expect_allowed(p, "93.184.217.1");
	addrpolicy_free(p);
}
END_TEST

START_TEST(allow_list_rejects_bad_subnets)
{
	struct AddrPolicy *p = addrpolicy_new(false);
	char err[256];

	ck_assert(!addrpolicy_allow_network(p, "10.0.0.1/8", err, sizeof(err)));
	ck_assert_str_eq(err, "\"10.0.0.1/8\" has bits set after the /8 prefix");
	ck_assert(!addrpolicy_allow_network(p, "10.0.0.0/33", err, sizeof(err)));
	ck_assert_str_eq(err, "\"10.0.0.0/33\": prefix length must be a number between 0 and 32");
	ck_assert(!addrpolicy_allow_network(p, "example.com/8", err, sizeof(err)));
	ck_assert_str_eq(err, "\"example.com/8\" is not an IPv4 or IPv6 subnet such as 192.168.0.0/16 or fd00::/8");
	ck_assert(!addrpolicy_allow_network(p, "fd00::/", err, sizeof(err)));
	ck_assert(addrpolicy_allow_network(p, "0.0.0.0/0", err, sizeof(err)));
	expect_allowed(p, "127.0.0.1");
	addrpolicy_free(p);
}
END_TEST

START_TEST(clone_keeps_flag_and_list)
{
	struct AddrPolicy *p = addrpolicy_new(false);
	struct AddrPolicy *c;
	char err[128], why[256];

	ck_assert(addrpolicy_allow_network(p, "192.168.7.0/24", err, sizeof(err)));
	c = addrpolicy_clone(p);
	addrpolicy_free(p);
	expect_allowed(c, "192.168.7.7");
	ck_assert(!addrpolicy_check_text(c, "192.168.8.7", why, sizeof(why)));
	addrpolicy_free(c);
	ck_assert_ptr_null(addrpolicy_clone(NULL));
	addrpolicy_free(NULL);
}
END_TEST

START_TEST(checks_socket_addresses)
{
	struct AddrPolicy *p = addrpolicy_new(false);
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct sockaddr_storage other;
	char why[256];

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	ck_assert(!addrpolicy_check_sockaddr(p, (struct sockaddr *)&sin, sizeof(sin), why, sizeof(why)));
	ck_assert_str_eq(why, "127.0.0.1 is a loopback address (127.0.0.0/8)");
	inet_pton(AF_INET, "1.2.3.4", &sin.sin_addr);
	ck_assert(addrpolicy_check_sockaddr(p, (struct sockaddr *)&sin, sizeof(sin), why, sizeof(why)));
	/* a truncated address is refused */
	ck_assert(!addrpolicy_check_sockaddr(p, (struct sockaddr *)&sin, 4, why, sizeof(why)));

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:192.168.1.1", &sin6.sin6_addr);
	ck_assert(!addrpolicy_check_sockaddr(p, (struct sockaddr *)&sin6, sizeof(sin6), why, sizeof(why)));
	ck_assert_str_eq(why, "::ffff:192.168.1.1 is a private address (192.168.0.0/16) in IPv4-mapped form");
	inet_pton(AF_INET6, "2606:4700:4700::1111", &sin6.sin6_addr);
	ck_assert(addrpolicy_check_sockaddr(p, (struct sockaddr *)&sin6, sizeof(sin6), NULL, 0));

	memset(&other, 0, sizeof(other));
	other.ss_family = AF_UNIX;
	ck_assert(!addrpolicy_check_sockaddr(p, (struct sockaddr *)&other, sizeof(other), why, sizeof(why)));
	ck_assert_str_eq(why, "not an IPv4 or IPv6 address");
	ck_assert(!addrpolicy_check_text(p, "localhost", why, sizeof(why)));
	ck_assert_str_eq(why, "not a numeric IP address");
	addrpolicy_free(p);
}
END_TEST

static Suite *addrpolicy_suite(void)
{
	Suite *s = suite_create("addrpolicy");
	TCase *tc = tcase_create("addrpolicy");

	tcase_add_test(tc, blocks_every_ipv4_range);
	tcase_add_test(tc, names_cloud_metadata_addresses);
	tcase_add_test(tc, range_edges_are_exact);
	tcase_add_test(tc, blocks_every_ipv6_range);
	tcase_add_test(tc, judges_ipv6_forms_by_their_ipv4_address);
	tcase_add_test(tc, allow_private_networks_opens_every_range);
	tcase_add_test(tc, allow_list_opens_only_its_subnets);
	tcase_add_test(tc, deny_list_wins_over_everything);
	tcase_add_test(tc, allow_list_rejects_bad_subnets);
	tcase_add_test(tc, clone_keeps_flag_and_list);
	tcase_add_test(tc, checks_socket_addresses);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(addrpolicy_suite());
}
