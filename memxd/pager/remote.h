/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * remote.h - the pager's view of the memory servers: sessions, liveness
 * and page I/O.
 *
 * One RMAP endpoint talks to every configured server.  Each VM opens one
 * session per server (its own page namespace there); sessions are kept
 * alive by heartbeats, and the servers keep their pages for a lease of
 * minutes.  Every heartbeat interval each server is also sent a STAT,
 * which refreshes its capacity and load and proves it alive.
 *
 * Liveness is judged from those probes only (RMAP never gives up on a
 * message to a server), the way Ceph tells "down" from "out":
 *   - a server that answered none of dead_after probes while most others
 *     answer is down: its pages are read degraded, nothing is rebuilt;
 *   - down for grace_s, it is out (dead): ops->server_failed runs, its
 *     requests in flight fail, and the pager rebuilds what it held;
 *   - when most servers go silent at once, it is memxd that is cut off:
 *     nothing is declared down or out, the pager freezes (faults and
 *     evictions on the silent servers wait) until they answer again;
 *   - a server that restarted (a new epoch) or no longer knows our
 *     session has lost our pages: ops->server_failed runs at once.
 * A server that was out and answers again is a new, empty server: our
 * old sessions there are unregistered.
 *
 * This layer knows nothing of page-groups or placement: it reports what
 * it learns through struct remote_ops, and the pager decides.  Page I/O
 * is asynchronous: the callback runs when the server answered or RMAP
 * gave up, never from inside the call that started it.
 */
#ifndef MEMX_PAGER_REMOTE_H
#define MEMX_PAGER_REMOTE_H

#include <stdbool.h>
#include <stdint.h>

#include "../../rmap/rmap.h"

struct remote;

/* Servers one pager may use (a group records them in a byte). */
#define REMOTE_MAX_SERVERS	254u

/* Per-server counters: field, then what it counts (memxctl, Prometheus). */
#define REMOTE_SERVER_COUNTERS(X)					\
	X(reads, "READ and READZ requests sent")			\
	X(writes, "WRITE, XWRITE and PXOR requests sent")		\
	X(frees, "FREE and XFREE requests sent")			\
	X(pages_in, "pages read from the server")			\
	X(pages_out, "pages written to the server")			\
	X(errors, "requests that failed (no answer)")			\
	X(short_replies, "replies whose page run or length was not the "	\
	  "one asked for: rejected, never used")			\
	X(bad_pages, "pages it returned that failed their integrity "	\
	  "check")							\
	X(full_refusals, "requests refused: the server was full")	\
	X(lost_sessions, "sessions the server lost (dead, restarted)") \
	X(deaths, "times declared dead, or found restarted")

struct remote_server_stats {
#define X(name, help) uint64_t name;
	REMOTE_SERVER_COUNTERS(X)
#undef X
};

/* What the pager may read of a server (remote_server()). */
struct remote_server {
	char *name;			/* as configured */
	struct rmap_peer *peer;
	bool reachable;			/* answered lately */
	bool down;			/* silent while others answer */
	bool dead;			/* out: our pages there are gone */
	bool heard;			/* has ever answered */
	bool drained;			/* drained and told to leave */
	bool no_tags;			/* STAT says it keeps no page tags */
	bool reserved;			/* STAT: its capacity is locked in RAM */
	uint64_t down_since_ns;
	uint64_t capacity_pages, used_pages;	/* from STAT or ANNOUNCE */
	unsigned load_permille;
	/*
	 * Its dedup block, from STAT (a server older than dedup sends none:
	 * has_dedup false): pages its sessions hold, the slots they take
	 * (used_pages), and what hashing and comparing cost it.
	 */
	bool has_dedup, dedup_on;
	uint64_t logical_pages, unique_pages, hashed_pages, hash_ns;
	/*
	 * Of used_pages, those of ended sessions it has yet to walk (its
	 * memory block, from STAT; 0 from a server older than it): room for
	 * a write that needs them, which finishes the walk first.  With
	 * dedup, at most that many (a slot may be shared with a live
	 * session): remote_server_room() is then a little hopeful, and a
	 * write FULL says so.
	 */
	uint64_t freeing_pages;
	unsigned heartbeat_ms, lease_s;	/* from REG or ATTACH */
	struct remote_server_stats st;
	/* liveness bookkeeping (remote_liveness.c) */
	uint64_t last_heard_ns, probe_ns;
	unsigned misses;
	bool probing;			/* a STAT is out */
};

