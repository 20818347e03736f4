#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# pagegroup-drain.sh - page-groups move and place themselves (issue 5).
# Six memory servers and a client, each a network namespace; memxd's
# pager with --stripe-width 3; the host harness writes and verifies every
# byte of a 64 MiB region on a 16 MiB budget.  Scenarios:
#
#   drain   `memxctl drain` the server holding the most groups while the
#           harness runs: drain exits 0, the server ends with 0 used
#           pages (its own STAT), server_state=drained, server_groups=0,
#           and every byte verifies.
#   full    6 servers of 3 MiB: the cluster fills up; placement keeps
#           using the servers that have room, then the spill file takes
#           the rest (evict_spilled > 0, spilled_pages > 0); every byte
#           verifies.
#   tiny    one tiny server among larger ones, the total about what the
#           run needs: the tiny one ends full (or the others are, so
#           that no group could use its room), little or nothing spills,
#           every byte verifies.
#
# Usage: pagegroup-drain.sh [drain] [full] [tiny]   (default: all three)
# Needs root and /dev/userfaultfd; skips (77) loudly without them.
# MX_SIZE / MX_BUDGET change the sizes, NX_KEEP=1 keeps the logs;
# MX_TINY_CAP / MX_LARGE_CAP the tiny scenario's capacities (default a
# sixteenth and a quarter of MX_SIZE, or of 32 MiB below 64 MiB: five
# large servers cannot hold the region and its parity, so the tiny one
# must fill).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
# shellcheck source=tests/lib/pagegroup-common.sh
. "$top_srcdir/tests/lib/pagegroup-common.sh"

SERVER_CAP=${MX_SERVER_CAP:-256M}
FULL_CAP=${MX_FULL_CAP:-3M}
# The tiny scenario runs at 32 MiB below 64: a group member (16 pages)
# is coarse against the servers' capacities, and its "full" (room for at
# most one more member on the tiny server) and "5% spilled" hold at 32
# and 64 MiB, not at every size between (at 16 MiB the large servers'
# last members leave two servers with room, not three, and 3-5% spills;
# at 48 MiB the large ones fill with the tiny one two members short).
TINY_SIZE=$PX_SIZE TINY_BUDGET=$PX_BUDGET
size_mib=$(($(numfmt --from=iec "$PX_SIZE") >> 20))
if ((size_mib < 64)); then
	TINY_SIZE=32M TINY_BUDGET=$(($(numfmt --from=iec "$PX_BUDGET") * 32 / size_mib >> 20))M
	size_mib=32
fi
TINY_CAP=${MX_TINY_CAP:-$((size_mib / 16))M}
LARGE_CAP=${MX_LARGE_CAP:-$((size_mib / 4))M}
DRAIN_LIMIT=${MX_DRAIN_LIMIT:-120}


# One server's `memxctl stat` line, asked from the client.
server_stat()
{
	pg_ctl stat "$(nx_ip "$1")"
}

