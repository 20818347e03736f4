#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# fault-bench.sh - benchmark (not a test; `make bench`): page faults served
# by memxd from a memory server in another namespace (veth, MTU 1500, or
# FAULT_MTU),
# against the floor: the same faults served by memxd from its own local
# memory (no servers; evicted pages in a spill file on tmpfs), measured in
# the same run; and the remote runs again with --integrity=off, with the
# cost of one page MAC (mac_bench), to show what checking pages costs.
#
# The latency runs (prefetch off: remote, floor, integrity off) go in
# FAULT_ROUNDS rounds (default 3), each round in another order, so that
# each remote run has its floor within the same minute: this machine's
# wake-ups, most of both figures, drift by 4x from one hour to the next
# (a floor of 23 us one day, 95-99 the next), and a single remote run
# against a single floor a minute apart gave 2.24 and then 1.41 on the
# same code.  p50_ratio is the median of the rounds' own ratios (each
# round's is printed); the other figures are the rounds' medians.  The
# prefetched scans run once.  The last line is the summary,
# "fault-bench: key=value ...".
#
# Each round also times the link itself (tests/bench/udp_rtt): a 64-byte
# request and a 4 KiB reply between two processes in the same two
# namespaces, each sleeping in recv(2) between messages as memxd and the
# server do; no protocol, no crypto, no store.  The two ends run on two
# CPUs, as on two hosts (wire_p50_us), and then on one (wire_1cpu_p50_us:
# the stacks and copies without the cross-CPU wake-ups, which in a
# virtual machine are exits to the host).  A pager that sleeps can serve
# a remote fault no faster than its local floor plus the two-CPU round
# trip, less the floor's pread: wire_bound_ratio, (floor + wire) / floor,
# is the best p50_ratio such a pager could reach on this link, and
# remote_over_bound, remote / (floor + wire), how far memx is from it.
#
# Environment: top_builddir, top_srcdir (absolute); FAULT_SIZE_MIB and
# FAULT_BUDGET_MIB (default 256 and 32); FAULT_ROUNDS (default 3);
# FAULT_PAGER_ARGS, more options for every pager (e.g. "--spin-us 0");
# FAULT_SERVER_ARGS, more options for the memory server (e.g.
# "--poll-us 200");
# FAULT_MTU, the link's MTU (default 1500; memx fragments for it by
# itself); BENCH_HALT_POLL_NS, how long idle CPUs poll before they halt,
# on a machine that is itself a VM with cpuidle-haltpoll (put back at
# the end; tests/lib/netns.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
# shellcheck source=tests/lib/netns.sh
. "$top_srcdir/tests/lib/netns.sh"

MEMXD=$top_builddir/memxd/memxd
BENCH=$top_builddir/tests/bench/fault_bench
UDP_RTT=$top_builddir/tests/bench/udp_rtt
SIZE=${FAULT_SIZE_MIB:-256}
BUDGET=${FAULT_BUDGET_MIB:-32}
ROUNDS=${FAULT_ROUNDS:-3}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || nx_die "FAULT_ROUNDS must be a positive number, not '$ROUNDS'"

for b in "$MEMXD" "$BENCH" "$UDP_RTT"; do
	[[ -x $b ]] || nx_die "$b is not built (run make first)"
done
[[ -e /dev/userfaultfd ]] || nx_skip "no /dev/userfaultfd"

nx_require
nx_init
MTU=${FAULT_MTU:-1500}
nx_pair_create "$MTU" srv cli
nx_log "veth pair at MTU $MTU"
# shellcheck disable=SC2086 # FAULT_SERVER_ARGS: words
nx_daemon srv memxd-server "$MEMXD" --server --listen "$(nx_ip srv)" \
	--capacity 2G --announce-interval-ms 0 ${FAULT_SERVER_ARGS:-}
# The link's ends: the server on the last CPU; the client on the first
# (two CPUs), then beside the server (one).
last_cpu=$(($(nproc) - 1))
nx_daemon srv udp-rtt taskset -c "$last_cpu" "$UDP_RTT" --serve "$(nx_ip srv)"
shm=$(mktemp -d /dev/shm/memx-floor.XXXXXX)
trap 'rm -rf "$shm"; nx_cleanup' EXIT
nx_haltpoll_bench

