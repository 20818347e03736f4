// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * memxd.c - the daemon: parse settings, start a role, run the loop.
 */
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "options.h"
#include "pager_main.h"
#include "server/server.h"

struct signal_watch {
	struct evl_op op;
	int fd;
	int signo;
};

static void signal_done(struct evl *loop, struct evl_op *op, int res)
{
	struct signal_watch *w = (struct signal_watch *)op;
	struct signalfd_siginfo si;

	(void)res;
	while (read(w->fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			log_info("SIGHUP: memxd does not reload its "
				 "configuration; restart it to apply changes");
			continue;
		}
		w->signo = (int)si.ssi_signo;
		log_info("caught signal %d (%s), shutting down", w->signo,
			 strsignal(w->signo));
		evl_stop(loop);
		return;
	}
	evl_poll(loop, w->fd, POLLIN, &w->op);
}

static int watch_signals(struct evl *loop, struct signal_watch *w)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	w->fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (w->fd < 0)
		return -errno;
	w->op.done = signal_done;
	evl_poll(loop, w->fd, POLLIN, &w->op);
	return 0;
}

static int run_server(struct evl *loop, const struct memxd_options *o)
{
	struct server_config sc = {
		.listen = o->listen,
		.capacity_pages = o->capacity / RMAP_PAGE_SIZE,
		.announce_ms = o->announce_ms,
		.announce_to = o->announce_to,
		.heartbeat_ms = o->heartbeat_ms,
		.lease_s = o->lease_s,
		.dedup = o->dedup,
		.reserve = o->reserve,
		.spin_us = o->server_spin_us,
		.rmap = o->rmap,
	};
	struct server_stats st;
	struct server *srv;
	char why[160], mtu[16] = "auto";
	int ret;

	if (o->test_corrupt &&
	    server_corrupt_parse(o->test_corrupt, &sc.corrupt, why,
				 sizeof(why))) {
		log_err("%s", why);
		return -EINVAL;
	}
	ret = server_new(&srv, loop, &sc);
	if (ret)
		return ret;
	if (o->rmap.mtu != RMAP_MTU_AUTO)
		snprintf(mtu, sizeof(mtu), "%u", o->rmap.mtu);
	log_info("memory server %s on UDP port %u: lending %lu MiB "
		 "(%lu pages), mtu %s, window %u, heartbeat %u ms, sessions "
		 "leased for %u s, dedup %s, %s; %s", PACKAGE_VERSION,
		 server_port(srv), (unsigned long)(o->capacity >> 20),
		 (unsigned long)sc.capacity_pages, mtu, o->rmap.window,
		 o->heartbeat_ms, o->lease_s, o->dedup ? "on" : "off",
		 o->reserve ? "reserved and locked in RAM" :
			      "taken as it fills",
		 o->rmap.auth.insecure ?
		 "NOT AUTHENTICATED" : rmap_ep_secure(server_ep(srv)) ?
		 "authenticated peers only" : "?");
	if (!o->rmap.auth.insecure)
		log_info("RMAP: %u peers allowed; datagrams sealed with %s "
			 "(%s)", o->rmap.auth.npeers,
			 rmap_ep_cipher(server_ep(srv)),
			 rmap_ep_cipher_library(server_ep(srv)));
	ret = evl_run(loop);
	server_stats(srv, &st);
	log_info("served %lu reads, %lu writes, %lu frees; refused %lu writes "
		 "when full; expired %lu sessions; %lu taken over (ATTACH), "
		 "%lu of them by another client (MOVE); parity: %lu xwrites, "
		 "%lu xfrees, %lu pxors, %lu readzs",
		 (unsigned long)st.reads, (unsigned long)st.writes,
		 (unsigned long)st.frees, (unsigned long)st.full_refusals,
		 (unsigned long)st.expired_sessions,
		 (unsigned long)st.attached, (unsigned long)st.moved,
		 (unsigned long)st.xwrites, (unsigned long)st.xfrees,
		 (unsigned long)st.pxors, (unsigned long)st.readzs);
	log_info("dedup: holding %lu pages in %lu; %lu pages hashed, %lu ns "
		 "each", (unsigned long)st.logical_pages,
		 (unsigned long)st.used_pages, (unsigned long)st.hashed_pages,
		 (unsigned long)(st.hashed_pages ?
				 st.hash_ns / st.hashed_pages : 0));
	if (sc.spin_us) {
		const struct spin_gov *g = evl_spin(loop);

		log_info("polling for requests (up to %u us): %lu polls, %lu "
			 "hits, %lu misses; %lu skipped as not paying, %lu as "
			 "CPUs were crowded", sc.spin_us,
			 (unsigned long)g->polls, (unsigned long)g->hits,
			 (unsigned long)g->misses,
			 (unsigned long)g->skipped_score,
			 (unsigned long)g->skipped_crowded);
	}
	{
		uint64_t c[RMAP_STATC_N];

		server_counters(srv, c);
		log_info("refused: %lu malformed, %lu unauthenticated, %lu "
			 "replayed, %lu over per-peer bounds, %lu from unknown "
			 "peers, %lu naming others' sessions, %lu over the "
			 "session limit; %lu cookies sent; %lu handshakes",
			 (unsigned long)c[RMAP_STATC_bad_packets],
			 (unsigned long)c[RMAP_STATC_auth_failures],
			 (unsigned long)c[RMAP_STATC_replays],
			 (unsigned long)c[RMAP_STATC_limit_drops],
			 (unsigned long)c[RMAP_STATC_unknown_peer],
			 (unsigned long)c[RMAP_STATC_bad_session],
			 (unsigned long)c[RMAP_STATC_session_limit],
			 (unsigned long)c[RMAP_STATC_cookie_challenges],
			 (unsigned long)c[RMAP_STATC_handshakes]);
	}
	{
		const struct rmap_counters *c = rmap_ep_counters(server_ep(srv));

		log_info("transport: %lu datagrams out in %lu sends (%lu of "
			 "them GSO runs, %lu bare acknowledgements), %lu "
			 "retransmitted; %lu in by %lu receives; %lu routes "
			 "found at another MTU",
			 (unsigned long)c->tx_packets,
			 (unsigned long)c->tx_sends,
			 (unsigned long)c->gso_sends,
			 (unsigned long)c->acks_sent,
			 (unsigned long)(c->retransmits + c->fast_retransmits),
			 (unsigned long)c->rx_packets,
			 (unsigned long)c->rx_recvs,
			 (unsigned long)c->mtu_changes);
	}
	server_free(srv);
	return ret;
}

