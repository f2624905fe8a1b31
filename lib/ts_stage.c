#include "ts_stage.h"
#include "ts_bus.h"
#include "ts_curve.h"
#include "ts_err.h"
#include "ts_exit.h"
#include "ts_log.h"
#include "ts_time.h"
#include "ts_version.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <zmq.h>


enum { COUNTER, GAUGE };

/* Every heartbeat counter's series on /metrics (stage ANY: every stage). The heartbeat keeps the
 * short names tsctl status shows; here they get Prometheus names (counters _total, base units). */
enum { ANY = -1 };
static const struct {
    int stage; /* ts_topo_id_t, or ANY */
    const char *counter, *metric; /* metric NULL: in the heartbeat only */
    int type;
    const char *help;
} series[] = {
    { ANY, "log_dropped", "ts_log_dropped_lines_total", COUNTER, "Log lines dropped because the log pipe was full." },
    { TS_TOPO_INGEST, "seq", "ts_next_seq", GAUGE, "Sequence number the next piece will get." },
    { TS_TOPO_INGEST, "pieces_out", "ts_pieces_out_total", COUNTER, "Pieces cut from the source and published to the signer." },
    { TS_TOPO_INGEST, "bytes_in", "ts_source_bytes_total", COUNTER, "Bytes read from the source." },
    { TS_TOPO_INGEST, "source_restarts", "ts_source_restarts_total", COUNTER,
      "Source restarts: its command run again, or its HTTP connection made again." },
    { TS_TOPO_INGEST, "rap_pieces", "ts_rap_pieces_total", COUNTER, "Pieces published that begin at a random-access point." },
    { TS_TOPO_SIGNER, "seq", "ts_last_seq", GAUGE, "Sequence number of the last piece signed." },
    { TS_TOPO_SIGNER, "pieces_signed", "ts_pieces_out_total", COUNTER, "Pieces signed and published to the swarm." },
    { TS_TOPO_SIGNER, "pieces_rejected", "ts_pieces_rejected_total", COUNTER,
      "Pieces from ingest not signed: empty, or too large for the piece length." },
    { TS_TOPO_SWARM, "seq", "ts_edge_seq", GAUGE, "Highest sequence number held (the live edge)." },
    { TS_TOPO_SWARM, "pieces_in", "ts_pieces_in_total", COUNTER,
      "Pieces verified and stored: from the signer (broadcaster) or from peers (viewer)." },
    { TS_TOPO_SWARM, "pieces_up", "ts_pieces_up_total", COUNTER, "Pieces uploaded to peers." },
    { TS_TOPO_SWARM, "payload_up", "ts_payload_up_bytes_total", COUNTER, "Piece payload bytes uploaded to peers." },
    { TS_TOPO_SWARM, "payload_down", "ts_payload_down_bytes_total", COUNTER,
      "Piece payload bytes downloaded from peers (verified pieces not held before)." },
    { TS_TOPO_SWARM, "bytes_up", "ts_up_bytes_total", COUNTER, "Bytes sent on the wire: peer protocol and tracker traffic." },
    { TS_TOPO_SWARM, "bytes_down", "ts_down_bytes_total", COUNTER,
      "Bytes received on the wire: peer protocol and tracker traffic." },
    { TS_TOPO_SWARM, "peers", "ts_peers", GAUGE, "Peers connected (handshake done)." },
    { TS_TOPO_SWARM, "bad_pieces", "ts_peer_pieces_rejected_total", COUNTER,
      "Pieces from peers rejected: failed verification (trailer or signature), sent under the wrong index, or "
      "signed differently from a piece held for the same seq." },
    { TS_TOPO_SWARM, "delivered", "ts_pieces_delivered_total", COUNTER,
      "Pieces published in order on the link to the player-bridge." },
    { TS_TOPO_SWARM, "skipped", "ts_pieces_skipped_total", COUNTER,
      "Pieces never delivered: missed their deadline, or passed over when re-tuning to the live edge." },
    { TS_TOPO_SWARM, "announces", "ts_tracker_announces_total", COUNTER,
      "Tracker announces: requests the embedded tracker answered, plus replies from an external tracker." },
    { TS_TOPO_SWARM, "peers_banned", "ts_peers_banned_total", COUNTER, "Peers banned for misbehaving." },
    { TS_TOPO_SWARM, "req_timeouts", "ts_request_timeouts_total", COUNTER,
      "Our piece requests a peer left unanswered past its timeout (cancelled; counted against it)." },
    { TS_TOPO_SWARM, "wrong_pieces", "ts_wrong_pieces_total", COUNTER,
      "Answers to our requests that carried another sequence number than the one asked for." },
    { TS_TOPO_SWARM, "peers_dropped", "ts_peers_dropped_total", COUNTER,
      "Peers disconnected (not banned) for not delivering what they announce." },
    { TS_TOPO_SWARM, "verify_shed", "ts_verify_shed_total", COUNTER,
      "Pieces dropped unverified because the failed-verification budget was spent." },
    { TS_TOPO_SWARM, "accept_pauses", "ts_accept_pauses_total", COUNTER,
      "Times the peer port stopped accepting for 0.1 s, out of descriptors or memory." },
    { TS_TOPO_SWARM, "reachable", "ts_reachable", GAUGE,
      "Whether peers can connect to us: 0 unknown, 1 no (behind NAT), 2 yes directly, 3 yes through a port mapping." },
    { TS_TOPO_SWARM, "incoming", "ts_incoming_connections_total", COUNTER,
      "Peer connections accepted from a non-loopback address (handshake done)." },
    { TS_TOPO_SWARM, "portmap_ok", "ts_portmap_ok_total", COUNTER, "Port mappings made or renewed on the home router." },
    { TS_TOPO_SWARM, "portmap_fail", "ts_portmap_fail_total", COUNTER,
      "Port mapping attempts that failed: no UPnP IGD or NAT-PMP gateway, refused, renewal or removal failed." },
    { TS_TOPO_SWARM, "portmap_via", "ts_portmap_method", GAUGE, "The mapping in place: 0 none, 1 UPnP IGD, 2 NAT-PMP." },
    { TS_TOPO_SWARM, "ext_port", "ts_external_port", GAUGE,
      "The port others reach our peer port at from outside (a mapping's), 0 = not known." },
    { TS_TOPO_SWARM, "ext_ip", NULL, GAUGE, NULL }, /* an address: tsctl status shows it, not a metric */
    { TS_TOPO_BRIDGE, "pieces_in", "ts_pieces_in_total", COUNTER, "Pieces received from the swarm." },
    { TS_TOPO_BRIDGE, "last_seq", "ts_last_seq", GAUGE, "Sequence number of the last piece handed on." },
    { TS_TOPO_BRIDGE, "bytes_out", "ts_http_out_bytes_total", COUNTER, "Bytes written to HTTP players, headers included." },
    { TS_TOPO_BRIDGE, "http_clients", "ts_http_clients", GAUGE, "HTTP players connected." },
    { TS_TOPO_BRIDGE, "output_bytes", "ts_output_bytes_total", COUNTER, "Bytes written to --output (file or stdout)." },
    { TS_TOPO_BRIDGE, "gaps", "ts_gaps_total", COUNTER,
      "Jumps in sequence number between consecutive pieces received from the swarm." },
    { TS_TOPO_BRIDGE, "clients_dropped", "ts_http_clients_dropped_total", COUNTER,
      "HTTP players dropped for not keeping up." },
};

