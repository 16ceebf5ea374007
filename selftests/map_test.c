// SPDX-License-Identifier: GPL-2.0
/*
 * Mapped writers (atomik_map(3)): a table's CPU rows mapped into the
 * process, each delta XORed in by the process itself inside a restartable
 * sequence.  Every promise of the system calls holds for them: exact states
 * on every CPU, swaps that lose and duplicate nothing, the kernel's own
 * writers on the same CPU, replicated tables, table 0 with the accelerator,
 * CPU hotplug, a table destroyed while mapped, fork, and what is refused.
 *
 * Every test runs twice: "rseq", where the library's sequences apply the
 * deltas and the kernel counts none of them (sysfs deltas), and "ioctl",
 * where ATOMIK_NO_RSEQ makes the same calls fall back to the ioctls, which
 * count each.  The counter tells which path really ran.
 */
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/rseq.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "util.h"

HARNESS_VARIANTS("rseq", "ioctl")

#define USER_A	1000

static int via_rseq(void)
{
	return !strcmp(harness_variant, "rseq");
}

/* A map of a's current table, made as the variant says. */
static struct atomik_map *map_of(struct atomik *a)
{
	struct atomik_map *m = NULL;

	if (via_rseq())
		ASSERT_OK(unsetenv("ATOMIK_NO_RSEQ"));
	else
		ASSERT_OK(setenv("ATOMIK_NO_RSEQ", "1", 1));
	ASSERT_EQ(atomik_map(a, &m), 0);
	return m;
}

/* Deltas the system calls have applied so far. */
static uint64_t counted(void)
{
	return sysfs_u64("deltas");
}

/*
 * n deltas went through a map since counted() read before: the kernel
 * counted none of them with the sequences, every one with the ioctls.
 */
static void went_through(uint64_t before, uint64_t n)
{
	ASSERT_EQ(counted() - before, via_rseq() ? 0 : n);
}

static int nr_cpus(void)
{
	return sysconf(_SC_NPROCESSORS_ONLN);
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	ASSERT_OK(sched_setaffinity(0, sizeof(set), &set));
}

