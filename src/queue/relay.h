/*
 * The outbox relay: for one outbox table, moves due rows to its topic
 * through the transport, in capped batches, whenever it is woken (NOTIFY or
 * in-process), when a delayed row falls due, and on a slow poll as fallback.
 */
#ifndef CHARGEGATE_RELAY_H
#define CHARGEGATE_RELAY_H

#include <stdint.h>

struct event_base;
struct Transport;
struct Relay;

struct Relay *relay_new(struct event_base *base, struct Transport *t, const char *outbox, int batch_size,
			int64_t poll_ms);
void relay_free(struct Relay *r);

/* Draining: relays start no new batch. */
void relay_stop_all(void);

/* Rows this relay has moved so far. */
uint64_t relay_rows(const struct Relay *r);

/* Batches in flight (0 or 1): for draining. */
int relay_busy(const struct Relay *r);

#endif
