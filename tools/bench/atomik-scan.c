// SPDX-License-Identifier: GPL-2.0
/*
 * What a cluster daemon's periodic scan of a replicated table costs: the
 * CPU time of one READ_RANGE of every address's local contribution
 * (ATOMIK_READ_ACCUM), as a share of one CPU at a given publish rate, and
 * against a baseline measured in the same run: a userspace loop doing the
 * same fold (one row per possible CPU, XOR-ed address by address) over
 * memory of its own.  Under emulation the absolute figures are distorted;
 * the ratio to the baseline is the figure to carry to hardware.
 *
 * Usage: atomik-scan [--addrs N] [--scans N] [--hz N]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "atomik.h"

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The same work in userspace: nr_slots rows folded into out. */
static void user_fold(uint64_t **rows, unsigned int nr_slots, uint32_t n, uint64_t *out)
{
	unsigned int s;
	uint32_t i;

	for (i = 0; i < n; i++) {
		uint64_t v = 0;

		for (s = 0; s < nr_slots; s++)
			v ^= ((volatile uint64_t *)rows[s])[i];
		out[i] = v;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "addrs", required_argument, NULL, 'a' },
		{ "scans", required_argument, NULL, 's' },
		{ "hz", required_argument, NULL, 'z' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned int scans = 50, hz = 10, s, nr_slots;
	uint32_t nr = 65536, id, i;
	double *kt, *ut, t0, kmed, umed;
	struct atomik_info info;
	uint64_t *out, **rows;
	struct atomik *a;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'a': nr = strtoul(optarg, NULL, 0); break;
		case 's': scans = strtoul(optarg, NULL, 0); break;
		case 'z': hz = strtoul(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: %s [--addrs N] [--scans N] [--hz N]\n", argv[0]);
			return 2;
		}
	}
	if (!nr || nr > ATOMIK_MAX_ADDRS || !scans || !hz) {
		fprintf(stderr, "atomik-scan: --addrs, --scans and --hz must be positive\n");
		return 2;
	}
	ret = atomik_open(&a, NULL, O_RDWR);
	if (!ret)
		ret = atomik_table_create(a, nr, ATOMIK_TABLE_SELECT | ATOMIK_TABLE_REPLICATED,
					  &id);
	if (!ret)
		ret = atomik_info(a, &info);
	if (ret) {
		fprintf(stderr, "atomik-scan: %s\n", strerror(-ret));
		return 1;
	}
	nr_slots = info.nr_slots;
	out = calloc(nr, sizeof(*out));
	rows = calloc(nr_slots, sizeof(*rows));
	kt = calloc(scans, sizeof(*kt));
	ut = calloc(scans, sizeof(*ut));
	if (!out || !rows || !kt || !ut)
		return 1;
	for (s = 0; s < nr_slots; s++) {
		rows[s] = calloc(nr, sizeof(uint64_t));
		if (!rows[s])
			return 1;
		for (i = 0; i < nr; i++)
			rows[s][i] = i * 0x9E3779B97F4A7C15ULL + s;
	}
	/* Something in every address, from this CPU. */
	for (i = 0; i < nr; i++)
		atomik_accum(a, i, i | 1);
	/* Interleaved, so that a slow moment of the host hits both. */
	for (s = 0; s < scans; s++) {
		struct atomik_range r = {
			.ptr = (uintptr_t)out, .first = 0, .count = nr,
			.flags = ATOMIK_READ_ACCUM,
		};

		t0 = cpu_now();
		if (ioctl(atomik_fd(a), ATOMIK_IOC_READ_RANGE, &r)) {
			perror("atomik-scan: READ_RANGE");
			return 1;
		}
		kt[s] = cpu_now() - t0;
		t0 = cpu_now();
		user_fold(rows, nr_slots, nr, out);
		ut[s] = cpu_now() - t0;
	}
	qsort(kt, scans, sizeof(*kt), cmp_double);
	qsort(ut, scans, sizeof(*ut), cmp_double);
	kmed = kt[scans / 2];
	umed = ut[scans / 2];
	printf("addresses %u, slots %u, scans %u (median; min..max)\n", nr, nr_slots, scans);
	printf("READ_RANGE with ATOMIK_READ_ACCUM  %10.3f ms  (%.3f..%.3f)\n",
	       kmed * 1e3, kt[0] * 1e3, kt[scans - 1] * 1e3);
	printf("the same fold in userspace         %10.3f ms  (%.3f..%.3f)\n",
	       umed * 1e3, ut[0] * 1e3, ut[scans - 1] * 1e3);
	printf("ratio kernel / userspace           %10.2f\n", kmed / umed);
	printf("share of one CPU at %u Hz          %9.2f %%\n", hz, kmed * hz * 100);
	atomik_table_destroy(a, id);
	atomik_close(a);
	return 0;
}
