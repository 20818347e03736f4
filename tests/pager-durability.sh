#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# pager-durability.sh - remote memory is as durable as local memory
# (issue 10).  Six memory servers and a client, each a network namespace;
# memxd's pager in the client with page-groups of --stripe-width 3; the
# host harness writes and verifies every byte of a region four times its
# budget.  Mid-workload, one scenario each:
#
#   partition     the client's link is cut for MX_PARTITIONS seconds
#                 (default "2 30"), once per value: memxd must say it is
#                 cut off (frozen=1), wait, and go on where it was once the
#                 link is back: nothing rebuilt, nothing lost, no server
#                 declared dead, every byte verifies.  Prints how long the
#                 first fault took to be served after the link came back.
#   flap          the busiest server's link is cut for less than --grace-s:
#                 it is down (its pages read degraded), then back; nothing
#                 is rebuilt or lost.
#   server-restart  the busiest server is killed and a fresh one started
#                 on its address at once: the fresh one lost every page
#                 (a new epoch), so its groups are rebuilt; nothing lost.
#   memxd-restart memxd is SIGKILLed three times mid-workload and stopped
#                 with SIGTERM once, and restarted each time: the harness
#                 (as QEMU does) keeps its region, registers again with the
#                 state memfd memxd left it, and every byte verifies.
#                 Prints each gap, and what each takeover replayed.
#                 memxd runs with --evict-policy refault (MX_RESTART_POLICY),
#                 whose marks in the page table the next memxd must drop:
#                 the hot set must have held pages before some restart.
#                 The harness runs MX_RESTART_ROUNDS (4) rounds of its
#                 racing phases, so that it still faults at the last
#                 restart; it fails, saying so, if it ran out before.
#   memxd-remove  memxd is stopped (SIGSTOP) and the harness discards
#                 pages as QEMU does: its madvise() waits for memxd to
#                 read the REMOVE event, and until someone does, the
#                 userfaultfd refuses to write-protect anything (EAGAIN).
#                 memxd is SIGKILLed with the event unread; the next one
#                 must read it to take the VM over, apply it (the pages
#                 read as zeros), and let the madvise return.
#   memxd-late-discard  the harness discards pages as QEMU does (punch,
#                 madvise: the REMOVE), writes them again and lets them
#                 go to the servers; memxd is SIGKILLed before the
#                 discard= that follows the REMOVE reaches it.  The next
#                 memxd must know that REMOVE (the VM's state keeps it)
#                 and leave the newer copies alone: every byte verifies.
#
# A server cut for longer than the grace is rebuilt: that is the "cut"
# scenario of tests/pagegroup-failure.sh.
#
# Usage: pager-durability.sh [partition] [flap] [server-restart]
#        [memxd-restart] [memxd-remove] [memxd-late-discard]
#        (default: all)
# Needs root and /dev/userfaultfd; skips (77) loudly without them.
# MX_SIZE / MX_BUDGET change the sizes, NX_KEEP=1 keeps the logs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
# shellcheck source=tests/lib/pagegroup-common.sh
. "$top_srcdir/tests/lib/pagegroup-common.sh"

SERVER_CAP=${MX_SERVER_CAP:-256M}
PARTITIONS=${MX_PARTITIONS:-2 30}
# Long enough that a flap is not a death; short enough for CI.
PG_GRACE=${MX_GRACE:-12}
FLAP_S=${MX_FLAP_S:-4}
FREEZE_LIMIT=15		# s until memxd must say it is cut off
RECOVERY_LIMIT=${MX_RECOVERY_LIMIT:-90}
# memxd-restart's eviction policy: refault leaves the most in the page
# table for the next memxd to take over.
RESTART_POLICY=${MX_RESTART_POLICY:-refault}

# Milliseconds since the epoch.
now_ms()
{
	date +%s%3N
}

