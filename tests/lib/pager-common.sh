# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# pager-common.sh - what tests/pager-host.sh and tests/pager-kvm.sh share:
# two memory servers and a client, each a network namespace (netns.sh),
# and memxd's pager role inside the client, serving one harness run.
#
#   px_require BIN...        skip (77) loudly unless root, /dev/userfaultfd
#                            and namespaces work; fail unless BINs are built
#   px_setup                 namespaces up, both servers answering
#   px_run LABEL LOSS CMD... memxd (pager) in the client, then CMD ARGS
#                            --socket SOCK --name LABEL in the client, with
#                            LOSS% loss on every host's egress (0: clean);
#                            fails loudly with memxd's log if CMD fails;
#                            PX_PAGER_ARGS (an array) goes to memxd
#   px_check_counters LABEL  the run's counters: network faults, evictions
#                            and remote pages must all be > 0
#   px_evict_breakdown LABEL SECONDS
#                            print where the run's eviction time went
#                            (evict_<stage>_us) over SECONDS of it, and
#                            its dirty-eviction MB/s
#   px_ctl_stall             a control socket client that never reads its
#                            replies must not stall memxd: memxctl dump
#                            still answers at once
#
# Namespaces are named mxh-PID-...; everything is removed on exit.
# NX_KEEP=1 keeps the logs.  PX_SIZE / PX_BUDGET are the host harness's
# region and budget for the scripts that source this: MX_SIZE /
# MX_BUDGET, 64M on 16M by default.

NX_PREFIX=${NX_PREFIX:-mxh-$$-}
px_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$px_here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
# shellcheck source=tests/lib/netns.sh
. "$top_srcdir/tests/lib/netns.sh"

MEMXD=$top_builddir/memxd/memxd
MEMXCTL=$top_builddir/memxd/memxctl
PX_SERVERS=(srv1 srv2)
PX_CLIENT=client
PX_TIMEOUT=${PX_TIMEOUT:-540}
# shellcheck disable=SC2034 # for the scripts that source this
PX_SIZE=${MX_SIZE:-64M}
# shellcheck disable=SC2034
PX_BUDGET=${MX_BUDGET:-16M}

px_require()
{
	local b

	[[ $(id -u) -eq 0 ]] ||
		nx_skip "needs root (network namespaces, /dev/userfaultfd)"
	[[ -c /dev/userfaultfd ]] ||
		nx_skip "no /dev/userfaultfd (needs Linux >= 6.1 with CONFIG_USERFAULTFD)"
	for b in "$MEMXD" "$MEMXCTL" "$@"; do
		[[ -x $b ]] || nx_die "$b is not built"
	done
	nx_require
}

px_setup()
{
	nx_init
	nx_net_create 1500 "$PX_CLIENT" "${PX_SERVERS[@]}"
	nx_memory_servers "$PX_CLIENT" 512M "${PX_SERVERS[@]}"
	nx_log "memory servers up: $(nx_ip srv1), $(nx_ip srv2); client $(nx_ip "$PX_CLIENT")"
}

px_impair_all()
{
	local h

	for h in "$PX_CLIENT" "${PX_SERVERS[@]}"; do
		if (($1)); then
			nx_impair "$h" "$1" 0 0 0
		else
			nx_unimpair "$h"
		fi
	done
}

