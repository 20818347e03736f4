#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# libvirt-migrate.sh - `virsh migrate --live` of a memx domain between
# two libvirt hosts, as a user runs it.
#
# A host here is a network namespace (on the memory servers' network)
# plus a mount and UTS namespace of its own: its own hostname, /run,
# /etc/libvirt, /var/lib/libvirt, /var/log/libvirt, /var/cache/libvirt
# and /etc/memx, its own libvirtd (listening on TCP, as libvirt's peers
# do for peer-to-peer migration), virtlogd and memxd.  Both hosts have
# the memx hook and memx-qemu installed (memx-libvirt(7)), and run QEMU
# as libvirt-qemu.  Two memory servers lend both hosts' memxds their RAM.
#
#   1. virsh define + virsh start in host A (namespace client; B is
#      client2): the guest sorts more than its budget, so pages go to
#      the memory servers;
#   2. virsh migrate is refused by B's memx hook, with the reason in
#      virsh's error, while B's memxd is down, then while its host-wide
#      memx total (--local-total) is smaller than the domain's budget;
#      the domain runs on in A (A's memxd still holds it, the sort goes
#      on);
#   3. B's memxd up: `virsh migrate --live --p2p --persistent
#      --undefinesource --verbose` in A, in the middle of the sort; then,
#      as soon as the sort has gone on in B, back from B to A the same
#      way, --tunnelled (the stream goes through the libvirtds' own
#      connection); then to B again, --tls (QEMU's TLS, with this run's
#      certificates, made by openssl).  After each:
#      - the domain runs at the destination, defined there only;
#      - the source's memxd recorded the migration (memxctl migrations,
#        its report file): remote pages left in place (> 0), QEMU's
#        account (qemu_status=completed); the destination's records the
#        arrival and runs the VM;
#      - the memory servers moved the VM's sessions to the destination's
#        key, which opened no session of its own: no page was copied;
#      - the source's memxd holds no VM and its hook dropped the
#        reservation; the destination's memxd holds the VM, under a
#        reservation of its hook;
#      and in the end the sort, whose progress went A, B, A, B, verifies
#      (checksums).
#   4. virsh destroy in B: B's memxd forgets it, its reservation goes.
#
# Last line: libvirt-migrate: verify=ok|FAIL migrate_s=S1,S2,S3
#   remote_pages=N1,N2,N3 refused_ok=N/2
# (migrate_s: how long virsh migrate took; remote_pages: the pages the
# source's report says stayed on the memory servers.)
#
# Needs root; installs libvirt (libvirt-daemon-system) if it is missing,
# and skips (77) loudly only if that fails, or without namespaces or
# /dev/userfaultfd.  About a minute (the guests sort 384 MiB under TCG).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir

# shellcheck source=tests/lib/libvirt-common.sh
. "$top_srcdir/tests/lib/libvirt-common.sh"
lv_enter "$0" "$@"

NX_PREFIX=mxm-$$-
NX_SUBNET=${NX_SUBNET:-51}
MG_BACKEND=memx
# shellcheck source=tests/lib/guest-common.sh
. "$top_srcdir/tests/lib/guest-common.sh"
# shellcheck source=tests/lib/migrate-common.sh
. "$top_srcdir/tests/lib/migrate-common.sh"

MEM_MIB=768
BUDGET_MIB=128
QSORT_MIB=${LM_QSORT_MIB:-384}	# twice the budget: pages are remote
DOM=vm-mig
A=$MG_SRC			# host A: the source
B=$MG_DST			# host B: the destination
declare -A LM_HOLDER=()
LV_FAIL=0
refused_ok=0

# lm_in HOST CMD...: CMD in HOST: its network, mount and UTS namespaces.
lm_in()
{
	local h=$1

	shift
	nsenter -t "${LM_HOLDER[$h]}" -m -u -n -- "$@"
}

lm_virsh()
{
	local h=$1

	shift
	lm_in "$h" virsh -c qemu:///system "$@"
}

