#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# gen_corpus_ctl.sh DIR - write the seed corpus of fuzz_ctl.c into DIR
# (committed as tests/fuzz/corpus-ctl/; rerun after a protocol change).
# Each file is one header byte (fuzz_ctl.c says what it means) and a
# connection's byte stream.
set -eu
dir=$1
mkdir -p "$dir"

# seed NAME HEADER-BYTE-IN-OCTAL TEXT: printf's escapes apply to TEXT.
seed() {
	{ printf "\\$2"; printf "$3"; } > "$dir/$1"
}

reg='register=1\nversion=1\nname=fz\nuuid=u\npid=1\nbudget=65536\n'
whole='region=0x7f0000000000,0,1048576,4096\n'

seed vmm-register-discard-get 005 "$reg$whole\ndiscard=0,4096\n\ndiscard=4096,8192\n\nget=1\n\ndiscard=18446744073709547520,8192\n\nget=prometheus\n\ndrain=10.0.0.1\n\n"
seed admin-register-get-drain 004 "$reg$whole\nget=1\n\nget=prometheus\n\ndrain=10.0.0.1\n\ndrain=\n\n"
seed none-get 003 'get=1\n\n'
seed none-register 007 "$reg$whole\n"
seed register-wraps 005 "${reg}region=0x7f0000000000,18446744073709547520,8192,4096\n\n"
seed register-hva-wraps 005 "${reg}region=0xfffffffffffff000,0,8192,4096\n\n"
seed register-overlap 005 "${reg}region=0x7f0000000000,0,524288,4096\nregion=0x7f0000100000,262144,524288,4096\n\n"
seed register-overlap-hva 005 "${reg}region=0x7f0000000000,0,524288,4096\nregion=0x7f0000040000,524288,524288,4096\n\n"
seed register-huge 005 "${reg}region=0x100000000000,0,8796093022208,4096\nregion=0x200000000000,8796093022208,8796093022208,4096\nregion=0x300000000000,17592186044416,8796093022208,4096\n\n"
seed register-two-regions 015 "${reg}region=0x7f0000400000,524288,524288,4096\nregion=0x7f0000000000,0,524288,4096\n\ndiscard=0,1048576\n\nget=1\n\n"
seed register-again-two-fds 005 "${reg}again=1\n$whole\n"
seed register-twice 005 "$reg$whole\n$reg$whole\n"
seed register-pid-mismatch 005 'register=1\nversion=1\nname=fz\npid=2\nbudget=65536\nregion=0x7f0000000000,0,1048576,4096\n\n'
seed register-no-fds 001 "$reg$whole\n"
seed register-bad-values 005 'register=1\nversion=1\nname=fz\npid=4294967297\nbudget=1M\nregion=1,2,3\n\nregister=1\nversion=2\n\nregister=1\nversion=1\nevil=1\n\n'
seed malformed 001 'get\n\n\n\nput=1\n\ndiscard=1\n\ndiscard=1,2,3\n\nget=1\000junk\n\n'
seed nul-inside 045 "$reg\000$whole\n"
seed budget-too-big 005 "${reg%budget=65536\\n}budget=2097152\n$whole\n"
seed migrate-handoff-report 005 "$reg$whole\ndiscard=0,4096\n\nmigrate=handoff\n\nmigrate=report\nqemu_status=completed\ntotal_ms=12\n\nmigrate=settle\n\nget=migrations\n\n"
seed migrate-bad 005 "migrate=handoff\n\nmigrate=report\nBad-Key=1\n\nmigrate=fly\n\nmigrate=handoff\nextra=1\n\n$reg$whole\nmigrate=settle\n\nmigrate=settle\n\nmigrate=handoff\n\nmigrate=handoff\n\n"
seed register-migrated-two-fds 005 "${reg}migrated=1\n$whole\n${reg}migrated=1\nagain=1\n$whole\n"
seed vmm-get-migrations 005 "get=migrations\n\n"
s=''
for i in $(seq 200); do s="${s}get=1\n\n"; done
seed pipelined-gets 071 "$s"
s=''
for i in $(seq 100); do s="${s}discard=$((i * 4096)),4096\n\n"; done
seed register-then-discards 035 "$reg$whole\n$s"
head -c 70000 /dev/zero | tr '\0' k > "$dir/too-large.tail"
{ printf '\002'; cat "$dir/too-large.tail"; } > "$dir/too-large"
rm -f "$dir/too-large.tail"
