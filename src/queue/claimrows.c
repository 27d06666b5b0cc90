#include "autoconfig.h"

#include "queue/claimrows.h"

#include "infra/alloc.h"
#include "infra/log.h"
#include "queue/transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { C_BATCH, C_FENCE, C_ATTEMPTS, C_MESSAGE, C_EVENT, C_TYPE, C_AGGREGATE, C_PAYLOAD, C_HANDLED, C_AGE, C_N };

static const char *const columns[C_N] = {
	[C_BATCH] = "batch_id",	    [C_FENCE] = "fence",     [C_ATTEMPTS] = "attempts", [C_MESSAGE] = "message_id",
	[C_EVENT] = "event_id",	    [C_TYPE] = "event_type", [C_AGGREGATE] = "aggregate_id",
	[C_PAYLOAD] = "payload",    [C_HANDLED] = "handled", [C_AGE] = "age_ms",
};

static void copy(char *dst, size_t size, const PGresult *res, int row, int col)
{
	snprintf(dst, size, "%s", PQgetvalue(res, row, col));
}

bool claimrows_decode(PGresult *res, struct QueueMessage *msgs, char *err, size_t errsize)
{
	int col[C_N];

	for (int k = 0; k < C_N; k++) {
		if ((col[k] = PQfnumber(res, columns[k])) < 0) {
			snprintf(err, errsize, "claim_messages returned no column \"%s\" (run chargegatectl migrate)",
				 columns[k]);
			return false;
		}
	}
	for (int i = 0; i < PQntuples(res); i++) {
		struct QueueMessage *m = &msgs[i];

		m->lease_id = atoll(PQgetvalue(res, i, col[C_BATCH]));
		m->fence = atoll(PQgetvalue(res, i, col[C_FENCE]));
		m->attempts = atoi(PQgetvalue(res, i, col[C_ATTEMPTS]));
		m->id = atoll(PQgetvalue(res, i, col[C_MESSAGE]));
		copy(m->event_id, sizeof(m->event_id), res, i, col[C_EVENT]);
		copy(m->event_type, sizeof(m->event_type), res, i, col[C_TYPE]);
		copy(m->aggregate_id, sizeof(m->aggregate_id), res, i, col[C_AGGREGATE]);
		m->payload = xstrdup(PQgetvalue(res, i, col[C_PAYLOAD]));
		m->handled = PQgetvalue(res, i, col[C_HANDLED])[0] == 't';
		m->age_ms = atoll(PQgetvalue(res, i, col[C_AGE]));
	}
	return true;
}
