# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# shellcheck disable=SC2034 # GX_* and QEMU are for the scripts that source this
#
# guest-common.sh - what tests/guest-e2e.sh, tests/demo.sh and
# tests/bench/guest-bench.sh share: the patched QEMU and the test guest
# (both built and cached by their scripts), two memory servers and a
# client as network namespaces (netns.sh), memxd's pager in the client,
# and a guest booted on memory-backend-memx.
#
#   gx_require                skip (77) loudly unless root, /dev/userfaultfd
#                             and namespaces work; fail unless memxd and
#                             memxctl are built
#   gx_build                  QEMU=patched qemu-system-x86_64 (qemu-patches/
#                             build.sh; or $MEMX_QEMU if set), GUEST=dir
#                             with vmlinuz and initramfs.gz
#                             (tests/guest/build.sh)
#   gx_setup CAPACITY         namespaces up, both servers lending CAPACITY
#                             (with the words of $GX_SERVER_ARGS, e.g.
#                             --reserve=on, besides $NX_SERVER_ARGS)
#   gx_memxd_start LABEL [ARGS...]
#                             memxd (pager) in the client ($GX_CLIENT),
#                             with memxd ARGS; GX_SOCK is its control
#                             socket, $GX_RUNDIR/LABEL.sock; its spill
#                             files go to GX_RUNDIR (default $NX_TMP)
#   gx_memxd_kill LABEL [SIG] memxd-LABEL killed (SIGKILL by default) and
#                             gone; its log is kept as memxd-LABEL.log.N
#   gx_memxd_restart LABEL    memxd-LABEL again, with the command line
#                             gx_memxd_start gave it (the same host and
#                             socket), answering on its socket
#   gx_nap_open               in $nap, a pipe no one writes: `read -t S -u
#                             $nap` sleeps S seconds without a fork
#   gx_sampler_start OUT      every second, keep memxd's last `memxctl dump`
#                             that shows a VM in OUT (the VM's counters go
#                             when QEMU exits, so sample while it runs)
#   gx_qemu_args SIZE BUDGET WORK [APPEND...]
#                             GX_QEMU_ARGS: a guest of SIZE on memx with
#                             BUDGET, running WORK (memx.work=, see
#                             tests/guest/init); GX_BALLOON=1 adds
#                             virtio-balloon with free page reporting
#   gx_qemu_args_memfd SIZE WORK [APPEND...]
#                             the same guest with all of SIZE local
#                             (memory-backend-memfd), no memxd
#   gx_qemu_run LOG TIMEOUT [ARGS...]
#                             run QEMU with GX_QEMU_ARGS in the client,
#                             console in LOG, progress on stdout; a
#                             non-empty GX_QEMU_WRAP (a command and its
#                             arguments) runs `ip netns exec ... QEMU ...`
#   gx_qemu_start NAME TIMEOUT
#                             QEMU with GX_QEMU_ARGS in the background,
#                             its VM named NAME in memxd (several guests
#                             on one memxd), console in $NX_TMP/NAME.log,
#                             pid in NX_PIDS[qemu-NAME]
#   gx_wait_result NAME TIMEOUT
#                             wait until NAME's guest printed its result
#                             line, or its QEMU exited
#   gx_qemu_local SIZE        GX_QEMU_ARGS on memory-backend-memfd, the
#                             whole guest local (the benchmarks' baseline)
#   gx_bench_run LABEL TIMEOUT
#                             gx_qemu_run into $NX_TMP/LABEL.log; dies
#                             with the console's tail unless the guest's
#                             workloads passed
#   gx_guest_time LABEL WORK  WORK's time= in LABEL.log (the guest's clock)
#   gx_val FILE KEY           KEY's value in the VM's part of a dump
#   gx_qmp SOCK CMD [ARGS]    run one QMP command (ARGS: JSON) on QEMU's
#                             QMP socket, print its "return" as JSON (a
#                             string without quotes); fails on an error
#                             or no answer in GX_QMP_TIMEOUT (20) s
#   gx_wait_for TIMEOUT CMD   poll CMD (eval'd) every 0.1 s until it
#                             succeeds (0) or TIMEOUT seconds pass (1)
#
# Namespaces are named mxq-PID-...; everything is removed on exit.
# GX_ACCEL (tcg or kvm, default tcg: this machine's KVM cannot boot a
# stock kernel) picks the accelerator.  NX_KEEP=1 keeps the logs.

