# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# netns.sh - test "hosts" as network namespaces, for integration tests.
#
# Source it, then:
#
#   nx_require                  skip (exit 77) loudly unless root, ip netns,
#                               veth and bridge work; picks the impairment
#                               mode (netem, or an emulation, see below)
#   nx_init                     per-run prefix, temp dir, cleanup trap
#   nx_net_create MTU HOST...   one bridge in its own namespace, and one
#                               namespace per HOST joined to it by a veth
#                               pair; HOST number i (from 1) gets
#                               10.77.$NX_SUBNET.(10+i)/24 on its "eth0"
#   nx_pair_create MTU A B     two namespaces joined by one veth pair (no
#                               bridge): 10.77.$NX_SUBNET.11 and .12
#   nx_net_mtu MTU              set every link of nx_net_create's network
#                               (each host's eth0, the bridge and its
#                               ports) to MTU, under whatever runs
#   nx_net_destroy              kill daemons, delete this run's namespaces
#   (keys)                      every host gets a key made for this run
#                               (memxd --genkey) and a memx.conf naming it
#                               and a peers file of every host's public
#                               key and address: every daemon and memxctl
#                               started through nx_exec / nx_daemon runs
#                               authenticated (MEMX_CONF).  NX_INSECURE=1
#                               runs them with insecure-no-auth instead,
#                               and says so.  Needs $MEMXD.
#   nx_conf HOST                that host's memx.conf (for MEMX_CONF=)
#   nx_ip HOST                  a host's address
#   nx_exec HOST CMD...         run CMD inside HOST's namespace
#   nx_daemon HOST NAME CMD...  start CMD in the background inside HOST,
#                               stdout+stderr to $NX_TMP/NAME.log
#   nx_memory_servers CLIENT CAP[,CAP...] HOST...
#                               start memxd --server (CAP of memory; the
#                               i-th CAP for the i-th HOST, the last for the
#                               rest) on each HOST, as daemon server-HOST,
#                               and wait until
#                               each answers memxctl stat from CLIENT
#                               (needs $MEMXD and $MEMXCTL); the words of
#                               $NX_SERVER_ARGS go to each server too
#   nx_pager HOST NAME SOCK [ARGS...]
#                               start memxd's pager (memxd --socket SOCK
#                               ARGS) on HOST as daemon NAME and wait (10 s)
#                               until SOCK exists; fails with memxd's log
#                               if it exits or never listens
#   nx_stop NAME                SIGTERM the daemon NAME and wait (5 s, then
#                               SIGKILL)
#   nx_impair HOST LOSS REORDER DUP DELAY_MS
#                               impair HOST's traffic: LOSS% loss, REORDER%
#                               reordered, DUP% duplicated, DELAY_MS delay
#   nx_unimpair HOST            remove it again
#   nx_impair_stats HOST        one line: what the impairment did
#   nx_cut HOST                 cut HOST off the network: its bridge port
#                               goes down (packets to and from it are lost,
#                               its processes keep running)
#   nx_uncut HOST               bring the port up again
#
# Nothing is created in the root namespace: the bridge and every address
# live in namespaces whose names start with $NX_PREFIX (mxt-PID-), so runs
# in parallel never collide.  Cleanup runs on success, failure, Ctrl-C
# and SIGTERM.
#
# Impairment uses `tc qdisc ... netem` on the host's interface when the
# kernel has sch_netem.  Kernels built without it (CONFIG_NET_SCH_NETEM
# unset, no modules) get an emulation from cls_bpf, htb, pfifo and mirred,
# applied on the bridge's port to the host, where a drop is invisible to
# the sender exactly as on a real wire:
#   - loss:      a classic-BPF filter (random) sends LOSS% of the packets
#                towards the host into a pfifo of length 0;
#   - reorder:   REORDER% go to a rate-limited htb class, so they queue
#                behind and overtake nothing: later packets overtake them;
#   - duplicate: DUP% of the packets from the host are mirrored once more
#                into the bridge (mirred egress to the bridge device);
#   - delay:     not emulated (there is no delay without netem).
# NX_IMPAIR=netem|emulated forces a mode; nx_require fails loudly if the
# forced one does not work.

