// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * remote_liveness.c - what memxd knows of each memory server (remote.h):
 * whether it answers, is down or dead, or memxd is cut off from most of
 * them; its capacity and load, polled by STAT; the heartbeat tick, which
 * probes every server and keeps every session alive; and the news told
 * to the pager (struct remote_ops).
 */
#include "remote.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "../log.h"
#include "remote_int.h"

void remote_changed(struct remote *r, unsigned i)
{
	if (r->ops && r->ops->server_changed)
		r->ops->server_changed(r->ops_arg, i);
}

static void server_set_reachable(struct remote *r, unsigned i, bool up)
{
	struct remote_server *s = &r->srv[i];

	if (s->reachable == up)
		return;
	s->reachable = up;
	remote_changed(r, i);
	if (up) {
		log_info("memory server %s is reachable", s->name);
	} else {
		char how[256] = "no stream";

		/* What the transport knows: is it them, or our queue? */
		if (s->peer)
			rmap_peer_describe(s->peer, how, sizeof(how));
		log_warn("memory server %s is not answering: its pages are read "
			 "degraded meanwhile (RMAP: %s)", s->name, how);
	}
}

/* Every server's news, at once: the pager re-reads what changed. */
static void changed_all(struct remote *r)
{
	for (unsigned i = 0; i < r->n; i++)
		remote_changed(r, i);
}

/*
 * Server @i no longer holds our pages: it is out (@dead: down for the
 * grace period), or it restarted or forgot our sessions.  Its sessions
 * are closed on our side; a restarted server gets fresh ones from the
 * heartbeat timer.
 */
void remote_server_failed(struct remote *r, unsigned i, const char *why,
			  bool dead)
{
	struct remote_server *srv = &r->srv[i];

	if (srv->dead)
		return;
	if (dead) {
		srv->dead = true;
		srv->reachable = false;
		srv->down = false;
	}
	srv->st.deaths++;
	log_err("memory server %s %s (%s): the pages it held for us are "
		"served by degraded reads and rebuilt elsewhere", srv->name,
		dead ? "is dead" : "lost our pages", why);
	for (struct remote_session *s = r->sessions; s; s = s->next) {
		if (s->server != i || !s->id)
			continue;
		srv->st.lost_sessions++;
		/* A dead server may come back still holding it. */
		s->stale_id = dead ? s->id : 0;
		remote_session_set(s, 0);
		s->heartbeating = false;
	}
	if (r->ops && r->ops->server_failed)
		r->ops->server_failed(r->ops_arg, i, why);
	if (dead) {
		/*
		 * RMAP never gives up on a message to a server: fail what is
		 * still in flight to this one now (the pager has marked its
		 * groups).  The peer stays, for the day it answers again.
		 */
		srv->probing = false;
		rmap_peer_cancel(r->ep, srv->peer);
	}
	remote_changed(r, i);
}

/* A dead server answers again: a new, empty server to us. */
static void server_revived(struct remote *r, unsigned i)
{
	struct remote_server *srv = &r->srv[i];

	if (!srv->dead)
		return;
	srv->dead = false;
	log_warn("memory server %s answers again: what it held for us was "
		 "rebuilt elsewhere, so it is used as a new, empty server "
		 "(our old sessions there are unregistered)", srv->name);
	for (struct remote_session *s = r->sessions; s; s = s->next) {
		struct rmap_req req = { .type = RMAP_T_UNREG,
					.session = s->stale_id };

		if (s->server != i || !s->stale_id)
			continue;
		remote_io_call(r, i, &req, NULL, 0, NULL, NULL);
		s->stale_id = 0;
	}
}

static void verdict(struct remote *r, uint64_t now, bool tick);

/*
 * Any answer from server @i.  One that had gone silent is judged again at
 * once: a thaw or a server's return need not wait for the next tick.
 */
void remote_server_heard(struct remote *r, unsigned i)
{
	struct remote_server *srv = &r->srv[i];
	bool was_silent = srv->misses > 0;

	srv->last_heard_ns = evl_now_ns();
	srv->heard = true;
	srv->misses = 0;
	server_revived(r, i);
	server_set_reachable(r, i, true);
	if (was_silent)
		verdict(r, srv->last_heard_ns, false);
}

struct stat_ctx {
	struct remote *r;
	unsigned idx;
	uint8_t want[RMAP_STAT_REQ_LEN];
	uint8_t body[RMAP_STAT_LEN + RMAP_STAT_DEDUP_LEN];
};

