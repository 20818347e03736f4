// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pfcache.c - the prefetch cache (pfcache.h).
 */
#include "pfcache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PFCACHE_PAGE	4096u

struct pfcache_ent {
	uint64_t page;
	uint8_t *buf;
	GList link;
};

int pfcache_init(struct pfcache *c, unsigned cap)
{
	*c = (struct pfcache){ .cap = cap };
	g_queue_init(&c->fifo);
	g_queue_init(&c->free);
	c->map = g_hash_table_new(g_int64_hash, g_int64_equal);
	if (!cap)
		return 0;
	c->pool = calloc(cap, sizeof(*c->pool));
	if (!c->pool || posix_memalign((void **)&c->mem, PFCACHE_PAGE,
				       (size_t)cap * PFCACHE_PAGE)) {
		pfcache_fini(c);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < cap; i++) {
		c->pool[i].buf = c->mem + (size_t)i * PFCACHE_PAGE;
		c->pool[i].link.data = &c->pool[i];
		g_queue_push_tail_link(&c->free, &c->pool[i].link);
	}
	return 0;
}

void pfcache_fini(struct pfcache *c)
{
	if (c->map)
		g_hash_table_destroy(c->map);
	free(c->pool);
	free(c->mem);
	*c = (struct pfcache){ 0 };
}

const uint8_t *pfcache_get(const struct pfcache *c, uint64_t page)
{
	const struct pfcache_ent *ce = g_hash_table_lookup(c->map, &page);

	return ce ? ce->buf : NULL;
}

unsigned pfcache_oldest(const struct pfcache *c, uint64_t *pages,
			unsigned max)
{
	unsigned n = 0;

	for (GList *l = c->fifo.head; l && n < max; l = l->next)
		pages[n++] = ((const struct pfcache_ent *)l->data)->page;
	return n;
}

bool pfcache_drop(struct pfcache *c, uint64_t page)
{
	struct pfcache_ent *ce = g_hash_table_lookup(c->map, &page);

	if (!ce)
		return false;
	g_hash_table_remove(c->map, &ce->page);
	g_queue_unlink(&c->fifo, &ce->link);
	g_queue_push_tail_link(&c->free, &ce->link);
	return true;
}

uint64_t pfcache_put(struct pfcache *c, uint64_t page, const uint8_t *data,
		     bool *kept)
{
	uint64_t out = PFCACHE_NONE;
	struct pfcache_ent *ce;

	*kept = false;
	if (!c->cap)
		return PFCACHE_NONE;
	pfcache_drop(c, page);		/* a newer copy replaces it */
	if (g_queue_is_empty(&c->free)) {
		ce = g_queue_peek_head_link(&c->fifo)->data;
		out = ce->page;
		pfcache_drop(c, out);
	}
	ce = g_queue_pop_head_link(&c->free)->data;
	ce->page = page;
	memcpy(ce->buf, data, PFCACHE_PAGE);
	g_queue_push_tail_link(&c->fifo, &ce->link);
	g_hash_table_insert(c->map, &ce->page, ce);
	*kept = true;
	return out;
}
