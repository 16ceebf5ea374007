// SPDX-License-Identifier: GPL-2.0
/*
 * The module's tracepoints (Documentation/atomik/tracing.rst), read through
 * tracefs: a known sequence of calls must produce exactly the expected
 * events, in order, with the right fields.  The calls run in a child; the
 * parent turns the events off again whatever the child did.
 */
#include <sys/wait.h>

#include "tracefs.h"

TRANSPORT_VARIANTS

/* What the child does, and the events it must produce. */
static void known_sequence(char *expect, size_t len)
{
	struct atomik *a = open_dev(O_RDWR);
	struct atomik_delta d[5] = {
		{ .addr = 3, .delta = 0x10 }, { .addr = 1, .delta = 0x20 },
		{ .addr = 3, .delta = 0x01 }, { .addr = 7, .delta = 0x40 },
		{ .addr = 0, .delta = 0x80 },
	};
	struct atomik_delta bad = { .addr = 8, .delta = 1 };
	uint64_t m0 = memory_settled(), old = 0, kept = 0, remote[2] = { 0xA, 0xB };
	uint32_t id;
	size_t n = 0;

	ASSERT_EQ(atomik_table_create(a, 8, ATOMIK_TABLE_SELECT, &id), 0);
	n += snprintf(expect + n, len - n,
		      "atomik_table_create: table=%u nr_addrs=8 owner=%u bytes=%llu replicated=0\n",
		      id, (unsigned int)geteuid(),
		      (unsigned long long)(sysfs_u64("memory_bytes") - m0));
	ASSERT_EQ(x_load(a, 3, 0x1234), 0);
	n += snprintf(expect + n, len - n,
		      "atomik_load: table=%u addr=3 value=0x1234\n", id);
	ASSERT_EQ(x_accum_batch(a, d, 5), 0);
	n += snprintf(expect + n, len - n,
		      "atomik_batch: table=%u count=5 path=cpu\n", id);
	/* Refused: nothing applied, nothing traced. */
	ASSERT_EQ(x_accum_batch(a, &bad, 1), -EINVAL);
	ASSERT_EQ(x_swap(a, 3, 0x77, &old), 0);
	ASSERT_EQ(old, 0x1234 ^ 0x10 ^ 0x01);
	n += snprintf(expect + n, len - n,
		      "atomik_swap: table=%u addr=3 old_state=0x1225 new_ref=0x77\n", id);
	ASSERT_EQ(x_accum(a, 3, 0x100), 0);
	ASSERT_EQ(x_swap_keep(a, 3, &kept), 0);
	ASSERT_EQ(kept, 0x177);
	n += snprintf(expect + n, len - n,
		      "atomik_swap: table=%u addr=3 old_state=0x177 new_ref=0x177\n", id);
	ASSERT_EQ(atomik_table_destroy(a, id), 0);
	n += snprintf(expect + n, len - n, "atomik_table_destroy: table=%u\n", id);
	/* A replicated table, its remote row, and a load there; once the
	 * destroyed table's rows have gone (from a work item, after a grace
	 * period, so wait for the account to be back where it was).
	 */
	ASSERT_EQ(memory_settles_at(m0), m0);
	ASSERT_EQ(atomik_table_create(a, 4, ATOMIK_TABLE_SELECT | ATOMIK_TABLE_REPLICATED, &id), 0);
	n += snprintf(expect + n, len - n,
		      "atomik_table_create: table=%u nr_addrs=4 owner=%u bytes=%llu replicated=1\n",
		      id, (unsigned int)geteuid(),
		      (unsigned long long)(sysfs_u64("memory_bytes") - m0));
	ASSERT_EQ(x_remote_set(a, 1, 2, remote), 0);
	n += snprintf(expect + n, len - n, "atomik_remote_set: table=%u first=1 count=2\n", id);
	ASSERT_EQ(x_load(a, 2, 0x22), 0);
	n += snprintf(expect + n, len - n, "atomik_load: table=%u addr=2 value=0x22\n", id);
	ASSERT_EQ(x_read_accum(a, 2, &kept), 0);
	ASSERT_EQ(kept, 0x22 ^ 0xB);
	ASSERT_EQ(atomik_table_destroy(a, id), 0);
	n += snprintf(expect + n, len - n, "atomik_table_destroy: table=%u\n", id);
	ASSERT_LE(n, len - 1);
	x_close(a);
}

TEST(known_calls_make_known_events)
{
	static char expect[4096];
	int p[2], status;
	pid_t pid;

	tracefs_ready();
	ASSERT_OK(pipe(p));
	trace_set(NULL, "0");
	trace_clear();
	trace_set(NULL, "1");
	pid = fork();
	ASSERT_OK(pid);
	if (pid == 0) {
		close(p[0]);
		known_sequence(expect, sizeof(expect));
		if (write(p[1], expect, strlen(expect)) != (ssize_t)strlen(expect))
			_exit(1);
		_exit(harness_failed);
	}
	close(p[1]);
	memset(expect, 0, sizeof(expect));
	ASSERT_TRUE(read(p[0], expect, sizeof(expect) - 1) >= 0);
	close(p[0]);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	trace_set(NULL, "0");
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	trace_expect(expect);
}

/* With the events off, the same calls leave nothing in the buffer. */
TEST(events_off_trace_nothing)
{
	struct atomik *a;
	struct atomik_delta d = { .addr = 0, .delta = 1 };
	char got[1024];
	uint32_t id;

	tracefs_ready();
	trace_set(NULL, "0");
	trace_clear();
	a = open_dev(O_RDWR);
	ASSERT_EQ(atomik_table_create(a, 4, ATOMIK_TABLE_SELECT, &id), 0);
	ASSERT_EQ(x_accum_batch(a, &d, 1), 0);
	ASSERT_EQ(x_load(a, 0, 5), 0);
	ASSERT_EQ(atomik_table_destroy(a, id), 0);
	x_close(a);
	ASSERT_EQ(trace_events(got, sizeof(got)), 0);
}
