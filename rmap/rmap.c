// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rmap.c - the RMAP transport: windows, acknowledgements, retransmission,
 * duplicate suppression, fragmentation and request/reply matching.
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
#include "rmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/udp.h>
#include <sys/mman.h>

#include "rmap_int.h"

/*
 * Receiving.  One multishot recvmsg into a ring of provided buffers:
 * each datagram is one completion, with no re-arming and no herd of
 * receives woken per datagram.  (rmap_int.h: the one-shot fallback.)
 */
#define RECV_BUFS	64u	/* a power of two */
/*
 * With UDP_GRO the kernel hands a whole GSO burst (up to 64 KiB of
 * back-to-back datagrams) to one receive, with the segment size in a
 * control message: one completion for up to GSO_MAX_SEGS packets.
 */
#define RECV_CMSG_LEN	CMSG_SPACE(sizeof(int))
#define RECV_BUF_LEN	(sizeof(struct io_uring_recvmsg_out) + \
			 sizeof(struct sockaddr_storage) + RECV_CMSG_LEN + \
			 65536 + 64)
/* Reassembly memory an endpoint may hold for incomplete messages. */
#define REASM_MAX_BYTES	(256u << 20)
#define REASM_STALE_NS	(5ull * 1000000000ull)
#define FAST_REXMIT_DUPS 3u

static void peer_transmit_window(struct rmap_peer *peer);

/* ---- addresses ---- */

static socklen_t addr_len(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					: sizeof(struct sockaddr_in);
}

/* ---- packets ---- */

static void pkt_sent(struct evl *loop, struct evl_op *op, int res)
{
	struct pkt *p = (struct pkt *)op;

	(void)loop;
	if (res < 0)
		p->ep->ctr.send_errors++;
	p->ep->ops--;
	p->inflight--;
	pkt_unref(p);
}

struct pkt *pkt_new(struct rmap_ep *ep, size_t payload)
{
	struct pkt *p = calloc(1, sizeof(*p) + RMAP_HDR_LEN + payload);

	if (!p)
		return NULL;
	p->op.done = pkt_sent;
	p->ep = ep;
	p->len = (uint16_t)(RMAP_HDR_LEN + payload);
	p->refs = 1;
	return p;
}

void pkt_unref(struct pkt *p)
{
	if (--p->refs == 0)
		free(p);
}

/* Fill in our acknowledgement of @peer's stream. */
static void peer_ack_fields(struct rmap_peer *peer, uint32_t *ack,
			    uint64_t *sack)
{
	uint64_t bits = 0;

	for (unsigned i = 0; i < 64; i++) {
		uint32_t s = peer->rcv_next + 1 + i;

		if (peer->rcv_bits[(s % RMAP_RCV_WINDOW) / 8] &
		    (1u << (s % 8)))
			bits |= 1ull << i;
	}
	*ack = peer->rcv_next;
	*sack = bits;
}

/* Rewrite the transport fields of a packet just before it leaves. */
static void pkt_stamp(struct pkt *p, struct rmap_peer *peer)
{
	struct rmap_hdr *h = &p->hdr;

	h->epoch = p->ep->epoch;
	if (peer && peer->rcv_synced) {
		peer_ack_fields(peer, &h->ack, &h->sack);
		h->flags |= RMAP_F_ACK;
		peer->ack_pending = false;
	}
	if (h->flags & RMAP_F_RELIABLE)
		h->base = peer->snd_una;
	rmap_wire_encode(h, p->buf);
}

static void ep_submit_send(struct rmap_ep *ep, struct pkt *p)
{
	struct io_uring_sqe *sqe;
	int copies = 1;

	if (ep->tx_filter) {
		copies = ep->tx_filter(&p->hdr, ep->tx_filter_arg);
		if (copies <= 0)
			return;
	}
	for (int i = 0; i < copies && i < 2; i++) {
		p->iov.iov_base = p->buf;
		p->iov.iov_len = p->len;
		p->mh.msg_name = &p->to;
		p->mh.msg_namelen = addr_len(&p->to);
		p->mh.msg_iov = &p->iov;
		p->mh.msg_iovlen = 1;
		sqe = evl_sqe(ep->loop, &p->op);
		io_uring_prep_sendmsg(sqe, ep->fd, &p->mh, 0);
		p->inflight++;
		p->refs++;
		ep->ops++;
		ep->ctr.tx_packets++;
		ep->ctr.tx_bytes += p->len;
	}
}

void pace_fire(struct evl *loop, struct evl_timer *t)
{
	struct rmap_ep *ep = (struct rmap_ep *)((char *)t -
		offsetof(struct rmap_ep, pace_timer));
	struct pkt *p = ep->pace_head;

	(void)loop;
	if (!p)
		return;
	ep->pace_head = p->pace_next;
	if (!ep->pace_head)
		ep->pace_tail = NULL;
	p->pace_next = NULL;
	if (!p->dead)
		ep_submit_send(ep, p);
	p->inflight--;		/* the pacing queue's hold */
	pkt_unref(p);
	if (ep->pace_head)
		evl_timer_arm(ep->loop, &ep->pace_timer,
			      (uint64_t)ep->cfg.gap_us * 1000);
}

