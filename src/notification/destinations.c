#include "autoconfig.h"

#include "notification/destinations.h"

#include "infra/alloc.h"
#include "infra/clock.h"
#include "infra/log.h"
#include "infra/url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEST_BUCKETS 1024
/*
 * A delivery waits here for a slot only when one should free within this
 * budget (by the destination's recent latency): a fast receiver that is
 * merely busy is served from memory, anything slower waits in the database.
 */
#define WAIT_BUDGET_MS 50
/* ... and never more than this many deliveries per slot. */
#define WAITERS_PER_SLOT 4
/* A postponed delivery comes back no sooner: fewer round trips to the database. */
#define MIN_POSTPONE_MS 100
/* Postponed deliveries come back spread over ±this percentage. */
#define POSTPONE_JITTER_PCT 20
/* Weight of the newest latency in the running estimate, in percent. */
#define LATENCY_WEIGHT_PCT 20
/* Every this many calls, destinations unused for FORGET_AFTER_MS are dropped. */
#define SWEEP_EVERY 1024
#define FORGET_AFTER_MS 600000

enum Circuit { CIRCUIT_CLOSED, CIRCUIT_OPEN, CIRCUIT_PROBING };

struct Waiter {
	struct Waiter *next;
	void *w;
};

struct Dest {
	struct Dest *next;		/* hash chain */
	char key[DESTINATION_KEY_SIZE];
	int in_flight;
	int64_t *started;		/* start times of the deliveries in flight, oldest first */
	int started_cap;
	struct Waiter *head, *tail;
	int waiting;
	int failures;			/* consecutive */
	char last_error[24];		/* class of the last failure */
	enum Circuit circuit;
	int64_t open_until;		/* CIRCUIT_OPEN */
	int64_t latency_ms;		/* running estimate; -1: none yet */
	int64_t last_used;
};

struct Destinations {
	struct DestinationSettings s;
	int64_t (*now)(void);
	dest_start_fn start;
	dest_postpone_fn postpone;
	void *arg;
	dest_circuit_fn on_circuit;	/* may be NULL */
	void *circuit_arg;
	struct Dest *buckets[DEST_BUCKETS];
	int paused;
	int waiting;
	unsigned calls;
};

