// SPDX-License-Identifier: GPL-2.0
/*
 * atomikd's replication protocol, without I/O (core.h).
 *
 * In a replicated table each node owns its contribution, the XOR of every
 * delta accumulated on it, and the state everywhere is ref ^ every
 * contributor's latest contribution.  The core publishes the blocks of its
 * node's contribution that changed, each under a new version; it keeps,
 * per (contributor, block), the values of the highest version it has seen,
 * and asks for the XOR of every other contributor's to be written into the
 * table's remote row.  A contributor is a node's table instance.  Every
 * node republishes every block it holds periodically, when it reconnects
 * and when a peer appears.  At start it asks its peers for every block
 * before it publishes anything.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "atomikd.h"
#include "core.h"

struct contrib {
	uint16_t node;
	uint64_t instance;
	uint64_t *ver;			/* [nr_blocks]; 0: none yet */
	uint64_t *val;			/* [nr_addrs] */
};

struct table {
	struct akd_table_conf conf;
	uint32_t nr_addrs, nr_blocks;
	uint64_t instance;
	uint64_t *local;		/* the contribution as last read */
	uint64_t *pub;			/* ... as last published */
	uint64_t *pub_ver;		/* [nr_blocks] */
	uint64_t *remote;		/* XOR of every other contributor */
	uint8_t *dirty;			/* [nr_blocks]: remote not yet written */
	bool changed;			/* contributors changed: checkpoint */
	bool restored;
	struct contrib *c;
	unsigned int nr_c;
};

struct peer {
	uint16_t node;
	uint64_t instance;
	uint64_t last_seen;
	uint64_t last_version;
	uint64_t messages;
};

/* A growing array of actions, and the bytes they point into. */
struct outbox {
	struct akd_send *send;
	unsigned int nr_send, cap_send;
	struct akd_persist *persist;
	unsigned int nr_persist, cap_persist;
	struct akd_remote *remote;
	unsigned int nr_remote, cap_remote;
	void **bufs;
	unsigned int nr_bufs, cap_bufs;
};

struct akd_core {
	struct akd_conf conf;
	struct table *t;
	unsigned int nr_t;
	struct peer *peers;
	unsigned int nr_peers;
	struct akd_stats st;
	struct outbox out;
	bool serving, recovering, republish_wanted, said_twin;
	uint64_t recover_deadline, next_pub, next_rep;
	unsigned long ends_received, ends_expected;
	uint64_t now;
};

static void say(struct akd_core *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->conf.log)
		return;
	va_start(ap, fmt);
	c->conf.log(c->conf.log_arg, fmt, ap);
	va_end(ap);
}

static void *grow(void *p, unsigned int *cap, unsigned int want, size_t size)
{
	unsigned int n = *cap ? *cap : 16;

	if (want <= *cap)
		return p;
	while (n < want)
		n *= 2;
	p = realloc(p, n * size);
	if (!p)
		abort();
	*cap = n;
	return p;
}

static void *keep(struct akd_core *c, size_t len)
{
	void *p = malloc(len ? len : 1);

	if (!p)
		abort();
	c->out.bufs = grow(c->out.bufs, &c->out.cap_bufs, c->out.nr_bufs + 1, sizeof(void *));
	c->out.bufs[c->out.nr_bufs++] = p;
	return p;
}

static uint32_t block_len(const struct akd_core *c, const struct table *t, uint32_t b)
{
	uint32_t first = b * c->conf.block;

	return t->nr_addrs - first < c->conf.block ? t->nr_addrs - first : c->conf.block;
}

static bool node_ok(const struct akd_core *c, unsigned long node)
{
	return node >= 1 && node <= AKD_MAX_NODE && (!c->conf.members || c->conf.members[node]);
}

/* ---- life ---- */

