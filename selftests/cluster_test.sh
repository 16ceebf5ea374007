#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The cluster's tests, run in every guest of a three-node rig:
#
#   tools/testing/atomik-vm --nodes 3 [--cut ...] [--restart ...] -- selftests/cluster_test.sh SCENARIO
#
# (make check-cluster-KERNEL runs each scenario with its timeline.)  Every
# node writes deltas into its replicated table 0 and keeps the model of what
# it wrote in the run's shared folder (ATOMIK_SHARED, the tests' own channel,
# never the replication's); the state every node must end at is ref (0) ^
# every node's deltas, compared address by address.  Each node writes TAP
# to cluster.tap in its run folder and exits 0 if all its checks passed.
#
# Scenarios:
#   basic        the brief's example; random deltas on every node; captured
#                messages replayed shuffled and twice; malformed messages;
#                atomikd restarted on a live node
#   partition    every node writes while node 3 is cut off (--cut 3:8:28)
#   restart      node 2 powered off after it published (--restart 2:14)
#   restart-cut  node 2 restarted while node 1, the only node that holds its
#                latest version, is cut off (--cut 3:8:30 --cut 1:18:90
#                --restart 2:28)
#   reload       node 3 cut off; node 2 accumulates (it reaches node 1 only),
#                is cut off and its module reloaded; node 1's module is
#                reloaded; heal: node 2's last deltas reach every node, and
#                the two old instances are collected
#   idle         two replicated tables (tables = 0 1); at rest, what each
#                node sends
set -u

top=${ATOMIK_TOP:?run me in the VM rig}
probe=$top/build/selftests/cluster_probe
atomik=$top/build/tools/atomik
node=${ATOMIK_NODE:?} nodes=${ATOMIK_NODES:?} shared=${ATOMIK_SHARED:?}
restarted=${ATOMIK_RESTARTED:-0}
scenario=${1:?usage: cluster_test.sh basic|partition|restart|restart-cut|reload|idle}
tap=${ATOMIK_OUT:-/tmp}/cluster.tap
status_file=/run/atomik/status.json
cn="sh $top/tools/testing/vm/cluster-node"
# The rig's NATS servers take only clients with a node's nkey (cluster-node).
nkey="--nkey $(python3 "$top/tools/testing/vm/nkey" "node$node") --seed /etc/atomik/nkey.seed"
# shellcheck source=tools/testing/vm/guest.sh
. "$top/tools/testing/vm/guest.sh"
t0=$(cut -d' ' -f1 /proc/uptime)
failed=0
n=$(grep -c '^\(not \)\{0,1\}ok ' "$tap" 2>/dev/null || echo 0)

say() { echo "node $node: $*"; }
elapsed() { awk -v t0="$t0" '{ printf "%.1f", $1 - t0 }' /proc/uptime; }
ok() { n=$((n + 1)); echo "ok $n $scenario: $*" >> "$tap"; say "ok: $*"; }
notok() { n=$((n + 1)); failed=1; echo "not ok $n $scenario: $*" >> "$tap"; say "FAILED: $*"; }
check() {	# check DESCRIPTION COMMAND...
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$what${out:+ ($(echo "$out" | tail -1))}"
	else
		echo "$out" | sed "s/^/node $node:   /"
		notok "$what"
	fi
}

# Every node reaches NAME, or SECONDS pass (default 120); a file another
# node or the runner writes (bounded): tools/testing/vm/guest.sh.
barrier() { rig_barrier "$1" "${2:-120}" || { notok "barrier $1: $rig_why"; return 1; }; }
await() { rig_until_file "$1" "$2" || { notok "waited for $(basename "$1"): $rig_why"; return 1; }; }

# A counter of atomikd's status (one per line in its JSON).
counter() { sed -n "s/^  \"$1\": \([0-9]*\),\{0,1\}\$/\1/p" "$status_file" | head -1; }
# A table's member in the status, from the table's line.
table_field() {	# table_field NAME FIELD
	sed -n "s/.*{\"name\": \"$1\", .*\"$2\": \([0-9]*\).*/\1/p" "$status_file"
}

# Every node's model file NAME: deltas.1 deltas.2 ...
each_node() {
	local k
	for k in $(seq "$nodes"); do
		echo "$shared/$1.$k"
	done
}

