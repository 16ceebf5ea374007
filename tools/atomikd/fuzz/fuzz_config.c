// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz target: atomikd's configuration file (config.c's config_read()) on
 * any bytes.  What it accepts must be a configuration the daemon can run
 * on: the node, the table names and ids, the servers and the prefix within
 * what the keys allow.  Between inputs the configuration is set back to
 * the defaults, what the parser allocated freed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "fuzz.h"

void say(const char *fmt, ...)
{
}

/* Only atomikd --gen-key calls it, never the configuration file. */
void keys_generate(const char *file)
{
	(void)file;
	abort();
}

void die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();	/* config_read() reports; only running out of memory dies */
}

uint64_t now_ns(void)
{
	return 0;
}

#define broken(...) fz_broken("fuzz_config", __VA_ARGS__)

static struct config defaults;

static void free_string(char **p, const char *dflt)
{
	if (*p != dflt)
		free(*p);
}

static void reset(void)
{
	int i;

	for (i = 0; i < cfg.nr_servers; i++)
		free(cfg.servers[i]);
	for (i = 0; i < cfg.nr_peer_servers; i++)
		free(cfg.peer_servers[i]);
	free(cfg.allowed);
	free(cfg.keys);
	free(cfg.signing_key_file);
	free_string(&cfg.prefix, defaults.prefix);
	free_string(&cfg.state_dir, defaults.state_dir);
	free_string(&cfg.device, defaults.device);
	free_string(&cfg.metrics_file, defaults.metrics_file);
	free(cfg.nats_nkey);
	free(cfg.nats_nkey_seed_file);
	free(cfg.nats_creds_file);
	free(cfg.nats_user);
	free(cfg.nats_password_file);
	free(cfg.nats_token_file);
	free(cfg.tls_ca_file);
	free(cfg.tls_cert_file);
	free(cfg.tls_key_file);
	free(cfg.tls_server_name);
	cfg = defaults;
}

static void check(void)
{
	int i, j;

	if (cfg.node > AKD_MAX_NODE || cfg.nr_servers < 0 || cfg.nr_servers > MAX_SERVERS ||
	    cfg.nr_tables < 0 || cfg.nr_tables > AKD_MAX_TABLES)
		broken("node %lu, %d servers, %d tables", cfg.node, cfg.nr_servers,
		       cfg.nr_tables);
	for (i = 0; i < cfg.nr_servers; i++)
		if (!cfg.servers[i] || (strncmp(cfg.servers[i], "nats://", 7) &&
					strncmp(cfg.servers[i], "tls://", 6)))
			broken("server %d is not a URL", i);
	if (cfg.nr_peer_servers < 0 || cfg.nr_peer_servers > MAX_SERVERS)
		broken("%d peer servers", cfg.nr_peer_servers);
	for (i = 0; i < cfg.nr_peer_servers; i++) {
		if (!cfg.peer_servers[i] || (strncmp(cfg.peer_servers[i], "nats://", 7) &&
					     strncmp(cfg.peer_servers[i], "tls://", 6)))
			broken("peer server %d is not a URL", i);
		if (cfg.peer_server_node[i] < 1 || cfg.peer_server_node[i] > AKD_MAX_NODE)
			broken("peer server %d of node %lu", i, cfg.peer_server_node[i]);
		for (j = 0; j < i; j++)
			if (cfg.peer_server_node[i] == cfg.peer_server_node[j])
				broken("peer servers %d and %d of one node", j, i);
	}
	for (i = 0; i < cfg.nr_tables; i++) {
		size_t len = strnlen(cfg.names[i], AKD_NAME_MAX);

		if (!len || len == AKD_NAME_MAX ||
		    strspn(cfg.names[i], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			   "0123456789_-") != len)
			broken("table %d's name is not a subject token", i);
		for (j = 0; j < i; j++)
			if (cfg.tables[i] == cfg.tables[j] || !strcmp(cfg.names[i], cfg.names[j]))
				broken("tables %d and %d are one", j, i);
	}
	if (!cfg.prefix || !*cfg.prefix || strlen(cfg.prefix) > 64 ||
	    strpbrk(cfg.prefix, "*> \t") || cfg.prefix[0] == '.' ||
	    cfg.prefix[strlen(cfg.prefix) - 1] == '.' || strstr(cfg.prefix, ".."))
		broken("the subject prefix '%s'", cfg.prefix ? cfg.prefix : "(null)");
	if (!cfg.state_dir || cfg.state_dir[0] != '/' || (cfg.device && cfg.device[0] != '/') ||
	    (cfg.metrics_file && cfg.metrics_file[0] != '/'))
		broken("a path that is not absolute");
	if (cfg.nats_nkey && (strlen(cfg.nats_nkey) != 56 || cfg.nats_nkey[0] != 'U'))
		broken("the nkey '%s'", cfg.nats_nkey);
	if (config_check_auth() && !*config_check_auth())
		broken("an empty refusal of the authentication keys");
	if (cfg.block < 1 || cfg.block > AKD_MAX_BLOCK || cfg.max_contributors < 1 ||
	    cfg.hello_ms < 10 || cfg.publish_ms < 10 || cfg.collect_ms < 1000)
		broken("a number out of its range");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	defaults = cfg;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256] = "";
	FILE *f;

	f = fmemopen((void *)data, size, "r");
	if (!f)
		return 0;	/* an empty input */
	if (!config_read(f, err, sizeof(err)))
		check();
	else if (!err[0] || !memchr(err, 0, sizeof(err)))
		broken("a refusal without its reason");
	fclose(f);
	reset();
	return 0;
}
