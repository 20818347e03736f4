/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * log.h - memxd's log: one line per event on stderr, which systemd's
 * journal keeps.  Repeats of one message are folded, so a failing peer
 * cannot flood the log.
 *
 * The error convention, everywhere in memx: a function that can fail
 * returns 0 or -errno.  Where a caller needs the reason in words (a reply
 * on the control socket, a refusal to start), it passes a `char *why,
 * size_t len` buffer.  Library code (rmap/, pagegroup/) never logs; it
 * returns errors and counts drops.  memxd's own layers log what an
 * operator must hear about, once, where the decision is made.
 */
#ifndef MEMX_LOG_H
#define MEMX_LOG_H

/* Named so as not to collide with <syslog.h>'s LOG_ERR and friends. */
enum log_level {
	LOG_LEVEL_ERR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

void log_set_level(enum log_level level);
int log_parse_level(const char *s, enum log_level *out);
void log_set_ident(const char *ident);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The state of one rate-limited call site. */
struct log_limit {
	unsigned long long last_ms;
	unsigned folded;
	int used;
};

/* Like log_msg, but at most once per @interval_ms for @limit. */
void log_limited(struct log_limit *limit, unsigned interval_ms,
		 enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_err(...)	log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

/*
 * At most one message per @interval_ms from this call site (each call
 * site has its own limit, whatever it logs about); the repeats are
 * counted and reported with the next message that gets through.
 */
#define log_ratelimited(interval_ms, level, ...)			\
	do {								\
		static struct log_limit log_limit_;			\
		log_limited(&log_limit_, (interval_ms), (level),	\
			    __VA_ARGS__);				\
	} while (0)

#endif
