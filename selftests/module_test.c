// SPDX-License-Identifier: GPL-2.0
/*
 * The module's life cycle: the device node appears with the module, the
 * module cannot be unloaded while a file descriptor is open, and it unloads
 * and loads again cleanly.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "harness.h"

#define DEV	"/dev/atomik"

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return 0;
}

static long unload(void)
{
	return syscall(SYS_delete_module, "atomik", O_NONBLOCK);
}

/* finit_module with extra parameters: 0 or -errno. */
static long load_with(const char *extra)
{
	const char *ko = getenv("ATOMIK_KO");
	const char *params = getenv("ATOMIK_MODPARAMS");
	char all[512];
	long ret;
	int fd;

	ASSERT_TRUE(ko != NULL);
	snprintf(all, sizeof(all), "%s %s", params ? params : "", extra);
	fd = open(ko, O_RDONLY | O_CLOEXEC);
	ASSERT_OK(fd);
	ret = syscall(SYS_finit_module, fd, all, 0);
	ret = ret < 0 ? -errno : 0;
	close(fd);
	return ret;
}

static void load(void)
{
	ASSERT_EQ(load_with(""), 0);
}

static void assert_node(void)
{
	unsigned int maj, min;
	struct stat st;
	char buf[64];

	ASSERT_OK(stat(DEV, &st));
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	/* The node is the misc device the sysfs directory describes. */
	ASSERT_OK(read_file("/sys/class/misc/atomik/dev", buf, sizeof(buf)));
	ASSERT_EQ(sscanf(buf, "%u:%u", &maj, &min), 2);
	ASSERT_EQ(maj, major(st.st_rdev));
	ASSERT_EQ(min, minor(st.st_rdev));
	ASSERT_EQ(maj, 10);	/* MISC_MAJOR */
}

TEST(node_exists)
{
	assert_node();
}

TEST(open_close)
{
	int fd;

	fd = open(DEV, O_RDWR);
	ASSERT_OK(fd);
	ASSERT_OK(close(fd));
	fd = open(DEV, O_RDONLY);
	ASSERT_OK(fd);
	ASSERT_OK(close(fd));
}

TEST(unload_busy_while_open)
{
	char buf[32];
	int fd;

	fd = open(DEV, O_RDWR);
	ASSERT_OK(fd);
	ASSERT_OK(read_file("/sys/module/atomik/refcnt", buf, sizeof(buf)));
	ASSERT_GE(atoi(buf), 1);
	ASSERT_ERRNO(unload(), EWOULDBLOCK);
	/* Still loaded and working. */
	ASSERT_OK(access(DEV, F_OK));
	ASSERT_OK(close(fd));
}

TEST(unload_load_again)
{
	struct stat st;
	int round;

	for (round = 0; round < 2; round++) {
		ASSERT_OK(unload());
		ASSERT_ERRNO(stat(DEV, &st), ENOENT);
		ASSERT_ERRNO(access("/sys/module/atomik", F_OK), ENOENT);
		load();
		assert_node();
	}
}

/*
 * A process opens /dev/atomik while the module is still initializing (in
 * the debug build, init sleeps once the node exists), and keeps it open
 * until the load has returned.  If anything could fail after the node
 * appeared, the failed init would wait for that descriptor's hold on
 * table 0 forever (and the module's text would be freed under it): so the
 * node must come last.  Shown to fail before the fix: with the PCI driver
 * registered after the node and its registration failing, finit_module
 * hung until the opener gave up.
 */
static atomic_int load_done, opened;

static void *opener(void *arg)
{
	struct timespec t0, t;
	int fd = -1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		fd = open(DEV, O_RDWR | O_CLOEXEC);
		if (fd >= 0)
			break;
		usleep(1000);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (!atomic_load(&load_done) && t.tv_sec - t0.tv_sec < 10);
	if (fd < 0)
		return NULL;
	atomic_store(&opened, 1);
	/* Hold it until the load is over, or 10 s. */
	do {
		usleep(1000);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (!atomic_load(&load_done) && t.tv_sec - t0.tv_sec < 10);
	close(fd);
	return NULL;
}

static double load_racing_opener(const char *extra, long *ret)
{
	struct timespec t0, t1;
	pthread_t th;

	atomic_store(&load_done, 0);
	atomic_store(&opened, 0);
	ASSERT_EQ(pthread_create(&th, NULL, opener, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	*ret = load_with(extra);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	atomic_store(&load_done, 1);
	ASSERT_EQ(pthread_join(th, NULL), 0);
	return t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9;
}

TEST(failed_init_never_exposed_the_node)
{
	struct stat st;
	double secs;
	long ret;

	if (access("/sys/module/atomik/parameters/debug_fail_driver", F_OK))
		SKIP("no debug hooks in this build (a kernel without fault injection)");
	ASSERT_OK(unload());

	/* The node appears last; a descriptor opened then is fine. */
	secs = load_racing_opener("debug_delay_init_ms=1000", &ret);
	ASSERT_EQ(ret, 0);
	ret = atomic_load(&opened);
	ASSERT_EQ(ret, 1);
	assert_node();
	ASSERT_OK(unload());

	/* The driver's registration fails: the load fails at once, and
	 * nobody ever saw the node. */
	secs = load_racing_opener("debug_delay_init_ms=1000 debug_fail_driver=1", &ret);
	TH_LOG("failed load took %.2f s", secs);
	ASSERT_EQ(ret, -ENOMEM);
	ret = atomic_load(&opened);
	ASSERT_EQ(ret, 0);
	ASSERT_LE(secs * 1000, 5000);
	ASSERT_ERRNO(stat(DEV, &st), ENOENT);
	ASSERT_ERRNO(access("/sys/module/atomik", F_OK), ENOENT);
	load();
	assert_node();
}
