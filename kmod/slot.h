/* SPDX-License-Identifier: GPL-2.0 */
/*
 * An external slot of table 0: one more place where deltas accumulate,
 * besides the CPU slots (the accelerator of fpga.c).  The engine (slot.c)
 * decides which deltas go there, when its value is read and set back to 0,
 * and folds it into the CPU slots when it leaves; a backend only offers the
 * primitives below, which the engine calls one at a time.
 */
#ifndef ATOMIK_SLOT_H
#define ATOMIK_SLOT_H

#include <linux/types.h>
#include <linux/atomik.h>

struct atomik_ext_ops {
	const char *kind;	/* what sysfs backend_active calls it */
	/* Take n deltas, every address below the nr_addrs attach returned. */
	int (*push)(void *priv, const struct atomik_delta *d, u32 n);
	/* The accumulator of addr, every delta pushed before included. */
	int (*read)(void *priv, u32 addr, u64 *v);
	/* Set the accumulator of addr to 0. */
	int (*zero)(void *priv, u32 addr);
	/* A call failed ("ring", "read", "load", "unbind"); the slot is dropped. */
	void (*failed)(void *priv, const char *what);
};

int atomik_ext_attach(const struct atomik_ext_ops *ops, void *priv, u32 nr_addrs,
		      const char *name);
bool atomik_ext_detach(void *priv, u32 *folded);

#endif /* ATOMIK_SLOT_H */
