#include "autoconfig.h"

#include "infra/alloc.h"

#include "infra/log.h"

#include <stdlib.h>
#include <string.h>

static void *checked(void *p, size_t size)
{
	if (!p && size > 0)
		fatal("out of memory (%zu bytes)", size);
	return p;
}

void *xmalloc(size_t size)
{
	return checked(malloc(size), size);
}

void *xcalloc(size_t n, size_t size)
{
	/* calloc(0, x) may return NULL: ask for one element then */
	return checked(calloc(n ? n : 1, size ? size : 1), 1);
}

void *xrealloc(void *p, size_t size)
{
	return checked(realloc(p, size), size);
}

char *xstrdup(const char *s)
{
	return checked(strdup(s), strlen(s) + 1);
}

char *xstrndup(const char *s, size_t n)
{
	return checked(strndup(s, n), n + 1);
}
