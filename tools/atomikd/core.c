// SPDX-License-Identifier: GPL-2.0
/*
 * atomikd's replication protocol, without I/O (core.h).
 *
 * In a replicated table each node owns its contribution, the XOR of every
 * delta accumulated on it, and the state everywhere is ref ^ every
 * contributor's latest contribution.  A contributor is a node's table
 * instance; this node's live one is "own", the others are held here, per
 * block, at the highest (version, folds) seen, and their XOR is what the
 * remote row must hold.
 *
 * - Publishing: a block of the local contribution that changed goes out at
 *   once when the node has been quiet for a quarter of a publish interval,
 *   else at the end of the interval (changes coalesce under load); its
 *   version is the boot clock, made larger than the block's last.
 * - Receiving: a newer block replaces the one held, is persisted and
 *   written to the remote row at once; an older or equal one changes
 *   nothing, so loss, repetition and reordering only delay.
 * - Anti-entropy: every node says, in a small hello, the hash of what it
 *   holds; a node whose hash differs gets this node's digests (per table,
 *   each contributor's versions hashed) and asks for what it lacks with
 *   its versions (WANT); the node that sent the digest answers alone.
 * - Identity: a peer is a daemon run (its session); a block of this node's
 *   own live instance is an echo, whatever node it names; an instance is
 *   one node's, and a block naming another node for it is dropped.
 * - Collection: an instance of this node on this machine that is not the
 *   live one is dead (its table was created again: a reload, a reboot).
 *   Once it has been held for collect_ns and every member says it holds
 *   what this node holds (past this node's share of max_contributors,
 *   that it holds the instance as this node does, or not at all), it is
 *   collected into the live contribution by a record that every node
 *   applies: the collector's blocks take the
 *   collected one's values, which leaves every remote row as it was, and
 *   the record stays as a tombstone.  Blocks say how many records of
 *   their contributor they include (folds).
 * - Start: the remote row is read back; a node with neither checkpoint nor
 *   an empty remote row writes nothing to it until every member has
 *   answered, so that it never goes back; one with a checkpoint writes
 *   what it held, which the device can only be behind.
 *
 * Documentation/atomik/cluster.rst has the whole of it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "atomikd.h"
#include "core.h"

/* ---- bytes ---- */

struct wbuf {
	uint8_t *p;
	size_t len, cap;
};

static void wgrow(struct wbuf *w, size_t more)
{
	if (w->len + more <= w->cap)
		return;
	w->cap = w->cap ? w->cap : 256;
	while (w->len + more > w->cap)
		w->cap *= 2;
	w->p = realloc(w->p, w->cap);
	if (!w->p)
		abort();
}

static void w8(struct wbuf *w, uint8_t v)
{
	wgrow(w, 1);
	w->p[w->len++] = v;
}

static void w16(struct wbuf *w, uint16_t v)
{
	v = htole16(v);
	wgrow(w, 2);
	memcpy(w->p + w->len, &v, 2);
	w->len += 2;
}

static void w32(struct wbuf *w, uint32_t v)
{
	v = htole32(v);
	wgrow(w, 4);
	memcpy(w->p + w->len, &v, 4);
	w->len += 4;
}

static void w64(struct wbuf *w, uint64_t v)
{
	v = htole64(v);
	wgrow(w, 8);
	memcpy(w->p + w->len, &v, 8);
	w->len += 8;
}

static void wvals(struct wbuf *w, const uint64_t *v, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		w64(w, v[i]);
}

static void wbytes(struct wbuf *w, const void *p, size_t n)
{
	wgrow(w, n);
	memcpy(w->p + w->len, p, n);
	w->len += n;
}

struct rbuf {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static const uint8_t *rtake(struct rbuf *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->bad || r->left < n) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

static uint16_t r16(struct rbuf *r)
{
	const uint8_t *p = rtake(r, 2);
	uint16_t v = 0;

	if (p)
		memcpy(&v, p, 2);
	return le16toh(v);
}

static uint32_t r32(struct rbuf *r)
{
	const uint8_t *p = rtake(r, 4);
	uint32_t v = 0;

	if (p)
		memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t r64(struct rbuf *r)
{
	const uint8_t *p = rtake(r, 8);
	uint64_t v = 0;

	if (p)
		memcpy(&v, p, 8);
	return le64toh(v);
}

static uint8_t r8(struct rbuf *r)
{
	const uint8_t *p = rtake(r, 1);

	return p ? *p : 0;
}

/* n values into out, or nothing and bad. */
static void rvals(struct rbuf *r, uint64_t *out, uint32_t n)
{
	uint32_t i;

	if (r->bad || r->left / 8 < n) {
		r->bad = true;
		return;
	}
	for (i = 0; i < n; i++)
		out[i] = r64(r);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n--)
		h = (h ^ *b++) * 0x100000001b3ull;
	return h;
}

#define FNV0	0xcbf29ce484222325ull

static uint64_t mix(uint64_t h, uint64_t v)
{
	return fnv(h, &v, 8);
}

/* ---- state ---- */

struct contrib {
	uint64_t instance;
	uint16_t node;
	uint32_t host;
	bool own;			/* this node's live instance */
	uint16_t folds_known;		/* records of it, as absorber, held */
	uint64_t *ver;			/* [nr_blocks]; 0: none */
	uint16_t *folds;		/* [nr_blocks] */
	uint64_t *val;			/* [nr_addrs] */
	uint64_t live_seen;		/* a hello named it live, then; 0: never */
	uint64_t first_seen;		/* when this daemon first held it */
	uint64_t vhash;
	bool vhash_stale;
	uint64_t wanted_at;		/* a WANT of it not answered (DONE) yet; 0: none */
	struct hist **hist;		/* [nr_blocks], each made at its first change */
	/* Its node's signature of each block as held (signing only): a block
	 * not signed (sigd 0: folded here) is not sent to anyone. */
	uint8_t *sig;			/* [nr_blocks * AKD_SIG_BYTES] */
	uint8_t *sigd;			/* [nr_blocks] */
};

/*
 * What changed in a block lately, so that a peer a few versions behind is
 * sent the values that differ (a PATCH) rather than the whole block: the
 * block's last states this node held, (ver0, folds0) and then one step a
 * state, each with the offsets that changed (more than AKD_HIST_OFFS: the
 * step is "many", and a patch across it is the whole block).  A state is
 * (version, folds), which names one content of the block on every node.
 * Only states this node held are named: a peer at a version this node
 * skipped gets the whole block, since what changed between is unknown.
 */
#define AKD_HIST	8
#define AKD_HIST_OFFS	6
#define AKD_HIST_MANY	0xffff

struct step {
	uint64_t ver;
	uint16_t folds;
	uint16_t n;			/* offsets; AKD_HIST_MANY: more */
	uint16_t off[AKD_HIST_OFFS];
};

struct hist {
	uint64_t ver0;
	uint16_t folds0;
	uint8_t head, n;		/* steps: s[head], s[head + 1], ... (ring) */
	struct step s[AKD_HIST];
};

struct record {
	uint64_t absorber, instance, vhash;
	uint16_t node, fold, absorber_node;
	bool sigd;			/* sig is its node's signature */
	uint8_t sig[AKD_SIG_BYTES];
};

struct table {
	struct akd_table_conf conf;
	uint64_t key;
	uint32_t nr_addrs, nr_blocks;
	uint64_t instance;		/* the live one */
	struct contrib **c;		/* own first */
	unsigned int nr_c;
	struct record *rec;
	unsigned int nr_rec;
	uint64_t *local;		/* the contribution as last read */
	uint64_t *adopted;		/* what own has collected */
	uint64_t *remote;		/* what the remote row must hold */
	uint8_t *dirty;			/* [nr_blocks]: remote not written yet */
	uint8_t *changed;		/* [nr_blocks]: local differs from published */
	uint64_t pub_due;		/* publish then; 0: nothing to */
	uint64_t last_pub;
	enum akd_table_state state;
	bool restored;			/* a checkpoint was taken */
	bool dev_read;			/* the remote row was read back at start */
	bool dev_nonzero;
	uint32_t verify_next;
	struct wbuf log;		/* checkpoint records not yet persisted */
	size_t log_bytes, snap_bytes;
	bool need_snapshot;
	bool snap_pending;		/* a whole file is owed (a write failed) */
	struct record pending;		/* a collection this node makes */
	enum { PENDING_NONE, PENDING_WRITING, PENDING_WRITTEN } pending_state;
	const char *size_error;
	/* Admission: the new instances each member may still introduce now. */
	struct admit_rate {
		uint16_t node;
		unsigned int tokens;
		uint64_t at;		/* when the last was given back */
	} *rate;
	unsigned int nr_rate, cap_rate;
};

#define AKD_WANTS_SEEN	8

struct peer {
	uint64_t session;
	uint16_t node;
	uint64_t last_seen, seq, digest;
	uint64_t back_at;		/* when it was heard again after a silence */
	uint64_t digest_sent;		/* when this node last sent it digests */
	uint64_t digest_gap;		/* ... and how long until it may again */
	uint64_t lives[AKD_MAX_TABLES];	/* its live instance of each table */
	uint64_t messages;
	uint64_t want_sent_at;		/* recovery: a WANT answered by DONE */
	unsigned int wants_out;
	uint64_t digests_got;		/* bit per table index (the first 64) */
	uint64_t first_seen;
	uint64_t clock_offset;		/* its boot clock less this node's */
	uint64_t wants_seen[AKD_WANTS_SEEN];	/* the last WANTs answered (want_id()) */
	unsigned int wants_seen_next;
	bool twin_said;
	/* Its last digest of each table: what it held then, for collection. */
	struct peer_digest {
		uint64_t at;		/* when it came (0: none yet) */
		uint64_t rec_hash;	/* its records */
		unsigned int n, cap;
		struct peer_entry {
			uint64_t instance, vhash;
		} *e;
	} dig[AKD_MAX_TABLES];
};

struct outbox {
	struct akd_send *send;
	unsigned int nr_send, cap_send;
	struct akd_persist *persist;
	unsigned int nr_persist, cap_persist;
	struct akd_remote *remote;
	unsigned int nr_remote, cap_remote;
	struct akd_range *verify;
	unsigned int nr_verify, cap_verify;
	void **bufs;
	unsigned int nr_bufs, cap_bufs;
	bool built;
};

struct akd_core {
	struct akd_conf conf;
	uint8_t *members;
	unsigned int nr_members;	/* besides this node */
	struct table *t;
	unsigned int nr_t;
	struct peer *peers;
	unsigned int nr_peers;
	struct akd_stats st;
	struct outbox out;
	bool started, serving, stopping;
	bool blocked;			/* a checkpoint could not be written */
	uint64_t blocked_since;
	uint64_t now;
	uint64_t next_hello, hello_seq, recover_deadline, next_recover;
	uint64_t told;			/* the digest hash the last hello said */
	bool resting;			/* hellos at the rest pace */
	uint64_t verified_at;		/* the last verify_some() */
	uint64_t digest;
	bool digest_stale;
	char fatal[256];
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
	p = realloc(p, (size_t)n * size);
	if (!p)
		abort();
	*cap = n;
	return p;
}

static void *zalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		abort();
	return p;
}

static void *keep(struct akd_core *c, void *p)
{
	c->out.bufs = grow(c->out.bufs, &c->out.cap_bufs, c->out.nr_bufs + 1, sizeof(void *));
	c->out.bufs[c->out.nr_bufs++] = p;
	return p;
}

static uint32_t block_len(const struct akd_core *c, const struct table *t, uint32_t b)
{
	uint32_t first = b * c->conf.block;

	return t->nr_addrs - first < c->conf.block ? t->nr_addrs - first : c->conf.block;
}

static bool is_member(const struct akd_core *c, unsigned long node)
{
	return node >= 1 && node <= AKD_MAX_NODE && c->members[node];
}

static bool newer(uint64_t v, uint16_t f, uint64_t hv, uint16_t hf)
{
	return v > hv || (v == hv && f > hf);
}

/* ---- contributors and records ---- */

static struct contrib *find(const struct table *t, uint64_t instance)
{
	unsigned int i;

	for (i = 0; i < t->nr_c; i++)
		if (t->c[i]->instance == instance)
			return t->c[i];
	return NULL;
}

static struct contrib *add_contrib(struct akd_core *c, struct table *t, uint16_t node,
				   uint32_t host, uint64_t instance)
{
	struct contrib *k;

	if (t->nr_c >= c->conf.max_contributors + 1u)
		return NULL;
	k = zalloc(1, sizeof(*k));
	k->instance = instance;
	k->node = node;
	k->host = host;
	k->first_seen = c->now;
	k->ver = zalloc(t->nr_blocks, 8);
	k->folds = zalloc(t->nr_blocks, 2);
	k->val = zalloc(t->nr_addrs, 8);
	k->sig = zalloc(t->nr_blocks, AKD_SIG_BYTES);
	k->sigd = zalloc(t->nr_blocks, 1);
	k->vhash_stale = true;
	t->c = realloc(t->c, (t->nr_c + 1) * sizeof(*t->c));
	if (!t->c)
		abort();
	t->c[t->nr_c++] = k;
	c->digest_stale = true;
	return k;
}

static void free_contrib(struct contrib *k, uint32_t nr_blocks)
{
	uint32_t b;

	for (b = 0; k->hist && b < nr_blocks; b++)
		free(k->hist[b]);
	free(k->hist);
	free(k->ver);
	free(k->folds);
	free(k->val);
	free(k->sig);
	free(k->sigd);
	free(k);
}

/* The record that collected instance, or NULL. */
static const struct record *collected_by(const struct table *t, uint64_t instance)
{
	unsigned int i;

	for (i = 0; i < t->nr_rec; i++)
		if (t->rec[i].instance == instance)
			return &t->rec[i];
	return NULL;
}

static const struct record *record_of(const struct table *t, uint64_t absorber, uint16_t fold)
{
	unsigned int i;

	for (i = 0; i < t->nr_rec; i++)
		if (t->rec[i].absorber == absorber && t->rec[i].fold == fold)
			return &t->rec[i];
	return NULL;
}

/*
 * Whether block b of instance is counted through the contributor that
 * collected it: that one's block includes the record, or that one was
 * itself collected (every block of it then included all its records).
 */
static bool covered(const struct table *t, uint64_t instance, uint32_t b)
{
	const struct record *r = collected_by(t, instance);
	const struct contrib *a;

	if (!r)
		return false;
	a = find(t, r->absorber);
	if (a)
		return a->folds[b] >= r->fold;
	return collected_by(t, r->absorber) != NULL;
}

