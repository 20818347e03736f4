// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * guestmem.c - guestmem.h on a real userfaultfd and memfd.
 */
#include "guestmem.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC		0x01021994
#endif
#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC		0x958458f6
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE	0x0010	/* Linux 5.1 */
#endif

/*
 * While a REMOVE event is unread, write-protecting fails (EAGAIN).  Each
 * thread of the VMM has at most one event queued (its fault, or its
 * madvise's REMOVE), so gm_open() reads at most this many before giving
 * up, and for at most this long: it runs in memxd's event loop.
 */
#define GM_HELD_MAX	256u
#define GM_OPEN_WAIT_MS	1000

#ifndef UFFDIO_POISON
/* Linux 6.6; Debian 12's headers predate it. */
struct uffdio_poison {
	struct uffdio_range range;
	uint64_t mode;
	int64_t updated;
};
#define _UFFDIO_POISON	(0x08)
#define UFFDIO_POISON	_IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#endif

/*
 * Our read-only mapping of the memfd: mincore() tells what it holds.
 * memxd never touches its bytes (pages are read with pread), so a VMM
 * that truncates the memfd under it costs memxd no SIGBUS: reads of what
 * is gone come back short (-EIO), and those pages stay where they are.
 */
struct gm_real {
	uint8_t *view;
	/* Events gm_open() had to read before it could write-protect. */
	struct uffd_msg held[GM_HELD_MAX];
	unsigned nheld, next_held;
};

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

/*
 * The features the userfaultfd was given (UFFDIO_API), from its fdinfo;
 * -errno if it has none (it is no userfaultfd).
 */
static int uffd_features(int fd, uint64_t *features)
{
	char path[64], line[128];
	unsigned long long api, ioctls;
	unsigned int feat;
	int ret = -EBADF;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "API:\t%llx:%x:%llx", &api, &feat,
			   &ioctls) == 3) {
			*features = feat;
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

static int check_uffd(int uffd, char *why, size_t whylen)
{
	uint64_t features = 0;

	if (check_fd_kind(uffd, "anon_inode:[userfaultfd]") ||
	    uffd_features(uffd, &features)) {
		snprintf(why, whylen, "the first descriptor is not a "
			 "userfaultfd");
		return -EBADF;
	}
	/*
	 * With EVENT_FORK, reading a fork event would put a new descriptor
	 * in memxd's table each time the VMM forks: refused.
	 */
	if (features & UFFD_FEATURE_EVENT_FORK) {
		snprintf(why, whylen, "the userfaultfd has "
			 "UFFD_FEATURE_EVENT_FORK, which memxd refuses");
		return -EINVAL;
	}
	return 0;
}

/*
 * The memfd must be a memfd of 4 KiB pages (shmem, not hugetlbfs) that
 * memxd can punch holes in: not sealed against writes (F_SEAL_WRITE or
 * F_SEAL_FUTURE_WRITE make every punch fail with EPERM, so no evicted
 * page would ever leave), and, since a seal can come later, sealed
 * against new seals (F_SEAL_SEAL, added here if the memfd allows it).
 * F_SEAL_SHRINK and F_SEAL_GROW are harmless: memxd never resizes it.
 */
static int check_memfd(int memfd, struct stat *st, char *why, size_t whylen)
{
	struct statfs sfs;
	int seals;

	if (check_fd_kind(memfd, "/memfd:") || fstat(memfd, st) ||
	    !S_ISREG(st->st_mode) || fstatfs(memfd, &sfs)) {
		snprintf(why, whylen, "the second descriptor is not a memfd");
		return -EBADF;
	}
	if (sfs.f_type == HUGETLBFS_MAGIC) {
		snprintf(why, whylen, "the memfd is of huge pages "
			 "(MFD_HUGETLB): memxd pages 4 KiB pages only");
		return -EINVAL;
	}
	seals = fcntl(memfd, F_GET_SEALS);
	if (sfs.f_type != TMPFS_MAGIC || seals < 0) {
		snprintf(why, whylen, "the second descriptor is not a memfd "
			 "(not shared memory)");
		return -EBADF;
	}
	if (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) {
		snprintf(why, whylen, "the memfd is sealed against writes "
			 "(F_SEAL_WRITE or F_SEAL_FUTURE_WRITE): memxd could "
			 "not punch the pages it evicts out of it");
		return -EPERM;
	}
	if (!(seals & F_SEAL_SEAL) &&
	    fcntl(memfd, F_ADD_SEALS, F_SEAL_SEAL) < 0) {
		snprintf(why, whylen, "cannot seal the memfd's seals "
			 "(F_SEAL_SEAL): %s", strerror(errno));
		return -errno;
	}
	if ((uint64_t)st->st_size > GM_MAX_SIZE) {
		snprintf(why, whylen, "the memfd is larger than %llu GiB",
			 GM_MAX_SIZE >> 30);
		return -E2BIG;
	}
	return 0;
}

static uint64_t ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)((t.tv_sec - t0->tv_sec) * 1000000000ll +
			  (t.tv_nsec - t0->tv_nsec)) / 1000000;
}

