// SPDX-License-Identifier: GPL-2.0
/*
 * io_uring specifics: inline deltas in 128-byte SQEs, results in 32-byte
 * CQEs or through a pointer, what each ring cannot carry, several
 * transports at once, and rings or descriptors closed with work queued.
 */
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>

#include "util.h"

/* Send one raw URING_CMD on a ring made with ring_flags; returns cqe->res
 * and the CQE's extra word in *res2 (if the ring has one). */
static int raw_cmd(struct atomik *a, unsigned int ring_flags, uint32_t cmd_op,
		   const void *payload, size_t size, uint64_t *res2)
{
	struct io_uring ring;
	struct io_uring_params p = { .flags = ring_flags };
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int ret;

	ret = io_uring_queue_init_params(4, &ring, &p);
	if (ret)
		return ret;
	sqe = io_uring_get_sqe(&ring);
	memset(sqe, 0, ring_flags & IORING_SETUP_SQE128 ? 128 : 64);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = atomik_fd(a);
	sqe->cmd_op = cmd_op;
	memcpy(sqe->cmd, payload, size);
	sqe->user_data = 42;
	ASSERT_EQ(io_uring_submit(&ring), 1);
	ASSERT_EQ(io_uring_wait_cqe(&ring, &cqe), 0);
	ASSERT_EQ(cqe->user_data, 42);
	ret = cqe->res;
	if (res2)
		*res2 = ring_flags & IORING_SETUP_CQE32 ? cqe->big_cqe[0] : 0;
	io_uring_cqe_seen(&ring, cqe);
	io_uring_queue_exit(&ring);
	return ret;
}

#define BIG	(IORING_SETUP_SQE128 | IORING_SETUP_CQE32)

TEST(inline_deltas_in_sqe128)
{
	struct atomik *a = open_dev(O_RDWR);
	struct atomik_queue *q;
	struct atomik_delta d[ATOMIK_INLINE_DELTAS];
	struct atomik_completion c;
	uint64_t before = sysfs_u64("deltas");
	int i;

	ASSERT_EQ(atomik_queue_init(&q, a, 4, 0), 0);
	for (i = 0; i < ATOMIK_INLINE_DELTAS; i++) {
		ASSERT_EQ(atomik_load(a, 10 + i, 0x100 * i), 0);
		d[i] = (struct atomik_delta){ .addr = 10 + i, .delta = 1ULL << (i * 8) };
	}
	ASSERT_EQ(atomik_queue_accum_inline(q, d, ATOMIK_INLINE_DELTAS, 7), 0);
	ASSERT_EQ(atomik_queue_accum_inline(q, d, 0, 8), 0);
	ASSERT_EQ(atomik_queue_accum_inline(q, d, ATOMIK_INLINE_DELTAS + 1, 9), -EINVAL);
	ASSERT_EQ(atomik_queue_submit(q), 2);
	ASSERT_EQ(atomik_queue_reap(q, &c, 1, 1), 1);
	ASSERT_EQ(c.cookie, 7);
	ASSERT_EQ(c.result, 0);
	ASSERT_EQ(atomik_queue_reap(q, &c, 1, 1), 1);
	ASSERT_EQ(c.cookie, 8);
	ASSERT_EQ(c.result, 0);
	for (i = 0; i < ATOMIK_INLINE_DELTAS; i++)
		ASSERT_EQ(state(a, 10 + i), 0x100ULL * i ^ (1ULL << (i * 8)));
	ASSERT_EQ(sysfs_u64("deltas"), before + ATOMIK_INLINE_DELTAS);
	atomik_queue_exit(q);
	atomik_close(a);
}

