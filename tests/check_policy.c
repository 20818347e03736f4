// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * check_policy.c - the pager's policies: which page to evict (CLOCK, and
 * CLOCK with a hot set filled by refault distance) and what to prefetch
 * (per-stream majority trend).
 *
 * The eviction policies are compared on access traces, each run through
 * both policies in the same test: a page table and the policy, a budget,
 * evictions in batches as evict_step() makes them, and a hit whenever
 * the page is resident.  As in memx, the policy sees only faults (and
 * write faults on clean pages), never a hit.  SIM_DEBUG=1 prints what the
 * refault policy did on each trace.
 */
#include <check.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "memxd/pager/pagetable.h"
#include "memxd/pager/prefetch.h"
#include "memxd/pager/victim.h"

/*
 * A fresh @pf that saw faults on pages 1000 .. 1009 and planned a read
 * ahead along their trend: the stream's index; its stride in *stride.
 */
static unsigned ten_faults_up(struct prefetch *pf, int64_t *stride)
{
	unsigned st = 0;

	prefetch_init(pf, 64);
	for (uint64_t p = 1000; p < 1010; p++)
		st = prefetch_note(pf, p);
	ck_assert_uint_gt(prefetch_plan(pf, st, stride), 0);
	return st;
}

/* A run of faults one page apart is a stride of 1, and prefetched. */
START_TEST(test_prefetch_sequential)
{
	struct prefetch pf;
	int64_t stride = 0;

	ten_faults_up(&pf, &stride);
	ck_assert_int_eq(stride, 1);
}
END_TEST

/*
 * Quicksort's partition: one walk up from the left, one down from the
 * right, interleaved.  One shared history has no majority; two streams
 * each have theirs.
 */
START_TEST(test_prefetch_interleaved_streams)
{
	struct prefetch pf;
	int64_t up = 0, down = 0;
	unsigned s_up = 0, s_down = 0;

	prefetch_init(&pf, 64);
	for (unsigned i = 0; i < 12; i++) {
		s_up = prefetch_note(&pf, 10000 + i);
		s_down = prefetch_note(&pf, 50000 - i);
	}
	ck_assert_uint_ne(s_up, s_down);
	ck_assert_uint_gt(prefetch_plan(&pf, s_up, &up), 0);
	ck_assert_uint_gt(prefetch_plan(&pf, s_down, &down), 0);
	ck_assert_int_eq(up, 1);
	ck_assert_int_eq(down, -1);
}
END_TEST

/* Random faults: no trend, nothing prefetched. */
START_TEST(test_prefetch_random_no_trend)
{
	uint64_t rng = 42;
	struct prefetch pf;
	int64_t stride;
	unsigned hits = 0;

	prefetch_init(&pf, 64);
	for (unsigned i = 0; i < 1000; i++) {
		unsigned st = prefetch_note(&pf, tu_rand(&rng) % (1u << 30));

		hits += prefetch_plan(&pf, st, &stride) != 0;
	}
	ck_assert_uint_lt(hits, 10);
}
END_TEST

/*
 * A walk whose pages are installed ahead of it (they never fault): the
 * faults come one window apart, each just past the run installed before.
 * Each is one step of the trend, and a hit: the window grows to the
 * maximum and the walk takes about one fault per window, up or down.
 * Without prefetch_covered the jumps of window + 1 broke the majority,
 * and a page in five faulted.
 */
static unsigned walk_installed_ahead(int64_t dir, unsigned *window)
{
	enum { N = 100000 };
	static bool in[N];
	struct prefetch pf;
	unsigned faults = 0;

	memset(in, 0, sizeof(in));
	prefetch_init(&pf, 64);
	for (unsigned i = 0; i < N; i++) {
		uint64_t page = dir > 0 ? i : N - 1 - i;
		int64_t stride = 0;
		unsigned st, w;

		if (in[page])
			continue;
		faults++;
		in[page] = true;
		st = prefetch_note(&pf, page);
		w = prefetch_plan(&pf, st, &stride);
		if (w)
			ck_assert_int_eq(stride, dir);
		for (unsigned k = 1; k <= w; k++) {
			int64_t q = (int64_t)page + (int64_t)k * stride;

			if (q >= 0 && q < N)
				in[q] = true;
		}
		prefetch_covered(&pf, st, stride, w);
	}
	*window = pf.window;
	return faults;
}

START_TEST(test_prefetch_installed_ahead)
{
	unsigned w;

	ck_assert_uint_lt(walk_installed_ahead(1, &w), 100000 / 60);
	ck_assert_uint_eq(w, 64);
	ck_assert_uint_lt(walk_installed_ahead(-1, &w), 100000 / 60);
	ck_assert_uint_eq(w, 64);
}
END_TEST

/* A fault back inside a run covered ahead is an ordinary step. */
START_TEST(test_prefetch_covered_then_back)
{
	struct prefetch pf;
	int64_t stride = 0;
	unsigned st = ten_faults_up(&pf, &stride);

	prefetch_covered(&pf, st, stride, 8);
	/* 1010: the first page covered (its install failed, say). */
	ck_assert_uint_eq(prefetch_note(&pf, 1010), st);
	ck_assert_uint_eq(pf.hits_since, 0);
	ck_assert_int_eq(pf.s[st].delta[(pf.s[st].next + PREFETCH_HISTORY - 1) %
					PREFETCH_HISTORY], 1);
	/* Covered again, and the next fault is past it: a step of 1. */
	prefetch_covered(&pf, st, 1, 8);
	ck_assert_uint_eq(prefetch_note(&pf, 1019), st);
	ck_assert_uint_eq(pf.hits_since, 8);
	ck_assert_int_eq(pf.s[st].delta[(pf.s[st].next + PREFETCH_HISTORY - 1) %
					PREFETCH_HISTORY], 1);
	ck_assert_uint_gt(prefetch_plan(&pf, st, &stride), 0);
	ck_assert_int_eq(stride, 1);
}
END_TEST

/* Hits double the window up to the maximum; waste halves it. */
START_TEST(test_prefetch_window_adapts)
{
	struct prefetch pf;
	int64_t stride;
	unsigned st = 0, w0, w;

	prefetch_init(&pf, 64);
	for (uint64_t p = 0; p < 10; p++)
		st = prefetch_note(&pf, p);
	w0 = prefetch_plan(&pf, st, &stride);
	for (unsigned i = 0; i < 10; i++) {
		for (unsigned k = 0; k < 64; k++)
			prefetch_hit(&pf);
		w = prefetch_plan(&pf, st, &stride);
	}
	ck_assert_uint_gt(w, w0);
	ck_assert_uint_eq(w, 64);
	for (unsigned k = 0; k < 100; k++)
		prefetch_wasted(&pf);
	ck_assert_uint_eq(prefetch_plan(&pf, st, &stride), 32);
	/* Disabled: never. */
	prefetch_init(&pf, 0);
	for (uint64_t p = 0; p < 10; p++)
		st = prefetch_note(&pf, p);
	ck_assert_uint_eq(prefetch_plan(&pf, st, &stride), 0);
}
END_TEST

