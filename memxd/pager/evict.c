// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * evict.c - pages out (evict.h).
 */
#include "evict.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "stripe.h"
#include "vm.h"

static int cmp_page(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Punch the holes of @list[0..n) (ascending), a run per call. */
static void punch_list(struct vm *vm, const uint64_t *list, unsigned n)
{
	uint64_t t0;

	if (!n)
		return;
	t0 = evl_now_ns();
	for (unsigned i = 0; i < n;) {
		unsigned k = 1;
		int ret;

		while (i + k < n && list[i + k] == list[i] + k)
			k++;
		ret = gm_punch(&vm->mem, list[i], k);
		if (ret)
			log_ratelimited(5000, LOG_LEVEL_ERR, "vm %s: punching "
					"pages %lu+%u: %s", vm->name,
					(unsigned long)list[i], k,
					strerror(-ret));
		i += k;
	}
	stage_add(&vm->st, ES_punch, evl_now_ns() - t0);
}

/* The eviction of EVICTING @page is off: resident, dirty, writable. */
static void cancel(struct vm *vm, uint64_t page)
{
	if (!pt_evict_cancel(&vm->pt, page))
		return;
	/*
	 * If unprotecting fails (EAGAIN), the next write takes a WP fault,
	 * which finds the page resident and unprotects it then.
	 */
	gm_protect(&vm->mem, page, 1, false);
}

/* The last resort: EVICTING @page goes to the local spill file. */
static bool spill(struct vm *vm, uint64_t page, const uint8_t *data)
{
	int ret = spill_write(&vm->spill, page, data);

	if (ret) {
		/* Cannot store it anywhere: it stays resident. */
		log_ratelimited(5000, LOG_LEVEL_ERR, "vm %s: spill file write "
				"failed: %s; page stays resident", vm->name,
				strerror(-ret));
		cancel(vm, page);
		return false;
	}
	/* A remote copy that must stay (parity) stays flagged. */
	if (pt_remote_droppable(&vm->pt, page))
		stripe_drop_copy(vm, page);
	pt_spilled(&vm->pt, page);
	vm->st.evict_spilled++;
	return true;
}

/* A stored page of a run leaves now: into @gone if it may be punched. */
static void stored_now(struct vm *vm, uint64_t p, uint64_t *gone,
		       unsigned *ngone)
{
	if (pt_write_end(&vm->pt, p, true)) {
		gone[(*ngone)++] = p;
		vm->st.evict_dirty++;
	} else if (pt_remote_droppable(&vm->pt, p)) {
		/* Written or freed meanwhile: the copy is stale. */
		stripe_drop_copy(vm, p);
	}
}

/*
 * The WRITEs of one batch.  A run carries one group slot, so with S > 1
 * its pages are S apart, and the pages of a whole stripe are spread over
 * S runs, to S servers, answering about together.  Their stored pages
 * wait here, still EVICTING (a write fault meanwhile cancels them as
 * always), until the batch's last run has answered: then they leave
 * together, and their holes are punched in runs of neighbours, one
 * fallocate where there were S per page.  With S = 1 a run's pages are
 * neighbours already, and its runs may queue behind each other on one
 * server: they leave as each run answers.
 */
struct batch {
	struct vm *vm;
	unsigned pending;	/* runs not answered yet, +1 while sending */
	unsigned n;
	uint64_t stored[EVICT_BATCH];
};

static void batch_put(struct batch *b)
{
	struct vm *vm = b->vm;
	uint64_t gone[EVICT_BATCH];
	unsigned ngone = 0;

	if (--b->pending)
		return;
	if (!vm->dead) {
		qsort(b->stored, b->n, sizeof(*b->stored), cmp_page);
		for (unsigned i = 0; i < b->n; i++)
			stored_now(vm, b->stored[i], gone, &ngone);
		punch_list(vm, gone, ngone);
		if (b->n)
			vm->up->changed(vm);
	}
	free(b);
	vm_put(vm);
}

/* A run of WRITEs ended (stripe.h). */
static void run_done(struct stripe_run *run, bool stored, bool to_spill)
{
	struct vm *vm = run->vm;
	struct batch *b = run->arg;
	uint64_t gone[PG_MAX_ROWS];
	uint32_t stride = vm_geo(vm)->width;
	unsigned ngone = 0;

	for (uint32_t i = 0; i < run->count && !vm->dead; i++) {
		uint64_t p = run->page + (uint64_t)i * stride;
		const uint8_t *data = run->buf + (size_t)i * PAGE;

		if (stored && stride > 1) {
			b->stored[b->n++] = p;
			continue;
		}
		if (stored) {
			stored_now(vm, p, gone, &ngone);
			continue;
		}
		pt_write_end(&vm->pt, p, false);
		/*
		 * Not stored: it stays resident until its group can take it
		 * (a dead server is being rebuilt, a full one moved), or
		 * spills if no server ever can.
		 */
		if (pt_state(&vm->pt, p) != PS_EVICTING)
			continue;
		/* The spill file takes the plaintext. */
		if (to_spill)
			integrity_crypt(&vm->integ, p,
					run->tags + (size_t)i * TAG_LEN,
					run->buf + (size_t)i * PAGE);
		if (to_spill && spill(vm, p, data)) {
			gone[ngone++] = p;
			continue;
		}
		vm->st.evict_waited++;
		cancel(vm, p);
	}
	if (ngone && !vm->dead) {
		punch_list(vm, gone, ngone);
		vm->up->changed(vm);
	}
	batch_put(b);
}

/* Sort @out by the key order of their servers: rows of one slot meet. */
static uint64_t slot_ordinal(const struct pg_geometry *geo, uint64_t page)
{
	unsigned slot, row;
	uint64_t g;

	pg_locate(geo, page, &g, &slot, &row);
	return g * pg_group_pages(geo) + (uint64_t)slot * geo->rows + row;
}

static void sort_by_key(const struct pg_geometry *geo,
			struct stripe_page *out, unsigned n)
{
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j > 0 &&
		     slot_ordinal(geo, out[j - 1].page) >
		     slot_ordinal(geo, out[j].page); j--) {
			struct stripe_page t = out[j];

			out[j] = out[j - 1];
			out[j - 1] = t;
		}
}

