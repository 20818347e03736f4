# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# shellcheck disable=SC2034 # MG_* are for the scripts that source this
#
# migrate-common.sh - two client hosts for live migration tests, on top
# of guest-common.sh (source this after it).  The source host MG_SRC
# (GX_CLIENT, "client") and the destination host MG_DST ("client2") are
# network namespaces on the memory servers' network, each with a key of
# its own that both memory servers allow (netns.sh's nx_keys: every host
# made by nx_net_create is in the servers' peers file), a run directory
# of its own ($NX_TMP/HOST: memxd's socket and spill files, QMP sockets,
# pid files), its own memxd and its own QEMU.  Migration goes over TCP
# from client to client2, through the same bridge as RMAP.
#
#   mg_setup CAPACITY         namespaces client, srv1, srv2, client2 on
#                             one bridge, both servers lending CAPACITY;
#                             dies unless each client host reaches each
#                             server over authenticated RMAP (memxctl
#                             stat with its own key) and the other client
#   mg_memxd_start HOST [ARGS...]
#                             memxd (pager) in HOST, daemon memxd-HOST
#                             (log $NX_TMP/memxd-HOST.log), with memxd
#                             ARGS; MG_SOCK[HOST] is its control socket.
#                             gx_memxd_kill HOST / gx_memxd_restart HOST
#                             work on it
#   mg_vms HOST               how many VMs HOST's memxd holds (memxctl
#                             dump), or "?" if it does not answer
#   mg_qemu_args HOST SIZE WORK [APPEND...]
#                             GX_QEMU_ARGS: the test guest with SIZE of
#                             RAM running WORK (memx.work=), its RAM on
#                             MG_BACKEND: memfd (all local, no memxd) or
#                             memx (MG_BUDGET local, HOST's memxd).  The
#                             same call for both ends of a migration but
#                             HOST: the machines must match
#   mg_qemu_start HOST NAME TIMEOUT [QEMU ARGS...]
#                             QEMU with GX_QEMU_ARGS and ARGS in HOST, in
#                             the background: console $NX_TMP/NAME.log,
#                             QMP socket MG_QMP[NAME], QEMU's own pid in
#                             $NX_TMP/HOST/NAME.pid, the pid to wait for
#                             in NX_PIDS[qemu-NAME] (gx_wait_result NAME
#                             works); returns once QMP answers
#   mg_qemu_incoming HOST NAME TIMEOUT PORT
#                             the destination: mg_qemu_start with
#                             -incoming defer, MG_CAPS set, then
#                             migrate-incoming on MG_URI[NAME],
#                             tcp:<HOST's address>:PORT (listening when
#                             this returns)
#   mg_status NAME            QEMU's run state (query-status), or "gone"
#   mg_migrate SRC DST        migrate QEMU SRC to QEMU DST's MG_URI:
#                             capabilities return-path and MG_CAPS on,
#                             max-bandwidth MG_MIBPS MiB/s and
#                             downtime-limit MG_DOWNTIME_MS if set (else
#                             QEMU's defaults), then `migrate`; logs the
#                             capabilities and parameters in effect
#   mg_migrate_query NAME     one query-migrate on NAME: MG_MIG_STATUS,
#                             MG_MIG_TOTAL_TIME, MG_MIG_DOWNTIME,
#                             MG_MIG_RAM_TRANSFERRED, ... (every number
#                             of query-migrate, ram.* as MG_MIG_RAM_*,
#                             0 when absent); 1 if NAME does not answer
#                             (MG_MIG_STATUS=gone)
#   mg_migrate_wait NAME TIMEOUT [UNTIL]
#                             every second, mg_migrate_query NAME and log
#                             a progress line (status, MiB transferred
#                             and remaining, dirty pages rate), until the
#                             migration ended (completed, failed,
#                             cancelled: returns 0), UNTIL (eval'd, with
#                             the MG_MIG_* of that poll) holds (0), NAME
#                             stops answering (2) or TIMEOUT seconds
#                             pass (1)
#   mg_migrate_summary NAME   log the last poll's totals: total time,
#                             setup time, downtime, bytes transferred; for
#                             a migration that failed or was cancelled
#                             (QEMU then shows no numbers), its error and
#                             where it stood at the poll before
#   mg_qemu_kill NAME [SIG]   signal QEMU itself (SIGKILL by default; not
#                             the timeout(1) around it) and wait (30 s)
#                             until it is gone
#   mg_qemu_wait NAME TIMEOUT wait until QEMU NAME exited; MG_RC is its
#                             status (124 or 137: timed out)
#   mg_quit NAME TIMEOUT      QMP `quit`, then mg_qemu_wait
#   mg_report HOST DIRECTION  the newest migration report (key=value) of
#                             HOST's memxd, DIRECTION out or in; empty if
#                             none
#   mg_report_val HOST DIRECTION KEY
#                             KEY's value in it
#
# Environment: MG_BACKEND (memfd or memx, default memfd), MG_BUDGET (memx
# only, default 256M), MG_CAPS (more capabilities to turn on at both
# ends, comma-separated), MG_MIBPS, MG_DOWNTIME_MS; those of
# guest-common.sh.  Cleanup stops every QEMU before the daemons.

