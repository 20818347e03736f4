// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pager.c - the fault path: faults in, pages installed, victims out.
 *
 * Everything runs on the one event loop, so a page's state changes only
 * between callbacks; the ordering rules of DESIGN.md follow from that:
 *
 *   - an eviction write-protects the page before reading it, so the copy
 *     sent is the page's last content;
 *   - a write fault during an eviction turns the page back to RESIDENT,
 *     and the eviction's completion, seeing that, does not punch;
 *   - a page whose previous WRITE is still in flight (PT_BUSY) is never
 *     picked again, so two copies of one page never race to a server;
 *   - the hole is punched only after the server acknowledged the copy.
 *
 * The fault path and eviction stay in this one file, longer than most,
 * because those rules span both: they are meant to be read together.
 * Registration is in pager_vm.c, reporting in pager_report.c.
 */

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../log.h"
#include "pager_int.h"

static void punch_list(struct vm *vm, const uint64_t *list, unsigned n);

/* ---- small helpers ---- */

void vm_get(struct vm *vm)
{
	vm->refs++;
}


bool vm_put(struct vm *vm)
{
	if (--vm->refs)
		return false;
	vm_destroy(vm);
	return true;
}

static uint64_t committed(const struct vm *vm)
{
	return vm->resident + vm->wanted;
}

static bool over_hard_limit(const struct vm *vm)
{
	return committed(vm) >= vm->budget + PAGER_SLACK_PAGES;
}

void note_resident(struct vm *vm)
{
	if (vm->resident > vm->st.max_resident)
		vm->st.max_resident = vm->resident;
}

static void hist_add(struct vm *vm, uint64_t t0)
{
	uint64_t us = (evl_now_ns() - t0) / 1000;
	unsigned b = 0;

	while (us > 1 && b < HIST_BUCKETS - 1) {
		us >>= 1;
		b++;
	}
	vm->st.hist[b]++;
}

/* Host virtual address of @page in the VMM, or 0. */
static uint64_t page_hva(const struct vm *vm, uint64_t page)
{
	uint64_t off = page * PAGE;

	for (unsigned i = 0; i < vm->nregions; i++) {
		const struct vm_region *r = &vm->regions[i];

		if (off >= r->offset && off - r->offset < r->length)
			return r->hva + (off - r->offset);
	}
	return 0;
}

/* Page index of VMM address @hva, or UINT64_MAX. */
static uint64_t hva_page(const struct vm *vm, uint64_t hva)
{
	for (unsigned i = 0; i < vm->nregions; i++) {
		const struct vm_region *r = &vm->regions[i];

		if (hva >= r->hva && hva - r->hva < r->length)
			return (r->offset + (hva - r->hva)) / PAGE;
	}
	return UINT64_MAX;
}

bool page_present(const struct vm *vm, uint64_t page)
{
	unsigned char v = 0;

	if (mincore(vm->view + page * PAGE, PAGE, &v) < 0)
		return true;	/* cannot tell: assume nothing was lost */
	return v & 1;
}

static void punch(struct vm *vm, uint64_t page, uint64_t count)
{
	if (fallocate(vm->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)(page * PAGE), (off_t)(count * PAGE)) < 0)
		log_ratelimited(5000, LOG_LEVEL_ERR, "vm %s: punching page %lu: %s",
				vm->name, (unsigned long)page, strerror(errno));
}

/* ---- userfaultfd operations ---- */

static void uffd_wake(struct vm *vm, uint64_t page)
{
	struct uffdio_range r = { .start = page_hva(vm, page), .len = PAGE };

	ioctl(vm->uffd, UFFDIO_WAKE, &r);
}

