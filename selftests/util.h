/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the selftests: the device, its sysfs files, random
 * numbers with a printed seed.
 */
#ifndef ATOMIK_SELFTEST_UTIL_H
#define ATOMIK_SELFTEST_UTIL_H

#include <fcntl.h>
#include <sys/ioctl.h>
#include <time.h>

#include "atomik.h"
#include "harness.h"

#define DEV		"/dev/atomik"
#define SYSFS		"/sys/class/misc/atomik/"

static inline struct atomik *open_dev(int flags)
{
	struct atomik *a = NULL;
	int ret = atomik_open(&a, NULL, flags);

	if (ret)
		harness_diag("atomik_open: %s", strerror(-ret));
	ASSERT_EQ(ret, 0);
	return a;
}

/*
 * The engine tests run over either path into the device, as variants of
 * every test (TRANSPORT_VARIANTS): "ioctl", or "uring", where every x_*()
 * call goes through a per-thread io_uring queue and waits for its
 * completion.  A test may also set harness_variant itself.
 */
#define TRANSPORT_VARIANTS	HARNESS_VARIANTS("ioctl", "uring")

static inline int use_uring(void)
{
	return harness_variant && !strcmp(harness_variant, "uring");
}

#define QCACHE	4
static __thread struct { struct atomik *a; struct atomik_queue *q; } qcache[QCACHE];

static inline struct atomik_queue *queue_of(struct atomik *a)
{
	int i, freeslot = -1;

	for (i = 0; i < QCACHE; i++) {
		if (qcache[i].a == a)
			return qcache[i].q;
		if (!qcache[i].a && freeslot < 0)
			freeslot = i;
	}
	ASSERT_GE(freeslot, 0);
	ASSERT_EQ(atomik_queue_init(&qcache[freeslot].q, a, 8, 0), 0);
	qcache[freeslot].a = a;
	return qcache[freeslot].q;
}

static inline void x_close(struct atomik *a)
{
	int i;

	for (i = 0; i < QCACHE; i++) {
		if (qcache[i].a == a) {
			atomik_queue_exit(qcache[i].q);
			qcache[i].a = NULL;
		}
	}
	atomik_close(a);
}

#define X_COOKIE	0xC00C1E

/* Submit what was queued (ret 0) and return the completion's result. */
static inline int x_wait(struct atomik_queue *q, int ret)
{
	struct atomik_completion c;

	if (ret)
		return ret;
	ASSERT_EQ(atomik_queue_submit(q), 1);
	ASSERT_EQ(atomik_queue_reap(q, &c, 1, 1), 1);
	ASSERT_EQ(c.cookie, X_COOKIE);
	return c.result;
}

static inline int x_load(struct atomik *a, uint32_t addr, uint64_t v)
{
	struct atomik_queue *q;

	if (!use_uring())
		return atomik_load(a, addr, v);
	q = queue_of(a);
	return x_wait(q, atomik_queue_load(q, addr, v, X_COOKIE));
}

static inline int x_accum(struct atomik *a, uint32_t addr, uint64_t d)
{
	struct atomik_queue *q;

	if (!use_uring())
		return atomik_accum(a, addr, d);
	q = queue_of(a);
	return x_wait(q, atomik_queue_accum(q, addr, d, X_COOKIE));
}

static inline int x_read_flags(struct atomik *a, uint32_t addr, uint32_t flags,
			       uint64_t *v)
{
	struct atomik_queue *q;

	if (!use_uring())
		return flags ? atomik_read_accum(a, addr, v) : atomik_read(a, addr, v);
	q = queue_of(a);
	*v = 0;
	return x_wait(q, atomik_queue_read(q, addr, flags, v, X_COOKIE));
}

static inline int x_read(struct atomik *a, uint32_t addr, uint64_t *v)
{
	return x_read_flags(a, addr, 0, v);
}

static inline int x_read_accum(struct atomik *a, uint32_t addr, uint64_t *v)
{
	return x_read_flags(a, addr, ATOMIK_READ_ACCUM, v);
}

