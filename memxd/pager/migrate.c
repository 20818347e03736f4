// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * migrate.c - a VM live-migrating between hosts (migrate.h): the
 * source's handoff, the destination's settling, and the records.
 */
#include "migrate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../log.h"
#include "vm.h"

/* How often a handoff looks whether writes are still in flight... */
#define QUIESCE_POLL_NS		(1ull * 1000000)
/* ...and for how long, before it gives up and the VM runs on here. */
#define QUIESCE_MAX_NS		(20ull * 1000000000)
/* Records kept for memxctl migrations. */
#define RECORDS_MAX		32u

/* One migration, as this memxd saw it. */
struct record {
	char vm[64], uuid[64];
	bool out;			/* handed over, or arrived */
	time_t at;			/* wall clock, for people */
	unsigned at_ms;			/* ...its milliseconds, for file names */
	char status[160];
	struct migrate_summary s;
	GString *vmm;			/* the VMM's report: key=value lines */
};

struct handoff {
	struct vm *vm;
	migrate_done_fn done;
	void *arg;
	uint64_t t0;
	struct evl_timer poll;
	bool polling;
	unsigned moves;			/* MOVEs out */
	int err;
	char why[256];
	struct migrate_summary s;
};

/* ---- records ---- */

static GQueue *records(struct pager *pg)
{
	if (!pg->migrations)
		pg->migrations = g_queue_new();
	return pg->migrations;
}

static void record_free(struct record *r)
{
	if (r->vmm)
		g_string_free(r->vmm, true);
	free(r);
}

static void record_add(struct vm *vm, bool out, const char *status,
		       const struct migrate_summary *s)
{
	GQueue *q = records(vm->pg);
	struct record *r = calloc(1, sizeof(*r));
	struct timespec now;

	if (!r)
		return;
	snprintf(r->vm, sizeof(r->vm), "%s", vm->name);
	snprintf(r->uuid, sizeof(r->uuid), "%s", vm->uuid);
	r->out = out;
	clock_gettime(CLOCK_REALTIME, &now);
	r->at = now.tv_sec;
	r->at_ms = (unsigned)(now.tv_nsec / 1000000);
	snprintf(r->status, sizeof(r->status), "%s", status);
	r->s = *s;
	g_queue_push_tail(q, r);
	while (g_queue_get_length(q) > RECORDS_MAX)
		record_free(g_queue_pop_head(q));
}

static struct record *record_last(struct pager *pg, const char *name)
{
	GQueue *q = records(pg);

	for (GList *l = q->tail; l; l = l->prev) {
		struct record *r = l->data;

		if (!strcmp(r->vm, name))
			return r;
	}
	return NULL;
}

static void record_print(const struct record *r, GString *o)
{
	struct tm tm;
	char when[32];

	gmtime_r(&r->at, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	g_string_append_printf(o,
		"migration=%s\nvm=%s\nuuid=%s\nat=%s\nstatus=%s\n"
		"gpas_pages=%lu\nresident_pages=%lu\nremote_pages=%lu\n"
		"remote_mib=%.1f\nnever_written_pages=%lu\nlost_pages=%lu\n"
		"sessions=%u\n", r->out ? "out" : "in", r->vm, r->uuid, when,
		r->status, (unsigned long)r->s.pages,
		(unsigned long)r->s.resident, (unsigned long)r->s.remote,
		(double)r->s.remote * PAGE / 1048576.0,
		(unsigned long)r->s.never, (unsigned long)r->s.lost,
		r->s.sessions);
	if (r->out)
		/*
		 * Plain memfd RAM would send every page the guest ever
		 * wrote: those resident here and those remote.
		 */
		g_string_append_printf(o, "quiesce_ms=%.3f\n"
				       "plain_memfd_mib=%.1f\n"
				       "plain_memfd_mib_is=estimated: resident "
				       "and remote pages, each sent once\n",
				       (double)r->s.quiesce_us / 1000.0,
				       (double)(r->s.resident + r->s.remote) *
				       PAGE / 1048576.0);
	else
		g_string_append_printf(o, "resident_not_sent=%lu\n"
				       "stale_copies_dropped=%lu\n",
				       (unsigned long)r->s.remote_again,
				       (unsigned long)r->s.stale_dropped);
	if (r->vmm)
		g_string_append(o, r->vmm->str);
}

/* The record as a key=value file in the report directory, if any. */
static void record_write(struct pager *pg, const struct record *r)
{
	const char *dir = pg->cfg.report_dir;
	GString *o;
	char path[512], tmp[520];
	int fd;

	if (!dir || !dir[0])
		return;
	if (mkdir(dir, 0750) && errno != EEXIST) {
		log_warn("cannot make the migration report directory %s: %s",
			 dir, strerror(errno));
		return;
	}
	/*
	 * To the millisecond: a VM that comes back and leaves again within
	 * a second must not overwrite its report.
	 */
	snprintf(path, sizeof(path), "%s/%s-%ld.%03u-%s.report", dir, r->vm,
		 (long)r->at, r->at_ms, r->out ? "out" : "in");
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	o = g_string_new(NULL);
	record_print(r, o);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0 || write(fd, o->str, o->len) != (ssize_t)o->len ||
	    fsync(fd) || rename(tmp, path))
		log_warn("cannot write the migration report %s: %s", path,
			 strerror(errno));
	else
		log_info("vm %s: migration report in %s", r->vm, path);
	if (fd >= 0)
		close(fd);
	g_string_free(o, true);
}

