// SPDX-License-Identifier: GPL-2.0
/*
 * atomik-cluster-bench: the measuring hand of the cluster benchmark
 * (tools/bench/cluster-bench), run on the nodes of the three-VM rig.  Every
 * node has table 0 replicated by atomikd; when the benchmark starts them,
 * a member of a three-member etcd cluster on 127.0.0.1:2379, reached by
 * its native gRPC API (HTTP/2 without TLS, below), or a NATS server with
 * JetStream on 127.0.0.1:4222 and the stream EV, replicated on the three
 * (R3), as the event store.  Automerge is measured by its own program
 * (tools/bench/automerge/am-node.mjs), with the same definitions.
 *
 * SYSTEM is atomik (table 0 of /dev/atomik), etcd or jetstream; for
 * "rate", etcd-txn too.  Times are read on the node's own clock; a figure
 * across nodes is a round trip on one node.  Every read a node makes of
 * its own copy is local: atomik_read(), an etcd serializable range served
 * by the node's own member, or the state a node's JetStream consumer
 * applied; polled every millisecond in a ping-pong, every 100 ms when
 * waiting for a whole state.
 *
 *   latency OPS PUTS          OPS accumulates by ioctl, OPS by io_uring
 *                             (one operation per submission), PUTS etcd
 *                             puts, each timed alone: p50/p99 in us
 *   js-latency PUTS           PUTS JetStream publishes, each waiting for
 *                             its acknowledgement (stored by a quorum)
 *   write SYSTEM ROUNDS ADDR PEER...
 *                             the writer of a ping-pong: each round changes
 *                             one value (address ADDR, or the key "pp"),
 *                             and waits until every PEER has said over UDP
 *                             that it reads it: p50/p99 of that time
 *   write-from-rest SYSTEM ROUNDS ADDR PEER...
 *                             the same with rounds 250 ms apart, so that each
 *                             starts from rest (atomikd publishes at most
 *                             once an interval, 100 ms: rounds 20 ms apart
 *                             measure that pacing as much as the path)
 *   watch SYSTEM ROUNDS ADDR  a peer of the ping-pong (polls every 1 ms)
 *   rate SYSTEM RATE SECONDS ADDRS TAG MODEL
 *                             RATE deltas a second offered for SECONDS on
 *                             addresses 0..ADDRS-1: atomik accumulates
 *                             them (a batch per millisecond); etcd puts
 *                             the new value of key TAG/ADDR per delta (up
 *                             to 64 puts in flight); etcd-txn puts the
 *                             changed keys in one transaction every
 *                             100 ms, as atomikd publishes; jetstream
 *                             publishes one event per delta (up to 4096
 *                             unacknowledged).  MODEL = the XOR of the
 *                             deltas written, per address
 *   wait SYSTEM TAG FILE SECONDS [READY]
 *                             until this node's copy holds FILE (atomik:
 *                             the whole table; etcd: the keys TAG/; and
 *                             jetstream: the events applied since the
 *                             wait began, READY touched once subscribed);
 *                             FILE may appear later: the seconds from its
 *                             appearance (exit 1 if not in time)
 *   spread SYSTEM SECONDS RATE TAG MODEL
 *                             RATE writes a second for SECONDS, each alone
 *                             (etcd: a put of key TAG/N; etcd and
 *                             jetstream give one up after 1 s): writes
 *                             accepted and refused, the rate achieved.
 *                             etcd: MODEL lists the keys acknowledged;
 *                             jetstream: each event's id holds TAG (1 to
 *                             255), MODEL.unacked the events (id, address,
 *                             delta) with no answer, which wait (FILE and
 *                             FILE.unacked) accepts applied or not
 *   save FILE                 FILE = the state of every address
 *   xor OUT FILE...           OUT = the XOR of the FILEs (missing = 0)
 *   etcd-ready SECONDS        until the local member accepts a put
 *   etcd-load COUNT           keys k/00000.. (values derived from the
 *                             index) in transactions of 128 puts
 *   etcd-wait-keys PREFIX SECONDS FILE...
 *                             until the local member holds every key the
 *                             FILEs list (serializable, every 100 ms); the
 *                             keys PREFIX... it holds beyond them
 *                             (unacked_committed: puts given up on that
 *                             the cluster committed all the same)
 *   etcd-wait-load COUNT SECONDS
 *                             until the local member counts COUNT keys k/
 *                             and k/COUNT-1 holds its value (serializable,
 *                             every 200 ms)
 *   js-setup SECONDS LEADER   the stream EV (subject ev, file storage, R3)
 *                             made anew, once the cluster has a leader,
 *                             its leader the server named LEADER
 *   js-load COUNT MODEL       COUNT events on 65536 addresses, published
 *                             asynchronously; MODEL = their XOR
 *   js-replay FILE SECONDS    a node's state rebuilt by replaying the whole
 *                             stream (an ordered consumer): the seconds
 *                             and events until it holds FILE
 *   am COMMAND [ARG...]       a command to this node's Automerge program
 *                             (tools/bench/automerge/am-node.mjs), its
 *                             answer on stdout
 *
 * JetStream's server is ATOMIK_NATS_URL when set (tools/bench/jetstream-replay
 * runs three on the host's loopback).
 *
 * Each prints "name value" lines on stdout (n, p50, p99, max of samples in
 * ms, latencies in us; seconds; accepted, refused, written, rate); exits 1
 * when it could not measure what it was asked.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "atomik.h"

#define PP_PORT		7790
#define ETCD_PORT	2379
#define JS_ADDRS	65536	/* the events' address space, table 0's size */

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("atomik-cluster-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(double ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms - ts.tv_sec * 1000.0) * 1e6;
	nanosleep(&ts, NULL);
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* "NAMEn N", "NAMEp50 X", "NAMEp99 X", "NAMEmax X" of n samples, in unit. */
static void percentiles(const char *name, double *v, unsigned int n, double unit)
{
	if (!n)
		die("%sno sample", name);
	qsort(v, n, sizeof(*v), cmp_double);
	printf("%sn %u\n", name, n);
	printf("%sp50 %.3f\n", name, v[n / 2] / unit);
	printf("%sp99 %.3f\n", name, v[(n * 99) / 100] / unit);
	printf("%smax %.3f\n", name, v[n - 1] / unit);
}

/* Every sample, for the distribution's plot: "NAMEsample X" lines. */
static void samples(const char *name, const double *v, unsigned int n, double unit)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		printf("%ssample %.3f\n", name, v[i] / unit);
}

static struct atomik *dev(void)
{
	static struct atomik *a;
	int ret;

	if (!a) {
		ret = atomik_open(&a, NULL, O_RDWR);
		if (ret)
			die("/dev/atomik: %s", strerror(-ret));
	}
	return a;
}

static uint32_t nr_addrs(void)
{
	uint32_t n;
	int ret = atomik_nr_addrs(dev(), &n);

	if (ret)
		die("the table's size: %s", strerror(-ret));
	return n;
}

/* ---- files of one 64-bit value per address (JS_ADDRS of them) ---- */

static uint64_t *file_read(const char *path, uint32_t n)
{
	uint64_t *v = calloc(n, sizeof(*v));
	FILE *f = fopen(path, "r");

	if (!v)
		die("out of memory");
	if (f) {
		if (fread(v, sizeof(*v), n, f) != n)
			die("%s: not %u values", path, n);
		fclose(f);
	} else if (errno != ENOENT) {
		die("%s: %s", path, strerror(errno));
	}
	return v;
}

/* Written under another name and renamed: a reader never sees half. */
static void file_write(const char *path, const uint64_t *v, uint32_t n)
{
	char tmp[512];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.part", path);
	f = fopen(tmp, "w");
	if (!f || fwrite(v, sizeof(*v), n, f) != n || fclose(f) || rename(tmp, path))
		die("%s: cannot write", path);
}

static void state(uint64_t *v, uint32_t n)
{
	int ret = atomik_read_range(dev(), 0, n, v);

	if (ret)
		die("READ_RANGE: %s", strerror(-ret));
}

/*
 * ---- etcd's gRPC API: HTTP/2 without TLS, one connection ----
 *
 * The few calls the benchmark makes (KV.Put, KV.Range, KV.Txn), encoded by
 * hand: requests carry their headers as HPACK literals (no table, no
 * Huffman code), responses' headers are skipped, and a call succeeded when
 * its response message arrived (a failed call has none: its status is
 * in trailers, which are not decoded).  Several calls may be in flight on
 * the connection, each a stream.
 */

#define H2_DATA		0
#define H2_HEADERS	1
#define H2_RST		3
#define H2_SETTINGS	4
#define H2_PING		6
#define H2_GOAWAY	7
#define H2_WINDOW	8
#define H2_CONT		9
#define H2_END_STREAM	0x1
#define H2_ACK		0x1
#define H2_END_HEADERS	0x4
#define H2_PADDED	0x8
#define H2_PRIORITY	0x20
#define H2_MAX_CALLS	256
#define H2_OUR_WINDOW	(1u << 30)

struct call {
	uint32_t id;		/* its stream, 0 when the slot is free */
	bool done, ok;
	uint8_t *buf;		/* the response's DATA */
	size_t len, cap;
	int64_t send_window;
	long tag;		/* the caller's */
};

static int etcd_fd = -1;
static int etcd_timeout_ms = 10000;
static char etcd_err[160];	/* why the last call failed */
static uint32_t h2_next_id;
static int64_t h2_conn_window, h2_init_window;
static uint32_t h2_max_frame = 16384;
static uint64_t h2_unacked;	/* DATA received, not yet given back */
static struct call calls[H2_MAX_CALLS];
static unsigned int calls_in_flight;

static void etcd_close(void)
{
	unsigned int i;

	if (etcd_fd >= 0)
		close(etcd_fd);
	etcd_fd = -1;
	for (i = 0; i < H2_MAX_CALLS; i++) {
		if (calls[i].id && !calls[i].done) {
			calls[i].done = true;
			calls[i].ok = false;
		}
	}
}

static bool write_all(const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = write(etcd_fd, b, n);

		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			return false;
		}
		b += w;
		n -= w;
	}
	return true;
}

