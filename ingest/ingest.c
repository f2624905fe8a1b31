/* ts-ingest: read a live source, cut it into pieces (tscut), number them (seqstore) and publish
 * them on a ROUTER outlink for the signer.
 *
 *   source (file | stdin | pipe | http | testsrc) ──bytes──▶ tscut ──pieces──▶ outlink (--out)
 *                                                   fill timer ┘         seq ┘
 *
 * Restarts (docs/PROTOCOL.md section 7): each piece carries the source offset where it ends. The
 * source starts only once the signer has subscribed: if it says which piece it holds newest,
 * numbering continues right after it and a file or HTTP source at the byte after it (nothing
 * reused, skipped or sent twice); if it holds nothing, or no signer comes within WAIT_S, at the
 * persisted reservation. */
#include "seqstore.h"
#include "source.h"
#include "tscut.h"
#include "ts_curve.h"
#include "ts_exit.h"
#include "ts_link.h"
#include "ts_log.h"
#include "ts_mpegts.h"
#include "ts_pushurl.h"
#include "ts_stage.h"
#include "ts_time.h"
#include "ts_topology.h"
#include "ts_units.h"
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define DEFAULT_PIECE_SIZE 16384
#define DEFAULT_MAX_FILL_MS 200
#define MAX_BPS 10000000000ull /* 10 Gbit/s: far above any live stream, keeps pacing math exact */
#define WAIT_S 10.0            /* no subscriber this long: the signer is down too, start without it */
#define IDLE_REPEAT_S 60       /* a source still silent: warn again this often */
#define IDLE_SPEC_MAX 120      /* characters of the source spec quoted in a warning */

typedef struct {
    const char *source, *out, *state_dir;
    char shown[TS_PUSHURL_MAX + 32]; /* source as logged: an SRT passphrase masked */
    uint64_t bps, piece_size, max_fill_ms;
    int repeat; /* --loop */
    ts_stage_opts_t so; /* --instance, --supervisor, --curve, --metrics, --exit-unready */
    int check;          /* --check: only check the source, then exit */
} opts_t;

typedef struct {
    struct ev_loop *loop;
    const opts_t *o;
    ts_stage_t *stage;
    ts_outlink_t *out;
    ts_tscut_t *cut;
    ts_seqstore_t *seqs;
    ts_source_t *src;
    ev_timer fill, wait, idle;
    int dead;
    int started;          /* the source runs: where to start has been decided */
    int resumed;          /* this run continues pieces published before (a previous ingest's) */
    int has_last;         /* last_seq: the newest piece published, or the signer's when resumed */
    uint64_t last_seq;
    uint64_t src_off;     /* source offset where the next piece's payload starts */
    int discont_next;     /* flag the next piece DISCONT */
    int src_ended;        /* the source ended for good (a file or stdin at its end): no idle warnings */
    uint64_t source_ended; /* status counter: 1 once it has (tsctl status says so) */
    uint64_t last_byte_ns; /* when the source last gave a byte (or started) */
    uint64_t next_warn_s;  /* warn when it has been silent this long */
    /* piece clock: wall time at the anchor plus monotonic time since, never below next_ts */
    uint64_t anchor_wall_us, anchor_mono_ns, next_ts;
    /* heartbeat counters */
    uint64_t seq, pieces_out, bytes_in, source_restarts, rap_pieces, source_idle_s;
    uint64_t push_rejected, bytes_dropped; /* push sources: connections and datagrams turned away */
} ingest_t;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ts-ingest --source SRC --out ENDPOINT [options]\n"
            "\n"
            "Cut a live stream into numbered pieces and publish them for the signer.\n"
            "\n"
            "  --source SRC        FILE (paced), - (stdin), pipe:COMMAND (run by /bin/sh, restarted when\n"
            "                      it exits), http://URL or https://URL (paced, reconnected, never sending a\n"
            "                      byte twice), testsrc (ffmpeg test pattern, 2 Mbit/s MPEG-TS), or an\n"
            "                      encoder pushing MPEG-TS, cut as it comes: srt://:PORT (listener; ?passphrase=P\n"
            "                      &latency=MS), srt://HOST:PORT (caller), udp://@GROUP:PORT[?iface=ADDR]\n"
            "                      (multicast), udp://[ADDR]:PORT, tcp://[ADDR]:PORT (one connection at a time)\n"
            "  --source-env VAR    the source SRC from environment variable VAR instead (keeps an SRT\n"
            "                      passphrase out of the process list; tsctl does this for such sources)\n"
            "  --out ENDPOINT      ZeroMQ endpoint to bind for the signer, e.g. ipc:///run/ts/ingest.ipc\n"
            "  --bitrate RATE      pace a FILE source at RATE bit/s (2M = 2,000,000); without it a file is\n"
            "                      paced by its MPEG-TS PCR (one that is not MPEG-TS needs it). HTTP goes\n"
            "                      by its PCR, and at RATE only if it has none\n"
            "  --loop              at the end of a FILE start over from its first byte (numbering and\n"
            "                      timestamps go on); without it the source ends and ingest idles\n"
            "  --piece-size BYTES  wire piece length incl. the %d-byte trailer (default %d; 16k, 64k ok)\n"
            "  --max-fill-ms MS    close a piece at most MS after its first byte (default %d)\n"
            "  --state-dir DIR     keep the sequence-number reservation in DIR/seq (survives restarts)\n"
            "  --check             only check that the source is usable (a file: there, readable, not\n"
            "                      empty) and exit: 0, or %d with the reason (--out not needed)\n",
            TS_TRAILER_LEN, DEFAULT_PIECE_SIZE, DEFAULT_MAX_FILL_MS, TS_EXIT_CONFIG);
    ts_stage_usage(f, TS_TOPO_INGEST);
    fprintf(f,
            "\n"
            "A source that sends nothing is waited for: a warning after %d s without data, then every %d s.\n"
            "Exit codes: 0 stopped, %d bad arguments, %d unusable (missing, unreadable or empty) source\n"
            "file, state or --metrics address, %d system failure.\n",
            TS_SOURCE_IDLE_WARN_S, IDLE_REPEAT_S, TS_EXIT_USAGE, TS_EXIT_CONFIG, TS_EXIT_FAIL);
}

