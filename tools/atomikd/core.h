/* SPDX-License-Identifier: GPL-2.0 */
/*
 * atomikd's replication protocol as a state machine that does no I/O, in
 * the manner of etcd's raft package: the daemon (main.c and the files
 * around it) or the cluster simulator (sim.c) feeds it events, a message's
 * bytes, the time, the local contribution read from the device, what a
 * checkpoint held, the remote row read back, and carries out what it asks
 * for in a struct akd_ready: checkpoint records to persist, blocks of the
 * remote row to write and ranges to read back, and messages to send, in
 * that order, then calls akd_core_advance().
 *
 * Nothing here opens a file, a socket or the device, reads a clock or
 * draws a random number: the same inputs give the same outputs, which is
 * what lets the simulator replay a run from its seed.
 * Documentation/atomik/cluster.rst describes the protocol.
 */
#ifndef ATOMIKD_CORE_H
#define ATOMIKD_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AKD_MAX_NODE		65535
#define AKD_MAX_TABLES		64
#define AKD_MAX_BLOCK		8192	/* addresses in one block at most */
#define AKD_NAME_MAX		32	/* a table's name, NUL included */
/* At rest, a hello every this many hello intervals (core.c, at_rest()). */
#define AKD_REST_HELLOS		4
/* New instances of one node taken at once, then one a rest hello interval. */
#define AKD_ADMIT_BURST		4
/*
 * A change goes out at once if this node last published at least this
 * fraction of a publish interval ago, else at the end of the interval
 * (core.c, akd_core_local_range()).
 */
#define AKD_PUBLISH_QUIET	4
#define AKD_SIG_BYTES		64	/* an Ed25519 signature */

struct akd_core;

struct akd_table_conf {
	char name[AKD_NAME_MAX];	/* the cluster-wide name */
	uint32_t id;			/* the table's id on this node */
	uint32_t nr_addrs;
	uint64_t instance;		/* the module's instance of the table */
};

struct akd_conf {
	uint16_t node;
	uint32_t host;			/* this machine, never 0 (its machine-id, hashed) */
	const uint8_t *members;		/* [AKD_MAX_NODE + 1]: 1 for a member */
	uint32_t block;			/* addresses per block */
	uint64_t session;		/* this daemon's run: random, never 0 */
	uint64_t publish_ns;		/* the longest a local change waits */
	uint64_t hello_ns;		/* heartbeat: a returning peer noticed */
	uint64_t recover_ns;		/* waiting for peers at start */
	uint64_t peer_timeout_ns;	/* silence after which a peer is gone */
	uint64_t verify_ns;		/* the remote row read back in this time */
	uint64_t collect_ns;		/* a dead instance is held this long at least */
	uint32_t max_contributors;	/* per table */
	bool whole_blocks;		/* ask for whole blocks, never a PATCH (as
					   daemons before it: the simulator's) */
	/*
	 * Signatures (cluster.rst, "Signed contributions"); sign NULL: none
	 * made and none taken.  sign() signs len bytes with this node's key;
	 * verify() checks a signature by node's key.  Both deterministic, as
	 * Ed25519 is: the core stays replayable.
	 */
	void (*sign)(void *arg, const void *buf, size_t len, uint8_t sig[64]);
	bool (*verify)(void *arg, uint16_t node, const void *buf, size_t len,
		       const uint8_t sig[64]);
	void *sig_arg;
	/* What the core has to say, for the log; may be NULL. */
	void (*log)(void *arg, const char *fmt, va_list ap);
	void *log_arg;
};

/* Where a message goes: the transport's subjects. */
enum akd_chan {
	AKD_CHAN_BLOCKS,	/* a table's blocks, to every node */
	AKD_CHAN_HELLO,		/* heartbeats, to every node */
	AKD_CHAN_RECORDS,	/* collection records, to every node */
	AKD_CHAN_NODE,		/* to one node (node) */
};

struct akd_send {
	enum akd_chan chan;
	uint32_t table;		/* AKD_CHAN_BLOCKS: the table's index */
	uint16_t node;		/* AKD_CHAN_NODE */
	const void *buf;
	size_t len;
};

