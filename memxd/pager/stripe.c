// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * stripe.c - page-group I/O (stripe.h): reads and writes that keep data
 * and parity in step.
 */
#include "stripe.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "recovery.h"
#include "vm.h"

static struct pg_server *placement(struct vm *vm)
{
	return vm->pg->placement;
}

/* Is slot @slot of @grp missing (to be rebuilt, not merely moved)? */
static bool slot_missing(const struct pg_group *grp, unsigned slot)
{
	return (grp->state == PG_DEGRADED || grp->state == PG_REBUILDING) &&
	       !(grp->flags & PG_F_MOVE) && grp->bad == slot;
}

/* ---- writes in flight, per group and slot ---- */

static gpointer slot_key(uint64_t g, unsigned slot)
{
	return GSIZE_TO_POINTER(g * PG_MAX_SLOTS + slot + 1);
}

static bool slot_busy(struct vm *vm, uint64_t g, unsigned slot)
{
	return g_hash_table_contains(vm->slot_writes, slot_key(g, slot));
}

/* A write to slot @slot of group @g starts. */
static void writer_begin(struct vm *vm, struct pg_group *grp, uint64_t g,
			 unsigned slot)
{
	gpointer k = slot_key(g, slot);
	unsigned n = GPOINTER_TO_UINT(g_hash_table_lookup(vm->slot_writes, k));

	g_hash_table_insert(vm->slot_writes, k, GUINT_TO_POINTER(n + 1));
	grp->writers++;
}

/* It ended: if the slot (or the group) is idle now, say so. */
static void writer_done(struct vm *vm, struct pg_group *grp, uint64_t g,
			unsigned slot)
{
	gpointer k = slot_key(g, slot);
	unsigned n = GPOINTER_TO_UINT(g_hash_table_lookup(vm->slot_writes, k));

	if (n > 1)
		g_hash_table_insert(vm->slot_writes, k, GUINT_TO_POINTER(n - 1));
	else
		g_hash_table_remove(vm->slot_writes, k);
	grp->writers--;
	if (n <= 1 && !vm->dead)
		vm->up->changed(vm);
}

int stripe_vm_init(struct vm *vm)
{
	vm->slot_writes = g_hash_table_new(g_direct_hash, g_direct_equal);
	return vm->slot_writes ? 0 : -ENOMEM;
}

void stripe_vm_fini(struct vm *vm)
{
	struct stripe_run *run;

	while ((run = vm->spare_runs)) {
		vm->spare_runs = run->next_spare;
		free(run->buf);
		free(run->tags);
		free(run->delta);
		free(run);
	}
	vm->nspare_runs = 0;
	if (vm->slot_writes)
		g_hash_table_destroy(vm->slot_writes);
	vm->slot_writes = NULL;
}

/* ---- reads ---- */

/* Can server @srv take requests now: a session open, and it answers? */
static bool answering(struct vm *vm, unsigned srv)
{
	return vm_session_ready(vm, srv) && placement(vm)[srv].usable;
}

/* Could @page's stripe be rebuilt now from its other slots? */
static bool rebuildable(struct vm *vm, const struct pg_group *grp,
			unsigned slot)
{
	const struct pg_geometry *geo = vm_geo(vm);

	if (!geo->parity)
		return false;
	for (unsigned j = 0; j < pg_slots(geo); j++)
		if (j != slot && !answering(vm, grp->srv[j]))
			return false;
	return true;
}

enum read_source stripe_read_source(struct vm *vm, uint64_t page,
				    unsigned *server)
{
	unsigned slot, row;
	uint64_t g;
	struct pg_group *grp = vm_group_of(vm, page, &g, &slot, &row);

	if (grp->state == PG_EMPTY)
		return RS_LOST;		/* cannot happen: REMOTE implies placed */
	if (grp->state == PG_LOST && grp->lost & (1u << slot))
		return RS_LOST;
	if (slot_missing(grp, slot))
		return rebuildable(vm, grp, slot) ? RS_DEGRADED
						  : RS_UNAVAILABLE;
	*server = grp->srv[slot];
	if (answering(vm, *server))
		return RS_SERVER;
	/*
	 * Its server is silent.  Cut off from most servers, memxd declares
	 * nothing and the fault waits; while the others answer, the page
	 * is rebuilt from them, and the vCPU does not wait for the server.
	 */
	if (!vm->pg->frozen && vm_session_ready(vm, *server) &&
	    rebuildable(vm, grp, slot))
		return RS_DEGRADED;
	return RS_UNAVAILABLE;
}

