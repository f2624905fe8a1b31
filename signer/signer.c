/* signer: the only process that ever holds the broadcast's private key.
 *
 *   ingest --(pieces)--> [inlink] signer [outlink] --(signed pieces)--> swarm
 *
 * It acks ingest only what the swarm has acked, so a signer that dies loses nothing:
 * on restart ingest replays from the swarm's last ack.
 *
 * Its subscribe tells ingest the newest piece it holds, so a restarted ingest continues right
 * after it (docs/PROTOCOL.md section 7). A restarted signer holds nothing, but the swarm below may:
 * so it subscribes only once the swarm has told it (or after DOWN_WAIT_S without a word). */
#include "sign.h"
#include "ts_curve.h"
#include "ts_exit.h"
#include "ts_link.h"
#include "ts_log.h"
#include "ts_metainfo.h"
#include "ts_piece.h"
#include "ts_stage.h"
#include "ts_time.h"
#include "ts_topology.h"
#include <ev.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define DOWN_WAIT_S 2.0 /* a swarm that is up re-subscribes within about 1.25 s */

typedef struct {
    struct ev_loop *loop;
    void *zctx;
    ts_stage_t *st;
    const char *in_ep;
    ts_signkey_t *key;
    ts_metainfo_t meta;
    ts_inlink_t *in;
    ts_outlink_t *out;
    ev_timer down_wait;
    int has_hint, hint_has_off;
    uint64_t hint_seq, hint_off, hint_ts;
    uint64_t last_seq, pieces_signed, pieces_rejected;
} signer_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: ts-signer --key FILE --tstream FILE --in ENDPOINT --out ENDPOINT\n"
               "                 [--instance NAME] [--supervisor ENDPOINT] [--curve DIR] [--metrics ADDR:PORT]\n"
               "                 [--exit-unready SECONDS]\n"
               "       ts-signer --init --key FILE\n"
               "Signs every piece from ingest (ECDSA P-256, SHA-256) and serves them to the swarm.\n"
               "--init creates the key (mode 0600) if it does not exist and prints the public key\n"
               "(DER SubjectPublicKeyInfo) in hex on stdout.\n"
               "--curve DIR: CURVE keys for tcp:// endpoints (DIR/signer.secret, DIR/*.pub; tsctl keygen).\n"
               "--metrics ADDR:PORT: serve /metrics (Prometheus), /livez and /readyz over HTTP on ADDR:PORT\n"
               "(:PORT alone = 127.0.0.1; none without this option; a busy or bad address exits 101).\n"
               "--exit-unready SECONDS: once ready, exit with code %d after SECONDS not ready (for containers,\n"
               "whose restart policy then replaces the process).\n",
            TS_EXIT_UNREADY);
}

static void on_piece(const Ts__Piece *p, void *arg)
{
    signer_t *s = arg;
    if (p->payload.len == 0 || p->payload.len + TS_TRAILER_LEN > s->meta.piece_len) {
        s->pieces_rejected++;
        ts_warn("piece %llu: payload of %zu bytes does not fit a %u-byte piece; dropped",
                (unsigned long long)p->seq, p->payload.len, s->meta.piece_len);
        return;
    }
    ts_trailer_t t = { .version = TS_PIECE_VERSION, .flags = (uint8_t)(p->flags & (TS_PIECE_RAP | TS_PIECE_DISCONT)),
                       .payload_len = (uint32_t)p->payload.len, .seq = p->seq, .timestamp_us = p->timestamp_us };
    if (ts_signkey_sign(s->key, s->meta.infohash, &t, p->payload.data) < 0) {
        ts_error("signing piece %llu failed", (unsigned long long)p->seq);
        exit(TS_EXIT_FAIL);
    }
    Ts__Piece out = *p;
    out.flags = t.flags;
    out.has_signature = 1;
    out.signature.data = t.sig;
    out.signature.len = TS_SIG_LEN;
    if (ts_outlink_publish(s->out, &out) == 0) {
        s->pieces_signed++;
        s->last_seq = p->seq;
    }
}

/* The swarm acked: now ingest may forget those pieces. */
static void on_ack(const char *sub, uint64_t seq, void *arg)
{
    signer_t *s = arg;
    if (s->in)
        ts_inlink_ack(s->in, seq);
}

