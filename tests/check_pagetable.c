// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * check_pagetable.c - the page-state machine: every named transition
 * from where it may start, each refused from where it may not (and
 * counted as a bug), and the counts it keeps (pages per state among
 * them, checked after every test).
 */
#include <check.h>
#include <stdint.h>

#include "check_util.h"
#include "memxd/pager/pagetable.h"

static struct pagetable pt;

static void setup(void)
{
	ck_assert_int_eq(pt_init(&pt, 16, NULL, NULL), 0);
}

/*
 * After every test, refused transitions included: the per-state counts
 * are what a scan finds, and add up to the table.
 */
static void teardown(void)
{
	uint64_t by_state[PS_NSTATES] = { 0 }, sum = 0;

	for (uint64_t p = 0; p < pt.npages; p++)
		by_state[pt_state(&pt, p)]++;
	for (unsigned s = 0; s < PS_NSTATES; s++) {
		ck_assert_uint_eq(pt.by_state[s], by_state[s]);
		sum += pt.by_state[s];
	}
	ck_assert_uint_eq(sum, pt.npages);
	pt_fini(&pt);
}

/* RESIDENT @p leaves through a WRITE its server stored: REMOTE. */
static void leave_written(uint64_t p)
{
	ck_assert(pt_evict_begin(&pt, p));
	ck_assert(pt_write_begin(&pt, p));
	ck_assert(pt_write_end(&pt, p, true));
}

/* RESIDENT @p, clean, leaves with nothing sent: REMOTE. */
static void leave_clean(uint64_t p)
{
	ck_assert(pt_evict_begin(&pt, p));
	ck_assert(pt_evicted_clean(&pt, p));
}

/* Page @p made RESIDENT, clean, with a valid server copy. */
static void resident_clean(uint64_t p)
{
	ck_assert(pt_found_resident(&pt, p));
	leave_written(p);				/* REMOTE now */
	ck_assert(pt_fetch_begin(&pt, p));
	ck_assert_int_eq(pt_fetch_wait(&pt, p, false), 1);
	{
		bool w;

		ck_assert_int_eq(pt_fetch_end(&pt, p, true, &w), FE_INSTALL);
	}
	ck_assert(pt_installed(&pt, p, false));
}

START_TEST(test_fault_install_evict)
{
	bool w;

	/* NEVER -> zero fill (dirty) -> RESIDENT. */
	ck_assert(!pt_installed(&pt, 0, false));	/* must be dirty */
	ck_assert_uint_eq(pt.bugs, 1);
	ck_assert(pt_installed(&pt, 0, true));
	ck_assert_int_eq(pt_state(&pt, 0), PS_RESIDENT);
	ck_assert_uint_eq(pt_resident(&pt), 1);
	/* Evicted dirty: EVICTING, WRITING, then REMOTE on the ACK. */
	ck_assert(pt_evict_begin(&pt, 0));
	ck_assert_uint_eq(pt_evicting(&pt), 1);
	ck_assert(pt_write_begin(&pt, 0));
	ck_assert(!pt_write_begin(&pt, 0));		/* never twice */
	ck_assert(pt_write_end(&pt, 0, true));
	ck_assert_int_eq(pt_state(&pt, 0), PS_REMOTE);
	ck_assert(pt_has(&pt, 0, PT_HAS_REMOTE));
	ck_assert_uint_eq(pt_resident(&pt), 0);
	ck_assert_uint_eq(pt_evicting(&pt), 0);
	/* A read fault fetches it: wanted counts the waiting fault. */
	ck_assert(pt_fetch_begin(&pt, 0));
	ck_assert_int_eq(pt_fetch_wait(&pt, 0, false), 1);
	ck_assert_int_eq(pt_fetch_wait(&pt, 0, true), 0);
	ck_assert_uint_eq(pt.wanted, 1);
	ck_assert_uint_eq(pt_committed(&pt), 1);
	ck_assert_int_eq(pt_fetch_end(&pt, 0, true, &w), FE_INSTALL);
	ck_assert(w);
	ck_assert_uint_eq(pt.wanted, 0);
	ck_assert(pt_installed(&pt, 0, w));
	ck_assert(pt_has(&pt, 0, PT_DIRTY));
	ck_assert_uint_eq(pt.bugs, 2);
}
END_TEST

