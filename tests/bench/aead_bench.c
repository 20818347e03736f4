// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * aead_bench.c - what sealing costs a page (make bench-trust): a 4 KiB
 * page as RMAP carries it at MTU 1500 (three fragments of at most 1368
 * bytes, each behind its 72-byte message header and 16-byte outer
 * header), sealed and opened by RMAP's own key pair code (kp_seal and
 * kp_open, rmap/crypt.c) with the AEAD it picks here (AES-256-GCM where
 * the CPU has AES-NI, through intel-ipsec-mb where built in, else
 * GnuTLS; else ChaCha20-Poly1305, OpenSSL's); and, for comparison, the
 * same key pair code with GnuTLS's AES-256-GCM, libsodium's two ciphers,
 * and AES-256-GCM through OpenSSL's EVP, as crypt.c sealed it before.
 * Prints
 *   aead-bench: cipher=NAME aes_impl=LIBRARY us_per_page=X
 *               seal_us=X open_us=X
 *               chacha_us_per_page=X aesgcm_us_per_page=X|na
 *               gnutls_aesgcm_us_per_page=X|na
 *               libsodium_chacha_us_per_page=X
 *               libsodium_aesgcm_us_per_page=X|na
 *               openssl_aesgcm_us_per_page=X|na
 * where us_per_page is one seal and one open of the page's fragments.
 */
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rmap/rmap_int.h"

#define PAGES	20000u
#define HDR	72u
#define OUTER	16u
#define TAG	16u

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

struct result {
	double seal, open;
};

/*
 * A library's AEAD, keyed: seal @len bytes of @plain into @wire after
 * its OUTER bytes (the associated data), the tag after them; open them
 * back into @out (0: the tag verified).
 */
struct lib {
	void (*seal)(struct lib *l, unsigned char *wire,
		     const unsigned char *plain, unsigned len,
		     const unsigned char nonce[12]);
	int (*open)(struct lib *l, unsigned char *out,
		    const unsigned char *wire, unsigned len,
		    const unsigned char nonce[12]);
	unsigned char key[32];
	crypto_aead_aes256gcm_state aes;	/* libsodium's AES-GCM */
	EVP_CIPHER_CTX *enc, *dec;		/* OpenSSL's */
};

static void sodium_chacha_seal(struct lib *l, unsigned char *wire,
			       const unsigned char *plain, unsigned len,
			       const unsigned char nonce[12])
{
	crypto_aead_chacha20poly1305_ietf_encrypt(wire + OUTER, NULL, plain,
		len, wire, OUTER, NULL, nonce, l->key);
}

static int sodium_chacha_open(struct lib *l, unsigned char *out,
			      const unsigned char *wire, unsigned len,
			      const unsigned char nonce[12])
{
	return crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL,
		wire + OUTER, len + TAG, wire, OUTER, nonce, l->key);
}

static void sodium_aes_seal(struct lib *l, unsigned char *wire,
			    const unsigned char *plain, unsigned len,
			    const unsigned char nonce[12])
{
	crypto_aead_aes256gcm_encrypt_afternm(wire + OUTER, NULL, plain, len,
		wire, OUTER, NULL, nonce, &l->aes);
}

static int sodium_aes_open(struct lib *l, unsigned char *out,
			   const unsigned char *wire, unsigned len,
			   const unsigned char nonce[12])
{
	return crypto_aead_aes256gcm_decrypt_afternm(out, NULL, NULL,
		wire + OUTER, len + TAG, wire, OUTER, nonce, &l->aes);
}

/* OpenSSL's EVP AES-256-GCM, as rmap/crypt.c sealed datagrams before. */
static void openssl_seal(struct lib *l, unsigned char *wire,
			 const unsigned char *plain, unsigned len,
			 const unsigned char nonce[12])
{
	int n;

	EVP_EncryptInit_ex(l->enc, NULL, NULL, NULL, nonce);
	EVP_EncryptUpdate(l->enc, NULL, &n, wire, OUTER);
	EVP_EncryptUpdate(l->enc, wire + OUTER, &n, plain, (int)len);
	EVP_EncryptFinal_ex(l->enc, wire + OUTER + n, &n);
	EVP_CIPHER_CTX_ctrl(l->enc, EVP_CTRL_AEAD_GET_TAG, TAG,
			    wire + OUTER + len);
}

static int openssl_open(struct lib *l, unsigned char *out,
			const unsigned char *wire, unsigned len,
			const unsigned char nonce[12])
{
	int n;

	EVP_DecryptInit_ex(l->dec, NULL, NULL, NULL, nonce);
	EVP_DecryptUpdate(l->dec, NULL, &n, wire, OUTER);
	EVP_DecryptUpdate(l->dec, out, &n, wire + OUTER, (int)len);
	EVP_CIPHER_CTX_ctrl(l->dec, EVP_CTRL_AEAD_SET_TAG, TAG,
			    (unsigned char *)wire + OUTER + len);
	return EVP_DecryptFinal_ex(l->dec, out + n, &n) == 1 ? 0 : -1;
}

/* Seal PAGES pages of three fragments with @l, then open as many. */
static struct result run_lib(struct lib *l)
{
	static unsigned char plain[HDR + 1368], wire[OUTER + HDR + 1368 + TAG];
	static unsigned char out[HDR + 1368];
	static const unsigned frag[3] = { 1368, 1368, 1360 };
	unsigned char nonce[12] = { 0 };
	struct result r = { 0, 0 };
	double t0;
	uint64_t ctr = 0;

