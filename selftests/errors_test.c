// SPDX-License-Identifier: GPL-2.0
/*
 * Bad input: each case gets its documented error and changes nothing.
 */
#include <pthread.h>
#include <sys/mman.h>

#include "util.h"

TRANSPORT_VARIANTS

#define NSTATE	64	/* addresses whose state each case checks */

static int fd_of(struct atomik *a)
{
	return atomik_fd(a);
}

/* ioctl() returning -errno. */
static int xioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

/* Load known values, and later check that nothing moved. */
static void prime(struct atomik *a, uint64_t *saved)
{
	uint32_t i;

	for (i = 0; i < NSTATE; i++)
		ASSERT_EQ(x_load(a, i, 0x1000 + i), 0);
	ASSERT_EQ(x_read_range(a, 0, NSTATE, saved), 0);
}

static void unchanged(struct atomik *a, const uint64_t *saved)
{
	uint64_t now[NSTATE], acc;
	uint32_t i;

	ASSERT_EQ(x_read_range(a, 0, NSTATE, now), 0);
	for (i = 0; i < NSTATE; i++) {
		ASSERT_EQ(now[i], saved[i]);
		ASSERT_EQ(x_read_accum(a, i, &acc), 0);
		ASSERT_EQ(acc, 0);
	}
}

TEST(addr_out_of_range_einval)
{
	struct atomik *a = open_dev(O_RDWR);
	uint32_t n = nr_addrs(a);
	uint64_t saved[NSTATE], v;

	prime(a, saved);
	ASSERT_EQ(x_accum(a, n, 1), -EINVAL);
	ASSERT_EQ(x_accum(a, UINT32_MAX, 1), -EINVAL);
	ASSERT_EQ(x_load(a, n, 1), -EINVAL);
	ASSERT_EQ(x_read(a, n, &v), -EINVAL);
	ASSERT_EQ(x_swap(a, n, 1, &v), -EINVAL);
	ASSERT_EQ(x_read_range(a, n, 1, &v), -EINVAL);
	ASSERT_EQ(x_read_range(a, 0, n + 1, NULL), -EINVAL);
	/* first + count wraps around 2^32. */
	ASSERT_EQ(x_read_range(a, UINT32_MAX, 2, saved), -EINVAL);
	unchanged(a, saved);
	x_close(a);
}

TEST(unknown_flags_and_reserved_einval)
{
	struct atomik *a = open_dev(O_RDWR);
	int fd = fd_of(a);
	uint64_t saved[NSTATE], out[4];
	struct atomik_xfer x = { .addr = 1, .value = 0xFF };
	struct atomik_swap s = { .addr = 1, .new_ref = 7 };
	struct atomik_range r = { .ptr = (uintptr_t)out, .count = 4 };
	struct atomik_table_req t = { .nr_addrs = 8 };
	uint32_t bit;

	prime(a, saved);
	for (bit = 0; bit < 32; bit++) {
		x.flags = 1U << bit;
		ASSERT_EQ(xioctl(fd, ATOMIK_IOC_ACCUM, &x), -EINVAL);
		ASSERT_EQ(xioctl(fd, ATOMIK_IOC_LOAD, &x), -EINVAL);
		if (x.flags != ATOMIK_READ_ACCUM)
			ASSERT_EQ(xioctl(fd, ATOMIK_IOC_READ, &x), -EINVAL);
		s.flags = 1U << bit;
		if (s.flags != ATOMIK_SWAP_KEEP)
			ASSERT_EQ(xioctl(fd, ATOMIK_IOC_SWAP, &s), -EINVAL);
		r.flags = 1U << bit;
		if (r.flags != ATOMIK_READ_ACCUM)
			ASSERT_EQ(xioctl(fd, ATOMIK_IOC_READ_RANGE, &r), -EINVAL);
		t.flags = 1U << bit;
		if (!(t.flags & (ATOMIK_TABLE_SELECT | ATOMIK_TABLE_REPLICATED |
				 ATOMIK_TABLE_DESTROY_ON_CLOSE)))
			ASSERT_EQ(xioctl(fd, ATOMIK_IOC_TABLE_CREATE, &t), -EINVAL);
	}
	/* KEEP takes the current state: a new reference with it is an error. */
	s.flags = ATOMIK_SWAP_KEEP;
	ASSERT_EQ(xioctl(fd, ATOMIK_IOC_SWAP, &s), -EINVAL);
	r.flags = 0;
	r.reserved = 1;
	ASSERT_EQ(xioctl(fd, ATOMIK_IOC_READ_RANGE, &r), -EINVAL);
	t.flags = 0;
	t.reserved = 1;
	ASSERT_EQ(xioctl(fd, ATOMIK_IOC_TABLE_CREATE, &t), -EINVAL);
	unchanged(a, saved);
	ASSERT_EQ(sysfs_u64("nr_tables"), 1);
	x_close(a);
}

