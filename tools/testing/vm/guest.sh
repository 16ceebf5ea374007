# SPDX-License-Identifier: GPL-2.0
#
# guest.sh: what the scripts that run on the nodes of the multi-node VM rig
# (tools/testing/atomik-vm --nodes) share, sourced by busybox sh or bash:
#
#   . "$ATOMIK_TOP/tools/testing/vm/guest.sh"
#
# It reads ATOMIK_NODE, ATOMIK_NODES and ATOMIK_SHARED, the folder all nodes
# share (the tests' own channel, never the replication's), and keeps its
# marks there: barrier.NAME.NODE for a node that reached NAME, failed.NODE
# for a node that gave up (rig_give_up), which stops the others' waits at
# once instead of at their time limit.  A wait that does not end well
# returns 1 and says why in rig_why; what to do then is the caller's.

rig_node=${ATOMIK_NODE:?not a node of the VM rig}
rig_nodes=${ATOMIK_NODES:?not a node of the VM rig}
rig_shared=${ATOMIK_SHARED:?not a node of the VM rig}
rig_why=""

# rig_give_up: this node failed; the others' waits end.
rig_give_up() { : > "$rig_shared/failed.$rig_node"; }

# rig_other_failed: 0 (and rig_why) if another node gave up.
rig_other_failed() {
	for rig_k in $(seq "$rig_nodes"); do
		if [ "$rig_k" != "$rig_node" ] && [ -e "$rig_shared/failed.$rig_k" ]; then
			rig_why="node $rig_k failed"
			return 0
		fi
	done
	return 1
}

# rig_barrier NAME [SECONDS]: every node reaches NAME, within SECONDS
# (default 120) of this node getting there.
rig_barrier() {
	: > "$rig_shared/barrier.$1.$rig_node"
	rig_i=0
	while [ "$rig_i" -lt $(( ${2:-120} * 10 )) ]; do
		rig_other_failed && { rig_why="$rig_why; stopping at '$1'"; return 1; }
		rig_all=1
		for rig_k in $(seq "$rig_nodes"); do
			[ -e "$rig_shared/barrier.$1.$rig_k" ] || { rig_all=0; break; }
		done
		[ "$rig_all" -eq 1 ] && return 0
		sleep 0.1
		rig_i=$((rig_i + 1))
	done
	rig_why="not every node reached '$1' within ${2:-120} s"
	return 1
}

# rig_until_file FILE SECONDS: FILE exists (another node or the runner
# writes it) within SECONDS.
rig_until_file() {
	rig_i=0
	while [ ! -e "$1" ]; do
		rig_other_failed && { rig_why="$rig_why; waiting for $(basename "$1")"; return 1; }
		if [ "$rig_i" -ge $(( $2 * 20 )) ]; then
			rig_why="no $(basename "$1") after $2 s"
			return 1
		fi
		sleep 0.05
		rig_i=$((rig_i + 1))
	done
}
