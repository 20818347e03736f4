#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# pagegroup-failure.sh - page-groups survive the loss of a memory server
# (issue 5).  Six memory servers and a client, each a network namespace;
# memxd's pager with --stripe-width 3 (each group: 3 data servers + 1
# parity); the host harness writes and verifies every byte of a 64 MiB
# region on a 16 MiB budget.  After its first write phase has evicted
# pages to the servers, one scenario each:
#
#   kill    SIGKILL the server holding the most groups while the harness
#           reads its pages back: every byte verifies (degraded reads),
#           recovery finishes, the dead server holds no group any more;
#           the rest of the workload then reads the rebuilt groups.
#   cut     the same, with the server's link cut instead (the process
#           lives on); then the link is restored and the server must come
#           back up without breaking anything.
#   degraded  recovery paused (--recovery-mibps 0) and the busiest server
#           killed: the whole rest of the workload reads its pages by
#           degraded reads (degraded_reads > 0) and writes them to the
#           spill file, and every byte verifies; nothing is rebuilt and
#           nothing is lost.
#   double  two servers killed at the same moment: the groups that had a
#           member on both are lost.  memxd stays up, says so loudly with
#           the GPAS ranges, poisons the lost pages (the harness gets
#           SIGBUS, --lost-ok counts them: every one must be in memxd's
#           lost_range lines, and nothing may read back wrong); groups
#           that lost one member are rebuilt.
#   mtu     no server lost: every link's MTU raised from 1500 to 9000
#           while the harness pauses after its first write phase, and
#           lowered to 1500 again after it has read back, under memxd and
#           the servers: each end must find each change itself (memxd
#           logs it for every server, every server for memxd), count it
#           (memxctl dump and stat), and every byte verifies at both
#           MTUs.
#
# Usage: pagegroup-failure.sh [kill] [cut] [degraded] [double] [mtu]
#        (default: $MX_FAILURE_SCENARIOS, comma-separated, or all)
# MX_DOUBLE="srvX srvY" picks the pair the double scenario kills (default:
# the two holding the most groups).
# Needs root and /dev/userfaultfd; skips (77) loudly without them.
# MX_SIZE / MX_BUDGET change the sizes, NX_KEEP=1 keeps the logs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
# shellcheck source=tests/lib/pagegroup-common.sh
. "$top_srcdir/tests/lib/pagegroup-common.sh"

SERVER_CAP=${MX_SERVER_CAP:-256M}
DEAD_LIMIT=${MX_DEAD_LIMIT:-30}		# s until memxd calls a server dead
RECOVERY_LIMIT=${MX_RECOVERY_LIMIT:-60}	# s until recovery is done


