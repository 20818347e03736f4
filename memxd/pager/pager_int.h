/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pager_int.h - the pager's private state, shared by pager.c (the fault
 * path and eviction), pager_group.c (parity, degraded reads, recovery and
 * drain), pager_vm.c (registration and teardown) and pager_report.c
 * (get=1 and Prometheus).  Nothing else includes it.
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
	uint64_t evict_spilled, evict_waited, fetch_errors;
	uint64_t degraded_reads, lost_faults, parity_errors;
	uint64_t parity_updates;	/* PXORs: deltas applied to parity */
	uint64_t parity_stripes;	/* whole stripes' parity written */
	uint64_t rebuilt_groups, rebuilt_pages, moved_groups, moved_pages;
	uint64_t lost_pages;		/* pages whose every copy was lost */
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
	struct pg_table *groups;
	GQueue pwait;			/* faults waiting for a group's writers */
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

	/* Recovery (pager_group.c): one queue of groups for every VM. */
	GQueue jobs;			/* struct job_ref */
	unsigned jobs_running;
	struct evl_timer job_timer;
	double tokens;			/* pages the rate allows now */
	uint64_t tokens_ns, drain_scan_ns;
	uint64_t rec_start_ns, rec_log_ns, rec_pages0;	/* progress log */
};

/* A READ of @count pages, @stride apart from @page (one server's rows). */
struct fetch {
	struct vm *vm;
	uint64_t page;
	uint32_t count, stride;
	uint64_t t0;
	bool demand;		/* a fault waited for it: time it */
	uint8_t *buf;
};

/* How an evicted page of a group may be stored now (pager_group.c). */
enum write_mode {
	W_SPILL,		/* nowhere remote: the spill file */
	W_WAIT,			/* not now: it stays resident */
	W_PLAIN,		/* WRITE, no parity to keep */
	W_XOR,			/* XWRITE, then its delta to the parity */
	W_STRIPE,		/* WRITE; its whole stripe leaves together,
				 * with a parity computed here */
};

/* Where a remote page can be read from. */
enum read_mode {
	R_SERVER,		/* its server */
	R_DEGRADED,		/* rebuilt from the rest of its stripe */
	R_LOST,			/* nowhere: two servers of its group died */
	R_NONE,			/* no session to ask yet: retry */
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
void fetch_done(void *arg, int err, uint8_t status);
void retry_later(struct vm *vm, uint64_t page, uint64_t t0, bool write);
void queue_fault(GQueue *q, uint64_t page, uint64_t t0, bool write);
void vm_handle_missing(struct vm *vm, uint64_t page, uint64_t t0, bool write);
bool is_zero(const uint8_t *p);
/* Forget the prefetched copy of @page (@wasted: it was never used). */
void cache_drop(struct vm *vm, uint64_t page, bool wasted);

/* pager_group.c */
enum read_mode group_read_mode(struct vm *vm, uint64_t page,
			       unsigned *server);
enum write_mode group_write_mode(struct vm *vm, uint64_t page,
				 unsigned *data_srv, unsigned *parity_srv);
/* The run of @count pages at @key on @server went out (XWRITE or WRITE);
 * @delta, if not NULL, is what the parity of those rows must take. */
void group_write_done(struct vm *vm, uint64_t page, uint32_t count,
		      const uint8_t *delta, unsigned parity_srv);
/*
 * Rows [row, row + n) of group @g leave as full stripes: @parity (n
 * pages) goes to the parity server whole.  A failed data WRITE of such a
 * stripe calls group_stripe_failed().
 */
void group_stripe_parity(struct vm *vm, uint64_t g, unsigned row, unsigned n,
			 const uint8_t *parity, unsigned parity_srv);
void group_stripe_failed(struct vm *vm, uint64_t page);
/* A WRITE to @page's slot was refused as FULL: true if the slot moves
 * (keep the pages resident), false if they must spill. */
bool group_full(struct vm *vm, uint64_t page);
/* Drop @page's remote copy; false if it must stay for now (parity). */
bool remote_copy_drop(struct vm *vm, uint64_t page);
void degraded_read(struct vm *vm, uint64_t page, uint64_t t0, bool write);
void lost_fault(struct vm *vm, uint64_t page);
void pwait_drain(struct vm *vm);
void pager_server_failed(void *arg, unsigned idx, const char *why);
void jobs_init(struct pager *pg);
void jobs_stop(struct pager *pg);
void jobs_kick(struct pager *pg);
/*
 * @vm's lost pages, as "@prefix FIRST-LAST" lines (page ranges, in GPAS
 * order) appended to @o; returns how many pages they are.
 */
uint64_t group_lost_ranges(struct vm *vm, GString *o, const char *prefix);

/* pager_vm.c */
void vm_destroy(struct vm *vm);

#endif
