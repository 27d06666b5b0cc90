#include "autoconfig.h"

#include "ctl/reportcmd.h"

#include "ctl/ctldb.h"
#include "infra/alloc.h"
#include "infra/config.h"
#include "infra/configcheck.h"
#include "infra/uuid.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The single jsonb value of sql (params: text), NULL when it is SQL NULL; false on a failure (said). */
static bool query_json(PGconn *conn, const char *sql, int n, const char *const *params, char **out)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
	char err[1024];

	*out = NULL;
	if (!ok)
		fprintf(stderr, "chargegatectl: could not read the report: %s\n", ctl_error(res, err, sizeof(err)));
	else if (!PQgetisnull(res, 0, 0))
		*out = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return ok;
}

int ctl_status_json(const struct Config *cfg)
{
	PGconn *conn = ctl_connect(cfg);
	char *json = NULL;
	bool ok = ctl_schema_current(conn) && query_json(conn, "SELECT chargegate.status_report()", 0, NULL, &json);

	PQfinish(conn);
	if (ok)
		printf("%s\n", json);
	free(json);
	return ok ? 0 : 1;
}

static void print_table(PGresult *res)
{
	PQprintOpt opt = { 0 };

	opt.header = 1;
	opt.align = 1;
	opt.fieldSep = "|";
	PQprint(stdout, res, &opt);
}

/*
 * The text status: one table per section of one chargegate.status_report(),
 * each read out of its JSON by SQL, so the text and --json show one snapshot
 * with the same content and cannot drift apart.  Ages are seconds in the
 * JSON; shown as intervals here.
 */
static const struct {
	const char *title;
	const char *sql;	/* $1: the report */
} status_sections[] = {
	{ "requests accepted in the last hour, by status now (accepted and decided: in flight):",
	  "SELECT status, requests, oldest FROM jsonb_to_recordset($1::jsonb->'accepted_last_hour')"
	  " AS x(status text, requests bigint, oldest timestamptz) ORDER BY status" },
	{ "requests finished in the last hour:",
	  "SELECT status, requests, latest FROM jsonb_to_recordset($1::jsonb->'finished_last_hour')"
	  " AS x(status text, requests bigint, latest timestamptz) ORDER BY status" },
	{ "outboxes (unsubscribed: the topic has no subscription, nothing is relayed):",
	  "SELECT outbox, pending, delayed,"
	  " justify_hours(oldest_pending_age * interval '1 s') AS oldest_pending_age, published_last_minute,"
	  " failing, unsubscribed FROM jsonb_to_recordset($1::jsonb->'outboxes')"
	  " AS x(outbox text, pending bigint, delayed bigint, oldest_pending_age numeric,"
	  " published_last_minute bigint, failing bigint, unsubscribed boolean) ORDER BY outbox" },
	{ "subscriptions:",
	  "SELECT subscription, ready, retrying, leased, expired_leases, dead,"
	  " justify_hours(oldest_age * interval '1 s') AS oldest_age, handled_last_minute"
	  " FROM jsonb_to_recordset($1::jsonb->'subscriptions')"
	  " AS x(subscription text, ready bigint, retrying bigint, leased bigint, expired_leases bigint, dead bigint,"
	  " oldest_age numeric, handled_last_minute bigint) ORDER BY subscription" },
	{ "stranded messages (published before their subscription existed; chargegatectl migrate re-queues them):",
	  "SELECT subscription, messages, oldest FROM jsonb_to_recordset($1::jsonb->'stranded')"
	  " AS x(subscription text, messages bigint, oldest timestamptz) ORDER BY subscription" },
	{ "leases:",
	  "SELECT batch_id, subscription, lease_owner, messages, expires_at, expired"
	  " FROM jsonb_to_recordset($1::jsonb->'leases') AS x(batch_id bigint, subscription text, lease_owner text,"
	  " messages integer, expires_at timestamptz, expired boolean) ORDER BY expires_at, batch_id" },
	{ "open circuits (callback destinations paused after consecutive failures; one probe after \"until\" decides):",
	  "SELECT destination, state, daemon, opened_at, until, consecutive_failures, last_error"
	  " FROM jsonb_to_recordset($1::jsonb->'open_circuits') AS x(destination text, state text, daemon text,"
	  " opened_at timestamptz, until timestamptz, consecutive_failures integer, last_error text)"
	  " ORDER BY destination, daemon" },
};

static bool print_section(PGconn *conn, const char *title, const char *sql, const char *report)
{
	const char *params[1] = { report };
	PGresult *res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
	bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	char err[1024];

	printf("%s\n", title);
	if (!ok)
		fprintf(stderr, "chargegatectl: could not read the report's section \"%s\": %s\n", title,
			ctl_error(res, err, sizeof(err)));
	else if (PQntuples(res) == 0)
		printf("  none\n\n");
	else
		print_table(res);
	PQclear(res);
	return ok;
}