/* A block with values: published (a version), or given them by a record. */
static bool has(const struct contrib *k, uint32_t b)
{
	return k->ver[b] || k->folds[b];
}

static bool counted(const struct table *t, const struct contrib *k, uint32_t b)
{
	return !k->own && has(k, b) && !covered(t, k->instance, b);
}

static uint64_t vhash(struct akd_core *c, struct table *t, struct contrib *k)
{
	uint64_t h = FNV0;
	uint32_t b;

	if (!k->vhash_stale)
		return k->vhash;
	for (b = 0; b < t->nr_blocks; b++) {
		if (!has(k, b) || covered(t, k->instance, b))
			continue;
		h = mix(h, b);
		h = mix(h, k->ver[b]);
		h = mix(h, k->folds[b]);
	}
	k->vhash = h;
	k->vhash_stale = false;
	return h;
}

static uint64_t contrib_max(const struct table *t, const struct contrib *k)
{
	uint64_t max = 0;
	uint32_t b;

	for (b = 0; b < t->nr_blocks; b++)
		if (k->ver[b] > max)
			max = k->ver[b];
	return max;
}

/* Nothing held of it: no node needs to hear of it. */
static bool empty(struct akd_core *c, struct table *t, struct contrib *k)
{
	return !k->folds_known && vhash(c, t, k) == FNV0;
}

static void changed_versions(struct akd_core *c, struct contrib *k)
{
	k->vhash_stale = true;
	c->digest_stale = true;
}

/* ---- what changed lately, for patches ---- */

/* Whether the last state h names is what block b of k holds. */
static bool hist_current(const struct hist *h, const struct contrib *k, uint32_t b)
{
	const struct step *s = h->n ? &h->s[(h->head + h->n - 1) % AKD_HIST] : NULL;

	return s ? s->ver == k->ver[b] && s->folds == k->folds[b] :
		   h->ver0 == k->ver[b] && h->folds0 == k->folds[b];
}

/* Block b of k goes from what it holds to (ver, folds): from old to vals. */
static void hist_step(struct akd_core *c, struct table *t, struct contrib *k, uint32_t b,
		      uint64_t ver, uint16_t folds, const uint64_t *old, const uint64_t *vals)
{
	uint32_t i, n = block_len(c, t, b);
	struct hist *h;
	struct step *s;

	if (!k->hist)
		k->hist = zalloc(t->nr_blocks, sizeof(*k->hist));
	h = k->hist[b];
	if (!h)
		h = k->hist[b] = zalloc(1, sizeof(*h));
	/* Its last state is not what the block holds (it was never noted,
	 * or changed by a record): the history starts again here. */
	if (!hist_current(h, k, b)) {
		h->ver0 = k->ver[b];
		h->folds0 = k->folds[b];
		h->n = 0;
	}
	if (h->n == AKD_HIST) {
		/* The oldest step's state becomes the first held. */
		h->ver0 = h->s[h->head].ver;
		h->folds0 = h->s[h->head].folds;
		h->head = (h->head + 1) % AKD_HIST;
		h->n--;
	}
	s = &h->s[(h->head + h->n++) % AKD_HIST];
	s->ver = ver;
	s->folds = folds;
	s->n = 0;
	for (i = 0; i < n; i++) {
		if (old[i] == vals[i])
			continue;
		if (s->n == AKD_HIST_OFFS) {
			s->n = AKD_HIST_MANY;
			break;
		}
		s->off[s->n++] = i;
	}
}

/*
 * The offsets of block b of k that differ between (ver, folds) and what it
 * holds, in order, into off (max of them at most); -1 when unknown (a state
 * this node did not hold lately) or more than max.
 */
static int hist_diff(const struct contrib *k, uint32_t b, uint64_t ver,
		     uint16_t folds, uint16_t *off, unsigned int max)
{
	const struct hist *h = k->hist ? k->hist[b] : NULL;
	unsigned int i, j, from, n = 0;

	if (!h)
		return -1;
	/* Its last state must be what the block holds (a record changes a
	 * block without a step). */
	if (!hist_current(h, k, b))
		return -1;
	if (h->ver0 == ver && h->folds0 == folds) {
		from = 0;
	} else {
		for (from = 0; from < h->n; from++) {
			const struct step *s = &h->s[(h->head + from) % AKD_HIST];

			if (s->ver == ver && s->folds == folds)
				break;
		}
		if (from++ == h->n)
			return -1;
	}
	for (i = from; i < h->n; i++) {
		const struct step *s = &h->s[(h->head + i) % AKD_HIST];

		if (s->n == AKD_HIST_MANY)
			return -1;
		for (j = 0; j < s->n; j++) {
			unsigned int at = n;

			/* Into place, once each: a few of them. */
			while (at && off[at - 1] > s->off[j])
				at--;
			if (at && off[at - 1] == s->off[j])
				continue;
			if (n == max)
				return -1;
			memmove(off + at + 1, off + at, (n - at) * sizeof(*off));
			off[at] = s->off[j];
			n++;
		}
	}
	return n;
}

static void remove_contrib(struct akd_core *c, struct table *t, struct contrib *k)
{
	unsigned int i;

	for (i = 0; i < t->nr_c && t->c[i] != k; i++)
		;
	t->c[i] = t->c[--t->nr_c];
	free_contrib(k, t->nr_blocks);
	c->digest_stale = true;
}

/* A contributor every block of which is counted elsewhere goes. */
static void maybe_collect(struct akd_core *c, struct table *t, struct contrib *k)
{
	uint32_t b;

	if (k->own || !collected_by(t, k->instance))
		return;
	for (b = 0; b < t->nr_blocks; b++)
		if (has(k, b) && !covered(t, k->instance, b))
			return;
	remove_contrib(c, t, k);
	c->st.collected++;
}

/* ---- signatures ---- */

/*
 * What a contributor's node signs of block b at (ver, folds, vals): struct
 * atomikd_signed_block, then the values.  The signature travels with the
 * block through every relay; only that node's key makes one.
 */
static void block_signed(struct akd_core *c, const struct table *t, uint16_t node,
			 uint32_t host, uint64_t instance, uint32_t b, uint64_t ver,
			 uint16_t folds, const uint64_t *vals, struct wbuf *w)
{
	uint32_t n = block_len(c, t, b);

	w32(w, ATOMIKD_SIGN_BLOCK);
	w32(w, 0);
	w64(w, t->key);
	w32(w, t->nr_addrs);
	w32(w, c->conf.block);
	w32(w, b);
	w32(w, n);
	w16(w, node);
	w16(w, folds);
	w32(w, host);
	w64(w, instance);
	w64(w, ver);
	wvals(w, vals, n);
}

/* This node signs block b of k, one of its own instances, as it holds it. */
static void sign_block(struct akd_core *c, const struct table *t, struct contrib *k, uint32_t b)
{
	struct wbuf w = { 0 };

	block_signed(c, t, k->node, k->host, k->instance, b, k->ver[b], k->folds[b],
		     k->val + (size_t)b * c->conf.block, &w);
	c->conf.sign(c->conf.sig_arg, w.p, w.len, k->sig + (size_t)b * AKD_SIG_BYTES);
	k->sigd[b] = 1;
	free(w.p);
}

static bool block_verifies(struct akd_core *c, const struct table *t, uint16_t node,
			   uint32_t host, uint64_t instance, uint32_t b, uint64_t ver,
			   uint16_t folds, const uint64_t *vals, const uint8_t *sig)
{
	struct wbuf w = { 0 };
	bool ok;

	block_signed(c, t, node, host, instance, b, ver, folds, vals, &w);
	ok = c->conf.verify(c->conf.sig_arg, node, w.p, w.len, sig);
	free(w.p);
	return ok;
}

/* What the absorber's node signs of a record: struct atomikd_signed_record. */
static void record_signed(const struct table *t, const struct record *r, struct wbuf *w)
{
	w32(w, ATOMIKD_SIGN_RECORD);
	w32(w, 0);
	w64(w, t->key);
	w64(w, r->absorber);
	w64(w, r->instance);
	w64(w, r->vhash);
	w16(w, r->node);
	w16(w, r->fold);
	w16(w, r->absorber_node);
	w16(w, 0);
}

static void sign_record(struct akd_core *c, const struct table *t, struct record *r)
{
	struct wbuf w = { 0 };

	record_signed(t, r, &w);
	c->conf.sign(c->conf.sig_arg, w.p, w.len, r->sig);
	r->sigd = true;
	free(w.p);
}

static bool record_verifies(struct akd_core *c, const struct table *t, const struct record *r)
{
	struct wbuf w = { 0 };
	bool ok;

	record_signed(t, r, &w);
	ok = c->conf.verify(c->conf.sig_arg, r->absorber_node, w.p, w.len, r->sig);
	free(w.p);
	return ok;
}

/* ---- checkpoints ---- */

enum { CK_HEADER = 1, CK_BLOCK = 3, CK_ADOPTED = 4, CK_RECORD = 5 };
#define CK_MAGIC	0x32434b41u	/* "AKC2" */
#define CK_VERSION	2

static void ck_record(struct wbuf *w, uint32_t type, const struct wbuf *body)
{
	uint64_t h = FNV0;
	uint32_t le;

	le = htole32(type);
	h = fnv(h, &le, 4);
	le = htole32(body->len);
	h = fnv(h, &le, 4);
	h = fnv(h, body->p, body->len);
	w32(w, type);
	w32(w, body->len);
	wgrow(w, body->len);
	memcpy(w->p + w->len, body->p, body->len);
	w->len += body->len;
	w64(w, h);
}

static void log_block(struct akd_core *c, struct table *t, const struct contrib *k, uint32_t b,
		      struct wbuf *into)
{
	struct wbuf body = { 0 };

	w64(&body, k->instance);
	w16(&body, k->node);
	w16(&body, k->folds[b]);
	w32(&body, b);
	w64(&body, k->ver[b]);
	w32(&body, k->host);
	w32(&body, 0);
	wvals(&body, k->val + (size_t)b * c->conf.block, block_len(c, t, b));
	if (k->sigd[b])
		wbytes(&body, k->sig + (size_t)b * AKD_SIG_BYTES, AKD_SIG_BYTES);
	ck_record(into ? into : &t->log, CK_BLOCK, &body);
	free(body.p);
}

static void log_adopted(struct akd_core *c, struct table *t, uint32_t b, struct wbuf *into)
{
	struct wbuf body = { 0 };

	w32(&body, b);
	w32(&body, 0);
	wvals(&body, t->adopted + (size_t)b * c->conf.block, block_len(c, t, b));
	ck_record(into ? into : &t->log, CK_ADOPTED, &body);
	free(body.p);
}

static void log_rec(struct table *t, const struct record *r, struct wbuf *into)
{
	struct wbuf body = { 0 };

	w64(&body, r->absorber);
	w64(&body, r->instance);
	w64(&body, r->vhash);
	w16(&body, r->node);
	w16(&body, r->fold);
	w16(&body, r->absorber_node);
	w16(&body, 0);
	if (r->sigd)
		wbytes(&body, r->sig, AKD_SIG_BYTES);
	ck_record(into ? into : &t->log, CK_RECORD, &body);
	free(body.p);
}

/* The whole of a table: a checkpoint file of its own. */
static void snapshot(struct akd_core *c, struct table *t, struct wbuf *w)
{
	struct wbuf body = { 0 };
	char name[AKD_NAME_MAX] = "";
	unsigned int i;
	uint32_t b;

	w32(w, CK_MAGIC);
	w32(&body, CK_VERSION);
	w16(&body, c->conf.node);
	w16(&body, 0);
	w32(&body, t->nr_addrs);
	w32(&body, c->conf.block);
	w64(&body, t->instance);
	memcpy(name, t->conf.name, sizeof(name) - 1);
	wgrow(&body, sizeof(name));
	memcpy(body.p + body.len, name, sizeof(name));
	body.len += sizeof(name);
	ck_record(w, CK_HEADER, &body);
	free(body.p);
	for (i = 0; i < t->nr_rec; i++)
		log_rec(t, &t->rec[i], w);
	for (i = 0; i < t->nr_c; i++) {
		struct contrib *k = t->c[i];

		for (b = 0; b < t->nr_blocks; b++)
			if ((k->ver[b] || k->folds[b]) && (k->own || !covered(t, k->instance, b)))
				log_block(c, t, k, b, w);
	}
	for (b = 0; b < t->nr_blocks; b++) {
		uint32_t j, first = b * c->conf.block;

		for (j = 0; j < block_len(c, t, b) && !t->adopted[first + j]; j++)
			;
		if (j < block_len(c, t, b))
			log_adopted(c, t, b, w);
	}
}

/* ---- life ---- */

int akd_core_create(struct akd_core **cp, const struct akd_conf *conf,
		    const struct akd_table_conf *tables, unsigned int nr_tables)
{
	struct akd_core *c;
	unsigned int i, j, n;

	if (!nr_tables || nr_tables > AKD_MAX_TABLES || !conf->block ||
	    conf->block > AKD_MAX_BLOCK || !conf->node || !conf->host || !conf->session ||
	    !conf->hello_ns ||
	    !conf->max_contributors)
		return -EINVAL;
	for (i = 0; i < nr_tables; i++) {
		if (!tables[i].nr_addrs || !tables[i].instance || !tables[i].name[0] ||
		    memchr(tables[i].name, 0, AKD_NAME_MAX) == NULL)
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (!strcmp(tables[i].name, tables[j].name))
				return -EINVAL;
	}
	c = zalloc(1, sizeof(*c));
	c->conf = *conf;
	c->members = zalloc(AKD_MAX_NODE + 1, 1);
	if (conf->members)
		memcpy(c->members, conf->members, AKD_MAX_NODE + 1);
	else
		memset(c->members + 1, 1, AKD_MAX_NODE);
	c->members[conf->node] = 1;
	if (conf->members)
		for (n = 1; n <= AKD_MAX_NODE; n++)
			c->nr_members += c->members[n] && n != conf->node;
	c->t = zalloc(nr_tables, sizeof(*c->t));
	c->nr_t = nr_tables;
	for (i = 0; i < nr_tables; i++) {
		struct table *t = &c->t[i];
		struct contrib *me;

		t->conf = tables[i];
		t->key = atomikd_table_key(t->conf.name);
		t->nr_addrs = tables[i].nr_addrs;
		t->instance = tables[i].instance;
		t->nr_blocks = (t->nr_addrs + conf->block - 1) / conf->block;
		t->local = zalloc(t->nr_addrs, 8);
		t->adopted = zalloc(t->nr_addrs, 8);
		t->remote = zalloc(t->nr_addrs, 8);
		t->dirty = zalloc(t->nr_blocks, 1);
		t->changed = zalloc(t->nr_blocks, 1);
		t->state = AKD_RECOVERING;
		me = add_contrib(c, t, conf->node, conf->host, t->instance);
		me->own = true;
	}
	c->digest_stale = true;
	*cp = c;
	return 0;
}

