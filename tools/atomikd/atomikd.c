// SPDX-License-Identifier: GPL-2.0
/*
 * atomikd: keeps the replicated tables of this node's /dev/atomik converged
 * with the other nodes of a cluster, over NATS.
 *
 * In a replicated table each node owns its contribution, the XOR of every
 * delta accumulated on it (what ATOMIK_READ_ACCUM returns), and the state
 * everywhere is ref ^ every contributor's latest contribution.  The daemon
 * reads its node's contribution every publish interval and publishes the
 * blocks that changed, each under a new version; it keeps, per (contributor,
 * block), the values of the highest version it has seen, and writes the XOR
 * of every other contributor's into the table's remote row.  A contributor is
 * a node's table instance: a node whose table was created again (a reboot, a
 * reload) is a new contributor, and its earlier one stays, frozen.  Every
 * node republishes every block it holds, periodically, when it reconnects and
 * when a peer appears, so that a lost message is only late.  At start it asks
 * its peers for every block before it publishes anything.
 *
 * Documentation/atomik/cluster.rst has the model, the wire format
 * (atomikd.h), the configuration and what is guaranteed.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "atomik.h"
#include "atomikd.h"

#ifndef ATOMIK_PACKAGE_VERSION
#define ATOMIK_PACKAGE_VERSION "unknown"
#endif

#define MAX_SERVERS	16
#define MAX_TABLES	64
#define DEFAULT_CONFIG	"/etc/atomik/atomikd.conf"

struct config {
	unsigned long node;
	char *servers[MAX_SERVERS];
	int nr_servers;
	uint8_t *allowed;		/* [ATOMIKD_MAX_NODE + 1]; NULL: any */
	uint32_t tables[MAX_TABLES];
	int nr_tables;
	char *prefix;
	unsigned long publish_ms, republish_ms, recover_ms, peer_timeout_ms;
	unsigned long block, max_contributors;
	char *state_dir;
	char *device;
};

static struct config cfg = {
	.prefix = "atomik",
	.publish_ms = 100,
	.republish_ms = 5000,
	.recover_ms = 2000,
	.block = 256,
	.max_contributors = 1024,
	.state_dir = ATOMIKD_STATE_DIR,
};

/* One contributor's latest values: a node's table instance. */
struct contrib {
	uint16_t node;
	uint64_t instance;
	uint64_t *ver;			/* [nr_blocks]; 0: none yet */
	uint64_t *val;			/* [nr_addrs] */
};

struct table {
	uint32_t id, nr_addrs, nr_blocks;
	struct atomik *a;
	uint64_t instance;
	uint64_t *local;		/* the contribution as last read */
	uint64_t *pub;			/* ... as last published */
	uint64_t *pub_ver;		/* [nr_blocks] */
	uint64_t *remote;		/* XOR of every other contributor */
	uint8_t *dirty;			/* [nr_blocks]: remote not yet written */
	bool changed;			/* contributors changed: checkpoint */
	struct contrib *c;
	unsigned int nr_c;
};

struct peer {
	uint16_t node;
	uint64_t instance;
	uint64_t last_ms;		/* boot clock, ms */
	uint64_t last_version;		/* the highest of its own blocks seen */
	uint64_t messages;
};

#define X(name, text) uint64_t name;
static struct {
	uint64_t messages_received, messages_sent, bytes_received, bytes_sent;
	uint64_t blocks_published, blocks_applied, duplicates, own_echoes;
	uint64_t recover_answers, republishes, reconnects, send_errors;
	struct { ATOMIKD_DROPS(X) } dropped;
} st;
#undef X

static struct table tables[MAX_TABLES];
static int nr_tables;
static struct peer *peers;
static unsigned int nr_peers;
static natsConnection *nc;
static natsSubscription *sub;
static char inbox[128];
static volatile sig_atomic_t stopping;
static volatile sig_atomic_t reconnected, connected;
static bool serving;
static uint64_t started_ms;
static unsigned long ends_received;