bool ctl_print_status(PGconn *conn)
{
	char *report = NULL;
	bool ok = query_json(conn, "SELECT chargegate.status_report()", 0, NULL, &report) && report;

	for (size_t i = 0; ok && i < sizeof(status_sections) / sizeof(status_sections[0]); i++)
		ok = print_section(conn, status_sections[i].title, status_sections[i].sql, report);
	free(report);
	return ok;
}

/* --- requests show ------------------------------------------------------------------- */

/*
 * The text is read out of one request_story() ($1), so the header and the
 * timeline come from the same snapshot.  One line per timeline entry, in
 * words: the columns read by name below.
 */
static const char timeline_sql[] =
	"WITH s AS (SELECT $1::jsonb AS s)"
	" SELECT to_char((e->>'at')::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS\"Z\"') AS at,"
	"  to_char(extract(epoch FROM (e->>'at')::timestamptz - (s->'request'->>'created_at')::timestamptz),"
	"          'FM999990.000') AS since,"
	"  CASE e->>'event' WHEN 'callback_attempt' THEN 'callback attempt ' || (e->>'attempt')"
	"                   WHEN 'failure_notice_attempt' THEN 'failure notice ' || (e->>'attempt')"
	"                   ELSE e->>'event' END AS event,"
	"  CASE e->>'event'"
	"   WHEN 'relayed' THEN concat(e->>'event_type', ' (', e->>'outbox', ')')"
	"   WHEN 'pending' THEN concat(e->>'event_type', ' (', e->>'outbox', ') not relayed yet')"
	"   WHEN 'authorization' THEN concat_ws(', ', 'answer ' || (e->>'decision'), 'reason ' || (e->>'reason'),"
	"        'HTTP ' || (e->>'http_status'), 'took ' || (e->>'latency_ms') || ' ms', 'cause: ' || (e->>'cause'))"
	"   WHEN 'callback_attempt' THEN concat_ws(', ', coalesce('HTTP ' || (e->>'http_status'), 'no answer'),"
	"        'took ' || (e->>'latency_ms') || ' ms', 'error ' || (e->>'error_class'),"
	"        CASE WHEN (e->>'final')::boolean THEN 'final' END,"
	"        'next attempt ' || to_char((e->>'next_attempt_at')::timestamptz AT TIME ZONE 'UTC',"
	"                                   'HH24:MI:SS.MS\"Z\"'))"
	"   WHEN 'failure_notice_attempt' THEN concat_ws(', ', 'to callback.failure_url',"
	"        coalesce('HTTP ' || (e->>'http_status'), 'no answer'), 'took ' || (e->>'latency_ms') || ' ms',"
	"        'error ' || (e->>'error_class'),"
	"        CASE WHEN NOT (e->>'final')::boolean THEN NULL WHEN e->>'error_class' IS NULL THEN 'final, accepted'"
	"             ELSE 'final, given up' END)"
	"   ELSE '' END AS detail"
	" FROM s, jsonb_array_elements(s->'timeline') e WHERE s IS NOT NULL";

static const char header_sql[] =
	"SELECT r->>'request_id' AS id, r->>'station_id' AS station, r->>'status' AS status,"
	"  coalesce(r->>'decision', '(none yet)') AS decision, coalesce(r->>'reason', '') AS reason,"
	"  r->>'attempts' AS attempts, r->>'callback_url' AS callback_url"
	" FROM (SELECT $1::jsonb->'request' AS r) x";

#define COL(res, row, name) PQgetvalue((res), (row), PQfnumber((res), (name)))

static bool columns_present(const PGresult *res, const char *const *names)
{
	for (; *names; names++) {
		if (PQfnumber(res, *names) < 0) {
			fprintf(stderr, "chargegatectl: the report has no column \"%s\" (a schema newer than this build?)\n",
				*names);
			return false;
		}
	}
	return true;
}

static PGresult *query_rows(PGconn *conn, const char *sql, const char *story, const char *id,
			    const char *const *names)
{
	const char *params[1] = { story };
	PGresult *res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
	char err[1024];

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "chargegatectl: could not read request %s: %s\n", id, ctl_error(res, err, sizeof(err)));
		PQclear(res);
		return NULL;
	}
	if (!columns_present(res, names)) {
		PQclear(res);
		return NULL;
	}
	return res;
}

static void print_header(const PGresult *h)
{
	const char *reason = COL(h, 0, "reason");

	printf("request %s\n  station   %s\n  status    %s\n  decision  %s%s%s\n  attempts  %s callback "
	       "attempts\n  callback  %s\n\n",
	       COL(h, 0, "id"), COL(h, 0, "station"), COL(h, 0, "status"), COL(h, 0, "decision"),
	       *reason ? ", reason " : "", reason, COL(h, 0, "attempts"), COL(h, 0, "callback_url"));
}

