// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * options.c - one table of settings, read from memx.conf and argv.
 */
#include "options.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glib.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

/* OPT_FLAG needs no value on the command line; OPT_BOOL needs on|off. */
/* OPT_UINT_AUTO is an OPT_UINT that may also be "auto", stored as 0. */
enum opt_type { OPT_FLAG, OPT_BOOL, OPT_STR, OPT_LIST, OPT_SIZE, OPT_UINT,
		OPT_UINT_AUTO };

struct opt {
	const char *group;	/* memx.conf group; NULL: command line only */
	const char *name;	/* key and long option */
	enum opt_type type;
	size_t off;
	unsigned min, max;	/* OPT_UINT, OPT_UINT_AUTO */
	const char *arg;
	const char *help;
};

#define O(f) offsetof(struct memxd_options, f)
/* opts[] index of --config, which is read before everything else. */
#define O_CONFIG_INDEX 1

static const struct opt opts[] = {
	{ NULL, "server", OPT_FLAG, O(server), 0, 0, NULL,
	  "run the memory-server (store) role instead of the pager" },
	{ NULL, "config", OPT_STR, O(config), 0, 0, "FILE",
	  "read settings from FILE (default $MEMX_CONF, or "
	  MEMXD_DEFAULT_CONFIG ", if present)" },
	{ NULL, "genkey", OPT_STR, O(genkey), 0, 0, "FILE",
	  "write a new private key to FILE (mode 0600), print its public key "
	  "and exit" },
	{ NULL, "pubkey", OPT_STR, O(pubkey), 0, 0, "FILE",
	  "print the public key of the private key in FILE and exit" },
	{ "memxd", "log-level", OPT_STR, O(log_level), 0, 0, "LEVEL",
	  "error, warning, info (default) or debug" },

	{ "server", "listen", OPT_STR, O(listen), 0, 0, "ADDR[:PORT]",
	  "serve RMAP on this UDP address (default 0.0.0.0:7246)" },
	{ "server", "capacity", OPT_SIZE, O(capacity), 0, 0, "SIZE",
	  "memory to lend, e.g. 512M or 4G (default 1G)" },
	{ "server", "announce-interval-ms", OPT_UINT, O(announce_ms), 0, 3600000,
	  "MS", "send ANNOUNCE this often; 0 disables (default 1000)" },
	{ "server", "announce-to", OPT_LIST, O(announce_to), 0, 0, "ADDR[,ADDR]",
	  "announce to these addresses (unicast or broadcast); repeatable" },
	{ "server", "heartbeat-interval-ms", OPT_UINT, O(heartbeat_ms), 10, 3600000,
	  "MS", "clients heartbeat this often (default 1000)" },
	{ "server", "lease-s", OPT_UINT, O(lease_s), 1, 86400, "S",
	  "keep a session's pages this long after its client was last heard "
	  "from, then free them (default 600)" },
	{ "server", "dedup", OPT_BOOL, O(dedup), 0, 0, "on|off",
	  "keep one copy of equal pages, whoever's; off keeps clients from "
	  "learning that another holds a page they hold (default on)" },
	{ "server", "reserve", OPT_BOOL, O(reserve), 0, 0, "on|off",
	  "map, touch and lock (mlock) the whole capacity at start, so that "
	  "what is lent exists: refuse to start otherwise (default off: "
	  "memory is taken as the store fills)" },
	{ "server", "poll-us", OPT_UINT, O(server_spin_us), 0, 10000, "US",
	  "after a request, poll for the next one at most this long before "
	  "sleeping, while polling pays and no other thread waits for a "
	  "CPU (the loop learns both); 0 never polls (default 0)" },
	{ NULL, "test-corrupt", OPT_STR, O(test_corrupt), 0, 0,
	  "flip|swap|short[:RATE]", "TEST HOOK, never in production: corrupt "
	  "pages read back (flip a stored bit, answer another page) or answer "
	  "READs short, with probability RATE (default 0.05)" },

	{ "pager", "socket", OPT_STR, O(socket), 0, 0, "PATH",
	  "control socket (default " MEMXD_DEFAULT_SOCKET ")" },
	{ "pager", "ctl-group", OPT_STR, O(ctl_group), 0, 0, "GROUP",
	  "VMMs (QEMU) running as members of GROUP may register their VMs "
	  "on the control socket, which gets that group, mode 0660 (default: "
	  "none, only root and memxd's own user)" },
	{ "pager", "ctl-admin-group", OPT_STR, O(ctl_admin_group), 0, 0,
	  "GROUP", "members of GROUP may use the control socket's admin "
	  "requests (drain, every VM's state) as root may (default: none, "
	  "root only)" },
	{ "pager", "servers", OPT_LIST, O(servers), 0, 0, "ADDR[,ADDR]",
	  "memory servers to use; repeatable" },
	{ "pager", "report-dir", OPT_STR, O(report_dir), 0, 0, "DIR",
	  "where each live migration's report goes, a key=value file (default: "
	  "migrations/ beside the control socket)" },
	{ "pager", "spill-dir", OPT_STR, O(spill_dir), 0, 0, "DIR",
	  "directory for the spill files that take evicted pages when no "
	  "server can (default /var/tmp)" },
	{ "pager", "local-total", OPT_SIZE, O(local_total), 0, 0, "SIZE",
	  "host-wide total of local memory for VMs: their budgets are "
	  "reservations within it, and a VM whose budget does not fit is "
	  "refused at registration (default: 0, no total)" },
	{ "pager", "prefetch-max", OPT_UINT, O(prefetch_max), 0, RMAP_MAX_PAGES,
	  "PAGES", "largest prefetch window; 0 disables prefetch (default 64)" },
	{ "pager", "spin-us", OPT_UINT, O(spin_us), 0, 10000, "US",
	  "while a vCPU waits for a page on its way from a server, poll for "
	  "the reply at most this long before sleeping, while polling pays "
	  "and no other thread waits for a CPU (the loop learns both); "
	  "0 never polls (default 50)" },
	{ "pager", "evict-policy", OPT_STR, O(evict_policy), 0, 0,
	  "clock|refault|refault-wp|adaptive", "which resident pages to "
	  "evict: clock is plain CLOCK; refault keeps a working set that "
	  "cycles through more than the budget mostly resident; refault-wp "
	  "also write-protects dirty hot pages to let go of unused ones; "
	  "adaptive runs clock or refault, whichever a sample of the pages "
	  "shows fetching less; a VM whose budget is under 4 MiB runs clock "
	  "(default adaptive)" },
	{ "pager", "stripe-width", OPT_UINT, O(stripe_width), 1, 8, "S",
	  "data servers per page-group; lowered to servers - 2 so that a "
	  "spare can take a rebuilt member (default 4)" },
	{ "pager", "stripe-rows", OPT_UINT, O(stripe_rows), 1, 256, "M",
	  "stripes per page-group: a group is M x S pages (default 16)" },
	{ "pager", "parity", OPT_BOOL, O(parity), 0, 0, "on|off",
	  "keep an XOR parity server per group, to survive a server's "
	  "loss (default on)" },
	{ "pager", "integrity", OPT_BOOL, O(integrity), 0, 0, "on|off",
	  "check every page read back against the MAC it was written with, "
	  "and rebuild or poison one that fails; off only to measure what "
	  "it costs (default on)" },
	{ "pager", "page-encryption", OPT_BOOL, O(page_encryption), 0, 0,
	  "on|off", "send new VMs' pages encrypted (XChaCha20, keyed per VM; "
	  "needs integrity; their servers cannot share their pages) "
	  "(default off)" },
	{ "pager", "recovery-mibps", OPT_UINT, O(recovery_mibps), 0, 100000,
	  "MIB", "rebuild lost group members at most this fast, in MiB/s; 0 "
	  "pauses recovery (default 64)" },
	{ "pager", "heartbeat-ms", OPT_UINT, O(pager_heartbeat_ms), 10, 600000,
	  "MS", "probe every memory server this often (default 500)" },
	{ "pager", "dead-after", OPT_UINT, O(dead_after), 1, 1000, "N",
	  "a server silent for N heartbeat intervals while others answer is "
	  "down: its pages are read degraded (default 3)" },
	{ "pager", "grace-s", OPT_UINT, O(grace_s), 0, 86400, "S",
	  "a server down this long is out: its pages are rebuilt elsewhere "
	  "(default 60)" },

	{ "rmap", "window", OPT_UINT, O(rmap.window), 1, RMAP_RCV_WINDOW, "N",
	  "packets in flight per peer (default 256)" },
	{ "rmap", "mtu", OPT_UINT_AUTO, O(rmap.mtu), RMAP_MIN_MTU,
	  RMAP_MAX_MTU, "BYTES|auto", "link MTU to fragment for; auto: each "
	  "peer's route's (default auto)" },
	{ "rmap", "rto-us", OPT_UINT, O(rmap.rto_us), 50, 10000000, "US",
	  "retransmit timeout: how often unacknowledged packets are checked "
	  "(default 1000)" },
	{ "rmap", "retry-us", OPT_UINT, O(rmap.retry_us), 50, 10000000, "US",
	  "least per-packet retry interval; grows to srtt + 4 rttvar if the "
	  "round trip is longer, doubles on each retry (default 2000)" },
	{ "rmap", "retry-max-us", OPT_UINT, O(rmap.retry_max_us), 50, 10000000,
	  "US", "cap on the per-packet retry interval (default 200000)" },
	{ "rmap", "gap-us", OPT_UINT, O(rmap.gap_us), 0, 1000000, "US",
	  "inter-packet gap (default 0: back to back)" },
	{ "rmap", "retries", OPT_UINT, O(rmap.max_retries), 0, 1000, "N",
	  "retries before a peer is declared unreachable, 0 for never; the "
	  "pager never gives up on a memory server, whose liveness its "
	  "heartbeats judge (default 10)" },
	{ "rmap", "broadcast", OPT_FLAG, O(rmap.broadcast), 0, 0, NULL,
	  "allow sending to broadcast addresses (for announce-to)" },
	{ "rmap", "private-key", OPT_STR, O(private_key_file), 0, 0, "FILE",
	  "this host's private key, as --genkey writes it (default "
	  MEMXD_DEFAULT_KEY ")" },
	{ "rmap", "peers", OPT_STR, O(peers_file), 0, 0, "FILE",
	  "the peers to allow: a public key a line, and the address of a "
	  "memory server (default " MEMXD_DEFAULT_PEERS ")" },
	{ "rmap", "preshared-key", OPT_STR, O(psk_file), 0, 0, "FILE",
	  "a key every host of the cluster holds, mixed into every handshake "
	  "(default: none)" },
	{ "rmap", "insecure-no-auth", OPT_FLAG, O(insecure_no_auth), 0, 0, NULL,
	  "no authentication and no encryption: anyone who can send to this "
	  "host can read, write and free pages (default off)" },
};

