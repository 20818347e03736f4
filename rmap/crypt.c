// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * crypt.c - keys and the data AEAD.
 *
 * Keys and the handshake's primitives are libsodium's (X25519, SHA-256,
 * HMAC, ChaCha20-Poly1305 in noise.c).  The datagrams are sealed with
 * AES-256-GCM where the CPU has AES-NI and PCLMUL, or else with
 * ChaCha20-Poly1305 (IETF): the same constructions, the same bytes on the
 * wire (ciphertext, then the 16-byte tag) as libsodium's.  AES-GCM goes
 * through Intel's multi-buffer library (intel-ipsec-mb) where the build
 * has it, which runs the widest code the CPU has (VAES and VPCLMULQDQ on
 * AVX-512 here: 2.7 times GnuTLS's speed on a page's fragments); through
 * GnuTLS otherwise, whose AES-GCM costs less per call than OpenSSL 3's
 * (the provider layer looks its parameters up by name on every
 * datagram).  ChaCha20 goes through OpenSSL's EVP: GnuTLS's has no
 * vector code.  aead_bench measures the libraries side by side.
 * Each direction of a key pair keeps its keyed state (the key schedule);
 * a datagram sets only its nonce.
 * A datagram's nonce is the 64-bit counter in its outer header, taken
 * afresh for every transmission (retransmissions included) from the key
 * pair's send counter: a nonce is never used twice with a key.  The
 * receiver's replay window remembers the last REPLAY_BITS counters; it
 * moves in O(1) whatever the jump, and only after the tag verified.
 */
#include "config.h"
#include "rmap.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rmap_int.h"

#ifdef HAVE_IPSEC_MB
#include <intel-ipsec-mb.h>
#endif

/* A key pair is refused (rekeyed) long before its counter could wrap. */
#define REJECT_AFTER_MESSAGES	(1ull << 60)

static int sodium_ready(void)
{
	return sodium_init() < 0 ? -ENOSYS : 0;
}

/* ---- keys ---- */

int rmap_key_generate(uint8_t priv[RMAP_KEY_LEN])
{
	uint8_t pub[RMAP_KEY_LEN];

	if (sodium_ready())
		return -ENOSYS;
	/* X25519: crypto_box's keys are Curve25519 keys. */
	crypto_box_keypair(pub, priv);
	return 0;
}

int rmap_key_public(const uint8_t priv[RMAP_KEY_LEN],
		    uint8_t pub[RMAP_KEY_LEN])
{
	if (sodium_ready())
		return -ENOSYS;
	return crypto_scalarmult_base(pub, priv) ? -EINVAL : 0;
}

void rmap_key_to_base64(const uint8_t key[RMAP_KEY_LEN],
			char out[RMAP_KEY_B64_LEN])
{
	sodium_bin2base64(out, RMAP_KEY_B64_LEN, key, RMAP_KEY_LEN,
			  sodium_base64_VARIANT_ORIGINAL);
}

int rmap_key_from_base64(const char *s, uint8_t key[RMAP_KEY_LEN])
{
	size_t n = 0;
	const char *end;

	if (sodium_ready())
		return -ENOSYS;
	if (strlen(s) != RMAP_KEY_B64_LEN - 1)
		return -EINVAL;
	if (sodium_base642bin(key, RMAP_KEY_LEN, s, strlen(s), NULL, &n, &end,
			      sodium_base64_VARIANT_ORIGINAL) ||
	    n != RMAP_KEY_LEN || *end)
		return -EINVAL;
	return 0;
}

int rmap_key_load(const char *path, bool secret, uint8_t key[RMAP_KEY_LEN],
		  char *why, size_t len)
{
	char buf[128], *p, *e;
	struct stat st;
	ssize_t n;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(why, len, "%s: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) < 0 || (secret && (st.st_mode & 077))) {
		close(fd);
		snprintf(why, len, "%s is readable by others than its owner: "
			 "chmod 600 it", path);
		return -EPERM;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		ret = -errno;
		snprintf(why, len, "%s: %s", path, strerror(-ret));
		return ret;
	}
	buf[n] = 0;
	for (p = buf; *p == ' ' || *p == '\t' || *p == '\n'; p++)
		;
	for (e = p; *e && *e != ' ' && *e != '\t' && *e != '\n' && *e != '\r';
	     e++)
		;
	*e = 0;
	ret = rmap_key_from_base64(p, key);
	sodium_memzero(buf, sizeof(buf));
	if (ret)
		snprintf(why, len, "%s does not hold a key (44 characters of "
			 "base64, as memxd --genkey writes)", path);
	return ret;
}

