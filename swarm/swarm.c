/* swarm: speaks the BitTorrent peer wire protocol for one live stream.
 *
 *   broadcaster:  signer --[inlink]--> swarm <== peers        (+ embedded tracker on the same port)
 *   viewer:       peers ==> swarm --[outlink]--> player-bridge
 *
 * Every piece from a peer is verified (signature, index, window) before it is stored,
 * announced, forwarded or delivered. Delivery to the bridge is in sequence order; a piece
 * that stays missing for SW_SKIP_NS while later ones are here is skipped. */
#include "swarm.h"
#include "metafetch.h"
#include "ts_curve.h"
#include "ts_exit.h"
#include "ts_log.h"
#include "ts_stage.h"
#include "ts_time.h"
#include "ts_units.h"
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: ts-swarm --tstream FILE --out ENDPOINT --port PORT [--in ENDPOINT] [--embedded-tracker]\n"
               "                [--bind ADDR] [--announce-host IP] [--max-peers N] [--max-upload RATE]\n"
               "                [--instance NAME] [--supervisor ENDPOINT] [--curve DIR] [--metrics ADDR:PORT]\n"
               "                [--seeder] [--exit-unready SECONDS]\n"
               "With --in (broadcaster) it serves the signer's pieces to peers; without (viewer) it fetches\n"
               "verified pieces from peers and delivers them in order on --out to the player-bridge.\n"
               "--embedded-tracker answers HTTP announces on the peer port. --max-upload caps what\n"
               "this peer uploads (bits per second, e.g. 4M). --curve DIR: CURVE keys for tcp://\n"
               "endpoints (DIR/swarm.secret, DIR/*.pub; tsctl keygen). --seeder: a helper seeder, no\n"
               "player-bridge is expected (it is ready with one peer).\n"
               "--metrics ADDR:PORT serves /metrics (Prometheus), /livez and /readyz over HTTP on ADDR:PORT\n"
               "(:PORT alone = 127.0.0.1; none without this option; a busy or bad address exits 101).\n"
               "--exit-unready SECONDS: once ready, exit with code %d after SECONDS not ready (for containers,\n"
               "whose restart policy then replaces the process).\n"
               "       ts-swarm --fetch-metainfo MAGNET --tstream FILE [--port PORT] [--timeout SECONDS]\n"
               "fetches the metainfo a magnet link names from its peers (BEP 9), checks it against the\n"
               "link's infohash and writes FILE, then exits (timeout default 30 s).\n",
            TS_EXIT_UNREADY);
}

/* ------------------------------------------------------------------ playout */

static void publish(swarm_t *sw, uint64_t seq)
{
    size_t len;
    ts_trailer_t t;
    const uint8_t *piece = ts_window_get(sw->win, seq, &len, &t);
    if (!piece)
        return;
    Ts__Piece p = TS__PIECE__INIT;
    p.seq = seq;
    p.timestamp_us = t.timestamp_us;
    p.flags = t.flags;
    p.payload.data = (uint8_t *)piece;
    p.payload.len = t.payload_len;
    if (ts_outlink_publish(sw->out, &p) == 0)
        sw->c_delivered++;
}

static void hook_at(swarm_t *sw, uint64_t seq, const char *why)
{
    sw->hooked = 1;
    sw->hook_seq = sw->play_seq = seq;
    sw->blocked_since_ns = 0;
    sw->hooked_ns = ts_mono_ns();
    sw->hook_delivered = sw->c_delivered;
    sw->hook_voted = 0;
    pick_cancel_before(sw, seq);
    ts_info("hooked in at seq %llu (%s)", (unsigned long long)seq, why);
}

/* Timestamp of the oldest piece held from the playback point on, if any. */
static int oldest_held_ts(swarm_t *sw, uint64_t *ts_us)
{
    for (uint64_t s = sw->play_seq; s <= sw->edge; s++) {
        size_t len;
        ts_trailer_t t;
        if (ts_window_get(sw->win, s, &len, &t)) {
            *ts_us = t.timestamp_us;
            return 1;
        }
    }
    return 0;
}

