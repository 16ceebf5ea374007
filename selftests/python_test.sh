#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The Python module, atomik_core, as a Python user meets it: its unittest
# suite (python/test_atomik_core.py) with Debian's python3, which every
# guest of the VM rig has from the host's /usr, against the loaded module
# and the build's extension (build/python).  Prints TAP.
top=${ATOMIK_TOP:?}
python=/usr/bin/python3

if [ ! -x $python ]; then
	echo "1..1"
	echo "not ok 1 python3: $python is not there (the guest has no /usr of the host's?)"
	exit 1
fi
# No bytecode written into the checkout.
export PYTHONPATH=$top/build/python PYTHONDONTWRITEBYTECODE=1
exec $python "$top/python/test_atomik_core.py"