scenario_drain()
{
	local label=drain victim groups rc=0 st used pid t0

	pg_scenario_begin "$label"
	pg_start "$label" "$SERVER_CAP"
	pg_dump "$label"
	pg_check_keys "$label"
	nx_log "[$label] after seq-write: $(pg_report "$label")"
	nx_log "[$label] servers: $(pg_servers_line)"
	victim=$(pg_busiest 1)
	[[ -n $victim ]] ||
		nx_die "[$label] no server holds a group after the first write phase"
	groups=$(pg_srv "$victim" server_groups)
	nx_log "[$label] draining $victim ($(nx_ip "$victim"), $groups groups) while the harness runs"
	t0=$SECONDS
	timeout -k 5 "$DRAIN_LIMIT" ip netns exec "$(nx_ns "$PG_CLIENT")" env MEMX_CONF="$(nx_conf "$PG_CLIENT")" \
		"$MEMXCTL" --socket "$NX_TMP/$label.sock" drain "$(nx_ip "$victim")" \
		>"$NX_TMP/$label.drain" 2>&1 &
	pid=$!
	pg_resume "$label"
	wait "$pid" || rc=$?
	sed 's/^/    drain| /' "$NX_TMP/$label.drain" | tail -n 15 >&2
	((rc == 0)) || {
		pg_dump "$label"
		nx_log "[$label] servers: $(pg_servers_line)"
		tail -n 30 "$NX_TMP/memxd-$label.log" >&2
		((rc != 124 && rc != 137)) ||
			nx_die "[$label] memxctl drain did not finish in $DRAIN_LIMIT s"
		nx_die "[$label] memxctl drain $victim failed (exit $rc)"
	}
	nx_log "[$label] drain of $victim done in $((SECONDS - t0)) s"
	pg_wait_pause "$label" end
	pg_harness_passed "$label" || {
		pg_harness_log "$label"
		nx_die "[$label] the harness failed while $victim was drained"
	}
	pg_dump "$label"
	nx_log "[$label] at the end: $(pg_report "$label")"
	nx_log "[$label] servers: $(pg_servers_line)"
	st=$(server_stat "$victim") ||
		nx_die "[$label] memxctl stat $victim failed after the drain"
	nx_log "[$label] $victim says: $st"
	used=$(sed -n 's/.*used_pages=\([0-9]*\).*/\1/p' <<<"$st")
	[[ $used == 0 ]] ||
		nx_die "[$label] $victim still holds used_pages=$used after the drain"
	[[ $st == *leaving=1* ]] ||
		nx_die "[$label] $victim was not told to leave (its STAT says leaving=0)"
	[[ $(pg_srv "$victim" server_state) == drained ]] ||
		nx_die "[$label] $victim is '$(pg_srv "$victim" server_state)', not drained"
	(($(pg_srv "$victim" server_groups) == 0)) ||
		nx_die "[$label] $victim still has server_groups=$(pg_srv "$victim" server_groups)"
	(($(pg_vm "$label" lost_pages) == 0)) ||
		nx_die "[$label] a drain lost pages: lost_pages=$(pg_vm "$label" lost_pages)"
	nx_log "[$label] $victim: $groups groups before, 0 after; 0 used pages; leaving=1"
	pg_scenario_finish "$label"
}

# Sum of KEY over all servers in $PG_DUMP.
sum_servers()
{
	local s t=0

	for s in "${PG_SERVERS[@]}"; do
		t=$((t + $(pg_srv "$s" "$1")))
	done
	echo "$t"
}

# run_filling LABEL CAP[,CAP...]: the harness against servers of these
# sizes (srvN the Nth, the last for the rest); leaves the final dump in
# $PG_DUMP (harness paused at "end").
run_filling()
{
	local label=$1

	pg_start "$label" "$2"
	pg_dump "$label"
	pg_check_keys "$label"
	nx_log "[$label] after seq-write: $(pg_report "$label")"
	nx_log "[$label] servers: $(pg_servers_line)"
	pg_resume "$label"
	pg_wait_pause "$label" end
	pg_harness_passed "$label" || {
		pg_harness_log "$label"
		tail -n 30 "$NX_TMP/memxd-$label.log" >&2
		nx_die "[$label] the harness failed"
	}
	pg_dump "$label"
	nx_log "[$label] at the end: $(pg_report "$label")"
	nx_log "[$label] servers: $(pg_servers_line)"
	nx_log "[$label] remote: $(sum_servers server_used_pages) of $(sum_servers server_capacity_pages) pages used"
}