/* Leave the current playback point for the newest random-access point any peer holds. */
static void retune(swarm_t *sw, const char *why)
{
    uint64_t from = sw->play_seq;
    sw->hooked = 0;
    swarm_consider_hook(sw);
    if (sw->hooked && sw->play_seq > from)
        sw->c_skipped += sw->play_seq - from;
    ts_warn("%s: re-tuned from seq %llu to %llu", why, (unsigned long long)from, (unsigned long long)sw->play_seq);
}

/* Deliver every piece that is next in order; skip a hole that has blocked playout too long. */
static void deliver(swarm_t *sw)
{
    if (!sw->hooked || sw->retune_at_ns)
        return;
    uint64_t now = ts_mono_ns();
    /* Fallen so far behind that the window moved on (stall, suspended laptop): back to the edge. */
    if (sw->has_edge && sw->edge >= sw->play_seq + sw->n / 2) {
        uint64_t to = sw->rap + sw->n / 2 > sw->edge ? sw->rap : sw->edge;
        sw->c_skipped += to - sw->play_seq;
        ts_warn("fell %llu pieces behind the live edge: jumping ahead",
                (unsigned long long)(sw->edge - sw->play_seq));
        hook_at(sw, to, "re-tune");
    }
    /* Behind by more than SW_BEHIND_US of stream time (by the source's own timestamps, so a
     * paused source does not count): a player would stay that far behind, so skip ahead to the
     * newest random-access point, provided there is one later than where we are. */
    /* Hooked on a peer's claim of a random-access point that never came, while real pieces below
     * it did: hook again at the newest random-access point we verified ourselves. */
    if (sw->has_edge && sw->edge < sw->play_seq && sw->c_delivered == sw->hook_delivered && sw->rap < sw->play_seq &&
        ts_window_has(sw->win, sw->rap) && now - sw->hooked_ns > SW_HOOK_STUCK_NS) {
        ts_warn("no piece at or after the hook-in point %llu arrived: hooking in at our own newest random-access "
                "point",
                (unsigned long long)sw->play_seq);
        hook_at(sw, sw->rap, "verified random-access point");
    }
    size_t len;
    ts_trailer_t newest;
    uint64_t oldest;
    if (sw->has_edge && sw->rap > sw->play_seq && ts_window_get(sw->win, sw->edge, &len, &newest) &&
        oldest_held_ts(sw, &oldest) && newest.timestamp_us > oldest + SW_BEHIND_US)
        retune(sw, "playout fell behind the live edge");
    for (;;) {
        if (ts_window_has(sw->win, sw->play_seq)) {
            publish(sw, sw->play_seq++);
            sw->blocked_since_ns = 0;
            continue;
        }
        if (!sw->has_edge || sw->edge <= sw->play_seq)
            break;
        if (!sw->blocked_since_ns) {
            sw->blocked_since_ns = now;
            break;
        }
        if (now - sw->blocked_since_ns < SW_SKIP_NS)
            break;
        uint64_t next = sw->play_seq + 1;
        while (next < sw->edge && !ts_window_has(sw->win, next))
            next++;
        ts_warn("pieces %llu..%llu missed their deadline: skipped", (unsigned long long)sw->play_seq,
                (unsigned long long)(next - 1));
        sw->c_skipped += next - sw->play_seq;
        sw->play_seq = next;
        sw->blocked_since_ns = 0;
    }
}

/* The newest live edge our own verified pieces make plausible: our edge, plus twice the pieces
 * the stream can have made since (below), a second's worth, and 8.
 * Peers' claims beyond it are not believed. No bound while we hold nothing. */
uint64_t swarm_edge_bound(const swarm_t *sw, uint64_t now)
{
    if (!sw->has_edge)
        return UINT64_MAX;
    double rate = sw->rate_pps;
    if (rate <= 0) { /* not measured yet: the nominal rate, or a piece per fill timeout (200 ms) */
        rate = sw->meta.bitrate > 0 ? (double)sw->meta.bitrate / 8 / (sw->meta.piece_len - TS_TRAILER_LEN) : 0;
        if (rate < 5)
            rate = 5;
    }
    /* Time the stream has had to move on: since our edge advanced (a stall: SIGSTOP, a suspended
     * laptop), or since our newest piece was made by its signed timestamp (a viewer lagging far
     * behind a capped broadcaster: its edge advances steadily, but far from live), whichever
     * is longer. No cap at N/2: after a stall the real edge is that far ahead. */
    double since = (double)(now - sw->edge_ns) / 1e9, wall_us = (double)ts_wall_us();
    if (wall_us > (double)sw->edge_ts_us && (wall_us - (double)sw->edge_ts_us) / 1e6 > since)
        since = (wall_us - (double)sw->edge_ts_us) / 1e6;
    double slack = 2 * rate * (since + 1) + 8;
    if (slack > 1e15)
        slack = 1e15;
    return UINT64_MAX - sw->edge > (uint64_t)slack ? sw->edge + (uint64_t)slack : UINT64_MAX;
}

