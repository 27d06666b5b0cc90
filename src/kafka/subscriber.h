/*
 * One Kafka consumer group per subscription ({kafka.topic_prefix}{name}),
 * reading {kafka.topic_prefix}{topic}.  Claims hand out the messages polled
 * so far (never waiting) together with the subscription's due retries from
 * PostgreSQL; the handled flag comes from chargegate.handled_event.  A
 * settle commits, in one transaction, the handled event ids, the handler's
 * writes, the settlement of PostgreSQL retries and a copy of every failed
 * Kafka message into the retry storage (defer_messages) -- and only after
 * that commit are offsets committed to Kafka, never past a message whose
 * effects are not in the database.  Partitions revoked while a batch is in
 * flight get no commit from it: the new owner receives those messages again
 * and handled_event makes the repeat harmless.
 */
#ifndef CHARGEGATE_KAFKA_SUBSCRIBER_H
#define CHARGEGATE_KAFKA_SUBSCRIBER_H

#include "queue/transport.h"

#include <stddef.h>

struct KafkaCommon;
struct KafkaSubscriber;

/* wake(wake_arg, topic) when new messages are waiting. */
typedef void (*ksub_wake_fn)(void *wake_arg, const char *topic);

struct KafkaSubscriber *ksub_new(const struct KafkaCommon *k, const char *subscription, const char *topic,
				 ksub_wake_fn wake, void *wake_arg, char *err, size_t errsize);
const char *ksub_name(const struct KafkaSubscriber *s);
void ksub_claim(struct KafkaSubscriber *s, const char *owner, int limit, int64_t lease_ms, transport_claim_cb cb,
		void *arg);
void ksub_settle(struct KafkaSubscriber *s, const struct SettleRequest *req, transport_count_cb cb, void *arg);
/* Commits what may be committed, leaves the group and closes the consumer. */
void ksub_free(struct KafkaSubscriber *s);

/*
 * Build the consumer configuration once, without starting a consumer, so
 * that bad properties are refused at start.  false with the reason in err.
 */
bool ksub_check_config(const struct KafkaCommon *k, char *err, size_t errsize);

#endif
