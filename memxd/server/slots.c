// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * slots.c - the memory a store's pages live in, see slots.h.
 */
#include "slots.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../../rmap/wire.h"

#define PAGE		RMAP_PAGE_SIZE
#define HUGE		(2u << 20)	/* a transparent huge page on x86-64 */
/* Slots are mapped a huge page at a time (map_huge). */
#define CHUNK_PAGES	(HUGE / PAGE)
/* slots_reserve locks this much at a time, and reports after each. */
#define RESERVE_STEP	(64u << 20)

#define WORD_BITS	64u

/*
 * Every slot below next_slot is in exactly one place: in use, on the
 * free stack, or set aside (used + nfree + aside_pages == next_slot), so
 * a store with room always finds a slot in one of them or above
 * next_slot.
 */
struct slots {
	uint64_t capacity;
	uint64_t used;		/* slots handed out and not released */
	uint8_t **chunks;	/* lazily mapped, CHUNK_PAGES slots each */
	uint8_t *reserved;	/* or all of them at once: slots_reserve */
	size_t reserved_len;
	struct slot_meta **meta;	/* each chunk's slots' */
	uint64_t nchunks;
	uint32_t *free_slots;	/* stack of released slot numbers */
	uint64_t nfree;
	unsigned releasing;	/* slots_release_many_begin()s not ended */
	uint64_t next_slot;	/* slots below this have been handed out */
	/*
	 * Released many at once and not yet given back (slots_give_back):
	 * a bit per slot, set while it is neither in use nor free.  The
	 * give-back finds runs of neighbours from its cursor up; a slot
	 * taken comes from the top word that has one (aside_top, or
	 * below: the words above it are empty).
	 */
	uint64_t *aside;
	uint64_t aside_pages, aside_next, aside_top;
	uint64_t given_back;	/* pages slots_give_back gave back, ever */
};

int slots_new(struct slots **out, uint64_t capacity_pages)
{
	struct slots *sl;

	if (capacity_pages == 0 || capacity_pages >= SLOT_NONE)
		return -EINVAL;
	sl = calloc(1, sizeof(*sl));
	if (!sl)
		return -ENOMEM;
	sl->capacity = capacity_pages;
	sl->nchunks = (capacity_pages + CHUNK_PAGES - 1) / CHUNK_PAGES;
	sl->chunks = calloc(sl->nchunks, sizeof(*sl->chunks));
	sl->meta = calloc(sl->nchunks, sizeof(*sl->meta));
	/* Never more room needed than the capacity: 4 bytes a page. */
	sl->free_slots = malloc(capacity_pages * sizeof(*sl->free_slots));
	/* A bit a page, zeroed by the kernel as it is first touched. */
	sl->aside = calloc((capacity_pages + WORD_BITS - 1) / WORD_BITS,
			   sizeof(*sl->aside));
	if (!sl->chunks || !sl->meta || !sl->free_slots || !sl->aside) {
		slots_free(sl);
		return -ENOMEM;
	}
	*out = sl;
	return 0;
}

void slots_free(struct slots *sl)
{
	if (!sl)
		return;
	for (uint64_t i = 0; sl->chunks && sl->meta && i < sl->nchunks; i++) {
		if (sl->chunks[i] && !sl->reserved)
			munmap(sl->chunks[i], (size_t)CHUNK_PAGES * PAGE);
		free(sl->meta[i]);
	}
	if (sl->reserved)
		munmap(sl->reserved, sl->reserved_len);
	free(sl->chunks);
	free(sl->meta);
	free(sl->free_slots);
	free(sl->aside);
	free(sl);
}

/*
 * @len bytes of anonymous memory starting on a huge page boundary, where
 * transparent huge pages can back it: touched in 2 MiB faults instead of
 * 4 KiB ones, and the copies into and out of slots, which land anywhere
 * in the store, miss the TLB far less.  With @advise, ask for them also
 * where the host gives them only on request (THP enabled=madvise); the
 * kernel then compacts memory to find them, which can take seconds per
 * GiB on a fragmented host: right for a reserve, made once at start, not
 * in the request path of an unreserved store, which takes huge pages
 * only where the host offers them anyway (enabled=always) and never
 * waits for one.  A slot released in an unreserved store is still given
 * back alone (the kernel splits its huge page).  NULL and errno if the
 * memory cannot be mapped.
 */
