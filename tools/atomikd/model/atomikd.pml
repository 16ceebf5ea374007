/* SPDX-License-Identifier: GPL-2.0 */
/*
 * atomikd's replication protocol as built (tools/atomikd/atomikd.c), for SPIN.
 * tools/atomikd/model/check runs the checks; Documentation/atomik/cluster.rst
 * describes the protocol.
 *
 * What is modelled
 *
 *   Nodes 1..NN (3).  Node n has a live table instance, the contributor
 *   live[n], whose local contribution is accum[n] (what ATOMIK_READ_ACCUM
 *   returns), and the remote row remote[n] that its daemon writes
 *   (REMOTE_SET): state(n) = ref ^ accum[n] ^ remote[n], ref = 0.  The
 *   table is one block of one address.  A value is a bitmask and delta k
 *   is the bit 1 << k, so that the deltas a value is made of can be seen.
 *
 *   Contributors are numbered 1..NC: 1, 2 and 3 are the first instances of
 *   nodes 1, 2 and 3; NEW (4) is node R's (2's) instance after its
 *   restart.  On the wire a contributor is named by WIRE(c): c itself, the
 *   pair (node, instance), except in the NO_INCARNATION variant.
 *
 *   Node n's daemon (proctype daemon) loops over publish_changes() (its
 *   block, if it changed since it was last published, goes out under the
 *   next version) and send_everything() to every peer (anti-entropy: its
 *   own block and every block it holds of another contributor, frozen
 *   instances included, each with its version).  Its receiver (proctype
 *   receiver) runs handle() and apply_block(): a block of its own live
 *   instance is ignored; another contributor's replaces what is held,
 *   remote ^= old ^ new, only if its version is higher.
 *
 *   The network is a set of messages in flight: bit v of inf[IX(d, c)]
 *   says that version v of contributor c is on its way to node d, with
 *   the values pubval[PX(c, v)], what c published under v (one value per
 *   version: Safety 2 checks it).  Before the quiet phase a receiver takes
 *   any message to it, in any order, and either delivers it or loses it;
 *   in the variants without a version check it may also deliver it and
 *   keep it, to be delivered again, as often as it likes.  A set holds
 *   every behaviour of a bag with any number of copies of a message.  A
 *   message that its receiver would ignore (IGNORED: its own live
 *   instance, or a version not above the one it holds) is not kept in
 *   flight: it would stay ignored until the receiver restarts, and a
 *   restarted node's inbox is empty (a new connection).  A node can be
 *   cut off (bit n of cut): while it is, nothing is sent to it or by it
 *   and nothing is delivered to it.
 *
 *   The environment (proctype env) makes DELTAS deltas, each on any node;
 *   restarts node R at most once; cuts and heals any node, any number of
 *   times; and may, once, start the quiet phase: every cut node is healed
 *   and from then on nothing is lost nor cut (each receiver delivers every
 *   message in flight to it, once, in one step).
 *
 *   A restart (a reboot: the module's table and the daemon's memory are
 *   gone, and its checkpoint, of the old instance, is ignored) gives node R the new contributor
 *   NEW, accum 0 and no version yet.  The old instance stays a contributor
 *   wherever its blocks arrived, node R's own past included once it gets
 *   it back.  recover() is modelled by every peer answering with
 *   everything it holds; the answers are messages like any other: lost,
 *   late or repeated before the quiet phase, none from a cut peer.
 *
 * Bounds: NN = 3 nodes, DELTAS deltas in all (3 by default, -DDELTAS=N,
 * at most 7), one restart, of node R = 2 (none with -DNO_RESTART), and so
 * versions up to VMAX = DELTAS per contributor (every publish carries a
 * new delta).  Losses, duplicates, reordering and cuts are unbounded.
 * Fixing the node that restarts loses nothing: the nodes are otherwise
 * symmetric (deltas land on any node, any node can be cut).
 *
 * Properties
 *
 *   Safety 1 (assertion in deliver): a node never applies, for a
 *   contributor, a version older than one it has applied for it since its
 *   table instance began (ghost appmax).
 *
 *   Safety 2 (assertions in publish): under one contributor identity as
 *   the wire names it, published versions strictly increase, and a value
 *   published under a higher version holds every delta of the one before
 *   it (ghosts pubmax, pubmaxval).
 *
 *   Liveness (ltl live): (<> quiet) -> (<> [] converged), checked under
 *   weak fairness.  Once the network is reliable and healed (quiet never
 *   ends once begun, so this is [] (quiet -> <> [] converged)), every node
 *   ends, and stays, at ref ^ every live instance's accum ^ every delta of
 *   R's old instance that reached another node (ghost got[c]: the union of
 *   the values of the messages of c delivered to a node other than c's
 *   own).  Deltas on R not delivered to another node before its restart
 *   are the only loss allowed.
 *
 *   restart-cut (ltl restartcut, built with -DPROBE): the cluster tests'
 *   scenario is reachable; the check expects a counterexample to
 *   [] !rcdone.
 *
 * Broken variants (spin -DVARIANT), which the checks must catch
 *
 *   RAW_DELTAS        forwards each change as a raw delta, once, XOR-ed
 *                     on receipt: no versions, no anti-entropy, nothing to
 *                     answer a recovery with.
 *   NO_VERSION_CHECK  applies every block it receives, whatever its
 *                     version.
 *   NO_INCARNATION    a restarted node publishes under its old identity,
 *                     its versions starting again from 1 (the boot clock).
 *   NO_ANTI_ENTROPY   no periodic send_everything() (recovery answers
 *                     remain).
 *   NO_ECHO_CHECK     a node applies its own live instance's block relayed
 *                     back by a peer.
 *
 * The check also runs RAW_DELTAS with -DNO_RESTART, to show that losses
 * and duplicates alone defeat it.
 *
 * What the model leaves out of atomikd.c
 *
 *   - Blocks and addresses: one table, one block of one address; blocks
 *     are independent (each has its own version and message).
 *   - Versions are a counter per contributor; atomikd's are the boot clock
 *     made larger than the block's last version: both strictly increase
 *     while an instance lives, and an instance never outlives a boot.
 *   - The first publish_changes(true) of a block still 0: holding 0 under
 *     a version and holding nothing give the same remote row.
 *   - A daemon restarted on a live table instance: the checkpoint makes
 *     it resume where it stopped (same instance, contributors and remote
 *     row; what it received and had not written is as if delivered later;
 *     what it published and had not checkpointed is published again under
 *     a later clock value).
 *   - The gap between apply_block() and flush_remote(): the model writes
 *     the remote row as it applies a block.
 *   - invalid() (every message is a valid block), hello and end messages,
 *     peer tracking, the recovery timeout (answers arrive at any time,
 *     before or after the restarted node's first publish), NATS
 *     reconnections (a lost message), and max_contributors.
 *   - The interval between publish and anti-entropy: the daemon does both
 *     in one step; anti-entropy messages can be lost, so a round that
 *     reaches no one is one that did not happen.
 */

