/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * prefetch.h - how many pages to fetch around a network fault, and where.
 *
 * Leap's majority trend, per stream: a guest often walks several runs at
 * once (quicksort's partition walks up from one end and down from the
 * other), and one history of fault deltas would see no majority in the
 * interleaving.  So faults are sorted into a few streams by proximity,
 * each with its own delta history; when one delta is the majority of a
 * stream's history, that is its stride, and the next pages along it are
 * worth fetching.  The window doubles while prefetched pages get used and
 * halves when they go to waste; with no trend nothing is prefetched.
 */
#ifndef MEMX_PREFETCH_H
#define MEMX_PREFETCH_H

#include <stdbool.h>
#include <stdint.h>

#define PREFETCH_HISTORY	8u
#define PREFETCH_STREAMS	4u
/* A fault this many pages or fewer from a stream's last one continues it. */
#define PREFETCH_NEAR		1024u

struct prefetch_stream {
	int64_t delta[PREFETCH_HISTORY];
	unsigned ndelta, next;
	uint64_t last_page;
	/*
	 * The @covered_n pages after last_page, along @covered_stride,
	 * that were installed or read ahead (prefetch_covered).
	 * covered_stride 0: none.
	 */
	int64_t covered_stride;
	unsigned covered_n;
	uint64_t last_use;	/* for replacing the least recently used */
	bool live;
};

struct prefetch {
	struct prefetch_stream s[PREFETCH_STREAMS];
	uint64_t tick;
	unsigned window;	/* pages to fetch ahead, 1..max */
	unsigned max;		/* 0: prefetch disabled */
	uint64_t hits_since, wasted_since;
	/* The write trend: of the pages installed clean, how many the guest
	 * then wrote (each a WP fault), decayed; and a probe counter. */
	uint32_t clean_installed, clean_written, probe;
};

void prefetch_init(struct prefetch *pf, unsigned max);
/* A fault at @page (a miss or a prefetch-cache hit): its stream. */
unsigned prefetch_note(struct prefetch *pf, uint64_t page);
/* Feedback: a prefetched page was used, or thrown away unused. */
void prefetch_hit(struct prefetch *pf);
void prefetch_wasted(struct prefetch *pf);
/*
 * On a miss: adapt the window from the feedback since the last miss and
 * return how many pages to fetch along *stride, or 0 with no trend.
 */
unsigned prefetch_plan(struct prefetch *pf, unsigned stream, int64_t *stride);
/* On a hit: the current window along the stream's trend. */
unsigned prefetch_ahead(const struct prefetch *pf, unsigned stream,
			int64_t *stride);
/*
 * The @n pages after @stream's last fault along @stride were installed
 * or read ahead.  Pages installed never fault, so the stream's next fault
 * is the first page past them: prefetch_note takes it as one step of the
 * trend (and as a hit: the guest used the run), not as a jump of n + 1
 * that would break the majority the run was planned on.
 */
void prefetch_covered(struct prefetch *pf, unsigned stream, int64_t stride,
		      unsigned n);

/*
 * The write trend.  A page installed clean is write-protected, so that
 * a later write is seen (a WP fault, a round trip through memxd); when
 * most such pages are written anyway (a sort, a copy), installing them
 * writable and dirty saves that round trip, at the price of writing them
 * back when evicted (unless still the bytes they went in with: unseen.h).
 * prefetch_writable says which, for the next @n
 * pages to install; even then one install in PREFETCH_PROBE stays clean,
 * so that the trend keeps being measured.  Probes are rare because each
 * page of one that the guest writes costs its vCPU a WP fault; the price
 * is a slower turn when a reader follows a writer (about 240 installs,
 * check_policy's test_write_trend_turns).
 */
#define PREFETCH_PROBE		64u
void prefetch_installed_clean(struct prefetch *pf, unsigned n);
void prefetch_clean_written(struct prefetch *pf);
bool prefetch_writable(struct prefetch *pf);

#endif
