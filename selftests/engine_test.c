// SPDX-License-Identifier: GPL-2.0
/*
 * What each operation does, as a user relies on it.
 */
#include <sys/mman.h>

#include "util.h"

TRANSPORT_VARIANTS

/* The product brief's example: two streams converge whatever the order. */
TEST(brief_two_streams_converge)
{
	struct atomik *a = open_dev(O_RDWR), *b;
	uint32_t ta, tb;

	/* Two independent banks play nodes A and B. */
	ASSERT_EQ(atomik_table_create(a, 16, ATOMIK_TABLE_SELECT, &ta), 0);
	b = open_dev(O_RDWR);
	ASSERT_EQ(atomik_table_create(b, 16, ATOMIK_TABLE_SELECT, &tb), 0);

	ASSERT_EQ(x_load(a, 0, 0xCAFEBABE), 0);
	ASSERT_EQ(x_load(b, 0, 0xCAFEBABE), 0);
	ASSERT_EQ(x_accum(a, 0, 0x000000FF), 0);
	ASSERT_EQ(x_accum(b, 0, 0x0000FF00), 0);
	ASSERT_EQ(x_accum(a, 0, 0x0000FF00), 0);	/* B's delta on A */
	ASSERT_EQ(x_accum(b, 0, 0x000000FF), 0);	/* A's delta on B */
	ASSERT_EQ(state(a, 0), 0xCAFEBABEULL ^ 0xFF ^ 0xFF00);
	ASSERT_EQ(state(a, 0), state(b, 0));
	ASSERT_EQ(atomik_table_destroy(a, ta), 0);
	ASSERT_EQ(atomik_table_destroy(b, tb), 0);
	x_close(a);
	x_close(b);
}

TEST(load_then_read)
{
	struct atomik *a = open_dev(O_RDWR);
	uint32_t n = nr_addrs(a);
	uint64_t acc;

	ASSERT_EQ(x_load(a, 0, 0x1122334455667788ULL), 0);
	ASSERT_EQ(x_load(a, n - 1, ~0ULL), 0);
	ASSERT_EQ(state(a, 0), 0x1122334455667788ULL);
	ASSERT_EQ(state(a, n - 1), ~0ULL);
	/* A load clears what was accumulated before it. */
	ASSERT_EQ(x_accum(a, 0, 0xF0), 0);
	ASSERT_EQ(x_load(a, 0, 5), 0);
	ASSERT_EQ(state(a, 0), 5);
	ASSERT_EQ(x_read_accum(a, 0, &acc), 0);
	ASSERT_EQ(acc, 0);
	x_close(a);
}

TEST(accum_is_xor_and_self_inverse)
{
	struct atomik *a = open_dev(O_RDWR);
	uint64_t acc;

	ASSERT_EQ(x_load(a, 7, 0xA5A5), 0);
	ASSERT_EQ(x_accum(a, 7, 0x0FF0), 0);
	ASSERT_EQ(state(a, 7), 0xA5A5 ^ 0x0FF0);
	ASSERT_EQ(x_read_accum(a, 7, &acc), 0);
	ASSERT_EQ(acc, 0x0FF0);
	/* The same delta again cancels itself. */
	ASSERT_EQ(x_accum(a, 7, 0x0FF0), 0);
	ASSERT_EQ(state(a, 7), 0xA5A5);
	ASSERT_EQ(x_read_accum(a, 7, &acc), 0);
	ASSERT_EQ(acc, 0);
	/* Other addresses are untouched. */
	ASSERT_EQ(x_load(a, 8, 1), 0);
	ASSERT_EQ(x_accum(a, 7, 2), 0);
	ASSERT_EQ(state(a, 8), 1);
	x_close(a);
}

/*
 * Load every address of the table with a random state, into want[n], and
 * make count random deltas d, whose effect want then includes.
 */
static void random_batch(struct atomik *a, uint32_t n, uint64_t *want,
			 struct atomik_delta *d, uint32_t count)
{
	uint64_t s = test_seed();
	uint32_t i;

