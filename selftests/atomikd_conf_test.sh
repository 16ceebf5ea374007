#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# atomikd's configuration and command line: every bad input stops it with
# exit status 2 and a message that names the file, the line and what is
# wrong, before it opens the device or the network.  Runs on the host (make
# check's host step): no module is needed for any of it.
#
# Usage: selftests/atomikd_conf_test.sh [ATOMIKD]    (TAP on stdout)
set -u

daemon=${1:-$(dirname "$0")/../build/tools/atomikd}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0

# case NAME WANT_STATUS WANT_MESSAGE CONFIG_TEXT [ARGS...]: CONFIG_TEXT
# (printf escapes) is the file given with --config; '-' for none.
case_() {
	local name=$1 want=$2 msg=$3 conf=$4 rc out
	shift 4
	if [[ $conf == - ]]; then
		out=$("$daemon" --state-dir "$tmp/state" "$@" 2>&1)
	else
		printf "$conf" > "$tmp/c.conf"
		out=$("$daemon" --config "$tmp/c.conf" --state-dir "$tmp/state" "$@" 2>&1)
	fi
	rc=$?
	n=$((n + 1))
	if [[ $rc -eq $want && $out == *"$msg"* ]]; then
		echo "ok $n $name"
	else
		echo "not ok $n $name: exit $rc (want $want), said: $out (want: $msg)"
		failed=$((failed + 1))
	fi
}

c=$tmp/c.conf
case_ "no node id" 2 "no node id: set 'node'" 'servers = nats://127.0.0.1:4222\n'
case_ "node 0" 2 "$c:1: node: too small (1 to 65535)" 'node = 0\n'
case_ "node past 65535" 2 "$c:2: node: too large (1 to 65535)" '# a comment\nnode = 65536\n'
case_ "node not a number" 2 "$c:1: node: not a number" 'node = one\n'
case_ "negative node" 2 "$c:1: node: not a number" 'node = -1\n'
case_ "unknown key" 2 "$c:2: frob: unknown key" 'node = 1\nfrob = 1\n'
case_ "a line without =" 2 "$c:2: expected 'key = value'" 'node = 1\nservers nats://x\n'
case_ "a server that is not a URL" 2 "$c:2: servers: a server is a nats:// or tls:// URL" \
	'node = 1\nservers = http://127.0.0.1:4222\n'
case_ "no server" 2 "$c:2: servers: no server" 'node = 1\nservers =\n'
case_ "a node list with a word" 2 "$c:2: nodes: a node is a number from 1 to 65535" \
	'node = 1\nnodes = 1 2 x\n'
case_ "this node not among the nodes" 2 "node 3 is not among the cluster's nodes" \
	'node = 3\nnodes = 1, 2\n'
case_ "a peer server without its node" 2 "$c:2: peer_servers: a peer server is NODE=URL" \
	'node = 1\npeer_servers = nats://10.0.0.2:4222\n'
case_ "a peer server of node 0" 2 \
	"$c:2: peer_servers: a peer server's node is a number from 1 to 65535" \
	'node = 1\npeer_servers = 0=nats://10.0.0.2:4222\n'
case_ "a peer server that is not a URL" 2 "$c:2: peer_servers: a peer server is a nats:// or tls:// URL" \
	'node = 1\npeer_servers = 2=10.0.0.2:4222\n'
case_ "a peer's server twice" 2 "$c:2: peer_servers: a node's server is given twice" \
	'node = 1\npeer_servers = 2=nats://a:4222 2=nats://b:4222\n'
case_ "a peer server of a node not in the cluster" 2 \
	"peer_servers: node 4 is not among the cluster's nodes" \
	'node = 1\nnodes = 1 2 3\npeer_servers = 2=nats://a:4222 4=nats://b:4222\n'