static void unpin(void)
{
	cpu_set_t set;
	int i;

	CPU_ZERO(&set);
	for (i = 0; i < CPU_SETSIZE; i++)
		CPU_SET(i, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void read_all(struct atomik *a, uint32_t n, uint64_t *v)
{
	ASSERT_EQ(atomik_read_range(a, 0, n, v), 0);
}

/*
 * The tests' own table of ADDRS addresses, selected on a handle, and a map
 * of it; destroyed by the teardown, also when the test failed.
 */
#define ADDRS	1024

FIXTURE(table) {
	struct atomik *a;
	struct atomik_map *m;
	uint32_t id;
	int made;
};

FIXTURE_SETUP(table)
{
	self->a = open_dev(O_RDWR);
	ASSERT_EQ(atomik_table_create(self->a, ADDRS, ATOMIK_TABLE_SELECT, &self->id), 0);
	self->made = 1;
	self->m = map_of(self->a);
}

FIXTURE_TEARDOWN(table)
{
	atomik_unmap(self->m);
	if (self->made)
		EXPECT_EQ(atomik_table_destroy(self->a, self->id), 0);
	if (self->a)
		atomik_close(self->a);
}

/* The mapping shows CPU c's row at c * map_stride, as the kernel writes it. */
TEST(rows_lie_where_info_says)
{
	struct atomik *a = open_dev(O_RDWR);
	struct atomik_info info;
	uint64_t *row;
	uint32_t id;
	char *p;
	int cpu, c;

	ASSERT_EQ(atomik_table_create(a, 100, ATOMIK_TABLE_SELECT, &id), 0);
	ASSERT_EQ(atomik_info(a, &info), 0);
	/* 100 addresses: a power of two of at least 800 bytes a row. */
	ASSERT_EQ(info.map_stride, 1024);
	p = mmap(NULL, info.map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, atomik_fd(a), 0);
	ASSERT_TRUE(p != MAP_FAILED);
	for (cpu = 0; cpu < nr_cpus(); cpu++) {
		pin(cpu);
		ASSERT_EQ(atomik_accum(a, 7, 0x100ULL << cpu), 0);
	}
	unpin();
	for (cpu = 0; cpu < nr_cpus(); cpu++) {
		row = (uint64_t *)(p + (size_t)cpu * info.map_stride);
		ASSERT_EQ(row[7], 0x100ULL << cpu);
		for (c = 0; c < 100; c++)
			if (c != 7)
				ASSERT_EQ(row[c], 0);
	}
	ASSERT_OK(munmap(p, info.map_bytes));
	ASSERT_EQ(atomik_table_destroy(a, id), 0);
	atomik_close(a);
}

/* n random deltas on the table's addresses, each noted in want. */
static void random_batch(uint64_t *seed, struct atomik_delta *d, int n, uint64_t *want)
{
	int i;

	for (i = 0; i < n; i++) {
		d[i] = (struct atomik_delta){ .addr = rnd(seed) % ADDRS, .delta = rnd(seed) };
		want[d[i].addr] ^= d[i].delta;
	}
}

/* Writers on every CPU, pinned and free to migrate, singles and batches. */
struct writer {
	pthread_t tid;
	struct atomik_map *m;
	int cpu;		/* -1: not pinned */
	uint64_t seed, deltas;
	uint64_t want[ADDRS];
	atomic_int *stop;	/* NULL: 2000 rounds */
	int err;
};

static void *writer_run(void *arg)
{
	struct writer *w = arg;
	struct atomik_delta d[64];
	int round, n;

	if (w->cpu >= 0)
		pin(w->cpu);
	for (round = 0; !w->err; round++) {
		if (w->stop ? atomic_load(w->stop) : round == 2000)
			break;
		if (rnd(&w->seed) & 1) {
			uint32_t addr = rnd(&w->seed) % ADDRS;
			uint64_t delta = rnd(&w->seed);

			w->err = atomik_map_accum(w->m, addr, delta);
			w->want[addr] ^= delta;
			w->deltas++;
			continue;
		}
		n = 1 + rnd(&w->seed) % 64;
		random_batch(&w->seed, d, n, w->want);
		w->err = atomik_map_accum_batch(w->m, d, n);
		w->deltas += n;
	}
	return NULL;
}

TEST_F(table, every_cpu_exact)
{
	int n = 2 * nr_cpus() + 2, i, j;
	struct writer *w = calloc(n, sizeof(*w));
	uint64_t seed = test_seed(), want[ADDRS], got[ADDRS], before, total = 0;

	ASSERT_TRUE(w != NULL);
	for (j = 0; j < ADDRS; j++) {
		want[j] = rnd(&seed);
		ASSERT_EQ(atomik_load(self->a, j, want[j]), 0);
	}
	before = counted();
	for (i = 0; i < n; i++) {
		w[i].m = self->m;
		w[i].cpu = i < 2 * nr_cpus() ? i % nr_cpus() : -1;
		w[i].seed = rnd(&seed) | 1;
		ASSERT_EQ(pthread_create(&w[i].tid, NULL, writer_run, &w[i]), 0);
	}
	for (i = 0; i < n; i++) {
		pthread_join(w[i].tid, NULL);
		ASSERT_EQ(w[i].err, 0);
		for (j = 0; j < ADDRS; j++)
			want[j] ^= w[i].want[j];
		total += w[i].deltas;
	}
	went_through(before, total);
	read_all(self->a, ADDRS, got);
	for (j = 0; j < ADDRS; j++)
		ASSERT_EQ(got[j], want[j]);
	TH_LOG("%d writers, %llu deltas", n, (unsigned long long)total);
	free(w);
}

/*
 * Swaps while mapped writers on other CPUs accumulate into the same
 * address: every delta is in exactly one swap's result or in the state
 * after the last one.  The XOR of what each swap took (its result XOR the
 * reference before it) and of the final state XOR the last reference is
 * the XOR of every delta.
 */
struct swap_writer {
	pthread_t tid;
	struct atomik_map *m;
	int cpu;
	uint32_t addr;
	uint64_t seed, total;
	int err;
	atomic_int *finished;
	atomic_int *swaps;	/* the swapper's, so far */
};

static void *swap_writer_run(void *arg)
{
	struct swap_writer *w = arg;
	struct atomik_delta d[16];
	int i, j;

	pin(w->cpu);
	/*
	 * 4000 rounds, and on until the swapper has swapped eight times: a
	 * swap can be slow (the accelerator's, on the debug kernel), and the
	 * test is of swaps among mapped writes (bounded all the same).
	 */
	for (i = 0; (i < 4000 || atomic_load(w->swaps) < 8) && i < 4000000 && !w->err; i++) {
		if (i & 1) {
			uint64_t x = rnd(&w->seed);

			w->err = atomik_map_accum(w->m, w->addr, x);
			w->total ^= x;
			continue;
		}
		for (j = 0; j < 16; j++) {
			d[j] = (struct atomik_delta){ .addr = w->addr, .delta = rnd(&w->seed) };
			w->total ^= d[j].delta;
		}
		w->err = atomik_map_accum_batch(w->m, d, 16);
	}
	atomic_fetch_add(w->finished, 1);
	return NULL;
}

/* Swap addr (a of t's handle) until the writers finish; check the sum. */
static void swap_against(struct atomik *a, struct atomik_map *m, uint32_t addr)
{
	int n = nr_cpus() > 1 ? nr_cpus() - 1 : 1, i, swaps = 0;
	struct swap_writer *w = calloc(n, sizeof(*w));
	uint64_t seed = test_seed(), ref, next, old, seen = 0, want = 0;
	atomic_int finished = 0, swapped = 0;

	ASSERT_TRUE(w != NULL);
	ref = rnd(&seed);
	ASSERT_EQ(atomik_load(a, addr, ref), 0);
	/* The swapper on the last CPU, the writers on the others. */
	pin(nr_cpus() - 1);
	for (i = 0; i < n; i++) {
		w[i] = (struct swap_writer){ .m = m, .cpu = i % nr_cpus(), .addr = addr,
					     .seed = rnd(&seed) | 1, .finished = &finished,
					     .swaps = &swapped };
		ASSERT_EQ(pthread_create(&w[i].tid, NULL, swap_writer_run, &w[i]), 0);
	}
	for (;;) {
		int live = atomic_load(&finished) < n;

		if (swaps % 3 == 2) {
			/* The state becomes the reference: it took old ^ ref. */
			ASSERT_EQ(atomik_swap_keep(a, addr, &old), 0);
			next = old;
		} else {
			next = rnd(&seed);
			ASSERT_EQ(atomik_swap(a, addr, next, &old), 0);
		}
		seen ^= old ^ ref;
		ref = next;
		swaps++;
		atomic_store(&swapped, swaps);
		if (!live)
			break;
	}
	unpin();
	for (i = 0; i < n; i++) {
		pthread_join(w[i].tid, NULL);
		ASSERT_EQ(w[i].err, 0);
		want ^= w[i].total;
	}
	seen ^= state(a, addr) ^ ref;
	TH_LOG("%d writers, %d swaps", n, swaps);
	ASSERT_GT(swaps, 1);
	ASSERT_EQ(seen, want);
	free(w);
}

TEST_F(table, swap_loses_and_duplicates_nothing)
{
	swap_against(self->a, self->m, 5);
}

/*
 * Batches interrupted by signals whose handler accumulates through the
 * same map, on threads free to migrate: a batch keeps its CPU's row while
 * the thread's rseq area still holds its own descriptor, which the
 * handler's call (a descriptor of its own, cleared as it returns) and the
 * kernel (cleared on every preemption, migration or signal outside a
 * sequence) must both make it read again.  Every delta, the handlers'
 * included, is in the final state exactly once.
 */
struct sig_writer {
	pthread_t tid;
	struct atomik_map *m;
	uint64_t seed, hseed, batches, signals;
	uint64_t want[ADDRS], hwant[ADDRS];
	atomic_int *stop, ready;
	int err, herr;
};

static __thread struct sig_writer *sig_self;

static void sig_accum(int sig)
{
	struct sig_writer *w = sig_self;
	struct atomik_delta d[3];
	int ret;

	if (!w)
		return;
	random_batch(&w->hseed, d, 3, w->hwant);
	ret = atomik_map_accum_batch(w->m, d, 3);
	if (ret)
		w->herr = ret;
	w->signals++;
}

static void *sig_writer_run(void *arg)
{
	struct sig_writer *w = arg;
	struct atomik_delta *mine = malloc(512 * sizeof(*mine));
	int n;

	if (!mine) {
		w->err = -ENOMEM;
		return NULL;
	}
	sig_self = w;
	atomic_store(&w->ready, 1);
	while (!atomic_load(w->stop) && !w->err) {
		n = 1 + rnd(&w->seed) % 512;
		random_batch(&w->seed, mine, n, w->want);
		w->err = atomik_map_accum_batch(w->m, mine, n);
		w->batches++;
	}
	free(mine);
	return NULL;
}

TEST_F(table, signals_nest_in_batches)
{
	int n = nr_cpus() + 2, i, j, round;
	struct sig_writer *w = calloc(n, sizeof(*w));
	uint64_t seed = test_seed(), want[ADDRS], got[ADDRS], signals = 0;
	struct sigaction sa = { .sa_handler = sig_accum, .sa_flags = SA_RESTART };
	atomic_int stop = 0;

	ASSERT_TRUE(w != NULL);
	ASSERT_OK(sigaction(SIGUSR1, &sa, NULL));
	for (j = 0; j < ADDRS; j++) {
		want[j] = rnd(&seed);
		ASSERT_EQ(atomik_load(self->a, j, want[j]), 0);
	}
	for (i = 0; i < n; i++) {
		w[i].m = self->m;
		w[i].seed = rnd(&seed) | 1;
		w[i].hseed = rnd(&seed) | 1;
		w[i].stop = &stop;
		ASSERT_EQ(pthread_create(&w[i].tid, NULL, sig_writer_run, &w[i]), 0);
	}
	for (i = 0; i < n; i++)
		while (!atomic_load(&w[i].ready))
			sched_yield();
	/* About 2000 signals to each writer, each at a point it happens to be. */
	for (round = 0; round < 2000; round++) {
		for (i = 0; i < n; i++)
			pthread_kill(w[i].tid, SIGUSR1);
		if (round % 16 == 0)
			sched_yield();
	}
	atomic_store(&stop, 1);
	for (i = 0; i < n; i++) {
		pthread_join(w[i].tid, NULL);
		ASSERT_EQ(w[i].err, 0);
		ASSERT_EQ(w[i].herr, 0);
		for (j = 0; j < ADDRS; j++)
			want[j] ^= w[i].want[j] ^ w[i].hwant[j];
		signals += w[i].signals;
	}
	signal(SIGUSR1, SIG_DFL);
	read_all(self->a, ADDRS, got);
	for (j = 0; j < ADDRS; j++)
		ASSERT_EQ(got[j], want[j]);
	ASSERT_GT(signals, 0);
	TH_LOG("%d writers, %llu signals handled inside their batches' calls or between",
	       n, (unsigned long long)signals);
	free(w);
}

/*
 * The kernel's own writers (ACCUM_BATCH) and mapped writers on one CPU, on
 * the same few addresses.  The mapped writer runs at a real-time priority
 * and sleeps between short bursts, so that it preempts the kernel writer
 * at any point of its batch.  A kernel writer that could be preempted
 * between the load and the store of its XOR (PREEMPT_RT's slot lock alone
 * allows it) would overwrite the mapped writer's delta.
 */
#define SHARED_ADDRS	8

struct cpu_pair {
	pthread_t mapped_tid, kernel_tid;
	struct atomik *a;
	struct atomik_map *m;
	int cpu, err;
	uint64_t seed, kseed, bursts;
	uint64_t want[SHARED_ADDRS], kwant[SHARED_ADDRS];
	atomic_int *stop;
};

static void *pair_mapped(void *arg)
{
	struct cpu_pair *p = arg;
	struct sched_param sp = { .sched_priority = 1 };
	int i;

	pin(p->cpu);
	if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp))
		p->err = -EPERM;
	while (!p->err && !atomic_load(p->stop)) {
		for (i = 0; i < SHARED_ADDRS && !p->err; i++) {
			uint64_t x = rnd(&p->seed);

			p->err = atomik_map_accum(p->m, i, x);
			p->want[i] ^= x;
		}
		p->bursts++;
		usleep(50 + rnd(&p->seed) % 200);
	}
	return NULL;
}

