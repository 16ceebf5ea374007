# SPDX-License-Identifier: GPL-2.0
# tools/atomik: the atomik command, its man page and its bash completion.
vpath %.c tools/atomik
TOOLS		+= $(BUILD)/tools/atomik
TOOL_HDRS	+= tools/atomikd/atomikd.h tools/bench/atomik-bench.h
TOOL_MAN1	+= tools/atomik/atomik.1
TOOL_COMPLETION	:= tools/atomik/atomik.bash-completion
