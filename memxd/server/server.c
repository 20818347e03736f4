// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * server.c - the store role: RMAP requests in, pages kept, answers out.
 * Its clients and sessions are server_session.c's (server_int.h).
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../log.h"
#include "server_int.h"
#include "store.h"

/*
 * The STAT body.  @want: the STAT request's want mask (0 for LEAVE and
 * ANNOUNCE); a flag that older clients would refuse goes only to clients
 * that ask for it.
 */
static void fill_stat(struct server *srv, struct rmap_stat *st,
		      uint32_t want)
{
	st->capacity_pages = store_capacity(srv->store);
	st->used_pages = store_used(srv->store);
	st->load_permille = srv->st.load_permille;
	st->sessions = g_hash_table_size(srv->sessions);
	st->port = rmap_ep_port(srv->ep);
	st->flags = RMAP_STAT_TAGS | (srv->leaving ? RMAP_STAT_LEAVING : 0) |
		    ((want & RMAP_STAT_WANT_RESERVED) &&
		     store_reserved(srv->store) ? RMAP_STAT_RESERVED : 0u);
}

/*
 * After the STAT body in @buf, the blocks the request's want mask @want
 * (its low byte) asks for: what the server refused, what dedup saves and
 * costs, what its sending costs, what serving costs its host, which
 * hosts it refused datagrams from, and what its store frees and gives
 * back between requests.
 * Returns the reply's length.
 */
static size_t stat_blocks(struct server *srv, uint8_t want, uint8_t *buf)
{
	size_t len = RMAP_STAT_LEN;

	if (want & RMAP_STAT_WANT_COUNTERS) {
		uint64_t c[RMAP_STATC_N];

		server_counters(srv, c);
		rmap_stat_counters_encode(c, buf + len);
		len = RMAP_STAT_EXT_LEN;
	}
	if (want & RMAP_STAT_WANT_DEDUP) {
		struct store_stats ss;
		struct rmap_stat_dedup d;

		store_stats(srv->store, &ss);
		d = (struct rmap_stat_dedup){
			.logical_pages = ss.logical_pages,
			.unique_pages = ss.unique_pages,
			.hashed_pages = ss.hashed_pages,
			.hash_ns = ss.hash_ns,
			.flags = ss.dedup ? RMAP_DEDUP_ON : 0,
		};
		rmap_stat_dedup_encode(&d, buf + len);
		len += RMAP_STAT_DEDUP_LEN;
	}
	if (want & RMAP_STAT_WANT_TRANSPORT) {
		uint64_t t[RMAP_STATT_N];

		server_transport(srv, t);
		rmap_stat_transport_encode(t, buf + len);
		len += RMAP_STAT_TRANSPORT_LEN;
	}
	if (want & RMAP_STAT_WANT_HOST) {
		uint64_t h[RMAP_STATH_N];

		server_host(srv, h);
		rmap_stat_host_encode(h, buf + len);
		len += RMAP_STAT_HOST_LEN;
	}
	if (want & RMAP_STAT_WANT_SOURCES) {
		struct rmap_stat_sources s;

		rmap_refused_sources(rmap_ep_counters(srv->ep), &s);
		rmap_stat_sources_encode(&s, buf + len);
		len += RMAP_STAT_SOURCES_LEN;
	}
	if (want & RMAP_STAT_WANT_MEMORY) {
		uint64_t mem[RMAP_STATM_N];
		struct store_stats ss;

		store_stats(srv->store, &ss);
		mem[RMAP_STATM_freeing_pages] = ss.freeing_pages;
		mem[RMAP_STATM_give_back_pages] = ss.give_back_pages;
		mem[RMAP_STATM_freed_pages] = ss.freed_pages;
		mem[RMAP_STATM_given_back_pages] = ss.given_back_total;
		mem[RMAP_STATM_give_back_turns] = srv->st.give_back_slices;
		rmap_stat_memory_encode(mem, buf + len);
		len += RMAP_STAT_MEMORY_LEN;
	}
	return len;
}

/* While leaving, say once each time the last client page is gone. */
static void leave_check_empty(struct server *srv)
{
	if (!srv->leaving)
		return;
	if (store_used(srv->store)) {
		srv->said_empty = false;
	} else if (!srv->said_empty) {
		srv->said_empty = true;
		log_warn("leaving: no client pages remain; safe to stop "
			 "(%u sessions still open)",
			 g_hash_table_size(srv->sessions));
	}
}