TEST(read_result_in_cqe32_or_through_pointer)
{
	struct atomik *a = open_dev(O_RDWR);
	struct atomik_read_to r = { .addr = 3 };
	uint64_t v = 0, res2 = 0;

	ASSERT_EQ(atomik_load(a, 3, 0x0123456789ABCDEFULL), 0);
	/* Big CQE, no pointer: the state comes back in the CQE. */
	ASSERT_EQ(raw_cmd(a, BIG, ATOMIK_IOC_READ_TO, &r, sizeof(r), &res2), 0);
	ASSERT_EQ(res2, 0x0123456789ABCDEFULL);
	/* Small CQE: through the pointer. */
	r.result_ptr = (uintptr_t)&v;
	ASSERT_EQ(raw_cmd(a, 0, ATOMIK_IOC_READ_TO, &r, sizeof(r), NULL), 0);
	ASSERT_EQ(v, 0x0123456789ABCDEFULL);
	/* Small CQE and no pointer: nowhere to put it. */
	r.result_ptr = 0;
	ASSERT_EQ(raw_cmd(a, 0, ATOMIK_IOC_READ_TO, &r, sizeof(r), NULL), -EINVAL);
	/* The same through the library, both queue kinds. */
	struct atomik_queue *q;
	struct atomik_completion c;
	unsigned int kinds[] = { 0, ATOMIK_QUEUE_SMALL }, k;

	for (k = 0; k < 2; k++) {
		v = 0;
		ASSERT_EQ(atomik_queue_init(&q, a, 4, kinds[k]), 0);
		ASSERT_EQ(atomik_queue_read(q, 3, 0, &v, 1), 0);
		ASSERT_EQ(atomik_queue_submit(q), 1);
		ASSERT_EQ(atomik_queue_reap(q, &c, 1, 1), 1);
		ASSERT_EQ(c.result, 0);
		ASSERT_EQ(v, 0x0123456789ABCDEFULL);
		atomik_queue_exit(q);
	}
	atomik_close(a);
}

TEST(what_each_ring_cannot_carry)
{
	struct atomik *a = open_dev(O_RDWR);
	struct atomik_inline_deltas inl = { .count = 1, .addr = { 1 }, .delta = { 1 } };
	struct atomik_swap s = { .addr = 1, .new_ref = 5 };
	struct atomik_xfer x = { .addr = 1, .value = 1 };
	struct atomik_queue *q;
	uint64_t old, res2;

	ASSERT_EQ(atomik_load(a, 1, 0x77), 0);
	/* An 80-byte payload on a 64-byte SQE ring. */
	ASSERT_EQ(raw_cmd(a, 0, ATOMIK_IOC_ACCUM_INLINE, &inl, 16, NULL), -EMSGSIZE);
	ASSERT_EQ(raw_cmd(a, 0, ATOMIK_IOC_SWAP, &s, 16, NULL), -EMSGSIZE);
	/* A swap whose old state has nowhere to go. */
	ASSERT_EQ(raw_cmd(a, IORING_SETUP_SQE128, ATOMIK_IOC_SWAP, &s, sizeof(s), NULL),
		  -EINVAL);
	ASSERT_EQ(state(a, 1), 0x77);
	/* The library refuses them up front on a small queue. */
	ASSERT_EQ(atomik_queue_init(&q, a, 4, ATOMIK_QUEUE_SMALL), 0);
	ASSERT_EQ(atomik_queue_swap(q, 1, 5, 0, &old, 1), -EINVAL);
	ASSERT_EQ(atomik_queue_accum_inline(q, NULL, 0, 1), -EINVAL);
	atomik_queue_exit(q);
	/* IOPOLL rings: this device has nothing to poll. */
	ASSERT_EQ(raw_cmd(a, IORING_SETUP_IOPOLL, ATOMIK_IOC_ACCUM, &x, sizeof(x), NULL),
		  -EOPNOTSUPP);
	ASSERT_EQ(state(a, 1), 0x77);
	/* And a swap on a full-size ring works. */
	ASSERT_EQ(raw_cmd(a, BIG, ATOMIK_IOC_SWAP, &s, sizeof(s), &res2), 0);
	ASSERT_EQ(res2, 0x77);
	ASSERT_EQ(state(a, 1), 5);
	atomik_close(a);
}

