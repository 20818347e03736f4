// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pkt.c - a packet's memory: allocated, referenced by the window and by
 * each send the kernel has not finished, and freed with the last
 * reference; fragments of a page come from a pool per endpoint.  What a
 * packet says and when it leaves is tx.c's.
 */
#include "rmap.h"

#include <stdlib.h>
#include <string.h>

#include "rmap_int.h"

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

/*
 * Packets come and go by the hundred thousand a second.  A small one
 * (a request, an acknowledgement) is cheap to malloc(): its per-thread
 * cache takes it.  A fragment of a page is too large for that cache, so
 * those that fit a datagram of an Ethernet MTU come from one size of
 * block, and up to PKT_POOL_MAX freed ones are kept for the next.
 * Larger ones (jumbo frames) are malloc()ed as they come.
 */
#define PKT_SMALL_BYTES	1024u	/* what malloc's cache keeps (1032) */
#define PKT_POOL_LEN	(RMAP_HDR_LEN + 1500u)	/* message and room */
#define PKT_POOL_BYTES	(sizeof(struct pkt) + 2 * PKT_POOL_LEN + \
			 RMAP_OUTER_LEN + RMAP_AEAD_TAG_LEN)
#define PKT_POOL_MAX	256u

static size_t pkt_bytes(size_t len, size_t room)
{
	return sizeof(struct pkt) + 2 * (len + room) + RMAP_OUTER_LEN +
	       RMAP_AEAD_TAG_LEN;
}

/* Is a packet of @len bytes and @room for padding one of the pool's? */
static bool pkt_poolable(size_t len, size_t room)
{
	return pkt_bytes(len, room) > PKT_SMALL_BYTES &&
	       len + room <= PKT_POOL_LEN;
}

static struct pkt *pkt_alloc(struct rmap_ep *ep, size_t len, size_t room,
			     bool pooled)
{
	struct pkt *p;

	if (!pooled)
		return malloc(pkt_bytes(len, room));
	if ((p = ep->pkt_pool)) {
		ep->pkt_pool = p->next;
		ep->pkt_pooled--;
		return p;
	}
	return malloc(PKT_POOL_BYTES);
}

static void pkt_free(struct pkt *p)
{
	struct rmap_ep *ep = p->ep;

	if (RMAP_KEEP_FREED && p->pooled && ep->pkt_pooled < PKT_POOL_MAX) {
		p->next = ep->pkt_pool;
		ep->pkt_pool = p;
		ep->pkt_pooled++;
	} else {
		free(p);
	}
}

/*
 * A packet of @payload bytes after its header, with @room zeroed bytes
 * after them that it may be padded with (see ep_xmit_batch).  The
 * payload is left for the caller to fill, every byte of it: a page's
 * fragment is copied in at once, and zeroing it first was 1 to 2% of a
 * memory server's CPU.
 */
struct pkt *pkt_new_room(struct rmap_ep *ep, size_t payload, size_t room)
{
	size_t len = RMAP_HDR_LEN + payload;
	bool pooled = pkt_poolable(len, room);
	struct pkt *p = pkt_alloc(ep, len, room, pooled);

	if (!p)
		return NULL;
	/*
	 * Zeros in the header and the padding it may take.  The wire
	 * buffer is written whole (sealed or copied) before any send, and
	 * no more than that is sent.
	 */
	memset(p, 0, sizeof(*p) + RMAP_HDR_LEN);
	memset(p->buf + len, 0, room);
	p->op.done = pkt_sent;
	p->ep = ep;
	p->pooled = pooled;
	p->len = (uint16_t)len;
	p->room = (uint16_t)room;
	/*
	 * The message in clear stays in buf: every transmission seals it
	 * afresh, with a nonce of its own, into wire.
	 */
	p->wire = p->buf + len + room;
	p->refs = 1;
	return p;
}

/* A packet of one datagram's message, its payload zeroed. */
struct pkt *pkt_new(struct rmap_ep *ep, size_t payload)
{
	struct pkt *p = pkt_new_room(ep, payload, 0);

	if (p)
		memset(p->buf + RMAP_HDR_LEN, 0, payload);
	return p;
}

void pkt_unref(struct pkt *p)
{
	if (--p->refs == 0) {
		if (p->wire_owned)
			free(p->wire);
		pkt_free(p);
	}
}

/* At the endpoint's close: every packet is back by then. */
void pkt_pool_drain(struct rmap_ep *ep)
{
	struct pkt *p;

	while ((p = ep->pkt_pool)) {
		ep->pkt_pool = p->next;
		free(p);
	}
	ep->pkt_pooled = 0;
}
