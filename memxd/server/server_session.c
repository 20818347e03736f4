// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * server_session.c - the store role's clients and sessions
 * (server_int.h): who may use a session, REG, ATTACH and MOVE, lookup,
 * removal and lease expiry.
 */
#include <errno.h>
#include <glib.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "../log.h"
#include "server_int.h"

static uint64_t lease_ns(const struct server *srv)
{
	return (uint64_t)srv->cfg.lease_s * 1000000000ull;
}

guint server_client_hash(gconstpointer k)
{
	const uint8_t *b = k;

	return (guint)b[0] | (guint)b[1] << 8 | (guint)b[2] << 16 |
	       (guint)b[3] << 24;
}

gboolean server_client_equal(gconstpointer a, gconstpointer b)
{
	return !memcmp(a, b, RMAP_KEY_LEN);
}

/* Who @peer is: its authenticated key, or (no authentication) address. */
static void client_id_of(const struct rmap_peer *peer,
			 uint8_t id[RMAP_KEY_LEN])
{
	const uint8_t *key = rmap_peer_key(peer);

	memset(id, 0, RMAP_KEY_LEN);
	if (key)
		memcpy(id, key, RMAP_KEY_LEN);
	else
		snprintf((char *)id, RMAP_KEY_LEN, "%s", rmap_peer_name(peer));
}

static struct client *client_get(struct server *srv,
				 const struct rmap_peer *peer, bool make)
{
	uint8_t id[RMAP_KEY_LEN];
	struct client *c;

	client_id_of(peer, id);
	c = g_hash_table_lookup(srv->clients, id);
	if (c || !make)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	memcpy(c->id, id, RMAP_KEY_LEN);
	g_hash_table_insert(srv->clients, c->id, c);
	return c;
}

/* Is @peer the session's client, at the address that owns it? */
static bool session_owned_by(const struct session *s,
			     const struct rmap_peer *peer)
{
	uint8_t id[RMAP_KEY_LEN];

	client_id_of(peer, id);
	return s->peer == peer && !memcmp(s->owner->id, id, RMAP_KEY_LEN);
}

/* @s belongs to client @c from now on: the per-client counts follow. */
static void session_set_owner(struct server *srv, struct session *s,
			      struct client *c)
{
	if (c == s->owner)
		return;
	if (--s->owner->sessions == 0)
		g_hash_table_remove(srv->clients, s->owner->id);
	s->owner = c;
	c->sessions++;
}

/* Does @peer show the session owner's static key (authentication)? */
static bool session_key_of(const struct session *s,
			   const struct rmap_peer *peer)
{
	const uint8_t *key = rmap_peer_key(peer);

	return key && !memcmp(s->owner->id, key, RMAP_KEY_LEN);
}

void session_free(struct server *srv, struct session *s)
{
	if (g_hash_table_lookup(srv->regs, &s->nonce) == s)
		g_hash_table_remove(srv->regs, &s->nonce);
	if (s->owner && --s->owner->sessions == 0)
		g_hash_table_remove(srv->clients, s->owner->id);
	store_session_free(srv->store, s->pages);
	free(s);
}

void session_remove(struct server *srv, struct session *s,
			   const char *why)
{
	log_info("session %08x from %s closed (%s): %lu pages freed", s->id,
		 rmap_peer_name(s->peer), why,
		 (unsigned long)store_session_pages(s->pages));
	g_hash_table_remove(srv->sessions, GUINT_TO_POINTER(s->id));
	session_free(srv, s);
}

struct session *session_lookup(struct server *srv,
				      const struct rmap_msg *m)
{
	struct session *s = g_hash_table_lookup(srv->sessions,
						GUINT_TO_POINTER(m->session));

	/*
	 * A session belongs to the client that opened it (its key, with
	 * authentication), at the address that opened it or took it over.
	 */
	if (!s || !session_owned_by(s, m->peer)) {
		srv->st.bad_session++;
		log_ratelimited(5000, LOG_LEVEL_WARN,
				"%s from %s names unknown session %08x",
				rmap_type_name(m->type), rmap_peer_name(m->peer),
				m->session);
		return NULL;
	}
	return s;
}

/* REG's and ATTACH's answer: the session and how it is kept. */
static void reply_session(struct server *srv, const struct rmap_msg *m,
			  const struct session *s)
{
	struct rmap_session_info si = { srv->cfg.heartbeat_ms,
					srv->cfg.lease_s };
	uint8_t body[RMAP_SESSION_INFO_LEN];
	struct iovec iov = { body, sizeof(body) };

	rmap_session_info_encode(&si, body);
	server_reply(srv, m, RMAP_S_OK, s->id, &iov, 1);
}

