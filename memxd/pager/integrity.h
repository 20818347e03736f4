/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * integrity.h - every page the pager writes carries a MAC; every page it
 * reads back must match it before it is installed.
 *
 * A VM's tag of a page is a MAC, keyed per VM, over
 *
 *     "MXPG" | version (1 byte) | 3 zero bytes | page number (le64) | page
 *
 * so it binds the contents to the VM (its key), to the GPAS page number
 * (a server that answers with another page of the session fails) and to
 * the page's version (a server that answers with an older copy of the
 * same page fails).  Which MAC is the VM's, kept with its keys
 * (vmstate.h: VMSTATE_POLY_AES), because its tags are already stored:
 *
 *   - INTEGRITY_POLY_AES, every VM registered afresh:
 *     AES-128(k2, Poly1305(k1, message)), OpenSSL's both.  The Poly1305
 *     key (r and s) is the VM's for its life, which the primitive alone
 *     does not allow when its output is seen; here nobody sees it: AES
 *     under a second key maps it to the tag, and this hash-then-PRP is a
 *     MAC whose forgery bound is about q^2 * 2^-95 for q tags of 4 KiB
 *     pages (Poly1305's differential bound, 8 * ceil(L/16) / 2^106) plus
 *     AES's.  About 3x faster than SipHash on this CPU
 *     (tests/bench/mac_bench), the page read once, where it lies.
 *   - INTEGRITY_SIPHASH, the VMs an older memxd registered: SipHash-2-4
 *     with a 128-bit output (libsodium's crypto_shorthash_siphashx24)
 *     over a copy of the message.
 *
 * The keys are derived (crypto_kdf) from a 32-byte master key kept in the
 * VM's state memfd (vmstate.h), so a memxd restart or a live migration
 * keeps them; the version is one byte per page, also kept there
 * (pagetable.h: pt_version), bumped each time a new copy of the page is
 * sent.  The tag is computed over the plaintext, by the pager, and stored
 * by the server beside the page, per reference (rmap(7), RMAP_F_TAGS):
 * never in the page bytes, so server-side dedup stays possible.
 *
 * A version of 8 bits repeats every 256 writes of one page: a server that
 * kept a copy from exactly 256 * k writes before could replay it.  A lost
 * write, a stale cache or a bit flip always differ by less; the cost of
 * more bits is a byte per page (docs/design.md, section 3).
 *
 * Tags are XORed along with the pages: a parity page's tag is the XOR of
 * its row's tags, so a page rebuilt from its stripe comes with the tag it
 * was written with, and is checked like any other.
 *
 * Encryption (per VM, optional, memxd --page-encryption): the page is
 * sent as XChaCha20 of its contents, keyed per VM (a second key derived
 * from the master key), with the nonce its tag and its page number: the
 * MAC of the plaintext is the IV, as in SIV.  Nothing more is stored, a
 * nonce never repeats for different contents (an 8-bit version that
 * wraps does no harm), and since parity is kept over what is stored,
 * ciphertext, a page rebuilt from its stripe decrypts with the tag
 * rebuilt with it.  The server sees only ciphertext, so it cannot share
 * such a VM's pages with others (no dedup).
 */
#ifndef MEMX_PAGER_INTEGRITY_H
#define MEMX_PAGER_INTEGRITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "../../rmap/wire.h"

#define INTEGRITY_KEY_LEN	32u	/* a VM's master key */
#define TAG_LEN			RMAP_TAG_LEN

/* Which MAC a VM's tags are (see above). */
enum integrity_mac {
	INTEGRITY_SIPHASH,		/* an older memxd's VMs */
	INTEGRITY_POLY_AES,		/* every VM registered afresh */
};

struct integrity {
	bool on;			/* off: no tags sent, nothing checked */
	bool encrypt;			/* pages sent encrypted (needs on) */
	enum integrity_mac mac;
	uint8_t mac_key[16];		/* SipHash's */
	uint8_t poly_key[32];		/* Poly1305's r and s */
	EVP_MAC_CTX *poly;		/* Poly1305, keyed at each tag */
	EVP_CIPHER_CTX *aes;		/* AES-128, keyed once */
	uint8_t enc_key[32];
};

/* dst ^= src, over @len bytes (tags: pg_xor wants multiples of 64). */
static inline void tag_xor(uint8_t *dst, const uint8_t *src, size_t len)
{
	for (size_t i = 0; i < len; i++)
		dst[i] ^= src[i];
}

/* Once per process, before any other call: 0 or -errno. */
int integrity_global_init(void);
/* A fresh master key for a new VM. */
void integrity_new_key(uint8_t key[INTEGRITY_KEY_LEN]);
/*
 * The keys of the VM whose master key is @key, its tags @mac: 0, or
 * -ENOMEM (OpenSSL's contexts).  integrity_fini() undoes it, either way.
 */
int integrity_init(struct integrity *in, const uint8_t key[INTEGRITY_KEY_LEN],
		   bool on, bool encrypt, enum integrity_mac mac);
void integrity_fini(struct integrity *in);
/* The MAC's name, for the log and memxctl: "poly1305-aes" or "siphash". */
const char *integrity_mac_name(enum integrity_mac mac);
/* The tag of @data as page @page at @version. */
void integrity_tag(const struct integrity *in, uint64_t page, uint8_t version,
		   const uint8_t *data, uint8_t tag[TAG_LEN]);
/* Is @tag the tag of @data as page @page at @version?  (Constant time.) */
bool integrity_check(const struct integrity *in, uint64_t page,
		     uint8_t version, const uint8_t *data,
		     const uint8_t tag[TAG_LEN]);
/*
 * Encrypt page @page in place, whose plaintext's tag is @tag; the same
 * call decrypts.  Nothing if the VM's pages are not encrypted.
 */
void integrity_crypt(const struct integrity *in, uint64_t page,
		     const uint8_t tag[TAG_LEN], uint8_t *data);

#endif
