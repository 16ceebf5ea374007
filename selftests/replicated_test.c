// SPDX-License-Identifier: GPL-2.0
/*
 * Replicated tables: the remote row, load and swap as local deltas, what a
 * bad request gets, and three tables of one machine converging as three
 * nodes of a cluster do, with the test itself as their daemon.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>

#include "util.h"

TRANSPORT_VARIANTS

#define N	64	/* addresses of the small tables */

/* a's table is replicated, and says so. */
static void is_replicated(struct atomik *a)
{
	struct atomik_info info;

	ASSERT_EQ(atomik_info(a, &info), 0);
	ASSERT_EQ(info.table_flags, ATOMIK_TABLE_REPLICATED);
	ASSERT_TRUE(info.features & ATOMIK_FEAT_REPLICATED);
}

static struct atomik *replicated(uint32_t nr, uint32_t *id)
{
	struct atomik *a = open_dev(O_RDWR);

	ASSERT_EQ(atomik_table_create(a, nr, ATOMIK_TABLE_SELECT | ATOMIK_TABLE_REPLICATED,
				      id), 0);
	is_replicated(a);
	return a;
}

static void drop(struct atomik *a, uint32_t id)
{
	ASSERT_EQ(atomik_table_destroy(a, id), 0);
	x_close(a);
}

/*
 * The tests of one replicated table of N addresses: made by the setup,
 * destroyed by the teardown, also when the test failed (tables outlive
 * their process, and a leaked one counts against the user's limits).
 */
FIXTURE(replicated) {
	struct atomik *a;
	uint32_t id;
	int made;
};

FIXTURE_SETUP(replicated)
{
	self->a = open_dev(O_RDWR);
	ASSERT_EQ(atomik_table_create(self->a, N, ATOMIK_TABLE_SELECT |
				      ATOMIK_TABLE_REPLICATED, &self->id), 0);
	self->made = 1;
	is_replicated(self->a);
}

FIXTURE_TEARDOWN(replicated)
{
	if (self->made)
		EXPECT_EQ(atomik_table_destroy(self->a, self->id), 0);
	if (self->a)
		x_close(self->a);
}

static int x_read_range_flags(struct atomik *a, uint32_t first, uint32_t count,
			      uint32_t flags, uint64_t *v)
{
	return X_CALL(a, atomik_read_range_flags(a, first, count, flags, v),
		      atomik_queue_read_range(q, first, count, flags, v, X_COOKIE));
}

/* Every address's state, local contribution and remote row. */
struct view {
	uint64_t state[N], local[N], remote[N];
};

static void look(struct atomik *a, struct view *v)
{
	ASSERT_EQ(x_read_range(a, 0, N, v->state), 0);
	ASSERT_EQ(x_read_range_flags(a, 0, N, ATOMIK_READ_ACCUM, v->local), 0);
	ASSERT_EQ(x_remote_read(a, 0, N, v->remote), 0);
}

static void same_view(const struct view *x, const struct view *y)
{
	uint32_t i;

	for (i = 0; i < N; i++) {
		ASSERT_EQ(x->state[i], y->state[i]);
		ASSERT_EQ(x->local[i], y->local[i]);
		ASSERT_EQ(x->remote[i], y->remote[i]);
	}
}

TEST_F(replicated, state_is_local_xor_remote)
{
	uint64_t s = test_seed(), local[N] = { 0 }, remote[N];
	struct atomik *a = self->a;
	struct view v;
	uint32_t i, k;

	look(a, &v);
	for (i = 0; i < N; i++)
		ASSERT_EQ(v.state[i] | v.local[i] | v.remote[i], 0);
	for (k = 0; k < 4 * N; k++) {
		uint32_t addr = rnd(&s) % N;
		uint64_t d = rnd(&s);

		ASSERT_EQ(x_accum(a, addr, d), 0);
		local[addr] ^= d;
	}
	for (i = 0; i < N; i++)
		remote[i] = rnd(&s);
	ASSERT_EQ(x_remote_set(a, 0, N, remote), 0);
	look(a, &v);
	for (i = 0; i < N; i++) {
		ASSERT_EQ(v.local[i], local[i]);
		ASSERT_EQ(v.remote[i], remote[i]);
		ASSERT_EQ(v.state[i], local[i] ^ remote[i]);
		ASSERT_EQ(state(a, i), local[i] ^ remote[i]);
	}
	/* A part of the row: the rest stays. */
	remote[5] = 0x55;
	remote[6] = 0x66;
	ASSERT_EQ(x_remote_set(a, 5, 2, remote + 5), 0);
	look(a, &v);
	for (i = 0; i < N; i++) {
		ASSERT_EQ(v.remote[i], remote[i]);
		ASSERT_EQ(v.state[i], local[i] ^ remote[i]);
	}
}

