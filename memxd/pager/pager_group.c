// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pager_group.c - page-groups at work: parity kept on every eviction,
 * degraded reads, recovery after a server dies, and live drain.
 *
 * Parity design.  The data server computes the delta: an eviction sends
 * XWRITE to the page's data server, which stores the page and answers
 * old ^ new; the pager then sends that delta to the group's parity server
 * as PXOR, which XORs it into the stripe's parity.  Each delta is applied
 * exactly once (RMAP delivers a message once), and XOR commutes, so
 * concurrent updates of one stripe need no ordering.  Until the PXOR is
 * acknowledged the group counts a writer, and a reconstruction (degraded
 * read or rebuild) waits for a group to have no writers: it never reads a
 * stripe whose data and parity disagree.  Why a crash cannot make parity
 * silently disagree with data:
 *
 *   - the data server dies before answering: the page was not punched
 *     here, it is still resident and dirty; the parity still matches the
 *     old copy, which is what a rebuild yields and what PT_HAS_REMOTE
 *     says the server holds, so the next eviction's delta is right;
 *   - the data server dies after answering: the delta is in our hands and
 *     still goes to the parity server, so the rebuild yields the new copy;
 *   - the parity server dies, or refuses the PXOR (full): the group's
 *     parity is marked bad (DEGRADED on its parity slot) and rebuilt from
 *     the data, which are all present; if a data server dies before that,
 *     the group is LOST and says so: two failures, never a wrong page;
 *   - memxd itself dies: the VM's memory dies with it (QEMU stops).
 *
 * Discards and zero pages leave through XFREE, which answers the old
 * copy, and the same PXOR.  Where a group cannot take a writer now, the
 * remote copy simply stays (PT_HAS_REMOTE) and still matches the parity.
 */
#include <errno.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../log.h"
#include "pager_int.h"

#ifndef UFFDIO_POISON
/* Linux 6.6; Debian 12's headers predate it. */
struct uffdio_poison {
	struct uffdio_range range;
	uint64_t mode;
	int64_t updated;
};
#define _UFFDIO_POISON	(0x08)
#define UFFDIO_POISON	_IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#endif

#define JOB_TICK_NS	(10ull * 1000000ull)
#define JOBS_MAX	16u		/* groups rebuilt or moved at once */
#define DRAIN_SCAN_NS	(500ull * 1000000ull)
#define RECOVERY_LOG_NS	(5000ull * 1000000ull)

static const struct pg_geometry *geo_of(const struct vm *vm)
{
	return pg_geometry(vm->groups);
}

static struct pg_server *servers(struct vm *vm)
{
	return remote_pg(vm->pg->remote);
}

static unsigned nservers(struct vm *vm)
{
	return remote_count(vm->pg->remote);
}

static bool session_open(const struct vm *vm, unsigned s)
{
	return s < vm->nsess && vm->sess[s].id;
}

/* Is slot @slot of @grp missing (to be rebuilt, not merely moved)? */
static bool slot_missing(const struct pg_group *grp, unsigned slot)
{
	return (grp->state == PG_DEGRADED || grp->state == PG_REBUILDING) &&
	       !(grp->flags & PG_F_MOVE) && grp->bad == slot;
}

/* ---- reads ---- */

enum read_mode group_read_mode(struct vm *vm, uint64_t page, unsigned *server)
{
	const struct pg_geometry *geo = geo_of(vm);
	struct pg_group *grp;
	unsigned slot, row;
	uint64_t g;

	pg_locate(geo, page, &g, &slot, &row);
	grp = pg_group(vm->groups, g);
	if (grp->state == PG_EMPTY)
		return R_LOST;		/* cannot happen: REMOTE implies placed */
	if (grp->state == PG_LOST && grp->lost & (1u << slot))
		return R_LOST;
	if (slot_missing(grp, slot))
		return R_DEGRADED;
	*server = grp->srv[slot];
	return session_open(vm, *server) ? R_SERVER : R_NONE;
}

struct recon {
	struct fetch *f;
	uint64_t g;
	unsigned pending;
	int err;
	uint8_t *bufs;		/* one page per other slot */
	unsigned nbufs;
};

static void recon_done(void *arg, int err, uint8_t status)
{
	struct recon *rc = arg;
	struct vm *vm = rc->f->vm;

	if (err || status)
		rc->err = err ? err : -EIO;
	if (--rc->pending)
		return;
	pg_group(vm->groups, rc->g)->readers--;
	if (!rc->err) {
		memcpy(rc->f->buf, rc->bufs, PAGE);
		for (unsigned i = 1; i < rc->nbufs; i++)
			pg_xor(rc->f->buf, rc->bufs + (size_t)i * PAGE, PAGE);
	}
	fetch_done(rc->f, rc->err, 0);	/* installs, or retries later */
	free(rc->bufs);
	free(rc);
}

/*
 * @page's server is gone: read the other pages of its stripe and the
 * parity, XOR them, and install the result.  The faulting vCPU waits for
 * one round trip to S servers in parallel, not for the recovery.
 */