static int bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad_usage(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "ts-ingest: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n\n");
    usage(stderr);
    return TS_EXIT_USAGE;
}

/* 0 ok, -1 exit with *code. */
static int parse_args(int argc, char **argv, opts_t *o, int *code)
{
    static const struct option longopts[] = {
        { "source", required_argument, NULL, 's' },     { "out", required_argument, NULL, 'o' },
        { "source-env", required_argument, NULL, 'e' },
        { "bitrate", required_argument, NULL, 'b' },    { "piece-size", required_argument, NULL, 'p' },
        { "max-fill-ms", required_argument, NULL, 'f' }, { "state-dir", required_argument, NULL, 'd' },
        { "loop", no_argument, NULL, 'l' },
        { "help", no_argument, NULL, 'h' },             { "check", no_argument, NULL, 'c' },
        TS_STAGE_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    memset(o, 0, sizeof *o);
    o->piece_size = DEFAULT_PIECE_SIZE;
    o->max_fill_ms = DEFAULT_MAX_FILL_MS;
    const char *bitrate = NULL;
    char err[512];
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's': o->source = optarg; break;
        case 'e': /* a source with a secret in it (an SRT passphrase): not on the command line, which
                   * every local user can read (ps); the environment is the process owner's only */
            if (!(o->source = getenv(optarg)) || !*o->source) {
                *code = bad_usage("--source-env %s: no such environment variable (or it is empty)", optarg);
                return -1;
            }
            break;
        case 'o': o->out = optarg; break;
        case 'b': bitrate = optarg; break;
        case 'd': o->state_dir = optarg; break;
        case 'l': o->repeat = 1; break;
        case 'c': o->check = 1; break;
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
            switch (ts_stage_opt(&o->so, c, optarg, err, sizeof err)) {
            case 1: break;
            case -1: *code = bad_usage("%s", err); return -1;
            default: *code = bad_usage("unknown or incomplete option %s", argv[optind - 1]); return -1;
            }
            break;
        }
    }
    if (optind < argc) {
        *code = bad_usage("unexpected argument %s", argv[optind]);
        return -1;
    }
    if (!o->source || !*o->source || (!o->check && (!o->out || !*o->out))) {
        *code = bad_usage("%s", "--source and --out are required");
        return -1;
    }
    ts_pushurl_redact(o->source, o->shown, sizeof o->shown);
    if (ts_curve_missing(o->so.curve, err, sizeof err, o->out, o->so.supervisor, TS_CURVE_END)) {
        *code = bad_usage("%s", err);
        return -1;
    }
    if (bitrate && (ts_units_rate(bitrate, &o->bps) < 0 || o->bps == 0 || o->bps > MAX_BPS)) {
        *code = bad_usage("--bitrate %s: need a rate such as 2M (bit/s, up to 10G)", bitrate);
        return -1;
    }
    ts_source_kind_t kind = ts_source_kind(o->source);
    /* Without --bitrate a file goes by its PCR: one that is not MPEG-TS cannot be paced. (One that
     * cannot be read is reported by the source check, with its own exit code.) */
    if (kind == TS_SOURCE_FILE && !bitrate && ts_mpegts_file(o->source) == 0) {
        *code = bad_usage("%s is not MPEG-TS, so it has no PCR to be paced by: a file source like it needs --bitrate "
                          "(e.g. --bitrate 2M)", o->source);
        return -1;
    }
    if (o->repeat && kind != TS_SOURCE_FILE) {
        *code = bad_usage("--loop repeats a file source; %s is not a file", o->shown);
        return -1;
    }
    if (kind != TS_SOURCE_FILE && kind != TS_SOURCE_HTTP)
        o->bps = 0; /* files and HTTP are paced; testsrc paces itself (-re), the rest come live */
    return 0;
}

