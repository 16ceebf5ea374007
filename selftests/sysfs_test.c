// SPDX-License-Identifier: GPL-2.0
/*
 * sysfs: counters move by exactly the operations done, reset works and is
 * root's alone, memory is accounted and capped.
 */
#include <sys/stat.h>

#include "util.h"

TRANSPORT_VARIANTS

static const char *const counters[] = {
	"deltas", "batches", "reads", "loads", "swaps", "errors",
};
#define NR_COUNTERS	(sizeof(counters) / sizeof(counters[0]))

static void snap(uint64_t *v)
{
	unsigned int i;

	for (i = 0; i < NR_COUNTERS; i++)
		v[i] = sysfs_u64(counters[i]);
}

TEST(counters_exact)
{
	struct atomik *a = open_dev(O_RDWR);
	uint64_t before[NR_COUNTERS], after[NR_COUNTERS], v, out[10];
	struct atomik_delta d[100];
	struct atomik_op ops[] = {
		{ .opcode = ATOMIK_OP_ACCUM, .addr = 1, .value = 1 },
		{ .opcode = ATOMIK_OP_ACCUM, .addr = 2, .value = 1 },
		{ .opcode = ATOMIK_OP_READ, .addr = 1 },
		{ .opcode = ATOMIK_OP_LOAD, .addr = 1 },
		{ .opcode = ATOMIK_OP_SWAP, .addr = 1 },
	};
	int i;

	for (i = 0; i < 100; i++)
		d[i] = (struct atomik_delta){ .addr = i % 10, .delta = i };
	snap(before);
	for (i = 0; i < 7; i++)
		ASSERT_EQ(x_accum(a, 0, i), 0);		/* deltas 7 */
	ASSERT_EQ(x_accum_batch(a, d, 100), 0);		/* deltas 100, batches 1 */
	ASSERT_EQ(x_accum_batch(a, d, 0), 0);			/* batches 1 */
	ASSERT_EQ(x_op_batch(a, ops, 5), 0);		/* deltas 2, reads 1, loads 1,
								 * swaps 1, batches 1 */
	for (i = 0; i < 3; i++)
		ASSERT_EQ(x_read(a, 0, &v), 0);		/* reads 3 */
	ASSERT_EQ(x_read_range(a, 0, 10, out), 0);	/* reads 10 */
	for (i = 0; i < 4; i++)
		ASSERT_EQ(x_load(a, 0, i), 0);		/* loads 4 */
	ASSERT_EQ(x_swap(a, 0, 0, &v), 0);		/* swaps 1 */
	ASSERT_EQ(x_swap_keep(a, 0, &v), 0);		/* swaps 1 */
	ASSERT_EQ(x_accum(a, UINT32_MAX, 0), -EINVAL);	/* errors 1 */
	d[99].addr = UINT32_MAX;
	ASSERT_EQ(x_accum_batch(a, d, 100), -EINVAL);	/* errors 1, nothing else */
	snap(after);
	ASSERT_EQ(after[0] - before[0], 7 + 100 + 2);
	ASSERT_EQ(after[1] - before[1], 3);
	ASSERT_EQ(after[2] - before[2], 1 + 3 + 10);
	ASSERT_EQ(after[3] - before[3], 1 + 4);
	ASSERT_EQ(after[4] - before[4], 1 + 2);
	ASSERT_EQ(after[5] - before[5], 2);
	x_close(a);
}

TEST(reset_counters)
{
	struct atomik *a = open_dev(O_RDWR);
	uint64_t v[NR_COUNTERS];
	unsigned int i;
	struct stat st;

	ASSERT_EQ(x_accum(a, 0, 1), 0);
	ASSERT_GT(sysfs_u64("deltas"), 0);
	/* Writable by root only, and not readable. */
	ASSERT_OK(stat(SYSFS "reset_counters", &st));
	ASSERT_EQ(st.st_mode & 0777, 0200);
	ASSERT_EQ(write_text(SYSFS "reset_counters", "0"), -EINVAL);
	ASSERT_EQ(write_text(SYSFS "reset_counters", "x"), -EINVAL);
	ASSERT_GT(sysfs_u64("deltas"), 0);
	sysfs_set("reset_counters", "1");
	snap(v);
	for (i = 0; i < NR_COUNTERS; i++)
		ASSERT_EQ(v[i], 0);
	ASSERT_EQ(x_accum(a, 0, 1), 0);
	ASSERT_EQ(sysfs_u64("deltas"), 1);
	x_close(a);
}

