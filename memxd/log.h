/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * log.h - memxd's log: one line per event on stderr, which systemd's
 * journal keeps.  Repeats of one message are folded, so a failing peer
 * cannot flood the log.
 */
#ifndef MEMX_LOG_H
#define MEMX_LOG_H

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
int log_parse_level(const char *s, enum log_level *out);
void log_set_ident(const char *ident);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Like log_msg, but at most once per @interval_ms per call site @key. */
void log_ratelimited(const void *key, unsigned interval_ms,
		     enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
