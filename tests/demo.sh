#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# demo.sh - the README's first command: memx, end to end, on one machine.
#
#   sudo bash tests/demo.sh
#
# On a fresh Debian 12 machine, as root:
#   1. installs the packages memx needs (apt-get; tests/install-deps.sh);
#   2. builds memx (autogen, configure, make) in build/demo/;
#   3. builds the patched QEMU and the test guest (cached in ~/.cache/memx;
#      the QEMU build takes about 4 minutes, once);
#   4. starts four memory servers, each in its own network namespace, and
#      memxd's pager in a fifth (the "client host"), which keeps the
#      guest's pages in page-groups of two data servers and a parity
#      server;
#   5. boots a stock Debian kernel with 4 GiB of guest RAM on a 1 GiB local
#      budget (TCG) and runs the workload, showing its progress; when the
#      quicksort's data exist, SIGKILLs the memory server holding the most
#      of them (MEMX_DEMO_KILL=0 to skip), and the guest carries on;
#   6. prints a report: the guest's view of its memory, how much was served
#      remotely, what the server's death cost (degraded reads, groups
#      rebuilt, pages lost: none), fault latency percentiles, what was
#      read ahead of faults, wall time.
# Everything it started is cleaned up on success, on failure and on Ctrl-C.
#
# Environment: MEMX_DEMO_WORK (memx.work=, default fill:2560,qsort:1280:
# fill 2.5 GiB and read it back, then quicksort 1.25 GiB), GX_ACCEL (tcg),
# MEMX_DEMO_NO_BUILD=1 with top_builddir=DIR to use an existing build,
# NX_KEEP=1 to keep the logs.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${MEMX_DEMO_WORK:-fill:2560,qsort:1280}
t_demo=$SECONDS

step()
{
	printf '\n==> [%4ds] %s\n' $((SECONDS - t_demo)) "$*"
}

if [[ $(id -u) -ne 0 ]]; then
	echo "demo: run as root (apt-get, network namespaces, userfaultfd): sudo bash $0" >&2
	exit 1
fi

if [[ ${MEMX_DEMO_NO_BUILD:-0} != 1 ]]; then
	step "installing packages (apt-get)"
	bash "$src/tests/install-deps.sh"
	step "building memx (build/demo)"
	(cd "$src" && ./autogen.sh >/dev/null)
	mkdir -p "$src/build/demo"
	(cd "$src/build/demo" && "$src/configure" -q && make -j"${JOBS:-2}" >/dev/null)
	export top_builddir=$src/build/demo
fi
export top_srcdir=$src
# shellcheck source=tests/lib/guest-common.sh
. "$src/tests/lib/guest-common.sh"

gx_require
step "building the patched QEMU and the test guest (cached after the first time)"
gx_build
GX_SERVERS=(srv1 srv2 srv3 srv4)
step "starting four memory servers and memxd (network namespaces ${NX_PREFIX}*)"
gx_setup 3G
if [[ ${NX_INSECURE:-0} == 1 ]]; then
	step "RMAP runs WITHOUT authentication or encryption (NX_INSECURE=1)"
else
	step "RMAP is authenticated and encrypted: each namespace has a key made for this run ($NX_TMP/keys)"
fi
# A server silent while the others answer is "down" (its pages are read
# degraded); after the grace it is "out" and rebuilt elsewhere.  The
# default grace is 60 s; the demo's guest finishes sooner, so 10 s.
gx_memxd_start demo --grace-s 10
gx_sampler_start "$NX_TMP/dump"
: >"$NX_TMP/guest.log"
if [[ ${MEMX_DEMO_KILL:-1} != 0 ]]; then
	gx_killer_start 'qsort: generated'
fi

step "booting the guest: 4 GiB of guest RAM on a 1 GiB local budget ($GX_ACCEL), memx.work=$work"
gx_qemu_args 4G 1G "$work"
t0=$SECONDS
rc=0
# The guest's console, filtered to its own lines (progress every 10%).
GX_SHOW_PREFIX="  guest| " gx_qemu_run "$NX_TMP/guest.log" \
	"${MEMX_DEMO_TIMEOUT:-3600}" || rc=$?
wall=$((SECONDS - t0))
nx_stop sampler
nx_stop killer

