// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fault_bench.c - what a page fault served by memxd costs.
 *
 * Registers a region larger than its budget with the memxd on --socket,
 * fills it (so most pages end up evicted), then measures from a plain
 * host thread:
 *
 *   latency   first touch of pages that were evicted, in random order,
 *             one at a time: per-fault time, p50 and p99;
 *   seq       a sequential read of the whole region: MiB/s;
 *   random    random reads of evicted pages: MiB/s.
 *
 * Every page read is verified.  Prints key=value lines; the script
 * (fault-bench.sh) runs it against remote memory and against the floor
 * (memxd serving from local memory) and prints the ratios.
 *
 * For tests/bench/pagegroup-bench.sh:
 *   --touch-mib N        fill only the first N MiB (a sparse region)
 *   --fill-only          stop after the fill (and the pause)
 *   --fill-random        fill in a random page order (random evictions,
 *                        rarely whole stripes), not sequentially
 *   --no-scan            stop after the latency phase
 *   --pause-file PATH    after the fill, create PATH, write "fill" to
 *                        PATH.ready and wait until PATH is deleted (the
 *                        script kills a server meanwhile)
 *   --classify-degraded  ask memxd for its degraded_reads counter around
 *                        every latency sample (outside the timed part) and
 *                        report the p50 of degraded and of normal faults
 *                        apart (run memxd with --prefetch-max 0)
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../harness/pause.h"
#include "../harness/vmm_client.h"

#define PAGE VMM_PAGE_SIZE

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t tag(uint64_t page, unsigned gen)
{
	return page * 0x9e3779b97f4a7c15ull ^ (uint64_t)gen << 56 ^ 0x5a5a;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void shuffle(uint64_t *v, uint64_t n)
{
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = rnd() % (i + 1), t = v[i];

		v[i] = v[j];
		v[j] = t;
	}
}

/* memxd's degraded_reads for VM @name, or -1. */
static long long degraded_reads(const char *sock, const char *name)
{
	static const char *const keys[] = { "degraded_reads", NULL };
	struct vmm_kv kv;
	char err[256];
	long long v;

	if (vmm_get(sock, name, &kv, err, sizeof(err)))
		return -1;
	v = vmm_kv_num(&kv, keys, -1);
	vmm_kv_free(&kv);
	return v;
}

static const char *const parity_keys[] = {
	"evict_dirty", "parity_updates", "parity_stripes",
};
#define G_N_PARITY_KEYS (sizeof(parity_keys) / sizeof(parity_keys[0]))

static void print_memxd(const char *sock, const char *name, uint64_t nbudget)
{
	struct vmm_kv kv;
	char err[256];
	static const char *const k_net[] = { "net_faults", NULL };
	static const char *const k_max[] = { "max_resident_pages", NULL };
	static const char *const k_hit[] = { "prefetch_hit", NULL };
	static const char *const k_bpp[] = { "metadata_bytes_per_page", NULL };

	if (vmm_get(sock, name, &kv, err, sizeof(err)) == 0) {
		printf("net_faults=%lld\nmax_resident_pages=%lld\n"
		       "budget_pages=%lu\nprefetch_hit=%lld\n",
		       vmm_kv_num(&kv, k_net, -1),
		       vmm_kv_num(&kv, k_max, -1),
		       (unsigned long)nbudget,
		       vmm_kv_num(&kv, k_hit, -1));
		printf("bytes_per_page=%s\n",
		       vmm_kv_str(&kv, k_bpp[0]) ?
		       vmm_kv_str(&kv, k_bpp[0]) : "?");
		/* How the evicted pages' parity was kept. */
		for (unsigned i = 0; i < G_N_PARITY_KEYS; i++) {
			const char *const k[] = { parity_keys[i], NULL };

			printf("%s=%lld\n", parity_keys[i],
			       vmm_kv_num(&kv, k, -1));
		}
		vmm_kv_free(&kv);
	}
}

