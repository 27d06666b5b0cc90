#include "autoconfig.h"

#include "request/validate.h"

#include "unit_run.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATION "\"123e4567-e89b-12d3-a456-426614174000\""
#define TOKEN "\"validDriverToken123\""
#define URL "\"https://cpo.example.com/callbacks/start\""

static char body_buf[8192];

/* A body with the given members; each is raw JSON text, or NULL to omit it. */
static const char *body(const char *station, const char *token, const char *url)
{
	size_t n = 0;

	n += (size_t)snprintf(body_buf + n, sizeof(body_buf) - n, "{");
	if (station != NULL)
		n += (size_t)snprintf(body_buf + n, sizeof(body_buf) - n, "\"station_id\": %s,", station);
	if (token != NULL)
		n += (size_t)snprintf(body_buf + n, sizeof(body_buf) - n, "\"driver_token\": %s,", token);
	if (url != NULL)
		n += (size_t)snprintf(body_buf + n, sizeof(body_buf) - n, "\"callback_url\": %s,", url);
	ck_assert_uint_lt(n, sizeof(body_buf) - 1);
	if (body_buf[n - 1] == ',')
		n--;
	snprintf(body_buf + n, sizeof(body_buf) - n, "}");
	return body_buf;
}

/* A JSON string literal holding c repeated n times. */
static const char *repeated(char c, size_t n)
{
	static char s[4096];

	ck_assert_uint_lt(n + 3, sizeof(s));
	s[0] = '"';
	memset(s + 1, c, n);
	s[n + 1] = '"';
	s[n + 2] = '\0';
	return s;
}

static void expect_valid(const char *text, struct StartRequest *req)
{
	struct ValidationResult res;

	ck_assert_msg(validate_start_request(text, strlen(text), req, &res), "rejected %s: %s: %s", text,
		      res.nerrors ? res.errors[0].field : "", res.nerrors ? res.errors[0].detail : "");
	ck_assert_int_eq(res.nerrors, 0);
}

static void expect_error_len(const char *text, size_t len, const char *field, const char *detail)
{
	struct StartRequest req;
	struct ValidationResult res;

	memset(&req, 0x55, sizeof(req));
	ck_assert_msg(!validate_start_request(text, len, &req, &res), "accepted %.*s", (int)len, text);
	ck_assert_int_eq(res.nerrors, 1);
	ck_assert_str_eq(res.errors[0].field, field);
	ck_assert_str_eq(res.errors[0].detail, detail);
	ck_assert_ptr_null(req.driver_token);
	ck_assert_ptr_null(req.callback_url);
	start_request_free(&req);
}

static void expect_error(const char *text, const char *field, const char *detail)
{
	expect_error_len(text, strlen(text), field, detail);
}

/* --- the whole body -------------------------------------------------------- */

START_TEST(valid_body_is_accepted_and_copied)
{
	struct StartRequest req;

	expect_valid(body(STATION, TOKEN, URL), &req);
	ck_assert_str_eq(req.station_id, "123e4567-e89b-12d3-a456-426614174000");
	ck_assert_str_eq(req.driver_token, "validDriverToken123");
	ck_assert_str_eq(req.callback_url, "https://cpo.example.com/callbacks/start");
	start_request_free(&req);
}
END_TEST

START_TEST(valid_body_can_be_checked_without_output)
{
	struct ValidationResult res;
	const char *text = body(STATION, TOKEN, URL);

	ck_assert(validate_start_request(text, strlen(text), NULL, &res));
	text = body(NULL, TOKEN, URL);
	ck_assert(!validate_start_request(text, strlen(text), NULL, &res));
	ck_assert_int_eq(res.nerrors, 1);
}
END_TEST

START_TEST(unknown_members_are_ignored)
{
	struct StartRequest req;

	expect_valid("{\"connector\": 2, \"station_id\": " STATION ", \"extra\": {\"a\": [1, null]},"
		     " \"driver_token\": " TOKEN ", \"callback_url\": " URL ", \"z\": null}",
		     &req);
	start_request_free(&req);
}
END_TEST

