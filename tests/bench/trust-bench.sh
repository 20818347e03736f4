#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# trust-bench.sh - benchmark (not a test; `make bench-trust`): what
# authentication and encryption cost (issue 11).  In one run:
#   - aead_bench: one seal and one open of a 4 KiB page's fragments;
#   - rmap-bench.sh and fault-bench.sh with authentication off
#     (NX_INSECURE=1: insecure-no-auth everywhere) and on (per-run keys,
#     sealed datagrams), alternated; rmap-bench again with its two ends
#     pinned to CPUs of their own (BENCH_PIN=1,0), as on two hosts;
#   - rmap-attack.sh: the attack scenario, for the attacks sent and what
#     they cost the workload (pages lost, wrong bytes: both must be 0).
# The last line is the summary:
#   trust-bench: auth_p50_ratio=... auth_tput_ratio=... aead_us_per_page=...
#                attacks_sent=... pages_lost=0 wrong_bytes=0
# where auth_p50_ratio is the remote fault's p50 latency (prefetch off)
# with authentication over without (goal <= 1.10), and auth_tput_ratio
# the RMAP READ throughput with over without (goal >= 0.8), the ends
# placed by the scheduler; auth_tput_ratio_pinned is the same with each
# end on a CPU of its own (TRUST_PIN, default 1,0; "" leaves it out).
# On this 2-CPU machine the unpinned ends share both CPUs with each
# other, and the unauthenticated runs swing with where they land.  The
# other ratios follow on the line.  TRUST_ROUNDS (default 1) repeats the
# pairs; BENCH_MTU and FAULT_MTU (default 1500) reach rmap-bench and
# fault-bench (9000: a page per datagram, memx finding it itself).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir
out=$(mktemp -d "${TMPDIR:-/tmp}/memx-trust.XXXXXX")
trap 'rm -rf "$out"' EXIT
ROUNDS=${TRUST_ROUNDS:-1}
PIN=${TRUST_PIN-1,0}
: "${FAULT_SIZE_MIB:=128}" "${FAULT_BUDGET_MIB:=32}" "${FAULT_ROUNDS:=1}"
export FAULT_SIZE_MIB FAULT_BUDGET_MIB FAULT_ROUNDS

kv() { sed -n "s/.*[ :]$1=\([0-9.]*\).*/\1/p" "$2" | tail -n1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
mean() { awk '{ t += $1; n++ } END { printf "%.2f", n ? t / n : 0 }'; }
# run NAME MODE FILE PATTERN [VAR=VALUE...]: tests/bench/NAME.sh with
# authentication MODE (on, off) and the variables, its output in
# $out/FILE (all of it shown if it fails); its lines matching PATTERN.
run() {
	local name=$1 mode=$2 file=$out/$3 pattern=$4 ins=0

	shift 4
	[[ $mode == off ]] && ins=1
	env "$@" NX_INSECURE=$ins bash "$top_srcdir/tests/bench/$name.sh" \
		>"$file" 2>&1 || { cat "$file"; exit 1; }
	grep "$pattern" "$file"
}

"$top_builddir/tests/bench/aead_bench" | tee "$out/aead"
for r in $(seq "$ROUNDS"); do
	for mode in off on; do
		echo "== round $r: authentication $mode: rmap-bench"
		run rmap-bench "$mode" "rmap-$mode-$r" '^rmap-bench: read_p50'
		echo "== round $r: authentication $mode: fault-bench"
		run fault-bench "$mode" "fault-$mode-$r" '^fault-bench:'
	done
	[[ -n $PIN ]] || continue
	for mode in off on; do
		echo "== round $r: authentication $mode: rmap-bench, pinned ($PIN)"
		run rmap-bench "$mode" "pinned-$mode-$r" '^rmap-bench: read_p50' \
			BENCH_PIN="$PIN"
	done
done
echo "== the attack scenario (tests/rmap-attack.sh)"
bash "$top_srcdir/tests/rmap-attack.sh" >"$out/attack" 2>&1 ||
	{ tail -n 40 "$out/attack"; exit 1; }
grep '^rmap-attack:' "$out/attack"

avg() { # avg KEY FILE-GLOB
	for f in $2; do kv "$1" "$f"; done | mean
}
f50_off=$(avg remote_p50_us "$out/fault-off-*"); f50_on=$(avg remote_p50_us "$out/fault-on-*")
f99_off=$(avg remote_p99_us "$out/fault-off-*"); f99_on=$(avg remote_p99_us "$out/fault-on-*")
seq_off=$(avg seq_MiBps "$out/fault-off-*"); seq_on=$(avg seq_MiBps "$out/fault-on-*")
rnd_off=$(avg random_MiBps "$out/fault-off-*"); rnd_on=$(avg random_MiBps "$out/fault-on-*")
r50_off=$(avg read_p50_us "$out/rmap-off-*"); r50_on=$(avg read_p50_us "$out/rmap-on-*")
tp_off=$(avg MiBps "$out/rmap-off-*"); tp_on=$(avg MiBps "$out/rmap-on-*")
pin_ratio=n/a
if [[ -n $PIN ]]; then
	pin_off=$(avg MiBps "$out/pinned-off-*"); pin_on=$(avg MiBps "$out/pinned-on-*")
	pin_ratio=$(ratio "$pin_on" "$pin_off")
fi
aead=$(kv us_per_page "$out/aead")
cipher=$(sed -n 's/.*cipher=\([^ ]*\).*/\1/p' "$out/aead")
sent=$(kv attacks_sent "$out/attack")
lost=$(kv pages_lost "$out/attack")
wrong=$(kv wrong_bytes "$out/attack")

echo "fault p50 (prefetch off): ${f50_off} us without authentication, ${f50_on} us with; p99 ${f99_off} / ${f99_on} us"
echo "fault sequential: ${seq_off} / ${seq_on} MiB/s; random: ${rnd_off} / ${rnd_on} MiB/s"
echo "rmap READ: p50 ${r50_off} / ${r50_on} us; throughput ${tp_off} / ${tp_on} MiB/s"
[[ -z $PIN ]] || echo "rmap READ, ends pinned to CPUs $PIN: throughput ${pin_off} / ${pin_on} MiB/s"
echo "AEAD ($cipher): ${aead} us per 4 KiB page (seal + open of its fragments)"
echo "trust-bench: auth_p50_ratio=$(ratio "$f50_on" "$f50_off") auth_tput_ratio=$(ratio "$tp_on" "$tp_off") auth_tput_ratio_pinned=$pin_ratio aead_us_per_page=$aead attacks_sent=$sent pages_lost=$lost wrong_bytes=$wrong rmap_p50_ratio=$(ratio "$r50_on" "$r50_off") fault_seq_ratio=$(ratio "$seq_on" "$seq_off") fault_random_ratio=$(ratio "$rnd_on" "$rnd_off") cipher=$cipher rounds=$ROUNDS"
