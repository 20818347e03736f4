// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pager.c - the pager (pager.h): its VMs, what the servers tell it, and
 * drain.
 *
 * The pager owns what every VM shares: the event loop, the servers
 * (remote.h) and what placement knows of them (struct pg_server: room,
 * load, full, dead, draining), refreshed from the servers' news.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../ctl/ctl_proto.h"
#include "../log.h"
#include "evict.h"
#include "fault.h"
#include "fetch.h"
#include "migrate.h"
#include "recovery.h"
#include "vm.h"

_Static_assert(GM_MAX_REGIONS == MEMX_CTL_MAX_REGIONS,
	       "a VM's regions must fit what the control socket accepts");
_Static_assert(REMOTE_MAX_SERVERS <= PG_MAX_SERVERS,
	       "a group records its servers in a byte");

/* A server we once needed room on has this much free again: use it. */
#define ROOM_AGAIN_PAGES	(4 * PG_MAX_ROWS)

/* ---- the servers' news (struct remote_ops) ---- */

/* What placement knows of server @idx, from what remote.c knows. */
static void refresh(struct pager *pg, unsigned idx)
{
	const struct remote_server *s = remote_server(pg->remote, idx);
	struct pg_server *ps = &pg->placement[idx];
	uint64_t free_pages = remote_server_room(s);

	ps->dead = s->dead;
	ps->usable = s->reachable && !s->dead && !s->down;
	pg->frozen = remote_cut_off(pg->remote, NULL);
	if (s->capacity_pages) {
		ps->capacity_pages = s->capacity_pages;
		ps->free_pages = free_pages;
		ps->load_permille = s->load_permille;
		/* Room again (someone freed): take new groups again. */
		if (ps->full && free_pages > ROOM_AGAIN_PAGES)
			ps->full = false;
	}
}

static void server_failed(void *arg, unsigned idx, const char *why)
{
	struct pager *pg = arg;

	refresh(pg, idx);
	recovery_server_failed(pg, idx, why);
}

static void server_changed(void *arg, unsigned idx)
{
	struct pager *pg = arg;

	refresh(pg, idx);
	for (struct vm *vm = pg->vms; vm; vm = vm->next) {
		/* Silent while others answer: do not wait for its READs. */
		if (!pg->placement[idx].usable && !pg->frozen && !vm->dead)
			fetch_server_silent(vm, idx);
		vm->up->changed(vm);
	}
}

static const struct remote_ops pager_remote_ops = {
	.server_failed = server_failed,
	.server_changed = server_changed,
};

/* ---- the pager ---- */

/*
 * The loop may poll rather than sleep (evl_set_spin; its governor, spin.h,
 * decides) while a fault waits for a page on its way from a server (the
 * vCPU is stopped until it lands, and waking memxd for the reply adds to
 * what it waits), and for a while after one was served (a vCPU that
 * missed once is likely to miss again soon).
 */
static bool fault_waits_on_server(void *arg)
{
	const struct pager *pg = arg;

	if (evl_now_ns() - pg->last_served_ns < (uint64_t)pg->cfg.spin_us * 1000)
		return true;
	for (const struct vm *vm = pg->vms; vm; vm = vm->next)
		if (vm->pt.wanted)
			return true;
	return false;
}

int pager_new(struct pager **out, struct evl *loop, struct remote *r,
	      const struct pager_config *cfg)
{
	struct pager *pg = calloc(1, sizeof(*pg));

	if (!pg)
		return -ENOMEM;
	pg->loop = loop;
	pg->remote = r;
	pg->cfg = *cfg;
	pg->nservers = remote_count(r);
	pg->placement = calloc(pg->nservers ? pg->nservers : 1,
			       sizeof(*pg->placement));
	if (integrity_global_init()) {
		free(pg);
		return -ENOSYS;
	}
	/*
	 * Read-only and never written: every page of it is the kernel's
	 * zero page, so the megabyte costs no resident memory.
	 */
	pg->zero_page = mmap(NULL, (size_t)RMAP_MAX_PAGES * PAGE, PROT_READ,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pg->zero_page == MAP_FAILED)
		pg->zero_page = NULL;
	if (!pg->placement || !pg->zero_page ||
	    posix_memalign((void **)&pg->scratch, PAGE, PAGE) ||
	    posix_memalign((void **)&pg->gather, PAGE,
			   (size_t)RMAP_MAX_PAGES * PAGE) ||
	    evict_pager_init(pg) || recovery_new(pg)) {
		pager_free(pg);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < pg->nservers; i++)
		refresh(pg, i);
	fault_pager_init(pg);
	if (cfg->spin_us)
		evl_set_spin(loop, fault_waits_on_server, pg,
			     (uint64_t)cfg->spin_us * 1000);
	remote_set_ops(r, &pager_remote_ops, pg);
	*out = pg;
	return 0;
}

void pager_remote_gone(struct pager *pg)
{
	if (pg && pg->remote && !pg->remote_gone) {
		remote_set_ops(pg->remote, NULL, NULL);
		/* Valid while it is freed: cancelled requests complete. */
		pg->remote_gone = true;
	}
}

void pager_free(struct pager *pg)
{
	if (!pg)
		return;
	pager_remote_gone(pg);
	if (pg->cfg.spin_us)
		evl_set_spin(pg->loop, NULL, NULL, 0);
	while (pg->vms)
		pager_unregister(pg, pg->vms);
	recovery_free(pg);
	migrate_pager_fini(pg);
	if (pg->settle.run)
		fault_pager_fini(pg);
	evict_pager_fini(pg);
	if (pg->zero_page)
		munmap((void *)pg->zero_page, (size_t)RMAP_MAX_PAGES * PAGE);
	free(pg->scratch);
	free(pg->gather);
	free(pg->placement);
	free(pg);
}

int pager_drain(struct pager *pg, const char *name, char *why, size_t len)
{
	int i = remote_find(pg->remote, name);

	if (i < 0) {
		snprintf(why, len, "'%s' is not one of this memxd's servers",
			 name);
		return -ENOENT;
	}
	return recovery_drain(pg, (unsigned)i, why, len);
}

unsigned pager_vm_count(const struct pager *pg)
{
	unsigned n = 0;

	for (const struct vm *vm = pg->vms; vm; vm = vm->next)
		n++;
	return n;
}
