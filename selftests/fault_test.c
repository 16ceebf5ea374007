// SPDX-License-Identifier: GPL-2.0
/*
 * Allocation failures, injected by the kernel's fault injection: for
 * N = 1, 2, ... /proc/thread-self/fail-nth makes the Nth allocation of one
 * system call fail (failslab, and fail_page_alloc for the page allocator),
 * until the call completes without reaching N.  Each call whose allocation
 * failed either still succeeds (a fallback) or fails with ENOMEM, and then
 * leaves nothing behind: no table, no memory in the account, no state
 * change, no module.  run_tests.sh scans kmemleak afterwards.
 *
 * Needs CONFIG_FAULT_INJECTION, CONFIG_FAILSLAB and debugfs: the debug
 * kernel of the matrix.  Debian's kernels have none of them: the tests skip.
 */
#include <liburing.h>
#include <sys/syscall.h>

#include "util.h"

#define FI	"/sys/kernel/debug/"

static int nth_fd = -1, fail_fd = -1;

/* Fail every allocation the fault injection sees, sleeping or not, of
 * any order, and without a stack dump per failure. */
static void fault_setup(void)
{
	static const char *const knobs[][2] = {
		{ FI "failslab/ignore-gfp-wait", "N" },
		{ FI "failslab/verbose", "0" },
		{ FI "fail_page_alloc/ignore-gfp-wait", "N" },
		{ FI "fail_page_alloc/ignore-gfp-highmem", "N" },
		{ FI "fail_page_alloc/min-order", "0" },
		{ FI "fail_page_alloc/verbose", "0" },
	};
	unsigned int i;

	nth_fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	fail_fd = open("/proc/thread-self/make-it-fail", O_RDWR | O_CLOEXEC);
	if (nth_fd < 0 || fail_fd < 0 || access(FI "failslab", F_OK))
		SKIP("no fault injection in this kernel (CONFIG_FAULT_INJECTION, CONFIG_FAILSLAB)");
	for (i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++)
		ASSERT_EQ(write_text(knobs[i][0], knobs[i][1]), 0);
}

/*
 * Every allocation of this thread fails while it is on (the task filter
 * and /proc/thread-self/make-it-fail), fallbacks included.  The memory the
 * call touches must be faulted in before: a user page fault would fail too.
 */
static void fail_all(int on)
{
	static const char *const attrs[] = { FI "failslab/", FI "fail_page_alloc/" };
	/* The task filter first: until it is on, a probability of 100 fails
	 * every allocation of every task. */
	static const char *const knobs[][2] = {
		{ "task-filter", "Y" }, { "interval", "1" }, { "times", "-1" },
		{ "space", "0" }, { "probability", "100" },
	};
	char path[128];
	unsigned int i, k;

	if (on)
		for (i = 0; i < 2; i++)
			for (k = 0; k < sizeof(knobs) / sizeof(knobs[0]); k++) {
				snprintf(path, sizeof(path), "%s%s", attrs[i], knobs[k][0]);
				ASSERT_EQ(write_text(path, knobs[k][1]), 0);
			}
	/* Through a descriptor opened before: opening would allocate. */
	ASSERT_EQ(pwrite(fail_fd, on ? "1" : "0", 1, 0), 1);
	if (!on)
		for (i = 0; i < 2; i++) {
			snprintf(path, sizeof(path), "%sprobability", attrs[i]);
			ASSERT_EQ(write_text(path, "0"), 0);
		}
}

static void arm(int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%d", n);

	ASSERT_EQ(pwrite(nth_fd, buf, len, 0), len);
}

/* Disarm; true if the Nth allocation was reached (and failed). */
static int disarm(void)
{
	char buf[16] = "";
	int left;

	ASSERT_GT(pread(nth_fd, buf, sizeof(buf) - 1, 0), 0);
	left = atoi(buf);
	ASSERT_EQ(pwrite(nth_fd, "0", 1, 0), 1);
	return left == 0;
}

/*
 * Run call() with its Nth allocation failing for N = 1, 2, ...; call()
 * returns 0 or -errno.  failed() checks that a failure changed nothing,
 * done() undoes a success.  Returns how many of the failures the call
 * reported: as ENOMEM, or as the error also.
 */
