// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * check_ctl.c - the control socket: its parser's numbers, the checks of
 * what a registration may ask, who may do what, and that no client keeps
 * the event loop: no root, the pager built over the fakes of
 * tests/pager/ (a VM's memory is a fake's, its descriptors fake too).
 *
 * Peers are fake connections (ctl_fake_conn) with the credentials each
 * test needs, so no user or group has to exist; one test uses a real
 * socket, for a client that pipelines requests and never reads.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "check_util.h"
#include "memxd/ctl/ctl.h"
#include "memxd/ctl/ctl_parse.h"
#include "memxd/log.h"
#include "memxd/pager/vm.h"
#include "pager/fakes.h"

#define NPAGES		256u
#define VMM_GROUP	4242u
#define ADMIN_GROUP	4343u

struct cfx {
	struct evl *loop;
	struct fake_remote *fr;
	struct fake_mem *m[2];
	struct pager *pg;
	struct ctl *ctl;
	struct ctl_access acc;
};

static void cfx_init(struct cfx *f, const char *path)
{
	struct pager_config cfg = {
		.spill_dir = "/tmp",
		.geo = { 2, 4, true },
		.recovery_mibps = 1024,
	};
	char why[256];

	memset(f, 0, sizeof(*f));
	log_set_level(LOG_LEVEL_ERR);
	ck_assert_int_eq(evl_new(&f->loop, 256), 0);
	f->fr = fake_remote_new(0);
	f->m[0] = fake_mem_new(NPAGES);
	f->m[1] = fake_mem_new(NPAGES);
	pg_geometry_fit(&cfg.geo, 0);
	ck_assert_int_eq(pager_new(&f->pg, f->loop, fake_remote(f->fr), &cfg),
			 0);
	f->acc = (struct ctl_access){
		.vmm_group_set = !path, .vmm_group = VMM_GROUP,
		.vmm_group_name = "vmms",
		.admin_group_set = !path, .admin_group = ADMIN_GROUP,
		.admin_group_name = "memx-admins",
	};
	ck_assert_msg(!ctl_new(&f->ctl, f->loop, path, f->pg, &f->acc, why,
			       sizeof(why)), "ctl_new: %s", why);
}

static void cfx_fini(struct cfx *f)
{
	ctl_free(f->ctl);
	fake_remote_cancel(f->fr);
	for (unsigned i = 0; i < 3; i++)
		ck_assert_int_ge(evl_run_once(f->loop, 0), 0);
	pager_free(f->pg);
	fake_remote_free(f->fr);
	fake_mem_free(f->m[0]);
	fake_mem_free(f->m[1]);
	evl_free(f->loop);
}

/* A peer with @uid, @gid and @groups, on a connection of its own. */
static struct conn *peer(struct cfx *f, uid_t uid, gid_t gid,
			 const gid_t *groups, unsigned n, GString *out)
{
	struct ucred cr = { .pid = getpid(), .uid = uid, .gid = gid };
	struct conn *c = ctl_fake_conn(f->ctl, &cr,
				       ctl_role_of(&f->acc, uid, gid, groups, n),
				       out);

	ck_assert_ptr_nonnull(c);
	return c;
}

/* Send @req (with @nfds fake descriptors of memory @m): the reply. */
static const char *ask(struct conn *c, GString *out, const char *req,
		       struct fake_mem *m, unsigned nfds)
{
	int fds[2] = { m ? fake_mem_fd(m) : -1, m ? fake_mem_fd(m) : -1 };

	g_string_truncate(out, 0);
	ck_assert_uint_eq(ctl_fake_feed(c, req, strlen(req), fds, nfds),
			  strlen(req));
	return out->str;
}

static char *register_req(const char *name, uint64_t budget,
			  const char *regions)
{
	return g_strdup_printf("register=1\nversion=1\nname=%s\npid=%d\n"
			       "budget=%llu\n%s\n", name, (int)getpid(),
			       (unsigned long long)budget, regions);
}

#define WHOLE "region=0x7f0000000000,0,1048576,4096\n"

/* ---- the parser ---- */