static void *pair_kernel(void *arg)
{
	struct cpu_pair *p = arg;
	struct atomik_delta *d = calloc(4096, sizeof(*d));
	int i, err = d ? 0 : -ENOMEM;

	pin(p->cpu);
	while (!err && !atomic_load(p->stop)) {
		for (i = 0; i < 4096; i++) {
			d[i] = (struct atomik_delta){ .addr = i % SHARED_ADDRS,
						      .delta = rnd(&p->kseed) };
			p->kwant[i % SHARED_ADDRS] ^= d[i].delta;
		}
		err = atomik_accum_batch(p->a, d, 4096);
	}
	if (err)
		p->err = err;
	free(d);
	return NULL;
}

TEST_F(table, kernel_and_mapped_writers_share_a_cpu)
{
	int n = nr_cpus(), i, j;
	struct cpu_pair *p = calloc(n, sizeof(*p));
	uint64_t seed = test_seed(), want[SHARED_ADDRS] = { 0 }, bursts = 0;
	atomic_int stop = 0;

	ASSERT_TRUE(p != NULL);
	for (i = 0; i < n; i++) {
		p[i] = (struct cpu_pair){ .a = self->a, .m = self->m, .cpu = i,
					  .seed = rnd(&seed) | 1, .kseed = rnd(&seed) | 1,
					  .stop = &stop };
		ASSERT_EQ(pthread_create(&p[i].kernel_tid, NULL, pair_kernel, &p[i]), 0);
		ASSERT_EQ(pthread_create(&p[i].mapped_tid, NULL, pair_mapped, &p[i]), 0);
	}
	usleep(1500 * 1000);
	atomic_store(&stop, 1);
	for (i = 0; i < n; i++) {
		pthread_join(p[i].mapped_tid, NULL);
		pthread_join(p[i].kernel_tid, NULL);
		ASSERT_EQ(p[i].err, 0);
		for (j = 0; j < SHARED_ADDRS; j++)
			want[j] ^= p[i].want[j] ^ p[i].kwant[j];
		bursts += p[i].bursts;
	}
	TH_LOG("%d CPUs, %llu bursts of mapped deltas among the kernel's batches", n,
	       (unsigned long long)bursts);
	ASSERT_GT(bursts, n);
	for (j = 0; j < SHARED_ADDRS; j++)
		ASSERT_EQ(state(self->a, j), want[j]);
	free(p);
}

