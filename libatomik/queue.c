// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * libatomik's asynchronous queue: IORING_OP_URING_CMD on /dev/atomik.
 *
 * Debian 12's liburing (2.3) has no helper for URING_CMD, so SQEs are filled
 * here, cleared whole first (64 or 128 bytes).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "atomik.h"

/* An operation in flight: what its completion needs when it is reaped
 * (the CQE's user_data is the ticket's index).
 */
struct atomik_ticket {
	uint64_t cookie;
	uint64_t *result;	/* gets the CQE's extra word, if any */
	int next_free;
};

struct atomik_queue {
	struct io_uring ring;
	int fd;
	unsigned int flags;
	unsigned int pending;
	unsigned int inflight;	/* submitted, not yet reaped */
	int efd;		/* atomik_queue_event_fd()'s, or -1 */
	int free;		/* first free ticket, -1 if none */
	unsigned int nr_tickets;
	struct atomik_ticket *tickets;
};

int atomik_queue_init(struct atomik_queue **qp, struct atomik *a,
		      unsigned int entries, unsigned int flags)
{
	struct io_uring_params p;
	struct atomik_queue *q;
	unsigned int i;
	int ret;

	int saved = errno;

	if (!qp || !a || entries == 0 || flags & ~ATOMIK_QUEUE_SMALL)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q) {
		errno = saved;
		return -ENOMEM;
	}
	memset(&p, 0, sizeof(p));
	if (!(flags & ATOMIK_QUEUE_SMALL))
		p.flags = IORING_SETUP_SQE128 | IORING_SETUP_CQE32;
	ret = io_uring_queue_init_params(entries, &q->ring, &p);
	if (ret < 0) {
		free(q);
		return ret;
	}
	/* One ticket per SQ entry: completions then never outnumber the CQ. */
	q->nr_tickets = p.sq_entries;
	q->tickets = calloc(q->nr_tickets, sizeof(*q->tickets));
	if (!q->tickets) {
		io_uring_queue_exit(&q->ring);
		free(q);
		errno = saved;
		return -ENOMEM;
	}
	for (i = 0; i < q->nr_tickets; i++)
		q->tickets[i].next_free = i + 1 < q->nr_tickets ? (int)(i + 1) : -1;
	q->free = 0;
	q->fd = atomik_fd(a);
	q->flags = flags;
	q->efd = -1;
	*qp = q;
	return 0;
}

void atomik_queue_exit(struct atomik_queue *q)
{
	if (!q)
		return;
	io_uring_queue_exit(&q->ring);
	if (q->efd >= 0)
		close(q->efd);
	free(q->tickets);
	free(q);
}

int atomik_queue_event_fd(struct atomik_queue *q)
{
	int saved = errno, fd, ret;

	if (q->efd >= 0)
		return q->efd;
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		errno = saved;
		return ret;
	}
	ret = io_uring_register_eventfd(&q->ring, fd);
	if (ret < 0) {
		close(fd);
		errno = saved;
		return ret;
	}
	q->efd = fd;
	return fd;
}

unsigned int atomik_queue_pending(const struct atomik_queue *q)
{
	return q->pending;
}

/* A cleared SQE for cmd_op with the payload copied in. */
static int atomik_queue_cmd(struct atomik_queue *q, uint32_t cmd_op,
			    const void *payload, size_t size, uint64_t *result,
			    uint64_t cookie)
{
	size_t room = q->flags & ATOMIK_QUEUE_SMALL ? ATOMIK_URING_CMD_BYTES :
						   ATOMIK_URING_CMD128_BYTES;
	struct io_uring_sqe *sqe;
	int ticket = q->free;

	if (size > room)
		return -EINVAL;
	if (ticket < 0)
		return -EBUSY;
	sqe = io_uring_get_sqe(&q->ring);
	if (!sqe)
		return -EBUSY;
	memset(sqe, 0, q->flags & ATOMIK_QUEUE_SMALL ? 64 : 128);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = q->fd;
	sqe->cmd_op = cmd_op;
	memcpy(sqe->cmd, payload, size);
	sqe->user_data = (uint64_t)ticket;
	q->free = q->tickets[ticket].next_free;
	q->tickets[ticket].cookie = cookie;
	q->tickets[ticket].result = result;
	q->pending++;
	return 0;
}

