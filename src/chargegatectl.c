/*
 * chargegatectl: the operator's command line -- schema migrations and a
 * look at the state of requests and outboxes.  Blocking libpq is fine here.
 */
#include "autoconfig.h"

#include "ctl/apikeycmd.h"
#include "ctl/ctldb.h"
#include "ctl/reportcmd.h"
#include "infra/config.h"
#include "infra/log.h"
#include "infra/migrate.h"
#include "infra/pgarray.h"
#include "kafka/loader.h"
#include "queue/retention.h"

#include <getopt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_CONFIG "/etc/chargegate/chargegate.conf"

extern char **environ;

static void usage(FILE *out)
{
	fprintf(out,
		"usage: chargegatectl [-c FILE] COMMAND\n"
		"commands:\n"
		"  migrate [--lock-timeout DUR]  apply pending schema migrations (safe to run concurrently and again);\n"
		"                                gives up waiting for a lock after DUR (30s) and names its holders\n"
		"  status [--json]               last hour's requests by status, outboxes, subscriptions, leases, open circuits\n"
		"                                (--json: the same as one JSON document, chargegate.status_report())\n"
		"  requests show ID [--json]     one request's story in time order: accepted, relayed, the\n"
		"                                authorization answer, each callback attempt, the final state\n"
		"  check-config [--no-env] [FILE] check a configuration file (default: -c FILE, or the default\n"
		"                                file) with the CHARGEGATE_* variables applied as the daemon\n"
		"                                applies them (--no-env: the file alone), without connecting to\n"
		"                                anything; prints \"FILE: ok\" and the keys the environment set\n"
		"  relay --once                  move every due outbox row to its topic, then exit\n"
		"  dead-letters                  list dead letters with their last error\n"
		"  replay SUBSCRIPTION [BATCH..] make dead letters ready again (all, or the given batches)\n"
		"  discard SUBSCRIPTION [BATCH..] delete dead letters (all, or the given batches)\n"
		"  purge                         apply every retention policy now (queue.retention, request.retention)\n"
		"  api-key create NAME           make a new API key and print it (only this once)\n"
		"  api-key list                  API keys with their creation, last use and revocation\n"
		"  api-key revoke NAME           refuse the key from now on (every daemon within 5 s)\n"
		"  version                       print the version\n"
		"options:\n"
		"  -c, --config FILE   configuration file (default " DEFAULT_CONFIG " when it exists)\n"
		"  -h, --help          this text\n"
		"The database comes from database.url or CHARGEGATE_DATABASE_URL.\n"
		"exit status: 0 ok, 1 failure (e.g. the database cannot be reached), 2 usage error,\n"
		"  3 requests show: no such request, 4 check-config: the configuration is invalid or unreadable\n");
}

#define MIGRATE_LOCK_TIMEOUT_MS 30000

static int cmd_migrate(const struct Config *cfg, int argc, char **argv)
{
	int64_t lock_timeout_ms = MIGRATE_LOCK_TIMEOUT_MS;
	PGconn *conn;
	char err[4096];
	bool ok;

	if (argc == 2 && strcmp(argv[0], "--lock-timeout") == 0) {
		if (!config_parse_duration(argv[1], &lock_timeout_ms) || lock_timeout_ms < 1) {
			fprintf(stderr, "chargegatectl: migrate: --lock-timeout wants a duration such as 30s or "
					"500ms, not \"%s\"\n", argv[1]);
			return 2;
		}
	} else if (argc != 0) {
		fprintf(stderr, "chargegatectl: usage: migrate [--lock-timeout DURATION]\n");
		return 2;
	}
	conn = ctl_connect(cfg);
	ok = migrate_apply(conn, migrate_sqldir(), lock_timeout_ms, stdout, err, sizeof(err));
	PQfinish(conn);
	if (!ok) {
		fprintf(stderr, "chargegatectl: migrate failed, nothing was changed: %s\n", err);
		return 1;
	}
	return 0;
}

