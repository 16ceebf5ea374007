// SPDX-License-Identifier: GPL-2.0
/*
 * atomik-cluster-bench: the measuring hand of the cluster benchmark
 * (tools/bench/cluster-bench), run on the nodes of the three-VM rig, where
 * every node has table 0 replicated by atomikd and, when the benchmark
 * starts it, a member of a three-member etcd cluster listening on
 * 127.0.0.1:2379 (its JSON gateway, the v3 API over HTTP/1.1).
 *
 * SYSTEM is atomik (table 0 of /dev/atomik) or etcd.  Times are read on
 * the node's own clock; a figure across nodes is a round trip on one node.
 *
 *   latency OPS PUTS          OPS accumulates by ioctl, OPS by io_uring
 *                             (one operation per submission), PUTS etcd
 *                             puts, each timed alone: p50/p99 in us
 *   write SYSTEM ROUNDS ADDR PEER...
 *                             the writer of a ping-pong: each round changes
 *                             one value (address ADDR, or the key "pp"),
 *                             and waits until every PEER has said over UDP
 *                             that it reads it: p50/p99 of that time
 *   watch SYSTEM ROUNDS ADDR  a peer of the ping-pong (polls every 1 ms)
 *   deltas SYSTEM COUNT ADDRS SEED MODEL
 *                             COUNT random deltas on addresses 0..ADDRS-1
 *                             (atomik: batches of 256 by ioctl, XOR-ed
 *                             into the model file MODEL; etcd: one put of
 *                             the new value per delta, key a/ADDR)
 *   spread SYSTEM SECONDS RATE TAG MODEL
 *                             RATE writes a second for SECONDS, each alone
 *                             (etcd: a put of key TAG/N, given up after
 *                             1 s): writes accepted and refused, and
 *                             (etcd) the last N accepted
 *   save FILE                 FILE = the state of every address
 *   xor OUT FILE...           OUT = the XOR of the FILEs
 *   wait FILE SECONDS         until every address reads as in FILE: the
 *                             seconds it took (exit 1 if not in time)
 *   etcd-ready SECONDS        until the local member accepts a put
 *   etcd-load COUNT           keys k/00000.. (values derived from the
 *                             index) in transactions of 128 puts
 *   etcd-wait KEY VALUE SECONDS
 *                             until a linearizable read of KEY gives VALUE
 *   etcd-wait-load COUNT SECONDS
 *                             until a linearizable read counts COUNT keys
 *                             k/ and k/COUNT-1 holds its value
 *
 * Each prints "name value" lines on stdout (n, p50, p99, max of samples in
 * ms, latencies in us; seconds; accepted, refused, last); exits 1 when it could not
 * measure what it was asked.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "atomik.h"

#define PP_PORT		7790
#define ETCD_PORT	2379

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

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

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

/* ---- files of one 64-bit value per address ---- */

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

static void file_write(const char *path, const uint64_t *v, uint32_t n)
{
	FILE *f = fopen(path, "w");

	if (!f || fwrite(v, sizeof(*v), n, f) != n || fclose(f))
		die("%s: cannot write", path);
}

static void state(uint64_t *v, uint32_t n)
{
	int ret = atomik_read_range(dev(), 0, n, v);

	if (ret)
		die("READ_RANGE: %s", strerror(-ret));
}

/* ---- etcd's JSON gateway, one kept-alive connection ---- */

static int etcd_fd = -1;
static int etcd_timeout_ms = 10000;
static char etcd_err[160];	/* why the last request failed */

static void etcd_close(void)
{
	if (etcd_fd >= 0)
		close(etcd_fd);
	etcd_fd = -1;
}

