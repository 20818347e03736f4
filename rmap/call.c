// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * call.c - requests and replies, on top of the reliable datagrams.
 *
 * A call is an outstanding request, found by its request id when its
 * reply (or the reply's first fragment) arrives.  A whole message goes
 * to the request handler, or to the call that waits for it.  ANNOUNCE,
 * the one unreliable message, is sent from here too.
 */
#include "rmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rmap_int.h"

struct call *call_find(struct rmap_ep *ep, uint32_t reqid)
{
	struct call *c = ep->calls[reqid % CALL_BUCKETS];

	while (c && c->reqid != reqid)
		c = c->hnext;
	return c;
}

static void call_unlink(struct rmap_ep *ep, struct call *c)
{
	struct call **pp = &ep->calls[c->reqid % CALL_BUCKETS];

	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
	if (!c->detached) {
		if (c->prev)
			c->prev->next = c->next;
		else
			c->peer->calls = c->next;
		if (c->next)
			c->next->prev = c->prev;
	}
	if (c->reasm) {
		/* Fragments may still arrive: drop them, not into c->buf. */
		c->reasm->call = NULL;
		c->reasm->discard = true;
	}
	ep->ncalls--;
}

/*
 * Is @h (a reply from @peer) the answer to call @c?  Same peer, same
 * type, and for the types with a page run, the run the call asked for: a
 * READ reply for other pages must never land in the caller's buffer.
 */
bool call_matches(const struct call *c, const struct rmap_peer *peer,
		  const struct rmap_hdr *h)
{
	if (c->peer != peer || c->type != h->type)
		return false;
	return !rmap_type_has_run(h->type) ||
	       (h->page == c->page && h->count == c->count);
}

/*
 * Is @h @c's own peer's answer to @c, but for another page run (a short
 * answer to a READ, or other pages)?  Then the call fails with EBADMSG:
 * nothing reaches the caller's buffer, and the caller learns at once that
 * its server answered what it did not ask, instead of waiting for an
 * answer that such a server will never send (a pager then rebuilds the
 * pages from parity).
 */
bool call_wrong_run(const struct call *c, const struct rmap_peer *peer,
		    const struct rmap_hdr *h)
{
	return c->peer == peer && c->type == h->type &&
	       rmap_type_has_run(h->type) &&
	       (h->page != c->page || h->count != c->count);
}

/* Unlink @c, run its callback with @err and @resp, free it. */
void call_complete(struct rmap_ep *ep, struct call *c, int err,
		   const struct rmap_msg *resp)
{
	call_unlink(ep, c);
	c->fn(c->arg, err, resp);
	free(c);
}

static uint32_t iov_total(const struct iovec *iov, int iovcnt)
{
	uint64_t n = 0;

	for (int i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

int rmap_call(struct rmap_ep *ep, struct rmap_peer *peer,
	      const struct rmap_req *req, void *resp_buf, uint32_t resp_cap,
	      rmap_reply_fn fn, void *arg)
{
	struct rmap_hdr h = { 0 };
	uint32_t len = iov_total(req->iov, req->iovcnt);
	struct call *c;
	unsigned b;
	int ret;

	/* A type above RMAP_T_MAX is a later version's (wire.h). */
	if (req->type == RMAP_T_ACK || req->type == RMAP_T_ANNOUNCE ||
	    req->type >= RMAP_T_LIMIT)
		return -EINVAL;
	/* Tags go only with the page runs that carry data (wire.c). */
	if ((req->flags & ~RMAP_F_TAGS) ||
	    (req->flags && (!rmap_type_has_run(req->type) ||
			    req->type == RMAP_T_FREE)))
		return -EINVAL;
	/* With authentication, we must know whose key to expect there. */
	if (!peer->kp_cur && !rmap_peer_can_initiate(peer))
		return -ENOKEY;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	do {
		c->reqid = ep->next_reqid++;
	} while (!c->reqid);
	c->peer = peer;
	c->type = req->type;
	c->page = req->page;
	c->count = req->count;
	c->buf = resp_buf;
	c->cap = resp_cap;
	c->fn = fn;
	c->arg = arg;

	h.type = req->type;
	h.flags = req->flags & RMAP_F_TAGS;
	h.session = req->session;
	h.reqid = c->reqid;
	h.page = req->page;
	h.count = req->count;
	ret = peer_queue_msg(peer, &h, req->iov, len);
	if (ret) {
		free(c);
		return ret;
	}
	b = c->reqid % CALL_BUCKETS;
	c->hnext = ep->calls[b];
	ep->calls[b] = c;
	c->next = peer->calls;
	if (peer->calls)
		peer->calls->prev = c;
	peer->calls = c;
	ep->ncalls++;
	return 0;
}

int rmap_reply(struct rmap_ep *ep, const struct rmap_msg *req, uint8_t status,
	       uint32_t session, const struct iovec *iov, int iovcnt)
{
	struct rmap_hdr h = { 0 };

	(void)ep;
	h.type = req->type;
	h.flags = RMAP_F_RESPONSE;
	h.status = status;
	h.session = session;
	h.reqid = req->reqid;
	/* The page run is echoed: wire.c requires it of these replies. */
	if (rmap_type_has_run(req->type)) {
		h.page = req->page;
		h.count = req->count;
		h.flags |= req->flags & RMAP_F_TAGS;
	}
	if (status != RMAP_S_OK)
		iovcnt = 0;
	return peer_queue_msg(req->peer, &h, iov,
			      iovcnt ? iov_total(iov, iovcnt) : 0);
}

/*
 * Hand the whole message @h, @data from @peer to the request handler, or
 * to its call: @c when reassembly matched it already (the data is then in
 * its buffer), else the call found by request id.
 */
void msg_deliver(struct rmap_ep *ep, struct rmap_peer *peer,
		 const struct rmap_hdr *h, const uint8_t *data, struct call *c)
{
	struct rmap_msg m = {
		.peer = peer, .type = h->type, .status = h->status,
		.flags = h->flags, .session = h->session, .reqid = h->reqid,
		.page = h->page, .count = h->count, .data = data,
		.len = h->msg_len,
	};

	ep->ctr.rx_msgs++;
	if (!(h->flags & RMAP_F_RESPONSE)) {
		if (ep->h.request) {
			ep->h.request(ep, &m, ep->h.arg);
		} else {
			rmap_reply(ep, &m, RMAP_S_UNSUPP, h->session, NULL, 0);
		}
		return;
	}
	if (!c) {
		c = call_find(ep, h->reqid);
		if (c && call_wrong_run(c, peer, h)) {
			ep->ctr.reply_mismatch++;
			call_complete(ep, c, -EBADMSG, NULL);
			return;
		}
		if (!c || !call_matches(c, peer, h)) {
			ep->ctr.stale_reply++;
			return;
		}
		if (h->msg_len > c->cap) {
			call_complete(ep, c, -EMSGSIZE, NULL);
			return;
		}
		if (h->msg_len && data != c->buf)
			memcpy(c->buf, data, h->msg_len);
	}
	m.data = c->buf;
	call_complete(ep, c, 0, &m);
}

int rmap_announce(struct rmap_ep *ep, const struct sockaddr_storage *to,
		  const struct rmap_stat *st)
{
	struct pkt *p = pkt_new(ep, RMAP_STAT_LEN);

	if (!p)
		return -ENOMEM;
	p->hdr.type = RMAP_T_ANNOUNCE;
	p->hdr.frag_cnt = 1;
	p->hdr.msg_len = RMAP_STAT_LEN;
	p->hdr.frag_len = RMAP_STAT_LEN;
	p->to = *to;
	rmap_stat_encode(st, p->buf + RMAP_HDR_LEN);
	ep_xmit(ep, p, NULL);
	pkt_unref(p);
	return 0;
}