static void vsay(const char *fmt, va_list ap)
{
	fputs("atomikd: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

static void __attribute__((noreturn)) die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	exit(code);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		die(1, "out of memory");
	return p;
}

/* The boot clock: it only grows while a table instance lives. */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static uint64_t now_ms(void)
{
	return now_ns() / 1000000;
}

/* ---- configuration ---- */

static const char *parse_ulong(const char *s, unsigned long min, unsigned long max,
			       unsigned long *out)
{
	unsigned long v;
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return "not a number";
	errno = 0;
	v = strtoul(s, &end, 0);
	if (*end)
		return "not a number";
	if (errno == ERANGE || v > max)
		return "too large";
	if (v < min)
		return "too small";
	*out = v;
	return NULL;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = 0;
	return s;
}

/* A list: words separated by spaces, tabs or commas. */
static char *next_word(char **p)
{
	char *s = *p, *w;

	while (*s == ' ' || *s == '\t' || *s == ',')
		s++;
	if (!*s)
		return NULL;
	w = s;
	while (*s && *s != ' ' && *s != '\t' && *s != ',')
		s++;
	if (*s)
		*s++ = 0;
	*p = s;
	return w;
}

/* Each setter returns NULL or what is wrong with the value. */
static const char *set_servers(char *v)
{
	char *w;

	cfg.nr_servers = 0;
	while ((w = next_word(&v))) {
		if (cfg.nr_servers == MAX_SERVERS)
			return "more than 16 servers";
		if (strncmp(w, "nats://", 7) && strncmp(w, "tls://", 6))
			return "a server is a nats:// or tls:// URL";
		cfg.servers[cfg.nr_servers++] = strdup(w);
	}
	return cfg.nr_servers ? NULL : "no server";
}

static const char *set_nodes(char *v)
{
	unsigned long n;
	const char *err;
	char *w;

	free(cfg.allowed);
	cfg.allowed = xcalloc(ATOMIKD_MAX_NODE + 1, 1);
	while ((w = next_word(&v))) {
		err = parse_ulong(w, 1, ATOMIKD_MAX_NODE, &n);
		if (err)
			return "a node is a number from 1 to 65535";
		cfg.allowed[n] = 1;
	}
	return NULL;
}

static const char *set_tables(char *v)
{
	unsigned long n;
	char *w;
	int i;

	cfg.nr_tables = 0;
	while ((w = next_word(&v))) {
		if (parse_ulong(w, 0, UINT32_MAX, &n))
			return "a table is a number";
		for (i = 0; i < cfg.nr_tables; i++)
			if (cfg.tables[i] == n)
				return "a table is named twice";
		if (cfg.nr_tables == MAX_TABLES)
			return "more than 64 tables";
		cfg.tables[cfg.nr_tables++] = n;
	}
	return cfg.nr_tables ? NULL : "no table";
}

static const char *set_prefix(char *v)
{
	const char *p;

	if (!*v || strlen(v) > 64)
		return "a subject prefix is 1 to 64 characters";
	for (p = v; *p; p++)
		if (*p == '*' || *p == '>' || *p == ' ' || *p == '\t' ||
		    (*p == '.' && (p == v || p[1] == 0 || p[1] == '.')))
			return "a subject prefix is NATS tokens separated by dots, without wildcards";
	cfg.prefix = strdup(v);
	return NULL;
}

static const char *set_path(char **dst, char *v)
{
	if (*v != '/')
		return "an absolute path";
	*dst = strdup(v);
	return NULL;
}

static const char *set_state_dir(char *v)
{
	return set_path(&cfg.state_dir, v);
}

static const char *set_device(char *v)
{
	return set_path(&cfg.device, v);
}

#define LIST(n, fn)		{ .name = n, .set = fn }
#define NUM(field, l, h)	{ .name = #field, .num = &cfg.field, .lo = l, .hi = h }
static const struct key {
	const char *name;
	const char *(*set)(char *v);
	unsigned long *num;
	unsigned long lo, hi;
} keys[] = {
	NUM(node, 1, ATOMIKD_MAX_NODE),
	LIST("servers", set_servers), LIST("nodes", set_nodes),
	LIST("tables", set_tables), LIST("subject", set_prefix),
	LIST("state_dir", set_state_dir), LIST("device", set_device),
	NUM(publish_ms, 10, 3600000), NUM(republish_ms, 100, 86400000),
	NUM(recover_ms, 0, 600000), NUM(peer_timeout_ms, 0, 86400000),
	NUM(block, 1, ATOMIKD_MAX_BLOCK), NUM(max_contributors, 1, 1000000),
	{ .name = NULL },
};
#undef NUM
#undef LIST

/* The file's and the command line's names: publish_interval_ms etc. too. */
static const char *alias(const char *k)
{
	if (!strcmp(k, "publish_interval_ms"))
		return "publish_ms";
	if (!strcmp(k, "republish_interval_ms"))
		return "republish_ms";
	if (!strcmp(k, "recover_timeout_ms"))
		return "recover_ms";
	if (!strcmp(k, "block_size"))
		return "block";
	return k;
}

/* NULL when set, else what is wrong ("unknown key" for a name we lack). */
static const char *set_key(const char *name, char *v)
{
	static char buf[96];
	const struct key *k;
	const char *err;

	name = alias(name);
	for (k = keys; k->name; k++) {
		if (strcmp(k->name, name))
			continue;
		if (k->set)
			return k->set(v);
		err = parse_ulong(v, k->lo, k->hi, k->num);
		if (err == NULL)
			return NULL;
		snprintf(buf, sizeof(buf), "%s (%lu to %lu)", err, k->lo, k->hi);
		return buf;
	}
	return "unknown key";
}

static void load_config(const char *path, bool must_exist)
{
	char *line = NULL, *k, *v, *eq;
	size_t cap = 0;
	const char *err;
	int lineno = 0;
	FILE *f;

	f = fopen(path, "r");
	if (!f) {
		if (!must_exist && errno == ENOENT)
			return;
		die(2, "cannot read %s: %s", path, strerror(errno));
	}
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		k = trim(line);
		if (!*k || *k == '#')
			continue;
		eq = strchr(k, '=');
		if (!eq)
			die(2, "%s:%d: expected 'key = value'", path, lineno);
		*eq = 0;
		v = trim(eq + 1);
		k = trim(k);
		err = set_key(k, v);
		if (err)
			die(2, "%s:%d: %s: %s", path, lineno, k, err);
	}
	free(line);
	fclose(f);
}

static void __attribute__((noreturn)) usage(FILE *to, int code)
{
	fprintf(to,
"usage: atomikd [--config FILE] [--node N] [--server URL]... [--nodes LIST]\n"
"               [--table ID]... [--subject PREFIX] [--publish-ms MS]\n"
"               [--republish-ms MS] [--recover-ms MS] [--state-dir DIR]\n"
"               [--device PATH] [--block N]\n"
"Replicates this node's replicated atomik tables over NATS.  Options\n"
"override the configuration file (default %s).\n", DEFAULT_CONFIG);
	exit(code);
}

