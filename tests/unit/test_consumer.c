/*
 * The consumer runner (src/queue/consumer.c) against a fake transport held
 * in memory: every message reaches the handler once and is settled with
 * its outcome, claims never exceed the handler's capacity nor its batch
 * limit, duplicates are acknowledged unhandled, a failed settle gives the
 * messages back as retries without the handler's writes, a handler that
 * forgets a message retries it, leases are renewed while a batch is in
 * flight, and the relay of the outbox the handler writes is woken.
 */
#include "autoconfig.h"

#include "infra/alloc.h"
#include "infra/clock.h"
#include "queue/consumer.h"
#include "queue/transport.h"

#include "unit_run.h"

#include <check.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXMSG 64

struct Fake {
	struct Transport t;
	struct event_base *base;
	struct QueueMessage msgs[MAXMSG];
	bool leased[MAXMSG], gone[MAXMSG];
	int n;
	int claims, max_claim_limit, settles, extends, fail_settles, notifies;
	enum QueueResult last_outcome[MAXMSG];
	int64_t last_delay[MAXMSG];
	int64_t ready_at[MAXMSG];	/* clock_now_ms() from which a given-back message may be claimed */
	int handled_steps;		/* steps committed with settles */
	bool last_require_leases;
	transport_wake_cb wake;
	void *wake_arg;
	char notified[TRANSPORT_CHANNEL_SIZE];
	int outstanding;		/* answers scheduled, not yet delivered */
	bool closed;			/* claims find nothing: the test is ending */
	struct Consumer *c;
};

/* --- the fake transport: answers come later from the loop, as real ones do --- */

struct Later {
	void (*fn)(struct Later *);
	struct Fake *f;
	transport_claim_cb claim_cb;
	transport_count_cb count_cb;
	void *arg;
	int limit, count;
};

static void later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct Later *l = arg;

	(void)fd;
	(void)what;
	l->f->outstanding--;
	l->fn(l);
	free(l);
}

static void defer(struct Fake *f, struct Later *l)
{
	struct timeval tv = { 0, 1000 };

	ck_assert_int_eq(event_base_once(f->base, -1, EV_TIMEOUT, later_cb, l, &tv), 0);
	f->outstanding++;
}

static void claim_answer(struct Later *l)
{
	struct Fake *f = l->f;
	struct QueueMessage *out = xcalloc((size_t)l->limit + 1, sizeof(*out));
	int n = 0;

	for (int i = 0; i < f->n && n < l->limit && !f->closed; i++) {
		if (f->leased[i] || f->gone[i] || clock_now_ms() < f->ready_at[i])
			continue;
		f->leased[i] = true;
		f->msgs[i].attempts++;
		out[n] = f->msgs[i];
		out[n].payload = xstrdup(f->msgs[i].payload);
		n++;
	}
	l->claim_cb(out, n, NULL, l->arg);
	transport_free_messages(out, n);
}

static void f_claim(struct Transport *t, const char *sub, const char *owner, int limit, int64_t lease_ms,
		    transport_claim_cb cb, void *arg)
{
	struct Fake *f = t->impl;
	struct Later *l = xcalloc(1, sizeof(*l));

	(void)sub;
	(void)owner;
	(void)lease_ms;
	f->claims++;
	if (limit > f->max_claim_limit)
		f->max_claim_limit = limit;
	*l = (struct Later){ .fn = claim_answer, .f = f, .claim_cb = cb, .arg = arg, .limit = limit };
	defer(f, l);
}

static void count_answer(struct Later *l)
{
	l->count_cb(l->count, l->count < 0 ? "the fake refused it" : NULL, l->arg);
}

static void f_settle(struct Transport *t, const struct SettleRequest *req, transport_count_cb cb, void *arg)
{
	struct Fake *f = t->impl;
	struct Later *l = xcalloc(1, sizeof(*l));
	bool fail = f->fail_settles > 0;

	f->settles++;
	f->last_require_leases = req->require_leases;
	if (fail) {
		f->fail_settles--;
	} else {
		f->handled_steps += req->nsteps;
		for (int i = 0; i < req->n; i++) {
			int k = (int)req->msgs[i].id;

			f->leased[k] = false;
			f->last_outcome[k] = req->outcomes[i].result;
			f->last_delay[k] = req->outcomes[i].retry_after_ms;
			f->gone[k] = req->outcomes[i].result == QUEUE_DONE || req->outcomes[i].result == QUEUE_DEAD;
			if (!f->gone[k] && req->outcomes[i].retry_after_ms > 0)
				f->ready_at[k] = clock_now_ms() + req->outcomes[i].retry_after_ms;
		}
	}
	*l = (struct Later){ .fn = count_answer, .f = f, .count_cb = cb, .arg = arg, .count = fail ? -1 : 0 };
	defer(f, l);
}

