// SPDX-License-Identifier: GPL-2.0
/*
 * atomikd's status file, STATE_DIR/status.json, rewritten once a second
 * (every five at rest: main.c, status_due()) while the daemon serves and once more when it stops; atomik cluster status
 * reads it.  Its schema is versioned ("schema") and documented in
 * atomikd(8): members are only ever added to a schema; one that changes or
 * goes makes a new schema number.  Each counter, and each table, peer or
 * contributor, is on a line of its own, so that a shell can read it too.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomikd.h"
#include "daemon.h"

static const char *state_name(enum akd_table_state s)
{
	return s == AKD_RECOVERING ? "recovering" : s == AKD_WAITING ? "waiting" : "serving";
}

/* s as a JSON string: the core's and the configuration's strings are
 * printable ASCII, but a quote or backslash is escaped all the same. */
static void jstr(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
	fputc('"', f);
}

void status_write(const struct akd_core *core, const char *state, uint64_t started_ms,
		  uint32_t host, uint64_t session)
{
	const struct akd_stats *st = akd_core_stats(core);
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	struct akd_contrib_info ci;
	struct akd_table_info ti;
	struct akd_peer_info pi;
	uint64_t now = now_ns() / 1000000;
	unsigned int i, k;
	unsigned long direct[MAX_SERVERS];
	int nd;
	bool failing = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/" ATOMIKD_STATUS_FILE, cfg.state_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fchmod(fileno(f), 0640);
	for (k = 0; k < (unsigned int)cfg.nr_tables; k++) {
		akd_core_table_info(core, k, &ti);
		failing |= ti.checkpoint_failing;
	}
	fprintf(f, "{\n \"schema\": %d,\n \"state\": \"%s\",\n \"node\": %lu,\n \"pid\": %d,\n",
		ATOMIKD_STATUS_SCHEMA, state, cfg.node, (int)getpid());
	fprintf(f, " \"host\": \"%08x\",\n \"session\": \"%016" PRIx64 "\",\n", host, session);
	fprintf(f, " \"now_ms\": %" PRIu64 ",\n \"started_ms\": %" PRIu64 ",\n", now, started_ms);
	fprintf(f, " \"connected\": %s,\n \"checkpoint_failing\": %s,\n",
		transport_connected ? "true" : "false", failing ? "true" : "false");
	fprintf(f, " \"pending_bytes\": %d,\n \"counters\": {\n", transport_pending_bytes());
#define X(name) fprintf(f, "  \"" #name "\": %" PRIu64 ",\n", st->name);
	AKD_COUNTERS(X)
#undef X
	fprintf(f, "  \"send_errors\": %" PRIu64 ",\n", transport_send_errors);
	fprintf(f, "  \"receive_drops\": %" PRIu64 ",\n", transport_dropped);
	fprintf(f, "  \"direct_dials\": %" PRIu64 "\n },\n \"direct\": [", transport_direct_dials);
	nd = transport_direct(direct, MAX_SERVERS);
	for (k = 0; k < (unsigned int)nd; k++)
		fprintf(f, "%s%lu", k ? ", " : "", direct[k]);
	fprintf(f, "],\n \"dropped\": {\n");
#define X(name, text) fprintf(f, "  \"" #name "\": %" PRIu64 ",\n", st->dropped_##name);
	AKD_DROPS(X)
#undef X
	fprintf(f, "  \"total\": %" PRIu64 "\n },\n \"tables\": [\n", 0
#define X(name, text) + st->dropped_##name
		AKD_DROPS(X)
#undef X
	);
	for (k = 0; k < (unsigned int)cfg.nr_tables; k++) {
		akd_core_table_info(core, k, &ti);
		fprintf(f, "  {\"name\": ");
		jstr(f, ti.name);
		fprintf(f, ", \"id\": %u, \"instance\": \"%016" PRIx64 "\", \"nr_addrs\": %u, "
			"\"blocks\": %u, \"state\": \"%s\", \"contributors\": %u, \"records\": %u, "
			"\"unpublished\": %u, \"unwritten\": %u, \"size_error\": ", ti.id,
			ti.instance, ti.nr_addrs, ti.nr_blocks, state_name(ti.state), ti.contributors,
			ti.records, ti.unpublished, ti.unwritten);
		if (ti.size_error)
			jstr(f, ti.size_error);
		else
			fputs("null", f);
		fprintf(f, "}%s\n", k + 1 < (unsigned int)cfg.nr_tables ? "," : "");
	}
	fprintf(f, " ],\n \"contributors\": [\n");
	for (k = 0; k < (unsigned int)cfg.nr_tables; k++)
		for (i = 0; akd_core_contrib(core, k, i, &ci); i++) {
			fprintf(f, "%s  {\"table\": ", k || i ? ",\n" : "");
			jstr(f, cfg.names[k]);
			fprintf(f, ", \"node\": %u, \"instance\": \"%016" PRIx64 "\", \"host\": "
				"\"%08x\", \"version\": %" PRIu64 ", \"folds\": %u, \"own\": %s, "
				"\"live\": %s}", ci.node, ci.instance, ci.host, ci.version, ci.folds,
				ci.own ? "true" : "false", ci.live ? "true" : "false");
		}
	fprintf(f, "\n ],\n \"peers\": [\n");
	for (i = 0; akd_core_peer(core, i, &pi); i++)
		fprintf(f, "%s  {\"node\": %u, \"session\": \"%016" PRIx64 "\", \"age_ms\": %" PRIu64
			", \"messages\": %" PRIu64 ", \"in_sync\": %s}", i ? ",\n" : "", pi.node,
			pi.session, now - pi.last_seen / 1000000, pi.messages,
			pi.in_sync ? "true" : "false");
	fprintf(f, "\n ]\n}\n");
	if (fclose(f) == 0)
		rename(tmp, path);
	else
		unlink(tmp);
}

