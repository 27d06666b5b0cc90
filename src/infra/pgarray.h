/*
 * PostgreSQL array literals for statement parameters ("{1,2}",
 * "{\"a\",NULL}"): the one encoder every caller uses, so quoting is right
 * in one place.  Elements are appended in order; pgarray_finish() hands
 * out the text.  Out of memory is fatal.
 */
#ifndef CHARGEGATE_PGARRAY_H
#define CHARGEGATE_PGARRAY_H

#include <stdbool.h>

struct evbuffer;

struct PgArray {
	struct evbuffer *buf;	/* NULL until the first element */
	int n;
};

#define PGARRAY_INIT { NULL, 0 }

void pgarray_int(struct PgArray *a, long long v);
/* A text element, quoted and escaped; NULL is SQL NULL. */
void pgarray_text(struct PgArray *a, const char *s);
void pgarray_bool(struct PgArray *a, bool v);
void pgarray_null(struct PgArray *a);
/* The literal (malloc'd; "{}" when empty); a is empty again afterwards. */
char *pgarray_finish(struct PgArray *a);

#endif
