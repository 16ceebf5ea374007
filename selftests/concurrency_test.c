// SPDX-License-Identifier: GPL-2.0
/*
 * Several CPUs at once: exact final states, completed-before visibility,
 * swaps that lose no delta, and CPU hotplug.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "util.h"

TRANSPORT_VARIANTS

#define TABLE_ADDRS	1024

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

struct mixer {
	pthread_t tid;
	struct atomik *a;
	int cpu;
	uint64_t seed;
	uint64_t want[TABLE_ADDRS];
	int err;
};

/* Random single accumulates, delta batches and op batches. */
static void *mixer_run(void *arg)
{
	struct mixer *m = arg;
	struct atomik_delta d[64];
	struct atomik_op ops[32];
	int round, i, n;

	pin(m->cpu);
	for (round = 0; round < 3000 && !m->err; round++) {
		switch (rnd(&m->seed) % 3) {
		case 0:
			d[0].addr = rnd(&m->seed) % TABLE_ADDRS;
			d[0].delta = rnd(&m->seed);
			m->err = x_accum(m->a, d[0].addr, d[0].delta);
			m->want[d[0].addr] ^= d[0].delta;
			break;
		case 1:
			n = 1 + rnd(&m->seed) % 64;
			for (i = 0; i < n; i++) {
				d[i] = (struct atomik_delta){
					.addr = rnd(&m->seed) % TABLE_ADDRS,
					.delta = rnd(&m->seed) };
				m->want[d[i].addr] ^= d[i].delta;
			}
			m->err = x_accum_batch(m->a, d, n);
			break;
		case 2:
			n = 1 + rnd(&m->seed) % 32;
			for (i = 0; i < n; i++) {
				ops[i] = (struct atomik_op){
					.opcode = i & 1 ? ATOMIK_OP_READ : ATOMIK_OP_ACCUM,
					.addr = rnd(&m->seed) % TABLE_ADDRS,
					.value = rnd(&m->seed) };
				if (ops[i].opcode == ATOMIK_OP_ACCUM)
					m->want[ops[i].addr] ^= ops[i].value;
				else
					ops[i].value = 0;
			}
			m->err = x_op_batch(m->a, ops, n);
			break;
		}
	}
	return NULL;
}

TEST(threads_mixing_paths_exact)
{
	int n = nr_cpus() < 4 ? 4 : nr_cpus(), i, j;
	struct atomik *a = open_dev(O_RDWR);
	struct mixer *m = calloc(n, sizeof(*m));
	uint64_t seed = test_seed(), got[TABLE_ADDRS], want[TABLE_ADDRS];
	uint32_t t;

	ASSERT_TRUE(m != NULL);
	ASSERT_EQ(atomik_table_create(a, TABLE_ADDRS, ATOMIK_TABLE_SELECT, &t), 0);
	for (j = 0; j < TABLE_ADDRS; j++) {
		want[j] = rnd(&seed);
		ASSERT_EQ(x_load(a, j, want[j]), 0);
	}
	for (i = 0; i < n; i++) {
		m[i].a = a;
		m[i].cpu = i % nr_cpus();
		m[i].seed = rnd(&seed) | 1;
		ASSERT_EQ(pthread_create(&m[i].tid, NULL, mixer_run, &m[i]), 0);
	}
	for (i = 0; i < n; i++) {
		pthread_join(m[i].tid, NULL);
		ASSERT_EQ(m[i].err, 0);
		for (j = 0; j < TABLE_ADDRS; j++)
			want[j] ^= m[i].want[j];
	}
	ASSERT_EQ(x_read_range(a, 0, TABLE_ADDRS, got), 0);
	for (j = 0; j < TABLE_ADDRS; j++)
		ASSERT_EQ(got[j], want[j]);
	ASSERT_EQ(atomik_table_destroy(a, t), 0);
	free(m);
	x_close(a);
}

/* Completed-before visibility: one bit per thread. */
#define VIS_ROUNDS	300

struct vis {
	struct atomik *a;
	atomic_int round;
	atomic_int done[64];
	int nthreads;
};

struct vis_thread {
	pthread_t tid;
	struct vis *v;
	int bit;
	int err;
};

