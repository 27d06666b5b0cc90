/*
 * Callback destinations (scheme, host, port): how many deliveries each has
 * in flight in this daemon, and whether it is healthy (DESIGN §5,
 * isolation).  A slow, dead or hostile receiver delays only its own
 * callbacks:
 *
 *  - at most max_in_flight deliveries per destination; a delivery that
 *    cannot start at once waits here only when a slot will free within a
 *    short budget (a fast receiver that is merely busy), otherwise it goes
 *    back to the queue (postponed) and waits in the database;
 *  - a circuit breaker per destination: after circuit_failures consecutive
 *    failures the destination is paused for circuit_cooldown, its
 *    deliveries postponed until then; then one probe decides whether it is
 *    healthy again.
 *
 * The owner gives each delivery as an opaque waiter and is told, now or
 * later, to start it (a slot is taken: report the outcome with
 * destinations_done) or to postpone it.  Times come from the clock passed
 * in, so the unit tests drive it with a fake one.
 */
#ifndef CHARGEGATE_DESTINATIONS_H
#define CHARGEGATE_DESTINATIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct CallbackUrl;
struct Destinations;

struct DestinationSettings {
	int max_in_flight;		/* callback.per_destination_concurrency */
	int circuit_failures;		/* callback.circuit_failures */
	int64_t circuit_cooldown_ms;	/* callback.circuit_cooldown */
	int64_t attempt_timeout_ms;	/* callback.timeout: a slot frees by then at the latest */
};

/* How a started delivery ended, for the circuit breaker. */
enum DestOutcome {
	DEST_ANSWERED,	/* the receiver answered as a working one does (2xx, 3xx, 4xx but 429) */
	DEST_FAILED,	/* timeout, connection error, 5xx or 429 */
	DEST_NOT_SENT	/* refused before sending (blocked address): says nothing of its health */
};

/* Why a delivery is postponed. */
enum DestWait {
	DEST_SATURATED,	/* every slot busy, and none frees soon */
	DEST_PAUSED,	/* circuit open, or its probe in flight */
	DEST_STOPPING	/* the daemon stops */
};

typedef void (*dest_start_fn)(void *waiter, void *arg);
typedef void (*dest_postpone_fn)(void *waiter, int64_t delay_ms, enum DestWait why, void *arg);

/* "destination saturated", "destination paused (circuit open)", "daemon stopping" */
const char *destinations_wait_text(enum DestWait why);

struct Destinations *destinations_new(const struct DestinationSettings *settings, int64_t (*now_ms)(void),
				      dest_start_fn start, dest_postpone_fn postpone, void *arg);
/* Waiters still queued are postponed (by 0 ms) first. */
void destinations_free(struct Destinations *d);
/* New limits (a reload); they apply to what starts from now on. */
void destinations_configure(struct Destinations *d, const struct DestinationSettings *settings);

/* "scheme://host:port" of a checked callback URL, into key (at least DESTINATION_KEY_SIZE bytes). */
#define DESTINATION_KEY_SIZE 300
void destinations_key(const struct CallbackUrl *url, char *key, size_t size);

/* Start waiter now, later (it waits here) or postpone it: one callback, maybe from inside this call. */
void destinations_submit(struct Destinations *d, const char *key, void *waiter);
/*
 * A delivery that was started ended after latency_ms (error_class: the
 * failure's, e.g. "timeout", kept for destinations_last_error).  Frees its
 * slot, feeds the circuit breaker, and starts the next waiter -- or, when
 * the circuit just opened, postpones every waiter of the destination.
 */
void destinations_done(struct Destinations *d, const char *key, enum DestOutcome outcome, int64_t latency_ms,
		       const char *error_class);

/* The error class of the destination's last failure; "" when none is known. */
const char *destinations_last_error(struct Destinations *d, const char *key);

/*
 * A circuit changed: it opened (or a failed probe re-opened it) for
 * cooldown_ms after failures consecutive failures, the last of class
 * last_error; or it closed (a probe succeeded, or the destination was
 * forgotten).  For the operator's view (chargegate.destination_circuit):
 * told on transitions only, never per delivery.
 */
struct CircuitChange {
	const char *key;
	bool open;
	int failures;
	int64_t cooldown_ms;
	const char *last_error;
};
typedef void (*dest_circuit_fn)(const struct CircuitChange *change, void *arg);
void destinations_on_circuit(struct Destinations *d, dest_circuit_fn fn, void *arg);
/* The daemon stops: the observer hears every open circuit close (they go with this process). */
void destinations_release_circuits(struct Destinations *d);

/* Destinations paused now (circuit open, or a probe in flight). */
int destinations_paused(const struct Destinations *d);
/* Deliveries waiting here for a slot. */
int destinations_waiting(const struct Destinations *d);

#endif
