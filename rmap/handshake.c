// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * handshake.c - who a peer is, and the keys to talk to it.
 *
 * Noise_IKpsk2_25519_ChaChaPoly_SHA256, WireGuard's handshake: the
 * initiator (a pager, memxctl) knows the responder's static key; one
 * message each way authenticates both static keys, agrees on fresh
 * ephemeral keys (forward secrecy) and carries each side's epoch.  Every
 * primitive is libsodium's.  The three messages (INIT, RESP, COOKIE)
 * and the Noise state they are built with are in noise.h.
 *
 * Nothing is kept for a stranger: an INIT whose mac1 (a MAC keyed by the
 * responder's public key) is wrong costs a hash; one that fails to
 * authenticate, or whose static key is not an allowed peer's, or whose
 * timestamp is not newer than the last from that key (a replay) is
 * dropped in silence.  Under load (more than hs_per_s initiations a
 * second) the responder first wants mac2, a MAC keyed by a cookie bound to
 * the source address: it answers with a COOKIE (smaller than the INIT, so
 * no amplification) and keeps nothing.
 *
 * Epochs travel only inside handshakes: a peer restarted if, and only if,
 * an authenticated handshake says so.  The responder may send on the new
 * keys only once the initiator used them (key confirmation), so nothing
 * larger than its request ever goes to an address that has not completed
 * a handshake.  The initiator starts a handshake when it has something to
 * send and no keys, every REKEY_S seconds, and when the peer has been
 * silent for SILENCE_NS with packets outstanding (how a restarted server,
 * which lost our keys and answers nothing, is found out).
 */
#include "rmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "noise.h"
#include "rmap_int.h"

#define REKEY_NS	(120ull * 1000000000ull)
#define COOKIE_LIFE_NS	(120ull * 1000000000ull)
#define SILENCE_NS	(1000ull * 1000000ull)

/* ---- local indexes: what a peer names to reach one of our states ---- */

static unsigned idx_bucket(uint32_t idx)
{
	return (idx * 2654435761u) % IDX_BUCKETS;
}

static struct rmap_peer *idx_peer(struct rmap_ep *ep, uint32_t idx)
{
	for (struct idx_node *n = ep->idx[idx_bucket(idx)]; n; n = n->next)
		if (n->idx == idx)
			return n->peer;
	return NULL;
}

static uint32_t idx_new(struct rmap_ep *ep, struct rmap_peer *peer)
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

static void idx_remove(struct rmap_ep *ep, uint32_t idx)
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

static void kp_drop(struct rmap_ep *ep, struct keypair **kpp)
{
	if (!*kpp)
		return;
	idx_remove(ep, (*kpp)->local_idx);
	kp_free(*kpp);
	*kpp = NULL;
}

static void hs_cancel(struct rmap_peer *peer)
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

static struct ident *ident_by_key(struct rmap_ep *ep, const uint8_t pub[32])
{
	for (unsigned i = 0; i < ep->nidents; i++)
		if (!sodium_memcmp(ep->idents[i].pub, pub, 32))
			return &ep->idents[i];
	return NULL;
}

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
		hs_cancel(peer);
		return;
	}
	encrypt_and_hash(&n, ep->pub, 32, msg + 40);
	mix_key(&n, id->ss, 32);
	wire_put32(payload, ep->epoch);
	tai64n(payload + 4);
	payload[16] = ep->suites;
	encrypt_and_hash(&n, payload, sizeof(payload), msg + 88);
	mac16(msg + INIT_MAC1, id->mac1_key, 32, msg, INIT_MAC1);
	if (peer->cookie_ns && now - peer->cookie_ns < COOKIE_LIFE_NS)
		mac16(msg + INIT_MAC2, peer->cookie, 16, msg, INIT_MAC2);
	else
		memset(msg + INIT_MAC2, 0, 16);
	memcpy(hs->last_mac1, msg + INIT_MAC1, 16);
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

/* @kp is @peer's key pair to send on now; the one before is kept. */
static void kp_install(struct rmap_peer *peer, struct keypair *kp)
{
	kp_drop(peer->ep, &peer->kp_prev);
	peer->kp_prev = peer->kp_cur;
	peer->kp_cur = kp;
	kp->confirmed = true;
	peer->ep->ctr.handshakes++;
}

static struct keypair *kp_make(uint32_t local_idx, uint32_t remote_idx,
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
static void peer_epoch(struct rmap_peer *peer, uint32_t epoch)
{
	if (!peer->epoch_known) {
		peer->remote_epoch = epoch;
		peer->epoch_known = true;
	} else if (epoch != peer->remote_epoch) {
		peer_restarted(peer, epoch);
	}
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
	uint8_t cookie[16];

	if (!ep->secure || len != COOKIE_LEN)
		goto bad;
	peer = idx_peer(ep, wire_get32(buf + 4));
	if (!peer || !peer->hs.active || peer->hs.local_idx != wire_get32(buf + 4) ||
	    !addr_equal(&peer->addr, from) || !peer->ident)
		goto bad;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(cookie, NULL, NULL,
			buf + 32, 32, peer->hs.last_mac1, 16, buf + 8,
			peer->ident->cookie_key))
		goto bad;
	memcpy(peer->cookie, cookie, 16);
	peer->cookie_ns = evl_now_ns();
	/* Again, now with the cookie: the responder is under load. */
	hs_send_init(peer, peer->cookie_ns);
	return;
bad:
	ep->ctr.auth_failures++;
}

