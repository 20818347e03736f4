// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * check_server.c - memxd's store role, end to end over loopback: a real
 * server (server_new on 127.0.0.1:0) and an RMAP client endpoint in one
 * event loop.  Sessions, every request type, the capacity limit
 * (RMAP_S_FULL, nothing written), leases, ATTACH and UNREG; the
 * page-group (XOR parity) requests, and LEAVE; MOVE, which lets another
 * client's key take a session over (live migration).  And the pager's
 * view of its servers (remote_liveness.c) over three real ones whose
 * answers a test can silence: down, cut off, healed.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "memxd/log.h"
#include "memxd/pager/remote.h"
#include "memxd/refusals.h"
#include "memxd/server/server.h"
#include "rmap/rmap.h"
#include "tests/check_util.h"

#define PG	RMAP_PAGE_SIZE

static struct evl *loop;
static struct server *srv;
static struct rmap_ep *cli;
static struct rmap_peer *peer;
static unsigned announcements;	/* ANNOUNCEs the client heard */
static struct rmap_stat announced;

static void on_announce(struct rmap_ep *ep, const struct sockaddr_storage *from,
			const struct rmap_stat *st, void *arg)
{
	announcements++;
	announced = *st;
}

/*
 * Keys: the server's, the client's (a restarted client has the same),
 * and another client's that the server also allows.  Every test runs
 * authenticated and encrypted, as memxd does.
 */
static uint8_t key_s[RMAP_KEY_LEN], key_c[RMAP_KEY_LEN], key_x[RMAP_KEY_LEN];
static struct rmap_peer_key allowed[2];

static void keys_init(void)
{
	uint8_t pub[RMAP_KEY_LEN];

	ck_assert_int_eq(rmap_key_generate(key_s), 0);
	ck_assert_int_eq(rmap_key_generate(key_c), 0);
	ck_assert_int_eq(rmap_key_generate(key_x), 0);
	memset(allowed, 0, sizeof(allowed));
	rmap_key_public(key_c, pub);
	memcpy(allowed[0].pub, pub, RMAP_KEY_LEN);
	rmap_key_public(key_x, pub);
	memcpy(allowed[1].pub, pub, RMAP_KEY_LEN);
}

/* A client's configuration with private key @priv: it knows nobody yet. */
static void client_cfg(struct rmap_config *cfg, const uint8_t *priv)
{
	rmap_config_default(cfg);
	cfg->auth.have_key = true;
	memcpy(cfg->auth.private_key, priv, RMAP_KEY_LEN);
	/* Whom it may talk to is added once the server has a port. */
	cfg->auth.peers = allowed;
	cfg->auth.npeers = 0;
}

/* Tell client endpoint @ep the server's key, at the server's address. */
static void know_server(struct rmap_ep *ep, const struct sockaddr_storage *at)
{
	struct rmap_peer_key pk = { .has_addr = true, .addr = *at };

	rmap_key_public(key_s, pk.pub);
	ck_assert_int_eq(rmap_ep_add_peer(ep, &pk), 0);
}

/* A server, and a client endpoint it announces to every @announce_ms. */
static unsigned lease_s = 600;
static struct server_corrupt corrupt;	/* the next server's test hook */
static uint16_t req_flags;		/* the next requests' RMAP_F_TAGS */
/*
 * The next server's dedup.  The tests written before dedup write the
 * same pages in places where they mean distinct ones: they run with it
 * off, as a server with --dedup=off, which must behave as before.
 */
static bool dedup_on = true;
static bool reserve_on;			/* the next server's --reserve */

static void setup_server_announcing(uint64_t capacity, unsigned heartbeat_ms,
				    unsigned announce_ms)
{
	char cli_addr[32];
	char *announce_to[] = { cli_addr, NULL };
	struct server_config cfg = {
		.listen = "127.0.0.1:0",
		.capacity_pages = capacity,
		.heartbeat_ms = heartbeat_ms,
		.lease_s = lease_s,
		.announce_ms = announce_ms,
		.announce_to = announce_ms ? announce_to : NULL,
		.corrupt = corrupt,
		.dedup = dedup_on,
		.reserve = reserve_on,
	};
	/* ANNOUNCE is never authenticated: heard as discovery hears it. */
	struct rmap_handlers ch = { .announce = on_announce,
				    .unauth_announce = true };
	struct sockaddr_storage any, to;
	struct sockaddr_in *sin;

	log_set_level(LOG_LEVEL_ERR);
	announcements = 0;
	keys_init();
	client_cfg(&cfg.rmap, key_c);
	cfg.rmap.retry_us = 2000;
	ck_assert_int_eq(evl_new(&loop, 256), 0);

	memset(&any, 0, sizeof(any));
	sin = (struct sockaddr_in *)&any;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(rmap_ep_open(&cli, loop, (struct sockaddr *)&any,
				      sizeof(*sin), &cfg.rmap, &ch), 0);
	snprintf(cli_addr, sizeof(cli_addr), "127.0.0.1:%u",
		 (unsigned)rmap_ep_port(cli));
	/* The server: its key, the two clients it allows. */
	memcpy(cfg.rmap.auth.private_key, key_s, RMAP_KEY_LEN);
	cfg.rmap.auth.npeers = 2;
	ck_assert_int_eq(server_new(&srv, loop, &cfg), 0);
	ck_assert_uint_ne(server_port(srv), 0);
	ck_assert(rmap_ep_secure(server_ep(srv)));
	to = any;
	((struct sockaddr_in *)&to)->sin_port = htons(server_port(srv));
	know_server(cli, &to);
	peer = rmap_peer_get(cli, &to);
	ck_assert_ptr_nonnull(peer);
}

static void setup_server(uint64_t capacity, unsigned heartbeat_ms)
{
	lease_s = 600;
	setup_server_announcing(capacity, heartbeat_ms, 0);
}

/* A server whose sessions are leased for @lease seconds. */
static void setup_server_leased(uint64_t capacity, unsigned lease)
{
	lease_s = lease;
	setup_server_announcing(capacity, 50, 0);
}

static void teardown_server(void)
{
	rmap_ep_close(cli);
	server_free(srv);
	evl_free(loop);
	dedup_on = true;
}

struct done {
	unsigned calls;
	int err;
	uint8_t status;
	uint16_t flags;
	uint32_t session, len, count;
	uint64_t page;
};

static void on_reply(void *arg, int err, const struct rmap_msg *resp)
{
	struct done *d = arg;

	d->calls++;
	d->err = err;
	if (resp) {
		d->status = resp->status;
		d->session = resp->session;
		d->len = resp->len;
		d->flags = resp->flags;
		d->count = resp->count;
		d->page = resp->page;
	}
}

/* One request from endpoint @ep to @to, waited for: the reply status. */
static uint8_t req_from(struct rmap_ep *ep, struct rmap_peer *to, uint8_t type,
			uint32_t session, uint64_t page, uint32_t count,
			const void *data, uint32_t data_len, void *resp,
			uint32_t cap, struct done *d)
{
	struct iovec iov = { (void *)data, data_len };
	struct rmap_req r = {
		.type = type, .session = session, .page = page, .count = count,
		.iov = data ? &iov : NULL, .iovcnt = data ? 1 : 0,
		.flags = rmap_type_has_run(type) && type != RMAP_T_FREE ?
			 req_flags : 0,
	};

	memset(d, 0, sizeof(*d));
	ck_assert_int_eq(rmap_call(ep, to, &r, resp, cap, on_reply, d), 0);
	TU_RUN_UNTIL(loop, d->calls, TU_DEADLINE_MS);
	ck_assert_uint_eq(d->calls, 1);
	ck_assert_int_eq(d->err, 0);
	return d->status;
}

/* One request from the test's client, waited for: the reply status. */
static uint8_t req(uint8_t type, uint32_t session, uint64_t page,
		   uint32_t count, const void *data, uint32_t data_len,
		   void *resp, uint32_t cap, struct done *d)
{
	return req_from(cli, peer, type, session, page, count, data, data_len,
			resp, cap, d);
}

/* The secret a test gives with nonce @nonce: derived, so ATTACH knows it. */
static void secret_of(uint64_t nonce, uint8_t *secret)
{
	for (unsigned i = 0; i < RMAP_SECRET_LEN; i++)
		secret[i] = (uint8_t)(nonce * 131 + i * 7 + 1);
}

static uint32_t reg(uint64_t nonce, unsigned heartbeat_ms)
{
	uint8_t n[RMAP_REG_LEN], body[RMAP_SESSION_INFO_LEN];
	struct rmap_session_info si;
	struct done d;

	for (unsigned i = 0; i < 8; i++)
		n[i] = (uint8_t)(nonce >> (56 - 8 * i));
	secret_of(nonce, n + 8);
	ck_assert_uint_eq(req(RMAP_T_REG, 0, 0, 0, n, sizeof(n), body,
			      sizeof(body), &d), RMAP_S_OK);
	ck_assert_uint_ne(d.session, 0);
	/* The reply says how often to heartbeat, and how long the lease is. */
	ck_assert_int_eq(rmap_session_info_decode(body, d.len, &si), 0);
	ck_assert_uint_eq(si.heartbeat_ms, heartbeat_ms);
	ck_assert_uint_eq(si.lease_s, lease_s);
	return d.session;
}

static void pages(uint8_t tag, uint8_t *buf, uint32_t n)
{
	for (uint32_t i = 0; i < n * PG; i++)
		buf[i] = (uint8_t)(tag + i * 31 + (i >> 12));
}

static struct server_stats stats(void)
{
	struct server_stats st;

	server_stats(srv, &st);
	return st;
}

