/* player-bridge: the viewer's last stage, from verified pieces to players.
 *
 *   swarm --[inlink]--> bridge --HTTP--> players (VLC, mpv, ffmpeg, browsers)
 *                              \--> --output FILE (resumable across restarts)
 *
 * Each piece is written to the output, kept in a short ring (so a new player starts at the
 * newest random-access point), queued to every player, and only then acked. */
#include "chunk.h"
#include "output.h"
#include "ring.h"
#include "server.h"
#include "ts_curve.h"
#include "ts_exit.h"
#include "ts_link.h"
#include "ts_log.h"
#include "ts_stage.h"
#include "ts_units.h"
#include <errno.h>
#include "ts_time.h"
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define RING_PIECES 512
#define RING_AGE_US (8ull * 1000000)
#define RING_BYTES (64u * 1024 * 1024) /* guard against huge pieces; 8 s of normal video is far less */

typedef struct {
    struct ev_loop *loop;
    ts_inlink_t *in;
    ts_ring_t *ring;
    ts_server_t *srv;
    ts_output_t *out;
    FILE *stats; /* --stats: one line per piece handed on, for benchmarks */
    ts_metric_t *lag; /* ts_lag_seconds */
    int exit_code;
    int has_last;
    uint64_t pieces_in, output_bytes, last_seq, gaps;
} bridge_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: ts-player-bridge --in ENDPOINT --http ADDR:PORT --path /NAME.ts [--output FILE|-]\n"
               "                        [--state-dir DIR] [--instance NAME] [--supervisor ENDPOINT]\n"
               "                        [--curve DIR] [--metrics ADDR:PORT] [--exit-unready SECONDS]\n"
               "Serves the verified pieces from the swarm (--in) to players over HTTP at\n"
               "http://ADDR:PORT/NAME.ts (port 0: any free port, logged). A new player starts at the\n"
               "newest random-access point of the last few seconds.\n"
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
    if (!b->exit_code)
        b->exit_code = code;
    ev_break(b->loop, EVBREAK_ALL);
}