K=UDA2ATZRHNAP5D47PFUCNVCOUVLFC7PHK4XPQBS6HHBP52GHSWLDNWE3
echo SUAGDNABF7X747XRS3WM3LNJ7XYSZ332FKRWFMCL5GNGNOUVJVCXNWYT4E > "$tmp/seed"
printf 'secret\n' > "$tmp/password"
chmod 644 "$tmp/password"
: > "$tmp/empty"
case_ "an nkey that is not a user's public key" 2 \
	"$c:2: nats_nkey: a user nkey's public key is 'U' and 55 more" \
	'node = 1\nnats_nkey = SUAGDNABF7X747XRS3WM3LNJ7XYSZ332FKRWFMCL5GNGNOUVJVCXNWYT4E\n'
case_ "an nkey without its seed file" 2 "nats_nkey and nats_nkey_seed_file go together" \
	"node = 1\nnats_nkey = $K\n"
case_ "a relative seed file" 2 "$c:3: nats_nkey_seed_file: an absolute path" \
	"node = 1\nnats_nkey = $K\nnats_nkey_seed_file = nkey.seed\n"
case_ "a seed file that cannot be read" 2 "cannot read $tmp/none" \
	"node = 1\nnats_nkey = $K\nnats_nkey_seed_file = $tmp/none\n"
case_ "two ways to authenticate" 2 "are ways to authenticate to NATS: give one" \
	"node = 1\nnats_nkey = $K\nnats_nkey_seed_file = $tmp/seed\nnats_token_file = $tmp/password\n"
case_ "a user without a password file" 2 "nats_user and nats_password_file go together" \
	'node = 1\nnats_user = atomikd\n'
case_ "a user with '@'" 2 "$c:2: nats_user: a NATS user is a word without" \
	'node = 1\nnats_user = a@b\n'
case_ "an empty token file" 2 "$tmp/empty: its first line is empty" \
	"node = 1\nnats_token_file = $tmp/empty\n"
case_ "a certificate without its key" 2 "tls_cert_file and tls_key_file go together" \
	"node = 1\ntls_cert_file = $tmp/seed\n"
case_ "a password file readable by others: said, and taken" 1 "readable by others than its owner" \
	"node = 1\nnodes = any\nnats_user = atomikd\nnats_password_file = $tmp/password\n" --device "$tmp/nodev"
case_ "a table twice" 2 "$c:2: tables: a table or a name is given twice" 'node = 1\ntables = 0 0\n'
case_ "a name twice" 2 "$c:2: tables: a table or a name is given twice" \
	'node = 1\ntables = a:1 a:2\n'
case_ "a table not a number" 2 "$c:2: tables: a table is ID or NAME:ID, ID a number" \
	'node = 1\ntables = zero\n'
case_ "a table's name not a subject token" 2 \
	"$c:2: tables: a table's name is 1 to 31 letters, digits, '_' or '-'" \
	'node = 1\ntables = a.b:1\n'
case_ "a wildcard in the subject" 2 "$c:2: subject: a subject prefix is NATS tokens" \
	'node = 1\nsubject = atomik.*\n'
case_ "an empty token in the subject" 2 "$c:2: subject: a subject prefix is NATS tokens" \
	'node = 1\nsubject = a..b\n'
case_ "publish interval too short" 2 "$c:2: publish_interval_ms: too small (10 to 3600000)" \
	'node = 1\npublish_interval_ms = 5\n'
case_ "block size 0" 2 "$c:2: block_size: too small (1 to 8192)" 'node = 1\nblock_size = 0\n'
case_ "block size past 8192" 2 "$c:2: block_size: too large (1 to 8192)" \
	'node = 1\nblock_size = 8193\n'
case_ "a relative state directory" 2 "$c:2: state_dir: an absolute path" \
	'node = 1\nstate_dir = run/atomik\n'
