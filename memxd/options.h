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
#define MEMXD_DEFAULT_KEY	"/etc/memx/private.key"
#define MEMXD_DEFAULT_PEERS	"/etc/memx/peers"
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
	bool dedup;			/* share equal pages: store.h */
	bool reserve;			/* lock the capacity at start */
	unsigned server_spin_us;	/* poll for the next request */
	char *test_corrupt;		/* a test hook: server.h */

	/* pager role */
	char *socket;
	char *ctl_group, *ctl_admin_group;	/* names; NULL: none */
	char **servers;			/* NULL-terminated */
	char *spill_dir;
	char *report_dir;
	uint64_t local_total;		/* bytes; 0: no host-wide total */
	unsigned prefetch_max;
	unsigned spin_us;
	char *evict_policy;		/* NULL: clock */
	unsigned stripe_width, stripe_rows;
	bool parity;
	bool integrity;
	bool page_encryption;
	unsigned recovery_mibps;
	unsigned pager_heartbeat_ms, dead_after, grace_s;

	struct rmap_config rmap;
	/* authentication (the [rmap] group), read by options_load_auth() */
	char *private_key_file, *peers_file, *psk_file;
	bool insecure_no_auth;
	/* command line only: key files */
	char *genkey, *pubkey;
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

/*
 * Read a configuration file into @o (memxctl reads memxd's [rmap] keys);
 * 0, or -1 after saying why on stderr.  A missing file is no error
 * unless @required.
 */
int options_load_config(struct memxd_options *o, const char *path,
			bool required);
/* The configuration file to read: @given, else $MEMX_CONF, else the
 * default. */
const char *options_config_path(const char *given);
/*
 * Fill o->rmap.auth from the key files (or mark it insecure): 0, or
 * -errno with a reason in @why.  rmap_auth_free(&o->rmap.auth) later.
 */
int options_load_auth(struct memxd_options *o, char *why, size_t len);
/* --genkey FILE: a new private key in FILE (0600), its public key on
 * stdout.  --pubkey FILE: the public key of FILE.  0, or -errno. */
int options_genkey(const char *path);
int options_pubkey(const char *path);

#endif
