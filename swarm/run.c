/* The swarm process assembled: what main wires once, and the tick. */
#include "run.h"
#include "dispatch.h"
#include "fanout.h"
#include "holepunch.h"
#include "known.h"
#include "peer.h"
#include "peerlist.h"
#include "picker.h"
#include "playout.h"
#include "portmap.h"
#include "push.h"
#include "source.h"
#include "uprate.h"
#include "ts_exit.h"
#include "ts_log.h"
#include "ts_time.h"
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    swarm_t *sw = w->data;
    uint64_t now = ts_mono_ns();
    playout_stall_check(sw, now);
    pick_tick(sw, now);
    uprate_tick(sw, now); /* before serving: the pace for this tick */
    fanout_tick(sw, now);
    fanout_late_haves(sw, now);
    fanout_serve(sw);
    known_pex_send(sw, now);
    dispatch_tick(sw, now);
    peer_reap(sw);
    hp_tick(sw, now); /* rendezvous for peers a dial cannot reach, before their redial */
    known_redial(sw, now);
    source_ack(sw);
    playout_deliver(sw);
    if (!sw->is_source) {
        if (!sw->hooked)
            playout_consider_hook(sw);
        pick_all(sw);
        pick_explain(sw, now);
    }
    sw->c_peers = (uint64_t)peer_count(sw);
    sw->c_accept_pauses = ts_acceptor_pauses(sw->acceptor);
}

static void on_have_timer(struct ev_loop *loop, ev_timer *w, int revents) { fanout_late_haves(w->data, ts_mono_ns()); }

/* Once per loop turn, before it waits: pick (coalescing a burst of HAVEs), then write. */
static void on_flush_prep(struct ev_loop *loop, ev_prepare *w, int revents)
{
    swarm_t *sw = w->data;
    if (sw->pick_pending) {
        sw->pick_pending = 0;
        pick_all(sw);
    }
    peer_flush_all(sw);
}

/* Broadcaster: ready while the signer is heard from. Viewer: while it has a peer and the
 * player-bridge is heard from. */
/* The heartbeat's up_rate_auto is in bits per second; Prometheus's base unit is the byte. */
static double up_pace(void *arg) { return (double)((const swarm_t *)arg)->c_up_rate_auto / 8; }

static int readiness(void *arg, char *why, size_t whylen)
{
    swarm_t *sw = arg;
    unsigned long long secs = TS_LINK_ALIVE_NS / TS_NS_PER_S;
    if (sw->is_source) {
        if (ts_inlink_alive(sw->in, TS_LINK_ALIVE_NS))
            return 1;
        snprintf(why, whylen, "signer not heard from for %llu s", secs);
        return 0;
    }
    int peers = peer_count(sw) > 0;
    int down = sw->seeder || ts_outlink_alive_subscribers(sw->out, TS_LINK_ALIVE_NS) > 0; /* a seeder has no player */
    if (!peers && !down)
        snprintf(why, whylen, "no peers, and no player-bridge heard from for %llu s", secs);
    else if (!peers)
        snprintf(why, whylen, "no peers");
    else if (!down)
        snprintf(why, whylen, "no player-bridge heard from for %llu s", secs);
    return peers && down;
}

static void on_tracker_peer(void *arg, uint32_t ip, uint16_t port)
{
    known_learn(arg, ip, port);
    known_connect(arg, ip, port);
}

static int count_peers(void *arg) { return peer_count(arg); }

