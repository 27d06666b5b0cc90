#include "autoconfig.h"

#include "notification/failurenotice.h"

#include "infra/alloc.h"
#include "infra/clock.h"
#include "infra/httpclient.h"
#include "infra/json.h"
#include "infra/log.h"
#include "infra/metrics.h"
#include "infra/pgarray.h"
#include "infra/pgpool.h"
#include "infra/signing.h"
#include "notification/outcome.h"
#include "notification/webhook.h"
#include "queue/consumer.h"
#include "queue/settings.h"
#include "queue/topology.h"
#include "queue/transport.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The failure's detail in a notice: enough to recognise the receiver's error page. */
#define DETAIL_MAX 1024
/*
 * A final failure that finds every notice slot busy goes back to the queue
 * for this long (no attempt counted): once a slot is free it waits at most
 * about this, and a burst of failures is not claimed over and over meanwhile.
 */
#define SLOT_WAIT_MS 1000

struct FailureNotices {
	const struct FailureNoticeSettings *st;
	struct HttpClient *http;	/* its own: notices never take a driver's callback slot */
	struct PgPool *pool;		/* reads the attempts recorded, to number the next one */
	struct Consumer *consumer;
	int batch_size;			/* the consumer's claim limit while a notice slot is free */
	int in_flight;
	uint64_t *results[OUTCOME_NKINDS];
	uint64_t *skipped;		/* final failures acknowledged while failure_url was unset */
};

struct NoticeBatch {
	struct FailureNotices *f;
	struct ConsumerBatch *b;
	struct json_object *items;	/* one failure_notice_attempt per POST */
	struct NoticeCall **numbering;	/* notices to send once their attempt numbers are read */
	int nnumbering;
	int outstanding;
};

struct NoticeCall {
	struct NoticeBatch *nb;
	int index;
	int attempt;
	char webhook_id[37];
	char request_id[64];
	char *url;		/* as configured when it was sent: a reload may change it meanwhile */
	char *body;
};

static void batch_finish(struct NoticeBatch *nb)
{
	if (json_object_array_length(nb->items) > 0) {
		const char *text = json_to_text(nb->items, NULL);

		consumer_add_step(nb->b, "SELECT chargegate.record_failure_notices($1::jsonb)", 1, &text);
	}
	consumer_batch_finish(nb->b);
	json_object_put(nb->items);
	free(nb->numbering);
	free(nb);
}

static void call_end(struct NoticeCall *call)
{
	struct NoticeBatch *nb = call->nb;

	nb->f->in_flight--;
	consumer_wake(nb->f->consumer);
	free(call->url);
	free(call->body);
	free(call);
	if (--nb->outstanding == 0)
		batch_finish(nb);
}

static struct json_object *attempt_item(const struct NoticeCall *call, const struct HttpClientResponse *r,
					const struct Outcome *a)
{
	struct json_object *item = json_new_object();

	json_set_string(item, "request_id", call->request_id);
	json_set_string(item, "webhook_id", call->webhook_id);
	json_set_int(item, "attempt", call->attempt);
	json_set_string(item, "failure_url", call->url);
	outcome_record(item, r, a);
	return item;
}