/* Send @out[0..n) (sorted by key): consecutive rows of a slot share a
 * WRITE. */
static void send_runs(struct vm *vm, struct stripe_page *out, unsigned n)
{
	const struct pg_geometry *geo = vm_geo(vm);
	struct stripe_run *run = NULL;
	struct batch *b = NULL;
	uint64_t prev = 0;

	if (!n)
		return;
	b = calloc(1, sizeof(*b));
	if (b) {
		b->vm = vm;
		b->pending = 1;		/* ours, while sending */
		vm_get(vm);
	}

	for (unsigned k = 0; k < n; k++) {
		struct stripe_page *o = &out[k];
		uint64_t ord = slot_ordinal(geo, o->page);

		if (run && (run->mode != o->mode || ord != prev + 1 ||
			    ord / geo->rows != prev / geo->rows)) {
			stripe_write(run);
			run = NULL;
		}
		prev = ord;
		if (!run && b) {
			run = stripe_run_new(vm, o->mode, o->server,
					     o->parity_srv, o->page);
			if (run) {
				run->done = run_done;
				run->arg = b;
				b->pending++;
			}
		}
		if (!run) {
			/* No memory for a run: this page stays. */
			pt_write_end(&vm->pt, o->page, false);
			cancel(vm, o->page);
			continue;
		}
		memcpy(run->buf + (size_t)run->count * PAGE, o->data, PAGE);
		if (o->tag)
			memcpy(run->tags + (size_t)run->count * TAG_LEN, o->tag,
			       TAG_LEN);
		run->count++;
	}
	if (run)
		stripe_write(run);
	if (b)
		batch_put(b);
}

/* How many of @pages[0..n) are neighbours from the first on, that one
 * UFFDIO_WRITEPROTECT covers. */
