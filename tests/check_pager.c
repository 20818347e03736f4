// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * check_pager.c - the pager's logic against fake guest memory and fake
 * servers (tests/pager/fakes.h): no root, no userfaultfd, no network.
 *
 * Each test drives the real pager (every layer from fault.c down to
 * stripe.c and recovery.c) with a pretend vCPU and answers the servers'
 * requests itself, in the order that makes the race it is about happen
 * every time, where the integration tests can only hit it by chance:
 * a write fault in the middle of an eviction, a discard in the middle of
 * a fetch, a server failing in the middle of a parity write, a
 * whole-stripe write racing a delta, and UFFDIO_COPY or
 * UFFDIO_WRITEPROTECT failing with EAGAIN while a REMOVE event is
 * unread.  A seeded random test then mixes everything and checks every
 * byte and the page-state invariants.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_util.h"
#include "memxd/log.h"
#include "memxd/pager/fault.h"
#include "memxd/pager/integrity.h"
#include "memxd/pager/migrate.h"
#include "memxd/pager/recovery.h"
#include "memxd/pager/vm.h"
#include "pager/fakes.h"

struct fx {
	struct evl *loop;
	struct fake_remote *fr;
	struct fake_mem *m;
	struct pager *pg;
	struct vm *vm;
	uint64_t npages;
};

struct fx_opts {
	unsigned servers;	/* 0: spill only */
	uint64_t npages, budget;
	unsigned width, rows;
	bool parity;
	unsigned prefetch;
	enum victim_policy policy;
	bool no_integrity;	/* pages without MACs (--integrity=off) */
	bool encrypt;		/* pages sent encrypted */
	uint64_t local_total;	/* pages; 0: no host-wide total */
};

static const struct fx_opts defaults = {
	.servers = 4, .npages = 256, .budget = 32, .width = 2, .rows = 4,
	.parity = true, .prefetch = 0, .policy = VICTIM_REFAULT,
};

static void fx_init(struct fx *f, const struct fx_opts *o)
{
	struct pager_config cfg = {
		.spill_dir = "/tmp",
		.prefetch_max = o->prefetch,
		.geo = { o->width, o->rows, o->parity },
		.recovery_mibps = 1024,
		.evict_policy = o->policy,
		.integrity = !o->no_integrity,
		.encrypt = o->encrypt,
		.local_total = o->local_total * PAGE,
	};
	struct vm_spec spec = { .pid = 1, .budget = o->budget * PAGE,
				.nregions = 1 };
	char why[256] = "";
	int ret;

	memset(f, 0, sizeof(*f));
	log_set_level(LOG_LEVEL_ERR);
	f->npages = o->npages;
	ck_assert_int_eq(evl_new(&f->loop, 256), 0);
	f->fr = fake_remote_new(o->servers);
	f->m = fake_mem_new(o->npages);
	pg_geometry_fit(&cfg.geo, o->servers);
	ck_assert_int_eq(pager_new(&f->pg, f->loop, fake_remote(f->fr), &cfg),
			 0);
	snprintf(spec.name, sizeof(spec.name), "vm0");
	snprintf(spec.uuid, sizeof(spec.uuid), "uuid0");
	spec.regions[0] = (struct vm_region){ FAKE_HVA, 0, o->npages * PAGE,
					      PAGE };
	spec.uffd = spec.memfd = fake_mem_fd(f->m);
	spec.state_fd = spec.spill_fd = -1;	/* a new VM */
	ret = pager_register(f->pg, &spec, &f->vm, why, sizeof(why));
	ck_assert_msg(ret == 0, "register: %s", why);
}

/* A few turns of the loop: events read, hooks (settle, fake servers). */
static void fx_turn(struct fx *f, unsigned n)
{
	while (n--)
		ck_assert_int_ge(evl_run_once(f->loop, 0), 0);
}

/*
 * As memxd does on its way out: the VM unregistered, what was in flight
 * failed (its callbacks let go of the VM), the cancelled poll reaped,
 * then the pager freed: nothing may leak (ASan checks).
 */
/* The page table's per-state counts are what a scan finds. */
static void fx_check_counts(struct fx *f)
{
	uint64_t by_state[PS_NSTATES] = { 0 };

	for (uint64_t p = 0; p < f->vm->npages; p++)
		by_state[pt_state(&f->vm->pt, p)]++;
	for (unsigned s = 0; s < PS_NSTATES; s++)
		ck_assert_msg(f->vm->pt.by_state[s] == by_state[s],
			      "state %u: counted %lu, found %lu", s,
			      (unsigned long)f->vm->pt.by_state[s],
			      (unsigned long)by_state[s]);
}

static void fx_fini(struct fx *f)
{
	ck_assert_uint_eq(f->vm->pt.bugs, 0);
	fx_check_counts(f);
	pager_unregister(f->pg, f->vm);
	fake_remote_auto(f->fr, f->loop, false);
	fake_remote_cancel(f->fr);
	fx_turn(f, 3);
	pager_free(f->pg);
	fake_remote_free(f->fr);
	fake_mem_free(f->m);
	evl_free(f->loop);
}

/* Turn until the fake servers have nothing pending (auto mode). */
static void fx_quiesce(struct fx *f)
{
	for (unsigned i = 0; i < 2000; i++) {
		fx_turn(f, 1);
		if (!remote_pending(fake_remote(f->fr)) &&
		    g_queue_is_empty(&f->m->events) && i > 10)
			return;
	}
	ck_abort_msg("the pager did not quiesce");
}

/* The budget rule, at any moment. */
static void fx_check_budget(struct fx *f)
{
	ck_assert_uint_le(pt_resident(&f->vm->pt),
			  f->vm->budget + PAGER_SLACK_PAGES);
}

/* One turn that may sleep a little: timers (retries) get their turn. */
static void fx_wait(struct fx *f)
{
	ck_assert_int_ge(evl_run_once(f->loop, 1000000), 0);
}

/* A vCPU writes @byte all over @page, waiting as long as it blocks. */
static void fx_write(struct fx *f, uint64_t page, uint8_t byte)
{
	uint64_t dl = evl_now_ns() + TU_DEADLINE_MS * 1000000ull;

	while (evl_now_ns() < dl) {
		int ret = fake_vcpu_write(f->m, page, byte);

		if (!ret)
			return;
		ck_assert_int_eq(ret, -EAGAIN);
		fx_wait(f);
		fx_check_budget(f);
	}
	ck_abort_msg("vCPU write of page %lu blocked for ever",
		     (unsigned long)page);
}

/* The first page at or after @from whose only copy is on its server. */
static uint64_t fx_remote_page(struct fx *f, uint64_t from)
{
	for (uint64_t p = from; p < f->npages; p++)
		if (pt_state(&f->vm->pt, p) == PS_REMOTE &&
		    !pt_has(&f->vm->pt, p, PT_CACHED))
			return p;
	ck_abort_msg("no REMOTE page from %lu", (unsigned long)from);
	return 0;
}

/* A vCPU reads @page: its byte, or -EFAULT if poisoned. */
static int fx_read(struct fx *f, uint64_t page)
{
	uint64_t dl = evl_now_ns() + TU_DEADLINE_MS * 1000000ull;

	while (evl_now_ns() < dl) {
		uint8_t b;
		int ret = fake_vcpu_read(f->m, page, &b);

		if (!ret)
			return b;
		if (ret == -EFAULT)
			return ret;
		ck_assert_msg(ret == -EAGAIN, "page %lu torn (%d)",
			      (unsigned long)page, ret);
		fx_wait(f);
	}
	ck_abort_msg("vCPU read of page %lu blocked for ever: state %s, "
		     "flags %#x, present %d, wp %d, pending %u, group state %d",
		     (unsigned long)page,
		     pt_state_name(pt_state(&f->vm->pt, page)),
		     f->vm->pt.e[page], f->m->present[page], f->m->wp[page],
		     remote_pending(fake_remote(f->fr)),
		     pg_group(f->vm->groups, page /
			      pg_group_pages(vm_geo(f->vm)))->state);
	return -1;
}

/* Write every page with its own byte so that all but the budget leave. */
static void fx_fill(struct fx *f, uint64_t first, uint64_t n, uint8_t salt)
{
	for (uint64_t p = first; p < first + n; p++)
		fx_write(f, p, (uint8_t)(p * 7 + salt) | 1);
}

static void fx_verify(struct fx *f, uint64_t first, uint64_t n, uint8_t salt)
{
	for (uint64_t p = first; p < first + n; p++)
		ck_assert_msg(fx_read(f, p) == ((uint8_t)(p * 7 + salt) | 1),
			      "page %lu: %d", (unsigned long)p, fx_read(f, p));
}

/* The servers answer as asked; every page written once and pushed out. */
static void fx_init_filled(struct fx *f, const struct fx_opts *o, uint8_t salt)
{
	fx_init(f, o);
	fake_remote_auto(f->fr, f->loop, true);
	fx_fill(f, 0, f->npages, salt);
	fx_quiesce(f);
}

/* Filled as above (salt 8), reading up to 32 pages ahead: 1,024 pages of
 * which 256 local, rows of 16. */
static void fx_init_read_ahead(struct fx *f)
{
	struct fx_opts o = defaults;

	o.prefetch = 32;
	o.rows = 16;
	o.npages = 1024;
	o.budget = 256;
	fx_init_filled(f, &o, 8);
}

/* Page p holds (p | 1) in every byte, for p < @n. */
static void fx_verify_bytes(struct fx *f, uint64_t n)
{
	for (uint64_t p = 0; p < n; p++)
		ck_assert_int_eq(fx_read(f, p), (uint8_t)p | 1);
}

/* Run the loop until a request of @type is pending; NULL if none came. */
static struct fake_req *fx_maybe_req(struct fx *f, uint8_t type)
{
	struct fake_req *q;

	for (unsigned i = 0; i < 100; i++) {
		q = fake_remote_find(f->fr, type);
		if (q)
			return q;
		fx_turn(f, 1);
	}
	return NULL;
}

static struct fake_req *fx_wait_req(struct fx *f, uint8_t type)
{
	struct fake_req *q = fx_maybe_req(f, type);

	ck_assert_msg(q != NULL, "no request of type %u came", type);
	return q;
}

/* The first data WRITE or XWRITE to go out. */
static struct fake_req *fx_wait_write(struct fx *f)
{
	for (unsigned i = 0; i < 100; i++) {
		struct fake_req *q = fake_remote_find(f->fr, RMAP_T_XWRITE);

		if (!q)
			q = fake_remote_find(f->fr, RMAP_T_WRITE);
		if (q)
			return q;
		fx_turn(f, 1);
	}
	ck_abort_msg("no WRITE came");
	return NULL;
}

/* A page's server, session and key (data slot). */
static void fx_where(struct fx *f, uint64_t page, unsigned *srv,
		    uint32_t *sid, uint64_t *key)
{
	const struct pg_geometry *geo = vm_geo(f->vm);
	unsigned slot, row;
	uint64_t g;
	struct pg_group *grp = vm_group_of(f->vm, page, &g, &slot, &row);

	*srv = grp->srv[slot];
	*sid = f->vm->sess[*srv].id;
	*key = pg_key(geo, g, row);
}

/* ---- the round trip ---- */

/* Four times the budget, written and read back through the servers. */
START_TEST(test_roundtrip)
{
	struct fx f;

	fx_init_filled(&f, &defaults, 0);
	ck_assert_uint_gt(f.vm->st.evict_dirty, f.npages / 2);
	ck_assert_uint_le(f.vm->pt.max_resident,
			  f.vm->budget + PAGER_SLACK_PAGES);
	fx_verify(&f, 0, f.npages, 0);
	ck_assert_uint_gt(f.vm->st.net_faults, 0);
	ck_assert_uint_gt(f.vm->st.parity_updates + f.vm->st.parity_stripes,
			  0);
	fx_fini(&f);
}
END_TEST

/* Zero pages are never sent: they become "never written" again. */
START_TEST(test_zero_pages_not_stored)
{
	struct fx f;

	fx_init(&f, &defaults);
	fake_remote_auto(f.fr, f.loop, true);
	for (uint64_t p = 0; p < f.npages; p++)
		fx_write(&f, p, 0);
	fx_quiesce(&f);
	ck_assert_uint_gt(f.vm->st.evict_zero, f.npages / 2);
	ck_assert_uint_eq(f.vm->st.evict_dirty, 0);
	ck_assert_uint_eq(fake_remote_sent(f.fr, RMAP_T_XWRITE) +
			  fake_remote_sent(f.fr, RMAP_T_WRITE), 0);
	for (uint64_t p = 0; p < f.npages; p++)
		ck_assert_int_eq(fx_read(&f, p), 0);
	fx_fini(&f);
}
END_TEST

/* ---- a write fault in the middle of an eviction ---- */

START_TEST(test_write_during_eviction)
{
	struct fx f;
	struct fake_req *q;
	uint64_t victim;
	unsigned srv;
	uint32_t sid;
	uint64_t key;

	fx_init(&f, &defaults);
	/* Fill the budget exactly; the servers do not answer yet. */
	for (uint64_t p = 0; p < f.vm->budget + 8; p++)
		fx_write(&f, p, 0x11);
	q = fx_wait_write(&f);
	ck_assert_ptr_nonnull(q);
	/* Its first page is being evicted, its copy is on its way. */
	victim = UINT64_MAX;
	for (uint64_t p = 0; p < f.npages; p++) {
		if (pt_state(&f.vm->pt, p) == PS_EVICTING &&
		    pt_has(&f.vm->pt, p, PT_WRITING)) {
			victim = p;
			break;
		}
	}
	ck_assert_uint_ne(victim, UINT64_MAX);
	/* The guest writes it now: a WP fault; the write must win. */
	fx_write(&f, victim, 0x22);
	ck_assert_int_eq(pt_state(&f.vm->pt, victim), PS_RESIDENT);
	ck_assert(pt_has(&f.vm->pt, victim, PT_DIRTY));
	ck_assert_uint_ge(f.vm->st.evict_cancelled, 1);
	/* The old copy lands: the page must not be punched. */
	fake_remote_auto(f.fr, f.loop, true);
	fx_turn(&f, 5);
	ck_assert(f.m->present[victim] || pt_state(&f.vm->pt, victim) !=
		  PS_RESIDENT);
	/* Push it out for real, then read it back: the new bytes. */
	fx_fill(&f, 100, 100, 5);
	fx_quiesce(&f);
	ck_assert_int_ne(pt_state(&f.vm->pt, victim), PS_RESIDENT);
	fx_where(&f, victim, &srv, &sid, &key);
	ck_assert_ptr_nonnull(fake_remote_page(f.fr, srv, sid, key));
	ck_assert_uint_eq(fake_remote_page(f.fr, srv, sid, key)[0], 0x22);
	ck_assert_int_eq(fx_read(&f, victim), 0x22);
	fx_fini(&f);
}
END_TEST

/* ---- a discard in the middle of a fetch ---- */

START_TEST(test_discard_during_fetch)
{
	struct fx f;
	struct fake_req *q;
	uint8_t b;

	fx_init_filled(&f, &defaults, 0);
	ck_assert_int_eq(pt_state(&f.vm->pt, 3), PS_REMOTE);
	fake_remote_auto(f.fr, f.loop, false);
	/* A vCPU faults on page 3; its READ goes out and waits. */
	ck_assert_int_eq(fake_vcpu_read(f.m, 3, &b), -EAGAIN);
	q = fx_wait_req(&f, RMAP_T_READ);
	ck_assert_int_eq(pt_state(&f.vm->pt, 3), PS_FETCHING);
	/* The guest frees it meanwhile (balloon, free page reporting). */
	fake_mem_remove(f.m, 3, 1);
	fx_turn(&f, 3);
	/* Still FETCHING: no second READ may start and take its answer. */
	ck_assert_int_eq(pt_state(&f.vm->pt, 3), PS_FETCHING);
	ck_assert(pt_has(&f.vm->pt, 3, PT_DISCARDED));
	fake_remote_complete(f.fr, q, 0, 0);
	fake_remote_auto(f.fr, f.loop, true);
	/* The waiting vCPU sees a freed page: zeros, not the old bytes. */
	ck_assert_int_eq(fx_read(&f, 3), 0);
	fx_quiesce(&f);
	ck_assert_uint_ge(f.vm->st.discarded_pages, 1);
	fx_verify(&f, 4, 20, 0);
	fx_fini(&f);
}
END_TEST

/*
 * The VMM punched a page, memxd installed it ahead meanwhile (its old
 * bytes, clean), then the discard came (here a REMOVE that leaves the
 * page present, as madvise(DONTNEED) of shared memory does): the clean
 * page goes back to its server copy, a dirty one stays, and a discard
 * that follows frees the clean one for good: it reads zeros.
 */
START_TEST(test_discard_drops_clean_present)
{
	struct fx f;
	uint64_t clean, dirty;

	fx_init_filled(&f, &defaults, 0);
	clean = fx_remote_page(&f, 0);
	dirty = (clean + 1) % f.npages;
	ck_assert_int_eq(fx_read(&f, clean), (uint8_t)(clean * 7) | 1);
	fx_write(&f, dirty, 0x5c);
	fx_quiesce(&f);
	ck_assert_int_eq(pt_state(&f.vm->pt, clean), PS_RESIDENT);
	ck_assert(!pt_has(&f.vm->pt, clean, PT_DIRTY));
	ck_assert(f.m->present[clean]);
	ck_assert_int_eq(pt_state(&f.vm->pt, dirty), PS_RESIDENT);

	fake_mem_dontneed(f.m, clean, 1);
	fake_mem_dontneed(f.m, dirty, 1);
	fx_turn(&f, 3);
	ck_assert_int_eq(pt_state(&f.vm->pt, clean), PS_REMOTE);
	ck_assert(pt_has(&f.vm->pt, clean, PT_HAS_REMOTE));
	ck_assert(!f.m->present[clean]);
	ck_assert_uint_eq(f.vm->st.discard_dropped_clean, 1);
	/* The dirty page was the guest's: it stays, and so do its bytes. */
	ck_assert_int_eq(pt_state(&f.vm->pt, dirty), PS_RESIDENT);
	ck_assert_int_eq(fx_read(&f, dirty), 0x5c);
	/* Its bytes are still the server's, until the VMM's discard. */
	ck_assert_int_eq(fx_read(&f, clean), (uint8_t)(clean * 7) | 1);
	fx_quiesce(&f);
	fake_mem_dontneed(f.m, clean, 1);
	fx_turn(&f, 3);
	ck_assert_int_eq(pager_discard(f.vm, clean * PAGE, PAGE), 0);
	fx_quiesce(&f);
	ck_assert_int_eq(fx_read(&f, clean), 0);
	fx_fini(&f);
}
END_TEST

