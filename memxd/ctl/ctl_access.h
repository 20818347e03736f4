/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ctl_access.h - who may do what on the control socket (the roles:
 * ctl.h): a peer's role, found once when it connects; why a peer in no
 * allowed group is refused; whose a VM is.  It reads struct ctl and
 * struct conn (ctl_int.h) and calls no other file of memxd/ctl/.
 */
#ifndef MEMX_CTL_ACCESS_H
#define MEMX_CTL_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "ctl.h"

/* The role of the peer of @fd, who connected with credentials @cr. */
enum ctl_role peer_role(const struct ctl *ctl, int fd,
			const struct ucred *cr);
/* Why the peer of @c, in no allowed group, is refused: in @why. */
void none_why(const struct conn *c, char *why, size_t len);
/* "admin", "vmm" or "none", for messages. */
const char *role_name(enum ctl_role r);
/* Does the connection that registered the VM @vm_name belong to @uid? */
bool owned_by(const struct ctl *ctl, const char *vm_name, uid_t uid);

#endif