/* A reconstruction: the other S pages of one stripe, XORed. */
struct recon {
	struct vm *vm;
	struct pg_group *grp;
	uint8_t *out;
	stripe_read_fn fn;
	void *arg;
	unsigned pending;
	int err;
	uint8_t *bufs;		/* one page and its tag per other slot */
	unsigned nbufs;
};

static void recon_done(void *arg, int err, uint8_t status)
{
	struct recon *rc = arg;
	size_t pb = vm_page_bytes(rc->vm);

	if (err || status)
		rc->err = err ? err : -EIO;
	if (--rc->pending)
		return;
	rc->grp->readers--;
	if (!rc->err) {
		/* The page is the XOR of the others, and so is its tag. */
		memcpy(rc->out, rc->bufs, pb);
		for (unsigned i = 1; i < rc->nbufs; i++) {
			pg_xor(rc->out, rc->bufs + i * pb, PAGE);
			tag_xor(rc->out + PAGE, rc->bufs + i * pb + PAGE,
				pb - PAGE);
		}
	}
	rc->fn(rc->arg, rc->err);
	free(rc->bufs);
	free(rc);
}

int stripe_read_degraded(struct vm *vm, uint64_t page, uint8_t *buf,
			 stripe_read_fn fn, void *arg)
{
	const struct pg_geometry *geo = vm_geo(vm);
	unsigned slot, row, n = 0;
	uint64_t g;
	struct pg_group *grp = vm_group_of(vm, page, &g, &slot, &row);
	struct recon *rc;

	if (!rebuildable(vm, grp, slot))
		return -ENOTCONN;
	/* A write to a slot it reads is in flight: right after it. */
	for (unsigned j = 0; j < pg_slots(geo); j++)
		if (j != slot && slot_busy(vm, g, j))
			return -EBUSY;
	rc = calloc(1, sizeof(*rc));
	if (!rc || posix_memalign((void **)&rc->bufs, PAGE,
				  pg_slots(geo) * vm_page_bytes(vm))) {
		free(rc);
		return -ENOMEM;
	}
	*rc = (struct recon){ vm, grp, buf, fn, arg, 1, 0, rc->bufs,
			      pg_slots(geo) - 1 };
	grp->readers++;
	for (unsigned j = 0; j < pg_slots(geo); j++) {
		if (j == slot)
			continue;
		rc->pending++;
		if (remote_call(vm->pg->remote, &vm->sess[grp->srv[j]],
				RMAP_T_READZ, vm_tag_flags(vm),
				pg_key(geo, g, row), 1, NULL, 0,
				rc->bufs + n * vm_page_bytes(vm),
				(uint32_t)vm_page_bytes(vm), recon_done, rc))
			recon_done(rc, -ENOTCONN, 0);
		n++;
	}
	recon_done(rc, 0, 0);	/* the one pending while sending */
	return 0;
}

bool stripe_can_rebuild(struct vm *vm, uint64_t page)
{
	unsigned slot, row;
	uint64_t g;
	struct pg_group *grp = vm_group_of(vm, page, &g, &slot, &row);

	/* Every other slot must hold what the parity says it holds. */
	if (vm->pg->frozen || grp->state != PG_OK)
		return false;
	return rebuildable(vm, grp, slot);
}

/* ---- repairs: a good copy over a bad one ---- */

struct repair {
	struct vm *vm;
	uint64_t page;
	uint8_t *buf;		/* the page and its tag */
};

