/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ATOMiK's tracepoints (Documentation/atomik/tracing.rst): what the engine
 * applied, table lifetimes, and the accelerator's pushes, failures, binds
 * and unbinds.  Off, each costs a patched-out branch.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM atomik

#if !defined(ATOMIK_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define ATOMIK_TRACE_H

#include <linux/tracepoint.h>

/* Where a batch's deltas went. */
#define ATOMIK_PATH_CPU		0
#define ATOMIK_PATH_FPGA	1

TRACE_EVENT(atomik_batch,
	TP_PROTO(u32 table, u32 count, int path),
	TP_ARGS(table, count, path),
	TP_STRUCT__entry(
		__field(u32, table)
		__field(u32, count)
		__field(int, path)
	),
	TP_fast_assign(
		__entry->table = table;
		__entry->count = count;
		__entry->path = path;
	),
	TP_printk("table=%u count=%u path=%s", __entry->table, __entry->count,
		  __print_symbolic(__entry->path,
				   { ATOMIK_PATH_CPU, "cpu" },
				   { ATOMIK_PATH_FPGA, "fpga" }))
);

TRACE_EVENT(atomik_load,
	TP_PROTO(u32 table, u32 addr, u64 value),
	TP_ARGS(table, addr, value),
	TP_STRUCT__entry(
		__field(u32, table)
		__field(u32, addr)
		__field(u64, value)
	),
	TP_fast_assign(
		__entry->table = table;
		__entry->addr = addr;
		__entry->value = value;
	),
	TP_printk("table=%u addr=%u value=0x%llx", __entry->table, __entry->addr,
		  __entry->value)
);

TRACE_EVENT(atomik_swap,
	TP_PROTO(u32 table, u32 addr, u64 old_state, u64 new_ref),
	TP_ARGS(table, addr, old_state, new_ref),
	TP_STRUCT__entry(
		__field(u32, table)
		__field(u32, addr)
		__field(u64, old_state)
		__field(u64, new_ref)
	),
	TP_fast_assign(
		__entry->table = table;
		__entry->addr = addr;
		__entry->old_state = old_state;
		__entry->new_ref = new_ref;
	),
	TP_printk("table=%u addr=%u old_state=0x%llx new_ref=0x%llx",
		  __entry->table, __entry->addr, __entry->old_state, __entry->new_ref)
);

TRACE_EVENT(atomik_table_create,
	TP_PROTO(u32 table, u32 nr_addrs, u32 owner, u64 bytes, bool replicated),
	TP_ARGS(table, nr_addrs, owner, bytes, replicated),
	TP_STRUCT__entry(
		__field(u32, table)
		__field(u32, nr_addrs)
		__field(u32, owner)
		__field(u64, bytes)
		__field(bool, replicated)
	),
	TP_fast_assign(
		__entry->table = table;
		__entry->nr_addrs = nr_addrs;
		__entry->owner = owner;
		__entry->bytes = bytes;
		__entry->replicated = replicated;
	),
	TP_printk("table=%u nr_addrs=%u owner=%u bytes=%llu replicated=%d", __entry->table,
		  __entry->nr_addrs, __entry->owner, __entry->bytes, __entry->replicated)
);

TRACE_EVENT(atomik_table_destroy,
	TP_PROTO(u32 table),
	TP_ARGS(table),
	TP_STRUCT__entry(
		__field(u32, table)
	),
	TP_fast_assign(
		__entry->table = table;
	),
	TP_printk("table=%u", __entry->table)
);

TRACE_EVENT(atomik_remote_set,
	TP_PROTO(u32 table, u32 first, u32 count),
	TP_ARGS(table, first, count),
	TP_STRUCT__entry(
		__field(u32, table)
		__field(u32, first)
		__field(u32, count)
	),
	TP_fast_assign(
		__entry->table = table;
		__entry->first = first;
		__entry->count = count;
	),
	TP_printk("table=%u first=%u count=%u", __entry->table, __entry->first,
		  __entry->count)
);

TRACE_EVENT(atomik_fpga_push,
	TP_PROTO(u32 count, u32 tail),
	TP_ARGS(count, tail),
	TP_STRUCT__entry(
		__field(u32, count)
		__field(u32, tail)
	),
	TP_fast_assign(
		__entry->count = count;
		__entry->tail = tail;
	),
	TP_printk("count=%u tail=%u", __entry->count, __entry->tail)
);

TRACE_EVENT(atomik_fpga_failure,
	TP_PROTO(const char *what),
	TP_ARGS(what),
	TP_STRUCT__entry(
		__array(char, what, 16)
	),
	TP_fast_assign(
		strscpy(__entry->what, what, sizeof(__entry->what));
	),
	TP_printk("what=%s", __entry->what)
);

TRACE_EVENT(atomik_fpga_bind,
	TP_PROTO(u32 nr_addrs, u32 ring_entries, bool irq),
	TP_ARGS(nr_addrs, ring_entries, irq),
	TP_STRUCT__entry(
		__field(u32, nr_addrs)
		__field(u32, ring_entries)
		__field(bool, irq)
	),
	TP_fast_assign(
		__entry->nr_addrs = nr_addrs;
		__entry->ring_entries = ring_entries;
		__entry->irq = irq;
	),
	TP_printk("nr_addrs=%u ring_entries=%u irq=%d", __entry->nr_addrs,
		  __entry->ring_entries, __entry->irq)
);

TRACE_EVENT(atomik_fpga_unbind,
	TP_PROTO(u32 folded, bool failed),
	TP_ARGS(folded, failed),
	TP_STRUCT__entry(
		__field(u32, folded)
		__field(bool, failed)
	),
	TP_fast_assign(
		__entry->folded = folded;
		__entry->failed = failed;
	),
	TP_printk("folded=%u failed=%d", __entry->folded, __entry->failed)
);

#endif /* ATOMIK_TRACE_H */

/* The header is read again by define_trace.h, from this folder. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH trace
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE atomik
#include <trace/define_trace.h>
