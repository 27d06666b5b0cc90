/*
 * Is a connection pooler (PgBouncer) between the daemon and PostgreSQL, and
 * does it pool transactions?  Behind transaction pooling LISTEN never
 * delivers and session settings stay on whichever server connection got
 * them (DESIGN §2.9): the daemon says so at start instead of waiting on
 * wake-ups that cannot come.
 */
#ifndef CHARGEGATE_POOLER_H
#define CHARGEGATE_POOLER_H

#include <libpq-fe.h>
#include <stddef.h>

enum PoolerKind {
	POOLER_NONE,		/* the port we reached is the server's own */
	POOLER_SESSION,		/* in between, but a client keeps its server connection */
	POOLER_TRANSACTION,	/* in between, and a client's server changes between transactions */
};

/*
 * conn is a connection made with conninfo.  When its port is not the
 * server's, a second connection holds a transaction open to see whether
 * conn then lands on another backend.  detail says what was seen; on an
 * error the answer is POOLER_NONE and detail says why.
 */
enum PoolerKind pooler_detect(PGconn *conn, const char *conninfo, char *detail, size_t size);

#endif