TEST(remote_set_is_idempotent_and_last_wins)
{
	uint64_t s = test_seed(), v1[N], v2[N];
	struct view once, twice, only2;
	struct atomik *a, *b;
	uint32_t ida, idb, i;

	a = replicated(N, &ida);
	b = replicated(N, &idb);
	for (i = 0; i < N; i++) {
		uint64_t d = rnd(&s);

		v1[i] = rnd(&s);
		v2[i] = rnd(&s);
		ASSERT_EQ(x_accum(a, i, d), 0);
		ASSERT_EQ(x_accum(b, i, d), 0);
	}
	ASSERT_EQ(x_remote_set(a, 0, N, v1), 0);
	look(a, &once);
	ASSERT_EQ(x_remote_set(a, 0, N, v1), 0);
	look(a, &twice);
	same_view(&once, &twice);
	/* v1 then v2 on a, v2 alone on b: the same tables. */
	ASSERT_EQ(x_remote_set(a, 0, N, v2), 0);
	ASSERT_EQ(x_remote_set(b, 0, N, v2), 0);
	look(a, &twice);
	look(b, &only2);
	same_view(&twice, &only2);
	for (i = 0; i < N; i++)
		ASSERT_EQ(twice.remote[i], v2[i]);
	drop(a, ida);
	drop(b, idb);
}

/*
 * Load and swap set the state, and change the local contribution by exactly
 * old ^ new; the remote row stays.  Swap with keep changes nothing.
 */
TEST_F(replicated, load_and_swap_are_local_deltas)
{
	uint64_t s = test_seed(), remote[N], old, before_local, after_local, got;
	struct atomik_op ops[3];
	struct atomik *a = self->a;
	uint32_t i;

	for (i = 0; i < N; i++) {
		remote[i] = rnd(&s);
		ASSERT_EQ(x_accum(a, i, rnd(&s)), 0);
	}
	ASSERT_EQ(x_remote_set(a, 0, N, remote), 0);
	for (i = 0; i < N; i++) {
		uint64_t want = rnd(&s), cur = state(a, i);

		ASSERT_EQ(x_read_accum(a, i, &before_local), 0);
		if (i % 3 == 0) {
			ASSERT_EQ(x_load(a, i, want), 0);
		} else if (i % 3 == 1) {
			ASSERT_EQ(x_swap(a, i, want, &old), 0);
			ASSERT_EQ(old, cur);
		} else {
			ASSERT_EQ(x_swap_keep(a, i, &old), 0);
			ASSERT_EQ(old, cur);
			want = cur;
		}
		ASSERT_EQ(x_read_accum(a, i, &after_local), 0);
		ASSERT_EQ(state(a, i), want);
		ASSERT_EQ(after_local, before_local ^ cur ^ want);
		ASSERT_EQ(after_local ^ remote[i], want);
	}
	/* A delta after a load still applies on top of the loaded state. */
	ASSERT_EQ(x_load(a, 7, 0x700), 0);
	ASSERT_EQ(x_accum(a, 7, 0x7), 0);
	ASSERT_EQ(state(a, 7), 0x707);
	/* Remote values that arrive after a load apply on top of it too. */
	remote[7] ^= 0x70000;
	ASSERT_EQ(x_remote_set(a, 7, 1, &remote[7]), 0);
	ASSERT_EQ(state(a, 7), 0x70707);
	/* The same in a mixed batch. */
	memset(ops, 0, sizeof(ops));
	ops[0].opcode = ATOMIK_OP_LOAD;
	ops[0].addr = 9;
	ops[0].value = 0x99;
	ops[1].opcode = ATOMIK_OP_SWAP;
	ops[1].addr = 9;
	ops[1].value = 0x990;
	ops[2].opcode = ATOMIK_OP_READ;
	ops[2].addr = 9;
	ops[2].flags = ATOMIK_READ_ACCUM;
	ASSERT_EQ(x_op_batch(a, ops, 3), 0);
	ASSERT_EQ(ops[1].result, 0x99);
	ASSERT_EQ(ops[2].result, 0x990 ^ remote[9]);
	ASSERT_EQ(x_read(a, 9, &got), 0);
	ASSERT_EQ(got, 0x990);
}

