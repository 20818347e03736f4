// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmstate.c - a VM's pager state in a sealed memfd (vmstate.h).
 */
#include "vmstate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE	0x0010	/* Linux 5.1 */
#endif

#define VMSTATE_MAGIC	"MEMXVMS1"
#define VMSTATE_VERSION	3u
#define ALIGN		4096u

/*
 * Version 2 adds the keys and the page versions after everything version
 * 1 had, where it had it: a version 1 state (a memxd before page
 * integrity) is a version 2 state without its tail, and is adopted so,
 * its VM running without integrity (vmstate_open).  Version 3 adds the
 * REMOVEs after those, in the same way: an older state has none.
 */
struct vmstate_hdr {
	char magic[8];
	uint32_t version, hdr_size;
	uint64_t npages, ngroups;
	uint32_t width, rows, parity, nsess;
	uint32_t pte_size, group_size, sess_size, pad;
	uint64_t pt_off, groups_off, sess_off, size;
	char vm[VMSTATE_NAME_LEN];
	/* version 2 */
	uint64_t keys_off, ver_off;
	uint32_t keys_size, pad2;
	/* version 3 */
	uint64_t removes_off;
	uint32_t removes_size, pad3;
};

#define HDR_V1_SIZE	offsetof(struct vmstate_hdr, keys_off)
#define HDR_V2_SIZE	offsetof(struct vmstate_hdr, removes_off)

static uint64_t align_up(uint64_t v)
{
	return (v + ALIGN - 1) / ALIGN * ALIGN;
}

/* Where everything goes, for these sizes, in state @version. */
static void layout(struct vmstate_hdr *h, uint64_t npages,
		   const struct pg_geometry *geo, unsigned nsess,
		   unsigned version)
{
	uint64_t per = pg_group_pages(geo);

	memset(h, 0, sizeof(*h));
	memcpy(h->magic, VMSTATE_MAGIC, sizeof(h->magic));
	h->version = version;
	h->hdr_size = version == 1 ? HDR_V1_SIZE :
		      version == 2 ? HDR_V2_SIZE : sizeof(*h);
	h->npages = npages;
	h->ngroups = (npages + per - 1) / per;
	h->width = geo->width;
	h->rows = geo->rows;
	h->parity = geo->parity;
	h->nsess = nsess;
	h->pte_size = sizeof(pte_t);
	h->group_size = sizeof(struct pg_group);
	h->sess_size = sizeof(struct vmstate_session);
	h->sess_off = align_up(sizeof(*h));
	h->groups_off = align_up(h->sess_off +
				 (uint64_t)nsess * h->sess_size);
	h->pt_off = align_up(h->groups_off + h->ngroups * h->group_size);
	h->size = align_up(h->pt_off + npages * h->pte_size);
	if (version == 1)
		return;
	h->keys_size = sizeof(struct vmstate_keys);
	h->keys_off = h->size;
	h->ver_off = align_up(h->keys_off + h->keys_size);
	h->size = align_up(h->ver_off + npages);
	if (version == 2)
		return;
	h->removes_size = sizeof(struct vmstate_removes);
	h->removes_off = h->size;
	h->size = align_up(h->removes_off + h->removes_size);
}

static void point(struct vmstate *st, const struct vmstate_hdr *h)
{
	uint8_t *base = st->map;

	st->npages = h->npages;
	st->ngroups = h->ngroups;
	st->nsess = h->nsess;
	st->geo = (struct pg_geometry){ h->width, h->rows, h->parity };
	st->sess = (struct vmstate_session *)(base + h->sess_off);
	st->groups = (struct pg_group *)(base + h->groups_off);
	st->pt = (pte_t *)(base + h->pt_off);
	st->ver = h->version == 1 ? NULL : base + h->ver_off;
	st->keys = h->version == 1 ? NULL :
		   (struct vmstate_keys *)(base + h->keys_off);
	st->removes = h->version < 3 ? NULL :
		      (struct vmstate_removes *)(base + h->removes_off);
}

