/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rmap_int.h - RMAP's private state, shared by the files that implement
 * rmap.h and included by nothing else:
 *
 *   ep.c    an endpoint's life, its configuration, addresses
 *   peer.c  the peer table, and what befalls a peer as a whole
 *   call.c  requests and replies; whole messages delivered
 *   tx.c    the send side: packets, window, retransmission, ACKs, GSO
 *   rx.c    the receive side: duplicates, reassembly, the receives
 *
 * Reliability is per packet.  Each reliable packet carries a sequence
 * number in its sender's stream toward one peer and the lowest sequence
 * number the sender still retransmits ("base").  The receiver keeps the
 * next sequence number it expects plus a bitmap of what it has beyond
 * it, drops duplicates, and acknowledges cumulatively with a 64-bit
 * selective bitmap: out-of-order acknowledgements cost nothing.  The
 * base lets a fresh receiver (a restarted server) pick up a stream
 * mid-way, and the epoch in every header tells it that its peer restarted.
 *
 * A message is split into consecutive packets; the receiver places
 * fragments by offset, straight into the caller's buffer for a reply,
 * and delivers the message when its last fragment lands.  Per-packet
 * reliability means a lost fragment costs one retransmitted fragment,
 * not the message, which keeps prefetch runs cheap under loss.
 */
#ifndef MEMX_RMAP_INT_H
#define MEMX_RMAP_INT_H

#include "rmap.h"

#define PEER_BUCKETS	256u
#define CALL_BUCKETS	1024u

/*
 * Where the kernel lacks provided-buffer rings, RECV_SLOTS one-shot
 * receives do the job (each is a separate poll on the socket, all woken
 * per datagram: keep them few).
 */
#define RECV_SLOTS	8u

struct recv_slot {
	struct evl_op op;
	struct rmap_ep *ep;
	struct msghdr mh;
	struct iovec iov;
	struct sockaddr_storage from;
	uint8_t buf[RMAP_MAX_DATAGRAM + 64];
};

/* One datagram: its header, decoded and encoded, and its payload. */
struct pkt {
	struct evl_op op;	/* send completion */
	struct rmap_ep *ep;
	struct pkt *next;	/* peer's queue */
	struct pkt *pace_next;	/* inter-packet gap queue */
	struct rmap_hdr hdr;
	struct sockaddr_storage to;
	struct msghdr mh;
	struct iovec iov;
	uint64_t sent_ns;
	unsigned refs;
	unsigned inflight;	/* sends the kernel has not finished */
	unsigned retries;
	bool acked;
	bool fast_done;
	bool dead;		/* the peer gave up on it */
	uint16_t len;
	uint8_t buf[];		/* RMAP_HDR_LEN + payload */
};

/* A message being put back together from its fragments. */
struct reasm {
	struct reasm *next;
	struct call *call;	/* reply placed into this call's buffer */
	uint8_t *buf;
	bool owned;		/* buf is ours to free */
	bool discard;		/* nobody wants it: swallow the fragments */
	uint32_t msg_seq;
	uint8_t type, status;
	uint16_t flags;
	uint32_t reqid, session;
	uint64_t page;
	uint32_t count, msg_len;
	uint32_t stride;	/* fragment i starts at i * stride */
	uint16_t frag_cnt, got;
	uint64_t last_ns;
	uint8_t seen[];		/* one bit per fragment */
};

/* An outstanding request. */
struct call {
	struct call *hnext;		/* ep->calls bucket */
	struct call *next, *prev;	/* peer->calls */
	struct rmap_peer *peer;
	struct reasm *reasm;
	uint32_t reqid;
	uint8_t type;
	bool detached;
	uint64_t page;			/* the run asked for: a reply must */
	uint32_t count;			/* echo it */
	void *buf;
	uint32_t cap;
	rmap_reply_fn fn;
	void *arg;
};

struct rmap_peer {
	struct rmap_ep *ep;
	struct rmap_peer *hnext;
	struct rmap_peer *all_next, *all_prev;
	struct rmap_peer *ack_next;
	struct sockaddr_storage addr;
	char name[64];