/* CLOCK: referenced pages get a second chance; busy ones are skipped. */
/*
 * The write trend: clean installs that are not written stay clean; once
 * three in four are written, installs go writable, but for one probe in
 * PREFETCH_PROBE; when the probes stop being written, it turns back.
 */
START_TEST(test_write_trend)
{
	struct prefetch pf;
	unsigned writable = 0;

	prefetch_init(&pf, 64);
	ck_assert(!prefetch_writable(&pf));
	prefetch_installed_clean(&pf, 1000);
	ck_assert(!prefetch_writable(&pf));
	/* A writer: nearly every clean page gets its write. */
	prefetch_init(&pf, 64);
	for (unsigned i = 0; i < 400; i++) {
		prefetch_installed_clean(&pf, 1);
		prefetch_clean_written(&pf);
	}
	for (unsigned i = 0; i < 8 * PREFETCH_PROBE; i++)
		writable += prefetch_writable(&pf);
	ck_assert_uint_eq(writable, (PREFETCH_PROBE - 1) * 8);
	/* Writes are never counted past the installs. */
	for (unsigned i = 0; i < 1000; i++)
		prefetch_clean_written(&pf);
	ck_assert_uint_le(pf.clean_written, pf.clean_installed);
	/* The installs stop being written: the trend decays, and turns. */
	prefetch_installed_clean(&pf, 1000);
	for (unsigned i = 0; i < PREFETCH_PROBE; i++)
		ck_assert(!prefetch_writable(&pf));
}
END_TEST

/*
 * A writer's runs of 64 pages make the trend writable; when a reader
 * follows, only the probes see it, and they turn the trend back within
 * four probes' worth of installs (the pages installed dirty meanwhile are
 * written back needlessly when evicted: bounded, once per turn).
 */
START_TEST(test_write_trend_turns)
{
	struct prefetch pf;
	unsigned i, dirty_runs = 0;

	prefetch_init(&pf, 64);
	for (i = 0; i < 2000; i++) {
		if (prefetch_writable(&pf))
			continue;
		prefetch_installed_clean(&pf, 64);
		for (unsigned k = 0; k < 64; k++)
			prefetch_clean_written(&pf);
	}
	ck_assert(pf.clean_written == pf.clean_installed);
	/* The writer is now mostly installed writable. */
	for (i = 0, dirty_runs = 0; i < PREFETCH_PROBE; i++)
		dirty_runs += prefetch_writable(&pf);
	ck_assert_uint_eq(dirty_runs, PREFETCH_PROBE - 1);
	/* A reader: nothing installed clean is written any more. */
	for (i = 0, dirty_runs = 0; i < 100 * PREFETCH_PROBE; i++) {
		if (prefetch_writable(&pf)) {
			dirty_runs++;
			continue;
		}
		prefetch_installed_clean(&pf, 64);
		if (!prefetch_writable(&pf))
			break;		/* turned: two clean installs in a row */
		dirty_runs++;
	}
	ck_assert_uint_lt(i, 100 * PREFETCH_PROBE);
	ck_assert_uint_le(dirty_runs, 4 * PREFETCH_PROBE);
	/* And it stays turned. */
	for (i = 0; i < 4 * PREFETCH_PROBE; i++) {
		ck_assert(!prefetch_writable(&pf));
		prefetch_installed_clean(&pf, 64);
	}
}
END_TEST

START_TEST(test_clock_second_chance)
{
	struct pagetable pt;
	uint64_t out[16];
	struct victim c;
	unsigned n;

	ck_assert_int_eq(pt_init(&pt, 16, NULL, NULL), 0);
	victim_init(&c, VICTIM_CLOCK, 16, 8, 1);
	for (unsigned i = 0; i < 8; i++)
		ck_assert(pt_found_resident(&pt, i));
	for (unsigned i = 0; i < 8; i++)
		pt_clear_ref(&pt, i);
	pt_touch(&pt, 1);
	/* A WRITE in flight: never picked. */
	ck_assert(pt_evict_begin(&pt, 2));
	ck_assert(pt_write_begin(&pt, 2));
	ck_assert(pt_evict_cancel(&pt, 2));
	pt_clear_ref(&pt, 2);
	n = victim_select(&c, &pt, out, 3);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(out[0], 0);
	ck_assert_uint_eq(out[1], 3);	/* 1 had its bit cleared, 2 busy */
	ck_assert_uint_eq(out[2], 4);
	ck_assert(!pt_has(&pt, 1, PT_REF));
	/* Ask for more than there are: each page at most once. */
	n = victim_select(&c, &pt, out, 16);
	ck_assert_uint_eq(n, 7);	/* 0, 1, 3..7: all but the busy one */
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = i + 1; j < n; j++)
			ck_assert_uint_ne(out[i], out[j]);
	for (unsigned i = 0; i < n; i++)
		ck_assert_uint_ne(out[i], 2);
	ck_assert_uint_eq(pt.bugs, 0);
	pt_fini(&pt);
}
END_TEST

/*
 * The sampling hand: a dirty hot page written since its last pass is
 * handed back to be write-protected, its bit cleared; one not written
 * since is demoted (stale); clean hot pages, whose reads are invisible,
 * and cold pages are left alone.
 */
