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
#   guest-bench: local_s=... memx_s=... ratio=... remote_faults=...
#                read_ahead=... installed_ahead=... fault_hits=...
#
# Environment: BENCH_SIZE (guest RAM, default 1G), BENCH_BUDGET (default
# a quarter of it), BENCH_MIB (quicksort MiB, default 600), GX_ACCEL (tcg),
# BENCH_MEMXD_ARGS (more options for memxd, e.g. --evict-policy=refault),
# BENCH_SERVER_ARGS (the memory servers', default --reserve=on; empty:
# their memory is taken as they fill).
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
# the servers take their capacity at start, locked, as in production
GX_SERVER_ARGS=${BENCH_SERVER_ARGS---reserve=on}
gx_setup "$size"

# run LABEL: boot the guest with GX_QEMU_ARGS, keep its console in LABEL.log
run()
{
	nx_log "[$1] quicksort of $mib MiB in a $size guest"
	gx_bench_run "$1" "$timeout_s"
}

# 1. everything local
gx_qemu_args "$size" "$budget" "qsort:$mib"
gx_qemu_local "$size"
run local

# 2. memx, a quarter local
# shellcheck disable=SC2086 # BENCH_MEMXD_ARGS: words
gx_memxd_start bench ${BENCH_MEMXD_ARGS:-}
gx_sampler_start "$NX_TMP/dump"
gx_qemu_args "$size" "$budget" "qsort:$mib"
run memx
nx_stop sampler

local_s=$(gx_guest_time local qsort)
memx_s=$(gx_guest_time memx qsort)
ratio=$(awk -v a="$local_s" -v b="$memx_s" 'BEGIN { printf "%.2f", b / a }')
faults=$(gx_val "$NX_TMP/dump" net_faults)
issued=$(gx_val "$NX_TMP/dump" prefetch_issued)
hit=$(gx_val "$NX_TMP/dump" prefetch_hit)
# Pages installed ahead are used with no fault, so no count of hits can
# see them: say how many were read ahead, how many went in at once, and
# how many a later fault used, not a hit rate near 0 that means nothing.
installed=$(gx_val "$NX_TMP/dump" prefetch_installed)
nx_log "local (memfd, $size local):       ${local_s}s"
nx_log "memx  (memx, $budget of $size local): ${memx_s}s  (ratio $ratio; goal <= 1.5)"
nx_log "memx: net_faults=$faults prefetch_issued=$issued prefetch_hit=$hit" \
	"evict_dirty=$(gx_val "$NX_TMP/dump" evict_dirty) evict_zero=$(gx_val "$NX_TMP/dump" evict_zero)" \
	"fault_p50_us=$(gx_val "$NX_TMP/dump" fault_p50_us) fault_p99_us=$(gx_val "$NX_TMP/dump" fault_p99_us)" \
	"hot_pages=$(gx_val "$NX_TMP/dump" hot_pages) victim_stale=$(gx_val "$NX_TMP/dump" victim_stale)" \
	"victim_lead_clock=$(gx_val "$NX_TMP/dump" victim_lead_clock)" \
	"victim_lead_refault=$(gx_val "$NX_TMP/dump" victim_lead_refault)" \
	"victim_follow_refault=$(gx_val "$NX_TMP/dump" victim_follow_refault)" \
	"victim_duel_turns=$(gx_val "$NX_TMP/dump" victim_duel_turns)"
nx_log "memx faults: zero=$(gx_val "$NX_TMP/dump" zero_faults) wp=$(gx_val "$NX_TMP/dump" wp_faults)" \
	"cache=$(gx_val "$NX_TMP/dump" cache_faults) network=$faults;" \
	"installed ahead: read=$(gx_val "$NX_TMP/dump" prefetch_installed) zero=$(gx_val "$NX_TMP/dump" prefetch_zero)"
echo "guest-bench: local_s=$local_s memx_s=$memx_s ratio=$ratio remote_faults=$faults read_ahead=${issued:-0} installed_ahead=${installed:-0} fault_hits=${hit:-0}"
