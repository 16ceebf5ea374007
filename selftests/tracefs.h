/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The module's tracepoints (Documentation/atomik/tracing.rst) read through
 * tracefs, for the programs that check them.  A test skips where the kernel
 * has no tracefs or the module no events.
 */
#ifndef ATOMIK_SELFTEST_TRACEFS_H
#define ATOMIK_SELFTEST_TRACEFS_H

#include <sys/mount.h>
#include <sys/stat.h>

#include "util.h"

#define TRACEFS	"/sys/kernel/tracing/"

static void tracefs_ready(void)
{
	struct stat st;

	if (stat(TRACEFS "events", &st) &&
	    mount("tracefs", TRACEFS, "tracefs", 0, NULL))
		SKIP("no tracefs at " TRACEFS ": %s", strerror(errno));
	if (stat(TRACEFS "events/atomik", &st))
		SKIP("the module has no events in " TRACEFS "events/atomik");
	/*
	 * Without this, enabling the first event starts recording command
	 * lines, which hooks sched_switch: its static branch in __schedule()
	 * is patched while every CPU runs through it, and QEMU's
	 * multi-threaded emulation has turned that into a stray int3 oops
	 * (6.12-rt).  No test reads a command line.
	 */
	ASSERT_EQ(write_text(TRACEFS "options/record-cmd", "0"), 0);
	ASSERT_EQ(write_text(TRACEFS "tracing_on", "1"), 0);
}

/* Turn on ("1") or off ("0") every atomik event, or the one named. */
static void trace_set(const char *event, const char *on)
{
	char path[256];

	snprintf(path, sizeof(path), TRACEFS "events/atomik/%s%senable",
		 event ?: "", event ? "/" : "");
	ASSERT_EQ(write_text(path, on), 0);
}

/* Empty the trace buffer (opening "trace" for writing with O_TRUNC). */
static void trace_clear(void)
{
	int fd = open(TRACEFS "trace", O_WRONLY | O_TRUNC);

	ASSERT_OK(fd);
	close(fd);
}

/*
 * The atomik events in the buffer, one per line as "name: fields", without
 * the task, CPU and timestamp columns.
 */
static size_t trace_events(char *out, size_t len)
{
	FILE *f = fopen(TRACEFS "trace", "r");
	char line[512], *p;
	size_t n = 0;

	ASSERT_TRUE(f != NULL);
	out[0] = 0;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#')
			continue;
		p = strstr(line, " atomik_");
		if (!p)
			continue;
		n += snprintf(out + n, n < len ? len - n : 0, "%s", p + 1);
	}
	fclose(f);
	ASSERT_LE(n, len - 1);
	return n;
}

/* The buffer's events must be exactly expect. */
static void trace_expect(const char *expect)
{
	static char got[16384];

	trace_events(got, sizeof(got));
	if (strcmp(got, expect)) {
		TH_LOG("expected:\n%s", expect);
		TH_LOG("traced:\n%s", got);
	}
	ASSERT_EQ(strcmp(got, expect), 0);
}

#endif /* ATOMIK_SELFTEST_TRACEFS_H */
