// SPDX-License-Identifier: GPL-2.0
/*
 * A bounded fuzzer of every entry point of the module: threads issue random
 * ioctl numbers, sizes, flags and pointers (valid, NULL, unmapped, kernel
 * addresses, unaligned, straddling into an unmapped or read-only page),
 * random IORING_OP_URING_CMD payloads on rings of every shape, and random
 * sysfs writes, while one more thread accumulates known deltas into a
 * canary table through valid calls.  Between rounds every descriptor is
 * closed and the module is unloaded and loaded again, with bad parameters
 * first.
 *
 * What must hold: every call returns success or a documented error, the
 * canary table holds exactly the XOR of its deltas, destroying every table
 * returns the memory account to table 0 alone, the module unloads, and the
 * kernel log stays clean (checked by the VM runner; run_tests.sh scans
 * kmemleak afterwards where the kernel has it).
 *
 * Environment: ATOMIK_SEED (default fixed, printed), ATOMIK_FUZZ_SECONDS
 * (total fuzzing time, default 20), ATOMIK_FUZZ_ROUNDS (default 4),
 * ATOMIK_FUZZ_THREADS (ioctl and io_uring fuzzers each, default 2).
 * A round replays the same calls in each thread for the same seed; which
 * call meets which in another thread is up to the scheduler.
 */
#include <dirent.h>
#include <liburing.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "util.h"

#define PAGE		4096UL
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define CANARY_ADDRS	64
#define BIG_BYTES	((size_t)(ATOMIK_MAX_BATCH + 128) * sizeof(struct atomik_op))
#define GUARD_BYTES	((size_t)ATOMIK_MAX_ADDRS * sizeof(uint64_t) * 2)

static const unsigned long cmds[] = {
	ATOMIK_IOC_INFO, ATOMIK_IOC_LOAD, ATOMIK_IOC_ACCUM, ATOMIK_IOC_READ,
	ATOMIK_IOC_SWAP, ATOMIK_IOC_ACCUM_BATCH, ATOMIK_IOC_OP_BATCH,
	ATOMIK_IOC_READ_RANGE, ATOMIK_IOC_TABLE_CREATE, ATOMIK_IOC_TABLE_DESTROY,
	ATOMIK_IOC_TABLE_SELECT, ATOMIK_IOC_READ_TO, ATOMIK_IOC_ACCUM_INLINE,
	ATOMIK_IOC_REMOTE_SET, ATOMIK_IOC_REMOTE_READ,
};

#define NCMDS		ARRAY_SIZE(cmds)

/* Errors the uapi documents for one call or another. */
static int documented(int err)
{
	switch (err) {
	case EINVAL: case EFAULT: case ENOTTY: case EBADF: case EPERM:
	case E2BIG: case ENOENT: case ENOMEM: case ENOSPC: case EBUSY:
	case EMSGSIZE: case EOPNOTSUPP: case ENODEV: case EDQUOT: case EINTR:
		return 1;
	}
	return 0;
}

static volatile int stop;
static uint32_t canary_id;
static uint64_t round_seed;
static int surprises;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

static void surprise(const char *what, unsigned long cmd, long ret, int err)
{
	pthread_mutex_lock(&report_lock);
	if (surprises++ < 20)
		TH_LOG("%s 0x%lx returned %ld (%s)", what, cmd, ret, strerror(err));
	pthread_mutex_unlock(&report_lock);
}

/*
 * Each fuzzer's memory: two read-write pages, an inaccessible page, a read-only
 * page, and a large buffer for batches of every size up to the limit.
 */
struct fz {
	uint64_t s;
	int fds[4];
	char *mem;		/* rw rw none ro */
	char *big;
	unsigned long calls, ok, errs[134];
};

static uint64_t pick(struct fz *f, const uint64_t *v, int n)
{
	return v[rnd(&f->s) % n];
}

/* An interesting 32-bit value: an edge of the table or the batch limit. */
static uint32_t any32(struct fz *f)
{
	static const uint64_t v[] = {
		0, 1, 2, 7, 63, 64, 4095, 4096, 4097, ATOMIK_MAX_BATCH,
		ATOMIK_MAX_BATCH + 1, ATOMIK_MAX_ADDRS, ATOMIK_MAX_ADDRS + 1,
		ATOMIK_MAX_TABLES - 1, ATOMIK_MAX_TABLES, 0x7fffffff, 0x80000000,
		0xffffffff,
	};

	return rnd(&f->s) % 3 ? (uint32_t)pick(f, v, ARRAY_SIZE(v)) : (uint32_t)rnd(&f->s);
}

