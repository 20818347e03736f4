// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fault.c - userfaultfd events, and the faults that must wait (fault.h).
 *
 * A missing fault on a page that is not resident goes to fetch.c, which
 * knows where the page's bytes are.  This layer only decides whether it
 * may go now: a fault that would take the VM past its budget plus slack
 * waits (deferred) until evictions land.  A write-protect fault makes the
 * page dirty (cancelling its eviction if one is in flight) and lets the
 * writer go.  A REMOVE event, or a discard from the VMM, makes pages
 * "never written" again.
 *
 * Three kinds of waiting, each a queue of struct waiting_fault:
 *   deferred  over budget; in order, as room appears;
 *   waiting   until something changes (vm_upcalls.changed): a group's
 *             writers finished, an install met EAGAIN (a REMOVE event is
 *             unread; it is read before the loop settles again);
 *   later     a READ failed or no session is open: from a timer.
 * Settling (before the loop sleeps, for each VM that changed) tries the
 * waiting and deferred faults again and then evicts, so the work of many
 * completions is done once, and no lower layer ever calls back up.
 */
#include "fault.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "evict.h"
#include "fetch.h"
#include "install.h"
#include "stripe.h"
#include "vm.h"

#define UFFD_BATCH	64u
#define UFFD_AGAIN_NS	(5ull * 1000000ull)	/* in case no event comes */

struct waiting_fault {
	uint64_t page, t0;
	bool write, wp;
};

struct fault_state {
	struct vm *vm;
	struct evl_op poll_op;
	bool polling, changed;
	GQueue deferred, waiting, later;
	struct evl_timer later_timer, again_timer;
};

static void fault_missing(struct vm *vm, uint64_t page, uint64_t t0,
			  bool write);
static void fault_wp(struct vm *vm, uint64_t page, bool again);

static bool over_hard_limit(const struct vm *vm)
{
	/*
	 * A migrating VM may not evict (migrate.h), so a fault must not
	 * wait for room: its guest is stopped, or about to run here, and
	 * only QEMU's own accesses and the first faults before it settles
	 * take resident memory past the budget.
	 */
	if (vm->mig != VM_MIG_NONE)
		return false;
	return pt_committed(&vm->pt) >= vm->budget + PAGER_SLACK_PAGES;
}

static void push(GQueue *q, uint64_t page, uint64_t t0, bool write, bool wp)
{
	struct waiting_fault *w = g_new(struct waiting_fault, 1);

	*w = (struct waiting_fault){ page, t0, write, wp };
	g_queue_push_tail(q, w);
}

static void mark_changed(struct vm *vm)
{
	vm->fault->changed = true;
}

/* ---- what lower layers report (vm->up) ---- */

static void up_fault_again(struct vm *vm, uint64_t page, uint64_t t0,
			   bool write, enum fault_again when)
{
	struct fault_state *fs = vm->fault;
	struct pager *pg = vm->pg;

	switch (when) {
	case AGAIN_UFFD:
		vm->st.install_retries++;
		evl_timer_arm(pg->loop, &fs->again_timer, UFFD_AGAIN_NS);
		/* fall through */
	case AGAIN_CHANGED:
		push(&fs->waiting, page, t0, write, false);
		mark_changed(vm);
		break;
	case AGAIN_LATER:
		push(&fs->later, page, t0, write, false);
		if (!evl_timer_armed(&fs->later_timer))
			evl_timer_arm(pg->loop, &fs->later_timer, RETRY_NS);
		break;
	}
}

static const struct vm_upcalls fault_upcalls = {
	.fault_again = up_fault_again,
	.changed = mark_changed,
};

/* ---- settling ---- */

static int take_faults(struct vm *vm);

/* Take the faults off @q and handle each again (it may queue again). */
static void redo(struct vm *vm, GQueue *q)
{
	GQueue todo = *q;
	struct waiting_fault *w;

	g_queue_init(q);
	while ((w = g_queue_pop_head(&todo))) {
		if (!vm->dead) {
			if (w->wp)
				fault_wp(vm, w->page, true);
			else
				fault_missing(vm, w->page, w->t0, w->write);
		}
		g_free(w);
	}
}

