#include "ts_stage.h"
#include "ts_bus.h"
#include "ts_log.h"
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <zmq.h>

#define STAGE_MAX_COUNTERS 32

struct ts_stage {
    struct ev_loop *loop;
    ts_bus_t *sup;
    char name[32];
    int ready;
    ev_timer beat;
    ev_signal sigterm, sigint;
    void (*on_stop)(void *);
    void *on_stop_arg;
    size_t ncounters;
    const char *cnames[STAGE_MAX_COUNTERS];
    const uint64_t *cvalues[STAGE_MAX_COUNTERS];
};

static void on_sup(ts_bus_t *bus, const uint8_t *peer, size_t peer_len, Ts__Envelope *m, void *arg)
{
    /* The supervisor sends nothing to stages today; signals carry stop and restart. */
    (void)bus; (void)peer; (void)peer_len; (void)m; (void)arg;
}

static void send_beat(ts_stage_t *st, Ts__MsgType type)
{
    if (!st->sup)
        return;
    Ts__Envelope e = TS__ENVELOPE__INIT;
    Ts__Heartbeat hb = TS__HEARTBEAT__INIT;
    Ts__Counter cs[STAGE_MAX_COUNTERS + 1];
    Ts__Counter *cp[STAGE_MAX_COUNTERS + 1];
    size_t n = 0;
    for (; n < st->ncounters; n++) {
        ts__counter__init(&cs[n]);
        cs[n].name = (char *)st->cnames[n];
        cs[n].value = (int64_t)*st->cvalues[n];
        cp[n] = &cs[n];
    }
    /* Every stage: log lines it dropped rather than wait for a full log pipe. */
    ts__counter__init(&cs[n]);
    cs[n].name = "log_dropped";
    cs[n].value = (int64_t)*ts_log_dropped();
    cp[n] = &cs[n];
    n++;
    hb.stage = st->name;
    hb.pid = (uint32_t)getpid();
    hb.n_counters = n;
    hb.counters = cp;
    e.version = TS_MSG_VERSION;
    e.type = type;
    e.heartbeat = &hb;
    ts_bus_send(st->sup, NULL, 0, &e); /* a full queue to a busy supervisor just drops a beat */
}

static void on_beat(struct ev_loop *loop, ev_timer *w, int revents)
{
    ts_stage_t *st = w->data;
    send_beat(st, TS__MSG_TYPE__MSG_HEARTBEAT);
    if (st->ready)
        send_beat(st, TS__MSG_TYPE__MSG_READY); /* repeated so a restarted supervisor learns it too */
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    ts_stage_t *st = w->data;
    ts_info("signal %d: stopping", w->signum);
    if (st->on_stop)
        st->on_stop(st->on_stop_arg);
    ev_break(loop, EVBREAK_ALL);
}

ts_stage_t *ts_stage_new(struct ev_loop *loop, void *zctx, const char *stage, const char *instance,
                         const char *sup_endpoint)
{
    ts_stage_t *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->loop = loop;
    snprintf(st->name, sizeof st->name, "%s", stage);
    ts_log_init(stage, instance);
    signal(SIGPIPE, SIG_IGN);
    if (sup_endpoint && *sup_endpoint) {
        /* Die with the supervisor rather than run unsupervised. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() == 1) {
            ts_error("supervisor already gone");
            free(st);
            return NULL;
        }
        char id[64];
        snprintf(id, sizeof id, "stage:%s", stage);
        st->sup = ts_bus_new(loop, zctx, ZMQ_DEALER, sup_endpoint, TS_BUS_CONNECT, id, "sup", on_sup, st);
        if (!st->sup) {
            free(st);
            return NULL;
        }
    }
    ev_timer_init(&st->beat, on_beat, 1.0, 1.0);
    st->beat.data = st;
    ev_timer_start(loop, &st->beat);
    ev_signal_init(&st->sigterm, on_signal, SIGTERM);
    ev_signal_init(&st->sigint, on_signal, SIGINT);
    st->sigterm.data = st->sigint.data = st;
    ev_signal_start(loop, &st->sigterm);
    ev_signal_start(loop, &st->sigint);
    return st;
}

void ts_stage_counter(ts_stage_t *st, const char *name, const uint64_t *value)
{
    if (st->ncounters < STAGE_MAX_COUNTERS) {
        st->cnames[st->ncounters] = name;
        st->cvalues[st->ncounters++] = value;
    }
}

void ts_stage_ready(ts_stage_t *st)
{
    if (st->ready)
        return;
    st->ready = 1;
    ts_info("ready");
    send_beat(st, TS__MSG_TYPE__MSG_READY);
}

void ts_stage_beat(ts_stage_t *st) { send_beat(st, TS__MSG_TYPE__MSG_HEARTBEAT); }

void ts_stage_on_stop(ts_stage_t *st, void (*fn)(void *arg), void *arg)
{
    st->on_stop = fn;
    st->on_stop_arg = arg;
}

void ts_stage_destroy(ts_stage_t **self)
{
    ts_stage_t *st = *self;
    if (!st)
        return;
    ev_timer_stop(st->loop, &st->beat);
    ev_signal_stop(st->loop, &st->sigterm);
    ev_signal_stop(st->loop, &st->sigint);
    ts_bus_destroy(&st->sup);
    free(st);
    *self = NULL;
}
