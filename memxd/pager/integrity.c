// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * integrity.c - page MACs (integrity.h).
 */
#include "integrity.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

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

void integrity_init(struct integrity *in, const uint8_t key[INTEGRITY_KEY_LEN],
		    bool on, bool encrypt)
{
	in->on = on;
	in->encrypt = on && encrypt;
	crypto_kdf_derive_from_key(in->mac_key, sizeof(in->mac_key), 1,
				   "memxmac\0", key);
	crypto_kdf_derive_from_key(in->enc_key, sizeof(in->enc_key), 2,
				   "memxenc\0", key);
}

void integrity_tag(const struct integrity *in, uint64_t page, uint8_t version,
		   const uint8_t *data, uint8_t tag[TAG_LEN])
{
	uint8_t m[HDR_LEN + PAGE];

	memcpy(m, "MXPG", 4);
	m[4] = version;
	m[5] = m[6] = m[7] = 0;
	for (unsigned i = 0; i < 8; i++)
		m[8 + i] = (uint8_t)(page >> (8 * i));
	memcpy(m + HDR_LEN, data, PAGE);
	crypto_shorthash_siphashx24(tag, m, sizeof(m), in->mac_key);
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