void options_init(struct memxd_options *o)
{
	memset(o, 0, sizeof(*o));
	rmap_config_default(&o->rmap);
	o->capacity = 1ull << 30;
	o->announce_ms = 1000;
	o->heartbeat_ms = 1000;
	o->lease_s = 600;
	o->dedup = true;
	o->prefetch_max = 64;
	o->spin_us = 50;
	o->stripe_width = 4;
	o->stripe_rows = 16;
	o->parity = true;
	o->integrity = true;
	o->recovery_mibps = 64;
	o->pager_heartbeat_ms = 500;
	o->dead_after = 3;
	o->grace_s = 60;
}

static void strv_free(char **v)
{
	g_strfreev(v);
}

void options_free(struct memxd_options *o)
{
	free(o->config);
	free(o->log_level);
	free(o->listen);
	free(o->test_corrupt);
	free(o->socket);
	free(o->ctl_group);
	free(o->ctl_admin_group);
	free(o->spill_dir);
	free(o->report_dir);
	free(o->evict_policy);
	free(o->private_key_file);
	free(o->peers_file);
	free(o->psk_file);
	free(o->genkey);
	free(o->pubkey);
	strv_free(o->announce_to);
	strv_free(o->servers);
	rmap_auth_free(&o->rmap.auth);
}

