/*
 * API keys as bytes (src/infra/apikey.c, DESIGN §3): a new key's shape
 * and uniqueness, its SHA-256, and which Authorization values carry a
 * Bearer token.
 */
#include "autoconfig.h"

#include "infra/apikey.h"

#include "unit_run.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(a_new_key_is_cgk_and_256_bits_of_base64url)
{
	char a[APIKEY_SIZE], b[APIKEY_SIZE], err[128];

	ck_assert(apikey_generate(a, err, sizeof(err)));
	ck_assert(apikey_generate(b, err, sizeof(err)));
	ck_assert_uint_eq(strlen(a), 47);
	ck_assert(strncmp(a, "cgk_", 4) == 0);
	ck_assert_uint_eq(strspn(a + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
	ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(the_hash_is_sha256_and_round_trips_through_hex)
{
	unsigned char h[APIKEY_HASH_LEN], back[APIKEY_HASH_LEN];
	char hex[APIKEY_HASH_HEX_SIZE];

	apikey_hash("abc", 3, h);
	apikey_hash_hex(h, hex);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	ck_assert(apikey_hash_from_hex(hex, back));
	ck_assert(memcmp(h, back, sizeof(h)) == 0);
	ck_assert(apikey_hash_from_hex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", back));
	ck_assert(!apikey_hash_from_hex("ba78", back));
	ck_assert(!apikey_hash_from_hex("za7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", back));
}
END_TEST

START_TEST(bearer_tokens)
{
	static const struct {
		const char *header, *token;	/* token NULL: no Bearer token */
	} cases[] = {
		{ "Bearer cgk_abc-_", "cgk_abc-_" },
		{ "bearer cgk_x", "cgk_x" },
		{ "BEARER   cgk_x  ", "cgk_x" },
		{ "Bearer a.b~c+d/e==", "a.b~c+d/e==" },
		{ NULL, NULL },
		{ "", NULL },
		{ "Bearer", NULL },
		{ "Bearer ", NULL },
		{ "Bearer =abc", NULL },
		{ "Bearer ab=c", NULL },
		{ "Bearer a b", NULL },
		{ "Bearer a\tb", NULL },
		{ "Basic Y2drX3g=", NULL },
		{ "Bearerx cgk_x", NULL },
		{ "Bearer cgk_\xc3\xa9", NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *t = NULL;
		size_t len = 0;
		bool ok = apikey_bearer_token(cases[i].header, &t, &len);

		ck_assert_msg(ok == (cases[i].token != NULL), "case %zu: %s", i, cases[i].header);
		if (ok) {
			ck_assert_uint_eq(len, strlen(cases[i].token));
			ck_assert(strncmp(t, cases[i].token, len) == 0);
		}
	}
}
END_TEST

START_TEST(an_overlong_token_is_not_a_key)
{
	char h[7 + APIKEY_MAX_TOKEN + 2];
	const char *t;
	size_t len;

	memcpy(h, "Bearer ", 7);
	memset(h + 7, 'a', APIKEY_MAX_TOKEN);
	h[7 + APIKEY_MAX_TOKEN] = '\0';
	ck_assert(apikey_bearer_token(h, &t, &len));
	h[7 + APIKEY_MAX_TOKEN] = 'a';
	h[7 + APIKEY_MAX_TOKEN + 1] = '\0';
	ck_assert(!apikey_bearer_token(h, &t, &len));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("apikey");
	TCase *tc = tcase_create("apikey");

	tcase_add_test(tc, a_new_key_is_cgk_and_256_bits_of_base64url);
	tcase_add_test(tc, the_hash_is_sha256_and_round_trips_through_hex);
	tcase_add_test(tc, bearer_tokens);
	tcase_add_test(tc, an_overlong_token_is_not_a_key);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