void degraded_read(struct vm *vm, uint64_t page, uint64_t t0, bool write)
{
	const struct pg_geometry *geo = geo_of(vm);
	unsigned slot, row, n = 0;
	struct pg_group *grp;
	struct recon *rc;
	struct fetch *f;
	uint64_t g;

	pg_locate(geo, page, &g, &slot, &row);
	grp = pg_group(vm->groups, g);
	if (!pg_can_read(grp)) {
		/* A parity update of this group is in flight: right after. */
		queue_fault(&vm->pwait, page, t0, write);
		return;
	}
	for (unsigned j = 0; j < pg_slots(geo); j++) {
		if (j != slot && !session_open(vm, grp->srv[j])) {
			retry_later(vm, page, t0, write);
			return;
		}
	}
	rc = calloc(1, sizeof(*rc));
	f = calloc(1, sizeof(*f));
	if (!rc || !f || posix_memalign((void **)&f->buf, PAGE, PAGE) ||
	    !(rc->bufs = malloc((size_t)pg_slots(geo) * PAGE))) {
		if (f)
			free(f->buf);
		free(f);
		free(rc);
		retry_later(vm, page, t0, write);
		return;
	}
	*f = (struct fetch){ vm, page, 1, 1, t0, true, f->buf };
	rc->f = f;
	rc->g = g;
	rc->nbufs = pg_slots(geo) - 1;
	pt_set_state(&vm->pt[page], PS_FETCHING);
	vm->pt[page] |= PT_BUSY;
	if (write)
		vm->pt[page] |= PT_WANT_WRITE;
	vm->wanted++;
	vm->st.degraded_reads++;
	vm_get(vm);			/* fetch_done puts it */
	grp->readers++;
	rc->pending = 1;		/* until every READZ is out */
	for (unsigned j = 0; j < pg_slots(geo); j++) {
		if (j == slot)
			continue;
		rc->pending++;
		if (remote_call(vm->pg->remote, &vm->sess[grp->srv[j]],
				RMAP_T_READZ, pg_key(geo, g, row), 1, NULL, 0,
				rc->bufs + (size_t)n * PAGE, PAGE, recon_done,
				rc))
			recon_done(rc, -ENOTCONN, 0);
		n++;
	}
	recon_done(rc, 0, 0);
}

void lost_fault(struct vm *vm, uint64_t page)
{
	struct uffdio_poison p = { .range = { 0, PAGE } };
	uint64_t off = page * PAGE;

	vm->st.lost_faults++;
	for (unsigned i = 0; i < vm->nregions; i++) {
		const struct vm_region *r = &vm->regions[i];

		if (off >= r->offset && off - r->offset < r->length)
			p.range.start = r->hva + (off - r->offset);
	}
	log_ratelimited(2000, LOG_LEVEL_ERR,
			"vm %s: access to LOST page %lu (GPAS offset %#lx): "
			"two servers of its group died; the access gets a "
			"memory error (SIGBUS), never wrong data", vm->name,
			(unsigned long)page, (unsigned long)off);
	/*
	 * An evicted page may keep a write-protect marker in the VMM's page
	 * table, which POISON would take for a page (EEXIST): clear it.
	 */
	if (p.range.start) {
		struct uffdio_writeprotect w = { .range = p.range, .mode = 0 };

		ioctl(vm->uffd, UFFDIO_WRITEPROTECT, &w);
	}
	/* EEXIST: another thread's fault poisoned it first. */
	if (ioctl(vm->uffd, UFFDIO_POISON, &p) < 0 && errno != EEXIST)
		log_ratelimited(5000, LOG_LEVEL_ERR,
				"vm %s: cannot poison lost page %lu (%s; needs "
				"Linux 6.6): the faulting thread waits for ever",
				vm->name, (unsigned long)page, strerror(errno));
}

/* Faults that waited for a group's writers: try them again. */
void pwait_drain(struct vm *vm)
{
	GQueue q = vm->pwait;

	g_queue_init(&vm->pwait);
	while (!g_queue_is_empty(&q)) {
		struct deferred *d = g_queue_pop_head(&q);

		if (!vm->dead)
			vm_handle_missing(vm, d->page, d->t0, d->write);
		g_free(d);
	}
}

/* ---- writes ---- */

enum write_mode group_write_mode(struct vm *vm, uint64_t page,
				 unsigned *data_srv, unsigned *parity_srv)
{
	const struct pg_geometry *geo = geo_of(vm);
	struct pg_group *grp;
	unsigned slot, row;
	uint64_t g;

	if (!nservers(vm))
		return W_SPILL;
	pg_locate(geo, page, &g, &slot, &row);
	grp = pg_group(vm->groups, g);
	if (grp->state == PG_EMPTY &&
	    pg_place(vm->groups, g, servers(vm), nservers(vm)))
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
	if (!session_open(vm, *data_srv))
		return W_WAIT;
	if (!geo->parity || slot_missing(grp, pg_parity_slot(geo)))
		return W_PLAIN;		/* parity is recomputed later */
	*parity_srv = grp->srv[pg_parity_slot(geo)];
	return session_open(vm, *parity_srv) ? W_XOR : W_WAIT;
}

