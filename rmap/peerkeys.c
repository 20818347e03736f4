// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * peerkeys.c - who a peer is, and the keys we hold for it.
 *
 * The allowed peers' static keys (idents), the local indexes a peer
 * names to reach one of our states, each peer's key pairs (the one we
 * send on, the one before, the responder's next until the initiator
 * uses it) and its pending handshake; opening DATA with them.  A
 * handshake (handshake.c) is what fills them in (peerkeys.h).
 */
#include "rmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "noise.h"
#include "peerkeys.h"
#include "rmap_int.h"

/* ---- local indexes: what a peer names to reach one of our states ---- */

static unsigned idx_bucket(uint32_t idx)
{
	return (idx * 2654435761u) % IDX_BUCKETS;
}

struct rmap_peer *idx_peer(struct rmap_ep *ep, uint32_t idx)
{
	for (struct idx_node *n = ep->idx[idx_bucket(idx)]; n; n = n->next)
		if (n->idx == idx)
			return n->peer;
	return NULL;
}

uint32_t idx_new(struct rmap_ep *ep, struct rmap_peer *peer)
{
	struct idx_node *n = malloc(sizeof(*n));
	uint32_t idx;

	if (!n)
		return 0;
	do {
		idx = randombytes_random();
	} while (!idx || idx_peer(ep, idx));
	n->idx = idx;
	n->peer = peer;
	n->next = ep->idx[idx_bucket(idx)];
	ep->idx[idx_bucket(idx)] = n;
	return idx;
}

void idx_remove(struct rmap_ep *ep, uint32_t idx)
{
	struct idx_node **pp = &ep->idx[idx_bucket(idx)], *n;

	if (!idx)
		return;
	while ((n = *pp)) {
		if (n->idx == idx) {
			*pp = n->next;
			free(n);
			return;
		}
		pp = &n->next;
	}
}

void kp_drop(struct rmap_ep *ep, struct keypair **kpp)
{
	if (!*kpp)
		return;
	idx_remove(ep, (*kpp)->local_idx);
	kp_free(*kpp);
	*kpp = NULL;
}

void hs_cancel(struct rmap_peer *peer)
{
	if (peer->hs.active)
		idx_remove(peer->ep, peer->hs.local_idx);
	sodium_memzero(&peer->hs, sizeof(peer->hs));
}

void peer_auth_reset(struct rmap_peer *peer)
{
	kp_drop(peer->ep, &peer->kp_cur);
	kp_drop(peer->ep, &peer->kp_prev);
	kp_drop(peer->ep, &peer->kp_next);
	hs_cancel(peer);
}

/* ---- set up and tear down ---- */

int auth_init(struct rmap_ep *ep, const struct rmap_auth *a)
{
	if (a->insecure)
		return 0;
	if (sodium_init() < 0)
		return -ENOSYS;
	if (!a->have_key)
		return -ENOKEY;
	ep->secure = true;
	ep->suites = crypt_suites(a->no_aes);
	memcpy(ep->priv, a->private_key, 32);
	if (crypto_scalarmult_base(ep->pub, ep->priv))
		return -EINVAL;
	if (a->have_psk)
		memcpy(ep->psk, a->psk, 32);
	hash2(ep->mac1_key, (const uint8_t *)"mac1----", 8, ep->pub, 32);
	hash2(ep->cookie_key, (const uint8_t *)"cookie--", 8, ep->pub, 32);
	ep->idx = calloc(IDX_BUCKETS, sizeof(*ep->idx));
	/* Room for some more (rmap_ep_add_peer): peers point at these. */
	ep->idents_cap = a->npeers + IDENTS_SPARE;
	ep->idents = calloc(ep->idents_cap, sizeof(*ep->idents));
	if (!ep->idx || !ep->idents)
		return -ENOMEM;
	for (unsigned i = 0; i < a->npeers; i++)
		rmap_ep_add_peer(ep, &a->peers[i]);
	return 0;
}