int akd_core_create(struct akd_core **cp, const struct akd_conf *conf,
		    const struct akd_table_conf *tables, unsigned int nr_tables)
{
	struct akd_core *c;
	unsigned int i, n;

	if (!nr_tables || nr_tables > AKD_MAX_TABLES || !conf->block ||
	    conf->block > AKD_MAX_BLOCK || !node_ok(&(struct akd_core){ .conf = *conf }, conf->node))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->conf = *conf;
	c->t = calloc(nr_tables, sizeof(*c->t));
	if (!c->t) {
		free(c);
		return -ENOMEM;
	}
	c->nr_t = nr_tables;
	for (i = 0; i < nr_tables; i++) {
		struct table *t = &c->t[i];

		t->conf = tables[i];
		t->nr_addrs = tables[i].nr_addrs;
		t->instance = tables[i].instance;
		t->nr_blocks = (t->nr_addrs + conf->block - 1) / conf->block;
		t->local = calloc(t->nr_addrs, 8);
		t->pub = calloc(t->nr_addrs, 8);
		t->remote = calloc(t->nr_addrs, 8);
		t->pub_ver = calloc(t->nr_blocks, 8);
		t->dirty = calloc(t->nr_blocks, 1);
		if (!t->local || !t->pub || !t->remote || !t->pub_ver || !t->dirty) {
			akd_core_destroy(c);
			return -ENOMEM;
		}
	}
	if (conf->members)
		for (n = 1; n <= AKD_MAX_NODE; n++)
			c->ends_expected += conf->members[n] && n != conf->node;
	*cp = c;
	return 0;
}

static void free_contribs(struct table *t)
{
	unsigned int i;

	for (i = 0; i < t->nr_c; i++) {
		free(t->c[i].ver);
		free(t->c[i].val);
	}
	free(t->c);
	t->c = NULL;
	t->nr_c = 0;
}

void akd_core_destroy(struct akd_core *c)
{
	unsigned int i;

	if (!c)
		return;
	akd_core_advance(c);
	for (i = 0; i < c->nr_t; i++) {
		struct table *t = &c->t[i];

		free_contribs(t);
		free(t->local);
		free(t->pub);
		free(t->remote);
		free(t->pub_ver);
		free(t->dirty);
	}
	free(c->t);
	free(c->peers);
	free(c->out.send);
	free(c->out.persist);
	free(c->out.remote);
	free(c->out.bufs);
	free(c);
}

static struct contrib *add_contrib(struct akd_core *c, struct table *t, uint16_t node,
				   uint64_t instance)
{
	struct contrib *k;

	if (t->nr_c >= c->conf.max_contributors)
		return NULL;
	t->c = realloc(t->c, (t->nr_c + 1) * sizeof(*t->c));
	if (!t->c)
		abort();
	k = &t->c[t->nr_c++];
	k->node = node;
	k->instance = instance;
	k->ver = calloc(t->nr_blocks, 8);
	k->val = calloc(t->nr_addrs, 8);
	if (!k->ver || !k->val)
		abort();
	return k;
}

/* ---- checkpoints: what the remote row is made of, across restarts ---- */

#define STATE_MAGIC	0x53444b41u	/* "AKDS" */

struct state_hdr {
	uint32_t magic, version, table, nr_addrs, block, nr_c;
	uint64_t instance;
};

static void put(uint8_t **p, const void *src, size_t len)
{
	memcpy(*p, src, len);
	*p += len;
}