/* A parity WRITE of whole rows, or a PXOR of deltas, in flight. */
struct parity_io {
	struct vm *vm;
	uint64_t g;
	unsigned rows;
	bool whole;
	uint8_t *buf;
};

/* The parity of group @g is wrong or unknown: recompute it elsewhere. */
static void parity_bad(struct vm *vm, uint64_t g);

static void parity_io_done(void *arg, int err, uint8_t status)
{
	struct parity_io *x = arg;
	struct vm *vm = x->vm;
	struct pg_group *grp = pg_group(vm->groups, x->g);

	grp->writers--;
	if (!x->whole)
		grp->deltas--;
	if (err || status) {
		vm->st.parity_errors++;
		log_ratelimited(5000, LOG_LEVEL_WARN,
				"vm %s: parity %s of group %lu failed (%s); "
				"its parity is recomputed from the data",
				vm->name, x->whole ? "write" : "update",
				(unsigned long)x->g,
				err ? strerror(-err) : rmap_status_name(status));
		if (!vm->dead)
			parity_bad(vm, x->g);
	} else if (x->whole) {
		vm->st.parity_stripes += x->rows;
	} else {
		vm->st.parity_updates++;
	}
	if (!vm->dead && !grp->writers)
		pwait_drain(vm);
	free(x->buf);
	free(x);
	vm_put(vm);
}

/*
 * Send @n pages of @data for rows [row, row + n) of group @g to its
 * parity server: whole parity pages (WRITE), or deltas to XOR in (PXOR).
 */
static void parity_write(struct vm *vm, uint64_t g, unsigned row, unsigned n,
			 const uint8_t *data, unsigned parity_srv, bool whole)
{
	struct parity_io *x = calloc(1, sizeof(*x));
	struct pg_group *grp = pg_group(vm->groups, g);
	struct iovec iov;

	if (!x || !(x->buf = malloc((size_t)n * PAGE))) {
		free(x);
		vm->st.parity_errors++;
		parity_bad(vm, g);
		return;
	}
	*x = (struct parity_io){ vm, g, n, whole, x->buf };
	memcpy(x->buf, data, (size_t)n * PAGE);
	iov = (struct iovec){ x->buf, (size_t)n * PAGE };
	grp->writers++;
	if (!whole)
		grp->deltas++;
	vm_get(vm);
	if (remote_call(vm->pg->remote, &vm->sess[parity_srv],
			whole ? RMAP_T_WRITE : RMAP_T_PXOR,
			pg_key(geo_of(vm), g, row), n, &iov, 1, NULL, 0,
			parity_io_done, x))
		parity_io_done(x, -ENOTCONN, 0);
}

/* Send @delta (count pages, rows from @page's) to the parity server. */
static void parity_send(struct vm *vm, uint64_t page, uint32_t count,
			const uint8_t *delta, unsigned parity_srv)
{
	unsigned slot, row;
	uint64_t g;

	pg_locate(geo_of(vm), page, &g, &slot, &row);
	parity_write(vm, g, row, count, delta, parity_srv, false);
}

void group_write_done(struct vm *vm, uint64_t page, uint32_t count,
		      const uint8_t *delta, unsigned parity_srv)
{
	if (delta)
		parity_send(vm, page, count, delta, parity_srv);
}

/*
 * Full-stripe writes.  When all S data pages of a row leave in one batch
 * and no parity delta of the group is in flight, the data go as plain
 * WRITEs and the parity, their XOR, as a WRITE too: S + 1 pages on the
 * wire instead of 3 S.  No parity delta of those rows can start meanwhile
 * (their pages are busy), so the whole-row WRITE and a PXOR never race on
 * one parity page; writes to other rows of the group may be in flight,
 * and a degraded read waits for the group's writers as always.  If any of the S + 1 WRITEs fails for a
 * reason other than its server dying, data and parity may disagree: the
 * parity is recomputed.  If a data server died, the parity that did land
 * matches the new data, so a rebuild yields the new page.
 */
void group_stripe_parity(struct vm *vm, uint64_t g, unsigned row, unsigned n,
			 const uint8_t *parity, unsigned parity_srv)
{
	parity_write(vm, g, row, n, parity, parity_srv, true);
}

void group_stripe_failed(struct vm *vm, uint64_t page)
{
	unsigned slot, row;
	uint64_t g;

	pg_locate(geo_of(vm), page, &g, &slot, &row);
	if (!slot_missing(pg_group(vm->groups, g), slot))
		parity_bad(vm, g);
}

struct xfree {
	struct vm *vm;
	uint64_t page;
	unsigned parity_srv;
	uint8_t *old;
};