static bool etcd_connect(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(ETCD_PORT) };
	struct timeval tv = { etcd_timeout_ms / 1000, (etcd_timeout_ms % 1000) * 1000 };
	int one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	etcd_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (etcd_fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(etcd_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(etcd_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(etcd_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(etcd_fd, (struct sockaddr *)&sa, sizeof(sa))) {
		etcd_close();
		return false;
	}
	return true;
}

static char *resp;
static size_t resp_cap;

/* Reads exactly n bytes (after what is already in buf[0..*have]). */
static bool read_more(char **buf, size_t *cap, size_t *have, size_t want)
{
	while (*have < want) {
		ssize_t r;

		if (want + 1 > *cap) {
			*cap = (want + 1) * 2;
			*buf = realloc(*buf, *cap);
			if (!*buf)
				die("out of memory");
		}
		r = read(etcd_fd, *buf + *have, *cap - 1 - *have);
		if (r <= 0)
			return false;
		*have += r;
	}
	return true;
}

/*
 * POST path with body: the HTTP status, the body in resp (NUL-ended), or
 * -1 when the member did not answer in time (the connection is then
 * dropped, to be made again).
 */
static int etcd_post(const char *path, const char *body)
{
	size_t have = 0, len = strlen(body), hdr_end, clen = 0, pos;
	char head[256], *p, *e;
	int status, hl;
	bool chunked;

	snprintf(etcd_err, sizeof(etcd_err), "no answer within %d ms", etcd_timeout_ms);
	if (etcd_fd < 0 && !etcd_connect()) {
		snprintf(etcd_err, sizeof(etcd_err), "cannot connect to 127.0.0.1:%d", ETCD_PORT);
		return -1;
	}
	hl = snprintf(head, sizeof(head),
		      "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
		      "Content-Length: %zu\r\n\r\n", path, len);
	if (write(etcd_fd, head, hl) != hl || write(etcd_fd, body, len) != (ssize_t)len)
		goto lost;
	/* The header. */
	for (;;) {
		if (!read_more(&resp, &resp_cap, &have, have + 1))
			goto lost;
		resp[have] = 0;
		p = strstr(resp, "\r\n\r\n");
		if (p)
			break;
	}
	hdr_end = p + 4 - resp;
	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
		goto lost;
	chunked = strcasestr(resp, "\r\nTransfer-Encoding: chunked") &&
		  strcasestr(resp, "\r\nTransfer-Encoding: chunked") < p;
	e = strcasestr(resp, "\r\nContent-Length:");
	if (e && e < p)
		clen = strtoul(e + 17, NULL, 10);
	if (!chunked) {
		if (!read_more(&resp, &resp_cap, &have, hdr_end + clen))
			goto lost;
		memmove(resp, resp + hdr_end, clen);
		resp[clen] = 0;
		goto done;
	}
	/* Chunked: each chunk's size line, its data and CRLF, down to the
	 * chunk of size 0; the data is gathered at the start of resp. */
	memmove(resp, resp + hdr_end, have - hdr_end);
	have -= hdr_end;
	pos = len = 0;
	for (;;) {
		size_t n;

		for (;;) {
			resp[have] = 0;
			e = strstr(resp + pos, "\r\n");
			if (e)
				break;
			if (!read_more(&resp, &resp_cap, &have, have + 1))
				goto lost;
		}
		n = strtoul(resp + pos, NULL, 16);
		pos = e + 2 - resp;
		if (!read_more(&resp, &resp_cap, &have, pos + n + 2))
			goto lost;
		memmove(resp + len, resp + pos, n);
		len += n;
		pos += n + 2;
		if (!n)
			break;
	}
	resp[len] = 0;
done:
	if (status != 200)
		snprintf(etcd_err, sizeof(etcd_err), "HTTP %d: %.120s", status, resp);
	return status;
lost:
	etcd_close();
	return -1;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_enc(char *out, const char *in)
{
	size_t n = strlen(in), i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint8_t)in[i] << 16 | (uint8_t)in[i + 1] << 8 | (uint8_t)in[i + 2];

		*out++ = b64[v >> 18];
		*out++ = b64[(v >> 12) & 63];
		*out++ = b64[(v >> 6) & 63];
		*out++ = b64[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint8_t)in[i] << 16 | (i + 1 < n ? (uint8_t)in[i + 1] << 8 : 0);

		*out++ = b64[v >> 18];
		*out++ = b64[(v >> 12) & 63];
		*out++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		*out++ = '=';
	}
	*out = 0;
}

static void b64_dec(char *out, size_t cap, const char *in)
{
	uint32_t v = 0;
	int bits = 0;
	size_t o = 0;

	for (; *in && *in != '"' && *in != '='; in++) {
		const char *c = strchr(b64, *in);

		if (!c)
			break;
		v = v << 6 | (c - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o + 1 < cap)
				out[o++] = (v >> bits) & 0xff;
		}
	}
	out[o] = 0;
}