static void free_peer(struct peer *p)
{
	unsigned int ti;

	for (ti = 0; ti < AKD_MAX_TABLES; ti++)
		free(p->dig[ti].e);
}

void akd_core_destroy(struct akd_core *c)
{
	unsigned int i, k;

	if (!c)
		return;
	akd_core_advance(c);
	for (i = 0; i < c->nr_t; i++) {
		struct table *t = &c->t[i];

		for (k = 0; k < t->nr_c; k++)
			free_contrib(t->c[k], t->nr_blocks);
		free(t->c);
		free(t->rec);
		free(t->local);
		free(t->adopted);
		free(t->remote);
		free(t->dirty);
		free(t->changed);
		free(t->log.p);
		free(t->rate);
	}
	free(c->t);
	free(c->members);
	for (i = 0; i < c->nr_peers; i++)
		free_peer(&c->peers[i]);
	free(c->peers);
	free(c->out.send);
	free(c->out.persist);
	free(c->out.remote);
	free(c->out.verify);
	free(c->out.bufs);
	free(c);
}

const char *akd_core_fatal(const struct akd_core *c)
{
	return c->fatal[0] ? c->fatal : NULL;
}

/*
 * The little of printf the fatal messages need, so that the core needs no
 * stdio: %s, %u, %x, %lu, %lx with an optional 0-padded width.
 */
static void format(char *buf, size_t size, const char *fmt, va_list ap)
{
	size_t n = 0;

#define PUT(ch) do { if (n + 1 < size) buf[n++] = (ch); } while (0)
	while (*fmt) {
		char digits[24];
		unsigned long v;
		unsigned int width = 0, base, len = 0;
		bool lng = false;
		const char *str;

		if (*fmt != '%') {
			PUT(*fmt++);
			continue;
		}
		fmt++;
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		if (*fmt == 'l') {
			lng = true;
			fmt++;
		}
		switch (*fmt) {
		case 's':
			for (str = va_arg(ap, const char *); *str; str++)
				PUT(*str);
			break;
		case 'u':
		case 'x':
			base = *fmt == 'u' ? 10 : 16;
			v = lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);
			do {
				digits[len++] = "0123456789abcdef"[v % base];
				v /= base;
			} while (v && len < sizeof(digits));
			while (width > len) {
				PUT('0');
				width--;
			}
			while (len)
				PUT(digits[--len]);
			break;
		default:
			PUT('%');
			if (*fmt)
				PUT(*fmt);
			break;
		}
		if (*fmt)
			fmt++;
	}
	buf[n < size ? n : size - 1] = 0;
#undef PUT
}

static void set_fatal(struct akd_core *c, const char *fmt, ...)
{
	va_list ap;

	if (c->fatal[0])
		return;
	va_start(ap, fmt);
	format(c->fatal, sizeof(c->fatal), fmt, ap);
	va_end(ap);
	say(c, "%s", c->fatal);
}

/* ---- taking blocks ---- */

/*
 * Block b of the remote row from what is held: the collected values of
 * this node's own instance, and every contributor counted apart.  Counting
 * again, rather than following every change, keeps the row right through
 * chains of collections; a block is a few contributors of a few values.
 */
static void recount_block(struct akd_core *c, struct table *t, uint32_t b)
{
	uint32_t i, first = b * c->conf.block, n = block_len(c, t, b);
	uint64_t v[AKD_MAX_BLOCK];
	unsigned int k;

	memcpy(v, t->adopted + first, n * 8);
	for (k = 0; k < t->nr_c; k++)
		if (counted(t, t->c[k], b))
			for (i = 0; i < n; i++)
				v[i] ^= t->c[k]->val[first + i];
	if (memcmp(v, t->remote + first, n * 8)) {
		memcpy(t->remote + first, v, n * 8);
		t->dirty[b] = 1;
	}
}

/* Every contributor every block of which is counted elsewhere goes. */
static void sweep(struct akd_core *c, struct table *t)
{
	unsigned int i;

	for (i = t->nr_c; i-- > 1;)
		maybe_collect(c, t, t->c[i]);
}

/* Block b of contributor k becomes (ver, folds, vals), newer than what is held. */
static void take_block(struct akd_core *c, struct table *t, struct contrib *k, uint32_t b,
		       uint64_t ver, uint16_t folds, const uint64_t *vals, const uint8_t *sig)
{
	uint32_t first = b * c->conf.block, n = block_len(c, t, b);
	unsigned int i;

	hist_step(c, t, k, b, ver, folds, k->val + first, vals);
	memcpy(k->val + first, vals, n * 8);
	k->ver[b] = ver;
	k->folds[b] = folds;
	k->sigd[b] = sig != NULL;
	if (sig)
		memcpy(k->sig + (size_t)b * AKD_SIG_BYTES, sig, AKD_SIG_BYTES);
	recount_block(c, t, b);
	for (i = 0; i < t->nr_c; i++)
		if (collected_by(t, t->c[i]->instance))
			changed_versions(c, t->c[i]);
	changed_versions(c, k);
}

static bool holds_nothing(const struct table *t, const struct contrib *k)
{
	uint32_t b;

	for (b = 0; b < t->nr_blocks; b++)
		if (has(k, b))
			return false;
	return true;
}

/*
 * A collection record applied where this node can: the absorber's blocks
 * take the collected one's values, uniformly when it holds all of it.
 *
 * Not into another node's absorber that holds nothing yet (made for the
 * block that has just come, or read from a checkpoint): that block, and
 * those after it, say by their folds whether they include the record, and
 * the collected instance is counted apart until they do.  Folded into an
 * empty absorber, the collected one would go at once and a block of the
 * absorber from before the collection, taken next, would leave its values
 * out.
 */
static void apply_record(struct akd_core *c, struct table *t, const struct record *r)
{
	struct contrib *a = find(t, r->absorber), *d = find(t, r->instance);
	uint32_t b, i, first, n;
	bool mine;

	if (!a || a->folds_known + 1 != r->fold)
		return;
	mine = a->node == c->conf.node && a->host == c->conf.host;
	a->folds_known = r->fold;
	c->digest_stale = true;
	c->st.records_applied++;
	if (d && !d->own && (a->own || (!holds_nothing(t, a) && (!c->conf.sign || mine))) &&
	    vhash(c, t, d) == r->vhash) {
		for (b = 0; b < t->nr_blocks; b++) {
			bool moved = false;

			if (a->folds[b] != r->fold - 1)
				continue;
			first = b * c->conf.block;
			n = block_len(c, t, b);
			if (has(d, b) && !covered(t, d->instance, b))
				for (i = 0; i < n; i++) {
					a->val[first + i] ^= d->val[first + i];
					if (a->own)
						t->adopted[first + i] ^= d->val[first + i];
					moved |= d->val[first + i] != 0;
				}
			a->folds[b] = r->fold;
			/* Signing, only this node folds into its own instances
			 * (another node's blocks wait for their node's signed
			 * folds, the collected one counted apart until then),
			 * and signs what it folded: the live instance's values
			 * that moved as a new version, when it publishes. */
			if (c->conf.sign && a->own && moved)
				a->sigd[b] = 0, t->changed[b] = 1;
			else if (c->conf.sign && has(a, b))
				sign_block(c, t, a, b);
			recount_block(c, t, b);
		}
		changed_versions(c, a);
		changed_versions(c, d);
		sweep(c, t);
	}
}

/* Records in order, as far as they go. */
static void apply_records(struct akd_core *c, struct table *t)
{
	bool more = true;
	unsigned int i, k;

	while (more) {
		more = false;
		for (k = 0; k < t->nr_c; k++) {
			struct contrib *a = t->c[k];

			for (i = 0; i < t->nr_rec; i++)
				if (t->rec[i].absorber == a->instance &&
				    t->rec[i].fold == a->folds_known + 1) {
					apply_record(c, t, &t->rec[i]);
					more = true;
					break;
				}
			if (more)
				break;
		}
	}
}

/* A record new here; false when it contradicts one held. */
static bool add_record(struct akd_core *c, struct table *t, const struct record *r)
{
	const struct record *old = record_of(t, r->absorber, r->fold);

	if (old)
		return old->instance == r->instance;
	if (collected_by(t, r->instance))
		return false;
	t->rec = realloc(t->rec, (t->nr_rec + 1) * sizeof(*t->rec));
	if (!t->rec)
		abort();
	t->rec[t->nr_rec++] = *r;
	c->digest_stale = true;
	return true;
}

/* ---- restoring ---- */

struct restore {
	bool header;
	uint64_t instance;		/* the live instance when it was written */
};

static int restore_header(struct akd_core *c, struct table *t, struct rbuf *r,
			  struct restore *rs)
{
	char name[AKD_NAME_MAX];
	uint32_t version, nr_addrs, block;
	uint16_t node;
	const uint8_t *p;

	version = r32(r);
	node = r16(r);
	r16(r);
	nr_addrs = r32(r);
	block = r32(r);
	rs->instance = r64(r);
	p = rtake(r, sizeof(name));
	if (r->bad || version != CK_VERSION)
		return -EBADMSG;
	memcpy(name, p, sizeof(name));
	name[sizeof(name) - 1] = 0;
	if (node != c->conf.node) {
		set_fatal(c, "table %s: the checkpoint is node %u's, and this daemon is node %u: "
			  "a node's id cannot change while its table lives (set node = %u, or "
			  "remove the checkpoint and reload the module)", t->conf.name, node,
			  c->conf.node, node);
		return -EEXIST;
	}
	if (strcmp(name, t->conf.name) || nr_addrs != t->nr_addrs || block != c->conf.block) {
		set_fatal(c, "table %s (%u addresses, blocks of %u): the checkpoint holds table %s "
			  "(%u addresses, blocks of %u); remove it if the table changed",
			  t->conf.name, t->nr_addrs, c->conf.block, name, nr_addrs, block);
		return -EEXIST;
	}
	rs->header = true;
	return 0;
}

static void restore_block(struct akd_core *c, struct table *t, struct rbuf *r,
			  const struct restore *rs)
{
	uint64_t instance = r64(r), ver;
	uint16_t node = r16(r), folds = r16(r);
	uint32_t b = r32(r), host;
	const uint8_t *sig;
	uint64_t *vals;
	struct contrib *k;

	ver = r64(r);
	host = r32(r);
	r32(r);
	if (r->bad || b >= t->nr_blocks || !instance || !node)
		return;
	vals = zalloc(block_len(c, t, b), 8);
	rvals(r, vals, block_len(c, t, b));
	/* Its node's signature, kept since it came (a checkpoint is this
	 * node's own, not checked again); none: not relayed. */
	sig = r->left >= AKD_SIG_BYTES ? rtake(r, AKD_SIG_BYTES) : NULL;
	if (r->bad) {
		free(vals);
		return;
	}
	/*
	 * The checkpoint's own instance, if the table has another now, is frozen.
	 * A collected instance is taken too: a whole file has the records
	 * first, and the blocks the collector's do not include yet are counted
	 * apart until they do (covered()); those they include are not, and a
	 * contributor with nothing else goes at the end (sweep()).
	 */
	k = find(t, instance);
	if (!k) {
		k = add_contrib(c, t, node, host, instance);
		/* Its records applied before its block, as recv_block() did. */
		if (k)
			apply_records(c, t);
	}
	if (k && k->node == node && k->host == host && newer(ver, folds, k->ver[b], k->folds[b]))
		take_block(c, t, k, b, ver, folds, vals, sig);
	(void)rs;
	free(vals);
}

int akd_core_restore(struct akd_core *c, unsigned int ti, const void *buf, size_t len)
{
	struct table *t = &c->t[ti];
	struct rbuf r = { buf, len, false };
	struct restore rs = { 0 };
	unsigned int records = 0;
	uint32_t b, i;
	int ret = 0;

	if (r32(&r) != CK_MAGIC) {
		say(c, "table %s: the checkpoint is not one (ignored)", t->conf.name);
		return -EBADMSG;
	}
	while (r.left && !r.bad) {
		uint32_t type = r32(&r), n = r32(&r);
		const uint8_t *body = rtake(&r, n);
		uint64_t check = r64(&r), h = FNV0, le;
		struct rbuf rb = { body, n, false };

		if (r.bad)
			break;
		le = htole32(type);
		h = fnv(h, &le, 4);
		le = htole32(n);
		h = fnv(h, &le, 4);
		h = fnv(h, body, n);
		if (h != check) {
			r.bad = true;
			break;
		}
		if (!rs.header && type != CK_HEADER) {
			r.bad = true;
			break;
		}
		switch (type) {
		case CK_HEADER:
			ret = restore_header(c, t, &rb, &rs);
			if (ret)
				return ret;
			break;
		case CK_BLOCK:
			restore_block(c, t, &rb, &rs);
			break;
		case CK_ADOPTED:
			b = r32(&rb);
			r32(&rb);
			if (b < t->nr_blocks && rs.instance == t->instance)
				rvals(&rb, t->adopted + (size_t)b * c->conf.block,
				      block_len(c, t, b));
			break;
		case CK_RECORD: {
			struct record rec;

			rec.absorber = r64(&rb);
			rec.instance = r64(&rb);
			rec.vhash = r64(&rb);
			rec.node = r16(&rb);
			rec.fold = r16(&rb);
			rec.absorber_node = r16(&rb);
			r16(&rb);
			rec.sigd = rb.left >= AKD_SIG_BYTES;
			if (rec.sigd)
				memcpy(rec.sig, rtake(&rb, AKD_SIG_BYTES), AKD_SIG_BYTES);
			/* Applied where it stands in the file: the blocks before
			 * it are what it collected, those after include it. */
			if (!rb.bad && rec.fold && rec.absorber && rec.instance &&
			    add_record(c, t, &rec))
				apply_records(c, t);
			break;
		}
		default:
			break;
		}
		records++;
	}
	if (!rs.header) {
		say(c, "table %s: the checkpoint is damaged at its start (ignored)", t->conf.name);
		return -EBADMSG;
	}
	if (r.bad)
		say(c, "table %s: the checkpoint is damaged after %u records: the rest is "
		    "dropped (the peers hold it)", t->conf.name, records);
	apply_records(c, t);
	sweep(c, t);
	/* The remote row from scratch: every block is written once serving. */
	for (b = 0; b < t->nr_blocks; b++)
		recount_block(c, t, b);
	memset(t->dirty, 1, t->nr_blocks);
	for (i = 0; i < t->nr_c; i++) {
		t->c[i]->vhash_stale = true;
		if (!t->c[i]->own && t->c[i]->instance == rs.instance)
			say(c, "table %s: its instance changed since the checkpoint: instance "
			    "%016" PRIx64 " is frozen, kept as any contributor", t->conf.name,
			    rs.instance);
	}
	t->restored = true;
	t->need_snapshot = true;
	c->digest_stale = true;
	return 0;
}