struct reg_ctx;

/*
 * What it takes to ATTACH a session again, kept wherever its owner wants
 * it (the pager keeps it in the VM's state memfd, vmstate.h):
 * remote_session.c writes it whenever the session opens, is taken over,
 * or is lost.
 */
struct remote_session_record {
	uint32_t id;			/* 0: none */
	uint8_t secret[RMAP_SECRET_LEN];
};

/* One VM's session with one server. */
struct remote_session {
	uint32_t id;			/* 0: not open */
	uint32_t stale_id;		/* one a dead server may still hold */
	uint8_t secret[RMAP_SECRET_LEN];	/* to ATTACH it again */
	bool opening;			/* REG or ATTACH out */
	bool heartbeating;		/* a HEARTBEAT is out */
	struct reg_ctx *reg;		/* the REG or ATTACH out */
	struct remote_session_record *rec;	/* or NULL */
	struct remote_session *next;	/* all sessions, for heartbeats */
	struct remote *r;
	unsigned server;
};

/* What this layer tells the pager.  Both may be NULL. */
struct remote_ops {
	/* Server @idx no longer holds our pages (dead, or it restarted). */
	void (*server_failed)(void *arg, unsigned idx, const char *why);
	/* Server @idx's capacity, load or reachability changed. */
	void (*server_changed)(void *arg, unsigned idx);
};

typedef void (*remote_done_fn)(void *arg, int err, uint8_t status);

struct remote_config {
	unsigned heartbeat_ms;		/* liveness probe interval */
	unsigned dead_after;		/* silent intervals before down */
	unsigned grace_s;		/* down this long: out */
};

int remote_new(struct remote **r, struct evl *loop, char *const *servers,
	       const struct rmap_config *cfg, const struct remote_config *rc);
void remote_free(struct remote *r);
void remote_set_ops(struct remote *r, const struct remote_ops *ops,
		    void *arg);

unsigned remote_count(const struct remote *r);
const struct remote_server *remote_server(const struct remote *r,
					  unsigned idx);

/*
 * A server's state as dumps name it.  The flags are checked worst first:
 * a dead server may also be down, a drained one unreachable.
 */
enum remote_state {
	REMOTE_UP,
	REMOTE_UNREACHABLE,
	REMOTE_DOWN,
	REMOTE_DRAINED,
	REMOTE_DEAD,
	REMOTE_NSTATES
};

static inline enum remote_state remote_state_of(const struct remote_server *s)
{
	if (s->dead)
		return REMOTE_DEAD;
	if (s->drained)
		return REMOTE_DRAINED;
	if (s->down)
		return REMOTE_DOWN;
	return s->reachable ? REMOTE_UP : REMOTE_UNREACHABLE;
}

static inline const char *remote_state_name(enum remote_state st)
{
	static const char *const names[REMOTE_NSTATES] = {
		[REMOTE_UP] = "up",
		[REMOTE_UNREACHABLE] = "unreachable",
		[REMOTE_DOWN] = "down",
		[REMOTE_DRAINED] = "drained",
		[REMOTE_DEAD] = "dead",
	};

	return names[st];
}

/*
 * The pages a server has room for, as it last said: its capacity less
 * what it uses, the ended sessions' pages it is still walking counted
 * as room.
 */
