/*
 * Callback delivery figures for /metrics: attempts by outcome, failures by
 * error class (http_NNN folded into its hundred, so that the series stay
 * few), and the latency of every attempt that was sent.
 */
#ifndef CHARGEGATE_DELIVERYSTATS_H
#define CHARGEGATE_DELIVERYSTATS_H

#include <stdbool.h>

struct HttpClientResponse;
struct DeliveryStats;

/* Registers every series at once, at zero: a rate() over them works from the first scrape. */
struct DeliveryStats *deliverystats_new(void);
void deliverystats_free(struct DeliveryStats *ds);

/* One callback attempt ended (not for a cancelled one: no attempt was made). */
void deliverystats_attempt(struct DeliveryStats *ds, const struct HttpClientResponse *r, bool delivered);

#endif
