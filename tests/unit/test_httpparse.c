/*
 * HTTP/1.1 request framing (src/infra/httpparse.c): what a proxy and this
 * server could read differently is refused -- duplicate or signed
 * Content-Length, a space before a colon, any Transfer-Encoding but
 * "chunked", both framings at once, NUL and control bytes, folded lines, a
 * missing or repeated Host -- and chunked bodies are decoded within the
 * size limit.
 */
#include "autoconfig.h"

#include "infra/httpparse.h"

#include "unit_run.h"

#include <check.h>
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

/* Parse a head given with "\n" line ends (turned into CRLF); returns the status, 0 when valid. */
static int parse(const char *text, struct HttpHead *h, char **keep)
{
	size_t n = strlen(text), k = 0;
	char *buf = malloc(2 * n + 1), err[256];

	for (size_t i = 0; i < n; i++) {
		if (text[i] == '\n')
			buf[k++] = '\r';
		buf[k++] = text[i];
	}
	buf[k] = '\0';
	*keep = buf;
	return httpparse_head(buf, k, h, err, sizeof(err));
}

static int status_of(const char *text)
{
	struct HttpHead h;
	char *buf;
	int st = parse(text, &h, &buf);

	free(buf);
	return st;
}

#define REQ(lines) "POST /v1/charging-sessions HTTP/1.1\nHost: x\n" lines

START_TEST(a_plain_request_parses)
{
	struct HttpHead h;
	char *buf;

	ck_assert_int_eq(parse(REQ("Content-Type: application/json\nContent-Length: 12\nIdempotency-Key:  k1 \n"), &h,
			       &buf),
			 0);
	ck_assert_str_eq(h.method, "POST");
	ck_assert_str_eq(h.target, "/v1/charging-sessions");
	ck_assert_int_eq(h.minor, 1);
	ck_assert_int_eq(h.body, HTTP_BODY_LENGTH);
	ck_assert_uint_eq(h.content_length, 12);
	ck_assert_str_eq(httpparse_header(&h, "content-type"), "application/json");
	ck_assert_str_eq(httpparse_header(&h, "IDEMPOTENCY-KEY"), "k1");
	ck_assert_int_eq(httpparse_header_count(&h, "host"), 1);
	ck_assert(!h.close);
	free(buf);
}
END_TEST

START_TEST(content_length_must_be_one_number)
{
	ck_assert_int_eq(status_of(REQ("Content-Length: 2\nContent-Length: 3\n")), 400);
	ck_assert_int_eq(status_of(REQ("Content-Length: 2\nContent-Length: 2\n")), 400);
	ck_assert_int_eq(status_of(REQ("Content-Length: +159\n")), 400);
	ck_assert_int_eq(status_of(REQ("Content-Length: -1\n")), 400);
	ck_assert_int_eq(status_of(REQ("Content-Length: 1 2\n")), 400);
	ck_assert_int_eq(status_of(REQ("Content-Length: 2,2\n")), 400);
	ck_assert_int_eq(status_of(REQ("Content-Length: 0x10\n")), 400);
	ck_assert_int_eq(status_of(REQ("Content-Length:\n")), 400);
	ck_assert_int_eq(status_of(REQ("Content-Length: 99999999999999999999\n")), 400);
}
END_TEST

START_TEST(a_name_with_a_space_before_the_colon_is_refused)
{
	ck_assert_int_eq(status_of(REQ("Content-Length : 2\n")), 400);
	ck_assert_int_eq(status_of(REQ("Bad Name: x\n")), 400);
	ck_assert_int_eq(status_of(REQ(": no name\n")), 400);
	ck_assert_int_eq(status_of(REQ("no colon\n")), 400);
}
END_TEST

