/* swarm/fanout.c: the announcements a receiver can place. A HAVE carries seq mod N, read against
 * the newest edge the receiver knows of the sender's, so a sender must not announce a piece half a
 * window or more behind its edge: the receiver would take it for one a window ahead. */
#include "check.h"
#include "fanout.h"
#include "ts_piece.h"
#include "ts_time.h"
#include "wire.h"
#include <ev.h>
#include <stdlib.h>
#include <string.h>

#define N 64
#define PL 256u

static void put(ts_window_t *w, uint64_t seq)
{
    uint8_t b[PL];
    ts_trailer_t t;
    memset(&t, 0, sizeof t);
    t.version = TS_PIECE_VERSION;
    t.payload_len = 8;
    t.seq = seq;
    t.timestamp_us = seq * 1000;
    memset(b, (int)seq, t.payload_len);
    ts_trailer_encode(&t, b + t.payload_len);
    CHECK(ts_window_put(w, b, t.payload_len + TS_TRAILER_LEN, &t, seq % N) == TS_WIN_OK, "piece stored");
}

/* The HAVE indices in p's send queue, in order; returns how many. */
static int haves(peer_t *p, uint32_t *idx, int max)
{
    int n = 0;
    size_t off = 0;
    ts_wire_msg_t m;
    ssize_t r;
    while ((r = ts_wire_parse(p->out.data + off, p->out.len - off, 1 << 20, &m)) > 0) {
        if (m.id == TS_WIRE_HAVE && n < max)
            idx[n++] = m.index;
        off += (size_t)r;
    }
    return n;
}

static void test_no_have_a_window_ahead(void)
{
    swarm_t sw;
    peer_t p;
    memset(&sw, 0, sizeof sw);
    memset(&p, 0, sizeof p);
    sw.loop = ev_loop_new(0);
    ev_init(&sw.have_timer, NULL);
    sw.n = N;
    sw.meta.piece_len = PL;
    sw.win = ts_window_new(N, PL);
    for (uint64_t s = 100; s <= 150; s++)
        put(sw.win, s);
    sw.edge = 150;
    sw.has_edge = 1;
    p.sw = &sw;
    p.fd = 1000; /* never used */
    p.state = PEER_ACTIVE;
    p.has = calloc(N, sizeof *p.has);
    p.told = calloc(N, sizeof *p.told);
    ts_buf_init(&p.in);
    ts_buf_init(&p.out);
    sw.peers = &p;

    uint64_t now = ts_mono_ns();
    /* 100 and 118 are N/2 or more behind the edge 150; 119 and 149 are not */
    uint64_t seqs[] = { 100, 118, 119, 149 };
    for (int i = 0; i < 4; i++)
        sw.pending_have[sw.npending_have++] = (typeof(sw.pending_have[0])){ seqs[i], now - 2, now - 1 };
    fanout_late_haves(&sw, now);
    uint32_t idx[8];
    int n = haves(&p, idx, 8);
    CHECK(n == 2, "two HAVEs sent (got %d)", n);
    CHECK(n == 2 && idx[0] == 119 % N && idx[1] == 149 % N, "for 119 and 149 only");
    /* what the receiver makes of them, reading against our edge as it knows it */
    for (int i = 0; i < n; i++) {
        uint64_t s = ts_window_seq_for_index(sw.win, idx[i], sw.edge);
        CHECK(s <= sw.edge && s + N / 2 > sw.edge, "HAVE %u placed at %llu, within half a window of the edge", idx[i],
              (unsigned long long)s);
    }
    CHECK(sw.npending_have == 0, "every due announcement settled");

    free(p.has);
    free(p.told);
    ts_buf_free(&p.in);
    ts_buf_free(&p.out);
    ts_window_destroy(&sw.win);
    ev_loop_destroy(sw.loop);
}

int main(void)
{
    test_no_have_a_window_ahead();
    CHECK_DONE();
}
