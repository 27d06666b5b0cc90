/*
 * cg-kafka-mock: a librdkafka mock cluster for the Kafka tests and
 * benchmarks.  Starts a cluster of N brokers (default 3) on loopback,
 * prints its bootstrap address on stdout (one line, flushed) and lives
 * until SIGTERM or SIGINT.  Other processes (chargegated, kcat) connect to
 * it over the real Kafka protocol.  Not installed.
 *
 *   cg-kafka-mock [BROKERS]
 */
#include "autoconfig.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* The handle the cluster hangs off; it never talks to a broker itself. */
static rd_kafka_t *handle_new(void)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[512];
	rd_kafka_t *rk;

	if (!conf) {
		fprintf(stderr, "cg-kafka-mock: out of memory\n");
		exit(1);
	}
	if (rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "cg-kafka-mock: %s\n", err);
		exit(1);
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk) {
		fprintf(stderr, "cg-kafka-mock: could not create the librdkafka handle: %s\n", err);
		exit(1);
	}
	return rk;
}

int main(int argc, char **argv)
{
	int brokers = argc > 1 ? atoi(argv[1]) : 3;
	struct sigaction sa;
	rd_kafka_mock_cluster_t *mc;
	rd_kafka_t *rk;

	if (brokers < 1 || brokers > 16) {
		fprintf(stderr, "usage: cg-kafka-mock [BROKERS (1-16, default 3)]\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	rk = handle_new();
	mc = rd_kafka_mock_cluster_new(rk, brokers);
	if (!mc) {
		fprintf(stderr, "cg-kafka-mock: could not start a mock cluster of %d brokers\n", brokers);
		rd_kafka_destroy(rk);
		return 1;
	}
	printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);
	while (!stop)
		pause();
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}