int vmstate_create(struct vmstate *st, const char *vm, uint64_t npages,
		   const struct pg_geometry *geo, unsigned nsess)
{
	struct vmstate_hdr h;
	int ret;

	layout(&h, npages, geo, nsess, VMSTATE_VERSION);
	snprintf(h.vm, sizeof(h.vm), "%s", vm);
	*st = (struct vmstate){ .fd = -1, .map = MAP_FAILED };
	st->fd = memfd_create("memx-vmstate", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (st->fd < 0)
		return -errno;
	if (ftruncate(st->fd, (off_t)h.size) < 0)
		goto err;
	st->map = mmap(NULL, h.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       st->fd, 0);
	if (st->map == MAP_FAILED)
		goto err;
	st->size = h.size;
	/*
	 * Ours alone to write: the VMM that holds it may read it (and give
	 * it back), but not map it writable, write it, grow or shrink it.
	 */
	if (fcntl(st->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
		  F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) < 0)
		goto err;
	memcpy(st->map, &h, sizeof(h));
	point(st, &h);
	return 0;
err:
	ret = -errno;
	vmstate_close(st);
	return ret;
}

/* A REMOVE record names pages of the VM only, and its kept ones in it. */
static bool remove_valid(const struct vmstate_remove *r, uint64_t npages)
{
	if (!r->live)
		return true;	/* never read again */
	if (r->live != 1 || r->n > npages || r->first > npages - r->n ||
	    r->nkept > VMSTATE_REMOVE_KEPT + 1)
		return false;
	for (uint32_t i = 0; i < r->nkept && i < VMSTATE_REMOVE_KEPT; i++)
		if (r->kept[i] < r->first || r->kept[i] - r->first >= r->n)
			return false;
	return true;
}

static bool group_valid(const struct pg_group *g, const struct vmstate_hdr *h)
{
	unsigned slots = h->width + (h->parity ? 1 : 0);

	if (g->state >= PG_NSTATES || g->bad >= slots ||
	    (g->lost >> slots))
		return false;
	if (g->state == PG_EMPTY)
		return true;
	for (unsigned i = 0; i < slots; i++)
		if (g->srv[i] >= h->nsess)
			return false;
	return true;
}

int vmstate_open(struct vmstate *st, int fd, uint64_t npages, char *why,
		 size_t len)
{
	struct vmstate_hdr h, want;
	struct pg_geometry geo;
	char gwhy[128];
	struct stat sb;

	*st = (struct vmstate){ .fd = -1, .map = MAP_FAILED };
	if (fstat(fd, &sb) < 0 || (size_t)sb.st_size < sizeof(h) ||
	    pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		snprintf(why, len, "the state descriptor is not a memx state");
		return -EINVAL;
	}
	geo = (struct pg_geometry){ h.width, h.rows, h.parity != 0 };
	if (memcmp(h.magic, VMSTATE_MAGIC, sizeof(h.magic)) ||
	    h.version < 1 || h.version > VMSTATE_VERSION) {
		snprintf(why, len, "the state descriptor is not a memx state of "
			 "version 1 to %u", VMSTATE_VERSION);
		return -EINVAL;
	}
	if (h.npages != npages) {
		snprintf(why, len, "the state is of %lu pages, the memfd of %lu",
			 (unsigned long)h.npages, (unsigned long)npages);
		return -EINVAL;
	}
	if (h.parity > 1 || h.nsess > PG_MAX_SERVERS ||
	    pg_geometry_check(&geo, 0, gwhy, sizeof(gwhy))) {
		snprintf(why, len, "the state's page-groups are invalid");
		return -EINVAL;
	}
	/* Every offset and size must be what this memxd would lay out. */
	layout(&want, npages, &geo, h.nsess, h.version);
	memcpy(want.vm, h.vm, sizeof(want.vm));
	if (memcmp(&h, &want, want.hdr_size) || (uint64_t)sb.st_size < h.size ||
	    !memchr(h.vm, 0, sizeof(h.vm))) {
		snprintf(why, len, "the state's layout is not one this memxd "
			 "wrote");
		return -EINVAL;
	}
	/*
	 * A private copy, checked and used from there: the VMM holds the
	 * state, and a state it forged could still be written (through a
	 * mapping made before sealing) or shrunk while memxd read it.  pread
	 * of a file that shrank comes back short; a mapping would SIGBUS.
	 */
	st->map = mmap(NULL, h.size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (st->map == MAP_FAILED) {
		snprintf(why, len, "cannot map the state: %s", strerror(errno));
		return -errno;
	}
	st->size = h.size;
	for (size_t off = 0; off < h.size;) {
		ssize_t n = pread(fd, (uint8_t *)st->map + off, h.size - off,
				  (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(why, len, "cannot read the state: %s",
				 n ? strerror(errno) : "it is shorter than "
				 "its header says");
			goto bad;
		}
		off += (size_t)n;
	}
	if (memcmp(st->map, &h, sizeof(h))) {
		snprintf(why, len, "the state changed while memxd read it");
		goto bad;
	}
	mprotect(st->map, h.size, PROT_READ);
	st->fd = fd;
	point(st, &h);
	for (uint64_t g = 0; g < st->ngroups; g++) {
		if (!group_valid(&st->groups[g], &h)) {
			snprintf(why, len, "the state's group %lu is invalid",
				 (unsigned long)g);
			goto bad;
		}
	}
	for (uint64_t p = 0; p < st->npages; p++) {
		if ((st->pt[p] & PT_STATE) >= PS_NSTATES) {
			snprintf(why, len, "the state's page %lu is invalid",
				 (unsigned long)p);
			goto bad;
		}
	}
	for (unsigned i = 0; st->removes && i < VMSTATE_REMOVES; i++) {
		if (!remove_valid(&st->removes->r[i], st->npages)) {
			snprintf(why, len, "the state's REMOVE record %u is "
				 "invalid", i);
			goto bad;
		}
	}
	if (st->keys && (st->keys->flags & ~(VMSTATE_INTEGRITY |
					     VMSTATE_ENCRYPT |
					     VMSTATE_POLY_AES) ||
			 (st->keys->flags & VMSTATE_ENCRYPT &&
			  !(st->keys->flags & VMSTATE_INTEGRITY)))) {
		snprintf(why, len, "the state's keys are invalid");
		goto bad;
	}
	for (unsigned i = 0; i < st->nsess; i++) {
		if (!memchr(st->sess[i].server, 0, VMSTATE_NAME_LEN)) {
			snprintf(why, len, "the state's session %u is invalid",
				 i);
			goto bad;
		}
	}
	return 0;
bad:
	st->fd = -1;		/* the caller still owns it */
	vmstate_close(st);
	return -EINVAL;
}

int vmstate_detach(struct vmstate *st)
{
	void *m;

	if (st->fd < 0 || st->map == MAP_FAILED || !st->map)
		return 0;
	/* Same address, same contents, but our writes stay ours now. */
	m = mmap(st->map, st->size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_FIXED, st->fd, 0);
	return m == MAP_FAILED ? -errno : 0;
}

void vmstate_close(struct vmstate *st)
{
	if (st->map != MAP_FAILED && st->map)
		munmap(st->map, st->size);
	if (st->fd >= 0)
		close(st->fd);
	*st = (struct vmstate){ .fd = -1, .map = MAP_FAILED };
}