int rmap_ep_add_peer(struct rmap_ep *ep, const struct rmap_peer_key *pk)
{
	struct ident *id;

	if (!ep->secure)
		return -EINVAL;
	if (ep->nidents >= ep->idents_cap)
		return -ENOSPC;
	id = &ep->idents[ep->nidents];
	memset(id, 0, sizeof(*id));
	memcpy(id->pub, pk->pub, 32);
	id->has_addr = pk->has_addr;
	id->addr = pk->addr;
	/* A key that gives no shared secret is nobody's. */
	if (crypto_scalarmult(id->ss, ep->priv, id->pub))
		return -EINVAL;
	hash2(id->mac1_key, (const uint8_t *)"mac1----", 8, id->pub, 32);
	hash2(id->cookie_key, (const uint8_t *)"cookie--", 8, id->pub, 32);
	ep->nidents++;
	return 0;
}

void auth_fini(struct rmap_ep *ep)
{
	if (ep->idx) {
		for (unsigned b = 0; b < IDX_BUCKETS; b++)
			while (ep->idx[b])
				idx_remove(ep, ep->idx[b]->idx);
		free(ep->idx);
	}
	if (ep->idents)
		sodium_memzero(ep->idents, ep->idents_cap * sizeof(*ep->idents));
	free(ep->idents);
	sodium_memzero(ep->priv, sizeof(ep->priv));
	sodium_memzero(ep->psk, sizeof(ep->psk));
}

struct ident *ident_by_addr(struct rmap_ep *ep,
			    const struct sockaddr_storage *a)
{
	for (unsigned i = 0; i < ep->nidents; i++)
		if (ep->idents[i].has_addr && addr_equal(&ep->idents[i].addr, a))
			return &ep->idents[i];
	return NULL;
}

struct ident *ident_by_key(struct rmap_ep *ep, const uint8_t pub[32])
{
	for (unsigned i = 0; i < ep->nidents; i++)
		if (!sodium_memcmp(ep->idents[i].pub, pub, 32))
			return &ep->idents[i];
	return NULL;
}

/* ---- key pairs, as handshakes make them ---- */

/* @kp is @peer's key pair to send on now; the one before is kept. */
void kp_install(struct rmap_peer *peer, struct keypair *kp)
{
	kp_drop(peer->ep, &peer->kp_prev);
	peer->kp_prev = peer->kp_cur;
	peer->kp_cur = kp;
	kp->confirmed = true;
	peer->ep->ctr.handshakes++;
}

struct keypair *kp_make(uint32_t local_idx, uint32_t remote_idx,
			const uint8_t send[32], const uint8_t recv[32],
			uint8_t suite, bool initiator)
{
	struct keypair *kp = calloc(1, sizeof(*kp));

	if (!kp)
		return NULL;
	kp->local_idx = local_idx;
	kp->remote_idx = remote_idx;
	kp->initiator = initiator;
	kp->born_ns = evl_now_ns();
	if (kp_set_keys(kp, send, recv, suite)) {
		kp_free(kp);
		return NULL;
	}
	return kp;
}

/* A handshake said @peer's epoch is @epoch: a restart, if it changed. */
void peer_epoch(struct rmap_peer *peer, uint32_t epoch)
{
	if (!peer->epoch_known) {
		peer->remote_epoch = epoch;
		peer->epoch_known = true;
	} else if (epoch != peer->remote_epoch) {
		peer_restarted(peer, epoch);
	}
}

/* ---- data ---- */

