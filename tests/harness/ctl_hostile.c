// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ctl_hostile.c - a VMM that hands memxd descriptors it must refuse, or
 * pulls its memory from under it, for tests/ctl-access.sh.
 *
 * usage: ctl_hostile SOCKET CASE
 *
 *   not-uffd      an eventfd where the userfaultfd goes
 *   fork-uffd     a userfaultfd with UFFD_FEATURE_EVENT_FORK
 *   regular-file  a file of /tmp where the memfd goes
 *   hugetlb       a memfd of huge pages (MFD_HUGETLB)
 *   sealed        a memfd sealed F_SEAL_FUTURE_WRITE
 *   small         a memfd smaller than the region
 *   wraps         a region whose offset + length wraps around 2^64
 *   truncate      a VM that registers, has pages evicted and fetched,
 *                 then truncates its memfd to a quarter: memxd must go
 *                 on answering (get=1), and serve the quarter left
 *
 * The refusals print "refused as expected: REASON" and exit 0; a
 * registration that should have been refused and was not exits 1, as
 * does a refusal for another reason.  Exit 77 if the kernel cannot make
 * the descriptor (hugetlbfs missing, say): the script says so loudly.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../../memxd/ctl/ctl_client.h"

#define PAGE	4096u
#define SIZE	(4u << 20)

#ifndef MFD_HUGETLB
#define MFD_HUGETLB	0x0004u
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE	0x0010
#endif

static const char *sock;

static int uffd_new(uint64_t features)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);

		if (dev < 0) {
			perror("ctl_hostile: /dev/userfaultfd");
			exit(2);
		}
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		close(dev);
	}
	if (fd < 0 || ioctl(fd, UFFDIO_API, &api) < 0) {
		perror("ctl_hostile: userfaultfd");
		exit(2);
	}
	return fd;
}

#define FEATURES (UFFD_FEATURE_MISSING_SHMEM | \
		  UFFD_FEATURE_WP_HUGETLBFS_SHMEM | UFFD_FEATURE_EVENT_REMOVE)

/* Map @memfd (@size bytes) and register it with @uffd: its address. */
static uint8_t *map_register(int memfd, int uffd, size_t size)
{
	struct uffdio_register reg = { 0 };
	uint8_t *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			    memfd, 0);

	if (mem == MAP_FAILED) {
		perror("ctl_hostile: mmap");
		exit(2);
	}
	reg.range.start = (uintptr_t)mem;
	reg.range.len = size;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0) {
		perror("ctl_hostile: UFFDIO_REGISTER");
		exit(2);
	}
	return mem;
}

static int memfd_of(size_t size, unsigned flags)
{
	int fd = memfd_create("ctl-hostile", MFD_CLOEXEC | flags);

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
		perror("ctl_hostile: memfd");
		exit(2);
	}
	return fd;
}

/*
 * Register @uffd and @memfd with one region: 0 if memxd took them (the
 * connection in *@conn), else -errno and why in @why.
 */
static int try_register(int uffd, int memfd, struct ctl_region *r, int *conn,
			char *why, size_t len)
{
	struct ctl_vm vm = { .name = "hostile", .budget = 64 * PAGE,
			     .regions = r, .nregions = 1, .uffd = uffd,
			     .memfd = memfd, .state_fd = -1, .spill_fd = -1 };
	int handover[2], fd;

	fd = ctl_register(sock, &vm, handover, ctl_deadline(10000), why, len);
	if (fd < 0)
		return fd;
	close(handover[0]);
	close(handover[1]);
	*conn = fd;
	return 0;
}

/* The case must be refused, saying @want. */
static int expect_refusal(int uffd, int memfd, struct ctl_region *r,
			  const char *want)
{
	char why[512];
	int conn;

	if (!try_register(uffd, memfd, r, &conn, why, sizeof(why))) {
		printf("ctl_hostile: FAIL: memxd accepted it\n");
		close(conn);
		return 1;
	}
	if (!strstr(why, want)) {
		printf("ctl_hostile: FAIL: refused, but not for '%s': %s\n",
		       want, why);
		return 1;
	}
	printf("refused as expected: %s\n", why);
	return 0;
}

static struct ctl_region region_of(void *mem, uint64_t offset, uint64_t len)
{
	return (struct ctl_region){ (uintptr_t)mem, offset, len, PAGE };
}