static void repair_done(void *arg, int err, uint8_t status)
{
	struct repair *x = arg;
	struct vm *vm = x->vm;
	unsigned slot, row;
	uint64_t g;
	struct pg_group *grp = vm_group_of(vm, x->page, &g, &slot, &row);

	if (!vm->dead) {
		pt_repair_end(&vm->pt, x->page);
		if (!err && !status)
			vm->st.integrity_repaired++;
		else
			log_ratelimited(5000, LOG_LEVEL_WARN, "vm %s: "
					"rewriting the good copy of page %lu "
					"failed (%s); the bad one is found "
					"again when it is read", vm->name,
					(unsigned long)x->page,
					err ? strerror(-err)
					    : rmap_status_name(status));
		/* Freed by the guest meanwhile: the copy may go now. */
		if (pt_state(&vm->pt, x->page) == PS_NEVER &&
		    pt_remote_droppable(&vm->pt, x->page))
			stripe_drop_copy(vm, x->page);
		vm->up->changed(vm);
	}
	writer_done(vm, grp, g, slot);
	free(x->buf);
	free(x);
	vm_put(vm);
}

bool stripe_repair(struct vm *vm, uint64_t page, const uint8_t *data,
		   const uint8_t *tag)
{
	const struct pg_geometry *geo = vm_geo(vm);
	unsigned slot, row, srv;
	uint64_t g;
	struct pg_group *grp = vm_group_of(vm, page, &g, &slot, &row);
	struct repair *x;
	struct iovec iov;

	if (vm->pg->frozen || !pg_can_write(grp) || slot_missing(grp, slot))
		return false;
	srv = grp->srv[slot];
	if (!answering(vm, srv) || pt_has(&vm->pt, page, PT_WRITING) ||
	    !pt_has(&vm->pt, page, PT_HAS_REMOTE))
		return false;
	x = calloc(1, sizeof(*x));
	if (!x || posix_memalign((void **)&x->buf, PAGE, vm_page_bytes(vm))) {
		free(x);
		return false;
	}
	x->vm = vm;
	x->page = page;
	memcpy(x->buf, data, PAGE);
	if (vm->integ.on) {
		memcpy(x->buf + PAGE, tag, TAG_LEN);
		integrity_crypt(&vm->integ, page, tag, x->buf);
	}
	/* No other write of it, nor a rebuild of its row, meanwhile. */
	pt_repair_begin(&vm->pt, page);
	writer_begin(vm, grp, g, slot);
	vm_get(vm);
	iov = (struct iovec){ x->buf, vm_page_bytes(vm) };
	if (remote_call(vm->pg->remote, &vm->sess[srv], RMAP_T_WRITE,
			vm_tag_flags(vm), pg_key(geo, g, row), 1, &iov, 1,
			NULL, 0, repair_done, x))
		repair_done(x, -ENOTCONN, 0);
	return true;
}

/* ---- write modes ---- */

enum write_mode stripe_write_mode(struct vm *vm, uint64_t page,
				  unsigned *data_srv, unsigned *parity_srv)
{
	const struct pg_geometry *geo = vm_geo(vm);
	unsigned slot, row;
	uint64_t g;
	struct pg_group *grp = vm_group_of(vm, page, &g, &slot, &row);

	if (!vm->pg->nservers)
		return W_SPILL;
	/* Cut off: nothing leaves, nothing is declared; evictions wait. */
	if (vm->pg->frozen)
		return W_WAIT;
	if (grp->state == PG_EMPTY &&
	    pg_place(vm->groups, g, placement(vm), vm->pg->nservers))
		return W_SPILL;		/* no room anywhere */
	if (grp->state == PG_LOST)
		return W_SPILL;
	/*
	 * The page's own server is gone and its rebuild has not started
	 * (recovery is paused, or waits for a spare): rather than pin the
	 * page in memory, spill it; its old remote copy stays as it is, still
	 * matching the parity.  While the rebuild runs, it waits.
	 */
	if (grp->state == PG_DEGRADED && slot_missing(grp, slot))
		return W_SPILL;
	if (!pg_can_write(grp) || slot_missing(grp, slot))
		return W_WAIT;
	*data_srv = grp->srv[slot];
	/*
	 * Its server, or its parity's, is down (silent while others
	 * answer): the page goes to the spill file rather than wait for the
	 * grace period; its old copy still matches the parity.
	 */
	if (!placement(vm)[*data_srv].usable)
		return W_SPILL;
	if (!vm_session_ready(vm, *data_srv))
		return W_WAIT;
	if (!geo->parity || slot_missing(grp, pg_parity_slot(geo)))
		return W_PLAIN;		/* parity is recomputed later */
	*parity_srv = grp->srv[pg_parity_slot(geo)];
	if (!placement(vm)[*parity_srv].usable)
		return W_SPILL;
	return vm_session_ready(vm, *parity_srv) ? W_XOR : W_WAIT;
}