/*
 * A replicated table: mapped deltas are this node's contribution (what
 * ATOMIK_READ_ACCUM reads, and what a daemon publishes), and the remote
 * row stays apart from it.
 */
TEST(replicated_table_counts_mapped_deltas_as_local)
{
	struct atomik *a = open_dev(O_RDWR);
	uint64_t seed = test_seed(), local[64] = { 0 }, remote[64], v, before;
	struct atomik_delta d[32];
	struct atomik_map *m;
	uint32_t id, i, k;

	ASSERT_EQ(atomik_table_create(a, 64, ATOMIK_TABLE_SELECT | ATOMIK_TABLE_REPLICATED |
				      ATOMIK_TABLE_DESTROY_ON_CLOSE, &id), 0);
	m = map_of(a);
	before = counted();
	for (k = 0; k < 256; k++) {
		uint32_t addr = rnd(&seed) % 64;
		uint64_t x = rnd(&seed);

		ASSERT_EQ(atomik_map_accum(m, addr, x), 0);
		local[addr] ^= x;
	}
	for (k = 0; k < 32; k++) {
		d[k] = (struct atomik_delta){ .addr = rnd(&seed) % 64, .delta = rnd(&seed) };
		local[d[k].addr] ^= d[k].delta;
	}
	ASSERT_EQ(atomik_map_accum_batch(m, d, 32), 0);
	went_through(before, 256 + 32);
	for (i = 0; i < 64; i++)
		remote[i] = rnd(&seed);
	ASSERT_EQ(atomik_remote_set(a, 0, 64, remote), 0);
	for (i = 0; i < 64; i++) {
		ASSERT_EQ(atomik_read_accum(a, i, &v), 0);
		ASSERT_EQ(v, local[i]);
		ASSERT_EQ(atomik_read(a, i, &v), 0);
		ASSERT_EQ(v, local[i] ^ remote[i]);
	}
	/* A swap there is a delta too: the local contribution moves by it. */
	ASSERT_EQ(atomik_swap(a, 3, 0x33, &v), 0);
	ASSERT_EQ(v, local[3] ^ remote[3]);
	ASSERT_EQ(atomik_map_accum(m, 3, 0x3000), 0);
	ASSERT_EQ(atomik_read_accum(a, 3, &v), 0);
	ASSERT_EQ(v, 0x33 ^ remote[3] ^ 0x3000);
	ASSERT_EQ(state(a, 3), 0x3033);
	atomik_unmap(m);
	atomik_close(a);
}

/*
 * Table 0 with the accelerator bound (run_tests.sh --fpga): the mapped
 * deltas go to the CPU rows, never to the device, which stays a slot that
 * reads, loads and swaps fold in.  Over the ioctls they go where the
 * backend policy sends a system call's deltas.
 */
