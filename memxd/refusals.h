/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * refusals.h - say in the log when an RMAP endpoint refuses datagrams.
 *
 * RMAP drops what fails to authenticate, replays, malformed packets and
 * the rest in silence, and counts them (rmap_counters).  An operator
 * reading the journal during an attack, or while a peer has the wrong
 * key, should not need to know which counters to ask for: the memory
 * server and the pager each call refusals_tick() from a timer of about a
 * second, which logs a warning as soon as refusals start, at most one a
 * minute while they go on, and a line when they stop.  A warning counts
 * them by reason (RMAP_REFUSALS) and by the hosts they claimed to come
 * from (rmap_refused_source: forgeable, and so said).
 */
#ifndef MEMX_REFUSALS_H
#define MEMX_REFUSALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../rmap/rmap.h"

/* Between two warnings while refusals go on. */
#define REFUSALS_INTERVAL_NS	(60ull * 1000000000ull)

enum {
#define X(field, words) REFUSAL_##field,
	RMAP_REFUSALS(X)
#undef X
	REFUSALS_N
};

struct refusals {
	uint64_t seen[REFUSALS_N];	/* the counters at the last message */
	/* ... the sources' (matched by serial) */
	struct rmap_refused_source seen_from[RMAP_REFUSED_SOURCES];
	uint64_t since_ns;		/* ... and when it was (or start) */
	bool refusing;			/* a warning was the last message */
};

void refusals_init(struct refusals *r, const struct rmap_counters *rc,
		   uint64_t now_ns);
/*
 * What to log now, if anything: true with the message in @msg (and
 * @warn: a warning, or the all-clear), the counters taken as seen.
 */
bool refusals_check(struct refusals *r, const struct rmap_counters *rc,
		    uint64_t now_ns, char *msg, size_t len, bool *warn);
/* refusals_check(), and log what it says, naming @who. */
void refusals_tick(struct refusals *r, const struct rmap_counters *rc,
		   uint64_t now_ns, const char *who);

#endif