/* A table that is not replicated keeps its load and swap, and refuses the
 * remote row with EOPNOTSUPP.
 */
TEST(plain_table_is_unchanged)
{
	struct atomik *a = open_dev(O_RDWR);
	struct atomik_info info;
	uint64_t v[2] = { 1, 2 }, acc, old;
	uint32_t id;

	ASSERT_EQ(atomik_table_create(a, N, ATOMIK_TABLE_SELECT, &id), 0);
	ASSERT_EQ(atomik_info(a, &info), 0);
	ASSERT_EQ(info.table_flags, 0);
	ASSERT_EQ(x_accum(a, 1, 0xF0), 0);
	ASSERT_EQ(x_load(a, 1, 0x1234), 0);
	ASSERT_EQ(x_read_accum(a, 1, &acc), 0);
	ASSERT_EQ(acc, 0);
	ASSERT_EQ(x_accum(a, 1, 0x1), 0);
	ASSERT_EQ(x_swap(a, 1, 0x77, &old), 0);
	ASSERT_EQ(old, 0x1235);
	ASSERT_EQ(x_read_accum(a, 1, &acc), 0);
	ASSERT_EQ(acc, 0);
	ASSERT_EQ(state(a, 1), 0x77);
	ASSERT_EQ(x_remote_set(a, 0, 2, v), -EOPNOTSUPP);
	ASSERT_EQ(x_remote_read(a, 0, 2, v), -EOPNOTSUPP);
	ASSERT_EQ(v[0], 1);
	ASSERT_EQ(state(a, 0), 0);
	ASSERT_EQ(state(a, 1), 0x77);
	drop(a, id);
}

/* Each bad request gets its errno, and the table does not move. */
TEST_F(replicated, bad_remote_requests_change_nothing)
{
	uint64_t s = test_seed(), remote[N], big[N + 1];
	struct atomik_range r = { 0 };
	struct view before, after;
	struct atomik *a = self->a, *ro;
	uint32_t id = self->id, i;
	void *hole;

	for (i = 0; i < N; i++) {
		remote[i] = rnd(&s);
		big[i] = ~remote[i];
		ASSERT_EQ(x_accum(a, i, rnd(&s)), 0);
	}
	big[N] = 1;
	ASSERT_EQ(x_remote_set(a, 0, N, remote), 0);
	look(a, &before);
	/* Past the end, wrapping, count 0, count past the batch limit. */
	ASSERT_EQ(x_remote_set(a, 1, N, big), -EINVAL);
	ASSERT_EQ(x_remote_set(a, 0, N + 1, big), -EINVAL);
	ASSERT_EQ(x_remote_set(a, N, 1, big), -EINVAL);
	ASSERT_EQ(x_remote_set(a, UINT32_MAX, 2, big), -EINVAL);
	ASSERT_EQ(x_remote_set(a, 0, 0, big), -EINVAL);
	ASSERT_EQ(x_remote_read(a, 1, N, big), -EINVAL);
	ASSERT_EQ(x_remote_read(a, 0, 0, big), -EINVAL);
	ASSERT_EQ(x_remote_set(a, 0, ATOMIK_MAX_BATCH + 1, big), -E2BIG);
	ASSERT_EQ(x_remote_read(a, 0, ATOMIK_MAX_BATCH + 1, big), -E2BIG);
	/* Unmapped: nothing is set, even the part before the hole. */
	hole = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(hole != MAP_FAILED);
	ASSERT_OK(munmap((char *)hole + 4096, 4096));
	memset(hole, 0xAB, 4096);
	ASSERT_EQ(x_remote_set(a, 0, N, (uint64_t *)((char *)hole + 4096 - 8 * (N / 2))),
		  -EFAULT);
	ASSERT_EQ(x_remote_set(a, 0, N, NULL), -EFAULT);
	ASSERT_EQ(x_remote_read(a, 0, N, NULL), -EFAULT);
	ASSERT_OK(munmap(hole, 4096));
	/* Flags and the reserved word: no meaning yet. */
	r.ptr = (uintptr_t)big;
	r.count = 1;
	r.flags = ATOMIK_READ_ACCUM;
	ASSERT_ERRNO(ioctl(atomik_fd(a), ATOMIK_IOC_REMOTE_SET, &r), EINVAL);
	ASSERT_ERRNO(ioctl(atomik_fd(a), ATOMIK_IOC_REMOTE_READ, &r), EINVAL);
	r.flags = 0;
	r.reserved = 1;
	ASSERT_ERRNO(ioctl(atomik_fd(a), ATOMIK_IOC_REMOTE_SET, &r), EINVAL);
	/* A read-only descriptor reads the row but cannot set it. */
	ro = open_dev(O_RDONLY);
	ASSERT_EQ(atomik_table_select(ro, id), 0);
	ASSERT_EQ(x_remote_set(ro, 0, N, big), -EBADF);
	ASSERT_EQ(x_remote_read(ro, 0, N, big), 0);
	for (i = 0; i < N; i++)
		ASSERT_EQ(big[i], remote[i]);
	x_close(ro);
	look(a, &after);
	same_view(&before, &after);
}

