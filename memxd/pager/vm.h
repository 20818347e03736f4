/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm.h - one VM and the pager, as the pager's layers share them.
 *
 * The pager is a stack of layers; calls go down only:
 *
 *   pager.c     the pager: its VMs, the servers' news, drain   (pager.h)
 *   migrate.c   a VM live-migrating: handoff, arrival, records
 *   vm.c        a VM's lifetime: registration and teardown
 *   fault.c     userfaultfd events, faults that must wait, the budget
 *   fetch.c     pages in: zero, spill, cache, server, degraded, lost
 *   install.c   their bytes into guest memory; the prefetch cache
 *   evict.c     pages out: write-protect, read, send, punch
 *   stripe.c    page-group I/O: write modes, parity deltas, whole
 *               stripes, degraded reads, freeing copies
 *   recovery.c  rebuilding and moving group slots; drain; failures
 *   pagetable.c pfcache.c spill.c victim.c prefetch.c unseen.c
 *               (data, no I/O)
 *   guestmem.c  the VMM's uffd and memfd   remote*.c  the servers
 *               (remote_int.h: liveness, sessions, requests)
 *   ../../pagegroup/  where pages live, parity arithmetic
 *
 * A lower layer reports to the fault layer only through vm->up, a small
 * ops struct that fault.c installs when the VM is set up: "this fault
 * cannot be served now, handle it again later" and "something a waiting
 * fault or the budget depends on changed".  Everything runs on the one
 * event loop, so state changes only between callbacks.
 *
 * The fields of struct vm belong to the layer named beside them; other
 * layers read them, and change them only through that layer's functions.
 */
#ifndef MEMX_PAGER_VM_H
#define MEMX_PAGER_VM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../../pagegroup/pagegroup.h"
#include "../../rmap/evloop.h"
#include "adopt.h"
#include "guestmem.h"
#include "integrity.h"
#include "pager.h"
#include "pagetable.h"
#include "pfcache.h"
#include "prefetch.h"
#include "remote.h"
#include "spill.h"
#include "stats.h"
#include "unseen.h"
#include "victim.h"
#include "vmstate.h"

#define PAGE		GM_PAGE
#define RETRY_NS	(100ull * 1000000ull)	/* a failed READ, again */

struct vm;
struct fault_state;

/* A VM live-migrating (migrate.h): while not NONE, none of its pages
 * goes out to the servers (no eviction, no rebuild starts). */
enum vm_migration {
	VM_MIG_NONE,
	VM_MIG_OUT,	/* being handed over to another host */
	VM_MIG_IN,	/* arrived, does not run here yet */
};
struct recovery;

/* When fault.c should handle a fault again (vm_upcalls.fault_again). */
enum fault_again {
	AGAIN_UFFD,	/* after the next userfaultfd events are read */
	AGAIN_CHANGED,	/* when something changes (vm_upcalls.changed) */
	AGAIN_LATER,	/* after RETRY_NS */
};

/* How lower layers tell the fault layer what happened (see above). */
struct vm_upcalls {
	/* The fault on @page could not be served now; it arrived at @t0. */
	void (*fault_again)(struct vm *vm, uint64_t page, uint64_t t0,
			    bool write, enum fault_again when);
	/* Room within the budget, an idle group, a server's news: what
	 * waited may go on now. */
	void (*changed)(struct vm *vm);
};

struct vm {
	struct pager *pg;
	struct vm *next;			/* pager.c: pg->vms */
	char name[64], uuid[64];		/* vm.c */
	pid_t pid;
	unsigned refs;				/* vm.c, through vm_get/put */
	bool dead;				/* unregistered: I/O ends */
	void (*release)(struct vm *vm);		/* vm.c: the last put */
	uint64_t registered_ns;
	uint64_t npages, budget;		/* pages */
	enum vm_migration mig;			/* migrate.c; vm.c sets IN */
	struct adopt_report adopted;		/* vm.c: what adopting found */

