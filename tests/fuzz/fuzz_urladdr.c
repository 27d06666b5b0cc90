/*
 * libFuzzer target for the callback URL check (src/infra/url.c) and,
 * differentially, the SSRF address policy (src/infra/addrpolicy.c): the
 * first byte chooses an IPv4 (4 bytes) or IPv6 (16 bytes) address whose
 * blocked-or-not verdict must equal the one of the independent table
 * below; the rest of the input is a callback URL, accepted only in the
 * form DESIGN §3 allows.
 */
#include "autoconfig.h"

#include "infra/addrpolicy.h"
#include "infra/url.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct V4 {
	uint32_t net;
	int bits;
};
struct V6 {
	const char *net;
	int bits;
};

/* DESIGN §5 and addrpolicy.h, written out again on purpose */
static const struct V4 v4_blocked[] = {
	{ 0x00000000, 8 },  { 0x0a000000, 8 },	{ 0x64400000, 10 }, { 0x7f000000, 8 },	{ 0xa9fe0000, 16 },
	{ 0xac100000, 12 }, { 0xc0000000, 24 }, { 0xc0000200, 24 }, { 0xc0586300, 24 }, { 0xc0a80000, 16 },
	{ 0xc6120000, 15 }, { 0xc6336400, 24 }, { 0xcb007100, 24 }, { 0xe0000000, 4 },	{ 0xf0000000, 4 },
	{ 0xa83f8110, 32 },
};
static const struct V6 v6_blocked[] = {
	{ "::", 128 },	   { "::1", 128 },	{ "64:ff9b:1::", 48 }, { "100::", 64 },	  { "2001:db8::", 32 },
	{ "fc00::", 7 },   { "fe80::", 10 },	{ "fec0::", 10 },      { "ff00::", 8 },
};

static bool v4_is_blocked(uint32_t a)
{
	for (size_t i = 0; i < sizeof(v4_blocked) / sizeof(v4_blocked[0]); i++) {
		uint32_t mask = v4_blocked[i].bits ? 0xffffffffu << (32 - v4_blocked[i].bits) : 0;

		if ((a & mask) == v4_blocked[i].net)
			return true;
	}
	return false;
}

static uint32_t be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static bool prefix_eq(const uint8_t *a, const uint8_t *n, int bits)
{
	for (int i = 0; i < bits; i++) {
		int byte = i / 8, bit = 7 - i % 8;

		if (((a[byte] >> bit) & 1) != ((n[byte] >> bit) & 1))
			return false;
	}
	return true;
}

static bool zero(const uint8_t *b, int n)
{
	for (int i = 0; i < n; i++) {
		if (b[i])
			return false;
	}
	return true;
}

static bool v6_is_blocked(const uint8_t *a)
{
	uint8_t net[16];

	for (size_t i = 0; i < sizeof(v6_blocked) / sizeof(v6_blocked[0]); i++) {
		if (inet_pton(AF_INET6, v6_blocked[i].net, net) != 1)
			abort();
		if (prefix_eq(a, net, v6_blocked[i].bits))
			return true;
	}
	if (zero(a, 10) && a[10] == 0xff && a[11] == 0xff)	/* mapped */
		return v4_is_blocked(be32(a + 12));
	if (zero(a, 8) && a[8] == 0xff && a[9] == 0xff && a[10] == 0 && a[11] == 0)	/* translated */
		return v4_is_blocked(be32(a + 12));
	if (zero(a, 12))	/* compatible */
		return v4_is_blocked(be32(a + 12));
	if (a[0] == 0 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b && zero(a + 4, 8))	/* NAT64 */
		return v4_is_blocked(be32(a + 12));
	if (a[0] == 0x20 && a[1] == 0x02)	/* 6to4 */
		return v4_is_blocked(be32(a + 2));
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0)	/* Teredo: server, client inverted */
		return v4_is_blocked(be32(a + 4)) || v4_is_blocked(~be32(a + 12));
	return false;
}

static void check_address(const uint8_t *data, size_t size)
{
	char text[INET6_ADDRSTRLEN];
	bool v6 = data[0] & 1, ours, theirs;

	if (size < (v6 ? 17u : 5u))
		return;
	if (!inet_ntop(v6 ? AF_INET6 : AF_INET, data + 1, text, sizeof(text)))
		abort();
	ours = addrpolicy_blocked_range(text) != NULL;
	theirs = v6 ? v6_is_blocked(data + 1) : v4_is_blocked(be32(data + 1));
	if (ours != theirs)
		abort();
}

static void check_url(const uint8_t *data, size_t size)
{
	char *url = malloc(size ? size : 1), err[256] = "";
	struct CallbackUrl out;

	if (!url)
		abort();
	memcpy(url, data, size);
	if (url_check_callback(url, size, &out, err, sizeof(err))) {
		if (size > URL_MAX_LEN || !out.host[0] || out.port < 1 || out.port > 65535 ||
		    (strcmp(out.scheme, "http") != 0 && strcmp(out.scheme, "https") != 0))
			abort();
		for (size_t i = 0; i < size; i++) {
			if (url[i] <= 0x20 || url[i] >= 0x7f || strchr("<>\"{}|^`\\", url[i]))
				abort();
		}
	} else if (!err[0]) {
		abort();
	}
	free(url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	check_address(data, size);
	check_url(data + 1, size - 1);
	return 0;
}
