#include "autoconfig.h"

#include "infra/json.h"
#include "infra/url.h"
#include "infra/uuid.h"

#include <check.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- json_parse_object ----------------------------------------------------- */

static void assert_rejected(const char *buf, size_t len, const char *expected)
{
	struct json_object *obj = (struct json_object *)&obj;
	char err[256] = "";

	ck_assert_msg(!json_parse_object(buf, len, &obj, err, sizeof(err)), "accepted: %.*s", (int)len, buf);
	ck_assert_ptr_null(obj);
	ck_assert_str_eq(err, expected);
}

#define REJECTS(lit, expected) assert_rejected(lit, sizeof(lit) - 1, expected)

START_TEST(parse_accepts_object_with_surrounding_whitespace)
{
	const char buf[] = " \t\r\n{\"a\": \"x\", \"b\": [1, 2.5, true, null]}\n ";
	struct json_object *obj = NULL;
	char err[128];

	ck_assert(json_parse_object(buf, sizeof(buf) - 1, &obj, err, sizeof(err)));
	ck_assert(json_object_is_type(obj, json_type_object));
	ck_assert_str_eq(json_get_string(obj, "a"), "x");
	json_object_put(obj);
}
END_TEST

START_TEST(parse_does_not_read_past_len)
{
	const char buf[] = "{\"a\":1}GARBAGE";
	struct json_object *obj = NULL;
	char err[128];

	ck_assert(json_parse_object(buf, 7, &obj, err, sizeof(err)));
	json_object_put(obj);
}
END_TEST

START_TEST(parse_reports_empty_body)
{
	REJECTS("", "body is empty");
	REJECTS(" \n\t", "body is empty");
}
END_TEST

START_TEST(parse_reports_truncated_body_with_offset)
{
	REJECTS("{\"station_id\": \"x\"", "body is not valid JSON: unexpected end of data at offset 18");
	REJECTS("{\"a\":tru", "body is not valid JSON: boolean expected at offset 8");
}
END_TEST

START_TEST(parse_rejects_trailing_garbage)
{
	REJECTS("{}x", "body is not valid JSON: unexpected character at offset 2");
	REJECTS("{} {}", "body is not valid JSON: unexpected character at offset 3");
}
END_TEST

START_TEST(parse_rejects_nul_bytes_anywhere)
{
	assert_rejected("{\"a\":1}\0", 8, "body is not valid JSON: NUL byte at offset 7");
	assert_rejected("{\"a\0\":1}", 8, "body is not valid JSON: NUL byte at offset 3");
	assert_rejected("\0{}", 3, "body is not valid JSON: NUL byte at offset 0");
}
END_TEST

START_TEST(parse_names_the_top_level_type_when_not_an_object)
{
	REJECTS("[1, 2]", "body is a JSON array, expected an object");
	REJECTS("\"station\"", "body is a JSON string, expected an object");
	REJECTS("123", "body is a JSON number, expected an object");
	REJECTS("1.5 ", "body is a JSON number, expected an object");
	REJECTS("true", "body is a JSON boolean, expected an object");
	REJECTS("null", "body is JSON null, expected an object");
}
END_TEST

START_TEST(parse_rejects_nesting_deeper_than_limit)
{
	char buf[200];
	size_t n = 0;
	struct json_object *obj = NULL;
	char err[128];

	buf[n++] = '{';
	memcpy(buf + n, "\"a\":", 4);
	n += 4;
	memset(buf + n, '[', 100);
	n += 100;
	ck_assert(!json_parse_object(buf, n, &obj, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "body is not valid JSON: nesting too deep at offset"));
}
END_TEST

START_TEST(parse_accepts_nesting_within_limit)
{
	char buf[100];
	size_t depth = JSON_MAX_DEPTH - 1, n = 0;
	struct json_object *obj = NULL;
	char err[128];

	memcpy(buf, "{\"a\":", 5);
	n = 5;
	memset(buf + n, '[', depth - 1);
	n += depth - 1;
	memset(buf + n, ']', depth - 1);
	n += depth - 1;
	buf[n++] = '}';
	ck_assert_msg(json_parse_object(buf, n, &obj, err, sizeof(err)), "%s", err);
	json_object_put(obj);
}
END_TEST

