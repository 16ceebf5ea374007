#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the VM (tools/atomik-vm -- selftests/run_tests.sh [NAME...]):
# every selftest binary, or the named ones, then unloads the module, which
# must succeed.  TAP goes to stdout and, when the VM runner provides a run
# folder, to $ATOMIK_OUT/NAME.tap for the host to count.
top=${ATOMIK_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
bin=$top/build/selftests
out=${ATOMIK_OUT:-/tmp}

if [ $# -eq 0 ]; then
	set -- $(cd "$bin" && ls)
fi

rc=0
for name in "$@"; do
	echo "# selftest $name"
	"$bin/$name" > "$out/$name.tap" 2>&1
	st=$?
	cat "$out/$name.tap"
	echo "# exit: $st" >> "$out/$name.tap"
	[ $st -eq 0 ] || rc=1
done

# The module must unload once every test has closed its descriptors.
{
	echo "1..1"
	if rmmod atomik; then
		echo "ok 1 rmmod_atomik"
	else
		echo "not ok 1 rmmod_atomik"
		rc=1
	fi
} > "$out/unload.tap"
cat "$out/unload.tap"
exit $rc
