// SPDX-License-Identifier: GPL-2.0
/*
 * atomikd's side of /dev/atomik: the replicated tables the configuration
 * names, their local contribution read, their remote row written.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "atomik.h"
#include "daemon.h"

static struct atomik *dev[AKD_MAX_TABLES];
static uint32_t ids[AKD_MAX_TABLES], sizes[AKD_MAX_TABLES];

/* Opens every table of the configuration and fills tc[] (cfg.nr_tables). */
void device_open(struct akd_table_conf *tc)
{
	const char *path = cfg.device ? cfg.device : "/dev/atomik";
	struct atomik_info info;
	int i, ret;

	for (i = 0; i < cfg.nr_tables; i++) {
		ids[i] = cfg.tables[i];
		ret = atomik_open(&dev[i], cfg.device, O_RDWR);
		if (ret)
			die(1, "cannot open %s: %s", path, strerror(-ret));
		ret = atomik_table_select(dev[i], ids[i]);
		if (!ret)
			ret = atomik_info(dev[i], &info);
		if (ret)
			die(1, "table %u: %s", ids[i], strerror(-ret));
		/* A configuration error: exit 2, which systemd does not restart. */
		if (!(info.table_flags & ATOMIK_TABLE_REPLICATED))
			die(2, "table %u is not replicated: load the module with replicated=1 "
			    "for table 0 (options atomik replicated=1 in "
			    "/etc/modprobe.d/atomik.conf, then reload it), or create the table "
			    "with 'atomik table create --replicated'", ids[i]);
		if (!(info.features & ATOMIK_FEAT_INSTANCE) || !info.instance)
			die(1, "the module does not report table instances: it is too old");
		memset(&tc[i], 0, sizeof(tc[i]));
		snprintf(tc[i].name, sizeof(tc[i].name), "%s", cfg.names[i]);
		tc[i].id = ids[i];
		tc[i].nr_addrs = sizes[i] = info.nr_addrs;
		tc[i].instance = info.instance;
	}
}

void device_read_local(unsigned int t, uint64_t *vals)
{
	int ret = atomik_read_range_flags(dev[t], 0, sizes[t], ATOMIK_READ_ACCUM, vals);

	if (ret)
		die(1, "table %u: reading the local contribution: %s", ids[t], strerror(-ret));
}

void device_write_remote(unsigned int t, uint32_t first, uint32_t count, const uint64_t *vals)
{
	int ret;

	while (count) {
		uint32_t n = count < ATOMIK_MAX_BATCH ? count : ATOMIK_MAX_BATCH;

		ret = atomik_remote_set(dev[t], first, n, vals);
		if (ret)
			die(1, "table %u: writing the remote row: %s", ids[t], strerror(-ret));
		first += n;
		vals += n;
		count -= n;
	}
}

void device_read_remote(unsigned int t, uint32_t first, uint32_t count, uint64_t *vals)
{
	int ret;

	while (count) {
		uint32_t n = count < ATOMIK_MAX_BATCH ? count : ATOMIK_MAX_BATCH;

		ret = atomik_remote_read(dev[t], first, n, vals);
		if (ret)
			die(1, "table %u: reading the remote row: %s", ids[t], strerror(-ret));
		first += n;
		vals += n;
		count -= n;
	}
}

void device_close(void)
{
	int i;

	for (i = 0; i < cfg.nr_tables; i++)
		atomik_close(dev[i]);
}
