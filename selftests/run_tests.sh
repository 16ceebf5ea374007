#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the VM (tools/atomik-vm -- selftests/run_tests.sh [NAME...]):
# every selftest program, or the named ones, then unloads the module, which
# must succeed, and on a kernel with kmemleak checks that nothing leaked.  Programs that test the engine run twice, over ioctl and over
# io_uring (ATOMIK_TRANSPORT).  TAP goes to stdout and, when the VM runner
# provides a run folder, to $ATOMIK_OUT/NAME[.uring].tap for the host to count.
top=${ATOMIK_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
bin=$top/build/selftests
out=${ATOMIK_OUT:-/tmp}

# Programs that do not go through the engine's transports.
single="module_test uring_test example_test tool_test fuzz_test fault_test"

if [ $# -eq 0 ]; then
	set -- $(cd "$bin" && ls) $(cd "$top/selftests" && ls *_test.sh | sed 's/\.sh$//')
fi

# The fuzzer runs longer where the kernel has its checkers (the debug kernel).
kmemleak=/sys/kernel/debug/kmemleak
if [ -e $kmemleak ]; then
	export ATOMIK_FUZZ_SECONDS=${ATOMIK_FUZZ_SECONDS:-60}
fi

rc=0
run() {	# name transport tapfile
	echo "# selftest $1 ($2)"
	prog=$bin/$1
	[ -f "$top/selftests/$1.sh" ] && prog="sh $top/selftests/$1.sh"
	ATOMIK_TRANSPORT=$2 $prog > "$3" 2>&1
	st=$?
	cat "$3"
	echo "# exit: $st" >> "$3"
	[ $st -eq 0 ] || rc=1
}

for name in "$@"; do
	run "$name" ioctl "$out/$name.tap"
	case " $single " in
	*" $name "*) ;;
	*) run "$name" uring "$out/$name.uring.tap" ;;
	esac
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

# Where the kernel has kmemleak, nothing the tests did may leak.  An object
# is reported once two scans found it unreferenced; the kernel log line of
# a report also fails the VM run.
if [ -w $kmemleak ]; then
	{
		echo "1..1"
		echo scan > $kmemleak
		sleep 1
		echo scan > $kmemleak
		if [ -s $kmemleak ]; then
			sed 's/^/# /' $kmemleak | head -100
			echo "not ok 1 kmemleak_scan"
			rc=1
		else
			echo "ok 1 kmemleak_scan"
		fi
	} > "$out/kmemleak.tap"
	cat "$out/kmemleak.tap"
fi
exit $rc
