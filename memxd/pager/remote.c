// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * remote.c - sessions, heartbeats, capacity polling and page I/O with the
 * memory servers (remote.h).
 */
#include "remote.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "../log.h"

struct remote {
	struct evl *loop;
	struct rmap_ep *ep;
	struct remote_server *srv;
	unsigned n;
	struct remote_session *sessions;
	struct evl_timer hb_timer;
	uint64_t hb_due_ns, hb_iv_ns;	/* when the next tick should run */
	bool cut_off;			/* most servers silent at once */
	uint64_t cut_off_since_ns;
	struct remote_config rc;
	const struct remote_ops *ops;
	void *ops_arg;
};

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

static int io_call(struct remote *r, unsigned idx, struct rmap_req *req,
		   void *buf, uint32_t cap, remote_done_fn fn, void *arg);

/* @s is session @id now (0: none); its record says so too. */
static void session_set(struct remote_session *s, uint32_t id)
{
	s->id = id;
	if (s->rec) {
		s->rec->id = id;
		memcpy(s->rec->secret, s->secret, RMAP_SECRET_LEN);
	}
}

/*
 * The open session @sid on server @idx, or NULL.  Requests in flight
 * name their session by number, never by pointer: a VM may go away
 * before its last heartbeat is answered.
 */
static struct remote_session *session_find(struct remote *r, unsigned idx,
					   uint32_t sid)
{
	for (struct remote_session *s = r->sessions; s; s = s->next)
		if (s->server == idx && s->id == sid && sid)
			return s;
	return NULL;
}

static void changed(struct remote *r, unsigned i)
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
	changed(r, i);
	if (up)
		log_info("memory server %s is reachable", s->name);
	else
		log_warn("memory server %s is not answering: its pages are read "
			 "degraded meanwhile", s->name);
}

/* Every server's news, at once: the pager re-reads what changed. */
static void changed_all(struct remote *r)
{
	for (unsigned i = 0; i < r->n; i++)
		changed(r, i);
}

static int server_index(struct remote *r, struct rmap_peer *peer)
{
	for (unsigned i = 0; i < r->n; i++)
		if (r->srv[i].peer == peer)
			return (int)i;
	return -1;
}

/*
 * Server @i no longer holds our pages: it is out (@dead: down for the
 * grace period), or it restarted or forgot our sessions.  Its sessions
 * are closed on our side; a restarted server gets fresh ones from the
 * heartbeat timer.
 */
static void server_failed(struct remote *r, unsigned i, const char *why,
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
		session_set(s, 0);
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
	changed(r, i);
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
		io_call(r, i, &req, NULL, 0, NULL, NULL);
		s->stale_id = 0;
	}
}

static void verdict(struct remote *r, uint64_t now, bool tick);

/*
 * Any answer from server @i.  One that had gone silent is judged again at
 * once: a thaw or a server's return need not wait for the next tick.
 */
static void server_heard(struct remote *r, unsigned i)
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

static void on_peer_state(struct rmap_ep *ep, struct rmap_peer *peer, int err,
			  void *arg)
{
	struct remote *r = arg;
	int i = server_index(r, peer);

	(void)ep;
	if (i < 0)
		return;
	/* A new epoch: the server restarted, its memory is gone. */
	if (err == -ECONNRESET) {
		server_heard(r, (unsigned)i);
		server_failed(r, (unsigned)i, "it restarted", false);
	} else if (!err) {
		server_heard(r, (unsigned)i);
	}
	/* -EHOSTUNREACH cannot happen: RMAP never gives up here. */
}

static void on_announce(struct rmap_ep *ep, const struct sockaddr_storage *from,
			const struct rmap_stat *st, void *arg)
{
	struct remote *r = arg;
	struct rmap_peer *peer = rmap_peer_find(ep, from);
	int i = peer ? server_index(r, peer) : -1;

	if (i < 0)
		return;		/* not one of ours: discovery is opt-in */
	r->srv[i].capacity_pages = st->capacity_pages;
	r->srv[i].used_pages = st->used_pages;
	r->srv[i].load_permille = st->load_permille;
	changed(r, (unsigned)i);
}