NX_PREFIX=${NX_PREFIX:-mxq-$$-}
NX_SUBNET=${NX_SUBNET:-47}
gx_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$gx_here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
# shellcheck source=tests/lib/netns.sh
. "$top_srcdir/tests/lib/netns.sh"

MEMXD=$top_builddir/memxd/memxd
MEMXCTL=$top_builddir/memxd/memxctl
GX_SERVERS=(srv1 srv2)
GX_CLIENT=client
GX_ACCEL=${GX_ACCEL:-tcg}
GX_FIRMWARE=(-L /usr/share/seabios -L /usr/share/qemu -L /usr/lib/ipxe/qemu)
GX_SOCK=
QEMU=
GUEST=
declare -a GX_QEMU_ARGS=() GX_QEMU_WRAP=()

gx_require()
{
	local b

	[[ $(id -u) -eq 0 ]] ||
		nx_skip "needs root (network namespaces, userfaultfd for QEMU and memxd)"
	[[ -c /dev/userfaultfd ]] ||
		nx_skip "no /dev/userfaultfd (needs Linux >= 6.1 with CONFIG_USERFAULTFD)"
	case $GX_ACCEL in
	tcg) ;;
	kvm) [[ -c /dev/kvm ]] || nx_skip "GX_ACCEL=kvm, but there is no /dev/kvm" ;;
	*) nx_die "GX_ACCEL must be tcg or kvm, not '$GX_ACCEL'" ;;
	esac
	for b in "$MEMXD" "$MEMXCTL"; do
		[[ -x $b ]] || nx_die "$b is not built"
	done
	nx_require
}

gx_build()
{
	if [[ -n ${MEMX_QEMU:-} ]]; then
		QEMU=$MEMX_QEMU
	else
		QEMU=$(bash "$top_srcdir/qemu-patches/build.sh" "$top_builddir/qemu" |
			tail -n1) || nx_die "building the patched QEMU failed"
	fi
	[[ -x $QEMU ]] || nx_die "qemu-patches/build.sh gave no binary"
	GUEST=$(bash "$top_srcdir/tests/guest/build.sh" | tail -n1) ||
		nx_die "building the test guest failed"
	[[ -s $GUEST/vmlinuz && -s $GUEST/initramfs.gz ]] ||
		nx_die "tests/guest/build.sh gave no kernel or initramfs"
}

# Stop QEMU before netns.sh's cleanup stops the daemons: memxd going first
# would leave QEMU waiting for it to come back.
gx_cleanup()
{
	local rc=$?

	set +e
	if [[ -n ${NX_PIDS[qemu]:-} ]]; then
		nx_stop qemu
	fi
	(exit "$rc")
	nx_cleanup
}

gx_setup()
{
	local cap=$1

	nx_init
	trap gx_cleanup EXIT
	nx_net_create "${GX_MTU:-1500}" "$GX_CLIENT" "${GX_SERVERS[@]}"
	NX_SERVER_ARGS="${NX_SERVER_ARGS:-} ${GX_SERVER_ARGS:-}" \
		nx_memory_servers "$GX_CLIENT" "$cap" "${GX_SERVERS[@]}"
	nx_log "${#GX_SERVERS[@]} memory servers up (${cap} each${GX_SERVER_ARGS:+, $GX_SERVER_ARGS}), client $(nx_ip "$GX_CLIENT")"
}