/* The remote row is memory the table holds, charged like the rest. */
TEST(remote_row_is_charged)
{
	const uint32_t nr = 65536;
	struct atomik *a = open_dev(O_RDWR);
	uint64_t m0, plain, repl;
	uint32_t p, r;

	m0 = memory_settled();
	ASSERT_EQ(atomik_table_create(a, nr, 0, &p), 0);
	plain = sysfs_u64("memory_bytes") - m0;
	m0 = memory_settled();
	ASSERT_EQ(atomik_table_create(a, nr, ATOMIK_TABLE_REPLICATED, &r), 0);
	repl = sysfs_u64("memory_bytes") - m0;
	TH_LOG("a table of %u addresses holds %llu bytes, %llu replicated", nr,
	       (unsigned long long)plain, (unsigned long long)repl);
	/* The row, and vmalloc's array of its pages at most. */
	ASSERT_GE(repl - plain, (uint64_t)nr * 8);
	ASSERT_LE(repl - plain, (uint64_t)nr * 8 + 4096);
	ASSERT_EQ(atomik_table_destroy(a, p), 0);
	ASSERT_EQ(atomik_table_destroy(a, r), 0);
	x_close(a);
}

/*
 * A reader never sees an address's remote value half set: while one thread
 * sets the row to X and Y in turn, every state read is local ^ X or
 * local ^ Y, address by address.
 */
static atomic_int remote_stop;
static uint32_t remote_table;

static void *remote_flipper(void *arg)
{
	const uint64_t *xy = arg;
	struct atomik *a = open_dev(O_RDWR);
	uint64_t row[N];
	int k = 0, i;

	ASSERT_EQ(atomik_table_select(a, remote_table), 0);
	while (!atomic_load(&remote_stop)) {
		for (i = 0; i < N; i++)
			row[i] = xy[k & 1];
		ASSERT_EQ(atomik_remote_set(a, 0, N, row), 0);
		k++;
	}
	atomik_close(a);
	return NULL;
}

TEST(concurrent_reads_see_whole_values)
{
	static const uint64_t xy[2] = { 0x0123456789ABCDEFULL, 0xFEDCBA9876543210ULL };
	uint64_t local[N], st[N];
	struct atomik *a;
	pthread_t th;
	uint32_t i;
	int k, bad = 0;

	a = replicated(N, &remote_table);
	for (i = 0; i < N; i++) {
		local[i] = 0x1111111111111111ULL * (i & 15);
		ASSERT_EQ(x_accum(a, i, local[i]), 0);
	}
	ASSERT_EQ(pthread_create(&th, NULL, remote_flipper, (void *)xy), 0);
	for (k = 0; k < 2000; k++) {
		ASSERT_EQ(x_read_range(a, 0, N, st), 0);
		for (i = 0; i < N; i++)
			bad += (st[i] ^ local[i]) != xy[0] && (st[i] ^ local[i]) != xy[1] &&
			       (st[i] ^ local[i]) != 0;
	}
	atomic_store(&remote_stop, 1);
	ASSERT_EQ(pthread_join(th, NULL), 0);
	ASSERT_EQ(bad, 0);
	drop(a, remote_table);
}

/*
 * The product brief's three nodes, as three replicated tables of this
 * machine, and this test as their daemon.  A "message" is a node's local
 * contribution with its version; a receiver keeps each contributor's
 * highest version and sets its remote row to the XOR of what it keeps.
 * Messages are delivered in a random order, each several times, with old
 * versions replayed after new ones: every node ends with the same states,
 * ref ^ every delta of every node, and the brief's 0xCA014541.
 */
