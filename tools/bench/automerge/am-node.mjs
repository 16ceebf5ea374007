// SPDX-License-Identifier: GPL-2.0
//
// am-node: one node of the cluster benchmark's CRDT, Automerge
// (tools/bench/cluster-bench), run by Debian's nodejs on each node of the
// three-VM rig.  A document holds a map of counters, one per address
// (0 .. 65535, made once and loaded by every node before anything is
// measured: concurrent creations of one key would conflict), updated by
// increments.  The counters are kept in 256 maps of 256 (address A is
// counter A % 256 of map "bA/256"): a change copies the maps it touches,
// and one map of 65536 counters made every change cost about 60 ms.  The nodes synchronise it with Automerge's own sync protocol
// (generateSyncMessage / receiveSyncMessage), one TCP connection between
// each two nodes (port 7791; the lower node dials), a message sent as soon
// as the protocol has one, which coalesces changes made while the peer's
// answer is awaited.  A connection silent for 3 s (pings every 0.5 s) is
// dropped and dialled again every second, as a deployment would, rather
// than left to TCP's retransmission back-off after a partition; the sync
// state is kept across it as the library advises.
//
// Usage: node am-node.mjs NODE NODES
//        node am-node.mjs table FILE
//        node am-node.mjs size COUNT ADDRS PER
// The second form, on one machine and without a network: the saved size
// of the document of 65536 counters, made, then after COUNT increments on
// counters 0..ADDRS-1 in changes of PER ("bytes.init", "bytes"; a size
// does not depend on the machine that measures it).
// Commands come on 127.0.0.1:7792, a line each, answered by "name value"
// lines and "ok" (or "error WHY"), then the connection is closed
// (atomik-cluster-bench am LINE is the client):
//   load FILE            the table's document (made by "am-node.mjs table")
//   ready SECONDS        until this node is connected to every peer
//   latency N            N changes of one increment, each timed alone (us)
//   write ROUNDS PEER... the writer of the ping-pong (UDP 7790, as
//                        atomik-cluster-bench write): "pp" incremented
//   watch ROUNDS         a peer of the ping-pong (polls every 1 ms)
//   rate RATE SECONDS ADDRS FILE
//                        RATE increments a second offered on keys
//                        0..ADDRS-1, the increments of each millisecond in
//                        one change; FILE = the sum per key (JSON)
//   spread SECONDS RATE FILE
//                        RATE writes a second, each one change
//   snap FILE            FILE = every counter's value
//   wait SECONDS FILE... until every counter equals the sum of the FILEs
//                        (which may appear later): seconds from their
//                        appearance (polled every 100 ms)
//   bulk COUNT ADDRS PER FILE
//                        COUNT increments in changes of PER, as fast as
//                        they go; FILE = the sums
//   size                 the saved document's bytes, its changes
//   reset                this node's document dropped: an empty one,
//                        filled again from its peers
import * as A from "@automerge/automerge";
import dgram from "node:dgram";
import fs from "node:fs";
import net from "node:net";

// The table: 65536 counters made in one change (a minute's work under
// emulation: made once on the host, "node am-node.mjs table FILE", and
// loaded by every node, so that all start from the same document).
function table() {
	const blk = (a) => "b" + (a >> 8), slot = (a) => String(a & 255);
	return A.change(A.init("00"), { time: 0 }, (x) => {
		for (let a = 0; a < 65536; a++) {
			if (!(a & 255))
				x[blk(a)] = {};
			x[blk(a)][slot(a)] = new A.Counter(0);
		}
		x.pp = new A.Counter(0);
	});
}
if (process.argv[2] === "table") {
	fs.writeFileSync(process.argv[3], A.save(table()));
	process.exit(0);
}
if (process.argv[2] === "size") {
	const [count, addrs, per] = process.argv.slice(3).map(Number);
	const blk = (a) => "b" + (a >> 8), slot = (a) => String(a & 255);
	let d = A.clone(table());
	console.log(`bytes.init ${A.save(d).length}`);
	let r = 0x2545f491;
	const t0 = Date.now();
	for (let i = 0; i < count;) {
		const ops = [];
		for (let j = 0; j < per && i < count; j++, i++) {
			r = (Math.imul(r, 1664525) + 1013904223) >>> 0;
			const a = r % addrs;
			r = (Math.imul(r, 1664525) + 1013904223) >>> 0;
			ops.push([a, r >>> 1]);
		}
		d = A.change(d, (x) => {
			for (const [a, v] of ops)
				x[blk(a)][slot(a)].increment(v);
		});
	}
	console.log(`bytes ${A.save(d).length}`);
	console.log(`updates ${count}`);
	console.log(`changes ${Math.ceil(count / per)}`);
	console.log(`seconds ${((Date.now() - t0) / 1000).toFixed(3)}`);
	process.exit(0);
}
const node = Number(process.argv[2]);
const nodes = Number(process.argv[3]);
// AM_LOCAL=1: every node on this machine's loopback, node I's ports 10 * I
// above (to try the program out; the ping-pong's UDP port is not moved).
const local = process.env.AM_LOCAL === "1";
const port = (p, id) => (local ? p + 10 * id : p);
const host = (id) => (local ? "127.0.0.1" : `10.99.0.${id}`);
const SYNC_PORT = 7791, CTL_PORT = 7792, PP_PORT = 7790;
if (!(node >= 1 && node <= nodes))
	throw new Error("usage: am-node.mjs NODE NODES");

