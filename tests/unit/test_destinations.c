/*
 * The per-destination scheduler and circuit breaker of callback delivery
 * (src/notification/destinations.c), on a fake clock: limits per
 * destination, short waits only for fast receivers, postponement to the
 * queue otherwise, the circuit opening, the probe, and destinations that
 * never affect each other.
 */
#include "autoconfig.h"

#include "infra/url.h"
#include "notification/destinations.h"

#include "unit_run.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t fake_now;

static int64_t now(void)
{
	return fake_now;
}

/* What the scheduler told the owner to do with each delivery, by id. */
#define MAX_EVENTS 256
static struct {
	int id;
	char what;	/* 's'tart or 'p'ostpone */
	int64_t delay;
	char why[64];
} events[MAX_EVENTS];
static int nevents;
static int ids[MAX_EVENTS];

static void on_start(void *waiter, void *arg)
{
	events[nevents].id = *(int *)waiter;
	events[nevents++].what = 's';
}

static void on_postpone(void *waiter, int64_t delay, enum DestWait why, void *arg)
{
	events[nevents].id = *(int *)waiter;
	events[nevents].what = 'p';
	events[nevents].delay = delay;
	strncpy(events[nevents++].why, destinations_wait_text(why), sizeof(events[0].why) - 1);
}

static const struct DestinationSettings settings = {
	.max_in_flight = 2, .circuit_failures = 3, .circuit_cooldown_ms = 30000, .attempt_timeout_ms = 5000,
};

static struct Destinations *setup(void)
{
	fake_now = 1000000;
	nevents = 0;
	memset(events, 0, sizeof(events));
	for (int i = 0; i < MAX_EVENTS; i++)
		ids[i] = i;
	return destinations_new(&settings, now, on_start, on_postpone, NULL);
}

static void submit(struct Destinations *d, const char *key, int id)
{
	destinations_submit(d, key, &ids[id]);
}

/* The last event was id, of kind what. */
#define LAST_IS(i, w) \
	do { \
		ck_assert_int_gt(nevents, 0); \
		ck_assert_int_eq(events[nevents - 1].id, (i)); \
		ck_assert_int_eq(events[nevents - 1].what, (w)); \
	} while (0)

START_TEST(starts_up_to_the_limit_then_postpones_by_what_the_oldest_has_taken)
{
	struct Destinations *d = setup();

	submit(d, "https://a.example:443", 1);
	submit(d, "https://a.example:443", 2);
	ck_assert_int_eq(nevents, 2);
	LAST_IS(2, 's');
	submit(d, "https://a.example:443", 3);
	LAST_IS(3, 'p');
	ck_assert_str_eq(events[2].why, "destination saturated");
	/* no latency known yet, the oldest delivery just started: back soon (100 ms ± 20 %) */
	ck_assert_int_ge(events[2].delay, 80);
	ck_assert_int_le(events[2].delay, 120);
	ck_assert_int_eq(destinations_waiting(d), 0);
	/* still no answer after 1 s: twice that (2 s ± 20 %) ... */
	fake_now += 1000;
	submit(d, "https://a.example:443", 4);
	LAST_IS(4, 'p');
	ck_assert_int_ge(events[3].delay, 1600);
	ck_assert_int_le(events[3].delay, 2400);
	/* ... and never past the moment the oldest times out (5 s after it started, ± 20 %) */
	fake_now += 3000;
	submit(d, "https://a.example:443", 5);
	ck_assert_int_ge(events[4].delay, 800);
	ck_assert_int_le(events[4].delay, 1200);
	destinations_free(d);
}
END_TEST