/* Put @p on the wire now, or after the inter-packet gap. */
void ep_xmit(struct rmap_ep *ep, struct pkt *p, struct rmap_peer *peer)
{
	pkt_stamp(p, peer);
	if (!ep->cfg.gap_us) {
		ep_submit_send(ep, p);
		return;
	}
	p->inflight++;
	p->refs++;
	if (ep->pace_tail)
		ep->pace_tail->pace_next = p;
	else
		ep->pace_head = p;
	ep->pace_tail = p;
	if (!evl_timer_armed(&ep->pace_timer))
		evl_timer_arm(ep->loop, &ep->pace_timer, 0);
}

/* Let go of the packets still waiting out the gap: none will be sent. */
void pace_discard(struct rmap_ep *ep)
{
	struct pkt *p;

	while ((p = ep->pace_head)) {
		ep->pace_head = p->pace_next;
		p->inflight--;
		pkt_unref(p);
	}
}

static void reasm_free(struct rmap_ep *ep, struct reasm *r)
{
	if (r->call)
		r->call->reasm = NULL;
	ep->reasm_bytes -= r->owned ? r->msg_len : 0;
	if (r->owned)
		free(r->buf);
	free(r);
}

static void peer_unlink_reasm(struct rmap_peer *peer, struct reasm *r)
{
	struct reasm **pp = &peer->reasm;

	while (*pp && *pp != r)
		pp = &(*pp)->next;
	if (*pp)
		*pp = r->next;
	peer->nreasm--;
}

/* Forget every packet we were sending to @peer: they will never be acked. */
void peer_drop_tx(struct rmap_peer *peer)
{
	struct pkt *p;

	for (uint32_t s = peer->snd_una; s != peer->snd_next; s++) {
		p = peer->win[s % RMAP_RCV_WINDOW];
		if (!p)
			break;		/* the rest is queued, not sent */
		peer->win[s % RMAP_RCV_WINDOW] = NULL;
		p->dead = true;
		pkt_unref(p);
	}
	while ((p = peer->q_head)) {
		peer->q_head = p->next;
		p->dead = true;
		pkt_unref(p);
	}
	peer->q_tail = NULL;
	peer->snd_una = peer->snd_next;
	peer->in_window = 0;
}

/* Forget @peer's stream toward us: a new incarnation starts afresh. */
void peer_reset_rx(struct rmap_peer *peer)
{
	struct reasm *r;

	while ((r = peer->reasm)) {
		peer->reasm = r->next;
		reasm_free(peer->ep, r);
	}
	peer->nreasm = 0;
	memset(peer->rcv_bits, 0, sizeof(peer->rcv_bits));
	peer->rcv_synced = false;
	peer->ack_pending = false;
}

/* ---- the send side ---- */

static void ep_arm_rexmit(struct rmap_ep *ep)
{
	if (!evl_timer_armed(&ep->rexmit_timer))
		evl_timer_arm(ep->loop, &ep->rexmit_timer,
			      (uint64_t)ep->cfg.rto_us * 1000);
}

/* Move queued packets into the window and send them. */
/* ---- UDP GSO: many packets, one send ---- */

/*
 * A run of packets to one peer, copied back to back into one buffer and
 * sent with UDP_SEGMENT: the kernel cuts it into datagrams of gso_size
 * bytes (the last may be shorter), which is exactly our fragments.  One
 * syscall and one trip down the stack for up to GSO_MAX_SEGS packets.
 */
#define GSO_MAX_SEGS	32u
#define GSO_MAX_BYTES	65000u

struct gso_send {
	struct evl_op op;
	struct rmap_ep *ep;
	struct msghdr mh;
	struct iovec iov;
	struct sockaddr_storage to;
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} cm;
	uint8_t data[];
};

static void gso_sent(struct evl *loop, struct evl_op *op, int res)
{
	struct gso_send *g = (struct gso_send *)op;

	(void)loop;
	if (res < 0) {
		/* The packets are in the window: the timer resends them. */
		g->ep->ctr.send_errors++;
		if (res == -EINVAL || res == -EOPNOTSUPP || res == -EIO)
			g->ep->no_gso = true;
	}
	g->ep->ops--;
	free(g);
}

