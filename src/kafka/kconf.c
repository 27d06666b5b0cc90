#include "autoconfig.h"

#include "kafka/kafka.h"

#include "infra/alloc.h"
#include "infra/log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Defaults chargegate chooses; kafka.property.* may change them. */
static const char *const producer_defaults[] = {
	"message.timeout.ms", "30000",		/* a lease outlives it: see producer.c */
	"linger.ms", "5",
	"partitioner", "murmur2_random",	/* the Java clients' partitioning of keys */
	NULL,
};

static const char *const consumer_defaults[] = {
	"auto.offset.reset", "earliest",	/* a new group must not skip what the relay published before */
	"allow.auto.create.topics", "true",
	"fetch.wait.max.ms", "100",
	"session.timeout.ms", "10000",		/* a killed daemon's partitions move on within seconds */
	"queued.max.messages.kbytes", "16384",
	NULL,
};

/* Properties chargegate sets itself; a different value is refused at start. */
struct Reserved {
	const char *name;
	const char *value;	/* the only accepted value; NULL: never settable */
	const char *alt;	/* another spelling of value */
	const char *why;
};

static const struct Reserved reserved[] = {
	{ "bootstrap.servers", NULL, NULL, "set kafka.bootstrap_servers instead" },
	{ "metadata.broker.list", NULL, NULL, "set kafka.bootstrap_servers instead" },
	{ "group.id", NULL, NULL, "each subscription is its own consumer group, {kafka.topic_prefix}{subscription}" },
	{ "enable.auto.commit", "false", NULL, "offsets are committed only after the handler's transaction committed" },
	{ "enable.auto.offset.store", "false", NULL,
	  "offsets are committed only after the handler's transaction committed" },
	{ "enable.idempotence", "true", NULL, "the producer is always idempotent" },
	{ "acks", "all", "-1", "the producer always waits for all in-sync replicas" },
	{ "request.required.acks", "all", "-1", "the producer always waits for all in-sync replicas" },
	{ "log.queue", NULL, NULL, "librdkafka's log goes through chargegate's" },
};

static const struct Reserved *find_reserved(const char *name)
{
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		if (strcmp(reserved[i].name, name) == 0)
			return &reserved[i];
	}
	return NULL;
}

static bool set_one(rd_kafka_conf_t *conf, const char *name, const char *value, const char *shown_as, char *err,
		    size_t errsize)
{
	char why[512];

	if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) == RD_KAFKA_CONF_OK)
		return true;
	snprintf(err, errsize, "%s: %s", shown_as, why);
	return false;
}

static bool set_list(rd_kafka_conf_t *conf, const char *const *pairs, char *err, size_t errsize)
{
	for (; pairs && pairs[0]; pairs += 2) {
		if (!set_one(conf, pairs[0], pairs[1], pairs[0], err, errsize))
			return false;
	}
	return true;
}

/* The property's name for role, or NULL when its prefix gives it to the other role. */
static const char *for_role(const char *name, enum KafkaRole role)
{
	if (strncmp(name, "producer.", 9) == 0)
		return role == KAFKA_PRODUCER ? name + 9 : NULL;
	if (strncmp(name, "consumer.", 9) == 0)
		return role == KAFKA_CONSUMER ? name + 9 : NULL;
	return name;
}

static bool set_user(rd_kafka_conf_t *conf, const struct KafkaCommon *k, enum KafkaRole role, char *err,
		     size_t errsize)
{
	char shown_as[256];

	for (int i = 0; i < k->nprops; i++) {
		const char *name = for_role(k->names[i], role);
		const struct Reserved *r;

		if (!name)
			continue;
		snprintf(shown_as, sizeof(shown_as), "kafka.property.%s", k->names[i]);
		r = find_reserved(name);
		if (r && !(r->value && (strcasecmp(k->values[i], r->value) == 0 ||
					(r->alt && strcasecmp(k->values[i], r->alt) == 0)))) {
			snprintf(err, errsize, "%s cannot be set to \"%s\": %s", shown_as, k->values[i], r->why);
			return false;
		}
		if (!set_one(conf, name, k->values[i], shown_as, err, errsize))
			return false;
	}
	return true;
}

static int syslog_to_level(int level)
{
	if (level <= 3)
		return LOG_LVL_ERROR;
	if (level == 4)
		return LOG_LVL_WARNING;
	if (level <= 6)
		return LOG_LVL_INFO;
	return LOG_LVL_DEBUG;
}

/* The client's subscription as a field (none for the producer). */
static const struct LogFields *client_fields(const rd_kafka_t *rk, struct LogFields *f)
{
	const struct KafkaClient *c = rd_kafka_opaque(rk);

	*f = (struct LogFields){ .subscription = c ? c->subscription : NULL };
	return f;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	enum LogLevel lvl = syslog_to_level(level);
	struct LogFields f;
	char clean[1024];

	if (lvl > log_level())
		return;
	log_at(lvl, client_fields(rk, &f), "%s: librdkafka %s: %s", kafka_label(rk), fac,
	       log_sanitize(clean, sizeof(clean), buf, strlen(buf)));
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct LogFields f;
	char clean[1024];

	log_sanitize(clean, sizeof(clean), reason, strlen(reason));
	if (err == RD_KAFKA_RESP_ERR__FATAL)
		log_error_f(client_fields(rk, &f), "%s: fatal error: %s", kafka_label(rk), clean);
	else
		log_warning_f(client_fields(rk, &f), "%s: %s: %s", kafka_label(rk),
			      rd_kafka_err2name((rd_kafka_resp_err_t)err), clean);
}

