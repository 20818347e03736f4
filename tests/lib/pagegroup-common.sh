# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# pagegroup-common.sh - what tests/pagegroup-*.sh and
# tests/pager-durability.sh share: six memory servers (srv1..srv6) and a
# client, each a network namespace (netns.sh); memxd's pager in the
# client with page-groups of --stripe-width 3 (each group on 4 servers:
# 3 data + parity, so 2 servers remain to take a rebuilt member); the
# host harness running in the background, paused at chosen phases so the
# script can kill, cut or drain a server mid-workload and read
# `memxctl dump` while the VM is still registered.
#
#   pg_require               skip (77) loudly unless root, /dev/userfaultfd
#                            and namespaces work; fail unless memxd, memxctl
#                            and the harness are built and memxd has the
#                            page-group options
#   pg_net CAP [CAP...]      (re)create the namespaces and start the
#                            servers, srvN with capacity CAP number N (the
#                            last CAP for the servers after it)
#   pg_pager LABEL [ARG...]  memxd (pager) in the client, on
#                            $NX_TMP/LABEL.sock, serving all six servers
#   pg_harness_start LABEL PAUSES [ARG...]
#                            the host harness in the background, paused
#                            after each phase in PAUSES (comma-separated;
#                            "end": after its verdict, still registered);
#                            its racing phases run one round, not two:
#                            a scenario is about its server or network
#                            event, and pager-host.sh runs the races in
#                            full (MX_ROUNDS=2 restores them)
#   pg_start LABEL CAP[,CAP...] [ARG...]
#                            a scenario's start: pg_net CAP..., pg_pager
#                            LABEL ARG..., and the harness pausing after
#                            seq-write and at end; back once it paused
#                            after seq-write
#   pg_wait_pause LABEL PHASE
#   pg_resume LABEL          wait for / end a pause
#   pg_harness_wait LABEL    wait for the harness to exit; its output is
#                            printed (indented); returns its exit status
#   pg_harness_passed LABEL  the harness printed its PASS verdict
#   pg_scenario_finish LABEL resume the harness, which must then exit 0;
#                            memxd must be alive; stop it
#   pg_dump LABEL            memxctl dump into $PG_DUMP (fails loudly if
#                            memxd does not answer)
#   pg_vm LABEL KEY          KEY of the VM LABEL in $PG_DUMP ("" if absent)
#   pg_srv HOST KEY          KEY of server HOST (e.g. srv3) in $PG_DUMP
#   pg_check_keys LABEL      fail loudly, naming them, if $PG_DUMP lacks
#                            any page-group key of issue 5
#   pg_busiest N             the N hosts with the most server_groups in
#                            $PG_DUMP, most first
#   pg_wait_server LABEL HOST STATE SEC
#                            poll until HOST's server_state is STATE
#   pg_wait_recovery LABEL SEC
#                            poll until recovery_pending, pg_degraded and
#                            pg_rebuilding are all 0, showing progress
#   pg_kill HOST...          SIGKILL the memory servers on HOSTs at once
#   pg_report LABEL          the VM's page-group numbers, one line
#
# Namespaces are named mxg-PID-...; everything is removed on exit.
# NX_KEEP=1 keeps the logs.  MX_SIZE / MX_BUDGET change the region and
# budget (default 64M on 16M).

NX_PREFIX=${NX_PREFIX:-mxg-$$-}
pg_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$pg_here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
# shellcheck source=tests/lib/pager-common.sh
. "$top_srcdir/tests/lib/pager-common.sh"

HARNESS=$top_builddir/tests/harness/host_harness
PG_SERVERS=(srv1 srv2 srv3 srv4 srv5 srv6)
PG_CLIENT=client
PG_STRIPE=${MX_STRIPE:-3}
PG_TIMEOUT=${PG_TIMEOUT:-300}
PG_DUMP=
PG_INITED=0

