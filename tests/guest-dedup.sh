#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# guest-dedup.sh - memory servers store identical pages once.  Three
# unmodified guests boot the same Debian kernel and initramfs at once, on
# one memxd (the patched QEMU, TCG) and the same two memory servers (network
# namespaces, deduplication on, the default); each has a GPAS 4x its
# budget and runs the same workload with the same seed, then holds.
# Passes only if:
#   - every guest's checksums verify;
#   - the servers hold pages for all three (their logical pages);
#   - their unique pages come to clearly fewer than their logical pages
#     (at most DEDUP_MAX_PCT percent of them, default 70);
#   - memxctl status and prometheus (the pager's) show each server's
#     logical and unique pages;
#   - the pager's resident pages stayed within each budget plus slack.
# Prints one summary line last:
#   guest-dedup: guests=3 logical_pages=N unique_pages=N saved_pct=P verify=ok
#
# Environment: GX_ACCEL, DEDUP_WORK (default fill:96), DEDUP_MAX_PCT,
# NX_KEEP=1.  Skips (77) only without root or /dev/userfaultfd.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
# shellcheck source=tests/lib/guest-common.sh
. "$top_srcdir/tests/lib/guest-common.sh"

WORK=${DEDUP_WORK:-fill:96}
MAX_PCT=${DEDUP_MAX_PCT:-70}
GX_SERVERS=(srv1 srv2)
GUESTS=(g1 g2 g3)
GX_FAIL=0

gx_require
gx_build
gx_setup 1G
gx_memxd_start dd
nx_log "QEMU: $QEMU; guest: $GUEST; accel: $GX_ACCEL; ${#GX_SERVERS[@]} servers, dedup on"

# One QEMU per guest, in the background, each under its own memxd name;
# memx.hold=1: the guest stays up after its workloads, its pages on the
# servers, until we stop it.
gx_qemu_args 512M 128M "$WORK" memx.hold=1
for g in "${GUESTS[@]}"; do
	gx_qemu_start "$g" 1200
done
nx_log "booting ${GUESTS[*]}: 512 MiB guest RAM each on a 128 MiB budget, workload $WORK"
for g in "${GUESTS[@]}"; do
	gx_wait_result "$g" 1200
	grep -E '^(fill|MEMX-GUEST)' "$NX_TMP/$g.log" | grep -v '%$' | sed "s/^/    $g: /" >&2
	gx_check "$g: the workload verifies" \
		"grep -q '^MEMX-GUEST-RESULT: PASS' '$NX_TMP/$g.log'"
done

# What the servers hold, asked of each over RMAP from the client.
"$MEMXCTL" --socket "$GX_SOCK" dump >"$NX_TMP/dump"
logical=0 unique=0
for s in "${GX_SERVERS[@]}"; do
	line=$(timeout 10 ip netns exec "$(nx_ns "$GX_CLIENT")" \
		env MEMX_CONF="$(nx_conf "$GX_CLIENT")" "$MEMXCTL" stat "$(nx_ip "$s")") ||
		nx_die "memxctl stat $s failed"
	printf '    %s\n' "$line" >&2
	l=$(sed -n 's/.* logical_pages=\([0-9]*\).*/\1/p' <<<"$line")
	u=$(sed -n 's/.* unique_pages=\([0-9]*\).*/\1/p' <<<"$line")
	[[ -n $l && -n $u ]] || nx_die "memxctl stat $s shows no logical_pages/unique_pages"
	logical=$((logical + l))
	unique=$((unique + u))
done
saved=$(awk -v l="$logical" -v u="$unique" 'BEGIN { printf "%.1f", l ? 100 * (l - u) / l : 0 }')
# The pager sees the same in its servers' STAT replies (each heartbeat).
sleep 2
"$MEMXCTL" --socket "$GX_SOCK" dump >"$NX_TMP/dump-servers"
"$MEMXCTL" --socket "$GX_SOCK" prometheus >"$NX_TMP/prometheus"
gx_check "memxctl status shows each server's dedup (server_logical_pages > server_unique_pages)" \
	"[[ \$(awk -F= '\$1 == \"server_logical_pages\" { l += \$2 } \$1 == \"server_unique_pages\" { u += \$2; n++ } END { print (n == ${#GX_SERVERS[@]} && l > u) }' '$NX_TMP/dump-servers') == 1 ]]"
gx_check "memxctl prometheus has memx_server_unique_pages for each server" \
	"[[ \$(grep -c '^memx_server_unique_pages{server=' '$NX_TMP/prometheus') == ${#GX_SERVERS[@]} ]]"
gx_check "the servers hold the guests' pages ($logical logical pages)" \
	"((logical > 3 * 128 * 256 / 2))"
gx_check "they store them deduplicated: $unique unique pages, at most $MAX_PCT% of $logical ($saved% saved)" \
	"((unique * 100 <= logical * MAX_PCT))"
for g in "${GUESTS[@]}"; do
	over=$(awk -F= -v n="$g" '$1 == "vm" { e = ($2 == n) }
		e && $1 == "budget_pages" { b = $2 }
		e && $1 == "max_resident_pages" { m = $2 }
		END { print (m > b + 64) ? 1 : 0 }' "$NX_TMP/dump")
	gx_check "$g stayed within its budget plus slack" "[[ $over == 0 ]]"
done

for g in "${GUESTS[@]}"; do
	nx_stop "qemu-$g"
done
verify=ok
((GX_FAIL == 0)) || verify=FAIL
echo "guest-dedup: guests=${#GUESTS[@]} logical_pages=$logical unique_pages=$unique saved_pct=$saved verify=$verify"
((GX_FAIL == 0))
