// SPDX-License-Identifier: GPL-2.0
/*
 * The accumulator engine's tables: their rows' memory and its accounting
 * (per user and in all), their creation, lookup and destruction, the
 * registry of table ids, and the module-wide sysfs counts of them.  The
 * data path over a table is engine.c's.
 */
#include <linux/cache.h>
#include <linux/capability.h>
#include <linux/device.h>
#include <linux/gfp.h>
#include <linux/moduleparam.h>
#include <linux/sysfs.h>
#include <linux/log2.h>
#include <linux/cred.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/poll.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/topology.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>
#include <linux/xarray.h>

#include "atomik.h"
#include "compat.h"
#include "debug.h"

#include "trace/atomik.h"

static unsigned long atomik_memory_cap = 256UL << 20;
static unsigned int atomik_user_max_tables = 64;
static unsigned long atomik_user_memory_cap = 64UL << 20;

module_param_named(max_memory, atomik_memory_cap, ulong, 0444);
MODULE_PARM_DESC(max_memory,
		 "Bytes all tables together may hold (default 256 MiB; tunable in sysfs memory_cap)");

static DEFINE_XARRAY_ALLOC(atomik_tables);
static DEFINE_MUTEX(atomik_tables_lock);	/* create, destroy, memory */
static u64 atomik_memory;			/* under atomik_tables_lock */

/*
 * What each user's tables hold, by uid in the initial user namespace; an
 * entry lives while the user has a table.  Under atomik_tables_lock.
 */
struct atomik_user {
	u32 tables;
	u64 bytes;
};

static DEFINE_XARRAY(atomik_users);
static atomic_t atomik_tables_alive = ATOMIC_INIT(0);
static DECLARE_WAIT_QUEUE_HEAD(atomik_tables_gone);
static struct workqueue_struct *atomik_wq;

/*
 * What kvmalloc() really takes for size bytes: a kmalloc bucket (a power of
 * two of pages past the largest cache), or whole pages plus vmalloc's array
 * of them.  atomik_kv_bound() is the most it can take, before allocating.
 */
static size_t atomik_vmalloc_bytes(size_t size)
{
	size_t pages = PAGE_ALIGN(size) >> PAGE_SHIFT;

	return size_add(PAGE_ALIGN(size),
			kmalloc_size_roundup(array_size(pages, sizeof(struct page *))));
}

static size_t atomik_kv_bound(size_t size)
{
	/* Up to a page, kvmalloc() never falls back to vmalloc. */
	if (size <= PAGE_SIZE)
		return kmalloc_size_roundup(size);
	return max(kmalloc_size_roundup(size), atomik_vmalloc_bytes(size));
}

static size_t atomik_kv_bytes(const void *p, size_t size)
{
	if (!p)
		return 0;
	return is_vmalloc_addr(p) ? atomik_vmalloc_bytes(size) : kmalloc_size_roundup(size);
}

/*
 * The CPU rows are whole pages, so that a writer can map them.  A row must
 * not share a cache line with another CPU's: rows of up to a page are a
 * power of two of at least a cache line, several to a page; larger ones
 * are whole pages each.  The stride is the distance from a CPU's row to
 * the next CPU's, in the kernel's view and in a mapping alike.
 */
static size_t atomik_map_stride(u32 nr_addrs)
{
	size_t row = array_size(nr_addrs, sizeof(u64));

	if (row > PAGE_SIZE)
		return PAGE_ALIGN(row);
	return roundup_pow_of_two(max_t(size_t, row, SMP_CACHE_BYTES));
}

static size_t atomik_map_nr_pages(u32 nr_addrs)
{
	return DIV_ROUND_UP(array_size(nr_cpu_ids, atomik_map_stride(nr_addrs)), PAGE_SIZE);
}

/* The structure, its row pointers and its percpu_ref's two parts. */
static size_t atomik_table_fixed_bytes(void)
{
	size_t bytes = kmalloc_size_roundup(sizeof(struct atomik_table));

	bytes += kmalloc_size_roundup(array_size(nr_cpu_ids, sizeof(u64 *)));
	bytes += kmalloc_size_roundup(sizeof(struct percpu_ref_data));
	return bytes + array_size(num_possible_cpus(), sizeof(unsigned long));
}

