// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * check_store.c - the page store: its hard capacity (all or nothing), its
 * hash tables against a reference model, and range discards; and the
 * page-group (XOR parity) operations, also against a reference model.
 */
#include <check.h>
#include <errno.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memxd/server/reftab.h"
#include "memxd/server/slots.h"
#include "memxd/server/store.h"
#include "rmap/wire.h"
#include "tests/check_util.h"

#define PG	RMAP_PAGE_SIZE

static uint8_t wbuf[RMAP_MAX_PAGES * PG];

/*
 * Every test of the store as it was runs twice, dedup on and off (the
 * tcases' fixture sets this): their pages are all distinct, so both
 * must behave alike.  The small ones run a third time on a reserved
 * store (store_reserve: locked, and freed slots keep their memory).
 */
static bool dedup_on = true;
static bool reserve_on;

static void dedup_setup_on(void)
{
	dedup_on = true;
	reserve_on = false;
}

static void dedup_setup_off(void)
{
	dedup_on = false;
	reserve_on = false;
}

static void reserve_setup(void)
{
	dedup_on = true;
	reserve_on = true;
}

static struct store *new_store(uint64_t capacity)
{
	struct store *st = NULL;

	ck_assert_int_eq(store_new(&st, capacity), 0);
	ck_assert_int_eq(store_set_dedup(st, dedup_on), 0);
	if (reserve_on) {
		ck_assert_int_eq(store_reserve(st, NULL, NULL), 0);
		ck_assert(store_reserved(st));
	}
	return st;
}

/* Fill @n pages with a pattern that names (tag, page). */
static void *pattern(uint32_t tag, uint64_t page, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t *w = (uint32_t *)(wbuf + (size_t)i * PG);

		for (unsigned k = 0; k < PG / 4; k++)
			w[k] = tag ^ (uint32_t)(page + i) * 2654435761u ^
			       (uint32_t)((page + i) >> 32) ^ k;
	}
	return wbuf;
}

static void assert_page(struct store *st, struct store_session *ss,
			uint64_t page, uint32_t tag)
{
	struct iovec iov;
	const uint32_t *w;

	ck_assert_int_eq(store_read(st, ss, page, 1, &iov, NULL), 0);
	ck_assert_uint_eq(iov.iov_len, PG);
	w = iov.iov_base;
	for (unsigned k = 0; k < PG / 4; k++)
		ck_assert_msg(w[k] == (tag ^ (uint32_t)page * 2654435761u ^
				       (uint32_t)(page >> 32) ^ k),
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

	st = new_store(100);
	a = store_session_new(st);
	b = store_session_new(st);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);

	/* Fill to exactly the capacity, over two sessions. */
	for (uint64_t p = 0; p < 60; p += 6)
		ck_assert_int_eq(store_write(st, a, p, 6, pattern(1, p, 6), NULL), 0);
	ck_assert_int_eq(store_write(st, b, 1000, 40, pattern(2, 1000, 40), NULL), 0);
	ck_assert_uint_eq(store_used(st), 100);
	ck_assert_uint_eq(store_session_pages(a), 60);
	ck_assert_uint_eq(store_session_pages(b), 40);

	/* One fresh page beyond capacity: refused, and nothing changes. */
	ck_assert_int_eq(store_write(st, a, 60, 1, pattern(9, 60, 1), NULL), -ENOSPC);
	ck_assert_int_eq(store_write(st, b, 1000, 41, pattern(9, 1000, 41), NULL),
			 -ENOSPC);
	/* A run mixing overwrites with one fresh page is refused whole. */
	ck_assert_int_eq(store_write(st, a, 55, 6, pattern(9, 55, 6), NULL), -ENOSPC);
	ck_assert_uint_eq(store_used(st), 100);
	ck_assert_uint_eq(store_session_pages(a), 60);
	ck_assert_uint_eq(store_session_pages(b), 40);
	for (uint64_t p = 0; p < 60; p++)
		assert_page(st, a, p, 1);
	for (uint64_t p = 1000; p < 1040; p++)
		assert_page(st, b, p, 2);
	ck_assert_int_eq(store_read(st, a, 60, 1, iov, NULL), -ENOENT);
	ck_assert_int_eq(store_read(st, b, 1040, 1, iov, NULL), -ENOENT);

	/* Overwrites at capacity need no new room. */
	ck_assert_int_eq(store_write(st, a, 10, 8, pattern(3, 10, 8), NULL), 0);
	ck_assert_uint_eq(store_used(st), 100);
	for (uint64_t p = 10; p < 18; p++)
		assert_page(st, a, p, 3);
	assert_page(st, a, 9, 1);
	assert_page(st, a, 18, 1);

	/* Discarding frees room; then a fresh page fits again. */
	ck_assert_uint_eq(store_discard(st, a, 0, 2), 2);
	ck_assert_uint_eq(store_used(st), 98);
	ck_assert_int_eq(store_read(st, a, 0, 1, iov, NULL), -ENOENT);
	ck_assert_int_eq(store_write(st, a, 200, 3, pattern(4, 200, 3), NULL),
			 -ENOSPC);
	ck_assert_int_eq(store_write(st, a, 200, 2, pattern(4, 200, 2), NULL), 0);
	ck_assert_uint_eq(store_used(st), 100);
	assert_page(st, a, 201, 4);

	/* Freeing a session frees all its pages. */
	store_session_free(st, b);
	ck_assert_uint_eq(store_used(st), 60);
	ck_assert_int_eq(store_write(st, a, 300, 40, pattern(5, 300, 40), NULL), 0);
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

	st = new_store(1000);
	ss = store_session_new(st);
	ck_assert_int_eq(store_write(st, ss, 0, 0, wbuf, NULL), -EINVAL);
	ck_assert_int_eq(store_write(st, ss, 0, RMAP_MAX_PAGES + 1, wbuf, NULL),
			 -EINVAL);
	ck_assert_int_eq(store_write(st, ss, UINT64_MAX, 2, wbuf, NULL), -EINVAL);
	ck_assert_uint_eq(store_used(st), 0);
	ck_assert_int_eq(store_write(st, ss, 0, RMAP_MAX_PAGES,
				     pattern(7, 0, RMAP_MAX_PAGES), NULL), 0);
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

	st = new_store(16);
	ss = store_session_new(st);
	ck_assert_int_eq(store_write(st, ss, 10, 2, pattern(1, 10, 2), NULL), 0);
	ck_assert_int_eq(store_read(st, ss, 10, 2, iov, NULL), 0);
	ck_assert_int_eq(store_read(st, ss, 9, 3, iov, NULL), -ENOENT);
	ck_assert_int_eq(store_read(st, ss, 10, 3, iov, NULL), -ENOENT);
	store_session_free(st, ss);
	store_free(st);
}
END_TEST

START_TEST(test_sessions_are_separate)
{
	struct store *st;
	struct store_session *a, *b;
	struct iovec iov;

	st = new_store(16);
	a = store_session_new(st);
	b = store_session_new(st);
	ck_assert_int_eq(store_write(st, a, 5, 1, pattern(1, 5, 1), NULL), 0);
	ck_assert_int_eq(store_write(st, b, 5, 1, pattern(2, 5, 1), NULL), 0);
	assert_page(st, a, 5, 1);
	assert_page(st, b, 5, 2);
	ck_assert_uint_eq(store_discard(st, a, 0, 100), 1);
	ck_assert_int_eq(store_read(st, a, 5, 1, &iov, NULL), -ENOENT);
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
	st = new_store(CAP);
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
			ret = store_write(st, ss, (uint64_t)p * stride, n, wbuf, NULL);
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
					     &iov, NULL);

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
	/* Its table is large: walked when asked (store_give_back). */
	ck_assert(!store_give_back(st, UINT64_MAX));
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

	st = new_store(1000);
	ss = store_session_new(st);
	for (unsigned i = 0; i < 500; i++) {
		uint64_t p;

		do {
			p = tu_rand(&seed);
			if (i < 5)	/* the edges of the page space */
				p = (uint64_t[]){ 0, 1, UINT64_MAX - 1,
						  UINT64_MAX - 2,
						  1ull << 63 }[i];
		} while (store_read(st, ss, p, 1, &iov, NULL) == 0);
		pages[i] = p;
		ck_assert_int_eq(store_write(st, ss, p, 1, pattern(1, p, 1), NULL), 0);
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

		ck_assert_int_eq(store_read(st, ss, pages[i], 1, &iov, NULL),
				 in ? -ENOENT : 0);
	}
	/* Everything below the last two pages... */
	ck_assert_uint_eq(store_discard(st, ss, 0, UINT64_MAX - 2),
			  500 - inside - 2);
	ck_assert_int_eq(store_read(st, ss, UINT64_MAX - 2, 1, &iov, NULL), 0);
	ck_assert_int_eq(store_read(st, ss, UINT64_MAX - 1, 1, &iov, NULL), 0);
	/* ...then a range running off the end of the page space, clamped. */
	ck_assert_uint_eq(store_discard(st, ss, UINT64_MAX - 2, UINT64_MAX), 2);
	ck_assert_int_eq(store_read(st, ss, UINT64_MAX - 1, 1, &iov, NULL), -ENOENT);
	ck_assert_uint_eq(store_used(st), 0);
	ck_assert_uint_eq(store_session_pages(ss), 0);
	/* The emptied table still works. */
	ck_assert_int_eq(store_write(st, ss, 3, 2, pattern(2, 3, 2), NULL), 0);
	assert_page(st, ss, 4, 2);
	store_session_free(st, ss);
	store_free(st);
}
END_TEST

START_TEST(test_discarded_slots_are_reused)
{
	struct store *st;
	struct store_session *ss;

	st = new_store(300);
	ss = store_session_new(st);
	for (unsigned round = 0; round < 20; round++) {
		ck_assert_int_eq(store_write(st, ss, round * 1000, 256,
					     pattern(round, round * 1000, 256), NULL), 0);
		ck_assert_uint_eq(store_used(st), 256);
		assert_page(st, ss, round * 1000 + 255, round);
		ck_assert_uint_eq(store_discard(st, ss, round * 1000, 256), 256);
		ck_assert_uint_eq(store_used(st), 0);
	}
	store_session_free(st, ss);
	store_free(st);
}
END_TEST

/* Is the page at @addr in memory?  (A slot given back is not.) */
static bool resident(void *addr)
{
	unsigned char v = 0;

	ck_assert_int_eq(mincore(addr, PG, &v), 0);
	return v & 1;
}

/* The slots holding [page, page + n) of @ss, in @out. */
static void slot_addrs(struct store *st, struct store_session *ss,
		       uint64_t page, uint32_t n, void **out)
{
	struct iovec iov[RMAP_MAX_PAGES];

	for (uint32_t i = 0; i < n; i += RMAP_MAX_PAGES) {
		uint32_t k = n - i < RMAP_MAX_PAGES ? n - i : RMAP_MAX_PAGES;

		ck_assert_int_eq(store_read(st, ss, page + i, k, iov, NULL), 0);
		for (uint32_t j = 0; j < k; j++)
			out[i + j] = iov[j].iov_base;
	}
}

static struct store_stats stats_of(const struct store *st)
{
	struct store_stats ss;

	store_stats(st, &ss);
	return ss;
}

