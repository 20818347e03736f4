// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * refusals.c - a warning in the log when RMAP refuses datagrams: at
 * once when they start, at most once a REFUSALS_INTERVAL_NS while they
 * go on (counting what was refused since the last), and a line once a
 * whole interval passed without any.
 */
#include <stdio.h>

#include "log.h"
#include "refusals.h"

static void take(uint64_t now[REFUSALS_N], const struct rmap_counters *rc)
{
#define X(field, words) now[REFUSAL_##field] = rc->field;
	REFUSALS(X)
#undef X
}

void refusals_init(struct refusals *r, const struct rmap_counters *rc,
		   uint64_t now_ns)
{
	take(r->seen, rc);
	r->since_ns = now_ns;
	r->refusing = false;
}

bool refusals_check(struct refusals *r, const struct rmap_counters *rc,
		    uint64_t now_ns, char *msg, size_t len, bool *warn)
{
	static const char *const words[REFUSALS_N] = {
#define X(field, w) [REFUSAL_##field] = w,
		REFUSALS(X)
#undef X
	};
	uint64_t now[REFUSALS_N], total = 0;
	double span = (double)(now_ns - r->since_ns) / 1e9;
	size_t n;

	take(now, rc);
	for (int i = 0; i < REFUSALS_N; i++)
		total += now[i] - r->seen[i];
	if (r->refusing && now_ns - r->since_ns < REFUSALS_INTERVAL_NS)
		return false;		/* said lately; sum up later */
	if (!total) {
		if (!r->refusing) {
			r->since_ns = now_ns;	/* a warning counts from here */
			return false;
		}
		snprintf(msg, len, "RMAP refused no datagram in the last "
			 "%.0f s", span);
		*warn = false;
		r->refusing = false;
		r->since_ns = now_ns;
		return true;
	}
	n = (size_t)snprintf(msg, len, "RMAP refused %llu datagram%s in "
			     "%.0f s:", (unsigned long long)total,
			     total == 1 ? "" : "s", span < 1 ? 1 : span);
	for (int i = 0; i < REFUSALS_N && n < len; i++)
		if (now[i] != r->seen[i])
			n += (size_t)snprintf(msg + n, len - n, " %llu %s,",
					      (unsigned long long)
					      (now[i] - r->seen[i]), words[i]);
	if (n < len)
		snprintf(msg + n - 1, len - n + 1, " (an attack, or a peer "
			 "with a wrong or outdated key: memxctl stat and "
			 "dump count them as rmap_*)");
	*warn = true;
	r->refusing = true;
	r->since_ns = now_ns;
	for (int i = 0; i < REFUSALS_N; i++)
		r->seen[i] = now[i];
	return true;
}

void refusals_tick(struct refusals *r, const struct rmap_counters *rc,
		   uint64_t now_ns, const char *who)
{
	char msg[512];
	bool warn;

	if (refusals_check(r, rc, now_ns, msg, sizeof(msg), &warn))
		log_msg(warn ? LOG_LEVEL_WARN : LOG_LEVEL_INFO, "%s: %s", who,
			msg);
}