	struct guestmem mem;			/* guestmem.c */
	struct vmstate state;			/* vmstate.c: the memory of
						 * pt, groups and sessions */
	struct pagetable pt;			/* pagetable.c */
	struct pg_table *groups;		/* pagegroup, stripe.c */
	GHashTable *slot_writes;		/* stripe.c: (group, slot) ->
						 * writes in flight */
	struct stripe_run *spare_runs;		/* stripe.c: freed, kept */
	unsigned nspare_runs;
	struct remote_session *sess;		/* remote_session.c, one
						 * per server */
	unsigned nsess;
	struct victim victim;			/* victim.c */
	struct prefetch pf;			/* prefetch.c, fetch.c, install.c */
	struct pfcache cache;			/* pfcache.c, install.c, fetch.c */
	struct unseen unseen;			/* unseen.c: install.c,
						 * fault.c, evict.c */
	uint64_t readahead;			/* fetch.c: read ahead, in flight */
	GQueue fetches;				/* fetch.c: READs in flight */
	struct spill spill;			/* spill.c */
	struct fault_state *fault;		/* fault.c's own */
	struct integrity integ;			/* vm.c: its MAC key */
	GHashTable *suspects;			/* fetch.c: page -> failed
						 * checks (integrity.h) */
	const struct vm_upcalls *up;		/* set by fault.c */
	struct vm_stats st;
};

struct pager {
	struct evl *loop;
	struct remote *remote;
	bool remote_gone;		/* pager_remote_gone: it hears no more */
	struct pager_config cfg;
	struct pg_server *placement;	/* pager.c: what placement knows of
					 * each server (remote_count) */
	unsigned nservers;
	bool frozen;			/* pager.c: cut off from most servers */
	struct vm *vms;			/* pager.c */
	uint64_t last_served_ns;	/* when a fault was last served */
	const uint8_t *zero_page;	/* RMAP_MAX_PAGES pages of zeros, read-only */
	uint8_t *scratch;		/* one page, free between callbacks */
	uint8_t *batch;			/* evict.c: the pages of one batch */
	uint8_t *gather;		/* install.c: RMAP_MAX_PAGES pages read
					 * ahead, gathered for one install */
	struct recovery *rec;		/* recovery.c's own */
	struct evl_hook settle;		/* fault.c: before the loop sleeps */
	GQueue *migrations;		/* migrate.c: its records */
	GList *handoffs;		/* migrate.c: those under way */
};

static inline void vm_get(struct vm *vm)
{
	vm->refs++;
}

/* Drop a reference; the last one frees the VM.  True if it did. */
static inline bool vm_put(struct vm *vm)
{
	if (--vm->refs)
		return false;
	vm->release(vm);
	return true;
}

static inline bool vm_session_ready(const struct vm *vm, unsigned server)
{
	return server < vm->nsess && remote_session_ready(&vm->sess[server]);
}

static inline const struct pg_geometry *vm_geo(const struct vm *vm)
{
	return pg_geometry(vm->groups);
}

/* Where @page lives: its group, slot and row. */
static inline struct pg_group *vm_group_of(struct vm *vm, uint64_t page,
					   uint64_t *g, unsigned *slot,
					   unsigned *row)
{
	pg_locate(vm_geo(vm), page, g, slot, row);
	return pg_group(vm->groups, *g);
}

/* A fault that arrived at @t0 is served now: its latency, in the
 * histogram of powers of two microseconds. */
static inline void vm_fault_served(struct vm *vm, uint64_t t0)
{
	uint64_t now = evl_now_ns(), us = (now - t0) / 1000;
	unsigned b = 0;

	vm->pg->last_served_ns = now;

	while (us > 1 && b < HIST_BUCKETS - 1) {
		us >>= 1;
		b++;
	}
	vm->st.hist[b]++;
}

/* The RMAP flags of the VM's page I/O: its pages carry tags, or not. */
static inline uint16_t vm_tag_flags(const struct vm *vm)
{
	return vm->integ.on ? RMAP_F_TAGS : 0;
}

/* Bytes per page of the VM's page I/O: the page, and its tag. */
static inline size_t vm_page_bytes(const struct vm *vm)
{
	return rmap_page_bytes(vm_tag_flags(vm));
}

static inline bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)(const void *)p;

	for (unsigned i = 0; i < PAGE / 8; i++)
		if (w[i])
			return false;
	return true;
}

#endif
