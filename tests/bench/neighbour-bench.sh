#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# neighbour-bench.sh - benchmark (not a test; `make bench-neighbour`): does
# a VM that thrashes starve another's faults?  Several VMs share one memxd
# (and its one fault loop); this measures a quiet VM's page-fault latency
# alone, then beside a neighbour that thrashes, on the same memxd and
# memory server, in the same run.
#
#   quiet     fault_bench: a region of QUIET_SIZE_MIB on a QUIET_BUDGET_MIB
#             budget, filled, then first touches of evicted pages in random
#             order, one at a time (prefetch off): per-fault p50 and p99;
#   noisy     host_harness: NOISY_SIZE_MIB on NOISY_BUDGET_MIB, 4 threads
#             writing and verifying random pages as fast as memxd serves
#             them, started first and killed after.
#
# The quiet VM runs twice alone (before and after) and once beside the
# neighbour; "alone" is the better of the two.  The last line is the
# summary, "neighbour-bench: key=value ...", with the ratios beside/alone.
#
# Environment: top_builddir, top_srcdir (absolute); QUIET_SIZE_MIB,
# QUIET_BUDGET_MIB (default 256 and 16), QUIET_SAMPLES (faults timed per
# run, default 20000), NOISY_SIZE_MIB, NOISY_BUDGET_MIB
# (default 512 and 32).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
# shellcheck source=tests/lib/netns.sh
. "$top_srcdir/tests/lib/netns.sh"

MEMXD=$top_builddir/memxd/memxd
MEMXCTL=$top_builddir/memxd/memxctl
BENCH=$top_builddir/tests/bench/fault_bench
HARNESS=$top_builddir/tests/harness/host_harness
QSIZE=${QUIET_SIZE_MIB:-256}
QBUDGET=${QUIET_BUDGET_MIB:-16}
NSIZE=${NOISY_SIZE_MIB:-512}
NBUDGET=${NOISY_BUDGET_MIB:-32}
QSAMPLES=${QUIET_SAMPLES:-20000}

for b in "$MEMXD" "$MEMXCTL" "$BENCH" "$HARNESS"; do
	[[ -x $b ]] || nx_die "$b is not built (run make first)"
done
[[ -e /dev/userfaultfd ]] || nx_skip "no /dev/userfaultfd"

nx_require
nx_init
nx_pair_create 1500 srv cli
nx_daemon srv memxd-server "$MEMXD" --server --listen "$(nx_ip srv)" \
	--capacity 4G --announce-interval-ms 0
trap 'nx_cleanup' EXIT
SOCK=$NX_TMP/pager.sock
nx_pager cli pager "$SOCK" --servers "$(nx_ip srv)" --prefetch-max 0 \
	--spill-dir "$NX_TMP"

# vm_key VM KEY: KEY of VM in memxd's dump.
vm_key()
{
	"$MEMXCTL" --socket "$SOCK" dump 2>/dev/null |
		awk -F= -v vm="$1" -v k="$2" '$1 == "vm" { on = ($2 == vm) } on && $1 == k { print $2; exit }'
}

# evictions VM: its evictions so far, of every kind.
evictions()
{
	echo $(($(vm_key "$1" evict_clean) + $(vm_key "$1" evict_dirty) + $(vm_key "$1" evict_zero)))
}

# quiet RUN: the quiet VM's latency, into $NX_TMP/RUN.out.
quiet()
{
	nx_log "quiet VM ($1): $QSIZE MiB on a $QBUDGET MiB budget"
	if ! timeout 600 "$BENCH" --socket "$SOCK" --size-mib "$QSIZE" \
		--budget-mib "$QBUDGET" --name "quiet-$1" --no-scan \
		--samples "$QSAMPLES" \
		>"$NX_TMP/$1.out"; then
		cat "$NX_TMP/$1.out" >&2
		nx_die "fault_bench failed ($1)"
	fi
	sed -n 's/^\(lat_p50_us\|lat_p99_us\|latency_samples\)=/  '"$1"': &/p' "$NX_TMP/$1.out"
}
val() { sed -n "s/^$2=//p" "$NX_TMP/$1.out"; }

quiet alone1

nx_log "noisy VM: $NSIZE MiB on a $NBUDGET MiB budget, 4 threads"
"$HARNESS" --socket "$SOCK" --name noisy --size "${NSIZE}M" \
	--budget "${NBUDGET}M" --threads 4 --rounds 1000 --no-discard \
	--timeout 3600 >"$NX_TMP/noisy.log" 2>&1 &
noisy=$!
# Thrashing: its region filled and its faults going to the server.
for _ in $(seq 600); do
	f=$(vm_key noisy net_faults)
	[[ ${f:-0} -gt 20000 ]] && break
	kill -0 "$noisy" 2>/dev/null || { cat "$NX_TMP/noisy.log" >&2; nx_die "the noisy VM exited"; }
	sleep 0.1
done
f0=$(vm_key noisy net_faults); e0=$(evictions noisy); t0=$(date +%s.%N)
quiet beside
f1=$(vm_key noisy net_faults); e1=$(evictions noisy); t1=$(date +%s.%N)
kill -0 "$noisy" 2>/dev/null || { cat "$NX_TMP/noisy.log" >&2; nx_die "the noisy VM exited before the quiet one was done"; }
kill "$noisy"; wait "$noisy" 2>/dev/null || true
# Its VM is gone when its process is.
for _ in $(seq 100); do
	[[ -z $(vm_key noisy vm) ]] && break
	sleep 0.1
done

quiet alone2

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
least() { awk -v a="$1" -v b="$2" 'BEGIN { print (a < b ? a : b) }'; }
ap50=$(least "$(val alone1 lat_p50_us)" "$(val alone2 lat_p50_us)")
ap99=$(least "$(val alone1 lat_p99_us)" "$(val alone2 lat_p99_us)")
bp50=$(val beside lat_p50_us); bp99=$(val beside lat_p99_us)
rate=$(awk -v a="$f0" -v b="$f1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.0f", (e > s ? (b - a) / (e - s) : 0) }')
erate=$(awk -v a="$e0" -v b="$e1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.0f", (e > s ? (b - a) / (e - s) : 0) }')

echo "quiet VM's 4 KiB remote fault alone: p50 ${ap50} us, p99 ${ap99} us (best of two runs)"
echo "beside a thrashing neighbour (${rate} faults/s, ${erate} evictions/s on the same memxd): p50 ${bp50} us, p99 ${bp99} us"
echo "neighbour-bench: alone_p50_us=$ap50 alone_p99_us=$ap99 beside_p50_us=$bp50 beside_p99_us=$bp99 p50_ratio=$(ratio "$bp50" "$ap50") p99_ratio=$(ratio "$bp99" "$ap99") noisy_faults_per_s=$rate noisy_evictions_per_s=$erate"