void server_reply(struct server *srv, const struct rmap_msg *m, uint8_t status,
		  uint32_t session, const struct iovec *iov, int iovcnt)
{
	int ret = rmap_reply(srv->ep, m, status, session, iov, iovcnt);

	/* A client must never wait for ever: answer without the data. */
	if (ret && iovcnt)
		ret = rmap_reply(srv->ep, m, RMAP_S_INVAL, session, NULL, 0);
	if (ret)
		log_ratelimited(5000, LOG_LEVEL_WARN,
				"cannot answer %s from %s: %s",
				rmap_type_name(m->type), rmap_peer_name(m->peer),
				strerror(-ret));
}

/* A client has moved its pages away and tells this server to leave. */
static void on_leave(struct server *srv, const struct rmap_msg *m)
{
	if (!srv->leaving) {
		srv->leaving = true;
		/* No more "I lend memory" to anyone. */
		evl_timer_cancel(srv->loop, &srv->announce_timer);
		log_warn("told to leave by %s: holding %lu pages in %u sessions;"
			 " safe to stop once empty; refusing new sessions",
			 rmap_peer_name(m->peer),
			 (unsigned long)store_used(srv->store),
			 g_hash_table_size(srv->sessions));
	} else {
		log_info("told to leave again by %s: holding %lu pages in %u "
			 "sessions", rmap_peer_name(m->peer),
			 (unsigned long)store_used(srv->store),
			 g_hash_table_size(srv->sessions));
	}
}

/* WRITE, XWRITE or PXOR found no room: say so, change nothing. */
/*
 * Answer a store operation's result @ret: a write that did not fit is
 * refused as FULL (and logged), another error is INVAL, and success
 * (0, or a count) is OK with the reply payload @iov.
 */
static void answer_store(struct server *srv, const struct rmap_msg *m,
			 const struct session *s, int ret,
			 const struct iovec *iov, int iovcnt)
{
	if (ret == -ENOSPC || ret == -ENOMEM) {
		srv->st.full_refusals++;
		log_ratelimited(10000, LOG_LEVEL_WARN,
				"full: refused %u pages of %s from session %08x "
				"(%lu of %lu pages used)", m->count,
				rmap_type_name(m->type), s->id,
				(unsigned long)store_used(srv->store),
				(unsigned long)store_capacity(srv->store));
		server_reply(srv, m, RMAP_S_FULL, s->id, NULL, 0);
	} else if (ret < 0) {
		server_reply(srv, m, RMAP_S_INVAL, s->id, NULL, 0);
	} else {
		server_reply(srv, m, RMAP_S_OK, s->id, iov, iovcnt);
	}
}

/* The tags a WRITE, XWRITE or PXOR carries after its pages, or NULL. */
static const uint8_t *tags_in(const struct rmap_msg *m)
{
	if (!(m->flags & RMAP_F_TAGS))
		return NULL;
	return m->data + (size_t)m->count * RMAP_PAGE_SIZE;
}

/*
 * Where an XWRITE's or XFREE's reply takes its tags: after its pages in
 * the scratch buffer, if the request asked for them.
 */
static uint8_t *tags_out(struct server *srv, const struct rmap_msg *m)
{
	if (!(m->flags & RMAP_F_TAGS))
		return NULL;
	return srv->scratch + (size_t)m->count * RMAP_PAGE_SIZE;
}

int server_corrupt_parse(const char *s, struct server_corrupt *c, char *why,
			 size_t len)
{
	static const char *const kinds[] = { "none", "flip", "swap", "short" };
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	char *end;

	*c = (struct server_corrupt){ CORRUPT_NONE, 0.05 };
	for (unsigned i = 0; i < G_N_ELEMENTS(kinds); i++)
		if (strlen(kinds[i]) == n && !strncmp(s, kinds[i], n))
			c->kind = (enum server_corrupt_kind)i;
	if (!c->kind && strncmp(s, "none", n ? n : 1)) {
		snprintf(why, len, "test-corrupt: '%.*s' is none of flip, swap "
			 "or short", (int)n, s);
		return -EINVAL;
	}
	if (colon) {
		errno = 0;
		c->rate = strtod(colon + 1, &end);
		if (errno || *end || end == colon + 1 || !(c->rate >= 0) ||
		    c->rate > 1) {
			snprintf(why, len, "test-corrupt: the rate '%s' is not "
				 "a number from 0 to 1", colon + 1);
			return -EINVAL;
		}
	}
	return 0;
}

