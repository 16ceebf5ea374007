// SPDX-License-Identifier: GPL-2.0
/*
 * cluster_probe: the cluster tests' hand on the wire.  It captures the
 * daemons' block messages, sends them again shuffled and duplicated, and
 * sends malformed messages of each kind atomikd must drop.
 *
 *   cluster_probe [--server URL] [--subject P] capture FILE SECONDS
 *   cluster_probe [--server URL] [--subject P] replay FILE SEED
 *   cluster_probe [--server URL] [--subject P] inject KIND SENDER TABLE NR_ADDRS BLOCK_SIZE
 *   cluster_probe [--server URL] connect        connects, and that is all
 *   cluster_probe [--server URL] [--subject P] publish-latency ROUNDS ADDR
 *                       ROUNDS deltas at ADDR of table 0, each from rest:
 *                       how long until this node's daemon published its
 *                       block, as the local server hands it back (p50, max)
 *
 * with --nkey PUBLIC --seed FILE before the command, it authenticates to
 * NATS with that nkey; with --sign SEED_FILE, inject signs what it sends
 * with that nkey seed's key.
 *
 * and it keeps the tests' model of table 0, in files of one 64-bit value per
 * address (a node's own deltas, XOR-ed address by address):
 *
 *   cluster_probe accum SEED COUNT SECONDS FILE   COUNT random deltas over
 *                       SECONDS, into the table and XOR-ed into FILE
 *   cluster_probe expect OUT FILE...               OUT = the XOR of the FILEs
 *   cluster_probe wait EXPECTED SECONDS            until the state is EXPECTED
 *                       (prints how long it took; exits 1 with the
 *                       differences if it is not within SECONDS)
 *   cluster_probe contribution EXPECTED            the local contribution
 *                       (ATOMIK_READ_ACCUM) is exactly EXPECTED
 *   cluster_probe contribution-save FILE           FILE = the local contribution
 *
 * KIND is one of: short, truncated, format, reserved, sender, contributor,
 * table, nr_addrs, block, block_size, zero, future; unsigned (well made,
 * no signature), valid (well made, signed if --sign), forged (another
 * node's block, signed by SENDER's key).  Prints what it did on
 * stdout; exits 0 when it did it.
 */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>
#include <sodium.h>

#include "atomik.h"
#include "atomikd.h"
#include "nkey.h"

static const char *server = "nats://127.0.0.1:4222", *prefix = "atomik";
static const char *nkey, *seed;
static uint8_t sign_sk[crypto_sign_SECRETKEYBYTES];
static bool signing;
static natsConnection *nc;

static void __attribute__((noreturn)) fail(const char *what, natsStatus s)
{
	fprintf(stderr, "cluster_probe: %s: %s\n", what, natsStatus_GetText(s));
	exit(1);
}

static uint64_t boot_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

struct rec {
	char *subject;
	void *data;
	uint32_t len;
};

static int capture(const char *path, int seconds)
{
	natsSubscription *sub;
	natsMsg *msg;
	char subj[128];
	uint64_t end = boot_ns() + (uint64_t)seconds * 1000000000u;
	unsigned int n = 0;
	natsStatus s;
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		return 1;
	}
	snprintf(subj, sizeof(subj), "%s.blk.>", prefix);
	s = natsConnection_SubscribeSync(&sub, nc, subj);
	if (s != NATS_OK)
		fail("subscribe", s);
	while (boot_ns() < end) {
		s = natsSubscription_NextMsg(&msg, sub, 100);
		if (s == NATS_TIMEOUT)
			continue;
		if (s != NATS_OK)
			fail("receive", s);
		uint32_t sl = strlen(natsMsg_GetSubject(msg)), dl = natsMsg_GetDataLength(msg);

		fwrite(&sl, 4, 1, f);
		fwrite(natsMsg_GetSubject(msg), 1, sl, f);
		fwrite(&dl, 4, 1, f);
		fwrite(natsMsg_GetData(msg), 1, dl, f);
		natsMsg_Destroy(msg);
		n++;
	}
	natsSubscription_Destroy(sub);
	if (fclose(f))
		return 1;
	printf("captured %u messages\n", n);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void open_table(void);
static struct atomik *dev;

