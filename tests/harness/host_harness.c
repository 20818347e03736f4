// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * host_harness.c - plain CPU threads fault on a region memxd pages.
 *
 * Registers a memfd region with memxd exactly as QEMU does (vmm_client.c),
 * four times larger than its budget by default, then writes and verifies
 * every byte of it in several access orders: sequential, random, strided,
 * rewrites (clean versus dirty eviction), a discard, threads racing on
 * the same pages, and discards racing the evictions of a tight budget.
 * Every 8 bytes hold a tag derived from the page index, the word offset
 * and the page's generation, so a lost write shows up as an older
 * generation and a lost page as zeros.  Meanwhile a sampler
 * thread watches the mapping's Rss in /proc/self/smaps and memxd's own
 * resident count, and fails the run if either exceeds budget + slack.
 *
 * A SIGBUS on a page of the region (memxd answers a fault on a page it
 * has lost with UFFDIO_POISON) is a loud failure naming the page, unless
 * --lost-ok: then each access runs under a per-thread sigsetjmp, the page
 * is recorded as lost and skipped from then on (never written or verified
 * again), and the run ends with lost_pages=N and lost_range=FIRST-LAST
 * lines.  A page that reads back wrong still fails the run.
 *
 * --pause-after PHASE[,PHASE...] --pause-file PATH lets a test act
 * mid-workload: after the first phase named PHASE (or at "end": after the
 * verdict, while still registered with memxd) the harness creates PATH,
 * then writes the phase name to PATH.ready, and waits until the test
 * deletes PATH.
 *
 * --sweep N replaces those phases with a cyclic sweep: N passes in page
 * order, each verifying every word of every page and writing the page's
 * next generation, then a last verifying pass.  Run with a region larger
 * than the budget, it is the access pattern that thrashes plain CLOCK
 * (tests/pager-host.sh compares memxd's eviction policies on it).
 *
 * Exit 0 only if every byte verified and resident memory stayed bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pause.h"
#include "vmm_client.h"

#define PAGE		VMM_PAGE_SIZE
#define WORDS		(PAGE / 8)
#define SLICE_WORDS	8		/* threads interleave 64-byte slices */
#define DEFAULT_SLACK	64
#define MAX_THREADS	64
#define MAX_REPORTS	8
#define MAX_LOST_REPORTS 8
#define DEFAULT_PAUSE_TIMEOUT 300

static const char *const resident_keys[] = {
	"resident_pages", "resident", NULL
};
static const char *const slack_keys[] = { "slack_pages", NULL };

struct harness {
	const char *socket;
	const char *name;
	size_t size;
	uint64_t budget;
	unsigned threads;
	unsigned rounds;
	unsigned sweep;			/* --sweep: passes, 0: the usual phases */
	uint64_t seed;
	long slack_override;
	bool no_discard;
	unsigned timeout_s;
	bool lost_ok;			/* SIGBUS: count the page as lost */
	struct pause_ctl pause;		/* --pause-after, --pause-file */
	size_t test_sigbus_tail;	/* self-test of --lost-ok, see usage */

	struct vmm_region r;
	size_t npages;
	uint32_t *gen;			/* expected generation per page */
	uint32_t next_gen;
	/* The discard race's discarder numbers its own generations above
	 * next_gen while it runs: the highest, for report_mismatch(). */
	atomic_uint race_gen;
	atomic_uchar *lost;		/* --lost-ok: 1 once a page raised SIGBUS */
	atomic_ullong lost_count;

	atomic_ullong bytes_verified;
	atomic_ullong pages_touched;
	atomic_uint errors;
	atomic_uint discards_dropped;	/* sent while memxd was away */
	atomic_bool stop_sampler;
	atomic_llong max_rss_pages;	/* less the walk's possible skew */
	atomic_llong max_rss_raw;
	atomic_llong max_resident_pages;
	atomic_llong cur_rss_pages;
	long long slack_pages;
	long long budget_pages;
	bool have_memxd_resident;
};

static const char *volatile current_phase = "setup";

/* For the SIGBUS handler: the region, and where each thread may jump. */
static struct harness *sigbus_harness;
static __thread sigjmp_buf access_jmp;
static __thread volatile sig_atomic_t access_armed;
static __thread volatile size_t access_lost_page;

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Generation 0 is "never written": it must read as zeros. */
static uint64_t tag(const struct harness *h, size_t page, unsigned word,
		    uint32_t gen)
{
	if (!gen)
		return 0;
	return splitmix64(((uint64_t)page << 9 | word) ^
			  ((uint64_t)gen << 44) ^ h->seed) | 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Explain a mismatch: which generation (if any) the bad word belongs to. */
static void report_mismatch(struct harness *h, size_t page, unsigned word,
			    uint64_t want, uint64_t got)
{
	unsigned n = atomic_fetch_add(&h->errors, 1);
	const char *what = "garbage";
	char buf[64];

	if (n >= MAX_REPORTS) {
		if (n == MAX_REPORTS)
			fprintf(stderr, "host-harness: (further mismatches "
				"not shown)\n");
		return;
	}
	if (got == 0) {
		what = "zeros (page lost or zero-filled)";
	} else {
		uint32_t top = atomic_load(&h->race_gen);

		if (top < h->next_gen)
			top = h->next_gen;
		for (uint32_t g = 1; g <= top; g++) {
			if (got == tag(h, page, word, g)) {
				snprintf(buf, sizeof(buf),
					 "generation %u (%s)", g,
					 !h->gen[page] ?
					 "old contents of a discarded page" :
					 g < h->gen[page] ?
					 "stale: a lost write" : "newer");
				what = buf;
				break;
			}
		}
	}
	fprintf(stderr, "host-harness: FAIL in %s: page %zu offset %u: "
		"expected %016" PRIx64 " (generation %u), got %016" PRIx64
		": %s\n", current_phase, page, word * 8, want, h->gen[page],
		got, what);
}

/* Write the words of @page that belong to slice @part of @parts. */
static void page_write_raw(struct harness *h, size_t page, uint32_t gen,
			   unsigned part, unsigned parts)
{
	volatile uint64_t *w = (volatile uint64_t *)(h->r.mem + page * PAGE);

	for (unsigned i = 0; i < WORDS; i++)
		if ((i / SLICE_WORDS) % parts == part)
			w[i] = tag(h, page, i, gen);
	atomic_fetch_add(&h->pages_touched, 1);
}

static bool page_verify_raw(struct harness *h, size_t page)
{
	volatile uint64_t *w = (volatile uint64_t *)(h->r.mem + page * PAGE);
	uint32_t gen = h->gen[page];
	bool ok = true;

	for (unsigned i = 0; i < WORDS; i++) {
		uint64_t got = w[i], want = tag(h, page, i, gen);

		if (got != want) {
			report_mismatch(h, page, i, want, got);
			ok = false;
		}
	}
	atomic_fetch_add(&h->bytes_verified, PAGE);
	atomic_fetch_add(&h->pages_touched, 1);
	return ok;
}

/* ---- lost pages (--lost-ok) ---- */

/*
 * memxd poisons a page it cannot rebuild: the access raises SIGBUS with
 * si_addr on that page.  Under --lost-ok the accessing thread jumps back
 * to the guard in page_write()/page_verify(); otherwise it is a failure
 * that names the page.  A SIGBUS outside the region is not ours: the
 * default action (a core dump) shows where.
 */
static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	struct harness *h = sigbus_harness;
	const uint8_t *a = si->si_addr;
	char msg[256];
	int n;

	(void)uc;
	if (h && h->r.mem && a >= h->r.mem && a < h->r.mem + h->r.size) {
		size_t page = (size_t)(a - h->r.mem) / PAGE;

		if (h->lost_ok && access_armed) {
			access_armed = 0;
			access_lost_page = page;
			siglongjmp(access_jmp, 1);
		}
		n = snprintf(msg, sizeof(msg), "host-harness: FAIL: SIGBUS "
			     "(si_code %d%s) on page %zu (address %p) in phase "
			     "%s: memxd poisoned a page it could not serve "
			     "(run with --lost-ok to count lost pages)\n",
			     si->si_code, si->si_code == BUS_MCEERR_AR ?
			     ", BUS_MCEERR_AR" : "", page, si->si_addr,
			     current_phase);
		if (n > 0 && write(2, msg, (size_t)n) < 0)
			_exit(1);
		_exit(1);
	}
	signal(sig, SIG_DFL);	/* re-executes the access and dumps core */
}

static void mark_lost(struct harness *h, size_t page)
{
	unsigned long long n;

	if (atomic_exchange(&h->lost[page], 1))
		return;
	n = atomic_fetch_add(&h->lost_count, 1);
	if (n < MAX_LOST_REPORTS)
		printf("host-harness: page %zu lost (SIGBUS) in %s\n", page,
		       current_phase);
	else if (n == MAX_LOST_REPORTS)
		printf("host-harness: (further lost pages not shown)\n");
}

static void page_write(struct harness *h, size_t page, uint32_t gen,
		       unsigned part, unsigned parts)
{
	if (!h->lost_ok) {
		page_write_raw(h, page, gen, part, parts);
		return;
	}
	if (atomic_load(&h->lost[page]))
		return;
	if (sigsetjmp(access_jmp, 1)) {
		mark_lost(h, access_lost_page);
		return;
	}
	access_armed = 1;
	page_write_raw(h, page, gen, part, parts);
	access_armed = 0;
}

static bool page_verify(struct harness *h, size_t page)
{
	bool ok;

	if (!h->lost_ok)
		return page_verify_raw(h, page);
	if (atomic_load(&h->lost[page]))
		return true;
	if (sigsetjmp(access_jmp, 1)) {
		mark_lost(h, access_lost_page);
		return true;
	}
	access_armed = 1;
	ok = page_verify_raw(h, page);
	access_armed = 0;
	return ok;
}

/* lost_pages=N, then one lost_range=FIRST-LAST per run of lost pages. */
static void print_lost(struct harness *h)
{
	unsigned long long n = 0;

	for (size_t p = 0; p < h->npages; p++)
		n += atomic_load(&h->lost[p]) ? 1 : 0;
	printf("lost_pages=%llu\n", n);
	for (size_t p = 0; p < h->npages; p++) {
		size_t first = p;

		if (!atomic_load(&h->lost[p]))
			continue;
		while (p + 1 < h->npages && atomic_load(&h->lost[p + 1]))
			p++;
		printf("lost_range=%zu-%zu\n", first, p);
	}
}

/* ---- pausing for the test script (--pause-after/--pause-file) ---- */

static const char *const phase_names[] = {
	"zero-verify", "seq-write", "seq-verify", "random-verify",
	"random-write", "strided-write", "strided-verify", "rewrite-all",
	"verify-all", "rewrite-half", "verify-all-clean",
	"discard+verify-zero", "late-discard-pending", "late-discard",
	"concurrent", "discard-race",
	"final-verify", "sweep", "end", NULL
};

/* Let the test script act after @name if it asked to (pause.h). */
static void maybe_pause(struct harness *h, const char *name)
{
	if (pause_maybe(&h->pause, "host-harness", name))
		exit(1);
}

/* ---- access orders ---- */

static size_t gcd(size_t a, size_t b)
{
	while (b) {
		size_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

static void order_seq(struct harness *h, size_t *o)
{
	for (size_t i = 0; i < h->npages; i++)
		o[i] = i;
}

static void order_random(struct harness *h, size_t *o, uint64_t salt)
{
	order_seq(h, o);
	for (size_t i = h->npages - 1; i > 0; i--) {
		size_t j = splitmix64(h->seed ^ salt ^ i) % (i + 1), t = o[i];

		o[i] = o[j];
		o[j] = t;
	}
}

/* Visit every page with a stride coprime to the page count. */
static void order_strided(struct harness *h, size_t *o, size_t stride)
{
	while (gcd(stride, h->npages) != 1)
		stride++;
	for (size_t i = 0; i < h->npages; i++)
		o[i] = (i * stride) % h->npages;
	printf("host-harness:   stride %zu pages\n", stride);
}

/* ---- phases ---- */

static void phase_begin(struct harness *h, const char *name, double *t0)
{
	current_phase = name;
	*t0 = now_s();
}

static void phase_end(struct harness *h, const char *name, double t0,
		      size_t pages)
{
	double dt = now_s() - t0;
	struct vmm_kv kv;
	char err[256];
	long long res = -1;

	if (!vmm_get(h->socket, h->name, &kv, err, sizeof(err))) {
		res = vmm_kv_num(&kv, resident_keys, -1);
		vmm_kv_free(&kv);
	}
	printf("host-harness: %-22s %7zu pages %7.2f s %8.1f MiB/s  "
	       "rss %lld (max %lld) memxd resident %lld (max %lld) "
	       "bad words %u\n", name, pages, dt,
	       dt > 0 ? (double)pages * PAGE / dt / (1 << 20) : 0.0,
	       (long long)atomic_load(&h->cur_rss_pages),
	       (long long)atomic_load(&h->max_rss_pages), res,
	       (long long)atomic_load(&h->max_resident_pages),
	       atomic_load(&h->errors));
	fflush(stdout);
	maybe_pause(h, name);
}

static void write_pages(struct harness *h, const size_t *o, size_t n,
			uint32_t gen)
{
	for (size_t i = 0; i < n; i++) {
		page_write(h, o[i], gen, 0, 1);
		h->gen[o[i]] = gen;
	}
}

static void verify_pages(struct harness *h, const size_t *o, size_t n)
{
	for (size_t i = 0; i < n; i++)
		page_verify(h, o[i]);
}

static void run_write(struct harness *h, const char *name, const size_t *o,
		      size_t n)
{
	double t0;
	uint32_t gen = ++h->next_gen;

	phase_begin(h, name, &t0);
	write_pages(h, o, n, gen);
	phase_end(h, name, t0, n);
}

static void run_verify(struct harness *h, const char *name, const size_t *o,
		       size_t n)
{
	double t0;

	phase_begin(h, name, &t0);
	verify_pages(h, o, n);
	phase_end(h, name, t0, n);
}

/*
 * The VMM's half of a discard: punch the memfd, MADV_DONTNEED the mapping
 * (the REMOVE event).  From then on the pages read as zeros.
 */
static int discard_punch(struct harness *h, size_t first, size_t count)
{
	int ret;

	if (fallocate(h->r.memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)(first * PAGE), (off_t)(count * PAGE)) < 0 ||
	    madvise(h->r.mem + first * PAGE, count * PAGE, MADV_DONTNEED) < 0) {
		ret = -errno;
		fprintf(stderr, "host-harness: FAIL: discard punch: %s\n",
			strerror(-ret));
		atomic_fetch_add(&h->errors, 1);
		return ret;
	}
	for (size_t p = first; p < first + count; p++)
		h->gen[p] = 0;
	return 0;
}

/* The discard= that follows the punch. */
static int discard_tell(struct harness *h, size_t first, size_t count)
{
	char err[256];
	int ret;

	ret = vmm_discard(&h->r, first * PAGE, count * PAGE, err, sizeof(err));
	if (ret == -ENOTCONN || ret == -ECONNRESET || ret == -EPIPE) {
		if (atomic_fetch_add(&h->discards_dropped, 1) < MAX_REPORTS)
			printf("host-harness: discard=%zu,%zu dropped: memxd "
			       "is away (%s); the next memxd finds the hole\n",
			       first * PAGE, count * PAGE, err);
		return 0;
	}
	if (ret) {
		fprintf(stderr, "host-harness: FAIL: discard=%zu,%zu refused: "
			"%s\n", first * PAGE, count * PAGE, err);
		atomic_fetch_add(&h->errors, 1);
	}
	return ret;
}

/*
 * Discard [first, first + count) as QEMU discards guest-freed RAM: punch
 * the memfd, MADV_DONTNEED the mapping (the REMOVE event), then tell
 * memxd.  From the punch on the pages must read as zeros, whatever memxd
 * says.  A discard that memxd went away under (-ENOTCONN between memxds,
 * -ECONNRESET or -EPIPE mid-request) is dropped, as QEMU drops it: the
 * hole is punched and the REMOVE event waits in the userfaultfd, so the
 * next memxd finds both when it takes the VM over.  0 once sent or
 * dropped; -errno, with a FAIL counted, if the punch failed or memxd
 * refused it.
 */
static int discard_pages(struct harness *h, size_t first, size_t count)
{
	int ret = discard_punch(h, first, count);

	return ret ? ret : discard_tell(h, first, count);
}

/* The discard phase: a discard, then every page of it reads as zeros. */
static int run_discard(struct harness *h, size_t first, size_t count)
{
	size_t *o = calloc(count, sizeof(*o));
	double t0;
	int ret;

	if (!o)
		return -ENOMEM;
	phase_begin(h, "discard", &t0);
	ret = discard_pages(h, first, count);
	if (ret) {
		free(o);
		return ret;
	}
	for (size_t i = 0; i < count; i++)
		o[i] = first + i;
	verify_pages(h, o, count);
	phase_end(h, "discard+verify-zero", t0, count);
	free(o);
	return 0;
}

/* How many of pages [first, first + count) the memfd holds (mincore). */
static size_t pages_in_memfd(struct harness *h, size_t first, size_t count)
{
	unsigned char vec[256];
	size_t n = 0;

	for (size_t p = first; p < first + count; p += sizeof(vec)) {
		size_t k = first + count - p < sizeof(vec) ?
			   first + count - p : sizeof(vec);

		if (mincore(h->r.mem + p * PAGE, k * PAGE, vec) < 0)
			return count;
		for (size_t i = 0; i < k; i++)
			n += vec[i] & 1;
	}
	return n;
}

/*
 * A discard= that reaches memxd late.  QEMU punches, madvises (the REMOVE
 * event) and then tells memxd; here the guest writes the pages again and
 * they leave for the servers before memxd reads the discard=, which must
 * then leave them alone.  The pages must read what was written after the
 * REMOVE.
 */
static int run_late_discard(struct harness *h, size_t first, size_t count)
{
	uint32_t gen = ++h->next_gen;
	size_t left = count;
	double t0;
	int ret;

	phase_begin(h, "late-discard", &t0);
	ret = discard_punch(h, first, count);
	if (ret)
		return ret;
	for (size_t p = first; p < first + count; p++) {
		page_write(h, p, gen, 0, 1);
		h->gen[p] = gen;
	}
	/* Touch everything else until the pages have gone out. */
	for (unsigned pass = 0; pass < 4 && left; pass++) {
		for (size_t p = 0; p < h->npages; p++)
			if (p < first || p >= first + count)
				page_verify(h, p);
		left = pages_in_memfd(h, first, count);
	}
	printf("host-harness: late-discard: %zu of %zu pages had left for "
	       "the servers when the discard= went\n", count - left, count);
	if (left == count) {
		fprintf(stderr, "host-harness: FAIL: late-discard: no page "
			"left the memfd, so nothing was tested\n");
		atomic_fetch_add(&h->errors, 1);
	}
	/* A test may restart memxd here: the next one must know the REMOVE. */
	maybe_pause(h, "late-discard-pending");
	ret = discard_tell(h, first, count);
	if (ret)
		return ret;
	/* What the guest wrote after the REMOVE, not zeros. */
	for (size_t p = first; p < first + count; p++)
		page_verify(h, p);
	phase_end(h, "late-discard", t0, count);
	return 0;
}

/* --sweep: verify and rewrite every page in order, @passes times. */
static void run_sweep(struct harness *h, unsigned passes, size_t *o)
{
	double t0;

	order_seq(h, o);
	phase_begin(h, "sweep", &t0);
	for (unsigned pass = 0; pass < passes; pass++) {
		uint32_t gen = ++h->next_gen;

		for (size_t p = 0; p < h->npages; p++) {
			page_verify(h, p);
			page_write(h, p, gen, 0, 1);
			h->gen[p] = gen;
		}
	}
	phase_end(h, "sweep", t0, h->npages * passes * 2);
	run_verify(h, "final-verify", o, h->npages);
}

/* ---- threads racing on the same pages ---- */

struct racer {
	struct harness *h;
	pthread_t tid;
	unsigned id;
	pthread_barrier_t *bar;
	const size_t *fwd, *rev;
	uint32_t base_gen;
};

static void *racer_main(void *arg)
{
	struct racer *rc = arg;
	struct harness *h = rc->h;
	const size_t *o = rc->id % 2 ? rc->rev : rc->fwd;

	for (unsigned round = 0; round < h->rounds; round++) {
		uint32_t gen = rc->base_gen + round;

		/* Everyone writes its slices of every page, in step. */
		pthread_barrier_wait(rc->bar);
		for (size_t i = 0; i < h->npages; i++)
			page_write(h, rc->fwd[i], gen, rc->id, h->threads);
		/* Thread 0 records the generation once all have written. */
		if (pthread_barrier_wait(rc->bar) ==
		    PTHREAD_BARRIER_SERIAL_THREAD)
			for (size_t i = 0; i < h->npages; i++)
				h->gen[i] = gen;
		pthread_barrier_wait(rc->bar);
		/* Everyone verifies every page, half of them backwards. */
		for (size_t i = 0; i < h->npages; i++)
			page_verify(h, o[i]);
	}
	return NULL;
}

static int run_racers(struct harness *h, const size_t *fwd, const size_t *rev)
{
	struct racer rc[MAX_THREADS];
	pthread_barrier_t bar;
	double t0;
	unsigned started = 0;
	int ret = 0;

	uint32_t base_gen = h->next_gen + 1;

	phase_begin(h, "concurrent", &t0);
	h->next_gen += h->rounds;
	pthread_barrier_init(&bar, NULL, h->threads);
	for (unsigned t = 0; t < h->threads; t++) {
		rc[t] = (struct racer){ .h = h, .id = t, .bar = &bar,
					.fwd = fwd, .rev = rev,
					.base_gen = base_gen };
		ret = pthread_create(&rc[t].tid, NULL, racer_main, &rc[t]);
		if (ret) {
			fprintf(stderr, "host-harness: pthread_create: %s\n",
				strerror(ret));
			/* The barrier would never fill: cannot recover. */
			exit(1);
		}
		started++;
	}
	for (unsigned t = 0; t < started; t++)
		pthread_join(rc[t].tid, NULL);
	pthread_barrier_destroy(&bar);
	phase_end(h, "concurrent", t0,
		  h->npages * h->rounds * 2 * h->threads);
	return ret;
}

/* ---- discards racing evictions ---- */

/*
 * QEMU discards guest-freed RAM (balloon, free page reporting) while the
 * guest runs: the punch and the REMOVE event it raises meet memxd's
 * evictions, fetches and write-protections of the same pages.  Writers
 * own interleaved pages of the region's head and cycle through them on
 * the tight budget, so eviction never stops; one discarder owns the tail
 * and keeps writing a chunk, discarding it (punch, MADV_DONTNEED, then
 * discard= as QEMU does), checking it reads as zeros and writing it
 * again.  No page has two owners: every mismatch is memxd's.
 */
#define RACE_CHUNK	16

struct race {
	struct harness *h;
	pthread_t tid;
	unsigned id, writers;
	size_t head;			/* pages [0, head) are the writers' */
	uint32_t gen;
	atomic_bool *stop;
	unsigned long long discards;
};

static void *race_writer_main(void *arg)
{
	struct race *w = arg;
	struct harness *h = w->h;

	for (unsigned round = 0; round < 2 * h->rounds; round++) {
		uint32_t gen = w->gen + round;

		for (size_t p = w->id; p < w->head; p += w->writers) {
			page_write(h, p, gen, 0, 1);
			h->gen[p] = gen;
		}
		for (size_t p = w->id; p < w->head; p += w->writers)
			page_verify(h, p);
	}
	return NULL;
}

static void *race_discarder_main(void *arg)
{
	struct race *d = arg;
	struct harness *h = d->h;
	size_t tail = h->npages - d->head, chunks = tail / RACE_CHUNK;
	uint64_t x = h->seed ^ 0xd15cull;
	uint32_t gen = d->gen;

	while (!atomic_load(d->stop)) {
		size_t c = splitmix64(x++) % chunks;
		size_t first = d->head + c * RACE_CHUNK;

		/* Write the whole tail now and then so evictions take it. */
		if (d->discards % 8 == 0) {
			atomic_store(&h->race_gen, ++gen);
			for (size_t p = d->head; p < h->npages; p++) {
				page_write(h, p, gen, 0, 1);
				h->gen[p] = gen;
			}
		}
		if (discard_pages(h, first, RACE_CHUNK))
			return NULL;
		for (size_t p = first; p < first + RACE_CHUNK; p++)
			page_verify(h, p);
		/* Half the chunks come back at once; the rest stay zero. */
		if (c % 2)
			for (size_t p = first; p < first + RACE_CHUNK; p++) {
				page_write(h, p, gen, 0, 1);
				h->gen[p] = gen;
			}
		d->discards++;
	}
	for (size_t p = d->head; p < h->npages; p++)
		page_verify(h, p);
	d->gen = gen;
	return NULL;
}

static void run_discard_race(struct harness *h)
{
	struct race w[MAX_THREADS], d;
	atomic_bool stop = false;
	unsigned writers = h->threads > 1 ? h->threads - 1 : 1;
	size_t head = h->npages - h->npages / 8;
	uint32_t base = h->next_gen + 1;
	double t0;

	phase_begin(h, "discard-race", &t0);
	head -= (h->npages - head) % RACE_CHUNK;
	/* The discarder's generations come after the writers'. */
	h->next_gen += 2 * h->rounds;
	d = (struct race){ .h = h, .head = head, .gen = h->next_gen,
			   .stop = &stop };
	for (unsigned t = 0; t < writers; t++) {
		w[t] = (struct race){ .h = h, .id = t, .writers = writers,
				      .head = head, .gen = base };
		if (pthread_create(&w[t].tid, NULL, race_writer_main, &w[t])) {
			fprintf(stderr, "host-harness: pthread_create failed\n");
			exit(1);
		}
	}
	if (pthread_create(&d.tid, NULL, race_discarder_main, &d)) {
		fprintf(stderr, "host-harness: pthread_create failed\n");
		exit(1);
	}
	for (unsigned t = 0; t < writers; t++)
		pthread_join(w[t].tid, NULL);
	atomic_store(&stop, true);
	pthread_join(d.tid, NULL);
	/* Later phases number their generations above the discarder's. */
	h->next_gen = d.gen + 1;
	printf("host-harness:   %llu discards of %u pages raced %u writers\n",
	       d.discards, RACE_CHUNK, writers);
	phase_end(h, "discard-race", t0,
		  2 * h->rounds * 2 * head + d.discards * RACE_CHUNK);
}

/* ---- resident sampling ---- */


static void atomic_max(atomic_llong *m, long long v)
{
	long long cur = atomic_load(m);

	while (v > cur && !atomic_compare_exchange_weak(m, &cur, v))
		;
}

/*
 * memxd's count of pages it ever installed in the VM (-1 if it did not
 * answer, or counts none), and its resident count into the maximum.
 */
static long long memxd_installed(struct harness *h)
{
	static const char *const installed_keys[] = { "installed_pages", NULL };
	struct vmm_kv kv;
	char err[256];
	long long inst, res;

	if (vmm_get(h->socket, h->name, &kv, err, sizeof(err)))
		return -1;
	inst = vmm_kv_num(&kv, installed_keys, -1);
	res = vmm_kv_num(&kv, resident_keys, -1);
	vmm_kv_free(&kv);
	if (res >= 0) {
		h->have_memxd_resident = true;
		atomic_max(&h->max_resident_pages, res);
	}
	return inst;
}

static void *sampler_main(void *arg)
{
	struct harness *h = arg;
	const struct timespec tick = { 0, 20 * 1000 * 1000 };
	unsigned skew_notes = 0;

	while (!atomic_load(&h->stop_sampler)) {
		long long inst0 = memxd_installed(h);
		unsigned long long before = atomic_load(&h->pages_touched);
		long long rss = vmm_rss_pages(h->r.mem);
		unsigned long long after = atomic_load(&h->pages_touched);
		long long inst1 = memxd_installed(h);

		/*
		 * The smaps walk is not atomic (and may sleep between page
		 * tables): a page installed ahead of it while another is
		 * punched behind it counts twice.  Every page of the mapping
		 * is one memxd installed, so the pages it installed during
		 * the walk may be skew, never more.  (One touch may install
		 * a whole read-ahead window.)  Without memxd's count, each
		 * touch is taken to install one page.
		 */
		if (rss >= 0) {
			long long skew = inst0 >= 0 && inst1 >= inst0 ?
					 inst1 - inst0 :
					 (long long)(after - before) +
					 h->threads;

			atomic_store(&h->cur_rss_pages, rss);
			if (rss > h->budget_pages + h->slack_pages &&
			    skew_notes < 5 && ++skew_notes)
				printf("host-harness: a sample of %lld pages, "
				       "over the limit; %lld of them may be "
				       "skew (%s)\n", rss, skew,
				       inst0 >= 0 ? "installed during the walk"
						  : "touched during the walk");
			atomic_max(&h->max_rss_raw, rss);
			atomic_max(&h->max_rss_pages,
				   rss > skew ? rss - skew : 0);
		}
		nanosleep(&tick, NULL);
	}
	return NULL;
}

/* ---- main ---- */

static void on_alarm(int sig)
{
	static const char msg[] = "host-harness: FAIL: TIMEOUT: no progress "
				  "(a fault memxd never served?) in phase ";
	const char *p = current_phase;

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0 ||
	    write(2, p, strlen(p)) < 0 || write(2, "\n", 1) < 0)
		_exit(1);
	_exit(1);
}

static int parse_size_arg(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end == 'i')
		end++;
	if (*end == 'B')
		end++;
	if (*end || end == s)
		return -EINVAL;
	*out = v;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: host_harness --socket PATH [options]\n"
"  --socket PATH     memxd's control socket (required)\n"
"  --name NAME       VM name to register (default host-harness-PID)\n"
"  --size SIZE       region size (default 64M)\n"
"  --budget SIZE     local budget (default 16M)\n"
"  --threads N       threads racing on the same pages (default 4)\n"
"  --rounds N        write+verify rounds of the racing threads (default 2)\n"
"  --seed N          pattern seed (default: time)\n"
"  --slack PAGES     allowed overshoot (default: memxd's slack_pages, or 64)\n"
"  --no-discard      skip the discard phase\n"
"  --sweep N         instead of the phases above: N passes in page order,\n"
"                    each verifying and rewriting every page, then a\n"
"                    verifying pass\n"
"  --timeout SEC     fail if the run takes longer (default 600)\n"
"  --lost-ok         a page that raises SIGBUS (memxd lost it) is counted\n"
"                    and skipped, not a failure; prints lost_pages=N and\n"
"                    lost_range=FIRST-LAST lines at the end\n"
"  --pause-after PHASE[,PHASE...]  after the first phase named PHASE\n"
"                    (\"end\": after the verdict, still registered),\n"
"                    create PATH, write PHASE to PATH.ready and wait\n"
"                    until PATH is deleted\n"
"  --pause-file PATH see --pause-after\n"
"  --pause-timeout SEC  fail if PATH is not deleted in time (default 300)\n"
"  --test-sigbus-tail N  (tests the harness itself) shrink the memfd by N\n"
"                    pages after registering, so the last N pages raise\n"
"                    SIGBUS as poisoned pages would\n");
}