TEST(bad_commands_apply_nothing)
{
	struct atomik *a = open_dev(O_RDWR);
	struct atomik_inline_deltas inl;
	struct atomik_xfer x = { .addr = 2, .value = 1 };
	struct atomik_table_req t = { .nr_addrs = 4 };
	uint64_t before_tables = sysfs_u64("nr_tables");
	unsigned int rings[] = { 0, BIG }, i;

	ASSERT_EQ(atomik_load(a, 2, 0x22), 0);
	for (i = 0; i < 2; i++) {
		/* Unknown command numbers, and ioctls not offered here. */
		ASSERT_EQ(raw_cmd(a, rings[i], _IO(ATOMIK_IOC_MAGIC, 0x3F), &x, 16, NULL),
			  -ENOTTY);
		ASSERT_EQ(raw_cmd(a, rings[i], 0, &x, 16, NULL), -ENOTTY);
		ASSERT_EQ(raw_cmd(a, rings[i], ATOMIK_IOC_READ, &x, 16, NULL), -ENOTTY);
		ASSERT_EQ(raw_cmd(a, rings[i], ATOMIK_IOC_TABLE_CREATE, &t, 16, NULL),
			  -ENOTTY);
		/* Unknown flags, addresses out of range. */
		x.flags = 1;
		ASSERT_EQ(raw_cmd(a, rings[i], ATOMIK_IOC_ACCUM, &x, 16, NULL), -EINVAL);
		x.flags = 0;
		x.addr = UINT32_MAX;
		ASSERT_EQ(raw_cmd(a, rings[i], ATOMIK_IOC_LOAD, &x, 16, NULL), -EINVAL);
		x.addr = 2;
	}
	/* Inline deltas: count too large, a used unused entry, bad flags, a
	 * bad address among good ones. */
	memset(&inl, 0, sizeof(inl));
	inl.count = ATOMIK_INLINE_DELTAS + 1;
	ASSERT_EQ(raw_cmd(a, BIG, ATOMIK_IOC_ACCUM_INLINE, &inl, sizeof(inl), NULL), -EINVAL);
	inl.count = 2;
	inl.addr[0] = inl.addr[1] = 2;
	inl.delta[0] = inl.delta[1] = 0xF;
	inl.delta[4] = 1;
	ASSERT_EQ(raw_cmd(a, BIG, ATOMIK_IOC_ACCUM_INLINE, &inl, sizeof(inl), NULL), -EINVAL);
	inl.delta[4] = 0;
	inl.flags = 1;
	ASSERT_EQ(raw_cmd(a, BIG, ATOMIK_IOC_ACCUM_INLINE, &inl, sizeof(inl), NULL), -EINVAL);
	inl.flags = 0;
	inl.count = 3;
	inl.addr[2] = UINT32_MAX;
	ASSERT_EQ(raw_cmd(a, BIG, ATOMIK_IOC_ACCUM_INLINE, &inl, sizeof(inl), NULL), -EINVAL);
	ASSERT_EQ(state(a, 2), 0x22);
	ASSERT_EQ(sysfs_u64("nr_tables"), before_tables);
	/* The well-formed one goes through (two deltas cancel). */
	inl.count = 3;
	inl.addr[2] = 2;
	inl.delta[2] = 0x100;
	ASSERT_EQ(raw_cmd(a, BIG, ATOMIK_IOC_ACCUM_INLINE, &inl, sizeof(inl), NULL), 0);
	ASSERT_EQ(state(a, 2), 0x122);
	atomik_close(a);
}

TEST(read_only_descriptor_over_uring)
{
	struct atomik *w = open_dev(O_RDWR), *r = open_dev(O_RDONLY);
	struct atomik_xfer x = { .addr = 4, .value = 1 };
	struct atomik_read_to rt = { .addr = 4 };
	uint64_t res2;

	ASSERT_EQ(atomik_load(w, 4, 0x44), 0);
	ASSERT_EQ(raw_cmd(r, BIG, ATOMIK_IOC_ACCUM, &x, sizeof(x), NULL), -EBADF);
	ASSERT_EQ(raw_cmd(r, BIG, ATOMIK_IOC_LOAD, &x, sizeof(x), NULL), -EBADF);
	ASSERT_EQ(raw_cmd(r, BIG, ATOMIK_IOC_READ_TO, &rt, sizeof(rt), &res2), 0);
	ASSERT_EQ(res2, 0x44);
	atomik_close(w);
	atomik_close(r);
}

