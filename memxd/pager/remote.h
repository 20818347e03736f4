/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * remote.h - the pager's view of the memory servers.
 *
 * One RMAP endpoint talks to every configured server.  Each VM opens one
 * session per server (its own page namespace there); sessions are kept
 * alive by heartbeats.  Every heartbeat interval each server is also sent
 * a STAT, which refreshes its free capacity and load for placement and
 * proves it alive.  A server is declared dead when it answered none of
 * dead_after heartbeats in a row, or when RMAP gave up on a request
 * to it (its retries exhausted); a server that restarted has lost our
 * pages.  Either way the failure callback runs, once, and the pager
 * rebuilds what the server held.  A dead server that answers again is a
 * new, empty server: our old sessions there are unregistered.
 *
 * Page I/O is asynchronous: the callback runs when the server answered
 * or RMAP gave up.
 */
#ifndef MEMX_REMOTE_H
#define MEMX_REMOTE_H

#include <stdbool.h>
#include <stdint.h>

#include "../../pagegroup/pagegroup.h"
#include "../../rmap/rmap.h"

struct remote;

struct remote_server {
	char *name;
	struct rmap_peer *peer;
	bool reachable;
	bool drained;			/* drained and told to leave */
	uint64_t reads, writes, frees, pages_in, pages_out, errors, full;
	uint64_t deaths;		/* times declared dead or restarted */
	uint64_t last_heard_ns;		/* any answer, for liveness */
	uint64_t probe_ns;		/* the last STAT sent */
	unsigned misses;		/* heartbeats unanswered in a row */
	uint64_t lost_sessions;		/* the server forgot them */
	uint64_t capacity_pages, used_pages;
	unsigned heartbeat_ms;
};

/* One VM's session with one server. */
struct remote_session {
	uint32_t id;			/* 0: not open */
	uint32_t stale_id;		/* one the server may still hold */
	bool opening;
	struct remote_session *next;	/* all sessions, for heartbeats */
	struct remote *r;
	unsigned server;
};

typedef void (*remote_done_fn)(void *arg, int err, uint8_t status);
/* Server @idx lost our pages (dead, or restarted), for reason @why. */
typedef void (*remote_failed_fn)(void *arg, unsigned idx, const char *why);

struct remote_config {
	unsigned heartbeat_ms;		/* liveness probe interval */
	unsigned dead_after;		/* silent intervals before dead */
};

int remote_new(struct remote **r, struct evl *loop, char *const *servers,
	       const struct rmap_config *cfg, const struct remote_config *rc);
void remote_on_failure(struct remote *r, remote_failed_fn fn, void *arg);
/* "up", "unreachable", "dead", "draining" or "drained". */
const char *remote_server_state(struct remote *r, unsigned idx);
/* The index of the server named @name (as configured), or -1. */
int remote_find(struct remote *r, const char *name);
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
int remote_free_pages(struct remote *r, struct remote_session *s,
		      uint64_t page, uint32_t count);
/*
 * Any session-scoped request: @type with @count pages at @page, payload
 * @iov, reply payload into @buf (@cap bytes).  @fn may be NULL.
 */
int remote_call(struct remote *r, struct remote_session *s, uint8_t type,
		uint64_t page, uint32_t count, const struct iovec *iov,
		int iovcnt, void *buf, uint32_t cap, remote_done_fn fn,
		void *arg);
/* Tell server @idx we hold nothing there and it may leave (LEAVE). */
int remote_leave(struct remote *r, unsigned idx, remote_done_fn fn, void *arg);

#endif
