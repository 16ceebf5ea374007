// SPDX-License-Identifier: GPL-2.0
/*
 * atomikd's configuration: /etc/atomik/atomikd.conf ("key = value" lines)
 * and the command-line options over it.  Documentation/atomik/cluster.rst
 * lists the keys.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomikd.h"
#include "daemon.h"
#include "nkey.h"

#ifndef ATOMIK_PACKAGE_VERSION
#define ATOMIK_PACKAGE_VERSION "unknown"
#endif

/* The defaults of the strings a key replaces: kept, never freed. */
static char default_prefix[] = "atomik", default_state_dir[] = ATOMIKD_STATE_DIR;

struct config cfg = {
	.prefix = default_prefix,
	.publish_ms = 100,
	.hello_ms = 250,
	.republish_ms = 0,
	.verify_ms = 10000,
	.collect_ms = 10000,
	.recover_ms = 2000,
	.block = 256,
	.max_contributors = 1024,
	.state_dir = default_state_dir,
};

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		die(1, "out of memory");
	return p;
}

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

/* A string key given again replaces the value it had: NULL to unset. */
static void set_string(char **dst, const char *v)
{
	if (*dst != default_prefix && *dst != default_state_dir)
		free(*dst);
	*dst = v ? strdup(v) : NULL;
}

/* Each setter returns NULL or what is wrong with the value. */
static const char *set_servers(char *v)
{
	char *w;

	while (cfg.nr_servers)
		free(cfg.servers[--cfg.nr_servers]);
	while ((w = next_word(&v))) {
		if (cfg.nr_servers == MAX_SERVERS)
			return "more than 16 servers";
		if (strncmp(w, "nats://", 7) && strncmp(w, "tls://", 6))
			return "a server is a nats:// or tls:// URL";
		cfg.servers[cfg.nr_servers++] = strdup(w);
	}
	return cfg.nr_servers ? NULL : "no server";
}

/* NODE=URL words: each peer's own server, dialled while it is silent. */
static const char *set_peer_servers(char *v)
{
	unsigned long n;
	char *w, *eq;
	int i;

	while (cfg.nr_peer_servers)
		free(cfg.peer_servers[--cfg.nr_peer_servers]);
	while ((w = next_word(&v))) {
		eq = strchr(w, '=');
		if (!eq)
			return "a peer server is NODE=URL";
		*eq = 0;
		if (parse_ulong(w, 1, AKD_MAX_NODE, &n))
			return "a peer server's node is a number from 1 to 65535";
		if (strncmp(eq + 1, "nats://", 7) && strncmp(eq + 1, "tls://", 6))
			return "a peer server is a nats:// or tls:// URL";
		for (i = 0; i < cfg.nr_peer_servers; i++)
			if (cfg.peer_server_node[i] == n)
				return "a node's server is given twice";
		if (cfg.nr_peer_servers == MAX_SERVERS)
			return "more than 16 peer servers";
		cfg.peer_server_node[cfg.nr_peer_servers] = n;
		cfg.peer_servers[cfg.nr_peer_servers++] = strdup(eq + 1);
	}
	return NULL;
}

/*
 * "N N ..." or "N:KEY N:KEY ...", KEY node N's public nkey (its signing
 * key): every node with its key, or none; or "any".
 */
static const char *set_nodes(char *v)
{
	unsigned long n;
	const char *err;
	char *w, *colon;
	int keyed = 0, bare = 0;

	free(cfg.allowed);
	free(cfg.keys);
	cfg.keys = NULL;
	cfg.allowed = NULL;
	cfg.nodes_given = true;
	if (!strcmp(v, "any"))
		return NULL;
	cfg.allowed = xcalloc(AKD_MAX_NODE + 1, 1);
	while ((w = next_word(&v))) {
		colon = strchr(w, ':');
		if (colon)
			*colon = 0;
		err = parse_ulong(w, 1, AKD_MAX_NODE, &n);
		if (err)
			return "a node is a number from 1 to 65535, or N:KEY";
		if (cfg.allowed[n])
			return "a node is given twice";
		cfg.allowed[n] = 1;
		if (!colon) {
			bare++;
			continue;
		}
		keyed++;
		if (!cfg.keys)
			cfg.keys = xcalloc(AKD_MAX_NODE + 1, 32);
		if (nkey_decode(colon + 1, false, cfg.keys[n]))
			return "a node's key is its public user nkey: 'U' and 55 more letters A-Z "
			       "or digits 2-7, its checksum right";
	}
	if (keyed && bare)
		return "give every node's key (N:KEY), or none";
	return NULL;
}

