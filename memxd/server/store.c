// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * store.c - the page store, see store.h: sessions and their references,
 * a content index that lets equal pages share a slot (dedup), and the
 * runs written, read and XORed through them.  A session's table of
 * references: reftab.h.  The slots themselves, their memory and their
 * allocation: slots.h.
 */
#include "store.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "../../rmap/wire.h"
#include "reftab.h"
#include "slots.h"

/* Buckets of a dying session's table walked per page a slice may give back. */
#define WALK_PER_PAGE	STORE_WALK_PER_PAGE
#define PAGE		RMAP_PAGE_SIZE
#define TAG		RMAP_TAG_LEN
/*
 * A slot shared this often takes no more references, so that its count
 * never wraps, even when one run adds RMAP_MAX_PAGES at once.
 */
#define SLOT_REFS_MAX	(UINT32_MAX - RMAP_MAX_PAGES)
/* Buckets of the per-call table that finds equal pages within a run. */
#define RUN_BUCKETS	(2u * RMAP_MAX_PAGES)

/*
 * What one write-like call (store_write, store_xwrite, store_xor) does
 * to each page of its run, planned in full before anything changes so
 * that it is all or nothing.
 */
struct run_plan {
	const uint8_t *data[RMAP_MAX_PAGES];	/* new contents, or NULL */
	const uint8_t *tag[RMAP_MAX_PAGES];
	uint64_t hash[RMAP_MAX_PAGES];
	uint32_t old[RMAP_MAX_PAGES];	/* slot held now, or SLOT_NONE */
	uint32_t share[RMAP_MAX_PAGES];	/* held slot with these bytes */
	uint32_t same_as[RMAP_MAX_PAGES]; /* first page of the run with
					   * these bytes (itself if none) */
	uint32_t slot[RMAP_MAX_PAGES];	/* where new contents went */
	uint32_t pool[RMAP_MAX_PAGES];	/* slots to (re)fill */
	uint16_t run_index[RUN_BUCKETS];	/* page + 1; 0: empty */
};

struct store {
	uint64_t capacity;
	uint64_t logical;	/* references, over every session */
	struct slots *slots;	/* the pages themselves: slots.h */
	/*
	 * The content index: slot + 1 per bucket (0: empty), linear
	 * probing by the slot's hash.  At least twice as many buckets as
	 * the capacity has pages, so never more than half full.  NULL:
	 * dedup is off.
	 */
	uint32_t *index;
	uint64_t index_mask;
	/*
	 * Sessions freed and not yet walked (store_session_free): their
	 * references are dropped a slice at a time by store_give_back,
	 * oldest first, inside one slots_release_many_begin/end.
	 */
	struct store_session *dying, **dying_tail;
	uint64_t dying_refs;	/* references they still hold */
	uint64_t freed_refs;	/* references of ended sessions dropped,
				 * at once or by a walk, ever */
	store_hash_fn hash;
	uint64_t hashed_pages, hash_ns;
	struct run_plan plan;
	uint8_t *xor_pages;	/* store_xor's results, RMAP_MAX_PAGES */
	uint8_t xor_tags[RMAP_MAX_PAGES * TAG];
};

struct store_session {
	struct reftab refs;	/* its references: reftab.h */
	/* Once freed and dying: the next, and the buckets walked. */
	struct store_session *next;
	uint64_t walked;
};

static uint64_t xxh3_page(const void *page)
{
	return XXH3_64bits(page, PAGE);
}

static int index_new(struct store *st)
{
	uint64_t size = 1;

	while (size < 2 * st->capacity)
		size *= 2;
	/* calloc of this size maps zero pages: touched as it fills. */
	st->index = calloc(size, sizeof(*st->index));
	if (!st->index)
		return -ENOMEM;
	st->index_mask = size - 1;
	return 0;
}

int store_new(struct store **out, uint64_t capacity_pages)
{
	struct store *st;
	int err;

	if (capacity_pages == 0 || capacity_pages >= UINT32_MAX)
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->capacity = capacity_pages;
	st->hash = xxh3_page;
	err = slots_new(&st->slots, capacity_pages);
	if (!err)
		err = index_new(st);
	if (err) {
		slots_free(st->slots);
		free(st);
		return err;
	}
	*out = st;
	return 0;
}

