/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * slots.h - the memory a store's pages live in: numbered 4 KiB slots.
 *
 * Slots are mapped lazily, a 2 MiB piece on a 2 MiB boundary at a time
 * (so transparent huge pages can back them), or all at once and locked
 * (slots_reserve).  At most the capacity are in use at once.  A slot
 * released goes back on a stack of free ones and, unless reserved, its
 * memory goes back to the host: at once, or, when many are released
 * together, set aside in runs and given back a slice at a time.
 *
 * Beside each slot lies a struct slot_meta for the store: this layer
 * allocates it and never reads it.  It knows nothing of sessions,
 * references or contents; store.c does (store.h).
 */
#ifndef MEMX_SLOTS_H
#define MEMX_SLOTS_H

#include <stdbool.h>
#include <stdint.h>

/* No slot: slots_alloc failed, or a table's empty mark. */
#define SLOT_NONE	UINT32_MAX

/* What the store keeps beside a slot's page. */
struct slot_meta {
	uint64_t hash;		/* of the contents, while indexed */
	uint32_t refs;		/* references to it; 0: free */
};

struct slots;

/* -ENOMEM, or -EINVAL unless 0 < @capacity_pages < SLOT_NONE. */
int slots_new(struct slots **out, uint64_t capacity_pages);
void slots_free(struct slots *sl);

/*
 * Map every slot now, asking for huge pages, touched and locked by
 * mlock(2), telling @progress (if not NULL) the bytes locked so far and
 * the total after each step.  Only before the first slots_alloc:
 * -EBUSY after.  0, or -errno from mmap or mlock, nothing then changed.
 */
typedef void (*slots_progress_fn)(uint64_t done, uint64_t total, void *arg);
int slots_reserve(struct slots *sl, slots_progress_fn progress, void *arg);
bool slots_reserved(const struct slots *sl);
/*
 * How much of the reserved memory the kernel backs with huge pages now
 * (AnonHugePages in /proc/self/smaps), in bytes: 0 if not reserved, or
 * -errno if that cannot be read.  Reads the whole smaps file, which
 * walks the process's page tables: for a log line, not a hot path.
 */
int64_t slots_reserved_huge_bytes(const struct slots *sl);

/*
 * A free slot, its memory mapped and its meta allocated (their contents
 * what the last holder left, or zeros), or SLOT_NONE if the capacity is
 * in use or memory ran out.  A slot set aside to give back is taken
 * first: its memory is still there.
 */
uint32_t slots_alloc(struct slots *sl);
/* @slot, which nothing holds any more, back to the free ones. */
void slots_release(struct slots *sl, uint32_t slot);
/*
 * Around many releases at once (a session freed, a large discard): a
 * slot released between them is set aside, marked, for slots_give_back
 * to give its memory back with its neighbours', one system call a run,
 * rather than one a slot and all at once.  Pairs nest, and may stay
 * open over many turns of a loop, with slots taken between: a slot set
 * aside is taken before any other, its memory still there.  A reserved
 * store gives nothing back: its slots go straight to free.
 */
void slots_release_many_begin(struct slots *sl);
void slots_release_many_end(struct slots *sl);
/*
 * Give back the memory of runs of slots set aside, from the lowest up,
 * about @max_pages of it (whole runs of at most 512, so up to 511 more),
 * and make their slots free.  Runs are neighbours within one 2 MiB
 * piece of the store; released while a batch is open or after, alike.  True while some
 * remain set aside.  The kernel frees some 0.4 µs a page: a server
 * calls this a slice per turn of its loop, so that a large session
 * freed never stops it answering for long.
 */
bool slots_give_back(struct slots *sl, uint64_t max_pages);
/*
 * Pages released many at once and not yet given back: set aside.
 */
uint64_t slots_to_give_back(const struct slots *sl);
/* Pages slots_give_back has given back since the slots were made. */
uint64_t slots_given_back(const struct slots *sl);

/* Where @slot's page is, and its meta: only for a slot handed out. */
uint8_t *slots_addr(const struct slots *sl, uint32_t slot);
struct slot_meta *slots_meta(const struct slots *sl, uint32_t slot);

/* Slots in use. */
uint64_t slots_used(const struct slots *sl);

#endif