/* The most a table of nr_addrs can take: what creation reserves. */
static size_t atomik_table_bound(u32 nr_addrs, bool replicated)
{
	size_t row = array_size(nr_addrs, sizeof(u64)), pages, bytes;

	/* ref, base and a replicated table's remote */
	bytes = array_size(atomik_kv_bound(row), replicated ? 3 : 2);
	/* the CPU rows' pages, and the array of them */
	pages = atomik_map_nr_pages(nr_addrs);
	bytes = size_add(bytes, array_size(pages, PAGE_SIZE));
	bytes = size_add(bytes, atomik_kv_bound(array_size(pages, sizeof(struct page *))));
	return size_add(bytes, atomik_table_fixed_bytes());
}

/* What an allocated table really holds. */
static size_t atomik_table_real_bytes(struct atomik_table *t)
{
	size_t row = array_size(t->nr_addrs, sizeof(u64));
	size_t bytes = atomik_table_fixed_bytes();
	u32 k;

	bytes += atomik_kv_bytes(t->ref, row) + atomik_kv_bytes(t->base, row) +
		 atomik_kv_bytes(t->remote, row);
	bytes += atomik_kv_bytes(t->map_pages, array_size(t->map_nr_pages, sizeof(struct page *)));
	for (k = 0; k < t->map_nr_pages; k++)
		if (t->map_pages[k])
			bytes += PAGE_SIZE;
	return bytes;
}

/*
 * A row of whole pages (n of them) for a CPU of node: physically contiguous
 * when the page allocator has such a block, split into single pages and cut
 * to the row's size, else single pages joined by vmap(), as kvmalloc() would
 * fall back to vmalloc().  Its pages go into pages[]; the kernel's address
 * of the row is returned, or NULL with nothing left allocated.
 */
static u64 *atomik_row_alloc(struct page **pages, u32 n, int node, gfp_t gfp)
{
	unsigned int order = get_order(array_size(n, PAGE_SIZE));
	struct page *block = NULL;
	u64 *v;
	u32 i;

	if (order <= ATOMIK_MAX_PAGE_ORDER)
		block = alloc_pages_node(node, gfp, order);
	if (block) {
		split_page(block, order);
		for (i = 0; i < 1U << order; i++) {
			if (i < n)
				pages[i] = block + i;
			else
				__free_page(block + i);
		}
		return page_address(block);
	}
	for (i = 0; i < n; i++) {
		pages[i] = alloc_pages_node(node, gfp, 0);
		if (!pages[i])
			goto fail;
		if (i % 1024 == 1023)
			cond_resched();
	}
	v = vmap(pages, n, VM_MAP, PAGE_KERNEL);
	if (v)
		return v;
fail:
	while (i--) {
		__free_page(pages[i]);
		pages[i] = NULL;
	}
	return NULL;
}

/*
 * The CPU rows and their pages (atomik_map_stride()); each page on the node
 * of the first CPU whose row it holds.  -ENOMEM leaves what was allocated
 * for atomik_rows_free().
 */
static int atomik_rows_alloc(struct atomik_table *t, gfp_t gfp)
{
	size_t stride = atomik_map_stride(t->nr_addrs), off;
	struct page **page;
	int cpu;

	t->map_stride = stride;
	t->map_nr_pages = atomik_map_nr_pages(t->nr_addrs);
	t->map_pages = kvcalloc(t->map_nr_pages, sizeof(*t->map_pages),
				GFP_KERNEL_ACCOUNT | __GFP_NOWARN | __GFP_RETRY_MAYFAIL);
	t->slots = kcalloc(nr_cpu_ids, sizeof(*t->slots), GFP_KERNEL_ACCOUNT);
	if (!t->map_pages || !t->slots)
		return -ENOMEM;
	for_each_possible_cpu(cpu) {
		off = array_size(cpu, stride);
		page = &t->map_pages[off >> PAGE_SHIFT];
		if (stride >= PAGE_SIZE) {
			t->slots[cpu] = atomik_row_alloc(page, stride >> PAGE_SHIFT,
							 cpu_to_node(cpu), gfp);
			if (!t->slots[cpu])
				return -ENOMEM;
			continue;
		}
		if (!*page) {
			*page = alloc_pages_node(cpu_to_node(cpu), gfp, 0);
			if (!*page)
				return -ENOMEM;
		}
		t->slots[cpu] = page_address(*page) + offset_in_page(off);
	}
	return 0;
}

