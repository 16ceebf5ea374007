// SPDX-License-Identifier: GPL-2.0
/*
 * atomikd's transport: one NATS connection, the core's channels mapped to
 * subjects under the prefix (Documentation/atomik/cluster.rst, "The wire"),
 * and only the subjects this node needs subscribed: the hellos, the
 * records, its own node's, and its tables' blocks.  libnats calls back on
 * its own thread; the messages wait in a queue for the daemon's loop.
 *
 * Besides it, a direct connection to a silent peer's own server (the
 * configuration's peer_servers): a NATS route that a network cut broke is
 * used again only when its TCP retransmission timer next fires, which after
 * a long cut is many seconds after the link is back.  While a peer's
 * messages have not come through this node's servers for DIRECT_SILENCE_NS,
 * a thread of this file per peer tries that peer's server (a TCP
 * connection attempt every DIRECT_RETRY_MS while the cut lasts: struct
 * probes), dials it once one connects and listens there for the peer's
 * hellos only.  A hello of the peer heard there while it is still silent
 * through the servers is the proof that the route, not the peer, is what
 * fails: then, and only then, the connection takes every subject and is
 * published to as the main one (so a peer merely busy, late with its
 * hellos, never doubles anyone's traffic).  It is closed once the servers
 * carry the peer's messages again for DIRECT_KEEP_NS, or when the peer says
 * nothing through it for DIRECT_IDLE_NS (then not dialled for
 * DIRECT_BACKOFF_NS: that peer is down or busy, not cut off).  The core
 * drops what comes twice as it drops any duplicate.
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "daemon.h"

static natsConnection *nc;
static natsSubscription *subs[AKD_MAX_TABLES + 3];
static int nr_subs;
volatile int transport_connected;
uint64_t transport_send_errors, transport_dropped;
uint64_t transport_direct_dials;
static volatile int reconnected;

/*
 * Two hellos at the rest pace and two more intervals, 2.5 s at least: a
 * daemon at rest, or busy with a burst, is late, not cut off.
 */
#define DIRECT_SILENCE_NS	(cfg.hello_ms < 250 ? 2500000000ull :			\
				 (2 * AKD_REST_HELLOS + 2) * cfg.hello_ms * 1000000ull)
#define DIRECT_KEEP_NS		2000000000ull
#define DIRECT_IDLE_NS		3000000000ull
#define DIRECT_BACKOFF_NS	30000000000ull
#define DIRECT_TIMEOUT_MS	500	/* a connection attempt */
#define DIRECT_RETRY_MS		100	/* between attempts */
#define DIRECT_PROBES		(DIRECT_TIMEOUT_MS / DIRECT_RETRY_MS)

struct direct {
	unsigned long node;
	const char *url;
	pthread_t thread;
	/* The thread's; under dlock for the senders. */
	natsConnection *nc;
	natsSubscription *subs[AKD_MAX_TABLES + 3];
	int nr_subs;
	bool full;		/* every subject, and published to */
	/* Under qlock. */
	uint64_t main_last;	/* the peer last heard through the main connection */
	uint64_t main_since;	/* ... without a silence since */
	uint64_t direct_last;	/* ... through this one */
	uint64_t dialled_at;
	bool proven;		/* its hello came here while silent there */
};
static struct direct directs[MAX_SERVERS];
static int nr_directs;
static pthread_mutex_t dlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dwake;	/* under dlock: direct_stop */
static volatile int direct_stop;

/* Messages from libnats' thread to the daemon's. */
#define QUEUE_MAX	65536
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qcond = PTHREAD_COND_INITIALIZER;
static bool woken;	/* under qlock: transport_wake() */
static natsMsg *queue[QUEUE_MAX];
static unsigned int qhead, qlen;

static void on_reconnected(natsConnection *c, void *closure)
{
	reconnected = 1;
	transport_connected = 1;
}

static void on_connected(natsConnection *c, void *closure)
{
	transport_connected = 1;
}

