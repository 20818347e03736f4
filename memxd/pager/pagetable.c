// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pagetable.c - the page-state machine (pagetable.h): every change of a
 * page's state, each checking that the page is where it must be.
 */
#include "pagetable.h"

#include <errno.h>
#include <stdlib.h>

static const char *const state_names[PS_NSTATES] = {
	"never", "resident", "evicting", "remote", "spilled", "fetching",
	"lost",
};

const char *pt_state_name(enum page_state s)
{
	return s < PS_NSTATES ? state_names[s] : "?";
}

int pt_init(struct pagetable *pt, uint64_t npages, pte_t *mem, uint8_t *ver)
{
	*pt = (struct pagetable){ .npages = npages, .e = mem, .ver = ver };
	if (!mem) {
		pt->e = calloc(npages ? npages : 1, sizeof(*pt->e));
		pt->ver = calloc(npages ? npages : 1, 1);
		pt->owned = true;
		if (!pt->e || !pt->ver) {
			pt_fini(pt);
			return -ENOMEM;
		}
	}
	for (uint64_t p = 0; p < npages; p++)
		pt->by_state[pt_state(pt, p)]++;
	pt->max_resident = pt_resident(pt);
	return 0;
}

void pt_load(struct pagetable *pt, uint64_t p, pte_t e)
{
	pt->by_state[pt_state(pt, p)]--;
	pt->e[p] = e;
	pt->by_state[pt_state(pt, p)]++;
}

void pt_fini(struct pagetable *pt)
{
	if (pt->owned) {
		free(pt->e);
		free(pt->ver);
	}
	pt->e = NULL;
	pt->ver = NULL;
}

/*
 * Every state change goes through here.  PT_HOT is kept only by the
 * changes that stay RESIDENT, so the count of hot pages follows; the
 * victim policy's epoch and PT_DEMOTED are always kept.
 */
static void set(struct pagetable *pt, uint64_t p, enum page_state s,
		pte_t keep, pte_t add)
{
	pte_t old = pt->e[p];

	keep |= PT_EPOCH | PT_DEMOTED;
	if (s != PS_RESIDENT)
		keep &= (pte_t)~PT_HOT;
	if ((old & PT_HOT) && !(keep & PT_HOT))
		pt->hot--;
	pt->by_state[old & PT_STATE]--;
	pt->by_state[s]++;
	pt->e[p] = (pte_t)((old & keep) | add | s);
	/* Only a page entering RESIDENT adds to residency. */
	if (s == PS_RESIDENT && pt_resident(pt) > pt->max_resident)
		pt->max_resident = pt_resident(pt);
}

/* A refused transition: the caller's bug, counted, nothing changed. */
static bool bug(struct pagetable *pt)
{
	pt->bugs++;
	return false;
}

bool pt_found_resident(struct pagetable *pt, uint64_t p)
{
	if (pt_state(pt, p) != PS_NEVER)
		return bug(pt);
	set(pt, p, PS_RESIDENT, 0, PT_DIRTY | PT_REF);
	return true;
}

void pt_touch(struct pagetable *pt, uint64_t p)
{
	pt->e[p] |= PT_REF;
}

void pt_clear_ref(struct pagetable *pt, uint64_t p)
{
	pt->e[p] &= (pte_t)~PT_REF;
}

bool pt_set_hot(struct pagetable *pt, uint64_t p, bool hot)
{
	if (hot ? pt_state(pt, p) != PS_RESIDENT || pt_has(pt, p, PT_HOT)
		: !pt_has(pt, p, PT_HOT))
		return bug(pt);
	if (hot) {
		pt->e[p] |= PT_HOT;
		pt->hot++;
	} else {
		pt->e[p] &= (pte_t)~PT_HOT;
		pt->hot--;
	}
	return true;
}

void pt_set_epoch(struct pagetable *pt, uint64_t p, unsigned epoch)
{
	pt->e[p] = (pte_t)((pt->e[p] & ~PT_EPOCH) |
			   ((epoch << PT_EPOCH_SHIFT) & PT_EPOCH));
}

void pt_set_demoted(struct pagetable *pt, uint64_t p, bool demoted)
{
	if (demoted)
		pt->e[p] |= PT_DEMOTED;
	else
		pt->e[p] &= (pte_t)~PT_DEMOTED;
}

/* ---- fetching ---- */

bool pt_fetch_begin(struct pagetable *pt, uint64_t p)
{
	if (pt_state(pt, p) != PS_REMOTE || pt_has(pt, p, PT_CACHED))
		return bug(pt);
	set(pt, p, PS_FETCHING, PT_HAS_REMOTE | PT_WRITING, 0);
	return true;
}

int pt_fetch_wait(struct pagetable *pt, uint64_t p, bool write)
{
	int first;

	if (pt_state(pt, p) != PS_FETCHING) {
		bug(pt);
		return -EINVAL;
	}
	first = !pt_has(pt, p, PT_WAITED);
	if (first)
		pt->wanted++;
	pt->e[p] |= PT_WAITED | (write ? PT_WANT_WRITE : 0);
	return first;
}

