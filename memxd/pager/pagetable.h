/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pagetable.h - the state of every GPAS page of one VM, and the only
 * code that changes it.
 *
 * Two bytes per page: three bits of state, one bit per flag, each with
 * one meaning (one bit serves two flags, of states no page has at once),
 * and the victim policy's eviction epoch.  No per-page pointer: where a
 * remote page lives comes from its page-group (pagegroup.h).
 *
 *   state       what it means                     leaves by
 *   NEVER       nothing stored anywhere           pt_installed (zero fill)
 *   RESIDENT    in the memfd, mapped              pt_evict_begin, pt_discard
 *   EVICTING    write-protected, being evicted    pt_evicted_*, pt_write_end,
 *                                                 pt_evict_cancel, pt_written,
 *                                                 pt_spilled, pt_discard
 *   REMOTE      authoritative copy on servers     pt_fetch_begin, pt_discard,
 *                                                 pt_installed (cache hit),
 *                                                 pt_spilled_from_cache
 *   SPILLED     authoritative copy in spill file  pt_installed, pt_discard
 *   FETCHING    a READ (or rebuild) in flight     pt_fetch_end
 *   LOST        its copy failed its integrity     pt_discard
 *               check and could not be rebuilt:
 *               faults get a memory error
 *
 * Beside the two bytes, one byte per page: its version (integrity.h),
 * bumped by pt_write_begin each time a new copy of the page is sent, and
 * part of that copy's MAC, so that an older copy is told from the last.
 *
 * Every transition checks its precondition.  One that does not hold is a
 * bug in the caller: the transition changes nothing, returns false (or
 * -EINVAL) and counts it in pt->bugs, which memxctl shows; the unit tests
 * assert it stays 0.
 *
 * The invariants the pager's layers keep, with these transitions:
 *
 *  1. Eviction never loses a write.  A page is write-protected before its
 *     bytes are read (pt_evict_begin only after that succeeded); a write
 *     fault on an EVICTING page cancels the eviction (pt_written); the
 *     memfd hole is punched only when pt_write_end() says the page is
 *     still EVICTING after its server acknowledged the copy.
 *  2. A page is never sent twice at once.  PT_WRITING is set while a
 *     WRITE or a FREE of its server copy is in flight and survives every
 *     other transition (discard included); the victim policy skips such
 *     pages, and pt_write_begin and pt_free_begin refuse a second one.
 *     RMAP delivers messages in any order, so a FREE followed by a WRITE
 *     of the same key could otherwise land the other way round and free
 *     the newer copy.
 *  3. Residency stays at or below budget + slack.  pt_resident() counts
 *     RESIDENT and EVICTING pages, pt->wanted the FETCHING pages a fault
 *     waits for; a fault that would take their sum over the limit waits
 *     (fault.c).
 *  4. A page is marked resident only once it is installed: pt_installed
 *     is called after UFFDIO_COPY succeeded, never before; a failed
 *     install leaves the page where it was, and its fault is retried.
 *  5. A fetch's bytes are installed only into the fetch that asked for
 *     them: a page stays FETCHING until its READ ends, even if the guest
 *     discards it meanwhile (PT_DISCARDED), so no second READ of it can
 *     start and be answered by the first.
 */
#ifndef MEMX_PAGER_PAGETABLE_H
#define MEMX_PAGER_PAGETABLE_H

#include <stdbool.h>
#include <stdint.h>

enum page_state {
	PS_NEVER = 0,
	PS_RESIDENT = 1,
	PS_EVICTING = 2,
	PS_REMOTE = 3,
	PS_SPILLED = 4,
	PS_FETCHING = 5,
	PS_LOST = 6,
	PS_NSTATES = 7,
};

typedef uint16_t pte_t;

