/*
 * Who this daemon is in the database: "host:pid", the owner of its leases
 * and of its circuit rows.  Every module that writes one uses this, so an
 * operator can match them.
 */
#ifndef CHARGEGATE_IDENTITY_H
#define CHARGEGATE_IDENTITY_H

#include <stddef.h>

void daemon_identity(char *buf, size_t size);

#endif
