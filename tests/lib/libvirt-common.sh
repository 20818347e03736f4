# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154 # LV_* are for the scripts; top_srcdir is theirs
#
# libvirt-common.sh - what the libvirt tests (libvirt.sh, libvirt-
# migrate.sh) share: a private mount namespace to run libvirt in, so that
# the host's own libvirt, if any, is not touched and nothing is left
# behind.  Source it first, then call lv_enter before anything else.
#
#   lv_enter SCRIPT [ARGS...]
#                   unless already inside: needs root, installs libvirt
#                   (libvirt-daemon-system, libvirt-clients, the QEMU
#                   driver, xmllint, dbus, uuidgen, openssl for the TLS
#                   migration's certificates) if it is missing, and
#                   re-executes SCRIPT in a private mount namespace
#                   (unshare -m); skips (77) loudly if any of that fails
#   lv_run_tmpfs    an empty /run of the namespace's own (libvirtd,
#                   virtlogd, dbus and ip netns keep their files there);
#                   before any network namespace is made
#   lv_kvm_node     /dev/kvm as a Debian host's udev makes it, 0660
#                   root:kvm, in this namespace only
#   lv_group_memx   an /etc/group (in this namespace) with a group memx
#                   (gid LV_MEMX_GID) holding libvirt-qemu; after nx_init
#                   (NX_TMP); fails if libvirt-qemu is not in it then
#   lv_emulator_cache
#                   LV_CACHE/bin: the patched QEMU and memx-qemu, at a
#                   path and with times that stay the same from run to
#                   run, and LV_CACHE/caps, libvirt's cache of its probe
#                   of them (minutes under TCG on a busy machine), kept
#                   across runs next to QEMU's build; LV_EMU_DIR is where
#                   the tests bind LV_CACHE/bin (/run/memx-test/bin)
#   lv_bind_emulator CACHE
#                   LV_EMU_DIR and libvirt's cache of its probes bound to
#                   CACHE/bin and CACHE/caps (LV_CACHE), in this namespace
#   lv_private DIR ROOT [empty]
#                   DIR becomes a private copy of itself (or, with
#                   "empty", an empty directory), kept in ROOT/DIR
#   lv_kill_wait PID
#                   SIGTERM, up to 5 s, then SIGKILL
#   lv_check WHAT CONDITION
#                   logs "ok:" or "FAIL:" WHAT as CONDITION (eval'd) holds;
#                   a failure sets LV_FAIL=1 and the test goes on

LV_MEMX_GID=61290
LV_EMU_DIR=/run/memx-test/bin

lv_skip() { printf '\n*** SKIP: libvirt: %s ***\n\n' "$*" >&2; exit 77; }

lv_enter()
{
	local script=$1 pkgs=(libvirt-daemon-system libvirt-clients
		libvirt-daemon-driver-qemu libxml2-utils dbus uuid-runtime openssl)

	shift
	[[ -z ${MEMX_LV_INNER:-} ]] || return 0
	[[ $(id -u) -eq 0 ]] || lv_skip "needs root (libvirtd, namespaces)"
	if ! command -v libvirtd >/dev/null || ! command -v virsh >/dev/null ||
		! command -v xmllint >/dev/null || ! command -v uuidgen >/dev/null ||
		! command -v openssl >/dev/null; then
		echo "libvirt: installing ${pkgs[*]}" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends "${pkgs[@]}" >&2 ||
			lv_skip "libvirt is not installed and apt-get install ${pkgs[*]} failed"
	fi
	id libvirt-qemu >/dev/null 2>&1 ||
		lv_skip "no libvirt-qemu user (libvirt-daemon-system creates it)"
	command -v unshare >/dev/null || lv_skip "no unshare (util-linux)"
	command -v nsenter >/dev/null || lv_skip "no nsenter (util-linux)"
	export MEMX_LV_INNER=1
	exec unshare -m --propagation private bash "$script" "$@"
}

lv_run_tmpfs()
{
	mount -t tmpfs -o mode=0755 memx-lv-run /run
	mkdir -p /run/lock /run/dbus /run/libvirt /run/netns /run/user
}

# Where /dev/kvm is root's alone, as on some test machines, libvirt's
# probe of QEMU finds KVM but libvirt-qemu may not use it, and libvirt
# probes again at every lookup of the emulator: minutes per virsh define.
# A node of our own is bound over it; the host's keeps its mode.
lv_kvm_node()
{
	[[ -c /dev/kvm ]] || return 0
	mknod -m 0660 /run/memx-test-kvm c "$((0x$(stat -c %t /dev/kvm)))" \
		"$((0x$(stat -c %T /dev/kvm)))"
	chgrp kvm /run/memx-test-kvm 2>/dev/null || true
	mount --bind /run/memx-test-kvm /dev/kvm
}

lv_group_memx()
{
	cp /etc/group "$NX_TMP/group"
	sed -i '/^memx:/d' "$NX_TMP/group"
	echo "memx:x:$LV_MEMX_GID:libvirt-qemu" >>"$NX_TMP/group"
	mount --bind "$NX_TMP/group" /etc/group
	[[ " $(id -nG libvirt-qemu) " == *' memx '* ]]
}

lv_emulator_cache()
{
	local key

	key=$(cat "$QEMU" "$top_srcdir/libvirt-hooks/memx-qemu" | sha256sum | cut -c1-16)
	LV_CACHE=${MEMX_CACHE:-$HOME/.cache/memx}/libvirt-$key
	if [[ ! -f $LV_CACHE/.done ]]; then
		rm -rf "$LV_CACHE"
		mkdir -p "$LV_CACHE/bin" "$LV_CACHE/caps"
		install -m 0755 "$QEMU" "$LV_CACHE/bin/qemu-system-x86_64"
		install -m 0755 "$top_srcdir/libvirt-hooks/memx-qemu" "$LV_CACHE/bin/memx-qemu"
		touch "$LV_CACHE/.done"
	fi
	chmod 0755 "$LV_CACHE/bin"
}

lv_bind_emulator()
{
	mkdir -p "$LV_EMU_DIR" /var/cache/libvirt/qemu/capabilities
	mount --bind "$1/bin" "$LV_EMU_DIR"
	mount --bind "$1/caps" /var/cache/libvirt/qemu/capabilities
}

lv_private()
{
	local d=$1 copy=$2$1

	mkdir -p "$copy" "$d"
	if [[ ${3:-copy} == copy ]]; then
		cp -a "$d/." "$copy/"
	fi
	chmod --reference="$d" "$copy"
	mount --bind "$copy" "$d"
}

lv_kill_wait()
{
	local pid=$1

	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

lv_check()
{
	if eval "$2"; then
		nx_log "ok:   $1"
	else
		nx_log "FAIL: $1"
		LV_FAIL=1
	fi
}