void server_on_reg(struct server *srv, const struct rmap_msg *m)
{
	uint64_t nonce = 0;
	struct client *c;
	struct session *s;

	for (unsigned i = 0; i < 8; i++)
		nonce = nonce << 8 | m->data[i];
	/* A REG we already answered, asked again: same session. */
	s = g_hash_table_lookup(srv->regs, &nonce);
	if (s && s->nonce == nonce && session_owned_by(s, m->peer)) {
		reply_session(srv, m, s);
		return;
	}
	c = client_get(srv, m->peer, true);
	if (!c || c->sessions >= MAX_SESSIONS_PER_CLIENT ||
	    g_hash_table_size(srv->sessions) >= MAX_SESSIONS) {
		srv->st.session_limit++;
		log_ratelimited(10000, LOG_LEVEL_WARN, "refused a new session "
				"from %s: %u sessions of %u allowed per client, "
				"%u of %u in all", rmap_peer_name(m->peer),
				c ? c->sessions : 0, MAX_SESSIONS_PER_CLIENT,
				g_hash_table_size(srv->sessions), MAX_SESSIONS);
		if (c && !c->sessions)
			g_hash_table_remove(srv->clients, c->id);
		server_reply(srv, m, RMAP_S_FULL, 0, NULL, 0);
		return;
	}
	/* Leaving: old sessions are served, new ones refused. */
	if (srv->leaving) {
		srv->st.leaving_refusals++;
		log_ratelimited(10000, LOG_LEVEL_INFO,
				"leaving: refused a new session from %s",
				rmap_peer_name(m->peer));
		if (!c->sessions)
			g_hash_table_remove(srv->clients, c->id);
		server_reply(srv, m, RMAP_S_LEAVING, 0, NULL, 0);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->pages = store_session_new(srv->store))) {
		free(s);
		if (!c->sessions)
			g_hash_table_remove(srv->clients, c->id);
		server_reply(srv, m, RMAP_S_FULL, 0, NULL, 0);
		return;
	}
	do {
		if (getrandom(&s->id, sizeof(s->id), 0) != sizeof(s->id))
			s->id = (uint32_t)g_random_int();
	} while (!s->id ||
		 g_hash_table_contains(srv->sessions, GUINT_TO_POINTER(s->id)));
	s->nonce = nonce;
	memcpy(s->secret, m->data + 8, RMAP_SECRET_LEN);
	s->peer = m->peer;
	s->owner = c;
	c->sessions++;
	s->last_heard_ns = evl_now_ns();
	g_hash_table_insert(srv->sessions, GUINT_TO_POINTER(s->id), s);
	g_hash_table_replace(srv->regs, &s->nonce, s);
	log_info("session %08x opened by %s", s->id, rmap_peer_name(m->peer));
	reply_session(srv, m, s);
}

/* Equal, in a time that does not depend on where they differ. */
static bool secret_equal(const uint8_t *a, const uint8_t *b)
{
	uint8_t d = 0;

	for (unsigned i = 0; i < RMAP_SECRET_LEN; i++)
		d |= a[i] ^ b[i];
	return !d;
}

/*
 * A client that restarted (a new address, a new epoch) takes its session
 * over: it shows the secret it gave at REG, and (with authentication)
 * the same static key.  From then on the session belongs to the new
 * address, and the old one is refused.
 *
 * A session its owner made movable (MOVE) may be taken over by another
 * client the server allows, with the secret: a VM that migrated to
 * another host, whose memxd has another key.  It then belongs to that
 * client.  It stays movable, so that the old owner can take it back if
 * the migration fails, until the new owner settles it (MOVE settled).
 */
