// SPDX-License-Identifier: GPL-2.0-or-later
#include "pager_main.h"

#include <errno.h>

#include "log.h"

int pager_main(struct evl *loop, const struct memxd_options *o)
{
	(void)loop;
	(void)o;
	log_err("the pager role is not built yet: run memxd --server");
	return -ENOSYS;
}
