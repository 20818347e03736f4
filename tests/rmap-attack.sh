#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# rmap-attack.sh - a hostile host on the memory servers' network (issue
# 11).  Four memory servers, a client and an attacker, each a network
# namespace on one bridge, which the test makes flood every frame to
# every port, so that the attacker sees all traffic.  memxd's pager runs
# in the client with page-groups of --stripe-width 2, authenticated (per-
# run keys, tests/lib/netns.sh), and the host harness writes and verifies
# every byte of a 64 MiB region on a 16 MiB budget while
# tests/attack/rmap_attack, in the attacker's namespace, sniffs and sends
# for the whole run: captured datagrams replayed, tampered with and cut
# short, spoofed from the pager's address (and from the servers' to the
# pager); forged messages in clear (ACKs of everything, heartbeats whose
# base is 2^31 ahead, LEAVE, REG, READs of 256 pages, UNREG, first
# fragments of 1 MiB WRITEs, new epochs) and forged DATA; floods of
# handshake initiations with a valid mac1, v1 packets and junk.
#
# Required: every byte verifies; no session is lost, no server is found
# restarted or dead, nothing is rebuilt; no server leaves; each server's
# RSS stays under its bound (its capacity plus 64 MiB, plus 256 MiB in a
# sanitizer build); nothing came back to the attacker's own address that
# is larger than what it sent from there; and the counters show what was
# refused (servers: rmap_auth_failures, rmap_replays,
# rmap_cookie_challenges, rmap_bad_packets; the pager:
# rmap_auth_failures, in its dump and as Prometheus'
# memx_rmap_auth_failures_total; the servers' as memxctl --prometheus
# stat's memx_lender_rmap_auth_failures_total, which a Prometheus parser
# reads, with a silent address as memx_lender_up 0); and each server's
# log and the pager's warn that RMAP refused datagrams, unasked.  The last line is
#   rmap-attack: attacks_sent=N pages_lost=0 wrong_bytes=0 ...
# for make bench-trust to quote.
#
# Needs root and /dev/userfaultfd; skips (77) loudly without them.
# MX_ATTACK_RATE (default 3000 datagrams/s), MX_SIZE / MX_BUDGET (the
# region and budget, default 64M on 16M), NX_KEEP=1 keeps the logs.
set -euo pipefail

