// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ctl_client.c - the client side of memxd's control socket (ctl_client.h).
 *
 * Compiled as it is by memx and by QEMU (a copy in backends/memx/): only
 * libc, and no header of memx but ctl_proto.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* memmem, MSG_NOSIGNAL, SOCK_CLOEXEC */
#endif
#include "ctl_client.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl_proto.h"

/* linux/userfaultfd.h of Linux 6.1; not every libc's headers have it. */
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW	_IO(0xAA, 0x00)
#endif

static int fail(char *why, size_t len, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *why, size_t len, int err, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return err;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ctl_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? CTL_NO_DEADLINE : now_ms() + timeout_ms;
}

/* Wait until @fd is ready for @events: 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int64_t left = deadline - now_ms();
		int ret;

		if (left <= 0)
			return -ETIMEDOUT;
		ret = poll(&p, 1, deadline == CTL_NO_DEADLINE ? -1 :
			   left > INT_MAX ? INT_MAX : (int)left);
		if (ret > 0)
			return 0;
		if (ret < 0 && errno != EINTR)
			return -errno;
	}
}

int ctl_connect(const char *path, int64_t deadline, char *why, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t plen = strlen(path);
	int fd, err;

	if (plen >= sizeof(sa.sun_path))
		return fail(why, len, -ENAMETOOLONG, "socket path too long");
	memcpy(sa.sun_path, path, plen + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fail(why, len, -errno, "socket: %s", strerror(errno));
	/*
	 * A UNIX socket connect completes at once, or fails with EAGAIN
	 * while memxd's backlog is full: retry until the deadline.
	 */
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = errno;
		if ((err == EAGAIN || err == EINTR) && now_ms() < deadline) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };

			nanosleep(&ts, NULL);
			continue;
		}
		close(fd);
		return fail(why, len, -err, "cannot reach memxd at %s: %s%s",
			    path, strerror(err), err == EACCES ? " (only root "
			    "and the members of memxd's ctl-group may)" : "");
	}
	return fd;
}

int ctl_send(int fd, const char *req, const int *fds, unsigned nfds,
	     int64_t deadline, char *why, size_t len)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * CTL_MAX_FDS)];
		struct cmsghdr align;
	} u;
	size_t total = strlen(req), off = 0;
	int ret;

	if (nfds > CTL_MAX_FDS)
		return fail(why, len, -EINVAL, "too many descriptors");
	while (off < total) {
		struct iovec iov = { (char *)req + off, total - off };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		/* The descriptors ride on the first bytes that go. */
		if (nfds && !off) {
			struct cmsghdr *cm;

			memset(&u, 0, sizeof(u));
			msg.msg_control = u.buf;
			msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			cm = CMSG_FIRSTHDR(&msg);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
		}
		n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return fail(why, len, -errno, "cannot send to memxd: %s",
				    strerror(errno));
		ret = wait_fd(fd, POLLOUT, deadline);
		if (ret)
			return fail(why, len, ret, "cannot send to memxd: %s",
				    ret == -ETIMEDOUT ? "timed out" :
				    strerror(-ret));
	}
	return 0;
}

/*
 * Take @take bytes into @buf, and the descriptors that ride on them into
 * @fds (at most @max; more are closed at once: never leak one).
 */
static ssize_t recv_fds(int fd, char *buf, size_t take, int *fds,
			unsigned max, unsigned *nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * CTL_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, take };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	ssize_t n;

	do {
		n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return n;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm;
	     cm = CMSG_NXTHDR(&msg, cm)) {
		unsigned k;
		int *got;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (unsigned)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		got = (int *)(void *)CMSG_DATA(cm);
		for (unsigned i = 0; i < k; i++) {
			if (*nfds < max)
				fds[(*nfds)++] = got[i];
			else
				close(got[i]);
		}
	}
	return n;
}

int ctl_recv_fds(int fd, char **reply, int *fds, unsigned max,
		 unsigned *nfds, int64_t deadline, char *why, size_t len)
{
	size_t have = 0, cap = 4096;
	char *buf = malloc(cap), *end;
	ssize_t n;
	int ret;

	*reply = NULL;
	*nfds = 0;
	if (!buf)
		return fail(why, len, -ENOMEM, "out of memory");
	for (;;) {
		size_t take;

		if (cap - have < 2048) {
			char *more = realloc(buf, cap * 2);

			if (!more) {
				ret = fail(why, len, -ENOMEM, "out of memory");
				goto err;
			}
			buf = more;
			cap *= 2;
		}
		/*
		 * Look first, then take the bytes up to the reply's empty
		 * line: what follows it is the next reply's.
		 */
		n = recv(fd, buf + have, cap - 1 - have, MSG_PEEK | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			ret = wait_fd(fd, POLLIN, deadline);
			if (ret == -ETIMEDOUT) {
				ret = fail(why, len, ret, "memxd did not answer "
					   "in time");
				goto err;
			}
			if (ret) {
				ret = fail(why, len, ret, "poll: %s",
					   strerror(-ret));
				goto err;
			}
			continue;
		}
		if (n < 0) {
			ret = fail(why, len, -errno, "cannot read from memxd: "
				   "%s", strerror(errno));
			goto err;
		}
		if (n == 0) {
			ret = fail(why, len, -ECONNRESET, "memxd closed the "
				   "connection before its reply was complete");
			goto err;
		}
		/* The empty line may begin in what came before. */
		end = memmem(buf + (have ? have - 1 : 0),
			     (size_t)n + (have ? 1 : 0), "\n\n", 2);
		take = end ? (size_t)(end + 2 - (buf + have)) : (size_t)n;
		n = recv_fds(fd, buf + have, take, fds, max, nfds);
		if (n != (ssize_t)take) {
			ret = fail(why, len, n < 0 ? -errno : -EIO, "cannot "
				   "read from memxd: %s", n < 0 ?
				   strerror(errno) : "short read");
			goto err;
		}
		have += take;
		if (end)
			break;
	}
	buf[have - 1] = 0;	/* drop the empty line */
	*reply = buf;
	return (int)(have - 1);
err:
	for (unsigned i = 0; i < *nfds; i++)
		close(fds[i]);
	*nfds = 0;
	free(buf);
	return ret;
}

