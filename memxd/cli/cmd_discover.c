// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_discover.c - memxctl discover [ADDR[:PORT]] [SECONDS]: memory
 * servers announce themselves (memxd --announce-to, to a unicast or
 * broadcast address).  Listen where they announce to and list them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct heard {
	struct sockaddr_storage from;
	struct rmap_stat st;
	unsigned times;
};

struct discovery {
	struct heard h[64];
	unsigned n;
};

static void on_announce(struct rmap_ep *ep, const struct sockaddr_storage *from,
			const struct rmap_stat *st, void *arg)
{
	struct discovery *d = arg;
	char name[64];

	(void)ep;
	for (unsigned i = 0; i < d->n; i++) {
		if (!memcmp(&d->h[i].from, from, sizeof(*from))) {
			d->h[i].st = *st;
			d->h[i].times++;
			return;
		}
	}
	if (d->n == sizeof(d->h) / sizeof(d->h[0]))
		return;
	d->h[d->n].from = *from;
	d->h[d->n].st = *st;
	d->h[d->n].times = 1;
	d->n++;
	fprintf(stderr, "heard %s\n", rmap_format_addr(from, name, sizeof(name)));
}

int cmd_discover(struct cli *c, int argc, char **argv)
{
	struct discovery d = { .n = 0 };
	/* ANNOUNCE is never authenticated: heard as the rumour it is. */
	struct rmap_handlers h = { .announce = on_announce, .arg = &d,
				   .unauth_announce = true };
	struct sockaddr_storage addr;
	struct rmap_ep *ep;
	unsigned secs = 3;
	uint64_t end;
	int ret;

	if (argc > 2 || (argc == 2 && (parse_uint(argv[1], &secs) || !secs))) {
		fprintf(stderr, "usage: memxctl discover [ADDR[:PORT]] [SECONDS]\n");
		return 2;
	}
	if (rmap_parse_addr(argc ? argv[0] : "0.0.0.0", RMAP_DEFAULT_PORT,
			    &addr)) {
		fprintf(stderr, "memxctl: cannot parse '%s'\n", argv[0]);
		return 2;
	}
	/* Beside another discover; a memory server's port is its own. */
	c->cfg.share_port = true;
	ret = rmap_ep_open(&ep, c->loop, (struct sockaddr *)&addr,
			   rmap_addr_len(&addr), &c->cfg, &h);
	if (ret) {
		fprintf(stderr, "memxctl: cannot listen for announcements: %s%s\n",
			strerror(-ret), ret == -EADDRINUSE ?
			" (a memory server listens there: name another port, "
			"the one its announce-to gives)" : "");
		return 1;
	}
	end = evl_now_ns() + (uint64_t)secs * 1000000000ull;
	while (evl_now_ns() < end)
		evl_run_once(c->loop, (int64_t)(end - evl_now_ns()));
	for (unsigned i = 0; i < d.n; i++) {
		struct sockaddr_storage srv = d.h[i].from;
		char name[64];

		/* Announcements come from the RMAP socket, but say its port. */
		if (srv.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&srv)->sin6_port = htons(d.h[i].st.port);
		else
			((struct sockaddr_in *)&srv)->sin_port = htons(d.h[i].st.port);
		printf("server=%s capacity_pages=%lu used_pages=%lu "
		       "load_permille=%u sessions=%u announcements=%u\n",
		       rmap_format_addr(&srv, name, sizeof(name)),
		       (unsigned long)d.h[i].st.capacity_pages,
		       (unsigned long)d.h[i].st.used_pages,
		       d.h[i].st.load_permille, d.h[i].st.sessions,
		       d.h[i].times);
	}
	rmap_ep_close(ep);
	return d.n ? 0 : 1;
}
