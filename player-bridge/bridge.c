/* player-bridge: the viewer's last stage, from verified pieces to players.
 *
 *   swarm --[inlink]--> bridge --HTTP--> players (VLC, mpv, ffmpeg, browsers): NAME.ts, NAME.m3u8
 *                              \--> --output FILE (resumable across restarts)
 *
 * Each piece is written to the output, kept in a short ring (so a new player starts at the
 * newest random-access point), queued to every player, cut into HLS segments and parts (one
 * packager for every HLS player; --dvr keeps a window of them on disk), and only then acked. */
#include "chunk.h"
#include "hls.h"
#include "output.h"
#include "ring.h"
#include "server.h"
#include "ts_curve.h"
#include "ts_exit.h"
#include "ts_link.h"
#include "ts_log.h"
#include "ts_stage.h"
#include "ts_time.h"
#include "ts_topology.h"
#include "ts_units.h"
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define RING_PIECES 512
#define RING_AGE_US (8 * TS_US_PER_S)
#define RING_BYTES (64u * 1024 * 1024) /* guard against huge pieces; 8 s of normal video is far less */

typedef struct {
    struct ev_loop *loop;
    ts_stage_t *st;
    ts_inlink_t *in;
    ts_ring_t *ring;
    ts_server_t *srv;
    ts_output_t *out;
    ts_hls_t *hls;
    uint64_t hls_segments;
    FILE *stats; /* --stats: one line per piece handed on, for benchmarks */
    ts_metric_t *lag; /* tstream_lag_seconds */
    int stopping;
    int opened; /* everything up: "stopped" is worth saying at the end */
    int has_last;
    uint64_t pieces_in, output_bytes, last_seq, gaps;
    uint64_t lag_ms; /* the last piece's: heartbeat only, for the history of tsctl console */
    uint64_t hls_mem; /* bytes the HLS window holds in memory */
} bridge_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: ts-player-bridge --in ENDPOINT --http ADDR:PORT --path /NAME.ts [--output FILE|-]\n"
               "                        [--dvr DURATION] [--state-dir DIR] [--instance NAME] [--supervisor ENDPOINT]\n"
               "                        [--curve DIR] [--metrics ADDR:PORT] [--exit-unready SECONDS]\n"
               "Serves the verified pieces from the swarm (--in) to players over HTTP at\n"
               "http://ADDR:PORT/NAME.ts (port 0: any free port, logged). A new player starts at the\n"
               "newest random-access point of the last few seconds. Also HLS with LL-HLS parts at\n"
               "http://ADDR:PORT/NAME.m3u8 (the last 30 s; ?ll=0: without parts).\n"
               "  --dvr DURATION keep DURATION (90, 30m, 2h; at most 6h) of HLS segments in\n"
               "                 DIR/dvr (needs --state-dir) and list them all, for pausing and\n"
               "                 seeking back; emptied when the bridge starts.\n"
               "  --output FILE  also append the stream to FILE from its first random-access point;\n"
               "                 DIR/bridge.pos then lets a restart continue FILE exactly (needs\n"
               "                 --state-dir). '-' writes to stdout instead.\n"
               "  --stats FILE   append 'seq timestamp_us handed_us payload_len' per piece handed on\n"
               "                 (wall-clock µs; lag = handed_us - timestamp_us), for benchmarks.\n"
               "  --curve DIR    CURVE keys for tcp:// endpoints (DIR/player-bridge.secret, DIR/*.pub)\n"
               "  --metrics ADDR:PORT  serve /metrics (Prometheus), /livez and /readyz over HTTP on\n"
               "                 ADDR:PORT (:PORT alone = 127.0.0.1; a busy or bad address exits 101).\n"
               "  --exit-unready SECONDS  once ready, exit with code %d after SECONDS not ready (for\n"
               "                 containers, whose restart policy then replaces the process).\n",
            TS_EXIT_UNREADY);
}

static void stop(bridge_t *b, int code)
{
    b->stopping = 1;
    ts_stage_stop(b->st, code);
}

