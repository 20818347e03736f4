/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cookie.h - the handshake's defence under load: mac1 and mac2 on an
 * INIT, the responder's count of initiations a second, cookies bound to
 * a source address and the COOKIE replies that carry them (cookie.c).
 *
 * The handshake (handshake.c) calls down into these around its INITs;
 * cookie.c calls down into noise.h (the MAC, the messages' layout) and
 * tx.c (ep_send_raw), and keeps nothing for a sender.
 */
#ifndef MEMX_RMAP_COOKIE_H
#define MEMX_RMAP_COOKIE_H

#include "rmap_int.h"

enum cookie_verdict {
	COOKIE_PASS,	/* go on with the INIT */
	COOKIE_BAD,	/* mac1 is wrong: drop it, an authentication failure */
	COOKIE_SENT,	/* under load, mac2 is wrong: a COOKIE went back */
};

/* Responder: may INIT @buf (INIT_LEN bytes) from @from go on? */
enum cookie_verdict cookie_check_init(struct rmap_ep *ep, const uint8_t *buf,
				      const struct sockaddr_storage *from);
/* Initiator: mac1 and mac2 (with a live cookie) onto INIT @msg, now. */
void cookie_stamp_init(struct rmap_peer *peer, uint8_t *msg, uint64_t now);
/* Initiator: take the cookie in COOKIE @buf (COOKIE_LEN bytes) for
 * @peer's pending INIT; false if it does not open. */
bool cookie_take(struct rmap_peer *peer, const uint8_t *buf);

#endif