static inline int x_accum_batch(struct atomik *a, const struct atomik_delta *d,
				size_t n)
{
	struct atomik_queue *q;

	if (!use_uring())
		return atomik_accum_batch(a, d, n);
	q = queue_of(a);
	/* Batches of 2 to 6 valid deltas take the inline path (bad pointers
	 * are tested with single-element batches and stay on the other). */
	if (n >= 2 && n <= ATOMIK_INLINE_DELTAS) {
		size_t i;

		for (i = 0; i < n && !d[i].reserved; i++)
			;
		if (i == n)
			return x_wait(q, atomik_queue_accum_inline(q, d, n, X_COOKIE));
	}
	return x_wait(q, atomik_queue_accum_batch(q, d, n, X_COOKIE));
}

static inline int x_op_batch(struct atomik *a, struct atomik_op *ops, size_t n)
{
	struct atomik_queue *q;

	if (!use_uring())
		return atomik_op_batch(a, ops, n);
	q = queue_of(a);
	return x_wait(q, atomik_queue_op_batch(q, ops, n, X_COOKIE));
}

static inline int x_swap_flags(struct atomik *a, uint32_t addr, uint64_t ref,
			       uint32_t flags, uint64_t *old)
{
	struct atomik_queue *q;
	uint64_t dummy;

	if (!use_uring())
		return flags ? atomik_swap_keep(a, addr, old) :
			       atomik_swap(a, addr, ref, old);
	q = queue_of(a);
	return x_wait(q, atomik_queue_swap(q, addr, ref, flags, old ? old : &dummy,
					   X_COOKIE));
}

static inline int x_swap(struct atomik *a, uint32_t addr, uint64_t ref,
			 uint64_t *old)
{
	return x_swap_flags(a, addr, ref, 0, old);
}

static inline int x_swap_keep(struct atomik *a, uint32_t addr, uint64_t *old)
{
	return x_swap_flags(a, addr, 0, ATOMIK_SWAP_KEEP, old);
}

/*
 * call, the library's direct form, or qcall, its queued form on the
 * thread's queue q, waited for: whichever the variant says.
 */
#define X_CALL(a, call, qcall) ({					\
	struct atomik_queue *q;						\
									\
	use_uring() ? (q = queue_of(a), x_wait(q, qcall)) : (call);	\
})

static inline int x_read_range(struct atomik *a, uint32_t first, uint32_t count,
			       uint64_t *v)
{
	return X_CALL(a, atomik_read_range(a, first, count, v),
		      atomik_queue_read_range(q, first, count, 0, v, X_COOKIE));
}

static inline int x_remote_set(struct atomik *a, uint32_t first, uint32_t count,
			       const uint64_t *v)
{
	return X_CALL(a, atomik_remote_set(a, first, count, v),
		      atomik_queue_remote_set(q, first, count, v, X_COOKIE));
}

static inline int x_remote_read(struct atomik *a, uint32_t first, uint32_t count,
				uint64_t *v)
{
	return X_CALL(a, atomik_remote_read(a, first, count, v),
		      atomik_queue_remote_read(q, first, count, v, X_COOKIE));
}

static inline uint32_t nr_addrs(struct atomik *a)
{
	uint32_t n = 0;

	ASSERT_EQ(atomik_nr_addrs(a, &n), 0);
	return n;
}

static inline uint64_t state(struct atomik *a, uint32_t addr)
{
	uint64_t v = 0;

	ASSERT_EQ(x_read(a, addr, &v), 0);
	return v;
}

static inline int read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

static inline int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	n = n < 0 ? -errno : 0;
	close(fd);
	return n;
}

/* A sysfs attribute of the device as a number. */
static inline uint64_t sysfs_u64(const char *name)
{
	char path[256], buf[64];

	snprintf(path, sizeof(path), SYSFS "%s", name);
	ASSERT_EQ(read_text(path, buf, sizeof(buf)), 0);
	return strtoull(buf, NULL, 0);
}

/*
 * memory_bytes once earlier tables' rows have gone: they go from a work item
 * after the table's last operation and an RCU grace period, which a busy
 * emulator (or PREEMPT_RT) stretches to tens of milliseconds after the
 * process that destroyed them has exited.  The value a test starts from is
 * the one that has not changed for 200 ms (at most 10 s).
 */