/*
 * Is @m the answer to @io's question?  RMAP matched it by request id; its
 * page run, its tags and, for an answer that carries pages, its length
 * must be the ones asked for too, or a short answer would leave the rest
 * of the caller's buffer unwritten.
 */
static bool reply_echoes(const struct io *io, const struct rmap_msg *m)
{
	bool data = io->type == RMAP_T_READ || io->type == RMAP_T_READZ ||
		    io->type == RMAP_T_XWRITE || io->type == RMAP_T_XFREE;

	if (m->status || !rmap_type_has_run(io->type))
		return true;
	if (m->page != io->page || m->count != io->count ||
	    (m->flags & RMAP_F_TAGS) != io->flags)
		return false;
	return !data || m->len == io->count * rmap_page_bytes(io->flags);
}

static void io_done(void *arg, int err, const struct rmap_msg *m)
{
	struct io *io = arg;
	struct remote *r = io->r;
	struct remote_server *srv = &r->srv[io->idx];
	uint8_t status = m ? m->status : 0;

	/* RMAP fails a call its server answered for another run. */
	if (err == -EBADMSG || (!err && !reply_echoes(io, m))) {
		srv->st.short_replies++;
		if (m)
			log_ratelimited(5000, LOG_LEVEL_ERR, "memory server %s "
					"answered %s of %u pages at %lu with "
					"%u pages at %lu (%u bytes): rejected",
					srv->name, rmap_type_name(io->type),
					io->count, (unsigned long)io->page,
					m->count, (unsigned long)m->page,
					m->len);
		else
			log_ratelimited(5000, LOG_LEVEL_ERR, "memory server %s "
					"answered %s of %u pages at %lu for "
					"another page run: rejected", srv->name,
					rmap_type_name(io->type), io->count,
					(unsigned long)io->page);
		server_heard(r, io->idx);
		if (io->fn)
			io->fn(io->arg, -EBADMSG, 0);
		free(io);
		return;
	}
	if (err) {
		srv->st.errors++;
	} else {
		server_heard(r, io->idx);
		/* Only if it is still a session we use (not a new one). */
		if (status == RMAP_S_BADSESSION &&
		    session_find(r, io->idx, io->sid))
			server_failed(r, io->idx, "it no longer knows our "
				      "session", false);
		if (status == RMAP_S_FULL)
			srv->st.full_refusals++;
		if (!status && (io->type == RMAP_T_READ ||
				io->type == RMAP_T_READZ))
			srv->st.pages_in += io->count;
		if (!status && (io->type == RMAP_T_WRITE ||
				io->type == RMAP_T_XWRITE))
			srv->st.pages_out += io->count;
	}
	if (io->fn)
		io->fn(io->arg, err, status);
	free(io);
}

static int io_call(struct remote *r, unsigned idx, struct rmap_req *req,
		   void *buf, uint32_t cap, remote_done_fn fn, void *arg)
{
	struct io *io = calloc(1, sizeof(*io));
	int ret;

	if (!io)
		return -ENOMEM;
	*io = (struct io){ r, req->session, idx, req->type, req->flags,
			   req->page, req->count, fn, arg, { 0 } };
	ret = rmap_call(r->ep, r->srv[idx].peer, req, buf ? buf : io->body,
			buf ? cap : sizeof(io->body), io_done, io);
	if (ret)
		free(io);
	return ret;
}

int remote_call(struct remote *r, struct remote_session *s, uint8_t type,
		uint16_t flags, uint64_t page, uint32_t count,
		const struct iovec *iov, int iovcnt, void *buf, uint32_t cap,
		remote_done_fn fn, void *arg)
{
	struct rmap_req req = { .type = type, .session = s->id, .page = page,
				.count = count, .iov = iov, .iovcnt = iovcnt,
				.flags = flags };

	if (!s->id)
		return -ENOTCONN;
	if (type == RMAP_T_READ || type == RMAP_T_READZ)
		r->srv[s->server].st.reads++;
	else if (type == RMAP_T_XFREE || type == RMAP_T_FREE)
		r->srv[s->server].st.frees++;
	else
		r->srv[s->server].st.writes++;
	return io_call(r, s->server, &req, buf, cap, fn, arg);
}

