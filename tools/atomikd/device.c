// SPDX-License-Identifier: GPL-2.0
/*
 * atomikd's side of /dev/atomik: the replicated tables the configuration
 * names, their local contribution read, their remote row written.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomik.h"
#include "daemon.h"

static struct atomik *dev[AKD_MAX_TABLES];
static uint32_t ids[AKD_MAX_TABLES], sizes[AKD_MAX_TABLES];
static bool tracked;	/* the module has change sets (ATOMIK_FEAT_CHANGES) */

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
		tracked = i ? tracked && (info.features & ATOMIK_FEAT_CHANGES) :
			      (info.features & ATOMIK_FEAT_CHANGES);
	}
	if (!tracked)
		say("the module has no change sets: every table is read every publish interval");
}

bool device_tracked(void)
{
	return tracked;
}

/*
 * Take table t's change set and read the blocks (of block addresses) it
 * names into vals, calling fn for each run of them; what is not read stays
 * as vals had it.  Returns the blocks read, or -1 if the set does not see
 * every writer (mapped rows, ATOMIK_CHANGES_UNTRACKED): the caller reads
 * the whole table then.
 */
int device_read_changes(unsigned int t, uint32_t block, uint64_t *vals,
			void (*fn)(unsigned int t, uint32_t first, uint32_t count, void *arg),
			void *arg)
{
	uint32_t flags, granule, z, first, end, run = 0, run_end = 0;
	uint64_t map;
	int ret, nb = 0;

	ret = atomik_changes(dev[t], &map, &granule, &flags);
	if (ret)
		die(1, "table %u: taking its change set: %s", ids[t], strerror(-ret));
	if (flags & ATOMIK_CHANGES_UNTRACKED)
		return -1;
	/* Runs of whole blocks that hold a changed zone, one read each. */
	for (z = 0; z <= 64; z++) {
		if (z < 64 && !(map >> z & 1))
			continue;
		if (z < 64) {
			first = z * granule / block * block;
			end = (z + 1) * granule;
			end = end >= sizes[t] ? sizes[t] : (end + block - 1) / block * block;
			if (end > sizes[t])
				end = sizes[t];
			if (run_end && first <= run_end) {
				run_end = end > run_end ? end : run_end;
				continue;
			}
		}
		if (run_end) {
			ret = atomik_read_range_flags(dev[t], run, run_end - run, ATOMIK_READ_ACCUM,
						      vals + run);
			if (ret)
				die(1, "table %u: reading the local contribution: %s", ids[t],
				    strerror(-ret));
			fn(t, run, run_end - run, arg);
			nb += (run_end - run + block - 1) / block;
		}
		if (z < 64) {
			run = first;
			run_end = end;
		}
	}
	return nb;
}

/*
 * The watcher: a thread that sleeps in poll() on every table's descriptor
 * while armed, and when one has changes calls wake() and disarms until the
 * daemon has taken them (device_watch_arm()).
 */
static pthread_mutex_t wlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wcond = PTHREAD_COND_INITIALIZER;
static bool armed, fired;
static void (*waker)(void);

static void *watch(void *arg)
{
	struct pollfd pfd[AKD_MAX_TABLES];
	sigset_t all;
	int i, n;

	/* Signals are the main thread's. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (i = 0; i < cfg.nr_tables; i++)
		pfd[i] = (struct pollfd){ .fd = atomik_fd(dev[i]), .events = POLLIN };
	for (;;) {
		pthread_mutex_lock(&wlock);
		while (!armed)
			pthread_cond_wait(&wcond, &wlock);
		pthread_mutex_unlock(&wlock);
		n = poll(pfd, cfg.nr_tables, -1);
		if (n < 0 && errno != EINTR)
			die(1, "poll on the device: %s", strerror(errno));
		if (n <= 0)
			continue;
		pthread_mutex_lock(&wlock);
		armed = false;
		fired = true;
		pthread_mutex_unlock(&wlock);
		waker();
	}
	return NULL;
}

void device_watch_start(void (*wake)(void))
{
	pthread_t th;

	waker = wake;
	if (pthread_create(&th, NULL, watch, NULL))
		die(1, "cannot start the device watcher");
	pthread_detach(th);
}

/* Has a table changed since device_watch_arm()? */
bool device_watch_fired(void)
{
	bool f;

	pthread_mutex_lock(&wlock);
	f = fired;
	pthread_mutex_unlock(&wlock);
	return f;
}

/* The changes are taken: wait for the next ones. */
void device_watch_arm(void)
{
	pthread_mutex_lock(&wlock);
	fired = false;
	armed = true;
	pthread_cond_signal(&wcond);
	pthread_mutex_unlock(&wlock);
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