void migrate_dump(struct pager *pg, GString *out)
{
	GQueue *q = records(pg);

	for (GList *l = q->head; l; l = l->next)
		record_print(l->data, out);
}

/*
 * The first of @kv's keys that memxd writes in a record of its own, in
 * or out (record_print, the one list of them), copied to @key; NULL if
 * none.
 */
static const char *own_key_in(const struct record *r, const char *kv,
			      char *key, size_t len)
{
	struct record bare = *r;
	GString *own = g_string_new("\n");
	const char *found = NULL;

	bare.vmm = NULL;
	bare.out = true;
	record_print(&bare, own);
	bare.out = false;
	record_print(&bare, own);
	for (const char *l = kv; *l && !found; ) {
		size_t n = strcspn(l, "=\n");
		g_autofree char *line = g_strdup_printf("\n%.*s=", (int)n, l);

		if (strstr(own->str, line)) {
			snprintf(key, len, "%.*s", (int)n, l);
			found = key;
		}
		l += strcspn(l, "\n");
		l += *l == '\n';
	}
	g_string_free(own, true);
	return found;
}

int migrate_report(struct pager *pg, const char *name, const char *kv,
		   char *why, size_t len)
{
	struct record *r = record_last(pg, name);
	char key[64];

	if (!r) {
		snprintf(why, len, "no migration of vm %s on record", name);
		return -ENOENT;
	}
	if (own_key_in(r, kv, key, sizeof(key))) {
		snprintf(why, len, "'%s' is a key of memxd's own record: a "
			 "VMM's report names its own counters", key);
		return -EINVAL;
	}
	if (!r->vmm)
		r->vmm = g_string_new(NULL);
	g_string_assign(r->vmm, kv);
	if (r->vmm->len && r->vmm->str[r->vmm->len - 1] != '\n')
		g_string_append_c(r->vmm, '\n');
	log_info("vm %s: its VMM's account of the migration %s: %s", r->vm,
		 r->out ? "out" : "in", kv);
	record_write(pg, r);
	return 0;
}

/* ---- the source: handoff ---- */

static void summarize(struct vm *vm, struct migrate_summary *s)
{
	const struct pagetable *pt = &vm->pt;

	s->pages = vm->npages;
	s->resident = pt_resident(pt);
	for (uint64_t p = 0; p < vm->npages; p++) {
		switch (pt_state(pt, p)) {
		case PS_REMOTE:
		case PS_FETCHING:
			s->remote++;
			break;
		case PS_NEVER:
			s->never++;
			break;
		case PS_LOST:
			s->lost++;
			break;
		default:
			break;
		}
	}
}

/* Pages out of this host's spill file: they cannot migrate. */
static uint64_t spilled(const struct vm *vm)
{
	uint64_t n = 0;

	for (uint64_t p = 0; p < vm->npages; p++)
		n += pt_state(&vm->pt, p) == PS_SPILLED;
	return n;
}