static int each_failure_of(int (*want)(int n), int (*call)(void *), void (*failed)(void *),
			   void (*done)(void *), void *arg, int also)
{
	int n, ret, injected, enomem = 0, tried = 0;

	for (n = 1; n < 100000; n++) {
		if (want && !want(n))
			continue;
		tried++;
		arm(n);
		ret = call(arg);
		injected = disarm();
		if (!injected) {
			ASSERT_EQ(ret, 0);
			done(arg);
			break;
		}
		if (ret == 0) {
			done(arg);	/* the call got by without it */
			continue;
		}
		if (ret != -ENOMEM && ret != also) {
			TH_LOG("allocation %d failed: the call returned %s", n, strerror(-ret));
			ASSERT_EQ(ret, -ENOMEM);
		}
		enomem++;
		failed(arg);
	}
	TH_LOG("%d allocations, %d failed in turn, %d of whose failures the call reported",
	       n - 1, tried - 1, enomem);
	return enomem;
}

static int each_failure_or(int (*call)(void *), void (*failed)(void *),
			   void (*done)(void *), void *arg, int also)
{
	return each_failure_of(NULL, call, failed, done, arg, also);
}

static int each_failure(int (*call)(void *), void (*failed)(void *),
			void (*done)(void *), void *arg)
{
	return each_failure_or(call, failed, done, arg, -ENOMEM);
}

static void nothing(void *arg)
{
}

/* Opening the device. */
static int open_call(void *arg)
{
	int fd = open(DEV, O_RDWR);

	if (fd < 0)
		return -errno;
	*(int *)arg = fd;
	return 0;
}

static void open_done(void *arg)
{
	close(*(int *)arg);
}

TEST(open_fails_cleanly)
{
	int fd;

	fault_setup();
	ASSERT_GT(each_failure(open_call, nothing, open_done, &fd), 0);
}

/* Creating a table: a failure leaves no table and no memory accounted. */
struct create {
	int fd;
	uint32_t flags;
	uint64_t tables, bytes;
	struct atomik_table_req req;
};

static int create_call(void *arg)
{
	struct create *c = arg;

	c->req = (struct atomik_table_req){ .nr_addrs = 5000,
					    .flags = ATOMIK_TABLE_SELECT | c->flags };
	return ioctl(c->fd, ATOMIK_IOC_TABLE_CREATE, &c->req) ? -errno : 0;
}

static void create_failed(void *arg)
{
	struct create *c = arg;
	struct atomik_info info;

	ASSERT_EQ(sysfs_u64("nr_tables"), c->tables);
	/* A table made and then given up (the file could not record it for
	 * destroy-on-close) frees its rows from a work item.
	 */
	ASSERT_EQ(memory_settles_at(c->bytes), c->bytes);
	ASSERT_OK(ioctl(c->fd, ATOMIK_IOC_INFO, &info));
	ASSERT_EQ(info.table_id, 0);	/* still selected: table 0 */
}

static void create_done(void *arg)
{
	struct create *c = arg;
	struct atomik_table_req sel = { .table_id = 0 };
	struct atomik_table_req del = { .table_id = c->req.table_id };

	ASSERT_EQ(sysfs_u64("nr_tables"), c->tables + 1);
	ASSERT_OK(ioctl(c->fd, ATOMIK_IOC_TABLE_SELECT, &sel));
	ASSERT_OK(ioctl(c->fd, ATOMIK_IOC_TABLE_DESTROY, &del));
	/* A destroyed table's memory goes back after a grace period. */
	ASSERT_EQ(memory_settles_at(c->bytes), c->bytes);
}

/* Plain, and replicated with destroy-on-close (one more row, and the
 * file's record of the table).
 */
TEST(table_create_fails_cleanly)
{
	static const uint32_t flags[] = {
		0, ATOMIK_TABLE_REPLICATED | ATOMIK_TABLE_DESTROY_ON_CLOSE,
	};
	struct create c;
	int i;

	fault_setup();
	for (i = 0; i < 2; i++) {
		ASSERT_OK(c.fd = open(DEV, O_RDWR));
		c.flags = flags[i];
		c.tables = sysfs_u64("nr_tables");
		c.bytes = memory_settled();
		ASSERT_GT(each_failure(create_call, create_failed, create_done, &c), 0);
		close(c.fd);
	}
}

/*
 * Batches, in every size class: a failed batch applies none of its deltas.
 * The batch's deltas XOR to zero over each address when applied twice, so
 * done() applies it again to return to the same states.
 */
struct batch {
	int fd, uring;
	uint32_t n;
	struct atomik_delta *d;
	uint64_t *before, *after;
	struct io_uring ring;
};