static void on_piece(const Ts__Piece *p, void *arg)
{
    bridge_t *b = arg;
    if (b->exit_code)
        return; /* stopping: do not ack what we did not handle */
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
    ts_chunk_unref(&c);
    uint64_t handed_us = ts_wall_us();
    /* The broadcaster's clock against ours: a viewer's clock behind it would give a negative lag. */
    ts_metrics_histogram_observe(b->lag, handed_us > p->timestamp_us ? (double)(handed_us - p->timestamp_us) / 1e6 : 0.);
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
    snprintf(why, whylen, "swarm not heard from for %llu s", TS_LINK_ALIVE_NS / 1000000000);
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

int main(int argc, char **argv)
{
    const char *in_ep = NULL, *http = NULL, *path = NULL, *output = NULL, *state_dir = NULL, *instance = NULL,
               *sup = NULL, *stats = NULL, *curve = NULL, *metrics = NULL;
    double exit_unready = 0;
    static const struct option opts[] = {
        { "in", required_argument, 0, 'i' },       { "http", required_argument, 0, 'H' },
        { "path", required_argument, 0, 'p' },     { "output", required_argument, 0, 'o' },
        { "state-dir", required_argument, 0, 'd' }, { "instance", required_argument, 0, 'n' },
        { "supervisor", required_argument, 0, 's' }, { "stats", required_argument, 0, 'S' },
        { "curve", required_argument, 0, 'C' },   { "help", no_argument, 0, 'h' },
        { "metrics", required_argument, 0, 'M' },  { "exit-unready", required_argument, 0, 'U' },
        { 0, 0, 0, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': in_ep = optarg; break;
        case 'H': http = optarg; break;
        case 'p': path = optarg; break;
        case 'o': output = optarg; break;
        case 'd': state_dir = optarg; break;
        case 'n': instance = optarg; break;
        case 's': sup = optarg; break;
        case 'S': stats = optarg; break;
        case 'C': curve = optarg; break;
        case 'M': metrics = optarg; break;
        case 'U':
            if (ts_stage_unready_arg(optarg, &exit_unready) < 0) {
                fprintf(stderr, "ts-player-bridge: bad --exit-unready '%s' (seconds, 1..86400)\n", optarg);
                return TS_EXIT_USAGE;
            }
            break;
        case 'h': usage(stdout); return TS_EXIT_OK;
        default: usage(stderr); return TS_EXIT_USAGE;
        }
    }
    if (optind != argc || !in_ep || !http || !path) {
        usage(stderr);
        return TS_EXIT_USAGE;
    }
    char addr[256];
    uint16_t port;
    if (ts_units_hostport(http, addr, sizeof addr, &port) < 0) {
        fprintf(stderr, "ts-player-bridge: --http %s: expected ADDR:PORT\n", http);
        return TS_EXIT_USAGE;
    }
    if (!path_ok(path)) {
        fprintf(stderr, "ts-player-bridge: --path %s: expected /NAME (printable, no space, '?' or '#')\n", path);
        return TS_EXIT_USAGE;
    }
    char cerr[512];
    if (ts_curve_missing(curve, cerr, sizeof cerr, in_ep, sup, TS_CURVE_END)) {
        fprintf(stderr, "ts-player-bridge: %s\n", cerr);
        return TS_EXIT_USAGE;
    }
    if (output && strcmp(output, "-") != 0 && !state_dir) {
        fprintf(stderr, "ts-player-bridge: --output FILE needs --state-dir (for the resume record)\n");
        return TS_EXIT_USAGE;
    }

    ts_log_init("player-bridge", instance);
    bridge_t b = { 0 };
    struct ev_loop *loop = EV_DEFAULT;
    b.loop = loop;
    void *zctx = zmq_ctx_new();
    char err[512];
    if (zctx && curve && ts_curve_init(zctx, curve, "player-bridge", err, sizeof err) < 0) {
        ts_error("%s", err);
        return TS_EXIT_CONFIG;
    }
    ts_stage_t *st = zctx ? ts_stage_new(loop, zctx, "player-bridge", instance, sup) : NULL;
    if (!st)
        return TS_EXIT_FAIL;
    int has_from = 0;
    uint64_t from = 0;
    if (stats) {
        b.stats = fopen(stats, "a");
        if (!b.stats) {
            ts_error("--stats %s: %s", stats, strerror(errno));
            return TS_EXIT_CONFIG;
        }
        setvbuf(b.stats, NULL, _IOLBF, 0); /* a killed bridge loses no line */
    }
    if (output) {
        b.out = ts_output_open(loop, output, state_dir, &has_from, &from, &b.output_bytes, on_output_fail, &b, err,
                               sizeof err);
        if (!b.out) {
            ts_error("output: %s", err);
            return TS_EXIT_CONFIG;
        }
        if (has_from) {
            b.has_last = 1; /* a jump past from is a gap in the file too */
            b.last_seq = from - 1;
        }
    }
    b.ring = ts_ring_new(RING_PIECES, RING_AGE_US, RING_BYTES);
    if (!b.ring)
        return TS_EXIT_FAIL;
    int fatal;
    b.srv = ts_server_new(loop, addr, port, path, b.ring, &fatal, err, sizeof err);
    if (!b.srv) {
        ts_error("http: %s", err);
        return fatal ? TS_EXIT_CONFIG : TS_EXIT_FAIL;
    }
    b.in = ts_inlink_new(loop, zctx, in_ep, "bridge", "swarm", has_from, from, on_piece, &b);
    if (!b.in) {
        ts_error("cannot connect to %s", in_ep);
        return TS_EXIT_CONFIG; /* zmq_connect only fails on a bad endpoint */
    }
    const ts_server_stats_t *ss = ts_server_stats(b.srv);
    ts_stage_counter(st, "pieces_in", &b.pieces_in);
    ts_stage_counter(st, "bytes_out", &ss->bytes_out);
    ts_stage_counter(st, "http_clients", &ss->clients);
    ts_stage_counter(st, "output_bytes", &b.output_bytes);
    ts_stage_counter(st, "last_seq", &b.last_seq);
    ts_stage_counter(st, "gaps", &b.gaps);
    ts_stage_counter(st, "clients_dropped", &ss->clients_dropped);
    static const double lag_bounds[] = { 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30 };
    b.lag = ts_metrics_histogram(ts_stage_metrics(st), "ts_lag_seconds",
                                 "Seconds from a piece's source timestamp (the broadcaster's clock) to the moment this "
                                 "bridge hands it to players and --output.",
                                 NULL, lag_bounds, sizeof lag_bounds / sizeof lag_bounds[0]);
    ts_stage_readiness(st, readiness, &b);
    ts_stage_exit_unready(st, exit_unready);
    if (metrics && ts_stage_serve(st, metrics, err, sizeof err) < 0) {
        ts_error("--metrics %s: %s", metrics, err);
        b.exit_code = TS_EXIT_CONFIG;
    } else {
        int v6 = strchr(addr, ':') && addr[0] != '[';
        ts_info("serving http://%s%s%s:%u%s from %s%s", v6 ? "[" : "", addr, v6 ? "]" : "", ts_server_port(b.srv),
                path, in_ep, has_from ? " (resuming the output)" : "");
        ts_stage_ready(st);
        ev_run(loop, 0);
        b.exit_code = ts_stage_exit_code(st, b.exit_code);
    }

    ts_server_destroy(&b.srv); /* closes the players */
    ts_inlink_destroy(&b.in);
    ts_output_destroy(&b.out);
    ts_ring_destroy(&b.ring);
    ts_stage_destroy(&st);
    if (b.stats)
        fclose(b.stats);
    zmq_ctx_term(zctx);
    ts_curve_fini();
    ts_info("stopped");
    return b.exit_code;
}