static uint8_t *map_huge(size_t len, bool advise)
{
	size_t lead;
	uint8_t *m;

	m = mmap(NULL, len + HUGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	lead = (HUGE - (uintptr_t)m % HUGE) % HUGE;
	if (lead)
		munmap(m, lead);
	munmap(m + lead + len, HUGE - lead);
	m += lead;
	if (advise)
		madvise(m, len, MADV_HUGEPAGE);	/* only advice */
	return m;
}

int slots_reserve(struct slots *sl, slots_progress_fn progress, void *arg)
{
	size_t len = (size_t)sl->nchunks * CHUNK_PAGES * PAGE, done;
	uint8_t *m;

	if (sl->reserved)
		return 0;
	if (sl->next_slot)
		return -EBUSY;
	m = map_huge(len, true);
	if (!m)
		return -errno;
	/* mlock faults every page in: the kernel's zeroing happens here. */
	for (done = 0; done < len; ) {
		size_t step = len - done < RESERVE_STEP ? len - done :
							  RESERVE_STEP;

		/*
		 * The system call, not libc's mlock(): AddressSanitizer
		 * replaces that with one that locks nothing and succeeds.
		 */
		if (syscall(SYS_mlock, m + done, step) < 0) {
			int err = errno;

			munmap(m, len);
			return -err;
		}
		done += step;
		if (progress)
			progress(done, len, arg);
	}
	sl->reserved = m;
	sl->reserved_len = len;
	for (uint64_t c = 0; c < sl->nchunks; c++)
		sl->chunks[c] = m + (size_t)c * CHUNK_PAGES * PAGE;
	return 0;
}

bool slots_reserved(const struct slots *sl)
{
	return sl->reserved != NULL;
}

int64_t slots_reserved_huge_bytes(const struct slots *sl)
{
	uintptr_t lo = (uintptr_t)sl->reserved, hi = lo + sl->reserved_len;
	unsigned long start, end, kib;
	bool inside = false, at_start = true;
	int64_t huge = 0;
	char line[256];
	FILE *f;

	if (!sl->reserved)
		return 0;
	f = fopen("/proc/self/smaps", "re");
	if (!f)
		return -errno;
	/* A mapping's header, "start-end perms ...", then its fields. */
	while (fgets(line, sizeof(line), f)) {
		bool start_of_line = at_start;

		/* A long path's second piece is no header. */
		at_start = strchr(line, '\n') != NULL;
		if (!start_of_line)
			continue;
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2)
			inside = start < hi && end > lo;
		else if (inside &&
			 sscanf(line, "AnonHugePages: %lu kB", &kib) == 1)
			huge += (int64_t)kib << 10;
	}
	fclose(f);
	return huge;
}

uint64_t slots_used(const struct slots *sl)
{
	return sl->used;
}

uint8_t *slots_addr(const struct slots *sl, uint32_t slot)
{
	return sl->chunks[slot / CHUNK_PAGES] +
	       (size_t)(slot % CHUNK_PAGES) * PAGE;
}

struct slot_meta *slots_meta(const struct slots *sl, uint32_t slot)
{
	return &sl->meta[slot / CHUNK_PAGES][slot % CHUNK_PAGES];
}

uint32_t slots_alloc(struct slots *sl)
{
	uint32_t slot;

	if (sl->used >= sl->capacity)
		return SLOT_NONE;
	/*
	 * One set aside to give back first: its memory is still there, so
	 * it costs neither the give-back nor, when written, a fault and the
	 * kernel's zeroing.
	 */
	if (sl->aside_pages) {
		uint64_t *w;

		while (!sl->aside[sl->aside_top])
			sl->aside_top--;
		w = &sl->aside[sl->aside_top];
		slot = (uint32_t)(sl->aside_top * WORD_BITS +
				  (WORD_BITS - 1 - (unsigned)__builtin_clzll(*w)));
		*w &= ~(1ull << (slot % WORD_BITS));
		sl->aside_pages--;
	} else if (sl->nfree) {
		slot = sl->free_slots[--sl->nfree];
	} else {
		uint64_t c = sl->next_slot / CHUNK_PAGES;

		if (!sl->meta[c]) {
			sl->meta[c] = calloc(CHUNK_PAGES, sizeof(*sl->meta[c]));
			if (!sl->meta[c])
				return SLOT_NONE;
		}
		if (!sl->chunks[c]) {
			uint8_t *m = map_huge((size_t)CHUNK_PAGES * PAGE,
					       false);

			if (!m)
				return SLOT_NONE;
			sl->chunks[c] = m;
		}
		slot = (uint32_t)sl->next_slot++;
	}
	sl->used++;
	return slot;
}