# kill or cut: one server lost mid-workload.
scenario_single()
{
	local mode=$1 label=$1 victim groups rebuilt deg st

	pg_scenario_begin "$label"
	pg_net "$SERVER_CAP"
	pg_pager "$label"
	pg_harness_start "$label" seq-write,strided-verify,end
	pg_wait_pause "$label" seq-write
	pg_dump "$label"
	pg_check_keys "$label"
	nx_log "[$label] after seq-write: $(pg_report "$label")"
	nx_log "[$label] servers: $(pg_servers_line)"
	victim=$(pg_busiest 1)
	[[ -n $victim ]] ||
		nx_die "[$label] no server holds a group after the first write phase"
	groups=$(pg_srv "$victim" server_groups)
	((groups > 0)) || nx_die "[$label] $victim holds no group"

	# Mid-workload: the harness is reading its pages back.
	pg_resume "$label"
	sleep 0.3
	if [[ $mode == kill ]]; then
		pg_kill "$victim"
	else
		nx_cut "$victim"
		nx_log "[$label] cut $victim ($(nx_ip "$victim")) off the network"
	fi
	nx_log "[$label] lost $victim, which held $groups groups"
	pg_wait_pause "$label" strided-verify
	pg_wait_server "$label" "$victim" dead "$DEAD_LIMIT"
	pg_wait_recovery "$label" "$RECOVERY_LIMIT"
	nx_log "[$label] after recovery: $(pg_report "$label")"
	nx_log "[$label] servers: $(pg_servers_line)"
	# The rest of the workload reads and rewrites the rebuilt groups.
	pg_resume "$label"
	pg_wait_pause "$label" end
	pg_harness_passed "$label" || {
		pg_harness_log "$label"
		nx_die "[$label] the harness failed after $victim was lost"
	}
	pg_dump "$label"
	nx_log "[$label] at the end: $(pg_report "$label")"
	nx_log "[$label] servers: $(pg_servers_line)"
	st=$(pg_srv "$victim" server_state)
	[[ $st == dead ]] || nx_die "[$label] $victim is '$st', not dead"
	pg_prom_server "$label" "$victim" dead
	(($(pg_srv "$victim" server_groups) == 0)) ||
		nx_die "[$label] $victim (dead) still has server_groups=$(pg_srv "$victim" server_groups)"
	rebuilt=$(pg_vm "$label" rebuilt_groups)
	((rebuilt > 0)) || nx_die "[$label] nothing rebuilt (rebuilt_groups=$rebuilt)"
	(($(pg_vm "$label" lost_pages) == 0 && $(pg_vm "$label" pg_lost) == 0)) ||
		nx_die "[$label] one server lost, yet memxd reports lost_pages=$(pg_vm "$label" lost_pages) pg_lost=$(pg_vm "$label" pg_lost)"
	(($(pg_vm "$label" recovery_pending) == 0 && $(pg_vm "$label" pg_degraded) == 0)) ||
		nx_die "[$label] recovery undone again: $(pg_report "$label")"
	deg=$(pg_vm "$label" degraded_reads)
	if ((deg > 0)); then
		nx_log "[$label] degraded_reads=$deg: pages were rebuilt on the fly"
	else
		nx_log "[$label] NOTE: degraded_reads=0: every page of $victim was rebuilt before the harness read it"
	fi
	nx_log "[$label] $victim: $groups groups before, 0 after; rebuilt_groups=$rebuilt rebuilt_pages=$(pg_vm "$label" rebuilt_pages)"

	if [[ $mode == cut ]]; then
		nx_uncut "$victim"
		nx_log "[$label] restored $victim's link"
		pg_wait_server "$label" "$victim" up "$DEAD_LIMIT"
		nx_log "[$label] servers: $(pg_servers_line)"
		pg_prom_server "$label" "$victim" up
		nx_log "[$label] memxd log about $(nx_ip "$victim"):"
		grep -F "$(nx_ip "$victim")" "$NX_TMP/memxd-$label.log" |
			tail -n 8 | sed 's/^/    /' >&2 || true
	fi
	pg_scenario_finish "$label"
}

# degraded: no recovery at all; the guest's reads of a dead server's
# pages are all degraded reads, and it does not stop.
scenario_degraded()
{
	local label=degraded victim groups deg

	pg_scenario_begin "$label"
	pg_net "$SERVER_CAP"
	pg_pager "$label" --recovery-mibps 0
	pg_harness_start "$label" seq-write,end
	pg_wait_pause "$label" seq-write
	pg_dump "$label"
	victim=$(pg_busiest 1)
	[[ -n $victim ]] ||
		nx_die "[$label] no server holds a group after the first write phase"
	groups=$(pg_srv "$victim" server_groups)
	pg_kill "$victim"
	pg_wait_server "$label" "$victim" dead "$DEAD_LIMIT"
	nx_log "[$label] $victim ($groups groups) is dead; recovery is paused"
	pg_resume "$label"
	pg_wait_pause "$label" end
	pg_harness_passed "$label" || {
		pg_harness_log "$label"
		nx_die "[$label] the harness failed on degraded reads"
	}
	pg_dump "$label"
	nx_log "[$label] at the end: $(pg_report "$label")"
	deg=$(pg_vm "$label" degraded_reads)
	((deg > 0)) || nx_die "[$label] no degraded read served the dead server's pages"
	(($(pg_vm "$label" rebuilt_groups) == 0)) ||
		nx_die "[$label] groups were rebuilt though recovery was paused"
	(($(pg_vm "$label" recovery_pending) > 0)) ||
		nx_die "[$label] no group waits for recovery though $victim is dead"
	(($(pg_vm "$label" lost_pages) == 0 && $(pg_vm "$label" pg_lost) == 0)) ||
		nx_die "[$label] pages lost with one server dead: $(pg_report "$label")"
	nx_log "[$label] every byte verified with $victim dead and nothing rebuilt:" \
		"degraded_reads=$deg evict_spilled=$(pg_vm "$label" evict_spilled)"
	pg_scenario_finish "$label"
}