static void on_piece(const Ts__Piece *p, void *arg)
{
    bridge_t *b = arg;
    if (b->stopping)
        return; /* do not ack what we did not handle */
    b->pieces_in++;
    if (b->has_last && p->seq != b->last_seq + 1) {
        b->gaps++;
        ts_warn("gap: seq %llu after %llu", (unsigned long long)p->seq, (unsigned long long)b->last_seq);
    }
    ts_chunk_t *c = ts_chunk_new(p->seq, p->timestamp_us, p->flags, p->payload.data, p->payload.len);
    if (!c) {
        ts_error("out of memory");
        stop(b, TS_EXIT_FAIL);
        return;
    }
    if (b->out && ts_output_piece(b->out, c) < 0) {
        /* Not acked: a restart resumes from bridge.pos. */
        ts_error("output: %s", strerror(errno));
        ts_chunk_unref(&c);
        stop(b, TS_EXIT_FAIL);
        return;
    }
    ts_ring_push(b->ring, c);
    ts_server_piece(b->srv, c);
    if (ts_hls_piece(b->hls, c))
        ts_server_hls_changed(b->srv);
    b->hls_segments = ts_hls_segments(b->hls);
    b->hls_mem = ts_hls_mem_bytes(b->hls);
    ts_chunk_unref(&c);
    uint64_t handed_us = ts_wall_us();
    /* The broadcaster's clock against ours: a viewer's clock behind it would give a negative lag. */
    uint64_t lag_us = handed_us > p->timestamp_us ? handed_us - p->timestamp_us : 0;
    ts_metrics_histogram_observe(b->lag, (double)lag_us / TS_US_PER_S_F);
    b->lag_ms = lag_us / 1000;
    if (b->stats)
        fprintf(b->stats, "%llu %llu %llu %zu\n", (unsigned long long)p->seq, (unsigned long long)p->timestamp_us,
                (unsigned long long)handed_us, p->payload.len);
    b->has_last = 1;
    b->last_seq = p->seq;
    ts_inlink_ack(b->in, p->seq);
}

static void on_output_fail(int err, void *arg)
{
    bridge_t *b = arg;
    if (err == EPIPE) {
        ts_info("stdout closed: stopping");
        stop(b, TS_EXIT_OK);
    } else {
        ts_error("output to stdout failed: %s; still serving players", strerror(err));
    }
}

/* Ready while the swarm is heard from. */
static int readiness(void *arg, char *why, size_t whylen)
{
    bridge_t *b = arg;
    if (ts_inlink_alive(b->in, TS_LINK_ALIVE_NS))
        return 1;
    snprintf(why, whylen, "swarm not heard from for %llu s", TS_LINK_ALIVE_NS / TS_NS_PER_S);
    return 0;
}

/* An absolute path a player can ask for: printable, no space, query or fragment. */
static int path_ok(const char *p)
{
    size_t n = strlen(p);
    if (n < 2 || n > 200 || p[0] != '/')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] <= 0x20 || p[i] >= 0x7f || p[i] == '?' || p[i] == '#')
            return 0;
    return 1;
}

typedef struct {
    const char *in_ep, *http, *path, *output, *state_dir, *stats;
    uint64_t dvr_us;
    char addr[256];
    uint16_t port;
} bopts_t;

/* The stage's own checks of its arguments, after parsing. 0, or -1 (said on stderr). */
static int check_args(bopts_t *o, const ts_stage_opts_t *so)
{
    char err[512];
    if (ts_units_hostport(o->http, o->addr, sizeof o->addr, &o->port) < 0) {
        fprintf(stderr, "ts-player-bridge: --http %s: expected ADDR:PORT\n", o->http);
        return -1;
    }
    if (!path_ok(o->path)) {
        fprintf(stderr, "ts-player-bridge: --path %s: expected /NAME (printable, no space, '?' or '#')\n", o->path);
        return -1;
    }
    if (ts_curve_missing(so->curve, err, sizeof err, o->in_ep, so->supervisor, TS_CURVE_END)) {
        fprintf(stderr, "ts-player-bridge: %s\n", err);
        return -1;
    }
    if (o->dvr_us && (!o->state_dir || o->dvr_us > HLS_DVR_MAX_US)) {
        fprintf(stderr, "ts-player-bridge: --dvr %s\n", o->state_dir ? "is at most 6h" : "needs --state-dir");
        return -1;
    }
    if (o->output && strcmp(o->output, "-") != 0 && !o->state_dir) {
        fprintf(stderr, "ts-player-bridge: --output FILE needs --state-dir (for the resume record)\n");
        return -1;
    }
    return 0;
}

