#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# rmap-netns.sh - RMAP across a real network stack: three memory servers
# and one client, each a network namespace, joined by veth pairs and a
# bridge.  At MTU 1500 and at 9000, the client stores 20,000 random pages
# striped over the servers, reads them back and checks every one, first
# on a clean network, then with 5% loss, reordering and duplication on
# every host.  Afterwards each server must have logged the session's open
# and close and must hold no pages.  At 1500 every end is told the MTU
# (--mtu 1500); at 9000 none is (mtu auto): each must find the link's
# jumbo frames itself, and memxctl stat must say it fragments for 9000.
#
# Needs root; skips (77) loudly without it.  MX_PAGES=N for a quicker run,
# NX_KEEP=1 to keep the logs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
# shellcheck source=tests/lib/netns.sh
. "$top_srcdir/tests/lib/netns.sh"

MEMXD=$top_builddir/memxd/memxd
MEMXCTL=$top_builddir/memxd/memxctl
PAGES=${MX_PAGES:-20000}
SERVERS=(s1 s2 s3)
CLIENT=c1
PUT_TIMEOUT=100

for b in "$MEMXD" "$MEMXCTL"; do
	[[ -x $b ]] || nx_die "$b is not built"
done
command -v sha256sum >/dev/null || nx_skip "sha256sum (coreutils) is missing"

nx_require
nx_init

t_start=$SECONDS
puts=0

elapsed()
{
	echo "$(($(date +%s%N) / 1000000 - $1))"
}

now_ms()
{
	echo "$(($(date +%s%N) / 1000000))"
}

# Every server's log must show $puts sessions opened and closed.
check_server_logs()
{
	local s log opened closed

	for s in "${SERVERS[@]}"; do
		log=$NX_TMP/memxd-$s.log
		opened=$(grep -c "opened by $(nx_ip "$CLIENT")" "$log" || true)
		closed=$(grep -c "from $(nx_ip "$CLIENT"):[0-9]* closed (" "$log" || true)
		if ((opened != puts || closed != puts)); then
			cat "$log" >&2
			nx_die "$s logged $opened session(s) opened and $closed closed, expected $puts"
		fi
	done
}

