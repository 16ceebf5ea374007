// SPDX-License-Identifier: GPL-2.0
/*
 * The accelerator as a slot of table 0, against the co-simulated device
 * (tools/testing/atomik-vm --fpga: QEMU's ivshmem-plain, the RTL behind it): bind
 * through driver_override, exact states under every backend policy and on
 * both transports, unbind and rebind while threads accumulate, and a
 * device that stops answering.  Skips without the device.
 *
 * The last test kills the co-simulation: run this program last.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "tracefs.h"

#define PCI	"/sys/bus/pci/"
#define DEV_NADDRS	512	/* the co-simulated core's */

static char pci_name[32];

/* The ivshmem device the co-simulation serves, by its PCI IDs. */
static void find_device(void)
{
	char path[300], buf[32];
	struct dirent *de;
	DIR *d;

	if (!getenv("ATOMIK_FPGA") || strcmp(getenv("ATOMIK_FPGA"), "1"))
		SKIP("no co-simulated device (tools/testing/atomik-vm --fpga)");
	ASSERT_TRUE((d = opendir(PCI "devices")) != NULL);
	while ((de = readdir(d))) {
		snprintf(path, sizeof(path), PCI "devices/%s/device", de->d_name);
		if (read_text(path, buf, sizeof(buf)) || strcmp(buf, "0x1110\n"))
			continue;
		snprintf(pci_name, sizeof(pci_name), "%.31s", de->d_name);
		break;
	}
	closedir(d);
	if (!pci_name[0])
		SKIP("no ivshmem device");
}

static int bound(void)
{
	char path[300];

	snprintf(path, sizeof(path), PCI "drivers/atomik/%s", pci_name);
	return access(path, F_OK) == 0;
}

static void bind_device(void)
{
	char path[300], active[64];

	find_device();
	if (!bound()) {
		snprintf(path, sizeof(path), PCI "devices/%s/driver_override", pci_name);
		ASSERT_EQ(write_text(path, "atomik"), 0);
		ASSERT_EQ(write_text(PCI "drivers_probe", pci_name), 0);
	}
	ASSERT_TRUE(bound());
	ASSERT_EQ(read_text(SYSFS "backend_active", active, sizeof(active)), 0);
	ASSERT_EQ(strncmp(active, "fpga ", 5), 0);
}

/* Does the device offer MSI-X or MSI?  Its capability list says. */
static int has_msi(void)
{
	unsigned char cfg[256];
	char path[300];
	int fd, pos, n;

	snprintf(path, sizeof(path), PCI "devices/%s/config", pci_name);
	ASSERT_OK(fd = open(path, O_RDONLY));
	n = read(fd, cfg, sizeof(cfg));	/* as root: all 256 bytes */
	close(fd);
	ASSERT_EQ(n, 256);
	if (!(cfg[0x06] & 0x10))		/* PCI_STATUS_CAP_LIST */
		return 0;
	for (pos = cfg[0x34] & ~3; pos; pos = cfg[pos + 1] & ~3)
		if (cfg[pos] == 0x11 || cfg[pos] == 0x05)	/* MSI-X, MSI */
			return 1;
	return 0;
}

static void unbind_device(void)
{
	ASSERT_EQ(write_text(PCI "drivers/atomik/unbind", pci_name), 0);
	ASSERT_TRUE(!bound());
}

/* The device's registers as the guest sees them (BAR 2 of the ivshmem). */
static volatile uint32_t *map_registers(void)
{
	char path[300];
	void *p;
	int fd;

	snprintf(path, sizeof(path), PCI "devices/%s/resource2", pci_name);
	ASSERT_OK(fd = open(path, O_RDWR | O_SYNC));
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	ASSERT_TRUE(p != MAP_FAILED);
	return p;
}

#define REG_NADDRS	(0x008 / 4)
#define REG_CAPS	(0x00c / 4)

/*
 * Whatever a test did, the runner turns the module's events off after it
 * (and puts the knobs back, util.h).
 */
static void events_off(void)
{
	write_text(TRACEFS "events/atomik/enable", "0");
}

