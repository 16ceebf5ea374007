// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * libatomik: accumulates without a system call.  A table's CPU rows are
 * mapped into the process (mmap() of the device, uapi/linux/atomik.h), and
 * each delta is XORed into the row of the CPU the thread runs on inside a
 * restartable sequence (rseq(2)) on the area glibc registered for the
 * thread.  Where there is no such area, or no sequence for the
 * architecture, the same calls use the ioctls.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "atomik.h"

/*
 * The sequences below are x86-64's, on the rseq area glibc registers (2.35
 * and later): struct rseq's cpu_id at 4, rseq_cs at 8, and glibc's
 * signature, as the kernel's ABI and atomik.h's inline
 * atomik_map_accum() have them.
 */
#if defined(__x86_64__)
#define ATOMIK_MAP_RSEQ	1
#define MAP_RSEQ_CPU	4
#define MAP_RSEQ_CS	8
#define MAP_RSEQ_SIG	0x53053053
#if defined(__has_include)
#if __has_include(<sys/rseq.h>)
#include <sys/rseq.h>
#define ATOMIK_MAP_GLIBC_RSEQ	1
_Static_assert(offsetof(struct rseq, cpu_id) == MAP_RSEQ_CPU, "struct rseq");
_Static_assert(offsetof(struct rseq, rseq_cs) == MAP_RSEQ_CS, "struct rseq");
_Static_assert(RSEQ_SIG == MAP_RSEQ_SIG, "glibc's rseq signature");
#endif
#endif
#endif

struct atomik_map {
	struct atomik_map_head h;	/* atomik.h: rows, stride, rseq_off, nr_addrs, fd */
	size_t bytes;
};

/* ioctl() without touching the caller's errno: 0 or -errno. */
static int map_ioctl(const struct atomik_map *m, unsigned long cmd, void *arg)
{
	int saved = errno, ret = 0;

	if (ioctl(m->h.fd, cmd, arg) < 0)
		ret = -errno;
	errno = saved;
	return ret;
}

#ifdef ATOMIK_MAP_RSEQ
/*
 * A delta's sequence, atomik.h's atomik__map_accum(), which is inline at
 * the caller's site and is also the library's atomik_map_accum() here.
 * It stores the address of its descriptor (in section __rseq_cs:
 * version and flags 0, the first instruction, the length up to and
 * including the commit, the abort handler) in the thread's rseq_cs, reads
 * cpu_id, and XORs the delta into that CPU's row with a single
 * instruction, a load, an XOR and a store, which is its commit.  If the
 * kernel preempts or migrates the thread, or delivers it a signal, before
 * that instruction has executed, the thread resumes at the abort handler
 * (in section __rseq_failure, after the signature glibc registered), which
 * runs the sequence again from its start; once it has executed, nothing
 * runs it again, so no delta is applied twice.  The kernel writes a row
 * only from the CPU it belongs to, with preemption off across each of its
 * own loads and stores (kmod/engine.c): it never runs in the middle of the
 * instruction, and a sequence it preempts is restarted.
 */
/*
 * Where a map that does not use the sequences points them: an area of each
 * thread that no kernel knows, whose cpu_id says so, so that the calls
 * need no test of their own to fall back.  Initial-exec: at the same
 * offset from the thread pointer in every thread, as glibc's own area is.
 */
static __thread struct {
	uint32_t cpu_id_start, cpu_id;
	uint64_t rseq_cs;
} map_no_rseq __attribute__((tls_model("initial-exec"), aligned(32))) = {
	.cpu_id = (uint32_t)-1,		/* RSEQ_CPU_ID_UNINITIALIZED */
};

/* Is an rseq area registered for this thread (cpu_id not negative)? */
static inline int map_rseq_registered(const struct atomik_map *m)
{
	const volatile int32_t *cpu_id = (const volatile int32_t *)
		((char *)__builtin_thread_pointer() + m->h.rseq_off + MAP_RSEQ_CPU);

	return *cpu_id >= 0;
}

/*
 * A batch's descriptor lives on the caller's stack, so that its address
 * is this call's alone (a signal handler's own call has another).
 */
struct map_rseq_cs {
	uint32_t version, flags;
	uint64_t start_ip, post_commit_offset, abort_ip;
} __attribute__((aligned(32)));

