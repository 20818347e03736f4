// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * refusals.c - a warning in the log when RMAP refuses datagrams: at
 * once when they start, at most once a REFUSALS_INTERVAL_NS while they
 * go on (counting what was refused since the last, by reason and by the
 * hosts it claimed to come from), and a line once a whole interval passed
 * without any.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "refusals.h"

/* Append to @msg, which holds *@n of @len bytes; what does not fit is cut. */
static void say(char *msg, size_t len, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*n >= len)
		return;
	va_start(ap, fmt);
	k = vsnprintf(msg + *n, len - *n, fmt, ap);
	va_end(ap);
	if (k > 0)
		*n = *n + (size_t)k < len ? *n + (size_t)k : len;
}

static void take(uint64_t now[REFUSALS_N], const struct rmap_counters *rc)
{
#define X(field, words) now[REFUSAL_##field] = rc->field;
	RMAP_REFUSALS(X)
#undef X
}

void refusals_init(struct refusals *r, const struct rmap_counters *rc,
		   uint64_t now_ns)
{
	take(r->seen, rc);
	memcpy(r->seen_from, rc->refused_from, sizeof(r->seen_from));
	r->since_ns = now_ns;
	r->refusing = false;
}

/* Refused from @e since @r last looked: its entry then, by serial. */
static uint64_t source_since(const struct refusals *r,
			     const struct rmap_refused_source *e)
{
	for (int i = 0; i < RMAP_REFUSED_SOURCES; i++)
		if (r->seen_from[i].host.ss_family &&
		    r->seen_from[i].serial == e->serial)
			return e->count - r->seen_from[i].count;
	return e->count;
}

/* @a's host (no port), as text in @buf. */
static const char *host_text(const struct sockaddr_storage *a,
			     char buf[INET6_ADDRSTRLEN])
{
	const void *in = &((const struct sockaddr_in *)(const void *)a)->sin_addr;

	if (a->ss_family == AF_INET6)
		in = &((const struct sockaddr_in6 *)(const void *)a)->sin6_addr;
	if (!inet_ntop(a->ss_family, in, buf, INET6_ADDRSTRLEN))
		snprintf(buf, INET6_ADDRSTRLEN, "?");
	return buf;
}

/*
 * The hosts the refused datagrams claimed to come from, most first, and
 * what the table no longer holds (more hosts than it keeps).
 */
static void say_sources(const struct refusals *r,
			const struct rmap_counters *rc, uint64_t total,
			char *msg, size_t len, size_t *n)
{
	struct { const struct rmap_refused_source *e; uint64_t k; }
		by[RMAP_REFUSED_SOURCES], t;
	int m = 0;
	uint64_t named = 0;

	for (int i = 0; i < RMAP_REFUSED_SOURCES; i++) {
		const struct rmap_refused_source *e = &rc->refused_from[i];
		uint64_t k;

		if (!e->host.ss_family || !(k = source_since(r, e)))
			continue;
		by[m].e = e;
		by[m++].k = k;
		for (int j = m - 1; j > 0 && by[j].k > by[j - 1].k; j--) {
			t = by[j];
			by[j] = by[j - 1];
			by[j - 1] = t;
		}
	}
	for (int i = 0; i < m; i++) {
		char host[INET6_ADDRSTRLEN];

		say(msg, len, n, "%s %s (%llu)", i ? "," : "; from",
		    host_text(&by[i].e->host, host),
		    (unsigned long long)by[i].k);
		named += by[i].k;
	}
	if (m && named < total)
		say(msg, len, n, ", others (%llu)",
		    (unsigned long long)(total - named));
}

bool refusals_check(struct refusals *r, const struct rmap_counters *rc,
		    uint64_t now_ns, char *msg, size_t len, bool *warn)
{
	static const char *const words[REFUSALS_N] = {
#define X(field, w) [REFUSAL_##field] = w,
		RMAP_REFUSALS(X)
#undef X
	};
	uint64_t now[REFUSALS_N], total = 0;
	double span = (double)(now_ns - r->since_ns) / 1e9;
	size_t n = 0;
	bool first = true;

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
	say(msg, len, &n, "RMAP refused %llu datagram%s in %.0f s:",
	    (unsigned long long)total, total == 1 ? "" : "s",
	    span < 1 ? 1 : span);
	for (int i = 0; i < REFUSALS_N; i++)
		if (now[i] != r->seen[i]) {
			say(msg, len, &n, "%s %llu %s", first ? "" : ",",
			    (unsigned long long)(now[i] - r->seen[i]),
			    words[i]);
			first = false;
		}
	say_sources(r, rc, total, msg, len, &n);
	say(msg, len, &n, " (an attack, or a peer with a wrong or outdated "
	    "key; a source address can be forged: memxctl stat and dump "
	    "count them as rmap_*)");
	*warn = true;
	r->refusing = true;
	r->since_ns = now_ns;
	memcpy(r->seen, now, sizeof(r->seen));
	memcpy(r->seen_from, rc->refused_from, sizeof(r->seen_from));
	return true;
}

void refusals_tick(struct refusals *r, const struct rmap_counters *rc,
		   uint64_t now_ns, const char *who)
{
	char msg[768];
	bool warn;

	if (refusals_check(r, rc, now_ns, msg, sizeof(msg), &warn))
		log_msg(warn ? LOG_LEVEL_WARN : LOG_LEVEL_INFO, "%s: %s", who,
			msg);
}