#define NODES	3
#define ROUNDS	6

struct msg {
	int from;
	uint64_t version;
	uint64_t value[N];
};

struct node {
	struct atomik *a;
	uint32_t id;
	uint64_t version;
	uint64_t seen[NODES];		/* highest version applied per contributor */
	uint64_t kept[NODES][N];	/* its values */
};

static void deliver(struct node *n, int self, const struct msg *m)
{
	uint64_t remote[N];
	int j, i;

	if (m->from == self || m->version <= n->seen[m->from])
		return;
	n->seen[m->from] = m->version;
	memcpy(n->kept[m->from], m->value, sizeof(m->value));
	memset(remote, 0, sizeof(remote));
	for (j = 0; j < NODES; j++)
		if (j != self)
			for (i = 0; i < N; i++)
				remote[i] ^= n->kept[j][i];
	ASSERT_EQ(x_remote_set(n->a, 0, N, remote), 0);
}

static void publish(struct node *n, int self, struct msg *m)
{
	m->from = self;
	m->version = ++n->version;
	ASSERT_EQ(x_read_range_flags(n->a, 0, N, ATOMIK_READ_ACCUM, m->value), 0);
}

TEST(three_nodes_converge_through_remote_rows)
{
	const uint64_t init = 0xCAFEBABE, brief[NODES] = { 0xFF, 0xFF00, 0xFF0000 };
	static struct msg log[NODES * (ROUNDS + 1)];
	uint64_t s = test_seed(), want[N], st[N];
	struct node node[NODES];
	int nmsg = 0, i, j, k, r;

	memset(node, 0, sizeof(node));
	for (j = 0; j < NODES; j++)
		node[j].a = replicated(N, &node[j].id);
	/* A common reference: one node loads it, the others learn it. */
	memset(want, 0, sizeof(want));
	ASSERT_EQ(x_load(node[0].a, 0, init), 0);
	want[0] = init;
	for (r = 0; r <= ROUNDS; r++) {
		for (j = 0; j < NODES; j++) {
			/* Round 0: the brief's deltas at address 0. */
			for (k = 0; k < (r ? 8 : 1); k++) {
				uint32_t addr = r ? rnd(&s) % N : 0;
				uint64_t d = r ? rnd(&s) : brief[j];

				ASSERT_EQ(x_accum(node[j].a, addr, d), 0);
				want[addr] ^= d;
			}
			publish(&node[j], j, &log[nmsg++]);
		}
		/* Some of the log, anywhere in it, to some node: partial and
		 * stale views meanwhile.
		 */
		for (k = 0; k < 4 * NODES; k++) {
			j = rnd(&s) % NODES;
			deliver(&node[j], j, &log[rnd(&s) % nmsg]);
		}
		if (r == 0) {
			/* Every node has every round-0 message: the brief. */
			for (j = 0; j < NODES; j++)
				for (i = 0; i < nmsg; i++)
					deliver(&node[j], j, &log[i]);
			for (j = 0; j < NODES; j++)
				ASSERT_EQ(state(node[j].a, 0), 0xCA014541);
			TH_LOG("every node holds 0x%llx = 0xCAFEBABE ^ 0xFF ^ 0xFF00 ^ 0xFF0000",
			       (unsigned long long)state(node[0].a, 0));
		}
	}
	/* Anti-entropy: every message to every node, newest first, then
	 * again oldest first (duplicates and stale versions).
	 */
	for (j = 0; j < NODES; j++) {
		for (i = nmsg - 1; i >= 0; i--)
			deliver(&node[j], j, &log[i]);
		for (i = 0; i < nmsg; i++)
			deliver(&node[j], j, &log[i]);
	}
	for (j = 0; j < NODES; j++) {
		ASSERT_EQ(x_read_range(node[j].a, 0, N, st), 0);
		for (i = 0; i < N; i++)
			ASSERT_EQ(st[i], want[i]);
	}
	for (j = 0; j < NODES; j++)
		drop(node[j].a, node[j].id);
}

/*
 * The change set (ATOMIK_IOC_CHANGES): which zones of the local
 * contribution changed, taken by the daemon, with poll() to wait.
 */
#define CN	300	/* five zones of 64 addresses, the last one short */

