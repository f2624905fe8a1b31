#include "sup_status.h"
#include "health.h"
#include "ts_time.h"
#include <string.h>
#include <unistd.h>

static void stage(sup_t *s, proc_t *p, sup_status_t *out, int i, uint64_t now)
{
    Ts__StageStatus *st = &out->st[i];
    ts__stage_status__init(st);
    int running = p->state == S_STARTING || p->state == S_READY || p->state == S_STOPPING;
    st->name = (char *)p->name;
    st->pid = running ? p->pid : 0;
    st->state = (char *)sup_state_name[p->state];
    st->restarts = p->restarts;
    if (p->state == S_FAILED)
        st->reason = p->reason;
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
                 { "output", &in->output }, { "source", &in->source }, { "tracker", &in->tracker } };
    for (size_t i = 0; i < sizeof conf / sizeof *conf; i++)
        *conf[i].field = (char *)inst_get(&s->inst, conf[i].key);
    health_fill(s, in);
    in->state_dir = s->inst.dir;
    in->has_supervisor_pid = 1;
    in->supervisor_pid = (int)getpid();
    for (int i = 0; i < s->nprocs; i++)
        stage(s, &s->procs[i], out, i, now);
    in->n_stages = (size_t)s->nprocs;
    in->stages = out->stp;
}
