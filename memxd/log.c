// SPDX-License-Identifier: GPL-2.0-or-later
#include "log.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level max_level = LOG_LEVEL_INFO;
static const char *ident = "memxd";
static const char *const level_names[] = { "error", "warning", "info", "debug" };

void log_set_level(enum log_level level)
{
	max_level = level;
}

void log_set_ident(const char *id)
{
	ident = id;
}

int log_parse_level(const char *s, enum log_level *out)
{
	for (unsigned i = 0; i <= LOG_LEVEL_DEBUG; i++) {
		if (!strcmp(s, level_names[i])) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

static void log_v(enum log_level level, const char *fmt, va_list ap)
{
	struct timespec ts;
	struct tm tm;
	char when[32];

	if (level > max_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld %s[%s]: ", when, ts.tv_nsec / 1000000, ident,
		level_names[level]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_v(level, fmt, ap);
	va_end(ap);
}

void log_limited(struct log_limit *ll, unsigned interval_ms,
		 enum log_level level, const char *fmt, ...)
{
	struct timespec ts;
	unsigned long long now;
	va_list ap;

	if (level > max_level)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (unsigned long long)ts.tv_sec * 1000 +
	      (unsigned long long)ts.tv_nsec / 1000000;
	if (ll->used && now - ll->last_ms < interval_ms) {
		ll->folded++;
		return;
	}
	if (ll->folded)
		log_msg(level, "(%u more like the next were folded in the "
			"last %llu ms)", ll->folded, now - ll->last_ms);
	ll->used = 1;
	ll->last_ms = now;
	ll->folded = 0;
	va_start(ap, fmt);
	log_v(level, fmt, ap);
	va_end(ap);
}
