// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fetch.c - pages in, from wherever their bytes are (fetch.h).
 *
 * A READ carries rows of one group slot from one server (the pages
 * @page, @page + S, ...), because that is what a server holds under
 * consecutive keys.  While it is in flight its pages are FETCHING; a
 * fault on one of them waits for it (PT_WAITED).  When it answers, pages
 * a fault waits for are installed and the others go to the prefetch
 * cache; if it fails, the waiting faults are handled again from a timer,
 * by then perhaps as degraded reads.
 *
 * Integrity (integrity.h): a page is installed or cached only if it
 * matches the MAC it was written with.  One that does not is a suspect
 * (vm->suspects): its fault is handled again, by a degraded read (the
 * stripe rebuilds the page and its tag, and that too must match),
 * every other try by its server again (a fault on the way passes).  A
 * page rebuilt good has its good copy written back over the bad one
 * (stripe_repair).  After INTEGRITY_TRIES failed checks in a row the page
 * is LOST: poisoned at every access, reported, never wrong data.
 */
#include "fetch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "install.h"
#include "recovery.h"
#include "stripe.h"
#include "vm.h"

/* Failed integrity checks of one page in a row before it is lost. */
#define INTEGRITY_TRIES		4u
/* vm->suspects values: failed checks, and why it is suspect. */
#define SUSPECT_TRIES		0x00ffu
#define SUSPECT_BAD_COPY	0x0100u	/* its server's copy failed */
#define SUSPECT_SHORT		0x0200u	/* its READ was answered wrong */

/* A READ (or a degraded read) of @count pages, @stride apart. */
struct fetch {
	struct vm *vm;
	uint64_t page;
	uint32_t count, stride;
	uint64_t t0;
	uint32_t ahead;		/* pages read ahead: vm->readahead */
	bool demand;		/* a fault waited for it from the start */
	bool write;		/* the fault it follows was a write */
	bool abandoned;		/* its server went silent: not ours now */
	bool degraded;		/* rebuilt from its stripe, not READ */
	uint8_t status;		/* the server's refusal, if any */
	unsigned server;	/* READs: where it was sent */
	GList link;		/* vm->fetches, READs only */
	uint8_t *buf;		/* count pages, then their tags */
};

/* ---- suspects: pages whose copy failed a check ---- */

static gpointer suspect_key(uint64_t page)
{
	return GSIZE_TO_POINTER(page + 1);
}

static unsigned suspect_get(struct vm *vm, uint64_t page)
{
	if (!vm->suspects)
		return 0;
	return GPOINTER_TO_UINT(g_hash_table_lookup(vm->suspects,
						    suspect_key(page)));
}

/* @page's copy failed a check (@tried), or its READ was answered wrong. */
static void suspect_note(struct vm *vm, uint64_t page, bool tried,
			 unsigned why)
{
	unsigned v = suspect_get(vm, page);

	if (!vm->suspects)
		vm->suspects = g_hash_table_new(g_direct_hash, g_direct_equal);
	if (tried && (v & SUSPECT_TRIES) < SUSPECT_TRIES)
		v++;
	g_hash_table_insert(vm->suspects, suspect_key(page),
			    GUINT_TO_POINTER(v | why));
}

static void suspect_clear(struct vm *vm, uint64_t page)
{
	if (vm->suspects)
		g_hash_table_remove(vm->suspects, suspect_key(page));
}

static void again(struct vm *vm, uint64_t page, uint64_t t0, bool write,
		  enum fault_again when)
{
	vm->up->fault_again(vm, page, t0, write, when);
}

/* ---- the guest freed a page ---- */

void fetch_uncache(struct vm *vm, uint64_t page)
{
	suspect_clear(vm, page);	/* freed: its copy does not matter */
	install_uncache(vm, page);
}

/* ---- READs ---- */

/* Drop a server copy that outlived its page (discarded meanwhile). */
static void drop_stale_copy(struct vm *vm, uint64_t page)
{
	if (pt_remote_droppable(&vm->pt, page))
		stripe_drop_copy(vm, page);
}

static void fetch_free(struct fetch *f)
{
	free(f->buf);
	free(f);
}

/*
 * The pages of @f leave FETCHING: read (@ok) or not, and those @bad (if
 * not NULL) failed their check.  Pages a fault waits for are installed
 * from @f->buf, the others cached; if the read failed, the waiting
 * faults are handled again (@when; a bad page's at once).
 */
