// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_server.c - libFuzzer harness for the memory server as a whole:
 * memxd/server/server.c and store.c behind a real, authenticating RMAP
 * endpoint, with state kept from input to input and time moving on.
 *
 * Each input is a sequence of records:
 *
 *   op (1 byte)   bits 0-1: the source (0..3); bits 2-7: how far time
 *                 moves first (1..59: that many x 20 ms; 60..63: that
 *                 many minus 59 times 200 s, past leases)
 *   len (2 bytes, big-endian), then len bytes
 *
 * Sources 0 and 1 are two addresses of client A (a pager and its
 * restarted self), source 2 is client B, another key the server allows:
 * their bytes are a message header and fragment in clear, fed through
 * rmap_ep_inject_plain(), the path a datagram takes once it was opened
 * after a completed handshake.  The harness puts the source's epoch in
 * the header, and a session of 0xffffffff becomes the last session the
 * server handed out (the fuzzer cannot guess random ids); sequence numbers
 * and bases of reliable records are moved on past everything the source
 * sent in earlier inputs, so that each input goes on with the stream
 * rather than being taken for duplicates.  Source 3's
 * bytes are a whole datagram from a stranger, through the sealed path
 * (rmap_ep_inject_rx): handshakes, cookies, DATA that must not open.
 *
 * The server lives across inputs (sessions, pages, leases, reassembly,
 * queued replies, retransmissions, limits), and is made afresh every
 * RESET_EVERY inputs.  Nothing reaches the network: every datagram the
 * server sends is dropped at the wire filter, after its REG and ATTACH
 * replies taught the harness their sessions.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memxd/log.h"
#include "memxd/server/server.h"
#include "rmap/rmap.h"

#define NSRC		4
#define RESET_EVERY	5000u

static struct evl *loop;
static struct server *srv;
static uint8_t key_s[RMAP_KEY_LEN], key_a[RMAP_KEY_LEN], key_b[RMAP_KEY_LEN];
static struct rmap_peer_key allowed[2];
static struct sockaddr_storage src[NSRC];
static uint32_t last_session;
static unsigned inputs;
static uint32_t seq_off[NSRC], seq_next[NSRC];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int learn(const struct rmap_hdr *h, void *arg)
{
	(void)arg;
	if ((h->flags & RMAP_F_RESPONSE) && !h->status && h->session &&
	    (h->type == RMAP_T_REG || h->type == RMAP_T_ATTACH))
		last_session = h->session;
	return 0;	/* nothing leaves */
}

/* Keys from fixed seeds: a crash replays the same way. */
static void fixed_key(uint8_t *k, uint8_t seed)
{
	for (unsigned i = 0; i < RMAP_KEY_LEN; i++)
		k[i] = (uint8_t)(seed * 37 + i * 11 + 1);
	k[0] &= 248;
	k[31] = (uint8_t)((k[31] & 127) | 64);
}

static void server_up(void)
{
	struct server_config cfg = {
		.listen = "127.0.0.1:0",
		.capacity_pages = 512,
		.heartbeat_ms = 100,
		.lease_s = 60,
		.dedup = true,	/* the corpus repeats pages: shared */
	};

	rmap_config_default(&cfg.rmap);
	cfg.rmap.max_retries = 3;
	cfg.rmap.auth.have_key = true;
	memcpy(cfg.rmap.auth.private_key, key_s, RMAP_KEY_LEN);
	cfg.rmap.auth.peers = allowed;
	cfg.rmap.auth.npeers = 2;
	if (server_new(&srv, loop, &cfg))
		abort();
	rmap_ep_set_tx_filter(server_ep(srv), learn, NULL);
	last_session = 0;
	memset(seq_off, 0, sizeof(seq_off));
	memset(seq_next, 0, sizeof(seq_next));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void fuzz_init(void)
{
	/* FUZZ_VERBOSE=1: the server's log, to see what a seed reaches. */
	log_set_level(getenv("FUZZ_VERBOSE") ? LOG_LEVEL_DEBUG :
		      LOG_LEVEL_ERR);
	if (evl_new(&loop, 256))
		abort();
	fixed_key(key_s, 1);
	fixed_key(key_a, 2);
	fixed_key(key_b, 3);
	rmap_key_public(key_a, allowed[0].pub);
	rmap_key_public(key_b, allowed[1].pub);
	for (unsigned i = 0; i < NSRC; i++) {
		struct sockaddr_in *s = (struct sockaddr_in *)&src[i];

		memset(&src[i], 0, sizeof(src[i]));
		s->sin_family = AF_INET;
		s->sin_addr.s_addr = htonl(0x7f000001u + (i == 1 ? 0 : i));
		s->sin_port = htons((uint16_t)(40000 + i));
	}
	server_up();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[RMAP_MAX_DATAGRAM + 64];
	static const uint32_t epoch[NSRC] = { 0x0a0a0a0a, 0x0b0b0b0b,
					      0x0c0c0c0c, 0 };

	if (!loop)
		fuzz_init();
	if (++inputs % RESET_EVERY == 0) {
		server_free(srv);
		server_up();
	}
	memcpy(seq_off, seq_next, sizeof(seq_off));
	while (size >= 3) {
		unsigned op = data[0], from = op & 3, adv = op >> 2;
		size_t len = (size_t)data[1] << 8 | data[2];

		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		if (len > sizeof(buf))
			len = sizeof(buf);
		memcpy(buf, data, len);
		data += len;
		size -= len;
		if (adv) {
			evl_advance_clock(adv < 60 ? adv * 20000000ull :
					  (adv - 59) * 200000000000ull);
			evl_run_once(loop, 0);
		}
		if (from == 3) {
			rmap_ep_inject_rx(server_ep(srv), buf, len, &src[3]);
			continue;
		}
		if (len >= 24) {
			put32(buf + 8, epoch[from]);
			if (get32(buf + 12) == 0xffffffffu)
				put32(buf + 12, last_session);
			/* Reliable: go on where the last input stopped. */
			if (buf[5] & RMAP_F_RELIABLE) {
				uint32_t sq = get32(buf + 16) + seq_off[from];

				put32(buf + 16, sq);
				put32(buf + 20, get32(buf + 20) + seq_off[from]);
				if ((int32_t)(sq + 1 - seq_next[from]) > 0)
					seq_next[from] = sq + 1;
			}
		}
		rmap_ep_inject_plain(server_ep(srv), buf, len, &src[from],
				     allowed[from == 2].pub);
	}
	evl_run_once(loop, 0);
	return 0;
}