/* ---- parity ---- */

/* A parity WRITE of whole rows, or a PXOR of deltas, in flight. */
struct parity_io {
	struct vm *vm;
	uint64_t g;
	unsigned rows;
	bool whole;
	uint8_t *buf;
	uint64_t t0;		/* sent (evl_now_ns) */
};

static void parity_io_done(void *arg, int err, uint8_t status)
{
	struct parity_io *x = arg;
	struct vm *vm = x->vm;
	struct pg_group *grp = pg_group(vm->groups, x->g);

	if (!x->whole)
		grp->deltas--;
	if (err == -ECANCELED && vm->dead) {
		/* memxd is going away, or the VM is: nothing to repair. */
	} else if (err || status) {
		vm->st.parity_errors++;
		log_ratelimited(5000, LOG_LEVEL_WARN, "vm %s: parity %s of "
				"group %lu failed (%s); its parity is "
				"recomputed from the data", vm->name,
				x->whole ? "write" : "update",
				(unsigned long)x->g,
				err ? strerror(-err) : rmap_status_name(status));
		if (!vm->dead)
			recovery_parity_bad(vm, x->g);
	} else if (x->whole) {
		vm->st.parity_stripes += x->rows;
		stage_add(&vm->st, ES_parity_rtt, evl_now_ns() - x->t0);
	} else {
		vm->st.parity_updates++;
		stage_add(&vm->st, ES_pxor_rtt, evl_now_ns() - x->t0);
	}
	writer_done(vm, grp, x->g, pg_parity_slot(vm_geo(vm)));
	free(x->buf);
	free(x);
	vm_put(vm);
}

/*
 * Send @n pages of @data for rows [row, row + n) of group @g to its
 * parity server, with @n tags from @tags if the VM's pages carry tags:
 * whole parity pages (WRITE), or deltas to XOR in (PXOR).  A parity
 * page's tag is the XOR of its row's tags, kept as the page is.
 */
static void parity_write(struct vm *vm, uint64_t g, unsigned row, unsigned n,
			 const uint8_t *data, const uint8_t *tags,
			 unsigned parity_srv, bool whole)
{
	struct parity_io *x = calloc(1, sizeof(*x));
	struct pg_group *grp = pg_group(vm->groups, g);
	size_t tlen = (vm_page_bytes(vm) - PAGE) * n;
	struct iovec iov;

	if (!x || !(x->buf = malloc(n * vm_page_bytes(vm)))) {
		free(x);
		vm->st.parity_errors++;
		recovery_parity_bad(vm, g);
		return;
	}
	*x = (struct parity_io){ vm, g, n, whole, x->buf, evl_now_ns() };
	memcpy(x->buf, data, (size_t)n * PAGE);
	if (tlen)
		memcpy(x->buf + (size_t)n * PAGE, tags, tlen);
	iov = (struct iovec){ x->buf, n * vm_page_bytes(vm) };
	writer_begin(vm, grp, g, pg_parity_slot(vm_geo(vm)));
	if (!whole)
		grp->deltas++;
	vm_get(vm);
	if (remote_call(vm->pg->remote, &vm->sess[parity_srv],
			whole ? RMAP_T_WRITE : RMAP_T_PXOR, vm_tag_flags(vm),
			pg_key(vm_geo(vm), g, row), n, &iov, 1, NULL, 0,
			parity_io_done, x))
		parity_io_done(x, -ENOTCONN, 0);
}

