// SPDX-License-Identifier: GPL-2.0
/*
 * The accumulator engine's data path: accumulates, loads, swaps and reads
 * over a table's per-CPU XOR slots, and its remote row (see atomik.h).
 * The tables themselves, their memory and their registry are table.c's.
 */
#include <linux/bitmap.h>
#include <linux/bitops.h>
#include <linux/poll.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/local_lock.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/seqlock.h>
#include <linux/string.h>

#include "atomik.h"
#include "compat.h"
#include "debug.h"

#define CREATE_TRACE_POINTS
#include "trace/atomik.h"

/* The CPU slot a writer XORs into: preemption off, or a per-CPU sleeping
 * lock under PREEMPT_RT.
 */
static DEFINE_PER_CPU(local_lock_t, atomik_slot_lock) = INIT_LOCAL_LOCK(atomik_slot_lock);

static u64 atomik_fold(struct atomik_table *t, u32 addr)
{
	u64 v = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		v ^= READ_ONCE(t->slots[cpu][addr]);
	return v;
}

/*
 * One delta into a slot of this CPU's row, with the slot lock held.  A
 * mapped writer of this CPU (atomik.h) runs only while this task is
 * preempted, and only its own preemption restarts its sequence: were this
 * task preempted between its load and its store, the writer's delta would
 * be overwritten.  Without PREEMPT_RT the slot lock keeps preemption off
 * already; under PREEMPT_RT it does not, and each delta does, for two
 * instructions, which keeps a stretch preemptible between deltas.
 */
static __always_inline void atomik_slot_xor(u64 *slot, u64 delta)
{
	if (IS_ENABLED(CONFIG_PREEMPT_RT))
		preempt_disable();
	WRITE_ONCE(*slot, *slot ^ delta);
	if (IS_ENABLED(CONFIG_PREEMPT_RT))
		preempt_enable();
}

/*
 * XOR n deltas into the CPU slots, whatever the accelerator.  With track
 * (a replicated table), returns the zones they fall in (atomik.h): ORed
 * in a register, so that the loop touches no more memory than without.
 */
static u64 atomik_slots_apply(struct atomik_table *t, const struct atomik_delta *d, u32 n,
			      bool track)
{
	unsigned int shift = t->zone_shift;
	u64 zones = 0, *slot;
	u32 i = 0, end, a;

	while (i < n) {
		end = min_t(u32, n, i + ATOMIK_APPLY_CHUNK);
		local_lock(&atomik_slot_lock);
		slot = t->slots[smp_processor_id()];
		if (track) {
			for (; i < end; i++) {
				a = d[i].addr;
				atomik_slot_xor(&slot[a], d[i].delta);
				zones |= 1ULL << (a >> shift);
			}
		} else {
			for (; i < end; i++)
				atomik_slot_xor(&slot[d[i].addr], d[i].delta);
		}
		local_unlock(&atomik_slot_lock);
		if (i < n)
			cond_resched();
	}
	return zones;
}

DECLARE_WAIT_QUEUE_HEAD(atomik_changes_wq);

/* The change set went from empty to not empty: wake poll(). */
static void atomik_changes_signal(struct atomik_table *t)
{
	smp_mb__after_atomic();	/* the bits before the flag (atomik_changes_take()) */
	if (!test_bit(ATOMIK_CHANGES_PENDING, &t->change_flags) &&
	    !test_and_set_bit(ATOMIK_CHANGES_PENDING, &t->change_flags))
		wake_up_interruptible_poll(&atomik_changes_wq, EPOLLIN | EPOLLRDNORM);
}

/*
 * Deltas of a replicated table in zones are in its slots (or the
 * device's): mark the zones.  The barrier orders the stores of the deltas
 * before the load of the set: a bit seen set here may be taken at once,
 * and the taker must then read the deltas (see struct atomik_table).
 */
static void atomik_changes_mark(struct atomik_table *t, u64 zones)
{
	if (!zones)
		return;
	smp_mb();	/* the deltas' stores before the set's load */
	if ((READ_ONCE(t->changes) & zones) == zones)
		return;
	atomic_long_or(zones, (atomic_long_t *)&t->changes);
	atomik_changes_signal(t);
}

/* The zones of n deltas that did not go through atomik_slots_apply(). */
static u64 atomik_zones_of(struct atomik_table *t, const struct atomik_delta *d, u32 n)
{
	u64 zones = 0;
	u32 i;

	if (t->tracked)
		for (i = 0; i < n; i++)
			zones |= 1ULL << (d[i].addr >> t->zone_shift);
	return zones;
}