# run NAME PAGER-ARGS...: a fresh pager, the bench against it, results in
# $NX_TMP/NAME.out
run() {
	local name=$1; shift
	local sock=$NX_TMP/$name.sock
	local extra
	read -r -a extra <<<"${FAULT_PAGER_ARGS:-}"

	set -- "$@" "${extra[@]}"
	nx_pager cli "pager-$name" "$sock" "$@"
	nx_log "$name: $SIZE MiB region on a $BUDGET MiB budget ($*)"
	if ! timeout 300 ip netns exec "$(nx_ns cli)" env MEMX_CONF="$(nx_conf cli)" "$BENCH" --socket "$sock" \
		--size-mib "$SIZE" --budget-mib "$BUDGET" --name "$name" \
		>"$NX_TMP/$name.out"; then
		cat "$NX_TMP/$name.out" "$NX_TMP/pager-$name.log" >&2
		nx_die "fault_bench failed ($name)"
	fi
	nx_stop "pager-$name"
	sed "s/^/  $name: /" "$NX_TMP/$name.out"
}
val() { sed -n "s/^$2=//p" "$NX_TMP/$1.out"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
sum() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a + b }'; }

# The latency runs, in rounds: remote, floor and integrity off, each
# round in another order (remote first, then floor first, then
# integrity off first).  nopf WHAT R: one of them, for round R.
nopf() {
	case $1 in
	remote) run "remote-nopf-$2" --servers "$(nx_ip srv)" \
		--prefetch-max 0 --spill-dir "$NX_TMP" ;;
	floor) run "floor-nopf-$2" --prefetch-max 0 --spill-dir "$shm" ;;
	# What checking every page costs: the same, --integrity=off.
	noint) run "noint-nopf-$2" --servers "$(nx_ip srv)" \
		--prefetch-max 0 --spill-dir "$NX_TMP" --integrity=off ;;
	esac
}
# wire R: the link's own round trip for a page, for round R, with the
# client on the first CPU (in $NX_TMP/wire-R.out, as "p50_us=..." lines)
# and on the server's (wire1cpu-R.out).
wire() {
	local name cpu

	for name in wire wire1cpu; do
		cpu=0
		[[ $name == wire ]] || cpu=$last_cpu
		if ! ip netns exec "$(nx_ns cli)" taskset -c "$cpu" "$UDP_RTT" \
			--to "$(nx_ip srv)" >"$NX_TMP/$name-$1.raw" 2>&1; then
			cat "$NX_TMP/$name-$1.raw" "$NX_TMP/udp-rtt.log" >&2
			nx_die "udp_rtt failed ($name, round $1)"
		fi
		sed -n 's/^udp-rtt: //p' "$NX_TMP/$name-$1.raw" |
			tr ' ' '\n' >"$NX_TMP/$name-$1.out"
		sed "s/^/  $name-$1: /" "$NX_TMP/$name-$1.raw"
	done
}
for r in $(seq "$ROUNDS"); do
	case $(((r - 1) % 3)) in
	0) order=(remote floor noint) ;;
	1) order=(floor noint remote) ;;
	2) order=(noint remote floor) ;;
	esac
	nx_log "round $r of $ROUNDS: ${order[*]}"
	for what in "${order[@]}"; do
		nopf "$what" "$r"
		[[ $what != remote ]] || wire "$r"
	done
	rr=$(val "remote-nopf-$r" lat_p50_us); rf=$(val "floor-nopf-$r" lat_p50_us)
	rw=$(val "wire-$r" p50_us)
	nx_log "round $r: remote p50 $rr us, floor p50 $rf us, ratio $(ratio "$rr" "$rf"); integrity off p50 $(val "noint-nopf-$r" lat_p50_us) us; the link's own round trip p50 $rw us on two CPUs, $(val "wire1cpu-$r" p50_us) on one (floor + link: ratio $(ratio "$(sum "$rf" "$rw")" "$rf"))"
