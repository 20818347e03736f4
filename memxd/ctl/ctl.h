/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ctl.h - memxd's control socket (protocol: ctl_proto.h; who may do
 * what: memxd-ctl(7), ACCESS).
 *
 * Every peer is identified once, when it connects, by SO_PEERCRED (uid,
 * gid, pid) and SO_PEERGROUPS (its supplementary groups, as they were
 * when it connected: no /proc lookup that a reused pid could fool), and
 * given a role for the connection's life:
 *
 *   admin  uid 0, memxd's own uid, or a member of the admin group
 *          (--ctl-admin-group): everything, every VM;
 *   vmm    a member of the VMM group (--ctl-group): registers its VMs,
 *          discards on the connection that registered, and sees (get=1)
 *          only the VMs that its uid registered;
 *   none   anyone else: each request is refused (EACCES), then the
 *          connection is closed.
 */
#ifndef MEMX_CTL_H
#define MEMX_CTL_H

#include <glib.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "../../rmap/evloop.h"
#include "../pager/pager.h"
#include "ctl_proto.h"

struct ctl;
struct conn;

/* Who may use the socket, besides root (and memxd's own uid). */
struct ctl_access {
	bool vmm_group_set, admin_group_set;
	gid_t vmm_group, admin_group;
	/* For messages: the groups' names as configured. */
	const char *vmm_group_name, *admin_group_name;
};

enum ctl_role {
	CTL_ROLE_NONE,
	CTL_ROLE_VMM,
	CTL_ROLE_ADMIN,
};

/*
 * What the control socket counts (memxctl dump; memxctl(8) documents
 * each key).  X(key, what it counts)
 */
#define CTL_COUNTERS(X)							\
	X(ctl_connections, "connections accepted")			\
	X(ctl_refused, "requests and connections refused for lack of "	\
	  "access (EACCES): a peer in no allowed group, or a VMM asking "\
	  "for an admin request")					\
	X(ctl_bad_requests, "requests refused as malformed or invalid, "\
	  "refused registrations included")				\
	X(ctl_dropped, "connections closed by memxd: a request too "	\
	  "large, a reply left unread, or too many connections")

struct ctl_stats {
#define X(key, help) uint64_t key;
	CTL_COUNTERS(X)
#undef X
};

/*
 * Listen on @path: the socket gets mode 0660 and, if configured, the
 * VMM group (else the admin group); a directory it needs is created with
 * mode 0750, and given that group too if it is memxd's own (owned by its
 * uid, nothing for others).  @path NULL: no socket (tests use
 * ctl_fake_conn).  0 or -errno, with why in @why.
 */
int ctl_new(struct ctl **ctl, struct evl *loop, const char *path,
	    struct pager *pager, const struct ctl_access *acc,
	    char *why, size_t len);
/*
 * memxd is going away, its VMs are not: close every connection (leaving
 * their VMs' pages on the servers, for the next memxd) and the socket.
 */
void ctl_free(struct ctl *ctl);
const struct ctl_stats *ctl_stats(const struct ctl *ctl);

/*
 * The role of a peer with @uid, @gid and supplementary @groups (pure;
 * exported for the unit tests).
 */
enum ctl_role ctl_role_of(const struct ctl_access *acc, uid_t uid, gid_t gid,
			  const gid_t *groups, unsigned ngroups);

/*
 * For tests and fuzzers: a connection with no socket, from a peer with
 * @cred and @role; its replies are appended to @out.  ctl_fake_feed()
 * hands it bytes (as many as its buffer takes: it returns how many),
 * and @nfds descriptors riding on them, which it never closes (they are
 * the caller's, or fakes); the requests they complete are handled at
 * once, up to the batch a connection gets per turn of the loop, the rest
 * after it.  ctl_fake_close() closes it as a hang-up
 * would (its VM is unregistered) and frees it.
 */
struct conn *ctl_fake_conn(struct ctl *ctl, const struct ucred *cred,
			   enum ctl_role role, GString *out);
size_t ctl_fake_feed(struct conn *c, const char *data, size_t len,
		     const int *fds, unsigned nfds);
bool ctl_fake_closed(const struct conn *c);
void ctl_fake_close(struct conn *c);

#endif
