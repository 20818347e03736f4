#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# compare-bench.sh - memx side by side with every peer (make bench-compare).
#
# The same test guest (tests/guest/build.sh), the same workloads, the same
# local memory, in one run.  Configurations:
#   local     all of the guest's RAM local (memory-backend-memfd): the
#             baseline; QEMU's own overhead is measured here (below)
#   memx      memory-backend-memx with BUDGET local, four memory servers in
#             network namespaces, page-groups with parity (as tests/demo.sh)
#   hostswap  memory-backend-memfd; QEMU in a memory cgroup limited to
#             BUDGET + QEMU's overhead; the host swaps to a swap file on
#             the local disk
#   zram      the same, the host swapping to a zram device (lz4 if the
#             kernel offers it)
#   vdisk     the guest gets only BUDGET of RAM and swaps to a virtio-blk
#             disk image on the local disk (cache=none, aio=native where
#             QEMU has it)
#   nbd       the guest gets only BUDGET of RAM and swaps to a virtio-blk
#             disk that QEMU reaches over NBD, on a veth link like memx's,
#             to nbdkit's memory plugin in a server namespace: Anemone's
#             design with today's parts
#   memxbase  (only with BENCH_MEMXD_BASE) memx again, its pager and its
#             memory servers another memxd binary, e.g. the one built from
#             main: a before/after of a change to memxd, in the same run
# Workloads (each verifies its data): qsort (quicksort), randrw (random
# reads and writes over twice the budget), scan (sequential passes over
# twice the budget).  Each (configuration, workload) is one boot (booted
# once more if the guest never reached its workload); the time is the
# guest's own (its workload's time=).
#
# QEMU's overhead: every QEMU runs in a memory cgroup of its own (only
# hostswap's and zram's are limited).  In the local runs the cgroup's
# charge minus the guest RAM it holds (shmem) is sampled every 0.2 s; the
# largest value over the local runs is QEMU's overhead, and hostswap's and
# zram's limit is BUDGET plus that.  Each run's peak local memory (the
# cgroup's peak, plus memxd's peak RSS for memx, plus the zram pool's
# peak for zram) is shown beside its time.
#
# Where the guest's vCPU spent the run: its thread's time on a CPU,
# waiting for one, and asleep (/proc/TID/schedstat, from the first 0.2 s
# sample after boot began to QEMU's exit).  Asleep is where a fault
# served elsewhere shows: memxd's for memx, the disk's for hostswap;
# zram decompresses in the faulting thread, so its faults show as time
# on a CPU.  The guest halting when idle (boot) sleeps too, in every
# configuration alike.
#
# Prints, and writes to BENCH_OUT: a table of times, ratios to local and
# memx's ratio to each peer (table.txt, results.tsv), a chart (times.png),
# the CDF of memx's fault latency (memx-fault-cdf.txt and .png), and last
#
#   compare-bench: local_s=... memx_s=... hostswap_s=... zram_s=... vdisk_s=... nbd_s=... memx_vs_best_peer=...
#
# (quicksort times; the ratio is memx over the fastest of hostswap, zram,
# vdisk and nbd).  If the host already has swap on, hostswap and zram are
# skipped (their cgroup would swap to that) and the table says so.
# Everything it creates (namespaces, daemons, swap file, zram device,
# cgroups, disk image, NBD server) is removed on success, on failure and
# on Ctrl-C.  Not a test: not in make check.
#
# Environment (sizes in MiB unless said):
#   BENCH_QUICK=1        a smoke run: 512M guest, 128 MiB budget, small
#                        workloads (about 8 minutes)
#   BENCH_SIZE           guest RAM (default 1G)
#   BENCH_BUDGET         local budget (default a quarter of BENCH_SIZE)
#   BENCH_QSORT_MIB      quicksort size (default 600, quick 256)
#   BENCH_RANDRW_MIB     randrw array (default twice the budget)
#   BENCH_RANDRW_OPS     randrw operations (default 200000, quick 50000)
#   BENCH_SCAN_MIB       scan array (default twice the budget)
#   BENCH_SCAN_PASSES    scan's read passes (default 4, quick 2)
#   BENCH_SWAP_MIB       swap file, zram, disk image, NBD export (default
#                        the guest RAM size)
#   BENCH_CONFIGS        which configurations (default all six, in order;
#                        with BENCH_MEMXD_BASE, memxbase follows memx; a
#                        list of one's own must name memxbase then)
#   BENCH_MEMXD_BASE     a memxd binary to run as memxbase's pager and
#                        memory servers (until 2026-12-04: its pager only)
#   BENCH_RESERVE        on (default): memx's and memxbase's servers reserve
#                        their capacity (--reserve=on); off: neither does
#   BENCH_WORKLOADS      which workloads (default "qsort randrw scan")
#   BENCH_QEMU_OVERHEAD_MIB  QEMU's overhead when local is not run
#   BENCH_DISK_DIR       where the swap file and disk image go (default
#                        /var/tmp; must be a disk, not tmpfs)
#   BENCH_OUT            results directory (default $top_builddir/compare-bench)
#   BENCH_TIMEOUT        seconds per boot (default 1800)
#   BENCH_MTU            the MTU of the bridge and every veth (default
#                        1500); memx finds it itself (mtu = auto): at
#                        9000 a page is one datagram
#   BENCH_REPEAT         run every configuration N times, round after
#                        round, and keep each one's fastest time (default
#                        1); on a shared, loaded machine the fastest is
#                        the least disturbed (runs.tsv has them all)
#   BENCH_APPEND         more guest kernel parameters, for every
#                        configuration (default no_timer_check)
#   BENCH_HALT_POLL_NS   on a machine that is itself a VM with
#                        cpuidle-haltpoll: how long its idle CPUs poll
#                        before they halt, for this run, every
#                        configuration alike (tests/lib/netns.sh); the
#                        machine's value is put back at the end
#   GX_ACCEL, NX_KEEP    as in tests/lib/guest-common.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
# shellcheck source=tests/lib/guest-common.sh
. "$top_srcdir/tests/lib/guest-common.sh"

t_start=$SECONDS
mib_of()	# a size like 1G, 256M or 300 (MiB) in MiB
{
	local b

	[[ $1 =~ ^[0-9]+$ ]] && { echo "$1"; return; }
	b=$(numfmt --from=iec "${1%B}") || nx_die "not a size: $1"
	echo $((b / 1048576))
}

quick=${BENCH_QUICK:-0}
if [[ $quick == 1 ]]; then
	size_mib=$(mib_of "${BENCH_SIZE:-512M}")
	def_qsort=256 def_ops=50000 def_passes=2
else
	size_mib=$(mib_of "${BENCH_SIZE:-1G}")
	def_qsort=600 def_ops=200000 def_passes=4