MG_SRC=$GX_CLIENT
MG_DST=client2
MG_HOSTS=("$MG_SRC" "$MG_DST")
MG_BACKEND=${MG_BACKEND:-memfd}
MG_BUDGET=${MG_BUDGET:-256M}
MG_CAPS=${MG_CAPS:-}
MG_MIBPS=${MG_MIBPS:-}
MG_DOWNTIME_MS=${MG_DOWNTIME_MS:-}
MG_RC=0
MG_MIG_LAST_TIME=0 MG_MIG_LAST_TRANSFERRED=0 MG_MIG_LAST_REMAINING=0
declare -A MG_SOCK=() MG_QMP=() MG_URI=() MG_HOST=()

# Every QEMU first (a memx QEMU whose memxd goes first waits for it),
# then netns.sh's cleanup of the daemons and namespaces.
mg_cleanup()
{
	local rc=$? n

	set +e
	for n in "${!NX_PIDS[@]}"; do
		[[ $n == qemu* ]] && nx_stop "$n"
	done
	(exit "$rc")
	nx_cleanup
}

mg_setup()
{
	local cap=$1 h s

	case $MG_BACKEND in
	memfd | memx) ;;
	*) nx_die "MG_BACKEND must be memfd or memx, not '$MG_BACKEND'" ;;
	esac
	nx_init
	trap mg_cleanup EXIT
	# client2 last: the servers keep the addresses gx_setup gives them.
	nx_net_create 1500 "$MG_SRC" "${GX_SERVERS[@]}" "$MG_DST"
	nx_memory_servers "$MG_SRC" "$cap" "${GX_SERVERS[@]}"
	for h in "${MG_HOSTS[@]}"; do
		mkdir -p "$NX_TMP/$h"
		# memxctl stat speaks RMAP with the host's own key: the
		# server answers only a peer in its peers file.
		for s in "${GX_SERVERS[@]}"; do
			nx_exec "$h" timeout 5 "$MEMXCTL" stat "$(nx_ip "$s")" \
				>/dev/null 2>&1 ||
				nx_die "$h cannot reach memory server $s over RMAP (is its key allowed?)"
		done
	done
	nx_exec "$MG_SRC" ping -c1 -W2 -q "$(nx_ip "$MG_DST")" >/dev/null 2>&1 ||
		nx_die "$MG_SRC cannot reach $MG_DST"
	nx_log "${#GX_SERVERS[@]} memory servers up (${cap} each);" \
		"source host $MG_SRC $(nx_ip "$MG_SRC")," \
		"destination host $MG_DST $(nx_ip "$MG_DST"), both allowed by both servers"
}

mg_memxd_start()
{
	local host=$1

	shift
	GX_CLIENT=$host GX_RUNDIR=$NX_TMP/$host gx_memxd_start "$host" "$@"
	MG_SOCK[$host]=$GX_SOCK
}

mg_vms()
{
	local out

	out=$(timeout 5 "$MEMXCTL" --socket "${MG_SOCK[$1]}" dump 2>/dev/null) ||
		{ echo '?'; return 0; }
	grep -c '^vm=' <<<"$out" || true
}

