#include "autoconfig.h"

#include "ctl/ctldb.h"

#include "infra/config.h"
#include "infra/migrate.h"
#include "infra/redact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

PGconn *ctl_connect(const struct Config *cfg)
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
		redact_conninfo(msg, sizeof(msg), PQerrorMessage(conn), cfg->database_url);
		msg[strcspn(msg, "\n")] = '\0';
		fprintf(stderr, "chargegatectl: could not connect to the database: %s\n", msg);
		PQfinish(conn);
		exit(1);
	}
	return conn;
}

bool ctl_schema_current(PGconn *conn)
{
	char err[1024];
	int v = migrate_current_version(conn, err, sizeof(err));

	if (v < 0) {
		fprintf(stderr, "chargegatectl: %s\n", err);
		return false;
	}
	if (v < CHARGEGATE_SCHEMA_VERSION) {
		fprintf(stderr, "chargegatectl: the schema is at version %d, this build needs %d: run chargegatectl "
				"migrate first\n", v, CHARGEGATE_SCHEMA_VERSION);
		return false;
	}
	return true;
}

const char *ctl_error(const PGresult *res, char *buf, size_t bufsize)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	size_t len;

	snprintf(buf, bufsize, "%s", res ? PQresultErrorMessage(res) : "no result");
	buf[strcspn(buf, "\n")] = '\0';
	len = strlen(buf);
	/* the daemon's login (chargegate_app) may not do an operator's work */
	if (state && strcmp(state, "42501") == 0)
		snprintf(buf + len, bufsize - len, " (this needs more rights than database.url's role has: run it as the "
						   "schema's owner, e.g. CHARGEGATE_DATABASE_URL naming the role that runs "
						   "migrate; reading needs chargegate_reader)");
	return buf;
}
