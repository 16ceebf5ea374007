// SPDX-License-Identifier: GPL-2.0
/*
 * ATOMiK: a shared bank of 64-bit XOR accumulators behind /dev/atomik.
 *
 * Module parameters, the misc device and its file operations.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>

#include "atomik.h"
#include "debug.h"

static unsigned int nr_addrs = 4096;
module_param(nr_addrs, uint, 0444);
MODULE_PARM_DESC(nr_addrs, "Addresses in table 0 (1 to 16777216, default 4096)");

module_param_named(max_memory, atomik_memory_cap, ulong, 0444);
MODULE_PARM_DESC(max_memory,
		 "Bytes all tables together may hold (default 256 MiB; tunable in sysfs memory_cap)");

static int atomik_open(struct inode *inode, struct file *file)
{
	return atomik_file_open(file);
}

static int atomik_release(struct inode *inode, struct file *file)
{
	atomik_file_release(file);
	return 0;
}

static const struct file_operations atomik_fops = {
	.owner		= THIS_MODULE,
	.open		= atomik_open,
	.release	= atomik_release,
	.unlocked_ioctl	= atomik_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.uring_cmd	= atomik_uring_cmd,
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

	if (nr_addrs == 0 || nr_addrs > ATOMIK_MAX_ADDRS) {
		pr_err("atomik: nr_addrs=%u is out of range (1 to %u)\n",
		       nr_addrs, ATOMIK_MAX_ADDRS);
		return -EINVAL;
	}
	ret = atomik_engine_init(nr_addrs);
	if (ret) {
		pr_err("atomik: cannot create table 0 with %u addresses: %d\n",
		       nr_addrs, ret);
		return ret;
	}
	ret = atomik_debug_fail_driver() ? -ENOMEM : atomik_fpga_init();
	if (ret)
		goto err_engine;
	/*
	 * The device node comes last: once it exists a process may open it
	 * and hold table 0, and nothing may fail after that.
	 */
	ret = misc_register(&atomik_misc);
	if (ret)
		goto err_fpga;
	atomik_debug_delay(ATOMIK_DEBUG_DEVICE_NODE);
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