/* Does the test hook strike now? */
static bool corrupt_now(struct server *srv, enum server_corrupt_kind kind)
{
	return srv->cfg.corrupt.kind == kind &&
	       g_random_double() < srv->cfg.corrupt.rate;
}

/*
 * The test hook (server.h), on a READ or READZ answer of @m's pages at
 * @iov (tags at @tags, if asked for).  Returns how many pages to answer.
 */
static uint32_t corrupt_reply(struct server *srv, const struct rmap_msg *m,
			      struct session *s, struct iovec *iov,
			      uint8_t *tags)
{
	for (uint32_t i = 0; i < m->count; i++) {
		uint8_t *tag = tags ? tags + (size_t)i * RMAP_TAG_LEN : NULL;
		unsigned bit = (unsigned)g_random_int_range(0, RMAP_PAGE_SIZE * 8);
		struct iovec other;

		if (corrupt_now(srv, CORRUPT_FLIP) &&
		    !store_read(srv->store, s->pages, m->page + i, 1, &other,
				NULL)) {
			/* The stored copy itself rots, as memory would. */
			((uint8_t *)other.iov_base)[bit / 8] ^=
				(uint8_t)(1u << (bit % 8));
			iov[i] = other;
			srv->st.test_corrupted++;
		}
		/* Another page of the session: the next key, or the last. */
		if (corrupt_now(srv, CORRUPT_SWAP) &&
		    (!store_read(srv->store, s->pages, m->page + m->count, 1,
				 &other, tag) ||
		     (m->page && !store_read(srv->store, s->pages,
					     m->page - 1, 1, &other, tag)))) {
			iov[i] = other;
			srv->st.test_corrupted++;
		}
	}
	if (m->type == RMAP_T_READ && m->count > 1 &&
	    corrupt_now(srv, CORRUPT_SHORT)) {
		srv->st.test_corrupted++;
		return 1;
	}
	return m->count;
}

/*
 * READ (absent pages: NOENT) or READZ (absent pages read as zeros): the
 * pages, then their tags if the request asked for them.
 */
static void on_read(struct server *srv, const struct rmap_msg *m,
		    struct session *s, bool zero)
{
	struct iovec iov[RMAP_MAX_PAGES + 1];
	uint8_t *tags = m->flags & RMAP_F_TAGS ? srv->tags : NULL;
	struct rmap_msg r = *m;
	int ret;

	if (zero)
		ret = store_read_zero(srv->store, s->pages, m->page, m->count,
				      iov, tags);
	else
		ret = store_read(srv->store, s->pages, m->page, m->count, iov,
				 tags);
	if (ret == -ENOENT) {
		server_reply(srv, m, RMAP_S_NOENT, s->id, NULL, 0);
		return;
	}
	if (ret) {
		answer_store(srv, m, s, ret, NULL, 0);
		return;
	}
	if (srv->cfg.corrupt.kind)
		r.count = corrupt_reply(srv, m, s, iov, tags);
	if (tags)
		iov[r.count] = (struct iovec){ tags,
					      (size_t)r.count * RMAP_TAG_LEN };
	server_reply(srv, &r, RMAP_S_OK, s->id, iov, (int)r.count + !!tags);
}

/*
 * A large session freed is walked, and the memory of slots freed many at
 * once (a session, a large discard) goes back to the host, a slice per
 * turn of the loop, with requests answered between: at 0.4 µs a page, a
 * 4 GiB session given back in one go kept every client waiting for half
 * a second, and walking its table alone took 0.13 to 0.21 s.
 */
#define GIVE_BACK_SLICE	8192u	/* pages: some 3 ms */

