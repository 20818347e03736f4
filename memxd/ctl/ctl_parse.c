// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ctl_parse.c - control socket requests, parsed and their numbers checked
 * (ctl_parse.h).  The messages are the reply's error= lines, as
 * memxd-ctl(7) lists them.
 */
#include "ctl_parse.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_client.h"
#include "ctl_proto.h"

_Static_assert(MEMX_CTL_MAX_REGIONS <= GM_MAX_REGIONS,
	       "a request's regions must fit in a vm_spec");

int ctl_parse_num(const char *s, char stop, uint64_t *out, const char **next)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;		/* no sign, no space, nothing */
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end != stop)
		return -EINVAL;		/* ERANGE: above UINT64_MAX */
	*out = v;
	if (next)
		*next = stop ? end + 1 : end;
	return 0;
}

/* @n numbers separated by commas, and nothing else. */
static int parse_list(const char *s, uint64_t *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (ctl_parse_num(s, i + 1 < n ? ',' : 0, &v[i], &s))
			return -EINVAL;
	return 0;
}

static int fail(char *why, size_t len, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *why, size_t len, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return err;
}

/*
 * The lines of a register request.  Keys are checked one by one as they
 * come, then the request as a whole; what the numbers mean together
 * (regions within the memfd, not overlapping...) is the pager's to check.
 */
static int parse_register(char **keys, char **vals, unsigned n,
			  struct ctl_req *req, char *why, size_t len)
{
	struct vm_spec *spec = &req->spec;
	bool have_version = false, have_budget = false;
	uint64_t v, r[4];

	for (unsigned i = 0; i < n; i++) {
		const char *k = keys[i], *val = vals[i];

		if (!strcmp(k, "register")) {
			continue;
		} else if (!strcmp(k, "version")) {
			if (ctl_parse_num(val, 0, &v, NULL) ||
			    v != MEMX_CTL_VERSION)
				return fail(why, len, -EPROTONOSUPPORT,
					    "protocol version %.32s is not "
					    "supported (this memxd speaks %d)",
					    val, MEMX_CTL_VERSION);
			have_version = true;
		} else if (!strcmp(k, "name")) {
			snprintf(spec->name, sizeof(spec->name), "%s", val);
		} else if (!strcmp(k, "uuid")) {
			snprintf(spec->uuid, sizeof(spec->uuid), "%s", val);
		} else if (!strcmp(k, "pid")) {
			/* A pid_t, not one that wraps onto another pid. */
			if (ctl_parse_num(val, 0, &v, NULL) || v > INT_MAX)
				goto bad_value;
			spec->pid = (pid_t)v;
		} else if (!strcmp(k, "budget")) {
			if (ctl_parse_num(val, 0, &spec->budget, NULL))
				goto bad_value;
			have_budget = true;
		} else if (!strcmp(k, "again")) {
			if (ctl_parse_num(val, 0, &v, NULL) || v > 1)
				goto bad_value;
			req->again = v;
		} else if (!strcmp(k, "migrated")) {
			if (ctl_parse_num(val, 0, &v, NULL) || v > 1)
				goto bad_value;
			req->migrated = v;
		} else if (!strcmp(k, "region")) {
			if (spec->nregions == MEMX_CTL_MAX_REGIONS)
				return fail(why, len, -E2BIG, "too many regions");
			if (parse_list(val, r, 4))
				goto bad_value;
			spec->regions[spec->nregions++] =
				(struct vm_region){ r[0], r[1], r[2], r[3] };
		} else {
			return fail(why, len, -EINVAL, "unknown option '%.64s'",
				    k);
		}
		continue;
bad_value:
		return fail(why, len, -EINVAL, "bad value for %s: '%.64s'", k,
			    val);
	}
	if (!have_version || !have_budget || !spec->name[0] || !spec->pid)
		return fail(why, len, -EINVAL, "register needs version, name, "
			    "pid, budget and at least one region");
	if (req->again && req->migrated)
		return fail(why, len, -EINVAL, "again=1 and migrated=1 exclude "
			    "each other");
	spec->migrated = req->migrated;
	return 0;
}

/* migrate=report: lines of key=value, a key of [a-z0-9_]. */
static int parse_report(char **keys, char **vals, unsigned n,
			struct ctl_req *req, char *why, size_t len)
{
	size_t off = 0;

	req->migrate = CTL_MIGRATE_REPORT;
	for (unsigned i = 1; i < n; i++) {
		int w;

		if (!keys[i][0] || strspn(keys[i], "abcdefghijklmnopqrstuvwxyz"
					  "0123456789_") != strlen(keys[i]))
			return fail(why, len, -EINVAL, "a report's keys are "
				    "[a-z0-9_]: '%.64s'", keys[i]);
		w = snprintf(req->report + off, sizeof(req->report) - off,
			     "%s=%s\n", keys[i], vals[i]);
		if (w < 0 || (size_t)w >= sizeof(req->report) - off)
			return fail(why, len, -E2BIG, "the report is longer "
				    "than %zu bytes", sizeof(req->report) - 1);
		off += (size_t)w;
	}
	return 0;
}

int ctl_parse(char *text, struct ctl_req *req, char *why, size_t len)
{
	char *keys[CTL_MAX_LINES], *vals[CTL_MAX_LINES], *key, *val;
	unsigned n = 0;

	memset(req, 0, sizeof(*req));
	req->spec.uffd = req->spec.memfd = -1;
	req->spec.state_fd = req->spec.spill_fd = -1;
	while ((key = ctl_kv_next(&text, &val))) {
		if (!val || n == CTL_MAX_LINES)
			return fail(why, len, -EINVAL, "malformed request line");
		keys[n] = key;
		vals[n++] = val;
	}
	if (!n)
		return fail(why, len, -EINVAL, "empty request");
	if (!strcmp(keys[0], "register")) {
		req->verb = CTL_REGISTER;
		return parse_register(keys, vals, n, req, why, len);
	}
	/* The others look at their first line only. */
	if (!strcmp(keys[0], "discard")) {
		uint64_t v[2];

		if (parse_list(vals[0], v, 2))
			return fail(why, len, -EINVAL, "discard=OFFSET,LENGTH");
		req->verb = CTL_DISCARD;
		req->offset = v[0];
		req->length = v[1];
		return 0;
	}
	if (!strcmp(keys[0], "drain")) {
		req->verb = CTL_DRAIN;
		req->server = vals[0];
		return 0;
	}
	if (!strcmp(keys[0], "userfaultfd")) {
		if (strcmp(vals[0], "1"))
			return fail(why, len, -EINVAL, "userfaultfd=1");
		req->verb = CTL_USERFAULTFD;
		return 0;
	}
	if (!strcmp(keys[0], "get")) {
		req->verb = CTL_GET;
		req->prometheus = !strcmp(vals[0], "prometheus");
		req->migrations = !strcmp(vals[0], "migrations");
		return 0;
	}
	if (!strcmp(keys[0], "migrate")) {
		req->verb = CTL_MIGRATE;
		if (!strcmp(vals[0], "handoff") && n == 1)
			req->migrate = CTL_MIGRATE_HANDOFF;
		else if (!strcmp(vals[0], "settle") && n == 1)
			req->migrate = CTL_MIGRATE_SETTLE;
		else if (!strcmp(vals[0], "report"))
			return parse_report(keys, vals, n, req, why, len);
		else
			return fail(why, len, -EINVAL, "migrate=handoff, "
				    "migrate=settle, or migrate=report and "
				    "its key=value lines");
		return 0;
	}
	return fail(why, len, -EINVAL, "unknown request '%.64s'", keys[0]);
}