/* Writes (or frees) of the VM's pages still in flight to the servers. */
static bool writes_in_flight(struct vm *vm)
{
	if (pt_evicting(&vm->pt))
		return true;
	for (uint64_t g = 0; g < vm->state.ngroups; g++) {
		const struct pg_group *grp = pg_group(vm->groups, g);

		if (grp->writers || grp->deltas)
			return true;
	}
	for (uint64_t p = 0; p < vm->npages; p++)
		if (pt_has(&vm->pt, p, PT_WRITING))
			return true;
	return false;
}

static void settle_done(void *arg, int err);

/* MOVE every open session of @vm, movable or settled.  How many went. */
static unsigned move_all(struct vm *vm, bool movable,
			 void (*done)(void *arg, int err), void *arg)
{
	unsigned n = 0;

	for (unsigned i = 0; i < vm->nsess; i++) {
		void *a = arg;

		if (!vm_session_ready(vm, i))
			continue;
		if (!movable && !(a = strdup(vm->name)))
			continue;
		if (remote_session_move(vm->pg->remote, &vm->sess[i], i,
					movable, done, a)) {
			if (!movable)
				free(a);
			continue;
		}
		n++;
	}
	return n;
}

static void handoff_free(struct handoff *h)
{
	struct vm *vm = h->vm;

	if (h->polling || h->moves)
		return;
	vm->pg->handoffs = g_list_remove(vm->pg->handoffs, h);
	vm_put(vm);
	free(h);
}

static void handoff_end(struct handoff *h)
{
	struct vm *vm = h->vm;

	if (vm->dead) {
		/* Its VMM went away meanwhile: unregistered, nobody to tell. */
		handoff_free(h);
		return;
	}
	if (h->err) {
		log_warn("vm %s: migration handoff failed, it runs on here: %s",
			 vm->name, h->why);
		/* Sessions made movable are this host's alone again. */
		if (h->s.sessions)
			move_all(vm, false, settle_done, NULL);
		vm->mig = VM_MIG_NONE;
		vm->up->changed(vm);
		h->done(h->arg, h->err, h->why, NULL);
		handoff_free(h);
		return;
	}
	log_info("vm %s handed over to its destination after %.1f ms of "
		 "quiescing: %lu pages resident (sent by its VMM), %lu remote "
		 "pages (%.1f MiB) stay on the servers, %u sessions movable",
		 vm->name, (double)h->s.quiesce_us / 1000.0,
		 (unsigned long)h->s.resident, (unsigned long)h->s.remote,
		 (double)h->s.remote * PAGE / 1048576.0, h->s.sessions);
	record_add(vm, true, "handed-over", &h->s);
	pager_detach(vm->pg, vm);
	h->done(h->arg, 0, NULL, &h->s);
	handoff_free(h);
}

static void move_done(void *arg, int err)
{
	struct handoff *h = arg;

	if (err && !h->err) {
		h->err = err;
		snprintf(h->why, sizeof(h->why), "a memory server did not "
			 "let a session of the VM move: %s", strerror(-err));
	}
	if (--h->moves == 0)
		handoff_end(h);
}

static void handoff_poll(struct evl *loop, struct evl_timer *t)
{
	struct handoff *h = evl_container_of(t, struct handoff, poll);
	struct vm *vm = h->vm;
	uint64_t now = evl_now_ns();

	h->polling = false;
	if (vm->dead) {
		handoff_free(h);
		return;
	}
	if (writes_in_flight(vm)) {
		if (now - h->t0 < QUIESCE_MAX_NS) {
			h->polling = true;
			evl_timer_arm(loop, t, QUIESCE_POLL_NS);
			return;
		}
		h->err = -ETIMEDOUT;
		snprintf(h->why, sizeof(h->why), "writes of the VM's pages to "
			 "the memory servers were still in flight after %llu "
			 "s (are the servers answering?)",
			 QUIESCE_MAX_NS / 1000000000ull);
		handoff_end(h);
		return;
	}
	h->s.quiesce_us = (now - h->t0) / 1000;
	summarize(vm, &h->s);
	h->moves = 1;		/* held while they are sent */
	h->s.sessions = move_all(vm, true, move_done, h);
	h->moves += h->s.sessions;
	move_done(h, 0);
}

