/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * evict.h - pages out: keeping a VM within its budget.
 *
 * Victims come from the policy (victim.h), a batch at a time, and leave
 * in the order that never loses a write:
 *   1. write-protect them (a page that cannot be protected stays);
 *   2. read their bytes from the memfd;
 *   3. clean pages with a valid server copy, and all-zero pages, leave at
 *      once; dirty ones go to their servers (stripe.h), or to the spill
 *      file if no server can take them;
 *   4. punch the hole only after the server acknowledged the copy, and
 *      only if no write came meanwhile (pagetable.h, invariant 1).
 */
#ifndef MEMX_PAGER_EVICT_H
#define MEMX_PAGER_EVICT_H

#include <stdbool.h>
#include <stdint.h>

struct pager;
struct vm;

#define EVICT_BATCH	64u	/* a whole group at the default geometry */
#define EVICT_INFLIGHT	512u	/* pages being evicted at once, per VM */
#define EVICT_ROOM	256u	/* free below the budget (at most 1/64) */

int evict_pager_init(struct pager *pg);
void evict_pager_fini(struct pager *pg);

/*
 * Evict one batch toward @vm's target.  True if more is wanted and may
 * go now: the caller calls again (after serving the faults that came
 * meanwhile, which must not wait for a whole round of batches).
 * *@fruitless counts the batches that could evict nothing (their groups
 * could take no write); after a few there is no more to try for now.
 */
bool evict_step(struct vm *vm, unsigned *fruitless);

/*
 * True if evict_step() would start a batch now: @vm is over its target
 * and the batches in flight leave room for one more.
 */
bool evict_due(const struct vm *vm, unsigned fruitless);

#endif
