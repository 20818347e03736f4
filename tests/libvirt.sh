#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# libvirt.sh - memx domains under a real libvirtd, as a user runs them:
# `virsh define` from the shipped example XML (libvirt-hooks/
# memx-domain.xml), the memx hook installed as hooks/qemu.d/memx, QEMU
# run by libvirt as libvirt-qemu (unprivileged, stock
# vm.unprivileged_userfaultfd=0: it gets its userfaultfd from memxd), two
# memory servers in network namespaces, one memxd for every domain.
#
#   1. memxd down: virsh start is refused, with the hook's reason;
#   2. with memxd up, three domains run at once (vm-a from the example,
#      vm-b a plain two-NUMA-node domain put on memx by memx-virt, vm-c a
#      smaller one), each on a budget of a quarter of its RAM, all under
#      libvirt-qemu, filling the host's memx total; their workloads
#      (fill and quicksort, larger than the budget) verify; memxctl shows
#      each by domain name and uuid, with its own budget; virsh dominfo
#      works; virsh console reaches vm-a's serial console (a line typed
#      there is answered by its /init);
#   3. a third domain whose budget does not fit the host's memx total
#      (memxd's local-total), and one with a malformed budget, are
#      refused with the reason in virsh's error; a VMM that is not
#      libvirt's (the host harness), registering straight with memxd
#      over the total, is refused by memxd itself;
#   4. libvirtd restarted (the hook's reconnect) and memxd restarted
#      under all three: they keep running, and register again;
#   5. virsh shutdown vm-a (the ACPI power button: the guest powers
#      itself off), virsh destroy the others: memxd forgets them all, the
#      hook drops their reservations; virsh undefine.
#
# libvirtd, virtlogd and dbus run in a private mount namespace (this
# script re-executes itself under unshare -m) over private copies of
# /etc/libvirt, /var/lib/libvirt, /var/log/libvirt, /var/cache/libvirt,
# an empty /run, and an /etc/group where libvirt-qemu is in group memx:
# the host's libvirt, if any, is not touched, and nothing is left behind.
#
# Last line: libvirt-e2e: domains=3 qemu_user=U verify=ok|FAIL
#   start_to_init_s=S refusals_ok=N/4
#
# Needs root; installs libvirt (libvirt-daemon-system) if it is missing,
# and skips (77) loudly only if that fails, or without namespaces.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir

# shellcheck source=tests/lib/libvirt-common.sh
. "$top_srcdir/tests/lib/libvirt-common.sh"
lv_enter "$0" "$@"

NX_PREFIX=mxl-$$-
NX_SUBNET=${NX_SUBNET:-49}
# shellcheck source=tests/lib/guest-common.sh
. "$top_srcdir/tests/lib/guest-common.sh"