/* Retried through the queue: the notice's message comes back after the answer's delay. */
static void settle_one(struct NoticeCall *call, const struct HttpClientResponse *r, const struct Outcome *a)
{
	struct NoticeBatch *nb = call->nb;
	char cls[HTTPCLIENT_CLASS_SIZE], why[HTTPCLIENT_CLASS_SIZE + 64];

	httpclient_error_class_name(r, cls, sizeof(cls));
	if (a->kind == OUTCOME_RETRY) {
		snprintf(why, sizeof(why), "failure notice not accepted: %s", cls);
		consumer_retry(nb->b, call->index, a->retry_in_ms, why);
	} else {
		consumer_done(nb->b, call->index);
	}
	(*nb->f->results[a->kind])++;
	if (a->kind == OUTCOME_DELIVERED)
		log_info_f(LOG_F(.request_id = call->request_id, .event_id = call->webhook_id, .attempt = call->attempt),
			   "failure notice: delivered");
	else
		log_warning_f(LOG_F(.request_id = call->request_id, .event_id = call->webhook_id, .attempt = call->attempt, .error_class = cls),
			      "failure notice: not accepted%s%s%s", r->error_text && r->error_text[0] ? " (" : "",
			      r->error_text ? r->error_text : "", r->error_text && r->error_text[0] ? ")" : "");
	if (a->kind == OUTCOME_FAILED)
		/* not the URL itself: its query may hold the operator's token */
		log_error_f(LOG_F(.request_id = call->request_id, .event_id = call->webhook_id, .attempt = call->attempt, .error_class = cls),
			    "failure notice: not delivered to callback.failure_url, given up after %d attempts",
			    call->attempt);
}

static void answered(const struct HttpClientResponse *r, void *arg)
{
	struct NoticeCall *call = arg;
	struct NoticeBatch *nb = call->nb;
	const struct FailureNoticeSettings *st = nb->f->st;
	struct RetrySchedule rs = { st->schedule_ms, st->schedule_len, st->max_retry_after_ms };
	struct Outcome a;

	if (r->error == HTTPC_ERR_CANCELLED) {
		/* shutting down: back to the queue, neither an attempt nor a step toward queue.max_attempts */
		consumer_postpone(nb->b, call->index, 0, "daemon stopped before the failure notice was answered");
	} else {
		a = outcome_of(r, &rs, call->attempt, clock_random32());
		json_append(nb->items, attempt_item(call, r, &a));
		settle_one(call, r, &a);
	}
	call_end(call);
}

/* Signed and timestamped as callbacks are (webhook.h). */
static void post(struct NoticeCall *call)
{
	const struct FailureNoticeSettings *st = call->nb->f->st;
	struct WebhookHeaders h;
	struct HttpClientRequest req = { 0 };

	webhook_headers(&h, st->key, st->previous_key, call->webhook_id, call->body);
	req.url = call->url;
	req.body = call->body;
	req.body_len = strlen(call->body);
	req.headers = h.list;
	req.timeout_ms = (long)st->timeout_ms;
	req.max_response_bytes = OUTCOME_READ_MAX;
	req.policy = NULL;	/* the operator's own URL: see failurenotice.h */
	httpclient_post(call->nb->f->http, &req, answered, call);
}

/* from's member `name` as to's member `as`: null when from lacks it, so the body's shape never changes. */
static void copy_member(struct json_object *to, const char *as, struct json_object *from, const char *name)
{
	struct json_object *v = NULL;

	json_object_object_get_ex(from, name, &v);
	json_set(to, as, v ? json_object_get(v) : NULL);
}

/* The CallbackDeliveryFailed body (doc/operations.md), from the final CallbackFailed. */
static char *notice_body(struct json_object *failed)
{
	struct json_object *body = json_new_object(), *last = json_new_object();
	const char *detail = json_get_string(failed, "detail");
	char *text;

	json_set_string(body, "type", "CallbackDeliveryFailed");
	copy_member(body, "request_id", failed, "request_id");
	copy_member(body, "station_id", failed, "station_id");
	copy_member(body, "callback_url", failed, "callback_url");
	copy_member(body, "attempts", failed, "attempt");	/* the final attempt's number */
	copy_member(last, "error_class", failed, "error_class");
	copy_member(last, "http_status", failed, "http_status");
	json_set(last, "detail", detail ? json_new_string_lossy(detail, strnlen(detail, DETAIL_MAX)) : NULL);
	json_set(body, "last_error", last);
	copy_member(body, "failed_at", failed, "failed_at");
	text = xstrdup(json_to_text(body, NULL));
	json_object_put(body);
	return text;
}