static void atomik_rows_free(struct atomik_table *t)
{
	u32 k;
	int cpu;

	if (t->slots) {
		for_each_possible_cpu(cpu)
			if (t->slots[cpu] && is_vmalloc_addr(t->slots[cpu]))
				vunmap(t->slots[cpu]);
		kfree(t->slots);
		t->slots = NULL;
	}
	if (t->map_pages) {
		for (k = 0; k < t->map_nr_pages; k++) {
			if (t->map_pages[k])
				__free_page(t->map_pages[k]);
			if (k % 1024 == 1023)
				cond_resched();
		}
		kvfree(t->map_pages);
		t->map_pages = NULL;
	}
}

/*
 * Page pgoff of a mapping of t's rows, or NULL past its end or where no
 * possible CPU's row lies.  The mapping holds an active reference, which
 * keeps the rows.
 */
struct page *atomik_map_page(struct atomik_table *t, unsigned long pgoff)
{
	return pgoff < t->map_nr_pages ? t->map_pages[pgoff] : NULL;
}

/* Rows and the active counter; the structure itself stays for its users. */
static void atomik_table_free_rows(struct atomik_table *t)
{
	atomik_rows_free(t);
	kvfree(t->ref);
	kvfree(t->base);
	kvfree(t->remote);
	t->ref = NULL;
	t->base = NULL;
	t->remote = NULL;
	percpu_ref_exit(&t->active);
}

/*
 * Charge (bytes > 0) or give back (bytes < 0) memory and tables to the
 * module's account and, for a table other than table 0, to its owner's.
 * Under atomik_tables_lock.
 */
static void atomik_account(kuid_t owner, bool public, long long bytes, int tables)
{
	unsigned long idx = from_kuid(&init_user_ns, owner);
	struct atomik_user *u;

	lockdep_assert_held(&atomik_tables_lock);
	atomik_memory += bytes;
	if (public)
		return;
	u = xa_load(&atomik_users, idx);
	if (WARN_ON_ONCE(!u))
		return;
	u->bytes += bytes;
	u->tables += tables;
	if (!u->tables && !u->bytes) {
		xa_erase(&atomik_users, idx);
		kfree(u);
	}
}

static void atomik_table_free_work(struct work_struct *work)
{
	struct atomik_table *t = container_of(to_rcu_work(work),
					      struct atomik_table, free_work);

	kfree(t);
	if (atomic_dec_and_test(&atomik_tables_alive))
		wake_up(&atomik_tables_gone);
}

/* The last user is gone; readers that found the table under RCU may still
 * be looking at it, so the structure goes after a grace period.
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

/*
 * The table was destroyed and its last operation has ended: its rows are
 * no longer reachable, whoever still holds a descriptor that selects it, so
 * they and the account's charge go now.
 */
static void atomik_table_rows_work(struct work_struct *work)
{
	struct atomik_table *t = container_of(work, struct atomik_table, rows_work);

	atomik_table_free_rows(t);
	mutex_lock(&atomik_tables_lock);
	atomik_account(t->owner, t->public, -(long long)t->bytes, 0);
	mutex_unlock(&atomik_tables_lock);
	atomik_table_put(t);	/* active's */
}

/* percpu_ref's release: may run in atomic context, so the work frees. */
static void atomik_table_last_op(struct percpu_ref *ref)
{
	struct atomik_table *t = container_of(ref, struct atomik_table, active);

	queue_work(atomik_wq, &t->rows_work);
}

/*
 * A table's rows may be large: when memory is short their allocation fails
 * (-ENOMEM to the caller) rather than wake the OOM killer, whatever the
 * memory cap allows.
 */
