// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tx.c - the send side.  A message is cut into packets queued toward its
 * peer; the window lets a configured number of them fly at once, ACKs
 * slide it and time the round trip, and the retransmit timer and fast
 * retransmit resend what was lost.  Every packet leaves through ep_xmit(),
 * stamped with our own acknowledgement of the peer and spaced by the
 * inter-packet gap if there is one; first transmissions go out in UDP GSO
 * runs where they can.
 */
#include "rmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/udp.h>

#include "rmap_int.h"

/* Fill in our acknowledgement of @peer's stream. */
static void peer_ack_fields(struct rmap_peer *peer, uint32_t *ack,
			    uint64_t *sack)
{
	/* Bit i: packet rcv_next + 1 + i, from the ring's nine bytes. */
	uint32_t first = (peer->rcv_next + 1) % RMAP_RCV_WINDOW;
	unsigned shift = first % 8;
	uint64_t lo = 0, hi;

	for (unsigned k = 0; k < 8; k++)
		lo |= (uint64_t)peer->rcv_bits[(first / 8 + k) %
					       (RMAP_RCV_WINDOW / 8)] << (8 * k);
	hi = peer->rcv_bits[(first / 8 + 8) % (RMAP_RCV_WINDOW / 8)];
	*ack = peer->rcv_next;
	*sack = shift ? lo >> shift | hi << (64 - shift) : lo;
}

/*
 * Rewrite the transport fields of a packet just before it leaves, and seal
 * it for @peer.  -ENOKEY: no keys yet (a handshake is under way); the
 * packet is not sent now, the retransmit timer or the handshake's end
 * sends it.
 */
static int pkt_stamp(struct pkt *p, struct rmap_peer *peer)
{
	struct rmap_hdr *h = &p->hdr;
	bool ack = false;

	h->epoch = p->ep->epoch;
	if (peer && peer->rcv_synced) {
		peer_ack_fields(peer, &h->ack, &h->sack);
		h->flags |= RMAP_F_ACK;
		ack = true;
	}
	if (h->flags & RMAP_F_RELIABLE)
		h->base = peer->snd_una;
	h->flags = (uint16_t)((h->flags & ~RMAP_F_PAD) |
			      (p->pad ? RMAP_F_PAD : 0));
	rmap_wire_encode(h, p->buf);
	if (pkt_seal(p->ep, p, peer))
		return -ENOKEY;
	if (ack)
		peer->ack_pending = false;
	return 0;
}

/* Put @p->wire on the wire, as many times as the test filters say. */
void ep_submit_raw(struct rmap_ep *ep, struct pkt *p)
{
	struct io_uring_sqe *sqe;
	int copies = 1;

	if (ep->wire_filter) {
		copies = ep->wire_filter(p->wire, p->wire_len,
					 ep->wire_filter_arg);
		if (copies <= 0)
			return;
	}
	for (int i = 0; i < copies && i < 2; i++) {
		p->iov.iov_base = p->wire;
		p->iov.iov_len = p->wire_len;
		p->mh.msg_name = &p->to;
		p->mh.msg_namelen = rmap_addr_len(&p->to);
		p->mh.msg_iov = &p->iov;
		p->mh.msg_iovlen = 1;
		sqe = evl_sqe(ep->loop, &p->op);
		io_uring_prep_sendmsg(sqe, ep->fd, &p->mh, 0);
		p->inflight++;
		p->refs++;
		ep->ops++;
		ep->ctr.tx_sends++;
		ep->ctr.tx_packets++;
		ep->ctr.tx_bytes += p->wire_len;
	}
}

/* Send @data (a handshake message) to @to, a datagram of its own. */
void ep_send_raw(struct rmap_ep *ep, const struct sockaddr_storage *to,
		 const uint8_t *data, size_t len)
{
	struct pkt *p = pkt_new(ep, 0);

	if (!p)
		return;
	/* No message header: the wire buffer is the whole datagram. */
	p->wire = malloc(len);
	if (!p->wire) {
		pkt_unref(p);
		return;
	}
	p->wire_owned = true;
	memcpy(p->wire, data, len);
	p->wire_len = (uint16_t)len;
	p->to = *to;
	ep_submit_raw(ep, p);
	pkt_unref(p);
}

static void ep_submit_send(struct rmap_ep *ep, struct pkt *p)
{
	int copies = 1;

	if (ep->tx_filter) {
		copies = ep->tx_filter(&p->hdr, ep->tx_filter_arg);
		if (copies <= 0)
			return;
	}
	/* A filter that duplicates: the same datagram twice, one nonce. */
	for (int i = 0; i < copies && i < 2; i++)
		ep_submit_raw(ep, p);
}

