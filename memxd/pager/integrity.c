// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * integrity.c - page MACs (integrity.h).
 */
#include "integrity.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"

#define HDR_LEN		16u
#define PAGE		RMAP_PAGE_SIZE

_Static_assert(crypto_shorthash_siphashx24_BYTES == TAG_LEN,
	       "a tag is one SipHash-2-4 128-bit output");
_Static_assert(crypto_shorthash_siphashx24_KEYBYTES == 16, "a 128-bit key");
_Static_assert(crypto_kdf_KEYBYTES == INTEGRITY_KEY_LEN, "a 256-bit key");
_Static_assert(crypto_stream_xchacha20_NONCEBYTES == TAG_LEN + 8,
	       "a nonce is a tag and a page number");
_Static_assert(crypto_stream_xchacha20_KEYBYTES == 32, "a 256-bit key");

int integrity_global_init(void)
{
	return sodium_init() < 0 ? -ENOSYS : 0;
}

void integrity_new_key(uint8_t key[INTEGRITY_KEY_LEN])
{
	crypto_kdf_keygen(key);
}

int integrity_init(struct integrity *in, const uint8_t key[INTEGRITY_KEY_LEN],
		   bool on, bool encrypt, enum integrity_mac mac)
{
	uint8_t aes_key[16];
	EVP_MAC *poly;
	int ret = 0;

	memset(in, 0, sizeof(*in));
	in->on = on;
	in->encrypt = on && encrypt;
	in->mac = mac;
	crypto_kdf_derive_from_key(in->mac_key, sizeof(in->mac_key), 1,
				   "memxmac\0", key);
	crypto_kdf_derive_from_key(in->enc_key, sizeof(in->enc_key), 2,
				   "memxenc\0", key);
	if (mac != INTEGRITY_POLY_AES)
		return 0;
	crypto_kdf_derive_from_key(in->poly_key, sizeof(in->poly_key), 3,
				   "memxmac\0", key);
	crypto_kdf_derive_from_key(aes_key, sizeof(aes_key), 4, "memxmac\0",
				   key);
	poly = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_POLY1305, NULL);
	in->poly = poly ? EVP_MAC_CTX_new(poly) : NULL;
	EVP_MAC_free(poly);	/* the context holds its own reference */
	in->aes = EVP_CIPHER_CTX_new();
	if (!in->poly || !in->aes ||
	    EVP_EncryptInit_ex(in->aes, EVP_aes_128_ecb(), NULL, aes_key,
			       NULL) != 1)
		ret = -ENOMEM;
	sodium_memzero(aes_key, sizeof(aes_key));
	return ret;
}

void integrity_fini(struct integrity *in)
{
	EVP_MAC_CTX_free(in->poly);
	EVP_CIPHER_CTX_free(in->aes);
	sodium_memzero(in, sizeof(*in));
}

const char *integrity_mac_name(enum integrity_mac mac)
{
	return mac == INTEGRITY_POLY_AES ? "poly1305-aes" : "siphash";
}

/* "MXPG" | version | 3 zero bytes | page number (le64): what precedes. */
static void tag_header(uint8_t m[HDR_LEN], uint64_t page, uint8_t version)
{
	memcpy(m, "MXPG", 4);
	m[4] = version;
	m[5] = m[6] = m[7] = 0;
	for (unsigned i = 0; i < 8; i++)
		m[8 + i] = (uint8_t)(page >> (8 * i));
}

/*
 * AES-128(k2, Poly1305(k1, header | page)).  OpenSSL cannot fail here
 * with contexts integrity_init() set up; if it ever did, no tag could be
 * trusted from then on, so memxd stops (its VMs wait for the next one:
 * design.md, section 3).
 */
static void tag_poly_aes(const struct integrity *in, const uint8_t *hdr,
			 const uint8_t *data, uint8_t tag[TAG_LEN])
{
	uint8_t h[TAG_LEN];
	size_t n = 0;
	int len = 0;

	if (EVP_MAC_init(in->poly, in->poly_key, sizeof(in->poly_key),
			 NULL) != 1 ||
	    EVP_MAC_update(in->poly, hdr, HDR_LEN) != 1 ||
	    EVP_MAC_update(in->poly, data, PAGE) != 1 ||
	    EVP_MAC_final(in->poly, h, &n, sizeof(h)) != 1 ||
	    n != sizeof(h) ||
	    EVP_EncryptUpdate(in->aes, tag, &len, h, sizeof(h)) != 1 ||
	    len != TAG_LEN) {
		log_err("OpenSSL failed a page MAC: memxd stops");
		abort();
	}
}

/* SipHash-2-4-128 of header | page: libsodium's takes one buffer. */
static void tag_siphash(const struct integrity *in, const uint8_t *hdr,
			const uint8_t *data, uint8_t tag[TAG_LEN])
{
	uint8_t m[HDR_LEN + PAGE];

	memcpy(m, hdr, HDR_LEN);
	memcpy(m + HDR_LEN, data, PAGE);
	crypto_shorthash_siphashx24(tag, m, sizeof(m), in->mac_key);
}

void integrity_tag(const struct integrity *in, uint64_t page, uint8_t version,
		   const uint8_t *data, uint8_t tag[TAG_LEN])
{
	uint8_t hdr[HDR_LEN];

	tag_header(hdr, page, version);
	if (in->mac == INTEGRITY_POLY_AES)
		tag_poly_aes(in, hdr, data, tag);
	else
		tag_siphash(in, hdr, data, tag);
}

bool integrity_check(const struct integrity *in, uint64_t page,
		     uint8_t version, const uint8_t *data,
		     const uint8_t tag[TAG_LEN])
{
	uint8_t want[TAG_LEN];

	integrity_tag(in, page, version, data, want);
	return !sodium_memcmp(want, tag, TAG_LEN);
}

void integrity_crypt(const struct integrity *in, uint64_t page,
		     const uint8_t tag[TAG_LEN], uint8_t *data)
{
	uint8_t nonce[crypto_stream_xchacha20_NONCEBYTES];

	if (!in->encrypt)
		return;
	memcpy(nonce, tag, TAG_LEN);
	for (unsigned i = 0; i < 8; i++)
		nonce[TAG_LEN + i] = (uint8_t)(page >> (8 * i));
	crypto_stream_xchacha20_xor(data, data, PAGE, nonce, in->enc_key);
}