TEST(table0_with_accelerator)
{
	struct atomik *a;
	struct atomik_map *m;
	struct atomik_delta d[32];
	char backend[64], policy[16];
	uint64_t seed = test_seed(), want[32], dev0, expect = 0, threshold;
	uint32_t i, k;

	ASSERT_EQ(read_text(SYSFS "backend_active", backend, sizeof(backend)), 0);
	if (!strncmp(backend, "cpu", 3))
		SKIP("no accelerator bound (run_tests.sh --fpga binds one)");
	ASSERT_EQ(read_text(SYSFS "backend", policy, sizeof(policy)), 0);
	threshold = sysfs_u64("fpga_threshold");
	a = open_dev(O_RDWR);
	m = map_of(a);
	for (i = 0; i < 32; i++) {
		want[i] = rnd(&seed);
		ASSERT_EQ(atomik_load(a, i, want[i]), 0);
	}
	dev0 = sysfs_u64("fpga_deltas");
	for (k = 0; k < 200; k++) {
		uint32_t addr = rnd(&seed) % 32;
		uint64_t x = rnd(&seed);

		ASSERT_EQ(atomik_map_accum(m, addr, x), 0);
		want[addr] ^= x;
	}
	if (!via_rseq() && !strncmp(policy, "fpga", 4))
		expect += 200;
	for (k = 0; k < 32; k++) {
		d[k] = (struct atomik_delta){ .addr = k, .delta = rnd(&seed) };
		want[k] ^= d[k].delta;
	}
	ASSERT_EQ(atomik_map_accum_batch(m, d, 32), 0);
	if (!via_rseq() && (32 >= threshold || !strncmp(policy, "fpga", 4)))
		expect += 32;
	/* And the device's own share, through the handle. */
	ASSERT_EQ(atomik_accum_batch(a, d, 32), 0);
	for (k = 0; k < 32; k++)
		want[k] ^= d[k].delta;
	if (32 >= threshold || !strncmp(policy, "fpga", 4))
		expect += 32;
	ASSERT_EQ(sysfs_u64("fpga_deltas") - dev0, expect);
	for (i = 0; i < 32; i++)
		ASSERT_EQ(state(a, i), want[i]);
	/* Swaps fold the device and the rows while mapped writers run. */
	swap_against(a, m, 9);
	atomik_unmap(m);
	atomik_close(a);
}

static int cpu_online(int cpu, int on)
{
	char path[96];

	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/online", cpu);
	return write_text(path, on ? "1" : "0");
}

/*
 * CPU 1 goes offline and comes back, three times, while writers that may
 * run anywhere accumulate: a sequence on a CPU that goes away is
 * restarted on another, and the row of an offline CPU keeps what it took.
 */
TEST_F(table, cpu_offline_during_mapped_writes)
{
	int n = 3, i, j, k;
	struct writer *w;
	uint64_t seed = test_seed(), want[ADDRS] = { 0 }, got[ADDRS], pinned = 0, total = 0;
	atomic_int stop = 0;
	uint32_t addr;

	if (nr_cpus() < 2 || access("/sys/devices/system/cpu/cpu1/online", W_OK))
		SKIP("needs a second CPU that can go offline");
	/* Deltas taken on CPU 1 alone first: its row must hold them offline. */
	pin(1);
	for (k = 0; k < 100; k++) {
		addr = rnd(&seed) % ADDRS;
		pinned = rnd(&seed);
		ASSERT_EQ(atomik_map_accum(self->m, addr, pinned), 0);
		want[addr] ^= pinned;
	}
	unpin();
	w = calloc(n, sizeof(*w));
	ASSERT_TRUE(w != NULL);
	for (i = 0; i < n; i++) {
		w[i].m = self->m;
		w[i].cpu = -1;
		w[i].seed = rnd(&seed) | 1;
		w[i].stop = &stop;
		ASSERT_EQ(pthread_create(&w[i].tid, NULL, writer_run, &w[i]), 0);
	}
	for (k = 0; k < 3; k++) {
		usleep(50 * 1000);
		ASSERT_EQ(cpu_online(1, 0), 0);
		usleep(50 * 1000);
		ASSERT_EQ(cpu_online(1, 1), 0);
	}
	atomic_store(&stop, 1);
	for (i = 0; i < n; i++) {
		pthread_join(w[i].tid, NULL);
		ASSERT_EQ(w[i].err, 0);
		for (j = 0; j < ADDRS; j++)
			want[j] ^= w[i].want[j];
		total += w[i].deltas;
	}
	TH_LOG("%llu deltas while CPU 1 went offline three times", (unsigned long long)total);
	/* Offline again, with nothing running: the fold still has its row. */
	ASSERT_EQ(cpu_online(1, 0), 0);
	read_all(self->a, ADDRS, got);
	ASSERT_EQ(cpu_online(1, 1), 0);
	for (j = 0; j < ADDRS; j++)
		ASSERT_EQ(got[j], want[j]);
	free(w);
}

/*
 * A table destroyed while mapped: its id and its commands go at once, its
 * rows and their memory when the mapping goes.  Writes in between reach
 * nothing anyone reads (with the ioctls they fail as every command on the
 * table does), not even a new table that takes the same id.
 */
TEST(destroyed_table_lives_until_unmapped)
{
	struct atomik *a = open_dev(O_RDWR);
	struct atomik_delta d[16];
	struct atomik_map *m;
	uint64_t mem0, mem1, got[4096];
	uint32_t id, id2, i;

	mem0 = memory_settled();
	ASSERT_EQ(atomik_table_create(a, 4096, ATOMIK_TABLE_SELECT, &id), 0);
	mem1 = sysfs_u64("memory_bytes");
	m = map_of(a);
	ASSERT_EQ(atomik_map_accum(m, 1, 0x11), 0);
	ASSERT_EQ(atomik_table_destroy(a, id), 0);
	ASSERT_EQ(atomik_read(a, 1, &got[0]), -ENODEV);
	/*
	 * Its memory stays charged while the rows are mapped: rows that were
	 * not kept would go within a grace period or two.
	 */
	for (i = 0; i < 25; i++) {
		ASSERT_EQ(sysfs_u64("memory_bytes"), mem1);
		usleep(20000);
	}
	for (i = 0; i < 16; i++)
		d[i] = (struct atomik_delta){ .addr = i * 256, .delta = 0xdead };
	ASSERT_EQ(atomik_map_accum(m, 2, 0x22), via_rseq() ? 0 : -ENODEV);
	ASSERT_EQ(atomik_map_accum_batch(m, d, 16), via_rseq() ? 0 : -ENODEV);
	/* The descriptor keeps the destroyed table while it is mapped. */
	ASSERT_EQ(atomik_table_select(a, 0), -EBUSY);
	/*
	 * Another handle makes a table of the same size, likely of the same
	 * id: all zero.  Once unmapped, the old rows' charge goes, the new
	 * table's stays: the same bytes as before the destroy.
	 */
	{
		struct atomik *b = open_dev(O_RDWR);

		ASSERT_EQ(atomik_table_create(b, 4096, ATOMIK_TABLE_SELECT, &id2), 0);
		ASSERT_EQ(atomik_map_accum(m, 3, 0x33), via_rseq() ? 0 : -ENODEV);
		read_all(b, 4096, got);
		for (i = 0; i < 4096; i++)
			ASSERT_EQ(got[i], 0);
		atomik_unmap(m);
		ASSERT_EQ(memory_settles_at(mem1), mem1);
		ASSERT_EQ(atomik_table_destroy(b, id2), 0);
		atomik_close(b);
	}
	ASSERT_EQ(memory_settles_at(mem0), mem0);
	ASSERT_EQ(atomik_table_select(a, 0), 0);
	atomik_close(a);
}