/*
 * The same for Prometheus: node_exporter's textfile collector reads
 * metrics_file (Documentation/atomik/metrics.rst has the conventions and
 * the daemon's metrics).  Written beside it and renamed over it.
 */
static const struct {
	const char *name, *help;
} counter_meta[] = {
#define M(field, name, help) { name, help },
	M(messages_received, "received_messages", "Messages received from NATS.")
	M(messages_sent, "sent_messages", "Messages handed to NATS.")
	M(bytes_received, "received_bytes", "Bytes of the messages received.")
	M(bytes_sent, "sent_bytes", "Bytes of the messages handed to NATS.")
	M(blocks_published, "blocks_published", "Blocks of this node's contribution published.")
	M(blocks_applied, "blocks_applied", "Newer blocks of other contributors applied.")
	M(duplicates, "duplicates", "Blocks, records and hellos received that were held already (a copy) or older; copies of a WANT answered already.")
	M(own_echoes, "own_echoes", "Blocks of this node's own live instance received back.")
	M(hellos_sent, "hellos_sent", "Heartbeats sent.")
	M(digests_sent, "digests_sent", "Table digests sent to a peer whose hash differed.")
	M(digests_received, "digests_received", "Table digests received.")
	M(wants_sent, "wants_sent", "Repair requests sent.")
	M(wants_answered, "wants_answered", "Repair requests answered.")
	M(blocks_repaired, "blocks_repaired", "Blocks sent to a peer that lacked them.")
	M(records_applied, "records_applied", "Collection records applied.")
	M(collected, "collected", "Dead instances collected.")
	M(persist_failures, "checkpoint_failures", "Checkpoint writes that failed.")
	M(remote_writes, "remote_writes", "Writes of the remote row.")
	M(remote_repairs, "remote_repairs", "Remote blocks found to differ and written again.")
	M(peers_appeared, "peers_appeared", "Daemon sessions of other nodes first heard.")
	M(twin_sessions, "twin_sessions", "Pairs of daemons heard with one node id.")
	M(patches_sent, "patches_sent", "Repairs sent as the values that changed (a PATCH), not the whole block.")
	M(patches_applied, "patches_applied", "Repairs received as a PATCH and applied.")
#undef M
};

