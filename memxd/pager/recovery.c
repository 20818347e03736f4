// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * recovery.c - rebuilding and moving group slots, drain, and what a
 * server's failure costs (recovery.h).
 */
#include "recovery.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "vm.h"

#define JOB_TICK_NS	(10ull * 1000000ull)
#define JOBS_MAX	16u		/* groups rebuilt or moved at once */
#define DRAIN_SCAN_NS	(500ull * 1000000ull)
#define RECOVERY_LOG_NS	(5000ull * 1000000ull)

struct recovery {
	struct pager *pg;
	GQueue jobs;			/* struct job_ref, waiting */
	unsigned running;
	struct evl_timer tick;
	double tokens;			/* pages the rate allows now */
	uint64_t tokens_ns, drain_scan_ns;
	uint64_t start_ns, log_ns, pages0;	/* the progress log */
	uint64_t parity_pages;		/* written by parity recomputes */
};

struct job_ref {
	struct vm *vm;
	uint64_t g;
};

/* One group slot being rebuilt or moved. */
struct job {
	struct vm *vm;
	uint64_t g;
	unsigned slot, target, old;
	bool parity;			/* only the parity was bad: recomputed */
	bool move;
	unsigned pending, nsrc;
	unsigned srcslot[PG_MAX_SLOTS];	/* the slot each source is */
	unsigned tries;			/* reads again after a failed check */
	int err;
	uint8_t status;
	uint8_t *src;		/* nsrc slabs: rows pages, then their tags */
	uint8_t *out;		/* one slab */
	uint64_t written;
};

/* Reads again of a job whose pages fail their checks, before it gives up
 * on them. */
#define JOB_TRIES	2u

/* A slab: a slot's rows pages, then their tags (if the VM has tags). */
static size_t slab_bytes(struct vm *vm)
{
	return vm_geo(vm)->rows * vm_page_bytes(vm);
}

static struct pg_server *placement(struct vm *vm)
{
	return vm->pg->placement;
}

static void kick(struct recovery *rec)
{
	evl_timer_arm(rec->pg->loop, &rec->tick, 0);
}

static void free_rows(struct vm *vm, unsigned server, uint64_t g)
{
	const struct pg_geometry *geo = vm_geo(vm);

	remote_call(vm->pg->remote, &vm->sess[server], RMAP_T_FREE, 0,
		    pg_key(geo, g, 0), geo->rows, NULL, 0, NULL, 0, NULL, NULL);
}

/* ---- what needs a job ---- */

void recovery_queue(struct vm *vm, uint64_t g)
{
	struct pg_group *grp = pg_group(vm->groups, g);
	struct recovery *rec = vm->pg->rec;
	struct job_ref *j;

	if (grp->flags & PG_F_QUEUED)
		return;
	j = g_new(struct job_ref, 1);
	j->vm = vm;
	j->g = g;
	grp->flags |= PG_F_QUEUED;
	vm_get(vm);
	g_queue_push_tail(&rec->jobs, j);
	kick(rec);
}

