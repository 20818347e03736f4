// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pager_vm.c - a VM arrives (checked, then set up) and leaves (its
 * remote pages freed, its state torn down once nothing refers to it).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../log.h"
#include "pager_int.h"

/* ---- registration ---- */

static int check_fd_kind(int fd, const char *prefix)
{
	char path[64], target[256];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = 0;
	return strncmp(target, prefix, strlen(prefix)) ? -EINVAL : 0;
}

static int vm_open_spill(struct vm *vm, const char *dir)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/memx-spill-%s-XXXXXX", dir, vm->name);
	for (char *c = path + strlen(dir) + 1; *c; c++)
		if (*c == '/')
			*c = '_';
	vm->spill_fd = mkostemp(path, O_CLOEXEC);
	if (vm->spill_fd < 0)
		return -errno;
	unlink(path);		/* anonymous: gone when we close it */
	return 0;
}

int pager_register(struct pager *pg, const struct vm_spec *spec,
		   struct vm **out, char *why, size_t whylen)
{
	struct vm *vm;
	struct stat st;
	uint64_t total = 0, present = 0;
	unsigned nsrv = remote_count(pg->remote);
	int ret;

#define REFUSE(err, ...) do { snprintf(why, whylen, __VA_ARGS__); \
			      return (err); } while (0)
	if (!spec->nregions)
		REFUSE(-EINVAL, "no region given");
	for (const char *c = spec->name; *c; c++)
		if (!g_ascii_isalnum(*c) && !strchr("._-:+@", *c))
			REFUSE(-EINVAL, "vm name may hold only letters, digits "
			       "and . _ - : + @");
	for (struct vm *o = pg->vms; o; o = o->next)
		if (!strcmp(o->name, spec->name))
			REFUSE(-EEXIST, "a vm named %s is registered already",
			       spec->name);
	if (check_fd_kind(spec->uffd, "anon_inode:[userfaultfd]"))
		REFUSE(-EBADF, "the first descriptor is not a userfaultfd");
	if (check_fd_kind(spec->memfd, "/memfd:") || fstat(spec->memfd, &st))
		REFUSE(-EBADF, "the second descriptor is not a memfd");
	for (unsigned i = 0; i < spec->nregions; i++) {
		const struct vm_region *r = &spec->regions[i];

		if (r->page_size != PAGE)
			REFUSE(-EINVAL, "region %u: page size %lu is not "
			       "supported (only 4096; no hugepages)", i,
			       (unsigned long)r->page_size);
		if (!r->length || r->hva % PAGE || r->offset % PAGE ||
		    r->length % PAGE)
			REFUSE(-EINVAL, "region %u is not page aligned", i);
		if (r->offset + r->length > (uint64_t)st.st_size)
			REFUSE(-EINVAL, "region %u ends past the memfd (%lu "
			       "bytes)", i, (unsigned long)st.st_size);
		total += r->length;
	}
	if (spec->budget > total)
		REFUSE(-EINVAL, "budget %lu is larger than the regions (%lu "
		       "bytes)", (unsigned long)spec->budget,
		       (unsigned long)total);
	if (spec->budget / PAGE < PAGER_MIN_BUDGET_PAGES)
		REFUSE(-EINVAL, "budget must be at least %u pages",
		       PAGER_MIN_BUDGET_PAGES);

	vm = calloc(1, sizeof(*vm));
	if (!vm)
		REFUSE(-ENOMEM, "out of memory");
	vm->pg = pg;
	vm->refs = 1;
	vm->uffd = spec->uffd;
	vm->memfd = spec->memfd;
	vm->spill_fd = -1;
	vm->pid = spec->pid;
	snprintf(vm->name, sizeof(vm->name), "%s", spec->name);
	snprintf(vm->uuid, sizeof(vm->uuid), "%s", spec->uuid);
	memcpy(vm->regions, spec->regions, sizeof(vm->regions));
	vm->nregions = spec->nregions;
	vm->memfd_size = (uint64_t)st.st_size;
	vm->npages = vm->memfd_size / PAGE;
	vm->budget = spec->budget / PAGE;
	vm->registered_ns = evl_now_ns();
	g_queue_init(&vm->deferred);
	g_queue_init(&vm->retry);
	g_queue_init(&vm->pwait);
	evl_timer_init(&vm->retry_timer, retry_fire);
	g_queue_init(&vm->cache_fifo);
	g_queue_init(&vm->cache_free);

	/* The fault loop must never block on it, whatever the VMM chose. */
	fcntl(vm->uffd, F_SETFL, fcntl(vm->uffd, F_GETFL) | O_NONBLOCK);
	/* The userfaultfd must be registered for MISSING and WP faults. */
	for (unsigned i = 0; i < vm->nregions; i++) {
		struct uffdio_writeprotect w = {
			.range = { .start = vm->regions[i].hva,
				   .len = vm->regions[i].length },
			.mode = 0,
		};

		if (ioctl(vm->uffd, UFFDIO_WRITEPROTECT, &w) < 0) {
			snprintf(why, whylen, "region %u is not registered "
				 "with the userfaultfd for write-protect "
				 "faults (%s)", i, strerror(errno));
			ret = -EINVAL;
			goto err;
		}
	}
	vm->view = mmap(NULL, vm->memfd_size, PROT_READ, MAP_SHARED,
			vm->memfd, 0);
	vm->pt = calloc(vm->npages, 1);
	if (vm->view == MAP_FAILED || !vm->pt ||
	    pg_table_new(&vm->groups, vm->npages, &pg->cfg.geo)) {
		if (vm->view == MAP_FAILED)
			vm->view = NULL;
		snprintf(why, whylen, "out of memory for %lu pages",
			 (unsigned long)vm->npages);
		ret = -ENOMEM;
		goto err;
	}
	ret = vm_open_spill(vm, pg->cfg.spill_dir);
	if (ret) {
		snprintf(why, whylen, "cannot create a spill file in %s: %s",
			 pg->cfg.spill_dir, strerror(-ret));
		goto err;
	}
	/*
	 * What the VMM wrote before registering is resident already.  The
	 * memfd's data extents say where, without a call per page: a large,
	 * sparse GPAS registers in one pass over its few extents.
	 */
	for (off_t pos = 0; pos < (off_t)vm->memfd_size;) {
		off_t data = lseek(vm->memfd, pos, SEEK_DATA), hole;

		if (data < 0)
			break;		/* ENXIO: no data after pos */
		hole = lseek(vm->memfd, data, SEEK_HOLE);
		if (hole < 0 || hole > (off_t)vm->memfd_size)
			hole = (off_t)vm->memfd_size;
		for (uint64_t p = (uint64_t)data / PAGE;
		     p < ((uint64_t)hole + PAGE - 1) / PAGE; p++) {
			vm->pt[p] = PS_RESIDENT | PT_DIRTY | PT_REF;
			present++;
		}
		pos = hole;
	}
	vm->resident = present;
	note_resident(vm);
	prefetch_init(&vm->pf, pg->cfg.prefetch_max);
	vm->cache = g_hash_table_new(g_int64_hash, g_int64_equal);
	if (pg->cfg.prefetch_max) {
		vm->cache_pool = calloc(CACHE_PAGES, sizeof(*vm->cache_pool));
		if (!vm->cache_pool || posix_memalign((void **)&vm->cache_mem,
						      PAGE, CACHE_PAGES * PAGE)) {
			snprintf(why, whylen, "out of memory");
			ret = -ENOMEM;
			goto err;
		}
		for (unsigned i = 0; i < CACHE_PAGES; i++) {
			vm->cache_pool[i].buf = vm->cache_mem + (size_t)i * PAGE;
			vm->cache_pool[i].link.data = &vm->cache_pool[i];
			g_queue_push_tail_link(&vm->cache_free,
					       &vm->cache_pool[i].link);
		}
	}
	vm->nsess = nsrv;
	vm->sess = calloc(nsrv ? nsrv : 1, sizeof(*vm->sess));
	if (!vm->sess) {
		snprintf(why, whylen, "out of memory");
		ret = -ENOMEM;
		goto err;
	}
	for (unsigned i = 0; i < nsrv; i++) {
		remote_session_open(pg->remote, &vm->sess[i], i);
	}
	vm->poll_op.done = uffd_ready;
	vm_get(vm);		/* the poll's reference */
	evl_poll(pg->loop, vm->uffd, POLLIN, &vm->poll_op);
	vm->next = pg->vms;
	pg->vms = vm;
	log_info("vm %s (uuid %s, pid %d) registered: %lu MiB GPAS in %u "
		 "region(s), budget %lu MiB, %lu pages already resident, "
		 "%u memory server(s)", vm->name, vm->uuid, vm->pid,
		 (unsigned long)(vm->memfd_size >> 20), vm->nregions,
		 (unsigned long)(vm->budget * PAGE >> 20),
		 (unsigned long)present, nsrv);
	vm_evict_more(vm);
	*out = vm;
	return 0;