	randombytes_buf(plain, sizeof(plain));
	memset(wire, 0, OUTER);
	t0 = now_us();
	for (unsigned p = 0; p < PAGES; p++) {
		for (unsigned f = 0; f < 3; f++, ctr++) {
			memcpy(nonce + 4, &ctr, 8);
			memcpy(wire + 8, &ctr, 8);
			l->seal(l, wire, plain, HDR + frag[f], nonce);
		}
	}
	r.seal = (now_us() - t0) / PAGES;
	/* Open the last fragment sealed, again and again (same cost). */
	t0 = now_us();
	for (unsigned p = 0; p < PAGES; p++) {
		for (unsigned f = 0; f < 3; f++) {
			if (l->open(l, out, wire, HDR + frag[2], nonce)) {
				fprintf(stderr, "aead_bench: open failed\n");
				r.open = 0;
				return r;
			}
		}
	}
	r.open = (now_us() - t0) / PAGES;
	return r;
}

/* libsodium's (as rmap/crypt.c sealed datagrams first), either cipher. */
static struct result run_sodium(int aes)
{
	struct lib l = {
		.seal = aes ? sodium_aes_seal : sodium_chacha_seal,
		.open = aes ? sodium_aes_open : sodium_chacha_open,
	};

	randombytes_buf(l.key, sizeof(l.key));
	if (aes)
		crypto_aead_aes256gcm_beforenm(&l.aes, l.key);
	return run_lib(&l);
}

static struct result run_openssl(void)
{
	struct lib l = { .seal = openssl_seal, .open = openssl_open };
	struct result r = { 0, 0 };

	randombytes_buf(l.key, sizeof(l.key));
	l.enc = EVP_CIPHER_CTX_new();
	l.dec = EVP_CIPHER_CTX_new();
	if (l.enc && l.dec &&
	    EVP_EncryptInit_ex(l.enc, EVP_aes_256_gcm(), NULL, l.key,
			       NULL) == 1 &&
	    EVP_DecryptInit_ex(l.dec, EVP_aes_256_gcm(), NULL, l.key,
			       NULL) == 1)
		r = run_lib(&l);
	EVP_CIPHER_CTX_free(l.enc);
	EVP_CIPHER_CTX_free(l.dec);
	return r;
}

/* RMAP's own: kp_seal and kp_open of a key pair of @suite. */
static struct result run_rmap(uint8_t suite)
{
	static unsigned char plain[HDR + 1368];
	static unsigned char wire[3][OUTER + HDR + 1368 + TAG];
	static unsigned char out[HDR + 1368];
	static const unsigned frag[3] = { 1368, 1368, 1360 };
	unsigned char send[32], recv[32];
	struct keypair *kp = calloc(1, sizeof(*kp));
	struct result r = { 0, 0 };
	size_t len[3] = { 0 }, n;
	uint64_t ctr;
	double t0;

	if (!kp)
		return r;
	randombytes_buf(send, sizeof(send));
	memcpy(recv, send, sizeof(recv));	/* opens what it seals */
	randombytes_buf(plain, sizeof(plain));
	if (kp_set_keys(kp, send, recv, suite)) {
		fprintf(stderr, "aead_bench: no AEAD state\n");
		kp_free(kp);
		return r;
	}
	t0 = now_us();
	for (unsigned p = 0; p < PAGES; p++)
		for (unsigned f = 0; f < 3; f++)
			kp_seal(kp, plain, HDR + frag[f], wire[f], &len[f]);
	r.seal = (now_us() - t0) / PAGES;
	t0 = now_us();
	for (unsigned p = 0; p < PAGES; p++) {
		for (unsigned f = 0; f < 3; f++) {
			if (kp_open(kp, wire[f], len[f], out, &n, &ctr)) {
				fprintf(stderr, "aead_bench: open failed\n");
				kp_free(kp);
				return r;
			}
		}
	}
	r.open = (now_us() - t0) / PAGES;
	kp_free(kp);
	return r;
}

int main(void)
{
	struct result c, a = { 0, 0 }, sc, sa = { 0, 0 }, oa = { 0, 0 }, u;
	struct result ga = { 0, 0 };
	char aes_s[32] = "na", saes_s[32] = "na", oaes_s[32] = "na";
	char gaes_s[32] = "na";
	int have_aes;

	if (sodium_init() < 0)
		return 1;
	have_aes = crypto_aead_aes256gcm_is_available();
	c = run_rmap(SUITE_CHACHA);
	sc = run_sodium(0);
	if (have_aes) {
		a = run_rmap(SUITE_AESGCM);
		crypt_aesgcm_gnutls = true;
		ga = run_rmap(SUITE_AESGCM);
		crypt_aesgcm_gnutls = false;
		sa = run_sodium(1);
		oa = run_openssl();
		snprintf(aes_s, sizeof(aes_s), "%.3f", a.seal + a.open);
		snprintf(gaes_s, sizeof(gaes_s), "%.3f", ga.seal + ga.open);
		snprintf(saes_s, sizeof(saes_s), "%.3f", sa.seal + sa.open);
		snprintf(oaes_s, sizeof(oaes_s), "%.3f", oa.seal + oa.open);
	}
	u = have_aes ? a : c;
	printf("aead-bench: cipher=%s aes_impl=%s us_per_page=%.3f "
	       "seal_us=%.3f open_us=%.3f chacha_us_per_page=%.3f "
	       "aesgcm_us_per_page=%s gnutls_aesgcm_us_per_page=%s "
	       "libsodium_chacha_us_per_page=%.3f "
	       "libsodium_aesgcm_us_per_page=%s "
	       "openssl_aesgcm_us_per_page=%s\n",
	       have_aes ? "AES-256-GCM" : "ChaCha20-Poly1305",
	       crypt_aesgcm_impl(), u.seal + u.open, u.seal, u.open,
	       c.seal + c.open, aes_s, gaes_s, sc.seal + sc.open, saes_s,
	       oaes_s);
	return 0;
}
