// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_put.c - memxctl put HOSTS FILE: store FILE's pages (runs striped
 * over the hosts, pipelined), read them back and verify every page.
 *
 * A session lives as long as the memxctl that opened it, so put stores
 * and fetches in one run: a round trip of real data through real
 * servers, checked page by page.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

struct xfer {
	struct cli *c;
	struct srv *s;
	uint64_t page;		/* page number on the server */
	uint32_t count;
	uint8_t *data;		/* where the pages are (WRITE) or go (READ) */
	uint8_t type;
	int *result;
};

static void xfer_done(void *arg, int err, const struct rmap_msg *m)
{
	struct xfer *x = arg;
	struct cli *c = x->c;

	c->outstanding--;
	if (err || m->status) {
		fprintf(stderr, "memxctl: %s of %u pages at %lu on %s: %s\n",
			rmap_type_name(x->type), x->count,
			(unsigned long)x->page, x->s->name,
			err ? strerror(-err) : rmap_status_name(m->status));
		c->errors++;
	}
	free(x);
}

static int xfer_start(struct cli *c, struct srv *s, uint8_t type,
		      uint64_t page, uint32_t count, uint8_t *data)
{
	struct xfer *x = calloc(1, sizeof(*x));
	struct iovec iov = { data, (size_t)count * PAGE };
	struct rmap_req req = { .type = type, .session = s->session,
				.page = page, .count = count };
	int ret;

	if (!x)
		return -ENOMEM;
	*x = (struct xfer){ c, s, page, count, data, type, NULL };
	if (type == RMAP_T_WRITE) {
		req.iov = &iov;
		req.iovcnt = 1;
	}
	ret = rmap_call(c->ep, s->peer, &req, data,
			type == RMAP_T_READ ? count * PAGE : 0, xfer_done, x);
	if (ret) {
		free(x);
		return ret;
	}
	c->outstanding++;
	return 0;
}

static void hb_all(struct cli *c, struct srv *srvs, unsigned n,
		   uint64_t *last_ns)
{
	uint64_t now = evl_now_ns();

	if (now - *last_ns < (uint64_t)srvs[0].heartbeat_ms * 1000000ull / 2)
		return;
	*last_ns = now;
	for (unsigned i = 0; i < n; i++) {
		struct rmap_req req = { .type = RMAP_T_HEARTBEAT,
					.session = srvs[i].session };
		struct xfer *x = calloc(1, sizeof(*x));

		if (!x)
			continue;
		*x = (struct xfer){ c, &srvs[i], 0, 0, NULL,
				    RMAP_T_HEARTBEAT, NULL };
		if (rmap_call(c->ep, srvs[i].peer, &req, NULL, 0, xfer_done,
			      x) == 0)
			c->outstanding++;
		else
			free(x);
	}
}

static uint64_t page_sum(const uint8_t *p)
{
	uint64_t h = 1469598103934665603ull;
	const uint64_t *w = (const uint64_t *)p;

	for (unsigned i = 0; i < PAGE / 8; i++)
		h = (h ^ w[i]) * 1099511628211ull;
	return h;
}

/* Run one phase (all WRITEs or all READs) over every page. */
static int put_phase(struct cli *c, struct srv *srvs, unsigned nsrv,
		     uint8_t type, uint8_t *buf, uint64_t npages,
		     uint64_t base)
{
	uint64_t next = 0, t0 = evl_now_ns(), hb_ns = t0, shown = 0;
	const char *what = type == RMAP_T_WRITE ? "stored" : "fetched";

	while (next < npages || c->outstanding > 0) {
		while (next < npages && c->outstanding < (int)c->depth &&
		       !c->errors) {
			uint64_t run_idx = next / c->run;
			uint32_t n = (uint32_t)(npages - next < c->run ?
						npages - next : c->run);
			struct srv *s = &srvs[run_idx % nsrv];
			int ret;

			ret = xfer_start(c, s, type, base + next, n,
					 buf + next * PAGE);
			if (ret) {
				fprintf(stderr, "memxctl: %s\n", strerror(-ret));
				c->errors++;
				break;
			}
			next += n;
		}
		if (c->errors && c->outstanding == 0)
			break;
		if (evl_run_once(c->loop, 100000000) < 0)
			return -1;
		hb_all(c, srvs, nsrv, &hb_ns);
		if (c->progress && next - shown >= 2000) {
			shown = next;
			fprintf(stderr, "\r  %s %lu/%lu pages", what,
				(unsigned long)next, (unsigned long)npages);
		}
	}
	if (c->progress)
		fprintf(stderr, "\r  %s %lu/%lu pages in %.2f s\n", what,
			(unsigned long)next, (unsigned long)npages,
			(double)(evl_now_ns() - t0) / 1e9);
	return c->errors ? -1 : 0;
}

