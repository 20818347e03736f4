#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck disable=SC2016 # await's conditions are eval'd when polled
#
# guest-reattach.sh - restarting memxd loses no VM.  Two memory servers
# and a client, each a network namespace; memxd's pager in the client; the
# patched QEMU boots the test guest with 1 GiB of guest RAM on a 256 MiB
# budget and sorts GRA_QSORT_MIB MiB.  During that one sort memxd is
# stopped four times -- SIGKILL, SIGKILL, SIGTERM (a graceful restart, in
# which memxd detaches the VM), SIGKILL -- and each time started again
# with the same command line, as a supervisor would.  Passes only if:
#   - the guest's sort verifies (every word checked: a zero page where
#     data were fails it) and QEMU exits by itself, status 0;
#   - each time, QEMU says that the VM waits for memxd and that it
#     registered again, and memxd that it took the VM over from an
#     earlier memxd;
#   - each time, the guest runs again: the new memxd serves its faults,
#     and the sort prints progress after the restart;
#   - no page was lost, and resident pages stayed within budget + slack.
# Then a second guest with memxd-timeout=3: memxd is killed and not
# started again, and QEMU must exit (status 1) within seconds, saying
# that memxd did not come back.
#
# Prints, for each restart, how long the guest waited: from memxd's start
# to QEMU registering again, and to the new memxd serving a fault.
#
# Environment: GX_ACCEL, GRA_QSORT_MIB (default 400), NX_KEEP=1.
# Skips (77) only without root or /dev/userfaultfd.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
# shellcheck source=tests/lib/guest-common.sh
. "$top_srcdir/tests/lib/guest-common.sh"

GRA_QSORT_MIB=${GRA_QSORT_MIB:-400}
SIGNALS=(KILL KILL TERM KILL)

gx_require
gx_build
gx_setup 1G
gx_memxd_start ra
nx_log "QEMU: $QEMU; guest: $GUEST; accel: $GX_ACCEL"

log=$NX_TMP/guest.log
: >"$log"
now() { date +%s.%N; }
# Faults the VM's current memxd has served (every kind), or 0.
served()
{
	timeout 5 "$MEMXCTL" --socket "$GX_SOCK" dump 2>/dev/null |
		awk -F= '/^vm=/ { vm = 1 }
			vm && $1 ~ /^(net|zero|wp|cache|spill)_faults$|^degraded_reads$/ { n += $2 }
			END { print n + 0 }'
}
progress() { grep -c '^qsort: sort ' "$log" || true; }
count() { grep -c -- "$1" "$2" || true; }
# await TIMEOUT CONDITION WHAT: CONDITION (eval'd) comes true while QEMU
# runs, or the test fails saying WHAT did not happen.
await()
{
	gx_wait_for "$1" "$2 || ! kill -0 $run 2>/dev/null"
	eval "$2" && return 0
	tail -n 20 "$log" >&2
	kill -0 "$run" 2>/dev/null || nx_die "$3: QEMU exited"
	nx_die "$3 within $1 s"
}

gx_qemu_args 1G 256M "qsort:$GRA_QSORT_MIB"
gx_sampler_start "$NX_TMP/dump"
nx_log "booting: 1 GiB guest RAM, 256 MiB budget, qsort of $GRA_QSORT_MIB MiB;" \
	"memxd will be stopped by SIG${SIGNALS[*]} in turn"
t_boot=$SECONDS
gx_qemu_run "$log" 1800 &
run=$!
gx_wait_for 600 "grep -q 'qsort: generated' '$log' || ! kill -0 $run 2>/dev/null"
grep -q 'qsort: generated' "$log" || {
	tail -n 20 "$log" >&2
	nx_die "the guest never started its sort"
}

GX_FAIL=0
k=0
summary=()
for sig in "${SIGNALS[@]}"; do
	k=$((k + 1))
	if grep -q '^qsort: mib=' "$log"; then
		nx_die "the sort ended before memxd was stopped $k times (raise GRA_QSORT_MIB)"
	fi
	seen=$(progress)
	gx_memxd_kill ra "$sig"
	nx_log "restart $k: memxd stopped by SIG$sig during the sort (progress lines so far: $seen)"
	await 30 '(($(count "lost the connection to memxd" "$log") >= k))' \
		"restart $k: QEMU did not notice that memxd went away"
	# memxd stays away a second (not a condition to poll: an outage),
	# long enough for the guest to block on pages only memxd can serve.
	sleep 1
	t0=$(now)
	gx_memxd_restart ra
	t_up=$(now)
	await 60 '(($(count "registered again with memxd" "$log") >= k))' \
		"restart $k: QEMU did not register again"
	t_reg=$(now)
	seen=$(progress)
	await 60 '(($(served) > 0))' \
		"restart $k: the new memxd served no fault of the guest"
	t_run=$(now)
	await 300 '(($(progress) > seen)) || grep -q "^qsort: mib=" "$log"' \
		"restart $k: the guest's sort made no progress"
	t_prog=$(now)
	line=$(awk -v t0="$t0" -v a="$t_up" -v b="$t_reg" -v c="$t_run" -v d="$t_prog" \
		'BEGIN { printf "memxd up %.2f s, QEMU registered again %.2f s, first fault served %.2f s, next progress line %.2f s after memxd was started", a - t0, b - t0, c - t0, d - t0 }')
	nx_log "restart $k (SIG$sig): $line"
	summary+=("SIG$sig: $line")
	gx_check "restart $k: memxd took the VM over" \
		"grep -q 'taken over from an earlier memxd' '$NX_TMP/memxd-ra.log'"
