/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fakes.h - the pager's two seams, faked, for unit tests that need no
 * root: guestmem.h over a plain buffer with a pretend vCPU, and remote.h
 * over in-memory stores whose requests complete when the test says.
 *
 * The fake guest memory behaves as the kernel does where it matters to
 * the pager's rules:
 *   - a thread touching a missing page, or writing a write-protected
 *     one, raises one fault event and blocks until UFFDIO_COPY, WAKE or
 *     unprotect lets it go (fake_vcpu_* return -EAGAIN meanwhile);
 *   - a REMOVE (madvise) punches pages and queues a REMOVE event; until
 *     that event is read, UFFDIO_COPY, WRITEPROTECT and POISON fail with
 *     EAGAIN ("mmap changing"), exactly the race the pager must survive;
 *   - a poisoned page answers every access with -EFAULT (SIGBUS).
 *
 * The fake servers keep each session's pages in a hash and answer READ,
 * READZ, WRITE, XWRITE, XFREE, PXOR and FREE with the store's semantics
 * (memxd/server/store.h).  Requests wait in a queue; the test completes
 * them one by one, in any order, with any outcome, or lets the loop
 * complete them all (fake_remote_auto).
 */
#ifndef MEMX_TESTS_PAGER_FAKES_H
#define MEMX_TESTS_PAGER_FAKES_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "memxd/pager/remote.h"

#define FAKE_HVA	0x7f0000000000ull

/* ---- guest memory ---- */

struct fake_mem {
	uint64_t npages;
	uint8_t *data;		/* what the memfd holds */
	uint8_t *present, *wp, *blocked, *poisoned;	/* per page */
	int efd;		/* readable while events are queued */
	GQueue events;		/* struct uffd_msg */
	GQueue held;		/* read by gm_open(), not yet handed out */
	unsigned mm_changing;	/* unread REMOVE events */
	/* Make the next N calls fail with EAGAIN, as if mm were changing. */
	unsigned fail_install, fail_protect;
	uint64_t installs, protects, unprotects, punches, wakes, reads;
	uint64_t install_calls;	/* gm_install calls that installed a page */
	/* A vCPU writes this page with this byte as gm_open returns
	 * (UINT64_MAX: none), before the pager has read its state. */
	uint64_t open_write_page;
	uint8_t open_write_byte;
	/* Set: pages read (gm_read) while @loop held SQEs unsubmitted. */
	struct evl *loop;
	uint64_t reads_unsubmitted;
};

/* A memfd of @npages for the pager to register: pass fake_mem_fd() as
 * both descriptors of the vm_spec, one region at FAKE_HVA. */
struct fake_mem *fake_mem_new(uint64_t npages);
void fake_mem_free(struct fake_mem *m);
int fake_mem_fd(const struct fake_mem *m);

/*
 * A vCPU's access to @page: 0 when done, -EAGAIN when it faulted and is
 * blocked (the event is queued once; try again after the loop ran),
 * -EFAULT on a poisoned page.
 */
int fake_vcpu_write(struct fake_mem *m, uint64_t page, uint8_t byte);
int fake_vcpu_read(struct fake_mem *m, uint64_t page, uint8_t *byte);
/* The VMM writes @page before registering (it is present, no fault). */
void fake_mem_prefill(struct fake_mem *m, uint64_t page, uint8_t byte);
/* madvise(MADV_REMOVE) of [page, page + n): punched, event queued. */
void fake_mem_remove(struct fake_mem *m, uint64_t page, uint64_t n);
/* madvise(MADV_DONTNEED) of shared memory: the event, the pages stay. */
void fake_mem_dontneed(struct fake_mem *m, uint64_t page, uint64_t n);
/* The same of VMM addresses [start, end), which may reach beyond the
 * fake's memory (a VMM that registered more with its userfaultfd). */
void fake_mem_remove_hva(struct fake_mem *m, uint64_t start, uint64_t end);

/* ---- servers ---- */

struct fake_req {
	unsigned server;
	uint32_t session;
	uint8_t type;
	uint16_t flags;		/* RMAP_F_TAGS */
	uint64_t key;
	uint32_t count;
	uint8_t *payload;	/* a copy of the request's data (and tags) */
	void *buf;
	uint32_t cap;
	remote_done_fn fn;
	void *arg;
	bool held;		/* auto mode leaves it to the test */
	bool at_once;		/* its server's first of a turn: RMAP would
				 * send it at once, not at the turn's end */
	bool answer_lost;	/* carried out; its answer never comes */
};