__attribute__((constructor)) static void set_teardown(void)
{
	harness_around(NULL, events_off);
}

static uint64_t model[4096];

/* Load every address of table 0 in [0, n) with a value of the seed. */
static void load_all(struct atomik *a, uint32_t n, uint64_t *s)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		model[i] = rnd(s);
		ASSERT_EQ(x_load(a, i, model[i]), 0);
	}
}

static void check_all(struct atomik *a, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (state(a, i) != model[i]) {
			TH_LOG("address %u", i);
			ASSERT_EQ(state(a, i), model[i]);
		}
}

/* A batch of n deltas over [0, span), into the model too. */
static void batch(struct atomik *a, uint32_t n, uint32_t span, uint64_t *s)
{
	struct atomik_delta d[1024];
	uint32_t i;

	ASSERT_TRUE(n <= 1024);
	for (i = 0; i < n; i++) {
		d[i] = (struct atomik_delta){ .addr = rnd(s) % span, .delta = rnd(s) };
		model[d[i].addr] ^= d[i].delta;
	}
	ASSERT_EQ(x_accum_batch(a, d, n), 0);
}

TEST(bind_reports_device)
{
	char buf[64];

	bind_device();
	sysfs_set("backend", "auto");
	ASSERT_EQ(read_text(SYSFS "backend", buf, sizeof(buf)), 0);
	ASSERT_EQ(strcmp(buf, "auto\n"), 0);
	/* Policies are words; anything else is refused and changes nothing. */
	ASSERT_EQ(write_text(SYSFS "backend", "gpu"), -EINVAL);
	ASSERT_EQ(write_text(SYSFS "fpga_threshold", "0"), -EINVAL);
	ASSERT_EQ(write_text(SYSFS "fpga_threshold", "65537"), -EINVAL);
	ASSERT_EQ(read_text(SYSFS "backend", buf, sizeof(buf)), 0);
	ASSERT_EQ(strcmp(buf, "auto\n"), 0);
}

static void exact_under(const char *policy, int uring)
{
	struct atomik *a;
	uint64_t s = test_seed(), sent, hw;
	uint32_t n, i;

	bind_device();
	if (uring)
		harness_variant = "uring";
	a = open_dev(O_RDWR);
	n = nr_addrs(a) < 1024 ? nr_addrs(a) : 1024;	/* past the device's 512 */
	sysfs_set("backend", policy);
	sysfs_set("fpga_threshold", "64");
	sent = sysfs_u64("fpga_deltas");
	hw = sysfs_u64("fpga_hw_deltas");
	load_all(a, n, &s);
	for (i = 0; i < 20; i++) {
		batch(a, 200, DEV_NADDRS, &s);		/* all on the device's */
		batch(a, 10, DEV_NADDRS, &s);		/* small: CPU under auto */
		batch(a, 100, n, &s);			/* some past the device */
		model[i] ^= 0x5a5a;
		ASSERT_EQ(x_accum(a, i, 0x5a5a), 0);	/* single */
	}
	check_all(a, n);
	/* The device applied what the driver sent it, no more, no less. */
	TH_LOG("%s: %llu deltas through the device", policy,
	       (unsigned long long)(sysfs_u64("fpga_deltas") - sent));
	ASSERT_GT(sysfs_u64("fpga_deltas"), sent);
	ASSERT_EQ(sysfs_u64("fpga_hw_deltas") - hw, sysfs_u64("fpga_deltas") - sent);
	ASSERT_EQ(sysfs_u64("fpga_hw_errors"), 0);
	x_close(a);
	sysfs_set("backend", "auto");
}

TEST(exact_forced_fpga)
{
	exact_under("fpga", 0);
}

TEST(exact_auto_mixed)
{
	exact_under("auto", 0);
}

TEST(exact_forced_fpga_uring)
{
	exact_under("fpga", 1);
}

TEST(exact_auto_mixed_uring)
{
	exact_under("auto", 1);
}

/*
 * A device with MSI-X (ivshmem-doorbell; not ivshmem-plain) interrupts when
 * its ring runs dry, and the driver's waits end on it.
 */
