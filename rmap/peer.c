// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * peer.c - an endpoint's peers: found by address in a hash table, and
 * what befalls one as a whole (dropped, unreachable, heard from again).
 */
#include "rmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "rmap_int.h"

#define MAX_PEERS	4096u

socklen_t rmap_addr_len(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					: sizeof(struct sockaddr_in);
}

bool addr_equal(const struct sockaddr_storage *a,
		const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port &&
		       x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		       !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
	}
	return false;
}

static unsigned addr_hash(const struct sockaddr_storage *a)
{
	const uint8_t *p;
	size_t n;
	uint32_t h = 2166136261u;

	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)a;

		p = (const uint8_t *)&s->sin6_addr;
		n = 16;
		h ^= s->sin6_port;
	} else {
		const struct sockaddr_in *s = (const void *)a;

		p = (const uint8_t *)&s->sin_addr;
		n = 4;
		h ^= s->sin_port;
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h % PEER_BUCKETS;
}

static void peer_name_update(struct rmap_peer *peer)
{
	rmap_format_addr(&peer->addr, peer->name, sizeof(peer->name));
}

struct rmap_peer *rmap_peer_find(struct rmap_ep *ep,
				 const struct sockaddr_storage *addr)
{
	struct rmap_peer *p = ep->peers[addr_hash(addr)];

	while (p && !addr_equal(&p->addr, addr))
		p = p->hnext;
	return p;
}

struct rmap_peer *rmap_peer_get(struct rmap_ep *ep,
				const struct sockaddr_storage *addr)
{
	struct rmap_peer *peer = rmap_peer_find(ep, addr);

	if (!peer)
		peer = peer_new(ep, addr);
	/*
	 * We talk to it on our own account: with authentication, we may
	 * open a handshake if the peers file says whose key is there.
	 */
	if (peer && ep->secure && !peer->initiator) {
		struct ident *id = ident_by_addr(ep, addr);

		if (id && (!peer->ident || peer->ident == id)) {
			peer->ident = id;
			peer->initiator = true;
		}
	}
	return peer;
}

struct rmap_peer *peer_new(struct rmap_ep *ep,
			   const struct sockaddr_storage *addr)
{
	struct rmap_peer *peer;
	unsigned b;

	if (ep->npeers >= MAX_PEERS)
		return NULL;
	peer = calloc(1, sizeof(*peer));
	if (!peer)
		return NULL;
	peer->ep = ep;
	memcpy(&peer->addr, addr, sizeof(*addr));
	peer_name_update(peer);
	b = addr_hash(addr);
	peer->hnext = ep->peers[b];
	ep->peers[b] = peer;
	peer->all_next = ep->all_peers;
	if (ep->all_peers)
		ep->all_peers->all_prev = peer;
	ep->all_peers = peer;
	ep->npeers++;
	return peer;
}

const char *rmap_peer_name(const struct rmap_peer *peer)
{
	return peer->name;
}

bool rmap_peer_unreachable(const struct rmap_peer *peer)
{
	return peer->unreachable;
}

unsigned rmap_peer_srtt_us(const struct rmap_peer *peer)
{
	return peer->srtt_us;
}

unsigned rmap_peer_mtu(const struct rmap_peer *peer)
{
	return peer->mtu;
}

/*
 * The MTU of the route to @to: what a UDP socket connected there is told
 * (IP_MTU: the device's, or a smaller path MTU the kernel has learnt),
 * within what RMAP can use; RMAP_FALLBACK_MTU if it cannot be had.
 */
static unsigned route_mtu(const struct sockaddr_storage *to)
{
	bool v6 = to->ss_family == AF_INET6;
	int fd = socket(to->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int mtu = 0;
	socklen_t len = sizeof(mtu);

	if (fd < 0)
		return RMAP_FALLBACK_MTU;
	if (connect(fd, (const struct sockaddr *)to, rmap_addr_len(to)) ||
	    getsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP,
		       v6 ? IPV6_MTU : IP_MTU, &mtu, &len))
		mtu = RMAP_FALLBACK_MTU;
	close(fd);
	if (mtu < (int)RMAP_MIN_MTU)
		return RMAP_MIN_MTU;
	return mtu > (int)RMAP_MAX_MTU ? RMAP_MAX_MTU : (unsigned)mtu;
}

/*
 * Look the route's MTU up again (auto only): true if it changed.  A
 * message already cut for the old MTU keeps its fragments; the kernel
 * splits those into IP fragments if they no longer fit.
 */
bool peer_mtu_relearn(struct rmap_peer *peer)
{
	struct rmap_ep *ep = peer->ep;
	unsigned mtu, old = peer->mtu;

	if (ep->cfg.mtu != RMAP_MTU_AUTO)
		return false;
	mtu = route_mtu(&peer->addr);
	peer->mtu_ns = evl_now_ns();
	if (mtu == old)
		return false;
	peer->mtu = mtu;
	if (old) {
		ep->ctr.mtu_changes++;
		if (ep->h.mtu_changed)
			ep->h.mtu_changed(ep, peer, old, ep->h.arg);
	}
	return true;
}

/*
 * The MTU to cut messages to @peer for: the configured one, or the
 * route's, looked up again once it is RMAP_MTU_RECHECK_S old (a link
 * whose MTU was raised or lowered since).
 */
unsigned peer_mtu(struct rmap_peer *peer)
{
	if (peer->ep->cfg.mtu != RMAP_MTU_AUTO)
		peer->mtu = peer->ep->cfg.mtu;
	else if (!peer->mtu || evl_now_ns() - peer->mtu_ns >=
		 RMAP_MTU_RECHECK_S * 1000000000ull)
		peer_mtu_relearn(peer);
	return peer->mtu;
}