START_TEST(test_parse_numbers)
{
	static const struct {
		const char *s;
		int ret;
		uint64_t v;
	} cases[] = {
		{ "0", 0, 0 },
		{ "4096", 0, 4096 },
		{ "0x1000", 0, 4096 },
		{ "010", 0, 8 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "0xffffffffffffffff", 0, UINT64_MAX },
		{ "18446744073709551616", -EINVAL, 0 },	/* 2^64 */
		{ "0x10000000000000000", -EINVAL, 0 },
		{ "99999999999999999999999", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ "+1", -EINVAL, 0 },
		{ " 1", -EINVAL, 0 },
		{ "1 ", -EINVAL, 0 },
		{ "1M", -EINVAL, 0 },
		{ "0x", -EINVAL, 0 },
		{ "", -EINVAL, 0 },
		{ "08", -EINVAL, 0 },
	};

	for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
		uint64_t v = 12345;
		int ret = ctl_parse_num(cases[i].s, 0, &v, NULL);

		ck_assert_msg(ret == cases[i].ret, "'%s': %d", cases[i].s, ret);
		if (!ret)
			ck_assert_msg(v == cases[i].v, "'%s': %llu", cases[i].s,
				      (unsigned long long)v);
	}
}
END_TEST

/* Parse @text: the return, and the reason in @why (@req points into a
 * copy that lasts until the next call). */
static int parse(const char *text, struct ctl_req *req, char *why, size_t len)
{
	static char copy[MEMX_CTL_MAX_REQUEST];

	snprintf(copy, sizeof(copy), "%s", text);
	return ctl_parse(copy, req, why, len);
}

START_TEST(test_parse_requests)
{
	struct ctl_req req;
	char why[256];
	GString *big = g_string_new(NULL);
	char *r;

	ck_assert_int_eq(parse("", &req, why, sizeof(why)), -EINVAL);
	ck_assert_str_eq(why, "empty request");
	ck_assert_int_eq(parse("get", &req, why, sizeof(why)), -EINVAL);
	ck_assert_str_eq(why, "malformed request line");
	ck_assert_int_eq(parse("put=1", &req, why, sizeof(why)), -EINVAL);
	ck_assert_str_eq(why, "unknown request 'put'");
	ck_assert_int_eq(parse("get=prometheus", &req, why, sizeof(why)), 0);
	ck_assert(req.verb == CTL_GET && req.prometheus);
	ck_assert_int_eq(parse("drain=10.0.0.1", &req, why, sizeof(why)), 0);
	ck_assert(req.verb == CTL_DRAIN && !strcmp(req.server, "10.0.0.1"));
	/* A discard range is only parsed here: the pager checks its sum. */
	ck_assert_int_eq(parse("discard=4096,18446744073709551615", &req, why,
			       sizeof(why)), 0);
	ck_assert(req.offset == 4096 && req.length == UINT64_MAX);
	ck_assert_int_eq(parse("discard=1,2,3", &req, why, sizeof(why)),
			 -EINVAL);
	ck_assert_int_eq(parse("discard=1", &req, why, sizeof(why)), -EINVAL);
	ck_assert_int_eq(parse("discard=18446744073709551616,0", &req, why,
			       sizeof(why)), -EINVAL);

	/* More lines than any request has. */
	for (unsigned i = 0; i <= CTL_MAX_LINES; i++)
		g_string_append(big, "get=1\n");
	ck_assert_int_eq(parse(big->str, &req, why, sizeof(why)), -EINVAL);
	ck_assert_str_eq(why, "malformed request line");

	/* A pid that would wrap onto another one is no pid. */
	r = g_strdup_printf("register=1\nversion=1\nname=a\npid=%llu\n"
			    "budget=65536\n" WHOLE,
			    (1ull << 32) + (unsigned long long)getpid());
	ck_assert_int_eq(parse(r, &req, why, sizeof(why)), -EINVAL);
	ck_assert_msg(strstr(why, "bad value for pid"), "%s", why);
	g_free(r);
	ck_assert_int_eq(parse("register=1\nversion=2\n", &req, why,
			       sizeof(why)), -EPROTONOSUPPORT);
	ck_assert_int_eq(parse("register=1\nversion=1\nname=a\npid=1\n"
			       "budget=65536\nregion=0,0,4096\n", &req, why,
			       sizeof(why)), -EINVAL);
	ck_assert_int_eq(parse("register=1\nversion=1\nname=a\npid=1\n"
			       "budget=65536\nregion=0,0,4096,4096,1\n", &req,
			       why, sizeof(why)), -EINVAL);
	ck_assert_int_eq(parse("register=1\nversion=1\nname=a\npid=1\n"
			       "budget=-1\n" WHOLE, &req, why, sizeof(why)),
			 -EINVAL);
	ck_assert_int_eq(parse("register=1\nversion=1\nname=a\npid=1\n"
			       "budget=65536\nagain=2\n" WHOLE, &req, why,
			       sizeof(why)), -EINVAL);
	ck_assert_int_eq(parse("register=1\nversion=1\nname=a\npid=1\n"
			       "budget=65536\nevil=1\n", &req, why,
			       sizeof(why)), -EINVAL);
	ck_assert_str_eq(why, "unknown option 'evil'");
	ck_assert_int_eq(parse("register=1\nversion=1\npid=1\nbudget=65536\n",
			       &req, why, sizeof(why)), -EINVAL);
	/* One region too many. */
	g_string_assign(big, "register=1\nversion=1\nname=a\npid=1\n"
			"budget=65536\n");
	for (unsigned i = 0; i <= MEMX_CTL_MAX_REGIONS; i++)
		g_string_append_printf(big, "region=0x%x,%u,4096,4096\n",
				       0x10000000 + i * 4096, i * 4096);
	ck_assert_int_eq(parse(big->str, &req, why, sizeof(why)), -E2BIG);
	r = register_req("a", 65536, WHOLE);
	ck_assert_int_eq(parse(r, &req, why, sizeof(why)), 0);
	ck_assert(req.verb == CTL_REGISTER && req.spec.nregions == 1 &&
		  req.spec.regions[0].length == 1048576 &&
		  req.spec.uffd == -1 && req.spec.state_fd == -1);
	g_free(r);
	g_string_free(big, TRUE);
}
END_TEST