static uint64_t take(struct atomik *a, uint32_t *flags)
{
	uint64_t map = 0xA5A5A5A5A5A5A5A5ull;
	uint32_t granule;

	ASSERT_EQ(atomik_changes(a, &map, &granule, flags), 0);
	ASSERT_EQ(granule, 64);
	ASSERT_EQ(map >> 5, 0);		/* the bits past the table's zones are 0 */
	return map;
}

static short pending(struct atomik *a, int timeout_ms)
{
	struct pollfd p = { .fd = atomik_fd(a), .events = POLLIN };

	ASSERT_GE(poll(&p, 1, timeout_ms), 0);
	return p.revents;
}

TEST(changes_show_what_changed_and_nothing_else)
{
	struct atomik_delta d[4] = {
		{ .addr = 0, .delta = 1 }, { .addr = 250, .delta = 2 },
		{ .addr = 299, .delta = 3 }, { .addr = 251, .delta = 4 },
	};
	struct atomik_op op = { .opcode = ATOMIK_OP_ACCUM, .addr = 64, .value = 5 };
	uint64_t old, r[2] = { 7, 8 };
	struct atomik_info info;
	uint32_t id, flags;
	struct atomik *a = replicated(CN, &id);

	ASSERT_EQ(atomik_info(a, &info), 0);
	ASSERT_TRUE(info.features & ATOMIK_FEAT_CHANGES);
	/* A new table: nothing changed, poll() does not report. */
	ASSERT_EQ(take(a, &flags), 0);
	ASSERT_EQ(flags, 0);
	ASSERT_EQ(pending(a, 0), 0);

	ASSERT_EQ(x_accum(a, 70, 0x70), 0);
	ASSERT_EQ(pending(a, 0), POLLIN);
	ASSERT_EQ(x_accum_batch(a, d, 4), 0);
	ASSERT_EQ(take(a, &flags), 0x1B);	/* granules 0, 1, 3, 4 */
	ASSERT_EQ(flags, 0);
	ASSERT_EQ(pending(a, 0), 0);
	ASSERT_EQ(take(a, NULL), 0);

	/* Loads and swaps change the local contribution too. */
	ASSERT_EQ(x_load(a, 130, 0x1234), 0);
	ASSERT_EQ(x_swap(a, 200, 0x55, &old), 0);
	ASSERT_EQ(take(a, NULL), 0xC);		/* granules 2, 3 */
	ASSERT_EQ(x_op_batch(a, &op, 1), 0);
	ASSERT_EQ(take(a, NULL), 0x2);
	/* The remote row is not the local contribution; reads change nothing. */
	ASSERT_EQ(x_remote_set(a, 10, 2, r), 0);
	ASSERT_EQ(x_read(a, 70, &old), 0);
	ASSERT_EQ(x_read_range(a, 0, 2, r), 0);
	ASSERT_EQ(take(a, NULL), 0);
	ASSERT_EQ(pending(a, 0), 0);
	drop(a, id);
}

TEST(bad_change_requests_change_nothing)
{
	uint64_t map = 0;
	struct atomik *a, *ro, *plain;
	uint32_t id, pid, flags = 99;
	struct atomik_changes ch = { .nr_bits = 64 };

	a = replicated(CN, &id);
	ASSERT_EQ(x_accum(a, 0, 1), 0);
	ASSERT_EQ(x_accum(a, 299, 1), 0);

	ch.map_ptr = (uintptr_t)&map;
	ch.nr_bits = 4;			/* the table has 5 zones */
	ASSERT_EQ(ioctl(atomik_fd(a), ATOMIK_IOC_CHANGES, &ch), -1);
	ASSERT_EQ(errno, EINVAL);
	ch.nr_bits = 64;
	ch.flags = 1;
	ASSERT_EQ(ioctl(atomik_fd(a), ATOMIK_IOC_CHANGES, &ch), -1);
	ASSERT_EQ(errno, EINVAL);
	ASSERT_EQ(atomik_changes(a, NULL, NULL, &flags), -EFAULT);
	ASSERT_EQ(atomik_changes(a, (uint64_t *)8, NULL, &flags), -EFAULT);
	ASSERT_EQ(flags, 99);
	ro = open_dev(O_RDONLY);
	ASSERT_EQ(atomik_table_select(ro, id), 0);
	ASSERT_EQ(atomik_changes(ro, &map, NULL, NULL), -EBADF);
	ASSERT_EQ(pending(ro, 0), POLLIN);	/* any descriptor may wait */
	x_close(ro);
	/* ... and the set is whole still. */
	ASSERT_EQ(pending(a, 0), POLLIN);
	ASSERT_EQ(take(a, NULL), 0x11);

	/* A plain table has no change set. */
	plain = open_dev(O_RDWR);
	ASSERT_EQ(atomik_table_create(plain, CN, ATOMIK_TABLE_SELECT, &pid), 0);
	ASSERT_EQ(atomik_changes(plain, &map, NULL, NULL), -EOPNOTSUPP);
	ASSERT_EQ(pending(plain, 0), POLLERR);
	drop(plain, pid);

	/* A destroyed table: no set, and poll() says it is gone. */
	ASSERT_EQ(x_accum(a, 5, 1), 0);
	ASSERT_EQ(atomik_table_destroy(a, id), 0);
	ASSERT_EQ(atomik_changes(a, &map, NULL, NULL), -ENODEV);
	ASSERT_EQ(pending(a, 0), POLLERR | POLLHUP);
	x_close(a);
}