static int parse_args(struct harness *h, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 'S' },
		{ "budget", required_argument, NULL, 'b' },
		{ "threads", required_argument, NULL, 't' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, 'e' },
		{ "slack", required_argument, NULL, 'k' },
		{ "no-discard", no_argument, NULL, 'D' },
		{ "sweep", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "lost-ok", no_argument, NULL, 'L' },
		{ "pause-after", required_argument, NULL, 'P' },
		{ "pause-file", required_argument, NULL, 'F' },
		{ "pause-timeout", required_argument, NULL, 'W' },
		{ "test-sigbus-tail", required_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 's': h->socket = optarg; break;
		case 'n': h->name = optarg; break;
		case 'S':
		case 'b':
			if (parse_size_arg(optarg, &v) || !v || v % PAGE) {
				fprintf(stderr, "host-harness: bad size '%s'\n",
					optarg);
				return 2;
			}
			if (c == 'S')
				h->size = v;
			else
				h->budget = v;
			break;
		case 't': h->threads = (unsigned)atoi(optarg); break;
		case 'r': h->rounds = (unsigned)atoi(optarg); break;
		case 'e': h->seed = strtoull(optarg, NULL, 0); break;
		case 'k': h->slack_override = atol(optarg); break;
		case 'D': h->no_discard = true; break;
		case 'w': h->sweep = (unsigned)atoi(optarg); break;
		case 'T': h->timeout_s = (unsigned)atoi(optarg); break;
		case 'L': h->lost_ok = true; break;
		case 'P': h->pause.after = optarg; break;
		case 'F': h->pause.file = optarg; break;
		case 'W': h->pause.timeout_s = (unsigned)atoi(optarg); break;
		case 'X': h->test_sigbus_tail = strtoul(optarg, NULL, 0); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return 2;
		}
	}
	if (!h->socket || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (h->threads < 1 || h->threads > MAX_THREADS || !h->rounds) {
		fprintf(stderr, "host-harness: threads must be 1..%d, "
			"rounds at least 1\n", MAX_THREADS);
		return 2;
	}
	if (!h->pause.after != !h->pause.file) {
		fprintf(stderr, "host-harness: --pause-after and --pause-file "
			"go together\n");
		return 2;
	}
	if (pause_check_phases("host-harness", h->pause.after, phase_names))
		return 2;
	return 0;
}

