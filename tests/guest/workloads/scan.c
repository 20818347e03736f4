/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * scan - sequential scans of an array larger than the memory it is given:
 * one pass writes every word, then each of P passes reads every word in
 * order and checks it.  Paging sees a stream: readahead and prefetch
 * should shine, and an LRU that keeps the oldest pages loses every one.
 *
 *	scan [MiB=256] [passes=4] [seed=1]
 *
 * Word i holds wl_mix(i ^ seed') (incompressible, position-dependent: a
 * lost, zeroed or misplaced page shows at once).  The checksum is the
 * order-free sum of what the last pass read; every pass must read the
 * same sum.
 */
#include "workload.h"

static uint64_t word(size_t i, uint64_t seed)
{
	return wl_mix((uint64_t)i ^ seed);
}

int main(int argc, char **argv)
{
	size_t mib = wl_arg(argc, argv, 1, 256);
	unsigned passes = (unsigned)wl_arg(argc, argv, 2, 4);
	uint64_t seed = wl_arg(argc, argv, 3, 1) * 0xd1342543de82ef95ULL;
	size_t n = mib << 17, bad = 0;	/* 8-byte words */
	uint64_t *a, want = 0, sum = 0;
	double t0 = wl_now(), tp;

	a = malloc(n * sizeof(*a));
	if (!a) {
		printf("scan: cannot allocate %zu MiB verify=FAIL\n", mib);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		a[i] = word(i, seed);
		want += a[i];
	}
	printf("scan: wrote %zu MiB in %.2fs\n", mib, wl_now() - t0);
	fflush(stdout);
	for (unsigned p = 1; p <= passes; p++) {
		tp = wl_now();
		sum = 0;
		for (size_t i = 0; i < n; i++) {
			uint64_t v = a[i];

			if (v != word(i, seed) && bad++ < 5)
				printf("scan: pass %u: word %zu is 0x%016" PRIx64
				       "\n", p, i, v);
			sum += v;
		}
		if (sum != want)
			bad++;
		printf("scan: pass %u/%u read %zu MiB in %.2fs\n", p, passes,
		       mib, wl_now() - tp);
		fflush(stdout);
	}
	printf("scan: mib=%zu passes=%u bad=%zu checksum=0x%016" PRIx64
	       " expected=0x%016" PRIx64 " verify=%s time=%.2f\n", mib,
	       passes, bad, sum, want, bad ? "FAIL" : "ok", wl_now() - t0);
	free(a);
	return bad ? 1 : 0;
}
