#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The atomik command, as a user at a shell meets it: outputs checked, not
# only exit codes.  Runs inside the VM with the module loaded; prints TAP.
top=${ATOMIK_TOP:?}
atomik=$top/build/tools/atomik
tmp=$(mktemp -d)
n=0 failed=0

echo "TAP version 13"
# The plan up front, so that a run that dies midway counts what it missed.
echo "1..$(grep -c '^check [a-z0-9_]*$' "$0")"

# check NAME: the test passes when the commands before it set ok=1.
t0=$(cut -d' ' -f1 /proc/uptime)
check() {
	t1=$(cut -d' ' -f1 /proc/uptime)
	echo "# $1: $(echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }') s"
	t0=$t1
	n=$((n + 1))
	if [ "$ok" = 1 ]; then
		echo "ok $n $1"
	else
		echo "not ok $n $1"
		failed=$((failed + 1))
	fi
}
fail() { echo "# $*"; ok=0; }
expect() {	# expect WANT GOT WHAT
	[ "$1" = "$2" ] || fail "$3: expected '$1', got '$2'"
}
reload() {
	rmmod atomik || fail "rmmod"
	# shellcheck disable=SC2086
	insmod "$ATOMIK_KO" $ATOMIK_MODPARAMS "$@" || fail "insmod $*"
}

ok=1
out=$($atomik info) || fail "info exit $?"
expect "addresses:     $(cat /sys/class/misc/atomik/nr_addrs)" \
	"$(echo "$out" | grep '^addresses:')" "info addresses"
echo "$out" | grep -q '^features:      tables swap op_batch read_range read_accum uring_cmd replicated instance$' ||
	fail "info features: $out"
echo "$out" | grep -qE '^instance:      [0-9a-f]{16}$' || fail "info instance: $out"
expect "table:         0" "$(echo "$out" | grep '^table:')" "info table"
json=$($atomik info --json) || fail "info --json exit $?"
echo "$json" | grep -qE "\"nr_addrs\": $(cat /sys/class/misc/atomik/nr_addrs),.*\"replicated\": false, \"instance\": \"[0-9a-f]{16}\"," ||
	fail "json: $json"
check info

ok=1
before=$(cat /sys/class/misc/atomik/deltas)
$atomik accum 0 1 || fail "accum exit $?"
out=$($atomik stat) || fail "stat exit $?"
expect "deltas   $((before + 1))" "$(echo "$out" | grep '^deltas')" "stat deltas"
expect "errors   $(cat /sys/class/misc/atomik/errors)" "$(echo "$out" | grep '^errors')" \
	"stat errors"
$atomik stat --json | grep -q "^{\"deltas\": $((before + 1)), \"batches\": " ||
	fail "stat --json: $($atomik stat --json)"
check stat

# The counters as Prometheus metrics: every value sysfs's, each metric with
# its HELP and TYPE lines.  The file stays for make check, whose host step
# runs promtool check metrics on it.
ok=1
prom=${ATOMIK_OUT:-$tmp}/stat.prom
$atomik stat --prometheus > "$prom" || fail "stat --prometheus exit $?"
# NAME SYSFS-FILE TYPE, each value read by the shell itself: a process
# costs a fraction of a second on the debug kernel.
want=""
for m in "atomik_deltas_total deltas counter" "atomik_batches_total batches counter" \
	 "atomik_reads_total reads counter" "atomik_loads_total loads counter" \
	 "atomik_swaps_total swaps counter" "atomik_errors_total errors counter" \
	 "atomik_tables nr_tables gauge" 'atomik_table_addresses{table="0"} nr_addrs gauge' \
	 "atomik_memory_bytes memory_bytes gauge" "atomik_memory_cap_bytes memory_cap gauge" \
	 "atomik_fpga_deltas_total fpga_deltas counter" \
	 "atomik_fpga_batches_total fpga_batches counter" \
	 "atomik_fpga_failures_total fpga_failures counter" \
	 "atomik_fpga_interrupts_total fpga_interrupts counter"; do
	set -- $m
	read -r v < "/sys/class/misc/atomik/$2"
	want="$want$1 $v $3;"
