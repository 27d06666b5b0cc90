#include "autoconfig.h"

#include "notification/sender.h"

#include "infra/httpclient.h"
#include "infra/json.h"
#include "infra/log.h"
#include "infra/signing.h"
#include "infra/url.h"
#include "queue/consumer.h"
#include "queue/settings.h"
#include "queue/transport.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define RESPONSE_MAX (64 * 1024)

struct Sender {
	struct HttpClient *http;
	const struct SenderSettings *st;
	struct Consumer *first;		/* AuthorizationDecisionCallback */
	struct Consumer *retries;	/* CallbackRetryRequested */
};

struct SendBatch {
	struct Sender *s;
	struct ConsumerBatch *b;
	struct json_object *items;
	int outstanding;
	bool cancelled;		/* shutting down mid-send: give the batch back */
};

struct SendCall {
	struct SendBatch *sb;
	struct json_object *item;	/* borrowed from sb->items */
	char *body;
};

int64_t sender_next_delay_ms(const struct SenderSettings *st, int attempt, int64_t retry_after_ms, uint32_t random)
{
	int64_t delay;

	if (attempt < 1 || attempt > st->schedule_len)
		return -1;
	/* ±20 % jitter, so that a receiver that comes back is not hit by every retry at once */
	delay = st->schedule_ms[attempt - 1] * (80 + (int64_t)(random % 41)) / 100;
	if (retry_after_ms > 0) {
		int64_t ra = retry_after_ms < st->max_retry_after_ms ? retry_after_ms : st->max_retry_after_ms;

		if (ra > delay)
			delay = ra;
	}
	return delay;
}

static uint32_t random32(void)
{
	uint32_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)getpid() ^ (uint32_t)time(NULL);
	return r;
}

static void batch_finish(struct SendBatch *sb)
{
	if (sb->cancelled) {
		for (int i = 0; i < consumer_batch_count(sb->b); i++)
			consumer_retry(sb->b, i, 0, "daemon stopped before the callback was answered");
	} else if (json_object_array_length(sb->items) > 0) {
		const char *text = json_to_text(sb->items, NULL);

		consumer_add_step(sb->b, "SELECT chargegate.record_callback_attempts($1::jsonb)", 1, &text);
	}
	consumer_batch_finish(sb->b);
	json_object_put(sb->items);
	free(sb);
}

/* 410 Gone and refused addresses are final: retrying cannot change them. */
static bool is_final(const struct HttpClientResponse *r)
{
	return r->error == HTTPC_ERR_BLOCKED_ADDRESS || (r->error == HTTPC_OK && r->status == 410);
}

static void record_outcome(struct SendCall *call, const struct HttpClientResponse *r)
{
	struct json_object *item = call->item;
	const struct SenderSettings *st = call->sb->s->st;
	bool success = r->error == HTTPC_OK && r->status >= 200 && r->status <= 299;
	int attempt = (int)json_object_get_int(json_object_object_get(item, "attempt"));
	int64_t delay = success || is_final(r) ? -1 : sender_next_delay_ms(st, attempt, r->retry_after_ms, random32());
	char cls[HTTPCLIENT_CLASS_SIZE];

	json_set(item, "success", json_object_new_boolean(success));
	json_set(item, "final", json_object_new_boolean(delay < 0));	/* no attempt follows */
	json_set_int(item, "latency_ms", r->latency_ms);
	if (r->error == HTTPC_OK)
		json_set_int(item, "http_status", r->status);
	if (!success)
		json_set_string(item, "error_class", httpclient_error_class_name(r, cls, sizeof(cls)));
	if (r->body_len > 0)
		json_set(item, "response_body", json_new_string_lossy(r->body, r->body_len));
	/* a delay, not a time: the database adds it to its own clock, whatever ours says */
	if (delay >= 0)
		json_set_int(item, "next_attempt_in_ms", delay);
	log_info("callback: request %s attempt %d: %s%s%s%s", json_get_string(item, "request_id"), attempt,
		 success ? "delivered" : httpclient_error_class_name(r, cls, sizeof(cls)),
		 !success && r->error_text && r->error_text[0] ? " (" : "", !success ? r->error_text : "",
		 !success && r->error_text && r->error_text[0] ? ")" : "");
}

static void answered(const struct HttpClientResponse *r, void *arg)
{
	struct SendCall *call = arg;
	struct SendBatch *sb = call->sb;

	if (r->error == HTTPC_ERR_CANCELLED)
		sb->cancelled = true;
	else
		record_outcome(call, r);
	free(call->body);
	free(call);
	if (--sb->outstanding == 0)
		batch_finish(sb);
}

static void add_header(const char **headers, int *n, char *storage, size_t size, const char *name, const char *value)
{
	snprintf(storage, size, "%s: %s", name, value);
	headers[(*n)++] = storage;
}