/* --stats, --output (and where it resumes), the ring, the HTTP server, the link to the swarm, the
 * counters. 0, or -1 with *code (logged). */
static int bridge_open(bridge_t *b, const bopts_t *o, int *code)
{
    char err[512];
    int has_from = 0, fatal;
    uint64_t from = 0;
    b->loop = ts_stage_loop(b->st);
    *code = TS_EXIT_CONFIG;
    if (o->stats) {
        if (!(b->stats = fopen(o->stats, "a"))) {
            ts_error("--stats %s: %s", o->stats, strerror(errno));
            return -1;
        }
        setvbuf(b->stats, NULL, _IOLBF, 0); /* a killed bridge loses no line */
    }
    if (o->output) {
        b->out = ts_output_open(b->loop, o->output, o->state_dir, &has_from, &from, &b->output_bytes, on_output_fail,
                                b, err, sizeof err);
        if (!b->out) {
            ts_error("output: %s", err);
            return -1;
        }
        if (has_from) {
            b->has_last = 1; /* a jump past from is a gap in the file too */
            b->last_seq = from - 1;
        }
    }
    *code = TS_EXIT_FAIL;
    if (!(b->ring = ts_ring_new(RING_PIECES, RING_AGE_US, RING_BYTES)))
        return -1;
    if (!(b->srv = ts_server_new(b->loop, o->addr, o->port, o->path, b->ring, &fatal, err, sizeof err))) {
        ts_error("http: %s", err);
        *code = fatal ? TS_EXIT_CONFIG : TS_EXIT_FAIL;
        return -1;
    }
    char base[256], dvr_dir[4096];
    size_t pl = strlen(o->path);
    snprintf(base, sizeof base, "%.*s", (int)(pl > 3 && strcmp(o->path + pl - 3, ".ts") == 0 ? pl - 3 : pl), o->path);
    snprintf(dvr_dir, sizeof dvr_dir, "%s/dvr", o->state_dir ? o->state_dir : ".");
    if (!(b->hls = ts_hls_new(base, o->dvr_us, dvr_dir, err, sizeof err))) {
        ts_error("hls: %s", err);
        *code = TS_EXIT_CONFIG; /* an unusable state directory */
        return -1;
    }
    ts_server_set_hls(b->srv, b->hls);
    const ts_topo_stage_t *me = &ts_topo[TS_TOPO_BRIDGE];
    b->in = ts_inlink_new(b->loop, ts_stage_zctx(b->st), o->in_ep, me->link_id, ts_topo[me->upstream].name, has_from,
                          from, on_piece, b);
    if (!b->in) {
        ts_error("cannot connect to %s", o->in_ep);
        *code = TS_EXIT_CONFIG; /* zmq_connect only fails on a bad endpoint */
        return -1;
    }
    const ts_server_stats_t *ss = ts_server_stats(b->srv);
    ts_stage_counter(b->st, "pieces_in", &b->pieces_in);
    ts_stage_counter(b->st, "bytes_out", &ss->bytes_out);
    ts_stage_counter(b->st, "http_clients", &ss->clients);
    ts_stage_counter(b->st, "output_bytes", &b->output_bytes);
    ts_stage_counter(b->st, "last_seq", &b->last_seq);
    ts_stage_counter(b->st, "gaps", &b->gaps);
    ts_stage_counter(b->st, "lag_ms", &b->lag_ms);
    ts_stage_counter(b->st, "hls_mem_bytes", &b->hls_mem);
    ts_stage_counter(b->st, "clients_dropped", &ss->clients_dropped);
    ts_stage_counter(b->st, "hls_segments", &b->hls_segments);
    ts_stage_counter(b->st, "hls_requests", &ss->hls_requests);
    ts_stage_counter(b->st, "hls_held", &ss->hls_held);
    ts_stage_counter(b->st, "hls_refused", &ss->hls_refused);
    static const double lag_bounds[] = { 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30 };
    b->lag = ts_metrics_histogram(ts_stage_metrics(b->st), "tstream_lag_seconds",
                                  "Seconds from a piece's source timestamp (the broadcaster's clock) to the moment this "
                                  "bridge hands it to players and --output.",
                                  NULL, lag_bounds, sizeof lag_bounds / sizeof lag_bounds[0]);
    ts_stage_readiness(b->st, readiness, b);
    b->opened = 1;
    if (ts_stage_listen(b->st) < 0) {
        *code = TS_EXIT_CONFIG;
        return -1;
    }
    int v6 = strchr(o->addr, ':') && o->addr[0] != '[';
    ts_info("serving http://%s%s%s:%u%s and %s.m3u8 from %s%s%s", v6 ? "[" : "", o->addr, v6 ? "]" : "",
            ts_server_port(b->srv), o->path, base, o->in_ep, has_from ? " (resuming the output)" : "",
            o->dvr_us ? " (with a DVR window)" : "");
    return 0;
}