fi
budget_mib=$(mib_of "${BENCH_BUDGET:-$((size_mib / 4))}")
qsort_mib=${BENCH_QSORT_MIB:-$def_qsort}
randrw_mib=${BENCH_RANDRW_MIB:-$((2 * budget_mib))}
randrw_ops=${BENCH_RANDRW_OPS:-$def_ops}
scan_mib=${BENCH_SCAN_MIB:-$((2 * budget_mib))}
scan_passes=${BENCH_SCAN_PASSES:-$def_passes}
swap_mib=${BENCH_SWAP_MIB:-$size_mib}
memxd_base=${BENCH_MEMXD_BASE:-}
# memx's memory servers take their whole capacity at start, locked
# (--reserve=on), as a server lending its RAM in production would;
# memxbase's too, if its binary knows how (builds before 2026-12-05 do not)
# BENCH_RESERVE=off runs both unreserved: how servers that take memory as
# pages arrive (the default) fare.
case ${BENCH_RESERVE:-on} in
on) memx_server_args="--reserve=on" ;;
off) memx_server_args= ;;
*) nx_die "BENCH_RESERVE=$BENCH_RESERVE: want on or off" ;;
esac
base_server_args=
if [[ -n $memxd_base ]]; then
	[[ -x $memxd_base ]] || nx_die "BENCH_MEMXD_BASE=$memxd_base is not an executable"
	# Read all of it first: grep -q would stop reading at the match,
	# and the SIGPIPE of memxd's next write fails the pipeline
	# (pipefail), so memxbase's servers ran unreserved now and then.
	base_help=$("$memxd_base" --help 2>&1 || true)
	if [[ $base_help == *--reserve* && -n $memx_server_args ]]; then
		base_server_args="--reserve=on"
	fi
	read -r -a configs <<<"${BENCH_CONFIGS:-local memx memxbase hostswap zram vdisk nbd}"
else
	read -r -a configs <<<"${BENCH_CONFIGS:-local memx hostswap zram vdisk nbd}"
fi
read -r -a workloads <<<"${BENCH_WORKLOADS:-qsort randrw scan}"
disk_parent=${BENCH_DISK_DIR:-/var/tmp}
out=${BENCH_OUT:-${top_builddir:-$top_srcdir}/compare-bench}
timeout_s=${BENCH_TIMEOUT:-1800}
repeat=${BENCH_REPEAT:-1}
export GX_MTU=${BENCH_MTU:-1500}
# The same for every configuration.  no_timer_check: on a loaded host a
# TCG guest's IO-APIC timer check can fail and panic the boot.
read -r -a kargs <<<"${BENCH_APPEND:-no_timer_check}"
nbd_port=10809
peers=(hostswap zram vdisk nbd)

for c in "${configs[@]}"; do
	case $c in
	local | memx | hostswap | zram | vdisk | nbd) ;;
	memxbase) [[ -n $memxd_base ]] ||
		nx_die "BENCH_CONFIGS: memxbase needs BENCH_MEMXD_BASE (a memxd binary)" ;;
	*) nx_die "BENCH_CONFIGS: unknown configuration '$c'" ;;
	esac
done
if [[ -n $memxd_base && " ${configs[*]} " != *" memxbase "* ]]; then
	nx_die "BENCH_MEMXD_BASE is set but BENCH_CONFIGS does not name" \
		"memxbase: add it (after memx), or unset BENCH_MEMXD_BASE"
fi
for w in "${workloads[@]}"; do
	case $w in
	qsort | randrw | scan) ;;
	*) nx_die "BENCH_WORKLOADS: unknown workload '$w'" ;;
	esac
done
[[ $repeat =~ ^[1-9][0-9]*$ ]] || nx_die "BENCH_REPEAT must be a whole number >= 1"
((budget_mib > 0 && budget_mib < size_mib)) ||
	nx_die "the budget ($budget_mib MiB) must be below the guest RAM ($size_mib MiB)"
((swap_mib + budget_mib >= size_mib)) ||
	nx_die "BENCH_SWAP_MIB ($swap_mib) + budget must hold the guest RAM ($size_mib MiB)"

step()
{
	printf '\n==> [%5ds] %s\n' $((SECONDS - t_start)) "$*" >&2
}

# ---- what it creates, and its removal ----
declare -a cg_made=()
swapfile=
zram_id=
zram_loaded=0
disk_dir=

cb_swapoff()	# cb_swapoff DEV: swapoff DEV if it is on
{
	if awk -v dev="$1" 'NR > 1 && $1 == dev { on = 1 } END { exit !on }' \
		/proc/swaps; then
		swapoff "$1" || nx_log "WARNING: swapoff $1 failed"
	fi
}

cb_cleanup()
{
	local rc=$? cg i

	set +e
	trap '' INT TERM
	((rc == 0 || rc == 77)) ||
		nx_log "compare-bench stops (exit $rc): removing what it created"
	for p in qemu cgsampler vcpusampler sampler nbd; do
		nx_stop "$p"
	done
	if [[ -n $swapfile ]]; then
		cb_swapoff "$swapfile"
		rm -f -- "$swapfile"
	fi
	if [[ -n $zram_id ]]; then
		cb_swapoff "/dev/zram$zram_id"
		echo 1 >"/sys/block/zram$zram_id/reset"
		echo "$zram_id" >/sys/class/zram-control/hot_remove ||
			nx_log "WARNING: could not remove /dev/zram$zram_id"
	fi
	if ((zram_loaded)); then
		rmmod zram 2>/dev/null || nx_log "WARNING: could not unload zram"
	fi
	for cg in "${cg_made[@]}"; do
		for i in $(seq 50); do
			[[ -d $cg ]] || break
			rmdir "$cg" 2>/dev/null && break
			sleep 0.1
		done
		[[ -d $cg ]] && nx_log "WARNING: could not remove the cgroup $cg"
	done
	if [[ -n $disk_dir ]]; then
		rm -rf -- "$disk_dir"
	fi
	# Interrupted: nothing to diagnose, so the logs go too (NX_KEEP=1 keeps them).
	if ((rc == 130 || rc == 143)) && [[ $NX_KEEP != 1 && -n $NX_TMP ]]; then
		rm -rf -- "$NX_TMP"
	fi
	(exit "$rc")
	gx_cleanup
}

# ---- memory cgroups (v1 memory controller, or v2) ----
cg_base=
cg_v=
cg_detect()
{
	if [[ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]]; then
		cg_base=/sys/fs/cgroup/memory cg_v=1
	elif grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null &&
		grep -qw memory /sys/fs/cgroup/cgroup.subtree_control; then
		cg_base=/sys/fs/cgroup cg_v=2
	else
		nx_die "no memory cgroup controller (v1 /sys/fs/cgroup/memory, or v2 with +memory in /sys/fs/cgroup/cgroup.subtree_control)"
	fi
}

# cg_new NAME LIMIT_MIB|max: a fresh cgroup, its directory in cg_dir
cg_dir=
cg_new()
{
	local d=$cg_base/compare-bench-$$-$1

	mkdir "$d" || nx_die "cannot create the cgroup $d"
	cg_made+=("$d")
	if [[ $2 != max ]]; then
		if ((cg_v == 1)); then
			echo $(($2 * 1048576)) >"$d/memory.limit_in_bytes"
		else
			echo $(($2 * 1048576)) >"$d/memory.max"
		fi
	fi
	cg_dir=$d
}