#define NN	3		/* nodes 1..NN */
#define R	2		/* the node that restarts */
#define NEW	4		/* R's instance after its restart */
#define NC	4		/* contributors 1..NC */
#define NW	5		/* row stride: contributor 1..NC */
#define VS	8		/* row stride: version 1..VMAX */

#ifndef DELTAS
#define DELTAS	3
#endif
#if DELTAS < 1 || DELTAS > 7
#error DELTAS is 1 to 7: versions are bits of a byte
#endif
#define VMAX	DELTAS

#define IX(n, c)	((n) * NW + (c))
#define PX(c, v)	((c) * VS + (v))
#define NODE(c)		((c) == NEW -> R : (c))
#ifdef NO_INCARNATION
#define WIRE(c)		((c) == NEW -> R : (c))
#else
#define WIRE(c)		(c)
#endif
#define BIT(x)		(1 << (x))

/*
 * apply_block()'s two checks: what node n ignores of version v of c, its
 * own live instance relayed back, or (with the version check) a version
 * it holds or an older one.  Once true for a message it stays true while
 * n's instance lives: what n holds only grows.
 */
#ifdef NO_ECHO_CHECK
#define ECHO(n, c)	false
#else
#define ECHO(n, c)	(WIRE(c) == WIRE(live[n]))
#endif
#if defined(RAW_DELTAS) || defined(NO_VERSION_CHECK)
#define IGNORED(n, c, v)	ECHO(n, c)
#else
#define IGNORED(n, c, v)	(ECHO(n, c) || (v) <= hv[IX(n, WIRE(c))])
#endif
#define LINK(a, b)	((cut & (BIT(a) | BIT(b))) == 0)

