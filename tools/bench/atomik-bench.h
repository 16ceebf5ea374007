/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The paths atomik-bench measures, in the order of its tables and CSV, and
 * the names atomik bench --plot draws: X(ID, "name") for each.  The last
 * two, the batch paths on a replicated table (whose accumulates also mark
 * the change set), are measured only with --replicated.
 */
#ifndef ATOMIK_BENCH_H
#define ATOMIK_BENCH_H

#define ATOMIK_BENCH_PATHS(X)					\
	X(USER, "userspace")					\
	X(IOCTL_SINGLE, "ioctl-single")				\
	X(IOCTL_BATCH, "ioctl-batch")				\
	X(URING_SINGLE, "uring-single")				\
	X(URING_INLINE, "uring-inline")				\
	X(URING_BATCH, "uring-batch")				\
	X(MMAP_SINGLE, "mmap-single")				\
	X(MMAP_BATCH, "mmap-batch")				\
	X(IOCTL_BATCH_REPL, "ioctl-batch-repl")			\
	X(URING_BATCH_REPL, "uring-batch-repl")

#endif /* ATOMIK_BENCH_H */
