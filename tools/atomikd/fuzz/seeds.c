// SPDX-License-Identifier: GPL-2.0
/*
 * The fuzz targets' seeds, made by the protocol itself: three cores
 * (fuzz.h's nodes 1 to 3) on a network in memory for eight seconds; nodes 2
 * and 3 change their contributions, node 2 restarts with its table created
 * again, so that its dead instance is collected.  What node 1 receives,
 * with its ticks and its own changes, is written as one input of the
 * message target (message/conversation), the first message of each type
 * as one of its own; node 1's checkpoints as inputs of the checkpoint
 * target, as they are and record by record.
 *
 *   seeds DIR    writes DIR/message/ and DIR/checkpoint/
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define STEP	(10 * FZ_MS)
#define END	(FZ_START + 8000 * FZ_MS)
#define MAX_ADDRS 40

struct node {
	struct akd_core *core;
	uint8_t members[AKD_MAX_NODE + 1];
	unsigned int run, gen;
	uint64_t local[FZ_NR_TABLES][MAX_ADDRS], remote[FZ_NR_TABLES][MAX_ADDRS];
	uint8_t *ckpt[FZ_NR_TABLES];
	size_t ckpt_len[FZ_NR_TABLES];
};

struct msg {
	unsigned int to;
	void *buf;
	size_t len;
	struct msg *next;
};

static struct node nodes[FZ_NODES + 1];
static struct msg *queue_head, **queue_tail = &queue_head;
static uint64_t now;

/* The message target's input, node 1's. */
static uint8_t *conv;
static size_t conv_len;
static uint64_t conv_at = FZ_START;
static bool type_seen[ATOMIKD_TYPE_MAX + 1];
static const char *dir;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void out(const void *p, size_t n)
{
	conv = realloc(conv, conv_len + n);
	if (!conv)
		die("realloc");
	memcpy(conv + conv_len, p, n);
	conv_len += n;
}

static void out8(uint8_t v) { out(&v, 1); }
static void out16(uint16_t v) { v = htole16(v); out(&v, 2); }

static void write_file(const char *sub, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	f = fopen(path, "w");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f))
		die(path);
}

static void carry_out(unsigned int id)
{
	struct node *n = &nodes[id];
	struct akd_ready rd;
	unsigned int i, to;

	while (akd_core_ready(n->core, &rd)) {
		for (i = 0; i < rd.nr_persist; i++) {
			const struct akd_persist *p = &rd.persist[i];
			size_t at = p->replace ? 0 : n->ckpt_len[p->table];

			n->ckpt[p->table] = realloc(n->ckpt[p->table], at + p->len);
			memcpy(n->ckpt[p->table] + at, p->buf, p->len);
			n->ckpt_len[p->table] = at + p->len;
		}
		if (akd_core_persisted(n->core, true))
			for (i = 0; i < rd.nr_remote; i++)
				memcpy(n->remote[rd.remote[i].table] + rd.remote[i].first,
				       rd.remote[i].vals, rd.remote[i].count * 8);
		for (i = 0; i < rd.nr_verify; i++)
			akd_core_remote_read(n->core, now, rd.verify[i].table, rd.verify[i].first,
					     rd.verify[i].count,
					     n->remote[rd.verify[i].table] + rd.verify[i].first);
		for (i = 0; i < rd.nr_send; i++) {
			const struct akd_send *s = &rd.send[i];

			for (to = 1; to <= FZ_NODES; to++) {
				struct msg *m;

				if (to == id || (s->chan == AKD_CHAN_NODE && s->node != to))
					continue;
				m = calloc(1, sizeof(*m));
				m->to = to;
				m->len = s->len;
				m->buf = malloc(s->len);
				memcpy(m->buf, s->buf, s->len);
				*queue_tail = m;
				queue_tail = &m->next;
			}
		}
		akd_core_advance(n->core);
		if (akd_core_fatal(n->core)) {
			fprintf(stderr, "node %u: %s\n", id, akd_core_fatal(n->core));
			exit(1);
		}
	}
}

static void start(unsigned int id)
{
	struct node *n = &nodes[id];
	struct akd_table_conf tc[FZ_NR_TABLES];
	struct akd_conf conf = fz_conf(id, n->run, n->members);
	unsigned int ti;

	fz_table_conf(id, n->gen, tc);
	if (akd_core_create(&n->core, &conf, tc, FZ_NR_TABLES))
		die("akd_core_create");
	for (ti = 0; ti < FZ_NR_TABLES; ti++)
		if (n->ckpt[ti] && akd_core_restore(n->core, ti, n->ckpt[ti], n->ckpt_len[ti]))
			die("akd_core_restore");
	akd_core_start(n->core, now);
	for (ti = 0; ti < FZ_NR_TABLES; ti++)
		akd_core_local(n->core, now, ti, n->local[ti]);
	carry_out(id);
}

