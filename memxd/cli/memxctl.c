// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * memxctl.c - talk to memory servers (RMAP) for humans and scripts.
 *
 *   memxctl stat HOST...          what each server lends, holds and serves
 *   memxctl ping HOST [COUNT]     session round trips
 *   memxctl put HOSTS FILE        store FILE's pages, read them back, verify
 *
 * A session lives as long as the memxctl that opened it (its pages are
 * freed on exit, or by the server's soft-state expiry if memxctl dies),
 * so `put` stores and fetches in one run: it is a round trip of real
 * data through real servers, checked page by page.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../rmap/rmap.h"
#include "config.h"
#include "../options.h"

#define PAGE RMAP_PAGE_SIZE

struct ctl {
	struct evl *loop;
	struct rmap_ep *ep;
	struct rmap_config cfg;
	unsigned depth;		/* requests in flight */
	unsigned run;		/* pages per READ/WRITE */
	bool progress;
	int outstanding;
	int errors;
};

struct srv {
	const char *name;
	struct rmap_peer *peer;
	uint32_t session;
	unsigned heartbeat_ms;
};

static int parse_num(const char *s, uint64_t *out, uint64_t max)
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

static int parse_uint(const char *s, unsigned *out)
{
	uint64_t v;
	int ret = parse_num(s, &v, UINT32_MAX);

	if (!ret)
		*out = (unsigned)v;
	return ret;
}

/* ---- synchronous calls, for the simple verbs ---- */

struct sync_call {
	bool done;
	int err;
	uint8_t status;
	uint32_t session;
	uint32_t len;
};

static void sync_done(void *arg, int err, const struct rmap_msg *m)
{
	struct sync_call *sc = arg;

	sc->done = true;
	sc->err = err;
	if (m) {
		sc->status = m->status;
		sc->session = m->session;
		sc->len = m->len;
	}
}

static int call_sync(struct ctl *c, struct srv *s, const struct rmap_req *req,
		     void *buf, uint32_t cap, struct sync_call *sc)
{
	int ret;

	memset(sc, 0, sizeof(*sc));
	ret = rmap_call(c->ep, s->peer, req, buf, cap, sync_done, sc);
	if (ret)
		return ret;
	while (!sc->done) {
		ret = evl_run_once(c->loop, -1);
		if (ret < 0)
			return ret;
	}
	return sc->err;
}

static int srv_open(struct ctl *c, struct srv *s, const char *name)
{
	struct sockaddr_storage addr;
	int ret;

	s->name = name;
	ret = rmap_parse_addr(name, RMAP_DEFAULT_PORT, &addr);
	if (ret) {
		fprintf(stderr, "memxctl: cannot resolve '%s'\n", name);
		return ret;
	}
	s->peer = rmap_peer_get(c->ep, &addr);
	return s->peer ? 0 : -ENOMEM;
}

static int srv_register(struct ctl *c, struct srv *s)
{
	uint8_t nonce[RMAP_REG_LEN], reply[16];
	struct iovec iov = { nonce, sizeof(nonce) };
	struct rmap_req req = { .type = RMAP_T_REG, .iov = &iov, .iovcnt = 1 };
	struct sync_call sc;
	uint32_t hb;
	int ret;

	for (unsigned i = 0; i < sizeof(nonce); i++)
		nonce[i] = (uint8_t)rand();
	ret = call_sync(c, s, &req, reply, sizeof(reply), &sc);
	if (ret) {
		fprintf(stderr, "memxctl: %s: %s\n", s->name,
			ret == -EHOSTUNREACH ? "peer unreachable (no answer "
			"after all retries)" : strerror(-ret));
		return ret;
	}
	if (sc.status) {
		fprintf(stderr, "memxctl: %s refused the session: %s\n",
			s->name, rmap_status_name(sc.status));
		return -EPERM;
	}
	s->session = sc.session;
	memcpy(&hb, reply, sizeof(hb));
	s->heartbeat_ms = sc.len >= 4 ? ntohl(hb) : 1000;
	return 0;
}

static void srv_unregister(struct ctl *c, struct srv *s)
{
	struct rmap_req req = { .type = RMAP_T_UNREG, .session = s->session };
	struct sync_call sc;

	if (s->session)
		call_sync(c, s, &req, NULL, 0, &sc);
	s->session = 0;
}

/* ---- the pager's control socket ---- */

/* Send one request to memxd's control socket and print its reply. */
/*
 * Send @request to memxd's control socket; the reply's body (after
 * "errno=0"), to be freed, or NULL after saying why on stderr.
 */
static char *ctl_call(const char *path, const char *request)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	bool complete = false;
	int fd;

	if (!buf)
		return NULL;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "memxctl: socket path too long\n");
		free(buf);
		return NULL;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "memxctl: cannot reach memxd at %s: %s\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		free(buf);
		return NULL;
	}
	if (write(fd, request, strlen(request)) != (ssize_t)strlen(request))
		goto fail;
	/* The reply ends with an empty line. */
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap) {
			char *more = realloc(buf, cap * 2);

			if (!more)
				goto fail;
			buf = more;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = 0;
		if (len >= 2 && !strcmp(buf + len - 2, "\n\n")) {
			complete = true;
			break;
		}
	}
	buf[len] = 0;
	if (!complete) {
		fprintf(stderr, "memxctl: memxd closed the connection before "
			"its reply was complete\n");
		goto fail;
	}
	buf[len - 1] = 0;	/* drop the closing empty line */
	if (strncmp(buf, "errno=0\n", 8)) {
		fprintf(stderr, "memxctl: memxd answered: %s", buf);
		goto fail;
	}
	close(fd);
	memmove(buf, buf + 8, len - 8 + 1);
	return buf;
