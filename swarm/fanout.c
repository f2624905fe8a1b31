/* Announcing pieces to peers, and serving their requests under the upload cap. */
#include "fanout.h"
#include "g2g.h"
#include "known.h"
#include "peer.h"
#include "push.h"
#include "uprate.h"
#include "ts_time.h"
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <linux/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

#define alive peer_alive

/* Our edge and newest random-access point, to a peer that speaks ts_live. */
static void live_to(peer_t *p)
{
    if (p->live_id) {
        ts_wire_put_live(&p->out, p->live_id, p->sw->edge, p->sw->rap);
        p->told_edge = 1;
    }
}

/* A HAVE carries seq mod N: a peer must know an edge of ours to place it, so it gets ts_live first
 * if it has none yet (it joined before we held anything). */
static void have_index(peer_t *p, uint64_t seq)
{
    if (!p->told)
        return;
    /* The receiver places the index within half a window of the newest edge it knows of ours
     * (section 4): a piece that far behind would be read as one a window ahead. (A stale push's
     * piece, queued before the child stopped reading: a suspended child then hooked in at a
     * seq we did not have yet and skipped.) Nobody live wants it anyway. */
    if (p->sw->has_edge && seq + p->sw->n / 2 <= p->sw->edge)
        return;
    uint64_t *told = &p->told[seq % p->sw->n];
    if (*told == seq + 1)
        return; /* once per piece: a second HAVE is junk to the receiver (a slow one may not have
                 * asked for it yet when the late announcements go out) */
    *told = seq + 1;
    if (!p->told_edge)
        live_to(p);
    ts_wire_put_have(&p->out, (uint32_t)(seq % p->sw->n));
}
static void have_to(peer_t *p, uint64_t seq, int rap_changed)
{
    /* ts_live first: a peer that knows no edge yet could not place the HAVE's index. */
    if (rap_changed)
        live_to(p);
    if (!peer_has(p, seq))
        have_index(p, seq);
}

/* ------------------------------------------------------------ announcing */

/* Tell peers we hold a new piece: a few at once (sw->fanout, in turn), the rest a little later
 * (pending_have). Each new holder does the same, so a piece spreads as a tree whose nodes each
 * serve about as many copies as their upload allows in a piece's time, instead of every
 * neighbour asking the first holder at once; peers that got it meanwhile need no HAVE at all.
 * The broadcaster tells one viewer first — one whose first pieces are seen spreading, when it
 * can tell — and the rest after a few times the usual spread delay (at most a second), or as soon
 * as nobody shows it got the piece from that viewer within about twice that delay: it uploads
 * each piece about once, and a free-riding or slow first recipient costs the others that short delay, not a second. One of
 * the peers told at once that takes pushes gets the piece itself instead (push.c). */