static void checkpoint(struct akd_core *c, unsigned int ti)
{
	struct table *t = &c->t[ti];
	struct state_hdr h = { STATE_MAGIC, 1, t->conf.id, t->nr_addrs, c->conf.block, t->nr_c,
			       t->instance };
	size_t len = sizeof(h) + (t->nr_blocks + t->nr_addrs) * 8 * (1 + (size_t)t->nr_c) +
		     16 * (size_t)t->nr_c;
	uint8_t *buf = keep(c, len), *p = buf;
	struct akd_persist *w;
	unsigned int i;

	put(&p, &h, sizeof(h));
	put(&p, t->pub_ver, t->nr_blocks * 8);
	put(&p, t->pub, t->nr_addrs * 8);
	for (i = 0; i < t->nr_c; i++) {
		uint64_t id[2] = { t->c[i].node, t->c[i].instance };

		put(&p, id, sizeof(id));
		put(&p, t->c[i].ver, t->nr_blocks * 8);
		put(&p, t->c[i].val, t->nr_addrs * 8);
	}
	c->out.persist = grow(c->out.persist, &c->out.cap_persist, c->out.nr_persist + 1,
			      sizeof(*c->out.persist));
	w = &c->out.persist[c->out.nr_persist++];
	*w = (struct akd_persist){ .table = ti, .replace = true, .buf = buf, .len = len };
	t->changed = false;
}

struct reader {
	const uint8_t *p;
	size_t left;
};

static bool take(struct reader *r, void *dst, size_t len)
{
	if (r->left < len)
		return false;
	memcpy(dst, r->p, len);
	r->p += len;
	r->left -= len;
	return true;
}

int akd_core_restore(struct akd_core *c, unsigned int ti, const void *buf, size_t len)
{
	struct table *t = &c->t[ti];
	struct reader r = { buf, len };
	struct state_hdr h;
	unsigned int i, j;
	bool ok;

	ok = take(&r, &h, sizeof(h)) && h.magic == STATE_MAGIC && h.version == 1 &&
	     h.table == t->conf.id && h.nr_addrs == t->nr_addrs && h.block == c->conf.block &&
	     h.instance == t->instance && h.nr_c <= c->conf.max_contributors;
	if (!ok) {
		say(c, "table %u: the checkpoint is of another table instance or configuration; "
		    "starting from the peers", t->conf.id);
		return -ESTALE;
	}
	ok = take(&r, t->pub_ver, t->nr_blocks * 8) && take(&r, t->pub, t->nr_addrs * 8);
	for (i = 0; ok && i < h.nr_c; i++) {
		uint64_t id[2];
		struct contrib *k;

		ok = take(&r, id, sizeof(id)) && id[0] >= 1 && id[0] <= AKD_MAX_NODE;
		if (!ok)
			break;
		k = add_contrib(c, t, id[0], id[1]);
		ok = k && take(&r, k->ver, t->nr_blocks * 8) && take(&r, k->val, t->nr_addrs * 8);
		for (j = 0; ok && j < t->nr_addrs; j++)
			t->remote[j] ^= k->val[j];
	}
	if (!ok) {
		say(c, "table %u: the checkpoint is truncated; starting from the peers",
		    t->conf.id);
		free_contribs(t);
		memset(t->remote, 0, t->nr_addrs * 8);
		memset(t->pub, 0, t->nr_addrs * 8);
		memset(t->pub_ver, 0, t->nr_blocks * 8);
		return -EBADMSG;
	}
	t->restored = true;
	return 0;
}

int akd_checkpoint_account(const void *buf, size_t len, akd_account_fn *fn, void *arg)
{
	struct reader r = { buf, len };
	struct state_hdr h;
	uint32_t nr_blocks, b;
	uint64_t *ver;
	unsigned int i;

	if (!take(&r, &h, sizeof(h)) || h.magic != STATE_MAGIC || !h.block)
		return -EBADMSG;
	nr_blocks = (h.nr_addrs + h.block - 1) / h.block;
	ver = calloc(nr_blocks ? nr_blocks : 1, 8);
	if (!ver)
		abort();
	for (i = 0; i <= h.nr_c; i++) {
		uint64_t id[2] = { 0, h.instance };

		if ((i && !take(&r, id, sizeof(id))) || !take(&r, ver, nr_blocks * 8) ||
		    r.left < (size_t)h.nr_addrs * 8) {
			free(ver);
			return -EBADMSG;
		}
		r.p += (size_t)h.nr_addrs * 8;
		r.left -= (size_t)h.nr_addrs * 8;
		for (b = 0; b < nr_blocks; b++)
			if (ver[b])
				fn(arg, id[0], id[1], b, ver[b]);
	}
	free(ver);
	return 0;
}

