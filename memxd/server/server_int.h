/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * server_int.h - what the store role's two files share: the server, its
 * clients and its sessions.
 *
 *   server.c          the server's life, requests dispatched, pages in
 *                     and out, STAT, LEAVE, announcements
 *   server_session.c  clients and sessions: who may use a session, and
 *                     REG, ATTACH and MOVE, which open, take over and
 *                     hand one over; lookup, removal, lease expiry
 *
 * Calls go from server.c into server_session.c, and back only for the
 * answer (server_reply()).
 */
#ifndef MEMX_SERVER_INT_H
#define MEMX_SERVER_INT_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "../../rmap/rmap.h"
#include "../refusals.h"
#include "server.h"
#include "store.h"

/*
 * Sessions per client, and in all: bounds on what clients can make a
 * server keep besides pages (which capacity bounds).
 */
#define MAX_SESSIONS_PER_CLIENT	4096u
#define MAX_SESSIONS		65536u

/*
 * A client: with authentication, the static key it proved in its
 * handshake; without, its address.  Sessions are bound to it.
 */
struct client {
	uint8_t id[RMAP_KEY_LEN];
	unsigned sessions;
};

struct session {
	uint32_t id;
	uint64_t nonce;
	uint8_t secret[RMAP_SECRET_LEN];	/* shown by ATTACH and MOVE */
	struct client *owner;
	/*
	 * Its owner said MOVE movable: another client the server allows
	 * may take it over with ATTACH and the secret (its VM migrates).
	 */
	bool movable;
	struct rmap_peer *peer;
	struct store_session *pages;
	uint64_t last_heard_ns;		/* the lease runs from here */
};

struct server {
	struct evl *loop;
	struct rmap_ep *ep;
	struct store *store;
	GHashTable *sessions;		/* id -> struct session */
	GHashTable *regs;		/* REG nonce -> struct session */
	GHashTable *clients;		/* client id -> struct client */
	struct server_config cfg;
	struct sockaddr_storage *announce_to;
	unsigned n_announce;
	struct evl_timer announce_timer, expiry_timer;
	struct evl_timer give_back_timer;	/* store_give_back, a slice
						 * a turn */
	/* Since the slices began: when, how many, the work before them. */
	uint64_t give_back_t0, give_back_run;
	struct store_stats give_back_from;
	struct server_stats st;
	struct refusals refusals;	/* what RMAP refused, for the log */
	/* load: time spent answering requests over the last interval */
	uint64_t busy_ns, window_start_ns;
	uint64_t last_request_ns;	/* when the last request came */
	uint64_t last_done_ns;		/* when it was answered */
	/* Told to leave (LEAVE): no new sessions, no announcements. */
	bool leaving;
	bool said_empty;	/* "safe to stop" logged since last emptied */
	uint8_t *scratch;	/* RMAP_MAX_MSG bytes: XWRITE/XFREE replies */
	uint8_t *tags;		/* RMAP_MAX_PAGES tags: READ/READZ replies */
};

/* server.c: answer @m (with @iov), or say why not. */
void server_reply(struct server *srv, const struct rmap_msg *m, uint8_t status,
		  uint32_t session, const struct iovec *iov, int iovcnt);

/* server_session.c */
guint server_client_hash(gconstpointer k);
gboolean server_client_equal(gconstpointer a, gconstpointer b);
void session_free(struct server *srv, struct session *s);
void session_remove(struct server *srv, struct session *s, const char *why);
/* The session @m names, if its sender may use it; else NULL (logged). */
struct session *session_lookup(struct server *srv, const struct rmap_msg *m);
void server_on_reg(struct server *srv, const struct rmap_msg *m);
void server_on_attach(struct server *srv, const struct rmap_msg *m);
void server_on_move(struct server *srv, const struct rmap_msg *m);

#endif
