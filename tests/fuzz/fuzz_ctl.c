// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_ctl.c - libFuzzer harness for memxd's control socket: the request
 * parser, the roles and every request handler, down to the pager's own
 * checks of a registration, built over the fakes of tests/pager/ (a VM's
 * memory is a fake's; no socket, no root, no network).
 *
 * One pager and one control socket (without a socket: ctl_fake_conn)
 * live for the whole run.  Each input is the byte stream of one
 * connection, behind a one-byte header:
 *
 *   bits 0-1  the peer: 0 root (admin), 1 and 2 VMMs of two uids in the
 *             VMM group, 3 a uid in no group (refused);
 *   bit 2     the first bytes carry the two descriptors of a
 *             registration (a fake memory's, as a real VMM's would be);
 *   bits 3-5  the stream goes in chunks of 2^(3 + n) bytes (requests
 *             split across reads); the loop turns when the connection's
 *             buffer is full, and at the end until nothing is left.
 *
 * The peer's pid is 1, so "pid=1" registers.  Every reply must be
 * well-formed (errno=N first, N a Linux errno, an empty line at its end);
 * afterwards the connection is closed as a hang-up closes it, and no VM
 * may be left: its state, spill file and descriptors are all let go,
 * which ASan checks.  FUZZ_CTL_VERBOSE=1 prints the replies.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memxd/ctl/ctl.h"
#include "memxd/log.h"
#include "pager/fakes.h"

#define NPAGES	256u

static struct evl *loop;
static struct fake_remote *fr;
static struct fake_mem *mem;
static struct pager *pg;
static struct ctl *ctl;
static GString *out;

static const struct ctl_access acc = {
	.vmm_group_set = true, .vmm_group = 4242, .vmm_group_name = "vmms",
	.admin_group_set = true, .admin_group = 4343,
	.admin_group_name = "admins",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void setup(void)
{
	struct pager_config cfg = {
		.spill_dir = "/tmp",
		.prefetch_max = 8,
		.geo = { 2, 4, true },
		.recovery_mibps = 1024,
	};
	char why[256];

	log_set_level(LOG_LEVEL_ERR);
	if (evl_new(&loop, 256))
		abort();
	fr = fake_remote_new(0);
	mem = fake_mem_new(NPAGES);
	pg_geometry_fit(&cfg.geo, 0);
	if (pager_new(&pg, loop, fake_remote(fr), &cfg) ||
	    ctl_new(&ctl, loop, NULL, pg, &acc, why, sizeof(why)))
		abort();
	out = g_string_new(NULL);
}

/* Every reply: errno=N (0..4095), and the empty line that ends it. */
static void check_replies(const char *s, size_t len)
{
	const char *end = s + len;

	while (s < end) {
		const char *stop = memmem(s, (size_t)(end - s), "\n\n", 2);
		char *num;
		long v;

		if (!stop || strncmp(s, "errno=", 6))
			abort();
		v = strtol(s + 6, &num, 10);
		if (num == s + 6 || *num != '\n' || v < 0 || v > 4095)
			abort();
		/* A refusal says why. */
		if (v && strncmp(num + 1, "error=", 6))
			abort();
		s = stop + 2;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct {
		uid_t uid;
		gid_t gid;
	} peers[4] = { { 0, 0 }, { 5001, 4242 }, { 5002, 4242 },
		       { 7000, 7000 } };
	struct ucred cr;
	struct conn *c;
	int fds[2];
	size_t chunk;

	if (!loop)
		setup();
	if (!size)
		return 0;
	cr = (struct ucred){ .pid = 1, .uid = peers[data[0] & 3].uid,
			     .gid = peers[data[0] & 3].gid };
	chunk = (size_t)1 << (3 + ((data[0] >> 3) & 7));
	fds[0] = fds[1] = fake_mem_fd(mem);
	g_string_truncate(out, 0);
	c = ctl_fake_conn(ctl, &cr, ctl_role_of(&acc, cr.uid, cr.gid, NULL, 0),
			  out);
	if (!c)
		abort();
	data++;
	size--;
	for (size_t off = 0, turns = 0; off < size && !ctl_fake_closed(c);) {
		size_t n = size - off < chunk ? size - off : chunk;
		size_t took = ctl_fake_feed(c, (const char *)data + off, n,
					    fds, !off && (data[-1] & 4) ? 2 : 0);

		off += took;
		/* A full buffer: the loop turns for the next batch. */
		if (took < n && evl_run_once(loop, 0) >= 0 &&
		    ++turns > 2 * size + 64)
			abort();	/* a connection that never drains */
	}
	/* What is left of the batches (a turn costs a syscall: few). */
	for (unsigned i = 0; i < 64 && evl_run_once(loop, 0) > 0; i++)
		;
	check_replies(out->str, out->len);
	if (getenv("FUZZ_CTL_VERBOSE"))	/* what the seeds reach */
		fprintf(stderr, "---- uid %u:\n%s", cr.uid, out->str);
	ctl_fake_close(c);
	evl_run_once(loop, 0);
	if (pager_vm_count(pg))
		abort();
	return 0;
}
