// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * gen_corpus.c - write the seed corpus of the RMAP fuzzers.
 *
 * usage: gen_corpus DIR   (writes DIR/wire/, DIR/rx/ and DIR/server/; all
 * must exist)
 *
 * wire/: one datagram per file: a valid packet of every type, request and
 * response, single- and multi-fragment, plus one malformed packet for
 * every reason the decoder refuses one.
 * rx/: datagram sequences in fuzz_rx.c's format (2-byte big-endian prefix:
 * low 13 bits length, bit 13 raw, top 2 bits source): whole
 * conversations a server sees, in order, reordered, duplicated, and with
 * garbage mixed in; raw handshake-shaped datagrams for the sealed path.
 * server/: record sequences in fuzz_server.c's format: sessions of every
 * request type, ATTACH from a restarted client, another client's key,
 * MOVE and ATTACH by another key (live migration), leases running out,
 * fragments, window jumps, strangers.
 *
 * The output is committed under tests/fuzz/corpus/; rerun this after a
 * wire format change.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rmap/wire.h"

#define FP	1368u		/* fragment payload at MTU 1500 */

static const char *dir;
static uint8_t body[RMAP_MAX_MSG];

struct out {
	uint8_t buf[1 << 20];
	size_t len;
};

static struct out seq;

static void write_file(const char *sub, const char *name, const void *p,
		       size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f)) {
		perror(path);
		exit(1);
	}
}

/* Encode @h with its fragment of @body into @out; returns the length. */
static size_t encode(const struct rmap_hdr *h, uint8_t *out)
{
	rmap_wire_encode(h, out);
	memcpy(out + RMAP_HDR_LEN, body + h->frag_off, h->frag_len);
	return RMAP_HDR_LEN + h->frag_len;
}

static struct rmap_hdr hdr(unsigned type, bool resp, uint32_t seq_no,
			   uint32_t msg_len)
{
	struct rmap_hdr h = { 0 };

	h.type = (uint8_t)type;
	h.flags = RMAP_F_RELIABLE | (resp ? RMAP_F_RESPONSE : 0);
	h.epoch = 0x11223344;
	h.session = resp || type != RMAP_T_REG ? 0x1234 : 0;
	h.seq = seq_no;
	h.base = 0;
	h.reqid = 0x1000 + seq_no;
	h.frag_cnt = 1;
	h.msg_len = msg_len;
	h.frag_len = (uint16_t)(msg_len > FP ? FP : msg_len);
	if (msg_len > FP)
		h.frag_cnt = (uint16_t)((msg_len + FP - 1) / FP);
	return h;
}

static void wire(const char *name, const struct rmap_hdr *h)
{
	uint8_t p[RMAP_MAX_DATAGRAM];

	write_file("wire", name, p, encode(h, p));
}

/* Append every fragment of message @h (frag 0 given) to the rx sequence. */
static void rx_msg(struct rmap_hdr h, unsigned from)
{
	uint8_t p[RMAP_MAX_DATAGRAM];
	uint16_t n = h.frag_cnt;
	uint32_t first = h.seq;

	for (uint16_t i = 0; i < n; i++) {
		size_t len;

		h.frag_idx = i;
		h.seq = first + i;
		h.frag_off = i * FP;
		h.frag_len = (uint16_t)(h.msg_len - h.frag_off < FP ?
					h.msg_len - h.frag_off : FP);
		if (!h.msg_len)
			h.frag_len = 0;
		len = encode(&h, p);
		seq.buf[seq.len++] = (uint8_t)(from << 6 | len >> 8);
		seq.buf[seq.len++] = (uint8_t)len;
		memcpy(seq.buf + seq.len, p, len);
		seq.len += len;
	}
}

static void rx_raw(const void *p, size_t len, unsigned from)
{
	seq.buf[seq.len++] = (uint8_t)(from << 6 | len >> 8);
	seq.buf[seq.len++] = (uint8_t)len;
	memcpy(seq.buf + seq.len, p, len);
	seq.len += len;
}

static void rx_flush(const char *name)
{
	write_file("rx", name, seq.buf, seq.len);
	seq.len = 0;
}