static int batch_apply(struct batch *b)
{
	struct atomik_batch req = { .ptr = (uintptr_t)b->d, .count = b->n };
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int ret;

	if (!b->uring)
		return ioctl(b->fd, ATOMIK_IOC_ACCUM_BATCH, &req) ? -errno : 0;
	sqe = io_uring_get_sqe(&b->ring);
	ASSERT_TRUE(sqe != NULL);
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = b->fd;
	sqe->cmd_op = ATOMIK_IOC_ACCUM_BATCH;
	memcpy(sqe->cmd, &req, sizeof(req));
	ret = io_uring_submit(&b->ring);
	if (ret != 1) {
		/* io_uring's own allocation failed: nothing was issued. */
		ASSERT_TRUE(ret < 0);
		io_uring_queue_exit(&b->ring);
		ASSERT_EQ(io_uring_queue_init(4, &b->ring, 0), 0);
		return ret == -EAGAIN ? -ENOMEM : ret;
	}
	ASSERT_EQ(io_uring_wait_cqe(&b->ring, &cqe), 0);
	ret = cqe->res;
	io_uring_cqe_seen(&b->ring, cqe);
	return ret > 0 ? 0 : ret;
}

static int batch_call(void *arg)
{
	return batch_apply(arg);
}

static void batch_states(struct batch *b, uint64_t *v)
{
	struct atomik_range r = { .ptr = (uintptr_t)v, .first = 0, .count = 4096 };

	ASSERT_OK(ioctl(b->fd, ATOMIK_IOC_READ_RANGE, &r));
}

static void batch_failed(void *arg)
{
	struct batch *b = arg;

	batch_states(b, b->after);
	ASSERT_EQ(memcmp(b->before, b->after, 4096 * sizeof(uint64_t)), 0);
}

static void batch_done(void *arg)
{
	struct batch *b = arg;

	ASSERT_EQ(batch_apply(b), 0);
	batch_failed(b);
}

static void batches(int uring)
{
	static const uint32_t sizes[] = { 1, 100, 4096, ATOMIK_MAX_BATCH };
	uint64_t s = test_seed();
	struct batch b = { .uring = uring };
	unsigned int i, k;
	int ret;

	fault_setup();
	ASSERT_OK(b.fd = open(DEV, O_RDWR));
	if (uring)
		ASSERT_EQ(io_uring_queue_init(4, &b.ring, 0), 0);
	b.d = calloc(ATOMIK_MAX_BATCH, sizeof(*b.d));
	b.before = calloc(4096, sizeof(uint64_t));
	b.after = calloc(4096, sizeof(uint64_t));
	ASSERT_TRUE(b.d && b.before && b.after);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		b.n = sizes[i];
		for (k = 0; k < b.n; k++)
			b.d[k] = (struct atomik_delta){ .addr = rnd(&s) % 4096,
							.delta = rnd(&s) };
		batch_states(&b, b.before);
		TH_LOG("batch of %u", b.n);
		/*
		 * A batch past 64 KiB goes to one of io_uring's workers;
		 * when io_uring cannot create one (its own allocation),
		 * it cancels the request before the module sees it.
		 */
		each_failure_or(batch_call, batch_failed, batch_done, &b,
				uring ? -ECANCELED : -ENOMEM);
	}
	/*
	 * A batch past the per-CPU spare buffer allocates its own, and one
	 * failure is absorbed by kvmalloc()'s fallback to vmalloc(): with
	 * every allocation failing, the batch fails with ENOMEM and applies
	 * none of its deltas.
	 */
	fail_all(1);
	ret = batch_apply(&b);
	fail_all(0);
	if (!(uring && ret == -ECANCELED))
		ASSERT_EQ(ret, -ENOMEM);
	batch_failed(&b);
	ASSERT_EQ(batch_apply(&b), 0);
	batch_done(&b);
	if (uring)
		io_uring_queue_exit(&b.ring);
	close(b.fd);
}

TEST(batch_fails_cleanly)
{
	batches(0);
}

TEST(uring_batch_fails_cleanly)
{
	batches(1);
}

/* Reading a range: a failure is ENOMEM; the states are what they were. */
struct range {
	int fd;
	uint64_t v[3000];
};

static int range_call(void *arg)
{
	struct range *r = arg;
	struct atomik_range req = { .ptr = (uintptr_t)r->v, .first = 0, .count = 3000 };

	return ioctl(r->fd, ATOMIK_IOC_READ_RANGE, &req) ? -errno : 0;
}

TEST(read_range_fails_cleanly)
{
	static struct range r;

	fault_setup();
	ASSERT_OK(r.fd = open(DEV, O_RDWR));
	ASSERT_GT(each_failure(range_call, nothing, nothing, &r), 0);
	close(r.fd);
}

/*
 * Loading the module: every allocation of the load (the kernel's and the
 * module's init) fails in turn; a failed load leaves no module and no
 * device behind, and the module loads afterwards.  Runs last: it unloads
 * the module the other tests use, and loads it again.
 */
static int ko_fd = -1;