/* Send @n stamped packets of equal length (the last may be shorter). */
static bool ep_send_gso(struct rmap_ep *ep, struct pkt **pk, unsigned n)
{
	size_t total = 0;
	struct gso_send *g;
	struct cmsghdr *c;
	uint16_t seg = pk[0]->len;

	for (unsigned i = 0; i < n; i++)
		total += pk[i]->len;
	g = malloc(sizeof(*g) + total);
	if (!g)
		return false;
	memset(g, 0, sizeof(*g));
	g->op.done = gso_sent;
	g->ep = ep;
	g->to = pk[0]->to;
	total = 0;
	for (unsigned i = 0; i < n; i++) {
		memcpy(g->data + total, pk[i]->buf, pk[i]->len);
		total += pk[i]->len;
		ep->ctr.tx_packets++;
		ep->ctr.tx_bytes += pk[i]->len;
	}
	g->iov.iov_base = g->data;
	g->iov.iov_len = total;
	g->mh.msg_name = &g->to;
	g->mh.msg_namelen = addr_len(&g->to);
	g->mh.msg_iov = &g->iov;
	g->mh.msg_iovlen = 1;
	g->mh.msg_control = g->cm.buf;
	g->mh.msg_controllen = sizeof(g->cm.buf);
	c = CMSG_FIRSTHDR(&g->mh);
	c->cmsg_level = SOL_UDP;
	c->cmsg_type = UDP_SEGMENT;
	c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
	memcpy(CMSG_DATA(c), &seg, sizeof(seg));
	io_uring_prep_sendmsg(evl_sqe(ep->loop, &g->op), ep->fd, &g->mh, 0);
	ep->ops++;
	ep->ctr.gso_sends++;
	return true;
}

/* First transmission of @n packets to @peer, in GSO runs where possible. */
static void ep_xmit_batch(struct rmap_ep *ep, struct rmap_peer *peer,
			  struct pkt **pk, unsigned n)
{
	/* Tests filter packet by packet; pacing spaces them: no batching. */
	bool gso = !ep->no_gso && !ep->tx_filter && !ep->cfg.gap_us;

	for (unsigned i = 0; i < n;) {
		unsigned k = 1;
		size_t bytes = pk[i]->len;

		/* Equal-sized packets; a shorter one can only end the run. */
		while (gso && i + k < n && k < GSO_MAX_SEGS &&
		       pk[i + k - 1]->len == pk[i]->len &&
		       pk[i + k]->len <= pk[i]->len &&
		       bytes + pk[i + k]->len <= GSO_MAX_BYTES) {
			bytes += pk[i + k]->len;
			k++;
		}
		if (k > 1) {
			for (unsigned j = i; j < i + k; j++)
				pkt_stamp(pk[j], peer);
			if (ep_send_gso(ep, pk + i, k)) {
				i += k;
				continue;
			}
		}
		for (unsigned j = i; j < i + k; j++)
			ep_xmit(ep, pk[j], peer);
		i += k;
	}
}

static void peer_transmit_window(struct rmap_peer *peer)
{
	struct rmap_ep *ep = peer->ep;
	struct pkt *batch[GSO_MAX_SEGS * 2];
	unsigned n = 0;
	struct pkt *p;

	while ((p = peer->q_head) &&
	       p->hdr.seq - peer->snd_una < ep->cfg.window) {
		peer->q_head = p->next;
		if (!peer->q_head)
			peer->q_tail = NULL;
		p->next = NULL;
		peer->win[p->hdr.seq % RMAP_RCV_WINDOW] = p;
		peer->in_window++;
		p->sent_ns = evl_now_ns();
		batch[n++] = p;
		if (n == (sizeof(batch) / sizeof(batch[0]))) {
			ep_xmit_batch(ep, peer, batch, n);
			n = 0;
		}
	}
	if (n)
		ep_xmit_batch(ep, peer, batch, n);
	if (peer->in_window)
		ep_arm_rexmit(ep);
}

/* Queue a message of @len bytes gathered from @iov, fragment by fragment. */
int peer_queue_msg(struct rmap_peer *peer, const struct rmap_hdr *tmpl,
		   const struct iovec *iov, uint32_t len)
{
	struct rmap_ep *ep = peer->ep;
	uint32_t fp = rmap_frag_payload(ep->cfg.mtu);
	uint32_t nfrag = len ? (len + fp - 1) / fp : 1;
	struct pkt *first = NULL, *last = NULL, *p;
	size_t iov_i = 0, iov_off = 0;

	if (len > RMAP_MAX_MSG || nfrag > RMAP_MAX_FRAGS)
		return -EMSGSIZE;
	for (uint32_t i = 0; i < nfrag; i++) {
		uint32_t off = i * fp, n = len - off < fp ? len - off : fp;
		uint8_t *dst;

		p = pkt_new(ep, n);
		if (!p)
			goto nomem;
		p->hdr = *tmpl;
		p->hdr.flags |= RMAP_F_RELIABLE;
		p->hdr.seq = peer->snd_next + i;
		p->hdr.frag_idx = (uint16_t)i;
		p->hdr.frag_cnt = (uint16_t)nfrag;
		p->hdr.msg_len = len;
		p->hdr.frag_off = off;
		p->hdr.frag_len = (uint16_t)n;
		p->to = peer->addr;
		/* Gather this fragment's bytes from the caller's iovec. */
		dst = p->buf + RMAP_HDR_LEN;
		while (n) {
			size_t take = iov[iov_i].iov_len - iov_off;

			if (take > n)
				take = n;
			memcpy(dst, (const uint8_t *)iov[iov_i].iov_base +
			       iov_off, take);
			dst += take;
			n -= (uint32_t)take;
			iov_off += take;
			if (iov_off == iov[iov_i].iov_len) {
				iov_i++;
				iov_off = 0;
			}
		}
		if (last)
			last->next = p;
		else
			first = p;
		last = p;
	}
	peer->snd_next += nfrag;
	if (peer->q_tail)
		peer->q_tail->next = first;
	else
		peer->q_head = first;
	peer->q_tail = last;
	ep->ctr.tx_msgs++;
	peer_transmit_window(peer);
	return 0;
nomem:
	while (first) {
		p = first->next;
		pkt_unref(first);
		first = p;
	}
	return -ENOMEM;
}

