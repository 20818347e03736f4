// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_rx.c - libFuzzer harness for RMAP's whole receive path.
 *
 * One server endpoint lives for the whole run.  Each input is a sequence
 * of datagrams, each behind a 2-byte big-endian prefix: the low 14 bits
 * are the datagram's length, the top 2 bits pick which of four source
 * addresses it comes from.  The datagrams go through rmap_ep_inject_rx(),
 * exactly as if the socket had received them: decode, acknowledgement
 * processing, duplicate suppression, reassembly, delivery to a trivial
 * request handler that answers like a memory server would.
 *
 * So that replies can be exercised too, the endpoint has a READ and a
 * STAT call outstanding toward sources 0 and 1, and responses from those
 * sources get the reqid of that call patched in (a fuzzer cannot guess
 * it: request ids start at a random point).
 *
 * Nothing reaches the network: a tx filter drops every outgoing datagram.
 * After each input the four peers are dropped, which frees everything the
 * input made the endpoint hold; leaks or unbounded growth show up in ASan.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rmap/rmap.h"

#define NSRC	4

static struct evl *loop;
static struct rmap_ep *ep;
static struct sockaddr_storage src[NSRC];
static uint8_t pages[RMAP_MAX_MSG];
static uint8_t read_buf[3 * RMAP_PAGE_SIZE], stat_buf[RMAP_STAT_LEN];
static uint32_t call_reqid[NSRC];
static unsigned replies;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_request(struct rmap_ep *e, const struct rmap_msg *m, void *arg)
{
	uint8_t body[RMAP_STAT_LEN];
	struct rmap_stat st = { 100, 10, 5, 1, 7246, 0 };
	struct iovec iov;
	uint32_t sum = 0;

	(void)arg;
	/* Touch every delivered byte, so ASan checks the buffer. */
	for (uint32_t i = 0; i < m->len; i++)
		sum += m->data[i];
	pages[0] = (uint8_t)sum;
	switch (m->type) {
	case RMAP_T_READ:
		iov.iov_base = pages;
		iov.iov_len = (size_t)m->count * RMAP_PAGE_SIZE;
		rmap_reply(e, m, m->reqid & 1 ? RMAP_S_NOENT : RMAP_S_OK,
			   m->session, &iov, 1);
		break;
	case RMAP_T_STAT:
		rmap_stat_encode(&st, body);
		iov.iov_base = body;
		iov.iov_len = sizeof(body);
		rmap_reply(e, m, RMAP_S_OK, m->session, &iov, 1);
		break;
	case RMAP_T_REG:
	case RMAP_T_ATTACH:
		iov.iov_base = body;
		iov.iov_len = RMAP_SESSION_INFO_LEN;
		memset(body, 0, RMAP_SESSION_INFO_LEN);
		rmap_reply(e, m, RMAP_S_OK, 0x1234, &iov, 1);
		break;
	case RMAP_T_WRITE:
		rmap_reply(e, m, m->reqid % 3 ? RMAP_S_OK : RMAP_S_FULL,
			   m->session, NULL, 0);
		break;
	default:
		rmap_reply(e, m, (uint8_t)(m->reqid % (RMAP_S_MAX + 1)),
			   m->session, NULL, 0);
		break;
	}
}

static void on_reply(void *arg, int err, const struct rmap_msg *resp)
{
	(void)arg;
	(void)err;
	if (resp && resp->len)
		replies += resp->data[0];
	replies++;
}

static void on_announce(struct rmap_ep *e, const struct sockaddr_storage *from,
			const struct rmap_stat *st, void *arg)
{
	(void)e;
	(void)from;
	(void)arg;
	replies += st->sessions;
}

/* Drop everything, but learn the reqids of our own calls. */
static int tx_drop(const struct rmap_hdr *h, void *arg)
{
	(void)arg;
	if (!(h->flags & RMAP_F_RESPONSE) && h->type == RMAP_T_READ)
		call_reqid[0] = h->reqid;
	if (!(h->flags & RMAP_F_RESPONSE) && h->type == RMAP_T_STAT)
		call_reqid[1] = h->reqid;
	return 0;
}

static void fuzz_init(void)
{
	struct rmap_handlers h = {
		.request = on_request,
		.announce = on_announce,
		.accept_new_peers = true,
	};
	struct rmap_config cfg;
	struct sockaddr_in sin = { .sin_family = AF_INET };

	if (evl_new(&loop, 256))
		abort();
	rmap_config_default(&cfg);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (rmap_ep_open(&ep, loop, (struct sockaddr *)&sin, sizeof(sin),
			 &cfg, &h))
		abort();
	rmap_ep_set_tx_filter(ep, tx_drop, NULL);
	for (unsigned i = 0; i < NSRC; i++) {
		struct sockaddr_in *s = (struct sockaddr_in *)&src[i];

		memset(&src[i], 0, sizeof(src[i]));
		s->sin_family = AF_INET;
		s->sin_addr.s_addr = htonl(0x7f000001u + i);	/* 127.0.0.x */
		s->sin_port = htons((uint16_t)(40000 + i));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t dgram[RMAP_MAX_DATAGRAM + 64];
	struct rmap_req rd = { .type = RMAP_T_READ, .page = 7, .count = 3 };
	struct rmap_req st = { .type = RMAP_T_STAT };
	struct rmap_peer *peer;

	if (!loop)
		fuzz_init();
	/* Our calls toward sources 0 and 1, still waiting for answers. */
	peer = rmap_peer_get(ep, &src[0]);
	if (peer)
		rmap_call(ep, peer, &rd, read_buf, sizeof(read_buf), on_reply,
			  NULL);
	peer = rmap_peer_get(ep, &src[1]);
	if (peer)
		rmap_call(ep, peer, &st, stat_buf, sizeof(stat_buf), on_reply,
			  NULL);

	while (size >= 2) {
		unsigned pfx = (unsigned)data[0] << 8 | data[1];
		size_t len = pfx & 0x3fff;
		unsigned from = pfx >> 14;

		data += 2;
		size -= 2;
		if (len > size)
			len = size;
		if (len > sizeof(dgram))
			len = sizeof(dgram);
		memcpy(dgram, data, len);
		data += len;
		size -= len;
		/* A response from a source we called answers our call. */
		if (from < 2 && len >= 44 && (dgram[5] & RMAP_F_RESPONSE)) {
			dgram[40] = (uint8_t)(call_reqid[from] >> 24);
			dgram[41] = (uint8_t)(call_reqid[from] >> 16);
			dgram[42] = (uint8_t)(call_reqid[from] >> 8);
			dgram[43] = (uint8_t)call_reqid[from];
		}
		rmap_ep_inject_rx(ep, dgram, len, &src[from]);
	}
	/* Let the loop flush acknowledgements and run due timers. */
	evl_run_once(loop, 0);

	for (unsigned i = 0; i < NSRC; i++) {
		peer = rmap_peer_find(ep, &src[i]);
		if (peer)
			rmap_peer_drop(ep, peer);
	}
	if (rmap_ep_pending(ep))
		abort();	/* dropping every peer must free everything */
	return 0;
}
