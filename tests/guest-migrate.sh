#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck disable=SC2016 # conditions are eval'd when polled
#
# guest-migrate.sh - live migration of a running guest between two client
# hosts.  Two memory servers and two clients, "client" (the source) and
# "client2" (the destination), each a network namespace on one bridge,
# each client with its own key (allowed by both servers), run directory
# and memxd (tests/lib/migrate-common.sh).  The test guest, with 1 GiB of
# guest RAM, sorts MG_QSORT_MIB MiB (CI-sized: tens of seconds of sorting
# under TCG); once the sort has printed progress, the
# source QEMU migrates it live (precopy, capability return-path on, so
# that the source learns when the destination fails to load) over TCP to
# a QEMU in client2 started with the same machine and -incoming defer.
# Four cases, each a guest of its own (and a fifth with memx):
#   live      the migration completes; the source is stopped (`postmigrate`)
#             and quit, status 0; the destination runs, the guest finishes
#             its sort there, the sort verifies (every word, and the
#             checksum), the guest's result is PASS and QEMU exits by
#             itself, status 0.  The guest booted once (the destination's
#             console has no boot lines) and the consoles join up: the
#             source's has no result, and the sort's progress goes on
#             rising in the destination's where the source's stopped.
#   cancel    migrate_cancel while the migration is active (a slower link,
#             MG_SLOW_MIBPS): the migration ends "cancelled", the
#             destination QEMU exits with an error, the source keeps
#             running, its sort verifies and it exits by itself, status 0.
#   kill-dst  the destination QEMU is SIGKILLed while the migration is
#             active: the migration ends "failed", the source keeps
#             running, its sort verifies and it exits by itself, status 0.
#   bad-dst   the source has a device (virtio-rng-pci) the destination
#             lacks, so the destination fails to load the device state,
#             which comes after all of RAM: through the return path the
#             source learns it, the migration ends "failed" (without the
#             return path QEMU 7.2 calls it "completed" and leaves the
#             guest stopped), the destination exits with an error, the
#             source runs on, its sort verifies, it exits with status 0.
# Prints the migration's progress every second (status, MiB transferred
# and remaining, dirty pages rate) and its totals at the end (total time,
# downtime, bytes transferred).
#
# The guest's RAM is on MG_BACKEND: memx (the default: memory-backend-memx,
# MG_BUDGET local; the source QEMU on the source's memxd, the destination
# QEMU on the destination's; qemu-patches/0007) or memfd (plain local RAM,
# no memxd: the same scenario as QEMU migrates any RAM).  With memx the
# test also checks that:
#   - each memxd holds the VM exactly while a QEMU of its host runs it:
#     none left behind by a quit source, a cancelled, killed or failed
#     destination, or a guest that ended;
#   - live: the remote pages stayed where they were.  The source's
#     report (memxd's --report-dir, memxctl migrations) shows remote
#     pages left in place (> 0) and the pages QEMU skipped (> 0); on each
#     memory server the VM's session was moved to the destination's key
#     (its log says so) and the destination opened no session of its
#     own: no page was sent to a server again.  The destination's
#     memxctl migrations shows the VM arrived and runs;
#   - bad-dst: the destination failed after the handoff (the device
#     state comes after memx's own section), so the source took the VM
#     back from its memxd, sessions and all (the source's record says
#     "taken back");
#   - postcopy: the destination refuses the postcopy-ram capability,
#     saying why (memxd holds guest RAM's userfaultfd).
# Needs qemu-patches/0006 under TCG: QEMU 7.2 loses writes in precopy
# without it.
#
# Environment: MG_BACKEND, MG_BUDGET, MG_CAPS (more capabilities),
# MG_QSORT_MIB (memx 400: more than the budget, so that pages are remote
# as it migrates; memfd 200), MG_FAIL_QSORT_MIB (the sort of cancel,
# kill-dst and bad-dst, whose guests finish on the source after their
# migration acted: memx 320, still over the budget; memfd as live's),
# MG_CASES ("live cancel kill-dst bad-dst", and postcopy with memx),
# MG_LIVE_MIBPS (max-bandwidth of live and bad-dst, MiB/s,
# default 1024), MG_SLOW_MIBPS (of cancel and kill-dst, default 32, QEMU
# 7.2's own default: the migration stays active for seconds),
# MG_ACT_MIB (cancel and kill-dst act once this much was sent, default
# 16), GX_ACCEL, NX_KEEP=1.  Skips (77) only without root or
# /dev/userfaultfd.  With memx, about four minutes here (226 s: 65 for
# live, 51-57 for each failed migration).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
MG_BACKEND=${MG_BACKEND:-memx}
# shellcheck source=tests/lib/guest-common.sh
. "$top_srcdir/tests/lib/guest-common.sh"
# shellcheck source=tests/lib/migrate-common.sh
. "$top_srcdir/tests/lib/migrate-common.sh"