struct fake_remote;

struct fake_remote *fake_remote_new(unsigned nservers);
void fake_remote_free(struct fake_remote *fr);
struct remote *fake_remote(struct fake_remote *fr);
/* Complete every request as it comes, from a hook of @loop. */
void fake_remote_auto(struct fake_remote *fr, struct evl *loop, bool on);
/* ...but for requests of @type, which wait for the test (@on). */
void fake_remote_hold(struct fake_remote *fr, uint8_t type, bool on);
/* Queue an SQE (a no-op) on @loop for each request from now on, as RMAP
 * queues a turn's first send; NULL: none. */
void fake_remote_queue_sqes(struct fake_remote *fr, struct evl *loop);
/* Call @fn for each request from now on, as it is made (NULL: none):
 * what a vCPU does while the pager sends. */
void fake_remote_on_call(struct fake_remote *fr,
			 void (*fn)(struct fake_req *q, void *arg), void *arg);
/* Requests waiting for an answer, oldest first. */
GQueue *fake_remote_pending(struct fake_remote *fr);
/* The oldest pending request of @type (any if 0), or NULL. */
struct fake_req *fake_remote_find(struct fake_remote *fr, uint8_t type);
/* Answer @req: carried out on the store unless @err or @status. */
void fake_remote_complete(struct fake_remote *fr, struct fake_req *req,
			  int err, uint8_t status);
/* Answer every pending request not held (and those they cause). */
unsigned fake_remote_drain(struct fake_remote *fr);
/* @req reaches its server and is carried out, but its answer is lost:
 * the call stays outstanding (RMAP would retransmit it) until
 * fake_remote_cancel, as memxd going away cancels it. */
void fake_remote_lose(struct fake_remote *fr, struct fake_req *req);
/* Fail every pending request with -ECANCELED, as closing RMAP does. */
void fake_remote_cancel(struct fake_remote *fr);
/* Server @idx died: its pages are gone, requests to it fail from now on
 * with -EHOSTUNREACH, and the pager hears of it. */
void fake_remote_kill(struct fake_remote *fr, unsigned idx);
/* Server @idx goes silent (or answers again): unreachable, and @down
 * (silent while the others answer) if so; the pager hears of it. */
void fake_remote_silence(struct fake_remote *fr, unsigned idx, bool silent,
			 bool down);
/* memxd is cut off from every server (or reconnected). */
void fake_remote_cut(struct fake_remote *fr, bool cut);
/* Server @idx's STAT says it lends @capacity pages, uses @used, of
 * them @freeing of ended sessions it is still walking. */
void fake_remote_usage(struct fake_remote *fr, unsigned idx,
		       uint64_t capacity, uint64_t used, uint64_t freeing);
/* The page server @idx holds under @key for session @sid (NULL: none);
 * its tag follows it (RMAP_TAG_LEN bytes). */
const uint8_t *fake_remote_page(struct fake_remote *fr, unsigned idx,
				uint32_t sid, uint64_t key);
/* Bad servers: flip bit @bit of that page as stored (false: none). */
bool fake_remote_flip(struct fake_remote *fr, unsigned idx, uint32_t sid,
		      uint64_t key, unsigned bit);
/* ...store under @key what it holds under @from, tag and all. */
bool fake_remote_copy(struct fake_remote *fr, unsigned idx, uint32_t sid,
		      uint64_t from, uint64_t key);
/* ...keep a copy of that page and tag (g_free it), and put one back: an
 * older copy replayed. */
uint8_t *fake_remote_save(struct fake_remote *fr, unsigned idx, uint32_t sid,
			  uint64_t key);
void fake_remote_restore(struct fake_remote *fr, unsigned idx, uint32_t sid,
			 uint64_t key, const uint8_t *saved);
/* Pages reported bad by the pager (remote_count_bad), over all servers. */
uint64_t fake_remote_bad(struct fake_remote *fr);
/* Pages stored on server @idx, over all sessions. */
uint64_t fake_remote_stored(struct fake_remote *fr, unsigned idx);
/* Sessions taken over by ATTACH (with the right secret). */
unsigned fake_remote_attached(struct fake_remote *fr);
/* Requests of @type sent so far (all types if 0). */
uint64_t fake_remote_sent(struct fake_remote *fr, uint8_t type);

#endif