struct ts_stage {
    struct ev_loop *loop;
    ts_bus_t *sup;
    char name[32];
    int ready;
    ev_timer beat;
    ev_signal sigterm, sigint;
    void (*on_stop)(void *);
    void *on_stop_arg;
    ts_metrics_t *metrics;
    ts_httpd_t *httpd;
    ts_httpd_ready_fn *ready_fn;
    void *ready_arg;
    uint64_t unready_limit_ns; /* --exit-unready; 0: off */
    uint64_t unready_since_ns; /* 0 while ready */
    /* the skeleton (ts_stage_boot): what it made, the teardown frees */
    int booted, has_stop_code, stop_code;
    void *zctx;
    ts_stage_opts_t opts;
    int was_ready, gave_up;
    size_t ncounters;
    const char *cnames[TS_STAGE_MAX_COUNTERS];
    const uint64_t *cvalues[TS_STAGE_MAX_COUNTERS];
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
    Ts__Counter cs[TS_STAGE_MAX_COUNTERS + 2];
    Ts__Counter *cp[TS_STAGE_MAX_COUNTERS + 2];
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
    /* Where /metrics is (the supervisor asks for port 0 and shows the one the kernel gave). */
    if (st->httpd) {
        ts__counter__init(&cs[n]);
        cs[n].name = "metrics_port";
        cs[n].value = ts_httpd_port(st->httpd);
        cp[n] = &cs[n];
        n++;
    }
    hb.stage = st->name;
    hb.pid = (uint32_t)getpid();
    hb.n_counters = n;
    hb.counters = cp;
    e.version = TS_MSG_VERSION;
    e.type = type;
    e.heartbeat = &hb;
    ts_bus_send(st->sup, NULL, 0, &e); /* a full queue to a busy supervisor just drops a beat */
}

