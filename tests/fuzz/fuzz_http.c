/*
 * libFuzzer target for HTTP request framing (src/infra/httpparse.c): any
 * request head parses or gives a status to answer (400, 431, 501, 505)
 * with a reason; what parses has a method, a target and one framing; any
 * chunked body is decoded, needs more input, or is refused, never a crash.
 */
#include "autoconfig.h"

#include "infra/httpparse.h"

#include <event2/buffer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_head(const uint8_t *data, size_t size)
{
	char *head = malloc(size + 1), err[256] = "";
	struct HttpHead h;
	int st;

	if (!head)
		abort();
	memcpy(head, data, size);
	head[size] = '\0';
	st = httpparse_head(head, size, &h, err, sizeof(err));
	if (st != 0 && st != 400 && st != 431 && st != 501 && st != 505)
		abort();
	if (st != 0 && !err[0])
		abort();
	if (st == 0 && (!h.method[0] || !h.target || (h.target[0] != '/' && strcmp(h.target, "*") != 0) ||
			httpparse_header_count(&h, "Content-Length") > 1 ||
			(h.body == HTTP_BODY_CHUNKED && httpparse_header(&h, "Content-Length"))))
		abort();
	free(head);
}

static void check_chunked(const uint8_t *data, size_t size)
{
	struct HttpChunked c = { 0 };
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
	int r = 0;

	if (!in || !out)
		abort();
	/* fed in pieces of the first byte's size, as a network delivers it */
	for (size_t i = 1, step = size ? (data[0] % 16) + 1 : 1; i < size && r == 0; i += step) {
		evbuffer_add(in, data + i, i + step <= size ? step : size - i);
		r = httpparse_chunked(&c, in, out, 1024);
	}
	if (r != 0 && r != 1 && r != 400 && r != 413)
		abort();
	if (evbuffer_get_length(out) > 1024)
		abort();
	evbuffer_free(in);
	evbuffer_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_head(data, size);
	check_chunked(data, size);
	return 0;
}
