/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * server.h - memxd's store role: lend this host's RAM over RMAP.
 *
 * The server answers REG/UNREG/ATTACH/MOVE, READ, WRITE, FREE, STAT and
 * HEARTBEAT, and the page-group (XOR parity) requests XWRITE, XFREE, PXOR
 * and READZ; keeps each client session's pages in a store, with the tags
 * its clients send beside them (RMAP_F_TAGS), equal pages of every
 * session shared unless dedup is off (store.h), refuses WRITEs past its
 * capacity in unique pages with RMAP_S_FULL, and announces itself.
 *
 * A session's pages are leased, not soft state: every request of the
 * session renews the lease, and only a lease that runs out (minutes, by
 * default) frees them, loudly.  A client that restarts, or is cut off
 * for a while, finds its pages where it left them; a restarted client
 * takes its sessions over with ATTACH and the secret it gave at REG.
 * Another client may take a session over only once its owner made it
 * movable with MOVE (a VM migrating to another host).
 * Told to LEAVE, the server refuses new sessions (RMAP_S_LEAVING), stops
 * announcing, and logs when no client page remains, so that it can be
 * stopped.
 */
#ifndef MEMX_SERVER_H
#define MEMX_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../rmap/evloop.h"
#include "../../rmap/rmap.h"

struct server;

/*
 * A TEST HOOK, never for production: a server that lies, so that tests
 * can show the pager never installs what it did not write.  Each page a
 * READ or READZ returns is, with probability @rate:
 *   FLIP   its stored copy gets one bit flipped (as rotting memory would),
 *          and is returned so;
 *   SWAP   answered with another page of the same session, and its tag;
 * and a READ of more than one page is, with probability @rate,
 *   SHORT  answered with its first page only (a reply whose run is not
 *          the one asked for).
 */
enum server_corrupt_kind {
	CORRUPT_NONE = 0,
	CORRUPT_FLIP,
	CORRUPT_SWAP,
	CORRUPT_SHORT,
};

struct server_corrupt {
	enum server_corrupt_kind kind;
	double rate;		/* 0..1 */
};

/* "flip|swap|short[:RATE]" (RATE 0..1, default 0.05).  0, or -EINVAL
 * with why in @why. */
int server_corrupt_parse(const char *s, struct server_corrupt *c, char *why,
			 size_t len);

struct server_config {
	const char *listen;		/* "addr[:port]" */
	uint64_t capacity_pages;
	unsigned announce_ms;		/* 0: never */
	char *const *announce_to;	/* NULL-terminated, may be NULL */
	unsigned heartbeat_ms;		/* asked of clients */
	unsigned lease_s;		/* pages kept this long in silence */
	bool dedup;			/* share equal pages (store.h) */
	bool reserve;			/* lock the capacity at start:
					 * store_reserve() */
	unsigned spin_us;		/* poll this long for the next request
					 * after one (rmap/spin.h); 0: never */
	struct server_corrupt corrupt;	/* a test hook: see above */
	struct rmap_config rmap;
};

struct server_stats {
	uint64_t capacity_pages, used_pages;	/* used: unique pages */
	uint64_t logical_pages;		/* pages the sessions hold */
	uint64_t hashed_pages, hash_ns;	/* dedup's cost: store_stats() */
	uint64_t give_back_pages;	/* freed, not yet given back */
	uint64_t freeing_pages;		/* of sessions freed, references
					 * not yet dropped */
	uint64_t give_back_slices;	/* turns that walked or gave back */
	uint32_t sessions;
	uint32_t load_permille;
	uint64_t reads, writes, frees, full_refusals, expired_sessions;
	uint64_t attached;		/* sessions taken over by ATTACH */
	uint64_t moved;			/* ...by another client's key, which
					 * their owner allowed with MOVE */
	uint64_t bad_session;
	uint64_t xwrites, xfrees, pxors, readzs;
	uint64_t leaving_refusals;	/* REGs refused while leaving */
	uint64_t test_corrupted;	/* pages or replies the test hook
					 * corrupted */
	uint64_t session_limit;		/* REGs refused: too many sessions */
	bool leaving;			/* told to LEAVE */
};

int server_new(struct server **srv, struct evl *loop,
	       const struct server_config *cfg);
void server_free(struct server *srv);
uint16_t server_port(const struct server *srv);
void server_stats(const struct server *srv, struct server_stats *st);
struct rmap_ep *server_ep(struct server *srv);

/* What the server refused, as the STAT reply's counters carry it. */
void server_counters(const struct server *srv, uint64_t c[RMAP_STATC_N]);
/* What its sending cost (the STAT reply's transport block). */
void server_transport(const struct server *srv, uint64_t t[RMAP_STATT_N]);
/* What serving costs its host (the STAT reply's host block). */
void server_host(const struct server *srv, uint64_t h[RMAP_STATH_N]);

/* Expire sessions whose lease ran out before @now_ns.  For tests. */
unsigned server_expire(struct server *srv, uint64_t now_ns);

#endif
