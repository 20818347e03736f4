#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# ctl-access.sh - who may use memxd's control socket, with real uids, and
# what a hostile VMM's descriptors get.
#
# A pager (spill only: no memory server, no network namespace) with
# --ctl-group and --ctl-admin-group, numeric groups that need no
# /etc/group entry; the test's users are numeric uids too (setpriv), so
# nothing is added to the system's user database.  Then:
#   - the socket and its directory have the group and modes memxd(8) says;
#   - a VMM running as a non-root uid of the VMM group registers
#     (tests/harness/host_harness) and its workload verifies, paused at
#     the end while another VM, root's, is registered too;
#   - meanwhile, as that uid, memxctl status shows its VM only, drain and
#     prometheus are refused with errno 13; as a uid of the admin group,
#     both VMs, and a drain gets past the access check;
#   - a uid in neither group cannot open the socket (file modes), and,
#     with the socket opened up to everyone, is refused by memxd itself,
#     with the reason, registration or query;
#   - hostile descriptors (tests/harness/ctl_hostile), as the VMM uid: an
#     eventfd for the userfaultfd, one with EVENT_FORK (as root: only
#     CAP_SYS_PTRACE gets that feature), a regular file, a
#     hugetlb memfd, a memfd sealed against writes, one smaller than its
#     region, a region that wraps: each refused with its reason; a memfd
#     truncated after registration: memxd goes on;
#   - memxd is alive at the end, and ctl_refused counted the refusals.
#
# /dev/userfaultfd is given to the VMM group for the test (a udev rule
# does that on a real host: memxd(8), ACCESS) and restored at exit.
#
# Needs root; skips (77) loudly without it, /dev/userfaultfd or setpriv.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
MEMXD=$top_builddir/memxd/memxd
MEMXCTL=$top_builddir/memxd/memxctl
HARNESS=$top_builddir/tests/harness/host_harness
HOSTILE=$top_builddir/tests/harness/ctl_hostile

VMM_GID=61100		# --ctl-group
ADMIN_GID=61101		# --ctl-admin-group
VMM_UID=61001		# a VMM: in the VMM group
ADMIN_UID=61003		# an operator: in both groups
OTHER_UID=61002		# nobody's friend

