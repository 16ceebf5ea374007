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
#include "atomik_fpga_regs.h"

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
 * tables, user_memory_cap for one user's (CAP_SYS_RESOURCE is not limited).
 */
#define ATOMIK_LIMIT_ATTR(name, var)					\
static ssize_t name##_show(struct device *dev,				\
			   struct device_attribute *attr, char *buf)	\
{									\
	return sysfs_emit(buf, "%lu\n", READ_ONCE(var));		\
}									\
static ssize_t name##_store(struct device *dev,				\
			    struct device_attribute *attr,		\
			    const char *buf, size_t len)		\
{									\
	unsigned long v;						\
	int ret = kstrtoul(buf, 0, &v);					\
									\
	if (ret)							\
		return ret;						\
	WRITE_ONCE(var, v);						\
	return len;							\
}									\
static DEVICE_ATTR_RW(name)

ATOMIK_LIMIT_ATTR(memory_cap, atomik_memory_cap);
ATOMIK_LIMIT_ATTR(user_memory_cap, atomik_user_memory_cap);

/* Whole numbers from lo to hi; anything else is -EINVAL. */
#define ATOMIK_UINT_ATTR(name, var, lo, hi)				\
static ssize_t name##_show(struct device *dev,				\
			   struct device_attribute *attr, char *buf)	\
{									\
	return sysfs_emit(buf, "%u\n", READ_ONCE(var));			\
}									\
static ssize_t name##_store(struct device *dev,				\
			    struct device_attribute *attr,		\
			    const char *buf, size_t len)		\
{									\
	unsigned int v;							\
	int ret = kstrtouint(buf, 0, &v);				\
									\
	if (ret)							\
		return ret;						\
	if (v < (lo) || v > (hi))					\
		return -EINVAL;						\
	WRITE_ONCE(var, v);						\
	return len;							\
}									\
static DEVICE_ATTR_RW(name)

/* How many tables one user may hold (CAP_SYS_RESOURCE is not limited). */
ATOMIK_UINT_ATTR(user_max_tables, atomik_user_max_tables, 0, ATOMIK_MAX_TABLES - 1);

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

/* The accelerator: policy, threshold, what is active, its counters. */
static const char *const atomik_backend_names[] = {
	[ATOMIK_BACKEND_AUTO] = "auto",
	[ATOMIK_BACKEND_CPU] = "cpu",
	[ATOMIK_BACKEND_FPGA] = "fpga",
};

static ssize_t backend_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
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

static ssize_t backend_active_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	return atomik_fpga_describe(buf);
}
static DEVICE_ATTR_RO(backend_active);

ATOMIK_UINT_ATTR(fpga_threshold, atomik_fpga_threshold, 1, ATOMIK_MAX_BATCH);

/* Driver-side accelerator counters, since the module was loaded. */
#define ATOMIK_FPGA_COUNTER_ATTR(name)					\
static ssize_t fpga_##name##_show(struct device *dev,			\
				  struct device_attribute *attr, char *buf) \
{									\
	return sysfs_emit(buf, "%lld\n",					\
			  (long long)atomic64_read(&atomik_fpga_##name));	\
}									\
static DEVICE_ATTR_RO(fpga_##name)

ATOMIK_FPGA_COUNTER_ATTR(deltas);
ATOMIK_FPGA_COUNTER_ATTR(batches);
ATOMIK_FPGA_COUNTER_ATTR(interrupts);

static ssize_t fpga_failures_show(struct device *dev,
				  struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", atomic_read(&atomik_fpga_failures));
}
static DEVICE_ATTR_RO(fpga_failures);

static ssize_t fpga_hw_deltas_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n",
			  atomik_fpga_hw_counter(ATOMIK_FPGA_DELTAS_LO, ATOMIK_FPGA_DELTAS_HI));
}
static DEVICE_ATTR_RO(fpga_hw_deltas);

static ssize_t fpga_hw_errors_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", atomik_fpga_hw_counter(ATOMIK_FPGA_ERR_COUNT, 0));
}
static DEVICE_ATTR_RO(fpga_hw_errors);

static struct attribute *atomik_attrs[] = {
	&dev_attr_abi_version.attr,
	&dev_attr_nr_addrs.attr,
	&dev_attr_nr_tables.attr,
	&dev_attr_max_batch.attr,
	&dev_attr_memory_bytes.attr,
	&dev_attr_memory_cap.attr,
	&dev_attr_user_memory_cap.attr,
	&dev_attr_user_max_tables.attr,
	&dev_attr_deltas.attr,
	&dev_attr_batches.attr,
	&dev_attr_reads.attr,
	&dev_attr_loads.attr,
	&dev_attr_swaps.attr,
	&dev_attr_errors.attr,
	&dev_attr_reset_counters.attr,
	&dev_attr_backend.attr,
	&dev_attr_backend_active.attr,
	&dev_attr_fpga_threshold.attr,
	&dev_attr_fpga_deltas.attr,
	&dev_attr_fpga_batches.attr,
	&dev_attr_fpga_failures.attr,
	&dev_attr_fpga_interrupts.attr,
	&dev_attr_fpga_hw_deltas.attr,
	&dev_attr_fpga_hw_errors.attr,
	NULL,
};

static const struct attribute_group atomik_group = {
	.attrs = atomik_attrs,
};

const struct attribute_group *atomik_groups[] = {
	&atomik_group,
	NULL,
};