# The XOR of the named model files (every node computes the same).
model() {	# model OUT FILE...
	local out=$1
	shift
	"$probe" expect "$out" "$@"
}

read7() { "$atomik" read 7; }
wait7() {	# wait7 VALUE SECONDS
	local i=0
	while [ "$(read7)" != "$1" ] && [ $i -lt $(( $2 * 10 )) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ "$(read7)" = "$1" ] || { echo "address 7 is $(read7)"; return 1; }
	echo "$1 after $(( i / 10 )).$(( i % 10 )) s"
}

# No drop on any node but those the test causes.
drops() {
	sed -n '/^ "dropped": {/,/^ }/s/^  "\([a-z]*\)": \([0-9]*\).*/\1=\2/p' "$status_file" |
		grep -v '^total=' | tr '\n' ' '
}

# Node 3's link cut (or healed), asked of the runner; back when it holds.
link() {	# link cut|heal NODE
	local want=off
	[ "$1" = heal ] && want=on
	: > "$shared/$1.$2"
	await "$shared/link.$2.$want" 10
}

# Node 2 before a --restart: what it wrote is published; it waits to be
# powered off (a run that ends instead has failed).
powered_off_soon() {
	: > "$shared/published.2"
	sleep 600
	notok "node 2 was not powered off"
	exit 1
}

# Every dead instance collected: as many contributors as nodes, within
# SECONDS (collect_after_ms is 10 s).
collected() {	# collected TABLE SECONDS
	local i=0 c r
	while [ $i -lt $(( $2 * 5 )) ]; do
		c=$(table_field "$1" contributors)
		[ "$c" = "$nodes" ] && break
		sleep 0.2
		i=$((i + 1))
	done
	r=$(table_field "$1" records)
	if [ "$c" = "$nodes" ]; then
		ok "table $1: $c contributors after $((i / 5)) s, $r collection records"
	else
		notok "table $1: $c contributors, not $nodes, after $2 s ($r records)"
	fi
}

[ -e "$status_file" ] || { notok "atomikd is not serving on node $node"; exit 1; }

