#include "autoconfig.h"

#include "ctl/apikeycmd.h"

#include "ctl/ctldb.h"
#include "infra/apikey.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define NAME_MAX_LEN 63

static const char insert_sql[] =
	"INSERT INTO chargegate.api_key (name, key_hash) VALUES ($1, decode($2, 'hex')) RETURNING id";
static const char list_sql[] =
	"SELECT name, to_char(created_at, 'YYYY-MM-DD HH24:MI:SS TZ') AS created,"
	" coalesce(to_char(last_used_at, 'YYYY-MM-DD HH24:MI:SS TZ'), 'never') AS last_used,"
	" coalesce(to_char(revoked_at, 'YYYY-MM-DD HH24:MI:SS TZ'), '') AS revoked"
	" FROM chargegate.api_key ORDER BY revoked_at IS NOT NULL, name, created_at";
static const char revoke_sql[] =
	"UPDATE chargegate.api_key SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL RETURNING id";

/* The same rule as the table's CHECK, said before the database would. */
static bool valid_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > NAME_MAX_LEN || !strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
						   name[0]))
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static int create(PGconn *conn, const char *name)
{
	char key[APIKEY_SIZE], err[512], hex[APIKEY_HASH_HEX_SIZE];
	unsigned char hash[APIKEY_HASH_LEN];
	const char *params[2] = { name, hex };
	PGresult *res;
	int rc = 0;

	if (!apikey_generate(key, err, sizeof(err))) {
		fprintf(stderr, "chargegatectl: api-key create: %s\n", err);
		return 1;
	}
	apikey_hash(key, strlen(key), hash);
	apikey_hash_hex(hash, hex);
	res = PQexecParams(conn, insert_sql, 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		printf("%s\n", key);
		fprintf(stderr, "created API key \"%s\": it is shown only now (chargegate keeps its hash); clients "
				"send it as Authorization: Bearer <key>\n", name);
	} else {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		if (state && strcmp(state, "23505") == 0)
			fprintf(stderr, "chargegatectl: api-key create: an active key is already named \"%s\": choose "
					"another name (to rotate, create the new key, move clients to it, then revoke "
					"the old one)\n", name);
		else
			fprintf(stderr, "chargegatectl: api-key create: %s\n", ctl_error(res, err, sizeof(err)));
		rc = 1;
	}
	PQclear(res);
	return rc;
}

static int list(PGconn *conn)
{
	PGresult *res = PQexec(conn, list_sql);
	PQprintOpt opt = { .header = 1, .align = 1, .fieldSep = "|" };
	char err[512];

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "chargegatectl: api-key list: %s\n", ctl_error(res, err, sizeof(err)));
		PQclear(res);
		return 1;
	}
	if (PQntuples(res) == 0)
		printf("no API keys: create one with chargegatectl api-key create NAME\n");
	else
		PQprint(stdout, res, &opt);
	PQclear(res);
	return 0;
}

static int revoke(PGconn *conn, const char *name)
{
	PGresult *res = PQexecParams(conn, revoke_sql, 1, NULL, &name, NULL, NULL, 0);
	char err[512];
	int rc = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "chargegatectl: api-key revoke: %s\n", ctl_error(res, err, sizeof(err)));
		rc = 1;
	} else if (PQntuples(res) == 0) {
		fprintf(stderr, "chargegatectl: api-key revoke: no active API key is named \"%s\" (chargegatectl "
				"api-key list shows them)\n", name);
		rc = 1;
	} else {
		printf("revoked API key \"%s\": every daemon refuses it within 5 seconds\n", name);
	}
	PQclear(res);
	return rc;
}

static int usage(void)
{
	fprintf(stderr, "chargegatectl: usage: api-key create NAME | api-key list | api-key revoke NAME\n");
	return 2;
}

int ctl_api_key(const struct Config *cfg, int argc, char **argv)
{
	bool named = argc == 2 && (strcmp(argv[0], "create") == 0 || strcmp(argv[0], "revoke") == 0);
	PGconn *conn;
	int rc;

	if (!named && !(argc == 1 && strcmp(argv[0], "list") == 0))
		return usage();
	if (named && !valid_name(argv[1])) {
		fprintf(stderr, "chargegatectl: api-key %s: invalid name \"%s\": 1 to %d letters, digits, '.', '_' "
				"or '-', starting with a letter or digit\n", argv[0], argv[1], NAME_MAX_LEN);
		return 2;
	}
	conn = ctl_connect(cfg);
	if (!ctl_schema_current(conn)) {
		PQfinish(conn);
		return 1;
	}
	if (strcmp(argv[0], "create") == 0)
		rc = create(conn, argv[1]);
	else if (strcmp(argv[0], "revoke") == 0)
		rc = revoke(conn, argv[1]);
	else
		rc = list(conn);
	PQfinish(conn);
	return rc;
}
