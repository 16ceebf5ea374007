/* SPDX-License-Identifier: GPL-2.0 */
/*
 * atomikd's replication protocol 2 as built (tools/atomikd/core.c), for
 * SPIN.  tools/atomikd/model/check runs the checks; Documentation/atomik/
 * cluster.rst describes the protocol.
 *
 * What is modelled
 *
 *   Nodes 1..NN (3).  Node n's module has a live table instance live[n],
 *   whose local contribution is accum[n] (READ_ACCUM), and the remote row
 *   remote[n] that the daemon writes (REMOTE_SET): state(n) = ref ^
 *   accum[n] ^ remote[n], ref = 0.  The table is one block of one address.
 *   A value is a bitmask and delta k is the bit 1 << k, so that the deltas
 *   a value is made of can be seen.
 *
 *   Contributors are table instances, numbered 1..NC: 1, 2 and 3 are the
 *   first instances of nodes 1, 2 and 3; 4 and 5 are node R's (2's) next
 *   ones, after a module reload or a reboot.  Node n's daemon holds, per
 *   contributor, its own live instance included, the block of the highest
 *   (version, folds) it has seen, hv[] (as one number, a slot) and hval[];
 *   per contributor the collection records applied to it (fk[],
 *   folds_known) and the records it holds (hrec[], bit D: the record that
 *   collected D, its tombstone); and adopted[n], what its live instance
 *   has collected.  The remote row is adopted ^ every other contributor
 *   held and not covered by a record (recount_block()).
 *
 *   The daemon (proctype daemon) loops over collect(), publish() (its
 *   block, if it changed, under the next version and its folds) and
 *   anti-entropy: to every peer, every block it holds that the peer lacks,
 *   frozen contributors included, and every record (the digests, WANTs
 *   and their answers; a peer's lack is read from its state, as a digest
 *   would tell it).  Its receiver (proctype receiver) runs recv_block()
 *   and recv_record(): a block of its own live instance is an echo (the
 *   check is by instance); a block of a contributor with more folds than
 *   the records it holds is dropped (behind); a newer one replaces what is
 *   held unless the contributor is covered by a record (collected); a
 *   record is applied where its absorber is held at the fold before it,
 *   and the collected instance, where held exactly as collected, is
 *   folded into the absorber's values and goes; the record stays.
 *
 *   Checkpoint: the daemon's memory is its checkpoint.  A block or record
 *   taken is written to the checkpoint, then to the device, in one step
 *   (what is taken and not yet persisted when the daemon dies is a lost
 *   message); the model keeps no separate copy except in the
 *   CKPT_AFTER_DEVICE variant, where node R's checkpoint lags its memory
 *   and device until a later step of its daemon.
 *
 *   Restarts of node R, RESTARTS (2) in all, each one of:
 *     kill    the daemon is killed and started again on the same table
 *             instance: its inbox is gone, it starts from its checkpoint
 *             and writes the remote row from it;
 *     reload  the module is reloaded: a new instance (accum 0, a zero
 *             remote row), the checkpoint kept: the old instance's last
 *             published block becomes a frozen contributor, held like any
 *             other; deltas it had not published are lost;
 *     reboot  a new instance and the checkpoint lost (tmpfs): the node
 *             gets everything back from its peers, its own past included.
 *   After each, the peers answer its starting hello with what it lacks.
 *
 *   Collection: node R collects a dead instance of its own (held, not its
 *   live one, not collected yet) into its live instance once every member
 *   holds exactly what it holds, every block and every record (stability,
 *   all_members_agree(), with every member reachable), and no block of it
 *   nor any record is in flight (collect_after_ms, longer than any
 *   message's delay).  The record is written, applied (the live
 *   instance's values and adopted take the dead one's; the remote row
 *   stays as it was), and sent; a live block that got values only from
 *   it is published.  Two restarts make a chain: 2 into 4, 4 into 5.
 *
 *   The network is a set of messages in flight: bit s of inf[IX(d, c)]
 *   says that slot s of contributor c is on its way to node d, with the
 *   values value(c, s): what c published under that version, and the
 *   records folded since.  Bit D of recinf[d]: the record of D to d.
 *   Before the quiet phase a receiver takes any message to it, in any
 *   order, and delivers or loses it; in the variants without a version
 *   check it may also deliver it and keep it, to be delivered again.  A
 *   message that its receiver would ignore (IGNORED) is not kept in
 *   flight: it would stay ignored until the receiver's daemon restarts,
 *   and a restart empties its inbox.  A node can be cut off (bit n of
 *   cut): while it is, nothing is sent to it or by it, nothing delivered
 *   to it, and no node collects.
 *
 *   The environment (proctype env) makes DELTAS deltas, each on any node;
 *   restarts node R RESTARTS times, any kind each, before the quiet phase;
 *   cuts and heals any node, any number of times; and may, once, start
 *   the quiet phase: every cut node is healed and from then on nothing is
 *   lost nor cut (each receiver delivers every message in flight to it,
 *   once, records first, in one step).
 *
 * Bounds: NN = 3 nodes, DELTAS deltas in all (2 by default, -DDELTAS=N,
 * at most 5), RESTARTS = 2 restarts of node R = 2 (-DRESTARTS=0 to 2), so
 * versions up to VMAX = DELTAS + 2 per contributor and folds up to 2.
 * Losses, duplicates, reordering and cuts are unbounded.  Fixing the node
 * that restarts loses nothing: the nodes are otherwise symmetric.
 *
 * Properties
 *
 *   Safety 1 (assertion in write_device): a node's device never counts a
 *   contributor's block older than one it counted before (ghost devmax,
 *   reset with the module's table): the remote row never goes back,
 *   whatever kills, reloads and reboots come.
 *
 *   Safety 2 (assertion in publish): the values a contributor publishes
 *   under a later version hold every delta of the earlier ones.
 *
 *   Safety 3 (assertion in daemon): at rest (nothing in flight, every
 *   change published, every node holding the same blocks and records),
 *   every node's state is exactly ref ^ every live instance's accum ^
 *   every delta of a dead instance that some node held (ghost held[c]: the
 *   deltas of c taken into a node's memory and checkpoint; a reboot keeps
 *   only what another node holds).  A delta counted twice cancels and
 *   fails it; so does one that a node held and that is gone.
 *
 *   Liveness (ltl live): (<> quiet) -> (<> [] converged), checked under
 *   weak fairness: once the network is reliable and healed, every node
 *   ends, and stays, at that exact state.
 *
 *   chain (ltl chain, built with -DPROBE): both of node R's earlier
 *   instances collected, 2 into 4 and 4 into 5, and the cluster at rest
 *   and exact, is reachable: the check expects a counterexample.
 *
 * Broken variants (spin -DVARIANT), which the checks must catch
 *
 *   REPLACE_INCARNATION   the receiver holds one instance per node: a
 *                         node's new instance replaces its old one, whose
 *                         frozen deltas are dropped (liveness).
 *   OWN_ONLY_AE           anti-entropy and recovery answers republish
 *                         only the node's own live block, not the frozen
 *                         contributors it holds (liveness).
 *   ECHO_BY_NODE          the echo check by node id: a node drops the
 *                         blocks of its own earlier instances (liveness).
 *   CKPT_AFTER_DEVICE     a taken block reaches the device before the
 *                         checkpoint: a kill in between and the restart
 *                         takes the remote row back (Safety 1).
 *   COLLECT_NO_STABILITY  collection without the stability condition: a
 *                         version only a cut-off node holds is dropped by
 *                         the tombstone (Safety 3).
 *   RAW_DELTAS            forwards each change as a raw delta, once, XOR-ed
 *                         on receipt: no versions, no anti-entropy, no
 *                         collection; checked with -DRESTARTS=0: losses
 *                         and duplicates alone defeat it (liveness).
 *   NO_VERSION_CHECK      applies every block it receives, whatever its
 *                         version (Safety 1, liveness).
 *   NO_ANTI_ENTROPY       no anti-entropy (recovery answers remain)
 *                         (liveness).
 *
 * Protocol 1's NO_INCARNATION (a restarted node publishing under its old
 * identity) and NO_ECHO_CHECK are gone: an instance is drawn by the
 * module, not chosen by the daemon, and a node's own live instance is one
 * of the contributors it holds, never counted in its remote row and never
 * older than a relay of it, so that without the echo check nothing
 * changes; the echo check goes wrong in protocol 2 by keying it by node
 * (ECHO_BY_NODE).
 *
 * What the model leaves out of core.c
 *
 *   - Blocks and addresses: one table, one block of one address.
 *   - Versions are a counter per contributor; the daemon's are the boot
 *     clock made larger than the block's last: both strictly increase.
 *   - Hellos, digests and WANTs: anti-entropy sends what the peer lacks,
 *     read from its state; the stability condition reads every member's
 *     state, not its last hello.  Peer sessions, clock checks, invalid
 *     messages, identity checks (node, host), max_contributors, the
 *     WAITING state and the remote row's verification.
 *   - Timing: collect_after_ms is modelled as "no block of the dead
 *     instance and no record in flight"; a reboot of node R comes after
 *     its peers hold what its last collection gave its live instance (the
 *     window is one publish, a hello at most).  In that window the model
 *     finds that a reboot, its checkpoint lost, leaves the collected
 *     instance counted by the peers that hold its record without the
 *     absorber's folded block, and dropped as collected by the rebooted
 *     node; and a record delayed past a reboot, a recovery and a second
 *     collection drops the instance it collected.
 *   - Each dead instance is collected once at most, and node R collects
 *     (the other nodes do not restart).
 */