static void parse_command_line(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "node", required_argument, NULL, 'n' },
		{ "server", required_argument, NULL, 's' },
		{ "nodes", required_argument, NULL, 'N' },
		{ "table", required_argument, NULL, 't' },
		{ "subject", required_argument, NULL, 'S' },
		{ "publish-ms", required_argument, NULL, 'p' },
		{ "republish-ms", required_argument, NULL, 'r' },
		{ "recover-ms", required_argument, NULL, 'R' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "device", required_argument, NULL, 'D' },
		{ "block", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = DEFAULT_CONFIG, *key, *err;
	int opt, idx = 0;
	bool servers_given = false, tables_given = false, explicit = false;
	char tablebuf[4096] = "", serverbuf[4096] = "";

	/* The file first, the options over it. */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		if (opt == 'c') {
			config = optarg;
			explicit = true;
		}
	}
	load_config(config, explicit);
	optind = 1;
	opterr = 1;
	while ((opt = getopt_long(argc, argv, "hV", opts, &idx)) != -1) {
		switch (opt) {
		case 'c':	continue;
		case 'h':	usage(stdout, 0);
		case 'V':	printf("atomikd %s\n", ATOMIK_PACKAGE_VERSION); exit(0);
		case 's':	/* repeated: a list */
			servers_given = true;
			strncat(serverbuf, " ", sizeof(serverbuf) - strlen(serverbuf) - 1);
			strncat(serverbuf, optarg, sizeof(serverbuf) - strlen(serverbuf) - 1);
			continue;
		case 't':
			tables_given = true;
			strncat(tablebuf, " ", sizeof(tablebuf) - strlen(tablebuf) - 1);
			strncat(tablebuf, optarg, sizeof(tablebuf) - strlen(tablebuf) - 1);
			continue;
		case 'n':	key = "node"; break;
		case 'N':	key = "nodes"; break;
		case 'S':	key = "subject"; break;
		case 'p':	key = "publish_ms"; break;
		case 'r':	key = "republish_ms"; break;
		case 'R':	key = "recover_ms"; break;
		case 'd':	key = "state_dir"; break;
		case 'D':	key = "device"; break;
		case 'b':	key = "block"; break;
		default:	usage(stderr, 2);
		}
		err = set_key(key, optarg);
		if (err)
			die(2, "--%s %s: %s", opts[idx].name, optarg, err);
	}
	if (optind != argc)
		die(2, "unexpected argument '%s' (see --help)", argv[optind]);
	if (servers_given && (err = set_servers(serverbuf)))
		die(2, "--server: %s", err);
	if (tables_given && (err = set_tables(tablebuf)))
		die(2, "--table: %s", err);
	if (!cfg.node)
		die(2, "no node id: set 'node' in %s or give --node", config);
	if (!cfg.nr_servers)
		set_servers(strdup("nats://127.0.0.1:4222"));
	if (!cfg.nr_tables)
		cfg.nr_tables = 1;	/* table 0 */
	if (cfg.allowed && !cfg.allowed[cfg.node])
		die(2, "node %lu is not among the cluster's nodes", cfg.node);
	if (!cfg.peer_timeout_ms)
		cfg.peer_timeout_ms = 3 * cfg.republish_ms;
}

/* ---- the device ---- */

static void open_tables(void)
{
	struct atomik_info info;
	int i, ret;

	for (i = 0; i < cfg.nr_tables; i++) {
		struct table *t = &tables[i];

		t->id = cfg.tables[i];
		ret = atomik_open(&t->a, cfg.device, O_RDWR);
		if (ret)
			die(1, "cannot open %s: %s", cfg.device ? cfg.device : "/dev/atomik",
			    strerror(-ret));
		ret = atomik_table_select(t->a, t->id);
		if (!ret)
			ret = atomik_info(t->a, &info);
		if (ret)
			die(1, "table %u: %s", t->id, strerror(-ret));
		if (!(info.table_flags & ATOMIK_TABLE_REPLICATED))
			die(1, "table %u is not replicated (create it with "
			    "ATOMIK_TABLE_REPLICATED, or load the module with replicated=1 "
			    "for table 0)", t->id);
		if (!(info.features & ATOMIK_FEAT_INSTANCE) || !info.instance)
			die(1, "the module does not report table instances: it is too old");
		t->nr_addrs = info.nr_addrs;
		t->instance = info.instance;
		t->nr_blocks = (t->nr_addrs + cfg.block - 1) / cfg.block;
		t->local = xcalloc(t->nr_addrs, sizeof(uint64_t));
		t->pub = xcalloc(t->nr_addrs, sizeof(uint64_t));
		t->remote = xcalloc(t->nr_addrs, sizeof(uint64_t));
		t->pub_ver = xcalloc(t->nr_blocks, sizeof(uint64_t));
		t->dirty = xcalloc(t->nr_blocks, 1);
	}
	nr_tables = cfg.nr_tables;
}

static struct table *find_table(uint32_t id)
{
	int i;

	for (i = 0; i < nr_tables; i++)
		if (tables[i].id == id)
			return &tables[i];
	return NULL;
}

static uint32_t block_len(const struct table *t, uint32_t b)
{
	uint32_t first = b * cfg.block;

	return t->nr_addrs - first < cfg.block ? t->nr_addrs - first : cfg.block;
}

/* ---- checkpoints: what the remote row is made of, across restarts ---- */

#define STATE_MAGIC	0x53444b41u	/* "AKDS" */

struct state_hdr {
	uint32_t magic, version, table, nr_addrs, block, nr_c;
	uint64_t instance;
};

