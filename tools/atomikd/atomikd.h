/* SPDX-License-Identifier: GPL-2.0 */
/*
 * atomikd's wire format and status file, shared by the daemon, the
 * atomik command (atomik cluster status) and the cluster tests' probe.
 * Documentation/atomik/cluster.rst describes both.
 */
#ifndef ATOMIKD_H
#define ATOMIKD_H

#include <endian.h>
#include <stdint.h>

/*
 * Subjects, under a prefix (default "atomik"):
 *   PREFIX.blk.TABLE     a block of one contributor's values
 *   PREFIX.hello         a node's heartbeat (no values)
 *   PREFIX.recover       a starting node asks for every block; the reply
 *                        subject is its inbox, PREFIX.inbox.NODE.INSTANCE
 * Every message is one header followed by count values, all little-endian.
 */
#define ATOMIKD_MAGIC		0x31444b41u	/* "AKD1" */
#define ATOMIKD_PROTO		1

enum atomikd_type {
	ATOMIKD_BLOCK = 1,	/* a contributor's values for one block */
	ATOMIKD_HELLO = 2,	/* a heartbeat, or a recovery request */
	ATOMIKD_END = 3,	/* the last message of a recovery reply */
};

struct atomikd_hdr {
	uint32_t magic;
	uint8_t proto;
	uint8_t type;		/* enum atomikd_type */
	uint16_t sender;	/* the node that sent this message */
	uint64_t sender_instance;
	uint64_t sent_at;	/* the sender's boot clock, ns */
	uint32_t table;		/* BLOCK: the table, the same id on every node */
	uint32_t nr_addrs;	/* BLOCK: its size as the sender knows it */
	uint16_t contributor;	/* BLOCK: whose values, a node id */
	uint16_t reserved0;	/* 0 */
	uint32_t block;		/* BLOCK: addresses block * block_size on */
	uint64_t instance;	/* BLOCK: the contributor's table instance */
	uint64_t counter;	/* BLOCK: its version, > 0 */
	uint32_t count;		/* values that follow */
	uint32_t block_size;	/* BLOCK: addresses per block (the last is short) */
};

_Static_assert(sizeof(struct atomikd_hdr) == 64, "wire header is 64 bytes");

/* Between the wire's byte order and the host's, either way, in place. */
static inline void atomikd_hdr_le(struct atomikd_hdr *h)
{
	h->magic = le32toh(h->magic);
	h->sender = le16toh(h->sender);
	h->sender_instance = le64toh(h->sender_instance);
	h->sent_at = le64toh(h->sent_at);
	h->table = le32toh(h->table);
	h->nr_addrs = le32toh(h->nr_addrs);
	h->contributor = le16toh(h->contributor);
	h->reserved0 = le16toh(h->reserved0);
	h->block = le32toh(h->block);
	h->instance = le64toh(h->instance);
	h->counter = le64toh(h->counter);
	h->count = le32toh(h->count);
	h->block_size = le32toh(h->block_size);
}

#define ATOMIKD_MAX_NODE	65535
#define ATOMIKD_MAX_BLOCK	8192	/* addresses in one block at most */

/* Why a message was dropped: the status file's dropped_* keys. */
#define ATOMIKD_DROPS(X)						\
	X(size, "its length is not a header and count values")	\
	X(format, "bad magic, protocol, type or reserved word")		\
	X(node, "a sender or contributor outside the cluster's nodes")	\
	X(table, "a table not replicated here, or of another size")	\
	X(block, "a block or block size out of range")			\
	X(version, "version 0, or from the future")			\
	X(full, "too many contributors")

/* The status file, rewritten while the daemon serves: "key value" lines. */
#define ATOMIKD_STATUS_FILE	"status"
#define ATOMIKD_PID_FILE	"atomikd.pid"
#define ATOMIKD_STATE_DIR	"/run/atomik"

#endif