# The keys issue 5 promises in `memxctl dump`.
PG_VM_KEYS=(pg_width pg_rows pg_parity pg_groups pg_degraded pg_rebuilding
	pg_lost rebuilt_groups rebuilt_pages recovery_pending degraded_reads
	lost_pages)
PG_SERVER_KEYS=(server_state server_groups server_parity_groups
	server_used_pages)

pg_require()
{
	px_require "$HARNESS"
	"$MEMXD" --help 2>&1 | grep -- '--stripe-width' >/dev/null ||
		nx_die "$MEMXD has no --stripe-width: this memxd has no page-groups (issue 5) yet"
}

pg_net()
{
	local -a caps=("$@")
	local i s

	if ((PG_INITED)); then
		nx_net_destroy
	else
		nx_init
		PG_INITED=1
	fi
	nx_net_create 1500 "$PG_CLIENT" "${PG_SERVERS[@]}"
	nx_memory_servers "$PG_CLIENT" "$(IFS=,; echo "${caps[*]}")" \
		"${PG_SERVERS[@]}"
	nx_log "6 memory servers up ($(for i in "${!PG_SERVERS[@]}"; do
		printf '%s=%s:%s ' "${PG_SERVERS[$i]}" \
			"$(nx_ip "${PG_SERVERS[$i]}")" "${caps[$i]:-${caps[-1]}}"
	done)); client $(nx_ip "$PG_CLIENT")"
}

pg_ctl()
{
	timeout 10 ip netns exec "$(nx_ns "$PG_CLIENT")" env MEMX_CONF="$(nx_conf "$PG_CLIENT")" "$MEMXCTL" "$@"
}

# pg_pager LABEL [MEMXD ARGS...]
pg_pager()
{
	local label=$1 sock=$NX_TMP/$1.sock s
	local -a servers=()

	shift
	for s in "${PG_SERVERS[@]}"; do
		servers+=("$(nx_ip "$s")")
	done
	# A short grace: these scenarios are about what comes after a
	# server is out (rebuilds, losses), not about waiting for it.
	nx_pager "$PG_CLIENT" "memxd-$label" "$sock" \
		--servers "$(IFS=,; echo "${servers[*]}")" \
		--stripe-width "$PG_STRIPE" --spill-dir "$NX_TMP" \
		--grace-s "${PG_GRACE:-2}" "$@"
	nx_log "[$label] memxd pager up: --stripe-width $PG_STRIPE $*"
}

# pg_harness_start LABEL PAUSES [HARNESS ARGS...]
pg_harness_start()
{
	local label=$1 pauses=$2

	shift 2
	rm -f "$NX_TMP/$label.pause" "$NX_TMP/$label.pause.ready"
	nx_daemon "$PG_CLIENT" "harness-$label" timeout -k 10 "$PG_TIMEOUT" \
		"$HARNESS" --socket "$NX_TMP/$label.sock" --name "$label" \
		--size "$PX_SIZE" --budget "$PX_BUDGET" \
		--rounds "${MX_ROUNDS:-1}" \
		--pause-after "$pauses" --pause-file "$NX_TMP/$label.pause" "$@"
	nx_log "[$label] host harness: $PX_SIZE region on a $PX_BUDGET budget, pausing after $pauses"
}

# pg_start LABEL CAP[,CAP...] [MEMXD ARGS...]
pg_start()
{
	local label=$1
	local -a caps

	IFS=, read -r -a caps <<<"$2"
	shift 2
	pg_net "${caps[@]}"
	pg_pager "$label" "$@"
	pg_harness_start "$label" seq-write,end
	pg_wait_pause "$label" seq-write
}

pg_memxd_alive()
{
	kill -0 "${NX_PIDS[memxd-$1]}" 2>/dev/null && return 0
	printf '%s\n' "---- memxd (pager) log, last 60 lines ----" >&2
	tail -n 60 "$NX_TMP/memxd-$1.log" >&2
	nx_die "[$1] memxd (pager) died"
}