static void gen_wire(void)
{
	struct rmap_hdr h;
	uint8_t p[RMAP_MAX_DATAGRAM];
	size_t n;
	struct rmap_stat st = { 1000, 10, 5, 2, 7246, 0 };

	rmap_stat_encode(&st, body);
	h = (struct rmap_hdr){ .flags = RMAP_F_ACK, .epoch = 1, .ack = 5,
			       .sack = 0x5 };
	wire("ack", &h);
	h = hdr(RMAP_T_REG, false, 0, RMAP_REG_LEN);
	wire("reg-req", &h);
	h = hdr(RMAP_T_REG, true, 0, RMAP_SESSION_INFO_LEN);
	h.flags |= RMAP_F_ACK;
	h.ack = 1;
	wire("reg-resp", &h);
	h = hdr(RMAP_T_ATTACH, false, 0, RMAP_ATTACH_LEN);
	wire("attach-req", &h);
	h = hdr(RMAP_T_ATTACH, true, 0, RMAP_SESSION_INFO_LEN);
	h.flags |= RMAP_F_ACK;
	h.ack = 1;
	wire("attach-resp", &h);
	h = hdr(RMAP_T_MOVE, false, 0, RMAP_MOVE_LEN);
	wire("move-req", &h);
	h = hdr(RMAP_T_MOVE, true, 0, 0);
	h.flags |= RMAP_F_ACK;
	h.ack = 1;
	wire("move-resp", &h);
	/* A later version's request: well formed, answered UNSUPP. */
	h = hdr(RMAP_T_MAX + 1, false, 0, 8);
	wire("later-type-req", &h);
	h = hdr(RMAP_T_UNREG, false, 9, 0);
	wire("unreg-req", &h);
	h = hdr(RMAP_T_READ, false, 3, 0);
	h.page = 100;
	h.count = 4;
	wire("read-req", &h);
	h = hdr(RMAP_T_READ, true, 3, 4 * RMAP_PAGE_SIZE);
	h.page = 100;
	h.count = 4;
	wire("read-resp-frag0", &h);
	h.frag_idx = 11;
	h.frag_off = 11 * FP;
	h.frag_len = (uint16_t)(4 * RMAP_PAGE_SIZE - 11 * FP);
	wire("read-resp-fraglast", &h);
	{
		/* The last fragment, padded with zeros to a full one's size. */
		uint8_t pad[RMAP_MAX_DATAGRAM] = { 0 };

		h.flags |= RMAP_F_PAD;
		encode(&h, pad);
		write_file("wire", "read-resp-fraglast-padded", pad,
			   RMAP_HDR_LEN + FP);
		h.flags &= (uint16_t)~RMAP_F_PAD;
	}
	h = hdr(RMAP_T_READ, true, 3, 0);
	h.status = RMAP_S_NOENT;
	h.page = 100;
	h.count = 4;
	wire("read-resp-noent", &h);
	h = hdr(RMAP_T_WRITE, false, 4, RMAP_PAGE_SIZE);
	h.page = 1;
	h.count = 1;
	wire("write-req-frag0", &h);
	h.frag_cnt = 1;
	h.frag_len = RMAP_PAGE_SIZE;
	wire("write-req-jumbo", &h);
	h = hdr(RMAP_T_WRITE, true, 4, 0);
	h.status = RMAP_S_FULL;
	h.page = 1;
	h.count = 1;
	wire("write-resp-full", &h);
	h = hdr(RMAP_T_FREE, false, 5, 0);
	h.page = 0;
	h.count = 0xffffffffu;
	wire("free-req", &h);
	h = hdr(RMAP_T_STAT, false, 6, 0);
	wire("stat-req", &h);
	h = hdr(RMAP_T_STAT, true, 6, RMAP_STAT_LEN);
	wire("stat-resp", &h);
	h = hdr(RMAP_T_ANNOUNCE, false, 0, RMAP_STAT_LEN);
	h.flags = 0;
	h.session = 0;
	h.reqid = 0;
	wire("announce", &h);
	h = hdr(RMAP_T_HEARTBEAT, false, 7, 0);
	h.flags |= RMAP_F_ACK;
	h.sack = ~0ull;
	wire("heartbeat", &h);

	/* Malformed: one per refusal reason. */
	h = hdr(RMAP_T_HEARTBEAT, false, 7, 0);
	n = encode(&h, p);
	write_file("wire", "bad-short", p, n - 1);
	p[0] = 'X';
	write_file("wire", "bad-magic", p, n);
	p[0] = 0x4d;
	p[2] = 1;	/* version 1: RMAP without authentication */
	write_file("wire", "bad-version", p, n);
	p[2] = RMAP_VERSION;
	p[7] = 1;
	write_file("wire", "bad-reserved", p, n);
	p[7] = 0;
	p[3] = 99;
	write_file("wire", "bad-type", p, n);
	p[3] = RMAP_T_HEARTBEAT;
	p[5] |= 0x08;	/* v1's reserved AUTH flag */
	write_file("wire", "bad-flags-auth", p, n);
	h.status = 9;
	h.flags |= RMAP_F_RESPONSE;
	wire("bad-status", &h);
	h = hdr(RMAP_T_REG, false, 0, RMAP_REG_LEN);
	n = encode(&h, p);
	write_file("wire", "bad-length", p, n + 1);
	h = hdr(RMAP_T_WRITE, false, 4, RMAP_PAGE_SIZE);
	h.page = 1;
	h.count = 1;
	h.frag_idx = 1;
	h.frag_off = 1000;
	wire("bad-frag", &h);
	h = hdr(RMAP_T_WRITE, false, 4, RMAP_MAX_MSG + 1);
	wire("bad-oversize", &h);
	h = hdr(RMAP_T_READ, false, 3, 0);
	h.count = 0;
	wire("bad-pages", &h);
}

