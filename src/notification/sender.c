#include "autoconfig.h"

#include "notification/sender.h"

#include "infra/alloc.h"
#include "infra/clock.h"
#include "infra/httpclient.h"
#include "infra/json.h"
#include "infra/metrics.h"
#include "infra/log.h"
#include "infra/signing.h"
#include "infra/url.h"
#include "notification/outcome.h"
#include "notification/circuitlog.h"
#include "notification/deliverystats.h"
#include "notification/destinations.h"
#include "notification/webhook.h"
#include "queue/consumer.h"
#include "queue/topology.h"
#include "queue/settings.h"
#include "queue/transport.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct Sender {
	struct HttpClient *http;	/* callbacks only: never shared with authorization calls */
	const struct SenderSettings *st;
	struct Destinations *dests;
	struct CircuitLog *circuits;	/* what dests' breakers do, for the operator */
	int in_flight;			/* deliveries taken and not finished (sending or waiting for a slot) */
	struct Consumer *first;		/* AuthorizationDecisionCallback */
	struct Consumer *retries;	/* CallbackRetryRequested */
	uint64_t *postponed;
	struct DeliveryStats *stats;
};

struct SendBatch {
	struct Sender *s;
	struct ConsumerBatch *b;
	struct json_object *items;	/* one per attempt made */
	int outstanding;
	bool cancelled;		/* shutting down mid-send: give the batch back */
};

/* One delivery: submitted to its destination, then sent or postponed. */
struct SendCall {
	struct SendBatch *sb;
	int index;			/* in the consumer batch */
	struct json_object *item;	/* the attempt's record, once made */
	char *body;
	char *url;
	char webhook_id[64];
	char event_id[37];		/* the message's, for the log */
	char key[DESTINATION_KEY_SIZE];
	int attempt;
	int64_t waited_ms;		/* since it was due, by the database's clock */
};

static void batch_finish(struct SendBatch *sb)
{
	if (sb->cancelled) {
		for (int i = 0; i < consumer_batch_count(sb->b); i++)
			consumer_postpone(sb->b, i, 0, "daemon stopped before the callback was answered");
	} else if (json_object_array_length(sb->items) > 0) {
		const char *text = json_to_text(sb->items, NULL);

		consumer_add_step(sb->b, "SELECT chargegate.record_callback_attempts($1::jsonb)", 1, &text);
	}
	consumer_batch_finish(sb->b);
	json_object_put(sb->items);
	free(sb);
}

static struct RetrySchedule retry_schedule(const struct SenderSettings *st)
{
	return (struct RetrySchedule){ st->schedule_ms, st->schedule_len, st->max_retry_after_ms };
}

static void record_outcome(struct SendCall *call, const struct HttpClientResponse *r)
{
	struct json_object *item = call->item;
	struct RetrySchedule rs = retry_schedule(call->sb->s->st);
	int attempt = (int)json_object_get_int(json_object_object_get(item, "attempt"));
	struct Outcome a = outcome_of(r, &rs, attempt, clock_random32());
	bool success = a.kind == OUTCOME_DELIVERED;
	char cls[HTTPCLIENT_CLASS_SIZE];

	httpclient_error_class_name(r, cls, sizeof(cls));
	deliverystats_attempt(call->sb->s->stats, r, success);
	outcome_record(item, r, &a);
	json_set(item, "success", json_object_new_boolean(success));
	if (r->error != HTTPC_OK && r->error_text && r->error_text[0])
		json_set_string(item, "error_detail", r->error_text);	/* the failure notice's detail */
	/* a delay, not a time: the database adds it to its own clock, whatever ours says */
	if (a.kind == OUTCOME_RETRY)
		json_set_int(item, "next_attempt_in_ms", a.retry_in_ms);
	log_info_f(LOG_F(.request_id = json_get_string(item, "request_id"), .event_id = call->event_id,
			 .subscription = consumer_batch_subscription(call->sb->b), .destination = call->key,
			 .attempt = attempt, .error_class = success ? NULL : cls),
		   "callback: %s%s%s%s", success ? "delivered" : cls,
		   !success && r->error_text && r->error_text[0] ? " (" : "", !success ? r->error_text : "",
		   !success && r->error_text && r->error_text[0] ? ")" : "");
}

