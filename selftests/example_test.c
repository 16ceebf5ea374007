// SPDX-License-Identifier: GPL-2.0
/*
 * The README's example, run as a user would run it.
 */
#include "util.h"

TEST(readme_two_streams_converge)
{
	char path[512], line[256] = "";
	const char *top = getenv("ATOMIK_TOP");
	uint64_t tables = sysfs_u64("nr_tables");
	FILE *p;

	ASSERT_TRUE(top != NULL);
	snprintf(path, sizeof(path), "%s/build/examples/two_streams", top);
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
