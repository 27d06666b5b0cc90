#include "autoconfig.h"

#include "infra/migrate.h"

#include "infra/alloc.h"
#include "infra/log.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Arbitrary but fixed: every chargegatectl migrate takes this lock. */
#define MIGRATE_LOCK_KEY "7238141032"

#define MAX_FILES 512

/* Fails with undefined_table or invalid_schema_name before the first migration. */
const char migrate_version_sql[] = "SELECT coalesce(max(version), 0) FROM chargegate.schema_version";

struct SqlFile {
	char name[256];
	int version;	/* NNN of a numbered migration, 0 otherwise */
};

const char *migrate_sqldir(void)
{
	const char *dir = getenv("CHARGEGATE_SQLDIR");

	return dir && *dir ? dir : CHARGEGATE_SQLDIR;
}

static int cmp_files(const void *a, const void *b)
{
	return strcmp(((const struct SqlFile *)a)->name, ((const struct SqlFile *)b)->name);
}

/* "001_init.sql" -> 1; anything else -> 0 */
static int migration_number(const char *name)
{
	int v = 0, i;

	for (i = 0; i < 3; i++) {
		if (!isdigit((unsigned char)name[i]))
			return 0;
		v = v * 10 + (name[i] - '0');
	}
	return name[3] == '_' ? v : 0;
}

static bool ends_with_sql(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && strcmp(name + n - 4, ".sql") == 0;
}

/* Sorted .sql files of dir; numbered ones only when numbered is set. */
static int list_sql(const char *dir, bool numbered, struct SqlFile *files, char *err, size_t errsize)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d) {
		if (!numbered && errno == ENOENT)
			return 0;
		snprintf(err, errsize, "could not open SQL directory \"%s\": %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (!ends_with_sql(de->d_name) || strlen(de->d_name) >= sizeof(files[0].name))
			continue;
		if (numbered && migration_number(de->d_name) == 0)
			continue;
		if (n == MAX_FILES) {
			closedir(d);
			snprintf(err, errsize, "too many SQL files in \"%s\"", dir);
			return -1;
		}
		snprintf(files[n].name, sizeof(files[n].name), "%s", de->d_name);
		files[n].version = migration_number(de->d_name);
		n++;
	}
	closedir(d);
	qsort(files, (size_t)n, sizeof(files[0]), cmp_files);
	return n;
}

static char *read_file(const char *path, char *err, size_t errsize)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long len;

	if (!f) {
		snprintf(err, errsize, "could not open \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		snprintf(err, errsize, "could not read \"%s\": %s", path, strerror(errno));
		fclose(f);
		return NULL;
	}
	buf = xmalloc((size_t)len + 1);
	if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
		snprintf(err, errsize, "could not read \"%s\": %s", path, strerror(errno));
		free(buf);
		fclose(f);
		return NULL;
	}
	buf[len] = '\0';
	fclose(f);
	return buf;
}

/* SQLSTATE of the last failed statement: migrate_apply() tells a lock wait from other failures. */
static char failed_state[6];

static bool exec_ok(PGconn *conn, const char *sql, const char *what, char *err, size_t errsize)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (!ok) {
		snprintf(err, errsize, "%s failed: %s", what,
			 res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
		snprintf(failed_state, sizeof(failed_state), "%s", state ? state : "");
	}
	PQclear(res);
	return ok;
}

static bool exec_file(PGconn *conn, const char *dir, const char *name, char *err, size_t errsize)
{
	char path[4096], what[4200];
	char *sql;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	sql = read_file(path, err, errsize);
	if (!sql)
		return false;
	snprintf(what, sizeof(what), "applying \"%s\"", path);
	ok = exec_ok(conn, sql, what, err, errsize);
	free(sql);
	return ok;
}