/* Write pages [first, first + n) of @ss with pattern(@tag), run by run. */
static void write_span(struct store *st, struct store_session *ss,
		       uint64_t first, uint32_t n, uint32_t tag)
{
	for (uint32_t i = 0; i < n; i += RMAP_MAX_PAGES) {
		uint32_t k = n - i < RMAP_MAX_PAGES ? n - i : RMAP_MAX_PAGES;

		ck_assert_int_eq(store_write(st, ss, first + i, k,
					     pattern(tag, first + i, k), NULL), 0);
	}
}

/*
 * Freeing a session and a large discard give the memory of the slots
 * they release back (unless reserved), in runs of neighbours, later and
 * a slice at a time (store_give_back): the runs must cover exactly the
 * released slots, across the chunks, and never a slot another session
 * still holds.
 */
START_TEST(test_released_memory_goes_back)
{
	enum { A1 = 3000, B = 300, A2 = 2000 };
	static void *a[A1 + A2], *b[B];
	struct store *st;
	struct store_session *sa, *sb;

	st = new_store(8192);
	sa = store_session_new(st);
	sb = store_session_new(st);
	/* A's slots in two stretches, with B's between them. */
	write_span(st, sa, 0, A1, 1);
	write_span(st, sb, 0, B, 2);
	write_span(st, sa, A1, A2, 1);
	slot_addrs(st, sa, 0, A1 + A2, a);
	slot_addrs(st, sb, 0, B, b);

	store_session_free(st, sa);
	ck_assert_uint_eq(store_used(st), B);
	/* Set aside, not yet given back. */
	for (uint32_t i = 0; i < A1 + A2; i++)
		ck_assert_msg(resident(a[i]), "A's page %u gone early", i);
	ck_assert_uint_eq(stats_of(st).give_back_pages,
			  reserve_on ? 0 : A1 + A2);
	/*
	 * A slice is whole runs, at least as many pages as asked, from the
	 * lowest slot up, a run ending where a chunk of 512 does: the first
	 * is A's first 512 pages.
	 */
	ck_assert(store_give_back(st, 1) == !reserve_on);
	if (!reserve_on)
		ck_assert_uint_eq(stats_of(st).give_back_pages,
				  A1 + A2 - 512);
	ck_assert(store_give_back(st, 2000) == !reserve_on);
	ck_assert(!store_give_back(st, UINT64_MAX));
	for (uint32_t i = 0; i < A1 + A2; i++)
		ck_assert_msg(resident(a[i]) == reserve_on,
			      "A's page %u: resident %d, reserved %d", i,
			      resident(a[i]), reserve_on);
	for (uint32_t i = 0; i < B; i++) {
		ck_assert(resident(b[i]));
		assert_page(st, sb, i, 2);
	}

	/* A discard of the middle of B's pages gives back just those. */
	ck_assert_uint_eq(store_discard(st, sb, 100, 100), 100);
	ck_assert(!store_give_back(st, UINT64_MAX));
	for (uint32_t i = 0; i < B; i++) {
		bool gone = i >= 100 && i < 200 && !reserve_on;

		ck_assert_msg(resident(b[i]) == !gone, "B's page %u", i);
		if (i < 100 || i >= 200)
			assert_page(st, sb, i, 2);
	}

	/* The slots given back are used again, and read as written. */
	sa = store_session_new(st);
	write_span(st, sa, 0, A1 + A2, 3);
	for (uint32_t i = 0; i < A1 + A2; i += 97)
		assert_page(st, sa, i, 3);
	assert_page(st, sb, 0, 2);
	assert_page(st, sb, B - 1, 2);
	store_session_free(st, sa);
	store_session_free(st, sb);
	ck_assert_uint_eq(store_used(st), 0);
	store_free(st);
}
END_TEST

/*
 * Everything released at once but a stretch in the middle: given back a
 * run at a time, from the bottom, each run ending where a chunk ends
 * (the chunks are mapped apart), so that exactly the released slots go,
 * whatever lies beside each chunk.
 */
START_TEST(test_slots_runs_stop_at_chunks)
{
	enum { CAP = 3 * 512 + 77, KEEP = 1000, KEPT = 100 };
	struct slots *sl;
	unsigned gives = 0;

	ck_assert_int_eq(slots_new(&sl, CAP), 0);
	for (uint32_t i = 0; i < CAP; i++) {
		ck_assert_uint_eq(slots_alloc(sl), i);
		memset(slots_addr(sl, i), 0x5a, PG);
	}
	slots_release_many_begin(sl);
	for (uint32_t i = 0; i < CAP; i++)
		if (i < KEEP || i >= KEEP + KEPT)
			slots_release(sl, i);
	slots_release_many_end(sl);
	ck_assert_uint_eq(slots_to_give_back(sl), CAP - KEPT);
	for (uint32_t i = 0; i < CAP; i++)
		ck_assert(resident(slots_addr(sl, i)));
	/* Runs: [0, 512), [512, 1000), [1100, 1536), [1536, CAP). */
	while (slots_give_back(sl, 1))
		gives++;
	ck_assert_uint_eq(gives, 3);
	ck_assert_uint_eq(slots_given_back(sl), CAP - KEPT);
	for (uint32_t i = 0; i < CAP; i++)
		ck_assert_msg(resident(slots_addr(sl, i)) ==
			      (i >= KEEP && i < KEEP + KEPT),
			      "slot %u: resident %d", i,
			      resident(slots_addr(sl, i)));
	slots_free(sl);
}
END_TEST

/*
 * The slots layer against a model, unreserved: releases inside batches
 * (nested, open over many steps) are set aside and marked, outside
 * them freed at once; takes, releases and give-backs of a few pages
 * interleave, below and above the give-back's cursor, over a capacity
 * that ends inside a word and inside a chunk.  Every slot is in one
 * place; a slot held is always in memory; one set aside still is, and
 * is taken before any other; once all is given back, a slot not held is
 * not in memory, and the runs never crossed a chunk (each chunk is
 * mapped apart: a run over two would fail, or reach another mapping).
 */
START_TEST(test_slots_set_aside_against_model)
{
	enum { CAP = 3 * 512 + 77, STEPS = 30000 };
	static enum { FREE, HELD, ASIDE } state[CAP];
	static bool ever[CAP];
	static uint32_t held[CAP];
	uint64_t nheld = 0, naside = 0, back = 0;
	unsigned depth = 0, gives = 0;
	struct slots *sl;

	ck_assert_int_eq(slots_new(&sl, CAP), 0);
	memset(state, 0, sizeof(state));
	memset(ever, 0, sizeof(ever));
	srandom(12);
	for (unsigned step = 0; step < STEPS; step++) {
		long r = random() % 100;

		if (r < 46 && nheld < CAP) {
			uint32_t slot = slots_alloc(sl);

			ck_assert_uint_lt(slot, CAP);
			ck_assert_msg(state[slot] != HELD, "slot %u taken twice",
				      slot);
			/* What was set aside goes first. */
			ck_assert(naside == 0 || state[slot] == ASIDE);
			naside -= state[slot] == ASIDE;
			state[slot] = HELD;
			ever[slot] = true;
			held[nheld++] = slot;
			/* A slot is written whole before it is read. */
			memset(slots_addr(sl, slot), 0x5a, PG);
		} else if (r < 90 && nheld) {
			uint64_t k = (uint64_t)random() % nheld;
			uint32_t slot = held[k];

			held[k] = held[--nheld];
			slots_release(sl, slot);
			state[slot] = depth ? ASIDE : FREE;
			naside += depth != 0;
			/* Outside a batch, its memory goes back at once. */
			ck_assert(depth || !resident(slots_addr(sl, slot)));
		} else if (r < 94) {
			slots_release_many_begin(sl);
			depth++;
		} else if (r < 98 && depth) {
			slots_release_many_end(sl);
			depth--;
		} else {
			bool more = slots_give_back(sl, 1 + random() % 700);
			uint64_t gone = 0;

			/* What went back was set aside; nothing held did. */
			for (uint32_t i = 0; i < CAP; i++) {
				if (!ever[i])
					continue;
				if (state[i] == HELD)
					ck_assert_msg(resident(slots_addr(sl, i)),
						      "held slot %u given back",
						      i);
				else if (state[i] == ASIDE &&
					 !resident(slots_addr(sl, i))) {
					state[i] = FREE;
					gone++;
				}
			}
			naside -= gone;
			ck_assert_uint_eq(slots_given_back(sl) - back, gone);
			back = slots_given_back(sl);
			ck_assert(more == (naside != 0));
			gives += gone != 0;
		}
		ck_assert_uint_eq(slots_used(sl), nheld);
		ck_assert_uint_eq(slots_to_give_back(sl), naside);
	}
	ck_assert_uint_gt(gives, 100);
	for (; depth; depth--)
		slots_release_many_end(sl);
	ck_assert(!slots_give_back(sl, UINT64_MAX));
	ck_assert_uint_eq(slots_to_give_back(sl), 0);
	for (uint32_t i = 0; i < CAP; i++)
		if (ever[i])
			ck_assert_msg(resident(slots_addr(sl, i)) ==
				      (state[i] == HELD), "slot %u: resident "
				      "%d, state %d", i,
				      resident(slots_addr(sl, i)), state[i]);
	/* Every slot not held can be taken, once. */
	while (nheld < CAP) {
		uint32_t slot = slots_alloc(sl);

		ck_assert_uint_lt(slot, CAP);
		ck_assert_msg(state[slot] != HELD, "slot %u taken twice", slot);
		state[slot] = HELD;
		nheld++;
	}
	ck_assert_uint_eq(slots_alloc(sl), SLOT_NONE);
	slots_free(sl);
}
END_TEST

/*
 * Slots set aside to give back are still slots: a full store, emptied,
 * fills again before anything is given back, and takes the set-aside
 * slots first (their memory is there: no fault, no zeroing, nothing
 * new mapped); what is given back afterwards is only what no write took.
 */
START_TEST(test_set_aside_slots_are_taken_first)
{
	enum { CAP = 1024, HALF = CAP / 2 };
	static void *a[CAP], *b[HALF];
	static bool b_holds[CAP];	/* B holds A's page k's slot */
	struct store *st;
	struct store_session *sa, *sb;
	unsigned taken = 0;

	st = new_store(CAP);
	sa = store_session_new(st);
	write_span(st, sa, 0, CAP, 1);
	store_session_free(st, sa);

	/* The whole capacity is there to write into, at once. */
	sb = store_session_new(st);
	write_span(st, sb, 0, CAP, 2);
	ck_assert_uint_eq(store_used(st), CAP);
	ck_assert(!store_give_back(st, 0));
	ck_assert_int_eq(store_write(st, sb, CAP, 1, pattern(2, CAP, 1), NULL),
			 -ENOSPC);
	for (uint32_t i = 0; i < CAP; i += 31)
		assert_page(st, sb, i, 2);
	store_session_free(st, sb);
	ck_assert(!store_give_back(st, UINT64_MAX));

	/* Half written again after a free: into the slots set aside. */
	sa = store_session_new(st);
	write_span(st, sa, 0, CAP, 3);
	slot_addrs(st, sa, 0, CAP, a);
	store_session_free(st, sa);
	sb = store_session_new(st);
	write_span(st, sb, 0, HALF, 4);
	slot_addrs(st, sb, 0, HALF, b);
	/* Slots are distinct within a session: one match at most. */
	for (uint32_t k = 0; k < CAP; k++) {
		b_holds[k] = false;
		for (uint32_t i = 0; i < HALF && !b_holds[k]; i++)
			b_holds[k] = b[i] == a[k];
		taken += b_holds[k];
	}
	ck_assert_uint_eq(taken, HALF);
	ck_assert(!store_give_back(st, UINT64_MAX));
	/* The rest went back; B's half stays, and reads as written. */
	for (uint32_t k = 0; k < CAP; k++)
		ck_assert_msg(resident(a[k]) == (b_holds[k] || reserve_on),
			      "slot of A's page %u: resident %d, B holds it %d",
			      k, resident(a[k]), b_holds[k]);
	for (uint32_t i = 0; i < HALF; i++)
		assert_page(st, sb, i, 4);
	store_session_free(st, sb);
	store_free(st);
}
END_TEST

