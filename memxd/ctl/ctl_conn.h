/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ctl_conn.h - a connection to the control socket: its life, and the
 * replies it sends (with the descriptors riding on them) without memxd
 * ever waiting for the peer.  Its requests go up to handle_request()
 * (ctl_handle.h) one at a time, and nowhere else.
 */
#ifndef MEMX_CTL_CONN_H
#define MEMX_CTL_CONN_H

#include <glib.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "../pager/pager.h"
#include "ctl.h"

/*
 * A connection of @ctl on @fd (-1: a fake) from a peer with @cr and
 * @role, counted as one without a VM; NULL if out of memory.  Starting
 * its first poll (c->rop) is the caller's.
 */
struct conn *conn_new(struct ctl *ctl, int fd, const struct ucred *cr,
		      enum ctl_role role);
/*
 * Stop serving @c: its VM is unregistered if @vmm_gone, else detached,
 * and its socket shut down.  It is freed once its last poll completes.
 */
void conn_end(struct conn *c, bool vmm_gone);
/* Unlink @c from its ctl and free it, with its socket and queued reply. */
void conn_free(struct conn *c);
/* Close the descriptors that came with the request (unless borrowed). */
void conn_close_fds(struct conn *c);
/* @c registered @vm (NULL: it has none now). */
void conn_set_vm(struct conn *c, struct vm *vm);
/*
 * Hand @fds[0..@n) over with the next reply conn_reply() queues, on its
 * first byte; if @ours, they are closed once sent (or the connection
 * ends), else they stay their owner's.  @n is at most 2, and no
 * descriptors may wait to go already.
 */
void conn_pass_fds(struct conn *c, const int *fds, unsigned n, bool ours);
/* Queue the reply @o (taking it over) and send what the socket takes. */
void conn_reply(struct conn *c, GString *o);
/* Reply errno=@err (of either sign), and error=@why if @err is not 0. */
void reply_errno(struct conn *c, int err, const char *why);
/* A request refused as malformed or invalid: counted, answered. */
void reply_bad(struct conn *c, int err, const char *why);

#endif
