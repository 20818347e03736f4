#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# guest-e2e.sh - end to end: an unmodified Linux guest on memory-backend-memx.
#
# Two memory servers and a client, each a network namespace; memxd's pager
# in the client; the patched QEMU (qemu-patches/build.sh, cached) boots the
# test guest (tests/guest/build.sh, cached) with 1 GiB of guest RAM on a
# 256 MiB budget, running quicksort over E2E_QSORT_MIB MiB and random
# read/write over E2E_RANDRW_MIB MiB.  Passes only if:
#   - the guest's workloads all verify (their checksums match);
#   - memxd served network faults, evicted pages and held remote pages;
#   - resident pages never exceeded the budget plus memxd's slack;
#   - the memory the guest frees reaches memxd as discards (virtio-balloon
#     free page reporting -> ram_block_discard_range -> discard=);
#   - the guest sees the full 1 GiB (MemTotal);
#   - the memory servers run with --reserve=on: each says reserved=1 in
#     memxctl stat and has its whole capacity locked (VmLck) before the
#     guest boots, the pager's dump says server_reserved=1 for each, and
#     the guest's pages live in that memory;
#   - QEMU refuses quickly, with a clear message, when memxd is
#     unreachable, does not answer (10 s deadline) or refuses the VM, with
#     prealloc=on, with budget > size or missing, and with hugetlb;
#   - when memxd is SIGKILLed under a running guest, QEMU says that the
#     VM waits for memxd, QMP shows it (memory-backend-memx's memxd-state
#     is "waiting", the VM still "running"), and a memxd started again with
#     the same command line takes the VM over: QEMU registers again, and
#     the guest's sort goes on and verifies (needs python3 for QMP).
#
#   tests/guest-e2e.sh [--accel tcg|kvm] [--qsort MIB] [--quick]
#
# --quick: a 200 MiB quicksort and 192 MiB of random read/write (still
# over the budget, in about a third of the time).  Environment: GX_ACCEL, E2E_QSORT_MIB, E2E_RANDRW_MIB,
# E2E_RANDRW_OPS, E2E_TIMEOUT (seconds for the guest run), NX_KEEP=1.
# Skips (77) only without root or /dev/userfaultfd.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
# shellcheck source=tests/lib/guest-common.sh
. "$top_srcdir/tests/lib/guest-common.sh"

E2E_QSORT_MIB=${E2E_QSORT_MIB:-600}
E2E_RANDRW_MIB=${E2E_RANDRW_MIB:-256}
E2E_RANDRW_OPS=${E2E_RANDRW_OPS:-2000000}
E2E_TIMEOUT=${E2E_TIMEOUT:-2400}

while (($#)); do
	case $1 in
	--accel) GX_ACCEL=$2; shift ;;
	--qsort) E2E_QSORT_MIB=$2; shift ;;
	--quick) E2E_QSORT_MIB=200 E2E_RANDRW_MIB=192 E2E_RANDRW_OPS=500000 ;;
	*) nx_die "usage: $0 [--accel tcg|kvm] [--qsort MIB] [--quick]" ;;
	esac
	shift
done

gx_require
gx_build
GX_SERVER_ARGS="--reserve=on"
gx_setup 1G
for s in "${GX_SERVERS[@]}"; do
	st=$(nx_exec "$GX_CLIENT" "$MEMXCTL" stat "$(nx_ip "$s")")
	locked=$(awk '/^VmLck:/ { print int($2 / 1024) }' "/proc/${NX_PIDS[server-$s]}/status")
	[[ $st == *" reserved=1"* && $locked -ge 1024 ]] ||
		nx_die "server $s was started with --reserve=on but is not reserved: VmLck ${locked} MiB; $st"
	nx_log "ok:   server $s reserved its 1024 MiB at start: VmLck ${locked} MiB, memxctl stat reserved=1"
done
gx_memxd_start e2e
nx_log "QEMU: $QEMU; guest: $GUEST; accel: $GX_ACCEL"

# --- refusals: each must exit non-zero within 30 s, saying why ---
refuse()
{
	local what=$1 expect=$2 opts=$3 rc=0 t0=$SECONDS

	timeout -k 5 30 ip netns exec "$(nx_ns "$GX_CLIENT")" "$QEMU" \
		-machine q35,memory-backend=mem0 -accel "$GX_ACCEL" \
		-object "memory-backend-memx,id=mem0,size=1G,$opts" -m 1G \
		-nographic -nic none -no-reboot "${GX_FIRMWARE[@]}" \
		-kernel "$GUEST/vmlinuz" -initrd "$GUEST/initramfs.gz" \
		</dev/null >"$NX_TMP/refuse.log" 2>&1 || rc=$?
	((rc != 124 && rc != 137)) || nx_die "refusal ($what): QEMU hung (killed after 30 s)"
	((rc != 0)) || nx_die "refusal ($what): QEMU started anyway"
	grep -q -- "$expect" "$NX_TMP/refuse.log" || {
		cat "$NX_TMP/refuse.log" >&2
		nx_die "refusal ($what): QEMU's message does not say '$expect'"
	}
	nx_log "refused ($what) in $((SECONDS - t0)) s, exit $rc: $(head -n1 "$NX_TMP/refuse.log")"
}
refuse "memxd unreachable" "cannot reach memxd" \
	"memxd=$NX_TMP/no-such-memxd.sock,budget=256M"