static void give_back_fire(struct evl *loop, struct evl_timer *t)
{
	struct server *srv = evl_container_of(t, struct server,
					      give_back_timer);
	const struct store_stats *from = &srv->give_back_from;

	srv->st.give_back_slices++;
	srv->give_back_run++;
	if (store_give_back(srv->store, GIVE_BACK_SLICE)) {
		evl_timer_arm(loop, t, 0);
	} else if (srv->give_back_run > 1) {
		struct store_stats now;

		/* A session's end, or a large discard: say what it took. */
		store_stats(srv->store, &now);
		log_info("freed pages done with in %lu turns over %lu ms, "
			 "answering requests between: %lu references of ended "
			 "sessions dropped, %lu MiB given back to the host%s",
			 (unsigned long)srv->give_back_run,
			 (unsigned long)((evl_now_ns() - srv->give_back_t0) /
					 1000000),
			 (unsigned long)(now.freed_pages - from->freed_pages),
			 (unsigned long)((now.given_back_total -
					  from->given_back_total) >> 8),
			 now.reserved ? " (none: the store is reserved)" : "");
	}
	leave_check_empty(srv);
}

static void give_back_soon(struct server *srv)
{
	if (!evl_timer_armed(&srv->give_back_timer) &&
	    store_give_back(srv->store, 0)) {
		evl_timer_arm(srv->loop, &srv->give_back_timer, 0);
		srv->give_back_t0 = evl_now_ns();
		srv->give_back_run = 0;
		store_stats(srv->store, &srv->give_back_from);
	}
}

static void on_request(struct rmap_ep *ep, const struct rmap_msg *m, void *arg)
{
	struct server *srv = arg;
	/* From its arrival, or the end of the batch's request before it. */
	uint64_t t0 = rmap_ep_rx_ns(ep), t1;
	struct iovec iov[RMAP_MAX_PAGES];
	struct session *s = NULL;
	struct rmap_stat st;
	uint8_t buf[RMAP_STAT_MAX_LEN];
	int ret;

	if (t0 < srv->last_done_ns)
		t0 = srv->last_done_ns;
	if (m->type > RMAP_T_MAX) {
		/* A later version's request: say so, whatever its session. */
		server_reply(srv, m, RMAP_S_UNSUPP, m->session, NULL, 0);
		goto out;
	}
	if (m->type == RMAP_T_REG) {
		server_on_reg(srv, m);
		goto out;
	}
	if (m->type == RMAP_T_ATTACH) {
		server_on_attach(srv, m);
		goto out;
	}
	if (m->type == RMAP_T_MOVE) {
		server_on_move(srv, m);
		goto out;
	}
	if (m->type == RMAP_T_STAT || m->type == RMAP_T_LEAVE) {
		uint8_t want = 0;

		if (m->type == RMAP_T_LEAVE)
			on_leave(srv, m);
		else if (m->len == RMAP_STAT_REQ_LEN)
			want = m->data[3];
		fill_stat(srv, &st, want);
		rmap_stat_encode(&st, buf);
		iov[0] = (struct iovec){ buf, RMAP_STAT_LEN };
		if (want)
			iov[0].iov_len = stat_blocks(srv, want, buf);
		server_reply(srv, m, RMAP_S_OK, m->session, iov, 1);
		goto out;
	}
	s = session_lookup(srv, m);
	if (!s) {
		server_reply(srv, m, RMAP_S_BADSESSION, m->session, NULL, 0);
		goto out;
	}
	/* Any request of the session renews its lease. */
	s->last_heard_ns = t0;

	switch (m->type) {
	case RMAP_T_UNREG:
		server_reply(srv, m, RMAP_S_OK, s->id, NULL, 0);
		session_remove(srv, s, "unregistered");
		break;
	case RMAP_T_HEARTBEAT:
		server_reply(srv, m, RMAP_S_OK, s->id, NULL, 0);
		break;
	case RMAP_T_READ:
		srv->st.reads++;
		on_read(srv, m, s, false);
		break;
	case RMAP_T_WRITE:
		srv->st.writes++;
		ret = store_write(srv->store, s->pages, m->page, m->count,
				  m->data, tags_in(m));
		answer_store(srv, m, s, ret, NULL, 0);
		break;
	case RMAP_T_FREE:
		srv->st.frees++;
		store_discard(srv->store, s->pages, m->page, m->count);
		server_reply(srv, m, RMAP_S_OK, s->id, NULL, 0);
		break;
	case RMAP_T_XWRITE:
		/* The reply carries old ^ new, for the parity server. */
		srv->st.xwrites++;
		ret = store_xwrite(srv->store, s->pages, m->page, m->count,
				   m->data, tags_in(m), srv->scratch,
				   tags_out(srv, m));
		iov[0] = (struct iovec){ srv->scratch, (size_t)m->count *
					 rmap_page_bytes(m->flags) };
		answer_store(srv, m, s, ret, iov, 1);
		break;
	case RMAP_T_XFREE:
		srv->st.xfrees++;
		ret = store_xfree(srv->store, s->pages, m->page, m->count,
				  srv->scratch, tags_out(srv, m));
		iov[0] = (struct iovec){ srv->scratch, (size_t)m->count *
					 rmap_page_bytes(m->flags) };
		answer_store(srv, m, s, ret, iov, 1);
		break;
	case RMAP_T_PXOR:
		srv->st.pxors++;
		ret = store_xor(srv->store, s->pages, m->page, m->count,
				m->data, tags_in(m));
		answer_store(srv, m, s, ret, NULL, 0);
		break;
	case RMAP_T_READZ:
		srv->st.readzs++;
		on_read(srv, m, s, true);
		break;
	default:
		server_reply(srv, m, RMAP_S_UNSUPP, s->id, NULL, 0);
		break;
	}
out:
	leave_check_empty(srv);
	give_back_soon(srv);
	t1 = evl_now_ns();
	srv->busy_ns += t1 - t0;
	srv->last_done_ns = t1;
	srv->last_request_ns = t0;
}