	for (i = 0; i < n; i++) {
		want[i] = rnd(&s);
		ASSERT_EQ(x_load(a, i, want[i]), 0);
	}
	for (i = 0; i < count; i++) {
		d[i].addr = rnd(&s) % n;
		d[i].delta = rnd(&s);
		want[d[i].addr] ^= d[i].delta;
	}
}

TEST(batch_equals_singles)
{
	struct atomik *a = open_dev(O_RDWR);
	uint32_t n = nr_addrs(a), i;
	uint64_t *want, *got;
	struct atomik_delta *d;
	const uint32_t count = 20000;

	want = calloc(n, sizeof(*want));
	got = calloc(n, sizeof(*got));
	d = calloc(count, sizeof(*d));
	ASSERT_TRUE(want && got && d);
	random_batch(a, n, want, d, count);
	ASSERT_EQ(x_accum_batch(a, d, count), 0);
	ASSERT_EQ(x_read_range(a, 0, n, got), 0);
	for (i = 0; i < n; i++)
		ASSERT_EQ(got[i], want[i]);
	/* The same batch again undoes it. */
	ASSERT_EQ(x_accum_batch(a, d, count), 0);
	for (i = 0; i < count; i++)
		want[d[i].addr] ^= d[i].delta;
	ASSERT_EQ(x_read_range(a, 0, n, got), 0);
	for (i = 0; i < n; i++)
		ASSERT_EQ(got[i], want[i]);
	free(want);
	free(got);
	free(d);
	x_close(a);
}

/*
 * A batch in a file's pages that are not in the process's page tables (the
 * mapping read, then dropped with MADV_DONTNEED from page mapped on; the
 * file keeps the data): the first access to each faults.  With mapped > 0
 * the batch faults part of the way through; either way each delta is
 * applied exactly once.
 */
static void batch_from_fresh_pages(uint32_t mapped)
{
	struct atomik *a = open_dev(O_RDWR);
	uint32_t n = nr_addrs(a), i;
	size_t page = sysconf(_SC_PAGESIZE);
	uint64_t *want, *got;
	const uint32_t count = 3000;	/* 12 pages of 4 KiB */
	size_t bytes = count * sizeof(struct atomik_delta);
	struct atomik_delta *d;
	volatile const char *p;
	int fd;

	want = calloc(n, sizeof(*want));
	got = calloc(n, sizeof(*got));
	d = calloc(count, sizeof(*d));
	ASSERT_TRUE(want && got && d);
	random_batch(a, n, want, d, count);
	ASSERT_OK(fd = memfd_create("batch", 0));
	ASSERT_EQ(write(fd, d, bytes), (ssize_t)bytes);
	p = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	for (i = 0; i * page < bytes; i++)
		(void)p[i * page];
	ASSERT_OK(madvise((void *)(p + mapped * page), bytes - mapped * page,
			  MADV_DONTNEED));
	ASSERT_EQ(x_accum_batch(a, (const struct atomik_delta *)p, count), 0);
	ASSERT_EQ(x_read_range(a, 0, n, got), 0);
	for (i = 0; i < n; i++)
		ASSERT_EQ(got[i], want[i]);
	munmap((void *)p, bytes);
	close(fd);
	free(want);
	free(got);
	free(d);
	x_close(a);
}

TEST(batch_from_pages_not_yet_mapped)
{
	batch_from_fresh_pages(0);
}

TEST(batch_partly_mapped_applies_each_delta_once)
{
	batch_from_fresh_pages(2);
}

TEST(max_batch_accepted)
{
	struct atomik *a = open_dev(O_RDWR);
	struct atomik_delta *d = calloc(ATOMIK_MAX_BATCH, sizeof(*d));
	uint32_t i;

	ASSERT_TRUE(d != NULL);
	ASSERT_EQ(x_load(a, 3, 0), 0);
	for (i = 0; i < ATOMIK_MAX_BATCH; i++) {
		d[i].addr = 3;
		d[i].delta = 1ULL << (i % 64);
	}
	/* 65536 deltas: each bit flipped 1024 times, an even number. */
	ASSERT_EQ(x_accum_batch(a, d, ATOMIK_MAX_BATCH), 0);
	ASSERT_EQ(state(a, 3), 0);
	d[0].delta = 0;
	ASSERT_EQ(x_accum_batch(a, d, ATOMIK_MAX_BATCH), 0);
	ASSERT_EQ(state(a, 3), 1);
	free(d);
	x_close(a);
}

