#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# docs.sh - the manual pages say what the programs do.
#
#   - every long option of `memxd --help' is in memxd(8) as --OPTION;
#   - every memxd setting is in memx.conf(5) as "KEY =" (the command-line
#     only ones, as --OPTION), and in memx.conf.example as "#KEY =";
#     which options are keys is asked of memxd itself, not assumed;
#   - every long option of `memxctl --help' is in memxctl(8), and every
#     command of it is a tagged paragraph of memxctl(8)'s COMMANDS;
#   - and back: no option or key documented that the programs lack;
#   - memx.conf.example, uncommented, is a valid configuration;
#   - the generated systemd units have no @placeholders@ left;
#   - every page formats without a warning (groff -ww, man --warnings).
#
# make check passes top_builddir and top_srcdir (absolute) in the
# environment.  Needs no root and no network.
set -u

: "${top_builddir:?top_builddir is not set: run this from make check}"
: "${top_srcdir:?top_srcdir is not set: run this from make check}"

man_dir=$top_srcdir/man
example=$top_srcdir/memxd/memx.conf.example
memxd=$top_builddir/memxd/memxd
memxctl=$top_builddir/memxd/memxctl
pages="rmap.7 memxd.8 memxctl.8 memx.conf.5 memxd-ctl.7 memx-libvirt.7"
fail=0

for prog in "$memxd" "$memxctl"; do
	if [ ! -x "$prog" ]; then
		echo "docs.sh: $prog is not built" >&2
		exit 99
	fi
done
for page in $pages; do
	if [ ! -r "$man_dir/$page" ]; then
		echo "docs.sh: $man_dir/$page is missing" >&2
		exit 99
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/memx-docs.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM

bad() {
	echo "FAIL: $*" >&2
	fail=1
}

# A page's roff source as the words a reader sees: \- is -, no font changes.
plain() {
	sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\f(..//g' \
	    -e 's/\\(aq/'"'"'/g' "$1"
}

# Does file $2 mention option --$1 (not as the prefix of a longer one)?
has_option() {
	grep -Eq -e "(^|[^a-z0-9-])--$1([^a-z0-9-]|\$)" "$2"
}

# Does file $2 set or document key $1 as "KEY =" (any spaces)?
has_key() {
	grep -Eq -e "(^|[^a-z0-9-])$1 *=" "$2"
}

for page in $pages; do
	plain "$man_dir/$page" > "$tmp/$page.txt"
done

# ---- memxd: options, keys and groups, from --help ----

if ! "$memxd" --help > "$tmp/memxd.help"; then
	bad "memxd --help failed"
fi
# "GROUP OPTION" for every option, in the order --help prints them.
awk '/^\[[a-z]+\]$/ { g = substr($0, 2, length($0) - 2); next }
     /^  --[a-z]/ { o = $1; sub(/^--/, "", o); sub(/=.*/, "", o);
		    print (g == "" ? "-" : g), o }' \
	"$tmp/memxd.help" > "$tmp/memxd.opts"
if [ "$(wc -l < "$tmp/memxd.opts")" -lt 10 ]; then
	bad "could not read memxd's options from its --help"
fi

# Is OPTION a key of GROUP?  Ask memxd: load a file that sets it, then
# stop at a bad command-line option, so nothing ever starts.
is_key() {
	printf '[%s]\n%s = 1\n' "$1" "$2" > "$tmp/probe.conf"
	"$memxd" --config="$tmp/probe.conf" --window=0 \
		> /dev/null 2> "$tmp/probe.err"
	! grep -q "has no key\|unknown group" "$tmp/probe.err"
}

while read -r group opt; do
	has_option "$opt" "$tmp/memxd.8.txt" ||
		bad "memxd(8) does not document --$opt"
	case $opt in help|version) continue ;; esac
	if [ "$group" != "-" ] && is_key "$group" "$opt"; then
		has_key "$opt" "$tmp/memx.conf.5.txt" ||
			bad "memx.conf(5) does not document key '$opt' ([$group])"
		grep -Eq "^#$opt *=" "$example" ||
			bad "memx.conf.example lacks '#$opt = ...' ([$group])"
	else
		has_option "$opt" "$tmp/memx.conf.5.txt" ||
			bad "memx.conf(5) does not say that --$opt is command-line only"
	fi
