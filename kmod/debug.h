/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Race windows that the selftests widen, and a failure they inject.  They
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

#ifdef ATOMIK_DEBUG_HOOKS
void atomik_debug_delay(enum atomik_debug_point point);
bool atomik_debug_fail_driver(void);
#else
static inline void atomik_debug_delay(enum atomik_debug_point point) { }
static inline bool atomik_debug_fail_driver(void) { return false; }
#endif

#endif /* ATOMIK_DEBUG_H */