static int is_ready(void *arg, char *why, size_t whylen);

/* --exit-unready: judged once a second, like the heartbeat. */
static void check_unready(ts_stage_t *st)
{
    char why[256] = "";
    if (!st->unready_limit_ns || st->gave_up)
        return;
    if (is_ready(st, why, sizeof why)) {
        if (st->unready_since_ns)
            ts_info("ready again");
        st->was_ready = 1;
        st->unready_since_ns = 0;
        return;
    }
    if (!st->was_ready)
        return;
    uint64_t now = ts_mono_ns();
    double limit = ts_ns_to_s(st->unready_limit_ns);
    if (!st->unready_since_ns) {
        st->unready_since_ns = now;
        ts_warn("not ready: %s (exiting if this lasts %g s: --exit-unready)", why, limit);
        return;
    }
    if (now - st->unready_since_ns < st->unready_limit_ns)
        return;
    ts_error("not ready for %g s: %s; exiting with code %d so that the restart policy replaces this process",
             limit, why, TS_EXIT_UNREADY);
    st->gave_up = 1;
    if (st->on_stop)
        st->on_stop(st->on_stop_arg);
    ev_break(st->loop, EVBREAK_ALL);
}

static void on_beat(struct ev_loop *loop, ev_timer *w, int revents)
{
    ts_stage_t *st = w->data;
    send_beat(st, TS__MSG_TYPE__MSG_HEARTBEAT);
    if (st->ready)
        send_beat(st, TS__MSG_TYPE__MSG_READY); /* repeated so a restarted supervisor learns it too */
    check_unready(st);
}

/* A heartbeat counter's Prometheus series, named by the table above. */
static void add_series(ts_stage_t *st, const char *name, const uint64_t *value)
{
    char fallback[TS_METRICS_MAX_NAME + 1], help[160];
    const char *metric = NULL, *text = NULL;
    int type = GAUGE;
    for (size_t i = 0; i < sizeof series / sizeof series[0]; i++)
        if ((series[i].stage == ANY || !strcmp(ts_topo[series[i].stage].name, st->name)) &&
            !strcmp(series[i].counter, name)) {
            if (!series[i].metric)
                return; /* heartbeat only */
            metric = series[i].metric, text = series[i].help, type = series[i].type;
            break;
        }
    if (!metric) {
        /* Not in the table yet: still exported, as a gauge (it may not only grow). */
        snprintf(fallback, sizeof fallback, "ts_%s", name);
        snprintf(help, sizeof help, "Heartbeat value %s (no metric defined for it in lib/ts_stage.c).", name);
        metric = fallback, text = help;
    }
    ts_metric_t *m = type == COUNTER ? ts_metrics_counter_ptr(st->metrics, metric, text, NULL, value)
                                     : ts_metrics_gauge_ptr(st->metrics, metric, text, NULL, value);
    if (!m && st->metrics)
        ts_warn("metric %s for %s: %s", metric, name, ts_metrics_error(st->metrics));
}

/* /readyz, and the ts_ready gauge. */
static int is_ready(void *arg, char *why, size_t whylen)
{
    ts_stage_t *st = arg;
    if (!st->ready) {
        snprintf(why, whylen, "starting");
        return 0;
    }
    return st->ready_fn ? st->ready_fn(st->ready_arg, why, whylen) == 1 : 1;
}

static double ready_gauge(void *arg)
{
    char why[256] = "";
    return is_ready(arg, why, sizeof why);
}

