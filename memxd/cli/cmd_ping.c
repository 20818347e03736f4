// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_ping.c - memxctl ping HOST [COUNT]: open a session and time
 * heartbeats on it.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_ping(struct cli *c, int argc, char **argv)
{
	struct srv s = { 0 };
	unsigned count = 5;
	int ret;

	if (argc < 1 || argc > 2 || (argc == 2 && (parse_uint(argv[1], &count) ||
						   !count))) {
		fprintf(stderr, "usage: memxctl ping HOST[:PORT] [COUNT]\n");
		return 2;
	}
	if (srv_open(c, &s, argv[0]) || srv_register(c, &s))
		return 1;
	for (unsigned i = 0; i < count; i++) {
		struct rmap_req req = { .type = RMAP_T_HEARTBEAT,
					.session = s.session };
		struct sync_call sc;
		uint64_t t0 = evl_now_ns();

		ret = call_sync(c, &s, &req, NULL, 0, &sc);
		if (ret || sc.status) {
			fprintf(stderr, "memxctl: %s: %s\n", s.name, ret ?
				strerror(-ret) : rmap_status_name(sc.status));
			return 1;
		}
		printf("%s: session %08x seq=%u time=%.1f us\n", s.name,
		       s.session, i, (double)(evl_now_ns() - t0) / 1000.0);
	}
	srv_unregister(c, &s);
	return 0;
}
