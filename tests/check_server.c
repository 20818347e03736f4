// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * check_server.c - memxd's store role, end to end over loopback: a real
 * server (server_new on 127.0.0.1:0) and an RMAP client endpoint in one
 * event loop.  Sessions, every request type, the capacity limit
 * (RMAP_S_FULL, nothing written), leases, ATTACH and UNREG; the
 * page-group (XOR parity) requests, and LEAVE.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memxd/log.h"
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

/* A server, and a client endpoint it announces to every @announce_ms. */
static unsigned lease_s = 600;

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
	};
	struct rmap_handlers ch = { .announce = on_announce };
	struct sockaddr_storage any, to;
	struct sockaddr_in *sin;

	log_set_level(LOG_LEVEL_ERR);
	announcements = 0;
	rmap_config_default(&cfg.rmap);
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
	ck_assert_int_eq(server_new(&srv, loop, &cfg), 0);
	ck_assert_uint_ne(server_port(srv), 0);
	to = any;
	((struct sockaddr_in *)&to)->sin_port = htons(server_port(srv));
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
}

struct done {
	unsigned calls;
	int err;
	uint8_t status;
	uint32_t session, len;
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
	teardown_server();
}
END_TEST

START_TEST(test_capacity_full_writes_nothing)
{
	static uint8_t w[8 * PG], r[PG];
	struct done d;
	uint32_t s, s2;

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

/* A second client endpoint, as a restarted memxd is: a new port. */
static struct rmap_ep *client2(struct rmap_peer **to)
{
	struct sockaddr_storage any, srvaddr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&any;
	struct rmap_handlers h = { 0 };
	struct rmap_config cfg;
	struct rmap_ep *ep;

	rmap_config_default(&cfg);
	memset(&any, 0, sizeof(any));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(rmap_ep_open(&ep, loop, (struct sockaddr *)&any,
				      sizeof(*sin), &cfg, &h), 0);
	srvaddr = any;
	((struct sockaddr_in *)&srvaddr)->sin_port = htons(server_port(srv));
	*to = rmap_peer_get(ep, &srvaddr);
	return ep;
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
	rmap_config_default(&cfg);
	ck_assert_int_eq(rmap_ep_open(&cli, loop, (struct sockaddr *)&addr,
				      sizeof(*sin), &cfg, &h), 0);
	srvaddr = addr;
	((struct sockaddr_in *)&srvaddr)->sin_port = htons(server_port(srv));
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
	ck_assert_uint_eq(announced.flags, 0);
	s = reg(23, 10000);
	pages(5, w, 2);
	ck_assert_uint_eq(req(RMAP_T_WRITE, s, 0, 2, w, sizeof(w), NULL, 0, &d),
			  RMAP_S_OK);
	ck_assert_uint_eq(req(RMAP_T_STAT, 0, 0, 0, NULL, 0, body, sizeof(body),
			      &d), RMAP_S_OK);
	ck_assert_int_eq(rmap_stat_decode(body, d.len, &st), 0);
	ck_assert_uint_eq(st.flags, 0);
	ck_assert(!stats().leaving);

	/* LEAVE needs no session, and answers with the STAT body. */
	ck_assert_uint_eq(req(RMAP_T_LEAVE, 0, 0, 0, NULL, 0, body,
			      sizeof(body), &d), RMAP_S_OK);
	ck_assert_int_eq(rmap_stat_decode(body, d.len, &st), 0);
	ck_assert_uint_eq(st.flags, RMAP_STAT_LEAVING);
	ck_assert_uint_eq(st.used_pages, 2);
	ck_assert_uint_eq(st.sessions, 1);
	ck_assert(stats().leaving);
	ck_assert_uint_eq(req(RMAP_T_STAT, 0, 0, 0, NULL, 0, body, sizeof(body),
			      &d), RMAP_S_OK);
	ck_assert_int_eq(rmap_stat_decode(body, d.len, &st), 0);
	ck_assert_uint_eq(st.flags, RMAP_STAT_LEAVING);

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

static Suite *server_suite(void)
{
	Suite *s = suite_create("server");
	TCase *tc;

	tc = tcase_create("requests");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_requests_end_to_end);
	tcase_add_test(tc, test_capacity_full_writes_nothing);
	tcase_add_test(tc, test_unreg_frees_pages);
	suite_add_tcase(s, tc);

	tc = tcase_create("parity");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_parity_requests_end_to_end);
	tcase_add_test(tc, test_parity_requests_full);
	tcase_add_test(tc, test_leave);
	suite_add_tcase(s, tc);

	tc = tcase_create("leases");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_lease_synthetic_clock);
	tcase_add_test(tc, test_lease_real_time);
	tcase_add_test(tc, test_traffic_renews_lease);
	tcase_add_test(tc, test_attach_takes_over);
	tcase_add_test(tc, test_client_restart_keeps_pages);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(server_suite());
}