/*
 * The loop may poll rather than sleep (evl_set_spin; its governor,
 * rmap/spin.h, decides) for a while after a request: a client that is
 * paging asks again soon (a vCPU's next fault, the next batch of an
 * eviction), and a memory server woken from a halted CPU adds the wake-up
 * to every round trip.  The governor stops polling where the requests do
 * not come within the poll, or another thread (the host's own VMs: this
 * host only lends its memory) waits for a CPU.
 */
static bool request_due(void *arg)
{
	const struct server *srv = arg;

	return evl_now_ns() - srv->last_request_ns <
	       (uint64_t)srv->cfg.spin_us * 1000;
}

static void on_peer_state(struct rmap_ep *ep, struct rmap_peer *peer, int err,
			  void *arg)
{
	struct server *srv = arg;
	unsigned n = 0;
	GHashTableIter it;
	gpointer v;

	(void)ep;
	g_hash_table_iter_init(&it, srv->sessions);
	while (g_hash_table_iter_next(&it, NULL, &v))
		n += ((struct session *)v)->peer == peer;
	/*
	 * Whatever befell the client, its pages stay for their lease: a
	 * client that restarted takes its sessions over with ATTACH, one
	 * cut off comes back.  Nothing a packet says frees them.
	 */
	if (err == -EHOSTUNREACH)
		log_warn("client %s is unreachable; its %u sessions keep their "
			 "pages for their lease (%u s)", rmap_peer_name(peer),
			 n, srv->cfg.lease_s);
	else if (err == -ECONNRESET)
		log_info("client %s restarted; its %u sessions keep their "
			 "pages for their lease (%u s), for it to attach",
			 rmap_peer_name(peer), n, srv->cfg.lease_s);
	else
		log_info("client %s is reachable again", rmap_peer_name(peer));
}

void server_counters(const struct server *srv, uint64_t c[RMAP_STATC_N])
{
	const struct rmap_counters *rc = rmap_ep_counters(srv->ep);

	c[RMAP_STATC_rx_packets] = rc->rx_packets;
	c[RMAP_STATC_bad_packets] = rc->bad_total;
	c[RMAP_STATC_auth_failures] = rc->auth_failures;
	c[RMAP_STATC_replays] = rc->replays;
	c[RMAP_STATC_cookie_challenges] = rc->cookie_challenges;
	c[RMAP_STATC_limit_drops] = rc->limit_drops;
	c[RMAP_STATC_unknown_peer] = rc->unknown_peer;
	c[RMAP_STATC_handshakes] = rc->handshakes;
	c[RMAP_STATC_bad_session] = srv->st.bad_session;
	c[RMAP_STATC_session_limit] = srv->st.session_limit;
}