START_TEST(test_sample_hot)
{
	struct pagetable pt;
	uint64_t out[16];
	struct victim v;
	unsigned n;

	ck_assert_int_eq(pt_init(&pt, 16, NULL, NULL), 0);
	victim_init(&v, VICTIM_REFAULT_WP, 16, 8, 1);
	/* 2 is clean: stored, and read back in. */
	ck_assert(pt_installed(&pt, 2, true));
	ck_assert(pt_evict_begin(&pt, 2) && pt_write_begin(&pt, 2));
	ck_assert(pt_write_end(&pt, 2, true));
	for (unsigned i = 0; i < 4; i++) {
		ck_assert(pt_installed(&pt, i, i != 2));
		ck_assert(pt_set_hot(&pt, i, true));
	}
	pt_clear_ref(&pt, 1);				/* 1: unwritten */
	ck_assert(pt_installed(&pt, 4, true));		/* 4: cold */
	/* Nothing owed before evictions: the hand moves with them. */
	ck_assert_uint_eq(victim_sample(&v, &pt, out, 16), 0);
	v.sample_credit = 16 * v.bucket * 8;	/* owed: one round, at most */
	n = victim_sample(&v, &pt, out, 16);
	ck_assert_uint_eq(v.sample_credit, 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(out[0], 0);
	ck_assert_uint_eq(out[1], 3);
	ck_assert(!pt_has(&pt, 0, PT_REF) && pt_has(&pt, 0, PT_DIRTY));
	ck_assert(pt_has(&pt, 0, PT_HOT) && pt_has(&pt, 3, PT_HOT));
	ck_assert(!pt_has(&pt, 1, PT_HOT) && pt_has(&pt, 1, PT_DEMOTED));
	ck_assert(pt_has(&pt, 1, PT_DIRTY));
	ck_assert(pt_has(&pt, 2, PT_HOT) && pt_has(&pt, 2, PT_REF));
	ck_assert(pt_has(&pt, 4, PT_REF) && !pt_has(&pt, 4, PT_HOT));
	ck_assert_uint_eq(v.st.stale, 1);
	/* Next round: 0 was written (a WP fault), 3 was not. */
	ck_assert(pt_written(&pt, 0));
	v.sample_credit = 16 * v.bucket * 8;
	n = victim_sample(&v, &pt, out, 16);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(out[0], 0);
	ck_assert(!pt_has(&pt, 3, PT_HOT) && pt_has(&pt, 3, PT_DIRTY));
	ck_assert_uint_eq(v.st.stale, 2);
	ck_assert_uint_eq(pt.bugs, 0);
	pt_fini(&pt);
}
END_TEST

/* ---- eviction policies on traces ---- */

#define SIM_BUDGET	8192u	/* pages: 32 MiB */
#define SIM_BATCH	64u	/* EVICT_BATCH */

/* A trace's access is a write if its page has this bit. */
#define SIM_WRITE	(1ull << 63)

struct sim {
	struct pagetable pt;
	struct victim v;
	uint64_t budget, hits, misses, dirty_evictions;
	bool counting;
	/*
	 * The kernel's write-protect bit of dirty pages, which only the
	 * sampling hand sets (victim_sample): clean pages are protected
	 * until their first write.
	 */
	bool *wp;
};

static void sim_init(struct sim *s, enum victim_policy policy,
		     uint64_t npages, uint64_t budget)
{
	memset(s, 0, sizeof(*s));
	s->budget = budget;
	ck_assert_int_eq(pt_init(&s->pt, npages, NULL, NULL), 0);
	victim_init(&s->v, policy, npages, budget, 4);
	s->wp = calloc(npages, sizeof(*s->wp));
	ck_assert_ptr_nonnull(s->wp);
}

static double sim_fini(struct sim *s)
{
	double ratio = (double)s->hits / (double)(s->hits + s->misses);

	if (getenv("SIM_DEBUG"))
		printf("  refaults %lu promoted %lu demoted %lu back %lu gone %lu "
		       "sampled %lu stale %lu theta %u hot %lu "
		       "dirty evictions %lu; leaders fetched: clock %lu "
		       "refault %lu, followers run %s (turned %lu times); "
		       "hot hand %lu, lead hands %lu\n",
		       (unsigned long)s->v.st.refaults,
		       (unsigned long)s->v.st.promoted,
		       (unsigned long)s->v.st.demoted,
		       (unsigned long)s->v.st.demoted_back,
		       (unsigned long)s->v.st.demoted_gone,
		       (unsigned long)s->v.st.sampled,
		       (unsigned long)s->v.st.stale, s->v.theta,
		       (unsigned long)s->pt.hot,
		       (unsigned long)s->dirty_evictions,
		       (unsigned long)s->v.st.lead_clock,
		       (unsigned long)s->v.st.lead_refault,
		       s->v.follow_refault ? "refault" : "clock",
		       (unsigned long)s->v.st.turns,
		       (unsigned long)s->v.st.hot_scanned,
		       (unsigned long)s->v.st.lead_scanned);

	ck_assert_uint_eq(s->pt.bugs, 0);
	ck_assert_uint_le(pt_resident(&s->pt), s->budget);
	pt_fini(&s->pt);
	free(s->wp);
	return ratio;
}

/* A victim leaves: its copy goes to a server, if it has none that is
 * current. */
static void sim_evict_page(struct sim *s, uint64_t p)
{
	ck_assert(pt_evict_begin(&s->pt, p));
	s->wp[p] = false;
	if (pt_has(&s->pt, p, PT_DIRTY) || !pt_has(&s->pt, p, PT_HAS_REMOTE)) {
		s->dirty_evictions += pt_has(&s->pt, p, PT_DIRTY);
		ck_assert(pt_write_begin(&s->pt, p));
		ck_assert(pt_write_end(&s->pt, p, true));
	} else {
		ck_assert(pt_evicted_clean(&s->pt, p));
	}
}

/*
 * As evict_step(), a batch at a time, back under the budget less a batch:
 * the room evict_step() keeps for pages installed ahead (EVICT_ROOM) is
 * left out, so that the hit ratios quoted in design.md stay comparable
 * (it would be 128 pages of SIM_BUDGET instead of 64).
 */
static void sim_make_room(struct sim *s)
{
	uint64_t low = s->budget / 8 < SIM_BATCH ? s->budget / 8 : SIM_BATCH;
	uint64_t target = s->budget - low, out[SIM_BATCH];

	while (pt_resident(&s->pt) > target) {
		uint64_t want = pt_resident(&s->pt) - target;
		unsigned n;

		if (want < low)
			want = low;
		do {
			n = victim_sample(&s->v, &s->pt, out, SIM_BATCH);
			for (unsigned i = 0; i < n; i++)
				s->wp[out[i]] = true;
		} while (n == SIM_BATCH);
		n = victim_select(&s->v, &s->pt, out,
				  want < SIM_BATCH ? (unsigned)want : SIM_BATCH);
		ck_assert_uint_gt(n, 0);
		for (unsigned i = 0; i < n; i++)
			sim_evict_page(s, out[i]);
	}
}

static void sim_access(struct sim *s, uint64_t p, bool write)
{
	enum page_state st = pt_state(&s->pt, p);

	if (st == PS_RESIDENT) {
		s->hits += s->counting;
		/* Installed clean, or sampled: a WP fault. */
		if (write && (!pt_has(&s->pt, p, PT_DIRTY) || s->wp[p]))
			ck_assert(pt_written(&s->pt, p));
		if (write)
			s->wp[p] = false;
		return;
	}
	s->misses += s->counting;
	ck_assert(pt_installed(&s->pt, p, write || st == PS_NEVER));
	victim_installed(&s->v, &s->pt, p);
	sim_make_room(s);
}

/* One access of a trace: page @i of it, or UINT64_MAX at its end. */
typedef uint64_t (*trace_fn)(void *arg, uint64_t i, bool *counting);

/* Hit ratio of @policy on a trace over @npages pages; its dirty
 * evictions in *@dirty, unless NULL. */
static double run_trace_dirty(enum victim_policy policy, uint64_t npages,
			      trace_fn fn, void *arg, uint64_t *dirty)
{
	struct sim s;
	uint64_t p;
	bool counting = false;

	sim_init(&s, policy, npages, SIM_BUDGET);
	for (uint64_t i = 0; (p = fn(arg, i, &counting)) != UINT64_MAX; i++) {
		s.counting = counting;
		sim_access(&s, p & ~SIM_WRITE, p & SIM_WRITE);
	}
	if (dirty)
		*dirty = s.dirty_evictions;
	return sim_fini(&s);
}

static double run_trace(enum victim_policy policy, uint64_t npages,
			trace_fn fn, void *arg)
{
	return run_trace_dirty(policy, npages, fn, arg, NULL);
}

/* Hit ratios of CLOCK, refault and adaptive on one trace. */
struct ratios {
	double clock, refault, adaptive;
};

/* The three policies on one trace; prints and returns their ratios. */
static struct ratios compare(const char *name, uint64_t npages, trace_fn fn,
			     void *arg)
{
	struct ratios h;

	h.clock = run_trace(VICTIM_CLOCK, npages, fn, arg);
	h.refault = run_trace(VICTIM_REFAULT, npages, fn, arg);
	h.adaptive = run_trace(VICTIM_ADAPTIVE, npages, fn, arg);
	printf("policy trace %-22s hit ratio: refault %.3f, clock %.3f, "
	       "adaptive %.3f\n", name, h.refault, h.clock, h.adaptive);
	fflush(stdout);
	return h;
}

/* A sweep over @len pages, @passes times; counted from the third pass. */
struct loop_trace {
	uint64_t len, passes;
	const uint64_t *order;	/* NULL: ascending */
};

static uint64_t loop_next(void *arg, uint64_t i, bool *counting)
{
	const struct loop_trace *t = arg;
	uint64_t k = i % t->len;

	if (i >= t->len * t->passes)
		return UINT64_MAX;
	*counting = i >= 2 * t->len;
	return t->order ? t->order[k] : k;
}

/*
 * A cyclic sweep longer than the budget: CLOCK evicts every page just
 * before it is needed again, so nothing hits; the hot set keeps most of
 * the budget, and only the rest is fetched each pass.
 */
static void check_loop(const char *name, double times)
{
	struct loop_trace t = { (uint64_t)(SIM_BUDGET * times), 10, NULL };
	double best = (double)SIM_BUDGET / (double)t.len;
	struct ratios h = compare(name, t.len, loop_next, &t);

	/* Within a sixth of the budget of the best any policy can do. */
	ck_assert_double_ge(h.refault, best * 5 / 6 - 0.02);
	ck_assert_double_ge(h.refault, h.clock + 0.25 / times);
	/*
	 * adaptive learns it first (CLOCK until its refault leaders fetch
	 * 9/8 less), and the leaders keep running their own policies:
	 * measured 0.594, 0.427, 0.222 of 1.25, 1.7, 3 budgets.
	 */
	ck_assert_double_ge(h.adaptive, best * 2 / 3 - 0.02);
}

START_TEST(test_policy_loop_1_25)
{
	check_loop("sweep 1.25x budget", 1.25);
}
END_TEST

START_TEST(test_policy_loop_1_7)
{
	check_loop("sweep 1.7x budget", 1.7);
}
END_TEST

START_TEST(test_policy_loop_3)
{
	check_loop("sweep 3x budget", 3);
}
END_TEST

/*
 * The guest's sweep (tests/guest/workloads/sweep.c): each pass writes
 * every page, then reads every page back.  Hot pages are dirty, so the
 * sampling hand watches their writes: one write a pass must keep them.
 */
static uint64_t write_loop_next(void *arg, uint64_t i, bool *counting)
{
	const struct loop_trace *t = arg;
	uint64_t k = i % (2 * t->len);

	if (i >= 2 * t->len * t->passes)
		return UINT64_MAX;
	*counting = i >= 4 * t->len;
	return k < t->len ? k | SIM_WRITE : k - t->len;
}

START_TEST(test_policy_write_loop)
{
	struct loop_trace t = { SIM_BUDGET * 17 / 10, 10, NULL };
	double r, c, w, best = (double)SIM_BUDGET / (double)t.len;
	struct ratios h = compare("write+read sweep 1.7x", t.len,
				  write_loop_next, &t);

	r = h.refault;
	c = h.clock;
	ck_assert_double_ge(h.adaptive, c + 0.35);	/* measured 0.490 */
	w = run_trace(VICTIM_REFAULT_WP, t.len, write_loop_next, &t);
	printf("policy trace %-22s hit ratio: refault-wp %.3f\n",
	       "write+read sweep 1.7x", w);
	fflush(stdout);
	ck_assert_double_ge(r, best * 5 / 6 - 0.02);
	ck_assert_double_ge(r, c + 0.25 / 1.7);
	/*
	 * Measured: refault-wp 0.394, refault 0.515, CLOCK 0.000.  A pass
	 * evicts about 1.65 budgets here, more than a round of the
	 * sampling hand, so some hot pages are let go between their
	 * writes; it must still beat CLOCK clearly.
	 */
	ck_assert_double_ge(w, c + 0.35);
}
END_TEST

static void shuffle(uint64_t *v, uint64_t n, uint64_t *rng)
{
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = tu_rand(rng) % (i + 1), x = v[i];

		v[i] = v[j];
		v[j] = x;
	}
}