pg_harness_log()
{
	sed 's/^/    | /' "$NX_TMP/harness-$1.log" >&2
}

# pg_wait_pause LABEL PHASE: the harness paused after PHASE.
pg_wait_pause()
{
	local label=$1 phase=$2 ready=$NX_TMP/$1.pause.ready t0=$SECONDS

	for (( ; ; )); do
		if [[ -f $ready && $(cat "$ready" 2>/dev/null) == "$phase" ]]; then
			nx_log "[$label] harness paused after $phase ($((SECONDS - t0)) s)"
			return 0
		fi
		if ! kill -0 "${NX_PIDS[harness-$label]}" 2>/dev/null; then
			pg_harness_log "$label"
			pg_memxd_alive "$label"
			nx_die "[$label] the harness exited before pausing after $phase"
		fi
		((SECONDS - t0 < PG_TIMEOUT)) ||
			nx_die "[$label] the harness never paused after $phase"
		sleep 0.05
	done
}

pg_resume()
{
	rm -f "$NX_TMP/$1.pause"
}

# pg_harness_wait LABEL: its exit status (the output is shown).
pg_harness_wait()
{
	local label=$1 rc=0

	wait "${NX_PIDS[harness-$label]}" || rc=$?
	unset "NX_PIDS[harness-$label]"
	pg_harness_log "$label"
	((rc != 124 && rc != 137)) ||
		nx_log "[$label] the harness hung (killed after $PG_TIMEOUT s)"
	return "$rc"
}

pg_dump()
{
	pg_memxd_alive "$1"
	PG_DUMP=$(pg_ctl --socket "$NX_TMP/$1.sock" dump) || {
		pg_memxd_alive "$1"
		nx_die "[$1] memxctl dump failed"
	}
}

# pg_vm LABEL KEY [DUMP]: every value of KEY in the VM's block, one a line.
pg_vm()
{
	awk -F= -v vm="$1" -v key="$2" '
		$1 == "server" { in_vm = 0 }
		$1 == "vm" { in_vm = (substr($0, 4) == vm) }
		in_vm && $1 == key { print substr($0, length(key) + 2) }
	' <<<"${3:-$PG_DUMP}"
}

# pg_srv HOST KEY: KEY in the block of server HOST (a host name: srv3).
pg_srv()
{
	awk -F= -v srv="$(nx_ip "$1")" -v key="$2" '
		$1 == "vm" { in_srv = 0 }
		$1 == "server" { s = substr($0, 8); sub(/:.*/, "", s)
				 in_srv = (s == srv) }
		in_srv && $1 == key { print substr($0, length(key) + 2); exit }
	' <<<"$PG_DUMP"
}

