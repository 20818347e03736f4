/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * guestmem.h - a VM's guest RAM as the pager touches it: the VMM's
 * userfaultfd and the memfd behind the RAM.
 *
 * Every system call the pager makes on a VM's memory is here, and
 * nowhere else: reading fault events, installing pages (UFFDIO_COPY),
 * write-protecting them, waking and poisoning, reading the memfd and
 * punching holes in it.  It is the seam the pager's unit tests cut at:
 * tests/pager/fake_guestmem.c implements this header over a plain buffer
 * and can make any call fail the way the kernel does (EAGAIN while a
 * REMOVE event is unread, above all).
 *
 * Pages are numbered by their offset in the memfd (GPAS order); the
 * regions map them to the VMM's addresses.
 */
#ifndef MEMX_PAGER_GUESTMEM_H
#define MEMX_PAGER_GUESTMEM_H

#include <linux/userfaultfd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GM_PAGE		4096u
#define GM_MAX_REGIONS	64u
/*
 * The most guest memory one VM may register: 16 TiB, 2^32 pages, whose
 * page table takes 8 GiB of memxd's memory.
 */
#define GM_MAX_SIZE	(16ull << 40)

/* [hva, hva + length) of the VMM maps memfd [offset, offset + length). */
struct vm_region {
	uint64_t hva, offset, length, page_size;
};

struct guestmem {
	int uffd, memfd;
	uint64_t size;			/* memfd bytes */
	struct vm_region regions[GM_MAX_REGIONS];
	unsigned nregions;
	void *impl;			/* the implementation's own state */
};

/*
 * Take over @uffd and @memfd (on success only): check that they are a
 * userfaultfd and a memfd, that every region is registered for MISSING
 * and WP faults, and make the uffd non-blocking.  The check of WP leaves
 * every page write-protected if @protect_all (a VM taken over, whose
 * clean pages must stay protected), none otherwise; it wakes no thread.
 * 0, or -errno with a reason in @why.
 *
 * The kernel refuses to write-protect (EAGAIN) while a REMOVE event is
 * unread, and an earlier memxd may have died leaving one: the VMM's
 * madvise() waits for it.  gm_open() then reads the events queued, holds
 * them (gm_held()), and tries again.  gm_read_events() hands the held
 * events out first; the poll does not report them, so the caller reads
 * them once its VM is set up.
 */
int gm_open(struct guestmem *m, int uffd, int memfd,
	    const struct vm_region *regions, unsigned nregions,
	    bool protect_all, char *why, size_t whylen);
void gm_close(struct guestmem *m);

static inline uint64_t gm_pages(const struct guestmem *m)
{
	return m->size / GM_PAGE;
}

/* The VMM's address of @page, or 0 if no region maps it. */
static inline uint64_t gm_hva(const struct guestmem *m, uint64_t page)
{
	uint64_t off = page * GM_PAGE;

	for (unsigned i = 0; i < m->nregions; i++) {
		const struct vm_region *r = &m->regions[i];

		if (off >= r->offset && off - r->offset < r->length)
			return r->hva + (off - r->offset);
	}
	return 0;
}

/* The page at VMM address @hva, or UINT64_MAX. */
static inline uint64_t gm_page_of(const struct guestmem *m, uint64_t hva)
{
	for (unsigned i = 0; i < m->nregions; i++) {
		const struct vm_region *r = &m->regions[i];

		if (hva >= r->hva && hva - r->hva < r->length)
			return (r->offset + (hva - r->hva)) / GM_PAGE;
	}
	return UINT64_MAX;
}

/* Are pages [page, page + n) one run of VMM addresses too? */
static inline bool gm_contiguous(const struct guestmem *m, uint64_t page,
				 uint64_t n)
{
	uint64_t a = gm_hva(m, page);

	return a && n && gm_hva(m, page + n - 1) == a + (n - 1) * GM_PAGE;
}

/* The descriptor to poll for fault events. */
int gm_pollfd(const struct guestmem *m);
/* Up to @max fault events, those gm_open() held first; 0 when none is
 * pending; -errno (-EPIPE: the VMM closed the userfaultfd). */
int gm_read_events(struct guestmem *m, struct uffd_msg *msgs, unsigned max);
/* How many events gm_open() read and holds, not yet handed out. */
unsigned gm_held(const struct guestmem *m);

/*
 * Call @fn for each run of pages that hold data already (what the VMM
 * wrote before registering).  0 or -errno.
 */
int gm_for_each_present(struct guestmem *m,
			void (*fn)(void *arg, uint64_t page, uint64_t n),
			void *arg);

/*
 * Install @count pages at @page from @src (write-protected if @wp),
 * waking the threads that wait for them.  0, or, with *@done pages
 * installed before it stopped:
 *   -EEXIST  page @page + *@done is there already, put there by someone
 *            else (a write through another mapping of the memory): it
 *            was left as it is, neither copied over nor protected, and
 *            its waiters are woken;
 *   -EAGAIN  the memory map is changing (an unread REMOVE event): read
 *            the events, then try again;
 *   -ESRCH   the VMM is exiting; other -errno: a real failure.
 */
int gm_install(struct guestmem *m, uint64_t page, uint64_t count,
	       const void *src, bool wp, uint64_t *done);
/* Write-protect (@wp) or unprotect @count pages.  0, -EAGAIN as above, or
 * -errno.  Unprotecting wakes the threads waiting on a WP fault. */
int gm_protect(struct guestmem *m, uint64_t page, uint64_t count, bool wp);
/* Wake the threads waiting for @page. */
void gm_wake(struct guestmem *m, uint64_t page);
/* Wake every thread waiting on any page: they fault again (a memxd that
 * restarted never read their faults). */
void gm_wake_all(struct guestmem *m);
/* Make @page a memory error for whoever touches it (UFFDIO_POISON,
 * Linux 6.6).  0 or -errno. */
int gm_poison(struct guestmem *m, uint64_t page);
/* Read @count pages from the memfd into @buf.  0 or -errno. */
int gm_read(struct guestmem *m, uint64_t page, uint64_t count, void *buf);
/* Punch @count pages out of the memfd: the next touch is a MISSING fault. */
int gm_punch(struct guestmem *m, uint64_t page, uint64_t count);
/* Does the memfd hold @page?  (True when it cannot tell.) */
bool gm_present(struct guestmem *m, uint64_t page);
/*
 * Which of pages [0, @npages) the memfd holds, a bit each in @bits
 * ((npages + 7) / 8 bytes), a pair of lseeks per extent.  0 or -errno.
 */
int gm_present_all(struct guestmem *m, uint64_t npages, uint8_t *bits);

#endif
