#include "sup_status.h"
#include "ts_pushurl.h"
#include "health.h"
#include "sup_beat.h"
#include "ts_time.h"
#include "ts_topology.h"
#include <string.h>
#include <unistd.h>

const char *sup_status_state(const proc_t *p, const char **reason)
{
    *reason = NULL;
    switch (p->state) {
    case S_FAILED:
    case S_BACKOFF:
        *reason = p->reason[0] ? p->reason : NULL;
        break;
    case S_READY:
        *reason = p->why[0] ? p->why : NULL;
        if (!p->ok)
            return SUP_STATE_UNREADY;
        break;
    default:
        break;
    }
    return sup_state_name[p->state];
}

static void stage(sup_t *s, proc_t *p, sup_status_t *out, int i, uint64_t now)
{
    Ts__StageStatus *st = &out->st[i];
    ts__stage_status__init(st);
    int running = p->state == S_STARTING || p->state == S_READY || p->state == S_STOPPING;
    st->name = (char *)p->name;
    st->pid = running ? p->pid : 0;
    const char *reason;
    st->state = (char *)sup_status_state(p, &reason);
    st->restarts = p->restarts;
    st->reason = (char *)reason;
    health_fill_stage(s, p, st, out->metrics_url[i], sizeof out->metrics_url[i]);
    st->uptime_s = running ? ts_ns_to_s(now - p->started_ns) : 0.0;
    for (int c = 0; c < p->ncounters; c++) {
        ts__counter__init(&out->c[i][c]);
        out->c[i][c].name = p->cname[c];
        out->c[i][c].value = p->cval[c];
        out->cp[i][c] = &out->c[i][c];
    }
    st->n_counters = (size_t)p->ncounters;
    st->counters = out->cp[i];
    out->stp[i] = st;
}

void sup_status_fill(sup_t *s, sup_status_t *out)
{
    uint64_t now = ts_mono_ns();
    Ts__InstanceStatus *in = &out->in;
    ts__instance_status__init(in);
    const struct {
        const char *key;
        char **field;
    } conf[] = { { "name", &in->name },     { "role", &in->role },     { "tstream", &in->tstream },
                 { "infohash", &in->infohash }, { "magnet", &in->magnet }, { "player_url", &in->player_url },
                 { "output", &in->output }, { "source", &in->source }, { "tracker", &in->tracker },
                 { "hls_url", &in->hls_url }, { "dvr", &in->dvr } };
    for (size_t i = 0; i < sizeof conf / sizeof *conf; i++)
        *conf[i].field = (char *)inst_get(&s->inst, conf[i].key);
    if (in->source) { /* status goes to pages and scripts: never an SRT passphrase */
        ts_pushurl_redact(in->source, out->source, sizeof out->source);
        in->source = out->source;
    }
    health_fill(s, in);
    in->state_dir = s->inst.dir;
    in->has_supervisor_pid = 1;
    in->supervisor_pid = (int)getpid();
    for (int i = 0; i < s->nprocs; i++) {
        stage(s, &s->procs[i], out, i, now);
        if (strcmp(s->procs[i].name, ts_topo[TS_TOPO_SWARM].name) == 0) /* the one stage with peers */
            in->n_peer_list = sup_beat_peers(&s->procs[i], &in->peer_list);
    }
    in->n_stages = (size_t)s->nprocs;
    in->stages = out->stp;
}