/*
 * d[0] to end[-1], validated, at least one: one sequence for the whole
 * batch.  It stores its descriptor, reads cpu_id, finds the row, and XORs
 * the deltas into it one by one; every instruction from cpu_id to the
 * last XOR is inside the sequence, so the kernel sends the thread to the
 * abort handler whenever it preempts, migrates or signals it there, and
 * no delta is checked on its own.  Each XOR is a single instruction (a
 * load, an XOR and a store), and the one before it advances d: so what the
 * handler must know is whether the thread was stopped between the two,
 * with d already past a delta not yet stored.  The carry flag tells it:
 * "subq $-16" adds 16 and sets it (a borrow: d is a user address, far
 * below 2^64 - 16), the XOR clears it, and nothing else in the loop writes
 * it ("decq" does not); it is clear when the sequence starts.  Carry set:
 * the thread stopped on the XOR, which has not run, and d goes back one
 * delta; clear: d is the next delta to store, whether the one before it
 * was stored or not yet loaded.  The count of deltas left is worked out
 * from d each time the sequence starts.  rseq_cs is cleared before the
 * call returns: the kernel must never read a descriptor from a stack frame
 * that is gone.
 */
static void map_rseq_xor_many(const struct atomik_map *m, const struct atomik_delta *d,
			      const struct atomik_delta *end)
{
	struct map_rseq_cs cs;
	uint64_t addr, delta, row, left;

	__asm__ __volatile__ (
		"leaq 1f(%%rip), %%rax\n\t"
		"movq %%rax, %c[start](%[cs])\n\t"
		"movq $(2f - 1f), %c[len](%[cs])\n\t"
		"leaq 4f(%%rip), %%rax\n\t"
		"movq %%rax, %c[abort](%[cs])\n\t"
		"movq $0, (%[cs])\n"			/* version and flags */
		"6:\n\t"
		"movq %[end], %[left]\n\t"
		"subq %[d], %[left]\n\t"
		"shrq $4, %[left]\n\t"
		"jz 8f\n\t"
		"xorl %%eax, %%eax\n\t"			/* carry clear */
		"movq %[cs], %%fs:%c[csoff](%[off])\n"
		"1:\n\t"
		"movl %%fs:%c[cpu](%[off]), %%eax\n\t"
		"imulq %[stride], %%rax\n\t"		/* no overflow: carry clear */
		"leaq (%[rows], %%rax), %[row]\n"
		"7:\n\t"
		"movq (%[d]), %[addr]\n\t"		/* reserved 0, checked */
		"movq 8(%[d]), %[delta]\n\t"
		"subq $-16, %[d]\n\t"			/* carry set */
		"xorq %[delta], (%[row], %[addr], 8)\n\t"	/* carry clear */
		"decq %[left]\n\t"
		"jnz 7b\n"
		"2:\n\t"
		"jmp 8f\n\t"
		".pushsection __rseq_failure, \"ax\"\n\t"
		".byte 0x0f, 0xb9, 0x3d\n\t"
		".long %c[sig]\n"
		"4:\n\t"
		"jnc 6b\n\t"
		"subq $16, %[d]\n\t"
		"jmp 6b\n\t"
		".popsection\n"
		"8:\n\t"
		"movq $0, %%fs:%c[csoff](%[off])\n\t"
		: [d] "+r" (d), [addr] "=&r" (addr), [delta] "=&r" (delta), [row] "=&r" (row),
		  [left] "=&r" (left)
		: [end] "r" (end), [cs] "r" (&cs), [off] "r" (m->h.rseq_off), [rows] "r" (m->h.rows),
		  [stride] "r" (m->h.stride),
		  [start] "i" (offsetof(struct map_rseq_cs, start_ip)),
		  [len] "i" (offsetof(struct map_rseq_cs, post_commit_offset)),
		  [abort] "i" (offsetof(struct map_rseq_cs, abort_ip)),
		  [csoff] "i" (MAP_RSEQ_CS),
		  [cpu] "i" (MAP_RSEQ_CPU),
		  [sig] "i" (MAP_RSEQ_SIG)
		: "rax", "memory", "cc");
}
#endif

/*
 * Maps use the sequences unless glibc registered no rseq area (its tunable
 * glibc.pthread.rseq=0, or a kernel without rseq) or the environment says
 * ATOMIK_NO_RSEQ (not empty, not 0).  The offset of the rseq area their
 * calls use: glibc's, or one whose cpu_id says none is registered.
 */
#ifdef ATOMIK_MAP_RSEQ
static long map_rseq_offset(void)
{
	const char *no = getenv("ATOMIK_NO_RSEQ");

#ifdef ATOMIK_MAP_GLIBC_RSEQ
	if (!(no && *no && strcmp(no, "0")) && __rseq_size)
		return __rseq_offset;
#else
	(void)no;
#endif
	return (char *)&map_no_rseq - (char *)__builtin_thread_pointer();
}
#endif