/*
 * A process that forks keeps a valid mapping in both: the child's deltas
 * reach the table even after the parent unmapped, and the open file they
 * share keeps its table selected until the child's mapping goes too.
 */
TEST_F(table, fork_keeps_the_mapping)
{
	int go[2], ready[2], status;
	uint64_t seed = test_seed(), want[ADDRS] = { 0 }, got[ADDRS], before;
	struct atomik_map *m = self->m;
	uint32_t other;
	pid_t pid;
	char c;
	int k;

	ASSERT_OK(pipe(go));
	ASSERT_OK(pipe(ready));
	for (k = 0; k < 64; k++) {
		uint32_t addr = rnd(&seed) % ADDRS;
		uint64_t x = rnd(&seed);

		ASSERT_EQ(atomik_map_accum(m, addr, x), 0);
		want[addr] ^= x;
	}
	before = counted();
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		uint64_t s = seed;

		/* Mapped here too; wait until the parent has unmapped. */
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(2);
		for (k = 0; k < 500; k++) {
			uint32_t addr = rnd(&s) % ADDRS;
			uint64_t x = rnd(&s);

			if (atomik_map_accum(m, addr, x))
				_exit(3);
		}
		_exit(0);
	}
	ASSERT_EQ(read(ready[0], &c, 1), 1);
	atomik_unmap(m);
	self->m = NULL;
	/* The child's mapping still keeps the shared file's table. */
	ASSERT_EQ(atomik_table_create(self->a, 8, ATOMIK_TABLE_DESTROY_ON_CLOSE, &other), 0);
	ASSERT_EQ(atomik_table_select(self->a, other), -EBUSY);
	ASSERT_EQ(write(go[1], "g", 1), 1);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	went_through(before, 500);
	for (k = 0; k < 500; k++) {
		uint32_t addr = rnd(&seed) % ADDRS;
		uint64_t x = rnd(&seed);

		want[addr] ^= x;
	}
	read_all(self->a, ADDRS, got);
	for (k = 0; k < ADDRS; k++)
		ASSERT_EQ(got[k], want[k]);
	/* Both mappings gone: the file may change its table again. */
	ASSERT_EQ(atomik_table_select(self->a, other), 0);
	ASSERT_EQ(atomik_table_select(self->a, self->id), 0);
}

/* Run fn as uid in a child, returning its exit status. */
static int as_user(uid_t uid, void (*fn)(void *), void *arg)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		if (setgroups(0, NULL) || setgid(uid) || setuid(uid))
			_exit(99);
		fn(arg);
		_exit(harness_failed);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* User A may map table 0 (its descriptor may write it), not root's table. */
static void user_a_maps(void *arg)
{
	uint32_t root_table = *(uint32_t *)arg;
	struct atomik *a = open_dev(O_RDWR);
	struct atomik_map *m = map_of(a);

	atomik_unmap(m);
	ASSERT_EQ(atomik_table_select(a, root_table), 0);
	ASSERT_EQ(atomik_map(a, &m), -EPERM);
	atomik_close(a);
}

/* The device node's mode comes back whatever the test did. */
FIXTURE(node_mode) {
	int changed;
};

FIXTURE_SETUP(node_mode)
{
	if (getuid() != 0)
		SKIP("needs root");
}

FIXTURE_TEARDOWN(node_mode)
{
	if (self->changed)
		EXPECT_EQ(chmod(DEV, 0600), 0);
}

TEST_F(node_mode, read_only_and_foreign_tables_refused)
{
	struct atomik *ro = open_dev(O_RDONLY), *root = open_dev(O_RDWR);
	struct atomik_info info;
	struct atomik_map *m;
	uint32_t id;
	void *p;

	/* A read-only descriptor maps nothing, for reading or writing. */
	ASSERT_EQ(atomik_map(ro, &m), -EACCES);
	ASSERT_EQ(atomik_info(ro, &info), 0);
	p = mmap(NULL, info.map_bytes, PROT_READ, MAP_SHARED, atomik_fd(ro), 0);
	ASSERT_TRUE(p == MAP_FAILED);
	ASSERT_EQ(errno, EACCES);
	p = mmap(NULL, info.map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, atomik_fd(ro), 0);
	ASSERT_TRUE(p == MAP_FAILED);
	ASSERT_EQ(errno, EACCES);
	/* Another user's table: -EPERM, as its ACCUM would be. */
	ASSERT_EQ(atomik_table_create(root, 16, ATOMIK_TABLE_DESTROY_ON_CLOSE, &id), 0);
	self->changed = 1;
	ASSERT_OK(chmod(DEV, 0666));
	ASSERT_EQ(as_user(USER_A, user_a_maps, &id), 0);
	atomik_close(ro);
	atomik_close(root);
}

