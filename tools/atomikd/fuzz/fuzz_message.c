// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz target: messages into atomikd's protocol core, as node 1 of three
 * with two tables (fuzz.h), driven the way main.c drives it: every message,
 * tick and local change is followed by carrying out what the core asks
 * for, its checkpoint kept in memory and its remote row in an array.
 *
 * Besides what the sanitizers catch, these must hold whatever arrives:
 *   - the core's requests stay within its tables and come to an end;
 *   - the remote row read back is what the core wrote (no repair is ever
 *     needed: the device here loses nothing);
 *   - every checkpoint the core wrote is taken back whole by a restart;
 *   - what the last checkpoint holds, restored, is what the core counts.
 *
 * An input of odd length drives a core that signs and checks signatures:
 * every message it receives is given the signatures the protocol asks for
 * (zeros, which the check takes; a 1 in the first byte, given when the
 * message's length is a multiple of 3, it refuses), so that the same seeds
 * reach the decoding behind the checks.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define MAX_ADDRS	40

static struct {
	struct akd_core *core;
	uint8_t members[AKD_MAX_NODE + 1];
	uint64_t now;
	unsigned int run, gen;
	uint64_t local[FZ_NR_TABLES][MAX_ADDRS], remote[FZ_NR_TABLES][MAX_ADDRS];
	uint8_t *ckpt[FZ_NR_TABLES];
	size_t ckpt_len[FZ_NR_TABLES];
	bool fail_next, damaged, stopped, twin_heard, signing;
} S;

static void fz_sign(void *arg, const void *buf, size_t len, uint8_t sig[64])
{
	(void)arg, (void)buf, (void)len;
	memset(sig, 0, 64);
}

static bool fz_verify(void *arg, uint16_t node, const void *buf, size_t len,
		      const uint8_t sig[64])
{
	(void)arg, (void)node, (void)buf, (void)len;
	return !sig[0];
}

#define broken(...) fz_broken("fuzz_message", __VA_ARGS__)

static void core_log(void *arg, const char *fmt, va_list ap)
{
	char buf[512];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (strstr(buf, "checkpoint is damaged") || strstr(buf, "checkpoint is not one"))
		S.damaged = true;
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "  core: %s\n", buf);
}

static void *xmemdup(const void *p, size_t len)
{
	void *q = malloc(len ? len : 1);

	if (!q)
		abort();
	memcpy(q, p, len);
	return q;
}

/* A message into the core; one from another session of this node's id
 * (a twin) allows messages to that id. */
static void receive(const uint8_t *buf, size_t len)
{
	struct atomikd_hdr h;

	if (len >= sizeof(h)) {
		memcpy(&h, buf, sizeof(h));
		if (le16toh(h.sender) == FZ_NODE && h.session &&
		    le64toh(h.session) != fz_session(FZ_NODE, S.run))
			S.twin_heard = true;
	}
	if (S.signing && len >= sizeof(h)) {
		bool body = buf[5] == ATOMIKD_BLOCK || buf[5] == ATOMIKD_PATCH ||
			    buf[5] == ATOMIKD_RECORD;
		size_t n = len + ATOMIKD_SIG_BYTES * (1 + body);
		uint8_t *m = calloc(1, n);

		if (!m)
			abort();
		memcpy(m, buf, len);
		m[10] |= ATOMIKD_SIGNED;
		m[len] = len % 3 == 0;
		akd_core_receive(S.core, S.now, m, n);
		free(m);
		return;
	}
	akd_core_receive(S.core, S.now, buf, len);
}

