#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# pager-host.sh - memxd's pager serves plain CPU threads.  Two memory
# servers and a client, each a network namespace; memxd (pager role) in
# the client; tests/harness/host_harness registers a region 4x its budget
# exactly as QEMU does and writes and verifies every byte in sequential,
# random, strided, rewrite, discard and racing-thread patterns, while
# resident memory must stay within budget + slack.  Once on a clean
# network, once with 5% loss on every host.  And a control socket client
# that never reads its replies must not stall memxd.  Then a cyclic sweep
# of a region 1.7x its budget, 10 passes, every word verified on every
# pass, under each eviction policy: plain CLOCK fetches every page of
# every pass; refault must keep enough resident to fetch at most 80% of
# that, and adaptive, which must learn that the sweep is refault's, at
# most 90%.  Each sweep prints where eviction's time went and its dirty
# eviction MB/s ("evict-breakdown[sweep-POLICY]: MBps=...").
#
# Needs root and /dev/userfaultfd; skips (77) loudly without them.
# MX_SIZE / MX_BUDGET change the sizes, NX_KEEP=1 keeps the logs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
# shellcheck source=tests/lib/pager-common.sh
. "$top_srcdir/tests/lib/pager-common.sh"

HARNESS=$top_builddir/tests/harness/host_harness

px_require "$HARNESS"
px_setup

px_ctl_stall

px_run host-clean 0 "$HARNESS" --size "$PX_SIZE" --budget "$PX_BUDGET"
px_check_counters host-clean
# Under loss each fault may wait for retransmits: a smaller region.
px_run host-loss5 5 "$HARNESS" --size "${MX_LOSS_SIZE:-32M}" \
	--budget "${MX_LOSS_BUDGET:-8M}"
px_check_counters host-loss5

# A cyclic sweep, 1.7x the budget, under each policy.
SWEEP_BUDGET=${MX_SWEEP_BUDGET:-20M}
SWEEP_SIZE=${MX_SWEEP_SIZE:-34M}
for policy in clock refault adaptive; do
	PX_PAGER_ARGS=(--evict-policy "$policy")
	px_run "sweep-$policy" 0 "$HARNESS" --size "$SWEEP_SIZE" \
		--budget "$SWEEP_BUDGET" --sweep 10
	px_check_counters "sweep-$policy"
done
PX_PAGER_ARGS=()
# Pages the sweep read from the memory servers, demand and ahead: the
# sum of every server's pages_in.  (Faults alone undercount: pages read
# ahead are installed at once, and fault no more.)
sweep_faults()
{
	grep -m1 'memxd counters:' "$NX_TMP/$1.out" | tr ' ' '\n' |
		awk -F= '$1 == "server_pages_in" { n += $2 } END { print n + 0 }'
}
# The sweep phase's seconds, from the harness's line for it.
sweep_s()
{
	awk '$2 == "sweep" && $6 == "s" { print $5 }' "$NX_TMP/$1.out"
}
clock_faults=$(sweep_faults sweep-clock)
refault_faults=$(sweep_faults sweep-refault)
adaptive_faults=$(sweep_faults sweep-adaptive)
nx_log "sweep 1.7x budget, 10 passes: pages fetched clock=$clock_faults" \
	"refault=$refault_faults (ratio" \
	"$(awk -v a="$refault_faults" -v b="$clock_faults" \
		'BEGIN { printf "%.2f", b ? a / b : 0 }'))," \
	"sweep seconds clock=$(sweep_s sweep-clock)" \
	"refault=$(sweep_s sweep-refault)," \
	"dirty evictions clock=$(px_counter sweep-clock evict_dirty)" \
	"refault=$(px_counter sweep-refault evict_dirty)," \
	"hot_pages=$(px_counter sweep-refault hot_pages)"
nx_log "adaptive: pages fetched $adaptive_faults (ratio" \
	"$(awk -v a="$adaptive_faults" -v b="$clock_faults" \
		'BEGIN { printf "%.2f", b ? a / b : 0 }'))," \
	"sweep seconds $(sweep_s sweep-adaptive)," \
	"leaders fetched clock=$(px_counter sweep-adaptive victim_lead_clock)" \
	"refault=$(px_counter sweep-adaptive victim_lead_refault)," \
	"followers run $( (($(px_counter sweep-adaptive victim_follow_refault))) &&
		echo refault || echo clock)"
# Where eviction's time went during each sweep, and its dirty MB/s.
for policy in clock refault adaptive; do
	nx_log "$(px_evict_breakdown "sweep-$policy" "$(sweep_s "sweep-$policy")")"
done
((refault_faults * 5 <= clock_faults * 4)) ||
	nx_die "the refault policy fetched $refault_faults pages on the sweep, not fewer than 80% of CLOCK's $clock_faults"
((adaptive_faults * 10 <= clock_faults * 9)) ||
	nx_die "the adaptive policy fetched $adaptive_faults pages on the sweep, not fewer than 90% of CLOCK's $clock_faults"
nx_log "pager-host: PASS"