static struct atomik_table *atomik_table_alloc(u32 nr_addrs, bool replicated)
{
	const gfp_t gfp = GFP_KERNEL_ACCOUNT | __GFP_ZERO | __GFP_NOWARN |
			  __GFP_RETRY_MAYFAIL;
	size_t row = array_size(nr_addrs, sizeof(u64));
	struct atomik_table *t;

	t = kzalloc(sizeof(*t), GFP_KERNEL_ACCOUNT);
	if (!t)
		return NULL;
	t->nr_addrs = nr_addrs;
	t->instance = get_random_u64() | 1;
	if (percpu_ref_init(&t->active, atomik_table_last_op, 0, GFP_KERNEL)) {
		kfree(t);
		return NULL;
	}
	t->ref = kvmalloc(row, gfp);
	t->base = kvmalloc(row, gfp);
	if (!t->ref || !t->base)
		goto fail;
	if (replicated) {
		t->remote = kvmalloc(row, gfp);
		if (!t->remote)
			goto fail;
		/* Zones of a power of two addresses, at least 64, at most 64 zones. */
		t->tracked = true;
		t->zone_shift = max_t(unsigned int, ilog2(ATOMIK_CHANGE_GRANULE),
				      order_base_2(DIV_ROUND_UP(nr_addrs, ATOMIK_CHANGE_MAX_BITS)));
	}
	if (atomik_rows_alloc(t, gfp))
		goto fail;
	seqlock_init(&t->lock);
	atomic_set(&t->maps, 0);
	INIT_LIST_HEAD(&t->owned);
	kref_init(&t->users);
	INIT_WORK(&t->rows_work, atomik_table_rows_work);
	INIT_RCU_WORK(&t->free_work, atomik_table_free_work);
	kref_get(&t->users);	/* held by active */
	return t;
fail:
	atomik_table_free_rows(t);
	kfree(t);
	return NULL;
}

/*
 * Reserve bytes and a table in the module's account and the owner's:
 * -ENOSPC past the module's memory cap, -EDQUOT past the owner's limits
 * (unless unlimited).  Under atomik_tables_lock.
 */
static int atomik_reserve(kuid_t owner, bool public, bool unlimited, size_t bytes)
{
	unsigned long idx = from_kuid(&init_user_ns, owner);
	struct atomik_user *u;

	lockdep_assert_held(&atomik_tables_lock);
	if (atomik_memory + bytes > READ_ONCE(atomik_memory_cap))
		return -ENOSPC;
	if (!public) {
		u = xa_load(&atomik_users, idx);
		if (!unlimited &&
		    ((u ? u->tables : 0) >= READ_ONCE(atomik_user_max_tables) ||
		     (u ? u->bytes : 0) + bytes > READ_ONCE(atomik_user_memory_cap)))
			return -EDQUOT;
		if (!u) {
			u = kzalloc(sizeof(*u), GFP_KERNEL);
			if (!u)
				return -ENOMEM;
			if (xa_err(xa_store(&atomik_users, idx, u, GFP_KERNEL))) {
				kfree(u);
				return -ENOMEM;
			}
		}
	}
	atomik_account(owner, public, bytes, 1);
	return 0;
}

/*
 * Create a table and give it an id; flags: ATOMIK_TABLE_REPLICATED or 0.
 * The caller gets a users reference on top of the id's own.  Returns an
 * ERR_PTR: -EINVAL for a size out of range,
 * -ENOSPC past the memory cap or the table limit, -EDQUOT past the owner's
 * limits (unless unlimited), -ENOMEM.
 *
 * The table is complete, id and references included, before it is
 * published: from the moment xa_store() makes it visible, another thread may
 * select or destroy it.
 */
