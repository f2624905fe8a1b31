/* What we hold and how far the live edge can plausibly be. */
#include "edge.h"
#include "ts_time.h"

int edge_note(swarm_t *sw, uint64_t seq, const ts_trailer_t *t)
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
        } else if (t->timestamp_us - sw->rate_ts >= 2 * TS_US_PER_S) {
            double r = (double)(seq - sw->rate_seq) * TS_US_PER_S_F / (double)(t->timestamp_us - sw->rate_ts);
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
    return rap_changed;
}

/* The newest live edge our own verified pieces make plausible: our edge, plus twice the pieces
 * the stream can have made since (below), a second's worth, and 8.
 * Peers' claims beyond it are not believed. No bound while we hold nothing. */
uint64_t edge_bound(const swarm_t *sw, uint64_t now)
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
    double since = (double)(now - sw->edge_ns) / TS_NS_PER_S_F, wall_us = (double)ts_wall_us();
    if (wall_us > (double)sw->edge_ts_us && (wall_us - (double)sw->edge_ts_us) / TS_US_PER_S_F > since)
        since = (wall_us - (double)sw->edge_ts_us) / TS_US_PER_S_F;
    double slack = 2 * rate * (since + 1) + 8;
    if (slack > 1e15)
        slack = 1e15;
    return UINT64_MAX - sw->edge > (uint64_t)slack ? sw->edge + (uint64_t)slack : UINT64_MAX;
}
