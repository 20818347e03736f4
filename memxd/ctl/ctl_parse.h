/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ctl_parse.h - a control socket request (ctl_proto.h), parsed: which
 * request it is and every number in it, checked so that nothing a peer
 * writes can overflow.  No I/O, no state: what a request may do, and to
 * what, is ctl_handle.c's (roles) and the pager's (regions, ranges) to
 * decide.
 */
#ifndef MEMX_CTL_PARSE_H
#define MEMX_CTL_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../pager/pager.h"

/* Lines in one request: a register with every region, and then some. */
#define CTL_MAX_LINES	(MEMX_CTL_MAX_REGIONS + 16)

enum ctl_verb {
	CTL_REGISTER,
	CTL_DISCARD,
	CTL_DRAIN,
	CTL_GET,
	CTL_USERFAULTFD,
	CTL_MIGRATE,
};

/* migrate=...: a VM live-migrating (memxd/pager/migrate.h) */
enum ctl_migrate {
	CTL_MIGRATE_HANDOFF,	/* source, at switchover */
	CTL_MIGRATE_SETTLE,	/* it runs here now */
	CTL_MIGRATE_REPORT,	/* the VMM's account; its lines follow */
};

struct ctl_req {
	enum ctl_verb verb;
	/* register: everything but the descriptors (-1 here) */
	struct vm_spec spec;
	bool again;		/* brings the state an earlier memxd handed over */
	bool migrated;		/* ...or a memxd on another host */
	/* migrate */
	enum ctl_migrate migrate;
	char report[2048];	/* report: its key=value lines */
	/* discard */
	uint64_t offset, length;
	/* drain: the server's name, pointing into the parsed text */
	const char *server;
	/* get */
	bool prometheus;
	bool migrations;
};

/*
 * Parse the request @text (its lines, without the empty line that ends
 * it; split in place, so @req may point into it).  0, or -errno with the
 * reply's error text in @why: -EINVAL for a malformed request,
 * -EPROTONOSUPPORT for another version, -E2BIG for too many regions.
 */
int ctl_parse(char *text, struct ctl_req *req, char *why, size_t len);

/*
 * An unsigned integer in C notation (decimal, 0x hex, 0 octal) ending at
 * @stop (0: the end of the string); *@next (if not NULL) is set past
 * @stop.  No sign, no spaces, no units, nothing above UINT64_MAX.  0 or
 * -EINVAL.
 */
int ctl_parse_num(const char *s, char stop, uint64_t *out, const char **next);

#endif