static void print_counters(struct harness *h)
{
	struct vmm_kv kv;
	char err[256];

	if (vmm_get(h->socket, h->name, &kv, err, sizeof(err))) {
		printf("host-harness: get=1 failed: %s\n", err);
		return;
	}
	printf("host-harness: memxd counters:");
	for (unsigned i = 0; i < kv.n; i++)
		printf(" %s=%s", kv.key[i], kv.val[i]);
	printf("\n");
	vmm_kv_free(&kv);
}

int main(int argc, char **argv)
{
	struct harness h = {
		.size = 64u << 20, .budget = 16u << 20, .threads = 4,
		.rounds = 2, .slack_override = -1, .timeout_s = 600,
		.pause.timeout_s = DEFAULT_PAUSE_TIMEOUT,
	};
	struct sigaction sa = { .sa_sigaction = on_sigbus,
				.sa_flags = SA_SIGINFO | SA_NODEFER };
	char err[256], namebuf[64];
	size_t *o1 = NULL, *o2 = NULL;
	pthread_t sampler;
	bool sampling = false;
	struct vmm_kv kv;
	long long limit;
	int ret;

	h.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	ret = parse_args(&h, argc, argv);
	if (ret)
		return ret;
	if (!h.name) {
		snprintf(namebuf, sizeof(namebuf), "host-harness-%d",
			 (int)getpid());
		h.name = namebuf;
	}
	signal(SIGALRM, on_alarm);
	alarm(h.timeout_s);
	setvbuf(stdout, NULL, _IOLBF, 0);
	sigemptyset(&sa.sa_mask);
	sigbus_harness = &h;
	sigaction(SIGBUS, &sa, NULL);

	ret = vmm_region_create(&h.r, h.size, h.name, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "host-harness: region: %s\n", err);
		return 1;
	}
	ret = vmm_register(&h.r, h.socket, h.name, h.budget, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "host-harness: FAIL: cannot register with "
			"memxd: %s\n", err);
		vmm_region_destroy(&h.r);
		return 1;
	}
	/* If memxd goes away, wait for the next one, as QEMU does. */
	ret = vmm_keep_registered(&h.r, getenv("VMM_GIVE_UP_S") ?
				  (unsigned)atoi(getenv("VMM_GIVE_UP_S")) : 120);
	if (ret) {
		fprintf(stderr, "host-harness: keeper thread: %s\n",
			strerror(-ret));
		vmm_region_destroy(&h.r);
		return 1;
	}
	h.npages = h.size / PAGE;
	if (h.test_sigbus_tail && h.test_sigbus_tail < h.npages &&
	    ftruncate(h.r.memfd,
		      (off_t)((h.npages - h.test_sigbus_tail) * PAGE)) < 0) {
		fprintf(stderr, "host-harness: ftruncate: %s\n",
			strerror(errno));
		vmm_region_destroy(&h.r);
		return 1;
	}
	h.budget_pages = (long long)(h.budget / PAGE);
	h.slack_pages = h.slack_override;
	if (h.slack_pages < 0 &&
	    !vmm_get(h.socket, h.name, &kv, err, sizeof(err))) {
		h.slack_pages = vmm_kv_num(&kv, slack_keys, -1);
		vmm_kv_free(&kv);
	}
	if (h.slack_pages < 0)
		h.slack_pages = DEFAULT_SLACK;
	printf("host-harness: registered %s: %zu MiB region (%zu pages) at "
	       "%p, budget %llu MiB (%lld pages), slack %lld pages, seed "
	       "%#" PRIx64 ", %u threads\n", h.name, h.size >> 20, h.npages,
	       (void *)h.r.mem, (unsigned long long)(h.budget >> 20),
	       h.budget_pages, h.slack_pages, h.seed, h.threads);

	h.gen = calloc(h.npages, sizeof(*h.gen));
	h.lost = calloc(h.npages, sizeof(*h.lost));
	o1 = calloc(h.npages, sizeof(*o1));
	o2 = calloc(h.npages, sizeof(*o2));
	if (!h.gen || !h.lost || !o1 || !o2) {
		fprintf(stderr, "host-harness: out of memory\n");
		ret = 1;
		goto out;
	}
	if (pthread_create(&sampler, NULL, sampler_main, &h) == 0)
		sampling = true;

	if (h.sweep) {
		run_sweep(&h, h.sweep, o1);
		ret = 0;
		goto out;
	}
	order_seq(&h, o1);
	run_verify(&h, "zero-verify", o1, h.npages);
	run_write(&h, "seq-write", o1, h.npages);
	run_verify(&h, "seq-verify", o1, h.npages);

	order_random(&h, o2, 1);
	run_verify(&h, "random-verify", o2, h.npages);
	order_random(&h, o2, 2);
	run_write(&h, "random-write", o2, h.npages);
	order_random(&h, o2, 3);
	run_verify(&h, "random-verify", o2, h.npages);

	order_strided(&h, o2, 7);
	run_write(&h, "strided-write", o2, h.npages);
	order_strided(&h, o2, 61);
	run_verify(&h, "strided-verify", o2, h.npages);

	/* Rewrites: dirty pages must be written back, clean ones may not. */
	run_write(&h, "rewrite-all", o1, h.npages);
	run_verify(&h, "verify-all", o1, h.npages);
	for (size_t i = 0; i < h.npages / 2; i++)
		o2[i] = i * 2;
	run_write(&h, "rewrite-half", o2, h.npages / 2);
	run_verify(&h, "verify-all", o1, h.npages);
	order_random(&h, o2, 4);
	run_verify(&h, "verify-all-clean", o2, h.npages);

	if (!h.no_discard && h.npages >= 8) {
		run_discard(&h, h.npages / 4, h.npages / 8);
		run_late_discard(&h, h.npages / 2, h.npages / 16 + 1);
	}

	for (size_t i = 0; i < h.npages; i++)
		o2[i] = h.npages - 1 - i;
	run_racers(&h, o1, o2);
	if (!h.no_discard && h.npages >= 8 * RACE_CHUNK)
		run_discard_race(&h);
	order_random(&h, o2, 5);
	run_verify(&h, "final-verify", o2, h.npages);
	ret = 0;
