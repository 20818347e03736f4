/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pause.h - let a test script act at a chosen point of a workload.
 *
 * After a named phase the program creates PATH, writes the phase name
 * (and a newline) to PATH.ready, and waits until the script deletes PATH.
 * The script waits for PATH.ready to hold the phase it expects, does what
 * it must (kill a server, drain one, read memxctl dump while the VM is
 * still registered), then deletes PATH.  Each phase name pauses once.
 *
 * Header-only (static inline), so each test program that includes it
 * needs no other source file.
 */
#ifndef MEMX_TEST_PAUSE_H
#define MEMX_TEST_PAUSE_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct pause_ctl {
	const char *after;	/* comma-separated phase names, or NULL */
	const char *file;	/* PATH */
	unsigned timeout_s;	/* fail if PATH is not deleted in time */
	char done[512];		/* ",phase,phase," already paused after */
};

static inline double pause_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Is @name in the comma-separated @list? */
static inline bool pause_in_list(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p && *p;) {
		if (!strncmp(p, name, n) && (p[n] == ',' || !p[n]))
			return true;
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return false;
}

/* Create @path holding @text and a newline. */
static inline int pause_write_file(const char *who, const char *path,
				   const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t len = strlen(text);
	bool ok;

	if (fd < 0) {
		fprintf(stderr, "%s: cannot create %s: %s\n", who, path,
			strerror(errno));
		return -1;
	}
	ok = write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1;
	close(fd);
	if (!ok)
		fprintf(stderr, "%s: cannot write %s\n", who, path);
	return ok ? 0 : -1;
}

/*
 * 0 if every name in @list is one of the NULL-terminated @phases;
 * otherwise -1, after saying which on stderr (prefixed by @who).
 */
static inline int pause_check_phases(const char *who, const char *list,
				     const char *const *phases)
{
	for (const char *p = list; p && *p;) {
		size_t n = strcspn(p, ",");
		unsigned i;

		for (i = 0; phases[i]; i++)
			if (strlen(phases[i]) == n && !strncmp(phases[i], p, n))
				break;
		if (!phases[i]) {
			fprintf(stderr, "%s: no phase named '%.*s' to pause "
				"after; phases:", who, (int)n, p);
			for (i = 0; phases[i]; i++)
				fprintf(stderr, " %s", phases[i]);
			fprintf(stderr, "\n");
			return -1;
		}
		p += n + (p[n] == ',');
	}
	return 0;
}

/*
 * Pause after @phase if @p asks for it and has not paused there yet.
 * Returns 0 once the script let go (or if there was nothing to do), -1
 * if PATH could not be created or was not deleted in time (said on
 * stderr, prefixed by @who).  The caller's alarm(2) is suspended meanwhile.
 */
static inline int pause_maybe(struct pause_ctl *p, const char *who,
			      const char *phase)
{
	const struct timespec tick = { 0, 20 * 1000 * 1000 };
	char ready[4096], mark[128];
	unsigned left;
	double t0;
	int ret = 0;

	if (!p->after || !p->file || !pause_in_list(p->after, phase))
		return 0;
	snprintf(mark, sizeof(mark), ",%s,", phase);
	if (strstr(p->done, mark))
		return 0;
	if (!p->done[0])
		strcpy(p->done, ",");
	if (strlen(p->done) + strlen(phase) + 2 < sizeof(p->done)) {
		strcat(p->done, phase);
		strcat(p->done, ",");
	}
	snprintf(ready, sizeof(ready), "%s.ready", p->file);
	left = alarm(0);
	t0 = pause_now_s();
	if (pause_write_file(who, p->file, phase) ||
	    pause_write_file(who, ready, phase)) {
		ret = -1;
		goto out;
	}
	printf("%s: paused after %s: waiting until %s is deleted\n", who,
	       phase, p->file);
	fflush(stdout);
	while (access(p->file, F_OK) == 0) {
		if (p->timeout_s && pause_now_s() - t0 > p->timeout_s) {
			fprintf(stderr, "%s: FAIL: paused after %s for %u s and "
				"%s was never deleted\n", who, phase,
				p->timeout_s, p->file);
			ret = -1;
			goto out;
		}
		nanosleep(&tick, NULL);
	}
	unlink(ready);
	printf("%s: resumed after %.1f s\n", who, pause_now_s() - t0);
	fflush(stdout);
out:
	if (left)
		alarm(left);
	return ret;
}

#endif