/* A pointer for the kernel to follow, of size bytes (when it is ours). */
static uint64_t any_ptr(struct fz *f, size_t size)
{
	char *rw = f->mem, *none = f->mem + 2 * PAGE, *ro = f->mem + 3 * PAGE;
	size_t cut = size ? 1 + rnd(&f->s) % size : 1;

	switch (rnd(&f->s) % 20) {
	case 0:	return 0;
	case 1:	return (uintptr_t)rw + (rnd(&f->s) % 64) * 8;		/* aligned */
	case 2:	return (uintptr_t)rw + 1 + rnd(&f->s) % 7;		/* unaligned */
	case 3:	return (uintptr_t)rw + PAGE - cut;			/* rw into rw */
	case 4:	return (uintptr_t)none - cut;				/* rw into none */
	case 5:	return (uintptr_t)none + rnd(&f->s) % PAGE;		/* unmapped */
	case 6:	return (uintptr_t)ro + (rnd(&f->s) % 32) * 8;		/* read-only */
	case 7:	return 0xffff888000000000ULL + (rnd(&f->s) % 0x10000) * 8; /* kernel */
	case 8:	return 0xffffffff81000000ULL;
	case 9:	return 0x8000000000000000ULL;				/* non-canonical */
	case 10: return rnd(&f->s);
	case 11: case 12: case 13:
		return (uintptr_t)rw + (rnd(&f->s) % 64) * 8;
	default: return (uintptr_t)f->big + (rnd(&f->s) % 16) * 8;	/* large, valid */
	}
}

/*
 * Fill p (room bytes) for command nr: random bytes, or a structure whose
 * fields are edges and pointers.  The canary table is never named: its
 * state is the fuzzer's check.
 */
static void fill(struct fz *f, unsigned int nr, void *p, size_t room)
{
	uint32_t *w = p;
	uint64_t *q = p;
	size_t i;

	for (i = 0; i + 8 <= room; i += 8)
		q[i / 8] = rnd(&f->s);
	if (rnd(&f->s) % 4 == 0)
		goto fixup;
	for (i = 0; i < room / 4; i++)
		w[i] = rnd(&f->s) % 2 ? any32(f) : 0;
	switch (nr) {
	case 0x05: case 0x06:		/* struct atomik_batch */
	case 0x07:			/* struct atomik_range */
	case 0x0d: case 0x0e:		/* the same, for the remote row */
		if (room >= 8)
			q[0] = any_ptr(f, 16 * (size_t)(room >= 12 ? w[2] % 64 : 1));
		break;
	case 0x08:			/* struct atomik_table_req */
		if (room >= 12 && rnd(&f->s) % 2)
			w[2] = rnd(&f->s) % 8;	/* SELECT, REPLICATED, DESTROY_ON_CLOSE */
		break;
	case 0x0b:			/* struct atomik_read_to */
		if (room >= 16)
			q[1] = any_ptr(f, 8);
		break;
	case 0x0c:			/* struct atomik_inline_deltas */
		if (room >= 4)
			w[0] = rnd(&f->s) % (ATOMIK_INLINE_DELTAS + 2);
		break;
	}
	/* Some valid elements behind batch pointers, and some garbage. */
	for (i = 0; i < 64; i++) {
		struct atomik_op *op = (struct atomik_op *)f->big + rnd(&f->s) % 4096;

		op->opcode = 1 + rnd(&f->s) % 5;
		op->addr = rnd(&f->s) % 2 ? rnd(&f->s) % 4096 : any32(f);
		op->flags = rnd(&f->s) % 4 ? 0 : any32(f);
		op->reserved = rnd(&f->s) % 8 ? 0 : 1;
	}
fixup:
	if (room >= 4 && w[0] == canary_id)
		w[0] = 0;
}

