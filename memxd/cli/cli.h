/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli.h - what memxctl's commands share.
 *
 * memxctl.c has main(): the options, the command table and --help.  Each
 * command is a file of its own (cmd_*.c), a function behind the table:
 * those that speak RMAP to memory servers get an endpoint in c->ep, those
 * that ask the local pager use its control socket (c->sock).
 */
#ifndef MEMX_CLI_H
#define MEMX_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "../../rmap/rmap.h"

#define PAGE RMAP_PAGE_SIZE

/* The options, and the RMAP endpoint of the commands that speak RMAP. */
struct cli {
	struct evl *loop;
	struct rmap_ep *ep;
	struct rmap_config cfg;
	const char *sock;	/* memxd's control socket */
	const char *out_path;	/* put --out */
	uint64_t base;		/* put --base */
	unsigned depth;		/* put: requests in flight */
	unsigned run;		/* put: pages per READ/WRITE */
	bool progress;
	bool prometheus;	/* stat: the Prometheus text format */
	int outstanding;	/* put: requests in flight now */
	int errors;		/* put: requests that failed */
};

/* memxctl NAME ARGS...: fn gets ARGS; its return is the exit status. */
struct cli_command {
	const char *name;
	int (*fn)(struct cli *c, int argc, char **argv);
	bool rmap;		/* needs c->loop and c->ep */
	const char *args;	/* for --help */
	const char *description;	/* for --help; lines end with '\n' */
};

int cmd_stat(struct cli *c, int argc, char **argv);
int cmd_ping(struct cli *c, int argc, char **argv);
int cmd_discover(struct cli *c, int argc, char **argv);
int cmd_put(struct cli *c, int argc, char **argv);
int cmd_status(struct cli *c, int argc, char **argv);
int cmd_dump(struct cli *c, int argc, char **argv);
int cmd_migrations(struct cli *c, int argc, char **argv);
int cmd_prometheus(struct cli *c, int argc, char **argv);
int cmd_drain(struct cli *c, int argc, char **argv);
int cmd_genkey(struct cli *c, int argc, char **argv);
int cmd_pubkey(struct cli *c, int argc, char **argv);

/* Numbers in options and arguments: 0 or -EINVAL (memxctl.c). */
int parse_num(const char *s, uint64_t *out, uint64_t max);
int parse_uint(const char *s, unsigned *out);

/* ---- synchronous RMAP calls, for the simple commands (rmap_sync.c) ---- */

/* A memory server, and memxctl's session there. */
struct srv {
	const char *name;
	struct rmap_peer *peer;
	uint32_t session;
	unsigned heartbeat_ms;
};

struct sync_call {
	bool done;
	int err;
	uint8_t status;
	uint32_t session;
	uint32_t len;
};

/* Send @req to @s and run the loop until its answer: 0 or -errno. */
int call_sync(struct cli *c, struct srv *s, const struct rmap_req *req,
	      void *buf, uint32_t cap, struct sync_call *sc);
/* Resolve @name; says why on stderr. */
int srv_open(struct cli *c, struct srv *s, const char *name);
/* Open a session on @s (REG); says why on stderr. */
int srv_register(struct cli *c, struct srv *s);
/* Close it (UNREG), freeing its pages. */
void srv_unregister(struct cli *c, struct srv *s);

/* ---- the pager's control socket (cmd_status.c) ---- */

/*
 * Send @request to memxd's control socket at @sock: the reply's body
 * (after its errno=0 line), to be freed, or NULL after saying why on
 * stderr.
 */
char *pager_call(const char *sock, const char *request);

#endif