/* Up to @max events from the uffd: how many, 0 if none, or -errno. */
static int read_msgs(int uffd, struct uffd_msg *msgs, unsigned max)
{
	ssize_t n = read(uffd, msgs, max * sizeof(*msgs));

	if (n > 0)
		return (int)((size_t)n / sizeof(*msgs));
	if (n == 0)
		return -EPIPE;
	return errno == EAGAIN || errno == EINTR ? 0 : -errno;
}

/*
 * Read what the uffd holds into @g's held events, waiting a little for
 * an event on its way (madvise() raises the count that fails the ioctl
 * just before it queues its REMOVE).  0, or -errno.
 */
static int hold_events(int uffd, struct gm_real *g)
{
	struct pollfd pfd = { .fd = uffd, .events = POLLIN };
	int n = read_msgs(uffd, g->held + g->nheld, GM_HELD_MAX - g->nheld);

	if (n < 0)
		return n;
	if (n)
		g->nheld += (unsigned)n;
	else
		poll(&pfd, 1, 10);
	return 0;
}

static unsigned held_removes(const struct gm_real *g)
{
	unsigned n = 0;

	for (unsigned i = 0; i < g->nheld; i++)
		n += g->held[i].event == UFFD_EVENT_REMOVE;
	return n;
}

/*
 * The userfaultfd must be registered for MISSING and WP faults, which
 * only a WRITEPROTECT can tell, and that changes the protection.  A new
 * VM has no page protected yet: clearing changes nothing.  A VM taken
 * over has clean pages that must stay protected, and a vCPU may write
 * them now: protect every page (a page protected needlessly costs one WP
 * fault; one unprotected needlessly would lose a write, clearing and
 * protecting again leaves that window open).  Neither wakes a thread
 * blocked on a fault: that is the caller's to do, once it knows the
 * pages.  The kernel checks for an unread REMOVE before it changes any
 * page, so a region that met one is simply protected again.
 */
static int protect_regions(int uffd, const struct vm_region *regions,
			   unsigned nregions, bool protect_all,
			   struct gm_real *g, char *why, size_t whylen)
{
	struct timespec t0;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < nregions;) {
		struct uffdio_writeprotect w = {
			.range = { .start = regions[i].hva,
				   .len = regions[i].length },
			/* Protecting never wakes; WP with DONTWAKE is EINVAL. */
			.mode = protect_all ? UFFDIO_WRITEPROTECT_MODE_WP
					    : UFFDIO_WRITEPROTECT_MODE_DONTWAKE,
		};

		if (!ioctl(uffd, UFFDIO_WRITEPROTECT, &w)) {
			i++;
			continue;
		}
		if (errno != EAGAIN) {
			snprintf(why, whylen, "region %u is not registered "
				 "with the userfaultfd for write-protect "
				 "faults (%s)", i, strerror(errno));
			return -EINVAL;
		}
		if (g->nheld == GM_HELD_MAX ||
		    ms_since(&t0) > GM_OPEN_WAIT_MS) {
			snprintf(why, whylen, "the VMM's memory map kept "
				 "changing for %u ms (%u events read, %u of them "
				 "REMOVEs, whose pages may now read stale data "
				 "rather than zeros): try again",
				 (unsigned)ms_since(&t0), g->nheld,
				 held_removes(g));
			return -EAGAIN;
		}
		ret = hold_events(uffd, g);
		if (ret) {
			snprintf(why, whylen, "cannot read the userfaultfd's "
				 "events: %s", strerror(-ret));
			return ret;
		}
	}
	return 0;
}