/*
 * A failing batch applies nothing, whatever another thread does to its
 * array meanwhile: the deltas are rewritten while batches whose last
 * element is bad go in, and every state stays as it was.  (A batch path
 * that applied as it read and undid a failure by reading user memory
 * again fails this test: that was tried, with a scratch module.)
 */
static volatile int rewriting;

static void *rewrite_deltas(void *arg)
{
	struct atomik_delta *d = arg;
	uint64_t k = 0;

	while (rewriting)
		d[k++ % 4096].delta ^= 0x5555555555555555ULL;
	return NULL;
}

TEST(batch_rewritten_while_it_fails_applies_nothing)
{
	struct atomik *a = open_dev(O_RDWR);
	const uint32_t count = 4097;	/* past the inline path and a 4096-delta stretch */
	uint64_t saved[NSTATE];
	struct atomik_delta *d = calloc(count, sizeof(*d));
	pthread_t th;
	uint32_t i;
	int round;

	ASSERT_TRUE(d != NULL);
	prime(a, saved);
	for (i = 0; i < count; i++)
		d[i] = (struct atomik_delta){ .addr = i % NSTATE, .delta = 0xC0DE0000 + i };
	d[count - 1].addr = nr_addrs(a);
	rewriting = 1;
	ASSERT_EQ(pthread_create(&th, NULL, rewrite_deltas, d), 0);
	for (round = 0; round < 200; round++)
		ASSERT_EQ(x_accum_batch(a, d, count), -EINVAL);
	rewriting = 0;
	ASSERT_EQ(pthread_join(th, NULL), 0);
	unchanged(a, saved);
	free(d);
	x_close(a);
}

TEST(bad_batch_element_applies_nothing)
{
	struct atomik *a = open_dev(O_RDWR);
	uint32_t n = nr_addrs(a), i;
	uint64_t saved[NSTATE];
	const uint32_t count = 5000;
	struct atomik_delta *d = calloc(count, sizeof(*d));

	ASSERT_TRUE(d != NULL);
	prime(a, saved);
	for (i = 0; i < count; i++) {
		d[i].addr = i % NSTATE;
		d[i].delta = 0xDEAD0000 + i;
	}
	/* The bad element is last, so that a partial apply would show. */
	d[count - 1].addr = n;
	ASSERT_EQ(x_accum_batch(a, d, count), -EINVAL);
	unchanged(a, saved);
	d[count - 1].addr = 0;
	d[count - 1].reserved = 1;
	ASSERT_EQ(x_accum_batch(a, d, count), -EINVAL);
	unchanged(a, saved);
	d[count - 1].reserved = 0;

	struct atomik_batch b = { .ptr = (uintptr_t)d, .count = count, .flags = 1 };

	ASSERT_EQ(xioctl(fd_of(a), ATOMIK_IOC_ACCUM_BATCH, &b), -EINVAL);
	unchanged(a, saved);
	free(d);
	x_close(a);
}

