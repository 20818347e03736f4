// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rmap_attack.c - a hostile host on the memory servers' network, for
 * tests/rmap-attack.sh.  Never point it at anything but the test's own
 * namespaces: it sends only to the addresses it is given, for a bounded
 * time and count, and stops by itself.
 *
 * It sniffs the wire (AF_PACKET; the test makes the bridge flood every
 * frame to every port), learns the pager's address and port from the
 * packets it sees, keeps real datagrams, and sends, with raw IPv4
 * sockets so that it can spoof any source:
 *
 *   replay    captured datagrams again, verbatim, from the pager's
 *             address (to the servers) or a server's (to the pager);
 *   tamper    captured DATA with a fresh counter and a flipped bit;
 *   truncate  captured datagrams cut short;
 *   forge     messages in clear (kind PLAIN), from the pager's address:
 *             ACKs of everything, HEARTBEATs whose base is 2^31 ahead,
 *             LEAVE, REG, READs of 256 pages, UNREG of guessed sessions,
 *             first fragments of 1 MiB WRITEs, each with a new epoch (in
 *             RMAP v1 a new epoch from a known address was a restart);
 *             and forged DATA with guessed indexes;
 *   flood     handshake initiations with a valid mac1 (the servers'
 *             public keys are public), from its own address and spoofed
 *             from the pager's, faster than a server answers without
 *             cookies; and v1 packets and junk.
 *
 * It counts what it sent and what came back to its own address (for
 * amplification), and prints one line:
 *   attack: sent=N bytes=N replayed=N tampered=N truncated=N forged=N
 *           flooded=N captured=N client=IP:PORT own_bytes=N rx_bytes=N
 *           rx_packets=N
 * where own_bytes were sent from its own address and rx_bytes came back.
 *
 * usage: rmap_attack --iface IF --client IP --server IP[:PORT]... \
 *                    [--pubkey BASE64]... [--seconds S] [--rate PPS]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rmap/wire.h"

#define MAX_SERVERS	16
#define CAPTURE		512
#define MAX_LEN		1600

struct endpoint {
	uint32_t ip;		/* network order */
	uint16_t port;		/* network order */
};

static struct endpoint servers[MAX_SERVERS], client;
static unsigned nservers;
static uint8_t mac1_key[MAX_SERVERS][32];
static bool have_key[MAX_SERVERS];
static int raw_fd, pkt_fd, own_fd;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static struct {
	size_t len;
	bool to_server;		/* client -> server (else server -> client) */
	unsigned server;
	uint8_t buf[MAX_LEN];
} cap[CAPTURE];
static unsigned ncap, cap_next;

