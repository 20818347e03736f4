#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# fuzz.sh - the bounded fuzz run of `make check'.
#
# 1. Replays the committed seed corpora (tests/fuzz/corpus/{wire,rx}, the
#    RMAP decoder and receive path, and tests/fuzz/corpus-ctl, the control
#    socket) through the gcc-built replay drivers: every seed must still
#    run clean (under ASan/UBSan too, in a --enable-sanitizers build).
# 2. If configure found libFuzzer (clang -fsanitize=fuzzer), runs each
#    libFuzzer harness for FUZZ_SECONDS (default 15) over a scratch copy of
#    the corpus.  Nothing is ever written into the source tree.  A crash
#    leaves its reproducer in the scratch directory, which is kept and named.
set -eu

: "${top_builddir:=.}"
: "${top_srcdir:=.}"
: "${FUZZ_SECONDS:=15}"
fuzzdir=$(cd "$top_builddir/tests/fuzz" && pwd)
targets="wire rx ctl"

# The seed corpus of a target.
corpus_of() {
	case $1 in
	ctl) echo "$top_srcdir/tests/fuzz/corpus-ctl" ;;
	*) echo "$top_srcdir/tests/fuzz/corpus/$1" ;;
	esac
}

for t in $targets; do
	corpus=$(corpus_of "$t")
	if ! ls "$corpus"/* >/dev/null 2>&1; then
		echo "fuzz.sh: FAIL: seed corpus $corpus is empty" >&2
		exit 1
	fi
	echo "fuzz.sh: replaying $corpus"
	"$fuzzdir/replay_$t" "$corpus"
done

if [ ! -x "$fuzzdir/lf_wire" ] || [ ! -x "$fuzzdir/lf_rx" ] ||
   [ ! -x "$fuzzdir/lf_ctl" ]; then
	echo "=================================================================="
	echo "SKIP-ish: libFuzzer unavailable, replayed corpus only"
	echo "=================================================================="
	exit 0
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/memx-fuzz.XXXXXX")
keep=no
cleanup() {
	if [ "$keep" = no ]; then
		rm -rf "$scratch"
	fi
}
trap cleanup EXIT

for t in $targets; do
	# A control socket input of 64 KiB is thousands of requests, each
	# get=1 a dump: shorter ones explore as much, a hundred times faster.
	max_len=65536
	[ "$t" = ctl ] && max_len=8192
	mkdir -p "$scratch/$t/corpus" "$scratch/$t/artifacts"
	cp "$(corpus_of "$t")"/* "$scratch/$t/corpus/"
	echo "fuzz.sh: libFuzzer $t for ${FUZZ_SECONDS}s"
	if ! (cd "$scratch/$t" && "$fuzzdir/lf_$t" \
		-max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 \
		-timeout=10 -max_len="$max_len" -seed=1 -print_final_stats=1 \
		-artifact_prefix="$scratch/$t/artifacts/" \
		"$scratch/$t/corpus" >"$scratch/$t/log" 2>&1); then
		keep=yes
		tail -n 60 "$scratch/$t/log"
		echo "fuzz.sh: FAIL: lf_$t found a problem; reproducers in" \
		     "$scratch/$t/artifacts" >&2
		exit 1
	fi
	grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done)' \
		"$scratch/$t/log" || true
done
echo "fuzz.sh: PASS"