static unsigned long any_cmd(struct fz *f)
{
	unsigned long c = cmds[rnd(&f->s) % NCMDS];
	unsigned int r = rnd(&f->s) % 100, type;

	if (r < 75)
		return c;
	if (r < 85)	/* a known number with the wrong direction or size */
		return _IOC(rnd(&f->s) % 4, ATOMIK_IOC_MAGIC, _IOC_NR(c), rnd(&f->s) % 256);
	if (r < 92)	/* an unknown number of ours */
		return _IOC(rnd(&f->s) % 4, ATOMIK_IOC_MAGIC, rnd(&f->s) % 256,
			    rnd(&f->s) % 256);
	c = (uint32_t)rnd(&f->s);
	/* Not the VFS's own commands (freezing the device's file system,
	 * cloning, file flags), which are not the module's to answer. */
	type = _IOC_TYPE(c);
	if (type == 0 || type == 'X' || type == 'f' || type == 0x94 || type == 'T' ||
	    type == 0x12 || type == 0x15)
		c = (c & ~(_IOC_TYPEMASK << _IOC_TYPESHIFT)) |
		    (ATOMIK_IOC_MAGIC << _IOC_TYPESHIFT);
	return c;
}

static void open_fds(struct fz *f)
{
	static const int modes[4] = { O_RDWR, O_RDONLY, O_WRONLY, O_RDWR };
	int i;

	for (i = 0; i < 4; i++)
		ASSERT_OK(f->fds[i] = open(DEV, modes[i] | O_CLOEXEC));
}

static void *bigs[34];