refuse "prealloc=on" "prealloc=on is not supported" \
	"memxd=$GX_SOCK,budget=256M,prealloc=on"
refuse "budget > size" "exceeds size" "memxd=$GX_SOCK,budget=2G"
refuse "no budget" "'budget'.*is required" "memxd=$GX_SOCK"
refuse "hugetlb" "huge pages are not supported" \
	"memxd=$GX_SOCK,budget=256M,hugetlb=on"
refuse "memxd refuses (budget of one page)" "memxd at .* refused the VM" \
	"memxd=$GX_SOCK,budget=4096"

# A memxd that accepts but never answers (stopped): QEMU must give up
# after its 10 s registration deadline, not hang.  A memxd of its own, so
# the stale registration it finds when resumed touches nothing else.
gx_memxd_start stuck
kill -STOP "${NX_PIDS[memxd-stuck]}"
refuse "memxd does not answer" "memxd did not answer in time" \
	"memxd=$GX_SOCK,budget=256M"
kill -CONT "${NX_PIDS[memxd-stuck]}"
nx_stop memxd-stuck
GX_SOCK=$NX_TMP/e2e.sock

# --- the guest: 1 GiB of guest RAM on a 256 MiB budget ---
# virtio-balloon's free page reporting makes QEMU discard the memory the
# guest frees (after quicksort), which must reach memxd.
GX_BALLOON=1
work="qsort:$E2E_QSORT_MIB,randrw:$E2E_RANDRW_MIB:$E2E_RANDRW_OPS"
gx_qemu_args 1G 256M "$work"
gx_sampler_start "$NX_TMP/dump"
nx_log "booting: 1 GiB guest RAM, 256 MiB budget, memx.work=$work (timeout ${E2E_TIMEOUT}s)"
t0=$SECONDS
rc=0
gx_qemu_run "$NX_TMP/guest.log" "$E2E_TIMEOUT" || rc=$?
wall=$((SECONDS - t0))
nx_stop sampler
if ((rc != 0)); then
	tail -n 30 "$NX_TMP/guest.log" >&2
	printf '%s\n' "---- memxd (pager) log, last 40 lines ----" >&2
	tail -n 40 "$NX_TMP/memxd-e2e.log" >&2
	((rc == 124 || rc == 137)) && nx_die "the guest did not finish in ${E2E_TIMEOUT} s"
	nx_die "QEMU exited with $rc"
fi

GX_FAIL=0
log=$NX_TMP/guest.log
memtotal=$(sed -n 's/.*MEMX-GUEST: MemTotal=\([0-9]*\) kB.*/\1/p' "$log" | head -n1)
[[ -s $NX_TMP/dump ]] || nx_die "no memxd counters were sampled while the guest ran"
d=$NX_TMP/dump
net=$(gx_val "$d" net_faults)
evict=$(($(gx_val "$d" evict_clean) + $(gx_val "$d" evict_dirty) + $(gx_val "$d" evict_zero)))
remote=$(gx_val "$d" remote_pages)
maxres=$(gx_val "$d" max_resident_pages)
budget=$(gx_val "$d" budget_pages)
slack=$(awk -F= '$1 == "slack_pages" { print $2; exit }' "$d")
nx_log "guest ran ${wall}s; memxd (last sample): net_faults=$net evictions=$evict" \
	"remote_pages=$remote max_resident_pages=$maxres budget_pages=$budget" \
	"slack_pages=$slack zero_faults=$(gx_val "$d" zero_faults)" \
	"prefetch_hit=$(gx_val "$d" prefetch_hit) prefetch_issued=$(gx_val "$d" prefetch_issued)" \
	"fault_p50_us=$(gx_val "$d" fault_p50_us) fault_p99_us=$(gx_val "$d" fault_p99_us)"
gx_check "guest result PASS" "grep -q 'MEMX-GUEST-RESULT: PASS' '$log'"
gx_check "qsort verified" "grep -q '^qsort: mib=$E2E_QSORT_MIB .*verify=ok' '$log'"
gx_check "randrw verified" "grep -q '^randrw: mib=$E2E_RANDRW_MIB .*verify=ok' '$log'"
gx_check "MemTotal ${memtotal:-?} kB is about 1 GiB" "((${memtotal:-0} > 900 * 1024))"
gx_check "network faults ($net)" "((${net:-0} > 0))"
gx_check "evictions ($evict)" "((evict > 0))"
gx_check "remote pages ($remote)" "((${remote:-0} > 0))"
gx_check "discards reached memxd ($(gx_val "$d" discards) requests)" \
	"(($(gx_val "$d" discards) > 0))"