START_TEST(duplicate_members_last_one_counts)
{
	struct StartRequest req;

	expect_valid("{\"station_id\": 1, \"station_id\": " STATION ", \"driver_token\": \"first\","
		     " \"driver_token\": " TOKEN ", \"callback_url\": " URL "}",
		     &req);
	ck_assert_str_eq(req.driver_token, "validDriverToken123");
	start_request_free(&req);
	expect_error("{\"station_id\": " STATION ", \"station_id\": 1, \"driver_token\": " TOKEN
		     ", \"callback_url\": " URL "}",
		     "station_id", "must be a string");
}
END_TEST

START_TEST(missing_members_are_all_reported_in_order)
{
	struct StartRequest req;
	struct ValidationResult res;

	ck_assert(!validate_start_request("{}", 2, &req, &res));
	ck_assert_int_eq(res.nerrors, 3);
	ck_assert_str_eq(res.errors[0].field, "station_id");
	ck_assert_str_eq(res.errors[1].field, "driver_token");
	ck_assert_str_eq(res.errors[2].field, "callback_url");
	for (int i = 0; i < 3; i++)
		ck_assert_str_eq(res.errors[i].detail, "is required");
}
END_TEST

START_TEST(each_invalid_member_gets_its_own_error)
{
	struct ValidationResult res;
	const char *text = body("\"nope\"", "\"\"", "\"ftp://x/\"");

	ck_assert(!validate_start_request(text, strlen(text), NULL, &res));
	ck_assert_int_eq(res.nerrors, 3);
	ck_assert_str_eq(res.errors[0].detail, "must be a UUID in canonical 8-4-4-4-12 form");
	ck_assert_str_eq(res.errors[1].detail, "must not be empty");
	ck_assert_str_eq(res.errors[2].detail, "must be an absolute http or https URL");
	text = body(STATION, "7", URL);
	ck_assert(!validate_start_request(text, strlen(text), NULL, &res));
	ck_assert_int_eq(res.nerrors, 1);
	ck_assert_str_eq(res.errors[0].field, "driver_token");
}
END_TEST

START_TEST(members_of_wrong_type_must_be_strings)
{
	const char *kinds[] = { "42", "-1.5", "null", "true", "{}", "{\"a\": \"b\"}", "[]", "[\"x\"]" };

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		expect_error(body(kinds[i], TOKEN, URL), "station_id", "must be a string");
		expect_error(body(STATION, kinds[i], URL), "driver_token", "must be a string");
		expect_error(body(STATION, TOKEN, kinds[i]), "callback_url", "must be a string");
	}
}
END_TEST

START_TEST(body_not_json_is_one_body_error)
{
	expect_error("station_id=1", "body", "body is not valid JSON: unexpected character at offset 0");
	expect_error("{\"station_id\": ", "body", "body is not valid JSON: unexpected end of data at offset 15");
	expect_error("{\"station_id\": " STATION ",}", "body",
		     "body is not valid JSON: unexpected character at offset 54");
}
END_TEST

START_TEST(body_json_array_or_scalar_is_one_body_error)
{
	expect_error("[" STATION "]", "body", "body is a JSON array, expected an object");
	expect_error(STATION, "body", "body is a JSON string, expected an object");
	expect_error("17", "body", "body is a JSON number, expected an object");
	expect_error("null", "body", "body is JSON null, expected an object");
}
END_TEST

START_TEST(body_with_trailing_garbage_is_rejected)
{
	char text[512];

	snprintf(text, sizeof(text), "%s garbage", body(STATION, TOKEN, URL));
	expect_error(text, "body", "body is not valid JSON: unexpected character at offset 151");
	snprintf(text, sizeof(text), "%s%s", body(STATION, TOKEN, URL), "{}");
	expect_error(text, "body", "body is not valid JSON: unexpected character at offset 150");
}
END_TEST

START_TEST(empty_body_is_rejected)
{
	expect_error_len("", 0, "body", "body is empty");
	expect_error_len(NULL, 0, "body", "body is empty");
	expect_error("\r\n", "body", "body is empty");
}
END_TEST