/* The remote blocks received since the last write, to the device. */
static void flush_remote(struct akd_core *c, unsigned int ti)
{
	struct table *t = &c->t[ti];
	uint32_t b = 0, e, first, count;
	struct akd_remote *w;

	if (t->changed)
		checkpoint(c, ti);	/* before the device: a crash leaves the file ahead */
	while (b < t->nr_blocks) {
		if (!t->dirty[b]) {
			b++;
			continue;
		}
		for (e = b; e < t->nr_blocks && t->dirty[e]; e++)
			t->dirty[e] = 0;
		first = b * c->conf.block;
		count = (e - 1) * c->conf.block + block_len(c, t, e - 1) - first;
		c->out.remote = grow(c->out.remote, &c->out.cap_remote, c->out.nr_remote + 1,
				     sizeof(*c->out.remote));
		w = &c->out.remote[c->out.nr_remote++];
		*w = (struct akd_remote){ .table = ti, .first = first, .count = count,
					  .vals = memcpy(keep(c, count * 8), t->remote + first,
							 count * 8) };
		c->st.remote_writes++;
		b = e;
	}
}

/* ---- the wire ---- */

static uint64_t my_instance(const struct akd_core *c)
{
	return c->t[0].instance;
}

static bool own_instance(const struct akd_core *c, uint64_t instance)
{
	unsigned int k;

	for (k = 0; k < c->nr_t; k++)
		if (c->t[k].instance == instance)
			return true;
	return false;
}

static void send_msg(struct akd_core *c, enum akd_chan chan, uint32_t table, const char *reply,
		     struct atomikd_hdr *h, const uint64_t *vals)
{
	size_t len = sizeof(*h) + (size_t)h->count * 8;
	uint8_t *buf = keep(c, len);
	struct akd_send *s;
	struct atomikd_hdr le;
	uint32_t i;

	h->magic = ATOMIKD_MAGIC;
	h->proto = ATOMIKD_PROTO;
	h->sender = c->conf.node;
	if (!h->sender_instance)
		h->sender_instance = my_instance(c);
	h->sent_at = c->now;
	le = *h;
	atomikd_hdr_le(&le);
	memcpy(buf, &le, sizeof(le));
	for (i = 0; i < h->count; i++) {
		uint64_t v = htole64(vals[i]);

		memcpy(buf + sizeof(*h) + i * 8, &v, 8);
	}
	c->out.send = grow(c->out.send, &c->out.cap_send, c->out.nr_send + 1, sizeof(*c->out.send));
	s = &c->out.send[c->out.nr_send++];
	*s = (struct akd_send){ .chan = chan, .table = table, .buf = buf, .len = len };
	if (reply)
		s->reply = strcpy(keep(c, strlen(reply) + 1), reply);
	c->st.messages_sent++;
	c->st.bytes_sent += len;
}

static void send_block(struct akd_core *c, enum akd_chan chan, const char *reply,
		       unsigned int ti, uint16_t node, uint64_t instance, uint32_t b, uint64_t ver,
		       const uint64_t *vals)
{
	const struct table *t = &c->t[ti];
	struct atomikd_hdr h = {
		.type = ATOMIKD_BLOCK, .table = t->conf.id, .nr_addrs = t->nr_addrs,
		.contributor = node, .block = b, .instance = instance, .counter = ver,
		.count = block_len(c, t, b), .block_size = c->conf.block,
		.sender_instance = t->instance,
	};

	send_msg(c, chan, ti, reply, &h, vals + (size_t)b * c->conf.block);
}

/* Every block this node holds, its own and the others': to every node, or
 * to reply. */