/* The deferred faults, in order, while there is room: how many went. */
static unsigned drain_deferred(struct vm *vm)
{
	struct fault_state *fs = vm->fault;
	struct waiting_fault *w;
	unsigned n = 0;

	while (!over_hard_limit(vm) && (w = g_queue_pop_head(&fs->deferred))) {
		fault_missing(vm, w->page, w->t0, w->write);
		g_free(w);
		n++;
	}
	return n;
}

void fault_settle(struct vm *vm)
{
	struct fault_state *fs = vm->fault;

	fs->changed = false;
	if (vm->dead)
		return;
	redo(vm, &fs->waiting);
	/*
	 * Evictions that need no network (clean, zero and spilled pages)
	 * make room at once, and nothing else would say so: go on while
	 * that lets deferred faults go, or eviction still gains ground.
	 */
	for (unsigned round = 0; round < 64; round++) {
		uint64_t resident = pt_resident(&vm->pt);
		unsigned drained = drain_deferred(vm), fruitless = 0;

		/*
		 * A batch takes a while (its pages are read, sealed and
		 * sent): a vCPU that faulted is served before each one, not
		 * after them all, nor after the network's completions.  With
		 * no batch to make, the read is left to the poll: it would
		 * mostly find nothing, and each read takes the lock a
		 * faulting vCPU holds while it wakes memxd.
		 */
		while (evict_due(vm, fruitless)) {
			if (take_faults(vm) < 0 || vm->dead)
				return;
			/*
			 * What is on the ring leaves now: the READs those
			 * faults queued (and the one whose fault brought us
			 * here) make their round trip while the batch is
			 * made, not after it, and the last batch's WRITEs
			 * are stored meanwhile.
			 */
			evl_flush(vm->pg->loop);
			if (!evict_step(vm, &fruitless))
				break;
		}
		if (g_queue_is_empty(&fs->deferred) ||
		    (!drained && pt_resident(&vm->pt) >= resident))
			break;
	}
	/* Room that answered evictions made: pages read ahead wait for it. */
	install_drain(vm);
}

static void settle_hook(struct evl *loop, struct evl_hook *hook)
{
	struct pager *pg = evl_container_of(hook, struct pager, settle);

	(void)loop;
	for (struct vm *vm = pg->vms; vm; vm = vm->next)
		if (vm->fault->changed)
			fault_settle(vm);
}

static void later_fire(struct evl *loop, struct evl_timer *t)
{
	struct fault_state *fs = evl_container_of(t, struct fault_state,
						  later_timer);

	(void)loop;
	redo(fs->vm, &fs->later);
	mark_changed(fs->vm);
}

static void again_fire(struct evl *loop, struct evl_timer *t)
{
	struct fault_state *fs = evl_container_of(t, struct fault_state,
						  again_timer);

	(void)loop;
	mark_changed(fs->vm);
}

/* ---- faults ---- */

/* Over budget plus slack: the fault waits until evictions land. */
static void defer(struct vm *vm, uint64_t page, uint64_t t0, bool write)
{
	push(&vm->fault->deferred, page, t0, write, false);
	vm->st.deferred_faults++;
}

/*
 * A clean resident page that a discard or REMOVE found still present
 * leaves the memfd, as a clean eviction would: its server copy is its
 * contents.  It may be one memxd installed ahead of the guest after the
 * VMM punched the hole and before the discard reached memxd (QEMU
 * punches, then tells): left there, those old bytes would outlive the
 * discard.  Clean means installed write-protected and not written since
 * (a write takes a WP fault first, which makes it dirty); a write
 * blocked on that fault meanwhile finds the page gone and faults it in
 * again.  False if the page is dirty, or not clean in that sense.
 */
