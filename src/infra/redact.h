/*
 * Secrets out of log lines.  libpq echoes parts of a connection string in
 * its parse errors ("invalid percent-encoded token: \"...\""), and the part
 * may be the password of database.url.
 */
#ifndef CHARGEGATE_REDACT_H
#define CHARGEGATE_REDACT_H

#include <stddef.h>

/*
 * Copy text into out (cut to fit) with every occurrence of a password that
 * conninfo holds -- "postgresql://user:PASSWORD@...", "?password=..." or
 * "password=..." as written there -- replaced by "***".  Returns out.
 */
const char *redact_conninfo(char *out, size_t outsize, const char *text, const char *conninfo);

/*
 * Copy url into out (cut to fit) with the password of its user information
 * ("https://user:PASSWORD@host/") replaced by "***".  Returns out.
 */
const char *redact_url(char *out, size_t outsize, const char *url);

#endif
