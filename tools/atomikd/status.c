// SPDX-License-Identifier: GPL-2.0
/*
 * atomikd's status file, STATE_DIR/status, rewritten while the daemon
 * serves; atomik cluster status reads it.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "atomikd.h"
#include "daemon.h"

void status_write(const struct akd_core *core, const char *state, uint64_t started_ms)
{
	const struct akd_stats *st = akd_core_stats(core);
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	struct akd_contrib_info ci;
	struct akd_table_info ti;
	struct akd_peer_info pi;
	unsigned int i, k;
	FILE *f;

	snprintf(path, sizeof(path), "%s/" ATOMIKD_STATUS_FILE, cfg.state_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "state %s\nnode %lu\npid %d\nnow_ms %" PRIu64 "\nstarted_ms %" PRIu64 "\n",
		state, cfg.node, (int)getpid(), now_ns() / 1000000, started_ms);
	fprintf(f, "connected %d\n", (int)transport_connected);
#define X(name) fprintf(f, #name " %" PRIu64 "\n", st->name);
	AKD_COUNTERS(X)
#undef X
	fprintf(f, "send_errors %" PRIu64 "\n", transport_send_errors);
	fprintf(f, "receive_drops %" PRIu64 "\n", transport_dropped);
#define X(name, text) fprintf(f, "dropped_" #name " %" PRIu64 "\n", st->dropped_##name);
	AKD_DROPS(X)
#undef X
	fprintf(f, "pending_bytes %d\n", transport_pending_bytes());
	for (k = 0; k < (unsigned int)cfg.nr_tables; k++) {
		akd_core_table_info(core, k, &ti);
		fprintf(f, "table %u instance %016" PRIx64 " nr_addrs %u blocks %u "
			"contributors %u unpublished %u unwritten %u\n", ti.id, ti.instance,
			ti.nr_addrs, ti.nr_blocks, ti.contributors, ti.unpublished, ti.unwritten);
		for (i = 0; akd_core_contrib(core, k, i, &ci); i++)
			fprintf(f, "contributor %u table %u node %u instance %016" PRIx64
				" version %" PRIu64 "\n", i, ti.id, ci.node, ci.instance, ci.version);
	}
	for (i = 0; akd_core_peer(core, i, &pi); i++)
		fprintf(f, "peer %u instance %016" PRIx64 " version %d"
			" last_ms %" PRIu64 " messages %" PRIu64 "\n", pi.node, pi.session,
			pi.in_sync, pi.last_seen / 1000000, pi.messages);
	if (fclose(f) == 0)
		rename(tmp, path);
	else
		unlink(tmp);
}