/*
 * A read fault on REMOTE @page (filled with salt 4) under a write trend
 * (three in four clean installs written): the pages read ahead of it go
 * in writable, unseen.
 */
static void fx_read_ahead_writable(struct fx *f, uint64_t page)
{
	f->vm->pf.clean_installed = f->vm->pf.clean_written = 1000;
	ck_assert_int_eq(fx_read(f, page), (uint8_t)(page * 7 + 4) | 1);
	fx_quiesce(f);
}

/* The first page from @from that memxd installed writable ahead. */
static uint64_t fx_unseen_page(struct fx *f, uint64_t from)
{
	for (uint64_t p = from; p < f->npages; p++)
		if (pt_state(&f->vm->pt, p) == PS_RESIDENT &&
		    pt_has(&f->vm->pt, p, PT_UNSEEN) && f->m->present[p])
			return p;
	ck_abort_msg("no page installed writable ahead from %lu",
		     (unsigned long)from);
	return 0;
}

/*
 * QEMU punches a page, then madvises it (the REMOVE event), then sends
 * discard=.  A page the prefetcher installed in between, writable (the
 * write trend), holds only its server's old bytes, and the guest did not
 * write it: they must not outlive the discard.  One the guest did write
 * is the guest's, as for any dirty page.  If it cannot be held still at
 * the REMOVE (an unread REMOVE event keeps it from being protected), the
 * discard= that follows drops it, unless the guest wrote it meanwhile.
 */
START_TEST(test_discard_drops_unseen_present)
{
	struct fx_opts o = defaults;
	uint64_t a, b, c, d;
	struct fx f;

	o.prefetch = 8;
	o.rows = 16;
	fx_init_filled(&f, &o, 4);
	fx_read_ahead_writable(&f, 64);
	ck_assert_uint_ge(f.vm->st.install_writable, 3);
	a = fx_unseen_page(&f, 65);
	b = fx_unseen_page(&f, a + 1);
	c = fx_unseen_page(&f, b + 1);
	ck_assert(pt_has(&f.vm->pt, a, PT_DIRTY));
	ck_assert(!f.m->wp[a]);

	/* b is the guest's: written where it lies, with no fault. */
	ck_assert_int_eq(fake_vcpu_write(f.m, b, 0x5c), 0);
	fake_mem_dontneed(f.m, a, 1);
	fake_mem_dontneed(f.m, b, 1);
	fx_turn(&f, 3);
	ck_assert_int_eq(pt_state(&f.vm->pt, a), PS_REMOTE);
	ck_assert(!f.m->present[a]);
	ck_assert_uint_eq(f.vm->st.discard_dropped_unseen, 1);
	ck_assert_int_eq(pt_state(&f.vm->pt, b), PS_RESIDENT);
	ck_assert(pt_has(&f.vm->pt, b, PT_DIRTY));
	ck_assert(!pt_has(&f.vm->pt, b, PT_UNSEEN));
	ck_assert_int_eq(pager_discard(f.vm, a * PAGE, PAGE), 0);
	ck_assert_int_eq(pager_discard(f.vm, b * PAGE, PAGE), 0);
	fx_quiesce(&f);
	ck_assert_int_eq(fx_read(&f, a), 0);
	ck_assert_int_eq(fx_read(&f, b), 0x5c);
	/* Write-protected while it was looked at: its next write unprotects. */
	fx_write(&f, b, 0x5d);
	ck_assert_int_eq(fx_read(&f, b), 0x5d);

	/*
	 * c and d cannot be protected at their REMOVE: the discard= drops
	 * c; d the guest used again in between (the discard= is late), and
	 * what it wrote stays.
	 */
	fx_read_ahead_writable(&f, 100);
	d = fx_unseen_page(&f, 101);
	ck_assert_int_eq(pt_state(&f.vm->pt, c), PS_RESIDENT);
	f.m->fail_protect = 2;
	fake_mem_dontneed(f.m, c, 1);
	fake_mem_dontneed(f.m, d, 1);
	fx_turn(&f, 3);
	ck_assert_int_eq(pt_state(&f.vm->pt, c), PS_RESIDENT);
	ck_assert(pt_has(&f.vm->pt, c, PT_UNSEEN));
	ck_assert(pt_has(&f.vm->pt, d, PT_UNSEEN));
	ck_assert_int_eq(fake_vcpu_write(f.m, d, 0x6e), 0);
	ck_assert_int_eq(pager_discard(f.vm, c * PAGE, PAGE), 0);
	ck_assert_int_eq(pager_discard(f.vm, d * PAGE, PAGE), 0);
	fx_quiesce(&f);
	ck_assert_uint_eq(f.vm->st.discard_dropped_unseen, 2);
	ck_assert_int_eq(fx_read(&f, c), 0);
	ck_assert_int_eq(fx_read(&f, d), 0x6e);
	fx_fini(&f);
}
END_TEST

/*
 * A page installed writable ahead that the guest never wrote leaves
 * clean, with no write to its server: its bytes are still its server
 * copy's.  One the guest wrote (with no fault: it was writable) leaves
 * dirty, and reads back as written.
 */
START_TEST(test_unwritten_leave_clean)
{
	struct fx_opts o = defaults;
	uint64_t a, b, unwritten;
	struct fx f;

	o.prefetch = 8;
	o.rows = 16;
	fx_init_filled(&f, &o, 4);
	fx_read_ahead_writable(&f, 64);
	a = fx_unseen_page(&f, 65);
	b = fx_unseen_page(&f, a + 1);
	ck_assert_int_eq(fake_vcpu_write(f.m, b, 0x5c), 0);
	unwritten = f.vm->st.evict_unwritten;
	/* Other pages push both out. */
	for (uint64_t p = 128; p < 128 + 2 * o.budget; p++)
		ck_assert_int_eq(fx_read(&f, p), (uint8_t)(p * 7 + 4) | 1);
	fx_quiesce(&f);
	ck_assert_int_eq(pt_state(&f.vm->pt, a), PS_REMOTE);
	ck_assert_int_eq(pt_state(&f.vm->pt, b), PS_REMOTE);
	ck_assert_uint_gt(f.vm->st.evict_unwritten, unwritten);
	ck_assert_int_eq(fx_read(&f, a), (uint8_t)(a * 7 + 4) | 1);
	ck_assert_int_eq(fx_read(&f, b), 0x5c);
	fx_fini(&f);
}
END_TEST

/*
 * QEMU punches, madvises (a REMOVE) and then sends discard=.  If memxd
 * reads that discard late, the guest may have used the page again and it
 * may have left for its server: the discard must not free that newer
 * copy.  A second discard (no REMOVE before it) still frees.
 */
START_TEST(test_late_discard_keeps_newer_copy)
{
	struct fx f;
	uint64_t p, q, r;

	fx_init_filled(&f, &defaults, 0);
	p = fx_remote_page(&f, 0);
	q = fx_remote_page(&f, p + 1);
	fake_mem_remove(f.m, p, 1);
	fake_mem_remove(f.m, q, 1);
	fx_turn(&f, 3);
	ck_assert_int_eq(pt_state(&f.vm->pt, p), PS_NEVER);
	/* The guest uses p again, and it is pushed out to a server. */
	fx_write(&f, p, 0x77);
	fx_fill(&f, q + 1, f.npages - q - 1, 1);
	fx_quiesce(&f);
	ck_assert_int_eq(pt_state(&f.vm->pt, p), PS_REMOTE);
	/* Now the discards arrive, the second of the pair first. */
	ck_assert_int_eq(pager_discard(f.vm, q * PAGE, PAGE), 0);
	ck_assert_int_eq(pager_discard(f.vm, p * PAGE, PAGE), 0);
	fx_quiesce(&f);
	ck_assert_int_eq(fx_read(&f, p), 0x77);
	ck_assert_int_eq(fx_read(&f, q), 0);
	ck_assert_uint_eq(f.vm->st.discard_after_remove, 2);
	/* A discard no REMOVE went before frees, as ever. */
	r = fx_remote_page(&f, q + 1);
	ck_assert_int_eq(pager_discard(f.vm, r * PAGE, PAGE), 0);
	fx_quiesce(&f);
	ck_assert_uint_eq(f.vm->st.discard_after_remove, 2);
	ck_assert_int_eq(fx_read(&f, r), 0);
	fx_verify(&f, r + 1, f.npages - r - 1, 1);
	fx_fini(&f);
}
END_TEST

/* ---- a server failing in the middle of a parity write ---- */

START_TEST(test_parity_server_dies_mid_update)
{
	struct fx f;
	struct fake_req *q;
	unsigned psrv;

	fx_init(&f, &defaults);
	/* One page out by XWRITE, its delta held back. */
	for (uint64_t p = 0; p < f.vm->budget + 4; p++)
		fx_write(&f, p * 2, 0x30 | (uint8_t)p);
	q = fx_wait_req(&f, RMAP_T_XWRITE);
	fake_remote_complete(f.fr, q, 0, 0);
	q = fx_wait_req(&f, RMAP_T_PXOR);
	psrv = q->server;
	/* The parity server dies before the delta lands. */
	fake_remote_kill(f.fr, psrv);
	fake_remote_complete(f.fr, q, 0, 0);	/* fails: it is dead */
	fake_remote_auto(f.fr, f.loop, true);
	fx_quiesce(&f);
	ck_assert_uint_ge(f.vm->st.parity_errors, 1);
	/* The parity was rebuilt elsewhere; every page reads back. */
	for (uint64_t p = 0; p < f.vm->budget + 4; p++)
		ck_assert_int_eq(fx_read(&f, p * 2), 0x30 | (uint8_t)p);
	ck_assert_uint_gt(f.vm->st.rebuilt_groups, 0);
	fx_fini(&f);
}
END_TEST

/* A data server dies after its XWRITE answered: the delta still lands,
 * so a rebuild yields the new page. */
START_TEST(test_data_server_dies_after_answer)
{
	struct fx f;
	struct fake_req *q;
	unsigned dsrv;

	fx_init_filled(&f, &defaults, 0);
	fake_remote_hold(f.fr, RMAP_T_XWRITE, true);
	fake_remote_hold(f.fr, RMAP_T_WRITE, true);
	/* Rewrite pages so that they leave again. */
	for (uint64_t p = 0; p < 40; p += 2)
		fx_write(&f, p, 0x55);
	for (uint64_t p = 1; p < 40; p += 2)
		fx_write(&f, p, (uint8_t)(p * 7) | 1);
	q = fx_wait_req(&f, RMAP_T_XWRITE);
	fake_remote_hold(f.fr, RMAP_T_XWRITE, false);
	fake_remote_hold(f.fr, RMAP_T_WRITE, false);
	dsrv = q->server;
	fake_remote_complete(f.fr, q, 0, 0);
	fake_remote_kill(f.fr, dsrv);
	fx_quiesce(&f);
	for (uint64_t p = 0; p < 40; p += 2)
		ck_assert_int_eq(fx_read(&f, p), 0x55);
	fx_verify(&f, 40, f.npages - 40, 0);
	ck_assert_uint_eq(f.vm->st.lost_faults, 0);
	fx_fini(&f);
}
END_TEST

/* ---- a whole-stripe write racing a delta ---- */

START_TEST(test_whole_stripe_waits_for_delta)
{
	struct fx f;
	struct fake_req *pxor;
	uint64_t g0 = UINT64_MAX;
	unsigned slot, row;
	const struct pg_geometry *geo;
	struct pg_group *grp;

	fx_init(&f, &defaults);
	geo = vm_geo(f.vm);
	/* Page 0 alone leaves first: XWRITE, then a PXOR we hold. */
	fx_write(&f, 0, 0x41);
	for (uint64_t p = 1; p < f.vm->budget + 10; p++)
		fx_write(&f, 64 + p, 0x42);
	for (unsigned i = 0; i < 50 && g0 == UINT64_MAX; i++) {
		struct fake_req *q = fake_remote_find(f.fr, RMAP_T_XWRITE);

		if (q) {
			fake_remote_complete(f.fr, q, 0, 0);
			continue;
		}
		pxor = fake_remote_find(f.fr, RMAP_T_PXOR);
		if (pxor)
			break;
		fx_turn(&f, 1);
	}
	pxor = fake_remote_find(f.fr, RMAP_T_PXOR);
	ck_assert_ptr_nonnull(pxor);
	grp = vm_group_of(f.vm, 0, &g0, &slot, &row);
	if (!grp->deltas) {
		/* The delta in flight belongs to another group: use it. */
		g0 = pxor->key / geo->rows;
		grp = pg_group(f.vm->groups, g0);
	}
	ck_assert_uint_gt(grp->deltas, 0);
	/* While it is in flight, no whole-row parity WRITE of that group:
	 * check every request the pager sends until we let the delta go. */
	{
		uint64_t parity_writes = fake_remote_sent(f.fr, RMAP_T_WRITE);

		for (unsigned i = 0; i < 200; i++) {
			struct fake_req *q = NULL;

			for (GList *l = fake_remote_pending(f.fr)->head; l;
			     l = l->next) {
				struct fake_req *c = l->data;

				if (c != pxor) {
					q = c;
					break;
				}
			}
			if (q && q->type == RMAP_T_WRITE &&
			    q->server == grp->srv[pg_parity_slot(geo)] &&
			    q->key / geo->rows == g0)
				ck_abort_msg("whole-row parity WRITE of group "
					     "%lu while a delta is in flight",
					     (unsigned long)g0);
			if (q)
				fake_remote_complete(f.fr, q, 0, 0);
			else
				fx_turn(&f, 1);
		}
		(void)parity_writes;
	}
	fake_remote_complete(f.fr, pxor, 0, 0);
	fake_remote_auto(f.fr, f.loop, true);
	fx_quiesce(&f);
	/* Parity is right: lose a data server and read back degraded. */
	fake_remote_kill(f.fr, grp->srv[0]);
	ck_assert_int_eq(fx_read(&f, 0), 0x41);
	for (uint64_t p = 1; p < f.vm->budget + 10; p++)
		ck_assert_int_eq(fx_read(&f, 64 + p), 0x42);
	fx_fini(&f);
}
END_TEST

/* Whole stripes do happen when rows leave together, and are right. */
START_TEST(test_whole_stripes_used)
{
	struct fx f;

	fx_init_filled(&f, &defaults, 9);
	ck_assert_uint_gt(f.vm->st.parity_stripes, 0);
	fake_remote_kill(f.fr, 1);
	fx_verify(&f, 0, f.npages, 9);
	ck_assert_uint_gt(f.vm->st.degraded_reads + f.vm->st.rebuilt_pages, 0);
	fx_fini(&f);
}
END_TEST

/* ---- EAGAIN while a REMOVE event is unread ---- */

/* UFFDIO_COPY: the fault is handled again after the event is read. */
START_TEST(test_install_eagain)
{
	struct fx f;
	struct fake_req *q;
	uint8_t b;

	fx_init_filled(&f, &defaults, 3);
	fake_remote_auto(f.fr, f.loop, false);
	ck_assert_int_eq(pt_state(&f.vm->pt, 7), PS_REMOTE);
	ck_assert_int_eq(fake_vcpu_read(f.m, 7, &b), -EAGAIN);
	q = fx_wait_req(&f, RMAP_T_READ);
	/* A REMOVE of another page is queued, not yet read... */
	fake_mem_remove(f.m, 200, 1);
	/* ...when the READ answers: UFFDIO_COPY says EAGAIN. */
	fake_remote_complete(f.fr, q, 0, 0);
	ck_assert_uint_ge(f.vm->st.install_retries, 1);
	ck_assert(!f.m->present[7]);
	/* The loop reads the event, then installs: memxd does not hang. */
	fake_remote_auto(f.fr, f.loop, true);
	ck_assert_int_eq(fx_read(&f, 7), (uint8_t)(7 * 7 + 3) | 1);
	ck_assert_int_eq(fx_read(&f, 200), 0);	/* freed: zeros */
	fx_verify(&f, 8, 20, 3);
	fx_fini(&f);
}
END_TEST

/*
 * A clean page whose server copy is valid is write-protected already
 * (installed so by a read fault): it leaves without a write-protect or a
 * read of its bytes, and nothing of it is sent.  Read back, written
 * and read again, every byte is right.
 */
START_TEST(test_clean_victims_leave_unread)
{
	struct fx f;
	uint64_t reads, protects, clean, dirty, writes;

	fx_init_filled(&f, &defaults, 0);
	/* Read back until every resident page is one installed clean. */
	fx_verify(&f, 0, 128, 0);
	fx_quiesce(&f);
	for (uint64_t p = 0; p < f.npages; p++)
		if (pt_state(&f.vm->pt, p) == PS_RESIDENT) {
			ck_assert(!pt_has(&f.vm->pt, p, PT_DIRTY));
			ck_assert(f.m->wp[p]);
		}
	reads = f.m->reads;
	protects = f.m->protects;
	clean = f.vm->st.evict_clean;
	dirty = f.vm->st.evict_dirty;
	writes = fake_remote_sent(f.fr, RMAP_T_XWRITE) +
		 fake_remote_sent(f.fr, RMAP_T_WRITE);
	/* Twice the budget read: only clean pages make room. */
	fx_verify(&f, 128, 2 * f.vm->budget, 0);
	fx_quiesce(&f);
	ck_assert_uint_ge(f.vm->st.evict_clean - clean, f.vm->budget);
	ck_assert_uint_eq(f.vm->st.evict_dirty, dirty);
	ck_assert_uint_eq(f.m->reads, reads);
	ck_assert_uint_eq(f.m->protects, protects);
	ck_assert_uint_eq(fake_remote_sent(f.fr, RMAP_T_XWRITE) +
			  fake_remote_sent(f.fr, RMAP_T_WRITE), writes);
	/* A clean page written is dirty: read and sent when it leaves. */
	fx_fill(&f, 0, 64, 5);
	fx_quiesce(&f);
	ck_assert_uint_gt(f.m->reads, reads);
	ck_assert_uint_gt(f.vm->st.evict_dirty, dirty);
	fx_verify(&f, 0, 64, 5);
	fx_verify(&f, 64, f.npages - 64, 0);
	fx_fini(&f);
}
END_TEST

