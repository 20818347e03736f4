// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rmap_bench.c - 4 KiB READ over RMAP against a TCP baseline.
 *
 *   rmap_bench tcp-server PORT
 *	a minimal TCP page server: each 8-byte request (a page number) is
 *	answered with 4096 bytes; pipelined requests are answered in order,
 *	as many per writev() as have arrived.  TCP_NODELAY.
 *
 *   rmap_bench client RMAP_HOST[:PORT] TCP_HOST:PORT [OPTION]...
 *	against a running `memxd --server`, in one run:
 *	- READ round-trip latency, one request outstanding (p50, p99);
 *	- pipelined READ throughput, DEPTH requests in flight, with the
 *	  window at its default and at 1;
 *	- the same two for TCP on the same link;
 *	then the ratios, and one summary line last.
 *
 * This is a benchmark, not a test: it only fails if something breaks.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <malloc.h>
#include <getopt.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "memxd/options.h"
#include "rmap/rmap.h"

#define PAGE		RMAP_PAGE_SIZE
#define TCP_REQ_LEN	8u
#define TCP_BATCH	64u

struct bench_opts {
	unsigned mtu;
	unsigned pages;		/* working set written, then read */
	unsigned lat_iters;	/* latency samples */
	unsigned depth;		/* requests in flight when pipelined */
	double secs;		/* per throughput run */
	double secs_window1;
};

