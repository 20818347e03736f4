// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ctl.c - memxd's control socket (ctl.h): the socket made and listened
 * on, connections accepted, each with its peer's role, and all of it
 * closed when memxd stops.
 *
 * The protocol is ctl_proto.h's: key=value lines, an empty line ends a
 * request and its reply, file descriptors ride along by SCM_RIGHTS.  A
 * connection (ctl_conn.c) reads and frames its requests; ctl_handle.c
 * decides whether the peer may make each, and carries it out.  ctl_int.h
 * lists the files, and which way calls go.
 */
#include "ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../log.h"
#include "ctl_access.h"
#include "ctl_conn.h"
#include "ctl_int.h"

/* Connections without a VM at once: more are turned away. */
#define CTL_MAX_IDLE	256u

const struct ctl_stats *ctl_stats(const struct ctl *ctl)
{
	return &ctl->st;
}

static void ctl_accept(struct evl *loop, struct evl_op *op, int res)
{
	struct ctl *ctl = evl_container_of(op, struct ctl, op);
	struct ucred cr;
	socklen_t len;
	struct conn *c;
	int fd;

	(void)res;
	ctl->listening = false;
	if (ctl->closing)
		return;
	while ((fd = accept4(ctl->fd, NULL, NULL,
			     SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
		len = sizeof(cr);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len)) {
			log_ratelimited(5000, LOG_LEVEL_WARN, "control socket: "
					"SO_PEERCRED: %s", strerror(errno));
			close(fd);
			continue;
		}
		if (ctl->idle >= CTL_MAX_IDLE) {
			static const char busy[] = "errno=11\nerror=too many "
				"connections to memxd's control socket\n\n";

			/* Best effort: it may not even be read. */
			if (send(fd, busy, sizeof(busy) - 1,
				 MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
				(void)0;
			log_ratelimited(5000, LOG_LEVEL_WARN, "control socket: "
					"%u connections without a VM already: "
					"turned away uid %u (pid %d)", ctl->idle,
					cr.uid, cr.pid);
			ctl->st.ctl_dropped++;
			close(fd);
			continue;
		}
		c = conn_new(ctl, fd, &cr, peer_role(ctl, fd, &cr));
		if (!c) {
			close(fd);
			continue;
		}
		c->reading = true;
		evl_poll(loop, fd, POLLIN, &c->rop);
	}
	evl_poll(loop, ctl->fd, POLLIN, &ctl->op);
	ctl->listening = true;
}

/* ---- the socket ---- */

/*
 * The socket's directory: created (mode 0750) if missing, and given
 * @gid if it is memxd's own: owned by its uid, nothing for others.
 * Never anyone else's (/tmp, /run) directory.
 */
static int make_parent(const char *path, bool set_gid, gid_t gid,
		       char *why, size_t len)
{
	char *dir = g_path_get_dirname(path);
	struct stat st;
	int ret = 0;

	if (g_mkdir_with_parents(dir, 0750)) {
		ret = -errno;
		snprintf(why, len, "cannot create %s: %s", dir, strerror(errno));
		goto out;
	}
	if (!set_gid || stat(dir, &st))
		goto out;
	if (st.st_uid != geteuid() || (st.st_mode & 07)) {
		log_info("control socket: %s is not memxd's own directory: its "
			 "group and mode are left as they are", dir);
		goto out;
	}
	if (chown(dir, (uid_t)-1, gid) || chmod(dir, 0750)) {
		ret = -errno;
		snprintf(why, len, "cannot give %s group %u: %s", dir,
			 (unsigned)gid, strerror(errno));
	}
out:
	g_free(dir);
	return ret;
}

static int ctl_listen(struct ctl *ctl, const char *path, char *why,
		      size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const struct ctl_access *a = &ctl->acc;
	bool set_gid = a->vmm_group_set || a->admin_group_set;
	gid_t gid = a->vmm_group_set ? a->vmm_group : a->admin_group;
	struct stat st;
	mode_t mask;
	int ret, probe;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(why, len, "the socket path is longer than %zu bytes",
			 sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	ret = make_parent(path, set_gid, gid, why, len);
	if (ret)
		return ret;
	/* A socket file nobody answers on is a leftover: replace it. */
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		snprintf(why, len, "%s exists and is not a socket", path);
		return -EEXIST;		/* not ours to delete */
	}
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0) {
		if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			snprintf(why, len, "another memxd answers on %s", path);
			return -EADDRINUSE;
		}
		close(probe);
		unlink(path);
	}
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ctl->fd < 0)
		goto fail;
	/* Nobody but memxd may connect before the socket has its group. */
	mask = umask(0177);
	ret = bind(ctl->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(mask);
	if (ret < 0)
		goto fail;
	if ((set_gid && chown(path, (uid_t)-1, gid) < 0) ||
	    chmod(path, 0660) < 0 || listen(ctl->fd, 64) < 0) {
		ret = -errno;
		snprintf(why, len, "cannot listen on %s: %s", path,
			 strerror(errno));
		unlink(path);
		return ret;
	}
	ctl->path = strdup(path);
	evl_poll(ctl->loop, ctl->fd, POLLIN, &ctl->op);
	ctl->listening = true;
	return 0;
fail:
	ret = -errno;
	snprintf(why, len, "cannot listen on %s: %s", path, strerror(errno));
	return ret;
}

int ctl_new(struct ctl **out, struct evl *loop, const char *path,
	    struct pager *pager, const struct ctl_access *acc,
	    char *why, size_t len)
{
	struct ctl *ctl = calloc(1, sizeof(*ctl));
	int ret;

	if (!ctl) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	ctl->loop = loop;
	ctl->pager = pager;
	ctl->fd = -1;
	if (acc)
		ctl->acc = *acc;
	ctl->op.done = ctl_accept;
	if (path) {
		ret = ctl_listen(ctl, path, why, len);
		if (ret) {
			if (ctl->fd >= 0)
				close(ctl->fd);
			free(ctl);
			return ret;
		}
	}
	*out = ctl;
	return 0;
}

void ctl_free(struct ctl *ctl)
{
	uint64_t deadline = evl_now_ns() + 1000000000ull;

	if (!ctl)
		return;
	/*
	 * Every connection and the listener have a poll in the ring that
	 * points at them: shut the sockets down so those polls complete
	 * (and free the connections), then wait for them.
	 */
	ctl->closing = true;
	for (struct conn *c = ctl->conns; c; c = c->next) {
		/*
		 * memxd is going away, the VMs are not: their pages stay on
		 * the servers for the next memxd, which their VMMs register
		 * with again (and which takes them over).
		 */
		conn_end(c, false);
	}
	if (ctl->fd >= 0)
		shutdown(ctl->fd, SHUT_RDWR);
	while ((ctl->conns || ctl->listening) && evl_now_ns() < deadline) {
		bool waiting = ctl->listening;

		/* Those with no poll left (fakes too) are freed at the end. */
		for (struct conn *c = ctl->conns; c; c = c->next)
			waiting = waiting || c->reading || c->writing;
		if (!waiting)
			break;
		evl_run_once(ctl->loop, 100000000);
	}
	while (ctl->conns)
		conn_free(ctl->conns);
	if (ctl->fd >= 0)
		close(ctl->fd);
	if (ctl->path)
		unlink(ctl->path);
	free(ctl->path);
	free(ctl);
}