static void setup(struct fz *f, int id)
{
	f->s = round_seed ^ (0x9e3779b97f4a7c15ULL * (id + 1));
	f->mem = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(f->mem != MAP_FAILED);
	/* A valid call may write far past a pointer (READ_RANGE of a table
	 * of millions): behind the buffer, only an inaccessible guard.  Made
	 * and faulted in once per fuzzer for every round (tens of MiB each).
	 */
	if (!bigs[id]) {
		bigs[id] = mmap(NULL, BIG_BYTES + GUARD_BYTES, PROT_NONE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		ASSERT_TRUE(bigs[id] != MAP_FAILED);
		ASSERT_OK(mprotect(bigs[id], BIG_BYTES, PROT_READ | PROT_WRITE));
		memset(bigs[id], 0, BIG_BYTES);
	}
	f->big = bigs[id];
	fill(f, 0x06, f->mem + 3 * PAGE, PAGE);
	ASSERT_OK(mprotect(f->mem + 2 * PAGE, PAGE, PROT_NONE));
	ASSERT_OK(mprotect(f->mem + 3 * PAGE, PAGE, PROT_READ));
	open_fds(f);
}

static void teardown(struct fz *f)
{
	int i;

	for (i = 0; i < 4; i++)
		close(f->fds[i]);
	munmap(f->mem, 4 * PAGE);
}

static void count(struct fz *f, long ret, int err)
{
	f->calls++;
	if (ret >= 0)
		f->ok++;
	else if (err > 0 && err < 134)
		f->errs[err]++;
}

static void *ioctl_fuzzer(void *arg)
{
	struct fz *f = arg;

	while (!stop) {
		unsigned long cmd = any_cmd(f);
		int fd = f->fds[rnd(&f->s) % 4];
		uint64_t ptr = any_ptr(f, _IOC_SIZE(cmd));
		long ret;

		/* The structure goes where the pointer says, if that is ours
		 * and writable (the read-only page holds one already). */
		if (ptr >= (uintptr_t)f->mem && ptr + 64 <= (uintptr_t)f->mem + 2 * PAGE)
			fill(f, _IOC_NR(cmd), (void *)(uintptr_t)ptr, 64);
		else if (ptr >= (uintptr_t)f->big && ptr < (uintptr_t)f->big + PAGE)
			fill(f, _IOC_NR(cmd), (void *)(uintptr_t)ptr, 64);
		if (rnd(&f->s) % 64 == 0)
			fd = -1;	/* not a descriptor */
		ret = ioctl(fd, cmd, (unsigned long)ptr);
		count(f, ret, errno);
		if (ret < 0 && !documented(errno))
			surprise("ioctl", cmd, ret, errno);
	}
	return NULL;
}

static void *uring_fuzzer(void *arg)
{
	static const unsigned int shapes[] = {
		0, IORING_SETUP_SQE128, IORING_SETUP_CQE32,
		IORING_SETUP_SQE128 | IORING_SETUP_CQE32, IORING_SETUP_IOPOLL,
	};
	struct io_uring rings[ARRAY_SIZE(shapes)];
	struct fz *f = arg;
	unsigned int i, nr = 0;
	time_t deadline;

	/* SUBMIT_ALL: an SQE that fails does not hold back the ones after it. */
	for (i = 0; i < ARRAY_SIZE(shapes); i++)
		if (io_uring_queue_init(8, &rings[nr], shapes[i] | IORING_SETUP_SUBMIT_ALL) == 0)
			nr++;
	ASSERT_GT(nr, 0);
	while (!stop) {
		struct io_uring *ring = &rings[rnd(&f->s) % nr];
		unsigned int n = 1 + rnd(&f->s) % 4, got = 0;
		int big = ring->flags & IORING_SETUP_SQE128;
		struct io_uring_cqe *cqe;

		for (i = 0; i < n; i++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
			unsigned long cmd = any_cmd(f);

			memset(sqe, 0, big ? 128 : 64);
			sqe->opcode = IORING_OP_URING_CMD;
			sqe->fd = f->fds[rnd(&f->s) % 4];
			sqe->cmd_op = cmd;
			fill(f, _IOC_NR(cmd), sqe->cmd, big ? 80 : 16);
			if (rnd(&f->s) % 8 == 0)
				sqe->flags |= IOSQE_ASYNC;
			if (rnd(&f->s) % 32 == 0)
				sqe->uring_cmd_flags = any32(f);
			sqe->user_data = cmd;
		}
		if (io_uring_submit(ring) != (int)n) {
			surprise("io_uring_submit", n, -1, 0);
			break;
		}
		deadline = time(NULL) + 20;
		while (got < n) {
			struct __kernel_timespec ts = { .tv_nsec = 100000000 };
			int res = io_uring_wait_cqe_timeout(ring, &cqe, &ts);

			/* A polled ring returns at once when it has nothing to
			 * poll: completions from io-wq come a moment later. */
			if (res == -ETIME && time(NULL) < deadline)
				continue;
			if (res) {	/* a command that never completes */
				surprise("waiting for a uring_cmd completion", n - got, res, -res);
				stop = 1;
				break;
			}
			res = cqe->res;

			count(f, res, -res);
			if (res < 0 && !documented(-res) && res != -ECANCELED)
				surprise("uring_cmd", cqe->user_data, res, -res);
			io_uring_cqe_seen(ring, cqe);
			got++;
		}
	}
	for (i = 0; i < nr; i++)
		io_uring_queue_exit(&rings[i]);
	return NULL;
}

static void *sysfs_fuzzer(void *arg)
{
	static const char *const values[] = {
		"0", "1", "-1", "4096", "0x10", " 12", "12 ", "abc", "", "\n",
		"18446744073709551616", "-18446744073709551616", "268435456\n",
	};
	char names[32][64], path[128], buf[4200];
	struct fz *f = arg;
	struct dirent *de;
	int n = 0, fd;
	DIR *d;

	ASSERT_TRUE((d = opendir(SYSFS)) != NULL);
	while ((de = readdir(d)) && n < 32)
		if (de->d_type == DT_REG && strcmp(de->d_name, "uevent"))
			snprintf(names[n++], sizeof(names[0]), "%.63s", de->d_name);
	closedir(d);
	ASSERT_GT(n, 5);
	while (!stop) {
		const char *name = names[rnd(&f->s) % n];
		long ret;

		snprintf(path, sizeof(path), SYSFS "%s", name);
		if (rnd(&f->s) % 2) {
			/* Every attribute reads as one line. */
			if (read_text(path, buf, sizeof(buf)) == 0 && !strchr(buf, '\n'))
				surprise(name, 0, 0, 0);
			continue;
		}
		fd = open(path, O_WRONLY);
		if (fd < 0)
			continue;	/* read-only attribute: mode 0444 */
		if (rnd(&f->s) % 8 == 0) {
			memset(buf, '7', sizeof(buf));
			ret = write(fd, buf, PAGE + rnd(&f->s) % 64);
		} else if (rnd(&f->s) % 2) {
			const char *v = values[rnd(&f->s) % ARRAY_SIZE(values)];

			ret = write(fd, v, strlen(v));
		} else if (!strcmp(name, "memory_cap")) {
			/* Up to the default: the VM's memory is not the test. */
			int len = snprintf(buf, sizeof(buf), "%llu",
					   (unsigned long long)(rnd(&f->s) % (257ULL << 20)));

			ret = write(fd, buf, len);
		} else {
			int len = snprintf(buf, sizeof(buf), "%llu",
					   (unsigned long long)rnd(&f->s) >> (rnd(&f->s) % 64));

			ret = write(fd, buf, len);
		}
		count(f, ret, errno);
		if (ret < 0 && errno != EINVAL && errno != ERANGE)
			surprise(name, 0, ret, errno);
		close(fd);
	}
	return NULL;
}

/* Valid calls into the canary table; it must hold their XOR at the end. */
static uint64_t canary_expect[CANARY_ADDRS];
static int canary_fd;

static void *canary_writer(void *arg)
{
	struct fz *f = arg;
	struct atomik_delta d[16];
	struct atomik_batch b = { .ptr = (uintptr_t)d };
	int i;

	while (!stop) {
		b.count = 1 + rnd(&f->s) % 16;
		for (i = 0; i < (int)b.count; i++) {
			d[i] = (struct atomik_delta){ .addr = rnd(&f->s) % CANARY_ADDRS,
						      .delta = rnd(&f->s) };
			canary_expect[d[i].addr] ^= d[i].delta;
		}
		ASSERT_OK(ioctl(canary_fd, ATOMIK_IOC_ACCUM_BATCH, &b));
		f->calls++;
	}
	return NULL;
}

/*
 * The canary table gets an id no fuzzer is likely to name: a structure
 * the fuzzers filled is fixed up, but the kernel also reads leftovers
 * (behind an unaligned or page-straddling pointer), and small ids are
 * everywhere in them.  Ids are handed out lowest first, so one-address
 * tables hold the ids below it while it is created, and go again.
 */
#define CANARY_ID	777

static uint32_t canary_table(int fd, struct atomik_table_req *req)
{
	struct atomik_table_req p;
	uint32_t id;

	for (id = 1; id < CANARY_ID; id++) {
		p = (struct atomik_table_req){ .nr_addrs = 1 };
		ASSERT_OK(ioctl(fd, ATOMIK_IOC_TABLE_CREATE, &p));
		ASSERT_EQ(p.table_id, id);
	}
	ASSERT_OK(ioctl(fd, ATOMIK_IOC_TABLE_CREATE, req));
	ASSERT_EQ(req->table_id, CANARY_ID);
	for (id = 1; id < CANARY_ID; id++) {
		p = (struct atomik_table_req){ .table_id = id };
		ASSERT_OK(ioctl(fd, ATOMIK_IOC_TABLE_DESTROY, &p));
	}
	return CANARY_ID;
}

static long unload(void)
{
	int i;

	/* Rings closed a moment ago may still hold the device's files. */
	for (i = 0; i < 200; i++) {
		if (syscall(SYS_delete_module, "atomik", O_NONBLOCK) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EBUSY)
			return -1;
		usleep(50000);
	}
	return -1;
}

static long load(int fd, const char *params)
{
	return syscall(SYS_finit_module, fd, params, 0);
}

static void reload(uint64_t *s)
{
	/* Rejected by the module (EINVAL) or by the kernel's parameter
	 * parsing (EINVAL, ERANGE for a number too large for its type). */
	static const struct { const char *p; int err; } bad[] = {
		{ "nr_addrs=0", EINVAL }, { "nr_addrs=16777217", EINVAL },
		{ "nr_addrs=-1", EINVAL }, { "nr_addrs=abc", EINVAL },
		{ "nr_addrs=4294967296", ERANGE }, { "max_memory=x", EINVAL },
	};
	const char *ko = getenv("ATOMIK_KO");
	const char *params = getenv("ATOMIK_MODPARAMS");
	int fd, i;

	if (!ko || !*ko) {
		TH_LOG("ATOMIK_KO is not set: no unload/reload between rounds");
		return;
	}
	ASSERT_OK(fd = open(ko, O_RDONLY | O_CLOEXEC));
	ASSERT_OK(unload());
	ASSERT_NE(access("/sys/module/atomik", F_OK), 0);
	for (i = 0; i < 2; i++) {
		unsigned int k = rnd(s) % ARRAY_SIZE(bad);

		ASSERT_ERRNO(load(fd, bad[k].p), bad[k].err);
		ASSERT_NE(access("/sys/module/atomik", F_OK), 0);
	}
	ASSERT_OK(load(fd, params ? params : ""));
	close(fd);
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static unsigned long env_ul(const char *name, unsigned long def)
{
	const char *e = getenv(name);

	return e && *e ? strtoul(e, NULL, 0) : def;
}

TEST(fuzz_entry_points)
{
	unsigned long seconds = env_ul("ATOMIK_FUZZ_SECONDS", 20);
	unsigned long rounds = env_ul("ATOMIK_FUZZ_ROUNDS", 4);
	unsigned long nthreads = env_ul("ATOMIK_FUZZ_THREADS", 2);
	uint64_t seed = test_seed(), s = seed;
	unsigned long r, i, total = 0, ok = 0;
	unsigned long errs[134] = { 0 };
	double t_stop, t_joined, t_checked;

	ASSERT_GT(rounds, 0);
	ASSERT_TRUE(nthreads > 0 && nthreads <= 16);
	TH_LOG("%lu rounds, %lu s in all, %lu ioctl and %lu io_uring fuzzers",
	       rounds, seconds, nthreads, nthreads);
	for (r = 0; r < rounds; r++) {
		unsigned long n = 2 * nthreads + 2;
		struct fz *f = calloc(n, sizeof(*f));
		pthread_t *th = calloc(n, sizeof(*th));
		struct atomik_table_req req = { .nr_addrs = CANARY_ADDRS,
						.flags = ATOMIK_TABLE_SELECT };
		char cap[64], path[] = SYSFS "memory_cap";
		uint64_t mem0 = memory_settled();
		uint32_t a;

		ASSERT_TRUE(f && th);
		ASSERT_EQ(read_text(path, cap, sizeof(cap)), 0);
		round_seed = rnd(&s);
		ASSERT_OK(canary_fd = open(DEV, O_RDWR | O_CLOEXEC));
		canary_id = canary_table(canary_fd, &req);
		memset(canary_expect, 0, sizeof(canary_expect));
		for (a = 0; a < CANARY_ADDRS; a++) {
			struct atomik_xfer x = { .addr = a, .value = 0xc0ffee00ULL + a };

			ASSERT_OK(ioctl(canary_fd, ATOMIK_IOC_LOAD, &x));
			canary_expect[a] = x.value;
		}
		stop = 0;
		for (i = 0; i < n; i++) {
			void *(*fn)(void *) = i < nthreads ? ioctl_fuzzer :
					      i < 2 * nthreads ? uring_fuzzer :
					      i == n - 2 ? sysfs_fuzzer : canary_writer;

			setup(&f[i], i);
			ASSERT_EQ(pthread_create(&th[i], NULL, fn, &f[i]), 0);
		}
		usleep(seconds * 1000000 / rounds);
		stop = 1;
		t_stop = now_s();
		for (i = 0; i < n; i++) {
			int e;

			ASSERT_EQ(pthread_join(th[i], NULL), 0);
			total += f[i].calls;
			ok += f[i].ok;
			for (e = 0; e < 134; e++)
				errs[e] += f[i].errs[e];
			teardown(&f[i]);
		}
		ASSERT_EQ(surprises, 0);
		t_joined = now_s();

		/* The canary holds exactly what the valid calls put there. */
		for (a = 0; a < CANARY_ADDRS; a++) {
			struct atomik_xfer x = { .addr = a };

			ASSERT_OK(ioctl(canary_fd, ATOMIK_IOC_READ, &x));
			ASSERT_EQ(x.value, canary_expect[a]);
		}
		close(canary_fd);

		/* Every table but table 0 destroyed: the memory account is
		 * table 0's again, once the last references are gone. */
		write_text(path, cap);
		{
			int fd = open(DEV, O_RDWR | O_CLOEXEC);
			int tries;

			ASSERT_OK(fd);
			for (a = 1; a < ATOMIK_MAX_TABLES; a++) {
				struct atomik_table_req d = { .table_id = a };

				if (ioctl(fd, ATOMIK_IOC_TABLE_DESTROY, &d) && errno != ENOENT)
					ASSERT_EQ(errno, ENOENT);
			}
			close(fd);
			for (tries = 0; tries < 100 && sysfs_u64("memory_bytes") != mem0; tries++)
				usleep(50000);
		}
		ASSERT_EQ(sysfs_u64("nr_tables"), 1);
		ASSERT_EQ(sysfs_u64("memory_bytes"), mem0);
		free(f);
		free(th);
		t_checked = now_s();
		reload(&s);
		TH_LOG("round %lu: fuzzers stopped in %.2f s, checks %.2f s, reload %.2f s",
		       r, t_joined - t_stop, t_checked - t_joined, now_s() - t_checked);
	}
	TH_LOG("%lu calls: %lu succeeded", total, ok);
	for (i = 0; i < 134; i++)
		if (errs[i])
			TH_LOG("  %lu failed with %s", errs[i], strerror(i));
	ASSERT_GT(total, 1000);
	ASSERT_GT(ok, 100);
}
