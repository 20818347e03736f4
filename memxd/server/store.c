// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * store.c - slab-backed page store with per-session hash tables.
 */
#include "store.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../../rmap/wire.h"

#define PAGE		RMAP_PAGE_SIZE
#define TAG		RMAP_TAG_LEN
#define CHUNK_PAGES	256u
#define EMPTY		UINT32_MAX

struct store {
	uint64_t capacity;
	uint64_t used;
	uint8_t **chunks;	/* lazily mapped, CHUNK_PAGES slots each */
	uint8_t **tags;		/* each chunk's slots' tags, TAG bytes each */
	uint64_t nchunks;
	uint32_t *free_slots;	/* stack of released slot numbers */
	uint64_t nfree;
	uint64_t next_slot;	/* slots below this have been handed out */
};

struct slot_entry {
	uint64_t page;
	uint32_t slot;		/* EMPTY: unused bucket */
};

struct store_session {
	struct slot_entry *tab;
	uint64_t mask;		/* table size - 1, a power of two */
	uint64_t n;
};

int store_new(struct store **out, uint64_t capacity_pages)
{
	struct store *st;

	if (capacity_pages == 0 || capacity_pages >= UINT32_MAX)
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->capacity = capacity_pages;
	st->nchunks = (capacity_pages + CHUNK_PAGES - 1) / CHUNK_PAGES;
	st->chunks = calloc(st->nchunks, sizeof(*st->chunks));
	st->tags = calloc(st->nchunks, sizeof(*st->tags));
	if (!st->chunks || !st->tags) {
		free(st->chunks);
		free(st->tags);
		free(st);
		return -ENOMEM;
	}
	*out = st;
	return 0;
}

void store_free(struct store *st)
{
	if (!st)
		return;
	for (uint64_t i = 0; i < st->nchunks; i++) {
		if (st->chunks[i])
			munmap(st->chunks[i], (size_t)CHUNK_PAGES * PAGE);
		free(st->tags[i]);
	}
	free(st->chunks);
	free(st->tags);
	free(st->free_slots);
	free(st);
}

uint64_t store_capacity(const struct store *st)
{
	return st->capacity;
}

uint64_t store_used(const struct store *st)
{
	return st->used;
}

static uint8_t *slot_addr(struct store *st, uint32_t slot)
{
	return st->chunks[slot / CHUNK_PAGES] + (size_t)(slot % CHUNK_PAGES) * PAGE;
}

static uint8_t *slot_tag(struct store *st, uint32_t slot)
{
	return st->tags[slot / CHUNK_PAGES] + (size_t)(slot % CHUNK_PAGES) * TAG;
}