START_TEST(a_fast_busy_destination_keeps_a_short_queue_in_memory)
{
	struct Destinations *d = setup();
	const char *k = "http://fast.example:80";

	submit(d, k, 1);
	submit(d, k, 2);
	fake_now += 5;
	destinations_done(d, k, DEST_ANSWERED, 5, NULL);	/* 5 ms per delivery */
	submit(d, k, 3);				/* takes the free slot */
	LAST_IS(3, 's');
	submit(d, k, 4);				/* both busy: waits here */
	submit(d, k, 5);
	ck_assert_int_eq(destinations_waiting(d), 2);
	LAST_IS(3, 's');
	fake_now += 5;
	destinations_done(d, k, DEST_ANSWERED, 5, NULL);
	LAST_IS(4, 's');				/* in order */
	destinations_done(d, k, DEST_ANSWERED, 5, NULL);
	LAST_IS(5, 's');
	ck_assert_int_eq(destinations_waiting(d), 0);
	destinations_free(d);
}
END_TEST

START_TEST(the_memory_queue_is_bounded)
{
	struct Destinations *d = setup();
	const char *k = "http://fast.example:80";
	int waited = 0, postponed = 0;

	submit(d, k, 1);
	destinations_done(d, k, DEST_ANSWERED, 1, NULL);	/* 1 ms per delivery */
	submit(d, k, 1);
	submit(d, k, 2);
	for (int i = 10; i < 40; i++) {
		int before = nevents;

		submit(d, k, i);
		if (nevents == before)
			waited++;
		else
			postponed += events[nevents - 1].what == 'p';
	}
	ck_assert_int_eq(waited, settings.max_in_flight * 4);	/* WAITERS_PER_SLOT */
	ck_assert_int_eq(postponed, 30 - waited);
	destinations_free(d);
}
END_TEST

START_TEST(a_slow_destination_waits_in_the_queue_not_here)
{
	struct Destinations *d = setup();
	const char *k = "http://slow.example:80";

	submit(d, k, 1);
	fake_now += 1000;
	destinations_done(d, k, DEST_ANSWERED, 1000, NULL);
	submit(d, k, 2);
	submit(d, k, 3);
	submit(d, k, 4);				/* a slot in ~1 s: too long to hold it here */
	LAST_IS(4, 'p');
	ck_assert_int_eq(destinations_waiting(d), 0);
	/* about twice its latency, ±20 % */
	ck_assert_int_ge(events[nevents - 1].delay, 1600);
	ck_assert_int_le(events[nevents - 1].delay, 2400);
	destinations_free(d);
}
END_TEST

START_TEST(consecutive_failures_open_the_circuit_and_postpone_for_the_cooldown)
{
	struct Destinations *d = setup();
	const char *k = "http://dead.example:80";

	for (int i = 1; i <= 3; i++) {
		submit(d, k, i);
		LAST_IS(i, 's');
		destinations_done(d, k, DEST_FAILED, 10, "timeout");
	}
	ck_assert_int_eq(destinations_paused(d), 1);
	ck_assert_str_eq(destinations_last_error(d, k), "timeout");
	ck_assert_str_eq(destinations_last_error(d, "http://never.example:80"), "");
	submit(d, k, 4);
	LAST_IS(4, 'p');
	ck_assert_str_eq(events[nevents - 1].why, "destination paused (circuit open)");
	ck_assert_int_ge(events[nevents - 1].delay, 24000);
	ck_assert_int_le(events[nevents - 1].delay, 36000);
	destinations_free(d);
}
END_TEST

START_TEST(an_answer_resets_the_count_of_failures)
{
	struct Destinations *d = setup();
	const char *k = "http://flaky.example:80";

	for (int i = 1; i <= 8; i++) {
		submit(d, k, i);
		destinations_done(d, k, i % 3 == 0 ? DEST_ANSWERED : DEST_FAILED, 10, "http_500");
	}
	ck_assert_int_eq(destinations_paused(d), 0);
	destinations_free(d);
}
END_TEST

START_TEST(blocked_addresses_say_nothing_about_health)
{
	struct Destinations *d = setup();
	const char *k = "http://10.0.0.1:80";

	for (int i = 1; i <= 5; i++) {
		submit(d, k, i);
		destinations_done(d, k, DEST_NOT_SENT, 0, NULL);
	}
	ck_assert_int_eq(destinations_paused(d), 0);
	destinations_free(d);
}
END_TEST

