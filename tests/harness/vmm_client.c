// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmm_client.c - memfd + userfaultfd + memxd registration, as QEMU does it.
 */
#include "vmm_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <linux/userfaultfd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../../memxd/ctl/ctl_client.h"

#define CTL_TIMEOUT_MS	10000	/* no reply in this long: memxd is stuck */

/* $VMM_CTL_TIMEOUT_MS overrides it (a benchmark of huge regions). */
static int64_t ctl_timeout(void)
{
	const char *e = getenv("VMM_CTL_TIMEOUT_MS");
	long v = e ? strtol(e, NULL, 10) : 0;

	return ctl_deadline(v > 0 && v < 3600000 ? (int)v : CTL_TIMEOUT_MS);
}

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

/* userfaultfd(2), or /dev/userfaultfd where the syscall is refused. */
static int uffd_open(char *err, size_t errlen)
{
	int fd, dev, sys_errno;

	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0)
		return fd;
	sys_errno = errno;
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return fail(err, errlen, -sys_errno,
			    "userfaultfd(2): %s; /dev/userfaultfd: %s",
			    strerror(sys_errno), strerror(errno));
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;

		close(dev);
		return fail(err, errlen, -e, "USERFAULTFD_IOC_NEW: %s",
			    strerror(e));
	}
	close(dev);
	return fd;
}

int vmm_region_create(struct vmm_region *r, size_t size, const char *name,
		      char *err, size_t errlen)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_MISSING_SHMEM |
			    UFFD_FEATURE_WP_HUGETLBFS_SHMEM |
			    UFFD_FEATURE_EVENT_REMOVE,
	};
	struct uffdio_register reg = { 0 };
	int ret;

	memset(r, 0, sizeof(*r));
	r->memfd = r->uffd = r->ctl = -1;
	r->handover[0] = r->handover[1] = -1;
	pthread_mutex_init(&r->lock, NULL);
	r->mem = MAP_FAILED;
	if (!size || size % VMM_PAGE_SIZE)
		return fail(err, errlen, -EINVAL,
			    "region size %zu is not a multiple of %u", size,
			    VMM_PAGE_SIZE);
	r->size = size;
	r->memfd = memfd_create(name, MFD_CLOEXEC);
	if (r->memfd < 0) {
		ret = fail(err, errlen, -errno, "memfd_create: %s",
			   strerror(errno));
		goto err;
	}
	if (ftruncate(r->memfd, (off_t)size) < 0) {
		ret = fail(err, errlen, -errno, "ftruncate(%zu): %s", size,
			   strerror(errno));
		goto err;
	}
	r->mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      r->memfd, 0);
	if (r->mem == MAP_FAILED) {
		ret = fail(err, errlen, -errno, "mmap: %s", strerror(errno));
		goto err;
	}
	r->uffd = uffd_open(err, errlen);
	if (r->uffd < 0) {
		ret = r->uffd;
		goto err;
	}
	if (ioctl(r->uffd, UFFDIO_API, &api) < 0) {
		ret = fail(err, errlen, -errno,
			   "UFFDIO_API (MISSING_SHMEM|WP_HUGETLBFS_SHMEM|"
			   "EVENT_REMOVE): %s", strerror(errno));
		goto err;
	}
	reg.range.start = (uintptr_t)r->mem;
	reg.range.len = size;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP;
	if (ioctl(r->uffd, UFFDIO_REGISTER, &reg) < 0) {
		ret = fail(err, errlen, -errno,
			   "UFFDIO_REGISTER MISSING|WP: %s", strerror(errno));
		goto err;
	}
	return 0;
err:
	vmm_region_destroy(r);
	return ret;
}

void vmm_region_destroy(struct vmm_region *r)
{
	if (r->keeping) {
		r->stop = true;
		pthread_join(r->keeper, NULL);
		r->keeping = false;
	}
	for (unsigned i = 0; i < 2; i++)
		if (r->handover[i] >= 0)
			close(r->handover[i]);
	r->handover[0] = r->handover[1] = -1;
	if (r->ctl >= 0)
		close(r->ctl);
	if (r->mem && r->mem != MAP_FAILED)
		munmap(r->mem, r->size);
	if (r->uffd >= 0)
		close(r->uffd);
	if (r->memfd >= 0)
		close(r->memfd);
	r->ctl = r->uffd = r->memfd = -1;
	r->mem = NULL;
}

