// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ctl.c - memxd's control socket: VM registration and queries.
 *
 * The protocol is ctl_proto.h's: key=value lines, an empty line ends a
 * request and its reply, file descriptors ride along by SCM_RIGHTS.
 * Requests are split into lines by the client library's ctl_kv_next().
 *
 * It runs in the event loop that serves page faults, so it never waits
 * for a client: a reply the socket cannot take at once is queued and
 * sent on POLLOUT, and the connection's next request waits for it.
 */
#include "ctl.h"

#include <errno.h>
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
#include "ctl_client.h"

/*
 * A connection lives as long as a poll of it is in the ring: closing it
 * (conn_end) lets its VM go and shuts the socket down, which
 * completes those polls, and the last one to complete frees it.
 */
struct conn {
	struct evl_op rop;	/* POLLIN: requests may have come */
	struct evl_op wop;	/* POLLOUT: room for the queued reply */
	struct ctl *ctl;
	struct conn *next;
	int fd;
	bool reading, writing;	/* that poll is in the ring */
	bool closing;
	struct ucred cred;
	char buf[MEMX_CTL_MAX_REQUEST];
	size_t len;
	int fds[CTL_MAX_FDS];
	unsigned nfds;
	GString *out;		/* the reply not sent yet, from out_off */
	size_t out_off;
	int out_fds[2];		/* ride on the byte at out_fds_at */
	unsigned out_nfds;
	size_t out_fds_at;
	struct vm *vm;
};

#define conn_of(op, member) \
	((struct conn *)((char *)(op) - offsetof(struct conn, member)))

struct ctl {
	struct evl_op op;
	struct evl *loop;
	struct pager *pager;
	int fd;
	bool closing, listening;
	char *path;
	struct conn *conns;
};

static void conn_close_fds(struct conn *c)
{
	for (unsigned i = 0; i < c->nfds; i++)
		close(c->fds[i]);
	c->nfds = 0;
}

/*
 * Stop serving @c and shut the socket down.  Its VM is unregistered if
 * its VMM is gone; if memxd ends a connection whose VMM lives on (a
 * request too large, a reply left unread), the VM is only detached, as
 * when memxd stops: its VMM registers again and is taken over, and its
 * pages are not lost for a misbehaving client library.  Never frees @c:
 * the callback whose poll completes last does (conn_done).
 */
static void conn_end(struct conn *c, bool vmm_gone)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->vm && vmm_gone)
		pager_unregister(c->ctl->pager, c->vm);
	else if (c->vm)
		pager_detach(c->ctl->pager, c->vm);
	c->vm = NULL;
	conn_close_fds(c);
	shutdown(c->fd, SHUT_RDWR);
}

static void conn_free(struct conn *c)
{
	struct conn **pp = &c->ctl->conns;

	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (*pp)
		*pp = c->next;
	if (c->out)
		g_string_free(c->out, TRUE);
	close(c->fd);
	free(c);
}

/* At the end of a poll's callback: free a closed @c with no poll left. */
static void conn_done(struct conn *c)
{
	if (c->closing && !c->reading && !c->writing)
		conn_free(c);
}

/* Send what is queued, as far as the socket takes it: 0 or -errno. */
static int conn_flush(struct conn *c)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 2)];
		struct cmsghdr align;
	} u;

	while (c->out) {
		struct iovec iov = { c->out->str + c->out_off,
				     c->out->len - c->out_off };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		/*
		 * Descriptors handed over ride on the first byte of their
		 * reply: replies queued before it go first, without them.
		 */
		if (c->out_nfds && c->out_fds_at > c->out_off)
			iov.iov_len = c->out_fds_at - c->out_off;
		else if (c->out_nfds) {
			struct cmsghdr *cm;

			memset(&u, 0, sizeof(u));
			msg.msg_control = u.buf;
			msg.msg_controllen = CMSG_SPACE(sizeof(int) *
							c->out_nfds);
			cm = CMSG_FIRSTHDR(&msg);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * c->out_nfds);
			memcpy(CMSG_DATA(cm), c->out_fds,
			       sizeof(int) * c->out_nfds);
		}
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (msg.msg_controllen)
			c->out_nfds = 0;	/* sent (the kernel has copies) */
		c->out_off += (size_t)n;
		if (c->out_off == c->out->len) {
			g_string_free(c->out, TRUE);
			c->out = NULL;
			c->out_off = 0;
		}
	}
	return 0;
}

/*
 * Queue the reply @o (taking it over) and send what the socket takes;
 * the rest goes from the event loop (conn_writable).  memxd never waits
 * for a reader; one that leaves more than MEMX_CTL_MAX_QUEUED bytes
 * unread is cut off.
 */
