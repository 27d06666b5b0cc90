/*
 * chargegatectl: the operator's command line -- schema migrations and a
 * look at the state of requests and outboxes.  Blocking libpq is fine here.
 */
#include "autoconfig.h"

#include "infra/config.h"
#include "infra/log.h"
#include "infra/migrate.h"

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
		"  migrate   apply pending schema migrations (safe to run concurrently and again)\n"
		"  status    schema version, requests by status, outbox backlogs\n"
		"  version   print the version\n"
		"options:\n"
		"  -c, --config FILE   configuration file (default " DEFAULT_CONFIG " when it exists)\n"
		"  -h, --help          this text\n"
		"The database comes from database.url or CHARGEGATE_DATABASE_URL.\n");
}

static PGconn *connect_or_die(const struct Config *cfg)
{
	PGconn *conn;
	char msg[1024];

	if (!cfg->database_url || !*cfg->database_url) {
		fprintf(stderr, "chargegatectl: database.url is not set: set it in the configuration file or in "
				"CHARGEGATE_DATABASE_URL\n");
		exit(1);
	}
	conn = PQconnectdb(cfg->database_url);
	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
		msg[strcspn(msg, "\n")] = '\0';
		fprintf(stderr, "chargegatectl: could not connect to the database: %s\n", msg);
		PQfinish(conn);
		exit(1);
	}
	return conn;
}

static int cmd_migrate(const struct Config *cfg)
{
	PGconn *conn = connect_or_die(cfg);
	char err[2048];
	bool ok = migrate_apply(conn, migrate_sqldir(), stdout, err, sizeof(err));

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

	printf("%s\n", title);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		printf("  (could not read: %s)\n", PQresultErrorMessage(res));
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
	PGconn *conn = connect_or_die(cfg);
	char err[1024];
	int v = migrate_current_version(conn, err, sizeof(err));

	if (v < 0) {
		fprintf(stderr, "chargegatectl: %s\n", err);
		PQfinish(conn);
		return 1;
	}
	printf("schema version: %d (this build needs %d)%s\n\n", v, CHARGEGATE_SCHEMA_VERSION,
	       v < CHARGEGATE_SCHEMA_VERSION ? " -- run chargegatectl migrate" : "");
	if (v == 0) {
		PQfinish(conn);
		return 1;
	}
	print_query(conn, "requests by status:",
		    "SELECT status, count(*) AS requests, min(created_at) AS oldest"
		    " FROM chargegate.charging_session_request GROUP BY status ORDER BY status");
	print_query(conn, "outboxes:",
		    "SELECT 'charging_session_request_outbox' AS outbox, count(*) FILTER (WHERE published_at IS NULL) AS pending,"
		    " coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE published_at IS NULL)), 0)::int AS oldest_pending_s"
		    " FROM chargegate.charging_session_request_outbox"
		    " UNION ALL SELECT 'authorization_decision_callback_outbox', count(*) FILTER (WHERE published_at IS NULL),"
		    " coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE published_at IS NULL)), 0)::int"
		    " FROM chargegate.authorization_decision_callback_outbox"
		    " UNION ALL SELECT 'callback_delivery_outbox', count(*) FILTER (WHERE published_at IS NULL),"
		    " coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE published_at IS NULL)), 0)::int"
		    " FROM chargegate.callback_delivery_outbox");
	PQfinish(conn);
	return 0;
}

static const char *default_config_path(void)
{
	return access(DEFAULT_CONFIG, R_OK) == 0 ? DEFAULT_CONFIG : NULL;
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
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	if (strcmp(cmd, "version") == 0) {
		printf("chargegatectl %s (schema version %d)\n", PACKAGE_VERSION, CHARGEGATE_SCHEMA_VERSION);
		return 0;
	}
	if (!config_load(&cfg, path ? path : default_config_path(), environ, err, sizeof(err))) {
		fprintf(stderr, "chargegatectl: %s\n", err);
		config_free(&cfg);
		return 1;
	}
	if (strcmp(cmd, "migrate") == 0) {
		rc = cmd_migrate(&cfg);
	} else if (strcmp(cmd, "status") == 0) {
		rc = cmd_status(&cfg);
	} else {
		fprintf(stderr, "chargegatectl: unknown command \"%s\"\n", cmd);
		usage(stderr);
		rc = 2;
	}
	config_free(&cfg);
	return rc;
}