static int uffd_protect(struct vm *vm, uint64_t page, uint64_t count, bool wp)
{
	struct uffdio_writeprotect w = {
		.range = { .start = page_hva(vm, page), .len = count * PAGE },
		.mode = wp ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return ioctl(vm->uffd, UFFDIO_WRITEPROTECT, &w) < 0 ? -errno : 0;
}

/*
 * Install @count pages at @page from @src.  Write-protected pages stay
 * clean until the guest writes them (a WP fault tells us).  0, or -errno;
 * -EEXIST (someone was first) counts as success: the page is there.
 */
static int uffd_install(struct vm *vm, uint64_t page, uint64_t count,
			const void *src, bool wp)
{
	struct uffdio_copy c = {
		.dst = page_hva(vm, page),
		.src = (uintptr_t)src,
		.len = count * PAGE,
		.mode = wp ? UFFDIO_COPY_MODE_WP : 0,
	};

	while (c.len) {
		if (ioctl(vm->uffd, UFFDIO_COPY, &c) == 0)
			return 0;
		if (errno == EAGAIN && c.copy > 0) {
			c.dst += (uint64_t)c.copy;
			c.src += (uint64_t)c.copy;
			c.len -= (uint64_t)c.copy;
			continue;
		}
		if (errno == EAGAIN)
			continue;
		if (errno == EEXIST && count > 1) {
			/* Some page of the run is there: go one by one. */
			for (uint64_t i = 0; i < count; i++)
				uffd_install(vm, page + i, 1,
					     (const uint8_t *)src + i * PAGE, wp);
			return 0;
		}
		if (errno == EEXIST) {
			uffd_wake(vm, page);
			return 0;
		}
		return -errno;
	}
	return 0;
}

static void install_failed(struct vm *vm, uint64_t page, int err)
{
	if (err == -ESRCH || err == -ENOENT)
		return;		/* the VMM is exiting */
	log_ratelimited(5000, LOG_LEVEL_ERR, "vm %s: installing page %lu: %s",
			vm->name, (unsigned long)page, strerror(-err));
}

/* Make @page resident (it was not) from @src. */
static void make_resident(struct vm *vm, uint64_t page, const void *src,
			  bool clean)
{
	uint8_t *e = &vm->pt[page];
	int ret = uffd_install(vm, page, 1, src, clean);

	if (ret)
		install_failed(vm, page, ret);
	pt_set_state(e, PS_RESIDENT);
	*e |= PT_REF;
	*e &= (uint8_t)~(PT_CACHED | PT_BUSY);
	if (!clean)
		*e |= PT_DIRTY;
	vm->resident++;
	note_resident(vm);
}

/* ---- the prefetch cache ---- */

void cache_drop(struct vm *vm, uint64_t page, bool wasted)
{
	struct cache_ent *ce = g_hash_table_lookup(vm->cache, &page);

	if (!ce)
		return;
	g_hash_table_remove(vm->cache, &ce->page);
	g_queue_unlink(&vm->cache_fifo, &ce->link);
	g_queue_push_tail_link(&vm->cache_free, &ce->link);
	vm->pt[page] &= (uint8_t)~PT_CACHED;
	if (wasted) {
		vm->st.pf_wasted++;
		prefetch_wasted(&vm->pf);
	}
}

static void cache_put(struct vm *vm, uint64_t page, const uint8_t *data)
{
	struct cache_ent *ce;
	GList *l;

	if (!vm->cache_pool)
		return;
	if (g_queue_is_empty(&vm->cache_free)) {
		ce = g_queue_peek_head_link(&vm->cache_fifo)->data;
		cache_drop(vm, ce->page, true);
	}
	l = g_queue_pop_head_link(&vm->cache_free);
	ce = l->data;
	ce->page = page;
	memcpy(ce->buf, data, PAGE);
	g_queue_push_tail_link(&vm->cache_fifo, &ce->link);
	g_hash_table_insert(vm->cache, &ce->page, ce);
	vm->pt[page] |= PT_CACHED;
}

/* ---- fetching ---- */

static int cmp_page(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Remember a fault for later, on queue @q. */
void queue_fault(GQueue *q, uint64_t page, uint64_t t0, bool write)
{
	struct deferred *d = g_new(struct deferred, 1);

	d->page = page;
	d->t0 = t0;
	d->write = write;
	g_queue_push_tail(q, d);
}

/* A fault whose page could not be fetched now: the retry timer redoes it. */
void retry_later(struct vm *vm, uint64_t page, uint64_t t0, bool write)
{
	queue_fault(&vm->retry, page, t0, write);
	if (!evl_timer_armed(&vm->retry_timer))
		evl_timer_arm(vm->pg->loop, &vm->retry_timer, RETRY_NS);
}

/*
 * A READ (or a degraded read) answered.  Pages a fault waits for are
 * installed, the others go to the prefetch cache; on failure the waiting
 * faults are retried from the timer, by then perhaps as degraded reads.
 */
void fetch_done(void *arg, int err, uint8_t status)
{
	struct fetch *f = arg;
	struct vm *vm = f->vm;
	uint64_t i = 0;

	if (vm->dead)
		goto out;
	if (err || status) {
		vm->st.fetch_errors++;
		log_ratelimited(5000, LOG_LEVEL_ERR,
				"vm %s: reading pages %lu+%u failed: %s; the "
				"faulting vCPU waits and the read is retried",
				vm->name, (unsigned long)f->page, f->count,
				err ? strerror(-err) : rmap_status_name(status));
		for (i = 0; i < f->count; i++) {
			uint64_t p = f->page + i * f->stride;
			uint8_t *e = &vm->pt[p];

			if (pt_state(*e) != PS_FETCHING)
				continue;
			pt_set_state(e, PS_REMOTE);
			if (*e & PT_BUSY) {
				/* Try again shortly, from the timer (never from here). */
				bool write = *e & PT_WANT_WRITE;

				*e &= (uint8_t)~(PT_BUSY | PT_WANT_WRITE);
				vm->wanted--;
				retry_later(vm, p, f->t0, write);
			}
		}
		goto out;
	}
	while (i < f->count) {
		uint64_t p = f->page + i * f->stride, n = 0;
		uint8_t *e = &vm->pt[p];

		if (pt_state(*e) != PS_FETCHING) {
			i++;		/* discarded meanwhile: drop it */
			continue;
		}
		if (!(*e & PT_BUSY)) {
			pt_set_state(e, PS_REMOTE);
			cache_put(vm, p, f->buf + i * PAGE);
			i++;
			continue;
		}
		if (*e & PT_WANT_WRITE) {
			/* A write waits: install it writable, already dirty. */
			n = 1;
		} else {
			/* Reads wait: one write-protected UFFDIO_COPY per run
			 * of neighbours (the rows of one slot are not). */
			n = 1;
			while (f->stride == 1 && i + n < f->count &&
			       pt_state(vm->pt[p + n]) == PS_FETCHING &&
			       (vm->pt[p + n] & PT_BUSY) &&
			       !(vm->pt[p + n] & PT_WANT_WRITE) &&
			       page_hva(vm, p + n) == page_hva(vm, p) + n * PAGE)
				n++;
		}
		bool dirty = *e & PT_WANT_WRITE;
		int ret = uffd_install(vm, p, n, f->buf + i * PAGE, !dirty);

		if (ret)
			install_failed(vm, p, ret);
		for (uint64_t k = 0; k < n; k++) {
			uint8_t *ek = &vm->pt[p + k];

			pt_set_state(ek, PS_RESIDENT);
			*ek = (uint8_t)((*ek | PT_REF) &
					~(PT_BUSY | PT_DIRTY | PT_WANT_WRITE));
			if (dirty)
				*ek |= PT_DIRTY;
			vm->wanted--;
			vm->resident++;
		}
		note_resident(vm);
		i += n;
	}
	if (f->demand)
		hist_add(vm, f->t0);
	vm_drain_deferred(vm);
	vm_evict_more(vm);
out:
	free(f->buf);
	free(f);
	vm_put(vm);
}

/*
 * READ @count rows of one group slot from server @s: the pages @page,
 * @page + S, ...  Every page must be REMOTE and uncached.  If @demand is
 * among them a fault waits for it.
 */
static void fetch_start(struct vm *vm, uint64_t page, uint32_t count,
			unsigned s, uint64_t demand, uint64_t t0)
{
	const struct pg_geometry *geo = pg_geometry(vm->groups);
	struct fetch *f;
	unsigned slot, row;
	uint64_t g;
	int ret;

	f = calloc(1, sizeof(*f));
	if (!f || posix_memalign((void **)&f->buf, PAGE, (size_t)count * PAGE)) {
		free(f);
		return;
	}
	f->vm = vm;
	f->page = page;
	f->count = count;
	f->stride = geo->width;
	f->t0 = t0;
	for (uint32_t i = 0; i < count; i++) {
		uint64_t p = page + (uint64_t)i * f->stride;
		uint8_t *e = &vm->pt[p];

		pt_set_state(e, PS_FETCHING);
		if (p == demand) {
			*e |= PT_BUSY;
			vm->wanted++;
			f->demand = true;
		}
	}
	vm->st.pf_issued += f->demand ? count - 1 : count;
	pg_locate(geo, page, &g, &slot, &row);
	ret = remote_read(vm->pg->remote, &vm->sess[s], pg_key(geo, g, row),
			  count, f->buf, fetch_done, f);
	vm_get(vm);
	if (ret)
		fetch_done(f, ret, 0);	/* same path: retried, not lost */
}

static bool prefetchable(struct vm *vm, uint64_t p, unsigned *server)
{
	return p < vm->npages && pt_state(vm->pt[p]) == PS_REMOTE &&
	       !(vm->pt[p] & PT_CACHED) &&
	       group_read_mode(vm, p, server) == R_SERVER;
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
 * servers of a group are asked in parallel.
 */
static void fetch_around(struct vm *vm, uint64_t page, bool demand,
			 unsigned window, int64_t stride, uint64_t t0)
{
	const struct pg_geometry *geo = pg_geometry(vm->groups);
	uint64_t want[RMAP_MAX_PAGES + 1];
	unsigned srv[RMAP_MAX_PAGES + 1];
	uint64_t dpage = demand ? page : UINT64_MAX;
	unsigned n = 0, s;

	if (demand && group_read_mode(vm, page, &s) == R_SERVER) {
		srv[n] = s;
		want[n++] = slot_ordinal(geo, page);
	}
	if (window > RMAP_MAX_PAGES)
		window = RMAP_MAX_PAGES;
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
		unsigned k = 1;

		while (i + k < n && want[i + k] == want[i] + k &&
		       want[i + k] / geo->rows == run)
			k++;
		fetch_start(vm, pg_page(geo, g, slot, row), k, srv[i], dpage,
			    t0);
		i += k;
	}
}

/* ---- faults ---- */

/* Over budget plus slack: the fault waits until evictions land. */
static void defer_fault(struct vm *vm, uint64_t page, uint64_t t0, bool write)
{
	queue_fault(&vm->deferred, page, t0, write);
	vm->st.deferred++;
}

void retry_fire(struct evl *loop, struct evl_timer *t)
{
	struct vm *vm = (struct vm *)((char *)t - offsetof(struct vm, retry_timer));
	GQueue q = vm->retry;

	(void)loop;
	g_queue_init(&vm->retry);
	while (!g_queue_is_empty(&q)) {
		struct deferred *d = g_queue_pop_head(&q);

		if (!vm->dead)
			vm_handle_missing(vm, d->page, d->t0, d->write);
		g_free(d);
	}
}

void vm_drain_deferred(struct vm *vm)
{
	while (!g_queue_is_empty(&vm->deferred) && !over_hard_limit(vm)) {
		struct deferred *d = g_queue_pop_head(&vm->deferred);

		vm_handle_missing(vm, d->page, d->t0, d->write);
		g_free(d);
	}
}

/* The guest (or QEMU) freed @page behind our back, or told us so. */
void page_discarded(struct vm *vm, uint64_t page)
{
	uint8_t *e = &vm->pt[page];

	switch (pt_state(*e)) {
	case PS_NEVER:
		return;
	case PS_RESIDENT:
	case PS_EVICTING:
		if (pt_state(*e) == PS_EVICTING)
			vm->evicting--;
		vm->resident--;
		/* A WRITE in flight will still land: keep PT_HAS_REMOTE. */
		if (*e & PT_BUSY)
			*e |= PT_HAS_REMOTE;
		break;
	case PS_REMOTE:
		cache_drop(vm, page, true);
		break;
	case PS_SPILLED:
		break;
	case PS_FETCHING:
		if (*e & PT_BUSY) {
			/* A fault waits: after a discard the page is zeros. */
			vm->wanted--;
			*e &= (uint8_t)~PT_BUSY;
			make_resident(vm, page, vm->pg->zero_page, false);
			if (*e & PT_HAS_REMOTE)
				remote_copy_drop(vm, page);
			vm->st.discarded_pages++;
			return;
		}
		break;
	default:
		break;
	}
	if (*e & PT_HAS_REMOTE && !(*e & PT_BUSY))
		remote_copy_drop(vm, page);
	*e = (uint8_t)(*e & PT_HAS_REMOTE);	/* NEVER, flags cleared */
	vm->st.discarded_pages++;
}

void vm_handle_missing(struct vm *vm, uint64_t page, uint64_t t0, bool write)
{
	uint8_t *e = &vm->pt[page];
	struct cache_ent *ce;
	int64_t stride = 1;
	unsigned window, stream, srv;

	switch (pt_state(*e)) {
	case PS_RESIDENT:
	case PS_EVICTING:
		if (page_present(vm, page)) {
			/* Installed while this fault was queued. */
			vm->st.spurious++;
			uffd_wake(vm, page);
			return;
		}
		/* Gone from the memfd without us: a discard. */
		page_discarded(vm, page);
		break;
	case PS_FETCHING:
		if (!(*e & PT_BUSY)) {
			if (over_hard_limit(vm)) {
				defer_fault(vm, page, t0, write);
				return;
			}
			*e |= PT_BUSY;	/* a prefetch becomes a demand */
			vm->wanted++;
			vm->st.pf_hit++;
			prefetch_hit(&vm->pf);
		}
		if (write)
			*e |= PT_WANT_WRITE;
		return;
	default:
		break;
	}
	if (over_hard_limit(vm)) {
		defer_fault(vm, page, t0, write);
		vm_evict_more(vm);
		return;
	}
	switch (pt_state(*e)) {
	case PS_NEVER:
		vm->st.zero_faults++;
		make_resident(vm, page, vm->pg->zero_page, false);
		hist_add(vm, t0);
		break;
	case PS_SPILLED:
		vm->st.spill_faults++;
		if (pread(vm->spill_fd, vm->pg->scratch, PAGE,
			  (off_t)(page * PAGE)) != PAGE) {
			log_ratelimited(5000, LOG_LEVEL_ERR,
					"vm %s: reading page %lu from the spill "
					"file failed", vm->name,
					(unsigned long)page);
			defer_fault(vm, page, t0, write);
			return;
		}
		/* The spill copy is not a server copy: install it dirty. */
		make_resident(vm, page, vm->pg->scratch, false);
		hist_add(vm, t0);
		break;
	case PS_REMOTE:
		stream = prefetch_note(&vm->pf, page);
		if (*e & PT_CACHED) {
			ce = g_hash_table_lookup(vm->cache, &page);
			vm->st.cache_hits++;
			vm->st.pf_hit++;
			prefetch_hit(&vm->pf);
			make_resident(vm, page, ce->buf, !write);
			cache_drop(vm, page, false);
			hist_add(vm, t0);
			/* Stay ahead of a trend that holds. */
			window = prefetch_ahead(&vm->pf, stream, &stride);
			if (window)
				fetch_around(vm, page, false, window, stride, t0);
			break;
		}
		switch (group_read_mode(vm, page, &srv)) {
		case R_DEGRADED:
			degraded_read(vm, page, t0, write);
			goto evict;
		case R_LOST:
			lost_fault(vm, page);
			goto evict;
		case R_NONE:
			retry_later(vm, page, t0, write);
			goto evict;
		case R_SERVER:
			break;
		}
		vm->st.net_faults++;
		window = prefetch_plan(&vm->pf, stream, &stride);
		fetch_around(vm, page, true, window, stride, t0);
		if (pt_state(*e) != PS_FETCHING) {
			/* Could not even ask: try again from the timer. */
			retry_later(vm, page, t0, write);
			break;
		}
		if (write)
			*e |= PT_WANT_WRITE;
		break;
	default:
		break;
	}
evict:
	vm_evict_more(vm);
}

static void vm_handle_wp(struct vm *vm, uint64_t page)
{
	uint8_t *e = &vm->pt[page];

	vm->st.wp_faults++;
	switch (pt_state(*e)) {
	case PS_EVICTING:
		/* The write wins: the eviction in flight is abandoned. */
		vm->evicting--;
		vm->st.evict_cancelled++;
		pt_set_state(e, PS_RESIDENT);
		/* fall through */
	case PS_RESIDENT:
		*e |= PT_DIRTY | PT_REF;
		if (uffd_protect(vm, page, 1, false))
			uffd_wake(vm, page);
		break;
	default:
		/* Punched meanwhile: retrying faults it in afresh. */
		uffd_wake(vm, page);
		break;
	}
}

static void vm_handle_remove(struct vm *vm, uint64_t start, uint64_t end)
{
	for (uint64_t a = start; a < end; a += PAGE) {
		uint64_t p = hva_page(vm, a);

		if (p == UINT64_MAX)
			continue;
		/* madvise(DONTNEED) of shared memory keeps the page. */
		if ((pt_state(vm->pt[p]) == PS_RESIDENT ||
		     pt_state(vm->pt[p]) == PS_EVICTING) && page_present(vm, p))
			continue;
		page_discarded(vm, p);
	}
	vm->st.discards++;
	vm_drain_deferred(vm);
}


void uffd_ready(struct evl *loop, struct evl_op *op, int res)
{
	struct vm *vm = (struct vm *)((char *)op - offsetof(struct vm, poll_op));
	struct uffd_msg msgs[UFFD_BATCH];
	ssize_t n;

	(void)res;
	if (vm->dead) {
		vm_put(vm);
		return;
	}
	for (;;) {
		n = read(vm->uffd, msgs, sizeof(msgs));
		if (n <= 0)
			break;
		for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++) {
			struct uffd_msg *m = &msgs[i];
			uint64_t t0 = evl_now_ns(), p;

			if (m->event == UFFD_EVENT_REMOVE) {
				vm_handle_remove(vm, m->arg.remove.start,
						 m->arg.remove.end);
				continue;
			}
			if (m->event != UFFD_EVENT_PAGEFAULT)
				continue;
			p = hva_page(vm, m->arg.pagefault.address & ~(uint64_t)(PAGE - 1));
			if (p >= vm->npages) {
				log_ratelimited(5000, LOG_LEVEL_ERR,
						"vm %s: fault at %#llx outside "
						"its regions", vm->name,
						m->arg.pagefault.address);
				continue;
			}
			if (m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP)
				vm_handle_wp(vm, p);
			else
				vm_handle_missing(vm, p, t0,
						  m->arg.pagefault.flags &
						  UFFD_PAGEFAULT_FLAG_WRITE);
		}
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		log_warn("vm %s: userfaultfd closed (%s)", vm->name,
			 n == 0 ? "end of file" : strerror(errno));
		vm_put(vm);
		return;
	}
	evl_poll(loop, vm->uffd, POLLIN, &vm->poll_op);
}

/* ---- eviction ---- */

/* Pages of one group slot, in consecutive rows, going to one server. */
struct evict_run {
	struct vm *vm;
	unsigned server, parity_srv;
	enum write_mode mode;
	uint64_t page;		/* the first; the others follow S apart */
	uint32_t count, stride;
	uint8_t *buf;
	uint8_t *delta;		/* W_XOR: old ^ new, for the parity */
};

bool is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;

	for (unsigned i = 0; i < PAGE / 8; i++)
		if (w[i])
			return false;
	return true;
}

