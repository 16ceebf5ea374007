// SPDX-License-Identifier: GPL-2.0
/*
 * atomik-bench: deltas per second through each path into /dev/atomik, and
 * a userspace baseline XOR-ing the same (addr, delta) pairs into a private
 * array, all in one run so that the ratios between them mean something.
 *
 * Every cell is measured --repeat times (default 3) and the median is shown:
 * under emulation a single measurement varies with whatever else the host
 * is doing.  Each repeat measures every path, size and thread count once,
 * each cell in slices that its paths take in turn (measure_cell()), so
 * that a slow moment of the host falls on all of them alike; a ratio to
 * the userspace loop is taken within each repeat, and its median is shown
 * with its smallest and largest value.
 *
 * Usage: atomik-bench [--csv] [--time MS] [--repeat N] [--threads LIST]
 *                     [--sizes LIST] [--replicated]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "atomik.h"
#include "atomik-bench.h"

#define NR_PAIRS	(1 << 17)	/* per thread, reused cyclically */
#define MAX_SIZE	ATOMIK_MAX_BATCH
#define MAX_THREADS	64

#define PATH_ID(id, name)	P_##id,
#define PATH_NAME(id, name)	name,

enum path { ATOMIK_BENCH_PATHS(PATH_ID) NR_PATHS };

static const char *const path_names[NR_PATHS] = { ATOMIK_BENCH_PATHS(PATH_NAME) };

struct worker {
	pthread_t tid;
	int cpu;
	enum path path;
	unsigned int size;
	struct atomik *a;
	struct atomik_queue *q;
	struct atomik_map *m;
	struct atomik *ar;		/* --replicated: the replicated table */
	struct atomik_queue *qr, *q0;
	struct atomik_delta *pairs;
	uint64_t *private;	/* the baseline's array */
	uint32_t nr_addrs;
	uint64_t done;		/* deltas applied */
	double seconds;
	int err;
};

static unsigned int run_ms = 200, repeat = 3, slice_ms;
static int npaths = NR_PATHS - 2;	/* NR_PATHS with --replicated */
static pthread_barrier_t barrier;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define QUEUE_DEPTH	4096	/* SQEs per queue */

/* Submit what is queued and reap n completions; 0 or the first error. */
static int drain(struct worker *w, unsigned int n)
{
	struct atomik_completion c[64];
	int got, k;

	if (atomik_queue_submit(w->q) < 0)
		return -EIO;
	while (n) {
		got = atomik_queue_reap(w->q, c, 64, 1);
		if (got < 0)
			return got;
		for (k = 0; k < got; k++)
			if (c[k].result)
				return c[k].result;
		n -= got;
	}
	return 0;
}

/*
 * Apply one round of size deltas starting at pair i; returns 0 or -errno.
 * A round of more SQEs than the queue holds goes in queue-sized parts.
 */
static int round_once(struct worker *w, unsigned int i)
{
	struct atomik_delta *d = &w->pairs[i];
	unsigned int k, n = w->size, sent = 0, part;
	int ret = 0;

	switch (w->path) {
	case P_USER:
		for (k = 0; k < n; k++)
			w->private[d[k].addr] ^= d[k].delta;
		/* Keep the compiler from dropping the loop. */
		__asm__ volatile("" : : "r"(w->private) : "memory");
		return 0;
	case P_IOCTL_SINGLE:
		for (k = 0; k < n && !ret; k++)
			ret = atomik_accum(w->a, d[k].addr, d[k].delta);
		return ret;
	case P_IOCTL_BATCH:
		return atomik_accum_batch(w->a, d, n);
	case P_URING_SINGLE:
		for (k = 0; k < n && !ret; k++) {
			ret = atomik_queue_accum(w->q, d[k].addr, d[k].delta, k);
			if (!ret && ++sent == QUEUE_DEPTH) {
				ret = drain(w, sent);
				sent = 0;
			}
		}
		break;
	case P_URING_INLINE:
		for (k = 0; k < n && !ret; k += part) {
			part = n - k < ATOMIK_INLINE_DELTAS ? n - k : ATOMIK_INLINE_DELTAS;
			ret = atomik_queue_accum_inline(w->q, d + k, part, k);
			if (!ret && ++sent == QUEUE_DEPTH) {
				ret = drain(w, sent);
				sent = 0;
			}
		}
		break;
	case P_URING_BATCH:
		ret = atomik_queue_accum_batch(w->q, d, n, 0);
		sent = 1;
		break;
	case P_MMAP_SINGLE:
		for (k = 0; k < n && !ret; k++)
			ret = atomik_map_accum(w->m, d[k].addr, d[k].delta);
		return ret;
	case P_MMAP_BATCH:
		return atomik_map_accum_batch(w->m, d, n);
	case P_IOCTL_BATCH_REPL:
		return atomik_accum_batch(w->ar, d, n);
	case P_URING_BATCH_REPL:
		w->q = w->qr;
		ret = atomik_queue_accum_batch(w->q, d, n, 0);
		ret = ret ?: drain(w, 1);
		w->q = w->q0;
		return ret;
	default:
		return -EINVAL;
	}
	return ret ?: drain(w, sent);
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	cpu_set_t set;
	unsigned int i = 0;
	double start, end;

	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
	pthread_barrier_wait(&barrier);
	start = now();
	end = start + slice_ms / 1000.0;
	do {
		/* 64 rounds between clock reads keep the clock out of the way. */
		for (int r = 0; r < 64 && !w->err; r++) {
			w->err = round_once(w, i);
			w->done += w->size;
			i = (i + w->size) % (NR_PAIRS - MAX_SIZE);
			if (w->size >= 4096)
				break;
		}
	} while (!w->err && now() < end);
	w->seconds = now() - start;
	return NULL;
}

