// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pager_main.c - the pager role: servers, pager and control socket.
 */
#include "pager_main.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl/ctl.h"
#include "log.h"
#include "pager/pager.h"
#include "pager/remote.h"

/*
 * A group, by name or number: 0, or -errno after logging why.  Looked up
 * at start: the group may come later, with a package (systemd restarts
 * memxd meanwhile).
 */
static int find_group(const char *key, const char *name, gid_t *gid)
{
	struct group *gr;
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(name, &end, 10);
	if (*name && !*end && !errno && v < (gid_t)-1) {
		*gid = (gid_t)v;
		return 0;
	}
	errno = 0;
	gr = getgrnam(name);
	if (gr) {
		*gid = gr->gr_gid;
		return 0;
	}
	log_err("%s: no group named '%s'%s%s", key, name, errno ? ": " : "",
		errno ? strerror(errno) : "");
	return -EINVAL;
}

int pager_main(struct evl *loop, const struct memxd_options *o)
{
	const char *sock = o->socket ? o->socket : MEMXD_DEFAULT_SOCKET;
	struct pager_config pc = {
		.spill_dir = o->spill_dir ? o->spill_dir : "/var/tmp",
		.local_total = o->local_total,
		.prefetch_max = o->prefetch_max,
		.spin_us = o->spin_us,
		.geo = { o->stripe_width, o->stripe_rows, o->parity },
		.recovery_mibps = o->recovery_mibps,
		.integrity = o->integrity,
		.encrypt = o->page_encryption,
	};
	struct remote_config rc = {
		.heartbeat_ms = o->pager_heartbeat_ms,
		.dead_after = o->dead_after,
		.grace_s = o->grace_s,
	};
	g_autofree char *sock_dir = g_path_get_dirname(sock);
	g_autofree char *report_dir = o->report_dir ? g_strdup(o->report_dir) :
				      g_build_filename(sock_dir, "migrations",
						       NULL);
	unsigned nsrv = 0;
	char why[128];
	const char *cipher, *library;
	struct remote *r = NULL;
	struct pager *pg = NULL;
	struct ctl *ctl = NULL;
	struct ctl_access acc = {
		.vmm_group_name = o->ctl_group,
		.admin_group_name = o->ctl_admin_group,
	};
	char lwhy[256];
	uint64_t deadline;
	int ret;

	if (victim_policy_parse(o->evict_policy ? o->evict_policy
						: "adaptive",
				&pc.evict_policy)) {
		log_err("evict-policy must be clock, refault, refault-wp or "
			"adaptive, not '%s'",
			o->evict_policy);
		return -EINVAL;
	}

	if (o->ctl_group) {
		if (find_group("ctl-group", o->ctl_group, &acc.vmm_group))
			return -EINVAL;
		acc.vmm_group_set = true;
	}
	if (o->ctl_admin_group) {
		if (find_group("ctl-admin-group", o->ctl_admin_group,
			       &acc.admin_group))
			return -EINVAL;
		acc.admin_group_set = true;
	}

	while (o->servers && o->servers[nsrv])
		nsrv++;
	pg_geometry_fit(&pc.geo, nsrv);
	if (pg_geometry_check(&pc.geo, nsrv, why, sizeof(why))) {
		log_err("page-groups: %s (%u memory server(s) configured)", why,
			nsrv);
		return -EINVAL;
	}
	if (o->parity && !pc.geo.parity)
		log_warn("page-groups: parity needs two memory servers; with "
			 "one, a server's failure loses the pages it held");
	if (nsrv && pc.geo.width != o->stripe_width)
		log_info("page-groups: stripe width %u (not %u) on %u servers, "
			 "so that a rebuilt member has a spare server",
			 pc.geo.width, o->stripe_width, nsrv);
	if (pc.geo.parity && nsrv < pc.geo.width + 2)
		log_warn("page-groups: %u servers leave no spare: a failed "
			 "server's groups wait (degraded) until one comes", nsrv);
	ret = remote_new(&r, loop, o->servers, &o->rmap, &rc);
	if (ret) {
		log_err("cannot set up RMAP to the memory servers: %s",
			strerror(-ret));
		return ret;
	}
	remote_cipher(r, &cipher, &library);
	if (o->rmap.auth.insecure)
		log_warn("RMAP to the memory servers is NOT AUTHENTICATED "
			 "(insecure-no-auth)");
	else
		log_info("RMAP: authenticated and encrypted with %s (%s); %u "
			 "peers known", cipher, library, o->rmap.auth.npeers);
	pc.report_dir = report_dir;
	ret = pager_new(&pg, loop, r, &pc);
	if (ret)
		goto out;
	ret = ctl_new(&ctl, loop, sock, pg, &acc, lwhy, sizeof(lwhy));
	if (ret) {
		log_err("control socket: %s", lwhy);
		goto out;
	}
	if (pc.encrypt && !pc.integrity) {
		log_err("--page-encryption needs --integrity: a page's MAC is "
			"its nonce");
		return -EINVAL;
	}
	if (pc.encrypt)
		log_info("new VMs' pages are sent encrypted (XChaCha20, keyed "
			 "per VM)");
	if (!pc.integrity)
		log_warn("--integrity=off: new VMs' pages carry no MAC and what "
			 "the servers return is installed unchecked; for "
			 "measuring its cost only");
	if (!remote_count(r))
		log_warn("no memory servers configured (--servers): evicted "
			 "pages go to the spill file in %s", pc.spill_dir);
	log_info("pager %s listening on %s: %u memory server(s), page-groups "
		 "of %u x %u pages %s parity, recovery up to %u MiB/s, prefetch "
		 "up to %u pages, evict policy %s, spill directory %s",
		 PACKAGE_VERSION, sock,
		 remote_count(r), pc.geo.rows, pc.geo.width,
		 pc.geo.parity ? "with" : "without", pc.recovery_mibps,
		 o->prefetch_max, victim_policy_name(pc.evict_policy),
		 pc.spill_dir);
	if (pc.spin_us)
		log_info("while a vCPU waits for a server, the loop polls for "
			 "the reply up to %u us before sleeping, while that "
			 "pays and no thread waits for a CPU (spin-us)",
			 pc.spin_us);
	else
		log_info("the loop never polls before sleeping (spin-us 0)");
	if (pc.local_total)
		log_info("VM budgets are reservations within a host-wide total "
			 "of %llu MiB (local-total)",
			 (unsigned long long)(pc.local_total >> 20));
	else
		log_info("no host-wide total for VM budgets (local-total): "
			 "every VM that fits its own memory is admitted");
	log_info("control socket: VMs may be registered by root%s%s%s; admin "
		 "requests (drain, every VM's state) are root's%s%s",
		 o->ctl_group ? " and group " : " only",
		 o->ctl_group ? o->ctl_group : "",
		 o->ctl_group ? " (each of its uids sees its own VMs only)" : "",
		 o->ctl_admin_group ? " and group " : " only",
		 o->ctl_admin_group ? o->ctl_admin_group : "");
	ret = evl_run(loop);
	{
		const struct spin_gov *sg = evl_spin(loop);

		log_info("polling before sleep: %llu polls (%llu ended in a "
			 "completion, %llu ran out), %llu sleeps at once as "
			 "polls seldom paid, %llu as threads waited for a CPU",
			 (unsigned long long)sg->polls,
			 (unsigned long long)sg->hits,
			 (unsigned long long)sg->misses,
			 (unsigned long long)sg->skipped_score,
			 (unsigned long long)sg->skipped_crowded);
	}
out:
	/*
	 * Unregister every VM, then give the UNREGs a moment to leave.  The
	 * remote side goes before the pager: closing it fails the READs and
	 * WRITEs still in flight, and their callbacks release the last
	 * references to their VMs, which need the pager to tear down.
	 */
	if (ctl)
		ctl_free(ctl);
	deadline = evl_now_ns() + 500000000ull;
	while (r && remote_pending(r) && evl_now_ns() < deadline)
		evl_run_once(loop, 50000000);
	pager_remote_gone(pg);
	remote_free(r);
	pager_free(pg);
	return ret;
}