START_TEST(after_the_cooldown_one_probe_decides)
{
	struct Destinations *d = setup();
	const char *k = "http://dead.example:80";

	for (int i = 1; i <= 3; i++) {
		submit(d, k, i);
		destinations_done(d, k, DEST_FAILED, 10, "timeout");
	}
	fake_now += 30000;
	submit(d, k, 10);
	LAST_IS(10, 's');				/* the probe */
	submit(d, k, 11);
	LAST_IS(11, 'p');				/* nothing else while it is in flight */
	ck_assert_int_eq(destinations_paused(d), 1);
	destinations_done(d, k, DEST_FAILED, 5000, "timeout");	/* still dead: paused again */
	ck_assert_int_eq(destinations_paused(d), 1);
	submit(d, k, 12);
	LAST_IS(12, 'p');
	ck_assert_int_ge(events[nevents - 1].delay, 24000);
	fake_now += 30000;
	submit(d, k, 13);
	LAST_IS(13, 's');				/* the next probe */
	destinations_done(d, k, DEST_ANSWERED, 20, NULL);
	ck_assert_int_eq(destinations_paused(d), 0);
	submit(d, k, 14);
	LAST_IS(14, 's');
	submit(d, k, 15);
	LAST_IS(15, 's');				/* the full limit again */
	destinations_free(d);
}
END_TEST

/* Circuit transitions as the observer saw them: "open 3 timeout 30000", "closed". */
static char changes[8][96];
static int nchanges;

static void on_circuit(const struct CircuitChange *c, void *arg)
{
	(void)arg;
	if (nchanges == 8)
		return;
	if (c->open)
		snprintf(changes[nchanges++], sizeof(changes[0]), "%s open %d %s %lld", c->key, c->failures,
			 c->last_error, (long long)c->cooldown_ms);
	else
		snprintf(changes[nchanges++], sizeof(changes[0]), "%s closed", c->key);
}

START_TEST(the_observer_is_told_every_transition_and_nothing_else)
{
	struct Destinations *d = setup();
	const char *k = "http://dead.example:80";

	nchanges = 0;
	destinations_on_circuit(d, on_circuit, NULL);
	for (int i = 1; i <= 3; i++) {
		submit(d, k, i);
		destinations_done(d, k, DEST_FAILED, 10, i < 3 ? "connect" : "timeout");
	}
	ck_assert_int_eq(nchanges, 1);
	ck_assert_str_eq(changes[0], "http://dead.example:80 open 3 timeout 30000");
	submit(d, k, 4);				/* postponed: no change */
	fake_now += 30000;
	submit(d, k, 5);				/* the probe: still paused, no change */
	ck_assert_int_eq(nchanges, 1);
	destinations_done(d, k, DEST_FAILED, 10, "http_503");
	ck_assert_int_eq(nchanges, 2);
	ck_assert_str_eq(changes[1], "http://dead.example:80 open 4 http_503 30000");	/* re-opened */
	fake_now += 30000;
	submit(d, k, 6);
	destinations_done(d, k, DEST_ANSWERED, 10, NULL);
	ck_assert_int_eq(nchanges, 3);
	ck_assert_str_eq(changes[2], "http://dead.example:80 closed");
	submit(d, k, 7);
	destinations_done(d, k, DEST_ANSWERED, 10, NULL);
	ck_assert_int_eq(nchanges, 3);			/* a healthy destination: nothing */
	for (int i = 8; i <= 10; i++) {
		submit(d, "http://other.example:80", i);
		destinations_done(d, "http://other.example:80", DEST_FAILED, 10, "connect");
	}
	ck_assert_int_eq(nchanges, 4);
	destinations_release_circuits(d);		/* the daemon stops: only the open one closes */
	ck_assert_int_eq(nchanges, 5);
	ck_assert_str_eq(changes[4], "http://other.example:80 closed");
	destinations_free(d);
}
END_TEST