static void gen_rx(void)
{
	struct rmap_hdr h, ack = { .flags = RMAP_F_ACK, .epoch = 0x11223344 };
	uint8_t p[RMAP_MAX_DATAGRAM];
	size_t n;

	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 7 + (i >> 12));

	/* A whole session, in order, from source 2. */
	h = hdr(RMAP_T_REG, false, 0, RMAP_REG_LEN);
	rx_msg(h, 2);
	h = hdr(RMAP_T_WRITE, false, 1, 2 * RMAP_PAGE_SIZE);
	h.page = 10;
	h.count = 2;
	rx_msg(h, 2);
	h = hdr(RMAP_T_READ, false, 7, 0);
	h.page = 10;
	h.count = 2;
	rx_msg(h, 2);
	h = hdr(RMAP_T_FREE, false, 8, 0);
	h.page = 10;
	h.count = 1;
	rx_msg(h, 2);
	h = hdr(RMAP_T_STAT, false, 9, 0);
	rx_msg(h, 2);
	h = hdr(RMAP_T_HEARTBEAT, false, 10, 0);
	rx_msg(h, 2);
	ack.ack = 3;
	ack.sack = 0x3;
	n = encode(&ack, p);
	rx_raw(p, n, 2);
	h = hdr(RMAP_T_UNREG, false, 11, 0);
	rx_msg(h, 2);
	rx_flush("session-in-order");

	/* Replies to our own calls: source 0 answers READ, 1 answers STAT. */
	h = hdr(RMAP_T_READ, true, 0, 3 * RMAP_PAGE_SIZE);
	h.page = 7;
	h.count = 3;
	rx_msg(h, 0);
	rmap_stat_encode(&(struct rmap_stat){ 100, 1, 0, 1, 1, 0 }, body);
	h = hdr(RMAP_T_STAT, true, 0, RMAP_STAT_LEN);
	rx_msg(h, 1);
	rx_flush("replies");

	h = hdr(RMAP_T_READ, true, 0, 0);
	h.status = RMAP_S_NOENT;
	h.page = 7;
	h.count = 3;
	rx_msg(h, 0);
	h = hdr(RMAP_T_STAT, true, 0, 0);
	h.status = RMAP_S_UNSUPP;
	rx_msg(h, 1);
	rx_flush("replies-error");

	/* A 16-page WRITE delivered backwards, then all of it again. */
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 13);
	{
		struct rmap_hdr w = hdr(RMAP_T_WRITE, false, 0,
					16 * RMAP_PAGE_SIZE);
		int nf = w.frag_cnt;

		w.page = 64;
		w.count = 16;
		for (int pass = 0; pass < 2; pass++) {
			for (int i = nf - 1; i >= 0; i--) {
				w.frag_idx = (uint16_t)i;
				w.seq = (uint32_t)i;
				w.frag_off = (uint32_t)i * FP;
				w.frag_len = (uint16_t)(w.msg_len - w.frag_off < FP ?
							w.msg_len - w.frag_off : FP);
				n = encode(&w, p);
				rx_raw(p, n, 3);
			}
		}
	}
	rx_flush("reversed-and-duplicated");

	/* Garbage between good packets, and an announcement. */
	h = hdr(RMAP_T_HEARTBEAT, false, 0, 0);
	rx_msg(h, 2);
	rx_raw("not an rmap packet", 18, 2);
	n = encode(&h, p);
	p[2] = 7;
	rx_raw(p, n, 2);
	rmap_stat_encode(&(struct rmap_stat){ 100, 1, 0, 1, 1, 0 }, body);
	h = hdr(RMAP_T_ANNOUNCE, false, 0, RMAP_STAT_LEN);
	h.flags = 0;
	h.session = 0;
	h.reqid = 0;
	rx_msg(h, 1);
	h = hdr(RMAP_T_HEARTBEAT, false, 1, 0);
	rx_msg(h, 2);
	rx_flush("garbage-mixed");

	/* A peer that restarts (new epoch) in the middle. */
	h = hdr(RMAP_T_REG, false, 0, RMAP_REG_LEN);
	rx_msg(h, 2);
	h = hdr(RMAP_T_HEARTBEAT, false, 1, 0);
	h.epoch = 0x55667788;
	h.base = 1;
	rx_msg(h, 2);
	h = hdr(RMAP_T_HEARTBEAT, false, 2, 0);
	rx_msg(h, 2);	/* the old epoch: from its past life */
	rx_flush("epoch-change");

	/* Raw datagrams for the authenticating endpoint. */
	{
		static const unsigned lens[] = { 156, 100, 64, 200, 16, 3 };
		static const uint8_t kinds[] = { 1, 2, 3, 4, 5, 9 };

		for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			memset(p, (int)(0x31 * i), lens[i]);
			p[0] = 0x4d;
			p[1] = 0x58;
			p[2] = RMAP_VERSION;
			if (lens[i] > 3)
				p[3] = kinds[i];
			seq.buf[seq.len++] = (uint8_t)(1u << 6 | 1u << 5 |
						       lens[i] >> 8);
			seq.buf[seq.len++] = (uint8_t)lens[i];
			memcpy(seq.buf + seq.len, p, lens[i]);
			seq.len += lens[i];
		}
		rx_flush("sealed-garbage");
	}
}

