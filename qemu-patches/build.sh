#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# qemu-patches/build.sh - build Debian 12's QEMU 7.2 with the memx series.
#
#   qemu-patches/build.sh [DESTDIR]
#
# Fetches Debian's QEMU source (apt-get source qemu, with Debian's own
# patches applied; adds a deb-src entry if there is none), applies the
# patches named in qemu-patches/series in order with patch -p1, copies
# memx's control socket client (memxd/ctl/ctl_client.{c,h} and
# ctl_proto.h) into backends/memx/, where the backend's meson.build
# compiles it, configures x86_64-softmmu only with default features off
# but KVM and GnuTLS (TLS migration: virsh migrate --tls),
# and builds qemu-system-x86_64.  About 4 minutes on 2 cores, once: the
# result is cached in ${MEMX_CACHE:-~/.cache/memx}/qemu-<sha256 of series,
# patches, those client files and this script>/ (the binary, the patched
# source and the logs), so a rerun with the same inputs takes a second.
#
# The binary is then copied to DESTDIR (or $MEMX_QEMU_DIR; default:
# ./qemu, i.e. the build tree's qemu/ directory when run by make), and
# its path is printed on stdout.  The system's QEMU is never touched.
#
# Also installs the firmware a locally built QEMU needs (seabios,
# qemu-system-data, ipxe-qemu), and builds QEMU to look for it where
# Debian puts it (--firmwarepath): no -L needed.  (Older builds needed
#   -L /usr/share/seabios -L /usr/share/qemu -L /usr/lib/ipxe/qemu;
# passing it still works.)
#
# Environment: MEMX_CACHE, MEMX_QEMU_DIR, MEMX_JOBS (ninja -j, default 2).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${MEMX_CACHE:-$HOME/.cache/memx}
dest=${1:-${MEMX_QEMU_DIR:-$PWD/qemu}}
jobs=${MEMX_JOBS:-2}
sys_path=/usr/sbin:/usr/bin:/sbin:/bin
build_deps=(meson ninja-build libglib2.0-dev libpixman-1-dev libfdt-dev
	libgnutls28-dev dpkg-dev pkg-config gcc make python3)
firmware=(seabios qemu-system-data ipxe-qemu)
# Where those packages put it, compiled in: the binary finds its BIOS and
# option ROMs without -L, as libvirt runs it as an <emulator>.
firmware_path=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu
# memx's control socket client, compiled into the backend: the same code
# memxctl and the test harnesses use.  Part of the cache key.
ctl_dir=$here/../memxd/ctl
ctl_files=(ctl_client.c ctl_client.h ctl_proto.h)
t_start=$SECONDS

phase()
{
	printf 'qemu-build: [%3ds] %s\n' $((SECONDS - t_start)) "$*" >&2
}

die()
{
	printf 'qemu-build: ERROR: %s\n' "$*" >&2
	exit 1
}

apt_install()
{
	local missing=() p

	for p in "$@"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	[[ $(id -u) -eq 0 ]] || die "packages missing (${missing[*]}) and not root to install them"
	phase "apt-get install ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2 ||
		die "apt-get install ${missing[*]} failed"
}

# Add a deb-src twin of debian.sources (same URIs, suites, components and
# keyring), once.
ensure_deb_src()
{
	local f=/etc/apt/sources.list.d/memx-deb-src.sources

	if grep -rqs -e '^Types:.*deb-src' -e '^deb-src ' /etc/apt/sources.list \
		/etc/apt/sources.list.d/; then
		return 0
	fi
	[[ $(id -u) -eq 0 ]] || die "no deb-src entry and not root to add one"
	[[ -f /etc/apt/sources.list.d/debian.sources ]] ||
		die "no /etc/apt/sources.list.d/debian.sources to derive a deb-src entry from"
	phase "adding $f"
	sed -e 's/^Types: deb$/Types: deb-src/' \
		/etc/apt/sources.list.d/debian.sources >"$f"
	phase "apt-get update"
	apt-get update -qq >&2 || die "apt-get update failed"
}

# The series' patch files, in order.
patches()
{
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/series"
}

install_binary()
{
	local bin=$1

	mkdir -p "$dest"
	cp "$bin" "$dest/qemu-system-x86_64.tmp"
	mv -f "$dest/qemu-system-x86_64.tmp" "$dest/qemu-system-x86_64"
	phase "installed $dest/qemu-system-x86_64"
	echo "$dest/qemu-system-x86_64"
}