static bool drop_clean(struct vm *vm, uint64_t page)
{
	if (pt_state(&vm->pt, page) != PS_RESIDENT ||
	    pt_has(&vm->pt, page, PT_DIRTY) ||
	    !pt_has(&vm->pt, page, PT_HAS_REMOTE) ||
	    pt_has(&vm->pt, page, PT_WRITING))
		return false;
	if (!pt_evict_begin(&vm->pt, page) ||
	    !pt_evicted_clean(&vm->pt, page))
		return false;
	gm_punch(&vm->mem, page, 1);
	return true;
}

/*
 * Does PT_UNSEEN @page, resident and present, still hold the bytes memxd
 * installed it with?  It is write-protected first, so that no write slips
 * in between the look and what follows; a write blocked meanwhile is
 * served by its WP fault as any other.  If the guest wrote it, its bytes
 * are the guest's: no longer unseen.  False also if it cannot be
 * protected or read: it stays as it is.
 */
static bool held_unchanged(struct vm *vm, uint64_t page)
{
	uint8_t *buf = vm->pg->scratch;

	if (gm_protect(&vm->mem, page, 1, true))
		return false;
	if (gm_read(&vm->mem, page, 1, buf))
		return false;
	if (unseen_unchanged(&vm->unseen, &vm->pt, page, buf))
		return true;
	pt_seen(&vm->pt, page);
	return false;
}

/*
 * A discard or a REMOVE found @page still in the memfd.  Its bytes leave
 * it if they are only its server copy's: clean, or installed writable
 * ahead (PT_UNSEEN) and never written since (the prefetcher guessed a
 * write that did not come).  A page being evicted was read by its
 * eviction already: unchanged, it left clean; changed, it is the guest's
 * (evict.c).  True if the page left the memfd.
 */
static bool drop_present(struct vm *vm, uint64_t page)
{
	if (pt_state(&vm->pt, page) == PS_RESIDENT &&
	    pt_unseen(&vm->pt, page) &&
	    pt_has(&vm->pt, page, PT_HAS_REMOTE) &&
	    !pt_has(&vm->pt, page, PT_WRITING) &&
	    held_unchanged(vm, page)) {
		pt_unwritten(&vm->pt, page);
		if (!drop_clean(vm, page))
			return false;
		vm->st.discard_dropped_unseen++;
		return true;
	}
	if (!drop_clean(vm, page))
		return false;
	vm->st.discard_dropped_clean++;
	return true;
}

/*
 * The guest freed @page (or it vanished from the memfd): @told by the
 * VMM's discard=, or seen as a REMOVE event.  True if that freed it:
 * whatever it held is gone, and the page is NEVER (or will be, once its
 * READ ends).
 */
static bool discard_page(struct vm *vm, uint64_t page, bool told)
{
	enum page_state s = pt_state(&vm->pt, page);

	/*
	 * madvise(DONTNEED) of shared memory keeps the page: not gone.  What
	 * only its server copy held goes back to that copy (drop_present):
	 * the discard= after a REMOVE frees it then, and a discard= that
	 * finds it frees it at once.  What the guest wrote stays.
	 */
	if ((s == PS_RESIDENT || s == PS_EVICTING) &&
	    gm_present(&vm->mem, page) &&
	    (!drop_present(vm, page) || !told))
		return false;
	fetch_uncache(vm, page);
	if (!pt_discard(&vm->pt, page))
		return true;
	vm->st.discarded_pages++;
	if (pt_remote_droppable(&vm->pt, page))
		stripe_drop_copy(vm, page);
	return true;
}

static void fault_missing(struct vm *vm, uint64_t page, uint64_t t0,
			  bool write)
{
	mark_changed(vm);
	switch (pt_state(&vm->pt, page)) {
	case PS_RESIDENT:
	case PS_EVICTING:
		if (gm_present(&vm->mem, page)) {
			/* Installed while this fault was queued. */
			vm->st.spurious_faults++;
			gm_wake(&vm->mem, page);
			return;
		}
		/* Gone from the memfd without us: a discard. */
		(void)discard_page(vm, page, false);
		break;
	case PS_FETCHING:
		if (!pt_has(&vm->pt, page, PT_WAITED) && over_hard_limit(vm)) {
			defer(vm, page, t0, write);
			return;
		}
		fetch_wait(vm, page, write);
		return;
	default:
		break;
	}
	if (over_hard_limit(vm)) {
		defer(vm, page, t0, write);
		return;
	}
	fetch_fault(vm, page, write, t0);
}