/* Acknowledge everything we owe, in packets of their own. */
void ep_flush_acks(struct evl *loop, struct evl_hook *hook)
{
	struct rmap_ep *ep = (struct rmap_ep *)((char *)hook -
		offsetof(struct rmap_ep, ack_hook));
	struct rmap_peer *peer;

	(void)loop;
	while ((peer = ep->ack_list)) {
		ep->ack_list = peer->ack_next;
		peer->on_ack_list = false;
		if (!peer->ack_pending)
			continue;	/* a data packet carried it */
		struct pkt *p = pkt_new(ep, 0);

		if (!p)
			return;
		p->hdr.type = RMAP_T_ACK;
		p->to = peer->addr;
		ep_xmit(ep, p, peer);
		pkt_unref(p);
		ep->ctr.acks_sent++;
	}
}

static void peer_want_ack(struct rmap_peer *peer)
{
	peer->ack_pending = true;
	if (!peer->on_ack_list) {
		peer->on_ack_list = true;
		peer->ack_next = peer->ep->ack_list;
		peer->ep->ack_list = peer;
	}
}

/*
 * How long a packet sent @retries times waits before the next try: the
 * configured retry interval, or more if the measured round trip says so
 * (srtt + 4 rttvar), doubling per retry up to the configured cap.
 */
static uint64_t retry_interval_ns(const struct rmap_ep *ep,
				  const struct rmap_peer *peer, unsigned retries)
{
	uint64_t base = ep->cfg.retry_us;
	uint64_t rto = (uint64_t)peer->srtt_us + 4ull * peer->rttvar_us;
	uint64_t iv;

	if (peer->srtt_us && rto > base)
		base = rto;
	iv = base << (retries < 16 ? retries : 16);
	if (iv > ep->cfg.retry_max_us)
		iv = ep->cfg.retry_max_us > base ? ep->cfg.retry_max_us : base;
	return iv * 1000;
}

/*
 * Resend what has waited too long, oldest first, and at most
 * REXMIT_BURST packets per peer per tick: a peer that is merely slow (a
 * descheduled process on a busy host) must not get the whole window
 * again.  Holes below acknowledged packets are repaired faster, by fast
 * retransmit; the timer is for the tail.
 */
#define REXMIT_BURST	4u

void rexmit_fire(struct evl *loop, struct evl_timer *t)
{
	struct rmap_ep *ep = (struct rmap_ep *)((char *)t -
		offsetof(struct rmap_ep, rexmit_timer));
	uint64_t now = evl_now_ns();
	bool any = false;

	(void)loop;
	for (struct rmap_peer *peer = ep->all_peers, *next; peer; peer = next) {
		bool dead = false;
		unsigned burst = 0;

		next = peer->all_next;
		for (uint32_t s = peer->snd_una; s != peer->snd_next &&
		     s - peer->snd_una < ep->cfg.window &&
		     burst < REXMIT_BURST; s++) {
			struct pkt *p = peer->win[s % RMAP_RCV_WINDOW];

			if (!p || p->acked || p->inflight)
				continue;
			if (now - p->sent_ns < retry_interval_ns(ep, peer,
								 p->retries))
				continue;
			burst++;
			if (p->retries >= ep->cfg.max_retries) {
				dead = true;
				break;
			}
			p->retries++;
			p->sent_ns = now;
			ep->ctr.retransmits++;
			ep_xmit(ep, p, peer);
		}
		if (dead)
			peer_set_unreachable(peer);	/* may send anew */
		else if (peer->in_window)
			any = true;
	}
	if (any)
		ep_arm_rexmit(ep);
}

static void peer_ack_one(struct rmap_peer *peer, uint32_t s, uint64_t now)
{
	struct pkt *p = peer->win[s % RMAP_RCV_WINDOW];

	if (!p || p->acked)
		return;
	p->acked = true;
	/* Karn: only packets sent once give an honest round trip. */
	if (!p->retries && !p->fast_done) {
		unsigned rtt = (unsigned)((now - p->sent_ns) / 1000);

		/* Jacobson/Karels, as TCP: srtt and mean deviation. */
		if (!peer->srtt_us) {
			peer->srtt_us = rtt ? rtt : 1;
			peer->rttvar_us = rtt / 2;
		} else {
			unsigned dev = rtt > peer->srtt_us ?
				rtt - peer->srtt_us : peer->srtt_us - rtt;

			peer->rttvar_us = (3 * peer->rttvar_us + dev) / 4;
			peer->srtt_us = (7 * peer->srtt_us + rtt) / 8;
			if (!peer->srtt_us)
				peer->srtt_us = 1;
		}
	}
}

