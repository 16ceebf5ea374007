// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * libatomik: thin wrappers over the /dev/atomik ioctls.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "atomik.h"

struct atomik {
	int fd;
};

/* ioctl() without touching the caller's errno: 0 or -errno. */
static int atomik_ioctl(const struct atomik *a, unsigned long cmd, void *arg)
{
	int saved = errno, ret = 0;

	if (ioctl(a->fd, cmd, arg) < 0)
		ret = -errno;
	errno = saved;
	return ret;
}

int atomik_open(struct atomik **a, const char *path, int flags)
{
	int saved = errno;
	struct atomik *h;

	if (!a || (flags != O_RDWR && flags != O_RDONLY))
		return -EINVAL;
	h = malloc(sizeof(*h));
	if (!h) {
		errno = saved;
		return -ENOMEM;
	}
	h->fd = open(path ? path : "/dev/atomik", flags | O_CLOEXEC);
	if (h->fd < 0) {
		int ret = -errno;

		free(h);
		errno = saved;
		return ret;
	}
	*a = h;
	return 0;
}

void atomik_close(struct atomik *a)
{
	int saved = errno;

	if (!a)
		return;
	close(a->fd);
	free(a);
	errno = saved;
}

int atomik_fd(const struct atomik *a)
{
	return a->fd;
}

static int atomik_xfer(const struct atomik *a, unsigned long cmd, uint32_t addr,
		       uint32_t flags, uint64_t *value)
{
	struct atomik_xfer x = { .addr = addr, .flags = flags, .value = *value };
	int ret = atomik_ioctl(a, cmd, &x);

	if (!ret)
		*value = x.value;
	return ret;
}

int atomik_load(struct atomik *a, uint32_t addr, uint64_t initial_state)
{
	return atomik_xfer(a, ATOMIK_IOC_LOAD, addr, 0, &initial_state);
}

int atomik_accum(struct atomik *a, uint32_t addr, uint64_t delta)
{
	return atomik_xfer(a, ATOMIK_IOC_ACCUM, addr, 0, &delta);
}

int atomik_read(const struct atomik *a, uint32_t addr, uint64_t *state)
{
	*state = 0;
	return atomik_xfer(a, ATOMIK_IOC_READ, addr, 0, state);
}

int atomik_read_accum(const struct atomik *a, uint32_t addr, uint64_t *accum)
{
	*accum = 0;
	return atomik_xfer(a, ATOMIK_IOC_READ, addr, ATOMIK_READ_ACCUM, accum);
}

int atomik_read_range_flags(const struct atomik *a, uint32_t first,
			    uint32_t count, uint32_t flags, uint64_t *values)
{
	struct atomik_range r = {
		.ptr = (uintptr_t)values, .first = first, .count = count,
		.flags = flags,
	};

	return atomik_ioctl(a, ATOMIK_IOC_READ_RANGE, &r);
}

int atomik_read_range(const struct atomik *a, uint32_t first, uint32_t count,
		      uint64_t *states)
{
	return atomik_read_range_flags(a, first, count, 0, states);
}

int atomik_remote_set(struct atomik *a, uint32_t first, uint32_t count,
		      const uint64_t *values)
{
	struct atomik_range r = {
		.ptr = (uintptr_t)values, .first = first, .count = count,
	};

	return atomik_ioctl(a, ATOMIK_IOC_REMOTE_SET, &r);
}

int atomik_remote_read(struct atomik *a, uint32_t first, uint32_t count,
		       uint64_t *values)
{
	struct atomik_range r = {
		.ptr = (uintptr_t)values, .first = first, .count = count,
	};

	return atomik_ioctl(a, ATOMIK_IOC_REMOTE_READ, &r);
}

int atomik_changes(struct atomik *a, uint64_t *map, uint32_t *granule, uint32_t *flags)
{
	struct atomik_changes ch = {
		.map_ptr = (uintptr_t)map, .nr_bits = ATOMIK_CHANGE_MAX_BITS,
	};
	int ret = atomik_ioctl(a, ATOMIK_IOC_CHANGES, &ch);

	if (!ret && granule)
		*granule = ch.granule;
	if (!ret && flags)
		*flags = ch.flags;
	return ret;
}

static int atomik_batch(struct atomik *a, unsigned long cmd, const void *p,
			size_t n)
{
	struct atomik_batch b = { .ptr = (uintptr_t)p, .count = (uint32_t)n };

	if (n > UINT32_MAX)
		return -E2BIG;
	return atomik_ioctl(a, cmd, &b);
}

int atomik_accum_batch(struct atomik *a, const struct atomik_delta *deltas,
		       size_t n)
{
	return atomik_batch(a, ATOMIK_IOC_ACCUM_BATCH, deltas, n);
}

int atomik_op_batch(struct atomik *a, struct atomik_op *ops, size_t n)
{
	return atomik_batch(a, ATOMIK_IOC_OP_BATCH, ops, n);
}

static int atomik_do_swap(struct atomik *a, uint32_t addr, uint32_t flags,
			  uint64_t new_ref, uint64_t *old_state)
{
	struct atomik_swap s = { .addr = addr, .flags = flags, .new_ref = new_ref };
	int ret = atomik_ioctl(a, ATOMIK_IOC_SWAP, &s);

	if (!ret && old_state)
		*old_state = s.old_state;
	return ret;
}

int atomik_swap(struct atomik *a, uint32_t addr, uint64_t new_ref,
		uint64_t *old_state)
{
	return atomik_do_swap(a, addr, 0, new_ref, old_state);
}

int atomik_swap_keep(struct atomik *a, uint32_t addr, uint64_t *old_state)
{
	return atomik_do_swap(a, addr, ATOMIK_SWAP_KEEP, 0, old_state);
}

int atomik_info(const struct atomik *a, struct atomik_info *info)
{
	return atomik_ioctl(a, ATOMIK_IOC_INFO, info);
}

int atomik_nr_addrs(const struct atomik *a, uint32_t *n)
{
	struct atomik_info info;
	int ret = atomik_info(a, &info);

	if (!ret)
		*n = info.nr_addrs;
	return ret;
}

int atomik_table_create(struct atomik *a, uint32_t nr_addrs, uint32_t flags,
			uint32_t *table_id)
{
	struct atomik_table_req req = { .nr_addrs = nr_addrs, .flags = flags };
	int ret = atomik_ioctl(a, ATOMIK_IOC_TABLE_CREATE, &req);

	if (!ret && table_id)
		*table_id = req.table_id;
	return ret;
}

int atomik_table_destroy(struct atomik *a, uint32_t table_id)
{
	struct atomik_table_req req = { .table_id = table_id };

	return atomik_ioctl(a, ATOMIK_IOC_TABLE_DESTROY, &req);
}

int atomik_table_select(struct atomik *a, uint32_t table_id)
{
	struct atomik_table_req req = { .table_id = table_id };

	return atomik_ioctl(a, ATOMIK_IOC_TABLE_SELECT, &req);
}
