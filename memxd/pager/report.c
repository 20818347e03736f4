// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * report.c - what the pager tells memxctl: key=value state (get=1) and
 * the same in Prometheus text format, both from the tables of counters
 * (stats.h, remote.h) and of gauges below.
 */
#include <arpa/inet.h>
#include <string.h>
#include <sys/resource.h>

#include "recovery.h"
#include "vm.h"

/* What is counted by looking, not by incrementing: gauges of one VM. */
#define VM_GAUGES(X)							\
	X(gpas_pages, "pages of guest-physical memory")			\
	X(budget_pages, "pages the VM may keep resident")		\
	X(resident_pages, "pages resident (or being evicted)")		\
	X(max_resident_pages, "the most pages ever resident")		\
	X(remote_pages, "pages whose copy is on the servers")		\
	X(spilled_pages, "pages in the local spill file")		\
	X(zero_pages, "pages never written (or freed)")			\
	X(evicting_pages, "pages being evicted")			\
	X(fetching_pages, "pages being read")				\
	X(prefetch_window, "pages the prefetcher reads ahead now")	\
	X(pagetable_bugs, "page-state changes refused (bugs)")		\
	X(hot_pages, "resident pages in the victim policy's hot set")	\
	X(victim_theta, "refaults per hot-set place given up")		\
	X(victim_refaults, "installs of pages evicted within the horizon") \
	X(victim_promoted, "pages installed into the hot set")		\
	X(victim_demoted, "hot pages let go by the hot hand")		\
	X(victim_sampled, "dirty hot pages write-protected to see a write") \
	X(victim_stale, "dirty hot pages let go, unwritten for a round") \
	X(victim_lead_clock, "adaptive: pages fetched by CLOCK's leaders") \
	X(victim_lead_refault, "adaptive: pages fetched by refault's leaders") \
	X(victim_follow_refault, "adaptive: 1 while the others run refault") \
	X(victim_duel_turns, "adaptive: times the others changed policy") \
	X(victim_lead_scanned, "adaptive: pages the leaders' hands passed") \
	X(victim_hot_scanned, "pages the hot hands passed to demote one") \
	X(pg_groups, "page-groups placed on servers")			\
	X(pg_degraded, "groups missing a slot, waiting for a job")	\
	X(pg_rebuilding, "groups whose slot is being rebuilt")		\
	X(pg_lost, "groups that lost two slots")			\
	X(recovery_pending, "groups to rebuild or move")		\
	X(lost_pages, "pages whose every copy was lost, or failed its check")

struct vm_gauges {
#define X(key, help) uint64_t key;
	VM_GAUGES(X)
#undef X
};

/*
 * @vm's lost pages, as "@prefix FIRST-LAST" lines (page ranges, in GPAS
 * order) appended to @o (if not NULL); returns how many pages they are.
 */
static uint64_t lost_ranges(struct vm *vm, GString *o, const char *prefix)
{
	const struct pg_geometry *geo = vm_geo(vm);
	uint64_t per = pg_group_pages(geo), first = UINT64_MAX, last = 0;
	uint64_t n = 0;

	/*
	 * Pages of LOST groups whose slot went, and pages that failed their
	 * integrity check with no good copy (PS_LOST), in GPAS order.
	 */
	for (uint64_t g = 0; g < pg_ngroups(vm->groups); g++) {
		const struct pg_group *grp = pg_group(vm->groups, g);
		uint64_t end = (g + 1) * per < vm->npages ? (g + 1) * per
							   : vm->npages;

		for (uint64_t p = g * per; p < end; p++) {
			bool lost = pt_state(&vm->pt, p) == PS_LOST ||
				    (grp->state == PG_LOST &&
				     pt_state(&vm->pt, p) == PS_REMOTE &&
				     grp->lost & (1u << (p % per % geo->width)));

			if (!lost)
				continue;
			n++;
			if (first != UINT64_MAX && p == last + 1) {
				last = p;
				continue;
			}
			if (first != UINT64_MAX && o)
				g_string_append_printf(o, "%s%lu-%lu\n", prefix,
						       (unsigned long)first,
						       (unsigned long)last);
			first = last = p;
		}
	}
	if (first != UINT64_MAX && o)
		g_string_append_printf(o, "%s%lu-%lu\n", prefix,
				       (unsigned long)first, (unsigned long)last);
	return n;
}