/* A put of key = value: true once the cluster has committed it. */
static bool etcd_put(const char *key, const char *value)
{
	char body[256], k[96], v[96];

	b64_enc(k, key);
	b64_enc(v, value);
	snprintf(body, sizeof(body), "{\"key\":\"%s\",\"value\":\"%s\"}", k, v);
	return etcd_post("/v3/kv/put", body) == 200 && strstr(resp, "\"revision\"");
}

/* A linearizable read of key: true and its value in value, or false. */
static bool etcd_get(const char *key, char *value, size_t cap)
{
	char body[160], k[96];
	const char *p;

	b64_enc(k, key);
	snprintf(body, sizeof(body), "{\"key\":\"%s\"}", k);
	value[0] = 0;
	if (etcd_post("/v3/kv/range", body) != 200)
		return false;
	p = strstr(resp, "\"value\":\"");
	if (p)
		b64_dec(value, cap, p + 9);
	return true;
}

static void load_value(char *buf, size_t cap, unsigned int i)
{
	snprintf(buf, cap, "%016llx", (unsigned long long)i * 0x9e3779b97f4a7c15ull);
}

/* ---- the commands ---- */

static int cmd_latency(unsigned int ops, unsigned int puts)
{
	double *v = calloc(ops > puts ? ops : puts, sizeof(*v));
	struct atomik_queue *q;
	struct atomik_completion c;
	unsigned int i, fails = 0;
	char key[32], val[32];
	int ret;

	if (!v)
		die("out of memory");
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
	for (i = 0; i < puts; i++) {
		double t = now();

		snprintf(key, sizeof(key), "lat/%u", i % 100);
		snprintf(val, sizeof(val), "%016" PRIx64, rnd());
		if (!etcd_put(key, val)) {
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

static bool pp_reads(bool etcd, uint32_t addr, uint64_t base, unsigned int r)
{
	char want[32], got[64];
	uint64_t s;

	if (etcd) {
		snprintf(want, sizeof(want), "%u", r);
		return etcd_get("pp", got, sizeof(got)) && !strcmp(got, want);
	}
	if (atomik_read(dev(), addr, &s))
		die("READ %u failed", addr);
	return s == pp_value(base, r);
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

static int cmd_write(bool etcd, unsigned int rounds, uint32_t addr, int npeers, char **peers)
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
	if (!etcd && atomik_read(dev(), addr, &base))
		die("READ %u failed", addr);
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

		if (etcd) {
			snprintf(val, sizeof(val), "%u", r);
			if (!etcd_put("pp", val))
				die("write: etcd put of round %u: %s", r, etcd_err);
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
	}
	percentiles("", v, rounds, 1e-3);
	percentiles("udp-rtt.", rtt, nrtt, 1e-3);
	return 0;
}

static int cmd_watch(bool etcd, unsigned int rounds, uint32_t addr)
{
	struct sockaddr_in writer;
	unsigned int r, n;
	uint64_t base = 0;
	char kind[8];
	int fd = udp_socket();

	if (!etcd && atomik_read(dev(), addr, &base))
		die("READ %u failed", addr);
	/* Pings until the writer says go. */
	for (;;) {
		if (!pp_recv(fd, 120000, &writer, kind, &n))
			die("watch: no word from the writer within 120 s");
		if (!strcmp(kind, "ping"))
			pp_send(fd, &writer, "pong", n);
		else if (!strcmp(kind, "go"))
			break;
	}
	for (r = 1; r <= rounds; r++) {
		double end = now() + 20;

		while (!pp_reads(etcd, addr, base, r)) {
			if (now() > end)
				die("watch: round %u not read within 20 s", r);
			sleep_ms(1);
		}
		pp_send(fd, &writer, "read", r);
	}
	return 0;
}

static int cmd_deltas(bool etcd, unsigned int count, uint32_t addrs, const char *model)
{
	uint32_t n = etcd ? addrs : nr_addrs();
	uint64_t *m = etcd ? calloc(addrs, 8) : file_read(model, n);
	struct atomik_delta b[256];
	unsigned int i, k = 0, fails = 0;
	char key[32], val[32];
	double t = now();

	if (!m)
		die("out of memory");
	if (addrs < 1 || addrs > n)
		die("deltas: 1 to %u addresses", n);
	for (i = 0; i < count; i++) {
		uint32_t a = rnd() % addrs;
		uint64_t d = rnd();

		m[a] ^= d;
		if (etcd) {
			snprintf(key, sizeof(key), "a/%05u", a);
			snprintf(val, sizeof(val), "%016" PRIx64, m[a]);
			/* Refused (an election): the same put again, 100 ms later. */
			while (!etcd_put(key, val)) {
				if (++fails > 100)
					die("deltas: etcd put %s: %s (the 100th failure)", key, etcd_err);
				sleep_ms(100);
			}
			continue;
		}
		b[k].addr = a;
		b[k].reserved = 0;
		b[k].delta = d;
		if (++k == 256 || i + 1 == count) {
			int ret = atomik_accum_batch(dev(), b, k);

			if (ret)
				die("ACCUM_BATCH: %s", strerror(-ret));
			k = 0;
		}
	}
	printf("seconds %.3f\n", now() - t);
	if (etcd)
		printf("failed %u\n", fails);
	if (!etcd)
		file_write(model, m, n);
	return 0;
}

static int cmd_spread(bool etcd, unsigned int seconds, unsigned int rate, const char *tag,
		      const char *model)
{
	uint32_t n = etcd ? 0 : nr_addrs();
	uint64_t *m = etcd ? NULL : file_read(model, n);
	unsigned int ok = 0, refused = 0, i = 0;
	long last = -1;
	double t0 = now(), next = t0;
	char key[64], val[32];

	etcd_timeout_ms = 1000;
	while (now() < t0 + seconds) {
		if (etcd) {
			snprintf(key, sizeof(key), "%s/%u", tag, i);
			snprintf(val, sizeof(val), "%u", i);
			if (etcd_put(key, val)) {
				ok++;
				last = i;
			} else {
				refused++;
			}
		} else {
			uint32_t a = rnd() % n;
			uint64_t d = rnd();

			if (atomik_accum(dev(), a, d)) {
				refused++;
			} else {
				m[a] ^= d;
				ok++;
			}
		}
		i++;
		next += 1.0 / rate;
		if (next > now())
			sleep_ms((next - now()) * 1000);
	}
	printf("accepted %u\nrefused %u\n", ok, refused);
	/* etcd: the last put accepted, for the others to wait for. */
	if (last >= 0)
		printf("last %ld\n", last);
	if (!etcd)
		file_write(model, m, n);
	return 0;
}

static int cmd_wait(const char *path, unsigned int seconds)
{
	uint32_t n = nr_addrs(), i, diff = 0;
	uint64_t *want = file_read(path, n), *s = calloc(n, 8);
	double t = now(), end = t + seconds;

	if (!s)
		die("out of memory");
	for (;;) {
		state(s, n);
		if (!memcmp(s, want, (size_t)n * 8))
			break;
		if (now() > end) {
			for (i = 0; i < n; i++)
				diff += s[i] != want[i];
			die("wait: %u of %u addresses differ after %u s", diff, n, seconds);
		}
		sleep_ms(10);
	}
	printf("seconds %.3f\n", now() - t);
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
	uint32_t n = nr_addrs(), i;
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
	while (!etcd_put("ready", "1")) {
		if (now() > end)
			die("etcd-ready: the member accepts no put within %u s", seconds);
		sleep_ms(200);
	}
	printf("seconds %.3f\n", now() - t);
	return 0;
}

static int cmd_etcd_load(unsigned int count)
{
	size_t cap = 128 * 160 + 64;
	char *body = malloc(cap), k[96], v[96], key[32], val[32];
	unsigned int i = 0, j;
	double t = now();

	if (!body)
		die("out of memory");
	while (i < count) {
		size_t o = snprintf(body, cap, "{\"success\":[");

		for (j = 0; j < 128 && i < count; j++, i++) {
			snprintf(key, sizeof(key), "k/%05u", i);
			load_value(val, sizeof(val), i);
			b64_enc(k, key);
			b64_enc(v, val);
			o += snprintf(body + o, cap - o, "%s{\"requestPut\":{\"key\":\"%s\",\"value\":\"%s\"}}",
				      j ? "," : "", k, v);
		}
		snprintf(body + o, cap - o, "]}");
		if (etcd_post("/v3/kv/txn", body) != 200)
			die("etcd-load: the transaction ending at key %u: %s", i, etcd_err);
	}
	printf("seconds %.3f\n", now() - t);
	return 0;
}

static int cmd_etcd_wait(const char *key, const char *value, unsigned int seconds)
{
	double t = now(), end = t + seconds;
	char got[64];

	etcd_timeout_ms = 1000;
	while (!etcd_get(key, got, sizeof(got)) || strcmp(got, value)) {
		if (now() > end)
			die("etcd-wait: %s is not %s after %u s", key, value, seconds);
		sleep_ms(10);
	}
	printf("seconds %.3f\n", now() - t);
	return 0;
}

static int cmd_etcd_wait_load(unsigned int count, unsigned int seconds)
{
	double t = now(), end = t + seconds;
	char body[320], k[96], e[96], want[32], got[64], key[32];
	const char *p;

	snprintf(key, sizeof(key), "k/%05u", count - 1);
	load_value(want, sizeof(want), count - 1);
	b64_enc(k, "k/");
	b64_enc(e, "k0");	/* the end of the prefix k/ */
	snprintf(body, sizeof(body), "{\"key\":\"%s\",\"range_end\":\"%s\",\"count_only\":true}", k, e);
	etcd_timeout_ms = 1000;
	for (;;) {
		if (etcd_post("/v3/kv/range", body) == 200) {
			p = strstr(resp, "\"count\":\"");
			if (p && strtoul(p + 9, NULL, 10) == count && etcd_get(key, got, sizeof(got)) &&
			    !strcmp(got, want))
				break;
		}
		if (now() > end)
			die("etcd-wait-load: %u keys k/ not there after %u s", count, seconds);
		sleep_ms(10);
	}
	printf("seconds %.3f\n", now() - t);
	return 0;
}

static unsigned int num(const char *s)
{
	char *e;
	unsigned long v = strtoul(s, &e, 0);

	if (!*s || *e || v > UINT32_MAX)
		die("'%s' is not a number", s);
	return v;
}

static bool system_arg(const char *s)
{
	if (!strcmp(s, "etcd"))
		return true;
	if (strcmp(s, "atomik"))
		die("SYSTEM is atomik or etcd, not '%s'", s);
	return false;
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";

	rng_state = 0x2545f4914f6cdd1dull ^ (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(c, "latency") && argc == 4)
		return cmd_latency(num(argv[2]), num(argv[3]));
	if (!strcmp(c, "write") && argc >= 6)
		return cmd_write(system_arg(argv[2]), num(argv[3]), num(argv[4]), argc - 5, argv + 5);
	if (!strcmp(c, "watch") && argc == 5)
		return cmd_watch(system_arg(argv[2]), num(argv[3]), num(argv[4]));
	if (!strcmp(c, "deltas") && argc == 7) {
		rng_state = num(argv[5]) * 0x9e3779b97f4a7c15ull | 1;
		return cmd_deltas(system_arg(argv[2]), num(argv[3]), num(argv[4]), argv[6]);
	}
	if (!strcmp(c, "spread") && argc == 7)
		return cmd_spread(system_arg(argv[2]), num(argv[3]), num(argv[4]), argv[5], argv[6]);
	if (!strcmp(c, "wait") && argc == 4)
		return cmd_wait(argv[2], num(argv[3]));
	if (!strcmp(c, "save") && argc == 3)
		return cmd_save(argv[2]);
	if (!strcmp(c, "xor") && argc >= 4)
		return cmd_xor(argv[2], argc - 3, argv + 3);
	if (!strcmp(c, "etcd-ready") && argc == 3)
		return cmd_etcd_ready(num(argv[2]));
	if (!strcmp(c, "etcd-load") && argc == 3)
		return cmd_etcd_load(num(argv[2]));
	if (!strcmp(c, "etcd-wait") && argc == 5)
		return cmd_etcd_wait(argv[2], argv[3], num(argv[4]));
	if (!strcmp(c, "etcd-wait-load") && argc == 4)
		return cmd_etcd_wait_load(num(argv[2]), num(argv[3]));
	fprintf(stderr, "usage: atomik-cluster-bench latency OPS PUTS | write SYSTEM ROUNDS ADDR PEER... |\n"
		"  watch SYSTEM ROUNDS ADDR | deltas SYSTEM COUNT ADDRS SEED MODEL |\n"
		"  spread SYSTEM SECONDS RATE TAG MODEL | save FILE | xor OUT FILE... |\n"
		"  wait FILE SECONDS | etcd-ready SECONDS | etcd-load COUNT |\n"
		"  etcd-wait KEY VALUE SECONDS | etcd-wait-load COUNT SECONDS\n");
	return 2;
}
