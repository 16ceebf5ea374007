// SPDX-License-Identifier: GPL-2.0
/*
 * The FPGA accelerator as one more slot of table 0: a pci_driver for the
 * device of Documentation/atomik/fpga.rst.  Deltas for addresses the device
 * holds go into its descriptor ring when the backend policy says so; a read
 * of such an address drains the ring and folds the device's accumulator in
 * with the CPU slots.  On unbind the ring is drained, every accumulator is
 * read back and folded into the CPU slots, so no delta is lost; a device
 * that stops answering is dropped after a timeout, and what it held is lost
 * (the document says what).
 */
#include <linux/bitfield.h>
#include <linux/delay.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/rwsem.h>
#include <linux/sched.h>

#include "atomik.h"
#include "atomik_fpga_regs.h"
#include "compat.h"
#include "debug.h"
#include "trace/atomik.h"

#define ATOMIK_FPGA_RING_OFFSET	0x1000

/* Placeholder IDs for a board (none is assigned yet); under co-simulation
 * the device is QEMU's ivshmem-plain, bound through driver_override.
 */
#define ATOMIK_PCI_VENDOR	0x1d6c
#define ATOMIK_PCI_DEVICE	0xa70e
#define IVSHMEM_VENDOR		0x1af4
#define IVSHMEM_DEVICE		0x1110

struct atomik_fpga {
	struct pci_dev *pdev;
	void __iomem *regs;
	void __iomem *ring;
	u32 naddrs;
	u32 ring_mask;
	u32 tail;		/* the host's copy of RING_TAIL */
	struct mutex lock;	/* the ring and the command registers */
	bool irq;		/* MSI-X or MSI: the ring running dry wakes waiters */
	wait_queue_head_t wq;
};

/*
 * atomik_fpga_sem orders the device's arrival and departure against every
 * operation that uses it (readers), so that an unbind folds the device into
 * the CPU slots between operations, never during one.  atomik_fpga_present
 * lets table 0 skip the semaphore while there is no device.
 */
static DECLARE_RWSEM(atomik_fpga_sem);
static struct atomik_fpga *atomik_fpga_dev;	/* under atomik_fpga_sem */
static bool atomik_fpga_present;

enum atomik_backend atomik_backend = ATOMIK_BACKEND_AUTO;
unsigned int atomik_fpga_threshold = 256;
atomic64_t atomik_fpga_deltas = ATOMIC64_INIT(0);
atomic64_t atomik_fpga_batches = ATOMIC64_INIT(0);
atomic_t atomik_fpga_failures = ATOMIC_INIT(0);
atomic64_t atomik_fpga_interrupts = ATOMIC64_INIT(0);
static char atomik_fpga_name[32];

static unsigned int fpga_timeout_ms = 5000;
module_param(fpga_timeout_ms, uint, 0644);
MODULE_PARM_DESC(fpga_timeout_ms,
		 "How long the accelerator may take to answer before it is dropped (ms, default 5000)");
static bool atomik_fpga_failed;

static u32 fpga_rd(struct atomik_fpga *f, u32 off)
{
	return readl(f->regs + off);
}

static void fpga_wr(struct atomik_fpga *f, u32 off, u32 v)
{
	writel(v, f->regs + off);
}

/*
 * Wait until (reg & mask) == want.  With an interrupt, the ring running dry
 * wakes the waiter (a millisecond bounds a wait the interrupt does not end,
 * such as a command's); without one, poll, sleeping between reads.
 */
static int fpga_wait(struct atomik_fpga *f, u32 off, u32 mask, u32 want)
{
	unsigned long deadline = jiffies + msecs_to_jiffies(READ_ONCE(fpga_timeout_ms));
	unsigned int spins = 0;
	u32 v;

	while (((v = fpga_rd(f, off)) & mask) != want) {
		/* No register the driver waits on reads all ones: a device
		 * that does is gone (surprise removal, a dead link).
		 */
		if (v == U32_MAX)
			return -ENODEV;
		if (time_after(jiffies, deadline))
			return -ETIMEDOUT;
		if (++spins <= 64)
			cpu_relax();
		else if (f->irq)
			wait_event_timeout(f->wq, (fpga_rd(f, off) & mask) == want,
					   msecs_to_jiffies(1));
		else
			usleep_range(10, 50);
	}
	return 0;
}

