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
 *   crypt.c keys, the data AEAD, nonces and replay windows
 *   handshake.c  Noise IKpsk2 handshakes; sealing, or a handshake first
 *   cookie.c     the handshake under load: mac1, mac2, cookies (cookie.h)
 *   peerkeys.c   who a peer is, its key pairs and indexes; opening DATA
 *                (peerkeys.h)
 *   noise.c      what handshake messages are made of (noise.h)
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

#include <sodium.h>

#include "rmap.h"

#define PEER_BUCKETS	256u
#define IDX_BUCKETS	1024u
#define IDENTS_SPARE	64u	/* peers rmap_ep_add_peer may add */

/* ---- authentication (crypt.c, peerkeys.c, handshake.c, cookie.c) ---- */

#define SUITE_CHACHA	1u	/* ChaCha20-Poly1305 (IETF) */
#define SUITE_AESGCM	2u	/* AES-256-GCM */

/* A received counter is new if no older than REPLAY_BITS below the top. */
#define REPLAY_BITS	4096u
struct replay {
	uint64_t top;		/* highest counter accepted, plus one */
	uint64_t bits[REPLAY_BITS / 64];
};

/*
 * A direction's keyed AEAD; exactly one is set: AES-256-GCM's key
 * schedule for intel-ipsec-mb or GnuTLS, or ChaCha20's OpenSSL context.
 */
struct aead_state {
	struct gcm_key_data *imb;		/* SUITE_AESGCM */
	struct api_aead_cipher_hd_st *gnutls;	/* SUITE_AESGCM, no imb */
	struct evp_cipher_ctx_st *evp;		/* SUITE_CHACHA */
};

/* The keys of one completed handshake, one direction each. */
struct keypair {
	uint32_t local_idx;	/* what the peer puts in DATA to reach us */
	uint32_t remote_idx;	/* what we put in DATA to reach it */
	uint8_t suite;
	bool initiator;
	bool confirmed;		/* the peer has used it: we may send on it */
	uint64_t born_ns;
	uint64_t send_ctr;	/* the next nonce; never reused */
	uint8_t send_key[32], recv_key[32];
	struct aead_state send_st, recv_st;	/* keyed, by suite */
	struct replay rp;
};

/* An allowed peer: its static key and what we precompute from it. */
struct ident {
	uint8_t pub[RMAP_KEY_LEN];
	bool has_addr;
	struct sockaddr_storage addr;
	uint8_t ss[32];		/* DH(our static, its static) */
	uint8_t mac1_key[32];	/* HASH("mac1----" || its key) */
	uint8_t cookie_key[32];	/* HASH("cookie--" || its key) */
	uint8_t last_ts[12];	/* newest initiation accepted from it */
};