static void state_path(const struct table *t, char *buf, size_t len, const char *suffix)
{
	snprintf(buf, len, "%s/table-%u.state%s", cfg.state_dir, t->id, suffix);
}

static bool write_all(FILE *f, const void *p, size_t len)
{
	return fwrite(p, 1, len, f) == len;
}

static void checkpoint(struct table *t)
{
	struct state_hdr h = { STATE_MAGIC, 1, t->id, t->nr_addrs, cfg.block, t->nr_c,
			       t->instance };
	char path[PATH_MAX], tmp[PATH_MAX];
	bool ok;
	unsigned int i;
	FILE *f;

	state_path(t, path, sizeof(path), "");
	state_path(t, tmp, sizeof(tmp), ".tmp");
	f = fopen(tmp, "w");
	if (!f) {
		say("cannot write %s: %s", tmp, strerror(errno));
		return;
	}
	ok = write_all(f, &h, sizeof(h)) &&
	     write_all(f, t->pub_ver, t->nr_blocks * 8) &&
	     write_all(f, t->pub, t->nr_addrs * 8);
	for (i = 0; ok && i < t->nr_c; i++) {
		uint64_t id[2] = { t->c[i].node, t->c[i].instance };

		ok = write_all(f, id, sizeof(id)) &&
		     write_all(f, t->c[i].ver, t->nr_blocks * 8) &&
		     write_all(f, t->c[i].val, t->nr_addrs * 8);
	}
	ok = (fclose(f) == 0) && ok;
	if (!ok || rename(tmp, path)) {
		say("cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		return;
	}
	t->changed = false;
}

static struct contrib *add_contrib(struct table *t, uint16_t node, uint64_t instance)
{
	struct contrib *c;

	if (t->nr_c >= cfg.max_contributors)
		return NULL;
	t->c = realloc(t->c, (t->nr_c + 1) * sizeof(*t->c));
	if (!t->c)
		die(1, "out of memory");
	c = &t->c[t->nr_c++];
	c->node = node;
	c->instance = instance;
	c->ver = xcalloc(t->nr_blocks, sizeof(uint64_t));
	c->val = xcalloc(t->nr_addrs, sizeof(uint64_t));
	return c;
}

/* A checkpoint of this very table instance: a restarted daemon's. */
static bool restore(struct table *t)
{
	char path[PATH_MAX];
	struct state_hdr h;
	unsigned int i, j;
	bool ok;
	FILE *f;

	state_path(t, path, sizeof(path), "");
	f = fopen(path, "r");
	if (!f)
		return false;
	ok = fread(&h, sizeof(h), 1, f) == 1 && h.magic == STATE_MAGIC && h.version == 1 &&
	     h.table == t->id && h.nr_addrs == t->nr_addrs && h.block == cfg.block &&
	     h.instance == t->instance && h.nr_c <= cfg.max_contributors;
	if (!ok) {
		fclose(f);
		say("table %u: %s is of another table instance or configuration; "
		    "starting from the peers", t->id, path);
		return false;
	}
	ok = fread(t->pub_ver, 8, t->nr_blocks, f) == t->nr_blocks &&
	     fread(t->pub, 8, t->nr_addrs, f) == t->nr_addrs;
	for (i = 0; ok && i < h.nr_c; i++) {
		uint64_t id[2];
		struct contrib *c;

		ok = fread(id, sizeof(id), 1, f) == 1 && id[0] >= 1 && id[0] <= ATOMIKD_MAX_NODE;
		if (!ok)
			break;
		c = add_contrib(t, id[0], id[1]);
		ok = fread(c->ver, 8, t->nr_blocks, f) == t->nr_blocks &&
		     fread(c->val, 8, t->nr_addrs, f) == t->nr_addrs;
		for (j = 0; ok && j < t->nr_addrs; j++)
			t->remote[j] ^= c->val[j];
	}
	fclose(f);
	if (!ok) {
		say("table %u: %s is truncated; starting from the peers", t->id, path);
		for (i = 0; i < t->nr_c; i++) {
			free(t->c[i].ver);
			free(t->c[i].val);
		}
		t->nr_c = 0;
		memset(t->remote, 0, t->nr_addrs * 8);
		memset(t->pub, 0, t->nr_addrs * 8);
		memset(t->pub_ver, 0, t->nr_blocks * 8);
		return false;
	}
	return true;
}

/* The remote blocks received since the last write, into the device. */
static void flush_remote(struct table *t)
{
	uint32_t b = 0, e, first, count;
	int ret;

	if (t->changed)
		checkpoint(t);	/* before the device: a crash leaves the file ahead */
	while (b < t->nr_blocks) {
		if (!t->dirty[b]) {
			b++;
			continue;
		}
		for (e = b; e < t->nr_blocks && t->dirty[e]; e++)
			t->dirty[e] = 0;
		first = b * cfg.block;
		count = (e - 1) * cfg.block + block_len(t, e - 1) - first;
		while (count) {
			uint32_t n = count < ATOMIK_MAX_BATCH ? count : ATOMIK_MAX_BATCH;

			ret = atomik_remote_set(t->a, first, n, t->remote + first);
			if (ret)
				die(1, "table %u: writing the remote row: %s", t->id, strerror(-ret));
			first += n;
			count -= n;
		}
		b = e;
	}
}

/* ---- the wire ---- */

static void put_hdr(void *buf, const struct atomikd_hdr *h)
{
	struct atomikd_hdr le = *h;

	atomikd_hdr_le(&le);
	memcpy(buf, &le, sizeof(le));
}

static void get_hdr(struct atomikd_hdr *h, const void *buf)
{
	memcpy(h, buf, sizeof(*h));
	atomikd_hdr_le(h);
}

static uint64_t my_instance(void)
{
	return tables[0].instance;
}

static bool own_instance(uint64_t instance)
{
	int k;

	for (k = 0; k < nr_tables; k++)
		if (tables[k].instance == instance)
			return true;
	return false;
}

static void send_msg(const char *subject, struct atomikd_hdr *h, const uint64_t *vals)
{
	static uint8_t *buf;
	static size_t cap;
	size_t len = sizeof(*h) + (size_t)h->count * 8;
	natsStatus s;
	uint32_t i;

	if (len > cap) {
		free(buf);
		buf = xcalloc(1, len);
		cap = len;
	}
	h->magic = ATOMIKD_MAGIC;
	h->proto = ATOMIKD_PROTO;
	h->sender = cfg.node;
	if (!h->sender_instance)
		h->sender_instance = my_instance();
	h->sent_at = now_ns();
	put_hdr(buf, h);
	for (i = 0; i < h->count; i++) {
		uint64_t v = htole64(vals[i]);

		memcpy(buf + sizeof(*h) + i * 8, &v, 8);
	}
	s = natsConnection_Publish(nc, subject, buf, len);
	if (s != NATS_OK) {
		st.send_errors++;
		return;
	}
	st.messages_sent++;
	st.bytes_sent += len;
}

static void send_block(const char *subject, const struct table *t, uint16_t node,
		       uint64_t instance, uint32_t b, uint64_t ver, const uint64_t *vals)
{
	struct atomikd_hdr h = {
		.type = ATOMIKD_BLOCK, .table = t->id, .nr_addrs = t->nr_addrs,
		.contributor = node, .block = b, .instance = instance, .counter = ver,
		.count = block_len(t, b), .block_size = cfg.block,
		.sender_instance = t->instance,
	};

	send_msg(subject, &h, vals + (size_t)b * cfg.block);
}

static void blk_subject(const struct table *t, char *buf, size_t len)
{
	snprintf(buf, len, "%s.blk.%u", cfg.prefix, t->id);
}

/* Every block this node holds, its own and the others', to subject (NULL:
 * each table's block subject). */
static void send_everything(const char *subject)
{
	char subj[128];
	unsigned int i;
	uint32_t b;
	int k;

	for (k = 0; k < nr_tables; k++) {
		struct table *t = &tables[k];

		if (!subject)
			blk_subject(t, subj, sizeof(subj));
		for (b = 0; b < t->nr_blocks; b++)
			if (t->pub_ver[b])
				send_block(subject ? subject : subj, t, cfg.node, t->instance,
					   b, t->pub_ver[b], t->pub);
		for (i = 0; i < t->nr_c; i++)
			for (b = 0; b < t->nr_blocks; b++)
				if (t->c[i].ver[b])
					send_block(subject ? subject : subj, t, t->c[i].node,
						   t->c[i].instance, b, t->c[i].ver[b],
						   t->c[i].val);
	}
}

static void send_hello(const char *subject, const char *reply)
{
	struct atomikd_hdr h = { .type = ATOMIKD_HELLO };
	uint8_t buf[sizeof(h)];
	char subj[128];

	if (!reply) {
		snprintf(subj, sizeof(subj), "%s.hello", cfg.prefix);
		send_msg(subject ? subject : subj, &h, NULL);
		return;
	}
	h.magic = ATOMIKD_MAGIC;
	h.proto = ATOMIKD_PROTO;
	h.sender = cfg.node;
	h.sender_instance = my_instance();
	h.sent_at = now_ns();
	put_hdr(buf, &h);
	if (natsConnection_PublishRequest(nc, subject, reply, buf, sizeof(buf)) == NATS_OK) {
		st.messages_sent++;
		st.bytes_sent += sizeof(buf);
	} else {
		st.send_errors++;
	}
}

/* Read the local contribution and publish the blocks that changed. */
static void publish_changes(bool all)
{
	char subj[128];
	uint32_t b, first, n;
	uint64_t ver;
	int k, ret;

	for (k = 0; k < nr_tables; k++) {
		struct table *t = &tables[k];

		ret = atomik_read_range_flags(t->a, 0, t->nr_addrs, ATOMIK_READ_ACCUM, t->local);
		if (ret)
			die(1, "table %u: reading the local contribution: %s", t->id,
			    strerror(-ret));
		blk_subject(t, subj, sizeof(subj));
		for (b = 0; b < t->nr_blocks; b++) {
			first = b * cfg.block;
			n = block_len(t, b);
			if (!all && t->pub_ver[b] &&
			    !memcmp(t->local + first, t->pub + first, n * 8))
				continue;
			ver = now_ns();
			if (ver <= t->pub_ver[b])
				ver = t->pub_ver[b] + 1;
			memcpy(t->pub + first, t->local + first, n * 8);
			t->pub_ver[b] = ver;
			t->changed = true;
			send_block(subj, t, cfg.node, t->instance, b, ver, t->pub);
			st.blocks_published++;
		}
	}
}

/* ---- receiving ---- */

static struct peer *peer_seen(uint16_t node, uint64_t instance, bool *appeared)
{
	uint64_t now = now_ms();
	struct peer *p = NULL;
	unsigned int i;

	for (i = 0; i < nr_peers; i++)
		if (peers[i].node == node)
			p = &peers[i];
	if (!p) {
		peers = realloc(peers, (nr_peers + 1) * sizeof(*peers));
		if (!peers)
			die(1, "out of memory");
		p = &peers[nr_peers++];
		memset(p, 0, sizeof(*p));
		p->node = node;
		*appeared = true;
	} else if (p->instance != instance || now - p->last_ms > cfg.peer_timeout_ms) {
		*appeared = true;
	}
	if (*appeared)
		say("peer %u (instance %016" PRIx64 ") %s", node, instance,
		    p->instance == 0 ? "appeared" :
		    p->instance != instance ? "restarted" : "is back");
	p->instance = instance;
	p->last_ms = now;
	p->messages++;
	return p;
}

static bool node_ok(unsigned long node)
{
	return node >= 1 && node <= ATOMIKD_MAX_NODE && (!cfg.allowed || cfg.allowed[node]);
}

static bool republish_wanted;

/* The last message of a recovery reply. */
static void send_end(const char *reply)
{
	struct atomikd_hdr h = { .type = ATOMIKD_END };

	send_msg(reply, &h, NULL);
}

/*
 * Everything a message must be before anything is taken from it: NULL, or
 * the counter of the cause it is dropped for.
 */
static uint64_t *invalid(const struct atomikd_hdr *h, int len, struct table **tp)
{
	struct table *t;

	if (len < (int)sizeof(*h))
		return &st.dropped.size;
	if (h->magic != ATOMIKD_MAGIC || h->proto != ATOMIKD_PROTO || h->reserved0 ||
	    h->type < ATOMIKD_BLOCK || h->type > ATOMIKD_END)
		return &st.dropped.format;
	if ((size_t)len != sizeof(*h) + (size_t)h->count * 8 ||
	    (h->type != ATOMIKD_BLOCK && h->count))
		return &st.dropped.size;
	if (!node_ok(h->sender) || !h->sender_instance)
		return &st.dropped.node;
	if (h->type != ATOMIKD_BLOCK)
		return NULL;
	t = find_table(h->table);
	if (!t || h->nr_addrs != t->nr_addrs)
		return &st.dropped.table;
	if (h->block_size != cfg.block || h->block >= t->nr_blocks ||
	    h->count != block_len(t, h->block))
		return &st.dropped.block;
	if (!node_ok(h->contributor))
		return &st.dropped.node;
	if (!h->instance || !h->counter)
		return &st.dropped.version;
	/* Sent by its own contributor: no version past the sender's clock. */
	if (h->contributor == h->sender && h->instance == h->sender_instance &&
	    h->counter > h->sent_at)
		return &st.dropped.version;
	/* This node's own current instance: nothing it has not published. */
	if (h->contributor == cfg.node && h->instance == t->instance && h->counter > now_ns())
		return &st.dropped.version;
	*tp = t;
	return NULL;
}

/* A valid block: the contributor's new values, if they are newer. */
static void apply_block(struct table *t, const struct atomikd_hdr *h, const uint8_t *data)
{
	struct contrib *c = NULL;
	uint32_t first, i;
	unsigned int k;
	uint64_t v;

	if (h->contributor == cfg.node && h->instance == t->instance) {
		/* Our own, relayed back: the module holds it. */
		st.own_echoes++;
		return;
	}
	for (k = 0; k < t->nr_c; k++)
		if (t->c[k].node == h->contributor && t->c[k].instance == h->instance)
			c = &t->c[k];
	if (!c) {
		c = add_contrib(t, h->contributor, h->instance);
		if (!c) {
			say("table %u: more than %lu contributors: dropping node %u's "
			    "instance %016" PRIx64, t->id, cfg.max_contributors,
			    h->contributor, h->instance);
			st.dropped.full++;
			return;
		}
		t->changed = true;
	}
	if (h->counter <= c->ver[h->block]) {
		st.duplicates++;
		return;
	}
	first = h->block * cfg.block;
	for (i = 0; i < h->count; i++) {
		memcpy(&v, data + i * 8, 8);
		v = le64toh(v);
		t->remote[first + i] ^= c->val[first + i] ^ v;
		c->val[first + i] = v;
	}
	c->ver[h->block] = h->counter;
	t->dirty[h->block] = 1;
	t->changed = true;
	st.blocks_applied++;
}

static void handle(natsMsg *msg)
{
	const char *subject = natsMsg_GetSubject(msg);
	const uint8_t *data = (const uint8_t *)natsMsg_GetData(msg);
	int len = natsMsg_GetDataLength(msg);
	const char *reply = natsMsg_GetReply(msg);
	struct table *t = NULL;
	struct atomikd_hdr h;
	bool appeared = false;
	uint64_t *drop;
	struct peer *p;

	st.messages_received++;
	st.bytes_received += len;
	memset(&h, 0, sizeof(h));
	if (len >= (int)sizeof(h))
		get_hdr(&h, data);
	drop = invalid(&h, len, &t);
	if (drop) {
		(*drop)++;
		return;
	}
	if (h.sender == cfg.node) {
		/* Our own, back from the server; or another daemon with our node
		 * id: a configuration error that would corrupt both nodes. */
		if (own_instance(h.sender_instance)) {
			st.own_echoes++;
			return;
		}
		static bool said;

		if (!said)
			say("a message from another node configured as node %lu "
			    "(instance %016" PRIx64 "): dropped, as every such message will be",
			    cfg.node, h.sender_instance);
		said = true;
		st.dropped.node++;
		return;
	}
	p = peer_seen(h.sender, h.sender_instance, &appeared);
	if (appeared && serving)
		republish_wanted = true;
	switch (h.type) {
	case ATOMIKD_BLOCK:
		apply_block(t, &h, data + sizeof(h));
		if (h.contributor == h.sender && h.counter > p->last_version)
			p->last_version = h.counter;
		break;
	case ATOMIKD_HELLO:
		subject += strlen(cfg.prefix) + 1;
		if (!strcmp(subject, "recover") && reply && serving) {
			/* A starting node: everything, then the end mark. */
			send_everything(reply);
			send_end(reply);
			st.recover_answers++;
		}
		break;
	case ATOMIKD_END:
		if (!strcmp(subject, inbox))
			ends_received++;
		break;
	}
}

/* ---- the status file ---- */

static void write_status(const char *state)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	unsigned int i, k;
	uint32_t b;
	FILE *f;

	snprintf(path, sizeof(path), "%s/" ATOMIKD_STATUS_FILE, cfg.state_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "state %s\nnode %lu\npid %d\nnow_ms %" PRIu64 "\nstarted_ms %" PRIu64 "\n",
		state, cfg.node, (int)getpid(), now_ms(), started_ms);
	fprintf(f, "connected %d\n", (int)connected);
#define P(name) fprintf(f, #name " %" PRIu64 "\n", st.name)
	P(messages_received); P(messages_sent); P(bytes_received); P(bytes_sent);
	P(blocks_published); P(blocks_applied); P(duplicates); P(own_echoes);
	P(recover_answers); P(republishes); P(reconnects); P(send_errors);
#undef P
#define X(name, text) fprintf(f, "dropped_" #name " %" PRIu64 "\n", st.dropped.name);
	ATOMIKD_DROPS(X)
#undef X
	fprintf(f, "pending_bytes %d\n", nc ? natsConnection_Buffered(nc) : 0);
	for (k = 0; k < (unsigned int)nr_tables; k++) {
		const struct table *t = &tables[k];
		unsigned int dirty = 0, changed = 0;

		for (b = 0; b < t->nr_blocks; b++) {
			uint32_t first = b * cfg.block;

			dirty += t->dirty[b];
			changed += !!memcmp(t->local + first, t->pub + first,
					    block_len(t, b) * 8);
		}
		fprintf(f, "table %u instance %016" PRIx64 " nr_addrs %u blocks %u "
			"contributors %u unpublished %u unwritten %u\n", t->id, t->instance,
			t->nr_addrs, t->nr_blocks, t->nr_c, changed, dirty);
		for (i = 0; i < t->nr_c; i++) {
			uint64_t max = 0;

			for (b = 0; b < t->nr_blocks; b++)
				if (t->c[i].ver[b] > max)
					max = t->c[i].ver[b];
			fprintf(f, "contributor %u table %u node %u instance %016" PRIx64
				" version %" PRIu64 "\n", i, t->id, t->c[i].node,
				t->c[i].instance, max);
		}
	}
	for (i = 0; i < nr_peers; i++)
		fprintf(f, "peer %u instance %016" PRIx64 " version %" PRIu64
			" last_ms %" PRIu64 " messages %" PRIu64 "\n", peers[i].node,
			peers[i].instance, peers[i].last_version, peers[i].last_ms,
			peers[i].messages);
	if (fclose(f) == 0)
		rename(tmp, path);
	else
		unlink(tmp);
}

