/* The piece link between stages, in one process: an outlink (upstream) and inlinks (downstream)
 * on an ipc:// endpoint, driven by one libev loop. Checks what makes stage restarts lossless:
 * in-order delivery, resume after the last ack under the same identity, replay after the
 * upstream restarts, and duplicates dropped; liveness of an idle link. */
#include "check.h"
#include "ts_link.h"
#include "ts_piece.h"
#include "ts_time.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>


typedef struct {
    uint64_t got[4096];
    int n;
    int bad_payload;
} sink_t;

static void on_piece(const Ts__Piece *p, void *arg)
{
    sink_t *s = arg;
    if (s->n < 4096)
        s->got[s->n++] = p->seq;
    /* payload carries its own seq, so a piece delivered under the wrong number is caught */
    uint64_t v;
    if (p->payload.len != sizeof v || (memcpy(&v, p->payload.data, sizeof v), v != p->seq))
        s->bad_payload++;
}

static void publish(ts_outlink_t *ol, uint64_t seq)
{
    Ts__Piece p = TS__PIECE__INIT;
    p.seq = seq;
    p.timestamp_us = ts_wall_us();
    p.payload.data = (uint8_t *)&seq;
    p.payload.len = sizeof seq;
    ts_outlink_publish(ol, &p);
}

/* Run the loop until cond or timeout. */
static void run_until(struct ev_loop *loop, int (*cond)(void *), void *arg, double secs)
{
    uint64_t end = ts_mono_ns() + (uint64_t)(secs * 1e9);
    while (!cond(arg) && ts_mono_ns() < end)
        ev_run(loop, EVRUN_NOWAIT), usleep(1000);
}

static sink_t *want_sink;
static int want_n;
static int reached(void *arg) { (void)arg; return want_sink->n >= want_n; }

static int in_order_from(const sink_t *s, uint64_t first, int count)
{
    if (s->n != count)
        return 0;
    for (int i = 0; i < count; i++)
        if (s->got[i] != first + (uint64_t)i)
            return 0;
    return 1;
}

static void wait_n(struct ev_loop *loop, sink_t *s, int n, double secs)
{
    want_sink = s;
    want_n = n;
    run_until(loop, reached, NULL, secs);
}

static void settle(struct ev_loop *loop, double secs)
{
    uint64_t end = ts_mono_ns() + (uint64_t)(secs * 1e9);
    while (ts_mono_ns() < end)
        ev_run(loop, EVRUN_NOWAIT), usleep(1000);
}