/* What the answer says about the destination's health (for its circuit breaker). */
static enum DestOutcome dest_outcome(const struct HttpClientResponse *r)
{
	if (r->error == HTTPC_ERR_BLOCKED_ADDRESS || r->error == HTTPC_ERR_CANCELLED)
		return DEST_NOT_SENT;
	if (r->error != HTTPC_OK || r->status >= 500 || r->status == 429)
		return DEST_FAILED;
	return DEST_ANSWERED;
}

static void call_free(struct SendCall *call)
{
	json_object_put(call->item);
	free(call->body);
	free(call->url);
	free(call);
}

/* The delivery is over (answered, postponed or cancelled): the sender has room again. */
static void call_end(struct SendCall *call)
{
	struct SendBatch *sb = call->sb;
	struct Sender *s = sb->s;

	call_free(call);
	s->in_flight--;
	consumer_wake(s->first);
	consumer_wake(s->retries);
	if (--sb->outstanding == 0)
		batch_finish(sb);
}

static void answered(const struct HttpClientResponse *r, void *arg)
{
	struct SendCall *call = arg;
	struct SendBatch *sb = call->sb;
	char cls[HTTPCLIENT_CLASS_SIZE];

	if (r->error == HTTPC_ERR_CANCELLED) {
		sb->cancelled = true;
	} else {
		record_outcome(call, r);
		json_append(sb->items, json_object_get(call->item));
	}
	destinations_done(sb->s->dests, call->key, dest_outcome(r), r->latency_ms,
			  httpclient_error_class_name(r, cls, sizeof(cls)));
	call_end(call);
}

static void post(struct SendCall *call)
{
	struct SendBatch *sb = call->sb;
	const struct SenderSettings *st = sb->s->st;
	const char *url = call->url;
	struct WebhookHeaders h;
	struct HttpClientRequest req = { 0 };

	webhook_headers(&h, st->key, st->previous_key, call->webhook_id, call->body);
	req.url = url;
	req.body = call->body;
	req.body_len = strlen(call->body);
	req.headers = h.list;
	req.timeout_ms = (long)st->timeout_ms;
	req.max_response_bytes = OUTCOME_READ_MAX;
	req.policy = st->policy;
	httpclient_post(sb->s->http, &req, answered, call);
}

/* The destination has a slot for it: send. */
static void on_start(void *waiter, void *arg)
{
	post(waiter);
}

/* How long the rest of the retry schedule takes from this attempt on. */
static int64_t schedule_left_ms(const struct SenderSettings *st, int attempt)
{
	int64_t ms = 0;

	for (int i = attempt - 1; i >= 0 && i < st->schedule_len; i++)
		ms += st->schedule_ms[i];
	return ms;
}

/*
 * A destination paused for longer than this delivery's whole remaining
 * retry schedule: every attempt would have failed by now, so the delivery
 * is over -- at the time its schedule would have ended, never sooner.
 */
static void give_up_paused(struct SendCall *call, const char *last_error)
{
	struct json_object *item = call->item;
	char body[160];

	snprintf(body, sizeof(body), "not sent: the destination is paused after consecutive failures (circuit open); "
				     "the retry schedule is spent");
	json_set(item, "success", json_object_new_boolean(false));
	json_set(item, "final", json_object_new_boolean(true));
	json_set_int(item, "latency_ms", 0);
	json_set_string(item, "error_class", last_error[0] ? last_error : "connect");
	json_set_string(item, "response_body", body);
	json_append(call->sb->items, json_object_get(item));
	log_info_f(LOG_F(.request_id = json_get_string(item, "request_id"), .event_id = call->event_id,
			 .subscription = consumer_batch_subscription(call->sb->b), .destination = call->key,
			 .attempt = call->attempt, .error_class = last_error[0] ? last_error : "connect"),
		   "callback: not sent, the destination is paused and the retry schedule is spent");
}

/* Not now: back to the queue, no attempt made or counted. */
static void on_postpone(void *waiter, int64_t delay_ms, enum DestWait why, void *arg)
{
	struct SendCall *call = waiter;
	struct Sender *s = arg;
	char text[DESTINATION_KEY_SIZE + 64];

	if (why == DEST_PAUSED && call->waited_ms >= schedule_left_ms(s->st, call->attempt)) {
		give_up_paused(call, destinations_last_error(s->dests, call->key));
		call_end(call);
		return;
	}
	snprintf(text, sizeof(text), "%s: %s", destinations_wait_text(why), call->key);
	consumer_postpone(call->sb->b, call->index, delay_ms, text);
	(*s->postponed)++;
	log_debug_f(LOG_F(.request_id = json_get_string(call->item, "request_id"), .event_id = call->event_id,
			  .subscription = consumer_batch_subscription(call->sb->b), .destination = call->key,
			  .attempt = call->attempt),
		    "callback: postponed %lld ms: %s", (long long)delay_ms, text);
	call_end(call);
}