static void stat_done(void *arg, int err, const struct rmap_msg *m)
{
	struct stat_ctx *c = arg;
	struct remote *r = c->r;
	struct rmap_stat_dedup dd;
	uint32_t blocks = 0;
	struct rmap_stat st;

	if (err != -ECANCELED)
		r->srv[c->idx].probing = false;
	/* A server older than a block we asked for answers without it. */
	if (!err && !m->status &&
	    rmap_stat_reply_blocks(m->len, c->want[3], &blocks) &&
	    !rmap_stat_decode(c->body, RMAP_STAT_LEN, &st) &&
	    (!(blocks & RMAP_STAT_WANT_DEDUP) ||
	     !rmap_stat_dedup_decode(c->body + rmap_stat_block_off(blocks,
				     RMAP_STAT_WANT_DEDUP), &dd))) {
		struct remote_server *srv = &r->srv[c->idx];
		bool has_dedup = blocks & RMAP_STAT_WANT_DEDUP;

		srv->has_dedup = has_dedup;
		if (has_dedup) {
			srv->dedup_on = dd.flags & RMAP_DEDUP_ON;
			srv->logical_pages = dd.logical_pages;
			srv->unique_pages = dd.unique_pages;
			srv->hashed_pages = dd.hashed_pages;
			srv->hash_ns = dd.hash_ns;
		}

		srv->capacity_pages = st.capacity_pages;
		srv->used_pages = st.used_pages;
		srv->load_permille = st.load_permille;
		if (!(st.flags & RMAP_STAT_TAGS) && !srv->no_tags)
			log_err("memory server %s keeps no page tags (a memxd "
				"older than RMAP_F_TAGS): requests with tags "
				"are dropped there; upgrade it", srv->name);
		srv->no_tags = !(st.flags & RMAP_STAT_TAGS);
		srv->reserved = st.flags & RMAP_STAT_RESERVED;
		remote_server_heard(r, c->idx);
		remote_changed(r, c->idx);
	}
	free(c);
}

static void stat_send(struct remote *r, unsigned i)
{
	struct stat_ctx *c = calloc(1, sizeof(*c));
	struct iovec iov;
	struct rmap_req req = { .type = RMAP_T_STAT, .iov = &iov,
				.iovcnt = 1 };

	if (!c)
		return;
	c->r = r;
	c->idx = i;
	/*
	 * Its dedup savings too, for memxctl status and Prometheus, and
	 * whether its capacity is reserved.
	 */
	c->want[3] = RMAP_STAT_WANT_DEDUP | RMAP_STAT_WANT_RESERVED;
	iov = (struct iovec){ c->want, sizeof(c->want) };
	if (rmap_call(r->ep, r->srv[i].peer, &req, c->body, sizeof(c->body),
		      stat_done, c))
		free(c);
	else
		r->srv[i].probing = true;
}

static void hb_done(void *arg, int err, uint8_t status)
{
	struct io *io = arg;	/* see heartbeat(): our own io, kept */
	struct remote_session *s = remote_session_find(io->r, io->idx, io->sid);

	(void)err;
	(void)status;
	if (s)
		s->heartbeating = false;
}

/* A HEARTBEAT on @s, unless one is still out (RMAP keeps trying it). */
static void heartbeat(struct remote *r, struct remote_session *s)
{
	struct rmap_req req = { .type = RMAP_T_HEARTBEAT, .session = s->id };
	struct io *io;

	if (s->heartbeating)
		return;
	io = calloc(1, sizeof(*io));
	if (!io)
		return;
	/* hb_done gets this io itself, to find the session by number. */
	*io = (struct io){ .r = r, .sid = s->id, .idx = s->server,
			   .type = RMAP_T_HEARTBEAT };
	io->arg = io;
	io->fn = hb_done;
	if (rmap_call(r->ep, r->srv[s->server].peer, &req, io->body,
		      sizeof(io->body), remote_io_done, io))
		free(io);
	else
		s->heartbeating = true;
}

/*
 * The verdict on every server from its missed probes (see remote.h): up,
 * down, out, or memxd cut off from most of them.  After every @tick; and
 * as soon as a silent server answers again, when only good news is told
 * (the others may be answering this very moment too).
 */
