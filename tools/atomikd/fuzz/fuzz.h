/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the fuzz targets of atomikd (Documentation/atomik/testing.rst) and
 * their seed generator share: the node the message target runs, its
 * tables and its peers, and the operations its inputs are made of.
 */
#ifndef ATOMIKD_FUZZ_H
#define ATOMIKD_FUZZ_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomikd.h"
#include "core.h"

/*
 * A property the target checks does not hold: it says which, prefixed by
 * the target's name, and aborts (libFuzzer keeps the input).  Each target
 * defines broken(...) as fz_broken("fuzz_NAME", ...).
 */
static inline void __attribute__((noreturn, format(printf, 2, 3)))
fz_broken(const char *target, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", target);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* Small blocks and tables keep the inputs small: table t0 has three
 * blocks (16, 16, 8 addresses), t1 one of five. */
#define FZ_BLOCK	16
#define FZ_NODE		1		/* the node under test */
#define FZ_NODES	3		/* members 1..FZ_NODES */
#define FZ_MS		1000000ull
#define FZ_START	(1000 * FZ_MS)	/* its boot clock at start */

static const struct { const char *name; uint32_t nr_addrs; } fz_tables[] = {
	{ "t0", 40 }, { "t1", 5 },
};
#define FZ_NR_TABLES	2

/* Node n's machine, a table instance of node n (gen from 0), a session. */
static inline uint32_t fz_host(unsigned int n) { return 0x1000 + n; }
static inline uint64_t fz_instance(unsigned int n, unsigned int ti, unsigned int gen)
{
	return 0xa000000000000000ull | (uint64_t)n << 32 | (uint64_t)gen << 8 | ti;
}
static inline uint64_t fz_session(unsigned int n, unsigned int run)
{
	return 0x5e55000000000000ull | (uint64_t)n << 16 | run;
}

/* Node n's configuration; members[AKD_MAX_NODE + 1] filled here. */
static inline struct akd_conf fz_conf(unsigned int n, unsigned int run, uint8_t *members)
{
	unsigned int i;

	memset(members, 0, AKD_MAX_NODE + 1);
	for (i = 1; i <= FZ_NODES; i++)
		members[i] = 1;
	return (struct akd_conf){
		.node = n, .host = fz_host(n), .members = members, .block = FZ_BLOCK,
		.session = fz_session(n, run), .publish_ns = 100 * FZ_MS,
		.hello_ns = 250 * FZ_MS, .recover_ns = 1000 * FZ_MS,
		.peer_timeout_ns = 3000 * FZ_MS, .verify_ns = 2000 * FZ_MS,
		.collect_ns = 1000 * FZ_MS, .max_contributors = 8,
	};
}

static inline void fz_table_conf(unsigned int n, unsigned int gen, struct akd_table_conf *tc)
{
	unsigned int ti;

	memset(tc, 0, FZ_NR_TABLES * sizeof(*tc));
	for (ti = 0; ti < FZ_NR_TABLES; ti++) {
		strcpy(tc[ti].name, fz_tables[ti].name);
		tc[ti].id = ti;
		tc[ti].nr_addrs = fz_tables[ti].nr_addrs;
		tc[ti].instance = fz_instance(n, ti, gen);
	}
}

/*
 * The message target's input: operations, each a byte (modulo FZ_OPS)
 * and its arguments, little-endian; an input that ends inside one ends.
 *   FZ_RAW     u16 len, len bytes: a message as the transport hands it over
 *   FZ_MSG     u8 type, u8 sender, u8 session, u8 table, u16 flags, u16 len,
 *              len bytes: the body after a header made here (sender modulo
 *              FZ_NODES + 2, session one of four of that sender, table t0,
 *              t1, none or unknown), sent at the core's time
 *   FZ_TICK    u16 ms: the clock moves on, then the core's tick
 *   FZ_LOCAL   u8 table, u8 address, u64 value: XORed into the local
 *              contribution, which the core then reads
 *   FZ_FAIL    the next checkpoint write fails
 *   FZ_RECONN  the transport's connection came back
 *   FZ_RESTART u8 new: the daemon restarts from its checkpoint (its table
 *              created again, a new instance, when new is odd)
 */
enum { FZ_RAW, FZ_MSG, FZ_TICK, FZ_LOCAL, FZ_FAIL, FZ_RECONN, FZ_RESTART, FZ_OPS };

/* What a core or a checkpoint counts (akd_core_account(),
 * akd_checkpoint_account()), collected and sorted to be compared. */
struct acct {
	struct { uint64_t instance, version; uint32_t block; uint16_t node; } *e;
	size_t n, cap;
};

static inline void acct_fn(void *arg, uint16_t node, uint64_t instance, uint32_t block,
		    uint64_t version)
{
	struct acct *a = arg;

	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 16;
		a->e = realloc(a->e, a->cap * sizeof(*a->e));
		if (!a->e)
			abort();
	}
	memset(&a->e[a->n], 0, sizeof(a->e[a->n]));
	a->e[a->n].instance = instance;
	a->e[a->n].version = version;
	a->e[a->n].block = block;
	a->e[a->n++].node = node;
}

static inline int acct_cmp(const void *x, const void *y)
{
	return memcmp(x, y, sizeof(((struct acct *)0)->e[0]));
}

static inline void acct_sort(struct acct *a)
{
	if (a->n)
		qsort(a->e, a->n, sizeof(*a->e), acct_cmp);
}

#endif