/* The module, per node. */
byte accum[NN + 1];		/* this instance's contribution (READ_ACCUM) */
byte remote[NN + 1];		/* the remote row (REMOTE_SET) */
byte live[NN + 1];		/* the table instance: a contributor */

/* The daemon, per node. */
byte pub[NN + 1];		/* t->pub: its own block as last published */
byte pubv[NN + 1];		/* t->pub_ver */
byte hv[(NN + 1) * NW];		/* t->c[].ver: per contributor, the version held */
byte hval[(NN + 1) * NW];	/* t->c[].val: ... and its values */
#ifdef NO_INCARNATION
byte hsrc[(NN + 1) * NW];	/* which instance's values they are */
#define SRC(n, w)	hsrc[IX(n, w)]
#else
#define SRC(n, w)	(w)
#endif

/* The network. */
byte inf[(NN + 1) * NW];	/* bit v of inf[IX(d, c)]: (c, v) in flight to d */
byte pubval[NW * VS];		/* the values c published under version v */
byte cut;			/* bit n: node n is cut off */
bool quiet;			/* from now on nothing is lost nor cut */

/* The environment's budget. */
byte k;				/* deltas made: the next is BIT(k) */
byte restarts;			/* 0 or 1 */

/* Ghosts. */
byte appmax[(NN + 1) * NW];	/* Safety 1: the highest version applied */
byte pubmax[NW];		/* Safety 2: the highest version published ... */
byte pubmaxval[NW];		/* ... and its values */
byte got[NW];			/* the deltas of c that reached another node */

#define STATE(n)	(accum[n] ^ remote[n])
/* Every live instance's contribution, and what reached another node of
 * R's first instance once R restarted. */
#define EXPECTED	(accum[1] ^ accum[2] ^ accum[3] ^ ((restarts > 0) * got[R]))
#define converged	(STATE(1) == EXPECTED && STATE(2) == EXPECTED && \
			 STATE(3) == EXPECTED)

#ifdef PROBE
/*
 * restart-cut: R restarted while node 1 was cut off and held a later
 * version rcv of R's first instance than node 3 (rc1); R then applied an
 * older version of it, node 1 still cut off and node 3 still without rcv
 * (rc2); at the end node 1 is back, every node holds rcv and the cluster
 * has converged.
 */
bool rc1, rc2;
byte rcv;
#define rcdone	(rc2 && (cut & BIT(1)) == 0 && hv[IX(1, R)] == rcv && \
		 hv[IX(2, R)] == rcv && hv[IX(3, R)] == rcv && converged)
#endif

/*
 * Node `from` sends (c, v) to node d, unless either is cut off.  A message
 * that d would ignore is not kept in flight, nor one that d would now
 * ignore after it applied a block: it would stay ignored (IGNORED) until d
 * restarts, and a restart empties d's inbox, so leaving it out loses no
 * behaviour and saves states.  (Nor would it add to got[]: d holds a later
 * value of c, which has every delta of this one, or c is d's own.)
 */