/* ---- the responder ---- */

static void cookie_of(struct rmap_ep *ep, const struct sockaddr_storage *a,
		      uint8_t out[16])
{
	uint64_t now = evl_now_ns();

	if (!ep->cookie_secret_ns || now - ep->cookie_secret_ns >= COOKIE_LIFE_NS) {
		randombytes_buf(ep->cookie_secret, sizeof(ep->cookie_secret));
		ep->cookie_secret_ns = now;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)a;
		uint8_t b[18];

		memcpy(b, &s->sin6_addr, 16);
		memcpy(b + 16, &s->sin6_port, 2);
		mac16(out, ep->cookie_secret, 32, b, sizeof(b));
	} else {
		const struct sockaddr_in *s = (const void *)a;
		uint8_t b[6];

		memcpy(b, &s->sin_addr, 4);
		memcpy(b + 4, &s->sin_port, 2);
		mac16(out, ep->cookie_secret, 32, b, sizeof(b));
	}
}

/* Is the responder under load?  Counts this initiation. */
static bool under_load(struct rmap_ep *ep)
{
	uint64_t now = evl_now_ns();

	if (now - ep->hs_window_ns >= 1000000000ull) {
		ep->hs_window_ns = now;
		ep->hs_count = 0;
	}
	ep->hs_count++;
	return !ep->cfg.auth.hs_per_s || ep->hs_count > ep->cfg.auth.hs_per_s;
}

static void send_cookie(struct rmap_ep *ep, const uint8_t *init,
			const struct sockaddr_storage *to)
{
	uint8_t msg[COOKIE_LEN], cookie[16];

	msg_head(msg, RMAP_K_COOKIE);
	memcpy(msg + 4, init + 4, 4);
	randombytes_buf(msg + 8, 24);
	cookie_of(ep, to, cookie);
	crypto_aead_xchacha20poly1305_ietf_encrypt(msg + 32, NULL, cookie, 16,
						   init + INIT_MAC1, 16, NULL,
						   msg + 8, ep->cookie_key);
	ep->ctr.cookie_challenges++;
	ep_send_raw(ep, to, msg, sizeof(msg));
}

void hs_on_init(struct rmap_ep *ep, const uint8_t *buf, size_t len,
		const struct sockaddr_storage *from)
{
	uint8_t mac[16], s_i[32], payload[20], reply[RESP_LEN];
	uint8_t e_priv[32], e_pub[32], t1[32], t2[32], cookie[16];
	uint8_t payload2[8] = { 0 };
	struct rmap_peer *peer;
	struct keypair *kp;
	struct ident *id;
	struct noise n;
	uint32_t epoch, idx;
	uint8_t suite;

	if (!ep->secure || len != INIT_LEN)
		goto bad;
	/* mac1: does the sender even know who we are?  A hash, no state. */
	mac16(mac, ep->mac1_key, 32, buf, INIT_MAC1);
	if (crypto_verify_16(mac, buf + INIT_MAC1))
		goto bad;
	if (under_load(ep)) {
		cookie_of(ep, from, cookie);
		mac16(mac, cookie, 16, buf, INIT_MAC2);
		if (crypto_verify_16(mac, buf + INIT_MAC2)) {
			send_cookie(ep, buf, from);
			return;
		}
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
	peer->last_rx_ns = evl_now_ns();
	if (kp == peer->kp_next) {
		/* The initiator used the keys: confirmed, ours to send on. */
		peer->kp_next = NULL;
		kp_install(peer, kp);
		peer_keys_ready(peer);
	}
	return peer;
}

int pkt_seal(struct rmap_ep *ep, struct pkt *p, struct rmap_peer *peer)
{
	size_t n;
	int ret;

	if (!ep->secure || !peer) {
		outer_put(p->wire, RMAP_K_PLAIN, 0, 0);
		memcpy(p->wire + RMAP_OUTER_LEN, p->buf, p->len);
		p->wire_len = (uint16_t)(RMAP_OUTER_LEN + p->len);
		return 0;
	}
	if (!peer->kp_cur) {
		hs_maybe_start(peer, evl_now_ns());
		return -ENOKEY;
	}
	ret = kp_seal(peer->kp_cur, p->buf, p->len, p->wire, &n);
	if (ret) {
		/* Worn out: never reuse a nonce, get new keys. */
		kp_drop(ep, &peer->kp_cur);
		hs_maybe_start(peer, evl_now_ns());
		return ret;
	}
	p->wire_len = (uint16_t)n;
	return 0;
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
