#include "autoconfig.h"

#include "request/status.h"

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

struct RequestStatus {
	struct Consumer *decisions;
	struct Consumer *deliveries;
};

static void copy_member(struct json_object *dst, struct json_object *src, const char *key)
{
	struct json_object *v;

	if (json_object_object_get_ex(src, key, &v))
		json_set(dst, key, json_object_get(v));
}

/* One item for chargegate.apply_request_events per event. */
static void handle(struct ConsumerBatch *b, void *arg)
{
	struct json_object *items = json_new_array();
	char err[256];

	for (int i = 0; i < consumer_batch_count(b); i++) {
		const struct QueueMessage *m = consumer_batch_message(b, i);
		struct json_object *payload = NULL, *item;

		if (!json_parse_object(m->payload, strlen(m->payload), &payload, err, sizeof(err))) {
			consumer_dead(b, i, err);	/* retrying cannot repair a payload */
			continue;
		}
		item = json_new_object();
		json_set_string(item, "event_type", m->event_type);
		json_set_string(item, "request_id", m->aggregate_id);
		copy_member(item, payload, "status");
		copy_member(item, payload, "reason");
		copy_member(item, payload, "attempt");
		copy_member(item, payload, "final");
		json_append(items, item);
		json_object_put(payload);
		consumer_done(b, i);
	}
	if (json_object_array_length(items) > 0) {
		const char *text = json_to_text(items, NULL);

		consumer_add_step(b, "SELECT chargegate.apply_request_events($1::jsonb)", 1, &text);
	}
	json_object_put(items);
	consumer_batch_finish(b);
}

struct RequestStatus *request_status_new(struct event_base *base, struct Transport *t, const struct QueueSettings *qs)
{
	struct RequestStatus *rs = xcalloc(1, sizeof(*rs));
	struct ConsumerSpec decisions = topology_consumer_spec(SUB_REQUEST_STATUS_DECISIONS, qs, handle, NULL);
	struct ConsumerSpec deliveries = topology_consumer_spec(SUB_REQUEST_STATUS_DELIVERIES, qs, handle, NULL);

	rs->decisions = consumer_new(base, t, &decisions);
	rs->deliveries = consumer_new(base, t, &deliveries);
	return rs;
}

void request_status_free(struct RequestStatus *rs)
{
	if (!rs)
		return;
	consumer_free(rs->decisions);
	consumer_free(rs->deliveries);
	free(rs);
}

int request_status_busy(const struct RequestStatus *rs)
{
	return rs ? consumer_busy(rs->decisions) + consumer_busy(rs->deliveries) : 0;
}
