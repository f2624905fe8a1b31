/* ts-ingest: read a live source, cut it into pieces (tscut), number them (seqstore) and publish
 * them on a ROUTER outlink for the signer.
 *
 *   source (file | stdin | pipe | http | testsrc) ──bytes──▶ tscut ──pieces──▶ outlink (--out)
 *                                                   fill timer ┘         seq ┘
 */
#include "seqstore.h"
#include "source.h"
#include "tscut.h"
#include "ts_exit.h"
#include "ts_link.h"
#include "ts_log.h"
#include "ts_stage.h"
#include "ts_time.h"
#include "ts_units.h"
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define DEFAULT_PIECE_SIZE 16384
#define DEFAULT_MAX_FILL_MS 200
#define OUT_RING 1024
#define MAX_BPS 10000000000ull /* 10 Gbit/s: far above any live stream, keeps pacing math exact */

typedef struct {
    const char *source, *out, *state_dir, *instance, *supervisor;
    uint64_t bps, piece_size, max_fill_ms;
} opts_t;

typedef struct {
    struct ev_loop *loop;
    ts_stage_t *stage;
    ts_outlink_t *out;
    ts_tscut_t *cut;
    ts_seqstore_t *seqs;
    ts_source_t *src;
    ev_timer fill;
    int exit_code, dead;
    /* heartbeat counters */
    uint64_t seq, pieces_out, bytes_in, source_restarts, rap_pieces;
} ingest_t;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ts-ingest --source SRC --out ENDPOINT [options]\n"
            "\n"
            "Cut a live stream into numbered pieces and publish them for the signer.\n"
            "\n"
            "  --source SRC        FILE (paced at --bitrate), - (stdin), pipe:COMMAND (run by /bin/sh,\n"
            "                      restarted when it exits), http://URL or https://URL (reconnected),\n"
            "                      or testsrc (ffmpeg test pattern, 2 Mbit/s MPEG-TS)\n"
            "  --out ENDPOINT      ZeroMQ endpoint to bind for the signer, e.g. ipc:///run/ts/ingest.ipc\n"
            "  --bitrate RATE      read a FILE source at RATE bit/s (2M = 2,000,000); required for files\n"
            "  --piece-size BYTES  wire piece length incl. the %d-byte trailer (default %d; 16k, 64k ok)\n"
            "  --max-fill-ms MS    close a piece at most MS after its first byte (default %d)\n"
            "  --state-dir DIR     keep the sequence-number reservation in DIR/seq (survives restarts)\n"
            "  --instance NAME     instance name in logs and heartbeats\n"
            "  --supervisor EP     supervisor endpoint for READY and heartbeats\n"
            "  --help              this text\n"
            "\n"
            "Exit codes: 0 stopped, %d bad arguments, %d unusable source file or state, %d system failure.\n",
            TS_TRAILER_LEN, DEFAULT_PIECE_SIZE, DEFAULT_MAX_FILL_MS, TS_EXIT_USAGE, TS_EXIT_CONFIG, TS_EXIT_FAIL);
}

static int bad_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "ts-ingest: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n\n");
    usage(stderr);
    return TS_EXIT_USAGE;
}