static void on_disconnected(natsConnection *c, void *closure)
{
	transport_connected = 0;
}

/*
 * A write to a server that has not taken it in this long fails, and the
 * connection with it (libnats reconnects; anti-entropy brings back what was
 * lost).  Without one, libnats writes in blocking mode, and a server that
 * stops reading would hold the main loop, which publishes, for good.
 */
#define WRITE_DEADLINE_MS	5000

/* Who sent msg: the header's node (cluster.rst, "The wire"), or 0. */
static unsigned long sender_of(natsMsg *msg)
{
	const unsigned char *p = (const unsigned char *)natsMsg_GetData(msg);

	if (natsMsg_GetDataLength(msg) < 10)
		return 0;
	return p[8] | (unsigned long)p[9] << 8;
}

/*
 * What a daemon publishes on a direct connection carries this header, so
 * that the peer, which receives it on its main connection, does not take
 * it for its servers' (two daemons that dialled each other's server each
 * heard the other "through the servers", closed, fell silent and dialled
 * again, every few seconds while the route stayed down).
 */
#define DIRECT_HEADER	"Atomik-Via"

static bool direct_published(natsMsg *msg)
{
	const char *v;

	return natsMsgHeader_Get(msg, DIRECT_HEADER, &v) == NATS_OK;
}

/* closure: the direct connection it came by, or NULL. */
static void on_message(natsConnection *c, natsSubscription *s, natsMsg *msg, void *closure)
{
	struct direct *by = closure;
	unsigned long from = nr_directs ? sender_of(msg) : 0;
	uint64_t now;
	int i;

	/* Published here by the peer's own direct connection, not carried
	 * by a route: it says nothing of whether the servers carry the
	 * peer again. */
	if (!by && from && direct_published(msg))
		from = 0;
	pthread_mutex_lock(&qlock);
	/* Read under the lock: another connection's thread may have noted a
	 * later time already, and a time before it would count as silence. */
	now = nr_directs ? now_ns() : 0;
	for (i = 0; !by && i < nr_directs; i++)
		if (directs[i].node == from) {
			if (now - directs[i].main_last > DIRECT_SILENCE_NS)
				directs[i].main_since = now;
			directs[i].main_last = now;
		}
	if (by && from == by->node) {
		by->direct_last = now;
		if (now - by->main_last > DIRECT_SILENCE_NS)
			by->proven = true;
	}
	/* This node's own, back through another server, the core counts as
	 * an echo. */
	if (qlen == QUEUE_MAX) {
		/* Anti-entropy brings back what is dropped here. */
		transport_dropped++;
		natsMsg_Destroy(msg);
	} else {
		queue[(qhead + qlen++) % QUEUE_MAX] = msg;
		pthread_cond_signal(&qcond);
	}
	pthread_mutex_unlock(&qlock);
}

/* What every connection of this daemon's presents: credentials, TLS. */
static natsStatus secure(natsOptions *o)
{
	natsStatus s = NATS_OK;

	if (cfg.nats_nkey)
		s = natsOptions_SetNKeyFromSeed(o, cfg.nats_nkey, cfg.nats_nkey_seed_file);
	else if (cfg.nats_creds_file)
		s = natsOptions_SetUserCredentialsFromFiles(o, cfg.nats_creds_file, NULL);
	else if (cfg.nats_user)
		s = natsOptions_SetUserInfo(o, cfg.nats_user, cfg.nats_password);
	else if (cfg.nats_token_file)
		s = natsOptions_SetToken(o, cfg.nats_token);
	if (s == NATS_OK && (cfg.tls_ca_file || cfg.tls_cert_file || cfg.tls_server_name))
		s = natsOptions_SetSecure(o, true);
	if (s == NATS_OK && cfg.tls_ca_file)
		s = natsOptions_LoadCATrustedCertificates(o, cfg.tls_ca_file);
	if (s == NATS_OK && cfg.tls_cert_file)
		s = natsOptions_LoadCertificatesChain(o, cfg.tls_cert_file, cfg.tls_key_file);
	if (s == NATS_OK && cfg.tls_server_name)
		s = natsOptions_SetExpectedHostname(o, cfg.tls_server_name);
	return s;
}

