/* The piece link between stages, in one process: an outlink (upstream) and inlinks (downstream)
 * on an ipc:// endpoint, driven by one libev loop. Checks what makes stage restarts lossless:
 * in-order delivery, resume after the last ack under the same identity, replay after the
 * upstream restarts, and duplicates dropped. Also the envelope checks and unit parsing. */
#include "check.h"
#include "ts_link.h"
#include "ts_msg.h"
#include "ts_time.h"
#include "ts_units.h"
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
    ts_inlink_t *il = ts_inlink_new(loop, zctx, ep, "down", 1, 0, on_piece, &a);
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
    il = ts_inlink_new(loop, zctx, ep, "down", 0, 0, on_piece, &b);
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
    ts_inlink_t *il2 = ts_inlink_new(loop, zctx, ep, "other", 1, 100, on_piece, &c);
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

static void test_envelope(void)
{
    char err[128];
    uint8_t junk[16] = { 0xff, 0xff, 0xff };
    CHECK(ts_msg_unpack(junk, sizeof junk, err, sizeof err) == NULL, "garbage rejected");
    CHECK(ts_msg_unpack(junk, 0, err, sizeof err) == NULL, "empty rejected");
    CHECK(ts_msg_unpack(junk, TS_MSG_MAX + 1, err, sizeof err) == NULL, "oversized rejected before parsing");

    Ts__Envelope e = TS__ENVELOPE__INIT;
    uint8_t *buf;
    size_t len;
    e.version = TS_MSG_VERSION;
    e.type = TS__MSG_TYPE__MSG_PIECE; /* but no piece body */
    CHECK(ts_msg_pack(&e, &buf, &len) == 0, "pack");
    CHECK(ts_msg_unpack(buf, len, err, sizeof err) == NULL && strstr(err, "without piece"), "piece type without body: %s", err);
    free(buf);

    Ts__Piece p = TS__PIECE__INIT;
    uint8_t sig[63] = { 0 };
    p.has_signature = 1;
    p.signature.data = sig;
    p.signature.len = sizeof sig;
    e.piece = &p;
    ts_msg_pack(&e, &buf, &len);
    CHECK(ts_msg_unpack(buf, len, err, sizeof err) == NULL, "63-byte signature rejected");
    free(buf);

    p.signature.len = 0;
    p.has_signature = 0;
    e.version = 2;
    ts_msg_pack(&e, &buf, &len);
    CHECK(ts_msg_unpack(buf, len, err, sizeof err) == NULL && strstr(err, "version"), "wrong version rejected");
    free(buf);

    e.version = TS_MSG_VERSION;
    ts_msg_pack(&e, &buf, &len);
    Ts__Envelope *ok = ts_msg_unpack(buf, len, err, sizeof err);
    CHECK(ok && ok->type == TS__MSG_TYPE__MSG_PIECE, "valid piece accepted");
    ts_msg_free(ok);
    free(buf);
}

static void test_units(void)
{
    uint64_t v;
    CHECK(ts_units_rate("2M", &v) == 0 && v == 2000000, "2M");
    CHECK(ts_units_rate("512k", &v) == 0 && v == 512000, "512k");
    CHECK(ts_units_rate("1.5Mb", &v) == 0 && v == 1500000, "1.5Mb");
    CHECK(ts_units_rate("64000", &v) == 0 && v == 64000, "plain");
    CHECK(ts_units_rate("fast", &v) < 0 && ts_units_rate("-1M", &v) < 0 && ts_units_rate("", &v) < 0 &&
              ts_units_rate("2X", &v) < 0 && ts_units_rate("99999999999G", &v) < 0,
          "bad rates rejected");
    CHECK(ts_units_size("16k", &v) == 0 && v == 16384, "16k");
    char addr[64];
    uint16_t port;
    CHECK(ts_units_hostport("0.0.0.0:8080", addr, sizeof addr, &port) == 0 && port == 8080 && !strcmp(addr, "0.0.0.0"),
          "addr:port");
    CHECK(ts_units_hostport(":7", addr, sizeof addr, &port) == 0 && port == 7 && !strcmp(addr, "127.0.0.1"), ":port");
    CHECK(ts_units_hostport("x:70000", addr, sizeof addr, &port) < 0 && ts_units_hostport("x:", addr, sizeof addr, &port) < 0,
          "bad ports rejected");
}

int main(void)
{
    test_envelope();
    test_units();
    test_link();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
