# SPDX-License-Identifier: GPL-2.0
# tools/bench: the benchmarks and their reports.  atomik-bench is installed
# (atomik bench runs it too); the others are measurements for developers.
vpath %.c tools/bench
TOOLS		+= $(BUILD)/tools/atomik-bench
DEVTOOLS	+= $(BUILD)/tools/atomik-latency $(BUILD)/tools/atomik-scan \
		   $(BUILD)/tools/atomik-cluster-bench
TOOL_MAN1	+= tools/bench/atomik-bench.1
