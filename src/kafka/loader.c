#include "autoconfig.h"

#include "kafka/loader.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CHARGEGATE_KAFKA_MODULE_PATH
#define CHARGEGATE_KAFKA_MODULE_PATH "/usr/lib/chargegate/kafka.so"
#endif

const char *transport_kafka_module_path(void)
{
	const char *env = getenv(KAFKA_MODULE_ENV);

	return env && *env ? env : CHARGEGATE_KAFKA_MODULE_PATH;
}

static void missing_module(const char *path, char *err, size_t errsize)
{
	snprintf(err, errsize,
		 "transport.kind = kafka needs the Kafka module, but \"%s\" does not exist: this chargegate was "
		 "built without it; rebuild with ./configure --enable-kafka (needs librdkafka-dev) or install the "
		 "chargegate-kafka package (or point %s at the module)",
		 path, KAFKA_MODULE_ENV);
}

bool transport_kafka_available(char *err, size_t errsize)
{
	const char *path = transport_kafka_module_path();

	if (access(path, F_OK) == 0)
		return true;
	missing_module(path, err, errsize);
	return false;
}

struct Transport *transport_load_kafka(struct event_base *base, struct PgPool *pool,
				       const struct KafkaSettings *settings, char *err, size_t errsize)
{
	const char *path = transport_kafka_module_path();
	kafka_transport_new_fn entry;
	void *handle;
	const char *why;

	if (!transport_kafka_available(err, errsize))
		return NULL;
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		why = dlerror();
		snprintf(err, errsize, "could not load the Kafka module \"%s\": %s", path, why ? why : "unknown error");
		return NULL;
	}
	*(void **)(&entry) = dlsym(handle, KAFKA_MODULE_ENTRY);
	if (!entry) {
		why = dlerror();
		snprintf(err, errsize, "\"%s\" is not a chargegate Kafka module (no %s: %s)", path, KAFKA_MODULE_ENTRY,
			 why ? why : "unknown error");
		dlclose(handle);
		return NULL;
	}
	/* the module stays loaded: librdkafka's threads and our callbacks live in it until exit */
	return entry(base, pool, settings, err, errsize);
}
