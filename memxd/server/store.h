/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store.h - the pages a memory server holds for its clients.
 *
 * Pages are keyed by (session, page number).  Page bodies live in a slab
 * of 4 KiB slots, allocated lazily in 1 MiB chunks; each session maps its
 * page numbers to slots with an open-addressing table, about 12 bytes of
 * overhead per stored page.  The capacity is a hard limit: a write that
 * would exceed it is refused whole, never partly applied.
 *
 * Beside each page the store keeps its tag: RMAP_TAG_LEN opaque bytes
 * (a MAC its client computed, rmap(7)), per reference, never mixed into
 * the page.  Tags live in a 4 KiB array per 1 MiB chunk of slots,
 * allocated with the chunk: 16 bytes per slot, bounded by the capacity
 * like the table is (0.4% of it), so they are not counted against it.
 * Where a call takes tags, NULL means zeros; where it gives them, NULL
 * means "not wanted".  The XOR operations XOR the tags as they XOR the
 * pages, so a parity page's tag is the XOR of its row's tags.
 */
#ifndef MEMX_STORE_H
#define MEMX_STORE_H

#include <stdint.h>
#include <sys/uio.h>

struct store;
struct store_session;

int store_new(struct store **st, uint64_t capacity_pages);
void store_free(struct store *st);

struct store_session *store_session_new(struct store *st);
/* Frees every page of the session, then the session. */
void store_session_free(struct store *st, struct store_session *ss);
uint64_t store_session_pages(const struct store_session *ss);

/*
 * Store @count pages from @data at @page, with @count tags from @tags.
 * All or nothing: -ENOSPC if the new pages do not fit, -ENOMEM if memory
 * cannot be had; nothing changes.
 */
int store_write(struct store *st, struct store_session *ss, uint64_t page,
		uint32_t count, const void *data, const void *tags);
/*
 * Point @iov[0..count) at the stored pages, and copy their tags into
 * @tags_out.  -ENOENT if any is missing.  The pointers stay valid until
 * the next write or free of the session.
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
uint64_t store_used(const struct store *st);

#endif