LOCAL_TOTAL_MIB=320	# host-wide memx total: 128 + 128 + 64 fill it
MEM_MIB=512		# vm-a's and vm-b's RAM...
BUDGET_MIB=128		# ... and their budget: a quarter
WORK=fill:200,qsort:32	# more than the budget: pages go to the servers
C_MEM_MIB=256		# vm-c's, the same at half the size
C_BUDGET_MIB=64
C_WORK=fill:100,qsort:16
declare -A BUDGET_OF=([vm-a]=$BUDGET_MIB [vm-b]=$BUDGET_MIB [vm-c]=$C_BUDGET_MIB)
RUN_DOMS=(vm-a vm-b vm-c)
SOCK=/run/memx/memxd.sock
MEMX_VIRT=$top_builddir/libvirt-hooks/memx-virt
VIRSH=(virsh -c qemu:///system)
LV_FAIL=0
REFUSALS_OK=0
declare -a DOMS=()

# lv_refused WHAT DOMAIN PATTERN: virsh start DOMAIN fails, and its error
# matches PATTERN (the hook's reason).
lv_refused()
{
	local out

	if out=$("${VIRSH[@]}" start "$2" 2>&1); then
		nx_log "FAIL: $1: virsh start $2 succeeded"
		"${VIRSH[@]}" destroy "$2" >/dev/null 2>&1 || true
		LV_FAIL=1
		return
	fi
	printf '%s\n' "$out" | sed 's/^/    virsh: /' >&2
	if grep -qE -- "$3" <<<"$out"; then
		nx_log "ok:   $1: refused, with the reason"
		REFUSALS_OK=$((REFUSALS_OK + 1))
	else
		nx_log "FAIL: $1: refused, but without /$3/ in the error"
		LV_FAIL=1
	fi
}

# Stop what libvirt runs, then libvirtd, virtlogd and dbus, by their pids.
lv_cleanup()
{
	local rc=$? d f pid

	set +e
	nx_log "stopping libvirt's domains, libvirtd, virtlogd, dbus"
	for d in "${DOMS[@]}"; do
		timeout 30 "${VIRSH[@]}" destroy "$d" >/dev/null 2>&1
		timeout 30 "${VIRSH[@]}" undefine "$d" >/dev/null 2>&1
	done
	for f in /run/libvirt/qemu/*.pid /run/libvirtd.pid /run/virtlogd.pid \
		/run/dbus/pid; do
		[[ -f $f ]] || continue
		pid=$(cat "$f" 2>/dev/null)
		[[ $pid =~ ^[0-9]+$ ]] || continue
		lv_kill_wait "$pid"
	done
	if ((rc != 0 && rc != 77)) && [[ -n ${NX_TMP:-} ]]; then
		mkdir -p "$NX_TMP/libvirt-logs"
		cp -a /var/log/libvirt/. "$NX_TMP/libvirt-logs/" 2>/dev/null
	fi
	# The caches are bound into the namespace: let go of them before
	# the temporary directory goes.
	umount /var/cache/libvirt/qemu/capabilities "${EMU_DIR:-/nonexistent}" 2>/dev/null
	(exit "$rc")
	gx_cleanup
}

# An empty /run of our own first: libvirtd, virtlogd and dbus keep their
# pid files and sockets there, and ip netns its namespaces.
lv_run_tmpfs
lv_kvm_node

gx_require
command -v xmllint >/dev/null || nx_die "xmllint is missing"
[[ -x $MEMX_VIRT ]] || nx_die "$MEMX_VIRT is not built"
gx_build
gx_setup 1G	# two servers; three domains write about 1.5 GiB with parity
trap lv_cleanup EXIT
chmod 0755 "$NX_TMP"

# ---- a private libvirt, and group memx with libvirt-qemu in it ----
for d in /etc/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt; do
	lv_private "$d" "$NX_TMP/root"
done
lv_private /etc/memx "$NX_TMP/root" empty
lv_check "libvirt-qemu is in group memx (in this namespace)" lv_group_memx

# What libvirt-qemu runs and reads: the patched QEMU and memx-qemu, at a
# path and with times that stay the same from run to run, so that
# libvirt's probe of the emulator (minutes under TCG on a busy machine)
# is cached across runs, in the cache next to QEMU's; and the guest.
lv_emulator_cache
EMU_DIR=$LV_EMU_DIR
lv_bind_emulator "$LV_CACHE"
mkdir -m 0755 "$NX_TMP/img"
mkdir -m 0777 "$NX_TMP/console"
install -m 0644 "$GUEST/vmlinuz" "$GUEST/initramfs.gz" "$NX_TMP/img/"
cat >/etc/memx/libvirt.conf <<EOF
socket=$SOCK
qemu=$EMU_DIR/qemu-system-x86_64
emulator=$EMU_DIR/memx-qemu
memxctl=$MEMXCTL
group=memx
EOF
mkdir -p /etc/libvirt/hooks/qemu.d
install -m 0755 "$top_srcdir/libvirt-hooks/qemu.d/memx" /etc/libvirt/hooks/qemu.d/memx

if command -v dbus-daemon >/dev/null; then
	dbus-daemon --system --fork || nx_log "NOTE: dbus-daemon did not start; libvirtd runs without it"
fi
virtlogd -d || nx_die "virtlogd did not start"
libvirtd -d || nx_die "libvirtd did not start"
gx_wait_for 30 "'${VIRSH[0]}' -c qemu:///system list --all >/dev/null 2>&1" ||
	nx_die "libvirtd does not answer on qemu:///system"
nx_log "libvirtd $(libvirtd --version | awk '{print $NF}') up (private /etc/libvirt, /run, /var/lib/libvirt)"

# lv_define NAME BUDGET [numa|one [MEM_MIB WORK]]: define NAME from the
# example XML, with BUDGET (MiB) as its memx budget, MEM_MIB of RAM
# (default MEM_MIB) and WORK as its workload (default WORK); with
# "numa", as two NUMA nodes (and two vCPUs) of half its RAM each:
# libvirt then makes two memfd backends, memx-qemu two memx backends,
# and memxd serves two VMs.
lv_define()
{
	local name=$1 budget=$2 xml=$NX_TMP/$1.xml numa=()
	local mem=${4:-$MEM_MIB} work=${5:-$WORK}

	if [[ ${3:-} == numa ]]; then
		numa=(-e "s|<vcpu>1</vcpu>|<vcpu>2</vcpu><cpu><numa><cell id='0' cpus='0' memory='$((MEM_MIB / 2))' unit='MiB'/><cell id='1' cpus='1' memory='$((MEM_MIB / 2))' unit='MiB'/></numa></cpu>|")
	fi
	sed "${numa[@]}" -e "s|@NAME@|$name|" -e "s|@BUDGET_MIB@|$budget|" \
		-e "s|@MEMORY_MIB@|$mem|" \
		-e "s|@KERNEL@|$NX_TMP/img/vmlinuz|" \
		-e "s|@INITRD@|$NX_TMP/img/initramfs.gz|" \
		-e "s|@CMDLINE@|memx.work=$work memx.hold=1|" \
		-e "s|@EMULATOR@|$EMU_DIR/memx-qemu|" \
		-e "s|@CONSOLE@|$NX_TMP/console/$name.log|g" \
		"$top_srcdir/libvirt-hooks/memx-domain.xml" >"$xml"
	"${VIRSH[@]}" define "$xml" >/dev/null || nx_die "virsh define $name failed"
	DOMS+=("$name")
}

lv_define vm-a "$BUDGET_MIB"
# vm-b as a user with a domain of their own would: a plain domain (the
# example without memx's pieces), defined, then put on memx with
# memx-virt and defined again.
lv_define vm-b "$BUDGET_MIB" numa
sed -e '/<metadata>/,/<\/metadata>/d' -e '/<memoryBacking>/,/<\/memoryBacking>/d' \
	-e "s|<emulator>.*</emulator>|<emulator>$EMU_DIR/qemu-system-x86_64</emulator>|" \
	<("${VIRSH[@]}" dumpxml --inactive vm-b) >"$NX_TMP/vm-b-plain.xml"
"${VIRSH[@]}" undefine vm-b >/dev/null
"${VIRSH[@]}" define "$NX_TMP/vm-b-plain.xml" >/dev/null || nx_die "virsh define vm-b (plain) failed"
"${VIRSH[@]}" dumpxml vm-b | "$MEMX_VIRT" --budget "${BUDGET_MIB}MiB" \
	--emulator "$EMU_DIR/memx-qemu" >"$NX_TMP/vm-b-memx.xml" || nx_die "memx-virt failed on vm-b"
"${VIRSH[@]}" define "$NX_TMP/vm-b-memx.xml" >/dev/null || nx_die "virsh define vm-b (memx-virt) failed"
"${VIRSH[@]}" dumpxml --inactive vm-b >"$NX_TMP/vm-b-defined.xml"
lv_check "memx-virt put vm-b on memx (libvirt kept its budget, memfd and emulator)" \
	"grep -q '<memx:budget unit=.MiB.>$BUDGET_MIB<' '$NX_TMP/vm-b-defined.xml' &&
	 grep -q \"<source type='memfd'/>\" '$NX_TMP/vm-b-defined.xml' &&
	 grep -q '<emulator>$EMU_DIR/memx-qemu</emulator>' '$NX_TMP/vm-b-defined.xml'"
lv_define vm-c "$C_BUDGET_MIB" one "$C_MEM_MIB" "$C_WORK"
lv_define vm-big 64	# the three above fill the total
lv_define vm-bad 12x	# libvirt keeps metadata as it is: the hook checks it
nx_log "defined vm-a, vm-b (two NUMA nodes) ($MEM_MIB MiB, budget $BUDGET_MIB MiB each), vm-c ($C_MEM_MIB MiB, budget $C_BUDGET_MIB MiB), vm-big, vm-bad"

# ---- 1. memxd down ----
lv_refused "memxd down at start" vm-a "memxd is not running"

# ---- 2. two domains ----
nx_pager "$GX_CLIENT" memxd "$SOCK" \
	--servers "$(nx_ip srv1),$(nx_ip srv2)" --spill-dir "$NX_TMP" \
	--ctl-group memx --local-total "${LOCAL_TOTAL_MIB}M"
lv_check "memxd's socket belongs to group memx" "[[ \$(stat -c %G $SOCK) == memx ]]"
# lv_start DOMAIN: virsh start, then wait for the guest's /init; sets
# start_to_init (seconds).
lv_start()
{
	local d=$1 t0 out

	t0=$(date +%s.%N)
	out=$("${VIRSH[@]}" start "$d" 2>&1) || {
		printf '%s\n' "$out" >&2
		tail -n 20 "/var/log/libvirt/qemu/$d.log" >&2 || true
		nx_die "virsh start $d failed"
	}
	gx_wait_for 300 "grep -q '^MEMX-GUEST:' '$NX_TMP/console/$d.log'" ||
		nx_die "$d never reached /init"
	start_to_init=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	nx_log "virsh start $d: its /init ran $start_to_init s later"
}
# The first alone, for the time to /init; the others while the first
# runs its workload.
lv_start vm-a
first_start_to_init=$start_to_init
lv_start vm-b
lv_start vm-c
start_to_init=$first_start_to_init

qemu_user=
for d in "${RUN_DOMS[@]}"; do
	pid=$(cat "/run/libvirt/qemu/$d.pid")
	u=$(ps -o user= -p "$pid")
	qemu_user=${qemu_user:-$u}
	lv_check "$d: QEMU (pid $pid) runs as libvirt-qemu, not root" "[[ $u == libvirt-qemu ]]"
	info=$("${VIRSH[@]}" dominfo "$d" 2>&1) || true
	lv_check "$d: virsh dominfo says running" \
		"[[ \$info =~ State:[[:space:]]+running ]]"
	lv_check "$d: the hook reserved its budget" \
		"grep -q '^budget=$((BUDGET_OF[$d] << 20))\$' /run/memx-libvirt/\$('${VIRSH[0]}' -c qemu:///system domuuid $d).conf"
done

# lv_entries DUMP DOMAIN AWK: run AWK over each of DOMAIN's VMs in DUMP
# (memxd's name for it is DOMAIN, or DOMAIN:BACKEND with several NUMA
# nodes); in AWK, e is set on their lines.
lv_entries()
{
	awk -F= -v n="$2" '$1 == "vm" { e = ($2 == n || index($2, n ":") == 1) }
		'"$3" "$1"
}
"$MEMXCTL" --socket "$SOCK" dump >"$NX_TMP/dump-running"
nvms=(vm-a:1 vm-b:2 vm-c:1)
for dn in "${nvms[@]}"; do
	d=${dn%:*}
	n=${dn#*:}
	uuid=$("${VIRSH[@]}" domuuid "$d")
	got=$(U=$uuid lv_entries "$NX_TMP/dump-running" "$d" \
		'e && $1 == "uuid" { if ($2 == ENVIRON["U"]) ok++ } END { print ok + 0 }')
	budget=$(lv_entries "$NX_TMP/dump-running" "$d" \
		'e && $1 == "budget_pages" { s += $2 } END { print s + 0 }')
	lv_check "memxctl shows $d as $n VM(s), by domain name, with uuid $uuid ($got)" \
		"[[ $got == $n ]]"
	lv_check "memxctl: $d's budget is ${BUDGET_OF[$d]} MiB ($budget pages)" \
		"[[ ${budget:-0} -eq $((BUDGET_OF[$d] * 256)) ]]"
done
grep -E '^vm=' "$NX_TMP/dump-running" | sed 's/^/    memxd serves /' >&2

verify=ok
for d in "${RUN_DOMS[@]}"; do
	if ! gx_wait_for 600 "grep -q '^MEMX-GUEST-RESULT' '$NX_TMP/console/$d.log'"; then
		nx_log "FAIL: $d: no result in 600 s"
		verify=FAIL
		continue
	fi
	grep -E '^(fill|qsort|MEMX-GUEST)' "$NX_TMP/console/$d.log" | sed "s/^/    $d: /" >&2
	grep -q '^MEMX-GUEST-RESULT: PASS' "$NX_TMP/console/$d.log" || verify=FAIL
done
lv_check "all three guests' workloads verify (checksums)" "[[ $verify == ok ]]"
"$MEMXCTL" --socket "$SOCK" dump >"$NX_TMP/dump-after"
for d in "${RUN_DOMS[@]}"; do
	# Per memxd VM: the most it had resident, against its own budget.
	over=$(lv_entries "$NX_TMP/dump-after" "$d" '
		$1 == "vm" { cur = $2; if (e) names[cur] = 1 }
		e && $1 == "budget_pages" { b[cur] = $2 }
		e && $1 == "max_resident_pages" { m[cur] = $2 }
		e && $1 == "evict_dirty" { ev += $2 }
		e && $1 == "net_faults" { nf += $2 }
		END {
			for (k in names) { n++; if (m[k] > b[k] + 64) over++ }
			printf "%d %d %d %d\n", over, n, ev, nf
		}')
	read -r o n ev nf <<<"$over"
	lv_check "$d stayed within its budget ($n VM(s) in memxd, none above budget + 64 slack)" \
		"(( n > 0 && o == 0 ))"
	lv_check "$d's pages went to the memory servers ($ev written, $nf network faults)" \
		"(( ev > 0 && nf > 0 ))"
done

# virsh console: what is typed on vm-a's serial console reaches its
# /init, which answers there (script(1) gives virsh the terminal it
# wants; Ctrl-] leaves the console).
# A loaded machine may take longer to connect than the first wait: try
# again, waiting longer, before calling it a failure.
for wait_s in 2 5 10; do
	con_out=$( { sleep "$wait_s"; printf 'hello-memx\r'; sleep "$wait_s"; printf '\035'; } |
		timeout 60 script -qefc "${VIRSH[*]} console vm-a --force" /dev/null 2>&1) || true
	grep -aq 'MEMX-GUEST: console said: hello-memx' <<<"$con_out" && break
done
printf '%s\n' "$con_out" | tr -d '\r' | grep -a . | sed 's/^/    virsh console: /' >&2
lv_check "virsh console vm-a: a line typed there is answered by the guest" \
	"grep -aq 'MEMX-GUEST: console said: hello-memx' <<<\"\$con_out\""

# ---- libvirtd and memxd restarted under the running domains ----
kill -TERM "$(cat /run/libvirtd.pid)"
gx_wait_for 30 "[[ ! -e /run/libvirtd.pid ]] || ! kill -0 \$(cat /run/libvirtd.pid 2>/dev/null) 2>/dev/null" || true
libvirtd -d || nx_die "libvirtd did not start again"
gx_wait_for 30 "'${VIRSH[0]}' -c qemu:///system list >/dev/null 2>&1" ||
	nx_die "libvirtd, started again, does not answer"
running=$("${VIRSH[@]}" list --name --state-running | grep -c . || true)
lv_check "libvirtd restarted (hook: reconnect): all three domains still running" "[[ $running == 3 ]]"
lv_check "libvirtd restarted: all three reservations kept" "[[ \$(ls /run/memx-libvirt/*.conf | wc -l) == 3 ]]"

nreg=$("$MEMXCTL" --socket "$SOCK" dump | grep -c '^vm=')
memxd_pid=${NX_PIDS[memxd]}
disown "$memxd_pid" 2>/dev/null || true
kill -TERM "$memxd_pid"
gx_wait_for 30 "! kill -0 $memxd_pid 2>/dev/null" || nx_die "memxd did not exit on SIGTERM"
mv -f "$NX_TMP/memxd.log" "$NX_TMP/memxd.log.1"
rm -f "$SOCK"
nx_pager "$GX_CLIENT" memxd "$SOCK" \
	--servers "$(nx_ip srv1),$(nx_ip srv2)" --spill-dir "$NX_TMP" \
	--ctl-group memx --local-total "${LOCAL_TOTAL_MIB}M"
gx_wait_for 60 "[[ \$('$MEMXCTL' --socket '$SOCK' dump 2>/dev/null | grep -c '^vm=') == $nreg ]]" || true
lv_check "memxd restarted under the three domains: all $nreg of their VMs registered again" \
	"[[ \$('$MEMXCTL' --socket '$SOCK' dump | grep -c '^vm=') == $nreg ]]"
running=$("${VIRSH[@]}" list --name --state-running | grep -c . || true)
lv_check "memxd restarted: all three domains still running" "[[ $running == 3 ]]"

# ---- 3. refusals while all three run ----
lv_refused "a budget over the host's memx total" vm-big "does not fit the host's memx total"
lv_refused "a malformed budget in the XML" vm-bad "is not a size"
# Not through libvirt: memxd holds the total itself.
out=$(timeout 60 "$top_builddir/tests/harness/host_harness" --socket "$SOCK" \
	--name direct-vmm --size 256M --budget 4M 2>&1) && rc=0 || rc=$?
if ((rc != 0)) && [[ $out == *"does not fit the host's memx total"* ]]; then
	REFUSALS_OK=$((REFUSALS_OK + 1))
	nx_log "ok:   a VMM registering straight with memxd over the total: refused by memxd"
	printf '%s\n' "$out" | grep "does not fit" |
		sed 's/^.*refused the VM: /    memxd said: /' >&2
else
	nx_log "FAIL: a VMM registering straight with memxd over the total: exit $rc, without memxd's reason"
	printf '%s\n' "$out" | tail -n 5 | sed 's/^/    /' >&2
	LV_FAIL=1
fi

# ---- 4. shutdown, destroy, undefine ----
# virsh shutdown: the ACPI power button, which the guest's acpid turns
# into a power-off.
"${VIRSH[@]}" shutdown vm-a >/dev/null || nx_die "virsh shutdown vm-a failed"
gx_wait_for 120 "[[ \$('${VIRSH[0]}' -c qemu:///system domstate vm-a 2>/dev/null) == 'shut off' ]]" || true
lv_check "virsh shutdown vm-a: the guest powered itself off" \
	"[[ \$('${VIRSH[0]}' -c qemu:///system domstate vm-a) == 'shut off' ]] &&
	 grep -q 'MEMX-GUEST: power button: powering off' '$NX_TMP/console/vm-a.log'"
gx_wait_for 10 "lv_dump=\$('$MEMXCTL' --socket '$SOCK' dump) && ! grep -qx 'vm=vm-a' <<<\"\$lv_dump\"" || true
lv_check "after virsh shutdown, memxd no longer serves vm-a, and its reservation is gone" \
	"lv_dump=\$('$MEMXCTL' --socket '$SOCK' dump) &&
	 ! grep -qx 'vm=vm-a' <<<\"\$lv_dump\" &&
	 [[ ! -e /run/memx-libvirt/\$('${VIRSH[0]}' -c qemu:///system domuuid vm-a).conf ]]"
for d in vm-b vm-c; do
	"${VIRSH[@]}" destroy "$d" >/dev/null || nx_die "virsh destroy $d failed"
done
gx_wait_for 10 "[[ \$('$MEMXCTL' --socket '$SOCK' dump | grep -c '^vm=') == 0 ]]" || true
lv_check "after virsh destroy, memxd serves no VM" \
	"[[ \$('$MEMXCTL' --socket '$SOCK' dump | grep -c '^vm=') == 0 ]]"
lv_check "after virsh destroy, no memx reservation is left" \
	"[[ -z \$(ls /run/memx-libvirt/ 2>/dev/null) ]]"
for d in "${DOMS[@]}"; do
	"${VIRSH[@]}" undefine "$d" >/dev/null || LV_FAIL=1
done
DOMS=()
lv_check "memxd is still alive" "kill -0 ${NX_PIDS[memxd]}"

((LV_FAIL == 0)) || verify=FAIL
printf 'libvirt-e2e: domains=3 qemu_user=%s verify=%s start_to_init_s=%.1f refusals_ok=%d/4\n' \
	"${qemu_user:-?}" "$verify" "$start_to_init" "$REFUSALS_OK"
((LV_FAIL == 0 && REFUSALS_OK == 4)) || exit 1
