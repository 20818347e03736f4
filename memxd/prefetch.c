// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * prefetch.c - majority-trend stride detection with an adaptive window.
 */
#include "prefetch.h"

#include <string.h>

#define WINDOW_START	8u

void prefetch_init(struct prefetch *pf, unsigned max)
{
	memset(pf, 0, sizeof(*pf));
	pf->max = max;
	pf->window = max < WINDOW_START ? max : WINDOW_START;
}

void prefetch_note(struct prefetch *pf, uint64_t page)
{
	int64_t d = (int64_t)(page - pf->last_page);

	pf->last_page = page;
	if (d == 0)
		return;
	pf->delta[pf->next] = d;
	pf->next = (pf->next + 1) % PREFETCH_HISTORY;
	if (pf->ndelta < PREFETCH_HISTORY)
		pf->ndelta++;
}

void prefetch_hit(struct prefetch *pf)
{
	pf->hits_since++;
}

void prefetch_wasted(struct prefetch *pf)
{
	pf->wasted_since++;
}

/* Boyer-Moore majority vote over the delta history. */
static int majority(const struct prefetch *pf, int64_t *out)
{
	int64_t cand = 0;
	unsigned count = 0, votes = 0;

	for (unsigned i = 0; i < pf->ndelta; i++) {
		if (!count) {
			cand = pf->delta[i];
			count = 1;
		} else if (pf->delta[i] == cand) {
			count++;
		} else {
			count--;
		}
	}
	for (unsigned i = 0; i < pf->ndelta; i++)
		votes += pf->delta[i] == cand;
	if (pf->ndelta < 2 || 2 * votes <= pf->ndelta)
		return 0;
	*out = cand;
	return 1;
}

unsigned prefetch_plan(struct prefetch *pf, int64_t *stride)
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
	return prefetch_ahead(pf, stride);
}

unsigned prefetch_ahead(const struct prefetch *pf, int64_t *stride)
{
	if (!pf->max || !majority(pf, stride))
		return 0;
	return pf->window ? pf->window : 1;
}