static void xfree_done(void *arg, int err, uint8_t status)
{
	struct xfree *x = arg;
	struct vm *vm = x->vm;
	unsigned slot, row;
	uint64_t g;

	pg_locate(geo_of(vm), x->page, &g, &slot, &row);
	/*
	 * The old copy leaves the parity too.  If the XFREE failed, the
	 * server's copy, freed or not, still matches the parity: a later
	 * XWRITE's delta is taken against whatever it really holds, and a
	 * rebuild restores the old copy, which nothing then reads.
	 */
	if (!err && !status && !vm->dead)
		parity_send(vm, x->page, 1, x->old, x->parity_srv);
	pg_group(vm->groups, g)->writers--;
	pg_group(vm->groups, g)->deltas--;
	if (!vm->dead && !pg_group(vm->groups, g)->writers)
		pwait_drain(vm);
	free(x->old);
	free(x);
	vm_put(vm);
}

bool remote_copy_drop(struct vm *vm, uint64_t page)
{
	unsigned ds = 0, ps = 0, slot, row;
	const struct pg_geometry *geo = geo_of(vm);
	struct pg_group *grp;
	struct xfree *x;
	uint64_t g;

	pg_locate(geo, page, &g, &slot, &row);
	grp = pg_group(vm->groups, g);
	if (grp->state == PG_EMPTY || grp->state == PG_LOST) {
		vm->pt[page] &= (uint8_t)~PT_HAS_REMOTE;
		return true;	/* nothing kept, or nothing to keep right */
	}
	switch (group_write_mode(vm, page, &ds, &ps)) {
	case W_PLAIN:
		vm->pt[page] &= (uint8_t)~PT_HAS_REMOTE;
		remote_free_pages(vm->pg->remote, &vm->sess[ds],
				  pg_key(geo, g, row), 1);
		return true;
	case W_XOR:
		break;
	default:
		return false;	/* kept: it still matches the parity */
	}
	x = calloc(1, sizeof(*x));
	if (!x || posix_memalign((void **)&x->old, PAGE, PAGE)) {
		free(x);
		return false;
	}
	x->vm = vm;
	x->page = page;
	x->parity_srv = ps;
	vm->pt[page] &= (uint8_t)~PT_HAS_REMOTE;
	/* A delta is coming: no whole-row parity WRITE until it is in. */
	grp->writers++;
	grp->deltas++;
	vm_get(vm);
	if (remote_call(vm->pg->remote, &vm->sess[ds], RMAP_T_XFREE,
			pg_key(geo, g, row), 1, NULL, 0, x->old, PAGE,
			xfree_done, x))
		xfree_done(x, -ENOTCONN, 0);
	return true;
}

/* ---- recovery jobs ---- */

struct job_ref {
	struct vm *vm;
	uint64_t g;
};

static void job_queue(struct vm *vm, uint64_t g)
{
	struct pg_group *grp = pg_group(vm->groups, g);
	struct job_ref *j;

	if (grp->flags & PG_F_QUEUED)
		return;
	j = g_new(struct job_ref, 1);
	j->vm = vm;
	j->g = g;
	grp->flags |= PG_F_QUEUED;
	vm_get(vm);
	g_queue_push_tail(&vm->pg->jobs, j);
	jobs_kick(vm->pg);
}

static void parity_bad(struct vm *vm, uint64_t g)
{
	struct pg_group *grp = pg_group(vm->groups, g);
	unsigned par = pg_parity_slot(geo_of(vm));

	switch (grp->state) {
	case PG_OK:
		grp->state = PG_DEGRADED;
		grp->bad = (uint8_t)par;
		grp->flags &= (uint8_t)~PG_F_MOVE;
		job_queue(vm, g);
		break;
	case PG_DEGRADED:
	case PG_REBUILDING:
		if (grp->bad == par) {
			grp->flags &= (uint8_t)~PG_F_MOVE;
			break;
		}
		/* Another slot is missing: without parity it is lost. */
		if (!(grp->flags & PG_F_MOVE)) {
			grp->state = PG_LOST;
			grp->lost = (uint16_t)(1u << grp->bad);
			log_err("vm %s: group %lu lost its parity while slot %u "
				"was being rebuilt: that slot's pages are lost",
				vm->name, (unsigned long)g, grp->bad);
			break;
		}
		/* A move in progress: rebuild the parity instead. */
		grp->bad = (uint8_t)par;
		grp->flags &= (uint8_t)~PG_F_MOVE;
		break;
	default:
		break;
	}
}

bool group_full(struct vm *vm, uint64_t page)
{
	struct pg_group *grp;
	unsigned slot, row;
	uint64_t g;

	pg_locate(geo_of(vm), page, &g, &slot, &row);
	grp = pg_group(vm->groups, g);
	if (pg_spare(vm->groups, g, servers(vm), nservers(vm)) == PG_NO_SERVER)
		return false;
	if (grp->state == PG_OK) {
		grp->state = PG_DEGRADED;
		grp->bad = (uint8_t)slot;
		grp->flags |= PG_F_MOVE;
		job_queue(vm, g);
	}
	return grp->state != PG_LOST;
}

struct job {
	struct vm *vm;
	uint64_t g;
	unsigned slot, target, old;
	bool move;
	unsigned pending, nsrc;
	int err;
	uint8_t status;
	uint8_t *src;		/* nsrc x rows pages */
	uint8_t *out;		/* rows pages */
	uint64_t written;
};

static void job_finish(struct job *j);

