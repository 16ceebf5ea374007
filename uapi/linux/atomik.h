/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * ATOMiK: a shared bank of 64-bit XOR accumulators behind /dev/atomik.
 *
 * This is the only header shared by the kernel module and userspace.  Every
 * structure is made of fixed-width fields with explicit padding, its size is
 * a multiple of 8, and pointers travel as __u64, so that 32-bit and 64-bit
 * processes see one layout.  Unknown flag bits and non-zero reserved fields
 * are rejected with -EINVAL, so that they can be given a meaning later.
 *
 * Documentation/atomik/uapi.rst describes every command and its errors.
 */
#ifndef _UAPI_LINUX_ATOMIK_H
#define _UAPI_LINUX_ATOMIK_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#define ATOMIK_ABI_VERSION	1

/*
 * 0xDE is neither listed in Documentation/userspace-api/ioctl/ioctl-number.rst
 * nor used by any uapi header of the kernels we support; ATOMiK takes numbers
 * 0x00-0x3F of it.
 */
#define ATOMIK_IOC_MAGIC	0xDE

/* Largest number of entries in one batch call; more gets -E2BIG. */
#define ATOMIK_MAX_BATCH	65536
/* Largest number of addresses in one table. */
#define ATOMIK_MAX_ADDRS	16777216
/* Table ids run from 0 (always present) to ATOMIK_MAX_TABLES - 1. */
#define ATOMIK_MAX_TABLES	1024

/* atomik_info.features: what this module offers. */
#define ATOMIK_FEAT_TABLES	_BITULL(0)	/* TABLE_CREATE/DESTROY/SELECT */
#define ATOMIK_FEAT_SWAP	_BITULL(1)	/* SWAP */
#define ATOMIK_FEAT_OP_BATCH	_BITULL(2)	/* OP_BATCH */
#define ATOMIK_FEAT_READ_RANGE	_BITULL(3)	/* READ_RANGE */
#define ATOMIK_FEAT_READ_ACCUM	_BITULL(4)	/* ATOMIK_READ_ACCUM flag */
#define ATOMIK_FEAT_URING_CMD	_BITULL(5)	/* IORING_OP_URING_CMD, see below */
#define ATOMIK_FEAT_REPLICATED	_BITULL(6)	/* ATOMIK_TABLE_REPLICATED, REMOTE_* */
#define ATOMIK_FEAT_INSTANCE	_BITULL(7)	/* atomik_info.instance */
#define ATOMIK_FEAT_MMAP	_BITULL(8)	/* mmap() of the CPU rows, see below */
#define ATOMIK_FEAT_CHANGES	_BITULL(9)	/* CHANGES and poll(), see below */
/* Every feature this header defines (a module may offer more later). */
#define ATOMIK_FEAT_ALL		(ATOMIK_FEAT_TABLES | ATOMIK_FEAT_SWAP | \
				 ATOMIK_FEAT_OP_BATCH | ATOMIK_FEAT_READ_RANGE | \
				 ATOMIK_FEAT_READ_ACCUM | ATOMIK_FEAT_URING_CMD | \
				 ATOMIK_FEAT_REPLICATED | ATOMIK_FEAT_INSTANCE | \
				 ATOMIK_FEAT_MMAP | ATOMIK_FEAT_CHANGES)

struct atomik_info {
	__u32 abi_version;	/* ATOMIK_ABI_VERSION */
	__u32 table_id;		/* the descriptor's current table */
	__u32 nr_addrs;		/* addresses in that table */
	__u32 max_batch;	/* ATOMIK_MAX_BATCH */
	__u64 features;		/* ATOMIK_FEAT_* */
	__u64 memory_bytes;	/* memory held by all tables */
	__u64 memory_cap;	/* the most all tables may hold */
	__u32 nr_tables;	/* tables that exist, table 0 included */
	__u32 nr_slots;		/* slots a read folds (possible CPUs) */
	__u32 table_flags;	/* that table's: ATOMIK_TABLE_REPLICATED */
	__u32 map_stride;	/* that table's mapping: bytes from one CPU's
				 * row to the next's (see below)
				 */
	__u64 instance;		/* that table's, drawn at random when it was
				 * created: its contents live as long as it
				 */
	__u64 map_bytes;	/* that table's mapping: its length */
	__u64 reserved1;
};