static void *vis_run(void *arg)
{
	struct vis_thread *vt = arg;
	struct vis *v = vt->v;
	int r;

	pin(vt->bit % nr_cpus());
	for (r = 1; r <= VIS_ROUNDS; r++) {
		while (atomic_load_explicit(&v->round, memory_order_acquire) < r)
			sched_yield();
		vt->err |= x_accum(v->a, 0, 1ULL << vt->bit);
		/* Published only after the accumulate returned. */
		atomic_store_explicit(&v->done[vt->bit], r, memory_order_release);
	}
	return NULL;
}

TEST(completed_before_visibility)
{
	struct vis v = { .nthreads = nr_cpus() > 1 ? nr_cpus() - 1 : 1 };
	struct vis_thread *vt;
	uint64_t seen_bits, s;
	uint32_t t;
	int r, i, all, checks = 0;

	if (v.nthreads > 8)
		v.nthreads = 8;
	v.a = open_dev(O_RDWR);
	ASSERT_EQ(atomik_table_create(v.a, 1, ATOMIK_TABLE_SELECT, &t), 0);
	vt = calloc(v.nthreads, sizeof(*vt));
	ASSERT_TRUE(vt != NULL);
	for (i = 0; i < v.nthreads; i++) {
		vt[i] = (struct vis_thread){ .v = &v, .bit = i };
		ASSERT_EQ(pthread_create(&vt[i].tid, NULL, vis_run, &vt[i]), 0);
	}
	pin(nr_cpus() - 1);
	for (r = 1; r <= VIS_ROUNDS; r++) {
		ASSERT_EQ(x_load(v.a, 0, 0), 0);
		atomic_store_explicit(&v.round, r, memory_order_release);
		do {
			/* Which threads said done, then the state. */
			seen_bits = 0;
			all = 1;
			for (i = 0; i < v.nthreads; i++) {
				if (atomic_load_explicit(&v.done[i], memory_order_acquire) == r)
					seen_bits |= 1ULL << i;
				else
					all = 0;
			}
			s = state(v.a, 0);
			checks++;
			if ((s & seen_bits) != seen_bits)
				TH_LOG("round %d: done 0x%llx but state 0x%llx", r,
				       (unsigned long long)seen_bits,
				       (unsigned long long)s);
			ASSERT_EQ(s & seen_bits, seen_bits);
		} while (!all);
	}
	unpin();
	for (i = 0; i < v.nthreads; i++) {
		pthread_join(vt[i].tid, NULL);
		ASSERT_EQ(vt[i].err, 0);
	}
	TH_LOG("%d threads, %d rounds, %d checked reads", v.nthreads, VIS_ROUNDS, checks);
	ASSERT_EQ(atomik_table_destroy(v.a, t), 0);
	free(vt);
	x_close(v.a);
}

/* Swaps while others accumulate: each delta in exactly one swap result. */
struct swapper {
	pthread_t tid;
	struct atomik *a;
	int cpu;
	uint64_t seed, total;
	int err;
	atomic_int *finished;
};

static void *swap_writer(void *arg)
{
	struct swapper *w = arg;
	struct atomik_delta d[16];
	int i, j;

	pin(w->cpu);
	for (i = 0; i < 4000 && !w->err; i++) {
		if (i & 1) {
			uint64_t x = rnd(&w->seed);

			w->err = x_accum(w->a, 5, x);
			w->total ^= x;
			continue;
		}
		for (j = 0; j < 16; j++) {
			d[j] = (struct atomik_delta){ .addr = 5, .delta = rnd(&w->seed) };
			w->total ^= d[j].delta;
		}
		w->err = x_accum_batch(w->a, d, 16);
	}
	atomic_fetch_add(w->finished, 1);
	return NULL;
}