static inline uint64_t memory_settled(void)
{
	uint64_t v = sysfs_u64("memory_bytes"), w;
	int i, same = 0;

	for (i = 0; i < 500 && same < 10; i++) {
		usleep(20000);
		w = sysfs_u64("memory_bytes");
		same = w == v ? same + 1 : 0;
		v = w;
	}
	return v;
}

/* memory_bytes once it reads want, or as it reads after 5 s. */
static inline uint64_t memory_settles_at(uint64_t want)
{
	uint64_t v;
	int i;

	for (i = 0; i < 250 && (v = sysfs_u64("memory_bytes")) != want; i++)
		usleep(20000);
	return v;
}

static inline void sysfs_set(const char *name, const char *value)
{
	char path[256];

	snprintf(path, sizeof(path), SYSFS "%s", name);
	ASSERT_EQ(write_text(path, value), 0);
}

/*
 * The debug build's race windows (kmod/debug.h) are module parameters that
 * exist only against a kernel with fault injection.
 */
#define DEBUG_PARAM	"/sys/module/atomik/parameters/debug_"

static inline int has_debug_hooks(void)
{
	return access(DEBUG_PARAM "delay_create_us", F_OK) == 0;
}

static inline void debug_set(const char *name, unsigned int value)
{
	char path[128], buf[16];

	snprintf(path, sizeof(path), DEBUG_PARAM "%s", name);
	snprintf(buf, sizeof(buf), "%u", value);
	ASSERT_EQ(write_text(path, buf), 0);
}

/*
 * The knobs a test may turn, put back by the runner after every test,
 * whatever the test did (a file that does not exist, such as a debug
 * build's parameter or the device's after an unload, is left alone).
 */
static const char *const knob_files[] = {
	SYSFS "memory_cap", SYSFS "user_memory_cap", SYSFS "user_max_tables",
	SYSFS "backend", SYSFS "fpga_threshold",
	"/sys/module/atomik/parameters/fpga_timeout_ms",
	DEBUG_PARAM "delay_create_us", DEBUG_PARAM "delay_device_us",
	DEBUG_PARAM "delay_unbind_us", DEBUG_PARAM "delay_init_ms",
	DEBUG_PARAM "fail_driver",
};
#define NR_KNOBS	(sizeof(knob_files) / sizeof(knob_files[0]))
static char knob_saved[NR_KNOBS][64];

static void knobs_save(void)
{
	unsigned int i;

	for (i = 0; i < NR_KNOBS; i++)
		if (read_text(knob_files[i], knob_saved[i], sizeof(knob_saved[i])))
			knob_saved[i][0] = 0;
}

static void knobs_restore(void)
{
	char now[64];
	unsigned int i;

	for (i = 0; i < NR_KNOBS; i++) {
		if (!knob_saved[i][0] || read_text(knob_files[i], now, sizeof(now)) ||
		    !strcmp(now, knob_saved[i]))
			continue;
		if (write_text(knob_files[i], knob_saved[i]))
			harness_diag("could not put %s back to %s", knob_files[i],
				     knob_saved[i]);
		else
			harness_diag("put %s back to %.*s", knob_files[i],
				     (int)strcspn(knob_saved[i], "\n"), knob_saved[i]);
	}
}

__attribute__((constructor)) static void knobs_reg(void)
{
	harness_around(knobs_save, knobs_restore);
}

/* xorshift64*: reproducible random numbers; the seed is printed. */
static inline uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static inline uint64_t test_seed(void)
{
	const char *env = getenv("ATOMIK_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : 0x5eed0a70111cULL;

	TH_LOG("seed 0x%llx (set ATOMIK_SEED to replay another)",
	       (unsigned long long)seed);
	return seed ? seed : 1;
}

/* CPUs the kernel may ever use, as its folds count them. */
static inline int possible_cpus(int *nr_cpu_ids)
{
	char buf[64], *p = buf;
	int n = 0, last = -1;

	ASSERT_EQ(read_text("/sys/devices/system/cpu/possible", buf, sizeof(buf)), 0);
	while (*p && *p != '\n') {
		int a = strtol(p, &p, 10), b = a;

		if (*p == '-')
			b = strtol(p + 1, &p, 10);
		n += b - a + 1;
		last = b;
		if (*p == ',')
			p++;
	}
	if (nr_cpu_ids)
		*nr_cpu_ids = last + 1;
	return n;
}

#endif
