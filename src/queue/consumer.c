#include "autoconfig.h"

#include "queue/consumer.h"

#include "infra/alloc.h"
#include "infra/identity.h"
#include "infra/clock.h"
#include "infra/log.h"
#include "infra/metrics.h"
#include "queue/transport.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_BACKOFF_MS 60000
/*
 * A batch in flight renews its leases this many times per lease: two
 * renewals may fail or be late (a slow database) before the lease runs out.
 */
#define RENEWALS_PER_LEASE 3

struct Consumer {
	struct event_base *base;
	struct Transport *t;
	struct ConsumerSpec spec;
	char subscription[64];
	char topic[64];
	char notify[TRANSPORT_CHANNEL_SIZE];	/* the outbox's channel, or "" */
	char owner[160];
	bool subscribed;
	bool claiming;
	bool again;
	bool failing;
	int batches;		/* claimed, not settled */
	int limit;		/* of the claim in flight */
	struct event run_ev;
	struct event timer;
	struct event due;	/* when the earliest message it gave back is ready again */
	int64_t due_at_ms;	/* when the due timer fires (monotonic), while it is pending */
	uint64_t *handled, *retried, *dead, *duplicates, *stale, *postponed, *claims;
};

struct ConsumerBatch {
	struct Consumer *c;
	int n;
	struct QueueMessage *msgs;
	struct QueueOutcome *outcomes;
	int *fresh;		/* indexes of the messages given to the handler: not handled before */
	int nfresh;
	struct QueueStep *steps;
	int nsteps;
	bool resettling;	/* settling again after a failed settle */
	bool leased;		/* some message holds a lease to renew */
	struct event renew;	/* renews the leases while the batch is in flight */
	bool renewing;		/* a renewal is in flight: free the batch after it */
	bool finished;		/* settled while a renewal was in flight */
	bool lease_lost;	/* logged once */
};

static void consumer_claim(struct Consumer *c, int limit);

/* Set by consumer_stop_all(): the daemon is draining. */
static bool stopping;

void consumer_stop_all(void)
{
	stopping = true;
}

/* The poll fallback: also how a failed claim is retried. */
static void arm_poll(struct Consumer *c)
{
	struct timeval tv = clock_timeval(c->spec.poll_ms);

	if (event_add(&c->timer, &tv) != 0)
		fatal("consumer %s: could not arm the poll timer", c->subscription);
}

/* --- lease renewal ------------------------------------------------------------ */

static void batch_free(struct ConsumerBatch *b);

static void renewed(int lost, const char *err, void *arg)
{
	struct ConsumerBatch *b = arg;
	struct Consumer *c = b->c;

	b->renewing = false;
	if (b->finished) {
		b->finished = false;
		batch_free(b);
		return;
	}
	if (lost < 0)
		log_warning_f(LOG_F(.subscription = c->subscription),
			      "consumer: could not renew the leases of a batch in flight: %s", err);
	if (lost > 0 && !b->lease_lost) {
		b->lease_lost = true;
		log_warning_f(LOG_F(.subscription = c->subscription),
			      "consumer: %d leases of a batch in flight were lost (another consumer took them over); "
			      "what this batch writes will be rolled back",
			      lost);
	}
}

static void renew_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ConsumerBatch *b = arg;
	struct Consumer *c = b->c;

	if (b->renewing || b->lease_lost)
		return;
	b->renewing = true;
	c->t->ops->extend(c->t, c->subscription, c->owner, b->msgs, b->n, c->spec.lease_ms, renewed, b);
}

static void lease_renewal_start(struct ConsumerBatch *b)
{
	int64_t ms = b->c->spec.lease_ms / RENEWALS_PER_LEASE;
	struct timeval tv = clock_timeval(ms > 0 ? ms : 1);

	if (event_assign(&b->renew, b->c->base, -1, EV_PERSIST, renew_cb, b) != 0 || event_add(&b->renew, &tv) != 0)
		fatal("consumer %s: could not arm the lease renewal timer", b->c->subscription);
}