static void fault_wp(struct vm *vm, uint64_t page, bool again)
{
	bool evicting = pt_state(&vm->pt, page) == PS_EVICTING;
	int ret;

	if (!again) {
		vm->st.wp_faults++;
		/* A page installed clean, written: the write trend. */
		if (!evicting && pt_state(&vm->pt, page) == PS_RESIDENT &&
		    !pt_has(&vm->pt, page, PT_DIRTY))
			prefetch_clean_written(&vm->pf);
	}
	if (!pt_written(&vm->pt, page)) {
		/* Punched meanwhile: retrying faults it in afresh. */
		gm_wake(&vm->mem, page);
		return;
	}
	/* The write wins: an eviction in flight is abandoned. */
	if (evicting) {
		vm->st.evict_cancelled++;
		mark_changed(vm);
	}
	ret = gm_protect(&vm->mem, page, 1, false);
	if (ret == -EAGAIN) {
		/* A REMOVE event is unread: after it, unprotect again. */
		vm->st.protect_retries++;
		push(&vm->fault->waiting, page, 0, true, true);
		evl_timer_arm(vm->pg->loop, &vm->fault->again_timer,
			      UFFD_AGAIN_NS);
		mark_changed(vm);
		return;
	}
	if (ret)
		gm_wake(&vm->mem, page);
}

/*
 * The REMOVEs applied, for the VMM's discard= of the same pages that
 * follows each (QEMU punches, madvises, then tells).  By the time that
 * discard is read, the guest may have used the pages again: a page the
 * REMOVE freed must not be freed a second time, or its newer copy would
 * go.  The pages the REMOVE did not free (still present: a clean one went
 * back to its server copy) are the discard's to free.
 *
 * The records live in the VM's state (vmstate.h), written as the REMOVE
 * is applied, so that a memxd restarted between a REMOVE and its discard
 * still knows.  A record is written before the pages it covers are
 * freed: one cut short by memxd's death lists too few pages as the
 * discard's, and a discard then leaves a page alone that it could have
 * freed, never the other way round.
 */

/* Remember a REMOVE of pages [first, first + n) as it is applied. */
static struct vmstate_remove *removed_start(struct vm *vm, uint64_t first,
					    uint64_t n)
{
	struct vmstate_removes *rs = vm->state.removes;
	struct vmstate_remove *r = &rs->r[rs->next++ % VMSTATE_REMOVES];

	*r = (struct vmstate_remove){ .first = first, .n = n, .live = 1 };
	return r;
}

/* @page of @r's REMOVE was not freed by it: the discard after may. */
static void removed_keep(struct vmstate_remove *r, uint64_t page)
{
	if (r->nkept < VMSTATE_REMOVE_KEPT)
		r->kept[r->nkept] = page;
	if (r->nkept <= VMSTATE_REMOVE_KEPT)
		r->nkept++;
}

/*
 * The newest REMOVE not yet matched whose pages hold [first, first + n),
 * or NULL.  The newest, because the VMM's discard follows its own REMOVE
 * at once; an older one of the same pages (a REMOVE no discard followed)
 * knows nothing of what happened since.
 */
static struct vmstate_remove *removed_match(struct vm *vm, uint64_t first,
					    uint64_t n)
{
	struct vmstate_removes *rs = vm->state.removes;

	for (unsigned i = 1; i <= VMSTATE_REMOVES; i++) {
		struct vmstate_remove *r = &rs->r[(rs->next - i) %
						  VMSTATE_REMOVES];

		if (r->live && r->first <= first &&
		    first + n <= r->first + r->n)
			return r;
	}
	return NULL;
}

static bool removed_kept(const struct vmstate_remove *r, uint64_t page)
{
	if (r->nkept > VMSTATE_REMOVE_KEPT)
		return true;
	for (unsigned i = 0; i < r->nkept; i++)
		if (r->kept[i] == page)
			return true;
	return false;
}