/*
 * A session whose table has more than STORE_FREE_AT_ONCE buckets is
 * walked a slice at a time by store_give_back, 2 buckets a page asked
 * for: until the walk ends its pages stay in use, other sessions read
 * and write between slices, and only then is its memory set aside to
 * give back.
 */
START_TEST(test_large_session_freed_in_slices)
{
	/*
	 * 20,000 references: a table of 65,536 buckets (and what is left
	 * of the 32,768 before it), so at least 32 slices of 2,048.
	 */
	enum { N = 20000, B = 100, BUCKETS = 65536, SLICE = 1024 };
	static void *a[N], *b[B];
	struct store *st;
	struct store_session *sa, *sb;
	struct store_stats s;
	unsigned slices = 0;
	uint64_t used, given_back;

	ck_assert_uint_gt(BUCKETS, STORE_FREE_AT_ONCE);
	st = new_store(N + B);
	sa = store_session_new(st);
	sb = store_session_new(st);
	write_span(st, sa, 0, N, 1);
	/* A's first B pages again: shared with A where dedup is on. */
	write_span(st, sb, 0, B, 1);
	slot_addrs(st, sa, 0, N, a);
	slot_addrs(st, sb, 0, B, b);
	used = store_used(st);
	ck_assert_uint_eq(used, dedup_on ? N : N + B);

	given_back = stats_of(st).given_back_total;
	store_session_free(st, sa);
	s = stats_of(st);
	ck_assert_uint_eq(s.freeing_pages, N);
	ck_assert_uint_eq(s.logical_pages, N + B);
	ck_assert_uint_eq(store_used(st), used);
	/* Asking walks nothing. */
	ck_assert(store_give_back(st, 0));
	ck_assert_uint_eq(stats_of(st).freeing_pages, N);

	while (stats_of(st).freeing_pages) {
		uint64_t before = stats_of(st).freeing_pages;
		bool more = store_give_back(st, SLICE);

		slices++;
		s = stats_of(st);
		ck_assert_uint_le(s.freeing_pages, before);
		ck_assert_uint_eq(s.logical_pages, s.freeing_pages + B);
		/* A's pages still held; with dedup, B's first B are A's. */
		if (dedup_on) {
			ck_assert_uint_ge(store_used(st), B);
			ck_assert_uint_ge(store_used(st), s.freeing_pages);
			ck_assert_uint_le(store_used(st), B + s.freeing_pages);
		} else {
			ck_assert_uint_eq(store_used(st), B + s.freeing_pages);
		}
		/* More: the walk, or (unreserved) giving back its slots. */
		ck_assert(more == (s.freeing_pages || !reserve_on));
		/* Every slot the walk let go of is still to give back. */
		ck_assert_uint_eq(s.give_back_pages,
				  reserve_on ? 0 : used - store_used(st));
		for (uint32_t i = slices % 7; i < B; i += 7)
			assert_page(st, sb, i, 1);
		write_span(st, sb, B - 1, 1, 1);
		/* The new table and at most all of the old. */
		ck_assert_uint_le(slices, (BUCKETS + BUCKETS / 2) /
					  (STORE_WALK_PER_PAGE * SLICE));
	}
	ck_assert_uint_ge(slices, BUCKETS / (STORE_WALK_PER_PAGE * SLICE));
	s = stats_of(st);
	ck_assert_uint_eq(s.logical_pages, B);
	ck_assert_uint_eq(s.freed_pages, N);
	ck_assert_uint_eq(store_used(st), B);
	ck_assert(!store_give_back(st, UINT64_MAX));
	ck_assert_uint_eq(stats_of(st).given_back_total - given_back,
			  reserve_on ? 0 : dedup_on ? N - B : N);
	/* What B shares stays; the rest of A went back. */
	for (uint32_t i = 0; i < N; i++) {
		bool kept = reserve_on || (dedup_on && i < B);

		ck_assert_msg(resident(a[i]) == kept, "A's page %u: resident "
			      "%d, kept %d", i, resident(a[i]), kept);
	}
	for (uint32_t i = 0; i < B; i++) {
		ck_assert(resident(b[i]));
		assert_page(st, sb, i, 1);
	}
	store_session_free(st, sb);
	ck_assert_uint_eq(store_used(st), 0);
	store_free(st);
}
END_TEST

/*
 * A write that finds no room while a freed session is still being
 * walked walks it to its end first: a full store emptied by a session's
 * end is full only of pages nobody holds.  A parity XOR that creates a
 * page, likewise.
 */
START_TEST(test_write_without_room_ends_the_walk)
{
	enum { CAP = 20000 };	/* a table of 65,536 buckets */
	struct store *st;
	struct store_session *sa, *sb;

	st = new_store(CAP);
	sa = store_session_new(st);
	write_span(st, sa, 0, CAP, 1);
	store_session_free(st, sa);
	ck_assert_uint_eq(stats_of(st).freeing_pages, CAP);
	ck_assert_uint_eq(store_used(st), CAP);

	sb = store_session_new(st);
	ck_assert_int_eq(store_xor(st, sb, 0, 1, pattern(2, 0, 1), NULL), 0);
	ck_assert_uint_eq(stats_of(st).freeing_pages, 0);
	ck_assert_uint_eq(store_used(st), 1);
	write_span(st, sb, 1, CAP - 1, 2);
	ck_assert_uint_eq(store_used(st), CAP);
	ck_assert_int_eq(store_write(st, sb, CAP, 1, pattern(2, CAP, 1), NULL),
			 -ENOSPC);
	for (uint32_t i = 0; i < CAP; i += 13)
		assert_page(st, sb, i, 2);
	ck_assert(!store_give_back(st, UINT64_MAX));
	assert_page(st, sb, CAP - 1, 2);
	store_session_free(st, sb);
	ck_assert(!store_give_back(st, UINT64_MAX));
	ck_assert_uint_eq(store_used(st), 0);
	store_free(st);
}
END_TEST

static int cmp_ptr(const void *x, const void *y)
{
	uintptr_t a = (uintptr_t)*(void *const *)x;
	uintptr_t b = (uintptr_t)*(void *const *)y;

	return (a > b) - (a < b);
}

/*
 * Slots written while a freed session is walked, into slots it released
 * and into slots given back before, are never given back under their
 * new holder; every slot the walk released that no write took is.  A
 * discard between slices joins the walk's releases.
 */
START_TEST(test_slots_taken_during_the_walk_stay)
{
	/* A: a table of 65,536 buckets. */
	enum { CAP = 20480, B = 2480, A = CAP - B, C = 5000 };
	static void *a[A], *c[C];
	struct store *st;
	struct store_session *sa, *sb, *sc;

	st = new_store(CAP);
	sb = store_session_new(st);
	sa = store_session_new(st);
	write_span(st, sb, 0, B, 2);
	write_span(st, sa, 0, A, 1);
	slot_addrs(st, sa, 0, A, a);
	/* 1,000 free slots given back before the walk begins. */
	ck_assert_uint_eq(store_discard(st, sb, 0, 1000), 1000);
	ck_assert(!store_give_back(st, UINT64_MAX));

	store_session_free(st, sa);
	ck_assert(store_give_back(st, 1024));
	ck_assert_uint_gt(stats_of(st).freeing_pages, 0);
	/* A discard between slices, and a write that takes every kind. */
	ck_assert_uint_eq(store_discard(st, sb, 1000, 40), 40);
	ck_assert_uint_gt(stats_of(st).freeing_pages, 0);
	sc = store_session_new(st);
	write_span(st, sc, 0, C, 3);
	ck_assert_uint_eq(stats_of(st).freeing_pages, 0);
	slot_addrs(st, sc, 0, C, c);
	ck_assert(!store_give_back(st, UINT64_MAX));

	ck_assert_uint_eq(store_used(st), B - 1040 + C);
	for (uint32_t i = 0; i < C; i++) {
		ck_assert_msg(resident(c[i]), "C's page %u given back", i);
		if (i % 11 == 0)
			assert_page(st, sc, i, 3);
	}
	for (uint32_t i = 1040; i < B; i++)
		assert_page(st, sb, i, 2);
	qsort(c, C, sizeof(c[0]), cmp_ptr);
	for (uint32_t k = 0; k < A; k++) {
		bool held = bsearch(&a[k], c, C, sizeof(c[0]), cmp_ptr);

		ck_assert_msg(resident(a[k]) == (held || reserve_on),
			      "slot of A's page %u: resident %d, C holds it %d",
			      k, resident(a[k]), held);
	}
	store_session_free(st, sb);
	store_session_free(st, sc);
	ck_assert(!store_give_back(st, UINT64_MAX));
	ck_assert_uint_eq(store_used(st), 0);
	store_free(st);
}
END_TEST

/* ---- a session's table, growing a step at a time (reftab.h) ---- */

/* Each live entry once, by position, and no more than the count. */
static void reftab_check_walk(const struct reftab *t, const uint32_t *model,
			      uint32_t pages)
{
	static bool seen[1u << 17];
	uint64_t live = 0;

	memset(seen, 0, sizeof(seen));
	for (uint64_t i = 0; i < reftab_span(t); i++) {
		const struct ref *e = reftab_at(t, i);

		if (!e)
			continue;
		ck_assert_uint_lt(e->page, pages);
		ck_assert_msg(!seen[e->page], "page %lu seen twice",
			      (unsigned long)e->page);
		seen[e->page] = true;
		ck_assert_uint_eq(e->slot, model[e->page]);
		live++;
	}
	ck_assert_uint_eq(live, t->n);
	for (uint32_t p = 0; p < pages; p++)
		ck_assert(seen[p] == (model[p] != SLOT_NONE));
}

/*
 * Inserts, updates and deletes against a model, while the table grows
 * from 64 buckets to 262,144: every reference is found where the model
 * says, in whichever part holds it, a pass by position sees each once,
 * and the old part is always empty before the new one must grow (no
 * reftab_reserve ever has to finish a move at once).
 */