static int load_call(void *arg)
{
	const char *params = getenv("ATOMIK_MODPARAMS");

	return syscall(SYS_finit_module, ko_fd, params ? params : "", 0) ? -errno : 0;
}

static void load_failed(void *arg)
{
	ASSERT_NE(access("/sys/module/atomik", F_OK), 0);
	ASSERT_NE(access(DEV, F_OK), 0);
}

static void load_done(void *arg)
{
	struct atomik_info info;
	int fd, tries;

	ASSERT_OK(fd = open(DEV, O_RDWR));
	ASSERT_OK(ioctl(fd, ATOMIK_IOC_INFO, &info));
	ASSERT_EQ(info.nr_tables, 1);
	close(fd);
	for (tries = 0; syscall(SYS_delete_module, "atomik", O_NONBLOCK); tries++) {
		ASSERT_GT(100, tries);
		usleep(20000);
	}
}

/*
 * Which allocations of a module load fail in turn.  Under KASAN a load
 * costs most of a second, and a load makes some 600 allocations, most of
 * them the kernel's: the debug build records the loading task's fail-nth
 * count at each step of init (debug_init_fail_nth), and a load with
 * fail-nth set far ahead tells how many allocations came before each.
 * The module loader's own, before init, are the loader's to test and are
 * left alone; every allocation of ours (the table and its workqueue) fails
 * in turn; inside the driver core's calls (pci_register_driver(),
 * misc_register()) and after init, where each failure takes the same path
 * through our code, the first two, the last, and every eighth.
 */
static int init_step[4];	/* allocations made before each step */

static int load_want(int n)
{
	const int *st = init_step;

	if (n <= st[0])		/* the module loader's, before init */
		return 0;
	if (n <= st[1])		/* ours: the table and its workqueue */
		return 1;
	if (n <= st[3])		/* pci_register_driver(), misc_register() */
		return n <= st[1] + 2 || (n > st[2] && n <= st[2] + 2) ||
		       n == st[2] || n == st[3] || n % 8 == 0;
	return n <= st[3] + 2 || n % 8 == 0;	/* after init */
}

static void init_steps(void)
{
	const int armed = 1000000;
	const char *params = getenv("ATOMIK_MODPARAMS");
	unsigned int left[4];
	char buf[64] = "";
	int i;

	arm(armed);
	ASSERT_OK(syscall(SYS_finit_module, ko_fd, params ? params : "", 0));
	ASSERT_EQ(pwrite(nth_fd, "0", 1, 0), 1);
	if (read_text("/sys/module/atomik/parameters/debug_init_fail_nth", buf, sizeof(buf)))
		SKIP("the module has no debug hooks (debug_init_fail_nth)");
	ASSERT_EQ(sscanf(buf, "%u,%u,%u,%u", &left[0], &left[1], &left[2], &left[3]), 4);
	ASSERT_OK(syscall(SYS_delete_module, "atomik", O_NONBLOCK));
	for (i = 0; i < 4; i++) {
		init_step[i] = armed - left[i];
		ASSERT_TRUE(init_step[i] > 0 && (i == 0 || init_step[i] >= init_step[i - 1]));
	}
	TH_LOG("allocations before init: %d; table: %d; PCI driver: %d; device node: %d",
	       init_step[0], init_step[1] - init_step[0], init_step[2] - init_step[1],
	       init_step[3] - init_step[2]);
}

TEST(module_load_fails_cleanly)
{
	const char *ko = getenv("ATOMIK_KO");
	const char *params = getenv("ATOMIK_MODPARAMS");
	char cmd[512];

	fault_setup();
	if (!ko || !*ko)
		SKIP("ATOMIK_KO is not set");
	/* From tmpfs: a failed allocation in the 9p client that serves the
	 * checkout would fail the read with EIO, which is not the test. */
	snprintf(cmd, sizeof(cmd), "cp '%s' /tmp/atomik-fault.ko", ko);
	ASSERT_EQ(system(cmd), 0);
	ASSERT_OK(ko_fd = open("/tmp/atomik-fault.ko", O_RDONLY | O_CLOEXEC));
	ASSERT_OK(syscall(SYS_delete_module, "atomik", O_NONBLOCK));
	init_steps();
	/* The driver core turns some of its allocation failures in
	 * pci_register_driver() into EINVAL ("bus_add_driver: failed to
	 * create module links"): the load still fails cleanly. */
	ASSERT_GT(each_failure_of(load_want, load_call, load_failed, load_done, NULL, -EINVAL), 0);
	ASSERT_OK(syscall(SYS_finit_module, ko_fd, params ? params : "", 0));
	close(ko_fd);
}
