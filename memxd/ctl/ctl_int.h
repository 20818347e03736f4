/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ctl_int.h - the control socket's private state, struct ctl and struct
 * conn: shared by the files that implement ctl.h, included by nothing
 * else.  memxd's side of the socket, a stack:
 *
 *   ctl.c         the socket: made, listened on, connections accepted
 *                 and given their peer's role, closed          (ctl.h)
 *   ctl_handle.c  requests carried out: register, discard, drain, get,
 *                 userfaultfd; refusals                (ctl_handle.h)
 *   ctl_conn.c    a connection: its life, its requests read and framed
 *                 and handed up in batches, its replies and the
 *                 descriptors on them sent; the fakes      (ctl_conn.h)
 *   ctl_access.c  who may do what: roles, why a peer is refused, whose
 *                 a VM is                                (ctl_access.h)
 *   ctl_parse.c   a request parsed: no I/O, no state      (ctl_parse.h)
 *
 * Calls go down only, but for one: a connection hands each complete
 * request up to handle_request(), and calls nothing else above it.
 */
#ifndef MEMX_CTL_INT_H
#define MEMX_CTL_INT_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "../../rmap/evloop.h"
#include "../pager/pager.h"
#include "ctl.h"
#include "ctl_client.h"
#include "ctl_proto.h"

/*
 * A connection lives as long as a poll of it is in the ring: closing it
 * (conn_end) lets its VM go and shuts the socket down, which completes
 * those polls, and the last one to complete frees it.  A fake connection
 * (fd -1: tests) has no poll, and is freed by ctl_fake_close.
 */
struct conn {
	struct evl_op rop;	/* POLLIN: requests may have come */
	struct evl_op wop;	/* POLLOUT: room for the queued reply */
	struct evl_timer more;	/* requests left over from the last batch */
	struct ctl *ctl;
	struct conn *next;
	int fd;
	bool reading, writing;	/* that poll is in the ring */
	bool closing;
	bool close_after;	/* once the queued reply has gone */
	bool borrowed_fds;	/* a fake's: never closed here */
	struct ucred cred;
	enum ctl_role role;
	char buf[MEMX_CTL_MAX_REQUEST];
	size_t len;
	size_t scanned;		/* of buf, searched for the empty line */
	int fds[CTL_MAX_FDS];
	unsigned nfds;
	GString *out;		/* the reply not sent yet, from out_off */
	size_t out_off;
	int out_fds[2];		/* ride on the byte at out_fds_at; set by
				 * conn_pass_fds() */
	unsigned out_nfds;
	bool out_fds_ours;	/* closed once sent (not the pager's) */
	size_t out_fds_at;
	GString *capture;	/* a fake's replies */
	struct vm *vm;
	char vm_name[64];	/* the VM it registered */
	char handed_over[64];	/* ...and handed over (migrate=handoff) */
};

struct ctl {
	struct evl_op op;
	struct evl *loop;
	struct pager *pager;
	struct ctl_access acc;
	int fd;
	bool closing, listening;
	char *path;
	struct conn *conns;
	unsigned idle;		/* connections without a VM */
	struct ctl_stats st;
};

#endif
