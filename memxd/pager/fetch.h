/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fetch.h - bringing pages in for faults: the one place that knows where
 * a page's bytes are.
 *
 * The sources, like CRIU's struct page_read behind one call:
 *   zero      never written (or freed): a page of zeros;
 *   spill     the local spill file;
 *   cache     a copy read ahead earlier (the prefetch cache);
 *   server    a READ from the server of its group slot, with a prefetch
 *             window around it (prefetch.h);
 *   degraded  its server is gone: the XOR of the rest of its stripe;
 *   lost      two servers of its group died: a memory error, never
 *             wrong data.
 * A page is installed (UFFDIO_COPY) only when its bytes are here; a read
 * fault's page is installed write-protected and clean, a write fault's
 * writable and dirty.
 */
#ifndef MEMX_PAGER_FETCH_H
#define MEMX_PAGER_FETCH_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

/* A fault on @page, which is NEVER, SPILLED or REMOTE. */
void fetch_fault(struct vm *vm, uint64_t page, bool write, uint64_t t0);
/* A fault on @page, which is FETCHING: it waits for that READ. */
void fetch_wait(struct vm *vm, uint64_t page, bool write);
/* The guest freed @page: a copy read ahead for it is waste. */
void fetch_uncache(struct vm *vm, uint64_t page);
/* Server @server went silent: READs in flight to it are given up, and
 * the faults waiting for them are handled again (degraded, if they can). */
void fetch_server_silent(struct vm *vm, unsigned server);

#endif