/* A handshake we started, waiting for its response. */
struct hs_pending {
	bool active;
	uint32_t local_idx;
	uint8_t e_priv[32], e_pub[32];
	uint8_t h[32], ck[32];
	uint8_t last_mac1[16];	/* the cookie reply's associated data */
	uint64_t sent_ns;
	unsigned tries;		/* initiations sent since the last success */
};
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
	uint8_t *wire;		/* the datagram as sent: sealed buf */
	uint16_t wire_len;
	bool wire_owned;	/* wire is malloc()ed (handshakes) */
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
	bool unsent;		/* last try found no keys: send when they come */
	bool pooled;		/* PKT_POOL_BYTES long: back to ep->pkt_pool */
	uint16_t len;
	uint16_t pad;		/* zeros sent after len (RMAP_F_PAD) */
	uint16_t room;		/* how many pad may be: zeroed bytes after len */
	uint8_t buf[];		/* RMAP_HDR_LEN + payload, then the wire
				 * buffer (len + outer header + tag) */
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
	struct rmap_peer *tx_next;	/* ep->tx_list */
	struct sockaddr_storage addr;
	char name[64];

	/* toward the peer */
	uint32_t snd_next;	/* next seq to assign */
	uint32_t snd_una;	/* oldest unacknowledged */
	unsigned in_window;	/* [snd_una, snd_una + in_window) were sent */
	size_t tx_bytes;	/* bytes queued or unacknowledged */
	struct pkt *win[RMAP_RCV_WINDOW];
	struct pkt *q_head, *q_tail;
	size_t q_fresh;		/* wire bytes queued since the window moved */
	struct call *calls;
	unsigned srtt_us, rttvar_us;
	unsigned mtu;		/* fragments for this MTU; 0: not known yet */
	uint64_t mtu_ns;	/* when mtu was looked up (auto) */
	bool unreachable;

	/* from the peer */
	bool rcv_synced;
	uint32_t rcv_next;
	uint8_t rcv_bits[RMAP_RCV_WINDOW / 8];
	bool ack_pending, on_ack_list;
	bool on_tx_list;	/* queued messages wait for the flush */
	uint64_t req_turn;	/* the ep->turn we last sent a request in */
	bool epoch_known, prev_epoch_known;
	uint32_t remote_epoch, prev_epoch;
	struct reasm *reasm;
	unsigned nreasm;
	size_t reasm_bytes;	/* reassembly buffers we own for it */

	/* authentication (peerkeys.c, handshake.c, cookie.c) */
	struct ident *ident;	/* its static key: known, or authenticated */
	bool authed;		/* ident proven by a handshake */
	bool initiator;		/* we may start handshakes with it */
	struct keypair *kp_cur;		/* we send on it */
	struct keypair *kp_prev;	/* still received, until the next */
	struct keypair *kp_next;	/* responder's, until the peer uses it */
	struct hs_pending hs;
	uint64_t last_rx_ns;	/* last authenticated datagram from it */
	uint8_t cookie[16];	/* the responder's, for mac2 */
	uint64_t cookie_ns;	/* when it came; 0: none */
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
	struct rmap_peer *tx_list;	/* peers with messages to send */
	uint64_t turn;		/* turns of the loop (ep_flush) */
	/*
	 * When the datagrams being handled were taken from the socket: the
	 * receive path's clock, read once per completion rather than once
	 * per datagram (rx.c).  Every packet they acknowledge left before.
	 */
	uint64_t rx_ns;
	size_t reasm_bytes;

	struct evl_timer rexmit_timer, pace_timer, gc_timer;
	struct evl_hook flush_hook;
	struct pkt *pace_head, *pace_tail;
	/* Freed packets and GSO sends, kept for the next (pkt.c, tx.c). */
	struct pkt *pkt_pool;
	struct gso_send *gso_pool;
	unsigned pkt_pooled, gso_pooled;

	rmap_tx_filter_fn tx_filter;
	void *tx_filter_arg;
	rmap_wire_filter_fn wire_filter;
	void *wire_filter_arg;
	struct rmap_counters ctr;

	/* authentication (peerkeys.c, handshake.c, cookie.c) */
	bool secure;
	uint8_t suites;		/* what this host can seal with */
	uint8_t priv[32], pub[32], psk[32];
	uint8_t mac1_key[32], cookie_key[32];	/* of our own key */
	uint8_t cookie_secret[32];
	uint64_t cookie_secret_ns;
	struct ident *idents;
	unsigned nidents, idents_cap;
	struct idx_node **idx;	/* local index -> peer */
	uint64_t hs_window_ns;	/* the second hs_count counts in */
	unsigned hs_count;
	uint8_t *rx_plain;	/* RMAP_MAX_DATAGRAM: one opened datagram */
};

struct idx_node {
	struct idx_node *next;
	uint32_t idx;
	struct rmap_peer *peer;
};

/* crypt.c: the data AEAD, replay windows. */
int kp_set_keys(struct keypair *kp, const uint8_t send[32],
		const uint8_t recv[32], uint8_t suite);
void kp_free(struct keypair *kp);
/* Seal @plain (@len bytes) into @out: outer header, ciphertext, tag. */
int kp_seal(struct keypair *kp, const uint8_t *plain, size_t len,
	    uint8_t *out, size_t *out_len);
/* Open DATA datagram @in into @out (the inner bytes); no replay check. */
int kp_open(struct keypair *kp, const uint8_t *in, size_t len, uint8_t *out,
	    size_t *out_len, uint64_t *ctr);
bool replay_fresh(const struct replay *rp, uint64_t ctr);
void replay_mark(struct replay *rp, uint64_t ctr);
uint8_t crypt_suites(bool no_aes);
/* Which library seals AES-256-GCM: "intel-ipsec-mb-avx512", "gnutls". */
const char *crypt_aesgcm_impl(void);
/*
 * Key pairs set from now on seal AES-256-GCM with GnuTLS even where
 * intel-ipsec-mb is built in: for the tests and aead_bench, which check
 * and time both.
 */
extern bool crypt_aesgcm_gnutls;
void outer_put(uint8_t *p, uint8_t kind, uint32_t idx, uint64_t ctr);

/* peerkeys.c: who a peer is, and the keys we hold for it. */
int auth_init(struct rmap_ep *ep, const struct rmap_auth *a);
void auth_fini(struct rmap_ep *ep);
struct ident *ident_by_addr(struct rmap_ep *ep,
			    const struct sockaddr_storage *a);
