// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * install.c - bytes that are here go into guest memory (install.h).
 *
 * Every UFFDIO_COPY the pager asks for starts here, and so does every
 * page state an install leaves: RESIDENT, clean and write-protected, or
 * dirty and writable.  What cannot go in yet waits in the prefetch cache
 * for its fault, or for its strided neighbours so that their run goes in
 * gathered, with one UFFDIO_COPY.
 */
#include "install.h"

#include <errno.h>
#include <string.h>

#include "../log.h"
#include "vm.h"

/* ---- installing ---- */

/*
 * @n pages at @page went in from @src: RESIDENT, and dirty if @dirty;
 * PT_UNSEEN too if @unseen, and their bytes remembered.
 */
static void installed(struct vm *vm, uint64_t page, uint64_t n,
		      const uint8_t *src, bool dirty, bool unseen)
{
	vm->st.installed_pages += n;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t p = page + i;

		if (unseen && pt_state(&vm->pt, p) == PS_REMOTE) {
			unseen_remember(&vm->unseen, &vm->pt, p,
					src + i * PAGE,
					3 * (vm->budget + PAGER_SLACK_PAGES) / 2);
			pt_installed_unseen(&vm->pt, p);
		} else {
			pt_installed(&vm->pt, p, dirty);
		}
		victim_installed(&vm->victim, &vm->pt, p);
	}
}

/*
 * Install @n pages at @page (contiguous, each one PAGE after the last in
 * @src): they become RESIDENT, clean and write-protected unless @dirty
 * (a page found there already, dirty whatever @dirty says).  @ahead: no
 * fault waits for them, so if they go in writable, PT_UNSEEN.  Returns
 * how many went in; for the rest, the caller keeps what it must and has
 * the faults handled again.
 */
static uint64_t install_run(struct vm *vm, uint64_t page, uint64_t n,
			    const uint8_t *src, bool dirty, bool ahead,
			    int *err)
{
	uint64_t done, total = 0, existed = 0;
	bool trend = false;

	/* Most clean pages get written soon: writable now (prefetch.h). */
	if (!dirty && prefetch_writable(&vm->pf))
		dirty = trend = true;
	for (;;) {
		*err = gm_install(&vm->mem, page + total, n - total,
				  src + total * PAGE, !dirty, &done);
		installed(vm, page + total, done, src + total * PAGE, dirty,
			  ahead && dirty);
		total += done;
		if (*err != -EEXIST)
			break;
		/*
		 * Someone else put this page there (a write through another
		 * mapping of guest memory): its bytes are the guest's now,
		 * newer than any copy, and nothing protects them.  Dirty,
		 * so that it never leaves unwritten.
		 */
		installed(vm, page + total, 1, NULL, true, false);
		existed++;
		total++;
		*err = 0;
		if (total == n)
			break;
	}
	vm->st.install_existed += existed;
	if (trend)
		vm->st.install_writable += total - existed;
	else if (!dirty)
		prefetch_installed_clean(&vm->pf, (unsigned)(total - existed));
	if (*err && *err != -EAGAIN && *err != -ESRCH && *err != -ENOENT)
		log_ratelimited(5000, LOG_LEVEL_ERR, "vm %s: installing page "
				"%lu: %s; the fault is retried", vm->name,
				(unsigned long)(page + total), strerror(-*err));
	return total;
}

uint64_t install_pages(struct vm *vm, uint64_t page, uint64_t n,
		       const uint8_t *src, bool dirty, int *err)
{
	return install_run(vm, page, n, src, dirty, false, err);
}

/* What to do with a fault whose install failed with @err. */
void install_failed(struct vm *vm, uint64_t page, uint64_t t0, bool write,
		    int err)
{
	if (err == -ESRCH || err == -ENOENT)
		return;		/* the VMM is exiting */
	vm->up->fault_again(vm, page, t0, write,
			    err == -EAGAIN ? AGAIN_UFFD : AGAIN_LATER);
}

/* A fault on @page is served from @src (one page). */
bool install_serve(struct vm *vm, uint64_t page, const uint8_t *src,
		   bool dirty, bool write, uint64_t t0)
{
	int err;

	if (install_pages(vm, page, 1, src, dirty, &err)) {
		vm_fault_served(vm, t0);
		return true;
	}
	install_failed(vm, page, t0, write, err);
	return false;
}

/* ---- the prefetch cache ---- */

#define DRAIN_LOOK	256u	/* cached pages a drain looks at, oldest */

/* The cache let go of @page's copy, never used: read ahead for nothing. */
static void cache_wasted(struct vm *vm, uint64_t page)
{
	pt_uncached(&vm->pt, page);
	vm->st.prefetch_wasted++;
	prefetch_wasted(&vm->pf);
}

void install_cache(struct vm *vm, uint64_t page, const uint8_t *data)
{
	bool kept;
	uint64_t out = pfcache_put(&vm->cache, page, data, &kept);

	if (out != PFCACHE_NONE)
		cache_wasted(vm, out);
	if (kept)
		pt_cached(&vm->pt, page);
}