done < "$tmp/memxd.opts"

# ---- memxctl ----

if ! "$memxctl" --help > "$tmp/memxctl.help"; then
	bad "memxctl --help failed"
fi
grep -o -e '--[a-z][a-z0-9-]*' "$tmp/memxctl.help" | sort -u |
	sed 's/^--//' > "$tmp/memxctl.opts"
if [ "$(wc -l < "$tmp/memxctl.opts")" -lt 5 ]; then
	bad "could not read memxctl's options from its --help"
fi
while read -r opt; do
	has_option "$opt" "$tmp/memxctl.8.txt" ||
		bad "memxctl(8) does not document --$opt"
done < "$tmp/memxctl.opts"
# The commands: "  VERB ..." lines between "Commands:" and "Options:".
awk '/^Commands:/ { on = 1; next } /^Options:/ { on = 0 }
     on && /^  [a-z]/ { print $1 }' "$tmp/memxctl.help" > "$tmp/memxctl.cmds"
if [ "$(wc -l < "$tmp/memxctl.cmds")" -lt 3 ]; then
	bad "could not read memxctl's commands from its --help"
fi
# The first word of each .TP/.TQ tag in the COMMANDS section.
awk '/^\.SH / { on = ($2 == "COMMANDS") }
     on && tag { print; tag = 0 }
     on && /^\.(TP|TQ)/ { tag = 1 }' "$tmp/memxctl.8.txt" |
	sed -E 's/^\.[A-Z]+ +"?//; s/[ "].*//' | sort -u > "$tmp/memxctl.8.cmds"
while read -r cmd; do
	grep -qx "$cmd" "$tmp/memxctl.8.cmds" ||
		bad "memxctl(8) does not document the command '$cmd'"
done < "$tmp/memxctl.cmds"

# ---- and back: what the pages list must exist ----

# The options a page lists: those in the tags of its .TP/.TQ paragraphs.
listed_options() {
	awk 'tag { if ($0 ~ /^\./) print; tag = 0 }
	     /^\.(TP|TQ)/ { tag = 1 }' "$1" |
		grep -o -e '--[a-z][a-z0-9-]*' | sed 's/^--//' | sort -u
}
listed_options "$tmp/memxd.8.txt" > "$tmp/memxd.8.listed"
while read -r opt; do
	grep -q " $opt\$" "$tmp/memxd.opts" ||
		bad "memxd(8) documents --$opt, which memxd --help lacks"
done < "$tmp/memxd.8.listed"
listed_options "$tmp/memxctl.8.txt" > "$tmp/memxctl.8.listed"
while read -r opt; do
	grep -qx "$opt" "$tmp/memxctl.opts" ||
		bad "memxctl(8) documents --$opt, which memxctl --help lacks"