void fanout_broadcast(swarm_t *sw, uint64_t seq, int rap_changed)
{
    int active = 0, good = 0, told = 0, pushed = 0;
    for (peer_t *p = sw->peers; p; p = p->next)
        if (alive(p) && p->state == PEER_ACTIVE && !peer_has(p, seq)) {
            active++;
            good += !p->g2g_poor;
        }
    if (active == 0) {
        if (rap_changed)
            for (peer_t *p = sw->peers; p; p = p->next)
                if (alive(p) && p->state == PEER_ACTIVE && p->live_id)
                    live_to(p);
        return;
    }
    uint64_t now = ts_mono_ns();
    /* choose sw->fanout of the candidates that lack it, uniformly at random; the broadcaster's
     * candidates are the peers that forward, unless none does */
    int pool = sw->is_source && good > 0 ? good : active;
    int want = sw->fanout < pool ? sw->fanout : pool, left = pool;
    for (peer_t *p = sw->peers; p; p = p->next) {
        if (!alive(p) || p->state != PEER_ACTIVE)
            continue;
        if (peer_has(p, seq)) {
            if (rap_changed)
                live_to(p);
            continue;
        }
        if (pool == good && sw->is_source && p->g2g_poor) {
            if (rap_changed)
                live_to(p);
            continue;
        }
        if (want > 0 && rand() % left < want) {
            if (pushed < SW_PUSH_PER_PIECE && push_to(p, seq, now)) {
                pushed++;
                if (rap_changed)
                    live_to(p);
            } else {
                have_to(p, seq, rap_changed);
            }
            if (sw->is_source && active > 1)
                g2g_first(p, seq, now);
            told++;
            want--;
        } else if (rap_changed) {
            live_to(p);
        }
        left--;
    }
    if (pushed)
        fanout_serve(sw);
    if (told < active) {
        if (sw->npending_have == (int)(sizeof sw->pending_have / sizeof *sw->pending_have)) {
            memmove(sw->pending_have, sw->pending_have + 1, sizeof sw->pending_have - sizeof *sw->pending_have);
            sw->npending_have--;
        }
        /* The rest are told once our upload has served the first ones (they have asked by
         * then): at least the time the cap needs for `told` pieces, at most SW_HAVE_DELAY_NS.
         * Idle upload means spare capacity, so more askers do not queue behind each other. */
        uint64_t min = SW_HAVE_MIN_NS, max = SW_HAVE_DELAY_NS;
        if (sw->up_rate > 0) {
            uint64_t serve = (uint64_t)((double)told * (sw->meta.piece_len + 13) / sw->up_rate * TS_NS_PER_S_F);
            if (serve > min)
                min = serve;
        }
        if (sw->is_source) {
            min = g2g_early_ns(sw);
            max = g2g_late_ns(sw);
        }
        sw->pending_have[sw->npending_have].seq = seq;
        sw->pending_have[sw->npending_have].min_ns = now + min;
        sw->pending_have[sw->npending_have++].max_ns = now + max;
        if (!ev_is_active(&sw->have_timer) ||
            ev_timer_remaining(sw->loop, &sw->have_timer) > (double)min / TS_NS_PER_S_F) {
            ev_timer_stop(sw->loop, &sw->have_timer);
            ev_timer_set(&sw->have_timer, (double)min / TS_NS_PER_S_F, 0);
            ev_timer_start(sw->loop, &sw->have_timer);
        }
    }
}

static int upload_idle(const swarm_t *sw)
{
    for (const peer_t *p = sw->peers; p; p = p->next)
        if (alive(p) && p->state == PEER_ACTIVE && p->rq_len > 0)
            return 0;
    return 1;
}


/* Announce pending pieces to the peers not yet told: those past their maximum delay, and past
 * their minimum those that a viewer can serve now (its upload is idle) or that the broadcaster
 * has seen no sign of spreading. */
void fanout_late_haves(swarm_t *sw, uint64_t now)
{
    int keep = 0, idle = -1;
    uint64_t next = UINT64_MAX;
    for (int i = 0; i < sw->npending_have; i++) {
        uint64_t seq = sw->pending_have[i].seq, min = sw->pending_have[i].min_ns, max = sw->pending_have[i].max_ns;
        int due = now >= max;
        if (sw->is_source) {
            min = g2g_due_ns(sw, seq, max);
            due = now >= min || due;
        } else if (!due && now >= min) {
            if (idle < 0)
                idle = upload_idle(sw);
            due = idle; /* else fanout_serve calls us when its queue drains */
        }
        if (!due) {
            sw->pending_have[keep++] = sw->pending_have[i];
            uint64_t at = now < min ? min : max;
            if (at < next)
                next = at;
            continue;
        }
        if (!ts_window_has(sw->win, seq))
            continue;
        for (peer_t *p = sw->peers; p; p = p->next)
            if (alive(p) && p->state == PEER_ACTIVE && !peer_has(p, seq))
                have_index(p, seq);
    }
    sw->npending_have = keep;
    ev_timer_stop(sw->loop, &sw->have_timer);
    if (next != UINT64_MAX) {
        ev_timer_set(&sw->have_timer, (double)(next - now) / TS_NS_PER_S_F, 0);
        ev_timer_start(sw->loop, &sw->have_timer);
    }
}


/* ------------------------------------------------------------ upload cap */

/* Bench record (TS_HOP_LOG): the broadcaster's push of a fresh piece as it goes to the socket:
 * seq, source time → now (µs), and the connection's unsent and unacknowledged bytes, cwnd, RTT. */
