/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * unseen.h - the bytes of pages installed writable ahead of the guest,
 * remembered as a hash.
 *
 * A page the prefetcher installs writable before any fault
 * (pagetable.h: PT_UNSEEN) may or may not be written by the guest: its
 * writes take no fault.  Its hash, kept here, tells: the same bytes
 * later mean the guest never wrote it, so it is still its server copy.
 * A discard uses that (fault.c: old bytes installed after the VMM's punch
 * do not outlive it), and so does eviction (evict.c: such a page leaves
 * clean, with no write).
 *
 * It holds only data: the page table's PT_UNSEEN says which pages' hashes
 * are current, and an entry whose page lost the flag is stale.  The stale
 * ones are swept out when the table reaches one and a half times the
 * pages that can be resident, so it costs memory per page of budget, not
 * per GPAS page: at worst (every resident page went in so) some 60 bytes
 * per page of budget, 1.5% of it.
 */
#ifndef MEMX_PAGER_UNSEEN_H
#define MEMX_PAGER_UNSEEN_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "pagetable.h"

struct unseen {
	GHashTable *sums;		/* page -> hash of its bytes */
	uint64_t seed;			/* per VM: no collision to aim at */
};

void unseen_init(struct unseen *u);
void unseen_fini(struct unseen *u);
/*
 * @page goes in with @data (one page) and will be PT_UNSEEN: its hash is
 * kept, the stale ones swept if the table holds @limit or more.
 */
void unseen_remember(struct unseen *u, const struct pagetable *pt,
		     uint64_t page, const uint8_t *data, uint64_t limit);
/* Is @page PT_UNSEEN, and @data (one page) the bytes it went in with? */
bool unseen_unchanged(const struct unseen *u, const struct pagetable *pt,
		      uint64_t page, const uint8_t *data);
/* How many hashes are kept (stale ones included). */
unsigned unseen_kept(const struct unseen *u);

#endif
