/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * spill.h - the last resort: a VM's pages in a local file.
 *
 * When no server can take a page (the cluster is full, or the page's
 * group lost its servers), eviction writes it here instead.  The file is
 * anonymous (unlinked at once) and sparse, indexed by GPAS page.  Its
 * descriptor goes to the VMM with the VM's state (vmstate.h), so that
 * the pages in it outlive a memxd restart.
 */
#ifndef MEMX_PAGER_SPILL_H
#define MEMX_PAGER_SPILL_H

#include <stddef.h>
#include <stdint.h>

struct spill {
	int fd;
};

/* A new spill file in @dir for VM @name.  0, or -errno with a reason. */
int spill_open(struct spill *s, const char *dir, const char *name,
	       char *why, size_t whylen);
/* Take over @fd, a spill file an earlier memxd made (its VMM kept it). */
int spill_adopt(struct spill *s, int fd);
void spill_close(struct spill *s);
/* 0 or -errno. */
int spill_write(struct spill *s, uint64_t page, const void *data);
int spill_read(struct spill *s, uint64_t page, void *buf);

#endif
