// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ctl.c - memxd's control socket: VM registration and queries, and who
 * may make them (ctl.h).
 *
 * The protocol is ctl_proto.h's: key=value lines, an empty line ends a
 * request and its reply, file descriptors ride along by SCM_RIGHTS.  A
 * connection (ctl_conn.c) reads and frames a request, ctl_parse.c parses
 * it; this file decides whether the peer may make it, and carries it out.
 */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../log.h"
#include "ctl_access.h"
#include "ctl_client.h"
#include "ctl_conn.h"
#include "ctl_handle.h"
#include "ctl_int.h"
#include "ctl_parse.h"

/* Connections without a VM at once: more are turned away. */
#define CTL_MAX_IDLE	256u

const struct ctl_stats *ctl_stats(const struct ctl *ctl)
{
	return &ctl->st;
}

/* A request the peer may not make: counted, logged, answered EACCES. */
static void refuse(struct conn *c, const char *what, const char *why)
{
	c->ctl->st.ctl_refused++;
	log_ratelimited(5000, LOG_LEVEL_WARN, "control socket: refused %s "
			"from uid %u (pid %d, role %s): %s", what, c->cred.uid,
			c->cred.pid, role_name(c->role), why);
	reply_errno(c, EACCES, why);
}

/* Why a VMM may not make admin request @what. */
static void admin_only(struct conn *c, const char *what, const char *req)
{
	const struct ctl_access *a = &c->ctl->acc;
	char why[256];

	snprintf(why, sizeof(why), "%s needs an admin: root%s%s, which uid %u "
		 "is not", what, a->admin_group_set ? " or a member of group "
		 : "", a->admin_group_set ? a->admin_group_name : "",
		 c->cred.uid);
	refuse(c, req, why);
}

/* ---- requests ---- */

static void handle_register(struct conn *c, struct ctl_req *req)
{
	struct vm_spec *spec = &req->spec;
	char why[256];
	struct vm *vm;
	int ret;

	if (c->vm) {
		reply_bad(c, EBUSY, "this connection already registered a VM");
		return;
	}
	if (c->nfds != (req->again ? 4u : 2u)) {
		reply_bad(c, EBADF, req->again ?
			  "register with again=1 needs the userfaultfd, the "
			  "memfd, and the state and spill file memxd handed "
			  "over, in that order, by SCM_RIGHTS" :
			  "register needs the userfaultfd and the memfd, in "
			  "that order, by SCM_RIGHTS");
		return;
	}
	if (c->cred.pid != spec->pid) {
		snprintf(why, sizeof(why), "pid %d does not match the peer's "
			 "credentials (pid %d)", spec->pid, c->cred.pid);
		reply_bad(c, EPERM, why);
		return;
	}
	spec->uffd = c->fds[0];
	spec->memfd = c->fds[1];
	if (req->again) {
		spec->state_fd = c->fds[2];
		spec->spill_fd = c->fds[3];
	}
	ret = pager_register(c->ctl->pager, spec, &vm, why, sizeof(why));
	if (ret) {
		log_ratelimited(1000, LOG_LEVEL_WARN, "refused registration of "
				"vm %s from pid %d (uid %u): %s", spec->name,
				spec->pid, c->cred.uid, why);
		reply_bad(c, ret, why);
		return;
	}
	c->nfds = 0;	/* the pager owns them now */
	conn_set_vm(c, vm);
	snprintf(c->vm_name, sizeof(c->vm_name), "%s", spec->name);
	{
		GString *o = g_string_new(NULL);

		g_string_append_printf(o, "errno=0\nvm=%s\npages=%lu\n"
				       "slack_pages=%u\nhandover=2\n\n",
				       spec->name,
				       (unsigned long)pager_vm_pages(c->vm),
				       PAGER_SLACK_PAGES);
		/*
		 * The VM's state and spill file go to the VMM with the
		 * reply: it keeps them, and brings them back if memxd
		 * restarts.
		 */
		pager_vm_handover(c->vm, &c->out_fds[0], &c->out_fds[1]);
		c->out_nfds = 2;
		c->out_fds_at = c->out ? c->out->len : 0;
		conn_reply(c, o);
	}
}

/*
 * /dev/userfaultfd, for a VMM that may not make a userfaultfd itself
 * (ctl_proto.h).  Handing it over grants what a udev rule giving the
 * device to the VMM group would: userfaultfds for the VMM's own memory,
 * kernel faults included.  Nothing more -- every other descriptor memxd
 * sees is still checked at registration -- and nothing a VMM-role peer
 * could not get by registering anyway.
 */