/*
 * A page that someone else put into guest memory (a write through
 * another mapping of the memfd) while its fault waited for the READ: the
 * copy finds it there (EEXIST), and nothing write-protects it.  Its bytes
 * are the guest's now: kept, and dirty, so that they are written back
 * when it leaves, never dropped for the older copy on its server.
 */
START_TEST(test_install_finds_page_there)
{
	struct fx f;
	struct fake_req *q;
	uint64_t page, existed, dirty;
	uint8_t b;

	fx_init_filled(&f, &defaults, 0);
	page = fx_remote_page(&f, 0);
	fake_remote_hold(f.fr, RMAP_T_READ, true);
	ck_assert_int_eq(fake_vcpu_read(f.m, page, &b), -EAGAIN);
	q = fx_wait_req(&f, RMAP_T_READ);
	fake_mem_prefill(f.m, page, 0xa5);
	existed = f.vm->st.install_existed;
	dirty = f.vm->st.evict_dirty;
	fake_remote_complete(f.fr, q, 0, 0);
	fake_remote_hold(f.fr, RMAP_T_READ, false);
	ck_assert_int_eq(fx_read(&f, page), 0xa5);
	ck_assert_uint_eq(f.vm->st.install_existed, existed + 1);
	ck_assert_int_eq(pt_state(&f.vm->pt, page), PS_RESIDENT);
	ck_assert(pt_has(&f.vm->pt, page, PT_DIRTY));
	/* Everything else passes through the budget: the page leaves. */
	for (uint64_t p = 0; p < f.npages; p++)
		if (p != page)
			ck_assert_int_eq(fx_read(&f, p), (uint8_t)(p * 7) | 1);
	fx_quiesce(&f);
	ck_assert_int_ne(pt_state(&f.vm->pt, page), PS_RESIDENT);
	ck_assert_uint_gt(f.vm->st.evict_dirty, dirty);
	ck_assert_int_eq(fx_read(&f, page), 0xa5);
	fx_fini(&f);
}
END_TEST

/*
 * A fault's READ goes to the kernel before an eviction batch is made, so
 * that its round trip overlaps the batch's reads and seals instead of
 * following them.  The fake servers queue an SQE per request, as RMAP
 * queues a turn's first send; the fake memory counts the pages a batch
 * reads while the loop holds SQEs it has not submitted.
 */
START_TEST(test_read_leaves_before_batch)
{
	struct fx f;
	uint64_t reads, page = UINT64_MAX;
	struct fake_req *q;
	uint8_t b;

	fx_init_filled(&f, &defaults, 0);
	/* The resident pages are dirty (written last): a batch reads them. */
	for (uint64_t p = 0; p < f.npages && page == UINT64_MAX; p++)
		if (pt_state(&f.vm->pt, p) == PS_REMOTE)
			page = p;
	ck_assert_uint_ne(page, UINT64_MAX);
	reads = f.m->reads;
	fake_remote_hold(f.fr, RMAP_T_READ, true);
	fake_remote_queue_sqes(f.fr, f.loop);
	f.m->loop = f.loop;
	ck_assert_int_eq(fake_vcpu_read(f.m, page, &b), -EAGAIN);
	q = fx_wait_req(&f, RMAP_T_READ);
	ck_assert_ptr_nonnull(q);
	fx_turn(&f, 3);
	/* The fault made the VM due for a batch, made with its READ out. */
	ck_assert_uint_gt(f.m->reads, reads);
	ck_assert_uint_eq(f.m->reads_unsubmitted, 0);
	f.m->loop = NULL;
	fake_remote_queue_sqes(f.fr, NULL);
	fake_remote_hold(f.fr, RMAP_T_READ, false);
	fx_quiesce(&f);
	fx_verify(&f, 0, f.npages, 0);
	fx_fini(&f);
}
END_TEST

/*
 * A fault read in the loop turn that sent an eviction batch: the
 * servers have had WRITEs in that turn, and RMAP sends only a turn's
 * first request to a server at once, the rest as the loop sleeps.  The
 * vCPU reads a page on the servers as the batch's first WRITE goes; its
 * READ must be one that leaves at once, not one queued behind the turn.
 */
struct read_after {
	struct fx *f;
	uint64_t page;
	bool faulted, read, at_once;
};

static void read_after_call(struct fake_req *q, void *arg)
{
	struct read_after *ra = arg;
	uint8_t b;

	if (q->type == RMAP_T_READ && ra->faulted && !ra->read) {
		ra->read = true;
		ra->at_once = q->at_once;
	}
	if (ra->faulted ||
	    (q->type != RMAP_T_WRITE && q->type != RMAP_T_XWRITE))
		return;
	ra->faulted = true;
	ck_assert_int_eq(fake_vcpu_read(ra->f->m, ra->page, &b), -EAGAIN);
}

START_TEST(test_fault_read_after_writes)
{
	struct fx_opts o = defaults;
	struct read_after ra = { 0 };
	struct fx f;

	/* 512 pages, 256 local: a batch of 32 pages, to the servers. */
	o.npages = 512;
	o.budget = 256;
	fx_init_filled(&f, &o, 3);
	ra.f = &f;
	ra.page = fx_remote_page(&f, f.npages / 2);
	fake_remote_on_call(f.fr, read_after_call, &ra);
	/* Pages in, until the VM is over its target and a batch goes. */
	for (uint64_t p = 0; p < f.npages / 2 && !ra.faulted; p++)
		if (pt_state(&f.vm->pt, p) == PS_REMOTE)
			ck_assert_int_eq(fx_read(&f, p),
					 (uint8_t)(p * 7 + 3) | 1);
	fx_quiesce(&f);
	ck_assert(ra.faulted);
	ck_assert(ra.read);
	ck_assert_msg(ra.at_once, "the READ waits for the turn's end");
	fake_remote_on_call(f.fr, NULL, NULL);
	ck_assert_int_eq(fx_read(&f, ra.page), (uint8_t)(ra.page * 7 + 3) | 1);
	fx_verify(&f, 0, f.npages, 3);
	fx_fini(&f);
}
END_TEST

/*
 * UFFDIO_WRITEPROTECT in step 1 of an eviction: the pages must not be
 * read, sent or punched, or a store slipping in would be lost.
 */
START_TEST(test_protect_eagain_keeps_pages)
{
	struct fx f;
	uint64_t sent, punches;

	fx_init(&f, &defaults);
	fake_remote_auto(f.fr, f.loop, true);
	for (uint64_t p = 0; p < f.vm->budget; p++)
		fx_write(&f, p, 0x61);
	fx_quiesce(&f);
	sent = fake_remote_sent(f.fr, RMAP_T_XWRITE) +
	       fake_remote_sent(f.fr, RMAP_T_WRITE);
	punches = f.m->punches;
	/* The next write-protects fail, as with a REMOVE event unread. */
	f.m->fail_protect = 1000;
	for (uint64_t p = f.vm->budget; p < f.vm->budget + 40; p++) {
		int ret = fake_vcpu_write(f.m, p, 0x62);

		ck_assert_int_eq(ret, -EAGAIN);
		fx_turn(&f, 2);
	}
	ck_assert_uint_gt(f.vm->st.evict_unprotected, 0);
	/* Nothing left: no page was sent or punched unprotected. */
	ck_assert_uint_eq(f.m->punches, punches);
	ck_assert_uint_eq(fake_remote_sent(f.fr, RMAP_T_XWRITE) +
			  fake_remote_sent(f.fr, RMAP_T_WRITE), sent);
	/* Stores to the pages that stayed go on, and are kept. */
	for (uint64_t p = 0; p < 8; p++)
		if (pt_state(&f.vm->pt, p) == PS_RESIDENT)
			ck_assert_int_eq(fake_vcpu_write(f.m, p, 0x63), 0);
		else
			fx_write(&f, p, 0x63);
	f.m->fail_protect = 0;
	for (uint64_t p = f.vm->budget; p < f.vm->budget + 40; p++)
		fx_write(&f, p, 0x62);
	fx_fill(&f, 100, 100, 1);
	fx_quiesce(&f);
	for (uint64_t p = 0; p < 8; p++)
		ck_assert_int_eq(fx_read(&f, p), 0x63);
	for (uint64_t p = f.vm->budget; p < f.vm->budget + 40; p++)
		ck_assert_int_eq(fx_read(&f, p), 0x62);
	fx_fini(&f);
}
END_TEST

/* Unprotecting on a WP fault: EAGAIN, and the writer still goes on. */
START_TEST(test_unprotect_eagain)
{
	struct fx f;

	fx_init_filled(&f, &defaults, 0);
	/* Page 5 comes back by a read: installed write-protected. */
	ck_assert_int_eq(fx_read(&f, 5), (uint8_t)(5 * 7) | 1);
	ck_assert(f.m->wp[5]);
	f.m->fail_protect = 2;
	fx_write(&f, 5, 0x77);
	ck_assert_uint_ge(f.vm->st.protect_retries, 1);
	ck_assert(pt_has(&f.vm->pt, 5, PT_DIRTY));
	fx_fill(&f, 100, 100, 2);
	fx_quiesce(&f);
	ck_assert_int_eq(fx_read(&f, 5), 0x77);
	fx_fini(&f);
}
END_TEST

/* ---- a page is never sent twice at once ---- */

START_TEST(test_discard_keeps_write_in_flight)
{
	struct fx f;
	struct fake_req *q;
	uint64_t victim = UINT64_MAX;

	fx_init(&f, &defaults);
	for (uint64_t p = 0; p < f.vm->budget + 8; p++)
		fx_write(&f, p, 0x11);
	q = fx_wait_write(&f);
	for (uint64_t p = 0; p < f.npages && victim == UINT64_MAX; p++)
		if (pt_has(&f.vm->pt, p, PT_WRITING) &&
		    q->key == pg_key(vm_geo(f.vm), p / pg_group_pages(vm_geo(f.vm)),
				     (unsigned)(p % pg_group_pages(vm_geo(f.vm)) /
						vm_geo(f.vm)->width)))
			victim = p;
	ck_assert_uint_ne(victim, UINT64_MAX);
	/* That WRITE waits; the servers answer everything else. */
	q->held = true;
	fake_remote_auto(f.fr, f.loop, true);
	/* Freed, faulted in again (zeros), written: a WRITE is still out. */
	fault_discard(f.vm, victim, 1);
	ck_assert(pt_has(&f.vm->pt, victim, PT_WRITING));
	fx_write(&f, victim, 0x99);
	/* However hard eviction pushes, it must not send the page again. */
	for (uint64_t p = 64; p < 64 + 60; p++)
		fx_write(&f, p, 0x12);
	for (GList *l = fake_remote_pending(f.fr)->head; l; l = l->next) {
		struct fake_req *c = l->data;
		unsigned srv;
		uint32_t sid;
		uint64_t key;

		fx_where(&f, victim, &srv, &sid, &key);
		if ((c->type == RMAP_T_XWRITE || c->type == RMAP_T_WRITE) &&
		    c->server == srv && key >= c->key &&
		    key < c->key + c->count && c != q)
			ck_abort_msg("page %lu sent twice at once",
				     (unsigned long)victim);
	}
	q->held = false;
	fx_quiesce(&f);
	fx_fill(&f, 150, 100, 4);
	fx_quiesce(&f);
	ck_assert_int_eq(fx_read(&f, victim), 0x99);
	fx_fini(&f);
}
END_TEST

/* ---- failures ---- */

/* Two servers of a group die: its pages are a memory error, never
 * wrong data; pages of other groups read back. */
START_TEST(test_double_failure_poisons)
{
	struct fx f;
	struct pg_group *grp;
	unsigned slot, row, a, b;
	uint64_t g;
	int lost = 0;

	fx_init(&f, &defaults);
	fake_remote_auto(f.fr, f.loop, true);
	f.pg->cfg.recovery_mibps = 0;	/* nothing rebuilt meanwhile */
	fx_fill(&f, 0, f.npages, 0);
	fx_quiesce(&f);
	grp = vm_group_of(f.vm, 0, &g, &slot, &row);
	a = grp->srv[0];
	b = grp->srv[1];
	fake_remote_kill(f.fr, a);
	fake_remote_kill(f.fr, b);
	fx_quiesce(&f);
	for (uint64_t p = 0; p < f.npages; p++) {
		int v = fx_read(&f, p);

		if (v == -EFAULT)
			lost++;
		else
			ck_assert_int_eq(v, (uint8_t)(p * 7) | 1);
	}
	ck_assert_int_gt(lost, 0);
	ck_assert_uint_eq(f.vm->st.lost_faults, (uint64_t)lost);
	fx_fini(&f);
}
END_TEST

/* A degraded read waits while a write of its group is in flight. */
START_TEST(test_degraded_read_waits_for_writers)
{
	struct fx f;
	struct fake_req *pxor;
	struct pg_group *grp;
	unsigned slot = 0;
	uint64_t g, page = UINT64_MAX;
	uint8_t b;

	fx_init(&f, &defaults);
	fake_remote_auto(f.fr, f.loop, true);
	f.pg->cfg.recovery_mibps = 0;
	fx_fill(&f, 0, f.npages, 0);
	fx_quiesce(&f);
	fake_remote_hold(f.fr, RMAP_T_PXOR, true);
	fake_remote_hold(f.fr, RMAP_T_READZ, true);
	fx_write(&f, 0, 0x5a);
	for (uint64_t p = 1; p < 80; p++)
		fx_write(&f, 100 + p, 0x5b);
	pxor = fx_wait_req(&f, RMAP_T_PXOR);
	ck_assert_ptr_nonnull(pxor);
	g = pxor->key / vm_geo(f.vm)->rows;
	grp = pg_group(f.vm->groups, g);
	/* A REMOTE page of that group whose server then dies. */
	for (unsigned s = 0; s < vm_geo(f.vm)->width && page == UINT64_MAX;
	     s++)
		for (unsigned r = 0; r < vm_geo(f.vm)->rows; r++) {
			uint64_t p = pg_page(vm_geo(f.vm), g, s, r);

			if (pt_state(&f.vm->pt, p) == PS_REMOTE &&
			    grp->srv[s] != pxor->server) {
				page = p;
				slot = s;
				break;
			}
		}
	ck_assert_uint_ne(page, UINT64_MAX);
	fake_remote_kill(f.fr, grp->srv[slot]);
	ck_assert_int_eq(fake_vcpu_read(f.m, page, &b), -EAGAIN);
	fx_turn(&f, 5);
	ck_assert_ptr_null(fake_remote_find(f.fr, RMAP_T_READZ));
	/* The delta lands: now the stripe is consistent and can be read. */
	fake_remote_hold(f.fr, RMAP_T_PXOR, false);
	fake_remote_hold(f.fr, RMAP_T_READZ, false);
	fake_remote_complete(f.fr, pxor, 0, 0);
	ck_assert_int_eq(fx_read(&f, page),
			 page == 0 ? 0x5a : page > 100 && page < 180 ? 0x5b :
			 (uint8_t)(page * 7) | 1);
	ck_assert_uint_ge(f.vm->st.degraded_reads, 1);
	fx_fini(&f);
}
END_TEST

/* ---- partitions ---- */

/*
 * memx_server_state is a stateset: one sample per state for each server
 * (the remote's states and "draining"), exactly one of them 1.
 */
static void prom_one_state(const char *scrape, const char *server)
{
	char *key = g_strdup_printf("\nmemx_server_state{server=\"%s\",",
				    server);
	unsigned states = 0, set = 0;

	for (const char *p = strstr(scrape, key); p;
	     p = strstr(p + 1, key)) {
		const char *end = strchr(p + 1, '\n');

		states++;
		set += end && end[-1] == '1' && end[-2] == ' ';
	}
	ck_assert_msg(states == REMOTE_NSTATES + 1 && set == 1,
		      "%s: %u states, %u set:\n%s", server, states, set, scrape);
	g_free(key);
}

/* Does `memxctl prometheus` have the sample @line (name, labels, value)? */
static bool prom_says(struct fx *f, const char *line)
{
	GString *o = g_string_new("\n");
	char *want = g_strdup_printf("\n%s\n", line), why[600];
	bool found;

	pager_prometheus(f->pg, o);
	ck_assert_msg(tu_prom_grouped(o->str, why, sizeof(why)), "%s", why);
	for (unsigned i = 0; i < remote_count(fake_remote(f->fr)); i++)
		prom_one_state(o->str,
			       remote_server(fake_remote(f->fr), i)->name);
	found = strstr(o->str, want) != NULL;
	if (!found)
		fprintf(stderr, "prometheus has no \"%s\":\n%s", line, o->str);
	g_free(want);
	g_string_free(o, true);
	return found;
}

/*
 * A server that is walking an ended session's table counts its pages as
 * used until the walk passes them, and says how many in STAT's memory
 * block: placement takes them as room (a write that needs them finishes
 * the walk first), so the server is not passed over as full meanwhile.
 */
START_TEST(test_ended_sessions_pages_are_room)
{
	struct fx f;
	struct pg_server *ps;
	char line[128];

	fx_init(&f, &defaults);
	ps = &f.pg->placement[1];
	fake_remote_usage(f.fr, 1, 10000, 10000, 0);
	ck_assert_uint_eq(ps->free_pages, 0);
	ps->full = true;	/* as a write FULL leaves it */
	fake_remote_usage(f.fr, 1, 10000, 10000, 9000);
	ck_assert_uint_eq(ps->free_pages, 9000);
	ck_assert(!ps->full);
	snprintf(line, sizeof(line),
		 "memx_server_freeing_pages{server=\"%s\"} 9000",
		 remote_server(fake_remote(f.fr), 1)->name);
	ck_assert(prom_says(&f, line));
	/* An ANNOUNCE's usage after the walk, the last STAT's block before. */
	fake_remote_usage(f.fr, 1, 10000, 1000, 9000);
	ck_assert_uint_eq(ps->free_pages, 10000);
	fake_remote_usage(f.fr, 1, 10000, 1000, 0);
	ck_assert_uint_eq(ps->free_pages, 9000);
	fx_fini(&f);
}
END_TEST

