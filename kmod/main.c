// SPDX-License-Identifier: GPL-2.0
/*
 * ATOMiK: a shared bank of 64-bit XOR accumulators behind /dev/atomik.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>

static int atomik_open(struct inode *inode, struct file *file)
{
	return 0;
}

static int atomik_release(struct inode *inode, struct file *file)
{
	return 0;
}

static const struct file_operations atomik_fops = {
	.owner		= THIS_MODULE,
	.open		= atomik_open,
	.release	= atomik_release,
};

static struct miscdevice atomik_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "atomik",
	.fops	= &atomik_fops,
	.mode	= 0666,
};

static int __init atomik_init(void)
{
	return misc_register(&atomik_misc);
}

static void __exit atomik_exit(void)
{
	misc_deregister(&atomik_misc);
}

module_init(atomik_init);
module_exit(atomik_exit);
MODULE_DESCRIPTION("ATOMiK shared XOR accumulator bank");
MODULE_LICENSE("GPL");
