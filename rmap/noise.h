/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * noise.h - what the handshake's messages are made of: their layout on
 * the wire, and the cryptography that builds and checks them.
 *
 * Noise's symmetric state (SHA-256, HMAC, HKDF, ChaCha20-Poly1305, all
 * libsodium's), the 16-byte keyed MAC the messages end with, and TAI64N
 * timestamps.  It knows nothing of endpoints, peers or keys held: the
 * files above it (handshake.c, cookie.c, peerkeys.c) call down into it;
 * it calls only libsodium and wire.h.
 *
 *   INIT  (156 bytes)  idx_i, e_i, AEAD(s_i), AEAD(epoch, timestamp,
 *                      suites), mac1, mac2
 *   RESP  (100 bytes)  idx_r, idx_i, e_r, AEAD(epoch, suite), mac1, mac2
 *   COOKIE (64 bytes)  idx_i, nonce, XAEAD(cookie)
 */
#ifndef MEMX_RMAP_NOISE_H
#define MEMX_RMAP_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INIT_LEN	156u
#define RESP_LEN	100u
#define COOKIE_LEN	64u
#define INIT_MAC1	124u
#define INIT_MAC2	140u
#define RESP_MAC1	68u
#define RESP_MAC2	84u

/* The four bytes every message starts with: magic, version, @kind. */
void msg_head(uint8_t *p, uint8_t kind);

/* SHA-256 of @a then @b (@bl may be 0). */
void hash2(uint8_t out[32], const uint8_t *a, size_t al,
	   const uint8_t *b, size_t bl);
/* HKDF as Noise defines it: up to three outputs. */
void hkdf(const uint8_t ck[32], const uint8_t *ikm, size_t ikml,
	  uint8_t *o1, uint8_t *o2, uint8_t *o3);

struct noise {
	uint8_t h[32], ck[32], k[32];
};

void mix_hash(struct noise *n, const uint8_t *d, size_t len);
void mix_key(struct noise *n, const uint8_t *ikm, size_t len);
/* MixKey(DH(priv, pub)); false if the result is all zeros. */
bool mix_dh(struct noise *n, const uint8_t priv[32], const uint8_t pub[32]);
void encrypt_and_hash(struct noise *n, const uint8_t *p, size_t len,
		      uint8_t *out);
bool decrypt_and_hash(struct noise *n, const uint8_t *c, size_t len,
		      uint8_t *out);
/* The state both sides start from, for responder static key @rs. */
void noise_start(struct noise *n, const uint8_t rs[32]);

/* The MAC of @msg under @key (mac1, mac2, cookies): 16 bytes. */
void mac16(uint8_t out[16], const uint8_t *key, size_t keylen,
	   const uint8_t *msg, size_t len);
/* TAI64N: seconds since 1970 plus 2^62, then nanoseconds; big-endian. */
void tai64n(uint8_t out[12]);

#endif
