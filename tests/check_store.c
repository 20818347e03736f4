// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * check_store.c - the page store: its hard capacity (all or nothing), its
 * hash tables against a reference model, and range discards.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "memxd/store.h"
#include "rmap/wire.h"
#include "tests/check_util.h"

#define PG	RMAP_PAGE_SIZE

static uint8_t wbuf[RMAP_MAX_PAGES * PG];

/* Fill @n pages with a pattern that names (tag, page). */
static void *pattern(uint32_t tag, uint64_t page, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t *w = (uint32_t *)(wbuf + (size_t)i * PG);

		for (unsigned k = 0; k < PG / 4; k++)
			w[k] = tag ^ (uint32_t)(page + i) * 2654435761u ^ k;
	}
	return wbuf;
}

static void assert_page(struct store *st, struct store_session *ss,
			uint64_t page, uint32_t tag)
{
	struct iovec iov;
	const uint32_t *w;

	ck_assert_int_eq(store_read(st, ss, page, 1, &iov), 0);
	ck_assert_uint_eq(iov.iov_len, PG);
	w = iov.iov_base;
	for (unsigned k = 0; k < PG / 4; k++)
		ck_assert_msg(w[k] == (tag ^ (uint32_t)page * 2654435761u ^ k),
			      "page %lu word %u", (unsigned long)page, k);
}

START_TEST(test_new_rejects_bad_capacity)
{
	struct store *st = NULL;

	ck_assert_int_eq(store_new(&st, 0), -EINVAL);
	ck_assert_int_eq(store_new(&st, UINT32_MAX), -EINVAL);
	ck_assert_int_eq(store_new(&st, 1), 0);
	ck_assert_uint_eq(store_capacity(st), 1);
	ck_assert_uint_eq(store_used(st), 0);
	store_free(st);
}
END_TEST

START_TEST(test_capacity_fill_and_refuse)
{
	struct store *st;
	struct store_session *a, *b;
	struct iovec iov[8];

	ck_assert_int_eq(store_new(&st, 100), 0);
	a = store_session_new(st);
	b = store_session_new(st);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);

	/* Fill to exactly the capacity, over two sessions. */
	for (uint64_t p = 0; p < 60; p += 6)
		ck_assert_int_eq(store_write(st, a, p, 6, pattern(1, p, 6)), 0);
	ck_assert_int_eq(store_write(st, b, 1000, 40, pattern(2, 1000, 40)), 0);
	ck_assert_uint_eq(store_used(st), 100);
	ck_assert_uint_eq(store_session_pages(a), 60);
	ck_assert_uint_eq(store_session_pages(b), 40);

	/* One fresh page beyond capacity: refused, and nothing changes. */
	ck_assert_int_eq(store_write(st, a, 60, 1, pattern(9, 60, 1)), -ENOSPC);
	ck_assert_int_eq(store_write(st, b, 1000, 41, pattern(9, 1000, 41)),
			 -ENOSPC);
	/* A run mixing overwrites with one fresh page is refused whole. */
	ck_assert_int_eq(store_write(st, a, 55, 6, pattern(9, 55, 6)), -ENOSPC);
	ck_assert_uint_eq(store_used(st), 100);
	ck_assert_uint_eq(store_session_pages(a), 60);
	ck_assert_uint_eq(store_session_pages(b), 40);
	for (uint64_t p = 0; p < 60; p++)
		assert_page(st, a, p, 1);
	for (uint64_t p = 1000; p < 1040; p++)
		assert_page(st, b, p, 2);
	ck_assert_int_eq(store_read(st, a, 60, 1, iov), -ENOENT);
	ck_assert_int_eq(store_read(st, b, 1040, 1, iov), -ENOENT);

	/* Overwrites at capacity need no new room. */
	ck_assert_int_eq(store_write(st, a, 10, 8, pattern(3, 10, 8)), 0);
	ck_assert_uint_eq(store_used(st), 100);
	for (uint64_t p = 10; p < 18; p++)
		assert_page(st, a, p, 3);
	assert_page(st, a, 9, 1);
	assert_page(st, a, 18, 1);

	/* Discarding frees room; then a fresh page fits again. */
	ck_assert_uint_eq(store_discard(st, a, 0, 2), 2);
	ck_assert_uint_eq(store_used(st), 98);
	ck_assert_int_eq(store_read(st, a, 0, 1, iov), -ENOENT);
	ck_assert_int_eq(store_write(st, a, 200, 3, pattern(4, 200, 3)),
			 -ENOSPC);
	ck_assert_int_eq(store_write(st, a, 200, 2, pattern(4, 200, 2)), 0);
	ck_assert_uint_eq(store_used(st), 100);
	assert_page(st, a, 201, 4);

	/* Freeing a session frees all its pages. */
	store_session_free(st, b);
	ck_assert_uint_eq(store_used(st), 60);
	ck_assert_int_eq(store_write(st, a, 300, 40, pattern(5, 300, 40)), 0);
	ck_assert_uint_eq(store_used(st), 100);
	for (uint64_t p = 300; p < 340; p++)
		assert_page(st, a, p, 5);
	store_session_free(st, a);
	ck_assert_uint_eq(store_used(st), 0);
	store_free(st);
}
END_TEST

