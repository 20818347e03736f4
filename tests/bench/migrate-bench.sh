#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# migrate-bench.sh - the same guest migrated live twice, between the same
# two client hosts (network namespaces, tests/lib/migrate-common.sh):
#   1. plain: memory-backend-memfd, the whole guest RAM local on both
#      hosts, migrated as QEMU migrates any RAM;
#   2. memx:  memory-backend-memx, a quarter of it local (BENCH_BUDGET),
#      the rest on two memory servers; only resident pages travel, the
#      destination's memxd takes the servers' sessions over.
# Each guest sorts BENCH_MIB MiB and is migrated once the sort has printed
# BENCH_AT percent; the sort must verify on the destination.  Not a test
# (make bench-migrate).  Prints each migration's total time, downtime
# and bytes on the wire, memx's report (remote pages left untouched), and
# the ratios; the last line is
#
#   migrate-bench: memx_s=... plain_s=... memx_MiB=... plain_MiB=...
#                  remote_untouched=... downtime_ms=... verify=ok
#
# (one line): total migration times in seconds, MiB QEMU sent, the
# remote pages memx left on the servers, memx's downtime.
#
# Environment: BENCH_SIZE (guest RAM, default 1G), BENCH_BUDGET (default
# a quarter), BENCH_MIB (default 600), BENCH_AT (default 30), BENCH_MIBPS
# (max-bandwidth of both migrations, MiB/s, default 1024), GX_ACCEL.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
# shellcheck source=tests/lib/guest-common.sh
. "$top_srcdir/tests/lib/guest-common.sh"
# shellcheck source=tests/lib/migrate-common.sh
. "$top_srcdir/tests/lib/migrate-common.sh"

size=${BENCH_SIZE:-1G}
mib=${BENCH_MIB:-600}
at=${BENCH_AT:-30}
size_mib=$(($(numfmt --from=iec "$size") / 1048576))
MG_BUDGET=${BENCH_BUDGET:-$((size_mib / 4))M}
MG_MIBPS=${BENCH_MIBPS:-1024}
port=4500

gx_require
gx_build
mg_setup "$((size_mib * 2))M"
mg_memxd_start "$MG_SRC"
mg_memxd_start "$MG_DST"

# reached LOG: the sort in LOG printed $at% or more.
reached()
{
	sed -n 's/^qsort: sort \([0-9]*\)%.*/\1/p' "$1" |
		awk -v a="$at" '$1 >= a { f = 1 } END { exit !f }'
}

# migrate BACKEND: boot on BACKEND in the source host, migrate once the
# sort reached $at%, finish on the destination; sets T_<backend> (s),
# MIB_<backend>, DOWN_<backend> (ms).
migrate()
{
	local b=$1 s=$1-src d=$1-dst log pid

	MG_BACKEND=$b
	log=$NX_TMP/$s.log
	mg_qemu_args "$MG_SRC" "$size" "qsort:$mib"
	mg_qemu_start "$MG_SRC" "$s" 3600
	pid=${NX_PIDS[qemu-$s]}
	nx_log "[$b] booting: $size guest RAM on $b, quicksort of $mib MiB; migrating at $at%"
	gx_wait_for 1800 "reached '$log' || ! kill -0 $pid 2>/dev/null" || true
	kill -0 "$pid" 2>/dev/null || nx_die "[$b] QEMU exited before the sort reached $at%"
	mg_qemu_args "$MG_DST" "$size" "qsort:$mib"
	mg_qemu_incoming "$MG_DST" "$d" 3600 "$port"
	port=$((port + 1))
	mg_migrate "$s" "$d"
	mg_migrate_wait "$s" 1800 || true
	mg_migrate_summary "$s"
	[[ $MG_MIG_STATUS == completed ]] || nx_die "[$b] the migration ended '$MG_MIG_STATUS'"
	printf -v "T_$b" '%s' "$(awk -v t="$MG_MIG_TOTAL_TIME" 'BEGIN { printf "%.2f", t / 1000 }')"
	printf -v "MIB_$b" '%s' "$(mg_mib "$MG_MIG_RAM_TRANSFERRED")"
	printf -v "DOWN_$b" '%s' "$MG_MIG_DOWNTIME"
	mg_quit "$s" 60
	gx_wait_result "$d" 3600
	mg_qemu_wait "$d" 60
	grep -q "^qsort: mib=$mib .*verify=ok" "$NX_TMP/$d.log" ||
		nx_die "[$b] the sort did not verify on the destination: $(grep -o '^qsort: mib=.*' "$NX_TMP/$d.log" || echo 'no result')"
	nx_log "[$b] verified on the destination: $(grep -o '^qsort: mib=.*' "$NX_TMP/$d.log")"
}

migrate memfd
migrate memx

report=$(mg_report "$MG_SRC" out) ||
	nx_die "memx left no migration report in $NX_TMP/$MG_SRC/migrations"
remote=$(mg_report_val "$MG_SRC" out remote_pages)
nx_log "memx's report ($report):"
sed 's/^/    /' "$report"

# shellcheck disable=SC2154 # T_*, MIB_*, DOWN_* are set by migrate()
{
	printf '\n%-26s %12s %12s %8s\n' "" "plain memfd" "memx" "ratio"
	printf '%-26s %12s %12s %8s\n' "total time (s)" "$T_memfd" "$T_memx" \
		"$(awk -v a="$T_memx" -v b="$T_memfd" 'BEGIN { printf "%.2f", a / b }')"
	printf '%-26s %12s %12s %8s\n' "downtime (ms)" "$DOWN_memfd" "$DOWN_memx" \
		"$(awk -v a="$DOWN_memx" -v b="$DOWN_memfd" 'BEGIN { printf "%.2f", b ? a / b : 0 }')"
	printf '%-26s %12s %12s %8s\n' "sent (MiB)" "$MIB_memfd" "$MIB_memx" \
		"$(awk -v a="$MIB_memx" -v b="$MIB_memfd" 'BEGIN { printf "%.2f", a / b }')"
	printf '%-26s %12s %12s\n' "remote pages left in place" "-" \
		"$remote ($(mg_report_val "$MG_SRC" out remote_mib) MiB)"
	printf '\nmigrate-bench: memx_s=%s plain_s=%s memx_MiB=%s plain_MiB=%s remote_untouched=%s downtime_ms=%s verify=ok\n' \
		"$T_memx" "$T_memfd" "$MIB_memx" "$MIB_memfd" "$remote" "$DOWN_memx"
}
