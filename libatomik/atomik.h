/* SPDX-License-Identifier: LGPL-2.1 OR MIT */
/*
 * libatomik: the userspace interface to /dev/atomik.
 *
 * Every function returns 0 (or a count where it says so) on success and a
 * negative errno value on failure; none of them sets errno.  A handle may be
 * used by several threads at once, except that atomik_close() must be the
 * last call on it and atomik_table_select() changes the table for every
 * thread that uses the handle.
 */
#ifndef LIBATOMIK_ATOMIK_H
#define LIBATOMIK_ATOMIK_H

#include <stddef.h>
#include <stdint.h>

#include <linux/atomik.h>	/* struct atomik_delta, struct atomik_op, ... */

#ifdef __cplusplus
extern "C" {
#endif

struct atomik;

/* Open the device (NULL: /dev/atomik), flags O_RDWR or O_RDONLY. */
int atomik_open(struct atomik **a, const char *path, int flags);
void atomik_close(struct atomik *a);
/* The handle's file descriptor, for poll loops and io_uring. */
int atomik_fd(const struct atomik *a);

int atomik_load(struct atomik *a, uint32_t addr, uint64_t initial_state);
int atomik_accum(struct atomik *a, uint32_t addr, uint64_t delta);
int atomik_read(struct atomik *a, uint32_t addr, uint64_t *state);
/* The XOR of the deltas accumulated since the last load or swap. */
int atomik_read_accum(struct atomik *a, uint32_t addr, uint64_t *accum);
int atomik_read_range(struct atomik *a, uint32_t first, uint32_t count,
		      uint64_t *states);
/* n deltas, validated as a whole: one bad element applies none. */
int atomik_accum_batch(struct atomik *a, const struct atomik_delta *deltas,
		       size_t n);
/* A mixed batch; read and swap results are written into ops[i].result. */
int atomik_op_batch(struct atomik *a, struct atomik_op *ops, size_t n);
/* Atomically return the state and make new_ref the reference. */
int atomik_swap(struct atomik *a, uint32_t addr, uint64_t new_ref,
		uint64_t *old_state);
/* Atomically return the state and make it the reference. */
int atomik_swap_keep(struct atomik *a, uint32_t addr, uint64_t *old_state);
int atomik_nr_addrs(struct atomik *a, uint32_t *n);
int atomik_info(struct atomik *a, struct atomik_info *info);

/* Tables: flags 0 or ATOMIK_TABLE_SELECT. */
int atomik_table_create(struct atomik *a, uint32_t nr_addrs, uint32_t flags,
			uint32_t *table_id);
int atomik_table_destroy(struct atomik *a, uint32_t table_id);
int atomik_table_select(struct atomik *a, uint32_t table_id);

#ifdef __cplusplus
}
#endif

#endif /* LIBATOMIK_ATOMIK_H */