static bool record_version(PGconn *conn, const struct SqlFile *f, char *err, size_t errsize)
{
	char vbuf[16];
	const char *params[2] = { vbuf, f->name };
	PGresult *res;
	bool ok;

	snprintf(vbuf, sizeof(vbuf), "%d", f->version);
	res = PQexecParams(conn, "INSERT INTO chargegate.schema_version (version, name) VALUES ($1, $2)",
			   2, NULL, params, NULL, NULL, 0);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		snprintf(err, errsize, "recording version %d failed: %s", f->version, PQresultErrorMessage(res));
	PQclear(res);
	return ok;
}

int migrate_current_version(PGconn *conn, char *err, size_t errsize)
{
	PGresult *res = PQexec(conn, migrate_version_sql);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	int v = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		v = atoi(PQgetvalue(res, 0, 0));
	else if (state && (strcmp(state, "42P01") == 0 || strcmp(state, "3F000") == 0))
		v = 0;	/* no schema yet: nothing was ever migrated */
	else
		snprintf(err, errsize, "could not read the schema version: %s",
			 res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
	PQclear(res);
	return v;
}

static int apply_numbered(PGconn *conn, const char *sqldir, int current, FILE *report, char *err,
			  size_t errsize)
{
	static struct SqlFile files[MAX_FILES];
	int n = list_sql(sqldir, true, files, err, errsize), applied = 0;

	if (n < 0)
		return -1;
	if (n == 0) {
		snprintf(err, errsize, "no migrations found in \"%s\"", sqldir);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (i > 0 && files[i].version == files[i - 1].version) {
			snprintf(err, errsize, "two migrations share number %03d: %s and %s", files[i].version,
				 files[i - 1].name, files[i].name);
			return -1;
		}
		if (files[i].version <= current)
			continue;
		if (!exec_file(conn, sqldir, files[i].name, err, errsize) ||
		    !record_version(conn, &files[i], err, errsize))
			return -1;
		fprintf(report, "applied migration %s\n", files[i].name);
		applied++;
	}
	return applied;
}

/* Functions and views are CREATE OR REPLACE: re-applied on every run. */
static int apply_replaceable(PGconn *conn, const char *sqldir, const char *sub, char *err, size_t errsize)
{
	static struct SqlFile files[MAX_FILES];
	char dir[4096];
	int n;

	snprintf(dir, sizeof(dir), "%s/%s", sqldir, sub);
	n = list_sql(dir, false, files, err, errsize);
	for (int i = 0; i < n; i++) {
		if (!exec_file(conn, dir, files[i].name, err, errsize))
			return -1;
	}
	return n;
}

static const char setup_sql[] =
	"SET LOCAL client_min_messages = warning;"
	"SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ");"
	"CREATE SCHEMA IF NOT EXISTS chargegate;"
	"CREATE TABLE IF NOT EXISTS chargegate.schema_version ("
	" version int PRIMARY KEY,"
	" name text NOT NULL,"
	" applied_at timestamptz NOT NULL DEFAULT now());"
	"COMMENT ON TABLE chargegate.schema_version IS "
	"'One row per applied migration (sql/NNN_name.sql), written by chargegatectl migrate.'";

