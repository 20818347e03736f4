/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pager_main.h - memxd's pager role: serve local VMs' page faults.
 */
#ifndef MEMX_PAGER_MAIN_H
#define MEMX_PAGER_MAIN_H

#include "../rmap/evloop.h"
#include "options.h"

/* Run the pager role until the loop stops.  0 or -errno. */
int pager_main(struct evl *loop, const struct memxd_options *o);

#endif