#define NN	3		/* nodes 1..NN */
#define R	2		/* the node that restarts */
#define NC	5		/* contributors 1..NC: 1, 2, 3, then R's 4 and 5 */
#define NW	6		/* row stride: contributor 1..NC */
#define VS	8		/* row stride: version 0..VMAX */

#ifndef DELTAS
#define DELTAS	3
#endif
#if DELTAS < 1 || DELTAS > 5
#error DELTAS is 1 to 5: a slot is a bit of an int
#endif
#ifndef RESTARTS
#define RESTARTS	2
#endif
#if RESTARTS < 0 || RESTARTS > 2
#error RESTARTS is 0 to 2: node R has two instances to come, 4 and 5
#endif
#define VMAX	(DELTAS + 2)	/* a publish per delta, and one per collection */

/* (version, folds) as one number, in the order of newer(): folds < 3. */
#define SL(v, f)	((v) * 3 + (f))
#define SV(s)		((s) / 3)
#define SF(s)		((s) % 3)

#define IX(n, c)	((n) * NW + (c))
#define PX(c, v)	((c) * VS + (v))
#define NODE(c)		((c) > NN -> R : (c))
#define BIT(x)		(1 << (x))
#define LINK(a, b)	((cut & (BIT(a) | BIT(b))) == 0)