/* Where to (re)join the stream, from what peers state (handshake, ts_live), so that no single
 * peer chooses it: with claims from two or more addresses, only a point that at least two of
 * them say they have reached counts (the newest random-access point so vouched for, or the
 * vouched edge when that point has left the window); a lone claimant is taken at its word
 * until a second one arrives (swarm_consider_hook re-decides while nothing has played). 0 if
 * nobody has stated anything usable. */
static int hook_target(swarm_t *sw, uint64_t *target, uint64_t *vouched_edge)
{
    struct { uint32_t ip; uint64_t edge, rap; int has_rap; } c[64];
    int nc = 0;
    uint64_t bound = swarm_edge_bound(sw, ts_mono_ns());
    for (peer_t *p = sw->peers; p; p = p->next) {
        if (!peer_alive(p) || p->state != PEER_ACTIVE || !p->has_edge || p->edge > bound)
            continue;
        /* A HAVE tells where a peer is, not where a player can start: only a stated claim counts
         * (else a HAVE arriving before the broadcaster's ts_live would hook us in at seq 0). */
        int has_rap = p->has_rap && p->rap <= p->edge;
        uint32_t ip = ntohl(p->addr.sin_addr.s_addr);
        int k = 0;
        while (k < nc && c[k].ip != ip)
            k++;
        if (k == nc) { /* one vote per address: several connections from one host are one claimant */
            if (nc == (int)(sizeof c / sizeof *c))
                continue;
            c[nc++] = (typeof(c[0])){ ip, p->edge, p->rap, has_rap };
        } else {
            if (p->edge > c[k].edge)
                c[k].edge = p->edge;
            if (has_rap && (!c[k].has_rap || p->rap > c[k].rap)) {
                c[k].rap = p->rap;
                c[k].has_rap = 1;
            }
        }
    }
    int need = nc >= 2 ? 2 : 1, found = 0;
    uint64_t best = 0, edge = 0;
    for (int i = 0; i < nc; i++) {
        int sup_edge = 0, sup_rap = 0;
        for (int j = 0; j < nc; j++) {
            sup_edge += c[j].edge >= c[i].edge;
            sup_rap += c[i].has_rap && c[j].edge >= c[i].rap;
        }
        if (sup_edge >= need && c[i].edge > edge)
            edge = c[i].edge;
        if (sup_rap >= need && (!found || c[i].rap > best)) {
            best = c[i].rap;
            found = 1;
        }
    }
    if (!found)
        return 0;
    /* A random-access point older than half the window is gone from every peer: take the edge. */
    *target = best + sw->n / 2 <= edge ? edge : best;
    *vouched_edge = edge;
    return 1;
}

/* Viewer: hook in where hook_target says, once it says anything; while nothing has played since
 * hooking, follow it if it changes (a liar that answered first is outvoted by later peers). */
void swarm_consider_hook(swarm_t *sw)
{
    if (sw->is_source)
        return;
    int unconfirmed = sw->hooked && sw->hook_voted && sw->c_delivered == sw->hook_delivered &&
                      !ts_window_has(sw->win, sw->hook_seq);
    if (sw->hooked && !unconfirmed)
        return;
    uint64_t best, edge;
    if (!hook_target(sw, &best, &edge))
        return;
    /* a random-access point we verified ourselves is as good as any vouched-for one */
    if (sw->has_rap && sw->rap > best && ts_window_has(sw->win, sw->rap))
        best = sw->rap;
    /* A player-bridge that outlived our predecessor continues where it left off, if peers still
     * hold that piece: its output then has no gap. */
    if (!sw->hooked && sw->has_want && sw->want_seq + sw->n / 2 > edge && sw->want_seq <= edge + 1) {
        sw->has_want = 0;
        hook_at(sw, sw->want_seq, "where the player-bridge left off");
        pick_all(sw);
        return;
    }
    if (sw->hooked && best == sw->hook_seq)
        return;
    hook_at(sw, best, sw->hooked ? "newest random-access point vouched for by more peers" : "newest random-access point");
    sw->hook_voted = 1;
    pick_all(sw);
}