/* 0 ok, -1 exit with *code. */
static int parse_args(int argc, char **argv, opts_t *o, int *code)
{
    static const struct option longopts[] = {
        { "source", required_argument, NULL, 's' },     { "out", required_argument, NULL, 'o' },
        { "bitrate", required_argument, NULL, 'b' },    { "piece-size", required_argument, NULL, 'p' },
        { "max-fill-ms", required_argument, NULL, 'f' }, { "state-dir", required_argument, NULL, 'd' },
        { "instance", required_argument, NULL, 'i' },   { "supervisor", required_argument, NULL, 'S' },
        { "help", no_argument, NULL, 'h' },             { NULL, 0, NULL, 0 },
    };
    memset(o, 0, sizeof *o);
    o->piece_size = DEFAULT_PIECE_SIZE;
    o->max_fill_ms = DEFAULT_MAX_FILL_MS;
    const char *bitrate = NULL;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's': o->source = optarg; break;
        case 'o': o->out = optarg; break;
        case 'b': bitrate = optarg; break;
        case 'd': o->state_dir = optarg; break;
        case 'i': o->instance = optarg; break;
        case 'S': o->supervisor = optarg; break;
        case 'p':
            if (ts_units_size(optarg, &o->piece_size) < 0 || o->piece_size < TS_TRAILER_LEN + TS_TSCUT_PKT ||
                o->piece_size > 1024 * 1024 + TS_TRAILER_LEN) {
                *code = bad_usage("--piece-size %s: need a size from 276 bytes to 1M + 88", optarg);
                return -1;
            }
            break;
        case 'f': {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-' || v < 1 || v > 60000) {
                *code = bad_usage("--max-fill-ms %s: need milliseconds from 1 to 60000", optarg);
                return -1;
            }
            o->max_fill_ms = v;
            break;
        }
        case 'h':
            usage(stdout);
            *code = TS_EXIT_OK;
            return -1;
        default:
            *code = bad_usage("unknown or incomplete option %s", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        *code = bad_usage("unexpected argument %s", argv[optind]);
        return -1;
    }
    if (!o->source || !*o->source || !o->out || !*o->out) {
        *code = bad_usage("%s", "--source and --out are required");
        return -1;
    }
    if (bitrate && (ts_units_rate(bitrate, &o->bps) < 0 || o->bps == 0 || o->bps > MAX_BPS)) {
        *code = bad_usage("--bitrate %s: need a rate such as 2M (bit/s, up to 10G)", bitrate);
        return -1;
    }
    ts_source_kind_t kind = ts_source_kind(o->source);
    if (kind == TS_SOURCE_FILE && !bitrate) {
        *code = bad_usage("a file source is paced: give --bitrate (e.g. --bitrate 2M for %s)", o->source);
        return -1;
    }
    if (kind != TS_SOURCE_FILE)
        o->bps = 0; /* only files are paced; testsrc paces itself (-re), the rest come live */
    return 0;
}

/* ------------------------------------------------------------ pieces */

static void fatal(ingest_t *g, int code)
{
    g->dead = 1;
    g->exit_code = code;
    ev_break(g->loop, EVBREAK_ALL);
}

static void on_piece(const uint8_t *data, size_t len, uint32_t flags, void *arg)
{
    ingest_t *g = arg;
    if (g->dead)
        return;
    uint64_t seq;
    char err[256];
    if (ts_seqstore_take(g->seqs, &seq, err, sizeof err) < 0) {
        /* Publishing without a durable reservation could reuse numbers after a crash. */
        ts_error("cannot reserve sequence numbers: %s", err);
        fatal(g, TS_EXIT_FAIL);
        return;
    }
    Ts__Piece p = TS__PIECE__INIT;
    p.seq = seq;
    p.timestamp_us = ts_wall_us();
    p.flags = flags;
    p.payload.data = (uint8_t *)data;
    p.payload.len = len;
    g->seq = ts_seqstore_next(g->seqs);
    if (ts_outlink_publish(g->out, &p) < 0) {
        ts_error("cannot publish piece %llu (%zu bytes)", (unsigned long long)seq, len);
        return;
    }
    g->pieces_out++;
    if (flags & TS_PIECE_RAP)
        g->rap_pieces++;
    ts_debug("piece %llu: %zu bytes%s%s", (unsigned long long)seq, len, flags & TS_PIECE_RAP ? " rap" : "",
             flags & TS_PIECE_DISCONT ? " discont" : "");
}

/* Keep the fill timer on the cutter's deadline. */
static void arm_fill(ingest_t *g)
{
    uint64_t d = ts_tscut_deadline(g->cut);
    ev_timer_stop(g->loop, &g->fill);
    if (d == UINT64_MAX || g->dead)
        return;
    uint64_t now = ts_mono_ns();
    ev_timer_set(&g->fill, d > now ? (double)(d - now) / 1e9 : 0., 0.);
    ev_timer_start(g->loop, &g->fill);
}

static void on_fill(struct ev_loop *loop, ev_timer *w, int revents)
{
    ingest_t *g = w->data;
    ts_tscut_tick(g->cut, ts_mono_ns());
    arm_fill(g);
}

/* ------------------------------------------------------------ source events */

static void on_data(const uint8_t *buf, size_t len, void *arg)
{
    ingest_t *g = arg;
    if (g->dead)
        return;
    g->bytes_in += len;
    if (ts_tscut_feed(g->cut, buf, len, ts_mono_ns()) < 0) {
        ts_error("out of memory buffering the source");
        fatal(g, TS_EXIT_FAIL);
        return;
    }
    arm_fill(g);
}

