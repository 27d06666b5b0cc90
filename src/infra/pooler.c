#include "autoconfig.h"

#include "infra/pooler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first column of the first row of sql, or -1 (detail says why). */
static long long query_number(PGconn *conn, const char *sql, char *detail, size_t size)
{
	PGresult *res = PQexec(conn, sql);
	long long v = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		v = atoll(PQgetvalue(res, 0, 0));
	else
		snprintf(detail, size, "could not tell whether a pooler is in between (%s): %s", sql,
			 PQerrorMessage(conn));
	PQclear(res);
	return v;
}

enum PoolerKind pooler_detect(PGconn *conn, const char *conninfo, char *detail, size_t size)
{
	const char *port = PQport(conn);
	long long server_port = query_number(conn, "SELECT current_setting('port')::int", detail, size);
	long long reached = port && *port ? atoll(port) : 5432;
	long long before, during, after;
	PGconn *other;
	PGresult *res;

	if (server_port < 0 || server_port == reached)
		return POOLER_NONE;
	/*
	 * A pooler hands a released server connection to the next client: once
	 * the other client holds "ours" in a transaction, a transaction pooler
	 * must give conn another backend; a session pooler never does.
	 */
	before = query_number(conn, "SELECT pg_backend_pid()", detail, size);
	other = PQconnectdb(conninfo);
	res = PQexec(other, "BEGIN");
	PQclear(res);
	during = query_number(other, "SELECT pg_backend_pid()", detail, size);
	after = query_number(conn, "SELECT pg_backend_pid()", detail, size);
	PQfinish(other);
	if (before < 0 || during < 0 || after < 0)
		return POOLER_NONE;
	snprintf(detail, size, "port %lld leads to a server listening on %lld; backend %lld, then %lld while another "
		 "client held %lld", reached, server_port, before, after, during);
	return after != before ? POOLER_TRANSACTION : POOLER_SESSION;
}
