/* swarm/picker.c: which holder is asked for a piece, hedging near the playback point, and
 * request timeouts. Peers here are records only (no sockets): the picker writes its requests
 * and cancels into their send queues, which the tests read back. */
#include "check.h"
#include "picker.h"
#include "ts_time.h"
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define N 64
#define MS 1000000ull

static swarm_t sw;
static peer_t peers[4];

static void setup(void)
{
    for (int i = 0; i < 4; i++) {
        free(peers[i].has);
        free(peers[i].told);
        ts_buf_free(&peers[i].out);
        memset(&peers[i], 0, sizeof peers[i]);
    }
    ts_window_destroy(&sw.win);
    free(sw.req_seq);
    free(sw.req_cnt);
    memset(&sw, 0, sizeof sw);
    sw.n = N;
    sw.meta.piece_len = 1024;
    sw.win = ts_window_new(N, 1024);
    sw.req_seq = calloc(N, sizeof *sw.req_seq);
    sw.req_cnt = calloc(N, sizeof *sw.req_cnt);
    sw.hooked = 1;
    sw.play_seq = 100;
}

/* A peer past its handshake, unchoked, at 10.0.0.(i+1); answered > 0: that many answers, each
 * after ans_ms on average. */
static peer_t *mkpeer(int i, uint64_t answered, double ans_ms)
{
    peer_t *p = &peers[i];
    p->sw = &sw;
    p->fd = 1000 + i; /* never used: nothing here closes a peer */
    p->state = PEER_ACTIVE;
    p->addr.sin_family = AF_INET;
    p->addr.sin_addr.s_addr = htonl(0x0a000001u + (uint32_t)i);
    p->has = calloc(N, sizeof *p->has);
    p->told = calloc(N, sizeof *p->told);
    ts_buf_init(&p->in);
    ts_buf_init(&p->out);
    p->answered = answered;
    p->ans_ns = ans_ms * MS;
    p->next = sw.peers;
    sw.peers = p;
    return p;
}

static void give(peer_t *p, uint64_t seq)
{
    p->has[seq % N] = seq + 1;
    if (!p->has_edge || seq > p->edge) {
        p->edge = seq;
        p->has_edge = 1;
    }
}

static int asked(const peer_t *p, uint64_t seq)
{
    for (int i = 0; i < p->nreq; i++)
        if (p->req[i].seq == seq)
            return 1;
    return 0;
}

static void age_request(peer_t *p, uint64_t seq, uint64_t age_ns)
{
    for (int i = 0; i < p->nreq; i++)
        if (p->req[i].seq == seq)
            p->req[i].sent_ns = ts_mono_ns() - age_ns;
}

/* Messages of type id in p's send queue. */
static int sent(const peer_t *p, uint8_t id)
{
    int n = 0;
    size_t off = 0;
    ts_wire_msg_t m;
    ssize_t k;
    while ((k = ts_wire_parse(p->out.data + off, p->out.len - off, 1 << 20, &m)) > 0) {
        n += m.id == id;
        off += (size_t)k;
    }
    return n;
}

static void test_cheapest_holder(void)
{
    setup();
    peer_t *fast = mkpeer(0, 10, 10), *slow = mkpeer(1, 10, 400);
    give(fast, 100);
    give(slow, 100);
    pick_all(&sw);
    CHECK(asked(fast, 100) && !asked(slow, 100), "the holder that answers in 10 ms is asked, not the one at 400 ms");
    CHECK(sent(fast, TS_WIRE_REQUEST) == 1 && sent(fast, TS_WIRE_INTERESTED) == 1,
          "the fast holder got one REQUEST and was told we are interested");
    pick_all(&sw);
    CHECK(fast->nreq == 1 && !asked(slow, 100), "asked again at once: no second request, no hedge yet");
}

static void test_broadcaster_last(void)
{
    setup();
    peer_t *src = mkpeer(0, 10, 1), *v = mkpeer(1, 0, 0);
    src->source = 1;
    give(src, 100);
    give(v, 100);
    give(src, 101); /* only the broadcaster has 101 */
    pick_all(&sw);
    CHECK(asked(v, 100) && !asked(src, 100),
          "a piece another peer holds is asked of it, not of the broadcaster (even a faster one)");
    CHECK(asked(src, 101), "a piece only the broadcaster holds is asked of it");
}

static void test_hedge_near_playback(void)
{
    setup();
    peer_t *a = mkpeer(0, 10, 10), *b = mkpeer(1, 10, 30);
    uint64_t far = 100 + SW_HEDGE_SPAN + 1;
    give(a, 100);
    give(b, 100);
    give(a, far);
    give(b, far);
    pick_all(&sw);
    CHECK(asked(a, 100) && asked(a, far) && !asked(b, 100) && !asked(b, far), "both pieces asked of the faster holder");
    /* a answers in 10 ms: after 2 x 10 + 20 ms it is overdue */
    age_request(a, 100, 200 * MS);
    age_request(a, far, 200 * MS);
    pick_all(&sw);
    CHECK(asked(b, 100), "the piece at the playback point, overdue at its holder, is asked of another one too");
    CHECK(!asked(b, far), "a piece beyond the hedge span is not (it has time)");
    CHECK(asked(a, 100), "the first request stands: whichever answers first wins");
}