int gm_open(struct guestmem *m, int uffd, int memfd,
	    const struct vm_region *regions, unsigned nregions,
	    bool protect_all, char *why, size_t whylen)
{
	struct gm_real *g;
	struct stat st;
	int ret, flags;

	if (nregions > GM_MAX_REGIONS) {
		snprintf(why, whylen, "too many regions (at most %u)",
			 GM_MAX_REGIONS);
		return -E2BIG;
	}
	ret = check_uffd(uffd, why, whylen);
	if (ret)
		return ret;
	ret = check_memfd(memfd, &st, why, whylen);
	if (ret)
		return ret;
	for (unsigned i = 0; i < nregions; i++) {
		uint64_t end;

		if (__builtin_add_overflow(regions[i].offset,
					   regions[i].length, &end) ||
		    end > (uint64_t)st.st_size) {
			snprintf(why, whylen, "region %u ends past the memfd "
				 "(%llu bytes)", i,
				 (unsigned long long)st.st_size);
			return -EINVAL;
		}
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	/* The fault loop must never block on it, whatever the VMM chose. */
	flags = fcntl(uffd, F_GETFL);
	fcntl(uffd, F_SETFL, flags | O_NONBLOCK);
	ret = protect_regions(uffd, regions, nregions, protect_all, g, why,
			      whylen);
	if (ret)
		goto err;
	g->view = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, memfd,
		       0);
	if (g->view == MAP_FAILED) {
		snprintf(why, whylen, "cannot map the memfd: %s",
			 strerror(errno));
		ret = -ENOMEM;
		goto err;
	}
	*m = (struct guestmem){ .uffd = uffd, .memfd = memfd,
				.size = (uint64_t)st.st_size,
				.nregions = nregions, .impl = g };
	memcpy(m->regions, regions, nregions * sizeof(*regions));
	return 0;
err:
	fcntl(uffd, F_SETFL, flags);
	free(g);
	return ret;
}

void gm_close(struct guestmem *m)
{
	struct gm_real *g = m->impl;

	if (g) {
		munmap(g->view, m->size);
		free(g);
	}
	if (m->uffd >= 0)
		close(m->uffd);
	if (m->memfd >= 0)
		close(m->memfd);
	m->impl = NULL;
	m->uffd = m->memfd = -1;
}

int gm_pollfd(const struct guestmem *m)
{
	return m->uffd;
}

int gm_read_events(struct guestmem *m, struct uffd_msg *msgs, unsigned max)
{
	struct gm_real *g = m->impl;
	unsigned n = 0;
	int r;

	while (n < max && g->next_held < g->nheld)
		msgs[n++] = g->held[g->next_held++];
	if (n == max)
		return (int)n;
	r = read_msgs(m->uffd, msgs + n, max - n);
	if (r > 0)
		return (int)n + r;
	/* With held events handed out, an error waits for the next read. */
	return n ? (int)n : r;
}

unsigned gm_held(const struct guestmem *m)
{
	const struct gm_real *g = m->impl;

	return g ? g->nheld - g->next_held : 0;
}

int gm_for_each_present(struct guestmem *m,
			void (*fn)(void *arg, uint64_t page, uint64_t n),
			void *arg)
{
	/*
	 * The memfd's data extents, not a call per page: a large, sparse
	 * GPAS is scanned in one pass over its few extents.
	 */
	for (off_t pos = 0; pos < (off_t)m->size;) {
		off_t data = lseek(m->memfd, pos, SEEK_DATA), hole;
		uint64_t first, end;

		if (data < 0)
			return errno == ENXIO ? 0 : -errno;
		hole = lseek(m->memfd, data, SEEK_HOLE);
		if (hole < 0 || hole > (off_t)m->size)
			hole = (off_t)m->size;
		first = (uint64_t)data / GM_PAGE;
		end = ((uint64_t)hole + GM_PAGE - 1) / GM_PAGE;
		fn(arg, first, end - first);
		pos = hole;
	}
	return 0;
}

void gm_wake(struct guestmem *m, uint64_t page)
{
	struct uffdio_range r = { .start = gm_hva(m, page), .len = GM_PAGE };

	ioctl(m->uffd, UFFDIO_WAKE, &r);
}