TEST(swap_returns_state_and_sets_reference)
{
	struct atomik *a = open_dev(O_RDWR);
	uint64_t old, acc;

	ASSERT_EQ(x_load(a, 1, 0x100), 0);
	ASSERT_EQ(x_accum(a, 1, 0x011), 0);
	ASSERT_EQ(x_swap(a, 1, 0x5000, &old), 0);
	ASSERT_EQ(old, 0x111);
	ASSERT_EQ(state(a, 1), 0x5000);
	ASSERT_EQ(x_read_accum(a, 1, &acc), 0);
	ASSERT_EQ(acc, 0);
	ASSERT_EQ(x_accum(a, 1, 0x3), 0);
	ASSERT_EQ(state(a, 1), 0x5003);

	/* KEEP: the state stays, the accumulated deltas start again. */
	ASSERT_EQ(x_swap_keep(a, 1, &old), 0);
	ASSERT_EQ(old, 0x5003);
	ASSERT_EQ(state(a, 1), 0x5003);
	ASSERT_EQ(x_read_accum(a, 1, &acc), 0);
	ASSERT_EQ(acc, 0);
	x_close(a);
}

TEST(read_range_matches_reads)
{
	struct atomik *a = open_dev(O_RDWR);
	uint32_t n = nr_addrs(a), i;
	uint64_t *got = calloc(n, sizeof(*got)), acc[4];

	ASSERT_TRUE(got != NULL);
	for (i = 0; i < n; i++)
		ASSERT_EQ(x_load(a, i, i * 0x10001ULL), 0);
	ASSERT_EQ(x_accum(a, n - 2, 0xFF), 0);
	ASSERT_EQ(x_read_range(a, 0, n, got), 0);
	for (i = 0; i < n; i++)
		ASSERT_EQ(got[i], i * 0x10001ULL ^ (i == n - 2 ? 0xFF : 0));
	/* A range at the end, and the accumulated deltas of a range. */
	ASSERT_EQ(x_read_range(a, n - 1, 1, got), 0);
	ASSERT_EQ(got[0], (n - 1) * 0x10001ULL);
	struct atomik_range r = { .ptr = (uintptr_t)acc, .first = n - 4,
				  .count = 4, .flags = ATOMIK_READ_ACCUM };
	ASSERT_OK(ioctl(atomik_fd(a), ATOMIK_IOC_READ_RANGE, &r));
	ASSERT_EQ(acc[0], 0);
	ASSERT_EQ(acc[2], 0xFF);
	ASSERT_EQ(acc[3], 0);
	free(got);
	x_close(a);
}

TEST(op_batch_mixed_in_order)
{
	struct atomik *a = open_dev(O_RDWR);
	struct atomik_op ops[] = {
		{ .opcode = ATOMIK_OP_LOAD, .addr = 2, .value = 0x10 },
		{ .opcode = ATOMIK_OP_ACCUM, .addr = 2, .value = 0x01 },
		{ .opcode = ATOMIK_OP_READ, .addr = 2 },
		{ .opcode = ATOMIK_OP_SWAP, .addr = 2, .value = 0x700 },
		{ .opcode = ATOMIK_OP_ACCUM, .addr = 2, .value = 0x02 },
		{ .opcode = ATOMIK_OP_READ, .addr = 2, .flags = ATOMIK_READ_ACCUM },
		{ .opcode = ATOMIK_OP_SWAP, .addr = 2, .flags = ATOMIK_SWAP_KEEP },
		{ .opcode = ATOMIK_OP_READ, .addr = 2 },
	};

	ASSERT_EQ(x_op_batch(a, ops, 8), 0);
	ASSERT_EQ(ops[2].result, 0x11);
	ASSERT_EQ(ops[3].result, 0x11);
	ASSERT_EQ(ops[5].result, 0x02);
	ASSERT_EQ(ops[6].result, 0x702);
	ASSERT_EQ(ops[7].result, 0x702);
	ASSERT_EQ(state(a, 2), 0x702);
	x_close(a);
}