static unsigned bucket_of(const char *key)
{
	unsigned h = 2166136261u;	/* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % DEST_BUCKETS;
}

static struct Dest *find(struct Destinations *d, const char *key)
{
	for (struct Dest *x = d->buckets[bucket_of(key)]; x; x = x->next) {
		if (strcmp(x->key, key) == 0)
			return x;
	}
	return NULL;
}

static struct Dest *find_or_add(struct Destinations *d, const char *key)
{
	struct Dest *x = find(d, key);
	unsigned b = bucket_of(key);

	if (x)
		return x;
	x = xcalloc(1, sizeof(*x));
	snprintf(x->key, sizeof(x->key), "%s", key);
	x->latency_ms = -1;
	x->next = d->buckets[b];
	d->buckets[b] = x;
	return x;
}

static void tell_circuit(struct Destinations *d, const struct Dest *x)
{
	struct CircuitChange c = {
		.key = x->key,
		.open = x->circuit != CIRCUIT_CLOSED,
		.failures = x->failures,
		.cooldown_ms = d->s.circuit_cooldown_ms,
		.last_error = x->last_error,
	};

	if (d->on_circuit)
		d->on_circuit(&c, d->circuit_arg);
}

static void dest_free(struct Dest *x)
{
	free(x->started);
	free(x);
}

/* Drop destinations nobody used for a while and that hold nothing. */
static void sweep(struct Destinations *d)
{
	int64_t now = d->now();

	for (int b = 0; b < DEST_BUCKETS; b++) {
		struct Dest **pp = &d->buckets[b];

		while (*pp) {
			struct Dest *x = *pp;
			bool idle = x->in_flight == 0 && x->waiting == 0 && now - x->last_used > FORGET_AFTER_MS &&
				    (x->circuit == CIRCUIT_CLOSED || (x->circuit == CIRCUIT_OPEN && now > x->open_until));

			if (!idle) {
				pp = &x->next;
				continue;
			}
			if (x->circuit != CIRCUIT_CLOSED) {
				d->paused--;
				x->circuit = CIRCUIT_CLOSED;
				tell_circuit(d, x);	/* forgotten: no longer paused here */
			}
			*pp = x->next;
			dest_free(x);
		}
	}
}

static void counted_call(struct Destinations *d)
{
	if (++d->calls % SWEEP_EVERY == 0)
		sweep(d);
}

/* --- slots ---------------------------------------------------------------------- */

static void take_slot(struct Destinations *d, struct Dest *x)
{
	if (x->in_flight == x->started_cap) {
		int cap = x->started_cap ? x->started_cap * 2 : 8;
		int64_t *p = xrealloc(x->started, (size_t)cap * sizeof(*p));

		x->started = p;
		x->started_cap = cap;
	}
	x->started[x->in_flight++] = d->now();
}

/* The oldest delivery is the likeliest to have ended: forget its start. */
static void free_slot(struct Dest *x)
{
	if (x->in_flight == 0)
		return;
	memmove(x->started, x->started + 1, (size_t)(x->in_flight - 1) * sizeof(*x->started));
	x->in_flight--;
}

/* --- postponing ------------------------------------------------------------------- */

/*
 * When a saturated destination may have a free slot: about twice its
 * latency, at the latest when its oldest delivery times out.  With no
 * latency known yet (a new destination taking its first burst), twice what
 * the oldest delivery in flight has taken so far: soon for a fast receiver,
 * doubling for one that does not answer.
 */
static int64_t busy_delay(const struct Destinations *d, const struct Dest *x)
{
	int64_t latest = x->in_flight ? x->started[0] + d->s.attempt_timeout_ms - d->now() : MIN_POSTPONE_MS;
	int64_t age = x->in_flight ? d->now() - x->started[0] : 0;
	int64_t guess = x->latency_ms >= 0 ? 2 * x->latency_ms : 2 * age;
	int64_t delay = guess < latest ? guess : latest;

	if (delay < MIN_POSTPONE_MS)
		delay = MIN_POSTPONE_MS;
	return clock_jitter(delay, POSTPONE_JITTER_PCT);
}

static int64_t paused_delay(const struct Destinations *d, const struct Dest *x)
{
	int64_t left = x->circuit == CIRCUIT_OPEN ? x->open_until - d->now()
						   : (x->in_flight ? x->started[0] + d->s.attempt_timeout_ms - d->now() : 0);

	return clock_jitter(left > MIN_POSTPONE_MS ? left : MIN_POSTPONE_MS, POSTPONE_JITTER_PCT);
}

static bool may_wait_here(const struct Destinations *d, const struct Dest *x)
{
	int max = d->s.max_in_flight;

	return x->latency_ms >= 0 && x->waiting < max * WAITERS_PER_SLOT &&
	       (int64_t)(x->waiting / max + 1) * x->latency_ms <= WAIT_BUDGET_MS;
}

static void enqueue(struct Destinations *d, struct Dest *x, void *w)
{
	struct Waiter *q = xcalloc(1, sizeof(*q));

	q->w = w;
	if (x->tail)
		x->tail->next = q;
	else
		x->head = q;
	x->tail = q;
	x->waiting++;
	d->waiting++;
}

static void *dequeue(struct Destinations *d, struct Dest *x)
{
	struct Waiter *q = x->head;
	void *w;

	if (!q)
		return NULL;
	x->head = q->next;
	if (!x->head)
		x->tail = NULL;
	x->waiting--;
	d->waiting--;
	w = q->w;
	free(q);
	return w;
}

static void postpone_waiters(struct Destinations *d, struct Dest *x, int64_t delay, enum DestWait why)
{
	void *w;

	while ((w = dequeue(d, x)) != NULL)
		d->postpone(w, delay, why, d->arg);
}

/* --- the circuit breaker ---------------------------------------------------------------- */

static void open_circuit(struct Destinations *d, struct Dest *x)
{
	char cooldown[32];

	if (x->circuit == CIRCUIT_CLOSED)
		d->paused++;
	x->circuit = CIRCUIT_OPEN;
	x->open_until = d->now() + d->s.circuit_cooldown_ms;
	snprintf(cooldown, sizeof(cooldown), "%lld ms", (long long)d->s.circuit_cooldown_ms);
	log_warning_f(LOG_F(.destination = x->key, .error_class = x->last_error[0] ? x->last_error : NULL),
		      "callback destination: paused for %s after %d consecutive failures (circuit open); its "
		      "deliveries are postponed, then one probe decides",
		      cooldown, x->failures);
	tell_circuit(d, x);
	postpone_waiters(d, x, paused_delay(d, x), DEST_PAUSED);
}

static void close_circuit(struct Destinations *d, struct Dest *x)
{
	d->paused--;
	x->circuit = CIRCUIT_CLOSED;
	log_info_f(LOG_F(.destination = x->key),
		   "callback destination: the probe succeeded, deliveries resume (circuit closed)");
	tell_circuit(d, x);
}

/* What a finished delivery says about the destination's health. */
static void judge(struct Destinations *d, struct Dest *x, enum DestOutcome outcome)
{
	if (outcome == DEST_ANSWERED) {
		x->failures = 0;
		if (x->circuit == CIRCUIT_PROBING)
			close_circuit(d, x);
		return;
	}
	x->failures++;
	if (x->circuit == CIRCUIT_PROBING) {
		d->paused--;	/* open_circuit counts it again */
		x->circuit = CIRCUIT_CLOSED;
		open_circuit(d, x);
	} else if (x->circuit == CIRCUIT_CLOSED && x->failures >= d->s.circuit_failures) {
		open_circuit(d, x);
	}
}

/* --- the API ------------------------------------------------------------------------------ */

void destinations_key(const struct CallbackUrl *url, char *key, size_t size)
{
	bool v6 = strchr(url->host, ':') != NULL;

	snprintf(key, size, "%s://%s%s%s:%d", url->scheme, v6 ? "[" : "", url->host, v6 ? "]" : "", url->port);
}

void destinations_submit(struct Destinations *d, const char *key, void *waiter)
{
	struct Dest *x = find_or_add(d, key);
	int64_t now = d->now();

	counted_call(d);
	x->last_used = now;
	if (x->circuit == CIRCUIT_OPEN && now >= x->open_until) {
		x->circuit = CIRCUIT_PROBING;	/* this delivery is the probe */
		take_slot(d, x);
		d->start(waiter, d->arg);
		return;
	}
	if (x->circuit != CIRCUIT_CLOSED) {
		d->postpone(waiter, paused_delay(d, x), DEST_PAUSED, d->arg);
		return;
	}
	if (x->in_flight < d->s.max_in_flight) {
		take_slot(d, x);
		d->start(waiter, d->arg);
	} else if (may_wait_here(d, x)) {
		enqueue(d, x, waiter);
	} else {
		d->postpone(waiter, busy_delay(d, x), DEST_SATURATED, d->arg);
	}
}

void destinations_done(struct Destinations *d, const char *key, enum DestOutcome outcome, int64_t latency_ms,
		       const char *error_class)
{
	struct Dest *x = find(d, key);
	void *w;

	if (!x) {
		log_error_f(LOG_F(.destination = key),
			    "callback destination: a delivery ended that was never started here");
		return;
	}
	counted_call(d);
	free_slot(x);
	x->last_used = d->now();
	if (outcome != DEST_NOT_SENT)
		x->latency_ms = x->latency_ms < 0 ? latency_ms
						  : (x->latency_ms * (100 - LATENCY_WEIGHT_PCT) +
						     latency_ms * LATENCY_WEIGHT_PCT) / 100;
	if (outcome == DEST_FAILED && error_class)
		snprintf(x->last_error, sizeof(x->last_error), "%s", error_class);
	if (outcome != DEST_NOT_SENT)
		judge(d, x, outcome);
	while (x->circuit == CIRCUIT_CLOSED && x->in_flight < d->s.max_in_flight && (w = dequeue(d, x))) {
		take_slot(d, x);
		d->start(w, d->arg);
	}
}

struct Destinations *destinations_new(const struct DestinationSettings *settings, int64_t (*now_ms)(void),
				      dest_start_fn start, dest_postpone_fn postpone, void *arg)
{
	struct Destinations *d = xcalloc(1, sizeof(*d));

	d->now = now_ms;
	d->start = start;
	d->postpone = postpone;
	d->arg = arg;
	destinations_configure(d, settings);
	return d;
}

void destinations_configure(struct Destinations *d, const struct DestinationSettings *settings)
{
	d->s = *settings;
	if (d->s.max_in_flight < 1)
		d->s.max_in_flight = 1;
	if (d->s.circuit_failures < 1)
		d->s.circuit_failures = 1;
}

void destinations_on_circuit(struct Destinations *d, dest_circuit_fn fn, void *arg)
{
	d->on_circuit = fn;
	d->circuit_arg = arg;
}

void destinations_release_circuits(struct Destinations *d)
{
	struct CircuitChange c = { .open = false, .last_error = "" };

	for (int b = 0; b < DEST_BUCKETS && d->on_circuit; b++) {
		for (struct Dest *x = d->buckets[b]; x; x = x->next) {
			if (x->circuit == CIRCUIT_CLOSED)
				continue;
			c.key = x->key;
			d->on_circuit(&c, d->circuit_arg);
		}
	}
}

void destinations_free(struct Destinations *d)
{
	if (!d)
		return;
	for (int b = 0; b < DEST_BUCKETS; b++) {
		while (d->buckets[b]) {
			struct Dest *x = d->buckets[b];

			d->buckets[b] = x->next;
			postpone_waiters(d, x, 0, DEST_STOPPING);
			dest_free(x);
		}
	}
	free(d);
}

const char *destinations_last_error(struct Destinations *d, const char *key)
{
	struct Dest *x = find(d, key);

	return x ? x->last_error : "";
}

const char *destinations_wait_text(enum DestWait why)
{
	switch (why) {
	case DEST_SATURATED:
		return "destination saturated";
	case DEST_PAUSED:
		return "destination paused (circuit open)";
	case DEST_STOPPING:
		return "daemon stopping";
	}
	return "postponed";
}

int destinations_paused(const struct Destinations *d)
{
	return d ? d->paused : 0;
}

int destinations_waiting(const struct Destinations *d)
{
	return d ? d->waiting : 0;
}
