#include "autoconfig.h"

#include "infra/metrics.h"

#include "infra/alloc.h"
#include "infra/httpserver.h"
#include "infra/log.h"

#include <event2/buffer.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES 256

static const double bucket_bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
					0.1,   0.25,   0.5,   1,    2.5,   5, 10 };
#define NBUCKETS (sizeof(bucket_bounds) / sizeof(bucket_bounds[0]))

enum SeriesKind { SERIES_COUNTER, SERIES_GAUGE, SERIES_HISTOGRAM };

struct MetricsHistogram {
	uint64_t buckets[NBUCKETS];
	uint64_t count;
	double sum;
};

struct Series {
	enum SeriesKind kind;
	char *name;
	char *labels;
	char *help;
	uint64_t counter;
	double (*gauge_fn)(void *);
	void *gauge_arg;
	struct MetricsHistogram hist;
};

static struct Series *series[MAX_SERIES];
static int nseries;

static struct Series *series_add(enum SeriesKind kind, const char *name, const char *labels, const char *help)
{
	struct Series *s;

	if (nseries == MAX_SERIES)
		fatal("metrics: more than %d series registered", MAX_SERIES);
	s = xcalloc(1, sizeof(*s));
	s->name = xstrdup(name);
	s->labels = xstrdup(labels ? labels : "");
	s->help = xstrdup(help);
	s->kind = kind;
	series[nseries++] = s;
	return s;
}

uint64_t *metrics_counter(const char *name, const char *labels, const char *help)
{
	return &series_add(SERIES_COUNTER, name, labels, help)->counter;
}

void metrics_gauge(const char *name, const char *labels, const char *help, double (*fn)(void *), void *arg)
{
	struct Series *s = series_add(SERIES_GAUGE, name, labels, help);

	s->gauge_fn = fn;
	s->gauge_arg = arg;
}

static double read_value(void *arg)
{
	return *(const double *)arg;
}

void metrics_gauge_value(const char *name, const char *labels, const char *help, const double *value)
{
	metrics_gauge(name, labels, help, read_value, (void *)value);
}

static void series_free(struct Series *s)
{
	free(s->name);
	free(s->labels);
	free(s->help);
	free(s);
}

void metrics_forget_gauges(const void *owner, size_t size)
{
	uintptr_t lo = (uintptr_t)owner;
	int kept = 0;

	for (int i = 0; i < nseries; i++) {
		uintptr_t arg = (uintptr_t)series[i]->gauge_arg;

		if (series[i]->kind == SERIES_GAUGE && arg >= lo && arg - lo < size)
			series_free(series[i]);
		else
			series[kept++] = series[i];
	}
	nseries = kept;
}

struct MetricsHistogram *metrics_histogram(const char *name, const char *labels, const char *help)
{
	return &series_add(SERIES_HISTOGRAM, name, labels, help)->hist;
}

void metrics_observe(struct MetricsHistogram *h, double seconds)
{
	for (size_t i = 0; i < NBUCKETS; i++) {
		if (seconds <= bucket_bounds[i])
			h->buckets[i]++;
	}
	h->count++;
	h->sum += seconds;
}

static void render_histogram(struct evbuffer *out, const struct Series *s)
{
	const char *sep = s->labels[0] ? "," : "";

	for (size_t i = 0; i < NBUCKETS; i++)
		evbuffer_add_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", s->name, s->labels, sep,
				    bucket_bounds[i], (unsigned long long)s->hist.buckets[i]);
	evbuffer_add_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", s->name, s->labels, sep,
			    (unsigned long long)s->hist.count);
	evbuffer_add_printf(out, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", s->name, s->labels, s->hist.sum,
			    s->name, s->labels, (unsigned long long)s->hist.count);
}

static const char *const kind_names[] = { "counter", "gauge", "histogram" };

static void render_series(struct evbuffer *out, const struct Series *s)
{
	if (s->kind == SERIES_COUNTER)
		evbuffer_add_printf(out, "%s{%s} %llu\n", s->name, s->labels, (unsigned long long)s->counter);
	else if (s->kind == SERIES_GAUGE)
		evbuffer_add_printf(out, "%s{%s} %g\n", s->name, s->labels, s->gauge_fn(s->gauge_arg));
	else
		render_histogram(out, s);
}

/* Series of one name may be registered apart; the format wants them together. */
void metrics_render(struct evbuffer *out)
{
	for (int i = 0; i < nseries; i++) {
		bool seen = false;

		for (int j = 0; j < i && !seen; j++)
			seen = strcmp(series[j]->name, series[i]->name) == 0;
		if (seen)
			continue;
		evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", series[i]->name, series[i]->help,
				    series[i]->name, kind_names[series[i]->kind]);
		for (int k = i; k < nseries; k++) {
			if (strcmp(series[k]->name, series[i]->name) == 0)
				render_series(out, series[k]);
		}
	}
}

void metrics_cleanup(void)
{
	for (int i = 0; i < nseries; i++)
		series_free(series[i]);
	nseries = 0;
}

void metrics_serve(struct HttpExchange *x)
{
	struct evbuffer *buf = evbuffer_new();

	if (!buf)
		fatal("out of memory");
	metrics_render(buf);
	httpx_reply(x, 200, "text/plain; version=0.0.4", buf);
	evbuffer_free(buf);
}
