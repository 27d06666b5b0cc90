/*
 * The Kafka relay: claims due outbox rows with a lease (claim_outbox),
 * produces each with the idempotent producer -- key = aggregate_id (the
 * request id, so one request's events keep their order), headers event_id
 * and event_type, topic {kafka.topic_prefix}{topic} -- and marks rows
 * published only from their successful delivery reports (mark_published);
 * failed ones stay pending with the error recorded (record_publish_error).
 * The relay's callback runs once every report of the batch is in.
 */
#ifndef CHARGEGATE_KAFKA_PRODUCER_H
#define CHARGEGATE_KAFKA_PRODUCER_H

#include "queue/transport.h"

#include <stddef.h>

struct KafkaCommon;
struct KafkaProducer;

struct KafkaProducer *kproducer_new(const struct KafkaCommon *k, char *err, size_t errsize);
void kproducer_relay(struct KafkaProducer *p, const char *outbox, int limit, transport_relay_cb cb, void *arg);
/* Batches still waiting are abandoned: their leases expire and the rows are published again. */
void kproducer_free(struct KafkaProducer *p);

#endif