/* ---- what a registration may ask (the pager's checks) ---- */

/* pager_register of @regions (a vm_region list) over fake memory. */
static int try_register(struct cfx *f, const struct vm_region *regions,
			unsigned n, uint64_t budget, char *why, size_t len,
			struct vm **vm)
{
	struct vm_spec spec = { .pid = getpid(), .budget = budget,
				.nregions = n, .state_fd = -1,
				.spill_fd = -1 };

	snprintf(spec.name, sizeof(spec.name), "r");
	memcpy(spec.regions, regions, n * sizeof(*regions));
	spec.uffd = spec.memfd = fake_mem_fd(f->m[0]);
	return pager_register(f->pg, &spec, vm, why, len);
}

START_TEST(test_region_checks)
{
	static const struct {
		struct vm_region r[3];
		unsigned n;
		uint64_t budget;
		int ret;
		const char *why;
	} cases[] = {
		/* offset + length wraps around 2^64 */
		{ { { FAKE_HVA, UINT64_MAX - 4095, 8192, 4096 } }, 1, 65536,
		  -EINVAL, "region 0 wraps around" },
		{ { { FAKE_HVA, 0, 1048576, 4096 },
		    { FAKE_HVA + (2 << 20), UINT64_MAX - 4095, 1ull << 63,
		      4096 } }, 2, 65536, -EINVAL, "region 1 wraps around" },
		/* hva + length wraps */
		{ { { UINT64_MAX - 4095, 0, 8192, 4096 } }, 1, 65536, -EINVAL,
		  "region 0 wraps around" },
		{ { { FAKE_HVA, 0, 524288, 4096 },
		    { FAKE_HVA + (1 << 20), 262144, 524288, 4096 } }, 2, 65536,
		  -EINVAL, "regions 0 and 1 overlap in the memfd" },
		{ { { FAKE_HVA, 0, 524288, 4096 },
		    { FAKE_HVA + 262144, 524288, 524288, 4096 } }, 2, 65536,
		  -EINVAL, "regions 0 and 1 overlap in the VMM's address" },
		/* 3 x 8 TiB: more than 16 TiB in all */
		{ { { 0x100000000000ull, 0, 8ull << 40, 4096 },
		    { 0x200000000000ull, 8ull << 40, 8ull << 40, 4096 },
		    { 0x300000000000ull, 16ull << 40, 8ull << 40, 4096 } }, 3,
		  65536, -E2BIG, "the regions add up to more than 16384 GiB" },
		{ { { FAKE_HVA, 0, 2 << 20, 4096 } }, 1, 65536, -EINVAL,
		  "region 0 ends past the memfd (1048576 bytes)" },
		{ { { FAKE_HVA, 0, 524288, 4096 } }, 1, 65536, -EINVAL,
		  "the memfd (1048576 bytes) is larger than its regions reach" },
		{ { { FAKE_HVA, 0, 1048576, 4096 } }, 1, 2 << 20, -EINVAL,
		  "budget 2097152 is larger than the regions" },
		{ { { FAKE_HVA, 0, 1048576, 2 << 20 } }, 1, 65536, -EINVAL,
		  "region 0: page size 2097152 is not supported" },
		{ { { FAKE_HVA + 1, 0, 1048576, 4096 } }, 1, 65536, -EINVAL,
		  "region 0 is not page aligned" },
		{ { { FAKE_HVA, 0, 0, 4096 } }, 1, 65536, -EINVAL,
		  "region 0 is not page aligned" },
		{ { { 0 } }, 0, 65536, -EINVAL, "no region given" },
	};
	struct cfx f;
	struct vm *vm = NULL;
	char why[256];
	uint64_t end = NPAGES * 4096ull;

	cfx_init(&f, NULL);
	for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
		int ret = try_register(&f, cases[i].r, cases[i].n,
				       cases[i].budget, why, sizeof(why), &vm);

		ck_assert_msg(ret == cases[i].ret && strstr(why, cases[i].why),
			      "case %u: %d, '%s'", i, ret, why);
	}
	ck_assert_uint_eq(pager_vm_count(f.pg), 0);
	/* Two regions that split the memfd, in either order, are fine. */
	{
		struct vm_region two[2] = {
			{ FAKE_HVA + (4 << 20), 524288, 524288, 4096 },
			{ FAKE_HVA, 0, 524288, 4096 },
		};

		ck_assert_msg(!try_register(&f, two, 2, 65536, why,
					    sizeof(why), &vm), "%s", why);
	}
	/* A discard's range is checked with sums that cannot wrap. */
	ck_assert_int_eq(pager_discard(vm, UINT64_MAX - 4095, 8192), -EINVAL);
	ck_assert_int_eq(pager_discard(vm, 4096, UINT64_MAX - 4095), -EINVAL);
	ck_assert_int_eq(pager_discard(vm, end, 4096), -EINVAL);
	ck_assert_int_eq(pager_discard(vm, end - 4096, 8192), -EINVAL);
	ck_assert_int_eq(pager_discard(vm, 4095, 4096), -EINVAL);
	ck_assert_int_eq(pager_discard(vm, end - 4096, 4096), 0);
	ck_assert_int_eq(pager_discard(vm, 0, end), 0);
	pager_unregister(f.pg, vm);
	cfx_fini(&f);
}
END_TEST