# nothing_lost LABEL: no page or group lost, and the harness agrees.
nothing_lost()
{
	local label=$1

	(($(pg_vm "$label" lost_pages) == 0 && $(pg_vm "$label" pg_lost) == 0 &&
	  $(pg_vm "$label" lost_faults) == 0)) ||
		nx_die "[$label] memxd lost pages: $(pg_report "$label")"
	(($(pg_vm "$label" pagetable_bugs) == 0)) ||
		nx_die "[$label] pagetable_bugs=$(pg_vm "$label" pagetable_bugs)"
}

# nothing_rebuilt LABEL [STATES]: no server was declared dead, no group
# rebuilt; every server's state is in STATES (a regex, default "up").
nothing_rebuilt()
{
	local label=$1 states=${2:-up} s

	(($(pg_vm "$label" rebuilt_groups) == 0)) ||
		nx_die "[$label] groups were rebuilt: $(pg_report "$label")"
	for s in "${PG_SERVERS[@]}"; do
		[[ $(pg_srv "$s" server_state) =~ ^($states)$ ]] ||
			nx_die "[$label] $s is '$(pg_srv "$s" server_state)', not $states: $(pg_servers_line)"
		(($(pg_srv "$s" server_deaths) == 0 &&
		  $(pg_srv "$s" server_lost_sessions) == 0)) ||
			nx_die "[$label] $s: server_deaths=$(pg_srv "$s" server_deaths) server_lost_sessions=$(pg_srv "$s" server_lost_sessions)"
	done
}

# used_pages: "srv1=N srv2=N ...", what each server says it holds.
used_pages()
{
	local s

	for s in "${PG_SERVERS[@]}"; do
		printf '%s=%s ' "$s" "$(pg_ctl stat "$(nx_ip "$s")" |
			sed -n 's/.*used_pages=\([0-9]*\).*/\1/p')"
	done
}

# wait_key LABEL KEY VALUE SEC: poll the dump until the VM-wide KEY
# (a line before the first server=) is VALUE.
global_key()
{
	awk -F= -v key="$1" '$1 == "server" || $1 == "vm" { exit }
		$1 == key { print substr($0, length(key) + 2); exit }' <<<"$PG_DUMP"
}

wait_global()
{
	local label=$1 key=$2 want=$3 limit=$4 t0

	t0=$(now_ms)
	for (( ; ; )); do
		pg_dump "$label"
		[[ $(global_key "$key") == "$want" ]] && {
			nx_log "[$label] $key=$want after $(($(now_ms) - t0)) ms"
			return 0
		}
		(($(now_ms) - t0 < limit * 1000)) ||
			nx_die "[$label] $key is '$(global_key "$key")', not $want, after $limit s"
		sleep 0.05
	done
}

# first_fault_ms LABEL T0 SEC: ms from T0 until memxd served a fault from
# the network again (net_faults grew past its value at the call).
first_fault_ms()
{
	local label=$1 t0=$2 limit=$3 n0

	pg_dump "$label"
	n0=$(pg_vm "$label" net_faults)
	for (( ; ; )); do
		pg_dump "$label"
		if (($(pg_vm "$label" net_faults) > n0)); then
			echo $(($(now_ms) - t0))
			return 0
		fi
		(($(now_ms) - t0 < limit * 1000)) || {
			pg_harness_log "$label"
			nx_die "[$label] no fault served in $limit s after the network came back"
		}
		sleep 0.02
	done
}

