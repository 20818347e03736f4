/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pagetable.h - one byte of state per GPAS page.
 *
 * The low three bits are the page's state (DESIGN.md's table); the rest
 * are flags.  PT_BUSY means "a fault waits for it" while the page is
 * being fetched, and "a WRITE of it is in flight" while it is resident or
 * being evicted; the two cannot overlap.  Likewise the top bit means
 * "cached" for a remote page and "a write waits" for one being fetched.
 */
#ifndef MEMX_PAGETABLE_H
#define MEMX_PAGETABLE_H

#include <stdint.h>

enum page_state {
	PS_NEVER = 0,		/* nothing stored anywhere: zero-fill */
	PS_RESIDENT = 1,	/* in the memfd, mapped */
	PS_EVICTING = 2,	/* write-protected, copy on its way out */
	PS_REMOTE = 3,		/* authoritative copy on a server */
	PS_SPILLED = 4,		/* authoritative copy in the spill file */
	PS_FETCHING = 5,	/* READ in flight */
	PS_NSTATES = 6,
};

#define PT_STATE	0x07u
#define PT_REF		0x08u	/* touched since the clock hand passed */
#define PT_DIRTY	0x10u	/* written since its server copy was made */
#define PT_HAS_REMOTE	0x20u	/* a server holds some copy: FREE on discard */
#define PT_BUSY		0x40u	/* see above */
#define PT_CACHED	0x80u	/* REMOTE, and a copy sits in the prefetch cache */
/* FETCHING, and the fault waiting for it is a write: install it writable. */
#define PT_WANT_WRITE	PT_CACHED

static inline enum page_state pt_state(uint8_t e)
{
	return (enum page_state)(e & PT_STATE);
}

static inline void pt_set_state(uint8_t *e, enum page_state s)
{
	*e = (uint8_t)((*e & ~PT_STATE) | s);
}

#endif