/*
 * The VMM removed [start, end) of its address space (madvise): the pages
 * of the regions in it are gone, as by a discard.  The range is the
 * kernel's, but which memory the userfaultfd covers is the VMM's choice:
 * what lies outside every region is counted and ignored, like a fault
 * there, and a range however large costs only the region pages it meets.
 */
static void remove_range(struct vm *vm, uint64_t start, uint64_t end)
{
	uint64_t inside = 0;

	for (unsigned i = 0; i < vm->mem.nregions && start < end; i++) {
		const struct vm_region *r = &vm->mem.regions[i];
		/* Registration checked that hva + length does not wrap. */
		uint64_t a = start > r->hva ? start : r->hva;
		uint64_t b = end < r->hva + r->length ? end : r->hva + r->length;
		uint64_t first, n;
		struct vmstate_remove *rm;

		if (a >= b)
			continue;
		inside += b - a;
		/* Whole pages: the regions are page aligned. */
		a &= ~(uint64_t)(PAGE - 1);
		first = (r->offset + (a - r->hva)) / PAGE;
		n = (b - a + PAGE - 1) / PAGE;
		if (first >= vm->npages)
			continue;
		if (n > vm->npages - first)
			n = vm->npages - first;
		rm = removed_start(vm, first, n);
		for (uint64_t p = first; p < first + n; p++)
			if (!discard_page(vm, p, false))
				removed_keep(rm, p);
	}
	if (inside < (end > start ? end - start : 1)) {
		vm->st.remove_outside++;
		log_ratelimited(5000, LOG_LEVEL_WARN, "vm %s: REMOVE of "
				"%#llx-%#llx reaches outside its regions; that "
				"part is ignored", vm->name,
				(unsigned long long)start,
				(unsigned long long)end);
	}
	vm->st.discards++;
	mark_changed(vm);
}

void fault_events(struct vm *vm, const struct uffd_msg *msgs, unsigned n)
{
	for (unsigned i = 0; i < n && !vm->dead; i++) {
		const struct uffd_msg *m = &msgs[i];
		uint64_t t0 = evl_now_ns(), p;

		if (m->event == UFFD_EVENT_REMOVE) {
			remove_range(vm, m->arg.remove.start, m->arg.remove.end);
			continue;
		}
		if (m->event != UFFD_EVENT_PAGEFAULT)
			continue;
		p = gm_page_of(&vm->mem, m->arg.pagefault.address &
					 ~(uint64_t)(PAGE - 1));
		if (p >= vm->npages) {
			log_ratelimited(5000, LOG_LEVEL_ERR, "vm %s: fault at "
					"%#llx outside its regions", vm->name,
					m->arg.pagefault.address);
			continue;
		}
		if (m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP)
			fault_wp(vm, p, false);
		else
			fault_missing(vm, p, t0, m->arg.pagefault.flags &
					   UFFD_PAGEFAULT_FLAG_WRITE);
	}
}

/*
 * A discard that a REMOVE of its pages went before frees only what that
 * REMOVE left; the rest may hold newer data by now (removed_start).
 */
void fault_discard(struct vm *vm, uint64_t first, uint64_t n)
{
	struct vmstate_remove *r = removed_match(vm, first, n);

	for (uint64_t p = first; p < first + n; p++) {
		if (r && !removed_kept(r, p))
			vm->st.discard_after_remove++;
		else
			(void)discard_page(vm, p, true);
	}
	if (r)
		r->live = 0;
	vm->st.discards++;
	mark_changed(vm);
}

/* ---- reading the userfaultfd ---- */

/*
 * Handle every event the userfaultfd holds now, without waiting for its
 * poll: 0, or the read's error (-EPIPE: the VMM closed it).  The caller
 * checks vm->dead.
 */
