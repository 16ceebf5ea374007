// SPDX-License-Identifier: GPL-2.0
/*
 * The FPGA accelerator as table 0's external slot (slot.h): a pci_driver for
 * the device of Documentation/atomik/fpga.rst.  It offers the slot's
 * primitives: deltas into its descriptor ring, an accumulator read back
 * (after draining the ring) or set to 0.  The engine (slot.c) decides what
 * goes to it and folds it into the CPU slots on unbind, so no delta is
 * lost; a device that stops answering is dropped after a timeout, and what
 * it held is lost (the document says what).
 */
#include <linux/bitfield.h>
#include <linux/delay.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/rwsem.h>
#include <linux/sched.h>

#include "atomik_fpga_regs.h"
#include "compat.h"
#include "fpga.h"
#include "slot.h"
#include "trace/atomik.h"

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
	u32 ring_mask;
	u32 tail;		/* the host's copy of RING_TAIL */
	bool irq;		/* MSI-X or MSI: the ring running dry wakes waiters */
	bool dead;		/* dropped for not answering */
	wait_queue_head_t wq;
};

/* The bound device, for its sysfs counters. */
static DEFINE_MUTEX(atomik_fpga_lock);
static struct atomik_fpga *atomik_fpga_bound;	/* under atomik_fpga_lock */
static atomic64_t atomik_fpga_interrupts = ATOMIC64_INIT(0);

static unsigned int fpga_timeout_ms = 5000;
module_param(fpga_timeout_ms, uint, 0644);
MODULE_PARM_DESC(fpga_timeout_ms,
		 "How long the accelerator may take to answer before it is dropped (ms, default 5000)");

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
	fpga_wr(f, ATOMIK_FPGA_CMD, ATOMIK_FPGA_CMD_READ);
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
	fpga_wr(f, ATOMIK_FPGA_CMD, ATOMIK_FPGA_CMD_LOAD);
	return fpga_wait(f, ATOMIK_FPGA_CMD, U32_MAX, 0);
}

/* The engine dropped the device: it stopped answering during what. */
static void fpga_failed(void *priv, const char *what)
{
	struct atomik_fpga *f = priv;

	WRITE_ONCE(f->dead, true);
	trace_atomik_fpga_failure(what);
	dev_err(&f->pdev->dev,
		"no answer from the device within %d ms (%s): it is dropped, the CPU slots take every delta from now on; deltas it had accepted and not returned are lost\n",
		READ_ONCE(fpga_timeout_ms), what);
}

/* Write n entries into the ring, waiting for room; one doorbell per run. */
static int fpga_push(void *priv, const struct atomik_delta *d, u32 n)
{
	struct atomik_fpga *f = priv;
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
			void __iomem *e = f->ring + (size_t)f->tail * ATOMIK_FPGA_RING_ENTRY;

			writeq((u64)d[i].addr, e);
			writeq(d[i].delta, e + 8);
			f->tail = (f->tail + 1) & f->ring_mask;
		}
		fpga_wr(f, ATOMIK_FPGA_RING_TAIL, f->tail);
	}
	trace_atomik_fpga_push(n, f->tail);
	return 0;
}

static int fpga_read(void *priv, u32 addr, u64 *v)
{
	return fpga_read_acc(priv, addr, v);
}

static int fpga_zero(void *priv, u32 addr)
{
	return fpga_write_acc(priv, addr, 0);
}

static const struct atomik_ext_ops atomik_fpga_ops = {
	.kind	= "fpga",
	.push	= fpga_push,
	.read	= fpga_read,
	.zero	= fpga_zero,
	.failed	= fpga_failed,
};