static void job_write_done(void *arg, int err, uint8_t status)
{
	struct job *j = arg;

	if (err || status) {
		j->err = err ? err : -EIO;
		j->status = status;
	}
	if (--j->pending == 0)
		job_finish(j);
}

static void job_read_done(void *arg, int err, uint8_t status)
{
	struct job *j = arg;
	struct vm *vm = j->vm;
	const struct pg_geometry *geo = geo_of(vm);
	size_t slab = (size_t)geo->rows * PAGE;

	if (err || status) {
		j->err = err ? err : -EIO;
		j->status = status;
	}
	if (--j->pending)
		return;
	if (j->err || vm->dead || !session_open(vm, j->target)) {
		if (!j->err)
			j->err = -ENOTCONN;
		job_finish(j);
		return;
	}
	/* The missing slot is the XOR of the others (or the copy). */
	memcpy(j->out, j->src, slab);
	for (unsigned i = 1; i < j->nsrc; i++)
		pg_xor(j->out, j->src + i * slab, slab);
	/* Only non-zero rows are stored: absent reads as zero. */
	j->pending = 1;
	for (unsigned r = 0; r < geo->rows;) {
		unsigned n = 0;
		struct iovec iov;

		if (is_zero(j->out + (size_t)r * PAGE)) {
			r++;
			continue;
		}
		while (r + n < geo->rows && n < RMAP_MAX_PAGES &&
		       !is_zero(j->out + (size_t)(r + n) * PAGE))
			n++;
		iov = (struct iovec){ j->out + (size_t)r * PAGE,
				      (size_t)n * PAGE };
		j->pending++;
		j->written += n;
		if (remote_call(vm->pg->remote, &vm->sess[j->target],
				RMAP_T_WRITE, pg_key(geo, j->g, r), n, &iov, 1,
				NULL, 0, job_write_done, j))
			job_write_done(j, -ENOTCONN, 0);
		r += n;
	}
	job_write_done(j, 0, 0);
}

/* The job's reads and writes are done: the group takes the result. */
static void job_apply(struct vm *vm, struct job *j)
{
	struct pager *pg = vm->pg;
	const struct pg_geometry *geo = geo_of(vm);
	struct pg_group *grp = pg_group(vm->groups, j->g);
	bool same;

	same = grp->state == PG_REBUILDING && grp->bad == j->slot &&
	       !(grp->flags & PG_F_MOVE) == !j->move;
	if (!same || j->err) {
		if (j->err && same)
			log_ratelimited(5000, LOG_LEVEL_WARN,
					"vm %s: %s slot %u of group %lu onto %s "
					"failed (%s); it is tried again",
					vm->name, j->move ? "moving" : "rebuilding",
					j->slot, (unsigned long)j->g,
					remote_server(pg->remote, j->target)->name,
					j->status ? rmap_status_name(j->status)
						  : strerror(-j->err));
		if (j->written && session_open(vm, j->target))
			remote_free_pages(pg->remote, &vm->sess[j->target],
					  pg_key(geo, j->g, 0), geo->rows);
		if (grp->state == PG_REBUILDING) {
			grp->state = PG_DEGRADED;
			job_queue(vm, j->g);
		}
	} else {
		/* The old server, if it still answers, lets the rows go. */
		if (!servers(vm)[j->old].dead && session_open(vm, j->old))
			remote_free_pages(pg->remote, &vm->sess[j->old],
					  pg_key(geo, j->g, 0), geo->rows);
		pg_move_slot(vm->groups, j->g, j->slot, j->target, servers(vm));
		grp->state = PG_OK;
		grp->flags &= (uint8_t)~PG_F_MOVE;
		if (j->move) {
			vm->st.moved_groups++;
			vm->st.moved_pages += j->written;
		} else {
			vm->st.rebuilt_groups++;
			vm->st.rebuilt_pages += j->written;
		}
		log_debug("vm %s: group %lu slot %u %s onto %s (%lu pages)",
			  vm->name, (unsigned long)j->g, j->slot,
			  j->move ? "moved" : "rebuilt",
			  remote_server(pg->remote, j->target)->name,
			  (unsigned long)j->written);
	}
}

static void job_finish(struct job *j)
{
	struct vm *vm = j->vm;
	struct pager *pg = vm->pg;

	if (!vm->dead)
		job_apply(vm, j);
	pg->jobs_running--;
	free(j->src);
	free(j->out);
	free(j);
	if (!vm->dead) {
		/* What waited for the group can go now. */
		pwait_drain(vm);
		vm_drain_deferred(vm);
		vm_evict_more(vm);
	}
	vm_put(vm);
	jobs_kick(pg);
}