static int publish_latency(unsigned int rounds, uint32_t addr)
{
	natsSubscription *sub;
	uint64_t *v = calloc(rounds, sizeof(*v)), t0;
	unsigned int r;
	natsMsg *msg;
	char subj[128];
	natsStatus s;

	if (!v || !rounds)
		return 2;
	open_table();
	snprintf(subj, sizeof(subj), "%s.blk.>", prefix);
	s = natsConnection_SubscribeSync(&sub, nc, subj);
	if (s == NATS_OK)
		s = natsConnection_Flush(nc);
	if (s != NATS_OK)
		fail("subscribe", s);
	for (r = 0; r < rounds; r++) {
		/* From rest (a publish interval and more): what an earlier
		 * round sent is drained first. */
		usleep(200000);
		while (natsSubscription_NextMsg(&msg, sub, 1) == NATS_OK)
			natsMsg_Destroy(msg);
		t0 = boot_ns();
		if (atomik_accum(dev, addr, 0x9E3779B97F4A7C15ull * (r + 1)))
			return 1;
		s = natsSubscription_NextMsg(&msg, sub, 5000);
		if (s != NATS_OK)
			fail("no block published within 5 s", s);
		v[r] = boot_ns() - t0;
		natsMsg_Destroy(msg);
	}
	qsort(v, rounds, sizeof(*v), cmp_u64);
	printf("n %u\np50 %.3f\nmax %.3f\n", rounds, v[rounds / 2] / 1e6, v[rounds - 1] / 1e6);
	natsSubscription_Destroy(sub);
	return 0;
}

/* Every captured message twice, in a shuffled order (a seeded LCG). */
static int replay(const char *path, uint64_t seed)
{
	struct rec *r = NULL, tmp;
	unsigned int n = 0, i, j;
	uint32_t sl, dl;
	natsStatus s;
	FILE *f = fopen(path, "r");

	if (!f) {
		perror(path);
		return 1;
	}
	while (fread(&sl, 4, 1, f) == 1) {
		r = realloc(r, (n + 2) * sizeof(*r));
		r[n].subject = calloc(1, sl + 1);
		if (fread(r[n].subject, 1, sl, f) != sl || fread(&dl, 4, 1, f) != 1)
			break;
		r[n].data = malloc(dl ? dl : 1);
		r[n].len = dl;
		if (fread(r[n].data, 1, dl, f) != dl)
			break;
		r[n + 1] = r[n];
		n += 2;
	}
	fclose(f);
	for (i = n; i > 1; i--) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		j = (seed >> 33) % i;
		tmp = r[i - 1];
		r[i - 1] = r[j];
		r[j] = tmp;
	}
	for (i = 0; i < n; i++) {
		s = natsConnection_Publish(nc, r[i].subject, r[i].data, r[i].len);
		if (s != NATS_OK)
			fail("publish", s);
	}
	s = natsConnection_FlushTimeout(nc, 5000);
	if (s != NATS_OK)
		fail("flush", s);
	printf("replayed %u messages (%u captured, each twice, shuffled)\n", n, n / 2);
	return 0;
}

/* Little-endian writing, as on the wire. */
static uint8_t *p16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
	return p + 2;
}

static uint8_t *p32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
	return p + 4;
}

static uint8_t *p64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
	return p + 8;
}

/*
 * What a contributor signs of a block (atomikd.h): the signed block header,
 * then the values.
 */
static void sign_block(const uint8_t *blk, const uint8_t *vals, uint32_t count, uint64_t key,
		       uint8_t *sig)
{
	size_t len = sizeof(struct atomikd_signed_block) + (size_t)count * 8;
	uint8_t *m = malloc(len), *p;

	p = p32(m, ATOMIKD_SIGN_BLOCK);
	p = p32(p, 0);
	p = p64(p, key);
	memcpy(p, blk, sizeof(struct atomikd_block));
	memcpy(p + sizeof(struct atomikd_block), vals, (size_t)count * 8);
	crypto_sign_detached(sig, NULL, m, len, sign_sk);
	free(m);
}

/*
 * A block message that would change the state if it were applied (every
 * value 0x5a5a...), of table NAME, made wrong in one way.  It comes from a
 * session of its own, as node SENDER; with --sign, signed with that key
 * (the block as its contributor, the message as its sender), after it was
 * made wrong.
 */