/* ---- sending ---- */

static void hdr(struct akd_core *c, struct wbuf *w, uint8_t type, uint16_t flags,
		uint64_t key)
{
	w32(w, ATOMIKD_MAGIC);
	w8(w, ATOMIKD_PROTO);
	w8(w, type);
	w16(w, flags);
	w16(w, c->conf.node);
	w16(w, c->conf.sign ? ATOMIKD_SIGNED : 0);
	w32(w, 0);
	w64(w, c->conf.session);
	w64(w, c->now);
	w64(w, key);
}

static void queue(struct akd_core *c, enum akd_chan chan, uint32_t table, uint16_t node,
		  struct wbuf *w)
{
	struct akd_send *s;

	if (c->conf.sign) {
		uint8_t sig[AKD_SIG_BYTES];

		c->conf.sign(c->conf.sig_arg, w->p, w->len, sig);
		wbytes(w, sig, sizeof(sig));
	}
	c->out.send = grow(c->out.send, &c->out.cap_send, c->out.nr_send + 1,
			   sizeof(*c->out.send));
	s = &c->out.send[c->out.nr_send++];
	*s = (struct akd_send){ .chan = chan, .table = table, .node = node,
				.buf = keep(c, w->p), .len = w->len };
	c->st.messages_sent++;
	c->st.bytes_sent += w->len;
}

/* A BLOCK's or a PATCH's header and struct atomikd_block, count values. */
static void block_head(struct akd_core *c, struct wbuf *w, uint8_t type, const struct table *t,
		       const struct contrib *k, uint32_t b, uint32_t count)
{
	hdr(c, w, type, k->own ? ATOMIKD_BLOCK_LIVE : 0, t->key);
	w32(w, t->nr_addrs);
	w32(w, c->conf.block);
	w32(w, b);
	w32(w, count);
	w16(w, k->node);
	w16(w, k->folds[b]);
	w32(w, k->host);
	w64(w, k->instance);
	w64(w, k->ver[b]);
}

static void send_block(struct akd_core *c, unsigned int ti, const struct contrib *k,
		       uint32_t b, uint16_t to)
{
	struct table *t = &c->t[ti];
	struct wbuf w = { 0 };
	uint32_t n = block_len(c, t, b);

	if (c->conf.sign && !k->sigd[b])
		return;		/* folded here: its node's version is awaited */
	block_head(c, &w, ATOMIKD_BLOCK, t, k, b, n);
	wvals(&w, k->val + (size_t)b * c->conf.block, n);
	if (c->conf.sign)
		wbytes(&w, k->sig + (size_t)b * AKD_SIG_BYTES, AKD_SIG_BYTES);
	queue(c, to ? AKD_CHAN_NODE : AKD_CHAN_BLOCKS, ti, to, &w);
}

/*
 * Block b of k to a peer that holds it at (ver, folds), as the values that
 * changed since when this node knows them and they are few; else whole.
 */
static void send_repair(struct akd_core *c, unsigned int ti, const struct contrib *k,
			uint32_t b, uint16_t to, uint64_t ver, uint16_t folds, bool patch)
{
	struct table *t = &c->t[ti];
	uint32_t first = b * c->conf.block, n = block_len(c, t, b);
	uint16_t off[AKD_HIST * AKD_HIST_OFFS];
	struct wbuf w = { 0 };
	int i, m;

	/* A patch of m values: 16 bytes more, then 12 a value, against 8 a
	 * value of the whole block. */
	if (c->conf.sign && !k->sigd[b])
		return;
	m = patch ? hist_diff(k, b, ver, folds, off, AKD_HIST * AKD_HIST_OFFS) : -1;
	if (m < 0 || 16 + 12 * (uint64_t)m >= 8 * (uint64_t)n) {
		send_block(c, ti, k, b, to);
		return;
	}
	block_head(c, &w, ATOMIKD_PATCH, t, k, b, m);
	w64(&w, ver);
	w16(&w, folds);
	w16(&w, 0);
	w16(&w, 0);
	w16(&w, 0);
	for (i = 0; i < m; i++)
		w32(&w, off[i]);
	for (i = 0; i < m; i++)
		w64(&w, k->val[first + off[i]]);
	if (c->conf.sign)
		wbytes(&w, k->sig + (size_t)b * AKD_SIG_BYTES, AKD_SIG_BYTES);
	queue(c, AKD_CHAN_NODE, ti, to, &w);
	c->st.patches_sent++;
}

static uint64_t digest_hash(struct akd_core *c)
{
	unsigned int ti, i;
	uint64_t h = FNV0;

	if (!c->digest_stale)
		return c->digest;
	for (ti = 0; ti < c->nr_t; ti++) {
		struct table *t = &c->t[ti];
		uint64_t x = 0;

		h = mix(h, t->key);
		/* Contributors in any order: their hashes XORed. */
		for (i = 0; i < t->nr_c; i++) {
			struct contrib *k = t->c[i];
			uint64_t e = mix(mix(mix(FNV0, k->instance), k->node), k->folds_known);

			if (!empty(c, t, k))
				x ^= mix(e, vhash(c, t, k));
		}
		h = mix(h, x);
		x = 0;
		for (i = 0; i < t->nr_rec; i++)
			x ^= mix(mix(mix(FNV0, t->rec[i].absorber), t->rec[i].instance),
				 t->rec[i].fold);
		h = mix(h, x);
	}
	c->digest = h;
	c->digest_stale = false;
	return h;
}

static uint64_t records_hash(const struct table *t)
{
	uint64_t x = 0;
	unsigned int i;

	for (i = 0; i < t->nr_rec; i++)
		x ^= mix(mix(mix(FNV0, t->rec[i].absorber), t->rec[i].instance), t->rec[i].fold);
	return x;
}

static void send_hello(struct akd_core *c, bool starting)
{
	struct wbuf w = { 0 };
	unsigned int ti;

	hdr(c, &w, ATOMIKD_HELLO, starting ? ATOMIKD_HELLO_STARTING : 0, 0);
	w64(&w, ++c->hello_seq);
	c->told = digest_hash(c);
	w64(&w, c->told);
	w32(&w, c->nr_t);
	w32(&w, 0);
	for (ti = 0; ti < c->nr_t; ti++) {
		w64(&w, c->t[ti].key);
		w64(&w, c->t[ti].instance);
	}
	queue(c, AKD_CHAN_HELLO, 0, 0, &w);
	c->st.hellos_sent++;
}

/*
 * A peer heard within this is heard lately: a hello at the rest pace
 * (AKD_REST_HELLOS intervals) and two intervals of slack.
 */
static uint64_t lately(const struct akd_core *c)
{
	return (AKD_REST_HELLOS + 2) * c->conf.hello_ns;
}

static void wake_hellos(struct akd_core *c);

static bool live(const struct akd_core *c, const struct contrib *k)
{
	return k->own || (k->live_seen && c->now - k->live_seen < lately(c));
}

static void send_digest(struct akd_core *c, unsigned int ti, uint16_t to)
{
	struct table *t = &c->t[ti];
	struct wbuf w = { 0 };
	unsigned int i, n;
	uint32_t b;

	for (i = n = 0; i < t->nr_c; i++)
		n += !empty(c, t, t->c[i]);
	hdr(c, &w, ATOMIKD_DIGEST, 0, t->key);
	w32(&w, t->nr_addrs);
	w32(&w, c->conf.block);
	w32(&w, n);
	w32(&w, t->nr_rec);
	w64(&w, records_hash(t));
	for (i = 0; i < t->nr_c; i++) {
		struct contrib *k = t->c[i];
		uint64_t max = 0;

		if (empty(c, t, k))
			continue;

		for (b = 0; b < t->nr_blocks; b++)
			if (k->ver[b] > max)
				max = k->ver[b];
		w64(&w, k->instance);
		w16(&w, k->node);
		w16(&w, live(c, k) ? ATOMIKD_C_LIVE : 0);
		w16(&w, k->folds_known);
		w16(&w, 0);
		w64(&w, vhash(c, t, k));
		w64(&w, max);
	}
	queue(c, AKD_CHAN_NODE, ti, to, &w);
	c->st.digests_sent++;
}

/* paced: sent because the peer's hash differs (not asked for). */
static void send_digests(struct akd_core *c, struct peer *p, bool paced)
{
	unsigned int ti;

	for (ti = 0; ti < c->nr_t; ti++)
		send_digest(c, ti, p->node);
	p->digest_sent = c->now;
	/*
	 * A peer that stays apart while everyone writes is mostly only late:
	 * its digests come less and less often (up to eight hellos apart)
	 * until it agrees again.  Digests asked for (a starting hello, a
	 * record it lacks) are not a sign of that.
	 */
	if (!paced)
		return;
	if (!p->digest_gap)
		p->digest_gap = c->conf.hello_ns;
	else if (p->digest_gap < 8 * c->conf.hello_ns)
		p->digest_gap *= 2;
}

/* This node's versions of instance (none: zeros), to the node that has more. */
static void send_want(struct akd_core *c, unsigned int ti, struct peer *p, uint64_t instance,
		      bool records)
{
	struct table *t = &c->t[ti];
	struct contrib *k = instance ? find(t, instance) : NULL;
	struct wbuf w = { 0 };
	uint32_t b, nb = instance ? t->nr_blocks : 0;

	hdr(c, &w, ATOMIKD_WANT, 0, t->key);
	w64(&w, instance);
	w32(&w, nb);
	w32(&w, records ? t->nr_rec + 1 : 0);
	for (b = 0; b < nb; b++) {
		w64(&w, k ? k->ver[b] : 0);
		w16(&w, k ? k->folds[b] : 0);
		w16(&w, c->conf.whole_blocks ? 0 : ATOMIKD_WANT_PATCH);
		w16(&w, 0);
		w16(&w, 0);
	}
	queue(c, AKD_CHAN_NODE, ti, p->node, &w);
	c->st.wants_sent++;
	if (k)
		k->wanted_at = c->now;
	if (!c->serving) {
		p->wants_out++;
		p->want_sent_at = c->now;
	}
}

static void send_done(struct akd_core *c, unsigned int ti, uint16_t to, uint64_t instance)
{
	struct wbuf w = { 0 };

	hdr(c, &w, ATOMIKD_DONE, 0, c->t[ti].key);
	w64(&w, instance);
	queue(c, AKD_CHAN_NODE, ti, to, &w);
}

static void send_rec(struct akd_core *c, unsigned int ti, const struct record *r, uint16_t to)
{
	struct wbuf w = { 0 };

	if (c->conf.sign && !r->sigd)
		return;
	hdr(c, &w, ATOMIKD_RECORD, 0, c->t[ti].key);
	w64(&w, r->absorber);
	w64(&w, r->instance);
	w64(&w, r->vhash);
	w16(&w, r->node);
	w16(&w, r->fold);
	w16(&w, r->absorber_node);
	w16(&w, 0);
	if (c->conf.sign)
		wbytes(&w, r->sig, AKD_SIG_BYTES);
	queue(c, to ? AKD_CHAN_NODE : AKD_CHAN_RECORDS, ti, to, &w);
}

/* ---- publishing ---- */

static void publish(struct akd_core *c, unsigned int ti, bool all)
{
	struct table *t = &c->t[ti];
	struct contrib *me = t->c[0];
	uint32_t b, i, first, n;
	uint64_t v[AKD_MAX_BLOCK];
	uint64_t ver;

	for (b = 0; b < t->nr_blocks; b++) {
		if (!all && !t->changed[b])
			continue;
		t->changed[b] = 0;
		first = b * c->conf.block;
		n = block_len(c, t, b);
		for (i = 0; i < n; i++)
			if (me->val[first + i] != (t->local[first + i] ^ t->adopted[first + i]))
				break;
		if (i == n && me->ver[b] && !all && (!c->conf.sign || me->sigd[b]))
			continue;
		if (i == n && !me->ver[b] && !me->folds[b]) {
			bool zero = true;

			for (i = 0; i < n; i++)
				zero &= !t->local[first + i];
			if (zero)
				continue;	/* nothing ever: nothing to say */
		}
		ver = c->now > me->ver[b] ? c->now : me->ver[b] + 1;
		for (i = 0; i < n; i++)
			v[i] = t->local[first + i] ^ t->adopted[first + i];
		hist_step(c, t, me, b, ver, me->folds_known, me->val + first, v);
		memcpy(me->val + first, v, n * 8);
		me->ver[b] = ver;
		me->folds[b] = me->folds_known;
		if (c->conf.sign)
			sign_block(c, t, me, b);
		changed_versions(c, me);
		log_block(c, t, me, b, NULL);
		send_block(c, ti, me, b, 0);
		c->st.blocks_published++;
	}
	t->pub_due = 0;
	t->last_pub = c->now;
}

/* ---- receiving ---- */

static struct peer *find_peer(struct akd_core *c, uint64_t session)
{
	unsigned int i;

	for (i = 0; i < c->nr_peers; i++)
		if (c->peers[i].session == session)
			return &c->peers[i];
	return NULL;
}

static struct peer *peer_for(struct akd_core *c, uint16_t node, uint64_t session)
{
	struct peer *p = find_peer(c, session);
	unsigned int i;

	if (p)
		return p;
	/* A node's earlier session is gone once this one speaks. */
	for (i = 0; i < c->nr_peers; i++)
		if (c->peers[i].node == node &&
		    c->now - c->peers[i].last_seen > c->conf.peer_timeout_ns)
			break;
	if (i == c->nr_peers) {
		c->peers = realloc(c->peers, (c->nr_peers + 1) * sizeof(*c->peers));
		if (!c->peers)
			abort();
		c->nr_peers++;
		memset(&c->peers[i], 0, sizeof(*c->peers));
	}
	p = &c->peers[i];
	free_peer(p);
	memset(p, 0, sizeof(*p));
	p->session = session;
	p->node = node;
	p->first_seen = p->last_seen = c->now;
	c->st.peers_appeared++;
	say(c, "peer %u (session %016" PRIx64 ") appeared", node, session);
	return p;
}