static void f_extend(struct Transport *t, const char *sub, const char *owner, const struct QueueMessage *msgs, int n,
		     int64_t lease_ms, transport_count_cb cb, void *arg)
{
	struct Fake *f = t->impl;
	struct Later *l = xcalloc(1, sizeof(*l));

	(void)sub;
	(void)owner;
	(void)msgs;
	(void)n;
	(void)lease_ms;
	f->extends++;
	*l = (struct Later){ .fn = count_answer, .f = f, .count_cb = cb, .arg = arg, .count = 0 };
	defer(f, l);
}

static void f_subscribe(struct Transport *t, const char *sub, const char *topic, transport_count_cb cb, void *arg)
{
	struct Fake *f = t->impl;
	struct Later *l = xcalloc(1, sizeof(*l));

	(void)sub;
	(void)topic;
	*l = (struct Later){ .fn = count_answer, .f = f, .count_cb = cb, .arg = arg, .count = 0 };
	defer(f, l);
}

static void f_watch(struct Transport *t, const char *channel, transport_wake_cb cb, void *arg)
{
	struct Fake *f = t->impl;

	(void)channel;
	f->wake = cb;
	f->wake_arg = arg;
}

static void f_notify(struct Transport *t, const char *channel)
{
	struct Fake *f = t->impl;

	f->notifies++;
	snprintf(f->notified, sizeof(f->notified), "%s", channel);
}

static const struct TransportOps fake_ops = {
	.name = "fake", .subscribe = f_subscribe, .claim = f_claim, .settle = f_settle,
	.extend = f_extend, .watch = f_watch, .notify = f_notify,
};

static struct Fake *fake_new(int n)
{
	struct Fake *f = xcalloc(1, sizeof(*f));

	f->base = event_base_new();
	f->t.ops = &fake_ops;
	f->t.impl = f;
	f->n = n;
	for (int i = 0; i < n; i++) {
		f->msgs[i].id = i;
		f->msgs[i].lease_id = 1000 + i;
		snprintf(f->msgs[i].event_id, sizeof(f->msgs[i].event_id), "00000000-0000-4000-8000-%012d", i);
		snprintf(f->msgs[i].event_type, sizeof(f->msgs[i].event_type), "Test");
		f->msgs[i].payload = xstrdup("{}");
	}
	return f;
}

static int count_result(const struct Fake *f, enum QueueResult r)
{
	int n = 0;

	for (int i = 0; i < f->n; i++)
		n += f->last_outcome[i] == r;
	return n;
}

static bool quiet(const struct Fake *f)
{
	return f->outstanding == 0 && consumer_busy(f->c) == 0;
}

/* Run the loop until done(f) or 5 s. */
static bool run_until(struct Fake *f, bool (*done)(const struct Fake *))
{
	for (int i = 0; i < 5000 && !done(f); i++) {
		struct timeval tv = { 0, 1000 };

		event_base_loopexit(f->base, &tv);
		event_base_dispatch(f->base);
	}
	return done(f);
}

/* Lets every answer in flight arrive before the consumer and the fake go. */
static void finish(struct Fake *f, struct Consumer *c)
{
	f->closed = true;
	f->c = c;
	ck_assert(run_until(f, quiet));
	consumer_free(c);
	for (int i = 0; i < f->n; i++)
		free(f->msgs[i].payload);
	event_base_free(f->base);
	free(f);
}

static bool all_gone(const struct Fake *f)
{
	for (int i = 0; i < f->n; i++) {
		if (!f->gone[i])
			return false;
	}
	return true;
}

/* --- handlers ---------------------------------------------------------------- */

struct Seen {
	int calls, messages, max_in_hand, in_hand;
	int per_message[MAXMSG];
	bool retry_first, forget_first, write_step, postpone_first;
	int capacity;
	struct ConsumerBatch *held[MAXMSG];
	int nheld;
};

static void handle_done(struct ConsumerBatch *b, void *arg)
{
	struct Seen *s = arg;

	s->calls++;
	for (int i = 0; i < consumer_batch_count(b); i++) {
		const struct QueueMessage *m = consumer_batch_message(b, i);

		s->messages++;
		s->per_message[m->id]++;
		if (s->retry_first && m->id == 0 && m->attempts == 1)
			consumer_retry(b, i, -1, "first try fails");
		else if (s->postpone_first && m->id == 0 && s->per_message[0] == 1)
			consumer_postpone(b, i, 150, "the destination is busy");
		else if (!(s->forget_first && m->id == 0 && m->attempts == 1))
			consumer_done(b, i);
	}
	if (s->write_step) {
		const char *v = "x";

		consumer_add_step(b, "SELECT $1", 1, &v);
	}
	consumer_batch_finish(b);
}