static void new_metrics(ts_stage_t *st, const char *instance)
{
    const char *labels[] = { "stage", st->name, "instance", instance, NULL };
    if (!instance || !*instance)
        labels[2] = NULL;
    if (!(st->metrics = ts_metrics_new(labels)) && labels[2]) {
        ts_warn("instance name not usable as a metrics label: left out");
        labels[2] = NULL;
        st->metrics = ts_metrics_new(labels);
    }
    ts_metrics_build_info(st->metrics, TS_VERSION, ts_version_commit());
    ts_metrics_gauge_setf(ts_metrics_gauge(st->metrics, "process_start_time_seconds",
                                           "Start time of the process since the Unix epoch, in seconds.", NULL),
                          (double)ts_wall_us() / TS_US_PER_S_F);
    ts_metrics_gauge_fn(st->metrics, "ts_ready",
                        "1 if the stage is ready (its upstream and downstream connected, as /readyz says), else 0.",
                        NULL, ready_gauge, st);
    add_series(st, "log_dropped", ts_log_dropped());
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
        snprintf(id, sizeof id, TS_TOPO_SUP_ID_PREFIX "%s", stage);
        st->sup = ts_bus_new(loop, zctx, ZMQ_DEALER, sup_endpoint, TS_BUS_CONNECT, id, TS_TOPO_SUP, on_sup, st);
        if (!st->sup) {
            free(st);
            return NULL;
        }
    }
    new_metrics(st, instance);
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
    /* A programming error, not an input: the heartbeat and the supervisor hold only so many,
     * and one dropped silently once hid the supervisor's metrics_url (issue 15). */
    if (st->ncounters >= TS_STAGE_MAX_COUNTERS) {
        fprintf(stderr, "ts_stage_counter: more than %d counters (%s)\n", TS_STAGE_MAX_COUNTERS, name);
        abort();
    }
    st->cnames[st->ncounters] = name;
    st->cvalues[st->ncounters++] = value;
    add_series(st, name, value);
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

ts_metrics_t *ts_stage_metrics(ts_stage_t *st) { return st->metrics; }

void ts_stage_readiness(ts_stage_t *st, ts_httpd_ready_fn *fn, void *arg)
{
    st->ready_fn = fn;
    st->ready_arg = arg;
}

int ts_stage_serve(ts_stage_t *st, const char *addr, char *err, size_t errlen)
{
    if (st->httpd)
        return ts_err(err, errlen, "already serving metrics");
    ts_httpd_t *h = ts_httpd_new(st->loop, addr, err, errlen);
    if (!h)
        return -1;
    if (ts_httpd_route_metrics(h, "/metrics", st->metrics) < 0 || ts_httpd_route_livez(h, "/livez") < 0 ||
        ts_httpd_route_readyz(h, "/readyz", is_ready, st) < 0) {
        ts_httpd_destroy(&h);
        return ts_err(err, errlen, "cannot set up /metrics, /livez and /readyz (out of memory)");
    }
    st->httpd = h;
    ts_info("serving /metrics, /livez and /readyz on %s (port %u)", addr ? addr : "127.0.0.1", ts_httpd_port(h));
    return 0;
}

void ts_stage_exit_unready(ts_stage_t *st, double secs)
{
    st->unready_limit_ns = ts_s_to_ns(secs);
}

int ts_stage_unready_arg(const char *arg, double *secs)
{
    char *end;
    double v = strtod(arg, &end);
    if (end == arg || *end || !(v >= 1 && v <= 86400))
        return -1;
    *secs = v;
    return 0;
}

int ts_stage_exit_code(const ts_stage_t *st, int code) { return st && st->gave_up ? TS_EXIT_UNREADY : code; }

void ts_stage_destroy(ts_stage_t **self)
{
    ts_stage_t *st = *self;
    if (!st)
        return;
    ts_httpd_destroy(&st->httpd);
    ts_metrics_destroy(&st->metrics);
    ev_timer_stop(st->loop, &st->beat);
    ev_signal_stop(st->loop, &st->sigterm);
    ev_signal_stop(st->loop, &st->sigint);
    ts_bus_destroy(&st->sup);
    free(st);
    *self = NULL;
}

/* ------------------------------------------------------------------ the skeleton */

