/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmstate.h - a VM's pager state in a memfd its VMM holds, so that a
 * memxd restart loses no VM.
 *
 * Everything memxd must know of a VM that no other place remembers lives
 * here, and is updated in place as the pager runs: the page table and
 * each page's version, the page-group records, each session's id and
 * attach secret, the key of the VM's page MACs, and the REMOVEs whose
 * discard= has not come yet.  The
 * memfd is created by memxd, mapped read-write by memxd only (sealed
 * against any other write mapping, growing and shrinking: the VMM can
 * read it, never change it) and handed to the VMM with the registration
 * reply.  The VMM keeps it with its userfaultfd and memfd; when memxd
 * dies or restarts, the VMM registers again with all of them, and the
 * new memxd reads the old state (vmstate_open), checks every field, and
 * carries on from a fresh copy.
 *
 * The page table is the journal: a page being evicted, fetched or freed
 * when memxd died says so in its state and flags, and vm.c finishes or
 * rolls back each such operation when it adopts the state.
 */
#ifndef MEMX_PAGER_VMSTATE_H
#define MEMX_PAGER_VMSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "../../pagegroup/pagegroup.h"
#include "pagetable.h"
#include "remote.h"

#define VMSTATE_NAME_LEN	64u

/* A session as the state keeps it: enough to ATTACH it again. */
struct vmstate_session {
	struct remote_session_record rec;	/* written by remote_session.c */
	char server[VMSTATE_NAME_LEN];	/* the server's name, as configured */
};

/* The VM's keys (integrity.h), created with the VM, kept for its life. */
struct vmstate_keys {
	uint8_t key[32];		/* the master key of its page MACs */
	uint32_t flags;			/* VMSTATE_INTEGRITY, ... */
	uint32_t pad;
};
/* Its pages carry MACs, and are checked (memxd --integrity). */
#define VMSTATE_INTEGRITY	0x1u
/* Its pages are sent encrypted (memxd --page-encryption). */
#define VMSTATE_ENCRYPT		0x2u
/*
 * Its tags are Poly1305-AES (integrity.h); without it, SipHash, as an
 * older memxd wrote them.  A memxd that knows no such flag refuses the
 * state (vmstate_open) rather than misread every tag.
 */
#define VMSTATE_POLY_AES	0x4u

/*
 * A REMOVE event applied (fault.c), kept for the VMM's discard= of the
 * same pages that follows it: by the time that discard comes, perhaps to
 * the next memxd, the guest may have written the pages the REMOVE freed,
 * and their newer copies must stay.  The pages the REMOVE did not free
 * are the discard's to free, and are listed.
 */
#define VMSTATE_REMOVES		32u	/* remembered, the oldest forgotten */
#define VMSTATE_REMOVE_KEPT	8u	/* pages of one it did not free */

struct vmstate_remove {
	uint64_t first, n;		/* memfd pages */
	uint64_t kept[VMSTATE_REMOVE_KEPT];
	uint32_t nkept;			/* > VMSTATE_REMOVE_KEPT: too many
					 * to list, all are the discard's */
	uint32_t live;			/* 1: no discard has matched it yet */
};

struct vmstate_removes {
	uint32_t next, pad;		/* the newest: r[(next - 1) % N] */
	struct vmstate_remove r[VMSTATE_REMOVES];
};

struct vmstate {
	int fd;				/* the memfd; -1 if none */
	void *map;
	size_t size;
	uint64_t npages, ngroups;
	unsigned nsess;
	struct pg_geometry geo;
	pte_t *pt;			/* npages entries */
	uint8_t *ver;			/* npages versions (pagetable.h) */
	struct vmstate_keys *keys;	/* NULL in a version 1 state (an
					 * older memxd's): no integrity */
	struct vmstate_removes *removes; /* NULL in a version 1 or 2 state */
	struct pg_group *groups;	/* ngroups records */
	struct vmstate_session *sess;	/* nsess records */
};

/*
 * A new state for a VM of @npages pages, page-groups of @geo and
 * @nsess servers: a sealed memfd, mapped, zeroed.  0 or -errno.
 */
int vmstate_create(struct vmstate *st, const char *vm, uint64_t npages,
		   const struct pg_geometry *geo, unsigned nsess);
/*
 * The state a VMM handed back in @fd (taken over on success): mapped
 * read-only, every size and record checked against @npages.  0, or
 * -errno with why in @why.
 */
int vmstate_open(struct vmstate *st, int fd, uint64_t npages, char *why,
		 size_t len);
/*
 * This memxd lets the VM go to the next one: from now on its writes to
 * the state (what in-flight requests change as they are cancelled) land
 * in a private copy, never in the memfd the VMM hands on, which keeps
 * what was in flight at this moment.  The pointers stay valid.  0 or
 * -errno.
 */
int vmstate_detach(struct vmstate *st);
void vmstate_close(struct vmstate *st);

#endif