int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (*end == 'i' && shift)
		end++;
	if ((*end == 'B' || *end == 'b') && end[1] == 0)
		end++;
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

/* Append the comma- or space-separated items of @val to a string list. */
static int list_append(char ***list, const char *val)
{
	char **items = g_strsplit_set(val, ", \t;", -1);
	guint n = *list ? g_strv_length(*list) : 0;

	for (char **it = items; *it; it++) {
		if (!**it)
			continue;
		*list = g_renew(char *, *list, n + 2);
		(*list)[n++] = g_strdup(*it);
		(*list)[n] = NULL;
	}
	g_strfreev(items);
	return 0;
}

static int opt_set(struct memxd_options *o, const struct opt *d,
		   const char *val, const char *where)
{
	char *base = (char *)o;
	char *end;
	unsigned long v;

	switch (d->type) {
	case OPT_FLAG:
	case OPT_BOOL:
		if ((!val && d->type == OPT_FLAG) || (val &&
		    (!strcmp(val, "true") || !strcmp(val, "yes") ||
		     !strcmp(val, "on") || !strcmp(val, "1")))) {
			*(bool *)(base + d->off) = true;
		} else if (val && (!strcmp(val, "false") || !strcmp(val, "no") ||
				   !strcmp(val, "off") || !strcmp(val, "0"))) {
			*(bool *)(base + d->off) = false;
		} else {
			goto bad;
		}
		return 0;
	case OPT_STR:
		free(*(char **)(base + d->off));
		*(char **)(base + d->off) = strdup(val);
		return 0;
	case OPT_LIST:
		return list_append((char ***)(base + d->off), val);
	case OPT_SIZE:
		if (parse_size(val, (uint64_t *)(base + d->off)))
			goto bad;
		return 0;
	case OPT_UINT_AUTO:
		if (!strcmp(val, "auto")) {
			*(unsigned *)(base + d->off) = 0;
			return 0;
		}
		/* fall through */
	case OPT_UINT:
		errno = 0;
		v = strtoul(val, &end, 10);
		if (errno || end == val || *end || v < d->min || v > d->max) {
			fprintf(stderr, "memxd: %s: %s=%s: expected a number "
				"from %u to %u%s\n", where, d->name, val, d->min,
				d->max, d->type == OPT_UINT_AUTO ? ", or auto" :
				"");
			return -1;
		}
		*(unsigned *)(base + d->off) = (unsigned)v;
		return 0;
	}
bad:
	fprintf(stderr, "memxd: %s: %s=%s: invalid value\n", where, d->name, val);
	return -1;
}

