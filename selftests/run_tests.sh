#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the VM (tools/testing/atomik-vm -- selftests/run_tests.sh
# [--skip NAME]... [NAME...]): every selftest program, or the named ones,
# less those skipped, then unloads the module, which
# must succeed, and on a kernel with kmemleak checks that nothing leaked.
# The programs that test the engine run each test over ioctl and over
# io_uring (their variants).  TAP goes to stdout and, when the VM runner
# provides a run folder, to $ATOMIK_OUT/NAME.tap for the host to count.
top=${ATOMIK_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
bin=$top/build/selftests
out=${ATOMIK_OUT:-/tmp}

# --fpga: the accelerator's passes (below); --fpga-device: only the pass
# with the backend forced to the device, without concurrency_test, for a
# second accelerator run that tests another way of completing;
# --fpga-light: map_test with the device bound, then fpga_test (make check
# runs the engine's passes with the accelerator on two kernels, and this on
# the others: the driver and the mapped rows on every kernel, without the
# engine's passes again).
# --skip NAME: not this program (make check runs python_test on one
# kernel only: Documentation/atomik/testing.rst).
skip=" "
while [ "${1-}" = --skip ] && [ $# -ge 2 ]; do
	skip="$skip$2 "
	shift 2
done
fpga=0
backends="fpga auto"
tests="engine_test concurrency_test errors_test map_test"
if [ "${1-}" = --fpga ] || [ "${1-}" = --fpga-device ] || [ "${1-}" = --fpga-light ]; then
	fpga=1
	if [ "$1" = --fpga-device ]; then
		backends=fpga
		tests="engine_test errors_test"
	elif [ "$1" = --fpga-light ]; then
		backends=fpga
		tests=map_test
		# The engine's swaps with the device (90 s of the run) are the
		# full runs'; the driver's own tests stay.
		export ATOMIK_SKIP_TESTS="swaps_count_device_deltas_once"
	fi
	shift
elif [ $# -eq 0 ]; then
	# Not the cluster's (cluster_test.sh and its probe run on three
	# guests), nor the host's (atomikd_conf_test.sh, harness_check).
	set -- $(cd "$bin" && ls | grep -v -e '^fpga_test$' -e '^cluster_' -e '^harness_check$') \
		$(cd "$top/selftests" && ls *_test.sh | grep -v -e '^cluster_' -e '^atomikd_' |
		  sed 's/\.sh$//')
fi

# The fuzzer runs longer where the kernel has its checkers (the debug kernel).
kmemleak=/sys/kernel/debug/kmemleak
if [ -e $kmemleak ]; then
	export ATOMIK_FUZZ_SECONDS=${ATOMIK_FUZZ_SECONDS:-60}
fi

rc=0
run() {	# name tapfile
	echo "# selftest $1"
	prog=$bin/$1
	[ -f "$top/selftests/$1.sh" ] && prog="sh $top/selftests/$1.sh"
	t0=$(cut -d' ' -f1 /proc/uptime)
	$prog > "$2" 2>&1
	st=$?
	t1=$(cut -d' ' -f1 /proc/uptime)
	cat "$2"
	echo "# exit: $st" >> "$2"
	echo "# $1: $(echo "$t0 $t1" | awk '{ printf "%.1f", $2 - $1 }') s" | tee -a "$2"
	[ $st -eq 0 ] || rc=1
}

for name in "$@"; do
	case $skip in
	*" $name "*) echo "# selftest $name: skipped (--skip)"; continue ;;
	esac
	run "$name" "$out/$name.tap"
done

# With the co-simulated accelerator (tools/testing/atomik-vm --fpga): the engine's
# behaviour tests with the device bound and the backend forced to the device,
# then mixed (auto), each over both transports, and map_test, whose mapped
# writers of table 0 must leave the device alone; the fuzzer with the
# device; then fpga_test, which ends by killing the co-simulation.
if [ $fpga -eq 1 ]; then
	sys=/sys/class/misc/atomik
	dev=$(grep -l 0x1110 /sys/bus/pci/devices/*/device | head -1)
	dev=$(basename "$(dirname "$dev")")
	echo atomik > /sys/bus/pci/devices/$dev/driver_override
	echo "$dev" > /sys/bus/pci/drivers_probe
	echo "# accelerator: $(cat $sys/backend_active)"
	echo 16 > $sys/fpga_threshold
	for backend in $backends; do
		echo $backend > $sys/backend
		for name in $tests; do
			run "$name" "$out/$name.$backend.tap"
		done
	done
	echo auto > $sys/backend
	echo "# $(cat $sys/fpga_deltas) deltas went through the accelerator"
	# The fuzzer with the device bound, table 0's deltas forced to it (the
	# full accelerator runs only: 20 s, wherever the kernel is).  Its
	# sysfs writer changes the tunables: set again after it.
	if [ "$backends" = "fpga auto" ]; then
		echo fpga > $sys/backend
		export ATOMIK_FUZZ_SECONDS=20
		run fuzz_test "$out/fuzz_test.fpga.tap"
		echo auto > $sys/backend
		echo 16 > $sys/fpga_threshold
	fi
	run fpga_test "$out/fpga_test.tap"
fi

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
