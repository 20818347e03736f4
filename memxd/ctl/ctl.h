/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ctl.h - memxd's control socket (protocol: ctl_proto.h).
 */
#ifndef MEMX_CTL_H
#define MEMX_CTL_H

#include "../../rmap/evloop.h"
#include "../pager/pager.h"
#include "ctl_proto.h"

struct ctl;

/* Listen on @path (mode 0660; its directory is created 0750). */
int ctl_new(struct ctl **ctl, struct evl *loop, const char *path,
	    struct pager *pager);
/* Close every connection (unregistering their VMs) and the socket. */
void ctl_free(struct ctl *ctl);

#endif