void swarm_piece_stored(swarm_t *sw, uint64_t seq, const ts_trailer_t *t)
{
    int rap_changed = 0;
    if (!sw->has_edge || seq > sw->edge) {
        sw->edge = seq;
        sw->has_edge = 1;
        sw->edge_ns = ts_mono_ns();
        sw->edge_ts_us = t->timestamp_us;
        /* the stream's piece rate, from signed timestamps over spans of at least 2 s */
        if (!sw->rate_ts || t->timestamp_us < sw->rate_ts || seq < sw->rate_seq) {
            sw->rate_seq = seq;
            sw->rate_ts = t->timestamp_us;
        } else if (t->timestamp_us - sw->rate_ts >= 2000000) {
            double r = (double)(seq - sw->rate_seq) * 1e6 / (double)(t->timestamp_us - sw->rate_ts);
            sw->rate_pps = sw->rate_pps > 0 ? 0.7 * sw->rate_pps + 0.3 * r : r;
            sw->rate_seq = seq;
            sw->rate_ts = t->timestamp_us;
        }
    }
    if ((t->flags & TS_PIECE_RAP) && (!sw->has_rap || seq > sw->rap)) {
        sw->rap = seq;
        sw->has_rap = 1;
        rap_changed = 1;
    }
    sw->c_seq = sw->edge;
    if (sw->is_source && !sw->hooked)
        hook_at(sw, seq, "first piece");
    peer_have_broadcast(sw, seq, rap_changed);
    deliver(sw);
    if (!sw->is_source)
        pick_all(sw);
}

/* A verified piece far ahead of the window: the broadcaster's numbering jumped (its ingest
 * restarted and resumed at its persisted reservation). Sequence numbers are never reused and only
 * the key holder can sign, so a higher seq is newer whatever its timestamp says (the broadcaster's
 * clock may have stepped): forget the window and continue from it. 1 if re-tuned. */
int swarm_jumped(swarm_t *sw, const ts_trailer_t *t)
{
    if (!sw->has_edge || t->seq <= sw->edge)
        return 0;
    ts_warn("stream jumped from seq %llu to %llu (broadcaster restarted): re-tuning", (unsigned long long)sw->edge,
            (unsigned long long)t->seq);
    ts_window_reset(sw->win);
    pick_forget_all(sw);
    sw->has_edge = sw->has_rap = 0;
    sw->rate_seq = sw->rate_ts = 0;
    sw->rap = 0;
    if (sw->hooked)
        hook_at(sw, t->seq, "after a jump");
    return 1;
}

/* The player-bridge subscribed. If it names a seq before our hook-in point (this swarm was
 * restarted under a running bridge), resume there instead, so its output has no gap. */
static void on_bridge_subscribe(const char *who, const Ts__Subscribe *sub, void *arg)
{
    (void)who;
    swarm_t *sw = arg;
    /* Only just after our own start: later, a bridge asking for older pieces (its resubscribe
     * after we re-tuned) must not drag playout back. */
    if (sw->is_source || !sub->has_from_seq || (sw->hooked && sub->from_seq >= sw->hook_seq) ||
        ts_mono_ns() - sw->start_ns > 10ull * 1000000000)
        return;
    uint64_t f = sub->from_seq, edge = sw->has_edge ? sw->edge : 0;
    for (peer_t *p = sw->peers; p; p = p->next)
        if (p->fd >= 0 && p->state == PEER_ACTIVE && p->has_edge && p->edge > edge)
            edge = p->edge;
    sw->want_seq = f;
    sw->has_want = 1;
    if (!sw->hooked || f == 0)
        return; /* swarm_consider_hook takes it */
    if (f + sw->n / 2 <= edge) {
        sw->has_want = 0;
        ts_warn("the player-bridge wants seq %llu, gone from the swarm: it will see a gap", (unsigned long long)f);
        return;
    }
    ts_outlink_truncate(sw->out, f - 1);
    sw->has_want = 0;
    hook_at(sw, f, "where the player-bridge left off");
    pick_all(sw);
}