/*
 * Whole-stripe writes.  When all S data pages of a row leave in one
 * batch and no parity delta of the group is in flight, the data go as
 * plain WRITEs and the parity, their XOR, as a WRITE too: S + 1 pages on
 * the wire instead of 3 S.  No parity delta of those rows can start
 * meanwhile (their pages are being written), so the whole-row WRITE and a
 * PXOR never race on one parity page.  Nor does a parity WRITE of an
 * earlier batch: the rows' pages may have been stored, punched, fetched
 * and written again since, and two parity WRITEs of one row in flight
 * could land in either order, so a group whose parity slot has a write
 * in flight (not one this call sent) keeps its deltas.  Writes to other
 * slots of the group may be in flight, and a degraded read waits for the
 * group's writers as always.  If any of the S + 1 WRITEs fails for a reason other than its
 * server dying, data and parity may disagree: the parity is recomputed.
 * If a data server died, the parity that did land matches the new data,
 * so a rebuild yields the new page.
 */
void stripe_find_whole(struct vm *vm, struct stripe_page *pages, unsigned n)
{
	const struct pg_geometry *geo = vm_geo(vm);
	uint64_t pgroup = UINT64_MAX;
	unsigned prow = 0, np = 0, psrv = 0;
	uint8_t *par = NULL, ptags[PG_MAX_ROWS * TAG_LEN];

	/*
	 * With one data slot (S = 1, two servers) every row is whole when
	 * its page leaves: the parity is a copy of the page, and the WRITE
	 * and the parity WRITE go out together, 2 pages on the wire, where
	 * an XWRITE waits for its answer to send the delta (3 pages, two
	 * round trips one after the other).
	 */
	if (!geo->parity)
		return;
	for (unsigned k = 0; k + geo->width <= n;) {
		uint64_t p0 = pages[k].page, g;
		unsigned slot, row, w;
		struct pg_group *grp = vm_group_of(vm, p0, &g, &slot, &row);

		for (w = 0; slot == 0 && w < geo->width; w++)
			if (pages[k + w].mode != W_XOR ||
			    pages[k + w].page != p0 + w)
				break;
		if (slot || w < geo->width || grp->deltas ||
		    (g != pgroup &&
		     slot_busy(vm, g, pg_parity_slot(geo)))) {
			k++;
			continue;
		}
		/* A stripe: flush the parity run unless this row extends it. */
		if (np && (g != pgroup || row != prow + np || np == geo->rows)) {
			parity_write(vm, pgroup, prow, np, par, ptags, psrv,
				     true);
			np = 0;
		}
		if (!par && posix_memalign((void **)&par, PAGE,
					   (size_t)geo->rows * PAGE))
			return;		/* no memory: W_XOR they stay */
		if (!np) {
			pgroup = g;
			prow = row;
			psrv = pages[k].parity_srv;
		}
		memcpy(par + (size_t)np * PAGE, pages[k].data, PAGE);
		memset(ptags + np * TAG_LEN, 0, TAG_LEN);
		for (w = 0; w < geo->width; w++) {
			if (w)
				pg_xor(par + (size_t)np * PAGE,
				       pages[k + w].data, PAGE);
			if (pages[k + w].tag)
				tag_xor(ptags + np * TAG_LEN, pages[k + w].tag,
					TAG_LEN);
			pages[k + w].mode = W_STRIPE;
		}
		np++;
		k += geo->width;
	}
	if (np)
		parity_write(vm, pgroup, prow, np, par, ptags, psrv, true);
	free(par);
}

/* ---- data writes ---- */