/* Subject i of what this node needs: the hellos first. */
static void subject(char *subj, size_t size, int i)
{
	if (i == 0)
		snprintf(subj, size, "%s.hello", cfg.prefix);
	else if (i == 1)
		snprintf(subj, size, "%s.rec", cfg.prefix);
	else if (i == 2)
		snprintf(subj, size, "%s.node.%lu", cfg.prefix, cfg.node);
	else
		snprintf(subj, size, "%s.blk.%s", cfg.prefix, cfg.names[i - 3]);
}

/* Subjects d->nr_subs .. n - 1 on d's connection. */
static natsStatus direct_subscribe(struct direct *d, int n)
{
	char subj[160];
	natsStatus s = NATS_OK;

	while (s == NATS_OK && d->nr_subs < n) {
		subject(subj, sizeof(subj), d->nr_subs);
		s = natsConnection_Subscribe(&d->subs[d->nr_subs], d->nc, subj, on_message, d);
		if (s != NATS_OK)
			break;
		s = natsSubscription_SetPendingLimits(d->subs[d->nr_subs++], 1 << 20, 1 << 30);
	}
	if (s == NATS_OK)
		s = natsConnection_Flush(d->nc);
	return s;
}

static void direct_close(struct direct *d)
{
	natsConnection *conn;
	int i;

	pthread_mutex_lock(&dlock);
	conn = d->nc;
	d->nc = NULL;
	d->full = false;
	pthread_mutex_unlock(&dlock);
	if (!conn)
		return;
	for (i = 0; i < d->nr_subs; i++)
		natsSubscription_Destroy(d->subs[i]);
	d->nr_subs = 0;
	natsConnection_Destroy(conn);
}

/* One attempt; NATS_OK with d->nc connected and listening for hellos. */
static natsStatus direct_dial(struct direct *d)
{
	natsConnection *conn = NULL;
	natsOptions *opts;
	natsStatus s;
	char name[64];

	s = natsOptions_Create(&opts);
	if (s != NATS_OK)
		return s;
	snprintf(name, sizeof(name), "atomikd-%lu-to-%lu", cfg.node, d->node);
	s = natsOptions_SetURL(opts, d->url);
	if (s == NATS_OK)
		s = natsOptions_SetName(opts, name);
	if (s == NATS_OK)
		s = natsOptions_SetNoEcho(opts, true);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(opts, DIRECT_TIMEOUT_MS);
	/* Lost again: dialled again by this file, as the first time. */
	if (s == NATS_OK)
		s = natsOptions_SetAllowReconnect(opts, false);
	if (s == NATS_OK)
		s = natsOptions_SetWriteDeadline(opts, WRITE_DEADLINE_MS);
	if (s == NATS_OK)
		s = secure(opts);
	if (s == NATS_OK)
		s = natsConnection_Connect(&conn, opts);
	natsOptions_Destroy(opts);
	if (s != NATS_OK)
		return s;
	pthread_mutex_lock(&qlock);
	d->direct_last = 0;
	d->proven = false;
	d->dialled_at = now_ns();
	pthread_mutex_unlock(&qlock);
	pthread_mutex_lock(&dlock);
	d->nc = conn;
	pthread_mutex_unlock(&dlock);
	s = direct_subscribe(d, 1);
	if (s != NATS_OK)
		direct_close(d);
	return s;
}

/*
 * Before a dial, TCP connection attempts to the peer's server: one every
 * DIRECT_RETRY_MS, each given DIRECT_TIMEOUT_MS, several in flight.  A cut
 * drops their SYNs, and the kernel sends one again only a second later;
 * an attempt started after the heal connects at once, and only then does
 * libnats dial (direct_dial()).  One dial at a time held the thread for
 * its whole timeout, and a heal during it waited for the next: up to 600
 * ms more.  The attempts are closed as soon as they connect (the server
 * sees a client that left before its CONNECT).
 */