/* --- batches ---------------------------------------------------------------- */

static struct ConsumerBatch *batch_new(struct Consumer *c, const struct QueueMessage *msgs, int n)
{
	struct ConsumerBatch *b = xcalloc(1, sizeof(*b));

	b->c = c;
	b->n = n;
	b->msgs = xcalloc((size_t)n, sizeof(*b->msgs));
	b->outcomes = xcalloc((size_t)n, sizeof(*b->outcomes));
	b->fresh = xcalloc((size_t)n, sizeof(*b->fresh));
	for (int i = 0; i < n; i++) {
		b->msgs[i] = msgs[i];
		b->msgs[i].payload = xstrdup(msgs[i].payload);
		b->leased = b->leased || msgs[i].lease_id > 0;
		if (msgs[i].handled)
			b->outcomes[i].result = QUEUE_DONE;	/* duplicate: acknowledge, do not handle */
		else
			b->fresh[b->nfresh++] = i;
	}
	if (b->leased && c->t->ops->extend)
		lease_renewal_start(b);
	else
		b->leased = false;	/* nothing to renew */
	return b;
}

static void steps_free(struct ConsumerBatch *b)
{
	for (int k = 0; k < b->nsteps; k++) {
		for (int i = 0; i < b->steps[k].nparams; i++)
			free((char *)b->steps[k].values[i]);
		free((char **)b->steps[k].values);
		free((char *)b->steps[k].sql);
	}
	free(b->steps);
	b->steps = NULL;
	b->nsteps = 0;
}

static void batch_free(struct ConsumerBatch *b)
{
	if (b->leased)
		evtimer_del(&b->renew);
	if (b->renewing) {
		b->finished = true;	/* renewed() frees it */
		return;
	}
	for (int i = 0; i < b->n; i++) {
		free(b->msgs[i].payload);
		free(b->outcomes[i].error);
	}
	steps_free(b);
	free(b->msgs);
	free(b->outcomes);
	free(b->fresh);
	free(b);
}

static int64_t backoff_ms(int attempts)
{
	int64_t ms = 1000;

	for (int i = 1; i < attempts && ms < MAX_BACKOFF_MS; i++)
		ms *= 2;
	if (ms > MAX_BACKOFF_MS)
		ms = MAX_BACKOFF_MS;
	return clock_jitter(ms, 20);	/* ±20 % so retries do not march in step */
}

static void count_outcomes(struct ConsumerBatch *b)
{
	struct Consumer *c = b->c;

	for (int i = 0; i < b->n; i++) {
		switch (b->outcomes[i].result) {
		case QUEUE_DONE:
			if (b->msgs[i].handled)
				(*c->duplicates)++;
			else
				(*c->handled)++;
			break;
		case QUEUE_RETRY:
			(*c->retried)++;
			break;
		case QUEUE_POSTPONE:
			(*c->postponed)++;
			break;
		case QUEUE_DEAD:
			(*c->dead)++;
			log_warning_f(LOG_F(.subscription = c->subscription, .event_id = b->msgs[i].event_id,
					    .request_id = b->msgs[i].aggregate_id[0] ? b->msgs[i].aggregate_id : NULL,
					    .attempt = b->msgs[i].attempts),
				      "consumer: a %s event is a dead letter after %d attempts: %s",
				      b->msgs[i].event_type, b->msgs[i].attempts,
				      b->outcomes[i].error ? b->outcomes[i].error : "");
			break;
		case QUEUE_PENDING:
			break;
		}
	}
}

static void batch_settle(struct ConsumerBatch *b);

/*
 * The settle transaction failed, so nothing of it was committed (a lost
 * lease, a concurrent duplicate, the database): give the messages back as
 * retries, without the handler's writes, after the usual jittered backoff
 * -- never in a tight loop that would repeat every external call.
 */
