#include "sup_beat.h"
#include <stdio.h>

/* A string of the message into one of ours (ts_msg_unpack bounded its length); NULL stays NULL. */
static char *keep(char *dst, const char *src)
{
    if (!src)
        return NULL;
    snprintf(dst, TS_MSG_PEER_TEXT, "%s", src);
    return dst;
}

static void keep_peers(proc_t *p, const Ts__Heartbeat *hb)
{
    p->npeers = 0;
    for (size_t i = 0; i < hb->n_peers && i < TS_MSG_MAX_PEERS; i++) {
        Ts__PeerStatus *d = &p->peer[i];
        *d = *hb->peers[i]; /* the figures and presence flags; then the strings, which are not ours */
        d->base.n_unknown_fields = 0, d->base.unknown_fields = NULL; /* (ts_msg_unpack allows none) */
        d->addr = keep(p->peer_text[i][0], d->addr);
        d->client = keep(p->peer_text[i][1], d->client);
        d->via = keep(p->peer_text[i][2], d->via);
        p->peerp[i] = d;
        p->npeers++;
    }
}

void sup_beat_keep(proc_t *p, Ts__MsgType type, const Ts__Heartbeat *hb)
{
    p->ncounters = 0;
    for (size_t i = 0; i < hb->n_counters && i < SUP_MAX_COUNTERS; i++) {
        snprintf(p->cname[i], sizeof p->cname[i], "%s", hb->counters[i]->name);
        p->cval[i] = hb->counters[i]->value;
        p->ncounters++;
    }
    if (type == TS__MSG_TYPE__MSG_HEARTBEAT)
        keep_peers(p, hb);
}

void sup_beat_forget(proc_t *p)
{
    p->ncounters = 0;
    p->npeers = 0;
}

size_t sup_beat_peers(proc_t *p, Ts__PeerStatus ***peers)
{
    *peers = p->peerp;
    return p->state == S_STARTING || p->state == S_READY ? (size_t)p->npeers : 0;
}
