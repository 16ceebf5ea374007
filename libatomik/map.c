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

/* The sequences below are x86-64's, on glibc's registration (2.35 and later). */
#if defined(__x86_64__) && defined(__has_include)
#if __has_include(<sys/rseq.h>)
#include <sys/rseq.h>
#ifdef RSEQ_SIG
#define ATOMIK_MAP_RSEQ	1
#endif
#endif
#endif

struct atomik_map {
	char *rows;		/* CPU c's row starts at rows + c * stride */
	uint64_t stride;
	long rseq_off;		/* the thread's struct rseq, from its thread pointer */
	uint32_t nr_addrs;
	int fd;			/* the handle's open file: the ioctls' */
	size_t bytes;
};

/* ioctl() without touching the caller's errno: 0 or -errno. */
static int map_ioctl(const struct atomik_map *m, unsigned long cmd, void *arg)
{
	int saved = errno, ret = 0;

	if (ioctl(m->fd, cmd, arg) < 0)
		ret = -errno;
	errno = saved;
	return ret;
}

#ifdef ATOMIK_MAP_RSEQ
/*
 * A sequence stores the address of its descriptor (in section __rseq_cs:
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
#define MAP_RSEQ_OPERANDS						\
	[cs] "i" (offsetof(struct rseq, rseq_cs)),			\
	[cpu] "i" (offsetof(struct rseq, cpu_id)),			\
	[sig] "i" (RSEQ_SIG)

/*
 * Where a map that does not use the sequences points them: an area of each
 * thread that no kernel knows, whose cpu_id says so, so that the calls
 * need no test of their own to fall back.  Initial-exec: at the same
 * offset from the thread pointer in every thread, as glibc's own area is.
 */
static __thread struct rseq map_no_rseq __attribute__((tls_model("initial-exec"))) = {
	.cpu_id = (uint32_t)RSEQ_CPU_ID_UNINITIALIZED,
};

/*
 * One delta, if addr is below nr_addrs and the thread has an rseq area
 * registered; 0 (nothing done) if either is not so.  Both are told by one
 * test inside the sequence: cpu_id with its sign bit forced on when addr
 * is out of range (one branch less to the short path).
 */
static inline int map_rseq_xor(const struct atomik_map *m, uint32_t addr, uint64_t delta)
{
	__asm__ __volatile__ goto (
		".pushsection __rseq_cs, \"aw\"\n\t"
		".balign 32\n"
		"3:\n\t"
		".long 0, 0\n\t"
		".quad 1f, 2f - 1f, 4f\n\t"
		".popsection\n"
		"5:\n\t"
		"leaq 3b(%%rip), %%rax\n\t"
		"movq %%rax, %%fs:%c[cs](%[off])\n"
		"1:\n\t"
		"movl %%fs:%c[cpu](%[off]), %%eax\n\t"
		"movl %[addr], %%r11d\n\t"		/* zero-extended */
		"cmpl %[nr], %%r11d\n\t"		/* CF: addr < nr */
		"cmc\n\t"
		"sbbl %%ecx, %%ecx\n\t"		/* -1 if addr >= nr */
		"orl %%ecx, %%eax\n\t"
		"js %l[refused]\n\t"
		"imulq %[stride], %%rax\n\t"
		"addq %[rows], %%rax\n\t"
		"xorq %[delta], (%%rax, %%r11, 8)\n"
		"2:\n\t"
		".pushsection __rseq_failure, \"ax\"\n\t"
		".byte 0x0f, 0xb9, 0x3d\n\t"
		".long %c[sig]\n"
		"4:\n\t"
		"jmp 5b\n\t"
		".popsection\n"
		:
		: [off] "r" (m->rseq_off), [rows] "r" (m->rows), [stride] "r" (m->stride),
		  [nr] "m" (m->nr_addrs), [addr] "r" (addr), [delta] "r" (delta),
		  MAP_RSEQ_OPERANDS
		: "rax", "rcx", "r11", "memory", "cc"
		: refused);
	return 1;
refused:
	return 0;
}

/* Is an rseq area registered for this thread (cpu_id not negative)? */
static inline int map_rseq_registered(const struct atomik_map *m)
{
	const volatile int32_t *cpu_id = (const volatile int32_t *)
		((char *)__builtin_thread_pointer() + m->rseq_off + offsetof(struct rseq, cpu_id));

	return *cpu_id >= 0;
}

/*
 * One validated delta d[k] in its own sequence, as above, with numeric
 * labels of its own (k from 0 to 3): the loop that runs them is outside
 * every sequence, and the kernel forgets a descriptor once it finds the
 * thread outside its range, so each delta stores its own again.
 */
#define MAP_RSEQ_DELTA(k, addr_off, delta_off)				\
	"movq " #addr_off "(%[d]), %[addr]\n\t" /* reserved 0 above */	\
	"movq " #delta_off "(%[d]), %[delta]\n"			\
	"5" #k ":\n\t"						\
	"leaq 3" #k "f(%%rip), %%rcx\n\t"				\
	"movq %%rcx, %%fs:%c[cs](%[off])\n"				\
	"1" #k ":\n\t"						\
	"movl %%fs:%c[cpu](%[off]), %%eax\n\t"			\
	"imulq %[stride], %%rax\n\t"					\
	"addq %[rows], %%rax\n\t"					\
	"xorq %[delta], (%%rax, %[addr], 8)\n"				\
	"2" #k ":\n\t"						\
	".pushsection __rseq_cs, \"aw\"\n\t"			\
	".balign 32\n"							\
	"3" #k ":\n\t"						\
	".long 0, 0\n\t"						\
	".quad 1" #k "b, 2" #k "b - 1" #k "b, 4" #k "f\n\t"		\
	".popsection\n\t"						\
	".pushsection __rseq_failure, \"ax\"\n\t"			\
	".byte 0x0f, 0xb9, 0x3d\n\t"					\
	".long %c[sig]\n"						\
	"4" #k ":\n\t"						\
	"jmp 5" #k "b\n\t"						\
	".popsection\n\t"