mg_qemu_args()
{
	local host=$1 size=$2 work=$3

	shift 3
	case $MG_BACKEND in
	memfd)
		gx_qemu_args_memfd "$size" "$work" "$@"
		;;
	memx)
		# ---- the memx variant: HOST's memxd holds the guest's RAM ----
		# The source's QEMU on the source's memxd, the destination's
		# on the destination's, with the same VM name (name=guest)
		# and budget: only the socket differs.  As it is, QEMU's own
		# precopy copies every page through the migration stream:
		# the source's memxd faults evicted pages back in for it to
		# send, the destination's takes them as the guest's writes.
		# What the backend needs to migrate otherwise (a property
		# here, a capability in MG_CAPS) goes here.
		[[ -n ${MG_SOCK[$host]:-} ]] ||
			nx_die "no memxd in $host (mg_memxd_start $host first)"
		GX_SOCK=${MG_SOCK[$host]} gx_qemu_args "$size" "$MG_BUDGET" "$work" "$@"
		;;
	esac
}

mg_qemu_start()
{
	local host=$1 name=$2 tmo=$3 dir=$NX_TMP/$1 pid

	shift 3
	MG_QMP[$name]=$dir/$name.qmp
	MG_HOST[$name]=$host
	rm -f "${MG_QMP[$name]}" "$dir/$name.pid"
	timeout -k 10 "$tmo" ip netns exec "$(nx_ns "$host")" \
		"$QEMU" "${GX_QEMU_ARGS[@]}" \
		-qmp "unix:${MG_QMP[$name]},server=on,wait=off" \
		-pidfile "$dir/$name.pid" "$@" </dev/null >"$NX_TMP/$name.log" 2>&1 &
	pid=$!
	NX_PIDS["qemu-$name"]=$pid
	gx_wait_for 60 "[[ -S '${MG_QMP[$name]}' ]] || ! kill -0 $pid 2>/dev/null" || true
	if ! kill -0 "$pid" 2>/dev/null || ! gx_qmp "${MG_QMP[$name]}" query-status >/dev/null; then
		tail -n 20 "$NX_TMP/$name.log" >&2
		nx_die "QEMU $name in $host did not start, or its QMP does not answer"
	fi
}

mg_status()
{
	gx_qmp "${MG_QMP[$1]}" query-status 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])' 2>/dev/null ||
		echo gone
}

# mg_caps_json CAP,...: migrate-set-capabilities' arguments, each on.
mg_caps_json()
{
	python3 -c 'import json, sys
print(json.dumps({"capabilities": [{"capability": c, "state": True}
	for c in sys.argv[1].split(",") if c]}))' "$1"
}

mg_qemu_incoming()
{
	local host=$1 name=$2 tmo=$3 port=$4 st

	mg_qemu_start "$host" "$name" "$tmo" -incoming defer
	st=$(mg_status "$name")
	[[ $st == inmigrate ]] ||
		nx_die "the destination QEMU $name is '$st', not inmigrate"
	if [[ -n $MG_CAPS ]]; then
		gx_qmp "${MG_QMP[$name]}" migrate-set-capabilities \
			"$(mg_caps_json "$MG_CAPS")" >/dev/null ||
			nx_die "the destination QEMU $name refused capabilities $MG_CAPS"
	fi
	MG_URI[$name]=tcp:$(nx_ip "$host"):$port
	gx_qmp "${MG_QMP[$name]}" migrate-incoming \
		"{\"uri\": \"${MG_URI[$name]}\"}" >/dev/null ||
		nx_die "the destination QEMU $name did not take migrate-incoming ${MG_URI[$name]}"
	nx_log "destination QEMU $name in $host waits for the migration on ${MG_URI[$name]}"
}