static void hop_log_source(peer_t *p, const ts_trailer_t *t)
{
    struct tcp_info ti;
    socklen_t tl = sizeof ti;
    memset(&ti, 0, sizeof ti);
    getsockopt(p->fd, IPPROTO_TCP, TCP_INFO, &ti, &tl);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t age = (int64_t)((uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec) - (int64_t)t->timestamp_us;
    fprintf(p->sw->hop_log, "%llu B %lld %u %u %u %u %zu\n", (unsigned long long)t->seq, (long long)age,
            ti.tcpi_notsent_bytes, ti.tcpi_unacked, ti.tcpi_snd_cwnd, ti.tcpi_rtt, p->out.len);
    fflush(p->sw->hop_log);
}

/* Send one queued piece to p. 1 if something was sent. */
static int serve_one(peer_t *p)
{
    swarm_t *sw = p->sw;
    while (p->rq_len > 0) {
        uint32_t idx = p->rq[p->rq_head] & ~SW_RQ_PUSH;
        int push = (p->rq[p->rq_head] & SW_RQ_PUSH) != 0;
        p->rq_head = (p->rq_head + 1) % SW_RQ_MAX;
        p->rq_len--;
        if (!sw->has_edge)
            continue;
        /* Whatever the slot holds: a requester can only ask for a piece we announced, and we hold
         * the newest with that index (reading the index against our edge would send a requester
         * that lags half a window behind us looking for a piece we do not have). */
        size_t len;
        ts_trailer_t t;
        uint64_t at = ts_window_at_index(sw->win, idx);
        const uint8_t *piece = at ? ts_window_get(sw->win, at - 1, &len, &t) : NULL;
        if (push && (!piece || peer_has(p, t.seq)))
            continue; /* gone from the window, or it announced it meanwhile: no copy wasted */
        if (push && t.seq + SW_PUSH_FRESH <= sw->edge) {
            /* no longer fresh (it waited in our queue, behind a burst): announced instead, so that
             * the child asks when it wants it (it got no HAVE of it when the push was queued) */
            p->told[idx] = 0;
            have_index(p, t.seq);
            continue;
        }
        if (!piece) {
            known_junk(p, "requests for pieces we do not have");
            if (!alive(p))
                return 0;
            continue;
        }
        if (push && sw->is_source && sw->hop_log)
            hop_log_source(p, &t);
        ts_wire_put_piece(&p->out, idx, 0, piece, len);
        peer_mark_sent(p, t.seq); /* it holds it now: no late HAVE of it to this peer (it would be junk) */
        if (p->told)
            p->told[idx] = t.seq + 1; /* a HAVE of it crossing this piece is no repeat (dispatch.c) */
        g2g_progress(p, t.seq, ts_mono_ns(), 1);
        sw->c_pieces_up++;
        sw->c_pushed_up += push;
        sw->c_payload_up += t.payload_len;
        if (sw->up_rate > 0)
            sw->up_tokens -= (double)(len + 13);
        return 1;
    }
    return 0;
}

/* A request is queued only if it can be served soon: past SW_QUEUE_MAX_NS of queue (everything
 * queued, at the cap, or with no cap at the rate our uplink drained while backlogged) the piece
 * would come too late to be worth its bytes, and the queue would grow as long as demand exceeds
 * the uplink — every requester then waiting on the holder everybody asks while the others'
 * copies go unused. A peer that reads REJECT_REQUEST is told at once and asks elsewhere (a piece
 * it asks for again is queued); the broadcaster's first recipient of a piece is always served
 * (the tree starts from it). 1 if the request is to be queued. */
int fanout_admit(peer_t *p, uint32_t index)
{
    swarm_t *sw = p->sw;
    /* Viewers too: a request waiting seconds behind others in a slow uplink's queue is better
     * asked of another holder now (the broadcaster admits by the same rule, so the rejected do
     * not all land there). */
    if (!p->reject || !sw->has_edge)
        return 1;
    uint64_t at = ts_window_at_index(sw->win, index);
    if (at && sw->is_source && sw->first) {
        const struct sw_first *f = &sw->first[(at - 1) % sw->n];
        if (f->seq1 == at && f->serial == p->serial)
            return 1;
    }
    /* asked again after a rejection: nobody else gave it the piece (a viewer that reaches only us,
     * behind NAT): queued, as a request was before rejections */
    for (int i = 0; at && i < (int)(sizeof p->rejected / sizeof *p->rejected); i++)
        if (p->rejected[i] == at)
            return 1;
    /* the queue's speed: the cap, or what the uplink drained while requests waited */
    double rate = sw->up_rate > 0 ? sw->up_rate : sw->drain_bps;
    if (rate <= 0)
        return 1;
    double bytes = sw->up_rate > 0 ? -sw->up_tokens : 0;
    for (const peer_t *q = sw->peers; q; q = q->next)
        if (alive(q) && q->state == PEER_ACTIVE)
            bytes += (double)q->rq_len * (sw->meta.piece_len + 13) + (double)q->out.len;
    if (bytes / rate * TS_NS_PER_S_F <= (double)SW_QUEUE_MAX_NS)
        return 1;
    if (at) {
        p->rejected[p->rejected_pos] = at;
        p->rejected_pos = (p->rejected_pos + 1) % (int)(sizeof p->rejected / sizeof *p->rejected);
    }
    ts_wire_put_request(&p->out, TS_WIRE_REJECT, index, 0, sw->meta.piece_len);
    sw->c_rejects_up++;
    return 0;
}

static void on_up_timer(struct ev_loop *loop, ev_timer *w, int revents) { fanout_serve(w->data); }

/* What the upload drains, sampled every 100 ms, counted only over periods when requests waited
 * throughout (then it is the uplink's speed, or our share of it; an idle period only shows the
 * demand). With no cap, the broadcaster's admission reads its queue's length in time from it. */
void fanout_tick(swarm_t *sw, uint64_t now)
{
    if (now - sw->drain_last_ns < 100 * TS_NS_PER_MS)
        return;
    int backlog = !upload_idle(sw);
    if (sw->drain_last_ns && sw->drain_backlog && backlog) {
        double r = (double)(sw->c_bytes_up - sw->drain_bytes) / ((double)(now - sw->drain_last_ns) / TS_NS_PER_S_F);
        sw->drain_bps = sw->drain_bps > 0 ? 0.8 * sw->drain_bps + 0.2 * r : r;
    }
    sw->drain_backlog = backlog;
    sw->drain_last_ns = now;
    sw->drain_bytes = sw->c_bytes_up;
}

/* May another piece go to p's send queue? Only once the last one went to the kernel, which takes
 * it only once it has sent nearly all it held (TCP_NOTSENT_LOWAT, peer.c): one write is one piece,
 * and a socket holds about a piece unsent (a bigger write would land in one 64 KB segment buffer,
 * past the low-water mark). The rest of p's requests wait in p->rq, where they can still be
 * cancelled, rejected, or overtaken by a fresh piece's first copy. */
int fanout_room(peer_t *p)
{
    return alive(p) && p->state == PEER_ACTIVE && p->rq_len > 0 && p->out.len < SW_OUT_SMALL && uprate_room(p) &&
           peer_kernel_room(p);
}

/* Serve queued requests round-robin across peers, as fast as the upload cap allows. */
void fanout_serve(swarm_t *sw)
{
    uint64_t now = ts_mono_ns();
    if (sw->up_rate > 0) {
        sw->up_tokens += sw->up_rate * (double)(now - sw->up_last_ns) / TS_NS_PER_S_F;
        if (sw->up_tokens > sw->up_burst)
            sw->up_tokens = sw->up_burst;
    }
    sw->up_last_ns = now;
    for (;;) {
        if (sw->up_rate > 0 && sw->up_tokens <= 0) {
            if (!ev_is_active(&sw->up_timer)) {
                ev_timer_init(&sw->up_timer, on_up_timer, -sw->up_tokens / sw->up_rate + 0.001, 0);
                sw->up_timer.data = sw;
                ev_timer_start(sw->loop, &sw->up_timer);
            }
            return;
        }
        /* a fresh piece's first copy (a push) before any request: every other copy of it comes
         * from there; then the next peer after the last served one that has a request and room */
        peer_t *start = sw->serve_next && alive(sw->serve_next) ? sw->serve_next : sw->peers, *p = start, *found = NULL;
        if (!start)
            return;
        for (peer_t *q = sw->peers; q && !found; q = q->next)
            if (fanout_room(q) && (q->rq[q->rq_head] & SW_RQ_PUSH))
                found = q;
        if (found) {
            serve_one(found);
            continue;
        }
        do {
            p = p->next ? p->next : sw->peers;
            if (fanout_room(p))
                found = p;
        } while (!found && p != start);
        if (!found) {
            if (sw->npending_have > 0 && upload_idle(sw))
                fanout_late_haves(sw, now);
            return;
        }
        sw->serve_next = found;
        serve_one(found);
    }
}

