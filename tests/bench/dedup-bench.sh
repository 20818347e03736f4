#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# dedup-bench.sh - benchmark (not a test; `make bench-dedup`): what the
# memory servers' deduplication saves on real guests, and what it costs.
#
# Two runs, alike but for the servers' --dedup: on, then off.  In each,
# two memory servers and one memxd (network namespaces); three guests boot
# the same kernel and run the same workload with the same seed (DEDUP_WORK,
# default fill:96), a fourth runs a different one (DEDUP_OTHER, default
# qsort:48: random integers, little to share), each on 512 MiB of guest
# RAM at a 128 MiB budget; once all four have verified and hold, the
# servers' logical and unique pages are read (memxctl stat).  Then, with
# the guests gone, fault_bench fills a 256 MiB region on a 32 MiB budget:
# its fill rate is the eviction (WRITE) throughput, whose ratio off/on is
# the write path's cost of hashing and comparing.
#
# Last line:
#   dedup-bench: logical_pages=N unique_pages=N saved_pct=P
#     logical_pages_off=N unique_pages_off=N write_cost_ratio=R
#     hash_ns_per_page=N verify=ok
#
# Environment: top_builddir, top_srcdir (absolute), GX_ACCEL, DEDUP_WORK,
# DEDUP_OTHER.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
WORK=${DEDUP_WORK:-fill:96}
OTHER=${DEDUP_OTHER:-qsort:48}

# One run, in a child of its own (namespaces, daemons, cleanup): prints
# "dedup-run: mode=M logical=N unique=N fill_MiBps=F hash_ns=N verify=V".
if [[ ${1:-} == --run ]]; then
	mode=$2
	# shellcheck source=tests/lib/guest-common.sh
	. "$top_srcdir/tests/lib/guest-common.sh"
	GX_SERVERS=(srv1 srv2)
	GX_FAIL=0
	export NX_SERVER_ARGS="--dedup=$mode"
	gx_require
	gx_build
	gx_setup 2G
	gx_memxd_start dd
	declare -A work=([g1]=$WORK [g2]=$WORK [g3]=$WORK [g4]=$OTHER)
	for g in g1 g2 g3 g4; do
		gx_qemu_args 512M 128M "${work[$g]}" memx.hold=1
		gx_qemu_start "$g" 1800
	done
	nx_log "[dedup=$mode] 4 guests: 3 x ${WORK}, 1 x ${OTHER}"
	verify=ok
	for g in g1 g2 g3 g4; do
		gx_wait_result "$g" 1800
		grep -q '^MEMX-GUEST-RESULT: PASS' "$NX_TMP/$g.log" || {
			tail -n 20 "$NX_TMP/$g.log" >&2
			verify=FAIL
		}
	done
	logical=0 unique=0 hashed=0 hash_ns=0
	for s in "${GX_SERVERS[@]}"; do
		line=$(timeout 10 ip netns exec "$(nx_ns "$GX_CLIENT")" \
			env MEMX_CONF="$(nx_conf "$GX_CLIENT")" "$MEMXCTL" stat "$(nx_ip "$s")")
		nx_log "[dedup=$mode] $line"
		v() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$line"; }
		logical=$((logical + $(v logical_pages)))
		unique=$((unique + $(v unique_pages)))
	done
	for g in g1 g2 g3 g4; do
		nx_stop "qemu-$g"
	done
	out=$(timeout 600 ip netns exec "$(nx_ns "$GX_CLIENT")" \
		"$top_builddir/tests/bench/fault_bench" --socket "$GX_SOCK" \
		--size-mib 256 --budget-mib 32 --name fill --fill-only) ||
		nx_die "fault_bench failed"
	fill=$(sed -n 's/^fill_MiBps=//p' <<<"$out")
	for s in "${GX_SERVERS[@]}"; do
		line=$(timeout 10 ip netns exec "$(nx_ns "$GX_CLIENT")" \
			env MEMX_CONF="$(nx_conf "$GX_CLIENT")" "$MEMXCTL" stat "$(nx_ip "$s")")
		hp=$(sed -n 's/.* hash_ns_per_page=\([0-9]*\).*/\1/p' <<<"$line")
		hash_ns=$((hash_ns > ${hp:-0} ? hash_ns : ${hp:-0}))
	done
	echo "dedup-run: mode=$mode logical=$logical unique=$unique fill_MiBps=$fill hash_ns=$hash_ns verify=$verify"
	exit 0
fi

for mode in on off; do
	bash "$0" --run "$mode" | tee "/tmp/dedup-bench-$$.$mode" | grep -v '^dedup-run:' || true
	grep -q '^dedup-run:' "/tmp/dedup-bench-$$.$mode" || { echo "dedup-bench: the $mode run failed" >&2; exit 1; }
done
r() { sed -n "s/^dedup-run: .* $2=\([^ ]*\).*/\1/p" "/tmp/dedup-bench-$$.$1"; }
l_on=$(r on logical); u_on=$(r on unique); l_off=$(r off logical); u_off=$(r off unique)
f_on=$(r on fill_MiBps); f_off=$(r off fill_MiBps); h=$(r on hash_ns)
verify=ok
[[ $(r on verify) == ok && $(r off verify) == ok ]] || verify=FAIL
rm -f "/tmp/dedup-bench-$$.on" "/tmp/dedup-bench-$$.off"
saved=$(awk -v l="$l_on" -v u="$u_on" 'BEGIN { printf "%.1f", l ? 100 * (l - u) / l : 0 }')
cost=$(awk -v a="$f_off" -v b="$f_on" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
echo "dedup on: $l_on logical pages stored as $u_on ($saved% saved); off: $l_off as $u_off"
echo "eviction (WRITE) throughput: ${f_on} MiB/s with dedup, ${f_off} MiB/s without (hash + compare ${h} ns per page written)"
echo "dedup-bench: logical_pages=$l_on unique_pages=$u_on saved_pct=$saved logical_pages_off=$l_off unique_pages_off=$u_off write_cost_ratio=$cost hash_ns_per_page=$h verify=$verify"