/* The last resort: the page goes to the local spill file. */
static void spill_page(struct vm *vm, uint64_t page, const uint8_t *data)
{
	uint8_t *e = &vm->pt[page];

	if (pwrite(vm->spill_fd, data, PAGE, (off_t)(page * PAGE)) != PAGE) {
		/* Cannot store it anywhere: it stays resident. */
		log_ratelimited(5000, LOG_LEVEL_ERR,
				"vm %s: spill file write failed: %s; page "
				"stays resident", vm->name, strerror(errno));
		if (pt_state(*e) == PS_EVICTING) {
			pt_set_state(e, PS_RESIDENT);
			vm->evicting--;
			uffd_protect(vm, page, 1, false);
			*e |= PT_DIRTY;
		}
		return;
	}
	/* A remote copy that must stay (parity) stays flagged. */
	if (*e & PT_HAS_REMOTE)
		remote_copy_drop(vm, page);
	if (pt_state(*e) == PS_EVICTING)
		vm->evicting--;
	punch(vm, page, 1);
	pt_set_state(e, PS_SPILLED);
	*e &= (uint8_t)~(PT_DIRTY | PT_REF);
	vm->resident--;
	vm->st.evict_spilled++;
}

/* The eviction of @page is off for now: resident, dirty, writable. */
static void evict_revert(struct vm *vm, uint64_t page)
{
	uint8_t *e = &vm->pt[page];

	if (pt_state(*e) != PS_EVICTING)
		return;
	pt_set_state(e, PS_RESIDENT);
	*e |= PT_DIRTY;
	vm->evicting--;
	vm->st.evict_waited++;
	uffd_protect(vm, page, 1, false);
}