scenario_partition()
{
	local secs=$1 label=partition-$1 before after t0 ms frozen_s s u0 u1

	pg_scenario_begin "$label"
	pg_start "$label" "$SERVER_CAP"
	pg_dump "$label"
	before=$(used_pages)
	nx_log "[$label] after seq-write: $(pg_report "$label")"
	# Mid-workload: the harness is faulting pages back in.
	pg_resume "$label"
	sleep 0.5
	nx_cut "$PG_CLIENT"
	t0=$(now_ms)
	nx_log "[$label] cut the client off the network for $secs s"
	wait_global "$label" frozen 1 "$FREEZE_LIMIT"
	pg_dump "$label"
	nx_log "[$label] frozen: $(pg_report "$label")"
	sleep "$(awk -v s="$secs" -v t="$(($(now_ms) - t0))" \
		'BEGIN { d = s - t / 1000; print (d > 0 ? d : 0) }')"
	pg_dump "$label"
	[[ $(global_key frozen) == 1 ]] ||
		nx_die "[$label] memxd thawed while still cut off"
	nothing_rebuilt "$label" 'up|unreachable'
	frozen_s=$(global_key frozen_s)
	nx_log "[$label] frozen for $frozen_s s: $(pg_servers_line)"
	nx_uncut "$PG_CLIENT"
	t0=$(now_ms)
	nx_log "[$label] restored the client's link"
	ms=$(first_fault_ms "$label" "$t0" 30)
	nx_log "[$label] first network fault served ${ms} ms after the link came back"
	wait_global "$label" frozen 0 30
	# The servers kept what they held (the verify phases free nothing).
	after=$(used_pages)
	for s in "${PG_SERVERS[@]}"; do
		u0=$(sed -n "s/.*\b$s=\([0-9]*\).*/\1/p" <<<"$before")
		u1=$(sed -n "s/.*\b$s=\([0-9]*\).*/\1/p" <<<"$after")
		((u0 > 0 && u1 * 10 >= u0 * 9)) ||
			nx_die "[$label] $s held $u0 pages before the partition, $u1 after"
	done
	pg_wait_pause "$label" end
	pg_harness_passed "$label" || {
		pg_harness_log "$label"
		nx_die "[$label] the harness failed after a $secs s partition"
	}
	pg_dump "$label"
	nx_log "[$label] at the end: $(pg_report "$label")"
	nothing_lost "$label"
	nothing_rebuilt "$label"
	grep -q "memxd is cut off" "$NX_TMP/memxd-$label.log" &&
		grep -q "memxd is reconnected" "$NX_TMP/memxd-$label.log" ||
		nx_die "[$label] memxd's log does not say it was cut off and reconnected"
	nx_log "[$label] memxd's log says:"
	grep -E "cut off|reconnected" "$NX_TMP/memxd-$label.log" | sed 's/^/    /' >&2
	nx_log "[$label] the servers held before: $before"
	nx_log "[$label] right after:             $after"
	PG_SUMMARY+=("$label: partition ${secs} s, frozen for $frozen_s s, first fault ${ms} ms after reconnection, 0 lost, 0 rebuilt")
	pg_scenario_finish "$label"
}

scenario_flap()
{
	local label=flap victim

	pg_scenario_begin "$label"
	pg_start "$label" "$SERVER_CAP"
	pg_dump "$label"
	victim=$(pg_busiest 1)
	[[ -n $victim ]] || nx_die "[$label] no server holds a group"
	pg_resume "$label"
	sleep 0.3
	nx_cut "$victim"
	nx_log "[$label] cut $victim for $FLAP_S s (grace $PG_GRACE s)"
	pg_wait_server "$label" "$victim" down 10
	sleep "$FLAP_S"
	nx_uncut "$victim"
	nx_log "[$label] restored $victim's link"
	pg_wait_server "$label" "$victim" up 10
	pg_wait_pause "$label" end
	pg_harness_passed "$label" || {
		pg_harness_log "$label"
		nx_die "[$label] the harness failed across $victim's flap"
	}
	pg_dump "$label"
	nx_log "[$label] at the end: $(pg_report "$label")"
	nothing_lost "$label"
	nothing_rebuilt "$label"
	grep -q "memory server .* is back after" "$NX_TMP/memxd-$label.log" ||
		nx_die "[$label] memxd's log does not say $victim came back"
	nx_log "[$label] $victim: degraded_reads=$(pg_vm "$label" degraded_reads) fetch_abandoned=$(pg_vm "$label" fetch_abandoned) server_down_s=$(pg_srv "$victim" server_down_s)"
	PG_SUMMARY+=("$label: $victim out for $FLAP_S s < grace $PG_GRACE s: degraded_reads=$(pg_vm "$label" degraded_reads), 0 rebuilt, 0 lost")
	pg_scenario_finish "$label"
}

