/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ATOMiK internals shared by the module's files.
 */
#ifndef ATOMIK_INTERNAL_H
#define ATOMIK_INTERNAL_H

#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/percpu-refcount.h>
#include <linux/rcupdate.h>
#include <linux/seqlock.h>
#include <linux/uidgid.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include <linux/atomik.h>

#if BITS_PER_LONG != 64
/* Reads fold other CPUs' 64-bit slots with plain loads, which must not tear. */
#error "ATOMiK needs a 64-bit kernel"
#endif

/*
 * A table is one bank of accumulators.  For every address:
 *
 *	state  = ref ^ base ^ fold ^ remote
 *	accum  =       base ^ fold		(deltas since the last load or swap)
 *	fold   = slots[cpu0] ^ slots[cpu1] ^ ... over every possible CPU
 *
 * remote is 0 except in a replicated table, where it is the XOR of every
 * other contributor's latest values, set whole by the cluster daemon
 * (atomik_remote_set()); accum is then this node's contribution.  In a
 * replicated table ref never changes: a load or swap XORs the difference
 * between the old and the new state into base instead, so that it travels
 * to the other nodes like any delta.
 *
 * Accumulates only ever XOR into the slot of the CPU they run on, with
 * preemption disabled: no lock, no atomic instruction, and no cache line that
 * another CPU writes (each CPU's row is cache-line aligned and padded).
 * Slots are never cleared.  A load or swap instead records the fold it saw in
 * base, under the table's seqlock; reads retry if one ran meanwhile.  Each
 * slot is read once, untorn, so every delta is on exactly one side of a swap.
 * A CPU that goes offline keeps its slot, which reads still fold.
 *
 * The CPU rows are whole pages, which a writer may map (main.c): its
 * process then XORs into the row of the CPU it runs on itself, inside a
 * restartable sequence whose commit is the store, which the scheduler
 * aborts if the task is preempted or migrated before the store.  Such a
 * writer never runs between the load and the store of the kernel's own
 * XOR into the same row: the kernel writes rows only in process context
 * with the slot lock held, never from an interrupt (which does not abort
 * a sequence), and with preemption off across each load and store
 * (atomik_slot_xor()).
 */
struct atomik_table {
	u32 id;
	u32 nr_addrs;
	u64 instance;		/* random, never 0: tells this table from an
				 * earlier one of the same id (a reload, a
				 * reboot), for replication
				 */
	bool public;		/* table 0: the device node's permissions decide
				 * who writes it, and no user is charged for it
				 */
	kuid_t owner;		/* other tables: the creator, who is charged */
	u64 *ref;
	u64 *base;
	u64 *remote;		/* replicated tables only, else NULL */
	u64 **slots;		/* [nr_cpu_ids]; set for possible CPUs */
	/*
	 * The rows as a mapping shows them: CPU c's starts c * map_stride
	 * bytes in, and page k of the mapping is map_pages[k] (NULL where
	 * no possible CPU's row lies).
	 */
	struct page **map_pages;
	u32 map_stride;
	u32 map_nr_pages;
	seqlock_t lock;		/* orders load and swap against reads */

	/*
	 * Replicated tables: which zones of the local contribution changed
	 * since the daemon last took the set (ATOMIK_IOC_CHANGES), a bit per
	 * zone of 1 << zone_shift addresses (at most 64 zones).  A writer
	 * ORs the zones of its deltas in a register as it applies them (no
	 * memory access more per delta), and once its stretch of deltas is
	 * in the slots, a full barrier, then sets the bits not yet set; the
	 * taker exchanges the word for 0 before it reads values: whichever
	 * way they interleave, a delta is in the values read after the take,
	 * or its bit is set again.  change_flags: ATOMIK_CHANGES_PENDING is
	 * set with the first bit of an empty set, and wakes
	 * atomik_changes_wq (poll()); ATOMIK_CHANGES_MAPPED while the rows
	 * are or were mapped since the set was last taken.  maps counts the
	 * mappings of the rows.
	 */
	bool tracked;
	u8 zone_shift;
	unsigned long changes;
	unsigned long change_flags;
	atomic_t maps;
	size_t bytes;		/* memory held, charged to the module and owner */