declare -A GX_MEMXD_ARGS=()
declare -A GX_MEMXD_GEN=()
declare -A GX_MEMXD_HOST=()

gx_memxd_start()
{
	local label=$1 dir=${GX_RUNDIR:-$NX_TMP} s
	local -a servers=()

	shift
	GX_SOCK=$dir/$label.sock
	for s in "${GX_SERVERS[@]}"; do
		servers+=("$(nx_ip "$s")")
	done
	set -- --servers "$(IFS=,; echo "${servers[*]}")" \
		--spill-dir "$dir" "$@"
	GX_MEMXD_ARGS[$label]=$(printf '%q ' "$GX_SOCK" "$@")
	GX_MEMXD_GEN[$label]=0
	GX_MEMXD_HOST[$label]=$GX_CLIENT
	nx_pager "$GX_CLIENT" "memxd-$label" "$GX_SOCK" "$@"
}

gx_memxd_kill()
{
	local label=$1 sig=${2:-KILL} pid=${NX_PIDS[memxd-$1]:-} gen

	[[ -n $pid ]] || nx_die "memxd-$label is not running"
	# Disowned, bash reaps it without a "Killed" line on stderr.
	disown "$pid" 2>/dev/null || true
	kill "-$sig" "$pid" 2>/dev/null || true
	# SIGTERM: memxd detaches its VMs and exits within about a second.
	gx_wait_for 30 "! kill -0 $pid 2>/dev/null" ||
		nx_die "memxd-$label did not exit within 30 s of SIG$sig"
	unset "NX_PIDS[memxd-$label]"
	gen=$((GX_MEMXD_GEN[$label] + 1))
	GX_MEMXD_GEN[$label]=$gen
	mv -f "$NX_TMP/memxd-$label.log" "$NX_TMP/memxd-$label.log.$gen"
}

gx_memxd_restart()
{
	local label=$1 pid
	local -a args

	[[ -n ${GX_MEMXD_ARGS[$label]:-} ]] ||
		nx_die "gx_memxd_restart: no memxd-$label was started"
	eval "args=(${GX_MEMXD_ARGS[$label]})"
	GX_SOCK=${args[0]}
	# A SIGKILLed memxd leaves its socket behind, which nx_pager takes
	# for the new one's: wait until memxd answers on it.
	nx_pager "${GX_MEMXD_HOST[$label]}" "memxd-$label" "${args[@]}"
	pid=${NX_PIDS[memxd-$label]}
	gx_wait_for 30 "timeout 5 '$MEMXCTL' --socket '$GX_SOCK' status \
		>/dev/null 2>&1 || ! kill -0 $pid 2>/dev/null" || true
	if ! kill -0 "$pid" 2>/dev/null ||
		! timeout 5 "$MEMXCTL" --socket "$GX_SOCK" status >/dev/null 2>&1; then
		cat "$NX_TMP/memxd-$label.log" >&2
		nx_die "memxd-$label, started again, did not answer on $GX_SOCK"
	fi
}

gx_wait_for()
{
	local end=$((SECONDS + $1))

	while ((SECONDS < end)); do
		eval "$2" && return 0
		sleep 0.1
	done
	eval "$2"
}

gx_qmp()
{
	timeout -k 5 "${GX_QMP_TIMEOUT:-20}" python3 - "$@" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
def cmd(c, args=None):
    m = {"execute": c}
    if args is not None:
        m["arguments"] = args
    f.write(json.dumps(m) + "\n"); f.flush()
    while True:
        line = f.readline()
        if not line:
            sys.exit("QMP: connection closed")
        r = json.loads(line)
        if "error" in r:
            sys.exit("QMP %s: %s" % (c, r["error"].get("desc", r["error"])))
        if "return" in r:
            return r["return"]
json.loads(f.readline())            # greeting
cmd("qmp_capabilities")
r = cmd(sys.argv[2], json.loads(sys.argv[3]) if len(sys.argv) > 3 else None)
print(r if isinstance(r, str) else json.dumps(r))
PY
}