START_TEST(parse_rejects_what_json_c_strict_mode_lets_through)
{
	REJECTS("{'a':1}", "body is not valid JSON: unexpected character at offset 1");
	REJECTS("{\"a\":NaN}", "body is not valid JSON: unexpected character at offset 5");
	REJECTS("{\"a\":-Infinity}", "body is not valid JSON: unexpected character at offset 6");
	REJECTS("{\"a\":1.}", "body is not valid JSON: number expected at offset 7");
	REJECTS("{\"a\":\"x\ty\"}", "body is not valid JSON: control character in string at offset 7");
	REJECTS("{\"a\":\"x\ny\"}", "body is not valid JSON: control character in string at offset 7");
}
END_TEST

START_TEST(parse_rejects_invalid_json_syntax)
{
	REJECTS("{a:1}", "body is not valid JSON: quoted object property name expected at offset 1");
	REJECTS("{\"a\":1,}", "body is not valid JSON: unexpected character at offset 7");
	REJECTS("{\"a\":01}", "body is not valid JSON: number expected at offset 7");
	REJECTS("{\"a\":\"\\x41\"}", "body is not valid JSON: invalid string sequence at offset 7");
	REJECTS("{/*c*/}", "body is not valid JSON: quoted object property name expected at offset 1");
}
END_TEST

START_TEST(parse_rejects_invalid_utf8)
{
	REJECTS("{\"a\":\"\xff\"}", "body is not valid JSON: invalid utf-8 string at offset 6");
	REJECTS("{\"a\":\"\xc3\"}", "body is not valid JSON: invalid UTF-8 at offset 6");
	/* what json-c's own check lets through, anywhere in the document */
	REJECTS("{\"unknown\":\"\xc0\xaf\"}", "body is not valid JSON: invalid UTF-8 at offset 12");
	REJECTS("{\"unknown\":\"\xed\xa0\x80\"}", "body is not valid JSON: invalid UTF-8 at offset 12");
	REJECTS("{\"unknown\":\"\xf4\x90\x80\x80\"}", "body is not valid JSON: invalid UTF-8 at offset 12");
	REJECTS("{\"\xe0\x80\xaf\":1}", "body is not valid JSON: invalid UTF-8 at offset 2");
	REJECTS("{\"u\":[\"\\ud800\"]}", "body is not valid JSON: unpaired UTF-16 surrogate escape at offset 7");
	REJECTS("{\"u\":\"\\udc00\\ud800\"}", "body is not valid JSON: unpaired UTF-16 surrogate escape at offset 6");
	REJECTS("{\"u\":\"\\ud800x\"}", "body is not valid JSON: unpaired UTF-16 surrogate escape at offset 6");
}
END_TEST

START_TEST(parse_accepts_escapes_and_utf8_in_strings)
{
	struct json_object *pair = NULL;
	char perr[128];
	const char text[] = "{\"e\":\"\\ud83d\\ude00 \xf0\x9f\x98\x80 \xe2\x82\xac \xf4\x8f\xbf\xbf\"}";

	ck_assert_msg(json_parse_object(text, sizeof(text) - 1, &pair, perr, sizeof(perr)), "%s", perr);
	json_object_put(pair);
	const char buf[] = "{\"a\":\"\\\"\\\\\\/\\u00e9\xc3\xa9\\ud83d\\ude00\"}";
	struct json_object *obj = NULL;
	char err[128];

	ck_assert_msg(json_parse_object(buf, sizeof(buf) - 1, &obj, err, sizeof(err)), "%s", err);
	ck_assert_str_eq(json_get_string(obj, "a"), "\"\\/\xc3\xa9\xc3\xa9\xf0\x9f\x98\x80");
	json_object_put(obj);
}
END_TEST

START_TEST(parse_truncates_error_to_buffer)
{
	struct json_object *obj = NULL;
	char err[8];

	ck_assert(!json_parse_object("[]", 2, &obj, err, sizeof(err)));
	ck_assert_str_eq(err, "body is");
}
END_TEST

/* --- json builders --------------------------------------------------------- */

static bool unique_ok(const char *text)
{
	struct json_object *obj = NULL;
	char err[128] = "";
	bool ok = json_parse_object_unique(text, strlen(text), &obj, err, sizeof(err));

	ck_assert(ok == (obj != NULL));
	if (!ok)
		ck_assert_msg(strstr(err, "twice") || strstr(err, "JSON"), "unexpected error: %s", err);
	json_object_put(obj);
	return ok;
}