static void bridge_close(bridge_t *b)
{
    ts_server_destroy(&b->srv); /* closes the players */
    ts_hls_destroy(&b->hls);
    ts_inlink_destroy(&b->in);
    ts_output_destroy(&b->out);
    ts_ring_destroy(&b->ring);
    if (b->stats)
        fclose(b->stats);
}

int main(int argc, char **argv)
{
    bopts_t o = { 0 };
    ts_stage_opts_t so = { 0 };
    char err[512];
    int c, code;
    static const struct option opts[] = {
        { "in", required_argument, 0, 'i' },        { "http", required_argument, 0, 'H' },
        { "path", required_argument, 0, 'p' },      { "output", required_argument, 0, 'o' },
        { "state-dir", required_argument, 0, 'd' }, { "stats", required_argument, 0, 'S' },
        { "dvr", required_argument, 0, 'D' },
        { "help", no_argument, 0, 'h' },            TS_STAGE_LONGOPTS,
        { 0, 0, 0, 0 },
    };
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': o.in_ep = optarg; break;
        case 'H': o.http = optarg; break;
        case 'p': o.path = optarg; break;
        case 'o': o.output = optarg; break;
        case 'd': o.state_dir = optarg; break;
        case 'S': o.stats = optarg; break;
        case 'D':
            if (ts_units_duration(optarg, &o.dvr_us) < 0 || !o.dvr_us) {
                fprintf(stderr, "ts-player-bridge: bad --dvr '%s' (90, 30m, 2h)\n", optarg);
                return TS_EXIT_USAGE;
            }
            break;
        case 'h': usage(stdout); return TS_EXIT_OK;
        default:
            if ((code = ts_stage_opt(&so, c, optarg, err, sizeof err)) == 1)
                break;
            if (code < 0)
                fprintf(stderr, "ts-player-bridge: %s\n", err);
            else
                usage(stderr);
            return TS_EXIT_USAGE;
        }
    }
    if (optind != argc || !o.in_ep || !o.http || !o.path) {
        fprintf(stderr, "ts-player-bridge: %s\n",
                optind != argc ? "unexpected argument" : "--in, --http and --path are required");
        usage(stderr);
        return TS_EXIT_USAGE;
    }
    if (check_args(&o, &so) < 0)
        return TS_EXIT_USAGE;

    bridge_t b = { 0 };
    b.st = ts_stage_boot(TS_TOPO_BRIDGE, &so, &code);
    if (b.st && bridge_open(&b, &o, &code) == 0)
        code = ts_stage_run(b.st, TS_EXIT_OK);
    bridge_close(&b);
    if (b.opened)
        ts_info("stopped");
    return ts_stage_end(&b.st, code);
}