static double now_s(void)
{
	return (double)evl_now_ns() / 1e9;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct_us(uint64_t *ns, unsigned n, double pct)
{
	unsigned i = (unsigned)(pct / 100.0 * (n - 1) + 0.5);

	qsort(ns, n, sizeof(*ns), cmp_u64);
	return (double)ns[i] / 1000.0;
}

/* ---- the TCP baseline server ---- */

static int full_write(int fd, struct iovec *iov, int cnt)
{
	while (cnt > 0) {
		ssize_t n = writev(fd, iov, cnt);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static void tcp_serve_conn(int fd, const uint8_t *pages, unsigned npages)
{
	uint8_t req[TCP_BATCH * TCP_REQ_LEN];
	size_t have = 0;

	for (;;) {
		struct iovec iov[TCP_BATCH];
		ssize_t n = read(fd, req + have, sizeof(req) - have);
		unsigned k;

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		have += (size_t)n;
		for (k = 0; k < have / TCP_REQ_LEN; k++) {
			uint64_t pg;

			memcpy(&pg, req + k * TCP_REQ_LEN, sizeof(pg));
			iov[k].iov_base = (void *)(pages +
					(be64toh(pg) % npages) * PAGE);
			iov[k].iov_len = PAGE;
		}
		if (k && full_write(fd, iov, (int)k))
			break;
		memmove(req, req + k * TCP_REQ_LEN, have - k * TCP_REQ_LEN);
		have -= k * TCP_REQ_LEN;
	}
	close(fd);
}

static int cmd_tcp_server(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	const unsigned npages = 4096;
	uint8_t *pages;
	int lfd, one = 1;

	if (argc != 1) {
		fprintf(stderr, "usage: rmap_bench tcp-server PORT\n");
		return 2;
	}
	pages = malloc((size_t)npages * PAGE);
	if (!pages)
		return 1;
	for (size_t i = 0; i < (size_t)npages * PAGE; i++)
		pages[i] = (uint8_t)(i * 131 + 7);
	sa.sin_port = htons((uint16_t)atoi(argv[0]));
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 8)) {
		perror("rmap_bench: tcp-server");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			perror("rmap_bench: accept");
			return 1;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		tcp_serve_conn(fd, pages, npages);
	}
}

/* ---- the TCP baseline client ---- */

static int tcp_connect(const char *hostport)
{
	struct sockaddr_storage ss;
	int fd, one = 1;

	if (rmap_parse_addr(hostport, 7247, &ss)) {
		fprintf(stderr, "rmap_bench: cannot parse '%s'\n", hostport);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    connect(fd, (struct sockaddr *)&ss, rmap_addr_len(&ss))) {
		fprintf(stderr, "rmap_bench: connect %s: %s\n", hostport,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int tcp_send_reqs(int fd, uint64_t *next, unsigned n, unsigned npages)
{
	uint8_t buf[TCP_BATCH * TCP_REQ_LEN];
	struct iovec iov = { buf, 0 };

	while (n) {
		unsigned k = n < TCP_BATCH ? n : TCP_BATCH;

		for (unsigned i = 0; i < k; i++) {
			uint64_t pg = htobe64((*next)++ % npages);

			memcpy(buf + i * TCP_REQ_LEN, &pg, sizeof(pg));
		}
		iov.iov_base = buf;
		iov.iov_len = k * TCP_REQ_LEN;
		if (full_write(fd, &iov, 1))
			return -1;
		n -= k;
	}
	return 0;
}

static int tcp_latency(int fd, unsigned iters, uint64_t *ns)
{
	static uint8_t page[PAGE];
	uint64_t next = 0;

	for (unsigned i = 0; i < iters; i++) {
		uint64_t t0 = evl_now_ns();
		size_t got = 0;

		if (tcp_send_reqs(fd, &next, 1, 4096))
			return -1;
		while (got < PAGE) {
			ssize_t n = read(fd, page + got, PAGE - got);

			if (n <= 0)
				return -1;
			got += (size_t)n;
		}
		ns[i] = evl_now_ns() - t0;
	}
	return 0;
}

/* MiB/s with @depth requests outstanding for @secs. */
static double tcp_throughput(int fd, unsigned depth, double secs)
{
	static uint8_t buf[256 * 1024];
	uint64_t next = 0, bytes = 0, partial = 0;
	unsigned inflight = depth;
	double t0 = now_s(), t;
	bool stop = false;

	if (tcp_send_reqs(fd, &next, depth, 4096))
		return -1;
	while (inflight) {
		ssize_t n = read(fd, buf, sizeof(buf));
		unsigned done;

		if (n <= 0)
			return -1;
		partial += (uint64_t)n;
		done = (unsigned)(partial / PAGE);
		partial %= PAGE;
		bytes += (uint64_t)done * PAGE;
		inflight -= done;
		if (!stop && now_s() - t0 >= secs)
			stop = true;
		if (!stop && done) {
			if (tcp_send_reqs(fd, &next, done, 4096))
				return -1;
			inflight += done;
		}
	}
	t = now_s() - t0;
	return (double)bytes / (1 << 20) / t;
}

/* ---- RMAP client ---- */

struct rsess {
	struct evl *loop;
	struct rmap_ep *ep;
	struct rmap_peer *peer;
	uint32_t session;
	unsigned inflight;
	unsigned errors;
	uint64_t done_pages;
};

struct rcall {
	struct rsess *s;
	bool done;
	int err;
	uint8_t status;
	uint32_t session;
	uint8_t buf[PAGE];
};

static void rcall_done(void *arg, int err, const struct rmap_msg *m)
{
	struct rcall *c = arg;

	c->done = true;
	c->err = err;
	c->status = m ? m->status : 0;
	c->session = m ? m->session : 0;
	c->s->inflight--;
	if (err || c->status) {
		if (c->s->errors++ < 5)
			fprintf(stderr, "rmap_bench: %s\n", err ?
				strerror(-err) : rmap_status_name(c->status));
	} else {
		c->s->done_pages++;
	}
}

static int rcall_start(struct rsess *s, struct rcall *c, uint8_t type,
		       uint64_t page, const struct iovec *iov)
{
	struct rmap_req req = { .type = type, .session = s->session,
				.page = page, .count = 1, .iov = iov,
				.iovcnt = iov ? 1 : 0 };
	int ret;

	if (type == RMAP_T_REG || type == RMAP_T_UNREG)
		req.count = 0;
	c->s = s;
	c->done = false;
	ret = rmap_call(s->ep, s->peer, &req, c->buf,
			type == RMAP_T_READ ? PAGE : sizeof(c->buf),
			rcall_done, c);
	if (ret) {
		fprintf(stderr, "rmap_bench: rmap_call: %s\n", strerror(-ret));
		return ret;
	}
	s->inflight++;
	return 0;
}

static int rcall_sync(struct rsess *s, struct rcall *c, uint8_t type,
		      uint64_t page, const struct iovec *iov)
{
	int ret = rcall_start(s, c, type, page, iov);

	while (!ret && !c->done)
		if (evl_run_once(s->loop, -1) < 0)
			return -EIO;
	return ret ? ret : c->err ? c->err : c->status ? -EPROTO : 0;
}

static int rsess_open(struct rsess *s, struct evl *loop, const char *host,
		      const struct rmap_config *cfg)
{
	struct sockaddr_in any = { .sin_family = AF_INET };
	struct rmap_handlers h = { 0 };
	struct sockaddr_storage addr;
	uint8_t nonce[RMAP_REG_LEN];
	struct iovec iov = { nonce, sizeof(nonce) };
	struct rcall c;
	int ret;

	memset(s, 0, sizeof(*s));
	s->loop = loop;
	if (rmap_parse_addr(host, RMAP_DEFAULT_PORT, &addr)) {
		fprintf(stderr, "rmap_bench: cannot parse '%s'\n", host);
		return -EINVAL;
	}
	ret = rmap_ep_open(&s->ep, loop, (struct sockaddr *)&any, sizeof(any),
			   cfg, &h);
	if (ret)
		return ret;
	s->peer = rmap_peer_get(s->ep, &addr);
	if (!s->peer)
		return -ENOMEM;
	for (unsigned i = 0; i < sizeof(nonce); i++)
		nonce[i] = (uint8_t)rand();
	ret = rcall_sync(s, &c, RMAP_T_REG, 0, &iov);
	if (ret) {
		fprintf(stderr, "rmap_bench: REG with %s: %s\n", host,
			strerror(-ret));
		return ret;
	}
	s->session = c.session;
	return 0;
}

static void rsess_close(struct rsess *s)
{
	struct rcall c;

	if (s->session)
		rcall_sync(s, &c, RMAP_T_UNREG, 0, NULL);
	if (s->ep)
		rmap_ep_close(s->ep);
	s->ep = NULL;
}

/*
 * Keep @depth single-page requests in flight until @npages are done or
 * @secs have passed.  Returns MiB/s, or -1.
 */
static double rmap_pipeline(struct rsess *s, uint8_t type, unsigned depth,
			    uint64_t npages, double secs, unsigned ws,
			    const uint8_t *data)
{
	struct rcall *calls = calloc(depth, sizeof(*calls));
	uint64_t next = 0, start_pages = s->done_pages;
	double t0 = now_s(), t;
	bool stop = false;

	if (!calls)
		return -1;
	for (unsigned i = 0; i < depth; i++)
		calls[i].done = true;
	while (!s->errors) {
		for (unsigned i = 0; i < depth && !stop; i++) {
			struct iovec iov;

			if (!calls[i].done || next >= npages)
				continue;
			iov.iov_base = (void *)(data + (next % ws) * PAGE);
			iov.iov_len = PAGE;
			if (rcall_start(s, &calls[i], type, next % ws,
					type == RMAP_T_WRITE ? &iov : NULL)) {
				s->errors++;
				break;
			}
			next++;
		}
		if (!stop && (next >= npages || now_s() - t0 >= secs))
			stop = true;
		if (stop && !s->inflight)
			break;
		if (evl_run_once(s->loop, 100000000) < 0)
			break;
	}
	t = now_s() - t0;
	while (s->inflight)	/* only after an error */
		if (evl_run_once(s->loop, 100000000) < 0)
			break;
	free(calls);
	if (s->errors)
		return -1;
	return (double)(s->done_pages - start_pages) * PAGE / (1 << 20) / t;
}

static int rmap_latency(struct rsess *s, unsigned iters, unsigned ws,
			uint64_t *ns)
{
	struct rcall c;

	for (unsigned i = 0; i < iters; i++) {
		uint64_t t0 = evl_now_ns();
		int ret = rcall_sync(s, &c, RMAP_T_READ,
				     (uint64_t)(rand() % (int)ws), NULL);

		if (ret)
			return ret;
		ns[i] = evl_now_ns() - t0;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: rmap_bench tcp-server PORT\n"
		"       rmap_bench client RMAP_HOST[:PORT] TCP_HOST:PORT [OPTION]...\n"
		"Options (client):\n"
		"  --mtu=BYTES     RMAP MTU (default 1500)\n"
		"  --pages=N       pages written first, then read (default 4096)\n"
		"  --lat-iters=N   latency samples, one outstanding (default 5000)\n"
		"  --depth=N       requests in flight when pipelined (default 32)\n"
		"  --secs=S        seconds per throughput run (default 3)\n"
		"  --secs-window1=S  seconds for the window=1 run (default 2)\n");
}

static int cmd_client(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "mtu", required_argument, NULL, 'm' },
		{ "pages", required_argument, NULL, 'p' },
		{ "lat-iters", required_argument, NULL, 'l' },
		{ "depth", required_argument, NULL, 'd' },
		{ "secs", required_argument, NULL, 's' },
		{ "secs-window1", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct bench_opts o = { .mtu = 1500, .pages = 4096, .lat_iters = 5000,
				.depth = 32, .secs = 3, .secs_window1 = 2 };
	struct rmap_config cfg, cfg1;
	struct evl *loop = NULL;
	struct rsess s = { 0 };
	uint64_t *lat = NULL;
	uint8_t *data = NULL;
	double r50, r99, t50, t99, mibps, mibps1, tcp_mibps;
	unsigned long rexmit, fast, dups;
	char why[512] = "";
	int opt, fd = -1, ret = 1;

	while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (opt) {
		case 'm': o.mtu = (unsigned)atoi(optarg); break;
		case 'p': o.pages = (unsigned)atoi(optarg); break;
		case 'l': o.lat_iters = (unsigned)atoi(optarg); break;
		case 'd': o.depth = (unsigned)atoi(optarg); break;
		case 's': o.secs = atof(optarg); break;
		case 'w': o.secs_window1 = atof(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (argc - optind != 2 || !o.pages || !o.lat_iters || !o.depth) {
		usage(stderr);
		return 2;
	}
	rmap_config_default(&cfg);
	cfg.mtu = o.mtu;
	/* Keys as memxd's: memx.conf's [rmap] ($MEMX_CONF). */
	{
		struct memxd_options mo;

		options_init(&mo);
		if (options_load_config(&mo, options_config_path(NULL),
					getenv("MEMX_CONF") != NULL) ||
		    options_load_auth(&mo, why, sizeof(why))) {
			fprintf(stderr, "rmap_bench: %s\n", why);
			return 2;
		}
		cfg.auth = mo.rmap.auth;
		/* The peers array stays ours until exit: not freed. */
		memset(&mo.rmap.auth, 0, sizeof(mo.rmap.auth));
		options_free(&mo);
	}
	cfg1 = cfg;
	cfg1.window = 1;
	if (rmap_config_check(&cfg, why, sizeof(why))) {
		fprintf(stderr, "rmap_bench: %s\n", why);
		return 2;
	}
	srand((unsigned)evl_now_ns());
	lat = calloc(o.lat_iters, sizeof(*lat));
	data = malloc((size_t)o.pages * PAGE);
	if (!lat || !data || evl_new(&loop, 1024))
		goto out;
	for (size_t i = 0; i < (size_t)o.pages * PAGE; i++)
		data[i] = (uint8_t)rand();

	printf("rmap-bench: 4 KiB READ, RMAP (mtu %u, window %u) vs TCP, "
	       "%u pages, %u latency samples, %u in flight\n",
	       cfg.mtu, cfg.window, o.pages, o.lat_iters, o.depth);

	/* RMAP, default window: store the pages, then read them. */
	if (rsess_open(&s, loop, argv[optind], &cfg))
		goto out;
	if (rmap_pipeline(&s, RMAP_T_WRITE, o.depth, o.pages, 60, o.pages,
			  data) < 0)
		goto out;
	if (rmap_latency(&s, 200, o.pages, lat) ||	/* warm up */
	    rmap_latency(&s, o.lat_iters, o.pages, lat))
		goto out;
	r50 = pct_us(lat, o.lat_iters, 50);
	r99 = pct_us(lat, o.lat_iters, 99);
	printf("  rmap READ latency:     p50 %8.1f us   p99 %8.1f us  "
	       "(srtt %u us)\n", r50, r99, rmap_peer_srtt_us(s.peer));
	mibps = rmap_pipeline(&s, RMAP_T_READ, o.depth, UINT64_MAX, o.secs,
			      o.pages, data);
	if (mibps < 0)
		goto out;
	printf("  rmap READ throughput:  %8.1f MiB/s  (window %u, %u in "
	       "flight)\n", mibps, cfg.window, o.depth);
	{
		const struct rmap_counters *c = rmap_ep_counters(s.ep);

		printf("  rmap client, whole session: %llu datagrams out (%llu "
		       "GSO sends, %llu acks), %llu in (%llu recvs), %llu messages in\n",
		       (unsigned long long)c->tx_packets,
		       (unsigned long long)c->gso_sends,
		       (unsigned long long)c->acks_sent,
		       (unsigned long long)c->rx_packets,
		       (unsigned long long)c->rx_recvs,
		       (unsigned long long)c->rx_msgs);
	}
	rexmit = (unsigned long)rmap_ep_counters(s.ep)->retransmits;
	fast = (unsigned long)rmap_ep_counters(s.ep)->fast_retransmits;
	dups = (unsigned long)rmap_ep_counters(s.ep)->dup_packets;
	rsess_close(&s);

	/* RMAP, window 1: a session of its own. */
	if (rsess_open(&s, loop, argv[optind], &cfg1))
		goto out;
	if (rmap_pipeline(&s, RMAP_T_WRITE, o.depth, 256, 60, 256, data) < 0)
		goto out;
	mibps1 = rmap_pipeline(&s, RMAP_T_READ, o.depth, UINT64_MAX,
			       o.secs_window1, 256, data);
	if (mibps1 < 0)
		goto out;
	printf("  rmap READ throughput:  %8.1f MiB/s  (window 1, %u in "
	       "flight)\n", mibps1, o.depth);
	rexmit += (unsigned long)rmap_ep_counters(s.ep)->retransmits;
	fast += (unsigned long)rmap_ep_counters(s.ep)->fast_retransmits;
	dups += (unsigned long)rmap_ep_counters(s.ep)->dup_packets;
	rsess_close(&s);
	printf("  rmap client counters:  %lu retransmits (timer), %lu fast "
	       "retransmits, %lu duplicates received\n", rexmit, fast, dups);

	/* TCP on the same link. */
	fd = tcp_connect(argv[optind + 1]);
	if (fd < 0 || tcp_latency(fd, 200, lat) ||
	    tcp_latency(fd, o.lat_iters, lat)) {
		fprintf(stderr, "rmap_bench: TCP latency run failed\n");
		goto out;
	}
	t50 = pct_us(lat, o.lat_iters, 50);
	t99 = pct_us(lat, o.lat_iters, 99);
	printf("  tcp  4 KiB latency:    p50 %8.1f us   p99 %8.1f us\n",
	       t50, t99);
	tcp_mibps = tcp_throughput(fd, o.depth, o.secs);
	if (tcp_mibps < 0) {
		fprintf(stderr, "rmap_bench: TCP throughput run failed\n");
		goto out;
	}
	printf("  tcp  4 KiB throughput: %8.1f MiB/s  (%u in flight)\n",
	       tcp_mibps, o.depth);
	printf("  ratios: p50 rmap/tcp %.2f (goal <= 1.0), throughput "
	       "rmap/tcp %.2f (goal >= 0.8), window 1/default %.3f\n",
	       r50 / t50, mibps / tcp_mibps, mibps1 / mibps);
	printf("rmap-bench: read_p50_us=%.1f read_p99_us=%.1f tcp_p50_us=%.1f "
	       "tcp_p99_us=%.1f p50_ratio=%.2f MiBps=%.1f MiBps_window1=%.1f "
	       "tcp_MiBps=%.1f tput_ratio=%.2f\n", r50, r99, t50, t99,
	       r50 / t50, mibps, mibps1, tcp_mibps, mibps / tcp_mibps);
	ret = 0;
out:
	if (ret)
		fprintf(stderr, "rmap_bench: failed\n");
	if (s.ep)
		rmap_ep_close(s.ep);
	if (fd >= 0)
		close(fd);
	if (loop)
		evl_free(loop);
	free(lat);
	free(data);
	return ret;
}

int main(int argc, char **argv)
{
	/* The client stands in for a pager: its heap as memxd keeps it. */
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_TOP_PAD, 4 << 20);
	if (argc >= 2 && !strcmp(argv[1], "tcp-server"))
		return cmd_tcp_server(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "client"))
		return cmd_client(argc - 1, argv + 1);
	usage(argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
	return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
}
