/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sweep - write then verify a buffer, over and over: a working set that
 * cycles through all of it, the pattern that thrashes an LRU-like
 * eviction policy when the buffer is larger than the memory it has.
 *
 *	sweep [MiB=160] [passes=4] [seed=1]
 *
 * Each pass writes every word with a value of its index and the pass,
 * then reads every word back and checks it.  Prints each pass's time and
 * the total.
 */
#include "workload.h"

static uint64_t value(size_t i, size_t pass, uint64_t seed)
{
	return wl_mix((uint64_t)i ^ ((uint64_t)pass << 40) ^ (seed << 56));
}

int main(int argc, char **argv)
{
	size_t mib = wl_arg(argc, argv, 1, 160);
	size_t passes = wl_arg(argc, argv, 2, 4);
	uint64_t seed = wl_arg(argc, argv, 3, 1);
	size_t n = mib << 17, bad = 0;	/* 8-byte words */
	double t0 = wl_now();
	uint64_t *a, sum = 0;

	a = malloc(n * sizeof(*a));
	if (!a) {
		printf("sweep: cannot allocate %zu MiB verify=FAIL\n", mib);
		return 1;
	}
	for (size_t pass = 0; pass < passes; pass++) {
		double tp = wl_now();

		for (size_t i = 0; i < n; i++)
			a[i] = value(i, pass, seed);
		for (size_t i = 0; i < n; i++) {
			if (a[i] != value(i, pass, seed) && bad++ < 5)
				printf("sweep: pass %zu word %zu is 0x%016"
				       PRIx64 "\n", pass, i, a[i]);
			sum += a[i];
		}
		printf("sweep: pass %zu of %zu: %.2f s\n", pass + 1, passes,
		       wl_now() - tp);
		fflush(stdout);
	}
	printf("sweep: mib=%zu passes=%zu bad_words=%zu checksum=0x%016" PRIx64
	       " verify=%s time=%.2f\n", mib, passes, bad, sum,
	       bad ? "FAIL" : "ok", wl_now() - t0);
	free(a);
	return bad ? 1 : 0;
}
