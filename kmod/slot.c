// SPDX-License-Identifier: GPL-2.0
/*
 * Table 0's external slot (slot.h): which deltas go to it, its value folded
 * into loads, swaps and reads, and its arrival and departure.  The backend
 * (fpga.c) never calls into the engine; everything it is asked to do comes
 * from here, one call at a time.
 */
#include <linux/device.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/sched.h>
#include <linux/string.h>
#include <linux/sysfs.h>

#include "atomik.h"
#include "debug.h"
#include "slot.h"

/*
 * atomik_ext_sem orders the slot's arrival and departure against every
 * operation that uses it (readers), so that a departing slot is folded into
 * the CPU slots between operations, never during one; atomik_ext_present
 * lets table 0 skip the semaphore while there is none.  atomik_ext.lock
 * serializes the calls into the backend.
 */
static DECLARE_RWSEM(atomik_ext_sem);
static bool atomik_ext_present;

static struct {
	const struct atomik_ext_ops *ops;	/* NULL: no slot */
	void *priv;
	u32 nr_addrs;		/* table 0's addresses it holds: 0 to nr_addrs - 1 */
	bool failed;		/* it stopped answering: it is dropped; set
				 * under lock, read without it too (with
				 * atomik_ext_sem held, which orders attach
				 * and detach), so with READ_ONCE()
				 */
	struct mutex lock;
	char name[32];
} atomik_ext = { .lock = __MUTEX_INITIALIZER(atomik_ext.lock) };

static enum atomik_backend atomik_backend = ATOMIK_BACKEND_AUTO;
static unsigned int atomik_ext_threshold = 256;
static atomic64_t atomik_ext_deltas = ATOMIC64_INIT(0);
static atomic64_t atomik_ext_batches = ATOMIC64_INIT(0);
static atomic_t atomik_ext_failures = ATOMIC_INIT(0);

/* A call into the backend failed: drop the slot.  Under atomik_ext.lock. */
static void atomik_ext_fail(const char *what)
{
	lockdep_assert_held(&atomik_ext.lock);
	if (atomik_ext.failed)
		return;
	WRITE_ONCE(atomik_ext.failed, true);
	atomic_inc(&atomik_ext_failures);
	WRITE_ONCE(atomik_ext_present, false);
	atomik_ext.ops->failed(atomik_ext.priv, what);
}

/* Only table 0 has the slot. */
static bool atomik_ext_of(struct atomik_table *t)
{
	return t->id == 0 && READ_ONCE(atomik_ext_present);
}

/*
 * Does the slot take these deltas?  Only addresses it holds, and as the
 * policy says: everything (fpga) or batches of at least the threshold (auto).
 */
static bool atomik_ext_wants(const struct atomik_delta *d, u32 n)
{
	u32 i;

	switch (READ_ONCE(atomik_backend)) {
	case ATOMIK_BACKEND_CPU:
		return false;
	case ATOMIK_BACKEND_AUTO:
		if (n < READ_ONCE(atomik_ext_threshold))
			return false;
		break;
	case ATOMIK_BACKEND_FPGA:
		break;
	}
	for (i = 0; i < n; i++)
		if (d[i].addr >= atomik_ext.nr_addrs)
			return false;
	return true;
}

/* Hand n deltas of t to the slot; false if they are the CPU slots' to take. */
bool atomik_ext_accum(struct atomik_table *t, const struct atomik_delta *d, u32 n)
{
	bool taken = false;

	if (!atomik_ext_of(t) || READ_ONCE(atomik_backend) == ATOMIK_BACKEND_CPU)
		return false;
	down_read(&atomik_ext_sem);
	if (atomik_ext.ops && !READ_ONCE(atomik_ext.failed) && atomik_ext_wants(d, n)) {
		mutex_lock(&atomik_ext.lock);
		if (!atomik_ext.failed) {
			if (atomik_ext.ops->push(atomik_ext.priv, d, n))
				atomik_ext_fail("ring");
			else
				taken = true;
		}
		mutex_unlock(&atomik_ext.lock);
	}
	up_read(&atomik_ext_sem);
	if (taken) {
		atomic64_add(n, &atomik_ext_deltas);
		atomic64_inc(&atomik_ext_batches);
	}
	return taken;
}

/*
 * The slot's part of an address's state, 0 when it has none.  Until
 * atomik_ext_release(), the slot can neither arrive nor leave, and when it
 * holds addr its lock is held: no delta reaches it and no other operation
 * reads or sets it meanwhile.
 */
u64 atomik_ext_hold(struct atomik_table *t, u32 addr, struct atomik_ext_hold *h)
{
	u64 v = 0;

	h->sem = false;
	h->locked = false;
	if (!atomik_ext_of(t))
		return 0;
	down_read(&atomik_ext_sem);
	h->sem = true;
	if (!atomik_ext.ops || addr >= atomik_ext.nr_addrs)
		return 0;
	mutex_lock(&atomik_ext.lock);
	h->locked = true;
	if (!atomik_ext.failed && atomik_ext.ops->read(atomik_ext.priv, addr, &v))
		atomik_ext_fail("read");
	atomik_debug_delay(ATOMIK_DEBUG_DEVICE_READ);
	return atomik_ext.failed ? 0 : v;
}

/*
 * The caller folds the value hold() returned into the table (a load or a
 * swap): the slot's accumulator starts again from 0.  If that fails the
 * slot is dropped, and reads as 0 too.
 */
void atomik_ext_take(struct atomik_ext_hold *h, u32 addr)
{
	if (h->locked && !atomik_ext.failed &&
	    atomik_ext.ops->zero(atomik_ext.priv, addr))
		atomik_ext_fail("load");
}

