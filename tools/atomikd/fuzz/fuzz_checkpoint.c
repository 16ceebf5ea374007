// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz target: a checkpoint file's bytes into atomikd's checkpoint reader
 * (akd_core_restore()), as table t0 of node 1 (fuzz.h).
 *
 * The input's first byte chooses how the rest is read, so that the fuzzer
 * need not find the records' checksums by itself:
 *   0  the file as it is
 *   1  the file's magic, then records: u8 type, u16 length, the body; each
 *      record's checksum is made here
 *   2  as 1, after a header record that fits this node's table (its live
 *      instance, or another one when the next byte is odd)
 *
 * A checkpoint the reader takes is then written again by a core that
 * serves from it, and that one must be taken back whole too, count the
 * same versions and, written once more, give the same bytes.
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

/* The checkpoint's format (core.c, Documentation/atomik/cluster.rst). */
#define CK_MAGIC	0x32434b41u	/* "AKC2" */
#define CK_VERSION	2
#define CK_HEADER	1

static bool damaged;

#define broken(...) fz_broken("fuzz_checkpoint", __VA_ARGS__)

static void core_log(void *arg, const char *fmt, va_list ap)
{
	char buf[512];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (strstr(buf, "checkpoint is damaged"))
		damaged = true;
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "  core: %s\n", buf);
}

struct buf {
	uint8_t *p;
	size_t len;
};