static void fetch_end(struct fetch *f, bool ok, const bool *bad,
		      enum fault_again when)
{
	struct vm *vm = f->vm;
	/* Strided pages read ahead wait for their neighbours (above). */
	bool gather = f->stride > 1 && vm->cache.cap;
	enum fetch_end end[RMAP_MAX_PAGES];
	bool write[RMAP_MAX_PAGES];

	/* Its pages are out of flight now, whichever way they went. */
	vm->readahead -= f->ahead;
	f->ahead = 0;
	for (uint32_t i = 0; i < f->count; i++)
		end[i] = pt_fetch_end(&vm->pt, f->page + i * f->stride,
				      ok && !(bad && bad[i]), &write[i]);
	for (uint32_t i = 0; i < f->count;) {
		uint64_t p = f->page + i * f->stride, n = 1, done;
		const uint8_t *data = f->buf + (size_t)i * PAGE;
		int ierr;

		switch (end[i]) {
		case FE_INSTALL:
			/* One UFFDIO_COPY per run of neighbours alike. */
			while (f->stride == 1 && i + n < f->count &&
			       end[i + n] == FE_INSTALL &&
			       write[i + n] == write[i] &&
			       gm_contiguous(&vm->mem, p, n + 1))
				n++;
			done = install_pages(vm, p, n, data, write[i], &ierr);
			for (uint64_t k = done; k < n; k++) {
				/* Keep the bytes; the fault comes back. */
				install_cache(vm, p + k, data + k * PAGE);
				install_failed(vm, p + k, f->t0, write[i],
					       ierr);
			}
			break;
		case FE_CACHE:
			if (gather) {
				/* Gathered below, with its neighbours. */
				install_cache(vm, p, data);
				break;
			}
			/* Within the budget: in now, no fault to wait for. */
			while (f->stride == 1 && i + n < f->count &&
			       end[i + n] == FE_CACHE &&
			       gm_contiguous(&vm->mem, p, n + 1))
				n++;
			done = install_ahead(vm, p, n, data, f->write);
			for (uint64_t k = done; k < n; k++)
				install_cache(vm, p + k, data + k * PAGE);
			break;
		case FE_INSTALL_ZERO:
			/* Freed meanwhile: after a discard the page is zeros. */
			if (!install_pages(vm, p, 1, vm->pg->zero_page, true,
					   &ierr))
				install_failed(vm, p, f->t0, write[i], ierr);
			/* fall through */
		case FE_GONE:
			drop_stale_copy(vm, p);
			break;
		case FE_RETRY:
			again(vm, p, f->t0, write[i],
			      bad && bad[i] ? AGAIN_CHANGED : when);
			break;
		case FE_DROPPED:
		case FE_BUG:
			break;
		}
		i += (uint32_t)n;
	}
	/*
	 * The cached pages around this READ's may have waited for it (its
	 * pages are read or given up now): gathered into runs, they go in.
	 */
	if (gather)
		install_runs(vm, f->page ? f->page - 1 : 0,
			     f->page + (uint64_t)(f->count - 1) * f->stride +
				 1, f->write);
	vm->up->changed(vm);
}

/*
 * Check every page of @f against its MAC; those that fail are @bad.  A
 * good page that was a suspect is one no longer, and if it was rebuilt
 * from its stripe because its server's copy is bad, that copy is
 * rewritten.  Returns how many are bad.
 */
static unsigned fetch_check(struct fetch *f, bool *bad)
{
	struct vm *vm = f->vm;
	const uint8_t *tags = f->buf + (size_t)f->count * PAGE;
	unsigned n = 0;

	for (uint32_t i = 0; i < f->count; i++) {
		uint64_t p = f->page + i * f->stride;
		const uint8_t *data = f->buf + (size_t)i * PAGE;
		const uint8_t *tag = tags + (size_t)i * TAG_LEN;
		unsigned was = suspect_get(vm, p);

		bad[i] = false;
		/* Freed meanwhile: its bytes are not used. */
		if (pt_has(&vm->pt, p, PT_DISCARDED))
			continue;
		/* Sent encrypted: the tag it came with is its nonce. */
		integrity_crypt(&vm->integ, p, tag, f->buf + (size_t)i * PAGE);
		if (integrity_check(&vm->integ, p, pt_version(&vm->pt, p),
				    data, tag)) {
			if (!was)
				continue;
			if (f->degraded && (was & SUSPECT_BAD_COPY)) {
				vm->st.integrity_rebuilt++;
				stripe_repair(vm, p, data, tag);
			}
			suspect_clear(vm, p);
			continue;
		}
		bad[i] = true;
		n++;
		vm->st.integrity_failures++;
		suspect_note(vm, p, true, f->degraded ? 0 : SUSPECT_BAD_COPY);
		log_ratelimited(2000, LOG_LEVEL_ERR, "vm %s: page %lu (GPAS "
				"offset %#lx) as %s%s failed its integrity "
				"check (try %u): not installed; it is %s",
				vm->name, (unsigned long)p,
				(unsigned long)(p * PAGE),
				f->degraded ? "rebuilt from its stripe"
					    : "read from ",
				f->degraded ? "" : remote_server(vm->pg->remote,
							f->server)->name,
				(was & SUSPECT_TRIES) + 1,
				(was & SUSPECT_TRIES) + 1 >= INTEGRITY_TRIES ?
				"lost" : "read again");
	}
	if (n && !f->degraded)
		remote_count_bad(vm->pg->remote, f->server, n);
	return n;
}