enum fetch_end pt_fetch_end(struct pagetable *pt, uint64_t p, bool ok,
			    bool *write)
{
	pte_t e = pt->e[p];
	bool waited = e & PT_WAITED;

	if (pt_state(pt, p) != PS_FETCHING) {
		bug(pt);
		return FE_BUG;
	}
	*write = e & PT_WANT_WRITE;
	if (waited)
		pt->wanted--;
	if (e & PT_DISCARDED) {
		set(pt, p, PS_NEVER, PT_HAS_REMOTE | PT_WRITING, 0);
		return waited ? FE_INSTALL_ZERO : FE_GONE;
	}
	set(pt, p, PS_REMOTE, PT_HAS_REMOTE | PT_WRITING, 0);
	if (!ok)
		return waited ? FE_RETRY : FE_DROPPED;
	return waited ? FE_INSTALL : FE_CACHE;
}

bool pt_cached(struct pagetable *pt, uint64_t p)
{
	if (pt_state(pt, p) != PS_REMOTE)
		return bug(pt);
	pt->e[p] |= PT_CACHED;
	return true;
}

void pt_uncached(struct pagetable *pt, uint64_t p)
{
	pt->e[p] &= (pte_t)~PT_CACHED;
}

bool pt_installed(struct pagetable *pt, uint64_t p, bool dirty)
{
	switch (pt_state(pt, p)) {
	case PS_NEVER:
	case PS_SPILLED:
		/* No server copy matches it (a stale one may exist). */
		if (!dirty)
			return bug(pt);
		break;
	case PS_REMOTE:
		break;
	default:
		return bug(pt);
	}
	set(pt, p, PS_RESIDENT, PT_HAS_REMOTE | PT_WRITING,
	    PT_REF | (dirty ? PT_DIRTY : 0));
	return true;
}

bool pt_installed_unseen(struct pagetable *pt, uint64_t p)
{
	if (pt_state(pt, p) != PS_REMOTE)
		return bug(pt);
	set(pt, p, PS_RESIDENT, PT_HAS_REMOTE | PT_WRITING,
	    PT_REF | PT_DIRTY | PT_UNSEEN);
	return true;
}

bool pt_unwritten(struct pagetable *pt, uint64_t p)
{
	pte_t e = pt->e[p];

	if ((pt_state(pt, p) != PS_RESIDENT &&
	     pt_state(pt, p) != PS_EVICTING) || !(e & PT_UNSEEN) ||
	    !(e & PT_HAS_REMOTE) || (e & PT_WRITING))
		return bug(pt);
	pt->e[p] &= (pte_t)~(PT_DIRTY | PT_UNSEEN);
	return true;
}

void pt_seen(struct pagetable *pt, uint64_t p)
{
	if (pt_state(pt, p) == PS_RESIDENT || pt_state(pt, p) == PS_EVICTING)
		pt->e[p] &= (pte_t)~PT_UNSEEN;
}

/* ---- evicting ---- */

bool pt_evict_begin(struct pagetable *pt, uint64_t p)
{
	if (pt_state(pt, p) != PS_RESIDENT || pt_has(pt, p, PT_WRITING))
		return bug(pt);
	set(pt, p, PS_EVICTING, (pte_t)~PT_STATE, 0);
	return true;
}

bool pt_evict_cancel(struct pagetable *pt, uint64_t p)
{
	if (pt_state(pt, p) != PS_EVICTING)
		return bug(pt);
	/* Whatever the guest did meanwhile, the page is its. */
	set(pt, p, PS_RESIDENT, (pte_t)~(PT_STATE | PT_UNSEEN), PT_DIRTY);
	return true;
}

bool pt_written(struct pagetable *pt, uint64_t p)
{
	switch (pt_state(pt, p)) {
	case PS_EVICTING:
		pt_evict_cancel(pt, p);
		/* fall through */
	case PS_RESIDENT:
		pt->e[p] = (pte_t)((pt->e[p] & ~PT_UNSEEN) | PT_DIRTY | PT_REF);
		return true;
	default:
		return false;	/* punched meanwhile: not a bug */
	}
}

/* EVICTING -> @s, keeping only the flags in @keep. */
static void evicted(struct pagetable *pt, uint64_t p, enum page_state s,
		    pte_t keep)
{
	set(pt, p, s, keep, 0);
}

bool pt_evicted_clean(struct pagetable *pt, uint64_t p)
{
	pte_t e = pt->e[p];

	if (pt_state(pt, p) != PS_EVICTING || (e & PT_DIRTY) ||
	    !(e & PT_HAS_REMOTE) || (e & PT_WRITING))
		return bug(pt);
	evicted(pt, p, PS_REMOTE, PT_HAS_REMOTE);
	return true;
}