void store_free(struct store *st)
{
	if (!st)
		return;
	while (st->dying) {
		struct store_session *ss = st->dying;

		st->dying = ss->next;
		reftab_fini(&ss->refs);
		free(ss);
	}
	slots_free(st->slots);
	free(st->index);
	free(st->xor_pages);
	free(st);
}

int store_reserve(struct store *st, store_progress_fn progress, void *arg)
{
	return slots_reserve(st->slots, progress, arg);
}

bool store_reserved(const struct store *st)
{
	return slots_reserved(st->slots);
}

static void walk_dying(struct store *st, uint64_t budget);

bool store_give_back(struct store *st, uint64_t max_pages)
{
	/*
	 * A reference dropped costs about as much as a page given back
	 * (0.3 µs, with dedup's index), and a table is two to four buckets
	 * a reference: a slice of either takes about as long, 1 to 3 ms
	 * for 8,192 pages (make bench-store).
	 */
	bool all = max_pages >= UINT64_MAX / WALK_PER_PAGE;

	if (st->dying) {
		walk_dying(st, all ? UINT64_MAX : max_pages * WALK_PER_PAGE);
		if (!all)
			return st->dying || slots_to_give_back(st->slots);
	}
	return slots_give_back(st->slots, max_pages);
}

int64_t store_reserved_huge_bytes(const struct store *st)
{
	return slots_reserved_huge_bytes(st->slots);
}

int store_set_dedup(struct store *st, bool on)
{
	if (on == !!st->index)
		return 0;
	if (st->logical)
		return -EBUSY;
	if (!on) {
		free(st->index);
		st->index = NULL;
		return 0;
	}
	return index_new(st);
}

void store_set_hash_for_tests(struct store *st, store_hash_fn fn)
{
	st->hash = fn ? fn : xxh3_page;
}

uint64_t store_capacity(const struct store *st)
{
	return st->capacity;
}

uint64_t store_used(const struct store *st)
{
	return slots_used(st->slots);
}

void store_stats(const struct store *st, struct store_stats *out)
{
	*out = (struct store_stats){
		.capacity_pages = st->capacity,
		.unique_pages = slots_used(st->slots),
		.logical_pages = st->logical,
		.hashed_pages = st->hashed_pages,
		.hash_ns = st->hash_ns,
		.give_back_pages = slots_to_give_back(st->slots),
		.freeing_pages = st->dying_refs,
		.freed_pages = st->freed_refs,
		.given_back_total = slots_given_back(st->slots),
		.dedup = st->index != NULL,
		.reserved = slots_reserved(st->slots),
	};
}

/* ---- the content index ---- */

/* A stored slot holding @data (hash @h) that can take a reference. */
static uint32_t index_find(struct store *st, uint64_t h, const uint8_t *data)
{
	for (uint64_t i = h & st->index_mask;; i = (i + 1) & st->index_mask) {
		uint32_t b = st->index[i];
		const struct slot_meta *m;

		if (!b)
			return SLOT_NONE;
		m = slots_meta(st->slots, b - 1);
		/* The bytes decide, never the hash alone. */
		if (m->hash == h && m->refs < SLOT_REFS_MAX &&
		    !memcmp(slots_addr(st->slots, b - 1), data, PAGE))
			return b - 1;
	}
}

static void index_insert(struct store *st, uint32_t slot)
{
	uint64_t i = slots_meta(st->slots, slot)->hash & st->index_mask;

	while (st->index[i])
		i = (i + 1) & st->index_mask;
	st->index[i] = slot + 1;
}

/* By the hash kept at insertion: found even if the bytes rotted since. */
static void index_remove(struct store *st, uint32_t slot)
{
	uint64_t mask = st->index_mask;
	uint64_t i = slots_meta(st->slots, slot)->hash & mask, j;

	while (st->index[i] != slot + 1)
		i = (i + 1) & mask;
	for (j = i;;) {
		uint64_t home;

		j = (j + 1) & mask;
		if (!st->index[j])
			break;
		home = slots_meta(st->slots, st->index[j] - 1)->hash & mask;
		if (probe_may_fill(i, j, home)) {
			st->index[i] = st->index[j];
			i = j;
		}
	}
	st->index[i] = 0;
}

