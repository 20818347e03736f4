// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kvm_harness.c - a tiny VMM whose guest faults into memxd.
 *
 * One KVM memory slot at guest-physical 0 is backed by a memfd mapping
 * registered with memxd exactly as QEMU registers guest RAM
 * (vmm_client.c).  One vCPU runs hand-assembled 16-bit real-mode code from
 * page 0 of that slot.  The code writes a pattern over every other page
 * of the slot in a given page order and then reads it back in another
 * order, reporting the result with an OUT.  The budget is a few dozen
 * pages, so memxd must evict and re-fetch pages (the code page included)
 * while the guest runs: this proves that KVM guest accesses fault into
 * memxd and that nothing written through KVM is lost.
 *
 * This machine's /dev/kvm is PVM: real-mode code runs, and real mode
 * addresses at most 1 MiB, so that is the largest slot used.  Where
 * /dev/kvm is missing or cannot run guest code at all, exit 77 (skip).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "vmm_client.h"

#define PAGE		VMM_PAGE_SIZE
#define EXIT_SKIP	77
#define PORT_OK		0x10
#define PORT_FAIL	0x11
#define REAL_MODE_MAX	(1u << 20)
#define DEFAULT_SLACK	64

/*
 * The guest.  Page 0 holds this code and, at 0x800, its parameters; it
 * touches pages [lo, hi) of the slot.  Every dword at page p, offset off
 * holds ((p << 12 | off) ^ seed) * 0x9E3779B1, where seed is seed_b for
 * pages below split and seed_a above.  Pages are visited in the order
 * p = (i * mult + add) & mask for i = 0 .. count-1 (a permutation when
 * mult is odd and mask + 1 = count is a power of two).
 *
 * Assembled with `as --32` from .code16 source; DS = SS = 0, ES = p << 8.
 */
static const uint8_t guest_code[] = {
	/* start: */
	0xfa,					/* cli                         */
	0x31, 0xc0,				/* xor  %ax,%ax                */
	0x8e, 0xd8,				/* mov  %ax,%ds                */
	0x8e, 0xd0,				/* mov  %ax,%ss                */
	0xbc, 0x00, 0x10,			/* mov  $0x1000,%sp            */
	0x66, 0x31, 0xc9,			/* xor  %ecx,%ecx      ; i = 0  */
	/* page_loop (0x0d): */
	0x66, 0x89, 0xc8,			/* mov  %ecx,%eax              */
	0x66, 0x0f, 0xaf, 0x06, 0x08, 0x08,	/* imul mult(0x808),%eax       */
	0x66, 0x03, 0x06, 0x0c, 0x08,		/* add  add(0x80c),%eax        */
	0x66, 0x23, 0x06, 0x04, 0x08,		/* and  mask(0x804),%eax ; p   */
	0x66, 0x3b, 0x06, 0x14, 0x08,		/* cmp  lo(0x814),%eax         */
	0x72, 0x52,				/* jb   next_page              */
	0x66, 0x3b, 0x06, 0x18, 0x08,		/* cmp  hi(0x818),%eax         */
	0x73, 0x4b,				/* jae  next_page              */
	0x66, 0x89, 0xc2,			/* mov  %eax,%edx      ; edx = p */
	0xc1, 0xe0, 0x08,			/* shl  $8,%ax                 */
	0x8e, 0xc0,				/* mov  %ax,%es        ; es = p<<8 */
	0x66, 0x8b, 0x2e, 0x00, 0x08,		/* mov  seed_a(0x800),%ebp     */
	0x66, 0x3b, 0x16, 0x1c, 0x08,		/* cmp  split(0x81c),%edx      */
	0x73, 0x05,				/* jae  1f                     */
	0x66, 0x8b, 0x2e, 0x20, 0x08,		/* mov  seed_b(0x820),%ebp     */
	/* 1: */
	0x31, 0xff,				/* xor  %di,%di                */
	/* word_loop (0x49): */
	0x66, 0x89, 0xd0,			/* mov  %edx,%eax              */
	0x66, 0xc1, 0xe0, 0x0c,			/* shl  $12,%eax               */
	0x09, 0xf8,				/* or   %di,%ax                */
	0x66, 0x31, 0xe8,			/* xor  %ebp,%eax              */
	0x66, 0x69, 0xc0, 0xb1, 0x79, 0x37, 0x9e, /* imul $0x9e3779b1,%eax,%eax */
	0x80, 0x3e, 0x10, 0x08, 0x00,		/* cmpb $0,mode(0x810)         */
	0x75, 0x04,				/* jne  verify                 */
	0x66, 0xab,				/* stosl %eax,%es:(%di) ; di += 4 */
	0xeb, 0x0c,				/* jmp  cont                   */
	/* verify (0x67): */
	0x26, 0x66, 0x8b, 0x35,			/* mov  %es:(%di),%esi         */
	0x66, 0x39, 0xc6,			/* cmp  %eax,%esi              */
	0x75, 0x18,				/* jne  fail                   */
	0x83, 0xc7, 0x04,			/* add  $4,%di                 */
	/* cont (0x73): */
	0x81, 0xff, 0x00, 0x10,			/* cmp  $0x1000,%di            */
	0x72, 0xd0,				/* jb   word_loop              */
	/* next_page (0x79): */
	0x66, 0x41,				/* inc  %ecx                   */
	0x66, 0x3b, 0x0e, 0x24, 0x08,		/* cmp  count(0x824),%ecx      */
	0x72, 0x8b,				/* jb   page_loop              */
	0xba, 0x10, 0x00,			/* mov  $PORT_OK,%dx           */
	0x66, 0xef,				/* out  %eax,(%dx)             */
	0xf4,					/* hlt                         */
	/* fail (0x88): ebx = page, di = offset, eax = want, esi = got */
	0x66, 0x89, 0xd3,			/* mov  %edx,%ebx              */
	0xba, 0x11, 0x00,			/* mov  $PORT_FAIL,%dx         */
	0x66, 0xef,				/* out  %eax,(%dx)             */
	0xf4,					/* hlt                         */
};