static void batch_resettle(struct ConsumerBatch *b, const char *err)
{
	log_warning_f(LOG_F(.subscription = b->c->subscription),
		      "consumer: could not settle a batch of %d, nothing of it was committed (%s); its messages "
		      "are retried after a backoff",
		      b->n, err);
	steps_free(b);
	for (int i = 0; i < b->n; i++) {
		b->outcomes[i].result = QUEUE_RETRY;
		b->outcomes[i].retry_after_ms = backoff_ms(b->msgs[i].attempts);
		free(b->outcomes[i].error);
		b->outcomes[i].error = xstrdup(err ? err : "the batch could not be settled");
	}
	b->resettling = true;
	batch_settle(b);
}

/*
 * Messages given back with a delay (a postponed delivery, a retry) are
 * ready again long before the next poll: claim them then, not a poll later.
 */
static void arm_due(struct Consumer *c, const struct ConsumerBatch *b)
{
	int64_t soonest = -1, now = clock_now_ms();
	struct timeval tv;

	for (int i = 0; i < b->n; i++) {
		const struct QueueOutcome *o = &b->outcomes[i];

		if ((o->result == QUEUE_RETRY || o->result == QUEUE_POSTPONE) && o->retry_after_ms >= 0 &&
		    (soonest < 0 || o->retry_after_ms < soonest))
			soonest = o->retry_after_ms;
	}
	if (soonest < 0 || soonest >= c->spec.poll_ms ||
	    (evtimer_pending(&c->due, NULL) && c->due_at_ms <= now + soonest))
		return;
	c->due_at_ms = now + soonest;
	tv = clock_timeval(soonest);
	if (evtimer_add(&c->due, &tv) != 0)
		fatal("consumer %s: could not arm its due timer", c->subscription);
}

static void settle_done(int stale, const char *err, void *arg)
{
	struct ConsumerBatch *b = arg;
	struct Consumer *c = b->c;

	if (stale < 0 && !b->resettling) {
		batch_resettle(b, err);
		return;
	}
	if (stale < 0)
		log_warning_f(LOG_F(.subscription = c->subscription),
			      "consumer: could not give back %d messages (%s); their leases will expire", b->n, err);
	else
		count_outcomes(b);
	if (stale >= 0)
		arm_due(c, b);
	if (stale >= 0 && c->notify[0] && b->nfresh > 0)
		c->t->ops->notify(c->t, c->notify);	/* wake the relay of what the handler wrote */
	if (stale > 0) {
		*c->stale += (uint64_t)stale;
		log_warning_f(LOG_F(.subscription = c->subscription),
			      "consumer: %d messages were not settled: their lease had expired and another consumer "
			      "owns them now",
			      stale);
	}
	c->batches--;
	batch_free(b);
	event_active(&c->run_ev, EV_TIMEOUT, 0);
}

static void batch_settle(struct ConsumerBatch *b)
{
	struct Consumer *c = b->c;
	struct SettleRequest req = {
		.subscription = c->subscription,
		.owner = c->owner,
		.max_attempts = c->spec.max_attempts,
		.require_leases = !b->resettling,
		.n = b->n,
		.msgs = b->msgs,
		.outcomes = b->outcomes,
		.steps = b->steps,
		.nsteps = b->nsteps,
	};

	c->t->ops->settle(c->t, &req, settle_done, b);
}

/* --- handler API ---------------------------------------------------------------- */

int consumer_batch_count(const struct ConsumerBatch *b)
{
	return b->nfresh;
}

const struct QueueMessage *consumer_batch_message(const struct ConsumerBatch *b, int i)
{
	return &b->msgs[b->fresh[i]];
}

const char *consumer_batch_subscription(const struct ConsumerBatch *b)
{
	return b->c->subscription;
}

static void set_outcome(struct ConsumerBatch *b, int i, enum QueueResult r, int64_t delay, const char *error)
{
	struct QueueOutcome *o = &b->outcomes[b->fresh[i]];

	o->result = r;
	o->retry_after_ms = delay;
	free(o->error);
	o->error = error ? xstrdup(error) : NULL;
}

