/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pagegroup.h - where a VM's remote pages live, and how they survive the
 * loss of a server (MemX, cluster-wide, 2010, section IV-A and IV-B).
 *
 * GPAS is cut into page-groups of M x S consecutive pages.  Page k of a
 * group lives on data slot k % S, in row k / S; row r of all S slots is a
 * stripe, and one more slot holds the XOR of each stripe (the parity).
 * Each slot is one server; the S + 1 servers of a group are distinct.
 * A server stores row r of group g under the key g * M + r, so the rows of
 * one slot are contiguous there and a run of rows is one message.
 *
 * The client keeps one struct pg_group per group, never a per-page
 * location: with S = 4 and M = 16 that is 20 bytes per 64 pages.
 *
 * Groups change state when servers fail:
 *
 *   EMPTY --place--> OK --a member dies--> DEGRADED --job starts-->
 *   REBUILDING --job done--> OK;  a second member dies --> LOST.
 *
 * A job moves one slot of a group to a spare server (one holding nothing
 * of the group): rebuilt from the other slots when its server is dead,
 * copied when it is alive (drain, or a full server), or recomputed from
 * the data when it is the parity slot.  While a group REBUILDs nothing is
 * written to it; reads of the missing slot are degraded reads (the XOR of
 * the other slots of the stripe), which never run while a write to a slot
 * they read is in flight, so they never see a stripe whose data and
 * parity are halfway through an update.
 */
#ifndef MEMX_PAGEGROUP_H
#define MEMX_PAGEGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PG_MAX_WIDTH	8u	/* S: data slots per group */
#define PG_MAX_ROWS	256u	/* M: stripes per group (RMAP_MAX_PAGES) */
#define PG_MAX_SLOTS	(PG_MAX_WIDTH + 1)
#define PG_NO_SERVER	0xffu
#define PG_MAX_SERVERS	254u

struct pg_geometry {
	unsigned width;		/* S */
	unsigned rows;		/* M */
	bool parity;		/* one more slot with the XOR of each stripe */
};

enum pg_state {
	PG_EMPTY = 0,		/* no server chosen yet */
	PG_OK,
	PG_DEGRADED,		/* slot @bad is gone or must move; job queued */
	PG_REBUILDING,		/* the job for slot @bad is running */
	PG_LOST,		/* two slots gone: the pages of @lost are lost */
	PG_NSTATES,
};

#define PG_F_QUEUED		0x02u	/* a job for it is queued */
/* The job copies slot @bad from its live server (drain, a full server);
 * without it the job rebuilds the slot from the others. */
#define PG_F_MOVE		0x04u

struct pg_group {
	uint8_t srv[PG_MAX_SLOTS];	/* data slots 0..S-1, then parity */
	uint8_t state;
	uint8_t bad;			/* the slot of the job, if any */
	uint8_t flags;			/* PG_F_* */
	uint16_t lost;			/* LOST: slots whose pages are gone */
	uint16_t writers;		/* writes of data or parity in flight */
	uint16_t deltas;		/* of which parity deltas (PXOR) */
	uint16_t readers;		/* reconstructions in flight */
};

/* What placement knows of each server; shared by every VM. */
struct pg_server {
	bool usable;		/* session possible: reachable, not dead */
	bool full;		/* refused a WRITE: no new groups for now */
	bool dead;		/* declared dead: its slots are rebuilt */
	bool draining;		/* being drained: no new groups, slots move */
	uint64_t capacity_pages;	/* from STAT/ANNOUNCE */
	uint64_t free_pages;	/* from STAT/ANNOUNCE, writes since */
	uint32_t load_permille;	/* from STAT */
	uint64_t groups;	/* slots of all groups placed there */
	uint64_t parity;	/* of which parity slots */
	uint64_t committed;	/* pages those slots may grow to (M each) */
};

/*
 * Room a server has for new slots: what it says is free, but never more
 * than its capacity less what the slots placed there may still grow to,
 * so that a slot placed on a server can always be filled.
 */
uint64_t pg_room(const struct pg_server *s);

struct pg_table;

/*
 * Fit @geo to a cluster of @nservers: the width shrinks so that a rebuilt
 * member has a spare server (S + 2 <= nservers) where it can; with two
 * servers parity is a mirror (S = 1), with one there is no parity.
 * pg_geometry_check() then says whether it is usable: 0, or -EINVAL with
 * a reason in @why.
 */
