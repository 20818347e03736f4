/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * recovery.h - keeping every group slot on a live server: rebuilds after
 * a server fails, moves off a full or draining server, and what a
 * double failure loses.
 *
 * A group slot that must go elsewhere (pagegroup.h: DEGRADED) gets a job:
 * read the other slots of the group (or the slot itself, for a move),
 * XOR them, write the result to a spare server that holds nothing of the
 * group, and switch the slot over.  Jobs run from one queue for every VM,
 * at most 16 at once, paced by a token bucket (--recovery-mibps), and
 * their progress is logged.  When a job ends, vm->up->changed() lets
 * what waited for the group go on.
 */
#ifndef MEMX_PAGER_RECOVERY_H
#define MEMX_PAGER_RECOVERY_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pager;
struct vm;

int recovery_new(struct pager *pg);
void recovery_free(struct pager *pg);

/* Group @g of @vm needs a job (it is DEGRADED). */
void recovery_queue(struct vm *vm, uint64_t g);
/* The parity of group @g is wrong or unknown: recompute it elsewhere. */
void recovery_parity_bad(struct vm *vm, uint64_t g);
/*
 * A WRITE to @page's slot was refused as FULL: true if the slot moves to
 * a server with room (keep the pages resident meanwhile), false if no
 * server has room (they must spill).
 */
bool recovery_slot_full(struct vm *vm, uint64_t page);

/*
 * Server @idx lost our pages (dead, or restarted): every VM's groups with
 * a slot there are rebuilt, or LOST if they lost two.  Returns the pages
 * lost over all VMs.
 */
uint64_t recovery_server_failed(struct pager *pg, unsigned idx,
				const char *why);
/* Move every slot off server @idx while the VMs run, then tell it to
 * leave.  0, or -errno with a reason in @why. */
int recovery_drain(struct pager *pg, unsigned idx, char *why, size_t len);
/* Groups waiting for a job, and running, over every VM. */
unsigned recovery_pending(const struct pager *pg);

#endif
