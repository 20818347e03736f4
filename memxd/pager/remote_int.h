/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * remote_int.h - the servers' private state, struct remote and struct io:
 * shared by the files that implement remote.h, included by nothing else.
 * A stack:
 *
 *   remote.c           the endpoint: made and freed, RMAP's news of its
 *                      peers (a new epoch, an ANNOUNCE), what the pager
 *                      reads of the servers
 *   remote_liveness.c  what is known of each server: answering, down,
 *                      dead, or memxd cut off; capacity and load (STAT);
 *                      the heartbeat tick, which probes the servers,
 *                      keeps the sessions alive and opens them again;
 *                      news to the pager (struct remote_ops)
 *   remote_session.c   a VM's session on a server: REG, ATTACH, MOVE,
 *                      detach, UNREG, and its record
 *   remote_call.c      requests: sent, their answers checked against
 *                      the question, counted, passed on
 *
 * Calls go down only, but for what an answer tells of its server: the
 * layers below liveness report it up through remote_server_heard() (any
 * answer), remote_server_failed() (our session is gone there) and
 * remote_changed() (a server drained), and call nothing else above them.
 */
#ifndef MEMX_PAGER_REMOTE_INT_H
#define MEMX_PAGER_REMOTE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "../../rmap/evloop.h"
#include "../../rmap/rmap.h"
#include "../refusals.h"
#include "remote.h"

struct remote {
	struct evl *loop;
	struct rmap_ep *ep;
	struct remote_server *srv;
	unsigned n;
	struct remote_session *sessions;
	struct evl_timer hb_timer;
	uint64_t hb_due_ns, hb_iv_ns;	/* when the next tick should run */
	struct refusals refusals;	/* what RMAP refused, for the log */
	bool cut_off;			/* most servers silent at once */
	uint64_t cut_off_since_ns;
	struct remote_config rc;
	const struct remote_ops *ops;
	void *ops_arg;
};

/* A request in flight (remote_call.c; heartbeats: remote_liveness.c). */
struct io {
	struct remote *r;
	uint32_t sid;			/* the session the request named */
	unsigned idx;
	uint8_t type;
	uint16_t flags;			/* RMAP_F_TAGS */
	uint64_t page;
	uint32_t count;
	remote_done_fn fn;
	void *arg;
	uint8_t body[RMAP_STAT_LEN];	/* small replies */
};

/* ---- remote_liveness.c ---- */

/* Tell the pager that server @i's capacity, load or state changed. */
void remote_changed(struct remote *r, unsigned i);
/* Server @i no longer holds our pages: it is out (@dead), or lost them. */
void remote_server_failed(struct remote *r, unsigned i, const char *why,
			  bool dead);
/* Any answer from server @i: it is alive. */
void remote_server_heard(struct remote *r, unsigned i);
/* The heartbeat timer (r->hb_timer): judge, probe, keep sessions. */
void remote_hb_fire(struct evl *loop, struct evl_timer *t);

/* ---- remote_session.c ---- */

/* @s is session @id now (0: none); its record says so too. */
void remote_session_set(struct remote_session *s, uint32_t id);

/* ---- remote_call.c ---- */

/* The open session @sid on server @idx, or NULL. */
struct remote_session *remote_session_find(struct remote *r, unsigned idx,
					   uint32_t sid);
/* Send @req to server @idx; @fn (may be NULL) runs once with the answer. */
int remote_io_call(struct remote *r, unsigned idx, struct rmap_req *req,
		   void *buf, uint32_t cap, remote_done_fn fn, void *arg);
/* rmap_call()'s callback for a struct io: checks, counts, passes on. */
void remote_io_done(void *arg, int err, const struct rmap_msg *m);

#endif