int rmap_peers_load(struct rmap_auth *a, const char *path, char *why,
		    size_t len)
{
	FILE *f = fopen(path, "re");
	char line[512];
	unsigned lineno = 0;
	int ret = 0;

	if (!f) {
		ret = -errno;
		snprintf(why, len, "%s: %s", path, strerror(-ret));
		return ret;
	}
	while (fgets(line, sizeof(line), f)) {
		char *tok[3], *save = NULL, *c = strchr(line, '#');
		struct rmap_peer_key pk = { 0 }, *np;
		unsigned nt = 0;

		lineno++;
		if (c)
			*c = 0;
		for (char *t = strtok_r(line, " \t\r\n", &save); t;
		     t = strtok_r(NULL, " \t\r\n", &save))
			tok[nt < 3 ? nt++ : 2] = t;
		if (!nt)
			continue;
		if (nt > 2 || rmap_key_from_base64(tok[0], pk.pub)) {
			snprintf(why, len, "%s:%u: expected 'PUBLIC-KEY "
				 "[HOST[:PORT]]'", path, lineno);
			ret = -EINVAL;
			break;
		}
		if (nt == 2) {
			if (rmap_parse_addr(tok[1], RMAP_DEFAULT_PORT,
					    &pk.addr)) {
				snprintf(why, len, "%s:%u: cannot resolve '%s'",
					 path, lineno, tok[1]);
				ret = -EINVAL;
				break;
			}
			pk.has_addr = true;
		}
		np = realloc(a->peers, (a->npeers + 1) * sizeof(*np));
		if (!np) {
			ret = -ENOMEM;
			snprintf(why, len, "out of memory");
			break;
		}
		a->peers = np;
		a->peers[a->npeers++] = pk;
	}
	fclose(f);
	return ret;
}

void rmap_auth_free(struct rmap_auth *a)
{
	free(a->peers);
	a->peers = NULL;
	a->npeers = 0;
	sodium_memzero(a->private_key, sizeof(a->private_key));
	sodium_memzero(a->psk, sizeof(a->psk));
}

/* ---- the data AEAD ---- */

uint8_t crypt_suites(bool no_aes)
{
	if (sodium_ready())
		return 0;
	return SUITE_CHACHA |
	       (!no_aes && crypto_aead_aes256gcm_is_available() ?
		SUITE_AESGCM : 0);
}

void outer_put(uint8_t *p, uint8_t kind, uint32_t idx, uint64_t ctr)
{
	p[0] = RMAP_MAGIC >> 8;
	p[1] = RMAP_MAGIC & 0xff;
	p[2] = RMAP_VERSION;
	p[3] = kind;
	wire_put32(p + 4, idx);
	wire_put32(p + 8, (uint32_t)(ctr >> 32));
	wire_put32(p + 12, (uint32_t)ctr);
}

/* The 96-bit nonce: four zero bytes and the counter, little-endian. */
static void nonce_of(uint64_t ctr, uint8_t n[12])
{
	memset(n, 0, 4);
	for (unsigned i = 0; i < 8; i++)
		n[4 + i] = (uint8_t)(ctr >> (8 * i));
}