START_TEST(test_write_rejects_bad_runs)
{
	struct store *st;
	struct store_session *ss;

	ck_assert_int_eq(store_new(&st, 1000), 0);
	ss = store_session_new(st);
	ck_assert_int_eq(store_write(st, ss, 0, 0, wbuf), -EINVAL);
	ck_assert_int_eq(store_write(st, ss, 0, RMAP_MAX_PAGES + 1, wbuf),
			 -EINVAL);
	ck_assert_int_eq(store_write(st, ss, UINT64_MAX, 2, wbuf), -EINVAL);
	ck_assert_uint_eq(store_used(st), 0);
	ck_assert_int_eq(store_write(st, ss, 0, RMAP_MAX_PAGES,
				     pattern(7, 0, RMAP_MAX_PAGES)), 0);
	ck_assert_uint_eq(store_used(st), RMAP_MAX_PAGES);
	store_session_free(st, ss);
	store_free(st);
}
END_TEST

START_TEST(test_read_partial_run_is_enoent)
{
	struct store *st;
	struct store_session *ss;
	struct iovec iov[4];

	ck_assert_int_eq(store_new(&st, 16), 0);
	ss = store_session_new(st);
	ck_assert_int_eq(store_write(st, ss, 10, 2, pattern(1, 10, 2)), 0);
	ck_assert_int_eq(store_read(st, ss, 10, 2, iov), 0);
	ck_assert_int_eq(store_read(st, ss, 9, 3, iov), -ENOENT);
	ck_assert_int_eq(store_read(st, ss, 10, 3, iov), -ENOENT);
	store_session_free(st, ss);
	store_free(st);
}
END_TEST

START_TEST(test_sessions_are_separate)
{
	struct store *st;
	struct store_session *a, *b;
	struct iovec iov;

	ck_assert_int_eq(store_new(&st, 16), 0);
	a = store_session_new(st);
	b = store_session_new(st);
	ck_assert_int_eq(store_write(st, a, 5, 1, pattern(1, 5, 1)), 0);
	ck_assert_int_eq(store_write(st, b, 5, 1, pattern(2, 5, 1)), 0);
	assert_page(st, a, 5, 1);
	assert_page(st, b, 5, 2);
	ck_assert_uint_eq(store_discard(st, a, 0, 100), 1);
	ck_assert_int_eq(store_read(st, a, 5, 1, &iov), -ENOENT);
	assert_page(st, b, 5, 2);
	store_session_free(st, a);
	store_session_free(st, b);
	store_free(st);
}
END_TEST

/*
 * Many inserts and random discards on one session, checked after every
 * step against a plain array: the open-addressing table must never lose
 * or invent a page, through growth and backward-shift deletion.
 */
START_TEST(test_hash_table_against_reference)
{
	enum { SPACE = 20000, CAP = 12000, STEPS = 60000 };
	static uint32_t ref[SPACE];	/* 0: absent, else the tag */
	struct store *st;
	struct store_session *ss;
	uint64_t seed = 0xc0ffee + (uint64_t)_i, present = 0;
	/* Sparse page numbers collide in the hash in interesting ways. */
	const uint64_t stride = _i ? 1 : 0x100000001ull;

	memset(ref, 0, sizeof(ref));
	ck_assert_int_eq(store_new(&st, CAP), 0);
	ss = store_session_new(st);
	for (unsigned step = 0; step < STEPS; step++) {
		uint64_t r = tu_rand(&seed);
		uint32_t p = (uint32_t)(r % SPACE);

		if ((r >> 32) % 3 || present < 100) {
			uint32_t n = 1 + (uint32_t)((r >> 40) % 4), fresh = 0;
			uint32_t tag = step + 1;
			int ret;

			if (p + n > SPACE || stride != 1)
				n = stride != 1 ? 1 : SPACE - p;
			for (uint32_t i = 0; i < n; i++)
				fresh += !ref[p + i];
			for (uint32_t i = 0; i < n; i++) {
				uint32_t *w = (uint32_t *)(wbuf + (size_t)i * PG);

				w[0] = tag;
				w[1] = p + i;
			}
			ret = store_write(st, ss, (uint64_t)p * stride, n, wbuf);
			if (present + fresh > CAP) {
				ck_assert_int_eq(ret, -ENOSPC);
			} else {
				ck_assert_int_eq(ret, 0);
				for (uint32_t i = 0; i < n; i++)
					ref[p + i] = tag;
				present += fresh;
			}
		} else {
			uint32_t n = 1 + (uint32_t)((r >> 40) % 64), had = 0;
			uint64_t got;

			if (p + n > SPACE)
				n = SPACE - p;
			if (stride == 1) {
				for (uint32_t i = 0; i < n; i++) {
					had += !!ref[p + i];
					ref[p + i] = 0;
				}
				got = store_discard(st, ss, p, n);
			} else {
				had = !!ref[p];
				ref[p] = 0;
				got = store_discard(st, ss, (uint64_t)p * stride,
						    1);
			}
			ck_assert_uint_eq(got, had);
			present -= had;
		}
		ck_assert_uint_eq(store_used(st), present);
		ck_assert_uint_eq(store_session_pages(ss), present);
		/* Spot-check a few pages every step; all of them sometimes. */
		for (unsigned k = 0; k < (step % 5000 ? 4u : (unsigned)SPACE);
		     k++) {
			uint32_t q = step % 5000 ? (uint32_t)(tu_rand(&seed) %
							     SPACE) : k;
			struct iovec iov;
			int ret = store_read(st, ss, (uint64_t)q * stride, 1,
					     &iov);

			if (!ref[q]) {
				ck_assert_int_eq(ret, -ENOENT);
				continue;
			}
			ck_assert_int_eq(ret, 0);
			ck_assert_uint_eq(((uint32_t *)iov.iov_base)[0], ref[q]);
			ck_assert_uint_eq(((uint32_t *)iov.iov_base)[1], q);
		}
	}
	ck_assert_uint_gt(present, 0);
	store_session_free(st, ss);
	ck_assert_uint_eq(store_used(st), 0);
	store_free(st);
}
END_TEST