static bool read_all(void *p, size_t n)
{
	uint8_t *b = p;

	while (n) {
		ssize_t r = read(etcd_fd, b, n);

		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			return false;
		}
		b += r;
		n -= r;
	}
	return true;
}

static bool h2_frame(uint8_t type, uint8_t flags, uint32_t id, const void *p, size_t n)
{
	uint8_t h[9] = { n >> 16, n >> 8, n, type, flags, id >> 24, id >> 16, id >> 8, id };

	return write_all(h, 9) && (!n || write_all(p, n));
}

static bool h2_window_update(uint32_t id, uint32_t inc)
{
	uint8_t b[4] = { inc >> 24, inc >> 16, inc >> 8, inc };

	return h2_frame(H2_WINDOW, 0, id, b, 4);
}

static bool etcd_connect(void)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(ETCD_PORT) };
	/* ENABLE_PUSH 0, INITIAL_WINDOW_SIZE 2^30 */
	uint8_t settings[12] = { 0, 2, 0, 0, 0, 0, 0, 4, 0x40, 0, 0, 0 };
	struct timeval tv = { 10, 0 };
	int one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	etcd_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (etcd_fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(etcd_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(etcd_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(etcd_fd, (struct sockaddr *)&sa, sizeof(sa))) {
		snprintf(etcd_err, sizeof(etcd_err), "cannot connect to 127.0.0.1:%d", ETCD_PORT);
		close(etcd_fd);
		etcd_fd = -1;
		return false;
	}
	h2_next_id = 1;
	h2_conn_window = 65535;
	h2_init_window = 65535;
	h2_max_frame = 16384;
	h2_unacked = 0;
	if (!write_all(preface, sizeof(preface) - 1) ||
	    !h2_frame(H2_SETTINGS, 0, 0, settings, sizeof(settings)) ||
	    !h2_window_update(0, H2_OUR_WINDOW - 65535)) {
		etcd_close();
		return false;
	}
	return true;
}

static struct call *call_of(uint32_t id)
{
	unsigned int i;

	for (i = 0; i < H2_MAX_CALLS; i++)
		if (calls[i].id == id)
			return &calls[i];
	return NULL;
}

static void call_end(struct call *c, bool ok)
{
	if (!c->done) {
		c->done = true;
		c->ok = ok;
	}
}

/* One frame from the member, handled: false when the connection is gone. */
static bool h2_read_frame(void)
{
	static uint8_t *p;
	static size_t cap;
	uint8_t h[9];
	uint32_t len, id, i;
	uint8_t type, flags;
	struct call *c;

	if (!read_all(h, 9))
		return false;
	len = h[0] << 16 | h[1] << 8 | h[2];
	type = h[3];
	flags = h[4];
	id = (h[5] & 0x7f) << 24 | h[6] << 16 | h[7] << 8 | h[8];
	if (len + 1 > cap) {
		cap = len + 1;
		p = realloc(p, cap);
		if (!p)
			die("out of memory");
	}
	if (len && !read_all(p, len))
		return false;
	c = id ? call_of(id) : NULL;
	switch (type) {
	case H2_DATA: {
		uint32_t off = 0, n = len;

		h2_unacked += len;
		if (flags & H2_PADDED) {
			off = 1;
			n = len - 1 - p[0];
		}
		if (c) {
			if (c->len + n > c->cap) {
				c->cap = (c->len + n) * 2;
				c->buf = realloc(c->buf, c->cap);
				if (!c->buf)
					die("out of memory");
			}
			memcpy(c->buf + c->len, p + off, n);
			c->len += n;
			if (flags & H2_END_STREAM)
				call_end(c, true);
		}
		if (h2_unacked > H2_OUR_WINDOW / 2) {
			if (!h2_window_update(0, h2_unacked))
				return false;
			h2_unacked = 0;
		}
		break;
	}
	case H2_HEADERS:
		/* Trailers end the call; a message must have come first. */
		if (c && (flags & H2_END_STREAM))
			call_end(c, c->len >= 5);
		/* CONTINUATION frames of a long header block are skipped below. */
		break;
	case H2_CONT:
		break;
	case H2_RST:
		if (c)
			call_end(c, false);
		break;
	case H2_SETTINGS:
		if (flags & H2_ACK)
			break;
		for (i = 0; i + 6 <= len; i += 6) {
			uint16_t k = p[i] << 8 | p[i + 1];
			uint32_t v = (uint32_t)p[i + 2] << 24 | p[i + 3] << 16 | p[i + 4] << 8 | p[i + 5];

			if (k == 4) {
				unsigned int j;

				for (j = 0; j < H2_MAX_CALLS; j++)
					if (calls[j].id)
						calls[j].send_window += (int64_t)v - h2_init_window;
				h2_init_window = v;
			} else if (k == 5) {
				h2_max_frame = v;
			}
		}
		if (!h2_frame(H2_SETTINGS, H2_ACK, 0, NULL, 0))
			return false;
		break;
	case H2_PING:
		if (!(flags & H2_ACK) && !h2_frame(H2_PING, H2_ACK, 0, p, len))
			return false;
		break;
	case H2_GOAWAY:
		snprintf(etcd_err, sizeof(etcd_err), "the member closed the connection (GOAWAY)");
		return false;
	case H2_WINDOW:
		if (len == 4) {
			uint32_t inc = (p[0] & 0x7f) << 24 | p[1] << 16 | p[2] << 8 | p[3];

			if (!id)
				h2_conn_window += inc;
			else if (c)
				c->send_window += inc;
		}
		break;
	}
	return true;
}

/* Frames until one arrives within timeout_ms (or none): false if the
 * connection is lost. */
static bool h2_pump(int timeout_ms)
{
	struct pollfd pf = { etcd_fd, POLLIN, 0 };
	int r;

	if (etcd_fd < 0)
		return false;
	r = poll(&pf, 1, timeout_ms);
	if (r < 0 && errno != EINTR)
		return false;
	if (r <= 0)
		return true;
	do {
		if (!h2_read_frame()) {
			etcd_close();
			return false;
		}
		pf.revents = 0;
	} while (poll(&pf, 1, 0) == 1);
	return true;
}

static void hpack_str(uint8_t *b, size_t *o, const char *s)
{
	size_t n = strlen(s);

	b[(*o)++] = n;	/* every string here is shorter than 127 */
	memcpy(b + *o, s, n);
	*o += n;
}

/* Starts a call of method path with message m: its slot, or NULL when the
 * connection is lost. */
static struct call *grpc_start(const char *path, const uint8_t *m, size_t n, long tag)
{
	uint8_t hb[256];
	size_t o = 0, off = 0;
	struct call *c;
	uint8_t *msg;

	if (etcd_fd < 0 && !etcd_connect())
		return NULL;
	c = call_of(0);
	if (!c)
		die("more than %d calls in flight", H2_MAX_CALLS);
	memset(c, 0, sizeof(*c));
	c->id = h2_next_id;
	h2_next_id += 2;
	c->send_window = h2_init_window;
	c->tag = tag;
	calls_in_flight++;
	hb[o++] = 0x83;		/* :method POST */
	hb[o++] = 0x86;		/* :scheme http */
	hb[o++] = 0x04;		/* :path, a literal */
	hpack_str(hb, &o, path);
	hb[o++] = 0x01;		/* :authority */
	hpack_str(hb, &o, "127.0.0.1");
	hb[o++] = 0x0f;		/* content-type (static index 31) */
	hb[o++] = 0x10;
	hpack_str(hb, &o, "application/grpc");
	hb[o++] = 0x00;
	hpack_str(hb, &o, "te");
	hpack_str(hb, &o, "trailers");
	if (!h2_frame(H2_HEADERS, H2_END_HEADERS, c->id, hb, o))
		goto lost;
	/* The message, after gRPC's 5-byte prefix, in frames the windows allow. */
	msg = malloc(n + 5);
	if (!msg)
		die("out of memory");
	msg[0] = 0;
	msg[1] = n >> 24;
	msg[2] = n >> 16;
	msg[3] = n >> 8;
	msg[4] = n;
	memcpy(msg + 5, m, n);
	n += 5;
	while (off < n) {
		int64_t w = h2_conn_window < c->send_window ? h2_conn_window : c->send_window;
		size_t k = n - off;

		if (k > h2_max_frame)
			k = h2_max_frame;
		if ((int64_t)k > w)
			k = w > 0 ? w : 0;
		if (!k) {
			if (!h2_pump(etcd_timeout_ms) || etcd_fd < 0) {
				free(msg);
				goto lost;
			}
			continue;
		}
		if (!h2_frame(H2_DATA, off + k == n ? H2_END_STREAM : 0, c->id, msg + off, k)) {
			free(msg);
			goto lost;
		}
		off += k;
		h2_conn_window -= k;
		c->send_window -= k;
	}
	free(msg);
	return c;
lost:
	snprintf(etcd_err, sizeof(etcd_err), "the connection to the member was lost");
	etcd_close();
	return c;
}

static void call_free(struct call *c)
{
	free(c->buf);
	memset(c, 0, sizeof(*c));
	calls_in_flight--;
}

/* Waits for call c: its message (after the prefix) in *m, or false when it
 * failed or did not end within etcd_timeout_ms (the connection is then
 * dropped, to be made again). */
static bool grpc_wait(struct call *c)
{
	double end = now() + etcd_timeout_ms / 1000.0;

	while (!c->done) {
		int left = (end - now()) * 1000;

		if (left <= 0) {
			snprintf(etcd_err, sizeof(etcd_err), "no answer within %d ms", etcd_timeout_ms);
			etcd_close();
			break;
		}
		if (!h2_pump(left > 100 ? 100 : left))
			break;
	}
	if (c->done && !c->ok)
		snprintf(etcd_err, sizeof(etcd_err), "the call failed (no response message)");
	return c->done && c->ok;
}

/* ---- protocol buffers, the few fields the calls use ---- */

struct pb {
	uint8_t *b;
	size_t len, cap;
};

static void pb_byte(struct pb *p, uint8_t v)
{
	if (p->len == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 256;
		p->b = realloc(p->b, p->cap);
		if (!p->b)
			die("out of memory");
	}
	p->b[p->len++] = v;
}

static void pb_varint(struct pb *p, uint64_t v)
{
	while (v >= 0x80) {
		pb_byte(p, v | 0x80);
		v >>= 7;
	}
	pb_byte(p, v);
}

static void pb_bytes(struct pb *p, unsigned int field, const void *s, size_t n)
{
	pb_varint(p, field << 3 | 2);
	pb_varint(p, n);
	while (n--)
		pb_byte(p, *(const uint8_t *)s++);
}

static void pb_bool(struct pb *p, unsigned int field)
{
	pb_varint(p, field << 3);
	pb_byte(p, 1);
}

/* The next field of b[*o..n]: its number and, for a length-delimited one,
 * its bytes; false at the end or on a malformed message. */
static bool pb_next(const uint8_t *b, size_t n, size_t *o, unsigned int *field,
		    uint64_t *v, const uint8_t **s, size_t *sl)
{
	uint64_t key = 0, x = 0;
	int sh = 0;

	if (*o >= n)
		return false;
	do {
		if (*o >= n || sh > 63)
			return false;
		key |= (uint64_t)(b[*o] & 0x7f) << sh;
		sh += 7;
	} while (b[(*o)++] & 0x80);
	*field = key >> 3;
	switch (key & 7) {
	case 0:
	case 2:
		sh = 0;
		do {
			if (*o >= n || sh > 63)
				return false;
			x |= (uint64_t)(b[*o] & 0x7f) << sh;
			sh += 7;
		} while (b[(*o)++] & 0x80);
		*v = x;
		if ((key & 7) == 2) {
			if (x > n - *o)
				return false;
			*s = b + *o;
			*sl = x;
			*o += x;
		}
		return true;
	case 1:
		*o += 8;
		return *o <= n;
	case 5:
		*o += 4;
		return *o <= n;
	}
	return false;
}

/* The revision in a response's header (field 1), or -1. */
static int64_t pb_revision(const uint8_t *b, size_t n)
{
	size_t o = 0, o2;
	unsigned int f, f2;
	uint64_t v, v2;
	const uint8_t *s = NULL, *s2;
	size_t sl = 0, sl2;

	while (pb_next(b, n, &o, &f, &v, &s, &sl)) {
		if (f != 1)
			continue;
		o2 = 0;
		while (pb_next(s, sl, &o2, &f2, &v2, &s2, &sl2))
			if (f2 == 3)
				return v2;
	}
	return -1;
}

static void put_request(struct pb *p, const char *key, const char *value)
{
	pb_bytes(p, 1, key, strlen(key));
	pb_bytes(p, 2, value, strlen(value));
}

static struct call *etcd_put_start(const char *key, const char *value, long tag)
{
	struct pb p = { 0 };
	struct call *c;

	put_request(&p, key, value);
	c = grpc_start("/etcdserverpb.KV/Put", p.b, p.len, tag);
	free(p.b);
	return c;
}

/* A put of key = value: its revision once the cluster committed it, or -1. */
static int64_t etcd_put(const char *key, const char *value)
{
	struct call *c = etcd_put_start(key, value, 0);
	int64_t rev = -1;

	if (c && grpc_wait(c))
		rev = pb_revision(c->buf + 5, c->len - 5);
	if (c)
		call_free(c);
	return rev;
}

/*
 * A serializable range: this member's own copy, no round through the
 * leader.  With count_only the count, else each key and value given to fn.
 * -1 when the call failed.
 */
static int64_t etcd_range(const char *key, const char *end, bool count_only,
			  void (*fn)(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *arg),
			  void *arg)
{
	struct pb p = { 0 };
	struct call *c;
	int64_t count = -1;

	pb_bytes(&p, 1, key, strlen(key));
	if (end)
		pb_bytes(&p, 2, end, strlen(end));
	pb_bool(&p, 7);		/* serializable */
	if (count_only)
		pb_bool(&p, 9);
	c = grpc_start("/etcdserverpb.KV/Range", p.b, p.len, 0);
	free(p.b);
	if (c && grpc_wait(c)) {
		const uint8_t *b = c->buf + 5, *s = NULL;
		size_t n = c->len - 5, o = 0, sl = 0;
		unsigned int f;
		uint64_t v;

		count = 0;
		while (pb_next(b, n, &o, &f, &v, &s, &sl)) {
			if (f == 4) {
				count = v;
			} else if (f == 2 && fn) {	/* a KeyValue */
				const uint8_t *ks = NULL, *vs = NULL, *x;
				size_t kl = 0, vl = 0, xl, o2 = 0;
				unsigned int f2;
				uint64_t v2;

				while (pb_next(s, sl, &o2, &f2, &v2, &x, &xl)) {
					if (f2 == 1) {
						ks = x;
						kl = xl;
					} else if (f2 == 5) {
						vs = x;
						vl = xl;
					}
				}
				if (ks)
					fn(ks, kl, vs ? vs : (const uint8_t *)"", vs ? vl : 0, arg);
			}
		}
	}
	if (c)
		call_free(c);
	return count;
}

static void get_one(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *arg)
{
	char *out = arg;

	if (vl > 63)
		vl = 63;
	memcpy(out, v, vl);
	out[vl] = 0;
}

/* A serializable read of key: true and its value (or "") in value. */
static bool etcd_get(const char *key, char *value)
{
	value[0] = 0;
	return etcd_range(key, NULL, false, get_one, value) >= 0;
}

/* A transaction of puts, keys[i] = values[i]: its revision, or -1. */
static struct call *etcd_txn_start(char **keys, char **values, unsigned int n)
{
	struct pb p = { 0 }, op = { 0 }, put = { 0 };
	struct call *c;
	unsigned int i;

	for (i = 0; i < n; i++) {
		put.len = op.len = 0;
		put_request(&put, keys[i], values[i]);
		pb_bytes(&op, 2, put.b, put.len);	/* RequestOp.request_put */
		pb_bytes(&p, 2, op.b, op.len);		/* TxnRequest.success */
	}
	c = grpc_start("/etcdserverpb.KV/Txn", p.b, p.len, 0);
	free(p.b);
	free(op.b);
	free(put.b);
	return c;
}

static void load_value(char *buf, size_t cap, unsigned int i)
{
	snprintf(buf, cap, "%016llx", (unsigned long long)i * 0x9e3779b97f4a7c15ull);
}

/* ---- JetStream: the stream EV on the local NATS server ---- */

static natsConnection *nc;
static jsCtx *js;
static pthread_mutex_t js_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t *js_state;	/* what this node's consumer applied */
static uint64_t js_applied;
static volatile uint64_t js_acked, js_failed;

struct event {
	uint32_t addr;
	uint32_t id;		/* spread's events: who wrote it, and which; else 0 */
	uint64_t delta;
};

/* The events with an id this node's consumer applied (spread's, a few thousand). */
static struct event *js_ided;
static size_t js_nided, js_ided_cap;

static void js_ack(jsCtx *ctx, natsMsg *m, jsPubAck *pa, jsPubAckErr *pae, void *arg)
{
	if (pa && !pae)
		__atomic_add_fetch(&js_acked, 1, __ATOMIC_RELAXED);
	else
		__atomic_add_fetch(&js_failed, 1, __ATOMIC_RELAXED);
	natsMsg_Destroy(m);
}

/* How long an asynchronous publish waits while 4096 are unacknowledged
 * (libnats' default, 200 ms, unless a command needs every event in). */
static int64_t js_stall_ms = 200;

static void js_connect(void)
{
	natsOptions *o;
	jsOptions jo;
	natsStatus s;
	int i;

	if (js)
		return;
	s = natsOptions_Create(&o);
	if (s == NATS_OK)
		s = natsOptions_SetURL(o, getenv("ATOMIK_NATS_URL") ? getenv("ATOMIK_NATS_URL") :
				       "nats://127.0.0.1:4222");
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(o, 200);
	/* A server just started may not listen yet: 60 s for it. */
	for (i = 0; s == NATS_OK && i < 120; i++) {
		s = natsConnection_Connect(&nc, o);
		if (s != NATS_NO_SERVER)
			break;
		s = NATS_OK;
		sleep_ms(500);
	}
	natsOptions_Destroy(o);
	if (s != NATS_OK)
		die("NATS at 127.0.0.1:4222: %s", natsStatus_GetText(s));
	jsOptions_Init(&jo);
	jo.Wait = 1000;
	jo.PublishAsync.MaxPending = 4096;
	jo.PublishAsync.StallWait = js_stall_ms;
	jo.PublishAsync.AckHandler = js_ack;
	s = natsConnection_JetStream(&js, nc, &jo);
	if (s != NATS_OK)
		die("JetStream: %s", natsStatus_GetText(s));
}

static uint64_t js_seq;		/* the stream sequence applied last */
static double js_seen;		/* when an event came last */
static natsSubscription *js_sub;

/* Applied once each, by stream sequence: a consumer made again may deliver
 * again what was already applied (XOR would undo it). */
static void js_on_event(natsConnection *c, natsSubscription *sub, natsMsg *m, void *arg)
{
	const struct event *e = (const void *)natsMsg_GetData(m);
	jsMsgMetaData *md = NULL;

	if (natsMsg_GetDataLength(m) == sizeof(*e) && natsMsg_GetMetaData(&md, m) == NATS_OK) {
		pthread_mutex_lock(&js_lock);
		if (md->Sequence.Stream > js_seq) {
			js_state[e->addr % JS_ADDRS] ^= e->delta;
			js_applied++;
			if (e->id) {
				if (js_nided == js_ided_cap) {
					js_ided_cap = js_ided_cap ? 2 * js_ided_cap : 1024;
					js_ided = realloc(js_ided, js_ided_cap * sizeof(*e));
					if (!js_ided)
						die("out of memory");
				}
				js_ided[js_nided++] = *e;
			}
			js_seq = md->Sequence.Stream;
		}
		js_seen = now();
		pthread_mutex_unlock(&js_lock);
		jsMsgMetaData_Destroy(md);
	}
	natsMsg_Destroy(m);
}

/* This node's consumer of EV, an ordered one from the event after js_seq. */
static void js_subscribe(void)
{
	jsSubOptions so;
	jsErrCode je = 0;
	natsStatus s;

	if (js_sub) {
		natsSubscription_Unsubscribe(js_sub);
		natsSubscription_Destroy(js_sub);
		js_sub = NULL;
	}
	jsSubOptions_Init(&so);
	so.Ordered = true;
	so.Config.DeliverPolicy = js_DeliverByStartSequence;
	pthread_mutex_lock(&js_lock);
	so.Config.OptStartSeq = js_seq + 1;
	js_seen = now();
	pthread_mutex_unlock(&js_lock);
	s = js_Subscribe(&js_sub, js, "ev", js_on_event, NULL, NULL, &so, &je);
	if (s != NATS_OK) {
		/* Retried by js_check() (a node cut off has no JetStream). */
		fprintf(stderr, "atomik-cluster-bench: JetStream consumer: %s (%d)\n",
			natsStatus_GetText(s), (int)je);
		js_sub = NULL;
		return;
	}
	natsSubscription_SetPendingLimits(js_sub, -1, -1);
}

/* This node's consumer of EV, from now on or (all) from the start. */
static void js_follow(bool all)
{
	jsStreamInfo *si = NULL;

	js_connect();
	if (!js_state) {
		js_state = calloc(JS_ADDRS, sizeof(*js_state));
		if (!js_state)
			die("out of memory");
	}
	if (!all) {
		if (js_GetStreamInfo(&si, js, "EV", NULL, NULL) != NATS_OK)
			die("JetStream: no stream EV");
		js_seq = si->State.LastSeq;
		jsStreamInfo_Destroy(si);
	}
	js_subscribe();
	if (!js_sub)
		die("JetStream: no consumer of EV");
}

/* An ordered consumer that heard nothing for 3 s while the state is not
 * yet complete is made again from the next sequence: libnats gives up
 * remaking one while its server has no JetStream (cut off). */
static void js_check(void)
{
	static unsigned int reconnects;
	bool stale;

	pthread_mutex_lock(&js_lock);
	stale = now() - js_seen > 3;
	pthread_mutex_unlock(&js_lock);
	if (!stale)
		return;
	/* A new connection as well: after a cut, a consumer made again on the
	 * connection that lived through it was seen to deliver nothing for
	 * minutes (libnats 3.4, nats-server 2.9), where one on a new
	 * connection caught up. */
	if (js_sub) {
		natsSubscription_Destroy(js_sub);
		js_sub = NULL;
	}
	jsCtx_Destroy(js);
	js = NULL;
	natsConnection_Destroy(nc);
	nc = NULL;
	js_connect();
	fprintf(stderr, "atomik-cluster-bench: JetStream: connected again (%u) after 3 s without an "
		"event\n", ++reconnects);
	js_subscribe();
}

/* Why a consumer hears nothing: the stream as this node's server sees it. */
static void js_explain(void)
{
	jsStreamInfo *si = NULL;
	natsStatus st;
	int i;

	st = js_GetStreamInfo(&si, js, "EV", NULL, NULL);
	if (st != NATS_OK) {
		fprintf(stderr, "atomik-cluster-bench: JetStream: no stream info: %s\n",
			natsStatus_GetText(st));
		return;
	}
	fprintf(stderr, "atomik-cluster-bench: JetStream: applied up to %" PRIu64 ", the stream's last %"
		PRIu64 ", leader %s\n", js_seq, si->State.LastSeq,
		si->Cluster && si->Cluster->Leader ? si->Cluster->Leader : "none");
	for (i = 0; si->Cluster && i < si->Cluster->ReplicasLen; i++)
		fprintf(stderr, "atomik-cluster-bench: JetStream: replica %s current %d offline %d "
			"lag %" PRIu64 "\n", si->Cluster->Replicas[i]->Name,
			si->Cluster->Replicas[i]->Current, si->Cluster->Replicas[i]->Offline,
			si->Cluster->Replicas[i]->Lag);
	jsStreamInfo_Destroy(si);
}

/* One event, published and acknowledged within 1 s (stored by a quorum). */
static bool js_publish_id(uint32_t addr, uint32_t id, uint64_t delta)
{
	struct event e = { addr, id, delta };
	jsPubOptions po;

	jsPubOptions_Init(&po);
	po.MaxWait = 1000;
	return js_Publish(NULL, js, "ev", &e, sizeof(e), &po, NULL) == NATS_OK;
}

static bool js_publish(uint32_t addr, uint64_t delta)
{
	return js_publish_id(addr, 0, delta);
}

/* ---- the commands ---- */

static void latency_etcd(unsigned int puts)
{
	double *v = calloc(puts + 1, sizeof(*v));
	unsigned int i, fails = 0;
	char key[32], val[32];

	if (!v)
		die("out of memory");
	for (i = 0; i < puts; i++) {
		double t = now();

		snprintf(key, sizeof(key), "lat/%u", i % 100);
		snprintf(val, sizeof(val), "%016" PRIx64, rnd());
		if (etcd_put(key, val) < 0) {
			/* A put refused (an election under way) is counted, not timed. */
			fprintf(stderr, "atomik-cluster-bench: etcd put %s: %s\n", key, etcd_err);
			if (++fails > puts / 10)
				die("more than 1 put in 10 failed");
			i--;
			continue;
		}
		v[i] = now() - t;
	}
	percentiles("etcd.", v, puts, 1e-6);
	printf("etcd.failed %u\n", fails);
	free(v);
}

static int cmd_latency(unsigned int ops, unsigned int puts)
{
	double *v = calloc(ops + 1, sizeof(*v));
	struct atomik_queue *q;
	struct atomik_completion c;
	unsigned int i;
	int ret;

	if (!v)
		die("out of memory");
	if (!ops)
		goto etcd;
	for (i = 0; i < ops; i++) {
		double t = now();

		ret = atomik_accum(dev(), 1, rnd());
		v[i] = now() - t;
		if (ret)
			die("ACCUM: %s", strerror(-ret));
	}
	percentiles("ioctl.", v, ops, 1e-6);
	ret = atomik_queue_init(&q, dev(), 8, 0);
	if (ret)
		die("io_uring queue: %s", strerror(-ret));
	for (i = 0; i < ops; i++) {
		double t = now();

		ret = atomik_queue_accum(q, 1, rnd(), i);
		if (!ret)
			ret = atomik_queue_submit(q) == 1 ? 0 : -EIO;
		if (!ret)
			ret = atomik_queue_reap(q, &c, 1, 1) == 1 ? c.result : -EIO;
		v[i] = now() - t;
		if (ret)
			die("queued ACCUM: %s", strerror(-ret));
	}
	atomik_queue_exit(q);
	percentiles("uring.", v, ops, 1e-6);
etcd:
	if (puts)
		latency_etcd(puts);
	return 0;
}

static int cmd_js_latency(unsigned int puts)
{
	double *v = calloc(puts + 1, sizeof(*v));
	unsigned int i, fails = 0;

	if (!v)
		die("out of memory");
	js_connect();
	for (i = 0; i < puts; i++) {
		double t = now();

		if (!js_publish(i % 100, rnd())) {
			if (++fails > puts / 10)
				die("more than 1 publish in 10 failed");
			i--;
			continue;
		}
		v[i] = now() - t;
	}
	percentiles("", v, puts, 1e-6);
	printf("failed %u\n", fails);
	return 0;
}

static int udp_socket(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(PP_PORT) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
		die("UDP port %d: %s", PP_PORT, strerror(errno));
	return fd;
}

/* The value the ping-pong's round r has left. */
static uint64_t pp_value(uint64_t base, unsigned int r)
{
	return base ^ ((uint64_t)r * 0x100000001ull);
}

enum sys { ATOMIK, ETCD, ETCD_TXN, JETSTREAM };

static bool pp_reads(enum sys sys, uint32_t addr, uint64_t base, unsigned int r)
{
	char want[32], got[64];
	uint64_t s;

	switch (sys) {
	case ETCD:
		snprintf(want, sizeof(want), "%u", r);
		return etcd_get("pp", got) && !strcmp(got, want);
	case JETSTREAM:
		pthread_mutex_lock(&js_lock);
		s = js_state[addr];
		pthread_mutex_unlock(&js_lock);
		return s == pp_value(0, r);
	default:
		if (atomik_read(dev(), addr, &s))
			die("READ %u failed", addr);
		return s == pp_value(base, r);
	}
}

/* A datagram "KIND N" to or from a peer. */
static void pp_send(int fd, const struct sockaddr_in *to, const char *kind, unsigned int n)
{
	char m[32];
	int l = snprintf(m, sizeof(m), "%s %u", kind, n);

	sendto(fd, m, l, 0, (const struct sockaddr *)to, sizeof(*to));
}

static bool pp_recv(int fd, int timeout_ms, struct sockaddr_in *from, char *kind, unsigned int *n)
{
	struct pollfd p = { fd, POLLIN, 0 };
	socklen_t sl = sizeof(*from);
	char m[32];
	ssize_t l;

	if (poll(&p, 1, timeout_ms) != 1)
		return false;
	l = recvfrom(fd, m, sizeof(m) - 1, 0, (struct sockaddr *)from, &sl);
	if (l <= 0)
		return false;
	m[l] = 0;
	return sscanf(m, "%7s %u", kind, n) == 2;
}

static unsigned int pp_gap_ms = 20;

static int cmd_write(enum sys sys, unsigned int rounds, uint32_t addr, int npeers, char **peers)
{
	struct sockaddr_in to[8], from;
	double *v = calloc(rounds + 20 * npeers, sizeof(*v)), *rtt = v + rounds;
	unsigned int r, n = 0, got, nrtt = 0, tries;
	uint64_t base = 0;
	char kind[8] = "", val[32];
	int fd = udp_socket(), i, k;

	if (!v || npeers < 1 || npeers > 8)
		die("write: 1 to 8 peers");
	for (i = 0; i < npeers; i++) {
		memset(&to[i], 0, sizeof(to[i]));
		to[i].sin_family = AF_INET;
		to[i].sin_port = htons(PP_PORT);
		if (inet_pton(AF_INET, peers[i], &to[i].sin_addr) != 1)
			die("write: '%s' is not an IPv4 address", peers[i]);
	}
	if (sys == ATOMIK && atomik_read(dev(), addr, &base))
		die("READ %u failed", addr);
	if (sys == JETSTREAM)
		js_connect();
	/* The UDP round trip to each peer, as it waits to start. */
	for (i = 0; i < npeers; i++) {
		/* Sent again every 200 ms until answered: the peer may not be
		 * listening yet; for at most 60 s. */
		for (k = 0, tries = 0; k < 20; k++) {
			double t;

			do {
				if (++tries > 300)
					die("write: peer %s does not answer its pings", peers[i]);
				t = now();
				pp_send(fd, &to[i], "ping", k);
				while (pp_recv(fd, 200, &from, kind, &n) &&
				       (strcmp(kind, "pong") || n != (unsigned int)k))
					;
			} while (strcmp(kind, "pong") || n != (unsigned int)k);
			rtt[nrtt++] = now() - t;
		}
		for (k = 0; k < 3; k++)	/* a datagram lost is not a failure */
			pp_send(fd, &to[i], "go", rounds);
	}
	for (r = 1; r <= rounds; r++) {
		double t = now(), end = t + 20;
		bool seen[8] = { false };

		if (sys == ETCD) {
			snprintf(val, sizeof(val), "%u", r);
			if (etcd_put("pp", val) < 0)
				die("write: etcd put of round %u: %s", r, etcd_err);
		} else if (sys == JETSTREAM) {
			if (!js_publish(addr, pp_value(0, r) ^ pp_value(0, r - 1)))
				die("write: JetStream publish of round %u failed", r);
		} else if (atomik_accum(dev(), addr, pp_value(base, r) ^ pp_value(base, r - 1))) {
			die("write: ACCUM failed");
		}
		for (got = 0; got < (unsigned int)npeers;) {
			int left = (end - now()) * 1000;

			if (left <= 0 || !pp_recv(fd, left, &from, kind, &n))
				die("write: round %u not read by every peer within 20 s", r);
			if (strcmp(kind, "read") || n != r)
				continue;
			for (i = 0; i < npeers; i++) {
				if (to[i].sin_addr.s_addr == from.sin_addr.s_addr && !seen[i]) {
					seen[i] = true;
					got++;
				}
			}
		}
		v[r - 1] = now() - t;
		/* Rounds a little apart (write-from-rest: more than a publish
		 * interval). */
		sleep_ms(pp_gap_ms);
	}
	samples("", v, rounds, 1e-3);
	percentiles("", v, rounds, 1e-3);
	percentiles("udp-rtt.", rtt, nrtt, 1e-3);
	return 0;
}

static int cmd_watch(enum sys sys, unsigned int rounds, uint32_t addr)
{
	struct sockaddr_in writer;
	unsigned int r, n;
	uint64_t base = 0;
	char kind[8];
	int fd = udp_socket();

	if (sys == ATOMIK && atomik_read(dev(), addr, &base))
		die("READ %u failed", addr);
	if (sys == JETSTREAM)
		js_follow(false);
	/* Pings until the writer says go. */
	for (;;) {
		if (!pp_recv(fd, 120000, &writer, kind, &n))
			die("watch: no word from the writer within 120 s");
		if (!strcmp(kind, "ping"))
			pp_send(fd, &writer, "pong", n);
		else if (!strcmp(kind, "go"))
			break;
	}
	/*
	 * A notice is said again every 100 ms until the next round shows, and
	 * the last one for a second: a datagram lost delays its round's
	 * figure by at most that, where it would have failed the run (the
	 * writer counts each peer once a round and ignores other rounds').
	 */
	for (r = 1; r <= rounds; r++) {
		double end = now() + 20, again = now() + 0.1;

		while (!pp_reads(sys, addr, base, r)) {
			if (now() > end)
				die("watch: round %u not read within 20 s", r);
			if (r > 1 && now() >= again) {
				pp_send(fd, &writer, "read", r - 1);
				again = now() + 0.1;
			}
			sleep_ms(1);
		}
		pp_send(fd, &writer, "read", r);
	}
	for (n = 0; n < 10; n++) {
		sleep_ms(100);
		pp_send(fd, &writer, "read", rounds);
	}
	return 0;
}

/* ---- offered rates ---- */

struct rate_run {
	enum sys sys;
	uint32_t addrs;
	const char *tag;
	uint64_t *m;		/* the XOR of the deltas written, per address */
	uint64_t written;	/* deltas accepted */
	uint64_t calls;		/* puts, transactions, batches, events */
	/* etcd: per key, the last put sent and its revision, the highest seen */
	uint64_t *sent_seq, *seq_rev, *max_rev;
	uint64_t seq;
	/* etcd-txn: the keys changed since the last transaction */
	uint8_t *dirty;
	uint32_t *dlist;
	uint32_t ndirty;
};

static void key_of(char *key, size_t cap, const char *tag, uint32_t a)
{
	snprintf(key, cap, "%s/%05u", tag, a);
}

/* A completed etcd put: accepted or not, its key's revisions noted. */
static void rate_put_done(struct rate_run *r, struct call *c)
{
	uint32_t a = c->tag >> 32 & 0xffffffff;	/* tag: addr << 32 | seq */
	uint64_t seq = c->tag & 0xffffffff;

	if (c->ok && c->len >= 5) {
		int64_t rev = pb_revision(c->buf + 5, c->len - 5);

		r->written++;
		if (rev > (int64_t)r->max_rev[a])
			r->max_rev[a] = rev;
		if (seq == (r->sent_seq[a] & 0xffffffff))
			r->seq_rev[a] = rev;
	}
	call_free(c);
}

static void rate_reap(struct rate_run *r)
{
	unsigned int i;

	for (i = 0; i < H2_MAX_CALLS; i++)
		if (calls[i].id && calls[i].done)
			rate_put_done(r, &calls[i]);
}

/* etcd-txn: one transaction of every changed key; waits for it. */
static struct call *txn_call;
static uint32_t txn_keys;

/* At most this many keys a transaction (etcd's own limit is 128 by
 * default, raised for the benchmark): the keys changed beyond them wait
 * for the next one.  A transaction of 62000 keys outlasted etcd's request
 * timeout under emulation. */
#define TXN_MAX_KEYS	8192

static void rate_txn_send(struct rate_run *r)
{
	uint32_t n = r->ndirty < TXN_MAX_KEYS ? r->ndirty : TXN_MAX_KEYS, i;
	char **k = malloc(n * sizeof(char *)), **v = malloc(n * sizeof(char *));

	if (!k || !v)
		die("out of memory");
	for (i = 0; i < n; i++) {
		uint32_t a = r->dlist[r->ndirty - n + i];

		k[i] = malloc(48);
		v[i] = malloc(24);
		if (!k[i] || !v[i])
			die("out of memory");
		key_of(k[i], 48, r->tag, a);
		snprintf(v[i], 24, "%016" PRIx64, r->m[a]);
		r->dirty[a] = 0;
	}
	txn_call = etcd_txn_start(k, v, n);
	txn_keys = n;
	for (i = 0; i < n; i++) {
		free(k[i]);
		free(v[i]);
	}
	free(k);
	free(v);
	r->ndirty -= n;
	if (!txn_call)
		die("rate: etcd transaction: %s", etcd_err);
	r->calls++;
}

static bool rate_txn_reap(struct rate_run *r, bool block)
{
	if (!txn_call)
		return true;
	if (!block && !txn_call->done)
		return false;
	if (!grpc_wait(txn_call))
		die("rate: etcd transaction of %u keys: %s", txn_keys, etcd_err);
	call_free(txn_call);
	txn_call = NULL;
	return true;
}

/* One delta of the offered load: false if it must wait (etcd's window). */
static bool rate_one(struct rate_run *r, struct atomik_delta *batch, unsigned int *nb)
{
	uint32_t a = rnd() % r->addrs;
	uint64_t d = rnd();
	char key[48], val[24];
	struct call *c;

	switch (r->sys) {
	case ATOMIK:
		batch[*nb].addr = a;
		batch[*nb].reserved = 0;
		batch[*nb].delta = d;
		++*nb;
		r->m[a] ^= d;
		r->written++;
		return true;
	case ETCD:
		if (calls_in_flight >= 64)
			return false;
		r->m[a] ^= d;
		r->seq++;
		r->sent_seq[a] = r->seq;
		key_of(key, sizeof(key), r->tag, a);
		snprintf(val, sizeof(val), "%016" PRIx64, r->m[a]);
		c = etcd_put_start(key, val, (long)((uint64_t)a << 32 | (r->seq & 0xffffffff)));
		if (!c)
			die("rate: etcd put: %s", etcd_err);
		r->calls++;
		return true;
	case ETCD_TXN:
		r->m[a] ^= d;
		r->written++;
		if (!r->dirty[a]) {
			r->dirty[a] = 1;
			r->dlist[r->ndirty++] = a;
		}
		return true;
	case JETSTREAM: {
		struct event e = { a, 0, d };

		if (js_PublishAsync(js, "ev", &e, sizeof(e), NULL) != NATS_OK)
			return false;
		r->m[a] ^= d;	/* undone below if the server refuses it */
		r->calls++;
		return true;
	}
	}
	return false;
}

static int cmd_rate(enum sys sys, unsigned int rate, unsigned int seconds, uint32_t addrs,
		    const char *tag, const char *model)
{
	struct rate_run r = { .sys = sys, .addrs = addrs, .tag = tag };
	struct atomik_delta batch[256];
	double t0, end, last_txn, t;
	uint64_t offered = 0, due;
	unsigned int nb = 0;
	uint32_t a;

	if (addrs < 1 || addrs > JS_ADDRS || !rate)
		die("rate: 1 to %u addresses, a rate above 0", JS_ADDRS);
	r.m = calloc(JS_ADDRS, 8);
	r.sent_seq = calloc(JS_ADDRS, 8);
	r.seq_rev = calloc(JS_ADDRS, 8);
	r.max_rev = calloc(JS_ADDRS, 8);
	r.dirty = calloc(JS_ADDRS, 1);
	r.dlist = calloc(JS_ADDRS, 4);
	if (!r.m || !r.sent_seq || !r.seq_rev || !r.max_rev || !r.dirty || !r.dlist)
		die("out of memory");
	if (sys == JETSTREAM)
		js_connect();
	etcd_timeout_ms = 30000;
	t0 = now();
	end = t0 + seconds;
	last_txn = t0;
	while ((t = now()) < end) {
		due = (uint64_t)((t - t0) * rate) + 1;
		if (due > (uint64_t)rate * seconds)
			due = (uint64_t)rate * seconds;
		while (offered < due) {
			if (!rate_one(&r, batch, &nb))
				break;
			offered++;
			if (nb == 256) {
				int ret = atomik_accum_batch(dev(), batch, nb);

				if (ret)
					die("ACCUM_BATCH: %s", strerror(-ret));
				nb = 0;
				r.calls++;
			}
			if (now() >= end)
				break;
		}
		if (nb) {
			int ret = atomik_accum_batch(dev(), batch, nb);

			if (ret)
				die("ACCUM_BATCH: %s", strerror(-ret));
			nb = 0;
			r.calls++;
		}
		/* A load behind its schedule is not caught up later: what
		 * was not written in time is not offered (the achieved rate
		 * says how much). */
		if (offered < due && sys == ETCD) {
			h2_pump(1);
			rate_reap(&r);
			if (etcd_fd < 0)
				die("rate: etcd: %s", etcd_err);
			due = offered;
		}
		if (sys == ETCD) {
			h2_pump(0);
			rate_reap(&r);
		} else if (sys == ETCD_TXN && now() - last_txn >= 0.1 && rate_txn_reap(&r, false) &&
			   r.ndirty) {
			rate_txn_send(&r);
			last_txn = now();
		} else if (sys == ETCD_TXN && txn_call) {
			h2_pump(0);
		}
		sleep_ms(1);
	}
	/* Offered load that fell behind is dropped: count what was offered. */
	if (sys == ETCD) {
		while (calls_in_flight) {
			if (!h2_pump(1000) && calls_in_flight) {
				rate_reap(&r);
				die("rate: etcd: %s", etcd_err);
			}
			rate_reap(&r);
		}
		/* A put overtaken by an older one of the same key (puts in
		 * flight together commit in any order): the newest again. */
		for (a = 0; a < addrs; a++) {
			char key[48], val[24];

			if (!r.sent_seq[a] || r.seq_rev[a] == r.max_rev[a])
				continue;
			key_of(key, sizeof(key), tag, a);
			snprintf(val, sizeof(val), "%016" PRIx64, r.m[a]);
			if (etcd_put(key, val) < 0)
				die("rate: etcd put %s again: %s", key, etcd_err);
			printf("reput %u\n", a);
		}
	}
	if (sys == ETCD_TXN) {
		rate_txn_reap(&r, true);
		while (r.ndirty) {
			rate_txn_send(&r);
			rate_txn_reap(&r, true);
		}
	}
	if (sys == JETSTREAM) {
		jsPubOptions po;

		jsPubOptions_Init(&po);
		po.MaxWait = 60000;
		if (js_PublishAsyncComplete(js, &po) != NATS_OK)
			die("rate: JetStream: acknowledgements missing after 60 s");
		if (js_failed)
			die("rate: JetStream refused %" PRIu64 " events", (uint64_t)js_failed);
		r.written = js_acked;
	}
	t = now() - t0;
	printf("offered %" PRIu64 "\n", (uint64_t)rate * seconds);
	printf("written %" PRIu64 "\n", r.written);
	printf("calls %" PRIu64 "\n", r.calls);
	printf("seconds %.3f\n", t);
	printf("rate %.1f\n", r.written / t);
	file_write(model, r.m, JS_ADDRS);
	return 0;
}

/* ---- waiting for a whole state ---- */

struct etcd_cmp {
	const uint64_t *want;
	const char *tag;
	uint32_t match;
};

static void cmp_kv(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *arg)
{
	struct etcd_cmp *e = arg;
	size_t tl = strlen(e->tag);
	char buf[24];
	uint32_t a;

	if (kl < tl + 2 || kl > tl + 7 || vl != 16)
		return;
	memcpy(buf, k + tl + 1, kl - tl - 1);
	buf[kl - tl - 1] = 0;
	a = strtoul(buf, NULL, 10);
	memcpy(buf, v, 16);
	buf[16] = 0;
	if (a < JS_ADDRS && strtoull(buf, NULL, 16) == e->want[a] && e->want[a])
		e->match++;
}

/* A node of the rig that failed (a file failed.N in ATOMIK_SHARED): no
 * file it was to make will come. */
static void check_failed(void)
{
	const char *sh = getenv("ATOMIK_SHARED");
	char p[512];
	struct stat st;
	int i;

	for (i = 1; sh && i <= 3; i++) {
		snprintf(p, sizeof(p), "%s/failed.%d", sh, i);
		if (!stat(p, &st))
			die("node %d of the rig failed", i);
	}
}

static bool wait_file(const char *path, double end)
{
	struct stat st;

	while (stat(path, &st)) {
		if (now() > end)
			return false;
		check_failed();
		sleep_ms(50);
	}
	return true;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The events of FILE.unacked (id, address, delta), published with no
 * answer: their ids, sorted.  None when there is no such file.
 */
static uint64_t *unacked_read(const char *path, size_t *n)
{
	char name[512];
	uint64_t u[3], *ids = NULL;
	size_t cap = 0;
	FILE *f;

	*n = 0;
	snprintf(name, sizeof(name), "%s.unacked", path);
	f = fopen(name, "r");
	if (!f) {
		if (errno != ENOENT)
			die("%s: %s", name, strerror(errno));
		return NULL;
	}
	while (fread(u, sizeof(u), 1, f) == 1) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 256;
			ids = realloc(ids, cap * sizeof(*ids));
			if (!ids)
				die("out of memory");
		}
		ids[(*n)++] = u[0];
	}
	fclose(f);
	if (*n)
		qsort(ids, *n, sizeof(*ids), cmp_u64);
	return ids;
}

