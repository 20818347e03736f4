/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store.h - the pages a memory server holds for its clients.
 *
 * Pages are keyed by (session, page number).  Page bodies live in a slab
 * of 4 KiB slots, allocated lazily in 1 MiB chunks; each session maps its
 * page numbers to slots with an open-addressing table, about 12 bytes of
 * overhead per stored page.  The capacity is a hard limit: a write that
 * would exceed it is refused whole, never partly applied.
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
 * Store @count pages from @data at @page.  All or nothing: -ENOSPC if the
 * new pages do not fit, -ENOMEM if memory cannot be had; nothing changes.
 */
int store_write(struct store *st, struct store_session *ss, uint64_t page,
		uint32_t count, const void *data);
/*
 * Point @iov[0..count) at the stored pages.  -ENOENT if any is missing.
 * The pointers stay valid until the next write or free of the session.
 */
int store_read(struct store *st, struct store_session *ss, uint64_t page,
	       uint32_t count, struct iovec *iov);
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
 * store_write, which also puts old ^ new of each page into @delta_out
 * (an absent old page counts as zeros).  The deltas come from the old
 * contents, before any page is overwritten.  All or nothing, with the
 * errors of store_write; @delta_out is undefined on error.
 */
int store_xwrite(struct store *st, struct store_session *ss, uint64_t page,
		 uint32_t count, const void *data, void *delta_out);
/*
 * Copy the run's old contents into @old_out (absent pages as zeros), then
 * discard the run.  Returns how many pages were stored, or -EINVAL.
 */
int store_xfree(struct store *st, struct store_session *ss, uint64_t page,
		uint32_t count, void *old_out);
/*
 * stored ^= @data, page by page: an absent page is created holding its
 * @data, and a page whose result is all zeros is deleted.  All or
 * nothing: -ENOSPC if the pages to create do not fit (pages deleted by the
 * same call make room), -ENOMEM if memory cannot be had; nothing changes.
 */
int store_xor(struct store *st, struct store_session *ss, uint64_t page,
	      uint32_t count, const void *data);
/*
 * store_read, where an absent page reads as zeros: @iov[i] then points at
 * a shared, read-only zero page.  Never -ENOENT; 0 or -EINVAL.
 */
int store_read_zero(struct store *st, struct store_session *ss,
		    uint64_t page, uint32_t count, struct iovec *iov);

uint64_t store_capacity(const struct store *st);
uint64_t store_used(const struct store *st);

#endif