/*
 * A server goes silent while the others answer, with a READ of a fault
 * in flight to it: the fault does not wait for it (nor for the grace
 * period): it is served by a degraded read from the rest of the stripe.
 * A write to the silent server in flight does not hold that up.
 */
START_TEST(test_silent_server_read_degraded)
{
	struct fx f;
	struct fake_req *q;
	const char *name;
	char line[128];
	unsigned srv;
	uint32_t sid;
	uint64_t key;
	uint8_t b;

	fx_init_filled(&f, &defaults, 0);
	f.pg->cfg.recovery_mibps = 0;
	fake_remote_auto(f.fr, f.loop, false);
	ck_assert_int_eq(fake_vcpu_read(f.m, 9, &b), -EAGAIN);
	q = fx_wait_req(&f, RMAP_T_READ);
	fx_where(&f, 9, &srv, &sid, &key);
	ck_assert_uint_eq(q->server, srv);
	/* Its server's answers stop coming; its requests stay out. */
	for (GList *l = fake_remote_pending(f.fr)->head; l; l = l->next)
		if (((struct fake_req *)l->data)->server == srv)
			((struct fake_req *)l->data)->held = true;
	fake_remote_auto(f.fr, f.loop, true);
	fake_remote_silence(f.fr, srv, true, true);
	/* An operator's scrape sees it down, the others up. */
	name = remote_server(fake_remote(f.fr), srv)->name;
	snprintf(line, sizeof(line), "memx_server_up{server=\"%s\"} 0", name);
	ck_assert(prom_says(&f, line));
	snprintf(line, sizeof(line),
		 "memx_server_state{server=\"%s\",state=\"down\"} 1", name);
	ck_assert(prom_says(&f, line));
	snprintf(line, sizeof(line),
		 "memx_server_state{server=\"%s\",state=\"up\"} 0", name);
	ck_assert(prom_says(&f, line));
	snprintf(line, sizeof(line), "memx_server_up{server=\"%s\"} 1",
		 remote_server(fake_remote(f.fr), !srv)->name);
	ck_assert(prom_says(&f, line));
	ck_assert(prom_says(&f, "memx_frozen 0"));
	ck_assert_int_eq(fx_read(&f, 9), (uint8_t)(9 * 7) | 1);
	ck_assert_uint_ge(f.vm->st.degraded_reads, 1);
	ck_assert_uint_ge(f.vm->st.fetch_abandoned, 1);
	/* The READ's late answer changes nothing. */
	fake_remote_complete(f.fr, q, 0, 0);
	ck_assert_int_eq(fx_read(&f, 9), (uint8_t)(9 * 7) | 1);
	/* Writes meanwhile spill rather than wait; reads stay right. */
	fx_fill(&f, 100, 60, 3);
	fx_verify(&f, 0, 100, 0);
	fx_verify(&f, 100, 60, 3);
	/* It answers again: nothing was declared lost or rebuilt. */
	fake_remote_silence(f.fr, srv, false, false);
	snprintf(line, sizeof(line),
		 "memx_server_state{server=\"%s\",state=\"up\"} 1", name);
	ck_assert(prom_says(&f, line));
	fx_quiesce(&f);
	ck_assert_uint_eq(f.vm->st.rebuilt_groups, 0);
	fx_verify(&f, 160, f.npages - 160, 0);
	fx_fini(&f);
}
END_TEST

/*
 * memxd cut off from every server: evictions wait (nothing is sent,
 * nothing spilled), faults on remote pages wait, nothing is declared
 * down or lost; reconnected, everything goes on where it was.
 */
START_TEST(test_cut_off_freezes)
{
	struct fx f;
	uint64_t sent, spilled;
	uint8_t b;

	fx_init_filled(&f, &defaults, 0);
	fake_remote_cut(f.fr, true);
	ck_assert(f.pg->frozen);
	ck_assert(prom_says(&f, "memx_frozen 1"));
	sent = fake_remote_sent(f.fr, RMAP_T_XWRITE) +
	       fake_remote_sent(f.fr, RMAP_T_WRITE) +
	       fake_remote_sent(f.fr, RMAP_T_READ);
	spilled = f.vm->st.evict_spilled;
	/* A fault on a remote page waits... */
	ck_assert_int_eq(fake_vcpu_read(f.m, 3, &b), -EAGAIN);
	/* ...and new pages fill the budget, then wait too. */
	for (uint64_t p = 200; p < 256; p++)
		fake_vcpu_write(f.m, p, 0x44);
	tu_run_for(f.loop, 300);
	ck_assert_int_eq(fake_vcpu_read(f.m, 3, &b), -EAGAIN);
	/* Nothing went out to the silent servers. */
	ck_assert_uint_eq(fake_remote_sent(f.fr, RMAP_T_XWRITE) +
			  fake_remote_sent(f.fr, RMAP_T_WRITE) +
			  fake_remote_sent(f.fr, RMAP_T_READ), sent);
	ck_assert_uint_eq(f.vm->st.evict_spilled, spilled);
	ck_assert_uint_eq(f.vm->st.lost_faults, 0);
	fx_check_budget(&f);
	/* Reconnected: on with the work, every byte right. */
	fake_remote_cut(f.fr, false);
	ck_assert(prom_says(&f, "memx_frozen 0"));
	ck_assert_int_eq(fx_read(&f, 3), (uint8_t)(3 * 7) | 1);
	for (uint64_t p = 200; p < 256; p++)
		fx_write(&f, p, 0x44);
	fx_quiesce(&f);
	fx_verify(&f, 0, 200, 0);
	for (uint64_t p = 200; p < 256; p++)
		ck_assert_int_eq(fx_read(&f, p), 0x44);
	ck_assert_uint_eq(f.vm->st.rebuilt_groups, 0);
	fx_fini(&f);
}
END_TEST

/* ---- memxd restarts ---- */

/*
 * memxd dies; the VMM keeps the state memfd and the spill file and
 * registers the VM with a new memxd, whose budget is @budget pages.
 * Whatever memxd had in flight stays wherever it got.
 */
/* If set, what fx_restart hands the new memxd instead of the state. */
static int (*fx_state_filter)(int state_fd);
/* If set, what the VMM does between the two memxds. */
static void (*fx_between)(struct fx *f);

static void fx_restart(struct fx *f, uint64_t budget)
{
	struct vm_spec spec = { .pid = 1, .nregions = 1 };
	struct pager_config cfg;
	int state_fd, spill_fd;
	char why[256] = "";

	pager_vm_handover(f->vm, &state_fd, &spill_fd);
	state_fd = dup(state_fd);
	spill_fd = dup(spill_fd);
	ck_assert_uint_eq(f->vm->pt.bugs, 0);
	pager_detach(f->pg, f->vm);
	fake_remote_auto(f->fr, f->loop, false);
	fake_remote_cancel(f->fr);
	fx_turn(f, 3);
	cfg = f->pg->cfg;
	pager_free(f->pg);
	ck_assert_int_eq(pager_new(&f->pg, f->loop, fake_remote(f->fr), &cfg),
			 0);
	snprintf(spec.name, sizeof(spec.name), "vm0");
	spec.budget = budget * PAGE;
	spec.regions[0] = (struct vm_region){ FAKE_HVA, 0, f->npages * PAGE,
					      PAGE };
	spec.uffd = spec.memfd = fake_mem_fd(f->m);
	if (fx_state_filter) {
		int fd = fx_state_filter(state_fd);

		close(state_fd);
		state_fd = fd;
	}
	spec.state_fd = state_fd;
	spec.spill_fd = spill_fd;
	if (fx_between)
		fx_between(f);
	ck_assert_msg(!pager_register(f->pg, &spec, &f->vm, why, sizeof(why)),
		      "register again: %s", why);
	fx_check_counts(f);	/* as adopted */
}

/* Remote pages the guest frees while no memxd reads its events. */
#define UNREAD_FIRST	200
#define UNREAD_N	4

static void remove_unread(struct fx *f)
{
	fake_mem_remove(f->m, UNREAD_FIRST, UNREAD_N);
}

/*
 * memxd dies, and the VMM discards pages before the next one reads its
 * events: the REMOVE stays unread, its madvise() waits, and the uffd
 * refuses to write-protect until someone reads it.  The new memxd reads
 * it while registering and applies it as the VM starts, with no other
 * event to wake its loop: the madvise returns, the pages read as zeros
 * (not as the servers' copies), the others as they were.
 */
START_TEST(test_takeover_reads_unread_remove)
{
	struct fx f;

	fx_init_filled(&f, &defaults, 3);
	fx_quiesce(&f);
	for (uint64_t p = UNREAD_FIRST; p < UNREAD_FIRST + UNREAD_N; p++)
		ck_assert_int_eq(pt_state(&f.vm->pt, p), PS_REMOTE);
	fx_between = remove_unread;
	fx_restart(&f, f.vm->budget);
	fx_between = NULL;
	ck_assert_uint_eq(f.vm->st.takeover_events, 1);
	ck_assert_uint_eq(f.m->mm_changing, 0);
	ck_assert_uint_eq(gm_held(&f.vm->mem), 0);
	/* Applied as the VM started, before any turn of the loop. */
	ck_assert_uint_eq(f.vm->st.discarded_pages, UNREAD_N);
	for (uint64_t p = UNREAD_FIRST; p < UNREAD_FIRST + UNREAD_N; p++)
		ck_assert_int_ne(pt_state(&f.vm->pt, p), PS_REMOTE);
	fake_remote_auto(f.fr, f.loop, true);
	fx_verify(&f, 0, UNREAD_FIRST, 3);
	for (uint64_t p = UNREAD_FIRST; p < UNREAD_FIRST + UNREAD_N; p++)
		ck_assert_int_eq(fx_read(&f, p), 0);
	fx_verify(&f, UNREAD_FIRST + UNREAD_N,
		  f.npages - UNREAD_FIRST - UNREAD_N, 3);
	fx_fini(&f);
}
END_TEST

/*
 * test_late_discard_keeps_newer_copy, with memxd restarted between the
 * REMOVEs and their discard=: the next memxd knows the REMOVEs from the
 * VM's state, and the discard still leaves the newer copy alone.  The
 * REMOVE that no discard matched before the restart is matched after.
 */
START_TEST(test_late_discard_across_restart)
{
	struct fx f;
	uint64_t p, q, r;

	fx_init_filled(&f, &defaults, 0);
	p = fx_remote_page(&f, 0);
	q = fx_remote_page(&f, p + 1);
	r = fx_remote_page(&f, q + 1);
	fake_mem_remove(f.m, p, 1);
	fake_mem_remove(f.m, q, 1);
	fx_turn(&f, 3);
	ck_assert_int_eq(pager_discard(f.vm, q * PAGE, PAGE), 0);
	ck_assert_int_eq(pt_state(&f.vm->pt, p), PS_NEVER);
	fx_restart(&f, f.vm->budget);
	fake_remote_auto(f.fr, f.loop, true);
	/* The guest uses p and q again, and they are pushed out. */
	fx_write(&f, p, 0x77);
	fx_write(&f, q, 0x55);
	fx_fill(&f, r + 1, f.npages - r - 1, 1);
	fx_quiesce(&f);
	ck_assert_int_eq(pt_state(&f.vm->pt, p), PS_REMOTE);
	ck_assert_int_eq(pt_state(&f.vm->pt, q), PS_REMOTE);
	ck_assert_int_eq(pager_discard(f.vm, p * PAGE, PAGE), 0);
	fx_quiesce(&f);
	ck_assert_int_eq(fx_read(&f, p), 0x77);
	ck_assert_uint_eq(f.vm->st.discard_after_remove, 1);
	/* q's REMOVE was matched before: a discard of q now frees. */
	ck_assert_int_eq(pager_discard(f.vm, q * PAGE, PAGE), 0);
	fx_quiesce(&f);
	ck_assert_int_eq(fx_read(&f, q), 0);
	ck_assert_uint_eq(f.vm->st.discard_after_remove, 1);
	fx_verify(&f, q + 1, r - q, 0);
	fx_verify(&f, r + 1, f.npages - r - 1, 1);
	fx_fini(&f);
}
END_TEST

/*
 * memxd dies with evictions, a parity delta and a fault's READ in flight
 * (some of which reached their servers, their answers lost), and a new
 * memxd takes the VM over from the state and spill file its VMM kept:
 * every byte reads back, the blocked vCPU is served, and the parity that
 * a lost delta may not have reached is right again (a server killed
 * afterwards costs nothing).
 */
START_TEST(test_memxd_restart)
{
	struct fx f;
	struct fake_req *q;
	unsigned lost = 0, partner = 0;
	uint64_t across = 0;	/* a lost write's row, the partner's page */
	bool partner_known = false;
	uint8_t b;

	fx_init_filled(&f, &defaults, 0);
	fake_remote_hold(f.fr, RMAP_T_XWRITE, true);
	fake_remote_hold(f.fr, RMAP_T_WRITE, true);
	fake_remote_hold(f.fr, RMAP_T_PXOR, true);
	/*
	 * Rewrite every other page (slot 0 of each row): their evictions go
	 * out, by XWRITE, and wait; the other slot's pages stay remote.
	 */
	for (uint64_t p = 0; p < 120; p += 2)
		fx_write(&f, p, 0x70 | (uint8_t)(p & 7));
	fake_remote_hold(f.fr, RMAP_T_READ, true);
	ck_assert_int_eq(fake_vcpu_read(f.m, 200, &b), -EAGAIN);
	fx_wait_req(&f, RMAP_T_READ);
	/*
	 * Some writes land, their answers die with memxd: at least three,
	 * and one with a row whose other data page is on its server only.
	 */
	while ((q = fake_remote_find(f.fr, RMAP_T_XWRITE)) &&
	       (lost < 3 || !partner_known)) {
		const struct pg_geometry *geo = vm_geo(f.vm);
		struct pg_group *grp = pg_group(f.vm->groups,
						q->key / geo->rows);
		unsigned pslot = grp->srv[0] == q->server;

		for (uint32_t k = 0; k < q->count && !partner_known; k++) {
			uint64_t p = pg_page(geo, q->key / geo->rows, pslot,
					     (unsigned)((q->key + k) %
							geo->rows));

			if (pt_state(&f.vm->pt, p) != PS_REMOTE)
				continue;
			partner = grp->srv[pslot];
			across = p;
			partner_known = true;
		}
		fake_remote_lose(f.fr, q);
		lost++;
	}
	ck_assert(partner_known);
	ck_assert_uint_gt(lost, 0);
	/*
	 * Room for every page after the restart: nothing is evicted again,
	 * so only the recomputed parity, not a new write, can make the lost
	 * deltas' rows right.
	 */
	fx_restart(&f, f.npages);
	fake_remote_hold(f.fr, RMAP_T_XWRITE, false);
	fake_remote_hold(f.fr, RMAP_T_WRITE, false);
	fake_remote_hold(f.fr, RMAP_T_PXOR, false);
	fake_remote_hold(f.fr, RMAP_T_READ, false);
	fake_remote_auto(f.fr, f.loop, true);
	ck_assert_uint_eq(fake_remote_attached(f.fr), 4);
	ck_assert_uint_gt(f.vm->st.takeover_rollbacks, 0);
	ck_assert_uint_gt(f.vm->st.takeover_reads_dropped, 0);
	ck_assert_uint_gt(f.vm->st.takeover_parities, 0);
	/* The vCPU blocked on page 200 was woken, faults again, is served. */
	ck_assert_int_eq(fx_read(&f, 200), (uint8_t)(200 * 7) | 1);
	fx_quiesce(&f);
	tu_run_for(f.loop, 100);	/* the recovery jobs' ticks */
	fx_quiesce(&f);
	ck_assert_uint_eq(recovery_pending(f.pg), 0);
	ck_assert_uint_eq(f.vm->st.lost_faults, 0);
	/*
	 * Parity right where a lost write's delta never reached it: lose
	 * the server of the other slot of its row, and read it all back.
	 */
	ck_assert_int_eq(pt_state(&f.vm->pt, across), PS_REMOTE);
	fake_remote_kill(f.fr, partner);
	/*
	 * That row first, before recovery rebuilds the partner's slot
	 * elsewhere (a race the rest of the pages may lose): a degraded read
	 * through the recomputed parity.
	 */
	ck_assert_int_eq(fx_read(&f, across), (uint8_t)(across * 7) | 1);
	ck_assert_uint_gt(f.vm->st.degraded_reads, 0);
	for (uint64_t p = 0; p < f.npages; p++)
		ck_assert_int_eq(fx_read(&f, p), p < 120 && !(p & 1) ?
				 0x70 | (uint8_t)(p & 7) : (uint8_t)(p * 7) | 1);
	ck_assert_uint_eq(f.vm->st.lost_faults, 0);
	fx_fini(&f);
}
END_TEST

/*
 * memxd is stopped (SIGTERM) while parity deltas are in flight, their
 * data writes acknowledged.  Stopping cancels the deltas; that must not
 * reach the state the VMM keeps, or the next memxd would not know those
 * groups' parity is stale: a server lost afterwards would be rebuilt
 * wrong.
 */
START_TEST(test_restart_delta_in_flight)
{
	struct fx f;
	struct fake_req *q;
	unsigned held = 0, partner = 0;

	fx_init_filled(&f, &defaults, 0);
	fake_remote_hold(f.fr, RMAP_T_PXOR, true);
	for (uint64_t p = 0; p < 120; p += 2)
		fx_write(&f, p, 0x50 | (uint8_t)(p & 7));
	fx_turn(&f, 20);
	/* The data landed; the deltas wait at their parity servers. */
	while ((q = fake_remote_find(f.fr, RMAP_T_PXOR))) {
		struct pg_group *grp = pg_group(f.vm->groups,
						q->key / defaults.rows);

		if (!held)
			partner = grp->srv[0];
		q->held = true;
		held++;
		if (held > 64)
			break;
	}
	ck_assert_uint_gt(held, 0);
	ck_assert_uint_eq(fake_remote_sent(f.fr, RMAP_T_XWRITE) > 0, 1);
	/* Stop and take over: the deltas are cancelled, never applied. */
	fx_restart(&f, f.npages);
	fake_remote_hold(f.fr, RMAP_T_PXOR, false);
	fake_remote_auto(f.fr, f.loop, true);
	ck_assert_uint_gt(f.vm->st.takeover_parities, 0);
	fx_quiesce(&f);
	tu_run_for(f.loop, 100);
	fx_quiesce(&f);
	ck_assert_uint_eq(recovery_pending(f.pg), 0);
	/* Lose a data server of a group whose delta was lost: rebuilt right. */
	fake_remote_kill(f.fr, partner);
	tu_run_for(f.loop, 100);
	fx_quiesce(&f);
	for (uint64_t p = 0; p < f.npages; p++)
		ck_assert_int_eq(fx_read(&f, p), p < 120 && !(p & 1) ?
				 0x50 | (uint8_t)(p & 7) : (uint8_t)(p * 7) | 1);
	ck_assert_uint_eq(f.vm->st.lost_faults, 0);
	fx_fini(&f);
}
END_TEST

