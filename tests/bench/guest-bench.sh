#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# guest-bench.sh - the same quicksort in the same guest, twice:
#   1. local: memory-backend-memfd, the whole guest RAM local;
#   2. memx:  memory-backend-memx with a quarter of it as the local budget,
#             the rest on two memory servers (network namespaces).
# Not a test (make bench-guest).  Prints both times (the guest's own
# timing of generate + sort + verify) and their ratio; the last line is
#
#   guest-bench: local_s=... memx_s=... ratio=... remote_faults=... prefetch_hit=...
#
# Environment: BENCH_SIZE (guest RAM, default 1G), BENCH_BUDGET (default
# a quarter of it), BENCH_MIB (quicksort MiB, default 600), GX_ACCEL (tcg).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
# shellcheck source=tests/lib/guest-common.sh
. "$top_srcdir/tests/lib/guest-common.sh"

size=${BENCH_SIZE:-1G}
mib=${BENCH_MIB:-600}
size_mib=$(numfmt --from=iec "$size")
size_mib=$((size_mib / 1048576))
budget=${BENCH_BUDGET:-$((size_mib / 4))M}
timeout_s=${BENCH_TIMEOUT:-3600}

gx_require
gx_build
gx_setup "$size"

# run LABEL: boot the guest with GX_QEMU_ARGS, keep its console in LABEL.log
run()
{
	local label=$1 rc=0

	nx_log "[$label] quicksort of $mib MiB in a $size guest"
	GX_SHOW_PREFIX="  $label| " gx_qemu_run "$NX_TMP/$label.log" \
		"$timeout_s" >&2 || rc=$?
	grep -q 'MEMX-GUEST-RESULT: PASS' "$NX_TMP/$label.log" || {
		tail -n 20 "$NX_TMP/$label.log" >&2
		nx_die "[$label] the guest failed (QEMU exit $rc)"
	}
}

# qsort's time= (seconds, the guest's clock)
guest_time()
{
	sed -n 's/^qsort: mib=.* time=\([0-9.]*\).*/\1/p' "$NX_TMP/$1.log" | head -n1
}

# 1. everything local
gx_qemu_args_memfd "$size" "qsort:$mib"
run local

# 2. memx, a quarter local
gx_memxd_start bench
gx_sampler_start "$NX_TMP/dump"
gx_qemu_args "$size" "$budget" "qsort:$mib"
run memx
nx_stop sampler

local_s=$(guest_time local)
memx_s=$(guest_time memx)
ratio=$(awk -v a="$local_s" -v b="$memx_s" 'BEGIN { printf "%.2f", b / a }')
faults=$(gx_val "$NX_TMP/dump" net_faults)
issued=$(gx_val "$NX_TMP/dump" prefetch_issued)
hit=$(gx_val "$NX_TMP/dump" prefetch_hit)
hitrate=$(awk -v h="${hit:-0}" -v i="${issued:-0}" 'BEGIN { if (i) printf "%.2f", h / i; else print "n/a" }')
nx_log "local (memfd, $size local):       ${local_s}s"
nx_log "memx  (memx, $budget of $size local): ${memx_s}s  (ratio $ratio; goal <= 2)"
nx_log "memx: net_faults=$faults prefetch_issued=$issued prefetch_hit=$hit" \
	"evict_dirty=$(gx_val "$NX_TMP/dump" evict_dirty) evict_zero=$(gx_val "$NX_TMP/dump" evict_zero)" \
	"fault_p50_us=$(gx_val "$NX_TMP/dump" fault_p50_us) fault_p99_us=$(gx_val "$NX_TMP/dump" fault_p99_us)"
echo "guest-bench: local_s=$local_s memx_s=$memx_s ratio=$ratio remote_faults=$faults prefetch_hit=$hitrate"