/* An EVP context for ChaCha20-Poly1305 with @key; NULL if none. */
static EVP_CIPHER_CTX *chacha_ctx(const uint8_t key[32], bool enc)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	if (!ctx)
		return NULL;
	if (EVP_CipherInit_ex(ctx, EVP_chacha20_poly1305(), NULL, NULL, NULL,
			      enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, NULL, enc) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

bool crypt_aesgcm_gnutls;
/* intel-ipsec-mb is built in but failed its check against GnuTLS. */
static bool crypt_imb_refused;

#ifdef HAVE_IPSEC_MB
/*
 * The multi-buffer library's manager: which code this CPU runs, chosen
 * once.  The direct GCM calls only read it, so every thread shares it;
 * a datagram's running state is on the caller's stack.
 */
static IMB_MGR *imb;
static IMB_ARCH imb_arch;
static pthread_once_t imb_once = PTHREAD_ONCE_INIT;

/*
 * A key schedule, 64-byte aligned as the library wants it.  The header
 * asks for that alignment only under -DLINUX, so the size is rounded up
 * here: aligned_alloc takes only multiples of the alignment.
 */
static struct gcm_key_data *gcm_key_new(void)
{
	return aligned_alloc(64, (sizeof(struct gcm_key_data) + 63) &
				 ~(size_t)63);
}

/*
 * Does @m's AES-256-GCM seal and open what GnuTLS's does, byte for byte,
 * at lengths that take each of its code paths (none, a partial block,
 * blocks and a tail, a page)?  Checked once, before any key uses it: a
 * CPU whose flags promise more than it runs right falls back to GnuTLS.
 */
static bool imb_agrees(IMB_MGR *m)
{
	static const size_t lens[] = { 0, 1, 16, 17, 255, 1400, 4096 };
	static uint8_t plain[4096], ct[4096 + 16], ref[4096 + 16];
	static uint8_t back[4096];
	uint8_t key[32], nonce[12], ad[RMAP_OUTER_LEN], tag[16];
	gnutls_datum_t k = { .data = key, .size = sizeof(key) };
	gnutls_aead_cipher_hd_t g;
	struct gcm_key_data *kd;
	struct gcm_context_data gc;
	bool ok = true;

	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 13 + 5);
	memset(nonce, 0x5a, sizeof(nonce));
	memset(ad, 0xa5, sizeof(ad));
	kd = gcm_key_new();
	if (!kd)
		return false;
	if (gnutls_aead_cipher_init(&g, GNUTLS_CIPHER_AES_256_GCM, &k)) {
		free(kd);
		return false;
	}
	IMB_AES256_GCM_PRE(m, key, kd);
	for (size_t i = 0; ok && i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t n = lens[i], rlen = n + 16;

		IMB_AES256_GCM_ENC(m, kd, &gc, ct, plain, n, nonce, ad,
				   sizeof(ad), ct + n, 16);
		IMB_AES256_GCM_DEC(m, kd, &gc, back, ct, n, nonce, ad,
				   sizeof(ad), tag, 16);
		ok = !gnutls_aead_cipher_encrypt(g, nonce, sizeof(nonce), ad,
				sizeof(ad), 16, plain, n, ref, &rlen) &&
		     rlen == n + 16 && !memcmp(ct, ref, rlen) &&
		     !memcmp(tag, ct + n, 16) && !memcmp(back, plain, n);
	}
	gnutls_aead_cipher_deinit(g);
	free(kd);
	return ok;
}

static void imb_setup(void)
{
	IMB_MGR *m = alloc_mb_mgr(0);

	if (!m)
		return;
	init_mb_mgr_auto(m, &imb_arch);
	/* Without AES-NI it would run table-driven AES: leave it to GnuTLS. */
	if (imb_get_errno(m) || imb_arch < IMB_ARCH_SSE) {
		free_mb_mgr(m);
		return;
	}
	if (!imb_agrees(m)) {
		crypt_imb_refused = true;
		free_mb_mgr(m);
		return;
	}
	imb = m;
}

static IMB_MGR *imb_get(void)
{
	pthread_once(&imb_once, imb_setup);
	return imb;
}
#endif

const char *crypt_aesgcm_impl(void)
{
#ifdef HAVE_IPSEC_MB
	static const char *const arch[] = {
		[IMB_ARCH_SSE] = "intel-ipsec-mb-sse",
		[IMB_ARCH_AVX] = "intel-ipsec-mb-avx",
		[IMB_ARCH_AVX2] = "intel-ipsec-mb-avx2",
		[IMB_ARCH_AVX512] = "intel-ipsec-mb-avx512",
	};

	if (!crypt_aesgcm_gnutls && imb_get() && imb_arch < IMB_ARCH_NUM &&
	    arch[imb_arch])
		return arch[imb_arch];
	if (crypt_imb_refused)
		return "gnutls(intel-ipsec-mb-failed-its-check)";
#endif
	return "gnutls";
}

bool rmap_aesgcm_fell_back(void)
{
#ifdef HAVE_IPSEC_MB
	imb_get();
#endif
	return crypt_imb_refused;
}