/*
 * memxd dies between installing a remote page for a write fault (no
 * write-protection: the guest writes at once) and recording it resident.
 * The page the memfd holds is the guest's latest: the new memxd must
 * write it back when it evicts it, not take it for the server's copy.
 */
START_TEST(test_restart_mid_install)
{
	struct fx f;
	uint64_t victim;

	fx_init_filled(&f, &defaults, 0);
	victim = fx_remote_page(&f, 0);
	/* UFFDIO_COPY went in, the vCPU wrote; the table still says REMOTE. */
	fake_mem_prefill(f.m, victim, 0xa5);
	fx_restart(&f, defaults.budget);
	ck_assert_int_eq(pt_state(&f.vm->pt, victim), PS_RESIDENT);
	ck_assert(pt_has(&f.vm->pt, victim, PT_DIRTY));
	/* Everything else passes through the budget: the victim leaves. */
	fake_remote_auto(f.fr, f.loop, true);
	for (uint64_t p = 0; p < f.npages; p++)
		if (p != victim)
			ck_assert_int_eq(fx_read(&f, p), (uint8_t)(p * 7) | 1);
	fx_quiesce(&f);
	ck_assert_int_ne(pt_state(&f.vm->pt, victim), PS_RESIDENT);
	ck_assert_int_eq(fx_read(&f, victim), 0xa5);
	ck_assert_uint_eq(f.vm->pt.bugs, 0);
	fx_fini(&f);
}
END_TEST

/*
 * While no memxd runs, the guest's clean pages stay write-protected: a
 * vCPU that writes one blocks until a memxd serves the WP fault.  The new
 * memxd must not lift that protection, even for a moment, before it has
 * read which pages are clean: a write that got through then would be
 * taken for the server's copy, and the page evicted without it.
 */
START_TEST(test_restart_keeps_protection)
{
	struct fx f;
	uint64_t victim;

	fx_init_filled(&f, &defaults, 0);
	/* A page read back from its server, clean and protected. */
	victim = fx_remote_page(&f, 0);
	ck_assert_int_eq(fx_read(&f, victim), (uint8_t)(victim * 7) | 1);
	fx_quiesce(&f);
	ck_assert_int_eq(pt_state(&f.vm->pt, victim), PS_RESIDENT);
	ck_assert(!pt_has(&f.vm->pt, victim, PT_DIRTY));
	ck_assert(f.m->wp[victim]);
	/* The vCPU writes it as the new memxd opens the VM's memory. */
	f.m->open_write_page = victim;
	f.m->open_write_byte = 0x3c;
	fx_restart(&f, defaults.budget);
	f.m->open_write_page = UINT64_MAX;
	ck_assert_msg(f.m->data[victim * GM_PAGE] != 0x3c, "the write went "
		      "through while the new memxd did not know the page was "
		      "clean");
	fake_remote_auto(f.fr, f.loop, true);
	fx_write(&f, victim, 0x3c);	/* the vCPU, woken, writes again */
	/* Everything else passes through the budget: the victim leaves. */
	for (uint64_t p = 0; p < f.npages; p++)
		if (p != victim)
			ck_assert_int_eq(fx_read(&f, p), (uint8_t)(p * 7) | 1);
	fx_quiesce(&f);
	ck_assert_int_ne(pt_state(&f.vm->pt, victim), PS_RESIDENT);
	ck_assert_int_eq(fx_read(&f, victim), 0x3c);
	ck_assert_uint_eq(f.vm->pt.bugs, 0);
	fx_fini(&f);
}
END_TEST

/* ---- several VMs: the host-wide total ---- */

/* Register a new VM @name of @budget pages on @m, beside f's. */
static int fx_register_other(struct fx *f, struct fake_mem *m,
			     const char *name, uint64_t budget, struct vm **vm,
			     char *why, size_t whylen)
{
	struct vm_spec spec = { .pid = 2, .budget = budget * PAGE,
				.nregions = 1 };

	snprintf(spec.name, sizeof(spec.name), "%s", name);
	snprintf(spec.uuid, sizeof(spec.uuid), "uuid-%s", name);
	spec.regions[0] = (struct vm_region){ FAKE_HVA, 0, m->npages * PAGE,
					      PAGE };
	spec.uffd = spec.memfd = fake_mem_fd(m);
	spec.state_fd = spec.spill_fd = -1;
	return pager_register(f->pg, &spec, vm, why, whylen);
}

/*
 * Budgets are reservations within local-total: a VM that does not fit
 * beside the others is refused, saying who holds the rest, and fits once
 * one of them leaves.
 */
START_TEST(test_local_total)
{
	struct fx_opts o = defaults;
	struct fake_mem *m1 = fake_mem_new(64), *m2 = fake_mem_new(64);
	struct vm *v1 = NULL, *v2 = NULL;
	char why[256] = "";
	struct fx f;

	o.local_total = 64;		/* vm0 holds 32 of them */
	fx_init(&f, &o);
	ck_assert_int_eq(fx_register_other(&f, m1, "vm1", 32, &v1, why,
					   sizeof(why)), 0);
	ck_assert_uint_eq(pager_reserved(f.pg), 64 * PAGE);
	ck_assert_int_eq(fx_register_other(&f, m2, "vm2", 16, &v2, why,
					   sizeof(why)), -ENOSPC);
	ck_assert_str_eq(why, "budget 64 KiB does not fit the host's memx "
			 "total of 256 KiB (local-total): 256 KiB is reserved "
			 "by vm1 128 KiB, vm0 128 KiB");
	ck_assert_uint_eq(pager_vm_count(f.pg), 2);
	pager_unregister(f.pg, v1);
	ck_assert_int_eq(fx_register_other(&f, m2, "vm2", 16, &v2, why,
					   sizeof(why)), 0);
	ck_assert_uint_eq(pager_reserved(f.pg), 48 * PAGE);
	pager_unregister(f.pg, v2);
	fx_fini(&f);
	fake_mem_free(m1);
	fake_mem_free(m2);
}
END_TEST

/*
 * A VM taken over after a memxd restart was admitted before: the new
 * memxd lets it in even if its total is smaller now (refusing it would
 * freeze the guest for good), and refuses the next new one.
 */
START_TEST(test_local_total_takeover)
{
	struct fx_opts o = defaults;
	struct fake_mem *m1 = fake_mem_new(64);
	struct vm *v1 = NULL;
	char why[256] = "";
	struct fx f;

	o.local_total = o.budget;
	fx_init(&f, &o);
	fx_write(&f, 1, 0x5a);
	f.pg->cfg.local_total = 16 * PAGE;	/* the new memxd's */
	fx_restart(&f, o.budget);
	ck_assert_int_eq(fx_read(&f, 1), 0x5a);
	ck_assert_int_eq(fx_register_other(&f, m1, "vm1", 16, &v1, why,
					   sizeof(why)), -ENOSPC);
	fx_fini(&f);
	fake_mem_free(m1);
}
END_TEST

/* No servers at all: everything spills, and reads back. */
START_TEST(test_spill_only)
{
	struct fx_opts o = defaults;
	struct fx f;

	o.servers = 0;
	fx_init(&f, &o);
	fx_fill(&f, 0, f.npages, 6);
	fx_quiesce(&f);
	ck_assert_uint_gt(f.vm->st.evict_spilled, f.npages / 2);
	fx_verify(&f, 0, f.npages, 6);
	ck_assert_uint_gt(f.vm->st.spill_faults, 0);
	fx_fini(&f);
}
END_TEST

/*
 * Many vCPUs fault at once, past the budget and the slack, with only the
 * spill file to evict to: evictions that need no network make room at
 * once, and the faults they let through must not wait for ever.
 */
START_TEST(test_many_vcpus_spill_only)
{
	struct fx_opts o = defaults;
	bool written[1024] = { false };
	unsigned done = 0;
	struct fx f;

	o.servers = 0;
	o.npages = 1024;
	fx_init(&f, &o);
	for (unsigned round = 0; round < 500 && done < o.npages; round++) {
		/* Every vCPU tries; their faults come in one batch. */
		for (uint64_t p = 0; p < o.npages; p++) {
			if (written[p] || fake_vcpu_write(f.m, p, (uint8_t)p | 1))
				continue;
			written[p] = true;
			done++;
		}
		fx_turn(&f, 1);
		fx_check_budget(&f);
	}
	ck_assert_uint_eq(done, o.npages);
	ck_assert_uint_gt(f.vm->st.deferred_faults, 0);
	fx_verify_bytes(&f, o.npages);
	fx_fini(&f);
}
END_TEST

/*
 * Prefetch: a sequential reader is served ahead, installed at once while
 * there is room within the budget, from the cache when there is not.
 */
START_TEST(test_prefetch_sequential)
{
	struct fx_opts o = defaults;
	struct fx f;

	o.prefetch = 32;
	o.rows = 16;
	fx_init(&f, &o);
	fake_remote_auto(f.fr, f.loop, true);
	fx_fill(&f, 0, f.npages, 8);
	fx_quiesce(&f);
	fx_verify(&f, 0, f.npages, 8);
	ck_assert_uint_gt(f.vm->st.prefetch_hit, 0);
	ck_assert_uint_gt(f.vm->st.prefetch_installed, 0);
	ck_assert_uint_lt(f.vm->st.net_faults, f.npages - f.vm->budget);
	ck_assert_uint_eq(f.vm->pt.bugs, 0);
	fx_fini(&f);
}
END_TEST

/*
 * A server holds every width-th page of a group, so each READ ahead
 * brings strided pages: they wait for their neighbours' READs and go in
 * together, a run per UFFDIO_COPY, not one page each.
 */
START_TEST(test_prefetch_gathered)
{
	uint64_t calls, pages;
	struct fx f;

	fx_init_read_ahead(&f);
	calls = f.m->install_calls;
	pages = f.m->installs;
	fx_verify(&f, 0, f.npages, 8);
	ck_assert_uint_gt(f.vm->st.prefetch_gathered, f.npages / 2);
	/* Runs of four pages or more, on average. */
	ck_assert_uint_le(4 * (f.m->install_calls - calls),
			  f.m->installs - pages);
	fx_quiesce(&f);
	fx_verify(&f, 0, f.npages, 8);
	fx_fini(&f);
}
END_TEST

/*
 * Pages read ahead while the VM is at its budget wait in the cache.  Once
 * the evictions in flight are answered there is room again, and they go
 * in then, before the guest gets to them: a reader walking on takes no
 * fault on them (each would be a round trip through memxd).
 */
START_TEST(test_prefetch_waits_for_room)
{
	static const uint8_t writes[] = { RMAP_T_WRITE, RMAP_T_XWRITE,
					  RMAP_T_PXOR };
	uint64_t p, cached[64], ncached = 0, next, faults;
	struct fx f;
	uint8_t byte;

	fx_init_read_ahead(&f);
	/* Evictions go out, and no answer brings the room back. */
	for (unsigned i = 0; i < sizeof(writes); i++)
		fake_remote_hold(f.fr, writes[i], true);
	/* A reader walks until pages read ahead of it find no room. */
	for (p = fx_remote_page(&f, 0); p < f.npages && ncached < 2; p++) {
		ck_assert_int_eq(fx_read(&f, p), (uint8_t)(p * 7 + 8) | 1);
		fx_turn(&f, 3);
		ncached = 0;
		for (uint64_t q = p + 1; q < f.npages && ncached < 64; q++)
			if (pt_has(&f.vm->pt, q, PT_CACHED))
				cached[ncached++] = q;
	}
	ck_assert_uint_gt(ncached, 1);
	for (uint64_t i = 0; i < ncached; i++)
		ck_assert(!f.m->present[cached[i]]);
	ck_assert_uint_eq(f.vm->st.prefetch_drained, 0);
	/*
	 * The reader goes on past them, and its READ is slow: waiting for
	 * its page would keep the cached run out for as long as the walk.
	 */
	next = cached[ncached - 1] + 1;
	ck_assert_int_eq(pt_state(&f.vm->pt, next), PS_REMOTE);
	fake_remote_hold(f.fr, RMAP_T_READ, true);
	ck_assert_int_eq(fake_vcpu_read(f.m, next, &byte), -EAGAIN);
	fx_turn(&f, 3);
	ck_assert_int_eq(pt_state(&f.vm->pt, next), PS_FETCHING);
	/* The servers answer the evictions: room. */
	for (unsigned i = 0; i < sizeof(writes); i++)
		fake_remote_hold(f.fr, writes[i], false);
	for (unsigned i = 0; i < 50 && f.m->present[cached[0]] == 0; i++)
		fx_turn(&f, 1);
	for (uint64_t i = 0; i < ncached; i++)
		ck_assert_msg(f.m->present[cached[i]], "page %lu still out",
			      (unsigned long)cached[i]);
	fake_remote_hold(f.fr, RMAP_T_READ, false);
	fx_quiesce(&f);
	ck_assert_int_eq(fx_read(&f, next), (uint8_t)(next * 7 + 8) | 1);
	faults = f.vm->st.cache_faults + f.vm->st.net_faults;
	for (uint64_t i = 0; i < ncached; i++) {
		ck_assert_int_eq(fx_read(&f, cached[i]),
				 (uint8_t)(cached[i] * 7 + 8) | 1);
	}
	ck_assert_uint_eq(f.vm->st.cache_faults + f.vm->st.net_faults, faults);
	ck_assert_uint_ge(f.vm->st.prefetch_drained, ncached);
	fx_verify(&f, 0, f.npages, 8);
	fx_fini(&f);
}
END_TEST

/*
 * ...but room is not what the scattered pages of one server's READ wait
 * for: with room, they still wait for the other servers' pages of their
 * rows, and go in with them, a run per copy.
 */
START_TEST(test_prefetch_drain_keeps_rows)
{
	struct fake_req *a = NULL, *b = NULL;
	uint64_t p, calls, drained;
	struct fx f;
	uint8_t byte;

	fx_init_read_ahead(&f);
	/* A reader walks until its faults read ahead. */
	for (p = fx_remote_page(&f, 0); f.vm->st.prefetch_issued < 64; p++)
		ck_assert_int_eq(fx_read(&f, p), (uint8_t)(p * 7 + 8) | 1);
	fx_quiesce(&f);
	ck_assert_uint_lt(pt_committed(&f.vm->pt), f.vm->budget);
	/* Its next fault's READs wait for the test. */
	fake_remote_hold(f.fr, RMAP_T_READ, true);
	p = fx_remote_page(&f, p);
	ck_assert_int_eq(fake_vcpu_read(f.m, p, &byte), -EAGAIN);
	fx_turn(&f, 3);
	for (GList *l = fake_remote_pending(f.fr)->head; l; l = l->next) {
		struct fake_req *q = l->data;

		if (q->type != RMAP_T_READ || q->count < 2)
			continue;
		if (!a)
			a = q;
		else if (!b && q->server != a->server)
			b = q;
	}
	ck_assert_msg(a && b, "no READs ahead to two servers");
	calls = f.m->install_calls;
	drained = f.vm->st.prefetch_drained;
	fake_remote_complete(f.fr, a, 0, 0);
	fx_turn(&f, 3);
	/* One server's pages are here, the room too: they wait. */
	ck_assert_uint_lt(pt_committed(&f.vm->pt), f.vm->budget);
	ck_assert_uint_eq(f.m->install_calls, calls);
	ck_assert_uint_eq(f.vm->st.prefetch_drained, drained);
	fake_remote_hold(f.fr, RMAP_T_READ, false);
	fx_quiesce(&f);
	ck_assert_int_eq(fx_read(&f, p), (uint8_t)(p * 7 + 8) | 1);
	fx_verify(&f, 0, f.npages, 8);
	fx_fini(&f);
}
END_TEST

/*
 * A writer walking fresh memory: the pages ahead of it are zero-filled
 * before it comes to them, within the budget, and what it wrote is what
 * it reads back, down to the pages that were zero-filled and never
 * written (read as zeros after their eviction).
 */
START_TEST(test_zero_ahead)
{
	struct fx_opts o = defaults;
	struct fx f;

	o.prefetch = 32;
	fx_init(&f, &o);
	fake_remote_auto(f.fr, f.loop, true);
	fx_fill(&f, 0, f.npages / 2, 3);
	fx_check_budget(&f);
	fx_quiesce(&f);
	ck_assert_uint_gt(f.vm->st.prefetch_zero, 0);
	ck_assert_uint_lt(f.vm->st.zero_faults, f.npages / 2);
	fx_verify(&f, 0, f.npages / 2, 3);
	for (uint64_t p = f.npages / 2; p < f.npages; p++)
		ck_assert_int_eq(fx_read(&f, p), 0);
	ck_assert_uint_eq(f.vm->pt.bugs, 0);
	fx_fini(&f);
}
END_TEST

/*
 * A guest that reads each page and then writes it (a sort): once most
 * pages installed clean are written soon after, they are installed
 * writable and dirty, no WP fault each; and every write survives their
 * evictions.
 */