#define PT_STATE	0x0007u
#define PT_REF		0x0008u	/* touched since the clock hand passed */
#define PT_DIRTY	0x0010u	/* written since its server copy was made */
#define PT_HAS_REMOTE	0x0020u	/* a server holds a copy: free it on discard */
#define PT_WRITING	0x0040u	/* a WRITE or FREE of its copy is in flight */
#define PT_WAITED	0x0080u	/* FETCHING: a fault waits for it */
#define PT_WANT_WRITE	0x0100u	/* FETCHING: that fault is a write */
#define PT_CACHED	0x0200u	/* REMOTE: a copy is in the prefetch cache */
#define PT_DISCARDED	0x0400u	/* FETCHING: freed by the guest meanwhile */
/*
 * RESIDENT, EVICTING: installed writable ahead of any fault of the guest
 * (a guess of the prefetcher), so the guest may or may not have written
 * it since: no fault would tell.  Its bytes as installed are remembered
 * (unseen.h).  Only FETCHING pages use the bit, for PT_WANT_WRITE, and
 * no transition carries either across.
 */
#define PT_UNSEEN	0x0100u
/*
 * RESIDENT: in the victim policy's protected (hot) set, which its cold
 * hand passes over (victim.h).  Only pt_set_hot() sets it; every
 * transition that takes a page out of RESIDENT clears it, and
 * pt->hot counts the pages that have it.
 */
#define PT_HOT		0x0800u
/*
 * The victim policy's memory of a page, which no transition changes:
 * only pt_set_epoch() and pt_set_demoted() do (victim.c).
 *   PT_EPOCH    three bits, one number: the eviction epoch in which the
 *               page last left memory, 1..7; 0 if none, or too long ago;
 *   PT_DEMOTED  it left the hot set and has not faulted back since.
 */
#define PT_EPOCH	0x7000u
#define PT_EPOCH_SHIFT	12
#define PT_EPOCH_MAX	7u
#define PT_DEMOTED	0x8000u

struct pagetable {
	pte_t *e;
	uint8_t *ver;		/* each page's version (integrity.h) */
	bool owned;		/* e and ver allocated by pt_init, not given */
	uint64_t npages;
	uint64_t wanted;	/* FETCHING with PT_WAITED */
	uint64_t hot;		/* with PT_HOT */
	uint64_t max_resident;	/* the most pt_resident() has been */
	uint64_t bugs;		/* transitions refused: see above */
	/*
	 * Pages in each state, kept as every change is made: the one count
	 * of them (residency included), so gauges need no scan.
	 */
	uint64_t by_state[PS_NSTATES];
};

/* Pages in guest memory: RESIDENT and EVICTING. */
static inline uint64_t pt_resident(const struct pagetable *pt)
{
	return pt->by_state[PS_RESIDENT] + pt->by_state[PS_EVICTING];
}

/* Pages on their way out of guest memory. */
static inline uint64_t pt_evicting(const struct pagetable *pt)
{
	return pt->by_state[PS_EVICTING];
}

/* A table of @npages entries in @mem, and their versions in @ver (zeroed,
 * or kept from before), or allocated if @mem is NULL.  0 or -ENOMEM. */
int pt_init(struct pagetable *pt, uint64_t npages, pte_t *mem, uint8_t *ver);
/*
 * Page @p's entry is @e, as taken over from an earlier memxd (adopt.c):
 * the counts follow.  Nothing else writes an entry whole.
 */
void pt_load(struct pagetable *pt, uint64_t p, pte_t e);
void pt_fini(struct pagetable *pt);

static inline enum page_state pt_state(const struct pagetable *pt,
				       uint64_t p)
{
	return (enum page_state)(pt->e[p] & PT_STATE);
}

static inline bool pt_has(const struct pagetable *pt, uint64_t p,
			  pte_t flag)
{
	return pt->e[p] & flag;
}

/* Is @p PT_UNSEEN?  (The bit means PT_WANT_WRITE while FETCHING.) */
static inline bool pt_unseen(const struct pagetable *pt, uint64_t p)
{
	return (pt_state(pt, p) == PS_RESIDENT ||
		pt_state(pt, p) == PS_EVICTING) && pt_has(pt, p, PT_UNSEEN);
}

/* The version of @p's last copy sent (integrity.h). */
static inline uint8_t pt_version(const struct pagetable *pt, uint64_t p)
{
	return pt->ver[p];
}

