// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * check_guestmem.c - guestmem.c on a real userfaultfd and memfd.
 *
 * The pager's unit tests run over a fake of guestmem.h; these hold the
 * real one to what that fake promises, where the kernel decides: what
 * UFFDIO_COPY does with a page someone else put there.  A memfd mapped
 * twice, as QEMU and a second user of guest memory would: the first
 * mapping registered MISSING|WP, the second a plain one that writes
 * behind the pager's back.  Needs a userfaultfd (root, or
 * /dev/userfaultfd): without one the test is skipped, and says why.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check_util.h"
#include "memxd/pager/guestmem.h"
#include "tests/harness/vmm_client.h"

#define NPAGES		8u
/* /proc/self/pagemap: the PTE is write-protected by userfaultfd. */
#define PM_UFFD_WP	(1ull << 57)

static struct vmm_region vmm;
static struct guestmem gm;
static uint8_t *other;		/* a second mapping, not registered */
static uint8_t src[NPAGES * GM_PAGE];

static void setup(void)
{
	struct vm_region r;
	char err[256] = "";
	int uffd, memfd;

	ck_assert_msg(vmm_region_create(&vmm, NPAGES * GM_PAGE, "gm", err,
					sizeof(err)) == 0, "%s", err);
	r = (struct vm_region){ (uintptr_t)vmm.mem, 0, vmm.size, GM_PAGE };
	uffd = dup(vmm.uffd);
	memfd = dup(vmm.memfd);
	ck_assert_msg(gm_open(&gm, uffd, memfd, &r, 1, false, err,
			      sizeof(err)) == 0, "gm_open: %s", err);
	other = mmap(NULL, vmm.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		     vmm.memfd, 0);
	ck_assert(other != MAP_FAILED);
	for (unsigned p = 0; p < NPAGES; p++)
		memset(src + p * GM_PAGE, 0x10 + p, GM_PAGE);
}

static void teardown(void)
{
	munmap(other, vmm.size);
	gm_close(&gm);
	vmm_region_destroy(&vmm);
}

/* Is @page of the registered mapping write-protected? */
static bool protected(unsigned page)
{
	uint64_t entry = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	off_t off = (off_t)((uintptr_t)vmm.mem / GM_PAGE + page) * 8;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &entry, sizeof(entry), off), 8);
	close(fd);
	return entry & PM_UFFD_WP;
}

/*
 * A page written through the other mapping is there: the run goes in up
 * to it and stops, -EEXIST, with the pages before it counted.  That page
 * keeps the bytes written and no protection; the next call goes on.
 */
START_TEST(test_install_stops_at_page_there)
{
	uint64_t done = 99;

	memset(other + 2 * GM_PAGE, 0xa5, GM_PAGE);
	ck_assert_int_eq(gm_install(&gm, 0, 4, src, true, &done), -EEXIST);
	ck_assert_uint_eq(done, 2);
	ck_assert_int_eq(vmm.mem[0], 0x10);
	ck_assert_int_eq(vmm.mem[GM_PAGE + GM_PAGE - 1], 0x11);
	ck_assert_int_eq(vmm.mem[2 * GM_PAGE], 0xa5);
	ck_assert(protected(0) && protected(1));
	ck_assert(!protected(2));
	ck_assert_int_eq(gm_install(&gm, 3, 1, src + 3 * GM_PAGE, true,
				    &done), 0);
	ck_assert_uint_eq(done, 1);
	ck_assert_int_eq(other[3 * GM_PAGE], 0x13);
	ck_assert(protected(3));
}
END_TEST

/* ...and at the first page of a run: nothing goes in. */
START_TEST(test_install_first_page_there)
{
	uint64_t done = 99;

	memset(other + 5 * GM_PAGE, 0x5a, GM_PAGE);
	ck_assert_int_eq(gm_install(&gm, 5, 3, src + 5 * GM_PAGE, false,
				    &done), -EEXIST);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(vmm.mem[5 * GM_PAGE], 0x5a);
	ck_assert_int_eq(gm_install(&gm, 6, 2, src + 6 * GM_PAGE, false,
				    &done), 0);
	ck_assert_uint_eq(done, 2);
	ck_assert_int_eq(vmm.mem[7 * GM_PAGE], 0x17);
	ck_assert(!protected(6) && !protected(7));
}
END_TEST

static Suite *guestmem_suite(void)
{
	Suite *s = suite_create("guestmem");
	TCase *tc = tcase_create("install");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_install_stops_at_page_there);
	tcase_add_test(tc, test_install_first_page_there);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	struct vmm_region probe;
	char err[256] = "";

	if (vmm_region_create(&probe, GM_PAGE, "probe", err, sizeof(err))) {
		printf("SKIP: check_guestmem needs a userfaultfd with shmem "
		       "write-protection: %s\n", err);
		return 77;
	}
	vmm_region_destroy(&probe);
	return tu_run_suite(guestmem_suite());
}
