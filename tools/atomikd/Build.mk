# SPDX-License-Identifier: GPL-2.0
# tools/atomikd: the cluster daemon, linked to the system's libnats (the
# VM shares the host's /usr with a node's guest), its man page, and the
# protocol's SPIN model (model/).
DAEMON		:= $(BUILD)/tools/atomikd
TOOL_MAN8	+= tools/atomikd/atomikd.8
ATOMIKD_SRC	:= $(addprefix tools/atomikd/,main.c core.c config.c device.c persist.c transport.c status.c)
ATOMIKD_HDRS	:= $(addprefix tools/atomikd/,atomikd.h core.h daemon.h)

$(DAEMON): $(ATOMIKD_SRC) $(ATOMIKD_HDRS) $(LIB)/libatomik.a $(UAPI_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) -o $@ $(ATOMIKD_SRC) $(LIB)/libatomik.a -luring -lnats -pthread

$(BUILD)/install/atomikd: $(ATOMIKD_SRC) $(ATOMIKD_HDRS) $(LIB)/$(LIB_REAL) $(UAPI_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) -o $@ $(ATOMIKD_SRC) $(LIB)/$(LIB_REAL) -lnats -pthread

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
