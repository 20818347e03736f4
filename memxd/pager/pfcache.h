/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pfcache.h - pages read ahead of any fault, held until one asks.
 *
 * A bounded pool of page copies, oldest out first.  It holds only data:
 * the page table's PT_CACHED flag says which REMOTE pages have a copy
 * here, and the caller keeps the two in step.
 */
#ifndef MEMX_PAGER_PFCACHE_H
#define MEMX_PAGER_PFCACHE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define PFCACHE_NONE	UINT64_MAX

struct pfcache_ent;

struct pfcache {
	GHashTable *map;		/* page -> struct pfcache_ent */
	GQueue fifo;			/* oldest first */
	GQueue free;
	struct pfcache_ent *pool;
	uint8_t *mem;
	unsigned cap;			/* 0: no cache */
};

/* @cap copies of 4 KiB (0: none).  0 or -ENOMEM. */
int pfcache_init(struct pfcache *c, unsigned cap);
void pfcache_fini(struct pfcache *c);
/* @page's copy, or NULL. */
const uint8_t *pfcache_get(const struct pfcache *c, uint64_t page);
/*
 * Keep a copy of @data for @page.  Returns the page whose copy was thrown
 * out to make room, or PFCACHE_NONE; *@kept says whether the copy was
 * taken at all (not with no cache).
 */
uint64_t pfcache_put(struct pfcache *c, uint64_t page, const uint8_t *data,
		     bool *kept);
/* The pages of the @max oldest copies, into @pages; how many. */
unsigned pfcache_oldest(const struct pfcache *c, uint64_t *pages,
			unsigned max);
/* Forget @page's copy.  False if there was none. */
bool pfcache_drop(struct pfcache *c, uint64_t page);

#endif
