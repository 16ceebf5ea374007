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

static inline uint32_t nr_addrs(struct atomik *a)
{
	uint32_t n = 0;

	ASSERT_EQ(atomik_nr_addrs(a, &n), 0);
	return n;
}

static inline uint64_t state(struct atomik *a, uint32_t addr)
{
	uint64_t v = 0;

	ASSERT_EQ(atomik_read(a, addr, &v), 0);
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

static inline void sysfs_set(const char *name, const char *value)
{
	char path[256];

	snprintf(path, sizeof(path), SYSFS "%s", name);
	ASSERT_EQ(write_text(path, value), 0);
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
