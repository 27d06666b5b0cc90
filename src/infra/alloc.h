/*
 * Memory with one out-of-memory policy, as Redis's zmalloc has: a request
 * that cannot be met ends the daemon (fatal, logged) rather than being
 * handled at each of a hundred call sites in a different way.  A daemon
 * that cannot allocate a few hundred bytes cannot keep its promises either;
 * systemd restarts it, and nothing committed is lost.
 */
#ifndef CHARGEGATE_ALLOC_H
#define CHARGEGATE_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
