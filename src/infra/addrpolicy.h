/*
 * SSRF protection (DESIGN §5): which peer addresses an outgoing HTTP
 * request may connect to.  The HTTP client asks the policy about every
 * address it is about to open a socket to and about the peer of every
 * reused connection, so a request only ever reaches a checked address.
 *
 * Blocked unless opened: loopback (127/8, ::1), private (10/8, 172.16/12,
 * 192.168/16), link-local (169.254/16, fe80::/10), CGNAT 100.64/10,
 * "this network" 0/8, reserved 240/4 with the broadcast address,
 * benchmarking 198.18/15, multicast (224/4, ff00::/8), unique local
 * fc00::/7, site-local fec0::/10, unspecified ::, local-use NAT64
 * 64:ff9b:1::/48, IETF protocol assignments 192.0.0.0/24, the
 * documentation ranges (192.0.2/24, 198.51.100/24, 203.0.113/24,
 * 2001:db8::/32), the 6to4 relay anycast 192.88.99/24, discard-only
 * 100::/64 and the cloud metadata addresses 169.254.169.254,
 * 169.254.170.2, 100.100.100.200, 168.63.129.16, 192.0.0.192 and
 * fd00:ec2::254.  IPv6 forms that carry an IPv4
 * address are judged by that IPv4 address: IPv4-mapped ::ffff:0:0/96,
 * IPv4-translated ::ffff:0:0:0/96, IPv4-compatible ::/96, NAT64
 * 64:ff9b::/96, 6to4 2002::/16 and Teredo 2001::/32 (server and client).
 *
 * allow_private_networks opens every blocked range; an allow-list of
 * subnets opens the addresses inside them (an IPv4 subnet also opens the
 * IPv6 forms carrying one of its addresses).  A deny-list of subnets (the
 * operator's own ranges) blocks the addresses inside them whatever the
 * rest says, IPv6 forms carrying one of them included.
 */
#ifndef CHARGEGATE_ADDRPOLICY_H
#define CHARGEGATE_ADDRPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct AddrPolicy;

struct AddrPolicy *addrpolicy_new(bool allow_private_networks);
void addrpolicy_free(struct AddrPolicy *p);
/* A copy with the same flag and allow-list (NULL for NULL). */
struct AddrPolicy *addrpolicy_clone(const struct AddrPolicy *p);

/*
 * Open the subnet cidr ("192.168.10.0/24", "fd00::/8"; a bare address
 * means a single host).  false with a reason in err when it is not a
 * subnet or has bits set after the prefix.
 */
bool addrpolicy_allow_network(struct AddrPolicy *p, const char *cidr, char *err, size_t errsize);
/* Block the subnet cidr whatever else allows it (same forms and errors). */
bool addrpolicy_deny_network(struct AddrPolicy *p, const char *cidr, char *err, size_t errsize);

/*
 * May a connection go to sa?  true when allowed.  false fills why (may be
 * NULL) with e.g. "127.0.0.1 is a loopback address (127.0.0.0/8)"; every
 * address family other than IPv4 and IPv6 is refused.
 */
bool addrpolicy_check_sockaddr(const struct AddrPolicy *p, const struct sockaddr *sa, socklen_t len,
			       char *why, size_t whysize);
/* The same for a numeric address in text form ("10.0.0.1", "::1"). */
bool addrpolicy_check_text(const struct AddrPolicy *p, const char *addr, char *why, size_t whysize);

/*
 * The blocked range a numeric address falls in, regardless of any policy:
 * "loopback address (127.0.0.0/8)", or NULL when it is a public address.
 * Text that is not a numeric address yields "not a numeric IP address".
 */
const char *addrpolicy_blocked_range(const char *addr);

#endif
