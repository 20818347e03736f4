/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * randrw - random reads and writes over a large array, verified.
 *
 *	randrw [MiB=256] [operations=1000000] [seed=1]
 *
 * Word i always holds i in its low 32 bits and a random version in its
 * high 32 bits.  Each operation reads a random word (its low half must be
 * its index: a lost, zeroed or misplaced page shows at once) and writes a
 * new version.  A running sum of every word (mixed) predicts the final
 * scan's.
 */
#include "workload.h"

int main(int argc, char **argv)
{
	size_t mib = wl_arg(argc, argv, 1, 256);
	size_t ops = wl_arg(argc, argv, 2, 1000000);
	uint64_t seed = wl_arg(argc, argv, 3, 1) * 0x9e3779b97f4a7c15ULL + 7;
	size_t n = mib << 17, bad = 0;	/* 8-byte words */
	struct wl_progress p = { "randrw", "random", ops, -1 };
	uint64_t *a, predicted = 0, scanned = 0;
	double t0 = wl_now(), t_fill, t_ops;

	a = malloc(n * sizeof(*a));
	if (!a) {
		printf("randrw: cannot allocate %zu MiB verify=FAIL\n", mib);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		a[i] = (uint64_t)i | (wl_xorshift(&seed) << 32);
		predicted += wl_mix(a[i]);
	}
	t_fill = wl_now();
	for (size_t k = 0; k < ops; k++) {
		uint64_t r = wl_xorshift(&seed);
		size_t i = (size_t)(r % n);
		uint64_t old = a[i], new = (uint64_t)i | (r & 0xffffffff00000000ULL);

		if ((uint32_t)old != (uint32_t)i && bad++ < 5)
			printf("randrw: word %zu holds 0x%016" PRIx64 "\n", i,
			       old);
		a[i] = new;
		predicted += wl_mix(new) - wl_mix(old);
		if (!(k & 0xffff))
			wl_progress(&p, k);
	}
	t_ops = wl_now();
	for (size_t i = 0; i < n; i++) {
		if ((uint32_t)a[i] != (uint32_t)i && bad++ < 5)
			printf("randrw: word %zu holds 0x%016" PRIx64 "\n", i,
			       a[i]);
		scanned += wl_mix(a[i]);
	}
	if (scanned != predicted)
		bad++;
	printf("randrw: mib=%zu ops=%zu bad=%zu checksum=0x%016" PRIx64
	       " expected=0x%016" PRIx64 " verify=%s time=%.2f"
	       " fill_s=%.2f random_s=%.2f check_s=%.2f\n", mib, ops,
	       bad, scanned, predicted, bad ? "FAIL" : "ok", wl_now() - t0,
	       t_fill - t0, t_ops - t_fill, wl_now() - t_ops);
	free(a);
	return bad ? 1 : 0;
}
