/*
 * Internals of the Kafka transport module, shared by its parts: kconf.c
 * (librdkafka configuration, logging and event-loop glue), producer.c (the
 * relay), subscriber.c (one consumer group per subscription), offsets.c
 * (which offsets may be committed) and kafka.c (the transport and the
 * module's entry point).  Nothing outside src/kafka/ includes this.
 */
#ifndef CHARGEGATE_KAFKA_H
#define CHARGEGATE_KAFKA_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct PgPool;
struct KafkaSettings;

/* What every part needs: the loop, the database, the settings (copied). */
struct KafkaCommon {
	struct event_base *base;
	struct PgPool *pool;
	char *bootstrap;
	char *prefix;
	int nprops;
	char **names;
	char **values;
	int64_t lease_ms;
	char host_pid[96];	/* "host:pid", for lease owners and client ids */
};

enum KafkaRole { KAFKA_PRODUCER, KAFKA_CONSUMER };

/*
 * Every librdkafka handle's opaque starts with this, so the log and error
 * callbacks can name the client ("kafka producer", "kafka consumer") and
 * give a consumer's subscription as the log field.
 */
struct KafkaClient {
	char label[96];
	const char *subscription;	/* NULL for the producer; the subscriber's own name */
};

/*
 * A librdkafka configuration for role: chargegate's defaults, then the
 * kafka.property.* pass-through (a "producer." or "consumer." prefix limits
 * one to that role), then what chargegate needs fixed (fixed: name, value
 * pairs, NULL-terminated).  Logs go through the log queue to log_*();
 * errors to log_warning.  NULL with "kafka.property.NAME: librdkafka's
 * message" (or another reason) in err.
 */
rd_kafka_conf_t *kconf_new(const struct KafkaCommon *k, enum KafkaRole role, const char *const *fixed,
			   struct KafkaClient *client, char *err, size_t errsize);

/* Creates the handle; logs go to the main queue (served by the pump). */
rd_kafka_t *kconf_handle(rd_kafka_conf_t *conf, enum KafkaRole role, char *err, size_t errsize);

/* The label of a handle created by kconf_handle. */
const char *kafka_label(const rd_kafka_t *rk);

/*
 * Drives a librdkafka queue from the event loop: librdkafka writes to a
 * pipe when the queue becomes non-empty, and cb runs on the loop to serve
 * it (rd_kafka_poll / rd_kafka_consumer_poll).  cb also runs once right
 * after setup, for what was queued before.  The pump owns queue from then
 * on (also when setup fails).
 */
struct KafkaPump {
	int fds[2];
	struct event ev;
	struct event kick;
	rd_kafka_queue_t *queue;
	void (*cb)(void *arg);
	void *arg;
	bool armed;
};

bool kpump_setup(struct KafkaPump *p, struct event_base *base, rd_kafka_queue_t *queue, void (*cb)(void *arg),
		 void *arg, char *err, size_t errsize);
/* Make cb run soon from the loop (more may be queued than was served). */
void kpump_kick(struct KafkaPump *p);
void kpump_cleanup(struct KafkaPump *p);

#endif
