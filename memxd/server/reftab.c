// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * reftab.c - one session's references, see reftab.h.
 */
#include "reftab.h"

#include <errno.h>
#include <stdlib.h>

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

struct ref *reftab_find(const struct reftab *t, uint64_t page)
{
	struct ref *e = find_in(t->tab, t->mask, page);

	if (!e && t->old)
		e = find_in(t->old, t->old_mask, page);
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

/* The old table's buckets not yet moved. */
static uint64_t old_left(const struct reftab *t)
{
	return t->old ? t->old_mask + 1 - t->old_next : 0;
}

/* Move up to @buckets of the old table's buckets into the new one. */
static void move_step(struct reftab *t, uint64_t buckets)
{
	uint64_t end;

	if (!t->old)
		return;
	end = old_left(t) > buckets ? t->old_next + buckets : t->old_mask + 1;
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
	}
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