static uint64_t out_start(void *arg)
{
    swarm_t *sw = arg;
    return sw->hook_seq;
}

/* ------------------------------------------------------------- broadcaster */

static void on_signed(const Ts__Piece *p, void *arg)
{
    swarm_t *sw = arg;
    if (!p->has_signature || p->payload.len + TS_TRAILER_LEN > sw->meta.piece_len) {
        ts_warn("unsigned or oversized piece %llu from the signer: dropped", (unsigned long long)p->seq);
        return;
    }
    uint8_t *piece = malloc(p->payload.len + TS_TRAILER_LEN);
    if (!piece)
        return;
    ts_trailer_t t = { .version = 1, .flags = (uint8_t)p->flags, .payload_len = (uint32_t)p->payload.len,
                       .seq = p->seq, .timestamp_us = p->timestamp_us };
    memcpy(t.sig, p->signature.data, TS_SIG_LEN);
    memcpy(piece, p->payload.data, p->payload.len);
    ts_trailer_encode(&t, piece + p->payload.len);
    int rc = ts_window_put(sw->win, piece, p->payload.len + TS_TRAILER_LEN, &t, p->seq % sw->n);
    if (rc == TS_WIN_FAR && swarm_jumped(sw, &t))
        rc = ts_window_put(sw->win, piece, p->payload.len + TS_TRAILER_LEN, &t, p->seq % sw->n);
    free(piece);
    if (rc == TS_WIN_OK) {
        sw->c_pieces_in++;
        swarm_piece_stored(sw, p->seq, &t);
    } else if (rc != TS_WIN_DUP) {
        ts_warn("piece %llu from the signer not stored (window code %d)", (unsigned long long)p->seq, rc);
    }
}

/* The broadcaster acks the signer only pieces that a peer has (it sent or announced them), or
 * that are 5 s old: a piece only this swarm holds is not lost if it dies, since the signer
 * replays everything after the last ack to its successor. */
void swarm_mark_safe(swarm_t *sw, uint64_t seq)
{
    if (sw->src_safe)
        sw->src_safe[seq % sw->n] = seq + 1;
}

static void ack_safe(swarm_t *sw)
{
    if (!sw->is_source || !sw->has_edge)
        return;
    uint64_t now_us = ts_wall_us();
    if (sw->ack_next + sw->n <= sw->edge)
        sw->ack_next = sw->edge - sw->n + 1; /* older than the window: nothing left to protect */
    while (sw->ack_next <= sw->edge) {
        size_t len;
        ts_trailer_t t;
        uint64_t s = sw->ack_next;
        if (ts_window_get(sw->win, s, &len, &t) && sw->src_safe[s % sw->n] != s + 1 &&
            now_us < t.timestamp_us + 5000000)
            break;
        sw->ack_next++;
    }
    if (sw->ack_next > 0)
        ts_inlink_ack(sw->in, sw->ack_next - 1);
}

/* ------------------------------------------------------------------ sockets */

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    swarm_t *sw = w->data;
    for (int i = 0; i < 32; i++) {
        struct sockaddr_in a;
        socklen_t len = sizeof a;
        int fd = accept4(sw->listen_fd, (struct sockaddr *)&a, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        /* Whether it is a peer or a tracker client is known only from its first bytes, so the
         * peer limit is applied at the handshake; this bounds sockets that never say anything. */
        int open_conns = 0;
        for (peer_t *p = sw->peers; p; p = p->next)
            open_conns += p->fd >= 0;
        uint64_t now = ts_mono_ns();
        uint32_t ip = ntohl(a.sin_addr.s_addr);
        if (open_conns >= sw->max_peers + 64 || !peer_admit(sw, ip, now)) {
            close(fd);
            continue;
        }
        /* A viewer's port serves only peers: the admission budget applies at once, before any
         * memory is spent (the broadcaster's also answers tracker announces, so it waits for the
         * handshake). When the overall budget is spent the listener rests a moment: a flood of
         * connections from many addresses then costs the kernel's backlog, not our CPU. */
        int adm = sw->tracker ? 1 : guard_admit(sw, ip, now);
        if (adm <= 0) {
            close(fd);
            if (adm < 0) {
                ev_io_stop(loop, &sw->listen_io);
                ev_timer_set(&sw->accept_pause, 0.1, 0);
                ev_timer_start(loop, &sw->accept_pause);
                return;
            }
            continue;
        }
        peer_t *p = peer_new(sw, fd, &a, 0, 0);
        if (p)
            p->admitted = !sw->tracker;
    }
}

