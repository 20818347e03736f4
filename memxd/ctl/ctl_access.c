// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ctl_access.c - who may use memxd's control socket, and for what
 * (ctl_access.h; the roles: ctl.h, memxd-ctl(7) ACCESS).
 */
#include "ctl_access.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../log.h"
#include "ctl_int.h"

/* Supplementary groups read of a peer (NGROUPS_MAX is 65536). */
#define CTL_MAX_GROUPS	65536u

static bool in_group(gid_t want, gid_t gid, const gid_t *groups, unsigned n)
{
	if (gid == want)
		return true;
	for (unsigned i = 0; i < n; i++)
		if (groups[i] == want)
			return true;
	return false;
}

enum ctl_role ctl_role_of(const struct ctl_access *acc, uid_t uid, gid_t gid,
			  const gid_t *groups, unsigned ngroups)
{
	if (uid == 0 || uid == geteuid())
		return CTL_ROLE_ADMIN;
	if (acc->admin_group_set &&
	    in_group(acc->admin_group, gid, groups, ngroups))
		return CTL_ROLE_ADMIN;
	if (acc->vmm_group_set &&
	    in_group(acc->vmm_group, gid, groups, ngroups))
		return CTL_ROLE_VMM;
	return CTL_ROLE_NONE;
}

/*
 * The role of the peer of @fd.  Its groups are those it had when it
 * connected (SO_PEERGROUPS, Linux 4.13; memx needs 5.19 for
 * write-protected shared memory anyway), so a pid reused since cannot
 * lend it another process's groups.
 */
enum ctl_role peer_role(const struct ctl *ctl, int fd,
			const struct ucred *cr)
{
	gid_t small[64], *groups = small;
	socklen_t len = sizeof(small);
	enum ctl_role role;
	unsigned n = 0;

	if (!getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len)) {
		n = len / sizeof(gid_t);
	} else if (errno == ERANGE && len <= CTL_MAX_GROUPS * sizeof(gid_t)) {
		groups = malloc(len);
		if (groups &&
		    !getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len))
			n = len / sizeof(gid_t);
	} else {
		log_ratelimited(60000, LOG_LEVEL_WARN, "control socket: "
				"SO_PEERGROUPS: %s; peers count as members of "
				"their primary group only", strerror(errno));
	}
	role = ctl_role_of(&ctl->acc, cr->uid, cr->gid, groups ? groups : small,
			   groups ? n : 0);
	if (groups != small)
		free(groups);
	return role;
}

/* Why a peer in no allowed group is refused, in @why. */
void none_why(const struct conn *c, char *why, size_t len)
{
	const struct ctl_access *a = &c->ctl->acc;

	if (a->vmm_group_set || a->admin_group_set)
		snprintf(why, len, "uid %u (gid %u, pid %d) may not use memxd's "
			 "control socket: it is not root, nor in group %s%s%s",
			 c->cred.uid, c->cred.gid, c->cred.pid,
			 a->vmm_group_set ? a->vmm_group_name :
			 a->admin_group_name,
			 a->vmm_group_set ? " (ctl-group)" : " (ctl-admin-group)",
			 a->vmm_group_set && a->admin_group_set ?
			 " or its ctl-admin-group" : "");
	else
		snprintf(why, len, "uid %u (gid %u, pid %d) may not use memxd's "
			 "control socket: only root may (memxd has no "
			 "ctl-group)", c->cred.uid, c->cred.gid, c->cred.pid);
}

const char *role_name(enum ctl_role r)
{
	return r == CTL_ROLE_ADMIN ? "admin" : r == CTL_ROLE_VMM ? "vmm"
								 : "none";
}

/* Does the connection that registered @vm belong to @uid? */
bool owned_by(const struct ctl *ctl, const char *vm_name, uid_t uid)
{
	for (const struct conn *c = ctl->conns; c; c = c->next)
		if (c->vm && !strcmp(c->vm_name, vm_name))
			return c->cred.uid == uid;
	return false;
}