static unsigned run_length(struct vm *vm, const uint64_t *pages, unsigned n)
{
	unsigned k = 1;

	while (k < n && pages[k] == pages[0] + k &&
	       gm_contiguous(&vm->mem, pages[0], k + 1))
		k++;
	return k;
}

/*
 * The refault policy's sampling hand (victim.h): write-protect the dirty
 * hot pages it hands back, a run per call, so that their next write is a
 * WP fault, which marks them used (PT_REF) and keeps them dirty.  One
 * that cannot be protected (EAGAIN: an unread REMOVE event) is marked
 * used instead: its writes would not show.
 */
static void sample_hot(struct vm *vm)
{
	uint64_t pages[EVICT_BATCH];
	unsigned n;

	do {
		n = victim_sample(&vm->victim, &vm->pt, pages, EVICT_BATCH);
		for (unsigned i = 0; i < n;) {
			unsigned k = run_length(vm, pages + i, n - i);

			if (gm_protect(&vm->mem, pages[i], k, true))
				for (unsigned j = i; j < i + k; j++)
					pt_touch(&vm->pt, pages[j]);
			i += k;
		}
	} while (n == EVICT_BATCH);
}

/*
 * A clean page whose server copy is valid leaves without a write-protect
 * or a read: it is write-protected already (installed so, or again at a
 * takeover; its first write makes it dirty), and none of it is sent.
 */
static bool leaves_unread(const struct vm *vm, uint64_t page)
{
	return !pt_has(&vm->pt, page, PT_DIRTY) &&
	       pt_has(&vm->pt, page, PT_HAS_REMOTE);
}

/*
 * From @pages[0], which must be read, the run of neighbours that one call
 * covers, up to the last that must be read: a clean page between two
 * that must costs less read along than a call of its own.
 */
static unsigned read_run(struct vm *vm, const uint64_t *pages, unsigned n)
{
	unsigned k = run_length(vm, pages, n);

	while (k > 1 && leaves_unread(vm, pages[k - 1]))
		k--;
	return k;
}

/*
 * Write-protect @victims[0..n) (ascending), a run per call, but for the
 * clean pages that leave unread.  Those that could not be protected
 * (EAGAIN: an unread REMOVE event) are set to UINT64_MAX: without the
 * protection a write could slip past the copy.
 */
static void protect(struct vm *vm, uint64_t *victims, unsigned n)
{
	uint64_t t0 = evl_now_ns();

	for (unsigned i = 0; i < n;) {
		unsigned k;

		if (leaves_unread(vm, victims[i])) {
			pt_evict_begin(&vm->pt, victims[i++]);
			continue;
		}
		k = read_run(vm, victims + i, n - i);
		if (gm_protect(&vm->mem, victims[i], k, true)) {
			vm->st.evict_unprotected += k;
			for (unsigned j = i; j < i + k; j++)
				victims[j] = UINT64_MAX;
		} else {
			for (unsigned j = i; j < i + k; j++)
				pt_evict_begin(&vm->pt, victims[j]);
		}
		i += k;
	}
	stage_add(&vm->st, ES_protect, evl_now_ns() - t0);
}

/*
 * Read what the guest last wrote, a run at a time, into @buf; not the
 * clean pages that leave unread.
 */
static void read_victims(struct vm *vm, uint64_t *victims, unsigned n,
			 uint8_t *buf)
{
	uint64_t t0 = evl_now_ns();

	for (unsigned i = 0; i < n;) {
		unsigned k = 1;

		if (victims[i] == UINT64_MAX ||
		    leaves_unread(vm, victims[i])) {
			i++;
			continue;
		}
		while (i + k < n && victims[i + k] == victims[i] + k)
			k++;
		while (k > 1 && leaves_unread(vm, victims[i + k - 1]))
			k--;
		if (gm_read(&vm->mem, victims[i], k, buf + (size_t)i * PAGE)) {
			/* Cannot read them: they stay resident. */
			for (unsigned j = i; j < i + k; j++) {
				cancel(vm, victims[j]);
				victims[j] = UINT64_MAX;
			}
		}
		i += k;
	}
	stage_add(&vm->st, ES_read, evl_now_ns() - t0);
}