/* The callback body of DESIGN §5, from the decision's payload. */
static char *callback_body(struct json_object *payload)
{
	struct json_object *body = json_new_object();
	static const char *const members[] = { "request_id", "station_id", "driver_token", "status" };
	const char *reason = json_get_string(payload, "reason");
	char *text;

	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
		json_set_string(body, members[i], json_get_string(payload, members[i]));
	if (reason)
		json_set_string(body, "reason", reason);
	text = xstrdup(json_to_text(body, NULL));
	json_object_put(body);
	return text;
}

static struct json_object *item_for(struct json_object *payload, const char *webhook_id, int attempt)
{
	struct json_object *item = json_new_object();
	static const char *const members[] = { "request_id", "station_id", "driver_token", "status", "reason",
					       "callback_url" };

	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		const char *v = json_get_string(payload, members[i]);

		if (v)
			json_set_string(item, members[i], v);
	}
	json_set_string(item, "webhook_id", webhook_id);
	json_set_int(item, "attempt", attempt);
	return item;
}

static void send_one(struct SendBatch *sb, int index, const struct QueueMessage *m, struct json_object *payload,
		     const struct CallbackUrl *dest)
{
	bool retry = strcmp(m->event_type, "CallbackRetryRequested") == 0;
	const char *webhook_id = retry ? json_get_string(payload, "webhook_id") : m->event_id;
	int attempt = retry ? (int)json_object_get_int(json_object_object_get(payload, "attempt")) : 1;
	struct SendCall *call = xcalloc(1, sizeof(*call));

	call->url = xstrdup(json_get_string(payload, "callback_url"));
	call->sb = sb;
	call->index = index;
	call->attempt = attempt < 1 ? 1 : attempt;
	call->waited_ms = m->age_ms;
	snprintf(call->webhook_id, sizeof(call->webhook_id), "%s", webhook_id ? webhook_id : m->event_id);
	snprintf(call->event_id, sizeof(call->event_id), "%s", m->event_id);
	call->item = item_for(payload, call->webhook_id, call->attempt);
	call->body = callback_body(payload);
	destinations_key(dest, call->key, sizeof(call->key));
	sb->outstanding++;
	sb->s->in_flight++;
	destinations_submit(sb->s->dests, call->key, call);
}

/*
 * A callback URL that is not a valid one (DESIGN §3 checked it at the API;
 * a row written by hand or by an older version may still hold one) is a
 * delivery that failed for good: one final attempt, never sent, so the
 * request ends delivery_failed rather than waiting as a dead letter.
 */
static void fail_invalid_url(struct SendBatch *sb, const struct QueueMessage *m, struct json_object *payload,
			     const char *why)
{
	struct json_object *item = item_for(payload, m->event_id, 1);
	char body[320];

	snprintf(body, sizeof(body), "not sent: the callback URL is invalid: %s", why);
	json_set(item, "success", json_object_new_boolean(false));
	json_set(item, "final", json_object_new_boolean(true));
	json_set_int(item, "latency_ms", 0);
	json_set_string(item, "error_class", "invalid_url");
	json_set_string(item, "response_body", body);
	json_append(sb->items, item);
	log_warning_f(LOG_F(.request_id = json_get_string(payload, "request_id"), .event_id = m->event_id,
			    .subscription = consumer_batch_subscription(sb->b), .attempt = 1,
			    .error_class = "invalid_url"),
		      "callback: %s", body);
}

static void handle(struct ConsumerBatch *b, void *arg)
{
	struct SendBatch *sb = xcalloc(1, sizeof(*sb));
	char err[256];

	sb->s = arg;
	sb->b = b;
	sb->items = json_new_array();
	sb->outstanding = 1;
	for (int i = 0; i < consumer_batch_count(b); i++) {
		const struct QueueMessage *m = consumer_batch_message(b, i);
		struct json_object *payload = NULL;
		struct CallbackUrl dest;
		const char *url;

		if (!json_parse_object(m->payload, strlen(m->payload), &payload, err, sizeof(err))) {
			consumer_dead(b, i, err);
			continue;
		}
		url = json_get_string(payload, "callback_url");
		if (!json_get_string(payload, "request_id") || !json_get_string(payload, "status") || !url) {
			/* not a decision chargegate wrote: no request to fail */
			consumer_dead(b, i, "payload lacks request_id, status or callback_url");
		} else if (!url_check_callback(url, strlen(url), &dest, err, sizeof(err))) {
			fail_invalid_url(sb, m, payload, err);
			consumer_done(b, i);
		} else {
			consumer_done(b, i);	/* unless the destination postpones it */
			send_one(sb, i, m, payload, &dest);
		}
		json_object_put(payload);
	}
	if (--sb->outstanding == 0)
		batch_finish(sb);
}

