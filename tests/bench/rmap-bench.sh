#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# rmap-bench.sh - benchmark (not a test; `make bench`): 4 KiB READ over
# RMAP between two network namespaces joined by one veth pair (MTU 1500),
# against a minimal TCP request/response server on the same link.
# The last line printed is the summary, "rmap-bench: key=value ...".
#
# Environment: top_builddir, top_srcdir (absolute), BENCH_ARGS for
# extra rmap_bench client options (e.g. "--secs 5 --depth 64"),
# BENCH_MTU (1500), BENCH_WINDOW (memx.conf's window, both ends) and
# BENCH_PIN=SERVER-CPU,CLIENT-CPU (e.g. "1,0"): each end on a CPU of its
# own, as on two hosts; unset, the scheduler places them.
# BENCH_SERVER_ARGS: more memxd --server options (e.g. "--reserve=on").
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
# shellcheck source=tests/lib/netns.sh
. "$top_srcdir/tests/lib/netns.sh"

MEMXD=$top_builddir/memxd/memxd
BENCH=$top_builddir/tests/bench/rmap_bench
MTU=${BENCH_MTU:-1500}
TCP_PORT=7247
read -r -a extra <<<"${BENCH_ARGS:-}"
read -r -a srv_extra <<<"${BENCH_SERVER_ARGS:-}"
pin_srv=() pin_cli=()
if [[ -n ${BENCH_PIN:-} ]]; then
	[[ $BENCH_PIN =~ ^([0-9]+),([0-9]+)$ ]] ||
		nx_die "BENCH_PIN=$BENCH_PIN: want SERVER-CPU,CLIENT-CPU, e.g. 1,0"
	pin_srv=(taskset -c "${BASH_REMATCH[1]}")
	pin_cli=(taskset -c "${BASH_REMATCH[2]}")
fi

for b in "$MEMXD" "$BENCH"; do
	[[ -x $b ]] || nx_die "$b is not built (run make first)"
done

nx_require
nx_init

nx_pair_create "$MTU" srv cli
if [[ -n ${BENCH_WINDOW:-} ]]; then
	for h in srv cli; do
		echo "window = $BENCH_WINDOW" >>"$(nx_conf "$h")"
	done
fi
nx_daemon srv memxd "${pin_srv[@]}" "$MEMXD" --server --mtu "$MTU" \
	--listen "$(nx_ip srv)" --capacity 256M --announce-interval-ms 0 "${srv_extra[@]}"
nx_daemon srv tcp-server "${pin_srv[@]}" "$BENCH" tcp-server "$TCP_PORT"
sleep 0.3
nx_log "veth pair at MTU $MTU: memxd --server and the TCP page server on $(nx_ip srv), client on $(nx_ip cli)${BENCH_PIN:+; pinned (server, client CPUs): $BENCH_PIN}"

timeout 60 ip netns exec "$(nx_ns cli)" env MEMX_CONF="$(nx_conf cli)" "${pin_cli[@]}" "$BENCH" client --mtu "$MTU" \
	"$(nx_ip srv)" "$(nx_ip srv):$TCP_PORT" "${extra[@]}" \
	>"$NX_TMP/bench.out" || {
	cat "$NX_TMP/bench.out"
	cat "$NX_TMP"/*.log >&2
	nx_die "rmap_bench failed"
}
cat "$NX_TMP/bench.out"
