# SPDX-License-Identifier: GPL-2.0
#
# make            the module (against KDIR), the library, the tools, the selftests
# make check      everything, then the selftests in a VM on every kernel of the matrix
# make module-K   the module for kernel K of the matrix (6.1, 6.12, 6.12-rt, 6.12-debug) in build/K/

VERSION		:= 0.1.0
KERNELS		?= 6.1 6.12 6.12-rt 6.12-debug
# The kernel tree 'make module' builds against: KDIR, else the running
# kernel's headers, resolved once here.  Without either, the module's
# targets (module, install-module) fall back to the matrix's 6.1 headers
# (fetched into .cache/ if needed); no other target looks for a kernel.
ifeq ($(origin KDIR),undefined)
KDIR		:= $(wildcard /lib/modules/$(shell uname -r)/build)
endif
BUILD		:= $(CURDIR)/build

CC		?= gcc
CFLAGS		?= -O2 -g
CFLAGS		+= -Wall -Wextra -Wno-unused-parameter -std=gnu11 \
		   -I$(CURDIR)/uapi -I$(CURDIR)/libatomik -D_GNU_SOURCE
TEST_LDFLAGS	:= -static -pthread

LIB		:= $(BUILD)/libatomik
# The library's version lives in its header; the real file carries all of it.
LIB_VERSION	:= $(shell awk '/^\#define ATOMIK_VERSION_(MAJOR|MINOR|PATCH)/ \
			{ v = v (v == "" ? "" : ".") $$3 } END { print v }' libatomik/atomik.h)
LIB_SONAME	:= libatomik.so.$(firstword $(subst ., ,$(LIB_VERSION)))
LIB_REAL	:= libatomik.so.$(LIB_VERSION)

