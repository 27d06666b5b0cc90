#include "autoconfig.h"

#include "infra/httpparse.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A chunk-size line longer than this is not a chunk size. */
#define MAX_CHUNK_LINE 256
/* Trailer fields are read and dropped; at most this much of them. */
#define MAX_TRAILER 4096

static bool fail_why(char *err, size_t errsize, const char *why)
{
	snprintf(err, errsize, "%s", why);
	return false;
}

/* The status to answer, with why in err. */
static int refuse(char *err, size_t errsize, int status, const char *why)
{
	fail_why(err, errsize, why);
	return status;
}

/* RFC 9110 tchar */
static bool is_tchar(unsigned char c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Field-value bytes: visible, blank, obs-text; never NUL, CR, LF or other controls. */
static bool is_value_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* One line of head[*pos..len), without its CRLF; NULL when a line has a bare CR or LF. */
static char *next_line(char *head, size_t len, size_t *pos)
{
	char *line = head + *pos;
	char *cr = memchr(line, '\r', len - *pos);
	char *lf = memchr(line, '\n', len - *pos);

	if (!cr || !lf || lf != cr + 1)
		return NULL;
	*cr = '\0';
	*pos = (size_t)(lf + 1 - head);
	return line;
}

/* "http://host/path" -> "/path"; origin form and "*" as they are. */
static const char *origin_form(const char *target)
{
	const char *p;

	if (strncasecmp(target, "http://", 7) != 0 && strncasecmp(target, "https://", 8) != 0)
		return target;
	p = strchr(target + (target[4] == ':' ? 7 : 8), '/');
	return p ? p : "/";
}

/* "HTTP/1.1": HTTP/DIGIT.DIGIT, of which 1.0 and 1.1 are spoken. */
static int parse_version(const char *v, struct HttpHead *out, char *err, size_t errsize)
{
	if (strncmp(v, "HTTP/", 5) != 0 || !isdigit((unsigned char)v[5]) || v[6] != '.' ||
	    !isdigit((unsigned char)v[7]) || v[8] != '\0')
		return refuse(err, errsize, 400, "the request line does not end with an HTTP version");
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return refuse(err, errsize, 505, "only HTTP/1.0 and HTTP/1.1 are spoken here");
	out->minor = v[7] - '0';
	return 0;
}

static int parse_request_line(char *line, struct HttpHead *out, char *err, size_t errsize)
{
	char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	size_t mlen = sp1 ? (size_t)(sp1 - line) : 0;

	if (!sp1 || !sp2 || strchr(sp2 + 1, ' ') || mlen == 0 || mlen >= sizeof(out->method))
		return refuse(err, errsize, 400, "the request line is not \"METHOD TARGET HTTP/1.x\"");
	for (size_t i = 0; i < mlen; i++) {
		if (!is_tchar((unsigned char)line[i]))
			return refuse(err, errsize, 400, "the method has characters a method cannot have");
	}
	memcpy(out->method, line, mlen);
	out->method[mlen] = '\0';
	*sp2 = '\0';
	for (const char *p = sp1 + 1; *p; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return refuse(err, errsize, 400, "the request target has a character outside printable ASCII");
	}
	out->target = origin_form(sp1 + 1);
	if (out->target[0] != '/' && strcmp(out->target, "*") != 0)
		return refuse(err, errsize, 400, "the request target is not a path");
	return parse_version(sp2 + 1, out, err, errsize);
}

/* "Name: value" (OWS around the value); false when it is not a field line. */
static bool parse_field(char *line, struct HttpHeader *h, char *err, size_t errsize)
{
	char *colon = strchr(line, ':'), *v, *end;

	if (line[0] == ' ' || line[0] == '\t')
		return fail_why(err, errsize, "a header line is folded (obsolete line folding is not accepted)");
	if (!colon || colon == line)
		return fail_why(err, errsize, "a header line has no name");
	for (char *p = line; p < colon; p++) {
		if (!is_tchar((unsigned char)*p))
			return fail_why(err, errsize, "a header name has a character a name cannot have "
						      "(a space before the colon?)");
	}
	*colon = '\0';
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	for (end = v + strlen(v); end > v && (end[-1] == ' ' || end[-1] == '\t'); end--)
		;
	*end = '\0';
	for (const char *p = v; *p; p++) {
		if (!is_value_char((unsigned char)*p))
			return fail_why(err, errsize, "a header value has a control character");
	}
	h->name = line;
	h->value = v;
	return true;
}

/* Content-Length: one or more digits, nothing else (no sign, no blanks, no list). */
static bool parse_length(const char *v, uint64_t *out)
{
	uint64_t n = 0;

	if (!*v || strlen(v) > 15)
		return false;
	for (; *v; v++) {
		if (!isdigit((unsigned char)*v))
			return false;
		n = n * 10 + (uint64_t)(*v - '0');
	}
	*out = n;
	return true;
}

/* Does a comma-separated list value contain token (any case)? */
static bool list_has(const char *list, const char *token)
{
	size_t n = strlen(token);

	for (const char *p = list; *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (strncasecmp(p, token, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' ' || p[n] == '\t'))
			return true;
		while (*p && *p != ',')
			p++;
	}
	return false;
}

/* How the body is framed, from Content-Length and Transfer-Encoding (RFC 9112 §6). */
static int framing(struct HttpHead *h, char *err, size_t errsize)
{
	int ncl = httpparse_header_count(h, "Content-Length"), nte = httpparse_header_count(h, "Transfer-Encoding");
	const char *te = httpparse_header(h, "Transfer-Encoding");

	if (ncl > 1)
		return refuse(err, errsize, 400, "the request has more than one Content-Length");
	if (nte > 1 || (te && strcasecmp(te, "chunked") != 0))
		return refuse(err, errsize, 400, "Transfer-Encoding must be exactly \"chunked\"");
	if (ncl && nte)
		return refuse(err, errsize, 400, "the request has both Content-Length and Transfer-Encoding");
	if (te && h->minor == 0)
		return refuse(err, errsize, 400, "Transfer-Encoding is not HTTP/1.0");
	h->body = HTTP_BODY_NONE;
	if (te) {
		h->body = HTTP_BODY_CHUNKED;
	} else if (ncl) {
		if (!parse_length(httpparse_header(h, "Content-Length"), &h->content_length))
			return refuse(err, errsize, 400, "Content-Length is not a number of bytes");
		h->body = HTTP_BODY_LENGTH;
	}
	return 0;
}

static int semantics(struct HttpHead *h, char *err, size_t errsize)
{
	const char *conn = httpparse_header(h, "Connection"), *expect = httpparse_header(h, "Expect");
	int nhost = httpparse_header_count(h, "Host");

	if (h->minor == 1 && nhost != 1)
		return refuse(err, errsize, 400, nhost ? "the request has more than one Host header"
						     : "an HTTP/1.1 request needs a Host header");
	if (nhost > 1)
		return refuse(err, errsize, 400, "the request has more than one Host header");
	h->close = h->minor == 0 ? !(conn && list_has(conn, "keep-alive")) : (conn && list_has(conn, "close"));
	h->expect_continue = expect && strcasecmp(expect, "100-continue") == 0;
	return framing(h, err, errsize);
}

int httpparse_head(char *head, size_t len, struct HttpHead *out, char *err, size_t errsize)
{
	size_t pos = 0;
	char *line;
	int st;

	memset(out, 0, sizeof(*out));
	if (len > HTTP_MAX_HEAD)
		return refuse(err, errsize, 431, "the request head is larger than 16 KiB");
	if (memchr(head, '\0', len))
		return refuse(err, errsize, 400, "the request head has a NUL byte");
	if (!(line = next_line(head, len, &pos)))
		return refuse(err, errsize, 400, "a line of the request head does not end with CRLF");
	if ((st = parse_request_line(line, out, err, errsize)) != 0)
		return st;
	while (pos < len) {
		if (!(line = next_line(head, len, &pos)))
			return refuse(err, errsize, 400, "a line of the request head does not end with CRLF");
		if (out->nheaders == HTTP_MAX_HEADERS)
			return refuse(err, errsize, 431, "the request has more than 100 headers");
		if (!parse_field(line, &out->headers[out->nheaders++], err, errsize))
			return 400;
	}
	return semantics(out, err, errsize);
}

const char *httpparse_header(const struct HttpHead *h, const char *name)
{
	for (int i = 0; i < h->nheaders; i++) {
		if (strcasecmp(h->headers[i].name, name) == 0)
			return h->headers[i].value;
	}
	return NULL;
}

int httpparse_header_count(const struct HttpHead *h, const char *name)
{
	int n = 0;

	for (int i = 0; i < h->nheaders; i++)
		n += strcasecmp(h->headers[i].name, name) == 0;
	return n;
}

/* --- chunked bodies ---------------------------------------------------------- */

enum { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER };

/* A CRLF-ended line of in, or NULL (*bad set when in holds a line too long to be one). */
static char *read_line(struct evbuffer *in, size_t max, bool *bad)
{
	size_t n;
	char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF_STRICT);

	*bad = !line && evbuffer_get_length(in) > max;
	if (line && n > max) {
		free(line);
		*bad = true;
		return NULL;
	}
	return line;
}

