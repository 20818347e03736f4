/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * remote.h - the pager's view of the memory servers.
 *
 * One RMAP endpoint talks to every configured server.  Each VM opens one
 * session per server (its own page namespace there); sessions are kept
 * alive by heartbeats, and each server's free capacity is refreshed by
 * STAT so that placement can choose.  Page I/O is asynchronous: the
 * callback runs when the server answered or RMAP gave up.
 */
#ifndef MEMX_REMOTE_H
#define MEMX_REMOTE_H

#include <stdbool.h>
#include <stdint.h>

#include "../pagegroup/placement.h"
#include "../rmap/rmap.h"

struct remote;

struct remote_server {
	char *name;
	struct rmap_peer *peer;
	bool reachable;
	uint64_t reads, writes, frees, pages_in, pages_out, errors, full;
	uint64_t lost_sessions;		/* the server forgot them */
	uint64_t capacity_pages, used_pages;
	unsigned heartbeat_ms;
};

/* One VM's session with one server. */
struct remote_session {
	uint32_t id;			/* 0: not open */
	bool opening;
	bool lost;			/* the server forgot it: pages lost
					 * (until a fresh session is open) */
	struct remote_session *next;	/* all sessions, for heartbeats */
	struct remote *r;
	unsigned server;
	void (*lost_fn)(struct remote_session *s, void *arg);
	void *lost_arg;
};

typedef void (*remote_done_fn)(void *arg, int err, uint8_t status);

int remote_new(struct remote **r, struct evl *loop, char *const *servers,
	       const struct rmap_config *cfg);
void remote_free(struct remote *r);
unsigned remote_count(const struct remote *r);
struct remote_server *remote_server(struct remote *r, unsigned i);
struct pg_server *remote_pg(struct remote *r);	/* array, remote_count */
const struct rmap_counters *remote_counters(const struct remote *r);
struct rmap_ep *remote_ep(struct remote *r);

/* Start opening @s on server @idx; the session is usable once s->id != 0. */
void remote_session_open(struct remote *r, struct remote_session *s,
			 unsigned idx);
/* Close it (UNREG, which frees its pages on the server). */
void remote_session_close(struct remote *r, struct remote_session *s);

int remote_read(struct remote *r, struct remote_session *s, uint64_t page,
		uint32_t count, void *buf, remote_done_fn fn, void *arg);
int remote_write(struct remote *r, struct remote_session *s, uint64_t page,
		 uint32_t count, const struct iovec *iov, int iovcnt,
		 remote_done_fn fn, void *arg);
int remote_free_pages(struct remote *r, struct remote_session *s,
		      uint64_t page, uint32_t count);

#endif
