// SPDX-License-Identifier: GPL-2.0
/*
 * atomikd-sim: a deterministic simulator of an atomikd cluster.
 *
 * Many nodes run the daemon's real protocol core (core.c) over a simulated
 * network that loses, duplicates, reorders, delays and partitions
 * messages, on a simulated clock, against simulated devices: a node's
 * table is its local contribution (the deltas accumulated on it) and the
 * remote row the core writes.  Faults come from a schedule: a seeded
 * random one, or one of the named cases below.  Daemons are killed and
 * started again, modules reloaded (a new table instance, the checkpoint
 * kept), nodes rebooted (a new instance, the checkpoint gone unless the
 * state directory is persistent), checkpoints fail to be written,
 * configurations change; tables take loads and swaps.  After the schedule
 * the network heals and goes quiet, and every node must hold, exactly:
 *
 *   - the same state as every other node, table by table;
 *   - for every contributor (a node's table instance) and block, a version
 *     the contributor published, no older than the newest one that some
 *     node still held when the schedule ended (in its daemon's memory or
 *     in a checkpoint it kept), its values exactly those published, each
 *     counted once; every live instance's whole contribution;
 *   - no regression on the way: a remote row never went back to an older
 *     version of a contributor it had held.
 *
 * Every run is reproducible from its seed.  Documentation/atomik/cluster.rst,
 * "How it is tested", describes the checks and how to replay a failure.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atomikd.h"
#include "core.h"

#define MAX_NODES	32
#define MAX_TABLES	4
#define MS		1000000ull
#define SEC		1000000000ull

/* ---- a seeded random source ---- */

static uint64_t rng;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t below(uint32_t n)
{
	return n ? rnd() % n : 0;
}

static bool chance(uint32_t ppm)
{
	return below(1000000) < ppm;
}

/* ---- a map of three words to one ---- */

struct key {
	uint64_t a, b, c;
};

struct slot {
	struct key k;
	uint64_t v;
	bool used;
};

struct map {
	struct slot *s;
	size_t cap, n;
};

static uint64_t hash(const struct key *k)
{
	uint64_t h = k->a * 0x9e3779b97f4a7c15ull ^ k->b * 0xc2b2ae3d27d4eb4full ^
		     k->c * 0x165667b19e3779f9ull;

	return h ^ (h >> 29);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p) {
		fprintf(stderr, "atomikd-sim: out of memory\n");
		exit(2);
	}
	return p;
}

static struct slot *map_find(struct map *m, const struct key *k, bool add)
{
	size_t i;

	if (add && (m->n + 1) * 2 > m->cap) {
		struct map big = { xcalloc(m->cap ? m->cap * 2 : 64, sizeof(struct slot)),
				   m->cap ? m->cap * 2 : 64, 0 };

		for (i = 0; i < m->cap; i++)
			if (m->s[i].used)
				*map_find(&big, &m->s[i].k, true) = m->s[i];
		free(m->s);
		*m = big;
	}
	if (!m->cap)
		return NULL;
	for (i = hash(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct slot *s = &m->s[i];

		if (!s->used) {
			if (!add)
				return NULL;
			s->used = true;
			s->k = *k;
			s->v = 0;
			m->n++;
			return s;
		}
		if (!memcmp(&s->k, k, sizeof(*k)))
			return s;
	}
}

static uint64_t map_get(struct map *m, uint64_t a, uint64_t b, uint64_t c)
{
	struct key k = { a, b, c };
	struct slot *s = map_find(m, &k, false);

	return s ? s->v : 0;
}

static void map_max(struct map *m, uint64_t a, uint64_t b, uint64_t c, uint64_t v)
{
	struct key k = { a, b, c };
	struct slot *s = map_find(m, &k, true);

	if (v > s->v)
		s->v = v;
}

static void map_clear(struct map *m)
{
	free(m->s);
	memset(m, 0, sizeof(*m));
}

/* ---- the cluster ---- */

/* A table of the cluster, by its name. */
struct gtable {
	char name[AKD_NAME_MAX];
	uint32_t nr_addrs;
};

/* A node's device table. */
struct dtable {
	unsigned int g;			/* its cluster table */
	uint32_t id, nr_addrs;
	uint64_t instance;
	uint64_t *local, *remote;	/* ref is 0 */
	uint8_t *ckpt;			/* the checkpoint file; NULL: none */
	size_t ckpt_len;
	struct map dev;			/* (block, instance) -> version in the remote row */
};

struct node {
	uint16_t id;			/* the configured node id */
	uint32_t host;			/* its machine */
	struct akd_core *core;		/* NULL: no daemon running */
	uint64_t session;
	uint64_t boot_at;		/* the simulated time its clock started */
	uint64_t tick_at;
	unsigned int group;		/* partition: nodes talk within a group */
	bool persist_fails, persistent, refused;
	unsigned int nr_t;
	struct dtable t[MAX_TABLES];
	uint64_t link_free_at;
	uint64_t bytes_sent, msgs_sent;
	struct map legit;		/* (g, instance, block) -> version it may not lose */
	struct map last;		/* its last account, (g, instance, block) -> version */
	unsigned int records_seen[MAX_TABLES];
};

struct msg {
	int from, to;
	uint8_t *buf;
	size_t len;
};

enum ev_type { EV_DELIVER, EV_TICK, EV_FAULT };

enum fault {
	F_ACCUM, F_LOAD, F_SWAP, F_CUT, F_HEAL, F_KILL, F_START, F_STOP, F_RELOAD, F_REBOOT,
	F_PERSIST_FAIL, F_PERSIST_OK, F_SET_ID, F_DROP_CKPT, F_CORRUPT_REMOTE, F_MARK,
	F_EXPECT_EQUAL, F_MEMBER, F_COUNT,
};

struct event {
	uint64_t at, seq;
	enum ev_type type;
	int node;
	struct msg *m;
	enum fault f;
	uint64_t arg, arg2;
};

struct sched {
	unsigned int nodes, nr_g;
	struct gtable g[MAX_TABLES];
	uint32_t block;
	uint64_t publish_ns, hello_ns, recover_ns, peer_timeout_ns, verify_ns, collect_ns;
	uint32_t max_contributors;
	uint32_t loss_ppm, dup_ppm;
	uint64_t delay_max;		/* a message's extra delay, uniform */
	uint64_t link_bps;		/* a node's outgoing bytes per second */
	uint64_t fault_end;		/* then the network heals and goes quiet */
	uint64_t quiet_max;
	bool persistent;
	bool expect_collected;		/* every dead instance collected at the end */
	bool heal_time;			/* measure how long after the heal it converged */
	uint64_t healed_ns;		/* ... that time (0: never) */
	uint64_t heal_bytes;		/* ... and the bytes every node sent meanwhile */
	uint64_t heal_patches;		/* ... and the repairs sent as a patch */
	uint64_t whole_mask;		/* node k's daemon asks for whole blocks (bit k),
					   as daemons before PATCH */
	uint32_t forge_ppm;		/* a message delivered after a forged copy */
	uint8_t members[AKD_MAX_NODE + 1];
};

#define CONTRIB_SLACK	4

static struct sched S;
static struct node nodes[MAX_NODES];
static uint64_t now;
static bool quiet;
static struct event *heap;
static size_t heap_n, heap_cap;
static uint64_t ev_seq;
/* The oracle: what was published, and what must not be lost. */
static struct map snaps;		/* (g << 32 | block, instance, version) -> values */
static struct map inst_g;		/* (instance, 0, 0) -> g + 1 */
static struct map inst_node;		/* (instance, 0, 0) -> configured node id */
static struct map required;		/* (g, instance, block) -> version */
static struct map seen;			/* (g, instance, block) -> newest version counted */
static struct map collected_at;		/* (g, instance, block) -> version collected + 1 */
static unsigned int failures;
static char first_failure[512];
static int verbose;
static uint64_t seed_now;
/* For the cases' own checks. */
static unsigned int refusals;
static uint64_t mark_at[8];

static void fail(const char *fmt, ...)
{
	va_list ap;
	char buf[512];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (!failures++)
		snprintf(first_failure, sizeof(first_failure), "%s", buf);
	if (verbose)
		printf("#   at %.3f s: %s\n", now / 1e9, buf);
}

static void core_log(void *arg, const char *fmt, va_list ap)
{
	if (verbose > 1) {
		printf("#     %.3f node %ld: ", now / 1e9, (long)(intptr_t)arg);
		vprintf(fmt, ap);
		putchar('\n');
	}
}

/* ---- events ---- */

static bool ev_before(const struct event *a, const struct event *b)
{
	return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void push(struct event e)
{
	size_t i;

	if (heap_n == heap_cap) {
		heap_cap = heap_cap ? heap_cap * 2 : 1024;
		heap = realloc(heap, heap_cap * sizeof(*heap));
		if (!heap)
			exit(2);
	}
	e.seq = ev_seq++;
	for (i = heap_n++; i && ev_before(&e, &heap[(i - 1) / 2]); i = (i - 1) / 2)
		heap[i] = heap[(i - 1) / 2];
	heap[i] = e;
}

static struct event pop(void)
{
	struct event top = heap[0], last = heap[--heap_n];
	size_t i = 0, c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= heap_n)
			break;
		if (c + 1 < heap_n && ev_before(&heap[c + 1], &heap[c]))
			c++;
		if (!ev_before(&heap[c], &last))
			break;
		heap[i] = heap[c];
		i = c;
	}
	heap[i] = last;
	return top;
}

static void fault_at(uint64_t at, enum fault f, int node, uint64_t arg, uint64_t arg2)
{
	push((struct event){ .at = at, .type = EV_FAULT, .f = f, .node = node, .arg = arg,
			     .arg2 = arg2 });
}

/* ---- the oracle ---- */

static uint32_t blen(const struct dtable *t, uint32_t b)
{
	uint32_t first = b * S.block;

	return t->nr_addrs - first < S.block ? t->nr_addrs - first : S.block;
}

static const uint64_t *snapshot(unsigned int g, uint64_t instance, uint32_t b, uint64_t v)
{
	return (const uint64_t *)(uintptr_t)map_get(&snaps, (uint64_t)g << 32 | b, instance, v);
}

static uint64_t node_clock(const struct node *n)
{
	return now - n->boot_at + 5 * SEC;
}

struct acct {
	struct node *n;
	unsigned int ti;
	struct map *into;		/* (g, instance, block) -> version */
	uint32_t block;			/* only this block, if only_block */
	bool only_block, others;	/* others: not the live instance */
	bool dup;
};

/*
 * The version a collected block was counted at: the newest any node had
 * counted of it just before the first reported it collected.
 */
