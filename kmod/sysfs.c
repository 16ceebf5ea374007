// SPDX-License-Identifier: GPL-2.0
/*
 * sysfs attributes of /sys/class/misc/atomik/, one value per file.
 * Documentation/ABI/testing/sysfs-class-misc-atomik describes each.
 */
#include <linux/device.h>
#include <linux/kernel.h>
#include <linux/mutex.h>
#include <linux/sysfs.h>

#include "atomik.h"
#include "fpga.h"

DEFINE_PER_CPU(struct atomik_stats, atomik_stats);

/* Counters read as their sum minus the sum at the last reset, so that a reset
 * never races with the CPUs that count.
 */
static struct atomik_stats atomik_stats_base;
static DEFINE_MUTEX(atomik_stats_lock);

static void atomik_stats_raw(struct atomik_stats *sum)
{
	u64 *s = (u64 *)sum;
	int cpu, i;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		u64 *c = (u64 *)per_cpu_ptr(&atomik_stats, cpu);

		for (i = 0; i < ATOMIK_NR_STATS; i++)
			s[i] += READ_ONCE(c[i]);
	}
}

void atomik_stats_sum(struct atomik_stats *sum)
{
	u64 *s = (u64 *)sum, *b = (u64 *)&atomik_stats_base;
	int i;

	mutex_lock(&atomik_stats_lock);
	atomik_stats_raw(sum);
	for (i = 0; i < ATOMIK_NR_STATS; i++)
		s[i] -= b[i];
	mutex_unlock(&atomik_stats_lock);
}

#define ATOMIK_STAT_ATTR(field)						\
static ssize_t field##_show(struct device *dev,				\
			    struct device_attribute *attr, char *buf)	\
{									\
	struct atomik_stats sum;					\
									\
	atomik_stats_sum(&sum);						\
	return sysfs_emit(buf, "%llu\n", sum.field);			\
}									\
static DEVICE_ATTR_RO(field)

ATOMIK_STAT_ATTR(deltas);
ATOMIK_STAT_ATTR(batches);
ATOMIK_STAT_ATTR(reads);
ATOMIK_STAT_ATTR(loads);
ATOMIK_STAT_ATTR(swaps);
ATOMIK_STAT_ATTR(errors);

static ssize_t reset_counters_store(struct device *dev,
				    struct device_attribute *attr,
				    const char *buf, size_t len)
{
	bool reset;
	int ret;

	ret = kstrtobool(buf, &reset);
	if (ret)
		return ret;
	if (!reset)
		return -EINVAL;
	mutex_lock(&atomik_stats_lock);
	atomik_stats_raw(&atomik_stats_base);
	mutex_unlock(&atomik_stats_lock);
	return len;
}
static DEVICE_ATTR_WO(reset_counters);

static ssize_t nr_addrs_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	return sysfs_emit(buf, "%u\n", atomik_table0_nr_addrs());
}
static DEVICE_ATTR_RO(nr_addrs);

static ssize_t max_batch_show(struct device *dev, struct device_attribute *attr,
			      char *buf)
{
	return sysfs_emit(buf, "%u\n", ATOMIK_MAX_BATCH);
}
static DEVICE_ATTR_RO(max_batch);

static ssize_t abi_version_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", ATOMIK_ABI_VERSION);
}
static DEVICE_ATTR_RO(abi_version);

static struct attribute *atomik_attrs[] = {
	&dev_attr_abi_version.attr,
	&dev_attr_nr_addrs.attr,
	&dev_attr_max_batch.attr,
	&dev_attr_deltas.attr,
	&dev_attr_batches.attr,
	&dev_attr_reads.attr,
	&dev_attr_loads.attr,
	&dev_attr_swaps.attr,
	&dev_attr_errors.attr,
	&dev_attr_reset_counters.attr,
	NULL,
};

static const struct attribute_group atomik_group = {
	.attrs = atomik_attrs,
};

/* The tables' limits, the external slot's policy and counters, and the
 * accelerator's own.
 */
const struct attribute_group *atomik_groups[] = {
	&atomik_group,
	&atomik_engine_group,
	&atomik_ext_group,
	&atomik_fpga_group,
	NULL,
};
