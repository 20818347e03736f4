// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pagegroup.c - page-group records, placement, and what a failed server
 * does to them.  See pagegroup.h.
 */
#include "pagegroup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pg_table {
	struct pg_geometry geo;
	uint64_t ngroups;
	struct pg_group *groups;
	bool owned;		/* groups allocated here, not given */
};

void pg_geometry_fit(struct pg_geometry *geo, unsigned nservers)
{
	if (!nservers)
		return;		/* nothing is placed: everything spills */
	if (geo->parity && nservers == 1)
		geo->parity = false;	/* no second server to hold it */
	if (geo->parity && nservers == 2)
		geo->width = 1;		/* a mirror, without a spare */
	else if (geo->parity && geo->width + 2 > nservers)
		geo->width = nservers - 2;	/* keep a spare for rebuilds */
	else if (!geo->parity && geo->width > nservers)
		geo->width = nservers;
}

int pg_geometry_check(const struct pg_geometry *geo, unsigned nservers,
		      char *why, size_t len)
{
	if (geo->width < 1 || geo->width > PG_MAX_WIDTH) {
		snprintf(why, len, "stripe width must be 1..%u", PG_MAX_WIDTH);
		return -EINVAL;
	}
	if (geo->rows < 1 || geo->rows > PG_MAX_ROWS) {
		snprintf(why, len, "stripe rows must be 1..%u", PG_MAX_ROWS);
		return -EINVAL;
	}
	if (nservers && pg_slots(geo) > nservers) {
		snprintf(why, len, "%s", geo->parity ?
			 "parity needs at least 2 memory servers (use "
			 "parity=off with one)" :
			 "more data slots than memory servers");
		return -EINVAL;
	}
	return 0;
}

static void slot_count(const struct pg_table *t, unsigned slot,
		       unsigned server, struct pg_server *srv, int delta)
{
	if (server == PG_NO_SERVER || !srv)
		return;
	srv[server].groups += (uint64_t)(int64_t)delta;
	srv[server].committed += (uint64_t)((int64_t)delta * t->geo.rows);
	if (t->geo.parity && slot == pg_parity_slot(&t->geo))
		srv[server].parity += (uint64_t)(int64_t)delta;
}

uint64_t pg_ngroups_for(uint64_t npages, const struct pg_geometry *geo)
{
	uint64_t per = pg_group_pages(geo);

	return (npages + per - 1) / per;
}

