/*
 * The relay (src/queue/relay.c) against a fake transport held in memory:
 * a backlog drains in capped batches without waiting for the poll, a
 * wake-up during a run runs once more, an error backs off and recovers, a
 * delayed row is relayed when due rather than at the next poll, a topic
 * without subscription waits for the poll, and after relay_stop_all()
 * nothing new starts.
 */
#include "autoconfig.h"

#include "infra/alloc.h"
#include "infra/clock.h"
#include "queue/relay.h"
#include "queue/transport.h"

#include "unit_run.h"

#include <check.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

struct Fake {
	struct Transport t;
	struct event_base *base;
	int pending;		/* rows due now */
	int64_t delayed_at_ms;	/* a row due at this clock_now_ms(), or -1 */
	int fail_next;		/* calls answered with an error */
	bool unsubscribed;
	int calls, max_limit, woken_during_run;
	bool running;
	int64_t first_call_ms, delayed_moved_ms;
	transport_wake_cb wake;
	void *wake_arg;
	char watched[TRANSPORT_CHANNEL_SIZE];
	transport_relay_cb cb;
	void *arg;
	int limit;
};

/* Answers a relay call from the loop 1 ms later, as a database round trip would. */
static void answer(evutil_socket_t fd, short what, void *arg)
{
	struct Fake *f = arg;
	struct RelayResult res = { .next_due_ms = -1 };
	int64_t now = clock_now_ms();

	(void)fd;
	(void)what;
	f->running = false;
	if (f->fail_next > 0) {
		f->fail_next--;
		res.moved = -1;
		res.err = "the fake refused it";
	} else if (f->unsubscribed) {
		res.unsubscribed = true;
	} else {
		res.moved = f->pending < f->limit ? f->pending : f->limit;
		f->pending -= res.moved;
		if (f->delayed_at_ms >= 0 && now >= f->delayed_at_ms && res.moved < f->limit) {
			res.moved++;
			f->delayed_at_ms = -1;
			f->delayed_moved_ms = now;
		}
		if (f->delayed_at_ms >= 0)
			res.next_due_ms = f->delayed_at_ms - now;
	}
	f->cb(&res, f->arg);
}

static void f_relay(struct Transport *t, const char *outbox, int limit, transport_relay_cb cb, void *arg)
{
	struct Fake *f = t->impl;
	struct timeval tv = { 0, 1000 };

	ck_assert_str_eq(outbox, "test_outbox");
	ck_assert_msg(!f->running, "a second relay call while one is in flight");
	f->running = true;
	if (f->calls++ == 0)
		f->first_call_ms = clock_now_ms();
	if (limit > f->max_limit)
		f->max_limit = limit;
	f->cb = cb;
	f->arg = arg;
	f->limit = limit;
	ck_assert_int_eq(event_base_once(f->base, -1, EV_TIMEOUT, answer, f, &tv), 0);
}

static void f_watch(struct Transport *t, const char *channel, transport_wake_cb cb, void *arg)
{
	struct Fake *f = t->impl;

	strcpy(f->watched, channel);
	f->wake = cb;
	f->wake_arg = arg;
}

static const struct TransportOps fake_ops = { .name = "fake", .relay = f_relay, .watch = f_watch };

static struct Fake *fake_new(int pending)
{
	struct Fake *f = xcalloc(1, sizeof(*f));

	f->base = event_base_new();
	f->t.ops = &fake_ops;
	f->t.impl = f;
	f->pending = pending;
	f->delayed_at_ms = -1;
	return f;
}

/* Lets the call in flight answer, then frees the relay and the fake. */
static void finish(struct Fake *f, struct Relay *r)
{
	for (int i = 0; i < 1000 && relay_busy(r); i++)
		event_base_loop(f->base, EVLOOP_ONCE);
	ck_assert_int_eq(relay_busy(r), 0);
	relay_free(r);
	event_base_free(f->base);
	free(f);
}

static void run_for(struct Fake *f, int ms)
{
	struct timeval tv = clock_timeval(ms);

	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
}

/* Runs the loop until cond(f) or 5 s; true when cond(f) came. */
static bool run_until(struct Fake *f, bool (*cond)(const struct Fake *))
{
	for (int i = 0; i < 5000 && !cond(f); i++)
		run_for(f, 1);
	return cond(f);
}

static bool drained(const struct Fake *f)
{
	return f->calls > 0 && f->pending == 0 && !f->running;
}

static const int64_t POLL_MS = 60000;	/* longer than any test: a run that waited for it never comes */

START_TEST(a_backlog_drains_in_capped_batches_without_waiting_for_the_poll)
{
	struct Fake *f = fake_new(1050);
	struct Relay *r = relay_new(f->base, &f->t, "test_outbox", 100, POLL_MS);

	ck_assert_str_eq(f->watched, "outbox:test_outbox");
	ck_assert(run_until(f, drained));
	ck_assert_int_eq(f->calls, 11);	/* ten full batches, then the 50 left */
	ck_assert_int_eq(f->max_limit, 100);
	ck_assert_uint_eq(relay_rows(r), 1050);
	run_for(f, 50);
	ck_assert_int_eq(f->calls, 11);	/* a partial batch: the relay now waits for a wake-up or the poll */
	finish(f, r);
}
END_TEST

