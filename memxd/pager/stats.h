/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stats.h - what the pager counts, listed once.
 *
 * VM_COUNTERS drives the counters in struct vm_stats, their lines in
 * `memxctl status` (get=1: key=value, the key is the field's name) and
 * their Prometheus series (memx_<family>_total{vm=...,kind=<kind>}).  A
 * new counter is one line here and one increment where it happens.
 *
 *   X(field, family, kind, what it counts)
 */
#ifndef MEMX_PAGER_STATS_H
#define MEMX_PAGER_STATS_H

#include <stdint.h>

#define VM_COUNTERS(X)							\
	X(net_faults, faults, network,					\
	  "faults served by a READ from the servers")			\
	X(zero_faults, faults, zero,					\
	  "faults on pages never written, zero-filled")			\
	X(wp_faults, faults, wp,					\
	  "write faults on write-protected resident pages")		\
	X(cache_faults, faults, prefetch_cache,				\
	  "faults served from the prefetch cache")			\
	X(spill_faults, faults, spill,					\
	  "faults served from the local spill file")			\
	X(degraded_reads, faults, degraded,				\
	  "faults served by rebuilding the page from its stripe")	\
	X(lost_faults, faults, lost,					\
	  "faults on lost pages, answered with a memory error")		\
	X(spurious_faults, faults, spurious,				\
	  "faults on pages installed meanwhile")			\
	X(deferred_faults, faults, deferred,				\
	  "faults that waited for room within the budget")		\
	X(installed_pages, installs, pages,				\
	  "pages installed into guest memory, by every path (each "	\
	  "makes one resident)")					\
	X(install_existed, installs, existed,				\
	  "pages found already there when installed, put there by "	\
	  "someone else: kept as they are, and dirty")			\
	X(install_retries, retries, install,				\
	  "installs retried: the memory map was changing (EAGAIN)")	\
	X(protect_retries, retries, protect,				\
	  "write-protect changes retried (EAGAIN)")			\
	X(evict_clean, evictions, clean,				\
	  "evictions of clean pages: nothing sent")			\
	X(evict_unwritten, evictions, unwritten,			\
	  "of the clean: installed writable ahead, never written (the "	\
	  "bytes they went in with)")					\
	X(evict_dirty, evictions, dirty,				\
	  "evictions of dirty pages, written to the servers")		\
	X(evict_zero, evictions, zero,					\
	  "evictions of all-zero pages: nothing stored")		\
	X(evict_spilled, evictions, spilled,				\
	  "evictions to the local spill file")				\
	X(evict_cancelled, evictions, cancelled,			\
	  "evictions a write fault cancelled")				\
	X(evict_waited, evictions, waited,				\
	  "evictions put off: the page's group could not take a write") \
	X(evict_unprotected, evictions, unprotected,			\
	  "evictions abandoned: the page could not be write-protected") \
	X(prefetch_issued, prefetch_pages, issued,			\
	  "pages read ahead of a fault")				\
	X(prefetch_hit, prefetch_pages, hit,				\
	  "pages read ahead that a fault then used")			\
	X(prefetch_wasted, prefetch_pages, wasted,			\
	  "pages read ahead and never used")				\
	X(prefetch_installed, prefetch_pages, installed,		\
	  "pages read ahead and installed with no fault, within the "	\
	  "budget")							\
	X(prefetch_gathered, prefetch_pages, gathered,			\
	  "pages read ahead from several servers and installed "	\
	  "together, one copy per run")					\
	X(prefetch_drained, prefetch_pages, drained,			\
	  "pages read ahead that waited in the cache for room, "	\
	  "installed once evictions made it")				\
	X(prefetch_zero, prefetch_pages, zero,				\
	  "pages never written, zero-filled ahead of a stream's fault")	\
	X(install_writable, prefetch_pages, writable,			\
	  "pages installed writable and dirty: most clean ones were "	\
	  "written soon after (the write trend)")			\
	X(discards, discards, requests,					\
	  "discards: the guest freed memory")				\
	X(discarded_pages, discards, pages,				\
	  "pages the guest freed")					\
	X(discard_dropped_clean, discards, clean_dropped,		\
	  "clean pages a discard found still present (perhaps installed "	\
	  "ahead after the VMM punched them): back to their server copy") \
	X(discard_dropped_unseen, discards, unseen_dropped,		\
	  "pages installed writable ahead and never written that a "	\
	  "discard found still present: back to their server copy")	\
	X(discard_after_remove, discards, after_remove,			\
	  "pages a discard left alone: the REMOVE before it freed them, "	\
	  "and they may hold newer data since")				\
	X(remove_outside, errors, remove_outside,			\
	  "REMOVE events reaching outside every region (that part is "	\
	  "ignored)")							\
	X(fetch_errors, errors, fetch,					\
	  "READs that failed and were retried")				\
	X(fetch_abandoned, errors, abandoned,				\
	  "READs given up because their server went silent")		\
	X(parity_errors, errors, parity,				\
	  "parity updates that failed: the parity is recomputed")	\
	X(parity_updates, parity, deltas,				\
	  "parity deltas applied (PXOR)")				\
	X(parity_stripes, parity, stripes,				\
	  "whole stripes' parity written")				\
	X(rebuilt_groups, recovery_groups, rebuilt,			\
	  "group slots rebuilt after a server failed")			\
	X(moved_groups, recovery_groups, moved,				\
	  "group slots moved (drain, a full server)")			\
	X(rebuilt_pages, recovery_pages, rebuilt,			\
	  "pages rebuilt after a server failed")			\
	X(moved_pages, recovery_pages, moved,				\
	  "pages moved (drain, a full server)")				\
	X(parity_recomputed, recovery_groups, parity,			\
	  "parity slots recomputed from live servers (an update "	\
	  "failed, or a memxd restart left one in flight)")		\
	X(integrity_failures, integrity, failures,			\
	  "pages read back, or rebuilt, that failed their integrity "	\
	  "check: never installed")					\
	X(integrity_rebuilt, integrity, rebuilt,			\
	  "pages that failed their check, rebuilt from their stripe and "	\
	  "checked good")						\
	X(integrity_repaired, integrity, repaired,			\
	  "good copies written back over bad ones on their servers")	\
	X(integrity_lost, integrity, lost,				\
	  "pages with no copy that passes its check: lost, poisoned")	\
	X(takeover_rollbacks, takeover, evictions_rolled_back,		\
	  "evictions an earlier memxd left in flight, rolled back")	\
	X(takeover_reads_dropped, takeover, reads_dropped,		\
	  "READs an earlier memxd left in flight, dropped")		\
	X(takeover_parities, takeover, parities,			\
	  "groups whose parity was recomputed on taking the VM over")	\
	X(takeover_events, takeover, events,				\
	  "userfaultfd events read while registering, since the "	\
	  "kernel write-protects nothing while a REMOVE is unread: "	\
	  "one an earlier memxd left, and the faults queued with it")

/*
 * Where dirty eviction spends its time, stage by stage:
 *
 *   X(stage, what one timed call is)
 *
 * Each stage adds its nanoseconds to stage_ns[ES_<stage>] and 1 to
 * stage_calls[ES_<stage>], with a clock read per batch, run or parity
 * request, never per page.  `memxctl status` shows them as
 * evict_<stage>_us and evict_<stage>_calls.  The first eight run on the
 * pager's thread, one after another (batch includes protect, read, mac,
 * parity and send), timed by the wall clock: with the memory servers on
 * the same CPU, a send's time includes theirs while they preempt it.
 * The round trips (*_rtt) are requests in flight, which overlap: their
 * sum over the calls is a mean latency, not a share of a second.
 */
#define EVICT_STAGES(X)							\
	X(select, "the victim policy choosing a batch (victim_select)")	\
	X(protect, "write-protecting a batch's victims "		\
	  "(UFFDIO_WRITEPROTECT, a call per run of neighbours)")	\
	X(read, "copying a batch's victims out of the memfd (pread)")	\
	X(mac, "the MACs of a batch's dirty pages (and their encryption "\
	  "with --page-encryption)")					\
	X(parity, "a batch's whole stripes: their parity computed, "	\
	  "its WRITEs sealed and sent (or queued)")			\
	X(send, "a batch's WRITEs, sealed and sent (or queued)")	\
	X(punch, "punching evicted pages out of the memfd (fallocate)") \
	X(batch, "a whole batch, from its victims to its WRITEs sent "	\
	  "(protect, read, mac, parity and send included)")		\
	X(write_rtt, "a run's WRITE or XWRITE, from sending it (or "	\
	  "queueing it for the window) to its answer")			\
	X(pxor_rtt, "a parity delta's PXOR, from sending it to its "	\
	  "answer")							\
	X(parity_rtt, "a whole stripe's parity WRITE (a run of rows), "	\
	  "from sending it to its answer")

enum evict_stage {
#define X(stage, help) ES_##stage,
	EVICT_STAGES(X)
#undef X
	ES_NSTAGES
};

/* Fault service time, in buckets of powers of two microseconds. */
#define HIST_BUCKETS	24u

struct vm_stats {
#define X(field, family, kind, help) uint64_t field;
	VM_COUNTERS(X)
#undef X
	uint64_t hist[HIST_BUCKETS];
	uint64_t stage_ns[ES_NSTAGES];
	uint64_t stage_calls[ES_NSTAGES];
};

/* Add @ns to stage @s of @st: one call. */
static inline void stage_add(struct vm_stats *st, enum evict_stage s,
			     uint64_t ns)
{
	st->stage_ns[s] += ns;
	st->stage_calls[s]++;
}

#endif