/*
 * What mmap() refuses, and a mapped file's table that does not change:
 * TABLE_SELECT and TABLE_CREATE with ATOMIK_TABLE_SELECT fail with -EBUSY
 * (and the latter leaves no table behind) until the last mapping, or the
 * last part of one, goes.
 */
TEST_F(table, mmap_refusals_and_the_kept_table)
{
	struct atomik_info info;
	uint64_t tables, mem;
	uint32_t id;
	long page = sysconf(_SC_PAGESIZE);
	int fd = atomik_fd(self->a);
	char *p;

	ASSERT_EQ(atomik_info(self->a, &info), 0);
	ASSERT_EQ(info.map_bytes % page, 0);
	ASSERT_TRUE(mmap(NULL, info.map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0) ==
		    MAP_FAILED);
	ASSERT_EQ(errno, EINVAL);
	ASSERT_TRUE(mmap(NULL, info.map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, page) ==
		    MAP_FAILED);
	ASSERT_EQ(errno, EINVAL);
	ASSERT_TRUE(mmap(NULL, info.map_bytes + page, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			 0) == MAP_FAILED);
	ASSERT_EQ(errno, EINVAL);
	if (info.map_bytes > (uint64_t)page) {
		ASSERT_TRUE(mmap(NULL, info.map_bytes - page, PROT_READ | PROT_WRITE, MAP_SHARED,
				 fd, 0) == MAP_FAILED);
		ASSERT_EQ(errno, EINVAL);
	}

	/* The fixture's map keeps the table selected. */
	tables = sysfs_u64("nr_tables");
	mem = memory_settled();
	ASSERT_EQ(atomik_table_select(self->a, 0), -EBUSY);
	ASSERT_EQ(atomik_table_create(self->a, 8, ATOMIK_TABLE_SELECT, &id), -EBUSY);
	ASSERT_EQ(sysfs_u64("nr_tables"), tables);
	ASSERT_EQ(sysfs_u64("memory_bytes"), mem);
	ASSERT_EQ(atomik_info(self->a, &info), 0);
	ASSERT_EQ(info.table_id, self->id);
	atomik_unmap(self->m);
	self->m = NULL;

	/* A mapping cut in two by munmap() counts until both parts go. */
	p = mmap(NULL, info.map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	ASSERT_OK(munmap(p, page));
	ASSERT_EQ(atomik_table_select(self->a, 0), -EBUSY);
	ASSERT_OK(munmap(p + page, info.map_bytes - page));
	ASSERT_EQ(atomik_table_select(self->a, 0), 0);
	ASSERT_EQ(atomik_table_select(self->a, self->id), 0);

	/* A destroyed table is not mapped. */
	ASSERT_EQ(atomik_table_create(self->a, 8, ATOMIK_TABLE_SELECT, &id), 0);
	ASSERT_EQ(atomik_info(self->a, &info), 0);
	ASSERT_EQ(atomik_table_destroy(self->a, id), 0);
	ASSERT_TRUE(mmap(NULL, info.map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) ==
		    MAP_FAILED);
	ASSERT_EQ(errno, ENODEV);
	ASSERT_EQ(atomik_table_select(self->a, self->id), 0);
}

/*
 * Bad input changes nothing: a batch with one bad element, wherever it is,
 * applies none (the library checks every element first, as the kernel
 * does), and nothing is counted.
 */
TEST_F(table, bad_input_changes_nothing)
{
	static struct atomik_delta d[ATOMIK_MAX_BATCH + 1];
	uint64_t seed = test_seed(), before[ADDRS], after[ADDRS], c0;
	uint32_t i, bad[] = { 0, 17, 99 };
	size_t k;

	for (i = 0; i < ADDRS; i++)
		ASSERT_EQ(atomik_load(self->a, i, rnd(&seed)), 0);
	read_all(self->a, ADDRS, before);
	for (i = 0; i < 100; i++)
		d[i] = (struct atomik_delta){ .addr = rnd(&seed) % ADDRS, .delta = rnd(&seed) };
	c0 = counted();
	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct atomik_delta keep = d[bad[k]];

		d[bad[k]].addr = ADDRS;
		ASSERT_EQ(atomik_map_accum_batch(self->m, d, 100), -EINVAL);
		d[bad[k]].addr = UINT32_MAX;
		ASSERT_EQ(atomik_map_accum_batch(self->m, d, 100), -EINVAL);
		d[bad[k]] = keep;
		d[bad[k]].reserved = 1;
		ASSERT_EQ(atomik_map_accum_batch(self->m, d, 100), -EINVAL);
		d[bad[k]] = keep;
	}
	ASSERT_EQ(atomik_map_accum(self->m, ADDRS, 1), -EINVAL);
	ASSERT_EQ(atomik_map_accum(self->m, UINT32_MAX, 1), -EINVAL);
	ASSERT_EQ(atomik_map_accum_batch(self->m, d, ATOMIK_MAX_BATCH + 1), -E2BIG);
	ASSERT_EQ(atomik_map_accum_batch(self->m, NULL, 3), -EFAULT);
	ASSERT_EQ(atomik_map_accum_batch(self->m, NULL, 0), 0);
	ASSERT_EQ(counted(), c0);
	read_all(self->a, ADDRS, after);
	for (i = 0; i < ADDRS; i++)
		ASSERT_EQ(after[i], before[i]);
	/* The same batch, good, applies whole. */
	ASSERT_EQ(atomik_map_accum_batch(self->m, d, 100), 0);
	for (i = 0; i < 100; i++)
		before[d[i].addr] ^= d[i].delta;
	read_all(self->a, ADDRS, after);
	for (i = 0; i < ADDRS; i++)
		ASSERT_EQ(after[i], before[i]);
}

