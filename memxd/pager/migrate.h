/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * migrate.h - a VM live-migrating from one host to another: what the two
 * memxds do, while QEMU carries the guest's resident pages and the VM's
 * state (vmstate.h) in its migration stream.  The pages on the memory
 * servers stay where they are; only their sessions change hands.
 *
 * On the source, at switchover (the guest stopped, its RAM sent), the
 * VMM asks for a handoff: no eviction or rebuild starts any more, and
 * once none is in flight the VM's sessions are made movable (RMAP MOVE)
 * and the VM is detached, as for a memxd restart.  Its state memfd, now
 * still, goes into the stream.  If the migration fails, the VMM
 * registers again with that state (again=1), as after a restart.
 *
 * On the destination the VMM registers with migrated=1 and the state it
 * received: the VM is adopted (adopt.c, with the migration's rules), its
 * sessions re-attached from this host.  It stays "incoming" -- nothing
 * of it goes out to the servers, and a VMM that goes away leaves its
 * pages there, for the source -- until the VMM says it runs here
 * (migrate_settle()): then its sessions are settled (only this host's key
 * may take them again), and it is an ordinary VM.
 *
 * Each migration leaves a record: memxctl migrations, the log, and a
 * key=value file in the report directory.
 */
#ifndef MEMX_PAGER_MIGRATE_H
#define MEMX_PAGER_MIGRATE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

struct pager;
struct vm;

/* What a VM was when it left, or arrived. */
struct migrate_summary {
	uint64_t pages;			/* GPAS */
	uint64_t resident;		/* in the memfd: what the stream sends */
	uint64_t remote;		/* on the servers, left in place */
	uint64_t never;			/* never written */
	uint64_t lost;
	uint64_t remote_again;		/* in: resident there, not sent */
	uint64_t stale_dropped;		/* in: stale copies the stream left */
	unsigned sessions;		/* made movable, or re-attached */
	uint64_t quiesce_us;		/* out: waiting for writes in flight */
};

/*
 * The handoff's end: @err 0 (the VM is detached, its summary in @s) or
 * -errno with why in @why (the VM runs on here as before).  Not called
 * if the VM is unregistered meanwhile.
 */
typedef void (*migrate_done_fn)(void *arg, int err, const char *why,
				const struct migrate_summary *s);

/* Start @vm's handoff.  0 (@done runs later), or -errno and why. */
int migrate_handoff(struct vm *vm, migrate_done_fn done, void *arg,
		    char *why, size_t len);
/* @vm, registered with migrated=1, arrived: its record, and the log. */
void migrate_arrived(struct vm *vm);
/*
 * @vm runs on this host now: settle its sessions, and let its pages go
 * out to the servers.  Harmless for a VM that did not migrate.  0, or
 * -EBUSY while it is being handed over.
 */
int migrate_settle(struct vm *vm);
/*
 * The VMM's account of @vm's last migration (key=value lines: QEMU's
 * counters), added to its record, logged and written out.  0, or -errno
 * with why in @why: -ENOENT if this memxd keeps no record of a migration
 * of @name, -EINVAL if a key is one memxd writes itself (the VMM's word
 * never stands in for memxd's).
 */
int migrate_report(struct pager *pg, const char *name, const char *kv,
		   char *why, size_t len);
/* Every record kept (memxctl migrations), newest last. */
void migrate_dump(struct pager *pg, GString *out);
void migrate_pager_fini(struct pager *pg);

#endif