pg_check_keys()
{
	local label=$1 k s
	local -a missing=()

	[[ -n $(pg_vm "$label" resident_pages) ]] ||
		nx_die "[$label] memxctl dump has no block for vm=$label"
	for k in "${PG_VM_KEYS[@]}"; do
		[[ -n $(pg_vm "$label" "$k") ]] || missing+=("vm:$k")
	done
	for k in "${PG_SERVER_KEYS[@]}"; do
		for s in "${PG_SERVERS[@]}"; do
			[[ -n $(pg_srv "$s" "$k") ]] || { missing+=("server:$k"); break; }
		done
	done
	((${#missing[@]} == 0)) && return 0
	printf '%s\n' "---- memxctl dump ----" "$PG_DUMP" >&2
	nx_die "[$label] memxctl dump lacks the issue-5 keys: ${missing[*]} (interface mismatch: report it to the pager's author)"
}

# pg_busiest N: the N hosts holding the most groups, most first.
pg_busiest()
{
	local s

	for s in "${PG_SERVERS[@]}"; do
		echo "$(pg_srv "$s" server_groups) $s"
	done | sort -k1,1nr | awk -v n="$1" '$1 > 0 && NR <= n { print $2 }'
}

pg_servers_line()
{
	local s line=

	for s in "${PG_SERVERS[@]}"; do
		line+="${s}[$(pg_srv "$s" server_state) groups=$(pg_srv "$s" server_groups)"
		line+=" parity=$(pg_srv "$s" server_parity_groups) used=$(pg_srv "$s" server_used_pages)] "
	done
	echo "$line"
}

pg_report()
{
	local label=$1 k line=

	for k in pg_width pg_rows pg_parity pg_groups pg_degraded \
		pg_rebuilding pg_lost rebuilt_groups rebuilt_pages \
		recovery_pending degraded_reads lost_pages resident_pages \
		remote_pages spilled_pages evict_spilled net_faults; do
		line+="$k=$(pg_vm "$label" "$k") "
	done
	echo "$line"
}

# pg_wait_server LABEL HOST STATE SEC
pg_wait_server()
{
	local label=$1 host=$2 state=$3 limit=$4 t0=$SECONDS st

	for (( ; ; )); do
		pg_dump "$label"
		st=$(pg_srv "$host" server_state)
		if [[ $st == "$state" ]]; then
			nx_log "[$label] $host is $state after $((SECONDS - t0)) s"
			return 0
		fi
		((SECONDS - t0 < limit)) || {
			nx_log "[$label] servers: $(pg_servers_line)"
			nx_die "[$label] $host is still '$st', not $state, after $limit s"
		}
		sleep 0.2
	done
}

# pg_prom_server LABEL HOST STATE: `memxctl prometheus` says what dump
# says of HOST: memx_server_state 1 for STATE alone, memx_server_up 1
# only if it is up; and it has every family for every server.
pg_prom_server()
{
	local label=$1 host=$2 state=$3 prom ip re n k want_up

	pg_memxd_alive "$label"
	prom=$(pg_ctl --socket "$NX_TMP/$label.sock" prometheus) ||
		nx_die "[$label] memxctl prometheus failed"
	ip=$(nx_ip "$host")
	re="server=\"${ip//./\\.}(:[0-9]+)?\""
	n=$(grep -cE "^memx_server_state\{$re,state=\"[a-z]+\"\} 1$" <<<"$prom" || true)
	grep -qE "^memx_server_state\{$re,state=\"$state\"\} 1$" <<<"$prom" && ((n == 1)) || {
		grep -E "^memx_server_(state|up)\{$re" <<<"$prom" >&2 || true
		nx_die "[$label] memxctl prometheus: $host is not in state $state alone"
	}
	want_up=0
	[[ $state == up ]] && want_up=1
	grep -qE "^memx_server_up\{$re\} $want_up$" <<<"$prom" ||
		nx_die "[$label] memxctl prometheus: memx_server_up of $host is not $want_up: $(grep -E "^memx_server_up\{$re" <<<"$prom")"
	for k in up down_seconds srtt_seconds capacity_pages used_pages \
		reads_total deaths_total; do
		n=$(grep -c "^memx_server_$k{server=" <<<"$prom" || true)
		((n == ${#PG_SERVERS[@]})) ||
			nx_die "[$label] memxctl prometheus: $n memx_server_$k samples for ${#PG_SERVERS[@]} servers"
	done
	# What a Prometheus client makes of it.
	printf '%s\n' "$prom" >"$NX_TMP/prometheus-$label.txt"
	n=$(px_prom_parse "$NX_TMP/prometheus-$label.txt") ||
		nx_die "[$label] memxctl prometheus does not parse as Prometheus' text format ($NX_TMP/prometheus-$label.txt)"
	nx_log "[$label] memxctl prometheus: $host state=$state, memx_server_up $want_up, every server's families there; $n families, all typed (prometheus_client)"
}

# pg_wait_recovery LABEL SEC
pg_wait_recovery()
{
	local label=$1 limit=$2 t0=$SECONDS last=-1 pend deg reb

	for (( ; ; )); do
		pg_dump "$label"
		pend=$(pg_vm "$label" recovery_pending)
		deg=$(pg_vm "$label" pg_degraded)
		reb=$(pg_vm "$label" pg_rebuilding)
		if ((${pend:-1} == 0 && ${deg:-1} == 0 && ${reb:-1} == 0)); then
			nx_log "[$label] recovery done after $((SECONDS - t0)) s:" \
				"rebuilt_groups=$(pg_vm "$label" rebuilt_groups)" \
				"rebuilt_pages=$(pg_vm "$label" rebuilt_pages)"
			return 0
		fi
		if ((SECONDS - last >= 2)); then
			last=$SECONDS
			nx_log "[$label] recovering: recovery_pending=$pend" \
				"pg_degraded=$deg pg_rebuilding=$reb" \
				"rebuilt_groups=$(pg_vm "$label" rebuilt_groups)" \
				"rebuilt_pages=$(pg_vm "$label" rebuilt_pages)"
		fi
		((SECONDS - t0 < limit)) || {
			nx_log "[$label] $(pg_report "$label")"
			nx_log "[$label] servers: $(pg_servers_line)"
			tail -n 30 "$NX_TMP/memxd-$label.log" >&2
			nx_die "[$label] recovery not finished after $limit s"
		}
		sleep 0.25
	done
}

pg_kill()
{
	local h pid
	local -a pids=()

	for h in "$@"; do
		pids+=("${NX_PIDS[server-$h]}")
	done
	kill -KILL "${pids[@]}"
	for h in "$@"; do
		pid=${NX_PIDS[server-$h]}
		wait "$pid" 2>/dev/null || true
		unset "NX_PIDS[server-$h]"
	done
	nx_log "SIGKILLed the memory server(s) on $* ($(for h in "$@"; do nx_ip "$h"; done | tr '\n' ' '))"
}

# The harness's "lost_range=A-B" lines covered by memxd's: 0 if all are.
pg_lost_covered()
{
	local label=$1

	awk -F'[=-]' '
		BEGIN { n = 0 }
		FILENAME == ARGV[1] {
			if ($1 == "lost_range") { lo[n] = $2; hi[n] = $3; n++ }
			next
		}
		$1 == "lost_range" {
			for (p = $2; p <= $3; p++) {
				ok = 0
				for (i = 0; i < n; i++)
					if (p >= lo[i] && p <= hi[i]) { ok = 1; break }
				if (!ok) { bad++; if (bad <= 5) print "page " p " is not in memxd'\''s lost_range lines" > "/dev/stderr" }
			}
		}
		END { exit bad > 0 }
	' <(pg_vm "$label" lost_range | sed 's/^/lost_range=/') \
		"$NX_TMP/harness-$label.log"
}

# The elapsed time of a scenario, for the log.
# The harness ended with its PASS line (it is paused at "end").
pg_harness_passed()
{
	grep -q '^host-harness: PASS' "$NX_TMP/harness-$1.log"
}

# pg_scenario_finish LABEL: let the paused harness exit (it must succeed),
# check memxd survived, stop it, and close the scenario.
pg_scenario_finish()
{
	pg_resume "$1"
	pg_harness_wait "$1" || nx_die "[$1] the harness failed at exit"
	pg_memxd_alive "$1"
	nx_stop "memxd-$1"
	pg_scenario_end "$1"
}

pg_scenario_begin()
{
	PG_T0=$SECONDS
	nx_log "==== scenario $1 ===="
}

pg_scenario_end()
{
	nx_log "==== scenario $1: PASS in $((SECONDS - PG_T0)) s ===="
	PG_SUMMARY+=("$1: PASS in $((SECONDS - PG_T0)) s")
}
PG_SUMMARY=()