static void print_timeline(const PGresult *t)
{
	printf("%-24s %10s  %-20s %s\n", "time (UTC)", "+seconds", "event", "detail");
	for (int i = 0; i < PQntuples(t); i++)
		printf("%-24s %10s  %-20s %s\n", COL(t, i, "at"), COL(t, i, "since"), COL(t, i, "event"),
		       COL(t, i, "detail"));
}

static int print_story(PGconn *conn, const char *story, const char *id)
{
	static const char *const hcols[] = { "id", "station", "status", "decision", "reason", "attempts",
					     "callback_url", NULL };
	static const char *const tcols[] = { "at", "since", "event", "detail", NULL };
	PGresult *h = query_rows(conn, header_sql, story, id, hcols), *t;

	if (!h)
		return 1;
	t = query_rows(conn, timeline_sql, story, id, tcols);
	if (!t) {
		PQclear(h);
		return 1;
	}
	print_header(h);
	print_timeline(t);
	PQclear(h);
	PQclear(t);
	return 0;
}

/* requests show ID: its story, as request_story() returns it (json) or in words. */
static int show(PGconn *conn, const char *id, bool json)
{
	const char *params[1] = { id };
	char *story;
	int rc = 0;

	if (!query_json(conn, "SELECT chargegate.request_story($1::uuid)", 1, params, &story))
		return 1;
	if (!story) {
		fprintf(stderr, "chargegatectl: no request %s (never accepted, or purged after request.retention)\n", id);
		return CTL_EXIT_NOT_FOUND;
	}
	if (json)
		printf("%s\n", story);
	else
		rc = print_story(conn, story, id);
	free(story);
	return rc;
}

int ctl_requests(const struct Config *cfg, int argc, char **argv)
{
	bool json = argc == 3 && strcmp(argv[2], "--json") == 0;
	PGconn *conn;
	int rc;

	if (argc < 2 || strcmp(argv[0], "show") != 0 || (argc == 3 && !json) || argc > 3) {
		fprintf(stderr, "chargegatectl: usage: requests show REQUEST_ID [--json]\n");
		return 2;
	}
	if (!uuid_is_canonical(argv[1], strlen(argv[1]))) {
		fprintf(stderr, "chargegatectl: requests show: \"%s\" is not a request id (a UUID such as "
				"123e4567-e89b-12d3-a456-426614174000)\n", argv[1]);
		return 2;
	}
	conn = ctl_connect(cfg);
	if (!ctl_schema_current(conn)) {
		PQfinish(conn);
		return 1;
	}
	rc = show(conn, argv[1], json);
	PQfinish(conn);
	return rc;
}

/* --- check-config ------------------------------------------------------------------------ */

static void count_env_key(const char *key, const char *var, size_t varlen, void *arg)
{
	(void)key;
	(void)var;
	(void)varlen;
	(*(int *)arg)++;
}

/* Names only: a value from the environment may be a secret. */
static void print_env_key(const char *key, const char *var, size_t varlen, void *arg)
{
	(void)arg;
	printf("  %s from %.*s\n", key, (int)varlen, var);
}

static void print_ok(const char *path, char *const *envp)
{
	int n = 0;

	config_for_each_env_key(envp, count_env_key, &n);
	if (n == 0) {
		printf("%s: ok\n", path);
		return;
	}
	printf("%s: ok, with %d key%s from the environment:\n", path, n, n == 1 ? "" : "s");
	config_for_each_env_key(envp, print_env_key, NULL);
}

int ctl_check_config(const char *path, char *const *envp, ctl_config_check_fn check_more)
{
	struct Config cfg;
	char err[1024];
	bool ok;

	if (!path) {
		fprintf(stderr, "chargegatectl: check-config: no file to check: give one (check-config FILE or -c FILE); "
				"the default, /etc/chargegate/chargegate.conf, does not exist\n");
		return 2;
	}
	ok = config_load(&cfg, path, envp, err, sizeof(err));
	if (!ok) {
		config_free(&cfg);
		fprintf(stderr, "%s\n", err);
		return CTL_EXIT_INVALID_CONFIG;
	}
	/* then what the daemon checks at start, so "ok" means it starts */
	ok = config_check_startup(&cfg, err, sizeof(err)) && (!check_more || check_more(&cfg, err, sizeof(err)));
	config_free(&cfg);
	if (!ok) {
		fprintf(stderr, "%s: %s\n", path, err);
		return CTL_EXIT_INVALID_CONFIG;
	}
	print_ok(path, envp);
	return 0;
}