/* One address and one value: LOAD, ACCUM, READ. */
struct atomik_xfer {
	__u32 addr;
	__u32 flags;		/* READ: ATOMIK_READ_ACCUM; others: 0 */
	__u64 value;		/* LOAD: the state; ACCUM: the delta; READ: out */
};

/* READ returns the XOR of the deltas since the last LOAD or SWAP instead
 * of the state.
 */
#define ATOMIK_READ_ACCUM	_BITUL(0)

struct atomik_swap {
	__u32 addr;
	__u32 flags;		/* ATOMIK_SWAP_KEEP */
	__u64 new_ref;		/* the new reference (0 with ATOMIK_SWAP_KEEP) */
	__u64 old_state;	/* out: the state just before the swap */
};

/* The current state becomes the new reference: the state is unchanged and
 * the accumulated deltas start again from zero.
 */
#define ATOMIK_SWAP_KEEP	_BITUL(0)

/* One element of ACCUM_BATCH. */
struct atomik_delta {
	__u32 addr;
	__u32 reserved;		/* 0 */
	__u64 delta;
};

/* One element of OP_BATCH. */
#define ATOMIK_OP_LOAD		1
#define ATOMIK_OP_ACCUM		2
#define ATOMIK_OP_READ		3
#define ATOMIK_OP_SWAP		4

struct atomik_op {
	__u32 opcode;		/* ATOMIK_OP_* */
	__u32 addr;
	__u32 flags;		/* READ: ATOMIK_READ_ACCUM; SWAP: ATOMIK_SWAP_KEEP */
	__u32 reserved;		/* 0 */
	__u64 value;		/* LOAD: state; ACCUM: delta; SWAP: new reference */
	__u64 result;		/* out: READ: the state; SWAP: the state before */
};

/* ACCUM_BATCH (ptr: struct atomik_delta[count]) and OP_BATCH (ptr: struct
 * atomik_op[count], results written back in place).
 */
struct atomik_batch {
	__u64 ptr;
	__u32 count;		/* at most ATOMIK_MAX_BATCH */
	__u32 flags;		/* 0 */
};

/*
 * READ_RANGE: the states of addresses first .. first + count - 1.
 * REMOTE_SET and REMOTE_READ: a replicated table's remote row for those
 * addresses, set from or read into ptr; count 1 .. ATOMIK_MAX_BATCH.
 * REMOTE_SET needs a caller with CAP_SYS_ADMIN.
 */
struct atomik_range {
	__u64 ptr;		/* __u64[count]: READ_RANGE, REMOTE_READ write it */
	__u32 first;
	__u32 count;
	__u32 flags;		/* READ_RANGE: ATOMIK_READ_ACCUM; others: 0 */
	__u32 reserved;		/* 0 */
};

/* TABLE_CREATE, TABLE_DESTROY, TABLE_SELECT. */
struct atomik_table_req {
	__u32 table_id;		/* CREATE: out; DESTROY, SELECT: in */
	__u32 nr_addrs;		/* CREATE: in; SELECT: out */
	__u32 flags;		/* CREATE: ATOMIK_TABLE_SELECT; others: 0 */
	__u32 reserved;		/* 0 */
};

/* TABLE_CREATE also makes the new table the descriptor's current one. */
#define ATOMIK_TABLE_SELECT	_BITUL(0)
/*
 * TABLE_CREATE: the table is replicated.  Its state is
 * ref ^ local ^ remote, where local (what ATOMIK_READ_ACCUM reads) is this
 * node's contribution and remote the other contributors' (REMOTE_SET); a
 * LOAD or SWAP changes local by old ^ new instead of setting the reference.
 */
