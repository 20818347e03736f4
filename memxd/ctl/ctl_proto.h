/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ctl_proto.h - memxd's control socket protocol, version 1.
 *
 * A UNIX stream socket (default /run/memx/memxd.sock, mode 0660).  In the
 * spirit of wireguard's UAPI, a request is lines of key=value ending with
 * an empty line, and so is the reply.  Every reply starts with errno=N
 * (0 on success); a failed request adds error=<human-readable reason>.
 *
 * Registering a VM (sent by the VMM: QEMU's memory-backend-memx, or a test
 * harness).  The userfaultfd and the memfd travel by SCM_RIGHTS, in that
 * order, attached to the request's first byte:
 *
 *	register=1
 *	version=1
 *	name=<vm name>
 *	uuid=<vm uuid>
 *	pid=<VMM pid>			(must match SO_PEERCRED)
 *	budget=<bytes>			(local memory the VM may keep resident)
 *	region=<hva>,<memfd offset>,<length>,<page size>	(repeatable;
 *					hva in hex with 0x, the rest decimal)
 *	<empty line>
 *
 * The userfaultfd must have been through UFFDIO_API with
 * UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_WP_HUGETLBFS_SHMEM
 * (UFFD_FEATURE_EVENT_REMOVE optional) and every region registered with
 * UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP.  The memfd is
 * mapped MAP_SHARED at each region's hva.
 *
 * Reply: errno=0, vm=<name>, pages=<GPAS pages>, slack_pages=<N> (how far
 * resident memory may exceed the budget); or errno=<E>, error=...
 * The VMM keeps the connection open for the VM's lifetime; when it closes,
 * memxd frees the VM's remote pages.  On the same connection the VMM may
 * later send:
 *
 *	discard=<memfd offset>,<length>		pages the guest freed
 *
 * A VMM that may not make a userfaultfd itself -- QEMU run unprivileged
 * by libvirt, with Debian's vm.unprivileged_userfaultfd=0 and a
 * /dev/userfaultfd only root may open -- first asks for one:
 *
 *	userfaultfd=1
 *	<empty line>
 *
 * Reply: errno=0 with /dev/userfaultfd, opened by memxd, attached by
 * SCM_RIGHTS; the VMM makes its userfaultfd with USERFAULTFD_IOC_NEW on
 * it (that ioctl has no capability check: it is what opening the device
 * grants) and closes it.  A VMM or an admin may ask; errno=ENODEV if
 * this kernel has no /dev/userfaultfd.
 *
 * Live migration (memxd-ctl(7)), on the connection that registered the
 * VM: migrate=handoff (the source, at switchover: answered, with
 * migrate=handoff, once memxd let the VM go), migrate=settle (the VM runs
 * here), migrate=report and key=value lines (the VMM's account).  A
 * destination registers with migrated=1 and three descriptors: the
 * userfaultfd, the memfd and the state that came in the stream.
 * Queries (memxctl):  get=1 (every VM's state and counters, key=value),
 * get=prometheus (errno=0, then the same in Prometheus text format; it
 * has no empty lines, so the empty line still ends the reply),
 * get=migrations (the live migrations on record, admin only).
 *
 * The client side, for C: ctl_client.h.
 */
#ifndef MEMX_CTL_PROTO_H
#define MEMX_CTL_PROTO_H

#define MEMX_CTL_VERSION	1
#define MEMX_CTL_MAX_REQUEST	65536	/* bytes in one request */
#define MEMX_CTL_MAX_REGIONS	64
/*
 * memxd never waits for a client to read: a reply the socket cannot take
 * stays queued, and the client's next request waits until it has read it.
 * A reply of which more than this many bytes do not fit in the socket's
 * buffer closes the connection instead.
 */
#define MEMX_CTL_MAX_QUEUED	(16u << 20)

#endif