u32 atomik_change_bits(const struct atomik_table *t)
{
	return DIV_ROUND_UP(t->nr_addrs, 1U << t->zone_shift);
}

/*
 * Take t's change set into *map, leaving it empty; *count gets the bits
 * set, *untracked whether mapped writers may have changed what the set
 * does not show.  -EFAULT if map cannot be written: the set is as it was.
 */
int atomik_changes_take(struct atomik_table *t, u64 __user *map, u32 *count, bool *untracked)
{
	unsigned long v;

	if (put_user(0, map))
		return -EFAULT;
	/* A bit set after the word is taken raises the flag again. */
	clear_bit(ATOMIK_CHANGES_PENDING, &t->change_flags);
	smp_mb__after_atomic();	/* the flag cleared before the word is taken */
	*untracked = test_and_clear_bit(ATOMIK_CHANGES_MAPPED, &t->change_flags);
	if (atomic_read(&t->maps)) {
		set_bit(ATOMIK_CHANGES_MAPPED, &t->change_flags);
		*untracked = true;
	}
	/* A full barrier: the word is taken before the caller reads values. */
	v = xchg(&t->changes, 0);
	if (v && put_user((u64)v, map)) {
		atomic_long_or(v, (atomic_long_t *)&t->changes);
		atomik_changes_signal(t);
		return -EFAULT;
	}
	*count = hweight64(v);
	return 0;
}

void atomik_accum(struct atomik_table *t, u32 addr, u64 delta)
{
	struct atomik_delta d = { .addr = addr, .delta = delta };

	if (!atomik_ext_accum(t, &d, 1))
		atomik_changes_mark(t, atomik_slots_apply(t, &d, 1, t->tracked));
	else
		atomik_changes_mark(t, atomik_zones_of(t, &d, 1));
}

void atomik_accum_many(struct atomik_table *t, const struct atomik_delta *d, u32 n)
{
	bool ext = atomik_ext_accum(t, d, n);

	if (!ext)
		atomik_changes_mark(t, atomik_slots_apply(t, d, n, t->tracked));
	else
		atomik_changes_mark(t, atomik_zones_of(t, d, n));
	trace_atomik_batch(t->id, n, ext ? ATOMIK_PATH_FPGA : ATOMIK_PATH_CPU);
}

/* A leaving external slot's value for addr becomes part of the CPU slots. */
void atomik_absorb(struct atomik_table *t, u32 addr, u64 value)
{
	struct atomik_delta d = { .addr = addr, .delta = value };

	/* The contribution does not change: the value only moves. */
	atomik_slots_apply(t, &d, 1, false);
}

/*
 * Under t->lock: make addr's state *new_state (NULL: keep the state it has)
 * and return the old one.  dev is the external slot's value, which the
 * caller has just set back to 0 (see below).  The accumulator (base ^ fold)
 * then starts again from 0 with the new state as the reference.  A
 * replicated table's reference never changes: old ^ new is XORed into base
 * instead, with dev, so that the change is part of this node's
 * contribution like any delta.
 */
static u64 atomik_rebase(struct atomik_table *t, u32 addr, u64 dev, const u64 *new_state)
{
	u64 fold = atomik_fold(t, addr), old, new;

	old = t->ref[addr] ^ t->base[addr] ^ fold ^ dev;
	if (t->remote)
		old ^= t->remote[addr];
	new = new_state ? *new_state : old;
	if (t->remote) {
		t->base[addr] ^= dev ^ old ^ new;
	} else {
		t->base[addr] = fold;
		t->ref[addr] = new;
	}
	return old;
}

/*
 * Load, swap and read fold table 0's external slot (the accelerator, when
 * one is bound) in with the CPU slots.  From atomik_ext_hold() to
 * atomik_ext_release() the slot can neither arrive nor leave, and nobody
 * else can use it: its value is read, and for a load or swap set back to 0,
 * in the same critical section as the table's, so that each delta it took
 * is counted exactly once and a value a load discarded never comes back
 * (not even if the slot dies: a dead slot reads as 0).
 */
void atomik_load(struct atomik_table *t, u32 addr, u64 value)
{
	struct atomik_ext_hold h;
	u64 dev;

	dev = atomik_ext_hold(t, addr, &h);
	atomik_ext_take(&h, addr);
	write_seqlock(&t->lock);
	atomik_rebase(t, addr, dev, &value);
	write_sequnlock(&t->lock);
	atomik_ext_release(&h);
	atomik_changes_mark(t, atomik_zones_of(t, &(struct atomik_delta){ .addr = addr }, 1));
	trace_atomik_load(t->id, addr, value);
}