rd_kafka_conf_t *kconf_new(const struct KafkaCommon *k, enum KafkaRole role, const char *const *fixed,
			   struct KafkaClient *client, char *err, size_t errsize)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char client_id[160];

	if (!conf) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	snprintf(client_id, sizeof(client_id), "chargegate-%s", k->host_pid);
	for (char *c = client_id; *c; c++) {
		if (!isalnum((unsigned char)*c) && *c != '.' && *c != '-' && *c != '_')
			*c = '-';
	}
	if (!*k->bootstrap) {
		snprintf(err, errsize, "kafka.bootstrap_servers is not set (CHARGEGATE_KAFKA_BOOTSTRAP_SERVERS)");
		goto fail;
	}
	if (!set_one(conf, "client.id", client_id, "client.id", err, errsize) ||
	    !set_list(conf, role == KAFKA_PRODUCER ? producer_defaults : consumer_defaults, err, errsize) ||
	    !set_one(conf, "bootstrap.servers", k->bootstrap, "kafka.bootstrap_servers", err, errsize) ||
	    !set_user(conf, k, role, err, errsize) || !set_list(conf, fixed, err, errsize) ||
	    !set_one(conf, "log.queue", "true", "log.queue", err, errsize))
		goto fail;
	rd_kafka_conf_set_log_cb(conf, log_cb);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	rd_kafka_conf_set_opaque(conf, client);
	return conf;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

rd_kafka_t *kconf_handle(rd_kafka_conf_t *conf, enum KafkaRole role, char *err, size_t errsize)
{
	char why[512];
	rd_kafka_t *rk = rd_kafka_new(role == KAFKA_PRODUCER ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER, conf, why,
				      sizeof(why));
	rd_kafka_resp_err_t e;
	struct LogFields f;

	if (!rk) {
		rd_kafka_conf_destroy(conf);	/* rd_kafka_new owns conf only on success */
		snprintf(err, errsize, "%s", why);
		return NULL;
	}
	e = rd_kafka_set_log_queue(rk, NULL);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_warning_f(client_fields(rk, &f), "%s: could not route librdkafka's log to the main queue: %s",
			      kafka_label(rk), rd_kafka_err2str(e));
	return rk;
}

const char *kafka_label(const rd_kafka_t *rk)
{
	const struct KafkaClient *c = rd_kafka_opaque(rk);

	return c ? c->label : "kafka";
}

/* --- the pump -------------------------------------------------------------------- */

static void pump_readable(evutil_socket_t fd, short what, void *arg)
{
	struct KafkaPump *p = arg;
	char buf[256];
	ssize_t n;

	do
		n = read(p->fds[0], buf, sizeof(buf));
	while (n > 0 || (n < 0 && errno == EINTR));
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
		log_error("kafka: could not read the queue's wake-up pipe: %s", strerror(errno));
	p->cb(p->arg);
}

static void pump_kicked(evutil_socket_t fd, short what, void *arg)
{
	struct KafkaPump *p = arg;

	p->cb(p->arg);
}

bool kpump_setup(struct KafkaPump *p, struct event_base *base, rd_kafka_queue_t *queue, void (*cb)(void *arg),
		 void *arg, char *err, size_t errsize)
{
	memset(p, 0, sizeof(*p));
	p->fds[0] = p->fds[1] = -1;
	if (!queue) {
		snprintf(err, errsize, "librdkafka gave no queue to watch");
		return false;
	}
	if (pipe2(p->fds, O_NONBLOCK | O_CLOEXEC) != 0) {
		snprintf(err, errsize, "could not create a pipe for librdkafka's queue: %s", strerror(errno));
		rd_kafka_queue_destroy(queue);
		return false;
	}
	p->queue = queue;
	p->cb = cb;
	p->arg = arg;
	event_assign(&p->ev, base, p->fds[0], EV_READ | EV_PERSIST, pump_readable, p);
	event_assign(&p->kick, base, -1, 0, pump_kicked, p);
	if (event_add(&p->ev, NULL) != 0) {
		snprintf(err, errsize, "could not watch librdkafka's queue pipe");
		close(p->fds[0]);
		close(p->fds[1]);
		rd_kafka_queue_destroy(queue);
		return false;
	}
	p->armed = true;
	rd_kafka_queue_io_event_enable(queue, p->fds[1], "1", 1);
	kpump_kick(p);	/* what was queued before the pipe was in place */
	return true;
}

void kpump_kick(struct KafkaPump *p)
{
	if (p->armed)
		event_active(&p->kick, EV_TIMEOUT, 0);
}

void kpump_cleanup(struct KafkaPump *p)
{
	if (!p->armed)
		return;
	rd_kafka_queue_io_event_enable(p->queue, -1, NULL, 0);
	event_del(&p->ev);
	event_del(&p->kick);
	close(p->fds[0]);
	close(p->fds[1]);
	rd_kafka_queue_destroy(p->queue);
	p->armed = false;
}

