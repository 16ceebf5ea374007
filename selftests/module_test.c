// SPDX-License-Identifier: GPL-2.0
/*
 * The module's life cycle: the device node appears with the module, the
 * module cannot be unloaded while a file descriptor is open, and it unloads
 * and loads again cleanly.
 */
#include <fcntl.h>
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

static void load(void)
{
	const char *ko = getenv("ATOMIK_KO");
	const char *params = getenv("ATOMIK_MODPARAMS");
	int fd;

	ASSERT_TRUE(ko != NULL);
	fd = open(ko, O_RDONLY | O_CLOEXEC);
	ASSERT_OK(fd);
	ASSERT_OK(syscall(SYS_finit_module, fd, params ? params : "", 0));
	close(fd);
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