KMOD_SRC	:= Kbuild kmod/Kbuild $(filter-out %.mod.c,$(wildcard kmod/*.[ch] kmod/trace/*.h \
			uapi/linux/*.h))
SELFTESTS	:= $(patsubst selftests/%.c,$(BUILD)/selftests/%,\
			$(wildcard selftests/*_test.c))

UAPI_HDRS	:= $(wildcard uapi/linux/*.h)

# The tools, a folder each with its fragment, as in the kernel's tools/:
# tools/atomik (the command), tools/atomikd (the cluster daemon),
# tools/bench (the benchmarks); tools/testing holds the VM rig's scripts.
# A fragment adds to TOOLS (installed), DEVTOOLS (measurements for
# developers, not installed) and TOOL_HDRS, and names its folder in vpath.
TOOLS		:=
DEVTOOLS	:=
TOOL_HDRS	:=
# The fragments have rules of their own: make with no target is still all.
.DEFAULT_GOAL	:= all
include tools/atomik/Build.mk tools/atomikd/Build.mk tools/bench/Build.mk
# The cluster tests' probe, linked to the system's libnats (the VM shares
# the host's /usr with a node's guest).
PROBE		:= $(BUILD)/selftests/cluster_probe
EXAMPLES	:= $(BUILD)/examples/two_streams

PREFIX		?= /usr/local
BINDIR		?= $(PREFIX)/bin
SBINDIR		?= $(PREFIX)/sbin
LIBDIR		?= $(PREFIX)/lib
INCLUDEDIR	?= $(PREFIX)/include
MANDIR		?= $(PREFIX)/share/man
UDEVDIR		?= /usr/lib/udev/rules.d
# Where systemd and bash look, whatever the prefix.
SYSTEMDLIBDIR	?= /usr/lib
COMPLETIONDIR	?= /usr/share/bash-completion/completions
DKMSDIR		?= /usr/src/atomik-$(VERSION)

# The Python module, a folder of its own with its fragment (PYTHON_TARGETS,
# install-python).
include python/Build.mk

.PHONY: all module modules clean check lint sim check-sim lib tools examples selftests python demo fpga-sim fpga-syn cosim bench-rt bench-scan \
	bench-cluster check-cluster-bench \
	print-lib-version print-version check-host check-rtl check-plot check-metrics check-model \
	fuzz fuzz-build fuzz-seeds check-fuzz \
	install install-files install-userspace install-lib install-tools install-udev install-system install-python \
	install-module install-dkms $(addprefix module-,$(KERNELS))

all: module lib tools examples selftests python

# The recipes' kernel tree: KDIR, or the fetched 6.1 headers.
KDIR_SH		= kdir='$(KDIR)'; \
		  [ -n "$$kdir" ] || kdir=$$($(CURDIR)/tools/testing/atomik-kernels --print-kdir 6.1)

module modules:
	@$(KDIR_SH) && $(MAKE) -C "$$kdir" M=$(CURDIR) modules

# One copy of the module sources per kernel, so that builds for different
# kernels never share objects.
$(addprefix module-,$(KERNELS)): module-%: $(KMOD_SRC)
	@kdir=$$($(CURDIR)/tools/testing/atomik-kernels --print-kdir $*) && \
	mkdir -p $(BUILD)/$* && \
	find $(KMOD_SRC) | cpio -pdmu --quiet $(BUILD)/$* && \
	$(MAKE) -s -C $$kdir M=$(BUILD)/$* modules

lib: $(LIB)/libatomik.a $(LIB)/$(LIB_REAL)

print-lib-version:
	@echo $(LIB_VERSION)

print-version:
	@echo $(VERSION)

LIB_OBJS	:= $(LIB)/atomik.o $(LIB)/map.o $(LIB)/queue.o

$(LIB)/%.o: libatomik/%.c libatomik/atomik.h uapi/linux/atomik.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -c -o $@ $<

$(LIB)/libatomik.a: $(LIB_OBJS)
	$(AR) rcs $@ $^

$(LIB)/$(LIB_REAL): $(LIB_OBJS) libatomik/libatomik.map
	$(CC) -shared -Wl,-soname,$(LIB_SONAME) \
		-Wl,--version-script=libatomik/libatomik.map -o $@ $(LIB_OBJS) -luring
	ln -sf $(LIB_REAL) $(LIB)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(LIB)/libatomik.so

python: $(PYTHON_TARGETS)

# The tools run inside the test VM as well, so they are linked statically.
tools: $(TOOLS) $(DEVTOOLS) $(DAEMON) $(SIM)

# The package's version, for atomik --version.
TOOL_DEFS	:= -DATOMIK_PACKAGE_VERSION='"$(VERSION)"'
TOOL_CFLAGS	:= $(CFLAGS) $(TOOL_DEFS) -Itools/atomikd -Itools/bench

# A tool of one C file, found through the fragments' vpath.
$(BUILD)/tools/%: %.c $(LIB)/libatomik.a $(UAPI_HDRS) $(TOOL_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) -o $@ $< $(LIB)/libatomik.a -luring $(TEST_LDFLAGS)

# What make install puts in BINDIR: the same tools linked to libatomik.so.1.
INSTALL_TOOLS	:= $(patsubst $(BUILD)/tools/%,$(BUILD)/install/%,$(TOOLS))

$(BUILD)/install/%: %.c $(LIB)/$(LIB_REAL) $(UAPI_HDRS) $(TOOL_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) -o $@ $< $(LIB)/$(LIB_REAL) -pthread

examples: $(EXAMPLES)

$(BUILD)/examples/%: libatomik/examples/%.c $(LIB)/libatomik.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB)/libatomik.a -luring $(TEST_LDFLAGS)

selftests: $(SELFTESTS) $(PROBE) $(BUILD)/selftests/harness_check

# The harness checked by itself on the host (tools/testing/atomik-check host).
$(BUILD)/selftests/harness_check: selftests/harness_check.c selftests/harness.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -pthread

$(PROBE): selftests/cluster_probe.c tools/atomikd/nkey.c tools/atomikd/atomikd.h tools/atomikd/nkey.h \
		$(LIB)/libatomik.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itools/atomikd -o $@ $< tools/atomikd/nkey.c $(LIB)/libatomik.a -luring \
		-lnats -lsodium -pthread

$(BUILD)/selftests/%: selftests/%.c selftests/harness.h selftests/util.h selftests/tracefs.h \
		$(LIB)/libatomik.a $(wildcard uapi/linux/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB)/libatomik.a -luring $(TEST_LDFLAGS)

# make install [DESTDIR=...] [PREFIX=/usr/local]: the module (for KDIR), the
# library, its headers and pkg-config file, the tools, the man pages, the
# udev rule, the Python module, and the system's files: the module loaded at
# boot, an example of its options, the atomik group, a unit that keeps table
# 0 across reboots (not enabled) and bash completion.  Without DESTDIR,
# depmod and ldconfig run.  install-userspace is all but the module, for a
# module that DKMS installs from the sources install-dkms puts in place.
install: install-module install-userspace

# What make install puts in place, built and not installed.
install-files: module lib $(INSTALL_TOOLS) $(BUILD)/install/atomikd $(PY_EXT_INSTALL)

install-userspace: install-lib install-tools install-udev install-system install-python

install-lib: lib
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/linux \
		$(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7
	install -m 0644 $(LIB)/libatomik.a $(DESTDIR)$(LIBDIR)/
	install -m 0755 $(LIB)/$(LIB_REAL) $(DESTDIR)$(LIBDIR)/
	ln -sf $(LIB_REAL) $(DESTDIR)$(LIBDIR)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libatomik.so
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(LIB_VERSION)|' libatomik/libatomik.pc.in \
	    > $(DESTDIR)$(LIBDIR)/pkgconfig/atomik.pc
	install -m 0644 libatomik/atomik.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 0644 uapi/linux/atomik.h $(DESTDIR)$(INCLUDEDIR)/linux/
	install -m 0644 $(wildcard libatomik/man/*.3) $(DESTDIR)$(MANDIR)/man3/
	install -m 0644 $(wildcard libatomik/man/*.7) $(DESTDIR)$(MANDIR)/man7/
	[ -n "$(DESTDIR)" ] || ldconfig

install-tools: $(INSTALL_TOOLS) $(BUILD)/install/atomikd
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(INSTALL_TOOLS) $(DESTDIR)$(BINDIR)/
	install -m 0755 $(BUILD)/install/atomikd $(DESTDIR)$(SBINDIR)/
	install -m 0644 $(TOOL_MAN1) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(TOOL_MAN8) $(DESTDIR)$(MANDIR)/man8/

install-udev:
	install -d $(DESTDIR)$(UDEVDIR)
	install -m 0644 packaging/60-atomik.rules $(DESTDIR)$(UDEVDIR)/

install-system:
	install -d $(DESTDIR)$(SYSTEMDLIBDIR)/modules-load.d $(DESTDIR)$(SYSTEMDLIBDIR)/modprobe.d \
		$(DESTDIR)$(SYSTEMDLIBDIR)/sysusers.d $(DESTDIR)$(SYSTEMDLIBDIR)/systemd/system \
		$(DESTDIR)$(COMPLETIONDIR)
	install -m 0644 packaging/modules-load.conf $(DESTDIR)$(SYSTEMDLIBDIR)/modules-load.d/atomik.conf
	install -m 0644 packaging/modprobe.conf $(DESTDIR)$(SYSTEMDLIBDIR)/modprobe.d/atomik.conf
	install -m 0644 packaging/sysusers.conf $(DESTDIR)$(SYSTEMDLIBDIR)/sysusers.d/atomik.conf
	sed 's|@BINDIR@|$(BINDIR)|g' packaging/atomik-state.service.in \
		> $(DESTDIR)$(SYSTEMDLIBDIR)/systemd/system/atomik-state.service
	sed 's|@SBINDIR@|$(SBINDIR)|g' packaging/atomikd.service.in \
		> $(DESTDIR)$(SYSTEMDLIBDIR)/systemd/system/atomikd.service
	install -d $(DESTDIR)/etc/atomik
	[ -e $(DESTDIR)/etc/atomik/atomikd.conf ] || \
		install -m 0600 packaging/atomikd.conf $(DESTDIR)/etc/atomik/atomikd.conf
	install -m 0644 $(TOOL_COMPLETION) $(DESTDIR)$(COMPLETIONDIR)/atomik

install-module: module
	@$(KDIR_SH) && $(MAKE) -C "$$kdir" M=$(CURDIR) INSTALL_MOD_PATH=$(DESTDIR) \
		INSTALL_MOD_DIR=updates modules_install && \
	{ [ -n "$(DESTDIR)" ] || depmod "$$(cat "$$kdir/include/config/kernel.release")"; }

install-dkms:
	install -d $(DESTDIR)$(DKMSDIR)
	find $(KMOD_SRC) \
		| cpio -pdmu --quiet $(DESTDIR)$(DKMSDIR)
	sed 's/@VERSION@/$(VERSION)/' dkms.conf \
		> $(DESTDIR)$(DKMSDIR)/dkms.conf

# The main job: three VMs on one private network, the product's example
# across them, a partition healed, and every node's state step by step
# (tools/testing/vm/cluster-demo; atomik demo shows the same on one machine).
demo:
	tools/testing/atomik-kernels --setup-demo 6.12
	$(MAKE) module-6.12 lib tools
	@echo "make demo: three VMs, each with atomik.ko, nats-server and atomikd; node 3"
	@echo "is cut off 10 s after they start and back at 18 s (about a minute)"
	tools/testing/atomik-vm --kernel 6.12 --no-build --nodes 3 --cut 3:10:18 --quiet \
		--timeout 300 --out $(BUILD)/demo -- tools/testing/vm/cluster-demo; \
	rc=$$?; sed -n '/^ATOMiK across/,/whatever the order/p' $(BUILD)/demo/node1/console.log; \
	[ $$rc -eq 0 ] || { cat $(BUILD)/demo/timeline.log; \
		echo "make demo: the rig exited $$rc (consoles in $(BUILD)/demo/node*/)"; }; \
	exit $$rc

# On a fresh Debian 12 machine, as root, the first step installs what the
# build and the VM need (apt-get) and fetches the kernels of the matrix.
# Then each step writes one TAP file into build/check/ (tools/testing/atomik-check):
# host checks, the RTL's testbench, the cluster simulator, atomikd's fuzz
# targets (check-fuzz: 20 s each, a minute in all), a VM boot per kernel, one more per
# kernel with the co-simulated accelerator, one with a polled accelerator
# (on the debug kernel, else the first), the cluster on three VMs, the
# README's install and cluster as written on three more, the short cluster
# benchmark, and drawing a benchmark; a step
# that fails does not stop the others, and the summary counts them all.
CHECK_POLL	:= $(firstword $(filter %-debug,$(KERNELS)) $(KERNELS))
# The accelerator's full passes on these kernels (the non-RT 6.12 and the
# debug build, where its races are widened); on the others only the driver's
# test and the mapped rows with the device bound (+fpga-light): the engine's
# passes with the device are the same code on every kernel, and four of
# them cost about 20 minutes of make check.
FPGA_FULL	?= $(filter 6.12 %-debug,$(KERNELS))
CHECK_RUNS	:= $(foreach k,$(KERNELS),$(k) $(k)+fpga$(if $(filter $(k),$(FPGA_FULL)),,-light)) \
		   $(CHECK_POLL)+fpga-poll
# The three-VM cluster tests run on these kernels.
CLUSTER_KERNELS	?= 6.12
CHECK_STEPS	:= host rtl sim fuzz $(addprefix vm-,$(CHECK_RUNS)) $(addprefix cluster-,$(CLUSTER_KERNELS)) \
			install cluster-bench plot metrics model
CHECK_TAPS	:= $(addprefix $(BUILD)/check/,host.tap rtl.tap sim.tap fuzz.tap \
			$(addsuffix .tap,$(CHECK_RUNS) $(addprefix cluster-,$(CLUSTER_KERNELS))) install.tap \
			cluster-bench.tap plot.tap metrics.tap model.tap)

check:
	tools/testing/atomik-kernels --setup $(KERNELS)
	$(MAKE) all
	-$(MAKE) -j1 -k $(addprefix check-,$(CHECK_STEPS))
	tools/testing/atomik-check summary $(CHECK_TAPS)

# One step alone, e.g. make check-vm-6.12+fpga (after make check has set
# up the kernels once).
check-host: all
	tools/testing/atomik-check host $(KERNELS)

check-rtl:
	tools/testing/atomik-check rtl

# The Python module's tests run in one VM run, the first kernel's.
CHECK_PYTHON	:= $(firstword $(KERNELS))

check-vm-%: lib tools selftests examples python
	@case '$*' in *+fpga*) $(MAKE) -s cosim;; esac
	ATOMIK_CHECK_PYTHON=$(CHECK_PYTHON) tools/testing/atomik-check vm $*

