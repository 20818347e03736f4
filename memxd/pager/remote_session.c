// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * remote_session.c - a VM's sessions with the memory servers (remote.h):
 * opened (REG), taken over (ATTACH), handed to another host (MOVE),
 * forgotten (detach) or closed (UNREG), their records kept up to date.  What their answers tell of a
 * server goes up to the liveness layer (remote_liveness.c).
 */
#include "remote.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "../log.h"
#include "remote_int.h"

/* @s is session @id now (0: none); its record says so too. */
void remote_session_set(struct remote_session *s, uint32_t id)
{
	s->id = id;
	if (s->rec) {
		s->rec->id = id;
		memcpy(s->rec->secret, s->secret, RMAP_SECRET_LEN);
	}
}

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

			remote_io_call(c->r, c->idx, &req, NULL, 0, NULL, NULL);
		}
		free(c);
		return;
	}
	s->opening = false;
	s->reg = NULL;
	if (!err && !m->status &&
	    !rmap_session_info_decode(c->reply, m->len, &si)) {
		remote_session_set(s, m->session);
		srv->heartbeat_ms = si.heartbeat_ms;
		srv->lease_s = si.lease_s;
		remote_server_heard(c->r, s->server);
		log_debug("session %08x %s on %s (heartbeat %u ms, lease %u s)",
			  s->id, attach ? "attached" : "open", srv->name,
			  si.heartbeat_ms, si.lease_s);
	} else if (attach && !err && m->status == RMAP_S_BADSESSION) {
		/* Its lease ran out, or the server restarted: gone. */
		remote_server_heard(c->r, s->server);
		remote_server_failed(c->r, s->server, "it no longer has "
				     "our session", false);
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

struct move_ctx {
	void (*done)(void *arg, int err);
	void *arg;
};

static void move_done(void *arg, int err, uint8_t status)
{
	struct move_ctx *c = arg;

	if (!err && status)
		err = status == RMAP_S_BADSESSION ? -EPERM :
		      status == RMAP_S_UNSUPP ? -EOPNOTSUPP : -EPROTO;
	if (c->done)
		c->done(c->arg, err);
	free(c);
}

int remote_session_move(struct remote *r, struct remote_session *s,
			unsigned idx, bool movable,
			void (*done)(void *arg, int err), void *arg)
{
	uint8_t body[RMAP_MOVE_LEN];
	struct iovec iov = { body, sizeof(body) };
	struct rmap_req req = { .type = RMAP_T_MOVE, .session = s->id,
				.iov = &iov, .iovcnt = 1 };
	struct move_ctx *c;
	int ret;

	if (idx >= r->n)
		return -EINVAL;
	if (s->r != r || s->server != idx || !s->id)
		return -ENOTCONN;
	c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	*c = (struct move_ctx){ done, arg };
	memcpy(body, s->secret, RMAP_SECRET_LEN);
	body[RMAP_SECRET_LEN] = movable ? RMAP_MOVE_MOVABLE : RMAP_MOVE_SETTLED;
	ret = remote_io_call(r, idx, &req, NULL, 0, move_done, c);
	if (ret)
		free(c);
	return ret;
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
		remote_io_call(r, s->server, &req, NULL, 0, NULL, NULL);
	remote_session_set(s, 0);
	s->r = NULL;
}