struct probes {
	struct sockaddr_storage addr;
	socklen_t len;		/* 0: not known (dial without probing) */
	bool resolved;		/* tried */
	int fd[DIRECT_PROBES];
	uint64_t until[DIRECT_PROBES];
	uint64_t next;		/* the next attempt */
};

/* The host and port of a NATS URL: [SCHEME://][USER[:PASS]@]HOST[:PORT]. */
static void probes_resolve(struct probes *p, const char *url)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	const char *s = strstr(url, "://"), *end, *at, *h, *c;
	char host[256], port[16] = "4222";
	size_t hl;

	p->resolved = true;
	s = s ? s + 3 : url;
	end = s + strcspn(s, "/?#");
	for (at = end; at > s && at[-1] != '@'; at--)
		;
	h = at;
	if (*h == '[') {
		c = memchr(h, ']', end - h);
		if (!c)
			return;
		hl = c - h - 1;
		h++;
		c++;
	} else {
		c = memchr(h, ':', end - h);
		if (!c)
			c = end;
		hl = c - h;
	}
	if (!hl || hl >= sizeof(host))
		return;
	memcpy(host, h, hl);
	host[hl] = 0;
	if (c < end && *c == ':') {
		if (end - c - 1 < 1 || end - c - 1 >= (long)sizeof(port))
			return;
		memcpy(port, c + 1, end - c - 1);
		port[end - c - 1] = 0;
	}
	if (getaddrinfo(host, port, &hints, &ai))
		return;
	if (ai->ai_addrlen <= sizeof(p->addr)) {
		memcpy(&p->addr, ai->ai_addr, ai->ai_addrlen);
		p->len = ai->ai_addrlen;
	}
	freeaddrinfo(ai);
}

static void probes_close(struct probes *p)
{
	int i;

	for (i = 0; i < DIRECT_PROBES; i++)
		if (p->fd[i] >= 0) {
			close(p->fd[i]);
			p->fd[i] = -1;
		}
	p->next = 0;
}

/*
 * The attempts that expired closed, the next one started when due: true
 * once one has connected (then all are closed), or when there is no
 * address to probe.
 */
static bool probes_step(struct probes *p, const char *url, uint64_t now)
{
	struct pollfd pf[DIRECT_PROBES];
	int i, n, err, fd;
	socklen_t l;
	bool open = false;

	if (!p->resolved)
		probes_resolve(p, url);
	if (!p->len)
		return true;
	for (i = 0, n = 0; i < DIRECT_PROBES; i++) {
		if (p->fd[i] >= 0 && now >= p->until[i]) {
			close(p->fd[i]);
			p->fd[i] = -1;
		}
		pf[i].fd = p->fd[i];
		pf[i].events = POLLOUT;
		pf[i].revents = 0;
		n += p->fd[i] >= 0;
	}
	if (n && poll(pf, DIRECT_PROBES, 0) > 0)
		for (i = 0; i < DIRECT_PROBES; i++) {
			if (p->fd[i] < 0 || !pf[i].revents)
				continue;
			l = sizeof(err);
			if (!getsockopt(p->fd[i], SOL_SOCKET, SO_ERROR, &err, &l) && !err)
				open = true;
			close(p->fd[i]);
			p->fd[i] = -1;
		}
	if (!open && now >= p->next) {
		p->next = now + DIRECT_RETRY_MS * 1000000ull;
		for (i = 0; i < DIRECT_PROBES && p->fd[i] >= 0; i++)
			;
		fd = socket(p->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (i < DIRECT_PROBES && fd >= 0) {
			if (!connect(fd, (struct sockaddr *)&p->addr, p->len)) {
				open = true;
				close(fd);
			} else if (errno == EINPROGRESS) {
				p->fd[i] = fd;
				p->until[i] = now + DIRECT_TIMEOUT_MS * 1000000ull;
			} else {
				close(fd);
			}
		} else if (fd >= 0) {
			close(fd);
		}
	}
	if (open)
		probes_close(p);
	return open;
}

/* Until one of the attempts is answered, or ns pass. */
static void probes_wait(struct probes *p, uint64_t ns)
{
	struct pollfd pf[DIRECT_PROBES];
	int i;

	for (i = 0; i < DIRECT_PROBES; i++) {
		pf[i].fd = p->fd[i];
		pf[i].events = POLLOUT;
	}
	poll(pf, DIRECT_PROBES, (ns + 999999) / 1000000);
}

/* Sleeps ns at most, less when the daemon stops. */
static void direct_sleep(uint64_t ns)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ns += ts.tv_nsec;
	ts.tv_sec += ns / 1000000000;
	ts.tv_nsec = ns % 1000000000;
	pthread_mutex_lock(&dlock);
	if (!direct_stop)
		pthread_cond_timedwait(&dwake, &dlock, &ts);
	pthread_mutex_unlock(&dlock);
}