/*
 * FILE, and the events of FILE.unacked this node's consumer applied: an
 * event that had no answer may have been stored all the same; the check
 * is that every acknowledged one was applied, and nothing else but those.
 */
static unsigned int js_want(uint64_t *w, const uint64_t *want, const uint64_t *ids, size_t nids)
{
	unsigned int found = 0;
	uint64_t id;
	size_t i;

	memcpy(w, want, (size_t)JS_ADDRS * 8);
	for (i = 0; nids && i < js_nided; i++) {
		id = js_ided[i].id;
		if (bsearch(&id, ids, nids, sizeof(*ids), cmp_u64)) {
			w[js_ided[i].addr % JS_ADDRS] ^= js_ided[i].delta;
			found++;
		}
	}
	return found;
}

static int cmd_wait(enum sys sys, const char *tag, const char *path, unsigned int seconds,
		    const char *ready)
{
	uint64_t *ids = NULL, *w = NULL;
	size_t nids = 0;
	unsigned int unacked_applied = 0;
	double t, end = now() + seconds;
	uint32_t n = sys == ATOMIK ? nr_addrs() : JS_ADDRS, i, diff = 0, nz = 0;
	uint64_t *want, *s = calloc(n, 8);
	char key[48], stop[48];

	if (!s)
		die("out of memory");
	if (sys == JETSTREAM)
		js_follow(false);
	if (ready) {
		FILE *f = fopen(ready, "w");

		if (!f)
			die("%s: %s", ready, strerror(errno));
		fclose(f);
	}
	if (!wait_file(path, end))
		die("wait: no %s after %u s", path, seconds);
	t = now();
	end = t + seconds;
	want = file_read(path, n);
	for (i = 0; i < n; i++)
		nz += want[i] != 0;
	if (sys == JETSTREAM) {
		ids = unacked_read(path, &nids);
		w = malloc((size_t)n * 8);
		if (!w)
			die("out of memory");
	}
	snprintf(key, sizeof(key), "%s/", tag);
	snprintf(stop, sizeof(stop), "%s0", tag);	/* the end of the prefix TAG/ */
	etcd_timeout_ms = 10000;
	for (;;) {
		if (sys == ATOMIK) {
			state(s, n);
			if (!memcmp(s, want, (size_t)n * 8))
				break;
		} else if (sys == JETSTREAM) {
			pthread_mutex_lock(&js_lock);
			unacked_applied = js_want(w, want, ids, nids);
			diff = memcmp(js_state, w, (size_t)n * 8);
			pthread_mutex_unlock(&js_lock);
			if (!diff)
				break;
			js_check();
		} else {
			struct etcd_cmp e = { want, tag, 0 };

			/* The count first, cheap; the values once it matches. */
			if (etcd_range(key, stop, true, NULL, NULL) == nz &&
			    etcd_range(key, stop, false, cmp_kv, &e) >= 0 && e.match == nz)
				break;
		}
		if (now() > end) {
			if (sys == ATOMIK)
				for (i = 0; i < n; i++)
					diff += s[i] != want[i];
			if (sys == JETSTREAM) {
				js_explain();
				for (i = 0, diff = 0; i < n; i++)
					diff += js_state[i] != w[i];
				fprintf(stderr, "atomik-cluster-bench: JetStream: %" PRIu64 " events "
					"applied, %zu with an id; %u of the %zu without an answer "
					"among them\n", js_applied, js_nided, unacked_applied, nids);
			}
			die("wait: %s: the state differs after %u s (%u addresses)", tag, seconds, diff);
		}
		sleep_ms(100);
	}
	printf("seconds %.3f\n", now() - t);
	if (ids)
		printf("unacked %zu\nunacked_applied %u\n", nids, unacked_applied);
	free(ids);
	free(w);
	return 0;
}