let doc = A.init();
const peers = new Map();	// node -> { sock, sync, last, buf }
const saved = new Map();	// node -> the sync state kept across connections
const log = (...a) => console.error(`am-node ${node}:`, ...a);
const now = () => Number(process.hrtime.bigint()) / 1e9;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A frame: 4-byte length, a type (0 sync, 1 ping), the payload.
function send(p, type, payload) {
	const h = Buffer.alloc(5);
	h.writeUInt32BE(payload.length + 1);
	h[4] = type;
	p.sock.write(h);
	if (payload.length)
		p.sock.write(payload);
}

function syncPeer(p) {
	const [s, msg] = A.generateSyncMessage(doc, p.sync);
	p.sync = s;
	if (msg)
		send(p, 0, Buffer.from(msg));
}

// An answer to a peer's message goes at once (the protocol is a dialogue);
// local changes are offered at most every 100 ms, as automerge-repo
// debounces them and as atomikd publishes, so that the changes of a busy
// writer go together.
let syncPending = false, changeTimer = null, lastChangeSync = 0;
function syncAll() {
	if (syncPending)
		return;
	syncPending = true;
	setImmediate(() => {
		syncPending = false;
		for (const p of peers.values())
			syncPeer(p);
	});
}
function syncChanged() {
	if (changeTimer)
		return;
	const wait = Math.max(0, lastChangeSync + 0.1 - now());
	changeTimer = setTimeout(() => {
		changeTimer = null;
		lastChangeSync = now();
		syncAll();
	}, wait * 1000);
}

function attach(sock, id) {
	sock.setNoDelay(true);
	const old = saved.get(id);
	const p = { sock, id, last: now(), buf: Buffer.alloc(0),
		    sync: old ? A.decodeSyncState(A.encodeSyncState(old)) : A.initSyncState() };
	peers.set(id, p);
	sock.on("data", (d) => {
		p.last = now();
		p.buf = p.buf.length ? Buffer.concat([p.buf, d]) : d;
		while (p.buf.length >= 4) {
			const n = p.buf.readUInt32BE(0);
			if (p.buf.length < 4 + n)
				break;
			const type = p.buf[4], body = p.buf.subarray(5, 4 + n);
			p.buf = p.buf.subarray(4 + n);
			if (type === 0) {
				const [d2, s] = A.receiveSyncMessage(doc, p.sync, new Uint8Array(body));
				doc = d2;
				p.sync = s;
				syncAll();
			}
		}
	});
	const gone = () => {
		if (peers.get(id) === p) {
			saved.set(id, p.sync);
			peers.delete(id);
		}
		sock.destroy();
	};
	sock.on("error", gone);
	sock.on("close", gone);
	syncPeer(p);
}

// The lower node dials; the higher one says who it is in its first 4 bytes.
net.createServer((sock) => {
	sock.once("readable", function first() {
		const b = sock.read(4);
		if (!b) {
			sock.once("readable", first);
			return;
		}
		const id = b.readUInt32BE(0);
		const old = peers.get(id);
		if (old)
			old.sock.destroy();
		attach(sock, id);
	});
	sock.on("error", () => sock.destroy());
}).listen(port(SYNC_PORT, node), local ? "127.0.0.1" : "0.0.0.0");