TEST(interrupt_when_ring_runs_dry)
{
	char path[300];
	uint64_t s = test_seed(), before;
	struct atomik *a;
	int n = 0, tries;
	DIR *d;

	bind_device();
	snprintf(path, sizeof(path), PCI "devices/%s/msi_irqs", pci_name);
	d = opendir(path);
	if (d) {
		while (readdir(d))
			n++;
		closedir(d);
	}
	if (n <= 2 || !has_msi())
		SKIP("the device has no MSI-X or MSI (ivshmem-plain): the driver polls");
	a = open_dev(O_RDWR);
	sysfs_set("backend", "fpga");
	before = sysfs_u64("fpga_interrupts");
	load_all(a, 64, &s);
	batch(a, 1000, 64, &s);
	check_all(a, 64);
	/* The message may land a moment after a drain that polled. */
	for (tries = 0; tries < 100 && sysfs_u64("fpga_interrupts") == before; tries++)
		usleep(10000);
	TH_LOG("%llu interrupts", (unsigned long long)(sysfs_u64("fpga_interrupts") - before));
	ASSERT_GT(sysfs_u64("fpga_interrupts"), before);
	x_close(a);
	sysfs_set("backend", "auto");
}

/* With the device bound, "cpu" keeps every delta off it. */
TEST(cpu_policy_bypasses_device)
{
	struct atomik *a;
	uint64_t s = test_seed(), sent;

	bind_device();
	a = open_dev(O_RDWR);
	sysfs_set("backend", "cpu");
	sent = sysfs_u64("fpga_deltas");
	load_all(a, 64, &s);
	batch(a, 500, 64, &s);
	check_all(a, 64);
	ASSERT_EQ(sysfs_u64("fpga_deltas"), sent);
	x_close(a);
	sysfs_set("backend", "auto");
}

/*
 * Unbind while threads accumulate: the driver drains the ring and folds
 * the device's accumulators into the CPU slots; rebind; the final states
 * are exact.  Each thread owns a range of addresses and XORs its deltas
 * into its own model.
 */
#define THREADS	3
static volatile int stop_threads;

struct worker {
	uint32_t first;
	uint64_t s, model[64], calls;
};

static void *accumulate(void *arg)
{
	struct worker *w = arg;
	struct atomik *a = open_dev(O_RDWR);
	struct atomik_delta d[128];
	uint32_t i, n;

	while (!stop_threads) {
		n = w->calls % 3 ? 128 : 1 + rnd(&w->s) % 8;
		for (i = 0; i < n; i++) {
			uint32_t k = rnd(&w->s) % 64;

			d[i] = (struct atomik_delta){ .addr = w->first + k, .delta = rnd(&w->s) };
			w->model[k] ^= d[i].delta;
		}
		ASSERT_EQ(x_accum_batch(a, d, n), 0);
		w->calls++;
	}
	x_close(a);
	return NULL;
}

TEST(unbind_rebind_under_writers)
{
	struct worker w[THREADS] = { 0 };
	pthread_t th[THREADS];
	struct atomik *a;
	uint32_t t, k;

	bind_device();
	a = open_dev(O_RDWR);
	sysfs_set("backend", "auto");
	sysfs_set("fpga_threshold", "64");
	for (t = 0; t < THREADS; t++) {
		w[t].first = 100 + t * 64;	/* all on the device's addresses */
		w[t].s = test_seed() + t;
		for (k = 0; k < 64; k++)
			ASSERT_EQ(x_load(a, w[t].first + k, 0), 0);
		ASSERT_EQ(pthread_create(&th[t], NULL, accumulate, &w[t]), 0);
	}
	usleep(500000);
	unbind_device();
	usleep(300000);
	bind_device();
	usleep(500000);
	unbind_device();
	bind_device();
	usleep(300000);
	stop_threads = 1;
	for (t = 0; t < THREADS; t++) {
		ASSERT_EQ(pthread_join(th[t], NULL), 0);
		TH_LOG("thread %u: %llu calls", t, (unsigned long long)w[t].calls);
		ASSERT_GT(w[t].calls, 10);
		for (k = 0; k < 64; k++)
			ASSERT_EQ(state(a, w[t].first + k), w[t].model[k]);
	}
	x_close(a);
}