/* ---- fuzz_server.c's records: op (adv << 2 | source), be16 length ---- */

static void srv_rec(unsigned adv, unsigned from, const void *p, size_t len)
{
	seq.buf[seq.len++] = (uint8_t)(adv << 2 | from);
	seq.buf[seq.len++] = (uint8_t)(len >> 8);
	seq.buf[seq.len++] = (uint8_t)len;
	memcpy(seq.buf + seq.len, p, len);
	seq.len += len;
}

/* Every fragment of message @h from @from; the session is the server's. */
static uint32_t srv_seq[4];

static void srv_msg(struct rmap_hdr h, unsigned from, unsigned adv)
{
	uint8_t p[RMAP_MAX_DATAGRAM];
	uint16_t n = h.msg_len > FP ? (uint16_t)((h.msg_len + FP - 1) / FP) : 1;

	h.frag_cnt = n;
	h.seq = srv_seq[from];
	h.base = srv_seq[from];
	for (uint16_t i = 0; i < n; i++) {
		h.frag_idx = i;
		h.seq = srv_seq[from]++;
		h.frag_off = i * FP;
		h.frag_len = (uint16_t)(h.msg_len - h.frag_off < FP ?
					h.msg_len - h.frag_off : FP);
		if (!h.msg_len)
			h.frag_len = 0;
		srv_rec(i ? 0 : adv, from, p, encode(&h, p));
	}
}

