/*
 * chargegatectl's database access: a blocking connection, which is right
 * for a command line, and the checks every command makes before it reads
 * or writes.  Failures are reported on stderr in the command's words.
 */
#ifndef CHARGEGATE_CTLDB_H
#define CHARGEGATE_CTLDB_H

#include <libpq-fe.h>
#include <stdbool.h>

struct Config;

/* Connects to database.url, or prints why not and exits 1. */
PGconn *ctl_connect(const struct Config *cfg);

/* True when the schema is at the version this build needs; else says what to do. */
bool ctl_schema_current(PGconn *conn);

/* The first line of a failed result's message (no trailing newline). */
const char *ctl_error(const PGresult *res, char *buf, size_t bufsize);

#endif