case $scenario in
basic)
	barrier start || exit 1
	# The brief's example, each node a machine: one reference, three
	# deltas, one state everywhere.
	[ "$node" -eq 1 ] && "$atomik" load 7 0xCAFEBABE
	barrier loaded
	check "the reference reached every node" wait7 0x00000000cafebabe 20
	barrier seen
	"$atomik" accum 7 $(( 0xFF << (8 * (node - 1)) ))
	barrier accumulated
	check "every node reads ref ^ 0xFF ^ 0xFF00 ^ 0xFF0000" wait7 0x00000000ca014541 20
	# Its NATS server takes no client without a member's nkey, from this
	# node or another; the daemon's nkey connects.
	for u in 127.0.0.1 "10.99.0.$((node % nodes + 1))"; do
		if out=$("$probe" --server "nats://$u:4222" connect 2>&1); then
			notok "a client without credentials connected to nats://$u:4222"
		elif echo "$out" | grep -q "Authentication Violation"; then
			ok "nats://$u:4222 refuses a client without credentials ($out)"
		else
			notok "nats://$u:4222 without credentials: $out (not an authorization refusal)"
		fi
	done
	stranger=$(python3 "$top/tools/testing/vm/nkey" stranger /tmp/stranger.seed)
	if out=$("$probe" --nkey "$stranger" --seed /tmp/stranger.seed connect 2>&1); then
		notok "a client with an nkey not among the members' connected"
	elif echo "$out" | grep -q "Authentication Violation"; then
		ok "an nkey not among the members' is refused ($out)"
	else
		notok "a stranger's nkey: $out (not an authorization refusal)"
	fi
	# shellcheck disable=SC2086
	if out=$("$probe" $nkey --server "nats://10.99.0.$((node % nodes + 1)):4222" connect 2>&1); then
		ok "node $node's nkey is taken by the other servers too ($out)"
	else
		notok "node $node's nkey refused: $out"
	fi
	# The routes speak TLS, each end with a certificate of the rig's CA
	# (tools/testing/vm/cluster-node): the next node's route port asks for
	# it, refuses a TLS client without a certificate, takes the rig's.
	peer=10.99.0.$((node % nodes + 1))
	if out=$(python3 "$top/tools/testing/vm/route-tls" "$peer" "$shared/tls" 2>&1); then
		ok "$peer's routes take only TLS with the rig's certificates ($out)"
	else
		notok "$peer's routes: $out"
	fi
	"$probe" contribution-save "$shared/deltas.$node"

	# Random deltas on every node at once; node 1 captures the traffic.
	barrier random
	# shellcheck disable=SC2086
	[ "$node" -eq 1 ] && "$probe" $nkey capture "$shared/capture" 22 > /dev/null &
	"$probe" accum $((1000 + node)) 20000 20 "$shared/deltas.$node"
	wait
	barrier written
	model "$shared/expected.random" $(each_node deltas)
	check "20 s of random deltas on every node: exact convergence" \
		"$probe" wait "$shared/expected.random" 60
	check "the local contribution is exactly this node's deltas" \
		"$probe" contribution "$shared/deltas.$node"

	# Old messages again, shuffled and each twice: nothing changes, and
	# nothing is applied (no node writes meanwhile).
	sleep 1
	applied0=$(counter blocks_applied) dup0=$(counter duplicates)
	barrier replay
	# shellcheck disable=SC2086
	[ "$node" -eq 1 ] && "$probe" $nkey replay "$shared/capture" 0x5eed
	sleep 3
	barrier replayed
	check "replayed, reordered, duplicated messages change nothing" \
		"$probe" wait "$shared/expected.random" 0
	applied1=$(counter blocks_applied) dup1=$(counter duplicates)
	if [ "$applied1" -eq "$applied0" ] && [ "$dup1" -gt "$dup0" ]; then
		ok "no replayed block applied; $((dup1 - dup0)) versions already held"
	else
		notok "blocks applied during the replay: $applied0 -> $applied1 (duplicates $dup0 -> $dup1)"
	fi

	# Malformed messages: each dropped, counted by its cause.
	before=$(drops) applied0=$(counter blocks_applied)
	barrier inject
	if [ "$node" -eq 1 ]; then
		nr=$(cat /sys/module/atomik/parameters/nr_addrs)
		# Signed with node 2's key (the rig's keys are derived from
		# their names): each is dropped for what is wrong with it.
		python3 "$top/tools/testing/vm/nkey" node2 /tmp/node2.seed > /dev/null
		for k in short truncated format reserved sender contributor table nr_addrs \
			 block block_size zero future; do
			# shellcheck disable=SC2086
			"$probe" $nkey --sign /tmp/node2.seed inject "$k" 2 0 "$nr" 256 > /dev/null ||
				notok "inject $k"
		done
		# Well made, but not signed by the node it names: without a
		# signature; signed by a key no member has; a member (node 3)
		# sending node 2's block far in the future, signed by its own key.
		python3 "$top/tools/testing/vm/nkey" stranger /tmp/stranger.seed > /dev/null
		python3 "$top/tools/testing/vm/nkey" node3 /tmp/node3.seed > /dev/null
		# shellcheck disable=SC2086
		{ "$probe" $nkey inject unsigned 2 0 "$nr" 256 &&
		  "$probe" $nkey --sign /tmp/stranger.seed inject valid 2 0 "$nr" 256 &&
		  "$probe" $nkey --sign /tmp/node3.seed inject forged 3 0 "$nr" 256; } > /dev/null ||
			notok "inject unsigned, stranger's and forged"
	fi
	sleep 2
	barrier injected
	after=$(drops)
	want=""
	for k in size format node table block version signature; do
		b=$(echo "$before" | tr ' ' '\n' | awk -F= -v k="$k" '$1 == k { print $2 }')
		a=$(echo "$after" | tr ' ' '\n' | awk -F= -v k="$k" '$1 == k { print $2 }')
		n=2
		[ "$k" = signature ] && n=3
		[ $((a - b)) -eq $n ] || want="$want $k:+$((a - b))"
	done
	if [ -z "$want" ]; then
		ok "12 malformed messages dropped, two of each cause, and 3 not signed by their node ($after)"
	else
		notok "drops by cause, expected +2 each and signature +3: got$want ($before -> $after)"
	fi
	check "no malformed or forged message changed the state" \
		"$probe" wait "$shared/expected.random" 0
	applied1=$(counter blocks_applied)
	[ "$applied1" -eq "$applied0" ] && ok "no malformed or forged block applied" ||
		notok "blocks applied while only malformed messages came: $applied0 -> $applied1"

	# atomikd killed and started again on a live node: no change, and
	# what comes after counts once.
	barrier daemon
	# Node 2's killed, node 3's stopped cleanly (SIGTERM).
	if [ "$node" -eq 2 ]; then
		kill -9 "$(cat /run/atomik/atomikd.pid)"
		sleep 1
		sh "$top/tools/testing/vm/cluster-node" start-atomikd
	elif [ "$node" -eq 3 ]; then
		sh "$top/tools/testing/vm/cluster-node" stop-atomikd
		if grep -q '"state": "stopped"' "$status_file" && [ ! -e /run/atomik/atomikd.pid ]; then
			ok "atomikd stops cleanly on SIGTERM"
		else
			notok "atomikd after SIGTERM: $(grep '"state"' "$status_file"), pid file $(ls /run/atomik)"
		fi
		sh "$top/tools/testing/vm/cluster-node" start-atomikd
	fi
	barrier daemon-back
	check "atomikd restarted on nodes 2 and 3: the state is unchanged" \
		"$probe" wait "$shared/expected.random" 0
	sleep 3
	check "and 3 s later, after its first publish and republish" \
		"$probe" wait "$shared/expected.random" 0
	barrier checked	# nobody writes before every node has looked
	"$probe" accum $((2000 + node)) 2000 3 "$shared/deltas.$node"
	barrier more
	model "$shared/expected.more" $(each_node deltas)
	check "after the restart, new deltas count once" \
		"$probe" wait "$shared/expected.more" 30
	# The daemon's Prometheus textfile, for the host's promtool.  It and
	# the status are written one after the other every 500 ms, and blocks
	# may still come: the two agree at some moment within 4 s.
	i=0 same=0
	while [ $same -eq 0 ] && [ $i -lt 20 ]; do
		if cp /run/atomik/atomikd.prom "${ATOMIK_OUT:-/tmp}/atomikd.prom" 2>/dev/null &&
		   grep -q "^atomikd_blocks_applied_total $(counter blocks_applied)\$" \
			"${ATOMIK_OUT:-/tmp}/atomikd.prom"; then
			same=1
		else
			sleep 0.2
		fi
		i=$((i + 1))
	done
	if [ $same -eq 1 ]; then
		ok "atomikd's metrics file: blocks_applied as in its status"
	else
		notok "atomikd's metrics file missing, or not its status's blocks_applied"
	fi
	;;