START_TEST(deeply_nested_body_is_rejected)
{
	char text[4096];
	size_t n = (size_t)snprintf(text, sizeof(text), "{\"station_id\": " STATION ", \"x\": ");

	memset(text + n, '[', 1000);
	text[n + 1000] = '\0';
	ck_assert_uint_lt(strlen(text), sizeof(text));
	expect_error(text, "body", "body is not valid JSON: nesting too deep at offset 91");
}
END_TEST

START_TEST(body_with_nul_byte_is_rejected)
{
	char text[512];
	size_t n = (size_t)snprintf(text, sizeof(text), "%s", body(STATION, TOKEN, URL));

	text[n] = '\0';
	expect_error_len(text, n + 1, "body", "body is not valid JSON: NUL byte at offset 150");
}
END_TEST

/* --- station_id ------------------------------------------------------------ */

START_TEST(station_id_uppercase_is_accepted_and_lower_cased)
{
	struct StartRequest req;

	expect_valid(body("\"123E4567-E89B-12D3-A456-42661417400F\"", TOKEN, URL), &req);
	ck_assert_str_eq(req.station_id, "123e4567-e89b-12d3-a456-42661417400f");
	start_request_free(&req);
}
END_TEST

START_TEST(station_id_not_canonical_is_rejected)
{
	const char *bad[] = {
		"\"\"",
		"\"123e4567-e89b-12d3-a456-42661417400\"",
		"\"123e4567-e89b-12d3-a456-4266141740000\"",
		"\"123e4567-e89b-12d3-a456-42661417400g\"",
		"\"123e4567e89b12d3a456426614174000\"",
		"\"123e4567-e89b12d3-a456-426614174000-\"",
		"\"{123e4567-e89b-12d3-a456-426614174000}\"",
		"\"urn:uuid:123e4567-e89b-12d3-a456-426614174000\"",
		"\" 123e4567-e89b-12d3-a456-426614174000\"",
		"\"123e4567-e89b-12d3-a456-426614174000\\u0000\"",
		"\"123e4567-e89b-12d3-a456-42661417400\\u0000\"",
		"\"123e4567-e89b-12d3-a456-426614174000 \"",
		"\"123e4567-e89b-12d3-a456-426614174000\\n\"",
		"\"123e456-7e89b-12d3-a456-426614174000\"",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error(body(bad[i], TOKEN, URL), "station_id", "must be a UUID in canonical 8-4-4-4-12 form");
}
END_TEST

/* --- driver_token ---------------------------------------------------------- */

START_TEST(driver_token_of_255_printable_characters_is_accepted)
{
	struct StartRequest req;

	expect_valid(body(STATION, repeated('~', 255), URL), &req);
	ck_assert_uint_eq(strlen(req.driver_token), 255);
	start_request_free(&req);
	expect_valid(body(STATION, "\"!#$%&'()*+,-./0123456789:;<=>?@AZ[\\\\]^_`az{|}~\\\"\"", URL), &req);
	ck_assert_str_eq(req.driver_token, "!#$%&'()*+,-./0123456789:;<=>?@AZ[\\]^_`az{|}~\"");
	start_request_free(&req);
}
END_TEST

START_TEST(driver_token_empty_is_rejected)
{
	expect_error(body(STATION, "\"\"", URL), "driver_token", "must not be empty");
}
END_TEST

START_TEST(driver_token_of_256_characters_is_rejected)
{
	expect_error(body(STATION, repeated('a', 256), URL), "driver_token", "must be at most 255 characters");
	expect_error(body(STATION, repeated('a', 3000), URL), "driver_token", "must be at most 255 characters");
}
END_TEST

START_TEST(driver_token_with_space_or_control_character_is_rejected)
{
	expect_error(body(STATION, "\"valid token\"", URL), "driver_token",
		     "must contain only printable ASCII characters (0x21-0x7E); found byte 0x20 at offset 5");
	expect_error(body(STATION, "\"tab\\there\"", URL), "driver_token",
		     "must contain only printable ASCII characters (0x21-0x7E); found byte 0x09 at offset 3");
	expect_error(body(STATION, "\"del\\u007f\"", URL), "driver_token",
		     "must contain only printable ASCII characters (0x21-0x7E); found byte 0x7f at offset 3");
}
END_TEST

START_TEST(driver_token_with_non_ascii_utf8_is_rejected)
{
	expect_error(body(STATION, "\"caf\xc3\xa9\"", URL), "driver_token",
		     "must contain only printable ASCII characters (0x21-0x7E); found byte 0xc3 at offset 3");
	expect_error(body(STATION, "\"\\u00e9\"", URL), "driver_token",
		     "must contain only printable ASCII characters (0x21-0x7E); found byte 0xc3 at offset 0");
}
END_TEST

START_TEST(driver_token_with_nul_is_rejected_not_truncated)
{
	expect_error(body(STATION, "\"abc\\u0000def\"", URL), "driver_token",
		     "must contain only printable ASCII characters (0x21-0x7E); found byte 0x00 at offset 3");
	expect_error(body(STATION, "\"abc\\u0000\"", URL), "driver_token",
		     "must contain only printable ASCII characters (0x21-0x7E); found byte 0x00 at offset 3");
}
END_TEST

START_TEST(driver_token_non_ascii_is_blamed_on_characters_not_length)
{
	char token[1024] = "\"";

	for (int i = 0; i < 200; i++)
		strcat(token, "\xc3\xa9");
	strcat(token, "\"");
	expect_error(body(STATION, token, URL), "driver_token",
		     "must contain only printable ASCII characters (0x21-0x7E); found byte 0xc3 at offset 0");
}
END_TEST

/* --- callback_url ---------------------------------------------------------- */

START_TEST(callback_url_https_and_http_with_port_are_accepted)
{
	struct StartRequest req;

	expect_valid(body(STATION, TOKEN, "\"https://cpo.example.com/cb\""), &req);
	start_request_free(&req);
	expect_valid(body(STATION, TOKEN, "\"http://cpo.example.com:8080/cb?x=1\""), &req);
	ck_assert_str_eq(req.callback_url, "http://cpo.example.com:8080/cb?x=1");
	start_request_free(&req);
	expect_valid(body(STATION, TOKEN, "\"HTTPS://CPO.EXAMPLE.COM/cb\""), &req);
	ck_assert_str_eq(req.callback_url, "HTTPS://CPO.EXAMPLE.COM/cb");
	start_request_free(&req);
}
END_TEST

START_TEST(callback_url_ipv6_literal_is_accepted)
{
	struct StartRequest req;

	expect_valid(body(STATION, TOKEN, "\"https://[2001:db8::1]:8443/cb\""), &req);
	start_request_free(&req);
}
END_TEST

START_TEST(callback_url_other_scheme_is_rejected)
{
	expect_error(body(STATION, TOKEN, "\"ftp://cpo.example.com/cb\""), "callback_url",
		     "must be an absolute http or https URL");
	expect_error(body(STATION, TOKEN, "\"javascript:alert(1)\""), "callback_url",
		     "must be an absolute http or https URL");
	expect_error(body(STATION, TOKEN, "\"mailto:ops@cpo.example.com\""), "callback_url",
		     "must be an absolute http or https URL");
	expect_error(body(STATION, TOKEN, "\"file:///etc/passwd\""), "callback_url",
		     "must be an absolute http or https URL");
}
END_TEST

START_TEST(callback_url_characters_rfc3986_forbids_are_rejected)
{
	/* each after "https://cpo.example.com/a", at offset 25; JSON escapes for " and \ */
	const char *const bad[][2] = {
		{ "<", "<" }, { ">", ">" }, { "\\\"", "\"" }, { "{", "{" }, { "}", "}" },
		{ "|", "|" }, { "^", "^" }, { "`", "`" }, { "\\\\", "\\" },
	};
	char url[64], detail[160];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(url, sizeof(url), "\"https://cpo.example.com/a%sb\"", bad[i][0]);
		snprintf(detail, sizeof(detail),
			 "must not contain the character '%s' (at offset 25): RFC 3986 does not allow it; percent-encode it",
			 bad[i][1]);
		expect_error(body(STATION, TOKEN, url), "callback_url", detail);
	}
}
END_TEST