START_TEST(test_reftab_grows_a_step_at_a_time)
{
	enum { PAGES = 1u << 17, ROUNDS = 3000, RUN = 256 };
	static uint32_t model[PAGES];
	struct reftab t;
	uint64_t seed = 7, n = 0, moves_seen = 0;

	for (uint32_t p = 0; p < PAGES; p++)
		model[p] = SLOT_NONE;
	ck_assert_int_eq(reftab_init(&t), 0);
	for (unsigned r = 0; r < ROUNDS; r++) {
		uint32_t first = (uint32_t)(tu_rand(&seed) % (PAGES - RUN));
		/* Mostly writes, so that it grows; some deletes. */
		bool del = tu_rand(&seed) % 4 == 0;
		uint32_t added = 0;

		for (uint32_t i = 0; i < RUN; i++)
			added += model[first + i] == SLOT_NONE;
		if (!del) {
			bool grows = 2 * (t.n + added) > t.mask + 1;

			ck_assert_msg(!grows || !t.old, "round %u: grows again "
				      "with %lu buckets of the old table left",
				      r, (unsigned long)(t.old_mask + 1 -
							 t.old_next));
			ck_assert_int_eq(reftab_reserve(&t, t.n + added), 0);
			moves_seen += t.old != NULL;
		}
		for (uint32_t i = 0; i < RUN; i++) {
			uint32_t p = first + i;
			struct ref *e = reftab_find(&t, p);

			ck_assert((e != NULL) == (model[p] != SLOT_NONE));
			if (e)
				ck_assert_uint_eq(e->slot, model[p]);
			if (del) {
				if (e) {
					reftab_delete(&t, e);
					model[p] = SLOT_NONE;
					n--;
				}
				continue;
			}
			if (!e) {
				e = reftab_insert(&t, p);
				n++;
			}
			e->slot = model[p] = (uint32_t)(r * RUN + i);
		}
		ck_assert_uint_eq(t.n, n);
		if (r % 500 == 0 || (t.old && r % 50 == 0))
			reftab_check_walk(&t, model, PAGES);
	}
	ck_assert_uint_gt(moves_seen, 0);
	ck_assert_uint_eq(t.mask + 1, 262144);
	reftab_check_walk(&t, model, PAGES);
	reftab_finish(&t);
	ck_assert_ptr_null(t.old);
	reftab_check_walk(&t, model, PAGES);
	for (uint32_t p = 0; p < PAGES; p++)
		if (model[p] != SLOT_NONE)
			ck_assert_uint_eq(reftab_find(&t, p)->slot, model[p]);
	reftab_fini(&t);
}
END_TEST

/* @page's home bucket in a table of 2,048 (a scratch table finds it). */
static uint64_t home_in_2048(struct reftab *scratch, uint64_t page)
{
	struct ref *e = reftab_insert(scratch, page);
	uint64_t home = (uint64_t)(e - scratch->tab);

	reftab_delete(scratch, e);
	return home;
}

/*
 * Lookups in the old part of a growing table, whose moved buckets'
 * memory has been given back (it reads as empty): a cluster of entries
 * that begins in moved buckets and goes on past where the move is must
 * still be found, its probes going on where the move is.
 */
START_TEST(test_reftab_probes_past_what_moved)
{
	enum { HOME = 100, CLUSTER = 400, FILL = 1024 - CLUSTER };
	static uint64_t pages[1024];
	struct reftab scratch, t;
	unsigned nc = 0, nf = 0;

	ck_assert_int_eq(reftab_init(&scratch), 0);
	ck_assert_int_eq(reftab_reserve(&scratch, 1024), 0);
	ck_assert_ptr_null(scratch.old);
	ck_assert_uint_eq(scratch.mask + 1, 2048);
	/* 400 pages whose home is bucket 100, 624 far from them. */
	for (uint64_t p = 0; nc < CLUSTER || nf < FILL; p++) {
		uint64_t home = home_in_2048(&scratch, p);

		if (home == HOME && nc < CLUSTER)
			pages[nc++] = p;
		else if (home >= 800 && home < 1800 && nf < FILL)
			pages[CLUSTER + nf++] = p;
	}
	reftab_fini(&scratch);

	ck_assert_int_eq(reftab_init(&t), 0);
	ck_assert_int_eq(reftab_reserve(&t, 1024), 0);
	reftab_finish(&t);
	for (unsigned i = 0; i < 1024; i++) {
		ck_assert_int_eq(reftab_reserve(&t, t.n + 1), 0);
		reftab_insert(&t, pages[i])->slot = i;
	}
	ck_assert_uint_eq(t.mask + 1, 2048);
	/* Grow, and move a step at a time past the cluster's middle. */
	ck_assert_int_eq(reftab_reserve(&t, t.n + 1), 0);
	ck_assert_ptr_nonnull(t.old);
	while (t.old_next < HOME + CLUSTER / 2 + 64)
		ck_assert_int_eq(reftab_reserve(&t, t.n), 0);
	ck_assert_uint_lt(t.old_next, HOME + CLUSTER);
	for (unsigned i = 0; i < 1024; i++) {
		struct ref *e = reftab_find(&t, pages[i]);

		ck_assert_msg(e, "page %lu (#%u) not found, moved to %lu",
			      (unsigned long)pages[i], i,
			      (unsigned long)t.old_next);
		ck_assert_uint_eq(e->slot, i);
	}
	reftab_fini(&t);
}
END_TEST

/*
 * A table passed over for the last time, in slices, lets go of the
 * memory of what each slice read: its pages are no longer in memory,
 * and what the pass has yet to read is all there, in both parts of a
 * table caught growing.  reftab_fini then frees the rest.
 */
START_TEST(test_reftab_lets_go_as_it_is_walked)
{
	/* Just past the growth to 262,144 buckets: the old part half moved. */
	enum { PAGES = 66000, SLICE = 5000 };
	const uint64_t per_page = PG / sizeof(struct ref);
	struct reftab t;
	uint64_t span, live = 0, released = 0;

	ck_assert_int_eq(reftab_init(&t), 0);
	for (uint32_t p = 0; p < PAGES; p++) {
		ck_assert_int_eq(reftab_reserve(&t, t.n + 1), 0);
		reftab_insert(&t, p)->slot = p;
	}
	/* Still moving: the old part comes first in a pass. */
	ck_assert_ptr_nonnull(t.old);
	span = reftab_span(&t);
	for (uint64_t i = 0; i < span; i += SLICE) {
		uint64_t end = i + SLICE < span ? i + SLICE : span;

		for (uint64_t k = i; k < end; k++) {
			const struct ref *e = reftab_at(&t, k);

			if (e) {
				ck_assert_uint_eq(e->slot, e->page);
				live++;
			}
		}
		reftab_let_go(&t, i, end);
	}
	ck_assert_uint_eq(live, PAGES);
	/* All the pass read, but a page at either end of each part. */
	for (int part = 0; part < 2; part++) {
		const struct ref *base = part ? t.tab : t.old;
		uint64_t n = part ? t.mask + 1 : t.old_mask + 1;
		uint64_t from = part ? 0 : t.old_next;

		for (uint64_t i = from + per_page; i + 2 * per_page < n;
		     i += per_page) {
			void *pg = (void *)(((uintptr_t)(base + i)) &
					    ~(uintptr_t)(PG - 1));

			ck_assert_msg(!resident(pg), "part %d: bucket %lu "
				      "still in memory", part,
				      (unsigned long)i);
			released++;
		}
	}
	ck_assert_uint_gt(released, (t.mask + 1) / per_page / 2);
	reftab_fini(&t);
}
END_TEST

/* ---- page-group (XOR parity) operations ---- */

static uint8_t xa[8 * PG], xb[8 * PG], xout[8 * PG], xref[8 * PG];

static void fill(uint64_t *seed, uint8_t *buf, uint32_t n)
{
	tu_fill(seed, buf, (size_t)n * PG);
}

/* Read the run [page, page + n) with absent pages as zeros. */
static void read_run(struct store *st, struct store_session *ss,
		     uint64_t page, uint32_t n, uint8_t *out)
{
	struct iovec iov[8];

	ck_assert_uint_le(n, 8);
	ck_assert_int_eq(store_read_zero(st, ss, page, n, iov, NULL), 0);
	for (uint32_t i = 0; i < n; i++) {
		ck_assert_uint_eq(iov[i].iov_len, PG);
		memcpy(out + (size_t)i * PG, iov[i].iov_base, PG);
	}
}