static void fetch_done(void *arg, int err)
{
	struct fetch *f = arg;
	struct vm *vm = f->vm;
	bool bad[RMAP_MAX_PAGES];
	unsigned nbad = 0;

	if (f->link.data)
		g_queue_unlink(&vm->fetches, &f->link);
	if (vm->dead || f->abandoned)
		goto out;
	if (err) {
		vm->st.fetch_errors++;
		log_ratelimited(5000, LOG_LEVEL_ERR, "vm %s: reading pages "
				"%lu+%u failed: %s; the faulting vCPU waits and "
				"the read is retried", vm->name,
				(unsigned long)f->page, f->count,
				f->status ? rmap_status_name(f->status)
					  : strerror(-err));
		/* Answered with another run: read them some other way. */
		for (uint32_t i = 0; err == -EBADMSG && i < f->count; i++)
			suspect_note(vm, f->page + i * f->stride, false,
				     SUSPECT_SHORT);
	} else if (vm->integ.on) {
		nbad = fetch_check(f, bad);
	}
	fetch_end(f, !err, nbad ? bad : NULL, AGAIN_LATER);
	if (f->demand && !err && !nbad)
		vm_fault_served(vm, f->t0);
out:
	fetch_free(f);
	vm_put(vm);
}

void fetch_server_silent(struct vm *vm, unsigned server)
{
	GList *l, *next;

	for (l = vm->fetches.head; l; l = next) {
		struct fetch *f = l->data;

		next = l->next;
		if (f->server != server || f->abandoned)
			continue;
		/*
		 * Its answer may come much later, or never: the pages are
		 * REMOTE again now, and the faults waiting for them go on,
		 * by degraded reads.  The READ's own answer is dropped.
		 */
		f->abandoned = true;
		g_queue_unlink(&vm->fetches, &f->link);
		f->link.data = NULL;
		vm->st.fetch_abandoned++;
		fetch_end(f, false, NULL, AGAIN_CHANGED);
	}
}

static void read_done(void *arg, int err, uint8_t status)
{
	struct fetch *f = arg;

	f->status = status;
	fetch_done(f, err ? err : status ? -EIO : 0);
}

static struct fetch *fetch_new(struct vm *vm, uint64_t page, uint32_t count,
			       uint32_t stride, uint64_t t0)
{
	struct fetch *f = calloc(1, sizeof(*f));

	if (!f || posix_memalign((void **)&f->buf, PAGE,
				 (size_t)count * (PAGE + TAG_LEN))) {
		free(f);
		return NULL;
	}
	*f = (struct fetch){ .vm = vm, .page = page, .count = count,
			     .stride = stride, .t0 = t0, .buf = f->buf };
	return f;
}

/*
 * READ @count rows of one group slot from server @s: the pages @page,
 * @page + S, ...  Every page must be REMOTE and uncached.  If @demand is
 * among them, a fault (a write if @write) waits for it.  False if nothing
 * could be started.
 */