/* Invariant 1: a write during the eviction wins; the ACK does not punch. */
START_TEST(test_write_cancels_eviction)
{
	ck_assert(pt_installed(&pt, 1, true));
	ck_assert(pt_evict_begin(&pt, 1));
	ck_assert(pt_write_begin(&pt, 1));
	ck_assert(pt_written(&pt, 1));
	ck_assert_int_eq(pt_state(&pt, 1), PS_RESIDENT);
	ck_assert_uint_eq(pt_evicting(&pt), 0);
	/* Invariant 2: it cannot be evicted again while the WRITE is out. */
	ck_assert(!pt_evict_begin(&pt, 1));
	ck_assert_uint_eq(pt.bugs, 1);
	ck_assert(!pt_write_end(&pt, 1, true));	/* stale: no punch */
	ck_assert_int_eq(pt_state(&pt, 1), PS_RESIDENT);
	ck_assert(pt_has(&pt, 1, PT_DIRTY));
	ck_assert(pt_has(&pt, 1, PT_HAS_REMOTE));
	ck_assert(pt_evict_begin(&pt, 1));		/* now it may */
}
END_TEST

/* A refused WRITE: the page stays EVICTING for the caller to cancel. */
START_TEST(test_write_refused)
{
	ck_assert(pt_installed(&pt, 2, true));
	ck_assert(pt_evict_begin(&pt, 2));
	ck_assert(pt_write_begin(&pt, 2));
	ck_assert(!pt_write_end(&pt, 2, false));
	ck_assert_int_eq(pt_state(&pt, 2), PS_EVICTING);
	ck_assert(!pt_has(&pt, 2, PT_HAS_REMOTE));
	ck_assert(pt_evict_cancel(&pt, 2));
	ck_assert(!pt_evict_cancel(&pt, 2));
	ck_assert_uint_eq(pt.bugs, 1);
}
END_TEST

START_TEST(test_clean_and_zero_evictions)
{
	resident_clean(3);
	ck_assert(pt_evict_begin(&pt, 3));
	ck_assert(pt_evicted_clean(&pt, 3));
	ck_assert_int_eq(pt_state(&pt, 3), PS_REMOTE);
	/* A dirty page is not clean. */
	ck_assert(pt_installed(&pt, 4, true));
	ck_assert(pt_evict_begin(&pt, 4));
	ck_assert(!pt_evicted_clean(&pt, 4));
	ck_assert(pt_evicted_zero(&pt, 4));
	ck_assert_int_eq(pt_state(&pt, 4), PS_NEVER);
	ck_assert(pt_installed(&pt, 5, true));
	ck_assert(pt_evict_begin(&pt, 5));
	ck_assert(pt_spilled(&pt, 5));
	ck_assert_int_eq(pt_state(&pt, 5), PS_SPILLED);
	ck_assert(!pt_installed(&pt, 5, false));	/* spill is no server copy */
	ck_assert(pt_installed(&pt, 5, true));
	ck_assert_uint_eq(pt_resident(&pt), 1);
	ck_assert_uint_eq(pt.bugs, 2);
}
END_TEST

/* Invariant 5: a discarded page stays FETCHING until its READ ends. */
START_TEST(test_discard_during_fetch)
{
	bool w;

	resident_clean(6);
	leave_clean(6);
	ck_assert(pt_fetch_begin(&pt, 6));
	ck_assert_int_eq(pt_fetch_wait(&pt, 6, true), 1);
	ck_assert(pt_discard(&pt, 6));
	ck_assert_int_eq(pt_state(&pt, 6), PS_FETCHING);
	ck_assert(!pt_fetch_begin(&pt, 6));
	ck_assert(!pt_remote_droppable(&pt, 6));
	ck_assert_int_eq(pt_fetch_end(&pt, 6, true, &w), FE_INSTALL_ZERO);
	ck_assert_int_eq(pt_state(&pt, 6), PS_NEVER);
	ck_assert(pt_remote_droppable(&pt, 6));
	pt_remote_dropped(&pt, 6);
	ck_assert(!pt_has(&pt, 6, PT_HAS_REMOTE));
	/* Nobody waited: it is simply gone. */
	resident_clean(7);
	leave_clean(7);
	ck_assert(pt_fetch_begin(&pt, 7));
	ck_assert(pt_discard(&pt, 7));
	ck_assert_int_eq(pt_fetch_end(&pt, 7, false, &w), FE_GONE);
	ck_assert_uint_eq(pt.wanted, 0);
	ck_assert_uint_eq(pt.bugs, 1);
}
END_TEST