START_TEST(test_requests_end_to_end)
{
	static uint8_t w[3 * PG], r[3 * PG];
	uint8_t body[RMAP_STAT_LEN];
	struct rmap_stat st;
	struct done d;
	uint32_t s, s2;

	setup_server(1000, 10000);
	s = reg(0x1122334455667788ull, 10000);
	/* A retried REG (same nonce) gets the same session. */
	ck_assert_uint_eq(reg(0x1122334455667788ull, 10000), s);
	ck_assert_uint_eq(stats().sessions, 1);

	pages(1, w, 3);
	ck_assert_uint_eq(req(RMAP_T_WRITE, s, 100, 3, w, sizeof(w), NULL, 0,
			      &d), RMAP_S_OK);
	ck_assert_uint_eq(d.session, s);
	ck_assert_uint_eq(req(RMAP_T_READ, s, 100, 3, NULL, 0, r, sizeof(r),
			      &d), RMAP_S_OK);
	ck_assert_uint_eq(d.len, sizeof(r));
	ck_assert_mem_eq(r, w, sizeof(w));
	ck_assert_uint_eq(req(RMAP_T_READ, s, 101, 1, NULL, 0, r, PG, &d),
			  RMAP_S_OK);
	ck_assert_mem_eq(r, w + PG, PG);
	ck_assert_uint_eq(req(RMAP_T_READ, s, 102, 2, NULL, 0, r, sizeof(r),
			      &d), RMAP_S_NOENT);
	ck_assert_uint_eq(d.len, 0);

	ck_assert_uint_eq(req(RMAP_T_STAT, s, 0, 0, NULL, 0, body,
			      sizeof(body), &d), RMAP_S_OK);
	ck_assert_int_eq(rmap_stat_decode(body, d.len, &st), 0);
	ck_assert_uint_eq(st.capacity_pages, 1000);
	ck_assert_uint_eq(st.used_pages, 3);
	ck_assert_uint_eq(st.sessions, 1);
	ck_assert_uint_eq(st.port, server_port(srv));

	ck_assert_uint_eq(req(RMAP_T_HEARTBEAT, s, 0, 0, NULL, 0, NULL, 0, &d),
			  RMAP_S_OK);

	ck_assert_uint_eq(req(RMAP_T_FREE, s, 101, 1, NULL, 0, NULL, 0, &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(stats().used_pages, 2);
	ck_assert_uint_eq(req(RMAP_T_READ, s, 101, 1, NULL, 0, r, PG, &d),
			  RMAP_S_NOENT);
	ck_assert_uint_eq(req(RMAP_T_READ, s, 102, 1, NULL, 0, r, PG, &d),
			  RMAP_S_OK);
	ck_assert_mem_eq(r, w + 2 * PG, PG);

	/* Another session sees none of these pages. */
	s2 = reg(42, 10000);
	ck_assert_uint_ne(s2, s);
	ck_assert_uint_eq(req(RMAP_T_READ, s2, 100, 1, NULL, 0, r, PG, &d),
			  RMAP_S_NOENT);
	ck_assert_uint_eq(stats().sessions, 2);

	/* Unknown sessions are refused. */
	ck_assert_uint_eq(req(RMAP_T_READ, s ^ s2 ^ 1, 100, 1, NULL, 0, r, PG,
			      &d), RMAP_S_BADSESSION);
	ck_assert_uint_eq(req(RMAP_T_WRITE, 0, 5, 1, w, PG, NULL, 0, &d),
			  RMAP_S_BADSESSION);
	ck_assert_uint_eq(stats().bad_session, 2);
	ck_assert_uint_eq(stats().used_pages, 2);

	ck_assert_uint_eq(stats().reads, 6);
	ck_assert_uint_eq(stats().writes, 1);
	ck_assert_uint_eq(stats().frees, 1);

	/*
	 * A request of a later version is answered "unsupported", with or
	 * without a session, and the window moves on past it.
	 */
	ck_assert_uint_eq(req(RMAP_T_MAX + 1, s, 0, 0, "x", 1, NULL, 0, &d),
			  RMAP_S_UNSUPP);
	ck_assert_uint_eq(req(RMAP_T_LIMIT - 1, 0, 0, 0, NULL, 0, NULL, 0, &d),
			  RMAP_S_UNSUPP);
	ck_assert_uint_eq(req(RMAP_T_HEARTBEAT, s, 0, 0, NULL, 0, NULL, 0, &d),
			  RMAP_S_OK);
	teardown_server();
}
END_TEST

START_TEST(test_capacity_full_writes_nothing)
{
	static uint8_t w[8 * PG], r[PG];
	struct done d;
	uint32_t s, s2;

	dedup_on = false;
	setup_server(8, 10000);
	s = reg(1, 10000);
	s2 = reg(2, 10000);
	pages(1, w, 8);
	ck_assert_uint_eq(req(RMAP_T_WRITE, s, 0, 6, w, 6 * PG, NULL, 0, &d),
			  RMAP_S_OK);
	/* 4 fresh pages, room for 2: refused whole. */
	ck_assert_uint_eq(req(RMAP_T_WRITE, s, 6, 4, w, 4 * PG, NULL, 0, &d),
			  RMAP_S_FULL);
	ck_assert_uint_eq(stats().used_pages, 6);
	ck_assert_uint_eq(req(RMAP_T_READ, s, 6, 1, NULL, 0, r, PG, &d),
			  RMAP_S_NOENT);
	/* Overwrites still work at any fill. */
	pages(9, w, 8);
	ck_assert_uint_eq(req(RMAP_T_WRITE, s, 0, 6, w, 6 * PG, NULL, 0, &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(req(RMAP_T_WRITE, s2, 0, 2, w, 2 * PG, NULL, 0, &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(stats().used_pages, 8);
	/* Full: any session's fresh page is refused, with a distinct status. */
	ck_assert_uint_eq(req(RMAP_T_WRITE, s2, 2, 1, w, PG, NULL, 0, &d),
			  RMAP_S_FULL);
	ck_assert_uint_eq(req(RMAP_T_WRITE, s, 6, 1, w, PG, NULL, 0, &d),
			  RMAP_S_FULL);
	ck_assert_uint_eq(stats().used_pages, 8);
	ck_assert_uint_eq(stats().full_refusals, 3);
	ck_assert_uint_eq(req(RMAP_T_READ, s, 5, 1, NULL, 0, r, PG, &d),
			  RMAP_S_OK);
	ck_assert_mem_eq(r, w + 5 * PG, PG);
	/* FREE makes room again. */
	ck_assert_uint_eq(req(RMAP_T_FREE, s2, 0, 100, NULL, 0, NULL, 0, &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(req(RMAP_T_WRITE, s, 6, 2, w, 2 * PG, NULL, 0, &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(stats().used_pages, 8);
	teardown_server();
}
END_TEST

START_TEST(test_lease_synthetic_clock)
{
	static uint8_t w[2 * PG], r[PG];
	struct done d;
	uint64_t now;
	uint32_t s;

	setup_server_leased(100, 60);
	s = reg(7, 50);
	pages(3, w, 2);
	ck_assert_uint_eq(req(RMAP_T_WRITE, s, 0, 2, w, sizeof(w), NULL, 0, &d),
			  RMAP_S_OK);
	now = evl_now_ns();
	/* Silent for many heartbeats, and for most of the lease: kept. */
	ck_assert_uint_eq(server_expire(srv, now + 59 * 1000000000ull), 0);
	ck_assert_uint_eq(stats().sessions, 1);
	ck_assert_uint_eq(stats().used_pages, 2);
	/* The lease runs out: gone, and its pages with it. */
	ck_assert_uint_eq(server_expire(srv, now + 61 * 1000000000ull), 1);
	ck_assert_uint_eq(stats().sessions, 0);
	ck_assert_uint_eq(stats().used_pages, 0);
	ck_assert_uint_eq(stats().expired_sessions, 1);
	ck_assert_uint_eq(req(RMAP_T_READ, s, 0, 1, NULL, 0, r, PG, &d),
			  RMAP_S_BADSESSION);
	ck_assert_uint_eq(req(RMAP_T_HEARTBEAT, s, 0, 0, NULL, 0, NULL, 0, &d),
			  RMAP_S_BADSESSION);
	teardown_server();
}
END_TEST

START_TEST(test_lease_real_time)
{
	static uint8_t w[PG];
	struct done d;
	uint32_t s;

	setup_server_leased(100, 1);
	s = reg(8, 50);
	pages(4, w, 1);
	ck_assert_uint_eq(req(RMAP_T_WRITE, s, 0, 1, w, sizeof(w), NULL, 0, &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(stats().used_pages, 1);
	/* Silent for twenty heartbeat intervals, within the lease: kept. */
	tu_run_for(loop, 800);
	ck_assert_uint_eq(stats().sessions, 1);
	/* Past the lease. */
	tu_run_for(loop, 400);
	ck_assert_uint_eq(stats().sessions, 0);
	ck_assert_uint_eq(stats().used_pages, 0);
	ck_assert_uint_eq(stats().expired_sessions, 1);
	ck_assert_uint_eq(req(RMAP_T_HEARTBEAT, s, 0, 0, NULL, 0, NULL, 0, &d),
			  RMAP_S_BADSESSION);
	teardown_server();
}
END_TEST

START_TEST(test_traffic_renews_lease)
{
	static uint8_t w[PG], r[PG];
	struct done d;
	uint32_t s;

	setup_server_leased(100, 1);
	s = reg(9, 50);
	pages(5, w, 1);
	ck_assert_uint_eq(req(RMAP_T_WRITE, s, 3, 1, w, sizeof(w), NULL, 0, &d),
			  RMAP_S_OK);
	/* Two seconds, twice the lease, with a heartbeat every 200 ms. */
	for (unsigned i = 0; i < 10; i++) {
		ck_assert_uint_eq(req(RMAP_T_HEARTBEAT, s, 0, 0, NULL, 0, NULL,
				      0, &d), RMAP_S_OK);
		tu_run_for(loop, 200);
	}
	ck_assert_uint_eq(stats().expired_sessions, 0);
	ck_assert_uint_eq(req(RMAP_T_READ, s, 3, 1, NULL, 0, r, PG, &d),
			  RMAP_S_OK);
	ck_assert_mem_eq(r, w, PG);
	teardown_server();
}
END_TEST

/*
 * A second client endpoint, as a restarted memxd is: a new port, the same
 * key (@priv key_c), or another client's (key_x).
 */
static struct rmap_ep *client2_keyed(struct rmap_peer **to,
				     const uint8_t *priv)
{
	struct sockaddr_storage any, srvaddr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&any;
	struct rmap_handlers h = { 0 };
	struct rmap_config cfg;
	struct rmap_ep *ep;

	client_cfg(&cfg, priv);
	memset(&any, 0, sizeof(any));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(rmap_ep_open(&ep, loop, (struct sockaddr *)&any,
				      sizeof(*sin), &cfg, &h), 0);
	srvaddr = any;
	((struct sockaddr_in *)&srvaddr)->sin_port = htons(server_port(srv));
	know_server(ep, &srvaddr);
	*to = rmap_peer_get(ep, &srvaddr);
	return ep;
}

static struct rmap_ep *client2(struct rmap_peer **to)
{
	return client2_keyed(to, key_c);
}

/*
 * A restarted client (a new address) takes its session over with ATTACH
 * and the secret it gave at REG; a wrong secret, or none, is refused,
 * and from then on the old address is.
 */
START_TEST(test_attach_takes_over)
{
	static uint8_t w[2 * PG], r[2 * PG];
	uint8_t secret[RMAP_SECRET_LEN], body[RMAP_SESSION_INFO_LEN];
	struct rmap_session_info si;
	struct rmap_peer *to;
	struct rmap_ep *ep2;
	struct done d;
	uint32_t s;

	setup_server(100, 10000);
	s = reg(33, 10000);
	pages(6, w, 2);
	ck_assert_uint_eq(req(RMAP_T_WRITE, s, 10, 2, w, sizeof(w), NULL, 0,
			      &d), RMAP_S_OK);
	ep2 = client2(&to);
	/* Another address may not use the session... */
	ck_assert_uint_eq(req_from(ep2, to, RMAP_T_READ, s, 10, 2, NULL, 0, r,
				   sizeof(r), &d), RMAP_S_BADSESSION);
	/* ...nor take it without its secret. */
	secret_of(34, secret);
	ck_assert_uint_eq(req_from(ep2, to, RMAP_T_ATTACH, s, 0, 0, secret,
				   sizeof(secret), body, sizeof(body), &d),
			  RMAP_S_BADSESSION);
	ck_assert_uint_eq(req_from(ep2, to, RMAP_T_ATTACH, s ^ 1, 0, 0, secret,
				   sizeof(secret), body, sizeof(body), &d),
			  RMAP_S_BADSESSION);
	/* With it, it is the new address's, pages and all. */
	secret_of(33, secret);
	ck_assert_uint_eq(req_from(ep2, to, RMAP_T_ATTACH, s, 0, 0, secret,
				   sizeof(secret), body, sizeof(body), &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(d.session, s);
	ck_assert_int_eq(rmap_session_info_decode(body, d.len, &si), 0);
	ck_assert_uint_eq(si.lease_s, 600);
	ck_assert_uint_eq(req_from(ep2, to, RMAP_T_READ, s, 10, 2, NULL, 0, r,
				   sizeof(r), &d), RMAP_S_OK);
	ck_assert_mem_eq(r, w, sizeof(w));
	ck_assert_uint_eq(req(RMAP_T_READ, s, 10, 1, NULL, 0, r, PG, &d),
			  RMAP_S_BADSESSION);
	ck_assert_uint_eq(stats().attached, 1);
	rmap_ep_close(ep2);
	teardown_server();
}
END_TEST

/*
 * Sessions are bound to the client's static key: another client (another
 * key the server allows) that knows the secret still cannot take one
 * over, nor use it (issue 11).  The server's counters say so.
 */
START_TEST(test_attach_needs_same_key)
{
	static uint8_t w[PG], r[PG];
	uint8_t secret[RMAP_SECRET_LEN], body[RMAP_SESSION_INFO_LEN];
	uint8_t want[RMAP_STAT_REQ_LEN] = { 0, 0, 0, RMAP_STAT_WANT_COUNTERS };
	uint8_t st[RMAP_STAT_EXT_LEN], all[RMAP_STAT_MAX_LEN];
	uint64_t c[RMAP_STATC_N], t[RMAP_STATT_N];
	struct rmap_peer *to;
	struct rmap_ep *ep2;
	struct done d;
	uint32_t s;

	setup_server(100, 10000);
	s = reg(55, 10000);
	pages(9, w, 1);
	ck_assert_uint_eq(req(RMAP_T_WRITE, s, 3, 1, w, sizeof(w), NULL, 0,
			      &d), RMAP_S_OK);
	ep2 = client2_keyed(&to, key_x);
	secret_of(55, secret);
	ck_assert_uint_eq(req_from(ep2, to, RMAP_T_ATTACH, s, 0, 0, secret,
				   sizeof(secret), body, sizeof(body), &d),
			  RMAP_S_BADSESSION);
	ck_assert_uint_eq(req_from(ep2, to, RMAP_T_READ, s, 3, 1, NULL, 0, r,
				   sizeof(r), &d), RMAP_S_BADSESSION);
	ck_assert_uint_eq(req_from(ep2, to, RMAP_T_UNREG, s, 0, 0, NULL, 0,
				   NULL, 0, &d), RMAP_S_BADSESSION);
	/* The owner still has it, pages and all. */
	ck_assert_uint_eq(req(RMAP_T_READ, s, 3, 1, NULL, 0, r, PG, &d),
			  RMAP_S_OK);
	ck_assert_mem_eq(r, w, PG);
	/* STAT with the counters: what was refused. */
	ck_assert_uint_eq(req(RMAP_T_STAT, 0, 0, 0, want, sizeof(want), st,
			      sizeof(st), &d), RMAP_S_OK);
	ck_assert_uint_eq(d.len, RMAP_STAT_EXT_LEN);
	rmap_stat_counters_decode(st + RMAP_STAT_LEN, c);
	ck_assert_uint_eq(c[RMAP_STATC_bad_session], 3);
	ck_assert_uint_eq(c[RMAP_STATC_handshakes], 2);
	ck_assert_uint_eq(c[RMAP_STATC_auth_failures], 0);
	/* A plain STAT still gets the plain body. */
	ck_assert_uint_eq(req(RMAP_T_STAT, 0, 0, 0, NULL, 0, st, sizeof(st),
			      &d), RMAP_S_OK);
	ck_assert_uint_eq(d.len, RMAP_STAT_LEN);
	/* With the transport block too: what its sending cost. */
	want[3] = RMAP_STAT_WANT_COUNTERS | RMAP_STAT_WANT_TRANSPORT;
	ck_assert_uint_eq(req(RMAP_T_STAT, 0, 0, 0, want, sizeof(want), all,
			      sizeof(all), &d), RMAP_S_OK);
	ck_assert_uint_eq(d.len, RMAP_STAT_EXT_LEN + RMAP_STAT_TRANSPORT_LEN);
	rmap_stat_counters_decode(all + RMAP_STAT_LEN, c);
	ck_assert_uint_eq(c[RMAP_STATC_bad_session], 3);
	rmap_stat_transport_decode(all + rmap_stat_block_off(want[3],
				   RMAP_STAT_WANT_TRANSPORT), t);
	/* The answers to REG, WRITE, the three refusals, READ and STATs. */
	ck_assert_uint_ge(t[RMAP_STATT_tx_packets], 9);
	ck_assert_uint_eq(t[RMAP_STATT_send_errors], 0);
	ck_assert_uint_eq(t[RMAP_STATT_mtu_changes], 0);
	/* With the host block: what serving cost it (no polling asked). */
	want[3] = RMAP_STAT_WANT_TRANSPORT | RMAP_STAT_WANT_HOST;
	ck_assert_uint_eq(req(RMAP_T_STAT, 0, 0, 0, want, sizeof(want), all,
			      sizeof(all), &d), RMAP_S_OK);
	ck_assert_uint_eq(d.len, RMAP_STAT_LEN + RMAP_STAT_TRANSPORT_LEN +
			  RMAP_STAT_HOST_LEN);
	{
		uint64_t h[RMAP_STATH_N];
		struct rusage ru;

		rmap_stat_host_decode(all + rmap_stat_block_off(want[3],
				      RMAP_STAT_WANT_HOST), h);
		/* This process is the server: its CPU so far, at most. */
		ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
		ck_assert_uint_le(h[RMAP_STATH_cpu_user_ms],
				  (uint64_t)ru.ru_utime.tv_sec * 1000 +
				  (uint64_t)ru.ru_utime.tv_usec / 1000);
		ck_assert_uint_eq(h[RMAP_STATH_polls], 0);
		ck_assert_uint_eq(h[RMAP_STATH_poll_hits], 0);
	}
	/* With the sources block: whom it refused, after a malformed one. */
	{
		struct sockaddr_storage from = { 0 };
		struct sockaddr_in *in = (struct sockaddr_in *)&from;
		struct rmap_stat_sources src;
		uint8_t junk[64] = { 0 };

		in->sin_family = AF_INET;
		in->sin_port = htons(4242);
		in->sin_addr.s_addr = htonl(0xc0000242);	/* 192.0.2.66 */
		rmap_ep_inject_rx(server_ep(srv), junk, sizeof(junk), &from);
		want[3] = RMAP_STAT_WANT_SOURCES;
		ck_assert_uint_eq(req(RMAP_T_STAT, 0, 0, 0, want, sizeof(want),
				      all, sizeof(all), &d), RMAP_S_OK);
		ck_assert_uint_eq(d.len, RMAP_STAT_LEN + RMAP_STAT_SOURCES_LEN);
		ck_assert_int_eq(rmap_stat_sources_decode(all +
				 rmap_stat_block_off(want[3],
						     RMAP_STAT_WANT_SOURCES),
				 &src), 0);
		ck_assert_uint_eq(src.s[0].family, 4);
		ck_assert_mem_eq(src.s[0].addr, &in->sin_addr, 4);
		ck_assert_uint_eq(src.s[0].count, 1);
		ck_assert_uint_eq(src.s[1].family, 0);
		ck_assert_uint_eq(src.others, 0);
	}
	rmap_ep_close(ep2);
	teardown_server();
}
END_TEST

/* A REG is found again without a scan; sessions per client are bounded. */
START_TEST(test_sessions_per_client_bounded)
{
	struct done d;
	uint32_t first = 0, s;

	setup_server(100, 10000);
	for (unsigned i = 0; i < 4096; i++) {
		s = reg(1000 + i, 10000);
		if (!i)
			first = s;
	}
	/* The same REG again is the same session; a new one is refused. */
	ck_assert_uint_eq(reg(1000, 10000), first);
	{
		uint8_t n[RMAP_REG_LEN] = { 0 }, body[RMAP_SESSION_INFO_LEN];

		n[7] = 1;
		ck_assert_uint_eq(req(RMAP_T_REG, 0, 0, 0, n, sizeof(n), body,
				      sizeof(body), &d), RMAP_S_FULL);
	}
	ck_assert_uint_eq(stats().session_limit, 1);
	ck_assert_uint_eq(stats().sessions, 4096);
	/* Closing one makes room. */
	ck_assert_uint_eq(req(RMAP_T_UNREG, first, 0, 0, NULL, 0, NULL, 0, &d),
			  RMAP_S_OK);
	ck_assert_uint_ne(reg(99999, 10000), 0);
	teardown_server();
}
END_TEST

/*
 * A client that restarts on the same address (a new epoch) keeps its
 * sessions: nothing a client's packets say frees pages, only UNREG and
 * the lease.
 */
START_TEST(test_client_restart_keeps_pages)
{
	static uint8_t w[PG], r[PG];
	struct sockaddr_storage addr, srvaddr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&addr;
	struct rmap_handlers h = { 0 };
	struct rmap_config cfg;
	struct done d;
	uint32_t s;

	setup_server(100, 10000);
	s = reg(44, 10000);
	pages(7, w, 1);
	ck_assert_uint_eq(req(RMAP_T_WRITE, s, 1, 1, w, sizeof(w), NULL, 0,
			      &d), RMAP_S_OK);
	/* The client dies and comes back on its port, with a new epoch. */
	memset(&addr, 0, sizeof(addr));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = htons(rmap_ep_port(cli));
	rmap_ep_close(cli);
	client_cfg(&cfg, key_c);
	ck_assert_int_eq(rmap_ep_open(&cli, loop, (struct sockaddr *)&addr,
				      sizeof(*sin), &cfg, &h), 0);
	srvaddr = addr;
	((struct sockaddr_in *)&srvaddr)->sin_port = htons(server_port(srv));
	know_server(cli, &srvaddr);
	peer = rmap_peer_get(cli, &srvaddr);
	ck_assert_uint_eq(req(RMAP_T_READ, s, 1, 1, NULL, 0, r, PG, &d),
			  RMAP_S_OK);
	ck_assert_mem_eq(r, w, PG);
	ck_assert_uint_eq(stats().sessions, 1);
	ck_assert_uint_eq(stats().used_pages, 1);
	teardown_server();
}
END_TEST

START_TEST(test_unreg_frees_pages)
{
	static uint8_t w[5 * PG], r[PG];
	struct done d;
	uint32_t a, b;

	dedup_on = false;
	setup_server(100, 10000);
	a = reg(10, 10000);
	b = reg(11, 10000);
	pages(6, w, 5);
	ck_assert_uint_eq(req(RMAP_T_WRITE, a, 0, 5, w, 5 * PG, NULL, 0, &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(req(RMAP_T_WRITE, b, 0, 3, w, 3 * PG, NULL, 0, &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(stats().used_pages, 8);
	ck_assert_uint_eq(req(RMAP_T_UNREG, a, 0, 0, NULL, 0, NULL, 0, &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(stats().used_pages, 3);
	ck_assert_uint_eq(stats().sessions, 1);
	ck_assert_uint_eq(req(RMAP_T_READ, a, 0, 1, NULL, 0, r, PG, &d),
			  RMAP_S_BADSESSION);
	ck_assert_uint_eq(req(RMAP_T_READ, b, 2, 1, NULL, 0, r, PG, &d),
			  RMAP_S_OK);
	ck_assert_mem_eq(r, w + 2 * PG, PG);
	ck_assert_uint_eq(req(RMAP_T_UNREG, b, 0, 0, NULL, 0, NULL, 0, &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(stats().used_pages, 0);
	ck_assert_uint_eq(stats().sessions, 0);
	/* A second UNREG of the same session is refused, harmlessly. */
	ck_assert_uint_eq(req(RMAP_T_UNREG, b, 0, 0, NULL, 0, NULL, 0, &d),
			  RMAP_S_BADSESSION);
	ck_assert_uint_eq(stats().expired_sessions, 0);
	teardown_server();
}
END_TEST

/*
 * STAT with the dedup and memory blocks, two blocks of one length: the
 * request says which came.
 */
static void stat_memory(struct rmap_stat *st, uint64_t mem[RMAP_STATM_N])
{
	uint8_t want[RMAP_STAT_REQ_LEN] = {
		0, 0, 0, RMAP_STAT_WANT_DEDUP | RMAP_STAT_WANT_MEMORY
	};
	uint8_t buf[RMAP_STAT_MAX_LEN];
	struct rmap_stat_dedup dd;
	uint32_t blocks = 0;
	struct done d;

	ck_assert_uint_eq(req(RMAP_T_STAT, 0, 0, 0, want, sizeof(want), buf,
			      sizeof(buf), &d), RMAP_S_OK);
	ck_assert_uint_eq(d.len, RMAP_STAT_LEN + RMAP_STAT_DEDUP_LEN +
			  RMAP_STAT_MEMORY_LEN);
	ck_assert(rmap_stat_reply_blocks(d.len, want[3], &blocks));
	ck_assert_uint_eq(blocks, want[3]);
	ck_assert_int_eq(rmap_stat_decode(buf, RMAP_STAT_LEN, st), 0);
	ck_assert_int_eq(rmap_stat_dedup_decode(buf + RMAP_STAT_LEN, &dd), 0);
	ck_assert_uint_eq(dd.unique_pages, st->used_pages);
	rmap_stat_memory_decode(buf + rmap_stat_block_off(blocks,
				RMAP_STAT_WANT_MEMORY), mem);
}

/*
 * A large session is walked, and its memory goes back, after its UNREG
 * is answered, a slice per turn of the loop, not all in the turn that
 * freed it.
 */
START_TEST(test_unreg_gives_memory_back_in_slices)
{
	enum { N = 20000, RUN = RMAP_MAX_PAGES };
	static uint8_t w[RUN * PG], r[PG];
	uint64_t mem[RMAP_STATM_N];
	struct rmap_stat st;
	struct done d;
	uint32_t a, b;

	dedup_on = false;
	setup_server(N + 64, 10000);
	a = reg(10, 10000);
	b = reg(11, 10000);
	for (uint32_t p = 0; p < N; p += RUN) {
		uint32_t n = N - p < RUN ? N - p : RUN;

		pages((uint8_t)p, w, n);
		ck_assert_uint_eq(req(RMAP_T_WRITE, a, p, n, w, n * PG, NULL,
				      0, &d), RMAP_S_OK);
	}
	pages(7, w, 1);
	ck_assert_uint_eq(req(RMAP_T_WRITE, b, 0, 1, w, PG, NULL, 0, &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(stats().give_back_slices, 0);
	ck_assert_uint_eq(req(RMAP_T_UNREG, a, 0, 0, NULL, 0, NULL, 0, &d),
			  RMAP_S_OK);
	/*
	 * Midway, STAT's memory block says how much of used_pages is the
	 * ended session's, still being walked (what a client's placement
	 * takes as room), and what the walk has dropped so far.
	 */
	stat_memory(&st, mem);
	ck_assert_uint_gt(mem[RMAP_STATM_freeing_pages], 0);
	ck_assert_uint_eq(mem[RMAP_STATM_freeing_pages] +
			  mem[RMAP_STATM_freed_pages], N);
	ck_assert_uint_eq(st.used_pages - mem[RMAP_STATM_freeing_pages], 1);
	ck_assert_uint_lt(mem[RMAP_STATM_give_back_turns], 9);
	TU_RUN_UNTIL(loop, stats().freeing_pages == 0 &&
			   stats().give_back_pages == 0, TU_DEADLINE_MS);
	ck_assert_uint_eq(stats().freeing_pages, 0);
	ck_assert_uint_eq(stats().give_back_pages, 0);
	ck_assert_uint_eq(stats().used_pages, 1);
	stat_memory(&st, mem);
	ck_assert_uint_eq(st.used_pages, 1);
	ck_assert_uint_eq(mem[RMAP_STATM_freeing_pages], 0);
	ck_assert_uint_eq(mem[RMAP_STATM_give_back_pages], 0);
	ck_assert_uint_eq(mem[RMAP_STATM_freed_pages], N);
	ck_assert_uint_eq(mem[RMAP_STATM_given_back_pages], N);
	ck_assert_uint_eq(mem[RMAP_STATM_give_back_turns], 9);
	/*
	 * Its table was still growing (memxd/server/reftab.h): 17,344 of
	 * the old one's 32,768 buckets not yet moved, and the new one's
	 * 65,536.  Slices of 8,192 pages' worth walk 16,384 buckets: five
	 * walk them and a sixth the last 960, and three give back 8,192,
	 * 8,192 and 3,616 pages (whole runs of up to 512).
	 */
	ck_assert_uint_eq(stats().give_back_slices, 9);
	ck_assert_uint_eq(req(RMAP_T_READ, b, 0, 1, NULL, 0, r, PG, &d),
			  RMAP_S_OK);
	ck_assert_mem_eq(r, w, PG);
	teardown_server();
}
END_TEST

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

START_TEST(test_parity_requests_end_to_end)
{
	static uint8_t a[4 * PG], b[4 * PG], c[2 * PG], r[6 * PG];
	struct done d;
	uint32_t s, bad;

	dedup_on = false;
	setup_server(1000, 10000);
	s = reg(21, 10000);

	/* XWRITE to absent pages: the deltas are the new data. */
	pages(1, a, 3);
	ck_assert_uint_eq(req(RMAP_T_XWRITE, s, 100, 3, a, 3 * PG, r,
			      sizeof(r), &d), RMAP_S_OK);
	ck_assert_uint_eq(d.session, s);
	ck_assert_uint_eq(d.len, 3 * PG);
	ck_assert_mem_eq(r, a, 3 * PG);
	ck_assert_uint_eq(stats().used_pages, 3);
	/* Over 101..102, and 103 fresh: old ^ new, then new. */
	pages(7, b, 3);
	ck_assert_uint_eq(req(RMAP_T_XWRITE, s, 101, 3, b, 3 * PG, r,
			      sizeof(r), &d), RMAP_S_OK);
	ck_assert_uint_eq(d.len, 3 * PG);
	for (size_t k = 0; k < 2 * PG; k++)
		ck_assert_uint_eq(r[k], a[PG + k] ^ b[k]);
	ck_assert_mem_eq(r + 2 * PG, b + 2 * PG, PG);
	ck_assert_uint_eq(stats().used_pages, 4);
	ck_assert_uint_eq(req(RMAP_T_READ, s, 101, 3, NULL, 0, r, sizeof(r),
			      &d), RMAP_S_OK);
	ck_assert_mem_eq(r, b, 3 * PG);

	/* READZ: absent pages (99, 104) come back as zeros, never NOENT. */
	memset(r, 0xee, sizeof(r));
	ck_assert_uint_eq(req(RMAP_T_READZ, s, 99, 6, NULL, 0, r, sizeof(r),
			      &d), RMAP_S_OK);
	ck_assert_uint_eq(d.len, 6 * PG);
	ck_assert(all_zero(r, PG));
	ck_assert_mem_eq(r + PG, a, PG);
	ck_assert_mem_eq(r + 2 * PG, b, 3 * PG);
	ck_assert(all_zero(r + 5 * PG, PG));

	/* PXOR creates, updates, and deletes what becomes zero. */
	ck_assert_uint_eq(req(RMAP_T_PXOR, s, 200, 2, a, 2 * PG, NULL, 0, &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(d.len, 0);
	ck_assert_uint_eq(stats().used_pages, 6);
	ck_assert_uint_eq(req(RMAP_T_PXOR, s, 200, 2, b, 2 * PG, NULL, 0, &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(req(RMAP_T_READ, s, 200, 2, NULL, 0, r, sizeof(r),
			      &d), RMAP_S_OK);
	for (size_t k = 0; k < 2 * PG; k++)
		ck_assert_uint_eq(r[k], a[k] ^ b[k]);
	memcpy(c, r, 2 * PG);
	ck_assert_uint_eq(req(RMAP_T_PXOR, s, 200, 2, c, 2 * PG, NULL, 0, &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(stats().used_pages, 4);
	ck_assert_uint_eq(req(RMAP_T_READ, s, 200, 1, NULL, 0, r, PG, &d),
			  RMAP_S_NOENT);

	/* XFREE returns the old contents (zeros where absent), frees them. */
	memset(r, 0xee, sizeof(r));
	ck_assert_uint_eq(req(RMAP_T_XFREE, s, 100, 5, NULL, 0, r, sizeof(r),
			      &d), RMAP_S_OK);
	ck_assert_uint_eq(d.len, 5 * PG);
	ck_assert_mem_eq(r, a, PG);
	ck_assert_mem_eq(r + PG, b, 3 * PG);
	ck_assert(all_zero(r + 4 * PG, PG));
	ck_assert_uint_eq(stats().used_pages, 0);
	ck_assert_uint_eq(req(RMAP_T_READ, s, 101, 1, NULL, 0, r, PG, &d),
			  RMAP_S_NOENT);

	/* Like READ and WRITE, they need a session. */
	bad = s ^ 0x5a5a;
	ck_assert_uint_eq(req(RMAP_T_XWRITE, bad, 0, 1, a, PG, r, PG, &d),
			  RMAP_S_BADSESSION);
	ck_assert_uint_eq(req(RMAP_T_XFREE, bad, 0, 1, NULL, 0, r, PG, &d),
			  RMAP_S_BADSESSION);
	ck_assert_uint_eq(req(RMAP_T_PXOR, bad, 0, 1, a, PG, NULL, 0, &d),
			  RMAP_S_BADSESSION);
	ck_assert_uint_eq(req(RMAP_T_READZ, bad, 0, 1, NULL, 0, r, PG, &d),
			  RMAP_S_BADSESSION);
	ck_assert_uint_eq(d.len, 0);
	ck_assert_uint_eq(stats().used_pages, 0);
	ck_assert_uint_eq(stats().bad_session, 4);

	ck_assert_uint_eq(stats().xwrites, 2);
	ck_assert_uint_eq(stats().readzs, 1);
	ck_assert_uint_eq(stats().pxors, 3);
	ck_assert_uint_eq(stats().xfrees, 1);
	teardown_server();
}
END_TEST

START_TEST(test_parity_requests_full)
{
	static uint8_t w[4 * PG], r[4 * PG];
	struct done d;
	uint32_t s;

	dedup_on = false;
	setup_server(4, 10000);
	s = reg(22, 10000);
	pages(3, w, 4);
	ck_assert_uint_eq(req(RMAP_T_WRITE, s, 0, 3, w, 3 * PG, NULL, 0, &d),
			  RMAP_S_OK);
	/* Two fresh pages, room for one: refused whole, no deltas. */
	ck_assert_uint_eq(req(RMAP_T_XWRITE, s, 2, 3, w, 3 * PG, r, sizeof(r),
			      &d), RMAP_S_FULL);
	ck_assert_uint_eq(d.len, 0);
	ck_assert_uint_eq(req(RMAP_T_PXOR, s, 2, 3, w, 3 * PG, NULL, 0, &d),
			  RMAP_S_FULL);
	ck_assert_uint_eq(stats().used_pages, 3);
	ck_assert_uint_eq(stats().full_refusals, 2);
	ck_assert_uint_eq(req(RMAP_T_READZ, s, 0, 4, NULL, 0, r, sizeof(r),
			      &d), RMAP_S_OK);
	ck_assert_mem_eq(r, w, 3 * PG);
	ck_assert(all_zero(r + 3 * PG, PG));
	/* One fresh page fits. */
	ck_assert_uint_eq(req(RMAP_T_PXOR, s, 3, 1, w, PG, NULL, 0, &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(stats().used_pages, 4);
	teardown_server();
}
END_TEST

/* A STAT body, decoded; @len must be the body's alone. */
static struct rmap_stat stat_body(const uint8_t *body, uint32_t len)
{
	struct rmap_stat st;

	ck_assert_uint_eq(len, RMAP_STAT_LEN);
	ck_assert_int_eq(rmap_stat_decode(body, len, &st), 0);
	return st;
}

/*
 * --reserve: the store is taken and locked before the server answers
 * anyone, STAT says so to a client that asks, and pages come and go
 * through it as through any.  A client built before --reserve refuses
 * a STAT body with flags it does not know (beyond LEAVING and TAGS):
 * what it reads (STAT without RMAP_STAT_WANT_RESERVED, ANNOUNCE, LEAVE)
 * never carries RESERVED, so a server may reserve before its clients
 * are upgraded.
 */
START_TEST(test_reserved_server)
{
	static uint8_t w[4 * PG], r[4 * PG];
	const uint8_t old_want[RMAP_STAT_REQ_LEN] = {
		0, 0, 0, RMAP_STAT_WANT_DEDUP
	}, want[RMAP_STAT_REQ_LEN] = { 0, 0, 0, RMAP_STAT_WANT_RESERVED };
	uint8_t body[RMAP_STAT_LEN + RMAP_STAT_DEDUP_LEN];
	const uint16_t old_flags = RMAP_STAT_LEAVING | RMAP_STAT_TAGS;
	struct rmap_stat st;
	struct done d;
	uint32_t s;

	reserve_on = true;
	setup_server_announcing(256, 10000, 20);
	reserve_on = false;
	TU_RUN_UNTIL(loop, announcements >= 2, TU_DEADLINE_MS);
	ck_assert_uint_eq(announced.flags, RMAP_STAT_TAGS);
	ck_assert_uint_eq(req(RMAP_T_STAT, 0, 0, 0, NULL, 0, body, sizeof(body),
			      &d), RMAP_S_OK);
	ck_assert_uint_eq(stat_body(body, d.len).flags, RMAP_STAT_TAGS);
	ck_assert_uint_eq(req(RMAP_T_STAT, 0, 0, 0, old_want, sizeof(old_want),
			      body, sizeof(body), &d), RMAP_S_OK);
	ck_assert_uint_eq(d.len, RMAP_STAT_LEN + RMAP_STAT_DEDUP_LEN);
	ck_assert_uint_eq(stat_body(body, RMAP_STAT_LEN).flags, RMAP_STAT_TAGS);
	ck_assert_uint_eq(req(RMAP_T_STAT, 0, 0, 0, want, sizeof(want), body,
			      sizeof(body), &d), RMAP_S_OK);
	st = stat_body(body, d.len);
	ck_assert_uint_eq(st.flags, RMAP_STAT_TAGS | RMAP_STAT_RESERVED);
	ck_assert_uint_eq(st.capacity_pages, 256);
	s = reg(24, 10000);
	/* The second round rewrites the slots the first one freed. */
	for (uint8_t round = 0; round < 2; round++) {
		pages(9 + round, w, 4);
		ck_assert_uint_eq(req(RMAP_T_WRITE, s, 10, 4, w, sizeof(w),
				      NULL, 0, &d), RMAP_S_OK);
		ck_assert_uint_eq(req(RMAP_T_READ, s, 10, 4, NULL, 0, r,
				      sizeof(r), &d), RMAP_S_OK);
		ck_assert_mem_eq(r, w, sizeof(w));
		ck_assert_uint_eq(req(RMAP_T_FREE, s, 10, 4, NULL, 0, NULL, 0,
				      &d), RMAP_S_OK);
		ck_assert_uint_eq(stats().used_pages, 0);
	}
	/* What a leaving server tells everyone: only what all clients read. */
	ck_assert_uint_eq(req(RMAP_T_LEAVE, 0, 0, 0, NULL, 0, body,
			      sizeof(body), &d), RMAP_S_OK);
	ck_assert_uint_eq(stat_body(body, d.len).flags, old_flags);
	ck_assert_uint_eq(req(RMAP_T_STAT, 0, 0, 0, want, sizeof(want), body,
			      sizeof(body), &d), RMAP_S_OK);
	ck_assert_uint_eq(stat_body(body, d.len).flags,
			  old_flags | RMAP_STAT_RESERVED);
	teardown_server();
}
END_TEST

START_TEST(test_leave)
{
	static uint8_t w[2 * PG], r[2 * PG];
	uint8_t n[RMAP_REG_LEN] = { 0, 0, 0, 0, 0, 0, 0, 99 };
	uint8_t body[RMAP_STAT_LEN], hb[RMAP_SESSION_INFO_LEN];
	struct rmap_stat st;
	struct done d;
	unsigned heard;
	uint32_t s;

	setup_server_announcing(100, 10000, 20);
	TU_RUN_UNTIL(loop, announcements >= 2, TU_DEADLINE_MS);
	ck_assert_uint_eq(announced.flags, RMAP_STAT_TAGS);
	s = reg(23, 10000);
	pages(5, w, 2);
	ck_assert_uint_eq(req(RMAP_T_WRITE, s, 0, 2, w, sizeof(w), NULL, 0, &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(req(RMAP_T_STAT, 0, 0, 0, NULL, 0, body, sizeof(body),
			      &d), RMAP_S_OK);
	ck_assert_int_eq(rmap_stat_decode(body, d.len, &st), 0);
	ck_assert_uint_eq(st.flags, RMAP_STAT_TAGS);
	ck_assert(!stats().leaving);

	/* LEAVE needs no session, and answers with the STAT body. */
	ck_assert_uint_eq(req(RMAP_T_LEAVE, 0, 0, 0, NULL, 0, body,
			      sizeof(body), &d), RMAP_S_OK);
	ck_assert_int_eq(rmap_stat_decode(body, d.len, &st), 0);
	ck_assert_uint_eq(st.flags, RMAP_STAT_LEAVING | RMAP_STAT_TAGS);
	ck_assert_uint_eq(st.used_pages, 2);
	ck_assert_uint_eq(st.sessions, 1);
	ck_assert(stats().leaving);
	ck_assert_uint_eq(req(RMAP_T_STAT, 0, 0, 0, NULL, 0, body, sizeof(body),
			      &d), RMAP_S_OK);
	ck_assert_int_eq(rmap_stat_decode(body, d.len, &st), 0);
	ck_assert_uint_eq(st.flags, RMAP_STAT_LEAVING | RMAP_STAT_TAGS);

	/* No new sessions... */
	ck_assert_uint_eq(req(RMAP_T_REG, 0, 0, 0, n, sizeof(n), hb, sizeof(hb),
			      &d), RMAP_S_LEAVING);
	ck_assert_uint_eq(d.session, 0);
	ck_assert_uint_eq(d.len, 0);
	ck_assert_uint_eq(stats().sessions, 1);
	ck_assert_uint_eq(stats().leaving_refusals, 1);
	/* ...but the open one is served until its pages are gone. */
	ck_assert_uint_eq(req(RMAP_T_READ, s, 0, 2, NULL, 0, r, sizeof(r), &d),
			  RMAP_S_OK);
	ck_assert_mem_eq(r, w, sizeof(w));
	ck_assert_uint_eq(req(RMAP_T_XFREE, s, 0, 2, NULL, 0, r, sizeof(r), &d),
			  RMAP_S_OK);
	ck_assert_mem_eq(r, w, sizeof(w));
	ck_assert_uint_eq(stats().used_pages, 0);
	/* A second LEAVE is harmless. */
	ck_assert_uint_eq(req(RMAP_T_LEAVE, 0, 0, 0, NULL, 0, body,
			      sizeof(body), &d), RMAP_S_OK);

	/* And no more announcements. */
	heard = announcements;
	tu_run_for(loop, 100);
	ck_assert_uint_eq(announcements, heard);
	ck_assert_uint_eq(req(RMAP_T_UNREG, s, 0, 0, NULL, 0, NULL, 0, &d),
			  RMAP_S_OK);
	teardown_server();
}
END_TEST

/* Pages and their tags, as RMAP_F_TAGS carries them. */
static void tagged(uint8_t seed, uint8_t *buf, uint32_t n)
{
	pages(seed, buf, n);
	for (uint32_t i = 0; i < n * RMAP_TAG_LEN; i++)
		buf[n * PG + i] = (uint8_t)(seed * 3 + i);
}

/* Tags go in with the pages and come back with them, per reference. */
START_TEST(test_tags)
{
	static uint8_t w[3 * (PG + RMAP_TAG_LEN)], r[3 * (PG + RMAP_TAG_LEN)];
	const uint32_t n = 3, len = n * (PG + RMAP_TAG_LEN);
	struct done d;
	uint32_t s;

	corrupt = (struct server_corrupt){ 0 };
	setup_server(100, 10000);
	s = reg(31, 10000);
	tagged(7, w, n);
	req_flags = RMAP_F_TAGS;
	ck_assert_uint_eq(req(RMAP_T_WRITE, s, 40, n, w, len, NULL, 0, &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(d.flags & RMAP_F_TAGS, RMAP_F_TAGS);
	ck_assert_uint_eq(req(RMAP_T_READ, s, 40, n, NULL, 0, r, sizeof(r), &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(d.len, len);
	ck_assert_uint_eq(d.flags & RMAP_F_TAGS, RMAP_F_TAGS);
	ck_assert_mem_eq(r, w, len);
	ck_assert_uint_eq(req(RMAP_T_READZ, s, 40, n, NULL, 0, r, sizeof(r),
			      &d), RMAP_S_OK);
	ck_assert_mem_eq(r, w, len);
	/* Without the flag: the pages alone. */
	req_flags = 0;
	ck_assert_uint_eq(req(RMAP_T_READ, s, 40, n, NULL, 0, r, sizeof(r), &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(d.len, n * PG);
	ck_assert_uint_eq(d.flags & RMAP_F_TAGS, 0);
	ck_assert_mem_eq(r, w, n * PG);
	teardown_server();
}
END_TEST

/*
 * The test hook lies as it says, and the pager's remote layer rejects
 * an answer whose page run is not the one it asked for (-EBADMSG): a
 * READ of 4 pages answered with 1 never reaches its caller.
 */
static void on_remote(void *arg, int err, uint8_t status)
{
	struct done *d = arg;

	d->calls++;
	d->err = err;
	d->status = status;
}

START_TEST(test_corrupt)
{
	static uint8_t w[4 * (PG + RMAP_TAG_LEN)], r[4 * (PG + RMAP_TAG_LEN)];
	const uint32_t len = 4 * (PG + RMAP_TAG_LEN);
	static const char *const kinds[] = { "flip:1", "swap:1", "short:1" };
	char why[128];

	for (unsigned k = 0; k < 3; k++) {
		struct remote_config rc = { .heartbeat_ms = 100 };
		struct remote_session rs = { 0 };
		struct rmap_config cfg;
		struct rmap_peer_key srvkey;
		struct remote *rem;
		char name[32], *servers[] = { name, NULL };
		struct iovec iov = { w, len };
		struct done d = { 0 };
		unsigned diff = 0;
		uint32_t s;

		ck_assert_int_eq(server_corrupt_parse(kinds[k], &corrupt, why,
						      sizeof(why)), 0);
		setup_server(100, 10000);
		s = reg(41 + k, 10000);
		tagged(9, w, 4);
		req_flags = RMAP_F_TAGS;
		ck_assert_uint_eq(req(RMAP_T_WRITE, s, 0, 4, w, len, NULL, 0,
				      &d), RMAP_S_OK);
		if (k == 2) {
			/* RMAP fails it: the answer is not for the run. */
			struct rmap_req rq = { .type = RMAP_T_READ,
					       .session = s, .page = 1,
					       .count = 3,
					       .flags = RMAP_F_TAGS };

			memset(&d, 0, sizeof(d));
			ck_assert_int_eq(rmap_call(cli, peer, &rq, r,
						   sizeof(r), on_reply, &d), 0);
			TU_RUN_UNTIL(loop, d.calls, TU_DEADLINE_MS);
			ck_assert_int_eq(d.err, -EBADMSG);
			ck_assert_uint_eq(rmap_ep_counters(cli)->reply_mismatch,
					  1);
		} else {
			ck_assert_uint_eq(req(RMAP_T_READ, s, 1, 1, NULL, 0,
					      r, sizeof(r), &d), RMAP_S_OK);
		}
		req_flags = 0;
		switch (k) {
		case 0:		/* one bit of the page flipped */
			for (unsigned i = 0; i < PG; i++)
				diff += (unsigned)__builtin_popcount(
					r[i] ^ w[PG + i]);
			ck_assert_uint_eq(diff, 1);
			break;
		case 1:		/* the next page, and its tag */
			ck_assert_mem_eq(r, w + 2 * PG, PG);
			ck_assert_mem_eq(r + PG, w + 4 * PG + 2 * RMAP_TAG_LEN,
					 RMAP_TAG_LEN);
			break;
		case 2:		/* one page where three were asked for */
			break;
		}
		ck_assert_uint_eq(stats().test_corrupted, 1);
		/* The pager's side of it: a short answer is refused. */
		if (k == 2) {
			struct sockaddr_in *sin = (struct sockaddr_in *)
						  &srvkey.addr;

			/* The pager's key, the server's at its address. */
			client_cfg(&cfg, key_c);
			cfg.retry_us = 2000;
			srvkey = (struct rmap_peer_key){ .has_addr = true };
			rmap_key_public(key_s, srvkey.pub);
			sin->sin_family = AF_INET;
			sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			sin->sin_port = htons(server_port(srv));
			cfg.auth.peers = &srvkey;
			cfg.auth.npeers = 1;
			snprintf(name, sizeof(name), "127.0.0.1:%u",
				 server_port(srv));
			ck_assert_int_eq(remote_new(&rem, loop, servers, &cfg,
						    &rc), 0);
			remote_session_open(rem, &rs, 0);
			TU_RUN_UNTIL(loop, remote_session_ready(&rs),
				     TU_DEADLINE_MS);
			ck_assert_int_eq(remote_call(rem, &rs, RMAP_T_WRITE,
						     RMAP_F_TAGS, 0, 4, &iov, 1,
						     NULL, 0, on_remote, &d), 0);
			d.calls = 0;
			TU_RUN_UNTIL(loop, d.calls, TU_DEADLINE_MS);
			ck_assert_int_eq(d.err, 0);
			d.calls = 0;
			memset(r, 0xee, sizeof(r));
			ck_assert_int_eq(remote_call(rem, &rs, RMAP_T_READ,
						     RMAP_F_TAGS, 0, 4, NULL, 0,
						     r, len, on_remote, &d), 0);
			TU_RUN_UNTIL(loop, d.calls, TU_DEADLINE_MS);
			ck_assert_int_eq(d.err, -EBADMSG);
			ck_assert_uint_eq(remote_server(rem, 0)->st.short_replies,
					  1);
			remote_session_close(rem, &rs);
			remote_free(rem);
		}
		teardown_server();
	}
	corrupt = (struct server_corrupt){ 0 };
	ck_assert_int_eq(server_corrupt_parse("flip:2", &corrupt, why,
					      sizeof(why)), -EINVAL);
	ck_assert_int_eq(server_corrupt_parse("rot", &corrupt, why,
					      sizeof(why)), -EINVAL);
	ck_assert_int_eq(server_corrupt_parse("swap", &corrupt, why,
					      sizeof(why)), 0);
	ck_assert(corrupt.kind == CORRUPT_SWAP && corrupt.rate == 0.05);
	corrupt = (struct server_corrupt){ 0 };
}
END_TEST

/* REG from endpoint @ep: the session. */
static uint32_t reg_from(struct rmap_ep *ep, struct rmap_peer *to,
			 uint64_t nonce)
{
	uint8_t n[RMAP_REG_LEN], body[RMAP_SESSION_INFO_LEN];
	struct done d;

	for (unsigned i = 0; i < 8; i++)
		n[i] = (uint8_t)(nonce >> (56 - 8 * i));
	secret_of(nonce, n + 8);
	ck_assert_uint_eq(req_from(ep, to, RMAP_T_REG, 0, 0, 0, n, sizeof(n),
				   body, sizeof(body), &d), RMAP_S_OK);
	return d.session;
}

/* STAT with the dedup block: its body and the block. */
static void stat_dedup(struct rmap_stat *st, struct rmap_stat_dedup *dd)
{
	uint8_t want[RMAP_STAT_REQ_LEN] = { 0, 0, 0, RMAP_STAT_WANT_DEDUP };
	uint8_t buf[RMAP_STAT_MAX_LEN];
	uint32_t blocks = 0;
	struct done d;

	ck_assert_uint_eq(req(RMAP_T_STAT, 0, 0, 0, want, sizeof(want), buf,
			      sizeof(buf), &d), RMAP_S_OK);
	ck_assert_uint_eq(d.len, RMAP_STAT_LEN + RMAP_STAT_DEDUP_LEN);
	ck_assert(rmap_stat_reply_blocks(d.len, RMAP_STAT_WANT_DEDUP,
					 &blocks));
	ck_assert_uint_eq(blocks, RMAP_STAT_WANT_DEDUP);
	ck_assert_int_eq(rmap_stat_decode(buf, RMAP_STAT_LEN, st), 0);
	ck_assert_int_eq(rmap_stat_dedup_decode(buf + RMAP_STAT_LEN, dd), 0);
}

/*
 * Two clients hold the same pages: one slot each, two references, their
 * own tags; the capacity counts unique pages; the share count survives
 * one client's UNREG and goes with the other's lease.
 */
START_TEST(test_dedup_across_clients)
{
	const uint32_t n = 4, len = n * (PG + RMAP_TAG_LEN);
	static uint8_t wa[4 * (PG + RMAP_TAG_LEN)], wb[4 * (PG + RMAP_TAG_LEN)];
	static uint8_t r[4 * (PG + RMAP_TAG_LEN)], other[4 * PG];
	struct rmap_stat_dedup dd;
	struct rmap_stat st;
	struct rmap_peer *to;
	struct rmap_ep *ep2;
	struct done d;
	uint64_t now;
	uint32_t a, b;

	setup_server_leased(8, 60);
	a = reg(1, 50);
	ep2 = client2_keyed(&to, key_x);
	b = reg_from(ep2, to, 2);
	/* The same pages, each client its own tags. */
	tagged(5, wa, n);
	memcpy(wb, wa, n * PG);
	for (uint32_t i = 0; i < n * RMAP_TAG_LEN; i++)
		wb[n * PG + i] = (uint8_t)~wa[n * PG + i];
	req_flags = RMAP_F_TAGS;
	ck_assert_uint_eq(req(RMAP_T_WRITE, a, 0, n, wa, len, NULL, 0, &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(req_from(ep2, to, RMAP_T_WRITE, b, 100, n, wb, len,
				   NULL, 0, &d), RMAP_S_OK);
	ck_assert_uint_eq(stats().used_pages, n);
	ck_assert_uint_eq(stats().logical_pages, 2 * n);
	stat_dedup(&st, &dd);
	ck_assert_uint_eq(st.used_pages, n);
	ck_assert_uint_eq(dd.unique_pages, n);
	ck_assert_uint_eq(dd.logical_pages, 2 * n);
	ck_assert_uint_eq(dd.hashed_pages, 2 * n);
	ck_assert_uint_eq(dd.flags, RMAP_DEDUP_ON);
	ck_assert_uint_eq(req(RMAP_T_READ, a, 0, n, NULL, 0, r, len, &d),
			  RMAP_S_OK);
	ck_assert_mem_eq(r, wa, len);
	ck_assert_uint_eq(req_from(ep2, to, RMAP_T_READ, b, 100, n, NULL, 0,
				   r, len, &d), RMAP_S_OK);
	ck_assert_mem_eq(r, wb, len);
	req_flags = 0;
	/* Full in unique pages; a page held is still taken, a new one not. */
	pages(77, other, n);
	ck_assert_uint_eq(req(RMAP_T_WRITE, a, 10, n, other, n * PG, NULL, 0,
			      &d), RMAP_S_OK);
	ck_assert_uint_eq(stats().used_pages, 8);
	ck_assert_uint_eq(req_from(ep2, to, RMAP_T_WRITE, b, 200, 1, other,
				   PG, NULL, 0, &d), RMAP_S_OK);
	pages(150, other, 1);	/* pages(77 + k) is page k of pages(77) */
	ck_assert_uint_eq(req_from(ep2, to, RMAP_T_WRITE, b, 201, 1, other,
				   PG, NULL, 0, &d), RMAP_S_FULL);
	ck_assert_uint_eq(stats().used_pages, 8);
	/* a goes: b's references keep their slots. */
	ck_assert_uint_eq(req(RMAP_T_UNREG, a, 0, 0, NULL, 0, NULL, 0, &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(stats().used_pages, n + 1);
	ck_assert_uint_eq(stats().logical_pages, n + 1);
	ck_assert_uint_eq(req_from(ep2, to, RMAP_T_READ, b, 100, n, NULL, 0,
				   r, n * PG, &d), RMAP_S_OK);
	ck_assert_mem_eq(r, wa, n * PG);
	/* b's lease runs out: the last references, and the slots, go. */
	now = evl_now_ns();
	ck_assert_uint_eq(server_expire(srv, now + 61 * 1000000000ull), 1);
	ck_assert_uint_eq(stats().used_pages, 0);
	ck_assert_uint_eq(stats().logical_pages, 0);
	rmap_ep_close(ep2);
	teardown_server();
}
END_TEST

/* --dedup=off: every page its own slot, as before dedup. */
START_TEST(test_dedup_off_server)
{
	static uint8_t w[PG];
	struct rmap_stat_dedup dd;
	struct rmap_stat st;
	struct done d;
	uint32_t a, b;

	dedup_on = false;
	setup_server(8, 10000);
	a = reg(1, 10000);
	b = reg(2, 10000);
	pages(3, w, 1);
	ck_assert_uint_eq(req(RMAP_T_WRITE, a, 0, 1, w, PG, NULL, 0, &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(req(RMAP_T_WRITE, b, 0, 1, w, PG, NULL, 0, &d),
			  RMAP_S_OK);
	stat_dedup(&st, &dd);
	ck_assert_uint_eq(st.used_pages, 2);
	ck_assert_uint_eq(dd.logical_pages, 2);
	ck_assert_uint_eq(dd.unique_pages, 2);
	ck_assert_uint_eq(dd.hashed_pages, 0);
	ck_assert_uint_eq(dd.flags, 0);
	teardown_server();
}
END_TEST

/* ATTACH of session @s from @ep, with the secret of REG nonce @nonce. */
static uint8_t attach_from(struct rmap_ep *ep, struct rmap_peer *to,
			   uint32_t s, uint64_t nonce, struct done *d)
{
	uint8_t secret[RMAP_SECRET_LEN], body[RMAP_SESSION_INFO_LEN];

	secret_of(nonce, secret);
	return req_from(ep, to, RMAP_T_ATTACH, s, 0, 0, secret, sizeof(secret),
			body, sizeof(body), d);
}

/* MOVE of session @s from @ep: the secret of REG nonce @nonce, and @how. */
static uint8_t move_from(struct rmap_ep *ep, struct rmap_peer *to, uint32_t s,
			 uint64_t nonce, uint8_t how, struct done *d)
{
	uint8_t body[RMAP_MOVE_LEN];

	secret_of(nonce, body);
	body[RMAP_SECRET_LEN] = how;
	return req_from(ep, to, RMAP_T_MOVE, s, 0, 0, body, sizeof(body), NULL,
			0, d);
}

/*
 * Live migration: another client (key_x, the destination host's memxd)
 * takes a session over only once its owner made it movable.  Then the
 * pages are its, the old owner is refused, and may take the session
 * back while it is movable; once the new owner settles it, no more.
 */
START_TEST(test_move_to_another_key)
{
	static uint8_t w[2 * PG], r[2 * PG];
	struct rmap_peer *to;
	struct rmap_ep *ep2;
	struct done d;
	uint32_t s;

	setup_server(100, 10000);
	s = reg(66, 10000);
	pages(4, w, 2);
	ck_assert_uint_eq(req(RMAP_T_WRITE, s, 20, 2, w, sizeof(w), NULL, 0,
			      &d), RMAP_S_OK);
	ep2 = client2_keyed(&to, key_x);
	/* Not movable: another key is refused, secret or not. */
	ck_assert_uint_eq(attach_from(ep2, to, s, 66, &d), RMAP_S_BADSESSION);
	ck_assert_uint_eq(stats().bad_session, 1);
	/* The owner lets it go. */
	ck_assert_uint_eq(move_from(cli, peer, s, 66, RMAP_MOVE_MOVABLE, &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(d.session, s);
	ck_assert_uint_eq(d.len, 0);
	/* Movable: another key still needs the secret... */
	ck_assert_uint_eq(attach_from(ep2, to, s, 67, &d), RMAP_S_BADSESSION);
	ck_assert_uint_eq(stats().bad_session, 2);
	ck_assert_uint_eq(stats().moved, 0);
	/* ...and with it, the session is the other client's, pages and all. */
	ck_assert_uint_eq(attach_from(ep2, to, s, 66, &d), RMAP_S_OK);
	ck_assert_uint_eq(d.session, s);
	ck_assert_uint_eq(stats().moved, 1);
	ck_assert_uint_eq(stats().attached, 1);
	ck_assert_uint_eq(stats().sessions, 1);
	memset(r, 0, sizeof(r));
	ck_assert_uint_eq(req_from(ep2, to, RMAP_T_READ, s, 20, 2, NULL, 0, r,
				   sizeof(r), &d), RMAP_S_OK);
	ck_assert_mem_eq(r, w, sizeof(w));
	/* The old owner is refused as any other client is. */
	ck_assert_uint_eq(req(RMAP_T_READ, s, 20, 1, NULL, 0, r, PG, &d),
			  RMAP_S_BADSESSION);
	ck_assert_uint_eq(req(RMAP_T_HEARTBEAT, s, 0, 0, NULL, 0, NULL, 0, &d),
			  RMAP_S_BADSESSION);
	ck_assert_uint_eq(stats().bad_session, 4);
	/* The migration failed: the old owner takes it back, still movable. */
	ck_assert_uint_eq(attach_from(cli, peer, s, 66, &d), RMAP_S_OK);
	ck_assert_uint_eq(stats().moved, 2);
	ck_assert_uint_eq(req(RMAP_T_READ, s, 20, 2, NULL, 0, r, sizeof(r),
			      &d), RMAP_S_OK);
	ck_assert_mem_eq(r, w, sizeof(w));
	ck_assert_uint_eq(req_from(ep2, to, RMAP_T_READ, s, 20, 1, NULL, 0, r,
				   PG, &d), RMAP_S_BADSESSION);
	/* Tried again, it succeeds: the new owner settles the session... */
	ck_assert_uint_eq(attach_from(ep2, to, s, 66, &d), RMAP_S_OK);
	ck_assert_uint_eq(stats().moved, 3);
	ck_assert_uint_eq(move_from(ep2, to, s, 66, RMAP_MOVE_SETTLED, &d),
			  RMAP_S_OK);
	/* ...and the old owner's key can no longer take it, nor MOVE it. */
	ck_assert_uint_eq(attach_from(cli, peer, s, 66, &d), RMAP_S_BADSESSION);
	ck_assert_uint_eq(move_from(cli, peer, s, 66, RMAP_MOVE_MOVABLE, &d),
			  RMAP_S_BADSESSION);
	ck_assert_uint_eq(stats().moved, 3);
	ck_assert_uint_eq(req_from(ep2, to, RMAP_T_READ, s, 20, 2, NULL, 0, r,
				   sizeof(r), &d), RMAP_S_OK);
	ck_assert_mem_eq(r, w, sizeof(w));
	/* The session is counted against its new owner only. */
	ck_assert_uint_eq(req_from(ep2, to, RMAP_T_UNREG, s, 0, 0, NULL, 0,
				   NULL, 0, &d), RMAP_S_OK);
	ck_assert_uint_eq(stats().sessions, 0);
	ck_assert_uint_eq(stats().used_pages, 0);
	rmap_ep_close(ep2);
	teardown_server();
}
END_TEST

/*
 * Only the owner may make a session movable, with its secret and a flag
 * of 0 or 1: everything else is refused and counted as naming another's
 * session, and changes nothing.
 */
START_TEST(test_move_only_by_owner)
{
	uint8_t want[RMAP_STAT_REQ_LEN] = { 0, 0, 0, RMAP_STAT_WANT_COUNTERS };
	uint8_t st[RMAP_STAT_EXT_LEN];
	uint64_t c[RMAP_STATC_N];
	struct rmap_peer *to, *to3;
	struct rmap_ep *ep2, *ep3;
	struct done d;
	uint32_t s;

	setup_server(100, 10000);
	s = reg(88, 10000);
	ep2 = client2_keyed(&to, key_x);
	/* Another key, even with the secret. */
	ck_assert_uint_eq(move_from(ep2, to, s, 88, RMAP_MOVE_MOVABLE, &d),
			  RMAP_S_BADSESSION);
	/* The owner, with a wrong secret, or a flag neither 0 nor 1. */
	ck_assert_uint_eq(move_from(cli, peer, s, 89, RMAP_MOVE_MOVABLE, &d),
			  RMAP_S_BADSESSION);
	ck_assert_uint_eq(move_from(cli, peer, s, 88, 2, &d),
			  RMAP_S_BADSESSION);
	ck_assert_uint_eq(move_from(cli, peer, s, 88, 0xff, &d),
			  RMAP_S_BADSESSION);
	/* A session that does not exist. */
	ck_assert_uint_eq(move_from(cli, peer, s ^ 1, 88, RMAP_MOVE_MOVABLE,
				    &d), RMAP_S_BADSESSION);
	ck_assert_uint_eq(stats().bad_session, 5);
	/* None of it made the session movable. */
	ck_assert_uint_eq(attach_from(ep2, to, s, 88, &d), RMAP_S_BADSESSION);
	ck_assert_uint_eq(stats().bad_session, 6);
	ck_assert_uint_eq(stats().moved, 0);
	/* The STAT counters say so too. */
	ck_assert_uint_eq(req(RMAP_T_STAT, 0, 0, 0, want, sizeof(want), st,
			      sizeof(st), &d), RMAP_S_OK);
	rmap_stat_counters_decode(st + RMAP_STAT_LEN, c);
	ck_assert_uint_eq(c[RMAP_STATC_bad_session], 6);
	/* The owner's key from another address (a restarted memxd) may. */
	ep3 = client2_keyed(&to3, key_c);
	ck_assert_uint_eq(move_from(ep3, to3, s, 88, RMAP_MOVE_MOVABLE, &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(move_from(cli, peer, s, 88, RMAP_MOVE_SETTLED, &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(attach_from(ep2, to, s, 88, &d), RMAP_S_BADSESSION);
	/* The session is still the owner's, at its address. */
	ck_assert_uint_eq(req(RMAP_T_HEARTBEAT, s, 0, 0, NULL, 0, NULL, 0, &d),
			  RMAP_S_OK);
	rmap_ep_close(ep3);
	rmap_ep_close(ep2);
	teardown_server();
}
END_TEST

/* MOVE is a request of the session: it renews the lease. */
START_TEST(test_move_renews_lease)
{
	struct done d;
	uint64_t before;
	uint32_t s;

	setup_server_leased(100, 60);
	s = reg(99, 50);
	before = evl_now_ns();
	tu_run_for(loop, 20);
	ck_assert_uint_eq(move_from(cli, peer, s, 99, RMAP_MOVE_MOVABLE, &d),
			  RMAP_S_OK);
	/* Silent for the lease since before the MOVE: kept. */
	ck_assert_uint_eq(server_expire(srv, before + 60 * 1000000000ull +
					10000000ull), 0);
	ck_assert_uint_eq(server_expire(srv, evl_now_ns() +
					61 * 1000000000ull), 1);
	teardown_server();
}
END_TEST

struct moved {
	unsigned calls;
	int err;
};

static void on_moved(void *arg, int err)
{
	struct moved *m = arg;

	m->calls++;
	m->err = err;
}

/*
 * A pager's remote layer with key @priv, using the test's server.  Its
 * heartbeats are far apart: a session lost to another key stays lost
 * for the test, not opened again.
 */
static struct remote *remote_keyed(const uint8_t *priv,
				   struct rmap_peer_key *srvkey, char *name,
				   size_t len)
{
	struct remote_config rc = { .heartbeat_ms = 10000 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&srvkey->addr;
	char *servers[] = { name, NULL };
	struct rmap_config cfg;
	struct remote *rem;

	client_cfg(&cfg, priv);
	cfg.retry_us = 2000;
	*srvkey = (struct rmap_peer_key){ .has_addr = true };
	rmap_key_public(key_s, srvkey->pub);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = htons(server_port(srv));
	cfg.auth.peers = srvkey;
	cfg.auth.npeers = 1;
	snprintf(name, len, "127.0.0.1:%u", server_port(srv));
	ck_assert_int_eq(remote_new(&rem, loop, servers, &cfg, &rc), 0);
	return rem;
}

/* remote_session_move() on @s, waited for: what @done was told. */
static int move_wait(struct remote *rem, struct remote_session *s,
		     bool movable)
{
	struct moved m = { 0 };

	ck_assert_int_eq(remote_session_move(rem, s, 0, movable, on_moved,
					     &m), 0);
	/* Never from inside the call. */
	ck_assert_uint_eq(m.calls, 0);
	TU_RUN_UNTIL(loop, m.calls, TU_DEADLINE_MS);
	ck_assert_uint_eq(m.calls, 1);
	return m.err;
}

/*
 * The pager's side of a migration: the source memxd makes its session
 * movable (remote_session_move), the destination's, with another key,
 * ATTACHes it with the id and secret the migration stream carried
 * (remote_session_attach, as after a restart) and settles it.  The
 * source is refused from then on: its MOVE gets -EPERM, its ATTACH
 * BADSESSION.
 */
START_TEST(test_remote_session_move)
{
	static uint8_t w[2 * PG], r[2 * PG];
	uint8_t secret[RMAP_SECRET_LEN];
	struct rmap_peer_key key_src, key_dst;
	struct remote_session src = { 0 }, dst = { 0 };
	char name_src[32], name_dst[32];
	struct remote *rsrc, *rdst;
	struct iovec iov = { w, sizeof(w) };
	struct done d = { 0 };
	struct moved m = { 0 };
	uint32_t id;

	setup_server(100, 10000);
	rsrc = remote_keyed(key_c, &key_src, name_src, sizeof(name_src));
	rdst = remote_keyed(key_x, &key_dst, name_dst, sizeof(name_dst));
	remote_session_open(rsrc, &src, 0);
	TU_RUN_UNTIL(loop, remote_session_ready(&src), TU_DEADLINE_MS);
	pages(8, w, 2);
	ck_assert_int_eq(remote_call(rsrc, &src, RMAP_T_WRITE, 0, 5, 2, &iov,
				     1, NULL, 0, on_remote, &d), 0);
	TU_RUN_UNTIL(loop, d.calls, TU_DEADLINE_MS);
	ck_assert_int_eq(d.err, 0);
	ck_assert_uint_eq(d.status, RMAP_S_OK);
	/* Not open, or not on that server: nothing is sent. */
	ck_assert_int_eq(remote_session_move(rsrc, &dst, 0, true, on_moved,
					     &m), -ENOTCONN);
	ck_assert_int_eq(remote_session_move(rsrc, &src, 1, true, on_moved,
					     &m), -EINVAL);
	ck_assert_uint_eq(m.calls, 0);
	/* The source lets the session go. */
	ck_assert_int_eq(move_wait(rsrc, &src, true), 0);
	/* The destination takes it over, with what the stream carried. */
	id = src.id;
	memcpy(secret, src.secret, sizeof(secret));
	remote_session_attach(rdst, &dst, 0, id, secret);
	TU_RUN_UNTIL(loop, remote_session_ready(&dst), TU_DEADLINE_MS);
	ck_assert_uint_eq(dst.id, id);
	ck_assert_uint_eq(stats().moved, 1);
	d.calls = 0;
	memset(r, 0, sizeof(r));
	ck_assert_int_eq(remote_call(rdst, &dst, RMAP_T_READ, 0, 5, 2, NULL, 0,
				     r, sizeof(r), on_remote, &d), 0);
	TU_RUN_UNTIL(loop, d.calls, TU_DEADLINE_MS);
	ck_assert_int_eq(d.err, 0);
	ck_assert_uint_eq(d.status, RMAP_S_OK);
	ck_assert_mem_eq(r, w, sizeof(w));
	/* The source is no longer the owner: it may not MOVE it... */
	ck_assert(remote_session_ready(&src));
	ck_assert_int_eq(move_wait(rsrc, &src, false), -EPERM);
	/* ...and, as for any refusal, takes the session for lost. */
	ck_assert(!remote_session_ready(&src));
	ck_assert_uint_eq(remote_server(rsrc, 0)->st.lost_sessions, 1);
	/* The destination settles it: the source's ATTACH is refused. */
	ck_assert_int_eq(move_wait(rdst, &dst, false), 0);
	remote_session_attach(rsrc, &src, 0, id, secret);
	TU_RUN_UNTIL(loop, !src.opening, TU_DEADLINE_MS);
	ck_assert(!remote_session_ready(&src));
	ck_assert_uint_eq(stats().moved, 1);
	ck_assert_uint_eq(stats().sessions, 1);
	remote_session_detach(rsrc, &src);
	remote_session_close(rdst, &dst);
	TU_RUN_UNTIL(loop, stats().sessions == 0, TU_DEADLINE_MS);
	remote_free(rdst);
	remote_free(rsrc);
	teardown_server();
}
END_TEST

/* ---- liveness (remote_liveness.c) ---- */

/* Another server on the test's loop, with the test server's key. */
static struct server *another_server(void)
{
	struct server_config cfg = {
		.listen = "127.0.0.1:0",
		.capacity_pages = 100,
		.heartbeat_ms = 10000,
		.lease_s = 600,
	};
	struct server *s;

	client_cfg(&cfg.rmap, key_s);
	cfg.rmap.retry_us = 2000;
	cfg.rmap.auth.npeers = 2;
	ck_assert_int_eq(server_new(&s, loop, &cfg), 0);
	return s;
}

/* A server's wire while *@arg: nothing it sends leaves. */
static int wire_quiet(const uint8_t *dgram, size_t len, void *arg)
{
	(void)dgram;
	(void)len;
	return *(bool *)arg ? 0 : 1;
}

#define NLIVE	3

static bool all_up(const struct remote *rem)
{
	for (unsigned i = 0; i < NLIVE; i++)
		if (strcmp(remote_server_state(rem, i), "up"))
			return false;
	return true;
}

/*
 * One server goes silent while the others answer: it is down.  Then a
 * second: most are silent, memxd is cut off, and nobody is down any
 * more, the first included, though it was silent longer (its misses
 * reached --dead-after a tick before the cut).  Healed but for the
 * first: it is down again, its grace from the start.  Nobody dies.
 */
START_TEST(test_liveness_cut_clears_down)
{
	struct remote_config rc = { .heartbeat_ms = 20, .dead_after = 3,
				    .grace_s = 60 };
	struct rmap_peer_key keys[NLIVE];
	char names[NLIVE][32], *servers[NLIVE + 1] = { NULL };
	bool quiet[NLIVE] = { false };
	struct server *s[NLIVE];
	struct rmap_config cfg;
	struct remote *rem;

	setup_server(100, 10000);
	s[0] = srv;
	for (unsigned i = 1; i < NLIVE; i++)
		s[i] = another_server();
	client_cfg(&cfg, key_c);
	cfg.retry_us = 2000;
	for (unsigned i = 0; i < NLIVE; i++) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&keys[i].addr;

		keys[i] = (struct rmap_peer_key){ .has_addr = true };
		rmap_key_public(key_s, keys[i].pub);
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin->sin_port = htons(server_port(s[i]));
		snprintf(names[i], sizeof(names[i]), "127.0.0.1:%u",
			 server_port(s[i]));
		servers[i] = names[i];
		rmap_ep_set_wire_filter(server_ep(s[i]), wire_quiet, &quiet[i]);
	}
	cfg.auth.peers = keys;
	cfg.auth.npeers = NLIVE;
	ck_assert_int_eq(remote_new(&rem, loop, servers, &cfg, &rc), 0);
	TU_RUN_UNTIL(loop, all_up(rem), TU_DEADLINE_MS);

	quiet[1] = true;
	TU_RUN_UNTIL(loop, !strcmp(remote_server_state(rem, 1), "down"),
		     TU_DEADLINE_MS);
	ck_assert(!remote_cut_off(rem, NULL));

	quiet[2] = true;
	TU_RUN_UNTIL(loop, remote_cut_off(rem, NULL), TU_DEADLINE_MS);
	ck_assert_str_eq(remote_server_state(rem, 1), "unreachable");
	ck_assert_str_eq(remote_server_state(rem, 2), "unreachable");
	ck_assert_str_eq(remote_server_state(rem, 0), "up");
	/* Still nobody, tick after tick. */
	tu_run_for(loop, 10 * rc.heartbeat_ms);
	ck_assert(remote_cut_off(rem, NULL));
	ck_assert_str_eq(remote_server_state(rem, 1), "unreachable");

	quiet[2] = false;
	TU_RUN_UNTIL(loop, !remote_cut_off(rem, NULL) &&
		     !strcmp(remote_server_state(rem, 1), "down") &&
		     !strcmp(remote_server_state(rem, 2), "up"),
		     TU_DEADLINE_MS);

	quiet[1] = false;
	TU_RUN_UNTIL(loop, all_up(rem), TU_DEADLINE_MS);
	for (unsigned i = 0; i < NLIVE; i++)
		ck_assert_uint_eq(remote_server(rem, i)->st.deaths, 0);
	remote_free(rem);
	for (unsigned i = 1; i < NLIVE; i++)
		server_free(s[i]);
	teardown_server();
}
END_TEST

/* ---- refusals in the log ---- */

#define SEC 1000000000ull

/*
 * What the log says of refused datagrams: a warning at the first tick
 * that sees any, counted by reason; nothing more within the interval,
 * however many come; then a warning summing up the interval; the
 * all-clear once a whole interval passed without any; and nothing
 * while there are none.
 */
START_TEST(test_refusals_logged)
{
	struct rmap_counters rc = { .auth_failures = 7, .replays = 1 };
	struct refusals r;
	char msg[512];
	bool warn;
	uint64_t t = 100 * SEC;

	/* What was refused before is not news. */
	refusals_init(&r, &rc, t);
	t += SEC;
	ck_assert(!refusals_check(&r, &rc, t, msg, sizeof(msg), &warn));
	/* Refusals start: said at once, by reason. */
	rc.auth_failures += 40;
	rc.replays += 2;
	t += SEC;
	ck_assert(refusals_check(&r, &rc, t, msg, sizeof(msg), &warn));
	ck_assert(warn);
	ck_assert_msg(strstr(msg, "refused 42 datagrams in 1 s: 40 "
			     "unauthenticated, 2 replayed (") != NULL, "%s", msg);
	ck_assert_msg(!strstr(msg, "malformed"), "%s", msg);
	/* More within the minute: not said yet. */
	for (int i = 0; i < 59; i++) {
		rc.bad_total += 3;
		rc.unknown_peer++;
		t += SEC;
		ck_assert(!refusals_check(&r, &rc, t, msg, sizeof(msg),
					  &warn));
	}
	/* The minute is over: what came in it. */
	t += SEC;
	ck_assert(refusals_check(&r, &rc, t, msg, sizeof(msg), &warn));
	ck_assert(warn);
	ck_assert_msg(strstr(msg, "refused 236 datagrams in 60 s: 177 "
			     "malformed, 59 from unknown peers (") != NULL,
		      "%s", msg);
	/* A quiet minute: the all-clear, once. */
	for (int i = 0; i < 59; i++) {
		t += SEC;
		ck_assert(!refusals_check(&r, &rc, t, msg, sizeof(msg),
					  &warn));
	}
	t += SEC;
	ck_assert(refusals_check(&r, &rc, t, msg, sizeof(msg), &warn));
	ck_assert(!warn);
	ck_assert_msg(strstr(msg, "refused no datagram in the last 60 s"),
		      "%s", msg);
	for (int i = 0; i < 200; i++) {
		t += SEC;
		ck_assert(!refusals_check(&r, &rc, t, msg, sizeof(msg),
					  &warn));
	}
	/* One more, much later: said at once, over the last tick. */
	rc.limit_drops++;
	t += SEC;
	ck_assert(refusals_check(&r, &rc, t, msg, sizeof(msg), &warn));
	ck_assert_msg(strstr(msg, "refused 1 datagram in 1 s: 1 over a "
			     "per-peer bound (") != NULL, "%s", msg);
}
END_TEST

/* Entry @i of @rc's refused sources: @ip, its @serial and @count. */
static void set_source(struct rmap_counters *rc, int i, const char *ip,
		       uint64_t serial, uint64_t count)
{
	struct sockaddr_in *a = (void *)&rc->refused_from[i].host;
	struct sockaddr_in6 *a6 = (void *)&rc->refused_from[i].host;

	memset(&rc->refused_from[i], 0, sizeof(rc->refused_from[i]));
	if (strchr(ip, ':')) {
		a6->sin6_family = AF_INET6;
		ck_assert_int_eq(inet_pton(AF_INET6, ip, &a6->sin6_addr), 1);
	} else {
		a->sin_family = AF_INET;
		ck_assert_int_eq(inet_pton(AF_INET, ip, &a->sin_addr), 1);
	}
	rc->refused_from[i].serial = serial;
	rc->refused_from[i].count = count;
}

/*
 * The warning names the hosts refused datagrams claimed to come from,
 * most first, counting each since the last warning (an entry taken over
 * by another host counts from nothing), and what the table lost.
 */
START_TEST(test_refusals_name_sources)
{
	struct rmap_counters rc = { .auth_failures = 10 };
	struct refusals r;
	char msg[768];
	bool warn;
	uint64_t t = 100 * SEC;

	set_source(&rc, 0, "10.0.0.1", 1, 10);
	refusals_init(&r, &rc, t);
	/* 40 more: 30 from .1, 8 from a new .2, 2 from hosts since lost. */
	rc.auth_failures += 40;
	rc.refused_from[0].count += 30;
	set_source(&rc, 1, "10.0.0.2", 2, 8);
	t += SEC;
	ck_assert(refusals_check(&r, &rc, t, msg, sizeof(msg), &warn));
	ck_assert(warn);
	ck_assert_msg(strstr(msg, "refused 40 datagrams in 1 s: 40 "
			     "unauthenticated; from 10.0.0.1 (30), 10.0.0.2 "
			     "(8), others (2) (") != NULL, "%s", msg);
	ck_assert_msg(strstr(msg, "can be forged"), "%s", msg);
	/* A minute on: .3 took .1's entry; .2 gained one; .2 is fewer. */
	rc.replays += 6;
	set_source(&rc, 0, "10.0.0.3", 3, 5);
	rc.refused_from[1].count += 1;
	t += 60 * SEC;
	ck_assert(refusals_check(&r, &rc, t, msg, sizeof(msg), &warn));
	ck_assert_msg(strstr(msg, ": 6 replayed; from 10.0.0.3 (5), "
			     "10.0.0.2 (1) (") != NULL, "%s", msg);
	/* .1 back in .3's entry, as new: its count is all news. */
	rc.bad_total += 5;
	set_source(&rc, 0, "10.0.0.1", 4, 2);
	set_source(&rc, 2, "fd00::7", 5, 3);
	t += 60 * SEC;
	ck_assert(refusals_check(&r, &rc, t, msg, sizeof(msg), &warn));
	ck_assert_msg(strstr(msg, ": 5 malformed; from fd00::7 (3), "
			     "10.0.0.1 (2) (") != NULL, "%s", msg);
	ck_assert_msg(!strstr(msg, "10.0.0.2"), "%s", msg);
	/* Refusals no host is on record for: no "from" at all. */
	memset(rc.refused_from, 0, sizeof(rc.refused_from));
	memset(r.seen_from, 0, sizeof(r.seen_from));
	rc.bad_total++;
	t += 60 * SEC;
	ck_assert(refusals_check(&r, &rc, t, msg, sizeof(msg), &warn));
	ck_assert_msg(strstr(msg, "1 malformed (an attack") != NULL, "%s",
		      msg);
}
END_TEST

static Suite *server_suite(void)
{
	Suite *s = suite_create("server");
	TCase *tc;

	tc = tcase_create("requests");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_requests_end_to_end);
	tcase_add_test(tc, test_capacity_full_writes_nothing);
	tcase_add_test(tc, test_unreg_frees_pages);
	tcase_add_test(tc, test_unreg_gives_memory_back_in_slices);
	suite_add_tcase(s, tc);

	tc = tcase_create("parity");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_parity_requests_end_to_end);
	tcase_add_test(tc, test_parity_requests_full);
	tcase_add_test(tc, test_leave);
	tcase_add_test(tc, test_reserved_server);
	suite_add_tcase(s, tc);

	tc = tcase_create("integrity");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_tags);
	tcase_add_test(tc, test_corrupt);
	tcase_add_test(tc, test_dedup_off_server);
	suite_add_tcase(s, tc);

	tc = tcase_create("leases");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_lease_synthetic_clock);
	tcase_add_test(tc, test_lease_real_time);
	tcase_add_test(tc, test_traffic_renews_lease);
	tcase_add_test(tc, test_attach_takes_over);
	tcase_add_test(tc, test_attach_needs_same_key);
	tcase_add_test(tc, test_sessions_per_client_bounded);
	tcase_add_test(tc, test_client_restart_keeps_pages);
	tcase_add_test(tc, test_dedup_across_clients);
	suite_add_tcase(s, tc);

	tc = tcase_create("move");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_move_to_another_key);
	tcase_add_test(tc, test_move_only_by_owner);
	tcase_add_test(tc, test_move_renews_lease);
	tcase_add_test(tc, test_remote_session_move);
	suite_add_tcase(s, tc);

	tc = tcase_create("liveness");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_liveness_cut_clears_down);
	suite_add_tcase(s, tc);

	tc = tcase_create("refusals");
	tcase_add_test(tc, test_refusals_logged);
	tcase_add_test(tc, test_refusals_name_sources);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(server_suite());
}