static uint64_t collected_version(struct node *n, unsigned int g, uint64_t instance, uint32_t b)
{
	struct key k = { g, instance, b };
	struct slot *s = map_find(&collected_at, &k, true);

	unsigned int i;

	/* Stored plus one: 1 is "it had nothing there".  The newest: a
	 * member that did not hold it (the first to hear of the record, it
	 * may be) does not say what it was; a collector that folded less than
	 * a member held reads apart from what the oracle counts. */
	if (!s->v) {
		uint64_t v = map_get(&n->last, g, instance, b);

		for (i = 0; i < S.nodes; i++)
			if (map_get(&nodes[i].last, g, instance, b) > v)
				v = map_get(&nodes[i].last, g, instance, b);
		s->v = v + 1;
	}
	return s->v - 1;
}

static void acct_fn(void *arg, uint16_t node, uint64_t instance, uint32_t block, uint64_t v)
{
	struct acct *a = arg;
	struct dtable *t = &a->n->t[a->ti];
	struct key k = { t->g, instance, block };
	struct slot *s;

	if (a->only_block && block != a->block)
		return;
	if (v == AKD_VERSION_COLLECTED) {
		v = collected_version(a->n, t->g, instance, block);
		if (!v)
			return;	/* it had nothing there */
	} else {
		map_max(&seen, t->g, instance, block, v);
	}
	if (a->others && instance == t->instance)
		return;
	s = map_find(a->into, &k, true);
	if (s->v)
		a->dup = true;
	if (v > s->v)
		s->v = v;
}

static void account(struct node *n, unsigned int ti, struct map *into, bool *dup)
{
	struct acct a = { .n = n, .ti = ti, .into = into };

	akd_core_account(n->core, ti, acct_fn, &a);
	if (dup)
		*dup = a.dup;
}

/* What a checkpoint of table ti holds, into m. */
static void ckpt_fn(void *arg, uint16_t node, uint64_t instance, uint32_t block, uint64_t v)
{
	struct acct *a = arg;
	unsigned int g = a->n->t[a->ti].g;

	if (v == AKD_VERSION_COLLECTED) {
		v = map_get(&collected_at, g, instance, block);
		v = v ? v - 1 : 0;
	}
	if (v)
		map_max(a->into, g, instance, block, v);
}

static void legit_from_checkpoints(struct node *n)
{
	unsigned int ti;

	map_clear(&n->legit);
	for (ti = 0; ti < n->nr_t; ti++) {
		struct acct a = { .n = n, .ti = ti, .into = &n->legit };

		struct akd_table_conf tc = { .id = n->t[ti].id, .nr_addrs = n->t[ti].nr_addrs,
					     .instance = n->t[ti].instance };

		snprintf(tc.name, sizeof(tc.name), "%s", S.g[n->t[ti].g].name);
		if (n->t[ti].ckpt)
			akd_checkpoint_account(n->t[ti].ckpt, n->t[ti].ckpt_len, n->id, n->host,
					       &tc, S.block, ckpt_fn, &a);
	}
}

/* After the core acted: new publishes of its own, and what it holds now. */
static void observe(struct node *n)
{
	struct map last = { 0 };
	unsigned int ti, i;

	for (ti = 0; ti < n->nr_t; ti++) {
		struct dtable *t = &n->t[ti];
		struct acct a = { .n = n, .ti = ti };
		struct map m = { 0 };

		struct akd_table_info inf;

		/* What is collected was seen when it was counted apart: the whole
		 * account only when a record came, to resolve it while this
		 * node's last account still has it. */
		a.into = &m;
		akd_core_table_info(n->core, ti, &inf);
		if (inf.records != n->records_seen[ti]) {
			n->records_seen[ti] = inf.records;
			akd_core_account(n->core, ti, acct_fn, &a);
			map_clear(&m);
		}
		akd_core_account_direct(n->core, ti, acct_fn, &a);
		for (i = 0; i < m.cap; i++) {
			struct slot *s = &m.s[i];

			if (!s->used)
				continue;
			if (s->k.b == t->instance) {
				struct key k = { (uint64_t)t->g << 32 | s->k.c, t->instance, s->v };
				struct slot *sn = map_find(&snaps, &k, true);

				if (!sn->v) {
					uint64_t *vals = xcalloc(blen(t, s->k.c), 8);

					memcpy(vals, t->local + s->k.c * S.block,
					       blen(t, s->k.c) * 8);
					sn->v = (uint64_t)(uintptr_t)vals;
				}
			}
			map_max(&n->legit, s->k.a, s->k.b, s->k.c, s->v);
			map_max(&last, s->k.a, s->k.b, s->k.c, s->v);
		}
		map_clear(&m);
	}
	map_clear(&n->last);
	n->last = last;
}

/* A remote write covered block b of table ti: what the row now counts. */
static void device_block_written(struct node *n, unsigned int ti, uint32_t b)
{
	struct dtable *t = &n->t[ti];
	struct acct a = { .n = n, .ti = ti, .only_block = true, .block = b, .others = true };
	struct map m = { 0 };
	uint64_t *want = xcalloc(blen(t, b), 8);
	size_t i;
	uint32_t j;

	a.into = &m;
	akd_core_account(n->core, ti, acct_fn, &a);
	/* Every contributor the row held for this block, at least as new. */
	for (i = 0; i < t->dev.cap; i++) {
		struct slot *s = &t->dev.s[i];

		if (!s->used || s->k.a != b || !s->v)
			continue;
		if (map_get(&m, t->g, s->k.b, b) < s->v)
			fail("node %u table %s: block %u of the remote row went back from "
			     "version %" PRIu64 " of instance %016" PRIx64 " to %" PRIu64,
			     n->id, S.g[t->g].name, b, s->v, s->k.b, map_get(&m, t->g, s->k.b, b));
	}
	for (i = 0; i < m.cap; i++) {
		struct slot *s = &m.s[i];
		const uint64_t *v;

		if (!s->used)
			continue;
		map_find(&t->dev, &(struct key){ b, s->k.b, 0 }, true)->v = s->v;
		v = snapshot(t->g, s->k.b, b, s->v);
		if (!v) {
			fail("node %u table %s: block %u counts version %" PRIu64 " of instance "
			     "%016" PRIx64 ", which was never published", n->id, S.g[t->g].name, b,
			     s->v, s->k.b);
			continue;
		}
		for (j = 0; j < blen(t, b); j++)
			want[j] ^= v[j];
	}
	if (memcmp(want, t->remote + b * S.block, blen(t, b) * 8)) {
		fail("node %u table %s: block %u of the remote row is not what the daemon "
		     "counts", n->id, S.g[t->g].name, b);
		if (verbose > 2)
			printf("#     want %016" PRIx64 " have %016" PRIx64 "\n", want[0],
			       t->remote[b * S.block]);
		if (verbose > 2)
			for (i = 0; i < m.cap; i++)
				if (m.s[i].used)
					printf("#     counts %016" PRIx64 " at %" PRIu64 ": %016" PRIx64 "\n",
					       m.s[i].k.b, m.s[i].v,
					       snapshot(t->g, m.s[i].k.b, b, m.s[i].v) ?
					       snapshot(t->g, m.s[i].k.b, b, m.s[i].v)[0] : 0);
	}
	free(want);
	map_clear(&m);
}

/* ---- the network ---- */

static void send_one(int from, int to, const struct akd_send *s)
{
	struct node *f = &nodes[from];
	uint64_t depart, at;
	struct msg *m;
	int copies = 1 + (!quiet && chance(S.dup_ppm));

	if (f->group != nodes[to].group)
		return;
	depart = (f->link_free_at > now ? f->link_free_at : now) + s->len * SEC / S.link_bps;
	f->link_free_at = depart;
	while (copies--) {
		if (!quiet && chance(S.loss_ppm))
			continue;
		m = xcalloc(1, sizeof(*m));
		m->from = from;
		m->to = to;
		m->buf = xcalloc(1, s->len);
		memcpy(m->buf, s->buf, s->len);
		m->len = s->len;
		at = depart + 200000 + (quiet ? 0 : below(S.delay_max + 1));
		push((struct event){ .at = at, .type = EV_DELIVER, .node = to, .m = m });
	}
}

/* Every node but the sender (NATS without echo), or node s->node's daemons. */
static void send(int from, const struct akd_send *s)
{
	struct node *f = &nodes[from];
	unsigned int to;

	f->bytes_sent += s->len;
	f->msgs_sent++;
	for (to = 0; to < S.nodes; to++)
		if ((int)to != from && (s->chan != AKD_CHAN_NODE || nodes[to].id == s->node))
			send_one(from, to, s);
}

/* ---- a node's daemon ---- */

/* Patches applied and new instances refused, over every daemon of every
 * schedule: that they happen. */
static uint64_t patches_applied, admission_refused;

static void destroy_core(struct node *n)
{
	patches_applied += akd_core_stats(n->core)->patches_applied;
	admission_refused += akd_core_stats(n->core)->dropped_admission;
	akd_core_destroy(n->core);
}

static void schedule_tick(struct node *n)
{
	uint64_t at;

	if (!n->core)
		return;
	at = akd_core_next_tick(n->core);
	at = at <= node_clock(n) ? now : now + (at - node_clock(n));
	if (n->tick_at && n->tick_at <= at && n->tick_at >= now)
		return;
	n->tick_at = at;
	push((struct event){ .at = at, .type = EV_TICK, .node = (int)(n - nodes) });
}