scenario_server_restart()
{
	local label=server-restart victim groups

	pg_scenario_begin "$label"
	pg_start "$label" "$SERVER_CAP"
	pg_dump "$label"
	victim=$(pg_busiest 1)
	groups=$(pg_srv "$victim" server_groups)
	pg_resume "$label"
	sleep 0.3
	pg_kill "$victim"
	nx_daemon "$victim" "server-$victim" "$MEMXD" --server \
		--listen "$(nx_ip "$victim")" --capacity "$SERVER_CAP"
	nx_log "[$label] $victim ($groups groups) killed and started afresh"
	pg_wait_recovery "$label" "$RECOVERY_LIMIT"
	pg_wait_pause "$label" end
	pg_harness_passed "$label" || {
		pg_harness_log "$label"
		nx_die "[$label] the harness failed across $victim's restart"
	}
	pg_wait_recovery "$label" "$RECOVERY_LIMIT"
	nx_log "[$label] at the end: $(pg_report "$label")"
	nx_log "[$label] servers: $(pg_servers_line)"
	nothing_lost "$label"
	(($(pg_vm "$label" rebuilt_groups) > 0)) ||
		nx_die "[$label] $victim lost its pages, yet nothing was rebuilt"
	[[ $(pg_srv "$victim" server_state) == up ]] ||
		nx_die "[$label] the restarted $victim is '$(pg_srv "$victim" server_state)'"
	PG_SUMMARY+=("$label: $victim restarted empty: rebuilt_groups=$(pg_vm "$label" rebuilt_groups) rebuilt_pages=$(pg_vm "$label" rebuilt_pages), 0 lost")
	pg_scenario_finish "$label"
}

# restart_memxd LABEL SIGNAL [MEMXD ARGS...]: stop memxd with SIGNAL and
# start it again with ARGS, keeping every log.
restart_memxd()
{
	local label=$1 sig=$2 pid=${NX_PIDS[memxd-$1]}

	shift 2
	kill "-$sig" "$pid"
	wait "$pid" 2>/dev/null || true
	unset "NX_PIDS[memxd-$label]"
	cat "$NX_TMP/memxd-$label.log" >>"$NX_TMP/memxd-$label.all.log"
	rm -f "$NX_TMP/$label.sock"
	nx_log "[$label] memxd stopped with SIG$sig"
	pg_pager "$label" "$@"
}

# wait_taken_over LABEL: until memxd took the VM over again (30 s).
wait_taken_over()
{
	local label=$1 i

	for i in $(seq 300); do
		grep -q "taken over" "$NX_TMP/memxd-$label.log" && return 0
		((i < 300)) || {
			tail -n 30 "$NX_TMP/memxd-$label.log" >&2
			pg_harness_log "$label"
			nx_die "[$label] the VM was not taken over in 30 s"
		}
		sleep 0.1
	done
}

# taken_over LABEL T0: wait until memxd took the VM over again, print
# what it replayed and how long from T0 the VM went without memxd.
taken_over()
{
	local label=$1 t0=$2

	wait_taken_over "$label"
	ms=$(first_fault_ms "$label" "$t0" 30)
	pg_dump "$label"
	nx_log "[$label] taken over; first network fault served ${ms} ms after the restart began: takeover_rollbacks=$(pg_vm "$label" takeover_rollbacks) takeover_reads_dropped=$(pg_vm "$label" takeover_reads_dropped) takeover_parities=$(pg_vm "$label" takeover_parities) hot_pages=$(pg_vm "$label" hot_pages)"
	grep "taken over" "$NX_TMP/memxd-$label.log" | sed 's/^/    /' >&2
	GAPS+=("$ms")
}