/* A free slot, or EMPTY if the capacity is used up or memory ran out. */
static uint32_t slot_alloc(struct store *st)
{
	uint32_t slot;

	if (st->used >= st->capacity)
		return EMPTY;
	if (st->nfree) {
		slot = st->free_slots[--st->nfree];
	} else {
		uint64_t c = st->next_slot / CHUNK_PAGES;

		if (!st->tags[c]) {
			st->tags[c] = calloc(CHUNK_PAGES, TAG);
			if (!st->tags[c])
				return EMPTY;
		}
		if (!st->chunks[c]) {
			void *m = mmap(NULL, (size_t)CHUNK_PAGES * PAGE,
				       PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (m == MAP_FAILED)
				return EMPTY;
			st->chunks[c] = m;
		}
		slot = (uint32_t)st->next_slot++;
	}
	st->used++;
	return slot;
}

static void slot_release(struct store *st, uint32_t slot)
{
	/* free_slots never needs more room than the slots handed out. */
	if (!st->free_slots) {
		st->free_slots = malloc(st->capacity * sizeof(uint32_t));
		if (!st->free_slots)
			abort();	/* capacity*4 bytes; tiny next to the pages */
	}
	st->free_slots[st->nfree++] = slot;
	st->used--;
	memset(slot_tag(st, slot), 0, TAG);
	/* Give the memory back; the slot reads as zeros until rewritten. */
	madvise(slot_addr(st, slot), PAGE, MADV_DONTNEED);
}

/* ---- per-session table: linear probing, backward-shift deletion ---- */

static uint64_t hash_page(uint64_t page)
{
	page ^= page >> 33;
	page *= 0xff51afd7ed558ccdull;
	page ^= page >> 33;
	return page;
}

struct store_session *store_session_new(struct store *st)
{
	struct store_session *ss = calloc(1, sizeof(*ss));

	(void)st;
	if (!ss)
		return NULL;
	ss->mask = 63;
	ss->tab = malloc((ss->mask + 1) * sizeof(*ss->tab));
	if (!ss->tab) {
		free(ss);
		return NULL;
	}
	for (uint64_t i = 0; i <= ss->mask; i++)
		ss->tab[i].slot = EMPTY;
	return ss;
}

static struct slot_entry *tab_find(const struct store_session *ss,
				   uint64_t page)
{
	for (uint64_t i = hash_page(page) & ss->mask;; i = (i + 1) & ss->mask) {
		struct slot_entry *e = &ss->tab[i];

		if (e->slot == EMPTY)
			return NULL;
		if (e->page == page)
			return e;
	}
}

static void tab_put(struct store_session *ss, uint64_t page, uint32_t slot)
{
	uint64_t i = hash_page(page) & ss->mask;

	while (ss->tab[i].slot != EMPTY)
		i = (i + 1) & ss->mask;
	ss->tab[i].page = page;
	ss->tab[i].slot = slot;
	ss->n++;
}

static int tab_grow(struct store_session *ss, uint64_t need)
{
	struct slot_entry *old = ss->tab;
	uint64_t old_size = ss->mask + 1, size = old_size;

	/* Keep the load factor at or below 1/2. */
	while (2 * need > size)
		size *= 2;
	if (size == old_size)
		return 0;
	ss->tab = malloc(size * sizeof(*ss->tab));
	if (!ss->tab) {
		ss->tab = old;
		return -ENOMEM;
	}
	ss->mask = size - 1;
	ss->n = 0;
	for (uint64_t i = 0; i < size; i++)
		ss->tab[i].slot = EMPTY;
	for (uint64_t i = 0; i < old_size; i++)
		if (old[i].slot != EMPTY)
			tab_put(ss, old[i].page, old[i].slot);
	free(old);
	return 0;
}

static void tab_delete(struct store_session *ss, struct slot_entry *e)
{
	uint64_t i = (uint64_t)(e - ss->tab), j = i;

	for (;;) {
		uint64_t home;

		j = (j + 1) & ss->mask;
		if (ss->tab[j].slot == EMPTY)
			break;
		home = hash_page(ss->tab[j].page) & ss->mask;
		/* Move j back to i unless its home lies cyclically in (i, j]. */
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && (home <= i && home > j))) {
			ss->tab[i] = ss->tab[j];
			i = j;
		}
	}
	ss->tab[i].slot = EMPTY;
	ss->n--;
}

uint64_t store_session_pages(const struct store_session *ss)
{
	return ss->n;
}

void store_session_free(struct store *st, struct store_session *ss)
{
	if (!ss)
		return;
	for (uint64_t i = 0; i <= ss->mask; i++)
		if (ss->tab[i].slot != EMPTY)
			slot_release(st, ss->tab[i].slot);
	free(ss->tab);
	free(ss);
}

int store_write(struct store *st, struct store_session *ss, uint64_t page,
		uint32_t count, const void *data, const void *tags)
{
	const uint8_t *tg = tags;
	const uint8_t *src = data;
	uint32_t slots[RMAP_MAX_PAGES];
	uint32_t fresh = 0, used = 0;

	if (count == 0 || count > RMAP_MAX_PAGES || page + count < page)
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++)
		if (!tab_find(ss, page + i))
			fresh++;
	if (st->used + fresh > st->capacity)
		return -ENOSPC;
	if (tab_grow(ss, ss->n + fresh))
		return -ENOMEM;
	/* Take every new slot before touching anything: all or nothing. */
	for (uint32_t k = 0; k < fresh; k++) {
		slots[k] = slot_alloc(st);
		if (slots[k] == EMPTY) {
			while (k--)
				slot_release(st, slots[k]);
			return -ENOMEM;
		}
	}
	for (uint32_t i = 0; i < count; i++) {
		struct slot_entry *e = tab_find(ss, page + i);
		uint32_t slot;

		if (e) {
			slot = e->slot;
		} else {
			slot = slots[used++];
			tab_put(ss, page + i, slot);
		}
		memcpy(slot_addr(st, slot), src + (size_t)i * PAGE, PAGE);
		if (tg)
			memcpy(slot_tag(st, slot), tg + (size_t)i * TAG, TAG);
		else
			memset(slot_tag(st, slot), 0, TAG);
	}
	return 0;
}

