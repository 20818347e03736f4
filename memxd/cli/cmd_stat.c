// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_stat.c - memxctl stat HOST...: what each server lends, holds and
 * serves, what dedup saves there and costs, what it refused, and the
 * memory of ended sessions it is still freeing (an RMAP STAT; no session
 * is opened).
 * And memxctl genkey / pubkey, which need no server.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../options.h"

int cmd_genkey(struct cli *c, int argc, char **argv)
{
	(void)c;
	if (argc != 1) {
		fprintf(stderr, "usage: memxctl genkey FILE\n");
		return 2;
	}
	return options_genkey(argv[0]) ? 1 : 0;
}

int cmd_pubkey(struct cli *c, int argc, char **argv)
{
	(void)c;
	if (argc != 1) {
		fprintf(stderr, "usage: memxctl pubkey FILE\n");
		return 2;
	}
	return options_pubkey(argv[0]) ? 1 : 0;
}

/* One server's STAT reply, and which of its blocks came. */
struct stat_result {
	const char *name;		/* as given, if it was never reached */
	struct rmap_peer *peer;
	bool ok;
	uint32_t blocks;
	struct rmap_stat st;
	struct rmap_stat_dedup dd;
	uint64_t ctr[RMAP_STATC_N], tr[RMAP_STATT_N], host[RMAP_STATH_N];
	uint64_t mem[RMAP_STATM_N];
	struct rmap_stat_sources src;
};

/* Ask @name for its STAT: false after saying why on stderr. */
static bool stat_ask(struct cli *c, const char *name, struct stat_result *r)
{
	uint8_t want[RMAP_STAT_REQ_LEN] = {
		0, 0, 0, RMAP_STAT_WANT_COUNTERS | RMAP_STAT_WANT_DEDUP |
			 RMAP_STAT_WANT_TRANSPORT | RMAP_STAT_WANT_HOST |
			 RMAP_STAT_WANT_RESERVED | RMAP_STAT_WANT_SOURCES |
			 RMAP_STAT_WANT_MEMORY
	};
	struct iovec iov = { want, sizeof(want) };
	struct rmap_req req = { .type = RMAP_T_STAT, .iov = &iov,
				.iovcnt = 1 };
	uint8_t buf[RMAP_STAT_MAX_LEN];
	struct sync_call sc;
	struct srv s = { 0 };
	bool bad = false;
	int ret;

	r->name = name;
	if (srv_open(c, &s, name))
		return false;
	r->peer = s.peer;
	ret = call_sync(c, &s, &req, buf, sizeof(buf), &sc);
	/* A server older than a block answers without it. */
	if (!ret && !sc.status &&
	    rmap_stat_reply_blocks(sc.len, want[3], &r->blocks)) {
		if (r->blocks & RMAP_STAT_WANT_COUNTERS)
			rmap_stat_counters_decode(buf + RMAP_STAT_LEN, r->ctr);
		if (r->blocks & RMAP_STAT_WANT_DEDUP)
			bad = rmap_stat_dedup_decode(buf +
				rmap_stat_block_off(r->blocks,
					RMAP_STAT_WANT_DEDUP), &r->dd);
		if (r->blocks & RMAP_STAT_WANT_TRANSPORT)
			rmap_stat_transport_decode(buf +
				rmap_stat_block_off(r->blocks,
					RMAP_STAT_WANT_TRANSPORT), r->tr);
		if (r->blocks & RMAP_STAT_WANT_HOST)
			rmap_stat_host_decode(buf +
				rmap_stat_block_off(r->blocks,
					RMAP_STAT_WANT_HOST), r->host);
		if (r->blocks & RMAP_STAT_WANT_SOURCES)
			bad |= rmap_stat_sources_decode(buf +
				rmap_stat_block_off(r->blocks,
					RMAP_STAT_WANT_SOURCES), &r->src);
		if (r->blocks & RMAP_STAT_WANT_MEMORY)
			rmap_stat_memory_decode(buf +
				rmap_stat_block_off(r->blocks,
					RMAP_STAT_WANT_MEMORY), r->mem);
		sc.len = RMAP_STAT_LEN;
	}
	if (ret || sc.status || bad || rmap_stat_decode(buf, sc.len, &r->st)) {
		fprintf(stderr, "memxctl: %s: %s\n", name,
			ret == -EHOSTUNREACH ? "unreachable" :
			ret ? strerror(-ret) : "bad STAT reply");
		return false;
	}
	r->ok = true;
	return true;
}