/*
 * A peer's direct connection: whether to dial, widen or close, every 50 ms
 * while one is open or being dialled.  Otherwise the thread sleeps until
 * the peer could first be silent (its last message through the servers
 * only gets later) or until the next attempt is due: at rest, once per
 * silence period, not twenty times a second.
 */
static void *direct_loop(void *arg)
{
	struct direct *d = arg;
	uint64_t now, wait, main_last, retry_at = 0;
	bool silent, idle, back, proven;
	struct probes pr = { .len = 0 };
	natsStatus s;
	int i;

	for (i = 0; i < DIRECT_PROBES; i++)
		pr.fd[i] = -1;

	while (!direct_stop) {
		/* The time under the lock, as on_message() takes it: never
		 * before a message's that it compares with. */
		pthread_mutex_lock(&qlock);
		now = now_ns();
		main_last = d->main_last;
		silent = now - d->main_last > DIRECT_SILENCE_NS;
		back = !silent && now - d->main_since > DIRECT_KEEP_NS;
		idle = now - d->dialled_at > DIRECT_IDLE_NS &&
		       now - d->direct_last > DIRECT_IDLE_NS;
		proven = d->proven;
		pthread_mutex_unlock(&qlock);
		if (d->nc && natsConnection_IsClosed(d->nc)) {
			direct_close(d);
		} else if (d->nc && (back || idle)) {
			if (d->full)
				say("node %lu: %s; the direct connection to %s closed", d->node,
				    back ? "heard through the servers again" : "silent there too",
				    d->url);
			direct_close(d);
			if (idle)
				retry_at = now + DIRECT_BACKOFF_NS;
		} else if (d->nc && proven && !d->full) {
			s = direct_subscribe(d, cfg.nr_tables + 3);
			if (s == NATS_OK) {
				pthread_mutex_lock(&dlock);
				d->full = true;
				pthread_mutex_unlock(&dlock);
				__atomic_add_fetch(&transport_direct_dials, 1, __ATOMIC_RELAXED);
				say("node %lu is heard at its server %s, not through the servers: "
				    "connected there directly", d->node, d->url);
				/* A peer reached another way: the core's hello and
				 * digests now, not at their pace (akd_core_reconnected()). */
				reconnected = 1;
				transport_wake();
			} else {
				direct_close(d);
			}
		} else if (!d->nc && silent && now >= retry_at) {
			if (probes_step(&pr, d->url, now) && direct_dial(d) != NATS_OK)
				retry_at = now_ns() + DIRECT_RETRY_MS * 1000000ull;
		}
		if (d->nc || !silent || now < retry_at)
			probes_close(&pr);
		wait = 50000000;
		now = now_ns();
		if (!d->nc && !silent)
			wait = main_last + DIRECT_SILENCE_NS + 1000000 - now;
		else if (!d->nc && retry_at > now)
			wait = retry_at - now;
		else if (!d->nc && pr.next)
			wait = pr.next > now ? pr.next - now : 0;
		if ((int64_t)wait < 1000000)
			wait = 1000000;
		if (pr.next)
			probes_wait(&pr, wait);
		else
			direct_sleep(wait);
	}
	probes_close(&pr);
	direct_close(d);
	return NULL;
}

