/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * adopt.h - take over a VM an earlier memxd served (see adopt.c).
 */
#ifndef MEMX_PAGER_ADOPT_H
#define MEMX_PAGER_ADOPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct vmstate;

/* What adopting a VM found, for the log. */
struct adopt_report {
	uint64_t evictions_rolled_back;	/* pages still in the memfd */
	uint64_t fetches_dropped;	/* READs that died with memxd */
	uint64_t discards_found;	/* pages the guest freed meanwhile */
	uint64_t parities;		/* groups whose parity is recomputed */
	uint64_t remote_again;		/* migrated: resident, not sent */
	uint64_t stale_dropped;		/* migrated: stale copies dropped */
	unsigned sessions;		/* sessions re-attached */
};

/*
 * Fill @vm's new state (its page table, groups and sessions, set up
 * empty) from @old, finishing or rolling back what was in flight, and
 * wake every waiting thread.  @migrated: @old comes from another host's
 * memxd through a live migration (adopt.c).  0, or -errno with why in
 * @why.
 */
int adopt_state(struct vm *vm, const struct vmstate *old, bool migrated,
		struct adopt_report *rep, char *why, size_t len);

#endif
