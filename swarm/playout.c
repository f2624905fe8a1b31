/* Playout: from the window to the player-bridge, in order. */
#include "playout.h"
#include "edge.h"
#include "fanout.h"
#include "peer.h"
#include "picker.h"
#include "ts_log.h"
#include "ts_time.h"
#include "ts_topology.h"
#include <arpa/inet.h>

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
    sw->blocked_since_ns = sw->behind_since_ns = 0;
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
    playout_consider_hook(sw);
    if (sw->hooked && sw->play_seq > from)
        sw->c_skipped += sw->play_seq - from;
    ts_warn("%s: re-tuned from seq %llu to %llu", why, (unsigned long long)from, (unsigned long long)sw->play_seq);
}

static int hook_target(swarm_t *sw, uint64_t *target, uint64_t *vouched_edge);

/* Where to jump when the window has moved on past us: the newest random-access point, ours or
 * the one peers vouch for (a viewer that lags holds few fresh pieces, so its own newest one
 * may be long gone); the edge only when neither is in the window (its output then restarts
 * mid-picture until the next random-access point). */
static uint64_t jump_target(swarm_t *sw)
{
    uint64_t to = sw->has_rap && sw->rap + sw->n / 2 > sw->edge ? sw->rap : 0, best, edge;
    if (hook_target(sw, &best, &edge) && best > to && best < edge && best + sw->n / 2 > sw->edge)
        to = best;
    return to > sw->play_seq ? to : sw->edge;
}

/* Deliver every piece that is next in order; skip a hole that has blocked playout too long. */
void playout_deliver(swarm_t *sw)
{
    if (!sw->hooked || sw->retune_at_ns)
        return;
    uint64_t now = ts_mono_ns();
    /* Fallen so far behind that the window moved on (stall, suspended laptop): back to the edge. */
    if (sw->has_edge && sw->edge >= sw->play_seq + sw->n / 2) {
        uint64_t to = jump_target(sw);
        sw->c_skipped += to - sw->play_seq;
        ts_warn("fell %llu pieces behind the live edge: jumping ahead",
                (unsigned long long)(sw->edge - sw->play_seq));
        hook_at(sw, to, "re-tune");
    }
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
    /* Behind by more than SW_BEHIND_US of stream time (by the source's own timestamps, so a
     * paused source does not count): a player would stay that far behind, so skip ahead to the
     * newest random-access point, provided there is one later than where we are — once it has
     * lasted SW_BEHIND_HOLD_NS. A stage upstream that stood still (hung signer, restarted
     * swarm) releases its backlog to everyone at once: the newest piece is then far ahead of
     * the next one to play although nobody is slow, and the backlog arrives within moments. */
    if (sw->has_edge && sw->rap > sw->play_seq && ts_window_get(sw->win, sw->edge, &len, &newest) &&
        oldest_held_ts(sw, &oldest) && newest.timestamp_us > oldest + SW_BEHIND_US) {
        if (!sw->behind_since_ns)
            sw->behind_since_ns = now;
        else if (now - sw->behind_since_ns >= SW_BEHIND_HOLD_NS)
            retune(sw, "playout fell behind the live edge");
    } else
        sw->behind_since_ns = 0;
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
        /* what is still asked for below it is wanted no more (a request to the broadcaster is
         * never given up by timeout, and would hold one of its pipeline slots for good) */
        pick_cancel_before(sw, next);
    }
}
/* Where to (re)join the stream, from what peers state (handshake, ts_live), so that no single
 * peer chooses it: with claims from two or more addresses, only a point that at least two of
 * them say they have reached counts (the newest random-access point so vouched for, or the
 * vouched edge when that point has left the window); a lone claimant is taken at its word
 * until a second one arrives (playout_consider_hook re-decides while nothing has played). 0 if
 * nobody has stated anything usable. */
static int hook_target(swarm_t *sw, uint64_t *target, uint64_t *vouched_edge)
{
    struct { uint32_t ip; uint64_t edge, rap; int has_rap; } c[64];
    int nc = 0;
    uint64_t bound = edge_bound(sw, ts_mono_ns());
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
void playout_consider_hook(swarm_t *sw)
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

void playout_piece_stored(swarm_t *sw, uint64_t seq, const ts_trailer_t *t)
{
    int rap_changed = edge_note(sw, seq, t);
    sw->c_seq = sw->edge;
    if (sw->is_source && !sw->hooked)
        hook_at(sw, seq, "first piece");
    fanout_broadcast(sw, seq, rap_changed);
    playout_deliver(sw);
    if (!sw->is_source)
        pick_all(sw);
}

/* A verified piece far ahead of the window: the broadcaster's numbering jumped (its ingest
 * restarted and resumed at its persisted reservation). Sequence numbers are never reused and only
 * the key holder can sign, so a higher seq is newer whatever its timestamp says (the broadcaster's
 * clock may have stepped): forget the window and continue from it. 1 if re-tuned. */
int playout_jumped(swarm_t *sw, const ts_trailer_t *t)
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
        ts_mono_ns() - sw->start_ns > 10 * TS_NS_PER_S)
        return;
    uint64_t f = sub->from_seq, edge = sw->has_edge ? sw->edge : 0;
    for (peer_t *p = sw->peers; p; p = p->next)
        if (p->fd >= 0 && p->state == PEER_ACTIVE && p->has_edge && p->edge > edge)
            edge = p->edge;
    sw->want_seq = f;
    sw->has_want = 1;
    if (!sw->hooked || f == 0)
        return; /* playout_consider_hook takes it */
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

int playout_open(swarm_t *sw, void *zctx, const char *out_ep)
{
    sw->out = ts_outlink_new(sw->loop, zctx, out_ep, ts_topo[TS_TOPO_SWARM].out_ring, out_start, NULL, sw);
    if (sw->out)
        ts_outlink_on_subscribe(sw->out, on_bridge_subscribe, sw);
    return sw->out ? 0 : -1;
}

/* A tick far later than its period: this process was stopped or the machine slept. What we
 * would play next is stale by that long; once the peers' news has been read, re-tune. */
void playout_stall_check(swarm_t *sw, uint64_t now)
{
    if (sw->last_tick_ns && now - sw->last_tick_ns > SW_GAP_NS && sw->hooked && !sw->is_source) {
        ts_warn("event loop stood still for %.1f s (stopped or suspended)", (double)(now - sw->last_tick_ns) / TS_NS_PER_S_F);
        sw->retune_at_ns = now + SW_GAP_SETTLE_NS;
        for (peer_t *p = sw->peers; p; p = p->next)
            p->stalled_ns = now;
    }
    sw->last_tick_ns = now;
    if (sw->retune_at_ns && now >= sw->retune_at_ns) {
        sw->retune_at_ns = 0;
        retune(sw, "after a stall");
    }
}