START_TEST(test_huge_range_discard)
{
	struct store *st;
	struct store_session *ss;
	uint64_t seed = 77;
	uint64_t pages[500];
	unsigned inside = 0;
	struct iovec iov;

	ck_assert_int_eq(store_new(&st, 1000), 0);
	ss = store_session_new(st);
	for (unsigned i = 0; i < 500; i++) {
		uint64_t p;

		do {
			p = tu_rand(&seed);
			if (i < 5)	/* the edges of the page space */
				p = (uint64_t[]){ 0, 1, UINT64_MAX - 1,
						  UINT64_MAX - 2,
						  1ull << 63 }[i];
		} while (store_read(st, ss, p, 1, &iov) == 0);
		pages[i] = p;
		ck_assert_int_eq(store_write(st, ss, p, 1, pattern(1, p, 1)), 0);
		if (p >= (1ull << 62) && p < (3ull << 62))
			inside++;
	}
	ck_assert_uint_eq(store_used(st), 500);

	/* A range far larger than the table is walked via the table. */
	ck_assert_uint_eq(store_discard(st, ss, 1ull << 62, 2ull << 62),
			  inside);
	ck_assert_uint_eq(store_used(st), 500 - inside);
	for (unsigned i = 0; i < 500; i++) {
		bool in = pages[i] >= (1ull << 62) && pages[i] < (3ull << 62);

		ck_assert_int_eq(store_read(st, ss, pages[i], 1, &iov),
				 in ? -ENOENT : 0);
	}
	/* Everything below the last two pages... */
	ck_assert_uint_eq(store_discard(st, ss, 0, UINT64_MAX - 2),
			  500 - inside - 2);
	ck_assert_int_eq(store_read(st, ss, UINT64_MAX - 2, 1, &iov), 0);
	ck_assert_int_eq(store_read(st, ss, UINT64_MAX - 1, 1, &iov), 0);
	/* ...then a range running off the end of the page space, clamped. */
	ck_assert_uint_eq(store_discard(st, ss, UINT64_MAX - 2, UINT64_MAX), 2);
	ck_assert_int_eq(store_read(st, ss, UINT64_MAX - 1, 1, &iov), -ENOENT);
	ck_assert_uint_eq(store_used(st), 0);
	ck_assert_uint_eq(store_session_pages(ss), 0);
	/* The emptied table still works. */
	ck_assert_int_eq(store_write(st, ss, 3, 2, pattern(2, 3, 2)), 0);
	assert_page(st, ss, 4, 2);
	store_session_free(st, ss);
	store_free(st);
}
END_TEST

START_TEST(test_discarded_slots_are_reused)
{
	struct store *st;
	struct store_session *ss;

	ck_assert_int_eq(store_new(&st, 300), 0);
	ss = store_session_new(st);
	for (unsigned round = 0; round < 20; round++) {
		ck_assert_int_eq(store_write(st, ss, round * 1000, 256,
					     pattern(round, round * 1000, 256)), 0);
		ck_assert_uint_eq(store_used(st), 256);
		assert_page(st, ss, round * 1000 + 255, round);
		ck_assert_uint_eq(store_discard(st, ss, round * 1000, 256), 256);
		ck_assert_uint_eq(store_used(st), 0);
	}
	store_session_free(st, ss);
	store_free(st);
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc;

	tc = tcase_create("capacity");
	tcase_add_test(tc, test_new_rejects_bad_capacity);
	tcase_add_test(tc, test_capacity_fill_and_refuse);
	tcase_add_test(tc, test_write_rejects_bad_runs);
	tcase_add_test(tc, test_read_partial_run_is_enoent);
	tcase_add_test(tc, test_sessions_are_separate);
	tcase_add_test(tc, test_discarded_slots_are_reused);
	suite_add_tcase(s, tc);

	tc = tcase_create("table");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_hash_table_against_reference, 0, 2);
	tcase_add_test(tc, test_huge_range_discard);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(store_suite());
}
