// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ctl_handle.c - control socket requests carried out (ctl_handle.h):
 * each parsed (ctl_parse.c), checked against the peer's role
 * (ctl_access.c), done by the pager, and answered on its connection
 * (ctl_conn.c).  A request refused for lack of access is counted, logged
 * and answered EACCES, with why.
 */
#include "ctl_handle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "../log.h"
#include "../pager/migrate.h"
#include "ctl_access.h"
#include "ctl_conn.h"
#include "ctl_int.h"
#include "ctl_parse.h"

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
	if (c->nfds != (req->again ? 4u : req->migrated ? 3u : 2u)) {
		reply_bad(c, EBADF, req->again ?
			  "register with again=1 needs the userfaultfd, the "
			  "memfd, and the state and spill file memxd handed "
			  "over, in that order, by SCM_RIGHTS" :
			  req->migrated ?
			  "register with migrated=1 needs the userfaultfd, the "
			  "memfd and the state that came in the migration "
			  "stream, in that order, by SCM_RIGHTS" :
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
	} else if (req->migrated) {
		spec->state_fd = c->fds[2];
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
	if (spec->migrated)
		migrate_arrived(vm);
	conn_set_vm(c, vm);
	snprintf(c->vm_name, sizeof(c->vm_name), "%s", spec->name);
	{
		GString *o = g_string_new(NULL);
		int fds[2];

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
		pager_vm_handover(c->vm, &fds[0], &fds[1]);
		conn_pass_fds(c, fds, 2, false);
		conn_reply(c, o);
	}
}

/*
 * A failed handoff's reply: it says migrate=handoff too, for a VMM that
 * reads its answers to discards on the same connection.
 */
static void handoff_refused(struct conn *c, int err, const char *why)
{
	GString *o = g_string_new(NULL);

	g_string_append_printf(o, "errno=%d\nerror=%s\nmigrate=handoff\n\n",
			       err, why);
	conn_reply(c, o);
}

/* The handoff of the connection's VM ended (migrate.h). */
static void handoff_done(void *arg, int err, const char *why,
			 const struct migrate_summary *s)
{
	struct conn *c = arg;
	GString *o;

	if (err) {
		handoff_refused(c, -err, why);
		return;
	}
	/* Detached: the connection ends with nothing to unregister. */
	snprintf(c->handed_over, sizeof(c->handed_over), "%s", c->vm_name);
	conn_set_vm(c, NULL);
	o = g_string_new(NULL);
	g_string_append_printf(o, "errno=0\nmigrate=handoff\n"
			       "resident_pages=%lu\nremote_pages=%lu\n"
			       "never_written_pages=%lu\nsessions=%u\n"
			       "quiesce_us=%lu\n\n", (unsigned long)s->resident,
			       (unsigned long)s->remote,
			       (unsigned long)s->never, s->sessions,
			       (unsigned long)s->quiesce_us);
	conn_reply(c, o);
}

/*
 * migrate=...: on the connection that registered the VM (or handed it
 * over, for the report).
 */
static void handle_migrate(struct conn *c, const struct ctl_req *req)
{
	char why[256];
	int ret;

	if (req->migrate == CTL_MIGRATE_REPORT) {
		const char *name = c->vm ? c->vm_name : c->handed_over;

		if (!name[0]) {
			reply_bad(c, ENOENT, "migrate=report on a connection "
				  "that registered no VM");
			return;
		}
		ret = migrate_report(c->ctl->pager, name, req->report, why,
				     sizeof(why));
		if (ret)
			reply_bad(c, -ret, why);
		else
			reply_errno(c, 0, NULL);
		return;
	}
	if (!c->vm) {
		if (req->migrate == CTL_MIGRATE_HANDOFF)
			handoff_refused(c, ENOENT, "migrate before register");
		else
			reply_bad(c, ENOENT, "migrate before register");
		return;
	}
	if (req->migrate == CTL_MIGRATE_SETTLE) {
		if (migrate_settle(c->vm))
			reply_bad(c, EBUSY, "the VM is being handed over");
		else
			reply_errno(c, 0, NULL);
		return;
	}
	/* The reply waits until the VM is quiet and handed over. */
	ret = migrate_handoff(c->vm, handoff_done, c, why, sizeof(why));
	if (ret)
		handoff_refused(c, -ret, why);
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
	conn_pass_fds(c, &dev, 1, true);
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
	if (req->migrations && c->role != CTL_ROLE_ADMIN) {
		g_string_free(o, true);
		admin_only(c, "the migration records", "get=migrations");
		return;
	}
	if (req->migrations) {
		migrate_dump(c->ctl->pager, o);
	} else if (req->prometheus) {
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
	case CTL_MIGRATE:
		handle_migrate(c, &req);
		break;
	}
	conn_close_fds(c);
}