# lm_cleanup: in each host, its domains destroyed, then libvirtd and
# virtlogd stopped by their pid files, then the namespace holder; then
# what migrate-common.sh and guest-common.sh stop.
lm_cleanup()
{
	local rc=$? h d f pid

	set +e
	for h in "${!LM_HOLDER[@]}"; do
		kill -0 "${LM_HOLDER[$h]}" 2>/dev/null || continue
		for d in $(lm_virsh "$h" list --all --name 2>/dev/null); do
			timeout 30 lm_virsh "$h" destroy "$d" >/dev/null 2>&1
			timeout 30 lm_virsh "$h" undefine "$d" >/dev/null 2>&1
		done
		if ((rc != 0 && rc != 77)); then
			mkdir -p "$NX_TMP/$h/libvirt-logs"
			cp -a "/proc/${LM_HOLDER[$h]}/root/var/log/libvirt/." \
				"$NX_TMP/$h/libvirt-logs/" 2>/dev/null
		fi
		for f in /run/libvirt/qemu/*.pid /run/libvirtd.pid /run/virtlogd.pid; do
			pid=$(lm_in "$h" cat "$f" 2>/dev/null)
			[[ $pid =~ ^[0-9]+$ ]] || continue
			lv_kill_wait "$pid"
		done
		lv_kill_wait "${LM_HOLDER[$h]}"
	done
	(exit "$rc")
	mg_cleanup
}

# lm_pki: the hosts' certificates for QEMU's TLS migration, in
# $NX_TMP/pki (libvirt's layout: a CA, a server and a client certificate,
# each host's address in the server's): made with openssl, for this run.
lm_pki()
{
	local d=$NX_TMP/pki san=

	mkdir -p "$d"
	for h in "$A" "$B"; do
		san+="IP:$(nx_ip "$h"),DNS:memx-$h,"
	done
	(
		cd "$d"
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=memx-test-ca \
			-keyout ca-key.pem -out ca-cert.pem \
			-addext basicConstraints=critical,CA:TRUE \
			-addext keyUsage=critical,keyCertSign,cRLSign
		for role in server client; do
			openssl req -newkey rsa:2048 -nodes -subj "/CN=memx-$role" \
				-keyout "$role-key.pem" -out "$role.csr"
			printf '%s\n' "basicConstraints=CA:FALSE" \
				"keyUsage=critical,digitalSignature,keyEncipherment" \
				"extendedKeyUsage=${role}Auth" "subjectAltName=${san%,}" >"$role.ext"
			openssl x509 -req -in "$role.csr" -CA ca-cert.pem -CAkey ca-key.pem \
				-CAcreateserial -days 2 -extfile "$role.ext" -out "$role-cert.pem"
		done
		rm -f ./*.csr ./*.ext ca-key.pem
		chmod 0644 ./*.pem	# this run's keys: libvirt-qemu reads them
	) >"$NX_TMP/pki.log" 2>&1 || { cat "$NX_TMP/pki.log" >&2; nx_die "openssl could not make the TLS certificates"; }
	chmod 0755 "$d"
}

# lm_host HOST: HOST's own namespaces (held by a sleep), its private
# libvirt, the memx hook and memx-qemu, and libvirtd listening on TCP.
lm_host()
{
	local h=$1 dir=$NX_TMP/$1 ip pid

	ip=$(nx_ip "$h")
	ip netns exec "$(nx_ns "$h")" unshare -m -u --propagation private \
		sleep infinity </dev/null >/dev/null 2>&1 &
	pid=$!
	LM_HOLDER[$h]=$pid
	gx_wait_for 10 "[[ \$(readlink /proc/$pid/ns/mnt) != \$(readlink /proc/self/ns/mnt) ]]" ||
		nx_die "host $h: no namespaces of its own"
	mkdir -p "$dir/console" "$dir/root"
	chmod 0777 "$dir/console"
	chmod 0755 "$dir"
	lm_in "$h" bash -euo pipefail -s <<-EOF
		. '$top_srcdir/tests/lib/libvirt-common.sh'
		hostname memx-$h
		mount -t tmpfs -o mode=0755 memx-$h-run /run
		mkdir -p /run/lock /run/libvirt /run/user /run/memx-test/console /run/memx-test/pki
		mount --bind '$dir/console' /run/memx-test/console
		mount --bind '$NX_TMP/pki' /run/memx-test/pki
		for d in /etc/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt; do
			lv_private "\$d" '$dir/root'
		done
		lv_private /etc/memx '$dir/root' empty
		lv_bind_emulator '$LV_CACHE'
		cat >/etc/memx/libvirt.conf <<-CONF
			socket=${MG_SOCK[$h]}
			qemu=$LV_EMU_DIR/qemu-system-x86_64
			emulator=$LV_EMU_DIR/memx-qemu
			memxctl=$MEMXCTL
			group=memx
		CONF
		mkdir -p /etc/libvirt/hooks/qemu.d
		install -m 0755 '$top_srcdir/libvirt-hooks/qemu.d/memx' /etc/libvirt/hooks/qemu.d/memx
		# Peer-to-peer migration: the source's libvirtd calls the
		# destination's over TCP (no authentication: a test network).
		cat >>/etc/libvirt/libvirtd.conf <<-CONF
			listen_tls = 0
			listen_tcp = 1
			auth_tcp = "none"
			host_uuid = "$(uuidgen)"
			log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
		CONF
		# QEMU's migration stream: to and from this host's address;
		# with --tls, with this run's certificates.
		cat >>/etc/libvirt/qemu.conf <<-CONF
			migration_address = "$ip"
			migration_host = "$ip"
			default_tls_x509_cert_dir = "/run/memx-test/pki"
		CONF
		virtlogd -d
		libvirtd -d --listen
	EOF
	# Its QEMU driver probes the emulator first: slow on a busy host.
	gx_wait_for 60 "lm_in $h timeout 20 virsh -c qemu:///system list --all >/dev/null 2>&1" || {
		lm_in "$h" pgrep -a libvirtd >&2 ||
			nx_log "host $h: no libvirtd is running"
		tail -n 30 "$dir/root/var/log/libvirt/libvirtd.log" >&2 2>/dev/null || true
		nx_die "host $h: libvirtd does not answer in 60 s"
	}
	nx_log "host $h: hostname memx-$h, address $ip, libvirtd" \
		"$(lm_in "$h" libvirtd --version | awk '{print $NF}') (TCP 16509), memxd ${MG_SOCK[$h]}"
}

# lm_console HOST: DOM's console log in HOST.
lm_console() { echo "$NX_TMP/$1/console/$DOM.log"; }
progress() { sed -n 's/^qsort: sort \([0-9]*\)%.*/\1/p' "$(lm_console "$1")" 2>/dev/null; }

gx_require
command -v xmllint >/dev/null || nx_die "xmllint is missing"
command -v uuidgen >/dev/null || nx_die "uuidgen is missing (uuid-runtime)"
gx_build
lv_run_tmpfs
lv_kvm_node
mg_setup 1G
trap lm_cleanup EXIT
lv_group_memx || nx_die "libvirt-qemu is not in group memx, even in this namespace"
chmod 0755 "$NX_TMP"
lv_emulator_cache
mkdir -m 0755 "$NX_TMP/img"
install -m 0644 "$GUEST/vmlinuz" "$GUEST/initramfs.gz" "$NX_TMP/img/"

command -v openssl >/dev/null || nx_die "openssl is missing"
lm_pki
mg_memxd_start "$A" --ctl-group memx
MG_SOCK[$B]=$NX_TMP/$B/$B.sock	# started later: case 2 needs it down
lm_host "$A"
lm_host "$B"

# ---- 1. define and start in A ----
sed -e "s|@NAME@|$DOM|" -e "s|@BUDGET_MIB@|$BUDGET_MIB|" \
	-e "s|@MEMORY_MIB@|$MEM_MIB|" \
	-e "s|@KERNEL@|$NX_TMP/img/vmlinuz|" \
	-e "s|@INITRD@|$NX_TMP/img/initramfs.gz|" \
	-e "s|@CMDLINE@|memx.work=qsort:$QSORT_MIB memx.hold=1|" \
	-e "s|@EMULATOR@|$LV_EMU_DIR/memx-qemu|" \
	-e "s|@CONSOLE@|/run/memx-test/console/$DOM.log|g" \
	"$top_srcdir/libvirt-hooks/memx-domain.xml" >"$NX_TMP/$DOM.xml"
lm_virsh "$A" define "$NX_TMP/$DOM.xml" >/dev/null || nx_die "virsh define $DOM in $A failed"
t0=$SECONDS
out=$(lm_virsh "$A" start "$DOM" 2>&1) || {
	printf '%s\n' "$out" >&2
	nx_die "virsh start $DOM in $A failed"
}
con_a=$(lm_console "$A")
con_b=$(lm_console "$B")
gx_wait_for 600 "grep -q '^qsort: sort ' '$con_a'" || {
	tail -n 20 "$con_a" >&2
	nx_die "$DOM printed no sort progress in 600 s"
}
nx_log "$DOM ($MEM_MIB MiB, budget $BUDGET_MIB MiB) sorting $QSORT_MIB MiB in $A" \
	"$((SECONDS - t0)) s after virsh start: $(grep '^qsort: sort' "$con_a" | tail -n1)"
lv_check "A's memxd holds the domain" "[[ \$(mg_vms $A) == 1 ]]"

# ---- 2. refused by B's hook, the domain runs on in A ----
dst_uri=qemu+tcp://$(nx_ip "$B")/system
# lm_refused WHAT PATTERN: virsh migrate to B fails, with PATTERN (the
# hook's reason) in its error; the domain runs on in A, B has none.
lm_refused()
{
	local out

	if out=$(lm_virsh "$A" migrate --live --p2p "$DOM" "$dst_uri" 2>&1); then
		nx_log "FAIL: $1: virsh migrate succeeded"
		LV_FAIL=1
		return
	fi
	printf '%s\n' "$out" | sed 's/^/    virsh: /' >&2
	if grep -q -- "$2" <<<"$out"; then
		refused_ok=$((refused_ok + 1))
		nx_log "ok:   $1: virsh migrate refused, with the hook's reason"
	else
		nx_log "FAIL: $1: refused, but without /$2/ in the error"
		LV_FAIL=1
	fi
	lv_check "after the refusal, $DOM runs in A" \
		"[[ \$(lm_virsh $A domstate $DOM) == running ]]"
	lv_check "after the refusal, A's memxd still holds it, B has no domain" \
		"[[ \$(mg_vms $A) == 1 && -z \$(lm_virsh $B list --all --name | grep .) ]]"
}
lm_refused "B's memxd down" 'memxd is not running or does not answer'
# B's memxd lends its VMs 64 MiB in all, less than the domain's budget.
mg_memxd_start "$B" --ctl-group memx --local-total 64M
lm_refused "B's memx total smaller than the budget" "does not fit the host's memx total"
gx_memxd_kill "$B" TERM

# ---- 3. live migration, A to B, then back ----
# lm_opened HOST: sessions HOST's memxd opened on the memory servers.
# lm_moved HOST: sessions the servers moved to HOST's key.
lm_opened()
{
	cat "$NX_TMP"/server-*.log | grep -c "opened by $(nx_ip "$1"):" || true
}
lm_moved()
{
	cat "$NX_TMP"/server-*.log | grep -c "moved from client .* to client .* at $(nx_ip "$1"):" || true
}

# lm_migrate FROM TO [FLAGS...]: virsh migrate --live, with FLAGS, in
# the middle of the sort, and what must hold after it.  Sets migrate_s
# and remote (FROM's report).
lm_migrate()
{
	local from=$1 to=$2 uri p0 p1 t0 opened0 moved0 st out uuid rs
	local con=$NX_TMP/$1/console/$DOM.log

	shift 2
	uri=qemu+tcp://$(nx_ip "$to")/system
	p0=$(progress "$from" | tail -n1)
	gx_wait_for 120 "[[ \$(progress $from | tail -n1) != '${p0:-}' ]]" || true
	p1=$(progress "$from" | tail -n1)
	lv_check "$from: the sort goes on (${p0:-none}% -> ${p1:-none}%)" \
		"[[ -n '$p1' && '$p1' != '${p0:-}' ]]"
	! grep -q '^MEMX-GUEST-RESULT' "$con" ||
		nx_die "the sort ended before the migration: raise LM_QSORT_MIB"
	opened0=$(lm_opened "$to")
	moved0=$(lm_moved "$to")
	uuid=$(lm_virsh "$from" domuuid "$DOM")
	nx_log "in $from: virsh migrate --live --p2p $* --persistent --undefinesource --verbose $DOM $uri"
	t0=$(date +%s.%N)
	lm_virsh "$from" migrate --live --p2p "$@" --persistent --undefinesource \
		--verbose "$DOM" "$uri" >"$NX_TMP/virsh-migrate.out" 2>&1 && rs=0 || rs=$?
	tr '\r' '\n' <"$NX_TMP/virsh-migrate.out" | grep -a . | sed 's/^/    virsh: /' >&2
	((rs == 0)) || nx_die "virsh migrate $from -> $to failed"
	migrate_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	nx_log "virsh migrate $from -> $to returned after $migrate_s s"

	st=$(lm_virsh "$to" domstate "$DOM" 2>&1)
	lv_check "$DOM runs in $to ($st)" "[[ '$st' == running ]]"
	out=$(lm_virsh "$from" list --all --name)
	lv_check "$DOM is gone from $from (undefined there)" "[[ -z \$(grep . <<<'$out') ]]"
	out=$(lm_virsh "$to" dominfo "$DOM")
	lv_check "$DOM is defined in $to (persistent)" \
		"grep -qE '^Persistent: +yes' <<<'$out'"
	gx_wait_for 10 "[[ -n \$(mg_report_val $from out qemu_status) ]]" || true
	"$MEMXCTL" --socket "${MG_SOCK[$from]}" migrations | tail -n 30 | sed "s/^/    $from: /" >&2 || true
	remote=$(mg_report_val "$from" out remote_pages)
	st=$(mg_report_val "$from" out qemu_status)
	lv_check "$from's report: ${remote:-no} remote pages ($(mg_report_val "$from" out remote_mib) MiB) left in place, QEMU says ${st:-nothing}" \
		"(( ${remote:-0} > 0 )) && [[ '$st' == completed ]]"
	lv_check "$to's memxd recorded the arrival, and runs it" \
		"grep -q 'status=running' <<<\"\$('$MEMXCTL' --socket '${MG_SOCK[$to]}' migrations)\""
	lv_check "the servers moved $(($(lm_moved "$to") - moved0)) session(s) to $to, which opened $(($(lm_opened "$to") - opened0)) of its own" \
		"(( \$(lm_moved $to) > moved0 && \$(lm_opened $to) == opened0 ))"
	lv_check "$from's memxd holds no VM, $to's holds the domain" \
		"[[ \$(mg_vms $from) == 0 && \$(mg_vms $to) == 1 ]]"
	lv_check "$from's hook dropped its reservation, $to's holds one" \
		"[[ ! -e /proc/${LM_HOLDER[$from]}/root/run/memx-libvirt/$uuid.conf &&
		    -e /proc/${LM_HOLDER[$to]}/root/run/memx-libvirt/$uuid.conf ]]"
}