START_TEST(parse_unique_refuses_a_member_named_twice_at_any_depth)
{
	ck_assert(!unique_ok("{\"status\":\"allowed\",\"status\":\"not_allowed\"}"));
	ck_assert(!unique_ok("{\"status\":\"allowed\",\"st\\u0061tus\":\"allowed\"}"));
	ck_assert(!unique_ok("{\"a\":{\"x\":1,\"x\":1}}"));
	ck_assert(!unique_ok("{\"a\":[{},{\"x\":1,\"y\":2,\"x\":3}]}"));
	ck_assert(!unique_ok("{\"a\":{\"b\":1},\"a\":{\"b\":1}}"));
}
END_TEST

START_TEST(parse_unique_accepts_distinct_members_and_look_alikes)
{
	ck_assert(unique_ok("{\"status\":\"allowed\",\"reason\":\"a:b,{\\\"x\\\":1}\"}"));
	ck_assert(unique_ok("{\"a\":{\"x\":1},\"b\":{\"x\":1},\"x\":[{\"x\":{}}]}"));
	ck_assert(unique_ok("{\"Status\":1,\"status\":2}"));
	ck_assert(unique_ok("{}"));
	ck_assert(!unique_ok("[1]"));
	ck_assert(!unique_ok("{\"a\":"));
}
END_TEST

START_TEST(get_string_returns_null_for_missing_or_non_string_members)
{
	struct json_object *obj = json_tokener_parse("{\"s\":\"v\",\"n\":1,\"z\":null}");

	ck_assert_str_eq(json_get_string(obj, "s"), "v");
	ck_assert_ptr_null(json_get_string(obj, "n"));
	ck_assert_ptr_null(json_get_string(obj, "z"));
	ck_assert_ptr_null(json_get_string(obj, "missing"));
	ck_assert_ptr_null(json_get_string(NULL, "s"));
	json_object_put(obj);
}
END_TEST

START_TEST(builders_produce_compact_problem_document)
{
	struct json_object *doc = json_new_object();
	struct json_object *errors = json_new_array();
	struct json_object *e = json_new_object();
	const char *text;
	size_t len = 0;

	json_set_string(doc, "type", "https://chargegate.example/problems/validation");
	json_set_string(doc, "title", "invalid request");
	json_set_int(doc, "status", 400);
	json_set_string(doc, "detail", NULL);
	json_set_string(e, "field", "station_id");
	json_set_string(e, "detail", "is \"required\"");
	json_append(errors, e);
	json_set(doc, "errors", errors);
	json_set_int(doc, "status", 400);
	text = json_to_text(doc, &len);
	ck_assert_str_eq(text, "{\"type\":\"https://chargegate.example/problems/validation\","
			       "\"title\":\"invalid request\",\"status\":400,\"detail\":null,"
			       "\"errors\":[{\"field\":\"station_id\",\"detail\":\"is \\\"required\\\"\"}]}");
	ck_assert_uint_eq(len, strlen(text));
	ck_assert_ptr_eq(json_to_text(doc, NULL), text);
	json_object_put(doc);
}
END_TEST

/* --- uuid ------------------------------------------------------------------ */

#define UUID_OK(lit) ck_assert_msg(uuid_is_canonical(lit, sizeof(lit) - 1), "rejected %s", lit)
#define UUID_BAD(lit) ck_assert_msg(!uuid_is_canonical(lit, sizeof(lit) - 1), "accepted %s", lit)

START_TEST(uuid_accepts_canonical_form_in_either_case)
{
	UUID_OK("123e4567-e89b-12d3-a456-426614174000");
	UUID_OK("123E4567-E89B-12D3-A456-426614174ABC");
	UUID_OK("00000000-0000-0000-0000-000000000000");
	UUID_OK("aBcDeF01-2345-6789-abcd-EF0123456789");
}
END_TEST

START_TEST(uuid_rejects_other_forms)
{
	UUID_BAD("");
	UUID_BAD("123e4567-e89b-12d3-a456-42661417400");
	UUID_BAD("123e4567-e89b-12d3-a456-4266141740000");
	UUID_BAD("123e4567e89b12d3a456426614174000");
	UUID_BAD("{123e4567-e89b-12d3-a456-426614174000}");
	UUID_BAD("123e4567-e89b-12d3-a456_426614174000");
	UUID_BAD("123e4567-e89b-12d3-a4566-42661417400");
	UUID_BAD("g23e4567-e89b-12d3-a456-426614174000");
	UUID_BAD("123e4567-e89b-12d3-a456-42661417400 ");
	UUID_BAD("urn:uuid:123e4567-e89b-12d3-a456-4266");
	ck_assert(!uuid_is_canonical("123e4567-e89b-12d3-a456-426614174000\0", 37));
	ck_assert(!uuid_is_canonical("123e4567-e89b-12d3-a456-42661417400\0", 36));
	ck_assert(!uuid_is_canonical(NULL, 36));
}
END_TEST

