// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ctl_conn.c - one connection to memxd's control socket (ctl_conn.h):
 * its life, its requests read and framed, its replies sent with the
 * descriptors they hand over; and the fake connections of the tests.
 *
 * It runs in the event loop that serves page faults, so it never waits
 * for a client and never works for one for long: a reply the socket
 * cannot take at once is queued and sent on POLLOUT, and the
 * connection's next request waits for it; a connection gets at most
 * CTL_BATCH requests handled per turn of the loop.
 *
 * Each complete request goes up to handle_request() (ctl_handle.h), the
 * one call this file makes into the handlers; they answer through
 * conn_reply() and reply_errno() here, and hand descriptors over with
 * conn_pass_fds().
 */
#include "ctl_conn.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../log.h"
#include "ctl_client.h"
#include "ctl_handle.h"
#include "ctl_int.h"

/* Requests of one connection handled per turn of the loop. */
#define CTL_BATCH	16u

static void conn_pump(struct conn *c);

void conn_close_fds(struct conn *c)
{
	for (unsigned i = 0; i < c->nfds; i++)
		if (!c->borrowed_fds)
			close(c->fds[i]);
	c->nfds = 0;
}

/* Forget the descriptors queued to go, closing those that are ours. */
static void conn_drop_out_fds(struct conn *c)
{
	for (unsigned i = 0; c->out_fds_ours && i < c->out_nfds; i++)
		close(c->out_fds[i]);
	c->out_nfds = 0;
	c->out_fds_ours = false;
}

void conn_pass_fds(struct conn *c, const int *fds, unsigned n, bool ours)
{
	memcpy(c->out_fds, fds, sizeof(*fds) * n);
	c->out_nfds = n;
	c->out_fds_ours = ours;
	c->out_fds_at = c->out ? c->out->len : 0;
}

void conn_set_vm(struct conn *c, struct vm *vm)
{
	if (!c->vm != !vm)
		c->ctl->idle += vm ? -1u : 1u;
	c->vm = vm;
	if (!vm)
		c->vm_name[0] = 0;
}

/*
 * Stop serving @c and shut the socket down.  Its VM is unregistered if
 * its VMM is gone; if memxd ends a connection whose VMM lives on (a
 * request too large, a reply left unread), the VM is only detached, as
 * when memxd stops: its VMM registers again and is taken over, and its
 * pages are not lost for a misbehaving client library.  Never frees @c:
 * the callback whose poll completes last does (conn_done).
 */
void conn_end(struct conn *c, bool vmm_gone)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->vm && vmm_gone)
		pager_unregister(c->ctl->pager, c->vm);
	else if (c->vm)
		pager_detach(c->ctl->pager, c->vm);
	conn_set_vm(c, NULL);
	c->ctl->idle--;		/* it counts for nothing now */
	conn_close_fds(c);
	evl_timer_cancel(c->ctl->loop, &c->more);
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
}

void conn_free(struct conn *c)
{
	struct conn **pp = &c->ctl->conns;

	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (*pp)
		*pp = c->next;
	if (c->out)
		g_string_free(c->out, TRUE);
	conn_drop_out_fds(c);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

/* At the end of a poll's callback: free a closed @c with no poll left. */
static void conn_done(struct conn *c)
{
	if (c->fd >= 0 && c->closing && !c->reading && !c->writing)
		conn_free(c);
}

/* Send what is queued, as far as the socket takes it: 0 or -errno. */
static int conn_flush(struct conn *c)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 2)];
		struct cmsghdr align;
	} u;

	if (c->fd < 0 && c->out) {
		/* A fake: the reply is captured whole, descriptors dropped. */
		g_string_append_len(c->capture, c->out->str + c->out_off,
				    (gssize)(c->out->len - c->out_off));
		g_string_free(c->out, TRUE);
		c->out = NULL;
		c->out_off = 0;
		conn_drop_out_fds(c);
	}
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
			conn_drop_out_fds(c);	/* sent: the peer has copies */
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
void conn_reply(struct conn *c, GString *o)
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
		c->ctl->st.ctl_dropped++;
		conn_end(c, false);
	}
}

void reply_errno(struct conn *c, int err, const char *why)
{
	GString *o = g_string_new(NULL);

	g_string_append_printf(o, "errno=%d\n", err < 0 ? -err : err);
	if (err && why)
		g_string_append_printf(o, "error=%s\n", why);
	g_string_append_c(o, '\n');
	conn_reply(c, o);
}

/* A request refused as malformed or invalid: counted, answered. */
void reply_bad(struct conn *c, int err, const char *why)
{
	c->ctl->st.ctl_bad_requests++;
	reply_errno(c, err, why);
}

/*
 * Read what the socket has: true if something came (or may come at
 * once), false if nothing is there now or @c was closed.
 */
