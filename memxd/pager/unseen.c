// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * unseen.c - the hashes of pages installed writable ahead (unseen.h).
 */
#include "unseen.h"

#include <sodium.h>
#include <xxhash.h>

#include "guestmem.h"

void unseen_init(struct unseen *u)
{
	u->sums = g_hash_table_new(g_direct_hash, g_direct_equal);
	randombytes_buf(&u->seed, sizeof(u->seed));
}

void unseen_fini(struct unseen *u)
{
	if (u->sums)
		g_hash_table_destroy(u->sums);
	u->sums = NULL;
}

static uint64_t sum(const struct unseen *u, const uint8_t *data)
{
	return XXH3_64bits_withSeed(data, GM_PAGE, u->seed);
}

static gboolean stale(gpointer key, gpointer value, gpointer pt)
{
	(void)value;
	return !pt_unseen(pt, GPOINTER_TO_SIZE(key));
}

void unseen_remember(struct unseen *u, const struct pagetable *pt,
		     uint64_t page, const uint8_t *data, uint64_t limit)
{
	if (g_hash_table_size(u->sums) >= limit)
		g_hash_table_foreach_remove(u->sums, stale, (gpointer)pt);
	g_hash_table_insert(u->sums, GSIZE_TO_POINTER(page),
			    GSIZE_TO_POINTER(sum(u, data)));
}

bool unseen_unchanged(const struct unseen *u, const struct pagetable *pt,
		      uint64_t page, const uint8_t *data)
{
	gpointer s;

	return pt_unseen(pt, page) &&
	       g_hash_table_lookup_extended(u->sums, GSIZE_TO_POINTER(page),
					    NULL, &s) &&
	       GPOINTER_TO_SIZE(s) == sum(u, data);
}

unsigned unseen_kept(const struct unseen *u)
{
	return g_hash_table_size(u->sums);
}