/* @n distinct pages of [0, @range), in random order. */
static uint64_t *random_set(uint64_t n, uint64_t range, uint64_t *rng)
{
	uint64_t *all = malloc(range * sizeof(*all));

	ck_assert_ptr_nonnull(all);
	for (uint64_t i = 0; i < range; i++)
		all[i] = i;
	shuffle(all, range, rng);
	return realloc(all, n * sizeof(*all));
}

/* The same cycle through 1.7 budgets of pages scattered over 4 budgets,
 * in an order that has nothing to do with their addresses. */
START_TEST(test_policy_random_loop)
{
	uint64_t rng = 7;
	struct loop_trace t = { SIM_BUDGET * 17 / 10, 10, NULL };
	uint64_t *set = random_set(t.len, 4 * SIM_BUDGET, &rng);
	struct ratios h;

	t.order = set;
	h = compare("random-order sweep 1.7x", 4 * SIM_BUDGET, loop_next, &t);
	ck_assert_double_ge(h.refault, 0.45);
	ck_assert_double_ge(h.refault, h.clock + 0.2);
	ck_assert_double_ge(h.adaptive, h.clock + 0.2);	/* measured 0.452 */
	free(set);
}
END_TEST

/*
 * A hot set (@hot pages, scattered) and a scan of pages touched once,
 * interleaved one for one; every @shift accesses the hot set moves to
 * other pages (never, with 0).
 */
