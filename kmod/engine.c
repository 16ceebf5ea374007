// SPDX-License-Identifier: GPL-2.0
/*
 * The accumulator engine: tables of per-CPU XOR slots (see atomik.h).
 */
#include <linux/cache.h>
#include <linux/capability.h>
#include <linux/log2.h>
#include <linux/cred.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/topology.h>
#include <linux/wait.h>
#include <linux/xarray.h>

#include "atomik.h"

/* Deltas applied per preemption-disabled stretch of a batch. */
#define ATOMIK_APPLY_CHUNK	1024

unsigned long atomik_memory_cap = 256UL << 20;

static DEFINE_XARRAY_ALLOC(atomik_tables);
static DEFINE_MUTEX(atomik_tables_lock);	/* create, destroy, memory */
static u64 atomik_memory;			/* under atomik_tables_lock */
static atomic_t atomik_tables_alive = ATOMIC_INIT(0);
static DECLARE_WAIT_QUEUE_HEAD(atomik_tables_gone);
static struct workqueue_struct *atomik_wq;

static u64 atomik_fold(struct atomik_table *t, u32 addr)
{
	u64 v = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		v ^= READ_ONCE(t->slots[cpu][addr]);
	return v;
}

void atomik_accum(struct atomik_table *t, u32 addr, u64 delta)
{
	struct atomik_delta d = { .addr = addr, .delta = delta };
	u64 *slot;

	if (atomik_fpga_accum(t, &d, 1))
		return;
	slot = t->slots[get_cpu()];

	WRITE_ONCE(slot[addr], slot[addr] ^ delta);
	put_cpu();
}

void atomik_accum_many(struct atomik_table *t, const struct atomik_delta *d, u32 n)
{
	u32 i = 0, end;
	u64 *slot;

	if (atomik_fpga_accum(t, d, n))
		return;
	while (i < n) {
		end = min_t(u32, n, i + ATOMIK_APPLY_CHUNK);
		slot = t->slots[get_cpu()];
		for (; i < end; i++)
			WRITE_ONCE(slot[d[i].addr], slot[d[i].addr] ^ d[i].delta);
		put_cpu();
		cond_resched();
	}
}

/*
 * Load, swap and read fold the accelerator's slot (table 0 with a device)
 * in with the CPU slots; between atomik_fpga_begin() and _end() the device
 * can neither join nor leave, so its value is counted exactly once.
 */
void atomik_load(struct atomik_table *t, u32 addr, u64 value)
{
	bool held;
	u64 dev = atomik_fpga_begin(t, addr, &held);

	write_seqlock(&t->lock);
	t->base[addr] = atomik_fold(t, addr) ^ dev;
	t->ref[addr] = value;
	write_sequnlock(&t->lock);
	atomik_fpga_end(held);
}

u64 atomik_swap(struct atomik_table *t, u32 addr, u64 new_ref, bool keep)
{
	bool held;
	u64 dev = atomik_fpga_begin(t, addr, &held);
	u64 fold, old;

	write_seqlock(&t->lock);
	fold = atomik_fold(t, addr) ^ dev;
	old = t->ref[addr] ^ t->base[addr] ^ fold;
	t->base[addr] = fold;
	t->ref[addr] = keep ? old : new_ref;
	write_sequnlock(&t->lock);
	atomik_fpga_end(held);
	return old;
}

u64 atomik_read(struct atomik_table *t, u32 addr, bool accum_only)
{
	bool held;
	u64 dev = atomik_fpga_begin(t, addr, &held);
	unsigned int seq;
	u64 v;

	do {
		seq = read_seqbegin(&t->lock);
		v = t->base[addr] ^ atomik_fold(t, addr) ^ dev;
		if (!accum_only)
			v ^= t->ref[addr];
	} while (read_seqretry(&t->lock, seq));
	atomik_fpga_end(held);
	return v;
}

static void atomik_table_free(struct atomik_table *t)
{
	int cpu;

	if (t->slots) {
		for_each_possible_cpu(cpu)
			kvfree(t->slots[cpu]);
		kfree(t->slots);
	}
	kvfree(t->ref);
	kvfree(t->base);
	kfree(t);
}

static void atomik_table_free_work(struct work_struct *work)
{
	struct atomik_table *t = container_of(to_rcu_work(work),
					      struct atomik_table, free_work);

	percpu_ref_exit(&t->active);
	mutex_lock(&atomik_tables_lock);
	atomik_memory -= t->bytes;
	mutex_unlock(&atomik_tables_lock);
	atomik_table_free(t);
	if (atomic_dec_and_test(&atomik_tables_alive))
		wake_up(&atomik_tables_gone);
}

