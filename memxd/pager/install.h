/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * install.h - putting pages whose bytes are here into guest memory, and
 * the prefetch cache for those that cannot go in yet.
 *
 * fetch.c finds a page's bytes; this layer installs them (guestmem.h's
 * UFFDIO_COPY) and sets the page state an install leaves (pagetable.h):
 *   RESIDENT, clean and write-protected  a read fault's page, or a page
 *                                        read ahead;
 *   RESIDENT, dirty and writable         a write fault's page, a page of
 *                                        a writing stream (prefetch.h), a
 *                                        page of zeros, or a page someone
 *                                        else put there first (EEXIST).
 * Pages read ahead go straight in while the VM is below its budget; the
 * rest wait in the cache (pfcache.h) for their strided neighbours to go
 * in with them as one run, or for room, or for their fault.
 *
 * A page read ahead that goes in writable is PT_UNSEEN: nothing says
 * whether the guest wrote it since.  The bytes it went in with are
 * remembered (unseen.h), so that a discard or an eviction can tell.
 */
#ifndef MEMX_PAGER_INSTALL_H
#define MEMX_PAGER_INSTALL_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

/* Install @n contiguous pages at @page from @src; how many went in.  On a
 * shortfall *@err says why; the caller has those faults handled again. */
uint64_t install_pages(struct vm *vm, uint64_t page, uint64_t n,
		       const uint8_t *src, bool dirty, int *err);
/* A fault on @page whose install failed with @err is handled again. */
void install_failed(struct vm *vm, uint64_t page, uint64_t t0, bool write,
		    int err);
/* Serve the fault on @page from @src (one page): installed, and the
 * fault counted served; false if it must be handled again. */
bool install_serve(struct vm *vm, uint64_t page, const uint8_t *src,
		   bool dirty, bool write, uint64_t t0);
/* Pages read ahead go in while the VM is below its budget; how many. */
uint64_t install_ahead(struct vm *vm, uint64_t page, uint64_t n,
		       const uint8_t *src, bool write);
/* Keep a copy of @page read ahead until its fault (or it is pushed out). */
void install_cache(struct vm *vm, uint64_t page, const uint8_t *data);
/* The copy of @page read ahead is waste: dropped, if there is one. */
void install_uncache(struct vm *vm, uint64_t page);
/* The cached runs that meet [@lo, @hi] go in, each once no neighbour of
 * it is still being read. */
void install_runs(struct vm *vm, uint64_t lo, uint64_t hi, bool write);
/* Room below the budget again: cached pages go in, oldest first. */
void install_drain(struct vm *vm);

#endif