#define ATOMIK_TABLE_REPLICATED	_BITUL(1)
/* TABLE_CREATE: the table is destroyed when the file it was created through
 * is released (its last descriptor closed), unless destroyed before.
 */
#define ATOMIK_TABLE_DESTROY_ON_CLOSE	_BITUL(2)

/* READ_TO: read one state into *result_ptr.  Over io_uring, a ring with
 * 32-byte CQEs (IORING_SETUP_CQE32) also gets the state in the CQE's extra
 * word, and result_ptr may then be 0.
 */
struct atomik_read_to {
	__u32 addr;
	__u32 flags;		/* ATOMIK_READ_ACCUM */
	__u64 result_ptr;	/* __u64 *, or 0 with a 32-byte CQE */
};

/* ACCUM_INLINE: up to ATOMIK_INLINE_DELTAS deltas carried in the command
 * itself; over io_uring this needs 128-byte SQEs (IORING_SETUP_SQE128).
 */
#define ATOMIK_INLINE_DELTAS	6

struct atomik_inline_deltas {
	__u32 count;		/* 0 .. ATOMIK_INLINE_DELTAS */
	__u32 flags;		/* 0 */
	__u32 addr[ATOMIK_INLINE_DELTAS];	/* unused entries 0 */
	__u64 delta[ATOMIK_INLINE_DELTAS];	/* unused entries 0 */
};

/*
 * CHANGES: which zones of a replicated table's local contribution (what
 * ATOMIK_READ_ACCUM reads) changed since the previous CHANGES, as a bitmap:
 * bit z (bit z % 64 of word z / 64) stands for the addresses z * granule
 * to z * granule + granule - 1.  A table has at most
 * ATOMIK_CHANGE_MAX_BITS zones, of a power of two addresses, at least
 * ATOMIK_CHANGE_GRANULE: one __u64 always holds the map.  The call takes
 * the set and empties it: a delta that lands after its bit was taken sets
 * it again, so values read after the call are at least as new as the bits
 * it returned.  poll() on the descriptor reports EPOLLIN while the set is
 * not empty.  Mapped writers (mmap() below) are not seen: while the table
 * has or had a mapping since the previous call, flags has
 * ATOMIK_CHANGES_UNTRACKED and the caller must read every address.  For
 * the cluster daemon: the caller needs CAP_SYS_ADMIN, as for REMOTE_SET.
 */
struct atomik_changes {
	__u64 map_ptr;		/* in: __u64 *, room for nr_bits bits */
	__u32 nr_bits;		/* in: bits map_ptr holds; out: the table's zones */
	__u32 granule;		/* out: addresses per zone */
	__u32 count;		/* out: bits set in the map */
	__u32 flags;		/* in: 0; out: ATOMIK_CHANGES_UNTRACKED */
};

#define ATOMIK_CHANGE_GRANULE		64	/* the smallest zone */
#define ATOMIK_CHANGE_MAX_BITS		64	/* the most zones a table has */
#define ATOMIK_CHANGES_UNTRACKED	_BITUL(0)