/* One reference to @slot fewer; the last one frees it. */
static void slot_unref(struct store *st, uint32_t slot)
{
	st->logical--;
	if (--slots_meta(st->slots, slot)->refs)
		return;
	if (st->index)
		index_remove(st, slot);
	slots_release(st->slots, slot);
}

/* ---- sessions ---- */

struct store_session *store_session_new(struct store *st)
{
	struct store_session *ss = calloc(1, sizeof(*ss));

	(void)st;
	if (!ss)
		return NULL;
	if (reftab_init(&ss->refs)) {
		free(ss);
		return NULL;
	}
	return ss;
}

uint64_t store_session_pages(const struct store_session *ss)
{
	return ss->refs.n;
}

/* Drop the references in buckets [from, end) of @ss: how many there were. */
static uint64_t unref_span(struct store *st, struct store_session *ss,
			   uint64_t from, uint64_t end)
{
	uint64_t n = 0;

	for (uint64_t i = from; i < end; i++) {
		const struct ref *e = reftab_at(&ss->refs, i);

		if (e) {
			slot_unref(st, e->slot);
			n++;
		}
	}
	return n;
}

/*
 * Drop the references of the dying sessions, walking at most @budget
 * buckets of their tables, and give back the memory of the part of a
 * table walked as the walk goes: the kernel took 6 ms to take back the
 * 64 MiB table of a million references in one go.  Their slots are set
 * aside as they are released, to give back when the walk is over.
 */
static void walk_dying(struct store *st, uint64_t budget)
{
	uint64_t walked = 0;

	while (st->dying && walked < budget) {
		struct store_session *ss = st->dying;
		uint64_t span = reftab_span(&ss->refs), end = span, n;

		if (end - ss->walked > budget - walked)
			end = ss->walked + (budget - walked);
		walked += end - ss->walked;
		n = unref_span(st, ss, ss->walked, end);
		reftab_let_go(&ss->refs, ss->walked, end);
		st->dying_refs -= n;
		st->freed_refs += n;
		ss->walked = end;
		if (end < span)
			break;
		st->dying = ss->next;
		if (!st->dying) {
			st->dying_tail = &st->dying;
			slots_release_many_end(st->slots);
		}
		reftab_fini(&ss->refs);
		free(ss);
	}
}

void store_session_free(struct store *st, struct store_session *ss)
{
	if (!ss)
		return;
	if (reftab_span(&ss->refs) <= STORE_FREE_AT_ONCE) {
		slots_release_many_begin(st->slots);
		st->freed_refs += unref_span(st, ss, 0, reftab_span(&ss->refs));
		slots_release_many_end(st->slots);
		reftab_fini(&ss->refs);
		free(ss);
		return;
	}
	/* A walk under way goes on with this one. */
	if (!st->dying) {
		slots_release_many_begin(st->slots);
		st->dying_tail = &st->dying;
	}
	ss->next = NULL;
	ss->walked = 0;
	*st->dying_tail = ss;
	st->dying_tail = &ss->next;
	st->dying_refs += ss->refs.n;
}

/* ---- writing a run: plan, then apply ---- */

/* What absent pages read as, and their tags.  Never written. */
static const uint8_t zero_page[PAGE];
static const uint8_t zero_tag[TAG];

static bool run_ok(uint64_t page, uint32_t count)
{
	return count && count <= RMAP_MAX_PAGES && page + count >= page;
}