/* Several threads, each on its own path into the device, on one table. */
struct mixed {
	pthread_t tid;
	struct atomik *a;
	int mode;		/* 0 ioctl, 1 uring queue, 2 uring inline */
	uint64_t seed;
	uint64_t want[64];
	int err;
};

static void *mixed_run(void *arg)
{
	struct mixed *m = arg;
	struct atomik_queue *q = NULL;
	struct atomik_completion c[8];
	struct atomik_delta d[ATOMIK_INLINE_DELTAS];
	int round, i, n, got;

	if (m->mode && atomik_queue_init(&q, m->a, 16, 0))
		return (void *)(m->err = -1, NULL);
	for (round = 0; round < 2000 && !m->err; round++) {
		n = 1 + rnd(&m->seed) % ATOMIK_INLINE_DELTAS;
		for (i = 0; i < n; i++) {
			d[i] = (struct atomik_delta){ .addr = rnd(&m->seed) % 64,
						      .delta = rnd(&m->seed) };
			m->want[d[i].addr] ^= d[i].delta;
		}
		switch (m->mode) {
		case 0:
			m->err = atomik_accum_batch(m->a, d, n);
			break;
		case 1:
			for (i = 0; i < n; i++)
				m->err |= atomik_queue_accum(q, d[i].addr, d[i].delta, i);
			break;
		case 2:
			m->err = atomik_queue_accum_inline(q, d, n, round);
			break;
		}
		if (!q)
			continue;
		m->err |= atomik_queue_submit(q) < 0;
		while (atomik_queue_pending(q)) {
			got = atomik_queue_reap(q, c, 8, 1);
			if (got < 0)
				m->err = got;
			for (i = 0; i < got; i++)
				m->err |= c[i].result;
			if (m->err)
				break;
		}
	}
	atomik_queue_exit(q);
	return NULL;
}

TEST(transports_mixed_across_threads)
{
	struct atomik *a = open_dev(O_RDWR);
	uint64_t seed = test_seed(), want[64], got[64];
	struct mixed m[6];
	uint32_t t;
	int i, j;

	ASSERT_EQ(atomik_table_create(a, 64, ATOMIK_TABLE_SELECT, &t), 0);
	for (j = 0; j < 64; j++) {
		want[j] = rnd(&seed);
		ASSERT_EQ(atomik_load(a, j, want[j]), 0);
	}
	for (i = 0; i < 6; i++) {
		memset(&m[i], 0, sizeof(m[i]));
		m[i].a = a;
		m[i].mode = i % 3;
		m[i].seed = rnd(&seed) | 1;
		ASSERT_EQ(pthread_create(&m[i].tid, NULL, mixed_run, &m[i]), 0);
	}
	for (i = 0; i < 6; i++) {
		pthread_join(m[i].tid, NULL);
		ASSERT_EQ(m[i].err, 0);
		for (j = 0; j < 64; j++)
			want[j] ^= m[i].want[j];
	}
	ASSERT_EQ(atomik_read_range(a, 0, 64, got), 0);
	for (j = 0; j < 64; j++)
		ASSERT_EQ(got[j], want[j]);
	ASSERT_EQ(atomik_table_destroy(a, t), 0);
	atomik_close(a);
}

static long module_refcnt(void)
{
	char buf[32];

	ASSERT_EQ(read_text("/sys/module/atomik/refcnt", buf, sizeof(buf)), 0);
	return atol(buf);
}