static void xor_page_ref(uint8_t *dst, const uint8_t *a, const uint8_t *b)
{
	for (size_t k = 0; k < PG; k++)
		dst[k] = a[k] ^ b[k];
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

START_TEST(test_xwrite_deltas)
{
	struct store *st;
	struct store_session *ss;
	uint64_t seed = 11;

	st = new_store(16);
	ss = store_session_new(st);
	/* Absent old pages count as zeros: the delta is the new data. */
	fill(&seed, xa, 3);
	ck_assert_int_eq(store_xwrite(st, ss, 5, 3, xa, NULL, xout, NULL), 0);
	ck_assert_mem_eq(xout, xa, 3 * PG);
	ck_assert_uint_eq(store_used(st), 3);
	read_run(st, ss, 5, 3, xref);
	ck_assert_mem_eq(xref, xa, 3 * PG);

	/* Overwrites give old ^ new; page 8 is new, so its delta is new. */
	fill(&seed, xb, 4);
	ck_assert_int_eq(store_xwrite(st, ss, 5, 4, xb, NULL, xout, NULL), 0);
	for (size_t k = 0; k < 3 * PG; k++)
		ck_assert_uint_eq(xout[k], xa[k] ^ xb[k]);
	ck_assert_mem_eq(xout + 3 * PG, xb + 3 * PG, PG);
	ck_assert_uint_eq(store_used(st), 4);
	read_run(st, ss, 5, 4, xref);
	ck_assert_mem_eq(xref, xb, 4 * PG);

	/* Writing the same data again: all-zero deltas. */
	ck_assert_int_eq(store_xwrite(st, ss, 5, 4, xb, NULL, xout, NULL), 0);
	ck_assert(all_zero(xout, 4 * PG));

	/* Bad runs change nothing. */
	ck_assert_int_eq(store_xwrite(st, ss, 0, 0, xb, NULL, xout, NULL), -EINVAL);
	ck_assert_int_eq(store_xwrite(st, ss, 0, RMAP_MAX_PAGES + 1, xb, NULL, xout, NULL),
			 -EINVAL);
	ck_assert_int_eq(store_xwrite(st, ss, UINT64_MAX, 2, xb, NULL, xout, NULL),
			 -EINVAL);
	ck_assert_uint_eq(store_used(st), 4);
	store_session_free(st, ss);
	ck_assert_uint_eq(store_used(st), 0);
	store_free(st);
}
END_TEST

START_TEST(test_xwrite_full_changes_nothing)
{
	struct store *st;
	struct store_session *ss;
	uint64_t seed = 12;

	st = new_store(4);
	ss = store_session_new(st);
	fill(&seed, xa, 4);
	ck_assert_int_eq(store_write(st, ss, 0, 3, xa, NULL), 0);
	/* Pages 2 and 3: one overwrite, one fresh; 4 fresh is one too many. */
	fill(&seed, xb, 3);
	ck_assert_int_eq(store_xwrite(st, ss, 2, 3, xb, NULL, xout, NULL), -ENOSPC);
	ck_assert_uint_eq(store_used(st), 3);
	read_run(st, ss, 0, 5, xref);
	ck_assert_mem_eq(xref, xa, 3 * PG);
	ck_assert(all_zero(xref + 3 * PG, 2 * PG));
	/* Two fit exactly; overwrites at capacity need no room. */
	ck_assert_int_eq(store_xwrite(st, ss, 2, 2, xb, NULL, xout, NULL), 0);
	ck_assert_uint_eq(store_used(st), 4);
	ck_assert_int_eq(store_xwrite(st, ss, 0, 4, xb, NULL, xout, NULL), 0);
	ck_assert_uint_eq(store_used(st), 4);
	/* A page like none held (one held would be shared: no room). */
	fill(&seed, xb + 4 * PG, 1);
	ck_assert_int_eq(store_xwrite(st, ss, 4, 1, xb + 4 * PG, NULL, xout,
				      NULL), -ENOSPC);
	store_session_free(st, ss);
	ck_assert_uint_eq(store_used(st), 0);
	store_free(st);
}
END_TEST

START_TEST(test_xfree_returns_old)
{
	struct store *st;
	struct store_session *ss;
	struct iovec iov;
	uint64_t seed = 13;

	st = new_store(16);
	ss = store_session_new(st);
	fill(&seed, xa, 4);
	/* Pages 10, 11 and 13 stored; 12 absent. */
	ck_assert_int_eq(store_write(st, ss, 10, 2, xa, NULL), 0);
	ck_assert_int_eq(store_write(st, ss, 13, 1, xa + 3 * PG, NULL), 0);
	ck_assert_uint_eq(store_used(st), 3);
	memset(xout, 0xee, sizeof(xout));
	ck_assert_int_eq(store_xfree(st, ss, 9, 6, xout, NULL), 3);
	ck_assert(all_zero(xout, PG));				/* 9 */
	ck_assert_mem_eq(xout + PG, xa, 2 * PG);		/* 10, 11 */
	ck_assert(all_zero(xout + 3 * PG, PG));			/* 12 */
	ck_assert_mem_eq(xout + 4 * PG, xa + 3 * PG, PG);	/* 13 */
	ck_assert(all_zero(xout + 5 * PG, PG));			/* 14 */
	ck_assert_uint_eq(store_used(st), 0);
	ck_assert_uint_eq(store_session_pages(ss), 0);
	ck_assert_int_eq(store_read(st, ss, 10, 1, &iov, NULL), -ENOENT);
	/* Freeing again finds nothing, and says so. */
	ck_assert_int_eq(store_xfree(st, ss, 9, 6, xout, NULL), 0);
	ck_assert(all_zero(xout, 6 * PG));
	ck_assert_int_eq(store_xfree(st, ss, 9, 0, xout, NULL), -EINVAL);
	store_session_free(st, ss);
	store_free(st);
}
END_TEST

START_TEST(test_xor_create_update_delete)
{
	struct store *st;
	struct store_session *ss;
	struct iovec iov;
	uint64_t seed = 14;

	st = new_store(16);
	ss = store_session_new(st);
	/* Absent pages are created holding the data... */
	fill(&seed, xa, 3);
	ck_assert_int_eq(store_xor(st, ss, 20, 3, xa, NULL), 0);
	ck_assert_uint_eq(store_used(st), 3);
	read_run(st, ss, 20, 3, xref);
	ck_assert_mem_eq(xref, xa, 3 * PG);
	/* ...but zeros into an absent page store nothing. */
	memset(xb, 0, 2 * PG);
	ck_assert_int_eq(store_xor(st, ss, 30, 2, xb, NULL), 0);
	ck_assert_uint_eq(store_used(st), 3);
	ck_assert_int_eq(store_read(st, ss, 30, 1, &iov, NULL), -ENOENT);

	/* Stored pages are updated: stored ^= data. */
	fill(&seed, xb, 3);
	ck_assert_int_eq(store_xor(st, ss, 20, 3, xb, NULL), 0);
	read_run(st, ss, 20, 3, xref);
	for (size_t k = 0; k < 3 * PG; k++)
		ck_assert_uint_eq(xref[k], xa[k] ^ xb[k]);
	ck_assert_uint_eq(store_used(st), 3);

	/* A result of zeros deletes the page: page 21 back to absent. */
	memcpy(xout, xref, 3 * PG);
	memset(xout, 0, PG);			/* page 20: unchanged */
	memset(xout + 2 * PG, 0, PG);		/* page 22: unchanged */
	xout[2 * PG + 7] = 1;			/* ...but for one bit */
	ck_assert_int_eq(store_xor(st, ss, 20, 3, xout, NULL), 0);
	ck_assert_uint_eq(store_used(st), 2);
	ck_assert_int_eq(store_read(st, ss, 21, 1, &iov, NULL), -ENOENT);
	ck_assert_int_eq(store_read(st, ss, 20, 1, &iov, NULL), 0);
	ck_assert_mem_eq(iov.iov_base, xref, PG);
	ck_assert_int_eq(store_read(st, ss, 22, 1, &iov, NULL), 0);
	ck_assert_uint_eq(((uint8_t *)iov.iov_base)[7],
			  (uint8_t)(xref[2 * PG + 7] ^ 1));

	/* XOR is its own inverse: everything back to zero, nothing kept. */
	read_run(st, ss, 20, 3, xref);
	ck_assert_int_eq(store_xor(st, ss, 20, 3, xref, NULL), 0);
	ck_assert_uint_eq(store_used(st), 0);
	ck_assert_uint_eq(store_session_pages(ss), 0);
	ck_assert_int_eq(store_xor(st, ss, 0, 0, xref, NULL), -EINVAL);
	ck_assert_int_eq(store_xor(st, ss, UINT64_MAX - 1, 3, xref, NULL), -EINVAL);
	store_session_free(st, ss);
	store_free(st);
}
END_TEST

START_TEST(test_xor_full_changes_nothing)
{
	struct store *st;
	struct store_session *ss;
	uint64_t seed = 15;

	st = new_store(4);
	ss = store_session_new(st);
	fill(&seed, xa, 4);
	ck_assert_int_eq(store_write(st, ss, 0, 3, xa, NULL), 0);
	/* Pages 2..4: one update, two creations; room for one. */
	fill(&seed, xb, 3);
	ck_assert_int_eq(store_xor(st, ss, 2, 3, xb, NULL), -ENOSPC);
	ck_assert_uint_eq(store_used(st), 3);
	read_run(st, ss, 0, 5, xref);
	ck_assert_mem_eq(xref, xa, 3 * PG);
	ck_assert(all_zero(xref + 3 * PG, 2 * PG));

	/* Fill up; then a page deleted by the same call makes room. */
	ck_assert_int_eq(store_xor(st, ss, 3, 1, xb, NULL), 0);
	ck_assert_uint_eq(store_used(st), 4);
	ck_assert_int_eq(store_xor(st, ss, 4, 1, xb + 2 * PG, NULL), -ENOSPC);
	memcpy(xout, xa, PG);			/* page 0 ^ itself: deleted */
	memcpy(xout + 4 * PG, xb + PG, PG);	/* page 4: created */
	memset(xout + PG, 0, 3 * PG);		/* pages 1..3: unchanged */
	ck_assert_int_eq(store_xor(st, ss, 0, 5, xout, NULL), 0);
	ck_assert_uint_eq(store_used(st), 4);
	read_run(st, ss, 0, 5, xref);
	ck_assert(all_zero(xref, PG));
	ck_assert_mem_eq(xref + PG, xa + PG, 2 * PG);
	ck_assert_mem_eq(xref + 3 * PG, xb, PG);
	ck_assert_mem_eq(xref + 4 * PG, xb + PG, PG);
	store_session_free(st, ss);
	ck_assert_uint_eq(store_used(st), 0);
	store_free(st);
}
END_TEST

START_TEST(test_read_zero)
{
	struct store *st;
	struct store_session *ss;
	struct iovec iov[4];
	uint64_t seed = 16;

	st = new_store(16);
	ss = store_session_new(st);
	fill(&seed, xa, 1);
	ck_assert_int_eq(store_write(st, ss, 41, 1, xa, NULL), 0);
	ck_assert_int_eq(store_read_zero(st, ss, 40, 3, iov, NULL), 0);
	ck_assert(all_zero(iov[0].iov_base, PG));
	ck_assert_mem_eq(iov[1].iov_base, xa, PG);
	ck_assert(all_zero(iov[2].iov_base, PG));
	ck_assert_int_eq(store_read_zero(st, ss, 40, 0, iov, NULL), -EINVAL);
	ck_assert_int_eq(store_read_zero(st, ss, UINT64_MAX, 2, iov, NULL), -EINVAL);
	ck_assert_uint_eq(store_used(st), 1);
	store_session_free(st, ss);
	store_free(st);
}
END_TEST

/*
 * Random XORs, XWRITEs and XFREEs over a few pages of a small store,
 * checked after every step against plain arrays: what is stored, what
 * comes back, when FULL is right, and that the slab counts exactly the
 * pages stored.
 */
/*
 * Tags: kept beside each page, per reference, given back with it; the
 * XOR operations XOR them as they XOR the pages; a freed slot's tag does
 * not leak into the next page that takes the slot.
 */
START_TEST(test_tags)
{
	uint8_t t[4 * RMAP_TAG_LEN], out[4 * RMAP_TAG_LEN], d[2 * PG];
	uint8_t zero[RMAP_TAG_LEN] = { 0 }, x[RMAP_TAG_LEN];
	struct store *st;
	struct store_session *ss, *other;
	struct iovec iov[4];

	st = new_store(8);
	ss = store_session_new(st);
	other = store_session_new(st);
	for (unsigned i = 0; i < sizeof(t); i++)
		t[i] = (uint8_t)(i * 7 + 1);
	ck_assert_int_eq(store_write(st, ss, 10, 2, pattern(1, 10, 2), t), 0);
	ck_assert_int_eq(store_read(st, ss, 10, 2, iov, out), 0);
	ck_assert_mem_eq(out, t, 2 * RMAP_TAG_LEN);
	/* Per reference: the same page in another session, its own tag. */
	ck_assert_int_eq(store_write(st, other, 10, 1, pattern(1, 10, 1),
				     NULL), 0);
	ck_assert_int_eq(store_read(st, other, 10, 1, iov, out), 0);
	ck_assert_mem_eq(out, zero, RMAP_TAG_LEN);
	/* XWRITE answers the tags' deltas with the pages'. */
	ck_assert_int_eq(store_xwrite(st, ss, 10, 1, pattern(2, 10, 1),
				      t + 2 * RMAP_TAG_LEN, d, out), 0);
	for (unsigned i = 0; i < RMAP_TAG_LEN; i++)
		ck_assert_uint_eq(out[i], t[i] ^ t[2 * RMAP_TAG_LEN + i]);
	ck_assert_int_eq(store_read(st, ss, 10, 1, iov, out), 0);
	ck_assert_mem_eq(out, t + 2 * RMAP_TAG_LEN, RMAP_TAG_LEN);
	/* XFREE gives them back; READZ of an absent page, a zero tag. */
	ck_assert_int_eq(store_xfree(st, ss, 10, 2, d, out), 2);
	ck_assert_mem_eq(out, t + 2 * RMAP_TAG_LEN, RMAP_TAG_LEN);
	ck_assert_mem_eq(out + RMAP_TAG_LEN, t + RMAP_TAG_LEN, RMAP_TAG_LEN);
	ck_assert_int_eq(store_read_zero(st, ss, 10, 1, iov, out), 0);
	ck_assert_mem_eq(out, zero, RMAP_TAG_LEN);
	/* PXOR: a parity page's tag is the XOR of the tags sent to it. */
	memset(d, 0, PG);
	ck_assert_int_eq(store_xor(st, ss, 20, 1, d, t), 0);
	ck_assert_uint_eq(store_session_pages(ss), 1);	/* zero page, tag */
	ck_assert_int_eq(store_xor(st, ss, 20, 1, pattern(3, 20, 1),
				   t + RMAP_TAG_LEN), 0);
	ck_assert_int_eq(store_read(st, ss, 20, 1, iov, out), 0);
	for (unsigned i = 0; i < RMAP_TAG_LEN; i++)
		x[i] = t[i] ^ t[RMAP_TAG_LEN + i];
	ck_assert_mem_eq(out, x, RMAP_TAG_LEN);
	/* XORing both out again deletes it: page and tag are zero. */
	ck_assert_int_eq(store_xor(st, ss, 20, 1, pattern(3, 20, 1), x), 0);
	ck_assert_uint_eq(store_session_pages(ss), 0);
	/* A slot taken again starts with a zero tag. */
	ck_assert_int_eq(store_xor(st, ss, 21, 1, pattern(4, 21, 1), NULL), 0);
	ck_assert_int_eq(store_read(st, ss, 21, 1, iov, out), 0);
	ck_assert_mem_eq(out, zero, RMAP_TAG_LEN);
	store_session_free(st, ss);
	store_session_free(st, other);
	store_free(st);
}
END_TEST

/*
 * The pages the store should use for @space pages of @ref: those stored,
 * and with dedup only the first of each content.
 */
static uint64_t model_used(const uint8_t *ref, const bool *stored,
			   unsigned space)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < space; i++) {
		bool seen = false;

		for (unsigned j = 0; dedup_on && j < i && !seen; j++)
			seen = stored[j] && !memcmp(ref + (size_t)j * PG,
						    ref + (size_t)i * PG, PG);
		n += stored[i] && !seen;
	}
	return n;
}