/* Node 1's clock moves to now, as the message target's FZ_TICK. */
static void node1_catch_up(void)
{
	if (now == conv_at)
		return;
	out8(FZ_TICK);
	out16((now - conv_at) / FZ_MS);
	conv_at = now;
	akd_core_tick(nodes[1].core, now);
	carry_out(1);
}

static void local_change(unsigned int id, unsigned int ti, unsigned int addr, uint64_t v)
{
	struct node *n = &nodes[id];

	if (id == 1) {
		node1_catch_up();
		out8(FZ_LOCAL);
		out8(ti);
		out8(addr);
		v = htole64(v);
		out(&v, 8);
		v = le64toh(v);
	}
	n->local[ti][addr] ^= v;
	akd_core_local(n->core, now, ti, n->local[ti]);
	carry_out(id);
}

/* The first message of each type node 1 receives, an input of its own. */
static void first_of_type(const struct msg *m)
{
	static const char *const names[] = { "", "block", "hello", "digest", "want", "done",
					     "record", "patch" };
	const struct atomikd_hdr *h = m->buf;
	uint8_t *one;

	if (h->type > ATOMIKD_TYPE_MAX || type_seen[h->type])
		return;
	type_seen[h->type] = true;
	one = malloc(3 + m->len);
	one[0] = FZ_RAW;
	one[1] = m->len & 0xff;
	one[2] = m->len >> 8;
	memcpy(one + 3, m->buf, m->len);
	write_file("message", names[h->type], one, 3 + m->len);
	free(one);
}

/* What was sent in the last step arrives. */
static void deliver(void)
{
	struct msg *m = queue_head, *next;

	queue_head = NULL;
	queue_tail = &queue_head;
	for (; m; m = next) {
		next = m->next;
		if (m->to == 1) {
			node1_catch_up();
			out8(FZ_RAW);
			out16(m->len);
			out(m->buf, m->len);
			first_of_type(m);
		}
		akd_core_receive(nodes[m->to].core, now, m->buf, m->len);
		carry_out(m->to);
		free(m->buf);
		free(m);
	}
}

/* A checkpoint as the checkpoint target's input: mode 0, and mode 1 (its
 * records, their checksums left to the target). */
static void write_checkpoint(const char *name, const uint8_t *ck, size_t len)
{
	uint8_t *f = malloc(len + 1), *r = malloc(len + 1);
	size_t at = 4, rl = 1;
	char rname[64];

	f[0] = 0;
	memcpy(f + 1, ck, len);
	write_file("checkpoint", name, f, len + 1);
	r[0] = 1;
	while (at + 16 <= len) {
		uint32_t type, n;

		memcpy(&type, ck + at, 4);
		memcpy(&n, ck + at + 4, 4);
		type = le32toh(type);
		n = le32toh(n);
		if (at + 16 + n > len || n > 0xffff)
			break;
		r[rl++] = type;
		r[rl++] = n & 0xff;
		r[rl++] = n >> 8;
		memcpy(r + rl, ck + at + 8, n);
		rl += n;
		at += 16 + n;
	}
	snprintf(rname, sizeof(rname), "%s-records", name);
	write_file("checkpoint", rname, r, rl);
	free(f);
	free(r);
}

/* The body of a BLOCK (base 0) or a PATCH of block 0 of node 2's first
 * instance of t0, but for the values (and the offsets). */
static void block_head(uint32_t count, uint64_t version, uint64_t base)
{
	uint32_t u32[4] = { htole32(40), htole32(FZ_BLOCK), 0, htole32(count) };
	uint64_t v;

	out(u32, sizeof(u32));
	out16(2);
	out16(0);
	u32[0] = htole32(fz_host(2));
	out(u32, 4);
	v = htole64(fz_instance(2, 0, 0));
	out(&v, 8);
	v = htole64(version);
	out(&v, 8);
	if (!base)
		return;
	v = htole64(base);
	out(&v, 8);
	out16(0);
	out16(0);
	out16(0);
	out16(0);
}

/* Inputs of operations besides messages: restarts, failed writes; a WANT
 * (node 1 is never behind in the conversation), header made by the target. */