static unsigned int num(const char *s);

static int cmd_spread(enum sys sys, unsigned int seconds, unsigned int rate, const char *tag,
		      const char *model)
{
	uint64_t *m = calloc(JS_ADDRS, 8);
	unsigned int ok = 0, refused = 0, i = 0, id_base = 0;
	long last = -1;
	double t0 = now(), next = t0, t;
	char key[64], val[32], path[512];
	FILE *keys = NULL, *unacked = NULL;

	if (!m)
		die("out of memory");
	etcd_timeout_ms = 1000;
	if (sys == ETCD) {
		/* The keys of the puts acknowledged, a line each. */
		snprintf(path, sizeof(path), "%s.part", model);
		keys = fopen(path, "w");
		if (!keys)
			die("%s: %s", path, strerror(errno));
	}
	if (sys == JETSTREAM) {
		/* Each event's id: TAG (1 to 255) in the high byte, a count below. */
		id_base = num(tag);
		if (id_base < 1 || id_base > 255)
			die("spread jetstream: TAG is a number from 1 to 255");
		id_base <<= 24;
		snprintf(path, sizeof(path), "%s.unacked.part", model);
		unacked = fopen(path, "w");
		if (!unacked)
			die("%s: %s", path, strerror(errno));
		js_connect();
	}
	while (now() < t0 + seconds) {
		uint32_t a = rnd() % JS_ADDRS;
		uint64_t d = rnd();
		bool done;

		switch (sys) {
		case ETCD:
			snprintf(key, sizeof(key), "%s/%u", tag, i);
			snprintf(val, sizeof(val), "%u", i);
			done = etcd_put(key, val) >= 0;
			if (done) {
				last = i;
				fprintf(keys, "%s\n", key);
			}
			break;
		case JETSTREAM:
			if (i + 1 >= 1u << 24)
				die("spread jetstream: more than 2^24 events");
			done = js_publish_id(a, id_base | (i + 1), d);
			/*
			 * No answer is no proof that the event was not stored:
			 * a quorum may have stored it after the second went by,
			 * or the cut-off server may hand it on once the link is
			 * back.  Kept aside, by id, for the heal's check.
			 */
			if (!done) {
				uint64_t u[3] = { id_base | (i + 1), a, d };

				if (fwrite(u, sizeof(u), 1, unacked) != 1)
					die("%s: cannot write", path);
			}
			break;
		default:
			done = !atomik_accum(dev(), a, d);
			break;
		}
		if (done) {
			m[a] ^= d;
			ok++;
		} else {
			refused++;
		}
		i++;
		next += 1.0 / rate;
		if (next > now())
			sleep_ms((next - now()) * 1000);
	}
	t = now() - t0;
	printf("accepted %u\nrefused %u\n", ok, refused);
	printf("rate %.2f\nattempts_rate %.2f\n", ok / t, (ok + refused) / t);
	if (last >= 0)
		printf("last %ld\n", last);
	if (keys) {
		snprintf(path, sizeof(path), "%s.part", model);
		if (fclose(keys) || rename(path, model))
			die("%s: cannot write", model);
	} else {
		file_write(model, m, JS_ADDRS);
	}
	if (unacked) {
		char done_path[512];

		snprintf(path, sizeof(path), "%s.unacked.part", model);
		snprintf(done_path, sizeof(done_path), "%s.unacked", model);
		if (fclose(unacked) || rename(path, done_path))
			die("%s: cannot write", done_path);
	}
	free(m);
	return 0;
}

