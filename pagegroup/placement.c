// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * placement.c - one byte per group of pages: which server holds it.
 */
#include "placement.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct pg_map {
	uint64_t ngroups;
	uint8_t server[];	/* PG_NO_SERVER: not placed */
};

int pg_map_new(struct pg_map **out, uint64_t npages)
{
	uint64_t ngroups = (npages + PG_GROUP_PAGES - 1) / PG_GROUP_PAGES;
	struct pg_map *map = malloc(sizeof(*map) + ngroups);

	if (!map)
		return -ENOMEM;
	map->ngroups = ngroups;
	memset(map->server, PG_NO_SERVER, ngroups);
	*out = map;
	return 0;
}

void pg_map_free(struct pg_map *map)
{
	free(map);
}

unsigned pg_lookup(const struct pg_map *map, uint64_t page)
{
	uint64_t g = pg_group_of(page);

	return g < map->ngroups ? map->server[g] : PG_NO_SERVER;
}

static int64_t room(const struct pg_server *s)
{
	return (int64_t)s->free_pages - (int64_t)(s->assigned * PG_GROUP_PAGES);
}

unsigned pg_place(struct pg_map *map, uint64_t page, struct pg_server *srv,
		  unsigned nsrv)
{
	uint64_t g = pg_group_of(page);
	unsigned best = PG_NO_SERVER;

	if (g >= map->ngroups)
		return PG_NO_SERVER;
	if (map->server[g] != PG_NO_SERVER)
		return map->server[g];
	for (unsigned i = 0; i < nsrv && i < PG_MAX_SERVERS; i++) {
		if (!srv[i].usable || srv[i].full ||
		    srv[i].free_pages < PG_GROUP_PAGES)
			continue;
		/* Most room first, less what we already promised it. */
		if (best == PG_NO_SERVER || room(&srv[i]) > room(&srv[best]))
			best = i;
	}
	if (best != PG_NO_SERVER) {
		map->server[g] = (uint8_t)best;
		srv[best].assigned++;
	}
	return best;
}

void pg_unplace(struct pg_map *map, uint64_t page, struct pg_server *srv)
{
	uint64_t g = pg_group_of(page);
	unsigned s;

	if (g >= map->ngroups || map->server[g] == PG_NO_SERVER)
		return;
	s = map->server[g];
	if (srv[s].assigned)
		srv[s].assigned--;
	map->server[g] = PG_NO_SERVER;
}

void pg_map_release(struct pg_map *map, struct pg_server *srv, unsigned nsrv)
{
	for (uint64_t g = 0; g < map->ngroups; g++) {
		unsigned s = map->server[g];

		if (s != PG_NO_SERVER && s < nsrv && srv[s].assigned)
			srv[s].assigned--;
		map->server[g] = PG_NO_SERVER;
	}
}

uint64_t pg_map_bytes(const struct pg_map *map)
{
	return sizeof(*map) + map->ngroups;
}