void consumer_done(struct ConsumerBatch *b, int i)
{
	set_outcome(b, i, QUEUE_DONE, 0, NULL);
}

void consumer_retry(struct ConsumerBatch *b, int i, int64_t delay_ms, const char *error)
{
	int attempts = b->msgs[b->fresh[i]].attempts;

	set_outcome(b, i, QUEUE_RETRY, delay_ms >= 0 ? delay_ms : backoff_ms(attempts), error);
}

void consumer_dead(struct ConsumerBatch *b, int i, const char *error)
{
	set_outcome(b, i, QUEUE_DEAD, 0, error);
}

void consumer_postpone(struct ConsumerBatch *b, int i, int64_t delay_ms, const char *why)
{
	set_outcome(b, i, QUEUE_POSTPONE, delay_ms > 0 ? delay_ms : 0, why);
}

void consumer_add_step(struct ConsumerBatch *b, const char *sql, int nparams, const char *const *values)
{
	struct QueueStep *s;
	char **copy = xcalloc((size_t)nparams, sizeof(char *));

	b->steps = xrealloc(b->steps, (size_t)(b->nsteps + 1) * sizeof(*b->steps));
	for (int i = 0; i < nparams; i++)
		copy[i] = values[i] ? xstrdup(values[i]) : NULL;
	s = &b->steps[b->nsteps++];
	s->sql = xstrdup(sql);
	s->nparams = nparams;
	s->values = (const char *const *)copy;
}

void consumer_batch_finish(struct ConsumerBatch *b)
{
	for (int i = 0; i < b->n; i++) {
		if (b->outcomes[i].result == QUEUE_PENDING) {
			b->outcomes[i].result = QUEUE_RETRY;
			b->outcomes[i].retry_after_ms = backoff_ms(b->msgs[i].attempts);
			b->outcomes[i].error = xstrdup("the handler gave no outcome");
		}
	}
	batch_settle(b);
}

/* --- claiming ---------------------------------------------------------------- */

static void claim_done(struct QueueMessage *msgs, int n, const char *err, void *arg)
{
	struct Consumer *c = arg;
	struct ConsumerBatch *b;

	c->claiming = false;
	if (n < 0) {
		if (!c->failing)
			log_warning_f(LOG_F(.subscription = c->subscription), "consumer: could not claim messages: %s",
				      err);
		c->failing = true;
		return;	/* the poll timer retries */
	}
	if (c->failing)
		log_info_f(LOG_F(.subscription = c->subscription), "consumer: claiming again");
	c->failing = false;
	if (n == 0) {
		if (c->again)
			event_active(&c->run_ev, EV_TIMEOUT, 0);
		c->again = false;
		return;
	}
	(*c->claims)++;
	b = batch_new(c, msgs, n);
	c->batches++;
	if (n >= c->limit || c->again) {
		c->again = false;
		event_active(&c->run_ev, EV_TIMEOUT, 0);	/* more may be waiting */
	}
	if (b->nfresh == 0)
		batch_settle(b);
	else
		c->spec.handle(b, c->spec.arg);
}

static void consumer_claim(struct Consumer *c, int limit)
{
	c->claiming = true;
	c->limit = limit;
	c->t->ops->claim(c->t, c->subscription, c->owner, limit, c->spec.lease_ms, claim_done, c);
}

/* What to claim now: a batch, or what the handler has room for. */
static int claim_limit(const struct Consumer *c)
{
	int room;

	if (!c->spec.capacity)
		return c->spec.batch_size;
	room = c->spec.capacity(c->spec.arg);
	return room < c->spec.batch_size ? room : c->spec.batch_size;
}