/* Invariant 2 across a discard: PT_WRITING survives it. */
START_TEST(test_discard_keeps_writing)
{
	ck_assert(pt_installed(&pt, 8, true));
	ck_assert(pt_evict_begin(&pt, 8));
	ck_assert(pt_write_begin(&pt, 8));
	ck_assert(pt_discard(&pt, 8));
	ck_assert_int_eq(pt_state(&pt, 8), PS_NEVER);
	ck_assert(pt_has(&pt, 8, PT_WRITING));
	ck_assert_uint_eq(pt_resident(&pt), 0);
	ck_assert_uint_eq(pt_evicting(&pt), 0);
	ck_assert(!pt_remote_droppable(&pt, 8));	/* the WRITE lands */
	ck_assert(pt_installed(&pt, 8, true));	/* faulted in: zeros */
	ck_assert(!pt_evict_begin(&pt, 8));	/* not while WRITING */
	ck_assert(!pt_write_end(&pt, 8, true));
	ck_assert(pt_has(&pt, 8, PT_HAS_REMOTE));
	ck_assert(pt_evict_begin(&pt, 8));
	ck_assert_uint_eq(pt.bugs, 1);
}
END_TEST

START_TEST(test_fetch_failure_and_cache)
{
	bool w;

	resident_clean(9);
	leave_clean(9);
	ck_assert(pt_fetch_begin(&pt, 9));
	ck_assert_int_eq(pt_fetch_end(&pt, 9, false, &w), FE_DROPPED);
	ck_assert(pt_fetch_begin(&pt, 9));
	ck_assert_int_eq(pt_fetch_wait(&pt, 9, false), 1);
	ck_assert_int_eq(pt_fetch_end(&pt, 9, false, &w), FE_RETRY);
	ck_assert_int_eq(pt_state(&pt, 9), PS_REMOTE);
	ck_assert(pt_fetch_begin(&pt, 9));
	ck_assert_int_eq(pt_fetch_end(&pt, 9, true, &w), FE_CACHE);
	ck_assert(pt_cached(&pt, 9));
	ck_assert(!pt_fetch_begin(&pt, 9));	/* cached: no READ */
	ck_assert(!pt_discard(&pt, 9));		/* uncache first */
	pt_uncached(&pt, 9);
	ck_assert(pt_cached(&pt, 9));
	ck_assert(pt_spilled_from_cache(&pt, 9));
	ck_assert_int_eq(pt_state(&pt, 9), PS_SPILLED);
	ck_assert(!pt_has(&pt, 9, PT_HAS_REMOTE));
	ck_assert_int_eq(pt_fetch_end(&pt, 9, true, &w), FE_BUG);
	ck_assert_int_eq(pt_fetch_wait(&pt, 9, true), -EINVAL);
	ck_assert_uint_eq(pt.bugs, 4);
}
END_TEST

START_TEST(test_remote_lost)
{
	resident_clean(10);
	pt_remote_lost(&pt, 10);
	ck_assert(!pt_has(&pt, 10, PT_HAS_REMOTE));
	ck_assert(pt_has(&pt, 10, PT_DIRTY));	/* store it again */
	ck_assert_uint_eq(pt.max_resident, 1);
	ck_assert_uint_eq(pt.bugs, 0);
}
END_TEST

/* PT_HOT: only on RESIDENT pages, and counted. */
START_TEST(test_hot_flag)
{
	resident_clean(1);
	resident_clean(2);
	ck_assert(pt_set_hot(&pt, 1, true));
	ck_assert(pt_set_hot(&pt, 2, true));
	ck_assert_uint_eq(pt.hot, 2);
	/* Twice, or on a page that is not resident: refused. */
	ck_assert(!pt_set_hot(&pt, 1, true));
	ck_assert(!pt_set_hot(&pt, 3, true));
	ck_assert(!pt_set_hot(&pt, 3, false));
	ck_assert_uint_eq(pt.bugs, 3);
	/* A write keeps it hot; a discard and an eviction drop it. */
	ck_assert(pt_written(&pt, 1));
	ck_assert(pt_has(&pt, 1, PT_HOT));
	ck_assert(pt_discard(&pt, 1));
	ck_assert(!pt_has(&pt, 1, PT_HOT));
	ck_assert_uint_eq(pt.hot, 1);
	ck_assert(pt_evict_begin(&pt, 2));
	ck_assert(!pt_has(&pt, 2, PT_HOT));
	ck_assert_uint_eq(pt.hot, 0);
	ck_assert(pt_evict_cancel(&pt, 2));
	ck_assert(pt_set_hot(&pt, 2, true));
	ck_assert(pt_set_hot(&pt, 2, false));
	ck_assert_uint_eq(pt.hot, 0);
	ck_assert_uint_eq(pt.bugs, 3);
}
END_TEST

