#include "autoconfig.h"

#include "infra/metrics.h"
#include "unit_run.h"

#include <check.h>
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

/* The exposition, as a string the caller frees. */
static char *rendered(void)
{
	struct evbuffer *buf = evbuffer_new();
	size_t len;
	char *text;

	ck_assert_ptr_nonnull(buf);
	metrics_render(buf);
	len = evbuffer_get_length(buf);
	text = calloc(1, len + 1);
	ck_assert_ptr_nonnull(text);
	evbuffer_remove(buf, text, len);
	evbuffer_free(buf);
	return text;
}

struct Owner {
	double a, b;
};

START_TEST(gauge_value_reads_the_owners_double_at_scrape_time)
{
	struct Owner o = { 1, 2 };
	char *text;

	metrics_gauge_value("t_gauge", "k=\"a\"", "A test gauge.", &o.a);
	o.a = 42.5;
	text = rendered();
	ck_assert_msg(strstr(text, "# TYPE t_gauge gauge\nt_gauge{k=\"a\"} 42.5\n") != NULL, "got:\n%s", text);
	free(text);
	metrics_cleanup();
}
END_TEST

START_TEST(forget_drops_only_the_owners_gauges)
{
	struct Owner o = { 1, 2 }, other = { 3, 4 };
	uint64_t *c = metrics_counter("t_total", NULL, "A test counter.");
	char *text;

	metrics_gauge_value("t_gauge", "k=\"a\"", "A test gauge.", &o.a);
	metrics_gauge_value("t_gauge", "k=\"b\"", "A test gauge.", &o.b);
	metrics_gauge_value("t_gauge", "k=\"other\"", "A test gauge.", &other.a);
	*c = 7;
	metrics_forget_gauges(&o, sizeof(o));
	text = rendered();
	ck_assert_msg(strstr(text, "k=\"a\"") == NULL && strstr(text, "k=\"b\"") == NULL, "still there:\n%s", text);
	ck_assert_msg(strstr(text, "t_gauge{k=\"other\"} 3\n") != NULL, "the other owner's gauge went:\n%s", text);
	ck_assert_msg(strstr(text, "t_total{} 7\n") != NULL, "the counter went:\n%s", text);
	free(text);
	metrics_cleanup();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("gauges");

	tcase_add_test(tc, gauge_value_reads_the_owners_double_at_scrape_time);
	tcase_add_test(tc, forget_drops_only_the_owners_gauges);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
