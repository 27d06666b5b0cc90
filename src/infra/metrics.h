/*
 * Prometheus metrics: counters, gauges read on demand, and latency
 * histograms, rendered in the text exposition format for GET /metrics.
 * Single-threaded like the rest of the daemon.
 */
#ifndef CHARGEGATE_METRICS_H
#define CHARGEGATE_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct MetricsHistogram;

/* A counter series; name and labels (e.g. "code=\"202\"", or NULL) are copied. */
uint64_t *metrics_counter(const char *name, const char *labels, const char *help);

/* A gauge whose value fn returns at scrape time. */
void metrics_gauge(const char *name, const char *labels, const char *help, double (*fn)(void *), void *arg);

/* A gauge that reads the double at value (which must outlive the series, or be forgotten). */
void metrics_gauge_value(const char *name, const char *labels, const char *help, const double *value);

/* Drops the gauges whose argument lies inside [owner, owner + size): for an owner about to be freed. */
void metrics_forget_gauges(const void *owner, size_t size);

/* A histogram with default latency buckets (1 ms .. 10 s). */
struct MetricsHistogram *metrics_histogram(const char *name, const char *labels, const char *help);
void metrics_observe(struct MetricsHistogram *h, double seconds);

void metrics_render(struct evbuffer *out);

struct HttpExchange;
/* Answers GET /metrics with metrics_render() (the API's and the status page's address). */
void metrics_serve(struct HttpExchange *x);

/* Drops every series (tests and clean shutdown under leak checkers). */
void metrics_cleanup(void);

#endif
