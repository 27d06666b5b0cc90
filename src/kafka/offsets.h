/*
 * Which Kafka offsets a subscription may commit.  A message is in flight
 * from the moment it is polled until its batch's database transaction
 * committed (or it was skipped); the offset committed for a partition is
 * the smallest offset still in flight there, or one past the highest
 * settled offset when nothing is in flight -- so a commit never passes a
 * message whose effects are not in the database, even when batches settle
 * out of order.  A revoked partition forgets its messages: ones settling
 * later belong to an older generation and move no offset.  Pure
 * bookkeeping, no librdkafka: tests/unit/test_kafka_offsets.c.
 */
#ifndef CHARGEGATE_KAFKA_OFFSETS_H
#define CHARGEGATE_KAFKA_OFFSETS_H

#include <stdbool.h>
#include <stdint.h>

struct KOffsets;

struct KOffsets *koffsets_new(void);
void koffsets_free(struct KOffsets *o);

/* The partition was assigned to us: a new generation of it starts. */
void koffsets_assign(struct KOffsets *o, const char *topic, int32_t partition);
/* The partition was taken away: its messages in flight no longer count. */
void koffsets_revoke(struct KOffsets *o, const char *topic, int32_t partition);

/* A message was polled.  Returns its generation; 0 when the partition is not assigned. */
uint64_t koffsets_add(struct KOffsets *o, const char *topic, int32_t partition, int64_t offset);

/*
 * The message (of generation gen) is settled.  false when its partition was
 * revoked since, or it was not in flight.
 */
bool koffsets_done(struct KOffsets *o, const char *topic, int32_t partition, int64_t offset, uint64_t gen);

/* Is gen the current generation of the partition? */
bool koffsets_current(const struct KOffsets *o, const char *topic, int32_t partition, uint64_t gen);

/*
 * Calls cb for every assigned partition (or only topic/partition when topic
 * is not NULL) whose committable offset moved past the last one handed
 * out, and records it as handed out.  Returns how many.
 */
typedef void (*koffsets_commit_cb)(const char *topic, int32_t partition, int64_t offset, void *arg);
int koffsets_collect(struct KOffsets *o, const char *topic, int32_t partition, koffsets_commit_cb cb, void *arg);

/* Messages in flight across all partitions (for tests and debugging). */
int koffsets_in_flight(const struct KOffsets *o);

#endif