/*
 * Can a page be lost?  Only a LOST page, or a page of a LOST group: a
 * dump of a healthy VM scans none of its pages.
 */
static bool any_lost(const struct vm *vm)
{
	if (vm->pt.by_state[PS_LOST])
		return true;
	for (uint64_t g = 0; g < pg_ngroups(vm->groups); g++)
		if (pg_group(vm->groups, g)->state == PG_LOST)
			return true;
	return false;
}

static void gauges_of(struct vm *vm, struct vm_gauges *g)
{
	const uint64_t *by_state = vm->pt.by_state;
	uint64_t groups[PG_NSTATES] = { 0 };

	for (uint64_t i = 0; i < pg_ngroups(vm->groups); i++)
		groups[pg_group(vm->groups, i)->state]++;
	*g = (struct vm_gauges){
		.gpas_pages = vm->npages,
		.budget_pages = vm->budget,
		.resident_pages = pt_resident(&vm->pt),
		.max_resident_pages = vm->pt.max_resident,
		.remote_pages = by_state[PS_REMOTE] + by_state[PS_FETCHING],
		.spilled_pages = by_state[PS_SPILLED],
		.zero_pages = by_state[PS_NEVER],
		.evicting_pages = pt_evicting(&vm->pt),
		.fetching_pages = by_state[PS_FETCHING],
		.prefetch_window = vm->pf.window,
		.pagetable_bugs = vm->pt.bugs,
		.hot_pages = vm->pt.hot,
		.victim_theta = vm->victim.theta,
		.victim_refaults = vm->victim.st.refaults,
		.victim_promoted = vm->victim.st.promoted,
		.victim_demoted = vm->victim.st.demoted,
		.victim_sampled = vm->victim.st.sampled,
		.victim_stale = vm->victim.st.stale,
		.victim_lead_clock = vm->victim.st.lead_clock,
		.victim_lead_refault = vm->victim.st.lead_refault,
		.victim_follow_refault = vm->victim.follow_refault,
		.victim_duel_turns = vm->victim.st.turns,
		.victim_lead_scanned = vm->victim.st.lead_scanned,
		.victim_hot_scanned = vm->victim.st.hot_scanned,
		.pg_groups = pg_ngroups(vm->groups) - groups[PG_EMPTY],
		.pg_degraded = groups[PG_DEGRADED],
		.pg_rebuilding = groups[PG_REBUILDING],
		.pg_lost = groups[PG_LOST],
		.recovery_pending = groups[PG_DEGRADED] + groups[PG_REBUILDING],
		.lost_pages = by_state[PS_LOST] || groups[PG_LOST] ?
			      lost_ranges(vm, NULL, NULL) : 0,
	};
}

static uint64_t hist_percentile(const struct vm *vm, unsigned pct)
{
	uint64_t total = 0, seen = 0;

	for (unsigned b = 0; b < HIST_BUCKETS; b++)
		total += vm->st.hist[b];
	if (!total)
		return 0;
	for (unsigned b = 0; b < HIST_BUCKETS; b++) {
		seen += vm->st.hist[b];
		if (seen * 100 >= total * pct)
			return 1ull << b;
	}
	return 1ull << (HIST_BUCKETS - 1);
}

/*
 * Bytes of per-VM metadata per GPAS page: page table (the victim
 * policy's bits included), versions, placement, the policy's own state
 * and the MAC key.
 */
static double metadata_per_page(const struct vm *vm)
{
	return (double)(vm->npages * (sizeof(pte_t) + sizeof(*vm->pt.ver)) +
			pg_table_bytes(vm->groups) + sizeof(vm->victim) +
			INTEGRITY_KEY_LEN) /
	       (double)vm->npages;
}

/*
 * The RMAP endpoint's counters in `memxctl dump`, as rmap_KEY: what was
 * resent, and what was refused and why (tests/docs.sh reads this table).
 */