/*
 * Two sessions of one node id both speaking, well after the later one
 * appeared: two daemons configured with one id (a restarted daemon's
 * earlier session falls silent instead).
 */
static void check_twins(struct akd_core *c, struct peer *p)
{
	unsigned int i;

	for (i = 0; i < c->nr_peers; i++) {
		struct peer *q = &c->peers[i];
		struct peer *later = q->first_seen > p->first_seen ? q : p;

		if (q == p || q->node != p->node || q->twin_said || p->twin_said)
			continue;
		if (q->last_seen > later->first_seen + c->conf.peer_timeout_ns &&
		    p->last_seen > later->first_seen + c->conf.peer_timeout_ns) {
			p->twin_said = q->twin_said = true;
			c->st.twin_sessions++;
			say(c, "two daemons say they are node %u (sessions %016" PRIx64 " and %016"
			    PRIx64 "): a configuration mistake; both are counted, as two "
			    "contributors", p->node, p->session, q->session);
		}
	}
}

static struct table *find_table(struct akd_core *c, uint64_t key, unsigned int *ti)
{
	unsigned int i;

	for (i = 0; i < c->nr_t; i++)
		if (c->t[i].key == key) {
			*ti = i;
			return &c->t[i];
		}
	return NULL;
}

struct msg {
	uint8_t type;
	uint16_t flags, sender;
	uint64_t session, sent_at, key;
	struct rbuf body;
};

/* Its size and block against the table's: a peer's table of another size. */
static bool same_shape(struct akd_core *c, struct table *t, uint32_t nr_addrs, uint32_t block)
{
	if (nr_addrs == t->nr_addrs && block == c->conf.block)
		return true;
	if (block != c->conf.block) {
		c->st.dropped_block++;
		return false;
	}
	if (!t->size_error)
		say(c, "table %s: a peer's has %u addresses in blocks of %u, this node's %u in "
		    "blocks of %u: its messages are dropped", t->conf.name, nr_addrs, block,
		    t->nr_addrs, c->conf.block);
	t->size_error = "a peer's table of this name has another size or block size";
	c->st.dropped_table++;
	return false;
}

static uint64_t lately(const struct akd_core *c);

/*
 * Whether ver is past the clock of node, for the instance of it that node
 * lately announced live (its versions are that clock's), by more than a
 * peer timeout.  The clock is estimated from node's own messages (the
 * offset they show, less their transit).
 */
/*
 * Admission: how many instances of one node this node holds of a table.
 * Those no record collects yet, at most an equal share of max_contributors
 * among the members, and one more as the node's live one; a record makes
 * room (it names the absorber, the node's live instance).  All of them, at
 * most twice the share: a member's key that signs records but never the
 * blocks that fold them holds no more.  Past its share, a node collects
 * the instances no member holds as readily as those they hold (agreed()),
 * so what waits is soon in its live instance.  So a member's key, or a
 * module reloaded in a loop, cannot fill the table for the others, and
 * its new instances come no faster than it collects.
 */
static unsigned int share(const struct akd_core *c)
{
	unsigned int s = c->conf.max_contributors / (c->nr_members + 1);

	return s < 2 ? 2 : s;
}

/*
 * And a rate: AKD_ADMIT_BURST new instances of a node at once, then one a
 * rest hello interval (1 s by default).  A module reloaded as fast as it
 * can restart publishes no faster; a member's key cannot churn instances
 * faster either.
 */
static struct admit_rate *rate_of(struct akd_core *c, struct table *t, uint16_t node)
{
	uint64_t every = AKD_REST_HELLOS * c->conf.hello_ns, n;
	struct admit_rate *r;
	unsigned int i;

	for (i = 0; i < t->nr_rate && t->rate[i].node != node; i++)
		;
	if (i == t->nr_rate) {
		t->rate = grow(t->rate, &t->cap_rate, t->nr_rate + 1, sizeof(*t->rate));
		t->rate[t->nr_rate++] = (struct admit_rate){ .node = node,
							     .tokens = AKD_ADMIT_BURST,
							     .at = c->now };
	}
	r = &t->rate[i];
	n = (c->now - r->at) / every;
	if (r->tokens + n >= AKD_ADMIT_BURST) {
		r->tokens = AKD_ADMIT_BURST;
		r->at = c->now;
	} else if (n) {
		r->tokens += n;
		r->at += n * every;
	}
	return r;
}

static bool admits(struct akd_core *c, unsigned int ti, uint16_t node, uint64_t instance)
{
	struct table *t = &c->t[ti];
	unsigned int i, held = 0, open = 0;

	/* Without members known, only max_contributors; this node's own
	 * instances are its to collect, and it must hold them for that. */
	if (!c->nr_members || node == c->conf.node)
		return true;
	if (!rate_of(c, t, node)->tokens)
		return false;
	for (i = 0; i < t->nr_c; i++)
		if (t->c[i]->node == node) {
			held++;
			open += !collected_by(t, t->c[i]->instance);
		}
	if (held >= 2 * share(c) || open > share(c))
		return false;
	if (open < share(c))
		return true;
	for (i = 0; i < c->nr_peers; i++)
		if (c->peers[i].node == node && c->peers[i].lives[ti] == instance &&
		    c->now - c->peers[i].last_seen < lately(c))
			return true;
	return false;
}

static bool past_clock(const struct akd_core *c, unsigned int ti, uint16_t node,
		       uint64_t instance, uint64_t ver)
{
	unsigned int i;

	for (i = 0; i < c->nr_peers; i++) {
		const struct peer *q = &c->peers[i];

		if (q->node == node && q->lives[ti] == instance &&
		    c->now - q->last_seen < lately(c) &&
		    ver > c->now + q->clock_offset + c->conf.peer_timeout_ns)
			return true;
	}
	return false;
}

static void recv_block(struct akd_core *c, struct peer *p, const struct msg *m)
{
	struct rbuf r = m->body;
	unsigned int ti = 0;
	struct table *t = find_table(c, m->key, &ti);
	uint32_t nr_addrs = r32(&r), bs = r32(&r), b = r32(&r), count = r32(&r);
	uint16_t node = r16(&r), folds = r16(&r);
	uint32_t host = r32(&r);
	uint64_t instance = r64(&r), ver = r64(&r);
	bool patch = m->type == ATOMIKD_PATCH, created = false;
	const uint8_t *sig;
	uint64_t base = 0, *vals;
	uint16_t base_folds = 0;
	struct rbuf offs = { 0 };
	struct contrib *k;
	uint32_t i, at, last;

	if (patch) {
		base = r64(&r);
		base_folds = r16(&r);
		if (r16(&r) | r16(&r) | r16(&r)) {
			c->st.dropped_format++;
			return;
		}
		offs = r;
		rtake(&r, (size_t)count * 4);
	}
	if (r.bad || r.left != (size_t)count * 8 + (c->conf.sign ? AKD_SIG_BYTES : 0)) {
		c->st.dropped_size++;
		return;
	}
	/* The contributor's signature ends the body. */
	sig = c->conf.sign ? m->body.p + m->body.left - AKD_SIG_BYTES : NULL;
	if (!host) {
		c->st.dropped_format++;
		return;
	}
	if (!t) {
		c->st.dropped_table++;
		return;
	}
	if (!same_shape(c, t, nr_addrs, bs))
		return;
	if (b >= t->nr_blocks ||
	    (patch ? count > block_len(c, t, b) : count != block_len(c, t, b))) {
		c->st.dropped_block++;
		return;
	}
	/* A patch's offsets: in the block, each once, in order. */
	for (i = 0, last = 0; patch && i < count; last = at + 1, i++) {
		at = r32(&offs);
		if (at < last || at >= block_len(c, t, b)) {
			c->st.dropped_block++;
			return;
		}
	}
	if (!is_member(c, node)) {
		c->st.dropped_node++;
		return;
	}
	/* Version 0 only for a block that holds only what it collected. */
	if (!instance || (!ver && !folds)) {
		c->st.dropped_version++;
		return;
	}
	/* A contributor's own live instance, sent by it: not past its clock. */
	if ((m->flags & ATOMIKD_BLOCK_LIVE) && node != m->sender) {
		c->st.dropped_identity++;
		return;
	}
	if (node == m->sender && (p->lives[ti] == instance || (m->flags & ATOMIKD_BLOCK_LIVE)) &&
	    ver > m->sent_at) {
		c->st.dropped_version++;
		return;
	}
	/* Relayed, of an instance its node announces live: not past the
	 * clock that node's messages show, give or take a peer timeout. */
	if (node != m->sender && past_clock(c, ti, node, instance, ver)) {
		c->st.dropped_version++;
		return;
	}
	if (instance == t->instance) {
		if (node != c->conf.node) {
			c->st.dropped_identity++;
			if (!c->serving)
				set_fatal(c, "table %s: this node's table instance %016" PRIx64
					  " was published as node %u's: a node's id cannot change "
					  "while its table lives (set node = %u, or reload the "
					  "module)", t->conf.name, instance, node, node);
			return;
		}
		if (ver > c->now) {
			c->st.dropped_version++;
			return;
		}
		c->st.own_echoes++;
		return;
	}
	k = find(t, instance);
	if (!k && collected_by(t, instance)) {
		c->st.dropped_collected++;
		return;
	}
	if (k && (k->node != node || k->host != host)) {
		c->st.dropped_identity++;
		return;
	}
	if (!k && !admits(c, ti, node, instance)) {
		c->st.dropped_admission++;
		return;
	}
	if (!k) {
		k = add_contrib(c, t, node, host, instance);
		if (!k) {
			c->st.dropped_full++;
			return;
		}
		apply_records(c, t);	/* its records may have come first */
		created = true;
	}
	if (folds > k->folds_known) {
		c->st.dropped_behind++;
		if (c->now - p->digest_sent >= c->conf.hello_ns)
			send_digests(c, p, false);	/* records it lacks: at once */
		goto drop;
	}
	if (!newer(ver, folds, k->ver[b], k->folds[b])) {
		c->st.duplicates++;
		goto drop;
	}
	if (covered(t, instance, b)) {
		c->st.dropped_collected++;
		goto drop;
	}
	if (patch && (k->ver[b] != base || k->folds[b] != base_folds)) {
		c->st.dropped_base++;
		goto drop;
	}
	vals = zalloc(block_len(c, t, b), 8);
	if (patch) {
		memcpy(vals, k->val + (size_t)b * c->conf.block, block_len(c, t, b) * 8);
		offs = m->body;
		rtake(&offs, sizeof(struct atomikd_patch));
		for (i = 0; i < count; i++)
			vals[r32(&offs)] = r64(&r);
	} else {
		rvals(&r, vals, count);
	}
	/* Whoever relayed it, only its contributor's node signs a block. */
	if (sig && !block_verifies(c, t, node, host, instance, b, ver, folds, vals, sig)) {
		c->st.dropped_signature++;
		free(vals);
		goto drop;
	}
	/* A new instance taken: one of its node's admissions (only then, so
	 * that a block whose signature fails takes none). */
	if (created && c->nr_members && node != c->conf.node)
		rate_of(c, t, node)->tokens--;
	c->st.patches_applied += patch;
	take_block(c, t, k, b, ver, folds, vals, sig);
	free(vals);
	log_block(c, t, k, b, NULL);
	c->st.blocks_applied++;
	/* A record waiting for this block's contributor, or for the block. */
	apply_records(c, t);
	sweep(c, t);
	return;
drop:
	/* A contributor made for a block that was not taken goes again. */
	if (created && !k->folds_known && empty(c, t, k))
		remove_contrib(c, t, k);
}

static void recv_hello(struct akd_core *c, struct peer *p, const struct msg *m)
{
	struct rbuf r = m->body;
	uint64_t seq = r64(&r), digest = r64(&r);
	uint32_t n = r32(&r), reserved = r32(&r), i;
	unsigned int ti;

	if (r.bad || r.left != (size_t)n * 16) {
		c->st.dropped_size++;
		return;
	}
	if (reserved || (m->flags & ~ATOMIKD_HELLO_STARTING)) {
		c->st.dropped_format++;
		return;
	}
	/* A copy (by a route and a direct connection both) or an older one:
	 * answered once only. */
	if (seq <= p->seq) {
		c->st.duplicates++;
		return;
	}
	p->seq = seq;
	p->digest = digest;
	for (i = 0; i < n; i++) {
		uint64_t key = r64(&r), instance = r64(&r);
		struct table *t = find_table(c, key, &ti);
		struct contrib *k;

		if (!t)
			continue;
		p->lives[ti] = instance;
		k = find(t, instance);
		if (k && !k->own && k->node == m->sender)
			k->live_seen = c->now;
	}
	if (!c->started)
		return;
	/* A starting peer (or one that just reached this node another way)
	 * gets this node's hello at once too: it learns who is there.  Not
	 * while this node starts: its own hello would ask the same back. */
	if ((m->flags & ATOMIKD_HELLO_STARTING) && c->serving && c->next_hello > c->now)
		c->next_hello = c->now;
	if (m->flags & ATOMIKD_HELLO_STARTING)
		send_digests(c, p, false);
	else if (digest != digest_hash(c) && c->now - p->digest_sent >= p->digest_gap)
		send_digests(c, p, true);
	else if (digest == digest_hash(c))
		p->digest_gap = 0;	/* in agreement: the next difference at once */
}

/* Whether this node holds everything entry says, as it says it. */
/* Whether version of instance is one its live daemon made a moment ago. */
static bool just_published(struct akd_core *c, unsigned int ti, uint64_t instance,
			   uint64_t version)
{
	unsigned int i;

	for (i = 0; i < c->nr_peers; i++) {
		struct peer *q = &c->peers[i];
		uint64_t clock = c->now + q->clock_offset;

		/* What it published before it was heard again after a silence
		 * was published into the silence: not on its way. */
		if (q->lives[ti] == instance &&
		    c->now - q->last_seen < lately(c) && version <= clock)
			return clock - version < 2 * c->conf.publish_ns + 2 * c->conf.hello_ns &&
			       version >= q->back_at + q->clock_offset;
	}
	return false;
}