static void test_link(void)
{
    char dir[] = "/tmp/tslinkXXXXXX", ep[128];
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    snprintf(ep, sizeof ep, "ipc://%s/up.ipc", dir);
    struct ev_loop *loop = ev_loop_new(0);
    void *zctx = zmq_ctx_new();
    ts_outlink_t *ol = ts_outlink_new(loop, zctx, ep, 1024, NULL, NULL, NULL);
    CHECK(ol != NULL, "outlink");

    /* 1. A subscriber from seq 0 gets 100 pieces in order. */
    sink_t a = { 0 };
    ts_inlink_t *il = ts_inlink_new(loop, zctx, ep, "down", "up", 1, 0, on_piece, &a);
    settle(loop, 0.2);
    for (uint64_t s = 0; s < 100; s++)
        publish(ol, s);
    wait_n(loop, &a, 100, 5);
    CHECK(in_order_from(&a, 0, 100), "first 100 in order (got %d)", a.n);
    CHECK(a.bad_payload == 0, "payloads match seqs");

    /* 2. The downstream acks 59 and dies; a new one under the same identity, naming no start,
     *    resumes at 60: nothing lost, nothing twice. */
    ts_inlink_ack(il, 59);
    settle(loop, 0.2);
    ts_inlink_destroy(&il);
    sink_t b = { 0 };
    il = ts_inlink_new(loop, zctx, ep, "down", "up", 0, 0, on_piece, &b);
    wait_n(loop, &b, 40, 5);
    settle(loop, 0.3);
    CHECK(in_order_from(&b, 60, 40), "resumed after last ack (got %d, first %llu)", b.n,
          (unsigned long long)(b.n ? b.got[0] : 0));

    /* 3. The upstream dies and comes back with the same ring content (as a restarted signer
     *    gets it replayed from ingest): the downstream re-subscribes from where it is and gets
     *    only the new pieces. */
    ts_outlink_destroy(&ol);
    ol = ts_outlink_new(loop, zctx, ep, 1024, NULL, NULL, NULL);
    CHECK(ol != NULL, "outlink again");
    for (uint64_t s = 80; s < 120; s++)
        publish(ol, s);
    wait_n(loop, &b, 60, 5);
    settle(loop, 0.3);
    CHECK(in_order_from(&b, 60, 60), "after upstream restart: 60..119 once each (got %d)", b.n);

    /* 4. Out-of-order publish is refused. */
    Ts__Piece p = TS__PIECE__INIT;
    p.seq = 5;
    CHECK(ts_outlink_publish(ol, &p) < 0, "publishing an old seq is refused");

    /* 5. A new subscriber with a start past the ring's oldest gets from there. */
    sink_t c = { 0 };
    ts_inlink_t *il2 = ts_inlink_new(loop, zctx, ep, "other", "up", 1, 100, on_piece, &c);
    wait_n(loop, &c, 20, 5);
    CHECK(in_order_from(&c, 100, 20), "from_seq 100 (got %d)", c.n);

    ts_inlink_destroy(&il);
    ts_inlink_destroy(&il2);
    ts_outlink_destroy(&ol);
    zmq_ctx_term(zctx);
    ev_loop_destroy(loop);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        printf("note: could not remove %s\n", dir);
}

/* ---------------------------------------------------------------- resume handshake */

typedef struct {
    int n, has_have, has_off;
    uint64_t have, off, ts;
} subs_t;

static void on_sub(const char *sub, const Ts__Subscribe *m, void *arg)
{
    subs_t *s = arg;
    s->n++;
    s->has_have = m->has_have_seq;
    s->have = m->have_seq;
    s->has_off = m->has_have_src_offset;
    s->off = m->have_src_offset;
    s->ts = m->have_timestamp_us;
}

/* Piece seq with an 8-byte payload ending at source offset end (flags as given). */
static void publish_at(ts_outlink_t *ol, uint64_t seq, uint64_t end, uint32_t flags)
{
    Ts__Piece p = TS__PIECE__INIT;
    p.seq = seq;
    p.timestamp_us = 1000 + seq;
    p.flags = flags;
    p.payload.data = (uint8_t *)&seq;
    p.payload.len = sizeof seq;
    p.has_src_offset = 1;
    p.src_offset = end;
    ts_outlink_publish(ol, &p);
}

static subs_t *want_subs;
static int want_subs_n;
static int subs_reached(void *arg) { (void)arg; return want_subs->n >= want_subs_n; }