static const struct opt *opt_find(const char *group, const char *name)
{
	for (size_t i = 0; i < G_N_ELEMENTS(opts); i++)
		if (opts[i].group && !strcmp(opts[i].name, name) &&
		    (!group || !strcmp(opts[i].group, group)))
			return &opts[i];
	return NULL;
}

static int load_file(struct memxd_options *o, const char *path, bool required)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) err = NULL;
	g_auto(GStrv) groups = NULL;

	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &err)) {
		if (!required && g_error_matches(err, G_FILE_ERROR,
						 G_FILE_ERROR_NOENT))
			return 0;
		fprintf(stderr, "memxd: %s: %s\n", path, err->message);
		return -1;
	}
	groups = g_key_file_get_groups(kf, NULL);
	for (char **g = groups; *g; g++) {
		g_auto(GStrv) keys = g_key_file_get_keys(kf, *g, NULL, NULL);

		if (strcmp(*g, "memxd") &&
		    strcmp(*g, "server") && strcmp(*g, "pager") &&
		    strcmp(*g, "rmap")) {
			fprintf(stderr, "memxd: %s: unknown group [%s]\n", path, *g);
			return -1;
		}
		for (char **k = keys; k && *k; k++) {
			const struct opt *d = opt_find(*g, *k);
			g_autofree char *val = NULL;

			if (!d) {
				fprintf(stderr, "memxd: %s: [%s] has no key '%s'\n",
					path, *g, *k);
				return -1;
			}
			val = g_key_file_get_string(kf, *g, *k, NULL);
			if (!val || opt_set(o, d, g_strstrip(val), path))
				return -1;
		}
	}
	return 0;
}

int options_load_config(struct memxd_options *o, const char *path,
			bool required)
{
	return load_file(o, path, required);
}

const char *options_config_path(const char *given)
{
	const char *env = getenv("MEMX_CONF");

	if (given)
		return given;
	return env && *env ? env : MEMXD_DEFAULT_CONFIG;
}

int options_load_auth(struct memxd_options *o, char *why, size_t len)
{
	struct rmap_auth *a = &o->rmap.auth;
	const char *key = o->private_key_file ? o->private_key_file
					      : MEMXD_DEFAULT_KEY;
	const char *peers = o->peers_file ? o->peers_file : MEMXD_DEFAULT_PEERS;
	int ret;

	if (o->insecure_no_auth) {
		a->insecure = true;
		return 0;
	}
	a->insecure = false;
	ret = rmap_key_load(key, true, a->private_key, why, len);
	if (ret) {
		if (ret == -ENOENT && !o->private_key_file)
			snprintf(why, len, "no private key in %s: make one "
				 "with memxd --genkey=%s (or name another with "
				 "private-key), or run without authentication "
				 "(insecure-no-auth)", key, key);
		return ret;
	}
	a->have_key = true;
	ret = rmap_peers_load(a, peers, why, len);
	if (ret)
		return ret;
	if (!a->npeers) {
		snprintf(why, len, "%s names no peer: nobody could talk to "
			 "this host", peers);
		return -EINVAL;
	}
	if (o->psk_file) {
		ret = rmap_key_load(o->psk_file, true, a->psk, why, len);
		if (ret)
			return ret;
		a->have_psk = true;
	}
	return 0;
}