partition)
	barrier start || exit 1
	# Node 3's link is cut from 8 to 28 s: look at 18 s from both sides,
	# then every half second until 36 s, for the peers this node reaches
	# at their own server (peer_servers).
	(
		sleep 18
		"$atomik" cluster status --json > "$shared/status.cut.$node"
		i=0
		while [ $i -lt 36 ]; do
			"$atomik" cluster status --json |
				sed -n 's/^ *"direct": \[\(.*\)\],*$/\1/p' >> /tmp/direct.seen
			sleep 0.5
			i=$((i + 1))
		done
	) &
	"$probe" accum $((3000 + node)) 12000 24 "$shared/deltas.$node"
	wait
	cp /tmp/direct.seen "$shared/direct.seen.$node"
	barrier written
	model "$shared/expected" $(each_node deltas)
	# The writes are over before the link comes back: from then on,
	# convergence is anti-entropy's.
	await "$shared/link.3.on" 60 || exit 1
	healed=$(cut -d. -f1 /proc/uptime)
	check "a node cut off for 20 s while all wrote: exact convergence, after the link came back" \
		"$probe" wait "$shared/expected" 60
	# During the cut, node 3 heard nobody and nobody heard node 3.
	ages=$(grep '"node": [0-9]*, "session"' "$shared/status.cut.$node" |
	       sed -n 's/.*"node": \([0-9]*\),.*"age_ms": \([0-9]*\).*/\1:\2/p')
	bad=""
	for p in $ages; do
		peer=${p%:*} age=${p#*:}
		if [ "$node" -eq 3 ] || [ "$peer" -eq 3 ]; then
			[ "$age" -gt 5000 ] || bad="$bad $peer:${age}ms"
		else
			[ "$age" -lt 5000 ] || bad="$bad $peer:${age}ms"
		fi
	done
	if [ -n "$ages" ] && [ -z "$bad" ]; then
		ok "at 18 s, the cut was real: last message from each peer ($(echo $ages) ms ago)"
	else
		notok "at 18 s, peers' last messages ($(echo $ages)) contradict the cut:$bad"
	fi
	# Across the cut, one side reached the other at its own server once
	# the link was back (one connection carries both ways: the side that
	# dialled publishes and listens there, and so is heard through the
	# other's servers); none of it while the cut lasted.
	cut_seen=$(sed -n 's/^ *"direct": \[\(.*\)\],*$/\1/p' "$shared/status.cut.$node")
	[ -z "$cut_seen" ] || notok "node $node reached [$cut_seen] directly while the cut lasted"
	if [ "$node" -eq 3 ]; then
		missing=""
		for p in 1 2; do
			grep -Eq "(^|, )$p(,|\$)" "$shared/direct.seen.3" ||
				grep -Eq "(^|, )3(,|\$)" "$shared/direct.seen.$p" ||
				missing="$missing $p"
		done
		if [ -z "$missing" ]; then
			ok "after the heal, node 3 and nodes 1, 2 reached each other at their own servers ($(sort -u "$shared/direct.seen.3" | tr '\n' ' '))"
		else
			notok "after the heal, no direct connection between node 3 and node(s)$missing"
		fi
	fi
	# Twelve seconds after the heal, each peer across the cut was reached
	# directly once at most: two daemons that each dial the other's server
	# must not take each other's direct messages for the servers', close,
	# fall silent and dial again every few seconds.
	while [ $(($(cut -d. -f1 /proc/uptime) - healed)) -lt 12 ]; do
		sleep 0.5
	done
	dials=$(counter direct_dials)
	most=1
	[ "$node" -eq 3 ] && most=2
	if [ -n "$dials" ] && [ "$dials" -le $most ]; then
		ok "12 s after the heal, $dials direct connection(s) made, $most at most"
	else
		notok "12 s after the heal, ${dials:-no} direct connections made (at most $most): they come and go"
	fi
	;;

restart)
	if [ "$restarted" -eq 0 ]; then
		barrier start || exit 1
		"$probe" accum $((4000 + node)) 5000 8 "$shared/deltas.$node"
		if [ "$node" -eq 2 ]; then
			powered_off_soon
		fi
		await "$shared/restarted.2" 300 || exit 1
	else
		# A new instance: its own past comes back through remote.
		await "$shared/published.2" 5 || exit 1
		model "$shared/expected.before" $(each_node deltas)
		check "restarted node 2 recovered every node's contribution, its own included" \
			"$probe" wait "$shared/expected.before" 30
		rm -f "$shared/zero"
		"$probe" accum 0 0 0 "$shared/zero" > /dev/null
		check "its new instance starts from nothing" "$probe" contribution "$shared/zero"
		"$probe" accum 4102 3000 4 "$shared/deltas.2.new"
		: > "$shared/restarted.2"
	fi
	barrier after 300
	model "$shared/expected" $(each_node deltas) "$shared/deltas.2.new"
	check "both instances of node 2 and every other node: exact convergence" \
		"$probe" wait "$shared/expected" 60
	collected 0 40
	;;

