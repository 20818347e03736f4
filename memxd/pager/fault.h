/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fault.h - the top of a VM's fault path: userfaultfd events in, each
 * fault handed to the layer that serves it, and the faults that must
 * wait (for room within the budget, for a busy group, for a retry).
 *
 * Before the event loop sleeps, every VM whose state changed settles
 * once: waiting faults are tried again, then eviction brings it back
 * under its budget (evict.h).  Lower layers report through vm->up,
 * which fault_vm_init() installs.
 */
#ifndef MEMX_PAGER_FAULT_H
#define MEMX_PAGER_FAULT_H

#include <linux/userfaultfd.h>
#include <stdint.h>

struct pager;
struct vm;

void fault_pager_init(struct pager *pg);
void fault_pager_fini(struct pager *pg);

/* Set up @vm's fault handling (vm->up, vm->fault).  0 or -ENOMEM. */
int fault_vm_init(struct vm *vm);
/* Start reading @vm's userfaultfd; it holds a reference until stopped. */
void fault_vm_start(struct vm *vm);
/* Stop reading it (the reference goes when the poll ends). */
void fault_vm_stop(struct vm *vm);
/* Forget what waits; @vm is going away. */
void fault_vm_fini(struct vm *vm);

/* Handle @n userfaultfd events, as the poll does when it reads them. */
void fault_events(struct vm *vm, const struct uffd_msg *msgs, unsigned n);
/* The VMM says the guest freed pages [first, first + n). */
void fault_discard(struct vm *vm, uint64_t first, uint64_t n);
/* Settle @vm now, as the loop would before it sleeps (tests). */
void fault_settle(struct vm *vm);

#endif
