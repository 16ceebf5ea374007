// SPDX-License-Identifier: GPL-2.0
/*
 * ATOMiK: a shared bank of 64-bit XOR accumulators behind /dev/atomik.
 *
 * Module parameters, the misc device and its file operations.
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/slab.h>

#include "atomik.h"
#include "compat.h"
#include "fpga.h"
#include "debug.h"

static unsigned int nr_addrs = 4096;
module_param(nr_addrs, uint, 0444);
MODULE_PARM_DESC(nr_addrs, "Addresses in table 0 (1 to 16777216, default 4096)");

static bool replicated;
module_param(replicated, bool, 0444);
MODULE_PARM_DESC(replicated,
		 "Table 0 is replicated: it has a remote row, set by a cluster daemon (default no)");

/*
 * What an open file of /dev/atomik holds: the table it works on, the
 * mappings of that table's rows made through it (the table stays selected
 * while there is any), and the tables created through it with
 * ATOMIK_TABLE_DESTROY_ON_CLOSE and not destroyed yet (a users reference
 * each; the engine keeps the list, see atomik_table_own()), destroyed when
 * it is released.
 */
struct atomik_file {
	struct atomik_table __rcu *table;
	struct mutex select_lock;	/* serializes changes of table */
	atomic_t maps;			/* mappings, counted from 0 under select_lock */
	struct list_head owned;
};

static int atomik_open(struct inode *inode, struct file *file)
{
	struct atomik_file *af;
	struct atomik_table *t;

	af = kzalloc(sizeof(*af), GFP_KERNEL_ACCOUNT);
	if (!af)
		return -ENOMEM;
	t = atomik_table_lookup(0);
	if (!t) {
		kfree(af);
		return -ENODEV;
	}
	mutex_init(&af->select_lock);
	atomic_set(&af->maps, 0);
	INIT_LIST_HEAD(&af->owned);
	RCU_INIT_POINTER(af->table, t);
	file->private_data = af;
	return 0;
}

static int atomik_release(struct inode *inode, struct file *file)
{
	struct atomik_file *af = file->private_data;

	atomik_table_destroy_owned(&af->owned);
	atomik_table_put(rcu_dereference_protected(af->table, 1));
	mutex_destroy(&af->select_lock);
	kfree(af);
	return 0;
}

/*
 * The descriptor's table with an active reference, or NULL if it was
 * destroyed.  Drop with percpu_ref_put(&t->active).
 */
struct atomik_table *atomik_file_table(struct file *file)
{
	struct atomik_file *af = file->private_data;
	struct atomik_table *t;

	rcu_read_lock();
	t = rcu_dereference(af->table);
	if (!percpu_ref_tryget_live(&t->active))
		t = NULL;
	rcu_read_unlock();
	return t;
}

/* Has the descriptor's open file a mapping of its table? */
bool atomik_file_mapped(struct file *file)
{
	struct atomik_file *af = file->private_data;

	return atomic_read(&af->maps);
}

/*
 * Make t (a users reference, consumed on success) the descriptor's table;
 * -EBUSY while the file has a mapping of its table, which a library falls
 * back on with the descriptor's own commands.
 */
int atomik_file_select(struct file *file, struct atomik_table *t)
{
	struct atomik_file *af = file->private_data;
	struct atomik_table *old;

	mutex_lock(&af->select_lock);
	if (atomic_read(&af->maps)) {
		mutex_unlock(&af->select_lock);
		return -EBUSY;
	}
	old = rcu_replace_pointer(af->table, t, lockdep_is_held(&af->select_lock));
	mutex_unlock(&af->select_lock);
	atomik_table_put(old);
	return 0;
}

/* Destroy t when the file is released, unless it is destroyed before. */
void atomik_file_own(struct file *file, struct atomik_table *t)
{
	struct atomik_file *af = file->private_data;

	atomik_table_own(t, &af->owned);
}

/*
 * May this descriptor change t?  It must be open for writing (-EBADF).
 * Table 0 is shared: the device node's permissions decide who writes it.
 * Any other table is written and destroyed only through descriptors opened
 * by its creator (same fsuid) or by a holder of CAP_SYS_ADMIN (-EPERM);
 * anyone who can open the device may read it.  The opener's credentials are
 * used, not the caller's, so that passing a descriptor on grants no more
 * than it had.  With t NULL (a table yet to be made) only the mode counts.
 */
int atomik_file_may_write(struct file *file, struct atomik_table *t)
{
	if (!(file->f_mode & FMODE_WRITE))
		return -EBADF;
	if (!t || t->public || uid_eq(file->f_cred->fsuid, t->owner) ||
	    file_ns_capable(file, &init_user_ns, CAP_SYS_ADMIN))
		return 0;
	return -EPERM;
}

/* One more mapping of t's rows: its writers are not in the change set. */
static void atomik_table_mapped(struct atomik_table *t)
{
	atomic_inc(&t->maps);
	smp_mb__after_atomic();	/* counted before marked (atomik_changes_take()) */
	set_bit(ATOMIK_CHANGES_MAPPED, &t->change_flags);
}

/*
 * A mapping of a table's CPU rows (see uapi/linux/atomik.h) holds an active
 * reference on the table, taken again for each copy of the mapping (fork,
 * a split by munmap() or mremap()) and dropped as each goes: the rows live
 * until the last one goes, even once the table is destroyed.  It also
 * counts in its file's maps, so that the file's table stays selected.
 */
static void atomik_vma_open(struct vm_area_struct *vma)
{
	struct atomik_file *af = vma->vm_file->private_data;
	struct atomik_table *t = vma->vm_private_data;

	percpu_ref_get(&t->active);
	atomic_inc(&af->maps);
	atomik_table_mapped(t);
}