gx_nap_open()
{
	exec {nap}<> <(:)
}

gx_sampler_start()
{
	local out=$1

	# It runs beside the guest, on the same CPUs: memxctl is its only
	# program (the sleep is a read that times out, the check a builtin).
	(
		local nap line

		gx_nap_open
		while :; do
			if timeout 5 "$MEMXCTL" --socket "$GX_SOCK" dump \
				>"$out.tmp" 2>/dev/null; then
				while read -r line; do
					if [[ $line == vm=* ]]; then
						mv -f "$out.tmp" "$out"
						break
					fi
				done <"$out.tmp"
			fi
			read -rt 1 -u "$nap" _ || :
		done
	) &
	NX_PIDS[sampler]=$!
}

# gx_srv_val DUMP SERVER KEY: KEY from SERVER's block of a dump file.
gx_srv_val()
{
	awk -F= -v s="$2" -v k="$3" '$1 == "server" { in_s = ($2 == s) }
		in_s && $1 == k { print $2; exit }' "$1"
}

# gx_killer_start PATTERN: in the background, once PATTERN appears in the
# guest's console ($NX_TMP/guest.log), SIGKILL the memory server holding
# the most group slots; "NAME SLOTS PAGES" goes to $NX_TMP/victim.
gx_killer_start()
{
	(
		local victim='' most=0 n s

		for _ in $(seq 7200); do
			grep -q -- "$1" "$NX_TMP/guest.log" 2>/dev/null && break
			sleep 0.5
		done
		timeout 10 "$MEMXCTL" --socket "$GX_SOCK" dump \
			>"$NX_TMP/before-kill" || exit 1
		for s in "${GX_SERVERS[@]}"; do
			n=$(gx_srv_val "$NX_TMP/before-kill" "$(nx_ip "$s")" server_groups)
			if ((${n:-0} > most)); then
				most=$n
				victim=$s
			fi
		done
		[[ -n $victim ]] || exit 1
		kill -KILL "${NX_PIDS[server-$victim]}"
		echo "$victim $most $(gx_srv_val "$NX_TMP/before-kill" \
			"$(nx_ip "$victim")" server_used_pages)" >"$NX_TMP/victim"
		nx_log "killed memory server $victim ($(nx_ip "$victim")) under" \
			"the running guest: it held $most group slots"
	) &
	NX_PIDS[killer]=$!
}

gx_qemu_args()
{
	local size=$1 budget=$2 work=$3 append

	shift 3
	append="console=ttyS0 panic=-1 loglevel=4 memx.work=$work"
	[[ ${GX_BALLOON:-0} == 1 ]] && append+=" memx.balloon=1"
	GX_QEMU_ARGS=(-machine "q35,memory-backend=mem0" -accel "$GX_ACCEL"
		-object "memory-backend-memx,id=mem0,size=$size,memxd=$GX_SOCK,budget=$budget,name=guest"
		-m "$size" -smp 1 -nographic -nic none -no-reboot
		"${GX_FIRMWARE[@]}"
		-kernel "$GUEST/vmlinuz" -initrd "$GUEST/initramfs.gz"
		-append "$append${*:+ $*}")
	if [[ ${GX_BALLOON:-0} == 1 ]]; then
		# Free page reporting: the guest hands freed memory back, QEMU
		# discards it (ram_block_discard_range) and tells memxd.
		GX_QEMU_ARGS+=(-device "virtio-balloon-pci,free-page-reporting=on")
	fi
}

gx_qemu_args_memfd()
{
	local size=$1 work=$2 i

	shift 2
	gx_qemu_args "$size" "$size" "$work" "$@"
	for i in "${!GX_QEMU_ARGS[@]}"; do
		[[ ${GX_QEMU_ARGS[$i]} == memory-backend-memx,* ]] &&
			GX_QEMU_ARGS[i]="memory-backend-memfd,id=mem0,size=$size"
	done
	return 0
}