static bool fetch_start(struct vm *vm, uint64_t page, uint32_t count,
			unsigned s, uint64_t demand, bool write, uint64_t t0)
{
	const struct pg_geometry *geo = vm_geo(vm);
	unsigned slot, row;
	struct fetch *f;
	uint64_t g;
	int ret;

	f = fetch_new(vm, page, count, geo->width, t0);
	if (!f)
		return false;
	for (uint32_t i = 0; i < count; i++) {
		uint64_t p = page + (uint64_t)i * f->stride;

		pt_fetch_begin(&vm->pt, p);
		if (p == demand) {
			pt_fetch_wait(&vm->pt, p, write);
			f->demand = true;
		}
	}
	f->ahead = f->demand ? count - 1 : count;
	f->write = write;
	vm->readahead += f->ahead;
	vm->st.prefetch_issued += f->ahead;
	pg_locate(geo, page, &g, &slot, &row);
	f->server = s;
	f->link.data = f;
	g_queue_push_tail_link(&vm->fetches, &f->link);
	vm_get(vm);
	ret = remote_call(vm->pg->remote, &vm->sess[s], RMAP_T_READ,
			  vm_tag_flags(vm), pg_key(geo, g, row), count, NULL,
			  0, f->buf, (uint32_t)(count * vm_page_bytes(vm)),
			  read_done, f);
	if (ret)
		fetch_done(f, ret);	/* same path: retried, not lost */
	return true;
}

static bool prefetchable(struct vm *vm, uint64_t p, unsigned *server)
{
	return p < vm->npages && pt_state(&vm->pt, p) == PS_REMOTE &&
	       !pt_has(&vm->pt, p, PT_CACHED) && !suspect_get(vm, p) &&
	       stripe_read_source(vm, p, server) == RS_SERVER;
}

/*
 * A page's place in its server's key order: group, then slot, then row.
 * Consecutive ordinals of one group and slot are consecutive keys on one
 * server, so they share a READ.
 */
static uint64_t slot_ordinal(const struct pg_geometry *geo, uint64_t page)
{
	unsigned slot, row;
	uint64_t g;

	pg_locate(geo, page, &g, &slot, &row);
	return g * pg_group_pages(geo) + (uint64_t)slot * geo->rows + row;
}

/*
 * Fetch up to @window pages along @stride from @page (and @page itself if
 * @demand), in as few READs as the groups allow: whatever the direction,
 * the pages one server holds in consecutive rows share a READ, and the
 * servers of a group are asked in parallel.  False if the demand page
 * could not be asked for.
 */
static bool fetch_around(struct vm *vm, uint64_t page, bool demand,
			 bool write, unsigned stream, unsigned window,
			 int64_t stride, uint64_t t0)
{
	const struct pg_geometry *geo = vm_geo(vm);
	uint64_t want[RMAP_MAX_PAGES + 1];
	unsigned srv[RMAP_MAX_PAGES + 1];
	bool asked = !demand;
	unsigned n = 0, s;

	/*
	 * The demand page is read on its own, and first: its answer is one
	 * page, not the run it would share with the pages read ahead, so
	 * the vCPU waits for neither their transfer nor their checks.
	 */
	if (demand && stripe_read_source(vm, page, &s) == RS_SERVER)
		asked = fetch_start(vm, page, 1, s, page, write, t0);
	if (window > RMAP_MAX_PAGES)
		window = RMAP_MAX_PAGES;
	/*
	 * Pages read ahead wait in the prefetch cache, oldest out first.
	 * Beyond what it holds, a page read ahead now would push out one read
	 * ahead before it, still in flight or unused: evicted before its
	 * fault, fetched twice.
	 */
	if (vm->readahead + window > vm->cache.cap)
		window = vm->cache.cap > vm->readahead ?
			 (unsigned)(vm->cache.cap - vm->readahead) : 0;
	prefetch_covered(&vm->pf, stream, stride, window);
	for (unsigned k = 1; k <= window; k++) {
		int64_t p = (int64_t)page + (int64_t)k * stride;

		if (p >= 0 && prefetchable(vm, (uint64_t)p, &s)) {
			srv[n] = s;
			want[n++] = slot_ordinal(geo, (uint64_t)p);
		}
	}
	/* Sort ordinals, carrying each one's server along. */
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j > 0 && want[j - 1] > want[j]; j--) {
			uint64_t w = want[j];
			unsigned v = srv[j];

			want[j] = want[j - 1];
			srv[j] = srv[j - 1];
			want[j - 1] = w;
			srv[j - 1] = v;
		}
	for (unsigned i = 0; i < n;) {
		uint64_t run = want[i] / geo->rows;	/* group and slot */
		uint64_t g = want[i] / pg_group_pages(geo);
		unsigned slot = (unsigned)(run % geo->width);
		unsigned row = (unsigned)(want[i] % geo->rows);
		uint64_t first = pg_page(geo, g, slot, row);
		unsigned k = 1;

		while (i + k < n && want[i + k] == want[i] + k &&
		       want[i + k] / geo->rows == run)
			k++;
		fetch_start(vm, first, k, srv[i], UINT64_MAX, write, t0);
		i += k;
	}
	return asked;
}

