/*
 * Callback URL checks (DESIGN §3).  Only the form of the URL is checked
 * here; whether its address may be reached is decided at delivery (§5).
 */
#ifndef CHARGEGATE_URL_H
#define CHARGEGATE_URL_H

#include <stdbool.h>
#include <stddef.h>

#define URL_MAX_LEN 2048

struct CallbackUrl {
	char scheme[6];  /* "http" or "https", lower case */
	char host[256];  /* as libcurl normalises it; IPv6 literals without brackets */
	int port;        /* the given port, else 80 or 443 */
};

/*
 * Check url[0..len) as a callback URL: an absolute http or https URL
 * ("scheme://", scheme in any case) with a non-empty host, at most
 * URL_MAX_LEN bytes, printable ASCII only (no whitespace, control or
 * non-ASCII bytes, nor < > " { } | ^ ` \ which RFC 3986 does not allow;
 * percent-encode them), no user information, no IPv6 zone
 * identifier, port 1..65535 when given.  A fragment is accepted; it is
 * never sent.  On success fills *out unless out is NULL.  On failure err
 * gets a detail phrase for the callback_url member, e.g. "must not contain
 * user information".
 */
bool url_check_callback(const char *url, size_t len, struct CallbackUrl *out, char *err, size_t errsize);

#endif