#define MAP_RSEQ_DELTA_OPERANDS(m)					\
	: [addr] "=&r" (addr), [delta] "=&r" (delta)			\
	: [d] "r" (d), [off] "r" ((m)->rseq_off), [rows] "r" ((m)->rows),	\
	  [stride] "r" ((m)->stride), MAP_RSEQ_OPERANDS			\
	: "rax", "rcx", "memory", "cc"

/* d[0] to end[-1], validated: four sequences a step, then one. */
static void map_rseq_xor_many(const struct atomik_map *m, const struct atomik_delta *d,
			      const struct atomik_delta *end)
{
	uint64_t addr, delta;

	for (; end - d >= 4; d += 4)
		__asm__ __volatile__ (
			MAP_RSEQ_DELTA(0, 0, 8)
			MAP_RSEQ_DELTA(1, 16, 24)
			MAP_RSEQ_DELTA(2, 32, 40)
			MAP_RSEQ_DELTA(3, 48, 56)
			MAP_RSEQ_DELTA_OPERANDS(m));
	for (; d < end; d++)
		__asm__ __volatile__ (
			MAP_RSEQ_DELTA(0, 0, 8)
			MAP_RSEQ_DELTA_OPERANDS(m));
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

	if ((no && *no && strcmp(no, "0")) || !__rseq_size)
		return (char *)&map_no_rseq - (char *)__builtin_thread_pointer();
	return __rseq_offset;
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
	m->fd = fcntl(atomik_fd(a), F_DUPFD_CLOEXEC, 0);
	if (m->fd < 0) {
		ret = -errno;
		goto fail;
	}
	rows = mmap(NULL, info.map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	if (rows == MAP_FAILED) {
		ret = -errno;
		goto fail;
	}
	m->rows = rows;
	m->bytes = info.map_bytes;
	/*
	 * The file's table cannot change while it is mapped: this is the
	 * table mapped, whatever the handle had selected before.
	 */
	ret = map_ioctl(m, ATOMIK_IOC_INFO, &info);
	if (ret)
		goto fail;
	m->stride = info.map_stride;
	m->nr_addrs = info.nr_addrs;
#ifdef ATOMIK_MAP_RSEQ
	m->rseq_off = map_rseq_offset();
#endif
	*mp = m;
	errno = saved;
	return 0;
fail:
	if (m->rows)
		munmap(m->rows, m->bytes);
	if (m->fd >= 0)
		close(m->fd);
	free(m);
	errno = saved;
	return ret;
}

void atomik_unmap(struct atomik_map *m)
{
	int saved = errno;

	if (!m)
		return;
	munmap(m->rows, m->bytes);
	close(m->fd);
	free(m);
	errno = saved;
}

/* The ioctls, out of the way of the sequences' short paths. */
static __attribute__((noinline)) int map_accum_ioctl(const struct atomik_map *m,
						     uint32_t addr, uint64_t delta)
{
	struct atomik_xfer x = { .addr = addr, .value = delta };

	return map_ioctl(m, ATOMIK_IOC_ACCUM, &x);
}

static __attribute__((noinline)) int map_batch_ioctl(const struct atomik_map *m,
						     const struct atomik_delta *d, size_t n)
{
	struct atomik_batch b = { .ptr = (uintptr_t)d, .count = (uint32_t)n };

	return map_ioctl(m, ATOMIK_IOC_ACCUM_BATCH, &b);
}

int atomik_map_accum(struct atomik_map *m, uint32_t addr, uint64_t delta)
{
#ifdef ATOMIK_MAP_RSEQ
	if (map_rseq_xor(m, addr, delta))
		return 0;
#endif
	if (addr >= m->nr_addrs)
		return -EINVAL;
	return map_accum_ioctl(m, addr, delta);
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
		uint64_t w0, w1, w2, w3, bad = 0;
		size_t i = 0;

		if (!d)
			return -EFAULT;
		for (; i + 4 <= n; i += 4) {
			memcpy(&w0, &d[i], sizeof(w0));
			memcpy(&w1, &d[i + 1], sizeof(w1));
			memcpy(&w2, &d[i + 2], sizeof(w2));
			memcpy(&w3, &d[i + 3], sizeof(w3));
			bad |= (w0 >= m->nr_addrs) | (w1 >= m->nr_addrs) |
			       (w2 >= m->nr_addrs) | (w3 >= m->nr_addrs);
		}
		for (; i < n; i++) {
			memcpy(&w0, &d[i], sizeof(w0));
			bad |= w0 >= m->nr_addrs;
		}
		if (bad)
			return -EINVAL;
		map_rseq_xor_many(m, d, d + n);
		return 0;
	}
#endif
	return map_batch_ioctl(m, d, n);
}
