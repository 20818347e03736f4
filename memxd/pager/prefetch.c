// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * prefetch.c - per-stream majority-trend stride detection with an
 * adaptive window.
 */
#include "prefetch.h"

#include <string.h>

#define WINDOW_START	8u
/*
 * The write trend's memory: halved past this many clean installs.  Short,
 * because while the trend holds only the probes are counted: a reader
 * that follows a writer turns it back after a few probe runs.
 */
#define TREND_SPAN	1024u
/* Installed writable once this many clean installs were seen... */
#define TREND_MIN	256u

void prefetch_init(struct prefetch *pf, unsigned max)
{
	memset(pf, 0, sizeof(*pf));
	pf->max = max;
	pf->window = max < WINDOW_START ? max : WINDOW_START;
}

static uint64_t distance(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

unsigned prefetch_note(struct prefetch *pf, uint64_t page)
{
	unsigned best = PREFETCH_STREAMS, victim = 0;
	struct prefetch_stream *s;
	int64_t d;

	for (unsigned i = 0; i < PREFETCH_STREAMS; i++) {
		s = &pf->s[i];
		if (s->live && distance(page, s->last_page) <= PREFETCH_NEAR &&
		    (best == PREFETCH_STREAMS ||
		     distance(page, s->last_page) <
		     distance(page, pf->s[best].last_page)))
			best = i;
		if (!s->live || (pf->s[victim].live &&
				 s->last_use < pf->s[victim].last_use))
			victim = i;
	}
	if (best == PREFETCH_STREAMS) {
		/* A new walk: it replaces the stream idle the longest. */
		s = &pf->s[victim];
		memset(s, 0, sizeof(*s));
		s->live = true;
		s->last_page = page;
		s->last_use = ++pf->tick;
		return victim;
	}
	s = &pf->s[best];
	d = (int64_t)(page - s->last_page);
	if (s->covered_stride &&
	    page == s->last_page +
		    (uint64_t)((int64_t)(s->covered_n + 1) * s->covered_stride)) {
		/*
		 * Just past a run covered ahead: one more step, and the
		 * run was used (as far as faults can tell).
		 */
		d = s->covered_stride;
		pf->hits_since += s->covered_n;
	}
	s->covered_stride = 0;
	s->last_page = page;
	s->last_use = ++pf->tick;
	if (d) {
		s->delta[s->next] = d;
		s->next = (s->next + 1) % PREFETCH_HISTORY;
		if (s->ndelta < PREFETCH_HISTORY)
			s->ndelta++;
	}
	return best;
}

void prefetch_covered(struct prefetch *pf, unsigned stream, int64_t stride,
		      unsigned n)
{
	struct prefetch_stream *s;

	if (stream >= PREFETCH_STREAMS || !n || !stride)
		return;
	s = &pf->s[stream];
	s->covered_stride = stride;
	s->covered_n = n;
}

void prefetch_hit(struct prefetch *pf)
{
	pf->hits_since++;
}

void prefetch_wasted(struct prefetch *pf)
{
	pf->wasted_since++;
}

/* Boyer-Moore majority vote over a stream's delta history. */
static int majority(const struct prefetch_stream *s, int64_t *out)
{
	int64_t cand = 0;
	unsigned count = 0, votes = 0;

	for (unsigned i = 0; i < s->ndelta; i++) {
		if (!count) {
			cand = s->delta[i];
			count = 1;
		} else if (s->delta[i] == cand) {
			count++;
		} else {
			count--;
		}
	}
	for (unsigned i = 0; i < s->ndelta; i++)
		votes += s->delta[i] == cand;
	if (s->ndelta < 2 || 2 * votes <= s->ndelta)
		return 0;
	*out = cand;
	return 1;
}

unsigned prefetch_plan(struct prefetch *pf, unsigned stream, int64_t *stride)
{
	if (!pf->max)
		return 0;
	if (pf->wasted_since > pf->hits_since) {
		if (pf->window > 1)
			pf->window /= 2;
	} else if (pf->hits_since && pf->window < pf->max) {
		pf->window = 2 * pf->window > pf->max ? pf->max : 2 * pf->window;
	}
	pf->hits_since = 0;
	pf->wasted_since = 0;
	return prefetch_ahead(pf, stream, stride);
}

void prefetch_installed_clean(struct prefetch *pf, unsigned n)
{
	pf->clean_installed += n;
	if (pf->clean_installed > TREND_SPAN) {
		pf->clean_installed /= 2;
		pf->clean_written /= 2;
	}
}

void prefetch_clean_written(struct prefetch *pf)
{
	if (pf->clean_written < pf->clean_installed)
		pf->clean_written++;
}

bool prefetch_writable(struct prefetch *pf)
{
	/* ... and three in four of them were written. */
	if (pf->clean_installed < TREND_MIN ||
	    4ull * pf->clean_written < 3ull * pf->clean_installed)
		return false;
	return ++pf->probe % PREFETCH_PROBE != 0;
}

unsigned prefetch_ahead(const struct prefetch *pf, unsigned stream,
			int64_t *stride)
{
	if (!pf->max || stream >= PREFETCH_STREAMS ||
	    !majority(&pf->s[stream], stride))
		return 0;
	return pf->window ? pf->window : 1;
}
