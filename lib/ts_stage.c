#include "ts_stage.h"
#include "ts_bus.h"
#include "ts_curve.h"
#include "ts_err.h"
#include "ts_exit.h"
#include "ts_log.h"
#include "ts_metrics_process.h"
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
enum { METRICS_BEATS = 5 }; /* heartbeats per one carrying the /metrics text */

/* Every heartbeat counter's series on /metrics (stage ANY: every stage). The heartbeat keeps the
 * short names tsctl status shows; here they get Prometheus names (counters _total, base units).
 * A name several stages export has one help text, as the supervisor's merged /metrics shows one. */
#define HELP_PIECES_OUT "Pieces handed downstream: cut from the source (ingest), signed (signer)."
#define HELP_LAST_SEQ "Sequence number of the last piece signed (signer) or handed to players (player-bridge)."
enum { ANY = -1 };
static const struct {
    int stage; /* ts_topo_id_t, or ANY */
    const char *counter, *metric; /* metric NULL: in the heartbeat only */
    int type;
    const char *help;
} series[] = {
    { ANY, "log_dropped", "tstream_log_dropped_lines_total", COUNTER, "Log lines dropped because the log pipe was full." },
    { TS_TOPO_INGEST, "seq", "tstream_next_seq", GAUGE, "Sequence number the next piece will get." },
    { TS_TOPO_INGEST, "pieces_out", "tstream_pieces_out_total", COUNTER, HELP_PIECES_OUT },
    { TS_TOPO_INGEST, "bytes_in", "tstream_source_bytes_total", COUNTER, "Bytes read from the source." },
    { TS_TOPO_INGEST, "source_restarts", "tstream_source_restarts_total", COUNTER,
      "Source restarts: its command run again, its HTTP connection made again, or its file looped." },
    { TS_TOPO_INGEST, "source_ended", "tstream_source_ended", GAUGE,
      "1 once the source ended for good (a file read to its end without --loop), else 0." },
    { TS_TOPO_INGEST, "rap_pieces", "tstream_rap_pieces_total", COUNTER, "Pieces published that begin at a random-access point." },
    { TS_TOPO_INGEST, "source_idle_s", "tstream_source_idle_seconds", GAUGE,
      "Seconds since the source last gave a byte (whole seconds; 0 while data flows)." },
    { TS_TOPO_INGEST, "push_rejected", "tstream_push_rejected_total", COUNTER,
      "Push sources: encoder connections refused (a second encoder, a wrong or no SRT passphrase, not "
      "MPEG-TS) and datagrams or SRT messages dropped (not whole MPEG-TS packets, or from a second sender)." },
    { TS_TOPO_INGEST, "bytes_dropped", "tstream_push_dropped_bytes_total", COUNTER,
      "Push sources: bytes received but not broadcast (the datagrams, messages and connections refused)." },
    { TS_TOPO_SIGNER, "seq", "tstream_last_seq", GAUGE, HELP_LAST_SEQ },
    { TS_TOPO_SIGNER, "pieces_signed", "tstream_pieces_out_total", COUNTER, HELP_PIECES_OUT },
    { TS_TOPO_SIGNER, "pieces_rejected", "tstream_pieces_rejected_total", COUNTER,
      "Pieces from ingest not signed: empty, or too large for the piece length." },
    { TS_TOPO_SWARM, "seq", "tstream_edge_seq", GAUGE, "Highest sequence number held (the live edge)." },
    { TS_TOPO_SWARM, "pieces_in", "tstream_pieces_in_total", COUNTER, TS_STAGE_HELP_PIECES_IN },
    { TS_TOPO_SWARM, "pieces_up", "tstream_pieces_up_total", COUNTER, "Pieces uploaded to peers." },
    { TS_TOPO_SWARM, "payload_up", "tstream_payload_up_bytes_total", COUNTER, "Piece payload bytes uploaded to peers." },
    { TS_TOPO_SWARM, "payload_down", "tstream_payload_down_bytes_total", COUNTER,
      "Piece payload bytes downloaded from peers (verified pieces not held before)." },
    { TS_TOPO_SWARM, "bytes_up", "tstream_up_bytes_total", COUNTER, "Bytes sent on the wire: peer protocol and tracker traffic." },
    { TS_TOPO_SWARM, "bytes_down", "tstream_down_bytes_total", COUNTER,
      "Bytes received on the wire: peer protocol and tracker traffic." },
    { TS_TOPO_SWARM, "peers", "tstream_peers", GAUGE, "Peers connected (handshake done)." },
    { TS_TOPO_SWARM, "bad_pieces", "tstream_peer_pieces_rejected_total", COUNTER,
      "Pieces from peers rejected: failed verification (trailer or signature), sent under the wrong index, or "
      "signed differently from a piece held for the same seq." },
    { TS_TOPO_SWARM, "delivered", "tstream_pieces_delivered_total", COUNTER,
      "Pieces published in order on the link to the player-bridge." },
    { TS_TOPO_SWARM, "skipped", "tstream_pieces_skipped_total", COUNTER,
      "Pieces never delivered: missed their deadline, or passed over when re-tuning to the live edge." },
    { TS_TOPO_SWARM, "announces", "tstream_tracker_announces_total", COUNTER,
      "Tracker announces: requests the embedded tracker answered, plus replies from an external tracker." },
    { TS_TOPO_SWARM, "peers_banned", "tstream_peers_banned_total", COUNTER, "Peers banned for misbehaving." },
    { TS_TOPO_SWARM, "req_timeouts", "tstream_request_timeouts_total", COUNTER,
      "Our piece requests a peer left unanswered past its timeout (cancelled; counted against it)." },
    { TS_TOPO_SWARM, "wrong_pieces", "tstream_wrong_pieces_total", COUNTER,
      "Answers to our requests that carried another sequence number than the one asked for." },
    { TS_TOPO_SWARM, "answers_gone", "tstream_answers_gone_total", COUNTER,
      "Answers carrying a newer piece under the index asked for: the one asked for had left the peer's window." },
    { TS_TOPO_SWARM, "peers_dropped", "tstream_peers_dropped_total", COUNTER,
      "Peers disconnected (not banned) for not delivering what they announce." },
    { TS_TOPO_SWARM, "verify_shed", "tstream_verify_shed_total", COUNTER,
      "Pieces dropped unverified because the failed-verification budget was spent." },
    { TS_TOPO_SWARM, "accept_pauses", "tstream_accept_pauses_total", COUNTER,
      "Times the peer port stopped accepting for 0.1 s, out of descriptors or memory." },
    { TS_TOPO_SWARM, "reachable", "tstream_reachable", GAUGE,
      "Whether peers can connect to us: 0 unknown, 1 no (behind NAT), 2 yes directly, 3 yes through a port mapping." },
    { TS_TOPO_SWARM, "incoming", "tstream_incoming_connections_total", COUNTER,
      "Peer connections accepted from a non-loopback address (handshake done)." },
    { TS_TOPO_SWARM, "portmap_ok", "tstream_portmap_ok_total", COUNTER, "Port mappings made or renewed on the home router." },
    { TS_TOPO_SWARM, "portmap_fail", "tstream_portmap_fail_total", COUNTER,
      "Port mapping attempts that failed: no UPnP IGD or NAT-PMP gateway, refused, renewal or removal failed." },
    { TS_TOPO_SWARM, "portmap_via", "tstream_portmap_method", GAUGE, "The mapping in place: 0 none, 1 UPnP IGD, 2 NAT-PMP." },
    { TS_TOPO_SWARM, "ext_port", "tstream_external_port", GAUGE,
      "The port others reach our peer port at from outside (a mapping's), 0 = not known." },
    { TS_TOPO_SWARM, "dup_conns", "tstream_duplicate_connections_total", COUNTER,
      "Connections closed as a second one to a peer already connected (crossing dials, or a peer reached at two "
      "addresses)." },
    { TS_TOPO_SWARM, "ext_ip", NULL, GAUGE, NULL }, /* an address: tsctl status shows it, not a metric */
    { TS_TOPO_SWARM, "punch_attempts", "tstream_holepunch_attempts_total", COUNTER,
      "Hole punches begun: simultaneous dials to a peer behind NAT, on either side." },
    { TS_TOPO_SWARM, "punch_ok", "tstream_holepunch_connected_total", COUNTER, "Hole punches that ended in a connection." },
    { TS_TOPO_SWARM, "punch_relayed", "tstream_holepunch_relayed_total", COUNTER,
      "Hole punch requests relayed between two of our peers." },
    { TS_TOPO_SWARM, "pushed_up", "tstream_pieces_pushed_up_total", COUNTER, "Pieces pushed unrequested to children." },
    { TS_TOPO_SWARM, "pushed_in", "tstream_pieces_pushed_in_total", COUNTER,
      "Pieces pushed to us unrequested by parents and taken." },
    { TS_TOPO_SWARM, "push_dup", "tstream_push_duplicates_total", COUNTER, "Pieces pushed to us that we already held." },
    { TS_TOPO_SWARM, "rejects_up", "tstream_requests_rejected_total", COUNTER,
      "Piece requests from peers we rejected: our send queue to them was too long." },
    { TS_TOPO_SWARM, "rejects_in", "tstream_requests_rejected_by_peers_total", COUNTER,
      "Our piece requests that peers rejected (asked elsewhere)." },
    { TS_TOPO_SWARM, "up_rate_auto", NULL, GAUGE, NULL }, /* bits/s: swarm/run.c exports it in bytes */
    { TS_TOPO_SWARM, "up_decreases", "tstream_upload_pace_decreases_total", COUNTER,
      "Times the automatic upload pace was cut back (multiplicative decrease)." },
    { TS_TOPO_BRIDGE, "pieces_in", "tstream_pieces_in_total", COUNTER, TS_STAGE_HELP_PIECES_IN },
    { TS_TOPO_BRIDGE, "last_seq", "tstream_last_seq", GAUGE, HELP_LAST_SEQ },
    { TS_TOPO_BRIDGE, "bytes_out", "tstream_http_out_bytes_total", COUNTER, "Bytes written to HTTP players, headers included." },
    { TS_TOPO_BRIDGE, "http_clients", "tstream_http_clients", GAUGE, "HTTP players connected." },
    { TS_TOPO_BRIDGE, "output_bytes", "tstream_output_bytes_total", COUNTER, "Bytes written to --output (file or stdout)." },
    { TS_TOPO_BRIDGE, "gaps", "tstream_gaps_total", COUNTER,
      "Jumps in sequence number between consecutive pieces received from the swarm." },
    { TS_TOPO_BRIDGE, "hls_mem_bytes", "tstream_hls_memory_bytes", GAUGE,
      "Bytes of pieces the HLS window holds in memory (parts are copied out of them per request)." },
    { TS_TOPO_BRIDGE, "lag_ms", NULL, GAUGE, NULL }, /* the last piece's; tstream_lag_seconds has them all */
    { TS_TOPO_BRIDGE, "clients_dropped", "tstream_http_clients_dropped_total", COUNTER,
      "HTTP players dropped for not keeping up." },
};

