/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store.h - the pages a memory server holds for its clients.
 *
 * Pages are keyed by (session, page number): a *reference*.  Page bodies
 * live in 4 KiB slots (slots.h), mapped lazily in 2 MiB pieces, or all
 * at once and locked (store_reserve); each session maps its page
 * numbers to slots with an open-addressing table.
 * The capacity is a hard limit on slots: a write that would exceed it is
 * refused whole, never partly applied.
 *
 * Dedup: one slot may hold the page of many references, of any session
 * of any client, parity pages included.  Every slot is indexed by a
 * 64-bit hash of its bytes (XXH3); a page written is hashed, looked up,
 * and shares a slot only if the bytes compare equal, never on the hash
 * alone.  Each slot counts its references.  Writing, XORing or freeing
 * a reference to a shared slot takes a slot of its own (copy on write)
 * or drops a count; a slot is rewritten in place only when no other
 * reference holds it, and is indexed again by its new contents (sharing
 * an equal slot if there is one).  So no session can change, or see
 * change, another's page.  The capacity, used (store_used) and FULL
 * count unique pages, exactly: a write of pages already held needs no
 * room.  References are bounded too: at most REFS_PER_CAPACITY_PAGE per
 * page of capacity, past which a write adding references is -ENOSPC.
 * store_set_dedup(off) keeps every page in a slot of its own, as before.
 *
 * Beside each reference the store keeps its tag: RMAP_TAG_LEN opaque
 * bytes (a MAC its client computed, rmap(7)), in the session's table
 * entry, never in the slot: two references to one slot keep their own
 * tags.  Where a call takes tags, NULL means zeros; where it gives them,
 * NULL means "not wanted".  The XOR operations XOR the tags as they XOR
 * the pages, so a parity page's tag is the XOR of its row's tags.
 *
 * What it costs beside the pages, none of it counted against the
 * capacity: per reference, a 32-byte table entry (page, slot, tag) at a
 * load of 1/4 to 1/2, 64 to 128 bytes (was 32 to 64, plus 16 bytes of tag
 * per slot), and while a table grows, the old one beside it until its
 * entries have moved (reftab.h); per slot, 16 bytes (hash and count, in place of the tag);
 * and the index, 4 bytes a bucket, 2 to 4 buckets per page of capacity.
 * With dedup off, per page: 80 to 144 bytes (2 to 3.5% of it); with dedup
 * on and every reference distinct, 88 to 160 (2.1 to 3.9%), and at most
 * REFS_PER_CAPACITY_PAGE times the per-reference cost if pages are
 * shared that much (then they save more than they cost).  CPU: each
 * page written or XORed is hashed and, on a hash match, compared:
 * store_stats() says how long that took.
 */
#ifndef MEMX_STORE_H
#define MEMX_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

/* References at most, per page of capacity: bounds the metadata. */
#define REFS_PER_CAPACITY_PAGE	4u

struct store;
struct store_session;

/* A new store, dedup on. */
int store_new(struct store **st, uint64_t capacity_pages);
void store_free(struct store *st);
/*
 * Map every slot of the capacity now, touched and locked (mlock(2)), so
 * that what the server lends exists before any client writes: no page
 * needs memory later that an overcommitted host may not have (the
 * session tables still grow), the host's own swap never takes a page,
 * and no slot's first write waits for the kernel to find and zero it.
 * Slots freed later keep their memory.  @progress, if not NULL, is told
 * the bytes locked so far and the total after every step.  Only before
 * the store's first write (-EBUSY after).  0, or -errno from mmap or
 * mlock (ENOMEM, EAGAIN, EPERM: RLIMIT_MEMLOCK or the host's memory),
 * the store then as it was.
 */
typedef void (*store_progress_fn)(uint64_t done, uint64_t total, void *arg);
int store_reserve(struct store *st, store_progress_fn progress, void *arg);
bool store_reserved(const struct store *st);
/* Bytes of the reserve on huge pages now, or -errno: slots.h. */
int64_t store_reserved_huge_bytes(const struct store *st);
/* Dedup on or off: only while the store holds no page, else -EBUSY. */
int store_set_dedup(struct store *st, bool on);
/*
 * A TEST HOOK: hash pages with @fn instead of XXH3 (NULL: XXH3 again),
 * e.g. a constant, to show that pages whose hashes collide are shared
 * only if their bytes are equal.  Set it while the store is empty.
 */
typedef uint64_t (*store_hash_fn)(const void *page);
void store_set_hash_for_tests(struct store *st, store_hash_fn fn);

/*
 * A session whose table has at most this many buckets (1 MiB, up to
 * 16,384 references: two slices' walk, some 5 ms) is freed at once; a
 * larger one over many calls of store_give_back.  A table that is
 * growing has two parts (reftab.h): what is left of the old one counts
 * too.
 */
#define STORE_FREE_AT_ONCE	(1u << 15)
/* Buckets of a freed session's table store_give_back walks for a page. */
#define STORE_WALK_PER_PAGE	2u

