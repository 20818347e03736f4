// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * evict.c - CLOCK with second chance over the pager's page table.
 */
#include "evict.h"

#include "pagetable.h"

unsigned evict_select(struct evict_clock *c, uint8_t *pt, uint64_t npages,
		      uint64_t *out, unsigned max)
{
	uint64_t limit = 2 * npages;
	unsigned n = 0;

	/*
	 * Up to two sweeps: the first may only clear reference bits.  Once
	 * a victim is taken, stop before the hand comes round to it again:
	 * a page must never be handed out twice.
	 */
	for (uint64_t scanned = 0; scanned < limit && n < max; scanned++) {
		uint8_t *e = &pt[c->hand];
		uint64_t page = c->hand;

		c->hand = c->hand + 1 == npages ? 0 : c->hand + 1;
		if (pt_state(*e) != PS_RESIDENT || (*e & PT_BUSY))
			continue;
		if (*e & PT_REF) {
			*e &= (uint8_t)~PT_REF;
			continue;
		}
		if (!n)
			limit = scanned + npages;
		out[n++] = page;
	}
	return n;
}