/* Zones grow with the table: at most 64, of a power of two addresses. */
TEST(large_tables_have_64_zones_at_most)
{
	static const uint32_t sizes[] = { 64, 4096, 4097, 65536, 100000 };
	static const uint32_t zone[] = { 64, 64, 128, 1024, 2048 };
	uint64_t map;
	uint32_t id, granule, k;
	struct atomik *a;

	for (k = 0; k < 5; k++) {
		a = replicated(sizes[k], &id);
		ASSERT_EQ(x_accum(a, sizes[k] - 1, 1), 0);
		ASSERT_EQ(x_accum(a, 0, 1), 0);
		ASSERT_EQ(atomik_changes(a, &map, &granule, NULL), 0);
		ASSERT_EQ(granule, zone[k]);
		ASSERT_EQ(map, 1ull | 1ull << ((sizes[k] - 1) / zone[k]));
		drop(a, id);
	}
}

struct waker {
	struct atomik *a;
	int table_gone;
};

static void *wake_later(void *arg)
{
	struct waker *w = arg;

	usleep(200000);
	if (w->table_gone)
		EXPECT_EQ(atomik_table_destroy(w->a, w->table_gone), 0);
	else
		EXPECT_EQ(atomik_accum(w->a, 100, 1), 0);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

TEST(a_change_wakes_poll_and_epoll)
{
	struct epoll_event ev = { .events = EPOLLIN }, got;
	struct waker w = { 0 };
	pthread_t th;
	uint32_t id;
	double t0;
	int ep;

	w.a = replicated(CN, &id);
	/* poll() sleeps until another thread's delta lands. */
	t0 = now_s();
	ASSERT_EQ(pthread_create(&th, NULL, wake_later, &w), 0);
	ASSERT_EQ(pending(w.a, 20000), POLLIN);
	ASSERT_EQ(pthread_join(th, NULL), 0);
	ASSERT_GE(now_s() - t0, 0.19);
	ASSERT_EQ(take(w.a, NULL), 0x2);

	/* epoll, level-triggered: reported until the set is taken. */
	ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_GE(ep, 0);
	ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, atomik_fd(w.a), &ev), 0);
	ASSERT_EQ(epoll_wait(ep, &got, 1, 0), 0);
	ASSERT_EQ(pthread_create(&th, NULL, wake_later, &w), 0);
	ASSERT_EQ(epoll_wait(ep, &got, 1, 20000), 1);
	ASSERT_EQ(got.events, EPOLLIN);
	ASSERT_EQ(pthread_join(th, NULL), 0);
	ASSERT_EQ(epoll_wait(ep, &got, 1, 0), 1);
	ASSERT_EQ(take(w.a, NULL), 0x2);
	ASSERT_EQ(epoll_wait(ep, &got, 1, 0), 0);

	/* The table destroyed under a sleeping epoll: it wakes, and says so. */
	w.table_gone = id;
	ASSERT_EQ(pthread_create(&th, NULL, wake_later, &w), 0);
	ASSERT_EQ(epoll_wait(ep, &got, 1, 20000), 1);
	ASSERT_EQ(got.events, EPOLLERR | EPOLLHUP);
	ASSERT_EQ(pthread_join(th, NULL), 0);
	close(ep);
	x_close(w.a);
}