/* ---- the sources ---- */

static void fetch_degraded(struct vm *vm, uint64_t page, bool write,
			   uint64_t t0)
{
	struct fetch *f = fetch_new(vm, page, 1, 1, t0);
	bool w;
	int ret;

	if (!f) {
		again(vm, page, t0, write, AGAIN_LATER);
		return;
	}
	f->demand = true;
	f->degraded = true;
	pt_fetch_begin(&vm->pt, page);
	pt_fetch_wait(&vm->pt, page, write);
	vm_get(vm);
	ret = stripe_read_degraded(vm, page, f->buf, fetch_done, f);
	if (!ret) {
		vm->st.degraded_reads++;
		return;
	}
	/* Nothing was sent: the page is REMOTE again, the fault waits. */
	pt_fetch_end(&vm->pt, page, false, &w);
	again(vm, page, t0, write,
	      ret == -EBUSY ? AGAIN_CHANGED : AGAIN_LATER);
	fetch_free(f);
	vm_put(vm);
}

static void fetch_lost(struct vm *vm, uint64_t page, bool write, uint64_t t0)
{
	int ret;

	vm->st.lost_faults++;
	log_ratelimited(2000, LOG_LEVEL_ERR, "vm %s: access to LOST page %lu "
			"(GPAS offset %#lx): %s; the access gets a memory "
			"error (SIGBUS), never wrong data", vm->name,
			(unsigned long)page, (unsigned long)(page * PAGE),
			pt_state(&vm->pt, page) == PS_LOST ?
			"no copy of it passed its integrity check" :
			"two servers of its group died");
	ret = gm_poison(&vm->mem, page);
	if (ret == -EAGAIN)
		again(vm, page, t0, write, AGAIN_UFFD);
	else if (ret)
		log_ratelimited(5000, LOG_LEVEL_ERR, "vm %s: cannot poison "
				"lost page %lu (%s; needs Linux 6.6): the "
				"faulting thread waits for ever", vm->name,
				(unsigned long)page, strerror(-ret));
}

/*
 * @page failed INTEGRITY_TRIES checks in a row, read and rebuilt: no good
 * copy of it can be had.  It is LOST: its fault, and every later one, is
 * answered with a memory error.
 */
static void fetch_corrupt(struct vm *vm, uint64_t page, bool write,
			  uint64_t t0)
{
	unsigned slot, row;
	uint64_t g;

	suspect_clear(vm, page);
	pt_lost(&vm->pt, page);
	vm->st.integrity_lost++;
	log_err("vm %s: DATA LOST: page %lu (GPAS offset %#lx) failed its "
		"integrity check %u times, as read and as rebuilt from its "
		"stripe: every access to it gets a memory error; see memxctl "
		"status (lost_range)", vm->name, (unsigned long)page,
		(unsigned long)(page * PAGE), INTEGRITY_TRIES);
	/*
	 * The parity may hold the good copy: have it say what is stored
	 * (only while nothing else of the group is missing: then the parity
	 * is what rebuilds that).
	 */
	if (vm_geo(vm)->parity &&
	    vm_group_of(vm, page, &g, &slot, &row)->state == PG_OK)
		recovery_parity_bad(vm, g);
	fetch_lost(vm, page, write, t0);
}

static void fetch_remote(struct vm *vm, uint64_t page, bool write,
			 uint64_t t0)
{
	unsigned stream = prefetch_note(&vm->pf, page), window, srv;
	const uint8_t *copy = pfcache_get(&vm->cache, page);
	unsigned suspect = suspect_get(vm, page);
	enum read_source src;
	int64_t stride = 1;

	if (copy && pt_has(&vm->pt, page, PT_CACHED)) {
		if (!install_serve(vm, page, copy, write, write, t0))
			return;
		pfcache_drop(&vm->cache, page);
		vm->st.cache_faults++;
		vm->st.prefetch_hit++;
		prefetch_hit(&vm->pf);
		/* Stay ahead of a trend that holds. */
		window = prefetch_ahead(&vm->pf, stream, &stride);
		if (window)
			fetch_around(vm, page, false, write, stream, window,
				     stride, t0);
		return;
	}
	if ((suspect & SUSPECT_TRIES) >= INTEGRITY_TRIES) {
		fetch_corrupt(vm, page, write, t0);
		return;
	}
	src = stripe_read_source(vm, page, &srv);
	/*
	 * Its copy failed its check (or its READ was answered wrong): it is
	 * rebuilt from its stripe, every other try read again.
	 */
	if (src == RS_SERVER && ((suspect & SUSPECT_TRIES) % 2 == 1 ||
				 (suspect & SUSPECT_SHORT)) &&
	    stripe_can_rebuild(vm, page))
		src = RS_DEGRADED;
	switch (src) {
	case RS_DEGRADED:
		fetch_degraded(vm, page, write, t0);
		return;
	case RS_LOST:
		fetch_lost(vm, page, write, t0);
		return;
	case RS_UNAVAILABLE:
		again(vm, page, t0, write, AGAIN_LATER);
		return;
	case RS_SERVER:
		break;
	}
	vm->st.net_faults++;
	window = prefetch_plan(&vm->pf, stream, &stride);
	if (!fetch_around(vm, page, true, write, stream, window, stride,
			  t0))
		again(vm, page, t0, write, AGAIN_LATER);
}

