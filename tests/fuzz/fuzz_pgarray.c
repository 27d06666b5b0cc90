/*
 * libFuzzer target for the PostgreSQL array literals (src/infra/pgarray.c):
 * the input, split at 0x01 bytes, is a list of texts (a lone 0x02 is a
 * NULL); its literal must come back from the server element by element as
 * the same texts.  The server is $CHARGEGATE_FUZZ_DATABASE_URL; texts the
 * server cannot hold (NUL bytes, invalid UTF-8) are not sent.
 */
#include "autoconfig.h"

#include "infra/pgarray.h"

#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ELEMS 64

static PGconn *conn;

static PGconn *server(void)
{
	const char *url = getenv("CHARGEGATE_FUZZ_DATABASE_URL");

	if (!conn) {
		if (!url) {
			fprintf(stderr, "fuzz_pgarray: set CHARGEGATE_FUZZ_DATABASE_URL\n");
			abort();
		}
		conn = PQconnectdb(url);
		if (PQstatus(conn) != CONNECTION_OK) {
			fprintf(stderr, "fuzz_pgarray: %s", PQerrorMessage(conn));
			abort();
		}
	}
	return conn;
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), *elems[MAX_ELEMS], *literal;
	struct PgArray a = PGARRAY_INIT;
	const char *params[1];
	PGresult *res;
	int n = 0;

	if (!copy)
		abort();
	memcpy(copy, data, size);
	copy[size] = '\0';
	if (memchr(copy, '\0', size)) {
		free(copy);
		return 0;
	}
	for (char *p = copy, *next; p && n < MAX_ELEMS; p = next) {
		next = strchr(p, '\1');
		if (next)
			*next++ = '\0';
		elems[n++] = p;
	}
	for (int i = 0; i < n; i++)
		pgarray_text(&a, strcmp(elems[i], "\2") == 0 ? NULL : elems[i]);
	literal = pgarray_finish(&a);
	params[0] = literal;
	res = PQexecParams(server(), "SELECT u, u IS NULL FROM unnest($1::text[]) WITH ORDINALITY AS t(u, i) ORDER BY i",
			   1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		/* only what the server cannot hold as text may be refused */
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		if (!state || strcmp(state, "22021") != 0) {	/* character_not_in_repertoire */
			fprintf(stderr, "literal %s refused: %s", literal, PQresultErrorMessage(res));
			abort();
		}
	} else {
		if (PQntuples(res) != n)
			abort();
		for (int i = 0; i < n; i++) {
			bool null = strcmp(elems[i], "\2") == 0;

			if (null != (PQgetvalue(res, i, 1)[0] == 't') || (!null && strcmp(PQgetvalue(res, i, 0), elems[i])))
				abort();
		}
	}
	PQclear(res);
	free(literal);
	free(copy);
	return 0;
}