/* The module, per node. */
byte accum[NN + 1];		/* the live instance's contribution (READ_ACCUM) */
byte remote[NN + 1];		/* the remote row (REMOTE_SET) */
byte live[NN + 1];		/* the live table instance: a contributor */

/* The daemon, per node: its memory, which is its checkpoint too (written
 * with it, in the same step, before the device). */
byte hv[(NN + 1) * NW];		/* per contributor, the slot of the block held */
byte hval[(NN + 1) * NW];	/* ... and its values */
byte fk[(NN + 1) * NW];		/* per contributor, its records applied (folds_known) */
byte hrec[NN + 1];		/* bit D: the record that collected D is held */
byte adopted[NN + 1];		/* what the live instance has collected */
#ifdef CKPT_AFTER_DEVICE
byte ckv[NW];			/* node R's checkpoint, when it lags its memory */
byte ckval[NW];
bool cklag;
#endif

/* The network. */
int inf[(NN + 1) * NW];		/* bit s of inf[IX(d, c)]: slot s of c in flight to d */
byte recinf[NN + 1];		/* bit D: the record of D in flight to d */
byte cut;			/* bit n: node n is cut off */
bool quiet;			/* from now on nothing is lost nor cut */

/* What was published: values per version, the folds at publish, and the
 * records (per collected instance D). */
byte pubval[NW * VS];
byte pubf[NW * VS];
byte rabs[NW];			/* the absorber */
byte rfold[NW];			/* as its fold'th record */
byte rslot[NW];			/* the slot of D collected (vhash) */
byte rval[NW];			/* ... and its values */

/* The environment's budget. */
byte k;				/* deltas made: the next is BIT(k) */
byte restarts;			/* kills, reloads and reboots of node R */
byte ninst = 4;			/* node R's next instance */

/* Ghosts. */
byte devmax[(NN + 1) * NW];	/* Safety 1: the slot of c the device counted last */
byte pubmaxval[NW];		/* Safety 2: the values last published */
byte held[NW];			/* every delta of c held by a node (memory, checkpoint) */

#define STATE(n)	(accum[n] ^ remote[n])
#define DEADHELD(n, c)	((live[n] != (c)) * held[c])
#define EXPECTED	(accum[1] | accum[2] | accum[3] | DEADHELD(1, 1) | DEADHELD(2, 2) | \
			 DEADHELD(3, 3) | DEADHELD(R, 4) | DEADHELD(R, 5))
#define converged	(STATE(1) == EXPECTED && STATE(2) == EXPECTED && \
			 STATE(3) == EXPECTED)

/* A contributor node m holds (mk: one being created, in deliver()). */
#define EXISTS(m, c)	(hv[IX(m, c)] > 0 || live[m] == (c) || (c) == mk)
/* Whether c is counted through the instance that collected it (covered()). */
#define COVERED(m, c)	((hrec[m] & BIT(c)) && \
			 ((EXISTS(m, rabs[c]) && SF(hv[IX(m, rabs[c])]) >= rfold[c]) || \
			  (hrec[m] & BIT(rabs[c]))))