static void conn_reply(struct conn *c, GString *o)
{
	size_t queued;

	if (c->closing) {
		g_string_free(o, TRUE);
		return;
	}
	if (c->out) {
		g_string_append_len(c->out, o->str, (gssize)o->len);
		g_string_free(o, TRUE);
	} else {
		c->out = o;
	}
	if (conn_flush(c)) {
		conn_end(c, true);	/* the reader is gone */
		return;
	}
	queued = c->out ? c->out->len - c->out_off : 0;
	if (queued > MEMX_CTL_MAX_QUEUED) {
		log_ratelimited(5000, LOG_LEVEL_WARN, "control socket: closed "
				"a connection that left %zu bytes unread "
				"(pid %d)", queued, c->cred.pid);
		conn_end(c, false);
	}
}

static void reply_errno(struct conn *c, int err, const char *why)
{
	GString *o = g_string_new(NULL);

	g_string_append_printf(o, "errno=%d\n", err < 0 ? -err : err);
	if (err && why)
		g_string_append_printf(o, "error=%s\n", why);
	g_string_append_c(o, '\n');
	conn_reply(c, o);
}

/*
 * An unsigned integer in C notation (decimal, 0x hex, 0 octal), ending
 * at @stop (0: the end of the string); *@next is set past it.  No sign,
 * no spaces, no units.
 */
static int parse_num(const char *s, char stop, uint64_t *out,
		     const char **next)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 0);
	if (errno || end == s || *end != stop)
		return -EINVAL;
	if (next)
		*next = stop ? end + 1 : end;
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	return parse_num(s, 0, out, NULL);
}

/* @n numbers separated by commas. */
static int parse_list(const char *s, uint64_t *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (parse_num(s, i + 1 < n ? ',' : 0, &v[i], &s))
			return -EINVAL;
	return 0;
}

static int parse_region(const char *s, struct vm_region *r)
{
	uint64_t v[4];

	if (parse_list(s, v, 4))
		return -EINVAL;
	*r = (struct vm_region){ v[0], v[1], v[2], v[3] };
	return 0;
}