static void atomik_vma_close(struct vm_area_struct *vma)
{
	struct atomik_file *af = vma->vm_file->private_data;
	struct atomik_table *t = vma->vm_private_data;

	atomic_dec(&af->maps);
	atomic_dec(&t->maps);
	percpu_ref_put(&t->active);
}

static vm_fault_t atomik_vma_fault(struct vm_fault *vmf)
{
	struct page *page = atomik_map_page(vmf->vma->vm_private_data, vmf->pgoff);

	if (!page)
		return VM_FAULT_SIGBUS;
	get_page(page);
	vmf->page = page;
	return 0;
}

static const struct vm_operations_struct atomik_vm_ops = {
	.open	= atomik_vma_open,
	.close	= atomik_vma_close,
	.fault	= atomik_vma_fault,
};

/*
 * mmap() of the current table's CPU rows, whole, shared, through a
 * descriptor that may write the table: -EACCES (not opened for writing),
 * -ENODEV (the table was destroyed), -EPERM (another user's table), -EINVAL
 * (not MAP_SHARED, an offset, or another length than the rows').
 */
static int atomik_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct atomik_file *af = file->private_data;
	struct atomik_table *t;
	int ret;

	if (!(file->f_mode & FMODE_WRITE))
		return -EACCES;
	mutex_lock(&af->select_lock);
	t = atomik_file_table(file);
	if (!t) {
		mutex_unlock(&af->select_lock);
		return -ENODEV;
	}
	ret = atomik_file_may_write(file, t);
	if (!ret && (!(vma->vm_flags & VM_SHARED) || vma->vm_pgoff ||
		     vma_pages(vma) != t->map_nr_pages))
		ret = -EINVAL;
	if (ret) {
		mutex_unlock(&af->select_lock);
		percpu_ref_put(&t->active);
		return ret;
	}
	atomic_inc(&af->maps);
	atomik_table_mapped(t);
	mutex_unlock(&af->select_lock);
	/* The active reference is the mapping's from now on. */
	vma->vm_private_data = t;
	vma->vm_ops = &atomik_vm_ops;
	atomik_vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
	return 0;
}

/*
 * poll(): EPOLLIN while the current table's change set (ATOMIK_IOC_CHANGES)
 * is not empty; EPOLLERR on a table that is not replicated, EPOLLHUP too
 * once the table is destroyed.
 */
static __poll_t atomik_poll(struct file *file, poll_table *wait)
{
	struct atomik_file *af = file->private_data;
	struct atomik_table *t;
	__poll_t mask = 0;

	mutex_lock(&af->select_lock);
	t = rcu_dereference_protected(af->table, lockdep_is_held(&af->select_lock));
	poll_wait(file, &atomik_changes_wq, wait);
	if (percpu_ref_is_dying(&t->active))
		mask = EPOLLERR | EPOLLHUP;
	else if (!t->tracked)
		mask = EPOLLERR;
	else if (test_bit(ATOMIK_CHANGES_PENDING, &t->change_flags))
		mask = EPOLLIN | EPOLLRDNORM;
	mutex_unlock(&af->select_lock);
	return mask;
}

static const struct file_operations atomik_fops = {
	.owner		= THIS_MODULE,
	.open		= atomik_open,
	.release	= atomik_release,
	.unlocked_ioctl	= atomik_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.uring_cmd	= atomik_uring_cmd,
	.mmap		= atomik_mmap,
	.poll		= atomik_poll,
};

static struct miscdevice atomik_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "atomik",
	.fops	= &atomik_fops,
	.groups	= atomik_groups,
};

static int __init atomik_init(void)
{
	int ret;

	atomik_debug_init_mark(ATOMIK_DEBUG_INIT_START);
	if (nr_addrs == 0 || nr_addrs > ATOMIK_MAX_ADDRS) {
		pr_err("atomik: nr_addrs=%u is out of range (1 to %u)\n",
		       nr_addrs, ATOMIK_MAX_ADDRS);
		return -EINVAL;
	}
	ret = atomik_engine_init(nr_addrs, replicated ? ATOMIK_TABLE_REPLICATED : 0);
	if (ret) {
		pr_err("atomik: cannot create table 0 with %u addresses: %d\n",
		       nr_addrs, ret);
		return ret;
	}
	atomik_debug_init_mark(ATOMIK_DEBUG_INIT_DRIVER);
	ret = atomik_debug_fail_driver() ? -ENOMEM : atomik_fpga_init();
	if (ret)
		goto err_engine;
	/*
	 * The device node comes last: once it exists a process may open it
	 * and hold table 0, and nothing may fail after that.
	 */
	atomik_debug_init_mark(ATOMIK_DEBUG_INIT_NODE);
	ret = misc_register(&atomik_misc);
	if (ret)
		goto err_fpga;
	atomik_debug_delay(ATOMIK_DEBUG_DEVICE_NODE);
	atomik_debug_init_mark(ATOMIK_DEBUG_INIT_DONE);
	return 0;

err_fpga:
	atomik_fpga_exit();
err_engine:
	atomik_engine_exit();
	return ret;
}

static void __exit atomik_exit(void)
{
	atomik_fpga_exit();
	misc_deregister(&atomik_misc);
	atomik_engine_exit();
	atomik_cmd_exit();
}

module_init(atomik_init);
module_exit(atomik_exit);
MODULE_DESCRIPTION("ATOMiK shared XOR accumulator bank");
MODULE_LICENSE("GPL");