static int cmd_save(const char *path)
{
	uint32_t n = nr_addrs();
	uint64_t *s = calloc(n, 8);

	if (!s)
		die("out of memory");
	state(s, n);
	file_write(path, s, n);
	return 0;
}

static int cmd_xor(const char *out, int nfiles, char **files)
{
	uint32_t n = JS_ADDRS, i;
	uint64_t *x = calloc(n, 8);
	int f;

	if (!x)
		die("out of memory");
	for (f = 0; f < nfiles; f++) {
		uint64_t *v = file_read(files[f], n);

		for (i = 0; i < n; i++)
			x[i] ^= v[i];
		free(v);
	}
	file_write(out, x, n);
	return 0;
}

static int cmd_etcd_ready(unsigned int seconds)
{
	double t = now(), end = t + seconds;

	etcd_timeout_ms = 2000;
	while (etcd_put("ready", "1") < 0) {
		if (now() > end)
			die("etcd-ready: the member accepts no put within %u s: %s", seconds, etcd_err);
		sleep_ms(200);
	}
	printf("seconds %.3f\n", now() - t);
	return 0;
}

static int cmd_etcd_load(unsigned int count)
{
	char *k[128], *v[128];
	unsigned int i = 0, j;
	double t = now();
	struct call *c;

	for (j = 0; j < 128; j++) {
		k[j] = malloc(32);
		v[j] = malloc(32);
		if (!k[j] || !v[j])
			die("out of memory");
	}
	etcd_timeout_ms = 30000;
	while (i < count) {
		for (j = 0; j < 128 && i < count; j++, i++) {
			snprintf(k[j], 32, "k/%05u", i);
			load_value(v[j], 32, i);
		}
		c = etcd_txn_start(k, v, j);
		if (!c || !grpc_wait(c))
			die("etcd-load: the transaction ending at key %u: %s", i, etcd_err);
		call_free(c);
	}
	printf("seconds %.3f\n", now() - t);
	return 0;
}