static uint64_t count_true(const bool *b, unsigned n)
{
	uint64_t c = 0;

	for (unsigned i = 0; i < n; i++)
		c += b[i];
	return c;
}

START_TEST(test_parity_against_reference)
{
	enum { SPACE = 24, CAP = 12, STEPS = 3000 };
	static uint8_t ref[SPACE * PG], data[8 * PG], out[8 * PG];
	static uint8_t next[SPACE * PG];	/* ref, if the call succeeds */
	bool stored[SPACE] = { false };	/* XWRITE may store zeros */
	bool next_stored[SPACE];
	struct store *st;
	struct store_session *ss;
	uint64_t seed = 0x9a21, used = 0;
	unsigned full = 0, reused = 0;	/* the interesting cases, seen */

	memset(ref, 0, sizeof(ref));
	st = new_store(CAP);
	ss = store_session_new(st);
	for (unsigned step = 0; step < STEPS; step++) {
		uint32_t n = 1 + (uint32_t)(tu_rand(&seed) % 8);
		uint64_t p = tu_rand(&seed) % (SPACE - n + 1);
		unsigned op = (unsigned)(tu_rand(&seed) % 4);
		uint64_t fresh = 0, dropped = 0, need;
		int ret;

		/* Each page's data: zeros, its current contents, or noise. */
		for (uint32_t i = 0; i < n; i++) {
			uint8_t *d = data + (size_t)i * PG;

			switch (tu_rand(&seed) % 3) {
			case 0:
				memset(d, 0, PG);
				break;
			case 1:
				memcpy(d, ref + (p + i) * PG, PG);
				break;
			default:
				tu_fill(&seed, d, PG);
				break;
			}
		}
		switch (op) {
		case 0:
		case 1:
			for (uint32_t i = 0; i < n; i++) {
				const uint8_t *d = data + (size_t)i * PG;
				uint8_t *r = ref + (p + i) * PG;

				if (!stored[p + i])
					fresh += !all_zero(d, PG);
				else
					dropped += !memcmp(r, d, PG);
			}
			memcpy(next, ref, sizeof(ref));
			memcpy(next_stored, stored, sizeof(stored));
			for (uint32_t i = 0; i < n; i++) {
				const uint8_t *d = data + (size_t)i * PG;
				uint8_t *r = next + (p + i) * PG;

				for (size_t k = 0; k < PG; k++)
					r[k] ^= d[k];
				next_stored[p + i] = !all_zero(r, PG);
			}
			need = model_used(next, next_stored, SPACE);
			ret = store_xor(st, ss, p, n, data, NULL);
			if (need > CAP) {
				ck_assert_int_eq(ret, -ENOSPC);
				full++;
				break;
			}
			ck_assert_int_eq(ret, 0);
			reused += fresh && dropped && used + fresh > CAP;
			memcpy(ref, next, sizeof(ref));
			memcpy(stored, next_stored, sizeof(stored));
			used = need;
			break;
		case 2:
			for (uint32_t i = 0; i < n; i++)
				fresh += !stored[p + i];
			memcpy(next, ref, sizeof(ref));
			memcpy(next_stored, stored, sizeof(stored));
			memcpy(next + p * PG, data, (size_t)n * PG);
			for (uint32_t i = 0; i < n; i++)
				next_stored[p + i] = true;
			need = model_used(next, next_stored, SPACE);
			ret = store_xwrite(st, ss, p, n, data, NULL, out, NULL);
			if (need > CAP) {
				ck_assert_int_eq(ret, -ENOSPC);
				full++;
				break;
			}
			ck_assert_int_eq(ret, 0);
			for (size_t k = 0; k < (size_t)n * PG; k++)
				ck_assert_uint_eq(out[k],
						  ref[p * PG + k] ^ data[k]);
			memcpy(ref, next, sizeof(ref));
			memcpy(stored, next_stored, sizeof(stored));
			used = need;
			break;
		default:
			for (uint32_t i = 0; i < n; i++)
				dropped += stored[p + i];
			ck_assert_int_eq(store_xfree(st, ss, p, n, out, NULL),
					 (int)dropped);
			ck_assert_mem_eq(out, ref + p * PG, (size_t)n * PG);
			memset(ref + p * PG, 0, (size_t)n * PG);
			for (uint32_t i = 0; i < n; i++)
				stored[p + i] = false;
			used = model_used(ref, stored, SPACE);
			break;
		}
		/* The store holds what the reference does, and no more. */
		for (uint64_t i = 0; i < SPACE; i++) {
			struct iovec iov;

			ck_assert_int_eq(store_read_zero(st, ss, i, 1, &iov, NULL), 0);
			ck_assert_mem_eq(iov.iov_base, ref + i * PG, PG);
			ck_assert_int_eq(store_read(st, ss, i, 1, &iov, NULL),
					 stored[i] ? 0 : -ENOENT);
		}
		ck_assert_uint_eq(store_used(st), used);
		ck_assert_uint_eq(store_session_pages(ss),
				  count_true(stored, SPACE));
	}
	ck_assert_uint_gt(full, 0);
	ck_assert_uint_gt(reused, 0);
	ck_assert_uint_eq(store_discard(st, ss, 0, SPACE),
			  count_true(stored, SPACE));
	ck_assert_uint_eq(store_used(st), 0);
	store_session_free(st, ss);
	store_free(st);
}
END_TEST

/* ---- dedup: one slot for equal pages, whoever holds them ---- */

/* Read one page (absent: zeros) and its tag into @out and @tag. */
static void read_one(struct store *st, struct store_session *ss,
		     uint64_t page, uint8_t *out, uint8_t *tag)
{
	struct iovec iov;

	ck_assert_int_eq(store_read_zero(st, ss, page, 1, &iov, tag), 0);
	memcpy(out, iov.iov_base, PG);
}

START_TEST(test_dedup_share_unshare_free)
{
	static uint8_t p[3 * PG], r[PG];
	struct store *st = new_store(16);
	struct store_session *a = store_session_new(st);
	struct store_session *b = store_session_new(st);
	uint64_t seed = 21;

	fill(&seed, p, 3);
	/* The same page in two sessions: one slot, two references. */
	ck_assert_int_eq(store_write(st, a, 5, 1, p, NULL), 0);
	ck_assert_int_eq(store_write(st, b, 900, 1, p, NULL), 0);
	ck_assert_uint_eq(store_used(st), 1);
	ck_assert_uint_eq(stats_of(st).logical_pages, 2);
	ck_assert_uint_eq(stats_of(st).hashed_pages, 2);
	/* a overwrites its copy: its own slot now; b's is untouched. */
	ck_assert_int_eq(store_write(st, a, 5, 1, p + PG, NULL), 0);
	ck_assert_uint_eq(store_used(st), 2);
	read_one(st, b, 900, r, NULL);
	ck_assert_mem_eq(r, p, PG);
	read_one(st, a, 5, r, NULL);
	ck_assert_mem_eq(r, p + PG, PG);
	/* Back to the shared contents: shared again, a's slot freed. */
	ck_assert_int_eq(store_write(st, a, 5, 1, p, NULL), 0);
	ck_assert_uint_eq(store_used(st), 1);
	/* Equal pages within one session, and within one run. */
	memcpy(wbuf, p + 2 * PG, PG);
	memcpy(wbuf + PG, p + 2 * PG, PG);
	memcpy(wbuf + 2 * PG, p, PG);
	ck_assert_int_eq(store_write(st, a, 6, 3, wbuf, NULL), 0);
	ck_assert_uint_eq(store_used(st), 2);
	ck_assert_uint_eq(stats_of(st).logical_pages, 5);
	ck_assert_uint_eq(store_session_pages(a), 4);
	/* Discards drop references; the last one frees the slot. */
	ck_assert_uint_eq(store_discard(st, a, 6, 1), 1);
	ck_assert_uint_eq(store_used(st), 2);
	ck_assert_uint_eq(store_discard(st, a, 7, 1), 1);
	ck_assert_uint_eq(store_used(st), 1);
	/* A session freed keeps the other's references to shared slots. */
	store_session_free(st, a);
	ck_assert_uint_eq(store_used(st), 1);
	ck_assert_uint_eq(stats_of(st).logical_pages, 1);
	read_one(st, b, 900, r, NULL);
	ck_assert_mem_eq(r, p, PG);
	store_session_free(st, b);
	ck_assert_uint_eq(store_used(st), 0);
	ck_assert_uint_eq(stats_of(st).logical_pages, 0);
	store_free(st);
}
END_TEST

