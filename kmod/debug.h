/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Race windows that the selftests widen, a failure they inject, and where
 * module init starts in a task's count of injectable allocations.  They
 * exist only in a build against a kernel with CONFIG_FAULT_INJECTION (the
 * test matrix's debug kernel), as root-only module parameters that are 0 by
 * default; elsewhere they compile to nothing.
 */
#ifndef ATOMIK_DEBUG_H
#define ATOMIK_DEBUG_H

#include <linux/types.h>

enum atomik_debug_point {
	ATOMIK_DEBUG_CREATE_PUBLISHED,	/* a new table just became visible */
	ATOMIK_DEBUG_DEVICE_READ,	/* an operation read the device's value */
	ATOMIK_DEBUG_UNBIND_FOLD,	/* unbind: before each accumulator */
	ATOMIK_DEBUG_DEVICE_NODE,	/* module init: /dev/atomik appeared */
	ATOMIK_DEBUG_NR_POINTS
};

/* Steps of module init, for debug_init_fail_nth. */
enum atomik_debug_init_step {
	ATOMIK_DEBUG_INIT_START,	/* init starts: the table comes next */
	ATOMIK_DEBUG_INIT_DRIVER,	/* the PCI driver registers next */
	ATOMIK_DEBUG_INIT_NODE,		/* misc_register() comes next */
	ATOMIK_DEBUG_INIT_DONE,		/* init returns */
	ATOMIK_DEBUG_INIT_STEPS
};

#ifdef ATOMIK_DEBUG_HOOKS
void atomik_debug_delay(enum atomik_debug_point point);
bool atomik_debug_fail_driver(void);
void atomik_debug_init_mark(enum atomik_debug_init_step step);
#else
static inline void atomik_debug_delay(enum atomik_debug_point point) { }
static inline bool atomik_debug_fail_driver(void) { return false; }
static inline void atomik_debug_init_mark(enum atomik_debug_init_step step) { }
#endif

#endif /* ATOMIK_DEBUG_H */