struct keyset {
	char **k;
	size_t n, cap;
};

static void keyset_add(struct keyset *ks, const char *k, size_t kl)
{
	if (ks->n == ks->cap) {
		ks->cap = ks->cap ? 2 * ks->cap : 256;
		ks->k = realloc(ks->k, ks->cap * sizeof(*ks->k));
		if (!ks->k)
			die("out of memory");
	}
	ks->k[ks->n] = strndup(k, kl);
	if (!ks->k[ks->n++])
		die("out of memory");
}

static void keyset_clear(struct keyset *ks)
{
	while (ks->n)
		free(ks->k[--ks->n]);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void keyset_kv(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *arg)
{
	keyset_add(arg, (const char *)k, kl);
}

/*
 * Until the local member holds every key listed in the FILEs (the puts
 * that were acknowledged): a put given up after 1 s may have been
 * committed all the same, so the keys under PREFIX may be more; those are
 * counted (unacked_committed), not required.
 */
static int cmd_etcd_wait_keys(const char *prefix, unsigned int seconds, int nfiles, char **files)
{
	double t = now(), end = t + seconds;
	struct keyset want = { 0 }, have = { 0 };
	char stop[64], line[128];
	size_t n = strlen(prefix), i, missing = 0;
	int f;

	if (!n || n > 60)
		die("etcd-wait-keys: a prefix of 1 to 60 bytes");
	memcpy(stop, prefix, n + 1);
	stop[n - 1]++;
	for (f = 0; f < nfiles; f++) {
		FILE *fp = fopen(files[f], "r");

		if (!fp)
			die("%s: %s", files[f], strerror(errno));
		while (fgets(line, sizeof(line), fp)) {
			line[strcspn(line, "\n")] = 0;
			if (strncmp(line, prefix, n))
				die("%s: key '%s' is not under %s", files[f], line, prefix);
			keyset_add(&want, line, strlen(line));
		}
		fclose(fp);
	}
	etcd_timeout_ms = 1000;
	for (;;) {
		keyset_clear(&have);
		if (etcd_range(prefix, stop, false, keyset_kv, &have) >= 0) {
			qsort(have.k, have.n, sizeof(*have.k), cmp_str);
			for (i = 0, missing = 0; i < want.n; i++)
				missing += !bsearch(&want.k[i], have.k, have.n, sizeof(*have.k),
						    cmp_str);
			if (!missing)
				break;
		}
		if (now() > end)
			die("etcd-wait-keys: %zu of the %zu acknowledged keys %s... missing after %u s",
			    missing, want.n, prefix, seconds);
		sleep_ms(100);
	}
	printf("seconds %.3f\n", now() - t);
	printf("keys %zu\nunacked_committed %zu\n", want.n, have.n - want.n);
	keyset_clear(&want);
	keyset_clear(&have);
	free(want.k);
	free(have.k);
	return 0;
}

static int cmd_etcd_wait_load(unsigned int count, unsigned int seconds)
{
	double t = now(), end = t + seconds;
	char want[32], got[64], key[32];

	snprintf(key, sizeof(key), "k/%05u", count - 1);
	load_value(want, sizeof(want), count - 1);
	etcd_timeout_ms = 1000;
	for (;;) {
		if (etcd_range("k/", "k0", true, NULL, NULL) == count && etcd_get(key, got) &&
		    !strcmp(got, want))
			break;
		if (now() > end)
			die("etcd-wait-load: %u keys k/ not there after %u s", count, seconds);
		sleep_ms(200);
	}
	printf("seconds %.3f\n", now() - t);
	return 0;
}

static int cmd_js_setup(unsigned int seconds, const char *want)
{
	double t = now(), end = t + seconds;
	int tries;
	const char *subjects[] = { "ev" };
	jsStreamConfig cfg;
	jsStreamInfo *si = NULL;
	jsErrCode je = 0;
	natsStatus s;

	js_connect();
	jsStreamConfig_Init(&cfg);
	cfg.Name = "EV";
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.Storage = js_FileStorage;
	cfg.Replicas = 3;
	for (;;) {
		js_DeleteStream(js, "EV", NULL, NULL);
		s = js_AddStream(&si, js, &cfg, NULL, &je);
		if (s == NATS_OK)
			break;
		if (now() > end)
			die("js-setup: no stream EV after %u s: %s (%d)", seconds, natsStatus_GetText(s),
			    (int)je);
		sleep_ms(500);
	}
	/* Its leader on the writers' node, node 1 (as etcd's is): a leader
	 * elsewhere is asked to step down until node 1 is elected. */
	for (tries = 0;; tries++) {
		const char *l = si && si->Cluster && si->Cluster->Leader ? si->Cluster->Leader : "";
		natsMsg *reply = NULL;

		if (!strcmp(l, want))
			break;
		if (tries == 20 || now() > end)
			die("js-setup: the stream's leader is %s, not %s, after %d step-downs", l, want,
			    tries);
		natsConnection_RequestString(&reply, nc, "$JS.API.STREAM.LEADER.STEPDOWN.EV", "",
					     5000);
		natsMsg_Destroy(reply);
		sleep_ms(1000);
		jsStreamInfo_Destroy(si);
		si = NULL;
		js_GetStreamInfo(&si, js, "EV", NULL, NULL);
	}
	printf("leader %s\nstepdowns %d\n", want, tries);
	/* Every replica current: a server just back from a cut may still hold
	 * the stream of the same name that was deleted while it was away, and
	 * a consumer on it would replay that one. */
	for (;;) {
		int i, behind = si && si->Cluster ? 0 : 1;

		for (i = 0; si && si->Cluster && i < si->Cluster->ReplicasLen; i++)
			if (!si->Cluster->Replicas[i]->Current || si->Cluster->Replicas[i]->Offline)
				behind++;
		if (!behind && si->Cluster->ReplicasLen == cfg.Replicas - 1)
			break;
		if (now() > end)
			die("js-setup: %d of the stream's replicas not current after %u s", behind,
			    seconds);
		sleep_ms(200);
		jsStreamInfo_Destroy(si);
		si = NULL;
		js_GetStreamInfo(&si, js, "EV", NULL, NULL);
	}
	jsStreamInfo_Destroy(si);
	/* Ready when it takes an event. */
	while (!js_publish(0, 0)) {
		if (now() > end)
			die("js-setup: the stream takes no event after %u s", seconds);
		sleep_ms(200);
	}
	printf("seconds %.3f\n", now() - t);
	return 0;
}

static int cmd_js_load(unsigned int count, const char *model)
{
	uint64_t *m = calloc(JS_ADDRS, 8);
	jsPubOptions po;
	double t = now();
	unsigned int i;

	if (!m)
		die("out of memory");
	js_stall_ms = 60000;	/* every event in: a full window waits for acks */
	js_connect();
	for (i = 0; i < count; i++) {
		struct event e = { rnd() % JS_ADDRS, 0, rnd() };

		if (js_PublishAsync(js, "ev", &e, sizeof(e), NULL) != NATS_OK)
			die("js-load: publish %u failed", i);
		m[e.addr] ^= e.delta;
	}
	jsPubOptions_Init(&po);
	po.MaxWait = 600000;
	if (js_PublishAsyncComplete(js, &po) != NATS_OK || js_failed)
		die("js-load: %" PRIu64 " of %u events not acknowledged", (uint64_t)js_failed, count);
	file_write(model, m, JS_ADDRS);
	printf("seconds %.3f\nevents %u\n", now() - t, count);
	return 0;
}

static int cmd_js_replay(const char *path, unsigned int seconds)
{
	uint64_t *want = file_read(path, JS_ADDRS), last;
	jsStreamInfo *si = NULL;
	double t, end;
	bool same, wrong;

	js_connect();
	if (js_GetStreamInfo(&si, js, "EV", NULL, NULL) != NATS_OK)
		die("js-replay: no stream EV");
	last = si->State.Msgs;	/* js_seq stays 0: from the first */
	jsStreamInfo_Destroy(si);
	t = now();
	end = t + seconds;
	js_follow(true);
	for (;;) {
		pthread_mutex_lock(&js_lock);
		same = js_applied >= last && !memcmp(js_state, want, JS_ADDRS * 8);
		pthread_mutex_unlock(&js_lock);
		if (same)
			break;
		/* Every event applied and the state still not the model's: no
		 * more will come, say so now rather than at the deadline. */
		pthread_mutex_lock(&js_lock);
		wrong = js_applied >= last && now() - js_seen > 10;
		pthread_mutex_unlock(&js_lock);
		if (wrong)
			die("js-replay: %" PRIu64 " events applied (the stream holds %" PRIu64
			    "), the state not the model's", js_applied, last);
		js_check();
		if (now() > end) {
			js_explain();
			die("js-replay: %" PRIu64 " of %" PRIu64 " events applied after %u s", js_applied,
			    last, seconds);
		}
		sleep_ms(100);
	}
	printf("seconds %.3f\nevents %" PRIu64 "\n", now() - t, js_applied);
	return 0;
}

/* A command to this node's Automerge program (am-node.mjs, on
 * 127.0.0.1:7792 or AM_CTL_PORT): its lines, less the closing "ok". */
static int cmd_am(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(7792) };
	char line[8192], *p = line, *nl;
	size_t o = 0, have = 0;
	const char *port = getenv("AM_CTL_PORT");
	int fd, i;
	ssize_t r;

	if (port)
		sa.sin_port = htons(atoi(port));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < argc; i++)
		o += snprintf(line + o, sizeof(line) - o, "%s%s", i ? " " : "", argv[i]);
	if (o + 2 > sizeof(line))
		die("am: a command of %zu bytes", o);
	line[o++] = '\n';
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		die("am: the Automerge node does not answer on port %d", ntohs(sa.sin_port));
	if (write(fd, line, o) != (ssize_t)o)
		die("am: %s", strerror(errno));
	/* The answer, line by line: the last says how it went. */
	for (;;) {
		r = read(fd, line + have, sizeof(line) - 1 - have);
		if (r <= 0)
			break;
		have += r;
		line[have] = 0;
		p = line;
		while ((nl = strchr(p, '\n'))) {
			*nl = 0;
			if (!strcmp(p, "ok")) {
				close(fd);
				return 0;
			}
			if (!strncmp(p, "error ", 6))
				die("am %s: %s", argv[0], p + 6);
			puts(p);
			p = nl + 1;
		}
		have -= p - line;
		memmove(line, p, have);
		if (have >= sizeof(line) - 1)
			die("am: a line too long");
	}
	die("am %s: the Automerge node closed without an answer", argv[0]);
}