void server_on_attach(struct server *srv, const struct rmap_msg *m)
{
	struct session *s = g_hash_table_lookup(srv->sessions,
						GUINT_TO_POINTER(m->session));
	const uint8_t *key = rmap_peer_key(m->peer);
	bool same_key = s && (!key || session_key_of(s, m->peer));

	if (!s || !(same_key || s->movable) ||
	    !secret_equal(s->secret, m->data)) {
		srv->st.bad_session++;
		log_ratelimited(5000, LOG_LEVEL_WARN, "ATTACH from %s to "
				"session %08x refused: %s", rmap_peer_name(m->peer),
				m->session, !s ? "no such session (its lease "
				"ran out, or this server restarted)" :
				!same_key && !s->movable ? "another client's key "
				"(its owner did not make it movable)" :
				"wrong secret");
		server_reply(srv, m, RMAP_S_BADSESSION, m->session, NULL, 0);
		return;
	}
	if (!same_key) {
		/* Another client's key: a movable session moves to it. */
		struct client *c = client_get(srv, m->peer, true);
		char from[RMAP_KEY_B64_LEN], to[RMAP_KEY_B64_LEN];

		if (!c || c->sessions >= MAX_SESSIONS_PER_CLIENT) {
			srv->st.session_limit++;
			log_ratelimited(10000, LOG_LEVEL_WARN, "ATTACH from %s "
					"to movable session %08x refused: the "
					"client has %u sessions of %u allowed",
					rmap_peer_name(m->peer), m->session,
					c ? c->sessions : 0,
					MAX_SESSIONS_PER_CLIENT);
			if (c && !c->sessions)
				g_hash_table_remove(srv->clients, c->id);
			server_reply(srv, m, RMAP_S_FULL, m->session, NULL, 0);
			return;
		}
		rmap_key_to_base64(s->owner->id, from);
		rmap_key_to_base64(c->id, to);
		log_info("session %08x (%lu pages) moved from client %s to "
			 "client %s at %s", s->id,
			 (unsigned long)store_session_pages(s->pages), from, to,
			 rmap_peer_name(m->peer));
		session_set_owner(srv, s, c);
		srv->st.moved++;
	}
	if (s->peer != m->peer) {
		log_info("session %08x (%lu pages) taken over by %s, was %s",
			 s->id, (unsigned long)store_session_pages(s->pages),
			 rmap_peer_name(m->peer), rmap_peer_name(s->peer));
		s->peer = m->peer;
		srv->st.attached++;
	}
	/* Without authentication, the client is its address: it moved. */
	if (!key && !session_owned_by(s, m->peer)) {
		struct client *c = client_get(srv, m->peer, true);

		if (c)
			session_set_owner(srv, s, c);
	}
	s->last_heard_ns = evl_now_ns();
	reply_session(srv, m, s);
}

/*
 * The owner of a session lets another client take it over with ATTACH
 * (MOVE movable: its VM migrates to that client's host), or no more
 * (MOVE settled: the migration is over, or was called off).  Only the
 * owner may say so, with the secret: with authentication, its static
 * key; without, the address that holds the session.
 */
void server_on_move(struct server *srv, const struct rmap_msg *m)
{
	struct session *s = g_hash_table_lookup(srv->sessions,
						GUINT_TO_POINTER(m->session));
	uint8_t how = m->data[RMAP_SECRET_LEN];
	bool owner = s && (rmap_peer_key(m->peer) ?
			   session_key_of(s, m->peer) : s->peer == m->peer);
	const char *why = NULL;

	if (!s)
		why = "no such session (its lease ran out, or this server "
		      "restarted)";
	else if (!owner)
		why = "not the session's owner";
	else if (!secret_equal(s->secret, m->data))
		why = "wrong secret";
	else if (how != RMAP_MOVE_MOVABLE && how != RMAP_MOVE_SETTLED)
		why = "neither movable (1) nor settled (0)";
	if (why) {
		srv->st.bad_session++;
		log_ratelimited(5000, LOG_LEVEL_WARN, "MOVE from %s of "
				"session %08x refused: %s",
				rmap_peer_name(m->peer), m->session, why);
		server_reply(srv, m, RMAP_S_BADSESSION, m->session, NULL, 0);
		return;
	}
	s->movable = how == RMAP_MOVE_MOVABLE;
	s->last_heard_ns = evl_now_ns();
	log_info("session %08x %s by %s", s->id,
		 s->movable ? "movable" : "settled", rmap_peer_name(m->peer));
	server_reply(srv, m, RMAP_S_OK, s->id, NULL, 0);
}

unsigned server_expire(struct server *srv, uint64_t now_ns)
{
	GHashTableIter it;
	gpointer v;
	unsigned n = 0;

	g_hash_table_iter_init(&it, srv->sessions);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct session *s = v;

		if (now_ns - s->last_heard_ns <= lease_ns(srv))
			continue;
		log_warn("session %08x of %s: its lease ran out (nothing heard "
			 "for %u s): %lu pages freed", s->id,
			 rmap_peer_name(s->peer),
			 (unsigned)((now_ns - s->last_heard_ns) / 1000000000),
			 (unsigned long)store_session_pages(s->pages));
		g_hash_table_iter_remove(&it);
		session_free(srv, s);
		srv->st.expired_sessions++;
		n++;
	}
	return n;
}