static void test_resume(void)
{
    char dir[] = "/tmp/tslinkXXXXXX", ep[128];
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    snprintf(ep, sizeof ep, "ipc://%s/up.ipc", dir);
    struct ev_loop *loop = ev_loop_new(0);
    void *zctx = zmq_ctx_new();
    subs_t su = { 0 };
    ts_outlink_t *ol = ts_outlink_new(loop, zctx, ep, 64, NULL, NULL, NULL);
    ts_outlink_on_subscribe(ol, on_sub, &su);

    /* 1. A fresh subscriber holds nothing: its subscribe says so. */
    sink_t a = { 0 };
    ts_inlink_t *il = ts_inlink_new(loop, zctx, ep, "signer", "up", 0, 0, on_piece, &a);
    ts_inlink_check_offsets(il, 1);
    want_subs = &su, want_subs_n = 1;
    run_until(loop, subs_reached, NULL, 5);
    CHECK(su.n >= 1 && !su.has_have, "fresh subscriber: no have_seq");
    for (uint64_t s = 0; s < 10; s++)
        publish_at(ol, s, (s + 1) * 8, 0);
    wait_n(loop, &a, 10, 5);
    CHECK(in_order_from(&a, 0, 10), "10 pieces with offsets (got %d)", a.n);

    /* 2. The upstream restarts (an ingest after kill -9): the subscriber's re-subscribe names the
     *    newest piece it holds, its end offset and timestamp, which is where to continue. */
    ts_outlink_destroy(&ol);
    memset(&su, 0, sizeof su);
    ol = ts_outlink_new(loop, zctx, ep, 64, NULL, NULL, NULL);
    ts_outlink_on_subscribe(ol, on_sub, &su);
    run_until(loop, subs_reached, NULL, 5);
    CHECK(su.has_have && su.have == 9 && su.has_off && su.off == 80 && su.ts == 1009,
          "re-subscribe says have 9 ending at 80 stamped 1009 (got %d: %llu %llu %llu)", su.has_have,
          (unsigned long long)su.have, (unsigned long long)su.off, (unsigned long long)su.ts);

    /* 3. A piece that does not start where the last one ended (numbered from another idea of
     *    where we are) is dropped and the subscriber asks again at once, saying what it holds. */
    int before = su.n;
    publish_at(ol, 10, 80 + 16, 0); /* starts at 88, not 80 */
    want_subs_n = before + 1;
    run_until(loop, subs_reached, NULL, 5);
    settle(loop, 0.1);
    CHECK(a.n == 10 && su.n > before && su.have == 9 && su.off == 80, "discontinuous piece dropped, re-subscribed (n %d)",
          a.n);
    CHECK(ts_inlink_discontinuities(il) >= 1, "discontinuity counted");

    /* 4. The upstream rewinds: forgets what it published above 9 and continues from offset 80. */
    int has_off;
    uint64_t off;
    CHECK(ts_outlink_lookup(ol, 10, &has_off, &off) && has_off && off == 96, "lookup finds 10 ending at 96");
    ts_outlink_truncate(ol, 9);
    CHECK(!ts_outlink_lookup(ol, 10, &has_off, &off), "10 gone after truncate");
    publish_at(ol, 10, 88, 0);
    publish_at(ol, 11, 96, 0);
    wait_n(loop, &a, 12, 5);
    CHECK(in_order_from(&a, 0, 12), "after the rewind 10 and 11 arrive (got %d)", a.n);

    /* 5. DISCONT: a new run of the source (offsets start over) is accepted. */
    publish_at(ol, 12, 8, TS_PIECE_DISCONT);
    publish_at(ol, 13, 16, 0);
    wait_n(loop, &a, 14, 5);
    CHECK(in_order_from(&a, 0, 14), "DISCONT piece starts a new offset run (got %d)", a.n);

    /* 6. A hint from below (a restarted signer learning from its swarm): newer than what the
     *    inlink holds, it is announced at once and older pieces become duplicates. */
    before = su.n;
    ts_inlink_hint(il, 20, 1, 4000, 5000);
    want_subs_n = before + 1;
    run_until(loop, subs_reached, NULL, 5);
    CHECK(su.have == 20 && su.off == 4000 && su.ts == 5000, "hint announced (have %llu)", (unsigned long long)su.have);
    ts_inlink_hint(il, 15, 1, 1, 1);
    settle(loop, 0.1);
    CHECK(su.have == 20, "an older hint is ignored");
    for (uint64_t s = 14; s < 22; s++)
        publish_at(ol, s, s <= 20 ? s * 8 : 4000 + (s - 20) * 8, 0);
    wait_n(loop, &a, 15, 5);
    settle(loop, 0.2);
    CHECK(a.n == 15 && a.got[14] == 21, "pieces up to the hint are duplicates, 21 continues it (n %d)", a.n);

    ts_inlink_destroy(&il);
    ts_outlink_destroy(&ol);
    zmq_ctx_term(zctx);
    ev_loop_destroy(loop);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        printf("note: could not remove %s\n", dir);
}

/* ---------------------------------------------------------------- liveness */

#define ALIVE_WIN (2000ull * 1000000) /* the window asked about; stages use TS_LINK_ALIVE_NS */