scenario_memxd_restart()
{
	local label=memxd-restart sig rr t0 ms hot hot_max=0
	local -a GAPS=() HOT=()
	# The refault policy marks the page table (PT_HOT, epochs, demoted
	# pages) that the next memxd takes over: it must start clean.
	local -a args=(--evict-policy "$RESTART_POLICY")
	# Four restarts two seconds apart take about ten seconds: the
	# workload must still be faulting at the last one.  One round of the
	# racing phases ran out first at the quarter size (CI's sanitizer
	# build, 2026-12-04): each round adds about 2.5 s there.
	local MX_ROUNDS=${MX_RESTART_ROUNDS:-4}

	pg_scenario_begin "$label"
	pg_start "$label" "$SERVER_CAP" "${args[@]}"
	pg_resume "$label"
	for sig in KILL KILL TERM KILL; do
		sleep 2
		kill -0 "${NX_PIDS[harness-$label]}" 2>/dev/null || {
			pg_harness_log "$label"
			nx_die "[$label] the harness exited mid-workload"
		}
		[[ $(cat "$NX_TMP/$label.pause.ready" 2>/dev/null) != end ]] || {
			pg_harness_log "$label"
			nx_die "[$label] the workload ended before restart $((${#GAPS[@]} + 1)) of 4: nothing would fault after it (raise MX_RESTART_ROUNDS, now $MX_ROUNDS)"
		}
		pg_dump "$label"
		hot=$(pg_vm "$label" hot_pages)
		HOT+=("${hot:-0}")
		((${hot:-0} > hot_max)) && hot_max=${hot:-0}
		t0=$(now_ms)
		restart_memxd "$label" "$sig" "${args[@]}"
		taken_over "$label" "$t0"
	done
	nx_log "[$label] hot pages just before each restart ($RESTART_POLICY): ${HOT[*]}"
	[[ $RESTART_POLICY != refault ]] || ((hot_max > 0)) ||
		nx_die "[$label] no page was ever hot before a restart: the takeover of the refault policy's marks went untested"
	pg_wait_pause "$label" end
	pg_harness_passed "$label" || {
		pg_harness_log "$label"
		nx_die "[$label] the harness failed across memxd's restarts"
	}
	pg_dump "$label"
	nx_log "[$label] at the end: $(pg_report "$label")"
	nothing_lost "$label"
	nothing_rebuilt "$label"
	rr=$(sed -n 's/.* reregistered=\([0-9]*\).*/\1/p' "$NX_TMP/harness-$label.log")
	((${rr:-0} >= 4)) ||
		nx_die "[$label] the harness registered again ${rr:-0} times, not 4"
	nx_log "[$label] harness: $(grep -o 'reregistered=.*' "$NX_TMP/harness-$label.log")"
	PG_SUMMARY+=("$label: 4 restarts (3 SIGKILL, 1 SIGTERM) mid-workload, --evict-policy $RESTART_POLICY (hot pages before each: ${HOT[*]}), restart to first served fault: ${GAPS[*]} ms; 0 lost, 0 rebuilt")
	pg_scenario_finish "$label"
}

