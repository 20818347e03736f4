// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pager_report.c - what the pager tells memxctl: key=value state (get=1)
 * and the same in Prometheus text format.
 */
#include <string.h>

#include "pager_int.h"

/* ---- reporting ---- */

struct vm_counts {
	uint64_t by_state[PS_NSTATES];
	uint64_t groups[PG_NSTATES];
};

static void count_states(const struct vm *vm, struct vm_counts *c)
{
	memset(c, 0, sizeof(*c));
	for (uint64_t p = 0; p < vm->npages; p++)
		c->by_state[pt_state(vm->pt[p])]++;
	for (uint64_t g = 0; g < pg_ngroups(vm->groups); g++)
		c->groups[pg_group(vm->groups, g)->state]++;
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

/* Bytes of per-VM metadata per GPAS page: page table plus placement. */
static double metadata_per_page(const struct vm *vm)
{
	return (double)(vm->npages + pg_table_bytes(vm->groups)) /
	       (double)vm->npages;
}

void pager_dump(struct pager *pg, GString *o)
{
	struct remote *r = pg->remote;

	g_string_append_printf(o, "vms=%u\nslack_pages=%u\n",
			       pager_vm_count(pg), PAGER_SLACK_PAGES);
	for (unsigned i = 0; i < remote_count(r); i++) {
		struct remote_server *s = remote_server(r, i);

		g_string_append_printf(o,
			"server=%s\nserver_reachable=%d\nserver_full=%d\n"
			"server_capacity_pages=%lu\nserver_used_pages=%lu\n"
			"server_reads=%lu\nserver_writes=%lu\nserver_frees=%lu\n"
			"server_pages_in=%lu\nserver_pages_out=%lu\n"
			"server_errors=%lu\nserver_lost_sessions=%lu\n"
			"server_srtt_us=%u\nserver_state=%s\n"
			"server_groups=%lu\nserver_parity_groups=%lu\n"
			"server_deaths=%lu\nserver_load_permille=%u\n",
			s->name, s->reachable, remote_pg(r)[i].full,
			(unsigned long)s->capacity_pages,
			(unsigned long)s->used_pages, (unsigned long)s->reads,
			(unsigned long)s->writes, (unsigned long)s->frees,
			(unsigned long)s->pages_in, (unsigned long)s->pages_out,
			(unsigned long)s->errors,
			(unsigned long)s->lost_sessions,
			rmap_peer_srtt_us(s->peer), remote_server_state(r, i),
			(unsigned long)remote_pg(r)[i].groups,
			(unsigned long)remote_pg(r)[i].parity,
			(unsigned long)s->deaths, remote_pg(r)[i].load_permille);
	}
	{
		const struct rmap_counters *c = remote_counters(r);

		g_string_append_printf(o,
			"rmap_retransmits=%lu\nrmap_fast_retransmits=%lu\n"
			"rmap_dup_packets=%lu\nrmap_bad_packets=%lu\n"
			"rmap_unknown_peer=%lu\n",
			(unsigned long)c->retransmits,
			(unsigned long)c->fast_retransmits,
			(unsigned long)c->dup_packets,
			(unsigned long)c->bad_total,
			(unsigned long)c->unknown_peer);
	}
	for (struct vm *vm = pg->vms; vm; vm = vm->next) {
		struct vm_counts c;
		const struct vm_stats *s = &vm->st;

		count_states(vm, &c);
		g_string_append_printf(o,
			"vm=%s\nuuid=%s\npid=%d\ngpas_pages=%lu\n"
			"budget_pages=%lu\nresident_pages=%lu\n"
			"max_resident_pages=%lu\nremote_pages=%lu\n"
			"spilled_pages=%lu\nzero_pages=%lu\nevicting_pages=%lu\n"
			"fetching_pages=%lu\nnet_faults=%lu\nzero_faults=%lu\n"
			"wp_faults=%lu\nspill_faults=%lu\nspurious_faults=%lu\n"
			"deferred_faults=%lu\nevict_clean=%lu\nevict_dirty=%lu\n"
			"evict_zero=%lu\nevict_spilled=%lu\nevict_cancelled=%lu\n"
			"prefetch_issued=%lu\nprefetch_hit=%lu\n"
			"prefetch_wasted=%lu\nprefetch_window=%u\n"
			"discards=%lu\ndiscarded_pages=%lu\nfetch_errors=%lu\n"
			"fault_p50_us=%lu\nfault_p99_us=%lu\n"
			"metadata_bytes_per_page=%.3f\n",
			vm->name, vm->uuid, vm->pid, (unsigned long)vm->npages,
			(unsigned long)vm->budget, (unsigned long)vm->resident,
			(unsigned long)s->max_resident,
			(unsigned long)(c.by_state[PS_REMOTE] +
					c.by_state[PS_FETCHING]),
			(unsigned long)c.by_state[PS_SPILLED],
			(unsigned long)c.by_state[PS_NEVER],
			(unsigned long)vm->evicting,
			(unsigned long)c.by_state[PS_FETCHING],
			(unsigned long)s->net_faults,
			(unsigned long)s->zero_faults,
			(unsigned long)s->wp_faults,
			(unsigned long)s->spill_faults,
			(unsigned long)s->spurious, (unsigned long)s->deferred,
			(unsigned long)s->evict_clean,
			(unsigned long)s->evict_dirty,
			(unsigned long)s->evict_zero,
			(unsigned long)s->evict_spilled,
			(unsigned long)s->evict_cancelled,
			(unsigned long)s->pf_issued, (unsigned long)s->pf_hit,
			(unsigned long)s->pf_wasted, vm->pf.window,
			(unsigned long)s->discards,
			(unsigned long)s->discarded_pages,
			(unsigned long)s->fetch_errors,
			(unsigned long)hist_percentile(vm, 50),
			(unsigned long)hist_percentile(vm, 99),
			metadata_per_page(vm));
		{
			const struct pg_geometry *geo = pg_geometry(vm->groups);
			GString *lost = g_string_new(NULL);
			uint64_t nlost = group_lost_ranges(vm, lost,
							   "lost_range=");

			g_string_append_printf(o,
				"pg_width=%u\npg_rows=%u\npg_parity=%d\n"
				"pg_groups=%lu\npg_degraded=%lu\n"
				"pg_rebuilding=%lu\npg_lost=%lu\n"
				"recovery_pending=%lu\nrebuilt_groups=%lu\n"
				"rebuilt_pages=%lu\nmoved_groups=%lu\n"
				"moved_pages=%lu\ndegraded_reads=%lu\n"
				"lost_faults=%lu\nlost_pages=%lu\n"
				"parity_updates=%lu\nparity_stripes=%lu\n"
				"parity_errors=%lu\n"
				"evict_waited=%lu\n",
				geo->width, geo->rows, geo->parity,
				(unsigned long)(pg_ngroups(vm->groups) -
						c.groups[PG_EMPTY]),
				(unsigned long)c.groups[PG_DEGRADED],
				(unsigned long)c.groups[PG_REBUILDING],
				(unsigned long)c.groups[PG_LOST],
				(unsigned long)(c.groups[PG_DEGRADED] +
						c.groups[PG_REBUILDING]),
				(unsigned long)s->rebuilt_groups,
				(unsigned long)s->rebuilt_pages,
				(unsigned long)s->moved_groups,
				(unsigned long)s->moved_pages,
				(unsigned long)s->degraded_reads,
				(unsigned long)s->lost_faults,
				(unsigned long)nlost,
				(unsigned long)s->parity_updates,
				(unsigned long)s->parity_stripes,
				(unsigned long)s->parity_errors,
				(unsigned long)s->evict_waited);
			g_string_append_len(o, lost->str, (gssize)lost->len);
			g_string_free(lost, TRUE);
		}
		g_string_append(o, "fault_hist_us=");
		for (unsigned b = 0; b < HIST_BUCKETS; b++)
			g_string_append_printf(o, "%s%lu", b ? "," : "",
					       (unsigned long)s->hist[b]);
		g_string_append_c(o, '\n');
	}
}

void pager_prometheus(struct pager *pg, GString *o)
{
	static const char *const names[] = {
		"resident_pages", "remote_pages", "zero_pages", "spilled_pages",
	};

	g_string_append(o, "# HELP memx_vms Registered VMs.\n"
			   "# TYPE memx_vms gauge\n");
	g_string_append_printf(o, "memx_vms %u\n", pager_vm_count(pg));
	for (unsigned k = 0; k < G_N_ELEMENTS(names); k++)
		g_string_append_printf(o, "# TYPE memx_%s gauge\n", names[k]);
	g_string_append(o,
		"# TYPE memx_faults_total counter\n"
		"# TYPE memx_evictions_total counter\n"
		"# TYPE memx_prefetch_pages_total counter\n"
		"# TYPE memx_fault_latency_us histogram\n");
	for (struct vm *vm = pg->vms; vm; vm = vm->next) {
		const struct vm_stats *s = &vm->st;
		struct vm_counts c;
		uint64_t cum = 0;

		count_states(vm, &c);
		g_string_append_printf(o,
			"memx_resident_pages{vm=\"%s\"} %lu\n"
			"memx_remote_pages{vm=\"%s\"} %lu\n"
			"memx_zero_pages{vm=\"%s\"} %lu\n"
			"memx_spilled_pages{vm=\"%s\"} %lu\n"
			"memx_faults_total{vm=\"%s\",kind=\"network\"} %lu\n"
			"memx_faults_total{vm=\"%s\",kind=\"zero\"} %lu\n"
			"memx_faults_total{vm=\"%s\",kind=\"wp\"} %lu\n"
			"memx_faults_total{vm=\"%s\",kind=\"prefetch_cache\"} %lu\n"
			"memx_faults_total{vm=\"%s\",kind=\"spill\"} %lu\n"
			"memx_evictions_total{vm=\"%s\",kind=\"clean\"} %lu\n"
			"memx_evictions_total{vm=\"%s\",kind=\"dirty\"} %lu\n"
			"memx_evictions_total{vm=\"%s\",kind=\"zero\"} %lu\n"
			"memx_evictions_total{vm=\"%s\",kind=\"spilled\"} %lu\n"
			"memx_prefetch_pages_total{vm=\"%s\",kind=\"issued\"} %lu\n"
			"memx_prefetch_pages_total{vm=\"%s\",kind=\"hit\"} %lu\n"
			"memx_prefetch_pages_total{vm=\"%s\",kind=\"wasted\"} %lu\n",
			vm->name, (unsigned long)vm->resident,
			vm->name, (unsigned long)(c.by_state[PS_REMOTE] +
						  c.by_state[PS_FETCHING]),
			vm->name, (unsigned long)c.by_state[PS_NEVER],
			vm->name, (unsigned long)c.by_state[PS_SPILLED],
			vm->name, (unsigned long)s->net_faults,
			vm->name, (unsigned long)s->zero_faults,
			vm->name, (unsigned long)s->wp_faults,
			vm->name, (unsigned long)s->cache_hits,
			vm->name, (unsigned long)s->spill_faults,
			vm->name, (unsigned long)s->evict_clean,
			vm->name, (unsigned long)s->evict_dirty,
			vm->name, (unsigned long)s->evict_zero,
			vm->name, (unsigned long)s->evict_spilled,
			vm->name, (unsigned long)s->pf_issued,
			vm->name, (unsigned long)s->pf_hit,
			vm->name, (unsigned long)s->pf_wasted);
		for (unsigned b = 0; b < HIST_BUCKETS; b++) {
			cum += s->hist[b];
			g_string_append_printf(o,
				"memx_fault_latency_us_bucket{vm=\"%s\",le=\"%lu\"} %lu\n",
				vm->name, 2ul << b, (unsigned long)cum);
		}
		g_string_append_printf(o,
			"memx_fault_latency_us_bucket{vm=\"%s\",le=\"+Inf\"} %lu\n"
			"memx_fault_latency_us_count{vm=\"%s\"} %lu\n",
			vm->name, (unsigned long)cum, vm->name,
			(unsigned long)cum);
	}
}