static void test_timeouts(void)
{
    setup();
    peer_t *proven = mkpeer(0, 10, 10), *fresh = mkpeer(1, 0, 0), *src = mkpeer(2, 10, 10);
    src->source = 1;
    give(proven, 100);
    give(fresh, 101);
    give(src, 102);
    pick_all(&sw);
    CHECK(asked(proven, 100) && asked(fresh, 101) && asked(src, 102), "each piece asked of its one holder");
    uint64_t now = ts_mono_ns();
    /* proven: 4 x 10 + 200 ms, at least 500 ms; never answered: SW_UNPROVEN_TIMEOUT_NS */
    age_request(proven, 100, 600 * MS);
    age_request(fresh, 101, SW_UNPROVEN_TIMEOUT_NS - 100 * MS);
    age_request(src, 102, 600 * MS);
    pick_tick(&sw, now);
    CHECK(!asked(proven, 100) && proven->timeouts == 1 && proven->fails == 1,
          "a request 600 ms old to a peer that answers in 10 ms is dropped and counted against it");
    CHECK(sent(proven, TS_WIRE_CANCEL) == 1, "... and cancelled on the wire");
    CHECK(asked(fresh, 101) && fresh->timeouts == 0, "a new peer has SW_UNPROVEN_TIMEOUT_NS to answer");
    CHECK(asked(src, 102) && src->timeouts == 1 && sent(src, TS_WIRE_CANCEL) == 0,
          "the broadcaster's late request is counted but kept: asking again would queue it last");
    CHECK(sw.c_req_timeouts == 2, "two timeouts counted (%llu)", (unsigned long long)sw.c_req_timeouts);
    age_request(fresh, 101, SW_UNPROVEN_TIMEOUT_NS + 100 * MS);
    pick_tick(&sw, ts_mono_ns());
    CHECK(!asked(fresh, 101) && fresh->timeouts == 1, "... and not longer");
    pick_tick(&sw, ts_mono_ns());
    CHECK(asked(src, 102) && src->timeouts == 1, "the broadcaster's kept request is counted once");
    age_request(src, 102, SW_SRC_RESEND_NS + 100 * MS);
    pick_tick(&sw, ts_mono_ns());
    CHECK(!asked(src, 102) && sent(src, TS_WIRE_CANCEL) == 1,
          "unanswered past SW_SRC_RESEND_NS, no queue holds it any more: cancelled ...");
    pick_all(&sw);
    CHECK(asked(src, 102) && sent(src, TS_WIRE_REQUEST) == 2, "... and asked again");
}

static void test_snubbed_left_out(void)
{
    setup();
    peer_t *p = mkpeer(0, 10, 10), *q = mkpeer(1, 10, 30);
    give(p, 100);
    give(q, 100);
    p->fails = SW_SNUB_FAILS - 1;
    q->fails = 1;
    pick_all(&sw);
    /* p's cost doubles with each miss in a row (8 x 10 ms against 2 x 30 ms): q is asked */
    CHECK(asked(q, 100) && !asked(p, 100), "a holder that keeps missing costs more than a slower one that answers");
    give(p, 101);
    pick_all(&sw);
    CHECK(asked(p, 101), "it is still asked for what only it holds");
    age_request(p, 101, 600 * MS);
    uint64_t now = ts_mono_ns();
    pick_tick(&sw, now);
    CHECK(pick_snubbed(p, now) && p->nreq == 0, "one more miss: left out of the picker, its requests dropped");
    pick_all(&sw);
    CHECK(!asked(p, 101), "a left-out peer is not asked, even for what only it holds");
}

/* A viewer that re-tunes forgets every request; the answers already on their way are late, not
 * replays (W1 off the loopback: honest viewers banned the broadcaster for them). Only seqs we
 * asked that peer for, and only for a while after we forgot. */