static void put(struct buf *b, const void *p, size_t n)
{
	b->p = realloc(b->p, b->len + n + 1);
	if (!b->p)
		abort();
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void put32(struct buf *b, uint32_t v)
{
	v = htole32(v);
	put(b, &v, 4);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *c = p;

	while (n--)
		h = (h ^ *c++) * 0x100000001b3ull;
	return h;
}

static void put_record(struct buf *b, uint32_t type, const void *body, uint32_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	uint32_t le;

	le = htole32(type);
	h = fnv(h, &le, 4);
	le = htole32(n);
	h = fnv(h, &le, 4);
	h = fnv(h, body, n);
	put32(b, type);
	put32(b, n);
	put(b, body, n);
	h = htole64(h);
	put(b, &h, 8);
}

static struct akd_core *core(const struct akd_table_conf *tc)
{
	struct akd_conf conf = fz_conf(FZ_NODE, 0, (uint8_t[AKD_MAX_NODE + 1]){ 0 });
	struct akd_core *c;

	conf.members = NULL;	/* any node: recovery ends by its timeout */
	conf.max_contributors = 64;
	conf.log = core_log;
	if (akd_core_create(&c, &conf, tc, 1))
		broken("the core refused its configuration");
	return c;
}

/* Serving from what it restored: the whole checkpoint it writes first. */
static struct buf serve(struct akd_core *c)
{
	struct buf out = { 0 };
	struct akd_ready rd;
	uint64_t zeros[64] = { 0 };
	unsigned int i, rounds;
	uint64_t now = FZ_START;

	akd_core_start(c, now);
	for (rounds = 0; !out.p && rounds < 20; rounds++) {
		akd_core_tick(c, now);
		while (akd_core_ready(c, &rd)) {
			for (i = 0; i < rd.nr_persist; i++)
				if (rd.persist[i].replace && !out.p)
					put(&out, rd.persist[i].buf, rd.persist[i].len);
			akd_core_persisted(c, true);
			for (i = 0; i < rd.nr_verify; i++)
				if (rd.verify[i].count <= 64)
					akd_core_remote_read(c, now, rd.verify[i].table,
							     rd.verify[i].first,
							     rd.verify[i].count, zeros);
			akd_core_advance(c);
		}
		now += 250 * FZ_MS;
	}
	if (!out.p)
		broken("a core serving from a checkpoint wrote none");
	return out;
}

static struct acct account(struct akd_core *c)
{
	struct acct a = { 0 };

	akd_core_account(c, 0, acct_fn, &a);
	acct_sort(&a);
	return a;
}

/* The input as a checkpoint file, by its first byte's mode. */
static struct buf file(const uint8_t *data, size_t size, const struct akd_table_conf *tc)
{
	struct buf f = { 0 };
	uint8_t mode = size ? data[0] % 3 : 0;
	uint16_t n;
	uint8_t type;

	if (size)
		data++, size--;
	if (mode == 0) {
		put(&f, data, size);
		return f;
	}
	put32(&f, CK_MAGIC);
	if (mode == 2) {
		struct buf h = { 0 };
		char name[AKD_NAME_MAX] = "";
		uint64_t instance = tc->instance;
		uint32_t v;

		if (size && (data[0] & 1))
			instance = fz_instance(FZ_NODE, 0, 1);
		if (size)
			data++, size--;
		put32(&h, CK_VERSION);
		v = htole32(FZ_NODE);	/* node, then 0 */
		put(&h, &v, 4);
		put32(&h, tc->nr_addrs);
		put32(&h, FZ_BLOCK);
		instance = htole64(instance);
		put(&h, &instance, 8);
		strcpy(name, tc->name);
		put(&h, name, sizeof(name));
		put_record(&f, CK_HEADER, h.p, h.len);
		free(h.p);
	}
	while (size >= 3) {
		type = data[0] % 8;
		memcpy(&n, data + 1, 2);
		n = le16toh(n);
		data += 3;
		size -= 3;
		if (n > size)
			n = size;
		put_record(&f, type, data, n);
		data += n;
		size -= n;
	}
	return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct akd_table_conf tc[FZ_NR_TABLES];
	struct buf f, w1, w2;
	struct akd_core *c1, *c2;
	struct acct a1, a2;
	uint8_t *exact;
	int ret;

	fz_table_conf(FZ_NODE, 0, tc);
	f = file(data, size, tc);
	/* Exactly the file's bytes, so that ASan sees a read past its end. */
	exact = malloc(f.len ? f.len : 1);
	if (!exact)
		abort();
	memcpy(exact, f.p, f.len);
	free(f.p);

	damaged = false;
	c1 = core(tc);
	ret = akd_core_restore(c1, 0, exact, f.len);
	if (ret) {
		if (ret != -EBADMSG && ret != -EEXIST)
			broken("akd_core_restore() returned %d", ret);
		if ((ret == -EEXIST) != !!akd_core_fatal(c1))
			broken("a refusal (%d) without its reason, or the reverse", ret);
		akd_core_destroy(c1);
		free(exact);
		return 0;
	}
	/* Serving, it may publish (the values it adopted): counted after. */
	w1 = serve(c1);
	a1 = account(c1);

	/* Written again by the core, taken back whole, counting the same. */
	damaged = false;
	c2 = core(tc);
	ret = akd_core_restore(c2, 0, w1.p, w1.len);
	if (ret || damaged)
		broken("the checkpoint written from a restored one is not taken back whole (%d)",
		       ret);
	a2 = account(c2);
	if (getenv("FUZZ_VERBOSE")) {
		size_t i;

		for (i = 0; i < a1.n; i++)
			fprintf(stderr, "  read:    node %u instance %016" PRIx64 " block %u version "
				"%" PRIx64 "\n", a1.e[i].node, a1.e[i].instance, a1.e[i].block,
				a1.e[i].version);
		for (i = 0; i < a2.n; i++)
			fprintf(stderr, "  written: node %u instance %016" PRIx64 " block %u version "
				"%" PRIx64 "\n", a2.e[i].node, a2.e[i].instance, a2.e[i].block,
				a2.e[i].version);
	}
	if (a1.n != a2.n || (a1.n && memcmp(a1.e, a2.e, a1.n * sizeof(*a1.e))))
		broken("the checkpoint written again counts %zu (contributor, block) versions, "
		       "the core that wrote it %zu, or other ones", a2.n, a1.n);
	w2 = serve(c2);
	if (w1.len != w2.len || memcmp(w1.p, w2.p, w1.len))
		broken("the checkpoint written twice differs (%zu and %zu bytes)", w1.len, w2.len);

	free(a1.e);
	free(a2.e);
	free(w1.p);
	free(w2.p);
	akd_core_destroy(c1);
	akd_core_destroy(c2);
	free(exact);
	return 0;
}