static int inject(const char *kind, unsigned int sender, const char *table, uint32_t nr_addrs,
		  uint32_t block_size)
{
	uint32_t count = nr_addrs < block_size ? nr_addrs : block_size;
	uint32_t magic = ATOMIKD_MAGIC, block = 0, reserved = 0, host = 0xdead;
	uint16_t contributor = sender, flags = 0;
	uint64_t key = atomikd_table_key(table), version = 1000, sent_at = boot_ns();
	uint64_t instance = 0xdead0001;
	size_t len = sizeof(struct atomikd_hdr) + sizeof(struct atomikd_block) + count * 8 +
		     2 * ATOMIKD_SIG_BYTES;
	uint8_t *buf = malloc(len), *p, *blk;
	bool sign = signing && strcmp(kind, "unsigned");
	char subj[128];
	natsStatus s;

	if (!strcmp(kind, "format"))
		magic ^= 1;
	else if (!strcmp(kind, "reserved"))
		reserved = 1;
	else if (!strcmp(kind, "sender"))
		sender = contributor = 999;
	else if (!strcmp(kind, "contributor"))
		contributor = 999;
	else if (!strcmp(kind, "table"))
		key ^= 77;
	else if (!strcmp(kind, "nr_addrs"))
		nr_addrs++;
	else if (!strcmp(kind, "block"))
		block = (nr_addrs + block_size - 1) / block_size;
	else if (!strcmp(kind, "block_size"))
		block_size *= 2;
	else if (!strcmp(kind, "zero"))
		version = 0;
	else if (!strcmp(kind, "future")) {
		/* Its own live instance, sent by itself, past its clock. */
		flags = ATOMIKD_BLOCK_LIVE;
		version = sent_at + 3600ull * 1000000000u;
	} else if (!strcmp(kind, "forged")) {
		/* Another node's contribution, far in the future, signed by
		 * the sender's key rather than its own node's. */
		contributor = sender == 2 ? 3 : 2;
		version = 1ull << 62;
	} else if (strcmp(kind, "short") && strcmp(kind, "truncated") &&
		   strcmp(kind, "unsigned") && strcmp(kind, "valid")) {
		fprintf(stderr, "cluster_probe: unknown kind '%s'\n", kind);
		return 2;
	}
	memset(buf, 0x5a, len);
	p = p32(buf, magic);
	*p++ = ATOMIKD_PROTO;
	*p++ = ATOMIKD_BLOCK;
	p = p16(p, flags);
	p = p16(p, sender);
	p = p16(p, sign ? ATOMIKD_SIGNED : 0);
	p = p32(p, reserved);
	p = p64(p, 0x5e55100000000000ull | getpid());
	p = p64(p, sent_at);
	p = p64(p, key);
	blk = p;
	p = p32(p, nr_addrs);
	p = p32(p, block_size);
	p = p32(p, block);
	p = p32(p, count);
	p = p16(p, contributor);
	p = p16(p, 0);
	p = p32(p, host);
	p = p64(p, instance);
	p = p64(p, version);
	p += count * 8;
	len = p - buf;
	if (sign) {
		sign_block(blk, blk + sizeof(struct atomikd_block), count, key, p);
		len += ATOMIKD_SIG_BYTES;
	}
	if (!strcmp(kind, "short"))
		len = 10;
	else if (!strcmp(kind, "truncated"))
		len -= 8;
	if (sign && len > 40) {
		crypto_sign_detached(buf + len, NULL, buf, len, sign_sk);
		len += ATOMIKD_SIG_BYTES;
	}
	snprintf(subj, sizeof(subj), "%s.blk.%s", prefix, table);
	s = natsConnection_Publish(nc, subj, buf, len);
	if (s == NATS_OK)
		s = natsConnection_FlushTimeout(nc, 5000);
	if (s != NATS_OK)
		fail("publish", s);
	printf("injected %s: %zu bytes on %s\n", kind, len, subj);
	free(buf);
	return 0;
}

/* ---- the model ---- */

static uint32_t nr_addrs;

static void open_table(void)
{
	int ret = atomik_open(&dev, NULL, O_RDWR);

	if (!ret)
		ret = atomik_nr_addrs(dev, &nr_addrs);
	if (ret) {
		fprintf(stderr, "cluster_probe: /dev/atomik: %s\n", strerror(-ret));
		exit(1);
	}
}