static irqreturn_t fpga_interrupt(int irq, void *data)
{
	struct atomik_fpga *f = data;

	atomic64_inc(&atomik_fpga_interrupts);
	wake_up(&f->wq);
	return IRQ_HANDLED;
}

/*
 * MSI-X or MSI when the device has it: the interrupt says the ring ran dry.
 * A message interrupt needs no acknowledgment here (the endpoint clears
 * IRQ_STATUS when it sends the message).  Without one the driver polls.
 */
static void fpga_setup_irq(struct atomik_fpga *f)
{
	struct pci_dev *pdev = f->pdev;
	int ret;

	init_waitqueue_head(&f->wq);
	/* A message interrupt is a memory write by the device. */
	pci_set_master(pdev);
	ret = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSIX | PCI_IRQ_MSI);
	if (ret < 0)
		goto polled;
	ret = devm_request_irq(&pdev->dev, pci_irq_vector(pdev, 0), fpga_interrupt, 0,
			       "atomik", f);
	if (ret) {
		pci_free_irq_vectors(pdev);
		goto polled;
	}
	f->irq = true;
	return;
polled:
	/* The ring is in the BAR: a polled device never masters the bus. */
	pci_clear_master(pdev);
}

/* Everything before the last doorbell applied. */
static int fpga_drain(struct atomik_fpga *f)
{
	int ret = fpga_wait(f, ATOMIK_FPGA_RING_HEAD, U32_MAX, f->tail);

	return ret ?: fpga_wait(f, ATOMIK_FPGA_STATUS, ATOMIK_FPGA_STATUS_BUSY, 0);
}

static int fpga_read_acc(struct atomik_fpga *f, u32 addr, u64 *v)
{
	int ret = fpga_drain(f);

	ret = ret ?: fpga_wait(f, ATOMIK_FPGA_CMD, U32_MAX, 0);
	if (ret)
		return ret;
	fpga_wr(f, ATOMIK_FPGA_CMD_ADDR, addr);
	fpga_wr(f, ATOMIK_FPGA_CMD, 2);
	ret = fpga_wait(f, ATOMIK_FPGA_CMD, U32_MAX, 0);
	if (ret)
		return ret;
	*v = fpga_rd(f, ATOMIK_FPGA_RD_DATA_LO) |
	     (u64)fpga_rd(f, ATOMIK_FPGA_RD_DATA_HI) << 32;
	return 0;
}

/* Set one accumulator (the ring was drained by the read before). */
static int fpga_write_acc(struct atomik_fpga *f, u32 addr, u64 v)
{
	int ret = fpga_wait(f, ATOMIK_FPGA_CMD, U32_MAX, 0);

	if (ret)
		return ret;
	fpga_wr(f, ATOMIK_FPGA_CMD_ADDR, addr);
	fpga_wr(f, ATOMIK_FPGA_CMD_DATA_LO, lower_32_bits(v));
	fpga_wr(f, ATOMIK_FPGA_CMD_DATA_HI, upper_32_bits(v));
	fpga_wr(f, ATOMIK_FPGA_CMD, 1);
	return fpga_wait(f, ATOMIK_FPGA_CMD, U32_MAX, 0);
}

/* The device stopped answering: drop it.  Called with the lock held. */
static void fpga_failed(struct atomik_fpga *f, const char *what)
{
	if (atomik_fpga_failed)
		return;
	atomik_fpga_failed = true;
	atomic_inc(&atomik_fpga_failures);
	trace_atomik_fpga_failure(what);
	WRITE_ONCE(atomik_fpga_present, false);
	dev_err(&f->pdev->dev,
		"no answer from the device within %d ms (%s): it is dropped, the CPU slots take every delta from now on; deltas it had accepted and not returned are lost\n",
		READ_ONCE(fpga_timeout_ms), what);
}