static void evict_write_done(void *arg, int err, uint8_t status)
{
	struct evict_run *run = arg;
	struct vm *vm = run->vm;
	const struct pg_geometry *geo;
	uint64_t gone[PG_MAX_ROWS] = { 0 }, g;
	unsigned ngone = 0, slot, row;
	struct pg_group *grp;
	bool moves = false;

	if (vm->dead)
		goto out;
	geo = pg_geometry(vm->groups);
	pg_locate(geo, run->page, &g, &slot, &row);
	grp = pg_group(vm->groups, g);
	if (!err && !status)
		/* The delta goes on to the parity before this writer ends. */
		group_write_done(vm, run->page, run->count,
				 run->mode == W_XOR ? run->delta : NULL,
				 run->parity_srv);
	if ((err || status) && run->mode == W_STRIPE)
		group_stripe_failed(vm, run->page);
	if (status == RMAP_S_FULL)
		moves = group_full(vm, run->page);
	for (uint32_t i = 0; i < run->count; i++) {
		uint64_t p = run->page + (uint64_t)i * run->stride;
		uint8_t *e = &vm->pt[p];

		*e &= (uint8_t)~PT_BUSY;
		if (err || status) {
			/*
			 * Not stored: it stays resident until its group can
			 * take it (a dead server is being rebuilt, a full one
			 * moved), or spills if no server ever can.
			 */
			if (status == RMAP_S_FULL && !moves &&
			    pt_state(*e) == PS_EVICTING)
				spill_page(vm, p, run->buf + (size_t)i * PAGE);
			else
				evict_revert(vm, p);
			continue;
		}
		*e |= PT_HAS_REMOTE;
		if (pt_state(*e) != PS_EVICTING)
			continue;	/* a write cancelled it: copy is stale */
		gone[ngone++] = p;
		pt_set_state(e, PS_REMOTE);
		*e &= (uint8_t)~(PT_DIRTY | PT_REF);
		vm->evicting--;
		vm->resident--;
		vm->st.evict_dirty++;
	}
	punch_list(vm, gone, ngone);
	if (status == RMAP_S_FULL)
		log_ratelimited(10000, LOG_LEVEL_WARN,
				"vm %s: server %s is full; %s", vm->name,
				remote_server(vm->pg->remote, run->server)->name,
				moves ? "its group slots move to servers with "
					"room" : "no server has room: the pages "
					"go to the spill file");
	if (!--grp->writers)
		pwait_drain(vm);
	vm_drain_deferred(vm);
	vm_evict_more(vm);
out:
	free(run->buf);
	free(run->delta);
	free(run);
	vm_put(vm);
}

