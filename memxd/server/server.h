/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * server.h - memxd's store role: lend this host's RAM over RMAP.
 *
 * The server answers REG/UNREG/ATTACH, READ, WRITE, FREE, STAT and
 * HEARTBEAT, and the page-group (XOR parity) requests XWRITE, XFREE, PXOR
 * and READZ; keeps each client session's pages in a store, refuses WRITEs
 * past its capacity with RMAP_S_FULL, and announces itself.
 *
 * A session's pages are leased, not soft state: every request of the
 * session renews the lease, and only a lease that runs out (minutes, by
 * default) frees them, loudly.  A client that restarts, or is cut off
 * for a while, finds its pages where it left them; a restarted client
 * takes its sessions over with ATTACH and the secret it gave at REG.
 * Told to LEAVE, the server refuses new sessions (RMAP_S_LEAVING), stops
 * announcing, and logs when no client page remains, so that it can be
 * stopped.
 */
#ifndef MEMX_SERVER_H
#define MEMX_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "../../rmap/evloop.h"
#include "../../rmap/rmap.h"

struct server;

struct server_config {
	const char *listen;		/* "addr[:port]" */
	uint64_t capacity_pages;
	unsigned announce_ms;		/* 0: never */
	char *const *announce_to;	/* NULL-terminated, may be NULL */
	unsigned heartbeat_ms;		/* asked of clients */
	unsigned lease_s;		/* pages kept this long in silence */
	struct rmap_config rmap;
};

struct server_stats {
	uint64_t capacity_pages, used_pages;
	uint32_t sessions;
	uint32_t load_permille;
	uint64_t reads, writes, frees, full_refusals, expired_sessions;
	uint64_t attached;		/* sessions taken over by ATTACH */
	uint64_t bad_session;
	uint64_t xwrites, xfrees, pxors, readzs;
	uint64_t leaving_refusals;	/* REGs refused while leaving */
	bool leaving;			/* told to LEAVE */
};

int server_new(struct server **srv, struct evl *loop,
	       const struct server_config *cfg);
void server_free(struct server *srv);
uint16_t server_port(const struct server *srv);
void server_stats(const struct server *srv, struct server_stats *st);
struct rmap_ep *server_ep(struct server *srv);

/* Expire sessions whose lease ran out before @now_ns.  For tests. */
unsigned server_expire(struct server *srv, uint64_t now_ns);

#endif