/* The truncate case: memxd survives a memfd that shrinks under it. */
static int truncate_case(void)
{
	int uffd = uffd_new(FEATURES), memfd = memfd_of(SIZE, 0), conn;
	uint8_t *mem = map_register(memfd, uffd, SIZE);
	struct ctl_region r = region_of(mem, 0, SIZE);
	char why[512], *reply;
	int ret;

	if (try_register(uffd, memfd, &r, &conn, why, sizeof(why))) {
		printf("ctl_hostile: FAIL: %s\n", why);
		return 1;
	}
	/* Every page written: most are evicted (budget 64 pages). */
	for (size_t off = 0; off < SIZE; off += PAGE)
		memset(mem + off, (int)(off / PAGE) | 1, PAGE);
	usleep(300 * 1000);
	/* Pull three quarters of it from under memxd. */
	if (ftruncate(memfd, SIZE / 4) < 0) {
		perror("ctl_hostile: ftruncate");
		return 2;
	}
	/* The quarter left still comes back right, via memxd. */
	for (size_t off = 0; off < SIZE / 4; off += PAGE)
		if (mem[off] != (uint8_t)((off / PAGE) | 1) ||
		    mem[off + PAGE - 1] != (uint8_t)((off / PAGE) | 1)) {
			printf("ctl_hostile: FAIL: page %zu reads %u\n",
			       off / PAGE, mem[off]);
			return 1;
		}
	usleep(300 * 1000);
	ret = ctl_call(sock, "get=1\n\n", &reply, ctl_deadline(10000), why,
		       sizeof(why));
	if (ret) {
		printf("ctl_hostile: FAIL: memxd did not answer after the "
		       "truncate: %s\n", why);
		return 1;
	}
	if (!strstr(reply, "vm=hostile\n")) {
		printf("ctl_hostile: FAIL: memxd lost the VM:\n%s", reply);
		return 1;
	}
	free(reply);
	printf("memxd survived a memfd truncated under it, and served the "
	       "quarter left\n");
	close(conn);
	return 0;
}

int main(int argc, char **argv)
{
	const char *c;
	int uffd, memfd;
	uint8_t *mem;
	struct ctl_region r;

	if (argc != 3) {
		fprintf(stderr, "usage: ctl_hostile SOCKET CASE\n");
		return 2;
	}
	sock = argv[1];
	c = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(c, "truncate"))
		return truncate_case();
	if (!strcmp(c, "not-uffd")) {
		memfd = memfd_of(SIZE, 0);
		mem = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			   memfd, 0);
		r = region_of(mem, 0, SIZE);
		return expect_refusal(eventfd(0, EFD_CLOEXEC), memfd, &r,
				      "not a userfaultfd");
	}
	if (!strcmp(c, "hugetlb")) {
		memfd = memfd_create("ctl-hostile-huge", MFD_CLOEXEC |
				     MFD_HUGETLB);
		if (memfd < 0 || ftruncate(memfd, 2 << 20) < 0) {
			printf("SKIP: cannot make a hugetlb memfd: %s\n",
			       strerror(errno));
			return 77;
		}
		uffd = uffd_new(FEATURES);
		mem = mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_NORESERVE, memfd, 0);
		r = region_of(mem == MAP_FAILED ? (void *)0x7f0000000000 : mem,
			      0, 2 << 20);
		return expect_refusal(uffd, memfd, &r, "huge pages");
	}
	uffd = uffd_new(strcmp(c, "fork-uffd") ? FEATURES :
			FEATURES | UFFD_FEATURE_EVENT_FORK);
	if (!strcmp(c, "regular-file")) {
		memfd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (memfd < 0 || ftruncate(memfd, SIZE) < 0) {
			perror("ctl_hostile: O_TMPFILE");
			return 2;
		}
	} else {
		memfd = memfd_of(SIZE, MFD_ALLOW_SEALING);
	}
	if (!strcmp(c, "regular-file")) {
		/* No userfaultfd takes a file's mapping: memxd must not try. */
		mem = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			   memfd, 0);
		r = region_of(mem, 0, SIZE);
		return expect_refusal(uffd, memfd, &r, "not a memfd");
	}
	mem = map_register(memfd, uffd, SIZE);
	r = region_of(mem, 0, SIZE);
	if (!strcmp(c, "fork-uffd"))
		return expect_refusal(uffd, memfd, &r, "EVENT_FORK");
	if (!strcmp(c, "sealed")) {
		if (fcntl(memfd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) < 0) {
			printf("SKIP: F_SEAL_FUTURE_WRITE: %s\n",
			       strerror(errno));
			return 77;
		}
		return expect_refusal(uffd, memfd, &r, "sealed against writes");
	}
	if (!strcmp(c, "small")) {
		if (ftruncate(memfd, SIZE / 2) < 0)
			return 2;
		return expect_refusal(uffd, memfd, &r, "ends past the memfd");
	}
	if (!strcmp(c, "wraps")) {
		r.offset = UINT64_MAX - PAGE + 1;
		r.length = 2 * PAGE;
		return expect_refusal(uffd, memfd, &r, "wraps around");
	}
	fprintf(stderr, "ctl_hostile: unknown case '%s'\n", c);
	return 2;
}
