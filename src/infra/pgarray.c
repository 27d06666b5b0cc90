#include "autoconfig.h"

#include "infra/pgarray.h"

#include "infra/alloc.h"
#include "infra/log.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

/* The separator before the next element ("{" before the first). */
static struct evbuffer *next_element(struct PgArray *a)
{
	if (!a->buf && !(a->buf = evbuffer_new()))
		fatal("out of memory");
	if (evbuffer_add(a->buf, a->n++ ? "," : "{", 1) != 0)
		fatal("out of memory");
	return a->buf;
}

static void add(struct evbuffer *b, const char *s, size_t n)
{
	if (evbuffer_add(b, s, n) != 0)
		fatal("out of memory");
}

void pgarray_int(struct PgArray *a, long long v)
{
	if (evbuffer_add_printf(next_element(a), "%lld", v) < 0)
		fatal("out of memory");
}

void pgarray_null(struct PgArray *a)
{
	add(next_element(a), "NULL", 4);
}

void pgarray_bool(struct PgArray *a, bool v)
{
	add(next_element(a), v ? "t" : "f", 1);
}

void pgarray_text(struct PgArray *a, const char *s)
{
	struct evbuffer *b;

	if (!s) {
		pgarray_null(a);
		return;
	}
	b = next_element(a);
	add(b, "\"", 1);
	while (*s) {
		size_t plain = strcspn(s, "\"\\");

		add(b, s, plain);
		s += plain;
		if (*s) {
			add(b, "\\", 1);
			add(b, s++, 1);
		}
	}
	add(b, "\"", 1);
}

char *pgarray_finish(struct PgArray *a)
{
	size_t len;
	char *s;

	if (!a->buf) {
		s = xstrdup("{}");
		return s;
	}
	add(a->buf, "}", 1);
	len = evbuffer_get_length(a->buf);
	s = xmalloc(len + 1);
	evbuffer_remove(a->buf, s, len);
	s[len] = '\0';
	evbuffer_free(a->buf);
	a->buf = NULL;
	a->n = 0;
	return s;
}
