// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vm.c - a VM's lifetime, and the only code that owns it: a VM arrives
 * (checked, then set up layer by layer) and leaves (unregistered at once,
 * freed when the last operation in flight lets go of it).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../log.h"
#include "adopt.h"
#include "fault.h"
#include "stripe.h"
#include "vm.h"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE	0x0010	/* Linux 5.1 */
#endif

#define CACHE_PAGES	512u	/* prefetched pages held per VM */

/* Do [a, a + alen) and [b, b + blen) meet?  (Neither wraps: checked.) */
static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/*
 * The regions alone: 4 KiB pages, page aligned, not empty, no end that
 * wraps around, none overlapping another in the memfd or in the VMM's
 * address space, GM_MAX_SIZE at most in all.  Every sum is checked
 * before it is used.  Their total length in *@total.
 */
static int check_regions(const struct vm_spec *spec, uint64_t *total,
			 char *why, size_t whylen)
{
	*total = 0;
	if (!spec->nregions) {
		snprintf(why, whylen, "no region given");
		return -EINVAL;
	}
	if (spec->nregions > GM_MAX_REGIONS) {
		snprintf(why, whylen, "too many regions");
		return -E2BIG;
	}
	for (unsigned i = 0; i < spec->nregions; i++) {
		const struct vm_region *r = &spec->regions[i];
		uint64_t end;

		if (r->page_size != PAGE) {
			snprintf(why, whylen, "region %u: page size %llu is not "
				 "supported (only 4096; no hugepages)", i,
				 (unsigned long long)r->page_size);
			return -EINVAL;
		}
		if (!r->length || r->hva % PAGE || r->offset % PAGE ||
		    r->length % PAGE) {
			snprintf(why, whylen, "region %u is not page aligned",
				 i);
			return -EINVAL;
		}
		if (__builtin_add_overflow(r->offset, r->length, &end) ||
		    __builtin_add_overflow(r->hva, r->length, &end)) {
			snprintf(why, whylen, "region %u wraps around the end "
				 "of the address space", i);
			return -EINVAL;
		}
		if (__builtin_add_overflow(*total, r->length, total) ||
		    *total > GM_MAX_SIZE) {
			snprintf(why, whylen, "the regions add up to more than "
				 "%llu GiB", GM_MAX_SIZE >> 30);
			return -E2BIG;
		}
		for (unsigned j = 0; j < i; j++) {
			const struct vm_region *o = &spec->regions[j];

			if (overlap(r->offset, r->length, o->offset,
				    o->length)) {
				snprintf(why, whylen, "regions %u and %u overlap "
					 "in the memfd", j, i);
				return -EINVAL;
			}
			if (overlap(r->hva, r->length, o->hva, o->length)) {
				snprintf(why, whylen, "regions %u and %u overlap "
					 "in the VMM's address space", j, i);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/* The budgets of the registered VMs, in bytes: reservations in the total. */
uint64_t pager_reserved(const struct pager *pg)
{
	uint64_t sum = 0;

	for (const struct vm *o = pg->vms; o; o = o->next)
		sum += o->budget * PAGE;
	return sum;
}

/* @bytes for a message: in MiB, or in KiB if that is not whole. */
static const char *size_str(char *buf, size_t len, uint64_t bytes)
{
	if (bytes % (1u << 20))
		snprintf(buf, len, "%llu KiB", (unsigned long long)(bytes >> 10));
	else
		snprintf(buf, len, "%llu MiB", (unsigned long long)(bytes >> 20));
	return buf;
}

/*
 * A new VM's budget fits the host-wide total beside the others'.  A VM
 * taken over after a memxd restart was admitted before: it is let in
 * even if the total shrank meanwhile (refusing it would freeze it for
 * good), with a warning.
 */
static int check_total(const struct pager *pg, const struct vm_spec *spec,
		       char *why, size_t whylen)
{
	uint64_t total = pg->cfg.local_total, used = pager_reserved(pg);
	uint64_t want = spec->budget / PAGE * PAGE;	/* as vm->budget */
	GString *who;
	char a[32], b[32], c[32];

	if (!total || used + want <= total)
		return 0;
	if (spec->state_fd >= 0) {
		log_warn("vm %s, taken over, is over the host's memx total: "
			 "budget %s beside %s reserved, total %s (local-total)",
			 spec->name, size_str(a, sizeof(a), want),
			 size_str(b, sizeof(b), used),
			 size_str(c, sizeof(c), total));
		return 0;
	}
	who = g_string_new(NULL);
	for (const struct vm *o = pg->vms; o; o = o->next)
		g_string_append_printf(who, "%s%s %s", who->len ? ", " : "",
				       o->name, size_str(a, sizeof(a),
							 o->budget * PAGE));
	snprintf(why, whylen, "budget %s does not fit the host's memx total "
		 "of %s (local-total): %s is reserved%s%s",
		 size_str(a, sizeof(a), want), size_str(b, sizeof(b), total),
		 size_str(c, sizeof(c), used), who->len ? " by " : "",
		 who->str);
	g_string_free(who, TRUE);
	return -ENOSPC;
}

/* The checks that need nothing but the request: 0, or -errno and why. */
static int check_spec(const struct pager *pg, const struct vm_spec *spec,
		      char *why, size_t whylen)
{
	uint64_t total;
	int ret;

	if (!memchr(spec->name, 0, sizeof(spec->name)) ||
	    !memchr(spec->uuid, 0, sizeof(spec->uuid)) || !spec->name[0]) {
		snprintf(why, whylen, "the vm name must be set");
		return -EINVAL;
	}
	for (const char *c = spec->name; *c; c++) {
		if (!g_ascii_isalnum(*c) && !strchr("._-:+@", *c)) {
			snprintf(why, whylen, "vm name may hold only letters, "
				 "digits and . _ - : + @");
			return -EINVAL;
		}
	}
	for (const struct vm *o = pg->vms; o; o = o->next) {
		if (!strcmp(o->name, spec->name)) {
			snprintf(why, whylen, "a vm named %s is registered "
				 "already", spec->name);
			return -EEXIST;
		}
	}
	ret = check_regions(spec, &total, why, whylen);
	if (ret)
		return ret;
	if (spec->budget > total) {
		snprintf(why, whylen, "budget %llu is larger than the regions "
			 "(%llu bytes)", (unsigned long long)spec->budget,
			 (unsigned long long)total);
		return -EINVAL;
	}
	if (spec->budget / PAGE < PAGER_MIN_BUDGET_PAGES) {
		snprintf(why, whylen, "budget must be at least %u pages",
			 PAGER_MIN_BUDGET_PAGES);
		return -EINVAL;
	}
	return check_total(pg, spec, why, whylen);
}

/*
 * The memfd as guestmem found it: every region within it, and none of
 * it beyond the regions (memxd would keep state for pages nobody maps).
 */
static int check_memfd_size(const struct vm *vm, const struct vm_spec *spec,
			    char *why, size_t whylen)
{
	uint64_t reach = 0;

	for (unsigned i = 0; i < spec->nregions; i++) {
		const struct vm_region *r = &spec->regions[i];
		uint64_t end = r->offset + r->length;	/* checked: no wrap */

		if (end > vm->mem.size) {
			snprintf(why, whylen, "region %u ends past the memfd "
				 "(%llu bytes)", i,
				 (unsigned long long)vm->mem.size);
			return -EINVAL;
		}
		if (end > reach)
			reach = end;
	}
	if (vm->mem.size > reach) {
		snprintf(why, whylen, "the memfd (%llu bytes) is larger than "
			 "its regions reach (%llu bytes)",
			 (unsigned long long)vm->mem.size,
			 (unsigned long long)reach);
		return -EINVAL;
	}
	return 0;
}

/*
 * What a VM registering again brings back must be what an earlier memxd
 * handed over, not a file its VMM made to look like it:
 *   - the state, a memfd sealed as vmstate.c seals it (so that nobody can
 *     shrink it under memxd's mapping, nor write it; vmstate_open() then
 *     reads a private copy, which nobody can change while it is checked);
 *   - the spill file, a regular file of memxd's own (its uid), unlinked,
 *     on the file system of --spill-dir: not a file on a file system the
 *     VMM serves (FUSE), whose reads could hang memxd's event loop.
 */
static int check_handover(const struct pager *pg, const struct vm_spec *spec,
			  char *why, size_t whylen)
{
	const int seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
	struct stat st, dir;
	int got;

	got = fcntl(spec->state_fd, F_GET_SEALS);
	if (got < 0 || (got & seals) != seals ||
	    !(got & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))) {
		snprintf(why, whylen, "the state descriptor is not the sealed "
			 "memfd memxd handed over");
		return -EBADF;
	}
	/* A VM that migrated here brings no spill file (migrate.h). */
	if (spec->migrated)
		return 0;
	if (fstat(spec->spill_fd, &st) || !S_ISREG(st.st_mode) ||
	    st.st_nlink || st.st_uid != geteuid()) {
		snprintf(why, whylen, "the spill descriptor is not a spill "
			 "file memxd made (an unlinked file of its own)");
		return -EBADF;
	}
	if (stat(pg->cfg.spill_dir, &dir) || dir.st_dev != st.st_dev) {
		snprintf(why, whylen, "the spill file is not on the file "
			 "system of --spill-dir %s (was it changed? the VM's "
			 "spilled pages are in the old one)", pg->cfg.spill_dir);
		return -EXDEV;
	}
	return 0;
}

static void found_resident(void *arg, uint64_t page, uint64_t n)
{
	struct vm *vm = arg;

	for (uint64_t p = page; p < page + n && p < vm->npages; p++)
		pt_found_resident(&vm->pt, p);
}

/*
 * Set up the VM's layers, bottom up; on failure, undo what was done, in
 * reverse.  0, or -errno and why.  The descriptors become the VM's only
 * on success.  A VM an earlier memxd served brings that memxd's state
 * and spill file (@spec->state_fd, @spec->spill_fd) and is adopted.
 */
static int vm_setup(struct vm *vm, const struct vm_spec *spec,
		    struct adopt_report *rep, char *why, size_t whylen)
{
	struct pager *pg = vm->pg;
	bool adopting = spec->state_fd >= 0;
	struct vmstate old = { .fd = -1 };
	struct pg_geometry geo = pg->cfg.geo;
	int ret;

	if (adopting && spec->spill_fd < 0 && !spec->migrated) {
		snprintf(why, whylen, "a VM registering again must bring its "
			 "state and its spill file");
		return -EINVAL;
	}
	if (adopting) {
		ret = check_handover(pg, spec, why, whylen);
		if (ret)
			return ret;
	}
	ret = gm_open(&vm->mem, spec->uffd, spec->memfd, spec->regions,
		      spec->nregions, adopting, why, whylen);
	if (ret)
		return ret;
	ret = check_memfd_size(vm, spec, why, whylen);
	if (ret)
		goto err_mem;
	vm->npages = gm_pages(&vm->mem);
	if (adopting) {
		ret = vmstate_open(&old, spec->state_fd, vm->npages, why,
				   whylen);
		if (ret)
			goto err_mem;
		geo = old.geo;	/* the VM's groups keep their shape */
	}
	ret = vmstate_create(&vm->state, vm->name, vm->npages, &geo,
			     pg->nservers);
	if (ret) {
		snprintf(why, whylen, "cannot create the VM's state: %s",
			 strerror(-ret));
		goto err_old;
	}
	/* The key of its page MACs: kept for the VM's life. */
	if (adopting && old.keys) {
		*vm->state.keys = *old.keys;
	} else if (adopting) {
		/* An older memxd's: its pages on the servers carry no MAC. */
		integrity_new_key(vm->state.keys->key);
		vm->state.keys->flags = 0;
		log_warn("vm %s: taken over from a memxd without page "
			 "integrity: its pages carry no MAC, and it runs "
			 "without checks until it registers afresh", vm->name);
	} else {
		integrity_new_key(vm->state.keys->key);
		vm->state.keys->flags =
			(pg->cfg.integrity ? VMSTATE_INTEGRITY : 0) |
			(pg->cfg.integrity && pg->cfg.encrypt ?
			 VMSTATE_ENCRYPT : 0) | VMSTATE_POLY_AES;
	}
	/* Its tags' MAC is the one they were written with: kept. */
	ret = integrity_init(&vm->integ, vm->state.keys->key,
			     vm->state.keys->flags & VMSTATE_INTEGRITY,
			     vm->state.keys->flags & VMSTATE_ENCRYPT,
			     vm->state.keys->flags & VMSTATE_POLY_AES ?
			     INTEGRITY_POLY_AES : INTEGRITY_SIPHASH);
	if (ret) {
		snprintf(why, whylen, "cannot set up its page MACs: %s",
			 strerror(-ret));
		goto err_integ;
	}
	ret = -ENOMEM;
	snprintf(why, whylen, "out of memory for %lu pages",
		 (unsigned long)vm->npages);
	if (pt_init(&vm->pt, vm->npages, vm->state.pt, vm->state.ver))
		goto err_integ;
	/*
	 * The policy starts afresh, adopting or not: adopt_state() keeps no
	 * PT_HOT, PT_EPOCH or PT_DEMOTED of the old table (adopt.c).
	 */
	victim_init(&vm->victim, pg->cfg.evict_policy, vm->npages, vm->budget,
		    geo.width);
	if (vm->victim.policy != pg->cfg.evict_policy)
		log_info("vm %s: a budget of %lu pages is too small for the "
			 "%s policy's duel (%u at least): it evicts by %s",
			 vm->name, (unsigned long)vm->budget,
			 victim_policy_name(pg->cfg.evict_policy),
			 VICTIM_DUEL_MIN_BUDGET,
			 victim_policy_name(vm->victim.policy));
	if (pg_table_new(&vm->groups, vm->npages, &geo, vm->state.groups))
		goto err_pt;
	if (stripe_vm_init(vm))
		goto err_groups;
	if (pfcache_init(&vm->cache, pg->cfg.prefetch_max ? CACHE_PAGES : 0))
		goto err_stripe;
	unseen_init(&vm->unseen);
	vm->nsess = pg->nservers;
	vm->sess = calloc(vm->nsess ? vm->nsess : 1, sizeof(*vm->sess));
	if (!vm->sess)
		goto err_unseen;
	for (unsigned i = 0; i < vm->nsess; i++) {
		vm->sess[i].rec = &vm->state.sess[i].rec;
		snprintf(vm->state.sess[i].server, VMSTATE_NAME_LEN, "%s",
			 remote_server(pg->remote, i)->name);
	}
	if (fault_vm_init(vm))
		goto err_sess;
	if (adopting && !spec->migrated)
		ret = spill_adopt(&vm->spill, spec->spill_fd);
	else
		ret = spill_open(&vm->spill, pg->cfg.spill_dir, vm->name, why,
				 whylen);
	if (ret)
		goto err_fault;
	prefetch_init(&vm->pf, pg->cfg.prefetch_max);
	if (adopting) {
		ret = adopt_state(vm, &old, spec->migrated, rep, why, whylen);
		if (ret)
			goto err_spill;
		vmstate_close(&old);	/* its descriptor with it */
		return 0;
	}
	/* What the VMM wrote before registering is resident already. */
	ret = gm_for_each_present(&vm->mem, found_resident, vm);
	if (ret) {
		snprintf(why, whylen, "cannot scan the memfd: %s",
			 strerror(-ret));
		goto err_spill;
	}
	for (unsigned i = 0; i < vm->nsess; i++)
		remote_session_open(pg->remote, &vm->sess[i], i);
	return 0;
err_spill:
	if (adopting && !spec->migrated)
		vm->spill.fd = -1;	/* still the caller's */
	spill_close(&vm->spill);
err_fault:
	fault_vm_fini(vm);
err_sess:
	for (unsigned i = 0; i < vm->nsess; i++)
		if (vm->sess[i].r)
			remote_session_detach(pg->remote, &vm->sess[i]);
	free(vm->sess);
err_unseen:
	unseen_fini(&vm->unseen);
	pfcache_fini(&vm->cache);
err_stripe:
	stripe_vm_fini(vm);
err_groups:
	pg_table_free(vm->groups, pg->placement);
err_pt:
	pt_fini(&vm->pt);
err_integ:
	integrity_fini(&vm->integ);
	vmstate_close(&vm->state);
err_old:
	old.fd = -1;		/* still the caller's */
	vmstate_close(&old);
err_mem:
	/* The caller still owns the descriptors: guestmem lets go of them. */
	vm->mem.uffd = vm->mem.memfd = -1;
	gm_close(&vm->mem);
	return ret;
}

/* The last reference is gone: undo vm_setup(). */
static void vm_release(struct vm *vm)
{
	if (vm->suspects)
		g_hash_table_destroy(vm->suspects);
	spill_close(&vm->spill);
	fault_vm_fini(vm);
	free(vm->sess);
	unseen_fini(&vm->unseen);
	pfcache_fini(&vm->cache);
	stripe_vm_fini(vm);
	pg_table_free(vm->groups, vm->pg->placement);
	pt_fini(&vm->pt);
	integrity_fini(&vm->integ);
	vmstate_close(&vm->state);
	gm_close(&vm->mem);
	free(vm);
}

int pager_register(struct pager *pg, const struct vm_spec *spec,
		   struct vm **out, char *why, size_t whylen)
{
	struct adopt_report rep;
	struct vm *vm;
	int ret;

	ret = check_spec(pg, spec, why, whylen);
	if (ret)
		return ret;
	vm = calloc(1, sizeof(*vm));
	if (!vm) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	vm->pg = pg;
	vm->refs = 1;
	vm->release = vm_release;
	vm->pid = spec->pid;
	snprintf(vm->name, sizeof(vm->name), "%s", spec->name);
	snprintf(vm->uuid, sizeof(vm->uuid), "%s", spec->uuid);
	vm->budget = spec->budget / PAGE;
	vm->registered_ns = evl_now_ns();
	ret = vm_setup(vm, spec, &rep, why, whylen);
	if (ret) {
		free(vm);
		return ret;
	}
	vm->next = pg->vms;
	pg->vms = vm;
	vm->st.takeover_events = gm_held(&vm->mem);
	if (vm->st.takeover_events)
		log_warn("vm %s: read %lu userfaultfd event(s) while "
			 "registering (a REMOVE that the VMM's madvise() "
			 "waited on, left unread, and the faults queued with "
			 "it): handled now", vm->name,
			 (unsigned long)vm->st.takeover_events);
	if (spec->state_fd >= 0) {
		vm->st.takeover_rollbacks = rep.evictions_rolled_back;
		vm->st.takeover_reads_dropped = rep.fetches_dropped;
		vm->st.takeover_parities = rep.parities;
	}
	if (spec->migrated) {
		/* migrate_arrived() says the rest (migrate.h). */
		vm->mig = VM_MIG_IN;
		vm->adopted = rep;
	} else if (spec->state_fd >= 0)
		log_warn("vm %s (uuid %s, pid %d) taken over from an earlier "
			 "memxd: %lu pages resident; %lu evictions rolled back, "
			 "%lu reads dropped, %lu pages found freed; %u sessions "
			 "re-attached; parity of %lu groups to recompute; its "
			 "threads are woken to fault again", vm->name, vm->uuid,
			 vm->pid, (unsigned long)pt_resident(&vm->pt),
			 (unsigned long)rep.evictions_rolled_back,
			 (unsigned long)rep.fetches_dropped,
			 (unsigned long)rep.discards_found, rep.sessions,
			 (unsigned long)rep.parities);
	else
		log_info("vm %s (uuid %s, pid %d) registered: %lu MiB GPAS in "
			 "%u region(s), budget %lu MiB, %lu pages already "
			 "resident, %u memory server(s)", vm->name, vm->uuid,
			 vm->pid, (unsigned long)(vm->mem.size >> 20),
			 vm->mem.nregions,
			 (unsigned long)(vm->budget * PAGE >> 20),
			 (unsigned long)pt_resident(&vm->pt), pg->nservers);
	fault_vm_start(vm);
	*out = vm;
	return 0;
}

void pager_unregister(struct pager *pg, struct vm *vm)
{
	struct vm **pp = &pg->vms;
	const struct vm_stats *s = &vm->st;

	if (vm->mig == VM_MIG_IN) {
		/*
		 * It migrated here but never ran: its pages are the source's,
		 * which runs on if the migration failed.  Leave them.
		 */
		log_warn("vm %s: its VMM went away before it ran here (a "
			 "failed incoming migration): its pages stay on the "
			 "servers, for the source", vm->name);
		pager_detach(pg, vm);
		return;
	}
	while (*pp && *pp != vm)
		pp = &(*pp)->next;
	if (*pp)
		*pp = vm->next;
	log_info("vm %s unregistered after %lu s: %lu network faults, %lu "
		 "evictions; its remote pages are freed", vm->name,
		 (unsigned long)((evl_now_ns() - vm->registered_ns) / 1000000000),
		 (unsigned long)s->net_faults,
		 (unsigned long)(s->evict_clean + s->evict_dirty +
				 s->evict_zero + s->evict_spilled));
	vm->dead = true;
	/* UNREG now: the servers free the pages whatever is in flight. */
	for (unsigned i = 0; i < vm->nsess; i++)
		if (vm->sess[i].r)
			remote_session_close(pg->remote, &vm->sess[i]);
	fault_vm_stop(vm);
	vm_put(vm);
}

void pager_detach(struct pager *pg, struct vm *vm)
{
	struct vm **pp = &pg->vms;
	int ret;

	while (*pp && *pp != vm)
		pp = &(*pp)->next;
	if (*pp)
		*pp = vm->next;
	if (vm->mig == VM_MIG_NONE)
		log_info("vm %s left for the next memxd: its pages stay on "
			 "the servers, its state with its VMM", vm->name);
	/*
	 * What is in flight is cancelled below and as memxd goes: none of
	 * it may reach the state the next memxd takes over (a delta's
	 * writer count dropped there would hide a parity to recompute).
	 */
	ret = vmstate_detach(&vm->state);
	if (ret) {
		/* Then have the next memxd recompute every parity. */
		for (uint64_t g = 0; g < vm->state.ngroups; g++)
			vm->state.groups[g].writers |= 0x8000;
		log_err("vm %s: cannot keep its state from this memxd's last "
			"changes (%s): the next memxd recomputes every parity",
			vm->name, strerror(-ret));
	}
	vm->dead = true;
	/* No UNREG: the next memxd takes the sessions over. */
	for (unsigned i = 0; i < vm->nsess; i++)
		if (vm->sess[i].r)
			remote_session_detach(pg->remote, &vm->sess[i]);
	fault_vm_stop(vm);
	vm_put(vm);
}

void pager_vm_handover(const struct vm *vm, int *state_fd, int *spill_fd)
{
	*state_fd = vm->state.fd;
	*spill_fd = vm->spill.fd;
}

int pager_discard(struct vm *vm, uint64_t offset, uint64_t length)
{
	uint64_t end;

	if (offset % PAGE || length % PAGE ||
	    __builtin_add_overflow(offset, length, &end) ||
	    end > vm->npages * PAGE)
		return -EINVAL;
	fault_discard(vm, offset / PAGE, length / PAGE);
	return 0;
}

uint64_t pager_vm_pages(const struct vm *vm)
{
	return vm->npages;
}
