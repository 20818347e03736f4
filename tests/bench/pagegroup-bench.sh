#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# pagegroup-bench.sh - benchmark (not a test; `make bench-pagegroup`) of
# page-groups (issue 5), against six memory servers in namespaces (veth,
# MTU 1500), memxd's pager with --stripe-width 3, all in one run:
#
#   parity      the same write-heavy eviction workload (fault_bench's fill:
#               every page of a region 8x its budget written once, so
#               nearly all of it is evicted) with --parity off and on,
#               alternately, the median of each (and again with the
#               pages written in a random order:
#               parity_random_write_overhead);
#               parity_write_overhead =
#               fill time with parity / without;
#   degraded    first-touch fault latency of evicted pages, prefetch off,
#               with all servers up, then in a second run with the busiest
#               server killed after the fill and --recovery-mibps 0 so its
#               pages stay degraded; fault_bench asks memxd's
#               degraded_reads around each sample, so the degraded p50 is
#               that of the faults that really were degraded reads:
#               degraded_read_ratio = p50 degraded / p50 all up;
#   recovery    kill the busiest server after the fill, with a high
#               --recovery-mibps: rebuilt_pages * 4 KiB over the time from
#               memxd declaring it dead to recovery_pending = 0;
#   metadata    a 64 GiB sparse region (a memfd ftruncated to 64 GiB, 128
#               MiB of it touched): memxd's metadata_bytes_per_page.
#
# The last line is the summary, "pagegroup-bench: key=value ...".
# Environment: top_builddir, top_srcdir (absolute); PGB_SIZE_MIB and
# PGB_BUDGET_MIB (default 256 and 32) for the parity, degraded and
# recovery runs; PGB_ROUNDS (default 3) parity off/on pairs;
# PGB_RECOVERY_MIBPS (default 1024).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
NX_PREFIX=${NX_PREFIX:-mxb-$$-}
# shellcheck source=tests/lib/netns.sh
. "$top_srcdir/tests/lib/netns.sh"

MEMXD=$top_builddir/memxd/memxd
MEMXCTL=$top_builddir/memxd/memxctl
BENCH=$top_builddir/tests/bench/fault_bench
SIZE=${PGB_SIZE_MIB:-256}
BUDGET=${PGB_BUDGET_MIB:-32}
ROUNDS=${PGB_ROUNDS:-3}
RECOVERY_MIBPS=${PGB_RECOVERY_MIBPS:-1024}
SERVERS=(srv1 srv2 srv3 srv4 srv5 srv6)

for b in "$MEMXD" "$MEMXCTL" "$BENCH"; do
	[[ -x $b ]] || nx_die "$b is not built (run make first)"
done
[[ -e /dev/userfaultfd ]] || nx_skip "no /dev/userfaultfd"
"$MEMXD" --help 2>&1 | grep -- '--stripe-width' >/dev/null ||
	nx_die "$MEMXD has no --stripe-width: no page-groups (issue 5) in this memxd"

nx_require
nx_init

# (Re)start the six servers (fresh: a killed one comes back empty).
servers_up()
{
	local s i

	for s in "${SERVERS[@]}"; do
		nx_stop "server-$s"
		nx_daemon "$s" "server-$s" "$MEMXD" --server \
			--listen "$(nx_ip "$s")" --capacity 2G
	done
	for s in "${SERVERS[@]}"; do
		for i in $(seq 50); do
			timeout 5 ip netns exec "$(nx_ns cli)" env MEMX_CONF="$(nx_conf cli)" "$MEMXCTL" \
				stat "$(nx_ip "$s")" >/dev/null 2>&1 && break
			((i < 50)) || nx_die "memory server $s never answered"
			sleep 0.1
		done
	done
}

nx_net_create 1500 cli "${SERVERS[@]}"
server_list=$(for s in "${SERVERS[@]}"; do nx_ip "$s"; done | paste -sd,)

# pager NAME ARGS...: a fresh pager on $NX_TMP/NAME.sock
pager()
{
	local name=$1 sock=$NX_TMP/$1.sock

	shift
	nx_pager cli "pager-$name" "$sock" --servers "$server_list" \
		--stripe-width 3 --spill-dir "$NX_TMP" "$@"
}

# bench NAME ARGS...: fault_bench against pager NAME in the background
bench_start()
{
	local name=$1

	shift
	rm -f "$NX_TMP/$name.pause" "$NX_TMP/$name.pause.ready"
	nx_daemon cli "bench-$name" env \
		VMM_CTL_TIMEOUT_MS="${VMM_CTL_TIMEOUT_MS:-10000}" timeout 600 "$BENCH" \
		--socket "$NX_TMP/$name.sock" --name "$name" "$@"
}

bench_wait()
{
	local name=$1 rc=0

	wait "${NX_PIDS[bench-$name]}" || rc=$?
	unset "NX_PIDS[bench-$name]"
	if ((rc != 0)); then
		cat "$NX_TMP/bench-$name.log" >&2
		tail -n 30 "$NX_TMP/pager-$name.log" >&2
		nx_die "fault_bench failed ($name, exit $rc)"
	fi
	nx_stop "pager-$name"
}