struct scan_trace {
	uint64_t steps, hot, shift, nsets;
	uint64_t *sets;		/* nsets sets of @hot pages */
	uint64_t scan_base, rng;
};

static uint64_t scan_next(void *arg, uint64_t i, bool *counting)
{
	struct scan_trace *t = arg;
	uint64_t step = i / 2, set;

	if (step >= t->steps)
		return UINT64_MAX;
	*counting = step >= 2 * SIM_BUDGET;
	if (i % 2)
		return t->scan_base + step;	/* the scan: once each */
	set = t->shift ? step / t->shift % t->nsets : 0;
	return t->sets[set * t->hot + tu_rand(&t->rng) % t->hot];
}

static struct ratios scan_trace_run(const char *name, struct scan_trace *t,
				    uint64_t nsets)
{
	struct ratios h;
	uint64_t rng = 11, range = 4 * SIM_BUDGET;

	t->nsets = nsets;
	t->sets = random_set(nsets * t->hot, range, &rng);
	t->scan_base = range;
	t->rng = 5;
	h.clock = run_trace(VICTIM_CLOCK, range + t->steps, scan_next, t);
	t->rng = 5;
	h.refault = run_trace(VICTIM_REFAULT, range + t->steps, scan_next, t);
	t->rng = 5;
	h.adaptive = run_trace(VICTIM_ADAPTIVE, range + t->steps, scan_next,
			       t);
	printf("policy trace %-22s hit ratio: refault %.3f, clock %.3f, "
	       "adaptive %.3f\n", name, h.refault, h.clock, h.adaptive);
	fflush(stdout);
	free(t->sets);
	return h;
}

/* A scan through a hot working set: the scan never comes back, and must
 * not push the hot set out. */
START_TEST(test_policy_scan)
{
	struct scan_trace t = { .steps = 12 * SIM_BUDGET,
				.hot = SIM_BUDGET * 3 / 4 };
	struct ratios h = scan_trace_run("hot set + scan", &t, 1);

	/* Half the accesses are the scan's: every one misses. */
	ck_assert_double_ge(h.refault, 0.45);
	ck_assert_double_ge(h.refault, h.clock + 0.1);
	ck_assert_double_ge(h.adaptive, h.clock + 0.1);	/* measured 0.426 */
}
END_TEST

/*
 * The hot set moves now and then: the new one must win its place.  Each
 * move costs the first touch of every page of the new set (about 6000
 * of every 65536 accesses), so the best any policy can do is about 0.41.
 */
START_TEST(test_policy_shifting)
{
	struct scan_trace t = { .steps = 32 * SIM_BUDGET,
				.hot = SIM_BUDGET * 3 / 4,
				.shift = 8 * SIM_BUDGET };
	struct ratios h = scan_trace_run("shifting hot set + scan", &t, 4);

	ck_assert_double_ge(h.refault, 0.36);
	ck_assert_double_ge(h.refault, h.clock + 0.08);
	ck_assert_double_ge(h.adaptive, h.clock + 0.04);	/* measured 0.332 */
}
END_TEST

/* Random accesses over twice the budget: nothing to learn, and nothing
 * lost by trying. */
struct random_trace {
	uint64_t n, range, rng;
};

static uint64_t random_next(void *arg, uint64_t i, bool *counting)
{
	struct random_trace *t = arg;

	if (i >= t->n)
		return UINT64_MAX;
	*counting = i >= t->n / 4;
	return tu_rand(&t->rng) % t->range;
}

START_TEST(test_policy_random)
{
	struct random_trace t = { 20 * SIM_BUDGET, 2 * SIM_BUDGET, 3 };
	double r, c, a;

	c = run_trace(VICTIM_CLOCK, t.range, random_next, &t);
	t.rng = 3;
	r = run_trace(VICTIM_REFAULT, t.range, random_next, &t);
	t.rng = 3;
	a = run_trace(VICTIM_ADAPTIVE, t.range, random_next, &t);
	printf("policy trace %-22s hit ratio: refault %.3f, clock %.3f, "
	       "adaptive %.3f\n", "uniform random 2x", r, c, a);
	ck_assert_double_ge(r, c - 0.02);
	ck_assert_double_ge(a, c - 0.02);
}
END_TEST

/*
 * The guest benchmark's quicksort (tests/guest/workloads/qsort.c), page by
 * page: an array 2.4 times the budget (600 MiB sorted by a 1 GiB guest
 * with a quarter of it local) is filled, summed, sorted and checked.
 * Each Hoare partition runs two cursors towards each other over its
 * range, then the smaller side is sorted first and the loop goes on with
 * the larger; within one page everything hits.  The one common workload
 * whose reuse is recency: the refault policy must not do worse here.
 */
struct qsort_trace {
	uint64_t *v;
	uint64_t n, cap;
};

static void qs_emit(struct qsort_trace *t, uint64_t p)
{
	if (t->n && t->v[t->n - 1] == p)
		return;		/* the same page again: no fault */
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 1 << 16;
		t->v = realloc(t->v, t->cap * sizeof(*t->v));
		ck_assert_ptr_nonnull(t->v);
	}
	t->v[t->n++] = p;
}

static void qs_sort(struct qsort_trace *t, uint64_t lo, uint64_t hi,
		    uint64_t *rng)
{
	while (hi - lo > 1) {
		uint64_t len = hi - lo, mid, i = lo, j = hi;

		/* The two cursors meet somewhere in the middle half. */
		mid = lo + len / 4 + tu_rand(rng) % (len / 2 + 1);
		if (mid <= lo)
			mid = lo + 1;
		if (mid >= hi)
			mid = hi - 1;
		while (i < mid || j > mid) {
			if (i < mid)
				qs_emit(t, i++ | SIM_WRITE);
			if (j > mid)
				qs_emit(t, --j | SIM_WRITE);
		}
		if (mid - lo < hi - mid) {
			qs_sort(t, lo, mid, rng);
			lo = mid;
		} else {
			qs_sort(t, mid, hi, rng);
			hi = mid;
		}
	}
}