static void carry_out(struct node *n)
{
	struct akd_ready rd;
	unsigned int i, rounds;
	bool ok;

	/* What it holds now, even when it asks for nothing (a blocked node). */
	if (n->core)
		observe(n);

	for (rounds = 0; n->core && akd_core_ready(n->core, &rd); rounds++) {
		if (rounds > 1000) {
			fail("node %u: the core keeps asking for actions", n->id);
			break;
		}
		ok = !(rd.nr_persist && n->persist_fails);
		for (i = 0; ok && i < rd.nr_persist; i++) {
			struct dtable *t = &n->t[rd.persist[i].table];
			const struct akd_persist *p = &rd.persist[i];

			if (p->replace || !t->ckpt) {
				free(t->ckpt);
				t->ckpt = xcalloc(1, p->len);
				memcpy(t->ckpt, p->buf, p->len);
				t->ckpt_len = p->len;
			} else {
				t->ckpt = realloc(t->ckpt, t->ckpt_len + p->len);
				memcpy(t->ckpt + t->ckpt_len, p->buf, p->len);
				t->ckpt_len += p->len;
			}
		}
		if (akd_core_persisted(n->core, ok)) {
			for (i = 0; i < rd.nr_remote; i++) {
				const struct akd_remote *r = &rd.remote[i];
				struct dtable *t = &n->t[r->table];
				uint32_t b;

				memcpy(t->remote + r->first, r->vals, r->count * 8);
				for (b = r->first / S.block; b * S.block < r->first + r->count; b++)
					device_block_written(n, r->table, b);
			}
			for (i = 0; i < rd.nr_verify; i++) {
				const struct akd_range *r = &rd.verify[i];

				akd_core_remote_read(n->core, node_clock(n), r->table, r->first,
						     r->count, n->t[r->table].remote + r->first);
			}
		}
		for (i = 0; i < rd.nr_send; i++)
			send((int)(n - nodes), &rd.send[i]);
		akd_core_advance(n->core);
		observe(n);
		if (akd_core_fatal(n->core)) {
			/* The daemon exits with status 2 and is not restarted. */
			if (verbose)
				printf("#   at %.3f s node %u refuses to run: %s\n", now / 1e9, n->id,
				       akd_core_fatal(n->core));
			destroy_core(n);
			n->core = NULL;
			n->refused = true;
			refusals++;
			legit_from_checkpoints(n);
			return;
		}
	}
	schedule_tick(n);
}

static void new_instance(struct dtable *t)
{
	do
		t->instance = rnd();
	while (!t->instance || map_get(&inst_g, t->instance, 0, 0));
	map_find(&inst_g, &(struct key){ t->instance, 0, 0 }, true)->v = t->g + 1;
	memset(t->local, 0, t->nr_addrs * 8);
	memset(t->remote, 0, t->nr_addrs * 8);
	map_clear(&t->dev);
}

/*
 * Signatures: a stand-in for Ed25519, as deterministic, a keyed hash of
 * the bytes with the node's secret.  Whatever the simulator makes up (a
 * forger, a corrupted message) is signed with another secret, or not at
 * all; the daemon's Ed25519 is tested on the VM rig.
 */
static uint64_t sig_secret(uint16_t node)
{
	return 0x6a09e667f3bcc908ull ^ (node * 0x9e3779b97f4a7c15ull);
}

static void sig_make(uint64_t secret, const void *buf, size_t len, uint8_t sig[64])
{
	const uint8_t *p = buf;
	uint64_t h = secret, w;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	for (i = 0; i < 8; i++) {
		w = (h + i) * 0xbf58476d1ce4e5b9ull;
		w ^= w >> 31;
		memcpy(sig + 8 * i, &w, 8);
	}
}

static void sim_sign(void *arg, const void *buf, size_t len, uint8_t sig[64])
{
	sig_make(sig_secret((uint16_t)(intptr_t)arg), buf, len, sig);
}

static bool sim_verify(void *arg, uint16_t node, const void *buf, size_t len,
		       const uint8_t sig[64])
{
	uint8_t want[64];

	(void)arg;
	sig_make(sig_secret(node), buf, len, want);
	return !memcmp(want, sig, 64);
}

static void daemon_start(struct node *n)
{
	struct akd_table_conf tc[MAX_TABLES];
	struct akd_conf conf;
	unsigned int ti;
	int ret;

	if (n->core)
		return;
	memset(tc, 0, sizeof(tc));
	for (ti = 0; ti < n->nr_t; ti++) {
		snprintf(tc[ti].name, sizeof(tc[ti].name), "%s", S.g[n->t[ti].g].name);
		tc[ti].id = n->t[ti].id;
		tc[ti].nr_addrs = n->t[ti].nr_addrs;
		tc[ti].instance = n->t[ti].instance;
		map_find(&inst_node, &(struct key){ n->t[ti].instance, 0, 0 }, true)->v = n->id;
	}
	do
		n->session = rnd();
	while (!n->session);
	conf = (struct akd_conf){
		.node = n->id, .host = n->host, .members = S.members, .block = S.block,
		.session = n->session, .publish_ns = S.publish_ns, .hello_ns = S.hello_ns,
		.recover_ns = S.recover_ns, .peer_timeout_ns = S.peer_timeout_ns,
		.verify_ns = S.verify_ns, .collect_ns = S.collect_ns,
		.max_contributors = S.max_contributors,
		.whole_blocks = (S.whole_mask >> (n - nodes)) & 1, .log = core_log,
		.log_arg = (void *)(intptr_t)n->id,
		.sign = sim_sign, .verify = sim_verify, .sig_arg = (void *)(intptr_t)n->id,
	};
	ret = akd_core_create(&n->core, &conf, tc, n->nr_t);
	if (ret) {
		fail("node %u: the core refused its configuration: %s", n->id, strerror(-ret));
		n->core = NULL;
		return;
	}
	for (ti = 0; ti < n->nr_t; ti++) {
		if (!n->t[ti].ckpt)
			continue;
		ret = akd_core_restore(n->core, ti, n->t[ti].ckpt, n->t[ti].ckpt_len);
		if (ret == -EEXIST) {
			/* The daemon refuses to start: exit status 2. */
			if (verbose)
				printf("#   at %.3f s node %u refuses to start: %s\n", now / 1e9, n->id,
				       akd_core_fatal(n->core));
			destroy_core(n);
			n->core = NULL;
			n->refused = true;
			refusals++;
			return;
		}
	}
	n->refused = false;
	n->tick_at = 0;
	akd_core_start(n->core, node_clock(n));
	for (ti = 0; ti < n->nr_t; ti++)
		akd_core_local(n->core, node_clock(n), ti, n->t[ti].local);
	carry_out(n);
}

static void daemon_kill(struct node *n)
{
	if (!n->core)
		return;
	destroy_core(n);
	n->core = NULL;
	n->tick_at = 0;
	legit_from_checkpoints(n);
}

static void daemon_stop(struct node *n)
{
	if (!n->core)
		return;
	akd_core_stop(n->core, node_clock(n));
	carry_out(n);
	daemon_kill(n);
}

static void tick(struct node *n)
{
	if (!n->core)
		return;
	n->tick_at = 0;
	akd_core_tick(n->core, node_clock(n));
	carry_out(n);
}

/*
 * Forged copies, by kind: a bit flipped on the way; a block made newer and
 * signed with a key no member has; a block of another contributor made
 * newer by a member, who signs the message as its own (the block's own
 * signature is its contributor's, of what it said before).
 */
static uint64_t forged[3], forged_sig[3], forged_dup[3], forged_taken;
/* The most instances of one node (F_COUNT's) each node held of table 0. */
static unsigned int held_max[MAX_NODES];
static uint64_t rate_from;		/* admission-rate's loop began */
static int held_excess[MAX_NODES];	/* held less whole seconds since rate_from */

static void forge(struct msg *m)
{
	struct node *n = &nodes[m->to];
	unsigned int kind = below(3), y;
	size_t len = m->len;
	uint16_t sender;
	uint8_t *b;

	if (len < 40 + 64 + 8)
		return;
	b = xcalloc(1, len);
	memcpy(b, m->buf, len);
	if (b[5] != ATOMIKD_BLOCK || len < 80 + 8 + 128)
		kind = 0;
	else if (!kind)
		kind = 1 + below(2);	/* blocks are few: mostly forged as blocks */
	if (kind == 0) {
		b[40 + below(len - 40)] ^= 1u << below(8);
	} else {
		/* version + 1, and the first value flipped */
		uint64_t v;

		memcpy(&v, b + 72, 8);
		v = htole64(le64toh(v) + 1);
		memcpy(b + 72, &v, 8);
		b[80] ^= 1;
		if (kind == 1) {
			sig_make(0x0bad5eed0bad5eedull, b, len - 64, b + len - 64);
		} else {
			/* a running member other than the receiver and the contributor */
			memcpy(&sender, b + 56, 2);
			sender = le16toh(sender);
			y = below(S.nodes);
			if ((int)y == m->to || nodes[y].id == sender || !nodes[y].core ||
			    nodes[y].id == n->id) {
				free(b);
				return;
			}
			sender = htole16(nodes[y].id);
			memcpy(b + 8, &sender, 2);
			memcpy(b + 16, &nodes[y].session, 8);	/* the sim's hosts are little-endian */
			b[6] &= ~ATOMIKD_BLOCK_LIVE;
			sig_make(sig_secret(nodes[y].id), b, len - 64, b + len - 64);
		}
	}
	{
		struct akd_stats before = *akd_core_stats(n->core), after;

		forged[kind]++;
		akd_core_receive(n->core, node_clock(n), b, len);
		after = *akd_core_stats(n->core);
		forged_sig[kind] += after.dropped_signature - before.dropped_signature;
		forged_dup[kind] += after.duplicates - before.duplicates;
		forged_taken += after.blocks_applied != before.blocks_applied ||
				after.records_applied != before.records_applied ||
				after.patches_applied != before.patches_applied;
	}
	carry_out(n);
	free(b);
}

static void deliver(struct msg *m)
{
	struct node *n = &nodes[m->to];

	if (n->core && nodes[m->from].group == n->group && S.forge_ppm && chance(S.forge_ppm))
		forge(m);
	if (n->core && nodes[m->from].group == n->group) {
		akd_core_receive(n->core, node_clock(n), m->buf, m->len);
		carry_out(n);
	}
	free(m->buf);
	free(m);
}

/* The kernel's side: a delta, a load, a swap on the local contribution. */
static void local_changed(struct node *n, unsigned int ti)
{
	if (n->core) {
		akd_core_local(n->core, node_clock(n), ti, n->t[ti].local);
		carry_out(n);
	}
}

/*
 * One address changed: the daemon learns it as atomikd does from the
 * kernel's change set, reading only the block that holds it.
 */
static void local_changed_at(struct node *n, unsigned int ti, uint32_t addr)
{
	if (n->core) {
		akd_core_local_range(n->core, node_clock(n), ti, addr, 1, n->t[ti].local);
		carry_out(n);
	}
}

