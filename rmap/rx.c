// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rx.c - the receive side.  Each datagram is decoded, its acknowledgement
 * handed to the send side, its sequence number checked against what has
 * already arrived, and its fragment put in place; whole messages go up
 * to call.c.  Under that, the receives themselves: one multishot receive
 * into provided buffers, or one-shot receives where the kernel has none.
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

static void count_bad(struct rmap_ep *ep, enum rmap_wire_err e)
{
	ep->ctr.bad[e]++; 
	ep->ctr.bad_total++;
}

/*
 * @n datagrams from @from were just refused: count them against its host
 * in the counters' table, taking over the entry least lately counted
 * when the host has none.
 */
static void count_refused_from(struct rmap_ep *ep,
			       const struct sockaddr_storage *from, uint64_t n)
{
	struct rmap_counters *c = &ep->ctr;
	struct rmap_refused_source *e, *victim = NULL;
	struct sockaddr_storage host = { 0 };

	if (from->ss_family == AF_INET) {
		struct sockaddr_in *h = (void *)&host;

		memcpy(h, from, sizeof(*h));
		h->sin_port = 0;
	} else if (from->ss_family == AF_INET6) {
		struct sockaddr_in6 *h = (void *)&host;

		memcpy(h, from, sizeof(*h));
		h->sin6_port = 0;
	} else {
		return;
	}
	c->refused_serial++;
	for (e = c->refused_from; e < c->refused_from + RMAP_REFUSED_SOURCES;
	     e++) {
		if (!e->host.ss_family) {
			victim = e;	/* entries fill in order: none after */
			break;
		}
		if (addr_equal(&e->host, &host))
			goto found;
		if (!victim || e->last < victim->last)
			victim = e;
	}
	e = victim;
	*e = (struct rmap_refused_source){ .host = host,
					   .serial = c->refused_serial };
found:
	e->count += n;
	e->last = c->refused_serial;
}

void rmap_refused_sources(const struct rmap_counters *c,
			  struct rmap_stat_sources *out)
{
	const struct rmap_refused_source *by[RMAP_REFUSED_SOURCES];
	uint64_t held = 0;
	unsigned n = 0;

	_Static_assert(RMAP_REFUSED_SOURCES == RMAP_STAT_SOURCES,
		       "a STAT carries the whole table");
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < RMAP_REFUSED_SOURCES; i++) {
		const struct rmap_refused_source *e = &c->refused_from[i];
		unsigned k;

		if (!e->host.ss_family)
			break;	/* entries fill in order: none after */
		k = n++;
		/* Most refused first: insertion, four entries. */
		for (; k > 0 && by[k - 1]->count < e->count; k--)
			by[k] = by[k - 1];
		by[k] = e;
	}
	for (unsigned i = 0; i < n; i++) {
		struct rmap_stat_source *s = &out->s[i];
		const struct sockaddr_storage *h = &by[i]->host;

		if (h->ss_family == AF_INET) {
			s->family = 4;
			memcpy(s->addr, &((const struct sockaddr_in *)
					  (const void *)h)->sin_addr, 4);
		} else {
			s->family = 6;
			memcpy(s->addr, &((const struct sockaddr_in6 *)
					  (const void *)h)->sin6_addr, 16);
		}
		s->count = by[i]->count;
		held += s->count;
	}
	out->others = rmap_refused_total(c) - held;
}

/* ---- reassembly ---- */