static uint64_t qsort_next(void *arg, uint64_t i, bool *counting)
{
	const struct qsort_trace *t = arg;

	*counting = true;
	return i < t->n ? t->v[i] : UINT64_MAX;
}

START_TEST(test_policy_qsort)
{
	uint64_t npages = SIM_BUDGET * 12 / 5;
	uint64_t rd = 0, wd = 0, cd = 0, ad = 0;
	double r = 0, w = 0, c = 0, a = 0;

	/* Where the cursors meet varies: four sorts, averaged. */
	for (uint64_t seed = 1; seed <= 4; seed++) {
		struct qsort_trace t = { 0 };
		uint64_t rng = seed, d;

		for (unsigned scan = 0; scan < 2; scan++)  /* fill, sum */
			for (uint64_t p = 0; p < npages; p++)
				qs_emit(&t, scan ? p : p | SIM_WRITE);
		qs_sort(&t, 0, npages, &rng);
		for (unsigned scan = 0; scan < 2; scan++)  /* sum, sorted? */
			for (uint64_t p = 0; p < npages; p++)
				qs_emit(&t, p);
		r += run_trace_dirty(VICTIM_REFAULT, npages, qsort_next, &t,
				     &d) / 4;
		rd += d;
		w += run_trace_dirty(VICTIM_REFAULT_WP, npages, qsort_next, &t,
				     &d) / 4;
		wd += d;
		c += run_trace_dirty(VICTIM_CLOCK, npages, qsort_next, &t,
				     &d) / 4;
		cd += d;
		a += run_trace_dirty(VICTIM_ADAPTIVE, npages, qsort_next, &t,
				     &d) / 4;
		ad += d;
		free(t.v);
	}
	printf("policy trace %-22s hit ratio: refault %.3f, refault-wp %.3f, "
	       "clock %.3f, adaptive %.3f; dirty evictions %lu, %lu, %lu, "
	       "%lu\n", "quicksort 2.4x", r, w, c, a, (unsigned long)rd,
	       (unsigned long)wd, (unsigned long)cd, (unsigned long)ad);
	fflush(stdout);
	/*
	 * Quicksort's reuse is recency, nested ranges each used up before
	 * the next: a hot set held against newcomers is in its way, and
	 * the hot pages of a range it is done with are stale, which only
	 * their writes tell (the sort writes every page it touches).
	 * Measured: refault 0.640, refault-wp 0.672, clock 0.660; dirty
	 * evictions 362 k, 316 k and 290 k.  refault may not get worse;
	 * refault-wp must fault no more than CLOCK, and write back at most
	 * an eighth more.
	 */
	ck_assert_double_ge(r, c - 0.04);
	ck_assert_double_ge(w, c);
	ck_assert_uint_le(wd, cd + cd / 8);
	/*
	 * adaptive: its leaders fetch about as much here, a tie, and a tie
	 * is CLOCK's; but a sixteenth of the pages always run refault, and
	 * the duel turns now and then.  Measured 0.655 and 300 k dirty
	 * evictions: within 0.01 of CLOCK, and 3% more written.
	 */
	ck_assert_double_ge(a, c - 0.01);
	ck_assert_uint_le(ad, cd + cd / 16);
}
END_TEST

/*
 * adaptive turns with the workload: a sweep 1.7 times the budget makes
 * CLOCK's leaders fetch every page of every pass, and the followers turn
 * to refault; uniformly random accesses after it make both leader sets
 * fetch alike, and the followers turn back to CLOCK, whose hot set is
 * given back.
 */
START_TEST(test_adaptive_turns)
{
	struct loop_trace loop = { SIM_BUDGET * 17 / 10, 8, NULL };
	struct random_trace rnd = { 24 * SIM_BUDGET, 2 * SIM_BUDGET, 3 };
	uint64_t npages = 2 * SIM_BUDGET;
	bool counting;
	struct sim s;

	sim_init(&s, VICTIM_ADAPTIVE, npages, SIM_BUDGET);
	ck_assert(!s.v.follow_refault);		/* CLOCK until told */
	for (uint64_t i = 0, p; (p = loop_next(&loop, i, &counting)) !=
	     UINT64_MAX; i++)
		sim_access(&s, p, false);
	ck_assert(s.v.follow_refault);
	ck_assert_uint_gt(s.pt.hot, SIM_BUDGET / 2);
	ck_assert_uint_gt(s.v.st.lead_clock, s.v.st.lead_refault * 9 / 8);
	for (uint64_t i = 0, p; (p = random_next(&rnd, i, &counting)) !=
	     UINT64_MAX; i++)
		sim_access(&s, p, i % 2);
	ck_assert(!s.v.follow_refault);
	ck_assert_uint_eq(s.v.st.turns, 2);	/* there and back, once */
	/* Only the refault leaders' share is left hot. */
	ck_assert_uint_le(s.pt.hot, s.v.hot_target / VICTIM_DUEL_SETS + 1);
	/* Each leader set stays within its share of the budget. */
	ck_assert_uint_le(s.v.lead[1].resident, s.v.lead_share + SIM_BATCH);
	ck_assert_uint_le(s.v.lead[2].resident, s.v.lead_share + SIM_BATCH);
	sim_fini(&s);
}
END_TEST

/*
 * adaptive: a lead of one window is not enough to turn.  On a small
 * budget a sweep 1.7 times it is a few hundred leader fetches a pass, so
 * refault's leaders lead clearly long before the first window ends; the
 * followers still wait for it to end with refault ahead (a single window
 * turned them at the 1024th leader fetch here).
 */
START_TEST(test_adaptive_waits_a_window)
{
	const uint64_t budget = 1024;
	struct loop_trace loop = { budget * 17 / 10, 16, NULL };
	uint64_t turned_at = 0;
	bool counting;
	struct sim s;

	sim_init(&s, VICTIM_ADAPTIVE, 2 * budget, budget);
	for (uint64_t i = 0, p; (p = loop_next(&loop, i, &counting)) !=
	     UINT64_MAX; i++) {
		sim_access(&s, p, false);
		if (s.v.follow_refault && !turned_at)
			turned_at = s.v.st.lead_clock + s.v.st.lead_refault;
	}
	ck_assert(s.v.follow_refault);
	ck_assert_uint_gt(turned_at, VICTIM_DUEL_WINDOW);
	ck_assert_uint_eq(s.v.st.turns, 1);
	sim_fini(&s);
}
END_TEST