/* Start nthreads workers on path, batch size, for ms milliseconds; wait. */
static void run_slice(struct worker *ws, int nthreads, enum path path,
		      unsigned int size, unsigned int ms)
{
	int t;

	slice_ms = ms;
	pthread_barrier_init(&barrier, NULL, nthreads);
	for (t = 0; t < nthreads; t++) {
		ws[t].path = path;
		ws[t].size = size;
		ws[t].done = 0;
		ws[t].err = 0;
		pthread_create(&ws[t].tid, NULL, worker_run, &ws[t]);
	}
	for (t = 0; t < nthreads; t++) {
		pthread_join(ws[t].tid, NULL);
		if (ws[t].err) {
			fprintf(stderr, "atomik-bench: %s size %u: %s\n",
				path_names[path], size, strerror(-ws[t].err));
			exit(1);
		}
	}
	pthread_barrier_destroy(&barrier);
}

/*
 * Deltas per second of every path with nthreads workers, batch size: one
 * cell of one repeat.  The run_ms each path gets is cut into SLICES turns,
 * taken in turn by every path (forwards, then backwards), so that a slow
 * moment of the host falls on all paths alike; a path's rate is the sum
 * over its threads of what each applied over the time it ran.
 */
#define SLICES	8

static void measure_cell(struct worker *ws, int nthreads, unsigned int size,
			 double rate[NR_PATHS])
{
	double done[NR_PATHS][MAX_THREADS] = { { 0 } };
	double secs[NR_PATHS][MAX_THREADS] = { { 0 } };
	unsigned int k, ms = (run_ms + SLICES - 1) / SLICES;
	int i, p, t;

	for (k = 0; k < SLICES; k++)
		for (i = 0; i < npaths; i++) {
			p = k % 2 ? npaths - 1 - i : i;
			run_slice(ws, nthreads, p, size, ms);
			for (t = 0; t < nthreads; t++) {
				done[p][t] += ws[t].done;
				secs[p][t] += ws[t].seconds;
			}
		}
	for (p = 0; p < npaths; p++) {
		rate[p] = 0;
		for (t = 0; t < nthreads; t++)
			rate[p] += done[p][t] / secs[p][t];
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median, smallest and largest of n values (n <= 16). */
struct spread {
	double med, min, max;
};

static struct spread spread_of(const double *v, unsigned int n)
{
	double r[16];

	memcpy(r, v, n * sizeof(*r));
	qsort(r, n, sizeof(r[0]), cmp_double);
	return (struct spread){ r[n / 2], r[0], r[n - 1] };
}

static int parse_list(const char *s, unsigned int *v, int max)
{
	int n = 0;
	char *end;

	while (*s && n < max) {
		v[n++] = strtoul(s, &end, 0);
		if (*end != ',' && *end)
			return -1;
		s = *end ? end + 1 : end;
	}
	return n;
}

int main(int argc, char **argv)
{
	unsigned int sizes[8] = { 1, 16, 256, 4096 }, threads[4] = { 1, 2 };
	int nsizes = 4, nthreads = 2, csv = 0, opt, t, s, p, ncpu, maxthr = 0;
	static const struct option opts[] = {
		{ "csv", no_argument, NULL, 'c' },
		{ "time", required_argument, NULL, 't' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "threads", required_argument, NULL, 'n' },
		{ "sizes", required_argument, NULL, 's' },
		{ "replicated", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	static double sample[16][4][NR_PATHS][8];	/* [repeat][threads][path][size] */
	double rate[4][NR_PATHS][8], v[16], cell[NR_PATHS];
	struct spread ratio[4][NR_PATHS][8];
	unsigned int r;
	int progress;
	struct worker *ws;
	uint64_t seed = 0x5eed;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			csv = 1;
			break;
		case 't':
			run_ms = strtoul(optarg, NULL, 0);
			break;
		case 'r':
			repeat = strtoul(optarg, NULL, 0);
			break;
		case 'n':
			nthreads = parse_list(optarg, threads, 4);
			break;
		case 's':
			nsizes = parse_list(optarg, sizes, 8);
			break;
		case 'R':
			npaths = NR_PATHS;
			break;
		default:
			fprintf(stderr, "usage: %s [--csv] [--time MS] [--repeat N] "
				"[--threads 1,2] [--sizes 1,16,256,4096] [--replicated]\n", argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (nthreads < 1 || nsizes < 1 || run_ms == 0 || repeat < 1 || repeat > 16) {
		fprintf(stderr, "atomik-bench: bad --threads, --sizes, --time or --repeat\n");
		return 2;
	}
	for (s = 0; s < nsizes; s++) {
		if (sizes[s] < 1 || sizes[s] > MAX_SIZE) {
			fprintf(stderr, "atomik-bench: sizes run from 1 to %u\n", MAX_SIZE);
			return 2;
		}
	}
	for (t = 0; t < nthreads; t++) {
		if (threads[t] < 1 || threads[t] > MAX_THREADS) {
			fprintf(stderr, "atomik-bench: threads run from 1 to %u\n", MAX_THREADS);
			return 2;
		}
		maxthr = threads[t] > (unsigned int)maxthr ? (int)threads[t] : maxthr;
	}
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	ws = calloc(maxthr, sizeof(*ws));
	for (t = 0; t < maxthr; t++) {
		struct worker *w = &ws[t];
		int ret = atomik_open(&w->a, NULL, O_RDWR);

		if (ret) {
			fprintf(stderr, "atomik-bench: cannot open /dev/atomik: %s\n",
				strerror(-ret));
			return 1;
		}
		if (atomik_nr_addrs(w->a, &w->nr_addrs) ||
		    atomik_queue_init(&w->q, w->a, QUEUE_DEPTH, 0)) {
			fprintf(stderr, "atomik-bench: cannot set up an io_uring queue\n");
			return 1;
		}
		ret = atomik_map(w->a, &w->m);
		if (ret) {
			fprintf(stderr, "atomik-bench: cannot map table 0: %s\n", strerror(-ret));
			return 1;
		}
		w->q0 = w->q;
		/*
		 * --replicated: a replicated table of table 0's size, which the
		 * first worker's file destroys when the run ends.
		 */
		if (npaths == NR_PATHS) {
			static uint32_t rid;

			ret = atomik_open(&w->ar, NULL, O_RDWR);
			if (!ret && !t)
				ret = atomik_table_create(w->ar, w->nr_addrs,
							  ATOMIK_TABLE_SELECT | ATOMIK_TABLE_REPLICATED |
							  ATOMIK_TABLE_DESTROY_ON_CLOSE, &rid);
			else if (!ret)
				ret = atomik_table_select(w->ar, rid);
			if (!ret)
				ret = atomik_queue_init(&w->qr, w->ar, QUEUE_DEPTH, 0);
			if (ret) {
				fprintf(stderr, "atomik-bench: cannot set up a replicated table: %s\n",
					strerror(-ret));
				return 1;
			}
		}
		w->cpu = t % ncpu;
		w->pairs = calloc(NR_PAIRS, sizeof(*w->pairs));
		w->private = calloc(w->nr_addrs, sizeof(uint64_t));
		for (int i = 0; i < NR_PAIRS; i++) {
			seed ^= seed << 13;
			seed ^= seed >> 7;
			seed ^= seed << 17;
			w->pairs[i].addr = seed % w->nr_addrs;
			w->pairs[i].delta = seed * 0x9E3779B97F4A7C15ULL;
		}
	}

	/*
	 * Interleaved: each repeat goes over every cell once.  On a terminal,
	 * stderr says how far it is (the run takes a while, and prints
	 * nothing until the end).
	 */
	progress = isatty(2);
	for (r = 0; r < repeat; r++)
		for (t = 0; t < nthreads; t++)
			for (s = 0; s < nsizes; s++) {
				if (progress)
					fprintf(stderr, "\ratomik-bench: repeat %u of %u, %u thread%s, "
						"batch %-5u   ", r + 1, repeat, threads[t],
						threads[t] > 1 ? "s" : "", sizes[s]);
				measure_cell(ws, threads[t], sizes[s], cell);
				for (p = 0; p < npaths; p++)
					sample[r][t][p][s] = cell[p];
			}
	if (progress)
		fprintf(stderr, "\r%60s\r", "");
	for (t = 0; t < nthreads; t++)
		for (p = 0; p < npaths; p++)
			for (s = 0; s < nsizes; s++) {
				for (r = 0; r < repeat; r++)
					v[r] = sample[r][t][p][s];
				rate[t][p][s] = spread_of(v, repeat).med;
				for (r = 0; r < repeat; r++)
					v[r] = sample[r][t][p][s] / sample[r][t][P_USER][s];
				ratio[t][p][s] = spread_of(v, repeat);
			}

	if (csv) {
		printf("threads,path,batch,deltas_per_sec,ratio_to_userspace,ratio_min,ratio_max\n");
		for (t = 0; t < nthreads; t++)
			for (p = 0; p < npaths; p++)
				for (s = 0; s < nsizes; s++)
					printf("%u,%s,%u,%.0f,%.4f,%.4f,%.4f\n", threads[t],
					       path_names[p], sizes[s], rate[t][p][s],
					       ratio[t][p][s].med, ratio[t][p][s].min,
					       ratio[t][p][s].max);
		return 0;
	}
	printf("Deltas per second (millions), median of %u runs of %u ms per cell, "
	       "%d CPUs online.\n"
	       "Absolute figures under emulation mean little: compare rows.\n\n",
	       repeat, run_ms, ncpu);
	for (t = 0; t < nthreads; t++) {
		printf("%u thread%s\n%-16s", threads[t], threads[t] > 1 ? "s" : "", "path");
		for (s = 0; s < nsizes; s++)
			printf(" %9s%-5u", "batch ", sizes[s]);
		printf("\n");
		for (p = 0; p < npaths; p++) {
			printf("%-16s", path_names[p]);
			for (s = 0; s < nsizes; s++)
				printf(" %14.3f", rate[t][p][s] / 1e6);
			printf("\n");
		}
		printf("\n");
	}
	printf("Ratios to the userspace loop, taken within each repeat: median [smallest, largest]\n");
	for (t = 0; t < nthreads; t++) {
		s = nsizes - 1;
		for (p = P_IOCTL_BATCH; p <= P_URING_BATCH; p += P_URING_BATCH - P_IOCTL_BATCH)
			printf("  %u thread(s), batch %u: %s / userspace = %.3f [%.3f, %.3f]\n",
			       threads[t], sizes[s], path_names[p], ratio[t][p][s].med,
			       ratio[t][p][s].min, ratio[t][p][s].max);
		for (p = P_MMAP_SINGLE; p <= P_MMAP_BATCH; p++)
			printf("  %u thread(s), batch %u: %s / userspace = %.3f [%.3f, %.3f]\n",
			       threads[t], sizes[s], path_names[p], ratio[t][p][s].med,
			       ratio[t][p][s].min, ratio[t][p][s].max);
		/* The change set's cost: the same path, replicated / plain. */
		for (p = P_IOCTL_BATCH_REPL; p < npaths; p++) {
			int base = p == P_IOCTL_BATCH_REPL ? P_IOCTL_BATCH : P_URING_BATCH;
			struct spread c;

			for (r = 0; r < repeat; r++)
				v[r] = sample[r][t][p][s] / sample[r][t][base][s];
			c = spread_of(v, repeat);
			printf("  %u thread(s), batch %u: %s / %s = %.3f [%.3f, %.3f]\n",
			       threads[t], sizes[s], path_names[p], path_names[base], c.med,
			       c.min, c.max);
		}
		printf("  %u thread(s), batch %u: uring-batch / ioctl-single = %.1f\n",
		       threads[t], sizes[s],
		       rate[t][P_URING_BATCH][s] / rate[t][P_IOCTL_SINGLE][s]);
		printf("  %u thread(s), batch %u: mmap-single / ioctl-single = %.1f\n",
		       threads[t], sizes[s],
		       rate[t][P_MMAP_SINGLE][s] / rate[t][P_IOCTL_SINGLE][s]);
	}
	if (nthreads > 1) {
		s = nsizes - 1;
		for (p = P_IOCTL_BATCH; p < npaths; p++)
			printf("  %s, batch %u: %u threads / %u thread = %.2f\n",
			       path_names[p], sizes[s], threads[nthreads - 1], threads[0],
			       rate[nthreads - 1][p][s] / rate[0][p][s]);
	}
	return 0;
}