/* Start the job of @ref's group: 0 started or dropped, -EAGAIN later. */
static int job_start(struct job_ref *ref)
{
	struct vm *vm = ref->vm;
	struct pager *pg = vm->pg;
	const struct pg_geometry *geo = geo_of(vm);
	struct pg_group *grp = pg_group(vm->groups, ref->g);
	size_t slab = (size_t)geo->rows * PAGE;
	unsigned target, src[PG_MAX_SLOTS], nsrc = 0;
	struct job *j;

	if (grp->state != PG_DEGRADED && grp->state != PG_REBUILDING)
		return 0;		/* resolved meanwhile, or lost */
	if (grp->flags & PG_F_MOVE) {
		src[nsrc++] = grp->bad;
	} else {
		for (unsigned s = 0; s < pg_slots(geo); s++)
			if (s != grp->bad)
				src[nsrc++] = s;
	}
	for (unsigned i = 0; i < nsrc; i++) {
		if (!session_open(vm, grp->srv[src[i]])) {
			grp->state = PG_DEGRADED;	/* a session reopens */
			return -EAGAIN;
		}
	}
	target = pg_spare(vm->groups, ref->g, servers(vm), nservers(vm));
	if (target == PG_NO_SERVER && grp->flags & PG_F_MOVE) {
		/*
		 * Nowhere to move a live slot to: it stays.  A drain asks
		 * again (drain_progress); a full server's pages spill.
		 */
		grp->state = PG_OK;
		grp->flags &= (uint8_t)~PG_F_MOVE;
		return 0;
	}
	if (target == PG_NO_SERVER || !session_open(vm, target)) {
		log_ratelimited(10000, LOG_LEVEL_WARN,
				"vm %s: no server can take slot %u of group %lu "
				"(each needs a server holding nothing of its "
				"group, with room); waiting for one", vm->name,
				grp->bad, (unsigned long)ref->g);
		grp->state = PG_DEGRADED;	/* writers may go on meanwhile */
		return -EAGAIN;
	}
	/* From here no writer starts; wait for those in flight. */
	grp->state = PG_REBUILDING;
	if (grp->writers)
		return -EAGAIN;
	j = calloc(1, sizeof(*j));
	if (!j || !(j->src = malloc(nsrc * slab)) ||
	    posix_memalign((void **)&j->out, PAGE, slab)) {
		if (j)
			free(j->src);
		free(j);
		return -EAGAIN;
	}
	j->vm = vm;
	j->g = ref->g;
	j->slot = grp->bad;
	j->move = grp->flags & PG_F_MOVE;
	j->target = target;
	j->old = grp->srv[grp->bad];
	j->nsrc = nsrc;
	pg->jobs_running++;
	vm_get(vm);
	j->pending = 1;
	for (unsigned i = 0; i < nsrc; i++) {
		j->pending++;
		if (remote_call(pg->remote, &vm->sess[grp->srv[src[i]]],
				RMAP_T_READZ, pg_key(geo, ref->g, 0), geo->rows,
				NULL, 0, j->src + i * slab, (uint32_t)slab,
				job_read_done, j))
			job_read_done(j, -ENOTCONN, 0);
	}
	job_read_done(j, 0, 0);
	return 0;
}

/* Queue a move for every group of @vm with a slot on draining @server. */
static void drain_scan(struct vm *vm, unsigned server)
{
	for (uint64_t g = 0; g < pg_ngroups(vm->groups); g++) {
		struct pg_group *grp = pg_group(vm->groups, g);
		int slot = pg_slot_of(vm->groups, g, server);

		if (slot < 0 || grp->state != PG_OK)
			continue;
		grp->state = PG_DEGRADED;
		grp->bad = (uint8_t)slot;
		grp->flags |= PG_F_MOVE;
		job_queue(vm, g);
	}
}

static void leave_done(void *arg, int err, uint8_t status)
{
	struct remote_server *srv = arg;

	if (err || status)
		log_warn("memory server %s drained, but telling it to leave "
			 "failed (%s)", srv->name,
			 err ? strerror(-err) : rmap_status_name(status));
	else
		log_info("memory server %s drained: it holds none of our pages "
			 "and was told it may leave", srv->name);
}

/* Drained servers: sessions closed and LEAVE sent once they hold nothing. */
static void drain_progress(struct pager *pg, bool scan)
{
	struct remote *r = pg->remote;

	for (unsigned i = 0; i < remote_count(r); i++) {
		struct pg_server *ps = &remote_pg(r)[i];
		struct remote_server *srv = remote_server(r, i);

		if (!ps->draining || srv->drained)
			continue;
		if (ps->groups) {
			for (struct vm *vm = pg->vms; scan && vm; vm = vm->next)
				if (!vm->dead)
					drain_scan(vm, i);
			continue;
		}
		srv->drained = true;
		/* UNREG frees whatever is left there (nothing, normally). */
		for (struct vm *vm = pg->vms; vm; vm = vm->next)
			if (vm->sess[i].r)
				remote_session_close(r, &vm->sess[i]);
		remote_leave(r, i, leave_done, srv);
	}
}

static bool draining(struct pager *pg)
{
	for (unsigned i = 0; i < remote_count(pg->remote); i++)
		if (remote_pg(pg->remote)[i].draining &&
		    !remote_server(pg->remote, i)->drained)
			return true;
	return false;
}

/* Pages rebuilt and moved so far, over every VM. */
static uint64_t pages_recovered(const struct pager *pg)
{
	uint64_t n = 0;

	for (const struct vm *vm = pg->vms; vm; vm = vm->next)
		n += vm->st.rebuilt_pages + vm->st.moved_pages;
	return n;
}