#define RMAP_DUMP_COUNTERS(X)						\
	X(tx_packets, tx_packets, "datagrams sent")                     \
	X(tx_sends, tx_sends, "sends (GSO puts many datagrams in one)") \
	X(tx_padded, tx_padded, "last fragments padded to go on a run") \
	X(rx_packets, rx_packets, "datagrams received")                 \
	X(rx_recvs, rx_recvs, "receives (GRO gives many in one)")       \
	X(retransmits, retransmits, "packets resent by the timer")      \
	X(fast_retransmits, fast_retransmits, "packets fast-retransmitted") \
	X(dup_packets, dup_packets, "duplicates dropped")               \
	X(bad_packets, bad_total, "refused as malformed")               \
	X(unknown_peer, unknown_peer, "from unknown peers")             \
	X(auth_failures, auth_failures, "failed to authenticate")       \
	X(replays, replays, "authentic, but seen before")               \
	X(limit_drops, limit_drops, "over a per-peer bound")            \
	X(reply_mismatch, reply_mismatch, "replies for another run")    \
	X(mtu_changes, mtu_changes, "route MTUs found changed")         \
	X(handshakes, handshakes, "handshakes completed")               \
	X(cookie_challenges, cookie_challenges, "cookies sent, under load")

/*
 * Is placement emptying server @i?  Until it is drained (or dies), dump
 * says "draining" instead of the remote's state (remote_state_of()).
 */
static bool server_draining(const struct pager *pg, unsigned i)
{
	const struct remote_server *s = remote_server(pg->remote, i);

	return pg->placement[i].draining && !s->drained && !s->dead;
}

/*
 * rmap_refused_from=HOST(N),... and rmap_refused_others=N: the hosts the
 * pager refused datagrams from (the addresses they claimed), most first.
 */
static void refused_sources(GString *o, const struct rmap_counters *rc)
{
	char from[RMAP_STAT_SOURCES * (INET6_ADDRSTRLEN + 24)];
	struct rmap_stat_sources src;

	rmap_refused_sources(rc, &src);
	rmap_stat_sources_text(&src, from, sizeof(from));
	g_string_append_printf(o, "rmap_refused_from=%s\n"
			       "rmap_refused_others=%llu\n", from,
			       (unsigned long long)src.others);
}

static const char *server_state(const struct pager *pg, unsigned i)
{
	if (server_draining(pg, i))
		return "draining";
	return remote_server_state(pg->remote, i);
}

/* What a server's dedup saves, in percent of the pages it holds. */
static double dedup_saved_pct(const struct remote_server *s)
{
	if (!s->logical_pages)
		return 0.0;
	return 100.0 * (double)(s->logical_pages - s->unique_pages) /
	       (double)s->logical_pages;
}

/*
 * The event loop's polling before sleeping (rmap/spin.h), as spin_KEY in
 * `memxctl dump` (tests/docs.sh reads this table too).
 */
#define SPIN_DUMP_COUNTERS(X)						\
	X(polls, "polls granted")                                       \
	X(hits, "polls a completion ended")                             \
	X(misses, "polls that ran out, then slept")                     \
	X(skipped_score, "sleeps at once: polls seldom paid lately")    \
	X(skipped_crowded, "sleeps at once: threads waited for a CPU")

/* The CPU time memxd has used since it started, in ms. */
static void cpu_ms(uint64_t *user, uint64_t *sys)
{
	struct rusage ru = { 0 };

	getrusage(RUSAGE_SELF, &ru);
	*user = (uint64_t)ru.ru_utime.tv_sec * 1000 +
		(uint64_t)ru.ru_utime.tv_usec / 1000;
	*sys = (uint64_t)ru.ru_stime.tv_sec * 1000 +
	       (uint64_t)ru.ru_stime.tv_usec / 1000;
}