/* A consumer of subscription name on the fake, with spec's other settings. */
static struct Consumer *start(struct Fake *f, struct ConsumerSpec *spec, const char *name, consumer_handler handle,
			      struct Seen *s)
{
	spec->subscription = name;
	spec->handle = handle;
	spec->arg = s;
	return consumer_new(f->base, &f->t, spec);
}

static const struct ConsumerSpec base_spec = {
	.topic = "t",
	.batch_size = 4,
	.max_batches = 2,
	.lease_ms = 30000,
	.max_attempts = 5,
	.poll_ms = 50,
	.notify_outbox = "next_outbox",
};

START_TEST(every_message_is_handled_once_and_settled)
{
	struct Fake *f = fake_new(10);
	struct Seen s = { .write_step = true };
	struct ConsumerSpec spec = base_spec;
	struct Consumer *c;

	c = start(f, &spec, "once", handle_done, &s);
	ck_assert(run_until(f, all_gone));
	ck_assert_int_eq(s.messages, 10);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(s.per_message[i], 1);
	ck_assert_int_eq(count_result(f, QUEUE_DONE), 10);
	ck_assert(f->last_require_leases);
	ck_assert_int_eq(f->handled_steps, s.calls);	/* each batch's own write committed with it */
	ck_assert_int_le(f->max_claim_limit, 4);
	ck_assert_int_ge(f->notifies, 1);
	ck_assert_str_eq(f->notified, "outbox:next_outbox");
	finish(f, c);
}
END_TEST

START_TEST(a_retry_comes_back_after_a_backoff_and_a_forgotten_message_is_retried)
{
	struct Fake *f = fake_new(3);
	struct Seen s = { .retry_first = true };
	struct ConsumerSpec spec = base_spec;
	struct Consumer *c;

	c = start(f, &spec, "retry", handle_done, &s);
	ck_assert(run_until(f, all_gone));
	ck_assert_int_eq(s.per_message[0], 2);
	ck_assert_int_eq(f->msgs[0].attempts, 2);
	finish(f, c);

	f = fake_new(2);
	memset(&s, 0, sizeof(s));
	s.forget_first = true;
	c = start(f, &spec, "forget", handle_done, &s);
	ck_assert(run_until(f, all_gone));
	ck_assert_int_eq(s.per_message[0], 2);	/* no outcome: retried, not lost */
	finish(f, c);
}
END_TEST

static bool one_settle(const struct Fake *f)
{
	return f->settles >= 1;
}

START_TEST(the_retry_delay_is_the_jittered_backoff)
{
	struct Fake *f = fake_new(1);
	struct Seen s = { .retry_first = true };
	struct ConsumerSpec spec = base_spec;
	struct Consumer *c;

	c = start(f, &spec, "backoff", handle_done, &s);
	ck_assert(run_until(f, one_settle));
	ck_assert_int_eq(f->last_outcome[0], QUEUE_RETRY);
	ck_assert_int_ge(f->last_delay[0], 800);	/* 1 s ± 20 % for the first failure */
	ck_assert_int_le(f->last_delay[0], 1200);
	finish(f, c);
}
END_TEST

START_TEST(a_postponed_message_is_claimed_again_when_due_not_at_the_next_poll)
{
	struct Fake *f = fake_new(2);
	struct Seen s = { .postpone_first = true };
	struct ConsumerSpec spec = base_spec;
	struct Consumer *c;
	int64_t started = clock_now_ms();

	spec.poll_ms = 60000;	/* the poll never comes within the test */
	c = start(f, &spec, "postpone", handle_done, &s);
	ck_assert(run_until(f, all_gone));
	ck_assert_int_eq(s.per_message[0], 2);
	ck_assert_int_ge(clock_now_ms() - started, 140);	/* not before it was due */
	ck_assert_int_lt(clock_now_ms() - started, 1000);
	finish(f, c);
}
END_TEST

static bool two_settles(const struct Fake *f)
{
	return f->settles >= 2;
}

START_TEST(a_failed_settle_gives_the_messages_back_without_the_writes)
{
	struct Fake *f = fake_new(2);
	struct Seen s = { .write_step = true };
	struct ConsumerSpec spec = base_spec;
	struct Consumer *c;

	f->fail_settles = 1;
	c = start(f, &spec, "resettle", handle_done, &s);
	ck_assert(run_until(f, two_settles));
	ck_assert(!f->last_require_leases);	/* giving back tolerates a lost lease */
	ck_assert_int_eq(f->handled_steps, 0);	/* the handler's write was not committed */
	ck_assert_int_eq(count_result(f, QUEUE_RETRY), 2);
	ck_assert_int_ge(f->last_delay[0], 800);	/* after a backoff, not at once */
	finish(f, c);
}
END_TEST