mg_migrate()
{
	local src=$1 dst=$2 qmp=${MG_QMP[$1]} on params p

	[[ -n ${MG_URI[$dst]:-} ]] || nx_die "$dst takes no migration (mg_qemu_incoming)"
	gx_qmp "$qmp" migrate-set-capabilities \
		"$(mg_caps_json "return-path${MG_CAPS:+,$MG_CAPS}")" >/dev/null ||
		nx_die "the source QEMU $src refused capabilities return-path${MG_CAPS:+,$MG_CAPS}"
	on=$(gx_qmp "$qmp" query-migrate-capabilities | python3 -c 'import json, sys
print(",".join(c["capability"] for c in json.load(sys.stdin) if c["state"]))')
	params="{"
	[[ -n $MG_MIBPS ]] && params+="\"max-bandwidth\": $((MG_MIBPS << 20)),"
	[[ -n $MG_DOWNTIME_MS ]] && params+="\"downtime-limit\": $MG_DOWNTIME_MS,"
	params="${params%,}}"
	gx_qmp "$qmp" migrate-set-parameters "$params" >/dev/null ||
		nx_die "the source QEMU $src refused migration parameters $params"
	p=$(gx_qmp "$qmp" query-migrate-parameters | python3 -c 'import json, sys
p = json.load(sys.stdin)
print("max-bandwidth %d MiB/s, downtime-limit %d ms" %
	(p["max-bandwidth"] >> 20, p["downtime-limit"]))')
	nx_log "migrating $src ($(nx_ip "${MG_HOST[$src]}")) to $dst (${MG_URI[$dst]}):" \
		"capabilities on: ${on:-none}; $p"
	MG_MIG_LAST_TIME=0 MG_MIG_LAST_TRANSFERRED=0 MG_MIG_LAST_REMAINING=0
	gx_qmp "$qmp" migrate "{\"uri\": \"${MG_URI[$dst]}\"}" >/dev/null ||
		nx_die "the source QEMU $src refused to migrate to ${MG_URI[$dst]}"
}

mg_migrate_query()
{
	local out

	if ! out=$(gx_qmp "${MG_QMP[$1]}" query-migrate 2>/dev/null | python3 -c '
import json, re, shlex, sys
r = json.load(sys.stdin)
known = ["status", "total-time", "setup-time", "downtime",
	"expected-downtime", "error-desc"]
ram = ["transferred", "remaining", "total", "duplicate", "normal",
	"normal-bytes", "dirty-pages-rate", "mbps", "dirty-sync-count",
	"precopy-bytes", "downtime-bytes", "postcopy-bytes",
	"pages-per-second"]
v = {k: 0 for k in known + ["ram-" + k for k in ram]}
v["status"] = "none"
v["error-desc"] = ""
v.update({k: x for k, x in r.items() if not isinstance(x, (dict, list))})
v.update({"ram-" + k: x for k, x in r.get("ram", {}).items()})
for k, x in v.items():
	if isinstance(x, float):
		x = int(x)
	print("MG_MIG_%s=%s" % (re.sub("[^A-Z0-9]", "_", k.upper()),
		shlex.quote(str(x))))
'); then
		MG_MIG_STATUS=gone
		return 1
	fi
	eval "$out"
	# QEMU 7.2 drops the numbers once a migration failed or was
	# cancelled: keep those of the last poll that had them.
	if ((MG_MIG_RAM_TOTAL > 0)); then
		MG_MIG_LAST_TIME=$MG_MIG_TOTAL_TIME
		MG_MIG_LAST_TRANSFERRED=$MG_MIG_RAM_TRANSFERRED
		MG_MIG_LAST_REMAINING=$MG_MIG_RAM_REMAINING
	fi
}

mg_mib()
{
	awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'
}

mg_s()
{
	awk -v t="$1" 'BEGIN { printf "%.1f", t / 1000 }'
}

mg_migrate_wait()
{
	local name=$1 end=$((SECONDS + $2)) until=${3:-}

	while :; do
		mg_migrate_query "$name" || {
			nx_log "migrate $name: QEMU does not answer"
			return 2
		}
		if ((MG_MIG_RAM_TOTAL > 0)); then
			nx_log "migrate $name: $MG_MIG_STATUS $(mg_s "$MG_MIG_TOTAL_TIME") s," \
				"transferred $(mg_mib "$MG_MIG_RAM_TRANSFERRED") MiB," \
				"remaining $(mg_mib "$MG_MIG_RAM_REMAINING") MiB" \
				"of $(mg_mib "$MG_MIG_RAM_TOTAL") MiB," \
				"dirty $MG_MIG_RAM_DIRTY_PAGES_RATE pages/s," \
				"pass $MG_MIG_RAM_DIRTY_SYNC_COUNT, $MG_MIG_RAM_MBPS Mbps"
		else
			nx_log "migrate $name: $MG_MIG_STATUS${MG_MIG_ERROR_DESC:+ ($MG_MIG_ERROR_DESC)}"
		fi
		case $MG_MIG_STATUS in
		completed | failed | cancelled) return 0 ;;
		esac
		[[ -n $until ]] && eval "$until" && return 0
		((SECONDS < end)) || return 1
		sleep 1
	done
}

mg_migrate_summary()
{
	if [[ $MG_MIG_STATUS != completed ]]; then
		nx_log "migrate $1: $MG_MIG_STATUS${MG_MIG_ERROR_DESC:+ ($MG_MIG_ERROR_DESC)};" \
			"at the last poll before, $(mg_s "$MG_MIG_LAST_TIME") s in:" \
			"transferred $(mg_mib "$MG_MIG_LAST_TRANSFERRED") MiB," \
			"remaining $(mg_mib "$MG_MIG_LAST_REMAINING") MiB"
		return 0
	fi
	nx_log "migrate $1: $MG_MIG_STATUS; total time $MG_MIG_TOTAL_TIME ms" \
		"(setup $MG_MIG_SETUP_TIME ms), downtime $MG_MIG_DOWNTIME ms;" \
		"ram: transferred $(mg_mib "$MG_MIG_RAM_TRANSFERRED") MiB" \
		"(precopy $(mg_mib "$MG_MIG_RAM_PRECOPY_BYTES") MiB," \
		"while stopped $(mg_mib "$MG_MIG_RAM_DOWNTIME_BYTES") MiB)" \
		"of $(mg_mib "$MG_MIG_RAM_TOTAL") MiB guest RAM;" \
		"$MG_MIG_RAM_NORMAL pages sent whole ($(mg_mib "$MG_MIG_RAM_NORMAL_BYTES") MiB)," \
		"$MG_MIG_RAM_DUPLICATE zero pages; $MG_MIG_RAM_DIRTY_SYNC_COUNT passes," \
		"$MG_MIG_RAM_MBPS Mbps"
}

mg_qemu_kill()
{
	local name=$1 sig=${2:-KILL} pid wrap=${NX_PIDS[qemu-$1]:-}

	pid=$(cat "$NX_TMP/${MG_HOST[$name]}/$name.pid" 2>/dev/null) ||
		nx_die "QEMU $name wrote no pid file"
	# Disowned, bash reaps timeout(1), which dies of QEMU's signal,
	# without a "Killed" line on stderr.
	if [[ -n $wrap ]]; then
		disown "$wrap" 2>/dev/null || true
	fi
	kill "-$sig" "$pid"
	gx_wait_for 30 "! kill -0 $pid 2>/dev/null && ! kill -0 ${wrap:-$pid} 2>/dev/null" ||
		nx_die "QEMU $name did not exit within 30 s of SIG$sig"
	unset "NX_PIDS[qemu-$name]"
}

mg_qemu_wait()
{
	local pid=${NX_PIDS[qemu-$1]:-}

	MG_RC=0
	[[ -n $pid ]] || return 0
	gx_wait_for "$2" "! kill -0 $pid 2>/dev/null" || true
	if kill -0 "$pid" 2>/dev/null; then
		MG_RC=124
		nx_stop "qemu-$1"
		return 0
	fi
	wait "$pid" || MG_RC=$?
	unset "NX_PIDS[qemu-$1]"
}

mg_quit()
{
	gx_qmp "${MG_QMP[$1]}" quit >/dev/null 2>&1 || true
	mg_qemu_wait "$1" "$2"
}

mg_report()
{
	local f newest=

	for f in "$NX_TMP/$1"/migrations/*-"$2".report; do
		[[ -f $f ]] || continue
		if [[ -z $newest || $f -nt $newest ]]; then
			newest=$f
		fi
	done
	[[ -n $newest ]] && echo "$newest"
}

mg_report_val()
{
	local f

	f=$(mg_report "$1" "$2") || return 0
	sed -n "s/^$3=//p" "$f" | head -n1
}