cg_usage()	# bytes charged now
{
	if ((cg_v == 1)); then cat "$1/memory.usage_in_bytes"; else cat "$1/memory.current"; fi
}

cg_stat()	# cg_stat DIR KEY: KEY from memory.stat
{
	awk -v k="$2" '$1 == k { print $2; exit }' "$1/memory.stat"
}

cg_peak()	# bytes charged at the most (v2 without memory.peak: the sampler's)
{
	if ((cg_v == 1)); then
		cat "$1/memory.max_usage_in_bytes"
	elif [[ -f $1/memory.peak ]]; then
		cat "$1/memory.peak"
	else
		echo 0
	fi
}

# The samplers below run beside every configuration, on the same two
# CPUs: they use only bash's builtins (a fork and exec every 0.2 s took
# some 3% of the machine), sleep in a read that times out (gx_nap_open),
# and write OUT in place, which is read only once they are stopped (a
# TERM waits for the write under way).

# cg_sampler_start DIR OUT: every 0.2 s, keep in OUT the largest charge
# of DIR that is not guest RAM (charge - shmem), and the largest charge.
# The two are separate reads: a sample counts towards the overhead only
# if shmem was the same (within 1 MiB) before and after the charge was
# read.  Otherwise a guest filling its RAM, or QEMU's exit freeing it
# between the reads, passes for overhead (a loaded host once made 371
# MiB of the 91).
cg_sampler_start()
{
	(
		local u s1 s2 over=0 peak=0 nap k v ufile=memory.current

		((cg_v == 1)) && ufile=memory.usage_in_bytes
		shmem() {	# shmem VAR: memory.stat's shmem into VAR
			local -n into=$1
			into=0
			while read -r k v; do
				[[ $k == shmem ]] && { into=$v; return; }
			done <"$2/memory.stat"
		}
		gx_nap_open
		trap 'exit 0' TERM
		while :; do
			read -rt 0.2 -u "$nap" _ || :
			shmem s1 "$1" 2>/dev/null || continue
			read -r u <"$1/$ufile" 2>/dev/null || continue
			shmem s2 "$1" 2>/dev/null || continue
			((u > peak)) && peak=$u
			if ((s2 - s1 <= 1048576 && s1 - s2 <= 1048576 &&
				u - s2 > over)); then
				over=$((u - s2))
			fi
			printf '%s %s\n' "$over" "$peak" >"$2"
		done
	) &
	NX_PIDS[cgsampler]=$!
}

# vcpu_sampler_start DIR OUT: every 0.2 s, keep in OUT what each thread
# of the QEMU in cgroup DIR did since it was first seen, a line each:
# TID, then nanoseconds alive, on a CPU, and waiting for one
# (/proc/TID/schedstat).  The vCPU is the thread that ran the most (QEMU
# names its threads only with debug-threads=on).
vcpu_sampler_start()
{
	(
		local pid t tid r w now nap
		local -A t0=() r0=() w0=() last=()

		gx_nap_open
		trap 'exit 0' TERM
		while :; do
			read -rt 0.2 -u "$nap" _ || :
			[[ -n ${pid:-} ]] ||
				read -r pid <"$1/cgroup.procs" 2>/dev/null || continue
			[[ -n $pid && -d /proc/$pid ]] || { pid=; continue; }
			now=${EPOCHREALTIME/[.,]/}000	# microseconds, in ns
			for t in /proc/"$pid"/task/*; do
				tid=${t##*/}
				read -r r w _ <"$t/schedstat" 2>/dev/null || continue
				if [[ -z ${t0[$tid]:-} ]]; then
					t0[$tid]=$now r0[$tid]=$r w0[$tid]=$w
				fi
				last[$tid]="$tid $((now - t0[$tid])) $((r - r0[$tid])) $((w - w0[$tid]))"
			done
			# A thread that has exited keeps its last sample: QEMU's
			# vCPU ends before its main thread does.
			((${#last[@]})) && printf '%s\n' "${last[@]}" >"$2"
		done
	) &
	NX_PIDS[vcpusampler]=$!
}

# vcpu_note FILE: "vCPU ... ran R s, waited W s for a CPU, slept S s", of
# the thread in vcpu_sampler_start's FILE that ran the most (nothing if
# it saw none)
vcpu_note()
{
	[[ -s $1 ]] || return 0
	sort -k3,3n "$1" | tail -n1 | awk '{
		printf "vCPU from boot to exit: ran %.1f s, waited %.1f s for a CPU, slept %.1f s",
			$3 / 1e9, $4 / 1e9, ($2 - $3 - $4) / 1e9 }'
}

# ---- the host's swap devices ----
swap_busy()
{
	[[ $(awk 'NR > 1' /proc/swaps | wc -l) -gt 0 ]]
}

swapfile_on()
{
	swapfile=$disk_dir/host.swap
	nx_log "hostswap: writing a $swap_mib MiB swap file $swapfile"
	dd if=/dev/zero of="$swapfile" bs=1M count="$swap_mib" oflag=direct \
		status=none
	chmod 600 "$swapfile"
	mkswap -q "$swapfile" >/dev/null
	swapon "$swapfile" || nx_die "swapon $swapfile failed"
}

swapfile_off()
{
	cb_swapoff "$swapfile"
	rm -f -- "$swapfile"
	swapfile=
}

zram_alg=
zram_on()
{
	local sys algs

	if [[ ! -w /sys/class/zram-control/hot_add ]]; then
		modprobe zram num_devices=0 2>/dev/null && zram_loaded=1
		[[ -w /sys/class/zram-control/hot_add ]] ||
			nx_die "no zram (/sys/class/zram-control) and it cannot be loaded"
	fi
	zram_id=$(cat /sys/class/zram-control/hot_add)
	sys=/sys/block/zram$zram_id
	algs=$(cat "$sys/comp_algorithm")
	if [[ " ${algs//[\[\]]/} " == *" lz4 "* ]]; then
		echo lz4 >"$sys/comp_algorithm"
	fi
	zram_alg=$(sed 's/.*\[\([^]]*\)\].*/\1/' "$sys/comp_algorithm")
	echo "${swap_mib}M" >"$sys/disksize"
	for _ in $(seq 50); do
		[[ -b /dev/zram$zram_id ]] && break
		sleep 0.1
	done
	mkswap -q "/dev/zram$zram_id" >/dev/null
	swapon "/dev/zram$zram_id" || nx_die "swapon /dev/zram$zram_id failed"
	nx_log "zram: /dev/zram$zram_id, $swap_mib MiB, $zram_alg (offered: $algs)"
}

zram_off()
{
	cb_swapoff "/dev/zram$zram_id"
	echo 1 >"/sys/block/zram$zram_id/reset"
	echo "$zram_id" >/sys/class/zram-control/hot_remove
	zram_id=
}

# ---- NBD: nbdkit's memory plugin in a server namespace ----
nbd_host=srv1
nbd_start()
{
	local ip

	ip=$(nx_ip "$nbd_host")
	nx_daemon "$nbd_host" nbd nbdkit --foreground --exit-with-parent \
		--ipaddr "$ip" --port "$nbd_port" memory "size=${swap_mib}M"
	for _ in $(seq 100); do
		nx_exec "$GX_CLIENT" nc -z -w 1 "$ip" "$nbd_port" 2>/dev/null && return 0
		kill -0 "${NX_PIDS[nbd]}" 2>/dev/null || break
		sleep 0.1
	done
	cat "$NX_TMP/nbd.log" >&2
	nx_die "nbdkit never listened on $ip:$nbd_port"
}

# ---- one boot ----
declare -A T=() PEAK=() NOTE=() LOAD=() ALL=() SETUP=() PHASES=() CPU=() VCPU=()
clk_tck=$(getconf CLK_TCK)
declare -a failed=()
qemu_overhead_mib=
nrun=0
ntotal=0
round=1
last_peak=-

# peak_keep CONFIG WORKLOAD MIB: the largest over the rounds
peak_keep()
{
	[[ $3 =~ ^[0-9]+$ ]] || return 0
	if [[ ! ${PEAK[$1,$2]:-} =~ ^[0-9]+$ ]] || (($3 > PEAK[$1,$2])); then
		PEAK[$1,$2]=$3
	fi
}

work_of()	# the guest's memx.work= for a workload
{
	case $1 in
	qsort) echo "qsort:$qsort_mib" ;;
	randrw) echo "randrw:$randrw_mib:$randrw_ops" ;;
	scan) echo "scan:$scan_mib:$scan_passes" ;;
	esac
}