/* Write n entries into the ring, waiting for room; one doorbell per run. */
static int fpga_push(struct atomik_fpga *f, const struct atomik_delta *d, u32 n)
{
	u32 i = 0, head, room, k;

	while (i < n) {
		unsigned long deadline = jiffies + msecs_to_jiffies(READ_ONCE(fpga_timeout_ms));

		for (;;) {
			head = fpga_rd(f, ATOMIK_FPGA_RING_HEAD);
			if (head == U32_MAX)	/* gone: see fpga_wait() */
				return -ENODEV;
			room = (head - f->tail - 1) & f->ring_mask;
			if (room)
				break;
			if (time_after(jiffies, deadline))
				return -ETIMEDOUT;
			usleep_range(10, 50);
		}
		for (k = 0; k < room && i < n; k++, i++) {
			void __iomem *e = f->ring + (size_t)f->tail * 16;

			writeq((u64)d[i].addr, e);
			writeq(d[i].delta, e + 8);
			f->tail = (f->tail + 1) & f->ring_mask;
		}
		fpga_wr(f, ATOMIK_FPGA_RING_TAIL, f->tail);
	}
	return 0;
}

/*
 * Does the device take these deltas?  Only table 0's, only addresses it
 * holds, and as the policy says: everything (fpga) or batches of at least
 * the threshold (auto).
 */
static bool fpga_wants(const struct atomik_delta *d, u32 n, struct atomik_fpga *f)
{
	u32 i;

	switch (READ_ONCE(atomik_backend)) {
	case ATOMIK_BACKEND_CPU:
		return false;
	case ATOMIK_BACKEND_AUTO:
		if (n < READ_ONCE(atomik_fpga_threshold))
			return false;
		break;
	case ATOMIK_BACKEND_FPGA:
		break;
	}
	for (i = 0; i < n; i++)
		if (d[i].addr >= f->naddrs)
			return false;
	return true;
}

bool atomik_fpga_accum(struct atomik_table *t, const struct atomik_delta *d, u32 n)
{
	struct atomik_fpga *f;
	bool taken = false;

	if (!t->shared || !READ_ONCE(atomik_fpga_present) ||
	    READ_ONCE(atomik_backend) == ATOMIK_BACKEND_CPU)
		return false;
	down_read(&atomik_fpga_sem);
	f = atomik_fpga_dev;
	if (f && !atomik_fpga_failed && fpga_wants(d, n, f)) {
		mutex_lock(&f->lock);
		if (!atomik_fpga_failed) {
			if (fpga_push(f, d, n)) {
				fpga_failed(f, "ring");
			} else {
				taken = true;
				trace_atomik_fpga_push(n, f->tail);
			}
		}
		mutex_unlock(&f->lock);
	}
	up_read(&atomik_fpga_sem);
	if (taken) {
		atomic64_add(n, &atomik_fpga_deltas);
		atomic64_inc(&atomik_fpga_batches);
	}
	return taken;
}

/*
 * The device's part of an address's state, 0 when it has none.  Until
 * atomik_fpga_release(), the device can neither arrive nor leave, and when
 * it holds addr its lock is held: no delta reaches it and no other
 * operation reads or sets it meanwhile.
 */
u64 atomik_fpga_hold(struct atomik_table *t, u32 addr, struct atomik_fpga_hold *h)
{
	struct atomik_fpga *f;
	u64 v = 0;

	h->sem = false;
	h->f = NULL;
	if (!t->shared || !READ_ONCE(atomik_fpga_present))
		return 0;
	down_read(&atomik_fpga_sem);
	h->sem = true;
	f = atomik_fpga_dev;
	if (!f || addr >= f->naddrs)
		return 0;
	mutex_lock(&f->lock);
	h->f = f;
	if (!atomik_fpga_failed && fpga_read_acc(f, addr, &v))
		fpga_failed(f, "read");
	atomik_debug_delay(ATOMIK_DEBUG_DEVICE_READ);
	return atomik_fpga_failed ? 0 : v;
}

/*
 * The caller folds the value hold() returned into the table (a load or a
 * swap): the device's accumulator starts again from 0.  If that fails the
 * device is dropped, and reads as 0 too.
 */
void atomik_fpga_take(struct atomik_fpga_hold *h, u32 addr)
{
	struct atomik_fpga *f = h->f;

	if (f && !atomik_fpga_failed && fpga_write_acc(f, addr, 0))
		fpga_failed(f, "load");
}

void atomik_fpga_release(struct atomik_fpga_hold *h)
{
	if (h->f)
		mutex_unlock(&h->f->lock);
	if (h->sem)
		up_read(&atomik_fpga_sem);
}