if [[ $MG_BACKEND == memx ]]; then
	MG_QSORT_MIB=${MG_QSORT_MIB:-400}
	MG_FAIL_QSORT_MIB=${MG_FAIL_QSORT_MIB:-320}
	MG_CASES=${MG_CASES:-live cancel kill-dst bad-dst postcopy}
else
	MG_QSORT_MIB=${MG_QSORT_MIB:-200}
	MG_FAIL_QSORT_MIB=${MG_FAIL_QSORT_MIB:-$MG_QSORT_MIB}
	MG_CASES=${MG_CASES:-live cancel kill-dst bad-dst}
fi
MG_LIVE_MIBPS=${MG_LIVE_MIBPS:-1024}
MG_SLOW_MIBPS=${MG_SLOW_MIBPS:-32}
MG_ACT_MIB=${MG_ACT_MIB:-16}
port=4444

gx_require
gx_build
mg_setup 2G
mg_memxd_start "$MG_SRC"
mg_memxd_start "$MG_DST"
nx_log "QEMU: $QEMU; guest: $GUEST; accel: $GX_ACCEL; backend: $MG_BACKEND;" \
	"memxd sockets: ${MG_SOCK[$MG_SRC]} (source), ${MG_SOCK[$MG_DST]} (destination)"

count() { grep -c -- "$1" "$2" || true; }
# memx_vms WHAT HOST WANT: with memx, HOST's memxd comes to hold WANT VMs.
memx_vms()
{
	local what=$1 host=$2 want=$3 n

	[[ $MG_BACKEND == memx ]] || return 0
	gx_wait_for 10 '[[ $(mg_vms "$host") == "$want" ]]' || true
	n=$(mg_vms "$host")
	gx_check "$what: $host's memxd holds $n VM(s) (want $want)" "[[ '$n' == '$want' ]]"
}
# The sort's progress percentages in a console log, one a line.
progress() { sed -n 's/^qsort: sort \([0-9]*\)%.*/\1/p' "$NX_TMP/$1.log"; }

# The size of the sort of the case that runs (MG_QSORT_MIB or
# MG_FAIL_QSORT_MIB): boot, incoming and finish use it.
sort_mib=$MG_QSORT_MIB

# boot NAME [QEMU ARGS...]: the guest in the source host, sorting;
# returns once the sort printed progress (its first line comes after the
# first partitions, some way into the sort).  The destination is started
# before, so that only the migration runs in what is left of the sort.
boot()
{
	local name=$1 log=$NX_TMP/$1.log pid

	shift
	mg_qemu_args "$MG_SRC" 1G "qsort:$sort_mib"
	mg_qemu_start "$MG_SRC" "$name" 1800 "$@"
	pid=${NX_PIDS[qemu-$name]}
	nx_log "[$name] booting in $MG_SRC: 1 GiB guest RAM ($MG_BACKEND), qsort of $sort_mib MiB"
	gx_wait_for 900 "grep -q '^qsort: sort ' '$log' || ! kill -0 $pid 2>/dev/null" || true
	grep -q '^qsort: sort ' "$log" || {
		tail -n 20 "$log" >&2
		nx_die "[$name] the guest's sort printed no progress"
	}
	nx_log "[$name] sorting: $(grep '^qsort: generated' "$log"), $(grep '^qsort: sort' "$log" | tail -n1)"
}