/* @n tags from @tags (NULL: zeros), the @i-th. */
static const uint8_t *tag_in(const uint8_t *tags, uint32_t i)
{
	return tags ? tags + (size_t)i * TAG : zero_tag;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* An earlier page of the run needing a new slot for @i's bytes, or @i. */
static uint32_t run_same_as(struct run_plan *p, uint32_t i)
{
	uint32_t k = p->hash[i] % RUN_BUCKETS;

	for (;; k = (k + 1) % RUN_BUCKETS) {
		uint32_t j = p->run_index[k];

		if (!j) {
			p->run_index[k] = (uint16_t)(i + 1);
			return i;
		}
		if (p->hash[j - 1] == p->hash[i] &&
		    !memcmp(p->data[j - 1], p->data[i], PAGE))
			return j - 1;
	}
}

/*
 * Which pages of the plan can share a stored slot (share), or another
 * page of the run (same_as).  Only this costs dedup anything on a
 * write: it is timed.
 */
static void plan_shares(struct store *st, struct run_plan *p, uint32_t count)
{
	uint64_t t0, hashed = 0;

	for (uint32_t i = 0; i < count; i++) {
		p->share[i] = SLOT_NONE;
		p->same_as[i] = i;
	}
	if (!st->index)
		return;
	t0 = now_ns();
	memset(p->run_index, 0, sizeof(p->run_index));
	for (uint32_t i = 0; i < count; i++) {
		if (!p->data[i])
			continue;
		p->hash[i] = st->hash(p->data[i]);
		hashed++;
		p->share[i] = index_find(st, p->hash[i], p->data[i]);
		if (p->share[i] == SLOT_NONE)
			p->same_as[i] = run_same_as(p, i);
	}
	st->hashed_pages += hashed;
	st->hash_ns += now_ns() - t0;
}

/* Undo the plan's reference counts: what run_apply found would not do. */
static void plan_revert(struct store *st, const struct run_plan *p,
			uint32_t count)
{
	for (uint32_t i = 0; i < count; i++)
		if (p->old[i] != SLOT_NONE)
			slots_meta(st->slots, p->old[i])->refs++;
	for (uint32_t i = 0; i < count; i++)
		if (p->data[i] && p->share[i] != SLOT_NONE)
			slots_meta(st->slots, p->share[i])->refs--;
}

/*
 * A slot for new contents: the reference's own old slot if nobody else
 * holds it (an overwrite in place), else one from the pool.
 */
static uint32_t take_slot(struct store *st, struct run_plan *p, uint32_t i,
			  uint32_t *npool)
{
	uint32_t old = p->old[i];

	if (old != SLOT_NONE && !slots_meta(st->slots, old)->refs)
		return old;
	/* Skip pool slots already taken in place. */
	while (slots_meta(st->slots, p->pool[*npool - 1])->refs)
		--*npool;
	return p->pool[--*npool];
}

/*
 * Make each page of the run hold what st->plan says (data NULL: no page
 * there), sharing every stored slot with the same bytes.  All or
 * nothing: -ENOSPC if the unique pages it adds do not fit, or the
 * references would pass REFS_PER_CAPACITY_PAGE times the capacity;
 * -ENOMEM if memory cannot be had.
 */
static int run_apply(struct store *st, struct store_session *ss,
		     uint64_t page, uint32_t count)
{
	struct run_plan *p = &st->plan;
	uint32_t fresh = 0, added = 0, dropped = 0, nzeroed = 0, npool;
	uint64_t logical;

	for (uint32_t i = 0; i < count; i++) {
		struct ref *e = reftab_find(&ss->refs, page + i);

		p->old[i] = e ? e->slot : SLOT_NONE;
	}
	plan_shares(st, p, count);
	for (uint32_t i = 0; i < count; i++) {
		if (!p->data[i]) {
			dropped += p->old[i] != SLOT_NONE;
			continue;
		}
		added += p->old[i] == SLOT_NONE;
		fresh += p->share[i] == SLOT_NONE && p->same_as[i] == i;
	}
	logical = st->logical + added - dropped;
	if (added > dropped &&
	    logical > REFS_PER_CAPACITY_PAGE * st->capacity)
		return -ENOSPC;
	/*
	 * The counts as they will be: shares first, so that a slot this
	 * run lets go of and shares again is never seen free.  The slots
	 * nobody will hold (zeroed) make room for the new contents.
	 */
	for (uint32_t i = 0; i < count; i++)
		if (p->data[i] && p->share[i] != SLOT_NONE)
			slots_meta(st->slots, p->share[i])->refs++;
	for (uint32_t i = 0; i < count; i++)
		if (p->old[i] != SLOT_NONE &&
		    !--slots_meta(st->slots, p->old[i])->refs)
			p->pool[nzeroed++] = p->old[i];
	if (slots_used(st->slots) + fresh > st->capacity + nzeroed) {
		plan_revert(st, p, count);
		return -ENOSPC;
	}
	if (reftab_reserve(&ss->refs, ss->refs.n + added)) {
		plan_revert(st, p, count);
		return -ENOMEM;
	}
	/* Take every new slot before touching anything. */
	for (npool = nzeroed; npool < fresh; npool++) {
		p->pool[npool] = slots_alloc(st->slots);
		if (p->pool[npool] == SLOT_NONE) {
			while (npool > nzeroed)
				slots_release(st->slots, p->pool[--npool]);
			plan_revert(st, p, count);
			return -ENOMEM;
		}
		slots_meta(st->slots, p->pool[npool])->refs = 0;
	}
	/* Nothing fails from here on. */
	if (st->index)
		for (uint32_t k = 0; k < nzeroed; k++)
			index_remove(st, p->pool[k]);
	for (uint32_t i = 0; i < count; i++) {
		struct ref *e;
		uint32_t slot;

		if (!p->data[i]) {
			if (p->old[i] != SLOT_NONE)
				reftab_delete(&ss->refs,
					      reftab_find(&ss->refs, page + i));
			continue;
		}
		if (p->share[i] != SLOT_NONE) {
			slot = p->share[i];
		} else if (p->same_as[i] != i) {
			slot = p->slot[p->same_as[i]];
			slots_meta(st->slots, slot)->refs++;
		} else {
			slot = take_slot(st, p, i, &npool);
			memcpy(slots_addr(st->slots, slot), p->data[i], PAGE);
			slots_meta(st->slots, slot)->refs = 1;
			if (st->index) {
				slots_meta(st->slots, slot)->hash = p->hash[i];
				index_insert(st, slot);
			}
		}
		p->slot[i] = slot;
		e = p->old[i] != SLOT_NONE ?
		    reftab_find(&ss->refs, page + i) :
		    reftab_insert(&ss->refs, page + i);
		e->slot = slot;
		memcpy(e->tag, p->tag[i], TAG);
	}
	/* Let go of the old slots that no new contents took. */
	while (npool--)
		if (!slots_meta(st->slots, p->pool[npool])->refs)
			slots_release(st->slots, p->pool[npool]);
	st->logical = logical;
	return 0;
}

/*
 * run_apply, and again once the dying sessions are walked to their end
 * if it found no room: what they still hold is no longer anybody's.
 */
static int run_apply_room(struct store *st, struct store_session *ss,
			  uint64_t page, uint32_t count)
{
	int err = run_apply(st, ss, page, count);

	if (err == -ENOSPC && st->dying) {
		walk_dying(st, UINT64_MAX);
		err = run_apply(st, ss, page, count);
	}
	return err;
}

int store_write(struct store *st, struct store_session *ss, uint64_t page,
		uint32_t count, const void *data, const void *tags)
{
	const uint8_t *src = data;

	if (!run_ok(page, count))
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++) {
		st->plan.data[i] = src + (size_t)i * PAGE;
		st->plan.tag[i] = tag_in(tags, i);
	}
	return run_apply_room(st, ss, page, count);
}