static void post(struct SendBatch *sb, struct SendCall *call, const char *url, const char *webhook_id)
{
	const struct SenderSettings *st = sb->s->st;
	char ts[24], idh[80], tsh[48], sigh[SIGNING_HEADER_SIZE + 32], sig[SIGNING_HEADER_SIZE];
	const char *headers[8];
	int n = 0;
	struct HttpClientRequest req = { 0 };

	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	headers[n++] = "Content-Type: application/json";
	headers[n++] = "User-Agent: chargegate/" PACKAGE_VERSION;
	add_header(headers, &n, idh, sizeof(idh), "webhook-id", webhook_id);
	add_header(headers, &n, tsh, sizeof(tsh), "webhook-timestamp", ts);
	if (st->key && signing_header(st->key, st->previous_key, webhook_id, ts, call->body, strlen(call->body), sig))
		add_header(headers, &n, sigh, sizeof(sigh), "webhook-signature", sig);
	headers[n] = NULL;
	req.url = url;
	req.body = call->body;
	req.body_len = strlen(call->body);
	req.headers = headers;
	req.timeout_ms = (long)st->timeout_ms;
	req.max_response_bytes = RESPONSE_MAX;
	req.policy = st->policy;
	sb->outstanding++;
	httpclient_post(sb->s->http, &req, answered, call);
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
	text = strdup(json_to_text(body, NULL));
	json_object_put(body);
	if (!text)
		fatal("out of memory");
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

static void send_one(struct SendBatch *sb, const struct QueueMessage *m, struct json_object *payload)
{
	bool retry = strcmp(m->event_type, "CallbackRetryRequested") == 0;
	const char *webhook_id = retry ? json_get_string(payload, "webhook_id") : m->event_id;
	int attempt = retry ? (int)json_object_get_int(json_object_object_get(payload, "attempt")) : 1;
	const char *url = json_get_string(payload, "callback_url");
	struct SendCall *call = calloc(1, sizeof(*call));

	if (!call)
		fatal("out of memory");
	call->sb = sb;
	call->item = item_for(payload, webhook_id ? webhook_id : m->event_id, attempt < 1 ? 1 : attempt);
	json_append(sb->items, call->item);
	call->body = callback_body(payload);
	post(sb, call, url, webhook_id ? webhook_id : m->event_id);
}

static const char *check_payload(struct json_object *payload)
{
	const char *url = json_get_string(payload, "callback_url");
	char err[160];

	if (!json_get_string(payload, "request_id") || !json_get_string(payload, "status"))
		return "payload lacks request_id or status";
	if (!url || !url_check_callback(url, strlen(url), NULL, err, sizeof(err)))
		return "payload has no valid callback_url";
	return NULL;
}

static void handle(struct ConsumerBatch *b, void *arg)
{
	struct SendBatch *sb = calloc(1, sizeof(*sb));
	char err[256];

	if (!sb)
		fatal("out of memory");
	sb->s = arg;
	sb->b = b;
	sb->items = json_new_array();
	sb->outstanding = 1;
	for (int i = 0; i < consumer_batch_count(b); i++) {
		const struct QueueMessage *m = consumer_batch_message(b, i);
		struct json_object *payload = NULL;
		const char *why;

		if (!json_parse_object(m->payload, strlen(m->payload), &payload, err, sizeof(err))) {
			consumer_dead(b, i, err);
			continue;
		}
		why = check_payload(payload);
		if (why) {
			consumer_dead(b, i, why);
		} else {
			send_one(sb, m, payload);
			consumer_done(b, i);
		}
		json_object_put(payload);
	}
	if (--sb->outstanding == 0)
		batch_finish(sb);
}

static struct Consumer *subscribe(struct event_base *base, struct Transport *t, const struct QueueSettings *qs,
				  struct Sender *s, const char *subscription, const char *topic)
{
	struct ConsumerSpec spec = {
		.subscription = subscription,
		.topic = topic,
		.batch_size = qs->batch_size,
		.max_batches = 8,
		.lease_ms = qs->lease_ms,
		.max_attempts = qs->max_attempts,
		.poll_ms = qs->poll_ms,
		.handle = handle,
		.notify = "outbox:callback_delivery_outbox",
		.arg = s,
	};

	return consumer_new(base, t, &spec);
}

struct Sender *sender_new(struct event_base *base, struct Transport *t, struct HttpClient *http,
			  const struct QueueSettings *qs, const struct SenderSettings *settings)
{
	struct Sender *s = calloc(1, sizeof(*s));

	if (!s)
		fatal("out of memory");
	s->http = http;
	s->st = settings;
	s->first = subscribe(base, t, qs, s, "notification", "authorization_decision_callback");
	s->retries = subscribe(base, t, qs, s, "notification_retry", "callback_retry");
	return s;
}

void sender_free(struct Sender *s)
{
	if (!s)
		return;
	consumer_free(s->first);
	consumer_free(s->retries);
	free(s);
}

int sender_busy(const struct Sender *s)
{
	return s ? consumer_busy(s->first) + consumer_busy(s->retries) : 0;
}