void metrics_write(const struct akd_core *core, const char *state)
{
	const struct akd_stats *st = akd_core_stats(core);
	const uint64_t *counters = (const uint64_t *)st;
	char tmp[PATH_MAX + 8];
	struct akd_table_info ti;
	struct akd_peer_info pi;
	unsigned int i, k, peers = 0;
	unsigned long direct[MAX_SERVERS];
	bool failing = false;
	FILE *f;

	if (!cfg.metrics_file)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", cfg.metrics_file);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fchmod(fileno(f), 0644);
#define ONE(name) + 1
	_Static_assert(sizeof(counter_meta) / sizeof(counter_meta[0]) == 0 AKD_COUNTERS(ONE),
		       "a name per counter, in AKD_COUNTERS' order");
#undef ONE
	for (i = 0; i < sizeof(counter_meta) / sizeof(counter_meta[0]); i++)
		fprintf(f, "# HELP atomikd_%s_total %s\n# TYPE atomikd_%s_total counter\n"
			"atomikd_%s_total %" PRIu64 "\n", counter_meta[i].name,
			counter_meta[i].help, counter_meta[i].name, counter_meta[i].name,
			counters[i]);
	fprintf(f, "# HELP atomikd_dropped_messages_total Messages dropped, by cause "
		"(atomikd(8)).\n# TYPE atomikd_dropped_messages_total counter\n");
#define X(name, text) fprintf(f, "atomikd_dropped_messages_total{cause=\"" #name "\"} %" \
			      PRIu64 "\n", st->dropped_##name);
	AKD_DROPS(X)
#undef X
	for (i = 0; akd_core_peer(core, i, &pi); i++)
		peers += pi.last_seen / 1000000 + 3000 > now_ns() / 1000000;
	fprintf(f, "# HELP atomikd_peers Peer sessions heard from in the last 3 seconds.\n"
		"# TYPE atomikd_peers gauge\natomikd_peers %u\n", peers);
	fprintf(f, "# HELP atomikd_connected Whether NATS is connected (1) or not (0).\n"
		"# TYPE atomikd_connected gauge\natomikd_connected %d\n",
		transport_connected ? 1 : 0);
	fprintf(f, "# HELP atomikd_direct_connections Peers' servers reached directly now "
		"(peer_servers).\n# TYPE atomikd_direct_connections gauge\n"
		"atomikd_direct_connections %d\n", transport_direct(direct, MAX_SERVERS));
	fprintf(f, "# HELP atomikd_direct_dials_total Silent peers reached at their own "
		"server.\n# TYPE atomikd_direct_dials_total counter\n"
		"atomikd_direct_dials_total %" PRIu64 "\n", transport_direct_dials);
	fprintf(f, "# HELP atomikd_contributors Contributors held, this node's live instance "
		"included.\n# TYPE atomikd_contributors gauge\n");
	for (k = 0; k < (unsigned int)cfg.nr_tables; k++) {
		akd_core_table_info(core, k, &ti);
		failing |= ti.checkpoint_failing;
		fprintf(f, "atomikd_contributors{table=\"%s\"} %u\n", ti.name, ti.contributors);
	}
	fprintf(f, "# HELP atomikd_unwritten_blocks Remote blocks not written to the device "
		"yet.\n# TYPE atomikd_unwritten_blocks gauge\n");
	for (k = 0; k < (unsigned int)cfg.nr_tables; k++) {
		akd_core_table_info(core, k, &ti);
		fprintf(f, "atomikd_unwritten_blocks{table=\"%s\"} %u\n", ti.name, ti.unwritten);
	}
	fprintf(f, "# HELP atomikd_checkpoint_failing Whether a checkpoint cannot be written "
		"(device writes stopped).\n# TYPE atomikd_checkpoint_failing gauge\n"
		"atomikd_checkpoint_failing %d\n", failing ? 1 : 0);
	fprintf(f, "# HELP atomikd_info The daemon's node and state.\n# TYPE atomikd_info gauge\n"
		"atomikd_info{node=\"%lu\",state=\"%s\"} 1\n", cfg.node, state);
	if (fclose(f) == 0)
		rename(tmp, cfg.metrics_file);
	else
		unlink(tmp);
}