/* The echo check: a block of the receiver's own live instance. */
#ifdef ECHO_BY_NODE
#define ECHO(n, c)	(NODE(c) == (n))
#else
#define ECHO(n, c)	((c) == live[n])
#endif
#ifdef REPLACE_INCARNATION
/* Held by node: a later instance of c's node held replaces c. */
#define LATER(n, c)	(NODE(c) == R && (c) != live[n] && \
			 (((c) == 2 && (hv[IX(n, 4)] > 0 || hv[IX(n, 5)] > 0)) || \
			  ((c) == 4 && hv[IX(n, 5)] > 0)))
#else
#define LATER(n, c)	false
#endif
/*
 * What node n ignores of slot s of c: an echo; with the version check, a
 * slot not newer than the one held; a block of an instance collected and
 * gone (its tombstone).  Once true for a message it stays true while n's
 * daemon runs: what n holds only grows, and goes only when collected.
 */
#if defined(RAW_DELTAS) || defined(NO_VERSION_CHECK)
#define IGNORED(n, c, s)	(ECHO(n, c) || LATER(n, c))
#else
#define IGNORED(n, c, s)	(ECHO(n, c) || LATER(n, c) || (s) <= hv[IX(n, c)] || \
				 ((hrec[n] & BIT(c)) && hv[IX(n, c)] == 0))
#endif

/* Everything held agrees: the digests' hashes are equal. */
#define SAME(a, b, c)	(hv[IX(a, c)] == hv[IX(b, c)])
#define AGREE(a, b)	(SAME(a, b, 1) && SAME(a, b, 2) && SAME(a, b, 3) && SAME(a, b, 4) && \
			 SAME(a, b, 5) && hrec[a] == hrec[b])
#define INBOX(n)	(inf[IX(n, 1)] | inf[IX(n, 2)] | inf[IX(n, 3)] | inf[IX(n, 4)] | \
			 inf[IX(n, 5)] | recinf[n])
#define PUBLISHED(n)	((accum[n] ^ adopted[n]) == hval[IX(n, live[n])])
/* At rest: nothing in flight, every change published, all holding the same. */
#define QUIESCENT	(INBOX(1) == 0 && INBOX(2) == 0 && INBOX(3) == 0 && \
			 PUBLISHED(1) && PUBLISHED(2) && PUBLISHED(3) && \
			 AGREE(1, 2) && AGREE(1, 3))

/* The values of slot s of c: as published, and the records folded since. */
inline value(c, s, out)
{
	out = pubval[PX(c, SV(s))];
	for (x : 1 .. NC) {
		if
		:: rabs[x] == c && rfold[x] > pubf[PX(c, SV(s))] && rfold[x] <= SF(s) ->
			out = out ^ rval[x]
		:: else -> skip
		fi
	}
	x = 0
}

/* Node `from` sends slot s of c to node d, unless either is cut off.  A
 * message that d ignores is not kept in flight: it would stay ignored
 * until d's daemon restarts, and a restart empties d's inbox. */
inline send(from, d, c, s)
{
	if
	:: LINK(from, d) && !IGNORED(d, c, s) ->
		inf[IX(d, c)] = inf[IX(d, c)] | BIT(s)
	:: else -> skip
	fi
}

inline sendrec(from, d, D)
{
	if
	:: LINK(from, d) && !(hrec[d] & BIT(D)) -> recinf[d] = recinf[d] | BIT(D)
	:: else -> skip
	fi
}

/* What node `from` holds that d lacks, every held contributor (frozen ones
 * included) and every record: the digests, WANTs and their answers. */
inline send_everything(from, d)
{
	for (y : 1 .. NC) {
		if
#ifdef OWN_ONLY_AE
		:: hv[IX(from, y)] > 0 && y == live[from] -> send(from, d, y, hv[IX(from, y)])
#else
		:: hv[IX(from, y)] > 0 -> send(from, d, y, hv[IX(from, y)])
#endif
		:: else -> skip
		fi;
		if
		:: hrec[from] & BIT(y) -> sendrec(from, d, y)
		:: else -> skip
		fi
	}
	y = 0
}

/*
 * The remote row from what is held (recount_block()), written to the
 * device: Safety 1, a device never counts a contributor's block older
 * than one it counted before.
 */
inline write_device(m)
{
	val = adopted[m];
	for (x : 1 .. NC) {
		if
		:: x != live[m] && hv[IX(m, x)] > 0 ->
			val = val ^ hval[IX(m, x)];
#ifndef RAW_DELTAS
			assert(hv[IX(m, x)] >= devmax[IX(m, x)]);	/* Safety 1 */
#endif
			devmax[IX(m, x)] = hv[IX(m, x)]
		:: else -> skip
		fi
	}
	remote[m] = val;
	x = 0; val = 0
}