static void send_everything(struct akd_core *c, const char *reply)
{
	enum akd_chan chan = reply ? AKD_CHAN_REPLY : AKD_CHAN_BLOCKS;
	unsigned int i, k;
	uint32_t b;

	for (k = 0; k < c->nr_t; k++) {
		struct table *t = &c->t[k];

		for (b = 0; b < t->nr_blocks; b++)
			if (t->pub_ver[b])
				send_block(c, chan, reply, k, c->conf.node, t->instance, b,
					   t->pub_ver[b], t->pub);
		for (i = 0; i < t->nr_c; i++)
			for (b = 0; b < t->nr_blocks; b++)
				if (t->c[i].ver[b])
					send_block(c, chan, reply, k, t->c[i].node,
						   t->c[i].instance, b, t->c[i].ver[b],
						   t->c[i].val);
	}
}

static void send_hello(struct akd_core *c, enum akd_chan chan)
{
	struct atomikd_hdr h = { .type = ATOMIKD_HELLO };

	send_msg(c, chan, 0, NULL, &h, NULL);
}

static void send_end(struct akd_core *c, const char *reply)
{
	struct atomikd_hdr h = { .type = ATOMIKD_END };

	send_msg(c, AKD_CHAN_REPLY, 0, reply, &h, NULL);
}

/* The local contribution as read: publish the blocks that changed. */
static void publish_changes(struct akd_core *c, bool all)
{
	uint32_t b, first, n;
	uint64_t ver;
	unsigned int k;

	for (k = 0; k < c->nr_t; k++) {
		struct table *t = &c->t[k];

		for (b = 0; b < t->nr_blocks; b++) {
			first = b * c->conf.block;
			n = block_len(c, t, b);
			if (!all && t->pub_ver[b] &&
			    !memcmp(t->local + first, t->pub + first, n * 8))
				continue;
			ver = c->now;
			if (ver <= t->pub_ver[b])
				ver = t->pub_ver[b] + 1;
			memcpy(t->pub + first, t->local + first, n * 8);
			t->pub_ver[b] = ver;
			t->changed = true;
			send_block(c, AKD_CHAN_BLOCKS, NULL, k, c->conf.node, t->instance, b, ver,
				   t->pub);
			c->st.blocks_published++;
		}
	}
}

/* ---- receiving ---- */

static struct peer *peer_seen(struct akd_core *c, uint16_t node, uint64_t instance,
			      bool *appeared)
{
	struct peer *p = NULL;
	unsigned int i;

	for (i = 0; i < c->nr_peers; i++)
		if (c->peers[i].node == node)
			p = &c->peers[i];
	if (!p) {
		c->peers = realloc(c->peers, (c->nr_peers + 1) * sizeof(*c->peers));
		if (!c->peers)
			abort();
		p = &c->peers[c->nr_peers++];
		memset(p, 0, sizeof(*p));
		p->node = node;
		*appeared = true;
	} else if (p->instance != instance || c->now - p->last_seen > c->conf.peer_timeout_ns) {
		*appeared = true;
	}
	if (*appeared)
		say(c, "peer %u (instance %016" PRIx64 ") %s", node, instance,
		    p->instance == 0 ? "appeared" :
		    p->instance != instance ? "restarted" : "is back");
	p->instance = instance;
	p->last_seen = c->now;
	p->messages++;
	return p;
}

static struct table *find_table(struct akd_core *c, uint32_t id)
{
	unsigned int i;

	for (i = 0; i < c->nr_t; i++)
		if (c->t[i].conf.id == id)
			return &c->t[i];
	return NULL;
}

/*
 * Everything a message must be before anything is taken from it: NULL, or
 * the counter of the cause it is dropped for.
 */
static uint64_t *invalid(struct akd_core *c, const struct atomikd_hdr *h, size_t len,
			 struct table **tp)
{
	struct table *t;

