#include "autoconfig.h"

#include "infra/url.h"

#include "infra/log.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool fail(char *err, size_t errsize, const char *detail)
{
	snprintf(err, errsize, "%s", detail);
	return false;
}

static bool check_bytes(const char *url, size_t len, char *err, size_t errsize)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)url[i];

		if (c <= 0x20 || c >= 0x7f) {
			snprintf(err, errsize,
				 "must not contain whitespace, control or non-ASCII characters (byte 0x%02x at offset %zu)",
				 c, i);
			return false;
		}
		/* printable ASCII that RFC 3986 does not allow in a URL: percent-encode it */
		if (strchr("<>\"{}|^`\\", c)) {
			snprintf(err, errsize, "must not contain the character '%c' (at offset %zu): RFC 3986 does not allow it; "
					       "percent-encode it", c, i);
			return false;
		}
	}
	return true;
}

/* Length of the RFC 3986 scheme at the start of url, 0 if there is none. */
static size_t scheme_length(const char *url, size_t len)
{
	size_t i = 0;

	if (len == 0 || !isalpha((unsigned char)url[0]))
		return 0;
	while (i < len && (isalnum((unsigned char)url[i]) || url[i] == '+' || url[i] == '-' || url[i] == '.'))
		i++;
	return i < len && url[i] == ':' ? i : 0;
}

/*
 * libcurl forgives "http:/host" and "http:///host"; insist on
 * "http://" or "https://" followed by an authority without user-info.
 */
static bool check_prefix(const char *url, size_t len, char *err, size_t errsize)
{
	size_t n = scheme_length(url, len);
	size_t auth, end;

	if (!((n == 4 && strncasecmp(url, "http", 4) == 0) || (n == 5 && strncasecmp(url, "https", 5) == 0)))
		return fail(err, errsize, "must be an absolute http or https URL");
	if (len - n < 3 || memcmp(url + n, "://", 3) != 0)
		return fail(err, errsize, "must be an absolute http or https URL");
	auth = n + 3;
	end = auth;
	while (end < len && url[end] != '/' && url[end] != '?' && url[end] != '#')
		end++;
	if (end == auth)
		return fail(err, errsize, "must have a host");
	if (memchr(url + auth, '@', end - auth) != NULL)
		return fail(err, errsize, "must not contain user information");
	return true;
}

static bool curl_failed(CURLUcode rc, char *err, size_t errsize)
{
	size_t n;

	switch (rc) {
	case CURLUE_OUT_OF_MEMORY:
		fatal("out of memory parsing a url");
	case CURLUE_NO_HOST:
		return fail(err, errsize, "must have a host");
	case CURLUE_BAD_HOSTNAME:
		return fail(err, errsize, "must have a valid host name");
	case CURLUE_BAD_IPV6:
		return fail(err, errsize, "must have a valid IPv6 address");
	case CURLUE_BAD_PORT_NUMBER:
		return fail(err, errsize, "must have a port between 1 and 65535");
	case CURLUE_BAD_LOGIN:
	case CURLUE_BAD_USER:
	case CURLUE_BAD_PASSWORD:
		return fail(err, errsize, "must not contain user information");
	default:
		n = (size_t)snprintf(err, errsize, "must be a valid URL: ");
		if (n < errsize) {
			snprintf(err + n, errsize - n, "%s", curl_url_strerror(rc));
			err[n] = (char)tolower((unsigned char)err[n]);
		}
		return false;
	}
}

/* Part of h, or NULL when absent; free with curl_free. */
static char *get_part(CURLU *h, CURLUPart part, unsigned int flags)
{
	char *s = NULL;
	CURLUcode rc = curl_url_get(h, part, &s, flags);

	if (rc == CURLUE_OUT_OF_MEMORY)
		fatal("out of memory reading a url");
	return rc == CURLUE_OK ? s : NULL;
}

static bool has_part(CURLU *h, CURLUPart part)
{
	char *s = get_part(h, part, 0);

	curl_free(s);
	return s != NULL;
}

static bool copy_host(CURLU *h, struct CallbackUrl *cu, char *err, size_t errsize)
{
	char *host = get_part(h, CURLUPART_HOST, 0);
	const char *p = host;
	size_t len = host != NULL ? strlen(host) : 0;
	bool ok = true;

	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		p++;
		len -= 2;
	}
	if (len == 0)
		ok = fail(err, errsize, "must have a host");
	else if (len >= sizeof(cu->host))
		ok = fail(err, errsize, "must have a host name of at most 255 characters");
	else
		snprintf(cu->host, sizeof(cu->host), "%.*s", (int)len, p);
	curl_free(host);
	return ok;
}

static bool copy_port(CURLU *h, struct CallbackUrl *cu, char *err, size_t errsize)
{
	char *port = get_part(h, CURLUPART_PORT, CURLU_DEFAULT_PORT);
	long n = port != NULL ? strtol(port, NULL, 10) : 0;

	curl_free(port);
	if (n < 1 || n > 65535)
		return fail(err, errsize, "must have a port between 1 and 65535");
	cu->port = (int)n;
	return true;
}

static bool check_parsed(CURLU *h, struct CallbackUrl *cu, char *err, size_t errsize)
{
	char *scheme;

	if (has_part(h, CURLUPART_USER) || has_part(h, CURLUPART_PASSWORD))
		return fail(err, errsize, "must not contain user information");
	if (has_part(h, CURLUPART_ZONEID))
		return fail(err, errsize, "must not contain an IPv6 zone identifier");
	scheme = get_part(h, CURLUPART_SCHEME, 0);
	snprintf(cu->scheme, sizeof(cu->scheme), "%s", scheme != NULL && strcasecmp(scheme, "https") == 0 ? "https" : "http");
	curl_free(scheme);
	return copy_host(h, cu, err, errsize) && copy_port(h, cu, err, errsize);
}

bool url_check_callback(const char *url, size_t len, struct CallbackUrl *out, char *err, size_t errsize)
{
	char text[URL_MAX_LEN + 1];
	struct CallbackUrl cu;
	CURLUcode rc;
	CURLU *h;
	bool ok;

	if (len > URL_MAX_LEN) {
		snprintf(err, errsize, "must be at most %d bytes", URL_MAX_LEN);
		return false;
	}
	if (!check_bytes(url, len, err, errsize) || !check_prefix(url, len, err, errsize))
		return false;
	memcpy(text, url, len);
	text[len] = '\0';
	h = curl_url();
	if (h == NULL)
		fatal("out of memory parsing a url");
	rc = curl_url_set(h, CURLUPART_URL, text, 0);
	ok = rc == CURLUE_OK ? check_parsed(h, &cu, err, errsize) : curl_failed(rc, err, errsize);
	curl_url_cleanup(h);
	if (ok && out != NULL)
		*out = cu;
	return ok;
}