# migrate SRC DST MIBPS: mg_migrate, unless SRC's sort is over already.
migrate()
{
	if grep -q '^qsort: mib=' "$NX_TMP/$1.log" || ! kill -0 "${NX_PIDS[qemu-$1]}" 2>/dev/null; then
		nx_die "[$1] the guest finished its sort before it could be migrated (a slow or busy machine? raise MG_QSORT_MIB or MG_FAIL_QSORT_MIB)"
	fi
	MG_MIBPS=$3 mg_migrate "$1" "$2"
}

# incoming NAME: the destination QEMU, the same machine, in client2.
incoming()
{
	mg_qemu_args "$MG_DST" 1G "qsort:$sort_mib"
	mg_qemu_incoming "$MG_DST" "$1" 1800 "$port"
	port=$((port + 1))
}

# finish NAME WHAT: NAME's guest finishes its sort and QEMU exits by itself.
finish()
{
	local name=$1 log=$NX_TMP/$1.log

	gx_wait_result "$name" 900
	mg_qemu_wait "$name" 60
	gx_check "[$name] QEMU exited by itself, status $MG_RC (want 0)" "((MG_RC == 0))"
	gx_check "[$name] $2: $(grep -o '^qsort: mib=.*' "$log" || echo 'no result')" \
		"grep -q '^qsort: mib=$sort_mib .*verify=ok' '$log'"
	gx_check "[$name] guest result PASS" "grep -q 'MEMX-GUEST-RESULT: PASS' '$log'"
}

fail_logs()
{
	local n

	for n in "$@"; do
		printf -- '---- %s.log, last 15 lines ----\n' "$n" >&2
		tail -n 15 "$NX_TMP/$n.log" >&2
	done
	nx_die "$1: migration checks failed"
}

# act_when_active NAME: poll the migration until MG_ACT_MIB were sent;
# dies unless it is still active then.
act_when_active()
{
	mg_migrate_wait "$1" 120 "((MG_MIG_RAM_TRANSFERRED >= $MG_ACT_MIB << 20))" ||
		nx_die "[$1] the migration did not reach $MG_ACT_MIB MiB sent"
	if [[ $MG_MIG_STATUS != active ]] || ((MG_MIG_RAM_REMAINING == 0)); then
		nx_die "[$1] the migration is $MG_MIG_STATUS before the test could act (lower MG_SLOW_MIBPS or MG_ACT_MIB)"
	fi
}

# live, with memx: the remote pages stayed where they were.
memx_left_in_place()
{
	local remote skipped srv opened moved dst_ip

	[[ $MG_BACKEND == memx ]] || return 0
	gx_wait_for 10 '[[ -n $(mg_report_val "$MG_SRC" out qemu_status) ]]' || true
	remote=$(mg_report_val "$MG_SRC" out remote_pages)
	skipped=$(mg_report_val "$MG_SRC" out memx_pages_skipped)
	gx_check "[live] the source's report: ${remote:-no} remote pages ($(mg_report_val "$MG_SRC" out remote_mib) MiB) left in place, ${skipped:-no} pages QEMU skipped, QEMU says $(mg_report_val "$MG_SRC" out qemu_status)" \
		"((${remote:-0} > 0 && ${skipped:-0} > 0)) && [[ $(mg_report_val "$MG_SRC" out qemu_status) == completed ]]"
	gx_check "[live] memxctl migrations on the source shows it handed over" \
		"grep -q 'status=handed-over' <<<\"\$('$MEMXCTL' --socket '${MG_SOCK[$MG_SRC]}' migrations)\""
	gx_check "[live] memxctl migrations on the destination shows it arrived and runs" \
		"grep -q 'status=running' <<<\"\$('$MEMXCTL' --socket '${MG_SOCK[$MG_DST]}' migrations)\""
	dst_ip=$(nx_ip "$MG_DST")
	for srv in "${GX_SERVERS[@]}"; do
		moved=$(count "moved from client .* to client .* at $dst_ip:" "$NX_TMP/server-$srv.log")
		opened=$(count "opened by $dst_ip:" "$NX_TMP/server-$srv.log")
		gx_check "[live] memory server $srv: the VM's session moved to the destination ($moved), which opened none ($opened): no page sent again" \
			"((moved == 1 && opened == 0))"
	done
}