static void test_forgotten_requests(void)
{
    setup();
    peer_t *p = mkpeer(0, 10, 10), *q = mkpeer(1, 10, 10);
    give(p, 100);
    give(p, 101);
    pick_all(&sw);
    uint64_t now = ts_mono_ns();
    CHECK(asked(p, 100) && asked(p, 101), "both pieces asked of their holder");
    CHECK(!pick_forgotten(p, 100, now), "a request we still hold is no forgotten one");
    pick_forget_all(&sw);
    now = ts_mono_ns();
    CHECK(p->nreq == 0, "re-tuned: its requests forgotten");
    CHECK(pick_forgotten(p, 100, now) && pick_forgotten(p, 101, now), "an answer to either is a late one");
    CHECK(pick_answer(p, 100, now) == PICK_UNASKED, "(the picker alone no longer knows it asked)");
    CHECK(!pick_forgotten(p, 102, now), "a piece it was never asked for (nor anything later) is not excused");
    CHECK(!pick_forgotten(q, 50, now), "nor a piece from a peer we never asked");
    CHECK(!pick_forgotten(p, 100, now + SW_FORGOT_GRACE_NS + 1), "nor one long after we forgot");
    /* our loop stood still (a suspended laptop): whatever q sent meanwhile sat in the socket
     * buffers, pushed or asked for */
    q->stalled_ns = now;
    CHECK(pick_forgotten(q, 50, now) && pick_forgotten(q, 5000, now), "anything from a peer across our stall is late");
    CHECK(!pick_forgotten(q, 50, now + SW_FORGOT_GRACE_NS + 1), "for a while");
}

/* A request for s answered with s+N (same index): the server's window had moved on to s+N before
 * the request arrived (its HAVE of s+N was still to come, as the broadcaster's late HAVEs are).
 * An answer, not a miss: s is gone from it. Answered with s-N instead: wrong (a replay). */
static void test_newer_answer(void)
{
    setup();
    peer_t *src = mkpeer(0, 10, 10);
    src->source = 1;
    give(src, 100);
    give(src, 101);
    pick_all(&sw);
    CHECK(asked(src, 100) && asked(src, 101), "both pieces asked of the broadcaster");
    src->fails = 1;
    uint64_t now = ts_mono_ns();
    CHECK(pick_answer(src, 100 + N, now) == PICK_NEWER, "a newer piece under the index asked for is PICK_NEWER");
    CHECK(!asked(src, 100) && asked(src, 101) && src->fails == 1 && src->answered == 10,
          "... it ends the request for 100 (dropped; neither a miss nor an answer's credit), not the one for 101");
    CHECK(sent(src, TS_WIRE_CANCEL) == 0, "... and nothing is cancelled: the server has nothing left to send for it");
    CHECK(pick_answer(src, 101 - N, now) == PICK_WRONG && asked(src, 101), "an older one is a wrong answer");
}

/* Playout skipping a hole gives up what it still asked for below the new playback point: a
 * request to the broadcaster is never dropped by timeout, and one for a seq already skipped
 * would hold a pipeline slot for good. */
static void test_cancel_before(void)
{
    setup();
    peer_t *src = mkpeer(0, 10, 10);
    src->source = 1;
    for (uint64_t s = 100; s < 104; s++)
        give(src, s);
    pick_all(&sw);
    CHECK(src->nreq == 4, "four pieces asked of the broadcaster");
    pick_cancel_before(&sw, 102);
    CHECK(!asked(src, 100) && !asked(src, 101) && asked(src, 102) && asked(src, 103) && src->nreq == 2,
          "requests below seq 102 given up, the rest kept");
    CHECK(sent(src, TS_WIRE_CANCEL) == 2, "... and cancelled on the wire");
}

/* A viewer waiting on the next piece while peers hold it says why, once it has waited
 * SW_EXPLAIN_NS, and again every SW_EXPLAIN_NS (the line names every peer: it must fit). */
static void test_explain(void)
{
    setup();
    for (int i = 0; i < 4; i++) {
        peer_t *p = mkpeer(i, 10, 10);
        p->source = i == 0;
        give(p, 100);
        p->edge = UINT64_MAX / 2; /* the longest numbers a line can hold */
    }
    pick_all(&sw);
    uint64_t now = ts_mono_ns();
    pick_explain(&sw, now);
    CHECK(sw.wait_seq == 100 && sw.wait_since_ns == now, "the wait on seq 100 starts");
    pick_explain(&sw, now + SW_EXPLAIN_NS - 1);
    CHECK(sw.wait_logged_ns == now, "nothing said before SW_EXPLAIN_NS");
    pick_explain(&sw, now + SW_EXPLAIN_NS + 1);
    CHECK(sw.wait_logged_ns == now + SW_EXPLAIN_NS + 1, "said after SW_EXPLAIN_NS (the line above)");
    sw.play_seq = 101;
    pick_explain(&sw, now + 2 * SW_EXPLAIN_NS);
    CHECK(sw.wait_seq == 101 && sw.wait_since_ns == now + 2 * SW_EXPLAIN_NS, "a new wait when playout moves on");
}

int main(void)
{
    test_cheapest_holder();
    test_broadcaster_last();
    test_hedge_near_playback();
    test_timeouts();
    test_snubbed_left_out();
    test_forgotten_requests();
    test_newer_answer();
    test_cancel_before();
    test_explain();
    setup();
    CHECK_DONE();
}
