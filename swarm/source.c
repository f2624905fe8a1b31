/* Broadcaster: the signer's pieces in, acks out. */
#include "source.h"
#include "peer.h"
#include "playout.h"
#include "ts_log.h"
#include "ts_time.h"
#include "ts_topology.h"
#include <linux/sockios.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <string.h>

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
    ts_trailer_t t = { .version = TS_PIECE_VERSION, .flags = (uint8_t)p->flags,
                       .payload_len = (uint32_t)p->payload.len, .seq = p->seq, .timestamp_us = p->timestamp_us };
    memcpy(t.sig, p->signature.data, TS_SIG_LEN);
    memcpy(piece, p->payload.data, p->payload.len);
    ts_trailer_encode(&t, piece + p->payload.len);
    int rc = ts_window_put(sw->win, piece, p->payload.len + TS_TRAILER_LEN, &t, p->seq % sw->n);
    if (rc == TS_WIN_FAR && playout_jumped(sw, &t))
        rc = ts_window_put(sw->win, piece, p->payload.len + TS_TRAILER_LEN, &t, p->seq % sw->n);
    free(piece);
    if (rc == TS_WIN_OK) {
        sw->c_pieces_in++;
        playout_piece_stored(sw, p->seq, &t);
    } else if (rc != TS_WIN_DUP) {
        ts_warn("piece %llu from the signer not stored (window code %d)", (unsigned long long)p->seq, rc);
    }
}

/* Pieces we sent whose last byte p's kernel has acknowledged are p's: safe (SIOCOUTQ is what
 * its send queue holds unacknowledged, sent or not). */
void source_confirm_sent(swarm_t *sw)
{
    for (peer_t *p = sw->peers; p; p = p->next) {
        int q = 0;
        if (!peer_alive(p) || p->sent_len == 0 || ioctl(p->fd, SIOCOUTQ, &q) < 0 || q < 0 ||
            (uint64_t)q > p->bytes_up)
            continue;
        uint64_t acked = p->bytes_up - (uint64_t)q;
        while (p->sent_len > 0 && p->sent[p->sent_head].end <= acked) {
            uint64_t seq = p->sent[p->sent_head].seq;
            if (sw->src_safe)
                sw->src_safe[seq % sw->n] = seq + 1;
            p->sent_head = (p->sent_head + 1) % SW_SENT_MAX;
            p->sent_len--;
        }
    }
}

/* The broadcaster acks the signer only pieces that a peer has (it announced them, or its kernel
 * acknowledged our copy: see peer_mark, peer_mark_sent), or that are 5 s old: a piece only this
 * swarm holds is not lost if it dies, since the signer replays everything after the last ack to
 * its successor. */
void source_ack(swarm_t *sw)
{
    if (!sw->is_source || !sw->has_edge)
        return;
    source_confirm_sent(sw);
    uint64_t now_us = ts_wall_us();
    if (sw->ack_next + sw->n <= sw->edge)
        sw->ack_next = sw->edge - sw->n + 1; /* older than the window: nothing left to protect */
    while (sw->ack_next <= sw->edge) {
        size_t len;
        ts_trailer_t t;
        uint64_t s = sw->ack_next;
        if (ts_window_get(sw->win, s, &len, &t) && sw->src_safe[s % sw->n] != s + 1 &&
            now_us < t.timestamp_us + 5 * TS_US_PER_S)
            break;
        sw->ack_next++;
    }
    if (sw->ack_next > 0)
        ts_inlink_ack(sw->in, sw->ack_next - 1);
}

int source_open(swarm_t *sw, void *zctx, const char *in_ep)
{
    const ts_topo_stage_t *me = &ts_topo[TS_TOPO_SWARM];
    sw->in = ts_inlink_new(sw->loop, zctx, in_ep, me->link_id, ts_topo[me->upstream].name, 0, 0, on_signed, sw);
    return sw->in ? 0 : -1;
}