static void run_send(struct vm *vm, struct evict_run *run)
{
	const struct pg_geometry *geo = pg_geometry(vm->groups);
	struct iovec iov = { run->buf, (size_t)run->count * PAGE };
	bool xor = run->mode == W_XOR;
	unsigned slot, row;
	uint64_t g;
	int ret;

	pg_locate(geo, run->page, &g, &slot, &row);
	pg_group(vm->groups, g)->writers++;
	vm_get(vm);
	ret = remote_call(vm->pg->remote, &vm->sess[run->server],
			  xor ? RMAP_T_XWRITE : RMAP_T_WRITE,
			  pg_key(geo, g, row), run->count, &iov, 1,
			  xor ? run->delta : NULL,
			  xor ? run->count * PAGE : 0, evict_write_done, run);
	if (ret)
		evict_write_done(run, ret, 0);
}

static struct evict_run *run_new(struct vm *vm, enum write_mode mode,
				 unsigned server, unsigned parity_srv,
				 uint64_t page)
{
	const struct pg_geometry *geo = pg_geometry(vm->groups);
	size_t len = (size_t)geo->rows * PAGE;
	struct evict_run *run = calloc(1, sizeof(*run));

	if (!run || posix_memalign((void **)&run->buf, PAGE, len) ||
	    (mode == W_XOR && posix_memalign((void **)&run->delta, PAGE, len))) {
		if (run)
			free(run->buf);
		free(run);
		return NULL;
	}
	run->vm = vm;
	run->mode = mode;
	run->server = server;
	run->parity_srv = parity_srv;
	run->page = page;
	run->stride = geo->width;
	return run;
}