d=$NX_TMP/dump
log=$NX_TMP/guest.log
if ((rc != 0)) || [[ ! -s $d ]]; then
	tail -n 20 "$log" >&2
	tail -n 20 "$NX_TMP/memxd-demo.log" >&2
	nx_die "the guest run failed (QEMU exit $rc)"
fi

v()
{
	local x

	x=$(gx_val "$d" "$1")
	echo "${x:-0}"
}
mib()
{
	echo $(($1 * 4096 / 1048576))
}
# Percentiles from memxd's log2 histogram of fault service times (us).
pct()
{
	awk -F= -v p="$1" '$1 == "fault_hist_us" {
		n = split($2, h, ","); t = 0
		for (i = 1; i <= n; i++) t += h[i]
		s = 0
		for (i = 1; i <= n; i++) {
			s += h[i]
			if (t && s * 1000 >= t * p) { printf "<=%d us", 2 ^ (i - 1); exit }
		}
		print "n/a"
	}' "$d"
}
memtotal=$(sed -n 's/.*MEMX-GUEST: MemTotal=\([0-9]*\) kB.*/\1/p' "$log" | head -n1)
served=$(awk -F= '$1 == "server_pages_in" { s += $2 } END { print s + 0 }' "$d")
# Pages installed ahead go straight into guest memory: the guest uses them
# with no fault, so nothing counts their use.  What shows it is how seldom
# the guest waited on the network (net_faults) for what came ahead.
issued=$(v prefetch_issued)
installed=$(v prefetch_installed)
if ((issued > 0)); then
	ahead="$issued pages read ahead of a fault: $installed installed into guest memory at once"
	ahead+=" (used without a fault, so not counted), $(v prefetch_hit) used by a later fault,"
	ahead+=" $(v prefetch_wasted) never used; the guest waited on the network $(v net_faults) times"
else
	ahead="none (no pages read ahead); the guest waited on the network $(v net_faults) times"
fi
result=$(grep -o 'MEMX-GUEST-RESULT: .*' "$log" | tr -d '\r' | tail -n1)
groups="$(v pg_groups) page-groups of $(v pg_rows) x $(v pg_width) pages, each on $(($(v pg_width) + $(v pg_parity))) of ${#GX_SERVERS[@]} servers"
if (($(v pg_parity))); then
	groups+=" (one holds the stripes' XOR parity)"
fi
if [[ -s $NX_TMP/victim ]]; then
	read -r victim slots _ <"$NX_TMP/victim"
	failure="killed $victim ($(nx_ip "$victim"), $slots group slots) mid-run:"
	failure+=" $(v degraded_reads) degraded reads, $(v rebuilt_groups) groups"
	failure+=" ($(mib "$(v rebuilt_pages)") MiB) rebuilt elsewhere,"
	failure+=" $(v recovery_pending) still to rebuild, $(v lost_pages) pages lost"
else
	failure="none (MEMX_DEMO_KILL=0)"
fi

cat <<REPORT

==================== memx demo report ====================
guest's view      MemTotal $((${memtotal:-0} / 1024)) MiB (4 GiB of guest RAM), on a $(mib "$(v budget_pages)") MiB local budget
workload          memx.work=$work: ${result:-no result}
$(grep -E '^(fill|qsort|randrw): mib=' "$log" | tr -d '\r' | sed 's/^/                  /')
served remotely   $(v net_faults) network faults; $served pages ($(mib "$served") MiB) read from the memory servers
evicted           $(($(v evict_clean) + $(v evict_dirty))) pages sent to the servers, $(v evict_zero) zero pages dropped
remote at the end $(v remote_pages) pages ($(mib "$(v remote_pages)") MiB) on the servers
placement         $groups
server failure    $failure
resident          at most $(v max_resident_pages) pages ($(mib "$(v max_resident_pages)") MiB; budget $(v budget_pages) + slack $(awk -F= '$1 == "slack_pages" { print $2; exit }' "$d"))
fault latency     p50 $(pct 500), p90 $(pct 900), p99 $(pct 990), p99.9 $(pct 999) (every fault memxd served)
read ahead        $ahead
wall time         guest run ${wall}s; demo total $((SECONDS - t_demo))s
==========================================================
REPORT
[[ $result == "MEMX-GUEST-RESULT: PASS"* ]] || nx_die "the guest's workload failed"
(($(v lost_pages) == 0)) || nx_die "memxd lost pages (see lost_range in memxctl dump)"
step "done; cleaning up"
