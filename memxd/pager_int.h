/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pager_int.h - the pager's private state, shared by pager.c (the fault
 * path and eviction), pager_vm.c (registration and teardown) and
 * pager_report.c (get=1 and Prometheus).  Nothing else includes it.
 */
#ifndef MEMX_PAGER_INT_H
#define MEMX_PAGER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "evict.h"
#include "pager.h"
#include "pagetable.h"
#include "prefetch.h"

#define PAGE		4096u
#define EVICT_BATCH	32u
#define EVICT_INFLIGHT	512u	/* pages being evicted at once, per VM */
#define CACHE_PAGES	512u	/* prefetched pages held per VM */
#define UFFD_BATCH	64u
#define HIST_BUCKETS	24u
#define RETRY_NS	(100ull * 1000000ull)	/* a failed READ, again */

struct vm_stats {
	uint64_t net_faults, zero_faults, wp_faults, cache_hits, spill_faults;
	uint64_t spurious, deferred, discards, discarded_pages;
	uint64_t evict_clean, evict_dirty, evict_zero, evict_cancelled;
	uint64_t evict_spilled, fetch_errors;
	uint64_t pf_issued, pf_hit, pf_wasted;
	uint64_t max_resident;
	uint64_t hist[HIST_BUCKETS];	/* fault service time, log2 us */
};

struct cache_ent {
	uint64_t page;
	uint8_t *buf;
	GList link;		/* in vm->cache_fifo, oldest first */
};

struct deferred {
	uint64_t page;
	uint64_t t0;
	bool write;
};

struct vm {
	struct pager *pg;
	struct vm *next;
	char name[64], uuid[64];
	pid_t pid;
	int uffd, memfd, spill_fd;
	uint8_t *view;			/* our mapping of the memfd, for mincore */
	uint64_t memfd_size;
	struct vm_region regions[MEMX_CTL_MAX_REGIONS];
	unsigned nregions;
	uint64_t npages, budget;
	uint8_t *pt;
	uint64_t resident;		/* RESIDENT + EVICTING */
	uint64_t evicting;
	uint64_t wanted;		/* FETCHING pages a fault waits for */
	struct evict_clock clock;
	struct pg_map *map;
	struct remote_session *sess;
	unsigned nsess;
	struct prefetch pf;
	GHashTable *cache;		/* page -> struct cache_ent */
	GQueue cache_fifo;
	struct cache_ent *cache_pool;
	uint8_t *cache_mem;
	GQueue cache_free;
	GQueue deferred;
	GQueue retry;			/* faults whose READ failed */
	struct evl_timer retry_timer;
	struct evl_op poll_op;
	unsigned refs;
	bool dead;
	uint64_t registered_ns;
	struct vm_stats st;
};

struct pager {
	struct evl *loop;
	struct remote *remote;
	struct pager_config cfg;
	struct vm *vms;
	uint8_t *zero_page;
	uint8_t *scratch;
	uint8_t *batch;		/* EVICT_BATCH pages being evicted */
};

/* pager.c */
void vm_get(struct vm *vm);
bool vm_put(struct vm *vm);
bool page_present(const struct vm *vm, uint64_t page);
void note_resident(struct vm *vm);
void page_discarded(struct vm *vm, uint64_t page);
void vm_drain_deferred(struct vm *vm);
void vm_evict_more(struct vm *vm);
void uffd_ready(struct evl *loop, struct evl_op *op, int res);
void retry_fire(struct evl *loop, struct evl_timer *t);

/* pager_vm.c */
void vm_destroy(struct vm *vm);

#endif