case_ "a missing configuration file" 2 "cannot read $tmp/none" - --config "$tmp/none"
case_ "an option's bad value" 2 "--node 0: too small" 'node = 1\n' --node 0
case_ "an unknown option" 2 "unrecognized option" 'node = 1\n' --frob
case_ "a stray argument" 2 "unexpected argument 'extra'" 'node = 1\n' extra
case_ "options override the file" 2 "node 9 is not among" 'node = 1\nnodes = 1 2\n' --node 9
case_ "--help" 0 "usage: atomikd" - --help
case_ "--version" 0 "atomikd " - --version
case_ "no nodes" 2 "no nodes: name the cluster's nodes in $c" 'node = 1\n' --device "$tmp/nodev"
case_ "nodes = any: taken" 1 "cannot open $tmp/nodev" 'node = 1\nnodes = any\n' --device "$tmp/nodev"
# Signing keys: the members' public nkeys in nodes, this node's seed.
K2=UCXZJBZNVWG7S5JSEOI45GRUNZHT6EKALXA7BHR5PA7CUYM4OULDEDRV
case_ "a node's key with a wrong checksum" 2 "$c:2: nodes: a node's key is its public user nkey" \
	"node = 1\nnodes = 1:${K%?}A 2:$K2\nnats_nkey = $K\nnats_nkey_seed_file = $tmp/seed\n"
case_ "a seed where a public key goes" 2 "$c:2: nodes: a node's key is its public user nkey" \
	"node = 1\nnodes = 1:$(cat "$tmp/seed")\n"
case_ "keys for some nodes only" 2 "$c:2: nodes: give every node's key (N:KEY), or none" \
	"node = 1\nnodes = 1:$K 2\n"
case_ "a node given twice" 2 "$c:2: nodes: a node is given twice" 'node = 1\nnodes = 1 2 1\n'
case_ "a signing key without the nodes' keys" 2 "signing_key_file without the nodes' keys" \
	"node = 1\nnodes = 1 2\nsigning_key_file = $tmp/seed\n"
case_ "the nodes' keys without this node's" 2 "the nodes' keys without this node's" \
	"node = 1\nnodes = 1:$K 2:$K2\n"
case_ "a signing key that is another node's" 2 "is the key of $K, not node 2's key in nodes" \
	"node = 2\nnodes = 1:$K 2:$K2\nsigning_key_file = $tmp/seed\n"
printf 'SUNOTASEED\n' > "$tmp/notseed"
case_ "a signing key file that holds no seed" 2 "its first line is not a user nkey seed" \
	"node = 1\nnodes = 1:$K 2:$K2\nsigning_key_file = $tmp/notseed\n"
case_ "atomikd --gen-key on a file that exists" 1 "cannot create $tmp/seed: File exists" - \
	--gen-key "$tmp/seed"
n=$((n + 1))
if pub=$("$daemon" --gen-key "$tmp/new.seed") && [[ $pub == U* && ${#pub} -eq 56 ]] &&
   [[ $(stat -c %a "$tmp/new.seed") == 600 ]] &&
   printf 'node = 1\nnodes = 1:%s 2:%s\nsigning_key_file = %s\n' "$pub" "$K2" "$tmp/new.seed" \
	> "$tmp/gen.conf" &&
   out=$("$daemon" --config "$tmp/gen.conf" --state-dir "$tmp/state" --device "$tmp/nodev" 2>&1);
   [[ $out == *"cannot open $tmp/nodev"* ]]; then
	echo "ok $n atomikd --gen-key: a 0600 seed whose public key the daemon takes as node 1's"
else
	echo "not ok $n atomikd --gen-key: printed '${pub:-}', mode $(stat -c %a "$tmp/new.seed" 2>&1), then: ${out:-}"
	failed=$((failed + 1))
fi
# Valid: it gets as far as the device, which is not there.
case_ "a good configuration, no device" 1 "cannot open $tmp/nodev" \
	"node = 1\nnodes = 1 2 3\nservers = nats://127.0.0.1:4222, tls://nats.example:4222\npeer_servers = 1=nats://n1:4222 2=nats://n2:4222 3=tls://n3:4222\nnats_nkey = $K\nnats_nkey_seed_file = $tmp/seed\ntls_ca_file = $tmp/seed\ntls_server_name = nats.example\ntables = 0 5\npublish_interval_ms = 250\nblock_size = 512\n" \
	--device "$tmp/nodev"
case_ "a good configuration with the nodes' keys, no device" 1 "cannot open $tmp/nodev" \
	"node = 1\nnodes = 1:$K 2:$K2\nnats_nkey = $K\nnats_nkey_seed_file = $tmp/seed\n" \
	--device "$tmp/nodev"
echo "1..$n"
exit $((failed != 0))