/* The last user is gone; readers that found the table under RCU may still
 * be looking at it, so the memory goes after a grace period.
 */
static void atomik_table_release(struct kref *kref)
{
	struct atomik_table *t = container_of(kref, struct atomik_table, users);

	queue_rcu_work(atomik_wq, &t->free_work);
}

void atomik_table_put(struct atomik_table *t)
{
	kref_put(&t->users, atomik_table_release);
}

static void atomik_table_inactive(struct percpu_ref *ref)
{
	struct atomik_table *t = container_of(ref, struct atomik_table, active);

	atomik_table_put(t);
}

/*
 * A CPU's row must not share a cache line with another CPU's: rows of up to
 * a page are allocated as a power of two of at least a cache line, which
 * kmalloc() aligns to its size; larger ones come whole pages.
 */
static size_t atomik_cpu_row_bytes(u32 nr_addrs)
{
	size_t row = array_size(nr_addrs, sizeof(u64));

	if (row > PAGE_SIZE)
		return row;
	return roundup_pow_of_two(max_t(size_t, row, SMP_CACHE_BYTES));
}

static size_t atomik_table_bytes(u32 nr_addrs)
{
	size_t bytes;

	/* ref and base, one row per possible CPU, and the row pointers. */
	bytes = array_size(array_size(nr_addrs, sizeof(u64)), 2);
	bytes = size_add(bytes, array_size(atomik_cpu_row_bytes(nr_addrs),
					   num_possible_cpus()));
	return size_add(bytes, array_size(nr_cpu_ids, sizeof(u64 *)));
}

/*
 * A table's rows may be large: when memory is short their allocation fails
 * (-ENOMEM to the caller) rather than wake the OOM killer, whatever the
 * memory cap allows.
 */
static struct atomik_table *atomik_table_alloc(u32 nr_addrs)
{
	const gfp_t gfp = GFP_KERNEL_ACCOUNT | __GFP_ZERO | __GFP_NOWARN |
			  __GFP_RETRY_MAYFAIL;
	size_t row = array_size(nr_addrs, sizeof(u64));
	struct atomik_table *t;
	int cpu;

	t = kzalloc(sizeof(*t), GFP_KERNEL_ACCOUNT);
	if (!t)
		return NULL;
	t->nr_addrs = nr_addrs;
	t->ref = kvmalloc(row, gfp);
	t->base = kvmalloc(row, gfp);
	t->slots = kcalloc(nr_cpu_ids, sizeof(*t->slots), GFP_KERNEL_ACCOUNT);
	if (!t->ref || !t->base || !t->slots)
		goto fail;
	for_each_possible_cpu(cpu) {
		t->slots[cpu] = kvmalloc_node(atomik_cpu_row_bytes(nr_addrs), gfp,
					      cpu_to_node(cpu));
		if (!t->slots[cpu])
			goto fail;
	}
	seqlock_init(&t->lock);
	kref_init(&t->users);
	INIT_RCU_WORK(&t->free_work, atomik_table_free_work);
	if (percpu_ref_init(&t->active, atomik_table_inactive, 0, GFP_KERNEL))
		goto fail;
	kref_get(&t->users);	/* held by active */
	return t;
fail:
	atomik_table_free(t);
	return NULL;
}

/*
 * Create a table and give it an id.  The caller gets a users reference on top
 * of the id's own.  Returns an ERR_PTR: -EINVAL for a size out of range,
 * -ENOSPC past the memory cap or the table limit, -ENOMEM.
 */
struct atomik_table *atomik_table_create(u32 nr_addrs, kuid_t owner, bool shared)
{
	struct atomik_table *t;
	size_t bytes;
	u32 id;
	int ret;

	if (nr_addrs == 0 || nr_addrs > ATOMIK_MAX_ADDRS)
		return ERR_PTR(-EINVAL);
	bytes = atomik_table_bytes(nr_addrs);

	/* Reserve the memory first, so that concurrent creations cannot
	 * overshoot the cap together.
	 */
	mutex_lock(&atomik_tables_lock);
	if (atomik_memory + bytes > READ_ONCE(atomik_memory_cap)) {
		mutex_unlock(&atomik_tables_lock);
		return ERR_PTR(-ENOSPC);
	}
	atomik_memory += bytes;
	mutex_unlock(&atomik_tables_lock);