int swarm_load(swarm_t *sw, const swarm_cfg_t *cfg)
{
    const char *tstream = cfg->tstream;
    char err[256];
    if (ts_metainfo_load(tstream, &sw->meta, err, sizeof err) < 0) {
        ts_error("%s: %s", tstream, err);
        return TS_EXIT_CONFIG;
    }
    sw->n = sw->meta.npieces;
    /* A burst of two pieces, or 50 ms at the capped rate: enough to keep pipes full, not to cheat the cap. */
    sw->up_burst = sw->up_rate * 0.05 > 2.0 * sw->meta.piece_len ? sw->up_rate * 0.05 : 2.0 * sw->meta.piece_len;
    sw->up_tokens = sw->up_burst;
    sw->up_last_ns = sw->start_ns = ts_mono_ns();
    /* Peers told of a new piece at once: as many copies as the upload cap sends in about one
     * piece's worth of stream time (the broadcaster: one, see fanout_broadcast). */
    if (sw->is_source)
        sw->fanout = SW_SRC_FANOUT;
    else if (sw->up_rate > 0 && sw->meta.bitrate > 0)
        sw->fanout = (int)(sw->up_rate * 8 / (double)sw->meta.bitrate);
    else
        sw->fanout = SW_FANOUT_MAX;
    if (!sw->is_source && sw->fanout < SW_FANOUT_MIN)
        sw->fanout = SW_FANOUT_MIN;
    if (sw->fanout > SW_FANOUT_MAX)
        sw->fanout = SW_FANOUT_MAX;
    sw->verifier = ts_verifier_new(sw->meta.pubkey, sw->meta.pubkey_len, sw->meta.infohash, err, sizeof err);
    if (!sw->verifier) {
        ts_error("%s: %s", tstream, err);
        return TS_EXIT_CONFIG;
    }
    sw->win = ts_window_new(sw->n, sw->meta.piece_len);
    sw->req_seq = calloc(sw->n, sizeof *sw->req_seq);
    sw->req_cnt = calloc(sw->n, sizeof *sw->req_cnt);
    if (sw->is_source && (!(sw->src_safe = calloc(sw->n, sizeof *sw->src_safe)) || !(sw->first = calloc(sw->n, sizeof *sw->first))))
        return TS_EXIT_FAIL;
    if (!sw->win || !sw->req_seq || !sw->req_cnt || push_init(sw) < 0)
        return TS_EXIT_FAIL;
    /* Azureus-style peer id: client tag, then random bytes. */
    memcpy(sw->peer_id, "-TS0001-", 8);
    RAND_bytes(sw->peer_id + 8, 12);
    sw->on_input = dispatch_input;
    sw->on_closed = pick_clear_peer;
    sw->has_room = fanout_room; /* peer.c serves on as its sockets drain */
    sw->serve = fanout_serve;
    return TS_EXIT_OK;
}