/*
 * A device whose NADDRS is absurd (here all ones, 2^32 - 1 addresses) is
 * refused at probe: before the fix it was taken, and its unbind walked four
 * billion accumulators under the driver's write lock (the test timed out).
 * Only table 0's addresses are ever used on a device that has more.
 */
TEST(probe_refuses_absurd_geometry)
{
	volatile uint32_t *regs;
	char active[64];
	uint32_t naddrs;
	int ret;

	char enable[300];

	bind_device();
	unbind_device();
	/* An unbound device may have its memory decoding off: the BAR is
	 * reached with the device enabled through sysfs. */
	snprintf(enable, sizeof(enable), PCI "devices/%s/enable", pci_name);
	ASSERT_EQ(write_text(enable, "1"), 0);
	regs = map_registers();
	naddrs = regs[REG_NADDRS];
	ASSERT_EQ(naddrs, DEV_NADDRS);
	regs[REG_NADDRS] = 0xffffffff;
	munmap((void *)regs, 4096);
	ASSERT_EQ(write_text(enable, "0"), 0);
	/* A probe that claims the BAR revokes user mappings of it. */
	ret = write_text(PCI "drivers_probe", pci_name);
	ASSERT_EQ(write_text(enable, "1"), 0);
	regs = map_registers();
	regs[REG_NADDRS] = naddrs;
	ASSERT_EQ(write_text(enable, "0"), 0);
	munmap((void *)regs, 4096);
	TH_LOG("drivers_probe: %s", strerror(-ret));
	ASSERT_TRUE(ret == 0 || ret == -ENODEV || ret == -EINVAL);
	ASSERT_TRUE(!bound());
	ASSERT_EQ(read_text(SYSFS "backend_active", active, sizeof(active)), 0);
	ASSERT_EQ(strcmp(active, "cpu\n"), 0);
	bind_device();
}

/*
 * Unbind while other threads read and load table 0's addresses that the
 * device holds.  Every read must see the exact state and every load must
 * stick: the unbind folds the device's accumulators into the CPU slots
 * with every operation kept out.  In the debug build each accumulator's
 * fold sleeps 2 ms, so the unbind takes a second.  Before the fix the
 * device was marked gone before the fold, operations skipped the lock, and
 * a read returned 0 instead of 0xd00001ff; a load ended as its value XOR
 * the device's.
 */
#define FOLD_READERS	2
static atomic_int unbinding, fold_errors;
static uint64_t fold_model[DEV_NADDRS];

static void *fold_reader(void *arg)
{
	struct atomik *a = open_dev(O_RDWR);
	uint64_t s = (uintptr_t)arg, v;
	uint32_t addr;

	while (atomic_load(&unbinding)) {
		addr = rnd(&s) % (DEV_NADDRS / 2);	/* the static half */
		ASSERT_EQ(x_read(a, addr, &v), 0);
		if (v != fold_model[addr]) {
			TH_LOG("read(%u) = 0x%llx, not 0x%llx", addr,
			       (unsigned long long)v, (unsigned long long)fold_model[addr]);
			atomic_fetch_add(&fold_errors, 1);
		}
	}
	x_close(a);
	return NULL;
}

static void *fold_loader(void *arg)
{
	struct atomik *a = open_dev(O_RDWR);
	uint32_t addr = DEV_NADDRS / 2;

	while (atomic_load(&unbinding)) {
		ASSERT_EQ(x_load(a, addr, 0x1111 + addr), 0);
		fold_model[addr] = 0x1111 + addr;
		if (++addr == DEV_NADDRS)
			addr = DEV_NADDRS / 2;
	}
	x_close(a);
	return NULL;
}

