// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * victim.c - CLOCK, CLOCK with a hot set filled by refault distance, and
 * a duel between the two (victim.h).
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
 *
 * Under adaptive, each leader set keeps its own epoch clock, hand, sweep
 * and theta (struct victim_lead), so that it runs as its policy would
 * alone; the followers' hand and sweep pass its pages by.
 */
#include "victim.h"

#include <assert.h>
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
/*
 * adaptive: groups of 2^group_shift pages; one in DUEL_SETS leads for
 * each policy.  A group is as large as leaves DUEL_BUDGET_GROUPS of them
 * in the budget (32 in each leader set's share), from 16 pages
 * (DUEL_SHIFT_MIN) to 256.  A leader set is evicted in an order of its
 * own, so its groups stay resident amid evicted followers (and the
 * other way round), and a walk that passes such an island without a
 * fault likely breaks the run the prefetcher follows, at the price of a
 * network fault: with groups of 16, the leaders alone (the followers
 * never turning) cost the guest's quicksort a fifth more network faults
 * than CLOCK; with groups of 64 (its budget's, 128 MiB), adaptive's
 * were CLOCK's (design.md).
 *
 * The leaders' fetches are counted over a window that halves
 * both counts when they reach DUEL_WINDOW in all (the last 1024 to 2048
 * leader fetches: 8 to 16 thousand in all), and the followers run
 * refault while CLOCK's leaders fetch more than 9/8 of what refault's
 * fetch, and did at the end of the last window too; CLOCK again once
 * that falls under 17/16.  A tie is CLOCK's, and so is a lead of one
 * window: on a quicksort the two are within a few percent either way,
 * its first partitions are sweeps that refault wins for a window, and
 * a wrong turn to refault costs a quarter more fetches (design.md).
 */
#define DUEL_SHIFT_MIN	4u
#define DUEL_SHIFT_MAX	8u
#define DUEL_BUDGET_GROUPS 512u
#define DUEL_SETS	VICTIM_DUEL_SETS
#define DUEL_WINDOW	VICTIM_DUEL_WINDOW
static_assert(VICTIM_DUEL_MIN_BUDGET == (DUEL_SETS * 4u) << DUEL_SHIFT_MIN,
	      "the least budget gives each leader set four smallest groups");

enum duel_role { FOLLOWER, LEAD_CLOCK, LEAD_REFAULT };

static const char *const names[] = {
	[VICTIM_CLOCK] = "clock",
	[VICTIM_REFAULT] = "refault",
	[VICTIM_REFAULT_WP] = "refault-wp",
	[VICTIM_ADAPTIVE] = "adaptive",
};

const char *victim_policy_name(enum victim_policy p)
{
	return p <= VICTIM_ADAPTIVE ? names[p] : "?";
}

