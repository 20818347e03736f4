// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * victim.c - CLOCK with second chance over the page table (victim.h).
 */
#include "victim.h"

unsigned victim_select(struct victim_clock *c, struct pagetable *pt,
		       uint64_t *out, unsigned max)
{
	uint64_t npages = pt->npages, limit = 2 * npages;
	unsigned n = 0;

	if (!npages)
		return 0;
	/*
	 * Up to two sweeps: the first may only clear reference bits.  Once
	 * a victim is taken, stop before the hand comes round to it again:
	 * a page must never be handed out twice.
	 */
	for (uint64_t scanned = 0; scanned < limit && n < max; scanned++) {
		uint64_t page = c->hand;

		c->hand = c->hand + 1 == npages ? 0 : c->hand + 1;
		if (pt_state(pt, page) != PS_RESIDENT ||
		    pt_has(pt, page, PT_WRITING))
			continue;
		if (pt_has(pt, page, PT_REF)) {
			pt_clear_ref(pt, page);
			continue;
		}
		if (!n)
			limit = scanned + npages;
		out[n++] = page;
	}
	return n;
}