START_TEST(uuid_generate_v4_produces_distinct_canonical_v4_uuids)
{
	char a[UUID_TEXT_LEN + 1], b[UUID_TEXT_LEN + 1];

	for (int i = 0; i < 1000; i++) {
		uuid_generate_v4(a);
		uuid_generate_v4(b);
		ck_assert_uint_eq(strlen(a), UUID_TEXT_LEN);
		ck_assert(uuid_is_canonical(a, strlen(a)));
		ck_assert_int_eq(a[14], '4');
		ck_assert_ptr_nonnull(strchr("89ab", a[19]));
		ck_assert_str_ne(a, b);
		for (int j = 0; j < UUID_TEXT_LEN; j++)
			ck_assert(!(a[j] >= 'A' && a[j] <= 'F'));
	}
}
END_TEST

/* --- url_check_callback ---------------------------------------------------- */

static void url_rejected(const char *url, size_t len, const char *expected)
{
	struct CallbackUrl cu;
	char err[160] = "";

	ck_assert_msg(!url_check_callback(url, len, &cu, err, sizeof(err)), "accepted %.*s", (int)len, url);
	ck_assert_str_eq(err, expected);
}

#define URL_BAD(lit, expected) url_rejected(lit, sizeof(lit) - 1, expected)

static struct CallbackUrl url_accepted(const char *url)
{
	struct CallbackUrl cu;
	char err[160] = "";

	memset(&cu, 0x55, sizeof(cu));
	ck_assert_msg(url_check_callback(url, strlen(url), &cu, err, sizeof(err)), "%s: %s", url, err);
	return cu;
}

START_TEST(url_accepts_https_with_default_port)
{
	struct CallbackUrl cu = url_accepted("https://cpo.example.com/callbacks/start");

	ck_assert_str_eq(cu.scheme, "https");
	ck_assert_str_eq(cu.host, "cpo.example.com");
	ck_assert_int_eq(cu.port, 443);
}
END_TEST

START_TEST(url_accepts_http_with_explicit_port_and_query)
{
	struct CallbackUrl cu = url_accepted("http://cpo.example.com:8080/cb?x=1&y=2");

	ck_assert_str_eq(cu.scheme, "http");
	ck_assert_str_eq(cu.host, "cpo.example.com");
	ck_assert_int_eq(cu.port, 8080);
	cu = url_accepted("http://cpo.example.com");
	ck_assert_int_eq(cu.port, 80);
	cu = url_accepted("http://cpo.example.com:/x");
	ck_assert_int_eq(cu.port, 80);
	cu = url_accepted("https://h:65535");
	ck_assert_int_eq(cu.port, 65535);
}
END_TEST

START_TEST(url_scheme_is_case_insensitive)
{
	struct CallbackUrl cu = url_accepted("HTTPS://Cpo.Example.com/x");

	ck_assert_str_eq(cu.scheme, "https");
	cu = url_accepted("hTtP://cpo.example.com/x");
	ck_assert_str_eq(cu.scheme, "http");
}
END_TEST

START_TEST(url_accepts_ipv6_literal_and_strips_brackets)
{
	struct CallbackUrl cu = url_accepted("https://[2001:db8::1]:8443/cb");

	ck_assert_str_eq(cu.host, "2001:db8::1");
	ck_assert_int_eq(cu.port, 8443);
}
END_TEST

START_TEST(url_accepts_and_ignores_fragment)
{
	struct CallbackUrl cu = url_accepted("https://cpo.example.com/cb#section");

	ck_assert_str_eq(cu.host, "cpo.example.com");
}
END_TEST

START_TEST(url_reports_normalised_numeric_host)
{
	struct CallbackUrl cu = url_accepted("http://0x7f.1/");

	ck_assert_str_eq(cu.host, "127.0.0.1");
}
END_TEST

START_TEST(url_out_may_be_null)
{
	char err[160];

	ck_assert(url_check_callback("https://a.example", 17, NULL, err, sizeof(err)));
}
END_TEST