int cmd_put(struct cli *c, int argc, char **argv)
{
	const char *out_path = c->out_path;
	uint64_t base = c->base;
	struct srv *srvs = NULL;
	char **hosts = NULL;
	unsigned nsrv = 0;
	uint8_t *in = NULL, *back = NULL;
	uint64_t npages, bad = 0, t0, t1, t2;
	struct stat stbuf;
	int fd = -1, ret = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: memxctl put HOST[,HOST...] FILE "
			"[--out OUT] [--base PAGE]\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &stbuf) < 0) {
		fprintf(stderr, "memxctl: %s: %s\n", argv[1], strerror(errno));
		goto out;
	}
	npages = ((uint64_t)stbuf.st_size + PAGE - 1) / PAGE;
	if (!npages) {
		fprintf(stderr, "memxctl: %s is empty\n", argv[1]);
		goto out;
	}
	in = aligned_alloc(PAGE, npages * PAGE);
	back = aligned_alloc(PAGE, npages * PAGE);
	if (!in || !back) {
		fprintf(stderr, "memxctl: out of memory for %lu pages\n",
			(unsigned long)npages);
		goto out;
	}
	memset(in + npages * PAGE - PAGE, 0, PAGE);	/* pad the tail */
	for (uint64_t off = 0; off < (uint64_t)stbuf.st_size;) {
		ssize_t n = pread(fd, in + off, (size_t)stbuf.st_size - off,
				  (off_t)off);

		if (n <= 0) {
			fprintf(stderr, "memxctl: reading %s failed\n", argv[1]);
			goto out;
		}
		off += (uint64_t)n;
	}
	memset(back, 0xa5, npages * PAGE);

	/* HOSTS is a comma-separated list; runs are striped over them. */
	{
		char *list = strdup(argv[0]), *tok, *save = NULL;

		for (tok = strtok_r(list, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save)) {
			hosts = realloc(hosts, (nsrv + 1) * sizeof(*hosts));
			hosts[nsrv++] = strdup(tok);
		}
		free(list);
	}
	srvs = calloc(nsrv, sizeof(*srvs));
	for (unsigned i = 0; i < nsrv; i++)
		if (srv_open(c, &srvs[i], hosts[i]) ||
		    srv_register(c, &srvs[i]))
			goto out_unreg;

	t0 = evl_now_ns();
	if (put_phase(c, srvs, nsrv, RMAP_T_WRITE, in, npages, base))
		goto out_unreg;
	t1 = evl_now_ns();
	if (put_phase(c, srvs, nsrv, RMAP_T_READ, back, npages, base))
		goto out_unreg;
	t2 = evl_now_ns();

	for (uint64_t i = 0; i < npages; i++) {
		if (page_sum(in + i * PAGE) != page_sum(back + i * PAGE) ||
		    memcmp(in + i * PAGE, back + i * PAGE, PAGE)) {
			if (bad < 10)
				fprintf(stderr, "memxctl: page %lu differs\n",
					(unsigned long)i);
			bad++;
		}
	}
	if (out_path) {
		int ofd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			       0644);

		if (ofd < 0 || write(ofd, back, (size_t)stbuf.st_size) !=
		    stbuf.st_size) {
			fprintf(stderr, "memxctl: %s: %s\n", out_path,
				strerror(errno));
			bad++;
		}
		if (ofd >= 0)
			close(ofd);
	}
	printf("put: pages=%lu servers=%u verified=%lu mismatches=%lu "
	       "write_MiBps=%.1f read_MiBps=%.1f retransmits=%lu\n",
	       (unsigned long)npages, nsrv, (unsigned long)(npages - bad),
	       (unsigned long)bad,
	       (double)(npages * PAGE) / (1 << 20) / ((double)(t1 - t0) / 1e9),
	       (double)(npages * PAGE) / (1 << 20) / ((double)(t2 - t1) / 1e9),
	       (unsigned long)(rmap_ep_counters(c->ep)->retransmits +
			       rmap_ep_counters(c->ep)->fast_retransmits));
	ret = bad ? 1 : 0;
out_unreg:
	for (unsigned i = 0; i < nsrv; i++)
		if (srvs[i].peer && srvs[i].session)
			srv_unregister(c, &srvs[i]);
out:
	if (ret && !bad)
		fprintf(stderr, "memxctl: put failed\n");
	for (unsigned i = 0; i < nsrv; i++)
		free(hosts[i]);
	free(hosts);
	free(srvs);
	free(in);
	free(back);
	if (fd >= 0)
		close(fd);
	return ret;
}
