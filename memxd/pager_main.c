// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pager_main.c - the pager role: servers, pager and control socket.
 */
#include "pager_main.h"

#include <errno.h>
#include <string.h>

#include "config.h"
#include "ctl.h"
#include "log.h"
#include "pager.h"
#include "remote.h"

int pager_main(struct evl *loop, const struct memxd_options *o)
{
	const char *sock = o->socket ? o->socket : MEMXD_DEFAULT_SOCKET;
	struct pager_config pc = {
		.spill_dir = o->spill_dir ? o->spill_dir : "/var/tmp",
		.prefetch_max = o->prefetch_max,
	};
	struct remote *r = NULL;
	struct pager *pg = NULL;
	struct ctl *ctl = NULL;
	uint64_t deadline;
	int ret;

	ret = remote_new(&r, loop, o->servers, &o->rmap);
	if (ret) {
		log_err("cannot set up RMAP to the memory servers: %s",
			strerror(-ret));
		return ret;
	}
	ret = pager_new(&pg, loop, r, &pc);
	if (ret)
		goto out;
	ret = ctl_new(&ctl, loop, sock, pg);
	if (ret) {
		log_err("cannot listen on %s: %s%s", sock, strerror(-ret),
			ret == -EADDRINUSE ? " (another memxd runs there)" :
			ret == -EEXIST ? " (and it is not a socket)" : "");
		goto out;
	}
	if (!remote_count(r))
		log_warn("no memory servers configured (--servers): evicted "
			 "pages go to the spill file in %s", pc.spill_dir);
	log_info("pager %s listening on %s: %u memory server(s), prefetch up "
		 "to %u pages, spill directory %s", PACKAGE_VERSION, sock,
		 remote_count(r), o->prefetch_max, pc.spill_dir);
	ret = evl_run(loop);
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
	while (r && rmap_ep_pending(remote_ep(r)) && evl_now_ns() < deadline)
		evl_run_once(loop, 50000000);
	remote_free(r);
	pager_free(pg);
	return ret;
}