static void fault(const struct event *e)
{
	struct node *n = &nodes[e->node];
	unsigned int ti = e->arg2 % (n->nr_t ? n->nr_t : 1), i;
	struct dtable *t = &n->t[ti];
	uint32_t addr;
	uint64_t v;

	if (verbose > 1 && e->f != F_ACCUM && e->f != F_COUNT)
		printf("#   %.3f fault %d on node %u (arg %" PRIu64 ")\n", now / 1e9, e->f, n->id,
		       e->arg);
	switch (e->f) {
	case F_ACCUM:
		for (i = 0; i < (e->arg ? e->arg : 1); i++) {
			addr = below(t->nr_addrs);
			t->local[addr] ^= rnd() | 1;
			local_changed_at(n, ti, addr);
		}
		break;
	case F_LOAD:
	case F_SWAP:
		addr = e->arg % t->nr_addrs;
		v = rnd();
		t->local[addr] ^= t->local[addr] ^ t->remote[addr] ^ v;
		local_changed_at(n, ti, addr);
		break;
	case F_CUT:
		n->group = 1 + e->node + (uint32_t)e->arg * MAX_NODES;
		break;
	case F_HEAL:
		n->group = 0;
		break;
	case F_KILL:
		daemon_kill(n);
		break;
	case F_STOP:
		daemon_stop(n);
		break;
	case F_START:
		daemon_start(n);
		break;
	case F_RELOAD:
	case F_REBOOT:
		if (e->f == F_RELOAD)
			daemon_stop(n);
		else
			daemon_kill(n);
		for (ti = 0; ti < n->nr_t; ti++) {
			new_instance(&n->t[ti]);
			if (e->f == F_REBOOT && !n->persistent) {
				free(n->t[ti].ckpt);
				n->t[ti].ckpt = NULL;
			}
		}
		if (e->f == F_REBOOT) {
			n->boot_at = now;
			legit_from_checkpoints(n);
		}
		if (e->arg)	/* back after arg ns */
			fault_at(now + e->arg, F_START, e->node, 0, 0);
		break;
	case F_PERSIST_FAIL:
		n->persist_fails = true;
		break;
	case F_PERSIST_OK:
		n->persist_fails = false;
		break;
	case F_SET_ID:
		n->id = e->arg;
		break;
	case F_DROP_CKPT:
		free(t->ckpt);
		t->ckpt = NULL;
		break;
	case F_CORRUPT_REMOTE:
		t->remote[e->arg % t->nr_addrs] ^= rnd() | 1;
		break;
	case F_MARK:
		mark_at[e->arg % 8] = now;
		break;
	case F_MEMBER:		/* arg joins (arg2 1) or leaves the members */
		S.members[e->arg] = e->arg2;
		break;
	case F_COUNT:		/* how many of node arg's instances each node holds */
		for (i = 0; i < S.nodes; i++) {
			struct akd_contrib_info ci;
			unsigned int j, held = 0;

			for (j = 0; nodes[i].core && akd_core_contrib(nodes[i].core, 0, j, &ci); j++)
				held += ci.node == e->arg;
			if (held > held_max[i])
				held_max[i] = held;
			/* Past what the rate allows since rate_from, at most. */
			if (rate_from && now > rate_from &&
			    (int)held - (int)((now - rate_from) / SEC) > held_excess[i])
				held_excess[i] = (int)held - (int)((now - rate_from) / SEC);
		}
		break;
	case F_EXPECT_EQUAL:	/* nodes node and arg read the same table ti */
		for (i = 0; i < t->nr_addrs; i++)
			if ((t->local[i] ^ t->remote[i]) !=
			    (nodes[e->arg].t[ti].local[i] ^ nodes[e->arg].t[ti].remote[i])) {
				fail("nodes %u and %u read address %u of table %s apart",
				     n->id, nodes[e->arg].id, i, S.g[t->g].name);
				break;
			}
		break;
	}
}

/* ---- checks ---- */

static uint64_t contribution_state(unsigned int g, struct map *acc, uint32_t addr)
{
	uint32_t b = addr / S.block;
	uint64_t x = 0;
	size_t i;

	for (i = 0; i < acc->cap; i++) {
		struct slot *s = &acc->s[i];
		const uint64_t *v;

		if (!s->used || s->k.c != b)
			continue;
		v = snapshot(g, s->k.b, b, s->v);
		if (v)
			x ^= v[addr - b * S.block];
	}
	return x;
}

/* Everything after the quiet phase; with report false, only whether it holds. */
static bool converged(bool report)
{
	unsigned int g, k, ti, i;
	uint32_t a;
	bool ok = true;

#define BAD(...) do { ok = false; if (report) fail(__VA_ARGS__); else return false; } while (0)
	for (k = 0; k < S.nodes; k++)
		if (!nodes[k].core || !akd_core_serving(nodes[k].core))
			BAD("node %u: no daemon serving at the end", nodes[k].id);
	if (!ok)
		return false;
	for (k = 0; k < S.nodes && S.expect_collected; k++)
		for (ti = 0; ti < nodes[k].nr_t; ti++) {
			struct akd_table_info inf;

			akd_core_table_info(nodes[k].core, ti, &inf);
			if (inf.contributors > S.nodes)
				BAD("node %u table %s: %u contributors held, %u nodes: a dead instance "
				    "was not collected", nodes[k].id, inf.name, inf.contributors, S.nodes);
		}
	for (g = 0; g < S.nr_g; g++) {
		struct map ref = { 0 };
		int first = -1;

		for (k = 0; k < S.nodes; k++) {
			struct node *n = &nodes[k];
			struct map acc = { 0 };
			bool dup = false;

			for (ti = 0; ti < n->nr_t && n->t[ti].g != g; ti++)
				;
			if (ti == n->nr_t || n->t[ti].nr_addrs != S.g[g].nr_addrs)
				continue;
			account(n, ti, &acc, &dup);
			if (dup)
				BAD("node %u table %s: a contributor is counted twice", n->id,
				    S.g[g].name);
			/* The live instance: all of it, published. */
			for (a = 0; a < n->t[ti].nr_addrs; a++) {
				uint32_t b = a / S.block;
				const uint64_t *v = snapshot(g, n->t[ti].instance, b,
							     map_get(&acc, g, n->t[ti].instance, b));
				uint64_t have = v ? v[a - b * S.block] : 0;

				if (have != n->t[ti].local[a]) {
					BAD("node %u table %s: address %u of its own contribution is "
					    "not published", n->id, S.g[g].name, a);
					break;
				}
			}
			for (i = 0; i < acc.cap; i++) {
				struct slot *s = &acc.s[i];
				uint64_t ig;

				if (!s->used)
					continue;
				ig = map_get(&inst_g, s->k.b, 0, 0);
				if (ig != g + 1)
					BAD("node %u table %s: counts instance %016" PRIx64 " of table "
					    "%s", n->id, S.g[g].name, s->k.b,
					    ig ? S.g[ig - 1].name : "?");
				if (!snapshot(g, s->k.b, s->k.c, s->v))
					BAD("node %u table %s: counts a version never published",
					    n->id, S.g[g].name);
				if (s->v < map_get(&required, g, s->k.b, s->k.c))
					BAD("node %u table %s: instance %016" PRIx64 " (node %" PRIu64
					    ") block %u at version %" PRIu64 ", older than %" PRIu64
					    ", which was kept", n->id, S.g[g].name, s->k.b,
					    map_get(&inst_node, s->k.b, 0, 0), (unsigned int)s->k.c,
					    s->v, map_get(&required, g, s->k.b, s->k.c));
			}
			for (i = 0; i < required.cap; i++) {
				struct slot *s = &required.s[i];

				if (s->used && s->k.a == g && s->v &&
				    !map_get(&acc, g, s->k.b, s->k.c))
					BAD("node %u table %s: instance %016" PRIx64 " (node %" PRIu64
					    ") block %u, kept at version %" PRIu64 ", is lost",
					    n->id, S.g[g].name, s->k.b,
					    map_get(&inst_node, s->k.b, 0, 0), (unsigned int)s->k.c,
					    s->v);
			}
			/* The device: remote is every other contributor's, exactly. */
			for (a = 0; a < n->t[ti].nr_addrs; a++) {
				uint64_t all = contribution_state(g, &acc, a);

				if ((n->t[ti].local[a] ^ n->t[ti].remote[a]) != all) {
					BAD("node %u table %s: address %u reads %016" PRIx64 ", its "
					    "contributors make %016" PRIx64, n->id, S.g[g].name, a,
					    n->t[ti].local[a] ^ n->t[ti].remote[a], all);
					break;
				}
			}
			if (first < 0) {
				first = k;
				ref = acc;
				continue;
			}
			if (acc.n != ref.n)
				BAD("node %u table %s: %zu (contributor, block) counted, node %u %zu",
				    n->id, S.g[g].name, acc.n, nodes[first].id, ref.n);
			for (i = 0; i < acc.cap; i++)
				if (acc.s[i].used && map_get(&ref, acc.s[i].k.a, acc.s[i].k.b,
							     acc.s[i].k.c) != acc.s[i].v)
					BAD("node %u table %s: counts another version than node %u",
					    n->id, S.g[g].name, nodes[first].id);
			map_clear(&acc);
			if (!ok)
				break;
		}
		map_clear(&ref);
		if (!ok && !report)
			return false;
	}
	return ok;
#undef BAD
}

/* ---- one schedule ---- */

static void setup_nodes(void)
{
	unsigned int k, g;

	memset(S.members, 0, sizeof(S.members));
	for (k = 0; k < S.nodes; k++) {
		struct node *n = &nodes[k];

		S.members[k + 1] = 1;
		memset(n, 0, sizeof(*n));
		n->id = k + 1;
		n->host = 0x1000 + k;
		n->persistent = S.persistent;
		n->nr_t = S.nr_g;
		for (g = 0; g < S.nr_g; g++) {
			struct dtable *t = &n->t[g];

			t->g = g;
			t->id = g;
			t->nr_addrs = S.g[g].nr_addrs;
			t->local = xcalloc(t->nr_addrs, 8);
			t->remote = xcalloc(t->nr_addrs, 8);
		}
	}
}

/* The module's tables, created at boot. */
static void create_tables(void)
{
	unsigned int k, ti;

	for (k = 0; k < S.nodes; k++)
		for (ti = 0; ti < nodes[k].nr_t; ti++)
			new_instance(&nodes[k].t[ti]);
}

static void defaults(void)
{
	memset(&S, 0, sizeof(S));
	memset(forged, 0, sizeof(forged));
	memset(forged_sig, 0, sizeof(forged_sig));
	memset(forged_dup, 0, sizeof(forged_dup));
	forged_taken = 0;
	memset(held_max, 0, sizeof(held_max));
	memset(held_excess, 0, sizeof(held_excess));
	rate_from = 0;
	S.nodes = 3;
	S.nr_g = 1;
	snprintf(S.g[0].name, AKD_NAME_MAX, "0");
	S.g[0].nr_addrs = 16;
	S.block = 4;
	S.publish_ns = 100 * MS;
	S.hello_ns = 250 * MS;
	S.recover_ns = 2000 * MS;
	S.peer_timeout_ns = 3000 * MS;
	S.verify_ns = 2000 * MS;
	S.collect_ns = 10000 * MS;
	S.max_contributors = 1024;
	S.delay_max = 5 * MS;
	S.link_bps = 4000000;
	S.fault_end = 20 * SEC;
	S.quiet_max = 120 * SEC;
}