/* The keyed state of one direction, in the one library @suite uses. */
static int aead_init(struct aead_state *st, uint8_t suite,
		     const uint8_t key[32], bool enc)
{
	gnutls_datum_t k = { .data = (unsigned char *)key, .size = 32 };

	if (suite == SUITE_AESGCM) {
#ifdef HAVE_IPSEC_MB
		IMB_MGR *m = crypt_aesgcm_gnutls ? NULL : imb_get();

		if (m) {
			/* Round keys and GHASH powers, 64-byte aligned. */
			st->imb = gcm_key_new();
			if (!st->imb)
				return -ENOMEM;
			IMB_AES256_GCM_PRE(m, key, st->imb);
			return 0;
		}
#endif
		return gnutls_aead_cipher_init(&st->gnutls,
					       GNUTLS_CIPHER_AES_256_GCM, &k) ?
		       -ENOMEM : 0;
	}
	st->evp = chacha_ctx(key, enc);
	return st->evp ? 0 : -ENOMEM;
}

static void aead_free(struct aead_state *st)
{
	/* Each clears the key schedule it frees. */
#ifdef HAVE_IPSEC_MB
	if (st->imb) {
		sodium_memzero(st->imb, sizeof(*st->imb));
		free(st->imb);
	}
#endif
	if (st->gnutls)
		gnutls_aead_cipher_deinit(st->gnutls);
	EVP_CIPHER_CTX_free(st->evp);
}

int kp_set_keys(struct keypair *kp, const uint8_t send[32],
		const uint8_t recv[32], uint8_t suite)
{
	memcpy(kp->send_key, send, 32);
	memcpy(kp->recv_key, recv, 32);
	kp->suite = suite;
	if (aead_init(&kp->send_st, suite, send, true) ||
	    aead_init(&kp->recv_st, suite, recv, false))
		return -ENOMEM;
	return 0;
}

void kp_free(struct keypair *kp)
{
	if (!kp)
		return;
	aead_free(&kp->send_st);
	aead_free(&kp->recv_st);
	sodium_memzero(kp, sizeof(*kp));
	free(kp);
}

/* Seal @len bytes of @plain into @ct, the tag after them, with @ad. */
static int aead_seal(struct keypair *kp, const uint8_t nonce[12],
		     const uint8_t *ad, const uint8_t *plain, size_t len,
		     uint8_t *ct)
{
	size_t clen = len + RMAP_AEAD_TAG_LEN;
	EVP_CIPHER_CTX *ctx;
	int n, fin;

#ifdef HAVE_IPSEC_MB
	if (kp->send_st.imb) {
		struct gcm_context_data gc;

		IMB_AES256_GCM_ENC(imb, kp->send_st.imb, &gc, ct, plain, len,
				   nonce, ad, RMAP_OUTER_LEN, ct + len,
				   RMAP_AEAD_TAG_LEN);
		sodium_memzero(&gc, sizeof(gc));
		return 0;
	}
#endif
	if (kp->send_st.gnutls) {
		if (gnutls_aead_cipher_encrypt(kp->send_st.gnutls, nonce, 12,
				ad, RMAP_OUTER_LEN, RMAP_AEAD_TAG_LEN, plain,
				len, ct, &clen))
			return -EIO;
		return clen == len + RMAP_AEAD_TAG_LEN ? 0 : -EIO;
	}
	ctx = kp->send_st.evp;
	if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, ad, RMAP_OUTER_LEN) != 1 ||
	    EVP_EncryptUpdate(ctx, ct, &n, plain, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(ctx, ct + n, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, RMAP_AEAD_TAG_LEN,
				ct + len) != 1)
		return -EIO;
	return 0;
}

/*
 * Open @clen bytes of @ct (the tag after them) into @out, with @ad.
 * What fails the tag may have been decrypted into @out all the same: the
 * caller uses nothing of it (it sees -EBADMSG).
 */