	if (len < sizeof(*h))
		return &c->st.dropped_size;
	if (h->magic != ATOMIKD_MAGIC || h->proto != ATOMIKD_PROTO || h->reserved0 ||
	    h->type < ATOMIKD_BLOCK || h->type > ATOMIKD_END)
		return &c->st.dropped_format;
	if (len != sizeof(*h) + (size_t)h->count * 8 || (h->type != ATOMIKD_BLOCK && h->count))
		return &c->st.dropped_size;
	if (!node_ok(c, h->sender) || !h->sender_instance)
		return &c->st.dropped_node;
	if (h->type != ATOMIKD_BLOCK)
		return NULL;
	t = find_table(c, h->table);
	if (!t || h->nr_addrs != t->nr_addrs)
		return &c->st.dropped_table;
	if (h->block_size != c->conf.block || h->block >= t->nr_blocks ||
	    h->count != block_len(c, t, h->block))
		return &c->st.dropped_block;
	if (!node_ok(c, h->contributor))
		return &c->st.dropped_node;
	if (!h->instance || !h->counter)
		return &c->st.dropped_version;
	/* Sent by its own contributor: no version past the sender's clock. */
	if (h->contributor == h->sender && h->instance == h->sender_instance &&
	    h->counter > h->sent_at)
		return &c->st.dropped_version;
	/* This node's own current instance: nothing it has not published. */
	if (h->contributor == c->conf.node && h->instance == t->instance && h->counter > c->now)
		return &c->st.dropped_version;
	*tp = t;
	return NULL;
}

static void apply_block(struct akd_core *c, struct table *t, const struct atomikd_hdr *h,
			const uint8_t *data)
{
	struct contrib *k = NULL;
	uint32_t first, i;
	unsigned int j;
	uint64_t v;

	if (h->contributor == c->conf.node && h->instance == t->instance) {
		/* Our own, relayed back: the module holds it. */
		c->st.own_echoes++;
		return;
	}
	for (j = 0; j < t->nr_c; j++)
		if (t->c[j].node == h->contributor && t->c[j].instance == h->instance)
			k = &t->c[j];
	if (!k) {
		k = add_contrib(c, t, h->contributor, h->instance);
		if (!k) {
			say(c, "table %u: more than %u contributors: dropping node %u's "
			    "instance %016" PRIx64, t->conf.id, c->conf.max_contributors,
			    h->contributor, h->instance);
			c->st.dropped_full++;
			return;
		}
		t->changed = true;
	}
	if (h->counter <= k->ver[h->block]) {
		c->st.duplicates++;
		return;
	}
	first = h->block * c->conf.block;
	for (i = 0; i < h->count; i++) {
		memcpy(&v, data + i * 8, 8);
		v = le64toh(v);
		t->remote[first + i] ^= k->val[first + i] ^ v;
		k->val[first + i] = v;
	}
	k->ver[h->block] = h->counter;
	t->dirty[h->block] = 1;
	t->changed = true;
	c->st.blocks_applied++;
}

void akd_core_receive(struct akd_core *c, uint64_t now, enum akd_chan chan,
		      const char *reply, const void *buf, size_t len)
{
	const uint8_t *data = buf;
	struct table *t = NULL;
	struct atomikd_hdr h;
	bool appeared = false;
	uint64_t *drop;
	struct peer *p;

	c->now = now;
	c->st.messages_received++;
	c->st.bytes_received += len;
	memset(&h, 0, sizeof(h));
	if (len >= sizeof(h)) {
		memcpy(&h, data, sizeof(h));
		atomikd_hdr_le(&h);
	}
	drop = invalid(c, &h, len, &t);
	if (drop) {
		(*drop)++;
		return;
	}
	if (h.sender == c->conf.node) {
		/* Our own, back from the server; or another daemon with our node
		 * id: a configuration error that would corrupt both nodes. */
		if (own_instance(c, h.sender_instance)) {
			c->st.own_echoes++;
			return;
		}
		if (!c->said_twin)
			say(c, "a message from another node configured as node %u "
			    "(instance %016" PRIx64 "): dropped, as every such message will be",
			    c->conf.node, h.sender_instance);
		c->said_twin = true;
		c->st.dropped_node++;
		return;
	}
	p = peer_seen(c, h.sender, h.sender_instance, &appeared);
	if (appeared && c->serving)
		c->republish_wanted = true;
	switch (h.type) {
	case ATOMIKD_BLOCK:
		apply_block(c, t, &h, data + sizeof(h));
		if (h.contributor == h.sender && h.counter > p->last_version)
			p->last_version = h.counter;
		break;
	case ATOMIKD_HELLO:
		if (chan == AKD_CHAN_RECOVER && reply && c->serving) {
			/* A starting node: everything, then the end mark. */
			send_everything(c, reply);
			send_end(c, reply);
			c->st.recover_answers++;
		}
		break;
	case ATOMIKD_END:
		if (chan == AKD_CHAN_NODE)
			c->ends_received++;
		break;
	}
}