struct rmap_peer *data_open(struct rmap_ep *ep, const uint8_t *buf,
			    size_t len, const struct sockaddr_storage *from,
			    size_t *plain_len)
{
	uint32_t idx = wire_get32(buf + 4);
	struct rmap_peer *peer = idx_peer(ep, idx);
	struct keypair *kp = NULL;
	uint64_t ctr;

	if (peer) {
		if (peer->kp_cur && peer->kp_cur->local_idx == idx)
			kp = peer->kp_cur;
		else if (peer->kp_next && peer->kp_next->local_idx == idx)
			kp = peer->kp_next;
		else if (peer->kp_prev && peer->kp_prev->local_idx == idx)
			kp = peer->kp_prev;
	}
	/* Keys are bound to the address that made them: no roaming. */
	if (!kp || !addr_equal(&peer->addr, from) ||
	    len < RMAP_OUTER_LEN + RMAP_AEAD_TAG_LEN ||
	    len > RMAP_MAX_DATAGRAM) {
		ep->ctr.auth_failures++;
		return NULL;
	}
	if (!replay_fresh(&kp->rp, wire_get32(buf + 8) * (1ull << 32) +
			  wire_get32(buf + 12))) {
		ep->ctr.replays++;
		return NULL;
	}
	if (kp_open(kp, buf, len, ep->rx_plain, plain_len, &ctr)) {
		ep->ctr.auth_failures++;
		return NULL;
	}
	replay_mark(&kp->rp, ctr);
	peer->last_rx_ns = ep->rx_ns;
	if (kp == peer->kp_next) {
		/* The initiator used the keys: confirmed, ours to send on. */
		peer->kp_next = NULL;
		kp_install(peer, kp);
		peer_keys_ready(peer);
	}
	return peer;
}

const uint8_t *rmap_peer_key(const struct rmap_peer *peer)
{
	return peer->authed && peer->ident ? peer->ident->pub : NULL;
}

bool rmap_peer_can_initiate(const struct rmap_peer *peer)
{
	return !peer->ep->secure || (peer->initiator && peer->ident);
}

bool rmap_ep_secure(const struct rmap_ep *ep)
{
	return ep->secure;
}

const char *rmap_ep_cipher(const struct rmap_ep *ep)
{
	if (!ep->secure)
		return "none";
	return ep->suites & SUITE_AESGCM ? "AES-256-GCM" : "ChaCha20-Poly1305";
}

const char *rmap_ep_cipher_library(const struct rmap_ep *ep)
{
	if (!ep->secure)
		return "none";
	return ep->suites & SUITE_AESGCM ? crypt_aesgcm_impl() : "openssl";
}

int rmap_ep_inject_plain(struct rmap_ep *ep, const uint8_t *buf, size_t len,
			 const struct sockaddr_storage *from,
			 const uint8_t pub[RMAP_KEY_LEN])
{
	struct ident *id;
	struct rmap_peer *peer;

	if (!ep->secure || ep->closing)
		return -EINVAL;
	id = ident_by_key(ep, pub);
	if (!id)
		return -ENOKEY;
	peer = rmap_peer_find(ep, from);
	if (!peer)
		peer = peer_new(ep, from);
	if (!peer)
		return -ENOMEM;
	if (peer->authed && peer->ident != id) {
		peer_auth_reset(peer);
		peer->ident = id;
		peer_restarted(peer, len >= 12 ? wire_get32(buf + 8) : 0);
	}
	peer->ident = id;
	peer->authed = true;
	if (!peer->epoch_known && len >= 12)
		peer_epoch(peer, wire_get32(buf + 8));
	if (!peer->kp_cur) {
		/*
		 * Keys nobody holds, so that what the peer is answered is
		 * sealed and reaches the filters as a real answer would.
		 */
		uint8_t k1[32], k2[32];
		uint32_t idx = idx_new(ep, peer);
		struct keypair *kp;

		randombytes_buf(k1, sizeof(k1));
		randombytes_buf(k2, sizeof(k2));
		kp = idx ? kp_make(idx, idx, k1, k2, SUITE_CHACHA, true) : NULL;
		if (kp)
			kp_install(peer, kp);
		else
			idx_remove(ep, idx);
	}
	rx_inner(ep, peer, buf, len, from);
	return 0;
}