/* ---- NATS ---- */

static void on_reconnected(natsConnection *c, void *closure)
{
	reconnected = 1;
	connected = 1;
}

static void on_connected(natsConnection *c, void *closure)
{
	connected = 1;
}

static void on_disconnected(natsConnection *c, void *closure)
{
	connected = 0;
}

static void nats_start(void)
{
	natsOptions *opts;
	natsStatus s;
	char subj[128], name[64];

	if (natsOptions_Create(&opts) != NATS_OK)
		die(1, "out of memory");
	snprintf(name, sizeof(name), "atomikd-%lu", cfg.node);
	s = natsOptions_SetServers(opts, (const char **)cfg.servers, cfg.nr_servers);
	if (s == NATS_OK)
		s = natsOptions_SetName(opts, name);
	if (s == NATS_OK)
		s = natsOptions_SetNoEcho(opts, true);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(opts, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(opts, 500);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(opts, on_reconnected, NULL);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(opts, on_disconnected, NULL);
	if (s == NATS_OK)
		s = natsOptions_SetRetryOnFailedConnect(opts, true, on_connected, NULL);
	if (s != NATS_OK)
		die(2, "NATS options: %s", natsStatus_GetText(s));
	s = natsConnection_Connect(&nc, opts);
	if (s == NATS_OK)
		connected = 1;
	else if (s != NATS_NOT_YET_CONNECTED)
		die(1, "connecting to NATS: %s", natsStatus_GetText(s));
	natsOptions_Destroy(opts);
	snprintf(subj, sizeof(subj), "%s.>", cfg.prefix);
	s = natsConnection_SubscribeSync(&sub, nc, subj);
	if (s == NATS_OK)
		s = natsSubscription_SetPendingLimits(sub, 1 << 20, 1 << 30);
	if (s != NATS_OK)
		die(1, "subscribing to %s: %s", subj, natsStatus_GetText(s));
	snprintf(inbox, sizeof(inbox), "%s.inbox.%lu.%016" PRIx64, cfg.prefix, cfg.node,
		 my_instance());
}

/* One message, or none within timeout_ms. */
static void receive(int64_t timeout_ms)
{
	natsMsg *msg = NULL;
	natsStatus s;

	s = natsSubscription_NextMsg(&msg, sub, timeout_ms > 0 ? timeout_ms : 1);
	if (s == NATS_OK) {
		handle(msg);
		natsMsg_Destroy(msg);
	} else if (s == NATS_SLOW_CONSUMER) {
		say("messages were lost: this node is slower than the cluster "
		    "(anti-entropy brings them back)");
	} else if (s != NATS_TIMEOUT) {
		usleep(timeout_ms * 1000);
	}
}

/* Ask the peers for every block, install what comes back in recover_ms. */
static void recover(void)
{
	char subj[128];
	uint64_t deadline, wait_until;
	unsigned int expect = 0, n;
	int k;

	wait_until = now_ms() + 60000;
	while (!connected && !stopping && now_ms() < wait_until)
		receive(100);
	if (!connected && !stopping)
		say("no NATS server reachable yet: serving alone until one is");
	if (cfg.allowed)
		for (n = 1; n <= ATOMIKD_MAX_NODE; n++)
			expect += cfg.allowed[n] && n != cfg.node;
	snprintf(subj, sizeof(subj), "%s.recover", cfg.prefix);
	send_hello(subj, inbox);
	natsConnection_FlushTimeout(nc, 1000);
	deadline = now_ms() + cfg.recover_ms;
	while (!stopping && now_ms() < deadline && (!expect || ends_received < expect))
		receive(deadline - now_ms());
	say("recovered from %lu of %u peers in %" PRIu64 " ms", ends_received, expect,
	    now_ms() - (deadline - cfg.recover_ms));
	for (k = 0; k < nr_tables; k++)
		flush_remote(&tables[k]);
}

static void on_signal(int sig)
{
	stopping = 1;
}

int main(int argc, char **argv)
{
	bool restored[MAX_TABLES], any_answer;
	uint64_t next_pub, next_rep, next_status, now, wake;
	char path[PATH_MAX];
	struct sigaction sa = { .sa_handler = on_signal };
	FILE *f;
	int k;
	uint32_t b;

	parse_command_line(argc, argv);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stderr, NULL, _IOLBF, 0);
	started_ms = now_ms();

	if (mkdir(cfg.state_dir, 0755) && errno != EEXIST)
		die(1, "cannot create %s: %s", cfg.state_dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/" ATOMIKD_STATUS_FILE, cfg.state_dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/" ATOMIKD_PID_FILE, cfg.state_dir);
	f = fopen(path, "w");
	if (!f)
		die(1, "cannot write %s: %s", path, strerror(errno));
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);

	open_tables();
	for (k = 0; k < nr_tables; k++) {
		restored[k] = restore(&tables[k]);
		say("table %u: %u addresses in %u blocks, instance %016" PRIx64 "%s", tables[k].id,
		    tables[k].nr_addrs, tables[k].nr_blocks, tables[k].instance,
		    restored[k] ? ", its contributors restored from the last run" : "");
	}
	if (nats_Open(-1) != NATS_OK)
		die(1, "cannot start the NATS library");
	nats_start();
	say("node %lu, %d table%s, subjects %s.*, %d server%s", cfg.node, nr_tables,
	    nr_tables == 1 ? "" : "s", cfg.prefix, cfg.nr_servers, cfg.nr_servers == 1 ? "" : "s");

	recover();
	/*
	 * The remote row as a whole: what a checkpoint had, and what the peers
	 * sent.  A table of which nothing is known (no checkpoint, no peer)
	 * keeps its row until blocks arrive.
	 */
	any_answer = ends_received > 0;
	for (k = 0; k < nr_tables; k++) {
		if (restored[k] || any_answer || tables[k].nr_c) {
			memset(tables[k].dirty, 1, tables[k].nr_blocks);
			tables[k].changed = true;
		}
		flush_remote(&tables[k]);
	}
	serving = true;
	publish_changes(true);
	send_hello(NULL, NULL);
	write_status("serving");

	now = now_ms();
	next_pub = now + cfg.publish_ms;
	next_rep = now + cfg.republish_ms;
	next_status = now + 500;
	while (!stopping) {
		now = now_ms();
		wake = next_pub < next_rep ? next_pub : next_rep;
		if (wake > now)
			receive(wake - now);
		if (reconnected) {
			reconnected = 0;
			st.reconnects++;
			say("reconnected to NATS: republishing");
			republish_wanted = true;
		}
		now = now_ms();
		if (now >= next_pub) {
			publish_changes(false);
			for (k = 0; k < nr_tables; k++)
				flush_remote(&tables[k]);
			next_pub += cfg.publish_ms;
			if (next_pub <= now)
				next_pub = now + cfg.publish_ms;
		}
		if (republish_wanted || now >= next_rep) {
			republish_wanted = false;
			send_hello(NULL, NULL);
			send_everything(NULL);
			st.republishes++;
			next_rep = now + cfg.republish_ms;
		}
		if (now >= next_status) {
			write_status("serving");
			next_status = now + 500;
		}
	}

	/* What changed since the last publish goes out before we do. */
	say("stopping");
	publish_changes(false);
	for (k = 0; k < nr_tables; k++) {
		flush_remote(&tables[k]);
		if (tables[k].changed)
			checkpoint(&tables[k]);
	}
	natsConnection_FlushTimeout(nc, 2000);
	write_status("stopped");
	snprintf(path, sizeof(path), "%s/" ATOMIKD_PID_FILE, cfg.state_dir);
	unlink(path);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
	nats_CloseAndWait(2000);
	for (k = 0; k < nr_tables; k++) {
		atomik_close(tables[k].a);
		for (b = 0; b < tables[k].nr_c; b++) {
			free(tables[k].c[b].ver);
			free(tables[k].c[b].val);
		}
	}
	return 0;
}