/* XWRITE, PXOR and XFREE on a shared page: as if it were not shared. */
START_TEST(test_dedup_parity_ops_on_shared)
{
	static uint8_t p[4 * PG], d[2 * PG], r[PG], x[PG];
	struct store *st = new_store(16);
	struct store_session *a = store_session_new(st);
	struct store_session *b = store_session_new(st);
	uint64_t seed = 22;

	fill(&seed, p, 4);
	ck_assert_int_eq(store_write(st, a, 0, 2, p, NULL), 0);
	ck_assert_int_eq(store_write(st, b, 0, 2, p, NULL), 0);
	ck_assert_uint_eq(store_used(st), 2);
	/* XWRITE: the delta is old ^ new of a's reference; b keeps its. */
	ck_assert_int_eq(store_xwrite(st, a, 0, 1, p + 2 * PG, NULL, d, NULL),
			 0);
	xor_page_ref(x, p, p + 2 * PG);
	ck_assert_mem_eq(d, x, PG);
	read_one(st, b, 0, r, NULL);
	ck_assert_mem_eq(r, p, PG);
	read_one(st, a, 0, r, NULL);
	ck_assert_mem_eq(r, p + 2 * PG, PG);
	ck_assert_uint_eq(store_used(st), 3);
	/* PXOR on a shared page: copy on write. */
	ck_assert_int_eq(store_xor(st, a, 1, 1, p + 3 * PG, NULL), 0);
	xor_page_ref(x, p + PG, p + 3 * PG);
	read_one(st, a, 1, r, NULL);
	ck_assert_mem_eq(r, x, PG);
	read_one(st, b, 1, r, NULL);
	ck_assert_mem_eq(r, p + PG, PG);
	ck_assert_uint_eq(store_used(st), 4);
	/* PXOR to zeros of a shared page drops that reference only. */
	ck_assert_int_eq(store_xor(st, b, 1, 1, p + PG, NULL), 0);
	ck_assert_int_eq(store_read(st, b, 1, 1, (struct iovec[1]){ 0 }, NULL),
			 -ENOENT);
	ck_assert_uint_eq(store_used(st), 3);
	/*
	 * PXOR in place (a's page 1 is its own): re-indexed by its new
	 * contents, so that a page equal to them shares its slot, and one
	 * equal to its old contents does not find it.
	 */
	ck_assert_int_eq(store_xor(st, a, 1, 1, p + 3 * PG, NULL), 0);
	read_one(st, a, 1, r, NULL);
	ck_assert_mem_eq(r, p + PG, PG);
	ck_assert_uint_eq(store_used(st), 3);
	ck_assert_int_eq(store_write(st, b, 7, 1, p + PG, NULL), 0);
	ck_assert_uint_eq(store_used(st), 3);
	/* A PXOR whose result equals a page held takes no slot of its own. */
	ck_assert_int_eq(store_write(st, b, 8, 1, p + 3 * PG, NULL), 0);
	ck_assert_uint_eq(store_used(st), 4);
	xor_page_ref(x, p + 3 * PG, p + PG);
	ck_assert_int_eq(store_xor(st, b, 7, 1, x, NULL), 0);
	ck_assert_uint_eq(store_used(st), 4);	/* p1 is still a's */
	read_one(st, b, 7, r, NULL);
	ck_assert_mem_eq(r, p + 3 * PG, PG);
	/* XFREE gives this reference's old contents, frees only it. */
	ck_assert_int_eq(store_xfree(st, b, 0, 1, d, NULL), 1);
	ck_assert_mem_eq(d, p, PG);
	read_one(st, a, 0, r, NULL);
	ck_assert_mem_eq(r, p + 2 * PG, PG);
	store_session_free(st, a);
	store_session_free(st, b);
	ck_assert_uint_eq(store_used(st), 0);
	store_free(st);
}
END_TEST

static uint64_t colliding_hash(const void *page)
{
	(void)page;
	return 42;
}

/* Pages whose hashes collide are shared only if their bytes are equal. */
START_TEST(test_dedup_hash_collision_not_shared)
{
	static uint8_t p[8 * PG], r[PG];
	struct store *st = new_store(16);
	struct store_session *a = store_session_new(st);
	struct store_session *b = store_session_new(st);
	uint64_t seed = 23;

	store_set_hash_for_tests(st, colliding_hash);
	fill(&seed, p, 8);
	/* Pages that differ in one byte only. */
	memcpy(p + PG, p, PG);
	p[PG + PG - 1] ^= 1;
	ck_assert_int_eq(store_write(st, a, 0, 8, p, NULL), 0);
	ck_assert_uint_eq(store_used(st), 8);
	ck_assert_int_eq(store_write(st, b, 0, 8, p, NULL), 0);
	ck_assert_uint_eq(store_used(st), 8);
	for (uint64_t i = 0; i < 8; i++) {
		read_one(st, a, i, r, NULL);
		ck_assert_mem_eq(r, p + i * PG, PG);
		read_one(st, b, i, r, NULL);
		ck_assert_mem_eq(r, p + i * PG, PG);
	}
	/* Freeing in any order keeps the colliding index consistent. */
	ck_assert_uint_eq(store_discard(st, a, 3, 4), 4);
	ck_assert_uint_eq(store_used(st), 8);
	store_session_free(st, b);
	ck_assert_uint_eq(store_used(st), 4);
	read_one(st, a, 7, r, NULL);
	ck_assert_mem_eq(r, p + 7 * PG, PG);
	ck_assert_int_eq(store_write(st, a, 20, 1, p + 7 * PG, NULL), 0);
	ck_assert_uint_eq(store_used(st), 4);
	store_session_free(st, a);
	ck_assert_uint_eq(store_used(st), 0);
	store_free(st);
}
END_TEST

/* Two references to one slot keep their own tags, whatever happens. */
START_TEST(test_dedup_tags_per_reference)
{
	static uint8_t p[PG], r[PG], d[PG];
	uint8_t ta[RMAP_TAG_LEN], tb[RMAP_TAG_LEN], t[RMAP_TAG_LEN];
	struct store *st = new_store(4);
	struct store_session *a = store_session_new(st);
	struct store_session *b = store_session_new(st);
	uint64_t seed = 24;

	fill(&seed, p, 1);
	memset(ta, 0xa5, sizeof(ta));
	memset(tb, 0x5b, sizeof(tb));
	ck_assert_int_eq(store_write(st, a, 1, 1, p, ta), 0);
	ck_assert_int_eq(store_write(st, b, 1, 1, p, tb), 0);
	ck_assert_uint_eq(store_used(st), 1);
	read_one(st, a, 1, r, t);
	ck_assert_mem_eq(t, ta, RMAP_TAG_LEN);
	read_one(st, b, 1, r, t);
	ck_assert_mem_eq(t, tb, RMAP_TAG_LEN);
	/* Rewriting the same bytes with another tag changes only it. */
	ck_assert_int_eq(store_write(st, a, 1, 1, p, tb), 0);
	read_one(st, a, 1, r, t);
	ck_assert_mem_eq(t, tb, RMAP_TAG_LEN);
	ck_assert_int_eq(store_write(st, a, 1, 1, p, ta), 0);
	/* PXOR of zeros and a tag: the page stays shared, the tag moves. */
	memset(d, 0, PG);
	ck_assert_int_eq(store_xor(st, b, 1, 1, d, ta), 0);
	ck_assert_uint_eq(store_used(st), 1);
	read_one(st, b, 1, r, t);
	for (unsigned i = 0; i < RMAP_TAG_LEN; i++)
		ck_assert_uint_eq(t[i], ta[i] ^ tb[i]);
	read_one(st, a, 1, r, t);
	ck_assert_mem_eq(t, ta, RMAP_TAG_LEN);
	/* XFREE answers this reference's tag. */
	ck_assert_int_eq(store_xfree(st, a, 1, 1, d, t), 1);
	ck_assert_mem_eq(t, ta, RMAP_TAG_LEN);
	ck_assert_uint_eq(store_used(st), 1);
	store_session_free(st, a);
	store_session_free(st, b);
	store_free(st);
}
END_TEST

/* Capacity counts unique pages, exactly. */
START_TEST(test_dedup_capacity_is_unique_pages)
{
	static uint8_t p[8 * PG];
	struct store *st = new_store(4);
	struct store_session *a = store_session_new(st);
	struct store_session *b = store_session_new(st);
	uint64_t seed = 25;

	fill(&seed, p, 8);
	ck_assert_int_eq(store_write(st, a, 0, 4, p, NULL), 0);
	ck_assert_uint_eq(store_used(st), 4);
	/* Full, yet pages it holds are taken: by any session. */
	ck_assert_int_eq(store_write(st, b, 10, 4, p, NULL), 0);
	ck_assert_int_eq(store_write(st, b, 20, 1, p + 3 * PG, NULL), 0);
	ck_assert_int_eq(store_write(st, b, 30, 1, p + 4 * PG, NULL), -ENOSPC);
	ck_assert_uint_eq(store_used(st), 4);
	/* A run mixing held pages with one new page is refused whole. */
	memcpy(wbuf, p, PG);
	memcpy(wbuf + PG, p + 5 * PG, PG);
	ck_assert_int_eq(store_write(st, b, 40, 2, wbuf, NULL), -ENOSPC);
	ck_assert_int_eq(store_read(st, b, 40, 1, (struct iovec[1]){ 0 },
				    NULL), -ENOENT);
	/* a drops page 0, still held by b: no room made. */
	ck_assert_uint_eq(store_discard(st, a, 0, 1), 1);
	ck_assert_int_eq(store_write(st, b, 30, 1, p + 4 * PG, NULL), -ENOSPC);
	/* Overwriting the last reference to a slot makes room for itself. */
	ck_assert_int_eq(store_write(st, b, 10, 1, p + 4 * PG, NULL), 0);
	ck_assert_uint_eq(store_used(st), 4);
	/* a gone, b's pages 10, 11 are unshared: overwritten at capacity. */
	store_session_free(st, a);
	ck_assert_uint_eq(store_used(st), 4);
	ck_assert_int_eq(store_write(st, b, 10, 2, p + 5 * PG, NULL), 0);
	ck_assert_uint_eq(store_used(st), 4);
	/* Two new equal pages in one run need one slot. */
	ck_assert_uint_eq(store_discard(st, b, 12, 1), 1);
	ck_assert_uint_eq(store_used(st), 3);
	memcpy(wbuf, p + 7 * PG, PG);
	memcpy(wbuf + PG, p + 7 * PG, PG);
	ck_assert_int_eq(store_write(st, b, 50, 2, wbuf, NULL), 0);
	ck_assert_uint_eq(store_used(st), 4);
	store_session_free(st, b);
	ck_assert_uint_eq(store_used(st), 0);
	store_free(st);
}
END_TEST

/* References are bounded: REFS_PER_CAPACITY_PAGE per page of capacity. */
START_TEST(test_dedup_references_bounded)
{
	static uint8_t p[PG];
	struct store *st = new_store(2);
	struct store_session *a = store_session_new(st);
	uint64_t seed = 26, n = REFS_PER_CAPACITY_PAGE * 2;

	fill(&seed, p, 1);
	for (uint64_t i = 0; i < n; i++)
		ck_assert_int_eq(store_write(st, a, i, 1, p, NULL), 0);
	ck_assert_uint_eq(store_used(st), 1);
	ck_assert_int_eq(store_write(st, a, n, 1, p, NULL), -ENOSPC);
	/* Overwrites add no reference. */
	ck_assert_int_eq(store_write(st, a, 0, 1, p, NULL), 0);
	ck_assert_uint_eq(stats_of(st).logical_pages, n);
	store_session_free(st, a);
	store_free(st);
}
END_TEST