/*
 * adaptive: a duel group is as large as leaves 512 of them in the budget,
 * from 16 pages to 256, so that a leader group's island of residency
 * breaks a walk's prefetch run rarely (design.md), and the traces here
 * (a budget of 8192 pages) keep groups of 16.
 */
START_TEST(test_adaptive_group_size)
{
	static const struct { uint64_t budget; unsigned shift; } want[] = {
		{ 100, 4 }, { SIM_BUDGET, 4 }, { 16383, 4 }, { 16384, 5 },
		{ 24576, 5 }, { 32768, 6 }, { 65536, 7 }, { 131072, 8 },
		{ 1u << 20, 8 },
	};
	struct victim v;

	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		victim_init(&v, VICTIM_ADAPTIVE, 4 * want[i].budget,
			    want[i].budget, 1);
		ck_assert_uint_eq(v.group_shift, want[i].shift);
	}
}
END_TEST

/*
 * Prefetch and eviction do not fight: a run installed ahead of a stream
 * (install_ahead: resident, with its reference bit, as a fault's page)
 * is still resident when the stream reaches it, though a random stream
 * beside it misses, installs and evicts a page between each two of its
 * steps, under every policy and with the refault hot set full.  The
 * cold room the hot set leaves (1024 pages or an eighth of the budget,
 * whichever is more; half of a budget under 8 MiB) is many times the
 * largest window (64 pages).
 */
START_TEST(test_ahead_survives_until_used)
{
	static const enum victim_policy policies[] = {
		VICTIM_CLOCK, VICTIM_REFAULT, VICTIM_REFAULT_WP, VICTIM_ADAPTIVE,
	};
	const uint64_t npages = 4 * SIM_BUDGET, sweep = SIM_BUDGET * 17 / 10;
	const unsigned window = 64;

	for (unsigned k = 0; k < sizeof(policies) / sizeof(policies[0]); k++) {
		uint64_t rng = 42, lost = 0, reached = 0, installed = 0;
		struct sim s;

		sim_init(&s, policies[k], npages, SIM_BUDGET);
		/* Three passes of a 1.7-budget sweep fill refault's hot set. */
		for (uint64_t i = 0; i < 3 * sweep; i++)
			sim_access(&s, i % sweep, i % 4 == 0);
		/* A stream over pages the sweep never touched, a window at a
		 * time, beside random misses over the sweep's pages. */
		for (uint64_t q = sweep; q + window < npages;
		     q += window + 1) {
			sim_access(&s, q, false);
			for (uint64_t p = q + 1; p <= q + window; p++) {
				if (pt_state(&s.pt, p) == PS_RESIDENT)
					continue;
				ck_assert(pt_installed(&s.pt, p, true));
				victim_installed(&s.v, &s.pt, p);
				installed++;
			}
			sim_make_room(&s);
			for (uint64_t p = q + 1; p <= q + window; p++) {
				sim_access(&s, tu_rand(&rng) % sweep, true);
				lost += pt_state(&s.pt, p) != PS_RESIDENT;
				reached++;
				sim_access(&s, p, false);
			}
		}
		printf("policy %-10s pages installed ahead %lu, reached %lu, "
		       "evicted before use %lu; hot set %lu\n",
		       victim_policy_name(s.v.policy), (unsigned long)installed,
		       (unsigned long)reached, (unsigned long)lost,
		       (unsigned long)s.pt.hot);
		ck_assert_uint_gt(installed, npages / 2);
		ck_assert_uint_eq(lost, 0);
		if (policies[k] == VICTIM_REFAULT)
			ck_assert_uint_gt(s.pt.hot, SIM_BUDGET / 2);
		sim_fini(&s);
	}
}
END_TEST

/*
 * adaptive: a budget under VICTIM_DUEL_MIN_BUDGET (4 MiB) would leave
 * each leader set fewer than four groups, no miniature of its policy:
 * the VM runs clock, and evicts what clock would, page for page.
 */
START_TEST(test_adaptive_small_budget)
{
	const uint64_t small = VICTIM_DUEL_MIN_BUDGET - 1;
	const uint64_t npages = small * 17 / 10;
	struct sim a, c;
	struct victim v;

	victim_init(&v, VICTIM_ADAPTIVE, 4 * small, small, 1);
	ck_assert_int_eq(v.policy, VICTIM_CLOCK);
	victim_init(&v, VICTIM_ADAPTIVE, 4 * small, small + 1, 1);
	ck_assert_int_eq(v.policy, VICTIM_ADAPTIVE);
	ck_assert_uint_eq(v.lead_share, 4u << 4);
	/* The other policies are what was asked, whatever the budget. */
	victim_init(&v, VICTIM_REFAULT, 400, 100, 1);
	ck_assert_int_eq(v.policy, VICTIM_REFAULT);

	/* A cyclic sweep of 1.7 budgets, every third access a write. */
	sim_init(&a, VICTIM_ADAPTIVE, npages, small);
	sim_init(&c, VICTIM_CLOCK, npages, small);
	a.counting = c.counting = true;
	for (uint64_t i = 0; i < 10 * npages; i++) {
		sim_access(&a, i % npages, i % 3 == 0);
		sim_access(&c, i % npages, i % 3 == 0);
	}
	ck_assert_uint_eq(a.hits, c.hits);
	ck_assert_uint_eq(a.dirty_evictions, c.dirty_evictions);
	ck_assert_uint_eq(a.v.st.lead_clock + a.v.st.lead_refault, 0);
	sim_fini(&a);
	sim_fini(&c);
}
END_TEST

/* Take back every eviction left in flight, and free @s. */
static void sim_cancel_fini(struct sim *s)
{
	for (uint64_t p = 0; p < s->pt.npages; p++)
		if (pt_state(&s->pt, p) == PS_EVICTING)
			ck_assert(pt_evict_cancel(&s->pt, p));
	pt_fini(&s->pt);
	free(s->wp);
}

/*
 * adaptive: a leader set over its share whose pages cannot go now (here
 * all of them being evicted already) costs victim_select() a walk of
 * that set, twice at most, not of the whole VM; and the followers still
 * give their victims.  The pages of the sets add up to the VM's.
 */
