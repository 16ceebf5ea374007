// SPDX-License-Identifier: GPL-2.0
/*
 * atomikd: keeps the replicated tables of this node's /dev/atomik converged
 * with the other nodes of a cluster, over NATS.
 *
 * The protocol is core.c, which does no I/O; this loop feeds it the time,
 * the messages and the local contribution, and carries out what it asks:
 * checkpoints first, then the remote row, then messages.
 * Documentation/atomik/cluster.rst has the model, the wire format
 * (atomikd.h), the configuration and what is guaranteed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "atomikd.h"
#include "daemon.h"

static volatile sig_atomic_t stopping;
static struct akd_table_conf tc[AKD_MAX_TABLES];
static uint64_t *local[AKD_MAX_TABLES];

/*
 * Whether a message goes out with the time: not to a terminal, and not to
 * the journal, which stamps its own (JOURNAL_STREAM names the stream it
 * gave, as systemd.exec(5) says); to a file, yes, to the millisecond, so
 * that the logs of several nodes can be read side by side.
 */
static bool stamped(void)
{
	static int stamp = -1;
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (stamp >= 0)
		return stamp;
	stamp = !isatty(STDERR_FILENO);
	if (stamp && js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
	    !fstat(STDERR_FILENO, &st) && st.st_dev == dev && st.st_ino == ino)
		stamp = 0;
	return stamp;
}

static void vsay(const char *fmt, va_list ap)
{
	struct timespec ts;
	struct tm tm;
	char when[32];

	if (stamped() && !clock_gettime(CLOCK_REALTIME, &ts) && gmtime_r(&ts.tv_sec, &tm) &&
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm))
		fprintf(stderr, "%s.%03ldZ ", when, ts.tv_nsec / 1000000);
	fputs("atomikd: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

void die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	exit(code);
}

static void core_log(void *arg, const char *fmt, va_list ap)
{
	vsay(fmt, ap);
}

/* The boot clock: it only grows while a table instance lives. */
uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

/* The daemon's state for the status file: its tables' worst. */
static const char *core_state(const struct akd_core *core)
{
	struct akd_table_info ti;
	const char *state = "serving";
	int k;

	for (k = 0; k < cfg.nr_tables; k++) {
		akd_core_table_info(core, k, &ti);
		if (ti.state == AKD_RECOVERING)
			return "recovering";
		if (ti.state == AKD_WAITING)
			state = "waiting";
	}
	return state;
}

/*
 * The service manager's readiness protocol (sd_notify(3), without
 * libsystemd): a datagram to $NOTIFY_SOCKET, "READY=1" once every table has
 * recovered from its peers and the daemon serves, "STOPPING=1" as it
 * stops.  atomikd.service is Type=notify: systemctl start returns, and the
 * units ordered after it start, once the daemon serves.  Nothing happens
 * without the variable; a failure is not the daemon's concern.
 */
static void service_notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path));
	len = offsetof(struct sockaddr_un, sun_path) + strlen(path);
	if (path[0] == '@')
		sa.sun_path[0] = 0;	/* an abstract address */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
		say("cannot tell the service manager %s: %s", msg, strerror(errno));
	close(fd);
}

static void on_signal(int sig)
{
	stopping = 1;
}

static void verify_remote(struct akd_core *core, const struct akd_range *r)
{
	static uint64_t *buf;
	static uint32_t cap;

	if (r->count > cap) {
		free(buf);
		buf = calloc(r->count, 8);
		if (!buf)
			die(1, "out of memory");
		cap = r->count;
	}
	device_read_remote(r->table, r->first, r->count, buf);
	akd_core_remote_read(core, now_ns(), r->table, r->first, r->count, buf);
}

/* What the core asks for: checkpoints, then the device, then the wire. */
static void carry_out_once(struct akd_core *core)
{
	struct akd_ready rd;
	bool ok = true;
	unsigned int i;

	if (!akd_core_ready(core, &rd))
		return;
	for (i = 0; ok && i < rd.nr_persist; i++)
		ok = persist_write(&tc[rd.persist[i].table], &rd.persist[i]);
	if (akd_core_persisted(core, ok))
		for (i = 0; i < rd.nr_remote; i++)
			device_write_remote(rd.remote[i].table, rd.remote[i].first,
					    rd.remote[i].count, rd.remote[i].vals);
	for (i = 0; i < rd.nr_verify; i++)
		verify_remote(core, &rd.verify[i]);
	for (i = 0; i < rd.nr_send; i++)
		transport_send(&rd.send[i]);
	akd_core_advance(core);
	if (akd_core_fatal(core))
		die(2, "%s", akd_core_fatal(core));
}

/* Until it has nothing more (each round's actions can make more). */
static void carry_out(struct akd_core *core)
{
	struct akd_ready rd;
	int rounds;

	for (rounds = 0; rounds < 16 && akd_core_ready(core, &rd); rounds++)
		carry_out_once(core);
}

void transport_after_message(struct akd_core *core)
{
	carry_out(core);
}