done

rc=0
wait "$run" || rc=$?
nx_stop sampler
wall=$((SECONDS - t_boot))
d=$NX_TMP/dump
nx_log "guest ran ${wall}s; last memxd (last sample): net_faults=$(gx_val "$d" net_faults)" \
	"takeover_rollbacks=$(gx_val "$d" takeover_rollbacks)" \
	"takeover_reads_dropped=$(gx_val "$d" takeover_reads_dropped)" \
	"takeover_parities=$(gx_val "$d" takeover_parities)" \
	"lost_pages=$(gx_val "$d" lost_pages) max_resident_pages=$(gx_val "$d" max_resident_pages)"
gx_check "QEMU exited by itself, status $rc (want 0)" "((rc == 0))"
gx_check "guest result PASS" "grep -q 'MEMX-GUEST-RESULT: PASS' '$log'"
gx_check "qsort verified across ${#SIGNALS[@]} restarts" \
	"grep -q '^qsort: mib=$GRA_QSORT_MIB .*verify=ok' '$log'"
gx_check "QEMU said ${#SIGNALS[@]} times that the VM waits for memxd" \
	"(($(count 'lost the connection to memxd.*the VM waits for memxd' "$log") == ${#SIGNALS[@]}))"
gx_check "QEMU registered again ${#SIGNALS[@]} times" \
	"(($(count 'registered again with memxd' "$log") == ${#SIGNALS[@]}))"
gx_check "each memxd after the first took the VM over" \
	"(($(cat "$NX_TMP"/memxd-ra.log* | grep -c 'taken over from an earlier memxd') == ${#SIGNALS[@]}))"
gx_check "no page lost" "((${#SIGNALS[@]} > 0 && $(gx_val "$d" lost_pages) == 0 && $(gx_val "$d" pg_lost) == 0))"
gx_check "max resident within budget + slack" \
	"(($(gx_val "$d" max_resident_pages) <= $(gx_val "$d" budget_pages) + 64))"
gx_check "QEMU did not give up" "! grep -q 'did not come back' '$log'"
# In a sanitizer build, a memxd that detached (SIGTERM) and exited has
# had its leaks checked; one that took a VM over, its reads and writes.
gx_check "no sanitizer report in memxd's logs" \
	"! grep -l 'Sanitizer' '$NX_TMP'/memxd-ra.log*"
if ((GX_FAIL)); then
	tail -n 40 "$log" >&2
	printf '%s\n' "---- memxd (pager) logs, last 20 lines each ----" >&2
	tail -n 20 "$NX_TMP"/memxd-ra.log* >&2
	nx_die "guest reattach checks failed"
fi

# --- memxd does not come back: QEMU gives up after memxd-timeout ---
GX_SHOW_PREFIX='timeout| '
gx_qemu_args 1G 256M "qsort:256"
for i in "${!GX_QEMU_ARGS[@]}"; do
	[[ ${GX_QEMU_ARGS[$i]} == memory-backend-memx,* ]] &&
		GX_QEMU_ARGS[i]+=",memxd-timeout=3"
done
[[ ${GX_QEMU_ARGS[*]} == *memxd-timeout=3* ]] ||
	nx_die "gx_qemu_args gave no memory-backend-memx object"
tlog=$NX_TMP/timeout.log
: >"$tlog"
gx_qemu_run "$tlog" 600 &
run=$!
gx_wait_for 300 "grep -q 'qsort: generated' '$tlog' || ! kill -0 $run 2>/dev/null"
grep -q 'qsort: generated' "$tlog" || {
	tail -n 20 "$tlog" >&2
	nx_die "give-up: the guest never started its sort"
}
gx_memxd_kill ra KILL
t0=$SECONDS
rc=0
gx_wait_for 60 "! kill -0 $run 2>/dev/null" || true
wait "$run" || rc=$?
waited=$((SECONDS - t0))
nx_log "give-up: QEMU exited with $rc ${waited}s after memxd was killed:" \
	"$(grep -o 'memxd at .*did not come back.*' "$tlog" | head -n1)"
gx_check "QEMU gave up (status $rc, want 1) after memxd-timeout=3 (${waited}s)" \
	"((rc == 1 && waited >= 3 && waited < 30))"
gx_check "QEMU said why" "grep -q 'did not come back in 3 s (memxd-timeout=3' '$tlog'"
gx_check "the guest did not finish its sort on missing memory" \
	"! grep -q '^qsort: mib=' '$tlog'"
((GX_FAIL == 0)) || { cat "$tlog" >&2; nx_die "the give-up checks failed"; }

for l in "${summary[@]}"; do
	nx_log "waited: $l"
done
nx_log "PASS: guest-reattach (guest run ${wall}s)"