static int check(const uint8_t *mem, uint64_t page, unsigned gen)
{
	const uint64_t *w = (const uint64_t *)(mem + page * PAGE);

	if (w[0] != tag(page, gen) || w[PAGE / 8 - 1] != ~tag(page, gen)) {
		fprintf(stderr, "fault_bench: page %lu has wrong content\n",
			(unsigned long)page);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "size-mib", required_argument, NULL, 'z' },
		{ "budget-mib", required_argument, NULL, 'b' },
		{ "samples", required_argument, NULL, 'n' },
		{ "name", required_argument, NULL, 'N' },
		{ "touch-mib", required_argument, NULL, 't' },
		{ "fill-only", no_argument, NULL, 'F' },
		{ "fill-random", no_argument, NULL, 'R' },
		{ "no-scan", no_argument, NULL, 'S' },
		{ "pause-file", required_argument, NULL, 'P' },
		{ "classify-degraded", no_argument, NULL, 'C' },
		{ 0 }
	};
	const char *sock = NULL, *name = "fault-bench";
	struct pause_ctl pause = { .after = "fill", .timeout_s = 600 };
	uint64_t size_mib = 256, budget_mib = 32, samples = 4000;
	uint64_t touch_mib = 0, ntouch;
	int fill_only = 0, no_scan = 0, classify = 0, fill_random = 0;
	struct vmm_region r;
	char err[256];
	uint64_t npages, nbudget, *order, *lat, *dlat, *nlat, t0, t1;
	uint64_t nd = 0, nn = 0;
	volatile uint64_t sink = 0;
	int opt;

	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'z': size_mib = strtoull(optarg, NULL, 10); break;
		case 'b': budget_mib = strtoull(optarg, NULL, 10); break;
		case 'n': samples = strtoull(optarg, NULL, 10); break;
		case 'N': name = optarg; break;
		case 't': touch_mib = strtoull(optarg, NULL, 10); break;
		case 'F': fill_only = 1; break;
		case 'R': fill_random = 1; break;
		case 'S': no_scan = 1; break;
		case 'P': pause.file = optarg; break;
		case 'C': classify = 1; break;
		default:
			fprintf(stderr, "usage: fault_bench --socket PATH "
				"[--size-mib N] [--budget-mib N] [--samples N]\n"
				"  [--touch-mib N] [--fill-only] [--fill-random] "
				"[--no-scan] "
				"[--pause-file PATH] [--classify-degraded]\n");
			return 2;
		}
	}
	if (!sock || budget_mib * 2 > size_mib || !samples) {
		fprintf(stderr, "fault_bench: need --socket, and a size at "
			"least twice the budget\n");
		return 2;
	}
	if (touch_mib > size_mib || (touch_mib && !fill_only)) {
		fprintf(stderr, "fault_bench: --touch-mib must be at most the "
			"size, and needs --fill-only\n");
		return 2;
	}
	npages = size_mib << 20 >> 12;
	nbudget = budget_mib << 20 >> 12;
	ntouch = touch_mib ? touch_mib << 20 >> 12 : npages;
	if (vmm_region_create(&r, (size_t)(size_mib << 20), name, err,
			      sizeof(err))) {
		fprintf(stderr, "fault_bench: %s\n", err);
		return 1;
	}
	t0 = now_ns();
	if (vmm_register(&r, sock, name, budget_mib << 20, err, sizeof(err))) {
		fprintf(stderr, "fault_bench: registering %lu MiB: %s (after "
			"%.1f s)\n", (unsigned long)size_mib, err,
			(double)(now_ns() - t0) / 1e9);
		return 1;
	}
	printf("register_s=%.3f\n", (double)(now_ns() - t0) / 1e9);
	/* Fill: every page distinct, so nothing is a zero page. */
	order = calloc(npages, sizeof(*order));
	if (!order)
		return 1;
	for (uint64_t p = 0; p < ntouch; p++)
		order[p] = p;
	if (fill_random)
		shuffle(order, ntouch);
	t0 = now_ns();
	for (uint64_t i = 0; i < ntouch; i++) {
		uint64_t *w = (uint64_t *)(r.mem + order[i] * PAGE);

		w[0] = tag(order[i], 1);
		w[PAGE / 8 - 1] = ~tag(order[i], 1);
	}
	t1 = now_ns();
	printf("fill_s=%.3f\nfill_MiBps=%.1f\n", (double)(t1 - t0) / 1e9,
	       (double)(ntouch * PAGE) / (1 << 20) / ((double)(t1 - t0) / 1e9));
	fflush(stdout);
	if (pause_maybe(&pause, "fault_bench", "fill"))
		return 1;
	if (fill_only) {
		print_memxd(sock, name, nbudget);
		vmm_region_destroy(&r);
		free(order);
		return 0;
	}
	lat = calloc(samples, sizeof(*lat));
	dlat = calloc(samples, sizeof(*dlat));
	nlat = calloc(samples, sizeof(*nlat));
	if (!lat || !dlat || !nlat)
		return 1;

	/* Latency: pages far from the resident tail, random order. */
	{
		uint64_t cold = npages - 2 * nbudget, n = 0;

		for (uint64_t p = 0; p < cold; p++)
			order[n++] = p;
		shuffle(order, n);
		if (samples > n)
			samples = n;
		for (uint64_t i = 0; i < samples; i++) {
			uint64_t p = order[i];
			long long d0 = classify ? degraded_reads(sock, name) : 0;

			t0 = now_ns();
			sink += *(volatile uint64_t *)(r.mem + p * PAGE);
			lat[i] = now_ns() - t0;
			if (classify) {
				long long d1 = degraded_reads(sock, name);

				if (d0 >= 0 && d1 > d0)
					dlat[nd++] = lat[i];
				else
					nlat[nn++] = lat[i];
			}
			if (check(r.mem, p, 1))
				return 1;
		}
		qsort(lat, samples, sizeof(*lat), cmp_u64);
		printf("latency_samples=%lu\nlat_p50_us=%.1f\nlat_p99_us=%.1f\n",
		       (unsigned long)samples, (double)lat[samples / 2] / 1e3,
		       (double)lat[samples * 99 / 100] / 1e3);
		if (classify) {
			qsort(dlat, nd, sizeof(*dlat), cmp_u64);
			qsort(nlat, nn, sizeof(*nlat), cmp_u64);
			printf("degraded_samples=%lu\nlat_degraded_p50_us=%.1f\n"
			       "lat_degraded_p99_us=%.1f\nnormal_samples=%lu\n"
			       "lat_normal_p50_us=%.1f\n",
			       (unsigned long)nd,
			       nd ? (double)dlat[nd / 2] / 1e3 : 0.0,
			       nd ? (double)dlat[nd * 99 / 100] / 1e3 : 0.0,
			       (unsigned long)nn,
			       nn ? (double)nlat[nn / 2] / 1e3 : 0.0);
		}
		fflush(stdout);
	}
	if (no_scan)
		goto out;

	/* Rewrite all (new generation) so the whole region is cold again. */
	for (uint64_t p = 0; p < npages; p++) {
		uint64_t *w = (uint64_t *)(r.mem + p * PAGE);

		w[0] = tag(p, 2);
		w[PAGE / 8 - 1] = ~tag(p, 2);
	}
	/* Sequential scan from the cold end. */
	t0 = now_ns();
	for (uint64_t p = 0; p < npages; p++) {
		sink += *(volatile uint64_t *)(r.mem + p * PAGE);
		if (check(r.mem, p, 2))
			return 1;
	}
	t1 = now_ns();
	printf("seq_MiBps=%.1f\n", (double)size_mib / ((double)(t1 - t0) / 1e9));

	/* Random reads over the whole region. */
	{
		uint64_t n = npages < 4 * samples ? npages : 4 * samples;

		t0 = now_ns();
		for (uint64_t i = 0; i < n; i++) {
			uint64_t p = rnd() % npages;

			sink += *(volatile uint64_t *)(r.mem + p * PAGE);
			if (check(r.mem, p, 2))
				return 1;
		}
		t1 = now_ns();
		printf("random_MiBps=%.1f\n", (double)(n * PAGE) / (1 << 20) /
		       ((double)(t1 - t0) / 1e9));
	}
out:
	print_memxd(sock, name, nbudget);
	(void)sink;
	vmm_region_destroy(&r);
	free(order);
	free(lat);
	free(dlat);
	free(nlat);
	return 0;
}
