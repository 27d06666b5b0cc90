/*
 * Loading the optional Kafka transport: the one part of src/kafka/ built
 * into the core (always), so that everything Kafka lives in one folder.
 * The module (the rest of src/kafka/, built by
 * ./configure --enable-kafka and installed as $(pkglibdir)/kafka.so) is the
 * only code linked against librdkafka; the daemon dlopen()s it when
 * transport.kind = kafka and calls its one entry point.  The module calls
 * back into the daemon (log, pgpool, the PostgreSQL transport): the
 * programs that load it are linked with -export-dynamic.
 */
#ifndef CHARGEGATE_KAFKA_LOADER_H
#define CHARGEGATE_KAFKA_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct PgPool;
struct Transport;

/* Bumped whenever struct KafkaSettings, struct TransportOps or the entry point change. */
#define KAFKA_MODULE_ABI 3

/* The entry point the module exports, and its type. */
#define KAFKA_MODULE_ENTRY "chargegate_kafka_transport_new"

/* Overrides the module's path (tests, or a module outside pkglibdir). */
#define KAFKA_MODULE_ENV "CHARGEGATE_KAFKA_MODULE"

struct KafkaSettings {
	int abi;			/* KAFKA_MODULE_ABI */
	const char *bootstrap_servers;	/* kafka.bootstrap_servers */
	const char *topic_prefix;	/* kafka.topic_prefix */
	int nproperties;		/* kafka.property.NAME = VALUE pairs */
	char *const *property_names;
	char *const *property_values;
	bool listen;			/* queue.listen */
	int64_t lease_ms;		/* queue.lease */
};

typedef struct Transport *(*kafka_transport_new_fn)(struct event_base *base, struct PgPool *pool,
						   const struct KafkaSettings *settings, char *err, size_t errsize);

/*
 * Load the module ($CHARGEGATE_KAFKA_MODULE, else the installed one) and
 * create the Kafka transport.  NULL with the reason in err when the module
 * is missing (the message says how to get it), does not fit this daemon, or
 * refuses the settings (e.g. librdkafka's own message for a bad property).
 * The module stays loaded until the process exits.
 */
struct Transport *transport_load_kafka(struct event_base *base, struct PgPool *pool,
				       const struct KafkaSettings *settings, char *err, size_t errsize);

/* The path transport_load_kafka() would try. */
const char *transport_kafka_module_path(void);

/* Is the module there?  false with how to get it in err. */
bool transport_kafka_available(char *err, size_t errsize);

#endif