static double dedup_saved_pct(const struct rmap_stat_dedup *dd)
{
	return dd->logical_pages ? 100.0 * (double)(dd->logical_pages -
						    dd->unique_pages) /
				   (double)dd->logical_pages : 0.0;
}

/* A server's line of key=value pairs. */
static void stat_print(const struct stat_result *r)
{
	const struct rmap_stat *st = &r->st;
	const struct rmap_stat_dedup *dd = &r->dd;

	printf("server=%s capacity_pages=%lu used_pages=%lu "
	       "free_MiB=%lu load_permille=%u sessions=%u srtt_us=%u "
	       "mtu=%u leaving=%u reserved=%u",
	       rmap_peer_name(r->peer), (unsigned long)st->capacity_pages,
	       (unsigned long)st->used_pages,
	       (unsigned long)((st->capacity_pages - st->used_pages) *
			       PAGE >> 20),
	       st->load_permille, st->sessions,
	       rmap_peer_srtt_us(r->peer), rmap_peer_mtu(r->peer),
	       st->flags & RMAP_STAT_LEAVING ? 1u : 0u,
	       st->flags & RMAP_STAT_RESERVED ? 1u : 0u);
	/*
	 * Dedup: the pages its clients hold, the unique pages they take
	 * (used_pages), what that saves, and what hashing and comparing
	 * cost per page written.
	 */
	if (r->blocks & RMAP_STAT_WANT_DEDUP)
		printf(" dedup=%s logical_pages=%llu unique_pages=%llu "
		       "dedup_saved_pct=%.1f hash_ns_per_page=%llu",
		       dd->flags & RMAP_DEDUP_ON ? "on" : "off",
		       (unsigned long long)dd->logical_pages,
		       (unsigned long long)dd->unique_pages,
		       dedup_saved_pct(dd),
		       (unsigned long long)(dd->hashed_pages ?
			       dd->hash_ns / dd->hashed_pages : 0));
	/* What it refused: the server's side of an attack. */
#define X(name, help) \
	printf(" rmap_" #name "=%llu", (unsigned long long)r->ctr[RMAP_STATC_##name]);
	RMAP_STAT_COUNTERS(X)
#undef X
	/* What its sending cost: a lossy link, a changed MTU. */
	if (r->blocks & RMAP_STAT_WANT_TRANSPORT) {
#define X(name, help) \
		printf(" rmap_" #name "=%llu", (unsigned long long)r->tr[RMAP_STATT_##name]);
		RMAP_STAT_TRANSPORT(X)
#undef X
	}
	/* What serving costs its host: CPU, and polling for work. */
	if (r->blocks & RMAP_STAT_WANT_HOST) {
#define X(name, help) \
		printf(" " #name "=%llu", (unsigned long long)r->host[RMAP_STATH_##name]);
		RMAP_STAT_HOST(X)
#undef X
	}
	/* Whom it refused: addresses they claimed, so forgeable. */
	if (r->blocks & RMAP_STAT_WANT_SOURCES) {
		char from[RMAP_STAT_SOURCES * (INET6_ADDRSTRLEN + 24)];

		rmap_stat_sources_text(&r->src, from, sizeof(from));
		printf(" refused_from=%s refused_others=%llu", from,
		       (unsigned long long)r->src.others);
	}
	/* Ended sessions still being walked, memory on its way back. */
	if (r->blocks & RMAP_STAT_WANT_MEMORY) {
#define X(name, help) \
		printf(" " #name "=%llu", (unsigned long long)r->mem[RMAP_STATM_##name]);
		RMAP_STAT_MEMORY(X)
#undef X
	}
	printf("\n");
}

/* ---- --prometheus: the same, for a lending host's exporter ---- */

/* The server label: the address it answered from, or the name given. */
static void prom_label(const struct stat_result *r)
{
	const char *name = r->peer ? rmap_peer_name(r->peer) : r->name;

	fputs("{server=\"", stdout);
	for (const char *p = name; *p; p++) {
		if (*p == '"' || *p == '\\')
			putchar('\\');
		if (*p == '\n')
			fputs("\\n", stdout);
		else
			putchar(*p);
	}
	fputs("\"}", stdout);
}

/*
 * One family, memx_lender_@key: HELP and TYPE, then a sample of each of
 * the @n servers in @res that answered with @block (0: any that
 * answered), @value computed from its result r.  Families are printed
 * whole, one after another, as the text format wants.
 */
#define PROM_FAMILY(key, type, help, block, value)			\
	do {								\
		printf("# HELP memx_lender_%s %s\n"			\
		       "# TYPE memx_lender_%s %s\n", key, help, key,	\
		       type);						\
		for (int i_ = 0; i_ < n; i_++) {			\
			const struct stat_result *r = &res[i_];		\
									\
			if (!r->ok || ((block) && !(r->blocks & (block)))) \
				continue;				\
			printf("memx_lender_%s", key);			\
			prom_label(r);					\
			printf(" %.15g\n", (double)(value));		\
		}							\
	} while (0)

static void stat_prometheus(const struct stat_result *res, int n)
{
	printf("# HELP memx_lender_up 1 if the memory server answered this "
	       "STAT.\n# TYPE memx_lender_up gauge\n");
	for (int i = 0; i < n; i++) {
		printf("memx_lender_up");
		prom_label(&res[i]);
		printf(" %d\n", res[i].ok);
	}
	PROM_FAMILY("capacity_pages", "gauge", "Pages it lends in all "
		    "(4 KiB each).", 0, r->st.capacity_pages);
	PROM_FAMILY("used_pages", "gauge", "Pages its clients' data takes "
		    "there.", 0, r->st.used_pages);
	PROM_FAMILY("load_ratio", "gauge", "Its recent request load, 0 to 1.",
		    0, r->st.load_permille / 1000.0);
	PROM_FAMILY("sessions", "gauge", "Sessions open there.", 0,
		    r->st.sessions);
	PROM_FAMILY("leaving", "gauge", "1 once it was told to leave: it "
		    "takes no new sessions.", 0,
		    !!(r->st.flags & RMAP_STAT_LEAVING));
	PROM_FAMILY("reserved", "gauge", "1 if its capacity is locked in "
		    "RAM.", 0, !!(r->st.flags & RMAP_STAT_RESERVED));
	PROM_FAMILY("srtt_seconds", "gauge", "RMAP's smoothed round trip to "
		    "it, from here.", 0, rmap_peer_srtt_us(r->peer) / 1e6);
	PROM_FAMILY("mtu_bytes", "gauge", "The path MTU RMAP uses to it, "
		    "from here.", 0, rmap_peer_mtu(r->peer));
	PROM_FAMILY("dedup_on", "gauge", "1 if it shares equal pages.",
		    RMAP_STAT_WANT_DEDUP, !!(r->dd.flags & RMAP_DEDUP_ON));
	PROM_FAMILY("logical_pages", "gauge", "Pages its sessions hold "
		    "(references).", RMAP_STAT_WANT_DEDUP,
		    r->dd.logical_pages);
	PROM_FAMILY("unique_pages", "gauge", "Slots they take after dedup.",
		    RMAP_STAT_WANT_DEDUP, r->dd.unique_pages);
	PROM_FAMILY("dedup_hashed_pages_total", "counter", "Pages hashed to "
		    "find an equal one.", RMAP_STAT_WANT_DEDUP,
		    r->dd.hashed_pages);
	PROM_FAMILY("dedup_hash_seconds_total", "counter", "Time spent "
		    "hashing and comparing them.", RMAP_STAT_WANT_DEDUP,
		    r->dd.hash_ns / 1e9);
#define X(name, help)							\
	PROM_FAMILY("rmap_" #name "_total", "counter", "RMAP " help ".",	\
		    RMAP_STAT_WANT_COUNTERS, r->ctr[RMAP_STATC_##name]);
	RMAP_STAT_COUNTERS(X)
#undef X
#define X(name, help)							\
	PROM_FAMILY("rmap_" #name "_total", "counter", "RMAP " help ".",	\
		    RMAP_STAT_WANT_TRANSPORT, r->tr[RMAP_STATT_##name]);
	RMAP_STAT_TRANSPORT(X)
#undef X
	PROM_FAMILY("cpu_user_seconds_total", "counter", "CPU time in user "
		    "mode since it started.", RMAP_STAT_WANT_HOST,
		    r->host[RMAP_STATH_cpu_user_ms] / 1e3);
	PROM_FAMILY("cpu_system_seconds_total", "counter", "CPU time in the "
		    "kernel since it started.", RMAP_STAT_WANT_HOST,
		    r->host[RMAP_STATH_cpu_sys_ms] / 1e3);
	/* The rest of the host block: what its polling decided. */
#define X(name, help)							\
	if (RMAP_STATH_##name > RMAP_STATH_cpu_sys_ms)			\
		PROM_FAMILY(#name "_total", "counter", "Its " help ".",	\
			    RMAP_STAT_WANT_HOST, r->host[RMAP_STATH_##name]);
	RMAP_STAT_HOST(X)
#undef X
	PROM_FAMILY("freeing_pages", "gauge", "References of ended sessions "
		    "not yet dropped (counted in used_pages).",
		    RMAP_STAT_WANT_MEMORY, r->mem[RMAP_STATM_freeing_pages]);
	PROM_FAMILY("give_back_pages", "gauge", "Pages let go of, not yet "
		    "given back to the host.", RMAP_STAT_WANT_MEMORY,
		    r->mem[RMAP_STATM_give_back_pages]);
	PROM_FAMILY("freed_pages_total", "counter", "References of ended "
		    "sessions dropped.", RMAP_STAT_WANT_MEMORY,
		    r->mem[RMAP_STATM_freed_pages]);
	PROM_FAMILY("given_back_pages_total", "counter", "Pages given back "
		    "to the host.", RMAP_STAT_WANT_MEMORY,
		    r->mem[RMAP_STATM_given_back_pages]);
	PROM_FAMILY("give_back_turns_total", "counter", "Turns of its loop "
		    "that walked or gave back.", RMAP_STAT_WANT_MEMORY,
		    r->mem[RMAP_STATM_give_back_turns]);
}

/*
 * memxctl stat HOST...: a line per server, or with --prometheus the
 * text format.  The exit status is 1 if any did not answer (with
 * --prometheus, each of those is still there, as memx_lender_up 0).
 */
int cmd_stat(struct cli *c, int argc, char **argv)
{
	struct stat_result *res;
	int failed = 0;

	if (argc < 1) {
		fprintf(stderr, "usage: memxctl [--prometheus] stat "
			"HOST[:PORT]...\n");
		return 2;
	}
	res = calloc((size_t)argc, sizeof(*res));
	if (!res) {
		fprintf(stderr, "memxctl: out of memory\n");
		return 1;
	}
	for (int i = 0; i < argc; i++) {
		if (!stat_ask(c, argv[i], &res[i])) {
			failed = 1;
			continue;
		}
		if (!c->prometheus)
			stat_print(&res[i]);
	}
	if (c->prometheus)
		stat_prometheus(res, argc);
	free(res);
	return failed;
}
