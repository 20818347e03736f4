#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# pagegroup-integrity.sh - a page the guest reads is the page it last
# wrote, whatever a memory server answers (issue 11).  Six memory servers
# and a client, each a network namespace; memxd's pager with
# --stripe-width 3 (each group: 3 data servers + 1 parity); the host
# harness writes and verifies every byte of a 64 MiB region on a 16 MiB
# budget, and fails on any wrong byte.  One server, srv1, lies through
# memxd's test hook (--test-corrupt), one kind of lie per scenario:
#
#   flip    a stored bit of pages it returns flips (rate MX_FLIP_RATE):
#           memxd must find them (integrity_failures > 0, the server's
#           bad_pages > 0), rebuild them from their stripe
#           (integrity_rebuilt > 0) and write the good copy back
#           (integrity_repaired > 0);
#   swap    it answers with another page of the session, tag and all
#           (rate MX_SWAP_RATE): the same;
#   short   it answers READs with their first page only (rate
#           MX_SHORT_RATE): memxd must refuse those answers (the
#           server's short_replies > 0) and serve the faults otherwise
#           (degraded_reads > 0);
#   crypt   flip again, the pager sending pages encrypted
#           (--page-encryption): the same as flip.
#
# In every scenario: the harness verifies every byte (0 wrong bytes),
# nothing is lost (lost_pages, integrity_lost 0), memxd stays up.
#
# Usage: pagegroup-integrity.sh [flip] [swap] [short] [crypt]
# (default: all)
# Needs root and /dev/userfaultfd; skips (77) loudly without them.
# MX_SIZE / MX_BUDGET change the sizes, NX_KEEP=1 keeps the logs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
# shellcheck source=tests/lib/pagegroup-common.sh
. "$top_srcdir/tests/lib/pagegroup-common.sh"

SERVER_CAP=${MX_SERVER_CAP:-256M}
BAD=srv1

# Start $BAD again, empty, as a server that lies: --test-corrupt=$1.
bad_server()
{
	local i

	nx_stop "server-$BAD"
	nx_daemon "$BAD" "server-$BAD" "$MEMXD" --server \
		--listen "$(nx_ip "$BAD")" --capacity "$SERVER_CAP" \
		--test-corrupt="$1"
	for i in $(seq 50); do
		timeout 5 ip netns exec "$(nx_ns "$PG_CLIENT")" \
			env MEMX_CONF="$(nx_conf "$PG_CLIENT")" "$MEMXCTL" \
			stat "$(nx_ip "$BAD")" >/dev/null 2>&1 && break
		sleep 0.1
	done
	grep -q 'TEST HOOK' "$NX_TMP/server-$BAD.log" ||
		nx_die "$BAD does not say it runs the test hook: $(cat "$NX_TMP/server-$BAD.log")"
	nx_log "$BAD lies: --test-corrupt=$1"
}

# scenario LABEL KIND RATE [PAGER ARGS...]
scenario()
{
	local label=$1 kind=$2 rate=$3 fails rebuilt repaired bad short deg

	shift 3
	pg_scenario_begin "$label"
	pg_net "$SERVER_CAP"
	bad_server "$kind:$rate"
	pg_pager "$label" "$@"
	pg_harness_start "$label" end
	pg_wait_pause "$label" end
	pg_harness_passed "$label" || {
		pg_harness_log "$label"
		nx_die "[$label] the harness saw a wrong byte, or failed, with $BAD lying ($kind)"
	}
	pg_dump "$label"
	fails=$(pg_vm "$label" integrity_failures)
	rebuilt=$(pg_vm "$label" integrity_rebuilt)
	repaired=$(pg_vm "$label" integrity_repaired)
	bad=$(pg_srv "$BAD" server_bad_pages)
	short=$(pg_srv "$BAD" server_short_replies)
	deg=$(pg_vm "$label" degraded_reads)
	nx_log "[$label] integrity_failures=$fails integrity_rebuilt=$rebuilt integrity_repaired=$repaired integrity_lost=$(pg_vm "$label" integrity_lost) degraded_reads=$deg $BAD: bad_pages=$bad short_replies=$short"
	nx_log "[$label] $(pg_report "$label")"
	nx_log "[$label] $BAD: $(grep -c . "$NX_TMP/server-$BAD.log") log lines; memxd log:"
	grep -E 'integrity|answered' "$NX_TMP/memxd-$label.log" | head -n 3 |
		sed 's/^/    /' >&2 || true
	(($(pg_vm "$label" lost_pages) == 0 &&
	  $(pg_vm "$label" integrity_lost) == 0)) ||
		nx_die "[$label] pages lost: lost_pages=$(pg_vm "$label" lost_pages) integrity_lost=$(pg_vm "$label" integrity_lost)"
	case $kind in
	flip|swap)
		((fails > 0 && bad > 0)) ||
			nx_die "[$label] $BAD lied, but nothing failed its check (integrity_failures=$fails, bad_pages=$bad)"
		((rebuilt > 0)) ||
			nx_die "[$label] no bad page was rebuilt from parity (integrity_rebuilt=0)"
		((repaired > 0)) ||
			nx_die "[$label] no good copy was written back (integrity_repaired=0)"
		;;
	short)
		((short > 0)) ||
			nx_die "[$label] no short reply was refused (short_replies=0)"
		((deg > 0)) ||
			nx_die "[$label] no fault was served around the short replies (degraded_reads=0)"
		;;
	esac
	pg_scenario_finish "$label"
}

pg_require
"$MEMXD" --help 2>&1 | grep -- '--test-corrupt' >/dev/null ||
	nx_die "$MEMXD has no --test-corrupt: no integrity test hook (issue 11)"
(($# > 0)) || set -- flip swap short crypt
for sc in "$@"; do
	case $sc in
	flip) scenario flip flip "${MX_FLIP_RATE:-0.01}" ;;
	swap) scenario swap swap "${MX_SWAP_RATE:-0.01}" ;;
	short) scenario short short "${MX_SHORT_RATE:-0.05}" ;;
	crypt) scenario crypt flip "${MX_FLIP_RATE:-0.01}" \
		--page-encryption=on ;;
	*) nx_die "unknown scenario '$sc' (flip, swap, short, crypt)" ;;
	esac
done
for line in "${PG_SUMMARY[@]}"; do
	nx_log "pagegroup-integrity: $line"
done
nx_log "pagegroup-integrity: PASS"
