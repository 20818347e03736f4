// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * store_bench.c - how long a memory server stops answering when a large
 * session ends (memxd/server/store.h, slots.h).  A session of --pages
 * pages (default 524,288: 2 GiB) is written, then freed twice over:
 *
 *   one turn: its table walked and its memory given back in the turn
 *             that freed it (the baseline, in the same run): the server
 *             did both in that turn before 3e346c2, and still walked
 *             the table in it until the walk was sliced too;
 *   sliced:   freed, then walked and given back 8,192 pages' worth at a
 *             time (2 buckets of the table for a page), as the server
 *             does now, a slice per turn of its loop.
 *
 * The stall is the longest the loop goes without a turn for requests.
 * Prints "store-bench: pages=... reserved=... one_turn_s=...
 * sliced_free_s=... slices=... worst_slice_ms=... given_back_s=...
 * stall_ratio=..." (the longest turn now, the free's or a slice's, over
 * the one-turn baseline's).  The baseline marks and finds runs as this
 * tree does (the trees before sorted the released slots into runs: a
 * turn of 9 ms a million, by radix; by qsort(3), 0.11 s more).
 * Run it with --reserve for a reserved store, which gives nothing back
 * but is walked in slices all the same.
 *
 * Then a session's table alone (reftab.h), filled with as many
 * references, 256 a write as a pager's runs come: the longest write's
 * table work when it grows a step at a time, as now, against growing
 * in one go (every entry moved at the write that needs room, as before;
 * the baseline, in the same run).  A step gives back the memory of the
 * old table's buckets it moved, so the last one has none left to free.  Prints "store-bench: grow refs=...
 * one_go_worst_ms=... stepped_worst_ms=... grow_ratio=...".
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memxd/server/reftab.h"
#include "memxd/server/store.h"
#include "rmap/wire.h"

#define RUN	RMAP_MAX_PAGES
#define SLICE	8192u	/* the server's GIVE_BACK_SLICE */

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A session of @pages distinct pages, written a run at a time. */
static struct store_session *fill(struct store *st, uint64_t pages,
				  unsigned round)
{
	static uint8_t buf[RUN * RMAP_PAGE_SIZE];
	struct store_session *ss = store_session_new(st);

	if (!ss)
		return NULL;
	for (uint64_t p = 0; p < pages; p += RUN) {
		uint32_t n = pages - p < RUN ? (uint32_t)(pages - p) : RUN;

		for (uint32_t i = 0; i < n; i++) {
			uint64_t id[2] = { p + i, round };

			memcpy(buf + (size_t)i * RMAP_PAGE_SIZE, id,
			       sizeof(id));
		}
		if (store_write(st, ss, p, n, buf, NULL)) {
			fprintf(stderr, "store-bench: write failed\n");
			exit(1);
		}
		/* A line each tenth: a large session takes seconds. */
		if (p * 10 / pages != (p + n) * 10 / pages)
			fprintf(stderr, "store-bench: writing session %u: "
				"%lu%%\n", round + 1,
				(unsigned long)((p + n) * 100 / pages));
	}
	return ss;
}

/*
 * The longest write's table work, filling a table with @refs references
 * a run at a time, with the old table's moves ended at once (@one_go)
 * or left to the steps.
 */
static double grow_worst(uint64_t refs, bool one_go)
{
	struct reftab t;
	double worst = 0;

	if (reftab_init(&t)) {
		fprintf(stderr, "store-bench: out of memory\n");
		exit(1);
	}
	for (uint64_t p = 0; p < refs; p += RUN) {
		uint32_t n = refs - p < RUN ? (uint32_t)(refs - p) : RUN;
		double t0 = now(), d;

		if (reftab_reserve(&t, t.n + n)) {
			fprintf(stderr, "store-bench: out of memory\n");
			exit(1);
		}
		if (one_go)
			reftab_finish(&t);
		for (uint32_t i = 0; i < n; i++)
			reftab_insert(&t, p + i)->slot = (uint32_t)(p + i);
		d = now() - t0;
		if (d > worst)
			worst = d;
	}
	reftab_fini(&t);
	return worst;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pages", required_argument, NULL, 'p' },
		{ "reserve", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t pages = 524288;
	double t0, one_turn, sliced_free, given_back, worst = 0;
	bool reserve = false;
	unsigned slices = 0;
	struct store_session *ss;
	struct store *st;
	double stall;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'p')
			pages = strtoull(optarg, NULL, 0);
		else if (c == 'r')
			reserve = true;
		else
			return 2;
	}
	if (!pages || store_new(&st, pages) ||
	    (reserve && store_reserve(st, NULL, NULL))) {
		fprintf(stderr, "store-bench: cannot make a store of %lu "
			"pages%s\n", (unsigned long)pages,
			reserve ? ", reserved" : "");
		return 1;
	}

	/* The baseline: freed and given back in one turn. */
	ss = fill(st, pages, 0);
	t0 = now();
	store_session_free(st, ss);
	store_give_back(st, UINT64_MAX);
	one_turn = now() - t0;

	/* Now: freed at once, walked and given back in slices. */
	ss = fill(st, pages, 1);
	t0 = now();
	store_session_free(st, ss);
	sliced_free = now() - t0;
	t0 = now();
	for (bool more = store_give_back(st, 0); more; slices++) {
		double s0 = now(), s;

		more = store_give_back(st, SLICE);
		s = now() - s0;
		if (s > worst)
			worst = s;
	}
	given_back = now() - t0;
	/* The longest turn now: the free's, or a slice's. */
	stall = sliced_free > worst ? sliced_free : worst;
	printf("store-bench: pages=%lu reserved=%d one_turn_s=%.3f "
	       "sliced_free_s=%.3f slices=%u worst_slice_ms=%.1f "
	       "given_back_s=%.3f stall_ratio=%.2f\n", (unsigned long)pages,
	       reserve, one_turn, sliced_free, slices, worst * 1e3,
	       given_back, stall / one_turn);
	store_free(st);

	/* A session's table growing: in one go (the baseline), then now. */
	{
		double one_go = grow_worst(pages, true);
		double stepped = grow_worst(pages, false);

		printf("store-bench: grow refs=%lu one_go_worst_ms=%.1f "
		       "stepped_worst_ms=%.2f grow_ratio=%.3f\n",
		       (unsigned long)pages, one_go * 1e3, stepped * 1e3,
		       stepped / one_go);
	}
	return 0;
}