void install_uncache(struct vm *vm, uint64_t page)
{
	if (!pt_has(&vm->pt, page, PT_CACHED))
		return;
	pfcache_drop(&vm->cache, page);
	cache_wasted(vm, page);
}

/*
 * Pages read ahead of the guest go straight into guest memory, while the
 * VM is below its budget (the slack above it stays for faults): one
 * UFFDIO_COPY per run instead of a fault round trip through memxd for
 * each page when the guest comes to it.  Clean and write-protected, or
 * writable and dirty if the fault they follow was a write (a writing
 * stream would take a WP fault on each).  Eviction makes room again once
 * the loop settles.  Returns how many went in; the rest is cached.
 */
uint64_t install_ahead(struct vm *vm, uint64_t page, uint64_t n,
		       const uint8_t *src, bool write)
{
	uint64_t room, done;
	int err;

	if (pt_committed(&vm->pt) >= vm->budget)
		return 0;
	room = vm->budget - pt_committed(&vm->pt);
	if (n > room)
		n = room;
	done = install_run(vm, page, n, src, write, true, &err);
	vm->st.prefetch_installed += done;
	return done;
}

/*
 * A server holds every width-th page of a group, so the pages one READ
 * brings are strided, and each would go in with a UFFDIO_COPY of its
 * own.  They wait in the cache instead while a neighbour is still being
 * read (its READ, to another server, is on its way): then the run they
 * make goes in at once, gathered, one UFFDIO_COPY.  Whatever stays
 * cached (no room, or still waiting) is there for its fault.
 */
static bool cached(const struct vm *vm, uint64_t page)
{
	return page < vm->npages && pt_state(&vm->pt, page) == PS_REMOTE &&
	       pt_has(&vm->pt, page, PT_CACHED);
}

static bool being_read(const struct vm *vm, uint64_t page)
{
	return page < vm->npages && pt_state(&vm->pt, page) == PS_FETCHING;
}

/* Install the cached run [@first, @first + @n), as far as room allows. */
static void install_gathered(struct vm *vm, uint64_t first, uint64_t n,
			     bool write)
{
	uint8_t *buf = vm->pg->gather;
	uint64_t done;

	for (uint64_t k = 0; k < n; k++)
		memcpy(buf + k * PAGE, pfcache_get(&vm->cache, first + k),
		       PAGE);
	done = install_ahead(vm, first, n, buf, write);
	for (uint64_t k = 0; k < done; k++)
		pfcache_drop(&vm->cache, first + k);
	vm->st.prefetch_gathered += done;
}

/*
 * The runs of cached pages that meet [@lo, @hi] go in.  One whose
 * neighbour is still being read waits for it, unless it is @enough pages
 * long already.
 */
static void cached_runs_in(struct vm *vm, uint64_t lo, uint64_t hi,
			   bool write, uint64_t enough)
{
	uint64_t p = lo;

	while (p > 0 && cached(vm, p - 1) && lo - p < RMAP_MAX_PAGES)
		p--;
	while (p <= hi && p < vm->npages) {
		uint64_t first = p, n = 0;

		while (cached(vm, p) && n < RMAP_MAX_PAGES &&
		       gm_contiguous(&vm->mem, first, n + 1)) {
			p++;
			n++;
		}
		if (!n) {
			p++;
			continue;
		}
		if (pt_committed(&vm->pt) >= vm->budget)
			return;
		if (n >= enough ||
		    ((first == 0 || !being_read(vm, first - 1)) &&
		     !being_read(vm, p)))
			install_gathered(vm, first, n, write);
	}
}

void install_runs(struct vm *vm, uint64_t lo, uint64_t hi, bool write)
{
	cached_runs_in(vm, lo, hi, write, UINT64_MAX);
}

/*
 * Pages read ahead while the VM was at its budget wait in the cache; once
 * evictions are answered there is room, and each would otherwise cost its
 * fault a round trip through memxd (two wake-ups where CPUs halt) when the
 * guest gets to it.  They go in now, oldest first (in a walk, the nearest
 * to the guest), with their cached neighbours.  A run of a stream whose
 * next pages are being read would wait for them for good; only one
 * shorter than a row, the scattered pages of one server's READ, still
 * waits for the other servers' pages to go in with them.
 */
void install_drain(struct vm *vm)
{
	uint64_t pages[DRAIN_LOOK], before = vm->st.prefetch_installed;
	unsigned n;

	if (!vm->cache.cap || pt_committed(&vm->pt) >= vm->budget)
		return;
	n = pfcache_oldest(&vm->cache, pages, DRAIN_LOOK);
	for (unsigned i = 0; i < n; i++) {
		if (pt_committed(&vm->pt) >= vm->budget)
			break;
		if (cached(vm, pages[i]))
			cached_runs_in(vm, pages[i], pages[i], false,
				       vm_geo(vm)->width);
	}
	vm->st.prefetch_drained += vm->st.prefetch_installed - before;
}