# The cluster: selftests/cluster_test.sh's scenarios on three VMs.
check-cluster-%: lib tools selftests
	tools/testing/atomik-check cluster $*

# README.md's install and cluster commands, run as written on three VMs
# (tools/testing/vm/readme-install), on the first cluster kernel.
check-install:
	tools/testing/atomik-check install $(firstword $(CLUSTER_KERNELS))

# The cluster benchmark's Automerge, installed from its lockfile into
# build/npm with npm ci (again when the lockfile changes), where the
# guests, which share the checkout, find it.
NPM_CACHE	:= $(BUILD)/npm
AUTOMERGE	:= $(NPM_CACHE)/node_modules/@automerge/automerge/package.json

$(AUTOMERGE): tools/bench/automerge/package.json tools/bench/automerge/package-lock.json
	@mkdir -p $(NPM_CACHE)
	cp tools/bench/automerge/package.json tools/bench/automerge/package-lock.json $(NPM_CACHE)/
	cd $(NPM_CACHE) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The document every node starts from: 65536 counters, made once here.
AM_TABLE	:= $(NPM_CACHE)/table.automerge

$(AM_TABLE): $(AUTOMERGE) tools/bench/automerge/am-node.mjs
	cp tools/bench/automerge/am-node.mjs $(NPM_CACHE)/
	node $(NPM_CACHE)/am-node.mjs table $@