u64 atomik_swap(struct atomik_table *t, u32 addr, u64 new_ref, bool keep)
{
	struct atomik_ext_hold h;
	u64 dev, old;

	dev = atomik_ext_hold(t, addr, &h);
	atomik_ext_take(&h, addr);
	write_seqlock(&t->lock);
	old = atomik_rebase(t, addr, dev, keep ? NULL : &new_ref);
	write_sequnlock(&t->lock);
	atomik_ext_release(&h);
	atomik_changes_mark(t, atomik_zones_of(t, &(struct atomik_delta){ .addr = addr }, 1));
	trace_atomik_swap(t->id, addr, old, keep ? old : new_ref);
	return old;
}

u64 atomik_read(struct atomik_table *t, u32 addr, bool accum_only)
{
	struct atomik_ext_hold h;
	u64 dev = atomik_ext_hold(t, addr, &h);
	unsigned int seq;
	u64 v;

	do {
		seq = read_seqbegin(&t->lock);
		v = t->base[addr] ^ atomik_fold(t, addr) ^ dev;
		if (!accum_only) {
			v ^= t->ref[addr];
			if (t->remote)
				v ^= t->remote[addr];
		}
	} while (read_seqretry(&t->lock, seq));
	atomik_ext_release(&h);
	return v;
}

/* Addresses read row by row in one read section of the seqlock. */
#define ATOMIK_READ_STRETCH	64

/*
 * Addresses first to first + n - 1 (all in range), as atomik_read() reads
 * each, into v.  Row by row rather than address by address: base, ref and
 * remote of a stretch of addresses, then each CPU's slots for them, in one
 * read section, so that every address is read with its slots, base and
 * ref of one instant, as atomik_read() does.  Table 0 with an external
 * slot goes address by address, each with its hold.  A slot that arrives
 * meanwhile holds only deltas accumulated after this call began (it
 * starts at 0); one that leaves is folded into the CPU slots before it
 * stops being attached.
 */
void atomik_read_many(struct atomik_table *t, u32 first, u32 n, bool accum_only, u64 *v)
{
	u32 i, end, done;
	unsigned int seq;
	int cpu;

	if (t->id == 0 && atomik_ext_attached()) {
		for (i = 0; i < n; i++)
			v[i] = atomik_read(t, first + i, accum_only);
		return;
	}
	for (done = 0; done < n; done = end) {
		end = min_t(u32, n, done + ATOMIK_READ_STRETCH);
		do {
			seq = read_seqbegin(&t->lock);
			for (i = done; i < end; i++)
				v[i] = t->base[first + i];
			if (!accum_only) {
				for (i = done; i < end; i++)
					v[i] ^= t->ref[first + i];
				if (t->remote)
					for (i = done; i < end; i++)
						v[i] ^= t->remote[first + i];
			}
			for_each_possible_cpu(cpu) {
				const u64 *slot = t->slots[cpu] + first;

				for (i = done; i < end; i++)
					v[i] ^= READ_ONCE(slot[i]);
			}
		} while (read_seqretry(&t->lock, seq));
	}
}

/*
 * A replicated table's remote row, addresses first to first + n - 1, all in
 * range: set to exactly v, or read into v.  Each address is set under the
 * table's seqlock, so a concurrent read sees it before or after, never
 * torn; a read of many addresses may see some set and others not yet.  The
 * lock is taken per stretch of ATOMIK_APPLY_CHUNK addresses, which bounds
 * how long a reader waits.
 */
void atomik_remote_set(struct atomik_table *t, u32 first, u32 n, const u64 *v)
{
	u32 i = 0, end;

	while (i < n) {
		end = min_t(u32, n, i + ATOMIK_APPLY_CHUNK);
		write_seqlock(&t->lock);
		for (; i < end; i++)
			t->remote[first + i] = v[i];
		write_sequnlock(&t->lock);
		if (i < n)
			cond_resched();
	}
	trace_atomik_remote_set(t->id, first, n);
}

void atomik_remote_read(struct atomik_table *t, u32 first, u32 n, u64 *v)
{
	unsigned int seq;
	u32 i = 0, end;

	while (i < n) {
		end = min_t(u32, n, i + ATOMIK_APPLY_CHUNK);
		do {
			seq = read_seqbegin(&t->lock);
			memcpy(v + i, t->remote + first + i, (end - i) * sizeof(*v));
		} while (read_seqretry(&t->lock, seq));
		i = end;
		if (i < n)
			cond_resched();
	}
}