void peer_auth_reset(struct rmap_peer *peer);
/* DATA: the peer and its opened bytes in ep->rx_plain, or NULL. */
struct rmap_peer *data_open(struct rmap_ep *ep, const uint8_t *buf,
			    size_t len, const struct sockaddr_storage *from,
			    size_t *plain_len);

/* handshake.c: the handshake, and sealing (or a handshake for keys). */
void hs_on_init(struct rmap_ep *ep, const uint8_t *buf, size_t len,
		const struct sockaddr_storage *from);
void hs_on_resp(struct rmap_ep *ep, const uint8_t *buf, size_t len,
		const struct sockaddr_storage *from);
void hs_on_cookie(struct rmap_ep *ep, const uint8_t *buf, size_t len,
		  const struct sockaddr_storage *from);
/* Start (or retry, when due) a handshake with @peer, if we may. */
void hs_maybe_start(struct rmap_peer *peer, uint64_t now);
/* Per retransmit tick: retries, rekeying, a silent peer. */
void hs_tick(struct rmap_peer *peer, uint64_t now);
/* Seal a stamped packet for @peer (NULL: in clear); -ENOKEY: no keys. */
int pkt_seal(struct rmap_ep *ep, struct pkt *p, struct rmap_peer *peer);
/* tx.c: put @p->wire on the wire now, as it is. */
void ep_submit_raw(struct rmap_ep *ep, struct pkt *p);
/* tx.c: send raw bytes (a handshake message) to @to. */
void ep_send_raw(struct rmap_ep *ep, const struct sockaddr_storage *to,
		 const uint8_t *data, size_t len);
/* peer.c: a new peer at @addr, nothing more (rmap_peer_get adds keys). */
struct rmap_peer *peer_new(struct rmap_ep *ep,
			   const struct sockaddr_storage *addr);
/* rx.c: a message header and fragment, opened, from @peer (NULL: in
 * clear, from an address). */
void rx_inner(struct rmap_ep *ep, struct rmap_peer *peer, const uint8_t *buf,
	      size_t len, const struct sockaddr_storage *from);

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
bool call_wrong_run(const struct call *c, const struct rmap_peer *peer,
		    const struct rmap_hdr *h);

/*
 * Freed packets and GSO sends are kept for reuse, except under
 * AddressSanitizer, which sees a use after free only if it was freed.
 */
#ifdef __SANITIZE_ADDRESS__
#define RMAP_KEEP_FREED	0
#else
#define RMAP_KEEP_FREED	1
#endif

/* pkt.c: a packet's memory.  pkt_new zeroes the payload; pkt_new_room
 * leaves it to the caller. */
struct pkt *pkt_new(struct rmap_ep *ep, size_t payload);
struct pkt *pkt_new_room(struct rmap_ep *ep, size_t payload, size_t room);
void pkt_unref(struct pkt *p);
void pkt_pool_drain(struct rmap_ep *ep);

/* tx.c: the send side. */
void tx_pools_drain(struct rmap_ep *ep);
void ep_xmit(struct rmap_ep *ep, struct pkt *p, struct rmap_peer *peer);
/* The MTU to fragment for toward @peer: the configured one, or (auto) its
 * route's, looked up again every RMAP_MTU_RECHECK_S; _relearn: now, true
 * if it changed. */
unsigned peer_mtu(struct rmap_peer *peer);
bool peer_mtu_relearn(struct rmap_peer *peer);
int peer_queue_msg(struct rmap_peer *peer, const struct rmap_hdr *tmpl,
		   const struct iovec *iov, uint32_t len);
void peer_process_ack(struct rmap_peer *peer, uint32_t ack, uint64_t sack);
void peer_drop_tx(struct rmap_peer *peer);
void pace_fire(struct evl *loop, struct evl_timer *t);
void pace_discard(struct rmap_ep *ep);
void rexmit_fire(struct evl *loop, struct evl_timer *t);
void ep_flush(struct evl *loop, struct evl_hook *hook);

/* rx.c: the receive side. */
void rx_start(struct rmap_ep *ep);
void mrecv_teardown(struct rmap_ep *ep);
void peer_reset_rx(struct rmap_peer *peer);
void gc_fire(struct evl *loop, struct evl_timer *t);
/* The peer restarted (a new epoch, in a handshake): start afresh. */
void peer_restarted(struct rmap_peer *peer, uint32_t epoch);
/* A handshake completed: send what waited for keys. */
void peer_keys_ready(struct rmap_peer *peer);
bool addr_equal(const struct sockaddr_storage *a,
		const struct sockaddr_storage *b);

#endif