static uint64_t *load_file(const char *path, bool may_be_missing)
{
	uint64_t *v = calloc(nr_addrs, 8);
	FILE *f = fopen(path, "r");

	if (!f) {
		if (may_be_missing && errno == ENOENT)
			return v;
		perror(path);
		exit(1);
	}
	if (fread(v, 8, nr_addrs, f) != nr_addrs) {
		fprintf(stderr, "cluster_probe: %s: not %u values\n", path, nr_addrs);
		exit(1);
	}
	fclose(f);
	return v;
}

static void store_file(const char *path, const uint64_t *v)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f || fwrite(v, 8, nr_addrs, f) != nr_addrs || fclose(f) || rename(tmp, path)) {
		perror(path);
		exit(1);
	}
}

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int accum(uint64_t seed, unsigned long count, double seconds, const char *path)
{
	uint64_t *own = load_file(path, true), start = boot_ns();
	struct atomik_delta d[64];
	unsigned long done = 0;
	unsigned int n, i;
	int ret;

	while (done < count) {
		n = count - done < 64 ? count - done : 64;
		for (i = 0; i < n; i++) {
			d[i].addr = splitmix(&seed) % nr_addrs;
			d[i].reserved = 0;
			d[i].delta = splitmix(&seed);
		}
		ret = atomik_accum_batch(dev, d, n);
		if (ret) {
			fprintf(stderr, "cluster_probe: accum_batch: %s\n", strerror(-ret));
			return 1;
		}
		for (i = 0; i < n; i++)
			own[d[i].addr] ^= d[i].delta;
		done += n;
		/* Paced: done/count of the time gone. */
		while ((boot_ns() - start) / 1e9 < seconds * done / count)
			usleep(10000);
	}
	store_file(path, own);
	printf("accumulated %lu deltas in %.1f s\n", count, (boot_ns() - start) / 1e9);
	return 0;
}

static int expect(const char *out, char **files, int n)
{
	uint64_t *acc = calloc(nr_addrs, 8), *v;
	uint32_t a;
	int i;

	for (i = 0; i < n; i++) {
		v = load_file(files[i], false);
		for (a = 0; a < nr_addrs; a++)
			acc[a] ^= v[a];
		free(v);
	}
	store_file(out, acc);
	return 0;
}

static unsigned int differences(const uint64_t *want, uint32_t flags, bool show)
{
	static uint64_t *got;
	unsigned int bad = 0;
	uint32_t a;
	int ret;

	if (!got)
		got = calloc(nr_addrs, 8);
	ret = atomik_read_range_flags(dev, 0, nr_addrs, flags, got);
	if (ret) {
		fprintf(stderr, "cluster_probe: read_range: %s\n", strerror(-ret));
		exit(1);
	}
	for (a = 0; a < nr_addrs; a++) {
		if (got[a] == want[a])
			continue;
		if (show && bad < 5)
			printf("  address %u: 0x%016" PRIx64 ", expected 0x%016" PRIx64 "\n",
			       a, got[a], want[a]);
		bad++;
	}
	return bad;
}

static int wait_state(const char *path, double seconds)
{
	uint64_t *want = load_file(path, false), start = boot_ns();
	unsigned int bad;

	while ((bad = differences(want, 0, false))) {
		if ((boot_ns() - start) / 1e9 > seconds) {
			printf("not converged after %.1f s: %u of %u addresses differ\n",
			       seconds, bad, nr_addrs);
			differences(want, 0, true);
			return 1;
		}
		usleep(20000);
	}
	printf("converged in %.2f s\n", (boot_ns() - start) / 1e9);
	return 0;
}

static int contribution(const char *path)
{
	uint64_t *want = load_file(path, false);
	unsigned int bad = differences(want, ATOMIK_READ_ACCUM, true);

	if (bad)
		printf("the local contribution differs at %u addresses\n", bad);
	return !!bad;
}

static int contribution_save(const char *path)
{
	uint64_t *v = calloc(nr_addrs, 8);
	int ret = atomik_read_range_flags(dev, 0, nr_addrs, ATOMIK_READ_ACCUM, v);

	if (ret) {
		fprintf(stderr, "cluster_probe: read_range: %s\n", strerror(-ret));
		return 1;
	}
	store_file(path, v);
	return 0;
}