TEST(unbind_keeps_operations_out_of_the_fold)
{
	pthread_t th[FOLD_READERS + 1];
	int hooks = has_debug_hooks(), i;
	struct atomik_delta d[DEV_NADDRS];
	struct atomik *a;
	uint32_t addr;

	bind_device();
	a = open_dev(O_RDWR);
	sysfs_set("backend", "fpga");
	for (addr = 0; addr < DEV_NADDRS; addr++) {
		ASSERT_EQ(x_load(a, addr, 0), 0);
		d[addr] = (struct atomik_delta){ .addr = addr, .delta = 0xd0000000 | addr };
		fold_model[addr] = 0xd0000000 | addr;
	}
	ASSERT_EQ(x_accum_batch(a, d, DEV_NADDRS), 0);	/* all on the device */
	if (hooks)
		debug_set("delay_unbind_us", 2000);
	atomic_store(&unbinding, 1);
	for (i = 0; i < FOLD_READERS; i++)
		ASSERT_EQ(pthread_create(&th[i], NULL, fold_reader,
					 (void *)(uintptr_t)(test_seed() + i)), 0);
	ASSERT_EQ(pthread_create(&th[i], NULL, fold_loader, NULL), 0);
	usleep(100000);
	unbind_device();
	usleep(100000);
	atomic_store(&unbinding, 0);
	for (i = 0; i <= FOLD_READERS; i++)
		ASSERT_EQ(pthread_join(th[i], NULL), 0);
	if (hooks)
		debug_set("delay_unbind_us", 0);
	i = atomic_load(&fold_errors);
	ASSERT_EQ(i, 0);
	for (addr = 0; addr < DEV_NADDRS; addr++)
		if (state(a, addr) != fold_model[addr]) {
			TH_LOG("address %u", addr);
			ASSERT_EQ(state(a, addr), fold_model[addr]);
		}
	x_close(a);
	bind_device();
	sysfs_set("backend", "auto");
}

/*
 * Swaps race deltas that the device takes, two addresses at a time.  Each
 * address gets 64 deltas, one bit each, so every bit must be returned by exactly one swap or stay
 * in the final state: no two swaps' old states and the final state share a
 * bit, and together they hold all 64.  In the debug build every other
 * operation sleeps 1 ms between reading the device and its table section,
 * so that a later swap overtakes an earlier one.  Before the fix the
 * device was read outside the table's lock: a delta landing between two
 * swaps' reads was returned by both (and stayed in the state: three
 * times, which an XOR of everything cannot see).
 */
#define SWAP_ROUNDS	32
#define SWAP_ADDRS	(2 * SWAP_ROUNDS)	/* two per round */
static atomic_int swapping, swap_round;

struct swapper {
	uint64_t s, got[SWAP_ADDRS];
	int twice;
};

static void *dev_swapper(void *arg)
{
	struct atomik *a = open_dev(O_RDWR);
	struct swapper *w = arg;
	uint64_t old;
	uint32_t addr;

	while (atomic_load(&swapping)) {
		addr = 2 * atomic_load(&swap_round) + rnd(&w->s) % 2;
		ASSERT_EQ(x_swap(a, addr, 0, &old), 0);
		if (w->got[addr] & old)
			w->twice++;
		w->got[addr] |= old;
	}
	x_close(a);
	return NULL;
}