bool atomik_fpga_active(void)
{
	return READ_ONCE(atomik_fpga_present);
}

/* sysfs: which backend is active, in words. */
ssize_t atomik_fpga_describe(char *buf)
{
	ssize_t n;

	down_read(&atomik_fpga_sem);
	if (atomik_fpga_dev && !atomik_fpga_failed)
		n = sysfs_emit(buf, "fpga %s\n", atomik_fpga_name);
	else if (atomik_fpga_dev)
		n = sysfs_emit(buf, "cpu (fpga %s failed)\n", atomik_fpga_name);
	else
		n = sysfs_emit(buf, "cpu\n");
	up_read(&atomik_fpga_sem);
	return n;
}

/* The device's own counters, for sysfs; 0 without a working device. */
u64 atomik_fpga_hw_counter(u32 off_lo, u32 off_hi)
{
	struct atomik_fpga *f;
	u64 v = 0;

	down_read(&atomik_fpga_sem);
	f = atomik_fpga_dev;
	if (f && !atomik_fpga_failed) {
		u32 hi = off_hi ? fpga_rd(f, off_hi) : 0, hi2;

		/* The low half may carry into the high one between reads. */
		for (;;) {
			v = fpga_rd(f, off_lo);
			if (!off_hi)
				break;
			hi2 = fpga_rd(f, off_hi);
			if (hi2 == hi)
				break;
			hi = hi2;
		}
		v |= (u64)hi << 32;
	}
	up_read(&atomik_fpga_sem);
	return v;
}

static int atomik_fpga_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	int bar = pdev->vendor == IVSHMEM_VENDOR && pdev->device == IVSHMEM_DEVICE ? 2 : 0;
	struct atomik_fpga *f;
	u32 caps, order, naddrs;
	int ret;

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	if (!(pci_resource_flags(pdev, bar) & IORESOURCE_MEM) ||
	    pci_resource_len(pdev, bar) < ATOMIK_FPGA_RING_OFFSET * 2) {
		dev_err(&pdev->dev, "BAR %d is not a memory BAR of at least %u bytes\n",
			bar, ATOMIK_FPGA_RING_OFFSET * 2);
		return -ENODEV;
	}
	f = devm_kzalloc(&pdev->dev, sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	f->regs = atomik_pcim_iomap(pdev, bar, "atomik");
	if (IS_ERR(f->regs))
		return PTR_ERR(f->regs);
	f->pdev = pdev;
	mutex_init(&f->lock);
	if (fpga_rd(f, ATOMIK_FPGA_ID) != 0x41544d4b ||
	    fpga_rd(f, ATOMIK_FPGA_VERSION) >> 16 != 1) {
		dev_err(&pdev->dev, "not an ATOMiK 1.x device (ID %#x, version %#x)\n",
			fpga_rd(f, ATOMIK_FPGA_ID), fpga_rd(f, ATOMIK_FPGA_VERSION));
		return -ENODEV;
	}
	caps = fpga_rd(f, ATOMIK_FPGA_CAPS);
	order = FIELD_GET(ATOMIK_FPGA_CAPS_RING_ORDER, caps);
	naddrs = fpga_rd(f, ATOMIK_FPGA_NADDRS);
	if (order < 2 || order > 16 || !naddrs || naddrs > ATOMIK_MAX_ADDRS ||
	    ATOMIK_FPGA_RING_OFFSET + (16UL << order) > pci_resource_len(pdev, bar)) {
		dev_err(&pdev->dev, "unusable geometry: ring order %u, %u addresses\n",
			order, naddrs);
		return -ENODEV;
	}
	/* Only table 0's addresses ever reach the device, and only they are
	 * read back when it leaves.
	 */
	f->naddrs = min(naddrs, atomik_table0_nr_addrs());
	f->ring_mask = (1U << order) - 1;
	f->ring = f->regs + ATOMIK_FPGA_RING_OFFSET;

	/* A clean device: ring, counters and accumulators at 0. */
	fpga_wr(f, ATOMIK_FPGA_CTRL, ATOMIK_FPGA_CTRL_RESET);
	ret = fpga_wait(f, ATOMIK_FPGA_CTRL, ATOMIK_FPGA_CTRL_RESET, 0);
	ret = ret ?: fpga_wait(f, ATOMIK_FPGA_STATUS, ATOMIK_FPGA_STATUS_READY,
			       ATOMIK_FPGA_STATUS_READY);
	if (ret) {
		dev_err(&pdev->dev, "the device did not come out of reset\n");
		return -EIO;
	}
	f->tail = 0;
	fpga_wr(f, ATOMIK_FPGA_RING_TAIL, 0);
	fpga_setup_irq(f);
	fpga_wr(f, ATOMIK_FPGA_CTRL, ATOMIK_FPGA_CTRL_ENABLE |
		(f->irq ? ATOMIK_FPGA_CTRL_IRQ_EN : 0));

	down_write(&atomik_fpga_sem);
	if (atomik_fpga_dev) {
		up_write(&atomik_fpga_sem);
		dev_info(&pdev->dev, "another ATOMiK device is in use: not this one\n");
		return -EBUSY;
	}
	atomik_fpga_dev = f;
	atomik_fpga_failed = false;
	strscpy(atomik_fpga_name, pci_name(pdev), sizeof(atomik_fpga_name));
	WRITE_ONCE(atomik_fpga_present, true);
	up_write(&atomik_fpga_sem);
	pci_set_drvdata(pdev, f);
	trace_atomik_fpga_bind(f->naddrs, f->ring_mask + 1, f->irq);
	dev_info(&pdev->dev, "ATOMiK device: %u addresses (%u used), %u-entry ring, BAR %d, %s\n",
		 naddrs, f->naddrs, f->ring_mask + 1, bar,
		 !f->irq ? "polled" : pdev->msix_enabled ? "MSI-X" : "MSI");
	return 0;
}