# uffd_event_waiters PID: how many threads of PID's child processes wait
# in the kernel for a userfaultfd event (a REMOVE) to be read.
uffd_event_waiters()
{
	local pid n=0 t

	for pid in $(pgrep -P "$1") "$1"; do
		for t in /proc/"$pid"/task/*; do
			grep -qs userfaultfd_event_wait_completion "$t/stack" &&
				n=$((n + 1))
		done
	done
	echo "$n"
}

scenario_memxd_remove()
{
	local label=memxd-remove pid t0 i n events

	pg_scenario_begin "$label"
	pg_net "$SERVER_CAP"
	pg_pager "$label"
	pg_harness_start "$label" verify-all-clean,end
	pg_wait_pause "$label" verify-all-clean
	pid=${NX_PIDS[memxd-$label]}
	kill -STOP "$pid"
	nx_log "[$label] memxd stopped (SIGSTOP); the harness discards next"
	pg_resume "$label"
	for i in $(seq 100); do
		n=$(uffd_event_waiters "${NX_PIDS[harness-$label]}")
		((n > 0)) && break
		((i < 100)) || {
			pg_harness_log "$label"
			nx_die "[$label] no harness thread waits on a REMOVE event after 10 s"
		}
		sleep 0.1
	done
	nx_log "[$label] $n harness thread(s) wait in madvise() for memxd to read the REMOVE event"
	t0=$(now_ms)
	restart_memxd "$label" KILL
	local -a GAPS=()
	taken_over "$label" "$t0"
	events=$(pg_vm "$label" takeover_events)
	((${events:-0} > 0)) ||
		nx_die "[$label] memxd took the VM over without reading the REMOVE event: takeover_events=${events:-none}"
	grep "event(s) while registering" "$NX_TMP/memxd-$label.log" |
		sed 's/^/    /' >&2
	n=$(uffd_event_waiters "${NX_PIDS[harness-$label]}")
	((n == 0)) || nx_die "[$label] $n harness thread(s) still wait on a REMOVE event"
	pg_wait_pause "$label" end
	pg_harness_passed "$label" || {
		pg_harness_log "$label"
		nx_die "[$label] the harness failed across the unread REMOVE"
	}
	pg_dump "$label"
	nx_log "[$label] at the end: $(pg_report "$label")"
	nothing_lost "$label"
	nothing_rebuilt "$label"
	PG_SUMMARY+=("$label: memxd killed with a REMOVE unread; the next one read $events event(s) while registering, first fault ${GAPS[*]} ms after the restart; the discarded pages read as zeros; 0 lost")
	pg_scenario_finish "$label"
}

scenario_memxd_late_discard()
{
	local label=memxd-late-discard kept n

	pg_scenario_begin "$label"
	pg_net "$SERVER_CAP"
	pg_pager "$label"
	pg_harness_start "$label" late-discard-pending,late-discard,end
	pg_wait_pause "$label" late-discard-pending
	grep "late-discard:" "$NX_TMP/harness-$label.log" | sed 's/^/    /' >&2
	# The pages the REMOVE freed, which the guest wrote again since.
	n=$(sed -n 's/.*late-discard: [0-9]* of \([0-9]*\) pages.*/\1/p' \
		"$NX_TMP/harness-$label.log")
	restart_memxd "$label" KILL
	wait_taken_over "$label"
	grep "taken over" "$NX_TMP/memxd-$label.log" | sed 's/^/    /' >&2
	pg_resume "$label"
	pg_wait_pause "$label" late-discard
	pg_dump "$label"
	kept=$(pg_vm "$label" discard_after_remove)
	((${kept:-0} == ${n:-0} && ${n:-0} > 0)) || {
		pg_harness_log "$label"
		nx_die "[$label] the next memxd left ${kept:-none} pages of the late discard= alone, not the ${n:-?} the REMOVE before it freed"
	}
	pg_resume "$label"
	pg_wait_pause "$label" end
	pg_harness_passed "$label" || {
		pg_harness_log "$label"
		nx_die "[$label] the discard= after the restart freed what the guest wrote after its REMOVE"
	}
	pg_dump "$label"
	nx_log "[$label] at the end: $(pg_report "$label")"
	nothing_lost "$label"
	nothing_rebuilt "$label"
	PG_SUMMARY+=("$label: memxd killed between a REMOVE and its discard=; the next one left the $kept pages written since alone; every byte verified")
	pg_scenario_finish "$label"
}

pg_require
(($# > 0)) || set -- partition flap server-restart memxd-restart memxd-remove \
	memxd-late-discard
for sc in "$@"; do
	case $sc in
	partition)
		for s in $PARTITIONS; do
			scenario_partition "$s"
		done ;;
	flap) scenario_flap ;;
	server-restart) scenario_server_restart ;;
	memxd-restart) scenario_memxd_restart ;;
	memxd-remove) scenario_memxd_remove ;;
	memxd-late-discard) scenario_memxd_late_discard ;;
	*) nx_die "unknown scenario '$sc' (partition, flap, server-restart, memxd-restart, memxd-remove, memxd-late-discard)" ;;
	esac
done
for line in "${PG_SUMMARY[@]}"; do
	nx_log "pager-durability: $line"
done
nx_log "pager-durability: PASS"