void remote_count_bad(struct remote *r, unsigned idx, uint32_t n)
{
	r->srv[idx].st.bad_pages += n;
}

int remote_leave(struct remote *r, unsigned idx, remote_done_fn fn, void *arg)
{
	struct rmap_req req = { .type = RMAP_T_LEAVE };

	/* No new sessions there from now on, whatever the answer. */
	r->srv[idx].drained = true;
	changed(r, idx);
	return io_call(r, idx, &req, NULL, 0, fn, arg);
}

/* ---- sessions ---- */

struct reg_ctx {
	struct remote *r;
	struct remote_session *s;	/* NULL once it is closed */
	bool keep;			/* ...or detached: no UNREG */
	unsigned idx;
	uint8_t type;		/* REG or ATTACH */
	uint8_t reply[RMAP_SESSION_INFO_LEN];
};

static void reg_done(void *arg, int err, const struct rmap_msg *m)
{
	struct reg_ctx *c = arg;
	struct remote_session *s = c->s;
	struct remote_server *srv = &c->r->srv[c->idx];
	struct rmap_session_info si;
	bool attach = c->type == RMAP_T_ATTACH;

	if (!s) {
		/* Its VM went away meanwhile: give back what was opened. */
		if (!err && !m->status && !c->keep) {
			struct rmap_req req = { .type = RMAP_T_UNREG,
						.session = m->session };

			io_call(c->r, c->idx, &req, NULL, 0, NULL, NULL);
		}
		free(c);
		return;
	}
	s->opening = false;
	s->reg = NULL;
	if (!err && !m->status &&
	    !rmap_session_info_decode(c->reply, m->len, &si)) {
		session_set(s, m->session);
		srv->heartbeat_ms = si.heartbeat_ms;
		srv->lease_s = si.lease_s;
		server_heard(c->r, s->server);
		log_debug("session %08x %s on %s (heartbeat %u ms, lease %u s)",
			  s->id, attach ? "attached" : "open", srv->name,
			  si.heartbeat_ms, si.lease_s);
	} else if (attach && !err && m->status == RMAP_S_BADSESSION) {
		/* Its lease ran out, or the server restarted: gone. */
		server_heard(c->r, s->server);
		server_failed(c->r, s->server, "it no longer has our session",
			      false);
	} else if (err != -ECANCELED) {
		log_ratelimited(10000, LOG_LEVEL_WARN, "cannot %s a session "
				"on %s: %s", attach ? "attach" : "open",
				srv->name, err ? strerror(-err) :
				rmap_status_name(m->status));
	}
	free(c);
}

static void session_link(struct remote *r, struct remote_session *s,
			 unsigned idx)
{
	if (s->r)
		return;
	s->r = r;
	s->server = idx;
	s->next = r->sessions;
	r->sessions = s;
}

/* Send REG (a new session, secret chosen here) or ATTACH (s->secret). */
static void session_send(struct remote *r, struct remote_session *s,
			 uint8_t type, uint32_t id)
{
	uint8_t body[RMAP_REG_LEN];
	struct iovec iov = { body, type == RMAP_T_REG ? RMAP_REG_LEN
						       : RMAP_ATTACH_LEN };
	struct rmap_req req = { .type = type, .session = id, .iov = &iov,
				.iovcnt = 1 };
	struct reg_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return;
	*c = (struct reg_ctx){ .r = r, .s = s, .idx = s->server, .type = type };
	if (type == RMAP_T_REG) {
		/* A nonce (a retried REG is the same session), a secret. */
		if (getrandom(body, sizeof(body), 0) != sizeof(body)) {
			free(c);
			return;
		}
		memcpy(s->secret, body + 8, RMAP_SECRET_LEN);
	} else {
		memcpy(body, s->secret, RMAP_SECRET_LEN);
	}
	s->opening = true;
	s->reg = c;
	if (rmap_call(r->ep, r->srv[s->server].peer, &req, c->reply,
		      sizeof(c->reply), reg_done, c)) {
		s->opening = false;
		s->reg = NULL;
		free(c);
	}
}