TEST(swap_loses_no_delta)
{
	int n = nr_cpus() > 1 ? nr_cpus() - 1 : 1, i, swaps = 0;
	struct atomik *a = open_dev(O_RDWR);
	struct swapper *w = calloc(n, sizeof(*w));
	uint64_t seed = test_seed(), ref, next, old, seen = 0, want = 0;
	atomic_int finished = 0;
	uint32_t t;

	ASSERT_TRUE(w != NULL);
	ASSERT_EQ(atomik_table_create(a, 8, ATOMIK_TABLE_SELECT, &t), 0);
	ref = rnd(&seed);
	ASSERT_EQ(x_load(a, 5, ref), 0);
	for (i = 0; i < n; i++) {
		w[i] = (struct swapper){ .a = a, .cpu = i % nr_cpus(),
					 .seed = rnd(&seed) | 1, .finished = &finished };
		ASSERT_EQ(pthread_create(&w[i].tid, NULL, swap_writer, &w[i]), 0);
	}
	/* Swap as fast as possible while the writers run. */
	for (;;) {
		int live = atomic_load(&finished) < n;

		next = rnd(&seed);
		ASSERT_EQ(x_swap(a, 5, next, &old), 0);
		seen ^= old ^ ref;	/* the deltas this swap took */
		ref = next;
		swaps++;
		if (!live)
			break;
	}
	for (i = 0; i < n; i++) {
		pthread_join(w[i].tid, NULL);
		ASSERT_EQ(w[i].err, 0);
		want ^= w[i].total;
	}
	/* Anything after the last swap is in the state. */
	seen ^= state(a, 5) ^ ref;
	TH_LOG("%d writers, %d swaps", n, swaps);
	ASSERT_GT(swaps, 1);
	ASSERT_EQ(seen, want);
	ASSERT_EQ(atomik_table_destroy(a, t), 0);
	free(w);
	x_close(a);
}

static int cpu_online(int cpu, int on)
{
	char path[96];

	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/online", cpu);
	return write_text(path, on ? "1" : "0");
}

TEST(cpu_hotplug_keeps_deltas)
{
	struct atomik *a;
	struct atomik_delta d[100];
	uint64_t seed = test_seed(), want[16], got[16], acc;
	uint32_t t;
	int i, cpu;

	if (nr_cpus() < 2 || access("/sys/devices/system/cpu/cpu1/online", W_OK))
		SKIP("needs a second CPU that can go offline");
	a = open_dev(O_RDWR);
	ASSERT_EQ(atomik_table_create(a, 16, ATOMIK_TABLE_SELECT, &t), 0);
	for (i = 0; i < 16; i++) {
		want[i] = rnd(&seed);
		ASSERT_EQ(x_load(a, i, want[i]), 0);
	}
	/* Deltas taken on CPU 1 alone. */
	pin(1);
	for (i = 0; i < 100; i++) {
		d[i] = (struct atomik_delta){ .addr = i % 16, .delta = rnd(&seed) };
		want[i % 16] ^= d[i].delta;
	}
	ASSERT_EQ(x_accum_batch(a, d, 100), 0);
	ASSERT_EQ(x_accum(a, 3, 0x3333), 0);
	want[3] ^= 0x3333;
	cpu = sched_getcpu();
	ASSERT_EQ(cpu, 1);
	pin(0);

	ASSERT_EQ(cpu_online(1, 0), 0);
	ASSERT_EQ(x_read_range(a, 0, 16, got), 0);
	for (i = 0; i < 16; i++)
		ASSERT_EQ(got[i], want[i]);
	ASSERT_EQ(x_read_accum(a, 3, &acc), 0);
	ASSERT_NE(acc, 0);
	/* While CPU 1 is offline: accumulate elsewhere, swap, load. */
	ASSERT_EQ(x_accum(a, 4, 0x4444), 0);
	want[4] ^= 0x4444;
	ASSERT_EQ(x_swap(a, 5, 0x55, &acc), 0);
	ASSERT_EQ(acc, want[5]);
	want[5] = 0x55;

	ASSERT_EQ(cpu_online(1, 1), 0);
	pin(1);
	ASSERT_EQ(x_accum(a, 5, 0x5), 0);
	want[5] ^= 0x5;
	ASSERT_EQ(x_accum_batch(a, d, 100), 0);
	for (i = 0; i < 100; i++)
		want[i % 16] ^= d[i].delta;
	unpin();
	ASSERT_EQ(x_read_range(a, 0, 16, got), 0);
	for (i = 0; i < 16; i++)
		ASSERT_EQ(got[i], want[i]);
	ASSERT_EQ(atomik_table_destroy(a, t), 0);
	x_close(a);
}