TEST(mapped_writers_make_the_set_untracked)
{
	struct atomik_map *m;
	uint32_t id, flags;
	struct atomik *a = replicated(CN, &id);

	ASSERT_EQ(atomik_map(a, &m), 0);
	ASSERT_EQ(atomik_map_accum(m, 3, 1), 0);
	take(a, &flags);
	ASSERT_EQ(flags, ATOMIK_CHANGES_UNTRACKED);
	take(a, &flags);
	ASSERT_EQ(flags, ATOMIK_CHANGES_UNTRACKED);
	atomik_unmap(m);
	/* Once more: what the map wrote before it went. */
	take(a, &flags);
	ASSERT_EQ(flags, ATOMIK_CHANGES_UNTRACKED);
	take(a, &flags);
	ASSERT_EQ(flags, 0);
	drop(a, id);
}

/*
 * The daemon's loop against writers on every CPU: take the set, read what
 * it names into a mirror of the local contribution.  Once the writers stop
 * and the set is taken a last time, the mirror is the contribution, and the
 * contribution is the XOR of every delta: nothing was missed.
 */
#define MN	8192	/* 64 zones of 128 addresses */
#define MWRITERS 3

static atomic_int mirror_stop;
static uint32_t mirror_id;

struct mwriter {
	uint64_t sum[MN];
	unsigned int seed;
};

static void *mirror_writer(void *arg)
{
	struct mwriter *w = arg;
	struct atomik_delta d[64] = { 0 };
	struct atomik *a = open_dev(O_RDWR);
	unsigned int i, n;

	ASSERT_EQ(atomik_table_select(a, mirror_id), 0);
	while (!atomic_load(&mirror_stop)) {
		n = 1 + rand_r(&w->seed) % 64;
		for (i = 0; i < n; i++) {
			d[i].addr = rand_r(&w->seed) % MN;
			d[i].delta = ((uint64_t)rand_r(&w->seed) << 32) | rand_r(&w->seed) | 1;
			w->sum[d[i].addr] ^= d[i].delta;
		}
		if (n == 1)
			ASSERT_EQ(x_accum(a, d[0].addr, d[0].delta), 0);
		else
			ASSERT_EQ(x_accum_batch(a, d, n), 0);
	}
	x_close(a);
	return NULL;
}

static unsigned int mirror_pass(struct atomik *a, uint64_t *mirror)
{
	uint64_t map, v[MN / 8];
	uint32_t z, granule, n = 0;

	ASSERT_EQ(atomik_changes(a, &map, &granule, NULL), 0);
	ASSERT_EQ(granule, MN / 64);
	for (z = 0; z < 64; z++) {
		if (!(map >> z & 1))
			continue;
		ASSERT_EQ(atomik_read_range_flags(a, z * granule, granule, ATOMIK_READ_ACCUM, v), 0);
		memcpy(mirror + z * granule, v, granule * 8);
		n++;
	}
	return n;
}

TEST(the_set_misses_nothing_under_writers)
{
	static struct mwriter w[MWRITERS];
	static uint64_t mirror[MN], local[MN];
	pthread_t th[MWRITERS];
	unsigned int i, k, passes = 0, read = 0;
	struct atomik *a = replicated(MN, &mirror_id);
	double end;

	atomic_store(&mirror_stop, 0);
	for (k = 0; k < MWRITERS; k++) {
		memset(w[k].sum, 0, sizeof(w[k].sum));
		w[k].seed = 1234 + k;
		ASSERT_EQ(pthread_create(&th[k], NULL, mirror_writer, &w[k]), 0);
	}
	end = now_s() + 1;
	while (now_s() < end) {
		if (!pending(a, 100))
			continue;
		read += mirror_pass(a, mirror);
		passes++;
	}
	atomic_store(&mirror_stop, 1);
	for (k = 0; k < MWRITERS; k++)
		ASSERT_EQ(pthread_join(th[k], NULL), 0);
	read += mirror_pass(a, mirror);
	ASSERT_EQ(x_read_range_flags(a, 0, MN, ATOMIK_READ_ACCUM, local), 0);
	for (i = 0; i < MN; i++) {
		uint64_t want = 0;

		for (k = 0; k < MWRITERS; k++)
			want ^= w[k].sum[i];
		ASSERT_EQ(local[i], want);
		ASSERT_EQ(mirror[i], local[i]);
	}
	ASSERT_GT(passes, 1);
	TH_LOG("%u passes read %u zones; the mirror is the contribution", passes, read);
	drop(a, mirror_id);
}