# Every server must be back to zero used pages and zero sessions.
check_servers_empty()
{
	local out ips=() s n freed

	for s in "${SERVERS[@]}"; do
		ips+=("$(nx_ip "$s")")
	done
	out=$(timeout 30 ip netns exec "$(nx_ns "$CLIENT")" env MEMX_CONF="$(nx_conf "$CLIENT")" \
		"$MEMXCTL" --mtu "$mtu_opt" stat "${ips[@]}") ||
		nx_die "memxctl stat failed: $out"
	printf '    %s\n' "${out//$'\n'/$'\n'    }" >&2
	if [[ $(grep -c 'used_pages=0 ' <<<"$out") -ne ${#SERVERS[@]} ||
		$(grep -c 'sessions=0 ' <<<"$out") -ne ${#SERVERS[@]} ]]; then
		nx_die "a server still holds pages or sessions after the client finished"
	fi
	[[ $(grep -c " mtu=$mtu " <<<"$out") -eq ${#SERVERS[@]} ]] ||
		nx_die "memxctl --mtu $mtu_opt did not fragment for the link's MTU ($mtu)"
	# STAT's memory block: the ended sessions are dropped and their memory
	# given back, and between them the servers dropped every page put.
	[[ $(grep -c ' freeing_pages=0 give_back_pages=0 ' <<<"$out") -eq ${#SERVERS[@]} ]] ||
		nx_die "a server still frees or gives back pages after the client finished"
	freed=0
	for n in $(grep -o ' freed_pages=[0-9]*' <<<"$out" | cut -d= -f2); do
		freed=$((freed + n))
	done
	((freed == puts * PAGES)) ||
		nx_die "the servers dropped $freed pages of ended sessions, expected $((puts * PAGES))"
}

# put LABEL: store, fetch and verify $PAGES pages over the three servers.
put()
{
	local label=$1 t0 ms line hosts sha_out
	local out=$NX_TMP/out-$mtu-$label

	hosts=$(for s in "${SERVERS[@]}"; do nx_ip "$s"; done | paste -sd,)
	nx_log "[mtu $mtu, $label] memxctl put $PAGES pages striped over $hosts"
	t0=$(now_ms)
	puts=$((puts + 1))
	if ! timeout "$PUT_TIMEOUT" ip netns exec "$(nx_ns "$CLIENT")" env MEMX_CONF="$(nx_conf "$CLIENT")" \
		"$MEMXCTL" --mtu "$mtu_opt" --progress put "$hosts" "$NX_TMP/in" \
		--out "$out" >"$NX_TMP/put.out" 2>"$NX_TMP/put.err"; then
		cat "$NX_TMP/put.err" "$NX_TMP/put.out" >&2
		nx_die "[mtu $mtu, $label] memxctl put failed or timed out (${PUT_TIMEOUT}s)"
	fi
	ms=$(elapsed "$t0")
	tr '\r' '\n' <"$NX_TMP/put.err" | grep ' in ' | sed 's/^ */    /' >&2 || true
	line=$(grep '^put: ' "$NX_TMP/put.out") || nx_die "no 'put:' line from memxctl"
	nx_log "    $line"
	[[ $line == *" mismatches=0 "* && $line == *" verified=$PAGES "* ]] ||
		nx_die "[mtu $mtu, $label] pages came back wrong: $line"
	sha_out=$(sha256sum <"$out" | cut -d' ' -f1)
	[[ $sha_out == "$sha_in" ]] ||
		nx_die "[mtu $mtu, $label] sha256 of the pages read back differs: $sha_out"
	rm -f -- "$out"
	nx_log "[mtu $mtu, $label] OK: sha256 matches, all $PAGES pages intact, $((ms / 1000)).$(printf %03d $((ms % 1000))) s, ${line##*retransmits=} retransmits"
	check_server_logs
	check_servers_empty
}

nx_log "generating $PAGES random pages ($((PAGES * 4096 / 1048576)) MiB) in $NX_TMP"
head -c $((PAGES * 4096)) /dev/urandom >"$NX_TMP/in"
sha_in=$(sha256sum <"$NX_TMP/in" | cut -d' ' -f1)

bcast="10.77.${NX_SUBNET}.255"
for mtu in 1500 9000; do
	mtu_opt=$mtu
	((mtu == 9000)) && mtu_opt=auto
	t0=$(now_ms)
	puts=0
	nx_net_create "$mtu" "${SERVERS[@]}" "$CLIENT"
	for s in "${SERVERS[@]}"; do
		nx_daemon "$s" "memxd-$s" "$MEMXD" --server --mtu "$mtu_opt" \
			--listen "$(nx_ip "$s")" --capacity 128M \
			--announce-interval-ms 300 --broadcast \
			--announce-to "${bcast}:7246"
	done
	# Wait until every server answers.
	for s in "${SERVERS[@]}"; do
		for _ in $(seq 50); do
			timeout 5 ip netns exec "$(nx_ns "$CLIENT")" env MEMX_CONF="$(nx_conf "$CLIENT")" "$MEMXCTL" \
				--retries 2 stat "$(nx_ip "$s")" >/dev/null 2>&1 && break
			sleep 0.1
		done
	done
	nx_log "[mtu $mtu] 3 servers + 1 client up in $(elapsed "$t0") ms (--mtu $mtu_opt)"

	# Discovery: the servers broadcast ANNOUNCE on the subnet.
	found=$(timeout 10 ip netns exec "$(nx_ns "$CLIENT")" env MEMX_CONF="$(nx_conf "$CLIENT")" "$MEMXCTL" \
		discover "0.0.0.0:7246" 2 2>/dev/null | grep -c '^server=' || true)
	[[ $found -eq ${#SERVERS[@]} ]] ||
		nx_die "[mtu $mtu] memxctl discover heard $found of ${#SERVERS[@]} servers"
	nx_log "[mtu $mtu] discover: all $found servers heard by broadcast ANNOUNCE"

	put clean

	for h in "${SERVERS[@]}" "$CLIENT"; do
		nx_impair "$h" 5 25 5 1
	done
	if [[ $NX_IMPAIR == netem ]]; then
		what="5% loss, 25% reordered, 5% duplicated, 1 ms delay"
	else
		what="5% loss, 25% delayed behind a 200 Mbit/s class (reordered), 5% duplicated"
	fi
	nx_log "[mtu $mtu] impairment ($NX_IMPAIR) on every host: $what"
	put "lossy"
	for h in "${SERVERS[@]}" "$CLIENT"; do
		nx_log "    $h: $(nx_impair_stats "$h")"
	done

	for s in "${SERVERS[@]}"; do
		nx_stop "memxd-$s"
		grep -E 'opened|closed|expired|unreachable' "$NX_TMP/memxd-$s.log" |
			sed "s/^/    $s: /" >&2 || true
	done
	nx_net_destroy
done

nx_log "PASS: $PAGES pages at MTU 1500 and 9000, clean and impaired, in $((SECONDS - t_start)) s"