static ts_inlink_t *alive_il;
static ts_outlink_t *alive_ol;
static int il_dead(void *arg) { (void)arg; return !ts_inlink_alive(alive_il, ALIVE_WIN); }
static int il_alive(void *arg) { (void)arg; return ts_inlink_alive(alive_il, ALIVE_WIN); }
static int no_subs(void *arg) { (void)arg; return ts_outlink_alive_subscribers(alive_ol, ALIVE_WIN) == 0; }

/* With no piece for longer than the window (an idle source), both ends still hear each other;
 * a dead upstream, and dead downstreams, are noticed; the restart semantics are untouched. */
static void test_alive(void)
{
    char dir[] = "/tmp/tslinkXXXXXX", ep[128];
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    snprintf(ep, sizeof ep, "ipc://%s/up.ipc", dir);
    struct ev_loop *loop = ev_loop_new(0);
    void *zctx = zmq_ctx_new();
    ts_outlink_t *ol = ts_outlink_new(loop, zctx, ep, 64, NULL, NULL, NULL);
    sink_t a = { 0 }, b = { 0 };
    ts_inlink_t *il = ts_inlink_new(loop, zctx, ep, "down", "up", 1, 0, on_piece, &a);
    /* b never acks: only its subscribes (and their replies) say it is there */
    ts_inlink_t *il2 = ts_inlink_new(loop, zctx, ep, "other", "up", 1, 0, on_piece, &b);
    CHECK(!ts_inlink_alive(il, ALIVE_WIN), "not alive before the upstream said anything");
    settle(loop, 0.2);
    publish(ol, 0);
    wait_n(loop, &a, 1, 5);
    ts_inlink_ack(il, 0);
    uint64_t last_piece = ts_mono_ns();

    /* 1. Idle for over twice the window: both ends still count as alive. */
    settle(loop, 2.25 * ALIVE_WIN / 1e9);
    CHECK(ts_mono_ns() - last_piece > 2 * ALIVE_WIN, "idle longer than the window");
    CHECK(ts_inlink_alive(il, ALIVE_WIN) && ts_inlink_alive(il2, ALIVE_WIN), "idle inlinks hear their upstream");
    CHECK(ts_outlink_alive_subscribers(ol, ALIVE_WIN) == 2, "idle outlink hears both subscribers (%llu)",
          (unsigned long long)ts_outlink_alive_subscribers(ol, ALIVE_WIN));
    CHECK(a.n == 1 && b.n == 1 && ts_inlink_pieces_in(il) == 1, "the replies are not pieces (%d, %d)", a.n, b.n);

    /* 2. The upstream dies: noticed. It comes back: alive again, and the inlink resumes after
     *    what it holds, as before. */
    ts_outlink_destroy(&ol);
    alive_il = il;
    run_until(loop, il_dead, NULL, 10);
    CHECK(!ts_inlink_alive(il, ALIVE_WIN), "a dead upstream is noticed");
    ol = ts_outlink_new(loop, zctx, ep, 64, NULL, NULL, NULL);
    run_until(loop, il_alive, NULL, 10);
    CHECK(ts_inlink_alive(il, ALIVE_WIN), "a restarted upstream is heard again");
    publish(ol, 0);
    publish(ol, 1);
    wait_n(loop, &a, 2, 5);
    settle(loop, 0.2);
    CHECK(in_order_from(&a, 0, 2), "after the upstream restart only seq 1 is new (got %d)", a.n);

    /* 3. The downstreams die: noticed. */
    ts_inlink_destroy(&il);
    ts_inlink_destroy(&il2);
    alive_ol = ol;
    run_until(loop, no_subs, NULL, 10);
    CHECK(ts_outlink_alive_subscribers(ol, ALIVE_WIN) == 0, "dead subscribers are noticed");

    ts_outlink_destroy(&ol);
    zmq_ctx_term(zctx);
    ev_loop_destroy(loop);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        printf("note: could not remove %s\n", dir);
}

int main(void)
{
    test_link();
    test_resume();
    test_alive();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