/* ---- time ---- */

void akd_core_start(struct akd_core *c, uint64_t now)
{
	c->now = now;
	c->recovering = true;
	c->recover_deadline = now + c->conf.recover_ns;
	send_hello(c, AKD_CHAN_RECOVER);
}

/* Recovery is over: the remote row as a whole, then serving. */
static void serve(struct akd_core *c)
{
	unsigned int k;

	say(c, "recovered from %lu of %lu peers", c->ends_received, c->ends_expected);
	c->recovering = false;
	for (k = 0; k < c->nr_t; k++)
		flush_remote(c, k);
	/*
	 * What a checkpoint had, and what the peers sent.  A table of which
	 * nothing is known (no checkpoint, no peer) keeps its row until blocks
	 * arrive.
	 */
	for (k = 0; k < c->nr_t; k++) {
		struct table *t = &c->t[k];

		if (t->restored || c->ends_received > 0 || t->nr_c) {
			memset(t->dirty, 1, t->nr_blocks);
			t->changed = true;
		}
		flush_remote(c, k);
	}
	c->serving = true;
	publish_changes(c, true);
	send_hello(c, AKD_CHAN_HELLO);
	c->next_pub = c->now + c->conf.publish_ns;
	c->next_rep = c->now + c->conf.republish_ns;
}

void akd_core_local(struct akd_core *c, uint64_t now, unsigned int ti, const uint64_t *vals)
{
	struct table *t = &c->t[ti];

	c->now = now;
	memcpy(t->local, vals, t->nr_addrs * 8);
}

bool akd_core_wants_local(const struct akd_core *c, uint64_t now)
{
	return (c->recovering && (now >= c->recover_deadline ||
				  (c->ends_expected && c->ends_received >= c->ends_expected))) ||
	       (c->serving && now >= c->next_pub);
}

uint64_t akd_core_next_tick(const struct akd_core *c)
{
	if (c->recovering)
		return c->recover_deadline;
	return c->next_pub < c->next_rep ? c->next_pub : c->next_rep;
}

void akd_core_tick(struct akd_core *c, uint64_t now)
{
	unsigned int k;

	c->now = now;
	if (c->recovering) {
		if (now >= c->recover_deadline ||
		    (c->ends_expected && c->ends_received >= c->ends_expected))
			serve(c);
		return;
	}
	if (!c->serving)
		return;
	if (now >= c->next_pub) {
		publish_changes(c, false);
		for (k = 0; k < c->nr_t; k++)
			flush_remote(c, k);
		c->next_pub += c->conf.publish_ns;
		if (c->next_pub <= now)
			c->next_pub = now + c->conf.publish_ns;
	}
	if (c->republish_wanted || now >= c->next_rep) {
		c->republish_wanted = false;
		send_hello(c, AKD_CHAN_HELLO);
		send_everything(c, NULL);
		c->st.republishes++;
		c->next_rep = now + c->conf.republish_ns;
	}
}

void akd_core_reconnected(struct akd_core *c, uint64_t now)
{
	c->now = now;
	c->st.reconnects++;
	say(c, "reconnected to NATS: republishing");
	c->republish_wanted = true;
}