TEST(tables_are_independent)
{
	struct atomik *a = open_dev(O_RDWR);
	uint32_t t1, t2, n;
	uint64_t v;

	ASSERT_EQ(atomik_table_select(a, 0), 0);
	ASSERT_EQ(x_load(a, 0, 0xAAAA), 0);
	ASSERT_EQ(atomik_table_create(a, 100, 0, &t1), 0);
	ASSERT_EQ(atomik_table_create(a, 5000, 0, &t2), 0);
	ASSERT_NE(t1, t2);
	ASSERT_NE(t1, 0);

	ASSERT_EQ(atomik_table_select(a, t1), 0);
	ASSERT_EQ(nr_addrs(a), 100);
	ASSERT_EQ(state(a, 0), 0);	/* a new table starts at zero */
	ASSERT_EQ(x_load(a, 0, 0x1111), 0);
	ASSERT_EQ(x_accum(a, 0, 0x1), 0);
	ASSERT_EQ(x_read(a, 100, &v), -EINVAL);	/* its own size */

	ASSERT_EQ(atomik_table_select(a, t2), 0);
	ASSERT_EQ(nr_addrs(a), 5000);
	ASSERT_EQ(x_load(a, 0, 0x2222), 0);
	ASSERT_EQ(x_accum(a, 4999, 0x9), 0);

	ASSERT_EQ(atomik_table_select(a, t1), 0);
	ASSERT_EQ(state(a, 0), 0x1110);
	ASSERT_EQ(atomik_table_select(a, t2), 0);
	ASSERT_EQ(state(a, 0), 0x2222);
	ASSERT_EQ(state(a, 4999), 0x9);
	ASSERT_EQ(atomik_table_select(a, 0), 0);
	ASSERT_EQ(state(a, 0), 0xAAAA);

	/* Another descriptor sees the same tables. */
	struct atomik *b = open_dev(O_RDWR);

	ASSERT_EQ(nr_addrs(b), sysfs_u64("nr_addrs"));	/* table 0 after open */
	ASSERT_EQ(atomik_table_select(b, t1), 0);
	ASSERT_EQ(state(b, 0), 0x1110);

	ASSERT_EQ(atomik_table_destroy(a, t1), 0);
	ASSERT_EQ(atomik_table_destroy(a, t2), 0);
	/* b still selects the destroyed table: it is gone for it too. */
	ASSERT_EQ(x_read(b, 0, &v), -ENODEV);
	ASSERT_EQ(x_accum(b, 0, 1), -ENODEV);
	ASSERT_EQ(atomik_nr_addrs(b, &n), -ENODEV);
	ASSERT_EQ(atomik_table_select(b, t1), -ENOENT);
	ASSERT_EQ(atomik_table_select(b, 0), 0);
	ASSERT_EQ(state(b, 0), 0xAAAA);
	x_close(a);
	x_close(b);
}

TEST(table_outlives_its_creator_descriptor)
{
	struct atomik *a = open_dev(O_RDWR), *b;
	uint32_t t;

	ASSERT_EQ(atomik_table_create(a, 8, ATOMIK_TABLE_SELECT, &t), 0);
	ASSERT_EQ(x_load(a, 3, 42), 0);
	x_close(a);
	b = open_dev(O_RDWR);
	ASSERT_EQ(atomik_table_select(b, t), 0);
	ASSERT_EQ(state(b, 3), 42);
	ASSERT_EQ(atomik_table_destroy(b, t), 0);
	x_close(b);
}

