# SPDX-License-Identifier: GPL-2.0
# tools/atomikd: the cluster daemon, linked to the system's libnats and
# libsodium (the VM shares the host's /usr with a node's guest), its man
# page, and the protocol's SPIN model (model/).
DAEMON		:= $(BUILD)/tools/atomikd
TOOL_MAN8	+= tools/atomikd/atomikd.8
ATOMIKD_SRC	:= $(addprefix tools/atomikd/,main.c core.c config.c device.c persist.c transport.c status.c keys.c nkey.c)
ATOMIKD_HDRS	:= $(addprefix tools/atomikd/,atomikd.h core.h daemon.h nkey.h)

$(DAEMON): $(ATOMIKD_SRC) $(ATOMIKD_HDRS) $(LIB)/libatomik.a $(UAPI_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) -o $@ $(ATOMIKD_SRC) $(LIB)/libatomik.a -luring -lnats -lsodium -pthread

$(BUILD)/install/atomikd: $(ATOMIKD_SRC) $(ATOMIKD_HDRS) $(LIB)/$(LIB_REAL) $(UAPI_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) -o $@ $(ATOMIKD_SRC) $(LIB)/$(LIB_REAL) -lnats -lsodium -pthread

# The cluster simulator: the protocol core on many simulated nodes (host
# only; make check-sim, make sim).
SIM		:= $(BUILD)/tools/atomikd-sim

$(SIM): tools/atomikd/sim.c tools/atomikd/core.c $(ATOMIKD_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) -o $@ tools/atomikd/sim.c tools/atomikd/core.c

SEEDS		?= 100000
SEED		?= 1
# make sim [SEEDS=N] [SEED=S]: the named cases, then N random schedules.
sim: $(SIM)
	$(SIM) --cases --seeds $(SEEDS) --seed $(SEED)

# A step of make check: the cases and 10000 random schedules (about two
# minutes on two CPUs), build/check/sim.tap.
check-sim: $(SIM)
	tools/testing/atomik-check sim

# The fuzz targets (tools/atomikd/fuzz/, Documentation/atomik/testing.rst):
# libFuzzer with ASan and UBSan on what the daemon reads from others, the
# messages into its core, its configuration file and its checkpoints, each
# from its committed seeds (tools/atomikd/fuzz/corpus/TARGET/); what a run
# finds is kept in build/fuzz/corpus/TARGET/, a crash's input in
# build/fuzz/TARGET/.  make fuzz runs each FUZZ_SECONDS (600), one after
# the other; make check-fuzz each FUZZ_CHECK_SECONDS (20), a step of make
# check.  make fuzz-seeds writes the seeds again (their generator, seeds.c,
# drives three cores of the protocol and records what node 1 receives).
FUZZ_CC		?= clang
FUZZ_CFLAGS	:= -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		   -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
		   -Itools/atomikd -Itools/atomikd/fuzz $(TOOL_DEFS)
FUZZ_TARGETS	:= message config checkpoint
FUZZ_BINS	:= $(addprefix $(BUILD)/fuzz/fuzz-,$(FUZZ_TARGETS))
FUZZ_SECONDS	?= 600
FUZZ_CHECK_SECONDS ?= 20
FUZZ_HDRS	:= tools/atomikd/fuzz/fuzz.h $(ATOMIKD_HDRS)

$(BUILD)/fuzz/fuzz-message: tools/atomikd/fuzz/fuzz_message.c tools/atomikd/core.c $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tools/atomikd/fuzz/fuzz_message.c tools/atomikd/core.c

$(BUILD)/fuzz/fuzz-checkpoint: tools/atomikd/fuzz/fuzz_checkpoint.c tools/atomikd/core.c $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tools/atomikd/fuzz/fuzz_checkpoint.c tools/atomikd/core.c

$(BUILD)/fuzz/fuzz-config: tools/atomikd/fuzz/fuzz_config.c tools/atomikd/config.c tools/atomikd/nkey.c \
		$(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tools/atomikd/fuzz/fuzz_config.c tools/atomikd/config.c \
		tools/atomikd/nkey.c

$(BUILD)/fuzz/seeds: tools/atomikd/fuzz/seeds.c tools/atomikd/core.c $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) -Itools/atomikd/fuzz -o $@ tools/atomikd/fuzz/seeds.c tools/atomikd/core.c

fuzz-build: $(FUZZ_BINS)

fuzz-seeds: $(BUILD)/fuzz/seeds
	$(BUILD)/fuzz/seeds tools/atomikd/fuzz/corpus

# make fuzz [FUZZ_SECONDS=S] [FUZZ_TARGETS="message ..."]
fuzz: $(FUZZ_BINS)
	tools/testing/atomik-check fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

check-fuzz: $(FUZZ_BINS)
	tools/testing/atomik-check fuzz $(FUZZ_CHECK_SECONDS) $(FUZZ_TARGETS)