struct ts_stage {
    struct ev_loop *loop;
    ts_bus_t *sup;
    char name[32];
    int ready;
    int told_ok; /* the readiness the last heartbeat carried: -1 none sent yet */
    ev_timer beat, watch;
    ev_signal sigterm, sigint;
    void (*on_stop)(void *);
    void *on_stop_arg;
    ts_stage_beat_fn *on_beat; /* adds the stage's own fields to each HEARTBEAT (the swarm's peers) */
    void *on_beat_arg;
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
    unsigned beats; /* heartbeats sent */
    const char *cnames[TS_STAGE_MAX_COUNTERS];
    const uint64_t *cvalues[TS_STAGE_MAX_COUNTERS];
};

static void on_sup(ts_bus_t *bus, const uint8_t *peer, size_t peer_len, Ts__Envelope *m, void *arg)
{
    /* The supervisor sends nothing to stages today; signals carry stop and restart. */
    (void)bus; (void)peer; (void)peer_len; (void)m; (void)arg;
}

static int is_ready(void *arg, char *why, size_t whylen);

static void send_beat(ts_stage_t *st, Ts__MsgType type)
{
    if (!st->sup)
        return;
    char why[256] = "";
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
    /* Readiness as /readyz answers it: the supervisor shows this, not a state of its own. */
    hb.has_ready = 1;
    hb.ready = st->told_ok = is_ready(st, why, sizeof why);
    hb.why = why[0] ? why : NULL;
    /* Not in READY, which follows each HEARTBEAT: the stage's figures once per second. */
    if (type == TS__MSG_TYPE__MSG_HEARTBEAT && st->on_beat)
        st->on_beat(&hb, st->on_beat_arg);
    /* Our /metrics text, for the supervisor's one stable /metrics (tsctl/sup_http.c): in the first
     * heartbeat and every METRICS_BEATS-th, so a supervisor that stops reading (SIGSTOP) has little
     * queued toward it (the bus queues up to 20000 messages). */
    ts_buf_t text;
    ts_buf_init(&text);
    if (type == TS__MSG_TYPE__MSG_HEARTBEAT && st->beats++ % METRICS_BEATS == 0 && st->metrics &&
        ts_metrics_render(st->metrics, &text) == 0 && ts_buf_putc(&text, 0) == 0)
        hb.metrics = (char *)text.data;
    e.version = TS_MSG_VERSION;
    e.type = type;
    e.heartbeat = &hb;
    ts_bus_send(st->sup, NULL, 0, &e); /* a full queue to a busy supervisor just drops a beat */
    ts_buf_free(&text);
}

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