int main(int argc, char **argv)
{
	struct memxd_options o;
	struct signal_watch sw = { 0 };
	enum log_level lvl;
	struct evl *loop;
	char why[512];
	int ret;

	/*
	 * RMAP's packets come and go by the thousand with each window: left
	 * to itself, glibc trims the heap's top after a burst and faults it
	 * back in for the next (a memory server at a window of 256 spent a
	 * tenth of its time so).  Keep up to 64 MiB of freed heap instead.
	 */
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_TOP_PAD, 4 << 20);
	options_init(&o);
	ret = options_parse(&o, argc, argv);
	if (ret) {
		options_free(&o);
		return ret > 0 ? 0 : 2;
	}
	if (o.genkey || o.pubkey) {
		ret = o.genkey ? options_genkey(o.genkey)
			       : options_pubkey(o.pubkey);
		options_free(&o);
		return ret ? 1 : 0;
	}
	if (o.log_level) {
		if (log_parse_level(o.log_level, &lvl)) {
			fprintf(stderr, "memxd: unknown log level '%s'\n",
				o.log_level);
			return 2;
		}
		log_set_level(lvl);
	}
	if (options_load_auth(&o, why, sizeof(why))) {
		fprintf(stderr, "memxd: %s\n", why);
		options_free(&o);
		return 2;
	}
	if (rmap_config_check(&o.rmap, why, sizeof(why))) {
		fprintf(stderr, "memxd: %s\n", why);
		options_free(&o);
		return 2;
	}
	if (o.rmap.auth.insecure)
		log_warn("RMAP AUTHENTICATION IS OFF (insecure-no-auth): "
			 "anyone who can send to this host can read, write and "
			 "free every page it serves or stores; use it only on "
			 "a network nobody else reaches");
	else if (rmap_aesgcm_fell_back())
		log_warn("intel-ipsec-mb sealed a test vector unlike GnuTLS on "
			 "this CPU: AES-GCM goes through GnuTLS instead");
	if (o.server && o.capacity < RMAP_PAGE_SIZE) {
		fprintf(stderr, "memxd: capacity must be at least one page\n");
		return 2;
	}
	ret = evl_new(&loop, 1024);
	if (ret) {
		log_err("cannot set up io_uring: %s", strerror(-ret));
		return 1;
	}
	if (evl_defers_task_work(loop))
		log_info("io_uring: completions are reaped when the loop asks "
			 "(DEFER_TASKRUN)");
	else
		log_warn("io_uring: this kernel has no DEFER_TASKRUN (new "
			 "in Linux 6.1): each completion interrupts the loop, "
			 "and a remote fault takes longer");
	ret = watch_signals(loop, &sw);
	if (ret) {
		log_err("cannot watch signals: %s", strerror(-ret));
		return 1;
	}
	if (o.server)
		ret = run_server(loop, &o);
	else
		ret = pager_main(loop, &o);
	evl_free(loop);
	options_free(&o);
	if (sw.fd > 0)
		close(sw.fd);
	return ret ? 1 : 0;
}