int store_read(struct store *st, struct store_session *ss, uint64_t page,
	       uint32_t count, struct iovec *iov, void *tags_out)
{
	uint8_t *tg = tags_out;

	for (uint32_t i = 0; i < count; i++) {
		struct slot_entry *e = tab_find(ss, page + i);

		if (!e)
			return -ENOENT;
		iov[i].iov_base = slot_addr(st, e->slot);
		iov[i].iov_len = PAGE;
		if (tg)
			memcpy(tg + (size_t)i * TAG, slot_tag(st, e->slot), TAG);
	}
	return 0;
}

uint64_t store_discard(struct store *st, struct store_session *ss,
		       uint64_t page, uint64_t count)
{
	uint64_t freed = 0;

	if (page + count < page)
		count = UINT64_MAX - page;
	if (count <= 2 * ss->n) {
		for (uint64_t i = 0; i < count; i++) {
			struct slot_entry *e = tab_find(ss, page + i);

			if (e) {
				slot_release(st, e->slot);
				tab_delete(ss, e);
				freed++;
			}
		}
		return freed;
	}
	/* A huge range: walk the table instead of the range. */
	for (uint64_t i = 0; i <= ss->mask;) {
		struct slot_entry *e = &ss->tab[i];

		if (e->slot != EMPTY && e->page >= page &&
		    e->page - page < count) {
			slot_release(st, e->slot);
			tab_delete(ss, e);	/* may pull a later entry here */
			freed++;
			continue;
		}
		i++;
	}
	return freed;
}

/* ---- page-group (XOR parity) operations ---- */

/* What absent pages read as, and their tags.  Never written. */
static const uint8_t zero_page[PAGE];
static const uint8_t zero_tag[TAG];

static bool run_ok(uint64_t page, uint32_t count)
{
	return count && count <= RMAP_MAX_PAGES && page + count >= page;
}

static bool page_is_zero(const uint8_t *p)
{
	return p[0] == 0 && memcmp(p, p + 1, PAGE - 1) == 0;
}

static void xor_bytes(uint8_t *dst, const uint8_t *a, const uint8_t *b,
		      unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		dst[k] = a[k] ^ b[k];
}

static void xor_page(uint8_t *dst, const uint8_t *a, const uint8_t *b)
{
	xor_bytes(dst, a, b, PAGE);
}

/* @n tags from @tags (NULL: zeros), the @i-th. */
static const uint8_t *tag_in(const uint8_t *tags, uint32_t i)
{
	return tags ? tags + (size_t)i * TAG : zero_tag;
}

int store_xwrite(struct store *st, struct store_session *ss, uint64_t page,
		 uint32_t count, const void *data, const void *tags,
		 void *delta_out, void *tag_delta_out)
{
	const uint8_t *src = data;
	uint8_t *dst = delta_out, *tdst = tag_delta_out;

	if (!run_ok(page, count))
		return -EINVAL;
	/* Every delta from the old contents first, then the write. */
	for (uint32_t i = 0; i < count; i++) {
		struct slot_entry *e = tab_find(ss, page + i);
		size_t off = (size_t)i * PAGE;

		if (e)
			xor_page(dst + off, slot_addr(st, e->slot), src + off);
		else
			memcpy(dst + off, src + off, PAGE);
		if (tdst)
			xor_bytes(tdst + (size_t)i * TAG,
				  e ? slot_tag(st, e->slot) : zero_tag,
				  tag_in(tags, i), TAG);
	}
	return store_write(st, ss, page, count, data, tags);
}