done
# Every metric's value, its TYPE and HELP lines; fourteen metrics, three
# lines each, nothing else.
problems=$(awk -v want="$want" '
	/^# TYPE / { type[$3] = $4; next }
	/^# HELP [a-z_]+ [A-Z]/ { help[$3] = 1; next }
	{ value[$1] = $2 }
	END {
		n = split(want, w, ";")
		for (i = 1; i <= n; i++) {
			if (split(w[i], f, " ") != 3)
				continue
			name = f[1]; sub(/\{.*/, "", name)
			if (value[f[1]] != f[2])
				print f[1] ": " value[f[1]] ", sysfs " f[2]
			if (type[name] != f[3])
				print f[1] ": TYPE " type[name] ", not " f[3]
			if (!help[name])
				print f[1] ": no HELP line"
		}
		if (NR != 42)
			print NR " lines, not 42"
	}' "$prom")
[ -z "$problems" ] || fail "stat --prometheus: $problems"
$atomik accum 0 1 || fail "accum exit $?"
expect $(($(awk '$1 == "atomik_deltas_total" { print $2 }' "$prom") + 1)) \
	"$($atomik stat --prometheus | awk '$1 == "atomik_deltas_total" { print $2 }')" \
	"atomik_deltas_total after an accum"
out=$($atomik stat --json --prometheus 2>&1)
expect 2 $? "stat --json --prometheus exit"
expect "atomik: usage: atomik [--device PATH] [--table ID] stat [--json | --prometheus]" \
	"$out" "stat --json --prometheus message"
check stat_prometheus

ok=1
$atomik load 5 0x10 && $atomik accum 5 0x01 || fail "load/accum exit"
expect 0x0000000000000011 "$($atomik read 5)" "read hex"
expect 17 "$($atomik read --dec 5)" "read dec"
expect 0x0000000000000001 "$($atomik read --accum 5)" "read accum"
$atomik load 6 0xffffffffffffffff || fail "load 2^64-1"
out=$($atomik read 5 2)
expect "0x5 0x0000000000000011
0x6 0xffffffffffffffff" "$out" "read range"
check load_accum_read

ok=1
printf '# deltas\n7 0x100\n\n  8 2\n7 0x1\n' > "$tmp/deltas"
$atomik load 7 0 && $atomik load 8 0 || fail "load"
expect "3 deltas applied" "$($atomik batch "$tmp/deltas")" "batch file"
expect 0x0000000000000101 "$($atomik read 7)" "batch addr 7"
expect "3 deltas applied" "$(cat "$tmp/deltas" | $atomik batch)" "batch stdin"
expect 0x0000000000000000 "$($atomik read 7)" "batch twice cancels"
# A line longer than any buffer is one line, one delta.
printf '7%300s0x2\n' "" > "$tmp/long"
expect "1 deltas applied" "$($atomik batch "$tmp/long")" "batch long line"
expect 0x0000000000000002 "$($atomik read 7)" "batch long line value"
check batch

ok=1
printf '9 1\n9 oops\n9 2\n' > "$tmp/bad"
$atomik load 9 0
$atomik batch "$tmp/bad" 2> "$tmp/err"
expect 4 $? "batch bad line exit"
grep -q '^atomik: line 2: expected .ADDR DELTA.' "$tmp/err" ||
	fail "batch message: $(cat "$tmp/err")"
expect 0x0000000000000000 "$($atomik read 9)" "nothing applied from the bad batch"
printf '9 1\n4096 1\n' > "$tmp/range"
$atomik batch "$tmp/range" 2> "$tmp/err"
expect 4 $? "batch out of range exit"
grep -q '^atomik: line 2: address 4096 is out of range: the table has 4096 addresses' \
	"$tmp/err" || fail "batch range message: $(cat "$tmp/err")"
expect 0x0000000000000000 "$($atomik read 9)" "a bad batch applies nothing"
$atomik batch "$tmp/no-such-file" 2>/dev/null
expect 4 $? "batch missing file exit, as restore's"
$atomik restore "$tmp/no-such-file" 2>/dev/null
expect 4 $? "restore missing file exit"
check batch_errors

# save, unload and reload the module, restore: every address as before,
# both its state and its accumulated deltas.
ok=1
i=0
while [ $i -lt 40 ]; do
	$atomik load $((i * 97)) $((i * 12345 + 7)) || fail "load"
	$atomik accum $((i * 97)) $((i * 3 + 1)) || fail "accum"
	i=$((i + 1))
done
$atomik read 0 4096 > "$tmp/state.before"
$atomik read --accum 0 4096 > "$tmp/accum.before"
expect "saved 4096 addresses to $tmp/save" "$($atomik save "$tmp/save")" "save"
expect $((24 + 4096 * 16)) "$(wc -c < "$tmp/save")" "save size"
reload
expect 0x0000000000000000 "$($atomik read 97)" "after reload"
expect "restored 4096 addresses from $tmp/save" "$($atomik restore "$tmp/save")" "restore"
$atomik read 0 4096 > "$tmp/state.after"
$atomik read --accum 0 4096 > "$tmp/accum.after"
cmp -s "$tmp/state.before" "$tmp/state.after" || fail "states differ after restore"
cmp -s "$tmp/accum.before" "$tmp/accum.after" || fail "accumulated deltas differ"
check save_reload_restore

# A corrupt, truncated or foreign file is refused and changes nothing.
ok=1
$atomik load 97 0x5555
cp "$tmp/save" "$tmp/corrupt"
printf '\001' | dd of="$tmp/corrupt" bs=1 seek=1000 conv=notrunc 2>/dev/null
$atomik restore "$tmp/corrupt" 2> "$tmp/err"
expect 4 $? "corrupt exit"
grep -q 'corrupt' "$tmp/err" || fail "corrupt message: $(cat "$tmp/err")"
head -c 5000 "$tmp/save" > "$tmp/short"
$atomik restore "$tmp/short" 2> "$tmp/err"
expect 4 $? "truncated exit"
grep -q 'truncated' "$tmp/err" || fail "truncated message: $(cat "$tmp/err")"
head -c 10 "$tmp/save" > "$tmp/tiny"
$atomik restore "$tmp/tiny" 2>/dev/null
expect 4 $? "tiny exit"
echo "not a save file at all, not at all" > "$tmp/foreign"
$atomik restore "$tmp/foreign" 2> "$tmp/err"
expect 4 $? "foreign exit"
grep -q 'not an atomik save file' "$tmp/err" || fail "foreign message"
expect 0x0000000000005555 "$($atomik read 97)" "device unchanged"
check restore_refuses_bad_files

# A save that cannot be written (a full file system) fails and leaves the
# previous save whole and nothing beside it.
ok=1
mkdir "$tmp/small"
mount -t tmpfs -o size=96k tmpfs "$tmp/small" || fail "mount tmpfs"
cp "$tmp/save" "$tmp/small/save"
$atomik load 98 0x9898
$atomik save "$tmp/small/save" 2> "$tmp/err"
expect 4 $? "full disk exit"
grep -q 'the file is as it was' "$tmp/err" || fail "full disk message: $(cat "$tmp/err")"
cmp -s "$tmp/save" "$tmp/small/save" || fail "the previous save changed"
expect "save" "$(ls "$tmp/small")" "files left beside it"
umount "$tmp/small"
check save_leaves_previous_file_on_failure

# A file from a table of another size is refused too.
ok=1
reload nr_addrs=128
$atomik load 3 0x33
$atomik restore "$tmp/save" 2> "$tmp/err"
expect 4 $? "mismatch exit"
grep -q 'holds 4096 addresses but the table has 128' "$tmp/err" ||
	fail "mismatch message: $(cat "$tmp/err")"
expect 0x0000000000000033 "$($atomik read 3)" "unchanged after mismatch"
reload
check restore_refuses_other_size

# Tables: create, list (with which are replicated), use, destroy.
ok=1
t1=$($atomik table create 16) || fail "table create exit $?"
t2=$($atomik table create --replicated 32) || fail "table create --replicated exit $?"
out=$($atomik table list) || fail "table list exit $?"
echo "$out" | sed 's/^/# /'
expect "$(printf '%-6u %-10u %s' "$t1" 16 no)" "$(echo "$out" | grep "^$t1 ")" "list $t1"
expect "$(printf '%-6u %-10u %s' "$t2" 32 yes)" "$(echo "$out" | grep "^$t2 ")" "list $t2"
expect "$(printf '%-6u %-10u %s' 0 "$(cat /sys/class/misc/atomik/nr_addrs)" no)" \
	"$(echo "$out" | grep "^0 ")" "list 0"
$atomik table list --json | grep -q "{\"table\": $t2, \"nr_addrs\": 32, \"replicated\": true}" ||
	fail "list --json: $($atomik table list --json)"
expect "table:         $t2 (replicated)" "$($atomik --table "$t2" info | grep '^table:')" \
	"info of a replicated table"
$atomik --table "$t2" load 3 0x30 || fail "load in $t2"
expect 0x0000000000000030 "$($atomik --table "$t2" read --accum 3)" "load is a local delta"
$atomik table destroy "$t1" || fail "destroy $t1"
$atomik table destroy "$t2" || fail "destroy $t2"
$atomik table list | grep -q "^$t1 " && fail "$t1 still listed"
$atomik table destroy "$t1" 2> "$tmp/err"
expect 1 $? "destroy again"
grep -q "no such table" "$tmp/err" || fail "destroy again: $(cat "$tmp/err")"
$atomik table create 2> /dev/null
expect 2 $? "create without a size"
$atomik table create 0 2> /dev/null
expect 1 $? "create of size 0"
check table_create_list_destroy

# replicated=1 makes table 0 replicated, and info says so.
ok=1
reload replicated=1
expect "table:         0 (replicated)" "$($atomik info | grep '^table:')" "info replicated"
$atomik info --json | grep -q '"replicated": true,' || fail "json replicated: $($atomik info --json)"
$atomik load 5 0x55
expect 0x0000000000000055 "$($atomik read 5)" "load in a replicated table 0"
expect 0x0000000000000055 "$($atomik read --accum 5)" "the load is a local delta"
reload
expect "table:         0" "$($atomik info | grep '^table:')" "info after reload"
check replicated_table0_by_parameter

ok=1
out=$($atomik demo) || fail "demo exit $?"
echo "$out"  | sed 's/^/# /'
echo "$out" | grep -q '^converged: every node holds 0xca014541 = ' || fail "demo converged"
echo "$out" | grep -q 'A receives A.s delta a second time *A=0xca0145be' ||
	fail "demo self-inverse"
expect 1 "$(cat /sys/class/misc/atomik/nr_tables)" "demo cleans up"
check demo

ok=1
$atomik frobnicate 2>/dev/null; expect 2 $? "unknown command"
$atomik read zz 2>/dev/null; expect 2 $? "bad number"
$atomik accum 1 -1 2>/dev/null; expect 2 $? "negative number"
$atomik read " 1" 2>/dev/null; expect 2 $? "leading space"
$atomik load 010 0x77 && $atomik load 8 0 || fail "load 010"
expect 0x0000000000000077 "$($atomik read 10)" "010 is decimal ten, not octal"
$atomik read 0x100000000 2>/dev/null; expect 2 $? "address over 32 bits"
$atomik load 1 2>/dev/null; expect 2 $? "missing argument"
$atomik read 4096 2> "$tmp/err"; expect 1 $? "address out of range"
grep -q 'address 4096 is out of range: the table has 4096 addresses (4096 >= 4096)' \
	"$tmp/err" || fail "range message: $(cat "$tmp/err")"
out=$($atomik read 0 5000 2> "$tmp/err"); expect 1 $? "range past the end"
expect "" "$out" "nothing printed for a range past the end"
grep -q 'addresses 0 to 4999 are out of range: the table has 4096 addresses' \
	"$tmp/err" || fail "range message: $(cat "$tmp/err")"
$atomik --table 77 read 0 2> "$tmp/err"; expect 1 $? "no such table"
grep -q '^atomik: table 77: ' "$tmp/err" || fail "table message: $(cat "$tmp/err")"
$atomik --device /nonexistent info 2> "$tmp/err"; expect 3 $? "no such device"
expect "atomik: /nonexistent does not exist" "$(cat "$tmp/err")" "device message"
$atomik load 1 18446744073709551616 2> "$tmp/err"; expect 2 $? "value past 2^64-1"
grep -q 'too large' "$tmp/err" || fail "too large message: $(cat "$tmp/err")"
$atomik load --help | grep -q '^usage: atomik .*load ADDR VALUE$' || fail "load --help"
check exit_codes

# Options the getopt_long way: --opt=VALUE, global options after the
# command, -- before an argument that begins with a dash, -V, and a
# message that names the option at fault.
ok=1
t=$($atomik table create 8) || fail "create for options"
$atomik --table="$t" load 2 0x22 || fail "--table=ID"
expect 0x0000000000000022 "$($atomik read 2 --table "$t")" "--table after the command"
$atomik accum 2 0x1 --table "$t" || fail "accum with --table after"
expect 0x0000000000000001 "$($atomik read --table="$t" --accum 2)" "options in any order"
$atomik read 2 --table 2> "$tmp/err"; expect 2 $? "--table without its value"
grep -q "^atomik: read: --table needs an argument" "$tmp/err" ||
	fail "missing value message: $(cat "$tmp/err")"
$atomik read --frob 2 2> "$tmp/err"; expect 2 $? "unknown option"
grep -q "^atomik: read: unknown option '--frob'" "$tmp/err" ||
	fail "unknown option message: $(cat "$tmp/err")"
$atomik --frob info 2> "$tmp/err"; expect 2 $? "unknown global option"
grep -q "^atomik: unknown option '--frob'" "$tmp/err" ||
	fail "unknown global option message: $(cat "$tmp/err")"
$atomik accum 1 -- -1 2> "$tmp/err"; expect 2 $? "-- then a negative number"
grep -q "delta '-1' is not a number" "$tmp/err" || fail "after --: $(cat "$tmp/err")"
# The library's version as its header gives it.
lib=$(awk '/^#define ATOMIK_VERSION_(MAJOR|MINOR|PATCH)/ { v = v (v == "" ? "" : ".") $3 }
	   END { print v }' "$top/libatomik/atomik.h")
$atomik -V | grep -q "^atomik [0-9]*\.[0-9]*\.[0-9]* (libatomik $lib)\$" ||
	fail "-V: $($atomik -V), the library $lib"
expect "$($atomik -V)" "$($atomik --version)" "--version"
$atomik table create --help | grep -q -- '--replicated' || fail "table --help lists its options"
$atomik table destroy "$t" || fail "destroy for options"
check options_the_getopt_way

# Errors that tell the user what to do.
ok=1
chmod 600 /dev/atomik
grep -q '^user:' /etc/passwd || echo 'user:x:1000:1000::/tmp:/bin/sh' >> /etc/passwd
# The checkout may sit below directories other users cannot enter.
cp "$atomik" /tmp/atomik-as-user && chmod 0755 /tmp/atomik-as-user
su -s /bin/sh user -c "/tmp/atomik-as-user info" 2> "$tmp/err"
expect 3 $? "permission exit"
rm -f /tmp/atomik-as-user
grep -q "permission denied: add yourself to the group" "$tmp/err" ||
	fail "permission message: $(cat "$tmp/err")"
rmmod atomik || fail rmmod
$atomik info 2> "$tmp/err"
expect 3 $? "no module exit"
grep -q "the atomik module is not loaded" "$tmp/err" || fail "no module message"
$atomik stat 2>/dev/null
expect 3 $? "stat without module"
out=$($atomik stat --json 2>/dev/null)
expect 3 $? "stat --json without module"
expect "" "$out" "stat --json prints nothing without the module"
out=$($atomik stat --prometheus 2>/dev/null)
expect 3 $? "stat --prometheus without module"
expect "" "$out" "stat --prometheus prints nothing without the module"
# shellcheck disable=SC2086
insmod "$ATOMIK_KO" $ATOMIK_MODPARAMS || fail insmod
check error_messages

ok=1
out=$($atomik bench --threads 1 --sizes 16 --time 20 --repeat 1) || fail "bench exit $?"
echo "$out" | grep -q '^uring-batch ' || fail "bench table: $out"
# The CSV is kept for make check to draw on the host (no gnuplot here).
csv=${ATOMIK_OUT:-$tmp}/bench.csv
$atomik bench --csv --threads 1 --sizes 16,256 --time 20 --repeat 1 > "$csv" ||
	fail "bench --csv exit $?"
expect "threads,path,batch,deltas_per_sec,ratio_to_userspace,ratio_min,ratio_max" \
	"$(head -1 "$csv")" "csv header"
# A header, then 8 paths (userspace, 3 ioctl, 3 io_uring, 2 mmap) times 2 sizes.
expect 17 "$(wc -l < "$csv")" "csv rows"
echo "$out" | grep -q '^mmap-batch ' || fail "bench table: $out"
expect "1,userspace,16," "$(grep '^1,userspace,16,' "$csv" | cut -d, -f1-3),"  "csv row"
check bench

rm -rf "$tmp"
echo "# Totals: pass:$((n - failed)) fail:$failed"
[ $failed -eq 0 ]
