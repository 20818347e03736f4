// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fake_guestmem.c - guestmem.h over a plain buffer, and a pretend vCPU
 * (fakes.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fakes.h"
#include "memxd/pager/guestmem.h"
#include "rmap/evloop.h"

#define FAKE_MAX	16

static struct fake_mem *fakes[FAKE_MAX];

struct fake_mem *fake_mem_new(uint64_t npages)
{
	struct fake_mem *m = calloc(1, sizeof(*m));

	m->npages = npages;
	m->data = calloc(npages, GM_PAGE);
	m->present = calloc(npages, 1);
	m->wp = calloc(npages, 1);
	m->blocked = calloc(npages, 1);
	m->poisoned = calloc(npages, 1);
	m->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	m->open_write_page = UINT64_MAX;
	g_queue_init(&m->events);
	g_queue_init(&m->held);
	for (unsigned i = 0; i < FAKE_MAX; i++) {
		if (!fakes[i]) {
			fakes[i] = m;
			break;
		}
	}
	return m;
}

int fake_mem_fd(const struct fake_mem *m)
{
	for (int i = 0; i < FAKE_MAX; i++)
		if (fakes[i] == m)
			return i;
	return -1;
}

void fake_mem_free(struct fake_mem *m)
{
	int i = fake_mem_fd(m);

	if (i >= 0)
		fakes[i] = NULL;
	g_queue_clear_full(&m->events, g_free);
	g_queue_clear_full(&m->held, g_free);
	close(m->efd);
	free(m->data);
	free(m->present);
	free(m->wp);
	free(m->blocked);
	free(m->poisoned);
	free(m);
}

static struct fake_mem *of(const struct guestmem *gm)
{
	return gm->impl;
}

static void queue_event(struct fake_mem *m, struct uffd_msg *msg)
{
	uint64_t one = 1;

	g_queue_push_tail(&m->events, g_memdup2(msg, sizeof(*msg)));
	if (write(m->efd, &one, sizeof(one)) < 0)
		abort();
}

static int vcpu_fault(struct fake_mem *m, uint64_t page, uint64_t flags)
{
	struct uffd_msg msg = { .event = UFFD_EVENT_PAGEFAULT };

	if (m->blocked[page])
		return -EAGAIN;		/* still waiting for its wake */
	msg.arg.pagefault.address = FAKE_HVA + page * GM_PAGE + 123;
	msg.arg.pagefault.flags = flags;
	m->blocked[page] = 1;
	queue_event(m, &msg);
	return -EAGAIN;
}

int fake_vcpu_write(struct fake_mem *m, uint64_t page, uint8_t byte)
{
	if (m->poisoned[page])
		return -EFAULT;
	if (!m->present[page])
		return vcpu_fault(m, page, UFFD_PAGEFAULT_FLAG_WRITE);
	if (m->wp[page])
		return vcpu_fault(m, page, UFFD_PAGEFAULT_FLAG_WRITE |
				  UFFD_PAGEFAULT_FLAG_WP);
	memset(m->data + page * GM_PAGE, byte, GM_PAGE);
	return 0;
}

int fake_vcpu_read(struct fake_mem *m, uint64_t page, uint8_t *byte)
{
	if (m->poisoned[page])
		return -EFAULT;
	if (!m->present[page])
		return vcpu_fault(m, page, 0);
	*byte = m->data[page * GM_PAGE];
	/* Every byte of a page is written alike: check they still are. */
	for (unsigned i = 1; i < GM_PAGE; i++)
		if (m->data[page * GM_PAGE + i] != *byte)
			return -EIO;
	return 0;
}

void fake_mem_prefill(struct fake_mem *m, uint64_t page, uint8_t byte)
{
	memset(m->data + page * GM_PAGE, byte, GM_PAGE);
	m->present[page] = 1;
}

void fake_mem_remove(struct fake_mem *m, uint64_t page, uint64_t n)
{
	struct uffd_msg msg = { .event = UFFD_EVENT_REMOVE };

	for (uint64_t p = page; p < page + n; p++) {
		m->present[p] = m->wp[p] = 0;
		memset(m->data + p * GM_PAGE, 0, GM_PAGE);
	}
	msg.arg.remove.start = FAKE_HVA + page * GM_PAGE;
	msg.arg.remove.end = FAKE_HVA + (page + n) * GM_PAGE;
	m->mm_changing++;
	queue_event(m, &msg);
}

void fake_mem_dontneed(struct fake_mem *m, uint64_t page, uint64_t n)
{
	struct uffd_msg msg = { .event = UFFD_EVENT_REMOVE };

	msg.arg.remove.start = FAKE_HVA + page * GM_PAGE;
	msg.arg.remove.end = FAKE_HVA + (page + n) * GM_PAGE;
	m->mm_changing++;
	queue_event(m, &msg);
}

void fake_mem_remove_hva(struct fake_mem *m, uint64_t start, uint64_t end)
{
	struct uffd_msg msg = { .event = UFFD_EVENT_REMOVE };
	uint64_t lo = FAKE_HVA, hi = FAKE_HVA + m->npages * GM_PAGE;

	for (uint64_t a = start > lo ? start : lo; a < end && a < hi;
	     a += GM_PAGE) {
		uint64_t p = (a - FAKE_HVA) / GM_PAGE;

		m->present[p] = m->wp[p] = 0;
		memset(m->data + p * GM_PAGE, 0, GM_PAGE);
	}
	msg.arg.remove.start = start;
	msg.arg.remove.end = end;
	m->mm_changing++;
	queue_event(m, &msg);
}

/*
 * Read the oldest queued event, as the uffd's read() does: a REMOVE read
 * lets the memory map settle, and an empty queue no longer polls
 * readable.
 */
static struct uffd_msg *take_event(struct fake_mem *m)
{
	struct uffd_msg *msg = g_queue_pop_head(&m->events);
	uint64_t v;

	if (msg->event == UFFD_EVENT_REMOVE)
		m->mm_changing--;
	if (g_queue_is_empty(&m->events) && read(m->efd, &v, sizeof(v)) < 0)
		(void)0;	/* nothing was signalled: fine */
	return msg;
}

/* ---- guestmem.h ---- */

int gm_open(struct guestmem *gm, int uffd, int memfd,
	    const struct vm_region *regions, unsigned nregions,
	    bool protect_all, char *why, size_t whylen)
{
	struct fake_mem *m = memfd >= 0 && memfd < FAKE_MAX ? fakes[memfd]
							     : NULL;

	(void)uffd;
	(void)why;
	(void)whylen;
	if (!m)
		return -EBADF;
	*gm = (struct guestmem){ .uffd = uffd, .memfd = memfd,
				 .size = m->npages * GM_PAGE,
				 .nregions = nregions, .impl = m };
	memcpy(gm->regions, regions, nregions * sizeof(*regions));
	/*
	 * The check of the WP registration fails while a REMOVE is unread:
	 * the real one reads the events queued and holds them, as here.
	 */
	while (m->mm_changing && !g_queue_is_empty(&m->events))
		g_queue_push_tail(&m->held, take_event(m));
	/* It sets or clears every page's protection, as the real one does,
	 * and wakes nobody. */
	memset(m->wp, protect_all, m->npages);
	/* A vCPU that runs meanwhile, before the pager knows its pages. */
	if (m->open_write_page < m->npages)
		fake_vcpu_write(m, m->open_write_page, m->open_write_byte);
	return 0;
}

void gm_close(struct guestmem *gm)
{
	gm->impl = NULL;
}

int gm_pollfd(const struct guestmem *gm)
{
	return of(gm)->efd;
}

int gm_read_events(struct guestmem *gm, struct uffd_msg *msgs, unsigned max)
{
	struct fake_mem *m = of(gm);
	unsigned n = 0;

	while (n < max && !g_queue_is_empty(&m->held)) {
		struct uffd_msg *msg = g_queue_pop_head(&m->held);

		msgs[n++] = *msg;
		g_free(msg);
	}
	while (n < max && !g_queue_is_empty(&m->events)) {
		struct uffd_msg *msg = take_event(m);

		msgs[n++] = *msg;
		g_free(msg);
	}
	return (int)n;
}

unsigned gm_held(const struct guestmem *gm)
{
	return g_queue_get_length(&of(gm)->held);
}

int gm_for_each_present(struct guestmem *gm,
			void (*fn)(void *arg, uint64_t page, uint64_t n),
			void *arg)
{
	struct fake_mem *m = of(gm);

	for (uint64_t p = 0; p < m->npages;) {
		uint64_t n = 0;

		while (p + n < m->npages && m->present[p + n])
			n++;
		if (n)
			fn(arg, p, n);
		p += n ? n : 1;
	}
	return 0;
}

int gm_install(struct guestmem *gm, uint64_t page, uint64_t count,
	       const void *src, bool wp, uint64_t *done)
{
	struct fake_mem *m = of(gm);

	*done = 0;
	if (m->mm_changing || m->fail_install) {
		if (m->fail_install)
			m->fail_install--;
		return -EAGAIN;
	}
	for (uint64_t i = 0; i < count; i++) {
		uint64_t p = page + i;

		m->blocked[p] = 0;
		if (m->present[p]) {
			/* As UFFDIO_COPY: left as it is, its waiters woken. */
			m->install_calls += *done > 0;
			return -EEXIST;
		}
		memcpy(m->data + p * GM_PAGE,
		       (const uint8_t *)src + i * GM_PAGE, GM_PAGE);
		m->present[p] = 1;
		m->wp[p] = wp;
		m->installs++;
		(*done)++;
	}
	m->install_calls += count > 0;
	return 0;
}

int gm_protect(struct guestmem *gm, uint64_t page, uint64_t count, bool wp)
{
	struct fake_mem *m = of(gm);

	if (m->mm_changing || m->fail_protect) {
		if (m->fail_protect)
			m->fail_protect--;
		return -EAGAIN;
	}
	for (uint64_t p = page; p < page + count; p++) {
		m->wp[p] = wp;
		/* Unprotecting wakes the range, as the kernel does; a
		 * thread whose page is gone faults again. */
		if (!wp)
			m->blocked[p] = 0;
	}
	if (wp)
		m->protects += count;
	else
		m->unprotects += count;
	return 0;
}

void gm_wake(struct guestmem *gm, uint64_t page)
{
	struct fake_mem *m = of(gm);

	m->blocked[page] = 0;
	m->wakes++;
}

void gm_wake_all(struct guestmem *gm)
{
	struct fake_mem *m = of(gm);

	memset(m->blocked, 0, m->npages);
	m->wakes++;
}

int gm_poison(struct guestmem *gm, uint64_t page)
{
	struct fake_mem *m = of(gm);

	if (m->mm_changing)
		return -EAGAIN;
	m->poisoned[page] = 1;
	m->blocked[page] = 0;
	return 0;
}

int gm_read(struct guestmem *gm, uint64_t page, uint64_t count, void *buf)
{
	struct fake_mem *m = of(gm);

	memcpy(buf, m->data + page * GM_PAGE, count * GM_PAGE);
	m->reads += count;
	if (m->loop && evl_unsubmitted(m->loop))
		m->reads_unsubmitted += count;
	return 0;
}

int gm_punch(struct guestmem *gm, uint64_t page, uint64_t count)
{
	struct fake_mem *m = of(gm);

	for (uint64_t p = page; p < page + count; p++) {
		m->present[p] = m->wp[p] = 0;
		memset(m->data + p * GM_PAGE, 0, GM_PAGE);
	}
	m->punches += count;
	return 0;
}

bool gm_present(struct guestmem *gm, uint64_t page)
{
	return of(gm)->present[page];
}

int gm_present_all(struct guestmem *gm, uint64_t npages, uint8_t *bits)
{
	memset(bits, 0, (npages + 7) / 8);
	for (uint64_t p = 0; p < npages; p++)
		if (of(gm)->present[p])
			bits[p / 8] |= (uint8_t)(1u << (p % 8));
	return 0;
}