/* The MAC of each page of @out[0..n) (whose bytes are @data[i]) into
 * @tags[i]; with page encryption, each page turned into what leaves. */
static void tag_pages(struct vm *vm, const struct stripe_page *out,
		      uint8_t *const *data, uint8_t (*tags)[TAG_LEN],
		      unsigned n)
{
	uint64_t t0;

	if (!vm->integ.on || !n)
		return;
	t0 = evl_now_ns();
	for (unsigned i = 0; i < n; i++) {
		uint64_t p = out[i].page;

		integrity_tag(&vm->integ, p, pt_version(&vm->pt, p), data[i],
			      tags[i]);
		integrity_crypt(&vm->integ, p, tags[i], data[i]);
	}
	stage_add(&vm->st, ES_mac, evl_now_ns() - t0);
}

/*
 * Evict @victims[0..n).  Returns how many left or are leaving; the pages
 * whose group cannot take a write now stay resident.
 */
static unsigned evict_batch(struct vm *vm, uint64_t *victims, unsigned n)
{
	struct stripe_page out[EVICT_BATCH];
	uint8_t *outdata[EVICT_BATCH];
	uint8_t tags[EVICT_BATCH][TAG_LEN];
	uint64_t gone[EVICT_BATCH];	/* punch now: clean or zero */
	uint8_t *buf = vm->pg->batch;
	unsigned ngone = 0, nout = 0, kept = 0;
	uint64_t t0 = evl_now_ns(), t1, t2;

	/* Ascending order makes runs: one syscall per run, not per page. */
	qsort(victims, n, sizeof(*victims), cmp_page);
	/* Dirty pages whose group cannot take a write now stay. */
	for (unsigned i = 0; i < n; i++) {
		unsigned ds, ps;

		if ((pt_has(&vm->pt, victims[i], PT_DIRTY) ||
		     !pt_has(&vm->pt, victims[i], PT_HAS_REMOTE)) &&
		    stripe_write_mode(vm, victims[i], &ds, &ps) == W_WAIT)
			continue;
		victims[kept++] = victims[i];
	}
	n = kept;
	protect(vm, victims, n);
	read_victims(vm, victims, n, buf);
	kept = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t p = victims[i];
		uint8_t *data = buf + (size_t)i * PAGE;
		unsigned ds = 0, ps = 0;
		enum write_mode mode;

		if (p == UINT64_MAX || pt_state(&vm->pt, p) != PS_EVICTING)
			continue;
		kept++;
		/*
		 * Installed writable ahead (PT_UNSEEN): still the bytes it
		 * went in with, the guest never wrote it, so it is clean;
		 * otherwise they are the guest's.
		 */
		if (pt_unseen(&vm->pt, p)) {
			if (unseen_unchanged(&vm->unseen, &vm->pt, p, data) &&
			    pt_has(&vm->pt, p, PT_HAS_REMOTE) &&
			    pt_unwritten(&vm->pt, p))
				vm->st.evict_unwritten++;
			else
				pt_seen(&vm->pt, p);
		}
		/* Clean, and its server copy is valid: nothing to send. */
		if (!pt_has(&vm->pt, p, PT_DIRTY) &&
		    pt_has(&vm->pt, p, PT_HAS_REMOTE)) {
			pt_evicted_clean(&vm->pt, p);
			gone[ngone++] = p;
			vm->st.evict_clean++;
			continue;
		}
		if (page_is_zero(data)) {
			/* Nothing worth storing: "never written" again (with
			 * its server copy, if that must stay). */
			if (pt_remote_droppable(&vm->pt, p))
				stripe_drop_copy(vm, p);
			pt_evicted_zero(&vm->pt, p);
			gone[ngone++] = p;
			vm->st.evict_zero++;
			continue;
		}
		mode = stripe_write_mode(vm, p, &ds, &ps);
		if (mode == W_SPILL) {
			if (spill(vm, p, data))
				gone[ngone++] = p;
			continue;
		}
		if (mode == W_WAIT) {
			/* The zero page above changed nothing: cannot be. */
			cancel(vm, p);
			kept--;
			continue;
		}
		/* A new copy, of a new version. */
		pt_write_begin(&vm->pt, p);
		out[nout] = (struct stripe_page){ p, data,
			vm->integ.on ? tags[nout] : NULL, mode, ds, ps };
		outdata[nout++] = data;
	}
	tag_pages(vm, out, outdata, tags, nout);
	/* Whole stripes: their parity is computed here, written whole. */
	t1 = evl_now_ns();
	stripe_find_whole(vm, out, nout);
	t2 = evl_now_ns();
	stage_add(&vm->st, ES_parity, t2 - t1);
	sort_by_key(vm_geo(vm), out, nout);
	send_runs(vm, out, nout);
	stage_add(&vm->st, ES_send, evl_now_ns() - t2);
	/* The written ones are punched in run_done, after the ACK. */
	punch_list(vm, gone, ngone);
	stage_add(&vm->st, ES_batch, evl_now_ns() - t0);
	return kept;
}