# The cluster benchmark, short (about 4 minutes): ATOMiK against etcd,
# Automerge and JetStream on three VMs, the table printed
# (Documentation/atomik/cluster-benchmark.rst).
check-cluster-bench: lib tools $(AM_TABLE)
	tools/testing/atomik-check cluster-bench $(firstword $(CLUSTER_KERNELS))

check-plot: tools
	tools/testing/atomik-check plot

# Prometheus' promtool on what atomik stat --prometheus printed in each
# VM run (after them).
check-metrics:
	tools/testing/atomik-check metrics

# The replication protocol's Promela model, checked with SPIN (Debian's
# spin package): the protocol as built passes safety and liveness, each
# broken variant fails (about 90 s; a step of make check).
check-model:
	tools/testing/atomik-check model

# The cluster benchmark, full (about an hour; not part of make check):
# ATOMiK against etcd, Automerge and JetStream on three VMs, three runs of
# each phase; Automerge's document after 1,000,000 updates, measured on the
# host (a size, not a time); the host's load before and after.  The table
# in build/bench-cluster/table.txt, the plots beside it.  REPLAY="1000000
# 10000000" adds JetStream's replay of 10,000,000 events (hours under
# emulation).  Documentation/atomik/cluster-benchmark.rst has the figures.
BENCH_OUT	:= $(BUILD)/bench-cluster
bench-cluster:
	tools/testing/atomik-kernels --setup-bench 6.12
	$(MAKE) module-6.12 lib tools $(AM_TABLE)
	@mkdir -p $(BENCH_OUT)
	cat /proc/loadavg > $(BENCH_OUT)/host-load.before
	git log -1 --format='%h (%cs)' -- tools/atomikd > $(BENCH_OUT)/atomikd.version
	tools/testing/atomik-vm --kernel 6.12 --no-build --nodes 3 \
		--mem 1536 --modparams nr_addrs=65536 --quiet --timeout 10800 --out $(BENCH_OUT) -- \
		env REPLAY="$(REPLAY)" tools/bench/cluster-bench full
	cat /proc/loadavg > $(BENCH_OUT)/host-load.after
	for a in 100 65536; do \
		nice node $(NPM_CACHE)/am-node.mjs size 1000000 $$a 1000 \
			> $(BENCH_OUT)/automerge-size.$$a || exit 1; \
	done
	tools/bench/atomik-cluster-report $(BENCH_OUT) --plot $(BENCH_OUT) | tee $(BENCH_OUT)/table.txt

