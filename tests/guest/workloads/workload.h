/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * workload.h - helpers shared by the guest workloads.
 *
 * The workloads run as static binaries in the test guest's initramfs.
 * Each prints one result line:
 *
 *	<name>: ... checksum=0x<16 hex digits> verify=ok|FAIL time=<s>
 *
 * and exits 0 only if its own verification passed, so /init can print a
 * PASS/FAIL marker.  Values come from a seeded xorshift generator, so a
 * run with the same arguments always gives the same checksum.
 */
#ifndef MEMX_WORKLOAD_H
#define MEMX_WORKLOAD_H

#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline uint64_t wl_xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* A strong 64-bit mix (splitmix64's finaliser), for order-free sums. */
static inline uint64_t wl_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static inline double wl_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A size in MiB from argv, or the default. */
static inline size_t wl_arg(int argc, char **argv, int i, size_t def)
{
	return argc > i ? (size_t)strtoull(argv[i], NULL, 0) : def;
}

/* "<name>: <phase> <pct>%" lines, at most every 10%, for visible progress. */
struct wl_progress {
	const char *name, *phase;
	size_t total;
	int last;
};

static inline void wl_progress(struct wl_progress *p, size_t done)
{
	int pct = p->total ? (int)(done * 100 / p->total) : 100;

	if (pct / 10 != p->last / 10 || p->last < 0) {
		printf("%s: %s %d%%\n", p->name, p->phase, pct);
		fflush(stdout);
		p->last = pct;
	}
}

#endif
