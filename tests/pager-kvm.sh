#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# pager-kvm.sh - memxd's pager serves a KVM guest's page faults.  Two
# memory servers and a client, each a network namespace; memxd (pager
# role) in the client; tests/harness/kvm_harness runs real-mode guest code
# over a 1 MiB slot registered with memxd, with a budget of 32 pages, so
# the guest's own accesses fault into memxd and pages are evicted and
# fetched back over the network while it runs.  Once on a clean network,
# once with 5% loss on every host.
#
# Needs root and /dev/userfaultfd; skips (77) loudly without them, or
# where /dev/kvm is missing or cannot run guest code.  NX_KEEP=1 keeps
# the logs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
# shellcheck source=tests/lib/pager-common.sh
. "$top_srcdir/tests/lib/pager-common.sh"

HARNESS=$top_builddir/tests/harness/kvm_harness

px_require "$HARNESS"
[[ -c /dev/kvm ]] || nx_skip "no /dev/kvm: the KVM harness cannot run here"
px_setup

px_run kvm-clean 0 "$HARNESS" --budget 32 --passes "${MX_PASSES:-2}"
px_check_counters kvm-clean
px_run kvm-loss5 5 "$HARNESS" --budget 32 --passes "${MX_PASSES:-2}"
px_check_counters kvm-loss5
nx_log "pager-kvm: PASS"
