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

/* Neighbouring slots set aside to give back together. */
struct slot_run {
	uint32_t first, n;
};

/*
 * Every slot below next_slot is in exactly one place: in use, on the
 * free stack, or in a run set aside (used + nfree + run_pages ==
 * next_slot), so a store with room always finds a slot in one of them
 * or above next_slot.
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
	uint64_t release_from;	/* free_slots[] from here: released since
				 * the first begin, still free */
	uint64_t next_slot;	/* slots below this have been handed out */
	/*
	 * Released many at once and not yet given back (slots_give_back):
	 * runs of neighbouring slots, neither in use nor free.
	 */
	struct slot_run *runs;
	uint64_t nruns, runs_room, run_pages;
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
	if (!sl->chunks || !sl->meta || !sl->free_slots) {
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
	free(sl->runs);
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
	if (sl->nruns) {
		struct slot_run *r = &sl->runs[sl->nruns - 1];

		slot = r->first + --r->n;
		if (!r->n)
			sl->nruns--;
		sl->run_pages--;
	} else if (sl->nfree) {
		slot = sl->free_slots[--sl->nfree];
		/*
		 * Between a begin and its end (a session freed over many
		 * turns, store.c) a write may take a slot from under what
		 * was released since: what the end sorts stays above.
		 */
		if (sl->nfree < sl->release_from)
			sl->release_from = sl->nfree;
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
	sl->free_slots[sl->nfree++] = slot;
	sl->used--;
	/*
	 * Give the memory back, unless it is reserved (and locked, which
	 * MADV_DONTNEED would refuse anyway): every write fills a slot
	 * whole, so nothing reads what a freed slot held.  Inside
	 * slots_release_many_begin/end, the end sets it aside instead.
	 */
	if (!sl->reserved && !sl->releasing)
		madvise(slots_addr(sl, slot), PAGE, MADV_DONTNEED);
}

static int cmp_slot(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/*
 * Sort @n slot numbers: by their two 16-bit halves (a radix sort, two
 * passes through a buffer of @n) when there are many.  For a million,
 * qsort(3), with its call per comparison, made the freeing turn 0.11 s
 * longer (0.30 s against 0.19).
 */
static void sort_slots(uint32_t *v, uint64_t n)
{
	static uint32_t count[1u << 16];	/* n < 2^32: slots are */
	uint32_t *tmp = n >= 4096 ? malloc(n * sizeof(*tmp)) : NULL;

	if (!tmp) {
		qsort(v, n, sizeof(*v), cmp_slot);
		return;
	}
	for (unsigned shift = 0; shift < 32; shift += 16) {
		uint32_t *from = shift ? tmp : v, *to = shift ? v : tmp;
		uint32_t sum = 0;

		memset(count, 0, sizeof(count));
		for (uint64_t i = 0; i < n; i++)
			count[(from[i] >> shift) & 0xffff]++;
		for (unsigned b = 0; b < (1u << 16); b++) {
			uint32_t c = count[b];

			count[b] = sum;
			sum += c;
		}
		for (uint64_t i = 0; i < n; i++)
			to[count[(from[i] >> shift) & 0xffff]++] = from[i];
	}
	free(tmp);
}

/*
 * Each MADV_DONTNEED flushes the TLB, which costs tens of microseconds
 * in a virtual machine: a session of 262,144 pages took 11 s to free one
 * slot at a time, with every other client of the server waiting.  And
 * freeing the pages themselves takes the kernel some 0.4 µs each: 0.5 s
 * for a session of 4 GiB given back in runs, in one go.  So the end
 * only sorts what was released into runs of neighbours and sets them
 * aside; slots_give_back gives them back a slice at a time.
 */
void slots_release_many_begin(struct slots *sl)
{
	if (!sl->releasing++)
		sl->release_from = sl->nfree;
}

/* Room for @more runs set aside, or false. */
static bool runs_room(struct slots *sl, uint64_t more)
{
	uint64_t room = sl->runs_room ? sl->runs_room : 64;
	struct slot_run *r;

	if (sl->nruns + more <= sl->runs_room)
		return true;
	while (room < sl->nruns + more)
		room *= 2;
	r = realloc(sl->runs, room * sizeof(*r));
	if (!r)
		return false;
	sl->runs = r;
	sl->runs_room = room;
	return true;
}

/*
 * Where the run of neighbours that starts at @sorted[@i] ends: at a gap,
 * or where a chunk does (chunks are mapped apart).
 */
static uint64_t run_end(const uint32_t *sorted, uint64_t i, uint64_t n)
{
	for (i++; i < n && sorted[i] == sorted[i - 1] + 1 &&
	     sorted[i] % CHUNK_PAGES; i++)
		;
	return i;
}

void slots_release_many_end(struct slots *sl)
{
	uint64_t from = sl->release_from, n = sl->nfree - from, i, j, nr;
	uint32_t *sorted = sl->free_slots + from;

	if (--sl->releasing)
		return;
	sl->release_from = 0;
	if (sl->reserved || !n)
		return;
	sort_slots(sorted, n);
	for (i = 0, nr = 0; i < n; i = run_end(sorted, i, n), nr++)
		;
	if (!runs_room(sl, nr)) {
		/* Give them back now, then: they stay free. */
		for (i = 0; i < n; i++)
			madvise(slots_addr(sl, sorted[i]), PAGE,
				MADV_DONTNEED);
		return;
	}
	for (i = 0; i < n; i = j) {
		j = run_end(sorted, i, n);
		sl->runs[sl->nruns++] = (struct slot_run){
			.first = sorted[i], .n = (uint32_t)(j - i),
		};
	}
	sl->run_pages += n;
	sl->nfree = from;
}

bool slots_give_back(struct slots *sl, uint64_t max_pages)
{
	uint64_t done = 0;

	while (sl->nruns && done < max_pages) {
		struct slot_run r = sl->runs[--sl->nruns];

		madvise(slots_addr(sl, r.first), (size_t)r.n * PAGE,
			MADV_DONTNEED);
		for (uint32_t k = 0; k < r.n; k++)
			sl->free_slots[sl->nfree++] = r.first + k;
		sl->run_pages -= r.n;
		sl->given_back += r.n;
		done += r.n;
	}
	return sl->nruns != 0;
}

uint64_t slots_to_give_back(const struct slots *sl)
{
	uint64_t batch = sl->releasing && !sl->reserved ?
			 sl->nfree - sl->release_from : 0;

	return sl->run_pages + batch;
}

uint64_t slots_given_back(const struct slots *sl)
{
	return sl->given_back;
}
