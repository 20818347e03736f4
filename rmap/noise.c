// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * noise.c - the handshake's cryptography: Noise's symmetric state with
 * libsodium's SHA-256, HMAC and ChaCha20-Poly1305, the messages' MAC and
 * TAI64N timestamps.  No endpoint or peer state (noise.h).
 */
#include "noise.h"

#include <sodium.h>
#include <string.h>
#include <time.h>

#include "wire.h"

#define PROTOCOL	"Noise_IKpsk2_25519_ChaChaPoly_SHA256"
#define PROLOGUE	"memx RMAP v2"

void msg_head(uint8_t *p, uint8_t kind)
{
	p[0] = RMAP_MAGIC >> 8;
	p[1] = RMAP_MAGIC & 0xff;
	p[2] = RMAP_VERSION;
	p[3] = kind;
}

/* ---- Noise's symmetric state, with libsodium's SHA-256 and HMAC ---- */

void hash2(uint8_t out[32], const uint8_t *a, size_t al,
	   const uint8_t *b, size_t bl)
{
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, a, al);
	if (bl)
		crypto_hash_sha256_update(&st, b, bl);
	crypto_hash_sha256_final(&st, out);
}

static void hmac2(uint8_t out[32], const uint8_t key[32], const uint8_t *a,
		  size_t al, const uint8_t *b, size_t bl)
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key, 32);
	crypto_auth_hmacsha256_update(&st, a, al);
	if (bl)
		crypto_auth_hmacsha256_update(&st, b, bl);
	crypto_auth_hmacsha256_final(&st, out);
}

/* HKDF as Noise defines it: up to three outputs. */
void hkdf(const uint8_t ck[32], const uint8_t *ikm, size_t ikml,
	  uint8_t *o1, uint8_t *o2, uint8_t *o3)
{
	uint8_t t[32], a[32], b[32], one = 1, two = 2, three = 3;

	hmac2(t, ck, ikm, ikml, NULL, 0);
	hmac2(a, t, &one, 1, NULL, 0);
	if (o2 || o3)
		hmac2(b, t, a, 32, &two, 1);
	if (o3)
		hmac2(o3, t, b, 32, &three, 1);
	if (o2)
		memcpy(o2, b, 32);
	memcpy(o1, a, 32);
	sodium_memzero(t, sizeof(t));
	sodium_memzero(a, sizeof(a));
	sodium_memzero(b, sizeof(b));
}

void mix_hash(struct noise *n, const uint8_t *d, size_t len)
{
	hash2(n->h, n->h, 32, d, len);
}

void mix_key(struct noise *n, const uint8_t *ikm, size_t len)
{
	hkdf(n->ck, ikm, len, n->ck, n->k, NULL);
}

/* MixKey(DH(priv, pub)); false if the result is all zeros. */
bool mix_dh(struct noise *n, const uint8_t priv[32], const uint8_t pub[32])
{
	uint8_t dh[32];

	if (crypto_scalarmult(dh, priv, pub))
		return false;
	mix_key(n, dh, 32);
	sodium_memzero(dh, sizeof(dh));
	return true;
}

static const uint8_t zero_nonce[12];

void encrypt_and_hash(struct noise *n, const uint8_t *p, size_t len,
		      uint8_t *out)
{
	crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, p, len, n->h, 32,
						  NULL, zero_nonce, n->k);
	mix_hash(n, out, len + 16);
}

bool decrypt_and_hash(struct noise *n, const uint8_t *c, size_t len,
		      uint8_t *out)
{
	if (crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, c, len,
						      n->h, 32, zero_nonce,
						      n->k))
		return false;
	mix_hash(n, c, len);
	return true;
}

/* The state both sides start from, for responder static key @rs. */
void noise_start(struct noise *n, const uint8_t rs[32])
{
	hash2(n->h, (const uint8_t *)PROTOCOL, strlen(PROTOCOL), NULL, 0);
	memcpy(n->ck, n->h, 32);
	mix_hash(n, (const uint8_t *)PROLOGUE, strlen(PROLOGUE));
	mix_hash(n, rs, 32);
}

void mac16(uint8_t out[16], const uint8_t *key, size_t keylen,
	   const uint8_t *msg, size_t len)
{
	crypto_generichash(out, 16, msg, len, key, keylen);
}

/* TAI64N: seconds since 1970 plus 2^62, then nanoseconds; big-endian. */
void tai64n(uint8_t out[12])
{
	struct timespec ts;
	uint64_t s;

	clock_gettime(CLOCK_REALTIME, &ts);
	s = 0x400000000000000aull + (uint64_t)ts.tv_sec;
	wire_put32(out, (uint32_t)(s >> 32));
	wire_put32(out + 4, (uint32_t)s);
	wire_put32(out + 8, (uint32_t)ts.tv_nsec);
}
