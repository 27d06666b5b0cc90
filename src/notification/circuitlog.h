/*
 * The operator's view of this daemon's circuit breakers: each transition
 * reported by destinations.h is written to chargegate.destination_circuit
 * (chargegate.record_circuit()), so chargegatectl status and the status
 * page list the destinations paused in any daemon.
 *
 * Writes go through the async pool one at a time, in the order of the
 * transitions (an open must not land after the close that followed it);
 * they never hold up a delivery, and a failed write is logged, not retried:
 * the next transition of the destination writes its state again.
 */
#ifndef CHARGEGATE_CIRCUITLOG_H
#define CHARGEGATE_CIRCUITLOG_H

struct PgPool;
struct CircuitChange;
struct CircuitLog;

/* pool must outlive the log, or circuitlog_cancel() must come before it goes. */
struct CircuitLog *circuitlog_new(struct PgPool *pool);
/* Queue the change for writing. */
void circuitlog_record(struct CircuitLog *log, const struct CircuitChange *change);
/* Changes not written yet (the drain waits for them). */
int circuitlog_pending(const struct CircuitLog *log);
/* Shutdown: drop what is not written yet; a write in flight ends through the pool. */
void circuitlog_cancel(struct CircuitLog *log);
/* After the pool is gone (its callbacks have run). */
void circuitlog_free(struct CircuitLog *log);

#endif
