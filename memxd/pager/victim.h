/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * victim.h - which resident page to evict next.
 *
 * The one place the victim policy lives.  Today: CLOCK with second
 * chance.  The reference bit (PT_REF) is set on every fault and
 * write-protect fault of a page (pt_installed, pt_written); the hand
 * clears it as it passes and takes pages whose bit is already clear.  A
 * better policy replaces this file, not the pager.
 */
#ifndef MEMX_PAGER_VICTIM_H
#define MEMX_PAGER_VICTIM_H

#include <stdint.h>

#include "pagetable.h"

struct victim_clock {
	uint64_t hand;
};

/*
 * Pick up to @max victims among RESIDENT pages with no WRITE in flight;
 * returns how many were written to @out (in hand order, so runs of
 * neighbours come out contiguous).
 */
unsigned victim_select(struct victim_clock *c, struct pagetable *pt,
		       uint64_t *out, unsigned max);

#endif