log() { printf '%s ctl-access: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
skip() { printf '\n*** SKIP: ctl-access: %s ***\n\n' "$*" >&2; exit 77; }
die() {
	printf '\n*** FAIL: ctl-access: %s ***\n\n' "$*" >&2
	if [[ -n ${T:-} && -f $T/memxd.log ]]; then
		echo "---- memxd log, last 40 lines ----" >&2
		tail -n 40 "$T/memxd.log" >&2
	fi
	exit 1
}

[[ $(id -u) -eq 0 ]] || skip "needs root (other uids, /dev/userfaultfd)"
[[ -c /dev/userfaultfd ]] || skip "no /dev/userfaultfd"
command -v setpriv >/dev/null || skip "setpriv (util-linux) is missing"
for b in "$MEMXD" "$MEMXCTL" "$HARNESS" "$HOSTILE"; do
	[[ -x $b ]] || die "$b is not built"
done

T=$(mktemp -d "${TMPDIR:-/tmp}/memx-ctl-access.XXXXXX")
chmod 0755 "$T"
mkdir -m 0777 "$T/pause"
mkdir -m 0700 "$T/spill"
SOCK=$T/run/memxd.sock
MEMXD_PID=
declare -a HARNESS_PIDS=()
UFFD_MODE=$(stat -c '%a' /dev/userfaultfd)
UFFD_OWNER=$(stat -c '%u:%g' /dev/userfaultfd)

cleanup() {
	local p

	for p in "${HARNESS_PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	rm -f "$T"/pause/* 2>/dev/null || true
	if [[ -n $MEMXD_PID ]]; then
		kill "$MEMXD_PID" 2>/dev/null || true
		wait "$MEMXD_PID" 2>/dev/null || true
	fi
	chown "$UFFD_OWNER" /dev/userfaultfd
	chmod "$UFFD_MODE" /dev/userfaultfd
	if [[ ${KEEP:-0} = 1 ]]; then
		log "logs kept in $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT

# as UID GIDS CMD...: CMD as UID (primary group UID), groups GIDS (or -).
# setpriv's options for UID with GROUPS (comma-separated; -: none).
as_opts() {
	if [[ $2 = - ]]; then
		echo "--reuid=$1 --regid=$1 --clear-groups"
	else
		echo "--reuid=$1 --regid=$1 --groups=$2"
	fi
}

# as UID GROUPS CMD...: CMD as UID.  setpriv finds CMD while it still
# has root's capabilities, so a build directory other uids cannot enter
# (a clone in a mktemp -d) is no obstacle; what CMD runs itself is.
as() {
	local opts

	opts=$(as_opts "$1" "$2")
	shift 2
	# shellcheck disable=SC2086 # the options are words
	setpriv $opts "$@"
}

ctl() { "$MEMXCTL" --socket="$SOCK" "$@"; }

log "giving /dev/userfaultfd to group $VMM_GID for the test (was $UFFD_OWNER, mode $UFFD_MODE; restored at exit)"
chgrp "$VMM_GID" /dev/userfaultfd
chmod 0660 /dev/userfaultfd

# memxd needs a key even with no memory servers (RMAP is authenticated
# unless told otherwise): one made for this run, itself its only peer.
mkdir -m 0700 "$T/keys"
"$MEMXD" --genkey="$T/keys/memxd.key" >"$T/keys/memxd.pub" ||
	die "memxd --genkey failed"
printf '%s 127.0.0.1\n' "$(cat "$T/keys/memxd.pub")" >"$T/keys/peers"

"$MEMXD" --socket="$SOCK" --spill-dir="$T/spill" --ctl-group="$VMM_GID" \
	--ctl-admin-group="$ADMIN_GID" --log-level=info \
	--private-key="$T/keys/memxd.key" --peers="$T/keys/peers" \
	>"$T/memxd.log" 2>&1 &
MEMXD_PID=$!
for _ in $(seq 100); do
	[[ -S $SOCK ]] && break
	kill -0 "$MEMXD_PID" 2>/dev/null || die "memxd did not start"
	sleep 0.1
done
[[ -S $SOCK ]] || die "memxd made no socket"

# ---- the socket's modes ----
[[ $(stat -c '%a %g' "$SOCK") = "660 $VMM_GID" ]] ||
	die "the socket is $(stat -c '%a %g' "$SOCK"), not 660 $VMM_GID"
[[ $(stat -c '%a %g' "$T/run") = "750 $VMM_GID" ]] ||
	die "its directory is $(stat -c '%a %g' "$T/run"), not 750 $VMM_GID"
log "socket 0660 and directory 0750, group $VMM_GID"

# ---- a VMM as a non-root uid of the group, and root's VM beside it ----
# pause_at NAME: wait until the harness NAME paused at its end.
pause_at() {
	local i

	for i in $(seq 1200); do
		grep -qx end "$T/pause/$1.ready" 2>/dev/null && return 0
		sleep 0.1
	done
	die "the harness $1 did not reach its end"
}
as "$VMM_UID" "$VMM_GID" "$HARNESS" --socket "$SOCK" --name vmm-vm \
	--size 16M --budget 4M --threads 2 --rounds 1 \
	--pause-after end --pause-file "$T/pause/vmm-vm" \
	>"$T/vmm-vm.out" 2>&1 &
HARNESS_PIDS+=($!)
"$HARNESS" --socket "$SOCK" --name root-vm --size 8M --budget 2M \
	--threads 1 --rounds 1 --pause-after end \
	--pause-file "$T/pause/root-vm" >"$T/root-vm.out" 2>&1 &
HARNESS_PIDS+=($!)
pause_at vmm-vm
pause_at root-vm
log "uid $VMM_UID (group $VMM_GID) registered vmm-vm; root registered root-vm"

# What the VMM's uid sees and may do.
as "$VMM_UID" "$VMM_GID" "$MEMXCTL" --socket="$SOCK" status >"$T/vmm.status" ||
	die "memxctl status as uid $VMM_UID failed"
grep -q '^vm=vmm-vm$' "$T/vmm.status" || die "uid $VMM_UID does not see its VM"
grep -q 'root-vm' "$T/vmm.status" && die "uid $VMM_UID sees root's VM"
grep -q '^server=\|^rmap_' "$T/vmm.status" && die "uid $VMM_UID sees the servers"
grep -q '^ctl_role=vmm (not an admin' "$T/vmm.status" ||
	die "memxctl status does not say that uid $VMM_UID is no admin"
if as "$VMM_UID" "$VMM_GID" "$MEMXCTL" --socket="$SOCK" drain 127.0.0.1 \
	>"$T/vmm.drain" 2>&1; then
	die "uid $VMM_UID drained a server"
fi
grep -q '^error=drain needs an admin: root or a member of group '"$ADMIN_GID"', which uid '"$VMM_UID"' is not$' \
	"$T/vmm.drain" || die "the drain refusal says: $(cat "$T/vmm.drain")"
grep -q 'errno=13' "$T/vmm.drain" || die "the drain refusal is not EACCES"
if as "$VMM_UID" "$VMM_GID" "$MEMXCTL" --socket="$SOCK" prometheus \
	>"$T/vmm.prom" 2>&1; then
	die "uid $VMM_UID read every VM's metrics"
fi
grep -q 'errno=13' "$T/vmm.prom" || die "prometheus as a VMM: $(cat "$T/vmm.prom")"
log "uid $VMM_UID: sees vmm-vm only; drain and prometheus refused (EACCES)"

# An operator of the admin group (in the VMM group too, for the file).
as "$ADMIN_UID" "$VMM_GID,$ADMIN_GID" "$MEMXCTL" --socket="$SOCK" dump \
	>"$T/admin.dump" || die "memxctl dump as the admin group failed"
grep -q '^ctl_role=admin$' "$T/admin.dump" &&
	grep -q '^vm=vmm-vm$' "$T/admin.dump" &&
	grep -q '^vm=root-vm$' "$T/admin.dump" ||
	die "the admin group does not see both VMs"
if as "$ADMIN_UID" "$VMM_GID,$ADMIN_GID" "$MEMXCTL" --socket="$SOCK" drain \
	127.0.0.1 >"$T/admin.drain" 2>&1; then
	die "a drain of a server memxd does not have succeeded"
fi
grep -q "errno=2" "$T/admin.drain" ||
	die "the admin's drain did not reach the pager: $(cat "$T/admin.drain")"
log "uid $ADMIN_UID (admin group): both VMs; its drain reaches the pager"

# ---- a uid in neither group ----
if as "$OTHER_UID" - "$MEMXCTL" --socket="$SOCK" status >"$T/other.status" 2>&1; then
	die "uid $OTHER_UID, in no group, read the state"
fi
grep -q "Permission denied (only root and the members of memxd's ctl-group may)" \
	"$T/other.status" || die "uid $OTHER_UID was told: $(cat "$T/other.status")"
log "uid $OTHER_UID cannot open the socket: $(cat "$T/other.status")"
# memxd's own check, behind the file modes: open everything up.
chmod 0755 "$T/run"
chmod 0666 "$SOCK" /dev/userfaultfd
if as "$OTHER_UID" - "$MEMXCTL" --socket="$SOCK" status >"$T/other.status" 2>&1; then
	die "uid $OTHER_UID, in no group, got past memxd"
fi
grep -q "^error=uid $OTHER_UID (gid $OTHER_UID, pid [0-9]*) may not use memxd's control socket: it is not root, nor in group $VMM_GID (ctl-group) or its ctl-admin-group$" \
	"$T/other.status" || die "memxd told uid $OTHER_UID: $(cat "$T/other.status")"
if as "$OTHER_UID" - "$HARNESS" --socket "$SOCK" --name other-vm --size 4M \
	--budget 1M >"$T/other-vm.out" 2>&1; then
	die "uid $OTHER_UID registered a VM"
fi
grep -q "refused the VM: uid $OTHER_UID .* may not use memxd's control socket.*(errno=13)" \
	"$T/other-vm.out" || die "uid $OTHER_UID's registration: $(tail -3 "$T/other-vm.out")"
chmod 0750 "$T/run"
chmod 0660 "$SOCK" /dev/userfaultfd
log "uid $OTHER_UID, with the socket opened to all: refused by memxd, saying why"

# ---- hostile descriptors, as the VMM's uid ----
untested=
for c in not-uffd fork-uffd regular-file hugetlb sealed small wraps truncate; do
	rc=0
	if [[ $c = fork-uffd ]]; then
		# The kernel gives EVENT_FORK only to CAP_SYS_PTRACE: a
		# root VMM's mistake, then, not a hostile uid's.
		timeout 60 "$HOSTILE" "$SOCK" "$c" >"$T/hostile-$c.out" 2>&1 ||
			rc=$?
	else
		# timeout outside: run by the VMM's uid, it could not
		# reach $HOSTILE in a build directory private to root.
		# shellcheck disable=SC2046 # the options are words
		timeout 60 setpriv $(as_opts "$VMM_UID" "$VMM_GID") \
			"$HOSTILE" "$SOCK" "$c" >"$T/hostile-$c.out" 2>&1 ||
			rc=$?
	fi
	if ((rc == 77)); then
		printf '\n*** NOTE: ctl-access: the %s case was NOT tested: %s ***\n\n' \
			"$c" "$(cat "$T/hostile-$c.out")" >&2
		untested="$untested $c"
		continue
	fi
	((rc == 0)) || die "hostile case $c: $(cat "$T/hostile-$c.out")"
	log "hostile $c: $(tail -n1 "$T/hostile-$c.out")"
	kill -0 "$MEMXD_PID" 2>/dev/null || die "memxd died in hostile case $c"
done

# ---- the paused VMs finish: every byte verified ----
rm -f "$T/pause/vmm-vm" "$T/pause/root-vm"
for p in "${HARNESS_PIDS[@]}"; do
	wait "$p" || die "a harness failed: $(tail -n 5 "$T"/*-vm.out)"
done
HARNESS_PIDS=()
log "vmm-vm (uid $VMM_UID) and root-vm: every byte verified"

ctl dump >"$T/final.dump" || die "memxd does not answer at the end"
refused=$(sed -n 's/^ctl_refused=//p' "$T/final.dump")
# drain, prometheus, the outsider's status and registration
((refused >= 4)) || die "ctl_refused=$refused, expected at least 4"
grep -q "control socket: refused drain from uid $VMM_UID" "$T/memxd.log" ||
	die "memxd did not log the refused drain"
kill -0 "$MEMXD_PID" || die "memxd is gone"
# It stops cleanly, and a sanitizer build found nothing.
kill "$MEMXD_PID"
rc=0
wait "$MEMXD_PID" || rc=$?
MEMXD_PID=
((rc == 0)) || die "memxd exited with status $rc on SIGTERM"
if grep -q 'Sanitizer\|runtime error' "$T/memxd.log"; then
	die "the sanitizers complained: $(grep -m3 'Sanitizer\|runtime error' "$T/memxd.log")"
fi
log "memxd stayed up and stopped cleanly; ctl_refused=$refused"
if [[ -n $untested ]]; then
	printf '\n*** NOTE: ctl-access: NOT tested here:%s (see above) ***\n\n' \
		"$untested" >&2
fi
echo "ctl-access: PASS"