/* "1a2b[;ext]" */
static bool parse_chunk_size(const char *line, uint64_t *out)
{
	uint64_t n = 0;
	int digits = 0;
	const char *p = line;

	for (; isxdigit((unsigned char)*p); p++, digits++) {
		if (digits == 15)
			return false;
		n = n * 16 + (uint64_t)(isdigit((unsigned char)*p) ? *p - '0' : tolower((unsigned char)*p) - 'a' + 10);
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (digits == 0 || (*p && *p != ';'))
		return false;
	*out = n;
	return true;
}

static int chunk_size_line(struct HttpChunked *c, struct evbuffer *in, size_t max_body)
{
	bool bad;
	char *line = read_line(in, MAX_CHUNK_LINE, &bad);
	bool ok;

	if (!line)
		return bad ? 400 : -1;
	ok = parse_chunk_size(line, &c->left);
	free(line);
	if (!ok)
		return 400;
	if (c->left > max_body || c->total + c->left > max_body)
		return 413;
	c->state = c->left ? CH_DATA : CH_TRAILER;
	return 0;
}

static int chunk_step(struct HttpChunked *c, struct evbuffer *in, struct evbuffer *out, size_t max_body)
{
	size_t have = evbuffer_get_length(in), n;
	bool bad;
	char *line;

	switch (c->state) {
	case CH_SIZE:
		return chunk_size_line(c, in, max_body);
	case CH_DATA:
		if (have == 0)
			return -1;
		n = have < c->left ? have : (size_t)c->left;
		if (evbuffer_remove_buffer(in, out, n) != (int)n)
			return 400;
		c->left -= n;
		c->total += n;
		if (c->left == 0)
			c->state = CH_DATA_END;
		return 0;
	case CH_DATA_END:
		if (have < 2)
			return -1;
		line = read_line(in, 0, &bad);
		if (!line || *line) {
			free(line);
			return 400;	/* chunk data longer than its size */
		}
		free(line);
		c->state = CH_SIZE;
		return 0;
	default:	/* trailer fields until an empty line */
		line = read_line(in, MAX_TRAILER, &bad);
		if (!line)
			return bad ? 400 : -1;
		n = strlen(line);
		free(line);
		return n == 0 ? 1 : 0;
	}
}

int httpparse_chunked(struct HttpChunked *c, struct evbuffer *in, struct evbuffer *out, size_t max_body)
{
	for (;;) {
		int r = chunk_step(c, in, out, max_body);

		if (r == -1)
			return 0;	/* more input needed */
		if (r != 0)
			return r;
	}
}
