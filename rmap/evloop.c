// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * evloop.c - the io_uring event loop behind memxd and its tools.
 */
#include "evloop.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * One thread submits and reaps (SINGLE_ISSUER), and the kernel runs the
 * task work of its completions -- a receive's copy into our buffer --
 * only when that thread asks for events (DEFER_TASKRUN), not by
 * interrupting whatever system call it is in.  The completion of a
 * receive then costs no signal-like notification and no extra pass
 * through the scheduler; TASKRUN_FLAG tells a polling loop that such
 * work waits (completion_ready()).
 */
#define EVL_RING_FLAGS	(IORING_SETUP_SINGLE_ISSUER | \
			 IORING_SETUP_DEFER_TASKRUN | \
			 IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG)

struct evl {
	struct io_uring ring;
	struct evl_timer **heap;
	unsigned nheap, heap_cap;
	struct evl_hook *hooks;
	unsigned cqe_flags;
	bool stop;
	bool (*spin_due)(void *arg);	/* evl_set_spin */
	void *spin_arg;
	struct spin_gov spin;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

unsigned evl_cqe_flags(const struct evl *loop)
{
	return loop->cqe_flags;
}

struct io_uring *evl_ring(struct evl *loop)
{
	return &loop->ring;
}

/* Test hook: how far the fuzzers moved time ahead (evl_advance_clock). */
static uint64_t clock_offset_ns;

uint64_t evl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec +
	       clock_offset_ns;
}

void evl_advance_clock(uint64_t ns)
{
	clock_offset_ns += ns;
}

int evl_new(struct evl **out, unsigned entries)
{
	struct evl *loop;
	int ret;

	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	ret = io_uring_queue_init(entries, &loop->ring, EVL_RING_FLAGS);
	if (ret == -EINVAL)	/* a kernel before 6.1: task work as it comes */
		ret = io_uring_queue_init(entries, &loop->ring, 0);
	if (ret < 0) {
		free(loop);
		return ret;
	}
	*out = loop;
	return 0;
}

bool evl_defers_task_work(const struct evl *loop)
{
	return loop->ring.flags & IORING_SETUP_DEFER_TASKRUN;
}

void evl_free(struct evl *loop)
{
	if (!loop)
		return;
	io_uring_queue_exit(&loop->ring);
	free(loop->heap);
	free(loop);
}

struct io_uring_sqe *evl_sqe(struct evl *loop, struct evl_op *op)
{
	struct io_uring_sqe *sqe;

	sqe = io_uring_get_sqe(&loop->ring);
	while (!sqe) {
		/* Ring full: hand what we have to the kernel and retry. */
		io_uring_submit(&loop->ring);
		sqe = io_uring_get_sqe(&loop->ring);
	}
	io_uring_sqe_set_data(sqe, op);
	return sqe;
}

void evl_poll(struct evl *loop, int fd, unsigned events, struct evl_op *op)
{
	io_uring_prep_poll_add(evl_sqe(loop, op), fd, events);
}

void evl_poll_cancel(struct evl *loop, struct evl_op *op)
{
	/* The cancel's own completion needs no callback. */
	io_uring_prep_poll_remove(evl_sqe(loop, NULL), (uint64_t)(uintptr_t)op);
}

unsigned evl_unsubmitted(const struct evl *loop)
{
	return io_uring_sq_ready(&loop->ring);
}

int evl_flush(struct evl *loop)
{
	int ret;

	/* Nothing queued: no system call (submit would enter for task work). */
	if (!evl_unsubmitted(loop))
		return 0;
	ret = io_uring_submit(&loop->ring);

	return ret < 0 ? ret : 0;
}

/* ---- timers: a binary min-heap on when_ns ---- */

static void heap_swap(struct evl *loop, unsigned a, unsigned b)
{
	struct evl_timer *t = loop->heap[a];

	loop->heap[a] = loop->heap[b];
	loop->heap[b] = t;
	loop->heap[a]->heap_idx = (int)a;
	loop->heap[b]->heap_idx = (int)b;
}

static void heap_up(struct evl *loop, unsigned i)
{
	while (i > 0) {
		unsigned parent = (i - 1) / 2;

		if (loop->heap[parent]->when_ns <= loop->heap[i]->when_ns)
			break;
		heap_swap(loop, i, parent);
		i = parent;
	}
}

static void heap_down(struct evl *loop, unsigned i)
{
	for (;;) {
		unsigned l = 2 * i + 1, r = l + 1, min = i;

		if (l < loop->nheap &&
		    loop->heap[l]->when_ns < loop->heap[min]->when_ns)
			min = l;
		if (r < loop->nheap &&
		    loop->heap[r]->when_ns < loop->heap[min]->when_ns)
			min = r;
		if (min == i)
			return;
		heap_swap(loop, i, min);
		i = min;
	}
}

void evl_timer_init(struct evl_timer *t,
		    void (*fire)(struct evl *, struct evl_timer *))
{
	t->fire = fire;
	t->when_ns = 0;
	t->heap_idx = -1;
}

void evl_timer_cancel(struct evl *loop, struct evl_timer *t)
{
	unsigned i;

	if (t->heap_idx < 0)
		return;
	i = (unsigned)t->heap_idx;
	t->heap_idx = -1;
	if (i == --loop->nheap)
		return;
	loop->heap[i] = loop->heap[loop->nheap];
	loop->heap[i]->heap_idx = (int)i;
	heap_up(loop, i);
	heap_down(loop, (unsigned)loop->heap[i]->heap_idx);
}