static void teardown(void)
{
	unsigned int k, ti;
	size_t i;

	for (k = 0; k < S.nodes; k++) {
		struct node *n = &nodes[k];

		if (n->core)
			destroy_core(n);
		for (ti = 0; ti < n->nr_t; ti++) {
			free(n->t[ti].local);
			free(n->t[ti].remote);
			free(n->t[ti].ckpt);
			map_clear(&n->t[ti].dev);
		}
		map_clear(&n->legit);
		map_clear(&n->last);
	}
	while (heap_n) {
		struct event e = pop();

		if (e.type == EV_DELIVER) {
			free(e.m->buf);
			free(e.m);
		}
	}
	for (i = 0; i < snaps.cap; i++)
		if (snaps.s[i].used)
			free((void *)(uintptr_t)snaps.s[i].v);
	map_clear(&snaps);
	map_clear(&inst_g);
	map_clear(&inst_node);
	map_clear(&required);
	map_clear(&seen);
	map_clear(&collected_at);
}

/* More messages in flight than this: a storm; the schedule stops there. */
#define MAX_IN_FLIGHT	400000
static bool stormed;

static void run_events(uint64_t until)
{
	while (heap_n && heap[0].at <= until && !stormed) {
		struct event e = pop();

		if (heap_n > MAX_IN_FLIGHT) {
			fail("more than %u messages in flight: a message storm", MAX_IN_FLIGHT);
			stormed = true;
		}

		now = e.at;
		switch (e.type) {
		case EV_DELIVER:
			deliver(e.m);
			break;
		case EV_TICK:
			if (nodes[e.node].tick_at == e.at)
				tick(&nodes[e.node]);
			break;
		case EV_FAULT:
			if (!quiet)
				fault(&e);
			break;
		}
	}
	now = until;
}

/* The schedule's faults are in the heap: run them, then the quiet phase. */
static void run(void)
{
	unsigned int k, ti, stable = 0;
	uint64_t end;
	size_t i;

	run_events(S.fault_end);
	/* Heal, start every daemon, stop every fault; what is kept now counts. */
	quiet = true;
	for (k = 0; k < S.nodes; k++) {
		nodes[k].group = 0;
		nodes[k].persist_fails = false;
	}
	for (k = 0; k < S.nodes; k++) {
		struct node *n = &nodes[k];

		if (!n->core && !n->refused)
			daemon_start(n);
		for (i = 0; i < n->legit.cap; i++)
			if (n->legit.s[i].used)
				map_max(&required, n->legit.s[i].k.a, n->legit.s[i].k.b,
					n->legit.s[i].k.c, n->legit.s[i].v);
		for (ti = 0; n->core && ti < n->nr_t; ti++)
			local_changed(n, ti);
	}
	end = now + S.quiet_max;
	if (S.heal_time) {
		uint64_t healed = now, bytes = 0, patches = 0;

		for (k = 0; k < S.nodes; k++) {
			bytes += nodes[k].bytes_sent;
			patches += nodes[k].core ? akd_core_stats(nodes[k].core)->patches_sent : 0;
		}
		while (now < end && !converged(false))
			run_events(now + 10 * MS);
		S.healed_ns = converged(false) ? now - healed : 0;
		for (k = 0; k < S.nodes; k++) {
			S.heal_bytes += nodes[k].bytes_sent;
			S.heal_patches += nodes[k].core ?
					  akd_core_stats(nodes[k].core)->patches_sent : 0;
		}
		S.heal_bytes -= bytes;
		S.heal_patches -= patches;
	}
	while (now < end && !stormed) {
		run_events(now + 500 * MS);
		if (converged(false)) {
			if (++stable == 3)
				break;
		} else {
			stable = 0;
		}
	}
	if (!stormed && !converged(true) && verbose)
		for (k = 0; k < S.nodes; k++) {
			struct akd_contrib_info ci;
			struct akd_table_info inf;
			const struct akd_stats *st;

			if (!nodes[k].core)
				continue;
			st = akd_core_stats(nodes[k].core);
			for (ti = 0; ti < nodes[k].nr_t; ti++) {
				akd_core_table_info(nodes[k].core, ti, &inf);
				printf("#   node %u table %s: state %d, %u records, unwritten %u\n",
				       nodes[k].id, inf.name, inf.state, inf.records, inf.unwritten);
				for (i = 0; akd_core_contrib(nodes[k].core, ti, i, &ci); i++)
					printf("#     %016" PRIx64 " node %u folds %u vhash %016" PRIx64
					       " version %" PRIu64 "%s%s\n", ci.instance, ci.node, ci.folds,
					       ci.vhash, ci.version,
					       ci.own ? " own" : "", ci.live ? " live" : "");
			}
			printf("#     behind %" PRIu64 " collected %" PRIu64 " wants %" PRIu64
			       " digests %" PRIu64 "/%" PRIu64 " identity %" PRIu64 "\n",
			       st->dropped_behind, st->dropped_collected, st->wants_sent,
			       st->digests_sent, st->digests_received, st->dropped_identity);
		}
}

/* ---- schedules ---- */

static void random_schedule(void)
{
	unsigned int k, g, kinds = below(100);
	uint64_t t;

	defaults();
	S.nodes = kinds < 50 ? 3 : kinds < 85 ? 4 + below(5) : 9 + below(8);
	S.nr_g = 1 + below(3);
	for (g = 0; g < S.nr_g; g++) {
		static const uint32_t sizes[] = { 1, 5, 16, 33, 64 };

		snprintf(S.g[g].name, AKD_NAME_MAX, "%u", g);
		S.g[g].nr_addrs = sizes[below(5)];
	}
	S.block = (uint32_t[]){ 1, 4, 8, 16 }[below(4)];
	S.loss_ppm = below(4) ? below(200000) : 0;
	S.dup_ppm = below(4) ? below(200000) : 0;
	S.delay_max = below(3) ? below(50) * MS : below(3000) * MS;
	S.persistent = chance(300000);
	S.fault_end = (5 + below(25)) * SEC;
	/* Collection waits past the longest a message is late. */
	S.collect_ns = S.delay_max + (1 + below(5)) * SEC;
	S.expect_collected = true;
	setup_nodes();
	for (k = 0; k < S.nodes; k++)
		fault_at(below(2000) * MS, F_START, k, 0, 0);
	for (t = 1 * SEC; t < S.fault_end; t += below(400) * MS + MS) {
		unsigned int n = below(S.nodes), what = below(1000);

		if (what < 600)
			fault_at(t, F_ACCUM, n, 1 + below(8), rnd());
		else if (what < 640)
			fault_at(t, below(2) ? F_LOAD : F_SWAP, n, rnd(), rnd());
		else if (what < 720)
			fault_at(t, F_CUT, n, below(2), 0);
		else if (what < 790)
			fault_at(t, F_HEAL, n, 0, 0);
		else if (what < 830)
			fault_at(t, F_KILL, n, 0, 0);
		else if (what < 880)
			fault_at(t, F_START, n, 0, 0);
		else if (what < 900)
			fault_at(t, F_STOP, n, 0, 0);
		else if (what < 925)
			fault_at(t, F_RELOAD, n, below(3000) * MS, 0);
		else if (what < 950)
			fault_at(t, F_REBOOT, n, below(5000) * MS, 0);
		else if (what < 975)
			fault_at(t, F_PERSIST_FAIL, n, 0, 0);
		else
			fault_at(t, F_PERSIST_OK, n, 0, 0);
	}
	/* A quarter of the clusters mixed: some daemons as before PATCH. */
	S.whole_mask = below(4) ? 0 : rnd();
	/* An eighth with three contributors a node (admission's share). */
	if (!below(8))
		S.max_contributors = S.nodes * 3;
}

/* Named cases: the divergences the protocol must rule out. */
struct sim_case {
	const char *name;
	const char *what;
	void (*setup)(unsigned int arg);
	bool (*check)(void);		/* the case's own check, after the common ones */
	unsigned int arg;		/* setup's argument unless --arg */
	bool idle;			/* measure the bytes sent from 20 to 40 s */
};

static void accum_all(uint64_t at, unsigned int count)
{
	unsigned int k, g;

	for (k = 0; k < S.nodes; k++)
		for (g = 0; g < S.nr_g; g++)
			fault_at(at, F_ACCUM, k, count, g);
}

static void start_all(void)
{
	unsigned int k;

	setup_nodes();
	for (k = 0; k < S.nodes; k++)
		fault_at(k * 100 * MS, F_START, k, 0, 0);
}

/* Two replicated tables of the rig's size, then nobody writes. */
static void case_idle_setup(unsigned int arg)
{
	defaults();
	S.nr_g = 2;
	snprintf(S.g[0].name, AKD_NAME_MAX, "0");
	snprintf(S.g[1].name, AKD_NAME_MAX, "1");
	S.g[0].nr_addrs = S.g[1].nr_addrs = 4096;
	S.block = 256;
	S.link_bps = 20000000;
	S.fault_end = 40 * SEC;
	start_all();
	accum_all(5 * SEC, 300);
}

static uint64_t idle_sent[MAX_NODES];

static bool case_idle_check(void)
{
	uint64_t secs = (mark_at[1] - mark_at[0]) / SEC;
	unsigned int k;
	bool ok = true;

	for (k = 0; k < S.nodes; k++) {
		uint64_t rate = idle_sent[k] / (secs ? secs : 1);

		if (verbose)
			printf("#   node %u sent %" PRIu64 " bytes/s at rest\n", nodes[k].id, rate);
		if (rate > 600 * 1024) {
			fail("node %u sent %" PRIu64 " KiB/s at rest (at most 600)", nodes[k].id,
			     rate / 1024);
			ok = false;
		}
	}
	return ok;
}

/*
 * Node 3 is cut off; node 2 accumulates (it reaches node 1 only); node 2 is
 * cut off and its module reloaded; node 1's module is reloaded; heal.
 */
static void case_reload_setup(unsigned int arg)
{
	defaults();
	start_all();
	accum_all(3 * SEC, 5);
	fault_at(6 * SEC, F_CUT, 2, 0, 0);
	fault_at(7 * SEC, F_ACCUM, 1, 6, 0);
	fault_at(9 * SEC, F_CUT, 1, 0, 0);
	fault_at(10 * SEC, F_RELOAD, 1, 1 * SEC, 0);
	fault_at(13 * SEC, F_RELOAD, 0, 1 * SEC, 0);
	fault_at(16 * SEC, F_HEAL, 1, 0, 0);
	fault_at(16 * SEC, F_HEAL, 2, 0, 0);
	S.fault_end = 20 * SEC;
}