struct atomik_table *atomik_table_create(u32 nr_addrs, u32 flags, kuid_t owner,
					 bool public, bool unlimited)
{
	bool replicated = flags & ATOMIK_TABLE_REPLICATED;
	struct atomik_table *t;
	size_t bound, real;
	u32 id = 0;
	int ret;

	if (nr_addrs == 0 || nr_addrs > ATOMIK_MAX_ADDRS)
		return ERR_PTR(-EINVAL);

	/* Reserve the most it can take first, so that concurrent creations
	 * cannot overshoot the cap together; what the allocator did not use
	 * goes back once the rows exist.
	 */
	bound = atomik_table_bound(nr_addrs, replicated);
	mutex_lock(&atomik_tables_lock);
	ret = atomik_reserve(owner, public, unlimited, bound);
	mutex_unlock(&atomik_tables_lock);
	if (ret)
		return ERR_PTR(ret);

	t = atomik_table_alloc(nr_addrs, replicated);
	if (!t) {
		ret = -ENOMEM;
		goto unreserve;
	}
	t->owner = owner;
	t->public = public;
	real = atomik_table_real_bytes(t);
	mutex_lock(&atomik_tables_lock);
	atomik_account(owner, public, -(long long)(bound - real), 0);
	mutex_unlock(&atomik_tables_lock);
	t->bytes = real;
	bound = real;

	/* An id is reserved (lookups see nothing there yet), then filled. */
	if (public)
		ret = xa_insert(&atomik_tables, 0, NULL, GFP_KERNEL);
	else
		ret = xa_alloc(&atomik_tables, &id, NULL,
			       XA_LIMIT(1, ATOMIK_MAX_TABLES - 1), GFP_KERNEL);
	if (ret) {
		/* Never published, so nobody else can hold it: free it now,
		 * and the memory is back in the account before the error is.
		 */
		atomik_table_free_rows(t);
		kfree(t);
		ret = ret == -EBUSY ? -ENOSPC : ret;
		goto unreserve;
	}
	t->id = id;
	kref_get(&t->users);	/* the caller's */
	atomic_inc(&atomik_tables_alive);
	trace_atomik_table_create(id, nr_addrs, from_kuid(&init_user_ns, owner), t->bytes,
				  replicated);
	/* Storing into a reserved slot allocates nothing and cannot fail. */
	WARN_ON_ONCE(xa_err(xa_store(&atomik_tables, id, t, GFP_KERNEL)));
	atomik_debug_delay(ATOMIK_DEBUG_CREATE_PUBLISHED);
	return t;

unreserve:
	mutex_lock(&atomik_tables_lock);
	atomik_account(owner, public, -(long long)bound, -1);
	mutex_unlock(&atomik_tables_lock);
	return ERR_PTR(ret);
}

/*
 * Table id with a reference of either kind, or NULL: users keeps the
 * structure (drop with atomik_table_put()); active lets its rows be used
 * until percpu_ref_put(&t->active), and fails once the table is destroyed.
 */
static struct atomik_table *atomik_table_get(u32 id, bool active)
{
	struct atomik_table *t;

	rcu_read_lock();
	t = xa_load(&atomik_tables, id);
	if (t && !(active ? percpu_ref_tryget_live(&t->active) :
		   kref_get_unless_zero(&t->users)))
		t = NULL;
	rcu_read_unlock();
	return t;
}

struct atomik_table *atomik_table_lookup(u32 id)
{
	return atomik_table_get(id, false);
}

struct atomik_table *atomik_table_get_active(u32 id)
{
	return atomik_table_get(id, true);
}

/* The id goes, and with it the owner's count of tables.  The table's
 * memory stays charged until its last operation ends.
 */
static void atomik_table_unpublish(struct atomik_table *t)
{
	lockdep_assert_held(&atomik_tables_lock);
	xa_erase(&atomik_tables, t->id);
	atomik_account(t->owner, t->public, 0, -1);
}

/* New operations fail with -ENODEV; the id's reference goes. */
static void atomik_table_kill(struct atomik_table *t)
{
	percpu_ref_kill(&t->active);
	/* Pollers see the table gone (EPOLLHUP). */
	wake_up_interruptible_poll(&atomik_changes_wq, EPOLLHUP | EPOLLERR);
	atomik_table_put(t);
}

/*
 * Destroy t, which the caller holds a users reference on: its id goes now,
 * its rows when the last operation on it ends.  -ENOENT if another caller
 * destroyed it first; table 0 lives as long as the module.  A table its
 * creator's file was to destroy on close leaves that file's list now, and
 * the list's reference goes: nothing of it stays behind until the close.
 */