static void peer_process_ack(struct rmap_peer *peer, uint32_t ack,
			     uint64_t sack)
{
	struct rmap_ep *ep = peer->ep;
	uint64_t now = evl_now_ns();
	uint32_t highest = 0;
	bool have_highest = false;

	/* Acknowledging what we never sent is a lie: ignore it. */
	if (rmap_seq_before(peer->snd_next, ack))
		return;
	for (uint32_t s = peer->snd_una; rmap_seq_before(s, ack); s++)
		peer_ack_one(peer, s, now);
	for (unsigned i = 0; i < 64; i++) {
		uint32_t s = ack + 1 + i;

		if (!(sack >> i & 1))
			continue;
		if (!rmap_seq_before(s, peer->snd_next))
			break;
		if (rmap_seq_before(s, peer->snd_una))
			continue;
		peer_ack_one(peer, s, now);
		highest = s;
		have_highest = true;
	}
	/*
	 * Slide the window over what is acknowledged.  An empty slot is the
	 * first queued packet, which has not been sent: stop there.
	 */
	while (peer->snd_una != peer->snd_next) {
		struct pkt *p = peer->win[peer->snd_una % RMAP_RCV_WINDOW];

		if (!p || !p->acked)
			break;
		peer->win[peer->snd_una % RMAP_RCV_WINDOW] = NULL;
		peer->in_window--;
		pkt_unref(p);
		peer->snd_una++;
	}
	/*
	 * Fast retransmit: a hole with FAST_REXMIT_DUPS acknowledged packets
	 * above it was lost, not delayed.  Resend it once, now.
	 */
	if (have_highest) {
		for (uint32_t s = peer->snd_una;
		     rmap_seq_before(s + FAST_REXMIT_DUPS - 1, highest); s++) {
			struct pkt *p = peer->win[s % RMAP_RCV_WINDOW];

			if (!p || p->acked || p->fast_done || p->inflight)
				continue;
			p->fast_done = true;
			p->sent_ns = now;
			ep->ctr.fast_retransmits++;
			ep_xmit(ep, p, peer);
		}
	}
	peer_transmit_window(peer);
}

/* ---- the receive side ---- */

/* Where the fragments of @h's message start (wire.c checked the tiling). */
static uint32_t frag_stride(const struct rmap_hdr *h)
{
	return h->frag_idx ? h->frag_off / h->frag_idx : h->frag_len;
}

static bool reasm_matches(const struct reasm *r, const struct rmap_hdr *h)
{
	return r->stride == frag_stride(h) &&
	       r->type == h->type && r->flags == (h->flags & ~RMAP_F_ACK) &&
	       r->status == h->status && r->reqid == h->reqid &&
	       r->session == h->session && r->page == h->page &&
	       r->count == h->count && r->msg_len == h->msg_len &&
	       r->frag_cnt == h->frag_cnt;
}

/*
 * Accept fragment @h of a multi-fragment message.  Returns false if it
 * cannot be taken now (no memory): the caller must then not acknowledge
 * it, so the sender tries again.
 */
static bool reasm_fragment(struct rmap_ep *ep, struct rmap_peer *peer,
			   const struct rmap_hdr *h, const uint8_t *data,
			   bool *bad)
{
	uint32_t msg_seq = h->seq - h->frag_idx;
	struct reasm *r;

	for (r = peer->reasm; r && r->msg_seq != msg_seq; r = r->next)
		;
	if (!r) {
		struct call *c = NULL;

		if (peer->nreasm >= RMAP_RCV_WINDOW)
			return false;
		r = calloc(1, sizeof(*r) + (h->frag_cnt + 7) / 8);
		if (!r)
			return false;
		r->msg_seq = msg_seq;
		r->type = h->type;
		r->flags = h->flags & ~RMAP_F_ACK;
		r->status = h->status;
		r->reqid = h->reqid;
		r->session = h->session;
		r->page = h->page;
		r->count = h->count;
		r->msg_len = h->msg_len;
		r->frag_cnt = h->frag_cnt;
		r->stride = frag_stride(h);
		r->last_ns = evl_now_ns();
		if (h->flags & RMAP_F_RESPONSE) {
			c = call_find(ep, h->reqid);
			if (c && (c->peer != peer || c->type != h->type ||
				  c->reasm))
				c = NULL;
		}
		if (c && h->msg_len <= c->cap) {
			/* Place the reply straight into the caller's buffer. */
			r->buf = c->buf;
			r->call = c;
			c->reasm = r;
		} else if (h->flags & RMAP_F_RESPONSE) {
			r->discard = true;	/* stale or oversized reply */
		} else {
			if (ep->reasm_bytes + h->msg_len > REASM_MAX_BYTES) {
				free(r);
				return false;
			}
			r->buf = malloc(h->msg_len);
			if (!r->buf) {
				free(r);
				return false;
			}
			r->owned = true;
			ep->reasm_bytes += h->msg_len;
		}
		r->next = peer->reasm;
		peer->reasm = r;
		peer->nreasm++;
		if (!evl_timer_armed(&ep->gc_timer))
			evl_timer_arm(ep->loop, &ep->gc_timer, REASM_STALE_NS);
	} else if (!reasm_matches(r, h)) {
		*bad = true;
		return true;
	}
	if (r->seen[h->frag_idx / 8] & (1u << (h->frag_idx % 8)))
		return true;	/* cannot happen: seqs are deduplicated */
	r->seen[h->frag_idx / 8] |= (uint8_t)(1u << (h->frag_idx % 8));
	r->got++;
	r->last_ns = evl_now_ns();
	if (!r->discard)
		memcpy(r->buf + h->frag_off, data, h->frag_len);
	if (r->got < r->frag_cnt)
		return true;

	peer_unlink_reasm(peer, r);
	if (!r->discard) {
		struct rmap_hdr whole = *h;
		struct call *c = r->call;

		if (c) {
			c->reasm = NULL;
			r->call = NULL;
		}
		msg_deliver(ep, peer, &whole, r->buf, c);
	} else if (h->flags & RMAP_F_RESPONSE) {
		struct call *c = call_find(ep, h->reqid);

		if (c && c->peer == peer && c->type == h->type &&
		    !c->reasm && h->msg_len > c->cap)
			call_complete(ep, c, -EMSGSIZE, NULL);
		else
			ep->ctr.stale_reply++;
	}
	reasm_free(ep, r);
	return true;
}

