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

#include <errno.h>	/* EINVAL for the inline atomik_map_accum() */
#include <fcntl.h>	/* O_RDWR, O_RDONLY for atomik_open() */
#include <stddef.h>
#include <stdint.h>

#include <linux/atomik.h>	/* struct atomik_delta, struct atomik_op, ... */

/*
 * The library's version: the major is the soname's (libatomik.so.1), the
 * minor counts additions to the interface, the patch fixes.
 */
#define ATOMIK_VERSION_MAJOR	1
#define ATOMIK_VERSION_MINOR	4
#define ATOMIK_VERSION_PATCH	0

#ifdef __cplusplus
extern "C" {
#endif

struct atomik;

/* Open the device (NULL: /dev/atomik), flags O_RDWR or O_RDONLY. */
int atomik_open(struct atomik **a, const char *path, int flags);
void atomik_close(struct atomik *a);
/* The handle's file descriptor, for io_uring or to hand to another process. */
int atomik_fd(const struct atomik *a);

int atomik_load(struct atomik *a, uint32_t addr, uint64_t initial_state);
int atomik_accum(struct atomik *a, uint32_t addr, uint64_t delta);
int atomik_read(const struct atomik *a, uint32_t addr, uint64_t *state);
/* The XOR of the deltas accumulated since the last load or swap. */
int atomik_read_accum(const struct atomik *a, uint32_t addr, uint64_t *accum);
int atomik_read_range(const struct atomik *a, uint32_t first, uint32_t count,
		      uint64_t *states);
/* flags 0 or ATOMIK_READ_ACCUM (each address's accumulated deltas).  Since 1.1. */
int atomik_read_range_flags(const struct atomik *a, uint32_t first,
			    uint32_t count, uint32_t flags, uint64_t *values);
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
int atomik_nr_addrs(const struct atomik *a, uint32_t *n);
int atomik_info(const struct atomik *a, struct atomik_info *info);

/* Tables: flags 0 or any of ATOMIK_TABLE_SELECT, ATOMIK_TABLE_REPLICATED and
 * ATOMIK_TABLE_DESTROY_ON_CLOSE (the last two since 1.1). */
int atomik_table_create(struct atomik *a, uint32_t nr_addrs, uint32_t flags,
			uint32_t *table_id);
int atomik_table_destroy(struct atomik *a, uint32_t table_id);
int atomik_table_select(struct atomik *a, uint32_t table_id);

/*
 * A replicated table's remote row (the other contributors' part of its
 * state), addresses first to first + count - 1 of the handle's table: set
 * to exactly values (a handle that may write), or read into values.
 * -EOPNOTSUPP if the table is not replicated.  Since 1.1.
 */
int atomik_remote_set(struct atomik *a, uint32_t first, uint32_t count,
		      const uint64_t *values);
int atomik_remote_read(struct atomik *a, uint32_t first, uint32_t count,
		       uint64_t *values);

/*
 * A replicated table's change set (ATOMIK_IOC_CHANGES), taken and emptied
 * into *map: bit z set if addresses z * *granule to z * *granule +
 * *granule - 1 changed in the local contribution since the previous call
 * (a table has at most 64 zones).  *flags gets ATOMIK_CHANGES_UNTRACKED
 * if mapped writers may have changed addresses the map does not show.
 * granule and flags may be NULL.  poll() on atomik_fd() tells when the set
 * is no longer empty.  Needs CAP_SYS_ADMIN.  Since 1.3.
 */
int atomik_changes(struct atomik *a, uint64_t *map, uint32_t *granule, uint32_t *flags);

/*
 * Accumulates without a system call: the handle's current table's CPU rows
 * mapped into the process, each delta XORed into the row of the CPU the
 * thread runs on inside a restartable sequence (rseq(2), x86-64 with
 * glibc 2.35 or later).  Where the thread has no rseq area registered, on
 * another architecture, or with ATOMIK_NO_RSEQ set in the environment when
 * the map is made, the same calls use the ioctls (ACCUM, ACCUM_BATCH), with
 * the same results.  A map may be used by several threads at once; it keeps
 * the table selected on the handle's open file (atomik_table_select():
 * -EBUSY) until atomik_unmap().  Since 1.2.
 */
struct atomik_map;

int atomik_map(struct atomik *a, struct atomik_map **m);
void atomik_unmap(struct atomik_map *m);
int atomik_map_accum(struct atomik_map *m, uint32_t addr, uint64_t delta);

/*
 * atomik_map_accum() is also an inline function on x86-64: a call and its
 * return cost as much as the sequence, and a loop of inline calls keeps
 * the map's members in registers.  These are the first members of every
 * struct atomik_map, which it reads, and are part of the library's ABI
 * since 1.4; nothing else of the structure is.  Define ATOMIK_NO_INLINE
 * before including this header to call the library instead.
 */
struct atomik_map_head {
	char *rows;		/* CPU c's row at rows + c * stride */
	uint64_t stride;
	long rseq_off;		/* an rseq area, from the thread pointer */
	uint32_t nr_addrs;	/* the table's */
	int fd;			/* the map's open file, for the ioctl */
};

#if defined(__x86_64__) && defined(__GNUC__) && !defined(ATOMIK_NO_INLINE)
/*
 * A delta's sequence (libatomik/map.c says how it works), at the
 * caller's site.  The offsets are those of struct rseq (cpu_id 4, rseq_cs
 * 8), the signature glibc registers on x86 (RSEQ_SIG).  Where the thread
 * has no rseq area registered (the map's area then says so), ACCUM, as a
 * system call of its own: a call to the library would make the compiler
 * read the map's members again after it, in every turn of the caller's
 * loop.  Neither asm has a "memory" clobber: the sequence reads and
 * writes only the thread's rseq area and the map's rows, which the
 * program's C code never touches, and the system call reads only x; as
 * volatile asm they stay in order with the program's calls, the ioctls
 * that read the table among them.
 */
static __inline__ __attribute__((__always_inline__)) int
atomik__map_accum(struct atomik_map *m, uint32_t addr, uint64_t delta)
{
	const struct atomik_map_head *h = (const struct atomik_map_head *)(void *)m;
	struct atomik_xfer x;
	long ret;

	__asm__ __volatile__ goto (
		".pushsection __rseq_cs, \"aw\"\n\t"
		".balign 32\n"
		"3:\n\t"
		".long 0, 0\n\t"
		".quad 1f, 2f - 1f, 4f\n\t"
		".popsection\n"
		"5:\n\t"
		"leaq 3b(%%rip), %%rax\n\t"
		"movq %%rax, %%fs:8(%[off])\n"
		"1:\n\t"
		"movl %%fs:4(%[off]), %%eax\n\t"
		"cmpl %[nr], %k[addr]\n\t"		/* carry: addr < nr */
		"cmc\n\t"
		"sbbl %%ecx, %%ecx\n\t"		/* -1 if addr >= nr */
		"orl %%ecx, %%eax\n\t"
		"js %l[slow]\n\t"
		"imulq %[stride], %%rax\n\t"
		"addq %[rows], %%rax\n\t"
		"xorq %[delta], (%%rax, %q[addr], 8)\n"
		"2:\n\t"
		".pushsection __rseq_failure, \"ax\"\n\t"
		".byte 0x0f, 0xb9, 0x3d\n\t"
		".long 0x53053053\n"
		"4:\n\t"
		"jmp 5b\n\t"
		".popsection\n"
		:
		: [off] "r" (h->rseq_off), [rows] "r" (h->rows), [stride] "r" (h->stride),
		  [nr] "r" (h->nr_addrs), [addr] "r" ((uint64_t)addr), [delta] "r" (delta)
		: "rax", "rcx", "cc"
		: slow);
	return 0;
slow:
	if (addr >= h->nr_addrs)
		return -EINVAL;
	x.addr = addr;
	x.flags = 0;
	x.value = delta;
	__asm__ __volatile__ ("syscall"
		: "=a" (ret)
		: "0" (16L /* __NR_ioctl */), "D" ((long)h->fd),
		  "S" ((unsigned long)ATOMIK_IOC_ACCUM), "d" (&x), "m" (x)
		: "rcx", "r11", "cc");
	return (int)ret;
}
#define atomik_map_accum(m, addr, delta) atomik__map_accum((m), (addr), (delta))
#endif
/* n deltas, every address checked before any is applied. */
int atomik_map_accum_batch(struct atomik_map *m, const struct atomik_delta *d,
			   size_t n);

/*
 * Asynchronous queue over io_uring (IORING_OP_URING_CMD).  Operations are
 * queued, sent to the kernel by atomik_queue_submit() in one system call,
 * and their completions reaped with atomik_queue_reap(), each carrying the
 * operation's result and the cookie given when it was queued.  Buffers passed
 * to a queued operation (batches, result pointers) must stay valid until its
 * completion is reaped.  A queue is used by one thread at a time; give each
 * thread its own queue (several queues may share one handle).
 */
struct atomik_queue;

struct atomik_completion {
	uint64_t cookie;	/* as given when queued */
	int32_t result;		/* 0 or a negative errno */
	uint32_t reserved;
};

/* Queue flags. */
#define ATOMIK_QUEUE_SMALL	(1U << 0)	/* 64-byte SQEs, 16-byte CQEs: no
						 * inline batches, swap or read
						 * range; reads go through the
						 * pointer */

int atomik_queue_init(struct atomik_queue **q, struct atomik *a,
		      unsigned int entries, unsigned int flags);
void atomik_queue_exit(struct atomik_queue *q);
/* Operations in the queue or in flight, not yet reaped. */
unsigned int atomik_queue_pending(const struct atomik_queue *q);

/* Each returns 0 once queued, -EBUSY when the queue is full (submit and
 * reap first), -EINVAL for what the queue cannot carry. */
int atomik_queue_load(struct atomik_queue *q, uint32_t addr, uint64_t value,
		      uint64_t cookie);
int atomik_queue_accum(struct atomik_queue *q, uint32_t addr, uint64_t delta,
		       uint64_t cookie);
/* Up to ATOMIK_INLINE_DELTAS deltas carried in the SQE itself. */
int atomik_queue_accum_inline(struct atomik_queue *q,
			      const struct atomik_delta *deltas, size_t n,
			      uint64_t cookie);
int atomik_queue_accum_batch(struct atomik_queue *q,
			     const struct atomik_delta *deltas, size_t n,
			     uint64_t cookie);
int atomik_queue_op_batch(struct atomik_queue *q, struct atomik_op *ops,
			  size_t n, uint64_t cookie);
/* *state is written when the completion is reaped (or earlier). */
int atomik_queue_read(struct atomik_queue *q, uint32_t addr, uint32_t flags,
		      uint64_t *state, uint64_t cookie);
int atomik_queue_swap(struct atomik_queue *q, uint32_t addr, uint64_t new_ref,
		      uint32_t flags, uint64_t *old_state, uint64_t cookie);
int atomik_queue_read_range(struct atomik_queue *q, uint32_t first,
			    uint32_t count, uint32_t flags, uint64_t *states,
			    uint64_t cookie);
/* The queued forms of atomik_remote_set() and atomik_remote_read(); not
 * with ATOMIK_QUEUE_SMALL.  Since 1.1. */
int atomik_queue_remote_set(struct atomik_queue *q, uint32_t first,
			    uint32_t count, const uint64_t *values,
			    uint64_t cookie);
int atomik_queue_remote_read(struct atomik_queue *q, uint32_t first,
			     uint32_t count, uint64_t *values, uint64_t cookie);

/* Send every queued operation: the number sent, or -errno. */
int atomik_queue_submit(struct atomik_queue *q);
/* Reap up to max completions, waiting until at least min are there: the
 * number reaped, or -errno. */
int atomik_queue_reap(struct atomik_queue *q, struct atomik_completion *c,
		      unsigned int max, unsigned int min);
/* The same, waiting at most timeout_ms milliseconds (0: not at all) for
 * min: the number reaped, which may then be less than min.  Since 1.1. */
int atomik_queue_reap_timeout(struct atomik_queue *q, struct atomik_completion *c,
			      unsigned int max, unsigned int min, int timeout_ms);
/* An eventfd that becomes readable when completions arrive, for poll(2) or
 * an event loop: the queue keeps it (closed by atomik_queue_exit()); read
 * it to clear it, then reap.  The same fd on every call.  Since 1.1. */
int atomik_queue_event_fd(struct atomik_queue *q);

#ifdef __cplusplus
}
#endif

#endif /* LIBATOMIK_ATOMIK_H */
