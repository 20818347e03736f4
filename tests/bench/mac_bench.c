// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mac_bench.c - what a page's MAC costs (memxd/pager/integrity.h): the
 * time to tag a 4 KiB page, and to check one, on this CPU, with the MAC
 * every new VM gets (Poly1305-AES), and with SipHash, an older memxd's,
 * measured in the same run as the baseline.  Prints "mac-bench:
 * tag_us=... check_us=... crypt_us=... MiBps=... siphash_tag_us=...
 * siphash_check_us=... siphash_over_poly=... pages=... bad=...".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memxd/pager/integrity.h"

#define PAGES	256u

static uint8_t pages[PAGES * RMAP_PAGE_SIZE], tags[PAGES * TAG_LEN];

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Seconds to tag, then to check, @rounds x PAGES pages; bad checks. */
static unsigned time_mac(const struct integrity *in, unsigned rounds,
			 double *tag_s, double *check_s)
{
	unsigned bad = 0;
	double t0;

	t0 = now();
	for (unsigned r = 0; r < rounds; r++)
		for (unsigned p = 0; p < PAGES; p++)
			integrity_tag(in, p, (uint8_t)r,
				      pages + (size_t)p * RMAP_PAGE_SIZE,
				      tags + p * TAG_LEN);
	*tag_s = now() - t0;
	t0 = now();
	for (unsigned r = 0; r < rounds; r++)
		for (unsigned p = 0; p < PAGES; p++)
			bad += !integrity_check(in, p, (uint8_t)(rounds - 1),
						pages + (size_t)p *
						RMAP_PAGE_SIZE,
						tags + p * TAG_LEN);
	*check_s = now() - t0;
	/* A page changed by one bit must fail. */
	pages[123] ^= 0x10;
	bad += integrity_check(in, 0, (uint8_t)(rounds - 1), pages, tags);
	pages[123] ^= 0x10;
	return bad;
}

int main(int argc, char **argv)
{
	unsigned rounds = argc > 1 ? (unsigned)atoi(argv[1]) : 200;
	uint8_t key[INTEGRITY_KEY_LEN];
	struct integrity in, sip;
	double tag_s, check_s, sip_tag_s, sip_check_s, crypt_s, t0;
	unsigned bad;

	if (!rounds || integrity_global_init())
		return 1;
	integrity_new_key(key);
	if (integrity_init(&in, key, true, true, INTEGRITY_POLY_AES) ||
	    integrity_init(&sip, key, true, true, INTEGRITY_SIPHASH))
		return 1;
	for (size_t i = 0; i < sizeof(pages); i++)
		pages[i] = (uint8_t)(i * 2654435761u >> 13);
	bad = time_mac(&in, rounds, &tag_s, &check_s);
	bad += time_mac(&sip, rounds, &sip_tag_s, &sip_check_s);
	/* --page-encryption: XChaCha20 of the page, either way. */
	t0 = now();
	for (unsigned r = 0; r < rounds; r++)
		for (unsigned p = 0; p < PAGES; p++)
			integrity_crypt(&in, p, tags + p * TAG_LEN,
					pages + (size_t)p * RMAP_PAGE_SIZE);
	crypt_s = now() - t0;
	printf("mac-bench: tag_us=%.3f check_us=%.3f crypt_us=%.3f MiBps=%.0f "
	       "siphash_tag_us=%.3f siphash_check_us=%.3f "
	       "siphash_over_poly=%.2f pages=%u bad=%u\n",
	       tag_s * 1e6 / (rounds * PAGES),
	       check_s * 1e6 / (rounds * PAGES),
	       crypt_s * 1e6 / (rounds * PAGES),
	       (double)rounds * PAGES / 256.0 / tag_s,
	       sip_tag_s * 1e6 / (rounds * PAGES),
	       sip_check_s * 1e6 / (rounds * PAGES),
	       sip_tag_s / tag_s, rounds * PAGES, bad);
	integrity_fini(&in);
	integrity_fini(&sip);
	return bad ? 1 : 0;
}
