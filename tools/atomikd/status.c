// SPDX-License-Identifier: GPL-2.0
/*
 * atomikd's status file, STATE_DIR/status.json, rewritten twice a second
 * while the daemon serves and once more when it stops; atomik cluster status
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
	fprintf(f, "  \"receive_drops\": %" PRIu64 "\n },\n \"dropped\": {\n", transport_dropped);
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
