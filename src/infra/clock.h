/*
 * Time for timers and deadlines: the monotonic clock in milliseconds, and
 * the struct timeval libevent wants.  Wall-clock time never decides when
 * something is due here (DESIGN §2.5: the database's clock does).
 */
#ifndef CHARGEGATE_CLOCK_H
#define CHARGEGATE_CLOCK_H

#include <stdint.h>
#include <sys/time.h>

/* Milliseconds on the monotonic clock (an arbitrary origin). */
int64_t clock_now_ms(void);

/* ms (negative: 0) as a struct timeval for evtimer_add(). */
struct timeval clock_timeval(int64_t ms);

/* ms ± pct percent, uniformly at random: retries that do not march in step. */
int64_t clock_jitter(int64_t ms, int pct);
/* The same with the caller's random number (tests choose it). */
int64_t clock_jitter_by(int64_t ms, int pct, uint32_t random);
/* A random number for spreading things out; not for secrets. */
uint32_t clock_random32(void);

#endif