static int aead_open(struct keypair *kp, const uint8_t nonce[12],
		     const uint8_t *ad, const uint8_t *ct, size_t clen,
		     uint8_t *out)
{
	uint8_t tag[RMAP_AEAD_TAG_LEN];
	size_t plen = clen;
	EVP_CIPHER_CTX *ctx;
	int n, fin;

#ifdef HAVE_IPSEC_MB
	if (kp->recv_st.imb) {
		struct gcm_context_data gc;
		int bad;

		IMB_AES256_GCM_DEC(imb, kp->recv_st.imb, &gc, out, ct, clen,
				   nonce, ad, RMAP_OUTER_LEN, tag,
				   RMAP_AEAD_TAG_LEN);
		sodium_memzero(&gc, sizeof(gc));
		bad = sodium_memcmp(tag, ct + clen, RMAP_AEAD_TAG_LEN);
		return bad ? -EBADMSG : 0;
	}
#endif
	if (kp->recv_st.gnutls) {
		if (gnutls_aead_cipher_decrypt(kp->recv_st.gnutls, nonce, 12,
				ad, RMAP_OUTER_LEN, RMAP_AEAD_TAG_LEN, ct,
				clen + RMAP_AEAD_TAG_LEN, out, &plen))
			return -EBADMSG;
		return plen == clen ? 0 : -EBADMSG;
	}
	ctx = kp->recv_st.evp;
	memcpy(tag, ct + clen, sizeof(tag));
	if (EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, ad, RMAP_OUTER_LEN) != 1 ||
	    EVP_DecryptUpdate(ctx, out, &n, ct, (int)clen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, sizeof(tag),
				tag) != 1 ||
	    EVP_DecryptFinal_ex(ctx, out + n, &fin) != 1)
		return -EBADMSG;
	return 0;
}

int kp_seal(struct keypair *kp, const uint8_t *plain, size_t len,
	    uint8_t *out, size_t *out_len)
{
	uint8_t nonce[12];
	uint64_t ctr;

	if (kp->send_ctr >= REJECT_AFTER_MESSAGES)
		return -EKEYEXPIRED;
	if (len > INT32_MAX)
		return -EMSGSIZE;
	ctr = kp->send_ctr++;
	outer_put(out, RMAP_K_DATA, kp->remote_idx, ctr);
	nonce_of(ctr, nonce);
	/* The outer header is the associated data; the tag follows. */
	if (aead_seal(kp, nonce, out, plain, len, out + RMAP_OUTER_LEN))
		return -EIO;
	*out_len = RMAP_OUTER_LEN + len + RMAP_AEAD_TAG_LEN;
	return 0;
}

int kp_open(struct keypair *kp, const uint8_t *in, size_t len, uint8_t *out,
	    size_t *out_len, uint64_t *ctr)
{
	size_t clen;
	uint8_t nonce[12];

	if (len < RMAP_OUTER_LEN + RMAP_AEAD_TAG_LEN ||
	    len > (size_t)INT32_MAX)
		return -EBADMSG;
	*ctr = (uint64_t)wire_get32(in + 8) << 32 | wire_get32(in + 12);
	if (*ctr >= REJECT_AFTER_MESSAGES)
		return -EBADMSG;
	clen = len - RMAP_OUTER_LEN - RMAP_AEAD_TAG_LEN;
	nonce_of(*ctr, nonce);
	if (aead_open(kp, nonce, in, in + RMAP_OUTER_LEN, clen, out))
		return -EBADMSG;
	*out_len = clen;
	return 0;
}

/* ---- replay window ---- */

bool replay_fresh(const struct replay *rp, uint64_t ctr)
{
	if (ctr >= rp->top)
		return true;
	/* One word short of the ring, so a word is never shared. */
	if (rp->top - ctr > REPLAY_BITS - 64)
		return false;	/* too old to tell: refused */
	return !(rp->bits[(ctr / 64) % (REPLAY_BITS / 64)] >> (ctr % 64) & 1);
}

void replay_mark(struct replay *rp, uint64_t ctr)
{
	if (ctr >= rp->top) {
		/* Words between the old top and this one are empty now. */
		uint64_t from = rp->top / 64, to = ctr / 64;

		if (rp->top == 0 || to - from >= REPLAY_BITS / 64) {
			memset(rp->bits, 0, sizeof(rp->bits));
		} else {
			for (uint64_t w = from + 1; w <= to; w++)
				rp->bits[w % (REPLAY_BITS / 64)] = 0;
		}
		rp->top = ctr + 1;
	}
	rp->bits[(ctr / 64) % (REPLAY_BITS / 64)] |= 1ull << (ctr % 64);
}