void slots_release(struct slots *sl, uint32_t slot)
{
	uint64_t w = slot / WORD_BITS;

	sl->used--;
	/* Inside slots_release_many_begin/end: set aside, to give back. */
	if (sl->releasing && !sl->reserved) {
		sl->aside[w] |= 1ull << (slot % WORD_BITS);
		sl->aside_pages++;
		if (w > sl->aside_top || sl->aside_pages == 1)
			sl->aside_top = w;
		return;
	}
	sl->free_slots[sl->nfree++] = slot;
	/*
	 * Give the memory back, unless it is reserved (and locked, which
	 * MADV_DONTNEED would refuse anyway): every write fills a slot
	 * whole, so nothing reads what a freed slot held.
	 */
	if (!sl->reserved)
		madvise(slots_addr(sl, slot), PAGE, MADV_DONTNEED);
}

/*
 * Each MADV_DONTNEED flushes the TLB, which costs tens of microseconds
 * in a virtual machine: a session of 262,144 pages took 11 s to free one
 * slot at a time, with every other client of the server waiting.  And
 * freeing the pages themselves takes the kernel some 0.4 µs each: 0.5 s
 * for a session of 4 GiB given back in runs, in one go.  So what is
 * released between a begin and its end is only marked, and
 * slots_give_back gives it back in runs of neighbours, a slice at a
 * time.  (The marks replace a sort of the released slots into runs at
 * the end, which took 9 ms for a million and 40 for four million, in
 * one turn.)
 */
void slots_release_many_begin(struct slots *sl)
{
	sl->releasing++;
}

void slots_release_many_end(struct slots *sl)
{
	sl->releasing--;
}

/*
 * The first slot set aside at or above @from, or capacity if none: whole
 * empty words are skipped at once.
 */
static uint64_t aside_find(const struct slots *sl, uint64_t from)
{
	uint64_t w = from / WORD_BITS, words;
	uint64_t bits;

	words = (sl->capacity + WORD_BITS - 1) / WORD_BITS;
	if (w >= words)
		return sl->capacity;
	bits = sl->aside[w] & (~0ull << (from % WORD_BITS));
	while (!bits) {
		if (++w == words)
			return sl->capacity;
		bits = sl->aside[w];
	}
	return w * WORD_BITS + (unsigned)__builtin_ctzll(bits);
}

/*
 * The run set aside that starts at @first: up to a slot not set aside,
 * or where a chunk ends (chunks are mapped apart).  Its bits cleared.
 */
static uint32_t aside_take_run(struct slots *sl, uint64_t first)
{
	uint64_t end = first, limit = (first / CHUNK_PAGES + 1) * CHUNK_PAGES;

	if (limit > sl->capacity)
		limit = sl->capacity;
	while (end < limit) {
		uint64_t *w = &sl->aside[end / WORD_BITS];
		unsigned b = end % WORD_BITS;
		/* The run's length in this word, from bit b. */
		uint64_t ones = ~(*w >> b);
		unsigned n = ones ? (unsigned)__builtin_ctzll(ones) :
				    WORD_BITS - b;

		if (n > WORD_BITS - b)
			n = WORD_BITS - b;
		if (n > limit - end)
			n = (unsigned)(limit - end);
		if (!n)
			break;
		*w &= ~(n == WORD_BITS ? ~0ull : ((1ull << n) - 1) << b);
		end += n;
		if (b + n < WORD_BITS)
			break;
	}
	return (uint32_t)(end - first);
}

bool slots_give_back(struct slots *sl, uint64_t max_pages)
{
	uint64_t done = 0;

	while (sl->aside_pages && done < max_pages) {
		uint64_t first = aside_find(sl, sl->aside_next);
		uint32_t n;

		if (first >= sl->capacity) {
			/* Set aside below the cursor since it passed. */
			sl->aside_next = 0;
			continue;
		}
		n = aside_take_run(sl, first);
		madvise(slots_addr(sl, (uint32_t)first), (size_t)n * PAGE,
			MADV_DONTNEED);
		for (uint32_t k = 0; k < n; k++)
			sl->free_slots[sl->nfree++] = (uint32_t)first + k;
		sl->aside_pages -= n;
		sl->aside_next = first + n;
		sl->given_back += n;
		done += n;
	}
	if (!sl->aside_pages)
		sl->aside_next = 0;
	return sl->aside_pages != 0;
}

uint64_t slots_to_give_back(const struct slots *sl)
{
	return sl->aside_pages;
}

uint64_t slots_given_back(const struct slots *sl)
{
	return sl->given_back;
}