static struct rmap_hdr req(unsigned type, uint64_t page, uint32_t count,
			   uint32_t len)
{
	struct rmap_hdr h = hdr(type, false, 0, len);

	h.session = type == RMAP_T_REG || type == RMAP_T_STAT ||
		    type == RMAP_T_LEAVE ? 0 : 0xffffffffu;
	h.page = page;
	h.count = count;
	h.reqid = 0x4000 + srv_seq[0] + srv_seq[1] * 7 + srv_seq[2] * 13;
	return h;
}

static void srv_flush(const char *name)
{
	write_file("server", name, seq.buf, seq.len);
	seq.len = 0;
	memset(srv_seq, 0, sizeof(srv_seq));
}

static void gen_server(void)
{
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 5 + (i >> 12));
	/* REG: a nonce, then the attach secret. */
	memset(body, 0x42, RMAP_REG_LEN);

	/* One session, every request, in order. */
	srv_msg(req(RMAP_T_REG, 0, 0, RMAP_REG_LEN), 0, 1);
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 5 + (i >> 12));
	srv_msg(req(RMAP_T_WRITE, 10, 2, 2 * RMAP_PAGE_SIZE), 0, 1);
	srv_msg(req(RMAP_T_READ, 10, 2, 0), 0, 1);
	srv_msg(req(RMAP_T_XWRITE, 11, 2, 2 * RMAP_PAGE_SIZE), 0, 1);
	srv_msg(req(RMAP_T_PXOR, 20, 1, RMAP_PAGE_SIZE), 0, 1);
	srv_msg(req(RMAP_T_READZ, 19, 3, 0), 0, 1);
	srv_msg(req(RMAP_T_XFREE, 10, 1, 0), 0, 1);
	srv_msg(req(RMAP_T_FREE, 0, 100, 0), 0, 1);
	srv_msg(req(RMAP_T_HEARTBEAT, 0, 0, 0), 0, 1);
	body[0] = body[1] = body[2] = 0;
	body[3] = RMAP_STAT_WANT_COUNTERS;
	srv_msg(req(RMAP_T_STAT, 0, 0, RMAP_STAT_REQ_LEN), 0, 1);
	srv_msg(req(RMAP_T_UNREG, 0, 0, 0), 0, 1);
	srv_flush("session");

	/* A restarted client (source 1, same key) takes the session over. */
	memset(body, 0x42, RMAP_REG_LEN);
	srv_msg(req(RMAP_T_REG, 0, 0, RMAP_REG_LEN), 0, 1);
	memset(body, 0x77, RMAP_PAGE_SIZE);
	srv_msg(req(RMAP_T_WRITE, 5, 1, RMAP_PAGE_SIZE), 0, 1);
	memset(body, 0x42, RMAP_ATTACH_LEN);
	srv_msg(req(RMAP_T_ATTACH, 0, 0, RMAP_ATTACH_LEN), 1, 10);
	srv_msg(req(RMAP_T_READ, 5, 1, 0), 1, 1);
	srv_msg(req(RMAP_T_READ, 5, 1, 0), 0, 1);
	/* Another key: neither ATTACH nor anything else. */
	srv_msg(req(RMAP_T_ATTACH, 0, 0, RMAP_ATTACH_LEN), 2, 1);
	srv_msg(req(RMAP_T_UNREG, 0, 0, 0), 2, 1);
	srv_msg(req(RMAP_T_REG, 0, 0, RMAP_REG_LEN), 2, 1);
	srv_flush("attach-and-other-key");

	/*
	 * Live migration: client B may take the session over only once
	 * its owner made it movable (MOVE 1), the owner may take it back,
	 * and once B settles it (MOVE 0) the owner's key is refused.
	 */
	memset(body, 0x42, RMAP_REG_LEN);
	srv_msg(req(RMAP_T_REG, 0, 0, RMAP_REG_LEN), 0, 1);
	memset(body, 0x5a, RMAP_PAGE_SIZE);
	srv_msg(req(RMAP_T_WRITE, 7, 1, RMAP_PAGE_SIZE), 0, 1);
	memset(body, 0x42, RMAP_SECRET_LEN);
	body[RMAP_SECRET_LEN] = RMAP_MOVE_MOVABLE;
	srv_msg(req(RMAP_T_ATTACH, 0, 0, RMAP_ATTACH_LEN), 2, 1);
	srv_msg(req(RMAP_T_MOVE, 0, 0, RMAP_MOVE_LEN), 2, 1);
	srv_msg(req(RMAP_T_MOVE, 0, 0, RMAP_MOVE_LEN), 0, 1);
	srv_msg(req(RMAP_T_ATTACH, 0, 0, RMAP_ATTACH_LEN), 2, 1);
	srv_msg(req(RMAP_T_READ, 7, 1, 0), 2, 1);
	srv_msg(req(RMAP_T_READ, 7, 1, 0), 0, 1);
	srv_msg(req(RMAP_T_ATTACH, 0, 0, RMAP_ATTACH_LEN), 0, 1);
	srv_msg(req(RMAP_T_ATTACH, 0, 0, RMAP_ATTACH_LEN), 2, 1);
	body[RMAP_SECRET_LEN] = RMAP_MOVE_SETTLED;
	srv_msg(req(RMAP_T_MOVE, 0, 0, RMAP_MOVE_LEN), 2, 1);
	srv_msg(req(RMAP_T_ATTACH, 0, 0, RMAP_ATTACH_LEN), 1, 1);
	body[RMAP_SECRET_LEN] = 7;
	srv_msg(req(RMAP_T_MOVE, 0, 0, RMAP_MOVE_LEN), 2, 1);
	srv_flush("move-to-other-key");

	/* Requests of a later version, with and without a session. */
	memset(body, 0x77, RMAP_REG_LEN);
	srv_msg(req(RMAP_T_REG, 0, 0, RMAP_REG_LEN), 0, 1);
	srv_msg(req(RMAP_T_MAX + 1, 0, 0, 8), 0, 1);
	srv_msg(req(RMAP_T_LIMIT - 1, 0, 0, 0), 1, 1);
	srv_msg(req(RMAP_T_HEARTBEAT, 0, 0, 0), 0, 1);
	srv_flush("later-types");

	/* The lease runs out while time flies. */
	memset(body, 0x13, RMAP_REG_LEN);
	srv_msg(req(RMAP_T_REG, 0, 0, RMAP_REG_LEN), 0, 1);
	memset(body, 0x99, 4 * RMAP_PAGE_SIZE);
	srv_msg(req(RMAP_T_WRITE, 0, 4, 4 * RMAP_PAGE_SIZE), 0, 1);
	srv_msg(req(RMAP_T_HEARTBEAT, 0, 0, 0), 0, 63);
	srv_msg(req(RMAP_T_READ, 0, 4, 0), 0, 1);
	srv_flush("lease-expiry");

	/* A big WRITE, and a heartbeat whose base is 2^31 ahead. */
	memset(body, 0x21, RMAP_REG_LEN);
	srv_msg(req(RMAP_T_REG, 0, 0, RMAP_REG_LEN), 2, 1);
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 3);
	srv_msg(req(RMAP_T_WRITE, 100, 64, 64 * RMAP_PAGE_SIZE), 2, 0);
	srv_seq[2] += 0x80000000u;
	srv_msg(req(RMAP_T_HEARTBEAT, 0, 0, 0), 2, 2);
	srv_msg(req(RMAP_T_READ, 100, 64, 0), 2, 2);
	srv_flush("big-write-and-jump");

	/* A stranger: handshake-shaped bytes through the sealed path. */
	{
		uint8_t p[256];

		memset(p, 0x5a, sizeof(p));
		p[0] = 0x4d;
		p[1] = 0x58;
		p[2] = RMAP_VERSION;
		p[3] = RMAP_K_INIT;
		srv_rec(1, 3, p, 156);
		p[3] = RMAP_K_DATA;
		srv_rec(1, 3, p, 200);
		p[3] = RMAP_K_PLAIN;
		srv_rec(1, 3, p, 100);
	}
	srv_flush("stranger");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR (with DIR/wire, DIR/rx and "
			"DIR/server)\n",
			argv[0]);
		return 2;
	}
	dir = argv[1];
	gen_wire();
	gen_rx();
	gen_server();
	return 0;
}