/*
 * Punch holes for the pages of @list[0..n) (ascending) in as few
 * fallocate calls as there are contiguous runs.
 */
static void punch_list(struct vm *vm, const uint64_t *list, unsigned n)
{
	for (unsigned i = 0; i < n;) {
		unsigned k = 1;

		while (i + k < n && list[i + k] == list[i] + k)
			k++;
		punch(vm, list[i], k);
		i += k;
	}
}

/* A dirty page about to be sent, in its server's key order. */
struct outgoing {
	uint64_t ord;
	unsigned i;		/* its index in the batch */
	unsigned server, parity_srv;
	enum write_mode mode;
};

/*
 * Turn the W_XOR pages of @out (in page order) that make whole stripes
 * into W_STRIPE, and send each group's run of whole-stripe parities.
 */
static void stripes_find(struct vm *vm, const uint64_t *victims,
			 const uint8_t *buf, struct outgoing *out, unsigned nout)
{
	const struct pg_geometry *geo = pg_geometry(vm->groups);
	uint8_t *par = NULL;
	uint64_t pg = UINT64_MAX;
	unsigned prow = 0, np = 0, psrv = 0;

	for (unsigned k = 0; k + geo->width <= nout;) {
		uint64_t p0 = victims[out[k].i], g;
		unsigned slot, row, w;

		pg_locate(geo, p0, &g, &slot, &row);
		for (w = 0; slot == 0 && w < geo->width; w++)
			if (out[k + w].mode != W_XOR ||
			    victims[out[k + w].i] != p0 + w)
				break;
		if (slot || w < geo->width || pg_group(vm->groups, g)->deltas) {
			k++;
			continue;
		}
		/* A stripe: flush the parity run unless this row extends it. */
		if (np && (g != pg || row != prow + np ||
			   np == geo->rows)) {
			group_stripe_parity(vm, pg, prow, np, par, psrv);
			np = 0;
		}
		if (!par && posix_memalign((void **)&par, PAGE,
					   (size_t)geo->rows * PAGE))
			return;		/* no memory: W_XOR it stays */
		if (!np) {
			pg = g;
			prow = row;
			psrv = out[k].parity_srv;
		}
		memcpy(par + (size_t)np * PAGE, buf + (size_t)out[k].i * PAGE,
		       PAGE);
		for (w = 0; w < geo->width; w++) {
			if (w)
				pg_xor(par + (size_t)np * PAGE,
				       buf + (size_t)out[k + w].i * PAGE, PAGE);
			out[k + w].mode = W_STRIPE;
		}
		np++;
		k += geo->width;
	}
	if (np)
		group_stripe_parity(vm, pg, prow, np, par, psrv);
	free(par);
}

