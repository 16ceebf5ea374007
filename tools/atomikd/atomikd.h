/* SPDX-License-Identifier: GPL-2.0 */
/*
 * atomikd's wire format and file names, shared by the daemon, the atomik
 * command (atomik cluster status) and the cluster tests' probe.
 * Documentation/atomik/cluster.rst describes both.
 */
#ifndef ATOMIKD_H
#define ATOMIKD_H

#include <endian.h>
#include <stdint.h>

/*
 * Subjects, under a prefix (default "atomik"):
 *   PREFIX.blk.NAME     a block of one contributor's values, to every node
 *   PREFIX.hello        a node's heartbeat: its digests' hash, its tables'
 *                       live instances; a starting node's asks for digests
 *   PREFIX.node.N       to node N alone: digests, repair requests and the
 *                       blocks and records that answer them
 *   PREFIX.rec          a collection record, to every node
 * Every message is a header, then its type's body, all little-endian.
 */
#define ATOMIKD_MAGIC		0x32444b41u	/* "AKD2" */
#define ATOMIKD_PROTO		2

enum atomikd_type {
	ATOMIKD_BLOCK = 1,	/* a contributor's values for one block */
	ATOMIKD_HELLO = 2,	/* a heartbeat */
	ATOMIKD_DIGEST = 3,	/* what a node holds of one table */
	ATOMIKD_WANT = 4,	/* the versions a node holds of one contributor */
	ATOMIKD_DONE = 5,	/* the answer to a WANT is complete */
	ATOMIKD_RECORD = 6,	/* a contributor collected into another */
	ATOMIKD_PATCH = 7,	/* a block, as the values that differ from an older version */
	ATOMIKD_TYPE_MAX = 7,
};

/*
 * A signed message (hdr.hflags ATOMIKD_SIGNED) ends with the sender's
 * Ed25519 signature of every byte before it, and a BLOCK's or a PATCH's
 * values, or a RECORD's body, are followed by the contributor's (the
 * absorber's node's) signature of what they say, whoever relays them: an
 * atomikd_signed_block or atomikd_signed_record, then the values.
 */
#define ATOMIKD_SIGNED		0x0001
#define ATOMIKD_SIG_BYTES	64
#define ATOMIKD_SIGN_BLOCK	0x4b4c4253u	/* "SBLK" */
#define ATOMIKD_SIGN_RECORD	0x43455253u	/* "SREC" */

#define ATOMIKD_HELLO_STARTING	0x0001	/* hello: send me your digests */
#define ATOMIKD_BLOCK_LIVE	0x0001	/* block, patch: the sender's own live instance */

struct atomikd_hdr {
	uint32_t magic;
	uint8_t proto;
	uint8_t type;		/* enum atomikd_type */
	uint16_t flags;
	uint16_t sender;	/* the node that sent this message */
	uint16_t hflags;	/* ATOMIKD_SIGNED, or 0 */
	uint32_t reserved1;	/* 0 */
	uint64_t session;	/* the sender's daemon run, never 0 */
	uint64_t sent_at;	/* the sender's boot clock, ns */
	uint64_t table;		/* the table's key (atomikd_table_key), 0: none */
};

_Static_assert(sizeof(struct atomikd_hdr) == 40, "wire header is 40 bytes");

/* BLOCK: a block's values follow (count of them). */
struct atomikd_block {
	uint32_t nr_addrs;	/* the table's size as the sender knows it */
	uint32_t block_size;
	uint32_t block;		/* addresses block * block_size on */
	uint32_t count;		/* values that follow: the block's length */
	uint16_t contributor;	/* whose values, a node id */
	uint16_t folds;		/* collection records included, see RECORD */
	uint32_t host;		/* the contributor's machine (its machine-id, hashed) */
	uint64_t instance;	/* the contributor's table instance */
	uint64_t version;	/* > 0; 0 with folds: only collected values */
};

/*
 * PATCH: the answer to a WANT that welcomes one (ATOMIKD_WANT_PATCH), for
 * a block only a few values of which changed since the requester's
 * version: block.count is the number of those values; count offsets in the
 * block (uint32, strictly increasing) follow, then their count values.  A
 * node that holds the block at exactly (base, base_folds) takes it as
 * BLOCK would the whole; any other drops it and asks again.
 */
