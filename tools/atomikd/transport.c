// SPDX-License-Identifier: GPL-2.0
/*
 * atomikd's transport: one NATS connection, the core's channels mapped to
 * subjects under the prefix (Documentation/atomik/cluster.rst, "The wire"),
 * and only the subjects this node needs subscribed: the hellos, the
 * records, its own node's, and its tables' blocks.  libnats calls back on
 * its own thread; the messages wait in a queue for the daemon's loop.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "daemon.h"

static natsConnection *nc;
static natsSubscription *subs[AKD_MAX_TABLES + 3];
static int nr_subs;
volatile int transport_connected;
uint64_t transport_send_errors, transport_dropped;
static volatile int reconnected;

/* Messages from libnats' thread to the daemon's. */
#define QUEUE_MAX	65536
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qcond = PTHREAD_COND_INITIALIZER;
static natsMsg *queue[QUEUE_MAX];
static unsigned int qhead, qlen;

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

static void on_message(natsConnection *c, natsSubscription *s, natsMsg *msg, void *closure)
{
	pthread_mutex_lock(&qlock);
	if (qlen == QUEUE_MAX) {
		/* Anti-entropy brings back what is dropped here. */
		transport_dropped++;
		natsMsg_Destroy(msg);
	} else {
		queue[(qhead + qlen++) % QUEUE_MAX] = msg;
		pthread_cond_signal(&qcond);
	}
	pthread_mutex_unlock(&qlock);
}

static void subscribe(const char *subject)
{
	natsStatus s;

	s = natsConnection_Subscribe(&subs[nr_subs], nc, subject, on_message, NULL);
	if (s == NATS_OK)
		s = natsSubscription_SetPendingLimits(subs[nr_subs], 1 << 20, 1 << 30);
	if (s != NATS_OK)
		die(1, "subscribing to %s: %s", subject, natsStatus_GetText(s));
	nr_subs++;
}

void transport_start(uint64_t session)
{
	natsOptions *opts;
	natsStatus s;
	char subj[160], name[64];
	int i;

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
	snprintf(subj, sizeof(subj), "%s.hello", cfg.prefix);
	subscribe(subj);
	snprintf(subj, sizeof(subj), "%s.rec", cfg.prefix);
	subscribe(subj);
	snprintf(subj, sizeof(subj), "%s.node.%lu", cfg.prefix, cfg.node);
	subscribe(subj);
	for (i = 0; i < cfg.nr_tables; i++) {
		snprintf(subj, sizeof(subj), "%s.blk.%s", cfg.prefix, cfg.names[i]);
		subscribe(subj);
	}
	(void)session;
}

bool transport_reconnected(void)
{
	if (!reconnected)
		return false;
	reconnected = 0;
	return true;
}

/* Every message queued, or one within timeout_ms, to the core. */
void transport_receive(struct akd_core *core, int64_t timeout_ms)
{
	struct timespec ts;
	natsMsg *msg;

	pthread_mutex_lock(&qlock);
	if (!qlen && timeout_ms > 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += timeout_ms / 1000;
		ts.tv_nsec += (timeout_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		while (!qlen && pthread_cond_timedwait(&qcond, &qlock, &ts) != ETIMEDOUT)
			;
	}
	while (qlen) {
		msg = queue[qhead];
		qhead = (qhead + 1) % QUEUE_MAX;
		qlen--;
		pthread_mutex_unlock(&qlock);
		akd_core_receive(core, now_ns(), natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
		natsMsg_Destroy(msg);
		transport_after_message(core);
		pthread_mutex_lock(&qlock);
	}
	pthread_mutex_unlock(&qlock);
}

void transport_send(const struct akd_send *m)
{
	char subj[160];

	switch (m->chan) {
	case AKD_CHAN_BLOCKS:
		snprintf(subj, sizeof(subj), "%s.blk.%s", cfg.prefix, cfg.names[m->table]);
		break;
	case AKD_CHAN_HELLO:
		snprintf(subj, sizeof(subj), "%s.hello", cfg.prefix);
		break;
	case AKD_CHAN_RECORDS:
		snprintf(subj, sizeof(subj), "%s.rec", cfg.prefix);
		break;
	case AKD_CHAN_NODE:
		snprintf(subj, sizeof(subj), "%s.node.%u", cfg.prefix, m->node);
		break;
	default:
		return;
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
	int i;

	natsConnection_FlushTimeout(nc, 2000);
	for (i = 0; i < nr_subs; i++)
		natsSubscription_Destroy(subs[i]);
	natsConnection_Destroy(nc);
	nats_CloseAndWait(2000);
}