/* The device's own counters, for sysfs; 0 without a working device. */
static u64 fpga_hw_counter(u32 off_lo, u32 off_hi)
{
	struct atomik_fpga *f;
	u64 v = 0;

	mutex_lock(&atomik_fpga_lock);
	f = atomik_fpga_bound;
	if (f && !READ_ONCE(f->dead)) {
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
	mutex_unlock(&atomik_fpga_lock);
	return v;
}

static ssize_t fpga_interrupts_show(struct device *dev, struct device_attribute *attr,
				    char *buf)
{
	return sysfs_emit(buf, "%lld\n", (long long)atomic64_read(&atomik_fpga_interrupts));
}
static DEVICE_ATTR_RO(fpga_interrupts);

static ssize_t fpga_hw_deltas_show(struct device *dev, struct device_attribute *attr,
				   char *buf)
{
	return sysfs_emit(buf, "%llu\n",
			  fpga_hw_counter(ATOMIK_FPGA_DELTAS_LO, ATOMIK_FPGA_DELTAS_HI));
}
static DEVICE_ATTR_RO(fpga_hw_deltas);

static ssize_t fpga_hw_errors_show(struct device *dev, struct device_attribute *attr,
				   char *buf)
{
	return sysfs_emit(buf, "%llu\n", fpga_hw_counter(ATOMIK_FPGA_ERR_COUNT, 0));
}
static DEVICE_ATTR_RO(fpga_hw_errors);

/* Not atomik.h's ATOMIK_ATTR_GROUP: the driver knows only slot.h. */
static struct attribute *atomik_fpga_attrs[] = {
	&dev_attr_fpga_interrupts.attr, &dev_attr_fpga_hw_deltas.attr,
	&dev_attr_fpga_hw_errors.attr, NULL,
};

const struct attribute_group atomik_fpga_group = { .attrs = atomik_fpga_attrs };

static int atomik_fpga_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	int bar = pdev->vendor == IVSHMEM_VENDOR && pdev->device == IVSHMEM_DEVICE ? 2 : 0;
	struct atomik_fpga *f;
	u32 caps, order, nr_addrs;
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
	if (fpga_rd(f, ATOMIK_FPGA_ID) != ATOMIK_FPGA_ID_VALUE ||
	    fpga_rd(f, ATOMIK_FPGA_VERSION) >> 16 != ATOMIK_FPGA_VERSION_VALUE >> 16) {
		dev_err(&pdev->dev, "not an ATOMiK 1.x device (ID %#x, version %#x)\n",
			fpga_rd(f, ATOMIK_FPGA_ID), fpga_rd(f, ATOMIK_FPGA_VERSION));
		return -ENODEV;
	}
	caps = fpga_rd(f, ATOMIK_FPGA_CAPS);
	order = FIELD_GET(ATOMIK_FPGA_CAPS_RING_ORDER, caps);
	nr_addrs = fpga_rd(f, ATOMIK_FPGA_NADDRS);
	if (order < 2 || order > 16 || !nr_addrs || nr_addrs > ATOMIK_MAX_ADDRS ||
	    ATOMIK_FPGA_RING_OFFSET + ((size_t)ATOMIK_FPGA_RING_ENTRY << order) >
	    pci_resource_len(pdev, bar)) {
		dev_err(&pdev->dev, "unusable geometry: ring order %u, %u addresses\n",
			order, nr_addrs);
		return -ENODEV;
	}
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

	/* Only table 0's addresses reach the device: as many as both have. */
	ret = atomik_ext_attach(&atomik_fpga_ops, f, nr_addrs, pci_name(pdev));
	if (ret < 0) {
		dev_info(&pdev->dev, "another ATOMiK device is in use: not this one\n");
		return ret;
	}
	pci_set_drvdata(pdev, f);
	mutex_lock(&atomik_fpga_lock);
	atomik_fpga_bound = f;
	mutex_unlock(&atomik_fpga_lock);
	trace_atomik_fpga_bind(ret, f->ring_mask + 1, f->irq);
	dev_info(&pdev->dev, "ATOMiK device: %u addresses (%d used), %u-entry ring, BAR %d, %s\n",
		 nr_addrs, ret, f->ring_mask + 1, bar,
		 !f->irq ? "polled" : pdev->msix_enabled ? "MSI-X" : "MSI");
	return 0;
}

/*
 * Unbind: the engine reads every accumulator back and folds it into the CPU
 * slots (atomik_ext_detach()); nothing calls the device after that.
 */
static void atomik_fpga_remove(struct pci_dev *pdev)
{
	struct atomik_fpga *f = pci_get_drvdata(pdev);
	bool failed;
	u32 folded;

	failed = atomik_ext_detach(f, &folded);
	mutex_lock(&atomik_fpga_lock);
	atomik_fpga_bound = NULL;
	mutex_unlock(&atomik_fpga_lock);
	if (!failed)
		fpga_wr(f, ATOMIK_FPGA_CTRL, 0);
	if (f->irq) {
		devm_free_irq(&pdev->dev, pci_irq_vector(pdev, 0), f);
		pci_free_irq_vectors(pdev);
	}
	trace_atomik_fpga_unbind(folded, failed);
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