err:
	vm->uffd = -1;		/* the caller still owns the descriptors */
	vm->memfd = -1;
	vm_destroy(vm);
	return ret;
#undef REFUSE
}

void vm_destroy(struct vm *vm)
{
	struct deferred *d;

	if (vm->sess) {
		for (unsigned i = 0; i < vm->nsess; i++)
			if (vm->sess[i].r)
				remote_session_close(vm->pg->remote,
						     &vm->sess[i]);
		free(vm->sess);
	}
	while ((d = g_queue_pop_head(&vm->deferred)))
		g_free(d);
	while ((d = g_queue_pop_head(&vm->retry)))
		g_free(d);
	while ((d = g_queue_pop_head(&vm->pwait)))
		g_free(d);
	evl_timer_cancel(vm->pg->loop, &vm->retry_timer);
	if (vm->cache)
		g_hash_table_destroy(vm->cache);
	free(vm->cache_pool);
	free(vm->cache_mem);
	if (vm->view)
		munmap(vm->view, vm->memfd_size);
	pg_table_free(vm->groups, remote_pg(vm->pg->remote));
	free(vm->pt);
	if (vm->uffd >= 0)
		close(vm->uffd);
	if (vm->memfd >= 0)
		close(vm->memfd);
	if (vm->spill_fd >= 0)
		close(vm->spill_fd);
	free(vm);
}