gx_check "max resident $maxres <= budget $budget + slack $slack pages" \
	"((${maxres:-1} <= ${budget:-0} + ${slack:-0}))"
nres=$(grep -c '^server_reserved=1$' "$d" || true)
gx_check "the pager sees every server reserved ($nres of ${#GX_SERVERS[@]}: server_reserved=1)" \
	"((nres == ${#GX_SERVERS[@]}))"
((GX_FAIL == 0)) || {
	printf '%s\n' "---- memxd (pager) log, last 40 lines ----" >&2
	tail -n 40 "$NX_TMP/memxd-e2e.log" >&2
	nx_die "end-to-end checks failed"
}

# --- memxd dies under a running guest: the VM waits, QMP says so, and a
# memxd started again takes it over; the guest's sort must verify ---
if command -v python3 >/dev/null; then
	nx_stop memxd-e2e
	gx_memxd_start death
	qmp=$NX_TMP/qmp.sock
	dlog=$NX_TMP/death.log
	GX_BALLOON=0
	gx_qemu_args 1G 256M "qsort:256"
	: >"$dlog"
	ip netns exec "$(nx_ns "$GX_CLIENT")" timeout -k 5 600 "$QEMU" \
		"${GX_QEMU_ARGS[@]}" -qmp "unix:$qmp,server=on,wait=off" \
		</dev/null >"$dlog" 2>&1 &
	NX_PIDS[qemu]=$!
	gx_wait_for 300 "grep -q 'qsort: generated' '$dlog'" ||
		nx_die "memxd death: the guest never started its workload"
	gx_memxd_kill death KILL
	nx_log "killed memxd (SIGKILL) under the running guest"
	gx_wait_for 30 "grep -q 'lost the connection to memxd' '$dlog'"
	gx_check "QEMU says memxd went away and the VM waits" \
		"grep -q 'lost the connection to memxd.*the VM waits for memxd' '$dlog'"
	state=$(gx_qmp "$qmp" qom-get '{"path": "/objects/mem0", "property": "memxd-state"}' || true)
	waited=$(gx_qmp "$qmp" qom-get '{"path": "/objects/mem0", "property": "memxd-waiting-ms"}' || true)
	status=$(gx_qmp "$qmp" query-status | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])' || true)
	gx_check "QMP while memxd is away: memxd-state=${state:-no answer} (want waiting), memxd-waiting-ms=${waited:-?}, status ${status:-?} (want running)" \
		"[[ '$state' == waiting && '$status' == running ]] && ((${waited:-0} > 0))"
	t0=$SECONDS
	gx_memxd_restart death
	gx_wait_for 60 "grep -q 'registered again with memxd' '$dlog'"
	gx_check "QEMU registered again ($((SECONDS - t0)) s after memxd was started again): $(grep -o 'registered again.*' "$dlog" | head -n1)" \
		"grep -q 'registered again with memxd' '$dlog'"
	state=$(gx_qmp "$qmp" qom-get '{"path": "/objects/mem0", "property": "memxd-state"}' || true)
	again=$(gx_qmp "$qmp" qom-get '{"path": "/objects/mem0", "property": "memxd-reconnects"}' || true)
	gx_check "QMP after: memxd-state=${state:-no answer} (want connected), memxd-reconnects=${again:-?} (want 1)" \
		"[[ '$state' == connected && '${again:-}' == 1 ]]"
	gx_check "memxd says it took the VM over" \
		"grep -q 'taken over from an earlier memxd' '$NX_TMP/memxd-death.log'"
	rc=0
	gx_wait_for 540 "! kill -0 ${NX_PIDS[qemu]} 2>/dev/null" || true
	wait "${NX_PIDS[qemu]}" || rc=$?
	unset "NX_PIDS[qemu]"
	gx_check "QEMU exited by itself, status $rc (want 0)" "((rc == 0))"
	gx_check "the guest's sort verified across the restart" \
		"grep -q '^qsort: mib=256 .*verify=ok' '$dlog' && grep -q 'MEMX-GUEST-RESULT: PASS' '$dlog'"
	((GX_FAIL == 0)) || {
		cat "$dlog" >&2
		printf '%s\n' "---- memxd (pager) logs, last 30 lines ----" >&2
		tail -n 30 "$NX_TMP"/memxd-death.log* >&2
		nx_die "the memxd-restart checks failed"
	}
else
	nx_log "SKIPPED the memxd-restart check: no python3 for QMP"
fi
nx_log "PASS: guest-e2e (guest run ${wall}s)"