static void handle_register(struct conn *c, char **keys, char **vals,
			    unsigned n)
{
	struct vm_spec spec = { .uffd = -1, .memfd = -1, .state_fd = -1,
				.spill_fd = -1 };
	char why[256];
	bool have_version = false, have_budget = false, again = false;
	uint64_t v;
	int ret;

	if (c->vm) {
		reply_errno(c, EBUSY, "this connection already registered a VM");
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		const char *k = keys[i], *val = vals[i];

		if (!strcmp(k, "register")) {
			continue;
		} else if (!strcmp(k, "version")) {
			if (parse_u64(val, &v) || v != MEMX_CTL_VERSION) {
				snprintf(why, sizeof(why), "protocol version %s "
					 "is not supported (this memxd speaks "
					 "%d)", val, MEMX_CTL_VERSION);
				reply_errno(c, EPROTONOSUPPORT, why);
				return;
			}
			have_version = true;
		} else if (!strcmp(k, "name")) {
			snprintf(spec.name, sizeof(spec.name), "%s", val);
		} else if (!strcmp(k, "uuid")) {
			snprintf(spec.uuid, sizeof(spec.uuid), "%s", val);
		} else if (!strcmp(k, "pid")) {
			if (parse_u64(val, &v))
				goto bad_value;
			spec.pid = (pid_t)v;
		} else if (!strcmp(k, "budget")) {
			if (parse_u64(val, &spec.budget))
				goto bad_value;
			have_budget = true;
		} else if (!strcmp(k, "again")) {
			/* A VM an earlier memxd served: it brings its state. */
			if (parse_u64(val, &v) || v > 1)
				goto bad_value;
			again = v;
		} else if (!strcmp(k, "region")) {
			if (spec.nregions == MEMX_CTL_MAX_REGIONS) {
				reply_errno(c, E2BIG, "too many regions");
				return;
			}
			if (parse_region(val, &spec.regions[spec.nregions++]))
				goto bad_value;
		} else {
			snprintf(why, sizeof(why), "unknown option '%s'", k);
			reply_errno(c, EINVAL, why);
			return;
		}
		continue;
bad_value:
		snprintf(why, sizeof(why), "bad value for %s: '%s'", k, val);
		reply_errno(c, EINVAL, why);
		return;
	}
	if (!have_version || !have_budget || !spec.name[0] || !spec.pid) {
		reply_errno(c, EINVAL, "register needs version, name, pid, "
			    "budget and at least one region");
		return;
	}
	if (c->nfds != (again ? 4u : 2u)) {
		reply_errno(c, EBADF, again ?
			    "register with again=1 needs the userfaultfd, the "
			    "memfd, and the state and spill file memxd handed "
			    "over, in that order, by SCM_RIGHTS" :
			    "register needs the userfaultfd and the memfd, in "
			    "that order, by SCM_RIGHTS");
		return;
	}
	if (c->cred.pid != spec.pid) {
		snprintf(why, sizeof(why), "pid %d does not match the peer's "
			 "credentials (pid %d)", spec.pid, c->cred.pid);
		reply_errno(c, EPERM, why);
		return;
	}
	spec.uffd = c->fds[0];
	spec.memfd = c->fds[1];
	if (again) {
		spec.state_fd = c->fds[2];
		spec.spill_fd = c->fds[3];
	}
	ret = pager_register(c->ctl->pager, &spec, &c->vm, why, sizeof(why));
	if (ret) {
		log_warn("refused registration of vm %s from pid %d: %s",
			 spec.name, spec.pid, why);
		reply_errno(c, ret, why);
		return;
	}
	c->nfds = 0;	/* the pager owns them now */
	{
		GString *o = g_string_new(NULL);

		g_string_append_printf(o, "errno=0\nvm=%s\npages=%lu\n"
				       "slack_pages=%u\nhandover=2\n\n",
				       spec.name,
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

static void handle_request(struct conn *c, char *req)
{
	char *keys[MEMX_CTL_MAX_REGIONS + 16], *vals[MEMX_CTL_MAX_REGIONS + 16];
	char *key, *val;
	unsigned n = 0;

	while ((key = ctl_kv_next(&req, &val))) {
		if (!val || n == G_N_ELEMENTS(keys)) {
			reply_errno(c, EINVAL, "malformed request line");
			conn_close_fds(c);
			return;
		}
		keys[n] = key;
		vals[n++] = val;
	}
	if (!n) {
		reply_errno(c, EINVAL, "empty request");
	} else if (!strcmp(keys[0], "register")) {
		handle_register(c, keys, vals, n);
	} else if (!strcmp(keys[0], "discard")) {
		uint64_t v[2];

		if (!c->vm)
			reply_errno(c, ENOENT, "discard before register");
		else if (parse_list(vals[0], v, 2))
			reply_errno(c, EINVAL, "discard=OFFSET,LENGTH");
		else {
			int ret = pager_discard(c->vm, v[0], v[1]);

			reply_errno(c, ret, ret ? "range outside the memfd or "
				    "not page aligned" : NULL);
		}
	} else if (!strcmp(keys[0], "drain")) {
		char why[160] = "";
		int ret = pager_drain(c->ctl->pager, vals[0], why, sizeof(why));

		reply_errno(c, -ret, ret ? why : NULL);
	} else if (!strcmp(keys[0], "get")) {
		GString *o = g_string_new("errno=0\n");

		if (!strcmp(vals[0], "prometheus"))
			pager_prometheus(c->ctl->pager, o);
		else
			pager_dump(c->ctl->pager, o);
		g_string_append_c(o, '\n');
		conn_reply(c, o);
	} else {
		char why[128];

		snprintf(why, sizeof(why), "unknown request '%s'", keys[0]);
		reply_errno(c, EINVAL, why);
	}
	conn_close_fds(c);
}

/*
 * Read what the socket has: true if something came (or may come at
 * once), false if nothing is there now or @c was closed.
 */
static bool conn_recv(struct conn *c)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} cm;
	struct iovec iov = {
		.iov_base = c->buf + c->len,
		.iov_len = sizeof(c->buf) - 1 - c->len,
	};
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cm.buf,
		.msg_controllen = sizeof(cm.buf),
	};
	ssize_t n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);

	if (n < 0 && errno == EINTR)
		return true;
	if (n < 0 && errno == EAGAIN)
		return false;
	if (n <= 0) {
		conn_end(c, true);	/* the VMM is gone */
		return false;
	}
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned k = (unsigned)((h->cmsg_len - CMSG_LEN(0)) /
					sizeof(int));
		int *fds = (int *)CMSG_DATA(h);

		for (unsigned i = 0; i < k; i++) {
			if (c->nfds < CTL_MAX_FDS)
				c->fds[c->nfds++] = fds[i];
			else
				close(fds[i]);
		}
	}
	c->len += (size_t)n;
	c->buf[c->len] = 0;
	return true;
}

