#include "autoconfig.h"

#include "notification/retry.h"

#include "infra/alloc.h"
#include "infra/json.h"
#include "infra/log.h"
#include "queue/consumer.h"
#include "queue/topology.h"
#include "queue/settings.h"
#include "queue/transport.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

struct RetryScheduler {
	struct Consumer *consumer;
};

static void handle(struct ConsumerBatch *b, void *arg)
{
	struct json_object *items = json_new_array();
	char err[256];

	for (int i = 0; i < consumer_batch_count(b); i++) {
		const struct QueueMessage *m = consumer_batch_message(b, i);
		struct json_object *payload = NULL;

		if (strcmp(m->event_type, "CallbackFailed") != 0) {
			consumer_done(b, i);	/* successes need no retry */
			continue;
		}
		if (!json_parse_object(m->payload, strlen(m->payload), &payload, err, sizeof(err))) {
			consumer_dead(b, i, err);
			continue;
		}
		json_append(items, payload);
		consumer_done(b, i);
	}
	if (json_object_array_length(items) > 0) {
		const char *text = json_to_text(items, NULL);

		consumer_add_step(b, "SELECT chargegate.schedule_callback_retries($1::jsonb)", 1, &text);
	}
	json_object_put(items);
	consumer_batch_finish(b);
}

struct RetryScheduler *retry_scheduler_new(struct event_base *base, struct Transport *t, const struct QueueSettings *qs)
{
	struct RetryScheduler *r = xcalloc(1, sizeof(*r));
	struct ConsumerSpec spec = topology_consumer_spec(SUB_RETRY_SCHEDULER, qs, handle, NULL);

	r->consumer = consumer_new(base, t, &spec);
	return r;
}

void retry_scheduler_free(struct RetryScheduler *r)
{
	if (!r)
		return;
	consumer_free(r->consumer);
	free(r);
}

int retry_scheduler_busy(const struct RetryScheduler *r)
{
	return r ? consumer_busy(r->consumer) : 0;
}