function dial(id) {
	if (peers.has(id))
		return;
	const sock = net.connect({ host: host(id), port: port(SYNC_PORT, id) });
	const t = setTimeout(() => sock.destroy(), 2000);
	sock.on("connect", () => {
		clearTimeout(t);
		const b = Buffer.alloc(4);
		b.writeUInt32BE(node);
		sock.write(b);
		attach(sock, id);
	});
	sock.on("error", () => { clearTimeout(t); sock.destroy(); });
}

setInterval(() => {
	for (let id = node + 1; id <= nodes; id++)
		dial(id);
	for (const p of peers.values()) {
		if (now() - p.last > 3) {
			p.sock.destroy();
			continue;
		}
		send(p, 1, Buffer.alloc(0));
	}
}, 500);
for (let id = node + 1; id <= nodes; id++)
	dial(id);

// ---- measurements ----

function percentiles(out, name, v, unit) {
	v.sort((a, b) => a - b);
	const n = v.length;
	out.push(`${name}n ${n}`, `${name}p50 ${(v[n >> 1] / unit).toFixed(3)}`,
		 `${name}p99 ${(v[Math.floor(n * 99 / 100)] / unit).toFixed(3)}`,
		 `${name}max ${(v[n - 1] / unit).toFixed(3)}`);
}

// Deltas as the other systems': random, here 31-bit increments.
let rng = BigInt(Date.now()) ^ (BigInt(node) << 40n) | 1n;
function rnd() {
	rng ^= (rng << 13n) & 0xffffffffffffffffn;
	rng ^= rng >> 7n;
	rng ^= (rng << 17n) & 0xffffffffffffffffn;
	return Number(rng & 0x7fffffffn);
}

const blk = (a) => "b" + (a >> 8), slot = (a) => String(a & 255);
const get = (a) => doc[blk(a)]?.[slot(a)]?.value;

function counters() {
	const v = {};
	for (const b of Object.keys(doc)) {
		if (b[0] !== "b")
			continue;
		const base = Number(b.slice(1)) << 8;
		for (const s of Object.keys(doc[b]))
			v[base + Number(s)] = doc[b][s].value;
	}
	return v;
}

// A node of the rig that failed (failed.N in ATOMIK_SHARED): no file it
// was to make will come.
function checkFailed() {
	const sh = process.env.ATOMIK_SHARED;
	for (let i = 1; sh && i <= nodes; i++)
		if (fs.existsSync(`${sh}/failed.${i}`))
			throw new Error(`node ${i} of the rig failed`);
}

function writeJson(file, obj) {
	fs.writeFileSync(file + ".part", JSON.stringify(obj));
	fs.renameSync(file + ".part", file);
}

function apply(ops) {	// ops: [[address, inc]...] in one change
	doc = A.change(doc, (d) => {
		for (const [a, v] of ops)
			d[blk(a)][slot(a)].increment(v);
	});
	syncChanged();
}

