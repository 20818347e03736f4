// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_status.c - memxctl status, dump, prometheus and migrations: the
 * pager's state, asked on its control socket; and pager_call(), which
 * drain uses too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ctl/ctl_client.h"
#include "cli.h"

char *pager_call(const char *sock, const char *request)
{
	char why[512], *reply, *body;
	int ret = ctl_call(sock, request, &reply, CTL_NO_DEADLINE, why,
			   sizeof(why));

	if (ret) {
		if (reply)
			fprintf(stderr, "memxctl: memxd answered: %s", reply);
		else
			fprintf(stderr, "memxctl: %s\n", why);
		free(reply);
		return NULL;
	}
	/* ctl_status() saw errno=0 on the first line: drop it. */
	body = strchr(reply, '\n') + 1;
	memmove(reply, body, strlen(body) + 1);
	return reply;
}

/* Print a reply's @body (and free it): as it is, or for people. */
static int print_body(char *body, bool raw)
{
	bool in_block = false;

	if (raw) {
		fputs(body, stdout);
		free(body);
		return 0;
	}
	/* Human form: global lines, then a block per server and VM. */
	for (char *line = strtok(body, "\n"); line; line = strtok(NULL, "\n")) {
		bool head = !strncmp(line, "vm=", 3) ||
			    !strncmp(line, "server=", 7) ||
			    !strncmp(line, "migration=", 10);

		if (!strcmp(line, "ctl_role=vmm")) {
			/* memxd shows a VMM's uid its own VMs only. */
			printf("%s (not an admin of memxd: only the VMs this "
			       "uid registered are shown)\n", line);
			continue;
		}
		if (head) {
			printf("\n%s\n", line);
			in_block = true;
		} else if (!strncmp(line, "rmap_", 5)) {
			if (in_block)
				printf("\n");
			printf("%s\n", line);
			in_block = false;
		} else {
			printf("%s%s\n", in_block ? "  " : "", line);
		}
	}
	free(body);
	return 0;
}

static int pager_query(const char *sock, const char *request, bool raw)
{
	char *body = pager_call(sock, request);

	return body ? print_body(body, raw) : 1;
}

/* The pager's commands ignore further arguments. */
int cmd_status(struct cli *c, int argc, char **argv)
{
	return pager_query(c->sock, "get=1\n\n", false);
}

int cmd_dump(struct cli *c, int argc, char **argv)
{
	return pager_query(c->sock, "get=1\n\n", true);
}

int cmd_prometheus(struct cli *c, int argc, char **argv)
{
	return pager_query(c->sock, "get=prometheus\n\n", true);
}

/* Every live migration memxd keeps a record of, in or out. */
int cmd_migrations(struct cli *c, int argc, char **argv)
{
	char *body = pager_call(c->sock, "get=migrations\n\n");

	if (!body)
		return 1;
	if (!strchr(body, '=')) {
		printf("no live migration on record (memxd keeps the last 32, "
		       "in or out, until it restarts; their reports stay in "
		       "its report directory)\n");
		free(body);
		return 0;
	}
	return print_body(body, false);
}