static struct {
	uint64_t sent, bytes, replayed, tampered, truncated, forged, flooded;
	uint64_t rx_bytes, rx_packets, own_bytes;
} st;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint16_t ip_csum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)b[i] << 8 | b[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

/* One UDP datagram from @from to @to, whatever @from is. */
static void send_spoofed(struct endpoint from, struct endpoint to,
			 const uint8_t *data, size_t len)
{
	uint8_t pkt[20 + 8 + 9000];
	struct iphdr *ip = (struct iphdr *)pkt;
	struct udphdr *udp = (struct udphdr *)(pkt + 20);
	struct sockaddr_in dst = { .sin_family = AF_INET,
				   .sin_addr.s_addr = to.ip };

	if (len > 9000)
		return;
	memset(pkt, 0, 28);
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->saddr = from.ip;
	ip->daddr = to.ip;
	ip->tot_len = htons((uint16_t)(28 + len));
	ip->id = (uint16_t)randombytes_random();
	ip->check = ip_csum(ip, 20);
	udp->source = from.port;
	udp->dest = to.port;
	udp->len = htons((uint16_t)(8 + len));
	udp->check = 0;		/* optional over IPv4 */
	memcpy(pkt + 28, data, len);
	if (sendto(raw_fd, pkt, 28 + len, 0, (struct sockaddr *)&dst,
		   sizeof(dst)) == (ssize_t)(28 + len)) {
		st.sent++;
		st.bytes += len;
	}
}

/* From our own address (to measure what comes back). */
static void send_own(struct endpoint to, const uint8_t *data, size_t len)
{
	struct sockaddr_in dst = { .sin_family = AF_INET,
				   .sin_addr.s_addr = to.ip,
				   .sin_port = to.port };

	if (sendto(own_fd, data, len, 0, (struct sockaddr *)&dst,
		   sizeof(dst)) == (ssize_t)len) {
		st.sent++;
		st.bytes += len;
		st.own_bytes += len;
	}
}

static int server_of(uint32_t ip, uint16_t port)
{
	for (unsigned i = 0; i < nservers; i++)
		if (servers[i].ip == ip && servers[i].port == port)
			return (int)i;
	return -1;
}

/* Read what the wire carries now: learn the pager, keep datagrams. */
static void sniff(void)
{
	uint8_t f[MAX_LEN + 64];
	ssize_t n;

	while ((n = recv(pkt_fd, f, sizeof(f), MSG_DONTWAIT)) > 0) {
		const struct iphdr *ip = (const void *)f;
		const struct udphdr *udp;
		size_t hl, len;
		int s;

		if ((size_t)n < 28 || ip->version != 4 ||
		    ip->protocol != IPPROTO_UDP)
			continue;
		hl = (size_t)ip->ihl * 4;
		if ((size_t)n < hl + 8)
			continue;
		udp = (const void *)(f + hl);
		len = (size_t)n - hl - 8;
		if (len > MAX_LEN || len < 4 || f[hl + 8] != 0x4d)
			continue;
		s = server_of(ip->daddr, udp->dest);
		if (s >= 0 && ip->saddr == client.ip) {
			client.port = udp->source;	/* the pager's port */
		} else {
			s = server_of(ip->saddr, udp->source);
			if (s < 0 || ip->daddr != client.ip)
				continue;
		}
		cap[cap_next].len = len;
		cap[cap_next].to_server = ip->daddr != client.ip;
		cap[cap_next].server = (unsigned)s;
		memcpy(cap[cap_next].buf, f + hl + 8, len);
		cap_next = (cap_next + 1) % CAPTURE;
		if (ncap < CAPTURE)
			ncap++;
	}
}

static void drain_own(void)
{
	uint8_t b[9000];
	ssize_t n;

	while ((n = recv(own_fd, b, sizeof(b), MSG_DONTWAIT)) > 0) {
		st.rx_packets++;
		st.rx_bytes += (uint64_t)n;
	}
}

/* A captured datagram, sent again from where it came. */
static void resend(unsigned i, const uint8_t *data, size_t len)
{
	if (cap[i].to_server)
		send_spoofed(client, servers[cap[i].server], data, len);
	else
		send_spoofed(servers[cap[i].server], client, data, len);
}

static void attack_replay(void)
{
	unsigned i;

	if (!ncap)
		return;
	i = randombytes_uniform(ncap);
	resend(i, cap[i].buf, cap[i].len);
	st.replayed++;
}

static void attack_tamper(void)
{
	uint8_t b[MAX_LEN];
	unsigned i;

	if (!ncap)
		return;
	i = randombytes_uniform(ncap);
	memcpy(b, cap[i].buf, cap[i].len);
	if (b[3] == RMAP_K_DATA && cap[i].len > 16) {
		b[12] ^= (uint8_t)(1 + randombytes_uniform(255));	/* fresh */
		b[16 + randombytes_uniform((uint32_t)cap[i].len - 16)] ^= 0x20;
	} else {
		b[randombytes_uniform((uint32_t)cap[i].len)] ^= 0x01;
	}
	resend(i, b, cap[i].len);
	st.tampered++;
}

static void attack_truncate(void)
{
	unsigned i;

	if (!ncap)
		return;
	i = randombytes_uniform(ncap);
	resend(i, cap[i].buf, randombytes_uniform((uint32_t)cap[i].len));
	st.truncated++;
}

/* A message header in clear (kind PLAIN), as RMAP v1 would take it. */
static size_t plain(uint8_t *out, const struct rmap_hdr *h,
		    const uint8_t *body)
{
	memset(out, 0, RMAP_OUTER_LEN);
	out[0] = 0x4d;
	out[1] = 0x58;
	out[2] = RMAP_VERSION;
	out[3] = RMAP_K_PLAIN;
	rmap_wire_encode(h, out + RMAP_OUTER_LEN);
	if (h->frag_len)
		memcpy(out + RMAP_OUTER_LEN + RMAP_HDR_LEN, body, h->frag_len);
	return RMAP_OUTER_LEN + RMAP_HDR_LEN + h->frag_len;
}

static void attack_forge(void)
{
	static uint8_t body[2048];
	uint8_t b[RMAP_MAX_DATAGRAM];
	struct rmap_hdr h = { 0 };
	unsigned what = randombytes_uniform(9);
	struct endpoint to = servers[randombytes_uniform(nservers)];
	size_t n;

	h.epoch = randombytes_random() | 1;	/* "I restarted" */
	h.flags = RMAP_F_RELIABLE | RMAP_F_ACK;
	h.seq = h.base = randombytes_random();
	h.ack = randombytes_random();
	h.sack = ~0ull;
	h.reqid = randombytes_random() | 1;
	h.frag_cnt = 1;
	switch (what) {
	case 0:	/* an ACK of everything */
		memset(&h, 0, sizeof(h));
		h.flags = RMAP_F_ACK;
		h.epoch = randombytes_random() | 1;
		h.ack = randombytes_random();
		h.sack = ~0ull;
		break;
	case 1:	/* a window 2^31 ahead */
		h.type = RMAP_T_HEARTBEAT;
		h.session = randombytes_random();
		h.base += 0x80000000u;
		h.seq = h.base;
		break;
	case 2:
		h.type = RMAP_T_LEAVE;
		break;
	case 3:
		h.type = RMAP_T_REG;
		h.msg_len = h.frag_len = RMAP_REG_LEN;
		randombytes_buf(body, RMAP_REG_LEN);
		break;
	case 4:
		h.type = RMAP_T_READ;
		h.session = randombytes_random();
		h.page = randombytes_random();
		h.count = RMAP_MAX_PAGES;
		break;
	case 5:
		h.type = RMAP_T_UNREG;
		h.session = randombytes_random();
		break;
	case 6:	/* the first fragment of a 1 MiB WRITE */
		h.type = RMAP_T_WRITE;
		h.session = randombytes_random();
		h.count = RMAP_MAX_PAGES;
		h.msg_len = RMAP_MAX_MSG;
		h.frag_cnt = 767;
		h.frag_len = 1368;
		randombytes_buf(body, 1368);
		break;
	case 7:	/* forged DATA: a guessed index and counter */
		n = 16 + 72 + 16 + randombytes_uniform(1300);
		randombytes_buf(b, n);
		b[0] = 0x4d;
		b[1] = 0x58;
		b[2] = RMAP_VERSION;
		b[3] = RMAP_K_DATA;
		send_spoofed(client, to, b, n);
		st.forged++;
		return;
	default: /* the same, to the pager, from a server */
		h.type = RMAP_T_READ;
		h.flags |= RMAP_F_RESPONSE;
		h.page = randombytes_random();
		h.count = 1;
		h.msg_len = RMAP_PAGE_SIZE;
		h.frag_cnt = 3;
		h.frag_len = 1368;
		if (client.port) {
			n = plain(b, &h, body);
			send_spoofed(to, client, b, n);
			st.forged++;
		}
		return;
	}
	n = plain(b, &h, body);
	if (client.port)
		send_spoofed(client, to, b, n);
	send_own(to, b, n);
	st.forged++;
}

static void attack_flood(void)
{
	uint8_t b[200];
	/* Half of it at the first server: past its cookie threshold. */
	unsigned s = randombytes_uniform(2) ? 0 : randombytes_uniform(nservers);
	unsigned what = randombytes_uniform(4);

	if (what < 3) {
		/* An initiation: random, but with a valid mac1. */
		randombytes_buf(b, 156);
		b[0] = 0x4d;
		b[1] = 0x58;
		b[2] = RMAP_VERSION;
		b[3] = RMAP_K_INIT;
		if (have_key[s])
			crypto_generichash(b + 124, 16, b, 124, mac1_key[s], 32);
		memset(b + 140, 0, 16);
		if (what == 0 && client.port)
			send_spoofed(client, servers[s], b, 156);
		else
			send_own(servers[s], b, 156);
	} else {
		/* RMAP v1, or junk. */
		randombytes_buf(b, sizeof(b));
		b[0] = 0x4d;
		b[1] = 0x58;
		b[2] = 1;
		send_own(servers[s], b, 88 + randombytes_uniform(100));
	}
	st.flooded++;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: rmap_attack --iface IF --client IP --server "
		"IP[:PORT]... [--pubkey B64]... [--seconds S] [--rate PPS]\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "iface", required_argument, NULL, 'i' },
		{ "client", required_argument, NULL, 'c' },
		{ "server", required_argument, NULL, 's' },
		{ "pubkey", required_argument, NULL, 'k' },
		{ "seconds", required_argument, NULL, 't' },
		{ "rate", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *iface = NULL;
	unsigned nkeys = 0, seconds = 20, rate = 2000;
	uint64_t end, next, iv;
	struct sockaddr_ll ll = { .sll_family = AF_PACKET,
				  .sll_protocol = htons(ETH_P_IP) };
	struct packet_mreq mr = { .mr_type = PACKET_MR_PROMISC };
	struct sockaddr_in own = { .sin_family = AF_INET };
	int opt, one = 1;

	if (sodium_init() < 0)
		return 1;
	while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (opt) {
		case 'i':
			iface = optarg;
			break;
		case 'c':
			if (inet_pton(AF_INET, optarg, &client.ip) != 1)
				return 2;
			break;
		case 's': {
			char host[64], *colon;

			if (nservers == MAX_SERVERS)
				return 2;
			snprintf(host, sizeof(host), "%s", optarg);
			colon = strchr(host, ':');
			servers[nservers].port = htons(colon ? (uint16_t)atoi(colon + 1)
							     : 7246);
			if (colon)
				*colon = 0;
			if (inet_pton(AF_INET, host, &servers[nservers].ip) != 1)
				return 2;
			nservers++;
			break;
		}
		case 'k': {
			uint8_t pub[32];
			size_t n = 0;
			crypto_hash_sha256_state hs;

			if (nkeys == MAX_SERVERS ||
			    sodium_base642bin(pub, 32, optarg, strlen(optarg),
					      NULL, &n, NULL,
					      sodium_base64_VARIANT_ORIGINAL) ||
			    n != 32)
				return 2;
			crypto_hash_sha256_init(&hs);
			crypto_hash_sha256_update(&hs, (const uint8_t *)"mac1----", 8);
			crypto_hash_sha256_update(&hs, pub, 32);
			crypto_hash_sha256_final(&hs, mac1_key[nkeys]);
			have_key[nkeys++] = true;
			break;
		}
		case 't':
			seconds = (unsigned)atoi(optarg);
			break;
		case 'r':
			rate = (unsigned)atoi(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!iface || !client.ip || !nservers || !rate || seconds > 600 ||
	    rate > 100000) {
		usage(stderr);
		return 2;
	}
	raw_fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	pkt_fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_IP));
	own_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (raw_fd < 0 || pkt_fd < 0 || own_fd < 0) {
		perror("rmap_attack: socket");
		return 1;
	}
	setsockopt(raw_fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one));
	fflush(stdout);
	ll.sll_ifindex = (int)if_nametoindex(iface);
	mr.mr_ifindex = ll.sll_ifindex;
	if (!ll.sll_ifindex ||
	    bind(pkt_fd, (struct sockaddr *)&ll, sizeof(ll)) < 0 ||
	    setsockopt(pkt_fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr,
		       sizeof(mr)) < 0 ||
	    bind(own_fd, (struct sockaddr *)&own, sizeof(own)) < 0) {
		perror("rmap_attack: bind");
		return 1;
	}
	iv = 1000000000ull / rate;
	end = now_ns() + (uint64_t)seconds * 1000000000ull;
	next = now_ns();
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	while (now_ns() < end && !stop) {
		uint64_t t;

		sniff();
		drain_own();
		t = now_ns();
		if (t < next) {
			struct pollfd p[2] = { { pkt_fd, POLLIN, 0 },
					       { own_fd, POLLIN, 0 } };

			poll(p, 2, (int)((next - t) / 1000000) + 1);
			continue;
		}
		next += iv;
		if (t > next + 100000000ull)
			next = t;	/* behind: never a burst to catch up */
		switch (randombytes_uniform(10)) {
		case 0: case 1:
			attack_replay();
			break;
		case 2:
			attack_tamper();
			break;
		case 3:
			attack_truncate();
			break;
		case 4: case 5: case 6:
			attack_forge();
			break;
		default:
			attack_flood();
			break;
		}
	}
	usleep(200000);
	drain_own();
	printf("attack: sent=%llu bytes=%llu replayed=%llu tampered=%llu "
	       "truncated=%llu forged=%llu flooded=%llu captured=%u "
	       "client=%s:%u own_bytes=%llu rx_bytes=%llu rx_packets=%llu\n",
	       (unsigned long long)st.sent, (unsigned long long)st.bytes,
	       (unsigned long long)st.replayed,
	       (unsigned long long)st.tampered,
	       (unsigned long long)st.truncated,
	       (unsigned long long)st.forged, (unsigned long long)st.flooded,
	       ncap, inet_ntoa(*(struct in_addr *)&client.ip),
	       ntohs(client.port), (unsigned long long)st.own_bytes,
	       (unsigned long long)st.rx_bytes,
	       (unsigned long long)st.rx_packets);
	return 0;
}