/* What the core asks for, carried out until it asks for nothing. */
static void carry_out(void)
{
	struct { void *buf; size_t len; } echo[64];
	unsigned int i, rounds, nr_echo;
	struct akd_ready rd;
	bool ok;

	for (rounds = 0; S.core && akd_core_ready(S.core, &rd); rounds++) {
		if (rounds > 1000)
			broken("the core keeps asking for actions");
		ok = !(rd.nr_persist && S.fail_next);
		if (rd.nr_persist)
			S.fail_next = false;
		for (i = 0; ok && i < rd.nr_persist; i++) {
			const struct akd_persist *p = &rd.persist[i];
			unsigned int t = p->table;

			if (t >= FZ_NR_TABLES)
				broken("a checkpoint of table %u", t);
			if (!p->replace && !S.ckpt[t])
				broken("table %u: a checkpoint's tail before its start", t);
			if (p->replace) {
				free(S.ckpt[t]);
				S.ckpt[t] = xmemdup(p->buf, p->len);
				S.ckpt_len[t] = p->len;
			} else {
				S.ckpt[t] = realloc(S.ckpt[t], S.ckpt_len[t] + p->len);
				if (!S.ckpt[t])
					abort();
				memcpy(S.ckpt[t] + S.ckpt_len[t], p->buf, p->len);
				S.ckpt_len[t] += p->len;
			}
		}
		if (akd_core_persisted(S.core, ok))
			for (i = 0; i < rd.nr_remote; i++) {
				const struct akd_remote *r = &rd.remote[i];

				if (r->table >= FZ_NR_TABLES || !r->count ||
				    r->first + r->count > fz_tables[r->table].nr_addrs)
					broken("a remote write of table %u, %u+%u", r->table,
					       r->first, r->count);
				memcpy(S.remote[r->table] + r->first, r->vals, r->count * 8);
			}
		for (i = 0; i < rd.nr_verify; i++) {
			const struct akd_range *r = &rd.verify[i];

			if (r->table >= FZ_NR_TABLES || !r->count ||
			    r->first + r->count > fz_tables[r->table].nr_addrs)
				broken("a read back of table %u, %u+%u", r->table, r->first,
				       r->count);
			akd_core_remote_read(S.core, S.now, r->table, r->first, r->count,
					     S.remote[r->table] + r->first);
		}
		nr_echo = 0;
		for (i = 0; i < rd.nr_send; i++) {
			const struct akd_send *s = &rd.send[i];

			/*
			 * To its own node id only for a twin (another daemon
			 * that says it is node FZ_NODE: cluster.rst), which
			 * this one has heard from.
			 */
			if (s->len < sizeof(struct atomikd_hdr) || s->chan > AKD_CHAN_NODE ||
			    (s->chan == AKD_CHAN_BLOCKS && s->table >= FZ_NR_TABLES) ||
			    (s->chan == AKD_CHAN_NODE &&
			     (!s->node || s->node > FZ_NODES ||
			      (s->node == FZ_NODE && !S.twin_heard))))
				broken("a message of %zu bytes to channel %u, table %u, node %u",
				       s->len, s->chan, s->table, s->node);
			/* What goes to every node, or to this one's id, comes
			 * back to this one too. */
			if ((s->chan != AKD_CHAN_NODE || s->node == FZ_NODE) && nr_echo < 64) {
				echo[nr_echo].buf = xmemdup(s->buf, s->len);
				echo[nr_echo++].len = s->len;
			}
		}
		akd_core_advance(S.core);
		if (akd_core_stats(S.core)->remote_repairs)
			broken("the remote row read back is not what the core wrote");
		for (i = 0; i < nr_echo; i++) {
			akd_core_receive(S.core, S.now, echo[i].buf, echo[i].len);
			free(echo[i].buf);
		}
		if (akd_core_fatal(S.core)) {
			/* The daemon exits with status 2. */
			S.stopped = true;
			return;
		}
	}
}

static void start(void)
{
	struct akd_table_conf tc[FZ_NR_TABLES];
	struct akd_conf conf = fz_conf(FZ_NODE, S.run, S.members);
	unsigned int ti;
	int ret;

	conf.log = core_log;
	if (S.signing) {
		conf.sign = fz_sign;
		conf.verify = fz_verify;
	}
	fz_table_conf(FZ_NODE, S.gen, tc);
	if (akd_core_create(&S.core, &conf, tc, FZ_NR_TABLES))
		broken("the core refused its configuration");
	for (ti = 0; ti < FZ_NR_TABLES; ti++) {
		if (!S.ckpt[ti])
			continue;
		S.damaged = false;
		ret = akd_core_restore(S.core, ti, S.ckpt[ti], S.ckpt_len[ti]);
		if (ret || S.damaged)
			broken("table %u: its checkpoint (%zu bytes) not taken back whole: %d", ti,
			       S.ckpt_len[ti], ret);
	}
	akd_core_start(S.core, S.now);
	for (ti = 0; ti < FZ_NR_TABLES; ti++)
		akd_core_local(S.core, S.now, ti, S.local[ti]);
	carry_out();
}

/* What the last checkpoint holds is what the core counts. */
static void check_checkpoints(void)
{
	struct akd_table_conf tc[FZ_NR_TABLES];
	struct akd_table_info info;
	unsigned int ti;
	int ret;

	fz_table_conf(FZ_NODE, S.gen, tc);
	for (ti = 0; ti < FZ_NR_TABLES; ti++) {
		struct acct live = { 0 }, ck = { 0 };

		akd_core_table_info(S.core, ti, &info);
		if (getenv("FUZZ_VERBOSE"))
			fprintf(stderr, "  table %s: %s, %u contributors, %u records, "
				"checkpoint %zu bytes\n", info.name,
				akd_core_serving(S.core) ? "serving" : "recovering",
				info.contributors, info.records, S.ckpt_len[ti]);
		if (!S.ckpt[ti] || info.checkpoint_failing || !akd_core_serving(S.core))
			continue;
		akd_core_account(S.core, ti, acct_fn, &live);
		ret = akd_checkpoint_account(S.ckpt[ti], S.ckpt_len[ti], FZ_NODE,
					     fz_host(FZ_NODE), &tc[ti], FZ_BLOCK, acct_fn, &ck);
		if (ret)
			broken("table %u: its checkpoint is not taken back: %d", ti, ret);
		acct_sort(&live);
		acct_sort(&ck);
		if (getenv("FUZZ_VERBOSE")) {
			size_t i;

			for (i = 0; i < live.n; i++)
				fprintf(stderr, "  core:       node %u instance %016" PRIx64
					" block %u version %" PRIx64 "\n", live.e[i].node,
					live.e[i].instance, live.e[i].block, live.e[i].version);
			for (i = 0; i < ck.n; i++)
				fprintf(stderr, "  checkpoint: node %u instance %016" PRIx64
					" block %u version %" PRIx64 "\n", ck.e[i].node,
					ck.e[i].instance, ck.e[i].block, ck.e[i].version);
		}
		if (live.n != ck.n || (live.n && memcmp(live.e, ck.e, live.n * sizeof(*live.e))))
			broken("table %u: the checkpoint counts %zu (contributor, block) "
			       "versions, the core %zu, or other ones", ti, ck.n, live.n);
		free(live.e);
		free(ck.e);
	}
}

