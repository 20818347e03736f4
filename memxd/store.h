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

uint64_t store_capacity(const struct store *st);
uint64_t store_used(const struct store *st);

#endif