# The scheduling latency batches cause on the PREEMPT_RT kernel (minutes;
# not part of make check): Documentation/atomik/design.rst has the figures.
bench-rt:
	tools/testing/atomik-kernels --setup-demo 6.12-rt
	$(MAKE) module-6.12-rt lib tools
	tools/testing/atomik-vm --kernel 6.12-rt --cpus 2 -- build/tools/atomik-latency --seconds 20

# What a cluster daemon's 10 Hz scan of a 65536-address replicated table
# costs, with 2 and 4 CPUs (a minute; not part of make check):
# Documentation/atomik/design.rst has the figures.
bench-scan:
	tools/testing/atomik-kernels --setup-demo 6.12
	$(MAKE) module-6.12 lib tools
	for n in 2 4; do \
		tools/testing/atomik-vm --kernel 6.12 --no-build --cpus $$n -- \
			build/tools/atomik-scan --addrs 65536 --hz 10 || exit 1; \
	done

# The RTL's self-checking testbench (TAP), and its synthesis report.
FPGA_RTL	:= fpga/rtl/atomik_core.v fpga/rtl/atomik_regs.vh

$(BUILD)/fpga/tb_atomik_core.vvp: fpga/sim/tb_atomik_core.v $(FPGA_RTL)
	@mkdir -p $(dir $@)
	iverilog -g2012 -Wall -I fpga/rtl -o $@ fpga/sim/tb_atomik_core.v fpga/rtl/atomik_core.v