# gx_qemu_run LOG TIMEOUT [QEMU ARGS...]: QEMU with GX_QEMU_ARGS (and
# ARGS) in the client, its console in LOG, the guest's own lines shown on
# stdout (prefixed with GX_SHOW_PREFIX); returns QEMU's exit status.  QEMU
# runs in the background while we wait, so that Ctrl-C and SIGTERM reach
# the cleanup trap at once (which stops QEMU) rather than after the guest.
# GX_QEMU_WRAP (an array), if set, runs `ip netns exec NS QEMU ...`: e.g. a
# command that puts itself in a cgroup and execs the rest (outside the
# namespace: `ip netns exec` mounts a /sys of its own, without cgroupfs).
gx_qemu_run()
{
	local log=$1 tmo=$2 rc=0 console

	shift 2
	: >"$log"
	timeout -k 10 "$tmo" ${GX_QEMU_WRAP[@]+"${GX_QEMU_WRAP[@]}"} \
		ip netns exec "$(nx_ns "$GX_CLIENT")" \
		"$QEMU" "${GX_QEMU_ARGS[@]}" "$@" </dev/null >"$log" 2>&1 &
	NX_PIDS[qemu]=$!
	# The console follows QEMU: tail exits within a second of it.
	tail -n +1 -f --pid="${NX_PIDS[qemu]}" "$log" |
		grep --line-buffered -E '^(MEMX-GUEST|qsort|fill|randrw|sweep|scan|qemu)' |
		sed -u "s/^/${GX_SHOW_PREFIX:-}/" &
	console=$!
	wait "${NX_PIDS[qemu]}" || rc=$?
	unset "NX_PIDS[qemu]"
	wait "$console" 2>/dev/null || true
	return "$rc"
}

gx_qemu_start()
{
	local name=$1 tmo=$2
	local -a args=("${GX_QEMU_ARGS[@]/name=guest/name=$name}")

	timeout -k 10 "$tmo" ip netns exec "$(nx_ns "$GX_CLIENT")" \
		"$QEMU" "${args[@]}" </dev/null >"$NX_TMP/$name.log" 2>&1 &
	NX_PIDS[qemu-$name]=$!
}

gx_wait_result()
{
	gx_wait_for "$2" "grep -q '^MEMX-GUEST-RESULT' '$NX_TMP/$1.log' || ! kill -0 ${NX_PIDS[qemu-$1]} 2>/dev/null" || true
}

gx_qemu_local()
{
	local i

	for i in "${!GX_QEMU_ARGS[@]}"; do
		if [[ ${GX_QEMU_ARGS[$i]} == memory-backend-memx,* ]]; then
			GX_QEMU_ARGS[i]="memory-backend-memfd,id=mem0,size=$1"
		fi
	done
}

gx_bench_run()
{
	local label=$1 rc=0

	GX_SHOW_PREFIX="  $label| " gx_qemu_run "$NX_TMP/$label.log" "$2" >&2 ||
		rc=$?
	grep -q 'MEMX-GUEST-RESULT: PASS' "$NX_TMP/$label.log" || {
		tail -n 20 "$NX_TMP/$label.log" >&2
		nx_die "[$label] the guest failed (QEMU exit $rc)"
	}
}

gx_guest_time()
{
	sed -n "s/^$2: .* time=\([0-9.]*\).*/\1/p" "$NX_TMP/$1.log" | head -n1
}

# gx_check WHAT CONDITION: log "ok:" or "FAIL:" WHAT; a failure sets
# GX_FAIL=1, so that a test reports every check before it gives up.
gx_check()
{
	if eval "$2"; then
		nx_log "ok:   $1"
	else
		nx_log "FAIL: $1"
		GX_FAIL=1
	fi
}

gx_val()
{
	awk -F= -v k="$2" '/^vm=/ { vm = 1 } vm && $1 == k { print $2; exit }' "$1"
}
