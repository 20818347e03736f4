// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * handshake.c - the handshake that gives a peer its keys.
 *
 * Noise_IKpsk2_25519_ChaChaPoly_SHA256, WireGuard's handshake: the
 * initiator (a pager, memxctl) knows the responder's static key; one
 * message each way authenticates both static keys, agrees on fresh
 * ephemeral keys (forward secrecy) and carries each side's epoch.  Every
 * primitive is libsodium's.
 *
 * Calls go down: rx.c and tx.c call in here (rmap_int.h); this file calls
 * down into cookie.h (mac1, mac2, cookies), peerkeys.h (who a peer is,
 * the indexes and key pairs a handshake leaves it) and noise.h (the
 * messages' layout and Noise's symmetric state), which never call back.
 *
 * Nothing is kept for a stranger: an INIT whose mac1 (a MAC keyed by the
 * responder's public key) is wrong costs a hash; one that fails to
 * authenticate, or whose static key is not an allowed peer's, or whose
 * timestamp is not newer than the last from that key (a replay) is
 * dropped in silence.  Under load (more than hs_per_s initiations a
 * second) the responder first wants mac2, a MAC keyed by a cookie bound to
 * the source address: it answers with a COOKIE (smaller than the INIT, so
 * no amplification) and keeps nothing (cookie.c).
 *
 * Epochs travel only inside handshakes: a peer restarted if, and only if,
 * an authenticated handshake says so.  The responder may send on the new
 * keys only once the initiator used them (key confirmation), so nothing
 * larger than its request ever goes to an address that has not completed
 * a handshake.  The initiator starts a handshake when it has something to
 * send and no keys, every REKEY_NS, and when the peer has been silent
 * for SILENCE_NS with packets outstanding (how a restarted server, which
 * lost our keys and answers nothing, is found out).
 */
#include "rmap.h"

#include <errno.h>
#include <string.h>

#include "cookie.h"
#include "noise.h"
#include "peerkeys.h"
#include "rmap_int.h"

#define REKEY_NS	(120ull * 1000000000ull)
#define SILENCE_NS	(1000ull * 1000000ull)

/* ---- the initiator ---- */

static uint64_t hs_retry_ns(const struct rmap_peer *peer)
{
	const struct rmap_ep *ep = peer->ep;
	uint64_t iv = (uint64_t)ep->cfg.retry_us << (peer->hs.tries < 16 ?
						     peer->hs.tries : 16);

	if (iv > ep->cfg.retry_max_us)
		iv = ep->cfg.retry_max_us;
	return iv * 1000;
}

static void hs_send_init(struct rmap_peer *peer, uint64_t now)
{
	struct rmap_ep *ep = peer->ep;
	struct ident *id = peer->ident;
	struct hs_pending *hs = &peer->hs;
	uint8_t msg[INIT_LEN], payload[20] = { 0 };
	struct noise n;
	unsigned tries = hs->tries;

	hs_cancel(peer);
	hs->tries = tries + 1;
	hs->sent_ns = now;
	hs->local_idx = idx_new(ep, peer);
	if (!hs->local_idx)
		return;
	hs->active = true;
	crypto_box_keypair(hs->e_pub, hs->e_priv);
	noise_start(&n, id->pub);
	msg_head(msg, RMAP_K_INIT);
	wire_put32(msg + 4, hs->local_idx);
	memcpy(msg + 8, hs->e_pub, 32);
	mix_hash(&n, hs->e_pub, 32);
	mix_key(&n, hs->e_pub, 32);
	if (!mix_dh(&n, hs->e_priv, id->pub)) {
		/* A low-order key: nothing is sent; no key material stays. */
		sodium_memzero(&n, sizeof(n));
		hs_cancel(peer);
		return;
	}
	encrypt_and_hash(&n, ep->pub, 32, msg + 40);
	mix_key(&n, id->ss, 32);
	wire_put32(payload, ep->epoch);
	tai64n(payload + 4);
	payload[16] = ep->suites;
	encrypt_and_hash(&n, payload, sizeof(payload), msg + 88);
	cookie_stamp_init(peer, msg, now);
	memcpy(hs->h, n.h, 32);
	memcpy(hs->ck, n.ck, 32);
	sodium_memzero(&n, sizeof(n));
	ep->ctr.handshake_inits++;
	ep_send_raw(ep, &peer->addr, msg, sizeof(msg));
}

void hs_maybe_start(struct rmap_peer *peer, uint64_t now)
{
	struct rmap_ep *ep = peer->ep;

	if (!ep->secure || !peer->initiator || !peer->ident || ep->closing)
		return;
	if (peer->hs.active && now - peer->hs.sent_ns < hs_retry_ns(peer))
		return;
	if (peer->hs.active && ep->cfg.max_retries &&
	    peer->hs.tries > ep->cfg.max_retries) {
		/* Nobody answers: as if our packets had gone unanswered. */
		hs_cancel(peer);
		peer_set_unreachable(peer);
		return;
	}
	hs_send_init(peer, now);
}

/* Keep the keys we send on fresh, and find a silent (restarted) peer. */
void hs_tick(struct rmap_peer *peer, uint64_t now)
{
	struct keypair *kp = peer->kp_cur;

	if (!peer->ep->secure || !peer->initiator)
		return;
	if (peer->hs.active) {
		hs_maybe_start(peer, now);	/* a retry, when due */
		return;
	}
	if (!kp)
		return;
	if (now - kp->born_ns >= REKEY_NS ||
	    (peer->in_window && now - peer->last_rx_ns >= SILENCE_NS &&
	     now - kp->born_ns >= SILENCE_NS))
		hs_send_init(peer, now);
}

void hs_on_resp(struct rmap_ep *ep, const uint8_t *buf, size_t len,
		const struct sockaddr_storage *from)
{
	uint8_t mac[16], payload[8], t1[32], t2[32];
	struct rmap_peer *peer;
	struct hs_pending *hs;
	struct keypair *kp;
	struct noise n;
	uint32_t epoch;

	if (!ep->secure || len != RESP_LEN)
		goto bad;
	peer = idx_peer(ep, wire_get32(buf + 8));
	if (!peer || !peer->hs.active || peer->hs.local_idx != wire_get32(buf + 8) ||
	    !addr_equal(&peer->addr, from))
		goto bad;
	mac16(mac, ep->mac1_key, 32, buf, RESP_MAC1);
	if (crypto_verify_16(mac, buf + RESP_MAC1))
		goto bad;
	hs = &peer->hs;
	memcpy(n.h, hs->h, 32);
	memcpy(n.ck, hs->ck, 32);
	mix_hash(&n, buf + 12, 32);
	mix_key(&n, buf + 12, 32);
	if (!mix_dh(&n, hs->e_priv, buf + 12) || !mix_dh(&n, ep->priv, buf + 12))
		goto bad_n;
	{
		uint8_t tau[32];

		hkdf(n.ck, ep->psk, 32, n.ck, tau, n.k);
		mix_hash(&n, tau, 32);
	}
	if (!decrypt_and_hash(&n, buf + 44, sizeof(payload) + 16, payload))
		goto bad_n;
	if (!(payload[4] & ep->suites) || (payload[4] & (payload[4] - 1)))
		goto bad_n;
	hkdf(n.ck, NULL, 0, t1, t2, NULL);
	kp = kp_make(hs->local_idx, wire_get32(buf + 4), t1, t2, payload[4], true);
	sodium_memzero(&n, sizeof(n));
	sodium_memzero(t1, sizeof(t1));
	sodium_memzero(t2, sizeof(t2));
	if (!kp)
		return;
	/* The index moves from the handshake to its keys. */
	sodium_memzero(hs, sizeof(*hs));
	epoch = wire_get32(payload);
	peer->authed = true;
	peer->last_rx_ns = evl_now_ns();
	kp_install(peer, kp);
	if (peer->epoch_known && epoch != peer->remote_epoch) {
		/* Keys of the peer's past life are useless now. */
		kp_drop(ep, &peer->kp_prev);
		kp_drop(ep, &peer->kp_next);
	}
	peer_epoch(peer, epoch);
	if (!ep->closing)
		peer_keys_ready(peer);
	return;
bad_n:
	sodium_memzero(&n, sizeof(n));
bad:
	ep->ctr.auth_failures++;
}

void hs_on_cookie(struct rmap_ep *ep, const uint8_t *buf, size_t len,
		  const struct sockaddr_storage *from)
{
	struct rmap_peer *peer;

	if (!ep->secure || len != COOKIE_LEN)
		goto bad;
	peer = idx_peer(ep, wire_get32(buf + 4));
	if (!peer || !peer->hs.active || peer->hs.local_idx != wire_get32(buf + 4) ||
	    !addr_equal(&peer->addr, from) || !peer->ident)
		goto bad;
	if (!cookie_take(peer, buf))
		goto bad;
	/* Again, now with the cookie: the responder is under load. */
	hs_send_init(peer, peer->cookie_ns);
	return;
bad:
	ep->ctr.auth_failures++;
}

/* ---- the responder ---- */

void hs_on_init(struct rmap_ep *ep, const uint8_t *buf, size_t len,
		const struct sockaddr_storage *from)
{
	uint8_t s_i[32], payload[20], reply[RESP_LEN];
	uint8_t e_priv[32], e_pub[32], t1[32], t2[32];
	uint8_t payload2[8] = { 0 };
	struct rmap_peer *peer;
	struct keypair *kp;
	struct ident *id;
	struct noise n;
	uint32_t epoch, idx;
	uint8_t suite;

	if (!ep->secure || len != INIT_LEN)
		goto bad;
	switch (cookie_check_init(ep, buf, from)) {
	case COOKIE_PASS:
		break;
	case COOKIE_BAD:
		goto bad;
	case COOKIE_SENT:
		return;
	}
	noise_start(&n, ep->pub);
	mix_hash(&n, buf + 8, 32);
	mix_key(&n, buf + 8, 32);
	if (!mix_dh(&n, ep->priv, buf + 8) ||
	    !decrypt_and_hash(&n, buf + 40, 48, s_i))
		goto bad_n;
	id = ident_by_key(ep, s_i);
	if (!id)
		goto bad_n;	/* not a peer we allow */
	mix_key(&n, id->ss, 32);
	if (!decrypt_and_hash(&n, buf + 88, sizeof(payload) + 16, payload))
		goto bad_n;
	if (memcmp(payload + 4, id->last_ts, 12) <= 0) {
		sodium_memzero(&n, sizeof(n));
		ep->ctr.replays++;	/* an old initiation, again */
		return;
	}
	epoch = wire_get32(payload);
	peer = rmap_peer_find(ep, from);
	if (!peer) {
		/* A client talks only to those it asked for. */
		if (!ep->h.accept_new_peers) {
			sodium_memzero(&n, sizeof(n));
			ep->ctr.unknown_peer++;
			return;
		}
		peer = peer_new(ep, from);
		if (!peer) {
			sodium_memzero(&n, sizeof(n));
			ep->ctr.unknown_peer++;
			return;
		}
	}
	memcpy(id->last_ts, payload + 4, 12);

	/* The response. */
	idx = idx_new(ep, peer);
	if (!idx) {
		sodium_memzero(&n, sizeof(n));
		return;
	}
	crypto_box_keypair(e_pub, e_priv);
	msg_head(reply, RMAP_K_RESP);
	wire_put32(reply + 4, idx);
	memcpy(reply + 8, buf + 4, 4);
	memcpy(reply + 12, e_pub, 32);
	mix_hash(&n, e_pub, 32);
	mix_key(&n, e_pub, 32);
	if (!mix_dh(&n, e_priv, buf + 8) || !mix_dh(&n, e_priv, s_i)) {
		idx_remove(ep, idx);
		sodium_memzero(e_priv, sizeof(e_priv));
		goto bad_n;
	}
	sodium_memzero(e_priv, sizeof(e_priv));
	{
		uint8_t tau[32];

		hkdf(n.ck, ep->psk, 32, n.ck, tau, n.k);
		mix_hash(&n, tau, 32);
	}
	suite = (payload[16] & ep->suites & SUITE_AESGCM) ? SUITE_AESGCM
							  : SUITE_CHACHA;
	wire_put32(payload2, ep->epoch);
	payload2[4] = suite;
	encrypt_and_hash(&n, payload2, sizeof(payload2), reply + 44);
	mac16(reply + RESP_MAC1, id->mac1_key, 32, reply, RESP_MAC1);
	memset(reply + RESP_MAC2, 0, 16);
	hkdf(n.ck, NULL, 0, t1, t2, NULL);
	sodium_memzero(&n, sizeof(n));
	kp = kp_make(idx, wire_get32(buf + 4), t2, t1, suite, false);
	sodium_memzero(t1, sizeof(t1));
	sodium_memzero(t2, sizeof(t2));
	if (!kp) {
		idx_remove(ep, idx);
		return;
	}
	/*
	 * Who is at this address now.  Another key than before, or another
	 * epoch: the peer restarted, and its old keys and streams go.
	 */
	if (peer->initiator && peer->ident != id) {
		/* We know whom we expect there: not this key. */
		kp_free(kp);
		idx_remove(ep, idx);
		ep->ctr.auth_failures++;
		return;
	}
	if (peer->authed && peer->ident != id) {
		peer_auth_reset(peer);
		peer->ident = id;
		peer_restarted(peer, epoch);
	} else {
		peer->ident = id;
		if (peer->epoch_known && epoch != peer->remote_epoch) {
			kp_drop(ep, &peer->kp_cur);
			kp_drop(ep, &peer->kp_prev);
		}
		peer_epoch(peer, epoch);
	}
	peer->authed = true;
	kp_drop(ep, &peer->kp_next);
	peer->kp_next = kp;
	ep_send_raw(ep, from, reply, sizeof(reply));
	return;
bad_n:
	sodium_memzero(&n, sizeof(n));
bad:
	ep->ctr.auth_failures++;
}

/* ---- data ---- */

int pkt_seal(struct rmap_ep *ep, struct pkt *p, struct rmap_peer *peer)
{
	size_t n;
	int ret;

	/* Padding, if any, is zeros after the packet, sealed with it. */
	if (!ep->secure || !peer) {
		outer_put(p->wire, RMAP_K_PLAIN, 0, 0);
		memcpy(p->wire + RMAP_OUTER_LEN, p->buf, p->len + p->pad);
		p->wire_len = (uint16_t)(RMAP_OUTER_LEN + p->len + p->pad);
		return 0;
	}
	if (!peer->kp_cur) {
		hs_maybe_start(peer, evl_now_ns());
		return -ENOKEY;
	}
	ret = kp_seal(peer->kp_cur, p->buf, p->len + p->pad, p->wire, &n);
	if (ret) {
		/* Worn out: never reuse a nonce, get new keys. */
		kp_drop(ep, &peer->kp_cur);
		hs_maybe_start(peer, evl_now_ns());
		return ret;
	}
	p->wire_len = (uint16_t)n;
	return 0;
}