/*
 * Is @p's server copy the page, so that nothing else holds it?  (It has
 * one, no write of it is in flight, and it is REMOTE, or resident and
 * clean.)  Only such a copy can fail an integrity check: any other copy is
 * stale, and the page's bytes are elsewhere.
 */
static inline bool pt_copy_authoritative(const struct pagetable *pt,
					 uint64_t p)
{
	pte_t e = pt->e[p];

	if (!(e & PT_HAS_REMOTE) || (e & (PT_WRITING | PT_DIRTY)))
		return false;
	return (e & PT_STATE) == PS_REMOTE || (e & PT_STATE) == PS_RESIDENT ||
	       (e & PT_STATE) == PS_EVICTING;
}

/* Resident pages plus those a fault waits to install. */
static inline uint64_t pt_committed(const struct pagetable *pt)
{
	return pt_resident(pt) + pt->wanted;
}

const char *pt_state_name(enum page_state s);

/* At registration: @p holds what the VMM wrote before (NEVER -> RESIDENT,
 * dirty). */
bool pt_found_resident(struct pagetable *pt, uint64_t p);

/* A fault or WP fault touched a resident page. */
void pt_touch(struct pagetable *pt, uint64_t p);
/* The victim policy passed a page: clear its reference bit. */
void pt_clear_ref(struct pagetable *pt, uint64_t p);
/*
 * The victim policy protects RESIDENT @p (true), or lets it go back to
 * the cold pages (false).  False if @p is not RESIDENT (protecting) or
 * not hot (letting go): nothing changed, a bug.
 */
bool pt_set_hot(struct pagetable *pt, uint64_t p, bool hot);

static inline unsigned pt_epoch(const struct pagetable *pt, uint64_t p)
{
	return (pt->e[p] & PT_EPOCH) >> PT_EPOCH_SHIFT;
}

/* The victim policy's memory of @p: its epoch (0..PT_EPOCH_MAX), and
 * whether it was demoted. */
void pt_set_epoch(struct pagetable *pt, uint64_t p, unsigned epoch);
void pt_set_demoted(struct pagetable *pt, uint64_t p, bool demoted);

/* ---- fetching ---- */

/* REMOTE (not cached) -> FETCHING. */
bool pt_fetch_begin(struct pagetable *pt, uint64_t p);
/*
 * A fault waits for FETCHING @p (a write fault if @write).  Returns 1 if
 * it is the first fault to wait (a prefetch turned demand), 0 if one
 * waited already, -EINVAL if @p is not FETCHING.
 */
int pt_fetch_wait(struct pagetable *pt, uint64_t p, bool write);

/*
 * How the fetch of one page ended.  The page has left FETCHING already;
 * the caller acts on the answer.
 */
enum fetch_end {
	FE_INSTALL,		/* REMOTE; a fault waits: install the bytes */
	FE_CACHE,		/* REMOTE; nobody waits: cache the bytes */
	FE_INSTALL_ZERO,	/* discarded meanwhile, NEVER; a fault waits */
	FE_GONE,		/* discarded meanwhile, NEVER */
	FE_RETRY,		/* the read failed, REMOTE; a fault waits */
	FE_DROPPED,		/* the read failed, REMOTE */
	FE_BUG,			/* @p was not FETCHING: nothing changed */
};

/*
 * The READ (or reconstruction) of FETCHING @p ended, @ok or not.
 * *@write says whether the fault that waited is a write.
 */
enum fetch_end pt_fetch_end(struct pagetable *pt, uint64_t p, bool ok,
			    bool *write);
/* REMOTE -> REMOTE with a copy in the prefetch cache. */
bool pt_cached(struct pagetable *pt, uint64_t p);
/* The prefetch cache let go of @p's copy. */
void pt_uncached(struct pagetable *pt, uint64_t p);
/*
 * @p was installed by UFFDIO_COPY (write-protected unless @dirty):
 * NEVER, SPILLED or REMOTE -> RESIDENT, referenced.  A cached copy was
 * dropped by the caller.  From NEVER and SPILLED it must be @dirty: no
 * server copy matches it.
 */
bool pt_installed(struct pagetable *pt, uint64_t p, bool dirty);
/* REMOTE @p was installed writable ahead of the guest: RESIDENT, dirty,
 * PT_UNSEEN, referenced. */
