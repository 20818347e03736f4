// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * check_policy.c - the pager's policies: which page to evict (CLOCK) and
 * what to prefetch (per-stream majority trend).
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "check_util.h"
#include "memxd/pager/pagetable.h"
#include "memxd/pager/prefetch.h"
#include "memxd/pager/victim.h"

/* A run of faults one page apart is a stride of 1, and prefetched. */
START_TEST(test_prefetch_sequential)
{
	struct prefetch pf;
	int64_t stride = 0;
	unsigned st = 0;

	prefetch_init(&pf, 64);
	for (uint64_t p = 1000; p < 1010; p++)
		st = prefetch_note(&pf, p);
	ck_assert_uint_gt(prefetch_plan(&pf, st, &stride), 0);
	ck_assert_int_eq(stride, 1);
}
END_TEST

/*
 * Quicksort's partition: one walk up from the left, one down from the
 * right, interleaved.  One shared history has no majority; two streams
 * each have theirs.
 */
START_TEST(test_prefetch_interleaved_streams)
{
	struct prefetch pf;
	int64_t up = 0, down = 0;
	unsigned s_up = 0, s_down = 0;

	prefetch_init(&pf, 64);
	for (unsigned i = 0; i < 12; i++) {
		s_up = prefetch_note(&pf, 10000 + i);
		s_down = prefetch_note(&pf, 50000 - i);
	}
	ck_assert_uint_ne(s_up, s_down);
	ck_assert_uint_gt(prefetch_plan(&pf, s_up, &up), 0);
	ck_assert_uint_gt(prefetch_plan(&pf, s_down, &down), 0);
	ck_assert_int_eq(up, 1);
	ck_assert_int_eq(down, -1);
}
END_TEST

/* Random faults: no trend, nothing prefetched. */
START_TEST(test_prefetch_random_no_trend)
{
	uint64_t rng = 42;
	struct prefetch pf;
	int64_t stride;
	unsigned hits = 0;

	prefetch_init(&pf, 64);
	for (unsigned i = 0; i < 1000; i++) {
		unsigned st = prefetch_note(&pf, tu_rand(&rng) % (1u << 30));

		hits += prefetch_plan(&pf, st, &stride) != 0;
	}
	ck_assert_uint_lt(hits, 10);
}
END_TEST

/* Hits double the window up to the maximum; waste halves it. */
START_TEST(test_prefetch_window_adapts)
{
	struct prefetch pf;
	int64_t stride;
	unsigned st = 0, w0, w;

	prefetch_init(&pf, 64);
	for (uint64_t p = 0; p < 10; p++)
		st = prefetch_note(&pf, p);
	w0 = prefetch_plan(&pf, st, &stride);
	for (unsigned i = 0; i < 10; i++) {
		for (unsigned k = 0; k < 64; k++)
			prefetch_hit(&pf);
		w = prefetch_plan(&pf, st, &stride);
	}
	ck_assert_uint_gt(w, w0);
	ck_assert_uint_eq(w, 64);
	for (unsigned k = 0; k < 100; k++)
		prefetch_wasted(&pf);
	ck_assert_uint_eq(prefetch_plan(&pf, st, &stride), 32);
	/* Disabled: never. */
	prefetch_init(&pf, 0);
	for (uint64_t p = 0; p < 10; p++)
		st = prefetch_note(&pf, p);
	ck_assert_uint_eq(prefetch_plan(&pf, st, &stride), 0);
}
END_TEST

/* CLOCK: referenced pages get a second chance; busy ones are skipped. */
/*
 * The write trend: clean installs that are not written stay clean; once
 * three in four are written, installs go writable, but for one probe in
 * PREFETCH_PROBE; when the probes stop being written, it turns back.
 */
START_TEST(test_write_trend)
{
	struct prefetch pf;
	unsigned writable = 0;

	prefetch_init(&pf, 64);
	ck_assert(!prefetch_writable(&pf));
	prefetch_installed_clean(&pf, 1000);
	ck_assert(!prefetch_writable(&pf));
	/* A writer: nearly every clean page gets its write. */
	prefetch_init(&pf, 64);
	for (unsigned i = 0; i < 400; i++) {
		prefetch_installed_clean(&pf, 1);
		prefetch_clean_written(&pf);
	}
	for (unsigned i = 0; i < 8 * PREFETCH_PROBE; i++)
		writable += prefetch_writable(&pf);
	ck_assert_uint_eq(writable, 7 * 8);
	/* Writes are never counted past the installs. */
	for (unsigned i = 0; i < 1000; i++)
		prefetch_clean_written(&pf);
	ck_assert_uint_le(pf.clean_written, pf.clean_installed);
	/* The installs stop being written: the trend decays, and turns. */
	prefetch_installed_clean(&pf, 1000);
	for (unsigned i = 0; i < PREFETCH_PROBE; i++)
		ck_assert(!prefetch_writable(&pf));
}
END_TEST

START_TEST(test_clock_second_chance)
{
	struct pagetable pt;
	uint64_t out[16];
	struct victim_clock c = { 0 };
	unsigned n;

	ck_assert_int_eq(pt_init(&pt, 16, NULL), 0);
	for (unsigned i = 0; i < 8; i++)
		ck_assert(pt_found_resident(&pt, i));
	for (unsigned i = 0; i < 8; i++)
		pt_clear_ref(&pt, i);
	pt_touch(&pt, 1);
	/* A WRITE in flight: never picked. */
	ck_assert(pt_evict_begin(&pt, 2));
	ck_assert(pt_write_begin(&pt, 2));
	ck_assert(pt_evict_cancel(&pt, 2));
	pt_clear_ref(&pt, 2);
	n = victim_select(&c, &pt, out, 3);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(out[0], 0);
	ck_assert_uint_eq(out[1], 3);	/* 1 had its bit cleared, 2 busy */
	ck_assert_uint_eq(out[2], 4);
	ck_assert(!pt_has(&pt, 1, PT_REF));
	/* Ask for more than there are: each page at most once. */
	n = victim_select(&c, &pt, out, 16);
	ck_assert_uint_eq(n, 7);	/* 0, 1, 3..7: all but the busy one */
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = i + 1; j < n; j++)
			ck_assert_uint_ne(out[i], out[j]);
	for (unsigned i = 0; i < n; i++)
		ck_assert_uint_ne(out[i], 2);
	ck_assert_uint_eq(pt.bugs, 0);
	pt_fini(&pt);
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("prefetch");

	tcase_add_test(tc, test_prefetch_sequential);
	tcase_add_test(tc, test_prefetch_interleaved_streams);
	tcase_add_test(tc, test_prefetch_random_no_trend);
	tcase_add_test(tc, test_prefetch_window_adapts);
	tcase_add_test(tc, test_write_trend);
	suite_add_tcase(s, tc);
	tc = tcase_create("evict");
	tcase_add_test(tc, test_clock_second_chance);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(policy_suite());
}