/*
 * Unbind: with every operation kept out (they wait on the semaphore, which
 * they take while the device is present, and it stays present until the
 * end), drain the ring, read each accumulator back and fold it into the CPU
 * slots of table 0, which keeps every state as it was.  A device that does
 * not answer loses what it held.
 */
static void atomik_fpga_remove(struct pci_dev *pdev)
{
	struct atomik_fpga *f = pci_get_drvdata(pdev);
	struct atomik_table *t0 = atomik_table_get_active(0);
	u32 addr, folded = 0;
	u64 v;

	down_write(&atomik_fpga_sem);
	mutex_lock(&f->lock);
	for (addr = 0; t0 && !atomik_fpga_failed && addr < f->naddrs; addr++) {
		atomik_debug_delay(ATOMIK_DEBUG_UNBIND_FOLD);
		if (fpga_read_acc(f, addr, &v)) {
			fpga_failed(f, "unbind");
			break;
		}
		if (v) {
			atomik_absorb(t0, addr, v);
			folded++;
		}
		cond_resched();
	}
	if (!atomik_fpga_failed)
		fpga_wr(f, ATOMIK_FPGA_CTRL, 0);
	if (f->irq) {
		devm_free_irq(&pdev->dev, pci_irq_vector(pdev, 0), f);
		pci_free_irq_vectors(pdev);
	}
	mutex_unlock(&f->lock);
	trace_atomik_fpga_unbind(folded, atomik_fpga_failed);
	WRITE_ONCE(atomik_fpga_present, false);
	atomik_fpga_dev = NULL;
	atomik_fpga_failed = false;
	up_write(&atomik_fpga_sem);
	if (t0)
		percpu_ref_put(&t0->active);
	dev_info(&pdev->dev, "unbound; %u accumulators folded into the CPU slots\n", folded);
}

static const struct pci_device_id atomik_fpga_ids[] = {
	{ PCI_DEVICE(ATOMIK_PCI_VENDOR, ATOMIK_PCI_DEVICE) },
	{ }
};
MODULE_DEVICE_TABLE(pci, atomik_fpga_ids);

static struct pci_driver atomik_fpga_driver = {
	.name		= "atomik",
	.id_table	= atomik_fpga_ids,
	.probe		= atomik_fpga_probe,
	.remove		= atomik_fpga_remove,
};

int atomik_fpga_init(void)
{
	return pci_register_driver(&atomik_fpga_driver);
}

void atomik_fpga_exit(void)
{
	pci_unregister_driver(&atomik_fpga_driver);
}