static void start_inlink(signer_t *s)
{
    if (s->in)
        return;
    ev_timer_stop(s->loop, &s->down_wait);
    const ts_topo_stage_t *me = &ts_topo[TS_TOPO_SIGNER];
    if (!(s->in = ts_inlink_new(s->loop, s->zctx, s->in_ep, me->link_id, ts_topo[me->upstream].name, 0, 0, on_piece,
                                s))) {
        ts_error("cannot subscribe to ingest at %s", s->in_ep);
        ts_stage_stop(s->st, TS_EXIT_FAIL); /* main frees everything and exits 111 */
        return;
    }
    ts_inlink_check_offsets(s->in, 1);
    if (s->has_hint) {
        ts_info("the swarm holds up to seq %llu: ingest continues after it", (unsigned long long)s->hint_seq);
        ts_inlink_hint(s->in, s->hint_seq, s->hint_has_off, s->hint_off, s->hint_ts);
    }
}

/* The swarm subscribed, saying what it holds: if that is newer than anything we have (we just
 * restarted), ingest must hear it from us. */
static void on_subscribe(const char *sub, const Ts__Subscribe *m, void *arg)
{
    signer_t *s = arg;
    if (m->has_have_seq && (!s->has_hint || m->have_seq > s->hint_seq)) {
        s->has_hint = 1;
        s->hint_seq = m->have_seq;
        s->hint_has_off = m->has_have_src_offset;
        s->hint_off = m->have_src_offset;
        s->hint_ts = m->has_have_timestamp_us ? m->have_timestamp_us : 0;
        if (s->in)
            ts_inlink_hint(s->in, s->hint_seq, s->hint_has_off, s->hint_off, s->hint_ts);
    }
    start_inlink(s);
}

static void on_down_wait(struct ev_loop *loop, ev_timer *w, int revents)
{
    ts_info("no word from the swarm: subscribing to ingest without knowing what it holds");
    start_inlink(w->data);
}

/* Ready while both neighbours are heard from: ingest above, the swarm below. */
static int readiness(void *arg, char *why, size_t whylen)
{
    signer_t *s = arg;
    int up = s->in && ts_inlink_alive(s->in, TS_LINK_ALIVE_NS);
    int down = ts_outlink_alive_subscribers(s->out, TS_LINK_ALIVE_NS) > 0;
    unsigned long long secs = TS_LINK_ALIVE_NS / TS_NS_PER_S;
    if (!up && !down)
        snprintf(why, whylen, "neither ingest nor a swarm heard from for %llu s", secs);
    else if (!up)
        snprintf(why, whylen, "ingest not heard from for %llu s", secs);
    else if (!down)
        snprintf(why, whylen, "no swarm heard from for %llu s", secs);
    return up && down;
}

static uint64_t pieces_in(void *arg)
{
    signer_t *s = arg;
    return s->in ? ts_inlink_pieces_in(s->in) : 0;
}

static int init_key(const char *path)
{
    char err[256];
    ts_signkey_t *k = ts_signkey_load(path, 1, err, sizeof err);
    if (!k) {
        fprintf(stderr, "ts-signer: %s\n", err);
        return TS_EXIT_CONFIG;
    }
    uint8_t *der;
    size_t len;
    if (ts_signkey_pubkey_der(k, &der, &len) < 0) {
        ts_signkey_destroy(&k);
        return TS_EXIT_FAIL;
    }
    for (size_t i = 0; i < len; i++)
        printf("%02x", der[i]);
    printf("\n");
    free(der);
    ts_signkey_destroy(&k);
    return TS_EXIT_OK;
}

/* Everything but the loop: the stream's metainfo, the key (which must be the one it announces, or
 * every viewer would reject every piece), the link to the swarm; the link to ingest comes later
 * (start_inlink). 0, or -1 with *code. */