# swap_pages: "PSWPOUT PSWPIN", the host's pages written to swap and read
# from it since boot (/proc/vmstat; QEMU is the only one swapping here)
swap_pages()
{
	awk '$1 == "pswpout" { o = $2 } $1 == "pswpin" { i = $2 }
		END { print o + 0, i + 0 }' /proc/vmstat
}

# swap_delta "PSWPOUT PSWPIN": what was swapped out and in since then
swap_delta()
{
	local o0 i0 o1 i1

	read -r o0 i0 <<<"$1"
	read -r o1 i1 <<<"$(swap_pages)"
	echo "swapped out=$((o1 - o0)) in=$((i1 - i0)) pages"
}

# cpu_ticks: "BUSY ALL", the host's clock ticks since boot, all cores:
# busy (user, nice, system, irq, softirq; a guest's time is in user) and
# in all (with idle and iowait)
cpu_ticks()
{
	awk '$1 == "cpu" { b = $2 + $3 + $4 + $7 + $8; print b, b + $5 + $6; exit }' /proc/stat
}

# cpu_delta "BUSY ALL": the host's busy CPU seconds since then, and that
# as a share of every core's time ("12.3 61%")
cpu_delta()
{
	local b0 a0 b1 a1

	read -r b0 a0 <<<"$1"
	read -r b1 a1 <<<"$(cpu_ticks)"
	awk -v b=$((b1 - b0)) -v a=$((a1 - a0)) -v hz="$clk_tck" \
		'BEGIN { printf "%.1f %d%%", b / hz, a ? 100 * b / a : 0 }'
}

# proc_ticks PID...: the CPU clock ticks (user + system) those processes
# have used, summed; one that is gone counts nothing
proc_ticks()
{
	local pid n=0 f

	for pid in "$@"; do
		f=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
		read -r -a f <<<"${f##*) }"
		n=$((n + f[11] + f[12]))
	done
	echo "$n"
}

# ticks_s TICKS: clock ticks as seconds, to a tenth
ticks_s()
{
	awk -v t="$1" -v hz="$clk_tck" 'BEGIN { printf "%.1f", t / hz }'
}

# run CONFIG WORKLOAD LIMIT_MIB|max [QEMU ARGS...]: boot the guest with
# GX_QEMU_ARGS in a fresh cgroup; T[CONFIG,WORKLOAD] gets its time
run()
{
	local c=$1 w=$2 limit=$3 log cg rc=0 t l0 over peak attempt swp0 cpu0
	local cpu_s cpu_pct

	shift 3
	nrun=$((nrun + 1))
	log=$NX_TMP/$c-$w.log
	step "[$nrun/$ntotal]$( ((repeat > 1)) && echo " round $round/$repeat:") $c / $w ($(work_of "$w")), load $(cut -d' ' -f1 /proc/loadavg)"
	l0=$(cut -d' ' -f1 /proc/loadavg)
	cg_new "$c-$w" "$limit"
	cg=$cg_dir
	# shellcheck disable=SC2016 # $0 and $$ are the inner shell's
	GX_QEMU_WRAP=(sh -c 'echo $$ >"$0" && exec "$@"' "$cg/cgroup.procs")
	cg_sampler_start "$cg" "$NX_TMP/$c-$w.cg"
	rm -f "$NX_TMP/$c-$w.vcpu"
	vcpu_sampler_start "$cg" "$NX_TMP/$c-$w.vcpu"
	swp0=$(swap_pages)
	cpu0=$(cpu_ticks)
	for attempt in 1 2; do
		rc=0
		GX_SHOW_PREFIX="  $c $w| " gx_qemu_run "$log" "$timeout_s" "$@" >&2 || rc=$?
		grep -q '^MEMX-GUEST: run ' "$log" && break
		if ((attempt == 1)); then
			tail -n 5 "$log" >&2
			nx_log "*** $c / $w: the guest never reached its workload (QEMU exit $rc); booting it once more"
			mv -f "$log" "$log.boot1"
		fi
	done
	GX_QEMU_WRAP=()
	read -r cpu_s cpu_pct <<<"$(cpu_delta "$cpu0")"
	nx_stop cgsampler
	nx_stop vcpusampler
	t=$(sed -n "s/^$w: mib=.* verify=ok time=\([0-9.]*\).*/\1/p" "$log" | head -n1)
	if ! grep -q 'MEMX-GUEST-RESULT: PASS' "$log" || [[ -z $t ]]; then
		tail -n 15 "$log" >&2
		nx_log "*** $c / $w FAILED (QEMU exit $rc); its log: $log"
		failed+=("$c/$w")
		t=FAIL
		NX_KEEP=1
	fi
	l0=$(awk -v a="$l0" -v b="$(cut -d' ' -f1 /proc/loadavg)" \
		'BEGIN { printf "%.1f", (a + b) / 2 }')
	ALL[$c,$w]+="${ALL[$c,$w]:+ }$t"
	# a workload that times its phases (randrw) says where the time went
	ph=$(sed -n "s/^$w: .* verify=ok time=[0-9.]* \(.*_s=.*\)/\1/p" "$log" |
		tr -d '\r' | head -n1)
	[[ -n $ph ]] && PHASES[$c,$w]+="${PHASES[$c,$w]:+; }$ph"
	printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$c" "$w" "$t" "$l0" >>"$out/runs.tsv"
	# the fastest round counts; a failed one fails the configuration
	if [[ $t == FAIL || ${T[$c,$w]:-} == FAIL ]]; then
		T[$c,$w]=FAIL LOAD[$c,$w]=$l0 CPU[$c,$w]=-
	elif [[ -z ${T[$c,$w]:-} ]] ||
		awk -v a="$t" -v b="${T[$c,$w]}" 'BEGIN { exit !(a < b) }'; then
		T[$c,$w]=$t LOAD[$c,$w]=$l0 CPU[$c,$w]="$cpu_s ($cpu_pct)"
		VCPU[$c,$w]=$(vcpu_note "$NX_TMP/$c-$w.vcpu")
	fi
	read -r over peak 2>/dev/null <"$NX_TMP/$c-$w.cg" || over=0 peak=0
	((peak > $(cg_peak "$cg"))) || peak=$(cg_peak "$cg")
	last_peak=$((peak / 1048576))
	[[ $t == FAIL ]] && last_peak=-
	peak_keep "$c" "$w" "$last_peak"
	if [[ $c == local ]]; then
		over=$(((over + 1048575) / 1048576))
		NOTE[$c,$w]="QEMU overhead (charge - guest RAM) peak ${over} MiB"
		if [[ -z $qemu_overhead_mib ]] || ((over > qemu_overhead_mib)); then
			qemu_overhead_mib=$over
		fi
	fi
	if [[ $c == hostswap || $c == zram ]]; then
		NOTE[$c,$w]="host majflt=$(cg_stat "$cg" total_pgmajfault || true)"
		[[ $cg_v == 2 ]] && NOTE[$c,$w]="host majflt=$(cg_stat "$cg" pgmajfault)"
		# what the kernel wrote to swap and read back: memx's
		# evict_dirty and net_faults + prefetch_installed
		NOTE[$c,$w]+=" $(swap_delta "$swp0")"
	fi
	if [[ $c == vdisk || $c == nbd ]]; then
		NOTE[$c,$w]="guest $(sed -n 's/^MEMX-GUEST: swap traffic \(.*\)/\1/p' "$log" | tr -d '\r' | head -n1)"
	fi
	rmdir "$cg" 2>/dev/null || true
	nx_log "$c / $w: ${t}s (guest's time), QEMU's cgroup peak $last_peak MiB, host CPU busy ${cpu_s} s ($cpu_pct of $(nproc) cores) from boot to exit"
}

