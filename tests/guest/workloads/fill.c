/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fill - fill N MiB with a position-dependent pattern, then read it all
 * back and check every word.  The checksum is over the words read back.
 *
 *	fill [MiB=256] [seed=1]
 */
#include "workload.h"

int main(int argc, char **argv)
{
	size_t mib = wl_arg(argc, argv, 1, 256);
	uint64_t seed = wl_arg(argc, argv, 2, 1);
	size_t n = mib << 17, bad = 0;	/* 8-byte words */
	struct wl_progress p = { "fill", "write", n, -1 };
	uint64_t *a, sum = 0;
	double t0 = wl_now();

	a = malloc(n * sizeof(*a));
	if (!a) {
		printf("fill: cannot allocate %zu MiB verify=FAIL\n", mib);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		a[i] = wl_mix(i ^ (seed << 48));
		if (!(i & 0xfffff))
			wl_progress(&p, i);
	}
	p.phase = "verify";
	p.last = -1;
	for (size_t i = 0; i < n; i++) {
		if (a[i] != wl_mix(i ^ (seed << 48)) && bad++ < 5)
			printf("fill: word %zu is 0x%016" PRIx64 "\n", i, a[i]);
		sum += wl_mix(a[i] + i);
		if (!(i & 0xfffff))
			wl_progress(&p, i);
	}
	printf("fill: mib=%zu bad_words=%zu checksum=0x%016" PRIx64
	       " verify=%s time=%.2f\n", mib, bad, sum, bad ? "FAIL" : "ok",
	       wl_now() - t0);
	free(a);
	return bad ? 1 : 0;
}