TEST(swaps_count_device_deltas_once)
{
	struct swapper w[2] = { { .s = test_seed() }, { .s = test_seed() + 1 } };
	int hooks = has_debug_hooks(), i, bad = 0;
	uint32_t addr, bit;
	struct atomik *a;
	pthread_t th[2];

	bind_device();
	a = open_dev(O_RDWR);
	sysfs_set("backend", "fpga");
	for (addr = 0; addr < SWAP_ADDRS; addr++)
		ASSERT_EQ(x_load(a, addr, 0), 0);
	if (hooks)
		debug_set("delay_device_us", 1000);
	atomic_store(&swapping, 1);
	for (i = 0; i < 2; i++)
		ASSERT_EQ(pthread_create(&th[i], NULL, dev_swapper, &w[i]), 0);
	/* Rounds of two addresses, so that both swappers meet on them. */
	for (i = 0; i < SWAP_ROUNDS; i++) {
		atomic_store(&swap_round, i);
		for (bit = 0; bit < 64; bit++) {
			ASSERT_EQ(x_accum(a, 2 * i, 1ULL << bit), 0);
			ASSERT_EQ(x_accum(a, 2 * i + 1, 1ULL << bit), 0);
			usleep(100);
		}
	}
	atomic_store(&swapping, 0);
	for (i = 0; i < 2; i++)
		ASSERT_EQ(pthread_join(th[i], NULL), 0);
	if (hooks)
		debug_set("delay_device_us", 0);
	for (addr = 0; addr < SWAP_ADDRS; addr++) {
		uint64_t fin = state(a, addr);

		if ((w[0].got[addr] & w[1].got[addr]) ||
		    ((w[0].got[addr] | w[1].got[addr]) & fin) ||
		    (w[0].got[addr] | w[1].got[addr] | fin) != ~0ULL) {
			TH_LOG("address %u: swaps 0x%llx and 0x%llx, state 0x%llx", addr,
			       (unsigned long long)w[0].got[addr],
			       (unsigned long long)w[1].got[addr], (unsigned long long)fin);
			bad++;
		}
	}
	TH_LOG("%d deltas through the device against two swapping threads",
	       64 * SWAP_ADDRS);
	ASSERT_EQ(w[0].twice + w[1].twice, 0);
	ASSERT_EQ(bad, 0);
	x_close(a);
	sysfs_set("backend", "auto");
}

/*
 * Bind with the Nth allocation failing, for N = 1, 2, ... until a bind
 * gets through (fault injection: the debug kernel only): the driver core's
 * allocations and then the probe's.  A failed bind leaves the device
 * unbound and the module on the CPU slots; after the last, the device
 * works.  The kernel log shows each failed probe; run_tests.sh's kmemleak
 * scan comes after.
 */
TEST(probe_fails_cleanly)
{
	char path[300], buf[16];
	int nth, n, failed = 0;
	struct atomik *a;

	find_device();
	if (has_msi())
		SKIP("a device with MSI-X: the kernel's own IRQ setup warns when its allocations fail (remove_proc_entry), so this runs on the polled device");
	nth = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	if (nth < 0 || access("/sys/kernel/debug/failslab", F_OK))
		SKIP("no fault injection in this kernel (CONFIG_FAULT_INJECTION, CONFIG_FAILSLAB)");
	ASSERT_EQ(write_text("/sys/kernel/debug/failslab/ignore-gfp-wait", "N"), 0);
	ASSERT_EQ(write_text("/sys/kernel/debug/failslab/verbose", "0"), 0);
	if (bound())
		unbind_device();
	snprintf(path, sizeof(path), PCI "devices/%s/driver_override", pci_name);
	ASSERT_EQ(write_text(path, "atomik"), 0);
	for (n = 1; n < 10000; n++) {
		int len = snprintf(buf, sizeof(buf), "%d", n), ret, left;

		ASSERT_EQ(pwrite(nth, buf, len, 0), len);
		ret = write_text(PCI "drivers_probe", pci_name);
		ASSERT_GT(pread(nth, buf, sizeof(buf) - 1, 0), 0);
		left = atoi(buf);
		ASSERT_EQ(pwrite(nth, "0", 1, 0), 1);
		if (left != 0) {		/* no allocation failed: bound */
			ASSERT_EQ(ret, 0);
			ASSERT_TRUE(bound());
			break;
		}
		if (bound()) {			/* the failure had a fallback */
			unbind_device();
			continue;
		}
		/* Not bound.  drivers_probe reports a failed probe as EINVAL,
		 * an allocation failure of its own as ENOMEM, and one in the
		 * driver core before the probe not at all. */
		failed++;
		if (ret != 0 && ret != -EINVAL && ret != -ENOMEM)
			ASSERT_EQ(ret, -EINVAL);
		ASSERT_EQ(read_text(SYSFS "backend_active", buf, sizeof(buf)), 0);
		ASSERT_EQ(strcmp(buf, "cpu\n"), 0);
	}
	TH_LOG("%d allocations, %d failed probes", n - 1, failed);
	ASSERT_GT(failed, 0);
	/* The device bound last works. */
	a = open_dev(O_RDWR);
	sysfs_set("backend", "fpga");
	ASSERT_EQ(x_load(a, 7, 0x70), 0);
	ASSERT_EQ(x_accum(a, 7, 0x07), 0);
	ASSERT_EQ(state(a, 7), 0x77);
	sysfs_set("backend", "auto");
	x_close(a);
}