static void feed_local(struct akd_core *core)
{
	int k;

	for (k = 0; k < cfg.nr_tables; k++) {
		device_read_local(k, local[k]);
		akd_core_local(core, now_ns(), k, local[k]);
	}
}

static void feed_range(unsigned int k, uint32_t first, uint32_t count, void *core)
{
	akd_core_local_range(core, now_ns(), k, first, count, local[k]);
}

/*
 * What changed, from the kernel's change sets: the blocks they name are
 * read and given to the core, which publishes them.  A table whose set
 * does not see every writer (mapped rows) is read whole, and stays so
 * until its set sees them again.  Returns whether anything was read.
 */
static bool untracked[AKD_MAX_TABLES];

static bool feed_changes(struct akd_core *core)
{
	bool any = false;
	int k, n;

	for (k = 0; k < cfg.nr_tables; k++) {
		n = device_read_changes(k, cfg.block, local[k], feed_range, core);
		untracked[k] = n < 0;
		if (n < 0) {
			device_read_local(k, local[k]);
			akd_core_local(core, now_ns(), k, local[k]);
		}
		any |= n != 0;
	}
	return any;
}

static void feed_range_none(unsigned int k, uint32_t first, uint32_t count, void *arg)
{
}

static bool any_untracked(void)
{
	int k;

	for (k = 0; k < cfg.nr_tables; k++)
		if (untracked[k])
			return true;
	return false;
}

/*
 * Whether the status and metrics files are worth rewriting: once a
 * second, but at rest only every five, unless a counter other than the
 * messages, bytes and hellos that rest itself makes has moved.
 */
static bool status_due(struct akd_core *core, uint64_t now, uint64_t last)
{
	static struct akd_stats seen;
	struct akd_stats st = *akd_core_stats(core);
	bool moved;

	st.messages_received = st.messages_sent = 0;
	st.bytes_received = st.bytes_sent = st.hellos_sent = 0;
	moved = memcmp(&st, &seen, sizeof(st)) != 0;
	seen = st;
	return moved || !akd_core_resting(core) || now - last >= 5000000000ull;
}

/*
 * The pid file, locked for as long as the daemon runs: a second daemon
 * with the same state directory (and so the same checkpoints) refuses to
 * start.  The descriptor stays open, and the lock with it.
 */
static void write_pid_file(void)
{
	char path[PATH_MAX], buf[32];
	int fd, n;

	snprintf(path, sizeof(path), "%s/" ATOMIKD_PID_FILE, cfg.state_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		die(1, "cannot write %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = 0;
		buf[strcspn(buf, "\n")] = 0;
		die(2, "another atomikd (pid %s) runs with state directory %s", n > 0 ? buf : "?",
		    cfg.state_dir);
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) || write(fd, buf, n) != n)
		die(1, "cannot write %s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/" ATOMIKD_STATUS_FILE, cfg.state_dir);
	unlink(path);
}

/* This machine, for the identity of its table instances: its machine-id. */
static uint32_t machine_host(void)
{
	char id[128] = "";
	uint64_t h = 0xcbf29ce484222325ull;
	FILE *f = fopen("/etc/machine-id", "r");
	size_t i;

	if (!f || !fgets(id, sizeof(id), f))
		gethostname(id, sizeof(id) - 1);
	if (f)
		fclose(f);
	for (i = 0; id[i] && id[i] != '\n'; i++)
		h = (h ^ (uint8_t)id[i]) * 0x100000001b3ull;
	h ^= h >> 32;
	return (uint32_t)h ? (uint32_t)h : 1;
}

/*
 * When to take the change sets the watcher says are there, decided when it
 * is first seen: at once if the last take is a quarter of an interval ago
 * (the core's rule for a publish), else at the end of its interval.
 */