START_TEST(transfer_encoding_is_chunked_or_nothing)
{
	struct HttpHead h;
	char *buf;

	ck_assert_int_eq(status_of(REQ("Transfer-Encoding: xchunked\n")), 400);
	ck_assert_int_eq(status_of(REQ("Transfer-Encoding: gzip, chunked\n")), 400);
	ck_assert_int_eq(status_of(REQ("Transfer-Encoding: chunked\nTransfer-Encoding: chunked\n")), 400);
	ck_assert_int_eq(status_of(REQ("Transfer-Encoding: chunked\nContent-Length: 5\n")), 400);
	ck_assert_int_eq(status_of("POST / HTTP/1.0\nTransfer-Encoding: chunked\n"), 400);
	ck_assert_int_eq(parse(REQ("Transfer-Encoding: Chunked\n"), &h, &buf), 0);
	ck_assert_int_eq(h.body, HTTP_BODY_CHUNKED);
	free(buf);
}
END_TEST

START_TEST(control_bytes_and_folding_are_refused)
{
	char head[] = "GET / HTTP/1.1\r\nHost: x\r\nIdempotency-Key: a\0b\r\n";

	ck_assert_int_eq(httpparse_head(head, sizeof(head) - 1, &(struct HttpHead){ 0 }, (char[64]){ 0 }, 64), 400);
	ck_assert_int_eq(status_of(REQ("X: a\x01" "b\n")), 400);
	ck_assert_int_eq(status_of(REQ("X: a\n folded\n")), 400);
	ck_assert_int_eq(status_of("GET / HTTP/1.1\r\nHost: x\nX: bare lf\r\n"), 400);
	ck_assert_int_eq(status_of(REQ("X: a\rb\n")), 400);
	ck_assert_int_eq(status_of(REQ("X: caf\xc3\xa9\n")), 0);	/* obs-text is a value */
}
END_TEST

START_TEST(host_is_needed_once_on_http_1_1)
{
	ck_assert_int_eq(status_of("GET / HTTP/1.1\n"), 400);
	ck_assert_int_eq(status_of("GET / HTTP/1.1\nHost: a\nHost: b\n"), 400);
	ck_assert_int_eq(status_of("GET / HTTP/1.0\n"), 0);
	ck_assert_int_eq(status_of("GET / HTTP/1.0\nHost: a\nHost: a\n"), 400);
}
END_TEST

START_TEST(request_lines)
{
	struct HttpHead h;
	char *buf;

	ck_assert_int_eq(status_of("GET / HTTP/2.0\nHost: x\n"), 505);
	ck_assert_int_eq(status_of("GET / HTTP/1.2\nHost: x\n"), 505);
	ck_assert_int_eq(status_of("GET / HTTX/1.1\nHost: x\n"), 400);
	ck_assert_int_eq(status_of("GET  / HTTP/1.1\nHost: x\n"), 400);
	ck_assert_int_eq(status_of("GET / HTTP/1.1 \nHost: x\n"), 400);
	ck_assert_int_eq(status_of("G(T / HTTP/1.1\nHost: x\n"), 400);
	ck_assert_int_eq(status_of("CONNECT example.com:443 HTTP/1.1\nHost: x\n"), 400);
	ck_assert_int_eq(status_of("GET /\x7f HTTP/1.1\nHost: x\n"), 400);
	ck_assert_int_eq(parse("GET http://example.com/healthz?x=1 HTTP/1.1\nHost: example.com\n", &h, &buf), 0);
	ck_assert_str_eq(h.target, "/healthz?x=1");
	free(buf);
	ck_assert_int_eq(parse("OPTIONS * HTTP/1.1\nHost: x\n", &h, &buf), 0);
	free(buf);
	ck_assert_int_eq(parse("PURGE /x HTTP/1.1\nHost: x\n", &h, &buf), 0);	/* unknown methods reach the handler */
	ck_assert_str_eq(h.method, "PURGE");
	free(buf);
}
END_TEST