/* A batch's pages: EVICT_BATCH, or an eighth of a small budget. */
static uint64_t batch_pages(const struct vm *vm)
{
	return vm->budget / 8 < EVICT_BATCH ? vm->budget / 8 : EVICT_BATCH;
}

/* What eviction brings the committed pages (less those leaving) down to. */
static uint64_t evict_target(const struct vm *vm)
{
	uint64_t low = batch_pages(vm);
	/*
	 * Room is kept below the budget: pages being evicted count as
	 * resident until their ACKs, and without it the pages read or
	 * zero-filled ahead of the guest (install_ahead, zero_ahead) would
	 * find none while a write is in flight, and each would cost a fault.
	 * A small budget gives up no more than it did (a batch).
	 */
	uint64_t room = vm->budget / 64 < EVICT_ROOM ? vm->budget / 64
						     : EVICT_ROOM;

	return vm->budget - (room > low ? room : low);
}

bool evict_due(const struct vm *vm, unsigned fruitless)
{
	const struct pagetable *pt = &vm->pt;

	/* Migrating: its pages on the servers must stay as they are. */
	if (vm->mig != VM_MIG_NONE)
		return false;
	return pt_committed(pt) - pt_evicting(pt) > evict_target(vm) &&
	       pt_evicting(pt) < EVICT_INFLIGHT && fruitless <= 8;
}

bool evict_step(struct vm *vm, unsigned *fruitless)
{
	struct pagetable *pt = &vm->pt;
	uint64_t low = batch_pages(vm);
	uint64_t victims[EVICT_BATCH];
	uint64_t want, t0;
	unsigned n;

	if (!evict_due(vm, *fruitless))
		return false;
	want = pt_committed(pt) - pt_evicting(pt) - evict_target(vm);
	t0 = evl_now_ns();
	/* Evict in batches, not a page per fault. */
	if (want < low)
		want = low;
	/* Stale hot pages go cold first, for the hand to take. */
	sample_hot(vm);
	n = victim_select(&vm->victim, pt, victims,
			  want < EVICT_BATCH ? (unsigned)want : EVICT_BATCH);
	stage_add(&vm->st, ES_select, evl_now_ns() - t0);
	if (!n)
		return false;
	/* Whole batches that must wait: try other pages, a while. */
	if (!evict_batch(vm, victims, n))
		++*fruitless;
	return true;
}

int evict_pager_init(struct pager *pg)
{
	return posix_memalign((void **)&pg->batch, PAGE,
			      EVICT_BATCH * PAGE) ? -ENOMEM : 0;
}

void evict_pager_fini(struct pager *pg)
{
	free(pg->batch);
	pg->batch = NULL;
}