TEST(bad_op_batch_element_applies_nothing)
{
	struct atomik *a = open_dev(O_RDWR);
	uint64_t saved[NSTATE];
	struct atomik_op ops[4];
	int i;

	prime(a, saved);
	struct atomik_op bad[] = {
		{ .opcode = 0, .addr = 1 },
		{ .opcode = 5, .addr = 1 },
		{ .opcode = ATOMIK_OP_ACCUM, .addr = nr_addrs(a) },
		{ .opcode = ATOMIK_OP_ACCUM, .addr = 1, .flags = 1 },
		{ .opcode = ATOMIK_OP_LOAD, .addr = 1, .reserved = 1 },
		{ .opcode = ATOMIK_OP_READ, .addr = 1, .flags = 2 },
		{ .opcode = ATOMIK_OP_SWAP, .addr = 1, .flags = 2 },
		{ .opcode = ATOMIK_OP_SWAP, .addr = 1, .flags = ATOMIK_SWAP_KEEP,
		  .value = 1 },
	};
	for (i = 0; i < (int)(sizeof(bad) / sizeof(bad[0])); i++) {
		memset(ops, 0, sizeof(ops));
		ops[0] = (struct atomik_op){ .opcode = ATOMIK_OP_LOAD, .addr = 1, .value = 9 };
		ops[1] = (struct atomik_op){ .opcode = ATOMIK_OP_ACCUM, .addr = 2, .value = 9 };
		ops[2] = (struct atomik_op){ .opcode = ATOMIK_OP_SWAP, .addr = 3, .value = 9 };
		ops[3] = bad[i];
		ASSERT_EQ(x_op_batch(a, ops, 4), -EINVAL);
		unchanged(a, saved);
	}
	x_close(a);
}

TEST(too_large_batch_e2big)
{
	struct atomik *a = open_dev(O_RDWR);
	uint64_t saved[NSTATE];
	struct atomik_batch b = { .ptr = 0, .count = ATOMIK_MAX_BATCH + 1 };

	prime(a, saved);
	/* Refused before the (absent) buffer is even looked at. */
	ASSERT_EQ(xioctl(fd_of(a), ATOMIK_IOC_ACCUM_BATCH, &b), -E2BIG);
	ASSERT_EQ(xioctl(fd_of(a), ATOMIK_IOC_OP_BATCH, &b), -E2BIG);
	b.count = UINT32_MAX;
	ASSERT_EQ(xioctl(fd_of(a), ATOMIK_IOC_ACCUM_BATCH, &b), -E2BIG);
	unchanged(a, saved);
	x_close(a);
}