static void recv_digest(struct akd_core *c, struct peer *p, const struct msg *m)
{
	struct rbuf r = m->body;
	unsigned int ti = 0;
	struct table *t = find_table(c, m->key, &ti);
	uint32_t nr_addrs = r32(&r), bs = r32(&r), n = r32(&r), nr_rec = r32(&r), i;
	uint64_t rec_hash = r64(&r);
	struct peer_digest *d;

	if (r.bad || r.left != (size_t)n * 32) {
		c->st.dropped_size++;
		return;
	}
	if (!t) {
		c->st.dropped_table++;
		return;
	}
	if (!same_shape(c, t, nr_addrs, bs))
		return;
	c->st.digests_received++;
	if (ti < 64)
		p->digests_got |= 1ull << ti;
	if (nr_rec != t->nr_rec || rec_hash != records_hash(t))
		send_want(c, ti, p, 0, true);
	/* What it holds, as it says: whether it holds this node's dead
	 * instances as this node does, for collection. */
	d = &p->dig[ti];
	d->e = grow(d->e, &d->cap, n, sizeof(*d->e));
	d->n = 0;
	d->at = c->now;
	d->rec_hash = nr_rec == t->nr_rec ? rec_hash : ~records_hash(t);
	for (i = 0; i < n; i++) {
		uint64_t instance = r64(&r);
		uint16_t node = r16(&r), flags = r16(&r), folds = r16(&r);
		uint64_t h, max;
		struct contrib *k;

		r16(&r);
		h = r64(&r);
		max = r64(&r);
		(void)folds;
		if (!instance || !is_member(c, node) || (flags & ~ATOMIKD_C_FLAGS))
			continue;
		d->e[d->n++] = (struct peer_entry){ .instance = instance, .vhash = h };
		if (instance == t->instance) {
			if (node != c->conf.node) {
				c->st.dropped_identity++;
				if (!c->serving)
					set_fatal(c, "table %s: this node's table instance %016"
						  PRIx64 " is held as node %u's: a node's id cannot "
						  "change while its table lives (set node = %u, or "
						  "reload the module)", t->conf.name, instance, node,
						  node);
			}
			continue;
		}
		if (collected_by(t, instance))
			continue;
		k = find(t, instance);
		if (k && k->node != node) {
			c->st.dropped_identity++;
			continue;
		}
		if (k && vhash(c, t, k) == h)
			continue;
		/* Ahead of it: the peer asks, and its WANT shows where it is ahead. */
		if (k && max < contrib_max(t, k))
			continue;
		/* A live contributor that published a moment ago, by its own
		 * clock: its newest block is on its way, not lost. */
		if (k && max > contrib_max(t, k) && just_published(c, ti, instance, max))
			continue;
		/* Asked already, and the answer is on its way (digests come by
		 * more than one path, and from more than one peer). */
		if (k && k->wanted_at && c->now - k->wanted_at < c->conf.hello_ns)
			continue;
		/* Nor what this node would not take. */
		if (!k && !admits(c, ti, node, instance))
			continue;
		send_want(c, ti, p, instance, false);
	}
}

/*
 * A WANT by its sending (the sender's clock, the table) and its versions:
 * the copies of one WANT that came by more than one path (a route, and a
 * direct connection on either side, while a cut heals) have the same, and
 * a WANT asked again has another sending.
 */
static uint64_t want_id(const struct msg *m)
{
	return fnv(mix(mix(FNV0, m->sent_at), m->key), m->body.p, m->body.left);
}

static void recv_want(struct akd_core *c, struct peer *p, const struct msg *m)
{
	struct rbuf r = m->body;
	unsigned int ti = 0, i;
	struct table *t = find_table(c, m->key, &ti);
	uint64_t instance = r64(&r);
	uint32_t nb = r32(&r), nr_rec = r32(&r), b;
	struct contrib *k;
	bool behind = false;
	uint64_t id;

	if (r.bad || r.left != (size_t)nb * 16) {
		c->st.dropped_size++;
		return;
	}
	if (!t) {
		c->st.dropped_table++;
		return;
	}
	if ((instance && nb != t->nr_blocks) || (!instance && nb)) {
		c->st.dropped_block++;
		return;
	}
	/* A copy of a WANT answered already: every block would go again. */
	id = want_id(m);
	for (i = 0; i < AKD_WANTS_SEEN; i++)
		if (p->wants_seen[i] == id) {
			c->st.duplicates++;
			return;
		}
	p->wants_seen[p->wants_seen_next++ % AKD_WANTS_SEEN] = id;
	c->st.wants_answered++;
	if (nr_rec)
		for (i = 0; i < t->nr_rec; i++)
			if (t->pending_state == PENDING_NONE ||
			    t->rec[i].absorber != t->pending.absorber ||
			    t->rec[i].fold != t->pending.fold)
				send_rec(c, ti, &t->rec[i], m->sender);
	k = instance ? find(t, instance) : NULL;
	for (b = 0; k && b < nb; b++) {
		uint64_t v = r64(&r);
		uint16_t f = r16(&r), flags = r16(&r);

		r16(&r);
		r16(&r);
		if (has(k, b) && newer(k->ver[b], k->folds[b], v, f) &&
		    (k->own || !covered(t, instance, b))) {
			send_repair(c, ti, k, b, m->sender, v, f, flags & ATOMIKD_WANT_PATCH);
			c->st.blocks_repaired++;
		} else if (newer(v, f, k->ver[b], k->folds[b])) {
			behind = true;
		}
	}
	send_done(c, ti, m->sender, instance);
	if (behind)
		send_want(c, ti, p, instance, false);
}

static void recv_done(struct akd_core *c, struct peer *p, const struct msg *m)
{
	struct rbuf r = m->body;
	uint64_t instance = r64(&r);
	unsigned int ti;
	struct table *t = find_table(c, m->key, &ti);
	struct contrib *k = t && instance ? find(t, instance) : NULL;

	if (r.bad || r.left) {
		c->st.dropped_size++;
		return;
	}
	if (k)
		k->wanted_at = 0;	/* answered: the next difference is asked at once */
	if (p->wants_out)
		p->wants_out--;
}

static void recv_record(struct akd_core *c, struct peer *p, const struct msg *m)
{
	struct rbuf r = m->body;
	unsigned int ti = 0;
	struct table *t = find_table(c, m->key, &ti);
	struct record rec;
	uint16_t reserved;

	rec.absorber = r64(&r);
	rec.instance = r64(&r);
	rec.vhash = r64(&r);
	rec.node = r16(&r);
	rec.fold = r16(&r);
	rec.absorber_node = r16(&r);
	reserved = r16(&r);
	rec.sigd = false;
	if (c->conf.sign && !r.bad && r.left == AKD_SIG_BYTES) {
		memcpy(rec.sig, rtake(&r, AKD_SIG_BYTES), AKD_SIG_BYTES);
		rec.sigd = true;
	}
	if (r.bad || r.left || (c->conf.sign && !rec.sigd)) {
		c->st.dropped_size++;
		return;
	}
	if (reserved || !rec.fold || !rec.absorber || !rec.instance ||
	    rec.absorber == rec.instance) {
		c->st.dropped_format++;
		return;
	}
	if (!t) {
		c->st.dropped_table++;
		return;
	}
	if (!is_member(c, rec.node) || !is_member(c, rec.absorber_node)) {
		c->st.dropped_node++;
		return;
	}
	if (rec.instance == t->instance || rec.node != rec.absorber_node) {
		c->st.dropped_identity++;
		return;
	}
	if (record_of(t, rec.absorber, rec.fold) || collected_by(t, rec.instance)) {
		c->st.duplicates++;
		return;
	}
	/* Only the absorber's node collects into it, and signs so. */
	if (c->conf.sign && !record_verifies(c, t, &rec)) {
		c->st.dropped_signature++;
		return;
	}
	if (!add_record(c, t, &rec))
		return;
	log_rec(t, &rec, NULL);
	apply_records(c, t);
}

/*
 * What recv_block() would count a block message as, from its header
 * alone, when that is a drop that takes nothing from it: a block of a
 * contributor this node holds at that version and folds or newer (a
 * duplicate), or of this node's own live instance (its echo); else NULL.
 */
static uint64_t *held_already(struct akd_core *c, const struct msg *m)
{
	struct rbuf r = m->body;
	unsigned int ti;
	const struct table *t = find_table(c, m->key, &ti);
	uint32_t b, host;
	uint16_t node, folds;
	uint64_t instance, ver;
	const struct contrib *k;

	r32(&r);
	r32(&r);
	b = r32(&r);
	r32(&r);
	node = r16(&r);
	folds = r16(&r);
	host = r32(&r);
	instance = r64(&r);
	ver = r64(&r);
	if (r.bad || !t || b >= t->nr_blocks)
		return NULL;
	if (instance == t->instance && node == c->conf.node && ver <= c->now)
		return &c->st.own_echoes;
	k = find(t, instance);
	if (k && !k->own && k->node == node && k->host == host && folds <= k->folds_known &&
	    !newer(ver, folds, k->ver[b], k->folds[b]))
		return &c->st.duplicates;
	return NULL;
}

static void receive(struct akd_core *c, uint64_t now, const void *buf, size_t len)
{
	struct rbuf r = { buf, len, false };
	struct msg m;
	uint32_t magic, reserved;
	uint64_t *counter;
	uint16_t hflags;
	uint8_t proto;
	struct peer *p;

	c->now = now;
	c->st.messages_received++;
	c->st.bytes_received += len;
	magic = r32(&r);
	proto = r8(&r);
	m.type = r8(&r);
	m.flags = r16(&r);
	m.sender = r16(&r);
	if (r.bad || len < 40) {
		c->st.dropped_size++;
		return;
	}
	hflags = r16(&r);
	reserved = r32(&r);
	if (magic != ATOMIKD_MAGIC || proto != ATOMIKD_PROTO || (hflags & ~ATOMIKD_SIGNED) ||
	    reserved || !m.type || m.type > ATOMIKD_TYPE_MAX ||
	    (m.type == ATOMIKD_HELLO && (m.flags & ~ATOMIKD_HELLO_STARTING)) ||
	    ((m.type == ATOMIKD_BLOCK || m.type == ATOMIKD_PATCH) &&
	     (m.flags & ~ATOMIKD_BLOCK_LIVE)) ||
	    (m.type != ATOMIKD_HELLO && m.type != ATOMIKD_BLOCK && m.type != ATOMIKD_PATCH &&
	     m.flags)) {
		c->st.dropped_format++;
		return;
	}
	m.session = r64(&r);
	m.sent_at = r64(&r);
	m.key = r64(&r);
	m.body = r;
	if (!is_member(c, m.sender) || !m.session) {
		c->st.dropped_node++;
		return;
	}
	if (m.session == c->conf.session) {
		c->st.own_echoes++;
		return;
	}
	/* A block this node holds as new already: dropped before any
	 * signature is checked (a replay costs no verification), and
	 * without anything of it taken, not even that its sender spoke. */
	if (c->conf.sign && (m.type == ATOMIKD_BLOCK || m.type == ATOMIKD_PATCH) &&
	    (counter = held_already(c, &m))) {
		(*counter)++;
		return;
	}
	/* Signed by its sender, whose key this node's configuration has;
	 * nothing else of it is looked at before. */
	if (!c->conf.sign != !(hflags & ATOMIKD_SIGNED) ||
	    (c->conf.sign && (len < 40 + AKD_SIG_BYTES ||
			      !c->conf.verify(c->conf.sig_arg, m.sender, buf, len - AKD_SIG_BYTES,
					      (const uint8_t *)buf + len - AKD_SIG_BYTES)))) {
		c->st.dropped_signature++;
		return;
	}
	if (c->conf.sign)
		m.body.left -= AKD_SIG_BYTES;
	p = peer_for(c, m.sender, m.session);
	/* Back after a silence (a cut, a route down; longer than a hello at
	 * the rest pace): what either side missed is looked for at once,
	 * whatever the digests' pace was, and this node's hello goes out at
	 * once, so that the peer hears of it without waiting for the pace. */
	if (now - p->last_seen > (AKD_REST_HELLOS + 1) * c->conf.hello_ns) {
		p->digest_gap = 0;
		p->digest_sent = 0;
		p->back_at = now;
		if (p->last_seen && c->next_hello > now)
			c->next_hello = now;
	}
	p->last_seen = now;
	p->messages++;
	p->clock_offset = m.sent_at - now;
	check_twins(c, p);
	switch (m.type) {
	case ATOMIKD_BLOCK:
	case ATOMIKD_PATCH:
		recv_block(c, p, &m);
		break;
	case ATOMIKD_HELLO:
		recv_hello(c, p, &m);
		break;
	case ATOMIKD_DIGEST:
		recv_digest(c, p, &m);
		break;
	case ATOMIKD_WANT:
		recv_want(c, p, &m);
		break;
	case ATOMIKD_DONE:
		recv_done(c, p, &m);
		break;
	case ATOMIKD_RECORD:
		recv_record(c, p, &m);
		break;
	}
}

void akd_core_receive(struct akd_core *c, uint64_t now, const void *buf, size_t len)
{
	receive(c, now, buf, len);
	wake_hellos(c);
}

/* ---- collection ---- */

/*
 * Whether peer q, heard lately, holds dead instance d of table ti as this
 * node does: its last hello says it holds all that this node holds, or its
 * last digest of the table, lately, has this node's records (one record at
 * a time in the cluster, as when every digest agreed) and d at this node's
 * versions or not at all (a share full, or it never had it).  What a member
 * gets of d later can only be what d's daemon published, which another
 * member holding it at other versions would show.
 */
static bool holds_as_here(struct akd_core *c, const struct peer *q, unsigned int ti,
			  struct contrib *d)
{
	const struct peer_digest *g = &q->dig[ti];
	unsigned int j;

	if (!is_member(c, q->node) || q->node == c->conf.node ||
	    c->now - q->last_seen >= lately(c))
		return false;
	if (q->digest == digest_hash(c))
		return true;
	/* Digests come at least every 8 hellos while hellos differ. */
	if (!g->at || c->now - g->at >= lately(c) + 8 * c->conf.hello_ns ||
	    g->rec_hash != records_hash(&c->t[ti]))
		return false;
	for (j = 0; j < g->n; j++)
		if (g->e[j].instance == d->instance)
			return g->e[j].vhash == vhash(c, &c->t[ti], d);
	return true;
}