void remote_session_open(struct remote *r, struct remote_session *s,
			 unsigned idx)
{
	session_link(r, s, idx);
	if (s->opening || s->id || r->srv[idx].dead || r->srv[idx].drained)
		return;
	session_send(r, s, RMAP_T_REG, 0);
}

void remote_session_attach(struct remote *r, struct remote_session *s,
			   unsigned idx, uint32_t id, const uint8_t *secret)
{
	session_link(r, s, idx);
	memcpy(s->secret, secret, RMAP_SECRET_LEN);
	session_send(r, s, RMAP_T_ATTACH, id);
}

void remote_session_detach(struct remote *r, struct remote_session *s)
{
	struct remote_session **pp = &r->sessions;

	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp)
		*pp = s->next;
	if (s->reg) {
		s->reg->s = NULL;
		s->reg->keep = true;
	}
	s->reg = NULL;
	s->opening = false;
	/* No UNREG: the pages stay on the server for the next memxd. */
	s->rec = NULL;
	s->id = 0;
	s->r = NULL;
}

void remote_session_close(struct remote *r, struct remote_session *s)
{
	struct remote_session **pp = &r->sessions;
	struct rmap_req req = { .type = RMAP_T_UNREG, .session = s->id };

	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp)
		*pp = s->next;
	if (s->reg)
		s->reg->s = NULL;	/* its answer is UNREGed */
	s->reg = NULL;
	s->opening = false;
	if (s->id)
		io_call(r, s->server, &req, NULL, 0, NULL, NULL);
	session_set(s, 0);
	s->r = NULL;
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
	bool has_dedup = false;
	struct rmap_stat st;

	if (err != -ECANCELED)
		r->srv[c->idx].probing = false;
	/* We ask for no counters: the dedup block follows the base. */
	if (!err && !m->status &&
	    rmap_stat_reply_len(m->len, NULL, &has_dedup) &&
	    m->len == RMAP_STAT_LEN + (has_dedup ? RMAP_STAT_DEDUP_LEN : 0) &&
	    !rmap_stat_decode(c->body, RMAP_STAT_LEN, &st) &&
	    (!has_dedup ||
	     !rmap_stat_dedup_decode(c->body + RMAP_STAT_LEN, &dd))) {
		struct remote_server *srv = &r->srv[c->idx];

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
		server_heard(r, c->idx);
		changed(r, c->idx);
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
	/* Its dedup savings too, for memxctl status and Prometheus. */
	c->want[3] = RMAP_STAT_WANT_DEDUP;
	iov = (struct iovec){ c->want, sizeof(c->want) };
	if (rmap_call(r->ep, r->srv[i].peer, &req, c->body, sizeof(c->body),
		      stat_done, c))
		free(c);
	else
		r->srv[i].probing = true;
}

/* ---- liveness ---- */

