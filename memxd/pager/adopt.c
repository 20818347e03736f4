// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * adopt.c - a VM that an earlier memxd served registers again: take its
 * state over (vmstate.h), finish or roll back what was in flight when
 * that memxd died, re-attach its sessions and wake its threads.
 *
 * The rules, page by page (the memfd says which pages it still holds):
 *   - a page the memfd holds is RESIDENT, whatever the table said: an
 *     eviction that was not finished is rolled back (its hole was never
 *     punched); it is clean only if the table called it RESIDENT and
 *     clean (write-protected, its server copy matching).  Every page is
 *     write-protected already: gm_open() protected them all before the
 *     table was read, so that no write slips past a clean page while
 *     nobody knows it is clean (a dirty page costs one WP fault).  A
 *     REMOTE or FETCHING page the memfd holds was being installed when
 *     memxd died, maybe writable for a write fault that has written
 *     since: dirty;
 *   - a page the memfd lacks that the table called RESIDENT or EVICTING
 *     was freed by the guest meanwhile (a REMOVE memxd never read): it is
 *     "never written" again;
 *   - FETCHING pages are REMOTE again (their READ died with memxd), or
 *     "never written" if the guest freed them meanwhile;
 *   - a page whose WRITE or FREE was in flight may or may not be on its
 *     server: its copy counts as existing (PT_HAS_REMOTE), and its
 *     group's parity, which that write's delta may not have reached, is
 *     recomputed, as is that of every group with a write in flight.
 * The REMOVEs whose discard= has not come yet are kept with the state, so
 * that the discard, when it comes, leaves alone what the guest wrote
 * since (fault.c).  Faults read before the crash were never answered:
 * every waiting thread is woken and faults again.
 *
 * A VM that live-migrated here (@migrated) brings the source memxd's
 * table, quiesced (migrate.h: nothing was in flight), and a memfd that
 * holds what the migration stream carried.  QEMU sent every page
 * resident on the source as it was at the end (qemu-patches/0007), but
 * a page sent earlier and evicted since may have left a stale copy:
 *   - a page the memfd holds that the table calls anything but RESIDENT
 *     is dropped from the memfd, and is what the table says (the server
 *     copy of a REMOTE page is the page; a NEVER page was freed);
 *   - a page the table calls RESIDENT that the memfd lacks was installed
 *     after QEMU's last look, with the guest stopped, and not written
 *     since: it is its server copy if it has one (REMOTE), else zeros
 *     (memxd filled it so).  PT_DIRTY does not say otherwise: memxd
 *     installs pages writable, dirty, ahead of writes that may not come.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "adopt.h"
#include "recovery.h"
#include "vm.h"

/* One page from the old table into the new one (see above). */
static pte_t adopt_page(struct vm *vm, uint64_t p, pte_t old, bool present,
			bool migrated, bool *suspect, struct adopt_report *rep)
{
	enum page_state s = (enum page_state)(old & PT_STATE);
	pte_t keep = old & (PT_HAS_REMOTE | PT_DIRTY);

	*suspect = old & PT_WRITING;
	if (*suspect)
		keep |= PT_HAS_REMOTE;	/* it may have landed */
	if (migrated && present && s != PS_RESIDENT && s != PS_EVICTING) {
		gm_punch(&vm->mem, p, 1);	/* a stale copy */
		rep->stale_dropped++;
		present = false;
	}
	if (present) {
		bool clean = s == PS_RESIDENT && !(old & PT_DIRTY) &&
			     (old & PT_HAS_REMOTE) && !*suspect;

		if (s == PS_EVICTING)
			rep->evictions_rolled_back++;
		if (s == PS_FETCHING)
			rep->fetches_dropped++;
		if (clean)
			return (pte_t)(PS_RESIDENT | PT_HAS_REMOTE);
		return (pte_t)(PS_RESIDENT | PT_DIRTY | keep);
	}
	if (migrated && s == PS_RESIDENT && (old & PT_HAS_REMOTE) &&
	    !*suspect) {
		rep->remote_again++;
		return (pte_t)(PS_REMOTE | PT_HAS_REMOTE);
	}
	switch (s) {
	case PS_RESIDENT:
	case PS_EVICTING:
		rep->discards_found++;
		return (pte_t)(PS_NEVER | (keep & PT_HAS_REMOTE));
	case PS_FETCHING:
		rep->fetches_dropped++;
		if (old & PT_DISCARDED)
			return (pte_t)(PS_NEVER | (keep & PT_HAS_REMOTE));
		return (pte_t)(PS_REMOTE | PT_HAS_REMOTE);
	case PS_REMOTE:
		return (pte_t)(PS_REMOTE | PT_HAS_REMOTE);
	case PS_SPILLED:
		return (pte_t)(PS_SPILLED | (keep & PT_HAS_REMOTE));
	case PS_LOST:
		return (pte_t)(PS_LOST | (keep & PT_HAS_REMOTE));
	default:
		return (pte_t)(PS_NEVER | (keep & PT_HAS_REMOTE));
	}
}