/* Node 2 restarts arg times (a reboot each), after it published each time. */
static void case_restarts_setup(unsigned int arg)
{
	unsigned int i;
	uint64_t t = 3 * SEC;

	defaults();
	S.collect_ns = 2 * SEC;
	start_all();
	for (i = 0; i < arg; i++) {
		fault_at(t, F_ACCUM, 1, 3, 0);
		fault_at(t + 1 * SEC, F_ACCUM, 0, 1, 0);
		fault_at(t + 2 * SEC, F_REBOOT, 1, 500 * MS, 0);
		t += 4 * SEC + below(2000) * MS;
	}
	S.fault_end = t + 2 * SEC;
	S.quiet_max = 300 * SEC;
}

static bool case_restarts_check(void)
{
	struct akd_table_info ti;
	unsigned int k;
	bool ok = true;

	for (k = 0; k < S.nodes; k++) {
		if (!nodes[k].core)
			continue;
		akd_core_table_info(nodes[k].core, 0, &ti);
		if (verbose)
			printf("#   node %u holds %u contributors\n", nodes[k].id, ti.contributors);
		if (ti.contributors > S.nodes + CONTRIB_SLACK) {
			fail("node %u holds %u contributors after the restarts (at most %u)",
			     nodes[k].id, ti.contributors, S.nodes + CONTRIB_SLACK);
			ok = false;
		}
	}
	return ok;
}

/*
 * Node 2's module is reloaded; about when it collects its old instance
 * (collect_after 2 s, done about 7.5 s in), it is cut off at 7 s plus arg
 * tenths of a millisecond, then reboots, its checkpoint gone, and the cut
 * heals.  Cut from 500.5 to 505.5 ms in, node 2 has made its collection
 * record and no peer, or one, holds it: the default, 503 ms, is there.
 * Every tenth of a millisecond from 400 to 600 ms converged (the model
 * of the protocol assumes a reboot only after the peers hold the
 * collector's folded blocks; the core does not need it: a peer applies a
 * record to the blocks it holds itself).
 */
static void case_collect_reboot_setup(unsigned int arg)
{
	defaults();
	S.collect_ns = 2 * SEC;
	start_all();
	accum_all(3 * SEC, 5);
	fault_at(5 * SEC, F_RELOAD, 1, 500 * MS, 0);
	fault_at(6 * SEC, F_ACCUM, 1, 3, 0);
	fault_at(7 * SEC + (uint64_t)arg * MS / 10, F_CUT, 1, 0, 0);
	fault_at(7 * SEC + (uint64_t)arg * MS / 10 + 1, F_REBOOT, 1, 500 * MS, 0);
	fault_at(10 * SEC + (uint64_t)arg * MS / 10, F_HEAL, 1, 0, 0);
	S.fault_end = 14 * SEC + (uint64_t)arg * MS / 10;
}

/*
 * Node 3 cut off for seconds while every node accumulates 20 deltas a
 * second (the cluster benchmark's partition), one table of nr_addrs in
 * blocks of 256; the time until every node is exact after the heal is
 * measured to 10 ms.
 */
static void cut_under_writes(uint32_t nr_addrs, unsigned int seconds)
{
	uint64_t t, end = (5 + (uint64_t)seconds) * SEC;
	unsigned int k;

	defaults();
	S.g[0].nr_addrs = nr_addrs;
	S.block = 256;
	S.heal_time = true;
	start_all();
	accum_all(3 * SEC, 5);
	fault_at(5 * SEC, F_CUT, 2, 0, 0);
	for (t = 5 * SEC + 10 * MS; t < end; t += 50 * MS)
		for (k = 0; k < S.nodes; k++)
			fault_at(t + k * 7 * MS, F_ACCUM, k, 1, 0);
	S.fault_end = end;
}

/* 3 s on 4096 addresses: every node exact within 1 s of the heal. */
static void case_heal_setup(unsigned int arg)
{
	cut_under_writes(4096, 3);
}

static bool case_heal_check(void)
{
	printf("# every node exact %" PRIu64 " ms after the heal\n", (uint64_t)(S.healed_ns / MS));
	if (S.healed_ns && S.healed_ns <= 1 * SEC)
		return true;
	fail("every node exact %" PRIu64 " ms after the heal (at most 1000)", (uint64_t)(S.healed_ns / MS));
	return false;
}

/*
 * The cluster benchmark's partition at its size: 65536 addresses in blocks
 * of 256, node 3 cut off for 15 s while every node writes 20 deltas a
 * second, links of 4 MB/s.  A node 3 behind by about 600 deltas, spread
 * over most blocks, gets them as patches (the values that changed), not
 * as whole blocks: every node exact within 1 s of the heal, and the heal
 * sends less than a tenth of the blocks it would have.  arg 1: node 3 asks
 * for whole blocks (a daemon before patches), and still heals.
 */
static void case_heal_wide_setup(unsigned int arg)
{
	cut_under_writes(65536, 15);
	S.whole_mask = arg == 1 ? 1u << 2 : 0;
}

static bool case_heal_wide_check(void)
{
	/* Whole blocks: about 2 KiB for each of the ~600 blocks each way. */
	uint64_t bound = S.whole_mask ? 4000000 : 250000;

	printf("# every node exact %" PRIu64 " ms after the heal; %" PRIu64 " bytes sent meanwhile, "
	       "%" PRIu64 " patches\n", (uint64_t)(S.healed_ns / MS), S.heal_bytes, S.heal_patches);
	if (S.healed_ns && S.healed_ns <= 1 * SEC && S.heal_bytes <= bound &&
	    (S.whole_mask || S.heal_patches))
		return true;
	fail("every node exact %" PRIu64 " ms after the heal (at most 1000), %" PRIu64
	     " bytes sent (at most %" PRIu64 ")", (uint64_t)(S.healed_ns / MS), S.heal_bytes, bound);
	return false;
}

/*
 * The heal of case_heal_setup() with every message coming twice, at
 * different times, until 4 s after it (a route and a direct connection
 * both carry it, as on the VM rig while a cut heals): a WANT is answered
 * once, not once a copy.
 */
static void case_heal_copies_setup(unsigned int arg)
{
	unsigned int k;

	case_heal_setup(arg);
	S.heal_time = false;
	S.dup_ppm = 1000000;
	S.delay_max = 20 * MS;
	for (k = 0; k < S.nodes; k++)
		fault_at(8 * SEC, F_HEAL, k, 0, 0);
	S.fault_end = 12 * SEC;
}

static bool case_heal_copies_check(void)
{
	uint64_t sent = 0, answered = 0, copies = 0;
	unsigned int k;

	for (k = 0; k < S.nodes; k++) {
		const struct akd_stats *st = akd_core_stats(nodes[k].core);

		sent += st->wants_sent;
		answered += st->wants_answered;
		copies += st->duplicates;
	}
	printf("# %" PRIu64 " WANTs sent, %" PRIu64 " answered; %" PRIu64 " copies dropped\n",
	       sent, answered, copies);
	if (sent && answered <= sent && copies)
		return true;
	fail("%" PRIu64 " WANTs answered of %" PRIu64 " sent (each at most once)", answered, sent);
	return false;
}

/*
 * Writes, a cut and its heal (blocks relayed by repairs), while a fifth of
 * the messages delivered come after a forged copy.
 */
static void case_forgery_setup(unsigned int arg)
{
	uint64_t at;

	defaults();
	start_all();
	S.forge_ppm = 200000;
	for (at = 3 * SEC; at < 12 * SEC; at += 200 * MS)
		accum_all(at, 5);
	fault_at(5 * SEC, F_CUT, 2, 0, 0);
	fault_at(9 * SEC, F_HEAL, 2, 0, 0);
	S.fault_end = 14 * SEC;
}

/*
 * Nothing forged was taken (the state is exact, and no forged copy made
 * its receiver apply anything), and each was dropped: for its signature,
 * or, a block already held at that version or newer, as a duplicate
 * before any signature is checked.
 */
static bool case_forgery_check(void)
{
	static const char *const what[] = { "in flight", "without a member's key",
					    "by a member for another" };
	bool ok = !forged_taken;
	unsigned int k;

	for (k = 0; k < 3; k++) {
		printf("# forged %s: %" PRIu64 ", %" PRIu64 " dropped for their signature, %"
		       PRIu64 " as duplicates\n", what[k], forged[k], forged_sig[k], forged_dup[k]);
		if (!forged[k] || !forged_sig[k] ||
		    (k && forged_sig[k] + forged_dup[k] != forged[k]))
			ok = false;
	}
	if (!ok)
		fail("forged messages taken: %" PRIu64 "; or not each dropped for its signature "
		     "or as a duplicate (above)", forged_taken);
	return ok;
}

/*
 * Node 2's module reloaded every second, arg times (20), writes after each,
 * with max_contributors 24: a share of 8 each.  Then node 3's module is
 * reloaded and it writes: nodes 1 and 3 read the same 5 s later.  Every
 * node reads the same 30 s after the loop (node 2's last deltas wait until
 * its collections, one record at a time in the cluster, make room for its
 * live instance on the others: about 25 s, seed 1).  No
 * node may hold more than the share and the live one of node 2's
 * instances, and the cluster ends exact with them collected.
 */
static void case_admission_setup(unsigned int arg)
{
	unsigned int i, n = arg ? arg : 20;
	uint64_t t = 4 * SEC, s;

	defaults();
	S.max_contributors = 24;
	S.collect_ns = 2 * SEC;
	S.expect_collected = true;
	start_all();
	accum_all(3 * SEC, 5);
	for (i = 0; i < n; i++, t += 1000 * MS) {	/* up long enough to publish */
		fault_at(t, F_RELOAD, 1, 100 * MS, 0);
		fault_at(t + 500 * MS, F_ACCUM, 1, 3, 0);
	}
	fault_at(t + 1 * SEC, F_RELOAD, 2, 100 * MS, 0);
	fault_at(t + 1500 * MS, F_ACCUM, 2, 3, 0);
	fault_at(t + 6500 * MS, F_EXPECT_EQUAL, 2, 0, 0);
	fault_at(t + 30 * SEC, F_EXPECT_EQUAL, 2, 1, 0);
	fault_at(t + 30 * SEC, F_EXPECT_EQUAL, 1, 0, 0);
	S.fault_end = t + 31 * SEC;
	for (s = 3 * SEC; s < S.fault_end; s += 50 * MS)
		fault_at(s, F_COUNT, 0, 2, 0);
}

