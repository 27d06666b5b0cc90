/*
 * chargegatectl's reports (DESIGN §8): status and status --json, requests
 * show ID [--json] and check-config [FILE].  The figures come from the SQL
 * reports (chargegate.status_report(), request_story()) that the daemon's
 * status page shows too.
 */
#ifndef CHARGEGATE_REPORTCMD_H
#define CHARGEGATE_REPORTCMD_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

struct Config;

/* Exit statuses beyond 0 (ok), 1 (failure) and 2 (usage). */
#define CTL_EXIT_NOT_FOUND 3		/* requests show: no such request */
#define CTL_EXIT_INVALID_CONFIG 4	/* check-config: the file is invalid or unreadable */

/* status --json: chargegate.status_report() on one line. */
int ctl_status_json(const struct Config *cfg);
/* The text status: the tables of one chargegate.status_report(); false on a failure (said). */
bool ctl_print_status(PGconn *conn);
/* argv: what follows "requests". */
int ctl_requests(const struct Config *cfg, int argc, char **argv);
/*
 * A start-up check of the daemon's that lives above infra/ (the Kafka
 * module's presence): false with the reason in err.
 */
typedef bool (*ctl_config_check_fn)(const struct Config *cfg, char *err, size_t errsize);

/*
 * path: the file to check (NULL: none was given nor found); envp: the
 * environment the daemon would read too (environ), or NULL for the file
 * alone; check_more (may be NULL) runs after config_check_startup.
 */
int ctl_check_config(const char *path, char *const *envp, ctl_config_check_fn check_more);

#endif