START_TEST(callback_url_relative_is_rejected)
{
	expect_error(body(STATION, TOKEN, "\"/callbacks/start\""), "callback_url",
		     "must be an absolute http or https URL");
	expect_error(body(STATION, TOKEN, "\"cpo.example.com/callbacks\""), "callback_url",
		     "must be an absolute http or https URL");
	expect_error(body(STATION, TOKEN, "\"\""), "callback_url", "must be an absolute http or https URL");
}
END_TEST

START_TEST(callback_url_without_host_is_rejected)
{
	expect_error(body(STATION, TOKEN, "\"https://\""), "callback_url", "must have a host");
	expect_error(body(STATION, TOKEN, "\"https:///callbacks\""), "callback_url", "must have a host");
}
END_TEST

START_TEST(callback_url_with_user_information_is_rejected)
{
	expect_error(body(STATION, TOKEN, "\"https://user:pass@cpo.example.com/cb\""), "callback_url",
		     "must not contain user information");
	expect_error(body(STATION, TOKEN, "\"https://user@cpo.example.com/cb\""), "callback_url",
		     "must not contain user information");
}
END_TEST

START_TEST(callback_url_of_2049_bytes_is_rejected)
{
	char url[2100];
	int n = snprintf(url, sizeof(url), "\"https://cpo.example.com/");
	struct StartRequest req;

	memset(url + n, 'a', (size_t)(2049 + 1 - n));
	url[2049 + 1] = '"';
	url[2049 + 2] = '\0';
	expect_error(body(STATION, TOKEN, url), "callback_url", "must be at most 2048 bytes");
	url[2048 + 1] = '"';
	url[2048 + 2] = '\0';
	expect_valid(body(STATION, TOKEN, url), &req);
	ck_assert_uint_eq(strlen(req.callback_url), 2048);
	start_request_free(&req);
}
END_TEST

