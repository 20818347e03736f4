/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * evict.h - which resident page to evict next.
 *
 * The one place the victim policy lives.  Today: CLOCK with second
 * chance.  The reference bit (PT_REF) is set by the pager on every fault
 * and write-protect fault of a page; the hand clears it as it passes and
 * takes pages whose bit is already clear.  A better policy replaces this
 * file, not the pager.
 */
#ifndef MEMX_EVICT_H
#define MEMX_EVICT_H

#include <stdint.h>

struct evict_clock {
	uint64_t hand;
};

/*
 * Pick up to @max victims among RESIDENT pages of @pt that have no write
 * in flight; returns how many were written to @out (in hand order, so
 * runs of neighbours come out contiguous).
 */
unsigned evict_select(struct evict_clock *c, uint8_t *pt, uint64_t npages,
		      uint64_t *out, unsigned max);

#endif