START_TEST(opening_the_circuit_postpones_the_deliveries_waiting_here)
{
	struct Destinations *d = setup();
	const char *k = "http://turns-bad.example:80";

	submit(d, k, 1);
	destinations_done(d, k, DEST_ANSWERED, 1, NULL);
	submit(d, k, 2);
	submit(d, k, 3);
	submit(d, k, 4);				/* waits here */
	submit(d, k, 5);				/* waits here */
	ck_assert_int_eq(destinations_waiting(d), 2);
	destinations_done(d, k, DEST_FAILED, 5000, "timeout");	/* 4 starts */
	destinations_done(d, k, DEST_FAILED, 5000, "timeout");	/* 5 starts */
	LAST_IS(5, 's');
	submit(d, k, 6);
	submit(d, k, 7);
	ck_assert_int_eq(destinations_waiting(d), 0);	/* 5 s latency: not worth waiting for */
	destinations_done(d, k, DEST_FAILED, 5000, "timeout");	/* third failure: open */
	ck_assert_int_eq(destinations_paused(d), 1);
	destinations_free(d);
}
END_TEST

START_TEST(destinations_do_not_affect_each_other)
{
	struct Destinations *d = setup();

	for (int i = 1; i <= 3; i++) {
		submit(d, "http://dead.example:80", i);
		destinations_done(d, "http://dead.example:80", DEST_FAILED, 10, "timeout");
	}
	submit(d, "http://dead.example:80", 4);
	LAST_IS(4, 'p');
	submit(d, "http://tarpit.example:80", 5);
	submit(d, "http://tarpit.example:80", 6);
	submit(d, "http://tarpit.example:80", 7);
	LAST_IS(7, 'p');				/* saturated */
	submit(d, "http://healthy.example:80", 8);
	LAST_IS(8, 's');
	submit(d, "http://healthy.example:8080", 9);	/* another port, another destination */
	LAST_IS(9, 's');
	submit(d, "https://healthy.example:80", 10);	/* another scheme too */
	LAST_IS(10, 's');
	destinations_free(d);
}
END_TEST

START_TEST(free_postpones_what_still_waits)
{
	struct Destinations *d = setup();
	const char *k = "http://fast.example:80";

	submit(d, k, 1);
	destinations_done(d, k, DEST_ANSWERED, 1, NULL);
	submit(d, k, 2);
	submit(d, k, 3);
	submit(d, k, 4);
	ck_assert_int_eq(destinations_waiting(d), 1);
	destinations_free(d);
	LAST_IS(4, 'p');
	ck_assert_str_eq(events[nevents - 1].why, "daemon stopping");
}
END_TEST

START_TEST(keys_name_scheme_host_and_port)
{
	struct CallbackUrl u = { "https", "cpo.example", 443 };
	char key[DESTINATION_KEY_SIZE];

	destinations_key(&u, key, sizeof(key));
	ck_assert_str_eq(key, "https://cpo.example:443");
	strcpy(u.scheme, "http");
	strcpy(u.host, "::1");
	u.port = 8080;
	destinations_key(&u, key, sizeof(key));
	ck_assert_str_eq(key, "http://[::1]:8080");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("destinations");
	TCase *tc = tcase_create("destinations");

	tcase_add_test(tc, starts_up_to_the_limit_then_postpones_by_what_the_oldest_has_taken);
	tcase_add_test(tc, a_fast_busy_destination_keeps_a_short_queue_in_memory);
	tcase_add_test(tc, the_memory_queue_is_bounded);
	tcase_add_test(tc, a_slow_destination_waits_in_the_queue_not_here);
	tcase_add_test(tc, consecutive_failures_open_the_circuit_and_postpone_for_the_cooldown);
	tcase_add_test(tc, an_answer_resets_the_count_of_failures);
	tcase_add_test(tc, blocked_addresses_say_nothing_about_health);
	tcase_add_test(tc, after_the_cooldown_one_probe_decides);
	tcase_add_test(tc, the_observer_is_told_every_transition_and_nothing_else);
	tcase_add_test(tc, opening_the_circuit_postpones_the_deliveries_waiting_here);
	tcase_add_test(tc, destinations_do_not_affect_each_other);
	tcase_add_test(tc, free_postpones_what_still_waits);
	tcase_add_test(tc, keys_name_scheme_host_and_port);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