static void on_ended(int restarting, void *arg)
{
    ingest_t *g = arg;
    ts_tscut_flush(g->cut, ts_mono_ns()); /* the stream's tail goes out now, not at the next run */
    arm_fill(g);
    if (!restarting)
        ts_info("end of stream after %llu bytes, %llu pieces", (unsigned long long)g->bytes_in,
                (unsigned long long)g->pieces_out);
}

static void on_restarted(void *arg)
{
    ingest_t *g = arg;
    g->source_restarts++;
    ts_tscut_restart(g->cut, ts_mono_ns()); /* next piece: DISCONT; TS detection starts over */
    arm_fill(g);
}

static void on_stop(void *arg)
{
    ingest_t *g = arg;
    if (g->src)
        ts_source_stop(g->src);
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    opts_t o;
    int code = TS_EXIT_OK;
    if (parse_args(argc, argv, &o, &code) < 0)
        return code;

    ingest_t g;
    memset(&g, 0, sizeof g);
    g.exit_code = TS_EXIT_OK;
    g.loop = ev_default_loop(0); /* the default loop: command sources are reaped with ev_child */
    void *zctx = zmq_ctx_new();
    char err[512];
    if (!g.loop || !zctx) {
        fprintf(stderr, "ts-ingest: cannot create the event loop or ZeroMQ context\n");
        return TS_EXIT_FAIL;
    }
    g.stage = ts_stage_new(g.loop, zctx, "ingest", o.instance, o.supervisor);
    if (!g.stage) {
        code = TS_EXIT_FAIL;
        goto out;
    }
    if (!(g.seqs = ts_seqstore_new(o.state_dir, err, sizeof err))) {
        ts_error("sequence state: %s", err);
        code = TS_EXIT_CONFIG;
        goto out;
    }
    g.seq = ts_seqstore_next(g.seqs);
    if (!(g.cut = ts_tscut_new((size_t)(o.piece_size - TS_TRAILER_LEN), o.max_fill_ms * 1000000ull, on_piece, &g, err,
                               sizeof err))) {
        ts_error("cutter: %s", err);
        code = TS_EXIT_FAIL;
        goto out;
    }
    ev_init(&g.fill, on_fill);
    g.fill.data = &g;
    if (!(g.out = ts_outlink_new(g.loop, zctx, o.out, OUT_RING, NULL, NULL, NULL))) {
        ts_error("cannot serve pieces on %s", o.out);
        code = TS_EXIT_FAIL;
        goto out;
    }
    const ts_source_cb_t cb = { on_data, on_ended, on_restarted };
    if (!(g.src = ts_source_new(g.loop, o.source, o.bps, &cb, &g, &code, err, sizeof err))) {
        ts_error("source %s: %s", o.source, err);
        goto out;
    }
    ts_stage_counter(g.stage, "seq", &g.seq);
    ts_stage_counter(g.stage, "pieces_out", &g.pieces_out);
    ts_stage_counter(g.stage, "bytes_in", &g.bytes_in);
    ts_stage_counter(g.stage, "source_restarts", &g.source_restarts);
    ts_stage_counter(g.stage, "rap_pieces", &g.rap_pieces);
    ts_stage_on_stop(g.stage, on_stop, &g);
    ts_info("serving pieces of up to %llu bytes (payload %llu) on %s, seq from %llu",
            (unsigned long long)o.piece_size, (unsigned long long)(o.piece_size - TS_TRAILER_LEN), o.out,
            (unsigned long long)g.seq);
    ts_stage_ready(g.stage);

    ev_run(g.loop, 0);
    code = g.exit_code;
    ts_info("stopped: %llu bytes in, %llu pieces out (%llu RAP), %llu source restarts, next seq %llu",
            (unsigned long long)g.bytes_in, (unsigned long long)g.pieces_out, (unsigned long long)g.rap_pieces,
            (unsigned long long)g.source_restarts, (unsigned long long)g.seq);
out:
    ev_timer_stop(g.loop, &g.fill);
    ts_source_destroy(&g.src); /* kills a command's process group */
    ts_outlink_destroy(&g.out);
    ts_tscut_destroy(&g.cut);
    ts_seqstore_destroy(&g.seqs);
    ts_stage_destroy(&g.stage);
    zmq_ctx_term(zctx);
    return code;
}
