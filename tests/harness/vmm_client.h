/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmm_client.h - what a VMM does to hand its guest RAM to memxd.
 *
 * Exactly the steps QEMU's memory-backend-memx takes (see
 * memxd/ctl/ctl_proto.h): a memfd mapped MAP_SHARED, a userfaultfd
 * registered MISSING|WP over the mapping, then one register request on
 * memxd's control socket carrying the uffd and the memfd by SCM_RIGHTS,
 * made by the same client code QEMU compiles (memxd/ctl/ctl_client.h).
 * The test harnesses use it; nothing here serves faults: memxd does.
 */
#ifndef MEMX_VMM_CLIENT_H
#define MEMX_VMM_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#define VMM_PAGE_SIZE	4096u

#include <pthread.h>
#include <stdbool.h>

struct vmm_region {
	uint8_t *mem;		/* the MAP_SHARED mapping of the memfd */
	size_t size;
	int memfd;
	int uffd;
	int ctl;		/* registration connection; -1 until registered */
	int handover[2];	/* memxd's: the VM's state and spill file */
	/* for registering again (vmm_keep_registered) */
	char socket[108], name[64], uuid[40];
	uint64_t budget;
	pthread_mutex_t lock;	/* ctl and handover, against the keeper */
	pthread_t keeper;
	void *keeper_arg;
	bool keeping;
	volatile bool stop;
	unsigned reregistered;	/* times memxd went away and came back */
	uint64_t last_gap_ms;	/* how long the last absence was */
};

/*
 * Create a memfd of @size bytes, map it shared, and register the mapping
 * with a new userfaultfd (MISSING|WP).  0 or -errno; @err gets a reason.
 */
int vmm_region_create(struct vmm_region *r, size_t size, const char *name,
		      char *err, size_t errlen);

/*
 * Register the region with the memxd listening on @socket as VM @name with
 * a local budget of @budget bytes.  0 on errno=0; otherwise -errno (the
 * reply's errno, or a local failure) with the reason (ctl_register's,
 * quoting the reply's error= text) in @err.  The connection stays open in r->ctl: closing it
 * tells memxd the VM is gone.  A reply must come within 10 s, or
 * $VMM_CTL_TIMEOUT_MS milliseconds if set.
 */
int vmm_register(struct vmm_region *r, const char *socket, const char *name,
		 uint64_t budget, char *err, size_t errlen);

/*
 * Do what QEMU's backend does when memxd goes away: keep the userfaultfd
 * and memfd (the threads that fault just wait), register again with the
 * state and spill file memxd handed over, retrying every 100 ms, for up
 * to @give_up_s seconds (0: for ever), after which the process exits(3)
 * rather than run without its memory.  A thread does it; it ends with
 * vmm_region_destroy().
 */
int vmm_keep_registered(struct vmm_region *r, unsigned give_up_s);

/* Send discard=<offset>,<length> on the registration connection. */
int vmm_discard(struct vmm_region *r, uint64_t offset, uint64_t length,
		char *err, size_t errlen);

/* Unmap and close everything (closing ctl unregisters the VM). */
void vmm_region_destroy(struct vmm_region *r);

/* ---- queries: get=1 on a separate connection ---- */

/*
 * Room for every pair of one get=1: an admin's global lines alone carry
 * some 35 per memory server, so with six servers 256 ran out before the
 * VM's own block, and its later counters (installed_pages) went unseen.
 */
#define VMM_KV_MAX	2048

struct vmm_kv {
	unsigned n;
	char *key[VMM_KV_MAX];
	char *val[VMM_KV_MAX];
	char *buf;		/* owns the strings */
};

/*
 * Send get=1 to @socket and keep the key=value pairs that belong to VM
 * @vm (the lines after vm=<vm> up to the next vm=) plus the global lines
 * before the first vm=.  @vm NULL keeps every line.  0 or -errno.
 */
int vmm_get(const char *socket, const char *vm, struct vmm_kv *kv,
	    char *err, size_t errlen);

/* The value of @key, or NULL. */
const char *vmm_kv_str(const struct vmm_kv *kv, const char *key);

/* The first of the NULL-terminated @keys present, as a number; @def if none. */
long long vmm_kv_num(const struct vmm_kv *kv, const char *const *keys,
		     long long def);

void vmm_kv_free(struct vmm_kv *kv);

/* Rss of the mapping starting at @addr, in pages (/proc/self/smaps); -1 if unknown. */
long long vmm_rss_pages(const void *addr);

#endif
