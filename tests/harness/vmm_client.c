// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmm_client.c - memfd + userfaultfd + memxd registration, as QEMU does it.
 */
#include "vmm_client.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define CTL_TIMEOUT_MS	10000	/* no reply in this long: memxd is stuck */

/* $VMM_CTL_TIMEOUT_MS overrides it (a benchmark of huge regions). */
static int ctl_timeout_ms(void)
{
	const char *e = getenv("VMM_CTL_TIMEOUT_MS");
	long v = e ? strtol(e, NULL, 10) : 0;

	return v > 0 && v < 3600000 ? (int)v : CTL_TIMEOUT_MS;
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

static int ctl_connect(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return fail(err, errlen, -ENAMETOOLONG,
			    "socket path too long: %s", path);
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(err, errlen, -errno, "socket: %s",
			    strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;

		close(fd);
		return fail(err, errlen, -e, "connect %s: %s", path,
			    strerror(e));
	}
	return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Read one reply: lines up to an empty line (or EOF).  Returns its length
 * (NUL-terminated in a malloc'd *out) or -errno.
 */
static int read_reply(int fd, char **out)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int pr;

		if (len >= 2 && buf[len - 1] == '\n' && buf[len - 2] == '\n')
			break;
		pr = poll(&pfd, 1, ctl_timeout_ms());
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			free(buf);
			return pr ? -errno : -ETIMEDOUT;
		}
		if (cap - len < 1024) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		/* memxd sends nothing unasked, so whatever is there belongs
		 * to this reply. */
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			free(buf);
			return -errno;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = 0;
	*out = buf;
	return (int)len;
}

/* errno= and error= of a reply. */
static int reply_status(char *reply, char *err, size_t errlen)
{
	char *e = strstr(reply, "errno=");
	char *msg = strstr(reply, "error=");
	long v;

	if (!e || (e != reply && e[-1] != '\n'))
		return fail(err, errlen, -EPROTO, "reply without errno=: '%.200s'",
			    reply);
	v = strtol(e + 6, NULL, 10);
	if (v == 0)
		return 0;
	if (msg) {
		char *nl = strchr(msg, '\n');

		if (nl)
			*nl = 0;
		return fail(err, errlen, (int)-labs(v), "%s", msg + 6);
	}
	return fail(err, errlen, (int)-labs(v), "errno=%ld (%s)", v,
		    strerror((int)labs(v)));
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

int vmm_register(struct vmm_region *r, const char *socket, const char *name,
		 uint64_t budget, char *err, size_t errlen)
{
	char req[1024], uuid[40], *reply = NULL;
	int fds[2] = { r->uffd, r->memfd };
	char cbuf[CMSG_SPACE(sizeof(fds))];
	struct iovec iov;
	struct msghdr msg = { 0 };
	struct cmsghdr *cm;
	int fd, len, ret;
	ssize_t n;

	make_uuid(uuid, sizeof(uuid));
	len = snprintf(req, sizeof(req),
		       "register=1\nversion=1\nname=%s\nuuid=%s\npid=%d\n"
		       "budget=%llu\nregion=0x%llx,0,%zu,%u\n\n",
		       name, uuid, (int)getpid(), (unsigned long long)budget,
		       (unsigned long long)(uintptr_t)r->mem, r->size,
		       VMM_PAGE_SIZE);
	if (len < 0 || (size_t)len >= sizeof(req))
		return fail(err, errlen, -EINVAL, "VM name too long");
	fd = ctl_connect(socket, err, errlen);
	if (fd < 0)
		return fd;

	/* The descriptors ride on the request's first byte. */
	iov.iov_base = req;
	iov.iov_len = 1;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	memset(cbuf, 0, sizeof(cbuf));
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	do {
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n != 1) {
		ret = fail(err, errlen, n < 0 ? -errno : -EIO,
			   "sendmsg(SCM_RIGHTS): %s",
			   n < 0 ? strerror(errno) : "short write");
		goto out;
	}
	ret = send_all(fd, req + 1, (size_t)len - 1);
	if (ret) {
		fail(err, errlen, ret, "send: %s", strerror(-ret));
		goto out;
	}
	ret = read_reply(fd, &reply);
	if (ret < 0) {
		fail(err, errlen, ret, "no reply from memxd: %s",
		     ret == -ETIMEDOUT ? "timed out" : strerror(-ret));
		goto out;
	}
	if (ret == 0) {
		ret = fail(err, errlen, -ECONNRESET,
			   "memxd closed the connection without a reply");
		goto out;
	}
	ret = reply_status(reply, err, errlen);
out:
	free(reply);
	if (ret) {
		close(fd);
		return ret;
	}
	r->ctl = fd;
	return 0;
}

int vmm_discard(struct vmm_region *r, uint64_t offset, uint64_t length,
		char *err, size_t errlen)
{
	char req[128], *reply = NULL;
	int ret;

	if (r->ctl < 0)
		return fail(err, errlen, -ENOTCONN, "not registered");
	snprintf(req, sizeof(req), "discard=%llu,%llu\n\n",
		 (unsigned long long)offset, (unsigned long long)length);
	ret = send_all(r->ctl, req, strlen(req));
	if (ret)
		return fail(err, errlen, ret, "send: %s", strerror(-ret));
	ret = read_reply(r->ctl, &reply);
	if (ret <= 0) {
		free(reply);
		return fail(err, errlen, ret ? ret : -ECONNRESET,
			    "no reply to discard");
	}
	ret = reply_status(reply, err, errlen);
	free(reply);
	return ret;
}

/* ---- get=1 ---- */

int vmm_get(const char *socket, const char *vm, struct vmm_kv *kv,
	    char *err, size_t errlen)
{
	static const char req[] = "get=1\n\n";
	char *reply = NULL, *line, *save = NULL;
	bool mine = true;	/* global lines before the first vm= */
	int fd, ret;

	memset(kv, 0, sizeof(*kv));
	fd = ctl_connect(socket, err, errlen);
	if (fd < 0)
		return fd;
	ret = send_all(fd, req, sizeof(req) - 1);
	if (ret) {
		close(fd);
		return fail(err, errlen, ret, "send: %s", strerror(-ret));
	}
	ret = read_reply(fd, &reply);
	close(fd);
	if (ret <= 0) {
		free(reply);
		return fail(err, errlen, ret ? ret : -ECONNRESET,
			    "no reply to get=1");
	}
	ret = reply_status(reply, err, errlen);
	if (ret) {
		free(reply);
		return ret;
	}
	kv->buf = reply;
	for (line = strtok_r(reply, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		if (!eq)
			continue;
		*eq = 0;
		if (!strcmp(line, "vm"))
			mine = !vm || !strcmp(eq + 1, vm);
		if (!mine || kv->n == VMM_KV_MAX)
			continue;
		kv->key[kv->n] = line;
		kv->val[kv->n] = eq + 1;
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