GX_FAIL=0
summary=()
t_all=$SECONDS

# source_runs_on CASE SRC DST: the migration did not happen; the source
# runs on, and with memx its memxd keeps the VM and DST's does not.
source_runs_on()
{
	local c=$1 s=$2 d=$3 st

	st=$(mg_status "$s")
	gx_check "[$c] the source runs on: $st (want running)" "[[ $st == running ]]"
	# Not running, it would never finish its sort: stop here.
	[[ $st == running ]] || fail_logs "$s" "$d"
	memx_vms "[$c] the destination's memxd let its VM go" "$MG_DST" 0
	memx_vms "[$c] the source keeps the VM" "$MG_SRC" 1
}

# source_finishes CASE SRC DST T0: the guest's sort verifies on the
# source, which exits by itself; the case ends.
source_finishes()
{
	local c=$1 s=$2 d=$3 t0=$4

	finish "$s" "the sort verified on the source"
	memx_vms "[$c] the guest ended" "$MG_SRC" 0
	nx_log "[$c] done in $((SECONDS - t0)) s"
	((GX_FAIL == 0)) || fail_logs "$s" "$d"
}

case_live()
{
	local s=live-src d=live-dst t0 st_src st_dst a b

	t0=$SECONDS
	sort_mib=$MG_QSORT_MIB
	incoming "$d"
	boot "$s"
	migrate "$s" "$d" "$MG_LIVE_MIBPS"
	mg_migrate_wait "$s" 600 || true
	mg_migrate_summary "$s"
	summary+=("live: $MG_MIG_STATUS in $MG_MIG_TOTAL_TIME ms, downtime $MG_MIG_DOWNTIME ms, $(mg_mib "$MG_MIG_RAM_TRANSFERRED") MiB transferred, $MG_MIG_RAM_DIRTY_SYNC_COUNT passes")
	[[ $MG_MIG_STATUS == completed ]] || {
		GX_FAIL=1
		nx_log "FAIL: [live] the migration ended '$MG_MIG_STATUS', not completed"
		grep -q '^qsort: mib=' "$NX_TMP/$s.log" &&
			nx_log "[live] the guest finished its sort on the source before the migration did (a slow or busy machine? raise MG_QSORT_MIB or MG_FAIL_QSORT_MIB)"
		fail_logs "$s" "$d"
	}
	st_src=$(mg_status "$s")
	st_dst=$(mg_status "$d")
	gx_check "[live] the source is stopped: $st_src (want postmigrate)" "[[ $st_src == postmigrate ]]"
	gx_check "[live] the destination runs: $st_dst (want running)" "[[ $st_dst == running ]]"
	[[ $st_dst == running ]] || fail_logs "$s" "$d"
	mg_quit "$s" 30
	gx_check "[live] the source quit, status $MG_RC (want 0)" "((MG_RC == 0))"
	memx_vms "[live] the quit source let the VM go" "$MG_SRC" 0
	memx_vms "[live] the destination runs the VM" "$MG_DST" 1
	gx_check "[live] the guest did not finish on the source" \
		"! grep -q -e '^qsort: mib=' -e 'MEMX-GUEST-RESULT' '$NX_TMP/$s.log'"
	memx_left_in_place
	finish "$d" "the sort verified on the destination"
	memx_vms "[live] the guest ended" "$MG_DST" 0
	gx_check "[live] the guest booted once (no boot lines on the destination)" \
		"(($(count 'MEMX-GUEST: kernel' "$NX_TMP/$d.log") == 0 && $(count 'MEMX-GUEST: kernel' "$NX_TMP/$s.log") == 1))"
	a=$(progress "$s" | tr '\n' ' ')
	b=$(progress "$d" | tr '\n' ' ')
	gx_check "[live] the sort's progress rises from the source's console (${a% }) into the destination's (${b% })" \
		"[[ -n '$b' ]] && printf '%s\n' $a $b | awk 'NR > 1 && \$1 <= p { exit 1 } { p = \$1 }'"
	nx_log "[live] done in $((SECONDS - t0)) s"
	((GX_FAIL == 0)) || fail_logs "$s" "$d"
}