START_TEST(a_wake_up_during_a_run_runs_once_more)
{
	struct Fake *f = fake_new(0);
	struct Relay *r = relay_new(f->base, &f->t, "test_outbox", 100, POLL_MS);

	ck_assert(run_until(f, drained));
	ck_assert_int_eq(f->calls, 1);	/* the catch-up at start */
	f->pending = 5;
	f->wake(f->wake_arg);
	event_base_loop(f->base, EVLOOP_NONBLOCK);	/* the wake-up starts a run; its answer is 1 ms away */
	ck_assert(f->running);
	f->pending += 7;	/* committed while the run was in flight */
	f->wake(f->wake_arg);
	f->wake(f->wake_arg);
	ck_assert(run_until(f, drained));
	run_for(f, 20);
	ck_assert_int_eq(f->calls, 3);	/* the two wake-ups in flight make one more run, not two */
	ck_assert_uint_eq(relay_rows(r), 12);
	finish(f, r);
}
END_TEST

static bool recovered(const struct Fake *f)
{
	return f->calls >= 2 && drained(f);
}

START_TEST(an_error_backs_off_then_relays_again)
{
	struct Fake *f = fake_new(3);
	struct Relay *r;
	int64_t started = clock_now_ms();

	f->fail_next = 1;
	r = relay_new(f->base, &f->t, "test_outbox", 100, 300);
	ck_assert(run_until(f, recovered));
	ck_assert_int_eq(f->calls, 2);
	/* min(1 s backoff, the 300 ms poll): not at once, not after a second */
	ck_assert_int_ge(clock_now_ms() - started, 290);
	ck_assert_int_lt(clock_now_ms() - started, 1000);
	ck_assert_uint_eq(relay_rows(r), 3);
	finish(f, r);
}
END_TEST

static bool delayed_moved(const struct Fake *f)
{
	return f->delayed_at_ms < 0;
}

START_TEST(a_delayed_row_is_relayed_when_due_not_at_the_next_poll)
{
	struct Fake *f = fake_new(0);
	struct Relay *r;
	int64_t due;

	f->delayed_at_ms = due = clock_now_ms() + 150;
	r = relay_new(f->base, &f->t, "test_outbox", 100, POLL_MS);
	ck_assert(run_until(f, delayed_moved));
	ck_assert_int_ge(f->delayed_moved_ms, due);
	ck_assert_int_lt(f->delayed_moved_ms - due, 500);
	ck_assert_uint_eq(relay_rows(r), 1);
	finish(f, r);
}
END_TEST

static bool two_calls(const struct Fake *f)
{
	return f->calls >= 2 && !f->running;
}

START_TEST(a_topic_without_subscription_is_asked_again_at_the_poll)
{
	struct Fake *f = fake_new(10);
	struct Relay *r;
	int64_t started = clock_now_ms();

	f->unsubscribed = true;
	r = relay_new(f->base, &f->t, "test_outbox", 100, 200);
	ck_assert(run_until(f, two_calls));
	ck_assert_int_ge(clock_now_ms() - started, 190);	/* the poll, not a busy loop */
	ck_assert_int_eq(f->pending, 10);	/* nothing moved: the rows wait for a subscription */
	f->unsubscribed = false;
	ck_assert(run_until(f, drained));
	ck_assert_uint_eq(relay_rows(r), 10);
	finish(f, r);
}
END_TEST

START_TEST(after_stop_nothing_new_starts)
{
	struct Fake *f = fake_new(0);
	struct Relay *r = relay_new(f->base, &f->t, "test_outbox", 100, 50);

	ck_assert(run_until(f, drained));
	relay_stop_all();
	f->pending = 5;
	f->wake(f->wake_arg);
	run_for(f, 200);	/* four polls' worth */
	ck_assert_int_eq(f->calls, 1);
	ck_assert_int_eq(f->pending, 5);
	finish(f, r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("relay");
	TCase *tc = tcase_create("relay");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, a_backlog_drains_in_capped_batches_without_waiting_for_the_poll);
	tcase_add_test(tc, a_wake_up_during_a_run_runs_once_more);
	tcase_add_test(tc, an_error_backs_off_then_relays_again);
	tcase_add_test(tc, a_delayed_row_is_relayed_when_due_not_at_the_next_poll);
	tcase_add_test(tc, a_topic_without_subscription_is_asked_again_at_the_poll);
	tcase_add_test(tc, after_stop_nothing_new_starts);	/* last: the stop is process-wide */
	suite_add_tcase(s, tc);
	return unit_run(s);
}