int ctl_recv(int fd, char **reply, int64_t deadline, char *why, size_t len)
{
	unsigned nfds;

	return ctl_recv_fds(fd, reply, NULL, 0, &nfds, deadline, why, len);
}

int ctl_status(const char *reply, char *why, size_t len)
{
	const char *e = reply + 6, *msg;
	char *end;
	size_t mlen;
	long v;

	if (strncmp(reply, "errno=", 6))
		return fail(why, len, -EPROTO, "reply does not start with "
			    "errno=: '%.200s'", reply);
	errno = 0;
	v = strtol(e, &end, 10);
	if (errno || end == e || (*end && *end != '\n') || v < 0 || v > 4095)
		return fail(why, len, -EPROTO, "bad errno= in reply: '%.200s'",
			    reply);
	if (!v)
		return 0;
	msg = ctl_kv_find(reply, "error", &mlen);
	if (msg)
		return fail(why, len, (int)-v, "%.*s", (int)mlen, msg);
	return fail(why, len, (int)-v, "errno=%ld (%s)", v, strerror((int)v));
}

int ctl_request(int fd, const char *req, const int *fds, unsigned nfds,
		char **reply, int64_t deadline, char *why, size_t len)
{
	int ret;

	*reply = NULL;
	ret = ctl_send(fd, req, fds, nfds, deadline, why, len);
	if (!ret)
		ret = ctl_recv(fd, reply, deadline, why, len);
	if (ret >= 0)
		ret = ctl_status(*reply, why, len);
	return ret;
}

int ctl_call(const char *path, const char *req, char **reply,
	     int64_t deadline, char *why, size_t len)
{
	int fd = ctl_connect(path, deadline, why, len), ret;

	*reply = NULL;
	if (fd < 0)
		return fd;
	ret = ctl_request(fd, req, NULL, 0, reply, deadline, why, len);
	close(fd);
	return ret;
}

/* The register request for @vm, malloc'd; NULL if out of memory. */
static char *register_request(const struct ctl_vm *vm)
{
	size_t cap = 256 + strlen(vm->name) + (vm->uuid ? strlen(vm->uuid) : 0) +
		     96 * (size_t)vm->nregions;
	char *req = malloc(cap);
	size_t off;

	if (!req)
		return NULL;
	off = (size_t)snprintf(req, cap, "register=1\nversion=%d\nname=%s\n",
			       MEMX_CTL_VERSION, vm->name);
	if (vm->uuid)
		off += (size_t)snprintf(req + off, cap - off, "uuid=%s\n",
					vm->uuid);
	off += (size_t)snprintf(req + off, cap - off, "pid=%d\nbudget=%llu\n",
				(int)getpid(), (unsigned long long)vm->budget);
	if (vm->migrated)
		off += (size_t)snprintf(req + off, cap - off, "migrated=1\n");
	else if (vm->state_fd >= 0)
		off += (size_t)snprintf(req + off, cap - off, "again=1\n");
	for (unsigned i = 0; i < vm->nregions; i++) {
		const struct ctl_region *r = &vm->regions[i];

		off += (size_t)snprintf(req + off, cap - off,
					"region=0x%llx,%llu,%llu,%llu\n",
					(unsigned long long)r->hva,
					(unsigned long long)r->offset,
					(unsigned long long)r->length,
					(unsigned long long)r->page_size);
	}
	snprintf(req + off, cap - off, "\n");
	return req;
}