int store_read(struct store *st, struct store_session *ss, uint64_t page,
	       uint32_t count, struct iovec *iov, void *tags_out)
{
	uint8_t *tg = tags_out;

	for (uint32_t i = 0; i < count; i++) {
		struct ref *e = reftab_find(&ss->refs, page + i);

		if (!e)
			return -ENOENT;
		iov[i].iov_base = slots_addr(st->slots, e->slot);
		iov[i].iov_len = PAGE;
		if (tg)
			memcpy(tg + (size_t)i * TAG, e->tag, TAG);
	}
	return 0;
}

uint64_t store_discard(struct store *st, struct store_session *ss,
		       uint64_t page, uint64_t count)
{
	uint64_t freed = 0;

	if (page + count < page)
		count = UINT64_MAX - page;
	slots_release_many_begin(st->slots);
	if (count <= 2 * ss->refs.n) {
		for (uint64_t i = 0; i < count; i++) {
			struct ref *e = reftab_find(&ss->refs, page + i);

			if (e) {
				slot_unref(st, e->slot);
				reftab_delete(&ss->refs, e);
				freed++;
			}
		}
	} else {
		/* A huge range: walk the table instead of the range. */
		reftab_finish(&ss->refs);
		for (uint64_t i = 0; i < reftab_span(&ss->refs);) {
			struct ref *e = reftab_at(&ss->refs, i);

			if (e && e->page >= page && e->page - page < count) {
				slot_unref(st, e->slot);
				/* may pull a later entry here */
				reftab_delete(&ss->refs, e);
				freed++;
				continue;
			}
			i++;
		}
	}
	slots_release_many_end(st->slots);
	return freed;
}