void recovery_parity_bad(struct vm *vm, uint64_t g)
{
	struct pg_group *grp = pg_group(vm->groups, g);
	unsigned par = pg_parity_slot(vm_geo(vm));

	switch (grp->state) {
	case PG_OK:
		grp->state = PG_DEGRADED;
		grp->bad = (uint8_t)par;
		grp->flags &= (uint8_t)~PG_F_MOVE;
		recovery_queue(vm, g);
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

bool recovery_slot_full(struct vm *vm, uint64_t page)
{
	unsigned slot, row;
	uint64_t g;
	struct pg_group *grp = vm_group_of(vm, page, &g, &slot, &row);

	if (pg_spare(vm->groups, g, placement(vm), vm->pg->nservers) ==
	    PG_NO_SERVER)
		return false;
	if (grp->state == PG_OK) {
		grp->state = PG_DEGRADED;
		grp->bad = (uint8_t)slot;
		grp->flags |= PG_F_MOVE;
		recovery_queue(vm, g);
	}
	return grp->state != PG_LOST;
}

/* ---- jobs ---- */

static void job_finish(struct job *j);

static void job_io_done(struct job *j, int err, uint8_t status)
{
	if (err || status) {
		j->err = err ? err : -EIO;
		j->status = status;
	}
}

static void job_write_done(void *arg, int err, uint8_t status)
{
	struct job *j = arg;

	job_io_done(j, err, status);
	if (--j->pending == 0)
		job_finish(j);
}

static void job_read(struct job *j);

/*
 * Check the data pages of slot @slot in @slab whose copy is the page
 * (pt_copy_authoritative) against their MACs; those that fail go to
 * @bad.  Returns how many.
 */
static unsigned check_slab(struct job *j, unsigned slot, const uint8_t *slab,
			   uint64_t *bad)
{
	struct vm *vm = j->vm;
	const struct pg_geometry *geo = vm_geo(vm);
	const uint8_t *tags = slab + (size_t)geo->rows * PAGE;
	uint8_t *plain = vm->pg->scratch;
	unsigned n = 0;

	if (slot >= geo->width)
		return 0;	/* the parity: its rows' pages are checked */
	for (unsigned r = 0; r < geo->rows; r++) {
		uint64_t p = pg_page(geo, j->g, slot, r);

		if (p >= vm->npages || !pt_copy_authoritative(&vm->pt, p))
			continue;
		/* Checked as plaintext; stored as it is. */
		memcpy(plain, slab + (size_t)r * PAGE, PAGE);
		integrity_crypt(&vm->integ, p, tags + (size_t)r * TAG_LEN,
				plain);
		if (!integrity_check(&vm->integ, p, pt_version(&vm->pt, p),
				     plain, tags + (size_t)r * TAG_LEN))
			bad[n++] = p;
	}
	return n;
}

/*
 * Every page of the job's group it read or rebuilt must match its MAC:
 * a corrupt page is never rebuilt elsewhere as if it were good.  After
 * JOB_TRIES reads again, a rebuilt page (or a page it was rebuilt from)
 * that still fails has no good copy: LOST if that copy was all there was,
 * stored again if the page is resident.  A moved copy that fails stays
 * as it is: its read finds it bad and rebuilds it from the parity.  The
 * rows are written as they were rebuilt all the same, so that the parity
 * says what the servers hold.  False if the job reads again.
 */
static bool job_check(struct job *j)
{
	struct vm *vm = j->vm;
	const struct pg_geometry *geo = vm_geo(vm);
	uint64_t bad[(PG_MAX_SLOTS + 1) * PG_MAX_ROWS];
	unsigned n;

	if (!vm->integ.on)
		return true;
	n = check_slab(j, j->slot, j->out, bad);
	for (unsigned i = 0; i < j->nsrc; i++)
		if (j->srcslot[i] != j->slot)
			n += check_slab(j, j->srcslot[i],
					j->src + i * slab_bytes(vm), bad + n);
	if (!n)
		return true;
	vm->st.integrity_failures += n;
	log_ratelimited(2000, LOG_LEVEL_ERR, "vm %s: %s slot %u of group %lu: "
			"%u pages failed their integrity check (first: page "
			"%lu)%s", vm->name, j->move ? "moving" : "rebuilding",
			j->slot, (unsigned long)j->g, n, (unsigned long)bad[0],
			j->tries < JOB_TRIES ? "; read again" : "");
	if (j->tries++ < JOB_TRIES) {
		job_read(j);
		return false;
	}
	for (unsigned i = 0; i < n && !j->move; i++) {
		uint64_t p = bad[i];

		if (pt_state(&vm->pt, p) == PS_REMOTE &&
		    !pt_has(&vm->pt, p, PT_CACHED)) {
			pt_lost(&vm->pt, p);
			vm->st.integrity_lost++;
			log_err("vm %s: DATA LOST: page %lu (GPAS offset %#lx) "
				"has no copy that passes its integrity check "
				"(group %lu lost slot %u meanwhile): every "
				"access to it gets a memory error", vm->name,
				(unsigned long)p, (unsigned long)(p * PAGE),
				(unsigned long)j->g, j->slot);
		} else {
			/* Its bytes are here: stored again. */
			pt_remote_lost(&vm->pt, p);
		}
	}
	(void)geo;
	return true;
}

/* The slot's rows are read: the missing one is the XOR of the others
 * (or the copy), checked; store its non-zero rows on the target. */
static void job_read_done(void *arg, int err, uint8_t status)
{
	struct job *j = arg;
	struct vm *vm = j->vm;
	const struct pg_geometry *geo = vm_geo(vm);
	size_t slab = slab_bytes(vm), pages = (size_t)geo->rows * PAGE;
	const uint8_t *tags = j->out + pages;
	size_t tlen = vm_page_bytes(vm) - PAGE;

	job_io_done(j, err, status);
	if (--j->pending)
		return;
	if (j->err || vm->dead || !vm_session_ready(vm, j->target)) {
		if (!j->err)
			j->err = -ENOTCONN;
		job_finish(j);
		return;
	}
	/* Pages and tags alike: the XOR of the others. */
	memcpy(j->out, j->src, slab);
	for (unsigned i = 1; i < j->nsrc; i++) {
		pg_xor(j->out, j->src + i * slab, pages);
		tag_xor(j->out + pages, j->src + i * slab + pages,
			slab - pages);
	}
	if (!job_check(j))
		return;		/* read again */
	/* Only non-zero rows are stored: absent reads as zero. */
	j->pending = 1;
	for (unsigned r = 0; r < geo->rows;) {
		unsigned n = 0;
		struct iovec iov[2];

		if (page_is_zero(j->out + (size_t)r * PAGE) &&
		    (!tlen || !memcmp(tags + r * tlen, vm->pg->zero_page,
				      tlen))) {
			r++;
			continue;
		}
		while (r + n < geo->rows && n < RMAP_MAX_PAGES &&
		       (!page_is_zero(j->out + (size_t)(r + n) * PAGE) ||
			(tlen && memcmp(tags + (r + n) * tlen,
					vm->pg->zero_page, tlen))))
			n++;
		iov[0] = (struct iovec){ j->out + (size_t)r * PAGE,
					 (size_t)n * PAGE };
		iov[1] = (struct iovec){ (uint8_t *)tags + r * tlen, n * tlen };
		j->pending++;
		j->written += n;
		if (remote_call(vm->pg->remote, &vm->sess[j->target],
				RMAP_T_WRITE, vm_tag_flags(vm),
				pg_key(geo, j->g, r), n, iov, tlen ? 2 : 1,
				NULL, 0, job_write_done, j))
			job_write_done(j, -ENOTCONN, 0);
		r += n;
	}
	job_write_done(j, 0, 0);
}

/* The job's reads and writes are done: the group takes the result. */
static void job_apply(struct vm *vm, struct job *j)
{
	struct pg_group *grp = pg_group(vm->groups, j->g);
	const char *target = remote_server(vm->pg->remote, j->target)->name;
	bool same;

	same = grp->state == PG_REBUILDING && grp->bad == j->slot &&
	       !(grp->flags & PG_F_MOVE) == !j->move;
	if (!same || j->err) {
		if (j->err && same)
			log_ratelimited(5000, LOG_LEVEL_WARN, "vm %s: %s slot "
					"%u of group %lu onto %s failed (%s); "
					"it is tried again", vm->name,
					j->move ? "moving" : "rebuilding",
					j->slot, (unsigned long)j->g, target,
					j->status ? rmap_status_name(j->status)
						  : strerror(-j->err));
		if (j->written && vm_session_ready(vm, j->target))
			free_rows(vm, j->target, j->g);
		if (grp->state == PG_REBUILDING) {
			grp->state = PG_DEGRADED;
			recovery_queue(vm, j->g);
		}
		return;
	}
	/* The old server, if it still answers, lets the rows go. */
	if (!placement(vm)[j->old].dead && vm_session_ready(vm, j->old))
		free_rows(vm, j->old, j->g);
	pg_move_slot(vm->groups, j->g, j->slot, j->target, placement(vm));
	grp->state = PG_OK;
	grp->flags &= (uint8_t)~PG_F_MOVE;
	if (j->move) {
		vm->st.moved_groups++;
		vm->st.moved_pages += j->written;
	} else if (j->parity) {
		vm->st.parity_recomputed++;
		vm->pg->rec->parity_pages += j->written;
	} else {
		vm->st.rebuilt_groups++;
		vm->st.rebuilt_pages += j->written;
	}
	log_debug("vm %s: group %lu slot %u %s onto %s (%lu pages)", vm->name,
		  (unsigned long)j->g, j->slot, j->move ? "moved" : "rebuilt",
		  target, (unsigned long)j->written);
}

static void job_finish(struct job *j)
{
	struct vm *vm = j->vm;
	struct recovery *rec = vm->pg->rec;

	if (!vm->dead) {
		job_apply(vm, j);
		/* What waited for the group can go now. */
		vm->up->changed(vm);
	}
	rec->running--;
	free(j->src);
	free(j->out);
	free(j);
	vm_put(vm);
	kick(rec);
}

/* Start the job of @ref's group: 0 started or dropped, -EAGAIN later. */
static int job_start(struct job_ref *ref)
{
	struct vm *vm = ref->vm;
	struct recovery *rec = vm->pg->rec;
	const struct pg_geometry *geo = vm_geo(vm);
	struct pg_group *grp = pg_group(vm->groups, ref->g);
	size_t slab = slab_bytes(vm);
	unsigned target, src[PG_MAX_SLOTS], nsrc = 0;
	struct job *j;

	if (grp->state != PG_DEGRADED && grp->state != PG_REBUILDING)
		return 0;		/* resolved meanwhile, or lost */
	/* Cut off from most servers: nothing moves until they answer;
	 * nor while the VM migrates (migrate.h). */
	if (vm->pg->frozen || vm->mig != VM_MIG_NONE)
		return -EAGAIN;
	if (grp->flags & PG_F_MOVE) {
		src[nsrc++] = grp->bad;
	} else {
		for (unsigned s = 0; s < pg_slots(geo); s++)
			if (s != grp->bad)
				src[nsrc++] = s;
	}
	for (unsigned i = 0; i < nsrc; i++) {
		unsigned srv = grp->srv[src[i]];

		if (!vm_session_ready(vm, srv) ||
		    !vm->pg->placement[srv].usable) {
			/* A session reopens, or a server is back. */
			grp->state = PG_DEGRADED;
			return -EAGAIN;
		}
	}
	target = pg_spare(vm->groups, ref->g, placement(vm), vm->pg->nservers);
	if (target == PG_NO_SERVER && grp->flags & PG_F_MOVE) {
		/*
		 * Nowhere to move a live slot to: it stays.  A drain asks
		 * again (drain_progress); a full server's pages spill.
		 */
		grp->state = PG_OK;
		grp->flags &= (uint8_t)~PG_F_MOVE;
		return 0;
	}
	if (target == PG_NO_SERVER || !vm_session_ready(vm, target)) {
		log_ratelimited(10000, LOG_LEVEL_WARN, "vm %s: no server can "
				"take slot %u of group %lu (each needs a server "
				"holding nothing of its group, with room); "
				"waiting for one", vm->name, grp->bad,
				(unsigned long)ref->g);
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
	/* A parity slot on a live server was bad, not its server. */
	j->parity = geo->parity && j->slot == pg_parity_slot(geo) &&
		    !j->move && vm->pg->placement[j->old].usable;
	j->nsrc = nsrc;
	memcpy(j->srcslot, src, sizeof(src));
	rec->running++;
	vm_get(vm);
	job_read(j);
	return 0;
}

/* Read every source slot of @j (READZ), pages and tags. */
static void job_read(struct job *j)
{
	struct vm *vm = j->vm;
	const struct pg_geometry *geo = vm_geo(vm);
	struct pg_group *grp = pg_group(vm->groups, j->g);
	size_t slab = slab_bytes(vm);

	j->pending = 1;
	for (unsigned i = 0; i < j->nsrc; i++) {
		j->pending++;
		if (remote_call(vm->pg->remote,
				&vm->sess[grp->srv[j->srcslot[i]]],
				RMAP_T_READZ, vm_tag_flags(vm),
				pg_key(geo, j->g, 0), geo->rows, NULL, 0,
				j->src + i * slab, (uint32_t)slab,
				job_read_done, j))
			job_read_done(j, -ENOTCONN, 0);
	}
	job_read_done(j, 0, 0);
}

/* ---- drain ---- */

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
		recovery_queue(vm, g);
	}
}

static void leave_done(void *arg, int err, uint8_t status)
{
	const char *name = arg;

	if (err || status)
		log_warn("memory server %s drained, but telling it to leave "
			 "failed (%s)", name,
			 err ? strerror(-err) : rmap_status_name(status));
	else
		log_info("memory server %s drained: it holds none of our pages "
			 "and was told it may leave", name);
}

/* Drained servers: sessions closed and LEAVE sent once they hold nothing. */
static void drain_progress(struct pager *pg, bool scan)
{
	struct remote *r = pg->remote;

	for (unsigned i = 0; i < pg->nservers; i++) {
		if (!pg->placement[i].draining || remote_server(r, i)->drained)
			continue;
		if (pg->placement[i].groups) {
			for (struct vm *vm = pg->vms; scan && vm; vm = vm->next)
				if (!vm->dead)
					drain_scan(vm, i);
			continue;
		}
		/* UNREG frees whatever is left there (nothing, normally). */
		for (struct vm *vm = pg->vms; vm; vm = vm->next)
			if (vm->sess[i].r)
				remote_session_close(r, &vm->sess[i]);
		remote_leave(r, i, leave_done, remote_server(r, i)->name);
	}
}

static bool draining(const struct pager *pg)
{
	for (unsigned i = 0; i < pg->nservers; i++)
		if (pg->placement[i].draining &&
		    !remote_server(pg->remote, i)->drained)
			return true;
	return false;
}

int recovery_drain(struct pager *pg, unsigned idx, char *why, size_t len)
{
	struct pg_server *ps = &pg->placement[idx];
	const char *name = remote_server(pg->remote, idx)->name;

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
	kick(pg->rec);
	return 0;
}

/* ---- the tick: start jobs within the rate, log progress ---- */

/* Pages rebuilt, moved or recomputed so far, over every VM. */
static uint64_t pages_recovered(const struct pager *pg)
{
	uint64_t n = pg->rec->parity_pages;

	for (const struct vm *vm = pg->vms; vm; vm = vm->next)
		n += vm->st.rebuilt_pages + vm->st.moved_pages;
	return n;
}

/* Every few seconds while groups wait, and once at the end: the log. */
static void progress(struct recovery *rec, uint64_t now)
{
	bool busy = !g_queue_is_empty(&rec->jobs) || rec->running;
	uint64_t cur = pages_recovered(rec->pg);
	uint64_t done = cur > rec->pages0 ? cur - rec->pages0 : 0;
	double s = (double)(now - rec->start_ns) / 1e9;

	if (busy && !rec->start_ns) {
		rec->start_ns = rec->log_ns = now;
		rec->pages0 = cur;
		return;
	}
	if (busy && now - rec->log_ns >= RECOVERY_LOG_NS) {
		rec->log_ns = now;
		log_info("recovery: %u groups waiting, %u in progress; %lu "
			 "pages (%.1f MiB) rebuilt or moved in %.1f s, %.1f "
			 "MiB/s", g_queue_get_length(&rec->jobs), rec->running,
			 (unsigned long)done, (double)done / 256.0, s,
			 (double)done / 256.0 / s);
	}
	if (!busy && rec->start_ns) {
		log_info("recovery complete: %lu pages (%.1f MiB) rebuilt or "
			 "moved in %.1f s, %.1f MiB/s", (unsigned long)done,
			 (double)done / 256.0, s,
			 s > 0 ? (double)done / 256.0 / s : 0.0);
		rec->start_ns = 0;
	}
}

static void tick(struct evl *loop, struct evl_timer *t)
{
	struct recovery *rec = evl_container_of(t, struct recovery, tick);
	struct pager *pg = rec->pg;
	double rate = (double)pg->cfg.recovery_mibps * 256.0;	/* pages/s */
	uint64_t now = evl_now_ns();
	unsigned n = g_queue_get_length(&rec->jobs);

	rec->tokens += rate * (double)(now - rec->tokens_ns) / 1e9;
	rec->tokens_ns = now;
	if (rec->tokens > rate / 10 + PG_MAX_ROWS)
		rec->tokens = rate / 10 + PG_MAX_ROWS;	/* a 100 ms burst */
	while (n-- && rec->running < JOBS_MAX) {
		struct job_ref *ref = g_queue_pop_head(&rec->jobs);
		struct vm *vm = ref->vm;
		unsigned rows;

		if (vm->dead) {
			vm_put(vm);
			g_free(ref);
			continue;
		}
		rows = vm_geo(vm)->rows;
		if (rec->tokens < rows) {
			g_queue_push_head(&rec->jobs, ref);
			break;
		}
		pg_group(vm->groups, ref->g)->flags &= (uint8_t)~PG_F_QUEUED;
		if (job_start(ref) == -EAGAIN) {
			pg_group(vm->groups, ref->g)->flags |= PG_F_QUEUED;
			g_queue_push_tail(&rec->jobs, ref);
			continue;
		}
		rec->tokens -= rows;
		vm_put(vm);
		g_free(ref);
	}
	if (now - rec->drain_scan_ns > DRAIN_SCAN_NS) {
		rec->drain_scan_ns = now;
		drain_progress(pg, true);
	} else {
		drain_progress(pg, false);
	}
	progress(rec, now);
	if (!g_queue_is_empty(&rec->jobs) || rec->running || draining(pg))
		evl_timer_arm(loop, t, JOB_TICK_NS);
}

unsigned recovery_pending(const struct pager *pg)
{
	return g_queue_get_length(&pg->rec->jobs) + pg->rec->running;
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
	const struct pg_geometry *geo = vm_geo(vm);
	uint64_t first = UINT64_MAX, last = 0, n = 0;

	for (unsigned slot = 0; slot < geo->width; slot++) {
		if (!(grp->lost & (1u << slot)))
			continue;
		for (unsigned row = 0; row < geo->rows; row++) {
			uint64_t p = pg_page(geo, g, slot, row);
			const uint8_t *copy;

			if (p >= vm->npages)
				continue;
			switch (pt_state(&vm->pt, p)) {
			case PS_REMOTE:
				/* A prefetched copy survives here. */
				copy = pfcache_get(&vm->cache, p);
				if (copy && pt_has(&vm->pt, p, PT_CACHED) &&
				    !spill_write(&vm->spill, p, copy)) {
					pfcache_drop(&vm->cache, p);
					pt_spilled_from_cache(&vm->pt, p);
					break;
				}
				/* fall through */
			case PS_FETCHING:
				n++;
				first = p < first ? p : first;
				last = p > last ? p : last;
				break;
			default:
				/* Its server copy is gone: store it again. */
				pt_remote_lost(&vm->pt, p);
				break;
			}
		}
	}
	c->lost_pages += n;
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
		recovery_queue(c->vm, g);
	/* REBUILDING: the running job sees the change when it ends. */
}

uint64_t recovery_server_failed(struct pager *pg, unsigned idx,
				const char *why)
{
	uint64_t total = 0;

	for (struct vm *vm = pg->vms; vm; vm = vm->next) {
		struct fail_ctx c = { vm, 0 };
		unsigned before = g_queue_get_length(&pg->rec->jobs);
		uint64_t lost;

		if (vm->dead)
			continue;
		lost = pg_server_failed(vm->groups, idx, group_failed, &c);
		log_warn("vm %s: server %s failed (%s): %u groups to rebuild, "
			 "%lu groups lost (%lu pages)", vm->name,
			 remote_server(pg->remote, idx)->name, why,
			 g_queue_get_length(&pg->rec->jobs) - before,
			 (unsigned long)lost, (unsigned long)c.lost_pages);
		total += c.lost_pages;
		/* Faults waiting on it go again, degraded. */
		vm->up->changed(vm);
	}
	kick(pg->rec);
	return total;
}

/* ---- set-up ---- */

int recovery_new(struct pager *pg)
{
	struct recovery *rec = calloc(1, sizeof(*rec));

	if (!rec)
		return -ENOMEM;
	rec->pg = pg;
	g_queue_init(&rec->jobs);
	evl_timer_init(&rec->tick, tick);
	rec->tokens_ns = evl_now_ns();
	pg->rec = rec;
	return 0;
}

void recovery_free(struct pager *pg)
{
	struct recovery *rec = pg->rec;
	struct job_ref *ref;

	if (!rec)
		return;
	evl_timer_cancel(pg->loop, &rec->tick);
	while ((ref = g_queue_pop_head(&rec->jobs))) {
		vm_put(ref->vm);
		g_free(ref);
	}
	free(rec);
	pg->rec = NULL;
}