/* A contributor every block of which is counted elsewhere goes (sweep()). */
inline sweep(m)
{
	for (x : 1 .. NC) {
		if
		:: x != live[m] && hv[IX(m, x)] > 0 && COVERED(m, x) ->
			hv[IX(m, x)] = 0;
			hval[IX(m, x)] = 0;
			fk[IX(m, x)] = 0
		:: else -> skip
		fi
	}
	x = 0
}

/* apply_record(): record D where m holds its absorber at the fold before;
 * D folded in where m holds it exactly as collected, then swept. */
inline apply_record(m, D)
{
	fk[IX(m, rabs[D])] = rfold[D];
	if
	:: EXISTS(m, D) && D != live[m] && hv[IX(m, D)] == rslot[D] &&
	   SF(hv[IX(m, rabs[D])]) == rfold[D] - 1 ->
		if
		:: !COVERED(m, D) ->
			hval[IX(m, rabs[D])] = hval[IX(m, rabs[D])] ^ hval[IX(m, D)];
			if
			:: rabs[D] == live[m] -> adopted[m] = adopted[m] ^ hval[IX(m, D)]
			:: else -> skip
			fi
		:: else -> skip
		fi;
		hv[IX(m, rabs[D])] = SL(SV(hv[IX(m, rabs[D])]), rfold[D]);
		sweep(m)
	:: else -> skip
	fi
}

/* apply_records(): the records held, in order, as far as they go (two
 * passes: there are two records at most). */
inline apply_records(m)
{
	for (z : 1 .. 2) {
		for (y : 1 .. NC) {
			if
			:: (hrec[m] & BIT(y)) && EXISTS(m, rabs[y]) &&
			   fk[IX(m, rabs[y])] + 1 == rfold[y] -> apply_record(m, y)
			:: else -> skip
			fi
		}
	}
	y = 0; z = 0
}

/* What is in flight to m that it ignores now. */
inline prune(m)
{
	for (y : 1 .. NC) {
		for (z : 1 .. SL(VMAX, 2)) {
			if
			:: (inf[IX(m, y)] & BIT(z)) && IGNORED(m, y, z) ->
				inf[IX(m, y)] = inf[IX(m, y)] & ~BIT(z)
			:: else -> skip
			fi
		}
	}
	recinf[m] = recinf[m] & ~hrec[m];
	y = 0; z = 0
}

#ifdef CKPT_AFTER_DEVICE
#define LAG(m)	if :: m == R -> cklag = true :: else -> skip fi
#else
#define LAG(m)	skip
#endif

/* recv_block(): node n receives slot s of c. */
inline deliver(n, c, s)
{
	val = 0;
	if
	:: IGNORED(n, c, s) -> skip	/* an echo, a duplicate, older, collected */
#ifdef RAW_DELTAS
	:: else ->
		value(c, s, val);
		printf("node %d applies contributor %d change %d: %d\n", n, c, SV(s), val);
		remote[n] = remote[n] ^ val;
		hval[IX(n, c)] = hval[IX(n, c)] ^ val;
		val = 0
#else
	:: else ->
		if
		:: hv[IX(n, c)] == 0 ->	/* a new contributor: its records first */
			mk = c;
			apply_records(n);
			mk = 0
		:: else -> skip
		fi;
		if
		:: SF(s) > fk[IX(n, c)] -> skip	/* behind: its records are not here */
#ifndef NO_VERSION_CHECK
		:: SF(s) <= fk[IX(n, c)] && s <= hv[IX(n, c)] -> skip
#define NEWER(n, c, s)	((s) > hv[IX(n, c)])
#else
#define NEWER(n, c, s)	true
#endif
		:: SF(s) <= fk[IX(n, c)] && NEWER(n, c, s) && COVERED(n, c) -> skip
		:: SF(s) <= fk[IX(n, c)] && NEWER(n, c, s) && !COVERED(n, c) ->
			value(c, s, val);
			printf("node %d applies contributor %d version %d folds %d: %d\n",
			       n, c, SV(s), SF(s), val);
#ifdef REPLACE_INCARNATION
			for (y : 1 .. NC) {
				if
				:: y < c && NODE(y) == NODE(c) && y != live[n] && hv[IX(n, y)] > 0 ->
					printf("node %d replaces contributor %d with %d\n", n, y, c);
					hv[IX(n, y)] = 0;
					hval[IX(n, y)] = 0
				:: else -> skip
				fi
			}
			y = 0;
#endif
			hv[IX(n, c)] = s;
			hval[IX(n, c)] = val;
			held[c] = held[c] | val;
			val = 0;
			apply_records(n);
			sweep(n);
			LAG(n);
			write_device(n);
			prune(n)
		fi
#endif
	fi
}

