#include "autoconfig.h"

#include "infra/log.h"
#include "infra/redact.h"

#include <check.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_run.h"

#define TS "2026-11-30T10:00:00.123Z"

/* One line as log_write writes it, in a buffer the caller frees. */
static char *render(enum LogFormat format, enum LogLevel level, const struct LogFields *f, const char *msg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(out);
	log_write(out, format, TS, 42, level, f, msg);
	ck_assert_int_eq(fclose(out), 0);
	return buf;
}

/* The JSON line, parsed: it must be one line, and valid JSON. */
static struct json_object *render_json(const struct LogFields *f, const char *msg)
{
	char *line = render(LOG_FMT_JSON, LOG_LVL_INFO, f, msg);
	size_t n = strlen(line);
	struct json_tokener *tok = json_tokener_new();
	struct json_object *obj;

	ck_assert_msg(n > 0 && line[n - 1] == '\n' && memchr(line, '\n', n - 1) == NULL, "not one line: %s", line);
	obj = json_tokener_parse_ex(tok, line, (int)n - 1);
	ck_assert_msg(obj && json_tokener_get_error(tok) == json_tokener_success &&
			      json_tokener_get_parse_end(tok) == n - 1,
		      "not valid JSON: %s", line);
	json_tokener_free(tok);
	free(line);
	return obj;
}

static const char *member(struct json_object *obj, const char *name)
{
	struct json_object *v;

	return json_object_object_get_ex(obj, name, &v) ? json_object_get_string(v) : NULL;
}

START_TEST(json_line_without_fields_has_only_the_base_members)
{
	struct json_object *obj = render_json(NULL, "pool main: database reachable");

	ck_assert_str_eq(member(obj, "ts"), TS);
	ck_assert_str_eq(member(obj, "level"), "info");
	ck_assert_str_eq(member(obj, "pid"), "42");
	ck_assert_str_eq(member(obj, "msg"), "pool main: database reachable");
	ck_assert_int_eq(json_object_object_length(obj), 4);
	json_object_put(obj);
}
END_TEST

START_TEST(json_line_carries_the_fields_it_is_given_and_no_others)
{
	struct json_object *obj = render_json(LOG_F(.request_id = "0b5c3f7e-5a4c-4e0b-9a3f-6f1d2c3b4a59",
						    .destination = "http://127.0.0.1:9", .attempt = 2,
						    .error_class = "http_500"),
					      "callback: http_500");
	struct json_object *v;

	ck_assert_str_eq(member(obj, "request_id"), "0b5c3f7e-5a4c-4e0b-9a3f-6f1d2c3b4a59");
	ck_assert_str_eq(member(obj, "destination"), "http://127.0.0.1:9");
	ck_assert_str_eq(member(obj, "error_class"), "http_500");
	ck_assert(json_object_object_get_ex(obj, "attempt", &v) && json_object_is_type(v, json_type_int));
	ck_assert_int_eq(json_object_get_int(v), 2);
	ck_assert_ptr_null(member(obj, "event_id"));
	ck_assert_ptr_null(member(obj, "subscription"));
	ck_assert_int_eq(json_object_object_length(obj), 8);
	json_object_put(obj);
}
END_TEST

START_TEST(json_escapes_quotes_backslashes_and_control_bytes)
{
	const char msg[] = "say \"hi\" \\ there\n\r\t\x01\x1f\x7f end";
	struct json_object *obj = render_json(LOG_F(.subscription = "a\"b\\c\nd"), msg);

	ck_assert_str_eq(member(obj, "msg"), msg);
	ck_assert_str_eq(member(obj, "subscription"), "a\"b\\c\nd");
	json_object_put(obj);
}
END_TEST

START_TEST(json_keeps_utf8_and_replaces_bytes_that_are_not)
{
	/* é, €, 😀 pass; a lone continuation byte, a cut sequence, an overlong '/' and a surrogate do not */
	struct json_object *obj = render_json(LOG_F(.destination = "x\xff"),
					      "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \x80 \xe2\x82 \xc0\xaf \xed\xa0\x80 z");

	ck_assert_str_eq(member(obj, "msg"), "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd "
					     "\xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd z");
	ck_assert_str_eq(member(obj, "destination"), "x\xef\xbf\xbd");
	json_object_put(obj);
}
END_TEST

START_TEST(json_stays_valid_at_the_largest_message_and_cuts_long_fields)
{
	char msg[4096], field[2000];
	struct json_object *obj;

	memset(msg, '\x01', sizeof(msg) - 1);	/* every byte escaped: six times as long */
	msg[sizeof(msg) - 1] = '\0';
	memset(field, '"', sizeof(field) - 1);
	field[sizeof(field) - 1] = '\0';
	obj = render_json(LOG_F(.request_id = field, .event_id = field, .subscription = field, .destination = field,
				.error_class = field, .attempt = 7),
			  msg);
	ck_assert_str_eq(member(obj, "msg"), msg);
	ck_assert_uint_eq(strlen(member(obj, "destination")), 512);
	ck_assert_str_eq(member(obj, "attempt"), "7");
	json_object_put(obj);
}
END_TEST