int atomik_map(struct atomik *a, struct atomik_map **mp)
{
	struct atomik_info info;
	struct atomik_map *m;
	int saved = errno, ret;
	void *rows;

	if (!a || !mp)
		return -EINVAL;
	ret = atomik_info(a, &info);
	if (ret)
		return ret;
	if (!(info.features & ATOMIK_FEAT_MMAP))
		return -EOPNOTSUPP;
	m = calloc(1, sizeof(*m));
	if (!m) {
		errno = saved;
		return -ENOMEM;
	}
	/* The handle's open file, under a descriptor of the map's own. */
	m->h.fd = fcntl(atomik_fd(a), F_DUPFD_CLOEXEC, 0);
	if (m->h.fd < 0) {
		ret = -errno;
		goto fail;
	}
	rows = mmap(NULL, info.map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, m->h.fd, 0);
	if (rows == MAP_FAILED) {
		ret = -errno;
		goto fail;
	}
	m->h.rows = rows;
	m->bytes = info.map_bytes;
	/*
	 * The file's table cannot change while it is mapped: this is the
	 * table mapped, whatever the handle had selected before.
	 */
	ret = map_ioctl(m, ATOMIK_IOC_INFO, &info);
	if (ret)
		goto fail;
	m->h.stride = info.map_stride;
	m->h.nr_addrs = info.nr_addrs;
#ifdef ATOMIK_MAP_RSEQ
	m->h.rseq_off = map_rseq_offset();
#endif
	*mp = m;
	errno = saved;
	return 0;
fail:
	if (m->h.rows)
		munmap(m->h.rows, m->bytes);
	if (m->h.fd >= 0)
		close(m->h.fd);
	free(m);
	errno = saved;
	return ret;
}

void atomik_unmap(struct atomik_map *m)
{
	int saved = errno;

	if (!m)
		return;
	munmap(m->h.rows, m->bytes);
	close(m->h.fd);
	free(m);
	errno = saved;
}

/* The ioctls, out of the way of the sequences' short paths. */
#ifndef ATOMIK_MAP_RSEQ
static __attribute__((noinline)) int map_accum_ioctl(const struct atomik_map *m,
						     uint32_t addr, uint64_t delta)
{
	struct atomik_xfer x = { .addr = addr, .value = delta };

	return map_ioctl(m, ATOMIK_IOC_ACCUM, &x);
}
#endif

static __attribute__((noinline)) int map_batch_ioctl(const struct atomik_map *m,
						     const struct atomik_delta *d, size_t n)
{
	struct atomik_batch b = { .ptr = (uintptr_t)d, .count = (uint32_t)n };

	return map_ioctl(m, ATOMIK_IOC_ACCUM_BATCH, &b);
}

/* The inline function of atomik.h, for callers that take the library's. */
int (atomik_map_accum)(struct atomik_map *m, uint32_t addr, uint64_t delta)
{
#if defined(ATOMIK_MAP_RSEQ) && defined(atomik_map_accum)
	return atomik__map_accum(m, addr, delta);
#else
	if (addr >= m->h.nr_addrs)
		return -EINVAL;
	return map_accum_ioctl(m, addr, delta);
#endif
}

/*
 * Every element is checked before any is applied, as ACCUM_BATCH does: its
 * first word (addr, and reserved above it on a little-endian machine) must
 * be below nr_addrs.  The array must not change during the call.
 */
int atomik_map_accum_batch(struct atomik_map *m, const struct atomik_delta *d, size_t n)
{
	if (n > ATOMIK_MAX_BATCH)
		return -E2BIG;
#ifdef ATOMIK_MAP_RSEQ
	if (n && map_rseq_registered(m)) {
		uint64_t w0, w1, w2, w3, any = 0;
		size_t i = 0;

		if (!d)
			return -EFAULT;
		/*
		 * Every address is below nr_addrs if the OR of them all is
		 * (each is at most the OR): one OR a delta.  Only when it is
		 * not (a bad address, or good ones whose bits add up past a
		 * size that is not a power of two) is each one compared.
		 */
		for (; i + 4 <= n; i += 4) {
			memcpy(&w0, &d[i], sizeof(w0));
			memcpy(&w1, &d[i + 1], sizeof(w1));
			memcpy(&w2, &d[i + 2], sizeof(w2));
			memcpy(&w3, &d[i + 3], sizeof(w3));
			any |= w0 | w1 | w2 | w3;
		}
		for (; i < n; i++) {
			memcpy(&w0, &d[i], sizeof(w0));
			any |= w0;
		}
		for (i = 0; any >= m->h.nr_addrs && i < n; i++) {
			memcpy(&w0, &d[i], sizeof(w0));
			if (w0 >= m->h.nr_addrs)
				return -EINVAL;
		}
		map_rseq_xor_many(m, d, d + n);
		return 0;
	}
#endif
	return map_batch_ioctl(m, d, n);
}