START_TEST(url_rejects_other_schemes_and_relative_urls)
{
	const char *msg = "must be an absolute http or https URL";

	URL_BAD("ftp://cpo.example.com/x", msg);
	URL_BAD("file:///etc/passwd", msg);
	URL_BAD("gopher://cpo.example.com/", msg);
	URL_BAD("httpx://cpo.example.com/", msg);
	URL_BAD("/callbacks/start", msg);
	URL_BAD("cpo.example.com/callbacks", msg);
	URL_BAD("//cpo.example.com/callbacks", msg);
	URL_BAD("http:/cpo.example.com/", msg);
	URL_BAD("http:cpo.example.com", msg);
	URL_BAD("mailto:ops@example.com", msg);
	URL_BAD("", msg);
}
END_TEST

START_TEST(url_rejects_missing_host)
{
	URL_BAD("http://", "must have a host");
	URL_BAD("https:///path", "must have a host");
	URL_BAD("http://?q", "must have a host");
	URL_BAD("http://:8080/", "must have a host");
	URL_BAD("http://[]/", "must have a valid IPv6 address");
}
END_TEST

START_TEST(url_rejects_user_information)
{
	const char *msg = "must not contain user information";

	URL_BAD("https://user:pass@cpo.example.com/", msg);
	URL_BAD("https://user@cpo.example.com/", msg);
	URL_BAD("https://:pass@cpo.example.com/", msg);
	URL_BAD("https://@cpo.example.com/", msg);
}
END_TEST

START_TEST(url_accepts_at_sign_outside_authority)
{
	url_accepted("https://cpo.example.com/a@b?c=d@e");
}
END_TEST

START_TEST(url_rejects_bad_ports)
{
	const char *msg = "must have a port between 1 and 65535";

	URL_BAD("http://cpo.example.com:0/", msg);
	URL_BAD("http://cpo.example.com:65536/", msg);
	URL_BAD("http://cpo.example.com:99999999999/", msg);
	URL_BAD("http://cpo.example.com:-1/", msg);
	URL_BAD("http://cpo.example.com:http/", msg);
}
END_TEST

START_TEST(url_rejects_whitespace_control_and_non_ascii)
{
	URL_BAD("https://cpo.example.com/a b",
		"must not contain whitespace, control or non-ASCII characters (byte 0x20 at offset 25)");
	URL_BAD(" https://cpo.example.com/",
		"must not contain whitespace, control or non-ASCII characters (byte 0x20 at offset 0)");
	URL_BAD("https://cpo.example.com/\n",
		"must not contain whitespace, control or non-ASCII characters (byte 0x0a at offset 24)");
	URL_BAD("https://cpo.example.com/\x7f",
		"must not contain whitespace, control or non-ASCII characters (byte 0x7f at offset 24)");
	URL_BAD("https://b\xc3\xbc" "cher.example/",
		"must not contain whitespace, control or non-ASCII characters (byte 0xc3 at offset 9)");
	url_rejected("https://a.example/\0x", 20,
		     "must not contain whitespace, control or non-ASCII characters (byte 0x00 at offset 18)");
}
END_TEST

START_TEST(url_rejects_characters_rfc3986_does_not_allow)
{
	const char *bad = "<>\"{}|^`\\";

	for (const char *c = bad; *c; c++) {
		char url[64], want[160];

		snprintf(url, sizeof(url), "https://cpo.example.com/cb%c", *c);
		snprintf(want, sizeof(want),
			 "must not contain the character '%c' (at offset 26): RFC 3986 does not allow it; percent-encode it",
			 *c);
		url_rejected(url, strlen(url), want);
	}
	url_accepted("https://cpo.example.com/cb?a=%7B%7D&b=~-._!$&'()*+,;=:@/");
}
END_TEST

START_TEST(url_rejects_more_than_2048_bytes)
{
	char url[URL_MAX_LEN + 2];
	const char prefix[] = "https://cpo.example.com/";
	struct CallbackUrl cu;
	char err[160];

	memcpy(url, prefix, sizeof(prefix) - 1);
	memset(url + sizeof(prefix) - 1, 'a', sizeof(url) - sizeof(prefix));
	url[sizeof(url) - 1] = '\0';
	ck_assert_uint_eq(strlen(url), 2049);
	url_rejected(url, 2049, "must be at most 2048 bytes");
	url[2048] = '\0';
	ck_assert(url_check_callback(url, 2048, &cu, err, sizeof(err)));
}
END_TEST