int atomik_queue_load(struct atomik_queue *q, uint32_t addr, uint64_t value,
		      uint64_t cookie)
{
	struct atomik_xfer x = { .addr = addr, .value = value };

	return atomik_queue_cmd(q, ATOMIK_IOC_LOAD, &x, sizeof(x), NULL, cookie);
}

int atomik_queue_accum(struct atomik_queue *q, uint32_t addr, uint64_t delta,
		       uint64_t cookie)
{
	struct atomik_xfer x = { .addr = addr, .value = delta };

	return atomik_queue_cmd(q, ATOMIK_IOC_ACCUM, &x, sizeof(x), NULL, cookie);
}

int atomik_queue_accum_inline(struct atomik_queue *q,
			      const struct atomik_delta *deltas, size_t n,
			      uint64_t cookie)
{
	struct atomik_inline_deltas inl;
	size_t i;

	if (n > ATOMIK_INLINE_DELTAS)
		return -EINVAL;
	memset(&inl, 0, sizeof(inl));
	inl.count = n;
	for (i = 0; i < n; i++) {
		if (deltas[i].reserved)
			return -EINVAL;
		inl.addr[i] = deltas[i].addr;
		inl.delta[i] = deltas[i].delta;
	}
	return atomik_queue_cmd(q, ATOMIK_IOC_ACCUM_INLINE, &inl, sizeof(inl),
				NULL, cookie);
}

static int atomik_queue_batch(struct atomik_queue *q, uint32_t cmd_op,
			      const void *p, size_t n, uint64_t cookie)
{
	struct atomik_batch b = { .ptr = (uintptr_t)p, .count = (uint32_t)n };

	if (n > UINT32_MAX)
		return -E2BIG;
	return atomik_queue_cmd(q, cmd_op, &b, sizeof(b), NULL, cookie);
}

int atomik_queue_accum_batch(struct atomik_queue *q,
			     const struct atomik_delta *deltas, size_t n,
			     uint64_t cookie)
{
	return atomik_queue_batch(q, ATOMIK_IOC_ACCUM_BATCH, deltas, n, cookie);
}

int atomik_queue_op_batch(struct atomik_queue *q, struct atomik_op *ops,
			  size_t n, uint64_t cookie)
{
	return atomik_queue_batch(q, ATOMIK_IOC_OP_BATCH, ops, n, cookie);
}

int atomik_queue_read(struct atomik_queue *q, uint32_t addr, uint32_t flags,
		      uint64_t *state, uint64_t cookie)
{
	struct atomik_read_to r = { .addr = addr, .flags = flags };

	if (!state)
		return -EINVAL;
	/* A small CQE has no room for the state: the kernel writes it. */
	if (q->flags & ATOMIK_QUEUE_SMALL) {
		r.result_ptr = (uintptr_t)state;
		state = NULL;
	}
	return atomik_queue_cmd(q, ATOMIK_IOC_READ_TO, &r, sizeof(r), state,
				cookie);
}

int atomik_queue_swap(struct atomik_queue *q, uint32_t addr, uint64_t new_ref,
		      uint32_t flags, uint64_t *old_state, uint64_t cookie)
{
	struct atomik_swap s = { .addr = addr, .flags = flags, .new_ref = new_ref };

	if (!old_state)
		return -EINVAL;
	return atomik_queue_cmd(q, ATOMIK_IOC_SWAP, &s, sizeof(s), old_state,
				cookie);
}