void evl_timer_arm(struct evl *loop, struct evl_timer *t, uint64_t delay_ns)
{
	evl_timer_cancel(loop, t);
	if (loop->nheap == loop->heap_cap) {
		unsigned cap = loop->heap_cap ? 2 * loop->heap_cap : 16;
		struct evl_timer **heap;

		heap = realloc(loop->heap, cap * sizeof(*heap));
		if (!heap)
			abort();	/* a handful of timers; cannot happen */
		loop->heap = heap;
		loop->heap_cap = cap;
	}
	t->when_ns = evl_now_ns() + delay_ns;
	t->heap_idx = (int)loop->nheap;
	loop->heap[loop->nheap++] = t;
	heap_up(loop, (unsigned)t->heap_idx);
}

static int run_timers(struct evl *loop)
{
	uint64_t now = evl_now_ns();
	int n = 0;

	while (loop->nheap && loop->heap[0]->when_ns <= now) {
		struct evl_timer *t = loop->heap[0];

		evl_timer_cancel(loop, t);
		t->fire(loop, t);
		n++;
	}
	return n;
}

void evl_add_hook(struct evl *loop, struct evl_hook *hook)
{
	hook->next = loop->hooks;
	loop->hooks = hook;
}

void evl_remove_hook(struct evl *loop, struct evl_hook *hook)
{
	struct evl_hook **pp = &loop->hooks;

	while (*pp && *pp != hook)
		pp = &(*pp)->next;
	if (*pp)
		*pp = hook->next;
}

void evl_set_spin(struct evl *loop, bool (*due)(void *arg), void *arg,
		  uint64_t max_ns)
{
	loop->spin_due = due;
	loop->spin_arg = arg;
	spin_gov_init(&loop->spin, due ? max_ns : 0, spin_cpu_waiting_proc);
}

/*
 * A completion is there, or the kernel holds one for us: with deferred
 * task work, a receive's data sits as task work until the loop asks.
 */
static bool completion_ready(struct evl *loop)
{
	if (io_uring_cq_ready(&loop->ring))
		return true;
	if (!(IO_URING_READ_ONCE(*loop->ring.sq.kflags) & IORING_SQ_TASKRUN))
		return false;
	io_uring_get_events(&loop->ring);
	return io_uring_cq_ready(&loop->ring) > 0;
}

/*
 * Before a sleep of @wait ns (negative: forever): while a completion is
 * due, poll for it as long as the governor (spin.h) allows, the wait
 * lasts and none is there.  What is queued goes first, or the
 * completion it waits for never comes.
 */
static void spin(struct evl *loop, int64_t wait)
{
	uint64_t start, budget;
	bool capped = false;

	if (!loop->spin_due || wait == 0 || !loop->spin_due(loop->spin_arg))
		return;
	start = evl_now_ns();
	budget = spin_gov_budget(&loop->spin, start);
	if (!budget)
		return;
	if (wait > 0 && (uint64_t)wait < budget) {
		budget = (uint64_t)wait;
		capped = true;	/* a timer ends it: no verdict on polling */
	}
	io_uring_submit(&loop->ring);
	for (;;) {
		uint64_t spun;

		if (completion_ready(loop)) {
			spin_gov_result(&loop->spin, true,
					evl_now_ns() - start);
			return;
		}
		spun = evl_now_ns() - start;
		if (spun >= budget) {
			if (!capped)
				spin_gov_result(&loop->spin, false, spun);
			return;
		}
		cpu_relax();
	}
}

const struct spin_gov *evl_spin(const struct evl *loop)
{
	return &loop->spin;
}

int evl_run_once(struct evl *loop, int64_t max_wait_ns)
{
	struct __kernel_timespec ts, *tsp = NULL;
	struct io_uring_cqe *cqe;
	int64_t wait = max_wait_ns;
	unsigned head, seen = 0;
	int ret, handled;

	for (struct evl_hook *h = loop->hooks; h; h = h->next)
		h->run(loop, h);

	if (loop->nheap) {
		int64_t until = (int64_t)(loop->heap[0]->when_ns - evl_now_ns());

		if (until < 0)
			until = 0;
		if (wait < 0 || until < wait)
			wait = until;
	}
	if (wait >= 0) {
		ts.tv_sec = wait / 1000000000;
		ts.tv_nsec = wait % 1000000000;
		tsp = &ts;
	}
	spin(loop, wait);
	ret = io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, tsp, NULL);
	if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN &&
	    ret != -EBUSY)
		return ret;

	io_uring_for_each_cqe(&loop->ring, head, cqe) {
		struct evl_op *op = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		loop->cqe_flags = cqe->flags;
		/* Advance first: the callback may queue and submit more. */
		io_uring_cq_advance(&loop->ring, 1);
		seen++;
		if (op)
			op->done(loop, op, res);
	}
	handled = (int)seen + run_timers(loop);
	return handled;
}

int evl_run(struct evl *loop)
{
	loop->stop = false;
	while (!loop->stop) {
		int ret = evl_run_once(loop, -1);

		if (ret < 0)
			return ret;
	}
	return 0;
}

void evl_stop(struct evl *loop)
{
	loop->stop = true;
}
