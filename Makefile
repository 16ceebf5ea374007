# SPDX-License-Identifier: GPL-2.0
#
# make            the module (against KDIR), the library, the tools, the selftests
# make check      everything, then the selftests in a VM on every kernel of the matrix
# make module-K   the module for kernel K of the matrix (6.1, 6.12) in build/K/

KERNELS		?= 6.1 6.12
KDIR		?= $(or $(wildcard /lib/modules/$(shell uname -r)/build),\
			$(shell $(CURDIR)/tools/atomik-kernels --print-kdir 6.1))
BUILD		:= $(CURDIR)/build

CC		?= gcc
CFLAGS		?= -O2 -g
CFLAGS		+= -Wall -Wextra -Wno-unused-parameter -std=gnu11 \
		   -I$(CURDIR)/uapi -I$(CURDIR)/libatomik -D_GNU_SOURCE
TEST_LDFLAGS	:= -static -pthread

LIB		:= $(BUILD)/libatomik
LIB_SONAME	:= libatomik.so.1

KMOD_SRC	:= Kbuild kmod/Kbuild $(filter-out %.mod.c,$(wildcard kmod/*.[ch] uapi/linux/*.h))
SELFTESTS	:= $(patsubst selftests/%.c,$(BUILD)/selftests/%,\
			$(wildcard selftests/*_test.c))

TOOLS		:= $(BUILD)/tools/atomik-bench
EXAMPLES	:= $(BUILD)/examples/two_streams

.PHONY: all module modules clean check lib tools examples selftests $(addprefix module-,$(KERNELS))

all: module lib tools examples selftests

module modules:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

# One copy of the module sources per kernel, so that builds for different
# kernels never share objects.
$(addprefix module-,$(KERNELS)): module-%: $(KMOD_SRC)
	@kdir=$$($(CURDIR)/tools/atomik-kernels --print-kdir $*) && \
	mkdir -p $(BUILD)/$* && \
	find $(KMOD_SRC) | cpio -pdmu --quiet $(BUILD)/$* && \
	$(MAKE) -s -C $$kdir M=$(BUILD)/$* modules

lib: $(LIB)/libatomik.a $(LIB)/$(LIB_SONAME)

LIB_OBJS	:= $(LIB)/atomik.o $(LIB)/queue.o

$(LIB)/%.o: libatomik/%.c libatomik/atomik.h uapi/linux/atomik.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -c -o $@ $<

$(LIB)/libatomik.a: $(LIB_OBJS)
	$(AR) rcs $@ $^

$(LIB)/$(LIB_SONAME): $(LIB_OBJS) libatomik/libatomik.map
	$(CC) -shared -Wl,-soname,$(LIB_SONAME) \
		-Wl,--version-script=libatomik/libatomik.map -o $@ $(LIB_OBJS) -luring
	ln -sf $(LIB_SONAME) $(LIB)/libatomik.so

# The tools run inside the test VM as well, so they are linked statically.
tools: $(TOOLS)

$(BUILD)/tools/%: tools/%.c $(LIB)/libatomik.a $(wildcard uapi/linux/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB)/libatomik.a -luring $(TEST_LDFLAGS)

examples: $(EXAMPLES)

$(BUILD)/examples/%: libatomik/examples/%.c $(LIB)/libatomik.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB)/libatomik.a -luring $(TEST_LDFLAGS)

selftests: $(SELFTESTS)

$(BUILD)/selftests/%: selftests/%.c selftests/harness.h selftests/util.h \
		$(LIB)/libatomik.a $(wildcard uapi/linux/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB)/libatomik.a -luring $(TEST_LDFLAGS)

# On a fresh Debian 12 machine, as root, the first step installs what the
# build and the VM need (apt-get) and fetches the kernels of the matrix.
check:
	tools/atomik-kernels --setup $(KERNELS)
	$(MAKE) all
	tools/atomik-check $(KERNELS)

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null
	rm -rf $(BUILD)