/* Handle the first complete request in the buffer, if there is one. */
static bool conn_handle_next(struct conn *c)
{
	char *end = strstr(c->buf, "\n\n");
	size_t used;

	if (!end)
		return false;
	used = (size_t)(end - c->buf) + 2;
	*end = 0;
	handle_request(c, c->buf);
	memmove(c->buf, c->buf + used, c->len - used);
	c->len -= used;
	c->buf[c->len] = 0;
	return true;
}

/*
 * Serve @c as far as it goes without waiting: its requests one at a time,
 * each once the reply before it is all sent (a client that does not read
 * gets no more work done for it), then poll for what it waits on.
 */
static void conn_pump(struct conn *c)
{
	while (!c->closing && !c->out) {
		if (conn_handle_next(c))
			continue;
		if (c->len >= sizeof(c->buf) - 1) {
			reply_errno(c, E2BIG, "request too large");
			conn_end(c, false);
			return;
		}
		if (!conn_recv(c))
			break;
	}
	if (c->closing)
		return;
	if (c->out && !c->writing) {
		c->writing = true;
		evl_poll(c->ctl->loop, c->fd, POLLOUT, &c->wop);
	} else if (!c->out && !c->reading) {
		c->reading = true;
		evl_poll(c->ctl->loop, c->fd, POLLIN, &c->rop);
	}
}

static void conn_readable(struct evl *loop, struct evl_op *op, int res)
{
	struct conn *c = conn_of(op, rop);

	(void)loop;
	c->reading = false;
	if (!c->closing && res < 0 && res != -EINTR)
		conn_end(c, true);
	if (!c->closing)
		conn_pump(c);
	conn_done(c);
}

static void conn_writable(struct evl *loop, struct evl_op *op, int res)
{
	struct conn *c = conn_of(op, wop);

	(void)loop;
	c->writing = false;
	if (!c->closing && ((res < 0 && res != -EINTR) || conn_flush(c)))
		conn_end(c, true);
	if (!c->closing)
		conn_pump(c);
	conn_done(c);
}

static void ctl_accept(struct evl *loop, struct evl_op *op, int res)
{
	struct ctl *ctl = (struct ctl *)op;
	socklen_t len = sizeof(struct ucred);
	struct conn *c;
	int fd;

	(void)res;
	ctl->listening = false;
	if (ctl->closing)
		return;
	while ((fd = accept4(ctl->fd, NULL, NULL,
			     SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->ctl = ctl;
		c->fd = fd;
		c->rop.done = conn_readable;
		c->wop.done = conn_writable;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) ||
		    (c->cred.uid != 0 && c->cred.uid != geteuid())) {
			log_ratelimited(5000, LOG_LEVEL_WARN, "control socket: "
					"refused a connection from uid %u",
					c->cred.uid);
			close(fd);
			free(c);
			continue;
		}
		c->next = ctl->conns;
		ctl->conns = c;
		c->reading = true;
		evl_poll(loop, fd, POLLIN, &c->rop);
	}
	evl_poll(loop, ctl->fd, POLLIN, &ctl->op);
	ctl->listening = true;
}

/* mkdir -p for the socket's directory, private to memxd's group. */
static int make_parent(const char *path)
{
	char *dir = g_path_get_dirname(path);
	int ret = g_mkdir_with_parents(dir, 0750) ? -errno : 0;

	g_free(dir);
	return ret;
}

int ctl_new(struct ctl **out, struct evl *loop, const char *path,
	    struct pager *pager)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctl *ctl;
	struct stat st;
	int ret, probe;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	ret = make_parent(path);
	if (ret)
		return ret;
	/* A socket file nobody answers on is a leftover: replace it. */
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
		return -EEXIST;		/* not ours to delete */
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0) {
		if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			return -EADDRINUSE;
		}
		close(probe);
		unlink(path);
	}
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->loop = loop;
	ctl->pager = pager;
	ctl->path = strdup(path);
	ctl->op.done = ctl_accept;
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ctl->fd < 0) {
		ret = -errno;
		goto err;
	}
	if (bind(ctl->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0660) < 0 || listen(ctl->fd, 16) < 0) {
		ret = -errno;
		goto err;
	}
	evl_poll(loop, ctl->fd, POLLIN, &ctl->op);
	ctl->listening = true;
	*out = ctl;
	return 0;
err:
	if (ctl->fd >= 0)
		close(ctl->fd);
	free(ctl->path);
	free(ctl);
	return ret;
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
	shutdown(ctl->fd, SHUT_RDWR);
	while ((ctl->conns || ctl->listening) && evl_now_ns() < deadline)
		evl_run_once(ctl->loop, 100000000);
	while (ctl->conns)
		conn_free(ctl->conns);
	close(ctl->fd);
	unlink(ctl->path);
	free(ctl->path);
	free(ctl);
}