int atomik_queue_read_range(struct atomik_queue *q, uint32_t first,
			    uint32_t count, uint32_t flags, uint64_t *states,
			    uint64_t cookie)
{
	struct atomik_range r = {
		.ptr = (uintptr_t)states, .first = first, .count = count,
		.flags = flags,
	};

	return atomik_queue_cmd(q, ATOMIK_IOC_READ_RANGE, &r, sizeof(r), NULL,
				cookie);
}

static int atomik_queue_remote(struct atomik_queue *q, unsigned long cmd,
			       uint32_t first, uint32_t count, const uint64_t *values,
			       uint64_t cookie)
{
	struct atomik_range r = {
		.ptr = (uintptr_t)values, .first = first, .count = count,
	};

	return atomik_queue_cmd(q, cmd, &r, sizeof(r), NULL, cookie);
}

int atomik_queue_remote_set(struct atomik_queue *q, uint32_t first,
			    uint32_t count, const uint64_t *values,
			    uint64_t cookie)
{
	return atomik_queue_remote(q, ATOMIK_IOC_REMOTE_SET, first, count,
				   values, cookie);
}

int atomik_queue_remote_read(struct atomik_queue *q, uint32_t first,
			     uint32_t count, uint64_t *values, uint64_t cookie)
{
	return atomik_queue_remote(q, ATOMIK_IOC_REMOTE_READ, first, count,
				   values, cookie);
}

int atomik_queue_submit(struct atomik_queue *q)
{
	int ret = io_uring_submit(&q->ring);

	if (ret > 0)
		q->inflight += ret;
	return ret;
}

/* Milliseconds until deadline (CLOCK_MONOTONIC), at least 0. */
static long long atomik_ms_left(const struct timespec *deadline)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (deadline->tv_sec - now.tv_sec) * 1000LL +
	     (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms > 0 ? ms : 0;
}

/* timeout_ms < 0: wait as long as it takes. */
static int atomik_reap(struct atomik_queue *q, struct atomik_completion *c,
		       unsigned int max, unsigned int min, int timeout_ms)
{
	struct timespec deadline;
	struct io_uring_cqe *cqe;
	unsigned int n = 0;
	int ret;

	if (min > max)
		return -EINVAL;
	if (timeout_ms >= 0) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	while (n < max) {
		/* Nothing left to come: waiting would never end. */
		if (n < min && !q->inflight)
			break;
		if (n < min && timeout_ms < 0) {
			ret = io_uring_wait_cqe(&q->ring, &cqe);
		} else if (n < min) {
			long long ms = atomik_ms_left(&deadline);
			struct __kernel_timespec ts = {
				.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000,
			};

			ret = io_uring_wait_cqe_timeout(&q->ring, &cqe, &ts);
			if (ret == -ETIME)
				break;
		} else {
			ret = io_uring_peek_cqe(&q->ring, &cqe);
		}
		if (ret == -EAGAIN)
			break;
		if (ret < 0)
			return n ? (int)n : ret;
		struct atomik_ticket *s = &q->tickets[cqe->user_data];

		c[n].cookie = s->cookie;
		c[n].result = cqe->res;
		c[n].reserved = 0;
		if (s->result && cqe->res == 0 && !(q->flags & ATOMIK_QUEUE_SMALL))
			*s->result = cqe->big_cqe[0];
		io_uring_cqe_seen(&q->ring, cqe);
		s->next_free = q->free;
		q->free = (int)cqe->user_data;
		q->pending--;
		q->inflight--;
		n++;
	}
	return n;
}

int atomik_queue_reap(struct atomik_queue *q, struct atomik_completion *c,
		      unsigned int max, unsigned int min)
{
	return atomik_reap(q, c, max, min, -1);
}

int atomik_queue_reap_timeout(struct atomik_queue *q, struct atomik_completion *c,
			      unsigned int max, unsigned int min, int timeout_ms)
{
	if (timeout_ms < 0)
		return -EINVAL;
	return atomik_reap(q, c, max, min, timeout_ms);
}