skip_config()	# skip_config CONFIG WHY
{
	local w

	for w in "${workloads[@]}"; do
		[[ -n ${T[$1,$w]:-} ]] || T[$1,$w]=skipped
	done
	printf '\n*** SKIPPING %s: %s ***\n\n' "$1" "$2" >&2
	NOTE[$1,skip]=$2
}

# ---- the configurations ----
cfg_local()
{
	local w

	for w in "${workloads[@]}"; do
		gx_qemu_args_memfd "${size_mib}M" "$(work_of "$w")" "${kargs[@]}"
		run local "$w" max
	done
	nx_log "QEMU's overhead (cgroup charge beyond guest RAM, peak over the local runs): $qemu_overhead_mib MiB"
	SETUP[local]="local: -m $size_mib MiB memfd; QEMU in an unlimited memory cgroup (v$cg_v); QEMU's overhead = the largest (charge - shmem, i.e. guest RAM) sampled every 0.2 s over the local runs: $qemu_overhead_mib MiB"
}

# memx_run CONFIG PAGER_BINARY: memx, or memxbase with another pager
memx_run()
{
	local c=$1 bin=$2 w pid hwm own=$MEMXD s srv0 mx_s srv_s srv_args
	local -a srv=()

	# memxbase's memory servers run the other binary too: one whole
	# build against another
	if [[ $c == memxbase ]]; then
		for s in "${GX_SERVERS[@]}"; do
			nx_stop "server-$s"
		done
	fi
	# gx_setup started them; a later round starts them again
	if [[ -z ${NX_PIDS[server-${GX_SERVERS[0]}]:-} ]]; then
		MEMXD=$bin
		srv_args=$memx_server_args
		[[ $c != memxbase ]] || srv_args=$base_server_args
		NX_SERVER_ARGS=$srv_args \
			nx_memory_servers "$GX_CLIENT" "${size_mib}M" "${GX_SERVERS[@]}"
		MEMXD=$own
	fi
	for w in "${workloads[@]}"; do
		MEMXD=$bin
		gx_memxd_start "$c-$w"
		MEMXD=$own
		gx_sampler_start "$NX_TMP/$c-$w.dump"
		gx_qemu_args "${size_mib}M" "${budget_mib}M" "$(work_of "$w")" "${kargs[@]}"
		srv=()
		for s in "${GX_SERVERS[@]}"; do
			srv+=("${NX_PIDS[server-$s]}")
		done
		srv0=$(proc_ticks "${srv[@]}")
		run "$c" "$w" max
		nx_stop sampler
		pid=${NX_PIDS[memxd-$c-$w]}
		mx_s=$(ticks_s "$(proc_ticks "$pid")")
		srv_s=$(ticks_s $(($(proc_ticks "${srv[@]}") - srv0)))
		hwm=$(awk '/^VmHWM:/ { print int($2 / 1024) }' "/proc/$pid/status" 2>/dev/null || echo 0)
		nx_stop "memxd-$c-$w"
		[[ $last_peak == - ]] || peak_keep "$c" "$w" $((last_peak + hwm))
		if [[ -s $NX_TMP/$c-$w.dump ]]; then
			cp "$NX_TMP/$c-$w.dump" "$out/$c-$w.dump"
			NOTE[$c,$w]="memxd peak RSS ${hwm} MiB (in local MiB); CPU s memxd=$mx_s servers=$srv_s;$(memx_stats "$NX_TMP/$c-$w.dump")"
		fi
	done
	for s in "${GX_SERVERS[@]}"; do
		nx_stop "server-$s"
	done
}

cfg_memxbase()
{
	memx_run memxbase "$memxd_base"
	SETUP[memxbase]="memxbase: as memx, the pager and the memory servers being $memxd_base (servers ${base_server_args:-without --reserve})"
}

cfg_memx()
{
	memx_run memx "$MEMXD"
	SETUP[memx]="memx: -m $size_mib MiB memory-backend-memx budget=$budget_mib MiB; memxd (defaults) in the client namespace; ${#GX_SERVERS[@]} memxd --server $memx_server_args (capacity $size_mib MiB each, taken and locked at start) in their own namespaces on one bridge (veth, MTU $GX_MTU); page-groups of $(gx_val "$out/memx-${workloads[0]}.dump" pg_width 2>/dev/null || echo '?') data servers + $(gx_val "$out/memx-${workloads[0]}.dump" pg_parity 2>/dev/null || echo '?') parity"
}

memx_stats()
{
	local k

	for k in net_faults cache_faults zero_faults wp_faults prefetch_installed prefetch_zero \
		evict_dirty evict_clean fault_p50_us fault_p99_us pg_parity; do
		printf ' %s=%s' "$k" "$(gx_val "$1" "$k")"
	done
}