inline send(from, d, c, v)
{
	if
	:: LINK(from, d) && !IGNORED(d, c, v) ->
		inf[IX(d, c)] = inf[IX(d, c)] | BIT(v)
	:: else -> skip
	fi
}

/* send_everything(), from node `from` to node d. */
inline send_everything(from, d)
{
	if
	:: pubv[from] > 0 -> send(from, d, live[from], pubv[from])
	:: else -> skip
	fi;
	for (w : 1 .. NC) {
		if
		:: hv[IX(from, w)] > 0 -> send(from, d, SRC(from, w), hv[IX(from, w)])
		:: else -> skip
		fi
	}
}

/* publish_changes(): a block that changed since it was last published goes
 * out under a new version. */
inline publish(n)
{
	if
	:: accum[n] != pub[n] ->
		pubv[n]++;
#ifdef RAW_DELTAS
		/* pubv is a sequence number only: the message is the change */
		pubval[PX(live[n], pubv[n])] = accum[n] ^ pub[n];
#else
		pubval[PX(live[n], pubv[n])] = accum[n];
		w = WIRE(live[n]);
		assert(pubv[n] > pubmax[w]);				/* Safety 2 */
		assert((accum[n] & pubmaxval[w]) == pubmaxval[w]);	/* Safety 2 */
		pubmax[w] = pubv[n];
		pubmaxval[w] = accum[n];
		w = 0;
#endif
#ifdef RAW_DELTAS
		printf("node %d sends contributor %d change %d: %d\n",
		       n, live[n], pubv[n], pubval[PX(live[n], pubv[n])]);
#else
		printf("node %d publishes contributor %d version %d: %d\n",
		       n, live[n], pubv[n], pubval[PX(live[n], pubv[n])]);
#endif
		pub[n] = accum[n];
		for (d : 1 .. NN) {
			if
			:: d != n -> send(n, d, live[n], pubv[n])
			:: else -> skip
			fi
		}
	:: else -> skip
	fi
}

/* Anti-entropy: send_everything() to every peer.  Raw deltas have none. */
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

/* handle() and apply_block(): node n receives version v of contributor c. */
inline deliver(n, c, v)
{
	val = pubval[PX(c, v)];
	w = WIRE(c);
	if
	:: NODE(c) != n -> got[c] = got[c] | val
	:: else -> skip
	fi;
	if
	:: IGNORED(n, c, v) -> skip	/* its own relayed back, a duplicate, older */
#ifdef RAW_DELTAS
	:: else ->
		printf("node %d applies contributor %d change %d: %d\n", n, c, v, val);
		remote[n] = remote[n] ^ val;
		hval[IX(n, w)] = hval[IX(n, w)] ^ val
#else
	:: else ->
		printf("node %d applies contributor %d version %d: %d\n", n, c, v, val);
		assert(v >= appmax[IX(n, w)]);			/* Safety 1 */
		if
		:: v > appmax[IX(n, w)] -> appmax[IX(n, w)] = v
		:: else -> skip
		fi;
		remote[n] = remote[n] ^ hval[IX(n, w)] ^ val;
		hval[IX(n, w)] = val;
		hv[IX(n, w)] = v;
#ifdef NO_INCARNATION
		hsrc[IX(n, w)] = c;
#endif
		/* what is in flight to n that it ignores now */
		for (p : 1 .. NC) {
			for (u : 1 .. VMAX) {
				if
				:: IGNORED(n, p, u) -> inf[IX(n, p)] = inf[IX(n, p)] & ~BIT(u)
				:: else -> skip
				fi
			}
		}
#ifdef PROBE
		if
		:: n == R && c == R && rc1 && (cut & BIT(1)) && v < rcv &&
		   hv[IX(3, R)] < rcv ->
			rc2 = true;
			printf("restart-cut: node %d recovered the older version %d of its first instance\n",
			       n, v)
		:: else -> skip
		fi;
#endif
		skip
#endif
	fi
}