/* A notice to send: posted once numbered_all() knows its attempt number. */
static void queue_notice(struct NoticeBatch *nb, int index, const struct QueueMessage *m, struct json_object *failed)
{
	struct NoticeCall *call = xcalloc(1, sizeof(*call));

	call->nb = nb;
	call->index = index;
	snprintf(call->webhook_id, sizeof(call->webhook_id), "%s", m->event_id);
	snprintf(call->request_id, sizeof(call->request_id), "%s", json_get_string(failed, "request_id"));
	call->url = xstrdup(nb->f->st->url);
	call->body = notice_body(failed);
	nb->outstanding++;
	nb->f->in_flight++;
	nb->numbering = xrealloc(nb->numbering, (size_t)(nb->nnumbering + 1) * sizeof(*nb->numbering));
	nb->numbering[nb->nnumbering++] = call;
}

/* The attempts recorded for webhook_id in res (failure_notice_attempts_made), 0 when none. */
static int attempts_made(const PGresult *res, const char *webhook_id)
{
	for (int r = 0; r < PQntuples(res); r++) {
		if (strcmp(PQgetvalue(res, r, 0), webhook_id) == 0)
			return atoi(PQgetvalue(res, r, 1));
	}
	return 0;
}

/*
 * Numbered from the attempts recorded, as callbacks are from their own
 * records (sender.c): the queue's delivery count also counts give-backs at
 * shutdown and expired leases, which are no attempts of the notice.
 */
static void numbered_all(enum PgStatus status, PGresult *res, const char *err, void *arg)
{
	struct NoticeBatch *nb = arg;
	char why[512];

	if (status == PG_OK && (PQnfields(res) != 2 || PQfnumber(res, "webhook_id") != 0 ||
				PQfnumber(res, "attempts") != 1)) {
		status = PG_ERROR;
		err = "failure_notice_attempts_made returned unexpected columns";
	}
	snprintf(why, sizeof(why), "could not read the failure notice's attempts: %s", err ? err : "unknown error");
	for (int i = 0; i < nb->nnumbering; i++) {
		struct NoticeCall *call = nb->numbering[i];

		if (!nb->f->http) {
			consumer_postpone(nb->b, call->index, 0, "daemon stopped before the failure notice was sent");
			call_end(call);
		} else if (status == PG_OK) {
			call->attempt = attempts_made(res, call->webhook_id) + 1;
			post(call);
		} else {
			/* nothing was sent: the next delivery asks again */
			consumer_retry(nb->b, call->index, -1, why);
			call_end(call);
		}
	}
	if (status != PG_OK)
		log_warning_f(LOG_F(.subscription = consumer_batch_subscription(nb->b)), "failure notice: %s", why);
	nb->nnumbering = 0;
	if (--nb->outstanding == 0)
		batch_finish(nb);
}

static void number_notices(struct NoticeBatch *nb)
{
	struct PgArray requests = PGARRAY_INIT, webhooks = PGARRAY_INIT;
	char *values[2];

	for (int i = 0; i < nb->nnumbering; i++) {
		pgarray_text(&requests, nb->numbering[i]->request_id);
		pgarray_text(&webhooks, nb->numbering[i]->webhook_id);
	}
	values[0] = pgarray_finish(&requests);
	values[1] = pgarray_finish(&webhooks);
	nb->outstanding++;
	pgpool_query(nb->f->pool,
		     "SELECT webhook_id::text AS webhook_id, attempts "
		     "FROM chargegate.failure_notice_attempts_made($1::uuid[], $2::uuid[])",
		     2, (const char *const *)values, numbered_all, nb);
	free(values[0]);
	free(values[1]);
}

static bool is_final_failure(struct json_object *payload)
{
	return json_object_get_boolean(json_object_object_get(payload, "final")) &&
	       json_get_string(payload, "request_id") != NULL;
}