#define PARAM_OFF	0x800

struct guest_params {			/* at guest-physical 0x800 */
	uint32_t seed_a, mask, mult, add;
	uint32_t mode;			/* 0 write, 1 verify */
	uint32_t lo, hi, split, seed_b, count;
};

struct vmm {
	const char *socket;
	const char *name;
	size_t slot_size;
	uint64_t budget;
	unsigned timeout_s;
	long slack_override;

	struct vmm_region r;
	size_t npages;
	int kvm, vm, vcpu;
	struct kvm_run *run;
	size_t run_size;
	long long max_resident, max_rss;
	unsigned long long guest_exits, io_exits;
};

static const char *volatile current_step = "setup";

static void on_alarm(int sig)
{
	static const char msg[] = "kvm-harness: FAIL: TIMEOUT: the guest "
				  "made no progress (a fault memxd never "
				  "served?) in step ";
	const char *p = current_step;

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0 ||
	    write(2, p, strlen(p)) < 0 || write(2, "\n", 1) < 0)
		_exit(1);
	_exit(1);
}

static uint32_t pattern(uint32_t page, uint32_t off, uint32_t seed)
{
	return ((page << 12 | off) ^ seed) * 0x9E3779B1u;
}

/* ---- the vCPU ---- */

static int vcpu_reset(struct vmm *v)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = 0, .rflags = 2 };

	if (ioctl(v->vcpu, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(v->vcpu, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	if (ioctl(v->vcpu, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

/*
 * Run the vCPU until the guest reports on an I/O port.  Returns the port
 * (PORT_OK or PORT_FAIL) or -1 with the reason printed.
 */
static int vcpu_run(struct vmm *v, const char *who)
{
	struct kvm_run *run = v->run;

	for (;;) {
		if (ioctl(v->vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fprintf(stderr, "%s: KVM_RUN: %s%s\n", who,
				strerror(errno), errno == EFAULT ?
				" (a guest page could not be faulted in: "
				"did memxd fail or close the userfaultfd?)" :
				"");
			return -1;
		}
		v->guest_exits++;
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			v->io_exits++;
			if (run->io.direction == KVM_EXIT_IO_OUT &&
			    (run->io.port == PORT_OK ||
			     run->io.port == PORT_FAIL))
				return run->io.port;
			fprintf(stderr, "%s: unexpected I/O %s port %#x\n",
				who, run->io.direction == KVM_EXIT_IO_OUT ?
				"out to" : "in from", run->io.port);
			return -1;
		case KVM_EXIT_HLT:
			fprintf(stderr, "%s: the guest halted without "
				"reporting\n", who);
			return -1;
		case KVM_EXIT_MMIO:
			fprintf(stderr, "%s: guest access outside the slot: "
				"%s %#llx\n", who,
				run->mmio.is_write ? "write to" : "read of",
				(unsigned long long)run->mmio.phys_addr);
			return -1;
		case KVM_EXIT_SHUTDOWN:
			fprintf(stderr, "%s: the guest triple-faulted "
				"(KVM_EXIT_SHUTDOWN)\n", who);
			return -1;
		case KVM_EXIT_FAIL_ENTRY:
			fprintf(stderr, "%s: KVM_EXIT_FAIL_ENTRY: hardware "
				"entry failure reason %#llx\n", who,
				(unsigned long long)run->fail_entry
					.hardware_entry_failure_reason);
			return -1;
		case KVM_EXIT_INTERNAL_ERROR:
			fprintf(stderr, "%s: KVM_EXIT_INTERNAL_ERROR: "
				"suberror %u%s", who,
				run->internal.suberror,
				run->internal.suberror ==
				KVM_INTERNAL_ERROR_EMULATION ?
				" (instruction emulation failed)" : "");
			for (unsigned i = 0; i < run->internal.ndata &&
			     i < 16; i++)
				fprintf(stderr, " %#llx", (unsigned long long)
					run->internal.data[i]);
			fprintf(stderr, "\n");
			return -1;
		case KVM_EXIT_INTR:
			continue;
		default:
			fprintf(stderr, "%s: unexpected exit reason %u\n", who,
				run->exit_reason);
			return -1;
		}
	}
}

static int vcpu_create(struct vmm *v, int vm)
{
	int mmap_size;

	v->vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (v->vcpu < 0)
		return -errno;
	mmap_size = ioctl(v->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size < (int)sizeof(struct kvm_run))
		return -EINVAL;
	v->run_size = (size_t)mmap_size;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->vcpu, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return -errno;
	}
	return 0;
}

static void vcpu_destroy(struct vmm *v)
{
	if (v->run)
		munmap(v->run, v->run_size);
	if (v->vcpu >= 0)
		close(v->vcpu);
	v->run = NULL;
	v->vcpu = -1;
}

static int set_slot(int vm, void *mem, size_t size)
{
	struct kvm_userspace_memory_region mr = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = size,
		.userspace_addr = (uintptr_t)mem,
	};

	return ioctl(vm, KVM_SET_USER_MEMORY_REGION, &mr) < 0 ? -errno : 0;
}

/*
 * Can this /dev/kvm run guest code at all?  A throwaway VM on plain
 * anonymous memory runs `out %al,$PORT_OK; hlt`.  0 yes; otherwise the
 * reason is printed and the caller skips.
 */
static int kvm_preflight(struct vmm *v)
{
	static const uint8_t code[] = { 0xe6, PORT_OK, 0xf4 };
	struct vmm probe = { .kvm = v->kvm, .vcpu = -1 };
	void *mem;
	int vm, ret = -1;

	vm = ioctl(v->kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		printf("kvm-harness: SKIP: KVM_CREATE_VM: %s\n",
		       strerror(errno));
		return -1;
	}
	ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000ul);
	mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		close(vm);
		return -1;
	}
	memcpy(mem, code, sizeof(code));
	if (set_slot(vm, mem, 0x10000) || vcpu_create(&probe, vm) ||
	    vcpu_reset(&probe)) {
		printf("kvm-harness: SKIP: cannot set up a vCPU: %s\n",
		       strerror(errno));
		goto out;
	}
	if (vcpu_run(&probe, "kvm-harness: preflight") != PORT_OK) {
		printf("kvm-harness: SKIP: /dev/kvm cannot run real-mode "
		       "guest code here (see above)\n");
		goto out;
	}
	ret = 0;
out:
	vcpu_destroy(&probe);
	close(vm);
	munmap(mem, 0x10000);
	return ret;
}

/* ---- memxd's view ---- */


static const char *const resident_keys[] = {
	"resident_pages", "resident", NULL
};

static void sample(struct vmm *v, long long *res_out, long long *rss_out)
{
	struct vmm_kv kv;
	char err[256];
	long long res = -1, rss = vmm_rss_pages(v->r.mem);

	if (!vmm_get(v->socket, v->name, &kv, err, sizeof(err))) {
		res = vmm_kv_num(&kv, resident_keys, -1);
		vmm_kv_free(&kv);
	}
	if (res > v->max_resident)
		v->max_resident = res;
	if (rss > v->max_rss)
		v->max_rss = rss;
	*res_out = res;
	*rss_out = rss;
}

/* ---- one guest step ---- */

struct step {
	const char *name;
	uint32_t mode, mult, add, lo, hi, split;
	int seed_a, seed_b;		/* indexes into the pass's seeds */
};

/* Run one step; returns 0 if the guest reported success. */
static int run_step(struct vmm *v, const struct step *s, const uint32_t *seeds)
{
	struct guest_params p = {
		.seed_a = seeds[s->seed_a], .seed_b = seeds[s->seed_b],
		.mask = (uint32_t)v->npages - 1, .count = (uint32_t)v->npages,
		.mult = s->mult, .add = s->add, .mode = s->mode,
		.lo = s->lo, .hi = s->hi, .split = s->split,
	};
	struct timespec t0, t1;
	struct kvm_regs regs;
	long long res, rss;
	int port;

	current_step = s->name;
	/* The VMM writes the parameters through its own mapping: if memxd
	 * evicted page 0 this faults it back, as QEMU's own accesses do. */
	memcpy(v->r.mem + PARAM_OFF, &p, sizeof(p));
	if (vcpu_reset(v)) {
		fprintf(stderr, "kvm-harness: vCPU reset: %s\n",
			strerror(errno));
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	port = vcpu_run(v, "kvm-harness");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (port < 0)
		return -1;
	if (port == PORT_FAIL) {
		ioctl(v->vcpu, KVM_GET_REGS, &regs);
		fprintf(stderr, "kvm-harness: FAIL in %s: the guest read page "
			"%llu offset %#llx: expected %08llx, got %08llx\n",
			s->name, (unsigned long long)regs.rbx,
			(unsigned long long)(regs.rdi & 0xffff),
			(unsigned long long)(regs.rax & 0xffffffff),
			(unsigned long long)(regs.rsi & 0xffffffff));
		return -1;
	}
	sample(v, &res, &rss);
	printf("kvm-harness: %-26s ok %6.3f s  rss %lld (max %lld) memxd "
	       "resident %lld (max %lld)\n", s->name,
	       (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       rss, v->max_rss, res, v->max_resident);
	return 0;
}

/* After the guest is done, the VMM reads every page back itself. */
static int host_verify(struct vmm *v, const uint32_t *seeds, int sa, int sb,
		       uint32_t split)
{
	unsigned bad = 0;

	current_step = "host-verify";
	for (uint32_t pg = 1; pg < v->npages; pg++) {
		uint32_t seed = pg < split ? seeds[sb] : seeds[sa];
		const volatile uint32_t *w =
			(const volatile uint32_t *)(v->r.mem + pg * PAGE);

		for (uint32_t off = 0; off < PAGE; off += 4) {
			uint32_t got = w[off / 4];

			if (got == pattern(pg, off, seed))
				continue;
			if (bad++ < 8)
				fprintf(stderr, "kvm-harness: FAIL in "
					"host-verify: page %u offset %#x: "
					"expected %08x, got %08x\n", pg, off,
					pattern(pg, off, seed), got);
		}
	}
	printf("kvm-harness: host-verify of the guest's pattern: %u bad "
	       "dwords\n", bad);
	return bad ? -1 : 0;
}

static int run_passes(struct vmm *v, unsigned passes)
{
	const uint32_t n = (uint32_t)v->npages, half = n / 2;
	const uint32_t rnd = 0x9E3779B1u | 1;
	/* Each pass: write in one order, verify in another; then rewrite
	 * half with a second seed and verify both halves. */
	const struct step plan[] = {
		{ "seq write",          0, 1,      0, 1, n, 0, 0, 0 },
		{ "reverse verify",     1, n - 1,  n - 1, 1, n, 0, 0, 0 },
		{ "strided(17) write",  0, 17,     3, 1, n, 0, 1, 1 },
		{ "random verify",      1, rnd,    5, 1, n, 0, 1, 1 },
		{ "rewrite low half",   0, 1,      0, 1, half, half, 1, 2 },
		{ "random verify both", 1, rnd * 3, 7, 1, n, half, 1, 2 },
	};
	uint32_t seeds[3];

	for (unsigned pass = 0; pass < passes; pass++) {
		for (unsigned i = 0; i < 3; i++)
			seeds[i] = (uint32_t)rand() * 2654435761u ^
				   (pass << 24 | i);
		printf("kvm-harness: pass %u/%u: seeds %08x %08x %08x\n",
		       pass + 1, passes, seeds[0], seeds[1], seeds[2]);
		for (unsigned i = 0; i < sizeof(plan) / sizeof(plan[0]); i++)
			if (run_step(v, &plan[i], seeds))
				return -1;
		if (host_verify(v, seeds, 1, 2, half))
			return -1;
	}
	return 0;
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: kvm_harness --socket PATH [options]\n"
"  --socket PATH     memxd's control socket (required)\n"
"  --name NAME       VM name to register (default kvm-harness-PID)\n"
"  --slot SIZE       guest RAM, a power of two, 16K..1M (default 1M)\n"
"  --budget PAGES    local budget in pages (default 32)\n"
"  --passes N        passes, each with new patterns (default 3)\n"
"  --slack PAGES     allowed overshoot (default: memxd's slack_pages, or 64)\n"
"  --timeout SEC     fail if the run takes longer (default 600)\n"
"Exits 77 (skip) where /dev/kvm is absent or cannot run guest code.\n");
}

static void print_counters(struct vmm *v)
{
	struct vmm_kv kv;
	char err[256];

	if (vmm_get(v->socket, v->name, &kv, err, sizeof(err))) {
		printf("kvm-harness: get=1 failed: %s\n", err);
		return;
	}
	printf("kvm-harness: memxd counters:");
	for (unsigned i = 0; i < kv.n; i++)
		printf(" %s=%s", kv.key[i], kv.val[i]);
	printf("\n");
	vmm_kv_free(&kv);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "slot", required_argument, NULL, 'S' },
		{ "budget", required_argument, NULL, 'b' },
		{ "passes", required_argument, NULL, 'p' },
		{ "slack", required_argument, NULL, 'k' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct vmm v = {
		.slot_size = REAL_MODE_MAX, .budget = 32 * PAGE,
		.timeout_s = 600, .slack_override = -1, .kvm = -1, .vm = -1,
		.vcpu = -1, .max_resident = -1, .max_rss = -1,
	};
	unsigned passes = 3;
	char err[256], namebuf[64], *end;
	long long slack, limit;
	struct vmm_kv kv;
	int c, ret = 1;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 's': v.socket = optarg; break;
		case 'n': v.name = optarg; break;
		case 'S':
			v.slot_size = strtoul(optarg, &end, 0);
			if (*end == 'k' || *end == 'K')
				v.slot_size <<= 10;
			else if (*end == 'm' || *end == 'M')
				v.slot_size <<= 20;
			break;
		case 'b': v.budget = strtoull(optarg, NULL, 0) * PAGE; break;
		case 'p': passes = (unsigned)atoi(optarg); break;
		case 'k': v.slack_override = atol(optarg); break;
		case 'T': v.timeout_s = (unsigned)atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!v.socket || optind != argc || v.slot_size < 4 * PAGE ||
	    v.slot_size > REAL_MODE_MAX ||
	    (v.slot_size & (v.slot_size - 1)) || !v.budget) {
		usage(stderr);
		return 2;
	}
	if (!v.name) {
		snprintf(namebuf, sizeof(namebuf), "kvm-harness-%d",
			 (int)getpid());
		v.name = namebuf;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGALRM, on_alarm);
	alarm(v.timeout_s);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());

	v.kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (v.kvm < 0) {
		printf("kvm-harness: SKIP: cannot open /dev/kvm: %s\n",
		       strerror(errno));
		return EXIT_SKIP;
	}
	if (ioctl(v.kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		printf("kvm-harness: SKIP: unexpected KVM API version\n");
		close(v.kvm);
		return EXIT_SKIP;
	}
	if (kvm_preflight(&v)) {
		close(v.kvm);
		return EXIT_SKIP;
	}

	ret = vmm_region_create(&v.r, v.slot_size, v.name, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "kvm-harness: region: %s\n", err);
		ret = 1;
		goto out_kvm;
	}
	v.npages = v.slot_size / PAGE;
	ret = vmm_register(&v.r, v.socket, v.name, v.budget, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "kvm-harness: FAIL: cannot register with "
			"memxd: %s\n", err);
		ret = 1;
		goto out_region;
	}
	slack = v.slack_override;
	if (slack < 0 && !vmm_get(v.socket, v.name, &kv, err, sizeof(err))) {
		static const char *const keys[] = { "slack_pages", NULL };

		slack = vmm_kv_num(&kv, keys, -1);
		vmm_kv_free(&kv);
	}
	if (slack < 0)
		slack = DEFAULT_SLACK;
	/* The code goes in through the registered mapping: page 0's first
	 * touch is a MISSING fault that memxd serves, as with QEMU's ROMs. */
	current_step = "load code";
	memcpy(v.r.mem, guest_code, sizeof(guest_code));

	ret = 1;
	v.vm = ioctl(v.kvm, KVM_CREATE_VM, 0);
	if (v.vm < 0) {
		fprintf(stderr, "kvm-harness: KVM_CREATE_VM: %s\n",
			strerror(errno));
		goto out_region;
	}
	ioctl(v.vm, KVM_SET_TSS_ADDR, 0xfffbd000ul);
	if (set_slot(v.vm, v.r.mem, v.slot_size)) {
		fprintf(stderr, "kvm-harness: KVM_SET_USER_MEMORY_REGION on "
			"the registered mapping: %s\n", strerror(errno));
		goto out_vm;
	}
	if (vcpu_create(&v, v.vm)) {
		fprintf(stderr, "kvm-harness: vCPU: %s\n", strerror(errno));
		goto out_vm;
	}
	printf("kvm-harness: registered %s: %zu KiB slot (%zu pages) at "
	       "guest-physical 0, budget %llu pages, slack %lld pages, "
	       "%zu bytes of real-mode guest code in page 0\n", v.name,
	       v.slot_size >> 10, v.npages,
	       (unsigned long long)(v.budget / PAGE), slack,
	       sizeof(guest_code));

	ret = run_passes(&v, passes) ? 1 : 0;
	alarm(0);
	print_counters(&v);
	limit = (long long)(v.budget / PAGE) + slack;
	if (v.max_rss > limit || v.max_resident > limit) {
		fprintf(stderr, "kvm-harness: FAIL: resident reached %lld "
			"(Rss) / %lld (memxd) pages > budget %llu + slack "
			"%lld\n", v.max_rss, v.max_resident,
			(unsigned long long)(v.budget / PAGE), slack);
		ret = 1;
	}
	printf("kvm-harness: %s passes=%u slot_pages=%zu guest_bytes_verified="
	       "%llu exits=%llu max_rss_pages=%lld "
	       "max_memxd_resident_pages=%lld budget_pages=%llu "
	       "slack_pages=%lld\n", ret ? "FAIL" : "PASS", passes, v.npages,
	       (unsigned long long)passes * 3 * (v.npages - 1) * PAGE,
	       v.guest_exits, v.max_rss, v.max_resident,
	       (unsigned long long)(v.budget / PAGE), slack);
	vcpu_destroy(&v);
out_vm:
	close(v.vm);
out_region:
	vmm_region_destroy(&v.r);
out_kvm:
	close(v.kvm);
	return ret;
}