static void verdict(struct remote *r, uint64_t now, bool tick)
{
	unsigned live = 0, silent = 0;
	bool cut;

	for (unsigned i = 0; i < r->n; i++) {
		struct remote_server *srv = &r->srv[i];

		/* Only a server we once heard can be down; others wait. */
		if (!srv->heard || srv->dead)
			continue;
		live++;
		silent += srv->misses >= r->rc.dead_after;
	}
	cut = silent && silent * 2 > live;
	if (cut != r->cut_off) {
		if (cut)
			log_err("memxd is cut off: %u of its %u memory servers "
				"are silent at once; nothing is declared lost: "
				"faults and evictions that need them wait until "
				"they answer", silent, live);
		else
			log_warn("memxd is reconnected after %.1f s: faults and "
				 "evictions go on where they were",
				 (double)(now - r->cut_off_since_ns) / 1e9);
		r->cut_off = cut;
		r->cut_off_since_ns = now;
		changed_all(r);
	}
	for (unsigned i = 0; i < r->n; i++) {
		struct remote_server *srv = &r->srv[i];
		bool quiet = srv->heard && !srv->dead &&
			     srv->misses >= r->rc.dead_after;

		if (!quiet) {
			if (srv->down) {
				log_warn("memory server %s is back after %.1f s: "
					 "it is used again, nothing was rebuilt",
					 srv->name, (double)(now -
					 srv->down_since_ns) / 1e9);
				srv->down = false;
				remote_changed(r, i);
			}
			continue;
		}
		/*
		 * Cut off: nobody is down, not even a server that went
		 * silent a tick before the others (misses are counted per
		 * server, so they reach --dead-after unevenly).  Its silence
		 * is the cut's now; if it stays silent once the others
		 * answer, it is down again with its whole grace to come.
		 */
		if (cut) {
			if (srv->down) {
				log_warn("memory server %s is no longer taken "
					 "for down: memxd is cut off from most "
					 "servers, and nothing is declared down "
					 "until the others answer", srv->name);
				srv->down = false;
				remote_changed(r, i);
			}
			continue;
		}
		if (!tick)
			continue;
		if (!srv->down) {
			srv->down = true;
			srv->down_since_ns = now;
			log_warn("memory server %s is down (%u heartbeats of %u "
				 "ms unanswered while the others answer): its "
				 "pages are read degraded; it is rebuilt "
				 "elsewhere if still down in %u s", srv->name,
				 srv->misses, r->rc.heartbeat_ms,
				 r->rc.grace_s);
			remote_changed(r, i);
		} else if (now - srv->down_since_ns >=
			   (uint64_t)r->rc.grace_s * 1000000000ull) {
			char why[96];

			snprintf(why, sizeof(why), "down for %u s",
				 r->rc.grace_s);
			remote_server_failed(r, i, why, true);
		}
	}
}

/*
 * Count every server's missed probes, then judge.  @late: this tick ran
 * late, so the answers may be waiting unread: nobody has missed one.
 */
static void judge(struct remote *r, uint64_t now, bool late)
{
	for (unsigned i = 0; i < r->n; i++) {
		struct remote_server *srv = &r->srv[i];

		/* A miss: the probe of the last tick is still unanswered. */
		if (late || !srv->probe_ns || srv->dead ||
		    srv->last_heard_ns >= srv->probe_ns)
			srv->misses = 0;
		else
			srv->misses++;
		if (srv->misses >= 2)
			server_set_reachable(r, i, false);
	}
	verdict(r, now, true);
}

/*
 * Every heartbeat interval: servers judged, then a STAT to every server
 * (capacity, load, and proof of life) and a HEARTBEAT on every session,
 * unless the last one is still out; sessions (re)opened.
 */
void remote_hb_fire(struct evl *loop, struct evl_timer *t)
{
	struct remote *r = evl_container_of(t, struct remote, hb_timer);
	uint64_t now = evl_now_ns();
	/*
	 * Liveness counts probes, not wall time.  If this tick itself is
	 * late (memxd was not scheduled, or busy), its answers may be
	 * waiting unread: judge nobody this time.
	 */
	bool late = r->hb_due_ns && now > r->hb_due_ns + r->hb_iv_ns / 2 +
					  100000000ull;
	unsigned iv = r->rc.heartbeat_ms;

	if (late)
		log_ratelimited(10000, LOG_LEVEL_WARN, "memxd's event loop ran "
				"%lu ms late: server liveness is judged from the "
				"next heartbeat", (unsigned long)
				((now - r->hb_due_ns) / 1000000));
	judge(r, now, late);
	refusals_tick(&r->refusals, rmap_ep_counters(r->ep), now, "pager");
	for (unsigned i = 0; i < r->n; i++) {
		struct remote_server *srv = &r->srv[i];

		srv->probe_ns = now;
		if (!srv->probing)
			stat_send(r, i);
	}
	for (struct remote_session *s = r->sessions; s; s = s->next) {
		if (!s->id && !s->opening)
			remote_session_open(r, s, s->server);	/* retry */
		else if (s->id)
			heartbeat(r, s);
	}
	/* Keep within a third of each server's heartbeat interval, too. */
	for (unsigned i = 0; i < r->n; i++) {
		unsigned third = r->srv[i].heartbeat_ms / 3;

		if (r->srv[i].heartbeat_ms && third < iv)
			iv = third ? third : 1;
	}
	r->hb_iv_ns = (uint64_t)iv * 1000000ull;
	r->hb_due_ns = now + r->hb_iv_ns;
	evl_timer_arm(loop, t, r->hb_iv_ns);
}