# px_run LABEL LOSS CMD [ARGS]...
px_run()
{
	local label=$1 loss=$2 sock rc=0 h
	local -a servers=()

	shift 2
	sock=$NX_TMP/$label.sock
	for h in "${PX_SERVERS[@]}"; do
		servers+=("$(nx_ip "$h")")
	done
	px_impair_all "$loss"
	nx_pager "$PX_CLIENT" "memxd-$label" "$sock" \
		--servers "$(IFS=,; echo "${servers[*]}")" \
		${PX_PAGER_ARGS[@]+"${PX_PAGER_ARGS[@]}"}
	nx_log "[$label] memxd pager up; loss ${loss}%; running $(basename "$1")"
	timeout -k 10 "$PX_TIMEOUT" ip netns exec "$(nx_ns "$PX_CLIENT")" env MEMX_CONF="$(nx_conf "$PX_CLIENT")" \
		"$@" --socket "$sock" --name "$label" \
		>"$NX_TMP/$label.out" 2>&1 || rc=$?
	cat "$NX_TMP/$label.out"
	if ((rc == 0)); then
		ip netns exec "$(nx_ns "$PX_CLIENT")" env MEMX_CONF="$(nx_conf "$PX_CLIENT")" timeout 10 "$MEMXCTL" \
			--socket "$sock" status >"$NX_TMP/$label.status" 2>&1 ||
			true
	fi
	if ((loss)); then
		for h in "$PX_CLIENT" "${PX_SERVERS[@]}"; do
			nx_log "[$label] impairment on $h: $(nx_impair_stats "$h")"
		done
	fi
	nx_stop "memxd-$label"
	px_impair_all 0
	if ((rc == 77)); then
		nx_skip "$(grep -m1 SKIP "$NX_TMP/$label.out" || echo "the harness skipped")"
	fi
	if ((rc != 0)); then
		printf '%s\n' "---- memxd (pager) log, last 40 lines ----" >&2
		tail -n 40 "$NX_TMP/memxd-$label.log" >&2
		((rc == 124 || rc == 137)) &&
			nx_die "[$label] the harness hung (killed after ${PX_TIMEOUT} s)"
		nx_die "[$label] the harness failed (exit $rc)"
	fi
}

# px_prom_parse FILE: what a Prometheus client makes of a scrape: every
# family with samples typed, none in two groups (Debian's parser, under
# Debian's python3: a python3 earlier on PATH may not see its modules).
# Prints the number of families; fails saying which ones are wrong.
px_prom_parse()
{
	/usr/bin/python3 - "$1" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families

with open(sys.argv[1]) as f:
    fams = list(text_string_to_metric_families(f.read()))
untyped = [f.name for f in fams if f.type in ("unknown", "untyped") and f.samples]
names = [f.name for f in fams]
twice = sorted({n for n in names if names.count(n) > 1})
if untyped or twice:
    sys.exit("untyped: %s; more than one group: %s" % (untyped[:5], twice[:5]))
print(len(fams))
PY
}

# The value of KEY in the harness's "memxd counters:" line (0 if absent).
px_counter()
{
	local v

	v=$(grep -m1 'memxd counters:' "$NX_TMP/$1.out" |
		tr ' ' '\n' | sed -n "s/^$2=//p" | tail -n1)
	echo "${v:-0}"
}

px_check_counters()
{
	local label=$1 net evict remote

	net=$(px_counter "$label" net_faults)
	evict=$(($(px_counter "$label" evict_clean) +
		$(px_counter "$label" evict_dirty) +
		$(px_counter "$label" evict_zero)))
	remote=$(px_counter "$label" remote_pages)
	nx_log "[$label] memxd: net_faults=$net evictions=$evict remote_pages=$remote" \
		"zero_faults=$(px_counter "$label" zero_faults)" \
		"wp_faults=$(px_counter "$label" wp_faults)" \
		"max_resident_pages=$(px_counter "$label" max_resident_pages)" \
		"fault_p50_us=$(px_counter "$label" fault_p50_us)" \
		"fault_p99_us=$(px_counter "$label" fault_p99_us)"
	((net > 0)) || nx_die "[$label] memxd served no network faults"
	((evict > 0)) || nx_die "[$label] memxd evicted nothing"
	((remote > 0)) || nx_die "[$label] memxd had no remote pages"
	if [[ -s $NX_TMP/$label.status ]]; then
		nx_log "[$label] memxctl status (after the run):"
		sed 's/^/    /' "$NX_TMP/$label.status" >&2
	fi
}

