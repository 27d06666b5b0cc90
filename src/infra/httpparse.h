/*
 * HTTP/1.1 request framing (RFC 9112), strict: the parts of the server
 * that read bytes someone else controls, kept pure so that they are unit
 * tested and fuzzed on their own.
 */
#ifndef CHARGEGATE_HTTPPARSE_H
#define CHARGEGATE_HTTPPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define HTTP_MAX_HEADERS 100
/* The request line and the header lines together. */
#define HTTP_MAX_HEAD (16 * 1024)

struct HttpHeader {
	const char *name;	/* NUL-terminated, in the head's buffer */
	const char *value;	/* trimmed, NUL-terminated */
};

enum HttpBody { HTTP_BODY_NONE, HTTP_BODY_LENGTH, HTTP_BODY_CHUNKED };

struct HttpHead {
	char method[16];
	const char *target;	/* as sent: origin form "/path?query" (absolute form reduced to it) or "*" */
	int minor;		/* HTTP/1.minor: 0 or 1 */
	int nheaders;
	struct HttpHeader headers[HTTP_MAX_HEADERS];
	enum HttpBody body;
	uint64_t content_length;	/* HTTP_BODY_LENGTH */
	bool close;			/* no further request on this connection */
	bool expect_continue;		/* "Expect: 100-continue" */
};

/*
 * Parse a request head: head[0..len) holds the request line and the header
 * lines, each ended by CRLF, without the empty line that ends the head.
 * It is modified in place (names and values are NUL-terminated there) and
 * must outlive out.  Returns 0, or the status to answer (400, 431, 501 or
 * 505) with the reason in err.
 */
int httpparse_head(char *head, size_t len, struct HttpHead *out, char *err, size_t errsize);

/* The value of the first header called name (any case), or NULL; how many there are. */
const char *httpparse_header(const struct HttpHead *h, const char *name);
int httpparse_header_count(const struct HttpHead *h, const char *name);

/* A chunked body being read. */
struct HttpChunked {
	int state;
	uint64_t left;		/* of the current chunk */
	size_t total;
};

/*
 * Move what in holds of a chunked body to out (data only).  Returns 1 when
 * the body (and its trailer) is complete, 0 when more input is needed, or
 * the status to answer: 400 (malformed) or 413 (more than max_body).
 */
int httpparse_chunked(struct HttpChunked *c, struct evbuffer *in, struct evbuffer *out, size_t max_body);

#endif