# set_limit: lim, what hostswap and zram give QEMU's cgroup.  Not called
# in a subshell: it sets qemu_overhead_mib, which the table's labels and
# setup lines read, when local was not run.
set_limit()
{
	if [[ -z $qemu_overhead_mib ]]; then
		qemu_overhead_mib=${BENCH_QEMU_OVERHEAD_MIB:-}
		[[ -n $qemu_overhead_mib ]] ||
			nx_die "local was not run: set BENCH_QEMU_OVERHEAD_MIB (QEMU's overhead)"
		nx_log "NOTE: QEMU's overhead taken from BENCH_QEMU_OVERHEAD_MIB: $qemu_overhead_mib MiB (not measured)"
	fi
	lim=$((budget_mib + qemu_overhead_mib))
}

cfg_hostswap()
{
	local w lim

	set_limit
	swapfile_on
	nx_log "hostswap: QEMU's cgroup limited to $lim MiB ($budget_mib budget + $qemu_overhead_mib QEMU overhead); swap file on $(df --output=source "$disk_dir" | tail -n1)"
	for w in "${workloads[@]}"; do
		gx_qemu_args_memfd "${size_mib}M" "$(work_of "$w")" "${kargs[@]}"
		run hostswap "$w" "$lim"
	done
	SETUP[hostswap]="hostswap: -m $size_mib MiB memfd; QEMU's cgroup (v$cg_v) limited to $lim MiB ($budget_mib budget + $qemu_overhead_mib overhead), swap unlimited; a $swap_mib MiB swap file on $(df --output=source "$disk_dir" | tail -n1) ($(findmnt -no FSTYPE -T "$disk_dir")), written in full; vm.swappiness=$(cat /proc/sys/vm/swappiness), page-cluster=$(cat /proc/sys/vm/page-cluster), zswap enabled=$zswap"
	swapfile_off
}

cfg_zram()
{
	local w lim sys

	set_limit
	zram_on
	sys=/sys/block/zram$zram_id
	nx_log "zram: QEMU's cgroup limited to $lim MiB ($budget_mib budget + $qemu_overhead_mib QEMU overhead)"
	for w in "${workloads[@]}"; do
		echo 0 >"$sys/mem_used_max"
		gx_qemu_args_memfd "${size_mib}M" "$(work_of "$w")" "${kargs[@]}"
		run zram "$w" "$lim"
		pool=$(awk '{ print int($5 / 1048576) }' "$sys/mm_stat")
		[[ $last_peak == - ]] || peak_keep zram "$w" $((last_peak + pool))
		NOTE[zram,$w]+=" zram pool peak ${pool} MiB (in local MiB, outside the cgroup)"
	done
	SETUP[zram]="zram: -m $size_mib MiB memfd; QEMU's cgroup limited to $lim MiB as hostswap's; swap on /dev/zram$zram_id ($swap_mib MiB, $zram_alg), made with zram-control/hot_add"
	zram_off
}

aio=
cfg_vdisk()
{
	local w img=$disk_dir/guest-swap.img

	nx_log "vdisk: writing a $swap_mib MiB disk image $img"
	dd if=/dev/zero of="$img" bs=1M count="$swap_mib" oflag=direct status=none
	if printf 'quit\n' | timeout 20 "$QEMU" -machine none -nodefaults \
		-display none -monitor stdio -drive \
		"file=$img,format=raw,if=none,id=p,cache=none,aio=native" \
		>/dev/null 2>"$NX_TMP/aio-probe"; then
		aio=native
	else
		aio=threads
		printf '\n*** NOTE: this QEMU has no aio=native (%s): vdisk uses cache=none,aio=threads ***\n\n' \
			"$(head -n1 "$NX_TMP/aio-probe")" >&2
	fi
	for w in "${workloads[@]}"; do
		gx_qemu_args_memfd "${budget_mib}M" "$(work_of "$w")" "${kargs[@]}" memx.swap=1
		run vdisk "$w" max \
			-drive "file=$img,format=raw,if=none,id=swap0,cache=none,aio=$aio" \
			-device virtio-blk-pci,drive=swap0
	done
	SETUP[vdisk]="vdisk: -m $budget_mib MiB memfd; swap on a virtio-blk-pci disk: a $swap_mib MiB raw image on $(df --output=source "$disk_dir" | tail -n1), written in full first, cache=none,aio=$aio$([[ $aio == native ]] || echo " (this QEMU has no aio=native)")"
	rm -f -- "$img"
}

cfg_nbd()
{
	local w

	for w in "${workloads[@]}"; do
		nbd_start
		gx_qemu_args_memfd "${budget_mib}M" "$(work_of "$w")" "${kargs[@]}" memx.swap=1
		run nbd "$w" max \
			-drive "file=nbd://$(nx_ip "$nbd_host"):$nbd_port,format=raw,if=none,id=swap0,cache=none" \
			-device virtio-blk-pci,drive=swap0
		nx_stop nbd
	done
	SETUP[nbd]="nbd: -m $budget_mib MiB memfd; swap on a virtio-blk-pci disk backed by QEMU's NBD client, cache=none, to nbdkit $(nbdkit --version | awk '{ print $2 }') memory size=${swap_mib}M (fresh for each boot) in namespace $nbd_host ($(nx_ip "$nbd_host"):$nbd_port) on the same bridge as memx's servers (veth, MTU $GX_MTU)"
}