/*
 * The device's tracepoints: a bind, a batch it takes and an unbind that
 * folds what it held give exactly these events, with the geometry the
 * device reports and the counts the calls imply.
 */
TEST(device_events_traced)
{
	struct atomik_delta d[3] = {
		{ .addr = 1, .delta = 0x10 }, { .addr = 2, .delta = 0x20 },
		{ .addr = 1, .delta = 0x01 },
	};
	char expect[1024], bind_line[128];
	volatile uint32_t *regs;
	struct atomik *a;
	uint32_t ring;
	size_t n = 0;

	bind_device();
	tracefs_ready();
	a = open_dev(O_RDWR);
	ASSERT_EQ(x_load(a, 1, 0x1000), 0);
	ASSERT_EQ(x_load(a, 2, 0x2000), 0);
	unbind_device();
	/* The ring's size, as the device reports it (unbound, it can be mapped). */
	regs = map_registers();
	ring = 1u << ((regs[REG_CAPS] >> 8) & 0xff);
	munmap((void *)regs, 4096);
	trace_set(NULL, "0");
	trace_clear();
	trace_set("atomik_fpga_bind", "1");
	trace_set("atomik_fpga_unbind", "1");
	trace_set("atomik_fpga_push", "1");
	trace_set("atomik_batch", "1");

	bind_device();
	snprintf(bind_line, sizeof(bind_line),
		 "atomik_fpga_bind: nr_addrs=%u ring_entries=%u irq=%d\n",
		 DEV_NADDRS, ring, has_msi());
	n += snprintf(expect + n, sizeof(expect) - n, "%s", bind_line);
	sysfs_set("backend", "fpga");
	ASSERT_EQ(x_accum_batch(a, d, 3), 0);
	/* A fresh ring: its tail moves from 0 to 3. */
	n += snprintf(expect + n, sizeof(expect) - n,
		      "atomik_fpga_push: count=3 tail=3\n"
		      "atomik_batch: table=0 count=3 path=fpga\n");
	/* Two accumulators hold something: 1 (0x11) and 2 (0x20). */
	unbind_device();
	n += snprintf(expect + n, sizeof(expect) - n,
		      "atomik_fpga_unbind: folded=2 failed=0\n");
	bind_device();
	n += snprintf(expect + n, sizeof(expect) - n, "%s", bind_line);
	trace_set(NULL, "0");
	trace_expect(expect);
	/* The fold kept every state. */
	ASSERT_EQ(state(a, 1), 0x1000 ^ 0x11);
	ASSERT_EQ(state(a, 2), 0x2000 ^ 0x20);
	x_close(a);
	sysfs_set("backend", "auto");
}

/*
 * The co-simulation dies mid-stream (the guest asks it to exit, as a
 * crashed device would stop): the driver times out, reports it in the
 * kernel log and in sysfs, and table 0 goes on in the CPU slots.  What
 * the device held is lost (Documentation/atomik/fpga.rst); everything
 * else is exact, and unbinding the dead device does not hang.
 */
