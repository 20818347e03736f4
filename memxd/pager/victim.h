/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * victim.h - which resident page to evict next.
 *
 * The one place the victim policy lives.  Four policies, chosen per
 * pager (--evict-policy):
 *
 * clock    CLOCK with second chance.  The reference bit (PT_REF) is set
 *          on every fault and write-protect fault of a page (pt_installed,
 *          pt_written); the hand clears it as it passes and takes pages
 *          whose bit is already clear.  memx sees no access to a resident
 *          page but its first write, so this is close to FIFO, and a
 *          working set that cycles through more than the budget misses on
 *          every access: each page leaves just before it is needed again.
 *
 * refault  CLOCK over the cold pages, plus a protected (hot) set that the
 *          cold hand passes over, filled by refault distance (Linux's
 *          mm/workingset.c): when a page leaves, the epoch of its
 *          eviction is kept in its page state; when it faults back in, the
 *          evictions since then say how soon it was needed again.  A page
 *          that comes back within the horizon is a working-set page: it
 *          is installed hot while the hot set has room.  A full hot set
 *          is held, not churned: memx cannot see a hot page being used,
 *          so a newcomer takes a slot only after theta refaults asked for
 *          one, and the hot hand then lets the oldest unused page go
 *          (demoted: cold again, marked in its byte).  theta adapts like
 *          ARC's target: a demoted page that faults back in within the
 *          horizon was in use (theta doubles: hold the set harder); one
 *          whose mark expires unused was rightly let go (theta halves:
 *          follow a shifting working set faster).  A cyclic sweep longer
 *          than the budget thus keeps most of the budget resident and
 *          fetches only the rest each pass; a one-time scan never comes
 *          back and never displaces the hot set.
 *
 * refault-wp  refault, and a sampling hand (victim_sample): a dirty hot
 *          page is writable, so its later writes are invisible too; the
 *          hand, moving with the evictions, hands those written since it
 *          last passed back to be write-protected again, and demotes
 *          those not written since (stale: a quicksort's pages of ranges
 *          it is done with).  Clean hot pages are left alone: their reads
 *          never show.  It halves refault's excess over CLOCK on a
 *          quicksort but gives back part of its gain on a sweep
 *          (design.md), so it is not the default, nor refault's.
 *
 * adaptive  clock or refault, whichever fetches fewer pages now, chosen
 *          by set dueling (Qureshi et al., ISCA 2007, "Adaptive insertion
 *          policies for high performance caching"): the pages fall into
 *          groups by address (16 to 256 pages: the budget holds 512
 *          of them, victim.c), and one group in VICTIM_DUEL_SETS
 *          leads for each policy.  Unlike a CPU cache's sets, memx's
 *          pages share one budget, so each leader set is made a cache of
 *          its own, a miniature of its policy running alone: it may keep
 *          its share of the budget (budget / VICTIM_DUEL_SETS), and its
 *          own hand, epoch clock and theta take its victims and judge its
 *          refaults.  The others (followers) run refault while CLOCK's
 *          leaders fetch more than 9/8 of what refault's fetch, over the
 *          last 1024 to 2048 leader fetches, and did at the end of the
 *          window before too; CLOCK again once that falls under 17/16.
 *          A tie is CLOCK's, and so is a lead of a single window.  The
 *          hot set's room is the refault leaders' share of hot_target,
 *          plus the rest while the followers run refault.  A sweep
 *          longer than the budget makes CLOCK's leaders fetch every page
 *          of every pass, and the followers turn to refault; a quicksort
 *          is mostly a tie, and faults, reads and writes as much as
 *          under CLOCK (with groups of 16 in the guest, a fifth more of
 *          its reads were faults: the leaders' islands broke the
 *          prefetcher's runs; so groups grow with the budget).  The
 *          default: it took 0.70 of CLOCK's evictions on the guest's
 *          sweep, and took as long as CLOCK on the quicksort and the
 *          random read/write (design.md).  A budget under
 *          VICTIM_DUEL_MIN_BUDGET pages leaves each leader set too few
 *          groups to be a miniature of anything: such a VM runs clock
 *          (victim_init sets v->policy so).
 *
 * Metadata: PT_HOT, PT_EPOCH and PT_DEMOTED in the page table (five
 * bits no other code uses) and this struct: nothing more per page (a
 * page's part in the duel is a hash of its group's number).  The
 * sampling hand needs no bit of its own: a dirty page's PT_REF, cleared
 * only as the page is protected again, says whether it was written since;
 * PT_DIRTY stays set on a protected page, so no write is lost.
 */
#ifndef MEMX_PAGER_VICTIM_H
#define MEMX_PAGER_VICTIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pagetable.h"

/* adaptive: one page group in this many leads for each policy; the
 * duel counts both sets' fetches over the last window / 2 to window. */
#define VICTIM_DUEL_SETS 16u
#define VICTIM_DUEL_WINDOW 2048u
/* adaptive: the least budget that gives each leader set four groups of
 * 16 pages (4 MiB); a smaller one runs clock. */
#define VICTIM_DUEL_MIN_BUDGET (VICTIM_DUEL_SETS * 4u * 16u)

enum victim_policy {
	VICTIM_CLOCK,
	VICTIM_REFAULT,
	VICTIM_REFAULT_WP,	/* refault, and the sampling hand */
	VICTIM_ADAPTIVE,	/* clock or refault, by set dueling */
};

/* What the refault policy did, for memxctl status. */
struct victim_stats {
	uint64_t refaults;	/* installs of pages evicted within the horizon */
	uint64_t promoted;	/* pages installed hot */
	uint64_t demoted;	/* hot pages let go by the hot hand */
	uint64_t demoted_back;	/* demoted pages that faulted back in */
	uint64_t demoted_gone;	/* demoted pages whose mark expired unused */
	uint64_t sampled;	/* hot pages handed back to be write-protected */
	uint64_t stale;		/* hot pages demoted unwritten for a round */
	uint64_t lead_clock;	/* adaptive: pages fetched by CLOCK leaders */
	uint64_t lead_refault;	/* adaptive: pages fetched by refault leaders */
	uint64_t turns;		/* adaptive: the followers changed policy */
	uint64_t lead_scanned;	/* adaptive: pages the leaders' hands passed */
	uint64_t hot_scanned;	/* pages the hot hands passed */
};

struct victim {
	enum victim_policy policy;
	uint64_t npages, budget;
	unsigned align;		/* rows: batches end at a multiple */
	uint64_t hand;		/* the (cold) clock hand */
	/* refault only: */
	uint64_t hot_hand;	/* demotes hot pages, in page order (the
				 * refault leaders': lead[2].hot_hand) */
	uint64_t hot_target;	/* the most pages the hot set holds */
	uint64_t evictions;	/* victims handed out: the clock of epochs */
	uint64_t bucket;	/* evictions per epoch */
	uint8_t now;		/* the current epoch, 1..EPOCHS */
	uint64_t sweep;		/* the expiry sweep's position */
	uint32_t theta;		/* refaults per slot taken from the hot set */
	uint32_t pressure;	/* refaults that asked for a slot meanwhile */
	uint64_t sample_hand;	/* samples hot pages' writes, in page order */
	uint64_t sample_credit;	/* evictions x pages, not yet sampled */
	unsigned group_shift;	/* adaptive: groups of 2^group_shift pages */
	bool follow_refault;	/* adaptive: the followers run refault */
	bool refault_won;	/* adaptive: ...and refault led the last window */
	struct victim_lead {	/* adaptive: a leader set (victim.c's roles) */
		uint64_t resident;	/* its pages resident */
		uint64_t pages;		/* its pages, resident or not */
		uint64_t hand;		/* its clock hand */
		uint64_t hot_hand;	/* refault's: demotes its hot pages */
		uint64_t evictions;	/* its epoch clock */
		uint64_t fetched;	/* its fetches, in the window */
		uint8_t now;
		uint32_t theta, pressure;
	} lead[3];		/* [1] CLOCK's leaders, [2] refault's */
	uint64_t lead_hot;	/* adaptive: the refault leaders' hot pages */
	uint64_t lead_share;	/* adaptive: the budget of each leader set */
	struct victim_stats st;
};

/* "clock", "refault", "refault-wp" or "adaptive"; victim_policy_parse:
 * 0, or -EINVAL. */
const char *victim_policy_name(enum victim_policy p);
int victim_policy_parse(const char *s, enum victim_policy *p);

/*
 * For a VM of @npages with a budget of @budget pages, whose page-group
 * rows are @align pages (a full batch ends at the end of a row, so that
 * rows leave whole: stripe.h).  v->policy is @policy, except that
 * adaptive with a budget under VICTIM_DUEL_MIN_BUDGET is clock.
 */
void victim_init(struct victim *v, enum victim_policy policy,
		 uint64_t npages, uint64_t budget, unsigned align);

/*
 * adaptive: the part page @p plays in the duel, the index of its set in
 * v->lead: 0 (a follower), VICTIM_LEAD_CLOCK or VICTIM_LEAD_REFAULT.
 * Always 0 under the other policies.
 */
#define VICTIM_LEAD_CLOCK	1u
#define VICTIM_LEAD_REFAULT	2u
unsigned victim_duel_role(const struct victim *v, uint64_t p);

/*
 * Page @p was just installed by a fault (pt_installed): if it left within
 * the horizon, it is a refault, and may join the hot set.
 */
void victim_installed(struct victim *v, struct pagetable *pt, uint64_t p);

/*
 * refault-wp only: the sampling hand's share of the evictions since the
 * last call.  It passes hot pages in page order, and demotes those that
 * are dirty and were not written since its last pass (stale: a used page
 * of a working set that moved on); it writes to @out, up to @max, those
 * dirty ones that were written, their PT_REF now clear: the caller
 * write-protects them, so that their next write is a WP fault
 * (pt_written sets PT_REF and keeps PT_DIRTY), or, if it cannot, touches
 * them (pt_touch).  Returns how many; called again while it fills @out.
 */
unsigned victim_sample(struct victim *v, struct pagetable *pt, uint64_t *out,
		       unsigned max);

/*
 * Pick up to @max victims among cold RESIDENT pages with no WRITE in
 * flight; returns how many were written to @out (in hand order, so runs
 * of neighbours come out contiguous).  The caller evicts them now: their
 * eviction epoch is taken here.
 */
unsigned victim_select(struct victim *v, struct pagetable *pt, uint64_t *out,
		       unsigned max);

#endif