struct stripe_run *stripe_run_new(struct vm *vm, enum write_mode mode,
				  unsigned server, unsigned parity_srv,
				  uint64_t page)
{
	size_t rows = vm_geo(vm)->rows;
	struct stripe_run *run = vm->spare_runs;

	if (run) {
		uint8_t *buf = run->buf, *tags = run->tags, *delta = run->delta;

		vm->spare_runs = run->next_spare;
		vm->nspare_runs--;
		memset(run, 0, sizeof(*run));
		memset(tags, 0, rows * TAG_LEN);
		run->buf = buf;
		run->tags = tags;
		run->delta = delta;
	} else {
		run = calloc(1, sizeof(*run));
	}
	if (!run || (!run->buf &&
		     posix_memalign((void **)&run->buf, PAGE, rows * PAGE)) ||
	    (!run->tags && !(run->tags = calloc(rows, TAG_LEN))) ||
	    (mode == W_XOR && !run->delta &&
	     posix_memalign((void **)&run->delta, PAGE,
			    rows * vm_page_bytes(vm)))) {
		if (run) {
			free(run->buf);
			free(run->tags);
			free(run->delta);
		}
		free(run);
		return NULL;
	}
	run->vm = vm;
	run->mode = mode;
	run->server = server;
	run->parity_srv = parity_srv;
	run->page = page;
	return run;
}

/*
 * A run's buffers are a stripe's height of pages (and of deltas): every
 * eviction batch needs a few, so up to SPARE_RUNS freed ones are kept
 * for the next rather than handed back to malloc and asked for again.
 */
#define SPARE_RUNS	8u
/* AddressSanitizer sees a use after free only if it was freed. */
#ifdef __SANITIZE_ADDRESS__
#define KEEP_RUNS	0
#else
#define KEEP_RUNS	1
#endif

static void run_free(struct stripe_run *run)
{
	struct vm *vm = run->vm;

	if (KEEP_RUNS && vm->nspare_runs < SPARE_RUNS) {
		run->next_spare = vm->spare_runs;
		vm->spare_runs = run;
		vm->nspare_runs++;
		return;
	}
	free(run->buf);
	free(run->tags);
	free(run->delta);
	free(run);
}

static void write_done(void *arg, int err, uint8_t status)
{
	struct stripe_run *run = arg;
	struct vm *vm = run->vm;
	unsigned slot, row;
	uint64_t g;
	struct pg_group *grp = vm_group_of(vm, run->page, &g, &slot, &row);
	struct pg_server *ps = &placement(vm)[run->server];
	bool ok = !err && !status, moves = false;

	if (ok) {
		stage_add(&vm->st, ES_write_rtt, evl_now_ns() - run->t0);
		ps->free_pages -= ps->free_pages < run->count ? ps->free_pages
							      : run->count;
		/* The delta goes on to the parity before this writer ends. */
		if (run->mode == W_XOR && !vm->dead)
			parity_write(vm, g, row, run->count, run->delta,
				     run->delta + (size_t)run->count * PAGE,
				     run->parity_srv, false);
	} else if (run->mode == W_STRIPE && !vm->dead &&
		   !slot_missing(grp, slot) && err != -ECONNRESET &&
		   status != RMAP_S_BADSESSION) {
		/*
		 * Its row's parity landed, or may have: recompute it.  Not
		 * when the server lost all our pages (it restarted, or no
		 * longer knows our session): that failure is the server's
		 * (remote_liveness.c), its slot is rebuilt from the parity,
		 * whichever it holds, and the stripe is whole again;
		 * recomputing the parity instead would need the slot that
		 * is gone, and the group would count two failures for one.
		 */
		recovery_parity_bad(vm, g);
	}
	if (status == RMAP_S_FULL && !vm->dead) {
		ps->full = true;
		moves = recovery_slot_full(vm, run->page);
		log_ratelimited(10000, LOG_LEVEL_WARN, "vm %s: server %s is "
				"full; %s", vm->name,
				remote_server(vm->pg->remote, run->server)->name,
				moves ? "its group slots move to servers with "
					"room" : "no server has room: the pages "
					"go to the spill file");
	}
	run->done(run, ok, status == RMAP_S_FULL && !moves);
	writer_done(vm, grp, g, slot);
	run_free(run);
	vm_put(vm);
}