static void reasm_free(struct rmap_ep *ep, struct rmap_peer *peer,
		       struct reasm *r)
{
	if (r->call)
		r->call->reasm = NULL;
	ep->reasm_bytes -= r->owned ? r->msg_len : 0;
	peer->reasm_bytes -= r->owned ? r->msg_len : 0;
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

/* Where the fragments of @h's message start (wire.c checked the tiling). */
static uint32_t frag_stride(const struct rmap_hdr *h)
{
	return h->frag_idx ? h->frag_off / h->frag_idx : h->frag_len;
}

/* @h's flags that are its message's, not only this datagram's. */
static uint16_t msg_flags(const struct rmap_hdr *h)
{
	return h->flags & (uint16_t)~(RMAP_F_ACK | RMAP_F_PAD);
}

static bool reasm_matches(const struct reasm *r, const struct rmap_hdr *h)
{
	return r->stride == frag_stride(h) &&
	       r->type == h->type && r->flags == msg_flags(h) &&
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
		r->flags = msg_flags(h);
		r->status = h->status;
		r->reqid = h->reqid;
		r->session = h->session;
		r->page = h->page;
		r->count = h->count;
		r->msg_len = h->msg_len;
		r->frag_cnt = h->frag_cnt;
		r->stride = frag_stride(h);
		r->last_ns = ep->rx_ns;
		if (h->flags & RMAP_F_RESPONSE) {
			c = call_find(ep, h->reqid);
			if (c && (c->reasm || !call_matches(c, peer, h)))
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
			if (ep->reasm_bytes + h->msg_len > REASM_MAX_BYTES ||
			    peer->reasm_bytes + h->msg_len >
			    ep->cfg.peer_reasm_max) {
				ep->ctr.limit_drops++;
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
			peer->reasm_bytes += h->msg_len;
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
	r->last_ns = ep->rx_ns;
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

		if (c && !c->reasm && call_matches(c, peer, h) &&
		    h->msg_len > c->cap) {
			call_complete(ep, c, -EMSGSIZE, NULL);
		} else if (c && !c->reasm && call_wrong_run(c, peer, h)) {
			ep->ctr.reply_mismatch++;
			call_complete(ep, c, -EBADMSG, NULL);
		} else {
			ep->ctr.stale_reply++;
		}
	}
	reasm_free(ep, peer, r);
	return true;
}

void gc_fire(struct evl *loop, struct evl_timer *t)
{
	struct rmap_ep *ep = evl_container_of(t, struct rmap_ep, gc_timer);
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
				count_bad(ep, RMAP_WIRE_FRAG);
				reasm_free(ep, peer, r);
				continue;
			}
			any = true;
			pp = &r->next;
		}
	}
	if (any)
		evl_timer_arm(ep->loop, &ep->gc_timer, REASM_STALE_NS);
}

/* ---- the stream from each peer ---- */

/* Forget @peer's stream toward us: a new incarnation starts afresh. */
void peer_reset_rx(struct rmap_peer *peer)
{
	struct reasm *r;

	while ((r = peer->reasm)) {
		peer->reasm = r->next;
		reasm_free(peer->ep, peer, r);
	}
	peer->nreasm = 0;
	memset(peer->rcv_bits, 0, sizeof(peer->rcv_bits));
	peer->rcv_synced = false;
	peer->ack_pending = false;
}

static bool rcv_test(const struct rmap_peer *peer, uint32_t s)
{
	return peer->rcv_bits[(s % RMAP_RCV_WINDOW) / 8] & (1u << (s % 8));
}

/*
 * Owe @peer an acknowledgement: ep_flush() sends it before the loop
 * sleeps, unless a packet toward @peer carries it first.
 */