START_TEST(test_write_trend_installs_writable)
{
	struct fx_opts o = defaults;
	struct fx f;
	uint64_t wp0;

	o.prefetch = 8;
	o.npages = 2048;
	o.budget = 512;
	o.rows = 16;
	fx_init_filled(&f, &o, 4);
	wp0 = f.vm->st.wp_faults;
	for (unsigned pass = 0; pass < 3; pass++)
		for (uint64_t p = 0; p < f.npages; p++) {
			ck_assert_int_eq(fx_read(&f, p),
					 (uint8_t)(p * 7 + 4 + pass) | 1);
			fx_write(&f, p, (uint8_t)(p * 7 + 5 + pass) | 1);
		}
	fx_quiesce(&f);
	fx_verify(&f, 0, f.npages, 7);
	ck_assert_uint_gt(f.vm->st.install_writable, 0);
	ck_assert_uint_lt(f.vm->st.wp_faults - wp0, 3 * f.npages / 2);
	/* Pages installed writable ahead: their hashes, swept. */
	ck_assert_uint_gt(f.vm->st.prefetch_installed, f.npages);
	ck_assert_uint_le(unseen_kept(&f.vm->unseen),
			  3 * (f.vm->budget + PAGER_SLACK_PAGES) / 2);
	ck_assert_uint_eq(f.vm->pt.bugs, 0);
	fx_fini(&f);
}
END_TEST

/* A VM 1.7 times its budget, under @policy: the sweep tests' fixture. */
static struct fx_opts sweep_opts(enum victim_policy policy)
{
	struct fx_opts o = defaults;

	o.npages = 435;
	o.budget = 256;
	o.rows = 16;
	o.policy = policy;
	return o;
}

/*
 * A cyclic sweep 1.7 times the budget, through the real pager: with
 * CLOCK every access of every pass is a network fault; the refault
 * policy keeps most of the budget resident.  Every byte reads back.
 */
static uint64_t sweep_faults(enum victim_policy policy)
{
	struct fx_opts o = sweep_opts(policy);
	uint64_t faults = 0;
	struct fx f;

	fx_init_filled(&f, &o, 4);
	/* Counted from the third pass: the hot set fills in the second. */
	for (unsigned pass = 0; pass < 10; pass++) {
		if (pass == 2)
			faults = f.vm->st.net_faults;
		fx_verify(&f, 0, o.npages, 4);
	}
	fx_quiesce(&f);
	faults = f.vm->st.net_faults - faults;
	if (policy == VICTIM_REFAULT)
		ck_assert_uint_ge(f.vm->pt.hot, o.budget / 2);
	fx_fini(&f);
	return faults;
}

START_TEST(test_sweep_refault_vs_clock)
{
	uint64_t clock = sweep_faults(VICTIM_CLOCK);
	uint64_t refault = sweep_faults(VICTIM_REFAULT);

	printf("pager sweep 1.7x budget, passes 3-10: net_faults refault %lu, "
	       "clock %lu\n", (unsigned long)refault, (unsigned long)clock);
	fflush(stdout);
	ck_assert_uint_ge(clock, 8 * 435 * 9 / 10);
	/*
	 * Half the budget is hot with so small a budget: about 307 of 435
	 * pages are fetched each pass, not 435, and a few more while the
	 * hot set is tested.
	 */
	ck_assert_uint_le(refault * 5, clock * 4);
}
END_TEST

/* Hot dirty pages that are write-protected: sampled (victim.h). */
static uint64_t count_protected_dirty(struct fx *f)
{
	uint64_t n = 0;

	for (uint64_t p = 0; p < f->npages; p++)
		n += pt_has(&f->vm->pt, p, PT_HOT) &&
		     pt_has(&f->vm->pt, p, PT_DIRTY) && f->m->wp[p];
	return n;
}

/*
 * The sampling hand write-protects dirty hot pages again (victim.h): a
 * write to one is a WP fault that keeps it hot and dirty; one not written
 * again goes cold as stale, and when it leaves, its last contents are
 * written back, never taken for the older copy its server holds.  The
 * guest's sweep: each pass writes every page, then reads it back; then
 * passes that only read, in which the dirty hot pages go stale and leave.
 */
START_TEST(test_sampled_dirty_kept)
{
	struct fx_opts o = sweep_opts(VICTIM_REFAULT_WP);
	uint64_t protected_dirty = 0, wp0;
	struct fx f;

	fx_init_filled(&f, &o, 4);
	wp0 = f.vm->st.wp_faults;
	for (unsigned pass = 0; pass < 6; pass++) {
		uint8_t salt = (uint8_t)(5 + pass);

		for (uint64_t p = 0; p < o.npages; p++) {
			fx_write(&f, p, (uint8_t)(p * 7 + salt) | 1);
			protected_dirty += count_protected_dirty(&f);
		}
		fx_verify(&f, 0, o.npages, salt);
	}
	ck_assert_uint_gt(protected_dirty, 0);
	ck_assert_uint_gt(f.vm->victim.st.sampled, 0);
	ck_assert_uint_gt(f.vm->st.wp_faults, wp0);
	for (unsigned pass = 0; pass < 6; pass++)
		fx_verify(&f, 0, o.npages, 10);
	fx_quiesce(&f);
	ck_assert_uint_gt(f.vm->victim.st.stale, 0);
	/* Every hot page that went stale left, written back. */
	for (uint64_t p = 0; p < o.npages; p++)
		ck_assert(!pt_has(&f.vm->pt, p, PT_HOT) ||
			  !pt_has(&f.vm->pt, p, PT_DIRTY));
	fx_verify(&f, 0, o.npages, 10);
	fx_fini(&f);
}
END_TEST

/*
 * A memxd restart under the refault policy: the old table is full of
 * PT_HOT, eviction epochs and PT_DEMOTED marks, which mean nothing to the
 * new memxd (its epoch clock starts again, its hot set is empty).  The
 * takeover keeps none of them, pt->hot agrees, and the new memxd builds
 * its own hot set from its own refaults; every byte reads back.
 */
static uint64_t count_policy_bits(const struct pagetable *pt)
{
	uint64_t n = 0;

	for (uint64_t p = 0; p < pt->npages; p++)
		n += (pt->e[p] & (PT_HOT | PT_EPOCH | PT_DEMOTED)) != 0;
	return n;
}

START_TEST(test_restart_forgets_policy)
{
	struct fx_opts o = defaults;
	struct fx f;

	o.npages = 435;
	o.budget = 256;
	o.rows = 16;
	o.policy = VICTIM_REFAULT;
	fx_init_filled(&f, &o, 4);
	for (unsigned pass = 0; pass < 3; pass++)
		fx_verify(&f, 0, o.npages, 4);
	fx_quiesce(&f);
	ck_assert_uint_ge(f.vm->pt.hot, o.budget / 2);
	ck_assert_uint_gt(count_policy_bits(&f.vm->pt), f.vm->pt.hot);
	fx_restart(&f, o.budget);
	fake_remote_auto(f.fr, f.loop, true);
	ck_assert_uint_eq(f.vm->pt.hot, 0);
	ck_assert_uint_eq(count_policy_bits(&f.vm->pt), 0);
	for (unsigned pass = 0; pass < 3; pass++)
		fx_verify(&f, 0, o.npages, 4);
	fx_quiesce(&f);
	ck_assert_uint_eq(f.vm->pt.bugs, 0);
	ck_assert_uint_ge(f.vm->pt.hot, o.budget / 2);
	ck_assert_uint_le(pt_resident(&f.vm->pt), o.budget);
	fx_fini(&f);
}
END_TEST

/* ---- live migration ---- */

/* The migrating VM's budget, in pages (the destination's the same). */
static uint64_t fx_budget;

struct handoff_result {
	bool done;
	int err;
	char why[256];
	struct migrate_summary s;
};

static void handoff_cb(void *arg, int err, const char *why,
		       const struct migrate_summary *s)
{
	struct handoff_result *r = arg;

	r->done = true;
	r->err = err;
	snprintf(r->why, sizeof(r->why), "%s", why ? why : "");
	if (s)
		r->s = *s;
}

/* Ask for a handoff and turn the loop until it ends. */
static struct handoff_result fx_handoff(struct fx *f)
{
	struct handoff_result r = { 0 };
	char why[256] = "";
	int ret;

	fx_budget = f->vm->budget;
	ret = migrate_handoff(f->vm, handoff_cb, &r, why, sizeof(why));

	ck_assert_msg(ret == 0, "handoff refused: %s", why);
	for (unsigned i = 0; i < 5000 && !r.done; i++)
		fx_wait(f);
	ck_assert_msg(r.done, "the handoff did not end");
	return r;
}

/*
 * The VM live-migrates to another host, after the handoff (@r): the
 * stream carries the pages the source's memfd holds, but those
 * @leave_out marks (pages fetched for a read after the source last
 * looked, which no dirty log sees); another pager, on the same servers,
 * adopts it with the state that came with them.  Not settled yet.  The
 * handoff let go of the source's VM: f->vm is not used until replaced.
 */
static void fx_arrive_stale(struct fx *f, int state_fd,
			    const uint8_t *leave_out, const uint8_t *stale)
{
	struct vm_spec spec = { .pid = 1, .nregions = 1, .migrated = true };
	struct fake_mem *dst = fake_mem_new(f->npages);
	struct pager_config cfg = f->pg->cfg;
	uint64_t budget = fx_budget;
	char why[256] = "";

	for (uint64_t p = 0; p < f->npages; p++) {
		if (stale && stale[p]) {
			/* An old copy, sent before the page left memory. */
			memset(dst->data + p * PAGE, 0xee, PAGE);
			dst->present[p] = 1;
		}
		if (!f->m->present[p] || (leave_out && leave_out[p]))
			continue;
		memcpy(dst->data + p * PAGE, f->m->data + p * PAGE, PAGE);
		dst->present[p] = 1;
	}
	/* The source host's pager stays behind, with nothing. */
	pager_free(f->pg);
	fake_mem_free(f->m);
	f->m = dst;
	ck_assert_int_eq(pager_new(&f->pg, f->loop, fake_remote(f->fr), &cfg),
			 0);
	snprintf(spec.name, sizeof(spec.name), "vm0");
	spec.budget = budget * PAGE;
	spec.regions[0] = (struct vm_region){ FAKE_HVA, 0, f->npages * PAGE,
					      PAGE };
	spec.uffd = spec.memfd = fake_mem_fd(dst);
	spec.state_fd = state_fd;
	spec.spill_fd = -1;
	ck_assert_msg(!pager_register(f->pg, &spec, &f->vm, why, sizeof(why)),
		      "register migrated: %s", why);
	migrate_arrived(f->vm);
	ck_assert_int_eq(f->vm->mig, VM_MIG_IN);
}

static void fx_arrive(struct fx *f, int state_fd, const uint8_t *leave_out)
{
	fx_arrive_stale(f, state_fd, leave_out, NULL);
}

/* The state fd the VMM keeps (its own descriptor of the memfd). */
static int fx_state_fd(struct fx *f)
{
	int state_fd, spill_fd;

	pager_vm_handover(f->vm, &state_fd, &spill_fd);
	return dup(state_fd);
}

/*
 * A VM whose pages are mostly remote migrates: the handoff makes every
 * session movable, the stream carries only the resident pages, nothing
 * is written to a server from the handoff until the VM runs on the
 * destination, which then settles the sessions; every byte reads back
 * there.
 */
START_TEST(test_migrate_leaves_remote_pages)
{
	struct fx f;
	struct handoff_result r;
	uint64_t writes, moves, resident;
	int state_fd;

	fx_init_filled(&f, &defaults, 3);
	fx_verify(&f, 0, 40, 3);
	fx_quiesce(&f);
	resident = pt_resident(&f.vm->pt);
	state_fd = fx_state_fd(&f);
	writes = fake_remote_sent(f.fr, RMAP_T_WRITE) +
		 fake_remote_sent(f.fr, RMAP_T_XWRITE) +
		 fake_remote_sent(f.fr, RMAP_T_PXOR);
	moves = fake_remote_sent(f.fr, RMAP_T_MOVE);
	r = fx_handoff(&f);
	ck_assert_msg(r.err == 0, "handoff: %s", r.why);
	ck_assert_uint_eq(r.s.resident, resident);
	ck_assert_uint_eq(r.s.resident + r.s.remote + r.s.never, f.npages);
	ck_assert_uint_gt(r.s.remote, f.npages / 2);
	ck_assert_uint_eq(r.s.sessions, defaults.servers);
	ck_assert_uint_eq(fake_remote_sent(f.fr, RMAP_T_MOVE),
			  moves + defaults.servers);
	fx_arrive(&f, state_fd, NULL);
	ck_assert_uint_eq(pt_resident(&f.vm->pt), resident);
	/* It runs before it settled: reads are served, nothing goes out. */
	fx_verify(&f, 0, f.npages / 4, 3);
	fx_quiesce(&f);
	ck_assert_uint_eq(fake_remote_sent(f.fr, RMAP_T_WRITE) +
			  fake_remote_sent(f.fr, RMAP_T_XWRITE) +
			  fake_remote_sent(f.fr, RMAP_T_PXOR), writes);
	ck_assert_uint_gt(pt_resident(&f.vm->pt), f.vm->budget);
	ck_assert_int_eq(migrate_settle(f.vm), 0);
	ck_assert_int_eq(f.vm->mig, VM_MIG_NONE);
	ck_assert_uint_eq(fake_remote_sent(f.fr, RMAP_T_MOVE),
			  moves + 2 * defaults.servers);
	fx_quiesce(&f);
	ck_assert_uint_le(pt_resident(&f.vm->pt), f.vm->budget);
	fx_verify(&f, 0, f.npages, 3);
	fx_fill(&f, 0, f.npages, 9);
	fx_verify(&f, 0, f.npages, 9);
	fx_fini(&f);
}
END_TEST

/*
 * The VMM's account of a migration joins memxd's record, but may not
 * use a key of memxd's own: the record's figures stay memxd's.
 */
START_TEST(test_migrate_report_keys)
{
	struct fx f;
	struct handoff_result r;
	GString *out = g_string_new(NULL);
	char why[256] = "";
	int state_fd;

	fx_init_filled(&f, &defaults, 4);
	fx_quiesce(&f);
	state_fd = fx_state_fd(&f);
	ck_assert_int_eq(migrate_report(f.pg, "vm0", "qemu_status=completed\n",
					why, sizeof(why)), -ENOENT);
	r = fx_handoff(&f);
	ck_assert_msg(r.err == 0, "handoff: %s", r.why);
	ck_assert_int_eq(migrate_report(f.pg, "vm0",
					"total_ms=12\nremote_pages=1\n", why,
					sizeof(why)), -EINVAL);
	ck_assert_msg(strstr(why, "'remote_pages'"), "why: %s", why);
	ck_assert_int_eq(migrate_report(f.pg, "vm0", "qemu_status=completed\n"
					"total_ms=12\n", why, sizeof(why)), 0);
	migrate_dump(f.pg, out);
	ck_assert_msg(strstr(out->str, "\nqemu_status=completed\ntotal_ms=12\n"),
		      "%s", out->str);
	ck_assert_msg(!strstr(out->str, "remote_pages=1\n"), "%s", out->str);
	g_string_free(out, true);
	fx_arrive(&f, state_fd, NULL);
	ck_assert_int_eq(migrate_settle(f.vm), 0);
	fx_fini(&f);
}
END_TEST

/* Resident, clean, with a server copy: fetched for a read, say. */
static bool clean_with_copy(const struct fx *f, uint64_t p)
{
	return pt_state(&f->vm->pt, p) == PS_RESIDENT &&
	       !pt_has(&f->vm->pt, p, PT_DIRTY) &&
	       pt_has(&f->vm->pt, p, PT_HAS_REMOTE);
}

/*
 * Pages the source fetched for a read after its last dirty-bitmap sync
 * are not in the stream; the destination finds them clean in the state
 * and takes them for remote, and they read back right.
 */
START_TEST(test_migrate_clean_pages_not_sent)
{
	struct fx f;
	struct handoff_result r;
	uint8_t leave_out[256];
	uint64_t clean = 0;
	int state_fd;

	fx_init_filled(&f, &defaults, 5);
	fx_verify(&f, 0, f.npages, 5);	/* fetched back, clean */
	fx_quiesce(&f);
	for (uint64_t p = 0; p < f.npages; p++) {
		leave_out[p] = clean_with_copy(&f, p);
		clean += leave_out[p];
	}
	ck_assert_uint_gt(clean, 0);
	state_fd = fx_state_fd(&f);
	r = fx_handoff(&f);
	ck_assert_msg(r.err == 0, "handoff: %s", r.why);
	fx_arrive(&f, state_fd, leave_out);
	ck_assert_uint_eq(f.vm->adopted.remote_again, clean);
	ck_assert_int_eq(migrate_settle(f.vm), 0);
	fx_verify(&f, 0, f.npages, 5);
	fx_fini(&f);
}
END_TEST

/*
 * The stream carried pages that left memory on the source afterwards
 * (sent, dirtied, evicted): the destination holds stale copies of pages
 * the state calls remote, or freed.  It must drop them, and read the
 * servers' copies (or zeros).
 */
START_TEST(test_migrate_drops_stale_copies)
{
	struct fx f;
	struct handoff_result r;
	uint8_t stale[256];
	uint64_t n = 0;
	int state_fd;

	fx_init_filled(&f, &defaults, 7);
	fake_mem_remove(f.m, 200, 4);		/* the guest frees some */
	fx_quiesce(&f);
	memset(stale, 0, sizeof(stale));
	for (uint64_t p = 0; p < f.npages; p++) {
		enum page_state st = pt_state(&f.vm->pt, p);

		stale[p] = st == PS_REMOTE || st == PS_NEVER;
		n += stale[p];
	}
	ck_assert_uint_gt(n, f.npages / 2);
	state_fd = fx_state_fd(&f);
	r = fx_handoff(&f);
	ck_assert_msg(r.err == 0, "handoff: %s", r.why);
	fx_arrive_stale(&f, state_fd, NULL, stale);
	ck_assert_uint_eq(f.vm->adopted.stale_dropped, n);
	ck_assert_int_eq(migrate_settle(f.vm), 0);
	fx_verify(&f, 0, 200, 7);
	for (uint64_t p = 200; p < 204; p++)
		ck_assert_int_eq(fx_read(&f, p), 0);
	fx_verify(&f, 204, f.npages - 204, 7);
	fx_fini(&f);
}
END_TEST

/*
 * The handoff waits for the writes in flight: with evictions' writes held
 * at the servers it does not end; once they are answered, it does, and
 * every page reads back on the destination.
 */