/* The new index of the server an old session named, or -1. */
static int server_of(struct vm *vm, const struct vmstate_session *s)
{
	return s->server[0] ? remote_find(vm->pg->remote, s->server) : -1;
}

int adopt_state(struct vm *vm, const struct vmstate *old, bool migrated,
		struct adopt_report *rep, char *why, size_t len)
{
	const struct pg_geometry *geo = &old->geo;
	int map[PG_MAX_SERVERS];
	uint8_t *suspect, *present;
	int ret;

	*rep = (struct adopt_report){ 0 };
	/* Every server that held something must still be one of ours. */
	for (unsigned i = 0; i < old->nsess; i++) {
		map[i] = server_of(vm, &old->sess[i]);
		if (map[i] < 0 && old->sess[i].rec.id) {
			snprintf(why, len, "memory server %s, which holds pages "
				 "of this VM, is not one of this memxd's "
				 "servers (start it with the same --servers)",
				 old->sess[i].server);
			return -ENOENT;
		}
	}
	suspect = calloc(old->ngroups ? old->ngroups : 1, 1);
	if (!suspect) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	for (uint64_t g = 0; g < old->ngroups; g++) {
		struct pg_group grp = old->groups[g];

		for (unsigned s = 0; grp.state != PG_EMPTY &&
		     s < pg_slots(geo); s++) {
			if (map[grp.srv[s]] < 0) {
				snprintf(why, len, "group %lu names a server "
					 "this memxd does not have",
					 (unsigned long)g);
				free(suspect);
				return -ENOENT;
			}
			grp.srv[s] = (uint8_t)map[grp.srv[s]];
		}
		/* Whatever was in flight died with the old memxd. */
		suspect[g] = grp.writers || grp.deltas;
		grp.writers = grp.deltas = grp.readers = 0;
		grp.flags &= (uint8_t)~PG_F_QUEUED;
		if (grp.state == PG_REBUILDING)
			grp.state = PG_DEGRADED;
		vm->state.groups[g] = grp;
	}
	pg_table_count(vm->groups, vm->pg->placement);
	/* What the memfd holds, an extent at a time. */
	present = malloc((vm->npages + 7) / 8);
	ret = present ? gm_present_all(&vm->mem, vm->npages, present)
		      : -ENOMEM;
	if (ret) {
		snprintf(why, len, "cannot tell which pages the VM's memory "
			 "holds: %s", strerror(-ret));
		free(present);
		free(suspect);
		return ret;
	}
	/* A write in flight bumped its version already: the next is newer. */
	if (old->ver)
		memcpy(vm->pt.ver, old->ver, vm->npages);
	/*
	 * The REMOVEs whose discard= may still come (fault.c).  Not from
	 * another host: its VMM's discards went to its own memxd.
	 */
	if (old->removes && !migrated)
		*vm->state.removes = *old->removes;
	for (uint64_t p = 0; p < vm->npages; p++) {
		bool s;
		pte_t e = adopt_page(vm, p, old->pt[p],
				     present[p / 8] >> (p % 8) & 1, migrated,
				     &s, rep);

		pt_load(&vm->pt, p, e);
		if (s)
			suspect[p / pg_group_pages(geo)] = 1;
	}
	free(present);
	vm->pt.max_resident = pt_resident(&vm->pt);
	/* Re-attach the sessions (within their lease); open the others. */
	for (unsigned i = 0; i < vm->nsess; i++) {
		const struct vmstate_session *os = NULL;

		for (unsigned j = 0; j < old->nsess && !os; j++)
			if (map[j] == (int)i && old->sess[j].rec.id)
				os = &old->sess[j];
		if (os) {
			remote_session_attach(vm->pg->remote, &vm->sess[i], i,
					      os->rec.id, os->rec.secret);
			rep->sessions++;
		} else {
			remote_session_open(vm->pg->remote, &vm->sess[i], i);
		}
	}
	/* Groups whose parity a lost delta may not have reached. */
	for (uint64_t g = 0; g < old->ngroups; g++) {
		struct pg_group *grp = pg_group(vm->groups, g);

		if (suspect[g] && geo->parity && grp->state != PG_EMPTY &&
		    grp->state != PG_LOST) {
			recovery_parity_bad(vm, g);
			rep->parities++;
		} else if (grp->state == PG_DEGRADED) {
			recovery_queue(vm, g);
		}
	}
	free(suspect);
	/* Faults the old memxd read were never answered: again, all. */
	gm_wake_all(&vm->mem);
	return 0;
}
