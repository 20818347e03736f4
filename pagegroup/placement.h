/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * placement.h - where a VM's remote pages live.
 *
 * GPAS is cut into groups of consecutive pages; each group lives on one
 * server, chosen when the group first needs one.  The pager asks only
 * "which server holds page P" and never keeps a per-page location: one
 * byte per group, with a group of 64 pages that is 1/64 byte per page.
 *
 * This is the simple rule of the pager issue, behind the interface that
 * page-groups with parity (pagegroup issue) will implement: choose the
 * least-loaded server with room, and never move a group once it holds
 * pages (a full server's new pages spill instead).
 */
#ifndef MEMX_PLACEMENT_H
#define MEMX_PLACEMENT_H

#include <stdbool.h>
#include <stdint.h>

#define PG_GROUP_PAGES	64u
#define PG_NO_SERVER	0xffu
#define PG_MAX_SERVERS	254u

/* What placement knows of each server. */
struct pg_server {
	bool usable;		/* session open and reachable */
	bool full;		/* refused a WRITE; no new groups */
	uint64_t free_pages;	/* from STAT/ANNOUNCE, or our estimate */
	uint64_t assigned;	/* groups placed there by this map */
};

struct pg_map;

int pg_map_new(struct pg_map **map, uint64_t npages);
void pg_map_free(struct pg_map *map);

static inline uint64_t pg_group_of(uint64_t page)
{
	return page / PG_GROUP_PAGES;
}

/* The server holding @page's group, or PG_NO_SERVER if none yet. */
unsigned pg_lookup(const struct pg_map *map, uint64_t page);
/*
 * The server that should take @page's group: its current one, or a newly
 * chosen one (most free pages among usable, not full servers).  Returns
 * PG_NO_SERVER if no server can take it.
 */
unsigned pg_place(struct pg_map *map, uint64_t page, struct pg_server *srv,
		  unsigned nsrv);
/* The map's VM is gone: give back every group it placed. */
void pg_map_release(struct pg_map *map, struct pg_server *srv, unsigned nsrv);
/* Forget the group's server, if no page of it is stored there. */
void pg_unplace(struct pg_map *map, uint64_t page, struct pg_server *srv);
/* Bytes of placement metadata for the whole map. */
uint64_t pg_map_bytes(const struct pg_map *map);

#endif
