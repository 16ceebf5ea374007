/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the files of atomikd around its protocol core share: the
 * configuration (config.c), the device (device.c), the checkpoints
 * (persist.c), the transport (transport.c), the status file (status.c) and
 * the loop that ties them to the core (main.c).
 */
#ifndef ATOMIKD_DAEMON_H
#define ATOMIKD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core.h"

#define MAX_SERVERS	16
#define DEFAULT_CONFIG	"/etc/atomik/atomikd.conf"
#define DEFAULT_METRICS_DIR "/var/lib/prometheus/node-exporter"

struct config {
	unsigned long node;
	char *servers[MAX_SERVERS];
	int nr_servers;
	char *peer_servers[MAX_SERVERS];	/* each peer's own NATS server */
	unsigned long peer_server_node[MAX_SERVERS];
	int nr_peer_servers;
	uint8_t *allowed;		/* [AKD_MAX_NODE + 1]; NULL: any */
	bool nodes_given;		/* nodes is required ("any" says so) */
	uint8_t (*keys)[32];		/* [AKD_MAX_NODE + 1]: members' Ed25519
					   public keys; NULL: unsigned */
	char *signing_key_file;		/* this node's nkey seed (SU...) */
	uint32_t tables[AKD_MAX_TABLES];
	char names[AKD_MAX_TABLES][AKD_NAME_MAX];	/* on the wire */
	int nr_tables;
	char *prefix;
	unsigned long publish_ms, hello_ms, recover_ms, peer_timeout_ms, verify_ms, collect_ms;
	unsigned long republish_ms;	/* obsolete: anti-entropy is by digest */
	unsigned long block, max_contributors;
	char *state_dir;
	char *device;
	char *metrics_file;		/* Prometheus textfile; NULL: none */
	/* NATS authentication (one way at most) and TLS; NULL: none. */
	char *nats_nkey, *nats_nkey_seed_file, *nats_creds_file;
	char *nats_user, *nats_password_file, *nats_token_file;
	char *tls_ca_file, *tls_cert_file, *tls_key_file, *tls_server_name;
	char *nats_password, *nats_token;	/* the files' first lines, read at start */
	bool metrics_given;
};

extern struct config cfg;

void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void __attribute__((noreturn, format(printf, 2, 3))) die(int code, const char *fmt, ...);
uint64_t now_ns(void);

/* config.c */
void parse_command_line(int argc, char **argv);
/* The configuration file's lines from f, over cfg: 0, or -1 and err. */
int config_read(FILE *f, char *err, size_t errlen);
/* The first line of a secret's file, its line end cut, said if others may
 * read it; exit 2 if it cannot be read. */
void secret_line(const char *path, char *line, size_t size);
/* What is wrong with the NATS authentication and TLS keys together, or NULL. */
const char *config_check_auth(void);
/* keys.c: this node's signing key (libsodium's Ed25519) and the members'. */
void keys_load(void);
void keys_sign(void *arg, const void *buf, size_t len, uint8_t sig[64]);
bool keys_verify(void *arg, uint16_t node, const void *buf, size_t len, const uint8_t sig[64]);
/* atomikd --gen-key FILE: a new seed into FILE (0600, not there yet). */
void __attribute__((noreturn)) keys_generate(const char *file);

/* device.c: the tables named in the configuration, open and checked. */
struct akd_table_conf;
void device_open(struct akd_table_conf *tc);
void device_read_local(unsigned int table, uint64_t *vals);
void device_write_remote(unsigned int table, uint32_t first, uint32_t count,
			 const uint64_t *vals);
void device_read_remote(unsigned int table, uint32_t first, uint32_t count, uint64_t *vals);
void device_close(void);
bool device_tracked(void);
int device_read_changes(unsigned int table, uint32_t block, uint64_t *vals,
			void (*fn)(unsigned int table, uint32_t first, uint32_t count, void *arg),
			void *arg);
void device_watch_start(void (*wake)(void));
bool device_watch_fired(void);
void device_watch_arm(void);

/* persist.c: STATE_DIR/table-ID.state. */
void persist_restore(struct akd_core *core, unsigned int table, const struct akd_table_conf *tc);
bool persist_write(const struct akd_table_conf *tc, const struct akd_persist *p);

/* transport.c: NATS. */
extern volatile int transport_connected;
extern uint64_t transport_send_errors, transport_dropped, transport_direct_dials;
void transport_start(uint64_t session);
/* The peers reached by a direct connection now (peer_servers): their ids. */
int transport_direct(unsigned long *nodes, int max);
bool transport_reconnected(void);
/* Waits up to timeout_ms for messages; hands each to the core, then calls
 * transport_after_message() (main.c), which carries out what it asked. */
void transport_receive(struct akd_core *core, int64_t timeout_ms);
void transport_after_message(struct akd_core *core);
void transport_send(const struct akd_send *s);
int transport_pending_bytes(void);
void transport_stop(void);
/* Ends a transport_receive() that waits (another thread's event). */
void transport_wake(void);

/* status.c */
void status_write(const struct akd_core *core, const char *state, uint64_t started_ms,
		  uint32_t host, uint64_t session);
void metrics_write(const struct akd_core *core, const char *state);

#endif
