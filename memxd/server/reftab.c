// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * reftab.c - one session's references, see reftab.h.
 */
#include "reftab.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#define MIN_BUCKETS	64u
/* Buckets of the old table moved per reference added, and per call. */
#define MOVE_PER_ADDED	4u
#define MOVE_MIN	64u

static uint64_t hash_page(uint64_t page)
{
	page ^= page >> 33;
	page *= 0xff51afd7ed558ccdull;
	page ^= page >> 33;
	return page;
}

int reftab_init(struct reftab *t)
{
	*t = (struct reftab){ .mask = MIN_BUCKETS - 1 };
	t->tab = calloc(MIN_BUCKETS, sizeof(*t->tab));
	return t->tab ? 0 : -ENOMEM;
}

void reftab_fini(struct reftab *t)
{
	free(t->tab);
	free(t->old);
	*t = (struct reftab){ 0 };
}

/*
 * In the new table, only ever REF_EMPTY or REF_LIVE: a delete there
 * shifts the entries after it back.  In the old one, entries moved or
 * deleted are REF_GONE, so that probes for those after them go on.
 */
static struct ref *find_in(struct ref *tab, uint64_t mask, uint64_t page)
{
	for (uint64_t i = hash_page(page) & mask;; i = (i + 1) & mask) {
		struct ref *e = &tab[i];

		if (e->state == REF_EMPTY)
			return NULL;
		if (e->state == REF_LIVE && e->page == page)
			return e;
	}
}

/* The old table's buckets not yet moved. */
static uint64_t old_left(const struct reftab *t)
{
	return t->old ? t->old_mask + 1 - t->old_next : 0;
}

/*
 * In the old table, buckets below old_next were moved and their memory
 * may be given back (reading as empty): a probe that reaches them goes
 * on at old_next, as it would have over moved (GONE) buckets.  No entry
 * lies beyond an empty bucket of its probe, so what it finds there is
 * found all the same.
 */
static struct ref *find_in_old(const struct reftab *t, uint64_t page)
{
	uint64_t i = hash_page(page) & t->old_mask;

	/* Each bucket not moved once at most: they may have no empty one. */
	for (uint64_t n = old_left(t); n; n--, i = (i + 1) & t->old_mask) {
		struct ref *e;

		if (i < t->old_next)
			i = t->old_next;
		e = &t->old[i];
		if (e->state == REF_EMPTY)
			return NULL;
		if (e->state == REF_LIVE && e->page == page)
			return e;
	}
	return NULL;
}

struct ref *reftab_find(const struct reftab *t, uint64_t page)
{
	struct ref *e = find_in(t->tab, t->mask, page);

	if (!e && t->old)
		e = find_in_old(t, page);
	return e;
}

struct ref *reftab_insert(struct reftab *t, uint64_t page)
{
	uint64_t i = hash_page(page) & t->mask;

	while (t->tab[i].state != REF_EMPTY)
		i = (i + 1) & t->mask;
	t->tab[i].page = page;
	t->tab[i].state = REF_LIVE;
	t->n++;
	return &t->tab[i];
}

static void let_go(struct ref *base, uint64_t from, uint64_t to);

/* Move up to @buckets of the old table's buckets into the new one. */
static void move_step(struct reftab *t, uint64_t buckets)
{
	uint64_t end, from;

	if (!t->old)
		return;
	end = old_left(t) > buckets ? t->old_next + buckets : t->old_mask + 1;
	from = t->old_next;
	for (uint64_t i = t->old_next; i < end; i++) {
		struct ref *e = &t->old[i];

		if (e->state != REF_LIVE)
			continue;
		*reftab_insert(t, e->page) = *e;
		t->n--;		/* counted once, where it was */
		e->state = REF_GONE;
	}
	t->old_next = end;
	if (end > t->old_mask) {
		free(t->old);
		t->old = NULL;
		return;
	}
	/*
	 * What was moved is never read again: give its memory back as the
	 * move goes, so that the kernel does not take back the whole old
	 * table at the last step (12 ms for 128 MiB, make bench-store).
	 */
	let_go(t->old, from, end);
}

void reftab_finish(struct reftab *t)
{
	move_step(t, UINT64_MAX);
}

int reftab_reserve(struct reftab *t, uint64_t need)
{
	uint64_t size = t->mask + 1, added = need > t->n ? need - t->n : 0;
	struct ref *tab;

	/* Keep the load factor at or below 1/2. */
	if (2 * need > size) {
		/* Grown again before the last move ended: end it now. */
		reftab_finish(t);
		while (2 * need > size)
			size *= 2;
		tab = calloc(size, sizeof(*tab));
		if (!tab)
			return -ENOMEM;
		t->old = t->tab;
		t->old_mask = t->mask;
		t->old_next = 0;
		t->tab = tab;
		t->mask = size - 1;
	}
	move_step(t, added > (UINT64_MAX - MOVE_MIN) / MOVE_PER_ADDED ?
		     UINT64_MAX : MOVE_MIN + added * MOVE_PER_ADDED);
	return 0;
}

void reftab_delete(struct reftab *t, struct ref *e)
{
	uint64_t i, j;

	t->n--;
	if (t->old && e >= t->old && e <= t->old + t->old_mask) {
		e->state = REF_GONE;
		return;
	}
	for (i = j = (uint64_t)(e - t->tab);;) {
		uint64_t home;

		j = (j + 1) & t->mask;
		if (t->tab[j].state == REF_EMPTY)
			break;
		home = hash_page(t->tab[j].page) & t->mask;
		if (probe_may_fill(i, j, home)) {
			t->tab[i] = t->tab[j];
			i = j;
		}
	}
	t->tab[i].state = REF_EMPTY;
}

/* The old table's buckets not yet moved come first, then the new's. */
uint64_t reftab_span(const struct reftab *t)
{
	return old_left(t) + t->mask + 1;
}

struct ref *reftab_at(const struct reftab *t, uint64_t i)
{
	uint64_t left = old_left(t);
	struct ref *e = i < left ? &t->old[t->old_next + i] :
				   &t->tab[i - left];

	return e->state == REF_LIVE ? e : NULL;
}

/*
 * Give back the pages of @base[@from, @to) of a table allocated at
 * @base, from the page @from starts in (passed, if it began earlier)
 * to the one @to ends in (not: it may still be read), never the page
 * before @base (the allocator's header may lie there).
 */
static void let_go(struct ref *base, uint64_t from, uint64_t to)
{
	const uintptr_t page = RMAP_PAGE_SIZE;
	uintptr_t lo = (uintptr_t)(base + from) & ~(page - 1);
	uintptr_t hi = (uintptr_t)(base + to) & ~(page - 1);
	uintptr_t first = ((uintptr_t)base + page - 1) & ~(page - 1);

	if (lo < first)
		lo = first;
	if (hi > lo)
		madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

void reftab_let_go(struct reftab *t, uint64_t from, uint64_t to)
{
	uint64_t left = old_left(t);

	if (from < left)
		let_go(t->old, t->old_next + from,
		       t->old_next + (to < left ? to : left));
	if (to > left)
		let_go(t->tab, from > left ? from - left : 0, to - left);
}
