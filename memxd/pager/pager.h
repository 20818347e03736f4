/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pager.h - serve VMs' userfaultfd page faults from remote memory.
 *
 * Each registered VM brings a userfaultfd and the memfd behind its RAM.
 * The pager keeps a few bits of state per page (pagetable.h), zero-fills
 * pages never written, fetches remote pages (with a prefetch window) and
 * installs them with UFFDIO_COPY, and evicts the coldest resident pages
 * to keep the VM within its budget: write-protect, read, send unless
 * clean, punch only after the server's ACK.  Its pages live in
 * page-groups with XOR parity on the memory servers (pagegroup.h), and
 * survive a server's failure.  How the parts fit: vm.h, and
 * docs/design.md.
 */
#ifndef MEMX_PAGER_H
#define MEMX_PAGER_H

#include <glib.h>
#include <stdint.h>
#include <sys/types.h>

#include "../../pagegroup/pagegroup.h"
#include "../../rmap/evloop.h"
#include "guestmem.h"
#include "remote.h"
#include "victim.h"

/* Resident pages may exceed the budget by at most this much. */
#define PAGER_SLACK_PAGES	64u
#define PAGER_MIN_BUDGET_PAGES	16u

struct pager;
struct vm;

struct pager_config {
	const char *spill_dir;
	const char *report_dir;		/* migration reports; NULL: none */
	uint64_t local_total;		/* bytes of budgets, all VMs; 0: any */
	unsigned prefetch_max;
	unsigned spin_us;		/* poll at most this long for a page a
					 * fault waits for before sleeping
					 * (rmap/spin.h decides); 0: never */
	struct pg_geometry geo;		/* page-groups, fitted to the servers */
	unsigned recovery_mibps;	/* 0: recovery paused */
	enum victim_policy evict_policy;	/* victim.h */
	bool integrity;			/* new VMs' pages carry MACs */
	bool encrypt;			/* ...and are sent encrypted */
};

struct vm_spec {
	char name[64];
	char uuid[64];
	pid_t pid;
	uint64_t budget;		/* bytes */
	struct vm_region regions[GM_MAX_REGIONS];
	unsigned nregions;
	int uffd, memfd;		/* the pager takes them over on success */
	/*
	 * A VM registering again after a memxd restart brings the state and
	 * spill file an earlier memxd handed it (pager_vm_handover); -1 for
	 * a new VM.  Taken over on success, too.
	 */
	int state_fd, spill_fd;
	/*
	 * The state came from another host's memxd, in a live migration
	 * (migrate.h): no spill file comes with it.
	 */
	bool migrated;
};

int pager_new(struct pager **pg, struct evl *loop, struct remote *r,
	      const struct pager_config *cfg);
void pager_free(struct pager *pg);
/*
 * The transport @pg was made with is about to be freed (before the
 * pager, so that its cancelled requests can release their VMs): the
 * pager hears no more of it.
 */
void pager_remote_gone(struct pager *pg);

/* 0, or -errno with a reason for the VMM in @why. */
int pager_register(struct pager *pg, const struct vm_spec *spec,
		   struct vm **vm, char *why, size_t whylen);
/* The VMM went away: free the VM's remote pages and all its state. */
void pager_unregister(struct pager *pg, struct vm *vm);
/* The registered VMs' budgets, in bytes (within cfg.local_total). */
uint64_t pager_reserved(const struct pager *pg);
/*
 * memxd is going away, the VM is not: forget it here, but leave its
 * pages on the servers (no UNREG), for the next memxd to take over when
 * the VMM registers again with what pager_vm_handover() gave it.
 */
void pager_detach(struct pager *pg, struct vm *vm);
/* What the VMM must keep and bring back after a memxd restart: the VM's
 * state memfd and its spill file (the pager keeps its own copies). */
void pager_vm_handover(const struct vm *vm, int *state_fd, int *spill_fd);
/* The guest freed [offset, offset + length) of the memfd.  0 or -EINVAL. */
int pager_discard(struct vm *vm, uint64_t offset, uint64_t length);
uint64_t pager_vm_pages(const struct vm *vm);

/*
 * Move every page server @name holds to other servers while the VMs run,
 * then tell it that it may leave.  Returns at once (progress: get=1);
 * 0, or -errno with a reason in @why.
 */
int pager_drain(struct pager *pg, const char *name, char *why, size_t len);

/* key=value state of every VM (get=1), and the same for Prometheus. */
void pager_dump(struct pager *pg, GString *out);
void pager_prometheus(struct pager *pg, GString *out);
unsigned pager_vm_count(const struct pager *pg);

#endif