/* A VM registering again brings only what memxd handed over. */
START_TEST(test_handover_checks)
{
	struct vm_region r = { FAKE_HVA, 0, NPAGES * 4096ull, 4096 };
	struct vm_spec spec = { .pid = 1, .budget = 65536, .nregions = 1 };
	char why[256], path[] = "/tmp/check-ctl-spill-XXXXXX";
	int unsealed, sealed, named, unlinked;
	struct cfx f;
	struct vm *vm;

	cfx_init(&f, NULL);
	snprintf(spec.name, sizeof(spec.name), "again");
	spec.regions[0] = r;
	spec.uffd = spec.memfd = fake_mem_fd(f.m[0]);
	unsealed = memfd_create("not-memx-state", MFD_CLOEXEC |
				MFD_ALLOW_SEALING);
	sealed = memfd_create("memx-state-lookalike", MFD_CLOEXEC |
			      MFD_ALLOW_SEALING);
	ck_assert_int_ge(unsealed, 0);
	ck_assert_int_ge(sealed, 0);
	ck_assert_int_eq(ftruncate(sealed, 1 << 20), 0);
	ck_assert_int_eq(fcntl(sealed, F_ADD_SEALS, F_SEAL_SHRINK |
			       F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL), 0);
	named = mkstemp(path);
	ck_assert_int_ge(named, 0);
	unlinked = open("/tmp", O_TMPFILE | O_RDWR, 0600);
	ck_assert_int_ge(unlinked, 0);

	spec.state_fd = unsealed;
	spec.spill_fd = unlinked;
	ck_assert_int_eq(pager_register(f.pg, &spec, &vm, why, sizeof(why)),
			 -EBADF);
	ck_assert_msg(strstr(why, "not the sealed memfd"), "%s", why);
	spec.state_fd = sealed;
	spec.spill_fd = named;		/* a file with a name: not memxd's */
	ck_assert_int_eq(pager_register(f.pg, &spec, &vm, why, sizeof(why)),
			 -EBADF);
	ck_assert_msg(strstr(why, "not a spill file memxd made"), "%s", why);
	spec.spill_fd = sealed;		/* not on --spill-dir */
	ck_assert_int_lt(pager_register(f.pg, &spec, &vm, why, sizeof(why)),
			 0);
	/* Both pass; the state's contents do not. */
	spec.spill_fd = unlinked;
	ck_assert_int_eq(pager_register(f.pg, &spec, &vm, why, sizeof(why)),
			 -EINVAL);
	ck_assert_msg(strstr(why, "not a memx state"), "%s", why);
	ck_assert_uint_eq(pager_vm_count(f.pg), 0);
	unlink(path);
	close(unsealed);
	close(sealed);
	close(named);
	close(unlinked);
	cfx_fini(&f);
}
END_TEST