	/*
	 * users: the table id's entry and every descriptor that selects the
	 * table keep the structure; active: operations in flight, killed when
	 * the table is destroyed so that new ones fail with -ENODEV.  Once
	 * the last operation is done the rows are freed and their memory
	 * leaves the account (rows_work), whoever still selects the table;
	 * active holds one users reference, dropped then.  A mapping of the
	 * rows is an operation in flight for as long as it exists.
	 */
	struct kref users;
	struct percpu_ref active;
	struct work_struct rows_work;
	struct rcu_work free_work;

	/*
	 * On the list of the open file that created the table with
	 * ATOMIK_TABLE_DESTROY_ON_CLOSE, which then holds a users reference
	 * for it, while the table is not destroyed; else empty.  Under
	 * atomik_tables_lock, with the table's id: whoever takes the id away
	 * takes the table off the list too (atomik_table_destroy()).
	 */
	struct list_head owned;
};

/*
 * Deltas applied per stretch of a batch that holds the CPU's slot.  Without
 * PREEMPT_RT that stretch runs with preemption off, so it is what bounds the
 * scheduling latency a batch adds; under PREEMPT_RT the slot's local lock is
 * a sleeping lock and the stretch is preemptible, and a short one bounds how
 * long another task of the same CPU waits for the slot.  The other long
 * loops (an OP_BATCH, a remote row) reschedule or drop their lock as often.
 */
#define ATOMIK_APPLY_CHUNK	(IS_ENABLED(CONFIG_PREEMPT_RT) ? 256 : 1024)

#define ATOMIK_CHANGES_PENDING	0
#define ATOMIK_CHANGES_MAPPED	1

/* Operation counters, per CPU, summed on read. */
struct atomik_stats {
	u64 deltas;		/* deltas accumulated */
	u64 batches;		/* batch calls applied (empty ones too) */
	u64 reads;		/* states read */
	u64 loads;		/* states loaded */
	u64 swaps;		/* swaps */
	u64 errors;		/* calls that failed */
};

#define ATOMIK_NR_STATS	(sizeof(struct atomik_stats) / sizeof(u64))

DECLARE_PER_CPU(struct atomik_stats, atomik_stats);

#define atomik_count(field, n)	this_cpu_add(atomik_stats.field, (n))

/* table.c: the tables, their memory and their registry */
extern const struct attribute_group atomik_engine_group;

int atomik_engine_init(u32 nr_addrs, u32 flags);
void atomik_engine_exit(void);
struct atomik_table *atomik_table_create(u32 nr_addrs, u32 flags, kuid_t owner,
					 bool public, bool unlimited);
int atomik_table_destroy(struct atomik_table *t);
void atomik_table_own(struct atomik_table *t, struct list_head *owned);
void atomik_table_destroy_owned(struct list_head *owned);
struct atomik_table *atomik_table_lookup(u32 id);
struct atomik_table *atomik_table_get_active(u32 id);
void atomik_table_put(struct atomik_table *t);
u32 atomik_table0_nr_addrs(void);
u32 atomik_nr_tables(void);
u64 atomik_memory_used(void);
u64 atomik_memory_limit(void);
struct page *atomik_map_page(struct atomik_table *t, unsigned long pgoff);

/* engine.c: the data path over a table's slots and remote row */
void atomik_accum(struct atomik_table *t, u32 addr, u64 delta);
void atomik_accum_many(struct atomik_table *t, const struct atomik_delta *d, u32 n);
void atomik_absorb(struct atomik_table *t, u32 addr, u64 value);
void atomik_load(struct atomik_table *t, u32 addr, u64 value);
u64 atomik_read(struct atomik_table *t, u32 addr, bool accum_only);
void atomik_read_many(struct atomik_table *t, u32 first, u32 n, bool accum_only, u64 *v);
u64 atomik_swap(struct atomik_table *t, u32 addr, u64 new_ref, bool keep);
void atomik_remote_set(struct atomik_table *t, u32 first, u32 n, const u64 *v);
void atomik_remote_read(struct atomik_table *t, u32 first, u32 n, u64 *v);
u32 atomik_change_bits(const struct atomik_table *t);
/*
 * Pollers of every table wait on one queue, whose life is the module's: a
 * descriptor may change tables, and a table go, while poll() waits.
 */