void server_host(const struct server *srv, uint64_t h[RMAP_STATH_N])
{
	const struct spin_gov *g = evl_spin(srv->loop);
	struct rusage ru = { 0 };

	getrusage(RUSAGE_SELF, &ru);
	h[RMAP_STATH_cpu_user_ms] = (uint64_t)ru.ru_utime.tv_sec * 1000 +
				    (uint64_t)ru.ru_utime.tv_usec / 1000;
	h[RMAP_STATH_cpu_sys_ms] = (uint64_t)ru.ru_stime.tv_sec * 1000 +
				   (uint64_t)ru.ru_stime.tv_usec / 1000;
	h[RMAP_STATH_polls] = g->polls;
	h[RMAP_STATH_poll_hits] = g->hits;
	h[RMAP_STATH_poll_misses] = g->misses;
	h[RMAP_STATH_poll_skipped_score] = g->skipped_score;
	h[RMAP_STATH_poll_skipped_crowded] = g->skipped_crowded;
}

void server_transport(const struct server *srv, uint64_t t[RMAP_STATT_N])
{
	const struct rmap_counters *rc = rmap_ep_counters(srv->ep);

#define X(name, help) t[RMAP_STATT_##name] = rc->name;
	RMAP_STAT_TRANSPORT(X)
#undef X
}

/* store_reserve's progress: a line every tenth of a large capacity. */
static void reserve_progress(uint64_t done, uint64_t total, void *arg)
{
	unsigned *logged = arg, tenth = (unsigned)(done * 10 / total);

	if (total < (1ull << 30) || done == total || tenth == *logged)
		return;
	*logged = tenth;
	log_info("reserving %lu MiB for the store: %lu MiB locked (%u%%)",
		 (unsigned long)(total >> 20), (unsigned long)(done >> 20),
		 tenth * 10);
}

/*
 * The bracketed choice of a transparent huge page setting, e.g. "madvise"
 * from "always [madvise] never", or "unknown".
 */
static void thp_setting(const char *name, char *out, size_t len)
{
	char path[96], line[128], *l, *r;
	FILE *f;

	snprintf(out, len, "unknown");
	snprintf(path, sizeof(path), "/sys/kernel/mm/transparent_hugepage/%s",
		 name);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(line, sizeof(line), f) && (l = strchr(line, '[')) &&
	    (r = strchr(l, ']'))) {
		*r = '\0';
		snprintf(out, len, "%s", l + 1);
	}
	fclose(f);
}

/*
 * How much of the reserve the kernel put on huge pages: all of it, or
 * why the copies into and out of slots will miss the TLB more.
 */
static void log_reserve_huge(struct server *srv)
{
	uint64_t total = store_capacity(srv->store) * RMAP_PAGE_SIZE;
	int64_t huge = store_reserved_huge_bytes(srv->store);
	char enabled[32], defrag[32];

	if (huge < 0) {
		log_info("the store's reserve: how much is on huge pages is "
			 "unknown (/proc/self/smaps: %s)", strerror((int)-huge));
		return;
	}
	if ((uint64_t)huge >= total) {
		log_info("the store's reserve is all on huge pages (%lu MiB)",
			 (unsigned long)((uint64_t)huge >> 20));
		return;
	}
	thp_setting("enabled", enabled, sizeof(enabled));
	thp_setting("defrag", defrag, sizeof(defrag));
	log_warn("only %lu of the store's %lu MiB are on huge pages "
		 "(transparent_hugepage enabled=%s defrag=%s): copies into "
		 "and out of slots miss the TLB more; huge pages need "
		 "enabled=madvise or always, and free memory not yet "
		 "fragmented", (unsigned long)((uint64_t)huge >> 20),
		 (unsigned long)(total >> 20), enabled, defrag);
}

/*
 * The whole capacity mapped, touched and locked before any client is
 * heard (store_reserve), or why not.
 */
