#!/usr/bin/env bash
# Install, with apt-get, every Debian package that building and testing
# memx needs, and the packages named as arguments (what a benchmark needs
# besides: tests/bench/compare-bench.sh).  Idempotent: packages already
# present are not fetched again.
#
#   tests/install-deps.sh [PACKAGE...]
set -euo pipefail

packages=(
	build-essential autoconf automake pkg-config
	liburing-dev libglib2.0-dev check libsubunit-dev libsodium-dev libssl-dev libgnutls28-dev
	libxxhash-dev
	clang libclang-rt-14-dev
	iproute2 iputils-ping netcat-openbsd kmod
	groff-base man-db
	libvirt-daemon-system libvirt-clients libvirt-daemon-driver-qemu
	libxml2-utils dbus
	python3-prometheus-client
	"$@"
)
# AES-GCM in AVX-512 code (rmap/crypt.c); Debian ships it for amd64 only.
if [ "$(dpkg --print-architecture)" = amd64 ]; then
	packages+=(libipsec-mb-dev)
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: run as root (apt-get needs it)" >&2
	exit 1
fi
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
	echo "install-deps: all ${#packages[@]} packages present"
	exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
