// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * victim.c - CLOCK, and CLOCK with a hot set filled by refault distance
 * (victim.h).
 *
 * The refault policy keeps no memory of its own per page: its memory of
 * each page is four bits of the page table (pagetable.h), kept across
 * every transition:
 *   PT_EPOCH    the epoch the page last left memory in (1..7; 0: none,
 *               or expired);
 *   PT_DEMOTED  it left the hot set and has not come back since.
 * An epoch is half a budget of evictions, so the distance from the
 * current epoch is how many evictions ago, to within half a budget: all
 * the policy needs, which asks only "within the horizon?".  Three bits
 * wrap after EPOCHS epochs: the expiry sweep visits every page once per
 * epoch, a few pages per eviction, and clears epochs HORIZON old, so
 * that a stale epoch never looks recent (HORIZON + 1 < EPOCHS).
 */
#include "victim.h"

#include <errno.h>
#include <string.h>

#define EPOCHS		PT_EPOCH_MAX	/* epoch values 1..7 */
#define BUCKETS_PER_BUDGET 2u
/*
 * Refaults up to this many epochs (2.5 budgets of evictions) count; a
 * demoted page not back by then was rightly let go.  Longer cycles look
 * like one-time scans, and are kept out of the hot set.
 */
#define HORIZON		5u
/*
 * The cold pages: an eighth of the budget, but room for two full windows
 * of evictions in flight (EVICT_INFLIGHT) where the budget allows, so
 * that the cold hand rarely finds nothing it may take.
 */
#define COLD_SHARE	8u
#define COLD_MIN	1024u
/*
 * The sampling hand goes round the page table once every SAMPLE_EPOCHS
 * epochs (a budget's worth of evictions): a dirty hot page not written
 * for one to two rounds is stale.  Shorter rounds follow a shrinking
 * working set faster, but a hot page of a sweep is written once a pass:
 * with rounds of 3/4 budget, a sweep 1.7 times the budget in the guest
 * (make bench-sweep) lost its hot set (design.md).
 */
#define SAMPLE_EPOCHS	2u
#define THETA_START	8u
#define THETA_MAX	4096u

static const char *const names[] = {
	[VICTIM_CLOCK] = "clock",
	[VICTIM_REFAULT] = "refault",
	[VICTIM_REFAULT_WP] = "refault-wp",
};

const char *victim_policy_name(enum victim_policy p)
{
	return p <= VICTIM_REFAULT_WP ? names[p] : "?";
}