static void peer_want_ack(struct rmap_peer *peer)
{
	peer->ack_pending = true;
	if (!peer->on_ack_list) {
		peer->on_ack_list = true;
		peer->ack_next = peer->ep->ack_list;
		peer->ep->ack_list = peer;
	}
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
	/*
	 * The sender gave up on everything before base: so do we.  In O(1)
	 * however far base jumped: past a whole window, nothing we hold is
	 * still in it.
	 */
	if (rmap_seq_before(peer->rcv_next, h->base)) {
		uint32_t gap = h->base - peer->rcv_next;

		if (gap >= RMAP_RCV_WINDOW) {
			memset(peer->rcv_bits, 0, sizeof(peer->rcv_bits));
		} else {
			for (uint32_t s = peer->rcv_next; s != h->base; s++)
				peer->rcv_bits[(s % RMAP_RCV_WINDOW) / 8] &=
					(uint8_t)~(1u << (s % 8));
		}
		peer->rcv_next = h->base;
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
	/*
	 * A request (or a fragment of one) from a peer whose answers already
	 * queue more than its bound is left unacknowledged: it comes again
	 * once the peer has taken its answers.  Replies are always taken.
	 */
	if (!(h->flags & RMAP_F_RESPONSE) &&
	    peer->tx_bytes > ep->cfg.peer_queue_max) {
		ep->ctr.limit_drops++;
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

/*
 * A message header and its fragment, in clear: opened from a DATA datagram
 * of the authenticated @peer, or (@peer NULL) a PLAIN datagram from @from.
 */
void rx_inner(struct rmap_ep *ep, struct rmap_peer *peer, const uint8_t *buf,
	      size_t len, const struct sockaddr_storage *from)
{
	struct rmap_hdr h;
	enum rmap_wire_err e;

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
		/* With keys, an ANNOUNCE in clear is only a rumour. */
		if (ep->secure && !peer && !ep->h.unauth_announce) {
			ep->ctr.unauth_announces++;
			return;
		}
		if (ep->h.announce)
			ep->h.announce(ep, from, &st, ep->h.arg);
		return;
	}
	if (peer) {
		/* Epochs change only in handshakes. */
		if (h.epoch != peer->remote_epoch) {
			ep->ctr.dup_packets++;
			return;
		}
		goto known;
	}
	if (ep->secure) {
		/* Anything but an ANNOUNCE must be sealed. */
		ep->ctr.auth_failures++;
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
		peer_restarted(peer, h.epoch);
		if (ep->closing)
			return;
	} else if (!peer->epoch_known) {
		peer->remote_epoch = h.epoch;
		peer->epoch_known = true;
	}
known:
	peer_heard_from(peer);
	if (h.flags & RMAP_F_ACK)
		peer_process_ack(peer, h.ack, h.sack);
	if (h.flags & RMAP_F_RELIABLE)
		rx_reliable(ep, peer, &h, buf + RMAP_HDR_LEN);
}

/* One datagram, by its kind: a handshake's, sealed or in clear. */
static void rx_sorted(struct rmap_ep *ep, const uint8_t *buf, size_t len,
		      const struct sockaddr_storage *from)
{
	struct rmap_peer *peer;
	size_t plain_len = 0;

	ep->ctr.rx_packets++;
	ep->ctr.rx_bytes += len;
	if (len < RMAP_OUTER_LEN) {
		count_bad(ep, RMAP_WIRE_SHORT);
		return;
	}
	if ((buf[0] << 8 | buf[1]) != RMAP_MAGIC) {
		count_bad(ep, RMAP_WIRE_MAGIC);
		return;
	}
	if (buf[2] != RMAP_VERSION) {
		count_bad(ep, RMAP_WIRE_VERSION);
		return;
	}
	switch (buf[3]) {
	case RMAP_K_INIT:
		hs_on_init(ep, buf, len, from);
		return;
	case RMAP_K_RESP:
		hs_on_resp(ep, buf, len, from);
		return;
	case RMAP_K_COOKIE:
		hs_on_cookie(ep, buf, len, from);
		return;
	case RMAP_K_DATA:
		if (!ep->secure) {
			/* Sealed, and we have no keys: a misconfiguration. */
			ep->ctr.auth_failures++;
			return;
		}
		peer = data_open(ep, buf, len, from, &plain_len);
		if (peer)
			rx_inner(ep, peer, ep->rx_plain, plain_len, from);
		return;
	case RMAP_K_PLAIN:
		rx_inner(ep, NULL, buf + RMAP_OUTER_LEN, len - RMAP_OUTER_LEN,
			 from);
		return;
	default:
		count_bad(ep, RMAP_WIRE_TYPE);
		return;
	}
}

/* One datagram from @from; if it is refused, whence is noted. */
static void rx_datagram(struct rmap_ep *ep, const uint8_t *buf, size_t len,
			const struct sockaddr_storage *from)
{
	uint64_t before = rmap_refused_total(&ep->ctr), after;

	rx_sorted(ep, buf, len, from);
	after = rmap_refused_total(&ep->ctr);
	if (after != before)
		count_refused_from(ep, from, after - before);
}

void rmap_ep_inject_rx(struct rmap_ep *ep, const uint8_t *buf, size_t len,
		       const struct sockaddr_storage *from)
{
	if (!ep->closing) {
		ep->rx_ns = evl_now_ns();
		rx_datagram(ep, buf, len, from);
	}
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
	struct rmap_ep *ep = evl_container_of(op, struct rmap_ep, mrecv_op);
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
				ep->ctr.rx_recvs++;
				ep->rx_ns = evl_now_ns();
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
		ep->rx_ns = evl_now_ns();
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
