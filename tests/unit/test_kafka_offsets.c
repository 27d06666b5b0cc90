/*
 * The Kafka transport's offset bookkeeping (src/kafka/offsets.c): a commit
 * never passes a message whose batch has not settled, batches may settle
 * out of order, and a revoked partition's late settles move nothing.
 * Built only with --enable-kafka; links the module's source directly.
 */
#include "autoconfig.h"

#include "kafka/offsets.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

struct Commits {
	int n;
	char topic[8][32];
	int32_t partition[8];
	int64_t offset[8];
};

static void record(const char *topic, int32_t partition, int64_t offset, void *arg)
{
	struct Commits *c = arg;

	ck_assert_int_lt(c->n, 8);
	strncpy(c->topic[c->n], topic, sizeof(c->topic[0]) - 1);
	c->partition[c->n] = partition;
	c->offset[c->n++] = offset;
}

/* The single commit collect() hands out, or -1 when none. */
static int64_t commit_of(struct KOffsets *o, const char *topic, int32_t partition)
{
	struct Commits c = { 0 };

	koffsets_collect(o, topic, partition, record, &c);
	ck_assert_int_le(c.n, 1);
	return c.n ? c.offset[0] : -1;
}

START_TEST(nothing_settled_commits_nothing)
{
	struct KOffsets *o = koffsets_new();

	koffsets_assign(o, "t", 0);
	ck_assert_uint_ne(koffsets_add(o, "t", 0, 10), 0);
	ck_assert_int_eq(commit_of(o, "t", 0), -1);
	koffsets_free(o);
}
END_TEST

START_TEST(settled_in_order_commits_next_offset)
{
	struct KOffsets *o = koffsets_new();
	uint64_t g;

	koffsets_assign(o, "t", 0);
	g = koffsets_add(o, "t", 0, 10);
	koffsets_add(o, "t", 0, 11);
	ck_assert(koffsets_done(o, "t", 0, 10, g));
	ck_assert_int_eq(commit_of(o, "t", 0), 11);	/* 11 is still in flight */
	ck_assert(koffsets_done(o, "t", 0, 11, g));
	ck_assert_int_eq(commit_of(o, "t", 0), 12);
	ck_assert_int_eq(commit_of(o, "t", 0), -1);	/* handed out once */
	ck_assert_int_eq(koffsets_in_flight(o), 0);
	koffsets_free(o);
}
END_TEST

START_TEST(later_batch_settling_first_does_not_pass_the_earlier)
{
	struct KOffsets *o = koffsets_new();
	uint64_t g;

	koffsets_assign(o, "t", 1);
	for (int64_t off = 0; off < 10; off++)
		g = koffsets_add(o, "t", 1, off);
	for (int64_t off = 5; off < 10; off++)	/* batch B (5..9) settles before batch A (0..4) */
		ck_assert(koffsets_done(o, "t", 1, off, g));
	ck_assert_int_eq(commit_of(o, "t", 1), 0);
	for (int64_t off = 0; off < 5; off++)
		ck_assert(koffsets_done(o, "t", 1, off, g));
	ck_assert_int_eq(commit_of(o, "t", 1), 10);
	koffsets_free(o);
}
END_TEST

START_TEST(buffered_messages_hold_the_commit_back)
{
	struct KOffsets *o = koffsets_new();
	uint64_t g;

	koffsets_assign(o, "t", 0);
	g = koffsets_add(o, "t", 0, 3);
	koffsets_add(o, "t", 0, 4);	/* polled, not yet claimed */
	ck_assert(koffsets_done(o, "t", 0, 3, g));
	ck_assert_int_eq(commit_of(o, "t", 0), 4);
	koffsets_free(o);
}
END_TEST

START_TEST(revoked_partition_ignores_late_settles)
{
	struct KOffsets *o = koffsets_new();
	uint64_t g1, g2;

	koffsets_assign(o, "t", 2);
	g1 = koffsets_add(o, "t", 2, 7);
	koffsets_revoke(o, "t", 2);
	ck_assert(!koffsets_done(o, "t", 2, 7, g1));
	ck_assert(!koffsets_current(o, "t", 2, g1));
	ck_assert_int_eq(commit_of(o, "t", 2), -1);
	koffsets_assign(o, "t", 2);	/* back again: a new generation */
	g2 = koffsets_add(o, "t", 2, 7);
	ck_assert_uint_ne(g1, g2);
	ck_assert(!koffsets_done(o, "t", 2, 7, g1));	/* the old batch's settle */
	ck_assert_int_eq(commit_of(o, "t", 2), -1);
	ck_assert(koffsets_done(o, "t", 2, 7, g2));
	ck_assert_int_eq(commit_of(o, "t", 2), 8);
	koffsets_free(o);
}
END_TEST

START_TEST(unassigned_partition_takes_no_messages)
{
	struct KOffsets *o = koffsets_new();

	ck_assert_uint_eq(koffsets_add(o, "t", 0, 1), 0);
	ck_assert_int_eq(koffsets_in_flight(o), 0);
	koffsets_free(o);
}
END_TEST

START_TEST(partitions_and_topics_are_separate)
{
	struct KOffsets *o = koffsets_new();
	struct Commits c = { 0 };
	uint64_t a, b;

	koffsets_assign(o, "t", 0);
	koffsets_assign(o, "u", 0);
	a = koffsets_add(o, "t", 0, 100);
	b = koffsets_add(o, "u", 0, 5);
	koffsets_add(o, "u", 0, 6);
	ck_assert(koffsets_done(o, "t", 0, 100, a));
	ck_assert(koffsets_done(o, "u", 0, 5, b));
	ck_assert_int_eq(koffsets_collect(o, NULL, 0, record, &c), 2);
	ck_assert_str_eq(c.topic[0], "t");
	ck_assert_int_eq(c.offset[0], 101);
	ck_assert_str_eq(c.topic[1], "u");
	ck_assert_int_eq(c.offset[1], 6);
	koffsets_free(o);
}
END_TEST

START_TEST(out_of_order_adds_stay_sorted)
{
	struct KOffsets *o = koffsets_new();
	uint64_t g;

	koffsets_assign(o, "t", 0);
	g = koffsets_add(o, "t", 0, 20);
	koffsets_add(o, "t", 0, 18);	/* given back to the buffer, polled order changes */
	koffsets_add(o, "t", 0, 19);
	ck_assert(koffsets_done(o, "t", 0, 20, g));
	ck_assert_int_eq(commit_of(o, "t", 0), 18);
	ck_assert(koffsets_done(o, "t", 0, 18, g));
	ck_assert(koffsets_done(o, "t", 0, 19, g));
	ck_assert_int_eq(commit_of(o, "t", 0), 21);
	ck_assert(!koffsets_done(o, "t", 0, 19, g));	/* twice: not in flight any more */
	koffsets_free(o);
}
END_TEST

static Suite *offsets_suite(void)
{
	Suite *s = suite_create("kafka offsets");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, nothing_settled_commits_nothing);
	tcase_add_test(tc, settled_in_order_commits_next_offset);
	tcase_add_test(tc, later_batch_settling_first_does_not_pass_the_earlier);
	tcase_add_test(tc, buffered_messages_hold_the_commit_back);
	tcase_add_test(tc, revoked_partition_ignores_late_settles);
	tcase_add_test(tc, unassigned_partition_takes_no_messages);
	tcase_add_test(tc, partitions_and_topics_are_separate);
	tcase_add_test(tc, out_of_order_adds_stay_sorted);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(offsets_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