static void print_query(PGconn *conn, const char *title, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	PQprintOpt opt = { 0 };

	char err[1024];

	printf("%s\n", title);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		printf("  (could not read: %s)\n", ctl_error(res, err, sizeof(err)));
		PQclear(res);
		return;
	}
	opt.header = 1;
	opt.align = 1;
	opt.fieldSep = "|";
	PQprint(stdout, res, &opt);
	PQclear(res);
}

static int cmd_status(const struct Config *cfg)
{
	PGconn *conn = ctl_connect(cfg);
	char err[1024];
	int v = migrate_current_version(conn, err, sizeof(err));
	bool ok;

	if (v < 0) {
		fprintf(stderr, "chargegatectl: %s\n", err);
		PQfinish(conn);
		return 1;
	}
	printf("schema version: %d (this build needs %d)%s\n\n", v, CHARGEGATE_SCHEMA_VERSION,
	       v < CHARGEGATE_SCHEMA_VERSION ? " -- run chargegatectl migrate" : "");
	if (v < CHARGEGATE_SCHEMA_VERSION) {
		PQfinish(conn);
		return 1;
	}
	ok = ctl_print_status(conn);
	PQfinish(conn);
	return ok ? 0 : 1;
}

/* Runs sql with params and prints its single integer result under label. */
static bool exec_count(PGconn *conn, const char *sql, int n, const char *const *params, long long *out)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
	char err[1024];

	if (ok)
		*out = atoll(PQgetvalue(res, 0, 0));
	else
		fprintf(stderr, "chargegatectl: %s\n", ctl_error(res, err, sizeof(err)));
	PQclear(res);
	return ok;
}

/* The seed's "command or cron job": drain every outbox once, then exit. */
static int cmd_relay_once(const struct Config *cfg)
{
	PGconn *conn;
	PGresult *names;
	char err[1024];
	int rc = 0;

	if (strcmp(cfg->transport_kind, "postgres") != 0) {
		fprintf(stderr, "chargegatectl: relay --once moves rows to PostgreSQL topics; with transport.kind = %s "
				"the daemon relays\n", cfg->transport_kind);
		return 1;
	}
	conn = ctl_connect(cfg);
	names = PQexec(conn, "SELECT name FROM chargegate.outbox ORDER BY name");
	if (PQresultStatus(names) != PGRES_TUPLES_OK) {
		fprintf(stderr, "chargegatectl: could not list the outboxes: %s\n", ctl_error(names, err, sizeof(err)));
		PQclear(names);
		PQfinish(conn);
		return 1;
	}
	for (int i = 0; i < PQntuples(names) && rc == 0; i++) {
		const char *params[1] = { PQgetvalue(names, i, 0) };
		long long moved, total = 0;

		do {
			if (!exec_count(conn, "SELECT moved FROM chargegate.relay_outbox($1, 1000)", 1, params, &moved)) {
				rc = 1;
				break;
			}
			total += moved;
		} while (moved == 1000);
		printf("%s: %lld rows relayed\n", params[0], total);
	}
	PQclear(names);
	PQfinish(conn);
	return rc;
}

/* replay|discard SUBSCRIPTION [BATCH_ID ...] */
static int cmd_dead_letters(const struct Config *cfg, bool replay, int argc, char **argv)
{
	struct PgArray ids = PGARRAY_INIT;
	char *idtext;
	const char *params[2];
	long long n;
	PGconn *conn;
	bool ok;

	if (argc < 1) {
		fprintf(stderr, "chargegatectl: %s needs a subscription (see: chargegatectl dead-letters)\n",
			replay ? "replay" : "discard");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		char *end;

		long long id = strtoll(argv[i], &end, 10);

		if (id <= 0 || *end) {
			fprintf(stderr, "chargegatectl: \"%s\" is not a batch id (the batch_id column of "
					"chargegate.dead_letters)\n", argv[i]);
			free(pgarray_finish(&ids));
			return 2;
		}
		pgarray_int(&ids, id);
	}
	idtext = pgarray_finish(&ids);
	params[0] = argv[0];
	params[1] = argc > 1 ? idtext : NULL;
	conn = ctl_connect(cfg);
	ok = exec_count(conn,
			replay ? "SELECT chargegate.replay_dead_letters($1, $2::bigint[])"
			       : "SELECT chargegate.discard_dead_letters($1, $2::bigint[])",
			2, params, &n);
	PQfinish(conn);
	free(idtext);
	if (ok)
		printf("%s: %lld dead letters %s\n", argv[0], n, replay ? "replayed" : "discarded");
	return ok ? 0 : 1;
}