/*
 * A thread without an rseq area (it unregistered glibc's) falls back to
 * the ioctls, with the same results, whatever the map was made for.
 */
static void *unregistered_run(void *arg)
{
	struct writer *w = arg;
	struct rseq *rs = (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
	struct atomik_delta d[8];
	int i;

	/* glibc registers 32 bytes; it reports fewer in __rseq_size since 2.40 */
	if (syscall(__NR_rseq, rs, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) &&
	    syscall(__NR_rseq, rs, __rseq_size, RSEQ_FLAG_UNREGISTER, RSEQ_SIG)) {
		w->err = -errno;
		return NULL;
	}
	if ((int32_t)rs->cpu_id >= 0) {
		w->err = -EINVAL;
		return NULL;
	}
	for (i = 0; i < 100 && !w->err; i++) {
		uint32_t addr = rnd(&w->seed) % ADDRS;
		uint64_t x = rnd(&w->seed);

		w->err = atomik_map_accum(w->m, addr, x);
		w->want[addr] ^= x;
	}
	for (i = 0; i < 8; i++) {
		d[i] = (struct atomik_delta){ .addr = rnd(&w->seed) % ADDRS, .delta = rnd(&w->seed) };
		w->want[d[i].addr] ^= d[i].delta;
	}
	if (!w->err)
		w->err = atomik_map_accum_batch(w->m, d, 8);
	return NULL;
}

TEST_F(table, thread_without_rseq_falls_back)
{
	struct writer w = { .m = self->m, .seed = test_seed() };
	uint64_t before = counted(), got[ADDRS];
	uint32_t i;

	if (!__rseq_size)
		SKIP("glibc registered no rseq area: every map falls back");
	ASSERT_EQ(pthread_create(&w.tid, NULL, unregistered_run, &w), 0);
	pthread_join(w.tid, NULL);
	ASSERT_EQ(w.err, 0);
	/* Counted whatever the variant: the thread used the ioctls. */
	ASSERT_EQ(counted() - before, 108);
	read_all(self->a, ADDRS, got);
	for (i = 0; i < ADDRS; i++)
		ASSERT_EQ(got[i], w.want[i]);
}

/*
 * A delta whose XOR faults: each CPU row's second page made read-only, a
 * SIGSEGV handler that makes the rows writable again.  The signal stops
 * the thread on the XOR itself, which has not run; a batch's sequence has
 * already moved past that delta (libatomik/map.c), so its abort handler
 * must take it back one delta, and only one, before the sequence starts
 * again.  Preemption stops a sequence where it happens to be; this stops
 * it there every time: every round faults once, in the middle of a batch
 * (after deltas that did store) or in a single call, and the table must
 * end exact, nothing lost and nothing applied twice.
 */
static char *fault_rows;
static size_t fault_bytes;
static volatile sig_atomic_t faults;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	char *p = si->si_addr;

	(void)sig;
	(void)uc;
	if (p < fault_rows || p >= fault_rows + fault_bytes)
		abort();
	if (mprotect(fault_rows, fault_bytes, PROT_READ | PROT_WRITE))
		abort();
	faults++;
}

TEST_F(table, a_delta_stopped_on_its_xor_is_applied_once)
{
	const struct atomik_map_head *h = (const void *)self->m;
	size_t page = sysconf(_SC_PAGESIZE), c;
	uint64_t seed = test_seed(), want[ADDRS] = { 0 }, got[ADDRS];
	uint32_t hi = page / sizeof(uint64_t);	/* the first address on a row's second page */
	struct sigaction sa = { .sa_sigaction = on_fault, .sa_flags = SA_SIGINFO }, old;
	struct atomik_delta d[64];
	struct atomik_info info;
	int round, i, k;

	ASSERT_EQ(atomik_info(self->a, &info), 0);
	ASSERT_GE(h->stride, 2 * page);
	ASSERT_GT(ADDRS, hi);
	fault_rows = h->rows;
	fault_bytes = info.map_bytes;
	faults = 0;
	ASSERT_OK(sigaction(SIGSEGV, &sa, &old));
	for (round = 0; round < 200; round++) {
		for (c = 0; c * h->stride < fault_bytes; c++)
			ASSERT_OK(mprotect(h->rows + c * h->stride + page, page, PROT_READ));
		if (round % 4 == 3) {
			uint32_t addr = hi + rnd(&seed) % (ADDRS - hi);
			uint64_t x = rnd(&seed) | 1;

			ASSERT_EQ(atomik_map_accum(self->m, addr, x), 0);
			want[addr] ^= x;
			continue;
		}
		/* k deltas on the first pages, then one on a second page, then any. */
		k = round % 61;
		for (i = 0; i < 64; i++) {
			d[i].addr = i < k ? rnd(&seed) % hi :
				    i == k ? hi + rnd(&seed) % (ADDRS - hi) : rnd(&seed) % ADDRS;
			d[i].reserved = 0;
			d[i].delta = rnd(&seed) | 1;
			want[d[i].addr] ^= d[i].delta;
		}
		ASSERT_EQ(atomik_map_accum_batch(self->m, d, 64), 0);
	}
	ASSERT_OK(mprotect(fault_rows, fault_bytes, PROT_READ | PROT_WRITE));
	ASSERT_OK(sigaction(SIGSEGV, &old, NULL));
	/* The ioctls write the rows through the kernel's own mapping. */
	ASSERT_EQ(faults, via_rseq() ? 200 : 0);
	read_all(self->a, ADDRS, got);
	for (i = 0; i < ADDRS; i++)
		ASSERT_EQ(got[i], want[i]);
}