/* ------------------------------------------------------------ pieces */

static void fatal(ingest_t *g, int code)
{
    g->dead = 1;
    ts_stage_stop(g->stage, code);
}

/* A timestamp a wall-clock step cannot move: wall time when this run began, plus monotonic
 * time since; strictly increasing, and above everything stamped before (floor). */
static void anchor_clock(ingest_t *g, uint64_t floor)
{
    uint64_t wall = ts_wall_us();
    if (floor < g->next_ts)
        floor = g->next_ts;
    g->anchor_wall_us = wall > floor ? wall : floor;
    g->anchor_mono_ns = ts_mono_ns();
}

static uint64_t stamp(ingest_t *g)
{
    uint64_t ts = g->anchor_wall_us + (ts_mono_ns() - g->anchor_mono_ns) / TS_NS_PER_US;
    if (ts < g->next_ts)
        ts = g->next_ts;
    g->next_ts = ts + 1;
    return ts;
}

static void on_piece(const uint8_t *data, size_t len, uint32_t flags, void *arg)
{
    ingest_t *g = arg;
    if (g->dead)
        return;
    uint64_t seq, ts = stamp(g);
    char err[256];
    if (ts_seqstore_take(g->seqs, &seq, err, sizeof err) < 0 || ts_seqstore_stamp(g->seqs, ts, err, sizeof err) < 0) {
        /* Publishing without a durable reservation could reuse numbers (or timestamps) after a crash. */
        ts_error("cannot reserve sequence numbers: %s", err);
        fatal(g, TS_EXIT_FAIL);
        return;
    }
    if (g->discont_next)
        flags |= TS_PIECE_DISCONT;
    g->discont_next = 0;
    g->src_off += len;
    Ts__Piece p = TS__PIECE__INIT;
    p.seq = seq;
    p.timestamp_us = ts;
    p.flags = flags;
    p.payload.data = (uint8_t *)data;
    p.payload.len = len;
    p.has_src_offset = 1;
    p.src_offset = g->src_off;
    g->seq = ts_seqstore_next(g->seqs);
    if (ts_outlink_publish(g->out, &p) < 0) {
        ts_error("cannot publish piece %llu (%zu bytes)", (unsigned long long)seq, len);
        return;
    }
    g->has_last = 1;
    g->last_seq = seq;
    if (g->pieces_out++ == 0)
        ts_stage_beat(g->stage); /* `tsctl start` waits for the first piece: do not keep it a second */
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
    ev_timer_set(&g->fill, d > now ? ts_ns_to_s(d - now) : 0., 0.);
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
    uint64_t now = ts_mono_ns();
    if (g->next_warn_s > TS_SOURCE_IDLE_WARN_S)
        ts_info("data from the source again, after %.0f s of silence", ts_ns_to_s(now - g->last_byte_ns));
    g->last_byte_ns = now;
    g->source_idle_s = 0;
    g->next_warn_s = TS_SOURCE_IDLE_WARN_S;
    g->bytes_in += len;
    if (ts_tscut_feed(g->cut, buf, len, now) < 0) {
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
    if (!restarting) {
        g->src_ended = 1; /* said here, once; waiting is pointless */
        g->source_ended = 1;
        g->source_idle_s = 0; /* not a silence: tsctl status says "ended" instead */
        ts_info("the source ended after %llu bytes, %llu pieces: no new pieces from now on, the broadcast stays up%s",
                (unsigned long long)g->bytes_in, (unsigned long long)g->pieces_out,
                ts_source_kind(g->o->source) == TS_SOURCE_FILE ? " (--loop repeats a file)" : "");
    }
}

/* Every second: how long the source has been silent (status counter source_idle_s); past
 * TS_SOURCE_IDLE_WARN_S a warning, repeated every IDLE_REPEAT_S while it lasts. A live source may
 * come later (a camera not on yet, an encoder restarting), so ingest keeps waiting. */
static void on_idle(struct ev_loop *loop, ev_timer *w, int revents)
{
    ingest_t *g = w->data;
    if (g->src_ended)
        return;
    g->source_idle_s = (ts_mono_ns() - g->last_byte_ns) / TS_NS_PER_S;
    if (g->source_idle_s < g->next_warn_s)
        return;
    const char *spec = g->o->shown;
    int cut = strlen(spec) > IDLE_SPEC_MAX;
    ts_warn("no data from the source for %llu s (%.*s%s; %llu restarts of it): still waiting for it, the "
            "broadcast stays up",
            (unsigned long long)g->source_idle_s, IDLE_SPEC_MAX, spec, cut ? "..." : "",
            (unsigned long long)g->source_restarts);
    g->next_warn_s = g->source_idle_s + IDLE_REPEAT_S;
}

static void on_restarted(void *arg)
{
    ingest_t *g = arg;
    g->source_restarts++;
    ts_tscut_restart(g->cut, ts_mono_ns()); /* next piece: DISCONT; TS detection starts over */
    g->src_off = 0;                         /* offsets count from the new run's first byte */
    if (g->pieces_out || g->resumed)
        g->discont_next = 1; /* the cutter only knows about bytes it saw itself */
    arm_fill(g);
}

static void on_refused(size_t bytes, void *arg)
{
    ingest_t *g = arg;
    g->push_rejected++;
    g->bytes_dropped += bytes;
}

static void on_stop(void *arg)
{
    ingest_t *g = arg;
    ev_timer_stop(g->loop, &g->wait);
    ev_timer_stop(g->loop, &g->idle);
    if (g->src)
        ts_source_stop(g->src);
}

/* ------------------------------------------------------------ where to start */

static const ts_source_cb_t source_cb = { on_data, on_ended, on_restarted, on_refused };

static int seekable(const char *spec)
{
    ts_source_kind_t k = ts_source_kind(spec);
    return k == TS_SOURCE_FILE || k == TS_SOURCE_HTTP;
}

/* Start the source: after the piece the signer holds (have), or at the persisted reservation
 * (have NULL). Also a rewind, when the signer turns out to hold a piece we did not publish. */
static void begin(ingest_t *g, const Ts__Subscribe *have)
{
    char err[512];
    int code;
    ev_timer_stop(g->loop, &g->wait);
    uint64_t off = 0, floor = ts_seqstore_clock(g->seqs);
    if (have) {
        if (ts_seqstore_resume(g->seqs, have->have_seq + 1, err, sizeof err) < 0) {
            ts_error("cannot reserve sequence numbers: %s", err);
            fatal(g, TS_EXIT_FAIL);
            return;
        }
        ts_outlink_truncate(g->out, have->have_seq); /* a rewind: what we held above it is void */
        g->has_last = 1;
        g->last_seq = have->have_seq;
        g->seq = have->have_seq + 1;
        off = have->has_have_src_offset ? have->have_src_offset : 0;
        floor = have->has_have_timestamp_us ? have->have_timestamp_us + 1 : 0;
    }
    anchor_clock(g, floor);
    if (g->started && !seekable(g->o->source)) {
        /* A command or stdin cannot go back: keep reading, number from here, say it is a new run. */
        g->discont_next = 1;
        g->resumed = 1;
        return;
    }
    if (g->started) {
        ts_source_destroy(&g->src);
        ts_tscut_destroy(&g->cut);
        if (!(g->cut = ts_tscut_new((size_t)(g->o->piece_size - TS_TRAILER_LEN), g->o->max_fill_ms * TS_NS_PER_MS,
                                    on_piece, g, err, sizeof err))) {
            ts_error("cutter: %s", err);
            fatal(g, TS_EXIT_FAIL);
            return;
        }
        arm_fill(g);
    }
    if (!g->started) {
        g->last_byte_ns = ts_mono_ns(); /* silence counts from here */
        g->next_warn_s = TS_SOURCE_IDLE_WARN_S;
        ev_timer_start(g->loop, &g->idle);
    }
    g->started = 1;
    uint64_t at = off;
    if (!(g->src = ts_source_new(g->loop, g->o->source, g->o->bps, g->o->repeat, &at, &source_cb, g, &code, err, sizeof err))) {
        ts_error("source %s: %s", g->o->shown, err);
        fatal(g, code);
        return;
    }
    g->src_off = at;
    g->src_ended = 0; /* a new source object: whatever ended before starts over */
    g->source_ended = 0;
    g->resumed = have != NULL;
    g->discont_next = have && at != off; /* a command restarted, or a server that cannot resume */
    if (have)
        ts_info("resuming after seq %llu (the signer's newest): seq %llu from source byte %llu%s",
                (unsigned long long)have->have_seq, (unsigned long long)g->seq, (unsigned long long)at,
                at != off ? " (the source cannot resume: a new run)" : "");
    else
        ts_info("starting at the persisted seq %llu", (unsigned long long)g->seq);
}

/* The signer (re)subscribed. Before the start it tells where to start; later, a piece it holds
 * that we did not publish as such (one from a previous ingest, still in flight when it died) means
 * our numbering went astray: rewind to continue after it. */
static void on_subscribe(const char *sub, const Ts__Subscribe *m, void *arg)
{
    ingest_t *g = arg;
    if (g->dead)
        return;
    if (!g->started) {
        if (!m->has_have_seq)
            ts_info("%s holds no piece: not resuming", sub);
        begin(g, m->has_have_seq ? m : NULL);
        return;
    }
    if (!m->has_have_seq)
        return;
    int held, has_off = 0;
    uint64_t off = 0;
    if (!g->has_last) {
        ts_info("%s holds seq %llu: resuming after it rather than at the reservation", sub,
                (unsigned long long)m->have_seq);
    } else if (m->have_seq > g->last_seq) {
        ts_warn("%s holds seq %llu, above our newest %llu: continuing after it", sub, (unsigned long long)m->have_seq,
                (unsigned long long)g->last_seq);
    } else {
        held = ts_outlink_lookup(g->out, m->have_seq, &has_off, &off);
        if (!held || !has_off || !m->has_have_src_offset || off == m->have_src_offset)
            return;
        ts_warn("%s holds seq %llu ending at source byte %llu, ours ends at %llu: continuing after it", sub,
                (unsigned long long)m->have_seq, (unsigned long long)m->have_src_offset, (unsigned long long)off);
    }
    begin(g, m);
}

static void on_wait(struct ev_loop *loop, ev_timer *w, int revents)
{
    ingest_t *g = w->data;
    ts_warn("no signer subscribed within %.0f s: not resuming", WAIT_S);
    begin(g, NULL);
}

/* Ready while the signer is heard from. A silent source does not make ingest unready (its links
 * are fine, and restarting it would not help): it is only named, as ts_source_bytes_total's rate
 * shows it too. */
static int readiness(void *arg, char *why, size_t whylen)
{
    ingest_t *g = arg;
    if (!ts_outlink_alive_subscribers(g->out, TS_LINK_ALIVE_NS)) {
        snprintf(why, whylen, "no signer heard from for %llu s", TS_LINK_ALIVE_NS / TS_NS_PER_S);
        return 0;
    }
    uint64_t idle = ts_mono_ns() - g->last_byte_ns;
    if (g->src_ended)
        snprintf(why, whylen, "the source ended");
    else if (g->started && idle > (uint64_t)TS_SOURCE_IDLE_WARN_S * TS_NS_PER_S)
        snprintf(why, whylen, "source idle %llu s", (unsigned long long)(idle / TS_NS_PER_S));
    return 1;
}

/* ------------------------------------------------------------ main */

/* The sequence store, the cutter, the outlink for the signer, the timers, the counters. 0, or -1
 * with *code (logged). The source starts later: once the signer says where (begin). */
static int ingest_open(ingest_t *g, int *code)
{
    const opts_t *o = g->o;
    char err[512];
    g->loop = ts_stage_loop(g->stage);
    ev_init(&g->fill, on_fill);
    g->fill.data = g;
    ev_timer_init(&g->wait, on_wait, WAIT_S, 0.);
    g->wait.data = g;
    ev_timer_init(&g->idle, on_idle, 1., 1.);
    g->idle.data = g;
    if (!(g->seqs = ts_seqstore_new(o->state_dir, err, sizeof err))) {
        ts_error("sequence state: %s", err);
        *code = TS_EXIT_CONFIG;
        return -1;
    }
    g->seq = ts_seqstore_next(g->seqs);
    *code = TS_EXIT_FAIL;
    if (!(g->cut = ts_tscut_new((size_t)(o->piece_size - TS_TRAILER_LEN), o->max_fill_ms * TS_NS_PER_MS, on_piece, g,
                                err, sizeof err))) {
        ts_error("cutter: %s", err);
        return -1;
    }
    if (!(g->out = ts_outlink_new(g->loop, ts_stage_zctx(g->stage), o->out, ts_topo[TS_TOPO_INGEST].out_ring, NULL,
                                  NULL, NULL))) {
        ts_error("cannot serve pieces on %s", o->out);
        return -1;
    }
    ts_outlink_on_subscribe(g->out, on_subscribe, g);
    if (ts_source_check(o->source, code, err, sizeof err) < 0) {
        ts_error("source %s: %s", o->shown, err);
        return -1;
    }
    ts_stage_counter(g->stage, "seq", &g->seq);
    ts_stage_counter(g->stage, "pieces_out", &g->pieces_out);
    ts_stage_counter(g->stage, "bytes_in", &g->bytes_in);
    ts_stage_counter(g->stage, "source_restarts", &g->source_restarts);
    ts_stage_counter(g->stage, "rap_pieces", &g->rap_pieces);
    ts_stage_counter(g->stage, "source_idle_s", &g->source_idle_s);
    ts_stage_counter(g->stage, "source_ended", &g->source_ended);
    if (ts_source_kind(o->source) == TS_SOURCE_PUSH) {
        ts_stage_counter(g->stage, "push_rejected", &g->push_rejected);
        ts_stage_counter(g->stage, "bytes_dropped", &g->bytes_dropped);
    }
    ts_stage_on_stop(g->stage, on_stop, g);
    ts_stage_readiness(g->stage, readiness, g);
    ev_timer_start(g->loop, &g->wait);
    return 0;
}

/* After the loop: record where numbering continues, and say what this run did. */
static void ingest_stopped(ingest_t *g)
{
    char err[512];
    if (!g->dead && ts_seqstore_close(g->seqs, g->next_ts, err, sizeof err) < 0)
        ts_error("cannot record the next sequence number: %s (the next start skips ahead)", err);
    ts_info("stopped: %llu bytes in, %llu pieces out (%llu RAP), %llu source restarts, next seq %llu",
            (unsigned long long)g->bytes_in, (unsigned long long)g->pieces_out, (unsigned long long)g->rap_pieces,
            (unsigned long long)g->source_restarts, (unsigned long long)g->seq);
}

static void ingest_close(ingest_t *g)
{
    if (g->loop) {
        ev_timer_stop(g->loop, &g->fill);
        ev_timer_stop(g->loop, &g->wait);
        ev_timer_stop(g->loop, &g->idle);
    }
    ts_source_destroy(&g->src); /* kills a command's process group */
    ts_outlink_destroy(&g->out);
    ts_tscut_destroy(&g->cut);
    ts_seqstore_destroy(&g->seqs);
}

static int check_source(const opts_t *o)
{
    char err[1024];
    int code = TS_EXIT_OK;
    ts_log_init(ts_topo[TS_TOPO_INGEST].name, o->so.instance);
    if (ts_source_check(o->source, &code, err, sizeof err) < 0) {
        ts_error("source %s: %s", o->shown, err);
        return code;
    }
    ts_info("source %s: usable", o->shown);
    return TS_EXIT_OK;
}

int main(int argc, char **argv)
{
    opts_t o;
    int code = TS_EXIT_OK;
    if (parse_args(argc, argv, &o, &code) < 0)
        return code;
    if (o.check) /* a one-shot check before the real start (docker-compose's source service) */
        return check_source(&o);
    ingest_t g;
    memset(&g, 0, sizeof g);
    g.o = &o;
    g.stage = ts_stage_boot(TS_TOPO_INGEST, &o.so, &code);
    if (g.stage && ingest_open(&g, &code) == 0) {
        code = TS_EXIT_CONFIG;
        if (ts_stage_listen(g.stage) == 0) {
            ts_info("serving pieces of up to %llu bytes (payload %llu) on %s; waiting for the signer to say where to "
                    "start (else seq %llu)",
                    (unsigned long long)o.piece_size, (unsigned long long)(o.piece_size - TS_TRAILER_LEN), o.out,
                    (unsigned long long)g.seq);
            code = ts_stage_run(g.stage, TS_EXIT_OK);
            ingest_stopped(&g);
        }
    }
    ingest_close(&g);
    return ts_stage_end(&g.stage, code);
}