void gc_fire(struct evl *loop, struct evl_timer *t)
{
	struct rmap_ep *ep = (struct rmap_ep *)((char *)t -
		offsetof(struct rmap_ep, gc_timer));
	uint64_t now = evl_now_ns();
	bool any = false;

	(void)loop;
	for (struct rmap_peer *peer = ep->all_peers; peer;
	     peer = peer->all_next) {
		struct reasm **pp = &peer->reasm;

		while (*pp) {
			struct reasm *r = *pp;

			if (now - r->last_ns >= REASM_STALE_NS) {
				*pp = r->next;
				peer->nreasm--;
				ep->ctr.bad[RMAP_WIRE_FRAG]++;
				ep->ctr.bad_total++;
				reasm_free(ep, r);
				continue;
			}
			any = true;
			pp = &r->next;
		}
	}
	if (any)
		evl_timer_arm(ep->loop, &ep->gc_timer, REASM_STALE_NS);
}

static void count_bad(struct rmap_ep *ep, enum rmap_wire_err e)
{
	ep->ctr.bad[e]++;
	ep->ctr.bad_total++;
}

static bool rcv_test(const struct rmap_peer *peer, uint32_t s)
{
	return peer->rcv_bits[(s % RMAP_RCV_WINDOW) / 8] & (1u << (s % 8));
}

/* Handle the reliable, in-window packet @h from @peer. */
static void rx_reliable(struct rmap_ep *ep, struct rmap_peer *peer,
			const struct rmap_hdr *h, const uint8_t *data)
{
	bool bad = false;

	if (!peer->rcv_synced) {
		peer->rcv_next = h->base;
		peer->rcv_synced = true;
	}
	/* The sender gave up on everything before base: so do we. */
	while (rmap_seq_before(peer->rcv_next, h->base)) {
		peer->rcv_bits[(peer->rcv_next % RMAP_RCV_WINDOW) / 8] &=
			(uint8_t)~(1u << (peer->rcv_next % 8));
		peer->rcv_next++;
	}
	if (rmap_seq_before(h->seq, peer->rcv_next) || rcv_test(peer, h->seq)) {
		ep->ctr.dup_packets++;
		peer_want_ack(peer);	/* our ack was lost: say it again */
		return;
	}
	if (h->seq - peer->rcv_next >= RMAP_RCV_WINDOW) {
		ep->ctr.window_drops++;
		return;
	}
	if (h->frag_cnt > 1) {
		if (!reasm_fragment(ep, peer, h, data, &bad))
			return;		/* no room: let it be resent */
	}
	peer->rcv_bits[(h->seq % RMAP_RCV_WINDOW) / 8] |=
		(uint8_t)(1u << (h->seq % 8));
	while (rcv_test(peer, peer->rcv_next)) {
		peer->rcv_bits[(peer->rcv_next % RMAP_RCV_WINDOW) / 8] &=
			(uint8_t)~(1u << (peer->rcv_next % 8));
		peer->rcv_next++;
	}
	peer_want_ack(peer);
	if (bad) {
		count_bad(ep, RMAP_WIRE_FRAG);
		return;
	}
	if (h->frag_cnt == 1)
		msg_deliver(ep, peer, h, data, NULL);
}