static inline uint64_t remote_server_room(const struct remote_server *s)
{
	uint64_t used = s->used_pages > s->freeing_pages ?
			s->used_pages - s->freeing_pages : 0;

	return s->capacity_pages > used ? s->capacity_pages - used : 0;
}

/* "up", "unreachable", "down", "drained" or "dead". */
static inline const char *remote_server_state(const struct remote *r,
					      unsigned idx)
{
	return remote_state_name(remote_state_of(remote_server(r, idx)));
}

/* Is memxd cut off from most of its servers?  Since when (if so). */
bool remote_cut_off(const struct remote *r, uint64_t *since_ns);
/* The index of the server named @name (as configured), or -1. */
int remote_find(const struct remote *r, const char *name);
const struct rmap_counters *remote_counters(const struct remote *r);
/* Packets queued or unacknowledged (0 when idle): for a clean exit. */
unsigned remote_pending(const struct remote *r);
/* What follows is a new turn: the first request to each server goes at
 * once (rmap_ep_new_turn). */
void remote_new_turn(struct remote *r);
/* The datagrams' AEAD ("AES-256-GCM") and the library that runs it. */
void remote_cipher(const struct remote *r, const char **cipher,
		   const char **library);

/* Start opening @s on server @idx; the session is usable once s->id != 0. */
void remote_session_open(struct remote *r, struct remote_session *s,
			 unsigned idx);
/*
 * Take over session @id on server @idx, which an earlier memxd opened
 * with @secret (ATTACH).  It is usable once s->id != 0; if the server no
 * longer has it (its lease ran out, or the server restarted), that server
 * has lost our pages and ops->server_failed runs.
 */
void remote_session_attach(struct remote *r, struct remote_session *s,
			   unsigned idx, uint32_t id, const uint8_t *secret);
/*
 * Let another memxd take session @s on server @idx over (MOVE, @movable
 * true: the VM migrates to its host, and it ATTACHes with the session's
 * id and secret), or no more (@movable false: the migration is over and
 * this memxd owns the session, or it was called off).  The server takes
 * it only from the session's owner.  0, and @done runs later exactly
 * once: with 0 if the server agreed, -EPERM if it refused (we are not the
 * session's owner, or it no longer has it), another -errno if the
 * request failed; or -errno and @done will not run (-ENOTCONN: @s is not
 * open on server @idx).
 */
int remote_session_move(struct remote *r, struct remote_session *s,
			unsigned idx, bool movable,
			void (*done)(void *arg, int err), void *arg);
/* Close it (UNREG, which frees its pages on the server). */
void remote_session_close(struct remote *r, struct remote_session *s);
/* Forget it here, without UNREG: memxd is going away, and the next one
 * takes the session over (remote_session_attach). */
void remote_session_detach(struct remote *r, struct remote_session *s);
static inline bool remote_session_ready(const struct remote_session *s)
{
	return s->id != 0;
}

/*
 * A session-scoped request: @type with @count pages at key @page, payload
 * @iov, reply payload into @buf (@cap bytes; READ data, XWRITE deltas).
 * @flags is 0 or RMAP_F_TAGS (the pages' tags follow them, both ways).
 * 0 (@fn, which may be NULL, runs later exactly once) or -errno (it will
 * not run; -ENOTCONN: the session is not open).  A reply whose page run,
 * tags or length is not the one asked for is never passed on: @fn gets
 * -EBADMSG (counted as short_replies).
 */
int remote_call(struct remote *r, struct remote_session *s, uint8_t type,
		uint16_t flags, uint64_t page, uint32_t count,
		const struct iovec *iov, int iovcnt, void *buf, uint32_t cap,
		remote_done_fn fn, void *arg);
/* @n pages server @idx returned failed their integrity check. */
void remote_count_bad(struct remote *r, unsigned idx, uint32_t n);
/* Tell server @idx we hold nothing there and it may leave (LEAVE); it is
 * "drained" from then on. */
int remote_leave(struct remote *r, unsigned idx, remote_done_fn fn,
		 void *arg);

#endif