NX_SUBNET=${NX_SUBNET:-0}
NX_PREFIX=${NX_PREFIX:-mxt-$$-}
NX_TMP=${NX_TMP:-}
NX_KEEP=${NX_KEEP:-0}
NX_IMPAIR=${NX_IMPAIR:-}
declare -A NX_PIDS=()
declare -a NX_HOSTS=()
NX_BR=

nx_log()
{
	printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

nx_skip()
{
	printf '\n*** SKIP: %s ***\n\n' "$*" >&2
	exit 77
}

nx_die()
{
	printf '\n*** FAIL: %s ***\n\n' "$*" >&2
	exit 1
}

# Random classic BPF: "return -1 (match) for PCT% of the packets".
# ld rand; mod #100; jge #PCT, nomatch; ret #-1; nomatch: ret #0
nx_bpf_rand()
{
	echo "5,32 0 0 4294963256,148 0 0 100,53 1 0 $1,6 0 0 4294967295,6 0 0 0"
}

# Probe: can we build namespaces, veth, bridge, and impair traffic?
nx_require()
{
	local p="mxt-$$-probe" ok=1 why=

	[[ $(id -u) -eq 0 ]] || nx_skip "needs root (network namespaces, veth, bridge, tc)"
	command -v ip >/dev/null || nx_skip "the 'ip' command (iproute2) is missing"
	command -v tc >/dev/null || nx_skip "the 'tc' command (iproute2) is missing"
	ip netns add "${p}a" 2>/dev/null || nx_skip "'ip netns add' does not work here"
	if ! ip netns add "${p}b" 2>/dev/null; then
		ok=0 why="'ip netns add' does not work here"
	elif ! ip -n "${p}a" link add v0 type veth peer name v1 netns "${p}b" 2>/dev/null; then
		ok=0 why="veth pairs are not available (CONFIG_VETH)"
	elif ! ip -n "${p}a" link add br0 type bridge 2>/dev/null; then
		ok=0 why="Linux bridges are not available (CONFIG_BRIDGE)"
	fi
	if ((ok)) && [[ -z $NX_IMPAIR || $NX_IMPAIR == netem ]]; then
		{ command -v modprobe >/dev/null && modprobe -q sch_netem; } 2>/dev/null || true
		if ip netns exec "${p}a" tc qdisc add dev v0 root netem \
			loss 1% 2>/dev/null; then
			NX_IMPAIR=netem
		elif [[ $NX_IMPAIR == netem ]]; then
			ok=0 why="tc netem is not available (sch_netem), and NX_IMPAIR=netem"
		fi
	fi
	if ((ok)) && [[ $NX_IMPAIR != netem ]]; then
		# The emulation: htb, pfifo, ingress, cls_bpf, mirred.
		if ip -n "${p}a" link set br0 up &&
			ip -n "${p}a" link set v0 master br0 up &&
			ip netns exec "${p}a" tc qdisc add dev v0 root handle 1: htb default 10 &&
			ip netns exec "${p}a" tc class add dev v0 parent 1: classid 1:10 htb rate 1gbit quantum 60000 &&
			ip netns exec "${p}a" tc qdisc add dev v0 parent 1:10 pfifo limit 0 &&
			ip netns exec "${p}a" tc filter add dev v0 parent 1: prio 1 bpf \
				bytecode "$(nx_bpf_rand 5)" flowid 1:10 &&
			ip netns exec "${p}a" tc qdisc add dev v0 ingress &&
			ip netns exec "${p}a" tc filter add dev v0 parent ffff: prio 1 bpf \
				bytecode "$(nx_bpf_rand 5)" action mirred egress mirror dev br0
		then
			NX_IMPAIR=emulated
		else
			ok=0 why="tc netem is not available (no sch_netem, and no modprobe or module), nor are htb + pfifo + ingress + cls_bpf + mirred to emulate it"
		fi
	fi 2>/dev/null
	ip netns del "${p}a" 2>/dev/null || true
	ip netns del "${p}b" 2>/dev/null || true
	((ok)) || nx_skip "$why"
	if [[ $NX_IMPAIR == emulated ]]; then
		nx_log "NOTE: this kernel has no sch_netem (and no way to load it);"
		nx_log "NOTE: loss, reordering and duplication are EMULATED with cls_bpf + htb + mirred (no delay)"
	fi
}

# ---- how the machine's idle CPUs wait (benchmarks) ----
#
# A machine that is itself a virtual machine may halt an idle CPU at once
# (the cpuidle-haltpoll driver with guest_halt_poll_ns=0): waking it is
# then an exit to the host, tens of microseconds, and every cross-CPU
# wake-up pays it: the pager's, a server's, the vCPU's.  A benchmark may
# set how long an idle CPU polls before it halts (BENCH_HALT_POLL_NS) for
# its own run; nx_cleanup puts the machine's value back.
NX_HALTPOLL=/sys/module/haltpoll/parameters/guest_halt_poll_ns
nx_haltpoll_saved=

# One line: how this machine's idle CPUs wait.
nx_haltpoll_describe()
{
	local drv

	drv=$(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo none)
	if [[ -r $NX_HALTPOLL ]]; then
		echo "idle CPUs: cpuidle driver $drv, guest_halt_poll_ns=$(cat "$NX_HALTPOLL")$([[ -n $nx_haltpoll_saved ]] && echo " (set for this run; the machine's is $nx_haltpoll_saved)")"
	else
		echo "idle CPUs: cpuidle driver $drv (no guest halt polling to set)"
	fi
}

# nx_haltpoll_set NS: idle CPUs poll up to NS ns before they halt, until
# nx_cleanup.  Dies if the machine has no such setting.
nx_haltpoll_set()
{
	[[ $1 =~ ^[0-9]+$ ]] || nx_die "BENCH_HALT_POLL_NS must be a number of ns, not '$1'"
	[[ -w $NX_HALTPOLL ]] ||
		nx_die "BENCH_HALT_POLL_NS: this machine has no $NX_HALTPOLL (not a virtual machine with cpuidle-haltpoll)"
	[[ -n $nx_haltpoll_saved ]] || nx_haltpoll_saved=$(cat "$NX_HALTPOLL")
	echo "$1" >"$NX_HALTPOLL" || nx_die "cannot write $NX_HALTPOLL"
}

# For a benchmark: BENCH_HALT_POLL_NS, if set, for this run; then log how
# idle CPUs wait.
nx_haltpoll_bench()
{
	[[ -z ${BENCH_HALT_POLL_NS:-} ]] || nx_haltpoll_set "$BENCH_HALT_POLL_NS"
	nx_log "$(nx_haltpoll_describe)"
}

nx_haltpoll_restore()
{
	[[ -n $nx_haltpoll_saved ]] || return 0
	echo "$nx_haltpoll_saved" >"$NX_HALTPOLL" ||
		nx_log "WARNING: could not put $NX_HALTPOLL back to $nx_haltpoll_saved"
	nx_haltpoll_saved=
}

nx_cleanup()
{
	local rc=$?

	trap - EXIT INT TERM
	nx_haltpoll_restore
	nx_net_destroy
	if [[ -n $NX_TMP && -d $NX_TMP ]]; then
		if ((rc != 0 && rc != 77)) || [[ $NX_KEEP == 1 ]]; then
			nx_log "logs kept in $NX_TMP"
		else
			rm -rf -- "$NX_TMP"
		fi
	fi
	exit "$rc"
}

nx_init()
{
	if [[ -z $NX_TMP ]]; then
		NX_TMP=$(mktemp -d "${TMPDIR:-/tmp}/${NX_PREFIX}XXXXXX")
	fi
	trap nx_cleanup EXIT
	trap 'nx_log "interrupted"; exit 130' INT
	trap 'nx_log "terminated"; exit 143' TERM
}

nx_ns()
{
	echo "${NX_PREFIX}$1"
}

nx_ip()
{
	local i

	for i in "${!NX_HOSTS[@]}"; do
		if [[ ${NX_HOSTS[$i]} == "$1" ]]; then
			echo "10.77.$NX_SUBNET.$((11 + i))"
			return 0
		fi
	done
	nx_die "no host named '$1'"
}

nx_exec()
{
	local host=$1

	shift
	ip netns exec "$(nx_ns "$host")" env MEMX_CONF="$(nx_conf "$host")" "$@"
}

nx_conf()
{
	echo "$NX_TMP/keys/$1.conf"
}

# nx_keys HOST...: a key and a memx.conf for each HOST, and one peers file
# listing every host made so far (memory servers at their address).
nx_keys()
{
	local h pub

	mkdir -p "$NX_TMP/keys"
	chmod 700 "$NX_TMP/keys"
	if [[ ${NX_INSECURE:-0} == 1 ]]; then
		for h in "$@"; do
			printf '[rmap]\ninsecure-no-auth = on\n' >"$(nx_conf "$h")"
		done
		nx_log "NOTE: NX_INSECURE=1: RMAP runs WITHOUT authentication or encryption"
		return 0
	fi
	for h in "$@"; do
		[[ -f $NX_TMP/keys/$h.key ]] ||
			"$MEMXD" --genkey="$NX_TMP/keys/$h.key" >"$NX_TMP/keys/$h.pub" ||
			nx_die "memxd --genkey failed"
		printf '[rmap]\nprivate-key = %s\npeers = %s\n' \
			"$NX_TMP/keys/$h.key" "$NX_TMP/keys/peers" >"$(nx_conf "$h")"
	done
	: >"$NX_TMP/keys/peers.new"
	for h in "${NX_HOSTS[@]}"; do
		pub=$(cat "$NX_TMP/keys/$h.pub")
		printf '%s %s\n' "$pub" "$(nx_ip "$h")" >>"$NX_TMP/keys/peers.new"
	done
	mv "$NX_TMP/keys/peers.new" "$NX_TMP/keys/peers"
}

nx_net_create()
{
	local mtu=$1 i=0 h ns

	shift
	NX_BR=$(nx_ns br)
	ip netns add "$NX_BR"
	ip -n "$NX_BR" link set lo up
	# A switch, not a firewall: where br_netfilter is loaded, bridged
	# frames would go through iptables' hooks (every datagram, both
	# ways).  The setting is the bridge namespace's own.
	ip netns exec "$NX_BR" sysctl -qw net.bridge.bridge-nf-call-iptables=0 \
		net.bridge.bridge-nf-call-ip6tables=0 \
		net.bridge.bridge-nf-call-arptables=0 2>/dev/null || true
	ip -n "$NX_BR" link add br0 mtu "$mtu" type bridge
	ip -n "$NX_BR" link set br0 up
	for h in "$@"; do
		ns=$(nx_ns "$h")
		NX_HOSTS+=("$h")
		i=$((i + 1))
		ip netns add "$ns"
		ip -n "$ns" link set lo up
		ip -n "$NX_BR" link add "p-$h" mtu "$mtu" type veth \
			peer name eth0 mtu "$mtu" netns "$ns"
		ip -n "$NX_BR" link set "p-$h" master br0 up
		ip -n "$ns" addr add "10.77.$NX_SUBNET.$((10 + i))/24" dev eth0
		ip -n "$ns" link set eth0 up
	done
	nx_keys "$@"
	# Wait for the bridge ports to forward (no STP, but be safe).
	for h in "$@"; do
		[[ $h == "$1" ]] && continue
		for i in $(seq 50); do
			nx_exec "$1" ping -c1 -W1 -q "$(nx_ip "$h")" \
				>/dev/null 2>&1 && break
			sleep 0.1
		done
	done
}

nx_net_mtu()
{
	local mtu=$1 h

	[[ -n $NX_BR ]] || nx_die "nx_net_mtu: no network (nx_net_create)"
	for h in "${NX_HOSTS[@]}"; do
		ip -n "$NX_BR" link set "p-$h" mtu "$mtu" &&
			ip -n "$(nx_ns "$h")" link set eth0 mtu "$mtu" ||
			nx_die "nx_net_mtu: cannot set $h's link to MTU $mtu"
	done
	ip -n "$NX_BR" link set br0 mtu "$mtu" ||
		nx_die "nx_net_mtu: cannot set the bridge to MTU $mtu"
}

nx_pair_create()
{
	local mtu=$1 a=$2 b=$3 i

	NX_HOSTS+=("$a" "$b")
	ip netns add "$(nx_ns "$a")"
	ip netns add "$(nx_ns "$b")"
	ip -n "$(nx_ns "$a")" link set lo up
	ip -n "$(nx_ns "$b")" link set lo up
	ip -n "$(nx_ns "$a")" link add eth0 mtu "$mtu" type veth \
		peer name eth0 mtu "$mtu" netns "$(nx_ns "$b")"
	ip -n "$(nx_ns "$a")" addr add "$(nx_ip "$a")/24" dev eth0
	ip -n "$(nx_ns "$b")" addr add "$(nx_ip "$b")/24" dev eth0
	ip -n "$(nx_ns "$a")" link set eth0 up
	ip -n "$(nx_ns "$b")" link set eth0 up
	nx_keys "$a" "$b"
	for i in $(seq 50); do
		nx_exec "$a" ping -c1 -W1 -q "$(nx_ip "$b")" >/dev/null 2>&1 &&
			break
		sleep 0.1
	done
}

nx_daemon()
{
	local host=$1 name=$2

	shift 2
	ip netns exec "$(nx_ns "$host")" env MEMX_CONF="$(nx_conf "$host")" \
		"$@" >"$NX_TMP/$name.log" 2>&1 &
	NX_PIDS[$name]=$!
}

nx_stop()
{
	local pid=${NX_PIDS[$1]:-} i

	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset "NX_PIDS[$1]"
}

nx_net_destroy()
{
	local name ns pid

	for name in "${!NX_PIDS[@]}"; do
		nx_stop "$name"
	done
	# Only this run's namespaces, by their unique prefix.
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		[[ $ns == "$NX_PREFIX"* ]] || continue
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null || true
		done
		ip netns del "$ns" 2>/dev/null || true
	done
	NX_HOSTS=()
	NX_BR=
}

# nx_impair HOST LOSS% REORDER% DUP% DELAY_MS
nx_impair()
{
	local host=$1 loss=$2 reorder=$3 dup=$4 delay=$5 port="p-$1"
	local -a b=(ip netns exec "$NX_BR" tc)

	if [[ $NX_IMPAIR == netem ]]; then
		nx_exec "$host" tc qdisc replace dev eth0 root netem \
			delay "${delay}ms" reorder "$reorder%" 50% \
			loss "$loss%" duplicate "$dup%" limit 10000
		return
	fi
	# Towards the host: loss and reordering.
	"${b[@]}" qdisc add dev "$port" root handle 1: htb default 10
	"${b[@]}" class add dev "$port" parent 1: classid 1:10 htb \
		rate 40gbit quantum 60000
	"${b[@]}" class add dev "$port" parent 1: classid 1:20 htb \
		rate 200mbit ceil 200mbit burst 3000 cburst 3000 quantum 60000
	"${b[@]}" class add dev "$port" parent 1: classid 1:30 htb \
		rate 40gbit quantum 60000
	"${b[@]}" qdisc add dev "$port" parent 1:10 handle 10: pfifo limit 10000
	"${b[@]}" qdisc add dev "$port" parent 1:20 handle 20: pfifo limit 10000
	"${b[@]}" qdisc add dev "$port" parent 1:30 handle 30: pfifo limit 0
	"${b[@]}" filter add dev "$port" parent 1: prio 1 bpf \
		bytecode "$(nx_bpf_rand "$loss")" flowid 1:30
	"${b[@]}" filter add dev "$port" parent 1: prio 2 bpf \
		bytecode "$(nx_bpf_rand "$reorder")" flowid 1:20
	# From the host: duplication, a second copy into the bridge.
	"${b[@]}" qdisc add dev "$port" ingress
	"${b[@]}" filter add dev "$port" parent ffff: prio 1 bpf \
		bytecode "$(nx_bpf_rand "$dup")" action mirred egress mirror dev br0
}

nx_unimpair()
{
	local port="p-$1"

	if [[ $NX_IMPAIR == netem ]]; then
		nx_exec "$1" tc qdisc del dev eth0 root 2>/dev/null || true
		return
	fi
	ip netns exec "$NX_BR" tc qdisc del dev "$port" root 2>/dev/null || true
	ip netns exec "$NX_BR" tc qdisc del dev "$port" ingress 2>/dev/null || true
}

# "sent=N dropped=N reordered=N duplicated=N" for HOST's impairment.
nx_impair_stats()
{
	local port="p-$1" s

	if [[ $NX_IMPAIR == netem ]]; then
		s=$(nx_exec "$1" tc -s qdisc show dev eth0 | awk '
			/Sent/ { gsub(/[,)]/, ""); print "sent=" $4 " dropped=" $7; exit }')
		echo "${s:-none}"
		return
	fi
	s=$(ip netns exec "$NX_BR" tc -s qdisc show dev "$port" | awk '
		/^qdisc pfifo 20:/ { q = 20 } /^qdisc pfifo 30:/ { q = 30 }
		/^qdisc pfifo 10:/ { q = 10 } /^qdisc htb/ { q = 0 }
		/Sent/ { gsub(/[,)]/, ""); pk[q] = $4; dr[q] = $7 }
		END { printf "sent=%d dropped=%d delayed_for_reorder=%d",
			pk[10] + pk[20], dr[30], pk[20] }')
	s+=" duplicated=$(ip netns exec "$NX_BR" tc -s filter show dev "$port" ingress |
		awk '/Sent/ { print $4; exit }')"
	echo "$s"
}

nx_cut()
{
	ip -n "$NX_BR" link set "p-$1" down
}

nx_uncut()
{
	ip -n "$NX_BR" link set "p-$1" up
}

nx_pager()
{
	local host=$1 name=$2 sock=$3 i

	shift 3
	nx_daemon "$host" "$name" "$MEMXD" --socket "$sock" "$@"
	for i in $(seq 100); do
		[[ -S $sock ]] && return 0
		kill -0 "${NX_PIDS[$name]}" 2>/dev/null || break
		sleep 0.1
	done
	cat "$NX_TMP/$name.log" >&2
	nx_die "memxd (pager $name) exited or never created $sock"
}

nx_memory_servers()
{
	local client=$1 s i=0
	local -a caps

	IFS=, read -r -a caps <<<"$2"
	shift 2
	for s in "$@"; do
		# shellcheck disable=SC2086 # NX_SERVER_ARGS: words
		nx_daemon "$s" "server-$s" "$MEMXD" --server \
			--listen "$(nx_ip "$s")" \
			--capacity "${caps[$i]:-${caps[-1]}}" ${NX_SERVER_ARGS:-}
		i=$((i + 1))
	done
	# A server that reserves its capacity (--reserve=on) answers only
	# once it is all locked: seconds per GiB on a busy host.  One that
	# exited will never answer: say so at once.
	for s in "$@"; do
		for i in $(seq 600); do
			timeout 5 ip netns exec "$(nx_ns "$client")" \
				env MEMX_CONF="$(nx_conf "$client")" \
				"$MEMXCTL" stat "$(nx_ip "$s")" >/dev/null 2>&1 &&
				break
			if ! kill -0 "${NX_PIDS[server-$s]}" 2>/dev/null; then
				cat "$NX_TMP/server-$s.log" >&2
				nx_die "memory server $s exited before it answered"
			fi
			if ((i == 600)); then
				cat "$NX_TMP/server-$s.log" >&2
				nx_die "memory server $s never answered"
			fi
			sleep 0.1
		done
	done
}