out:
	if (sampling) {
		atomic_store(&h.stop_sampler, true);
		pthread_join(sampler, NULL);
	}
	alarm(0);
	print_counters(&h);
	limit = h.budget_pages + h.slack_pages;
	if (atomic_load(&h.max_rss_pages) > limit) {
		fprintf(stderr, "host-harness: FAIL: the mapping's Rss reached "
			"%lld pages (%lld sampled, less the sample's skew) > "
			"budget %lld + slack %lld\n",
			(long long)atomic_load(&h.max_rss_pages),
			(long long)atomic_load(&h.max_rss_raw),
			h.budget_pages, h.slack_pages);
		ret = 1;
	}
	if (!vmm_get(h.socket, h.name, &kv, err, sizeof(err))) {
		static const char *const keys[] = { "max_resident_pages",
						    NULL };

		atomic_max(&h.max_resident_pages,
			   vmm_kv_num(&kv, keys, -1));
		vmm_kv_free(&kv);
	}
	if (atomic_load(&h.max_resident_pages) > limit) {
		fprintf(stderr, "host-harness: FAIL: memxd reported %lld "
			"resident pages > budget %lld + slack %lld\n",
			(long long)atomic_load(&h.max_resident_pages),
			h.budget_pages, h.slack_pages);
		ret = 1;
	}
	if (!h.have_memxd_resident)
		printf("host-harness: note: memxd's get=1 has no resident_pages "
		       "for %s; checked Rss only\n", h.name);
	if (atomic_load(&h.errors))
		ret = 1;
	if (h.lost_ok && h.lost)
		print_lost(&h);
	printf("host-harness: %s pages_touched=%llu bytes_verified=%llu "
	       "bad_words=%u max_rss_pages=%lld max_rss_sampled=%lld "
	       "max_memxd_resident_pages=%lld "
	       "budget_pages=%lld slack_pages=%lld reregistered=%u "
	       "last_gap_ms=%llu discards_dropped=%u\n",
	       ret ? "FAIL" : "PASS",
	       (unsigned long long)atomic_load(&h.pages_touched),
	       (unsigned long long)atomic_load(&h.bytes_verified),
	       atomic_load(&h.errors), (long long)atomic_load(&h.max_rss_pages),
	       (long long)atomic_load(&h.max_rss_raw),
	       (long long)atomic_load(&h.max_resident_pages), h.budget_pages,
	       h.slack_pages, h.r.reregistered,
	       (unsigned long long)h.r.last_gap_ms,
	       atomic_load(&h.discards_dropped));
	maybe_pause(&h, "end");
	sigbus_harness = NULL;
	vmm_region_destroy(&h.r);
	free(h.gen);
	free(h.lost);
	free(o1);
	free(o2);
	return ret;
}