case_cancel()
{
	local s=cancel-src d=cancel-dst t0

	t0=$SECONDS
	sort_mib=$MG_FAIL_QSORT_MIB
	incoming "$d"
	boot "$s"
	migrate "$s" "$d" "$MG_SLOW_MIBPS"
	act_when_active "$s"
	nx_log "[cancel] migrate_cancel"
	gx_qmp "${MG_QMP[$s]}" migrate_cancel >/dev/null
	mg_migrate_wait "$s" 60 || true
	mg_migrate_summary "$s"
	summary+=("cancel: $MG_MIG_STATUS; before, $MG_MIG_LAST_TIME ms in, $(mg_mib "$MG_MIG_LAST_TRANSFERRED") MiB transferred")
	gx_check "[cancel] the migration was cancelled: $MG_MIG_STATUS" "[[ $MG_MIG_STATUS == cancelled ]]"
	mg_qemu_wait "$d" 60
	gx_check "[cancel] the destination QEMU exited with an error: status $MG_RC, $(grep -m1 -i -e error -e fail "$NX_TMP/$d.log" || echo 'nothing said')" \
		"((MG_RC != 0 && MG_RC != 124))"
	source_runs_on cancel "$s" "$d"
	source_finishes cancel "$s" "$d" "$t0"
}

case_kill_dst()
{
	local s=kill-src d=kill-dst t0

	t0=$SECONDS
	sort_mib=$MG_FAIL_QSORT_MIB
	incoming "$d"
	boot "$s"
	migrate "$s" "$d" "$MG_SLOW_MIBPS"
	act_when_active "$s"
	nx_log "[kill-dst] SIGKILL to the destination QEMU"
	mg_qemu_kill "$d" KILL
	mg_migrate_wait "$s" 60 || true
	mg_migrate_summary "$s"
	summary+=("kill-dst: $MG_MIG_STATUS (${MG_MIG_ERROR_DESC:-no error given}); before, $MG_MIG_LAST_TIME ms in, $(mg_mib "$MG_MIG_LAST_TRANSFERRED") MiB transferred")
	gx_check "[kill-dst] the migration failed: $MG_MIG_STATUS${MG_MIG_ERROR_DESC:+ ($MG_MIG_ERROR_DESC)}" \
		"[[ $MG_MIG_STATUS == failed ]]"
	source_runs_on kill-dst "$s" "$d"
	source_finishes kill-dst "$s" "$d" "$t0"
}

