#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# sweep-bench.sh - a cyclic sweep in the guest: write then verify a buffer
# 1.7x the budget, N passes (tests/guest/workloads/sweep.c), three times:
#   1. local:   memory-backend-memfd, the whole guest RAM local;
#   2. clock:   memory-backend-memx on four memory servers, memxd with
#               --evict-policy=clock;
#   3. POLICY:  the same with --evict-policy=POLICY: the default policy,
#               adaptive, unless SWEEP_POLICY names another.
# Not a test (make bench-sweep).  Prints, for each memx run, the faults
# that fetched a page (network and prefetch cache), dirty evictions and
# the guest's own time of the sweep, then the baseline (the local run of
# the same invocation) and the ratios to it; the last line is
#
#   sweep-bench: local_s=... clock_s=... policy_s=... clock_faults=... policy_faults=... evict_MBps=... clock_vs_local=... policy_vs_local=... policy_vs_clock=... faults_vs_clock=...
#
# (times as ratios: each memx run's over the local one, POLICY's over
# CLOCK's; faults_vs_clock: POLICY's fetched pages over CLOCK's.)
# evict_MBps is the POLICY run's dirty evictions over its time; the
# clock run's is printed above it.  Environment: SWEEP_SIZE (guest RAM,
# default 512M), SWEEP_BUDGET (default 96M), SWEEP_MIB (the buffer,
# default 1.7x the budget), SWEEP_PASSES (default 4), SWEEP_POLICY (the
# third run's policy: adaptive, refault or refault-wp; default
# adaptive), GX_ACCEL (tcg).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
# shellcheck source=tests/lib/guest-common.sh
. "$top_srcdir/tests/lib/guest-common.sh"

size=${SWEEP_SIZE:-512M}
budget=${SWEEP_BUDGET:-96M}
budget_mib=$(($(numfmt --from=iec "$budget") / 1048576))
mib=${SWEEP_MIB:-$((budget_mib * 17 / 10))}
passes=${SWEEP_PASSES:-4}
timeout_s=${SWEEP_TIMEOUT:-1800}
policy=${SWEEP_POLICY:-adaptive}
case $policy in
adaptive|refault|refault-wp) ;;
*) nx_die "SWEEP_POLICY=$policy: adaptive, refault or refault-wp (clock is" \
	"the second run's)" ;;
esac
# Four memory servers, as where the thrash was first seen.
GX_SERVERS=(srv1 srv2 srv3 srv4)

gx_require
gx_build
gx_setup "$size"

# run LABEL: boot the guest with GX_QEMU_ARGS, keep its console in LABEL.log
run()
{
	nx_log "[$1] sweep of $mib MiB, $passes passes, in a $size guest"
	gx_bench_run "$1" "$timeout_s"
}

guest_time()
{
	gx_guest_time "$1" sweep
}

# memx LABEL POLICY: a fresh memxd with POLICY, the guest on it, its last
# dump in LABEL.dump
memx()
{
	local label=$1 policy=$2

	gx_memxd_start "$label" --evict-policy "$policy"
	gx_sampler_start "$NX_TMP/$label.dump"
	gx_qemu_args "$size" "$budget" "sweep:$mib:$passes"
	run "$label"
	nx_stop sampler
	nx_stop "memxd-$label"
}

# Pages fetched by a fault: network faults and prefetch-cache faults.
faults()
{
	echo $(($(gx_val "$NX_TMP/$1.dump" net_faults) +
		$(gx_val "$NX_TMP/$1.dump" cache_faults)))
}

mbps()
{
	awk -v p="$(gx_val "$NX_TMP/$1.dump" evict_dirty)" -v s="$2" \
		'BEGIN { printf "%.1f", (s > 0 ? p * 4096 / s / 1e6 : 0) }'
}

gx_qemu_args "$size" "$budget" "sweep:$mib:$passes"
gx_qemu_local "$size"
run local
memx clock clock
memx "$policy" "$policy"

local_s=$(guest_time local)
clock_s=$(guest_time clock)
policy_s=$(guest_time "$policy")
for l in clock "$policy"; do
	s=$(guest_time $l)
	nx_log "$l: ${s}s faults=$(faults $l)" \
		"(net $(gx_val "$NX_TMP/$l.dump" net_faults)," \
		"cache $(gx_val "$NX_TMP/$l.dump" cache_faults))" \
		"evict_dirty=$(gx_val "$NX_TMP/$l.dump" evict_dirty)" \
		"evict_clean=$(gx_val "$NX_TMP/$l.dump" evict_clean)" \
		"evict_zero=$(gx_val "$NX_TMP/$l.dump" evict_zero)" \
		"evict_MBps=$(mbps $l "$s")" \
		"parity_stripes=$(gx_val "$NX_TMP/$l.dump" parity_stripes)" \
		"parity_updates=$(gx_val "$NX_TMP/$l.dump" parity_updates)" \
		"prefetch_hit=$(gx_val "$NX_TMP/$l.dump" prefetch_hit)" \
		"prefetch_wasted=$(gx_val "$NX_TMP/$l.dump" prefetch_wasted)" \
		"hot_pages=$(gx_val "$NX_TMP/$l.dump" hot_pages)" \
		"victim_theta=$(gx_val "$NX_TMP/$l.dump" victim_theta)" \
		"victim_promoted=$(gx_val "$NX_TMP/$l.dump" victim_promoted)" \
		"victim_demoted=$(gx_val "$NX_TMP/$l.dump" victim_demoted)" \
		"victim_stale=$(gx_val "$NX_TMP/$l.dump" victim_stale)" \
		"victim_lead_clock=$(gx_val "$NX_TMP/$l.dump" victim_lead_clock)" \
		"victim_lead_refault=$(gx_val "$NX_TMP/$l.dump" victim_lead_refault)" \
		"victim_follow_refault=$(gx_val "$NX_TMP/$l.dump" victim_follow_refault)" \
		"victim_duel_turns=$(gx_val "$NX_TMP/$l.dump" victim_duel_turns)"
done
# ratio A B: A/B to two places, or n/a
ratio()
{
	awk -v a="$1" -v b="$2" \
		'BEGIN { if (b > 0 && a != "") printf "%.2f", a / b; else print "n/a" }'
}
clock_x=$(ratio "$clock_s" "$local_s")
policy_x=$(ratio "$policy_s" "$local_s")
nx_log "baseline: local (memfd, $size local) ${local_s}s, in this run;" \
	"clock ${clock_x}x local, $policy ${policy_x}x local;" \
	"$policy/clock: time $(ratio "$policy_s" "$clock_s")," \
	"faults $(ratio "$(faults "$policy")" "$(faults clock)")"
echo "sweep-bench: local_s=$local_s clock_s=$clock_s policy_s=$policy_s" \
	"clock_faults=$(faults clock) policy_faults=$(faults "$policy")" \
	"evict_MBps=$(mbps "$policy" "$policy_s")" \
	"clock_vs_local=$clock_x policy_vs_local=$policy_x" \
	"policy_vs_clock=$(ratio "$policy_s" "$clock_s")" \
	"faults_vs_clock=$(ratio "$(faults "$policy")" "$(faults clock)")"