done < "$tmp/memxctl.8.listed"
# memx.conf(5) tags its keys as .BI "KEY = " TYPE under .SS [GROUP].
awk '/^\.SS \[[a-z]+\]/ { g = $2; sub(/^\[/, "", g); sub(/\].*/, "", g) }
     tag && /^\.BI "[a-z-]+ = "/ { k = $2; sub(/^"/, "", k); print g, k }
     { tag = /^\.TP/ }' "$tmp/memx.conf.5.txt" > "$tmp/conf.keys"
if [ ! -s "$tmp/conf.keys" ]; then
	bad "could not read the keys memx.conf(5) documents"
fi
while read -r group key; do
	is_key "$group" "$key" ||
		bad "memx.conf(5) documents [$group] $key, which memxd refuses"
done < "$tmp/conf.keys"

# ---- the example configuration is valid ----

sed -E 's/^#([a-z-]+ *=)/\1/' "$example" > "$tmp/example.conf"
"$memxd" --config="$tmp/example.conf" --window=0 > /dev/null 2> "$tmp/example.err"
if grep -q "example.conf" "$tmp/example.err" ||
   ! grep -q "command line: window=0" "$tmp/example.err"; then
	bad "memx.conf.example, uncommented, is not accepted by memxd:"
	cat "$tmp/example.err" >&2
fi

# ---- generated systemd units ----

# ---- every key memxctl status shows is documented in memxctl(8) ----
# The pager lists its keys once, in tables (memxd/pager/stats.h,
# memxd/pager/report.c, memxd/pager/remote.h, memxd/ctl/ctl.h): read them
# from there.

table_keys() {
	# The first word inside X( of every line of the table named $2.
	awk -v t="$2" '$0 ~ "#define " t "\\(X\\)" { on = 1; next }
		       on { if (match($0, /X\([a-z_]+/))
				print substr($0, RSTART + 2, RLENGTH - 2)
			    if (!/\\$/) on = 0 }' "$1"
}
{
	table_keys "$top_srcdir/memxd/pager/stats.h" VM_COUNTERS
	table_keys "$top_srcdir/memxd/pager/report.c" VM_GAUGES
	table_keys "$top_srcdir/memxd/pager/remote.h" REMOTE_SERVER_COUNTERS |
		sed 's/^/server_/'
	# The RMAP counters: in memxctl dump, and in memxctl stat's lines.
	table_keys "$top_srcdir/memxd/pager/report.c" RMAP_DUMP_COUNTERS |
		sed 's/^/rmap_/'
	table_keys "$top_srcdir/memxd/pager/report.c" SPIN_DUMP_COUNTERS |
		sed 's/^/spin_/'
	table_keys "$top_srcdir/rmap/wire.h" RMAP_STAT_COUNTERS |
		sed 's/^/rmap_/'
	table_keys "$top_srcdir/rmap/wire.h" RMAP_STAT_HOST
	table_keys "$top_srcdir/memxd/ctl/ctl.h" CTL_COUNTERS
	# Each stage of eviction is two keys.
	table_keys "$top_srcdir/memxd/pager/stats.h" EVICT_STAGES |
		sed 's/.*/evict_&_us\nevict_&_calls/'
} > "$tmp/status.keys"
if [ "$(wc -l < "$tmp/status.keys")" -lt 60 ]; then
	bad "could not read the pager's keys from its tables"
fi
while read -r key; do
	grep -qw -e "$key" "$tmp/memxctl.8.txt" ||
		bad "memxctl(8) does not document the status key '$key'"
done < "$tmp/status.keys"

for unit in memxd.service memxd-server.service; do
	f=$top_builddir/memxd/$unit
	if [ ! -r "$f" ]; then
		bad "$f was not generated"
	elif grep -q '@[a-z_]*@' "$f"; then
		bad "$f still has a @placeholder@"
	elif ! grep -q '^ExecStart=/.*/memxd' "$f"; then
		bad "$f: ExecStart is not an absolute path to memxd"
	fi
done
# What a server holds is other hosts' guest memory (memxd(8)).
grep -q '^OOMScoreAdjust=-[1-9]' "$top_builddir/memxd/memxd-server.service" ||
	bad "memxd-server.service does not keep the OOM killer off the server"

# ---- every page formats cleanly ----

checked=0
if command -v groff > /dev/null 2>&1; then
	for page in $pages; do
		# -t: tbl; -ww: every warning; -z: no output, just the checks.
		groff -t -man -Tutf8 -ww -z "$man_dir/$page" > "$tmp/groff.err" 2>&1
		if [ -s "$tmp/groff.err" ]; then
			bad "groff warns about $page:"
			cat "$tmp/groff.err" >&2
		fi
	done
	checked=1
fi
if command -v man > /dev/null 2>&1 && [ $checked = 1 ]; then
	for page in $pages; do
		MANWIDTH=80 MANPAGER=cat PAGER=cat \
			man --warnings -E UTF-8 -l "$man_dir/$page" \
			> /dev/null 2> "$tmp/man.err"
		if [ -s "$tmp/man.err" ]; then
			bad "man --warnings complains about $page:"
			cat "$tmp/man.err" >&2
		fi
	done
fi
if command -v lexgrog > /dev/null 2>&1; then
	for page in $pages; do
		lexgrog "$man_dir/$page" > /dev/null 2>&1 ||
			bad "lexgrog cannot parse the NAME section of $page"
	done
fi
if [ $checked = 0 ]; then
	echo "NOTE: groff is not installed: the pages' formatting was NOT" \
	     "checked, only their coverage of the options." \
	     "Install groff-base to check it." >&2
fi

if [ $fail = 0 ]; then
	if [ $checked = 1 ]; then
		echo "docs.sh: every option documented; $pages format cleanly"
	else
		echo "docs.sh: every option documented (formatting not checked)"
	fi
fi
exit $fail