static void subscribe_done(int count, const char *err, void *arg)
{
	struct Consumer *c = arg;

	c->claiming = false;
	if (count < 0) {
		log_warning_f(LOG_F(.subscription = c->subscription), "consumer: could not subscribe to topic %s: %s",
			      c->topic, err);
		return;	/* the poll timer retries */
	}
	c->subscribed = true;
	event_active(&c->run_ev, EV_TIMEOUT, 0);
}

static void run_cb(evutil_socket_t fd, short what, void *arg)
{
	struct Consumer *c = arg;
	int limit;

	if (stopping)
		return;
	if (c->claiming || c->batches >= c->spec.max_batches) {
		c->again = true;
		return;
	}
	if (!c->subscribed) {
		c->claiming = true;
		c->t->ops->subscribe(c->t, c->subscription, c->topic, subscribe_done, c);
		return;
	}
	limit = claim_limit(c);
	if (limit <= 0)
		return;	/* the handler is full: consumer_wake() when it has room */
	consumer_claim(c, limit);
}

static void wake(void *arg)
{
	struct Consumer *c = arg;

	event_active(&c->run_ev, EV_TIMEOUT, 0);
}

struct Consumer *consumer_new(struct event_base *base, struct Transport *t, const struct ConsumerSpec *spec)
{
	struct Consumer *c = xcalloc(1, sizeof(*c));
	char who[96], labels[128], channel[TRANSPORT_CHANNEL_SIZE];

	c->base = base;
	c->t = t;
	c->spec = *spec;
	snprintf(c->subscription, sizeof(c->subscription), "%s", spec->subscription);
	snprintf(c->topic, sizeof(c->topic), "%s", spec->topic);
	if (spec->notify_outbox)
		transport_channel(CHANNEL_OUTBOX, spec->notify_outbox, c->notify);
	c->spec.subscription = c->subscription;
	c->spec.topic = c->topic;
	c->spec.notify_outbox = NULL;	/* spec's strings are the caller's; use the copies */
	daemon_identity(who, sizeof(who));
	snprintf(c->owner, sizeof(c->owner), "%s:%s", who, c->subscription);
	event_assign(&c->run_ev, base, -1, 0, run_cb, c);
	event_assign(&c->timer, base, -1, EV_PERSIST, run_cb, c);
	evtimer_assign(&c->due, base, run_cb, c);
	snprintf(labels, sizeof(labels), "subscription=\"%s\"", c->subscription);
	c->handled = metrics_counter("chargegate_consumer_handled_total", labels, "Messages handled and acknowledged.");
	c->claims = metrics_counter("chargegate_consumer_claims_total", labels,
				    "Claims that leased messages: each is a claim and a settle transaction, so messages "
				    "per claim is the subscription's batching.");
	c->duplicates = metrics_counter("chargegate_consumer_duplicates_total", labels,
					"Redelivered messages acknowledged without handling them again.");
	c->retried = metrics_counter("chargegate_consumer_retries_total", labels, "Handler failures scheduled for retry.");
	c->dead = metrics_counter("chargegate_consumer_dead_letters_total", labels, "Messages that became dead letters.");
	c->stale = metrics_counter("chargegate_consumer_stale_acks_total", labels,
				   "Acknowledgements refused because the lease had expired.");
	c->postponed = metrics_counter("chargegate_consumer_postponed_total", labels,
				       "Messages sent back to the queue unhandled, without counting as an attempt "
				       "(e.g. their callback destination was saturated or paused).");
	transport_channel(CHANNEL_TOPIC, c->topic, channel);
	t->ops->watch(t, channel, wake, c);
	arm_poll(c);
	wake(c);
	return c;
}

void consumer_free(struct Consumer *c)
{
	if (!c)
		return;
	event_del(&c->run_ev);
	evtimer_del(&c->timer);
	evtimer_del(&c->due);
	free(c);
}

int consumer_busy(const struct Consumer *c)
{
	return c ? c->batches + (c->claiming ? 1 : 0) : 0;
}

void consumer_wake(struct Consumer *c)
{
	if (c)
		event_active(&c->run_ev, EV_TIMEOUT, 0);
}