wait_paused()
{
	local name=$1

	for _ in $(seq 6000); do
		[[ -f $NX_TMP/$name.pause.ready ]] && return 0
		kill -0 "${NX_PIDS[bench-$name]}" 2>/dev/null || {
			cat "$NX_TMP/bench-$name.log" >&2
			nx_die "fault_bench ($name) exited before its pause"
		}
		sleep 0.05
	done
	nx_die "fault_bench ($name) never paused"
}

val() { sed -n "s/^$2=//p" "$NX_TMP/bench-$1.log" | tail -n1; }
dump() {
	timeout 10 ip netns exec "$(nx_ns cli)" env MEMX_CONF="$(nx_conf cli)" "$MEMXCTL" \
		--socket "$NX_TMP/$1.sock" dump ||
		nx_die "memxctl dump ($1) failed: $(tail -n 5 "$NX_TMP/pager-$1.log")"
}
vmval() {
	awk -F= -v vm="$2" -v key="$3" '
		$1 == "server" { in_vm = 0 }
		$1 == "vm" { in_vm = (substr($0, 4) == vm) }
		in_vm && $1 == key { print substr($0, length(key) + 2); exit }
	' <<<"$1"
}
srvval() {
	awk -F= -v srv="$2" -v key="$3" '
		$1 == "vm" { in_srv = 0 }
		$1 == "server" { s = substr($0, 8); sub(/:.*/, "", s); in_srv = (s == srv) }
		in_srv && $1 == key { print substr($0, length(key) + 2); exit }
	' <<<"$1"
}
# The server (host name) holding the most groups in dump $1.
busiest()
{
	local s

	for s in "${SERVERS[@]}"; do
		echo "$(srvval "$1" "$(nx_ip "$s")" server_groups) $s"
	done | sort -k1,1nr | awk 'NR == 1 { print $2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
now() { date +%s.%N; }

servers_up
nx_log "6 memory servers up: $server_list"

# ---- parity off vs on: fill time of the same write-heavy workload ----
# parity_fills PREFIX [FAULT_BENCH ARGS...]: ROUNDS fills with parity off
# and on, alternately; the times in $runs_off and $runs_on, their medians
# in $med_off and $med_on.
parity_fills()
{
	local prefix=$1 r p name f

	shift
	runs_off='' runs_on=''
	for r in $(seq "$ROUNDS"); do
		for p in off on; do
			name=$prefix-$p-$r
			pager "$name" --parity "$p"
			bench_start "$name" --size-mib "$SIZE" \
				--budget-mib "$BUDGET" --fill-only "$@"
			bench_wait "$name"
			f=$(val "$name" fill_s)
			nx_log "$name: fill of $SIZE MiB on $BUDGET MiB: $f s" \
				"($(val "$name" fill_MiBps) MiB/s);" \
				"$(val "$name" evict_dirty) dirty evictions," \
				"$(val "$name" parity_stripes) whole-stripe parities," \
				"$(val "$name" parity_updates) parity deltas"
			if [[ $p == off ]]; then runs_off+=" $f"; else runs_on+=" $f"; fi
		done
	done
	med_off=$(echo "$runs_off" | median)
	med_on=$(echo "$runs_on" | median)
}
parity_fills parity
fill_off=$med_off fill_on=$med_on fills_off=$runs_off fills_on=$runs_on
# The same in a random page order (its evictions still come in CLOCK
# order; how many made whole stripes is in the log lines).
parity_fills random-parity --fill-random
rfill_off=$med_off rfill_on=$med_on rfills_off=$runs_off rfills_on=$runs_on

# ---- normal vs degraded read latency, prefetch off ----
pager lat-up --prefetch-max 0
bench_start lat-up --size-mib "$SIZE" --budget-mib "$BUDGET" --no-scan \
	--classify-degraded
bench_wait lat-up
p50_up=$(val lat-up lat_p50_us)
nx_log "all servers up: p50 $p50_up us, p99 $(val lat-up lat_p99_us) us ($(val lat-up degraded_samples) of $(val lat-up latency_samples) samples degraded)"

servers_up
pager lat-deg --prefetch-max 0 --recovery-mibps 0
bench_start lat-deg --size-mib "$SIZE" --budget-mib "$BUDGET" --no-scan \
	--classify-degraded --pause-file "$NX_TMP/lat-deg.pause"
wait_paused lat-deg
d=$(dump lat-deg)
victim=$(busiest "$d")
nx_log "degraded: killing $victim ($(srvval "$d" "$(nx_ip "$victim")" server_groups) groups), recovery paused"
kill -KILL "${NX_PIDS[server-$victim]}"
wait "${NX_PIDS[server-$victim]}" 2>/dev/null || true
unset "NX_PIDS[server-$victim]"
for _ in $(seq 200); do
	d=$(dump lat-deg)
	[[ $(srvval "$d" "$(nx_ip "$victim")" server_state) == dead ]] && break
	sleep 0.1
done
[[ $(srvval "$d" "$(nx_ip "$victim")" server_state) == dead ]] ||
	nx_die "memxd never declared $victim dead"
nx_log "degraded: $victim dead; pg_degraded=$(vmval "$d" lat-deg pg_degraded) recovery_pending=$(vmval "$d" lat-deg recovery_pending)"
rm -f "$NX_TMP/lat-deg.pause"
bench_wait lat-deg
p50_deg=$(val lat-deg lat_degraded_p50_us)
nx_log "one server dead: $(val lat-deg degraded_samples) degraded faults p50 $p50_deg us p99 $(val lat-deg lat_degraded_p99_us) us; $(val lat-deg normal_samples) normal faults p50 $(val lat-deg lat_normal_p50_us) us"
(($(val lat-deg degraded_samples) > 0)) ||
	nx_die "no degraded read among the latency samples (degraded_reads did not move)"

# ---- recovery throughput ----
servers_up
pager recovery --recovery-mibps "$RECOVERY_MIBPS"
bench_start recovery --size-mib "$SIZE" --budget-mib "$BUDGET" --fill-only \
	--pause-file "$NX_TMP/recovery.pause"
wait_paused recovery
d=$(dump recovery)
victim=$(busiest "$d")
held=$(srvval "$d" "$(nx_ip "$victim")" server_used_pages)
nx_log "recovery: killing $victim ($(srvval "$d" "$(nx_ip "$victim")" server_groups) groups, $((held * 4 / 1024)) MiB used), --recovery-mibps $RECOVERY_MIBPS"
t_kill=$(now)
kill -KILL "${NX_PIDS[server-$victim]}"
wait "${NX_PIDS[server-$victim]}" 2>/dev/null || true
unset "NX_PIDS[server-$victim]"
t_dead='' t_done=''
for _ in $(seq 6000); do
	d=$(dump recovery)
	t=$(now)
	if [[ -z $t_dead && $(srvval "$d" "$(nx_ip "$victim")" server_state) == dead ]]; then
		t_dead=$t
	fi
	deg=$(vmval "$d" recovery pg_degraded)
	reb=$(vmval "$d" recovery pg_rebuilding)
	pend=$(vmval "$d" recovery recovery_pending)
	if [[ -n $t_dead ]] && ((${deg:-1} == 0 && ${reb:-1} == 0 &&
		${pend:-1} == 0)); then
		t_done=$t
		break
	fi
	sleep 0.02
done
[[ -n $t_done ]] || nx_die "recovery did not finish"
rebuilt=$(vmval "$d" recovery rebuilt_pages)
rec_s=$(awk -v a="$t_dead" -v b="$t_done" 'BEGIN { printf "%.3f", b - a }')
rec_mibps=$(awk -v p="$rebuilt" -v s="$rec_s" 'BEGIN { printf "%.1f", (s > 0 ? p * 4096 / 1048576 / s : 0) }')
nx_log "recovery: dead after $(awk -v a="$t_kill" -v b="$t_dead" 'BEGIN { printf "%.2f", b - a }') s; rebuilt $(vmval "$d" recovery rebuilt_groups) groups, $rebuilt pages in $rec_s s"
rm -f "$NX_TMP/recovery.pause"
bench_wait recovery

# ---- metadata for 64 GiB of sparse GPAS ----
servers_up
pager meta
# Registering a huge region may take memxd longer than the usual 10 s.
VMM_CTL_TIMEOUT_MS=120000 bench_start meta --size-mib 65536 --budget-mib 32 \
	--touch-mib 128 --fill-only
bench_wait meta
bpp=$(val meta bytes_per_page)
nx_log "metadata: registering 64 GiB took $(val meta register_s) s; $bpp bytes per page"

echo "parity: fill of $SIZE MiB on a $BUDGET MiB budget, median of $ROUNDS: ${fill_off} s without parity (${fills_off# }), ${fill_on} s with (${fills_on# })"
p50_norm=$(val lat-deg lat_normal_p50_us)
echo "fault latency (prefetch off): p50 ${p50_up} us all servers up; degraded reads p50 ${p50_deg} us with one server dead (normal faults in that run: p50 ${p50_norm} us, ratio $(ratio "$p50_deg" "$p50_norm"))"
echo "recovery: ${rebuilt} pages rebuilt in ${rec_s} s after the server was declared dead (--recovery-mibps $RECOVERY_MIBPS)"
echo "metadata: ${bpp} bytes per page for 64 GiB of sparse GPAS (128 MiB touched)"
echo "parity, random order: median of $ROUNDS: ${rfill_off} s without parity (${rfills_off# }), ${rfill_on} s with (${rfills_on# })"
echo "pagegroup-bench: parity_write_overhead=$(ratio "$fill_on" "$fill_off") parity_random_write_overhead=$(ratio "$rfill_on" "$rfill_off") degraded_read_ratio=$(ratio "$p50_deg" "$p50_up") recovery_MiBps=$rec_mibps bytes_per_page=$bpp"