fail:
	close(fd);
	free(buf);
	return NULL;
}

static int ctl_query(const char *path, const char *request, bool raw)
{
	char *body = ctl_call(path, request);
	bool in_block = false;

	if (!body)
		return 1;
	if (raw) {
		fputs(body, stdout);
		free(body);
		return 0;
	}
	/* Human form: global lines, then a block per server and VM. */
	for (char *line = strtok(body, "\n"); line; line = strtok(NULL, "\n")) {
		bool head = !strncmp(line, "vm=", 3) ||
			    !strncmp(line, "server=", 7);

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

/* The value of @key in the block of server @name in a get=1 body. */
static bool server_value(const char *body, const char *name, const char *key,
			 char *out, size_t len)
{
	char head[300];
	const char *blk, *end;
	size_t klen = strlen(key);

	snprintf(head, sizeof(head), "server=%s\n", name);
	blk = strstr(body, head);
	if (!blk)
		return false;
	blk += strlen(head);
	end = strstr(blk, "server=");
	for (const char *l = blk; l && *l && (!end || l < end);) {
		const char *nl = strchr(l, '\n');

		if (!strncmp(l, key, klen) && l[klen] == '=') {
			size_t n = (size_t)((nl ? nl : l + strlen(l)) - (l + klen + 1));

			snprintf(out, len, "%.*s", (int)n, l + klen + 1);
			return true;
		}
		l = nl ? nl + 1 : NULL;
	}
	return false;
}

/* The server= name in @body that is @arg, perhaps written differently. */
static bool server_canonical(const char *body, const char *arg, char *out,
			     size_t len)
{
	struct sockaddr_storage a, b;
	bool have_a = !rmap_parse_addr(arg, RMAP_DEFAULT_PORT, &a);

	for (const char *l = body; l && *l;) {
		const char *nl = strchr(l, '\n');
		size_t n = nl ? (size_t)(nl - l) : strlen(l);

		if (!strncmp(l, "server=", 7) && n - 7 < len) {
			snprintf(out, len, "%.*s", (int)(n - 7), l + 7);
			if (!strcmp(out, arg) ||
			    (have_a && !rmap_parse_addr(out, RMAP_DEFAULT_PORT,
							&b) &&
			     !memcmp(&a, &b, sizeof(a))))
				return true;
		}
		l = nl ? nl + 1 : NULL;
	}
	return false;
}

/*
 * drain SERVER: ask memxd to move everything off SERVER, then follow its
 * progress until the server is drained (told it may leave).
 */
static int cmd_drain(const char *sock, int argc, char **argv)
{
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
	body = ctl_call(sock, req);
	if (!body)
		return 1;
	free(body);
	/* Follow it under the name memxd gives it (ADDR or ADDR:PORT). */
	body = ctl_call(sock, "get=1\n\n");
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

		body = ctl_call(sock, "get=1\n\n");
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

/* ---- stat ---- */

static int cmd_stat(struct ctl *c, int argc, char **argv)
{
	int failed = 0;

	if (argc < 1) {
		fprintf(stderr, "usage: memxctl stat HOST[:PORT]...\n");
		return 2;
	}
	for (int i = 0; i < argc; i++) {
		struct rmap_req req = { .type = RMAP_T_STAT };
		uint8_t buf[RMAP_STAT_LEN];
		struct rmap_stat st;
		struct sync_call sc;
		struct srv s = { 0 };
		int ret;

		if (srv_open(c, &s, argv[i])) {
			failed = 1;
			continue;
		}
		ret = call_sync(c, &s, &req, buf, sizeof(buf), &sc);
		if (ret || sc.status || rmap_stat_decode(buf, sc.len, &st)) {
			fprintf(stderr, "memxctl: %s: %s\n", argv[i],
				ret == -EHOSTUNREACH ? "unreachable" :
				ret ? strerror(-ret) : "bad STAT reply");
			failed = 1;
			continue;
		}
		printf("server=%s capacity_pages=%lu used_pages=%lu "
		       "free_MiB=%lu load_permille=%u sessions=%u srtt_us=%u "
		       "leaving=%u\n",
		       rmap_peer_name(s.peer), (unsigned long)st.capacity_pages,
		       (unsigned long)st.used_pages,
		       (unsigned long)((st.capacity_pages - st.used_pages) *
				       PAGE >> 20),
		       st.load_permille, st.sessions,
		       rmap_peer_srtt_us(s.peer),
		       st.flags & RMAP_STAT_LEAVING ? 1u : 0u);
	}
	return failed;
}

/* ---- discover: listen for ANNOUNCE ---- */

struct heard {
	struct sockaddr_storage from;
	struct rmap_stat st;
	unsigned times;
};

struct discovery {
	struct heard h[64];
	unsigned n;
};

static void on_announce(struct rmap_ep *ep, const struct sockaddr_storage *from,
			const struct rmap_stat *st, void *arg)
{
	struct discovery *d = arg;
	char name[64];

	(void)ep;
	for (unsigned i = 0; i < d->n; i++) {
		if (!memcmp(&d->h[i].from, from, sizeof(*from))) {
			d->h[i].st = *st;
			d->h[i].times++;
			return;
		}
	}
	if (d->n == G_N_ELEMENTS(d->h))
		return;
	d->h[d->n].from = *from;
	d->h[d->n].st = *st;
	d->h[d->n].times = 1;
	d->n++;
	fprintf(stderr, "heard %s\n", rmap_format_addr(from, name, sizeof(name)));
}

/*
 * Memory servers announce themselves (memxd --announce-to, to a unicast
 * or broadcast address).  Listen where they announce to and list them.
 */
static int cmd_discover(struct ctl *c, int argc, char **argv)
{
	struct discovery d = { .n = 0 };
	struct rmap_handlers h = { .announce = on_announce, .arg = &d };
	struct sockaddr_storage addr;
	struct rmap_ep *ep;
	unsigned secs = 3;
	uint64_t end;
	int ret;

	if (argc > 2 || (argc == 2 && (parse_uint(argv[1], &secs) || !secs))) {
		fprintf(stderr, "usage: memxctl discover [ADDR[:PORT]] [SECONDS]\n");
		return 2;
	}
	if (rmap_parse_addr(argc ? argv[0] : "0.0.0.0", RMAP_DEFAULT_PORT,
			    &addr)) {
		fprintf(stderr, "memxctl: cannot parse '%s'\n", argv[0]);
		return 2;
	}
	ret = rmap_ep_open(&ep, c->loop, (struct sockaddr *)&addr,
			   addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						      : sizeof(struct sockaddr_in),
			   &c->cfg, &h);
	if (ret) {
		fprintf(stderr, "memxctl: cannot listen for announcements: %s\n",
			strerror(-ret));
		return 1;
	}
	end = evl_now_ns() + (uint64_t)secs * 1000000000ull;
	while (evl_now_ns() < end)
		evl_run_once(c->loop, (int64_t)(end - evl_now_ns()));
	for (unsigned i = 0; i < d.n; i++) {
		struct sockaddr_storage srv = d.h[i].from;
		char name[64];

		/* Announcements come from the RMAP socket, but say its port. */
		if (srv.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&srv)->sin6_port = htons(d.h[i].st.port);
		else
			((struct sockaddr_in *)&srv)->sin_port = htons(d.h[i].st.port);
		printf("server=%s capacity_pages=%lu used_pages=%lu "
		       "load_permille=%u sessions=%u announcements=%u\n",
		       rmap_format_addr(&srv, name, sizeof(name)),
		       (unsigned long)d.h[i].st.capacity_pages,
		       (unsigned long)d.h[i].st.used_pages,
		       d.h[i].st.load_permille, d.h[i].st.sessions,
		       d.h[i].times);
	}
	rmap_ep_close(ep);
	return d.n ? 0 : 1;
}

/* ---- ping ---- */

static int cmd_ping(struct ctl *c, int argc, char **argv)
{
	struct srv s = { 0 };
	unsigned count = 5;
	int ret;

	if (argc < 1 || argc > 2 || (argc == 2 && (parse_uint(argv[1], &count) ||
						   !count))) {
		fprintf(stderr, "usage: memxctl ping HOST[:PORT] [COUNT]\n");
		return 2;
	}
	if (srv_open(c, &s, argv[0]) || srv_register(c, &s))
		return 1;
	for (unsigned i = 0; i < count; i++) {
		struct rmap_req req = { .type = RMAP_T_HEARTBEAT,
					.session = s.session };
		struct sync_call sc;
		uint64_t t0 = evl_now_ns();

		ret = call_sync(c, &s, &req, NULL, 0, &sc);
		if (ret || sc.status) {
			fprintf(stderr, "memxctl: %s: %s\n", s.name, ret ?
				strerror(-ret) : rmap_status_name(sc.status));
			return 1;
		}
		printf("%s: session %08x seq=%u time=%.1f us\n", s.name,
		       s.session, i, (double)(evl_now_ns() - t0) / 1000.0);
	}
	srv_unregister(c, &s);
	return 0;
}

/* ---- put: pipelined store, fetch and verify ---- */

struct xfer {
	struct ctl *c;
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
	struct ctl *c = x->c;

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

static int xfer_start(struct ctl *c, struct srv *s, uint8_t type,
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

static void hb_all(struct ctl *c, struct srv *srvs, unsigned n,
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
static int put_phase(struct ctl *c, struct srv *srvs, unsigned nsrv,
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

static int cmd_put(struct ctl *c, int argc, char **argv, const char *out_path,
		   uint64_t base)
{
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

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: memxctl [OPTION]... COMMAND [ARG]...\n"
		"Talk to memx memory servers over RMAP.\n\n"
		"Commands:\n"
		"  stat HOST[:PORT]...          capacity, use, load and sessions\n"
		"  ping HOST[:PORT] [COUNT]     session round trips (HEARTBEAT)\n"
		"  discover [ADDR[:PORT]] [SECONDS]\n"
		"                               list the servers announcing to ADDR\n"
		"                               (default 0.0.0.0:7246, 3 seconds)\n"
		"  put HOST[,HOST...] FILE      store FILE's pages (striped over the\n"
		"                               hosts), read them back and verify\n"
		"  status                       the pager's VMs, servers and counters\n"
		"                               (memxd's control socket)\n"
		"  dump                         the same as key=value lines, for scripts\n"
		"  prometheus                   the same in Prometheus text format\n"
		"  drain SERVER                 move every page off SERVER while the\n"
		"                               VMs run, then tell it it may leave\n\n"
		"Options:\n"
		"  --out=FILE      put: also write the pages read back to FILE\n"
		"  --base=PAGE     put: first page number to use (default 0)\n"
		"  --run=PAGES     put: pages per READ/WRITE (1..256, default 16)\n"
		"  --depth=N       put: requests in flight (default 32)\n"
		"  --progress      show progress on stderr\n"
		"  --socket=PATH   memxd's control socket (default " MEMXD_DEFAULT_SOCKET ")\n"
		"  --mtu=BYTES, --window=N, --rto-us=US, --retry-us=US,\n"
		"  --retry-max-us=US, --retries=N, --gap-us=US\n"
		"                  RMAP settings, as for memxd(8)\n"
		"  --help, --version\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "base", required_argument, NULL, 'b' },
		{ "run", required_argument, NULL, 'r' },
		{ "depth", required_argument, NULL, 'd' },
		{ "progress", no_argument, NULL, 'p' },
		{ "mtu", required_argument, NULL, 'm' },
		{ "window", required_argument, NULL, 'w' },
		{ "retry-us", required_argument, NULL, 't' },
		{ "retries", required_argument, NULL, 'n' },
		{ "gap-us", required_argument, NULL, 'g' },
		{ "rto-us", required_argument, NULL, 'T' },
		{ "retry-max-us", required_argument, NULL, 'M' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	struct ctl c = { .depth = 32, .run = 16 };
	struct rmap_handlers h = { 0 };
	struct sockaddr_in any = { .sin_family = AF_INET };
	const char *out_path = NULL, *why;
	const char *sock = MEMXD_DEFAULT_SOCKET;
	uint64_t base = 0;
	int opt, ret, idx = 0;

	rmap_config_default(&c.cfg);
	while ((opt = getopt_long(argc, argv, "h", lo, &idx)) != -1) {
		bool ok = true;

		switch (opt) {
		case 'o': out_path = optarg; break;
		case 'b': ok = !parse_num(optarg, &base, UINT64_MAX); break;
		case 'r': ok = !parse_uint(optarg, &c.run); break;
		case 'd': ok = !parse_uint(optarg, &c.depth); break;
		case 'p': c.progress = true; break;
		case 's': sock = optarg; break;
		case 'm': ok = !parse_uint(optarg, &c.cfg.mtu); break;
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
	/* Verbs for the local pager speak to its control socket. */
	if (!strcmp(argv[optind], "status"))
		return ctl_query(sock, "get=1\n\n", false);
	if (!strcmp(argv[optind], "dump"))
		return ctl_query(sock, "get=1\n\n", true);
	if (!strcmp(argv[optind], "prometheus"))
		return ctl_query(sock, "get=prometheus\n\n", true);
	if (!strcmp(argv[optind], "drain"))
		return cmd_drain(sock, argc - optind - 1, argv + optind + 1);
	if (c.run < 1 || c.run > RMAP_MAX_PAGES || c.depth < 1 ||
	    c.depth > 4096) {
		fprintf(stderr, "memxctl: --run must be 1..256, --depth "
			"1..4096\n");
		return 2;
	}
	if (rmap_config_check(&c.cfg, &why)) {
		fprintf(stderr, "memxctl: %s\n", why);
		return 2;
	}
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
		return 1;
	}
	argv += optind;
	argc -= optind;
	if (!strcmp(argv[0], "stat"))
		ret = cmd_stat(&c, argc - 1, argv + 1);
	else if (!strcmp(argv[0], "ping"))
		ret = cmd_ping(&c, argc - 1, argv + 1);
	else if (!strcmp(argv[0], "discover"))
		ret = cmd_discover(&c, argc - 1, argv + 1);
	else if (!strcmp(argv[0], "put"))
		ret = cmd_put(&c, argc - 1, argv + 1, out_path, base);
	else {
		fprintf(stderr, "memxctl: unknown command '%s'\n", argv[0]);
		usage(stderr);
		ret = 2;
	}
	rmap_ep_close(c.ep);
	evl_free(c.loop);
	return ret;
}