/* ---- page-group (XOR parity) operations ---- */

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

int store_xwrite(struct store *st, struct store_session *ss, uint64_t page,
		 uint32_t count, const void *data, const void *tags,
		 void *delta_out, void *tag_delta_out)
{
	const uint8_t *src = data;
	uint8_t *dst = delta_out, *tdst = tag_delta_out;

	if (!run_ok(page, count))
		return -EINVAL;
	/*
	 * Every delta from this reference's old contents first, then the
	 * write (which leaves any other reference to them as it was).
	 */
	for (uint32_t i = 0; i < count; i++) {
		struct ref *e = reftab_find(&ss->refs, page + i);
		size_t off = (size_t)i * PAGE;

		if (e)
			xor_page(dst + off, slots_addr(st->slots, e->slot),
				 src + off);
		else
			memcpy(dst + off, src + off, PAGE);
		if (tdst)
			xor_bytes(tdst + (size_t)i * TAG,
				  e ? e->tag : zero_tag, tag_in(tags, i), TAG);
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
		struct ref *e = reftab_find(&ss->refs, page + i);

		memcpy(dst + (size_t)i * PAGE,
		       e ? slots_addr(st->slots, e->slot) : zero_page, PAGE);
		if (tdst)
			memcpy(tdst + (size_t)i * TAG,
			       e ? e->tag : zero_tag, TAG);
	}
	return (int)store_discard(st, ss, page, count);
}

int store_xor(struct store *st, struct store_session *ss, uint64_t page,
	      uint32_t count, const void *data, const void *tags)
{
	const uint8_t *src = data, *tg = tags;
	struct run_plan *p = &st->plan;

	if (!run_ok(page, count))
		return -EINVAL;
	if (!st->xor_pages) {
		st->xor_pages = malloc((size_t)RMAP_MAX_PAGES * PAGE);
		if (!st->xor_pages)
			return -ENOMEM;
	}
	/*
	 * Each page's result, as a write of it: an absent page gets the
	 * data (zeros and a zero tag stay absent), a page and tag XORed to
	 * zero go, any other gets stored ^ data in a slot of its own if it
	 * shared one (copy on write) or in place if not.
	 */
	for (uint32_t i = 0; i < count; i++) {
		struct ref *e = reftab_find(&ss->refs, page + i);
		const uint8_t *d = src + (size_t)i * PAGE, *t = tag_in(tg, i);
		uint8_t *x = st->xor_pages + (size_t)i * PAGE;
		uint8_t *xt = st->xor_tags + (size_t)i * TAG;

		p->data[i] = NULL;
		p->tag[i] = t;
		if (!e) {
			if (!page_is_zero(d) || memcmp(t, zero_tag, TAG))
				p->data[i] = d;
		} else if (memcmp(slots_addr(st->slots, e->slot), d, PAGE) ||
			   memcmp(e->tag, t, TAG)) {
			xor_page(x, slots_addr(st->slots, e->slot), d);
			xor_bytes(xt, e->tag, t, TAG);
			p->data[i] = x;
			p->tag[i] = xt;
		}
	}
	return run_apply_room(st, ss, page, count);
}

int store_read_zero(struct store *st, struct store_session *ss,
		    uint64_t page, uint32_t count, struct iovec *iov,
		    void *tags_out)
{
	uint8_t *tg = tags_out;

	if (!run_ok(page, count))
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++) {
		struct ref *e = reftab_find(&ss->refs, page + i);

		iov[i].iov_base = e ? slots_addr(st->slots, e->slot) :
				      (void *)zero_page;
		iov[i].iov_len = PAGE;
		if (tg)
			memcpy(tg + (size_t)i * TAG,
			       e ? e->tag : zero_tag, TAG);
	}
	return 0;
}