TEST(close_with_operations_queued)
{
	long base = module_refcnt();
	struct atomik_completion c[8];
	struct atomik_queue *q;
	struct atomik *a;
	int i;

	/* Queued, never submitted: the device closes first, then the ring. */
	a = open_dev(O_RDWR);
	ASSERT_EQ(atomik_load(a, 6, 0), 0);
	ASSERT_EQ(atomik_queue_init(&q, a, 8, 0), 0);
	for (i = 0; i < 8; i++)
		ASSERT_EQ(atomik_queue_accum(q, 6, 1ULL << i, i), 0);
	ASSERT_EQ(atomik_queue_accum(q, 6, 1, 99), -EBUSY);	/* full */
	atomik_close(a);
	atomik_queue_exit(q);
	ASSERT_EQ(module_refcnt(), base);

	/* Submitted, not reaped: the ring holds the file until it goes. */
	a = open_dev(O_RDWR);
	ASSERT_EQ(state(a, 6), 0);
	ASSERT_EQ(atomik_queue_init(&q, a, 8, 0), 0);
	for (i = 0; i < 8; i++)
		ASSERT_EQ(atomik_queue_accum(q, 6, 1ULL << i, i), 0);
	ASSERT_EQ(atomik_queue_submit(q), 8);
	atomik_close(a);
	ASSERT_EQ(atomik_queue_reap(q, c, 8, 8), 8);
	for (i = 0; i < 8; i++) {
		ASSERT_EQ(c[i].result, 0);
		ASSERT_EQ(c[i].cookie, i);
	}
	atomik_queue_exit(q);

	/* Submitted, ring closed without reaping. */
	a = open_dev(O_RDWR);
	ASSERT_EQ(state(a, 6), 0xFF);
	ASSERT_EQ(atomik_queue_init(&q, a, 8, 0), 0);
	ASSERT_EQ(atomik_queue_accum(q, 6, 0xF00, 0), 0);
	ASSERT_EQ(atomik_queue_submit(q), 1);
	atomik_queue_exit(q);
	ASSERT_EQ(state(a, 6), 0xFFF);
	atomik_close(a);
	/* io_uring drops its file references asynchronously. */
	for (i = 0; i < 100 && module_refcnt() != base; i++)
		usleep(10000);
	ASSERT_EQ(module_refcnt(), base);
}

/*
 * io_uring issues a command inline, in the submitter's own io_uring_enter,
 * asking it not to block.  A READ_RANGE over a million addresses (8 MiB of
 * results) must not run there: it goes to io_uring's workers, so the
 * submitter is back before its completion exists.  One whose results fit
 * the spare buffer (64 KiB: 8192 addresses) runs inline and has completed
 * when the submit returns.  Before the fix both ran inline.
 */
static int range_on_ring(struct io_uring *ring, struct atomik *a, uint64_t *buf,
			 uint32_t count, unsigned int *ready)
{
	struct atomik_range r = { .ptr = (uintptr_t)buf, .first = 0, .count = count };
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int ret;

	ASSERT_TRUE(sqe != NULL);
	memset(sqe, 0, 128);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = atomik_fd(a);
	sqe->cmd_op = ATOMIK_IOC_READ_RANGE;
	memcpy(sqe->cmd, &r, sizeof(r));
	ASSERT_EQ(io_uring_submit(ring), 1);
	*ready = io_uring_cq_ready(ring);
	ASSERT_EQ(io_uring_wait_cqe(ring, &cqe), 0);
	ret = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return ret;
}