/*
 * A zero or spilled page's old server copy may be being freed as it
 * leaves (PT_WRITING from pt_free_begin): that stays in flight.
 */
bool pt_evicted_zero(struct pagetable *pt, uint64_t p)
{
	if (pt_state(pt, p) != PS_EVICTING)
		return bug(pt);
	evicted(pt, p, PS_NEVER, PT_HAS_REMOTE | PT_WRITING);
	return true;
}

bool pt_spilled(struct pagetable *pt, uint64_t p)
{
	if (pt_state(pt, p) != PS_EVICTING)
		return bug(pt);
	evicted(pt, p, PS_SPILLED, PT_HAS_REMOTE | PT_WRITING);
	return true;
}

bool pt_spilled_from_cache(struct pagetable *pt, uint64_t p)
{
	if (pt_state(pt, p) != PS_REMOTE || !pt_has(pt, p, PT_CACHED))
		return bug(pt);
	set(pt, p, PS_SPILLED, PT_WRITING, 0);
	return true;
}

bool pt_write_begin(struct pagetable *pt, uint64_t p)
{
	if (pt_state(pt, p) != PS_EVICTING || pt_has(pt, p, PT_WRITING))
		return bug(pt);
	pt->e[p] |= PT_WRITING;
	pt->ver[p]++;
	return true;
}

bool pt_write_end(struct pagetable *pt, uint64_t p, bool stored)
{
	if (!pt_has(pt, p, PT_WRITING))
		return bug(pt);
	pt->e[p] &= (pte_t)~PT_WRITING;
	if (!stored)
		return false;
	pt->e[p] |= PT_HAS_REMOTE;
	/*
	 * Written meanwhile (the eviction was cancelled; it cannot have begun
	 * again, PT_WRITING forbade it) or discarded: the copy is stale.
	 */
	if (pt_state(pt, p) != PS_EVICTING)
		return false;
	evicted(pt, p, PS_REMOTE, PT_HAS_REMOTE);
	return true;
}

/* ---- discard and loss ---- */

bool pt_discard(struct pagetable *pt, uint64_t p)
{
	switch (pt_state(pt, p)) {
	case PS_NEVER:
		return false;
	case PS_EVICTING:
	case PS_RESIDENT:
		break;
	case PS_REMOTE:
		if (pt_has(pt, p, PT_CACHED))
			return bug(pt);	/* drop the cached copy first */
		break;
	case PS_SPILLED:
	case PS_LOST:
		break;
	case PS_FETCHING:
		pt->e[p] |= PT_DISCARDED;
		return true;
	default:
		return bug(pt);
	}
	set(pt, p, PS_NEVER, PT_HAS_REMOTE | PT_WRITING, 0);
	return true;
}

bool pt_remote_droppable(const struct pagetable *pt, uint64_t p)
{
	return pt_has(pt, p, PT_HAS_REMOTE) && !pt_has(pt, p, PT_WRITING) &&
	       pt_state(pt, p) != PS_FETCHING && pt_state(pt, p) != PS_REMOTE;
}

void pt_remote_dropped(struct pagetable *pt, uint64_t p)
{
	pt->e[p] &= (pte_t)~PT_HAS_REMOTE;
}

bool pt_free_begin(struct pagetable *pt, uint64_t p)
{
	if (!pt_remote_droppable(pt, p))
		return bug(pt);
	pt->e[p] = (pte_t)((pt->e[p] & ~PT_HAS_REMOTE) | PT_WRITING);
	return true;
}

bool pt_free_end(struct pagetable *pt, uint64_t p)
{
	if (!pt_has(pt, p, PT_WRITING))
		return bug(pt);
	pt->e[p] &= (pte_t)~PT_WRITING;
	return true;
}

void pt_remote_lost(struct pagetable *pt, uint64_t p)
{
	if (!pt_has(pt, p, PT_HAS_REMOTE))
		return;
	pt->e[p] &= (pte_t)~PT_HAS_REMOTE;
	if (pt_state(pt, p) == PS_RESIDENT || pt_state(pt, p) == PS_EVICTING)
		pt->e[p] |= PT_DIRTY;
}

/* ---- integrity ---- */

bool pt_lost(struct pagetable *pt, uint64_t p)
{
	if (pt_state(pt, p) != PS_REMOTE || pt_has(pt, p, PT_CACHED))
		return bug(pt);
	set(pt, p, PS_LOST, PT_HAS_REMOTE | PT_WRITING, 0);
	return true;
}

bool pt_repair_begin(struct pagetable *pt, uint64_t p)
{
	enum page_state s = pt_state(pt, p);

	if (!pt_has(pt, p, PT_HAS_REMOTE) || pt_has(pt, p, PT_WRITING) ||
	    (s != PS_FETCHING && s != PS_REMOTE && s != PS_RESIDENT))
		return bug(pt);
	pt->e[p] |= PT_WRITING;
	return true;
}

bool pt_repair_end(struct pagetable *pt, uint64_t p)
{
	return pt_free_end(pt, p);
}