restart-cut)
	if [ "$restarted" -eq 0 ]; then
		barrier start || exit 1
		"$probe" accum $((5000 + node)) 2000 5 "$shared/deltas.$node"
		if [ "$node" -eq 2 ]; then
			# Node 3 is cut off from 8 s: this reaches node 1 only.
			while [ "$(elapsed | cut -d. -f1)" -lt 11 ]; do sleep 0.2; done
			"$probe" accum 5102 2000 3 "$shared/deltas.2.late"
			sleep 2
			powered_off_soon
		fi
		await "$shared/restarted.2" 300 || exit 1
	else
		await "$shared/published.2" 5 || exit 1
		# Node 1 (cut off) holds the late version; node 3 only the
		# earlier one: that is what comes back first.
		model "$shared/expected.early" $(each_node deltas)
		check "restarted node 2 recovered from node 3 its earlier version only" \
			"$probe" wait "$shared/expected.early" 40
		"$probe" accum 5202 1000 2 "$shared/deltas.2.new"
		: > "$shared/restarted.2"
	fi
	barrier after 300
	model "$shared/expected" $(each_node deltas) \
		"$shared/deltas.2.late" "$shared/deltas.2.new"
	await "$shared/link.1.on" 150 || exit 1
	check "once node 1 is back, nothing node 2 had published is lost" \
		"$probe" wait "$shared/expected" 60
	;;