int ctl_register(const char *path, const struct ctl_vm *vm, int handover[2],
		 int64_t deadline, char *why, size_t len)
{
	bool again = vm->state_fd >= 0 && !vm->migrated;
	unsigned nfds = again ? 4 : vm->migrated ? 3 : 2;
	int fds[4] = { vm->uffd, vm->memfd, vm->state_fd, vm->spill_fd };
	char *req, *reply = NULL, reason[256];
	unsigned ngot = 0;
	int fd, ret, got[2];

	if (!vm->name || !vm->name[0] || strchr(vm->name, '\n') ||
	    (vm->uuid && strchr(vm->uuid, '\n')))
		return fail(why, len, -EINVAL, "the VM's name must be set and "
			    "neither it nor its uuid may contain a newline");
	if (again && vm->spill_fd < 0)
		return fail(why, len, -EINVAL, "registering again needs both "
			    "descriptors memxd handed over");
	if (vm->migrated && vm->state_fd < 0)
		return fail(why, len, -EINVAL, "registering a migrated VM "
			    "needs the state that came with it");
	req = register_request(vm);
	if (!req)
		return fail(why, len, -ENOMEM, "out of memory");
	fd = ctl_connect(path, deadline, why, len);
	if (fd < 0)
		goto out;
	ret = ctl_send(fd, req, fds, nfds, deadline, reason,
		       sizeof(reason));
	if (!ret)
		ret = ctl_recv_fds(fd, &reply, got, 2, &ngot, deadline, reason,
				   sizeof(reason));
	if (ret >= 0)
		ret = ctl_status(reply, reason, sizeof(reason));
	if (!ret && ngot != 2) {
		ret = -EPROTO;
		snprintf(reason, sizeof(reason), "it handed over %u "
			 "descriptors, not the VM's state and spill file", ngot);
	}
	if (ret) {
		if (reply)
			fail(why, len, ret, "memxd at %s refused the VM: %s "
			     "(errno=%d)", path, reason, -ret);
		else
			fail(why, len, ret, "registering with memxd at %s "
			     "failed: %s", path, reason);
		for (unsigned i = 0; i < ngot; i++)
			close(got[i]);
		close(fd);
		fd = ret;
	} else {
		handover[0] = got[0];
		handover[1] = got[1];
	}
out:
	free(reply);
	free(req);
	return fd;
}

int ctl_userfaultfd(const char *path, int flags, int64_t deadline,
		    char *why, size_t len)
{
	char *reply = NULL, reason[256];
	unsigned ngot = 0;
	int fd, ret, dev = -1;

	fd = ctl_connect(path, deadline, why, len);
	if (fd < 0)
		return fd;
	ret = ctl_send(fd, "userfaultfd=1\n\n", NULL, 0, deadline, reason,
		       sizeof(reason));
	if (!ret)
		ret = ctl_recv_fds(fd, &reply, &dev, 1, &ngot, deadline, reason,
				   sizeof(reason));
	close(fd);
	if (ret >= 0)
		ret = ctl_status(reply, reason, sizeof(reason));
	if (!ret && ngot != 1) {
		ret = -EPROTO;
		snprintf(reason, sizeof(reason), "its reply carried no "
			 "descriptor");
	}
	if (ret) {
		if (reply)
			fail(why, len, ret, "memxd at %s gave no userfaultfd: "
			     "%s (errno=%d)", path, reason, -ret);
		else
			fail(why, len, ret, "asking memxd at %s for a "
			     "userfaultfd failed: %s", path, reason);
		goto out;
	}
	/* A userfaultfd for this process's memory, whoever opened @dev. */
	ret = ioctl(dev, USERFAULTFD_IOC_NEW, flags);
	if (ret < 0) {
		ret = -errno;
		fail(why, len, ret, "the /dev/userfaultfd memxd at %s handed "
		     "over made no userfaultfd: %s", path, strerror(-ret));
	}
out:
	if (ngot)
		close(dev);
	free(reply);
	return ret;
}

int ctl_discard(int fd, uint64_t offset, uint64_t length, bool wait,
		int64_t deadline, char *why, size_t len)
{
	char req[64], *reply = NULL;
	int ret;

	snprintf(req, sizeof(req), "discard=%llu,%llu\n\n",
		 (unsigned long long)offset, (unsigned long long)length);
	if (!wait)
		return ctl_send(fd, req, NULL, 0, deadline, why, len);
	ret = ctl_request(fd, req, NULL, 0, &reply, deadline, why, len);
	free(reply);
	return ret;
}

char *ctl_kv_next(char **cursor, char **val)
{
	char *line = *cursor, *nl, *eq;

	while (*line == '\n')
		line++;
	if (!*line) {
		*cursor = line;
		return NULL;
	}
	nl = strchr(line, '\n');
	if (nl) {
		*nl = 0;
		*cursor = nl + 1;
	} else {
		*cursor = line + strlen(line);
	}
	eq = strchr(line, '=');
	if (eq)
		*eq = 0;
	*val = eq ? eq + 1 : NULL;
	return line;
}

const char *ctl_kv_find(const char *text, const char *key, size_t *vlen)
{
	size_t klen = strlen(key);

	for (const char *l = text; *l;) {
		const char *nl = strchr(l, '\n');
		size_t n = nl ? (size_t)(nl - l) : strlen(l);

		if (n > klen && !memcmp(l, key, klen) && l[klen] == '=') {
			if (vlen)
				*vlen = n - klen - 1;
			return l + klen + 1;
		}
		if (!nl)
			break;
		l = nl + 1;
	}
	return NULL;
}