TEST(bad_pointers_efault)
{
	struct atomik *a = open_dev(O_RDWR);
	int fd = fd_of(a);
	long page = sysconf(_SC_PAGESIZE);
	uint64_t saved[NSTATE];
	struct atomik_delta *d;
	struct atomik_op *ops;
	char *map;
	uint32_t i, per_page = page / sizeof(*d);

	prime(a, saved);
	/* The argument itself. */
	ASSERT_EQ(xioctl(fd, ATOMIK_IOC_ACCUM, NULL), -EFAULT);
	ASSERT_EQ(xioctl(fd, ATOMIK_IOC_READ, (void *)1), -EFAULT);
	ASSERT_EQ(xioctl(fd, ATOMIK_IOC_SWAP, (void *)-4096L), -EFAULT);
	ASSERT_EQ(xioctl(fd, ATOMIK_IOC_INFO, NULL), -EFAULT);
	ASSERT_EQ(x_accum_batch(a, NULL, 1), -EFAULT);
	ASSERT_EQ(x_accum_batch(a, (void *)0xffffffffff600000UL, 1), -EFAULT);

	/* A batch whose second page is not mapped: valid entries first. */
	map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(map != MAP_FAILED);
	ASSERT_OK(munmap(map + page, page));
	d = (struct atomik_delta *)map;
	for (i = 0; i < per_page; i++) {
		d[i].addr = i % NSTATE;
		d[i].delta = 0xF00D;
	}
	ASSERT_EQ(x_accum_batch(a, d, per_page + 1), -EFAULT);
	unchanged(a, saved);
	/* An op batch whose results cannot be written back. */
	ops = (struct atomik_op *)map;
	memset(ops, 0, page);
	ops[0] = (struct atomik_op){ .opcode = ATOMIK_OP_ACCUM, .addr = 1, .value = 3 };
	ops[1] = (struct atomik_op){ .opcode = ATOMIK_OP_READ, .addr = 1 };
	ASSERT_OK(mprotect(map, page, PROT_READ));
	ASSERT_EQ(x_op_batch(a, ops, 2), -EFAULT);
	unchanged(a, saved);
	/* A swap whose old state cannot be returned is not done. */
	struct atomik_swap *s = (struct atomik_swap *)map;

	ASSERT_OK(mprotect(map, page, PROT_READ | PROT_WRITE));
	*s = (struct atomik_swap){ .addr = 1, .new_ref = 0x77 };
	ASSERT_OK(mprotect(map, page, PROT_READ));
	ASSERT_EQ(xioctl(fd, ATOMIK_IOC_SWAP, s), -EFAULT);
	unchanged(a, saved);
	/* A range whose destination is read-only. */
	ASSERT_EQ(x_read_range(a, 0, 4, (uint64_t *)map), -EFAULT);
	/* Straddling into the unmapped page. */
	ASSERT_OK(mprotect(map, page, PROT_READ | PROT_WRITE));
	ASSERT_EQ(x_read_range(a, 0, page / 8 + 1, (uint64_t *)map), -EFAULT);
	munmap(map, page);
	unchanged(a, saved);
	x_close(a);
}

TEST(read_only_descriptor_ebadf)
{
	struct atomik *w = open_dev(O_RDWR), *r = open_dev(O_RDONLY);
	uint64_t saved[NSTATE], v;
	struct atomik_delta d = { .addr = 1, .delta = 1 };
	struct atomik_op op = { .opcode = ATOMIK_OP_ACCUM, .addr = 1, .value = 1 };
	struct atomik_op rd = { .opcode = ATOMIK_OP_READ, .addr = 1 };
	uint32_t t;

	prime(w, saved);
	ASSERT_EQ(x_load(r, 1, 5), -EBADF);
	ASSERT_EQ(x_accum(r, 1, 5), -EBADF);
	ASSERT_EQ(x_swap(r, 1, 5, &v), -EBADF);
	ASSERT_EQ(x_accum_batch(r, &d, 1), -EBADF);
	ASSERT_EQ(x_op_batch(r, &op, 1), -EBADF);
	ASSERT_EQ(atomik_table_create(r, 4, 0, &t), -EBADF);
	ASSERT_EQ(atomik_table_destroy(r, 1), -EBADF);
	unchanged(w, saved);
	/* Reads still work. */
	ASSERT_EQ(x_read(r, 1, &v), 0);
	ASSERT_EQ(v, saved[1]);
	ASSERT_EQ(x_op_batch(r, &rd, 1), 0);
	ASSERT_EQ(rd.result, saved[1]);
	uint64_t two[2];

	ASSERT_EQ(x_read_range(r, 0, 2, two), 0);
	ASSERT_EQ(two[1], saved[1]);
	ASSERT_EQ(atomik_table_select(r, 0), 0);
	x_close(w);
	x_close(r);
}