fpga-sim: $(BUILD)/fpga/tb_atomik_core.vvp
	vvp -n $<

fpga-syn:
	fpga/syn/run

# The co-simulated device: the RTL compiled by Verilator, and its bridge to
# the shared memory of QEMU's ivshmem-plain (tools/testing/atomik-vm --fpga).
COSIM		:= $(BUILD)/fpga/cosim/atomik-cosim

cosim: $(COSIM)

$(COSIM): fpga/cosim/atomik_cosim.cpp $(FPGA_RTL) kmod/atomik_fpga_regs.h
	@mkdir -p $(dir $@)
	verilator --cc --exe --build -j 2 -O3 -Wall -Wno-fatal --Mdir $(BUILD)/fpga/cosim/obj \
		-Ifpga/rtl -CFLAGS "-O2 -I$(CURDIR)/kmod" -o $@ \
		$(CURDIR)/fpga/rtl/atomik_core.v $(CURDIR)/fpga/cosim/atomik_cosim.cpp > $(BUILD)/fpga/cosim/build.log 2>&1 || \
		{ tail -30 $(BUILD)/fpga/cosim/build.log; exit 1; }

# W=1 and sparse against every kernel, checkpatch --strict: no findings.
lint:
	tools/testing/atomik-kernels --setup $(KERNELS)
	tools/testing/atomik-lint $(KERNELS)

# Kbuild's own files of an in-tree 'make module', without asking a kernel.
clean:
	rm -rf $(BUILD) Module.symvers modules.order .Module.symvers.cmd .modules.order.cmd
	find kmod \( -name '*.o' -o -name '*.ko' -o -name '*.mod' -o -name '*.mod.c' \
		-o -name '.*.cmd' -o -name 'modules.order' -o -name '.*.d' \) -delete