int victim_policy_parse(const char *s, enum victim_policy *p)
{
	for (unsigned i = 0; i <= VICTIM_ADAPTIVE; i++) {
		if (!strcmp(s, names[i])) {
			*p = (enum victim_policy)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Has @v a hot set (refault, refault-wp, adaptive)? */
static bool has_hot_set(const struct victim *v)
{
	return v->policy != VICTIM_CLOCK;
}

/* adaptive: how many groups the VM has. */
static uint64_t groups(const struct victim *v)
{
	return (v->npages + (1ull << v->group_shift) - 1) >> v->group_shift;
}

/* adaptive: the part in the duel of group @g (pages g << group_shift...):
 * a Fibonacci hash, so that the leaders are spread evenly. */
static enum duel_role group_role(uint64_t g)
{
	uint64_t h = (g * 0x9e3779b97f4a7c15ull) >> 60;

	static_assert(DUEL_SETS == 16, "the hash keeps 4 bits");
	return h == 0 ? LEAD_CLOCK : h == 1 ? LEAD_REFAULT : FOLLOWER;
}

/* Page @p's part in the duel: FOLLOWER unless @v is adaptive. */
static enum duel_role duel_role(const struct victim *v, uint64_t p)
{
	if (v->policy != VICTIM_ADAPTIVE)
		return FOLLOWER;
	return group_role(p >> v->group_shift);
}

unsigned victim_duel_role(const struct victim *v, uint64_t p)
{
	static_assert(LEAD_CLOCK == VICTIM_LEAD_CLOCK &&
		      LEAD_REFAULT == VICTIM_LEAD_REFAULT, "v->lead's index");
	return duel_role(v, p);
}

/* Are pages of role @r run by refault (may they be installed hot)? */
static bool runs_refault(const struct victim *v, enum duel_role r)
{
	if (v->policy != VICTIM_ADAPTIVE)
		return has_hot_set(v);
	return r == LEAD_REFAULT || (r == FOLLOWER && v->follow_refault);
}

/*
 * The hot pages of the refault leaders (@lead) or of the others, and the
 * most each may have: the leaders' share of hot_target, and the rest
 * while the followers run refault.  Each leader set is a cache of its
 * own (victim_select keeps its pages within their share of the budget),
 * a miniature of its policy running alone.
 */
static uint64_t hot_of(const struct victim *v, const struct pagetable *pt,
		       bool lead)
{
	if (lead)
		return v->lead_hot;
	return pt->hot > v->lead_hot ? pt->hot - v->lead_hot : 0;
}

static uint64_t hot_room(const struct victim *v, bool lead)
{
	uint64_t share = v->hot_target / DUEL_SETS;

	if (v->policy != VICTIM_ADAPTIVE)
		return v->hot_target;
	if (lead)
		return share;
	return v->follow_refault ? v->hot_target - share : 0;
}

/* adaptive: a page of role @r was fetched; the followers follow the
 * winner. */
static void duel_fetched(struct victim *v, enum duel_role r)
{
	uint64_t c, f;
	bool refault_leads;

	if (r == FOLLOWER)
		return;
	v->lead[r].resident++;
	v->lead[r].fetched++;
	if (r == LEAD_CLOCK)
		v->st.lead_clock++;
	else
		v->st.lead_refault++;
	c = v->lead[LEAD_CLOCK].fetched;
	f = v->lead[LEAD_REFAULT].fetched;
	if (c + f < DUEL_WINDOW / 2)
		return;		/* too little to tell yet */
	refault_leads = c * 8 > f * 9;
	if (!v->follow_refault && refault_leads && v->refault_won) {
		v->follow_refault = true;
		v->st.turns++;
	} else if (v->follow_refault && c * 16 < f * 17) {
		v->follow_refault = false;
		v->st.turns++;
	}
	if (c + f >= DUEL_WINDOW) {
		v->refault_won = refault_leads;
		v->lead[LEAD_CLOCK].fetched /= 2;
		v->lead[LEAD_REFAULT].fetched /= 2;
	}
}

/*
 * adaptive: count the leaders' resident and hot pages again, once an
 * epoch: what victim_select() took may have stayed (an eviction
 * cancelled), and a REMOVE takes pages the policy never hears of.  Two
 * groups in DUEL_SETS are leaders: N/8 pages visited (and N/16 groups
 * hashed) per budget/2 evictions.
 */
static void duel_recount(struct victim *v, const struct pagetable *pt)
{
	for (unsigned r = LEAD_CLOCK; r <= LEAD_REFAULT; r++)
		v->lead[r].resident = 0;
	v->lead_hot = 0;
	for (uint64_t g = 0; g < groups(v); g++) {
		enum duel_role r = group_role(g);
		uint64_t p = g << v->group_shift;

		if (r == FOLLOWER)
			continue;
		for (; p < v->npages && p >> v->group_shift == g; p++) {
			if (pt_state(pt, p) != PS_RESIDENT)
				continue;
			v->lead[r].resident++;
			v->lead_hot += pt_has(pt, p, PT_HOT);
		}
	}
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

	if (policy == VICTIM_ADAPTIVE && budget < VICTIM_DUEL_MIN_BUDGET)
		policy = VICTIM_CLOCK;
	*v = (struct victim){ .policy = policy, .npages = npages,
			      .budget = budget, .align = align ? align : 1,
			      .group_shift = DUEL_SHIFT_MIN };
	while (v->group_shift < DUEL_SHIFT_MAX &&
	       budget >> (v->group_shift + 1) >= DUEL_BUDGET_GROUPS)
		v->group_shift++;
	if (!has_hot_set(v))
		return;
	if (cold < budget / COLD_SHARE)
		cold = budget / COLD_SHARE;
	v->hot_target = budget > cold ? budget - cold : 0;
	v->bucket = budget / BUCKETS_PER_BUDGET ? budget / BUCKETS_PER_BUDGET
						: 1;
	v->now = 1;
	v->theta = THETA_START;
	v->lead_share = budget / DUEL_SETS;
	for (unsigned r = LEAD_CLOCK; r <= LEAD_REFAULT; r++) {
		v->lead[r].now = 1;
		v->lead[r].theta = THETA_START;
	}
	if (policy != VICTIM_ADAPTIVE)
		return;
	/* How far each leader set's hand may go: its own pages, twice. */
	for (uint64_t g = 0; g < groups(v); g++) {
		uint64_t first = g << v->group_shift;
		uint64_t end = first + (1ull << v->group_shift);

		v->lead[group_role(g)].pages +=
			(end < npages ? end : npages) - first;
	}
}

static uint64_t next(const struct victim *v, uint64_t p)
{
	return p + 1 == v->npages ? 0 : p + 1;
}

/*
 * Epochs since @e (1..EPOCHS) in the current one of the clock that
 * counts the evictions of role @r's pages: a leader set's own (its
 * evictions times DUEL_SETS), or everyone's.
 */
static unsigned age(const struct victim *v, enum duel_role r, unsigned e)
{
	unsigned now = r == FOLLOWER ? v->now : v->lead[r].now;

	return (now + EPOCHS - e) % EPOCHS;
}

/* The theta of role @r's pages: each leader set has its own. */
static uint32_t *theta_of(struct victim *v, enum duel_role r)
{
	return r == FOLLOWER ? &v->theta : &v->lead[r].theta;
}

/*
 * Page @p of role @r, visited by an expiry sweep: a demoted page not
 * back within the horizon was rightly let go, so the hot set may follow
 * newcomers faster; an epoch that reached the horizon is cleared.
 */
static void expire_page(struct victim *v, struct pagetable *pt, uint64_t p,
			enum duel_role r)
{
	unsigned e = pt_epoch(pt, p);
	uint32_t *theta = theta_of(v, r);

	if (!e || age(v, r, e) < HORIZON)
		return;
	pt_set_epoch(pt, p, 0);
	if (pt_has(pt, p, PT_DEMOTED) && pt_state(pt, p) != PS_RESIDENT) {
		pt_set_demoted(pt, p, false);
		v->st.demoted_gone++;
		if (*theta > 1)
			*theta /= 2;
	}
}

/* The next page of the followers' sweep (leader sets sweep their own:
 * lead_tick()). */
static void expire(struct victim *v, struct pagetable *pt)
{
	uint64_t p = v->sweep;
	enum duel_role r = duel_role(v, p);

	v->sweep = next(v, p);
	if (r == FOLLOWER)
		expire_page(v, pt, p, r);
}

/* The first page at or after @p of a group of role @r (a leader set),
 * wrapping at the end; @p itself if none. */
static uint64_t lead_next(const struct victim *v, enum duel_role r,
			  uint64_t p)
{
	uint64_t n = groups(v), g = p >> v->group_shift;

	if (group_role(g) == r)
		return p;
	for (uint64_t k = 1; k <= n; k++) {
		uint64_t h = (g + k) % n;

		if (group_role(h) == r)
			return h << v->group_shift;
	}
	return p;
}

/*
 * adaptive: one eviction from leader set @r: its own epoch clock, which
 * advances every bucket/DUEL_SETS of them, and its own expiry sweep,
 * every page of the set once an epoch.
 */
static void lead_tick(struct victim *v, struct pagetable *pt,
		      enum duel_role r)
{
	struct victim_lead *l = &v->lead[r];
	uint64_t bucket = v->bucket / DUEL_SETS ? v->bucket / DUEL_SETS : 1;

	if (++l->evictions % bucket)
		return;
	l->now = (uint8_t)(l->now % EPOCHS + 1);
	for (uint64_t g = 0; g < groups(v); g++) {
		if (group_role(g) != r)
			continue;
		for (uint64_t p = g << v->group_shift;
		     p < v->npages && p >> v->group_shift == g; p++)
			expire_page(v, pt, p, r);
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
	if (v->policy == VICTIM_ADAPTIVE)
		duel_recount(v, pt);
}

/* Hot @p goes back to the cold pages, marked: will it come back? */
static void demote(struct victim *v, struct pagetable *pt, uint64_t p)
{
	if (pt_set_hot(pt, p, false) && duel_role(v, p) == LEAD_REFAULT &&
	    v->lead_hot)
		v->lead_hot--;
	pt_set_demoted(pt, p, true);
	v->st.demoted++;
}

/*
 * The hot hand lets one hot page go: the first it finds untouched since
 * it last passed (a write fault sets PT_REF), after at most two sweeps.
 * Under refault-wp it clears PT_REF of clean pages only, which are
 * write-protected, so that the next write shows: a dirty page's bit is
 * the sampling hand's, cleared only where the page is protected again.
 *
 * The refault leaders' hot pages (@lead) have a hand of their own, which
 * walks their set only (about a sixteenth of the VM's pages); the
 * others' hand walks the VM.  Where the set has no hot page the hand
 * does not move: such a walk could only come back empty, twice the
 * VM's pages later.
 */
static bool demote_one(struct victim *v, struct pagetable *pt, bool lead)
{
	struct victim_lead *l = &v->lead[LEAD_REFAULT];
	uint64_t *hand = lead ? &l->hot_hand : &v->hot_hand;
	uint64_t span = lead ? l->pages : v->npages;

	if (!hot_of(v, pt, lead))
		return false;
	for (uint64_t scanned = 0; scanned < 2 * span; scanned++) {
		uint64_t p = lead ? lead_next(v, LEAD_REFAULT, *hand) : *hand;
		enum duel_role r;

		*hand = next(v, p);
		v->st.hot_scanned++;
		if (!pt_has(pt, p, PT_HOT))
			continue;
		r = duel_role(v, p);
		if ((r == LEAD_REFAULT) != lead)
			continue;
		/* adaptive, turned to CLOCK: a follower's hot page has no
		 * place in the hot set any more. */
		if (!runs_refault(v, r)) {
			demote(v, pt, p);
			return true;
		}
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
	enum duel_role r;
	uint32_t *theta, *pressure;
	unsigned e;
	bool promote, lead;

	if (!has_hot_set(v))
		return;
	r = duel_role(v, p);
	duel_fetched(v, r);
	lead = r == LEAD_REFAULT;
	theta = theta_of(v, r);
	pressure = r == FOLLOWER ? &v->pressure : &v->lead[r].pressure;
	e = pt_epoch(pt, p);
	pt_set_epoch(pt, p, 0);
	if (!runs_refault(v, r)) {
		pt_set_demoted(pt, p, false);
		return;		/* CLOCK's page: never hot */
	}
	if (!e || age(v, r, e) >= HORIZON)
		return;		/* first seen, or too long ago */
	v->st.refaults++;
	if (pt_has(pt, p, PT_DEMOTED)) {
		/* It was in use: the hot set was right to hold it. */
		pt_set_demoted(pt, p, false);
		v->st.demoted_back++;
		if (*theta < THETA_MAX)
			*theta *= 2;
	}
	promote = hot_of(v, pt, lead) < hot_room(v, lead);
	if (!promote && ++*pressure >= *theta) {
		/* Enough newcomers asked: the oldest unused hot page goes. */
		*pressure = 0;
		promote = demote_one(v, pt, lead);
	}
	if (promote && pt_set_hot(pt, p, true)) {
		v->lead_hot += lead;
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
 * A hand passes @page: may it be taken now?  Only a cold RESIDENT page
 * with no write in flight and its reference bit already clear; a set
 * bit is cleared as the hand passes (CLOCK's second chance).
 */
static bool cold_victim(struct pagetable *pt, uint64_t page)
{
	if (pt_state(pt, page) != PS_RESIDENT ||
	    pt_has(pt, page, PT_WRITING | PT_HOT))
		return false;
	if (pt_has(pt, page, PT_REF)) {
		pt_clear_ref(pt, page);
		return false;
	}
	return true;
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
		/* A leader set's page is lead_select()'s. */
		if (duel_role(v, page) != FOLLOWER || !cold_victim(pt, page))
			continue;
		if (*first == UINT64_MAX)
			*first = page;
		out[n++] = page;
	}
	*dry = n < max;
	return n == max ? trim_to_row(v, out, n) : n;
}

/*
 * adaptive: leader set @r's victims, while it holds more than its share of
 * the budget: CLOCK over its own pages with its own hand, so that each
 * leader set runs as a miniature of its policy alone (a set that took
 * whatever the followers' hand came to would be evicted in no order at
 * all, and random eviction is kinder to a sweep than CLOCK).  The hand
 * passes each of the set's pages at most twice: once to clear reference
 * bits, once to take what they left: an eighth of the VM's pages at
 * most, where nothing of the set can go now (all of it hot or being
 * written), not the whole VM twice.
 */
static unsigned lead_select(struct victim *v, struct pagetable *pt,
			    enum duel_role r, uint64_t *out, unsigned max)
{
	struct victim_lead *l = &v->lead[r];
	uint64_t first = UINT64_MAX;
	unsigned n = 0;

	for (uint64_t scanned = 0; scanned < 2 * l->pages &&
	     n < max && l->resident > v->lead_share; scanned++) {
		uint64_t page = lead_next(v, r, l->hand);

		if (page == first || duel_role(v, page) != r)
			break;
		l->hand = next(v, page);
		v->st.lead_scanned++;
		if (!cold_victim(pt, page))
			continue;
		if (first == UINT64_MAX)
			first = page;
		out[n++] = page;
		l->resident--;
	}
	return n;
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
	/* Over its room (the budget, the cold pages or the duel's winner
	 * changed): shrink. */
	while (hot_of(v, pt, false) > hot_room(v, false) &&
	       demote_one(v, pt, false))
		;
	while (hot_of(v, pt, true) > hot_room(v, true) &&
	       demote_one(v, pt, true))
		;
	n = 0;
	if (v->policy == VICTIM_ADAPTIVE) {
		n = lead_select(v, pt, LEAD_CLOCK, out, max);
		n += lead_select(v, pt, LEAD_REFAULT, out + n, max - n);
	}
	dry = false;
	if (n < max)
		n += clock_select(v, pt, out + n, max - n, &first, &dry);
	/* Nothing cold left to take: the hot set gives up a few pages. */
	for (unsigned k = 0; dry && k < max && n < max && pt->hot &&
	     (demote_one(v, pt, false) ||
	      (v->policy == VICTIM_ADAPTIVE && demote_one(v, pt, true)));
	     k++)
		n += clock_select(v, pt, out + n, max - n, &first, &dry);
	for (unsigned i = 0; i < n; i++) {
		enum duel_role r = duel_role(v, out[i]);

		pt_set_epoch(pt, out[i], r == FOLLOWER ? v->now
						       : v->lead[r].now);
		tick(v, pt);
		if (r != FOLLOWER)
			lead_tick(v, pt, r);
	}
	return n;
}