static void subscribe(const char *subject)
{
	natsStatus s;

	s = natsConnection_Subscribe(&subs[nr_subs], nc, subject, on_message, NULL);
	if (s == NATS_OK)
		s = natsSubscription_SetPendingLimits(subs[nr_subs], 1 << 20, 1 << 30);
	if (s != NATS_OK)
		die(1, "subscribing to %s: %s", subject, natsStatus_GetText(s));
	nr_subs++;
}

void transport_start(uint64_t session)
{
	natsOptions *opts;
	natsStatus s;
	pthread_condattr_t ca;
	char subj[160], name[64];
	int i;

	if (nats_Open(-1) != NATS_OK)
		die(1, "cannot start the NATS library");
	if (natsOptions_Create(&opts) != NATS_OK)
		die(1, "out of memory");
	snprintf(name, sizeof(name), "atomikd-%lu", cfg.node);
	s = natsOptions_SetServers(opts, (const char **)cfg.servers, cfg.nr_servers);
	if (s == NATS_OK)
		s = natsOptions_SetName(opts, name);
	if (s == NATS_OK)
		s = natsOptions_SetNoEcho(opts, true);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(opts, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(opts, 500);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(opts, on_reconnected, NULL);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(opts, on_disconnected, NULL);
	if (s == NATS_OK)
		s = natsOptions_SetWriteDeadline(opts, WRITE_DEADLINE_MS);
	if (s == NATS_OK)
		s = secure(opts);
	/* Once without retrying, for what refused it (libnats says nothing
	 * of an authorization violation while it retries). */
	if (s == NATS_OK) {
		s = natsConnection_Connect(&nc, opts);
		if (s != NATS_OK)
			say("NATS: %s%s%s: retrying", natsStatus_GetText(s),
			    nats_GetLastError(NULL) ? ": " : "",
			    nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "");
		s = nc ? NATS_OK :
		    natsOptions_SetRetryOnFailedConnect(opts, true, on_connected, NULL);
	}
	if (s != NATS_OK)
		die(2, "NATS options: %s%s%s", natsStatus_GetText(s), nats_GetLastError(NULL) ? ": " : "",
		    nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "");
	s = nc ? NATS_OK : natsConnection_Connect(&nc, opts);
	if (s == NATS_OK)
		transport_connected = 1;
	else if (s != NATS_NOT_YET_CONNECTED)
		die(1, "connecting to NATS: %s", natsStatus_GetText(s));
	natsOptions_Destroy(opts);
	snprintf(subj, sizeof(subj), "%s.hello", cfg.prefix);
	subscribe(subj);
	snprintf(subj, sizeof(subj), "%s.rec", cfg.prefix);
	subscribe(subj);
	snprintf(subj, sizeof(subj), "%s.node.%lu", cfg.prefix, cfg.node);
	subscribe(subj);
	for (i = 0; i < cfg.nr_tables; i++) {
		snprintf(subj, sizeof(subj), "%s.blk.%s", cfg.prefix, cfg.names[i]);
		subscribe(subj);
	}
	(void)session;
	for (i = 0; i < cfg.nr_peer_servers; i++) {
		if (cfg.peer_server_node[i] == cfg.node)
			continue;
		directs[nr_directs].node = cfg.peer_server_node[i];
		directs[nr_directs].url = cfg.peer_servers[i];
		/* Heard at start: a peer is silent only after a silence. */
		directs[nr_directs].main_last = now_ns();
		nr_directs++;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&dwake, &ca);
	pthread_condattr_destroy(&ca);
	for (i = 0; i < nr_directs; i++)
		if (pthread_create(&directs[i].thread, NULL, direct_loop, &directs[i]))
			die(1, "cannot start a direct connection's thread");
}

/* The peers reached directly now: a list of node ids, up to max. */
int transport_direct(unsigned long *nodes, int max)
{
	int i, n = 0;

	pthread_mutex_lock(&dlock);
	for (i = 0; i < nr_directs && n < max; i++)
		if (directs[i].full)
			nodes[n++] = directs[i].node;
	pthread_mutex_unlock(&dlock);
	return n;
}

bool transport_reconnected(void)
{
	if (!reconnected)
		return false;
	reconnected = 0;
	return true;
}

/* Every message queued, or one within timeout_ms, to the core. */
void transport_wake(void)
{
	pthread_mutex_lock(&qlock);
	woken = true;
	pthread_cond_signal(&qcond);
	pthread_mutex_unlock(&qlock);
}

void transport_receive(struct akd_core *core, int64_t timeout_ms)
{
	struct timespec ts;
	natsMsg *msg;

	pthread_mutex_lock(&qlock);
	if (!qlen && !woken && timeout_ms > 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += timeout_ms / 1000;
		ts.tv_nsec += (timeout_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		while (!qlen && !woken && pthread_cond_timedwait(&qcond, &qlock, &ts) != ETIMEDOUT)
			;
	}
	woken = false;
	while (qlen) {
		msg = queue[qhead];
		qhead = (qhead + 1) % QUEUE_MAX;
		qlen--;
		pthread_mutex_unlock(&qlock);
		akd_core_receive(core, now_ns(), natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
		natsMsg_Destroy(msg);
		transport_after_message(core);
		pthread_mutex_lock(&qlock);
	}
	pthread_mutex_unlock(&qlock);
}

void transport_send(const struct akd_send *m)
{
	natsMsg *msg = NULL;
	char subj[160];
	int i;

	switch (m->chan) {
	case AKD_CHAN_BLOCKS:
		snprintf(subj, sizeof(subj), "%s.blk.%s", cfg.prefix, cfg.names[m->table]);
		break;
	case AKD_CHAN_HELLO:
		snprintf(subj, sizeof(subj), "%s.hello", cfg.prefix);
		break;
	case AKD_CHAN_RECORDS:
		snprintf(subj, sizeof(subj), "%s.rec", cfg.prefix);
		break;
	case AKD_CHAN_NODE:
		snprintf(subj, sizeof(subj), "%s.node.%u", cfg.prefix, m->node);
		break;
	default:
		return;
	}
	if (natsConnection_Publish(nc, subj, m->buf, m->len) != NATS_OK)
		transport_send_errors++;
	if (!nr_directs)
		return;
	pthread_mutex_lock(&dlock);
	for (i = 0; i < nr_directs; i++) {
		if (!directs[i].full)
			continue;
		if (!msg && (natsMsg_Create(&msg, subj, NULL, (const char *)m->buf, m->len) != NATS_OK ||
			     natsMsgHeader_Set(msg, DIRECT_HEADER, "direct") != NATS_OK)) {
			transport_send_errors++;
			break;
		}
		if (natsConnection_PublishMsg(directs[i].nc, msg) != NATS_OK)
			transport_send_errors++;
	}
	pthread_mutex_unlock(&dlock);
	if (msg)
		natsMsg_Destroy(msg);
}

int transport_pending_bytes(void)
{
	return nc ? natsConnection_Buffered(nc) : 0;
}

void transport_stop(void)
{
	int i;

	pthread_mutex_lock(&dlock);
	direct_stop = 1;
	pthread_cond_broadcast(&dwake);
	pthread_mutex_unlock(&dlock);
	for (i = 0; i < nr_directs; i++)
		pthread_join(directs[i].thread, NULL);
	natsConnection_FlushTimeout(nc, 2000);
	for (i = 0; i < nr_subs; i++)
		natsSubscription_Destroy(subs[i]);
	natsConnection_Destroy(nc);
	nats_CloseAndWait(2000);
}