int pg_table_new(struct pg_table **out, uint64_t npages,
		 const struct pg_geometry *geo, struct pg_group *records)
{
	struct pg_table *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->geo = *geo;
	t->ngroups = pg_ngroups_for(npages, geo);
	t->groups = records;
	if (!records) {
		/* calloc: untouched records cost address space, not memory. */
		t->groups = calloc(t->ngroups ? t->ngroups : 1,
				   sizeof(*t->groups));
		t->owned = true;
	}
	if (!t->groups) {
		free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

void pg_table_count(struct pg_table *t, struct pg_server *srv)
{
	for (uint64_t g = 0; g < t->ngroups; g++) {
		struct pg_group *grp = &t->groups[g];

		if (grp->state == PG_EMPTY)
			continue;
		for (unsigned s = 0; s < pg_slots(&t->geo); s++)
			slot_count(t, s, grp->srv[s], srv, 1);
	}
}


void pg_table_free(struct pg_table *t, struct pg_server *srv)
{
	if (!t)
		return;
	for (uint64_t g = 0; g < t->ngroups; g++) {
		struct pg_group *grp = &t->groups[g];

		if (grp->state == PG_EMPTY)
			continue;
		for (unsigned s = 0; s < pg_slots(&t->geo); s++)
			slot_count(t, s, grp->srv[s], srv, -1);
	}
	if (t->owned)
		free(t->groups);
	free(t);
}

const struct pg_geometry *pg_geometry(const struct pg_table *t)
{
	return &t->geo;
}

uint64_t pg_ngroups(const struct pg_table *t)
{
	return t->ngroups;
}

struct pg_group *pg_group(struct pg_table *t, uint64_t g)
{
	return &t->groups[g];
}

uint64_t pg_table_bytes(const struct pg_table *t)
{
	return sizeof(*t) + t->ngroups * sizeof(struct pg_group);
}

uint64_t pg_room(const struct pg_server *s)
{
	uint64_t room = s->free_pages;

	if (s->capacity_pages) {
		uint64_t left = s->capacity_pages > s->committed ?
				s->capacity_pages - s->committed : 0;

		room = left < room ? left : room;
	}
	return room;
}

/* Can @s take a new slot of @rows pages? */
static bool can_take(const struct pg_server *s, unsigned rows)
{
	return s->usable && !s->dead && !s->full && !s->draining &&
	       pg_room(s) >= rows;
}

/*
 * Room in units of 8 slots, a fully loaded server counting as half its
 * room.  The coarse unit makes servers with about the same room tie, and
 * ties rotate with the group, so that groups spread over many server sets
 * (and a rebuild reads from many servers) rather than cycling over a few.
 */
static uint64_t score(const struct pg_server *s, unsigned rows)
{
	uint64_t load = s->load_permille > 1000 ? 1000 : s->load_permille;
	uint64_t units = pg_room(s) / (8ull * rows);

	return units * (2000 - load) / 2000;
}

static bool in_group(const struct pg_group *grp, unsigned nslots,
		     unsigned server)
{
	for (unsigned i = 0; i < nslots; i++)
		if (grp->srv[i] == server)
			return true;
	return false;
}

/*
 * The best server not yet in @grp's first @nslots slots: most room (in
 * score's units); on a tie, the first from @start on.
 */
static unsigned best_server(const struct pg_group *grp, unsigned nslots,
			    const struct pg_server *srv, unsigned nsrv,
			    unsigned rows, uint64_t start)
{
	unsigned best = PG_NO_SERVER;

	if (nsrv > PG_MAX_SERVERS)
		nsrv = PG_MAX_SERVERS;
	for (unsigned k = 0; k < nsrv; k++) {
		unsigned i = (unsigned)((start + k) % nsrv);

		if (!can_take(&srv[i], rows) || in_group(grp, nslots, i))
			continue;
		if (best == PG_NO_SERVER ||
		    score(&srv[i], rows) > score(&srv[best], rows))
			best = i;
	}
	return best;
}

int pg_place(struct pg_table *t, uint64_t g, struct pg_server *srv,
	     unsigned nsrv)
{
	struct pg_group *grp = &t->groups[g];
	unsigned n = pg_slots(&t->geo), par = 0;
	uint8_t chosen[PG_MAX_SLOTS];

	if (grp->state != PG_EMPTY)
		return 0;
	memset(chosen, PG_NO_SERVER, sizeof(chosen));
	for (unsigned i = 0; i < n; i++) {
		struct pg_group probe;

		memcpy(probe.srv, chosen, sizeof(chosen));
		chosen[i] = (uint8_t)best_server(&probe, i, srv, nsrv,
						 t->geo.rows, g * 7 + i);
		if (chosen[i] == PG_NO_SERVER)
			return -ENOSPC;
	}
	if (t->geo.parity) {
		/* Parity rotates: to the member with the fewest parity slots. */
		for (unsigned i = 1; i < n; i++)
			if (srv[chosen[i]].parity < srv[chosen[par]].parity)
				par = i;
		uint8_t tmp = chosen[n - 1];

		chosen[n - 1] = chosen[par];
		chosen[par] = tmp;
	}
	memset(grp, 0, sizeof(*grp));
	memset(grp->srv, PG_NO_SERVER, sizeof(grp->srv));
	for (unsigned i = 0; i < n; i++) {
		grp->srv[i] = chosen[i];
		slot_count(t, i, chosen[i], srv, 1);
	}
	grp->state = PG_OK;
	return 0;
}

unsigned pg_spare(struct pg_table *t, uint64_t g, const struct pg_server *srv,
		  unsigned nsrv)
{
	return best_server(&t->groups[g], pg_slots(&t->geo), srv, nsrv,
			   t->geo.rows, g);
}

void pg_move_slot(struct pg_table *t, uint64_t g, unsigned slot,
		  unsigned server, struct pg_server *srv)
{
	struct pg_group *grp = &t->groups[g];

	slot_count(t, slot, grp->srv[slot], srv, -1);
	grp->srv[slot] = (uint8_t)server;
	slot_count(t, slot, server, srv, 1);
}

int pg_slot_of(struct pg_table *t, uint64_t g, unsigned server)
{
	const struct pg_group *grp = &t->groups[g];

	if (grp->state == PG_EMPTY)
		return -1;
	for (unsigned i = 0; i < pg_slots(&t->geo); i++)
		if (grp->srv[i] == server)
			return (int)i;
	return -1;
}

uint64_t pg_server_failed(struct pg_table *t, unsigned server,
			  void (*fn)(uint64_t g, struct pg_group *grp,
				     void *arg), void *arg)
{
	uint64_t lost = 0;

	for (uint64_t g = 0; g < t->ngroups; g++) {
		struct pg_group *grp = &t->groups[g];
		int slot = pg_slot_of(t, g, server);

		if (slot < 0)
			continue;
		switch (grp->state) {
		case PG_OK:
			if (t->geo.parity) {
				grp->state = PG_DEGRADED;
				grp->bad = (uint8_t)slot;
				grp->flags &= (uint8_t)~PG_F_MOVE;
				break;
			}
			/* No parity: nothing to rebuild from. */
			grp->state = PG_LOST;
			grp->lost = (uint16_t)(1u << slot);
			lost++;
			break;
		case PG_DEGRADED:
		case PG_REBUILDING:
			if (grp->flags & PG_F_MOVE && grp->bad == slot) {
				/* The slot was being copied: rebuild it now. */
				grp->flags &= (uint8_t)~PG_F_MOVE;
				break;
			}
			if (grp->flags & PG_F_MOVE) {
				/* A copy in progress, and another slot died. */
				grp->flags &= (uint8_t)~PG_F_MOVE;
				grp->bad = (uint8_t)slot;
				break;
			}
			grp->state = PG_LOST;
			grp->lost = (uint16_t)(1u << grp->bad | 1u << slot);
			lost++;
			break;
		case PG_LOST:
			grp->lost |= (uint16_t)(1u << slot);
			break;
		default:
			continue;
		}
		if (fn)
			fn(g, grp, arg);
	}
	return lost;
}

void pg_xor(void *dst, const void *src, size_t len)
{
	uint64_t *d = dst;
	const uint64_t *s = src;

	/* Eight words per iteration: the compiler vectorises this. */
	for (size_t i = 0; i < len / 8; i += 8)
		for (unsigned k = 0; k < 8; k++)
			d[i + k] ^= s[i + k];
}

const char *pg_state_name(enum pg_state s)
{
	static const char *const names[PG_NSTATES] = {
		[PG_EMPTY] = "empty", [PG_OK] = "ok",
		[PG_DEGRADED] = "degraded", [PG_REBUILDING] = "rebuilding",
		[PG_LOST] = "lost",
	};

	return s < PG_NSTATES ? names[s] : "?";
}