TEST(info_describes_device)
{
	struct atomik *a = open_dev(O_RDONLY);
	struct atomik_info info;
	uint64_t mem, page;
	int ids, tries;

	/* Tables destroyed by earlier tests give their memory back after a
	 * grace period: compare once the account has settled. */
	for (tries = 0; tries < 50; tries++) {
		mem = sysfs_u64("memory_bytes");
		usleep(200000);
		if (sysfs_u64("memory_bytes") == mem)
			break;
	}
	memset(&info, 0xff, sizeof(info));
	ASSERT_EQ(atomik_info(a, &info), 0);
	ASSERT_EQ(info.abi_version, ATOMIK_ABI_VERSION);
	ASSERT_EQ(info.table_id, 0);
	ASSERT_EQ(info.nr_addrs, sysfs_u64("nr_addrs"));
	ASSERT_EQ(info.max_batch, ATOMIK_MAX_BATCH);
	ASSERT_EQ(info.features & ATOMIK_FEAT_ALL, ATOMIK_FEAT_ALL);
	ASSERT_TRUE(info.features & ATOMIK_FEAT_TABLES);
	ASSERT_TRUE(info.features & ATOMIK_FEAT_SWAP);
	ASSERT_TRUE(info.features & ATOMIK_FEAT_OP_BATCH);
	ASSERT_EQ(info.memory_bytes, sysfs_u64("memory_bytes"));
	ASSERT_EQ(info.memory_cap, sysfs_u64("memory_cap"));
	ASSERT_EQ(info.nr_tables, sysfs_u64("nr_tables"));
	ASSERT_EQ(info.nr_slots, possible_cpus(&ids));
	/* The module is loaded without replicated=1. */
	ASSERT_EQ(info.table_flags, 0);
	ASSERT_TRUE(info.features & ATOMIK_FEAT_INSTANCE);
	ASSERT_NE(info.instance, 0);
	/* Table 0's mapping: a row per CPU id, each at least its addresses,
	 * whole pages in all (the layout map_test writes through). */
	ASSERT_TRUE(info.features & ATOMIK_FEAT_MMAP);
	ASSERT_GE(info.map_stride, info.nr_addrs * 8);
	ASSERT_EQ(info.map_stride % 64, 0);
	page = sysconf(_SC_PAGESIZE);
	ASSERT_EQ(info.map_bytes, ((uint64_t)ids * info.map_stride + page - 1) / page * page);
	ASSERT_EQ(info.reserved1, 0);
	x_close(a);
}

/*
 * A table's instance is the same through every handle for as long as the
 * table lives, and another table's, a later one of the same id included,
 * is another: replication tells a node's restarted state by it.
 */
TEST(info_instance_names_the_table)
{
	struct atomik *a = open_dev(O_RDWR), *b = open_dev(O_RDWR);
	struct atomik_info ia, ib, ic;
	uint32_t id, id2;

	ASSERT_EQ(atomik_info(a, &ia), 0);
	ASSERT_EQ(atomik_info(b, &ib), 0);
	ASSERT_EQ(ia.instance, ib.instance);

	ASSERT_EQ(atomik_table_create(a, 16, 0, &id), 0);
	ASSERT_EQ(atomik_table_select(a, id), 0);
	ASSERT_EQ(atomik_table_select(b, id), 0);
	ASSERT_EQ(atomik_info(a, &ia), 0);
	ASSERT_EQ(atomik_info(b, &ib), 0);
	ASSERT_NE(ia.instance, 0);
	ASSERT_EQ(ia.instance, ib.instance);
	x_close(b);
	b = open_dev(O_RDONLY);
	ASSERT_EQ(atomik_info(b, &ic), 0);
	ASSERT_NE(ic.instance, ia.instance);	/* table 0's */

	/* The id is handed out again once free: the instance is not. */
	ASSERT_EQ(atomik_table_select(a, 0), 0);
	ASSERT_EQ(atomik_table_destroy(a, id), 0);
	ASSERT_EQ(atomik_table_create(a, 16, 0, &id2), 0);
	ASSERT_EQ(atomik_table_select(a, id2), 0);
	ASSERT_EQ(atomik_info(a, &ic), 0);
	ASSERT_NE(ic.instance, 0);
	ASSERT_NE(ic.instance, ia.instance);
	ASSERT_EQ(atomik_table_select(a, 0), 0);
	ASSERT_EQ(atomik_table_destroy(a, id2), 0);
	x_close(a);
	x_close(b);
}