START_TEST(test_dedup_off)
{
	static uint8_t p[PG];
	struct store *st = new_store(4);
	struct store_session *a = store_session_new(st);
	uint64_t seed = 27;

	fill(&seed, p, 1);
	ck_assert(stats_of(st).dedup);
	ck_assert_int_eq(store_write(st, a, 0, 1, p, NULL), 0);
	/* Not while it holds pages. */
	ck_assert_int_eq(store_set_dedup(st, false), -EBUSY);
	ck_assert_uint_eq(store_discard(st, a, 0, 1), 1);
	ck_assert_int_eq(store_set_dedup(st, false), 0);
	ck_assert(!stats_of(st).dedup);
	ck_assert_int_eq(store_write(st, a, 0, 1, p, NULL), 0);
	ck_assert_int_eq(store_write(st, a, 1, 1, p, NULL), 0);
	ck_assert_uint_eq(store_used(st), 2);
	ck_assert_uint_eq(stats_of(st).hashed_pages, 1);	/* before */
	store_session_free(st, a);
	store_free(st);
}
END_TEST

/* ---- a reserved store ---- */

/* A "Key: N kB" field of one of this process's /proc files. */
static unsigned long proc_kib(const char *path, const char *key)
{
	char line[256], fmt[64];
	unsigned long kib = 0;
	bool found = false;
	FILE *f = fopen(path, "r");

	ck_assert_ptr_nonnull(f);
	snprintf(fmt, sizeof(fmt), "%s: %%lu kB", key);
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, fmt, &kib) == 1;
	fclose(f);
	ck_assert_msg(found, "no %s in %s", key, path);
	return kib;
}

/* This process's locked memory, and its transparent huge pages. */
static unsigned long locked_kib(void)
{
	return proc_kib("/proc/self/status", "VmLck");
}

static unsigned long anon_huge_kib(void)
{
	return proc_kib("/proc/self/smaps_rollup", "AnonHugePages");
}

struct progress_seen {
	unsigned calls;
	uint64_t last, total;
	bool monotonic;
};

static void progress_record(uint64_t done, uint64_t total, void *arg)
{
	struct progress_seen *p = arg;

	p->monotonic &= done > p->last && done <= total;
	p->calls++;
	p->last = done;
	p->total = total;
}

START_TEST(test_reserve_locks_the_capacity)
{
	enum { CAP = 1024 };	/* 4 MiB: under an unprivileged lock limit */
	struct progress_seen seen = { .monotonic = true };
	unsigned long before = locked_kib();
	struct store_stats sst;
	struct store_session *ss;
	struct store *st;
	int64_t huge;

	ck_assert_int_eq(store_new(&st, CAP), 0);
	ck_assert(!store_reserved(st));
	ck_assert_int_eq(store_reserved_huge_bytes(st), 0);
	ck_assert_int_eq(store_reserve(st, progress_record, &seen), 0);
	ck_assert(store_reserved(st));
	ck_assert_uint_ge(seen.calls, 1);
	ck_assert(seen.monotonic);
	ck_assert_uint_eq(seen.last, seen.total);
	ck_assert_uint_eq(seen.total, (uint64_t)CAP * PG);
	ck_assert_uint_ge(locked_kib() - before, CAP * PG / 1024);
	store_stats(st, &sst);
	ck_assert(sst.reserved);
	huge = store_reserved_huge_bytes(st);
	ck_assert_int_ge(huge, 0);
	ck_assert_int_le(huge, (int64_t)anon_huge_kib() << 10);
	ck_assert_int_le(huge, (int64_t)CAP * PG);
	ck_assert_int_eq(huge % (2 << 20), 0);
	/* Twice is once. */
	ck_assert_int_eq(store_reserve(st, NULL, NULL), 0);

	/* Fill it, empty it and fill it again: freed slots are rewritten. */
	ss = store_session_new(st);
	for (unsigned round = 0; round < 3; round++) {
		for (uint64_t p = 0; p < CAP; p += RMAP_MAX_PAGES)
			ck_assert_int_eq(store_write(st, ss, p, RMAP_MAX_PAGES,
						     pattern(round, p,
							     RMAP_MAX_PAGES),
						     NULL), 0);
		ck_assert_uint_eq(store_used(st), CAP);
		ck_assert_int_eq(store_write(st, ss, CAP, 1,
					     pattern(round, CAP, 1), NULL),
				 -ENOSPC);
		for (uint64_t p = 0; p < CAP; p += 97)
			assert_page(st, ss, p, round);
		ck_assert_uint_eq(store_discard(st, ss, 0, CAP / 2), CAP / 2);
		ck_assert_uint_eq(store_used(st), CAP / 2);
		assert_page(st, ss, CAP - 1, round);
		ck_assert_uint_eq(store_discard(st, ss, CAP / 2, CAP / 2),
				  CAP / 2);
	}
	store_session_free(st, ss);
	/* Freed slots kept their memory: still locked. */
	ck_assert_uint_ge(locked_kib() - before, CAP * PG / 1024);
	store_free(st);
	ck_assert_uint_le(locked_kib(), before);
}
END_TEST

START_TEST(test_reserve_only_before_the_first_write)
{
	struct store_session *ss;
	struct store *st;

	ck_assert_int_eq(store_new(&st, 16), 0);
	ss = store_session_new(st);
	ck_assert_int_eq(store_write(st, ss, 5, 1, pattern(7, 5, 1), NULL), 0);
	ck_assert_int_eq(store_reserve(st, NULL, NULL), -EBUSY);
	ck_assert(!store_reserved(st));
	assert_page(st, ss, 5, 7);
	/* Emptied, it has still mapped chunks of its own: still too late. */
	ck_assert_uint_eq(store_discard(st, ss, 5, 1), 1);
	ck_assert_int_eq(store_reserve(st, NULL, NULL), -EBUSY);
	store_session_free(st, ss);
	store_free(st);
}
END_TEST

/* Give up CAP_IPC_LOCK (root locks past RLIMIT_MEMLOCK with it). */
static int drop_ipc_lock(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];
	const unsigned w = CAP_IPC_LOCK / 32;
	const uint32_t bit = 1u << (CAP_IPC_LOCK % 32);

	if (syscall(SYS_capget, &hdr, data))
		return -1;
	data[w].effective &= ~bit;
	data[w].permitted &= ~bit;
	data[w].inheritable &= ~bit;
	return (int)syscall(SYS_capset, &hdr, data);
}

/*
 * In a child that may lock nothing: the reservation is refused with an
 * errno, nothing stays locked or mapped for it, and the store works as
 * an unreserved one.  Exit status: 0, or the step that went wrong.
 */
static int refused_child(void)
{
	struct rlimit none = { 0, 0 };
	struct store_session *ss;
	struct iovec iov;
	struct store *st;
	int ret;

	if (drop_ipc_lock() || setrlimit(RLIMIT_MEMLOCK, &none))
		return 1;
	if (store_new(&st, 256))
		return 2;
	ret = store_reserve(st, NULL, NULL);
	if (ret != -EPERM && ret != -ENOMEM && ret != -EAGAIN)
		return 3;
	if (store_reserved(st) || locked_kib())
		return 4;
	ss = store_session_new(st);
	if (store_write(st, ss, 0, 8, pattern(3, 0, 8), NULL) ||
	    store_read(st, ss, 7, 1, &iov, NULL) ||
	    memcmp(iov.iov_base, wbuf + 7 * PG, PG))
		return 5;
	store_session_free(st, ss);
	store_free(st);
	return 0;
}

START_TEST(test_reserve_refused_leaves_the_store_usable)
{
	int status;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(refused_child());
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the child failed at step %d (status %#x)",
		      WIFEXITED(status) ? WEXITSTATUS(status) : -1, status);
}
END_TEST

/* The tests of the store as it was, with dedup on or off. */
struct store_variant {
	const char *capacity, *table, *parity;	/* tcase names */
	void (*setup)(void);
};

static const struct store_variant store_variants[] = {
	{ "capacity", "table", "parity", dedup_setup_on },
	{ "capacity-nodedup", "table-nodedup", "parity-nodedup",
	  dedup_setup_off },
	/* No table: its 47 MiB would pass an unprivileged lock limit. */
	{ "capacity-reserved", NULL, "parity-reserved", reserve_setup },
};

static void add_store_tcases(Suite *s, const struct store_variant *v)
{
	void (*setup)(void) = v->setup;
	TCase *tc;

	tc = tcase_create(v->capacity);
	tcase_add_unchecked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_new_rejects_bad_capacity);
	tcase_add_test(tc, test_capacity_fill_and_refuse);
	tcase_add_test(tc, test_write_rejects_bad_runs);
	tcase_add_test(tc, test_read_partial_run_is_enoent);
	tcase_add_test(tc, test_sessions_are_separate);
	tcase_add_test(tc, test_discarded_slots_are_reused);
	tcase_add_test(tc, test_released_memory_goes_back);
	tcase_add_test(tc, test_set_aside_slots_are_taken_first);
	tcase_add_test(tc, test_slots_runs_stop_at_chunks);
	tcase_add_test(tc, test_slots_set_aside_against_model);
	tcase_add_test(tc, test_large_session_freed_in_slices);
	tcase_add_test(tc, test_write_without_room_ends_the_walk);
	tcase_add_test(tc, test_slots_taken_during_the_walk_stay);
	suite_add_tcase(s, tc);

	if (v->table) {
		tc = tcase_create(v->table);
		tcase_add_unchecked_fixture(tc, setup, NULL);
		tcase_set_timeout(tc, 120);
		tcase_add_loop_test(tc, test_hash_table_against_reference, 0,
				    2);
		tcase_add_test(tc, test_huge_range_discard);
		suite_add_tcase(s, tc);
	}

	tc = tcase_create(v->parity);
	tcase_add_unchecked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_xwrite_deltas);
	tcase_add_test(tc, test_xwrite_full_changes_nothing);
	tcase_add_test(tc, test_xfree_returns_old);
	tcase_add_test(tc, test_xor_create_update_delete);
	tcase_add_test(tc, test_xor_full_changes_nothing);
	tcase_add_test(tc, test_read_zero);
	tcase_add_test(tc, test_parity_against_reference);
	tcase_add_test(tc, test_tags);
	suite_add_tcase(s, tc);
}

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc;

	for (size_t i = 0; i < sizeof(store_variants) /
			       sizeof(store_variants[0]); i++)
		add_store_tcases(s, &store_variants[i]);

	tc = tcase_create("reftab");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_reftab_grows_a_step_at_a_time);
	tcase_add_test(tc, test_reftab_lets_go_as_it_is_walked);
	tcase_add_test(tc, test_reftab_probes_past_what_moved);
	suite_add_tcase(s, tc);

	tc = tcase_create("reserve");
	tcase_add_unchecked_fixture(tc, dedup_setup_on, NULL);
	tcase_add_test(tc, test_reserve_locks_the_capacity);
	tcase_add_test(tc, test_reserve_only_before_the_first_write);
	tcase_add_test(tc, test_reserve_refused_leaves_the_store_usable);
	suite_add_tcase(s, tc);

	tc = tcase_create("dedup");
	tcase_add_unchecked_fixture(tc, dedup_setup_on, NULL);
	tcase_add_test(tc, test_dedup_share_unshare_free);
	tcase_add_test(tc, test_dedup_parity_ops_on_shared);
	tcase_add_test(tc, test_dedup_hash_collision_not_shared);
	tcase_add_test(tc, test_dedup_tags_per_reference);
	tcase_add_test(tc, test_dedup_capacity_is_unique_pages);
	tcase_add_test(tc, test_dedup_references_bounded);
	tcase_add_test(tc, test_dedup_off);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(store_suite());
}
