/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * reftab.h - one session's references: page number to slot and tag.
 *
 * An open-addressing table, linear probing, at a load of at most 1/2.
 * It grows by doubling, and never in one go: a table of a million
 * references took a memory server's loop for tens to hundreds of
 * milliseconds to copy, every client waiting.  The new table is taken
 * zeroed from the kernel (calloc), and the old one's entries move over
 * a few buckets at a time, at each reftab_reserve (Redis's dict does
 * the same), fast enough that the old one is empty before the new one
 * must grow again.  Meanwhile a reference is in exactly one of the two.
 *
 * Pointers to entries stay valid until the next reftab_reserve,
 * reftab_delete or reftab_finish.  The store above knows what slots and
 * tags mean (store.h); this layer only keeps them.
 */
#ifndef MEMX_REFTAB_H
#define MEMX_REFTAB_H

#include <stdbool.h>
#include <stdint.h>

#include "../../rmap/wire.h"

struct ref {
	uint64_t page;
	uint32_t slot;
	uint8_t state;		/* REF_EMPTY, REF_LIVE, or REF_GONE */
	uint8_t tag[RMAP_TAG_LEN];	/* this reference's, not the slot's */
};

/* REF_GONE: moved or deleted from the old table; a probe goes on. */
enum { REF_EMPTY = 0, REF_LIVE = 1, REF_GONE = 2 };

struct reftab {
	struct ref *tab;	/* where new references go */
	uint64_t mask;		/* its size - 1, a power of two */
	struct ref *old;	/* the table before it grew, or NULL */
	uint64_t old_mask, old_next;	/* old[0, old_next) moved */
	uint64_t n;		/* references in both */
};

/*
 * Linear probing with backward-shift deletion (here, and in the store's
 * content index): after a hole at @i, may the entry at @j, whose home
 * bucket is @home, move back into it?  Not if its home lies cyclically
 * in (i, j].
 */
static inline bool probe_may_fill(uint64_t i, uint64_t j, uint64_t home)
{
	return (j > i && (home <= i || home > j)) ||
	       (j < i && (home <= i && home > j));
}

/* An empty table: 0 or -ENOMEM. */
int reftab_init(struct reftab *t);
void reftab_fini(struct reftab *t);

/* @page's reference, or NULL. */
struct ref *reftab_find(const struct reftab *t, uint64_t page);
/*
 * Room for @need references in all, and a step of moving the old
 * table's entries, at least 4 buckets for each reference this adds and
 * 64 in any case.  0 or -ENOMEM (the table then as it was).
 */
int reftab_reserve(struct reftab *t, uint64_t need);
/*
 * A new reference for @page, which has none, its slot and tag for the
 * caller to set.  Only after a reftab_reserve that made room for it.
 */
struct ref *reftab_insert(struct reftab *t, uint64_t page);
void reftab_delete(struct reftab *t, struct ref *e);
/* Move whatever the old table still holds, now. */
void reftab_finish(struct reftab *t);

/*
 * Every reference, by position: reftab_at(t, i) for i in
 * [0, reftab_span(t)) is a live entry or NULL.  The span is the
 * buckets that may hold one: the new table's, and the old one's not
 * yet moved.  Nothing may change the
 * table between the calls of one pass, except reftab_delete of the
 * entry at i when no old table remains (reftab_finish): an entry after
 * it may then move into i, which the pass looks at again.
 */
uint64_t reftab_span(const struct reftab *t);
struct ref *reftab_at(const struct reftab *t, uint64_t i);
/*
 * A pass over a table that will end in reftab_fini (a session freed)
 * has read positions [@from, @to) for the last time: give back the
 * memory of the whole pages they lie in, which from then on read as
 * empty, so that reftab_fini has little left to take back.  Calls for
 * ranges that follow each other cover the table; nothing may change it
 * between them.
 */
void reftab_let_go(struct reftab *t, uint64_t from, uint64_t to);

#endif