int victim_policy_parse(const char *s, enum victim_policy *p)
{
	for (unsigned i = 0; i <= VICTIM_REFAULT_WP; i++) {
		if (!strcmp(s, names[i])) {
			*p = (enum victim_policy)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Has @v a hot set (refault, refault-wp)? */
static bool has_hot_set(const struct victim *v)
{
	return v->policy != VICTIM_CLOCK;
}

/* Does @v sample dirty hot pages' writes (refault-wp)? */
static bool samples(const struct victim *v)
{
	return v->policy == VICTIM_REFAULT_WP;
}

void victim_init(struct victim *v, enum victim_policy policy,
		 uint64_t npages, uint64_t budget, unsigned align)
{
	uint64_t cold = budget / 2 < COLD_MIN ? budget / 2 : COLD_MIN;

	*v = (struct victim){ .policy = policy, .npages = npages,
			      .budget = budget, .align = align ? align : 1 };
	if (!has_hot_set(v))
		return;
	if (cold < budget / COLD_SHARE)
		cold = budget / COLD_SHARE;
	v->hot_target = budget > cold ? budget - cold : 0;
	v->bucket = budget / BUCKETS_PER_BUDGET ? budget / BUCKETS_PER_BUDGET
						: 1;
	v->now = 1;
	v->theta = THETA_START;
}

static uint64_t next(const struct victim *v, uint64_t p)
{
	return p + 1 == v->npages ? 0 : p + 1;
}

/* Epochs since @e (1..EPOCHS) in the current one. */
static unsigned age(const struct victim *v, unsigned e)
{
	return (v->now + EPOCHS - e) % EPOCHS;
}

/*
 * The next page of the expiry sweep: a demoted page not back within the
 * horizon was rightly let go, so the hot set may follow newcomers
 * faster; an epoch that reached the horizon is cleared.
 */
static void expire(struct victim *v, struct pagetable *pt)
{
	uint64_t p = v->sweep;
	unsigned e = pt_epoch(pt, p);

	v->sweep = next(v, p);
	if (!e || age(v, e) < HORIZON)
		return;
	pt_set_epoch(pt, p, 0);
	if (pt_has(pt, p, PT_DEMOTED) && pt_state(pt, p) != PS_RESIDENT) {
		pt_set_demoted(pt, p, false);
		v->st.demoted_gone++;
		if (v->theta > 1)
			v->theta /= 2;
	}
}

/* One eviction: the epoch advances every bucket of them, and the sweep
 * goes round once per epoch. */
static void tick(struct victim *v, struct pagetable *pt)
{
	for (uint64_t n = v->npages / v->bucket + 1; n; n--)
		expire(v, pt);
	if (samples(v))
		v->sample_credit += v->npages;
	if (++v->evictions % v->bucket)
		return;
	v->now = (uint8_t)(v->now % EPOCHS + 1);
}

/* Hot @p goes back to the cold pages, marked: will it come back? */
static void demote(struct victim *v, struct pagetable *pt, uint64_t p)
{
	pt_set_hot(pt, p, false);
	pt_set_demoted(pt, p, true);
	v->st.demoted++;
}

/*
 * The hot hand lets one hot page go: the first it finds untouched since
 * it last passed (a write fault sets PT_REF), after at most two sweeps.
 * Under refault-wp it clears PT_REF of clean pages only, which are
 * write-protected, so that the next write shows: a dirty page's bit is
 * the sampling hand's, cleared only where the page is protected again.
 */
static bool demote_one(struct victim *v, struct pagetable *pt)
{
	for (uint64_t scanned = 0; scanned < 2 * v->npages; scanned++) {
		uint64_t p = v->hot_hand;

		v->hot_hand = next(v, p);
		if (!pt_has(pt, p, PT_HOT))
			continue;
		if (pt_has(pt, p, PT_REF)) {
			if (!samples(v) || !pt_has(pt, p, PT_DIRTY))
				pt_clear_ref(pt, p);
			continue;
		}
		demote(v, pt, p);
		return true;
	}
	return false;
}

void victim_installed(struct victim *v, struct pagetable *pt, uint64_t p)
{
	unsigned e;
	bool promote;

	if (!has_hot_set(v))
		return;
	e = pt_epoch(pt, p);
	pt_set_epoch(pt, p, 0);
	if (!e || age(v, e) >= HORIZON)
		return;		/* first seen, or too long ago */
	v->st.refaults++;
	if (pt_has(pt, p, PT_DEMOTED)) {
		/* It was in use: the hot set was right to hold it. */
		pt_set_demoted(pt, p, false);
		v->st.demoted_back++;
		if (v->theta < THETA_MAX)
			v->theta *= 2;
	}
	promote = pt->hot < v->hot_target;
	if (!promote && ++v->pressure >= v->theta) {
		/* Enough newcomers asked: the oldest unused hot page goes. */
		v->pressure = 0;
		promote = demote_one(v, pt);
	}
	if (promote) {
		pt_set_hot(pt, p, true);
		v->st.promoted++;
	}
}

/*
 * The sampling hand passes hot page @p: true if the caller is to
 * write-protect it.  A dirty page is writable, so its writes are
 * invisible until it is protected again: one written since the hand's
 * last pass (PT_REF) is protected, its bit cleared; one not written
 * since is stale, and demoted.  A clean page is protected already (it
 * was installed so), but its reads are invisible: it is left alone, held
 * as before, since a page only read would otherwise look stale.
 */
static bool sample_one(struct victim *v, struct pagetable *pt, uint64_t p)
{
	if (!pt_has(pt, p, PT_HOT) || !pt_has(pt, p, PT_DIRTY))
		return false;
	if (!pt_has(pt, p, PT_REF)) {
		demote(v, pt, p);
		v->st.stale++;
		return false;
	}
	pt_clear_ref(pt, p);
	v->st.sampled++;
	return true;
}

unsigned victim_sample(struct victim *v, struct pagetable *pt, uint64_t *out,
		       unsigned max)
{
	uint64_t round = v->bucket * SAMPLE_EPOCHS;
	unsigned n = 0;

	if (!samples(v) || !v->npages)
		return 0;
	/* Never more than one round behind. */
	if (v->sample_credit > round * v->npages)
		v->sample_credit = round * v->npages;
	while (v->sample_credit >= round && n < max) {
		uint64_t p = v->sample_hand;

		v->sample_hand = next(v, p);
		v->sample_credit -= round;
		if (sample_one(v, pt, p))
			out[n++] = p;
	}
	return n;
}

/*
 * A full batch that ends inside an aligned row gives the row's pages
 * back, and the hand goes back to the first of them: the row leaves
 * whole with the next batch (a whole stripe), not split over two.
 */
static unsigned trim_to_row(struct victim *v, const uint64_t *out,
			    unsigned n)
{
	unsigned k = n;

	if (v->align < 2 || (out[n - 1] + 1) % v->align == 0)
		return n;
	while (k > 0 && out[k - 1] / v->align == out[n - 1] / v->align)
		k--;
	if (!k)
		return n;	/* the batch is all one row: keep it */
	v->hand = out[k];
	return k;
}

/*
 * Advance the hand to up to @max cold victims.  *@first is the first
 * victim taken by this victim_select() (UINT64_MAX: none yet): the hand
 * stops when it comes round to it, so a page is never handed out twice.
 * *@dry: it found fewer than @max cold pages it could take.
 */
static unsigned clock_select(struct victim *v, struct pagetable *pt,
			     uint64_t *out, unsigned max, uint64_t *first,
			     bool *dry)
{
	unsigned n = 0;

	/* Up to two sweeps: the first may only clear reference bits. */
	for (uint64_t scanned = 0; scanned < 2 * v->npages && n < max;
	     scanned++) {
		uint64_t page = v->hand;

		if (page == *first)
			break;
		v->hand = next(v, page);
		if (pt_state(pt, page) != PS_RESIDENT ||
		    pt_has(pt, page, PT_WRITING | PT_HOT))
			continue;
		if (pt_has(pt, page, PT_REF)) {
			pt_clear_ref(pt, page);
			continue;
		}
		if (*first == UINT64_MAX)
			*first = page;
		out[n++] = page;
	}
	*dry = n < max;
	return n == max ? trim_to_row(v, out, n) : n;
}

unsigned victim_select(struct victim *v, struct pagetable *pt, uint64_t *out,
		       unsigned max)
{
	uint64_t first = UINT64_MAX;
	bool dry;
	unsigned n;

	if (!v->npages)
		return 0;
	if (!has_hot_set(v))
		return clock_select(v, pt, out, max, &first, &dry);
	/* Over its target (the budget or the cold pages changed): shrink. */
	while (pt->hot > v->hot_target && demote_one(v, pt))
		;
	n = clock_select(v, pt, out, max, &first, &dry);
	/* Nothing cold left to take: the hot set gives up a few pages. */
	for (unsigned k = 0; dry && k < max && pt->hot && demote_one(v, pt);
	     k++)
		n += clock_select(v, pt, out + n, max - n, &first, &dry);
	for (unsigned i = 0; i < n; i++) {
		pt_set_epoch(pt, out[i], v->now);
		tick(v, pt);
	}
	return n;
}