/* The victim policy's epoch and PT_DEMOTED: no transition changes them. */
START_TEST(test_victim_bits_kept)
{
	bool w;

	resident_clean(4);
	pt_set_epoch(&pt, 4, 5);
	pt_set_demoted(&pt, 4, true);
	leave_clean(4);
	ck_assert(pt_fetch_begin(&pt, 4));
	ck_assert_int_eq(pt_fetch_end(&pt, 4, true, &w), FE_CACHE);
	ck_assert(pt_cached(&pt, 4));
	ck_assert(pt_installed(&pt, 4, false));
	ck_assert_uint_eq(pt_epoch(&pt, 4), 5);
	ck_assert(pt_has(&pt, 4, PT_DEMOTED));
	ck_assert(pt_discard(&pt, 4));
	ck_assert_uint_eq(pt_epoch(&pt, 4), 5);
	pt_set_epoch(&pt, 4, 0);
	pt_set_demoted(&pt, 4, false);
	ck_assert_uint_eq(pt_epoch(&pt, 4), 0);
	ck_assert(!pt_has(&pt, 4, PT_DEMOTED));
	ck_assert_uint_eq(pt.bugs, 0);
}
END_TEST

/*
 * A page installed writable ahead (PT_UNSEEN) from REMOTE only: dirty,
 * unseen.  Unchanged, it goes clean again with its copy valid; a write
 * fault, a cancelled eviction or pt_seen makes it the guest's; every
 * state it leaves for drops the flag, which FETCHING pages use for
 * PT_WANT_WRITE.
 */
START_TEST(test_unseen)
{
	bool w;

	/* Page 0: REMOTE, read ahead by a write fault (PT_WANT_WRITE). */
	resident_clean(0);
	leave_clean(0);
	ck_assert(pt_fetch_begin(&pt, 0));
	ck_assert_int_eq(pt_fetch_wait(&pt, 0, true), 1);
	/* The shared bit, set while FETCHING, is not PT_UNSEEN. */
	ck_assert(pt_has(&pt, 0, PT_WANT_WRITE));
	ck_assert(!pt_unseen(&pt, 0));
	ck_assert_int_eq(pt_fetch_end(&pt, 0, true, &w), FE_INSTALL);
	ck_assert(w);
	ck_assert(!pt_has(&pt, 0, PT_UNSEEN));		/* not carried over */
	ck_assert(pt_installed_unseen(&pt, 0));
	ck_assert(pt_unseen(&pt, 0));
	ck_assert_int_eq(pt_state(&pt, 0), PS_RESIDENT);
	ck_assert(pt_has(&pt, 0, PT_DIRTY) && pt_has(&pt, 0, PT_UNSEEN));
	ck_assert(pt_unwritten(&pt, 0));
	ck_assert(!pt_has(&pt, 0, PT_DIRTY) && !pt_has(&pt, 0, PT_UNSEEN));
	ck_assert(pt_copy_authoritative(&pt, 0));
	ck_assert(!pt_unwritten(&pt, 0));		/* not unseen: a bug */
	ck_assert_uint_eq(pt.bugs, 1);

	/* Only from REMOTE. */
	ck_assert(!pt_installed_unseen(&pt, 1));	/* NEVER */
	ck_assert_uint_eq(pt.bugs, 2);

	/* A write fault: the guest's. */
	leave_clean(0);
	ck_assert(pt_installed_unseen(&pt, 0));
	ck_assert(pt_written(&pt, 0));
	ck_assert(!pt_has(&pt, 0, PT_UNSEEN) && pt_has(&pt, 0, PT_DIRTY));

	/* Evicting keeps it; the eviction's end drops it; so does a cancel. */
	resident_clean(2);
	leave_clean(2);
	ck_assert(pt_installed_unseen(&pt, 2));
	ck_assert(pt_evict_begin(&pt, 2));
	ck_assert(pt_has(&pt, 2, PT_UNSEEN));
	ck_assert(pt_write_begin(&pt, 2));
	ck_assert(pt_write_end(&pt, 2, true));
	ck_assert_int_eq(pt_state(&pt, 2), PS_REMOTE);
	ck_assert(!pt_has(&pt, 2, PT_UNSEEN));
	ck_assert(pt_fetch_begin(&pt, 2));
	ck_assert_int_eq(pt_fetch_end(&pt, 2, true, &w), FE_CACHE);
	ck_assert(pt_installed_unseen(&pt, 2));
	ck_assert(pt_evict_begin(&pt, 2));
	ck_assert(pt_evict_cancel(&pt, 2));
	ck_assert(!pt_has(&pt, 2, PT_UNSEEN) && pt_has(&pt, 2, PT_DIRTY));

	/* pt_seen; and a discard drops it with the page. */
	leave_written(2);
	ck_assert(pt_installed_unseen(&pt, 2));
	pt_seen(&pt, 2);
	ck_assert(!pt_has(&pt, 2, PT_UNSEEN) && pt_has(&pt, 2, PT_DIRTY));
	leave_written(2);
	ck_assert(pt_installed_unseen(&pt, 2));
	ck_assert(pt_discard(&pt, 2));
	ck_assert(!pt_has(&pt, 2, PT_UNSEEN));
	/* Its copy is being written: not clean again. */
	leave_written(0);
	ck_assert(pt_installed_unseen(&pt, 0));
	ck_assert(pt_repair_begin(&pt, 0));
	ck_assert(!pt_unwritten(&pt, 0));
	ck_assert_uint_eq(pt.bugs, 3);
	ck_assert(pt_repair_end(&pt, 0));
	pt.bugs = 0;
}
END_TEST

