// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ep.c - an RMAP endpoint: its configuration, its socket, its life from
 * rmap_ep_open() to rmap_ep_close(), and the addresses it talks to.
 */
#include "rmap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "rmap_int.h"

/* ---- configuration ---- */

void rmap_config_default(struct rmap_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->window = RMAP_DEFAULT_WINDOW;
	cfg->mtu = RMAP_DEFAULT_MTU;
	cfg->rto_us = RMAP_DEFAULT_RTO_US;
	cfg->retry_us = RMAP_DEFAULT_RETRY_US;
	cfg->retry_max_us = RMAP_DEFAULT_RETRY_MAX_US;
	cfg->gap_us = RMAP_DEFAULT_GAP_US;
	cfg->max_retries = RMAP_DEFAULT_RETRIES;
	cfg->peer_queue_max = RMAP_DEFAULT_PEER_QUEUE_MAX;
	cfg->peer_reasm_max = RMAP_DEFAULT_PEER_REASM_MAX;
	cfg->auth.hs_per_s = RMAP_DEFAULT_HS_PER_S;
}

int rmap_config_check(const struct rmap_config *cfg, char *why, size_t len)
{
	const char *w = NULL;

	if (cfg->window < 1 || cfg->window > RMAP_RCV_WINDOW)
		w = "window must be 1..1024 packets";
	else if (cfg->mtu != RMAP_MTU_AUTO &&
		 (cfg->mtu < RMAP_MIN_MTU || cfg->mtu > RMAP_MAX_MTU))
		w = "mtu must be 576..9000, or auto";
	else if (cfg->rto_us < 50 || cfg->rto_us > 10000000)
		w = "retransmit timeout must be 50us..10s";
	else if (cfg->retry_us < 50 || cfg->retry_us > 10000000)
		w = "retry interval must be 50us..10s";
	else if (cfg->retry_max_us < cfg->retry_us)
		w = "maximum retry interval is below the retry interval";
	else if (cfg->gap_us > 1000000)
		w = "inter-packet gap must be at most 1s";
	else if (cfg->max_retries > 1000)
		w = "retries must be 0..1000 (0: never give up)";
	else if (cfg->peer_queue_max < RMAP_MAX_MSG ||
		 cfg->peer_reasm_max < RMAP_MAX_MSG)
		w = "per-peer queue and reassembly bounds must be at least 1 MiB";
	else if (!cfg->auth.insecure && !cfg->auth.have_key)
		w = "no private key: give one (private-key), or run without "
		    "authentication (insecure-no-auth)";
	if (w && why)
		snprintf(why, len, "%s", w);
	return w ? -EINVAL : 0;
}

/* ---- addresses ---- */

const char *rmap_format_addr(const struct sockaddr_storage *a, char *buf,
			     size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)a;

		inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(s->sin6_port));
	} else {
		const struct sockaddr_in *s = (const void *)a;

		inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(s->sin_port));
	}
	return buf;
}

int rmap_parse_addr(const char *s, uint16_t default_port,
		    struct sockaddr_storage *out)
{
	char host[256];
	const char *port = NULL;
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res;
	char portbuf[8];
	size_t n;
	int ret;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end || (size_t)(end - s - 1) >= sizeof(host))
			return -EINVAL;
		n = (size_t)(end - s - 1);
		memcpy(host, s + 1, n);
		host[n] = 0;
		if (end[1] == ':')
			port = end + 2;
		else if (end[1])
			return -EINVAL;
	} else {
		const char *colon = strrchr(s, ':');

		if (colon && strchr(s, ':') != colon)
			colon = NULL;	/* bare IPv6 address */
		n = colon ? (size_t)(colon - s) : strlen(s);
		if (n >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, n);
		host[n] = 0;
		if (colon)
			port = colon + 1;
	}
	if (port) {
		char *end;
		unsigned long v = strtoul(port, &end, 10);

		/* An explicit port 0 is a listen address's "any port". */
		if (!*port || *end || v > 65535)
			return -EINVAL;
		default_port = (uint16_t)v;
	}
	snprintf(portbuf, sizeof(portbuf), "%u", default_port);
	hints.ai_flags = AI_NUMERICSERV;
	ret = getaddrinfo(host, portbuf, &hints, &res);
	if (ret)
		return -EHOSTUNREACH;
	memset(out, 0, sizeof(*out));
	memcpy(out, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

/* ---- endpoint ---- */

static uint16_t sockaddr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return ntohs(((const struct sockaddr_in *)sa)->sin_port);
}