int migrate_handoff(struct vm *vm, migrate_done_fn done, void *arg,
		    char *why, size_t len)
{
	struct handoff *h;
	uint64_t n;

	if (vm->mig != VM_MIG_NONE) {
		snprintf(why, len, "vm %s is %s", vm->name,
			 vm->mig == VM_MIG_OUT ? "already being handed over" :
			 "migrating in and does not run here yet");
		return -EBUSY;
	}
	n = spilled(vm);
	if (n) {
		snprintf(why, len, "%lu pages of vm %s are in this host's "
			 "spill file, which does not migrate: give the memory "
			 "servers room (or add one) until memxctl shows no "
			 "spilled pages, then migrate", (unsigned long)n,
			 vm->name);
		return -EXDEV;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	vm_get(vm);
	h->vm = vm;
	h->done = done;
	h->arg = arg;
	h->t0 = evl_now_ns();
	vm->mig = VM_MIG_OUT;	/* no eviction or rebuild starts now */
	vm->pg->handoffs = g_list_prepend(vm->pg->handoffs, h);
	evl_timer_init(&h->poll, handoff_poll);
	h->polling = true;
	evl_timer_arm(vm->pg->loop, &h->poll, 0);
	log_info("vm %s: migration handoff: waiting for its writes in flight",
		 vm->name);
	return 0;
}

/* ---- the destination ---- */

void migrate_arrived(struct vm *vm)
{
	struct migrate_summary s = {
		.remote_again = vm->adopted.remote_again,
		.stale_dropped = vm->adopted.stale_dropped,
		.sessions = vm->adopted.sessions,
	};

	summarize(vm, &s);
	record_add(vm, false, "arrived", &s);
	log_info("vm %s arrived by live migration: %lu pages came in the "
		 "stream, %lu remote pages (%.1f MiB) stay where they were "
		 "(%lu of them resident on the source but not sent; %lu stale "
		 "copies the stream left dropped), %u sessions re-attached; "
		 "nothing goes out to the servers until it runs here",
		 vm->name, (unsigned long)s.resident, (unsigned long)s.remote,
		 (double)s.remote * PAGE / 1048576.0,
		 (unsigned long)s.remote_again, (unsigned long)s.stale_dropped,
		 s.sessions);
}

static void settle_done(void *arg, int err)
{
	char *name = arg;

	if (err)
		log_warn("vm %s: a memory server did not settle a session "
			 "(%s): it stays movable, which only a host knowing "
			 "its secret can use", name, strerror(-err));
	free(name);
}

int migrate_settle(struct vm *vm)
{
	struct record *r;
	unsigned n;

	if (vm->mig == VM_MIG_OUT)
		return -EBUSY;	/* it is being handed over */
	r = record_last(vm->pg, vm->name);
	n = move_all(vm, false, settle_done, NULL);

	if (vm->mig == VM_MIG_IN) {
		log_info("vm %s runs here now: %u sessions settled; its pages "
			 "go out to the servers again", vm->name, n);
		if (r && !r->out)
			snprintf(r->status, sizeof(r->status), "running");
	} else if (r && r->out && !strcmp(r->status, "handed-over")) {
		log_info("vm %s runs here again (its migration did not "
			 "finish): %u sessions settled", vm->name, n);
		snprintf(r->status, sizeof(r->status), "taken back: the "
			 "migration failed or was cancelled");
	}
	vm->mig = VM_MIG_NONE;
	vm->up->changed(vm);
	return 0;
}

void migrate_pager_fini(struct pager *pg)
{
	/*
	 * memxd goes with handoffs under way: their VMs are gone, their
	 * MOVEs cancelled with the transport; only a poll may be left.
	 */
	while (pg->handoffs) {
		struct handoff *h = pg->handoffs->data;

		if (h->polling) {
			evl_timer_cancel(pg->loop, &h->poll);
			h->polling = false;
		}
		h->moves = 0;
		handoff_free(h);
	}
	if (pg->migrations)
		g_queue_free_full(pg->migrations, (GDestroyNotify)record_free);
	pg->migrations = NULL;
}