static void make_uuid(char *out, size_t len)
{
	uint8_t b[16] = { 0 };

	if (getrandom(b, sizeof(b), 0) != sizeof(b))
		for (unsigned i = 0; i < sizeof(b); i++)
			b[i] = (uint8_t)(rand() ^ getpid() ^ i);
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, len,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* Register, or register again: the connection and the handover. */
static int do_register(struct vmm_region *r, char *err, size_t errlen)
{
	struct ctl_region region = {
		.hva = (uintptr_t)r->mem,
		.length = r->size,
		.page_size = VMM_PAGE_SIZE,
	};
	struct ctl_vm vm = {
		.name = r->name, .uuid = r->uuid, .budget = r->budget,
		.regions = &region, .nregions = 1,
		.uffd = r->uffd, .memfd = r->memfd,
		.state_fd = r->handover[0], .spill_fd = r->handover[1],
	};
	int fd, got[2];

	fd = ctl_register(r->socket, &vm, got, ctl_timeout(), err, errlen);
	if (fd < 0)
		return fd;
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < 2; i++) {
		if (r->handover[i] >= 0)
			close(r->handover[i]);
		r->handover[i] = got[i];
	}
	if (r->ctl >= 0)
		close(r->ctl);
	r->ctl = fd;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

int vmm_register(struct vmm_region *r, const char *socket, const char *name,
		 uint64_t budget, char *err, size_t errlen)
{
	snprintf(r->socket, sizeof(r->socket), "%s", socket);
	snprintf(r->name, sizeof(r->name), "%s", name);
	make_uuid(r->uuid, sizeof(r->uuid));
	r->budget = budget;
	return do_register(r, err, errlen);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *keeper(void *arg)
{
	struct vmm_region *r = arg;
	unsigned give_up_s = (unsigned)(uintptr_t)r->keeper_arg;
	char err[512];

	while (!r->stop) {
		struct pollfd p = { .fd = r->ctl, .events = POLLRDHUP };
		uint64_t t0;

		if (poll(&p, 1, 100) <= 0 || !(p.revents & (POLLRDHUP |
							    POLLHUP | POLLERR)))
			continue;
		/* memxd went away: the faulting threads wait meanwhile. */
		t0 = mono_ms();
		fprintf(stderr, "vmm-client: memxd at %s went away; the VM "
			"waits and registers again\n", r->socket);
		for (;;) {
			if (r->stop)
				return NULL;
			if (!do_register(r, err, sizeof(err)))
				break;
			if (give_up_s && mono_ms() - t0 > give_up_s * 1000ull) {
				fprintf(stderr, "vmm-client: memxd did not come "
					"back in %u s (%s): stopping rather than "
					"run without the VM's memory\n",
					give_up_s, err);
				_exit(3);
			}
			usleep(100 * 1000);
		}
		r->last_gap_ms = mono_ms() - t0;
		r->reregistered++;
		fprintf(stderr, "vmm-client: registered again with memxd after "
			"%llu ms\n", (unsigned long long)r->last_gap_ms);
	}
	return NULL;
}

int vmm_keep_registered(struct vmm_region *r, unsigned give_up_s)
{
	int ret;

	r->keeper_arg = (void *)(uintptr_t)give_up_s;
	ret = -pthread_create(&r->keeper, NULL, keeper, r);
	if (!ret)
		r->keeping = true;
	return ret;
}

int vmm_discard(struct vmm_region *r, uint64_t offset, uint64_t length,
		char *err, size_t errlen)
{
	int ret;

	pthread_mutex_lock(&r->lock);
	if (r->ctl < 0)
		ret = fail(err, errlen, -ENOTCONN, "not registered");
	else
		ret = ctl_discard(r->ctl, offset, length, true, ctl_timeout(),
				  err, errlen);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

/* ---- get=1 ---- */

int vmm_get(const char *socket, const char *vm, struct vmm_kv *kv,
	    char *err, size_t errlen)
{
	char *reply, *cur, *key, *val;
	bool mine = true;	/* global lines before the first vm= */
	int ret;

	memset(kv, 0, sizeof(*kv));
	ret = ctl_call(socket, "get=1\n\n", &reply, ctl_timeout(), err, errlen);
	if (ret) {
		free(reply);
		return ret;
	}
	kv->buf = cur = reply;
	while ((key = ctl_kv_next(&cur, &val))) {
		if (!val)
			continue;
		if (!strcmp(key, "vm"))
			mine = !vm || !strcmp(val, vm);
		if (!mine || kv->n == VMM_KV_MAX)
			continue;
		kv->key[kv->n] = key;
		kv->val[kv->n] = val;
		kv->n++;
	}
	return 0;
}

const char *vmm_kv_str(const struct vmm_kv *kv, const char *key)
{
	/* The last one wins: a VM's own value overrides a global one. */
	for (unsigned i = kv->n; i-- > 0;)
		if (!strcmp(kv->key[i], key))
			return kv->val[i];
	return NULL;
}

long long vmm_kv_num(const struct vmm_kv *kv, const char *const *keys,
		     long long def)
{
	for (; *keys; keys++) {
		const char *v = vmm_kv_str(kv, *keys);

		if (v)
			return strtoll(v, NULL, 10);
	}
	return def;
}

void vmm_kv_free(struct vmm_kv *kv)
{
	free(kv->buf);
	memset(kv, 0, sizeof(*kv));
}

/* Rss of the mapping starting at @addr, in pages, from /proc/self/smaps. */
long long vmm_rss_pages(const void *addr)
{
	char line[512], want[32];
	long long rss = -1;
	bool in = false;
	FILE *f = fopen("/proc/self/smaps", "re");

	if (!f)
		return -1;
	snprintf(want, sizeof(want), "%lx-", (unsigned long)(uintptr_t)addr);
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, want, strlen(want))) {
			in = true;
			continue;
		}
		if (in && !strncmp(line, "Rss:", 4)) {
			rss = strtoll(line + 4, NULL, 10) * 1024 / VMM_PAGE_SIZE;
			break;
		}
	}
	fclose(f);
	return rss;
}