struct in {
	const uint8_t *p;
	size_t left;
};

static bool take(struct in *in, void *out, size_t n)
{
	if (in->left < n)
		return false;
	memcpy(out, in->p, n);
	in->p += n;
	in->left -= n;
	return true;
}

static bool take8(struct in *in, uint8_t *v) { return take(in, v, 1); }
static bool take16(struct in *in, uint16_t *v)
{
	if (!take(in, v, 2))
		return false;
	*v = le16toh(*v);
	return true;
}

static void tick(void)
{
	akd_core_tick(S.core, S.now);
	carry_out();
}

/* One operation (fuzz.h); false at the input's end. */
static bool step(struct in *in)
{
	uint8_t op, type, sender, session, table, u8;
	uint16_t flags, len, ms;
	uint64_t v;
	uint8_t *buf;

	if (!take8(in, &op))
		return false;
	switch (op % FZ_OPS) {
	case FZ_RAW:
		if (!take16(in, &len) || in->left < len)
			return false;
		buf = xmemdup(in->p, len);	/* exactly len: ASan sees past it */
		in->p += len;
		in->left -= len;
		receive(buf, len);
		free(buf);
		carry_out();
		return true;
	case FZ_MSG: {
		struct atomikd_hdr h = { 0 };

		if (!take8(in, &type) || !take8(in, &sender) || !take8(in, &session) ||
		    !take8(in, &table) || !take16(in, &flags) || !take16(in, &len) ||
		    in->left < len)
			return false;
		h.magic = htole32(ATOMIKD_MAGIC);
		h.proto = ATOMIKD_PROTO;
		h.type = type;
		h.flags = htole16(flags);
		h.sender = htole16(sender % (FZ_NODES + 2));
		h.session = htole64(fz_session(sender % (FZ_NODES + 2), session % 4));
		h.sent_at = htole64(S.now);
		table %= 4;
		h.table = htole64(table < FZ_NR_TABLES ? atomikd_table_key(fz_tables[table].name) :
				  table == 3 ? atomikd_table_key("t2") : 0);
		buf = malloc(sizeof(h) + len);
		if (!buf)
			abort();
		memcpy(buf, &h, sizeof(h));
		memcpy(buf + sizeof(h), in->p, len);
		in->p += len;
		in->left -= len;
		receive(buf, sizeof(h) + len);
		free(buf);
		carry_out();
		return true;
	}
	case FZ_TICK:
		if (!take16(in, &ms))
			return false;
		S.now += ms * FZ_MS;
		tick();
		return true;
	case FZ_LOCAL:
		if (!take8(in, &table) || !take8(in, &u8) || !take(in, &v, 8))
			return false;
		table %= FZ_NR_TABLES;
		S.local[table][u8 % fz_tables[table].nr_addrs] ^= v;
		akd_core_local(S.core, S.now, table, S.local[table]);
		carry_out();
		return true;
	case FZ_FAIL:
		S.fail_next = true;
		return true;
	case FZ_RECONN:
		akd_core_reconnected(S.core, S.now);
		carry_out();
		return true;
	case FZ_RESTART:
		if (!take8(in, &u8))
			return false;
		akd_core_stop(S.core, S.now);
		carry_out();
		akd_core_destroy(S.core);
		S.core = NULL;
		if (S.stopped)
			return false;
		S.run++;
		if (u8 & 1) {
			/* The module's table created again: a new instance, empty. */
			S.gen++;
			memset(S.local, 0, sizeof(S.local));
			memset(S.remote, 0, sizeof(S.remote));
		}
		S.now += 10 * FZ_MS;
		start();
		return true;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	unsigned int ti, i;

	memset(&S, 0, sizeof(S));
	S.now = FZ_START;
	S.signing = size & 1;
	start();
	while (!S.stopped && step(&in))
		;
	if (!S.stopped) {
		/* The checkpoints written again, whatever failed, and compared. */
		S.fail_next = false;
		for (i = 0; i < 3 && !S.stopped; i++) {
			S.now += 250 * FZ_MS;
			tick();
		}
		if (!S.stopped)
			check_checkpoints();
	}
	if (S.core && !S.stopped) {
		akd_core_stop(S.core, S.now);
		carry_out();
	}
	akd_core_destroy(S.core);
	for (ti = 0; ti < FZ_NR_TABLES; ti++)
		free(S.ckpt[ti]);
	return 0;
}