static int server_reserve(struct server *srv)
{
	uint64_t mib = store_capacity(srv->store) * RMAP_PAGE_SIZE >> 20;
	uint64_t t0 = evl_now_ns();
	unsigned logged = 0;
	struct rlimit rl;
	char hint[160] = "";
	int ret;

	ret = store_reserve(srv->store, reserve_progress, &logged);
	if (!ret) {
		log_info("reserved %lu MiB for the store, locked in RAM, in "
			 "%.1f s", (unsigned long)mib,
			 (double)(evl_now_ns() - t0) / 1e9);
		log_reserve_huge(srv);
		return 0;
	}
	/* root locks past the limit (CAP_IPC_LOCK) */
	if (geteuid() && getrlimit(RLIMIT_MEMLOCK, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY)
		snprintf(hint, sizeof(hint), " (RLIMIT_MEMLOCK is %lu KiB: "
			 "raise it, e.g. LimitMEMLOCK=infinity in the unit, "
			 "or run as root)", (unsigned long)(rl.rlim_cur >> 10));
	else if (ret == -ENOMEM || ret == -EAGAIN)
		snprintf(hint, sizeof(hint), " (the host has not that much "
			 "memory to lock: lend less)");
	log_err("cannot reserve %lu MiB for the store: %s%s; without "
		"--reserve the store takes memory as it fills", (unsigned long)mib,
		strerror(-ret), hint);
	return ret;
}

/*
 * The route to a client changed MTU: its replies go out cut for the new
 * one (RMAP found it refusing a run cut for the old, or looked again).
 */
static void on_mtu_changed(struct rmap_ep *ep, struct rmap_peer *peer,
			   unsigned old_mtu, void *arg)
{
	unsigned mtu = rmap_peer_mtu(peer);

	(void)ep;
	(void)arg;
	log_info("client %s: the route's MTU is now %u (was %u); replies to "
		 "it are cut for %u from now on", rmap_peer_name(peer), mtu,
		 old_mtu, mtu);
}

static void expiry_fire(struct evl *loop, struct evl_timer *t)
{
	struct server *srv = evl_container_of(t, struct server, expiry_timer);
	uint64_t now = evl_now_ns();
	uint64_t span = now - srv->window_start_ns;

	server_expire(srv, now);
	leave_check_empty(srv);
	give_back_soon(srv);
	refusals_tick(&srv->refusals, rmap_ep_counters(srv->ep), now,
		      "memory server");
	if (span) {
		uint64_t l = srv->busy_ns * 1000 / span;

		srv->st.load_permille = (uint32_t)(l > 1000 ? 1000 : l);
	}
	srv->busy_ns = 0;
	srv->window_start_ns = now;
	evl_timer_arm(loop, t, (uint64_t)srv->cfg.heartbeat_ms * 1000000ull);
}

static void announce_fire(struct evl *loop, struct evl_timer *t)
{
	struct server *srv = evl_container_of(t, struct server, announce_timer);
	struct rmap_stat st;

	if (srv->leaving)
		return;
	fill_stat(srv, &st, 0);
	for (unsigned i = 0; i < srv->n_announce; i++)
		rmap_announce(srv->ep, &srv->announce_to[i], &st);
	evl_timer_arm(loop, t, (uint64_t)srv->cfg.announce_ms * 1000000ull);
}

int server_new(struct server **out, struct evl *loop,
	       const struct server_config *cfg)
{
	struct rmap_handlers h = {
		.request = on_request,
		.peer_state = on_peer_state,
		.mtu_changed = on_mtu_changed,
		.accept_new_peers = true,
	};
	struct sockaddr_storage addr;
	struct server *srv;
	char why[320];
	int ret;

	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->loop = loop;
	srv->cfg = *cfg;
	srv->scratch = malloc(RMAP_MAX_MSG);
	srv->tags = malloc((size_t)RMAP_MAX_PAGES * RMAP_TAG_LEN);
	if (!srv->scratch || !srv->tags) {
		free(srv->scratch);
		free(srv->tags);
		free(srv);
		return -ENOMEM;
	}
	if (cfg->corrupt.kind)
		log_warn("TEST HOOK: this server corrupts what it returns "
			 "(%s, rate %.3f): for tests only, never production",
			 cfg->corrupt.kind == CORRUPT_FLIP ? "flip" :
			 cfg->corrupt.kind == CORRUPT_SWAP ? "swap" : "short",
			 cfg->corrupt.rate);
	evl_timer_init(&srv->expiry_timer, expiry_fire);
	evl_timer_init(&srv->announce_timer, announce_fire);
	evl_timer_init(&srv->give_back_timer, give_back_fire);
	h.arg = srv;
	ret = rmap_parse_addr(cfg->listen ? cfg->listen : "0.0.0.0",
			      RMAP_DEFAULT_PORT, &addr);
	if (ret) {
		log_err("cannot parse listen address '%s'", cfg->listen);
		goto err;
	}
	for (char *const *a = cfg->announce_to; a && *a; a++) {
		srv->announce_to = realloc(srv->announce_to,
					   (srv->n_announce + 1) * sizeof(addr));
		if (!srv->announce_to) {
			ret = -ENOMEM;
			goto err;
		}
		ret = rmap_parse_addr(*a, RMAP_DEFAULT_PORT,
				      &srv->announce_to[srv->n_announce]);
		if (ret) {
			log_err("cannot parse announce address '%s'", *a);
			goto err;
		}
		srv->n_announce++;
	}
	ret = store_new(&srv->store, cfg->capacity_pages);
	if (ret) {
		log_err("capacity of %lu pages is not usable",
			(unsigned long)cfg->capacity_pages);
		goto err;
	}
	ret = store_set_dedup(srv->store, cfg->dedup);
	if (ret)
		goto err;
	if (cfg->reserve) {
		ret = server_reserve(srv);
		if (ret)
			goto err;
	}
	srv->sessions = g_hash_table_new(NULL, NULL);
	srv->regs = g_hash_table_new(g_int64_hash, g_int64_equal);
	srv->clients = g_hash_table_new_full(server_client_hash,
					     server_client_equal, NULL,
					     free);
	ret = rmap_ep_open(&srv->ep, loop, (struct sockaddr *)&addr,
			   rmap_addr_len(&addr), &cfg->rmap, &h);
	if (ret) {
		log_err("cannot listen on %s: %s%s", cfg->listen ? cfg->listen :
			"0.0.0.0", strerror(-ret), ret == -EADDRINUSE ?
			" (another process holds the port: a second memxd "
			"--server?)" : "");
		goto err;
	}
	if (rmap_ep_sockbuf_short(srv->ep, why, sizeof(why)))
		log_warn("%s", why);
	srv->window_start_ns = evl_now_ns();
	refusals_init(&srv->refusals, rmap_ep_counters(srv->ep),
		      srv->window_start_ns);
	if (cfg->spin_us)
		evl_set_spin(loop, request_due, srv,
			     (uint64_t)cfg->spin_us * 1000);
	evl_timer_arm(loop, &srv->expiry_timer,
		      (uint64_t)cfg->heartbeat_ms * 1000000ull);
	if (cfg->announce_ms && srv->n_announce)
		evl_timer_arm(loop, &srv->announce_timer, 0);
	*out = srv;
	return 0;
err:
	server_free(srv);
	return ret;
}

void server_free(struct server *srv)
{
	GHashTableIter it;
	gpointer v;

	if (!srv)
		return;
	evl_timer_cancel(srv->loop, &srv->expiry_timer);
	evl_timer_cancel(srv->loop, &srv->announce_timer);
	evl_timer_cancel(srv->loop, &srv->give_back_timer);
	if (srv->cfg.spin_us)
		evl_set_spin(srv->loop, NULL, NULL, 0);
	rmap_ep_close(srv->ep);
	if (srv->sessions) {
		g_hash_table_iter_init(&it, srv->sessions);
		while (g_hash_table_iter_next(&it, NULL, &v))
			session_free(srv, v);
		g_hash_table_destroy(srv->sessions);
	}
	if (srv->regs)
		g_hash_table_destroy(srv->regs);
	if (srv->clients)
		g_hash_table_destroy(srv->clients);
	store_free(srv->store);
	free(srv->announce_to);
	free(srv->scratch);
	free(srv->tags);
	free(srv);
}

uint16_t server_port(const struct server *srv)
{
	return rmap_ep_port(srv->ep);
}

struct rmap_ep *server_ep(struct server *srv)
{
	return srv->ep;
}

void server_stats(const struct server *srv, struct server_stats *st)
{
	struct store_stats ss;

	store_stats(srv->store, &ss);
	*st = srv->st;
	st->capacity_pages = ss.capacity_pages;
	st->used_pages = ss.unique_pages;
	st->logical_pages = ss.logical_pages;
	st->hashed_pages = ss.hashed_pages;
	st->hash_ns = ss.hash_ns;
	st->give_back_pages = ss.give_back_pages;
	st->freeing_pages = ss.freeing_pages;
	st->sessions = g_hash_table_size(srv->sessions);
	st->leaving = srv->leaving;
}