static int signer_open(signer_t *s, ts_stage_t *st, const char *keyfile, const char *tstream, const char *out_ep,
                       int *code)
{
    char err[256];
    uint8_t *der = NULL;
    size_t len;
    *code = TS_EXIT_CONFIG;
    s->st = st;
    s->loop = ts_stage_loop(st);
    s->zctx = ts_stage_zctx(st);
    ev_timer_init(&s->down_wait, on_down_wait, DOWN_WAIT_S, 0.);
    s->down_wait.data = s;
    if (ts_metainfo_load(tstream, &s->meta, err, sizeof err) < 0) {
        ts_error("%s: %s", tstream, err);
        return -1;
    }
    if (!(s->key = ts_signkey_load(keyfile, 0, err, sizeof err))) {
        ts_error("%s", err);
        return -1;
    }
    if (ts_signkey_pubkey_der(s->key, &der, &len) < 0 || len != s->meta.pubkey_len ||
        memcmp(der, s->meta.pubkey, len) != 0) {
        ts_error("key %s does not match the public key in %s", keyfile, tstream);
        free(der);
        return -1;
    }
    free(der);
    *code = TS_EXIT_FAIL;
    if (!(s->out = ts_outlink_new(s->loop, s->zctx, out_ep, ts_topo[TS_TOPO_SIGNER].out_ring, NULL, on_ack, s)))
        return -1;
    ts_outlink_on_subscribe(s->out, on_subscribe, s);
    ev_timer_start(s->loop, &s->down_wait);
    ts_stage_counter(st, "seq", &s->last_seq);
    ts_stage_counter(st, "pieces_signed", &s->pieces_signed);
    ts_stage_counter(st, "pieces_rejected", &s->pieces_rejected);
    ts_metrics_counter_fn(ts_stage_metrics(st), "tstream_pieces_in_total", TS_STAGE_HELP_PIECES_IN, NULL, pieces_in, s);
    ts_stage_readiness(st, readiness, s);
    return 0;
}

/* Everything signer_open made, so that sanitizer runs see no leak. */
static void signer_close(signer_t *s)
{
    if (s->loop)
        ev_timer_stop(s->loop, &s->down_wait);
    ts_inlink_destroy(&s->in);
    ts_outlink_destroy(&s->out);
    ts_signkey_destroy(&s->key);
    ts_metainfo_free(&s->meta);
}

int main(int argc, char **argv)
{
    const char *keyfile = NULL, *tstream = NULL, *in_ep = NULL, *out_ep = NULL;
    ts_stage_opts_t so = { 0 };
    char err[512];
    int init = 0, c, code;
    static const struct option opts[] = {
        { "key", required_argument, 0, 'k' }, { "tstream", required_argument, 0, 't' },
        { "in", required_argument, 0, 'i' },  { "out", required_argument, 0, 'o' },
        { "init", no_argument, 0, 'I' },      { "help", no_argument, 0, 'h' },
        TS_STAGE_LONGOPTS,                    { 0, 0, 0, 0 },
    };
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': keyfile = optarg; break;
        case 't': tstream = optarg; break;
        case 'i': in_ep = optarg; break;
        case 'o': out_ep = optarg; break;
        case 'I': init = 1; break;
        case 'h': usage(stdout); return TS_EXIT_OK;
        default:
            if ((code = ts_stage_opt(&so, c, optarg, err, sizeof err)) == 1)
                break;
            if (code < 0)
                fprintf(stderr, "ts-signer: %s\n", err);
            else
                usage(stderr);
            return TS_EXIT_USAGE;
        }
    }
    if (optind != argc || !keyfile || (!init && (!tstream || !in_ep || !out_ep))) {
        fprintf(stderr, "ts-signer: %s\n", optind != argc ? "unexpected argument"
                                          : !keyfile      ? "--key is required"
                                                          : "--tstream, --in and --out are required");
        usage(stderr);
        return TS_EXIT_USAGE;
    }
    if (init)
        return init_key(keyfile);
    if (ts_curve_missing(so.curve, err, sizeof err, in_ep, out_ep, so.supervisor, TS_CURVE_END)) {
        fprintf(stderr, "ts-signer: %s\n", err);
        return TS_EXIT_USAGE;
    }

    signer_t s = { .in_ep = in_ep };
    ts_stage_t *st = ts_stage_boot(TS_TOPO_SIGNER, &so, &code);
    if (st && signer_open(&s, st, keyfile, tstream, out_ep, &code) == 0)
        code = ts_stage_run(st, TS_EXIT_OK);
    signer_close(&s);
    return ts_stage_end(&st, code);
}
