// SPDX-License-Identifier: GPL-2.0
/*
 * The examples in C, run as a user would run them: the library's
 * (libatomik/examples/two_streams.c) and the README's.
 */
#include "util.h"

static void run_example(const char *rel)
{
	char path[512], line[256] = "";
	const char *top = getenv("ATOMIK_TOP");
	uint64_t tables = sysfs_u64("nr_tables");
	FILE *p;

	ASSERT_TRUE(top != NULL);
	snprintf(path, sizeof(path), "%s/%s", top, rel);
	if (access(path, X_OK))
		SKIP("%s is not built (make check builds it)", rel);
	p = popen(path, "r");
	ASSERT_TRUE(p != NULL);
	ASSERT_TRUE(fgets(line, sizeof(line), p) != NULL);
	ASSERT_EQ(pclose(p), 0);
	TH_LOG("%s", strtok(line, "\n"));
	/* 0xCAFEBABE ^ 0xFF ^ 0xFF00 on both nodes. */
	ASSERT_EQ(strcmp(line, "A: 0xcafe4541  B: 0xcafe4541  converged"), 0);
	/* And it cleans up after itself. */
	ASSERT_EQ(sysfs_u64("nr_tables"), tables);
}

TEST(library_example_two_streams_converge)
{
	run_example("build/examples/two_streams");
}

/* The README's own C example, built against the installed library through
 * pkg-config by make check's host checks. */
TEST(readme_example_through_installed_library_converges)
{
	run_example("build/check/host/readme_example");
}