/* Readiness changes (a link heard from again, or silent for too long) reach the supervisor at
 * once, not at the next beat: `tsctl start` waits for them, and status should not lag /readyz. */
static void on_watch(struct ev_loop *loop, ev_timer *w, int revents)
{
    ts_stage_t *st = w->data;
    char why[256];
    if (st->ready && is_ready(st, why, sizeof why) != st->told_ok)
        send_beat(st, TS__MSG_TYPE__MSG_HEARTBEAT);
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
        snprintf(fallback, sizeof fallback, "tstream_%s", name);
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
    /* "stream", not "instance": Prometheus sets instance to the scrape target itself. */
    const char *labels[] = { "stage", st->name, "stream", instance, NULL };
    if (!instance || !*instance)
        labels[2] = NULL;
    if (!(st->metrics = ts_metrics_new(labels)) && labels[2]) {
        ts_warn("instance name not usable as a metrics label: left out");
        labels[2] = NULL;
        st->metrics = ts_metrics_new(labels);
    }
    ts_metrics_build_info(st->metrics, TS_VERSION, ts_version_commit());
    ts_metrics_process(st->metrics, NULL);
    ts_metrics_gauge_fn(st->metrics, "tstream_ready",
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
    st->told_ok = -1;
    if (st->sup) {
        ev_timer_init(&st->watch, on_watch, 0.1, 0.1);
        st->watch.data = st;
        ev_timer_start(loop, &st->watch);
    }
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

void ts_stage_on_beat(ts_stage_t *st, ts_stage_beat_fn *fn, void *arg)
{
    st->on_beat = fn;
    st->on_beat_arg = arg;
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
    ev_timer_stop(st->loop, &st->watch);
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