/* An nkey seed file's key, that inject signs with. */
static void load_signing_key(const char *path)
{
	uint8_t seed_raw[32], pk[crypto_sign_PUBLICKEYBYTES];
	char line[128] = "";
	FILE *f = fopen(path, "r");

	if (!f || !fgets(line, sizeof(line), f)) {
		fprintf(stderr, "cluster_probe: cannot read %s\n", path);
		exit(2);
	}
	fclose(f);
	line[strcspn(line, "\r\n")] = 0;
	if (sodium_init() < 0 || nkey_decode(line, true, seed_raw)) {
		fprintf(stderr, "cluster_probe: %s is not a user nkey seed\n", path);
		exit(2);
	}
	crypto_sign_seed_keypair(pk, sign_sk, seed_raw);
	signing = true;
}

int main(int argc, char **argv)
{
	natsOptions *opts = NULL;
	natsStatus s;
	int i = 1, ret;

	while (i + 1 < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "--server"))
			server = argv[i + 1];
		else if (!strcmp(argv[i], "--subject"))
			prefix = argv[i + 1];
		else if (!strcmp(argv[i], "--nkey"))
			nkey = argv[i + 1];
		else if (!strcmp(argv[i], "--seed"))
			seed = argv[i + 1];
		else if (!strcmp(argv[i], "--sign"))
			load_signing_key(argv[i + 1]);
		else
			break;
		i += 2;
	}
	argc -= i;
	argv += i;
	if (argc < 1)
		goto usage;
	if (!strcmp(argv[0], "accum") || !strcmp(argv[0], "expect") ||
	    !strcmp(argv[0], "wait") || !strncmp(argv[0], "contribution", 12)) {
		open_table();
		if (!strcmp(argv[0], "accum") && argc == 5)
			return accum(strtoull(argv[1], NULL, 0), strtoul(argv[2], NULL, 0),
				     atof(argv[3]), argv[4]);
		if (!strcmp(argv[0], "expect") && argc >= 2)
			return expect(argv[1], argv + 2, argc - 2);
		if (!strcmp(argv[0], "wait") && argc == 3)
			return wait_state(argv[1], atof(argv[2]));
		if (!strcmp(argv[0], "contribution") && argc == 2)
			return contribution(argv[1]);
		if (!strcmp(argv[0], "contribution-save") && argc == 2)
			return contribution_save(argv[1]);
		goto usage;
	}
	s = natsOptions_Create(&opts);
	if (s == NATS_OK)
		s = natsOptions_SetURL(opts, server);
	if (s == NATS_OK && nkey)
		s = natsOptions_SetNKeyFromSeed(opts, nkey, seed);
	if (s == NATS_OK)
		s = natsConnection_Connect(&nc, opts);
	if (s != NATS_OK)
		fail(server, s);
	natsOptions_Destroy(opts);
	if (!strcmp(argv[0], "connect") && argc == 1) {
		printf("connected to %s\n", server);
		ret = 0;
	} else if (!strcmp(argv[0], "capture") && argc == 3)
		ret = capture(argv[1], atoi(argv[2]));
	else if (!strcmp(argv[0], "publish-latency") && argc == 3)
		ret = publish_latency(strtoul(argv[1], NULL, 0), strtoul(argv[2], NULL, 0));
	else if (!strcmp(argv[0], "replay") && argc == 3)
		ret = replay(argv[1], strtoull(argv[2], NULL, 0));
	else if (!strcmp(argv[0], "inject") && argc == 6)
		ret = inject(argv[1], atoi(argv[2]), argv[3],
			     strtoul(argv[4], NULL, 0), strtoul(argv[5], NULL, 0));
	else
		goto usage;
	natsConnection_Destroy(nc);
	return ret;
usage:
	fprintf(stderr, "usage: cluster_probe [--server URL] [--subject P] "
		"[--nkey PUBLIC --seed FILE] [--sign SEED_FILE] connect | capture FILE SECONDS | replay FILE SEED | "
		"inject KIND SENDER TABLE NR_ADDRS BLOCK_SIZE | publish-latency ROUNDS ADDR | "
		"accum SEED COUNT SECONDS FILE | expect OUT FILE... | "
		"wait EXPECTED SECONDS | contribution EXPECTED | contribution-save FILE\n");
	return 2;
}
