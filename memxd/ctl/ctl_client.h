/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ctl_client.h - the client side of memxd's control socket (ctl_proto.h):
 * connect, send a request (with file descriptors by SCM_RIGHTS), read
 * one reply, and the key=value lines both sides speak.
 *
 * One copy for every C user: memxctl, the test harnesses, memxd's own
 * request parser, and QEMU's memory-backend-memx, which compiles this
 * file as it is (qemu-patches/build.sh copies it and ctl_proto.h into
 * QEMU's tree).  So: plain C11 and libc, nothing else included.
 *
 * The error convention of memx (memxd/log.h): a function returns 0 (or a
 * descriptor, or a length) or -errno, and says why in the caller's @why
 * buffer of @len bytes, in words that can follow "memxctl: " or an
 * object's name.  Nothing here logs or exits.
 *
 * Deadlines are absolute CLOCK_MONOTONIC milliseconds, from
 * ctl_deadline(); CTL_NO_DEADLINE waits for ever.  Descriptors from
 * ctl_connect() are non-blocking; every call here waits (with poll) only
 * until its deadline, whatever the descriptor's mode.
 */
#ifndef MEMX_CTL_CLIENT_H
#define MEMX_CTL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_NO_DEADLINE	INT64_MAX
#define CTL_MAX_FDS	4	/* a request or reply carries at most this */

/* @timeout_ms from now; CTL_NO_DEADLINE if @timeout_ms is negative. */
int64_t ctl_deadline(int timeout_ms);

/*
 * Connect to memxd's control socket at @path.  A full listen backlog is
 * retried until @deadline.  The descriptor (non-blocking, close-on-exec),
 * or -errno: "cannot reach memxd at PATH: REASON".
 */
int ctl_connect(const char *path, int64_t deadline, char *why, size_t len);

/*
 * Send the request @req (its lines and the empty line that ends it),
 * with @nfds (at most CTL_MAX_FDS) descriptors attached to its first
 * bytes.  0 or -errno.
 */
int ctl_send(int fd, const char *req, const int *fds, unsigned nfds,
	     int64_t deadline, char *why, size_t len);

/*
 * Read one reply, and nothing of what follows it: its lines, each ended
 * by '\n', without the empty line that ends it, NUL-terminated in
 * *@reply (malloc'd; the caller frees it).  Its length, or -errno:
 * -ETIMEDOUT ("memxd did not answer in time"), -ECONNRESET ("memxd
 * closed the connection before its reply was complete").
 */
int ctl_recv(int fd, char **reply, int64_t deadline, char *why, size_t len);
/* ctl_recv, and up to @max descriptors that ride on the reply into
 * @fds (*@nfds of them); more are closed. */
int ctl_recv_fds(int fd, char **reply, int *fds, unsigned max,
		 unsigned *nfds, int64_t deadline, char *why, size_t len);

/*
 * The status of a reply: 0 for errno=0; -N for errno=N, with the reply's
 * error= text (or strerror(N)) in @why; -EPROTO unless its first line is
 * errno=N.
 */
int ctl_status(const char *reply, char *why, size_t len);

/*
 * ctl_send, ctl_recv, ctl_status.  *@reply is the reply whenever one came
 * (then a nonzero return is memxd's refusal, and @why its reason), NULL
 * otherwise; the caller frees it.
 */
int ctl_request(int fd, const char *req, const int *fds, unsigned nfds,
		char **reply, int64_t deadline, char *why, size_t len);

/* ctl_connect, ctl_request, close: one request on a connection of its own. */
int ctl_call(const char *path, const char *req, char **reply,
	     int64_t deadline, char *why, size_t len);

/* ---- the requests of a VMM ---- */

struct ctl_region {
	uint64_t hva;		/* where the VMM mapped it */
	uint64_t offset;	/* in the memfd */
	uint64_t length;
	uint64_t page_size;
};

struct ctl_vm {
	const char *name;	/* required; no newline */
	const char *uuid;	/* or NULL */
	uint64_t budget;	/* bytes that may stay resident */
	const struct ctl_region *regions;
	unsigned nregions;
	int uffd, memfd;	/* sent by SCM_RIGHTS, in that order */
	/*
	 * -1 the first time; registering again after memxd went away, the
	 * two descriptors the last registration handed over (sent after the
	 * first two), so that the new memxd takes the VM over.
	 */
	int state_fd, spill_fd;
	/*
	 * Arriving by live migration: @state_fd is the state that came in
	 * the migration stream (a sealed memfd), and @spill_fd is -1.
	 */
	bool migrated;
};

/*
 * Register @vm (as this process) with the memxd at @path.  The
 * connection, to keep open for the VM's lifetime (closing it unregisters
 * the VM), or -errno with one of "cannot reach memxd at PATH: REASON",
 * "registering with memxd at PATH failed: REASON" or "memxd at PATH
 * refused the VM: REASON (errno=N)".  On success @handover holds what
 * memxd handed over: the VM's state and its spill file.  Keep them (they
 * replace any kept before) and bring them back when registering again:
 * if memxd restarts, that is how the new one takes the VM over, its
 * memory intact.
 */
int ctl_register(const char *path, const struct ctl_vm *vm, int handover[2],
		 int64_t deadline, char *why, size_t len);

/*
 * A userfaultfd for this process, when userfaultfd(2) is refused to it
 * (vm.unprivileged_userfaultfd=0) and /dev/userfaultfd is root's: ask
 * the memxd at @path, which opens /dev/userfaultfd and hands it over to
 * a VMM, and make the userfaultfd with USERFAULTFD_IOC_NEW and @flags
 * (O_CLOEXEC, O_NONBLOCK).  Not yet through UFFDIO_API.  The descriptor,
 * or -errno with "cannot reach memxd at PATH: REASON" or "memxd at PATH
 * gave no userfaultfd: REASON (errno=N)".
 */
int ctl_userfaultfd(const char *path, int flags, int64_t deadline,
		    char *why, size_t len);

/*
 * Send discard=@offset,@length on the registration connection @fd.  With
 * @wait, also read the reply and return its status; without, the caller
 * reads it later (ctl_recv).
 */
int ctl_discard(int fd, uint64_t offset, uint64_t length, bool wait,
		int64_t deadline, char *why, size_t len);

/* ---- key=value lines ---- */

/*
 * The next line of the text at *@cursor, split in place: returns its key
 * (everything before the first '='), with *@val its value (everything
 * after; NULL for a line without '='), and moves *@cursor past it.
 * Empty lines are skipped; NULL at the end of the text.
 */
char *ctl_kv_next(char **cursor, char **val);

/* The value of the first line "@key=..." of @text, *@vlen bytes long
 * (up to the line's end), or NULL.  @text is left as it is. */
const char *ctl_kv_find(const char *text, const char *key, size_t *vlen);

#endif