static int cmd_list_dead(const struct Config *cfg)
{
	PGconn *conn = ctl_connect(cfg);

	print_query(conn, "dead letters:",
		    "SELECT subscription, batch_id, event_type, aggregate_id AS request_id, attempts, dead_since,"
		    " left(last_error, 80) AS last_error FROM chargegate.dead_letters ORDER BY dead_since LIMIT 100");
	PQfinish(conn);
	return 0;
}

/* Retention now, in bounded batches, instead of waiting for the daemon. */
#define PURGE_MAX_TABLES 16

struct PurgeTotals {
	char table[PURGE_MAX_TABLES][64];
	long long deleted[PURGE_MAX_TABLES];
	int n;
};

static void add_total(struct PurgeTotals *t, const char *table, long long n)
{
	int i = 0;

	while (i < t->n && strcmp(t->table[i], table) != 0)
		i++;
	if (i == t->n) {
		if (t->n == PURGE_MAX_TABLES)
			return;
		snprintf(t->table[t->n++], sizeof(t->table[0]), "%s", table);
	}
	t->deleted[i] += n;
}

/*
 * One retention policy, batch after batch until no table filled a batch;
 * each table's count goes into t.  false on a failure (said on stderr).
 */
static bool purge_policy(PGconn *conn, const char *sql, int64_t retention_ms, int limit, struct PurgeTotals *t)
{
	char ms[32], lim[16], err[512];
	const char *params[2] = { ms, lim };
	bool more = true;

	snprintf(ms, sizeof(ms), "%lld", (long long)retention_ms);
	snprintf(lim, sizeof(lim), "%d", limit);
	while (more) {
		PGresult *res = PQexecParams(conn, sql, 2, NULL, params, NULL, NULL, 0);

		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			fprintf(stderr, "chargegatectl: purge: %s\n", ctl_error(res, err, sizeof(err)));
			PQclear(res);
			return false;
		}
		more = false;
		for (int i = 0; i < PQntuples(res); i++) {
			long long n = atoll(PQgetvalue(res, i, 1));

			more = more || n >= limit;
			add_total(t, PQgetvalue(res, i, 0), n);
		}
		PQclear(res);
	}
	return true;
}

static void print_totals(const char *title, const struct PurgeTotals *t)
{
	printf("%s\n", title);
	for (int i = 0; i < t->n; i++)
		printf("  %-40s %lld deleted\n", t->table[i], t->deleted[i]);
}

static int cmd_purge(const struct Config *cfg)
{
	PGconn *conn = ctl_connect(cfg);
	struct PurgeTotals q = { 0 }, r = { 0 };
	char title[200];
	bool ok;

	if (!ctl_schema_current(conn)) {
		PQfinish(conn);
		return 1;
	}
	ok = purge_policy(conn, RETENTION_QUEUE_SQL, cfg->queue_retention_ms, RETENTION_QUEUE_LIMIT, &q);
	if (ok) {
		snprintf(title, sizeof(title), "queue.retention (%lld ms): done queue rows", (long long)cfg->queue_retention_ms);
		print_totals(title, &q);
	}
	if (ok && cfg->request_retention_ms == 0) {
		printf("request.retention = 0: requests are kept\n");
	} else if (ok) {
		ok = purge_policy(conn, RETENTION_REQUESTS_SQL_WAITING, cfg->request_retention_ms,
				  RETENTION_REQUESTS_LIMIT, &r);
		snprintf(title, sizeof(title), "request.retention (%lld ms): finished requests and what hangs off them",
			 (long long)cfg->request_retention_ms);
		if (ok)
			print_totals(title, &r);
	}
	PQfinish(conn);
	return ok ? 0 : 1;
}