/*
 * Evict @victims[0..n).  Returns how many left or are leaving; the pages
 * whose group cannot take a write now stay resident.
 */
static unsigned evict_batch(struct vm *vm, uint64_t *victims, unsigned n)
{
	const struct pg_geometry *geo = pg_geometry(vm->groups);
	struct outgoing out[EVICT_BATCH];
	struct evict_run *run = NULL;
	uint64_t gone[EVICT_BATCH];	/* punch now: clean or zero */
	uint8_t *buf = vm->pg->batch;
	unsigned ngone = 0, nout = 0, kept = 0;

	/* Ascending order makes runs: one syscall per run, not per page. */
	qsort(victims, n, sizeof(*victims), cmp_page);

	/* 0. Dirty pages whose group cannot take a write now stay. */
	for (unsigned i = 0; i < n; i++) {
		uint8_t e = vm->pt[victims[i]];
		unsigned ds, ps;

		if ((e & PT_DIRTY || !(e & PT_HAS_REMOTE)) &&
		    group_write_mode(vm, victims[i], &ds, &ps) == W_WAIT)
			continue;
		victims[kept++] = victims[i];
	}
	n = kept;
	/* 1. Write-protect first: from here on, writes fault to us. */
	for (unsigned i = 0; i < n;) {
		unsigned k = 1;

		while (i + k < n && victims[i + k] == victims[i] + k &&
		       page_hva(vm, victims[i + k]) ==
		       page_hva(vm, victims[i]) + k * PAGE)
			k++;
		uffd_protect(vm, victims[i], k, true);
		i += k;
	}
	/* 2. Read what the guest last wrote, a run at a time. */
	for (unsigned i = 0; i < n;) {
		unsigned k = 1;
		ssize_t want, got;

		while (i + k < n && victims[i + k] == victims[i] + k)
			k++;
		want = (ssize_t)k * PAGE;
		got = pread(vm->memfd, buf + (size_t)i * PAGE, (size_t)want,
			    (off_t)(victims[i] * PAGE));
		if (got != want) {
			/* Cannot read them: they stay resident. */
			uffd_protect(vm, victims[i], k, false);
			for (unsigned j = i; j < i + k; j++)
				victims[j] = UINT64_MAX;
		}
		i += k;
	}
	kept = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t p = victims[i];
		uint8_t *data = buf + (size_t)i * PAGE;
		unsigned ds = 0, ps = 0;
		enum write_mode mode;
		uint8_t *e;

		if (p == UINT64_MAX)
			continue;
		e = &vm->pt[p];
		if (pt_state(*e) != PS_RESIDENT)
			continue;
		kept++;
		/* Clean, and its server copy is valid: nothing to send. */
		if (!(*e & PT_DIRTY) && *e & PT_HAS_REMOTE) {
			gone[ngone++] = p;
			pt_set_state(e, PS_REMOTE);
			*e &= (uint8_t)~PT_REF;
			vm->resident--;
			vm->st.evict_clean++;
			continue;
		}
		if (is_zero(data)) {
			/* Nothing worth storing: it is "never written" again
			 * (with its server copy, if that must stay). */
			if (*e & PT_HAS_REMOTE)
				remote_copy_drop(vm, p);
			gone[ngone++] = p;
			*e = (uint8_t)(PS_NEVER | (*e & PT_HAS_REMOTE));
			vm->resident--;
			vm->st.evict_zero++;
			continue;
		}
		mode = group_write_mode(vm, p, &ds, &ps);
		if (mode == W_SPILL) {
			pt_set_state(e, PS_EVICTING);
			vm->evicting++;
			spill_page(vm, p, data);
			continue;
		}
		if (mode == W_WAIT) {
			/* The zero page above changed nothing: cannot be. */
			uffd_protect(vm, p, 1, false);
			kept--;
			continue;
		}
		out[nout++] = (struct outgoing){ slot_ordinal(geo, p), i, ds,
						 ps, mode };
		pt_set_state(e, PS_EVICTING);
		*e |= PT_BUSY;
		vm->evicting++;
	}
	/* 3. Full stripes: the parity is computed here, written whole. */
	if (geo->parity && geo->width > 1)
		stripes_find(vm, victims, buf, out, nout);
	/* 4. Send: consecutive rows of one group slot share a WRITE. */
	for (unsigned i = 1; i < nout; i++)
		for (unsigned j = i; j > 0 && out[j - 1].ord > out[j].ord; j--) {
			struct outgoing t = out[j];

			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	for (unsigned k = 0; k < nout; k++) {
		struct outgoing *o = &out[k];
		uint64_t p = victims[o->i];

		if (run && (run->mode != o->mode ||
			    o->ord != out[k - 1].ord + 1 ||
			    o->ord / geo->rows != out[k - 1].ord / geo->rows)) {
			run_send(vm, run);
			run = NULL;
		}
		if (!run)
			run = run_new(vm, o->mode, o->server, o->parity_srv, p);
		if (!run) {
			/* No memory for a run: this page stays. */
			vm->pt[p] &= (uint8_t)~PT_BUSY;
			evict_revert(vm, p);
			continue;
		}
		memcpy(run->buf + (size_t)run->count * PAGE,
		       buf + (size_t)o->i * PAGE, PAGE);
		run->count++;
	}
	if (run)
		run_send(vm, run);
	punch_list(vm, gone, ngone);
	/* 5. The rest is punched in evict_write_done, after the ACK. */
	return kept;
}