/* Checkpoint bytes of table: the whole file (replace) or a tail to append. */
struct akd_persist {
	uint32_t table;
	bool replace;
	const void *buf;
	size_t len;
};

/* Values for the remote row of table, addresses first .. first + count - 1. */
struct akd_remote {
	uint32_t table;
	uint32_t first, count;
	const uint64_t *vals;
};

/* Addresses first .. first + count - 1 of table's remote row, to read back. */
struct akd_range {
	uint32_t table;
	uint32_t first, count;
};

/*
 * What the core asks for, in this order: the driver persists every record
 * and tells akd_core_persisted() whether that worked; if it answers true,
 * the driver writes the remote blocks; either way it then reads back the
 * ranges to verify (handing each to akd_core_remote_read()) and sends the
 * messages; then it calls akd_core_advance().  The pointers live until then.
 */
struct akd_ready {
	const struct akd_persist *persist;
	unsigned int nr_persist;
	const struct akd_remote *remote;
	unsigned int nr_remote;
	const struct akd_range *verify;
	unsigned int nr_verify;
	const struct akd_send *send;
	unsigned int nr_send;
};

/* Why a message was dropped: counted by cause. */
#define AKD_DROPS(X)							\
	X(size, "its length does not match its header")			\
	X(format, "bad magic, protocol, type, flag or reserved word")	\
	X(node, "a sender or contributor outside the cluster's nodes")	\
	X(table, "a table not replicated here, or of another size")	\
	X(block, "a block or block size out of range")			\
	X(version, "version 0, or from the future")			\
	X(identity, "an instance already known as another node's")	\
	X(collected, "a block of a contributor already collected")	\
	X(behind, "folds records this node does not hold yet")		\
	X(full, "too many contributors")					\
	X(admission, "a new instance past its node's share of max_contributors") \
	X(base, "a patch of a version this node does not hold")		\
	X(signature, "unsigned, or a signature that does not verify")

#define AKD_COUNTERS(X)							\
	X(messages_received) X(messages_sent) X(bytes_received) X(bytes_sent) \
	X(blocks_published) X(blocks_applied) X(duplicates) X(own_echoes) \
	X(hellos_sent) X(digests_sent) X(digests_received) X(wants_sent) \
	X(wants_answered) X(blocks_repaired) X(records_applied) \
	X(collected) X(persist_failures) X(remote_writes) X(remote_repairs) \
	X(peers_appeared) X(twin_sessions) X(patches_sent) X(patches_applied)

struct akd_stats {
#define X(name) uint64_t name;
	AKD_COUNTERS(X)
#undef X
#define X(name, text) uint64_t dropped_##name;
	AKD_DROPS(X)
#undef X
};

/* ---- life ---- */

/* 0, or -EINVAL for a configuration the core cannot run, -ENOMEM. */
int akd_core_create(struct akd_core **cp, const struct akd_conf *conf,
		    const struct akd_table_conf *tables, unsigned int nr_tables);
void akd_core_destroy(struct akd_core *c);

/*
 * What table's checkpoint file held, before akd_core_start(): 0 when it was
 * taken (a damaged tail is dropped, and said), -EEXIST when it cannot be
 * this daemon's (another node id, table name, size or block size: the
 * daemon must not start; akd_core_fatal() says why), -EBADMSG when it is
 * not a checkpoint at all (ignored).
 */
int akd_core_restore(struct akd_core *c, unsigned int table, const void *buf, size_t len);

/* Starts: reads the remote row back, asks the peers for their digests. */
void akd_core_start(struct akd_core *c, uint64_t now);

/* Why the daemon must stop with exit status 2, or NULL. */
const char *akd_core_fatal(const struct akd_core *c);

/* ---- events ---- */

/* A message's bytes. */
void akd_core_receive(struct akd_core *c, uint64_t now, const void *buf, size_t len);

/* The local contribution of table, as read from the device. */
void akd_core_local(struct akd_core *c, uint64_t now, unsigned int table,
		    const uint64_t *contribution);
/*
 * The same for the blocks that hold addresses from to from + count - 1
 * only: vals is the whole table's array, of which those blocks, whole, are
 * read afresh (the daemon reads the blocks the kernel's change set names).
 */
