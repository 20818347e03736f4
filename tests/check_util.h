/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * check_util.h - small helpers shared by the Check unit tests.
 *
 * Everything that waits runs the event loop with a short timeout and a
 * hard deadline: a test that does not get its answer in time fails, it
 * never hangs.  Everything random comes from a seeded xorshift, so a
 * failure reproduces.
 */
#ifndef MEMX_TESTS_CHECK_UTIL_H
#define MEMX_TESTS_CHECK_UTIL_H

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "rmap/evloop.h"

/*
 * Check's ck_assert_msg(), which every ck_assert_*() expands to, records
 * each assertion that passes with a write(2) to the parent process
 * (_mark_point), so that a test that crashes can name the last line it
 * passed.  The simulations and reference models here assert inside
 * their loops, millions of times: those writes were most of the unit
 * tests' time.  check_store's parity case made 1.4 million of them, and
 * took 118 s under the sanitizers; it takes 0.6 s with this macro.  A
 * failing assertion still reports its file, line and values; a crash is
 * reported by the sanitizers' stack trace, or by Check with the test's
 * name.
 */
#undef ck_assert_msg
#define ck_assert_msg(expr, ...)					\
	((expr) ? (void)0 :						\
	 _ck_assert_failed(__FILE__, __LINE__,				\
			   "Assertion '" #expr "' failed", ## __VA_ARGS__))

/* How long any one wait may take before the test fails. */
#define TU_DEADLINE_MS	10000u

static inline uint64_t tu_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

static inline void tu_fill(uint64_t *state, void *buf, size_t len)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(tu_rand(state) >> 24);
}

/* Run @loop until @cond holds; fail the test after @ms milliseconds. */
#define TU_RUN_UNTIL(loop, cond, ms) do {				\
	uint64_t tu_dl_ = evl_now_ns() + (uint64_t)(ms) * 1000000ull;	\
	while (!(cond)) {						\
		int tu_r_;						\
		ck_assert_msg(evl_now_ns() < tu_dl_,			\
			      "deadline: '%s' still false after %u ms",	\
			      #cond, (unsigned)(ms));			\
		tu_r_ = evl_run_once((loop), 5000000);			\
		ck_assert_msg(tu_r_ >= 0, "evl_run_once: %d", tu_r_);	\
	}								\
} while (0)

/* Run @loop for @ms milliseconds, whatever happens. */
static inline void tu_run_for(struct evl *loop, unsigned ms)
{
	uint64_t dl = evl_now_ns() + (uint64_t)ms * 1000000ull;

	while (evl_now_ns() < dl) {
		int64_t left = (int64_t)(dl - evl_now_ns());

		if (left <= 0)
			break;
		ck_assert_int_ge(evl_run_once(loop, left < 5000000 ? left :
					      5000000), 0);
	}
}

static inline int tu_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