TEST(device_death_falls_back)
{
	uint64_t s = test_seed(), failures;
	char path[300], active[64];
	struct atomik *a;
	int fd;

	uint64_t survive[32];
	uint32_t i;
	int removed;

	bind_device();
	a = open_dev(O_RDWR);
	sysfs_set("backend", "fpga");
	failures = sysfs_u64("fpga_failures");
	load_all(a, 1024, &s);
	batch(a, 300, DEV_NADDRS, &s);
	check_all(a, 1024);
	/*
	 * What a death keeps (Documentation/atomik/fpga.rst): an address's
	 * state at its last load or swap, and the deltas the CPU slots took
	 * since.  Addresses 0-15: device deltas, then a load; before the fix
	 * the device's part came back after the death (ACCUM(7, 0xAA) to the
	 * device, LOAD(7, 0x55), death: 0xFF).  16-31: a load, deltas to the
	 * device (lost) and to the CPU slots (kept).
	 */
	for (i = 0; i < 32; i++) {
		ASSERT_EQ(x_accum(a, i, 0xaa00 + i), 0);
		survive[i] = 0x5500 + i;
		ASSERT_EQ(x_load(a, i, survive[i]), 0);
	}
	for (i = 16; i < 32; i++)
		ASSERT_EQ(x_accum(a, i, 0xd0000 + i), 0);	/* device */
	sysfs_set("backend", "cpu");
	for (i = 16; i < 32; i++) {
		ASSERT_EQ(x_accum(a, i, 0xc000000 + i), 0);	/* CPU */
		survive[i] ^= 0xc000000 + i;
	}
	sysfs_set("backend", "fpga");

	/*
	 * The co-simulation exits when this file appears in the run folder.
	 * With MSI-X it leaves as a removed device does: its registers read
	 * all ones, and the next push sees that at once (before the fix, an
	 * all-ones RING_HEAD counted as free room and the entries were
	 * written).  The polled device stays silent instead: entries into a
	 * ring nobody takes are accepted and lost, and the read that follows
	 * waits for them and gives up.
	 */
	removed = has_msi();
	tracefs_ready();
	trace_set(NULL, "0");
	trace_clear();
	trace_set("atomik_fpga_failure", "1");
	ASSERT_TRUE(getenv("ATOMIK_OUT") != NULL);
	snprintf(path, sizeof(path), "%s/cosim.kill", getenv("ATOMIK_OUT"));
	{
		char tmp[310];

		/* Whole when it appears: written aside, then renamed. */
		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		ASSERT_OK(fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644));
		if (removed)
			ASSERT_EQ(write(fd, "remove\n", 7), 7);
		close(fd);
		ASSERT_OK(rename(tmp, path));
	}
	usleep(500000);

	if (removed) {
		ASSERT_EQ(x_accum(a, 100, 1), 0);	/* refused: the CPU takes it */
		model[100] ^= 1;
		ASSERT_EQ(sysfs_u64("fpga_failures"), failures + 1);
	} else {
		struct atomik_delta lost[100];

		for (i = 0; i < 100; i++)	/* clear of 0-31; fits the ring */
			lost[i] = (struct atomik_delta){ .addr = 100 + i, .delta = rnd(&s) };
		ASSERT_EQ(x_accum_batch(a, lost, 100), 0);
		state(a, 0);
	}
	ASSERT_EQ(sysfs_u64("fpga_failures"), failures + 1);
	/* The push saw the device gone; the polled device's read timed out. */
	trace_set(NULL, "0");
	trace_expect(removed ? "atomik_fpga_failure: what=ring\n" :
			       "atomik_fpga_failure: what=read\n");
	for (i = 0; i < 32; i++) {
		if (state(a, i) != survive[i])
			TH_LOG("address %u", i);
		ASSERT_EQ(state(a, i), survive[i]);
	}
	batch(a, 300, 1024, &s);
	ASSERT_EQ(read_text(SYSFS "backend_active", active, sizeof(active)), 0);
	TH_LOG("backend_active: %s", active);
	ASSERT_EQ(strncmp(active, "cpu (fpga ", 10), 0);
	for (i = DEV_NADDRS; i < 1024; i++)
		ASSERT_EQ(state(a, i), model[i]);
	/* The device's addresses work again from a load. */
	for (i = 0; i < DEV_NADDRS; i++) {
		ASSERT_EQ(x_load(a, i, i), 0);
		ASSERT_EQ(x_accum(a, i, 0x100), 0);
		ASSERT_EQ(state(a, i), i ^ 0x100);
	}
	unbind_device();
	ASSERT_EQ(read_text(SYSFS "backend_active", active, sizeof(active)), 0);
	ASSERT_EQ(strcmp(active, "cpu\n"), 0);
	x_close(a);
	sysfs_set("backend", "auto");
}
