// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * spin.c - whether an idle event loop should poll before it sleeps: the
 * governor of spin.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "rmap/spin.h"

void spin_gov_init(struct spin_gov *g, uint64_t max_ns,
		   int (*cpu_waiting)(uint64_t now_ns))
{
	*g = (struct spin_gov){
		.max_ns = max_ns,
		.avg_hit_ns = max_ns / 2,
		/* Start trusting polls: the first misses will say if not. */
		.score = SPIN_SCORE_ONE,
		.cpu_waiting = cpu_waiting,
	};
}

/* Did threads wait for a CPU much of the time lately? */
static bool crowded(struct spin_gov *g, uint64_t now_ns)
{
	if (!g->cpu_waiting)
		return false;
	if (!g->load_read || now_ns - g->load_at_ns >= SPIN_LOAD_NS) {
		int w = g->cpu_waiting(now_ns);

		g->load_read = true;
		g->load_at_ns = now_ns;
		g->crowded = w >= (int)SPIN_CROWDED_PERMILLE;
	}
	return g->crowded;
}

uint64_t spin_gov_budget(struct spin_gov *g, uint64_t now_ns)
{
	uint64_t b;

	if (!g->max_ns)
		return 0;
	if (crowded(g, now_ns)) {
		g->skipped_crowded++;
		return 0;
	}
	if (g->score < SPIN_SCORE_ONE / 2 &&
	    ++g->since_probe < SPIN_PROBE_EVERY) {
		g->skipped_score++;
		return 0;
	}
	g->since_probe = 0;
	b = 2 * g->avg_hit_ns;
	if (b < SPIN_MIN_NS)
		b = SPIN_MIN_NS;
	if (b > g->max_ns)
		b = g->max_ns;
	g->polls++;
	return b;
}

void spin_gov_result(struct spin_gov *g, bool hit, uint64_t spun_ns)
{
	/* An average over about 16 outcomes: each moves it by 1/16. */
	g->score -= g->score / 16;
	if (hit) {
		g->hits++;
		g->score += SPIN_SCORE_ONE / 16;
		g->avg_hit_ns -= g->avg_hit_ns / 8;
		g->avg_hit_ns += spun_ns / 8;
	} else {
		g->misses++;
		/*
		 * The completion came later than the poll: the next poll
		 * is longer (a quarter more than this one, at least), up
		 * to the cap, so that one slow stretch does not leave the
		 * budget too short to ever hit again.
		 */
		if (g->avg_hit_ns < g->max_ns / 2) {
			uint64_t want = spun_ns * 5 / 8;

			g->avg_hit_ns += g->avg_hit_ns / 4 + 1;
			if (g->avg_hit_ns < want)
				g->avg_hit_ns = want;
			if (g->avg_hit_ns > g->max_ns / 2)
				g->avg_hit_ns = g->max_ns / 2;
		}
	}
}

/* The first line of @path, NUL-terminated, in @buf; < 0: none. */
static int read_line(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	return 0;
}

/* Runnable threads beyond the CPUs, now: 1000 if any, else 0. */
static int run_queue_crowded(void)
{
	long ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned running;
	char buf[128];

	/* "0.91 1.55 1.81 2/345 12345": the fourth field's numerator. */
	if (read_line("/proc/loadavg", buf, sizeof(buf)) ||
	    sscanf(buf, "%*s %*s %*s %u/", &running) != 1 || ncpus < 1)
		return -EIO;
	/* The count includes the caller, who is running. */
	return running > (unsigned long)ncpus ? 1000 : 0;
}

int spin_cpu_waiting_proc(uint64_t now_ns)
{
	static uint64_t last_total, last_ns;
	static bool no_psi;
	unsigned long long total;
	uint64_t was_total, was_ns, permille;
	char buf[256];

	if (no_psi ||
	    read_line("/proc/pressure/cpu", buf, sizeof(buf)) ||
	    sscanf(buf, "some avg10=%*f avg60=%*f avg300=%*f total=%llu",
		   &total) != 1) {
		no_psi = true;	/* absent, or turned off: psi=0 */
		return run_queue_crowded();
	}
	was_total = last_total;
	was_ns = last_ns;
	last_total = total;
	last_ns = now_ns;
	if (!was_ns || now_ns <= was_ns || total < was_total)
		return -EAGAIN;	/* the first reading: nothing to compare */
	/* total is in microseconds, the clock in nanoseconds. */
	permille = (total - was_total) * 1000000ull / (now_ns - was_ns);
	return permille > 1000 ? 1000 : (int)permille;
}