START_TEST(url_rejects_ipv6_zone_identifier)
{
	URL_BAD("http://[fe80::1%25eth0]/", "must not contain an IPv6 zone identifier");
}
END_TEST

START_TEST(url_rejects_invalid_host_names)
{
	URL_BAD("http://[::1/", "must have a valid IPv6 address");
	URL_BAD("http://a_b$/", "must have a valid host name");
}
END_TEST

START_TEST(url_rejects_host_longer_than_255)
{
	char url[400];
	size_t n = 7;

	memcpy(url, "http://", n);
	for (int i = 0; i < 5; i++) {
		memset(url + n, 'a', 60);
		n += 60;
		url[n++] = '.';
	}
	memcpy(url + n, "com/", 4);
	n += 4;
	url_rejected(url, n, "must have a host name of at most 255 characters");
}
END_TEST

static Suite *json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("json");

	tcase_add_test(tc, parse_accepts_object_with_surrounding_whitespace);
	tcase_add_test(tc, parse_does_not_read_past_len);
	tcase_add_test(tc, parse_reports_empty_body);
	tcase_add_test(tc, parse_reports_truncated_body_with_offset);
	tcase_add_test(tc, parse_rejects_trailing_garbage);
	tcase_add_test(tc, parse_rejects_nul_bytes_anywhere);
	tcase_add_test(tc, parse_names_the_top_level_type_when_not_an_object);
	tcase_add_test(tc, parse_rejects_nesting_deeper_than_limit);
	tcase_add_test(tc, parse_accepts_nesting_within_limit);
	tcase_add_test(tc, parse_rejects_what_json_c_strict_mode_lets_through);
	tcase_add_test(tc, parse_rejects_invalid_json_syntax);
	tcase_add_test(tc, parse_rejects_invalid_utf8);
	tcase_add_test(tc, parse_accepts_escapes_and_utf8_in_strings);
	tcase_add_test(tc, parse_truncates_error_to_buffer);
	tcase_add_test(tc, parse_unique_refuses_a_member_named_twice_at_any_depth);
	tcase_add_test(tc, parse_unique_accepts_distinct_members_and_look_alikes);
	tcase_add_test(tc, get_string_returns_null_for_missing_or_non_string_members);
	tcase_add_test(tc, builders_produce_compact_problem_document);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *uuid_suite(void)
{
	Suite *s = suite_create("uuid");
	TCase *tc = tcase_create("uuid");

	tcase_add_test(tc, uuid_accepts_canonical_form_in_either_case);
	tcase_add_test(tc, uuid_rejects_other_forms);
	tcase_add_test(tc, uuid_generate_v4_produces_distinct_canonical_v4_uuids);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *url_suite(void)
{
	Suite *s = suite_create("url");
	TCase *tc = tcase_create("url");

	tcase_add_test(tc, url_accepts_https_with_default_port);
	tcase_add_test(tc, url_accepts_http_with_explicit_port_and_query);
	tcase_add_test(tc, url_scheme_is_case_insensitive);
	tcase_add_test(tc, url_accepts_ipv6_literal_and_strips_brackets);
	tcase_add_test(tc, url_accepts_and_ignores_fragment);
	tcase_add_test(tc, url_reports_normalised_numeric_host);
	tcase_add_test(tc, url_out_may_be_null);
	tcase_add_test(tc, url_rejects_other_schemes_and_relative_urls);
	tcase_add_test(tc, url_rejects_missing_host);
	tcase_add_test(tc, url_rejects_user_information);
	tcase_add_test(tc, url_accepts_at_sign_outside_authority);
	tcase_add_test(tc, url_rejects_bad_ports);
	tcase_add_test(tc, url_rejects_whitespace_control_and_non_ascii);
	tcase_add_test(tc, url_rejects_characters_rfc3986_does_not_allow);
	tcase_add_test(tc, url_rejects_more_than_2048_bytes);
	tcase_add_test(tc, url_rejects_ipv6_zone_identifier);
	tcase_add_test(tc, url_rejects_invalid_host_names);
	tcase_add_test(tc, url_rejects_host_longer_than_255);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(json_suite());
	int failed;

	srunner_add_suite(sr, uuid_suite());
	srunner_add_suite(sr, url_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