int atomik_table_destroy(struct atomik_table *t)
{
	bool owned;

	if (t->id == 0)
		return -EBUSY;
	mutex_lock(&atomik_tables_lock);
	if (xa_load(&atomik_tables, t->id) != t) {
		mutex_unlock(&atomik_tables_lock);
		return -ENOENT;
	}
	atomik_table_unpublish(t);
	owned = !list_empty(&t->owned);
	if (owned)
		list_del_init(&t->owned);
	mutex_unlock(&atomik_tables_lock);
	trace_atomik_table_destroy(t->id);
	atomik_table_kill(t);
	if (owned)
		atomik_table_put(t);
	return 0;
}

/*
 * Destroy t when the open file whose list owned is goes: the list takes a
 * users reference of its own.  A table already destroyed (another
 * descriptor may have guessed its id) is not recorded.
 */
void atomik_table_own(struct atomik_table *t, struct list_head *owned)
{
	mutex_lock(&atomik_tables_lock);
	if (xa_load(&atomik_tables, t->id) == t) {
		kref_get(&t->users);
		list_add_tail(&t->owned, owned);
	}
	mutex_unlock(&atomik_tables_lock);
}

/*
 * The open file is released: destroy every table on its list.  Each leaves
 * the list under atomik_tables_lock, so that a TABLE_DESTROY through
 * another descriptor at the same time either found it there (and took it
 * off, with the list's reference) or finds it off the list and leaves the
 * reference to this loop, which then gets -ENOENT.
 */
void atomik_table_destroy_owned(struct list_head *owned)
{
	struct atomik_table *t;

	mutex_lock(&atomik_tables_lock);
	while ((t = list_first_entry_or_null(owned, struct atomik_table, owned))) {
		list_del_init(&t->owned);
		mutex_unlock(&atomik_tables_lock);
		atomik_table_destroy(t);
		atomik_table_put(t);	/* the list's */
		cond_resched();
		mutex_lock(&atomik_tables_lock);
	}
	mutex_unlock(&atomik_tables_lock);
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

u64 atomik_memory_limit(void)
{
	return READ_ONCE(atomik_memory_cap);
}

/* sysfs: how many tables and how much memory, and the limits on both. */
static ssize_t nr_tables_show(struct device *dev, struct device_attribute *attr,
			      char *buf)
{
	return sysfs_emit(buf, "%u\n", atomik_nr_tables());
}
static DEVICE_ATTR_RO(nr_tables);

static ssize_t memory_bytes_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", atomik_memory_used());
}
static DEVICE_ATTR_RO(memory_bytes);

/*
 * Byte limits, any number (decimal, 0x or 0 prefixed): memory_cap for all
 * tables, user_memory_cap for one user's; user_max_tables, how many tables
 * one user may hold (CAP_SYS_RESOURCE is not limited by the user's).
 */
ATOMIK_NUM_ATTR(memory_cap, atomik_memory_cap, 0, ULONG_MAX);
ATOMIK_NUM_ATTR(user_memory_cap, atomik_user_memory_cap, 0, ULONG_MAX);
ATOMIK_NUM_ATTR(user_max_tables, atomik_user_max_tables, 0, ATOMIK_MAX_TABLES - 1);

ATOMIK_ATTR_GROUP(atomik_engine, &dev_attr_nr_tables.attr, &dev_attr_memory_bytes.attr,
		  &dev_attr_memory_cap.attr, &dev_attr_user_memory_cap.attr,
		  &dev_attr_user_max_tables.attr);

int atomik_engine_init(u32 nr_addrs, u32 flags)
{
	struct atomik_table *t;

	atomik_wq = alloc_workqueue("atomik", 0, 0);
	if (!atomik_wq)
		return -ENOMEM;
	t = atomik_table_create(nr_addrs, flags, GLOBAL_ROOT_UID, true, true);
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
		mutex_lock(&atomik_tables_lock);
		atomik_table_unpublish(t);
		mutex_unlock(&atomik_tables_lock);
		atomik_table_kill(t);
	}
	wait_event(atomik_tables_gone, atomic_read(&atomik_tables_alive) == 0);
	destroy_workqueue(atomik_wq);
	xa_destroy(&atomik_tables);
	WARN_ON_ONCE(!xa_empty(&atomik_users));
	xa_destroy(&atomik_users);
}