/*
 * A stream of first touches (a guest filling fresh memory; its kernel
 * zeroes each page it hands out) would take a fault round trip through
 * memxd for every page: the pages never written ahead of it along its
 * trend are zero-filled now, dirty, while the VM is below its budget.
 * Too many is cheap: an all-zero page is evicted without a write.
 */
static void zero_ahead(struct vm *vm, uint64_t page)
{
	unsigned stream = prefetch_note(&vm->pf, page), window, k;
	int64_t stride = 1;

	window = prefetch_plan(&vm->pf, stream, &stride);
	if (window > RMAP_MAX_PAGES)
		window = RMAP_MAX_PAGES;
	for (k = 1; k <= window;) {
		int64_t p = (int64_t)page + (int64_t)k * stride;
		uint64_t n = 1, done;
		int err;

		if (p < 0 || (uint64_t)p >= vm->npages ||
		    pt_committed(&vm->pt) >= vm->budget)
			break;
		if (pt_state(&vm->pt, (uint64_t)p) != PS_NEVER) {
			k++;
			continue;
		}
		/* Forwards, one UFFDIO_COPY per run of neighbours. */
		while (stride == 1 && k + n <= window &&
		       (uint64_t)p + n < vm->npages &&
		       pt_committed(&vm->pt) + n < vm->budget &&
		       pt_state(&vm->pt, (uint64_t)p + n) == PS_NEVER &&
		       gm_contiguous(&vm->mem, (uint64_t)p, n + 1))
			n++;
		done = install_pages(vm, (uint64_t)p, n, vm->pg->zero_page,
				     true, &err);
		vm->st.prefetch_zero += done;
		k += (unsigned)done;
		if (done < n)
			break;
	}
	/* Pages 1 .. k - 1 along the stride are in: no fault comes there. */
	prefetch_covered(&vm->pf, stream, stride, k - 1);
}

void fetch_fault(struct vm *vm, uint64_t page, bool write, uint64_t t0)
{
	uint8_t *buf;

	switch (pt_state(&vm->pt, page)) {
	case PS_NEVER:
		/* No server copy matches it: installed dirty. */
		if (install_serve(vm, page, vm->pg->zero_page, true, write,
				  t0)) {
			vm->st.zero_faults++;
			if (vm->pg->cfg.prefetch_max)
				zero_ahead(vm, page);
		}
		break;
	case PS_SPILLED:
		buf = vm->pg->scratch;
		if (spill_read(&vm->spill, page, buf)) {
			log_ratelimited(5000, LOG_LEVEL_ERR, "vm %s: reading "
					"page %lu from the spill file failed",
					vm->name, (unsigned long)page);
			again(vm, page, t0, write, AGAIN_LATER);
			break;
		}
		if (install_serve(vm, page, buf, true, write, t0))
			vm->st.spill_faults++;
		break;
	case PS_REMOTE:
		fetch_remote(vm, page, write, t0);
		break;
	case PS_LOST:
		fetch_lost(vm, page, write, t0);
		break;
	default:
		break;
	}
}

void fetch_wait(struct vm *vm, uint64_t page, bool write)
{
	/* A prefetch becomes a demand: it was worth reading ahead. */
	if (pt_fetch_wait(&vm->pt, page, write) == 1 &&
	    !pt_has(&vm->pt, page, PT_DISCARDED)) {
		vm->st.prefetch_hit++;
		prefetch_hit(&vm->pf);
	}
}