/*
 * A restarted memxd may find its port still held by the process it
 * replaces, on its way out (a restart that does not wait for the old
 * one's exit).  It waits that out; a port still taken after BIND_WAIT_MS
 * is another process's, and the caller says so.
 */
#define BIND_WAIT_MS	2000u
#define BIND_RETRY_MS	20u

static int bind_port(int fd, const struct sockaddr *addr, socklen_t len)
{
	const struct timespec pause = { 0, BIND_RETRY_MS * 1000000l };

	for (unsigned waited = 0;; waited += BIND_RETRY_MS) {
		if (!bind(fd, addr, len))
			return 0;
		if (errno != EADDRINUSE || !sockaddr_port(addr) ||
		    waited >= BIND_WAIT_MS)
			return -errno;
		nanosleep(&pause, NULL);
	}
}

/*
 * Room for a full window of jumbo frames from many peers.  The kernel
 * caps SO_RCVBUF and SO_SNDBUF at net.core.rmem_max and wmem_max (208
 * KiB on a stock Debian 12), where a burst from a few peers overflows
 * and is dropped, to be resent a retry interval later; a process with
 * CAP_NET_ADMIN (memxd as root) may pass the caps, so it asks that way
 * first.  rmap_ep_sockbuf() tells what it got.
 */
