#include "peerlist.h"
#include "peer.h"
#include "ts_time.h"
#include <stdlib.h>
#include <string.h>

/* A heartbeat sent early (a readiness change) must not turn a few milliseconds of traffic into a
 * rate: a peer's rates are measured over at least this long, else the last ones stand. */
#define PL_MIN_NS (500 * TS_NS_PER_MS)

_Static_assert(TS_WIRE_CLIENT_LEN <= TS_MSG_PEER_TEXT, "a client string must fit the heartbeat's bound");

struct peerlist {
    Ts__PeerStatus ps[TS_MSG_MAX_PEERS], *pp[TS_MSG_MAX_PEERS];
    char addr[TS_MSG_MAX_PEERS][TS_MSG_PEER_TEXT], client[TS_MSG_MAX_PEERS][TS_WIRE_CLIENT_LEN];
    peer_t **sorted; /* every connected peer, for sorting */
    size_t cap;
};

/* Bits per second each way since the peer's last sample (its connection, at first). */
static void sample(peer_t *p, uint64_t now)
{
    uint64_t from = p->pl_ns ? p->pl_ns : p->connected_ns;
    if (now - from < PL_MIN_NS)
        return;
    double dt = (double)(now - from) / TS_NS_PER_S_F;
    p->up_bps = (double)(p->bytes_up - p->pl_up) * 8 / dt;
    p->down_bps = (double)(p->bytes_down - p->pl_down) * 8 / dt;
    p->pl_up = p->bytes_up;
    p->pl_down = p->bytes_down;
    p->pl_ns = now;
}

static int busier(const void *a, const void *b)
{
    const peer_t *p = *(peer_t *const *)a, *q = *(peer_t *const *)b;
    double rp = p->up_bps + p->down_bps, rq = q->up_bps + q->down_bps;
    if (rp != rq)
        return rp > rq ? -1 : 1;
    return p->serial < q->serial ? -1 : p->serial > q->serial; /* the older first: a stable order */
}

static void fill(struct peerlist *pl, size_t i, const peer_t *p, uint64_t now)
{
    Ts__PeerStatus *s = &pl->ps[i];
    ts__peer_status__init(s);
    s->addr = (char *)peer_addr(p, pl->addr[i], sizeof pl->addr[i]);
    if (p->client[0]) /* copied: p may be freed before the next heartbeat */
        s->client = memcpy(pl->client[i], p->client, sizeof pl->client[i]);
    s->has_incoming = 1, s->incoming = !p->outgoing;
    s->has_up_bps = 1, s->up_bps = p->up_bps;
    s->has_down_bps = 1, s->down_bps = p->down_bps;
    s->has_up_bytes = 1, s->up_bytes = p->bytes_up;
    s->has_down_bytes = 1, s->down_bytes = p->bytes_down;
    s->has_connected_s = 1, s->connected_s = (double)(now - p->connected_ns) / TS_NS_PER_S_F;
    s->via = p->punch ? "punched" : NULL; /* the only way besides a plain dial or accept we know of */
    s->has_source = 1, s->source = p->source != 0;
    pl->pp[i] = s;
}

void peerlist_beat(Ts__Heartbeat *hb, void *arg)
{
    swarm_t *sw = arg;
    uint64_t now = ts_mono_ns();
    struct peerlist *pl = sw->plist;
    if (!pl && !(pl = sw->plist = calloc(1, sizeof *pl)))
        return; /* out of memory: this heartbeat goes without its peers */
    size_t n = 0;
    for (peer_t *p = sw->peers; p; p = p->next) {
        if (!peer_alive(p) || p->state != PEER_ACTIVE)
            continue;
        sample(p, now);
        if (n == pl->cap) {
            size_t cap = pl->cap ? 2 * pl->cap : 32;
            peer_t **v = realloc(pl->sorted, cap * sizeof *v);
            if (!v)
                break;
            pl->sorted = v, pl->cap = cap;
        }
        pl->sorted[n++] = p;
    }
    if (n) /* sorted is NULL until the first peer (qsort's argument must not be) */
        qsort(pl->sorted, n, sizeof *pl->sorted, busier);
    if (n > TS_MSG_MAX_PEERS)
        n = TS_MSG_MAX_PEERS;
    for (size_t i = 0; i < n; i++)
        fill(pl, i, pl->sorted[i], now);
    hb->n_peers = n;
    hb->peers = pl->pp;
}

void peerlist_free(swarm_t *sw)
{
    if (!sw->plist)
        return;
    free(sw->plist->sorted);
    free(sw->plist);
    sw->plist = NULL;
}