void stripe_write(struct stripe_run *run)
{
	struct vm *vm = run->vm;
	const struct pg_geometry *geo = vm_geo(vm);
	struct iovec iov[2] = {
		{ run->buf, (size_t)run->count * PAGE },
		{ run->tags, (vm_page_bytes(vm) - PAGE) * run->count },
	};
	bool xor = run->mode == W_XOR;
	unsigned slot, row;
	uint64_t g;
	struct pg_group *grp = vm_group_of(vm, run->page, &g, &slot, &row);

	writer_begin(vm, grp, g, slot);
	vm_get(vm);
	run->t0 = evl_now_ns();
	if (remote_call(vm->pg->remote, &vm->sess[run->server],
			xor ? RMAP_T_XWRITE : RMAP_T_WRITE, vm_tag_flags(vm),
			pg_key(geo, g, row), run->count, iov,
			vm->integ.on ? 2 : 1, xor ? run->delta : NULL,
			xor ? (uint32_t)(run->count * vm_page_bytes(vm)) : 0,
			write_done, run))
		write_done(run, -ENOTCONN, 0);
}

/* ---- freeing copies ---- */

struct xfree {
	struct vm *vm;
	uint64_t page;
	unsigned parity_srv;
	bool xor;
	uint8_t *old;
};

static void free_done(void *arg, int err, uint8_t status)
{
	struct xfree *x = arg;
	struct vm *vm = x->vm;
	unsigned slot, row;
	uint64_t g;
	struct pg_group *grp = vm_group_of(vm, x->page, &g, &slot, &row);

	/*
	 * The old copy leaves the parity too.  If the XFREE failed, the
	 * server's copy, freed or not, still matches the parity: a later
	 * XWRITE's delta is taken against whatever it really holds, and a
	 * rebuild restores the old copy, which nothing then reads.
	 */
	if (x->xor && !err && !status && !vm->dead)
		parity_write(vm, g, row, 1, x->old, x->old + PAGE,
			     x->parity_srv, false);
	if (!vm->dead) {
		/* The page may be written again now. */
		pt_free_end(&vm->pt, x->page);
		vm->up->changed(vm);
	}
	if (x->xor) {
		grp->deltas--;
		writer_done(vm, grp, g, slot);
	}
	free(x->old);
	free(x);
	vm_put(vm);
}

bool stripe_drop_copy(struct vm *vm, uint64_t page)
{
	unsigned ds = 0, ps = 0, slot, row;
	uint64_t g;
	struct pg_group *grp = vm_group_of(vm, page, &g, &slot, &row);
	const struct pg_geometry *geo = vm_geo(vm);
	enum write_mode mode;
	struct xfree *x;

	if (grp->state == PG_EMPTY || grp->state == PG_LOST) {
		pt_remote_dropped(&vm->pt, page);
		return true;	/* nothing kept, or nothing to keep right */
	}
	mode = stripe_write_mode(vm, page, &ds, &ps);
	if (mode != W_PLAIN && mode != W_XOR)
		return false;	/* kept: it still matches the parity */
	x = calloc(1, sizeof(*x));
	if (!x || (mode == W_XOR &&
		   posix_memalign((void **)&x->old, PAGE,
				  vm_page_bytes(vm)))) {
		free(x);
		return false;
	}
	*x = (struct xfree){ vm, page, ps, mode == W_XOR, x->old };
	/* No WRITE of it may start until the FREE is answered. */
	pt_free_begin(&vm->pt, page);
	if (x->xor) {
		/* A delta is coming: no whole-row parity WRITE until it is in. */
		writer_begin(vm, grp, g, slot);
		grp->deltas++;
	}
	vm_get(vm);
	if (remote_call(vm->pg->remote, &vm->sess[ds],
			x->xor ? RMAP_T_XFREE : RMAP_T_FREE,
			x->xor ? vm_tag_flags(vm) : 0, pg_key(geo, g, row), 1,
			NULL, 0, x->old,
			x->xor ? (uint32_t)vm_page_bytes(vm) : 0, free_done, x))
		free_done(x, -ENOTCONN, 0);
	return true;
}
