// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * spill.c - the spill file (spill.h).
 */
#include "spill.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPILL_PAGE	4096u

int spill_open(struct spill *s, const char *dir, const char *name,
	       char *why, size_t whylen)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/memx-spill-%s-XXXXXX", dir, name);
	for (char *c = path + strlen(dir) + 1; *c; c++)
		if (*c == '/')
			*c = '_';
	s->fd = mkostemp(path, O_CLOEXEC);
	if (s->fd < 0) {
		int err = errno;

		snprintf(why, whylen, "cannot create a spill file in %s: %s",
			 dir, strerror(err));
		return -err;
	}
	unlink(path);		/* anonymous: gone when we close it */
	return 0;
}

int spill_adopt(struct spill *s, int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return -EBADF;
	s->fd = fd;
	return 0;
}

void spill_close(struct spill *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

int spill_write(struct spill *s, uint64_t page, const void *data)
{
	ssize_t n = pwrite(s->fd, data, SPILL_PAGE,
			   (off_t)(page * SPILL_PAGE));

	if (n < 0)
		return -errno;
	return n == SPILL_PAGE ? 0 : -ENOSPC;
}

int spill_read(struct spill *s, uint64_t page, void *buf)
{
	ssize_t n = pread(s->fd, buf, SPILL_PAGE, (off_t)(page * SPILL_PAGE));

	if (n < 0)
		return -errno;
	return n == SPILL_PAGE ? 0 : -EIO;
}