void pager_dump(struct pager *pg, GString *o)
{
	uint64_t user_ms, sys_ms;
	const char *cipher, *library;
	const struct spin_gov *sg = evl_spin(pg->loop);
	const struct rmap_counters *rc = remote_counters(pg->remote);

	uint64_t since = 0;
	bool cut = remote_cut_off(pg->remote, &since);

	g_string_append_printf(o, "vms=%u\nslack_pages=%u\nlocal_total=%llu\n"
			       "reserved=%llu\nfrozen=%d\nfrozen_s=%.1f\n",
			       pager_vm_count(pg), PAGER_SLACK_PAGES,
			       (unsigned long long)pg->cfg.local_total,
			       (unsigned long long)pager_reserved(pg), cut,
			       cut ? (double)(evl_now_ns() - since) / 1e9 : 0.0);
	cpu_ms(&user_ms, &sys_ms);
	g_string_append_printf(o, "cpu_user_ms=%llu\ncpu_sys_ms=%llu\n",
			       (unsigned long long)user_ms,
			       (unsigned long long)sys_ms);
	remote_cipher(pg->remote, &cipher, &library);
	g_string_append_printf(o, "rmap_cipher=%s\nrmap_aead_library=%s\n",
			       cipher, library);
	for (unsigned i = 0; i < pg->nservers; i++) {
		const struct remote_server *s = remote_server(pg->remote, i);
		const struct pg_server *ps = &pg->placement[i];

		g_string_append_printf(o, "server=%s\nserver_state=%s\n"
				       "server_reachable=%d\nserver_full=%d\n",
				       s->name, server_state(pg, i),
				       s->reachable, ps->full);
#define X(key, help)							\
		g_string_append_printf(o, "server_" #key "=%llu\n",	\
				       (unsigned long long)s->st.key);
		REMOTE_SERVER_COUNTERS(X)
#undef X
		g_string_append_printf(o, "server_down_s=%.1f\n",
				       s->down ? (double)(evl_now_ns() -
						s->down_since_ns) / 1e9 : 0.0);
		g_string_append_printf(o,
			"server_capacity_pages=%llu\nserver_used_pages=%llu\n"
			"server_load_permille=%u\nserver_srtt_us=%u\n"
			"server_mtu=%u\nserver_reserved=%d\n"
			"server_groups=%llu\nserver_parity_groups=%llu\n"
			"server_freeing_pages=%llu\n",
			(unsigned long long)s->capacity_pages,
			(unsigned long long)s->used_pages, s->load_permille,
			rmap_peer_srtt_us(s->peer), rmap_peer_mtu(s->peer),
			s->reserved,
			(unsigned long long)ps->groups,
			(unsigned long long)ps->parity,
			(unsigned long long)s->freeing_pages);
		if (s->has_dedup)
			g_string_append_printf(o,
				"server_dedup=%d\nserver_logical_pages=%llu\n"
				"server_unique_pages=%llu\n"
				"server_dedup_saved_pct=%.1f\n"
				"server_hash_ns_per_page=%llu\n",
				s->dedup_on,
				(unsigned long long)s->logical_pages,
				(unsigned long long)s->unique_pages,
				dedup_saved_pct(s),
				(unsigned long long)(s->hashed_pages ?
					s->hash_ns / s->hashed_pages : 0));
	}
#define X(key, field, help)						\
	g_string_append_printf(o, "rmap_" #key "=%llu\n",		\
			       (unsigned long long)rc->field);
	RMAP_DUMP_COUNTERS(X)
#undef X
	refused_sources(o, rc);
	g_string_append_printf(o, "spin_max_us=%llu\n",
			       (unsigned long long)(sg->max_ns / 1000));
#define X(key, help)							\
	g_string_append_printf(o, "spin_" #key "=%llu\n",		\
			       (unsigned long long)sg->key);
	SPIN_DUMP_COUNTERS(X)
#undef X
	g_string_append_printf(o, "recovery_queued=%u\n", recovery_pending(pg));
	for (struct vm *vm = pg->vms; vm; vm = vm->next) {
		const struct pg_geometry *geo = vm_geo(vm);
		struct vm_gauges g;

		gauges_of(vm, &g);
		g_string_append_printf(o, "vm=%s\nuuid=%s\npid=%d\n"
				       "migrating=%s\nevict_policy=%s\n",
				       vm->name, vm->uuid, vm->pid,
				       vm->mig == VM_MIG_OUT ? "out" :
				       vm->mig == VM_MIG_IN ? "in" : "no",
				       victim_policy_name(vm->victim.policy));
#define X(key, help)							\
		g_string_append_printf(o, #key "=%llu\n",		\
				       (unsigned long long)g.key);
		VM_GAUGES(X)
#undef X
#define X(field, family, kind, help)					\
		g_string_append_printf(o, #field "=%llu\n",		\
				       (unsigned long long)vm->st.field);
		VM_COUNTERS(X)
#undef X
#define X(stage, help)							\
		g_string_append_printf(o, "evict_" #stage "_us=%llu\n"	\
				       "evict_" #stage "_calls=%llu\n",	\
				       (unsigned long long)		\
				       (vm->st.stage_ns[ES_##stage] / 1000), \
				       (unsigned long long)		\
				       vm->st.stage_calls[ES_##stage]);
		EVICT_STAGES(X)
#undef X
		g_string_append_printf(o,
			"fault_p50_us=%llu\nfault_p99_us=%llu\n"
			"metadata_bytes_per_page=%.3f\npg_width=%u\n"
			"pg_rows=%u\npg_parity=%d\npage_mac=%s\n",
			(unsigned long long)hist_percentile(vm, 50),
			(unsigned long long)hist_percentile(vm, 99),
			metadata_per_page(vm), geo->width, geo->rows,
			geo->parity, vm->integ.on ?
			integrity_mac_name(vm->integ.mac) : "off");
		if (any_lost(vm))
			lost_ranges(vm, o, "lost_range=");
		g_string_append(o, "fault_hist_us=");
		for (unsigned b = 0; b < HIST_BUCKETS; b++)
			g_string_append_printf(o, "%s%llu", b ? "," : "",
					       (unsigned long long)vm->st.hist[b]);
		g_string_append_c(o, '\n');
	}
}

/* ---- Prometheus ---- */

/*
 * The counters of every VM, a family at a time (memx_FAMILY_total, with
 * labels vm and kind), each family's HELP and TYPE once, in table order.
 */
static void prom_counters(struct pager *pg, GString *o)
{
	static const char *const families[] = {
#define X(field, family, kind, help) #family,
		VM_COUNTERS(X)
#undef X
	};
	const char *seen[G_N_ELEMENTS(families)];
	unsigned nseen = 0;

	for (unsigned i = 0; i < G_N_ELEMENTS(families); i++) {
		const char *fam = families[i];
		bool dup = false;

		for (unsigned k = 0; k < nseen && !dup; k++)
			dup = !strcmp(seen[k], fam);
		if (dup)
			continue;
		seen[nseen++] = fam;
		g_string_append_printf(o, "# HELP memx_%s_total memx %s, by "
				       "kind.\n# TYPE memx_%s_total counter\n",
				       fam, fam, fam);
		for (struct vm *vm = pg->vms; vm; vm = vm->next) {
#define X(field, family, kind, help)					\
			if (!strcmp(#family, fam))			\
				g_string_append_printf(o, "memx_" #family \
					"_total{vm=\"%s\",kind=\"" #kind \
					"\"} %llu\n", vm->name,		\
					(unsigned long long)vm->st.field);
			VM_COUNTERS(X)
#undef X
		}
	}
}

/*
 * One family of every memory server (of those with a dedup block, if
 * @dedup): @what of each, of Prometheus type @type.
 */
static void prom_server_family(struct pager *pg, GString *o, const char *key,
			       const char *type, const char *help,
			       double (*what)(const struct remote_server *),
			       bool dedup)
{
	g_string_append_printf(o, "# HELP memx_server_%s %s.\n"
			       "# TYPE memx_server_%s %s\n", key, help, key,
			       type);
	for (unsigned i = 0; i < pg->nservers; i++) {
		const struct remote_server *s = remote_server(pg->remote, i);

		if (!dedup || s->has_dedup)
			g_string_append_printf(o, "memx_server_%s{server="
					       "\"%s\"} %.15g\n", key, s->name,
					       what(s));
	}
}

static double server_up(const struct remote_server *s)
{
	return s->reachable;
}

static double server_down_s(const struct remote_server *s)
{
	return s->down ? (double)(evl_now_ns() - s->down_since_ns) / 1e9 : 0;
}

static double server_srtt_s(const struct remote_server *s)
{
	return rmap_peer_srtt_us(s->peer) / 1e6;
}

static double server_capacity(const struct remote_server *s)
{
	return (double)s->capacity_pages;
}

static double server_used(const struct remote_server *s)
{
	return (double)s->used_pages;
}

static double server_freeing(const struct remote_server *s)
{
	return (double)s->freeing_pages;
}

static double server_logical(const struct remote_server *s)
{
	return (double)s->logical_pages;
}

static double server_unique(const struct remote_server *s)
{
	return (double)s->unique_pages;
}

static double server_hash_s(const struct remote_server *s)
{
	return (double)s->hash_ns / 1e9;
}

static double server_hashed(const struct remote_server *s)
{
	return (double)s->hashed_pages;
}

/* Each memory server's dedup, as STAT tells it (all clients'). */
static void prom_dedup(struct pager *pg, GString *o)
{
	prom_server_family(pg, o, "logical_pages", "gauge", "Pages a memory "
			   "server holds for all its clients", server_logical,
			   true);
	prom_server_family(pg, o, "unique_pages", "gauge", "Page slots they "
			   "take once equal pages are shared", server_unique,
			   true);
	prom_server_family(pg, o, "dedup_hash_seconds_total", "counter",
			   "Time the server spent hashing and comparing "
			   "written pages", server_hash_s, true);
	prom_server_family(pg, o, "dedup_hashed_pages_total", "counter",
			   "Pages it hashed", server_hashed, true);
}

/*
 * Each memory server as the pager sees it: its state, how long it has
 * been down, its round trip, its capacity and what the pager sent it;
 * and whether the pager is frozen, cut off from most of them.  An
 * operator alerts on these (a server down, a partition), so they are
 * here and not only in dump.  Each family's samples are together, as
 * the exposition format asks.
 */
static void prom_servers(struct pager *pg, GString *o)
{
	uint64_t since = 0;
	bool cut = remote_cut_off(pg->remote, &since);

	g_string_append_printf(o, "# HELP memx_frozen 1 while the pager is "
			       "cut off from most servers and waits.\n"
			       "# TYPE memx_frozen gauge\nmemx_frozen %d\n"
			       "# HELP memx_frozen_seconds How long it has "
			       "waited so.\n# TYPE memx_frozen_seconds gauge\n"
			       "memx_frozen_seconds %.1f\n", cut,
			       cut ? (double)(evl_now_ns() - since) / 1e9 :
				     0.0);
	prom_server_family(pg, o, "up", "gauge", "1 if the memory server "
			   "answered lately", server_up, false);
	g_string_append(o, "# HELP memx_server_state The server's state, as "
			   "dump's server_state: 1 for the one it is in.\n"
			   "# TYPE memx_server_state gauge\n");
	for (unsigned i = 0; i < pg->nservers; i++) {
		const struct remote_server *s = remote_server(pg->remote, i);
		bool draining = server_draining(pg, i);

		for (unsigned k = 0; k < REMOTE_NSTATES; k++)
			g_string_append_printf(o, "memx_server_state{server="
					       "\"%s\",state=\"%s\"} %d\n",
					       s->name, remote_state_name(k),
					       !draining &&
					       remote_state_of(s) == k);
		g_string_append_printf(o, "memx_server_state{server=\"%s\","
				       "state=\"draining\"} %d\n", s->name,
				       draining);
	}
	prom_server_family(pg, o, "down_seconds", "gauge", "How long it has "
			   "been silent while others answer", server_down_s,
			   false);
	prom_server_family(pg, o, "srtt_seconds", "gauge", "RMAP's smoothed "
			   "round trip to it", server_srtt_s, false);
	prom_server_family(pg, o, "capacity_pages", "gauge", "Pages it lends, "
			   "as it last said", server_capacity, false);
	prom_server_family(pg, o, "used_pages", "gauge", "Of them, pages in "
			   "use", server_used, false);
	prom_server_family(pg, o, "freeing_pages", "gauge", "Of those, pages "
			   "of ended sessions it is still freeing",
			   server_freeing, false);
#define X(key, help)							\
	g_string_append(o, "# HELP memx_server_" #key "_total " help	\
			   ".\n# TYPE memx_server_" #key "_total counter\n"); \
	for (unsigned i = 0; i < pg->nservers; i++) {			\
		const struct remote_server *s = remote_server(pg->remote, i); \
									\
		g_string_append_printf(o, "memx_server_" #key "_total"	\
				       "{server=\"%s\"} %llu\n", s->name, \
				       (unsigned long long)s->st.key);	\
	}
	REMOTE_SERVER_COUNTERS(X)
#undef X
}

/*
 * The pager's RMAP endpoint: what it sent and received, and what it
 * refused (forged, replayed, malformed, from strangers), for an alert on
 * an attack as much as for capacity.
 */
static void prom_rmap(struct pager *pg, GString *o)
{
	const struct rmap_counters *rc = remote_counters(pg->remote);

#define X(key, field, help)						\
	g_string_append_printf(o, "# HELP memx_rmap_" #key "_total RMAP: " \
			       help ".\n# TYPE memx_rmap_" #key "_total " \
			       "counter\nmemx_rmap_" #key "_total %llu\n", \
			       (unsigned long long)rc->field);
	RMAP_DUMP_COUNTERS(X)
#undef X
}

/*
 * The exposition format wants each family's lines together: its HELP and
 * TYPE, then every sample of it.  A parser that reads it as a stream
 * (Python's prometheus_client, for one) takes a sample away from its
 * family's group for a family of its own, untyped.  So each loop below
 * is over a family first, then over the VMs or servers.
 */
void pager_prometheus(struct pager *pg, GString *o)
{
	unsigned nvms = pager_vm_count(pg), n;
	struct vm_gauges *g = g_new0(struct vm_gauges, nvms ? nvms : 1);
	uint64_t user_ms, sys_ms;
	struct vm *vm;

	g_string_append(o, "# HELP memx_vms Registered VMs.\n"
			   "# TYPE memx_vms gauge\n");
	g_string_append_printf(o, "memx_vms %u\n", nvms);
	cpu_ms(&user_ms, &sys_ms);
	g_string_append_printf(o, "# HELP process_cpu_seconds_total Total user "
			       "and system CPU time spent in seconds.\n"
			       "# TYPE process_cpu_seconds_total counter\n"
			       "process_cpu_seconds_total %.3f\n",
			       (double)(user_ms + sys_ms) / 1e3);
	/* Each VM's gauges, taken once: some walk its groups. */
	for (vm = pg->vms, n = 0; vm && n < nvms; vm = vm->next, n++)
		gauges_of(vm, &g[n]);
#define X(key, help)							\
	g_string_append(o, "# HELP memx_" #key " " help ".\n"		\
			   "# TYPE memx_" #key " gauge\n");		\
	for (vm = pg->vms, n = 0; vm && n < nvms; vm = vm->next, n++)	\
		g_string_append_printf(o, "memx_" #key "{vm=\"%s\"} %llu\n", \
				       vm->name,			\
				       (unsigned long long)g[n].key);
	VM_GAUGES(X)
#undef X
	g_free(g);
	prom_counters(pg, o);
	prom_servers(pg, o);
	prom_rmap(pg, o);
	g_string_append(o, "# HELP memx_evict_stage_seconds_total Time in "
			   "each stage of eviction.\n# TYPE "
			   "memx_evict_stage_seconds_total counter\n");
#define X(stage, help)							\
	for (vm = pg->vms; vm; vm = vm->next)				\
		g_string_append_printf(o, "memx_evict_stage_seconds_total" \
				       "{vm=\"%s\",stage=\"" #stage "\"} "	\
				       "%.6f\n", vm->name,		\
				       (double)vm->st.stage_ns[ES_##stage] \
				       / 1e9);
	EVICT_STAGES(X)
#undef X
	g_string_append(o, "# HELP memx_evict_stage_calls_total Timed calls "
			   "of each stage of eviction.\n# TYPE "
			   "memx_evict_stage_calls_total counter\n");
#define X(stage, help)							\
	for (vm = pg->vms; vm; vm = vm->next)				\
		g_string_append_printf(o, "memx_evict_stage_calls_total" \
				       "{vm=\"%s\",stage=\"" #stage "\"} "	\
				       "%llu\n", vm->name,		\
				       (unsigned long long)		\
				       vm->st.stage_calls[ES_##stage]);
	EVICT_STAGES(X)
#undef X
	prom_dedup(pg, o);
	g_string_append(o, "# HELP memx_fault_latency_us Fault service "
			   "time.\n# TYPE memx_fault_latency_us histogram\n");
	for (vm = pg->vms; vm; vm = vm->next) {
		uint64_t cum = 0;

		for (unsigned b = 0; b < HIST_BUCKETS; b++) {
			cum += vm->st.hist[b];
			g_string_append_printf(o, "memx_fault_latency_us_bucket"
					       "{vm=\"%s\",le=\"%lu\"} %llu\n",
					       vm->name, 2ul << b,
					       (unsigned long long)cum);
		}
		g_string_append_printf(o,
			"memx_fault_latency_us_bucket{vm=\"%s\",le=\"+Inf\"} "
			"%llu\nmemx_fault_latency_us_count{vm=\"%s\"} %llu\n",
			vm->name, (unsigned long long)cum, vm->name,
			(unsigned long long)cum);
	}
}