proctype daemon(byte n)
{
	byte d, w;

	do
	:: d_step { publish(n); antientropy(n); d = 0; w = 0 }
	od
}

#define INBOX(n)	(inf[IX(n, 1)] | inf[IX(n, 2)] | inf[IX(n, 3)] | inf[IX(n, 4)])

proctype receiver(byte n)
{
	byte c, v, w, p, u, val;

end:	do
	:: atomic {
		!quiet && INBOX(n) != 0 && (cut & BIT(n)) == 0 ->
		if
		:: inf[IX(n, 1)] -> c = 1
		:: inf[IX(n, 2)] -> c = 2
		:: inf[IX(n, 3)] -> c = 3
		:: inf[IX(n, 4)] -> c = 4
		fi;
		if
		:: inf[IX(n, c)] & BIT(1) -> v = 1
		:: inf[IX(n, c)] & BIT(2) -> v = 2
		:: inf[IX(n, c)] & BIT(3) -> v = 3
		:: inf[IX(n, c)] & BIT(4) -> v = 4
		:: inf[IX(n, c)] & BIT(5) -> v = 5
		:: inf[IX(n, c)] & BIT(6) -> v = 6
		:: inf[IX(n, c)] & BIT(7) -> v = 7
		fi;
		if
		:: deliver(n, c, v);
		   inf[IX(n, c)] = inf[IX(n, c)] & ~BIT(v)
#if defined(RAW_DELTAS) || defined(NO_VERSION_CHECK)
		/* and kept, to be delivered again later (with the version
		 * check, what was applied is ignored from then on: no need) */
		:: deliver(n, c, v)
#endif
		:: inf[IX(n, c)] = inf[IX(n, c)] & ~BIT(v);
		   printf("lost: contributor %d version %d to node %d\n", c, v, n)
		fi;
		c = 0; v = 0; w = 0; p = 0; u = 0; val = 0
	   }
	:: d_step {
		quiet && INBOX(n) != 0 ->
		/* reliable: every message in flight to n, once */
		for (c : 1 .. NC) {
			for (v : 1 .. VMAX) {
				if
				:: inf[IX(n, c)] & BIT(v) -> deliver(n, c, v)
				:: else -> skip
				fi
			}
			inf[IX(n, c)] = 0
		}
		c = 0; v = 0; w = 0; p = 0; u = 0; val = 0
	   }
	od
}

/* A reboot of node R: a new table instance; the daemon's memory and its
 * inbox are gone; its peers answer its recovery request with everything
 * they hold. */
inline restart()
{
#ifdef PROBE
	if
	:: (cut & BIT(1)) && hv[IX(3, R)] > 0 && hv[IX(1, R)] > hv[IX(3, R)] ->
		rc1 = true;
		rcv = hv[IX(1, R)];
		printf("restart-cut: node 1 (cut off) holds version %d of node %d's first instance, node 3 version %d\n",
		       rcv, R, hv[IX(3, R)])
	:: else -> skip
	fi;
#endif
	printf("node %d restarts: contributor %d\n", R, NEW);
	restarts++;
	live[R] = NEW;
	accum[R] = 0;
	remote[R] = 0;
	pub[R] = 0;
	pubv[R] = 0;
	for (w : 1 .. NC) {
		hv[IX(R, w)] = 0;
		hval[IX(R, w)] = 0;
		appmax[IX(R, w)] = 0;
		inf[IX(R, w)] = 0;
#ifdef NO_INCARNATION
		hsrc[IX(R, w)] = 0;
#endif
	}
#ifndef RAW_DELTAS
	for (p : 1 .. NN) {
		if
		:: p != R -> send_everything(p, R)
		:: else -> skip
		fi
	}
#endif
	w = 0; p = 0
}

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
	byte n, w, p;

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
#ifndef NO_RESTART
	:: d_step { restarts == 0 -> restart() }
#endif
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
ltl restartcut { [] !rcdone }
#endif