START_TEST(connection_close_and_expect)
{
	struct HttpHead h;
	char *buf;

	ck_assert_int_eq(parse(REQ("Connection: keep-alive, close\nExpect: 100-continue\nContent-Length: 1\n"), &h,
			       &buf),
			 0);
	ck_assert(h.close);
	ck_assert(h.expect_continue);
	free(buf);
	ck_assert_int_eq(parse("GET / HTTP/1.0\n", &h, &buf), 0);
	ck_assert(h.close);
	free(buf);
	ck_assert_int_eq(parse("GET / HTTP/1.0\nConnection: Keep-Alive\n", &h, &buf), 0);
	ck_assert(!h.close);
	free(buf);
}
END_TEST

START_TEST(too_many_or_too_large_headers)
{
	size_t n = HTTP_MAX_HEAD + 10;
	char *big = malloc(n + 64);
	struct HttpHead h;
	char err[64];
	char *many = malloc(101 * 8 + 64);

	strcpy(big, "GET / HTTP/1.1\r\nHost: x\r\nX: ");
	memset(big + strlen(big), 'a', n);
	strcpy(big + n, "\r\n");
	ck_assert_int_eq(httpparse_head(big, strlen(big), &h, err, sizeof(err)), 431);
	strcpy(many, "GET / HTTP/1.1\r\nHost: x\r\n");
	for (int i = 0; i < 100; i++)
		strcat(many, "X: y\r\n");
	ck_assert_int_eq(httpparse_head(many, strlen(many), &h, err, sizeof(err)), 431);
	free(big);
	free(many);
}
END_TEST

/* Decode body (all at once, or one byte at a time); returns the status or 1 with the data in out. */
static int chunked(const char *body, size_t max, bool bytewise, char *out, size_t outsize)
{
	struct HttpChunked c = { 0 };
	struct evbuffer *in = evbuffer_new(), *data = evbuffer_new();
	size_t n = strlen(body);
	int r = 0;

	for (size_t i = 0; i < n && r == 0; i += bytewise ? 1 : n) {
		evbuffer_add(in, body + i, bytewise ? 1 : n);
		r = httpparse_chunked(&c, in, data, max);
	}
	out[evbuffer_remove(data, out, outsize - 1)] = '\0';
	evbuffer_free(in);
	evbuffer_free(data);
	return r;
}

START_TEST(chunked_bodies)
{
	char out[256];

	for (int bytewise = 0; bytewise <= 1; bytewise++) {
		ck_assert_int_eq(chunked("5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n", 100, bytewise, out, sizeof(out)), 1);
		ck_assert_str_eq(out, "hello world");
		ck_assert_int_eq(chunked("3\r\nabc\r\n0\r\nTrailer: x\r\n\r\n", 100, bytewise, out, sizeof(out)), 1);
		ck_assert_str_eq(out, "abc");
		ck_assert_int_eq(chunked("5\r\nhello\r\n", 100, bytewise, out, sizeof(out)), 0);	/* more to come */
		ck_assert_int_eq(chunked("5\r\nhelloXX\r\n0\r\n\r\n", 100, bytewise, out, sizeof(out)), 400);
		ck_assert_int_eq(chunked("g\r\n", 100, bytewise, out, sizeof(out)), 400);
		ck_assert_int_eq(chunked("-1\r\n", 100, bytewise, out, sizeof(out)), 400);
		ck_assert_int_eq(chunked("8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n", 10, bytewise, out, sizeof(out)), 413);
		ck_assert_int_eq(chunked("ffffffffffffffff\r\n", 100, bytewise, out, sizeof(out)), 400);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("httpparse");
	TCase *tc = tcase_create("httpparse");

	tcase_add_test(tc, a_plain_request_parses);
	tcase_add_test(tc, content_length_must_be_one_number);
	tcase_add_test(tc, a_name_with_a_space_before_the_colon_is_refused);
	tcase_add_test(tc, transfer_encoding_is_chunked_or_nothing);
	tcase_add_test(tc, control_bytes_and_folding_are_refused);
	tcase_add_test(tc, host_is_needed_once_on_http_1_1);
	tcase_add_test(tc, request_lines);
	tcase_add_test(tc, connection_close_and_expect);
	tcase_add_test(tc, too_many_or_too_large_headers);
	tcase_add_test(tc, chunked_bodies);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