struct atomikd_patch {
	struct atomikd_block block;
	uint64_t base;		/* the version it changes */
	uint16_t base_folds;
	uint16_t reserved[3];	/* 0 */
};

_Static_assert(sizeof(struct atomikd_block) == 40, "block header is 40 bytes");
_Static_assert(sizeof(struct atomikd_patch) == 56, "patch header is 56 bytes");

/* HELLO: count table entries follow. */
struct atomikd_hello {
	uint64_t seq;		/* the sender's hellos, counted */
	uint64_t digest;	/* hash of everything it holds */
	uint32_t count;
	uint32_t reserved;	/* 0 */
};

struct atomikd_hello_table {
	uint64_t table;		/* key */
	uint64_t instance;	/* the sender's live instance of it */
};

/* DIGEST: count entries follow, then nr_records and the records' hash. */
struct atomikd_digest {
	uint32_t nr_addrs;
	uint32_t block_size;
	uint32_t count;
	uint32_t nr_records;
	uint64_t records;	/* hash of the table's collection records */
};

#define ATOMIKD_C_LIVE		0x0001	/* announced live by its node lately */
#define ATOMIKD_C_FLAGS		0x0001

struct atomikd_digest_entry {
	uint64_t instance;
	uint16_t node;
	uint16_t flags;		/* ATOMIKD_C_* */
	uint16_t folds;		/* records it has collected */
	uint16_t reserved;	/* 0 */
	uint64_t vhash;		/* hash of its blocks' versions and folds */
	uint64_t version;	/* the highest of its blocks */
};

/* WANT: the requester's versions of one contributor, nr_blocks of them
 * (0: none); the holder sends every block it holds newer, then DONE.
 * nr_records not 0: send the table's collection records too.  A version
 * flagged ATOMIKD_WANT_PATCH may be answered by a PATCH (daemons that
 * predate PATCH leave the word 0, and get whole blocks). */
struct atomikd_want {
	uint64_t instance;	/* 0: only the records */
	uint32_t nr_blocks;
	uint32_t nr_records;	/* the records the requester holds */
};

#define ATOMIKD_WANT_PATCH	0x0001

struct atomikd_want_version {
	uint64_t version;
	uint16_t folds;
	uint16_t flags;		/* ATOMIKD_WANT_*; other bits ignored */
	uint16_t reserved[2];
};

/* DONE: the answer to the WANT of instance is complete. */
struct atomikd_done {
	uint64_t instance;
};

/* RECORD: instance (of node) is collected into absorber as its fold'th. */
struct atomikd_record {
	uint64_t absorber;
	uint64_t instance;
	uint64_t vhash;		/* the collected instance's versions, hashed */
	uint16_t node;		/* the collected instance's */
	uint16_t fold;		/* from 1 */
	uint16_t absorber_node;
	uint16_t reserved;	/* 0 */
};

/*
 * What a contributor signs of a block (whatever carries it, a BLOCK or a
 * PATCH): this, the block's count being its whole length, then its values;
 * and what the absorber's node signs of a collection record.
 */
struct atomikd_signed_block {
	uint32_t magic;		/* ATOMIKD_SIGN_BLOCK */
	uint32_t reserved;	/* 0 */
	uint64_t table;		/* key */
	struct atomikd_block block;
};

struct atomikd_signed_record {
	uint32_t magic;		/* ATOMIKD_SIGN_RECORD */
	uint32_t reserved;	/* 0 */
	uint64_t table;		/* key */
	struct atomikd_record record;
};

_Static_assert(sizeof(struct atomikd_signed_block) == 56, "signed block is 56 bytes");
_Static_assert(sizeof(struct atomikd_signed_record) == 48, "signed record is 48 bytes");

/* A table's key on the wire: FNV-1a of its name. */
static inline uint64_t atomikd_table_key(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (*name)
		h = (h ^ (uint8_t)*name++) * 0x100000001b3ull;
	return h ? h : 1;
}

#define ATOMIKD_MAX_NODE	65535
#define ATOMIKD_MAX_BLOCK	8192	/* addresses in one block at most */

/* The status file (JSON, atomikd(8)) and its schema, the pid file. */
#define ATOMIKD_STATUS_FILE	"status.json"
#define ATOMIKD_STATUS_SCHEMA	1
#define ATOMIKD_PID_FILE	"atomikd.pid"
#define ATOMIKD_STATE_DIR	"/run/atomik"

#endif