static bool case_admission_check(void)
{
	const struct akd_stats *st;
	uint64_t refused = 0;
	unsigned int k, most = S.max_contributors / S.nodes;
	bool ok = true;

	for (k = 0; k < S.nodes; k++) {
		if (!nodes[k].core)
			continue;
		st = akd_core_stats(nodes[k].core);
		refused += st->dropped_admission;
		if (verbose)
			printf("#   node %u held at most %u of node 2's instances, refused %" PRIu64
			       "\n", nodes[k].id, held_max[k], st->dropped_admission);
		if (nodes[k].id != 2 && held_max[k] > most + 1) {
			fail("node %u held %u of node 2's instances (at most %u)", nodes[k].id,
			     held_max[k], most + 1);
			ok = false;
		}
	}
	printf("# node 2's instances held: at most %u / %u on nodes 1 / 3 (share %u); "
	       "%" PRIu64 " blocks refused\n", held_max[0], held_max[2], most, refused);
	if (!refused) {
		fail("no block was refused for admission");
		ok = false;
	}
	return ok;
}

/*
 * Node 2's module reloaded every 200 ms, 15 times, its daemon back and
 * publishing within 100 ms each time (no wait for peers at start), with
 * max_contributors 1024: the share does not bind, the rate does.  No node
 * may ever hold more of node 2's instances than AKD_ADMIT_BURST, one for
 * each second since the loop began, and the two it had (sampled every
 * 50 ms); the cluster ends exact with them collected.
 */
static void case_admission_rate_setup(unsigned int arg)
{
	unsigned int i;
	uint64_t t = 4 * SEC, s;

	defaults();
	S.recover_ns = 10 * MS;
	S.collect_ns = 2 * SEC;
	S.expect_collected = true;
	start_all();
	accum_all(3 * SEC, 5);
	for (i = 0; i < 15; i++, t += 200 * MS) {
		fault_at(t, F_RELOAD, 1, 20 * MS, 0);
		fault_at(t + 60 * MS, F_ACCUM, 1, 3, 0);
	}
	S.fault_end = t + 10 * SEC;
	rate_from = 4 * SEC;
	for (s = 3 * SEC; s < S.fault_end; s += 50 * MS)
		fault_at(s, F_COUNT, 0, 2, 0);
}

static bool case_admission_rate_check(void)
{
	int k, most = AKD_ADMIT_BURST + 2;
	uint64_t refused = 0;
	bool ok = true;

	for (k = 0; k < (int)S.nodes; k++) {
		if (!nodes[k].core)
			continue;
		refused += akd_core_stats(nodes[k].core)->dropped_admission;
		if (nodes[k].id != 2 && held_excess[k] > most) {
			fail("node %u held %d of node 2's instances more than the seconds since the "
			     "loop began (at most %d)", nodes[k].id, held_excess[k], most);
			ok = false;
		}
	}
	printf("# node 2's instances held: at most %u / %u on nodes 1 / 3, at most %d / %d "
	       "more than the seconds since the loop began (%d allowed); %" PRIu64
	       " blocks refused\n", held_max[0], held_max[2], held_excess[0], held_excess[2],
	       most, refused);
	if (!refused) {
		fail("no block was refused for admission");
		ok = false;
	}
	return ok;
}

/* More restarts than max_contributors. */
static void case_cliff_setup(unsigned int arg)
{
	case_restarts_setup(arg ? arg : 12);
	S.max_contributors = 8;
}

/* Node 2's id changed to 5 on a live table, its checkpoint kept; later
 * without it; at last back to 2. */
static void case_node_id_setup(unsigned int arg)
{
	defaults();
	start_all();
	S.members[5] = 1;
	accum_all(3 * SEC, 5);
	fault_at(6 * SEC, F_STOP, 1, 0, 0);
	fault_at(6 * SEC + 1, F_SET_ID, 1, 5, 0);
	fault_at(6 * SEC + 2, F_START, 1, 0, 0);
	fault_at(7 * SEC, F_ACCUM, 1, 3, 0);
	fault_at(10 * SEC, F_STOP, 1, 0, 0);
	fault_at(10 * SEC + 1, F_DROP_CKPT, 1, 0, 0);
	fault_at(10 * SEC + 2, F_START, 1, 0, 0);
	fault_at(14 * SEC, F_STOP, 1, 0, 0);
	fault_at(14 * SEC + 1, F_SET_ID, 1, 2, 0);
	fault_at(14 * SEC + 1, F_MEMBER, 1, 5, 0);
	fault_at(14 * SEC + 2, F_START, 1, 0, 0);
	S.fault_end = 18 * SEC;
}

/* Nodes 2 and 3 are both configured as node 2; node 1 is cut off a while. */
static void case_twins_setup(unsigned int arg)
{
	defaults();
	start_all();
	nodes[2].id = 2;
	accum_all(3 * SEC, 5);
	fault_at(6 * SEC, F_CUT, 0, 0, 0);
	fault_at(7 * SEC, F_ACCUM, 1, 5, 0);
	fault_at(7 * SEC, F_ACCUM, 2, 5, 0);
	fault_at(15 * SEC, F_EXPECT_EQUAL, 1, 2, 0);
	fault_at(16 * SEC, F_HEAL, 0, 0, 0);
	S.fault_end = 20 * SEC;
}

/*
 * Node 3's daemon starts again without its checkpoint while the only peer
 * that answers holds an older version of node 1's blocks; then a load on
 * node 3.
 */
static void case_regress_setup(unsigned int arg)
{
	defaults();
	start_all();
	accum_all(3 * SEC, 5);
	fault_at(5 * SEC, F_CUT, 1, 0, 0);		/* node 2 misses what follows */
	fault_at(6 * SEC, F_ACCUM, 0, 16, 0);		/* reaches node 3 */
	fault_at(8 * SEC, F_CUT, 0, 0, 0);		/* node 1 away */
	fault_at(9 * SEC, F_KILL, 2, 0, 0);
	fault_at(9 * SEC + 1, F_DROP_CKPT, 2, 0, 0);
	fault_at(9 * SEC + 2, F_HEAL, 1, 0, 0);
	fault_at(9 * SEC + 3, F_START, 2, 0, 0);
	fault_at(13 * SEC, F_LOAD, 2, 3, 0);
	fault_at(16 * SEC, F_HEAL, 0, 0, 0);
	S.fault_end = 20 * SEC;
}

/* Node 3 cannot write its checkpoint while blocks arrive; its daemon is
 * killed and started again. */
static void case_enospc_setup(unsigned int arg)
{
	defaults();
	start_all();
	accum_all(3 * SEC, 5);
	fault_at(5 * SEC, F_PERSIST_FAIL, 2, 0, 0);
	fault_at(5 * SEC, F_CUT, 1, 0, 0);		/* only node 3 will hold it */
	fault_at(6 * SEC, F_ACCUM, 0, 16, 0);
	fault_at(8 * SEC, F_KILL, 2, 0, 0);
	fault_at(8 * SEC + 1, F_PERSIST_OK, 2, 0, 0);
	fault_at(8 * SEC + 2, F_CUT, 0, 0, 0);
	fault_at(8 * SEC + 3, F_START, 2, 0, 0);
	fault_at(12 * SEC, F_LOAD, 2, 3, 0);
	fault_at(16 * SEC, F_HEAL, 0, 0, 0);
	fault_at(16 * SEC, F_HEAL, 1, 0, 0);
	S.fault_end = 20 * SEC;
}

/* Someone else writes node 2's remote row. */
static void case_drift_setup(unsigned int arg)
{
	defaults();
	start_all();
	accum_all(3 * SEC, 5);
	fault_at(8 * SEC, F_CORRUPT_REMOTE, 1, 5, 0);
	S.fault_end = 10 * SEC;
}

/* Two tables named apart, with their ids the other way round on node 3. */
static void case_names_setup(unsigned int arg)
{
	defaults();
	S.nr_g = 2;
	snprintf(S.g[0].name, AKD_NAME_MAX, "orders");
	snprintf(S.g[1].name, AKD_NAME_MAX, "users");
	S.g[1].nr_addrs = 16;
	start_all();
	nodes[2].t[0].id = 1;
	nodes[2].t[1].id = 0;
	accum_all(3 * SEC, 5);
	accum_all(6 * SEC, 5);
}

/* Every node reboots at once. */
static void case_outage_setup(unsigned int arg)
{
	unsigned int k;

	defaults();
	S.persistent = arg;
	start_all();
	accum_all(3 * SEC, 5);
	accum_all(6 * SEC, 5);
	for (k = 0; k < S.nodes; k++)
		fault_at(10 * SEC, F_REBOOT, k, 2 * SEC, 0);
	accum_all(15 * SEC, 2);
}

static bool case_outage_check(void)
{
	size_t i;
	unsigned int n = 0;

	/* tmpfs: what was published before the outage is gone, as documented. */
	for (i = 0; i < required.cap; i++)
		n += required.s[i].used && required.s[i].v;
	if (verbose)
		printf("#   %u (contributor, block) kept through the outage\n", n);
	return true;
}

