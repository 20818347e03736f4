// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * memxctl.c - talk to memory servers (RMAP) and to the local pager, for
 * humans and scripts.
 *
 *   memxctl stat HOST...          what each server lends, holds and serves
 *                                 (--prometheus: for an exporter)
 *   memxctl ping HOST [COUNT]     session round trips
 *   memxctl put HOSTS FILE        store FILE's pages, read them back, verify
 *   memxctl status|dump|prometheus|migrations|drain ...
 *                                         the pager's control socket
 *
 * This file is main(): the options, which every command shares, and the
 * table of commands, in the manner of wireguard-tools' wg.c.  Each
 * command is a file of its own (cmd_*.c); cli.h is what they share.
 *
 * A session lives as long as the memxctl that opened it (its pages are
 * freed on exit, or by the server's soft-state expiry if memxctl dies).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "../options.h"

/* In --help's order. */
static const struct cli_command commands[] = {
	{ "stat", cmd_stat, true, "HOST[:PORT]...",
	  "capacity, use, load and sessions\n" },
	{ "ping", cmd_ping, true, "HOST[:PORT] [COUNT]",
	  "session round trips (HEARTBEAT)\n" },
	{ "discover", cmd_discover, true, "[ADDR[:PORT]] [SECONDS]",
	  "list the servers announcing to ADDR\n"
	  "(default 0.0.0.0:7246, 3 seconds)\n" },
	{ "put", cmd_put, true, "HOST[,HOST...] FILE",
	  "store FILE's pages (striped over the\n"
	  "hosts), read them back and verify\n" },
	{ "status", cmd_status, false, "",
	  "the pager's VMs, servers and counters\n"
	  "(memxd's control socket)\n" },
	{ "dump", cmd_dump, false, "",
	  "the same as key=value lines, for scripts\n" },
	{ "prometheus", cmd_prometheus, false, "",
	  "the same in Prometheus text format\n" },
	{ "migrations", cmd_migrations, false, "",
	  "the VMs that live-migrated in or out:\n"
	  "pages sent, remote pages left in place\n" },
	{ "drain", cmd_drain, false, "SERVER",
	  "move every page off SERVER while the\n"
	  "VMs run, then tell it it may leave\n" },
	{ "genkey", cmd_genkey, false, "FILE",
	  "write a new private key to FILE (0600)\n"
	  "and print its public key\n" },
	{ "pubkey", cmd_pubkey, false, "FILE",
	  "print the public key of FILE's key\n" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))
#define HELP_COLUMN 31		/* where the descriptions start */

int parse_num(const char *s, uint64_t *out, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-' || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int parse_uint(const char *s, unsigned *out)
{
	uint64_t v;
	int ret = parse_num(s, &v, UINT32_MAX);

	if (!ret)
		*out = (unsigned)v;
	return ret;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: memxctl [OPTION]... COMMAND [ARG]...\n"
		"Talk to memx memory servers over RMAP.\n\n"
		"Commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const struct cli_command *cmd = &commands[i];
		const char *d = cmd->description;
		int n;

		/* NAME ARGS, then the description's lines in a column. */
		n = fprintf(f, "  %s%s%s", cmd->name, *cmd->args ? " " : "",
			    cmd->args);
		if (n >= HELP_COLUMN) {
			fputc('\n', f);
			n = 0;
		}
		for (const char *nl; (nl = strchr(d, '\n')); d = nl + 1) {
			fprintf(f, "%*s%.*s\n", HELP_COLUMN - n, "",
				(int)(nl - d), d);
			n = 0;
		}
	}
	fprintf(f,
		"\n"
		"Options:\n"
		"  --out=FILE      put: also write the pages read back to FILE\n"
		"  --base=PAGE     put: first page number to use (default 0)\n"
		"  --run=PAGES     put: pages per READ/WRITE (1..256, default 16)\n"
		"  --depth=N       put: requests in flight (default 32)\n"
		"  --progress      show progress on stderr\n"
		"  --prometheus    stat: in Prometheus text format, for a lending\n"
		"                  host's exporter\n"
		"  --socket=PATH   memxd's control socket (default " MEMXD_DEFAULT_SOCKET ")\n"
		"  --config=FILE   read the [rmap] keys of memx.conf(5) from FILE\n"
		"                  (default $MEMX_CONF, or " MEMXD_DEFAULT_CONFIG ")\n"
		"  --private-key=FILE, --peers=FILE, --preshared-key=FILE\n"
		"                  authentication, as for memxd(8)\n"
		"  --insecure-no-auth\n"
		"                  speak RMAP without authentication or encryption\n"
		"  --mtu=BYTES, --window=N, --rto-us=US, --retry-us=US,\n"
		"  --retry-max-us=US, --retries=N, --gap-us=US\n"
		"                  RMAP settings, as for memxd(8)\n"
		"  --help, --version\n");
}

static const struct cli_command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "base", required_argument, NULL, 'b' },
		{ "run", required_argument, NULL, 'r' },
		{ "depth", required_argument, NULL, 'd' },
		{ "progress", no_argument, NULL, 'p' },
		{ "prometheus", no_argument, NULL, 'x' },
		{ "mtu", required_argument, NULL, 'm' },
		{ "window", required_argument, NULL, 'w' },
		{ "retry-us", required_argument, NULL, 't' },
		{ "retries", required_argument, NULL, 'n' },
		{ "gap-us", required_argument, NULL, 'g' },
		{ "rto-us", required_argument, NULL, 'T' },
		{ "retry-max-us", required_argument, NULL, 'M' },
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'C' },
		{ "private-key", required_argument, NULL, 'K' },
		{ "peers", required_argument, NULL, 'P' },
		{ "preshared-key", required_argument, NULL, 'S' },
		{ "insecure-no-auth", no_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	struct cli c = { .depth = 32, .run = 16, .sock = MEMXD_DEFAULT_SOCKET };
	struct rmap_handlers h = { 0 };
	struct sockaddr_in any = { .sin_family = AF_INET };
	const struct cli_command *cmd;
	struct memxd_options o;
	const char *config = NULL, *key = NULL, *peers = NULL, *psk = NULL;
	bool insecure = false;
	char why[512];
	int opt, ret, idx = 0;

	rmap_config_default(&c.cfg);
	options_init(&o);
	while ((opt = getopt_long(argc, argv, "h", lo, &idx)) != -1) {
		bool ok = true;

		switch (opt) {
		case 'o': c.out_path = optarg; break;
		case 'b': ok = !parse_num(optarg, &c.base, UINT64_MAX); break;
		case 'r': ok = !parse_uint(optarg, &c.run); break;
		case 'd': ok = !parse_uint(optarg, &c.depth); break;
		case 'p': c.progress = true; break;
		case 'x': c.prometheus = true; break;
		case 's': c.sock = optarg; break;
		case 'C': config = optarg; break;
		case 'K': key = optarg; break;
		case 'P': peers = optarg; break;
		case 'S': psk = optarg; break;
		case 'I': insecure = true; break;
		case 'm':
			c.cfg.mtu = RMAP_MTU_AUTO;
			ok = !strcmp(optarg, "auto") ||
			     !parse_uint(optarg, &c.cfg.mtu);
			break;
		case 'w': ok = !parse_uint(optarg, &c.cfg.window); break;
		case 'T': ok = !parse_uint(optarg, &c.cfg.rto_us); break;
		case 't': ok = !parse_uint(optarg, &c.cfg.retry_us); break;
		case 'M': ok = !parse_uint(optarg, &c.cfg.retry_max_us); break;
		case 'n': ok = !parse_uint(optarg, &c.cfg.max_retries); break;
		case 'g': ok = !parse_uint(optarg, &c.cfg.gap_us); break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("memxctl %s\n", PACKAGE_VERSION); return 0;
		default: usage(stderr); return 2;
		}
		if (!ok) {
			fprintf(stderr, "memxctl: --%s: '%s' is not a valid "
				"number\n", lo[idx].name, optarg);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	argv += optind;
	argc -= optind;
	cmd = find_command(argv[0]);
	/* Commands for the local pager speak to its control socket only. */
	if (cmd && !cmd->rmap) {
		options_free(&o);
		return cmd->fn(&c, argc - 1, argv + 1);
	}
	if (c.run < 1 || c.run > RMAP_MAX_PAGES || c.depth < 1 ||
	    c.depth > 4096) {
		fprintf(stderr, "memxctl: --run must be 1..256, --depth "
			"1..4096\n");
		return 2;
	}
	/* Authentication: memx.conf's [rmap] keys, then the options. */
	if (options_load_config(&o, options_config_path(config),
				config || getenv("MEMX_CONF")))
		return 2;
#define SET(field, v) do { if (v) { free(o.field); o.field = strdup(v); } } while (0)
	SET(private_key_file, key);
	SET(peers_file, peers);
	SET(psk_file, psk);
#undef SET
	if (insecure)
		o.insecure_no_auth = true;
	if (options_load_auth(&o, why, sizeof(why))) {
		fprintf(stderr, "memxctl: %s\n", why);
		options_free(&o);
		return 2;
	}
	c.cfg.auth = o.rmap.auth;
	if (rmap_config_check(&c.cfg, why, sizeof(why))) {
		fprintf(stderr, "memxctl: %s\n", why);
		options_free(&o);
		return 2;
	}
	/* Discovery listens to ANNOUNCE, which is never authenticated. */
	h.unauth_announce = !strcmp(argv[0], "discover");
	srand((unsigned)(evl_now_ns() ^ (uint64_t)getpid()));
	ret = evl_new(&c.loop, 1024);
	if (ret) {
		fprintf(stderr, "memxctl: io_uring: %s\n", strerror(-ret));
		return 1;
	}
	ret = rmap_ep_open(&c.ep, c.loop, (struct sockaddr *)&any, sizeof(any),
			   &c.cfg, &h);
	if (ret) {
		fprintf(stderr, "memxctl: socket: %s\n", strerror(-ret));
		options_free(&o);
		return 1;
	}
	if (cmd) {
		ret = cmd->fn(&c, argc - 1, argv + 1);
	} else {
		fprintf(stderr, "memxctl: unknown command '%s'\n", argv[0]);
		usage(stderr);
		ret = 2;
	}
	rmap_ep_close(c.ep);
	evl_free(c.loop);
	options_free(&o);
	return ret;
}
