/*
 * Standard Webhooks signatures (DESIGN §5): known answers, the two-secret
 * header of a key rotation, and verification that rejects any change.
 */
#include "autoconfig.h"

#include "infra/signing.h"

#include "unit_run.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/*
 * The Standard Webhooks reference vector (libraries/go/webhook_test.go,
 * TestWebhookSign in github.com/standard-webhooks/standard-webhooks),
 * checked independently with
 *   printf '%s' 'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}' |
 *     openssl dgst -sha256 -mac HMAC \
 *       -macopt hexkey:$(printf MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw | base64 -d | xxd -p) -binary | base64
 */
#define SW_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SW_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SW_TS "1614265330"
#define SW_BODY "{\"test\": 2432232314}"
#define SW_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/*
 * A secret without the prefix is used as is:
 *   printf '%s' 'msg_1.1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'plain-secret' -binary | base64
 */
#define RAW_SECRET "plain-secret"
#define RAW_ID "msg_1"
#define RAW_TS "1700000000"
#define RAW_BODY "{\"a\":1}"
#define RAW_SIG "v1,PQ8G/5vQE995TQFlpC2YXRDs2RbuscvSWFk9pfKhuhc="

static struct SigningKey *key(const char *secret)
{
	char err[256] = "";
	struct SigningKey *k = signing_key_new(secret, err, sizeof(err));

	ck_assert_msg(k != NULL, "secret refused: %s", err);
	return k;
}

START_TEST(matches_standard_webhooks_vector)
{
	struct SigningKey *k = key(SW_SECRET);
	char sig[SIGNING_SIGNATURE_SIZE];

	ck_assert(signing_sign(k, SW_ID, SW_TS, SW_BODY, strlen(SW_BODY), sig));
	ck_assert_str_eq(sig, SW_SIG);
	signing_key_free(k);
}
END_TEST

START_TEST(secret_without_prefix_is_used_as_is)
{
	struct SigningKey *k = key(RAW_SECRET);
	char sig[SIGNING_SIGNATURE_SIZE];

	ck_assert(signing_sign(k, RAW_ID, RAW_TS, RAW_BODY, strlen(RAW_BODY), sig));
	ck_assert_str_eq(sig, RAW_SIG);
	signing_key_free(k);
}
END_TEST

START_TEST(padding_is_optional)
{
	/* "MTIzNA==" and "MTIzNA" both decode to "1234" */
	struct SigningKey *a = key("whsec_MTIzNA==");
	struct SigningKey *b = key("whsec_MTIzNA");
	struct SigningKey *raw = key("1234");
	char sa[SIGNING_SIGNATURE_SIZE], sb[SIGNING_SIGNATURE_SIZE], sr[SIGNING_SIGNATURE_SIZE];

	ck_assert(signing_sign(a, "id", "1", "x", 1, sa));
	ck_assert(signing_sign(b, "id", "1", "x", 1, sb));
	ck_assert(signing_sign(raw, "id", "1", "x", 1, sr));
	ck_assert_str_eq(sa, sb);
	ck_assert_str_eq(sa, sr);
	signing_key_free(a);
	signing_key_free(b);
	signing_key_free(raw);
}
END_TEST

START_TEST(rejects_bad_secrets)
{
	char err[256];

	ck_assert_ptr_null(signing_key_new("", err, sizeof(err)));
	ck_assert_str_eq(err, "signing secret is empty");
	ck_assert_ptr_null(signing_key_new("whsec_", err, sizeof(err)));
	ck_assert_str_eq(err, "signing secret: no key after \"whsec_\"");
	ck_assert_ptr_null(signing_key_new("whsec_not*base64", err, sizeof(err)));
	ck_assert_str_eq(err, "signing secret: the part after \"whsec_\" is not valid base64");
	ck_assert_ptr_null(signing_key_new("whsec_MTIzN", err, sizeof(err)));
	ck_assert_ptr_null(signing_key_new("whsec_MTIzNA===", err, sizeof(err)));
	ck_assert_ptr_null(signing_key_new("whsec_MTIzNA=", err, sizeof(err)));
	ck_assert_ptr_null(signing_key_new("whsec_MTIz NA==", err, sizeof(err)));
	signing_key_free(NULL);
}
END_TEST