void pager_unregister(struct pager *pg, struct vm *vm)
{
	struct vm **pp = &pg->vms;

	while (*pp && *pp != vm)
		pp = &(*pp)->next;
	if (*pp)
		*pp = vm->next;
	log_info("vm %s unregistered after %lu s: %lu network faults, %lu "
		 "evictions; its remote pages are freed", vm->name,
		 (unsigned long)((evl_now_ns() - vm->registered_ns) / 1000000000),
		 (unsigned long)vm->st.net_faults,
		 (unsigned long)(vm->st.evict_clean + vm->st.evict_dirty +
				 vm->st.evict_zero + vm->st.evict_spilled));
	vm->dead = true;
	/* UNREG now: the servers free the pages whatever is in flight. */
	for (unsigned i = 0; i < vm->nsess; i++)
		if (vm->sess[i].r)
			remote_session_close(pg->remote, &vm->sess[i]);
	/* Cancel the poll: its completion drops the poll's reference. */
	io_uring_prep_poll_remove(evl_sqe(pg->loop, NULL),
				  (uint64_t)(uintptr_t)&vm->poll_op);
	vm_put(vm);
}

int pager_discard(struct vm *vm, uint64_t offset, uint64_t length)
{
	if (offset % PAGE || length % PAGE || offset + length > vm->memfd_size ||
	    offset + length < offset)
		return -EINVAL;
	for (uint64_t p = offset / PAGE; p < (offset + length) / PAGE; p++) {
		if ((pt_state(vm->pt[p]) == PS_RESIDENT ||
		     pt_state(vm->pt[p]) == PS_EVICTING) &&
		    page_present(vm, p))
			continue;	/* not actually gone */
		page_discarded(vm, p);
	}
	vm->st.discards++;
	vm_drain_deferred(vm);
	return 0;
}

uint64_t pager_vm_pages(const struct vm *vm)
{
	return vm->npages;
}

unsigned pager_vm_count(const struct pager *pg)
{
	unsigned n = 0;

	for (const struct vm *vm = pg->vms; vm; vm = vm->next)
		n++;
	return n;
}