static void socket_buffers(int fd)
{
	int sz = RMAP_SOCKBUF;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

int rmap_ep_open(struct rmap_ep **out, struct evl *loop,
		 const struct sockaddr *bind_addr, socklen_t bind_len,
		 const struct rmap_config *cfg,
		 const struct rmap_handlers *handlers)
{
	struct rmap_ep *ep;
	int one = 1, ret;

	ret = rmap_config_check(cfg, NULL, 0);
	if (ret)
		return ret;
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return -ENOMEM;
	ep->turn = 1;		/* a new peer has sent no request in it */
	ep->slots = calloc(RECV_SLOTS, sizeof(*ep->slots));
	ep->peers = calloc(PEER_BUCKETS, sizeof(*ep->peers));
	ep->calls = calloc(CALL_BUCKETS, sizeof(*ep->calls));
	if (!ep->slots || !ep->peers || !ep->calls) {
		ret = -ENOMEM;
		goto err_free;
	}
	ep->loop = loop;
	ep->cfg = *cfg;
	/* The caller's key material is not ours to keep pointers into. */
	ep->cfg.auth.peers = NULL;
	sodium_memzero(ep->cfg.auth.private_key, RMAP_KEY_LEN);
	sodium_memzero(ep->cfg.auth.psk, RMAP_KEY_LEN);
	if (handlers)
		ep->h = *handlers;
	ep->rx_plain = malloc(RMAP_MAX_DATAGRAM);
	if (!ep->rx_plain) {
		ret = -ENOMEM;
		goto err_free;
	}
	ret = auth_init(ep, &cfg->auth);
	if (ret)
		goto err_free;
	if (getrandom(&ep->epoch, sizeof(ep->epoch), 0) != sizeof(ep->epoch))
		ep->epoch = (uint32_t)evl_now_ns() ^ (uint32_t)getpid();
	if (!ep->epoch)
		ep->epoch = 1;
	ep->next_reqid = ep->epoch * 2654435761u;

	ep->fd = socket(bind_addr->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (ep->fd < 0) {
		ret = -errno;
		goto err_free;
	}
	/*
	 * Shared only on request, and never an ephemeral port: with
	 * SO_REUSEADDR, bind() to port 0 may hand out a port another such
	 * socket holds, and that socket then gets our datagrams.
	 */
	if (cfg->share_port && sockaddr_port(bind_addr))
		setsockopt(ep->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (cfg->broadcast)
		setsockopt(ep->fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
	socket_buffers(ep->fd);
	ret = bind_port(ep->fd, bind_addr, bind_len);
	if (ret)
		goto err_close;
	evl_timer_init(&ep->rexmit_timer, rexmit_fire);
	evl_timer_init(&ep->pace_timer, pace_fire);
	evl_timer_init(&ep->gc_timer, gc_fire);
	ep->flush_hook.run = ep_flush;
	evl_add_hook(loop, &ep->flush_hook);
	rx_start(ep);
	evl_flush(loop);
	*out = ep;
	return 0;
err_close:
	close(ep->fd);
err_free:
	auth_fini(ep);
	free(ep->rx_plain);
	free(ep->slots);
	free(ep->peers);
	free(ep->calls);
	free(ep);
	return ret;
}

void rmap_ep_close(struct rmap_ep *ep)
{
	struct io_uring_sqe *sqe;

	if (!ep)
		return;
	/*
	 * Send what is queued and acknowledge what we received before we go,
	 * or the peer resends its last reply until it gives up on us (and
	 * says so in its log).
	 */
	ep_flush(ep->loop, &ep->flush_hook);
	while (ep->all_peers)
		rmap_peer_drop(ep, ep->all_peers);
	ep->closing = true;
	evl_timer_cancel(ep->loop, &ep->rexmit_timer);
	evl_timer_cancel(ep->loop, &ep->gc_timer);
	evl_timer_cancel(ep->loop, &ep->pace_timer);
	pace_discard(ep);
	/*
	 * Take back every receive we lent the kernel, and let every send
	 * finish, before freeing what they point at.
	 */
	sqe = evl_sqe(ep->loop, NULL);
	io_uring_prep_cancel_fd(sqe, ep->fd, IORING_ASYNC_CANCEL_ALL);
	while (ep->ops > 0)
		if (evl_run_once(ep->loop, 100000000) < 0)
			break;
	evl_remove_hook(ep->loop, &ep->flush_hook);
	mrecv_teardown(ep);
	tx_pools_drain(ep);
	close(ep->fd);
	auth_fini(ep);
	free(ep->rx_plain);
	free(ep->slots);
	free(ep->peers);
	free(ep->calls);
	free(ep);
}

uint64_t rmap_ep_rx_ns(const struct rmap_ep *ep)
{
	return ep->rx_ns;
}

uint16_t rmap_ep_port(const struct rmap_ep *ep)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(ep->fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	return sockaddr_port((struct sockaddr *)&ss);
}

size_t rmap_ep_sockbuf(const struct rmap_ep *ep)
{
	int rcv = 0, snd = 0;
	socklen_t len = sizeof(int);

	/* The kernel reports twice what was set: its bookkeeping's share. */
	if (getsockopt(ep->fd, SOL_SOCKET, SO_RCVBUF, &rcv, &len) < 0 ||
	    getsockopt(ep->fd, SOL_SOCKET, SO_SNDBUF, &snd, &len) < 0)
		return 0;
	return (size_t)(rcv < snd ? rcv : snd) / 2;
}

bool rmap_ep_sockbuf_short(const struct rmap_ep *ep, char *why, size_t len)
{
	size_t got = rmap_ep_sockbuf(ep);

	if (got >= RMAP_SOCKBUF)
		return false;
	snprintf(why, len, "RMAP socket buffers are %zu KiB, not the %u KiB "
		 "asked for: net.core.rmem_max and wmem_max cap them, and "
		 "this process lacks CAP_NET_ADMIN to go past; bursts will "
		 "be dropped and resent (sysctl -w "
		 "net.core.rmem_max=%u net.core.wmem_max=%u)", got >> 10,
		 RMAP_SOCKBUF >> 10, RMAP_SOCKBUF, RMAP_SOCKBUF);
	return true;
}

const struct rmap_counters *rmap_ep_counters(const struct rmap_ep *ep)
{
	return &ep->ctr;
}

void rmap_ep_new_turn(struct rmap_ep *ep)
{
	ep->turn++;
}

unsigned rmap_ep_pending(const struct rmap_ep *ep)
{
	unsigned n = 0;

	for (const struct rmap_peer *p = ep->all_peers; p; p = p->all_next) {
		n += p->snd_next - p->snd_una;
	}
	return n + ep->ncalls;
}