/* recv_record(): node n receives the record that collected D. */
inline deliver_rec(n, D)
{
	if
	:: hrec[n] & BIT(D) -> skip
	:: else ->
		printf("node %d takes the record: %d collected into %d\n", n, D, rabs[D]);
		hrec[n] = hrec[n] | BIT(D);
		apply_records(n);
		sweep(n);
		LAG(n);
		write_device(n);
		prune(n)
	fi
}

/* publish(): the block, if it changed since it was last published (or was
 * given values by a collection and never published), under a new version. */
inline publish(n)
{
	w = live[n];
#ifdef RAW_DELTAS
	val = accum[n] ^ hval[IX(n, w)];
	if
	:: val != 0 ->
		pubval[PX(w, SV(hv[IX(n, w)]) + 1)] = val;
		hv[IX(n, w)] = SL(SV(hv[IX(n, w)]) + 1, 0);
		hval[IX(n, w)] = accum[n];
		printf("node %d sends contributor %d change %d: %d\n", n, w, SV(hv[IX(n, w)]), val);
#else
	val = accum[n] ^ adopted[n];
	if
	:: val != hval[IX(n, w)] || (SV(hv[IX(n, w)]) == 0 && SF(hv[IX(n, w)]) > 0) ->
		assert(SV(hv[IX(n, w)]) < VMAX);
		pubval[PX(w, SV(hv[IX(n, w)]) + 1)] = val;
		pubf[PX(w, SV(hv[IX(n, w)]) + 1)] = fk[IX(n, w)];
		assert((val & pubmaxval[w]) == pubmaxval[w]);		/* Safety 2 */
		pubmaxval[w] = val;
		hv[IX(n, w)] = SL(SV(hv[IX(n, w)]) + 1, fk[IX(n, w)]);
		hval[IX(n, w)] = val;
		held[w] = held[w] | val;
#ifdef CKPT_AFTER_DEVICE
		if
		:: n == R -> ckv[w] = hv[IX(n, w)]; ckval[w] = val
		:: else -> skip
		fi;
#endif
		printf("node %d publishes contributor %d version %d folds %d: %d\n",
		       n, w, SV(hv[IX(n, w)]), SF(hv[IX(n, w)]), val);
#endif
		for (d : 1 .. NN) {
			if
			:: d != n -> send(n, d, w, hv[IX(n, w)])
			:: else -> skip
			fi
		}
	:: else -> skip
	fi;
	w = 0; val = 0
}

/* Anti-entropy: what each peer lacks goes to it.  Raw deltas have none. */
inline antientropy(n)
{
#if defined(RAW_DELTAS) || defined(NO_ANTI_ENTROPY)
	skip
#else
	for (d : 1 .. NN) {
		if
		:: d != n -> send_everything(n, d)
		:: else -> skip
		fi
	}
#endif
}

/*
 * collect(): a dead instance of node n (its, not the live one) that is held
 * and not collected yet, once every member holds what n holds (stability)
 * and none of its blocks is in flight (collect_after_ms), is collected into
 * the live instance: the record is written (the checkpoint), applied, sent.
 */
#ifdef COLLECT_NO_STABILITY
#define STABLE(n)	true
#else
#define STABLE(n)	(LINK(n, 1) && LINK(n, 2) && LINK(n, 3) && \
			 AGREE(n, 1) && AGREE(n, 2) && AGREE(n, 3))
#endif
#define INFLIGHT(c)	(inf[IX(1, c)] | inf[IX(2, c)] | inf[IX(3, c)])

inline collect(n)
{
#ifdef RAW_DELTAS
	skip
#else
	for (w : 1 .. NC) {
		if
		:: val == 0 && NODE(w) == n && w != live[n] && hv[IX(n, w)] > 0 &&
		   !(hrec[n] & BIT(w)) && rabs[w] == 0 && fk[IX(n, live[n])] < 2 &&
		   INFLIGHT(w) == 0 && (recinf[1] | recinf[2] | recinf[3]) == 0 &&
		   STABLE(n) ->
			rabs[w] = live[n];
			rfold[w] = fk[IX(n, live[n])] + 1;
			rslot[w] = hv[IX(n, w)];
			rval[w] = hval[IX(n, w)];
			printf("node %d collects contributor %d into %d (record %d)\n",
			       n, w, live[n], rfold[w]);
			hrec[n] = hrec[n] | BIT(w);
			apply_records(n);
			sweep(n);
			LAG(n);
			write_device(n);
			for (d : 1 .. NN) {
				if
				:: d != n -> sendrec(n, d, w)
				:: else -> skip
				fi
			}
			val = 1	/* one at a time */
		:: else -> skip
		fi
	}
	w = 0; val = 0
#endif
}

