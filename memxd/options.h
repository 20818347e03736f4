/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * options.h - memxd's settings, from memx.conf(5) and long options.
 *
 * One table describes every setting: its memx.conf group and key, which is
 * also its long option, its type, limits and help text.  --help and the
 * parser both read that table, so they cannot disagree.  Command-line
 * options override the file.
 */
#ifndef MEMX_OPTIONS_H
#define MEMX_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../rmap/rmap.h"
#include "log.h"

#define MEMXD_DEFAULT_CONFIG	"/etc/memx/memx.conf"
#define MEMXD_DEFAULT_SOCKET	"/run/memx/memxd.sock"

struct memxd_options {
	bool server;
	char *config;
	char *log_level;

	/* store role */
	char *listen;
	uint64_t capacity;		/* bytes */
	unsigned announce_ms;
	char **announce_to;		/* NULL-terminated */
	unsigned heartbeat_ms;
	unsigned lease_s;

	/* pager role */
	char *socket;
	char *ctl_group, *ctl_admin_group;	/* names; NULL: none */
	char **servers;			/* NULL-terminated */
	char *spill_dir;
	unsigned prefetch_max;
	unsigned stripe_width, stripe_rows;
	bool parity;
	unsigned recovery_mibps;
	unsigned pager_heartbeat_ms, dead_after, grace_s;

	struct rmap_config rmap;
};

void options_init(struct memxd_options *o);
void options_free(struct memxd_options *o);
/*
 * Parse argv (and the config file it names, or the default one if it
 * exists).  Returns 0, 1 if --help or --version was handled, or -1 after
 * printing an error.
 */
int options_parse(struct memxd_options *o, int argc, char **argv);
void options_usage(FILE *out);

int parse_size(const char *s, uint64_t *out);

#endif