static const struct sim_case cases[] = {
	{ .name = "idle-two-tables", .what = "two 4096-address tables at rest send at most 600 KiB/s a node",
	  .setup = case_idle_setup, .check = case_idle_check, .idle = true },
	{ .name = "reload-keeps-checkpoint", .what = "a module reload keeps what only this node held",
	  .setup = case_reload_setup },
	{ .name = "restarts", .what = "1000 restarts of one node leave at most nodes + 4 contributors",
	  .setup = case_restarts_setup, .check = case_restarts_check, .arg = 1000 },
	{ .name = "contributor-cliff", .what = "restarts past max_contributors lose nothing",
	  .setup = case_cliff_setup },
	{ .name = "node-id-change", .what = "a node's id changed on a live table counts nothing twice",
	  .setup = case_node_id_setup },
	{ .name = "twin-node-ids", .what = "two daemons with one node id converge",
	  .setup = case_twins_setup },
	{ .name = "regressed-remote", .what = "a start without checkpoint never takes the remote row back",
	  .setup = case_regress_setup },
	{ .name = "checkpoint-enospc", .what = "a checkpoint that cannot be written stops device writes",
	  .setup = case_enospc_setup },
	{ .name = "remote-drift", .what = "a remote row someone else wrote is put right",
	  .setup = case_drift_setup },
	{ .name = "table-names", .what = "tables are named on the wire, whatever their ids",
	  .setup = case_names_setup },
	{ .name = "collect-reboot", .what = "a reboot about when a node collects its old instance loses nothing",
	  .setup = case_collect_reboot_setup, .arg = 5030 },
	{ .name = "heal", .what = "after a 3 s cut under writes, every node exact within 1 s",
	  .setup = case_heal_setup, .check = case_heal_check },
	{ .name = "heal-wide", .what = "the benchmark's 15 s cut of 65536 addresses: exact within 1 s, by patches",
	  .setup = case_heal_wide_setup, .check = case_heal_wide_check },
	{ .name = "heal-wide-whole", .what = "the same, node 3 asking for whole blocks (as before patches)",
	  .setup = case_heal_wide_setup, .check = case_heal_wide_check, .arg = 1 },
	{ .name = "heal-copies", .what = "every message twice while a cut heals: each WANT answered once",
	  .setup = case_heal_copies_setup, .check = case_heal_copies_check },
	{ .name = "outage-tmpfs", .what = "a whole-cluster outage with state on tmpfs loses the past (documented)",
	  .setup = case_outage_setup, .check = case_outage_check },
	{ .name = "outage-persistent", .what = "a whole-cluster outage with a persistent state_dir loses nothing",
	  .setup = case_outage_setup, .arg = 1 },
	{ .name = "admission", .what = "a module reloaded in a loop takes its share of contributors, no more",
	  .setup = case_admission_setup, .check = case_admission_check },
	{ .name = "admission-rate", .what = "a module reloaded 5 times a second: its instances taken at a bounded rate",
	  .setup = case_admission_rate_setup, .check = case_admission_rate_check },
	{ .name = "forgery", .what = "forged and altered messages change nothing and are counted",
	  .setup = case_forgery_setup, .check = case_forgery_check },
};

/* ---- scale ---- */

/* Whether every node reads the same state of table 0. */
static bool all_equal(void)
{
	unsigned int k, a;

	for (k = 1; k < S.nodes; k++)
		for (a = 0; a < S.g[0].nr_addrs; a++)
			if ((nodes[k].t[0].local[a] ^ nodes[k].t[0].remote[a]) !=
			    (nodes[0].t[0].local[a] ^ nodes[0].t[0].remote[a]))
				return false;
	return true;
}

/*
 * What the protocol costs as the cluster grows: for N nodes, one table of
 * 4096 addresses in blocks of 256, a reliable network, the shipped
 * intervals.  At rest, and with every node writing RATE deltas a second
 * (uniform addresses), the messages and bytes each node sends a second;
 * and how long after the writes stop every node reads the same.
 */
static void scale(void)
{
	static const unsigned int sizes[] = { 3, 8, 16, 32 };
	static const unsigned int rates[] = { 0, 10, 100, 1000 };
	unsigned int i, r, k, d;

	printf("# nodes  deltas/s/node  msgs/s/node  bytes/s/node  converged after (ms)\n");
	for (i = 0; i < 4; i++)
		for (r = 0; r < 4 - (sizes[i] > 16); r++) {
			uint64_t m0 = 0, b0 = 0, m1 = 0, b1 = 0, t, stop, conv;

			rng = 1;
			quiet = false;
			now = 0;
			ev_seq = 0;
			failures = 0;
			defaults();
			S.nodes = sizes[i];
			S.g[0].nr_addrs = 4096;
			S.block = 256;
			S.delay_max = 2 * MS;
			S.link_bps = 100000000;
			setup_nodes();
			create_tables();
			for (k = 0; k < S.nodes; k++)
				fault_at(k * 10 * MS, F_START, k, 0, 0);
			/* Everyone has something, then 10 s to settle. */
			for (k = 0; k < S.nodes; k++)
				fault_at(3 * SEC, F_ACCUM, k, 64, 0);
			run_events(13 * SEC);
			for (k = 0; k < S.nodes; k++) {
				m0 += nodes[k].msgs_sent;
				b0 += nodes[k].bytes_sent;
			}
			/* 20 s measured: at rest, or every node writing. */
			t = now;
			for (d = 0; rates[r] && d < 20 * rates[r]; d++)
				for (k = 0; k < S.nodes; k++)
					fault_at(t + (uint64_t)d * SEC / rates[r] + below(SEC / rates[r]),
						 F_ACCUM, k, 1, 0);
			run_events(t + 20 * SEC);
			for (k = 0; k < S.nodes; k++) {
				m1 += nodes[k].msgs_sent;
				b1 += nodes[k].bytes_sent;
			}
			stop = now;
			conv = 0;
			while (!all_equal() && now < stop + 30 * SEC)
				run_events(now + 10 * MS);
			conv = all_equal() ? (now - stop) / MS : 999999;
			printf("%7u  %13u  %11.1f  %12.0f  %u\n", S.nodes, rates[r],
			       (double)(m1 - m0) / 20 / S.nodes, (double)(b1 - b0) / 20 / S.nodes,
			       (unsigned int)conv);
			if (verbose) {
				const struct akd_stats *st = akd_core_stats(nodes[0].core);

				printf("#   node 1 in all: hellos %lu digests %lu wants %lu published %lu "
				       "repaired %lu applied %lu dup %lu\n", (unsigned long)st->hellos_sent,
				       (unsigned long)st->digests_sent, (unsigned long)st->wants_sent,
				       (unsigned long)st->blocks_published, (unsigned long)st->blocks_repaired,
				       (unsigned long)st->blocks_applied, (unsigned long)st->duplicates);
			}
			teardown();
		}
}

/* ---- main ---- */

static void run_case(const struct sim_case *c, unsigned int arg, uint64_t seed)
{
	unsigned int k;

	rng = seed;
	stormed = false;
	failures = 0;
	refusals = 0;
	quiet = false;
	now = 0;
	ev_seq = 0;
	memset(mark_at, 0, sizeof(mark_at));
	memset(idle_sent, 0, sizeof(idle_sent));
	if (c)
		c->setup(arg ? arg : c->arg);
	else
		random_schedule();
	create_tables();
	if (c && c->idle) {
		run_events(20 * SEC);
		for (k = 0; k < S.nodes; k++)
			idle_sent[k] = nodes[k].bytes_sent;
		run_events(40 * SEC);
		for (k = 0; k < S.nodes; k++)
			idle_sent[k] = nodes[k].bytes_sent - idle_sent[k];
		mark_at[0] = 20 * SEC;
		mark_at[1] = 40 * SEC;
	}
	run();
	if (c && c->check)
		c->check();
	teardown();
}

static void __attribute__((noreturn)) usage(FILE *to, int code)
{
	unsigned int i;

	fprintf(to,
"usage: atomikd-sim [--seeds N] [--seed S] [--case NAME [--arg N]] [--list] [-v]\n"
"Runs atomikd's protocol core on simulated clusters: N random schedules from\n"
"seed S on (default 10000 from 1), or one named case.  Prints TAP, a line\n"
"'N schedules, M divergent' and, for each divergent one, the command that\n"
"replays it.  Cases:\n");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		fprintf(to, "  %-24s %s\n", cases[i].name, cases[i].what);
	exit(code);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seeds", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ "case", required_argument, NULL, 'c' },
		{ "arg", required_argument, NULL, 'a' },
		{ "cases", no_argument, NULL, 'C' },
		{ "scale", no_argument, NULL, 'Z' },
		{ "list", no_argument, NULL, 'l' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t seed = 1, nseeds = 10000, i, divergent = 0;
	const struct sim_case *only = NULL;
	bool all_cases = false, random_given = false;
	unsigned int arg = 0, j, tap = 0;
	char *end;
	int opt;
	time_t t0 = time(NULL);

	while ((opt = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			nseeds = strtoull(optarg, &end, 0);
			if (*end || !*optarg)
				usage(stderr, 2);
			random_given = true;
			break;
		case 's':
			seed = strtoull(optarg, &end, 0);
			if (*end || !*optarg)
				usage(stderr, 2);
			break;
		case 'c':
			for (j = 0; j < sizeof(cases) / sizeof(cases[0]); j++)
				if (!strcmp(cases[j].name, optarg))
					only = &cases[j];
			if (!only) {
				fprintf(stderr, "atomikd-sim: no case '%s' (see --list)\n", optarg);
				exit(2);
			}
			break;
		case 'a':
			arg = strtoul(optarg, &end, 0);
			if (*end || !*optarg)
				usage(stderr, 2);
			break;
		case 'C':
			all_cases = true;
			break;
		case 'Z':
			setvbuf(stdout, NULL, _IOLBF, 0);
			scale();
			exit(0);
		case 'l':
			for (j = 0; j < sizeof(cases) / sizeof(cases[0]); j++)
				printf("%s\n", cases[j].name);
			exit(0);
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(stdout, 0);
		default:
			usage(stderr, 2);
		}
	}
	if (optind != argc)
		usage(stderr, 2);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (only || all_cases) {
		for (j = 0; j < sizeof(cases) / sizeof(cases[0]); j++) {
			const struct sim_case *c = &cases[j];

			if (only && c != only)
				continue;
			seed_now = seed;
			run_case(c, arg, seed);
			tap++;
			if (failures) {
				divergent++;
				printf("not ok %u case %s: %s\n#   %u problem%s, the first: %s\n"
				       "#   replay: atomikd-sim --case %s --seed %" PRIu64 " -v\n",
				       tap, c->name, c->what, failures, failures == 1 ? "" : "s",
				       first_failure, c->name, seed);
			} else {
				printf("ok %u case %s: %s\n", tap, c->name, c->what);
			}
		}
		if (!random_given) {
			printf("1..%u\n%u cases, %" PRIu64 " divergent\n", tap, tap, divergent);
			return divergent ? 1 : 0;
		}
	}
	for (i = 0; i < nseeds; i++) {
		seed_now = seed + i;
		run_case(NULL, 0, seed + i);
		if (failures) {
			divergent++;
			printf("not ok %u schedule %" PRIu64 " (%u nodes, %u tables): %s\n"
			       "#   replay: atomikd-sim --seed %" PRIu64 " --seeds 1 -v\n",
			       ++tap, seed + i, S.nodes, S.nr_g, first_failure, seed + i);
		}
	}
	printf("%sok %u %" PRIu64 " random schedules from seed %" PRIu64 ", %" PRIu64
	       " divergent, in %ld s (%" PRIu64 " patches applied, %" PRIu64 " blocks refused "
	       "for admission)\n", divergent ? "not " : "", ++tap, nseeds, seed, divergent,
	       (long)(time(NULL) - t0), patches_applied, admission_refused);
	printf("1..%u\n%" PRIu64 " schedules, %" PRIu64 " divergent\n", tap, nseeds, divergent);
	return divergent ? 1 : 0;
}