/* A table's name: a NATS subject token, as on the wire. */
static bool good_name(const char *n)
{
	size_t len = strlen(n);

	if (!len || len >= AKD_NAME_MAX)
		return false;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') ||
		      (*n >= '0' && *n <= '9') || *n == '_' || *n == '-'))
			return false;
	return true;
}

/* "ID" (named ID on the wire) or "NAME:ID", separated by spaces or commas. */
static const char *set_tables(char *v)
{
	unsigned long n;
	char *w, *colon, *name;
	int i;

	cfg.nr_tables = 0;
	while ((w = next_word(&v))) {
		colon = strchr(w, ':');
		name = w;
		if (colon) {
			*colon = 0;
			w = colon + 1;
		}
		if (parse_ulong(w, 0, UINT32_MAX, &n))
			return "a table is ID or NAME:ID, ID a number";
		if (!good_name(name))
			return "a table's name is 1 to 31 letters, digits, '_' or '-'";
		for (i = 0; i < cfg.nr_tables; i++)
			if (cfg.tables[i] == n || !strcmp(cfg.names[i], name))
				return "a table or a name is given twice";
		if (cfg.nr_tables == AKD_MAX_TABLES)
			return "more than 64 tables";
		snprintf(cfg.names[cfg.nr_tables], AKD_NAME_MAX, "%s", name);
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
	set_string(&cfg.prefix, v);
	return NULL;
}

static const char *set_path(char **dst, char *v)
{
	if (*v != '/')
		return "an absolute path";
	set_string(dst, v);
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

/* "none", or the Prometheus textfile to write. */
static const char *set_metrics(char *v)
{
	cfg.metrics_given = true;
	if (!strcmp(v, "none")) {
		set_string(&cfg.metrics_file, NULL);
		return NULL;
	}
	return set_path(&cfg.metrics_file, v);
}

/* An nkey's public part: a user's, 'U' and 55 more of base32's alphabet. */
static const char *set_nkey(char *v)
{
	if (strlen(v) != 56 || v[0] != 'U' || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != 56)
		return "a user nkey's public key is 'U' and 55 more letters A-Z or digits 2-7";
	set_string(&cfg.nats_nkey, v);
	return NULL;
}

static const char *set_user(char *v)
{
	if (!*v || strpbrk(v, " \t:@/"))
		return "a NATS user is a word without ':', '@' or '/'";
	set_string(&cfg.nats_user, v);
	return NULL;
}

static const char *set_server_name(char *v)
{
	if (!*v || strpbrk(v, " \t/"))
		return "a server name is a host name";
	set_string(&cfg.tls_server_name, v);
	return NULL;
}

#define FILE_KEY(field) \
	static const char *set_##field(char *v) { return set_path(&cfg.field, v); }
FILE_KEY(nats_nkey_seed_file)
FILE_KEY(signing_key_file)
FILE_KEY(nats_creds_file)
FILE_KEY(nats_password_file)
FILE_KEY(nats_token_file)
FILE_KEY(tls_ca_file)
FILE_KEY(tls_cert_file)
FILE_KEY(tls_key_file)
#undef FILE_KEY

const char *config_check_auth(void)
{
	int ways = !!cfg.nats_nkey + !!cfg.nats_creds_file + !!cfg.nats_user +
		   !!cfg.nats_token_file;

	if (ways > 1)
		return "nats_nkey, nats_creds_file, nats_user and nats_token_file are ways to "
		       "authenticate to NATS: give one";
	if (!cfg.nats_nkey != !cfg.nats_nkey_seed_file)
		return "nats_nkey and nats_nkey_seed_file go together";
	if (!cfg.nats_user != !cfg.nats_password_file)
		return "nats_user and nats_password_file go together";
	if (!cfg.tls_cert_file != !cfg.tls_key_file)
		return "tls_cert_file and tls_key_file go together";
	if (cfg.signing_key_file && !cfg.keys)
		return "signing_key_file without the nodes' keys (nodes = N:KEY ...)";
	if (cfg.keys && !cfg.signing_key_file && !cfg.nats_nkey_seed_file)
		return "the nodes' keys without this node's (signing_key_file, or "
		       "nats_nkey_seed_file)";
	return NULL;
}

#define LIST(n, fn)		{ .name = n, .set = fn }
#define NUM(field, l, h)	{ .name = #field, .num = &cfg.field, .lo = l, .hi = h }
static const struct key {
	const char *name;
	const char *(*set)(char *v);
	unsigned long *num;
	unsigned long lo, hi;
} keys[] = {
	NUM(node, 1, AKD_MAX_NODE),
	LIST("servers", set_servers), LIST("nodes", set_nodes),
	LIST("peer_servers", set_peer_servers),
	LIST("tables", set_tables), LIST("subject", set_prefix),
	LIST("state_dir", set_state_dir), LIST("device", set_device),
	LIST("metrics_file", set_metrics),
	LIST("nats_nkey", set_nkey), LIST("nats_nkey_seed_file", set_nats_nkey_seed_file),
	LIST("signing_key_file", set_signing_key_file),
	LIST("nats_creds_file", set_nats_creds_file), LIST("nats_user", set_user),
	LIST("nats_password_file", set_nats_password_file),
	LIST("nats_token_file", set_nats_token_file), LIST("tls_ca_file", set_tls_ca_file),
	LIST("tls_cert_file", set_tls_cert_file), LIST("tls_key_file", set_tls_key_file),
	LIST("tls_server_name", set_server_name),
	NUM(publish_ms, 10, 3600000), NUM(republish_ms, 100, 86400000),
	NUM(hello_ms, 10, 60000), NUM(verify_ms, 0, 86400000), NUM(collect_ms, 1000, 86400000),
	NUM(recover_ms, 0, 600000), NUM(peer_timeout_ms, 0, 86400000),
	NUM(block, 1, AKD_MAX_BLOCK), NUM(max_contributors, 1, 1000000),
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
	if (!strcmp(k, "hello_interval_ms"))
		return "hello_ms";
	if (!strcmp(k, "verify_interval_ms"))
		return "verify_ms";
	if (!strcmp(k, "collect_after_ms"))
		return "collect_ms";
	if (!strcmp(k, "recover_timeout_ms"))
		return "recover_ms";
	if (!strcmp(k, "block_size"))
		return "block";
	return k;
}

/* NULL when set, else what is wrong ("unknown key" for a name we lack). */
const char *set_key(const char *name, char *v);
const char *set_key(const char *name, char *v)
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

/*
 * The file's lines, from f, over cfg: 0, or -1 with what is wrong in err
 * ("LINE: KEY: WHY").  Comments start with '#'; blank lines are skipped.
 */
int config_read(FILE *f, char *err, size_t errlen)
{
	char *line = NULL, *k, *v, *eq;
	size_t cap = 0;
	const char *why;
	int lineno = 0, ret = 0;

	while (getline(&line, &cap, f) > 0) {
		lineno++;
		k = trim(line);
		if (!*k || *k == '#')
			continue;
		eq = strchr(k, '=');
		if (!eq) {
			snprintf(err, errlen, "%d: expected 'key = value'", lineno);
			ret = -1;
			break;
		}
		*eq = 0;
		v = trim(eq + 1);
		k = trim(k);
		why = set_key(k, v);
		if (why) {
			snprintf(err, errlen, "%d: %s: %s", lineno, k, why);
			ret = -1;
			break;
		}
	}
	free(line);
	return ret;
}

static void load_config(const char *path, bool must_exist)
{
	char err[256];
	FILE *f;

	f = fopen(path, "r");
	if (!f) {
		if (!must_exist && errno == ENOENT)
			return;
		die(2, "cannot read %s: %s", path, strerror(errno));
	}
	if (config_read(f, err, sizeof(err)))
		die(2, "%s:%s", path, err);
	fclose(f);
}

void secret_line(const char *path, char *line, size_t size)
{
	struct stat st;
	FILE *f = fopen(path, "re");

	if (!f)
		die(2, "cannot read %s: %s", path, strerror(errno));
	if (!fgets(line, (int)size, f))
		line[0] = 0;
	if (!fstat(fileno(f), &st) && (st.st_mode & 0077))
		say("%s is readable by others than its owner (mode %03o): make it 0600",
		    path, (unsigned int)(st.st_mode & 0777));
	fclose(f);
	line[strcspn(line, "\r\n")] = 0;
}

/* The first line of a secret's file (a password, a token), or exit 2. */
static char *secret(const char *path)
{
	char line[1024];

	secret_line(path, line, sizeof(line));
	if (!line[0])
		die(2, "%s: its first line is empty", path);
	return strdup(line);
}

static void __attribute__((noreturn)) usage(FILE *to, int code)
{
	fprintf(to,
"usage: atomikd [--config FILE] [--node N] [--server URL]... [--nodes LIST]\n"
"               [--table ID]... [--subject PREFIX] [--publish-ms MS]\n"
"               [--hello-ms MS] [--recover-ms MS] [--state-dir DIR]\n"
"               [--device PATH] [--block N]\n"
"       atomikd --gen-key FILE\n"
"Replicates this node's replicated atomik tables over NATS.  Options\n"
"override the configuration file (default %s).\n", DEFAULT_CONFIG);
	exit(code);
}

void parse_command_line(int argc, char **argv)
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
		{ "hello-ms", required_argument, NULL, 'H' },
		{ "recover-ms", required_argument, NULL, 'R' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "device", required_argument, NULL, 'D' },
		{ "block", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "gen-key", required_argument, NULL, 'G' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = DEFAULT_CONFIG, *key, *err;
	int opt, idx = 0;
	bool servers_given = false, tables_given = false, explicit = false;
	char tablebuf[4096] = "", serverbuf[4096] = "";

	/* The file first, the options over it. */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		if (opt == 'G')
			keys_generate(optarg);
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
		case 'G':	continue;
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
		case 'H':	key = "hello_ms"; break;
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
	if (!cfg.nr_tables) {
		cfg.nr_tables = 1;	/* table 0 */
		snprintf(cfg.names[0], AKD_NAME_MAX, "0");
	}
	if (cfg.allowed && !cfg.allowed[cfg.node])
		die(2, "node %lu is not among the cluster's nodes", cfg.node);
	err = config_check_auth();
	if (err)
		die(2, "%s: %s", config, err);
	if (cfg.nats_password_file)
		cfg.nats_password = secret(cfg.nats_password_file);
	if (cfg.nats_token_file)
		cfg.nats_token = secret(cfg.nats_token_file);
	/* Read by libnats at each connection: readable now, at least. */
	for (idx = 0; idx < 6; idx++) {
		const char *f = (const char *[]){ cfg.nats_nkey_seed_file, cfg.nats_creds_file,
						  cfg.tls_ca_file, cfg.tls_cert_file,
						  cfg.tls_key_file, cfg.signing_key_file }[idx];

		if (f && access(f, R_OK))
			die(2, "cannot read %s: %s", f, strerror(errno));
	}
	for (idx = 0; cfg.allowed && idx < cfg.nr_peer_servers; idx++)
		if (!cfg.allowed[cfg.peer_server_node[idx]])
			die(2, "peer_servers: node %lu is not among the cluster's nodes",
			    cfg.peer_server_node[idx]);
	if (!cfg.nodes_given)
		die(2, "no nodes: name the cluster's nodes in %s (nodes = 1 2 3; with their keys, "
		    "nodes = 1:KEY 2:KEY 3:KEY), or say nodes = any", config);
	/* node_exporter's textfile collector, where Debian's package has it. */
	if (!cfg.metrics_given && !access(DEFAULT_METRICS_DIR, W_OK))
		cfg.metrics_file = DEFAULT_METRICS_DIR "/atomikd.prom";
	if (!cfg.peer_timeout_ms)
		cfg.peer_timeout_ms = 12 * cfg.hello_ms;
}
