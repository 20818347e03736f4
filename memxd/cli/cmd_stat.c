// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_stat.c - memxctl stat HOST...: what each server lends, holds and
 * serves (an RMAP STAT; no session is opened).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_stat(struct cli *c, int argc, char **argv)
{
	int failed = 0;

	if (argc < 1) {
		fprintf(stderr, "usage: memxctl stat HOST[:PORT]...\n");
		return 2;
	}
	for (int i = 0; i < argc; i++) {
		struct rmap_req req = { .type = RMAP_T_STAT };
		uint8_t buf[RMAP_STAT_LEN];
		struct rmap_stat st;
		struct sync_call sc;
		struct srv s = { 0 };
		int ret;

		if (srv_open(c, &s, argv[i])) {
			failed = 1;
			continue;
		}
		ret = call_sync(c, &s, &req, buf, sizeof(buf), &sc);
		if (ret || sc.status || rmap_stat_decode(buf, sc.len, &st)) {
			fprintf(stderr, "memxctl: %s: %s\n", argv[i],
				ret == -EHOSTUNREACH ? "unreachable" :
				ret ? strerror(-ret) : "bad STAT reply");
			failed = 1;
			continue;
		}
		printf("server=%s capacity_pages=%lu used_pages=%lu "
		       "free_MiB=%lu load_permille=%u sessions=%u srtt_us=%u "
		       "leaving=%u\n",
		       rmap_peer_name(s.peer), (unsigned long)st.capacity_pages,
		       (unsigned long)st.used_pages,
		       (unsigned long)((st.capacity_pages - st.used_pages) *
				       PAGE >> 20),
		       st.load_permille, st.sessions,
		       rmap_peer_srtt_us(s.peer),
		       st.flags & RMAP_STAT_LEAVING ? 1u : 0u);
	}
	return failed;
}