void akd_core_stop(struct akd_core *c, uint64_t now)
{
	unsigned int k;

	c->now = now;
	if (!c->serving)
		return;
	publish_changes(c, false);
	for (k = 0; k < c->nr_t; k++) {
		flush_remote(c, k);
		if (c->t[k].changed)
			checkpoint(c, k);
	}
	c->serving = false;
}

/* ---- actions ---- */

bool akd_core_ready(struct akd_core *c, struct akd_ready *rd)
{
	rd->persist = c->out.persist;
	rd->nr_persist = c->out.nr_persist;
	rd->remote = c->out.remote;
	rd->nr_remote = c->out.nr_remote;
	rd->verify = NULL;
	rd->nr_verify = 0;
	rd->send = c->out.send;
	rd->nr_send = c->out.nr_send;
	return rd->nr_persist || rd->nr_remote || rd->nr_send;
}

bool akd_core_persisted(struct akd_core *c, bool ok)
{
	/* The checkpoint is only logged: the device and the wire go on. */
	if (!ok)
		c->st.persist_failures++;
	return true;
}

void akd_core_remote_read(struct akd_core *c, uint64_t now, unsigned int table, uint32_t first,
			  uint32_t count, const uint64_t *vals)
{
}

void akd_core_advance(struct akd_core *c)
{
	unsigned int i;

	for (i = 0; i < c->out.nr_bufs; i++)
		free(c->out.bufs[i]);
	c->out.nr_bufs = c->out.nr_send = c->out.nr_persist = c->out.nr_remote = 0;
}

/* ---- what it holds ---- */

const struct akd_stats *akd_core_stats(const struct akd_core *c)
{
	return &c->st;
}

bool akd_core_serving(const struct akd_core *c)
{
	return c->serving;
}

void akd_core_table_info(const struct akd_core *c, unsigned int ti, struct akd_table_info *info)
{
	const struct table *t = &c->t[ti];
	uint32_t b;

	memset(info, 0, sizeof(*info));
	info->id = t->conf.id;
	info->nr_addrs = t->nr_addrs;
	info->nr_blocks = t->nr_blocks;
	info->instance = t->instance;
	info->contributors = t->nr_c;
	for (b = 0; b < t->nr_blocks; b++) {
		uint32_t first = b * c->conf.block;

		info->unwritten += t->dirty[b];
		info->unpublished += !!memcmp(t->local + first, t->pub + first,
					      block_len(c, t, b) * 8);
	}
}

bool akd_core_contrib(const struct akd_core *c, unsigned int ti, unsigned int i,
		      struct akd_contrib_info *info)
{
	const struct table *t = &c->t[ti];
	uint32_t b;

	if (i >= t->nr_c)
		return false;
	memset(info, 0, sizeof(*info));
	info->node = t->c[i].node;
	info->instance = t->c[i].instance;
	for (b = 0; b < t->nr_blocks; b++)
		if (t->c[i].ver[b] > info->version)
			info->version = t->c[i].ver[b];
	return true;
}

bool akd_core_peer(const struct akd_core *c, unsigned int i, struct akd_peer_info *info)
{
	const struct peer *p = &c->peers[i];

	if (i >= c->nr_peers)
		return false;
	*info = (struct akd_peer_info){ .node = p->node, .instance = p->instance,
					.version = p->last_version, .last_seen = p->last_seen,
					.messages = p->messages };
	return true;
}

void akd_core_account(const struct akd_core *c, unsigned int ti, akd_account_fn *fn, void *arg)
{
	const struct table *t = &c->t[ti];
	unsigned int i;
	uint32_t b;

	for (b = 0; b < t->nr_blocks; b++)
		if (t->pub_ver[b])
			fn(arg, c->conf.node, t->instance, b, t->pub_ver[b]);
	for (i = 0; i < t->nr_c; i++)
		for (b = 0; b < t->nr_blocks; b++)
			if (t->c[i].ver[b])
				fn(arg, t->c[i].node, t->c[i].instance, b, t->c[i].ver[b]);
}
