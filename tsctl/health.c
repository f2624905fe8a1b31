/* The figures an operator asks for first, kept by the supervisor from its stages' heartbeats.
 *
 * Flow: the highest seq any stage reports (seq, last_seq); "last new piece" is when it last grew.
 * Rates: the swarm's bytes_up/bytes_down over the last few heartbeats. Restarts in the last hour:
 * a ring of restart times per stage. Peers and viewers: the swarm's `peers` (a broadcast's
 * viewers are its peers) and the player-bridge's `http_clients`. All on the monotonic clock. */
#include "health.h"
#include "ts_err.h"
#include "ts_time.h"
#include "ts_topology.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RATE_SAMPLES 8  /* heartbeats (about 1 s apart) the rates average over */
#define RESTART_RING 64 /* restart times kept per stage */
#define HOUR_NS (3600ull * TS_NS_PER_S)

struct health {
    int has_seq;
    uint64_t max_seq, last_new_ns;
    struct {
        uint64_t t, up, down;
    } samp[RATE_SAMPLES];
    int nsamp;
    uint64_t restart_t[SUP_MAX_PROCS][RESTART_RING];
    int nrestart[SUP_MAX_PROCS];
};

int64_t sup_counter(const proc_t *p, const char *name, int *found)
{
    for (int i = 0; i < p->ncounters; i++)
        if (strcmp(p->cname[i], name) == 0) {
            if (found)
                *found = 1;
            return p->cval[i];
        }
    if (found)
        *found = 0;
    return 0;
}

static proc_t *proc_named(sup_t *s, const char *name)
{
    for (int i = 0; i < s->nprocs; i++)
        if (strcmp(s->procs[i].name, name) == 0)
            return &s->procs[i];
    return NULL;
}

int health_new(sup_t *s)
{
    return (s->health = calloc(1, sizeof *s->health)) ? 0 : -1;
}

void health_destroy(sup_t *s)
{
    free(s->health);
    s->health = NULL;
}

void health_on_beat(sup_t *s, proc_t *p)
{
    struct health *h = s->health;
    if (!h)
        return;
    uint64_t now = ts_mono_ns();
    static const char *seqs[] = { "seq", "last_seq" };
    for (size_t i = 0; i < 2; i++) {
        int found;
        int64_t v = sup_counter(p, seqs[i], &found);
        if (!found || v <= 0)
            continue;
        if (!h->has_seq) { /* the first figure is a baseline, not a new piece */
            h->has_seq = 1;
            h->max_seq = (uint64_t)v;
        } else if ((uint64_t)v > h->max_seq) {
            h->max_seq = (uint64_t)v;
            h->last_new_ns = now;
        }
    }
    if (strcmp(p->name, ts_topo[TS_TOPO_SWARM].name) == 0) {
        uint64_t up = (uint64_t)sup_counter(p, "bytes_up", NULL), down = (uint64_t)sup_counter(p, "bytes_down", NULL);
        /* A restarted swarm counts from 0 again: start the samples afresh. */
        if (h->nsamp && (up < h->samp[h->nsamp - 1].up || down < h->samp[h->nsamp - 1].down))
            h->nsamp = 0;
        if (h->nsamp == RATE_SAMPLES) {
            memmove(&h->samp[0], &h->samp[1], sizeof h->samp[0] * (RATE_SAMPLES - 1));
            h->nsamp--;
        }
        h->samp[h->nsamp].t = now;
        h->samp[h->nsamp].up = up;
        h->samp[h->nsamp].down = down;
        h->nsamp++;
    }
}

void health_on_restart(sup_t *s, proc_t *p)
{
    struct health *h = s->health;
    if (!h)
        return;
    int i = (int)(p - s->procs);
    if (i < 0 || i >= SUP_MAX_PROCS)
        return;
    h->restart_t[i][h->nrestart[i] % RESTART_RING] = ts_mono_ns();
    h->nrestart[i]++;
}

static int restarts_1h(const struct health *h, int i, uint64_t now)
{
    int n = 0, kept = h->nrestart[i] < RESTART_RING ? h->nrestart[i] : RESTART_RING;
    for (int k = 0; k < kept; k++)
        if (now - h->restart_t[i][k] < HOUR_NS)
            n++;
    return n;
}

/* bits per second over the samples, or -1 if there are too few */
static void rates(const struct health *h, double *up, double *down)
{
    *up = *down = -1;
    if (h->nsamp < 2)
        return;
    double dt = ts_ns_to_s(h->samp[h->nsamp - 1].t - h->samp[0].t);
    if (dt <= 0)
        return;
    *up = (double)(h->samp[h->nsamp - 1].up - h->samp[0].up) * 8 / dt;
    *down = (double)(h->samp[h->nsamp - 1].down - h->samp[0].down) * 8 / dt;
}

double health_piece_age(const sup_t *s)
{
    const struct health *h = s->health;
    return h && h->last_new_ns ? ts_ns_to_s(ts_mono_ns() - h->last_new_ns) : NAN;
}

void health_fill(sup_t *s, Ts__InstanceStatus *in)
{
    struct health *h = s->health;
    if (!h || !s->status_url[0]) /* the figures go with the status page */
        return;
    uint64_t now = ts_mono_ns();
    in->status_url = s->status_url;
    in->has_last_piece_age_s = 1;
    in->last_piece_age_s = health_piece_age(s);
    proc_t *sw = proc_named(s, ts_topo[TS_TOPO_SWARM].name), *br = proc_named(s, ts_topo[TS_TOPO_BRIDGE].name);
    if (sw) {
        in->has_peers = 1;
        in->peers = sup_counter(sw, "peers", NULL);
        const char *role = inst_get(&s->inst, "role");
        if (role && strcmp(role, "broadcast") == 0) { /* a broadcast's viewers are its swarm's peers */
            in->has_viewers = 1;
            in->viewers = in->peers;
        }
    }
    if (br) {
        in->has_viewers = 1;
        in->viewers = sup_counter(br, "http_clients", NULL);
    }
    double up, down;
    rates(h, &up, &down);
    if (up >= 0) {
        in->has_up_bps = in->has_down_bps = 1;
        in->up_bps = up;
        in->down_bps = down;
    }
    int total = 0;
    for (int i = 0; i < s->nprocs; i++)
        total += restarts_1h(h, i, now);
    in->has_restarts_1h = 1;
    in->restarts_1h = total;
}

void health_fill_stage(sup_t *s, proc_t *p, Ts__StageStatus *st, char *url, size_t urllen)
{
    struct health *h = s->health;
    if (!h || !s->status_url[0])
        return;
    int found;
    int64_t port = sup_counter(p, "metrics_port", &found);
    if (found && port > 0 && (p->state == S_READY || p->state == S_STARTING)) {
        snprintf(url, urllen, "http://127.0.0.1:%lld/metrics", (long long)port);
        st->metrics_url = url;
    }
    st->has_restarts_1h = 1;
    st->restarts_1h = restarts_1h(h, (int)(p - s->procs), ts_mono_ns());
}