static uint64_t take_due(uint64_t due, uint64_t last_take, uint64_t now)
{
	uint64_t interval = cfg.publish_ms * 1000000;

	if (due)
		return due;
	return now - last_take >= interval / AKD_PUBLISH_QUIET ? now : last_take + interval;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t now, next, next_status, last_status = 0, next_scan, next_take, last_take, wait_until;
	uint64_t session = 0;
	bool ready = false;
	uint64_t started_ms;
	struct akd_core *core;
	struct akd_conf conf;
	char path[PATH_MAX];
	int k, ret;

	parse_command_line(argc, argv);
	keys_load();
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stderr, NULL, _IOLBF, 0);
	started_ms = now_ns() / 1000000;

	if (mkdir(cfg.state_dir, 0750) && errno != EEXIST)
		die(1, "cannot create %s: %s", cfg.state_dir, strerror(errno));
	write_pid_file();
	device_open(tc);
	while (!session)
		if (getrandom(&session, sizeof(session), 0) != sizeof(session))
			die(1, "getrandom: %s", strerror(errno));
	if (cfg.republish_ms)
		say("republish_interval_ms is obsolete (anti-entropy is by digest): ignored");
	conf = (struct akd_conf){
		.node = cfg.node, .host = machine_host(), .members = cfg.allowed,
		.block = cfg.block, .session = session, .publish_ns = cfg.publish_ms * 1000000,
		.hello_ns = cfg.hello_ms * 1000000, .recover_ns = cfg.recover_ms * 1000000,
		.peer_timeout_ns = cfg.peer_timeout_ms * 1000000,
		.verify_ns = cfg.verify_ms * 1000000, .collect_ns = cfg.collect_ms * 1000000,
		.max_contributors = cfg.max_contributors, .log = core_log,
	};
	if (cfg.keys) {
		conf.sign = keys_sign;
		conf.verify = keys_verify;
	} else {
		say("the nodes' keys are not configured (nodes = N:KEY ...): messages are "
		    "neither signed nor checked, and anyone who can publish on the cluster's "
		    "subjects can change its state");
	}
	ret = akd_core_create(&core, &conf, tc, cfg.nr_tables);
	if (ret)
		die(2, "the configuration cannot run: %s", strerror(-ret));
	for (k = 0; k < cfg.nr_tables; k++) {
		local[k] = calloc(tc[k].nr_addrs ? tc[k].nr_addrs : 1, 8);
		if (!local[k])
			die(1, "out of memory");
		persist_restore(core, k, &tc[k]);
		if (akd_core_fatal(core))
			die(2, "%s", akd_core_fatal(core));
	}
	transport_start(session);
	/*
	 * With change sets, the daemon sleeps until a table changes: the sets
	 * are emptied first, then every table read whole, so that nothing
	 * changed before they were is missed.
	 */
	if (device_tracked()) {
		for (k = 0; k < cfg.nr_tables; k++)
			untracked[k] = device_read_changes(k, cfg.block, local[k], feed_range_none,
							   NULL) < 0;
		device_watch_start(transport_wake);
	}
	say("node %lu, %d table%s, subjects %s.*, %d server%s", cfg.node, cfg.nr_tables,
	    cfg.nr_tables == 1 ? "" : "s", cfg.prefix, cfg.nr_servers,
	    cfg.nr_servers == 1 ? "" : "s");

	/* Recovery asks the peers: wait for a server first (bounded). */
	wait_until = now_ns() + 60 * 1000000000ull;
	while (!transport_connected && !stopping && now_ns() < wait_until)
		transport_receive(core, 100);
	if (!transport_connected && !stopping)
		say("no NATS server reachable yet: serving alone until one is");
	akd_core_start(core, now_ns());
	carry_out(core);

	next_status = 0;
	next_scan = now_ns();
	next_take = 0;
	last_take = 0;
	if (device_tracked()) {
		feed_local(core);
		device_watch_arm();
	}
	while (!stopping) {
		now = now_ns();
		next = akd_core_next_tick(core);
		/*
		 * Without change sets, or with a table they do not see whole,
		 * a scan every publish interval; with them, a take when
		 * take_due() says: under load the changes of an interval go
		 * out together.
		 */
		if (!device_tracked() || any_untracked())
			next = next_scan < next ? next_scan : next;
		if (device_tracked() && device_watch_fired()) {
			next_take = take_due(next_take, last_take, now);
			next = next_take < next ? next_take : next;
		}
		if (next > now)
			transport_receive(core, (next - now + 999999) / 1000000 < 500 ?
					  (next - now + 999999) / 1000000 : 500);
		if (transport_reconnected())
			akd_core_reconnected(core, now_ns());
		now = now_ns();
		if (!device_tracked() && now >= next_scan) {
			feed_local(core);
			next_scan = now + cfg.publish_ms * 1000000;
		}
		if (device_tracked() && device_watch_fired())
			next_take = take_due(next_take, last_take, now);
		if (device_tracked() &&
		    ((device_watch_fired() && now >= next_take) ||
		     (any_untracked() && now >= next_scan))) {
			if (feed_changes(core))
				last_take = now;
			next_take = 0;
			next_scan = now + cfg.publish_ms * 1000000;
			device_watch_arm();
		}
		akd_core_tick(core, now);
		carry_out(core);
		if (!ready && strcmp(core_state(core), "recovering")) {
			ready = true;
			status_write(core, core_state(core), started_ms, conf.host, session);
			service_notify("READY=1\nSTATUS=serving");
		}
		/* Each rewrite costs about as much as a hello: status_due(). */
		if (now >= next_status) {
			if (status_due(core, now, last_status)) {
				status_write(core, core_state(core), started_ms, conf.host, session);
				metrics_write(core, core_state(core));
				last_status = now;
			}
			next_status = now + 1000000000;
		}
	}

	say("stopping");
	service_notify("STOPPING=1");
	feed_local(core);
	akd_core_stop(core, now_ns());
	carry_out(core);
	status_write(core, "stopped", started_ms, conf.host, session);
	metrics_write(core, "stopped");
	snprintf(path, sizeof(path), "%s/" ATOMIKD_PID_FILE, cfg.state_dir);
	unlink(path);
	transport_stop();
	device_close();
	akd_core_destroy(core);
	return 0;
}