done
# The prefetched scans, once.
run remote-pf --servers "$(nx_ip srv)" --spill-dir "$NX_TMP"
run noint-pf --servers "$(nx_ip srv)" --spill-dir "$NX_TMP" --integrity=off
mac=$("$top_builddir/tests/bench/mac_bench" | sed -n 's/^mac-bench: //p')

# median FORMAT: of the numbers on stdin (an even count: the mean of the
# middle two, printed in FORMAT).
median() {
	sort -g | awk -v f="$1\n" '{ v[NR] = $1 } END {
		if (NR % 2) print v[(NR + 1) / 2];
		else printf f, (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# med NAME KEY: the median over the rounds of NAME-nopf-R's KEY.
med() {
	for r in $(seq "$ROUNDS"); do val "$1-nopf-$r" "$2"; done | median %.1f
}
ratios=() bounds=() overs=()
for r in $(seq "$ROUNDS"); do
	rr=$(val "remote-nopf-$r" lat_p50_us); rf=$(val "floor-nopf-$r" lat_p50_us)
	rb=$(sum "$rf" "$(val "wire-$r" p50_us)")
	ratios+=("$(ratio "$rr" "$rf")")
	bounds+=("$(ratio "$rb" "$rf")")
	overs+=("$(ratio "$rr" "$rb")")
done
p50_ratio=$(printf '%s\n' "${ratios[@]}" | median %.2f)
bound_ratio=$(printf '%s\n' "${bounds[@]}" | median %.2f)
over_bound=$(printf '%s\n' "${overs[@]}" | median %.2f)
wp50=$(for r in $(seq "$ROUNDS"); do val "wire-$r" p50_us; done | median %.1f)
w1p50=$(for r in $(seq "$ROUNDS"); do val "wire1cpu-$r" p50_us; done | median %.1f)
rp50=$(med remote lat_p50_us); rp99=$(med remote lat_p99_us)
fp50=$(med floor lat_p50_us)
seq_pf=$(val remote-pf seq_MiBps); seq_nopf=$(med remote seq_MiBps)
seq_floor=$(med floor seq_MiBps)
rnd=$(med remote random_MiBps); rnd_floor=$(med floor random_MiBps)
bpp=$(val remote-pf bytes_per_page)
np50=$(med noint lat_p50_us); seq_noint=$(val noint-pf seq_MiBps)

echo "remote 4 KiB fault (prefetch off): p50 ${rp50} us, p99 ${rp99} us; floor p50 ${fp50} us (medians of $ROUNDS rounds)"
echo "p50 ratio per round: ${ratios[*]}; median ${p50_ratio}"
echo "the link's own 4 KiB round trip (udp_rtt): p50 ${wp50} us on two CPUs, ${w1p50} us on one; floor + link over floor per round: ${bounds[*]}, median ${bound_ratio} (the best p50_ratio a pager that sleeps could reach here); remote over floor + link: ${overs[*]}, median ${over_bound}"
echo "sequential scan: ${seq_pf} MiB/s with prefetch, ${seq_nopf} MiB/s without; floor ${seq_floor} MiB/s"
echo "random reads: ${rnd} MiB/s; floor ${rnd_floor} MiB/s"
echo "integrity off: p50 ${np50} us, sequential scan ${seq_noint} MiB/s; MAC per 4 KiB page: $mac"
echo "fault-bench: remote_p50_us=$rp50 remote_p99_us=$rp99 floor_p50_us=$fp50 p50_ratio=$p50_ratio p50_ratios=$(IFS=,; echo "${ratios[*]}") rounds=$ROUNDS wire_p50_us=$wp50 wire_1cpu_p50_us=$w1p50 wire_bound_ratio=$bound_ratio remote_over_bound=$over_bound seq_MiBps=$seq_pf seq_nopf_MiBps=$seq_nopf seq_floor_MiBps=$seq_floor seq_ratio=$(ratio "$seq_pf" "$seq_floor") random_MiBps=$rnd random_floor_MiBps=$rnd_floor random_ratio=$(ratio "$rnd" "$rnd_floor") bytes_per_page=$bpp noint_p50_us=$np50 noint_seq_MiBps=$seq_noint $mac halt_poll_ns=$(cat "$NX_HALTPOLL" 2>/dev/null || echo none)"
