/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * peerkeys.h - who a peer is, and the keys we hold for it: the local
 * indexes, key pairs, allowed peers' static keys (peerkeys.c).
 *
 * The handshake (handshake.c) calls down into these to file what it
 * agreed on; peerkeys.c calls down into crypt.c (the AEAD) and noise.h,
 * and out only to what rmap_int.h says the rest of rmap does when keys
 * come or a peer restarts (peer_keys_ready, peer_restarted).  What the
 * rest of rmap calls here (auth_init, data_open, ...) is in rmap_int.h.
 */
#ifndef MEMX_RMAP_PEERKEYS_H
#define MEMX_RMAP_PEERKEYS_H

#include "rmap_int.h"

/* Local indexes: what a peer names to reach one of our states. */
struct rmap_peer *idx_peer(struct rmap_ep *ep, uint32_t idx);
/* A new index for @peer; 0: out of memory. */
uint32_t idx_new(struct rmap_ep *ep, struct rmap_peer *peer);
void idx_remove(struct rmap_ep *ep, uint32_t idx);

/* Free *@kpp and its index; *@kpp becomes NULL. */
void kp_drop(struct rmap_ep *ep, struct keypair **kpp);
/* Forget @peer's pending handshake, and its index. */
void hs_cancel(struct rmap_peer *peer);
/* The allowed peer whose static key is @pub, or NULL. */
struct ident *ident_by_key(struct rmap_ep *ep, const uint8_t pub[32]);

/* @kp is @peer's key pair to send on now; the one before is kept. */
void kp_install(struct rmap_peer *peer, struct keypair *kp);
/* A key pair born now; NULL: out of memory, or keys refused. */
struct keypair *kp_make(uint32_t local_idx, uint32_t remote_idx,
			const uint8_t send[32], const uint8_t recv[32],
			uint8_t suite, bool initiator);
/* A handshake said @peer's epoch is @epoch: a restart, if it changed. */
void peer_epoch(struct rmap_peer *peer, uint32_t epoch);

#endif