static void ops_seeds(void)
{
	uint64_t v;
	uint32_t n;
	unsigned int b;

	conv_len = 0;
	out8(FZ_TICK); out16(1100);
	out8(FZ_LOCAL); out8(0); out8(2); v = htole64(0x77); out(&v, 8);
	out8(FZ_TICK); out16(200);
	out8(FZ_FAIL);
	out8(FZ_LOCAL); out8(1); out8(4); out(&v, 8);
	out8(FZ_TICK); out16(300);
	out8(FZ_RESTART); out8(0);
	out8(FZ_TICK); out16(1100);
	out8(FZ_RESTART); out8(1);
	out8(FZ_TICK); out16(1100);
	out8(FZ_RECONN);
	out8(FZ_TICK); out16(300);
	write_file("message", "restarts", conv, conv_len);

	conv_len = 0;
	out8(FZ_TICK); out16(1100);
	out8(FZ_LOCAL); out8(0); out8(2); v = htole64(0x77); out(&v, 8);
	out8(FZ_TICK); out16(200);
	out8(FZ_MSG); out8(ATOMIKD_WANT); out8(2); out8(0); out8(0); out16(0);
	out16(16 + 3 * 16);
	v = htole64(fz_instance(FZ_NODE, 0, 0)); out(&v, 8);
	n = htole32(3); out(&n, 4);
	n = htole32(1); out(&n, 4);
	for (b = 0; b < 3 * 16; b++)
		out8(0);
	write_file("message", "want", conv, conv_len);

	/* A block of node 2's, then a patch of it: two values changed. */
	conv_len = 0;
	out8(FZ_TICK); out16(1100);
	out8(FZ_MSG); out8(ATOMIKD_BLOCK); out8(2); out8(0); out8(0); out16(0);
	out16(40 + 16 * 8);
	block_head(16, 1000, 0);
	for (b = 0; b < 16; b++) {
		v = htole64(0x100 + b);
		out(&v, 8);
	}
	out8(FZ_TICK); out16(10);
	out8(FZ_MSG); out8(ATOMIKD_PATCH); out8(2); out8(0); out8(0); out16(0);
	out16(56 + 2 * 12);
	block_head(2, 2000, 1000);
	n = htole32(3); out(&n, 4);
	n = htole32(9); out(&n, 4);
	v = htole64(0x3333); out(&v, 8);
	v = htole64(0x9999); out(&v, 8);
	write_file("message", "patch-of-block", conv, conv_len);
}

int main(int argc, char **argv)
{
	unsigned int id;
	bool restarted = false;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	mkdir(dir, 0755);
	now = FZ_START;
	for (id = 1; id <= FZ_NODES; id++)
		start(id);
	for (now = FZ_START + STEP; now < END; now += STEP) {
		uint64_t t = (now - FZ_START) / FZ_MS;

		deliver();
		if (t == 1200) {
			local_change(2, 0, 3, 0x1111);
			local_change(2, 0, 20, 0x2222);
			local_change(3, 1, 4, 0x3333);
		}
		if (t == 1500)
			local_change(1, 0, 35, 0x4444);
		if (t == 2500)
			local_change(2, 0, 3, 0x5555);
		if (t == 3000 && !restarted) {
			/* Node 2's table created again: its instance is dead. */
			struct node *n = &nodes[2];

			akd_core_stop(n->core, now);
			carry_out(2);
			akd_core_destroy(n->core);
			n->run++;
			n->gen++;
			memset(n->local, 0, sizeof(n->local));
			memset(n->remote, 0, sizeof(n->remote));
			start(2);
			restarted = true;
		}
		if (t == 3500)
			local_change(2, 0, 7, 0x6666);
		for (id = 1; id <= FZ_NODES; id++) {
			if (id == 1) {
				if (now >= akd_core_next_tick(nodes[1].core))
					node1_catch_up();
				continue;
			}
			akd_core_tick(nodes[id].core, now);
			carry_out(id);
		}
	}
	write_file("message", "conversation", conv, conv_len);
	write_checkpoint("node1-t0", nodes[1].ckpt[0], nodes[1].ckpt_len[0]);
	write_checkpoint("node1-t1", nodes[1].ckpt[1], nodes[1].ckpt_len[1]);
	{
		struct akd_table_info info;

		akd_core_table_info(nodes[1].core, 0, &info);
		fprintf(stderr, "seeds: node 1 holds %u contributors and %u records of t0; "
			"%zu bytes of conversation\n", info.contributors, info.records, conv_len);
	}
	ops_seeds();
	for (id = 1; id <= FZ_NODES; id++)
		akd_core_destroy(nodes[id].core);
	return 0;
}
