/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * evloop.h - one io_uring that a daemon waits on for everything.
 *
 * memxd's fault loop must wait on a userfaultfd, RMAP sockets and timers
 * at once, with no thread hand-offs on the fault path.  evloop is that
 * one place: every submission carries a struct evl_op, whose callback runs
 * when its completion arrives.  Timers live in a small heap and bound the
 * wait; "before sleep" hooks run once per iteration, so a protocol can
 * batch work (acknowledgements, sends) and submit it in one syscall.
 *
 * In the spirit of Redis' ae.c: a tiny API with one prefix.
 */
#ifndef MEMX_RMAP_EVLOOP_H
#define MEMX_RMAP_EVLOOP_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rmap/spin.h"

struct evl;

/* The struct of @type whose @member is at @ptr: an op, timer or hook is
 * embedded in its owner, and its callback finds the owner with this. */
#define evl_container_of(ptr, type, member)				\
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* A pending submission.  Embed it; the callback gets the CQE result. */
struct evl_op {
	void (*done)(struct evl *loop, struct evl_op *op, int res);
};

struct evl_timer {
	uint64_t when_ns;
	void (*fire)(struct evl *loop, struct evl_timer *t);
	int heap_idx;		/* -1 when not armed */
};

struct evl_hook {
	void (*run)(struct evl *loop, struct evl_hook *hook);
	struct evl_hook *next;
};

int evl_new(struct evl **loop, unsigned entries);
void evl_free(struct evl *loop);

/* A free SQE whose user_data already points at @op. */
struct io_uring_sqe *evl_sqe(struct evl *loop, struct evl_op *op);

/* One-shot poll of @fd for @events (POLLIN...); re-arm from the callback. */
void evl_poll(struct evl *loop, int fd, unsigned events, struct evl_op *op);
/* Cancel @op's poll: its callback then runs with -ECANCELED. */
void evl_poll_cancel(struct evl *loop, struct evl_op *op);

void evl_timer_init(struct evl_timer *t,
		    void (*fire)(struct evl *, struct evl_timer *));
void evl_timer_arm(struct evl *loop, struct evl_timer *t, uint64_t delay_ns);
void evl_timer_cancel(struct evl *loop, struct evl_timer *t);
static inline bool evl_timer_armed(const struct evl_timer *t)
{
	return t->heap_idx >= 0;
}

void evl_add_hook(struct evl *loop, struct evl_hook *hook);
void evl_remove_hook(struct evl *loop, struct evl_hook *hook);

/*
 * Poll before sleeping: when the loop has nothing to do but @due(@arg)
 * says a completion is due any moment (memxd: a vCPU waits for a page
 * on its way from a server), poll the completion queue first, for at
 * most @max_ns and only while the governor of spin.h finds that polling
 * pays and takes no CPU another thread waits for.  @due NULL or @max_ns
 * 0 turns it off (the default).
 */
void evl_set_spin(struct evl *loop, bool (*due)(void *arg), void *arg,
		  uint64_t max_ns);
/* The governor: what it decided, for the logs and memxctl. */
const struct spin_gov *evl_spin(const struct evl *loop);

/*
 * Submit what is queued, wait for at least one completion or the next
 * timer (at most @max_wait_ns, or forever if negative), then dispatch.
 * Returns the number of completions and timers handled, or -errno.
 */
int evl_run_once(struct evl *loop, int64_t max_wait_ns);
/* Run until evl_stop(). */
int evl_run(struct evl *loop);
void evl_stop(struct evl *loop);
/* Submit queued SQEs now, without waiting; none queued, no system call. */
int evl_flush(struct evl *loop);
/* SQEs queued and not yet submitted. */
unsigned evl_unsubmitted(const struct evl *loop);

uint64_t evl_now_ns(void);
/*
 * Test hook (fuzzers): move this process's clock @ns ahead, so that
 * timers, leases and retries run as if that much time had passed.
 */
void evl_advance_clock(uint64_t ns);

/* The flags of the completion being dispatched (IORING_CQE_F_*). */
unsigned evl_cqe_flags(const struct evl *loop);
/*
 * Whether the kernel runs completions' task work only when the loop asks
 * for events (DEFER_TASKRUN, Linux 6.1 and later), as evl_new() asks it
 * to: false on older kernels, where it interrupts the loop's system calls
 * instead, and a fault's round trip costs more (the daemons log which).
 */
bool evl_defers_task_work(const struct evl *loop);
/* The ring itself, for registrations (provided buffers). */
struct io_uring *evl_ring(struct evl *loop);

#endif