static void handle_one(struct NoticeBatch *nb, int i)
{
	const struct QueueMessage *m = consumer_batch_message(nb->b, i);
	struct json_object *payload = NULL;
	char err[256];

	if (strcmp(m->event_type, "CallbackFailed") != 0) {
		consumer_done(nb->b, i);	/* successes need no notice */
		return;
	}
	if (!json_parse_object(m->payload, strlen(m->payload), &payload, err, sizeof(err))) {
		consumer_dead(nb->b, i, err);
		return;
	}
	if (!is_final_failure(payload)) {
		consumer_done(nb->b, i);	/* a retry follows */
	} else if (!nb->f->st->url) {
		consumer_done(nb->b, i);
		(*nb->f->skipped)++;
	} else if (nb->f->in_flight >= nb->f->st->max_in_flight) {
		consumer_postpone(nb->b, i, SLOT_WAIT_MS, "every failure notice slot is busy");
	} else {
		queue_notice(nb, i, m, payload);
	}
	json_object_put(payload);
}

static void handle(struct ConsumerBatch *b, void *arg)
{
	struct NoticeBatch *nb = xcalloc(1, sizeof(*nb));

	nb->f = arg;
	nb->b = b;
	nb->items = json_new_array();
	nb->outstanding = 1;	/* this loop's own: the batch cannot finish under it */
	for (int i = 0; i < consumer_batch_count(b); i++)
		handle_one(nb, i);
	if (nb->nnumbering > 0)
		number_notices(nb);
	if (--nb->outstanding == 0)
		batch_finish(nb);
}

/*
 * Every callback outcome passes here and few need a notice: whole batches,
 * as other subscriptions claim, not one message per notice slot.  While
 * notices are off nothing is sent; otherwise claims wait while every slot
 * is busy, and final failures beyond the free slots are postponed
 * (handle_one), so that notices that cannot start wait in the database.
 */
static int capacity(void *arg)
{
	struct FailureNotices *f = arg;

	return !f->st->url || f->in_flight < f->st->max_in_flight ? f->batch_size : 0;
}

static void counters(struct FailureNotices *f)
{
	static const char *const labels[OUTCOME_NKINDS] = {
		[OUTCOME_DELIVERED] = "result=\"delivered\"",
		[OUTCOME_RETRY] = "result=\"failed\"",
		[OUTCOME_FAILED] = "result=\"given_up\"",
	};
	static const char help[] = "Attempts to send a CallbackDeliveryFailed notice to callback.failure_url, "
				   "by result (failed: a retry follows; given_up: the notice is over unsent).";

	for (int i = 0; i < OUTCOME_NKINDS; i++)
		f->results[i] = metrics_counter("chargegate_failure_notifications_total", labels[i], help);
	f->skipped = metrics_counter("chargegate_failure_notifications_skipped_total", NULL,
				     "Requests that became delivery_failed while callback.failure_url was unset.");
}

struct FailureNotices *failure_notices_new(struct event_base *base, struct Transport *t, struct PgPool *pool,
					   const struct QueueSettings *qs, const struct FailureNoticeSettings *settings)
{
	struct FailureNotices *f = xcalloc(1, sizeof(*f));
	struct ConsumerSpec spec = topology_consumer_spec(SUB_FAILURE_NOTICE, qs, handle, f);

	f->st = settings;
	f->pool = pool;
	f->batch_size = spec.batch_size;
	f->http = httpclient_new(base, settings->max_in_flight);
	counters(f);
	spec.capacity = capacity;
	f->consumer = consumer_new(base, t, &spec);
	return f;
}

void failure_notices_cancel(struct FailureNotices *f)
{
	if (!f)
		return;
	httpclient_free(f->http);
	f->http = NULL;
}

void failure_notices_free(struct FailureNotices *f)
{
	if (!f)
		return;
	failure_notices_cancel(f);
	consumer_free(f->consumer);
	free(f);
}

int failure_notices_busy(const struct FailureNotices *f)
{
	return f ? consumer_busy(f->consumer) : 0;
}
