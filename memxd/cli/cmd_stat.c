// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_stat.c - memxctl stat HOST...: what each server lends, holds and
 * serves, what dedup saves there and costs, and what it refused (an
 * RMAP STAT; no session is opened).
 * And memxctl genkey / pubkey, which need no server.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "../options.h"

int cmd_genkey(struct cli *c, int argc, char **argv)
{
	(void)c;
	if (argc != 1) {
		fprintf(stderr, "usage: memxctl genkey FILE\n");
		return 2;
	}
	return options_genkey(argv[0]) ? 1 : 0;
}

int cmd_pubkey(struct cli *c, int argc, char **argv)
{
	(void)c;
	if (argc != 1) {
		fprintf(stderr, "usage: memxctl pubkey FILE\n");
		return 2;
	}
	return options_pubkey(argv[0]) ? 1 : 0;
}

int cmd_stat(struct cli *c, int argc, char **argv)
{
	int failed = 0;

	if (argc < 1) {
		fprintf(stderr, "usage: memxctl stat HOST[:PORT]...\n");
		return 2;
	}
	for (int i = 0; i < argc; i++) {
		uint8_t want[RMAP_STAT_REQ_LEN] = {
			0, 0, 0, RMAP_STAT_WANT_COUNTERS | RMAP_STAT_WANT_DEDUP |
				 RMAP_STAT_WANT_TRANSPORT | RMAP_STAT_WANT_HOST |
				 RMAP_STAT_WANT_RESERVED
		};
		struct iovec iov = { want, sizeof(want) };
		struct rmap_req req = { .type = RMAP_T_STAT, .iov = &iov,
					.iovcnt = 1 };
		uint8_t buf[RMAP_STAT_MAX_LEN];
		uint64_t ctr[RMAP_STATC_N] = { 0 }, tr[RMAP_STATT_N] = { 0 };
		uint64_t host[RMAP_STATH_N] = { 0 };
		struct rmap_stat_dedup dd;
		uint32_t blocks = 0;
		bool bad = false;
		struct rmap_stat st;
		struct sync_call sc;
		struct srv s = { 0 };
		int ret;

		if (srv_open(c, &s, argv[i])) {
			failed = 1;
			continue;
		}
		ret = call_sync(c, &s, &req, buf, sizeof(buf), &sc);
		/* A server older than a block answers without it. */
		if (!ret && !sc.status &&
		    rmap_stat_reply_len(sc.len, &blocks)) {
			if (blocks & RMAP_STAT_WANT_COUNTERS)
				rmap_stat_counters_decode(buf + RMAP_STAT_LEN,
							  ctr);
			if (blocks & RMAP_STAT_WANT_DEDUP)
				bad = rmap_stat_dedup_decode(buf +
					rmap_stat_block_off(blocks,
						RMAP_STAT_WANT_DEDUP), &dd);
			if (blocks & RMAP_STAT_WANT_TRANSPORT)
				rmap_stat_transport_decode(buf +
					rmap_stat_block_off(blocks,
						RMAP_STAT_WANT_TRANSPORT), tr);
			if (blocks & RMAP_STAT_WANT_HOST)
				rmap_stat_host_decode(buf +
					rmap_stat_block_off(blocks,
						RMAP_STAT_WANT_HOST), host);
			sc.len = RMAP_STAT_LEN;
		}
		if (ret || sc.status || bad ||
		    rmap_stat_decode(buf, sc.len, &st)) {
			fprintf(stderr, "memxctl: %s: %s\n", argv[i],
				ret == -EHOSTUNREACH ? "unreachable" :
				ret ? strerror(-ret) : "bad STAT reply");
			failed = 1;
			continue;
		}
		printf("server=%s capacity_pages=%lu used_pages=%lu "
		       "free_MiB=%lu load_permille=%u sessions=%u srtt_us=%u "
		       "mtu=%u leaving=%u reserved=%u",
		       rmap_peer_name(s.peer), (unsigned long)st.capacity_pages,
		       (unsigned long)st.used_pages,
		       (unsigned long)((st.capacity_pages - st.used_pages) *
				       PAGE >> 20),
		       st.load_permille, st.sessions,
		       rmap_peer_srtt_us(s.peer), rmap_peer_mtu(s.peer),
		       st.flags & RMAP_STAT_LEAVING ? 1u : 0u,
		       st.flags & RMAP_STAT_RESERVED ? 1u : 0u);
		/*
		 * Dedup: the pages its clients hold, the unique pages they
		 * take (used_pages), what that saves, and what hashing and
		 * comparing cost per page written.
		 */
		if (blocks & RMAP_STAT_WANT_DEDUP)
			printf(" dedup=%s logical_pages=%llu unique_pages=%llu "
			       "dedup_saved_pct=%.1f hash_ns_per_page=%llu",
			       dd.flags & RMAP_DEDUP_ON ? "on" : "off",
			       (unsigned long long)dd.logical_pages,
			       (unsigned long long)dd.unique_pages,
			       dd.logical_pages ? 100.0 *
			       (double)(dd.logical_pages - dd.unique_pages) /
			       (double)dd.logical_pages : 0.0,
			       (unsigned long long)(dd.hashed_pages ?
				       dd.hash_ns / dd.hashed_pages : 0));
		/* What it refused: the server's side of an attack. */
#define X(name, help) \
		printf(" rmap_" #name "=%llu", (unsigned long long)ctr[RMAP_STATC_##name]);
		RMAP_STAT_COUNTERS(X)
#undef X
		/* What its sending cost: a lossy link, a changed MTU. */
		if (blocks & RMAP_STAT_WANT_TRANSPORT) {
#define X(name, help) \
			printf(" rmap_" #name "=%llu", (unsigned long long)tr[RMAP_STATT_##name]);
			RMAP_STAT_TRANSPORT(X)
#undef X
		}
		/* What serving costs its host: CPU, and polling for work. */
		if (blocks & RMAP_STAT_WANT_HOST) {
#define X(name, help) \
			printf(" " #name "=%llu", (unsigned long long)host[RMAP_STATH_##name]);
			RMAP_STAT_HOST(X)
#undef X
		}
		printf("\n");
	}
	return failed;
}
