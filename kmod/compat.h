/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differences between the kernels ATOMiK supports, in one place.  Each is
 * decided by a feature test in kmod/Kbuild (a look at the kernel's headers),
 * never by a version number.
 */
#ifndef ATOMIK_COMPAT_H
#define ATOMIK_COMPAT_H

#ifdef ATOMIK_HAVE_IO_URING_CMD_H
#include <linux/io_uring/cmd.h>
#else
#include <linux/io_uring.h>
#endif

/* The command payload: a pointer into the SQE up to 6.5, an accessor later. */
#ifdef ATOMIK_HAVE_IO_URING_SQE_CMD
#define atomik_uring_payload(ioucmd)	io_uring_sqe_cmd((ioucmd)->sqe)
#else
#define atomik_uring_payload(ioucmd)	((ioucmd)->cmd)
#endif

/*
 * Map one BAR of a managed PCI device: pcim_iomap_region() from 6.11,
 * pcim_iomap_regions() and the iomap table before.  An ERR_PTR on failure.
 */
#include <linux/pci.h>

static inline void __iomem *atomik_pcim_iomap(struct pci_dev *pdev, int bar,
					      const char *name)
{
#ifdef ATOMIK_HAVE_PCIM_IOMAP_REGION
	return pcim_iomap_region(pdev, bar, name);
#else
	int ret = pcim_iomap_regions(pdev, BIT(bar), name);

	return ret ? IOMEM_ERR_PTR(ret) : pcim_iomap_table(pdev)[bar];
#endif
}

/* A mapping's flags: vm_flags_set() from 6.3, a plain field before. */
#include <linux/mm.h>

static inline void atomik_vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
#ifdef ATOMIK_HAVE_VM_FLAGS_SET
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

/*
 * The largest order the page allocator serves: MAX_PAGE_ORDER from 6.8;
 * before, MAX_ORDER, which up to 6.3 is one past it (and from 6.4 it, so
 * that there this is one order short: still correct).
 */
#include <linux/mmzone.h>

#ifdef ATOMIK_HAVE_MAX_PAGE_ORDER
#define ATOMIK_MAX_PAGE_ORDER	MAX_PAGE_ORDER
#else
#define ATOMIK_MAX_PAGE_ORDER	(MAX_ORDER - 1)
#endif

#endif /* ATOMIK_COMPAT_H */