/* Every member holds d as this node does (each counted once). */
static bool members_hold_as_here(struct akd_core *c, unsigned int ti, struct contrib *d)
{
	unsigned int i, j, agree = 0;

	if (!c->nr_members)
		return false;	/* "any node": membership is not known */
	for (i = 0; i < c->nr_peers; i++) {
		if (!holds_as_here(c, &c->peers[i], ti, d))
			continue;
		for (j = 0; j < i; j++)
			if (c->peers[j].node == c->peers[i].node &&
			    holds_as_here(c, &c->peers[j], ti, d))
				break;
		agree += j == i;
	}
	return agree == c->nr_members;
}

/* Every member's last hello, lately, says it holds what this node holds. */
static bool all_members_agree(struct akd_core *c)
{
	uint64_t mine = digest_hash(c);
	unsigned int n, i, agree = 0;

	if (!c->nr_members)
		return false;	/* "any node": membership is not known */
	for (n = 1; n <= AKD_MAX_NODE; n++) {
		if (!c->members[n] || n == c->conf.node)
			continue;
		for (i = 0; i < c->nr_peers; i++)
			if (c->peers[i].node == n && c->peers[i].digest == mine &&
			    c->now - c->peers[i].last_seen < lately(c))
				break;
		if (i == c->nr_peers)
			return false;
		agree++;
	}
	return agree == c->nr_members;
}

/*
 * Whether dead instance d of table ti may be collected: every member
 * holds all that this node holds.  Past its share of max_contributors,
 * this node's instances are more than its peers take (admission), and
 * that can never be: then every member holding d as this node does, or
 * not at all, is enough, one record at a time in the cluster.
 */
static bool agreed(struct akd_core *c, unsigned int ti, struct contrib *d, bool all)
{
	const struct table *t = &c->t[ti];
	unsigned int i, mine = 0;

	if (all)
		return true;
	for (i = 0; i < t->nr_c; i++)
		mine += t->c[i]->node == c->conf.node;
	return mine > share(c) && members_hold_as_here(c, ti, d);
}

/* A collection record this node made, now on disk: it goes out. */
static void collected(struct akd_core *c, unsigned int ti)
{
	struct table *t = &c->t[ti];

	t->pending_state = PENDING_NONE;
	send_rec(c, ti, &t->pending, 0);
}

static void collect(struct akd_core *c)
{
	unsigned int ti, i;
	uint32_t b;
	bool all;

	if (c->blocked || !c->serving)
		return;
	all = all_members_agree(c);
	for (ti = 0; ti < c->nr_t; ti++) {
		struct table *t = &c->t[ti];
		struct contrib *me = t->c[0];

		if (t->state != AKD_SERVING || me->folds_known == UINT16_MAX ||
		    t->pending_state != PENDING_NONE)
			continue;
		for (i = 1; i < t->nr_c; i++) {
			struct contrib *d = t->c[i];
			struct record r;

			/* This node's, on this machine, not the live one: dead. */
			if (d->node != c->conf.node || d->host != c->conf.host ||
			    c->now - d->first_seen < c->conf.collect_ns)
				continue;
			/* Collected already, waiting for its absorber's folds; or
			 * a member does not hold it as this node does. */
			if (collected_by(t, d->instance) || !agreed(c, ti, d, all))
				continue;
			r = (struct record){ .absorber = me->instance, .instance = d->instance,
					     .vhash = vhash(c, t, d), .node = d->node,
					     .fold = me->folds_known + 1,
					     .absorber_node = c->conf.node };
			if (c->conf.sign)
				sign_record(c, t, &r);
			say(c, "table %s: collecting instance %016" PRIx64 ", this node's before its "
			    "table was created again, into the live one (record %u)", t->conf.name,
			    d->instance, r.fold);
			add_record(c, t, &r);
			log_rec(t, &r, NULL);
			apply_records(c, t);
			/* Sent once on disk: a restart must never find it missing. */
			t->pending = r;
			t->pending_state = PENDING_WRITING;
			/* A block it gave values to that was never published now is. */
			for (b = 0; b < t->nr_blocks; b++)
				if (!me->ver[b] && me->folds[b])
					t->changed[b] = 1;
			if (!t->pub_due)
				t->pub_due = c->now;
			return;	/* one at a time, each record on disk first */
		}
	}
}

/* ---- time ---- */

/*
 * What a checkpoint brought of this node's own instances without its
 * signature (folded at restore, or written unsigned): signed now, as this
 * node holds it.  Whether anything was.
 */
static bool sign_own(struct akd_core *c, struct table *t)
{
	bool any = false;
	unsigned int i;
	uint32_t b;

	for (i = 0; i < t->nr_c; i++) {
		struct contrib *k = t->c[i];

		if (k->node != c->conf.node || k->host != c->conf.host)
			continue;
		for (b = 0; b < t->nr_blocks; b++)
			if (has(k, b) && !k->sigd[b]) {
				sign_block(c, t, k, b);
				any = true;
			}
	}
	for (i = 0; i < t->nr_rec; i++)
		if (t->rec[i].absorber_node == c->conf.node && !t->rec[i].sigd) {
			sign_record(c, t, &t->rec[i]);
			any = true;
		}
	return any;
}

void akd_core_start(struct akd_core *c, uint64_t now)
{
	unsigned int ti, i;

	c->now = now;
	c->started = true;
	for (ti = 0; ti < c->nr_t; ti++)
		for (i = 0; i < c->t[ti].nr_c; i++)
			c->t[ti].c[i]->first_seen = now;
	c->recover_deadline = now + c->conf.recover_ns;
	c->next_recover = now + c->conf.recover_ns;
	c->next_hello = now + c->conf.hello_ns;
	for (ti = 0; ti < c->nr_t; ti++) {
		struct table *t = &c->t[ti];
		struct akd_range *v;

		/* What the device holds already, before anything is written. */
		c->out.verify = grow(c->out.verify, &c->out.cap_verify, c->out.nr_verify + 1,
				     sizeof(*c->out.verify));
		v = &c->out.verify[c->out.nr_verify++];
		*v = (struct akd_range){ .table = ti, .first = 0, .count = t->nr_addrs };
		if (!t->restored)
			t->need_snapshot = true;
		if (c->conf.sign && sign_own(c, t))
			t->need_snapshot = true;
	}
	send_hello(c, true);
}

/* Whether every member has sent its digests and answered every WANT. */
static bool recovered(struct akd_core *c)
{
	uint64_t all = c->nr_t >= 64 ? ~0ull : (1ull << c->nr_t) - 1;
	unsigned int n, i;

	if (!c->nr_members)
		return false;
	for (n = 1; n <= AKD_MAX_NODE; n++) {
		if (!c->members[n] || n == c->conf.node)
			continue;
		for (i = 0; i < c->nr_peers; i++)
			if (c->peers[i].node == n && !c->peers[i].wants_out &&
			    ((c->peers[i].digests_got & all) == all ||
			     c->peers[i].digest == digest_hash(c)))
				break;
		if (i == c->nr_peers)
			return false;
	}
	return true;
}

static void serve_table(struct akd_core *c, unsigned int ti)
{
	struct table *t = &c->t[ti];

	t->state = AKD_SERVING;
	t->need_snapshot = true;
	memset(t->dirty, 1, t->nr_blocks);
	memset(t->changed, 1, t->nr_blocks);
	t->pub_due = c->now;
}

/* Recovery ends: the tables whose remote row cannot go back serve. */
static void end_recovery(struct akd_core *c, bool complete)
{
	unsigned int ti;
	bool all = true;

	for (ti = 0; ti < c->nr_t; ti++) {
		struct table *t = &c->t[ti];

		if (t->state == AKD_SERVING)
			continue;
		if (t->restored || (t->dev_read && !t->dev_nonzero) || complete) {
			serve_table(c, ti);
			continue;
		}
		if (t->state != AKD_WAITING)
			say(c, "table %s: no checkpoint, and the remote row holds values: it is "
			    "kept as it is until every member has answered", t->conf.name);
		t->state = AKD_WAITING;
		all = false;
	}
	if (!c->serving) {
		say(c, "%s from the peers", complete ? "recovered" : "recovery timed out");
		c->serving = true;
	}
	(void)all;
}

static void tick_publish(struct akd_core *c, unsigned int ti)
{
	struct table *t = &c->t[ti];

	if (t->pub_due && c->now >= t->pub_due)
		publish(c, ti, false);
}

/*
 * A few blocks of the remote row read back each hello, as many as the time
 * since the last asks for: all in verify_ns, whatever the hellos' pace.
 */
static void verify_some(struct akd_core *c, struct table *t, unsigned int ti, uint64_t elapsed)
{
	uint32_t n, first, count;
	struct akd_range *v;

	if (t->state != AKD_SERVING || c->blocked || !c->conf.verify_ns)
		return;
	if (elapsed >= c->conf.verify_ns)
		n = t->nr_blocks;
	else
		n = ((uint64_t)t->nr_blocks * elapsed + c->conf.verify_ns - 1) / c->conf.verify_ns;
	if (!n)
		n = 1;
	if (t->verify_next >= t->nr_blocks)
		t->verify_next = 0;
	if (n > t->nr_blocks - t->verify_next)
		n = t->nr_blocks - t->verify_next;
	first = t->verify_next * c->conf.block;
	count = (t->verify_next + n - 1) * c->conf.block +
		block_len(c, t, t->verify_next + n - 1) - first;
	c->out.verify = grow(c->out.verify, &c->out.cap_verify, c->out.nr_verify + 1,
			     sizeof(*c->out.verify));
	v = &c->out.verify[c->out.nr_verify++];
	*v = (struct akd_range){ .table = ti, .first = first, .count = count };
	t->verify_next += n;
}

/*
 * At rest: serving, nothing to publish, write or collect, and every member
 * heard lately saying it holds what this node holds.  Hellos then go
 * AKD_REST_HELLOS times less often (the thresholds that judge a peer's
 * silence allow for it: lately()); any difference brings the usual pace
 * back at once (quiet()).
 */
static bool at_rest(struct akd_core *c)
{
	uint64_t mine = digest_hash(c);
	unsigned int ti, i, j, agree = 0;

	if (!c->serving || c->stopping || c->blocked || !c->nr_members)
		return false;
	for (ti = 0; ti < c->nr_t; ti++)
		if (c->t[ti].state != AKD_SERVING || c->t[ti].pub_due ||
		    c->t[ti].pending_state != PENDING_NONE)
			return false;
	for (i = 0; i < c->nr_peers; i++) {
		struct peer *p = &c->peers[i];

		if (p->digest != mine || c->now - p->last_seen >= lately(c) ||
		    !is_member(c, p->node) || p->node == c->conf.node)
			continue;
		for (j = 0; j < i; j++)
			if (c->peers[j].node == p->node && c->peers[j].digest == mine &&
			    c->now - c->peers[j].last_seen < lately(c))
				break;
		if (j == i)
			agree++;
	}
	return agree == c->nr_members;
}

/* While resting: this node's holdings and every peer's the same as said. */
static bool quiet(struct akd_core *c)
{
	uint64_t mine = digest_hash(c);
	unsigned int ti, i;

	if (mine != c->told)
		return false;
	for (ti = 0; ti < c->nr_t; ti++)
		if (c->t[ti].pub_due)
			return false;
	for (i = 0; i < c->nr_peers; i++)
		if (c->peers[i].digest != mine && c->now - c->peers[i].last_seen < lately(c))
			return false;
	return true;
}

/*
 * Resting, and something to say: the next hello at the usual pace, in the
 * phase the hellos had (nodes woken by the same write would otherwise send
 * their hellos together from then on, and compare digests in lockstep).
 */
static void wake_hellos(struct akd_core *c)
{
	uint64_t last;

	if (c->resting && !quiet(c)) {
		c->resting = false;
		last = c->next_hello - AKD_REST_HELLOS * c->conf.hello_ns;
		if (c->now >= last)
			c->next_hello = last + ((c->now - last) / c->conf.hello_ns + 1) *
					       c->conf.hello_ns;
	}
}

void akd_core_tick(struct akd_core *c, uint64_t now)
{
	unsigned int ti, i;

	c->now = now;
	if (!c->started)
		return;
	if (!c->serving && (now >= c->recover_deadline || recovered(c)))
		end_recovery(c, recovered(c));
	if (c->serving) {
		bool waiting = false;

		for (ti = 0; ti < c->nr_t; ti++)
			waiting |= c->t[ti].state == AKD_WAITING;
		if (waiting && recovered(c))
			end_recovery(c, true);
		else if (waiting && now >= c->next_recover) {
			/* Ask again: the members that did not answer may be back. */
			for (i = 0; i < c->nr_peers; i++)
				c->peers[i].wants_out = 0;
			send_hello(c, true);
			c->next_recover = now + c->conf.recover_ns;
			c->next_hello = now + c->conf.hello_ns;
		}
		for (ti = 0; ti < c->nr_t; ti++) {
			if (c->t[ti].pending_state == PENDING_WRITTEN)
				collected(c, ti);
			tick_publish(c, ti);
		}
	}
	wake_hellos(c);
	if (now >= c->next_hello) {
		uint64_t elapsed = c->verified_at ? now - c->verified_at : c->conf.hello_ns;

		send_hello(c, !c->serving);
		if (c->blocked)
			for (ti = 0; ti < c->nr_t; ti++)
				c->t[ti].need_snapshot |= c->t[ti].snap_pending;
		for (ti = 0; ti < c->nr_t; ti++)
			verify_some(c, &c->t[ti], ti, elapsed);
		c->verified_at = now;
		collect(c);
		c->resting = at_rest(c);
		c->next_hello = now + (c->resting ? AKD_REST_HELLOS : 1) * c->conf.hello_ns;
	}
}

void akd_core_local(struct akd_core *c, uint64_t now, unsigned int ti, const uint64_t *vals)
{
	akd_core_local_range(c, now, ti, 0, c->t[ti].nr_addrs, vals);
}

void akd_core_local_range(struct akd_core *c, uint64_t now, unsigned int ti, uint32_t from,
			  uint32_t count, const uint64_t *vals)
{
	struct table *t = &c->t[ti];
	uint32_t b, first, n, end;
	bool any = false;

	c->now = now;
	if (!count || from >= t->nr_addrs)
		return;
	if (count > t->nr_addrs - from)
		count = t->nr_addrs - from;
	end = (from + count - 1) / c->conf.block + 1;
	for (b = from / c->conf.block; b < end; b++) {
		first = b * c->conf.block;
		n = block_len(c, t, b);
		if (!memcmp(t->local + first, vals + first, n * 8))
			continue;
		memcpy(t->local + first, vals + first, n * 8);
		t->changed[b] = 1;
		any = true;
	}
	/*
	 * Quiet for a quarter of an interval: at once (a writer that waits
	 * for its delta to be seen elsewhere before the next is never held
	 * back); else the end of the interval, so that a sustained load is
	 * one publish an interval whatever its rate.
	 */
	if (any && !t->pub_due)
		t->pub_due = now - t->last_pub >= c->conf.publish_ns / AKD_PUBLISH_QUIET ? now :
			     t->last_pub + c->conf.publish_ns;
	if (any && c->serving && now >= t->pub_due)
		publish(c, ti, false);
	if (any)
		wake_hellos(c);
}