# The source has a device the destination lacks: the destination fails
# to load the device state, which comes last, after all of RAM.  Through
# the return path the source learns it, instead of taking the migration
# for completed, and runs the guest on.
case_bad_dst()
{
	local s=bad-src d=bad-dst t0

	t0=$SECONDS
	sort_mib=$MG_FAIL_QSORT_MIB
	incoming "$d"
	boot "$s" -device virtio-rng-pci
	migrate "$s" "$d" "$MG_LIVE_MIBPS"
	mg_migrate_wait "$s" 600 || true
	mg_migrate_summary "$s"
	summary+=("bad-dst: $MG_MIG_STATUS (${MG_MIG_ERROR_DESC:-no error given}); before, $MG_MIG_LAST_TIME ms in, $(mg_mib "$MG_MIG_LAST_TRANSFERRED") MiB transferred")
	gx_check "[bad-dst] the migration failed: $MG_MIG_STATUS${MG_MIG_ERROR_DESC:+ ($MG_MIG_ERROR_DESC)}" \
		"[[ $MG_MIG_STATUS == failed ]]"
	mg_qemu_wait "$d" 60
	gx_check "[bad-dst] the destination QEMU failed to load: status $MG_RC, $(grep -m1 -i 'section' "$NX_TMP/$d.log" || echo 'nothing said')" \
		"((MG_RC != 0 && MG_RC != 124)) && grep -q 'Unknown savevm section' '$NX_TMP/$d.log'"
	source_runs_on bad-dst "$s" "$d"
	if [[ $MG_BACKEND == memx ]]; then
		gx_wait_for 10 "grep -q 'status=taken back' <<<\"\$('$MEMXCTL' --socket '${MG_SOCK[$MG_SRC]}' migrations)\"" || true
		gx_check "[bad-dst] the source's memxd took the VM back after the handoff: $(grep -m1 -o 'registered again.*' "$NX_TMP/$s.log" || echo 'QEMU did not register again')" \
			"grep -q 'status=taken back' <<<\"\$('$MEMXCTL' --socket '${MG_SOCK[$MG_SRC]}' migrations)\""
		gx_wait_for 10 "grep -q 'qemu_status=failed' <<<\"\$('$MEMXCTL' --socket '${MG_SOCK[$MG_SRC]}' migrations)\"" || true
		gx_check "[bad-dst] the source's record has QEMU's account: qemu_status=failed" \
			"grep -q 'qemu_status=failed' <<<\"\$('$MEMXCTL' --socket '${MG_SOCK[$MG_SRC]}' migrations)\""
	fi
	source_finishes bad-dst "$s" "$d" "$t0"
}

# postcopy: the destination refuses the capability, saying why.
case_postcopy()
{
	local d=postcopy-dst out

	[[ $MG_BACKEND == memx ]] || nx_die "the postcopy case is memx's"
	mg_qemu_args "$MG_DST" 1G "qsort:$MG_QSORT_MIB"
	mg_qemu_start "$MG_DST" "$d" 120 -incoming defer
	out=$(gx_qmp "${MG_QMP[$d]}" migrate-set-capabilities \
		'{"capabilities": [{"capability": "postcopy-ram", "state": true}]}' 2>&1) && out="accepted: $out"
	# QMP says "Postcopy is not supported"; QEMU's log says why.
	gx_check "[postcopy] the destination refuses postcopy-ram: $out; $(grep -m1 -o 'postcopy migration is not supported.*' "$NX_TMP/$d.log" || echo 'no reason logged')" \
		'[[ $out == *"Postcopy is not supported"* ]] && grep -q "postcopy migration is not supported: memxd serves" "$NX_TMP/$d.log"'
	mg_quit "$d" 30
	memx_vms "[postcopy] the destination's memxd holds no VM" "$MG_DST" 0
	((GX_FAIL == 0)) || fail_logs "$d"
}

for c in $MG_CASES; do
	case $c in
	live) case_live ;;
	cancel) case_cancel ;;
	kill-dst) case_kill_dst ;;
	bad-dst) case_bad_dst ;;
	postcopy) case_postcopy ;;
	*) nx_die "unknown case '$c' in MG_CASES (live, cancel, kill-dst, bad-dst, postcopy)" ;;
	esac
done

for l in "${summary[@]}"; do
	nx_log "migration: $l"
done
nx_log "PASS: guest-migrate ($MG_BACKEND; $MG_CASES) in $((SECONDS - t_all)) s"