static void rx_datagram(struct rmap_ep *ep, const uint8_t *buf, size_t len,
			const struct sockaddr_storage *from)
{
	struct rmap_peer *peer;
	struct rmap_hdr h;
	enum rmap_wire_err e;

	ep->ctr.rx_packets++;
	ep->ctr.rx_bytes += len;
	e = rmap_wire_decode(buf, len, &h);
	if (e) {
		count_bad(ep, e);
		return;
	}
	if (h.type == RMAP_T_ANNOUNCE) {
		struct rmap_stat st;

		if (rmap_stat_decode(buf + RMAP_HDR_LEN, h.frag_len, &st)) {
			count_bad(ep, RMAP_WIRE_PAGES);
			return;
		}
		if (ep->h.announce)
			ep->h.announce(ep, from, &st, ep->h.arg);
		return;
	}
	peer = rmap_peer_find(ep, from);
	if (!peer) {
		/* Only a request may open a conversation, and only here. */
		if (!ep->h.accept_new_peers || h.type == RMAP_T_ACK ||
		    (h.flags & RMAP_F_RESPONSE)) {
			ep->ctr.unknown_peer++;
			return;
		}
		peer = rmap_peer_get(ep, from);
		if (!peer) {
			ep->ctr.unknown_peer++;
			return;
		}
	}
	if (peer->epoch_known && h.epoch != peer->remote_epoch) {
		if (peer->prev_epoch_known && h.epoch == peer->prev_epoch) {
			ep->ctr.dup_packets++;	/* from its past life */
			return;
		}
		/* The peer restarted: nothing in flight will be answered. */
		ep->ctr.peer_resets++;
		peer->prev_epoch = peer->remote_epoch;
		peer->prev_epoch_known = true;
		peer->remote_epoch = h.epoch;
		peer_reset_rx(peer);
		peer_fail_all(peer, -ECONNRESET);
		if (ep->h.peer_state)
			ep->h.peer_state(ep, peer, -ECONNRESET, ep->h.arg);
		if (ep->closing)
			return;
	} else if (!peer->epoch_known) {
		peer->remote_epoch = h.epoch;
		peer->epoch_known = true;
	}
	peer_heard_from(peer);
	if (h.flags & RMAP_F_ACK)
		peer_process_ack(peer, h.ack, h.sack);
	if (h.flags & RMAP_F_RELIABLE)
		rx_reliable(ep, peer, &h, buf + RMAP_HDR_LEN);
}

/* ---- multishot receive into provided buffers ---- */

static void mrecv_arm(struct rmap_ep *ep)
{
	struct io_uring_sqe *sqe;

	memset(&ep->mrecv_mh, 0, sizeof(ep->mrecv_mh));
	ep->mrecv_mh.msg_namelen = sizeof(struct sockaddr_storage);
	ep->mrecv_mh.msg_controllen = RECV_CMSG_LEN;
	sqe = evl_sqe(ep->loop, &ep->mrecv_op);
	io_uring_prep_recvmsg_multishot(sqe, ep->fd, &ep->mrecv_mh, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = ep->bgid;
	ep->ops++;
}

/* One receive, perhaps many datagrams glued by GRO: take them apart. */
static void rx_coalesced(struct rmap_ep *ep, struct io_uring_recvmsg_out *o,
			 int res, const struct sockaddr_storage *from)
{
	uint8_t *data = io_uring_recvmsg_payload(o, &ep->mrecv_mh);
	size_t len = io_uring_recvmsg_payload_length(o, res, &ep->mrecv_mh);
	size_t seg = len;
	struct cmsghdr *c;

	for (c = io_uring_recvmsg_cmsg_firsthdr(o, &ep->mrecv_mh); c;
	     c = io_uring_recvmsg_cmsg_nexthdr(o, &ep->mrecv_mh, c)) {
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
			int v;

			memcpy(&v, CMSG_DATA(c), sizeof(v));
			if (v > 0)
				seg = (size_t)v;
		}
	}
	/* At least once: an empty datagram is still one (a short one). */
	do {
		size_t n = len < seg ? len : seg;

		rx_datagram(ep, data, n, from);
		data += n;
		len -= n;
	} while (len);
}

static void mrecv_done(struct evl *loop, struct evl_op *op, int res)
{
	struct rmap_ep *ep = (struct rmap_ep *)((char *)op -
		offsetof(struct rmap_ep, mrecv_op));
	unsigned flags = evl_cqe_flags(loop);

	if (!(flags & IORING_CQE_F_MORE))
		ep->ops--;	/* this receive is over: re-arm below */
	if (flags & IORING_CQE_F_BUFFER) {
		unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
		uint8_t *buf = ep->rbufs + (size_t)bid * RECV_BUF_LEN;

		if (res >= 0 && !ep->closing) {
			struct io_uring_recvmsg_out *o;
			struct sockaddr_storage from = { 0 };

			o = io_uring_recvmsg_validate(buf, res, &ep->mrecv_mh);
			if (!o || o->flags & MSG_TRUNC) {
				ep->ctr.rx_packets++;
				count_bad(ep, RMAP_WIRE_LENGTH);
			} else {
				memcpy(&from, io_uring_recvmsg_name(o),
				       o->namelen < sizeof(from) ? o->namelen
								 : sizeof(from));
				rx_coalesced(ep, o, res, &from);
			}
		}
		/* Hand the buffer back to the kernel. */
		io_uring_buf_ring_add(ep->br, buf, RECV_BUF_LEN, (unsigned short)bid,
				      io_uring_buf_ring_mask(RECV_BUFS), 0);
		io_uring_buf_ring_advance(ep->br, 1);
	} else if (res < 0 && res != -ENOBUFS && res != -ECANCELED &&
		   res != -EINTR && res != -EAGAIN) {
		ep->ctr.recv_errors++;
	}
	if (!(flags & IORING_CQE_F_MORE) && !ep->closing)
		mrecv_arm(ep);
}