TEST(attributes_are_documented_values)
{
	struct atomik *a = open_dev(O_RDONLY);
	struct stat st;

	ASSERT_EQ(sysfs_u64("abi_version"), ATOMIK_ABI_VERSION);
	ASSERT_EQ(sysfs_u64("max_batch"), ATOMIK_MAX_BATCH);
	ASSERT_EQ(sysfs_u64("nr_addrs"), nr_addrs(a));
	ASSERT_EQ(sysfs_u64("nr_tables"), 1);
	/* Read-only ones refuse writes even from root. */
	ASSERT_OK(stat(SYSFS "nr_addrs", &st));
	ASSERT_EQ(st.st_mode & 0777, 0444);
	ASSERT_EQ(write_text(SYSFS "nr_addrs", "5"), -EACCES);
	ASSERT_OK(stat(SYSFS "memory_cap", &st));
	ASSERT_EQ(st.st_mode & 0777, 0644);
	x_close(a);
}

/*
 * memory_bytes counts what the allocator handed out for a table (see
 * tables_test for the check against the free memory): at least its rows,
 * a reference, a base and one row per possible CPU; all of it comes back.
 */
TEST(memory_accounted)
{
	struct atomik *a = open_dev(O_RDWR);
	uint64_t base = memory_settled(), m1, m2;
	int cpus = possible_cpus(NULL);
	uint32_t t1, t2;

	ASSERT_GE(base, sysfs_u64("nr_addrs") * 8 * (2 + cpus));
	ASSERT_EQ(atomik_table_create(a, 100, 0, &t1), 0);
	m1 = sysfs_u64("memory_bytes") - base;
	ASSERT_GE(m1, 100 * 8 * (2 + cpus));
	ASSERT_EQ(atomik_table_create(a, 1 << 16, 0, &t2), 0);
	m2 = sysfs_u64("memory_bytes") - base - m1;
	ASSERT_GE(m2, (8ULL << 16) * (2 + cpus));
	ASSERT_EQ(sysfs_u64("nr_tables"), 3);
	ASSERT_EQ(atomik_table_destroy(a, t2), 0);
	ASSERT_EQ(memory_settles_at(base + m1), base + m1);
	ASSERT_EQ(atomik_table_destroy(a, t1), 0);
	ASSERT_EQ(sysfs_u64("nr_tables"), 1);
	/* The memory goes back once the last operation ends. */
	ASSERT_EQ(memory_settles_at(base), base);
	x_close(a);
}

TEST(memory_cap_refuses_creation)
{
	struct atomik *a = open_dev(O_RDWR);
	uint64_t used = memory_settled(), cap = sysfs_u64("memory_cap");
	uint32_t t, fits = 100;
	uint64_t size;
	char buf[32];

	/* What a table of this size takes, as memory_bytes counts it. */
	ASSERT_EQ(atomik_table_create(a, fits, 0, &t), 0);
	size = sysfs_u64("memory_bytes") - used;
	ASSERT_EQ(atomik_table_destroy(a, t), 0);
	ASSERT_EQ(memory_settles_at(used), used);
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)(used + size));
	sysfs_set("memory_cap", buf);
	ASSERT_EQ(atomik_table_create(a, fits * 2, 0, &t), -ENOSPC);
	ASSERT_EQ(sysfs_u64("nr_tables"), 1);
	ASSERT_EQ(sysfs_u64("memory_bytes"), used);
	ASSERT_EQ(atomik_table_create(a, fits, 0, &t), 0);	/* exactly at the cap */
	ASSERT_EQ(atomik_table_create(a, 1, 0, NULL), -ENOSPC);
	ASSERT_EQ(atomik_table_destroy(a, t), 0);
	ASSERT_EQ(write_text(SYSFS "memory_cap", "lots"), -EINVAL);
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)cap);
	sysfs_set("memory_cap", buf);
	ASSERT_EQ(sysfs_u64("memory_cap"), cap);
	/* An absurd size is refused by the cap, not by the allocator. */
	ASSERT_EQ(atomik_table_create(a, ATOMIK_MAX_ADDRS, 0, &t), -ENOSPC);
	x_close(a);
}