/*
 * Integrity: each new copy is a new version; a page with no good copy is
 * LOST until the guest frees it; a repair is a write in flight.
 */
START_TEST(test_integrity)
{
	bool w;

	ck_assert_uint_eq(pt_version(&pt, 0), 0);
	ck_assert(pt_installed(&pt, 0, true));
	ck_assert(pt_evict_begin(&pt, 0));
	ck_assert(pt_write_begin(&pt, 0));
	ck_assert_uint_eq(pt_version(&pt, 0), 1);
	ck_assert(!pt_copy_authoritative(&pt, 0));	/* in flight */
	ck_assert(pt_write_end(&pt, 0, true));
	ck_assert(pt_copy_authoritative(&pt, 0));
	/* Refused: not REMOTE; cached. */
	ck_assert(!pt_lost(&pt, 1));
	ck_assert(pt_cached(&pt, 0));
	ck_assert(!pt_lost(&pt, 0));
	ck_assert_uint_eq(pt.bugs, 2);
	pt_uncached(&pt, 0);
	/* A repair: no other write meanwhile; it survives the fetch. */
	ck_assert(pt_fetch_begin(&pt, 0));
	ck_assert(pt_repair_begin(&pt, 0));
	ck_assert(!pt_repair_begin(&pt, 0));
	ck_assert_int_eq(pt_fetch_wait(&pt, 0, false), 1);
	ck_assert_int_eq(pt_fetch_end(&pt, 0, true, &w), FE_INSTALL);
	ck_assert(pt_installed(&pt, 0, false));
	ck_assert(pt_has(&pt, 0, PT_WRITING));
	ck_assert(pt_repair_end(&pt, 0));
	ck_assert(pt_copy_authoritative(&pt, 0));
	ck_assert_uint_eq(pt.bugs, 3);
	/* Evicted clean: the same version, no write. */
	leave_clean(0);
	ck_assert_uint_eq(pt_version(&pt, 0), 1);
	/* LOST, then freed: never written again. */
	ck_assert(pt_lost(&pt, 0));
	ck_assert_int_eq(pt_state(&pt, 0), PS_LOST);
	ck_assert_str_eq(pt_state_name(PS_LOST), "lost");
	ck_assert(!pt_fetch_begin(&pt, 0));
	ck_assert(pt_discard(&pt, 0));
	ck_assert_int_eq(pt_state(&pt, 0), PS_NEVER);
	ck_assert(pt_has(&pt, 0, PT_HAS_REMOTE));	/* freed later */
	ck_assert(pt_remote_droppable(&pt, 0));
	ck_assert_uint_eq(pt.bugs, 4);
}
END_TEST

static Suite *pagetable_suite(void)
{
	Suite *s = suite_create("pagetable");
	TCase *tc = tcase_create("transitions");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fault_install_evict);
	tcase_add_test(tc, test_write_cancels_eviction);
	tcase_add_test(tc, test_write_refused);
	tcase_add_test(tc, test_clean_and_zero_evictions);
	tcase_add_test(tc, test_discard_during_fetch);
	tcase_add_test(tc, test_discard_keeps_writing);
	tcase_add_test(tc, test_fetch_failure_and_cache);
	tcase_add_test(tc, test_remote_lost);
	tcase_add_test(tc, test_hot_flag);
	tcase_add_test(tc, test_victim_bits_kept);
	tcase_add_test(tc, test_integrity);
	tcase_add_test(tc, test_unseen);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(pagetable_suite());
}