START_TEST(test_handoff_waits_for_writes)
{
	struct handoff_result r = { 0 };
	struct fx f;
	char why[256] = "";
	int state_fd;

	fx_init_filled(&f, &defaults, 1);
	fake_remote_hold(f.fr, RMAP_T_XWRITE, true);
	fake_remote_hold(f.fr, RMAP_T_WRITE, true);
	fake_remote_hold(f.fr, RMAP_T_PXOR, true);
	/* Rewrite pages: evicting them sends writes, which wait. */
	for (uint64_t p = 0; p < 48; p++)
		fx_write(&f, p, (uint8_t)(p * 7 + 2) | 1);
	fx_turn(&f, 5);
	ck_assert_uint_gt(pt_evicting(&f.vm->pt), 0);
	state_fd = fx_state_fd(&f);
	fx_budget = f.vm->budget;
	ck_assert_int_eq(migrate_handoff(f.vm, handoff_cb, &r, why,
					 sizeof(why)), 0);
	/* A second handoff of the same VM is refused, and so is settling. */
	ck_assert_int_eq(migrate_handoff(f.vm, handoff_cb, &r, why,
					 sizeof(why)), -EBUSY);
	ck_assert_int_eq(migrate_settle(f.vm), -EBUSY);
	for (unsigned i = 0; i < 50; i++)
		fx_wait(&f);
	ck_assert(!r.done);
	fake_remote_hold(f.fr, RMAP_T_XWRITE, false);
	fake_remote_hold(f.fr, RMAP_T_WRITE, false);
	fake_remote_hold(f.fr, RMAP_T_PXOR, false);
	for (unsigned i = 0; i < 5000 && !r.done; i++)
		fx_wait(&f);
	ck_assert(r.done);
	ck_assert_msg(r.err == 0, "handoff: %s", r.why);
	ck_assert_uint_gt(r.s.quiesce_us, 0);
	fx_arrive(&f, state_fd, NULL);
	ck_assert_int_eq(migrate_settle(f.vm), 0);
	fx_verify(&f, 0, 48, 2);
	fx_verify(&f, 48, f.npages - 48, 1);
	fx_fini(&f);
}
END_TEST

/*
 * A server refuses to let a session move: the handoff fails, the VM runs
 * on here, and the sessions made movable are settled again.
 */
START_TEST(test_handoff_move_refused)
{
	struct handoff_result r = { 0 };
	struct fake_req *q;
	struct fx f;
	char why[256] = "";
	uint64_t moves;

	fx_init_filled(&f, &defaults, 8);
	fake_remote_hold(f.fr, RMAP_T_MOVE, true);
	moves = fake_remote_sent(f.fr, RMAP_T_MOVE);
	ck_assert_int_eq(migrate_handoff(f.vm, handoff_cb, &r, why,
					 sizeof(why)), 0);
	for (unsigned i = 0; i < 50 && !fake_remote_find(f.fr, RMAP_T_MOVE);
	     i++)
		fx_wait(&f);
	q = fake_remote_find(f.fr, RMAP_T_MOVE);
	ck_assert_ptr_nonnull(q);
	fake_remote_complete(f.fr, q, 0, RMAP_S_BADSESSION);
	fake_remote_hold(f.fr, RMAP_T_MOVE, false);
	for (unsigned i = 0; i < 5000 && !r.done; i++)
		fx_wait(&f);
	ck_assert(r.done);
	ck_assert_int_eq(r.err, -EPERM);
	ck_assert_msg(strstr(r.why, "did not let a session"), "%s", r.why);
	fx_quiesce(&f);
	ck_assert_int_eq(f.vm->mig, VM_MIG_NONE);
	/* Each made movable, then each settled again. */
	ck_assert_uint_eq(fake_remote_sent(f.fr, RMAP_T_MOVE),
			  moves + 2 * defaults.servers);
	fx_fill(&f, 0, f.npages, 9);
	fx_verify(&f, 0, f.npages, 9);
	fx_fini(&f);
}
END_TEST

/* Pages in this host's spill file cannot migrate: refused, it runs on. */
START_TEST(test_handoff_refuses_spilled)
{
	struct fx_opts o = defaults;
	struct fx f;
	char why[256] = "";

	o.servers = 0;
	fx_init_filled(&f, &o, 4);
	ck_assert_int_eq(migrate_handoff(f.vm, handoff_cb, NULL, why,
					 sizeof(why)), -EXDEV);
	ck_assert_msg(strstr(why, "spill file"), "why: %s", why);
	ck_assert_int_eq(f.vm->mig, VM_MIG_NONE);
	fx_verify(&f, 0, f.npages, 4);
	fx_fini(&f);
}
END_TEST

/*
 * The destination's VMM goes away before the VM ran there (the migration
 * failed): its sessions are not closed -- the pages stay for the source,
 * which takes the VM back by registering again with the state it kept.
 */
START_TEST(test_incoming_vmm_gone_keeps_pages)
{
	struct fx f;
	struct handoff_result r;
	uint64_t unregs;
	int state_fd, back_fd;

	fx_init_filled(&f, &defaults, 6);
	state_fd = fx_state_fd(&f);
	back_fd = dup(state_fd);
	r = fx_handoff(&f);
	ck_assert_msg(r.err == 0, "handoff: %s", r.why);
	unregs = fake_remote_sent(f.fr, RMAP_T_UNREG);
	fx_arrive(&f, state_fd, NULL);
	fx_verify(&f, 0, 8, 6);
	pager_unregister(f.pg, f.vm);
	fx_turn(&f, 3);
	ck_assert_uint_eq(fake_remote_sent(f.fr, RMAP_T_UNREG), unregs);
	/* The source takes it back: its state, the same pages. */
	fx_arrive(&f, back_fd, NULL);
	ck_assert_int_eq(migrate_settle(f.vm), 0);
	fx_verify(&f, 0, f.npages, 6);
	fx_fini(&f);
}
END_TEST

/* ---- everything at once ---- */

/* The most pages a mix runs over: adaptive's, the smallest that duels. */
#define MIX_MAX_PAGES	(2 * VICTIM_DUEL_MIN_BUDGET)

/*
 * Random accesses, discards, REMOVE events and server answers in random
 * order (some of them refusals); a model of every page's bytes says what
 * each read must see, and the budget holds throughout.
 */
START_TEST(test_random_mix)
{
	struct fx_opts o = defaults;
	uint64_t rng = 0x9e3779b97f4a7c15ull + (uint64_t)_i;
	uint8_t model[MIX_MAX_PAGES];
	struct fx f;

	o.npages = 512;
	o.budget = 48;
	o.prefetch = 16;
	/* clock, refault, refault-wp, adaptive in turn */
	o.policy = (enum victim_policy)(_i % 4);
	if (o.policy == VICTIM_ADAPTIVE) {
		/* The smallest budget that duels, not clock's fallback. */
		o.npages = MIX_MAX_PAGES;
		o.budget = VICTIM_DUEL_MIN_BUDGET;
	}
	ck_assert_uint_le(o.npages, sizeof(model));
	fx_init(&f, &o);
	ck_assert_int_eq(f.vm->victim.policy, o.policy);
	memset(model, 0, sizeof(model));
	for (unsigned step = 0; step < 6000; step++) {
		uint64_t r = tu_rand(&rng), p = r % o.npages;
		GQueue *pend = fake_remote_pending(f.fr);
		unsigned op = (unsigned)(r >> 32) % 100;
		uint8_t b;
		int ret;

		if (op < 35) {
			uint8_t v = (uint8_t)(r >> 16) | 1;

			ret = fake_vcpu_write(f.m, p, v);
			if (!ret)
				model[p] = v;
		} else if (op < 70) {
			ret = fake_vcpu_read(f.m, p, &b);
			if (!ret)
				ck_assert_msg(b == model[p], "step %u page %lu:"
					      " %u, not %u", step,
					      (unsigned long)p, b, model[p]);
			else
				ck_assert_int_eq(ret, -EAGAIN);
		} else if (op < 72) {
			uint64_t n = 1 + (r >> 20) % 3;

			if (p + n > o.npages)
				n = o.npages - p;
			fake_mem_remove(f.m, p, n);
			memset(model + p, 0, n);
		} else if (op < 95 && !g_queue_is_empty(pend)) {
			/* Answer a random pending request, rarely refused. */
			unsigned i = (unsigned)(r >> 40) %
				     g_queue_get_length(pend);
			struct fake_req *q = g_queue_peek_nth(pend, i);

			fake_remote_complete(f.fr, q,
					     (r >> 8) % 97 == 0 ? -EIO : 0, 0);
		} else {
			fx_turn(&f, 1);
		}
		fx_check_budget(&f);
		ck_assert_uint_eq(f.vm->pt.bugs, 0);
	}
	/* Settle and read everything back. */
	fake_remote_auto(f.fr, f.loop, true);
	fx_quiesce(&f);
	for (uint64_t p = 0; p < o.npages; p++) {
		int v = fx_read(&f, p);

		ck_assert_msg(v == model[p], "page %lu: %d, not %u",
			      (unsigned long)p, v, model[p]);
	}
	fx_fini(&f);
}
END_TEST

/* ---- integrity: a page read back is the page last written ---- */

/* The stored copy of @page's data slot. */
static const uint8_t *fx_stored(struct fx *f, uint64_t page)
{
	unsigned srv;
	uint32_t sid;
	uint64_t key;

	fx_where(f, page, &srv, &sid, &key);
	return fake_remote_page(f->fr, srv, sid, key);
}

/* Its server flips bit @bit of @page's stored copy. */
static void fx_flip(struct fx *f, uint64_t page, unsigned bit)
{
	unsigned srv;
	uint32_t sid;
	uint64_t key;

	fx_where(f, page, &srv, &sid, &key);
	ck_assert(fake_remote_flip(f->fr, srv, sid, key, bit));
}

/*
 * A bit flips in a stored page: its read fails its check, the page is not
 * installed, it is rebuilt from its stripe (and checked), installed, and
 * the good copy is written back over the bad one.
 */
START_TEST(test_integrity_flip_rebuilt)
{
	struct fx f;
	uint64_t p;

	fx_init_filled(&f, &defaults, 0);
	p = fx_remote_page(&f, 10);
	fx_flip(&f, p, 12345);
	ck_assert_int_eq(fx_read(&f, p), (uint8_t)(p * 7) | 1);
	ck_assert_uint_eq(f.vm->st.integrity_failures, 1);
	ck_assert_uint_eq(f.vm->st.integrity_rebuilt, 1);
	ck_assert_uint_ge(f.vm->st.degraded_reads, 1);
	ck_assert_uint_eq(fake_remote_bad(f.fr), 1);
	fx_quiesce(&f);
	ck_assert_uint_eq(f.vm->st.integrity_repaired, 1);
	ck_assert_uint_eq(fx_stored(&f, p)[12345 / 8], (uint8_t)(p * 7) | 1);
	/* Everything else as written; the repaired copy reads back. */
	fx_verify(&f, 0, f.npages, 0);
	fx_fill(&f, 0, f.npages, 0);
	fx_quiesce(&f);
	fx_verify(&f, 0, f.npages, 0);
	ck_assert_uint_eq(f.vm->st.integrity_failures, 1);
	ck_assert_uint_eq(f.vm->st.integrity_lost, 0);
	fx_fini(&f);
}
END_TEST

/*
 * Without parity, a page whose copy stays bad is read again, then given
 * up: LOST, poisoned (never wrong data), reported as a lost range; freed
 * by the guest, it is a page of zeros again.
 */
START_TEST(test_integrity_no_parity_poisons)
{
	struct fx_opts o = defaults;
	GString *dump = g_string_new(NULL);
	char want[64];
	struct fx f;
	uint64_t p;

	o.parity = false;
	fx_init_filled(&f, &o, 0);
	p = fx_remote_page(&f, 20);
	fx_flip(&f, p, 7);
	ck_assert_int_eq(fx_read(&f, p), -EFAULT);
	ck_assert_int_eq(pt_state(&f.vm->pt, p), PS_LOST);
	ck_assert_uint_eq(f.vm->st.integrity_failures, 4);
	ck_assert_uint_eq(f.vm->st.integrity_lost, 1);
	ck_assert_uint_eq(f.vm->st.integrity_rebuilt, 0);
	ck_assert_uint_ge(f.vm->st.lost_faults, 1);
	pager_dump(f.pg, dump);
	snprintf(want, sizeof(want), "lost_range=%lu-%lu\n", (unsigned long)p,
		 (unsigned long)p);
	ck_assert_msg(strstr(dump->str, want), "no %s in the status", want);
	ck_assert(strstr(dump->str, "lost_pages=1\n"));
	g_string_free(dump, true);
	/* The others are unharmed. */
	for (uint64_t q = 0; q < f.npages; q++)
		if (q != p)
			ck_assert_int_eq(fx_read(&f, q), (uint8_t)(q * 7) | 1);
	/* The guest frees it: "never written" again. */
	fake_mem_remove(f.m, p, 1);
	f.m->poisoned[p] = 0;
	fx_turn(&f, 3);
	ck_assert_int_eq(pt_state(&f.vm->pt, p), PS_NEVER);
	ck_assert_int_eq(fx_read(&f, p), 0);
	fx_fini(&f);
}
END_TEST

/*
 * A READ answered with another run (remote_call.c rejects it: -EBADMSG) is a
 * failed read, never installed; its fault is served by a degraded read.
 */
START_TEST(test_integrity_short_reply)
{
	struct fx f;
	struct fake_req *q;
	uint64_t p;
	uint8_t b;

	fx_init_filled(&f, &defaults, 0);
	p = fx_remote_page(&f, 30);
	fake_remote_hold(f.fr, RMAP_T_READ, true);
	ck_assert_int_eq(fake_vcpu_read(f.m, p, &b), -EAGAIN);
	q = fx_wait_req(&f, RMAP_T_READ);
	fake_remote_hold(f.fr, RMAP_T_READ, false);
	fake_remote_complete(f.fr, q, -EBADMSG, 0);
	ck_assert_int_eq(fx_read(&f, p), (uint8_t)(p * 7) | 1);
	ck_assert_uint_ge(f.vm->st.fetch_errors, 1);
	ck_assert_uint_ge(f.vm->st.degraded_reads, 1);
	ck_assert_uint_eq(f.vm->st.integrity_failures, 0);
	ck_assert_uint_eq(f.vm->st.integrity_repaired, 0);
	fx_verify(&f, 0, f.npages, 0);
	fx_fini(&f);
}
END_TEST

/* A server answers with another page of the session, tag and all. */
START_TEST(test_integrity_swapped_page)
{
	struct fx f;
	unsigned srv;
	uint32_t sid;
	uint64_t p, key;

	fx_init_filled(&f, &defaults, 0);
	p = fx_remote_page(&f, 40);
	fx_where(&f, p, &srv, &sid, &key);
	ck_assert(fake_remote_copy(f.fr, srv, sid, key + 1, key) ||
		  fake_remote_copy(f.fr, srv, sid, key - 1, key));
	ck_assert_int_eq(fx_read(&f, p), (uint8_t)(p * 7) | 1);
	ck_assert_uint_eq(f.vm->st.integrity_failures, 1);
	ck_assert_uint_eq(f.vm->st.integrity_rebuilt, 1);
	fx_quiesce(&f);
	ck_assert_uint_eq(f.vm->st.integrity_repaired, 1);
	fx_verify(&f, 0, f.npages, 0);
	fx_fini(&f);
}
END_TEST

/*
 * A server answers with an older copy of the same page, its own true tag
 * with it (a replay): the version in the MAC tells it from the last.
 */
START_TEST(test_integrity_replay)
{
	struct fx f;
	unsigned srv;
	uint32_t sid;
	uint64_t p, key;
	uint8_t *old, v;

	fx_init_filled(&f, &defaults, 0);
	p = fx_remote_page(&f, 50);
	fx_where(&f, p, &srv, &sid, &key);
	old = fake_remote_save(f.fr, srv, sid, key);
	v = pt_version(&f.vm->pt, p);
	/* Written again and pushed out: a new copy, a new version. */
	fx_write(&f, p, 0x42);
	fx_fill(&f, 100, 100, 0);
	fx_quiesce(&f);
	ck_assert_int_eq(pt_state(&f.vm->pt, p), PS_REMOTE);
	ck_assert_uint_eq(pt_version(&f.vm->pt, p), (uint8_t)(v + 1));
	fake_remote_restore(f.fr, srv, sid, key, old);
	g_free(old);
	ck_assert_int_eq(fx_read(&f, p), 0x42);
	ck_assert_uint_eq(f.vm->st.integrity_failures, 1);
	ck_assert_uint_eq(f.vm->st.integrity_rebuilt, 1);
	fx_quiesce(&f);
	ck_assert_uint_eq(f.vm->st.integrity_repaired, 1);
	fx_fill(&f, 200, 56, 0);
	fx_quiesce(&f);
	ck_assert_int_eq(fx_read(&f, p), 0x42);
	fx_fini(&f);
}
END_TEST

/*
 * A server dies, and a page its slot is rebuilt from is bad: the rebuild
 * is checked, read again, and what still fails is not passed off as good:
 * both pages of that row are LOST (poisoned), the rest rebuilt right.
 */
START_TEST(test_integrity_recovery)
{
	const struct pg_geometry *geo;
	struct fx_opts o = defaults;
	struct pg_group *grp;
	uint64_t g, x = UINT64_MAX, y = 0;
	unsigned dead = 0;
	struct fx f;

	o.servers = 5;		/* a spare to rebuild on */
	fx_init_filled(&f, &o, 0);
	geo = vm_geo(f.vm);
	/* A row of a group whose two data pages are REMOTE. */
	for (g = 0; g < pg_ngroups(f.vm->groups) && x == UINT64_MAX; g++)
		for (unsigned r = 0; r < geo->rows; r++) {
			uint64_t a = pg_page(geo, g, 0, r);
			uint64_t b = pg_page(geo, g, 1, r);

			if (b < f.npages &&
			    pt_state(&f.vm->pt, a) == PS_REMOTE &&
			    pt_state(&f.vm->pt, b) == PS_REMOTE) {
				x = a;
				y = b;
				grp = pg_group(f.vm->groups, g);
				dead = grp->srv[0];
				break;
			}
		}
	ck_assert_uint_ne(x, UINT64_MAX);
	fx_flip(&f, y, 99);
	fake_remote_kill(f.fr, dead);
	for (unsigned i = 0; i < 5000 && recovery_pending(f.pg); i++)
		fx_wait(&f);
	fx_quiesce(&f);
	ck_assert_uint_eq(recovery_pending(f.pg), 0);
	ck_assert_int_eq(pt_state(&f.vm->pt, x), PS_LOST);
	ck_assert_int_eq(pt_state(&f.vm->pt, y), PS_LOST);
	ck_assert_uint_eq(f.vm->st.integrity_lost, 2);
	/* First try, and two reads again: 2 pages each time. */
	ck_assert_uint_eq(f.vm->st.integrity_failures, 6);
	ck_assert_uint_ge(f.vm->st.rebuilt_groups, 1);
	ck_assert_int_eq(fx_read(&f, x), -EFAULT);
	ck_assert_int_eq(fx_read(&f, y), -EFAULT);
	for (uint64_t q = 0; q < f.npages; q++)
		if (q != x && q != y)
			ck_assert_int_eq(fx_read(&f, q), (uint8_t)(q * 7) | 1);
	fx_fini(&f);
}
END_TEST