scenario_double()
{
	local label=double a b ga gb lost_h lost_m pglost single rebuilt

	pg_scenario_begin "$label"
	pg_net "$SERVER_CAP"
	pg_pager "$label"
	# No discard: a discarded lost page is legitimately no longer lost.
	pg_harness_start "$label" seq-write,end --lost-ok --no-discard
	pg_wait_pause "$label" seq-write
	pg_dump "$label"
	pg_check_keys "$label"
	nx_log "[$label] after seq-write: $(pg_report "$label")"
	nx_log "[$label] servers: $(pg_servers_line)"
	if [[ -n ${MX_DOUBLE:-} ]]; then
		read -r a b <<<"$MX_DOUBLE"
	else
		read -r a b <<<"$(pg_busiest 2 | tr '\n' ' ')"
	fi
	[[ -n $a && -n $b ]] ||
		nx_die "[$label] fewer than two servers hold groups after the first write phase"
	ga=$(pg_srv "$a" server_groups)
	gb=$(pg_srv "$b" server_groups)
	# With 6 servers and groups on 4 of them, two servers that hold
	# groups share some: pg_lost > 0 below proves it.
	pg_kill "$a" "$b"
	pg_resume "$label"
	pg_wait_server "$label" "$a" dead "$DEAD_LIMIT"
	pg_wait_server "$label" "$b" dead "$DEAD_LIMIT"
	pg_wait_pause "$label" end
	pg_dump "$label"
	nx_log "[$label] harness done: $(grep -E '^lost_pages=|^host-harness: (PASS|FAIL)' \
		"$NX_TMP/harness-$label.log" | tr '\n' ' ')"
	pg_harness_passed "$label" || {
		pg_harness_log "$label"
		nx_die "[$label] the harness failed (wrong data, or a crash) with two servers lost"
	}
	pg_wait_recovery "$label" "$RECOVERY_LIMIT"
	nx_log "[$label] at the end: $(pg_report "$label")"
	nx_log "[$label] servers: $(pg_servers_line)"
	nx_log "[$label] memxd's lost ranges: $(pg_vm "$label" lost_range | head -n 20 | tr '\n' ' ')"
	lost_h=$(sed -n 's/^lost_pages=//p' "$NX_TMP/harness-$label.log")
	lost_m=$(pg_vm "$label" lost_pages)
	pglost=$(pg_vm "$label" pg_lost)
	((${lost_h:-0} > 0)) ||
		nx_die "[$label] the harness met no lost page (no SIGBUS) though $a and $b died"
	((lost_m > 0 && pglost > 0)) ||
		nx_die "[$label] memxd reports lost_pages=$lost_m pg_lost=$pglost after $a and $b died"
	[[ -n $(pg_vm "$label" lost_range) ]] ||
		nx_die "[$label] memxd's dump has no lost_range lines"
	pg_lost_covered "$label" ||
		nx_die "[$label] the harness lost pages memxd does not report as lost"
	nx_log "[$label] the harness's $lost_h lost pages are all in memxd's lost_range lines ($lost_m lost pages, $pglost groups)"
	# A group with a member on both is lost; one on either alone lost
	# one member and must have been rebuilt.
	single=$((ga + gb - 2 * pglost))
	rebuilt=$(pg_vm "$label" rebuilt_groups)
	nx_log "[$label] $a held $ga groups, $b $gb: $pglost lost both, $single lost one; rebuilt_groups=$rebuilt"
	((rebuilt >= single)) ||
		nx_die "[$label] only $rebuilt of the $single groups that lost one member were rebuilt"
	((single > 0)) ||
		nx_log "[$label] NOTE: $a and $b share every group they hold (placement pairs them), so no group lost just one member: the rebuild of single losses was not exercised (try MX_DOUBLE='srvX srvY')"
	grep -iE 'lost' "$NX_TMP/memxd-$label.log" |
		grep -E '[0-9]+ ?(-|\.\.) ?[0-9]+' >"$NX_TMP/$label.lostlog" || true
	[[ -s $NX_TMP/$label.lostlog ]] || {
		tail -n 40 "$NX_TMP/memxd-$label.log" >&2
		nx_die "[$label] memxd's log names no lost GPAS range"
	}
	nx_log "[$label] memxd's log says:"
	head -n 5 "$NX_TMP/$label.lostlog" | sed 's/^/    /' >&2
	pg_scenario_finish "$label"
}

