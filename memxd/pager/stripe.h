/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stripe.h - page-group I/O: how a page may be read or written now, and
 * the writes and reads that keep data and parity in step.
 *
 * A page-group is M x S pages striped over S data servers plus a parity
 * server (pagegroup.h).  Parity is kept by deltas: an eviction sends
 * XWRITE to the page's data server, which stores the page and answers
 * old ^ new; that delta goes to the parity server as PXOR.  When all S
 * pages of a row leave together, the row goes as S WRITEs and one parity
 * WRITE (a whole stripe).  Freeing a copy that parity covers is XFREE
 * (answering the old copy) and its PXOR.
 *
 * A group counts its writers (data and parity writes in flight) and
 * readers (reconstructions).  A write waits for the group's readers; a
 * reconstruction waits for the writes in flight to the slots it reads,
 * so it never sees a stripe halfway through an update.  A write in flight
 * to the slot being rebuilt does not hold it up: that server is silent,
 * no answer of it came, so no delta of it reached the parity, and the
 * rebuild yields the copy the page table says it holds.  When writes end,
 * vm->up->changed() lets waiting reads go.
 *
 * Why a crash cannot make parity silently disagree with data:
 *   - the data server dies before answering: the page was not punched
 *     (pt_write_end only after the answer), it is still resident and
 *     dirty; the parity still matches the old copy, which is what a
 *     rebuild yields and what PT_HAS_REMOTE says the server holds;
 *   - the data server dies after answering: the delta is in our hands
 *     and still goes to the parity server;
 *   - the parity server dies or refuses the PXOR: the group's parity is
 *     marked bad and recomputed from the data, which are all present; if
 *     a data server dies before that, the group is LOST and says so: two
 *     failures, never a wrong page;
 *   - a whole-stripe write fails for another reason: the parity is
 *     recomputed.
 */
#ifndef MEMX_PAGER_STRIPE_H
#define MEMX_PAGER_STRIPE_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

int stripe_vm_init(struct vm *vm);
void stripe_vm_fini(struct vm *vm);

/* Where a REMOTE page can be read from now. */
enum read_source {
	RS_SERVER,		/* its server (*server) */
	RS_DEGRADED,		/* rebuilt from the rest of its stripe */
	RS_LOST,		/* nowhere: two servers of its group died */
	RS_UNAVAILABLE,		/* no session to ask yet: try again later */
};

enum read_source stripe_read_source(struct vm *vm, uint64_t page,
				    unsigned *server);

/*
 * Could @page be rebuilt from the rest of its stripe now, its own server
 * left out?  (For a page whose copy failed its integrity check.)
 */
bool stripe_can_rebuild(struct vm *vm, uint64_t page);

typedef void (*stripe_read_fn)(void *arg, int err);
/*
 * Rebuild @page into @buf from the other pages of its stripe and the
 * parity, and its tag into @buf + PAGE (the XOR of theirs: the tag it was
 * written with) if the VM's pages carry tags; the caller checks it.  @fn
 * runs once when done (perhaps from inside this call, if no request
 * could be sent).  -EBUSY: a write of its group is in flight (ask again
 * after vm->up->changed); -ENOTCONN: a session it needs is not open (ask
 * again later).  With an error @fn does not run.
 */
int stripe_read_degraded(struct vm *vm, uint64_t page, uint8_t *buf,
			 stripe_read_fn fn, void *arg);

/*
 * Write @data (and @tag), a good copy of @page checked against its MAC,
 * over the bad copy its server holds: a plain WRITE, for the parity
 * already has the good one.  False if it cannot be sent now (a write of
 * the page or its group is in the way); the bad copy is found again at
 * the next read.  vm->st.integrity_repaired counts those that land.
 */
bool stripe_repair(struct vm *vm, uint64_t page, const uint8_t *data,
		   const uint8_t *tag);

/* How an evicted page of a group may be stored now. */
enum write_mode {
	W_SPILL,		/* nowhere remote: the spill file */
	W_WAIT,			/* not now: it stays resident */
	W_PLAIN,		/* WRITE, no parity to keep */
	W_XOR,			/* XWRITE, then its delta to the parity */
	W_STRIPE,		/* WRITE; its whole row leaves together, with
				 * a parity computed here */
};

/* Placing the group if it has no servers yet. */
enum write_mode stripe_write_mode(struct vm *vm, uint64_t page,
				  unsigned *data_srv, unsigned *parity_srv);

/* A page about to leave, for stripe_find_whole(). */
struct stripe_page {
	uint64_t page;
	const uint8_t *data;
	const uint8_t *tag;	/* its MAC, if the VM's pages carry tags */
	enum write_mode mode;
	unsigned server, parity_srv;
};

/*
 * Among @pages (ascending), those W_XOR pages that make whole rows of a
 * group become W_STRIPE, and their rows' parity is written now, unless a
 * delta of the group is in flight.
 */
void stripe_find_whole(struct vm *vm, struct stripe_page *pages, unsigned n);

/* Pages of one group slot, in consecutive rows, going to one server. */
struct stripe_run {
	struct vm *vm;
	enum write_mode mode;	/* W_PLAIN, W_XOR or W_STRIPE */
	unsigned server, parity_srv;
	uint64_t page;		/* the first; the others follow S apart */
	uint32_t count;
	uint8_t *buf;		/* count pages */
	uint8_t *tags;		/* their tags (if the VM's pages carry tags) */
	uint8_t *delta;		/* W_XOR: the server's answer, old ^ new:
				 * count pages, then count tags */
	/*
	 * Runs once.  @stored: the server holds the pages.  If not and
	 * @spill, no server can take them: they go to the spill file;
	 * otherwise they stay resident until their group can take them.
	 */
	void (*done)(struct stripe_run *run, bool stored, bool spill);
	void *arg;
	uint64_t t0;		/* stripe_write: sent (evl_now_ns) */
	struct stripe_run *next_spare;	/* in vm->spare_runs */
};

/* A run for up to M pages; NULL without memory. */
struct stripe_run *stripe_run_new(struct vm *vm, enum write_mode mode,
				  unsigned server, unsigned parity_srv,
				  uint64_t page);
/* Send it; run->done runs once (perhaps from inside this call), then the
 * run is freed. */
void stripe_write(struct stripe_run *run);

/*
 * Free @page's server copy (its PT_HAS_REMOTE), keeping parity right.
 * False if it must stay for now (its group cannot take a write); it still
 * matches the parity, and a later write's delta accounts for it.
 */
bool stripe_drop_copy(struct vm *vm, uint64_t page);

#endif