/*
 * The state as an older memxd wrote it: version 1 (before page integrity)
 * without the keys and versions after the page table, version 2 (before
 * the REMOVEs were kept) without the REMOVEs after those.  The header's
 * fields at their offsets in vmstate.c.
 */
static int state_older(int fd, uint32_t version)
{
	uint32_t hdr = version == 1 ? 160 : 184;	/* keys_off, removes_off */
	struct stat sb;
	uint8_t *buf;
	uint64_t size;
	int out;

	ck_assert_int_eq(fstat(fd, &sb), 0);
	buf = malloc((size_t)sb.st_size);
	ck_assert_int_eq(pread(fd, buf, (size_t)sb.st_size, 0), sb.st_size);
	memcpy(&size, buf + hdr, 8);		/* the older state's end */
	ck_assert_uint_lt(size, (uint64_t)sb.st_size);
	memcpy(buf + 8, &version, 4);		/* version */
	memcpy(buf + 12, &hdr, 4);		/* hdr_size */
	memcpy(buf + 88, &size, 8);		/* size */
	memset(buf + hdr, 0, 200 - hdr);
	out = memfd_create("older-state", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ck_assert_int_ge(out, 0);
	ck_assert_int_eq(write(out, buf, size), (ssize_t)size);
	/* Sealed as every memxd seals what it hands over (vmstate.c). */
	ck_assert_int_eq(fcntl(out, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
			       F_SEAL_WRITE | F_SEAL_SEAL), 0);
	free(buf);
	return out;
}

static int state_v1(int fd)
{
	return state_older(fd, 1);
}

static int state_v2(int fd)
{
	return state_older(fd, 2);
}

/*
 * A VM an older memxd served (a version 1 state: no keys, no versions) is
 * taken over all the same, and runs without integrity: its pages on the
 * servers carry no MACs.
 */
START_TEST(test_adopt_older_state)
{
	struct fx_opts o = defaults;
	struct fx f;

	o.no_integrity = true;
	fx_init_filled(&f, &o, 0);
	fx_state_filter = state_v1;
	fx_restart(&f, 32);
	fx_state_filter = NULL;
	fake_remote_auto(f.fr, f.loop, true);
	ck_assert(!f.vm->integ.on);
	fx_verify(&f, 0, f.npages, 0);
	fx_fill(&f, 0, f.npages, 5);
	fx_quiesce(&f);
	fx_verify(&f, 0, f.npages, 5);
	fx_fini(&f);
}
END_TEST

/*
 * A VM a memxd before the REMOVEs were kept served (a version 2 state) is
 * taken over with its integrity, and keeps REMOVEs from then on.
 */
START_TEST(test_adopt_v2_state)
{
	struct fx f;

	fx_init_filled(&f, &defaults, 0);
	fx_state_filter = state_v2;
	fx_restart(&f, 32);
	fx_state_filter = NULL;
	fake_remote_auto(f.fr, f.loop, true);
	ck_assert(f.vm->integ.on);
	ck_assert_ptr_nonnull(f.vm->state.removes);
	fx_verify(&f, 0, f.npages, 0);
	fx_fill(&f, 0, f.npages, 5);
	fx_quiesce(&f);
	fx_verify(&f, 0, f.npages, 5);
	ck_assert_uint_eq(f.vm->st.integrity_failures, 0);
	fx_fini(&f);
}
END_TEST

/*
 * The state's REMOVE records are checked like the rest of it: one that
 * names pages outside the VM, or lists a page outside its own range, is
 * refused, and says which.
 */
START_TEST(test_state_remove_records_checked)
{
	const struct pg_geometry geo = { 3, 16, true };
	struct vmstate st, got;
	struct vmstate_remove *r;
	char why[160];

	ck_assert_int_eq(vmstate_create(&st, "vm0", 1024, &geo, 4), 0);
	ck_assert_ptr_nonnull(st.removes);
	r = &st.removes->r[5];
	*r = (struct vmstate_remove){ .first = 1000, .n = 100, .live = 1 };
	ck_assert_int_eq(vmstate_open(&got, dup(st.fd), 1024, why,
				      sizeof(why)), -EINVAL);
	ck_assert_msg(strstr(why, "REMOVE record 5"), "%s", why);
	*r = (struct vmstate_remove){ .first = 10, .n = 4, .kept = { 20 },
				      .nkept = 1, .live = 1 };
	ck_assert_int_eq(vmstate_open(&got, dup(st.fd), 1024, why,
				      sizeof(why)), -EINVAL);
	r->kept[0] = 12;
	r->nkept = VMSTATE_REMOVE_KEPT + 2;
	ck_assert_int_eq(vmstate_open(&got, dup(st.fd), 1024, why,
				      sizeof(why)), -EINVAL);
	r->nkept = 1;
	r->live = 2;
	ck_assert_int_eq(vmstate_open(&got, dup(st.fd), 1024, why,
				      sizeof(why)), -EINVAL);
	r->live = 1;
	ck_assert_msg(!vmstate_open(&got, dup(st.fd), 1024, why, sizeof(why)),
		      "%s", why);
	ck_assert_uint_eq(got.removes->r[5].kept[0], 12);
	vmstate_close(&got);
	vmstate_close(&st);
}
END_TEST

/*
 * A VM's tags are AES-128(k2, Poly1305(k1, "MXPG" | version | 0 0 0 |
 * page le64 | page)), k1 and k2 derived from its master key, as
 * integrity.h says: checked against libsodium's Poly1305, not the
 * OpenSSL one integrity.c calls.  An older memxd's VMs keep SipHash.
 */
START_TEST(test_mac_construction)
{
	static uint8_t m[16 + PAGE];
	uint8_t key[INTEGRITY_KEY_LEN], poly_key[32], aes_key[16], sip_key[16];
	uint8_t h[16], want[TAG_LEN], got[TAG_LEN];
	const uint64_t page = 0x0102030405060708ull;
	struct integrity in;
	EVP_CIPHER_CTX *c;
	int n;

	ck_assert_int_eq(integrity_global_init(), 0);
	for (unsigned i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 3 + 1);
	memcpy(m, "MXPG\xa5\0\0\0\x08\x07\x06\x05\x04\x03\x02\x01", 16);
	for (unsigned i = 0; i < PAGE; i++)
		m[16 + i] = (uint8_t)(i * 131 >> 3);
	crypto_kdf_derive_from_key(poly_key, sizeof(poly_key), 3,
				   "memxmac\0", key);
	crypto_kdf_derive_from_key(aes_key, sizeof(aes_key), 4, "memxmac\0",
				   key);
	crypto_onetimeauth_poly1305(h, m, sizeof(m), poly_key);
	c = EVP_CIPHER_CTX_new();
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(EVP_EncryptInit_ex(c, EVP_aes_128_ecb(), NULL,
					    aes_key, NULL), 1);
	ck_assert_int_eq(EVP_EncryptUpdate(c, want, &n, h, 16), 1);
	ck_assert_int_eq(n, TAG_LEN);
	EVP_CIPHER_CTX_free(c);

	ck_assert_int_eq(integrity_init(&in, key, true, false,
					INTEGRITY_POLY_AES), 0);
	integrity_tag(&in, page, 0xa5, m + 16, got);
	ck_assert_mem_eq(got, want, TAG_LEN);
	ck_assert(integrity_check(&in, page, 0xa5, m + 16, want));
	ck_assert(!integrity_check(&in, page + 1, 0xa5, m + 16, want));
	ck_assert(!integrity_check(&in, page, 0xa6, m + 16, want));
	m[16 + 4000] ^= 0x80;
	ck_assert(!integrity_check(&in, page, 0xa5, m + 16, want));
	m[16 + 4000] ^= 0x80;
	integrity_fini(&in);

	/* SipHash-2-4-128 of the same message, under subkey 1. */
	crypto_kdf_derive_from_key(sip_key, sizeof(sip_key), 1, "memxmac\0",
				   key);
	crypto_shorthash_siphashx24(want, m, sizeof(m), sip_key);
	ck_assert_int_eq(integrity_init(&in, key, true, false,
					INTEGRITY_SIPHASH), 0);
	integrity_tag(&in, page, 0xa5, m + 16, got);
	ck_assert_mem_eq(got, want, TAG_LEN);
	ck_assert(!integrity_check(&in, page, 0xa4, m + 16, want));
	integrity_fini(&in);
}
END_TEST

/*
 * A VM whose tags are SipHash (an older memxd registered it) keeps
 * SipHash across a restart: every page it wrote checks, a bad one is
 * still caught; a VM registered afresh gets Poly1305-AES.
 */
START_TEST(test_adopt_keeps_mac)
{
	struct fx_opts o = defaults;
	uint8_t key[INTEGRITY_KEY_LEN];
	struct fx f;
	uint64_t p;

	fx_init(&f, &o);
	ck_assert_int_eq(f.vm->integ.mac, INTEGRITY_POLY_AES);
	ck_assert_uint_ne(f.vm->state.keys->flags & VMSTATE_POLY_AES, 0);
	/* As an older memxd set it up, before the first page went out. */
	f.vm->state.keys->flags &= ~VMSTATE_POLY_AES;
	memcpy(key, f.vm->state.keys->key, sizeof(key));
	integrity_fini(&f.vm->integ);
	ck_assert_int_eq(integrity_init(&f.vm->integ, key, true, false,
					INTEGRITY_SIPHASH), 0);
	fake_remote_auto(f.fr, f.loop, true);
	fx_fill(&f, 0, f.npages, 3);
	fx_quiesce(&f);

	fx_restart(&f, 32);
	fake_remote_auto(f.fr, f.loop, true);
	ck_assert_int_eq(f.vm->integ.mac, INTEGRITY_SIPHASH);
	fx_verify(&f, 0, f.npages, 3);
	ck_assert_uint_eq(f.vm->st.integrity_failures, 0);
	p = fx_remote_page(&f, 10);
	fx_flip(&f, p, 777);
	ck_assert_int_eq(fx_read(&f, p), (uint8_t)(p * 7 + 3) | 1);
	ck_assert_uint_eq(f.vm->st.integrity_failures, 1);
	ck_assert_uint_eq(f.vm->st.integrity_rebuilt, 1);
	fx_fini(&f);
}
END_TEST

/*
 * --page-encryption: the servers hold ciphertext, parity over it; a bad
 * page is still caught and rebuilt, a lost server rebuilt, every byte
 * right.
 */
START_TEST(test_encrypted)
{
	struct fx_opts o = defaults;
	const uint8_t *stored;
	unsigned same = 0;
	struct fx f;
	uint64_t p;

	o.servers = 5;
	o.encrypt = true;
	fx_init_filled(&f, &o, 0);
	ck_assert(f.vm->integ.encrypt);
	p = fx_remote_page(&f, 10);
	stored = fx_stored(&f, p);
	for (unsigned i = 0; i < PAGE; i++)
		same += stored[i] == ((uint8_t)(p * 7) | 1);
	ck_assert_uint_lt(same, 64);	/* not the plaintext */
	fx_flip(&f, p, 4321);
	ck_assert_int_eq(fx_read(&f, p), (uint8_t)(p * 7) | 1);
	ck_assert_uint_eq(f.vm->st.integrity_failures, 1);
	ck_assert_uint_eq(f.vm->st.integrity_rebuilt, 1);
	fx_quiesce(&f);
	ck_assert_uint_eq(f.vm->st.integrity_repaired, 1);
	fx_verify(&f, 0, f.npages, 0);
	fx_fill(&f, 0, f.npages, 9);
	fx_quiesce(&f);
	/* A server lost: rebuilt from ciphertext, checked as plaintext. */
	fake_remote_kill(f.fr, 0);
	for (unsigned i = 0; i < 5000 && recovery_pending(f.pg); i++)
		fx_wait(&f);
	fx_quiesce(&f);
	ck_assert_uint_ge(f.vm->st.rebuilt_groups, 1);
	fx_verify(&f, 0, f.npages, 9);
	ck_assert_uint_eq(f.vm->st.integrity_failures, 1);
	ck_assert_uint_eq(f.vm->st.integrity_lost, 0);
	fx_fini(&f);
}
END_TEST

/* --integrity=off: no tags on the wire, nothing checked (benchmarks). */
START_TEST(test_integrity_off)
{
	struct fx_opts o = defaults;
	struct fx f;

	o.no_integrity = true;
	fx_init_filled(&f, &o, 0);
	fx_verify(&f, 0, f.npages, 0);
	ck_assert(!f.vm->integ.on);
	ck_assert_uint_eq(f.vm->st.integrity_failures, 0);
	fx_fini(&f);
}
END_TEST

static Suite *pager_suite(void)
{
	Suite *s = suite_create("pager");
	TCase *tc = tcase_create("basics");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_zero_pages_not_stored);
	tcase_add_test(tc, test_spill_only);
	tcase_add_test(tc, test_local_total);
	tcase_add_test(tc, test_discard_drops_clean_present);
	tcase_add_test(tc, test_discard_drops_unseen_present);
	tcase_add_test(tc, test_unwritten_leave_clean);
	tcase_add_test(tc, test_late_discard_keeps_newer_copy);
	tcase_add_test(tc, test_many_vcpus_spill_only);
	tcase_add_test(tc, test_prefetch_sequential);
	tcase_add_test(tc, test_prefetch_gathered);
	tcase_add_test(tc, test_prefetch_waits_for_room);
	tcase_add_test(tc, test_prefetch_drain_keeps_rows);
	tcase_add_test(tc, test_sweep_refault_vs_clock);
	tcase_add_test(tc, test_sampled_dirty_kept);
	tcase_add_test(tc, test_zero_ahead);
	tcase_add_test(tc, test_write_trend_installs_writable);
	suite_add_tcase(s, tc);
	tc = tcase_create("races");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_write_during_eviction);
	tcase_add_test(tc, test_discard_during_fetch);
	tcase_add_test(tc, test_parity_server_dies_mid_update);
	tcase_add_test(tc, test_data_server_dies_after_answer);
	tcase_add_test(tc, test_whole_stripe_waits_for_delta);
	tcase_add_test(tc, test_whole_stripes_used);
	tcase_add_test(tc, test_install_eagain);
	tcase_add_test(tc, test_clean_victims_leave_unread);
	tcase_add_test(tc, test_install_finds_page_there);
	tcase_add_test(tc, test_read_leaves_before_batch);
	tcase_add_test(tc, test_fault_read_after_writes);
	tcase_add_test(tc, test_protect_eagain_keeps_pages);
	tcase_add_test(tc, test_unprotect_eagain);
	tcase_add_test(tc, test_discard_keeps_write_in_flight);
	suite_add_tcase(s, tc);
	tc = tcase_create("failures");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_double_failure_poisons);
	tcase_add_test(tc, test_degraded_read_waits_for_writers);
	tcase_add_test(tc, test_ended_sessions_pages_are_room);
	tcase_add_test(tc, test_silent_server_read_degraded);
	tcase_add_test(tc, test_cut_off_freezes);
	tcase_add_test(tc, test_memxd_restart);
	tcase_add_test(tc, test_restart_mid_install);
	tcase_add_test(tc, test_restart_keeps_protection);
	tcase_add_test(tc, test_local_total_takeover);
	tcase_add_test(tc, test_takeover_reads_unread_remove);
	tcase_add_test(tc, test_late_discard_across_restart);
	tcase_add_test(tc, test_restart_delta_in_flight);
	tcase_add_test(tc, test_restart_forgets_policy);
	suite_add_tcase(s, tc);
	tc = tcase_create("migration");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_migrate_leaves_remote_pages);
	tcase_add_test(tc, test_migrate_report_keys);
	tcase_add_test(tc, test_migrate_clean_pages_not_sent);
	tcase_add_test(tc, test_migrate_drops_stale_copies);
	tcase_add_test(tc, test_handoff_waits_for_writes);
	tcase_add_test(tc, test_handoff_refuses_spilled);
	tcase_add_test(tc, test_handoff_move_refused);
	tcase_add_test(tc, test_incoming_vmm_gone_keeps_pages);
	suite_add_tcase(s, tc);
	tc = tcase_create("integrity");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_integrity_flip_rebuilt);
	tcase_add_test(tc, test_integrity_no_parity_poisons);
	tcase_add_test(tc, test_integrity_short_reply);
	tcase_add_test(tc, test_integrity_swapped_page);
	tcase_add_test(tc, test_integrity_replay);
	tcase_add_test(tc, test_integrity_recovery);
	tcase_add_test(tc, test_integrity_off);
	tcase_add_test(tc, test_adopt_older_state);
	tcase_add_test(tc, test_adopt_v2_state);
	tcase_add_test(tc, test_state_remove_records_checked);
	tcase_add_test(tc, test_mac_construction);
	tcase_add_test(tc, test_adopt_keeps_mac);
	tcase_add_test(tc, test_encrypted);
	suite_add_tcase(s, tc);
	tc = tcase_create("random");
	tcase_set_timeout(tc, 600);
	/* MEMX_RANDOM_SEEDS=N tries N seeds (8 by default). */
	tcase_add_loop_test(tc, test_random_mix, 0,
			    getenv("MEMX_RANDOM_SEEDS") ?
			    atoi(getenv("MEMX_RANDOM_SEEDS")) : 8);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(pager_suite());
}