static unsigned int num(const char *s)
{
	char *e;
	unsigned long v = strtoul(s, &e, 0);

	if (!*s || *e || v > UINT32_MAX)
		die("'%s' is not a number", s);
	return v;
}

static enum sys system_arg(const char *s, bool txn)
{
	if (!strcmp(s, "atomik"))
		return ATOMIK;
	if (!strcmp(s, "etcd"))
		return ETCD;
	if (!strcmp(s, "jetstream"))
		return JETSTREAM;
	if (txn && !strcmp(s, "etcd-txn"))
		return ETCD_TXN;
	die("SYSTEM is atomik, etcd%s or jetstream, not '%s'", txn ? ", etcd-txn" : "", s);
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";

	rng_state = 0x2545f4914f6cdd1dull ^ (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(c, "latency") && argc == 4)
		return cmd_latency(num(argv[2]), num(argv[3]));
	if (!strcmp(c, "js-latency") && argc == 3)
		return cmd_js_latency(num(argv[2]));
	if (!strcmp(c, "write-from-rest") && argc >= 6)
		pp_gap_ms = 250;
	if ((!strcmp(c, "write") || !strcmp(c, "write-from-rest")) && argc >= 6)
		return cmd_write(system_arg(argv[2], false), num(argv[3]), num(argv[4]), argc - 5,
				 argv + 5);
	if (!strcmp(c, "watch") && argc == 5)
		return cmd_watch(system_arg(argv[2], false), num(argv[3]), num(argv[4]));
	if (!strcmp(c, "rate") && argc == 8)
		return cmd_rate(system_arg(argv[2], true), num(argv[3]), num(argv[4]), num(argv[5]),
				argv[6], argv[7]);
	if (!strcmp(c, "wait") && (argc == 6 || argc == 7))
		return cmd_wait(system_arg(argv[2], false), argv[3], argv[4], num(argv[5]),
				argc == 7 ? argv[6] : NULL);
	if (!strcmp(c, "spread") && argc == 7)
		return cmd_spread(system_arg(argv[2], false), num(argv[3]), num(argv[4]), argv[5],
				  argv[6]);
	if (!strcmp(c, "save") && argc == 3)
		return cmd_save(argv[2]);
	if (!strcmp(c, "xor") && argc >= 4)
		return cmd_xor(argv[2], argc - 3, argv + 3);
	if (!strcmp(c, "etcd-ready") && argc == 3)
		return cmd_etcd_ready(num(argv[2]));
	if (!strcmp(c, "etcd-load") && argc == 3)
		return cmd_etcd_load(num(argv[2]));
	if (!strcmp(c, "etcd-wait-keys") && argc >= 5)
		return cmd_etcd_wait_keys(argv[2], num(argv[3]), argc - 4, argv + 4);
	if (!strcmp(c, "etcd-wait-load") && argc == 4)
		return cmd_etcd_wait_load(num(argv[2]), num(argv[3]));
	if (!strcmp(c, "am") && argc >= 3)
		return cmd_am(argc - 2, argv + 2);
	if (!strcmp(c, "js-setup") && argc == 4)
		return cmd_js_setup(num(argv[2]), argv[3]);
	if (!strcmp(c, "js-load") && argc == 4)
		return cmd_js_load(num(argv[2]), argv[3]);
	if (!strcmp(c, "js-replay") && argc == 4)
		return cmd_js_replay(argv[2], num(argv[3]));
	fprintf(stderr, "usage: atomik-cluster-bench latency OPS PUTS | js-latency PUTS |\n"
		"  write[-from-rest] SYSTEM ROUNDS ADDR PEER... | watch SYSTEM ROUNDS ADDR |\n"
		"  rate SYSTEM RATE SECONDS ADDRS TAG MODEL | wait SYSTEM TAG FILE SECONDS [READY] |\n"
		"  spread SYSTEM SECONDS RATE TAG MODEL | save FILE | xor OUT FILE... |\n"
		"  etcd-ready SECONDS | etcd-load COUNT | etcd-wait-keys PREFIX SECONDS FILE... |\n"
		"  etcd-wait-load COUNT SECONDS | js-setup SECONDS LEADER | js-load COUNT MODEL |\n"
		"  js-replay FILE SECONDS | am COMMAND [ARG...]\n");
	return 2;
}
