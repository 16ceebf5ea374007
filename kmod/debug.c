// SPDX-License-Identifier: GPL-2.0
/*
 * The debug build's race windows and injected failure (see debug.h).
 */
#include <linux/atomic.h>
#include <linux/delay.h>
#include <linux/module.h>
#include <linux/sched.h>

#include "debug.h"

#define ATOMIK_DEBUG_PARAM(type, name, desc)				\
	static type name;						\
	module_param(name, type, 0600);					\
	MODULE_PARM_DESC(name, "Debug build: " desc)

ATOMIK_DEBUG_PARAM(uint, debug_delay_create_us,
		   "sleep after a new table is published (us)");
ATOMIK_DEBUG_PARAM(uint, debug_delay_device_us,
		   "sleep after every other operation read the accelerator (us)");
ATOMIK_DEBUG_PARAM(uint, debug_delay_unbind_us,
		   "sleep before each accumulator unbind folds (us)");
ATOMIK_DEBUG_PARAM(uint, debug_delay_init_ms,
		   "sleep in module init once /dev/atomik exists (ms)");
ATOMIK_DEBUG_PARAM(bool, debug_fail_driver,
		   "fail the PCI driver's registration in module init");

/*
 * What the loading task's /proc/self/fail-nth had left at each step of
 * module init: a test that fails each allocation of a module load in turn
 * knows which were the module loader's, which were ours and which the
 * driver core's (see fault_test.c).
 */
static unsigned int debug_init_fail_nth[ATOMIK_DEBUG_INIT_STEPS];
static unsigned int debug_init_steps = ATOMIK_DEBUG_INIT_STEPS;
module_param_array(debug_init_fail_nth, uint, &debug_init_steps, 0400);
MODULE_PARM_DESC(debug_init_fail_nth,
		 "Debug build: the loading task's fail-nth count at each step of module init");

void atomik_debug_init_mark(enum atomik_debug_init_step step)
{
	debug_init_fail_nth[step] = current->fail_nth;
}

static atomic_t atomik_debug_calls = ATOMIC_INIT(0);

void atomik_debug_delay(enum atomik_debug_point point)
{
	unsigned int us = 0;

	switch (point) {
	case ATOMIK_DEBUG_CREATE_PUBLISHED:
		us = READ_ONCE(debug_delay_create_us);
		break;
	case ATOMIK_DEBUG_DEVICE_READ:
		/* Every other operation: so that a later one overtakes. */
		if (atomic_inc_return(&atomik_debug_calls) & 1)
			us = READ_ONCE(debug_delay_device_us);
		break;
	case ATOMIK_DEBUG_UNBIND_FOLD:
		us = READ_ONCE(debug_delay_unbind_us);
		break;
	case ATOMIK_DEBUG_DEVICE_NODE:
		if (READ_ONCE(debug_delay_init_ms))
			msleep(READ_ONCE(debug_delay_init_ms));
		return;
	case ATOMIK_DEBUG_NR_POINTS:
		break;
	}
	if (us)
		fsleep(us);
}

bool atomik_debug_fail_driver(void)
{
	return READ_ONCE(debug_fail_driver);
}