proctype daemon(byte n)
{
	byte d, w, x, y, z, val, mk;

	do
	:: d_step {
		collect(n);
		publish(n);
		antientropy(n);
#ifndef RAW_DELTAS
		if
		:: QUIESCENT -> assert(converged)	/* Safety 3: exact at rest */
		:: else -> skip
		fi;
#endif
		d = 0
	   }
#ifdef CKPT_AFTER_DEVICE
	:: d_step {	/* the checkpoint catches up with the memory */
		n == R && cklag ->
		for (x : 1 .. NC) {
			ckv[x] = hv[IX(R, x)];
			ckval[x] = hval[IX(R, x)]
		}
		cklag = false;
		x = 0
	   }
#endif
	od
}

proctype receiver(byte n)
{
	byte c, s, x, y, z, val, mk;

end:	do
	:: atomic {
		!quiet && INBOX(n) != 0 && (cut & BIT(n)) == 0 ->
		if
		:: recinf[n] & BIT(2) -> c = 2
		:: recinf[n] & BIT(4) -> c = 4
		:: inf[IX(n, 1)] -> c = 1 + NW
		:: inf[IX(n, 2)] -> c = 2 + NW
		:: inf[IX(n, 3)] -> c = 3 + NW
		:: inf[IX(n, 4)] -> c = 4 + NW
		:: inf[IX(n, 5)] -> c = 5 + NW
		fi;
		if
		:: c < NW ->
			if
			:: deliver_rec(n, c)
			:: printf("lost: the record of %d to node %d\n", c, n)
			fi;
			recinf[n] = recinf[n] & ~BIT(c)
		:: else ->
			c = c - NW;
			if
		:: inf[IX(n, c)] & BIT(1) -> s = 1
		:: inf[IX(n, c)] & BIT(2) -> s = 2
		:: inf[IX(n, c)] & BIT(3) -> s = 3
		:: inf[IX(n, c)] & BIT(4) -> s = 4
		:: inf[IX(n, c)] & BIT(5) -> s = 5
		:: inf[IX(n, c)] & BIT(6) -> s = 6
		:: inf[IX(n, c)] & BIT(7) -> s = 7
		:: inf[IX(n, c)] & BIT(8) -> s = 8
		:: inf[IX(n, c)] & BIT(9) -> s = 9
		:: inf[IX(n, c)] & BIT(10) -> s = 10
		:: inf[IX(n, c)] & BIT(11) -> s = 11
		:: inf[IX(n, c)] & BIT(12) -> s = 12
		:: inf[IX(n, c)] & BIT(13) -> s = 13
		:: inf[IX(n, c)] & BIT(14) -> s = 14
		:: inf[IX(n, c)] & BIT(15) -> s = 15
		:: inf[IX(n, c)] & BIT(16) -> s = 16
		:: inf[IX(n, c)] & BIT(17) -> s = 17
		:: inf[IX(n, c)] & BIT(18) -> s = 18
		:: inf[IX(n, c)] & BIT(19) -> s = 19
		:: inf[IX(n, c)] & BIT(20) -> s = 20
		:: inf[IX(n, c)] & BIT(21) -> s = 21
		:: inf[IX(n, c)] & BIT(22) -> s = 22
		:: inf[IX(n, c)] & BIT(23) -> s = 23
			fi;
			if
			:: deliver(n, c, s);
			   inf[IX(n, c)] = inf[IX(n, c)] & ~BIT(s)
#if defined(RAW_DELTAS) || defined(NO_VERSION_CHECK)
			/* and kept, to be delivered again later */
			:: deliver(n, c, s)
#endif
			:: inf[IX(n, c)] = inf[IX(n, c)] & ~BIT(s);
			   printf("lost: contributor %d slot %d to node %d\n", c, s, n)
			fi
		fi;
		c = 0; s = 0
	   }
	:: d_step {
		quiet && INBOX(n) != 0 ->
		/* reliable: every message in flight to n, once, records first */
		for (c : 1 .. NC) {
			if
			:: recinf[n] & BIT(c) -> deliver_rec(n, c)
			:: else -> skip
			fi
		}
		recinf[n] = 0;
		for (c : 1 .. NC) {
			for (s : 1 .. SL(VMAX, 2)) {
				if
				:: inf[IX(n, c)] & BIT(s) -> deliver(n, c, s)
				:: else -> skip
				fi
			}
			inf[IX(n, c)] = 0
		}
		c = 0; s = 0
	   }
	od
}

