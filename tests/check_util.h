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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/*
 * Is @text Prometheus' text exposition format with each family's lines
 * together, as a parser that reads it as a stream needs: "# HELP F", then
 * "# TYPE F", then samples of F only (F_bucket, F_count and F_sum of a
 * histogram), and no family twice?  If not, @why says which line broke
 * it.
 */
static inline bool tu_prom_grouped(const char *text, char *why, size_t len)
{
	enum { MAX_FAMILIES = 512, NAME = 128 };
	char seen[MAX_FAMILIES][NAME];
	char fam[NAME] = "", type[32] = "", name[NAME], kind[32];
	unsigned nseen = 0, lineno = 0;
	const char *l = text;

	while (*l) {
		const char *eol = strchr(l, '\n');
		size_t n = eol ? (size_t)(eol - l) : strlen(l);
		char line[512];

		lineno++;
		snprintf(line, sizeof(line), "%.*s", (int)n, l);
		l += n + (eol != NULL);
		if (!*line)
			continue;
		if (sscanf(line, "# HELP %127s", name) == 1) {
			for (unsigned i = 0; i < nseen; i++) {
				if (!strcmp(seen[i], name)) {
					snprintf(why, len, "line %u: %.100s's "
						 "second group: %.100s",
						 lineno, name, line);
					return false;
				}
			}
			if (nseen == MAX_FAMILIES) {
				snprintf(why, len, "more than %u families",
					 MAX_FAMILIES);
				return false;
			}
			strcpy(seen[nseen++], name);
			strcpy(fam, name);
			type[0] = '\0';
			continue;
		}
		if (sscanf(line, "# TYPE %127s %31s", name, kind) == 2) {
			if (strcmp(name, fam) || type[0]) {
				snprintf(why, len, "line %u: not right after "
					 "its HELP: %.100s", lineno, line);
				return false;
			}
			strcpy(type, kind);
			continue;
		}
		n = strcspn(line, "{ ");
		snprintf(name, sizeof(name), "%.*s", (int)n, line);
		if (line[0] == '#' || !type[0] || n == strlen(line)) {
			snprintf(why, len, "line %u: not a sample of a family "
				 "with a HELP and a TYPE: %.100s", lineno,
				 line);
			return false;
		}
		if (strcmp(name, fam)) {
			bool part = false;

			if (!strcmp(type, "histogram") &&
			    !strncmp(name, fam, strlen(fam)))
				part = !strcmp(name + strlen(fam), "_bucket") ||
				       !strcmp(name + strlen(fam), "_count") ||
				       !strcmp(name + strlen(fam), "_sum");
			if (!part) {
				snprintf(why, len, "line %u: a sample of "
					 "%.100s in %.100s's group: %.100s",
					 lineno, name, fam, line);
				return false;
			}
		}
	}
	return true;
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