/* ---- the REMOVE path's bounds ---- */

START_TEST(test_remove_outside_regions)
{
	struct vm_region r = { FAKE_HVA, 0, NPAGES * 4096ull, 4096 };
	uint64_t t0, discarded;
	struct cfx f;
	struct vm *vm;
	char why[256];

	cfx_init(&f, NULL);
	ck_assert_msg(!try_register(&f, &r, 1, 65536, why, sizeof(why), &vm),
		      "%s", why);
	for (uint64_t p = 0; p < 8; p++)
		fake_mem_prefill(f.m[0], p, 0x11);
	/* The VMM registered far more with its userfaultfd than it said. */
	t0 = evl_now_ns();
	fake_mem_remove_hva(f.m[0], FAKE_HVA - (1ull << 40),
			    FAKE_HVA + (1ull << 44));
	TU_RUN_UNTIL(f.loop, vm->st.discards == 1, 5000);
	ck_assert_msg(evl_now_ns() - t0 < 2000000000ull, "a REMOVE of 17 TiB "
		      "took %llu ms", (unsigned long long)
		      ((evl_now_ns() - t0) / 1000000));
	ck_assert_uint_eq(vm->st.remove_outside, 1);
	discarded = vm->st.discarded_pages;
	/* Wholly outside: counted, nothing discarded. */
	fake_mem_remove_hva(f.m[0], 0x10000, 0x20000);
	TU_RUN_UNTIL(f.loop, vm->st.discards == 2, 5000);
	ck_assert_uint_eq(vm->st.remove_outside, 2);
	ck_assert_uint_eq(vm->st.discarded_pages, discarded);
	/* Wholly inside: nothing to count. */
	fake_mem_remove(f.m[0], 0, 4);
	TU_RUN_UNTIL(f.loop, vm->st.discards == 3, 5000);
	ck_assert_uint_eq(vm->st.remove_outside, 2);
	/* An end before the start (the kernel's never is). */
	fake_mem_remove_hva(f.m[0], FAKE_HVA + 8192, FAKE_HVA);
	TU_RUN_UNTIL(f.loop, vm->st.discards == 4, 5000);
	ck_assert_uint_eq(vm->st.remove_outside, 3);
	ck_assert_uint_eq(vm->pt.bugs, 0);
	pager_unregister(f.pg, vm);
	cfx_fini(&f);
}
END_TEST

/* ---- roles ---- */

START_TEST(test_role_of)
{
	struct ctl_access a = { .vmm_group_set = true, .vmm_group = 10,
				.admin_group_set = true, .admin_group = 20 };
	struct ctl_access none = { 0 };
	gid_t g10[] = { 5, 10 }, g20[] = { 20 }, g5[] = { 5, 6, 7 };

	ck_assert_int_eq(ctl_role_of(&a, 0, 0, NULL, 0), CTL_ROLE_ADMIN);
	ck_assert_int_eq(ctl_role_of(&none, 0, 99, NULL, 0), CTL_ROLE_ADMIN);
	ck_assert_int_eq(ctl_role_of(&a, geteuid(), 99, NULL, 0),
			 CTL_ROLE_ADMIN);
	ck_assert_int_eq(ctl_role_of(&a, 1000, 20, NULL, 0), CTL_ROLE_ADMIN);
	ck_assert_int_eq(ctl_role_of(&a, 1000, 1000, g20, 1), CTL_ROLE_ADMIN);
	ck_assert_int_eq(ctl_role_of(&a, 1000, 10, NULL, 0), CTL_ROLE_VMM);
	ck_assert_int_eq(ctl_role_of(&a, 1000, 1000, g10, 2), CTL_ROLE_VMM);
	ck_assert_int_eq(ctl_role_of(&a, 1000, 1000, g5, 3), CTL_ROLE_NONE);
	ck_assert_int_eq(ctl_role_of(&none, 1000, 10, g10, 2), CTL_ROLE_NONE);
	/* Groups that are not configured grant nothing: gid 0 is a gid. */
	ck_assert_int_eq(ctl_role_of(&none, 1000, 0, NULL, 0), CTL_ROLE_NONE);
}
END_TEST