void pg_geometry_fit(struct pg_geometry *geo, unsigned nservers);
int pg_geometry_check(const struct pg_geometry *geo, unsigned nservers,
		      char *why, size_t len);

/* Groups of @geo that @npages pages make. */
uint64_t pg_ngroups_for(uint64_t npages, const struct pg_geometry *geo);
/*
 * A table for @npages pages; its records live in @records
 * (pg_ngroups_for of them, zeroed or kept from before) or, if NULL, are
 * allocated.
 */
int pg_table_new(struct pg_table **t, uint64_t npages,
		 const struct pg_geometry *geo, struct pg_group *records);
/* Records kept from before: count their slots into @srv's counts. */
void pg_table_count(struct pg_table *t, struct pg_server *srv);
/* Gives back every placed slot to @srv's counts, then frees. */
void pg_table_free(struct pg_table *t, struct pg_server *srv);
const struct pg_geometry *pg_geometry(const struct pg_table *t);
uint64_t pg_ngroups(const struct pg_table *t);
struct pg_group *pg_group(struct pg_table *t, uint64_t g);
/* Bytes of placement metadata held for the whole table. */
uint64_t pg_table_bytes(const struct pg_table *t);

static inline unsigned pg_slots(const struct pg_geometry *geo)
{
	return geo->width + (geo->parity ? 1 : 0);
}

static inline unsigned pg_parity_slot(const struct pg_geometry *geo)
{
	return geo->width;
}

static inline uint64_t pg_group_pages(const struct pg_geometry *geo)
{
	return (uint64_t)geo->width * geo->rows;
}

/* Where @page lives: group, data slot and row. */
static inline void pg_locate(const struct pg_geometry *geo, uint64_t page,
			     uint64_t *g, unsigned *slot, unsigned *row)
{
	uint64_t k = page % pg_group_pages(geo);

	*g = page / pg_group_pages(geo);
	*slot = (unsigned)(k % geo->width);
	*row = (unsigned)(k / geo->width);
}

/* The key a server stores row @row of group @g under. */
static inline uint64_t pg_key(const struct pg_geometry *geo, uint64_t g,
			      unsigned row)
{
	return g * geo->rows + row;
}

/* The GPAS page at (@g, data @slot, @row). */
static inline uint64_t pg_page(const struct pg_geometry *geo, uint64_t g,
			       unsigned slot, unsigned row)
{
	return g * pg_group_pages(geo) + (uint64_t)row * geo->width + slot;
}

/*
 * Choose the servers of an EMPTY group: pg_slots() distinct usable
 * servers, not full, not draining, ranked by room (pg_room, in units of 8
 * slots) discounted by load, ties rotating with the group number, so that
 * groups spread over many server sets; the
 * parity slot goes to the chosen server holding the fewest parity slots,
 * so parity rotates.  0, or -ENOSPC (the group stays EMPTY).
 */
int pg_place(struct pg_table *t, uint64_t g, struct pg_server *srv,
	     unsigned nsrv);
/*
 * A server for a slot of @g that holds nothing of @g (usable, not full,
 * not draining, most room), or PG_NO_SERVER.
 */
unsigned pg_spare(struct pg_table *t, uint64_t g, const struct pg_server *srv,
		  unsigned nsrv);
/* Slot @slot of @g now lives on @server (counts follow). */
void pg_move_slot(struct pg_table *t, uint64_t g, unsigned slot,
		  unsigned server, struct pg_server *srv);
/* The slot of @g on @server, or -1. */
int pg_slot_of(struct pg_table *t, uint64_t g, unsigned server);

/*
 * Server @server is gone (dead, or lost our pages): every group with a
 * slot there is DEGRADED (a rebuild), or LOST if another of its
 * slots was already missing.  Calls @fn for each group whose state
 * changed.  Returns how many groups became LOST.
 */
uint64_t pg_server_failed(struct pg_table *t, unsigned server,
			  void (*fn)(uint64_t g, struct pg_group *grp,
				     void *arg), void *arg);

/*
 * May a write of @grp start?  Not while a reconstruction reads it, nor
 * while its slot is being rebuilt or moved (a reconstruction waits, in
 * turn, for the writes to the slots it reads: the pager tracks those).
 */
static inline bool pg_can_write(const struct pg_group *grp)
{
	return grp->readers == 0 &&
	       (grp->state == PG_OK || grp->state == PG_DEGRADED);
}

/* dst ^= src, @len a multiple of 64. */
void pg_xor(void *dst, const void *src, size_t len);

const char *pg_state_name(enum pg_state s);

#endif