void pace_fire(struct evl *loop, struct evl_timer *t)
{
	struct rmap_ep *ep = evl_container_of(t, struct rmap_ep, pace_timer);
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
	p->unsent = pkt_stamp(p, peer) != 0;
	if (p->unsent)
		return;		/* no keys yet: sent when they come */
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

void rmap_ep_set_tx_filter(struct rmap_ep *ep, rmap_tx_filter_fn fn, void *arg)
{
	ep->tx_filter = fn;
	ep->tx_filter_arg = arg;
}

void rmap_ep_set_wire_filter(struct rmap_ep *ep, rmap_wire_filter_fn fn,
			     void *arg)
{
	ep->wire_filter = fn;
	ep->wire_filter_arg = arg;
}

/* ---- UDP GSO: many packets, one send ---- */

/*
 * A run of packets to one peer, sent with UDP_SEGMENT from their own wire
 * buffers (one iovec each, no copy): the kernel cuts the run into
 * datagrams of gso_size bytes (the last may be shorter), which is exactly
 * our fragments.  One syscall and one trip down the stack for up to
 * GSO_MAX_SEGS packets.  Each packet is held, as for a send of its own,
 * until the kernel is done with it: a retransmission never reseals a
 * wire buffer the kernel may still be reading.
 */
#define GSO_POOL_MAX	16u	/* freed GSO sends kept */
#define GSO_MAX_SEGS	64u	/* the kernel's UDP_MAX_SEGMENTS */
#define GSO_MAX_BYTES	65000u	/* all of them, on the wire */
/* What sealing adds to a packet's length on the wire, at most. */
#define GSO_WIRE_EXTRA	(RMAP_OUTER_LEN + RMAP_AEAD_TAG_LEN)

struct gso_send {
	struct evl_op op;
	struct rmap_ep *ep;
	struct gso_send *next;	/* in ep->gso_pool */
	struct msghdr mh;
	struct sockaddr_storage to;
	/* Not a union with struct cmsghdr: its flexible array member would
	 * make this field variable-sized in the middle of the struct. */
	_Alignas(struct cmsghdr) char cm[CMSG_SPACE(sizeof(uint16_t))];
	unsigned n;
	struct pkt *pk[GSO_MAX_SEGS];
	struct iovec iov[GSO_MAX_SEGS];
};

/*
 * The kernel refuses a run whose segments no longer fit the route's MTU
 * (EMSGSIZE; EINVAL on some kernels): a link whose MTU was lowered.
 * Then the MTU is learnt again and later runs are cut for it; the
 * refused packets wait in the window for the timer.  Otherwise, after
 * EINVAL, GSO itself is what failed.
 */
static bool gso_route_shrank(struct gso_send *g)
{
	struct rmap_peer *peer = rmap_peer_find(g->ep, &g->to);

	return peer && peer_mtu_relearn(peer);
}

static struct gso_send *gso_alloc(struct rmap_ep *ep)
{
	struct gso_send *g = ep->gso_pool;

	if (!g)
		return calloc(1, sizeof(*g));
	ep->gso_pool = g->next;
	ep->gso_pooled--;
	memset(g, 0, sizeof(*g));
	return g;
}

static void gso_free(struct gso_send *g)
{
	struct rmap_ep *ep = g->ep;

	if (RMAP_KEEP_FREED && ep->gso_pooled < GSO_POOL_MAX) {
		g->next = ep->gso_pool;
		ep->gso_pool = g;
		ep->gso_pooled++;
	} else {
		free(g);
	}
}

/* At the endpoint's close, every send done: free what the pools keep. */
void tx_pools_drain(struct rmap_ep *ep)
{
	struct gso_send *g;

	pkt_pool_drain(ep);
	while ((g = ep->gso_pool)) {
		ep->gso_pool = g->next;
		free(g);
	}
	ep->gso_pooled = 0;
}

static void gso_sent(struct evl *loop, struct evl_op *op, int res)
{
	struct gso_send *g = (struct gso_send *)op;
	bool shrank = false;

	(void)loop;
	if (res < 0) {
		/* The packets are in the window: the timer resends them. */
		g->ep->ctr.send_errors++;
		if (res == -EMSGSIZE || res == -EINVAL)
			shrank = gso_route_shrank(g);
		if (!shrank &&
		    (res == -EINVAL || res == -EOPNOTSUPP || res == -EIO))
			g->ep->no_gso = true;
	}
	g->ep->ops--;
	for (unsigned i = 0; i < g->n; i++) {
		g->pk[i]->inflight--;
		pkt_unref(g->pk[i]);
	}
	gso_free(g);
}

/* Send @n stamped packets of equal length (the last may be shorter). */
static bool ep_send_gso(struct rmap_ep *ep, struct pkt **pk, unsigned n)
{
	struct gso_send *g;
	struct cmsghdr *c;
	uint16_t seg = pk[0]->wire_len;

	g = gso_alloc(ep);
	if (!g)
		return false;
	g->op.done = gso_sent;
	g->ep = ep;
	g->to = pk[0]->to;
	g->n = n;
	for (unsigned i = 0; i < n; i++) {
		g->pk[i] = pk[i];
		pk[i]->inflight++;
		pk[i]->refs++;
		g->iov[i].iov_base = pk[i]->wire;
		g->iov[i].iov_len = pk[i]->wire_len;
		ep->ctr.tx_packets++;
		ep->ctr.tx_bytes += pk[i]->wire_len;
	}
	g->mh.msg_name = &g->to;
	g->mh.msg_namelen = rmap_addr_len(&g->to);
	g->mh.msg_iov = g->iov;
	g->mh.msg_iovlen = n;
	g->mh.msg_control = g->cm;
	g->mh.msg_controllen = sizeof(g->cm);
	c = CMSG_FIRSTHDR(&g->mh);
	c->cmsg_level = SOL_UDP;
	c->cmsg_type = UDP_SEGMENT;
	c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
	memcpy(CMSG_DATA(c), &seg, sizeof(seg));
	io_uring_prep_sendmsg(evl_sqe(ep->loop, &g->op), ep->fd, &g->mh, 0);
	ep->ops++;
	ep->ctr.tx_sends++;
	ep->ctr.gso_sends++;
	return true;
}

/*
 * May @p be padded to @seg bytes?  If it has the room, and the padding
 * costs at most an eighth of the datagram: a message's last fragment,
 * a little shorter than the others, so that the next message's
 * fragments can follow it in one send.
 */
static bool pkt_may_pad(const struct pkt *p, size_t seg)
{
	return seg > p->len && seg - p->len <= p->room &&
	       (seg - p->len) * 8 <= seg;
}

static void pkt_pad(struct rmap_ep *ep, struct pkt *p, size_t seg)
{
	p->pad = (uint16_t)(seg - p->len);
	ep->ctr.tx_padded++;
}

/* Payload bytes per fragment toward @peer: its MTU less the headers. */
static uint32_t frag_payload(struct rmap_peer *peer)
{
	uint32_t fp = rmap_frag_payload(peer_mtu(peer));

	return peer->addr.ss_family == AF_INET6 ? fp - RMAP_IP6_EXTRA : fp;
}

/* First transmission of @n packets to @peer, in GSO runs where possible. */
static void ep_xmit_batch(struct rmap_ep *ep, struct rmap_peer *peer,
			  struct pkt **pk, unsigned n)
{
	/*
	 * Tests filter packet by packet; pacing spaces them; without keys
	 * nothing goes (ep_xmit starts the handshake): no batching.
	 */
	bool gso = !ep->no_gso && !ep->tx_filter && !ep->wire_filter &&
		   !ep->cfg.gap_us && (!ep->secure || peer->kp_cur);
	/*
	 * A run's segments must fit the route: fragments cut for an MTU
	 * since lowered go one by one (the kernel splits them).
	 */
	size_t fits = RMAP_HDR_LEN + frag_payload(peer);

	for (unsigned i = 0; i < n;) {
		unsigned k = 1;
		size_t seg = pk[i]->len, bytes;

		if (seg > fits) {
			ep_xmit(ep, pk[i++], peer);
			continue;
		}

		/* A run may start with a last fragment, padded too. */
		if (gso && i + 1 < n && pk[i + 1]->len > seg &&
		    pk[i + 1]->len <= fits &&
		    pkt_may_pad(pk[i], pk[i + 1]->len)) {
			seg = pk[i + 1]->len;
			pkt_pad(ep, pk[i], seg);
		}
		bytes = seg + GSO_WIRE_EXTRA;

		/*
		 * Equal-sized packets; a shorter one can only end the run,
		 * unless it is a message's last fragment with room to be
		 * padded to the others' size: then the run goes on into
		 * the next message.
		 */
		while (gso && i + k < n && k < GSO_MAX_SEGS &&
		       pk[i + k]->len <= seg &&
		       bytes + seg + GSO_WIRE_EXTRA <= GSO_MAX_BYTES) {
			struct pkt *prev = pk[i + k - 1];

			if (prev->len + prev->pad != seg) {
				if (!pkt_may_pad(prev, seg))
					break;
				pkt_pad(ep, prev, seg);
			}
			bytes += seg + GSO_WIRE_EXTRA;
			k++;
		}
		if (k > 1) {
			bool sealed = true;

			for (unsigned j = i; j < i + k && sealed; j++)
				sealed = !(pk[j]->unsent =
					   pkt_stamp(pk[j], peer) != 0);
			if (sealed && ep_send_gso(ep, pk + i, k)) {
				i += k;
				continue;
			}
		}
		for (unsigned j = i; j < i + k; j++)
			ep_xmit(ep, pk[j], peer);
		i += k;
	}
}

/* ---- the window ---- */

static void ep_arm_rexmit(struct rmap_ep *ep)
{
	if (!evl_timer_armed(&ep->rexmit_timer))
		evl_timer_arm(ep->loop, &ep->rexmit_timer,
			      (uint64_t)ep->cfg.rto_us * 1000);
}

/* Move queued packets into the window and send them. */
static void peer_transmit_window(struct rmap_peer *peer)
{
	struct rmap_ep *ep = peer->ep;
	struct pkt *batch[GSO_MAX_SEGS * 2];
	uint64_t now = evl_now_ns();
	unsigned n = 0;
	struct pkt *p;

	peer->q_fresh = 0;
	while ((p = peer->q_head) &&
	       p->hdr.seq - peer->snd_una < ep->cfg.window) {
		peer->q_head = p->next;
		if (!peer->q_head)
			peer->q_tail = NULL;
		p->next = NULL;
		peer->win[p->hdr.seq % RMAP_RCV_WINDOW] = p;
		peer->in_window++;
		p->sent_ns = now;
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

void peer_keys_ready(struct rmap_peer *peer)
{
	struct rmap_ep *ep = peer->ep;
	uint64_t now = evl_now_ns();

	/* What waited in the window for keys goes now, not a retry later. */
	for (uint32_t s = peer->snd_una;
	     s != peer->snd_una + peer->in_window; s++) {
		struct pkt *p = peer->win[s % RMAP_RCV_WINDOW];

		if (!p || p->acked || p->inflight || !p->unsent)
			continue;
		p->sent_ns = now;
		ep_xmit(ep, p, peer);
	}
	peer_transmit_window(peer);
	if (peer->ack_pending && !peer->on_ack_list) {
		peer->on_ack_list = true;
		peer->ack_next = ep->ack_list;
		ep->ack_list = peer;
	}
}

/*
 * Send what @peer's window has room for when this turn of the loop is
 * over (ep_flush), with every message queued and every
 * acknowledgement taken meanwhile: one send for many.
 */
static void peer_want_tx(struct rmap_peer *peer)
{
	struct rmap_ep *ep = peer->ep;

	if (peer->q_head && !peer->on_tx_list) {
		peer->on_tx_list = true;
		peer->tx_next = ep->tx_list;
		ep->tx_list = peer;
	}
}

/* Queue a message of @len bytes gathered from @iov, fragment by fragment. */
int peer_queue_msg(struct rmap_peer *peer, const struct rmap_hdr *tmpl,
		   const struct iovec *iov, uint32_t len)
{
	struct rmap_ep *ep = peer->ep;
	uint32_t fp = frag_payload(peer);
	uint32_t nfrag = len ? (len + fp - 1) / fp : 1;
	struct pkt *first = NULL, *last = NULL, *p;
	size_t iov_i = 0, iov_off = 0;

	if (len > RMAP_MAX_MSG || nfrag > RMAP_MAX_FRAGS)
		return -EMSGSIZE;
	for (uint32_t i = 0; i < nfrag; i++) {
		uint32_t off = i * fp, n = len - off < fp ? len - off : fp;
		uint8_t *dst;

		/* The last of several may be padded to the others' size. */
		p = pkt_new_room(ep, n, nfrag > 1 ? fp - n : 0);
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
	for (p = first; p; p = p->next) {
		peer->tx_bytes += p->len;
		peer->q_fresh += p->len + GSO_WIRE_EXTRA;
	}
	if (peer->q_tail)
		peer->q_tail->next = first;
	else
		peer->q_head = first;
	peer->q_tail = last;
	ep->ctr.tx_msgs++;
	/*
	 * The first request of a turn to @peer goes now: its caller waits
	 * for the answer, and the rest of the turn (installing pages, say)
	 * may take a while.  Later requests, and replies, wait for the end
	 * of the turn, to leave together; but once a full GSO send's worth
	 * waits, it goes at once.  A turn that answers 32 READs would
	 * otherwise seal and send all 96 fragments at its end, and the
	 * peer, idle until then, would open them all while this side idles
	 * in turn: the two would take turns where they can overlap.
	 */
	if (!(tmpl->flags & RMAP_F_RESPONSE) && peer->req_turn != ep->turn) {
		peer->req_turn = ep->turn;
		peer_transmit_window(peer);
	} else if (peer->q_fresh >= GSO_MAX_BYTES) {
		peer_transmit_window(peer);
		evl_flush(ep->loop);
	} else {
		peer_want_tx(peer);
	}
	return 0;
nomem:
	while (first) {
		p = first->next;
		pkt_unref(first);
		first = p;
	}
	return -ENOMEM;
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
	peer->q_fresh = 0;
	peer->snd_una = peer->snd_next;
	peer->in_window = 0;
	peer->tx_bytes = 0;
}

/* ---- retransmission ---- */

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
	struct rmap_ep *ep = evl_container_of(t, struct rmap_ep, rexmit_timer);
	uint64_t now = evl_now_ns();
	bool any = false;

	(void)loop;
	for (struct rmap_peer *peer = ep->all_peers, *next; peer; peer = next) {
		bool dead = false;
		unsigned burst = 0;

		next = peer->all_next;
		hs_tick(peer, now);
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
			if (ep->cfg.max_retries &&
			    p->retries >= ep->cfg.max_retries) {
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
		else if (peer->in_window || peer->hs.active)
			any = true;
	}
	if (any)
		ep_arm_rexmit(ep);
}

/* ---- acknowledgements ---- */

#define FAST_REXMIT_DUPS 3u

static void peer_ack_one(struct rmap_peer *peer, uint32_t s, uint64_t now)
{
	struct pkt *p = peer->win[s % RMAP_RCV_WINDOW];

	if (!p || p->acked)
		return;
	p->acked = true;
	/* Karn: only packets sent once give an honest round trip. */
	if (!p->retries && !p->fast_done) {
		unsigned rtt = now > p->sent_ns ?
			       (unsigned)((now - p->sent_ns) / 1000) : 0;

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

void peer_process_ack(struct rmap_peer *peer, uint32_t ack, uint64_t sack)
{
	struct rmap_ep *ep = peer->ep;
	uint64_t now = ep->rx_ns;
	uint32_t highest = 0;
	bool have_highest = false;

	/*
	 * Acknowledging what we never sent is a lie: ignore it.  Sent means
	 * moved into the window, [snd_una, snd_una + in_window): what is
	 * still queued has the window's slots of older packets.
	 */
	if (rmap_seq_before(peer->snd_una + peer->in_window, ack))
		return;
	for (uint32_t s = peer->snd_una; rmap_seq_before(s, ack); s++)
		peer_ack_one(peer, s, now);
	for (unsigned i = 0; i < 64; i++) {
		uint32_t s = ack + 1 + i;

		if (!(sack >> i & 1))
			continue;
		if (!rmap_seq_before(s, peer->snd_una + peer->in_window))
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
		peer->tx_bytes -= p->len;
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
	/* The room made goes to what is queued when this turn is over. */
	peer_want_tx(peer);
}

/* Acknowledge @peer's stream now, in a packet of its own. */
static void peer_ack_now(struct rmap_peer *peer)
{
	struct rmap_ep *ep = peer->ep;
	struct pkt *p = pkt_new(ep, 0);

	if (!p)
		return;
	p->hdr.type = RMAP_T_ACK;
	p->to = peer->addr;
	ep_xmit(ep, p, peer);
	pkt_unref(p);
	ep->ctr.acks_sent++;
}

/*
 * Before the loop sleeps: send the messages queued in this turn, then
 * acknowledge what no data packet acknowledged, in packets of their own.
 */
void ep_flush(struct evl *loop, struct evl_hook *hook)
{
	struct rmap_ep *ep = evl_container_of(hook, struct rmap_ep,
					      flush_hook);
	struct rmap_peer *peer;

	(void)loop;
	ep->turn++;
	while ((peer = ep->tx_list)) {
		ep->tx_list = peer->tx_next;
		peer->on_tx_list = false;
		peer_transmit_window(peer);
	}
	while ((peer = ep->ack_list)) {
		ep->ack_list = peer->ack_next;
		peer->on_ack_list = false;
		if (peer->ack_pending)	/* else a data packet carried it */
			peer_ack_now(peer);
	}
}