[[ -f $here/series ]] || die "no $here/series"
for f in "${ctl_files[@]}"; do
	[[ -f $ctl_dir/$f ]] || die "no $ctl_dir/$f (memx's control socket client)"
done
key=$( (cat "$here/series" "$here/build.sh"
	while read -r p; do
		[[ -f $here/$p ]] || die "series names $p, which does not exist"
		cat "$here/$p"
	done < <(patches)
	for f in "${ctl_files[@]}"; do
		printf '%s\n' "$f"
		cat "$ctl_dir/$f"
	done) | sha256sum | cut -c1-16)
work=$cache/qemu-$key
bin=$work/bin/qemu-system-x86_64

apt_install "${firmware[@]}"
if [[ -x $bin && -f $work/.done ]]; then
	phase "cached: $work"
	install_binary "$bin"
	exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/qemu-build.lock"
if ! flock -n 9; then
	phase "another build of QEMU is running; waiting for it"
	flock 9
fi
if [[ -x $bin && -f $work/.done ]]; then	# built while we waited
	install_binary "$bin"
	exit 0
fi

ensure_deb_src
apt_install "${build_deps[@]}"

phase "fetching the source: apt-get source qemu (into $work)"
rm -rf "$work"
mkdir -p "$work/fetch"
(cd "$work/fetch" && apt-get source -qq qemu >"$work/fetch.log" 2>&1) ||
	{ tail -20 "$work/fetch.log" >&2; die "apt-get source qemu failed (log: $work/fetch.log)"; }
src=$(find "$work/fetch" -mindepth 1 -maxdepth 1 -type d -name 'qemu-*' | head -n1)
[[ -n $src && -f $src/VERSION ]] || die "apt-get source qemu gave no source tree"
ver=$(cat "$src/VERSION")
[[ $ver == 7.2* ]] || die "the series is for QEMU 7.2, but apt-get source gave $ver"
mv "$src" "$work/src"
rm -rf "$work/fetch"
src=$work/src
phase "QEMU $ver, Debian's $(grep -c '^[^#]' "$src/debian/patches/series" || true) patches applied"
n=0
while read -r p; do
	n=$((n + 1))
	phase "applying $n: $p"
	if ! patch -d "$src" -p1 --forward --batch --quiet <"$here/$p" >"$work/patch.log" 2>&1; then
		cat "$work/patch.log" >&2
		die "patch $p does not apply to Debian's QEMU $ver"
	fi
done < <(patches)
phase "copying memx's control socket client into backends/memx/"
mkdir -p "$src/backends/memx"
for f in "${ctl_files[@]}"; do
	cp "$ctl_dir/$f" "$src/backends/memx/$f"
done

phase "configure (x86_64-softmmu, default features off)"
mkdir -p "$work/build"
(cd "$work/build" && PATH=$sys_path ../src/configure \
	--target-list=x86_64-softmmu --without-default-features --enable-kvm \
	--enable-gnutls --disable-docs --disable-werror --firmwarepath="$firmware_path" >"$work/configure.log" 2>&1) ||
	{ tail -30 "$work/configure.log" >&2; die "configure failed (log: $work/configure.log)"; }

phase "ninja -j$jobs qemu-system-x86_64 (about 3-4 minutes on 2 cores)"
# ninja prints [done/total] per step; show one line in 40 and every error.
set +e
PATH=$sys_path ninja -C "$work/build" -j"$jobs" qemu-system-x86_64 2>&1 |
	tee "$work/ninja.log" |
	awk -v t0="$t_start" '
		/^\[[0-9]+\/[0-9]+\]/ {
			gsub(/[][]/, "", $1)
			split($1, a, "/")
			if (a[1] % 40 == 0 || a[1] == a[2])
				printf "qemu-build:        ninja %s/%s\n", a[1], a[2] > "/dev/stderr"
			next
		}
		/error|Error|FAILED/ { print > "/dev/stderr" }'
rc=${PIPESTATUS[0]}
set -e
((rc == 0)) || die "ninja failed (log: $work/ninja.log)"

mkdir -p "$work/bin"
cp "$work/build/qemu-system-x86_64" "$bin"
"$bin" -object help 2>/dev/null | grep -q memory-backend-memx ||
	die "the built QEMU has no memory-backend-memx"
touch "$work/.done"
# Keep the patched source and the logs, not the ~450 MB of objects.
rm -rf "$work/build"
phase "built $bin"
install_binary "$bin"