static void hb_done(void *arg, int err, uint8_t status)
{
	struct io *io = arg;	/* see heartbeat(): our own io, kept */
	struct remote_session *s = session_find(io->r, io->idx, io->sid);

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
		      sizeof(io->body), io_done, io))
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
				changed(r, i);
			}
			continue;
		}
		/* Cut off: the grace counts only while others answer. */
		if (cut) {
			srv->down_since_ns = now;
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
			changed(r, i);
		} else if (now - srv->down_since_ns >=
			   (uint64_t)r->rc.grace_s * 1000000000ull) {
			char why[96];

			snprintf(why, sizeof(why), "down for %u s",
				 r->rc.grace_s);
			server_failed(r, i, why, true);
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
static void hb_fire(struct evl *loop, struct evl_timer *t)
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

int remote_new(struct remote **out, struct evl *loop, char *const *servers,
	       const struct rmap_config *cfg, const struct remote_config *rc)
{
	struct rmap_handlers h = {
		.peer_state = on_peer_state,
		.announce = on_announce,
	};
	struct sockaddr_in any = { .sin_family = AF_INET };
	struct rmap_config ep_cfg;
	struct remote *r;
	unsigned n = 0;
	int ret;

	for (char *const *s = servers; s && *s; s++)
		n++;
	if (n > REMOTE_MAX_SERVERS)
		return -E2BIG;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->loop = loop;
	r->n = n;
	r->rc = *rc;
	if (!r->rc.heartbeat_ms)
		r->rc.heartbeat_ms = 500;
	if (!r->rc.dead_after)
		r->rc.dead_after = 3;
	ep_cfg = *cfg;
	/* Never give up on a message to a server: heartbeats judge it. */
	ep_cfg.max_retries = 0;
	evl_timer_init(&r->hb_timer, hb_fire);
	r->srv = calloc(n ? n : 1, sizeof(*r->srv));
	h.arg = r;
	if (!r->srv) {
		ret = -ENOMEM;
		goto err;
	}
	ret = rmap_ep_open(&r->ep, loop, (struct sockaddr *)&any, sizeof(any),
			   &ep_cfg, &h);
	if (ret)
		goto err;
	for (unsigned i = 0; i < n; i++) {
		struct sockaddr_storage addr;

		r->srv[i].name = strdup(servers[i]);
		ret = rmap_parse_addr(servers[i], RMAP_DEFAULT_PORT, &addr);
		if (ret) {
			log_err("cannot resolve memory server '%s'", servers[i]);
			goto err;
		}
		if (addr.ss_family != AF_INET) {
			log_err("memory server '%s': only IPv4 servers are "
				"supported by the pager today", servers[i]);
			ret = -EAFNOSUPPORT;
			goto err;
		}
		r->srv[i].peer = rmap_peer_get(r->ep, &addr);
		if (!r->srv[i].peer) {
			ret = -ENOMEM;
			goto err;
		}
		/* Authentication: we must know whose key is there. */
		if (!rmap_peer_can_initiate(r->srv[i].peer)) {
			log_err("memory server '%s': the peers file gives no "
				"public key at its address (and port)",
				servers[i]);
			ret = -ENOKEY;
			goto err;
		}
	}
	evl_timer_arm(loop, &r->hb_timer, 0);
	*out = r;
	return 0;
err:
	remote_free(r);
	return ret;
}

void remote_free(struct remote *r)
{
	if (!r)
		return;
	evl_timer_cancel(r->loop, &r->hb_timer);
	rmap_ep_close(r->ep);
	for (unsigned i = 0; i < r->n; i++)
		free(r->srv[i].name);
	free(r->srv);
	free(r);
}

void remote_set_ops(struct remote *r, const struct remote_ops *ops, void *arg)
{
	r->ops = ops;
	r->ops_arg = arg;
}

const char *remote_server_state(const struct remote *r, unsigned i)
{
	if (r->srv[i].dead)
		return "dead";
	if (r->srv[i].drained)
		return "drained";
	if (r->srv[i].down)
		return "down";
	return r->srv[i].reachable ? "up" : "unreachable";
}

bool remote_cut_off(const struct remote *r, uint64_t *since_ns)
{
	if (r->cut_off && since_ns)
		*since_ns = r->cut_off_since_ns;
	return r->cut_off;
}

int remote_find(const struct remote *r, const char *name)
{
	struct sockaddr_storage a, b;

	for (unsigned i = 0; i < r->n; i++)
		if (!strcmp(r->srv[i].name, name))
			return (int)i;
	/* The same address written differently (a default port). */
	if (rmap_parse_addr(name, RMAP_DEFAULT_PORT, &a))
		return -1;
	for (unsigned i = 0; i < r->n; i++)
		if (!rmap_parse_addr(r->srv[i].name, RMAP_DEFAULT_PORT, &b) &&
		    !memcmp(&a, &b, sizeof(a)))
			return (int)i;
	return -1;
}

unsigned remote_count(const struct remote *r)
{
	return r->n;
}

const struct remote_server *remote_server(const struct remote *r, unsigned i)
{
	return &r->srv[i];
}

const struct rmap_counters *remote_counters(const struct remote *r)
{
	return rmap_ep_counters(r->ep);
}

unsigned remote_pending(const struct remote *r)
{
	return rmap_ep_pending(r->ep);
}