# mtu_found LABEL NEW OLD: memxd and every server have logged the route
# between them found at MTU NEW, where it was OLD (30 s at most: a route
# is looked at again every 5 s, and heartbeats go both ways meanwhile).
mtu_found()
{
	local label=$1 new=$2 old=$3 t0=$SECONDS s n missing
	local say="the route's MTU is now $new (was $old)"

	for (( ; ; )); do
		missing=
		n=$(grep -c "memory server .*: $say" "$NX_TMP/memxd-$label.log" || true)
		((n >= ${#PG_SERVERS[@]})) || missing="memxd ($n of ${#PG_SERVERS[@]} servers)"
		for s in "${PG_SERVERS[@]}"; do
			grep -q "client $(nx_ip "$PG_CLIENT"):[0-9]*: $say" \
				"$NX_TMP/server-$s.log" || missing+=" $s"
		done
		[[ -z $missing ]] && break
		((SECONDS - t0 < 30)) || {
			grep -h "MTU" "$NX_TMP/memxd-$label.log" \
				"$NX_TMP"/server-*.log >&2 || true
			nx_die "[$label] MTU $old -> $new: not found in 30 s by$missing"
		}
		sleep 0.2
	done
	nx_log "[$label] MTU $old -> $new found by memxd (every server) and every server in $((SECONDS - t0)) s"
}

# mtu: every link's MTU changed twice under a running VM.
scenario_mtu()
{
	local label=mtu s n line

	pg_scenario_begin "$label"
	pg_net "$SERVER_CAP"
	pg_pager "$label"
	pg_harness_start "$label" seq-write,strided-verify,end
	pg_wait_pause "$label" seq-write
	nx_net_mtu 9000
	nx_log "[$label] every link raised to MTU 9000 under memxd and the servers"
	mtu_found "$label" 9000 1500
	pg_resume "$label"
	pg_wait_pause "$label" strided-verify
	nx_net_mtu 1500
	nx_log "[$label] every link lowered to MTU 1500 again"
	mtu_found "$label" 1500 9000
	pg_resume "$label"
	pg_wait_pause "$label" end
	pg_memxd_alive "$label"
	pg_dump "$label"
	n=$(sed -n 's/^rmap_mtu_changes=//p' <<<"$PG_DUMP" | head -n1)
	((${n:-0} >= 2 * ${#PG_SERVERS[@]})) ||
		nx_die "[$label] memxctl dump: rmap_mtu_changes=${n:-none}, not at least $((2 * ${#PG_SERVERS[@]}))"
	for s in "${PG_SERVERS[@]}"; do
		line=$(pg_ctl stat "$(nx_ip "$s")") ||
			nx_die "[$label] memxctl stat $s failed"
		n=$(sed -n 's/.* rmap_mtu_changes=\([0-9]*\).*/\1/p' <<<"$line")
		((${n:-0} >= 2)) ||
			nx_die "[$label] memxctl stat $s: rmap_mtu_changes=${n:-none}, not at least 2: $line"
	done
	nx_log "[$label] memxd counted $((2 * ${#PG_SERVERS[@]})) or more route MTU changes, every server 2 or more (memxctl dump, stat)"
	pg_scenario_finish "$label"
}

pg_require
scenarios=${MX_FAILURE_SCENARIOS:-kill,cut,degraded,double,mtu}
# shellcheck disable=SC2086 # a list of words
(($# > 0)) || set -- ${scenarios//,/ }
for sc in "$@"; do
	case $sc in
	kill|cut) scenario_single "$sc" ;;
	degraded) scenario_degraded ;;
	double) scenario_double ;;
	mtu) scenario_mtu ;;
	*) nx_die "unknown scenario '$sc' (kill, cut, degraded, double, mtu)" ;;
	esac
done
for line in "${PG_SUMMARY[@]}"; do
	nx_log "pagegroup-failure: $line"
done
nx_log "pagegroup-failure: PASS"
