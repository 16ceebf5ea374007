// SPDX-License-Identifier: GPL-2.0
/*
 * atomik-latency: how late a high-priority thread wakes up while batches
 * are applied, as cyclictest measures it.  A SCHED_FIFO thread on CPU 0
 * sleeps to absolute 1 ms deadlines and records how late each wake-up is,
 * first with the machine idle, then while one thread per CPU (CPU 0
 * included, at normal priority) applies ACCUM_BATCH calls of --batch
 * deltas in a loop to a table of its own.  Both phases run in the same
 * boot, so that the difference between them is the batches' doing.
 *
 * Usage: atomik-latency [--seconds S] [--batch N]
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
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "atomik.h"

#define PERIOD_NS	1000000LL
#define MAX_SAMPLES	(1 << 20)

static volatile int loading;
static unsigned int batch = ATOMIK_MAX_BATCH;
static long long *lat;
static size_t nr_lat;
static unsigned long long batches;

static long long ns(const struct timespec *t)
{
	return t->tv_sec * 1000000000LL + t->tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *load_thread(void *arg)
{
	struct atomik_delta *d = calloc(batch, sizeof(*d));
	struct atomik *a;
	uint32_t id, i;

	pin((int)(intptr_t)arg);
	if (!d || atomik_open(&a, NULL, O_RDWR) ||
	    atomik_table_create(a, 4096, ATOMIK_TABLE_SELECT, &id)) {
		fprintf(stderr, "atomik-latency: cannot set up a load thread\n");
		exit(1);
	}
	for (i = 0; i < batch; i++)
		d[i] = (struct atomik_delta){ .addr = (i * 2654435761u) % 4096, .delta = i };
	while (loading) {
		if (atomik_accum_batch(a, d, batch)) {
			fprintf(stderr, "atomik-latency: ACCUM_BATCH failed\n");
			exit(1);
		}
		__atomic_add_fetch(&batches, 1, __ATOMIC_RELAXED);
	}
	atomik_table_destroy(a, id);
	atomik_close(a);
	free(d);
	return NULL;
}

static void *timer_thread(void *arg)
{
	long long seconds = (intptr_t)arg, late;
	struct sched_param sp = { .sched_priority = 90 };
	struct timespec next, now;
	long long end;

	pin(0);
	if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp)) {
		fprintf(stderr, "atomik-latency: SCHED_FIFO refused (run as root)\n");
		exit(1);
	}
	clock_gettime(CLOCK_MONOTONIC, &next);
	end = ns(&next) + seconds * 1000000000LL;
	nr_lat = 0;
	while (ns(&next) < end && nr_lat < MAX_SAMPLES) {
		next.tv_nsec += PERIOD_NS;
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
		late = ns(&now) - ns(&next);
		lat[nr_lat++] = late;
	}
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *phase)
{
	qsort(lat, nr_lat, sizeof(*lat), cmp);
	printf("%-24s %8zu %10.1f %10.1f %10.1f %10.1f\n", phase, nr_lat,
	       lat[nr_lat / 2] / 1e3, lat[nr_lat * 99 / 100] / 1e3,
	       lat[nr_lat * 999 / 1000] / 1e3, lat[nr_lat - 1] / 1e3);
}

static void phase(const char *name, int seconds, int cpus, int load)
{
	pthread_t timer, th[64];
	int i;

	loading = load;
	for (i = 0; load && i < cpus && i < 64; i++)
		pthread_create(&th[i], NULL, load_thread, (void *)(intptr_t)i);
	pthread_create(&timer, NULL, timer_thread, (void *)(intptr_t)seconds);
	pthread_join(timer, NULL);
	loading = 0;
	for (i = 0; load && i < cpus && i < 64; i++)
		pthread_join(th[i], NULL);
	report(name);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "batch", required_argument, NULL, 'b' },
		{ }
	};
	int seconds = 10, cpus = sysconf(_SC_NPROCESSORS_ONLN), c;

	while ((c = getopt_long(argc, argv, "s:b:", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			seconds = atoi(optarg);
			break;
		case 'b':
			batch = strtoul(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: atomik-latency [--seconds S] [--batch N]\n");
			return 2;
		}
	}
	if (seconds < 1 || !batch || batch > ATOMIK_MAX_BATCH) {
		fprintf(stderr, "atomik-latency: --seconds >= 1, --batch 1 to %u\n",
			ATOMIK_MAX_BATCH);
		return 2;
	}
	lat = calloc(MAX_SAMPLES, sizeof(*lat));
	if (!lat || mlockall(MCL_CURRENT | MCL_FUTURE)) {
		fprintf(stderr, "atomik-latency: %s\n", strerror(errno));
		return 1;
	}
	printf("# wake-up latency of a SCHED_FIFO thread on CPU 0, 1 ms period, %d s per phase, %d CPUs\n",
	       seconds, cpus);
	printf("%-24s %8s %10s %10s %10s %10s\n", "phase", "wakeups", "p50 us", "p99 us",
	       "p99.9 us", "max us");
	phase("idle", seconds, cpus, 0);
	phase("batches", seconds, cpus, 1);
	printf("# %u-delta batches applied: %llu\n", batch, batches);
	return 0;
}