void akd_core_local_range(struct akd_core *c, uint64_t now, unsigned int table, uint32_t from,
			  uint32_t count, const uint64_t *vals);

/* The time passes. */
void akd_core_tick(struct akd_core *c, uint64_t now);

/* The transport's connection came back, or reached a peer another way. */
void akd_core_reconnected(struct akd_core *c, uint64_t now);

/* Stopping: what changed since the last publish goes out. */
void akd_core_stop(struct akd_core *c, uint64_t now);

/* ---- actions ---- */

/* The next time the core wants a tick. */
uint64_t akd_core_next_tick(const struct akd_core *c);
bool akd_core_ready(struct akd_core *c, struct akd_ready *rd);
/* Whether every record of the ready set was persisted; true: write the device. */
bool akd_core_persisted(struct akd_core *c, bool ok);
/* The remote row's values of a range akd_ready.verify asked for. */
void akd_core_remote_read(struct akd_core *c, uint64_t now, unsigned int table, uint32_t first,
			  uint32_t count, const uint64_t *vals);
void akd_core_advance(struct akd_core *c);

/* ---- what it holds, for the status file and the simulator ---- */

const struct akd_stats *akd_core_stats(const struct akd_core *c);
bool akd_core_serving(const struct akd_core *c);
/* Whether hellos are at the rest pace: nothing to do, every member agreeing. */
bool akd_core_resting(const struct akd_core *c);

enum akd_table_state {
	AKD_RECOVERING,		/* asking the peers, the remote row untouched */
	AKD_WAITING,		/* no checkpoint, a remote row already there:
				   kept until every member has answered */
	AKD_SERVING,
};

struct akd_table_info {
	const char *name;
	uint32_t id, nr_addrs, nr_blocks;
	uint64_t instance;
	enum akd_table_state state;
	bool checkpoint_failing;	/* device writes stopped until it is written */
	uint64_t checkpoint_failing_since;
	unsigned int contributors;	/* held, this node's live instance included */
	unsigned int records;		/* collection records */
	unsigned int unpublished;	/* blocks changed, not yet published */
	unsigned int unwritten;		/* remote blocks not yet written */
	const char *size_error;		/* a peer's table of this name differs, or NULL */
};
void akd_core_table_info(const struct akd_core *c, unsigned int table,
			 struct akd_table_info *info);

struct akd_contrib_info {
	uint16_t node;
	uint64_t instance;
	uint64_t version;		/* the highest of its blocks held */
	unsigned int folds;		/* collection records it includes */
	uint64_t vhash;			/* its blocks' versions, hashed */
	uint32_t host;
	bool own;			/* this node's live instance */
	bool live;			/* announced live by its node lately */
};
/* Contributor i of table, i from 0; false past the last. */
bool akd_core_contrib(const struct akd_core *c, unsigned int table, unsigned int i,
		      struct akd_contrib_info *info);

struct akd_peer_info {
	uint16_t node;
	uint64_t session;
	uint64_t last_seen;		/* the core's time */
	uint64_t messages;
	bool in_sync;			/* its last digest hash is this node's */
};
bool akd_core_peer(const struct akd_core *c, unsigned int i, struct akd_peer_info *info);

/*
 * Every (contributor, block) whose values this node counts, with the
 * version counted: what the simulator checks exactness against.  A
 * contributor collected into another is reported with AKD_VERSION_COLLECTED,
 * its version then being the one every member held when it was collected.
 */
#define AKD_VERSION_COLLECTED	UINT64_MAX
typedef void akd_account_fn(void *arg, uint16_t node, uint64_t instance, uint32_t block,
			    uint64_t version);
void akd_core_account(const struct akd_core *c, unsigned int table, akd_account_fn *fn,
		      void *arg);
/* Only what is counted apart, not what collection records bring. */
void akd_core_account_direct(const struct akd_core *c, unsigned int table,
			     akd_account_fn *fn, void *arg);
/* The same of a checkpoint's bytes, as a daemon of node would restore them. */
int akd_checkpoint_account(const void *buf, size_t len, uint16_t node, uint32_t host,
			   const struct akd_table_conf *table, uint32_t block,
			   akd_account_fn *fn, void *arg);

#endif