START_TEST(text_line_appends_fields_readably)
{
	char *line = render(LOG_FMT_TEXT, LOG_LVL_WARNING,
			    LOG_F(.request_id = "r1", .event_id = "e1", .subscription = "callbacks", .attempt = 3,
				  .error_class = "timeout"),
			    "callback: timeout\n(second line)");

	ck_assert_str_eq(line, TS " [42] warning: callback: timeout (second line) request_id=r1 event_id=e1 "
				  "subscription=callbacks attempt=3 error_class=timeout\n");
	free(line);
}
END_TEST

START_TEST(text_line_quotes_and_escapes_odd_field_values)
{
	char *line = render(LOG_FMT_TEXT, LOG_LVL_INFO, LOG_F(.destination = "a b\"c\x01\xff"), "m");

	ck_assert_str_eq(line, TS " [42] info: m destination=\"a b\\\"c\\x01\\xff\"\n");
	free(line);
}
END_TEST

START_TEST(text_line_without_fields_is_unchanged)
{
	char *line = render(LOG_FMT_TEXT, LOG_LVL_ERROR, NULL, "the event loop failed");

	ck_assert_str_eq(line, TS " [42] error: the event loop failed\n");
	free(line);
}
END_TEST

/* --- redact_conninfo -------------------------------------------------------- */

static void assert_redacted(const char *conninfo, const char *text, const char *expected)
{
	char out[256];

	ck_assert_str_eq(redact_conninfo(out, sizeof(out), text, conninfo), expected);
}

START_TEST(redact_masks_the_password_of_a_uri_as_libpq_echoes_it)
{
	assert_redacted("postgresql://cg:s3cr%ZZet@db.example:5432/cg",
			"invalid percent-encoded token: \"s3cr%ZZet\"", "invalid percent-encoded token: \"***\"");
	/* a password with '@' and '/' in it, the whole URI echoed */
	assert_redacted("postgres://cg:p@ss/w@db/cg", "bad URI: \"postgres://cg:p@ss/w@db/cg\"",
			"bad URI: \"postgres://cg:***@db/cg\"");
	assert_redacted("postgresql://db/cg?user=cg&password=hunter2&sslmode=x", "x hunter2 y", "x *** y");
}
END_TEST

START_TEST(redact_masks_keyword_passwords_quoted_or_not)
{
	assert_redacted("host=db password = 'a b\\'c' user=cg", "near 'a b\\'c' user", "near *** user");
	assert_redacted("host=db password=hunter2 user=cg", "password=hunter2 user", "password=*** user");
}
END_TEST

START_TEST(redact_leaves_text_alone_without_a_password_and_cuts_to_fit)
{
	char small[8];

	assert_redacted("postgresql://cg@db/cg", "connection refused", "connection refused");
	assert_redacted(NULL, "connection refused", "connection refused");
	ck_assert_str_eq(redact_conninfo(small, sizeof(small), "0123456789", NULL), "0123456");
}
END_TEST

START_TEST(redact_url_masks_only_the_password)
{
	char out[128];

	ck_assert_str_eq(redact_url(out, sizeof(out), "https://svc:t0p-secret@authz.internal:8443/authorize?x=1"),
			 "https://svc:***@authz.internal:8443/authorize?x=1");
	ck_assert_str_eq(redact_url(out, sizeof(out), "https://svc@authz.internal/authorize"),
			 "https://svc@authz.internal/authorize");
	ck_assert_str_eq(redact_url(out, sizeof(out), "http://127.0.0.1:8081/cb"), "http://127.0.0.1:8081/cb");
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("format");

	tcase_add_test(tc, json_line_without_fields_has_only_the_base_members);
	tcase_add_test(tc, json_line_carries_the_fields_it_is_given_and_no_others);
	tcase_add_test(tc, json_escapes_quotes_backslashes_and_control_bytes);
	tcase_add_test(tc, json_keeps_utf8_and_replaces_bytes_that_are_not);
	tcase_add_test(tc, json_stays_valid_at_the_largest_message_and_cuts_long_fields);
	tcase_add_test(tc, text_line_appends_fields_readably);
	tcase_add_test(tc, text_line_quotes_and_escapes_odd_field_values);
	tcase_add_test(tc, text_line_without_fields_is_unchanged);
	suite_add_tcase(s, tc);
	tc = tcase_create("redact");
	tcase_add_test(tc, redact_masks_the_password_of_a_uri_as_libpq_echoes_it);
	tcase_add_test(tc, redact_masks_keyword_passwords_quoted_or_not);
	tcase_add_test(tc, redact_leaves_text_alone_without_a_password_and_cuts_to_fit);
	tcase_add_test(tc, redact_url_masks_only_the_password);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(log_suite());
}