static const char *default_config_path(void)
{
	return access(DEFAULT_CONFIG, R_OK) == 0 ? DEFAULT_CONFIG : NULL;
}

static bool no_args(const char *cmd, int argc)
{
	if (argc == 0)
		return true;
	fprintf(stderr, "chargegatectl: %s takes no arguments\n", cmd);
	return false;
}

/* What chargegated refuses at start besides config_check_startup (src/kafka/ is above infra/). */
static bool kafka_module_check(const struct Config *cfg, char *err, size_t errsize)
{
	return strcmp(cfg->transport_kind, "kafka") != 0 || transport_kafka_available(err, errsize);
}

/* check-config [--no-env] [FILE]: the environment too, as the daemon reads it (DESIGN §6), unless --no-env. */
static int check_config(const char *option_path, int argc, char **argv)
{
	const char *file = NULL;
	bool no_env = false;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--no-env") == 0 && !no_env) {
			no_env = true;
		} else if (argv[i][0] != '-' && !file) {
			file = argv[i];
		} else {
			fprintf(stderr, "chargegatectl: usage: check-config [--no-env] [FILE]\n");
			return 2;
		}
	}
	if (!file)
		file = option_path ? option_path : default_config_path();
	return ctl_check_config(file, no_env ? NULL : environ, kafka_module_check);
}

static int run_command(const struct Config *cfg, const char *cmd, int argc, char **argv)
{
	if (strcmp(cmd, "migrate") == 0)
		return cmd_migrate(cfg, argc, argv);
	if (strcmp(cmd, "status") == 0 && argc == 1 && strcmp(argv[0], "--json") == 0)
		return ctl_status_json(cfg);
	if (strcmp(cmd, "status") == 0) {
		if (argc == 0)
			return cmd_status(cfg);
		fprintf(stderr, "chargegatectl: usage: status [--json]\n");
		return 2;
	}
	if (strcmp(cmd, "requests") == 0)
		return ctl_requests(cfg, argc, argv);
	if (strcmp(cmd, "relay") == 0) {
		if (argc != 1 || strcmp(argv[0], "--once") != 0) {
			fprintf(stderr, "chargegatectl: usage: relay --once (the daemon relays continuously)\n");
			return 2;
		}
		return cmd_relay_once(cfg);
	}
	if (strcmp(cmd, "dead-letters") == 0)
		return no_args(cmd, argc) ? cmd_list_dead(cfg) : 2;
	if (strcmp(cmd, "replay") == 0 || strcmp(cmd, "discard") == 0)
		return cmd_dead_letters(cfg, strcmp(cmd, "replay") == 0, argc, argv);
	if (strcmp(cmd, "purge") == 0)
		return no_args(cmd, argc) ? cmd_purge(cfg) : 2;
	if (strcmp(cmd, "api-key") == 0)
		return ctl_api_key(cfg, argc, argv);
	fprintf(stderr, "chargegatectl: unknown command \"%s\"\n", cmd);
	usage(stderr);
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *cmd;
	struct Config cfg;
	char err[1024];
	int c, rc;

	while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		if (c == 'c') {
			path = optarg;
		} else if (c == 'h') {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	if (strcmp(cmd, "version") == 0) {
		printf("chargegatectl %s (schema version %d)\n", PACKAGE_VERSION, CHARGEGATE_SCHEMA_VERSION);
		return 0;
	}
	/* before loading the configuration: checking it is the command */
	if (strcmp(cmd, "check-config") == 0)
		return check_config(path, argc - optind - 1, argv + optind + 1);
	if (!config_load(&cfg, path ? path : default_config_path(), environ, err, sizeof(err))) {
		fprintf(stderr, "chargegatectl: %s\n", err);
		config_free(&cfg);
		return 1;
	}
	rc = run_command(&cfg, cmd, argc - optind - 1, argv + optind + 1);
	config_free(&cfg);
	return rc;
}