NX_PREFIX=${NX_PREFIX:-mxa-$$-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
# shellcheck source=tests/lib/pager-common.sh
. "$top_srcdir/tests/lib/pager-common.sh"

HARNESS=$top_builddir/tests/harness/host_harness
ATTACK=$top_builddir/tests/attack/rmap_attack
SERVERS=(srv1 srv2 srv3 srv4)
CAP_MIB=256
RATE=${MX_ATTACK_RATE:-3000}

px_require "$HARNESS" "$ATTACK"
nx_init
nx_net_create 1500 client "${SERVERS[@]}" attacker
# A hub: the bridge forgets every address at once and floods.
ip -n "$NX_BR" link set br0 type bridge ageing_time 0
nx_memory_servers client "${CAP_MIB}M" "${SERVERS[@]}"
ips=()
keys=()
for s in "${SERVERS[@]}"; do
	ips+=("$(nx_ip "$s")")
	keys+=(--pubkey "$(cat "$NX_TMP/keys/$s.pub")")
done
sock=$NX_TMP/attacked.sock
nx_pager client memxd "$sock" --servers "$(IFS=,; echo "${ips[*]}")" \
	--stripe-width 2 --spill-dir "$NX_TMP"
nx_log "4 memory servers (${ips[*]}), the pager on $(nx_ip client), the attacker on $(nx_ip attacker); the bridge floods every frame"

srv_args=()
for ip in "${ips[@]}"; do
	srv_args+=(--server "$ip")
done
nx_daemon attacker attacker "$ATTACK" --iface eth0 --client "$(nx_ip client)" \
	"${srv_args[@]}" "${keys[@]}" --seconds 400 --rate "$RATE"
sleep 0.5
nx_log "attacker running at $RATE datagrams/s; host harness: $PX_SIZE region on a $PX_BUDGET budget"

rc=0
timeout -k 10 500 ip netns exec "$(nx_ns client)" env \
	MEMX_CONF="$(nx_conf client)" "$HARNESS" --socket "$sock" \
	--name attacked --size "$PX_SIZE" --budget "$PX_BUDGET" >"$NX_TMP/harness.out" 2>&1 ||
	rc=$?
sed 's/^/    | /' "$NX_TMP/harness.out" >&2

# What the servers hold and what they refused, while under attack still.
kill -0 "${NX_PIDS[memxd]}" 2>/dev/null || {
	tail -n 40 "$NX_TMP/memxd.log" >&2
	nx_die "memxd (pager) died under attack"
}
dump=$(timeout 10 "$MEMXCTL" --socket "$sock" dump) ||
	nx_die "memxctl dump failed"
prom=$(timeout 10 "$MEMXCTL" --socket "$sock" prometheus) ||
	nx_die "memxctl prometheus failed"
stat=$(nx_exec client timeout 30 "$MEMXCTL" stat "${ips[@]}") ||
	nx_die "memxctl stat failed under attack: $stat"
# The same from the servers, as a lending host's exporter takes it, with
# an address where no server answers (the attacker's): that one is
# there as memx_lender_up 0, and memxctl exits 1.
nobody=$(nx_ip attacker)
lrc=0
lprom=$(nx_exec client timeout 60 "$MEMXCTL" --prometheus stat "${ips[@]}" \
	"$nobody" 2>"$NX_TMP/lender.err") || lrc=$?
rss_line=
bound_kib=$(((CAP_MIB + 64) * 1024))
if grep -q 'fsanitize=address' "$top_builddir/Makefile" 2>/dev/null; then
	bound_kib=$((bound_kib + 256 * 1024))
fi
rss_over=0
for s in "${SERVERS[@]}"; do
	pid=${NX_PIDS[server-$s]}
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
	rss_line+="$s=$((rss / 1024))MiB(peak $((hwm / 1024))MiB) "
	((hwm <= bound_kib)) || rss_over=1
done
nx_stop attacker
attack_line=$(grep '^attack:' "$NX_TMP/attacker.log" || true)
nx_log "$attack_line"
nx_log "servers' RSS: $rss_line(bound $((bound_kib / 1024)) MiB)"
printf '%s\n' "$stat" | sed 's/^/    /' >&2

# The verdicts.
((rc == 0)) || {
	tail -n 40 "$NX_TMP/memxd.log" >&2
	nx_die "the harness failed under attack (exit $rc)"
}
grep -q '^host-harness: PASS' "$NX_TMP/harness.out" ||
	nx_die "the harness did not pass"
[[ -n $attack_line ]] || nx_die "the attacker printed no summary"
key() { sed -n "s/.*[ ]$1=\([0-9]*\).*/\1/p" <<<" $2" | head -n1; }
sum() {
	local k=$1 t=0 v
	while read -r line; do
		v=$(key "$k" "$line")
		t=$((t + ${v:-0}))
	done <<<"$stat"
	echo "$t"
}
dumpsum() {
	awk -F= -v k="$1" '$1 == k { t += $2 } END { print t + 0 }' <<<"$dump"
}
captured=$(key captured "$attack_line")
sent=$(key sent "$attack_line")
own=$(key own_bytes "$attack_line")
back=$(key rx_bytes "$attack_line")
((captured > 0)) ||
	nx_die "the attacker captured no traffic (is the bridge flooding?): nothing was replayed"
((back <= own)) ||
	nx_die "amplification: $back bytes came back for $own sent from the attacker's address"
lost=$(dumpsum lost_pages)
lost_sessions=$(dumpsum server_lost_sessions)
deaths=$(dumpsum server_deaths)
rebuilt=$(dumpsum rebuilt_groups)
pglost=$(dumpsum pg_lost)
((lost == 0 && pglost == 0)) || nx_die "pages lost under attack: lost_pages=$lost pg_lost=$pglost"
((lost_sessions == 0 && deaths == 0)) ||
	nx_die "sessions lost under attack: server_lost_sessions=$lost_sessions server_deaths=$deaths"
((rebuilt == 0)) || nx_die "groups rebuilt under attack: rebuilt_groups=$rebuilt"
if grep -q 'leaving=1' <<<"$stat"; then
	nx_die "a forged LEAVE made a server leave"
fi
if grep -qE 'restarted|lost our pages' "$NX_TMP/memxd.log"; then
	grep -E 'restarted|lost our pages' "$NX_TMP/memxd.log" >&2
	nx_die "the pager took a forged packet for a restart"
fi
# A server's sessions: opened and closed (UNREG) by the pager alone.
for s in "${SERVERS[@]}"; do
	bad_state='restarted|told to leave|taken over|lease ran out|refused a new session'
	if grep -qE "$bad_state" "$NX_TMP/server-$s.log"; then
		grep -E "$bad_state" "$NX_TMP/server-$s.log" >&2
		nx_die "server $s changed state on a forged packet"
	fi
	# Read whole, then tested: under pipefail a grep -q that stops early
	# can fail the pipeline and hide a stranger.
	strangers=$(grep -E 'opened by|closed \(' "$NX_TMP/server-$s.log" |
		grep -v "$(nx_ip client):" || true)
	if [[ -n $strangers ]]; then
		printf '%s\n' "$strangers" >&2
		nx_die "server $s opened or closed a session for a stranger"
	fi
done
((rss_over == 0)) || nx_die "a server's RSS went past its bound: $rss_line"
auth=$(sum rmap_auth_failures)
replays=$(sum rmap_replays)
cookies=$(sum rmap_cookie_challenges)
bad=$(sum rmap_bad_packets)
limits=$(sum rmap_limit_drops)
pauth=$(dumpsum rmap_auth_failures)
# Prometheus says it too (scraped after the dump: at least as many).
prom_auth=$(awk '$1 == "memx_rmap_auth_failures_total" { print $2 }' <<<"$prom")
((${prom_auth:-0} >= pauth && pauth > 0)) ||
	nx_die "memxctl prometheus: memx_rmap_auth_failures_total=${prom_auth:-none}, dump's rmap_auth_failures=$pauth"
nx_log "memxctl prometheus: memx_rmap_auth_failures_total=$prom_auth"
# The servers' own scrape: taken after stat, so at least stat's sum.
((lrc == 1)) ||
	nx_die "memxctl --prometheus stat exited $lrc, not 1, with $nobody silent: $(cat "$NX_TMP/lender.err")"
lender() { awk -v re="^memx_lender_$1[{]server=\"$2(:[0-9]+)?\"[}]$" \
	'$1 ~ re { print $2 }' <<<"$lprom"; }
for ip in "${ips[@]}"; do
	[[ $(lender up "${ip//./[.]}") == 1 ]] ||
		nx_die "memxctl --prometheus stat: memx_lender_up of $ip is not 1: $lprom"
done
[[ $(lender up "${nobody//./[.]}") == 0 ]] ||
	nx_die "memxctl --prometheus stat: memx_lender_up of $nobody (silent) is not 0"
lauth=$(awk '$1 ~ /^memx_lender_rmap_auth_failures_total[{]/ { t += $2 }
	END { printf "%d", t }' <<<"$lprom")
((lauth >= auth)) ||
	nx_die "memxctl --prometheus stat: memx_lender_rmap_auth_failures_total sums to $lauth, stat's rmap_auth_failures to $auth"
printf '%s\n' "$lprom" >"$NX_TMP/lender.prom"
n=$(px_prom_parse "$NX_TMP/lender.prom") ||
	nx_die "memxctl --prometheus stat does not parse as Prometheus' text format ($NX_TMP/lender.prom)"
nx_log "memxctl --prometheus stat: 4 servers up, $nobody not; memx_lender_rmap_auth_failures_total=$lauth; $n families, all typed (prometheus_client)"
# The logs say it while it happens, without being asked.
for f in "${SERVERS[@]/#/server-}" memxd; do
	line=$(grep -m1 'warning.*RMAP refused [0-9]* datagram' "$NX_TMP/$f.log") ||
		nx_die "$f's log does not say that RMAP refused datagrams"
	grep -q 'unauthenticated' <<<"$line" ||
		nx_die "$f's log does not count the unauthenticated: $line"
done
nx_log "each server's log and memxd's say it: ${line#*: }"
# ... and name the hosts the refused claimed to come from: the pager's
# (forged) or the attacker's, which floods from its own address too.
# (Which servers its own flood reaches first varies: some server's.)
warned=() from=()
for f in memxd "${SERVERS[@]/#/server-}"; do
	mapfile -t from < <(grep 'warning.*RMAP refused [0-9]* datagram' \
		"$NX_TMP/$f.log" | grep -oE '; from [0-9.]+ \([0-9]+\)(, [0-9.]+ \([0-9]+\))*')
	((${#from[@]})) || nx_die "$f's warnings name no host the refused came from"
	if [[ $f == memxd ]]; then
		nx_log "the pager's warnings name whence: ${from[0]#; }"
	else
		warned+=("${from[@]}")
	fi
done
printf '%s\n' "${warned[@]}" | grep -qF " $(nx_ip attacker) (" ||
	nx_die "no server's warning names the attacker's own address, $(nx_ip attacker): ${warned[*]}"
nx_log "the servers' warnings name whence: ${warned[0]#; }"
# ... and so do memxctl stat (each server's table, asked over RMAP) and
# memxctl dump (the pager's).
grep -qF "$(nx_ip attacker)(" <<<"$(grep -o 'refused_from=[^ ]*' <<<"$stat")" ||
	nx_die "no server's refused_from in memxctl stat names the attacker, $(nx_ip attacker): $(grep -o 'refused_from=[^ ]*' <<<"$stat" | tr '\n' ' ')"
pfrom=$(sed -n 's/^rmap_refused_from=//p' <<<"$dump")
[[ -n $pfrom && $pfrom != none ]] ||
	nx_die "memxctl dump names no host the pager refused: rmap_refused_from=$pfrom"
nx_log "memxctl stat: $(grep -o 'refused_from=[^ ]*' <<<"$stat" | head -n1); memxctl dump: rmap_refused_from=$pfrom"
nx_log "refused by the servers: rmap_auth_failures=$auth rmap_replays=$replays rmap_cookie_challenges=$cookies rmap_bad_packets=$bad rmap_limit_drops=$limits; by the pager: rmap_auth_failures=$pauth rmap_replays=$(dumpsum rmap_replays)"
((auth > 0 && replays > 0 && cookies > 0 && bad > 0 && pauth > 0)) ||
	nx_die "the counters do not show what was refused"
echo "rmap-attack: attacks_sent=$sent pages_lost=0 wrong_bytes=0 sessions_lost=0 auth_failures=$auth replays=$replays cookie_challenges=$cookies bad_packets=$bad pager_auth_failures=$pauth amplification_bytes=$back/$own"
nx_log "rmap-attack: PASS"
