/*
 * Schema migrations: numbered files sql/NNN_name.sql applied once each, in
 * order, then sql/functions/ and sql/views/ re-applied, then the idempotent
 * repairs of sql/after/ run -- all in one transaction under an advisory
 * lock, so concurrent runs cannot race.
 * Blocking libpq: for chargegatectl and start-up checks, never the loop.
 */
#ifndef CHARGEGATE_MIGRATE_H
#define CHARGEGATE_MIGRATE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The schema version this build needs: the highest sql/NNN_*.sql. */
#define CHARGEGATE_SCHEMA_VERSION 13

/*
 * One query returning the applied version as its only value; it fails (an
 * undefined table) on a database that was never migrated.
 */
extern const char migrate_version_sql[];

/* $CHARGEGATE_SQLDIR when set, else the installed directory. */
const char *migrate_sqldir(void);

/*
 * Applies what is missing; says what it did on report.  Waits for a lock
 * at most lock_timeout_ms.  false: err says why (for a lock, who holds it).
 */
bool migrate_apply(PGconn *conn, const char *sqldir, int64_t lock_timeout_ms, FILE *report, char *err,
		   size_t errsize);

/* The applied version (0 when the schema does not exist), or -1 with err. */
int migrate_current_version(PGconn *conn, char *err, size_t errsize);

#endif