/* Every few seconds while groups wait, and once at the end: the log. */
static void recovery_progress(struct pager *pg, uint64_t now)
{
	bool busy = !g_queue_is_empty(&pg->jobs) || pg->jobs_running;
	uint64_t cur = pages_recovered(pg);
	uint64_t done = cur > pg->rec_pages0 ? cur - pg->rec_pages0 : 0;
	double s = (double)(now - pg->rec_start_ns) / 1e9;

	if (busy && !pg->rec_start_ns) {
		pg->rec_start_ns = pg->rec_log_ns = now;
		pg->rec_pages0 = pages_recovered(pg);
		return;
	}
	if (busy && now - pg->rec_log_ns >= RECOVERY_LOG_NS) {
		pg->rec_log_ns = now;
		log_info("recovery: %u groups waiting, %u in progress; %lu "
			 "pages (%.1f MiB) rebuilt or moved in %.1f s, %.1f "
			 "MiB/s", g_queue_get_length(&pg->jobs),
			 pg->jobs_running, (unsigned long)done,
			 (double)done / 256.0, s, (double)done / 256.0 / s);
	}
	if (!busy && pg->rec_start_ns) {
		log_info("recovery complete: %lu pages (%.1f MiB) rebuilt or "
			 "moved in %.1f s, %.1f MiB/s", (unsigned long)done,
			 (double)done / 256.0, s,
			 s > 0 ? (double)done / 256.0 / s : 0.0);
		pg->rec_start_ns = 0;
	}
}

static void job_tick(struct evl *loop, struct evl_timer *t)
{
	struct pager *pg = (struct pager *)((char *)t -
		offsetof(struct pager, job_timer));
	double rate = (double)pg->cfg.recovery_mibps * 256.0;	/* pages/s */
	uint64_t now = evl_now_ns();
	unsigned n = g_queue_get_length(&pg->jobs);

	pg->tokens += rate * (double)(now - pg->tokens_ns) / 1e9;
	pg->tokens_ns = now;
	if (pg->tokens > rate / 10 + PG_MAX_ROWS)
		pg->tokens = rate / 10 + PG_MAX_ROWS;	/* a 100 ms burst */
	while (n-- && pg->jobs_running < JOBS_MAX) {
		struct job_ref *ref = g_queue_pop_head(&pg->jobs);
		struct vm *vm = ref->vm;
		unsigned rows;

		if (vm->dead) {
			vm_put(vm);
			g_free(ref);
			continue;
		}
		rows = geo_of(vm)->rows;
		if (pg->tokens < rows) {
			g_queue_push_head(&pg->jobs, ref);
			break;
		}
		pg_group(vm->groups, ref->g)->flags &= (uint8_t)~PG_F_QUEUED;
		if (job_start(ref) == -EAGAIN) {
			pg_group(vm->groups, ref->g)->flags |= PG_F_QUEUED;
			g_queue_push_tail(&pg->jobs, ref);
			continue;
		}
		pg->tokens -= rows;
		vm_put(vm);
		g_free(ref);
	}
	if (now - pg->drain_scan_ns > DRAIN_SCAN_NS) {
		pg->drain_scan_ns = now;
		drain_progress(pg, true);
	} else {
		drain_progress(pg, false);
	}
	recovery_progress(pg, now);
	if (!g_queue_is_empty(&pg->jobs) || pg->jobs_running || draining(pg))
		evl_timer_arm(loop, t, JOB_TICK_NS);
}

/* Run the job tick now: something was queued, or a job ended. */
void jobs_kick(struct pager *pg)
{
	if (pg)
		evl_timer_arm(pg->loop, &pg->job_timer, 0);
}

void jobs_init(struct pager *pg)
{
	g_queue_init(&pg->jobs);
	evl_timer_init(&pg->job_timer, job_tick);
	pg->tokens_ns = evl_now_ns();
}

void jobs_stop(struct pager *pg)
{
	struct job_ref *ref;

	evl_timer_cancel(pg->loop, &pg->job_timer);
	while ((ref = g_queue_pop_head(&pg->jobs))) {
		vm_put(ref->vm);
		g_free(ref);
	}
}

int pager_drain(struct pager *pg, const char *name, char *why, size_t len)
{
	int i = remote_find(pg->remote, name);
	struct pg_server *ps;

	if (i < 0) {
		snprintf(why, len, "'%s' is not one of this memxd's servers",
			 name);
		return -ENOENT;
	}
	ps = &remote_pg(pg->remote)[i];
	if (ps->dead) {
		snprintf(why, len, "%s is dead: its pages are being rebuilt "
			 "elsewhere already", name);
		return -EHOSTDOWN;
	}
	if (!ps->draining)
		log_info("draining memory server %s: %lu group slots move to "
			 "other servers while the VMs run", name,
			 (unsigned long)ps->groups);
	ps->draining = true;
	drain_progress(pg, true);
	jobs_kick(pg);
	return 0;
}

