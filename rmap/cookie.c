// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cookie.c - the handshake under load, WireGuard's way (cookie.h).
 *
 * Every INIT ends with mac1, keyed by the responder's public key: one
 * from a sender who does not know that key costs a hash and is dropped.
 * When the responder has seen more than hs_per_s initiations in the
 * current second (counted per endpoint, whatever their source) it also
 * wants mac2, keyed by a cookie: a MAC of the INIT's source address and
 * port under a secret that changes every COOKIE_LIFE_NS.  An INIT
 * without a valid mac2 is answered with a COOKIE (64 bytes, smaller
 * than the INIT: no amplification) that carries the cookie sealed under
 * a key derived from the responder's public key and bound to the INIT's
 * mac1, and nothing is kept.  The initiator takes the cookie and sends
 * its INIT again, now with mac2, for as long as the cookie lives.
 */
#include "rmap.h"

#include <string.h>

#include "cookie.h"
#include "noise.h"
#include "rmap_int.h"

#define COOKIE_LIFE_NS	(120ull * 1000000000ull)

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

enum cookie_verdict cookie_check_init(struct rmap_ep *ep, const uint8_t *buf,
				      const struct sockaddr_storage *from)
{
	uint8_t mac[16], cookie[16];

	/* mac1: does the sender even know who we are?  A hash, no state. */
	mac16(mac, ep->mac1_key, 32, buf, INIT_MAC1);
	if (crypto_verify_16(mac, buf + INIT_MAC1))
		return COOKIE_BAD;
	if (under_load(ep)) {
		cookie_of(ep, from, cookie);
		mac16(mac, cookie, 16, buf, INIT_MAC2);
		if (crypto_verify_16(mac, buf + INIT_MAC2)) {
			send_cookie(ep, buf, from);
			return COOKIE_SENT;
		}
	}
	return COOKIE_PASS;
}

/* ---- the initiator ---- */

void cookie_stamp_init(struct rmap_peer *peer, uint8_t *msg, uint64_t now)
{
	struct ident *id = peer->ident;
	struct hs_pending *hs = &peer->hs;

	mac16(msg + INIT_MAC1, id->mac1_key, 32, msg, INIT_MAC1);
	if (peer->cookie_ns && now - peer->cookie_ns < COOKIE_LIFE_NS)
		mac16(msg + INIT_MAC2, peer->cookie, 16, msg, INIT_MAC2);
	else
		memset(msg + INIT_MAC2, 0, 16);
	memcpy(hs->last_mac1, msg + INIT_MAC1, 16);
}

bool cookie_take(struct rmap_peer *peer, const uint8_t *buf)
{
	uint8_t cookie[16];

	if (crypto_aead_xchacha20poly1305_ietf_decrypt(cookie, NULL, NULL,
			buf + 32, 32, peer->hs.last_mac1, 16, buf + 8,
			peer->ident->cookie_key))
		return false;
	memcpy(peer->cookie, cookie, 16);
	peer->cookie_ns = evl_now_ns();
	return true;
}
