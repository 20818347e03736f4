#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# tests/guest/build.sh - build the memx test guest from Debian packages.
#
#   tests/guest/build.sh            prints the output directory on stdout
#
# Output, cached in ${MEMX_CACHE:-~/.cache/memx}/guest-<hash>/ (the hash
# covers this script, init, the workloads and the kernel package's name):
#   vmlinuz        the kernel of Debian's linux-image-amd64 (extracted with
#                  dpkg-deb -x from the .deb; never installed on the host)
#   initramfs.gz   busybox-static, /init, the static workloads (fill,
#                  qsort, randrw, sweep, scan), the virtio-balloon and
#                  virtio-blk modules, and evdev and button (the ACPI
#                  power button, for virsh shutdown)
#
# Needs apt-get (busybox-static is installed if missing), gcc, gzip.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${MEMX_CACHE:-$HOME/.cache/memx}
tmp=

log()
{
	printf 'guest: %s\n' "$*" >&2
}

die()
{
	printf 'guest: ERROR: %s\n' "$*" >&2
	exit 1
}

cleanup()
{
	if [[ -n $tmp ]]; then
		rm -rf -- "$tmp"
	fi
}
trap cleanup EXIT

# The kernel package linux-image-amd64 points at, e.g. linux-image-6.1.0-56-amd64.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[[ -n $kpkg ]] || die "cannot resolve linux-image-amd64's kernel package (apt-get update?)"

hash=$( (cd "$here" && cat build.sh init workloads/*.c workloads/*.h; echo "$kpkg") |
	sha256sum | cut -c1-16)
out=$cache/guest-$hash
if [[ -s $out/vmlinuz && -s $out/initramfs.gz ]]; then
	log "cached: $out"
	echo "$out"
	exit 0
fi

command -v gcc >/dev/null || die "gcc is missing (apt-get install gcc)"
if ! dpkg -s busybox-static >/dev/null 2>&1; then
	log "installing busybox-static"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >&2 ||
		die "cannot install busybox-static"
fi
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/guest-build.XXXXXX")

log "downloading $kpkg (not installing it)"
(cd "$tmp" && apt-get download "$kpkg" >&2) || die "apt-get download $kpkg failed"
dpkg-deb -x "$tmp"/"$kpkg"_*.deb "$tmp/kernel"
vmlinuz=$(find "$tmp/kernel/boot" -name 'vmlinuz-*' | head -n1)
[[ -n $vmlinuz ]] || die "no /boot/vmlinuz-* in $kpkg"

log "building the static workloads"
root=$tmp/root
mkdir -p "$root/bin" "$root/lib/modules" "$root/dev" "$root/proc" "$root/sys"
for w in "$here"/workloads/*.c; do
	gcc -std=c11 -O2 -Wall -Wextra -static -o "$root/bin/$(basename "$w" .c)" "$w" ||
		die "cannot build $w"
done
cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
install -m 0755 "$here/init" "$root/init"
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev \
	virtio_pci virtio_balloon virtio_blk evdev button; do
	f=$(find "$tmp/kernel/lib/modules" -name "$m.ko" | head -n1)
	[[ -n $f ]] || die "$kpkg has no $m.ko"
	cp "$f" "$root/lib/modules/$m.ko"
done

log "packing the initramfs"
(cd "$root" && find . | busybox cpio -o -H newc -R 0:0 2>/dev/null) |
	gzip -9 >"$tmp/initramfs.gz"

mkdir -p "$out.tmp"
cp "$vmlinuz" "$out.tmp/vmlinuz"
cp "$tmp/initramfs.gz" "$out.tmp/initramfs.gz"
echo "$kpkg" >"$out.tmp/kernel-package"
rm -rf "$out"
mv "$out.tmp" "$out"
log "built $out ($(du -sh "$out" | cut -f1))"
echo "$out"