/* ---- a server failed ---- */

struct fail_ctx {
	struct vm *vm;
	uint64_t lost_pages;
};

/* Group @g of ctx->vm just became LOST: account for its pages. */
static void group_lost(struct fail_ctx *c, uint64_t g, struct pg_group *grp)
{
	struct vm *vm = c->vm;
	const struct pg_geometry *geo = geo_of(vm);
	uint64_t first = UINT64_MAX, last = 0, n = 0;

	for (unsigned slot = 0; slot < geo->width; slot++) {
		if (!(grp->lost & (1u << slot)))
			continue;
		for (unsigned row = 0; row < geo->rows; row++) {
			uint64_t p = pg_page(geo, g, slot, row);
			uint8_t *e;

			if (p >= vm->npages)
				continue;
			e = &vm->pt[p];
			switch (pt_state(*e)) {
			case PS_REMOTE:
				if (*e & PT_CACHED) {
					/* A prefetched copy survives here. */
					struct cache_ent *ce =
						g_hash_table_lookup(vm->cache, &p);

					if (ce && pwrite(vm->spill_fd, ce->buf,
							 PAGE, (off_t)(p * PAGE)) ==
					    PAGE) {
						cache_drop(vm, p, false);
						pt_set_state(e, PS_SPILLED);
						*e &= (uint8_t)~PT_HAS_REMOTE;
						break;
					}
				}
				/* fall through */
			case PS_FETCHING:
				n++;
				first = p < first ? p : first;
				last = p > last ? p : last;
				break;
			case PS_RESIDENT:
			case PS_EVICTING:
				/* Its server copy is gone: store it again. */
				if (*e & PT_HAS_REMOTE)
					*e = (uint8_t)((*e & ~PT_HAS_REMOTE) |
						       PT_DIRTY);
				break;
			default:
				*e &= (uint8_t)~PT_HAS_REMOTE;
				break;
			}
		}
	}
	c->lost_pages += n;
	vm->st.lost_pages += n;
	if (n)
		log_err("vm %s: DATA LOST: group %lu lost two servers; %lu "
			"pages between GPAS pages %lu and %lu (offsets %#lx-"
			"%#lx) are gone and will raise memory errors; see "
			"memxctl status", vm->name, (unsigned long)g,
			(unsigned long)n, (unsigned long)first,
			(unsigned long)last, (unsigned long)(first * PAGE),
			(unsigned long)(last * PAGE + PAGE - 1));
}

static void group_failed(uint64_t g, struct pg_group *grp, void *arg)
{
	struct fail_ctx *c = arg;

	if (grp->state == PG_LOST)
		group_lost(c, g, grp);
	else if (grp->state == PG_DEGRADED)
		job_queue(c->vm, g);
	/* REBUILDING: the running job sees the change when it ends. */
}

void pager_server_failed(void *arg, unsigned idx, const char *why)
{
	struct pager *pg = arg;

	for (struct vm *vm = pg->vms; vm; vm = vm->next) {
		struct fail_ctx c = { vm, 0 };
		uint64_t lost;

		if (vm->dead)
			continue;
		lost = pg_server_failed(vm->groups, idx, group_failed, &c);
		log_warn("vm %s: server %s failed (%s): %lu groups to rebuild, "
			 "%lu groups lost (%lu pages)", vm->name,
			 remote_server(pg->remote, idx)->name, why,
			 (unsigned long)g_queue_get_length(&pg->jobs),
			 (unsigned long)lost, (unsigned long)c.lost_pages);
		/* Faults queued on it retry now, degraded. */
		pwait_drain(vm);
	}
	jobs_kick(pg);
}

/* ---- reporting ---- */

uint64_t group_lost_ranges(struct vm *vm, GString *o, const char *prefix)
{
	const struct pg_geometry *geo = geo_of(vm);
	uint64_t per = pg_group_pages(geo), first = UINT64_MAX, last = 0;
	uint64_t n = 0;

	/* Only LOST groups hold lost pages: walk those, in GPAS order. */
	for (uint64_t g = 0; g <= pg_ngroups(vm->groups); g++) {
		const struct pg_group *grp = g < pg_ngroups(vm->groups) ?
					     pg_group(vm->groups, g) : NULL;
		uint64_t end = (g + 1) * per < vm->npages ? (g + 1) * per
							   : vm->npages;

		for (uint64_t p = g * per; grp && grp->state == PG_LOST &&
		     p < end; p++) {
			if (pt_state(vm->pt[p]) != PS_REMOTE ||
			    !(grp->lost & (1u << (p % per % geo->width))))
				continue;
			n++;
			if (first != UINT64_MAX && p == last + 1) {
				last = p;
				continue;
			}
			if (first != UINT64_MAX)
				g_string_append_printf(o, "%s%lu-%lu\n", prefix,
						       (unsigned long)first,
						       (unsigned long)last);
			first = last = p;
		}
	}
	if (first != UINT64_MAX)
		g_string_append_printf(o, "%s%lu-%lu\n", prefix,
				       (unsigned long)first, (unsigned long)last);
	return n;
}
