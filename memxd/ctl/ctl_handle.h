/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ctl_handle.h - control socket requests carried out: register, discard,
 * drain, get and userfaultfd, each if the peer's role allows it (roles:
 * ctl.h), and answered through the connection (ctl_conn.h).
 */
#ifndef MEMX_CTL_HANDLE_H
#define MEMX_CTL_HANDLE_H

struct conn;

/*
 * Handle the request @text from @c: its lines, without the empty line
 * that ends it, parsed in place.  The descriptors that came with it
 * (c->fds) are closed after, but for those a registration took over.
 * The one call the connection (ctl_conn.c) makes up into the handlers.
 */
void handle_request(struct conn *c, char *text);

#endif