	t = atomik_table_alloc(nr_addrs);
	if (!t) {
		ret = -ENOMEM;
		goto unreserve;
	}
	t->bytes = bytes;
	t->owner = owner;
	t->shared = shared;

	if (shared)
		ret = xa_insert(&atomik_tables, 0, t, GFP_KERNEL);
	else
		ret = xa_alloc(&atomik_tables, &id, t,
			       XA_LIMIT(1, ATOMIK_MAX_TABLES - 1), GFP_KERNEL);
	if (ret) {
		/* Never published, so nobody else can hold it: free it now,
		 * and the memory is back in the account before the error is.
		 */
		percpu_ref_exit(&t->active);
		atomik_table_free(t);
		ret = ret == -EBUSY ? -ENOSPC : ret;
		goto unreserve;
	}
	atomic_inc(&atomik_tables_alive);
	kref_get(&t->users);	/* the caller's */
	t->id = shared ? 0 : id;
	return t;

unreserve:
	mutex_lock(&atomik_tables_lock);
	atomik_memory -= bytes;
	mutex_unlock(&atomik_tables_lock);
	return ERR_PTR(ret);
}

/* A users reference on table id, or NULL. */
struct atomik_table *atomik_table_lookup(u32 id)
{
	struct atomik_table *t;

	rcu_read_lock();
	t = xa_load(&atomik_tables, id);
	if (t && !kref_get_unless_zero(&t->users))
		t = NULL;
	rcu_read_unlock();
	return t;
}

/*
 * Table 0 is shared: the device node's permissions decide who writes it.
 * Any other table is written and destroyed only through descriptors opened by
 * its creator (same fsuid) or by a holder of CAP_SYS_ADMIN; anyone who can open
 * the device may read it.  The opener's credentials are used, not the caller's,
 * so that passing a descriptor on grants no more than it had.
 */
bool atomik_may_write(struct file *file, struct atomik_table *t)
{
	return t->shared || uid_eq(file->f_cred->fsuid, t->owner) ||
	       file_ns_capable(file, &init_user_ns, CAP_SYS_ADMIN);
}

int atomik_table_destroy(struct file *file, u32 id)
{
	struct atomik_table *t;

	if (id == 0)
		return -EBUSY;
	mutex_lock(&atomik_tables_lock);
	t = xa_load(&atomik_tables, id);
	if (!t) {
		mutex_unlock(&atomik_tables_lock);
		return -ENOENT;
	}
	if (!atomik_may_write(file, t)) {
		mutex_unlock(&atomik_tables_lock);
		return -EPERM;
	}
	xa_erase(&atomik_tables, id);
	mutex_unlock(&atomik_tables_lock);

	percpu_ref_kill(&t->active);
	atomik_table_put(t);	/* the id's reference */
	return 0;
}

u32 atomik_table0_nr_addrs(void)
{
	struct atomik_table *t = xa_load(&atomik_tables, 0);

	return t ? t->nr_addrs : 0;
}

u32 atomik_nr_tables(void)
{
	struct atomik_table *t;
	unsigned long id;
	u32 n = 0;

	rcu_read_lock();
	xa_for_each(&atomik_tables, id, t)
		n++;
	rcu_read_unlock();
	return n;
}

u64 atomik_memory_used(void)
{
	u64 v;

	mutex_lock(&atomik_tables_lock);
	v = atomik_memory;
	mutex_unlock(&atomik_tables_lock);
	return v;
}

int atomik_engine_init(u32 nr_addrs)
{
	struct atomik_table *t;

	atomik_wq = alloc_workqueue("atomik", 0, 0);
	if (!atomik_wq)
		return -ENOMEM;
	t = atomik_table_create(nr_addrs, GLOBAL_ROOT_UID, true);
	if (IS_ERR(t)) {
		destroy_workqueue(atomik_wq);
		return PTR_ERR(t);
	}
	atomik_table_put(t);	/* the id keeps it */
	return 0;
}

/* Every descriptor is closed (the module is unloading): destroy all tables and
 * wait until their memory is gone.
 */
void atomik_engine_exit(void)
{
	struct atomik_table *t;
	unsigned long id;

	xa_for_each(&atomik_tables, id, t) {
		xa_erase(&atomik_tables, id);
		percpu_ref_kill(&t->active);
		atomik_table_put(t);
	}
	wait_event(atomik_tables_gone, atomic_read(&atomik_tables_alive) == 0);
	destroy_workqueue(atomik_wq);
	xa_destroy(&atomik_tables);
}