TEST(heavy_commands_leave_the_submitter)
{
	struct io_uring_params p = { .flags = IORING_SETUP_SQE128 };
	const uint32_t n = 1 << 20;
	struct io_uring ring;
	struct atomik *a = open_dev(O_RDWR);
	unsigned int ready;
	uint64_t *buf;
	uint32_t t, i;

	ASSERT_EQ(atomik_table_create(a, n, ATOMIK_TABLE_SELECT, &t), 0);
	for (i = 0; i < n; i += n / 16)
		ASSERT_EQ(atomik_load(a, i, 0xabc0000 + i), 0);
	ASSERT_TRUE((buf = calloc(n, sizeof(*buf))) != NULL);
	ASSERT_EQ(io_uring_queue_init_params(4, &ring, &p), 0);

	ASSERT_EQ(range_on_ring(&ring, a, buf, 8192, &ready), 0);
	ASSERT_EQ(ready, 1);	/* inline */
	ASSERT_EQ(buf[0], 0xabc0000);

	ASSERT_EQ(range_on_ring(&ring, a, buf, n, &ready), 0);
	ASSERT_EQ(ready, 0);	/* a worker's */
	for (i = 0; i < n; i++)
		ASSERT_EQ(buf[i], i % (n / 16) ? 0 : 0xabc0000 + i);

	io_uring_queue_exit(&ring);
	free(buf);
	ASSERT_EQ(atomik_table_destroy(a, t), 0);
	atomik_close(a);
}

/*
 * atomik_queue_reap() never waits for completions that cannot come: with
 * nothing submitted (or only queued) it returns at once; before, it
 * blocked forever (here the alarm would end the test).
 */
TEST(reap_returns_when_nothing_is_in_flight)
{
	struct atomik *a = open_dev(O_RDWR);
	struct atomik_completion c[2];
	struct atomik_queue *q;

	alarm(20);
	ASSERT_EQ(atomik_queue_init(&q, a, 4, 0), 0);
	ASSERT_EQ(atomik_queue_reap(q, c, 2, 1), 0);
	ASSERT_EQ(atomik_queue_accum(q, 11, 1, 7), 0);
	ASSERT_EQ(atomik_queue_reap(q, c, 2, 1), 0);	/* queued, not sent */
	ASSERT_EQ(atomik_queue_submit(q), 1);
	ASSERT_EQ(atomik_queue_reap(q, c, 2, 2), 1);	/* one was all there was */
	ASSERT_EQ(c[0].cookie, 7);
	ASSERT_EQ(c[0].result, 0);
	ASSERT_EQ(atomik_queue_reap(q, c, 2, 1), 0);
	atomik_queue_exit(q);
	atomik_close(a);
}

/*
 * atomik_queue_reap_timeout() returns what it has when the time is up, and
 * at once with nothing in flight; atomik_queue_event_fd() becomes readable
 * when a completion arrives.
 */
TEST(reap_with_timeout_and_event_fd)
{
	struct atomik *a = open_dev(O_RDWR);
	struct atomik_completion c[4];
	struct atomik_queue *q;
	struct pollfd p;
	uint64_t count;
	int fd;

	alarm(20);
	ASSERT_EQ(atomik_queue_init(&q, a, 4, 0), 0);
	ASSERT_EQ(atomik_queue_reap_timeout(q, c, 4, 1, -1), -EINVAL);
	ASSERT_EQ(atomik_queue_reap_timeout(q, c, 4, 1, 60000), 0);	/* at once */
	fd = atomik_queue_event_fd(q);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(atomik_queue_event_fd(q), fd);
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	ASSERT_EQ(poll(&p, 1, 0), 0);		/* nothing yet */
	ASSERT_EQ(atomik_queue_accum(q, 12, 1, 1), 0);
	ASSERT_EQ(atomik_queue_accum(q, 12, 2, 2), 0);
	ASSERT_EQ(atomik_queue_submit(q), 2);
	ASSERT_EQ(poll(&p, 1, 5000), 1);
	ASSERT_TRUE(p.revents & POLLIN);
	ASSERT_EQ(read(fd, &count, sizeof(count)), sizeof(count));
	ASSERT_GE(count, 1);
	/* Both are there well within the second. */
	ASSERT_EQ(atomik_queue_reap_timeout(q, c, 4, 2, 1000), 2);
	ASSERT_EQ(c[0].cookie + c[1].cookie, 3);
	ASSERT_EQ(c[0].result | c[1].result, 0);
	ASSERT_EQ(atomik_queue_pending(q), 0);
	atomik_queue_exit(q);
	atomik_close(a);
}