TEST(unknown_ioctl_enotty)
{
	struct atomik *a = open_dev(O_RDWR);
	int fd = fd_of(a);
	uint64_t saved[NSTATE], buf[16] = { 0 };

	prime(a, saved);
	ASSERT_EQ(xioctl(fd, _IO(ATOMIK_IOC_MAGIC, 0x3F), buf), -ENOTTY);
	ASSERT_EQ(xioctl(fd, _IOW(ATOMIK_IOC_MAGIC, 0x20, uint64_t), buf), -ENOTTY);
	/* A known number with another size is another command. */
	ASSERT_EQ(xioctl(fd, _IOW(ATOMIK_IOC_MAGIC, 0x02, uint64_t), buf), -ENOTTY);
	ASSERT_EQ(xioctl(fd, _IOWR(ATOMIK_IOC_MAGIC, 0x02, struct atomik_xfer), buf),
		  -ENOTTY);
	ASSERT_EQ(xioctl(fd, _IOW('T', 0x02, struct atomik_xfer), buf), -ENOTTY);
	unchanged(a, saved);
	x_close(a);
}

TEST(table_errors)
{
	struct atomik *a = open_dev(O_RDWR);
	uint32_t t;
	struct atomik_table_req req = { .table_id = 1, .nr_addrs = 5 };

	ASSERT_EQ(atomik_table_create(a, 0, 0, &t), -EINVAL);
	ASSERT_EQ(atomik_table_create(a, ATOMIK_MAX_ADDRS + 1, 0, &t), -EINVAL);
	ASSERT_EQ(atomik_table_destroy(a, 0), -EBUSY);
	ASSERT_EQ(atomik_table_destroy(a, 999), -ENOENT);
	ASSERT_EQ(atomik_table_destroy(a, UINT32_MAX), -ENOENT);
	ASSERT_EQ(atomik_table_select(a, 999), -ENOENT);
	/* nr_addrs is an output of SELECT and unused by DESTROY. */
	ASSERT_EQ(xioctl(fd_of(a), ATOMIK_IOC_TABLE_SELECT, &req), -EINVAL);
	ASSERT_EQ(xioctl(fd_of(a), ATOMIK_IOC_TABLE_DESTROY, &req), -EINVAL);
	ASSERT_EQ(sysfs_u64("nr_tables"), 1);
	/* After all that, the descriptor still works on table 0. */
	ASSERT_EQ(x_load(a, 0, 1), 0);
	ASSERT_EQ(state(a, 0), 1);
	x_close(a);
}

TEST(errors_are_counted)
{
	struct atomik *a = open_dev(O_RDWR);
	uint64_t before = sysfs_u64("errors"), v;

	ASSERT_EQ(x_accum(a, UINT32_MAX, 1), -EINVAL);
	ASSERT_EQ(x_read(a, UINT32_MAX, &v), -EINVAL);
	ASSERT_EQ(xioctl(fd_of(a), _IO(ATOMIK_IOC_MAGIC, 0x3F), NULL), -ENOTTY);
	ASSERT_EQ(sysfs_u64("errors"), before + 3);
	x_close(a);
}

TEST(table_ids_run_out_enospc)
{
	struct atomik *a = open_dev(O_RDWR);
	uint64_t mem = memory_settled();
	static uint32_t ids[ATOMIK_MAX_TABLES];
	uint32_t n = 0, i, t;
	int ret;

	/* Ids 1 .. ATOMIK_MAX_TABLES - 1 exist to be taken, and no more. */
	while ((ret = atomik_table_create(a, 1, 0, &t)) == 0) {
		ASSERT_GT(ATOMIK_MAX_TABLES, n);
		ids[n++] = t;
	}
	ASSERT_EQ(ret, -ENOSPC);
	ASSERT_EQ(n, ATOMIK_MAX_TABLES - 1);
	ASSERT_EQ(sysfs_u64("nr_tables"), ATOMIK_MAX_TABLES);
	for (i = 0; i < n; i++)
		ASSERT_EQ(atomik_table_destroy(a, ids[i]), 0);
	ASSERT_EQ(sysfs_u64("nr_tables"), 1);
	/* The failed creation gave its memory back too. */
	ASSERT_EQ(memory_settles_at(mem), mem);
	x_close(a);
}
