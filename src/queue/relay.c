#include "autoconfig.h"

#include "queue/relay.h"

#include "infra/alloc.h"
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

#define ERROR_BACKOFF_MS 1000

struct Relay {
	struct event_base *base;
	struct Transport *t;
	char outbox[64];
	int batch_size;
	int64_t poll_ms;
	bool running;
	bool again;		/* woken while running */
	bool failing;		/* log one line per outage */
	bool unsubscribed;	/* likewise while the topic has no subscription */
	struct event run_ev;	/* deferred start after a wake-up */
	struct event timer;	/* poll fallback, due delayed rows, error backoff */
	uint64_t *moved;
};

static void relay_run(struct Relay *r);

/* Set by relay_stop_all(): the daemon is draining. */
static bool stopping;

void relay_stop_all(void)
{
	stopping = true;
}

static void arm_timer(struct Relay *r, int64_t ms)
{
	struct timeval tv = clock_timeval(ms);

	if (evtimer_add(&r->timer, &tv) != 0)
		fatal("relay %s: could not arm its timer", r->outbox);
}

/* One log line when the topic loses or regains its last subscription. */
static void note_subscribed(struct Relay *r, bool unsubscribed)
{
	if (unsubscribed && !r->unsubscribed)
		log_warning("relay %s: its topic has no subscription, so nothing is relayed: the rows stay pending "
			    "until one exists (see chargegate.outbox_status)",
			    r->outbox);
	else if (!unsubscribed && r->unsubscribed)
		log_info("relay %s: its topic has a subscription again: relaying", r->outbox);
	r->unsubscribed = unsubscribed;
}

static void relay_done(const struct RelayResult *res, void *arg)
{
	struct Relay *r = arg;
	int64_t wait = r->poll_ms;

	r->running = false;
	if (res->moved < 0) {
		if (!r->failing)
			log_warning("relay %s: could not relay: %s", r->outbox, res->err);
		r->failing = true;
		arm_timer(r, ERROR_BACKOFF_MS < wait ? ERROR_BACKOFF_MS : wait);
		return;
	}
	if (r->failing)
		log_info("relay %s: relaying again", r->outbox);
	r->failing = false;
	note_subscribed(r, res->unsubscribed);
	*r->moved += (uint64_t)res->moved;
	if (res->moved > 0)
		log_debug("relay %s: moved %d rows", r->outbox, res->moved);
	if (stopping)
		return;
	if (res->moved == r->batch_size || r->again) {
		r->again = false;
		relay_run(r);	/* a backlog drains in steady, capped batches */
		return;
	}
	if (res->next_due_ms >= 0 && res->next_due_ms < wait)
		wait = res->next_due_ms;
	arm_timer(r, wait);
}

static void relay_run(struct Relay *r)
{
	r->running = true;
	evtimer_del(&r->timer);
	r->t->ops->relay(r->t, r->outbox, r->batch_size, relay_done, r);
}

static void run_cb(evutil_socket_t fd, short what, void *arg)
{
	struct Relay *r = arg;

	if (stopping)
		return;
	if (r->running)
		r->again = true;
	else
		relay_run(r);
}

static void wake(void *arg)
{
	struct Relay *r = arg;

	event_active(&r->run_ev, EV_TIMEOUT, 0);
}

struct Relay *relay_new(struct event_base *base, struct Transport *t, const char *outbox, int batch_size,
			int64_t poll_ms)
{
	struct Relay *r = xcalloc(1, sizeof(*r));
	char labels[128], channel[TRANSPORT_CHANNEL_SIZE];

	r->base = base;
	r->t = t;
	snprintf(r->outbox, sizeof(r->outbox), "%s", outbox);
	r->batch_size = batch_size;
	r->poll_ms = poll_ms;
	event_assign(&r->run_ev, base, -1, 0, run_cb, r);
	evtimer_assign(&r->timer, base, run_cb, r);
	snprintf(labels, sizeof(labels), "outbox=\"%s\"", outbox);
	r->moved = metrics_counter("chargegate_relay_rows_total", labels, "Outbox rows published to their topic.");
	transport_channel(CHANNEL_OUTBOX, outbox, channel);
	t->ops->watch(t, channel, wake, r);
	wake(r);	/* catch up on what is pending at start */
	return r;
}

void relay_free(struct Relay *r)
{
	if (!r)
		return;
	event_del(&r->run_ev);
	evtimer_del(&r->timer);
	free(r);
}

uint64_t relay_rows(const struct Relay *r)
{
	return r ? *r->moved : 0;
}

int relay_busy(const struct Relay *r)
{
	return r && r->running ? 1 : 0;
}