static int take_faults(struct vm *vm)
{
	struct fault_state *fs = vm->fault;
	struct uffd_msg msgs[UFFD_BATCH];
	bool read = false;
	int n;

	while ((n = gm_read_events(&vm->mem, msgs, UFFD_BATCH)) > 0) {
		/*
		 * A vCPU waits on each READ these faults make: each is the
		 * first of a new turn to its server, and leaves at once,
		 * not behind the turn's other requests (an eviction batch's
		 * WRITEs, say) until the loop sleeps.
		 */
		if (!read)
			remote_new_turn(vm->pg->remote);
		read = true;
		fault_events(vm, msgs, (unsigned)n);
		if (vm->dead)
			return 0;
		/*
		 * A short read emptied the queue: another would find it
		 * empty (or a fault just come, which the poll, armed or
		 * re-armed after this, reports).  Each read takes the lock
		 * the faulting vCPU holds while it wakes us.
		 */
		if ((unsigned)n < UFFD_BATCH) {
			n = 0;
			break;
		}
	}
	/*
	 * Installs that met an unread REMOVE may go now: settle again at
	 * once (from within settling, marking the VM would wait for the
	 * loop's next wake-up).
	 */
	if (read && !g_queue_is_empty(&fs->waiting))
		evl_timer_arm(vm->pg->loop, &fs->again_timer, 0);
	return n;
}

static void fault_ready(struct evl *loop, struct evl_op *op, int res)
{
	struct fault_state *fs = evl_container_of(op, struct fault_state,
						  poll_op);
	struct vm *vm = fs->vm;
	int n;

	(void)res;
	fs->polling = false;
	if (vm->dead) {
		vm_put(vm);
		return;
	}
	n = take_faults(vm);
	if (n < 0 || vm->dead) {
		if (n < 0)
			log_warn("vm %s: userfaultfd closed (%s)", vm->name,
				 n == -EPIPE ? "end of file" : strerror(-n));
		vm_put(vm);
		return;
	}
	fs->polling = true;
	evl_poll(loop, gm_pollfd(&vm->mem), POLLIN, &fs->poll_op);
}

void fault_vm_start(struct vm *vm)
{
	struct fault_state *fs = vm->fault;

	vm_get(vm);		/* the poll's reference */
	/*
	 * What gm_open() had to read before it could write-protect (a
	 * REMOVE an earlier memxd left unread, the faults queued with it):
	 * no poll reports it.  A read's error shows again at the poll's.
	 */
	if (gm_held(&vm->mem))
		take_faults(vm);
	fs->polling = true;
	evl_poll(vm->pg->loop, gm_pollfd(&vm->mem), POLLIN, &fs->poll_op);
	mark_changed(vm);	/* what was resident may be over budget */
}

void fault_vm_stop(struct vm *vm)
{
	if (vm->fault->polling)
		evl_poll_cancel(vm->pg->loop, &vm->fault->poll_op);
}

int fault_vm_init(struct vm *vm)
{
	struct fault_state *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return -ENOMEM;
	fs->vm = vm;
	fs->poll_op.done = fault_ready;
	g_queue_init(&fs->deferred);
	g_queue_init(&fs->waiting);
	g_queue_init(&fs->later);
	evl_timer_init(&fs->later_timer, later_fire);
	evl_timer_init(&fs->again_timer, again_fire);
	vm->fault = fs;
	vm->up = &fault_upcalls;
	return 0;
}

void fault_vm_fini(struct vm *vm)
{
	struct fault_state *fs = vm->fault;

	if (!fs)
		return;
	evl_timer_cancel(vm->pg->loop, &fs->later_timer);
	evl_timer_cancel(vm->pg->loop, &fs->again_timer);
	g_queue_clear_full(&fs->deferred, g_free);
	g_queue_clear_full(&fs->waiting, g_free);
	g_queue_clear_full(&fs->later, g_free);
	free(fs);
	vm->fault = NULL;
}

void fault_pager_init(struct pager *pg)
{
	pg->settle.run = settle_hook;
	evl_add_hook(pg->loop, &pg->settle);
}

void fault_pager_fini(struct pager *pg)
{
	evl_remove_hook(pg->loop, &pg->settle);
}