reload)
	barrier start || exit 1
	"$probe" accum $((6000 + node)) 2000 3 "$shared/deltas.$node"
	barrier written
	model "$shared/expected.early" $(each_node deltas)
	check "before the cuts: exact convergence" "$probe" wait "$shared/expected.early" 30
	barrier cut3
	[ "$node" -eq 1 ] && link cut 3
	barrier cut3-done
	if [ "$node" -eq 2 ]; then
		"$probe" accum 6102 1000 2 "$shared/deltas.2.late"
		sleep 2	# published: it reaches node 1 only
		link cut 2
		$cn reload-module || notok "node 2's module reloaded"
	fi
	barrier reloaded2 60
	if [ "$node" -eq 1 ]; then
		model "$shared/expected.late" $(each_node deltas) "$shared/deltas.2.late"
		check "node 1 holds node 2's last deltas" "$probe" wait "$shared/expected.late" 10
		$cn reload-module || notok "node 1's module reloaded"
		link heal 2
		link heal 3
	fi
	barrier healed 60
	model "$shared/expected" $(each_node deltas) "$shared/deltas.2.late"
	check "after both reloads and the heal, node 2's last deltas are on every node" \
		"$probe" wait "$shared/expected" 60
	rm -f "$shared/zero.$node"
	"$probe" accum 0 0 0 "$shared/zero.$node" > /dev/null
	[ "$node" -eq 3 ] ||
		check "a reloaded node's new instance starts from nothing" \
			"$probe" contribution "$shared/zero.$node"
	collected 0 40
	check "and collecting them changed nothing" "$probe" wait "$shared/expected" 0
	;;