START_TEST(callback_url_with_whitespace_or_nul_is_rejected)
{
	expect_error(body(STATION, TOKEN, "\"https://cpo.example.com/a b\""), "callback_url",
		     "must not contain whitespace, control or non-ASCII characters (byte 0x20 at offset 25)");
	expect_error(body(STATION, TOKEN, "\"https://cpo.example.com/\\u0000.evil.example\""), "callback_url",
		     "must not contain whitespace, control or non-ASCII characters (byte 0x00 at offset 24)");
}
END_TEST

START_TEST(callback_url_bad_port_is_rejected)
{
	expect_error(body(STATION, TOKEN, "\"https://cpo.example.com:0/\""), "callback_url",
		     "must have a port between 1 and 65535");
	expect_error(body(STATION, TOKEN, "\"https://cpo.example.com:70000/\""), "callback_url",
		     "must have a port between 1 and 65535");
}
END_TEST

/* --- lifecycle ------------------------------------------------------------- */

START_TEST(start_request_free_is_null_safe_and_idempotent)
{
	struct StartRequest req;

	start_request_free(NULL);
	expect_valid(body(STATION, TOKEN, URL), &req);
	start_request_free(&req);
	ck_assert_ptr_null(req.driver_token);
	ck_assert_ptr_null(req.callback_url);
	start_request_free(&req);
}
END_TEST

/* --- Idempotency-Key ------------------------------------------------------- */

START_TEST(idempotency_key_printable_up_to_255_is_accepted)
{
	char key[256];
	char err[160];

	ck_assert(validate_idempotency_key("a", err, sizeof(err)));
	ck_assert(validate_idempotency_key("4b1e3b1c-9a5e-4c2a-8f59-0c2d6c4f1a2b", err, sizeof(err)));
	ck_assert(validate_idempotency_key("!~\"{}", err, sizeof(err)));
	memset(key, 'k', 255);
	key[255] = '\0';
	ck_assert(validate_idempotency_key(key, err, sizeof(err)));
}
END_TEST

START_TEST(idempotency_key_empty_or_too_long_is_rejected)
{
	char key[300];
	char err[160];

	ck_assert(!validate_idempotency_key("", err, sizeof(err)));
	ck_assert_str_eq(err, "must not be empty");
	ck_assert(!validate_idempotency_key(NULL, err, sizeof(err)));
	ck_assert_str_eq(err, "must not be empty");
	memset(key, 'k', 256);
	key[256] = '\0';
	ck_assert(!validate_idempotency_key(key, err, sizeof(err)));
	ck_assert_str_eq(err, "must be at most 255 characters");
}
END_TEST

