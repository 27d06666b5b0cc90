#include "autoconfig.h"

#include "infra/redact.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MAX_PASSWORDS 4
#define MASK "***"

struct Span {
	const char *p;
	size_t len;
};

/* The password of a URI's user information, up to its last '@': a password may hold '@' or '/' unencoded. */
static bool uri_password(const char *conninfo, struct Span *out)
{
	const char *rest = strstr(conninfo, "://"), *at = NULL, *colon;
	size_t end;

	if (!rest)
		return false;
	rest += 3;
	end = strcspn(rest, "?");
	for (const char *p = rest; p < rest + end; p++) {
		if (*p == '@')
			at = p;
	}
	colon = at ? memchr(rest, ':', (size_t)(at - rest)) : NULL;
	if (!colon || colon + 1 == at)
		return false;
	out->p = colon + 1;
	out->len = (size_t)(at - colon - 1);
	return true;
}

/* A quoted conninfo value as written, quotes and backslash escapes included. */
static size_t quoted_len(const char *v)
{
	size_t i = 1;

	while (v[i] && v[i] != '\'') {
		if (v[i] == '\\' && v[i + 1])
			i++;
		i++;
	}
	return v[i] ? i + 1 : i;
}

/* After each "password" keyword followed by '=': the value up to a separator (a quote opens a quoted one). */
static int keyword_passwords(const char *conninfo, struct Span *out, int max)
{
	int n = 0;

	for (const char *p = conninfo; n < max && (p = strstr(p, "password")) != NULL;) {
		const char *v = p + strlen("password");

		p = v;
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v++ != '=')
			continue;
		while (*v == ' ' || *v == '\t')
			v++;
		out[n].p = v;
		out[n].len = *v == '\'' ? quoted_len(v) : strcspn(v, " \t\n&");
		if (out[n].len > 0)
			n++;
	}
	return n;
}

static const struct Span *match(const char *t, const struct Span *pw, int n)
{
	const struct Span *best = NULL;

	for (int i = 0; i < n; i++) {
		if (strncmp(t, pw[i].p, pw[i].len) == 0 && (!best || pw[i].len > best->len))
			best = &pw[i];
	}
	return best;
}

const char *redact_conninfo(char *out, size_t outsize, const char *text, const char *conninfo)
{
	struct Span pw[MAX_PASSWORDS];
	int n = 0;
	size_t o = 0;

	if (outsize == 0)
		return out;
	if (conninfo) {
		n = uri_password(conninfo, &pw[0]) ? 1 : 0;
		n += keyword_passwords(conninfo, pw + n, MAX_PASSWORDS - n);
	}
	for (const char *t = text; *t && o + 1 < outsize;) {
		const struct Span *m = match(t, pw, n);

		if (m) {
			size_t k = strlen(MASK) < outsize - 1 - o ? strlen(MASK) : outsize - 1 - o;

			memcpy(out + o, MASK, k);
			o += k;
			t += m->len;
		} else {
			out[o++] = *t++;
		}
	}
	out[o] = '\0';
	return out;
}

const char *redact_url(char *out, size_t outsize, const char *url)
{
	struct Span pw;
	size_t head;

	if (outsize == 0)
		return out;
	if (!uri_password(url, &pw)) {
		snprintf(out, outsize, "%s", url);
		return out;
	}
	head = (size_t)(pw.p - url);
	snprintf(out, outsize, "%.*s%s%s", (int)head, url, MASK, pw.p + pw.len);
	return out;
}