static bool conn_recv(struct conn *c)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * CTL_MAX_FDS)];
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
	ssize_t n;

	if (c->fd < 0)
		return false;	/* a fake: fed, never read */
	n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0 && errno == EINTR)
		return true;
	if (n < 0 && errno == EAGAIN)
		return false;
	if (n <= 0) {
		conn_end(c, true);	/* the VMM is gone */
		return false;
	}
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h)) {
		unsigned k;
		int *fds;

		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		k = (unsigned)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		fds = (int *)(void *)CMSG_DATA(h);
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

/*
 * Handle the first complete request in the buffer, if there is one.  The
 * search for its end goes on where the last one stopped: a client that
 * sends a byte at a time must not make memxd scan 64 KiB per byte.
 */
static bool conn_handle_next(struct conn *c)
{
	size_t from = c->scanned ? c->scanned - 1 : 0;
	char *end = memmem(c->buf + from, c->len - from, "\n\n", 2);
	size_t used;

	if (!end) {
		c->scanned = c->len;
		return false;
	}
	c->scanned = 0;
	used = (size_t)(end - c->buf) + 2;
	*end = 0;
	/* A NUL byte ends the request early: what follows is ignored. */
	handle_request(c, c->buf);
	memmove(c->buf, c->buf + used, c->len - used);
	c->len -= used;
	c->buf[c->len] = 0;
	return true;
}

static void conn_more(struct evl *loop, struct evl_timer *t)
{
	struct conn *c = evl_container_of(t, struct conn, more);

	(void)loop;
	if (!c->closing)
		conn_pump(c);
	conn_done(c);
}

/*
 * Serve @c as far as it goes without waiting, and without keeping the
 * loop from the faults of every VM: at most CTL_BATCH requests, each
 * once the reply before it is all sent (a client that does not read gets
 * no more work done for it), then poll for what it waits on.
 */
static void conn_pump(struct conn *c)
{
	unsigned handled = 0;

	while (!c->closing && !c->out) {
		if (c->close_after) {
			/* Its VMM may live on (a request too large). */
			conn_end(c, false);
			return;
		}
		if (handled == CTL_BATCH) {
			/* The rest after the loop turned, fairly. */
			evl_timer_arm(c->ctl->loop, &c->more, 0);
			return;
		}
		if (conn_handle_next(c)) {
			handled++;
			continue;
		}
		if (c->len >= sizeof(c->buf) - 1) {
			reply_bad(c, E2BIG, "request too large");
			c->ctl->st.ctl_dropped++;
			c->close_after = true;
			continue;
		}
		if (!conn_recv(c))
			break;
	}
	if (c->closing || c->fd < 0)
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
	struct conn *c = evl_container_of(op, struct conn, rop);

	(void)loop;
	c->reading = false;
	if (!c->closing && res < 0 && res != -EINTR)
		conn_end(c, true);
	if (!c->closing && !evl_timer_armed(&c->more))
		conn_pump(c);
	conn_done(c);
}

static void conn_writable(struct evl *loop, struct evl_op *op, int res)
{
	struct conn *c = evl_container_of(op, struct conn, wop);

	(void)loop;
	c->writing = false;
	if (!c->closing && ((res < 0 && res != -EINTR) || conn_flush(c)))
		conn_end(c, true);
	if (!c->closing && !evl_timer_armed(&c->more))
		conn_pump(c);
	conn_done(c);
}

struct conn *conn_new(struct ctl *ctl, int fd, const struct ucred *cr,
		      enum ctl_role role)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->ctl = ctl;
	c->fd = fd;
	c->cred = *cr;
	c->role = role;
	c->rop.done = conn_readable;
	c->wop.done = conn_writable;
	evl_timer_init(&c->more, conn_more);
	c->next = ctl->conns;
	ctl->conns = c;
	ctl->idle++;
	ctl->st.ctl_connections++;
	return c;
}

/* ---- fakes, for tests ---- */

struct conn *ctl_fake_conn(struct ctl *ctl, const struct ucred *cred,
			   enum ctl_role role, GString *out)
{
	struct conn *c = conn_new(ctl, -1, cred, role);

	if (c) {
		c->capture = out;
		c->borrowed_fds = true;
	}
	return c;
}

size_t ctl_fake_feed(struct conn *c, const char *data, size_t len,
		     const int *fds, unsigned nfds)
{
	size_t room = sizeof(c->buf) - 1 - c->len;

	for (unsigned i = 0; i < nfds && c->nfds < CTL_MAX_FDS; i++)
		c->fds[c->nfds++] = fds[i];
	if (c->closing)
		return 0;
	if (len > room)
		len = room;
	memcpy(c->buf + c->len, data, len);
	c->len += len;
	c->buf[c->len] = 0;
	if (!evl_timer_armed(&c->more))
		conn_pump(c);
	return len;
}

bool ctl_fake_closed(const struct conn *c)
{
	return c->closing;
}

void ctl_fake_close(struct conn *c)
{
	conn_end(c, true);	/* as a hang-up */
	conn_free(c);
}