void gm_wake_all(struct guestmem *m)
{
	for (unsigned i = 0; i < m->nregions; i++) {
		struct uffdio_range r = { .start = m->regions[i].hva,
					  .len = m->regions[i].length };

		ioctl(m->uffd, UFFDIO_WAKE, &r);
	}
}

int gm_install(struct guestmem *m, uint64_t page, uint64_t count,
	       const void *src, bool wp, uint64_t *done)
{
	struct uffdio_copy c = {
		.dst = gm_hva(m, page),
		.src = (uintptr_t)src,
		.len = count * GM_PAGE,
		.mode = wp ? UFFDIO_COPY_MODE_WP : 0,
	};

	*done = 0;
	while (c.len) {
		if (ioctl(m->uffd, UFFDIO_COPY, &c) == 0) {
			*done = count;
			return 0;
		}
		if (c.copy > 0) {
			/*
			 * Part of the run went in before something stopped
			 * it (a page there already, a signal): go on from
			 * there, and meet the reason on the next call.
			 */
			*done += (uint64_t)c.copy / GM_PAGE;
			c.dst += (uint64_t)c.copy;
			c.src += (uint64_t)c.copy;
			c.len -= (uint64_t)c.copy;
			continue;
		}
		if (errno != EEXIST)
			return -errno;
		/* Its waiters go on with the bytes that are there. */
		gm_wake(m, page + *done);
		return -EEXIST;
	}
	return 0;
}

int gm_protect(struct guestmem *m, uint64_t page, uint64_t count, bool wp)
{
	struct uffdio_writeprotect w = {
		.range = { .start = gm_hva(m, page), .len = count * GM_PAGE },
		.mode = wp ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return ioctl(m->uffd, UFFDIO_WRITEPROTECT, &w) < 0 ? -errno : 0;
}

int gm_poison(struct guestmem *m, uint64_t page)
{
	struct uffdio_poison p = {
		.range = { .start = gm_hva(m, page), .len = GM_PAGE },
	};
	int ret;

	/*
	 * An evicted page may keep a write-protect marker in the VMM's page
	 * table, which POISON would take for a page (EEXIST): clear it.
	 */
	ret = gm_protect(m, page, 1, false);
	if (ret == -EAGAIN)
		return ret;
	/* EEXIST: another thread's fault poisoned it first. */
	if (ioctl(m->uffd, UFFDIO_POISON, &p) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int gm_read(struct guestmem *m, uint64_t page, uint64_t count, void *buf)
{
	size_t want = (size_t)count * GM_PAGE;
	ssize_t got = pread(m->memfd, buf, want, (off_t)(page * GM_PAGE));

	if (got < 0)
		return -errno;
	return (size_t)got == want ? 0 : -EIO;
}

int gm_punch(struct guestmem *m, uint64_t page, uint64_t count)
{
	if (fallocate(m->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)(page * GM_PAGE), (off_t)(count * GM_PAGE)) < 0)
		return -errno;
	return 0;
}

/*
 * The memfd's data and holes, from lseek: exact for shmem, where a page
 * swapped out by the host is still data (mincore would call it absent).
 */
bool gm_present(struct guestmem *m, uint64_t page)
{
	off_t at = (off_t)(page * GM_PAGE);
	off_t d = lseek(m->memfd, at, SEEK_DATA);

	if (d < 0)
		return errno != ENXIO;	/* ENXIO: holes to the end */
	return d == at;
}

int gm_present_all(struct guestmem *m, uint64_t npages, uint8_t *bits)
{
	off_t end = (off_t)(npages * GM_PAGE), at = 0;

	memset(bits, 0, (npages + 7) / 8);
	while (at < end) {
		off_t d = lseek(m->memfd, at, SEEK_DATA), h;

		if (d < 0 && errno == ENXIO)
			break;
		if (d < 0 || (h = lseek(m->memfd, d, SEEK_HOLE)) < 0)
			return -errno;
		if (h > end)
			h = end;
		for (uint64_t p = (uint64_t)d / GM_PAGE;
		     p < ((uint64_t)h + GM_PAGE - 1) / GM_PAGE; p++)
			bits[p / 8] |= (uint8_t)(1u << (p % 8));
		at = h;
	}
	return 0;
}