# ---- the peers from the literature that cannot run here ----
# Printed under the table, with the configuration standing in for each.
# What makes them impossible is checked where it can be (an RDMA device,
# a module tree to load into, Xen); the rest is what they are built on.
literature_peers()
{
	local rdma=none mods=no xen=no

	[[ -d /sys/class/infiniband ]] &&
		rdma=$(cd /sys/class/infiniband && echo *)
	[[ -d /lib/modules/$(uname -r)/build ]] && mods=yes
	[[ -d /proc/xen || -d /sys/hypervisor/xen ]] && xen=yes
	echo "peers from the literature (issue 12's list), on this host (kernel $(uname -r); RDMA devices: $rdma; headers to build modules: $mods; Xen: $xen):"
	cat <<-EOF
	  Anemone     NOT RUN: a Linux 2.6 kernel module (a pseudo block device swapping to memory servers over Ethernet); nothing to build it against here.
	              Nearest honest substitute: nbd (the guest swaps to a block device whose blocks are in a remote server's RAM, over the same veth link) - the same design with today's parts.
	  MemX        NOT RUN: Xen-era (2.6) kernel modules for paravirtual guests (the namesake of this project, not this code); needs Xen and its kernels.
	              Substitute: nbd for its in-guest block device mode; memx itself for the hypervisor-level mode.
	  FluidMem    NOT RUN: userfaultfd in the hypervisor, like memx, but on its own patched Linux kernel and QEMU, with a RAMCloud or memcached store; none of that can be booted or fetched here.
	              Substitute: memx (the same mechanism: a userfaultfd pager under an unmodified guest); nbd for a network-RAM store.
	  Infiniswap  NOT RUN: a kernel module (block device) that needs RDMA NICs (one-sided verbs) and a 3.x/4.x kernel; no RDMA device, no module tree.
	              Substitute: nbd (remote RAM as a swap block device, over Ethernet instead of RDMA); vdisk for a local block device.
	  Leap        NOT RUN: a patched Linux 4.4 kernel (its prefetcher in the swap path) over RDMA.
	              Substitute: hostswap (the kernel's own swap readahead); memx's prefetcher is Leap's majority-trend algorithm (memxd/pager/prefetch.h), so Leap's idea is measured inside memx.
	  Hydra       NOT RUN: erasure-coded remote memory as a kernel module over RDMA.
	              Substitute: memx with page-groups and parity (its erasure coding runs in every memx row); nbd for remote RAM without it.
	  QEMU postcopy NOT A MEMORY EXPANDER: post-copy migration faults pages in over the network with userfaultfd, but ends with all of the guest's RAM local; it cannot run a guest at 25% local.
	              Substitute: memx's network fault path is the same mechanism (tests/bench fault-bench measures it); no row in the table.
	  NBD swap    RUN: nbd.    disk swap: RUN as hostswap (host swap file) and vdisk (guest swap on virtio-blk).    zram: RUN as zram.
	EOF
}

# ---- start ----
[[ $(id -u) -eq 0 ]] || nx_skip "needs root (cgroups, swap, zram, namespaces)"
step "packages (apt-get): memx's, nbdkit, gnuplot-nox"
bash "$top_srcdir/tests/install-deps.sh" nbdkit gnuplot-nox >&2
gx_require
cg_detect
mkdir -p "$out"
rm -f "$out"/*.dump "$out"/table.txt "$out"/results.tsv "$out"/runs.tsv \
	"$out"/*.png "$out"/memx-fault-cdf.txt
[[ $(stat -f -c %T "$disk_parent") != tmpfs ]] ||
	nx_die "BENCH_DISK_DIR=$disk_parent is tmpfs, not a disk"

host_swap_skip=
if swap_busy; then
	host_swap_skip="the host already has swap on ($(awk 'NR > 1 { printf "%s ", $1 }' /proc/swaps)): a cgroup would swap there, not to our swap file or zram"
fi
zswap=$(cat /sys/module/zswap/parameters/enabled 2>/dev/null || echo N)

step "building the patched QEMU and the test guest (cached after the first time)"
gx_build
GX_SERVERS=(srv1 srv2 srv3 srv4)
step "namespaces: client + four memory servers (${NX_PREFIX}*)"
GX_SERVER_ARGS=$memx_server_args
gx_setup "${size_mib}M"
trap cb_cleanup EXIT
disk_dir=$(mktemp -d "$disk_parent/compare-bench.XXXXXX")
nx_haltpoll_bench

for c in "${configs[@]}"; do
	if [[ -n $host_swap_skip && ($c == hostswap || $c == zram) ]]; then
		continue
	fi
	ntotal=$((ntotal + repeat * ${#workloads[@]}))
done
nx_log "guest RAM $size_mib MiB, budget $budget_mib MiB, accel $GX_ACCEL;" \
	"workloads: $(for w in "${workloads[@]}"; do printf '%s ' "$(work_of "$w")"; done)"
nx_log "configurations: ${configs[*]}$( ((repeat > 1)) && echo ", $repeat rounds"): $ntotal boots; results in $out"
[[ $zswap == Y ]] && printf '\n*** NOTE: zswap is enabled on this host: hostswap pages go through zswap (compressed RAM) before the swap file ***\n\n' >&2

printf 'round\tconfig\tworkload\ttime_s\tload\n' >"$out/runs.tsv"
for ((round = 1; round <= repeat; round++)); do
	for c in "${configs[@]}"; do
		if [[ -z $host_swap_skip && ($c == hostswap || $c == zram) ]] && swap_busy; then
			host_swap_skip="swap was turned on by someone else during the run ($(awk 'NR > 1 { printf "%s ", $1 }' /proc/swaps))"
		fi
		if [[ -n $host_swap_skip && ($c == hostswap || $c == zram) ]]; then
			skip_config "$c" "$host_swap_skip"
			continue
		fi
		"cfg_$c"
	done
done

# ---- report ----
step "report"
ratio()	# ratio A B: A / B to two places, or "-"
{
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b
		else printf "-" }'
}

declare -A desc=(
	[local]="memfd, all $size_mib MiB local"
	[memx]="memx, $budget_mib MiB local, 4 servers, parity"
	[memxbase]="memx, its pager BENCH_MEMXD_BASE"
	[hostswap]="memfd, cgroup ${budget_mib}+${qemu_overhead_mib:-?} MiB, swap file"
	[zram]="memfd, cgroup ${budget_mib}+${qemu_overhead_mib:-?} MiB, zram ${zram_alg:-}"
	[vdisk]="$budget_mib MiB guest, swap: virtio-blk image"
	[nbd]="$budget_mib MiB guest, swap: virtio-blk NBD RAM"
)
{
	echo "compare-bench: $(date '+%F %T'), $(nproc) cores, guest RAM $size_mib MiB ($GX_ACCEL, 1 vCPU), local budget $budget_mib MiB"
	nx_haltpoll_describe
	echo "time_s: the guest's own time for the workload; x_local: time / local's; memx/this: memx's time / this one's (>1: memx is slower)"
	echo "local_MiB: peak local memory (QEMU's cgroup peak; + memxd's peak RSS for memx; + the zram pool's peak for zram); load: 1-min load average around the run"
	echo "host_cpu_s: the host's busy CPU seconds, every process and the kernel, from QEMU's start to its exit (boot included), and that share of all $(nproc) cores' time: what paging cost beside the guest's own vCPU"
	echo
	printf '%-7s %-9s %-44s %9s %8s %10s %10s %5s %14s\n' workload config "" time_s x_local memx/this local_MiB load host_cpu_s
	for w in "${workloads[@]}"; do
		first=$w
		for c in "${configs[@]}"; do
			t=${T[$c,$w]:-}
			printf '%-7s %-9s %-44s %9s %8s %10s %10s %5s %14s\n' "$first" "$c" \
				"(${desc[$c]})" "$t" "$(ratio "$t" "${T[local,$w]:-}")" \
				"$(ratio "${T[memx,$w]:-}" "$t")" "${PEAK[$c,$w]:--}" \
				"${LOAD[$c,$w]:--}" "${CPU[$c,$w]:--}"
			first=
		done
	done
	echo
	echo "setup:"
	for c in "${configs[@]}"; do
		[[ -n ${SETUP[$c]:-} ]] && echo "  ${SETUP[$c]}"
	done
	if ((repeat > 1)); then
		echo
		echo "every round's time (the table has the fastest):"
		for w in "${workloads[@]}"; do
			for c in "${configs[@]}"; do
				[[ -n ${ALL[$c,$w]:-} ]] && printf '  %-7s %-9s %s\n' "$w" "$c" "${ALL[$c,$w]}"
			done
		done
	fi
	echo
	echo "what paging did:"
	for w in "${workloads[@]}"; do
		for c in "${configs[@]}"; do
			[[ -n ${NOTE[$c,$w]:-} ]] && printf '  %-7s %-9s %s\n' "$w" "$c" "${NOTE[$c,$w]}"
		done
	done
	for w in "${workloads[@]}"; do
		for c in "${configs[@]}"; do
			[[ -n ${VCPU[$c,$w]:-} ]] && printf '  %-7s %-9s %s\n' "$w" "$c" "${VCPU[$c,$w]}"
		done
	done
	for w in "${workloads[@]}"; do
		for c in "${configs[@]}"; do
			[[ -n ${PHASES[$c,$w]:-} ]] && printf '  %-7s %-9s phases, each round: %s\n' "$w" "$c" "${PHASES[$c,$w]}"
		done
	done
	for c in "${configs[@]}"; do
		[[ -n ${NOTE[$c,skip]:-} ]] && printf '  SKIPPED %s: %s\n' "$c" "${NOTE[$c,skip]}"
	done
	echo
	literature_peers
	true
} | tee "$out/table.txt"

# results.tsv: workload, then one column per configuration (? = none)
{
	printf 'workload'
	printf '\t%s' "${configs[@]}"
	echo
	for w in "${workloads[@]}"; do
		printf '%s' "$w"
		for c in "${configs[@]}"; do
			t=${T[$c,$w]:-}
			[[ $t =~ ^[0-9.]+$ ]] || t='?'
			printf '\t%s' "$t"
		done
		echo
	done
} >"$out/results.tsv"

# The CDF of memx's fault latency: fault_hist_us bucket b counts faults
# served in [2^b, 2^(b+1)) us (b = 0: under 2 us), so the fraction at
# le_us = 2^(b+1) is that of faults served in less than le_us.
memx_cdf()
{
	local w
	local -a ws=() f=()

	for w in "${workloads[@]}"; do
		[[ -s $out/memx-$w.dump ]] || continue
		ws+=("$w")
		awk -F= '$1 == "fault_hist_us" { print $2; exit }' "$out/memx-$w.dump" |
			tr ',' '\n' >"$NX_TMP/hist-$w"
		f+=("$NX_TMP/hist-$w")
	done
	((${#ws[@]})) || return 0
	# rows from one below the first bucket with faults to the last one
	paste "${f[@]}" | awk -v names="${ws[*]}" '
		{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; tot[i] += $i; if ($i) { if (!lo) lo = NR; hi = NR } } n = NR; m = NF }
		END {
			split(names, nm, " ")
			print "# memx fault latency: the fraction of faults served in less than le_us"
			print "# (memxctl dump fault_hist_us: every fault memxd served: network, prefetch cache, zero-fill)"
			printf "# faults:  "
			for (i = 1; i <= m; i++) printf " %12d", tot[i]
			printf "\n%-11s", "le_us"
			for (i = 1; i <= m; i++) printf " %12s", nm[i]
			printf "\n"
			for (r = 1; r <= n; r++) {
				for (i = 1; i <= m; i++) cum[i] += c[r, i]
				if (r < lo - 1 || r > hi) continue
				printf "%-11d", 2 ^ r
				for (i = 1; i <= m; i++) printf " %12.4f", tot[i] ? cum[i] / tot[i] : 0
				printf "\n"
			}
		}' >"$out/memx-fault-cdf.txt"
	echo
	cat "$out/memx-fault-cdf.txt"
	gnuplot <<-EOF || nx_log "WARNING: gnuplot failed on the CDF"
		set terminal pngcairo size 900,560 noenhanced
		set output "$out/memx-fault-cdf.png"
		set title "memx: fault latency CDF (guest RAM $size_mib MiB, local budget $budget_mib MiB; all faults memxd served)"
		set datafile commentschars "#"
		set key autotitle columnhead bottom right
		set logscale x 2
		set format x "%.0f"
		set xlabel "served in less than (us)"
		set ylabel "fraction of faults"
		set yrange [0:1.02]
		set grid
		plot for [i=2:$((${#ws[@]} + 1))] "$out/memx-fault-cdf.txt" using 1:i with linespoints lw 2 pt 7
	EOF
}

chart()
{
	local nw=${#workloads[@]} i c w t

	# rows: configurations, a colour, then one column per workload
	for c in "${configs[@]}"; do
		case $c in
		local) printf '%s 0x999999' "$c" ;;
		memx) printf '%s 0xc0392b' "$c" ;;
		memxbase) printf '%s 0xe59866' "$c" ;;
		*) printf '%s 0x4472c4' "$c" ;;
		esac
		for w in "${workloads[@]}"; do
			t=${T[$c,$w]:-}
			[[ $t =~ ^[0-9.]+$ ]] || t='?'
			printf ' %s' "$t"
		done
		echo
	done >"$NX_TMP/chart.dat"
	{
		echo 'set terminal pngcairo size 1200,520 noenhanced'
		echo "set output '$out/times.png'"
		echo "set multiplot layout 1,$nw title 'compare-bench: guest RAM $size_mib MiB, local budget $budget_mib MiB; seconds of guest time, lower is better'"
		echo 'set style fill solid 0.8 border -1'
		echo 'set boxwidth 0.7'
		echo 'set datafile missing "?"'
		echo 'set yrange [0:*]'
		echo 'set offsets 0.5, 0.5, 0, 0'
		echo 'set xtics rotate by -45'
		echo 'unset key'
		echo 'set grid ytics'
		for ((i = 0; i < nw; i++)); do
			echo "set title '${workloads[$i]}'"
			echo "plot '$NX_TMP/chart.dat' using 0:$((i + 3)):2:xtic(1) with boxes lc rgb variable, '' using 0:$((i + 3)):(sprintf('%.1f', column($((i + 3))))) with labels offset 0,0.7"
		done
		echo 'unset multiplot'
	} >"$NX_TMP/chart.gp"
	gnuplot "$NX_TMP/chart.gp" || nx_log "WARNING: gnuplot failed on the chart"
}

memx_cdf | tee -a "$out/table.txt"
chart
echo
nx_log "written in $out: $(cd "$out" && echo *.txt *.tsv *.png)"
nx_log "duration: $((SECONDS - t_start)) s; load now: $(cut -d' ' -f1-3 /proc/loadavg)"
if ((${#failed[@]})); then
	nx_log "*** FAILED: ${failed[*]} (logs kept in $NX_TMP)"
fi

qv()	# the quicksort's time in CONFIG, or skipped/FAIL/n/a
{
	echo "${T[$1,qsort]:-n/a}"
}
best=
for c in "${peers[@]}"; do
	t=${T[$c,qsort]:-}
	[[ $t =~ ^[0-9.]+$ ]] || continue
	if [[ -z $best ]] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then
		best=$t
	fi
done
vs=$(ratio "$(qv memx)" "$best")
[[ $vs == - ]] && vs=n/a
base=
if [[ -n ${T[memxbase,qsort]:-} ]]; then
	base=" memxbase_s=$(qv memxbase) memx_vs_memxbase=$(ratio "$(qv memx)" "$(qv memxbase)")"
fi
echo "compare-bench: local_s=$(qv local) memx_s=$(qv memx) hostswap_s=$(qv hostswap) zram_s=$(qv zram) vdisk_s=$(qv vdisk) nbd_s=$(qv nbd) memx_vs_best_peer=$vs$base"
((${#failed[@]} == 0))