START_TEST(idempotency_key_with_space_control_or_non_ascii_is_rejected)
{
	char err[160];

	ck_assert(!validate_idempotency_key("my key", err, sizeof(err)));
	ck_assert_str_eq(err, "must contain only printable ASCII characters (0x21-0x7E); found byte 0x20 at offset 2");
	ck_assert(!validate_idempotency_key("key\t", err, sizeof(err)));
	ck_assert_str_eq(err, "must contain only printable ASCII characters (0x21-0x7E); found byte 0x09 at offset 3");
	ck_assert(!validate_idempotency_key("k\x7f", err, sizeof(err)));
	ck_assert(!validate_idempotency_key("cl\xc3\xa9", err, sizeof(err)));
	ck_assert_str_eq(err, "must contain only printable ASCII characters (0x21-0x7E); found byte 0xc3 at offset 2");
}
END_TEST

static Suite *validate_suite(void)
{
	Suite *s = suite_create("validate");
	TCase *body_tc = tcase_create("body");
	TCase *members = tcase_create("members");
	TCase *key = tcase_create("idempotency-key");

	tcase_add_test(body_tc, valid_body_is_accepted_and_copied);
	tcase_add_test(body_tc, valid_body_can_be_checked_without_output);
	tcase_add_test(body_tc, unknown_members_are_ignored);
	tcase_add_test(body_tc, duplicate_members_last_one_counts);
	tcase_add_test(body_tc, missing_members_are_all_reported_in_order);
	tcase_add_test(body_tc, each_invalid_member_gets_its_own_error);
	tcase_add_test(body_tc, members_of_wrong_type_must_be_strings);
	tcase_add_test(body_tc, body_not_json_is_one_body_error);
	tcase_add_test(body_tc, body_json_array_or_scalar_is_one_body_error);
	tcase_add_test(body_tc, body_with_trailing_garbage_is_rejected);
	tcase_add_test(body_tc, empty_body_is_rejected);
	tcase_add_test(body_tc, deeply_nested_body_is_rejected);
	tcase_add_test(body_tc, body_with_nul_byte_is_rejected);
	tcase_add_test(body_tc, start_request_free_is_null_safe_and_idempotent);
	suite_add_tcase(s, body_tc);

	tcase_add_test(members, station_id_uppercase_is_accepted_and_lower_cased);
	tcase_add_test(members, station_id_not_canonical_is_rejected);
	tcase_add_test(members, driver_token_of_255_printable_characters_is_accepted);
	tcase_add_test(members, driver_token_empty_is_rejected);
	tcase_add_test(members, driver_token_of_256_characters_is_rejected);
	tcase_add_test(members, driver_token_with_space_or_control_character_is_rejected);
	tcase_add_test(members, driver_token_with_non_ascii_utf8_is_rejected);
	tcase_add_test(members, driver_token_with_nul_is_rejected_not_truncated);
	tcase_add_test(members, driver_token_non_ascii_is_blamed_on_characters_not_length);
	tcase_add_test(members, callback_url_https_and_http_with_port_are_accepted);
	tcase_add_test(members, callback_url_ipv6_literal_is_accepted);
	tcase_add_test(members, callback_url_other_scheme_is_rejected);
	tcase_add_test(members, callback_url_characters_rfc3986_forbids_are_rejected);
	tcase_add_test(members, callback_url_relative_is_rejected);
	tcase_add_test(members, callback_url_without_host_is_rejected);
	tcase_add_test(members, callback_url_with_user_information_is_rejected);
	tcase_add_test(members, callback_url_of_2049_bytes_is_rejected);
	tcase_add_test(members, callback_url_with_whitespace_or_nul_is_rejected);
	tcase_add_test(members, callback_url_bad_port_is_rejected);
	suite_add_tcase(s, members);

	tcase_add_test(key, idempotency_key_printable_up_to_255_is_accepted);
	tcase_add_test(key, idempotency_key_empty_or_too_long_is_rejected);
	tcase_add_test(key, idempotency_key_with_space_control_or_non_ascii_is_rejected);
	suite_add_tcase(s, key);
	return s;
}

int main(void)
{
	return unit_run(validate_suite());
}