void rmap_peer_describe(const struct rmap_peer *peer, char *buf, size_t len)
{
	uint64_t now = evl_now_ns();
	const struct pkt *old = NULL;
	unsigned long queued = 0;
	char heard[32] = "never";

	for (const struct pkt *p = peer->q_head; p; p = p->next)
		queued++;
	for (uint32_t s = peer->snd_una;
	     s != peer->snd_una + peer->in_window && !old; s++) {
		const struct pkt *p = peer->win[s % RMAP_RCV_WINDOW];

		if (p && !p->acked)
			old = p;
	}
	if (peer->last_rx_ns)
		snprintf(heard, sizeof(heard), "%llu ms ago",
			 (unsigned long long)((now - peer->last_rx_ns) /
					      1000000));
	snprintf(buf, len, "%u packets in flight, %lu queued%s; oldest sent "
		 "%llu ms ago, %u times%s; last heard %s; srtt %u us; mtu %u; "
		 "keys %s%s",
		 peer->in_window, queued, peer->on_tx_list ? " (to send)" : "",
		 old ? (unsigned long long)((now - old->sent_ns) / 1000000) : 0,
		 old ? old->retries + 1 : 0,
		 old && old->unsent ? " (not sent: no keys)" : "", heard,
		 peer->srtt_us, peer->mtu,
		 !peer->ep->secure ? "off" : peer->kp_cur ? "current" : "none",
		 peer->hs.active ? ", handshake under way" : "");
}

/*
 * Take @peer's calls off it, and drop what waits to be sent: a callback
 * may well call again on this peer, and that new call must not be failed
 * with the old ones.
 */
static struct call *peer_detach_calls(struct rmap_peer *peer)
{
	struct call *list = peer->calls;

	peer_drop_tx(peer);
	peer->calls = NULL;
	for (struct call *c = list; c; c = c->next)
		c->detached = true;
	return list;
}

static void calls_fail(struct rmap_ep *ep, struct call *list, int err)
{
	struct call *c;

	while ((c = list)) {
		list = c->next;
		call_complete(ep, c, err, NULL);
	}
}

void peer_fail_all(struct rmap_peer *peer, int err)
{
	calls_fail(peer->ep, peer_detach_calls(peer), err);
}

void rmap_peer_drop(struct rmap_ep *ep, struct rmap_peer *peer)
{
	struct rmap_peer **pp = &ep->peers[addr_hash(&peer->addr)];

	peer_fail_all(peer, -ECANCELED);
	peer_reset_rx(peer);
	peer_auth_reset(peer);
	while (*pp && *pp != peer)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = peer->hnext;
	if (peer->all_prev)
		peer->all_prev->all_next = peer->all_next;
	else
		ep->all_peers = peer->all_next;
	if (peer->all_next)
		peer->all_next->all_prev = peer->all_prev;
	/* ep_flush() must not find it on its lists once it is gone. */
	if (peer->on_tx_list) {
		struct rmap_peer **tp = &ep->tx_list;

		while (*tp && *tp != peer)
			tp = &(*tp)->tx_next;
		if (*tp)
			*tp = peer->tx_next;
	}
	if (peer->on_ack_list) {
		struct rmap_peer **ap = &ep->ack_list;

		while (*ap && *ap != peer)
			ap = &(*ap)->ack_next;
		if (*ap)
			*ap = peer->ack_next;
	}
	ep->npeers--;
	free(peer);
}

void rmap_peer_cancel(struct rmap_ep *ep, struct rmap_peer *peer)
{
	(void)ep;
	peer_fail_all(peer, -ECANCELED);
}

void peer_set_unreachable(struct rmap_peer *peer)
{
	struct rmap_ep *ep = peer->ep;

	if (!peer->unreachable) {
		peer->unreachable = true;
		ep->ctr.unreachable++;
	}
	peer_fail_all(peer, -EHOSTUNREACH);
	if (ep->h.peer_state)
		ep->h.peer_state(ep, peer, -EHOSTUNREACH, ep->h.arg);
}

void peer_restarted(struct rmap_peer *peer, uint32_t epoch)
{
	struct rmap_ep *ep = peer->ep;
	struct call *list;

	/* The peer restarted: nothing in flight will be answered. */
	ep->ctr.peer_resets++;
	peer->prev_epoch = peer->remote_epoch;
	peer->prev_epoch_known = peer->epoch_known;
	peer->remote_epoch = epoch;
	peer->epoch_known = true;
	peer_reset_rx(peer);
	/*
	 * What was in flight fails, but only once the user has heard of the
	 * restart: a pager first marks what that server held as lost, so
	 * that a write which fails with it is known for what it is (its
	 * server lost it), not taken for data and parity that disagree.
	 * With authentication a restart is found only by a handshake, a
	 * second or more after the server went silent, so many writes can
	 * be in flight by then.
	 */
	list = peer_detach_calls(peer);
	if (ep->h.peer_state)
		ep->h.peer_state(ep, peer, -ECONNRESET, ep->h.arg);
	calls_fail(ep, list, -ECONNRESET);
}

void peer_heard_from(struct rmap_peer *peer)
{
	struct rmap_ep *ep = peer->ep;

	if (!peer->unreachable)
		return;
	peer->unreachable = false;
	if (ep->h.peer_state)
		ep->h.peer_state(ep, peer, 0, ep->h.arg);
}