START_TEST(test_adaptive_leader_walk_bounded)
{
	const uint64_t budget = SIM_BUDGET, npages = 4 * budget + 5;
	struct victim_lead *l;
	uint64_t out[SIM_BATCH], followers = 0, before;
	struct sim s;
	unsigned n;

	sim_init(&s, VICTIM_ADAPTIVE, npages, budget);
	l = &s.v.lead[VICTIM_LEAD_CLOCK];
	ck_assert_uint_eq(s.v.lead[0].pages + s.v.lead[1].pages +
			  s.v.lead[2].pages, npages);
	ck_assert_uint_gt(l->pages, npages / 32);
	ck_assert_uint_lt(l->pages, npages / 8);
	/* Every page of CLOCK's leader set resident, and a batch's worth
	 * of the followers'. */
	for (uint64_t p = 0; p < npages; p++) {
		unsigned role = victim_duel_role(&s.v, p);
		bool lead = role == VICTIM_LEAD_CLOCK;

		if (!lead && (role != 0 || followers >= SIM_BATCH))
			continue;
		followers += !lead;
		ck_assert(pt_installed(&s.pt, p, true));
		victim_installed(&s.v, &s.pt, p);
	}
	ck_assert_uint_eq(l->resident, l->pages);
	ck_assert_uint_gt(l->resident, s.v.lead_share);
	/* ... and every one of them on its way out. */
	for (uint64_t p = 0; p < npages; p++)
		if (victim_duel_role(&s.v, p) == VICTIM_LEAD_CLOCK)
			ck_assert(pt_evict_begin(&s.pt, p));

	before = s.v.st.lead_scanned;
	n = victim_select(&s.v, &s.pt, out, SIM_BATCH);
	ck_assert_uint_le(s.v.st.lead_scanned - before, 2 * l->pages);
	ck_assert_uint_ge(s.v.st.lead_scanned - before, l->pages);
	ck_assert_uint_eq(n, SIM_BATCH);
	for (unsigned i = 0; i < n; i++)
		ck_assert_uint_eq(victim_duel_role(&s.v, out[i]), 0);
	sim_cancel_fini(&s);
}
END_TEST

/*
 * The hot hands' walks.  Letting one of the refault leaders' hot pages
 * go walks that set (twice at most: here every page of it is referenced,
 * so the first pass only clears bits), not the VM; and where the others
 * have no hot page, their hand does not walk at all.  Before, each walk
 * could pass twice the VM's pages: on the fault path (victim_installed),
 * and once per victim wanted from a dry cold hand (victim_select).
 */
START_TEST(test_hot_walk_bounded)
{
	const uint64_t budget = SIM_BUDGET, npages = 8 * budget + 5;
	uint64_t out[SIM_BATCH], before, room, refault = UINT64_MAX, hot = 0;
	uint64_t followers = 0;
	struct victim_lead *l;
	struct sim s;
	unsigned n;

	sim_init(&s, VICTIM_ADAPTIVE, npages, budget);
	l = &s.v.lead[VICTIM_LEAD_REFAULT];
	room = s.v.hot_target / VICTIM_DUEL_SETS;
	ck_assert_uint_lt(2 * l->pages, npages / 4);
	/* The refault leaders' hot set full, every page of it referenced
	 * (installed); the next of their pages comes back within the
	 * horizon, and enough refaults have asked for a place. */
	for (uint64_t p = 0; p < npages; p++) {
		if (victim_duel_role(&s.v, p) != VICTIM_LEAD_REFAULT)
			continue;
		if (hot == room) {
			refault = p;
			break;
		}
		ck_assert(pt_installed(&s.pt, p, true));
		ck_assert(pt_set_hot(&s.pt, p, true));
		s.v.lead_hot++;
		l->resident++;
		hot++;
	}
	ck_assert_uint_ne(refault, UINT64_MAX);
	pt_set_epoch(&s.pt, refault, l->now);
	l->pressure = l->theta - 1;
	ck_assert(pt_installed(&s.pt, refault, true));
	before = s.v.st.hot_scanned;
	victim_installed(&s.v, &s.pt, refault);
	ck_assert_uint_eq(s.v.st.demoted, 1);
	ck_assert_uint_eq(s.v.st.promoted, 1);
	ck_assert_uint_eq(s.v.lead_hot, room);
	ck_assert_uint_gt(s.v.st.hot_scanned - before, room);
	ck_assert_uint_le(s.v.st.hot_scanned - before, 2 * l->pages);

	/* A batch of the others' pages resident, all on their way out:
	 * the cold hand is dry, and they have no hot page to give up. */
	for (uint64_t p = 0; p < npages && followers < SIM_BATCH; p++) {
		if (victim_duel_role(&s.v, p) != 0)
			continue;
		ck_assert(pt_installed(&s.pt, p, true));
		victim_installed(&s.v, &s.pt, p);
		ck_assert(pt_evict_begin(&s.pt, p));
		followers++;
	}
	before = s.v.st.hot_scanned;
	n = victim_select(&s.v, &s.pt, out, SIM_BATCH);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_lt(s.v.st.hot_scanned - before, l->pages);
	sim_cancel_fini(&s);
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("prefetch");

	tcase_add_test(tc, test_prefetch_sequential);
	tcase_add_test(tc, test_prefetch_interleaved_streams);
	tcase_add_test(tc, test_prefetch_random_no_trend);
	tcase_add_test(tc, test_prefetch_installed_ahead);
	tcase_add_test(tc, test_prefetch_covered_then_back);
	tcase_add_test(tc, test_prefetch_window_adapts);
	tcase_add_test(tc, test_write_trend);
	tcase_add_test(tc, test_write_trend_turns);
	suite_add_tcase(s, tc);
	tc = tcase_create("evict");
	tcase_add_test(tc, test_clock_second_chance);
	tcase_add_test(tc, test_sample_hot);
	suite_add_tcase(s, tc);
	tc = tcase_create("traces");
	tcase_set_timeout(tc, 300);	/* sanitizer builds are slow */
	tcase_add_test(tc, test_policy_loop_1_25);
	tcase_add_test(tc, test_policy_loop_1_7);
	tcase_add_test(tc, test_policy_loop_3);
	tcase_add_test(tc, test_policy_write_loop);
	tcase_add_test(tc, test_policy_random_loop);
	tcase_add_test(tc, test_policy_scan);
	tcase_add_test(tc, test_policy_shifting);
	tcase_add_test(tc, test_policy_random);
	tcase_add_test(tc, test_policy_qsort);
	tcase_add_test(tc, test_adaptive_turns);
	tcase_add_test(tc, test_adaptive_waits_a_window);
	tcase_add_test(tc, test_adaptive_group_size);
	tcase_add_test(tc, test_adaptive_small_budget);
	tcase_add_test(tc, test_adaptive_leader_walk_bounded);
	tcase_add_test(tc, test_hot_walk_bounded);
	tcase_add_test(tc, test_ahead_survives_until_used);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(policy_suite());
}