	/* toward the peer */
	uint32_t snd_next;	/* next seq to assign */
	uint32_t snd_una;	/* oldest unacknowledged */
	unsigned in_window;	/* [snd_una, snd_una + in_window) were sent */
	size_t tx_bytes;	/* bytes queued or unacknowledged */
	struct pkt *win[RMAP_RCV_WINDOW];
	struct pkt *q_head, *q_tail;
	struct call *calls;
	unsigned srtt_us, rttvar_us;
	bool unreachable;

	/* from the peer */
	bool rcv_synced;
	uint32_t rcv_next;
	uint8_t rcv_bits[RMAP_RCV_WINDOW / 8];
	bool ack_pending, on_ack_list;
	bool epoch_known, prev_epoch_known;
	uint32_t remote_epoch, prev_epoch;
	struct reasm *reasm;
	unsigned nreasm;
	size_t reasm_bytes;	/* reassembly buffers we own for it */
};

struct rmap_ep {
	struct evl *loop;
	struct rmap_config cfg;
	struct rmap_handlers h;
	int fd;
	uint32_t epoch;
	uint32_t next_reqid;
	unsigned ops;		/* io_uring operations not yet completed */
	bool closing;

	struct recv_slot *slots;
	bool no_gso;		/* UDP_SEGMENT refused: send one by one */
	/* multishot receive */
	bool multishot;
	unsigned short bgid;
	struct io_uring_buf_ring *br;
	uint8_t *rbufs;
	struct evl_op mrecv_op;
	struct msghdr mrecv_mh;
	struct rmap_peer **peers;
	struct rmap_peer *all_peers;
	unsigned npeers;
	struct call **calls;
	unsigned ncalls;
	struct rmap_peer *ack_list;
	size_t reasm_bytes;

	struct evl_timer rexmit_timer, pace_timer, gc_timer;
	struct evl_hook ack_hook;
	struct pkt *pace_head, *pace_tail;

	rmap_tx_filter_fn tx_filter;
	void *tx_filter_arg;
	struct rmap_counters ctr;
};

/* peer.c: peers as a whole. */
void peer_fail_all(struct rmap_peer *peer, int err);
void peer_set_unreachable(struct rmap_peer *peer);
void peer_heard_from(struct rmap_peer *peer);

/* call.c: requests and replies. */
struct call *call_find(struct rmap_ep *ep, uint32_t reqid);
void call_complete(struct rmap_ep *ep, struct call *c, int err,
		   const struct rmap_msg *resp);
void msg_deliver(struct rmap_ep *ep, struct rmap_peer *peer,
		 const struct rmap_hdr *h, const uint8_t *data, struct call *c);
bool call_matches(const struct call *c, const struct rmap_peer *peer,
		  const struct rmap_hdr *h);

/* tx.c: the send side. */
struct pkt *pkt_new(struct rmap_ep *ep, size_t payload);
void pkt_unref(struct pkt *p);
void ep_xmit(struct rmap_ep *ep, struct pkt *p, struct rmap_peer *peer);
int peer_queue_msg(struct rmap_peer *peer, const struct rmap_hdr *tmpl,
		   const struct iovec *iov, uint32_t len);
void peer_process_ack(struct rmap_peer *peer, uint32_t ack, uint64_t sack);
void peer_drop_tx(struct rmap_peer *peer);
void pace_fire(struct evl *loop, struct evl_timer *t);
void pace_discard(struct rmap_ep *ep);
void rexmit_fire(struct evl *loop, struct evl_timer *t);
void ep_flush_acks(struct evl *loop, struct evl_hook *hook);

/* rx.c: the receive side. */
void rx_start(struct rmap_ep *ep);
void mrecv_teardown(struct rmap_ep *ep);
void peer_reset_rx(struct rmap_peer *peer);
void gc_fire(struct evl *loop, struct evl_timer *t);

#endif
