/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * spin.h - whether an idle event loop should poll before it sleeps.
 *
 * On a virtualised host, waking a sleeping thread costs more than many a
 * wait it ends (an idle CPU halts; the wake-up is an interrupt through
 * the hypervisor).  A loop that expects a completion any moment may poll
 * its completion queue for a while first.  That pays only when the
 * completion comes within the poll, and only when the CPU the poll burns
 * is not one that another thread is waiting for: a poll that takes the
 * core of the memory server whose reply it waits for makes the reply
 * later.  The governor learns both, and polls only while both hold:
 *
 *  - from outcomes.  A poll that ends in a completion is a hit; one whose
 *    time runs out (the loop then sleeps all the same) is a miss.  The
 *    score, an average over roughly the last 16 polls, must stay at one
 *    half or more.  Below it the loop sleeps at once, except on one wait
 *    in SPIN_PROBE_EVERY, which polls so that the score can recover when
 *    things change;
 *  - from the CPUs' contention.  Every SPIN_LOAD_NS at most it asks how
 *    much of the time since it last asked some thread was ready to run
 *    and waited for a CPU (the kernel's pressure stall information,
 *    /proc/pressure/cpu; where the kernel keeps none, whether the run
 *    queue holds more threads than CPUs, the caller's excluded).  While
 *    that is SPIN_CROWDED_PERMILLE or more, nobody polls, probes
 *    included: a poll would take a CPU a thread is waiting for, and
 *    that thread may be the memory server, or the vCPU, the loop
 *    works for.
 *
 * A poll lasts twice the average time the recent hits took, within
 * [SPIN_MIN_NS, max]: long enough for the usual completion, no longer.
 *
 * The governor is plain arithmetic on the outcomes it is told and what
 * its cpu_waiting() says, so a test can drive it with no clock, no
 * threads and no /proc.
 */
#ifndef MEMX_RMAP_SPIN_H
#define MEMX_RMAP_SPIN_H

#include <stdbool.h>
#include <stdint.h>

#define SPIN_SCORE_ONE		256u	/* score of a loop that always hits */
#define SPIN_PROBE_EVERY	16u
#define SPIN_LOAD_NS		20000000ull	/* 20 ms */
#define SPIN_CROWDED_PERMILLE	100u	/* 10% of the time */
#define SPIN_MIN_NS		2000ull

struct spin_gov {
	uint64_t max_ns;	/* 0: never poll */
	uint64_t avg_hit_ns;	/* what hits took, averaged */
	unsigned score;		/* of SPIN_SCORE_ONE */
	unsigned since_probe;	/* waits slept since the last probe */
	/* Permille of the time since its last call (at @now_ns, the
	 * caller's clock) that a thread waited for a CPU; < 0: unknown,
	 * taken as not crowded. */
	int (*cpu_waiting)(uint64_t now_ns);
	uint64_t load_at_ns;	/* when it was last asked */
	bool crowded;		/* as it said then */
	bool load_read;
	/* What happened, for the logs and memxctl. */
	uint64_t polls, hits, misses, skipped_score, skipped_crowded;
};

/* Poll for at most @max_ns (0: never), contention told by @cpu_waiting. */
void spin_gov_init(struct spin_gov *g, uint64_t max_ns,
		   int (*cpu_waiting)(uint64_t now_ns));

/*
 * The loop is about to sleep, at @now_ns, expecting a completion soon:
 * how long to poll first (0: sleep at once).
 */
uint64_t spin_gov_budget(struct spin_gov *g, uint64_t now_ns);

/*
 * The poll granted by spin_gov_budget() ended: in a completion after
 * @spun_ns (@hit), or with its time run out.
 */
void spin_gov_result(struct spin_gov *g, bool hit, uint64_t spun_ns);

/*
 * The host's: permille of the time since its last call, at @now_ns
 * (CLOCK_MONOTONIC, as evl_now_ns()), that some thread
 * waited for a CPU (/proc/pressure/cpu), or, without pressure stall
 * information, 1000 if more threads than CPUs are runnable now
 * (/proc/loadavg) and 0 if not; < 0: unknown.  One caller per process
 * (it keeps the last reading).
 */
int spin_cpu_waiting_proc(uint64_t now_ns);

#endif