mg_memxd_start "$B" --ctl-group memx
# A console log starts again when the domain comes back to a host: the
# sort's progress in each is kept before it goes.
lm_migrate "$A" "$B"
s1=$migrate_s r1=$remote
a=$(progress "$A" | tr '\n' ' ')
# Back, tunnelled: the migration stream, memx's device state in it,
# goes through the two libvirtds' own connection.
lm_migrate "$B" "$A" --tunnelled
s2=$migrate_s r2=$remote
b=$(progress "$B" | tr '\n' ' ')
# And to B again over TLS (QEMU's own, with the hosts' certificates).
lm_migrate "$A" "$B" --tls
s3=$migrate_s r3=$remote
c=$(progress "$A" | tr '\n' ' ')
gx_wait_for 900 "grep -q '^MEMX-GUEST-RESULT' '$con_b'" || true
grep -E '^(qsort|MEMX-GUEST)' "$con_b" | sed 's/^/    B: /' >&2 || true
d=$(progress "$B" | tr '\n' ' ')
lv_check "the sort's progress went from A (${a% }) to B (${b% }), A (${c% }) and B (${d% })" \
	"[[ -n '$b' && -n '$c' && -n '$d' ]] && ! grep -q '^MEMX-GUEST-RESULT' '$con_a'"
