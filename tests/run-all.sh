#!/usr/bin/env bash
# The README's test command: install what is needed, build memx twice
# (warnings as errors; then ASan + UBSan), and run `make check` in both.
# Build trees go under build/ in the source tree; logs of failing tests
# are printed.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOBS:-2}

step() { printf '\n==> %s\n' "$*"; }

step "installing packages"
bash "$src/tests/install-deps.sh"

step "bootstrapping (autoreconf)"
(cd "$src" && ./autogen.sh >/dev/null)

run_tree() {
	local name=$1; shift
	local dir="$src/build/$name"

	step "$name: configure $*"
	mkdir -p "$dir"
	(cd "$dir" && "$src/configure" -q "$@")
	step "$name: make"
	make -C "$dir" -j"$jobs" >/dev/null
	step "$name: make check"
	if ! make -C "$dir" -j1 check; then
		for log in "$dir"/tests/*.log "$dir"/tests/*/*.log; do
			[ -f "$log" ] || continue
			grep -qE '^:test-result: (FAIL|ERROR)' "${log%.log}.trs" 2>/dev/null || continue
			printf '\n---- %s ----\n' "$log"
			tail -n 80 "$log"
		done
		return 1
	fi
}

run_tree werror --enable-werror
run_tree sanitizers --enable-werror --enable-sanitizers
step "all tests passed in both builds"
