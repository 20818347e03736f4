#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# guest-pagegroup.sh - an unmodified Linux guest survives a memory server
# dying under it.  Five memory servers and a client, each a network
# namespace; memxd's pager keeps the guest's pages in page-groups of 3
# data servers and a parity server (one server spare).  The patched QEMU
# boots the test guest with 1 GiB of guest RAM on a 256 MiB budget and
# sorts GPG_QSORT_MIB MiB; once the sort's data are generated (and largely
# evicted), one server holding pages is SIGKILLed.  Passes only if:
#   - the guest's sort verifies (its checksum matches);
#   - memxd declared the server dead, served degraded reads or rebuilt
#     its groups, and ended with no group on it, none degraded or being
#     rebuilt, and no page lost;
#   - resident pages stayed within the budget plus slack.
#
# Environment: GX_ACCEL, GPG_QSORT_MIB (default 400), NX_KEEP=1.
# Skips (77) only without root or /dev/userfaultfd.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
# shellcheck source=tests/lib/guest-common.sh
. "$top_srcdir/tests/lib/guest-common.sh"

GPG_QSORT_MIB=${GPG_QSORT_MIB:-400}
GX_SERVERS=(srv1 srv2 srv3 srv4 srv5)

gx_require
gx_build
gx_setup 512M
gx_memxd_start pg --stripe-width 3 --recovery-mibps 32 --grace-s 3
nx_log "QEMU: $QEMU; guest: $GUEST; accel: $GX_ACCEL; ${#GX_SERVERS[@]} servers"

gx_qemu_args 1G 256M "qsort:$GPG_QSORT_MIB"
gx_sampler_start "$NX_TMP/dump"
nx_log "booting: 1 GiB guest RAM, 256 MiB budget, qsort of $GPG_QSORT_MIB MiB"
# Once the data exist, kill the server holding the most group slots.
: >"$NX_TMP/guest.log"
gx_killer_start 'qsort: generated'
t0=$SECONDS
rc=0
gx_qemu_run "$NX_TMP/guest.log" 1800 || rc=$?
wall=$((SECONDS - t0))
nx_stop sampler
nx_stop killer
[[ -s $NX_TMP/victim ]] ||
	nx_die "no server was killed: the sort never started, or no server held a group slot"
read -r victim _ <"$NX_TMP/victim"
if ((rc != 0)); then
	tail -n 30 "$NX_TMP/guest.log" >&2
	printf '%s\n' "---- memxd (pager) log, last 40 lines ----" >&2
	tail -n 40 "$NX_TMP/memxd-pg.log" >&2
	nx_die "QEMU exited with $rc"
fi

# Recovery may still run after the guest is gone (its pages are freed
# then); what counts is what memxd did while the guest ran.
d=$NX_TMP/dump
vip=$(nx_ip "$victim")
GX_FAIL=0
nx_log "guest ran ${wall}s; memxd (last sample while it ran):" \
	"degraded_reads=$(gx_val "$d" degraded_reads)" \
	"rebuilt_groups=$(gx_val "$d" rebuilt_groups)" \
	"rebuilt_pages=$(gx_val "$d" rebuilt_pages)" \
	"recovery_pending=$(gx_val "$d" recovery_pending)" \
	"lost_pages=$(gx_val "$d" lost_pages)" \
	"net_faults=$(gx_val "$d" net_faults)" \
	"parity_updates=$(gx_val "$d" parity_updates)"
gx_check "guest result PASS" "grep -q 'MEMX-GUEST-RESULT: PASS' '$NX_TMP/guest.log'"
gx_check "qsort verified" "grep -q '^qsort: mib=$GPG_QSORT_MIB .*verify=ok' '$NX_TMP/guest.log'"
gx_check "server $victim declared dead" \
	"[[ \$(gx_srv_val '$d' '$vip' server_state) == dead ]]"
gx_check "groups rebuilt ($(gx_val "$d" rebuilt_groups))" \
	"(($(gx_val "$d" rebuilt_groups) > 0))"
gx_check "no group left on the dead server ($(gx_srv_val "$d" "$vip" server_groups))" \
	"(($(gx_srv_val "$d" "$vip" server_groups) == 0))"
gx_check "recovery finished (recovery_pending=$(gx_val "$d" recovery_pending))" \
	"(($(gx_val "$d" recovery_pending) == 0))"
gx_check "no page lost" "(($(gx_val "$d" lost_pages) == 0 && $(gx_val "$d" pg_lost) == 0))"
gx_check "max resident within budget + slack" \
	"(($(gx_val "$d" max_resident_pages) <= $(gx_val "$d" budget_pages) + 64))"
grep -q "memory server $vip is dead" "$NX_TMP/memxd-pg.log" ||
	{ nx_log "FAIL: memxd's log does not say the server is dead"; GX_FAIL=1; }
((GX_FAIL == 0)) || {
	printf '%s\n' "---- memxd (pager) log, last 40 lines ----" >&2
	tail -n 40 "$NX_TMP/memxd-pg.log" >&2
	nx_die "guest page-group checks failed"
}
nx_log "guest-pagegroup: PASS"
