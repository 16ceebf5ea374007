// SPDX-License-Identifier: MIT
/* Two nodes converge without coordination: the product brief's example. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <atomik.h>

int main(void)
{
	struct atomik *a, *b;
	uint32_t ta, tb;
	uint64_t sa, sb;
	int ret;

	/* Two handles, each on a table of its own, play nodes A and B. */
	ret = atomik_open(&a, NULL, O_RDWR);
	if (!ret)
		ret = atomik_open(&b, NULL, O_RDWR);
	if (ret) {
		fprintf(stderr, "atomik_open: %s\n", strerror(-ret));
		return 1;
	}
	/* Tables outlive their process unless made to go with their handle. */
	atomik_table_create(a, 1, ATOMIK_TABLE_SELECT | ATOMIK_TABLE_DESTROY_ON_CLOSE, &ta);
	atomik_table_create(b, 1, ATOMIK_TABLE_SELECT | ATOMIK_TABLE_DESTROY_ON_CLOSE, &tb);

	/* Both start from the same reference state. */
	atomik_load(a, 0, 0xCAFEBABE);
	atomik_load(b, 0, 0xCAFEBABE);
	/* Each node accumulates a different delta... */
	atomik_accum(a, 0, 0x000000FF);
	atomik_accum(b, 0, 0x0000FF00);
	/* ...and they exchange them, in any order. */
	atomik_accum(a, 0, 0x0000FF00);	/* B's delta applied to A */
	atomik_accum(b, 0, 0x000000FF);	/* A's delta applied to B */

	atomik_read(a, 0, &sa);
	atomik_read(b, 0, &sb);
	printf("A: 0x%" PRIx64 "  B: 0x%" PRIx64 "  %s\n", sa, sb,
	       sa == sb ? "converged" : "DIVERGED");
	atomik_close(a);
	atomik_close(b);
	return sa == sb ? 0 : 1;
}