int ts_stage_opt(ts_stage_opts_t *o, int c, const char *arg, char *err, size_t errlen)
{
    switch (c) {
    case TS_STAGE_OPT_INSTANCE: o->instance = arg; return 1;
    case TS_STAGE_OPT_SUPERVISOR: o->supervisor = arg; return 1;
    case TS_STAGE_OPT_CURVE: o->curve = arg; return 1;
    case TS_STAGE_OPT_METRICS: o->metrics = arg; return 1;
    case TS_STAGE_OPT_EXIT_UNREADY:
        if (ts_stage_unready_arg(arg, &o->exit_unready) < 0) {
            ts_err(err, errlen, "bad --exit-unready '%s' (seconds, 1..86400)", arg);
            return -1;
        }
        return 1;
    default: return 0;
    }
}

void ts_stage_usage(FILE *f, ts_topo_id_t stage)
{
    fprintf(f,
            "  --instance NAME     instance name in logs and heartbeats\n"
            "  --supervisor EP     supervisor endpoint for READY and heartbeats\n"
            "  --curve DIR         CURVE keys for tcp:// endpoints (DIR/%s.secret, DIR/*.pub)\n"
            "  --metrics ADDR:PORT serve /metrics (Prometheus), /livez and /readyz over HTTP on ADDR:PORT\n"
            "                      (:PORT alone = 127.0.0.1; none without this option)\n"
            "  --exit-unready SECONDS  once ready, exit with code %d after SECONDS not ready (for\n"
            "                      containers, whose restart policy then replaces the process)\n"
            "  --help              this text\n",
            ts_topo[stage].name, TS_EXIT_UNREADY);
}

ts_stage_t *ts_stage_boot(ts_topo_id_t stage, const ts_stage_opts_t *o, int *code)
{
    const char *name = ts_topo[stage].name;
    char err[512];
    ts_log_init(name, o->instance);
    *code = TS_EXIT_FAIL;
    /* The default loop: command sources are reaped with ev_child, which only it supports. */
    struct ev_loop *loop = ev_default_loop(0);
    void *zctx = zmq_ctx_new();
    if (!loop || !zctx) {
        ts_error("cannot create the event loop or ZeroMQ context");
        goto fail;
    }
    if (o->curve && ts_curve_init(zctx, o->curve, name, err, sizeof err) < 0) {
        ts_error("%s", err);
        *code = TS_EXIT_CONFIG;
        goto fail;
    }
    ts_stage_t *st = ts_stage_new(loop, zctx, name, o->instance, o->supervisor);
    if (!st)
        goto fail;
    st->booted = 1;
    st->zctx = zctx;
    st->opts = *o;
    ts_stage_exit_unready(st, o->exit_unready);
    return st;
fail:
    if (zctx)
        zmq_ctx_term(zctx);
    ts_curve_fini();
    return NULL;
}

struct ev_loop *ts_stage_loop(const ts_stage_t *st) { return st->loop; }

void *ts_stage_zctx(const ts_stage_t *st) { return st->zctx; }

const ts_stage_opts_t *ts_stage_opts(const ts_stage_t *st) { return &st->opts; }

int ts_stage_listen(ts_stage_t *st)
{
    char err[512];
    if (st->opts.metrics && !st->httpd && ts_stage_serve(st, st->opts.metrics, err, sizeof err) < 0) {
        ts_error("--metrics %s: %s", st->opts.metrics, err);
        return -1;
    }
    return 0;
}

int ts_stage_run(ts_stage_t *st, int code)
{
    if (ts_stage_listen(st) < 0)
        return TS_EXIT_CONFIG;
    ts_stage_ready(st);
    ev_run(st->loop, 0);
    return ts_stage_exit_code(st, st->has_stop_code ? st->stop_code : code);
}

void ts_stage_stop(ts_stage_t *st, int code)
{
    if (!st->has_stop_code) {
        st->has_stop_code = 1;
        st->stop_code = code;
    }
    ev_break(st->loop, EVBREAK_ALL);
}

int ts_stage_end(ts_stage_t **self, int code)
{
    ts_stage_t *st = *self;
    void *zctx = st && st->booted ? st->zctx : NULL;
    ts_stage_destroy(self);
    if (zctx)
        zmq_ctx_term(zctx);
    ts_curve_fini();
    return code;
}