struct store_session *store_session_new(struct store *st);
/*
 * Frees every page of the session, and the session: no call may name it
 * again.  A large session's references are dropped later, a slice at a
 * time, by store_give_back: until then its pages stay in use (and may
 * still be shared by a write of the same bytes), except that a write
 * that finds no room drops them all first.  The memory of many slots
 * freed at once (here or by store_discard) is given back later too,
 * also by store_give_back: until then they are neither used nor lost,
 * and a write takes them first.
 */
void store_session_free(struct store *st, struct store_session *ss);
/*
 * About @max_pages pages' worth of that work, a kind a call: walk the
 * tables of freed sessions (STORE_WALK_PER_PAGE buckets for a page),
 * their memory given back as they are walked, or, once no walk is under
 * way, give back the memory of slots set aside (slots.h).  True while some remains (@max_pages 0 only asks;
 * UINT64_MAX does it all).
 */
bool store_give_back(struct store *st, uint64_t max_pages);
uint64_t store_session_pages(const struct store_session *ss);

/*
 * Store @count pages from @data at @page, with @count tags from @tags.
 * All or nothing: -ENOSPC if the new unique pages do not fit (a page
 * equal to one held, or to another of the run, needs no room; one that
 * replaces the last reference to a slot frees room), or the references
 * would pass REFS_PER_CAPACITY_PAGE per page of capacity; -ENOMEM if
 * memory cannot be had; nothing changes.
 */
int store_write(struct store *st, struct store_session *ss, uint64_t page,
		uint32_t count, const void *data, const void *tags);
/*
 * Point @iov[0..count) at the stored pages, and copy their tags into
 * @tags_out.  -ENOENT if any is missing.  The pointers stay valid until
 * the next write or free of the session (another session's never
 * changes a slot this one holds).
 */
int store_read(struct store *st, struct store_session *ss, uint64_t page,
	       uint32_t count, struct iovec *iov, void *tags_out);
/* Discard pages in [page, page + count); returns how many were stored. */
uint64_t store_discard(struct store *st, struct store_session *ss,
		       uint64_t page, uint64_t count);

/*
 * The page-group (XOR parity) operations.  To them an absent page and an
 * all-zero page are the same thing.  @data and the output buffers hold
 * @count * 4096 bytes and must not overlap; @count is 1..RMAP_MAX_PAGES
 * and the run must not wrap, else -EINVAL and nothing happens.
 */

/*
 * store_write, which also puts old ^ new of each page into @delta_out,
 * and of each tag into @tag_delta_out (an absent old page counts as
 * zeros, its tag too).  The deltas come from the old contents, before
 * any page is overwritten.  All or nothing, with the errors of
 * store_write; the deltas are undefined on error.
 */
int store_xwrite(struct store *st, struct store_session *ss, uint64_t page,
		 uint32_t count, const void *data, const void *tags,
		 void *delta_out, void *tag_delta_out);
/*
 * Copy the run's old contents into @old_out and their tags into
 * @old_tags_out (absent pages as zeros), then discard the run.  Returns
 * how many pages were stored, or -EINVAL.
 */
int store_xfree(struct store *st, struct store_session *ss, uint64_t page,
		uint32_t count, void *old_out, void *old_tags_out);
/*
 * stored ^= @data and its tag ^= @tags, page by page: an absent page is
 * created holding its @data and tag, and a page whose result is all
 * zeros, tag included, is deleted.  All or nothing: -ENOSPC if the pages
 * to create do not fit (pages deleted by the same call make room),
 * -ENOMEM if memory cannot be had; nothing changes.
 */
int store_xor(struct store *st, struct store_session *ss, uint64_t page,
	      uint32_t count, const void *data, const void *tags);
/*
 * store_read, where an absent page reads as zeros (and a zero tag):
 * @iov[i] then points at a shared, read-only zero page.  Never -ENOENT;
 * 0 or -EINVAL.
 */
int store_read_zero(struct store *st, struct store_session *ss,
		    uint64_t page, uint32_t count, struct iovec *iov,
		    void *tags_out);

uint64_t store_capacity(const struct store *st);
/* Slots in use: unique pages. */
uint64_t store_used(const struct store *st);

struct store_stats {
	uint64_t capacity_pages;
	uint64_t unique_pages;		/* slots in use: store_used() */
	uint64_t logical_pages;		/* references, all sessions */
	uint64_t hashed_pages;		/* pages hashed to find a share */
	uint64_t hash_ns;		/* time spent hashing and comparing */
	uint64_t give_back_pages;	/* freed, memory not yet given back:
					 * store_give_back() */
	uint64_t freeing_pages;		/* references of freed sessions not
					 * yet dropped: store_give_back() */
	uint64_t freed_pages;		/* references of freed sessions
					 * dropped, at once or walked, ever */
	uint64_t given_back_total;	/* pages given back, ever */
	bool dedup;
	bool reserved;			/* store_reserve() */
};
void store_stats(const struct store *st, struct store_stats *out);

#endif
