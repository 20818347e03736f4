/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * prefetch.h - how many pages to fetch around a network fault, and where.
 *
 * Leap's majority trend: keep the last few fault deltas; if one delta is
 * the majority, that is the stride, and the next pages along it are worth
 * fetching.  The window doubles while prefetched pages get used and
 * halves when they go to waste; with no trend nothing is prefetched.
 */
#ifndef MEMX_PREFETCH_H
#define MEMX_PREFETCH_H

#include <stdint.h>

#define PREFETCH_HISTORY	8u

struct prefetch {
	int64_t delta[PREFETCH_HISTORY];
	unsigned ndelta, next;
	uint64_t last_page;
	unsigned window;	/* pages to fetch ahead, 1..max */
	unsigned max;		/* 0: prefetch disabled */
	uint64_t hits_since, wasted_since;
};

void prefetch_init(struct prefetch *pf, unsigned max);
/* A fault at @page (a miss or a prefetch-cache hit): learn from it. */
void prefetch_note(struct prefetch *pf, uint64_t page);
/* Feedback: a prefetched page was used, or thrown away unused. */
void prefetch_hit(struct prefetch *pf);
void prefetch_wasted(struct prefetch *pf);
/*
 * On a miss: adapt the window from the feedback since the last miss and
 * return how many pages to fetch along *stride, or 0 with no trend.
 */
unsigned prefetch_plan(struct prefetch *pf, int64_t *stride);
/* On a hit: the current window along the trend, to keep ahead of it. */
unsigned prefetch_ahead(const struct prefetch *pf, int64_t *stride);

#endif