idle)
	barrier start || exit 1
	# A second replicated table, and the configuration that names both.
	id=$("$atomik" table create --replicated "$(cat /sys/module/atomik/parameters/nr_addrs)")
	[ "$id" = 1 ] || notok "table 1 created (got '$id')"
	sed -i 's/^tables = .*/tables = 0 1/' /etc/atomik/atomikd.conf
	$cn stop-atomikd
	$cn start-atomikd || notok "atomikd with tables 0 1"
	barrier two-tables
	"$probe" accum $((7000 + node)) 2000 2 "$shared/deltas.$node"
	"$atomik" --table 1 accum $((node * 10)) $((node * 0x1111)) > /dev/null
	barrier written
	model "$shared/expected" $(each_node deltas)
	check "table 0: exact convergence" "$probe" wait "$shared/expected" 30
	t1() {	# every node's delta in table 1, within 20 s
		local i=0
		while [ $i -lt 100 ]; do
			[ "$("$atomik" --table 1 read 10)" = 0x0000000000001111 ] &&
			[ "$("$atomik" --table 1 read 20)" = 0x0000000000002222 ] &&
			[ "$("$atomik" --table 1 read 30)" = 0x0000000000003333 ] &&
			{ echo "after $((i / 5)).$((i % 5 * 2)) s"; return 0; }
			sleep 0.2
			i=$((i + 1))
		done
		"$atomik" --table 1 read 10 21
		return 1
	}
	check "table 1: every node's delta" t1
	barrier settled
	sleep 5
	# At rest: every byte this guest sends (NATS client and routes), 10 s
	# (10 hellos of its own: at rest a hello goes every four intervals).
	tx() { awk '$1 == "eth0:" { print $10 }' /proc/net/dev; }
	# (The counter and its time from one reading of the file.)
	msgs_at() { awk '$1 == "\"now_ms\":" { t = $2 } $1 == "\"messages_sent\":" { m = $2 }
		END { gsub(",", "", t); gsub(",", "", m); print m, t }' "$status_file"; }
	b0=$(tx) && read -r m0 s0 <<EOF2
$(msgs_at)
EOF2
	sleep 10
	b1=$(tx) && read -r m1 s1 <<EOF2
$(msgs_at)
EOF2
	rate=$(( (b1 - b0) / 10 ))
	msgs=$(( (m1 - m0) / 10 ))
	echo "$node $rate $msgs" >> "$shared/idle.rates"
	if [ "$rate" -le $((16 * 1024)) ]; then
		ok "two 4096-address tables at rest: $rate bytes/s sent ($msgs atomikd messages/s), at most 16 KiB/s"
	else
		notok "two 4096-address tables at rest: $rate bytes/s sent ($msgs messages/s), more than 16 KiB/s"
	fi
	# The rest pace: one hello a second (the usual pace would be four),
	# over the time between the two status files read (rewritten every
	# five seconds at rest), a little more allowed for a late tick.
	per10=$(( (m1 - m0) * 10000 / (s1 > s0 ? s1 - s0 : 1) ))
	if [ "$s1" -gt "$s0" ] && [ "$per10" -le 13 ]; then
		ok "at rest, hellos at the rest pace: $per10 atomikd messages per 10 s (at most 13)"
	else
		notok "at rest, hellos at the rest pace: $((m1 - m0)) atomikd messages in $((s1 - s0)) ms (at most 13 per 10 s)"
	fi
	# From rest, one delta on node 1, 20 rounds: how soon does its
	# daemon publish it (the local server handing the block back)?  A
	# daemon that read its tables every interval took half of one on
	# average; one that sleeps until the kernel says a table changed, a
	# few milliseconds.
	if [ "$node" -eq 1 ]; then
		# shellcheck disable=SC2086
		out=$("$probe" $nkey publish-latency 20 3000 2>&1)
		p50=$(echo "$out" | awk '$1 == "p50" { print $2 }')
		max=$(echo "$out" | awk '$1 == "max" { print $2 }')
		if [ -n "$p50" ] && awk -v a="$p50" -v b="$max" 'BEGIN { exit !(a <= 25 && b <= 100) }'
		then
			ok "a delta from rest published: p50 $p50 ms, slowest $max ms of 20 (at most 25 and 100)"
		else
			notok "a delta from rest published: p50 ${p50:-?} ms, slowest ${max:-?} ms of 20 (at most 25 and 100): $out"
		fi
	fi
	# And when has every other node read it?  Timed on node 1, to the
	# peers' word over UDP, 30 rounds, each from rest (250 ms apart).
	barrier pingpong
	if [ "$node" -eq 1 ]; then
		"$top/build/tools/atomik-cluster-bench" write-from-rest atomik 30 4000 \
			10.99.0.2 10.99.0.3 \
			> "$shared/pingpong" 2>&1 || notok "ping-pong: $(tail -1 "$shared/pingpong")"
		p50=$(awk '$1 == "p50" { print $2 }' "$shared/pingpong")
		max=$(awk '$1 == "max" { print $2 }' "$shared/pingpong")
		if [ -n "$p50" ] && awk -v a="$p50" -v b="$max" 'BEGIN { exit !(a <= 100 && b <= 500) }'
		then
			ok "a delta from rest read on both other nodes: p50 $p50 ms, slowest $max ms of 30 (at most 100 and 500)"
		else
			notok "a delta from rest read on both other nodes: p50 ${p50:-?} ms, slowest ${max:-?} ms of 30 (at most 100 and 500)"
		fi
	else
		"$top/build/tools/atomik-cluster-bench" watch atomik 30 4000 > /dev/null ||
			notok "ping-pong: node $node did not watch every round"
	fi
	barrier pingpong.done
	;;

*)
	echo "cluster_test.sh: unknown scenario '$scenario'" >&2
	exit 2
	;;
esac

say "$scenario: $( [ $failed -eq 0 ] && echo passed || echo FAILED ) at $(elapsed) s"
exit $failed