bool pt_installed_unseen(struct pagetable *pt, uint64_t p);
/*
 * RESIDENT or EVICTING @p, PT_UNSEEN and write-protected, holds the bytes
 * it was installed with: clean again, its server copy valid.  False (a
 * bug) if it is not PT_UNSEEN in those states, or its copy is gone or in
 * flight.
 */
bool pt_unwritten(struct pagetable *pt, uint64_t p);
/* What PT_UNSEEN @p holds is the guest's: the flag goes, dirty stays. */
void pt_seen(struct pagetable *pt, uint64_t p);

/* ---- evicting ---- */

/* RESIDENT with no WRITE in flight -> EVICTING (it is write-protected). */
bool pt_evict_begin(struct pagetable *pt, uint64_t p);
/* EVICTING -> RESIDENT, dirty, the guest's (no PT_UNSEEN): the eviction
 * is off. */
bool pt_evict_cancel(struct pagetable *pt, uint64_t p);
/* A write fault: RESIDENT gets dirty; EVICTING is cancelled (the write
 * wins); the bytes are the guest's (no PT_UNSEEN).  False if @p is
 * neither. */
bool pt_written(struct pagetable *pt, uint64_t p);
/* EVICTING, clean, with a valid server copy -> REMOTE. */
bool pt_evicted_clean(struct pagetable *pt, uint64_t p);
/* EVICTING, all zeros -> NEVER (PT_HAS_REMOTE stays if that copy must). */
bool pt_evicted_zero(struct pagetable *pt, uint64_t p);
/* EVICTING -> SPILLED: its bytes are in the spill file. */
bool pt_spilled(struct pagetable *pt, uint64_t p);
/* REMOTE with a cached copy -> SPILLED (the copy went to the spill file). */
bool pt_spilled_from_cache(struct pagetable *pt, uint64_t p);
/* EVICTING, no WRITE in flight: a WRITE of it starts, of a new version. */
bool pt_write_begin(struct pagetable *pt, uint64_t p);
/*
 * The WRITE of @p ended; @stored: the server holds the copy now.  Returns
 * true when @p went EVICTING -> REMOTE and its hole may be punched.
 */
bool pt_write_end(struct pagetable *pt, uint64_t p, bool stored);

/* ---- discard and loss ---- */

/*
 * The guest freed @p.  RESIDENT, EVICTING, REMOTE and SPILLED go NEVER
 * (PT_HAS_REMOTE and PT_WRITING stay: that copy still exists); FETCHING
 * stays FETCHING, marked PT_DISCARDED, until its READ ends.  False if it
 * was NEVER already.  The caller drops a cached copy first.
 */
bool pt_discard(struct pagetable *pt, uint64_t p);
/* May @p's server copy be freed now?  (One exists, none is being written,
 * and no READ of it is in flight.) */
bool pt_remote_droppable(const struct pagetable *pt, uint64_t p);
/* The server copy of @p is no longer ours to free (nothing holds it). */
void pt_remote_dropped(struct pagetable *pt, uint64_t p);
/* A FREE of @p's server copy starts (it must be droppable), and ends. */
bool pt_free_begin(struct pagetable *pt, uint64_t p);
bool pt_free_end(struct pagetable *pt, uint64_t p);
/* The server copy of @p was lost with its servers: a resident page must
 * be stored again, so it is dirty. */
void pt_remote_lost(struct pagetable *pt, uint64_t p);

/* ---- integrity ---- */

/*
 * REMOTE (not cached) -> LOST: its copy failed its integrity check and no
 * good one could be had.  The copy stays (PT_HAS_REMOTE).
 */
bool pt_lost(struct pagetable *pt, uint64_t p);
/*
 * A good copy of @p is written over a bad one (same version): no other
 * write of it may start meanwhile.  It must have a copy and no write in
 * flight; it is FETCHING, REMOTE or RESIDENT.
 */
bool pt_repair_begin(struct pagetable *pt, uint64_t p);
bool pt_repair_end(struct pagetable *pt, uint64_t p);

#endif