int store_xfree(struct store *st, struct store_session *ss, uint64_t page,
		uint32_t count, void *old_out, void *old_tags_out)
{
	uint8_t *dst = old_out, *tdst = old_tags_out;

	if (!run_ok(page, count))
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++) {
		struct slot_entry *e = tab_find(ss, page + i);

		memcpy(dst + (size_t)i * PAGE,
		       e ? slot_addr(st, e->slot) : zero_page, PAGE);
		if (tdst)
			memcpy(tdst + (size_t)i * TAG,
			       e ? slot_tag(st, e->slot) : zero_tag, TAG);
	}
	return (int)store_discard(st, ss, page, count);
}

/* What store_xor does to each page of its run. */
enum xor_op {
	XOR_NONE,	/* absent, and zeros come in: stays absent */
	XOR_CREATE,	/* absent: a new page holding the data */
	XOR_UPDATE,	/* stored ^= data */
	XOR_DELETE,	/* stored == data: the result is zero, drop it */
};

int store_xor(struct store *st, struct store_session *ss, uint64_t page,
	      uint32_t count, const void *data, const void *tags)
{
	const uint8_t *src = data, *tg = tags;
	uint8_t op[RMAP_MAX_PAGES];
	uint32_t pool[RMAP_MAX_PAGES];	/* slots to reuse, then new ones */
	uint32_t fresh = 0, dropped = 0, need, npool = 0;

	if (!run_ok(page, count))
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++) {
		struct slot_entry *e = tab_find(ss, page + i);
		const uint8_t *d = src + (size_t)i * PAGE;

		if (!e) {
			op[i] = page_is_zero(d) && !memcmp(tag_in(tg, i),
							  zero_tag, TAG) ?
				XOR_NONE : XOR_CREATE;
			fresh += op[i] == XOR_CREATE;
		} else if (!memcmp(slot_addr(st, e->slot), d, PAGE) &&
			   !memcmp(slot_tag(st, e->slot), tag_in(tg, i), TAG)) {
			op[i] = XOR_DELETE;
			dropped++;
		} else {
			op[i] = XOR_UPDATE;
		}
	}
	/* The slots of deleted pages serve the created ones first. */
	need = fresh > dropped ? fresh - dropped : 0;
	if (st->used + need > st->capacity)
		return -ENOSPC;
	if (tab_grow(ss, ss->n + fresh))
		return -ENOMEM;
	/* Take every new slot before touching anything: all or nothing. */
	for (uint32_t k = 0; k < need; k++) {
		pool[k] = slot_alloc(st);
		if (pool[k] == EMPTY) {
			while (k--)
				slot_release(st, pool[k]);
			return -ENOMEM;
		}
	}
	npool = need;
	/* Deletions first, so that their slots are in the pool. */
	for (uint32_t i = 0; i < count; i++) {
		struct slot_entry *e;

		if (op[i] != XOR_DELETE)
			continue;
		e = tab_find(ss, page + i);
		pool[npool++] = e->slot;
		tab_delete(ss, e);
	}
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *d = src + (size_t)i * PAGE;
		struct slot_entry *e;
		uint32_t slot;

		if (op[i] == XOR_UPDATE) {
			e = tab_find(ss, page + i);
			xor_page(slot_addr(st, e->slot),
				 slot_addr(st, e->slot), d);
			xor_bytes(slot_tag(st, e->slot), slot_tag(st, e->slot),
				  tag_in(tg, i), TAG);
		} else if (op[i] == XOR_CREATE) {
			slot = pool[--npool];
			tab_put(ss, page + i, slot);
			memcpy(slot_addr(st, slot), d, PAGE);
			memcpy(slot_tag(st, slot), tag_in(tg, i), TAG);
		}
	}
	/* Deleted pages' slots that no created page took. */
	while (npool)
		slot_release(st, pool[--npool]);
	return 0;
}

int store_read_zero(struct store *st, struct store_session *ss,
		    uint64_t page, uint32_t count, struct iovec *iov,
		    void *tags_out)
{
	uint8_t *tg = tags_out;

	if (!run_ok(page, count))
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++) {
		struct slot_entry *e = tab_find(ss, page + i);

		iov[i].iov_base = e ? slot_addr(st, e->slot) :
				      (void *)zero_page;
		iov[i].iov_len = PAGE;
		if (tg)
			memcpy(tg + (size_t)i * TAG,
			       e ? slot_tag(st, e->slot) : zero_tag, TAG);
	}
	return 0;
}