static unsigned count(const char *hay, const char *needle)
{
	unsigned n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

START_TEST(test_roles)
{
	GString *oa = g_string_new(NULL), *ob = g_string_new(NULL),
		*oq = g_string_new(NULL), *ox = g_string_new(NULL);
	gid_t vmms[] = { VMM_GROUP }, admins[] = { ADMIN_GROUP };
	struct conn *a, *b, *q, *x;
	const struct ctl_stats *st;
	char *req;
	const char *rep;
	char why2[600] = "";
	struct cfx f;

	cfx_init(&f, NULL);
	st = ctl_stats(f.ctl);
	/* Two VMMs of two uids, in the group by gid and by supplement. */
	a = peer(&f, 5001, VMM_GROUP, NULL, 0, oa);
	b = peer(&f, 5002, 5002, vmms, 1, ob);
	req = register_req("vm-a", 65536, WHOLE);
	rep = ask(a, oa, req, f.m[0], 2);
	ck_assert_msg(!strncmp(rep, "errno=0\nvm=vm-a\n", 16), "%s", rep);
	g_free(req);
	req = register_req("vm-b", 65536, WHOLE);
	rep = ask(b, ob, req, f.m[1], 2);
	ck_assert_msg(!strncmp(rep, "errno=0\nvm=vm-b\n", 16), "%s", rep);
	g_free(req);
	ck_assert_uint_eq(pager_vm_count(f.pg), 2);

	/* A VMM sees its own VM, nothing of the other, nor the servers. */
	rep = ask(a, oa, "get=1\n\n", NULL, 0);
	ck_assert_msg(strstr(rep, "ctl_role=vmm\nvms=1\n") &&
		      strstr(rep, "\nvm=vm-a\n") && !strstr(rep, "vm-b") &&
		      !strstr(rep, "rmap_") && !strstr(rep, "ctl_refused") &&
		      strstr(rep, "\nslack_pages=64\n") &&
		      strstr(rep, "\nresident_pages="), "%s", rep);
	/* ... on any connection of its uid (memxctl status as that user) */
	q = peer(&f, 5002, 5002, vmms, 1, oq);
	rep = ask(q, oq, "get=1\n\n", NULL, 0);
	ck_assert_msg(strstr(rep, "\nvm=vm-b\n") && !strstr(rep, "vm-a"),
		      "%s", rep);
	/* No admin requests, no discard of what it did not register. */
	rep = ask(q, oq, "drain=10.0.0.1\n\n", NULL, 0);
	ck_assert_str_eq(rep, "errno=13\nerror=drain needs an admin: root or a "
			 "member of group memx-admins, which uid 5002 is not"
			 "\n\n");
	rep = ask(q, oq, "get=prometheus\n\n", NULL, 0);
	ck_assert_msg(!strncmp(rep, "errno=13\n", 9), "%s", rep);
	rep = ask(q, oq, "discard=0,4096\n\n", NULL, 0);
	ck_assert_str_eq(rep, "errno=2\nerror=discard before register\n\n");
	rep = ask(a, oa, "discard=0,4096\n\n", NULL, 0);
	ck_assert_str_eq(rep, "errno=0\n\n");
	rep = ask(a, oa, "discard=18446744073709547520,8192\n\n", NULL, 0);
	ck_assert_msg(!strncmp(rep, "errno=22\n", 9), "%s", rep);
	ck_assert_uint_eq(st->ctl_refused, 2);

	/* An admin by group: everything, every VM. */
	x = peer(&f, 6000, 6000, admins, 1, ox);
	rep = ask(x, ox, "get=1\n\n", NULL, 0);
	ck_assert_msg(strstr(rep, "ctl_role=admin\n") &&
		      strstr(rep, "\nctl_refused=2\n") &&
		      strstr(rep, "\nvms=2\n") && strstr(rep, "\nvm=vm-a\n") &&
		      strstr(rep, "\nvm=vm-b\n"), "%s", rep);
	rep = ask(x, ox, "drain=10.0.0.1\n\n", NULL, 0);
	ck_assert_msg(!strncmp(rep, "errno=2\n", 8), "%s", rep);
	rep = ask(x, ox, "get=prometheus\n\n", NULL, 0);
	ck_assert_msg(count(rep, "memx_resident_pages{vm=") == 2 &&
		      strstr(rep, "\nmemx_frozen 0\n") &&
		      strstr(rep, "\nmemx_rmap_auth_failures_total 0\n"),
		      "%s", rep);
	/* Two VMs' samples of each family together, as parsers need. */
	ck_assert_msg(!strncmp(rep, "errno=0\n", 8) &&
		      tu_prom_grouped(rep + strlen("errno=0\n"), why2,
				      sizeof(why2)), "%s", why2);
	ctl_fake_close(x);

	/* Anyone else: refused, with the reason, then hung up on. */
	g_string_truncate(ox, 0);
	x = peer(&f, 7000, 7000, NULL, 0, ox);
	rep = ask(x, ox, "get=1\n\n", NULL, 0);
	ck_assert_msg(!strncmp(rep, "errno=13\nerror=uid 7000 (gid 7000, pid ",
			       38) &&
		      strstr(rep, "is not root, nor in group vmms (ctl-group) "
			     "or its ctl-admin-group"), "%s", rep);
	ck_assert(ctl_fake_closed(x));
	ctl_fake_close(x);
	/* ... even with a registration's descriptors. */
	x = peer(&f, 7000, 7000, NULL, 0, ox);
	req = register_req("vm-x", 65536, WHOLE);
	rep = ask(x, ox, req, f.m[0], 2);
	g_free(req);
	ck_assert_msg(!strncmp(rep, "errno=13\n", 9), "%s", rep);
	ctl_fake_close(x);
	ck_assert_uint_eq(st->ctl_refused, 4);
	ck_assert_uint_eq(pager_vm_count(f.pg), 2);

	/* A VMM's connection closes: its VM goes, the other stays. */
	ctl_fake_close(a);
	ck_assert_uint_eq(pager_vm_count(f.pg), 1);
	rep = ask(q, oq, "get=1\n\n", NULL, 0);
	ck_assert_msg(strstr(rep, "vms=1\n") && strstr(rep, "vm=vm-b"), "%s",
		      rep);
	ctl_fake_close(q);
	cfx_fini(&f);		/* b's VM is detached, as on shutdown */
	g_string_free(oa, TRUE);
	g_string_free(ob, TRUE);
	g_string_free(oq, TRUE);
	g_string_free(ox, TRUE);
}
END_TEST

/* A connection gets a batch of requests per turn of the loop. */
/*
 * userfaultfd=1: a VMM gets /dev/userfaultfd (or, where this kernel has
 * none or the test is not root, the reason); a stranger is refused.
 */
START_TEST(test_userfaultfd)
{
	GString *ov = g_string_new(NULL), *ox = g_string_new(NULL);
	struct conn *v, *x;
	const char *rep;
	struct cfx f;

	cfx_init(&f, NULL);
	v = peer(&f, 5001, VMM_GROUP, NULL, 0, ov);
	x = peer(&f, 5003, 5003, NULL, 0, ox);
	rep = ask(v, ov, "userfaultfd=1\n\n", NULL, 0);
	ck_assert_msg(!strcmp(rep, "errno=0\nuserfaultfd=1\n\n") ||
		      strstr(rep, "error=memxd cannot open /dev/userfaultfd: "),
		      "%s", rep);
	rep = ask(v, ov, "userfaultfd=2\n\n", NULL, 0);
	ck_assert_str_eq(rep, "errno=22\nerror=userfaultfd=1\n\n");
	rep = ask(x, ox, "userfaultfd=1\n\n", NULL, 0);
	ck_assert_msg(!strncmp(rep, "errno=13\n", 9), "%s", rep);
	ctl_fake_close(v);
	ctl_fake_close(x);
	g_string_free(ov, TRUE);
	g_string_free(ox, TRUE);
	cfx_fini(&f);
}
END_TEST

START_TEST(test_batches)
{
	GString *out = g_string_new(NULL), *req = g_string_new(NULL);
	struct conn *c;
	struct cfx f;
	unsigned n, turns = 0;

	cfx_init(&f, NULL);
	c = peer(&f, 5001, VMM_GROUP, NULL, 0, out);
	for (unsigned i = 0; i < 100; i++)
		g_string_append(req, "get=1\n\n");
	ck_assert_uint_eq(ctl_fake_feed(c, req->str, req->len, NULL, 0),
			  req->len);
	n = count(out->str, "errno=0\n");
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_le(n, 16);
	while (count(out->str, "errno=0\n") < 100) {
		unsigned before = count(out->str, "errno=0\n");

		ck_assert_int_ge(evl_run_once(f.loop, 1000000), 0);
		ck_assert_uint_le(count(out->str, "errno=0\n") - before, 16);
		ck_assert_uint_lt(++turns, 100);
	}
	ck_assert_uint_ge(turns, 6);
	ctl_fake_close(c);
	cfx_fini(&f);
	g_string_free(out, TRUE);
	g_string_free(req, TRUE);
}
END_TEST

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A request larger than any: refused, then hung up on. */
START_TEST(test_too_large)
{
	GString *out = g_string_new(NULL);
	char *junk = malloc(MEMX_CTL_MAX_REQUEST);
	struct conn *c;
	struct cfx f;
	uint64_t t0;

	cfx_init(&f, NULL);
	memset(junk, 'k', MEMX_CTL_MAX_REQUEST);
	c = peer(&f, 5001, VMM_GROUP, NULL, 0, out);
	/* A byte at a time: each is searched once for the request's end. */
	t0 = cpu_ns();
	for (unsigned i = 0; i < MEMX_CTL_MAX_REQUEST && !ctl_fake_closed(c);
	     i++)
		ctl_fake_feed(c, junk + i, 1, NULL, 0);
	ck_assert_msg(cpu_ns() - t0 < 200000000ull, "64 KiB a byte at a time "
		      "took %llu ms of CPU", (unsigned long long)
		      ((cpu_ns() - t0) / 1000000));
	ck_assert_str_eq(out->str, "errno=7\nerror=request too large\n\n");
	ck_assert(ctl_fake_closed(c));
	ck_assert_uint_eq(ctl_stats(f.ctl)->ctl_dropped, 1);
	ctl_fake_close(c);
	cfx_fini(&f);
	free(junk);
	g_string_free(out, TRUE);
}
END_TEST

/* ---- a real socket: a client that pipelines and never reads ---- */

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

START_TEST(test_pipelining_never_reads)
{
	char dir[] = "/tmp/check-ctl-XXXXXX", path[64], buf[65536];
	uint64_t sent = 0, worst = 0, t0;
	struct cfx f;
	int hog, other;
	ssize_t n;
	size_t got = 0;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	cfx_init(&f, path);
	hog = connect_to(path);
	/* As many get=1 as the socket takes, for 300 ms; nothing read. */
	t0 = evl_now_ns();
	while (evl_now_ns() - t0 < 300000000ull) {
		uint64_t t1;

		while (send(hog, "get=1\n\nget=1\n\nget=1\n\nget=1\n\n", 28,
			    MSG_DONTWAIT | MSG_NOSIGNAL) == 28)
			sent += 4;
		/* CPU time: the machine may be busy, memxd must not be. */
		t1 = cpu_ns();
		ck_assert_int_ge(evl_run_once(f.loop, 1000000), 0);
		if (cpu_ns() - t1 > worst)
			worst = cpu_ns() - t1;
	}
	ck_assert_uint_gt(sent, 100);
	ck_assert_msg(worst < 50000000ull, "a turn of the loop took %llu ms "
		      "of CPU", (unsigned long long)(worst / 1000000));
	/* Another client is answered at once all the same. */
	other = connect_to(path);
	ck_assert_int_eq(send(other, "get=1\n\n", 7, MSG_NOSIGNAL), 7);
	t0 = evl_now_ns();
	while (!memmem(buf, got, "\n\n", 2)) {
		ck_assert_msg(evl_now_ns() - t0 < 5000000000ull, "no answer "
			      "while a client leaves its replies unread");
		ck_assert_int_ge(evl_run_once(f.loop, 1000000), 0);
		n = recv(other, buf + got, sizeof(buf) - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
	}
	ck_assert(got > 8 && !strncmp(buf, "errno=0\nctl_role=admin\n", 23));
	/* The hog still holds its connection: one reply waits for it. */
	ck_assert_uint_eq(ctl_stats(f.ctl)->ctl_dropped, 0);
	close(other);
	close(hog);
	tu_run_for(f.loop, 20);
	cfx_fini(&f);
	ck_assert_int_eq(access(path, F_OK), -1);
	rmdir(dir);
}
END_TEST

static Suite *ctl_suite(void)
{
	Suite *s = suite_create("ctl");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_parse_numbers);
	tcase_add_test(tc, test_parse_requests);
	tcase_add_test(tc, test_region_checks);
	tcase_add_test(tc, test_handover_checks);
	tcase_add_test(tc, test_remove_outside_regions);
	suite_add_tcase(s, tc);
	tc = tcase_create("access");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_role_of);
	tcase_add_test(tc, test_roles);
	tcase_add_test(tc, test_userfaultfd);
	tcase_add_test(tc, test_batches);
	tcase_add_test(tc, test_too_large);
	tcase_add_test(tc, test_pipelining_never_reads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(ctl_suite());
}
