#include "autoconfig.h"

#include "authorization/worker.h"

#include "authorization/answer.h"
#include "authorization/authzstats.h"
#include "infra/alloc.h"
#include "infra/clock.h"
#include "infra/fields.h"
#include "infra/httpclient.h"
#include "infra/json.h"
#include "infra/log.h"
#include "infra/redact.h"
#include "infra/url.h"
#include "queue/consumer.h"
#include "queue/topology.h"
#include "queue/settings.h"
#include "queue/transport.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct AuthzWorker {
	struct HttpClient *http;	/* authorization calls only: never shared with callbacks */
	char *url;
	int64_t timeout_ms;
	int concurrency;
	int in_flight;			/* calls posted and not answered */
	struct Consumer *consumer;
	struct AuthzStats *stats;
};

/* A batch in flight: one audit item per message, filled as answers come. */
struct AuthzBatch {
	struct AuthzWorker *w;
	struct ConsumerBatch *b;
	struct json_object *items;	/* JSON array, one object per message */
	int outstanding;
	int64_t deadline_ms;		/* taken + authorization.timeout, on the monotonic clock */
};

struct AuthzCall {
	struct AuthzBatch *ab;
	struct json_object *item;	/* borrowed from ab->items */
	char request_id[37];
};

/* The command is re-validated: the API checked it, but the queue is an edge too. */
static const char *revalidate(const char *station, const char *token, const char *url)
{
	char err[160];

	if (!station || !field_check_station_id(station, strlen(station), err, sizeof(err)))
		return "station_id is not a canonical UUID";
	if (!token || !field_check_driver_token(token, strlen(token), err, sizeof(err)))
		return "driver_token is not 1 to 255 printable ASCII characters";
	if (!url || !url_check_callback(url, strlen(url), NULL, err, sizeof(err)))
		return "callback_url is not a valid http(s) URL";
	return NULL;
}

static void batch_finish(struct AuthzBatch *ab)
{
	const char *text = json_to_text(ab->items, NULL);

	consumer_add_step(ab->b, "SELECT chargegate.record_authorizations($1::jsonb)", 1, &text);
	consumer_batch_finish(ab->b);
	json_object_put(ab->items);
	free(ab);
}

/* The answer as DESIGN §4 wants it: in the audit item and in the log, with its status and latency. */
static void decide(struct json_object *item, const char *subscription, const char *decision, const char *reason,
		   const char *cause, const char *error_class)
{
	char buf[512], http[48] = "", latency[48] = "";
	struct json_object *v;

	json_set_string(item, "decision", decision);
	if (reason)
		json_set_string(item, "reason", reason);
	if (cause)
		json_set_string(item, "cause", cause);
	if (json_object_object_get_ex(item, "http_status", &v))
		snprintf(http, sizeof(http), " http_status=%d", json_object_get_int(v));
	if (json_object_object_get_ex(item, "latency_ms", &v))
		snprintf(latency, sizeof(latency), " latency=%lld ms", (long long)json_object_get_int64(v));
	log_info_f(LOG_F(.request_id = json_get_string(item, "request_id"),
			 .event_id = json_get_string(item, "event_id"), .subscription = subscription,
			 .error_class = error_class),
		   "authorization: %s%s%s%s%s%s%s", decision, reason ? " reason=" : "",
		   reason ? log_sanitize(buf, sizeof(buf), reason, strlen(reason)) : "", cause ? " cause=" : "",
		   cause ? cause : "", http, latency);
}

/* DESIGN §4: anything but a 2xx JSON answer with a known status, about this request, is "unknown". */
static void interpret(struct json_object *item, const char *subscription, const struct HttpClientResponse *r)
{
	struct AuthzDecision d;
	char cls[HTTPCLIENT_CLASS_SIZE], cause[512];

	if (r->error != HTTPC_OK || r->status < 200 || r->status > 299) {
		httpclient_error_class_name(r, cls, sizeof(cls));
		snprintf(cause, sizeof(cause), "%s%s%s", cls, r->error_text && r->error_text[0] ? ": " : "",
			 r->error_text ? r->error_text : "");
		decide(item, subscription, "unknown", NULL, cause, cls);
		return;
	}
	authz_answer_read(r->body, r->body_len, json_get_string(item, "station_id"),
			  json_get_string(item, "driver_token"), &d);
	decide(item, subscription, d.decision, d.reason[0] ? d.reason : NULL, d.cause[0] ? d.cause : NULL, NULL);
}

static void answered(const struct HttpClientResponse *r, void *arg)
{
	struct AuthzCall *call = arg;
	struct AuthzBatch *ab = call->ab;

	if (r->error != HTTPC_ERR_CANCELLED) {
		if (r->error == HTTPC_OK)
			json_set_int(call->item, "http_status", r->status);
		json_set_int(call->item, "latency_ms", r->latency_ms);
		if (r->body_len > 0)
			json_set(call->item, "response",
				 json_new_string_lossy(r->body, r->body_len < HTTPCLIENT_STORED_BODY_MAX ? r->body_len
									     : HTTPCLIENT_STORED_BODY_MAX));
		interpret(call->item, consumer_batch_subscription(ab->b), r);
		authzstats_decided(ab->w->stats, json_get_string(call->item, "decision"), r,
				   json_object_object_get(call->item, "cause") != NULL);
	} else {
		decide(call->item, consumer_batch_subscription(ab->b), "unknown", NULL,
		       "daemon shutting down before the answer", NULL);
	}
	free(call);
	ab->w->in_flight--;
	consumer_wake(ab->w->consumer);
	if (--ab->outstanding == 0)
		batch_finish(ab);
}