/* Free slots: claims never take more, so what cannot start waits in the database. */
static int capacity(void *arg)
{
	struct Sender *s = arg;

	return s->st->concurrency - s->in_flight;
}

static struct Consumer *subscribe(struct event_base *base, struct Transport *t, const struct QueueSettings *qs,
				  struct Sender *s, enum SubscriptionId sub)
{
	struct ConsumerSpec spec = topology_consumer_spec(sub, qs, handle, s);

	/*
	 * capacity bounds the work: a batch stays open until its slowest
	 * delivery ends, so a cap on batches would let a few slow receivers
	 * stop every claim
	 */
	spec.max_batches = s->st->concurrency;
	spec.capacity = capacity;
	return consumer_new(base, t, &spec);
}

static void destination_settings(const struct SenderSettings *st, struct DestinationSettings *out)
{
	*out = (struct DestinationSettings){
		.max_in_flight = st->per_destination,
		.circuit_failures = st->circuit_failures,
		.circuit_cooldown_ms = st->circuit_cooldown_ms,
		.attempt_timeout_ms = st->timeout_ms,
	};
}

static double paused_gauge(void *arg)
{
	return destinations_paused(((struct Sender *)arg)->dests);
}

static void circuit_changed(const struct CircuitChange *change, void *arg)
{
	circuitlog_record(((struct Sender *)arg)->circuits, change);
}

struct Sender *sender_new(struct event_base *base, struct Transport *t, struct PgPool *pool,
			  const struct QueueSettings *qs, const struct SenderSettings *settings)
{
	struct Sender *s = xcalloc(1, sizeof(*s));
	struct DestinationSettings ds;

	s->st = settings;
	s->http = httpclient_new(base, settings->concurrency);
	destination_settings(settings, &ds);
	s->dests = destinations_new(&ds, clock_now_ms, on_start, on_postpone, s);
	s->circuits = circuitlog_new(pool);
	destinations_on_circuit(s->dests, circuit_changed, s);
	s->postponed = metrics_counter("chargegate_callback_postponed_total", NULL,
				       "Callbacks sent back to the queue unattempted: their destination was saturated "
				       "or paused.");
	s->stats = deliverystats_new();
	metrics_gauge("chargegate_callback_destinations_paused", NULL,
		      "Callback destinations paused by their circuit breaker (open, or probing).", paused_gauge, s);
	s->first = subscribe(base, t, qs, s, SUB_NOTIFICATION);
	s->retries = subscribe(base, t, qs, s, SUB_NOTIFICATION_RETRY);
	return s;
}

void sender_reconfigure(struct Sender *s)
{
	struct DestinationSettings ds;

	if (!s)
		return;
	destination_settings(s->st, &ds);
	destinations_configure(s->dests, &ds);
}

void sender_stop(struct Sender *s)
{
	if (!s || !s->dests)
		return;
	destinations_release_circuits(s->dests);
	/*
	 * Deliveries still in flight may open a circuit again; recorded, it
	 * would stay open after this daemon is gone.  The log still tells it.
	 */
	destinations_on_circuit(s->dests, NULL, NULL);
}

void sender_cancel(struct Sender *s)
{
	if (!s)
		return;
	httpclient_free(s->http);
	s->http = NULL;
	destinations_free(s->dests);
	s->dests = NULL;
	circuitlog_cancel(s->circuits);
}

void sender_free(struct Sender *s)
{
	if (!s)
		return;
	sender_cancel(s);
	consumer_free(s->first);
	consumer_free(s->retries);
	circuitlog_free(s->circuits);
	deliverystats_free(s->stats);
	free(s);
}

int sender_busy(const struct Sender *s)
{
	return s ? consumer_busy(s->first) + consumer_busy(s->retries) + circuitlog_pending(s->circuits) : 0;
}