/*
 * A restart of node R: its daemon's memory and inbox are gone; it starts
 * again from its checkpoint (kill, reload) or from nothing (reboot), and
 * its peers answer its starting hello with what it lacks.  A reload and a
 * reboot give its table a new instance, accum 0 and a zero remote row;
 * after a reload the old instance, held in the checkpoint, is frozen.
 */
inline restart_begin()
{
	restarts++;
	recinf[R] = 0;
	for (x : 1 .. NC) {
		inf[IX(R, x)] = 0
	}
#ifdef CKPT_AFTER_DEVICE
	for (x : 1 .. NC) {
		hv[IX(R, x)] = ckv[x];
		hval[IX(R, x)] = ckval[x]
	}
	cklag = false;
#endif
	x = 0
}

inline new_instance()
{
	live[R] = ninst;
	ninst++;
	accum[R] = 0;
	adopted[R] = 0;
	remote[R] = 0;
	for (x : 1 .. NC) {
		devmax[IX(R, x)] = 0
	}
	x = 0
}

inline restart_end()
{
	write_device(R);
	for (p : 1 .. NN) {
		if
		:: p != R -> send_everything(p, R)
		:: else -> skip
		fi
	}
	p = 0
}

inline kill()
{
	printf("node %d: daemon killed, started again\n", R);
	restart_begin();
	restart_end()
}

inline reload()
{
	printf("node %d: module reloaded: contributor %d, %d frozen\n", R, ninst, live[R]);
	restart_begin();
	new_instance();
	restart_end()
}

inline reboot()
{
	printf("node %d: rebooted, checkpoint lost: contributor %d\n", R, ninst);
	restart_begin();
	new_instance();
	for (x : 1 .. NC) {
		hv[IX(R, x)] = 0;
		hval[IX(R, x)] = 0;
		fk[IX(R, x)] = 0;
#ifdef CKPT_AFTER_DEVICE
		ckv[x] = 0;
		ckval[x] = 0;
#endif
		if	/* what only R held is lost */
		:: NODE(x) == R -> held[x] = hval[IX(1, x)] | hval[IX(3, x)]
		:: else -> skip
		fi
	}
	hrec[R] = 0;
	x = 0;
	restart_end()
}

/* A reboot comes after the peers hold what the node's collections gave its
 * live instance (see "What the model leaves out"). */
#define SETTLED		(hrec[R] == 0 || \
			 (hv[IX(1, live[R])] == hv[IX(R, live[R])] && \
			  hv[IX(3, live[R])] == hv[IX(R, live[R])]))

inline cut_off(n)
{
	cut = cut | BIT(n);
	printf("node %d cut off\n", n)
}

inline heal(n)
{
	cut = cut & ~BIT(n);
	printf("node %d back\n", n)
}

proctype env()
{
	byte n, x, y, z, p, val, mk;

end:	do
	:: atomic {
		k < DELTAS ->
		if
		:: n = 1
		:: n = 2
		:: n = 3
		fi;
		accum[n] = accum[n] ^ BIT(k);
		printf("delta %d on node %d\n", BIT(k), n);
		k++;
		n = 0
	   }
	:: d_step { !quiet && restarts < RESTARTS -> kill() }
	:: d_step { !quiet && restarts < RESTARTS -> reload() }
	:: d_step { !quiet && restarts < RESTARTS && SETTLED -> reboot() }
	:: d_step { !quiet && (cut & BIT(1)) == 0 -> cut_off(1) }
	:: d_step { !quiet && (cut & BIT(2)) == 0 -> cut_off(2) }
	:: d_step { !quiet && (cut & BIT(3)) == 0 -> cut_off(3) }
	:: d_step { !quiet && (cut & BIT(1)) -> heal(1) }
	:: d_step { !quiet && (cut & BIT(2)) -> heal(2) }
	:: d_step { !quiet && (cut & BIT(3)) -> heal(3) }
	:: d_step { !quiet -> quiet = true; cut = 0; printf("quiet\n") }
	:: quiet -> break
	od
}

init
{
	atomic {
		live[1] = 1;
		live[2] = 2;
		live[3] = 3;
		run env();
		run daemon(1);
		run daemon(2);
		run daemon(3);
		run receiver(1);
		run receiver(2);
		run receiver(3)
	}
}

ltl live { (<> quiet) -> (<> [] converged) }

#ifdef PROBE
/* Both of node R's earlier instances collected, a chain (2 into 4, 4 into
 * 5), every node at rest and exact. */
ltl chain { [] !(hrec[1] == (BIT(2) | BIT(4)) && hrec[2] == (BIT(2) | BIT(4)) &&
		 hrec[3] == (BIT(2) | BIT(4)) && QUIESCENT && converged) }
#endif
