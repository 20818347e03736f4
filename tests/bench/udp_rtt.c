// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * udp_rtt.c - the link's own round trip for a page, as any user-space
 * pager would pay it: a small request from one process, a 4 KiB reply
 * from a process on the far host, both sleeping in recv(2) between
 * messages as memxd and a memory server sleep between requests.  No
 * protocol, no authentication, no store: the wire, the two network
 * stacks and two wake-ups.  fault-bench adds it to its local floor to
 * say what share of a remote fault is memx's own.
 *
 *   udp_rtt --serve ADDR [--port N]
 *       answer every request, forever, with as many bytes as it asks for
 *   udp_rtt --to ADDR [--port N] [--count N] [--reply N]
 *       time N round trips (default 2000, after 200 to warm up), print
 *       "udp-rtt: p50_us=... p90_us=... p99_us=... count=... reply=..."
 *
 * The reply larger than the MTU goes as IP fragments; memx's own would be
 * three datagrams in one GSO send: the same bytes through the same stacks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#define REQUEST		64
#define MAX_REPLY	65000
#define WARMUP		200
#define DEFAULT_PORT	7399

static uint8_t buf[MAX_REPLY];

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int serve(int fd, size_t reply)
{
	for (;;) {
		struct sockaddr_in from;
		socklen_t len = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0,
				     (struct sockaddr *)&from, &len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("udp_rtt: recvfrom");
			return 1;
		}
		/*
		 * The reply starts with the request's sequence number; its
		 * length is the request's second word, if it has one.
		 */
		if (n >= 16) {
			uint64_t want;

			memcpy(&want, buf + 8, sizeof(want));
			reply = want >= 8 && want <= MAX_REPLY ? want : reply;
		}
		/* A reply lost to a full queue is the client's to time out. */
		if (sendto(fd, buf, reply, 0, (struct sockaddr *)&from,
			   len) < 0 && (errno == EBADF || errno == ENOTSOCK)) {
			perror("udp_rtt: sendto");
			return 1;
		}
	}
}

/*
 * One round trip of request @seq: its microseconds, 0 if the reply did
 * not come within the receive timeout, -1 on an error (said).
 */
static double one_trip(int fd, const struct sockaddr_in *to, uint64_t seq,
		       size_t reply)
{
	double t0 = now_us();
	uint64_t got, want = reply;
	ssize_t n;

	memset(buf, 0, REQUEST);
	memcpy(buf, &seq, sizeof(seq));
	memcpy(buf + 8, &want, sizeof(want));
	if (sendto(fd, buf, REQUEST, 0, (const struct sockaddr *)to,
		   sizeof(*to)) < 0) {
		perror("udp_rtt: sendto");
		return -1;
	}
	/* Wait for this request's reply; older ones are stale. */
	do {
		n = recv(fd, buf, sizeof(buf), 0);
		memcpy(&got, buf, sizeof(got));
	} while (n >= (ssize_t)sizeof(got) && got != seq);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		perror("udp_rtt: recv");
		return -1;
	}
	if ((size_t)n != reply) {
		fprintf(stderr, "udp_rtt: a reply of %zd bytes, not %zu\n", n,
			reply);
		return -1;
	}
	return now_us() - t0;
}

static int client(int fd, const struct sockaddr_in *to, unsigned count,
		  size_t reply)
{
	unsigned total = count + WARMUP, lost = 0, silent = 0;
	double *rtt = calloc(count, sizeof(*rtt));
	struct timeval tmo = { .tv_sec = 0, .tv_usec = 200000 };
	int ret = 1;

	if (!rtt)
		return 1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo));
	for (uint64_t seq = 0, done = 0; done < total; seq++) {
		double us = one_trip(fd, to, seq, reply);

		if (us < 0)
			goto out;
		if (us == 0) {
			lost++;
			/* 25 timeouts in a row: 5 s without a reply. */
			if (++silent >= 25 || lost > count / 10 + 10) {
				fprintf(stderr, "udp_rtt: %u requests went "
					"unanswered (%u in a row)\n", lost,
					silent);
				goto out;
			}
			continue;
		}
		silent = 0;
		if (done >= WARMUP)
			rtt[done - WARMUP] = us;
		done++;
	}
	qsort(rtt, count, sizeof(*rtt), cmp_double);
	printf("udp-rtt: p50_us=%.1f p90_us=%.1f p99_us=%.1f count=%u "
	       "reply=%zu lost=%u\n", rtt[count / 2], rtt[count * 9 / 10],
	       rtt[count * 99 / 100], count, reply, lost);
	ret = 0;
out:
	free(rtt);
	return ret;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: udp_rtt --serve ADDR [--port N]\n"
		"       udp_rtt --to ADDR [--port N] [--count N] "
		"[--reply BYTES]\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "serve", required_argument, NULL, 's' },
		{ "to", required_argument, NULL, 't' },
		{ "port", required_argument, NULL, 'p' },
		{ "count", required_argument, NULL, 'c' },
		{ "reply", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(DEFAULT_PORT) };
	const char *addr = NULL;
	bool serving = false;
	unsigned count = 2000;
	long reply = 4096;
	int c, fd;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 's': serving = true; addr = optarg; break;
		case 't': addr = optarg; break;
		case 'p': sa.sin_port = htons((uint16_t)atoi(optarg)); break;
		case 'c': count = (unsigned)atoi(optarg); break;
		case 'r': reply = atol(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!addr || inet_pton(AF_INET, addr, &sa.sin_addr) != 1 ||
	    count < 1 || reply < 8 || reply > MAX_REPLY) {
		usage(stderr);
		return 2;
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("udp_rtt: socket");
		return 1;
	}
	if (serving) {
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			perror("udp_rtt: bind");
			return 1;
		}
		return serve(fd, (size_t)reply);
	}
	return client(fd, &sa, count, (size_t)reply);
}
