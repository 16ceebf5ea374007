# SPDX-License-Identifier: GPL-2.0
# python/: atomik_core, the CPython extension over libatomik, for Debian's
# python3 (python3-dev), its type stub and its tests (run in the VM by
# selftests/python_test.sh).  Built twice, like the tools: for the tests,
# finding the build's libatomik.so.1 beside it ($ORIGIN), and for make
# install, linked to the installed one.  'make PYTHON=' leaves it out.
PYTHON		?= /usr/bin/python3
ifneq ($(PYTHON),)
PY_SUFFIX	:= $(shell $(PYTHON) -c 'import sysconfig; \
			print(sysconfig.get_config_var("EXT_SUFFIX"))' 2>/dev/null)
PY_INCLUDE	:= $(shell $(PYTHON) -c 'import sysconfig; \
			print(sysconfig.get_paths()["include"])' 2>/dev/null)
PY_VERSION	:= $(shell $(PYTHON) -c 'import sys; \
			print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
# Where Debian's python3 looks: its own packages' folder for /usr, the
# local one for any other prefix.
ifeq ($(PREFIX),/usr)
PYTHONDIR	?= /usr/lib/python3/dist-packages
else
PYTHONDIR	?= $(PREFIX)/lib/python$(PY_VERSION)/dist-packages
endif
PY_EXT		:= $(BUILD)/python/atomik_core$(PY_SUFFIX)
PY_EXT_INSTALL	:= $(BUILD)/install/python/atomik_core$(PY_SUFFIX)
PY_CFLAGS	= $(CFLAGS) $(TOOL_DEFS) -fPIC -fvisibility=hidden -I$(PY_INCLUDE)
PY_DEPS		:= python/atomik_core.c libatomik/atomik.h $(UAPI_HDRS) $(LIB)/$(LIB_REAL)
PY_CHECK	= @[ -n '$(PY_SUFFIX)' ] && [ -f '$(PY_INCLUDE)/Python.h' ] || \
		  { echo "python/: $(PYTHON) and its headers are needed" \
			 "(apt-get install python3-dev), or make PYTHON= to leave it out"; exit 1; }

PYTHON_TARGETS	:= $(PY_EXT)

$(PY_EXT): $(PY_DEPS)
	$(PY_CHECK)
	@mkdir -p $(dir $@)
	$(CC) $(PY_CFLAGS) -shared -o $@ $< -L$(LIB) -l:$(LIB_SONAME) \
		-Wl,-rpath,'$$ORIGIN/../libatomik'

$(PY_EXT_INSTALL): $(PY_DEPS)
	$(PY_CHECK)
	@mkdir -p $(dir $@)
	$(CC) $(PY_CFLAGS) -shared -o $@ $< -L$(LIB) -l:$(LIB_SONAME)

install-python: $(PY_EXT_INSTALL)
	install -d $(DESTDIR)$(PYTHONDIR)
	install -m 0644 $(PY_EXT_INSTALL) $(DESTDIR)$(PYTHONDIR)/
	install -m 0644 python/atomik_core.pyi $(DESTDIR)$(PYTHONDIR)/
else
PYTHON_TARGETS	:=
install-python:
endif