void vm_evict_more(struct vm *vm)
{
	uint64_t low = vm->budget / 8 < EVICT_BATCH ? vm->budget / 8 : EVICT_BATCH;
	uint64_t target = vm->budget - low;
	uint64_t victims[EVICT_BATCH];
	unsigned rounds = 0;

	while (committed(vm) - vm->evicting > target &&
	       vm->evicting < EVICT_INFLIGHT) {
		uint64_t want = committed(vm) - vm->evicting - target;

		/* Evict in batches, not a page per fault. */
		if (want < low)
			want = low;
		unsigned n = evict_select(&vm->clock, vm->pt, vm->npages, victims,
					  want < EVICT_BATCH ? (unsigned)want
							     : EVICT_BATCH);

		if (!n)
			break;
		/* Whole batches that must wait: try other pages, a while. */
		if (!evict_batch(vm, victims, n) && ++rounds > 8)
			break;
	}
}

/* ---- the pager ---- */

int pager_new(struct pager **out, struct evl *loop, struct remote *r,
	      const struct pager_config *cfg)
{
	struct pager *pg = calloc(1, sizeof(*pg));

	if (!pg)
		return -ENOMEM;
	pg->loop = loop;
	pg->remote = r;
	pg->cfg = *cfg;
	if (posix_memalign((void **)&pg->zero_page, PAGE, PAGE) ||
	    posix_memalign((void **)&pg->scratch, PAGE, PAGE) ||
	    posix_memalign((void **)&pg->batch, PAGE, EVICT_BATCH * PAGE)) {
		free(pg->zero_page);
		free(pg->scratch);
		free(pg);
		return -ENOMEM;
	}
	memset(pg->zero_page, 0, PAGE);
	jobs_init(pg);
	remote_on_failure(r, pager_server_failed, pg);
	*out = pg;
	return 0;
}

void pager_free(struct pager *pg)
{
	if (!pg)
		return;
	jobs_stop(pg);
	while (pg->vms)
		pager_unregister(pg, pg->vms);
	free(pg->zero_page);
	free(pg->scratch);
	free(pg->batch);
	free(pg);
}