verify=ok
grep -q '^MEMX-GUEST-RESULT: PASS' "$con_b" || verify=FAIL
lv_check "the sort verifies in B, at the end (checksums)" "[[ $verify == ok ]]"

# ---- 4. destroyed in B ----
uuid=$(lm_virsh "$B" domuuid "$DOM")
lm_virsh "$B" destroy "$DOM" >/dev/null || nx_die "virsh destroy $DOM in B failed"
gx_wait_for 10 "[[ \$(mg_vms $B) == 0 ]]" || true
lv_check "virsh destroy: B's memxd forgets it, its reservation goes" \
	"[[ \$(mg_vms $B) == 0 && ! -e /proc/${LM_HOLDER[$B]}/root/run/memx-libvirt/$uuid.conf ]]"
lm_virsh "$B" undefine "$DOM" >/dev/null || LV_FAIL=1

((LV_FAIL == 0)) || verify=FAIL
printf 'libvirt-migrate: verify=%s migrate_s=%s,%s,%s remote_pages=%s,%s,%s refused_ok=%d/2\n' \
	"$verify" "$s1" "$s2" "$s3" "${r1:-0}" "${r2:-0}" "${r3:-0}" "$refused_ok"
((LV_FAIL == 0 && refused_ok == 2)) || exit 1
