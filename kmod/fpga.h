/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The accelerator's driver (fpga.c): registered with the module, and its
 * own sysfs attributes.
 */
#ifndef ATOMIK_FPGA_H
#define ATOMIK_FPGA_H

#include <linux/sysfs.h>

int atomik_fpga_init(void);
void atomik_fpga_exit(void);
extern const struct attribute_group atomik_fpga_group;

#endif /* ATOMIK_FPGA_H */