scenario_full()
{
	local label=full s used cap spilled evsp

	pg_scenario_begin "$label"
	run_filling "$label" "$FULL_CAP"
	for s in "${PG_SERVERS[@]}"; do
		used=$(pg_srv "$s" server_used_pages)
		cap=$(pg_srv "$s" server_capacity_pages)
		# Every server had room, so every one must have been used,
		# and filled (to within a few groups' members).
		((used * 4 >= cap * 3)) ||
			nx_die "[$label] $s holds only $used of $cap pages although the cluster filled up"
	done
	evsp=$(pg_vm "$label" evict_spilled)
	spilled=$(pg_vm "$label" spilled_pages)
	((evsp > 0 && spilled > 0)) ||
		nx_die "[$label] the cluster is full but nothing spilled (evict_spilled=$evsp spilled_pages=$spilled)"
	(($(pg_vm "$label" lost_pages) == 0)) ||
		nx_die "[$label] lost_pages=$(pg_vm "$label" lost_pages) with no server lost"
	nx_log "[$label] every server filled; the spill file took the rest: evict_spilled=$evsp spilled_pages=$spilled"
	pg_scenario_finish "$label"
}

scenario_tiny()
{
	local label=tiny used cap evsp ev rows committed

	pg_scenario_begin "$label"
	# pg_harness_start reads these: the tiny scenario's own sizes.
	local PX_SIZE=$TINY_SIZE PX_BUDGET=$TINY_BUDGET
	run_filling "$label" "$TINY_CAP,$LARGE_CAP"  # srv1 tiny, srv2..6 large
	used=$(pg_srv srv1 server_used_pages)
	cap=$(pg_srv srv1 server_capacity_pages)
	evsp=$(pg_vm "$label" evict_spilled)
	ev=$(($(pg_vm "$label" evict_clean) + $(pg_vm "$label" evict_dirty) + evsp))
	nx_log "[$label] srv1 (tiny): $used of $cap pages; evict_spilled=$evsp of $ev evictions; spilled_pages=$(pg_vm "$label" spilled_pages)"
	# Full: room for at most one more group member (M pages); a member
	# needs S other servers with room too, and those are full.  Counted
	# in the members placed on it (what placement fills), not the pages
	# used: a member's pages that were freed or never written since
	# (discards, zero pages) leave holes nobody else may take.
	rows=$(pg_vm "$label" pg_rows)
	committed=$(($(pg_srv srv1 server_groups) * rows))
	nx_log "[$label] srv1 (tiny): $(pg_srv srv1 server_groups) group members placed, $committed of $cap pages committed"
	# Its room is of use only if a whole group could still be placed:
	# S + P - 1 other servers with room for a member.  When the large
	# servers fill first (placement varies from run to run), the room
	# left on the tiny one cannot be used, and that is no fault.
	local need room=() s
	need=$(($(pg_vm "$label" pg_width) + $(pg_vm "$label" pg_parity) - 1))
	for s in "${PG_SERVERS[@]:1}"; do
		if (($(pg_srv "$s" server_capacity_pages) - \
		     $(pg_srv "$s" server_groups) * rows >= rows)); then
			room+=("$s")
		fi
	done
	nx_log "[$label] other servers with room for a group member: ${#room[@]} (${room[*]:-none}); a group needs $need besides srv1"
	((cap - committed <= rows || ${#room[@]} < need)) ||
		nx_die "[$label] the tiny server srv1 is not full: $committed of $cap pages committed ($used used), and ${#room[@]} other servers (${room[*]}) have room for a member"
	((evsp * 20 <= ev)) ||
		nx_die "[$label] too much spilled: evict_spilled=$evsp of $ev evictions (> 5%)"
	pg_scenario_finish "$label"
}

pg_require
(($# > 0)) || set -- drain full tiny
for sc in "$@"; do
	case $sc in
	drain) scenario_drain ;;
	full) scenario_full ;;
	tiny) scenario_tiny ;;
	*) nx_die "unknown scenario '$sc' (drain, full, tiny)" ;;
	esac
done
for line in "${PG_SUMMARY[@]}"; do
	nx_log "pagegroup-drain: $line"
done
nx_log "pagegroup-drain: PASS"