#define ATOMIK_IOC_INFO		_IOR(ATOMIK_IOC_MAGIC, 0x00, struct atomik_info)
#define ATOMIK_IOC_LOAD		_IOW(ATOMIK_IOC_MAGIC, 0x01, struct atomik_xfer)
#define ATOMIK_IOC_ACCUM	_IOW(ATOMIK_IOC_MAGIC, 0x02, struct atomik_xfer)
#define ATOMIK_IOC_READ		_IOWR(ATOMIK_IOC_MAGIC, 0x03, struct atomik_xfer)
#define ATOMIK_IOC_SWAP		_IOWR(ATOMIK_IOC_MAGIC, 0x04, struct atomik_swap)
#define ATOMIK_IOC_ACCUM_BATCH	_IOW(ATOMIK_IOC_MAGIC, 0x05, struct atomik_batch)
#define ATOMIK_IOC_OP_BATCH	_IOW(ATOMIK_IOC_MAGIC, 0x06, struct atomik_batch)
#define ATOMIK_IOC_READ_RANGE	_IOW(ATOMIK_IOC_MAGIC, 0x07, struct atomik_range)
#define ATOMIK_IOC_TABLE_CREATE	_IOWR(ATOMIK_IOC_MAGIC, 0x08, struct atomik_table_req)
#define ATOMIK_IOC_TABLE_DESTROY _IOW(ATOMIK_IOC_MAGIC, 0x09, struct atomik_table_req)
#define ATOMIK_IOC_TABLE_SELECT	_IOWR(ATOMIK_IOC_MAGIC, 0x0A, struct atomik_table_req)
#define ATOMIK_IOC_READ_TO	_IOW(ATOMIK_IOC_MAGIC, 0x0B, struct atomik_read_to)
#define ATOMIK_IOC_ACCUM_INLINE	_IOW(ATOMIK_IOC_MAGIC, 0x0C, struct atomik_inline_deltas)
#define ATOMIK_IOC_REMOTE_SET	_IOW(ATOMIK_IOC_MAGIC, 0x0D, struct atomik_range)
#define ATOMIK_IOC_REMOTE_READ	_IOW(ATOMIK_IOC_MAGIC, 0x0E, struct atomik_range)
#define ATOMIK_IOC_CHANGES	_IOWR(ATOMIK_IOC_MAGIC, 0x0F, struct atomik_changes)

/*
 * io_uring: IORING_OP_URING_CMD on /dev/atomik takes the ioctl numbers above
 * as sqe->cmd_op, with the same structure as the ioctl in sqe->cmd
 * (ATOMIK_URING_CMD_BYTES, or ATOMIK_URING_CMD128_BYTES with
 * IORING_SETUP_SQE128), and completes with the ioctl's return
 * value in cqe->res: inline for light commands, from io_uring's workers for
 * arrays past 64 KiB and while an accelerator is bound.  Accepted:
 * ATOMIK_IOC_LOAD, ATOMIK_IOC_ACCUM, ATOMIK_IOC_READ_TO, ATOMIK_IOC_ACCUM_BATCH,
 * ATOMIK_IOC_OP_BATCH, and, with 128-byte SQEs, ATOMIK_IOC_ACCUM_INLINE,
 * ATOMIK_IOC_SWAP (old state in the 32-byte CQE only),
 * ATOMIK_IOC_READ_RANGE, ATOMIK_IOC_REMOTE_SET and ATOMIK_IOC_REMOTE_READ.
 */
#define ATOMIK_URING_CMD_BYTES		16	/* sqe->cmd of a 64-byte SQE */
#define ATOMIK_URING_CMD128_BYTES	80	/* of a 128-byte SQE */

/*
 * mmap(): a descriptor opened for writing, and allowed to write its current
 * table, maps that table's CPU rows with MAP_SHARED at offset 0 and length
 * atomik_info.map_bytes.  The row of CPU c (for every possible CPU, c below
 * the kernel's nr_cpu_ids) starts c * atomik_info.map_stride bytes into the
 * mapping and holds one __u64 per address.  A process may XOR a delta into
 * the row of the CPU it runs on, and only from that CPU: with a restartable
 * sequence (rseq(2)) whose commit is the store, as libatomik's
 * atomik_map_accum() does.  Nothing else may be written there.  The mapping
 * keeps the rows, and so the table's memory, until it goes, even past the
 * table's destruction.  While the descriptor's open file has a mapping, its
 * current table cannot change (TABLE_SELECT: -EBUSY).
 * Documentation/atomik/uapi.rst has the errors.
 */

#endif /* _UAPI_LINUX_ATOMIK_H */