/* Set up the provided-buffer ring; -errno if the kernel cannot. */
static int mrecv_setup(struct rmap_ep *ep)
{
	static unsigned short next_bgid;
	struct io_uring_buf_reg reg = { 0 };
	size_t ring_len = RECV_BUFS * sizeof(struct io_uring_buf);
	int ret;

	ep->br = mmap(NULL, ring_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ep->br == MAP_FAILED) {
		ep->br = NULL;
		return -ENOMEM;
	}
	ep->rbufs = malloc(RECV_BUFS * RECV_BUF_LEN);
	if (!ep->rbufs) {
		ret = -ENOMEM;
		goto err;
	}
	ep->bgid = ++next_bgid;
	reg.ring_addr = (unsigned long)(uintptr_t)ep->br;
	reg.ring_entries = RECV_BUFS;
	reg.bgid = ep->bgid;
	ret = io_uring_register_buf_ring(evl_ring(ep->loop), &reg, 0);
	if (ret)
		goto err;
	io_uring_buf_ring_init(ep->br);
	for (unsigned i = 0; i < RECV_BUFS; i++)
		io_uring_buf_ring_add(ep->br, ep->rbufs + (size_t)i * RECV_BUF_LEN,
				      RECV_BUF_LEN, (unsigned short)i,
				      io_uring_buf_ring_mask(RECV_BUFS), (int)i);
	io_uring_buf_ring_advance(ep->br, RECV_BUFS);
	ep->mrecv_op.done = mrecv_done;
	ep->multishot = true;
	{
		int one = 1;

		/* Bursts arrive whole; without it, datagram by datagram. */
		setsockopt(ep->fd, SOL_UDP, UDP_GRO, &one, sizeof(one));
	}
	return 0;
err:
	munmap(ep->br, ring_len);
	ep->br = NULL;
	free(ep->rbufs);
	ep->rbufs = NULL;
	return ret;
}

void mrecv_teardown(struct rmap_ep *ep)
{
	if (!ep->br)
		return;
	if (ep->multishot)
		io_uring_unregister_buf_ring(evl_ring(ep->loop), ep->bgid);
	munmap(ep->br, RECV_BUFS * sizeof(struct io_uring_buf));
	free(ep->rbufs);
	ep->br = NULL;
}

/* ---- one-shot receives (fallback) ---- */

static void recv_arm(struct rmap_ep *ep, struct recv_slot *s);

static void recv_done(struct evl *loop, struct evl_op *op, int res)
{
	struct recv_slot *s = (struct recv_slot *)op;
	struct rmap_ep *ep = s->ep;

	(void)loop;
	ep->ops--;
	if (ep->closing)
		return;
	if (res >= 0) {
		rx_datagram(ep, s->buf, (size_t)res, &s->from);
	} else if (res != -EINTR && res != -EAGAIN && res != -ENOMEM &&
		   res != -ENOBUFS && res != -ECONNREFUSED) {
		/* The socket itself is broken: stop this slot, count it. */
		ep->ctr.recv_errors++;
		return;
	}
	if (!ep->closing)
		recv_arm(ep, s);
}

static void recv_arm(struct rmap_ep *ep, struct recv_slot *s)
{
	struct io_uring_sqe *sqe;

	memset(&s->mh, 0, sizeof(s->mh));
	s->iov.iov_base = s->buf;
	s->iov.iov_len = sizeof(s->buf);
	s->mh.msg_name = &s->from;
	s->mh.msg_namelen = sizeof(s->from);
	s->mh.msg_iov = &s->iov;
	s->mh.msg_iovlen = 1;
	sqe = evl_sqe(ep->loop, &s->op);
	io_uring_prep_recvmsg(sqe, ep->fd, &s->mh, 0);
	ep->ops++;
}

/* Post the receives: multishot where the kernel can, one-shot if not. */
void rx_start(struct rmap_ep *ep)
{
	if (mrecv_setup(ep) == 0) {
		mrecv_arm(ep);
		return;
	}
	for (unsigned i = 0; i < RECV_SLOTS; i++) {
		ep->slots[i].op.done = recv_done;
		ep->slots[i].ep = ep;
		recv_arm(ep, &ep->slots[i]);
	}
}

void rmap_ep_set_tx_filter(struct rmap_ep *ep, rmap_tx_filter_fn fn, void *arg)
{
	ep->tx_filter = fn;
	ep->tx_filter_arg = arg;
}

void rmap_ep_inject_rx(struct rmap_ep *ep, const uint8_t *buf, size_t len,
		       const struct sockaddr_storage *from)
{
	if (!ep->closing)
		rx_datagram(ep, buf, len, from);
}