static void on_accept_pause(struct ev_loop *loop, ev_timer *w, int revents)
{
    swarm_t *sw = w->data;
    ev_io_start(loop, &sw->listen_io);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    swarm_t *sw = w->data;
    uint64_t now = ts_mono_ns();
    /* A tick far later than its period: this process was stopped or the machine slept. What we
     * would play next is stale by that long; once the peers' news has been read, re-tune. */
    if (sw->last_tick_ns && now - sw->last_tick_ns > SW_GAP_NS && sw->hooked && !sw->is_source) {
        ts_warn("event loop stood still for %.1f s (stopped or suspended)", (double)(now - sw->last_tick_ns) / 1e9);
        sw->retune_at_ns = now + SW_GAP_SETTLE_NS;
    }
    sw->last_tick_ns = now;
    if (sw->retune_at_ns && now >= sw->retune_at_ns) {
        sw->retune_at_ns = 0;
        retune(sw, "after a stall");
    }
    peer_tick(sw, now);
    peer_redial(sw, now);
    ack_safe(sw);
    deliver(sw);
    if (!sw->is_source) {
        if (!sw->hooked)
            swarm_consider_hook(sw);
        pick_all(sw);
    }
    sw->c_peers = (uint64_t)swarm_count_peers(sw);
}

static void on_have_timer(struct ev_loop *loop, ev_timer *w, int revents) { peer_late_haves(w->data, ts_mono_ns()); }

static void on_flush_prep(struct ev_loop *loop, ev_prepare *w, int revents) { peer_flush_all(w->data); }

/* Broadcaster: ready while the signer is heard from. Viewer: while it has a peer and the
 * player-bridge is heard from. */
static int readiness(void *arg, char *why, size_t whylen)
{
    swarm_t *sw = arg;
    unsigned long long secs = TS_LINK_ALIVE_NS / 1000000000;
    if (sw->is_source) {
        if (ts_inlink_alive(sw->in, TS_LINK_ALIVE_NS))
            return 1;
        snprintf(why, whylen, "signer not heard from for %llu s", secs);
        return 0;
    }
    int peers = swarm_count_peers(sw) > 0;
    int down = sw->seeder || ts_outlink_alive_subscribers(sw->out, TS_LINK_ALIVE_NS) > 0; /* a seeder has no player */
    if (!peers && !down)
        snprintf(why, whylen, "no peers, and no player-bridge heard from for %llu s", secs);
    else if (!peers)
        snprintf(why, whylen, "no peers");
    else if (!down)
        snprintf(why, whylen, "no player-bridge heard from for %llu s", secs);
    return peers && down;
}

static int listen_on(swarm_t *sw, const char *bind_addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(sw->port) };
    if (inet_pton(AF_INET, bind_addr, &a.sin_addr) != 1) {
        ts_error("bad bind address %s", bind_addr);
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 128) < 0) {
        ts_error("cannot listen on %s:%u: %s", bind_addr, sw->port, strerror(errno));
        close(fd);
        return -1;
    }
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    sw->port = ntohs(a.sin_port);
    sw->listen_fd = fd;
    return 0;
}

static void on_tracker_peer(void *arg, uint32_t ip, uint16_t port)
{
    peer_learn(arg, ip, port);
    peer_connect(arg, ip, port);
}

static int count_peers(void *arg) { return swarm_count_peers(arg); }