static bool migrate_in_tx(PGconn *conn, const char *sqldir, int64_t lock_timeout_ms, FILE *report, char *err,
			  size_t errsize)
{
	int current, applied, nfunc, nview, nafter;
	char sql[64];

	/* a migration may take long, but never waits for locks beyond this (a DBA's session, a daemon's long query) */
	snprintf(sql, sizeof(sql), "SET LOCAL lock_timeout = %lld", (long long)lock_timeout_ms);
	if (!exec_ok(conn, sql, "setting lock_timeout", err, errsize) ||
	    !exec_ok(conn, setup_sql, "preparing the migration", err, errsize))
		return false;
	current = migrate_current_version(conn, err, errsize);
	if (current < 0)
		return false;
	applied = apply_numbered(conn, sqldir, current, report, err, errsize);
	if (applied < 0)
		return false;
	nfunc = apply_replaceable(conn, sqldir, "functions", err, errsize);
	if (nfunc < 0)
		return false;
	nview = apply_replaceable(conn, sqldir, "views", err, errsize);
	if (nview < 0)
		return false;
	/* repairs that need the current functions and views (e.g. stranded messages) */
	nafter = apply_replaceable(conn, sqldir, "after", err, errsize);
	if (nafter < 0)
		return false;
	current = migrate_current_version(conn, err, errsize);
	if (current < 0 || !exec_ok(conn, "COMMIT", "committing the migration", err, errsize))
		return false;
	if (applied == 0)
		fprintf(report, "schema is at version %d: no migration to apply", current);
	else
		fprintf(report, "schema now at version %d (%d migration%s applied)", current, applied,
			applied == 1 ? "" : "s");
	fprintf(report, "; %d functions and %d views refreshed\n", nfunc, nview);
	if (current > CHARGEGATE_SCHEMA_VERSION)
		fprintf(report, "warning: the schema (version %d) is newer than this build expects (%d)\n",
			current, CHARGEGATE_SCHEMA_VERSION);
	return true;
}

/*
 * Who holds locks on the schema's tables (or the migration lock) now,
 * strongest lock first: appended to err after a lock timeout.  Sessions
 * that merely wait behind the same holder hold weak locks and sort last.
 */
static const char holders_sql[] =
	"SELECT a.pid, coalesce(a.usename, '?'), coalesce(nullif(a.application_name, ''), '?'),"
	" coalesce(a.state, '?'), coalesce(extract(epoch FROM now() - a.xact_start)::bigint, 0),"
	" left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 100),"
	" string_agg(DISTINCT coalesce(c.relname, 'the migration lock') || ' ' || l.mode, ', '),"
	" max(array_position(ARRAY['AccessShareLock', 'RowShareLock', 'RowExclusiveLock',"
	"     'ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock',"
	"     'AccessExclusiveLock'], l.mode::text)) AS strength"
	" FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
	" LEFT JOIN pg_class c ON c.oid = l.relation"
	" WHERE l.granted AND l.pid <> pg_backend_pid()"
	"   AND ((c.relnamespace = 'chargegate'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm'))"
	"        OR (l.locktype = 'advisory' AND l.objid = (" MIGRATE_LOCK_KEY "::bigint & 4294967295)::oid))"
	" GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY strength DESC NULLS FIRST, 5 DESC LIMIT 3";

static void append_holders(PGconn *conn, char *err, size_t errsize)
{
	PGresult *res = PQexec(conn, holders_sql);
	size_t len = strlen(err);

	while (len > 0 && (err[len - 1] == '\n' || err[len - 1] == ' '))
		err[--len] = '\0';
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) == 0) {
		snprintf(err + len, errsize - len, " (the lock holders could not be listed, or have gone)");
		PQclear(res);
		return;
	}
	snprintf(err + len, errsize - len, "\nlocks held by:");
	for (int i = 0; i < PQntuples(res); i++) {
		len = strlen(err);
		snprintf(err + len, errsize - len,
			 "\n  pid %s (user %s, application %s, %s, transaction open %s s, holding %s): %s",
			 PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
			 PQgetvalue(res, i, 3), PQgetvalue(res, i, 4), PQgetvalue(res, i, 6), PQgetvalue(res, i, 5));
	}
	PQclear(res);
}

bool migrate_apply(PGconn *conn, const char *sqldir, int64_t lock_timeout_ms, FILE *report, char *err,
		   size_t errsize)
{
	failed_state[0] = '\0';
	if (!exec_ok(conn, "BEGIN", "starting the migration transaction", err, errsize))
		return false;
	if (migrate_in_tx(conn, sqldir, lock_timeout_ms, report, err, errsize))
		return true;
	PQclear(PQexec(conn, "ROLLBACK"));
	if (strcmp(failed_state, "55P03") == 0)
		append_holders(conn, err, errsize);
	return false;
}