extern wait_queue_head_t atomik_changes_wq;
int atomik_changes_take(struct atomik_table *t, u64 __user *map, u32 *count, bool *untracked);

/* Rows exist as long as an active reference is held. */
static inline bool atomik_table_replicated(const struct atomik_table *t)
{
	return t->remote;
}

/*
 * slot.c: table 0's external slot (slot.h), the accelerator today.  The
 * policy decides which batches go to it.
 */
enum atomik_backend {
	ATOMIK_BACKEND_AUTO,	/* batches of atomik_ext_threshold or more */
	ATOMIK_BACKEND_CPU,	/* never the external slot */
	ATOMIK_BACKEND_FPGA,	/* every delta the external slot can hold */
};

/* The external slot held for one address of table 0 (see atomik_load()). */
struct atomik_ext_hold {
	bool sem;		/* the slot can neither arrive nor leave */
	bool locked;		/* the slot holds addr: its lock is held */
};

extern const struct attribute_group atomik_ext_group;
bool atomik_ext_accum(struct atomik_table *t, const struct atomik_delta *d, u32 n);
u64 atomik_ext_hold(struct atomik_table *t, u32 addr, struct atomik_ext_hold *h);
void atomik_ext_take(struct atomik_ext_hold *h, u32 addr);
void atomik_ext_release(struct atomik_ext_hold *h);
bool atomik_ext_attached(void);

/* cmd.c */
struct io_uring_cmd;
long atomik_ioctl(struct file *file, unsigned int cmd, unsigned long arg);
int atomik_uring_cmd(struct io_uring_cmd *ioucmd, unsigned int issue_flags);
void atomik_cmd_exit(void);

/* main.c: what an open descriptor holds and may do. */
struct atomik_table *atomik_file_table(struct file *file);
bool atomik_file_mapped(struct file *file);
int atomik_file_select(struct file *file, struct atomik_table *t);
void atomik_file_own(struct file *file, struct atomik_table *t);
int atomik_file_may_write(struct file *file, struct atomik_table *t);

/* sysfs.c */
extern const struct attribute_group *atomik_groups[];

/*
 * A device attribute holding a number of var's type (unsigned int or
 * unsigned long), written in decimal, 0x or 0 prefixed: -ERANGE if it does
 * not fit the type, -EINVAL outside lo to hi.
 */
#define ATOMIK_NUM_ATTR(name, var, lo, hi)				\
static ssize_t name##_show(struct device *dev,				\
			   struct device_attribute *attr, char *buf)	\
{									\
	return sysfs_emit(buf, "%llu\n", (unsigned long long)READ_ONCE(var)); \
}									\
static ssize_t name##_store(struct device *dev,				\
			    struct device_attribute *attr,		\
			    const char *buf, size_t len)		\
{									\
	unsigned long long v;						\
	int ret = kstrtoull(buf, 0, &v);				\
									\
	if (ret)							\
		return ret;						\
	if (v != (typeof(var))v)					\
		return -ERANGE;						\
	if (v < (lo) || v > (hi))					\
		return -EINVAL;						\
	WRITE_ONCE(var, v);						\
	return len;							\
}									\
static DEVICE_ATTR_RW(name)

/* The attribute group prefix_group of the attributes listed. */
#define ATOMIK_ATTR_GROUP(prefix, ...)					\
static struct attribute *prefix##_attrs[] = { __VA_ARGS__, NULL };	\
const struct attribute_group prefix##_group = { .attrs = prefix##_attrs }

void atomik_stats_sum(struct atomik_stats *sum);

#endif /* ATOMIK_INTERNAL_H */