void atomik_ext_release(struct atomik_ext_hold *h)
{
	if (h->locked)
		mutex_unlock(&atomik_ext.lock);
	if (h->sem)
		up_read(&atomik_ext_sem);
}

/* A slot is attached, working or not: table 0's calls may wait for it. */
bool atomik_ext_attached(void)
{
	return READ_ONCE(atomik_ext_present);
}

/*
 * A backend arrives with a slot of nr_addrs accumulators, all 0; it will
 * hold table 0's first addresses (as many as both have), which it returns,
 * or -EBUSY if another slot is attached.
 */
int atomik_ext_attach(const struct atomik_ext_ops *ops, void *priv, u32 nr_addrs,
		      const char *name)
{
	u32 n = min(nr_addrs, atomik_table0_nr_addrs());

	down_write(&atomik_ext_sem);
	if (atomik_ext.ops) {
		up_write(&atomik_ext_sem);
		return -EBUSY;
	}
	atomik_ext.ops = ops;
	atomik_ext.priv = priv;
	atomik_ext.nr_addrs = n;
	atomik_ext.failed = false;
	strscpy(atomik_ext.name, name, sizeof(atomik_ext.name));
	WRITE_ONCE(atomik_ext_present, true);
	up_write(&atomik_ext_sem);
	return n;
}

/*
 * The backend leaves: with every operation kept out (they wait on the
 * semaphore, which they take while the slot is present, and it stays
 * present until the end), read each accumulator back and fold it into the
 * CPU slots of table 0, which keeps every state as it was.  A slot that
 * does not answer loses what it held: true then.  *folded: how many
 * accumulators were not 0.
 */
bool atomik_ext_detach(void *priv, u32 *folded)
{
	struct atomik_table *t0 = atomik_table_get_active(0);
	bool failed;
	u32 addr;
	u64 v;

	*folded = 0;
	down_write(&atomik_ext_sem);
	if (WARN_ON_ONCE(atomik_ext.priv != priv)) {
		up_write(&atomik_ext_sem);
		failed = true;
		goto out;
	}
	mutex_lock(&atomik_ext.lock);
	for (addr = 0; t0 && !atomik_ext.failed && addr < atomik_ext.nr_addrs; addr++) {
		atomik_debug_delay(ATOMIK_DEBUG_UNBIND_FOLD);
		if (atomik_ext.ops->read(priv, addr, &v)) {
			atomik_ext_fail("unbind");
			break;
		}
		if (v) {
			atomik_absorb(t0, addr, v);
			(*folded)++;
		}
		cond_resched();
	}
	failed = atomik_ext.failed;
	mutex_unlock(&atomik_ext.lock);
	WRITE_ONCE(atomik_ext_present, false);
	atomik_ext.ops = NULL;
	atomik_ext.priv = NULL;
	atomik_ext.failed = false;
	up_write(&atomik_ext_sem);
out:
	if (t0)
		percpu_ref_put(&t0->active);
	return failed;
}

/* sysfs backend_active: which slots take deltas, in words. */
static ssize_t atomik_ext_describe(char *buf)
{
	ssize_t n;

	down_read(&atomik_ext_sem);
	if (atomik_ext.ops && !READ_ONCE(atomik_ext.failed))
		n = sysfs_emit(buf, "%s %s\n", atomik_ext.ops->kind, atomik_ext.name);
	else if (atomik_ext.ops)
		n = sysfs_emit(buf, "cpu (%s %s failed)\n", atomik_ext.ops->kind,
			       atomik_ext.name);
	else
		n = sysfs_emit(buf, "cpu\n");
	up_read(&atomik_ext_sem);
	return n;
}

/* sysfs: the policy, its threshold, what is active, and the counters. */
static const char *const atomik_backend_names[] = {
	[ATOMIK_BACKEND_AUTO] = "auto",
	[ATOMIK_BACKEND_CPU] = "cpu",
	[ATOMIK_BACKEND_FPGA] = "fpga",
};

static ssize_t backend_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", atomik_backend_names[READ_ONCE(atomik_backend)]);
}

static ssize_t backend_store(struct device *dev, struct device_attribute *attr,
			     const char *buf, size_t len)
{
	int i = sysfs_match_string(atomik_backend_names, buf);

	if (i < 0)
		return -EINVAL;
	WRITE_ONCE(atomik_backend, i);
	return len;
}
static DEVICE_ATTR_RW(backend);

static ssize_t backend_active_show(struct device *dev, struct device_attribute *attr,
				   char *buf)
{
	return atomik_ext_describe(buf);
}
static DEVICE_ATTR_RO(backend_active);

ATOMIK_NUM_ATTR(fpga_threshold, atomik_ext_threshold, 1, ATOMIK_MAX_BATCH);

/* What the engine handed to the slot, and how often it was dropped. */
static ssize_t fpga_deltas_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lld\n", (long long)atomic64_read(&atomik_ext_deltas));
}
static DEVICE_ATTR_RO(fpga_deltas);

static ssize_t fpga_batches_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lld\n", (long long)atomic64_read(&atomik_ext_batches));
}
static DEVICE_ATTR_RO(fpga_batches);

static ssize_t fpga_failures_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", atomic_read(&atomik_ext_failures));
}
static DEVICE_ATTR_RO(fpga_failures);

ATOMIK_ATTR_GROUP(atomik_ext, &dev_attr_backend.attr, &dev_attr_backend_active.attr,
		  &dev_attr_fpga_threshold.attr, &dev_attr_fpga_deltas.attr,
		  &dev_attr_fpga_batches.attr, &dev_attr_fpga_failures.attr);