int options_genkey(const char *path)
{
	uint8_t priv[RMAP_KEY_LEN], pub[RMAP_KEY_LEN];
	char b64[RMAP_KEY_B64_LEN];
	FILE *f;
	int fd, ret;

	ret = rmap_key_generate(priv);
	if (ret)
		return ret;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		fprintf(stderr, "%s: %s%s\n", path, strerror(-ret),
			ret == -EEXIST ? " (a key is never overwritten)" : "");
		return ret;
	}
	f = fdopen(fd, "w");
	rmap_key_to_base64(priv, b64);
	if (!f || fprintf(f, "%s\n", b64) < 0 || fclose(f)) {
		ret = -errno;
		fprintf(stderr, "%s: %s\n", path, strerror(-ret));
		return ret ? ret : -EIO;
	}
	rmap_key_public(priv, pub);
	rmap_key_to_base64(pub, b64);
	printf("%s\n", b64);
	memset(priv, 0, sizeof(priv));
	return 0;
}

int options_pubkey(const char *path)
{
	uint8_t priv[RMAP_KEY_LEN], pub[RMAP_KEY_LEN];
	char b64[RMAP_KEY_B64_LEN], why[256];
	int ret;

	ret = rmap_key_load(path, true, priv, why, sizeof(why));
	if (ret) {
		fprintf(stderr, "%s\n", why);
		return ret;
	}
	rmap_key_public(priv, pub);
	rmap_key_to_base64(pub, b64);
	printf("%s\n", b64);
	memset(priv, 0, sizeof(priv));
	return 0;
}

void options_usage(FILE *out)
{
	const char *group = "";

	fprintf(out,
		"Usage: memxd [--server] [OPTION]...\n"
		"Serve a VM's page faults from remote memory (pager role), or lend\n"
		"this host's memory to others (--server, store role).\n"
		"Settings also come from memx.conf(5); options override the file.\n");
	for (size_t i = 0; i < G_N_ELEMENTS(opts); i++) {
		const struct opt *d = &opts[i];
		char lhs[64];
		const char *g = d->group ? d->group : "memxd";

		if (strcmp(g, group)) {
			fprintf(out, "\n[%s]\n", g);
			group = g;
		}
		snprintf(lhs, sizeof(lhs), "--%s%s%s", d->name, d->arg ? "=" : "",
			 d->arg ? d->arg : "");
		fprintf(out, "  %-28s %s\n", lhs, d->help);
	}
	fprintf(out, "\n  %-28s %s\n  %-28s %s\n", "--help", "show this help",
		"--version", "show the version");
}

int options_parse(struct memxd_options *o, int argc, char **argv)
{
	struct option lo[G_N_ELEMENTS(opts) + 3];
	bool cmdline_list[G_N_ELEMENTS(opts)] = { false };
	const char *config = NULL;
	size_t n = 0;
	int c, idx;

	for (size_t i = 0; i < G_N_ELEMENTS(opts); i++) {
		lo[n].name = opts[i].name;
		lo[n].has_arg = opts[i].type == OPT_FLAG ? no_argument
							 : required_argument;
		lo[n].flag = NULL;
		lo[n].val = 1000 + (int)i;
		n++;
	}
	lo[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[n++] = (struct option){ "version", no_argument, NULL, 'V' };
	lo[n] = (struct option){ 0 };

	/* First pass: find --config, so the command line can override it. */
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "hV", lo, &idx)) != -1) {
		if (c == 1000 + (int)O_CONFIG_INDEX)
			config = optarg;
		if (c == 'h') {
			options_usage(stdout);
			return 1;
		}
		if (c == 'V') {
			printf("memxd %s\n", PACKAGE_VERSION);
			return 1;
		}
	}
	if (load_file(o, options_config_path(config),
		      config || getenv("MEMX_CONF")))
		return -1;

	opterr = 1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "hV", lo, &idx)) != -1) {
		const struct opt *d;

		if (c < 1000) {
			fprintf(stderr, "Try 'memxd --help'.\n");
			return -1;
		}
		d = &opts[c - 1000];
		/* A list on the command line replaces the file's list. */
		if (d->type == OPT_LIST && !cmdline_list[c - 1000]) {
			char ***list = (char ***)((char *)o + d->off);

			g_strfreev(*list);
			*list = NULL;
			cmdline_list[c - 1000] = true;
		}
		if (opt_set(o, d, optarg, "command line"))
			return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "memxd: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	return 0;
}