# px_evict_breakdown LABEL SECONDS: one line,
#   evict-breakdown[LABEL]: MBps=... select=..% protect=..% read=..%
#   mac=..% parity=..% send=..% punch=..% batch=..% us_per_dirty=..
#   write_rtt_us=.. write_inflight=.. pxor_rtt_us=.. pxor_inflight=..
#   parity_rtt_us=.. parity_inflight=..
# The pager-thread stages as shares of SECONDS (batch includes protect,
# read, mac, parity and send), and the batch stage's microseconds per
# page evicted dirty, and memxd's CPU (user and kernel, its whole run) per
# page it evicted dirty; the round trips overlap, so they are a mean per
# request and the mean number in flight (their total over SECONDS).
px_evict_breakdown()
{
	local label=$1 secs=$2 k
	local -a args=()

	for k in evict_dirty evict_select_us evict_protect_us evict_read_us \
		evict_mac_us evict_parity_us evict_send_us \
		evict_punch_us evict_batch_us evict_write_rtt_us \
		evict_write_rtt_calls evict_pxor_rtt_us evict_pxor_rtt_calls \
		evict_parity_rtt_us evict_parity_rtt_calls cpu_user_ms \
		cpu_sys_ms; do
		args+=(-v "$k=$(px_counter "$label" "$k")")
	done
	awk -v label="$label" -v s="$secs" "${args[@]}" 'BEGIN {
		us = s * 1e6
		if (us <= 0)
			us = 1
		wmean = 0
		if (evict_write_rtt_calls)
			wmean = evict_write_rtt_us / evict_write_rtt_calls
		pmean = 0
		if (evict_pxor_rtt_calls)
			pmean = evict_pxor_rtt_us / evict_pxor_rtt_calls
		printf "evict-breakdown[%s]: MBps=%.1f", label,
			evict_dirty * 4096 / us
		printf " select=%.1f%% protect=%.1f%% read=%.1f%%",
			100 * evict_select_us / us, 100 * evict_protect_us / us,
			100 * evict_read_us / us
		printf " mac=%.1f%% parity=%.1f%% send=%.1f%%",
			100 * evict_mac_us / us, 100 * evict_parity_us / us,
			100 * evict_send_us / us
		printf " punch=%.1f%% batch=%.1f%%", 100 * evict_punch_us / us,
			100 * evict_batch_us / us
		per = 0
		if (evict_dirty)
			per = evict_batch_us / evict_dirty
		printf " us_per_dirty=%.1f", per
		# memxd own CPU over its whole run, per page it evicted
		# dirty over that run (what the pager thread and the kernel
		# under it cost; the memory servers are apart)
		cpu = 0
		if (evict_dirty)
			cpu = (cpu_user_ms + cpu_sys_ms) * 1000 / evict_dirty
		printf " pager_cpu_us_per_dirty=%.1f", cpu
		printf " write_rtt_us=%.0f write_inflight=%.1f", wmean,
			evict_write_rtt_us / us
		printf " pxor_rtt_us=%.0f pxor_inflight=%.1f", pmean,
			evict_pxor_rtt_us / us
		smean = 0
		if (evict_parity_rtt_calls)
			smean = evict_parity_rtt_us / evict_parity_rtt_calls
		printf " parity_rtt_us=%.0f parity_inflight=%.1f\n", smean,
			evict_parity_rtt_us / us
	}'
}

px_ctl_stall()
{
	local sock=$NX_TMP/stall.sock h t0
	local -a servers=()

	for h in "${PX_SERVERS[@]}"; do
		servers+=("$(nx_ip "$h")")
	done
	nx_pager "$PX_CLIENT" memxd-stall "$sock" \
		--servers "$(IFS=,; echo "${servers[*]}")"
	# 4000 get=1 at once; nc stops reading once its stdout, a pipe
	# nobody reads, is full.  memxd used to wait a second per reply.
	nx_daemon "$PX_CLIENT" stall-client timeout 40 bash -c \
		"(for i in \$(seq 4000); do printf 'get=1\n\n'; done; sleep 30) |
		 nc -U '$sock' | sleep 35"
	sleep 3
	t0=$SECONDS
	timeout 10 "$MEMXCTL" --socket "$sock" dump >"$NX_TMP/stall.dump" ||
		nx_die "memxd did not answer memxctl dump while a client left its replies unread"
	grep -q '^vms=0$' "$NX_TMP/stall.dump" ||
		nx_die "memxctl dump, while a client stalls: no vms=0 in it"
	nx_log "memxctl dump answered in $((SECONDS - t0)) s while a client left 4000 replies unread"
	nx_stop stall-client
	nx_stop memxd-stall
}
