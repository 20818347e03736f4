// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_drain.c - memxctl drain SERVER: ask the pager to move everything
 * off SERVER, then follow it until the server is drained.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../ctl/ctl_client.h"
#include "cli.h"

/*
 * The value of @key in the block of server @name of a get=1 body (the
 * lines after server=@name, up to the next server=).
 */
static bool server_value(const char *body, const char *name, const char *key,
			 char *out, size_t len)
{
	char *copy = strdup(body), *cur = copy, *k, *v;
	bool in = false, found = false;

	while (copy && !found && (k = ctl_kv_next(&cur, &v))) {
		if (!v)
			continue;
		if (!strcmp(k, "server"))
			in = !strcmp(v, name);
		else if (in && !strcmp(k, key)) {
			snprintf(out, len, "%s", v);
			found = true;
		}
	}
	free(copy);
	return found;
}

/* The server= name in @body that is @arg, perhaps written differently. */
static bool server_canonical(const char *body, const char *arg, char *out,
			     size_t len)
{
	struct sockaddr_storage a, b;
	bool have_a = !rmap_parse_addr(arg, RMAP_DEFAULT_PORT, &a);
	char *copy = strdup(body), *cur = copy, *k, *v;
	bool found = false;

	while (copy && !found && (k = ctl_kv_next(&cur, &v))) {
		if (!v || strcmp(k, "server") || strlen(v) >= len)
			continue;
		found = !strcmp(v, arg) ||
			(have_a && !rmap_parse_addr(v, RMAP_DEFAULT_PORT, &b) &&
			 !memcmp(&a, &b, sizeof(a)));
		if (found)
			snprintf(out, len, "%s", v);
	}
	free(copy);
	return found;
}

/*
 * drain SERVER: ask memxd to move everything off SERVER, then follow its
 * progress until the server is drained (told it may leave).
 */
int cmd_drain(struct cli *c, int argc, char **argv)
{
	const char *sock = c->sock;
	char req[320], state[32] = "", groups[32] = "", first[32] = "";
	char name[256];
	uint64_t t0 = evl_now_ns(), last = 0;
	char *body;

	if (argc != 1) {
		fprintf(stderr, "memxctl: drain needs one SERVER, as memxd's "
			"--servers names it\n");
		return 2;
	}
	snprintf(req, sizeof(req), "drain=%s\n\n", argv[0]);
	body = pager_call(sock, req);
	if (!body)
		return 1;
	free(body);
	/* Follow it under the name memxd gives it (ADDR or ADDR:PORT). */
	body = pager_call(sock, "get=1\n\n");
	if (!body)
		return 1;
	if (!server_canonical(body, argv[0], name, sizeof(name))) {
		fprintf(stderr, "memxctl: memxd does not report server %s\n",
			argv[0]);
		free(body);
		return 1;
	}
	free(body);
	argv[0] = name;
	for (;;) {
		uint64_t now = evl_now_ns();

		body = pager_call(sock, "get=1\n\n");
		if (!body)
			return 1;
		if (!server_value(body, argv[0], "server_state", state,
				  sizeof(state)) ||
		    !server_value(body, argv[0], "server_groups", groups,
				  sizeof(groups))) {
			fprintf(stderr, "memxctl: memxd does not report server "
				"%s\n", argv[0]);
			free(body);
			return 1;
		}
		free(body);
		if (!*first)
			snprintf(first, sizeof(first), "%s", groups);
		if (!strcmp(state, "drained")) {
			printf("drain %s: done in %.1f s: %s group slots moved; it "
			       "holds none of our pages and was told it may "
			       "leave\n", argv[0], (double)(now - t0) / 1e9,
			       first);
			return 0;
		}
		if (!strcmp(state, "dead")) {
			fprintf(stderr, "memxctl: drain %s: the server died; its "
				"pages are being rebuilt elsewhere\n", argv[0]);
			return 1;
		}
		if (now - last >= 1000000000ull) {
			printf("drain %s: %s of %s group slots left (%s)\n",
			       argv[0], groups, first, state);
			fflush(stdout);
			last = now;
		}
		usleep(200000);
	}
}