uint64_t akd_core_next_tick(const struct akd_core *c)
{
	uint64_t next = c->next_hello;
	unsigned int ti;

	if (!c->serving && c->recover_deadline < next)
		next = c->recover_deadline;
	for (ti = 0; c->serving && ti < c->nr_t; ti++) {
		if (c->t[ti].pub_due && c->t[ti].pub_due < next)
			next = c->t[ti].pub_due;
		if (c->t[ti].pending_state == PENDING_WRITTEN)
			next = c->now;
	}
	return next;
}

void akd_core_reconnected(struct akd_core *c, uint64_t now)
{
	unsigned int i, ti;

	c->now = now;
	if (!c->started)
		return;
	/* What was sent meanwhile may be lost: this node's digests and WANTs
	 * go again at the next difference, not at their pace. */
	for (i = 0; i < c->nr_peers; i++) {
		c->peers[i].digest_gap = 0;
		c->peers[i].digest_sent = 0;
	}
	for (ti = 0; ti < c->nr_t; ti++)
		for (i = 0; i < c->t[ti].nr_c; i++)
			c->t[ti].c[i]->wanted_at = 0;
	/* Everyone's digests again, and their hellos: whatever was lost
	 * meanwhile is repaired. */
	send_hello(c, true);
}

void akd_core_stop(struct akd_core *c, uint64_t now)
{
	unsigned int ti;

	c->now = now;
	if (!c->serving)
		return;
	for (ti = 0; ti < c->nr_t; ti++)
		if (c->t[ti].pub_due)
			publish(c, ti, false);
	c->stopping = true;
}

/* ---- actions ---- */

static void build(struct akd_core *c)
{
	unsigned int ti;

	if (c->out.built)
		return;
	c->out.built = true;
	/* Nothing is written while recovering (the device is not either): a
	 * daemon that must not run leaves no checkpoint of its own. */
	for (ti = 0; ti < c->nr_t && (!c->serving || c->fatal[0]); ti++) {
		free(c->t[ti].log.p);
		c->t[ti].log = (struct wbuf){ 0 };
	}
	for (ti = 0; ti < c->nr_t && c->serving && !c->fatal[0]; ti++) {
		struct table *t = &c->t[ti];
		struct akd_persist *p;
		struct wbuf w = { 0 };
		bool replace = false;

		if (t->log_bytes > 2 * t->snap_bytes + (256u << 10))
			t->need_snapshot = true;
		if (c->blocked && !t->need_snapshot) {
			/* A failed write may have left a torn tail: whole files only,
			 * at the next hello. */
			free(t->log.p);
			t->log = (struct wbuf){ 0 };
			continue;
		}
		if (t->need_snapshot) {
			snapshot(c, t, &w);
			replace = true;
			free(t->log.p);
			t->log = (struct wbuf){ 0 };
		} else if (t->log.len) {
			w = t->log;
			t->log = (struct wbuf){ 0 };
		} else {
			continue;
		}
		c->out.persist = grow(c->out.persist, &c->out.cap_persist, c->out.nr_persist + 1,
				      sizeof(*c->out.persist));
		p = &c->out.persist[c->out.nr_persist++];
		*p = (struct akd_persist){ .table = ti, .replace = replace, .buf = keep(c, w.p),
					   .len = w.len };
	}
	if (c->blocked || c->fatal[0])
		return;
	for (ti = 0; ti < c->nr_t; ti++) {
		struct table *t = &c->t[ti];
		uint32_t b = 0, e, first, count;
		struct akd_remote *w;

		if (t->state != AKD_SERVING)
			continue;
		while (b < t->nr_blocks) {
			if (!t->dirty[b]) {
				b++;
				continue;
			}
			for (e = b; e < t->nr_blocks && t->dirty[e]; e++)
				;
			first = b * c->conf.block;
			count = (e - 1) * c->conf.block + block_len(c, t, e - 1) - first;
			c->out.remote = grow(c->out.remote, &c->out.cap_remote,
					     c->out.nr_remote + 1, sizeof(*c->out.remote));
			w = &c->out.remote[c->out.nr_remote++];
			*w = (struct akd_remote){ .table = ti, .first = first, .count = count,
						  .vals = keep(c, memcpy(zalloc(count, 8),
								  t->remote + first, count * 8)) };
			b = e;
		}
	}
}

bool akd_core_ready(struct akd_core *c, struct akd_ready *rd)
{
	build(c);
	rd->persist = c->out.persist;
	rd->nr_persist = c->out.nr_persist;
	rd->remote = c->out.remote;
	rd->nr_remote = c->out.nr_remote;
	rd->verify = c->out.verify;
	rd->nr_verify = c->out.nr_verify;
	rd->send = c->out.send;
	rd->nr_send = c->out.nr_send;
	if (rd->nr_persist || rd->nr_remote || rd->nr_verify || rd->nr_send)
		return true;
	/* Nothing: the next input is built afresh (a caller advances only
	 * past a ready set it was given). */
	c->out.built = false;
	return false;
}

bool akd_core_persisted(struct akd_core *c, bool ok)
{
	unsigned int i;

	if (!ok) {
		c->st.persist_failures++;
		if (!c->blocked) {
			c->blocked_since = c->now;
			say(c, "a checkpoint cannot be written: the remote rows are not written "
			    "until it can");
		}
		c->blocked = true;
		for (i = 0; i < c->nr_t; i++) {
			c->t[i].need_snapshot = false;	/* again at the next hello */
			c->t[i].snap_pending = true;
		}
		return false;
	}
	for (i = 0; i < c->out.nr_persist; i++) {
		struct table *t = &c->t[c->out.persist[i].table];

		if (t->pending_state == PENDING_WRITING)
			t->pending_state = PENDING_WRITTEN;
		if (c->out.persist[i].replace) {
			t->need_snapshot = false;
			t->snap_pending = false;
			t->snap_bytes = c->out.persist[i].len;
			t->log_bytes = 0;
		} else {
			t->log_bytes += c->out.persist[i].len;
		}
	}
	if (c->blocked) {
		/* Only whole files end it: every table's written again. */
		for (i = 0; i < c->nr_t; i++)
			if (c->t[i].snap_pending)
				return false;
		c->blocked = false;
		say(c, "the checkpoints are written again");
		/* The device follows with the next ready set. */
		return false;
	}
	for (i = 0; i < c->out.nr_remote; i++) {
		const struct akd_remote *r = &c->out.remote[i];
		struct table *t = &c->t[r->table];
		uint32_t b;

		for (b = r->first / c->conf.block; b * c->conf.block < r->first + r->count; b++)
			t->dirty[b] = 0;
		c->st.remote_writes++;
	}
	return true;
}

void akd_core_remote_read(struct akd_core *c, uint64_t now, unsigned int ti, uint32_t first,
			  uint32_t count, const uint64_t *vals)
{
	struct table *t = &c->t[ti];
	uint32_t i, b;

	c->now = now;
	if (ti >= c->nr_t || first + count > t->nr_addrs || first + count < first)
		return;
	if (!t->dev_read) {
		t->dev_read = true;
		for (i = 0; i < count; i++)
			t->dev_nonzero |= vals[i] != 0;
		return;
	}
	if (t->state != AKD_SERVING || c->blocked)
		return;
	for (i = 0; i < count; i++) {
		b = (first + i) / c->conf.block;
		if (!t->dirty[b] && vals[i] != t->remote[first + i]) {
			t->dirty[b] = 1;
			c->st.remote_repairs++;
			say(c, "table %s: the remote row at address %u differs from what this "
			    "daemon wrote: written again", t->conf.name, first + i);
		}
	}
}

void akd_core_advance(struct akd_core *c)
{
	unsigned int i;

	for (i = 0; i < c->out.nr_bufs; i++)
		free(c->out.bufs[i]);
	c->out.nr_bufs = c->out.nr_send = c->out.nr_persist = c->out.nr_remote = 0;
	c->out.nr_verify = 0;
	c->out.built = false;
}

/* ---- what it holds ---- */

const struct akd_stats *akd_core_stats(const struct akd_core *c)
{
	return &c->st;
}

bool akd_core_resting(const struct akd_core *c)
{
	return c->resting;
}

bool akd_core_serving(const struct akd_core *c)
{
	unsigned int ti;

	if (!c->serving)
		return false;
	for (ti = 0; ti < c->nr_t; ti++)
		if (c->t[ti].state != AKD_SERVING)
			return false;
	return true;
}

void akd_core_table_info(const struct akd_core *c, unsigned int ti, struct akd_table_info *info)
{
	const struct table *t = &c->t[ti];
	uint32_t b;

	memset(info, 0, sizeof(*info));
	info->name = t->conf.name;
	info->id = t->conf.id;
	info->nr_addrs = t->nr_addrs;
	info->nr_blocks = t->nr_blocks;
	info->instance = t->instance;
	info->state = t->state;
	info->checkpoint_failing = c->blocked;
	info->checkpoint_failing_since = c->blocked_since;
	info->contributors = t->nr_c;
	info->records = t->nr_rec;
	info->size_error = t->size_error;
	for (b = 0; b < t->nr_blocks; b++) {
		info->unwritten += t->dirty[b];
		info->unpublished += t->changed[b];
	}
}

bool akd_core_contrib(const struct akd_core *c, unsigned int ti, unsigned int i,
		      struct akd_contrib_info *info)
{
	const struct table *t = &c->t[ti];
	const struct contrib *k;
	uint32_t b;

	if (i >= t->nr_c)
		return false;
	k = t->c[i];
	memset(info, 0, sizeof(*info));
	info->node = k->node;
	info->instance = k->instance;
	info->folds = k->folds_known;
	info->own = k->own;
	info->live = live(c, k);
	info->host = k->host;
	info->vhash = vhash((struct akd_core *)c, (struct table *)t, (struct contrib *)k);
	for (b = 0; b < t->nr_blocks; b++)
		if (k->ver[b] > info->version)
			info->version = k->ver[b];
	return true;
}

bool akd_core_peer(const struct akd_core *c, unsigned int i, struct akd_peer_info *info)
{
	const struct peer *p;

	if (i >= c->nr_peers)
		return false;
	p = &c->peers[i];
	*info = (struct akd_peer_info){ .node = p->node, .session = p->session,
					.last_seen = p->last_seen, .messages = p->messages,
					.in_sync = p->digest == c->digest && !c->digest_stale };
	return true;
}

/* The records by absorber, for akd_core_account(). */
static int by_absorber(const void *a, const void *b)
{
	const struct record *x = a, *y = b;

	if (x->absorber != y->absorber)
		return x->absorber < y->absorber ? -1 : 1;
	return x->fold - y->fold;
}

/*
 * What instance brings into block b through its first upto records: each
 * instance it collected, and what that one had collected, and so on (a
 * chain as long as the node's restarts: walked with a stack, not recursion).
 */
static void account_records(const struct record *sorted, unsigned int n, uint64_t instance,
			    uint16_t upto, uint32_t b, akd_account_fn *fn, void *arg)
{
	struct { uint64_t instance; uint16_t upto; } *stack, top;
	unsigned int depth = 0, lo, hi, mid;

	stack = zalloc(n + 1, sizeof(*stack));
	stack[depth++] = (typeof(top)){ instance, upto };
	while (depth) {
		top = stack[--depth];
		lo = 0;
		hi = n;
		while (lo < hi) {
			mid = (lo + hi) / 2;
			if (sorted[mid].absorber < top.instance)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < n && sorted[lo].absorber == top.instance &&
		       sorted[lo].fold <= top.upto; lo++) {
			fn(arg, sorted[lo].node, sorted[lo].instance, b, AKD_VERSION_COLLECTED);
			if (depth < n)
				stack[depth++] = (typeof(top)){ sorted[lo].instance, UINT16_MAX };
		}
	}
	free(stack);
}

void akd_core_account_direct(const struct akd_core *c, unsigned int ti, akd_account_fn *fn,
			     void *arg)
{
	const struct table *t = &c->t[ti];
	unsigned int i;
	uint32_t b;

	for (i = 0; i < t->nr_c; i++)
		for (b = 0; b < t->nr_blocks; b++)
			if (t->c[i]->ver[b] && (t->c[i]->own || !covered(t, t->c[i]->instance, b)))
				fn(arg, t->c[i]->node, t->c[i]->instance, b, t->c[i]->ver[b]);
}

void akd_core_account(const struct akd_core *c, unsigned int ti, akd_account_fn *fn, void *arg)
{
	const struct table *t = &c->t[ti];
	struct record *sorted = zalloc(t->nr_rec, sizeof(*sorted));
	unsigned int i;
	uint32_t b;

	if (t->nr_rec)	/* t->rec is NULL before the first */
		memcpy(sorted, t->rec, t->nr_rec * sizeof(*sorted));
	qsort(sorted, t->nr_rec, sizeof(*sorted), by_absorber);
	for (i = 0; i < t->nr_c; i++) {
		const struct contrib *k = t->c[i];

		for (b = 0; b < t->nr_blocks; b++) {
			if (!k->own && covered(t, k->instance, b))
				continue;
			if (k->ver[b])
				fn(arg, k->node, k->instance, b, k->ver[b]);
			if (k->folds[b])
				account_records(sorted, t->nr_rec, k->instance, k->folds[b], b, fn,
						arg);
		}
	}
	free(sorted);
}

int akd_checkpoint_account(const void *buf, size_t len, uint16_t node, uint32_t host,
			   const struct akd_table_conf *table, uint32_t block,
			   akd_account_fn *fn, void *arg)
{
	struct akd_conf conf = { .node = node, .host = host, .block = block, .session = 1,
				 .hello_ns = 1, .max_contributors = UINT32_MAX - 1 };
	struct akd_core *c;
	int ret;

	ret = akd_core_create(&c, &conf, table, 1);
	if (ret)
		return ret;
	ret = akd_core_restore(c, 0, buf, len);
	if (!ret)
		akd_core_account(c, 0, fn, arg);
	akd_core_destroy(c);
	return ret;
}