int swarm_open(swarm_t *sw, const swarm_cfg_t *cfg, void *zctx, ts_stage_t *st)
{
    if (known_listen(sw, cfg->bind_addr) < 0)
        return TS_EXIT_CONFIG; /* port taken or bad address: restarting will not help */
    if (playout_open(sw, zctx, cfg->out_ep) < 0)
        return TS_EXIT_FAIL;
    if (sw->is_source && source_open(sw, zctx, cfg->in_ep) < 0)
        return TS_EXIT_FAIL;
    if (cfg->embedded) {
        sw->tracker = ts_tracker_new(1000, 120 * TS_NS_PER_S);
        ts_tracker_allow(sw->tracker, sw->meta.infohash);
        ts_tracker_add(sw->tracker, sw->meta.infohash, (ts_peer_addr_t){ sw->announce_ip, sw->port }, ts_mono_ns());
    } else if (sw->meta.announce[0]) {
        announce_cfg_t ac = { .infohash = sw->meta.infohash, .peer_id = sw->peer_id, .port = sw->port,
                              .bind_ip = sw->bind_ip,
                              .on_peer = on_tracker_peer, .npeers = count_peers, .arg = sw,
                              .bytes_up = &sw->c_bytes_up, .bytes_down = &sw->c_bytes_down,
                              .announces = &sw->c_announces };
        sw->ann = announce_new(sw->loop, &ac, sw->meta.announce);
    }
    if (uprate_init(sw) < 0)
        return TS_EXIT_FAIL;
    portmap_start(sw, cfg->embedded ? NULL : sw->meta.announce); /* without it: no mapping, reach from peers */
    ev_timer_init(&sw->tick, on_tick, 0.05, 0.05);
    ev_timer_init(&sw->have_timer, on_have_timer, 0, 0);
    ev_prepare_init(&sw->flush_prep, on_flush_prep);
    sw->flush_prep.data = sw;
    ev_prepare_start(sw->loop, &sw->flush_prep);
    sw->have_timer.data = sw;
    sw->tick.data = sw;
    ev_timer_start(sw->loop, &sw->tick);

    ts_stage_counter(st, "seq", &sw->c_seq);
    ts_stage_counter(st, "pieces_in", &sw->c_pieces_in);
    ts_stage_counter(st, "pieces_up", &sw->c_pieces_up);
    ts_stage_counter(st, "payload_up", &sw->c_payload_up);
    ts_stage_counter(st, "payload_down", &sw->c_payload_down);
    ts_stage_counter(st, "bytes_up", &sw->c_bytes_up);
    ts_stage_counter(st, "bytes_down", &sw->c_bytes_down);
    ts_stage_counter(st, "peers", &sw->c_peers);
    ts_stage_counter(st, "bad_pieces", &sw->c_bad_pieces);
    ts_stage_counter(st, "delivered", &sw->c_delivered);
    ts_stage_counter(st, "skipped", &sw->c_skipped);
    ts_stage_counter(st, "announces", &sw->c_announces);
    ts_stage_counter(st, "peers_banned", &sw->c_banned);
    ts_stage_counter(st, "req_timeouts", &sw->c_req_timeouts);
    ts_stage_counter(st, "wrong_pieces", &sw->c_wrong_pieces);
    ts_stage_counter(st, "answers_gone", &sw->c_answers_gone);
    ts_stage_counter(st, "peers_dropped", &sw->c_peers_dropped);
    ts_stage_counter(st, "verify_shed", &sw->c_verify_shed);
    ts_stage_counter(st, "accept_pauses", &sw->c_accept_pauses);
    ts_stage_counter(st, "reachable", &sw->reach);
    ts_stage_counter(st, "incoming", &sw->c_incoming);
    ts_stage_counter(st, "portmap_ok", &sw->c_portmap_ok);
    ts_stage_counter(st, "portmap_fail", &sw->c_portmap_fail);
    ts_stage_counter(st, "portmap_via", &sw->c_portmap_via);
    ts_stage_counter(st, "ext_ip", &sw->c_ext_ip);
    ts_stage_counter(st, "ext_port", &sw->c_ext_port);
    ts_stage_counter(st, "punch_attempts", &sw->c_punch_attempts);
    ts_stage_counter(st, "punch_ok", &sw->c_punch_ok);
    ts_stage_counter(st, "punch_relayed", &sw->c_punch_relayed);
    ts_stage_counter(st, "pushed_up", &sw->c_pushed_up);
    ts_stage_counter(st, "pushed_in", &sw->c_pushed_in);
    ts_stage_counter(st, "rejects_up", &sw->c_rejects_up);
    ts_stage_counter(st, "rejects_in", &sw->c_rejects_in);
    ts_stage_counter(st, "push_dup", &sw->c_push_dup);
    ts_stage_counter(st, "dup_conns", &sw->c_dup_conns);
    ts_stage_counter(st, "up_rate_auto", &sw->c_up_rate_auto);
    ts_stage_counter(st, "up_decreases", &sw->c_up_decreases);
    ts_metrics_counter_ptr(ts_stage_metrics(st), "tstream_verify_failures_total",
                           "Pieces from peers that failed verification: malformed trailer or bad signature.", NULL,
                           &sw->c_verify_failed);
    ts_metrics_counter_ptr(ts_stage_metrics(st), "tstream_metadata_pieces_served_total",
                           "ut_metadata (BEP 9) pieces of the info dict sent to peers joining by magnet link.", NULL,
                           &sw->c_md_served);
    ts_metrics_gauge_fn(ts_stage_metrics(st), "tstream_upload_pace_bytes_per_second",
                        "The automatic upload pace, in bytes per second (0: unlimited).", NULL, up_pace, sw);
    ts_stage_readiness(st, readiness, sw);
    ts_stage_on_beat(st, peerlist_beat, sw);
    return TS_EXIT_OK;
}

void swarm_close(swarm_t *sw)
{
    portmap_stop(sw); /* first: its last events still reach the announce */
    announce_destroy(&sw->ann);
    for (peer_t *p = sw->peers; p; p = p->next)
        peer_close(p, NULL);
    peer_reap(sw);
    ts_inlink_destroy(&sw->in);
    ts_outlink_destroy(&sw->out);
    ts_tracker_destroy(&sw->tracker);
}

void swarm_free(swarm_t *sw)
{
    ts_acceptor_destroy(&sw->acceptor);
    ts_window_destroy(&sw->win);
    ts_verifier_destroy(&sw->verifier);
    free(sw->req_seq);
    free(sw->req_cnt);
    free(sw->src_safe);
    free(sw->first);
    hp_free(sw);
    push_free(sw);
    uprate_free(sw);
    peerlist_free(sw);
    ts_metainfo_free(&sw->meta);
}
