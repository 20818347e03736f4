/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qsort - quicksort N MiB of random 32-bit integers and verify the result:
 * sorted order, and the same multiset (an order-independent checksum taken
 * before and after).
 *
 *	qsort [MiB=64] [seed=1]
 *
 * Our own quicksort (median of three, insertion sort below 16, recursion
 * on the smaller side), so the work is the same on every libc.
 */
#include "workload.h"

static void insertion_sort(uint32_t *a, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		uint32_t v = a[i];
		size_t j = i;

		while (j > 0 && a[j - 1] > v) {
			a[j] = a[j - 1];
			j--;
		}
		a[j] = v;
	}
}

static inline void swap32(uint32_t *x, uint32_t *y)
{
	uint32_t t = *x;

	*x = *y;
	*y = t;
}

static struct wl_progress progress = { "qsort", "sort", 0, -1 };
static size_t sorted_so_far;

static void quicksort(uint32_t *a, size_t n)
{
	while (n > 16) {
		size_t mid = n / 2, i = 0, j = n - 1;
		uint32_t pivot;

		if (a[mid] < a[0])
			swap32(&a[mid], &a[0]);
		if (a[n - 1] < a[0])
			swap32(&a[n - 1], &a[0]);
		if (a[n - 1] < a[mid])
			swap32(&a[n - 1], &a[mid]);
		pivot = a[mid];
		for (;;) {	/* Hoare partition */
			while (a[i] < pivot)
				i++;
			while (a[j] > pivot)
				j--;
			if (i >= j)
				break;
			swap32(&a[i++], &a[j--]);
		}
		/* a[0..j] <= pivot <= a[j+1..n) */
		if (j + 1 < n - j - 1) {
			quicksort(a, j + 1);
			a += j + 1;
			n -= j + 1;
		} else {
			quicksort(a + j + 1, n - j - 1);
			n = j + 1;
		}
	}
	insertion_sort(a, n);
	sorted_so_far += n;
	if ((sorted_so_far & ~(size_t)0xffff) != ((sorted_so_far - n) & ~(size_t)0xffff))
		wl_progress(&progress, sorted_so_far);
}

int main(int argc, char **argv)
{
	size_t mib = wl_arg(argc, argv, 1, 64);
	uint64_t seed = wl_arg(argc, argv, 2, 1) * 0x2545f4914f6cdd1dULL + 1;
	size_t n = mib << 18, unsorted = 0;	/* 4-byte integers */
	uint64_t before = 0, after = 0;
	double t0 = wl_now(), t1, t2;
	uint32_t *a;
	int ok;

	a = malloc(n * sizeof(*a));
	if (!a) {
		printf("qsort: cannot allocate %zu MiB verify=FAIL\n", mib);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		a[i] = (uint32_t)(wl_xorshift(&seed) >> 16);
		before += wl_mix(a[i]);
	}
	t1 = wl_now();
	printf("qsort: generated %zu MiB (%zu integers) in %.2fs\n", mib, n,
	       t1 - t0);
	fflush(stdout);
	progress.total = n;
	quicksort(a, n);
	t2 = wl_now();
	for (size_t i = 0; i < n; i++) {
		if (i && a[i - 1] > a[i] && unsorted++ < 5)
			printf("qsort: a[%zu]=%u > a[%zu]=%u\n", i - 1, a[i - 1],
			       i, a[i]);
		after += wl_mix(a[i]);
	}
	ok = !unsorted && before == after;
	printf("qsort: mib=%zu n=%zu sort_s=%.2f unsorted=%zu "
	       "checksum=0x%016" PRIx64 " expected=0x%016" PRIx64
	       " verify=%s time=%.2f\n", mib, n, t2 - t1, unsorted, after,
	       before, ok ? "ok" : "FAIL", wl_now() - t0);
	free(a);
	return ok ? 0 : 1;
}