static void ask(struct AuthzBatch *ab, struct json_object *item, const char *station, const char *token)
{
	struct AuthzCall *call = xcalloc(1, sizeof(*call));
	struct json_object *sent = json_new_object();
	static const char *const headers[] = { "Content-Type: application/json", "Accept: application/json", NULL };
	struct HttpClientRequest req = { 0 };
	size_t len;

	json_set_string(sent, "station_id", station);
	json_set_string(sent, "driver_token", token);
	call->ab = ab;
	call->item = item;
	req.url = ab->w->url;
	req.body = json_to_text(sent, &len);
	req.body_len = len;
	req.headers = headers;
	req.timeout_ms = (long)ab->w->timeout_ms;
	req.deadline_ms = ab->deadline_ms;
	ab->outstanding++;
	ab->w->in_flight++;
	httpclient_post(ab->w->http, &req, answered, call);
	json_set(item, "sent", sent);
}

static struct json_object *item_for(const struct QueueMessage *m, struct json_object *payload)
{
	struct json_object *item = json_new_object();

	json_set_string(item, "request_id", m->aggregate_id);
	json_set_string(item, "event_id", m->event_id);
	json_set_string(item, "station_id", json_get_string(payload, "station_id"));
	json_set_string(item, "driver_token", json_get_string(payload, "driver_token"));
	json_set_string(item, "callback_url", json_get_string(payload, "callback_url"));
	return item;
}

static void handle(struct ConsumerBatch *b, void *arg)
{
	struct AuthzBatch *ab = xcalloc(1, sizeof(*ab));
	char err[256];

	ab->w = arg;
	ab->b = b;
	ab->items = json_new_array();
	ab->outstanding = 1;	/* held until every call is sent */
	ab->deadline_ms = clock_now_ms() + ab->w->timeout_ms;
	for (int i = 0; i < consumer_batch_count(b); i++) {
		const struct QueueMessage *m = consumer_batch_message(b, i);
		struct json_object *payload = NULL, *item;
		const char *why;

		if (!json_parse_object(m->payload, strlen(m->payload), &payload, err, sizeof(err))) {
			consumer_dead(b, i, err);
			continue;
		}
		item = item_for(m, payload);
		json_append(ab->items, item);
		why = revalidate(json_get_string(payload, "station_id"), json_get_string(payload, "driver_token"),
				 json_get_string(payload, "callback_url"));
		if (why) {
			decide(item, consumer_batch_subscription(b), "invalid", NULL, why, NULL);
			authzstats_decided(ab->w->stats, "invalid", NULL, false);
		} else {
			ask(ab, item, json_get_string(payload, "station_id"), json_get_string(payload, "driver_token"));
		}
		json_object_put(payload);
		consumer_done(b, i);
	}
	if (--ab->outstanding == 0)
		batch_finish(ab);
}

/* Free slots: claims never take more, so no request waits in memory for a connection. */
static int capacity(void *arg)
{
	struct AuthzWorker *w = arg;

	return w->concurrency - w->in_flight;
}

struct AuthzWorker *authz_worker_new(struct event_base *base, struct Transport *t, const struct QueueSettings *qs,
				     const char *url, int64_t timeout_ms, int concurrency)
{
	struct AuthzWorker *w = xcalloc(1, sizeof(*w));
	struct ConsumerSpec spec;
	char shown[1024];

	/* which service this daemon asks, for whoever reads the log after a refusal; never its password */
	log_info("authorization: asking %s (authorization.timeout %lld ms, at most %d calls at once)",
		 redact_url(shown, sizeof(shown), url), (long long)timeout_ms, concurrency);
	w->url = xstrdup(url);
	w->http = httpclient_new(base, concurrency);
	w->timeout_ms = timeout_ms;
	w->concurrency = concurrency;
	w->stats = authzstats_new();
	spec = topology_consumer_spec(SUB_AUTHORIZATION, qs, handle, w);
	/* capacity bounds the calls (a batch stays open until its slowest answer) */
	spec.max_batches = concurrency;
	spec.capacity = capacity;
	w->consumer = consumer_new(base, t, &spec);
	return w;
}

void authz_worker_cancel(struct AuthzWorker *w)
{
	if (!w)
		return;
	httpclient_free(w->http);
	w->http = NULL;
}

void authz_worker_free(struct AuthzWorker *w)
{
	if (!w)
		return;
	authz_worker_cancel(w);
	consumer_free(w->consumer);
	free(w->url);
	authzstats_free(w->stats);
	free(w);
}

int authz_worker_busy(const struct AuthzWorker *w)
{
	return w ? consumer_busy(w->consumer) : 0;
}