START_TEST(header_carries_current_then_previous)
{
	struct SigningKey *cur = key(SW_SECRET);
	struct SigningKey *prev = key(RAW_SECRET);
	char h[SIGNING_HEADER_SIZE];

	ck_assert(signing_header(cur, NULL, SW_ID, SW_TS, SW_BODY, strlen(SW_BODY), h));
	ck_assert_str_eq(h, SW_SIG);
	ck_assert(signing_header(cur, prev, RAW_ID, RAW_TS, RAW_BODY, strlen(RAW_BODY), h));
	/* the second signature is the raw secret's known answer */
	ck_assert_ptr_nonnull(strchr(h, ' '));
	ck_assert_str_eq(strchr(h, ' ') + 1, RAW_SIG);
	ck_assert_int_eq((int)(strchr(h, ' ') - h), (int)strlen(RAW_SIG));
	ck_assert(strncmp(h, "v1,", 3) == 0);
	signing_key_free(cur);
	signing_key_free(prev);
}
END_TEST

START_TEST(verify_accepts_either_key_and_any_position)
{
	struct SigningKey *cur = key(SW_SECRET);
	struct SigningKey *old = key(RAW_SECRET);
	const struct SigningKey *both[] = { cur, old };
	const struct SigningKey *only_old[] = { old };
	const struct SigningKey *only_cur[] = { cur };
	char h[SIGNING_HEADER_SIZE];
	const size_t n = strlen(SW_BODY);

	ck_assert(signing_verify(SW_SIG, only_cur, 1, SW_ID, SW_TS, SW_BODY, n));
	ck_assert(signing_verify(SW_SIG, both, 2, SW_ID, SW_TS, SW_BODY, n));
	ck_assert(!signing_verify(SW_SIG, only_old, 1, SW_ID, SW_TS, SW_BODY, n));
	/* a rotated header verifies with the old key alone */
	ck_assert(signing_header(cur, old, SW_ID, SW_TS, SW_BODY, n, h));
	ck_assert(signing_verify(h, only_old, 1, SW_ID, SW_TS, SW_BODY, n));
	ck_assert(signing_verify("v2,abc v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= " SW_SIG, only_cur, 1, SW_ID,
				 SW_TS, SW_BODY, n));
	signing_key_free(cur);
	signing_key_free(old);
}
END_TEST

START_TEST(verify_rejects_tampering)
{
	struct SigningKey *k = key(SW_SECRET);
	const struct SigningKey *keys[] = { k };
	const size_t n = strlen(SW_BODY);

	ck_assert(!signing_verify(SW_SIG, keys, 1, SW_ID, SW_TS, "{\"test\": 2432232315}", n));
	ck_assert(!signing_verify(SW_SIG, keys, 1, SW_ID, SW_TS, SW_BODY, n - 1));
	ck_assert(!signing_verify(SW_SIG, keys, 1, SW_ID, "1614265331", SW_BODY, n));
	ck_assert(!signing_verify(SW_SIG, keys, 1, "msg_other", SW_TS, SW_BODY, n));
	ck_assert(!signing_verify("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE", keys, 1, SW_ID, SW_TS, SW_BODY, n));
	ck_assert(!signing_verify("v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", keys, 1, SW_ID, SW_TS, SW_BODY, n));
	ck_assert(!signing_verify("g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", keys, 1, SW_ID, SW_TS, SW_BODY, n));
	ck_assert(!signing_verify("", keys, 1, SW_ID, SW_TS, SW_BODY, n));
	ck_assert(!signing_verify(NULL, keys, 1, SW_ID, SW_TS, SW_BODY, n));
	ck_assert(!signing_verify(SW_SIG, keys, 0, SW_ID, SW_TS, SW_BODY, n));
	signing_key_free(k);
}
END_TEST

static Suite *signing_suite(void)
{
	Suite *s = suite_create("signing");
	TCase *tc = tcase_create("signing");

	tcase_add_test(tc, matches_standard_webhooks_vector);
	tcase_add_test(tc, secret_without_prefix_is_used_as_is);
	tcase_add_test(tc, padding_is_optional);
	tcase_add_test(tc, rejects_bad_secrets);
	tcase_add_test(tc, header_carries_current_then_previous);
	tcase_add_test(tc, verify_accepts_either_key_and_any_position);
	tcase_add_test(tc, verify_rejects_tampering);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(signing_suite());
}
