# SPDX-License-Identifier: GPL-2.0
# tools/bench: the benchmarks and their reports.  atomik-bench is installed
# (atomik bench runs it too); the others are measurements for developers.
# atomik-cluster-bench speaks to JetStream through the system's libnats, so
# it is linked to it like atomikd (the VM shares the host's /usr with a
# node's guest).
vpath %.c tools/bench
TOOLS		+= $(BUILD)/tools/atomik-bench
DEVTOOLS	+= $(BUILD)/tools/atomik-latency $(BUILD)/tools/atomik-scan \
		   $(BUILD)/tools/atomik-cluster-bench
TOOL_MAN1	+= tools/bench/atomik-bench.1

$(BUILD)/tools/atomik-cluster-bench: tools/bench/atomik-cluster-bench.c $(LIB)/libatomik.a $(UAPI_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) -o $@ $< $(LIB)/libatomik.a -luring -lnats -pthread