/* Holds every batch (no outcome yet): what a slow asynchronous handler does. */
static void handle_hold(struct ConsumerBatch *b, void *arg)
{
	struct Seen *s = arg;

	s->calls++;
	s->in_hand += consumer_batch_count(b);
	if (s->in_hand > s->max_in_hand)
		s->max_in_hand = s->in_hand;
	s->held[s->nheld++] = b;
}

static int capacity(void *arg)
{
	struct Seen *s = arg;

	return s->capacity - s->in_hand;
}

/* Run the loop for ms: long enough for the poll timer (50 ms) to try several claims. */
static void run_for(struct Fake *f, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
}

START_TEST(claims_never_exceed_the_capacity_nor_the_batch_limit)
{
	struct Fake *f = fake_new(40);
	struct Seen s = { .capacity = 3 };
	struct ConsumerSpec spec = base_spec;
	struct Consumer *c;

	spec.capacity = capacity;
	spec.max_batches = 8;
	c = start(f, &spec, "capacity", handle_hold, &s);
	run_for(f, 300);
	ck_assert_int_eq(s.max_in_hand, 3);
	ck_assert_int_le(f->max_claim_limit, 3);
	ck_assert_int_le(s.max_in_hand, 3);	/* the rest waits in the queue, not in memory */

	/* without a capacity hook, max_batches bounds what is held */
	for (int i = 0; i < s.nheld; i++) {
		for (int k = 0; k < consumer_batch_count(s.held[i]); k++)
			consumer_done(s.held[i], k);
		consumer_batch_finish(s.held[i]);
	}
	run_for(f, 20);
	finish(f, c);
	f = fake_new(40);
	memset(&s, 0, sizeof(s));
	spec.capacity = NULL;
	spec.max_batches = 2;
	c = start(f, &spec, "batches", handle_hold, &s);
	run_for(f, 300);
	ck_assert_int_eq(s.nheld, 2);
	ck_assert_int_eq(s.max_in_hand, 8);
	for (int i = 0; i < s.nheld; i++) {
		for (int k = 0; k < consumer_batch_count(s.held[i]); k++)
			consumer_done(s.held[i], k);
		consumer_batch_finish(s.held[i]);
	}
	finish(f, c);
}
END_TEST

static bool extended(const struct Fake *f)
{
	return f->extends >= 2;
}

START_TEST(leases_are_renewed_while_a_batch_is_in_flight)
{
	struct Fake *f = fake_new(1);
	struct Seen s = { 0 };
	struct ConsumerSpec spec = base_spec;
	struct Consumer *c;

	spec.lease_ms = 90;
	c = start(f, &spec, "renew", handle_hold, &s);
	ck_assert(run_until(f, extended));	/* a third of the lease apart */
	consumer_done(s.held[0], 0);
	consumer_batch_finish(s.held[0]);
	ck_assert(run_until(f, all_gone));
	finish(f, c);
}
END_TEST

START_TEST(duplicates_are_acknowledged_unhandled)
{
	struct Fake *f = fake_new(3);
	struct Seen s = { 0 };
	struct ConsumerSpec spec = base_spec;
	struct Consumer *c;

	f->msgs[1].handled = true;
	c = start(f, &spec, "dupes", handle_done, &s);
	ck_assert(run_until(f, all_gone));
	ck_assert_int_eq(s.messages, 2);
	ck_assert_int_eq(s.per_message[1], 0);
	ck_assert_int_eq(f->last_outcome[1], QUEUE_DONE);
	finish(f, c);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("consumer");
	TCase *tc = tcase_create("consumer");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, every_message_is_handled_once_and_settled);
	tcase_add_test(tc, a_retry_comes_back_after_a_backoff_and_a_forgotten_message_is_retried);
	tcase_add_test(tc, the_retry_delay_is_the_jittered_backoff);
	tcase_add_test(tc, a_postponed_message_is_claimed_again_when_due_not_at_the_next_poll);
	tcase_add_test(tc, a_failed_settle_gives_the_messages_back_without_the_writes);
	tcase_add_test(tc, claims_never_exceed_the_capacity_nor_the_batch_limit);
	tcase_add_test(tc, leases_are_renewed_while_a_batch_is_in_flight);
	tcase_add_test(tc, duplicates_are_acknowledged_unhandled);
	suite_add_tcase(suite, tc);
	return unit_run(suite);
}