int main(int argc, char **argv)
{
    const char *tstream = NULL, *in_ep = NULL, *out_ep = NULL, *instance = NULL, *sup = NULL;
    const char *bind_addr = "0.0.0.0", *announce_host = "127.0.0.1", *curve = NULL, *metrics = NULL;
    const char *magnet = NULL;
    double timeout_s = 30;
    int embedded = 0, have_port = 0, seeder = 0, have_announce = 0;
    double exit_unready = 0;
    static swarm_t the_swarm; /* one per process */
    swarm_t *sw = &the_swarm;
    sw->max_peers = SW_MAX_PEERS_DEFAULT;
    static const struct option opts[] = {
        { "tstream", required_argument, 0, 't' },  { "in", required_argument, 0, 'i' },
        { "out", required_argument, 0, 'o' },      { "port", required_argument, 0, 'p' },
        { "bind", required_argument, 0, 'b' },     { "announce-host", required_argument, 0, 'a' },
        { "max-peers", required_argument, 0, 'm' }, { "embedded-tracker", no_argument, 0, 'e' },
        { "instance", required_argument, 0, 'n' }, { "supervisor", required_argument, 0, 's' },
        { "max-upload", required_argument, 0, 'u' }, { "help", no_argument, 0, 'h' },
        { "curve", required_argument, 0, 'C' },      { "seeder", no_argument, 0, 'D' },    { "metrics", required_argument, 0, 'M' },
        { "fetch-metainfo", required_argument, 0, 'F' }, { "timeout", required_argument, 0, 'T' },
        { "exit-unready", required_argument, 0, 'U' },
        { 0, 0, 0, 0 },
    };
    int c;
    uint16_t port;
    char host[64];
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't': tstream = optarg; break;
        case 'i': in_ep = optarg; break;
        case 'o': out_ep = optarg; break;
        case 'p':
            if (ts_units_hostport(optarg, host, sizeof host, &port) < 0) {
                fprintf(stderr, "ts-swarm: bad --port %s\n", optarg);
                return TS_EXIT_USAGE;
            }
            sw->port = port;
            have_port = 1;
            break;
        case 'b':
            bind_addr = optarg;
            if (!have_announce && strcmp(optarg, "0.0.0.0") != 0)
                announce_host = optarg; /* how others reach us, unless told otherwise */
            break;
        case 'a': announce_host = optarg; have_announce = 1; break;
        case 'm': sw->max_peers = atoi(optarg); break;
        case 'e': embedded = 1; break;
        case 'C': curve = optarg; break;
        case 'D': seeder = 1; break;
        case 'M': metrics = optarg; break;
        case 'F': magnet = optarg; break;
        case 'T': {
            char *end;
            timeout_s = strtod(optarg, &end);
            if (*end || !(timeout_s > 0 && timeout_s <= 86400)) {
                fprintf(stderr, "ts-swarm: bad --timeout %s (seconds, 0 < T <= 86400)\n", optarg);
                return TS_EXIT_USAGE;
            }
            break;
        }
        case 'U':
            if (ts_stage_unready_arg(optarg, &exit_unready) < 0) {
                fprintf(stderr, "ts-swarm: bad --exit-unready %s (seconds, 1..86400)\n", optarg);
                return TS_EXIT_USAGE;
            }
            break;
        case 'u': {
            uint64_t bps;
            if (ts_units_rate(optarg, &bps) < 0 || bps < 8000) {
                fprintf(stderr, "ts-swarm: bad --max-upload %s\n", optarg);
                return TS_EXIT_USAGE;
            }
            sw->up_rate = (double)bps / 8;
            break;
        }
        case 'n': instance = optarg; break;
        case 's': sup = optarg; break;
        case 'h': usage(stdout); return TS_EXIT_OK;
        default: usage(stderr); return TS_EXIT_USAGE;
        }
    }
    if (magnet) {
        if (optind != argc || !tstream) {
            usage(stderr);
            return TS_EXIT_USAGE;
        }
        ts_log_init("swarm", instance);
        return metafetch_run(magnet, tstream, sw->port, timeout_s);
    }
    struct in_addr ann, bnd;
    if (optind != argc || !tstream || !out_ep || !have_port || sw->max_peers < 1 ||
        inet_pton(AF_INET, announce_host, &ann) != 1 || inet_pton(AF_INET, bind_addr, &bnd) != 1) {
        usage(stderr);
        return TS_EXIT_USAGE;
    }
    char cerr[512];
    if (ts_curve_missing(curve, cerr, sizeof cerr, in_ep, out_ep, sup, TS_CURVE_END)) {
        fprintf(stderr, "ts-swarm: %s\n", cerr);
        return TS_EXIT_USAGE;
    }
    sw->announce_ip = ntohl(ann.s_addr);
    sw->bind_ip = ntohl(bnd.s_addr);
    sw->is_source = in_ep != NULL;
    sw->seeder = seeder;
    ts_log_init("swarm", instance);

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
     * piece's worth of stream time (the broadcaster: one, see peer_have_broadcast). */
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
    if (in_ep && (!(sw->src_safe = calloc(sw->n, sizeof *sw->src_safe)) || !(sw->first = calloc(sw->n, sizeof *sw->first))))
        return TS_EXIT_FAIL;
    if (!sw->win || !sw->req_seq || !sw->req_cnt)
        return TS_EXIT_FAIL;
    /* Azureus-style peer id: client tag, then random bytes. */
    memcpy(sw->peer_id, "-TS0001-", 8);
    RAND_bytes(sw->peer_id + 8, 12);

    sw->loop = EV_DEFAULT;
    void *zctx = zmq_ctx_new();
    if (curve && ts_curve_init(zctx, curve, "swarm", err, sizeof err) < 0) {
        ts_error("%s", err);
        return TS_EXIT_CONFIG;
    }
    ts_stage_t *st = ts_stage_new(sw->loop, zctx, "swarm", instance, sup);
    if (!st)
        return TS_EXIT_FAIL;
    if (listen_on(sw, bind_addr) < 0)
        return TS_EXIT_CONFIG; /* port taken or bad address: restarting will not help */
    sw->out = ts_outlink_new(sw->loop, zctx, out_ep, 256, out_start, NULL, sw);
    if (sw->out)
        ts_outlink_on_subscribe(sw->out, on_bridge_subscribe, sw);
    if (!sw->out)
        return TS_EXIT_FAIL;
    if (sw->is_source && !(sw->in = ts_inlink_new(sw->loop, zctx, in_ep, "swarm", "signer", 0, 0, on_signed, sw)))
        return TS_EXIT_FAIL;
    if (embedded) {
        sw->tracker = ts_tracker_new(1000, 120ull * 1000000000);
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
    ev_io_init(&sw->listen_io, on_accept, sw->listen_fd, EV_READ);
    sw->listen_io.data = sw;
    ev_io_start(sw->loop, &sw->listen_io);
    ev_timer_init(&sw->accept_pause, on_accept_pause, 0.1, 0);
    sw->accept_pause.data = sw;
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
    ts_stage_counter(st, "peers_dropped", &sw->c_peers_dropped);
    ts_stage_counter(st, "verify_shed", &sw->c_verify_shed);
    ts_metrics_counter_ptr(ts_stage_metrics(st), "ts_verify_failures_total",
                           "Pieces from peers that failed verification: malformed trailer or bad signature.", NULL,
                           &sw->c_verify_failed);
    ts_metrics_counter_ptr(ts_stage_metrics(st), "ts_metadata_pieces_served_total",
                           "ut_metadata (BEP 9) pieces of the info dict sent to peers joining by magnet link.", NULL,
                           &sw->c_md_served);
    ts_stage_readiness(st, readiness, sw);
    ts_stage_exit_unready(st, exit_unready);
    int code = TS_EXIT_OK;
    if (metrics && ts_stage_serve(st, metrics, err, sizeof err) < 0) {
        ts_error("--metrics %s: %s", metrics, err);
        code = TS_EXIT_CONFIG;
    } else {
        ts_info("%s on port %u, %llu pieces of %u bytes in the window", sw->is_source ? "broadcasting" : "viewing",
                sw->port, (unsigned long long)sw->n, sw->meta.piece_len);
        ts_stage_ready(st);
        ev_run(sw->loop, 0);
        code = ts_stage_exit_code(st, code);
    }

    announce_destroy(&sw->ann);
    for (peer_t *p = sw->peers; p; p = p->next)
        peer_close(p, NULL);
    peer_tick(sw, ts_mono_ns());
    ts_inlink_destroy(&sw->in);
    ts_outlink_destroy(&sw->out);
    ts_tracker_destroy(&sw->tracker);
    ts_stage_destroy(&st);
    zmq_ctx_term(zctx);
    ts_curve_fini();
    close(sw->listen_fd);
    ts_window_destroy(&sw->win);
    ts_verifier_destroy(&sw->verifier);
    free(sw->req_seq);
    free(sw->req_cnt);
    free(sw->src_safe);
    free(sw->first);
    ts_metainfo_free(&sw->meta);
    return code;
}