const cmds = {
	async load(file) {
		const t = now();
		// The table's document, this node its own actor from here on.
		doc = A.clone(A.load(new Uint8Array(fs.readFileSync(file))));
		syncAll();
		return [`seconds ${(now() - t).toFixed(3)}`];
	},
	async ready(seconds) {
		const t0 = now();
		while (!(doc.pp && peers.size === nodes - 1)) {
			if (now() - t0 > Number(seconds))
				throw new Error(`no document from node 1 after ${seconds} s`);
			await sleep(100);
		}
		return [`seconds ${(now() - t0).toFixed(3)}`, `keys ${Object.keys(counters()).length}`];
	},
	async latency(n) {
		const v = [], out = [];
		for (let i = 0; i < Number(n); i++) {
			const a = i % 100, inc = rnd();
			const t = now();
			doc = A.change(doc, (d) => { d[blk(a)][slot(a)].increment(inc); });
			v.push(now() - t);
			syncChanged();
			if (i % 100 === 99)
				await sleep(1);	// the sync goes on meanwhile
		}
		percentiles(out, "", v, 1e-6);
		return out;
	},
	async write(rounds, ...peerIps) {
		const sock = dgram.createSocket("udp4");
		await new Promise((r) => sock.bind(PP_PORT, r));
		const inbox = [];
		let wake = null;
		sock.on("message", (m, from) => {
			inbox.push([String(m), from.address]);
			if (wake)
				wake();
		});
		const recv = (ms) => new Promise((r) => {
			if (inbox.length)
				return r(inbox.shift());
			const t = setTimeout(() => { wake = null; r(null); }, ms);
			wake = () => { clearTimeout(t); wake = null; r(inbox.shift()); };
		});
		const rtt = [], v = [], out = [];
		for (const ip of peerIps) {
			let tries = 0;
			for (let k = 0; k < 20; k++) {
				let ok = false, t;
				while (!ok) {
					if (++tries > 300)
						throw new Error(`peer ${ip} does not answer its pings`);
					t = now();
					sock.send(`ping ${k}`, PP_PORT, ip);
					for (let m; (m = await recv(200));)
						if (m[0] === `pong ${k}`) { ok = true; break; }
				}
				rtt.push(now() - t);
			}
			for (let k = 0; k < 3; k++)
				sock.send(`go ${rounds}`, PP_PORT, ip);
		}
		const base = doc.pp.value;
		for (let r = 1; r <= Number(rounds); r++) {
			const t = now(), seen = new Set();
			doc = A.change(doc, (d) => { d.pp.increment(1); });
			syncChanged();
			while (seen.size < peerIps.length) {
				const left = t + 20 - now();
				const m = left > 0 ? await recv(left * 1000) : null;
				if (!m)
					throw new Error(`round ${r} not read by every peer within 20 s`);
				if (m[0] === `read ${r}`)
					seen.add(m[1]);
			}
			v.push(now() - t);
			await sleep(20);
		}
		sock.close();
		if (doc.pp.value !== base + Number(rounds))
			throw new Error("pp is not what the rounds left");
		for (const x of v)
			out.push(`sample ${(x * 1e3).toFixed(3)}`);
		percentiles(out, "", v, 1e-3);
		percentiles(out, "udp-rtt.", rtt, 1e-3);
		return out;
	},
	async watch(rounds) {
		// The count before the writer's first round, read before its "go"
		// (as the C watchers do): read after it, a first round's change
		// that came before the datagram was taken for the base, and the
		// watcher waited for a round that never came.
		const base = doc.pp.value;
		const sock = dgram.createSocket("udp4");
		await new Promise((r) => sock.bind(PP_PORT, r));
		let writer = null, go = false;
		sock.on("message", (m, from) => {
			const [kind, n] = String(m).split(" ");
			if (kind === "ping")
				sock.send(`pong ${n}`, from.port, from.address);
			else if (kind === "go") {
				writer = from;
				go = true;
			}
		});
		const t0 = now();
		while (!go) {
			if (now() - t0 > 120)
				throw new Error("no word from the writer within 120 s");
			await sleep(5);
		}
		// Each notice again every 100 ms until the next round shows, the
		// last one for a second, as atomik-cluster-bench's watchers do: a
		// datagram lost delays its round by at most that.
		for (let r = 1; r <= Number(rounds); r++) {
			const end = now() + 20;
			let again = now() + 0.1;
			while (doc.pp.value < base + r) {
				if (now() > end)
					throw new Error(`round ${r} not read within 20 s`);
				if (r > 1 && now() >= again) {
					sock.send(`read ${r - 1}`, writer.port, writer.address);
					again = now() + 0.1;
				}
				await sleep(1);
			}
			sock.send(`read ${r}`, writer.port, writer.address);
		}
		for (let k = 0; k < 10; k++) {
			await sleep(100);
			sock.send(`read ${rounds}`, writer.port, writer.address);
		}
		sock.close();
		return [];
	},
	async rate(rate, seconds, addrs, file) {
		rate = Number(rate); seconds = Number(seconds); addrs = Number(addrs);
		const m = {}, total = rate * seconds;
		let written = 0, changes = 0;
		const t0 = now(), end = t0 + seconds;
		while (now() < end) {
			let due = Math.min(total, Math.floor((now() - t0) * rate) + 1);
			const ops = [];
			// Behind its schedule the load is dropped, not caught up.
			if (due - written > rate / 10 + 100)
				due = written + Math.ceil(rate / 10) + 100;
			for (; written < due; written++) {
				const k = rnd() % addrs, inc = rnd();
				ops.push([k, inc]);
				m[k] = (m[k] || 0) + inc;
			}
			if (ops.length) {
				apply(ops);
				changes++;
			}
			await sleep(1);
		}
		const t = now() - t0;
		writeJson(file, m);
		return [`offered ${total}`, `written ${written}`, `calls ${changes}`,
			`seconds ${t.toFixed(3)}`, `rate ${(written / t).toFixed(1)}`];
	},
	async spread(seconds, rate, file) {
		seconds = Number(seconds); rate = Number(rate);
		const m = {};
		let ok = 0;
		const t0 = now();
		let next = t0;
		while (now() < t0 + seconds) {
			const k = rnd() % 65536, inc = rnd();
			apply([[k, inc]]);
			m[k] = (m[k] || 0) + inc;
			ok++;
			next += 1 / rate;
			await sleep(Math.max(0, (next - now()) * 1000));
		}
		const t = now() - t0;
		writeJson(file, m);
		return [`accepted ${ok}`, "refused 0", `rate ${(ok / t).toFixed(2)}`,
			`attempts_rate ${(ok / t).toFixed(2)}`];
	},
	async snap(file) {
		writeJson(file, counters());
		return [];
	},
	async wait(seconds, ...files) {
		seconds = Number(seconds);
		let t0 = now();
		for (const f of files) {
			while (!fs.existsSync(f)) {
				if (now() - t0 > seconds)
					throw new Error(`no ${f} after ${seconds} s`);
				checkFailed();
				await sleep(50);
			}
		}
		const want = {};
		for (const f of files)
			for (const [k, v] of Object.entries(JSON.parse(fs.readFileSync(f))))
				want[k] = (want[k] || 0) + v;
		const keys = Object.keys(want);
		t0 = now();
		for (;;) {
			let diff = 0;
			for (const k of keys)
				if (get(Number(k)) !== want[k])
					diff++;
			if (!diff)
				break;
			if (now() - t0 > seconds)
				throw new Error(`${diff} of ${keys.length} counters differ after ${seconds} s`);
			await sleep(100);
		}
		return [`seconds ${(now() - t0).toFixed(3)}`, `keys ${keys.length}`];
	},
	async bulk(count, addrs, per, file) {
		count = Number(count); addrs = Number(addrs); per = Number(per);
		const m = {};
		const t0 = now();
		for (let i = 0; i < count;) {
			const ops = [];
			for (let j = 0; j < per && i < count; j++, i++) {
				const k = rnd() % addrs, inc = rnd();
				ops.push([k, inc]);
				m[k] = (m[k] || 0) + inc;
			}
			apply(ops);
			await sleep(0);
		}
		writeJson(file, m);
		return [`seconds ${(now() - t0).toFixed(3)}`, `updates ${count}`];
	},
	async size() {
		const t = now();
		const b = A.save(doc).length;
		return [`bytes ${b}`, `save_seconds ${(now() - t).toFixed(3)}`,
			`keys ${Object.keys(counters()).length}`];
	},
	async reset() {
		doc = A.init();
		saved.clear();
		for (const p of peers.values()) {
			p.sync = A.initSyncState();
			syncPeer(p);
		}
		return [];
	},
};

net.createServer((sock) => {
	let line = "";
	sock.on("data", async (d) => {
		line += d;
		const nl = line.indexOf("\n");
		if (nl < 0)
			return;
		const [cmd, ...args] = line.slice(0, nl).trim().split(/\s+/);
		line = "";
		try {
			if (!cmds[cmd])
				throw new Error(`unknown command '${cmd}'`);
			const out = await cmds[cmd](...args);
			sock.end(out.map((l) => l + "\n").join("") + "ok\n");
		} catch (e) {
			log(`${cmd}: ${e.message}`);
			sock.end(`error ${e.message}\n`);
		}
	});
	sock.on("error", () => sock.destroy());
}).listen(port(CTL_PORT, node), "127.0.0.1", () => log("serving"));