static void handle_userfaultfd(struct conn *c)
{
	char why[128];
	GString *o;
	int dev;

	if (c->out_nfds) {
		/* Descriptors of an earlier reply still wait to go. */
		reply_bad(c, EBUSY, "a reply with descriptors is still queued");
		return;
	}
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		int err = errno;

		snprintf(why, sizeof(why), "memxd cannot open /dev/userfaultfd: "
			 "%s", strerror(err));
		log_ratelimited(5000, LOG_LEVEL_WARN, "control socket: %s", why);
		reply_errno(c, err == ENOENT ? ENODEV : err, why);
		return;
	}
	o = g_string_new("errno=0\nuserfaultfd=1\n\n");
	c->out_fds[0] = dev;
	c->out_nfds = 1;
	c->out_fds_ours = true;
	c->out_fds_at = c->out ? c->out->len : 0;
	conn_reply(c, o);
}

/* Is @line, a global line of the pager's dump, one a VMM may see? */
static bool head_key_for_vmm(const char *line)
{
	static const char *const keys[] = {
		"slack_pages=", "frozen=", "frozen_s=",
	};

	for (unsigned i = 0; i < G_N_ELEMENTS(keys); i++)
		if (!strncmp(line, keys[i], strlen(keys[i])))
			return true;
	return false;
}

/*
 * get=1 for a VMM: the global lines that concern its VMs' fate (is memxd
 * cut off from its servers?), and the blocks of the VMs its uid
 * registered; nothing of the servers, nor of other VMs.
 */
static void dump_for_vmm(struct conn *c, GString *o)
{
	GString *all = g_string_new(NULL);
	bool head = true, mine = false;
	unsigned n = 0;

	for (const struct conn *k = c->ctl->conns; k; k = k->next)
		if (k->vm && k->cred.uid == c->cred.uid)
			n++;
	g_string_append_printf(o, "ctl_role=vmm\nvms=%u\n", n);
	pager_dump(c->ctl->pager, all);
	for (char *line = all->str, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			break;
		if (!strncmp(line, "vm=", 3)) {
			*nl = 0;
			mine = owned_by(c->ctl, line + 3, c->cred.uid);
			*nl = '\n';
			head = false;
		} else if (!strncmp(line, "server=", 7)) {
			mine = head = false;
		}
		if (mine || (head && head_key_for_vmm(line)))
			g_string_append_len(o, line, nl + 1 - line);
	}
	g_string_free(all, TRUE);
}

static void handle_get(struct conn *c, const struct ctl_req *req)
{
	GString *o;

	if (req->prometheus && c->role != CTL_ROLE_ADMIN) {
		admin_only(c, "get=prometheus (it reports every VM)",
			   "get=prometheus");
		return;
	}
	o = g_string_new("errno=0\n");
	if (req->prometheus) {
		pager_prometheus(c->ctl->pager, o);
	} else if (c->role == CTL_ROLE_ADMIN) {
		g_string_append(o, "ctl_role=admin\n");
#define X(key, help)							\
		g_string_append_printf(o, #key "=%llu\n",		\
				       (unsigned long long)c->ctl->st.key);
		CTL_COUNTERS(X)
#undef X
		pager_dump(c->ctl->pager, o);
	} else {
		dump_for_vmm(c, o);
	}
	g_string_append_c(o, '\n');
	conn_reply(c, o);
}

void handle_request(struct conn *c, char *text)
{
	struct ctl_req req;
	char why[256];
	int ret;

	if (c->role == CTL_ROLE_NONE) {
		none_why(c, why, sizeof(why));
		refuse(c, "a request", why);
		c->close_after = true;
		conn_close_fds(c);
		return;
	}
	ret = ctl_parse(text, &req, why, sizeof(why));
	if (ret) {
		reply_bad(c, ret, why);
		conn_close_fds(c);
		return;
	}
	switch (req.verb) {
	case CTL_REGISTER:
		handle_register(c, &req);
		break;
	case CTL_DISCARD:
		if (!c->vm) {
			reply_bad(c, ENOENT, "discard before register");
		} else {
			ret = pager_discard(c->vm, req.offset, req.length);
			if (ret)
				reply_bad(c, ret, "range outside the memfd or "
					  "not page aligned");
			else
				reply_errno(c, 0, NULL);
		}
		break;
	case CTL_DRAIN:
		if (c->role != CTL_ROLE_ADMIN) {
			admin_only(c, "drain", "drain");
			break;
		}
		why[0] = 0;
		ret = pager_drain(c->ctl->pager, req.server, why, sizeof(why));
		if (ret)
			reply_bad(c, ret, why);
		else
			reply_errno(c, 0, NULL);
		break;
	case CTL_GET:
		handle_get(c, &req);
		break;
	case CTL_USERFAULTFD:
		handle_userfaultfd(c);
		break;
	}
	conn_close_fds(c);
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
