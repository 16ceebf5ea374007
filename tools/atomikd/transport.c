// SPDX-License-Identifier: GPL-2.0
/*
 * atomikd's transport: one NATS connection, the core's channels mapped to
 * subjects under the prefix (Documentation/atomik/cluster.rst, "The wire").
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <nats/nats.h>

#include "daemon.h"

static natsConnection *nc;
static natsSubscription *sub;
static char inbox[128];
static size_t prefix_len;
volatile int transport_connected;
uint64_t transport_send_errors;
static volatile int reconnected;

static void on_reconnected(natsConnection *c, void *closure)
{
	reconnected = 1;
	transport_connected = 1;
}

static void on_connected(natsConnection *c, void *closure)
{
	transport_connected = 1;
}

static void on_disconnected(natsConnection *c, void *closure)
{
	transport_connected = 0;
}

void transport_start(uint64_t session)
{
	natsOptions *opts;
	natsStatus s;
	char subj[128], name[64];

	if (nats_Open(-1) != NATS_OK)
		die(1, "cannot start the NATS library");
	if (natsOptions_Create(&opts) != NATS_OK)
		die(1, "out of memory");
	snprintf(name, sizeof(name), "atomikd-%lu", cfg.node);
	s = natsOptions_SetServers(opts, (const char **)cfg.servers, cfg.nr_servers);
	if (s == NATS_OK)
		s = natsOptions_SetName(opts, name);
	if (s == NATS_OK)
		s = natsOptions_SetNoEcho(opts, true);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(opts, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(opts, 500);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(opts, on_reconnected, NULL);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(opts, on_disconnected, NULL);
	if (s == NATS_OK)
		s = natsOptions_SetRetryOnFailedConnect(opts, true, on_connected, NULL);
	if (s != NATS_OK)
		die(2, "NATS options: %s", natsStatus_GetText(s));
	s = natsConnection_Connect(&nc, opts);
	if (s == NATS_OK)
		transport_connected = 1;
	else if (s != NATS_NOT_YET_CONNECTED)
		die(1, "connecting to NATS: %s", natsStatus_GetText(s));
	natsOptions_Destroy(opts);
	prefix_len = strlen(cfg.prefix);
	snprintf(subj, sizeof(subj), "%s.>", cfg.prefix);
	s = natsConnection_SubscribeSync(&sub, nc, subj);
	if (s == NATS_OK)
		s = natsSubscription_SetPendingLimits(sub, 1 << 20, 1 << 30);
	if (s != NATS_OK)
		die(1, "subscribing to %s: %s", subj, natsStatus_GetText(s));
	snprintf(inbox, sizeof(inbox), "%s.inbox.%lu.%016" PRIx64, cfg.prefix, cfg.node, session);
}

bool transport_reconnected(void)
{
	if (!reconnected)
		return false;
	reconnected = 0;
	return true;
}

static enum akd_chan channel(const char *subject)
{
	if (!strcmp(subject, inbox))
		return AKD_CHAN_NODE;
	if (!strncmp(subject, cfg.prefix, prefix_len) && subject[prefix_len] == '.') {
		subject += prefix_len + 1;
		if (!strcmp(subject, "recover"))
			return AKD_CHAN_RECOVER;
		if (!strcmp(subject, "hello"))
			return AKD_CHAN_HELLO;
	}
	return AKD_CHAN_BLOCKS;
}

void transport_receive(struct akd_core *core, int64_t timeout_ms)
{
	natsMsg *msg = NULL;
	natsStatus s;

	s = natsSubscription_NextMsg(&msg, sub, timeout_ms > 0 ? timeout_ms : 1);
	if (s == NATS_OK) {
		akd_core_receive(core, now_ns(), channel(natsMsg_GetSubject(msg)),
				 natsMsg_GetReply(msg), natsMsg_GetData(msg),
				 natsMsg_GetDataLength(msg));
		natsMsg_Destroy(msg);
	} else if (s == NATS_SLOW_CONSUMER) {
		say("messages were lost: this node is slower than the cluster "
		    "(anti-entropy brings them back)");
	} else if (s != NATS_TIMEOUT) {
		usleep(timeout_ms * 1000);
	}
}

void transport_send(const struct akd_send *m)
{
	char subj[160];
	natsStatus s;

	switch (m->chan) {
	case AKD_CHAN_BLOCKS:
		snprintf(subj, sizeof(subj), "%s.blk.%u", cfg.prefix, cfg.tables[m->table]);
		break;
	case AKD_CHAN_HELLO:
		snprintf(subj, sizeof(subj), "%s.hello", cfg.prefix);
		break;
	case AKD_CHAN_RECOVER:
		snprintf(subj, sizeof(subj), "%s.recover", cfg.prefix);
		s = natsConnection_PublishRequest(nc, subj, inbox, m->buf, m->len);
		if (s == NATS_OK)
			natsConnection_FlushTimeout(nc, 1000);
		else
			transport_send_errors++;
		return;
	case AKD_CHAN_NODE:
		snprintf(subj, sizeof(subj), "%s.node.%u", cfg.prefix, m->node);
		break;
	case AKD_CHAN_REPLY:
		snprintf(subj, sizeof(subj), "%s", m->reply);
		break;
	}
	if (natsConnection_Publish(nc, subj, m->buf, m->len) != NATS_OK)
		transport_send_errors++;
}

int transport_pending_bytes(void)
{
	return nc ? natsConnection_Buffered(nc) : 0;
}

void transport_stop(void)
{
	natsConnection_FlushTimeout(nc, 2000);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
	nats_CloseAndWait(2000);
}
