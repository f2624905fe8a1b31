/* The inter-stage envelope (lib/ts_msg.c): what unpack refuses before anyone reads a field —
 * garbage, sizes out of bounds, a type without its body, a wrong signature length, another
 * version, unknown fields, and a status reply without its status or with too much in it. */
#include "check.h"
#include "ts_msg.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void test_status_reply(void)
{
    char err[128];
    uint8_t *buf;
    size_t len;
    Ts__Envelope e = TS__ENVELOPE__INIT;
    Ts__Text t = TS__TEXT__INIT;
    e.version = TS_MSG_VERSION;
    e.type = TS__MSG_TYPE__MSG_STATUS_REP;
    e.text = &t;
    t.text = "";
    CHECK(ts_msg_pack(&e, &buf, &len) == 0, "pack");
    CHECK(ts_msg_unpack(buf, len, err, sizeof err) == NULL && strstr(err, "without status"),
          "status reply without status refused: %s", err);
    free(buf);

    Ts__InstanceStatus in = TS__INSTANCE_STATUS__INIT;
    Ts__StageStatus sg = TS__STAGE_STATUS__INIT;
    Ts__Counter c = TS__COUNTER__INIT;
    Ts__Counter *cs[1] = { &c };
    c.name = "pieces_out";
    c.value = 7;
    sg.name = "swarm";
    sg.state = "ready";
    sg.n_counters = 1;
    sg.counters = cs;
    Ts__StageStatus *sgs[65];
    for (int i = 0; i < 65; i++)
        sgs[i] = &sg;
    in.state_dir = "/tmp/x";
    in.n_stages = 2;
    in.stages = sgs;
    e.status = &in;
    e.text = NULL; /* the status alone is a reply */
    CHECK(ts_msg_pack(&e, &buf, &len) == 0, "pack");
    Ts__Envelope *ok = ts_msg_unpack(buf, len, err, sizeof err);
    CHECK(ok && ok->status && ok->status->n_stages == 2 && ok->status->stages[1]->n_counters == 1 &&
              ok->status->stages[1]->counters[0]->value == 7, "status reply accepted, read back: %s", ok ? "" : err);
    ts_msg_free(ok);
    free(buf);

    in.n_stages = 65;
    CHECK(ts_msg_pack(&e, &buf, &len) == 0, "pack");
    CHECK(ts_msg_unpack(buf, len, err, sizeof err) == NULL && strstr(err, "too many stages"),
          "65 stages refused: %s", err);
    free(buf);
}

/* A heartbeat's peer list: read back whole; too many peers or a string past the supervisor's
 * arrays refused, in a heartbeat as in a status reply. */
static void test_peers(void)
{
    char err[128], longtext[TS_MSG_PEER_TEXT + 1];
    uint8_t *buf;
    size_t len;
    Ts__Envelope e = TS__ENVELOPE__INIT;
    Ts__Heartbeat hb = TS__HEARTBEAT__INIT;
    Ts__PeerStatus ps = TS__PEER_STATUS__INIT, *pp[TS_MSG_MAX_PEERS + 1];
    for (int i = 0; i <= TS_MSG_MAX_PEERS; i++)
        pp[i] = &ps;
    ps.addr = "127.0.0.2:6881", ps.client = "libtorrent/2.0.9", ps.has_up_bps = 1, ps.up_bps = 2e6;
    ps.has_source = 1, ps.source = 1;
    e.version = TS_MSG_VERSION, e.type = TS__MSG_TYPE__MSG_HEARTBEAT, e.heartbeat = &hb;
    hb.stage = "swarm", hb.pid = 1, hb.n_peers = TS_MSG_MAX_PEERS, hb.peers = pp;
    CHECK(ts_msg_pack(&e, &buf, &len) == 0, "pack");
    Ts__Envelope *ok = ts_msg_unpack(buf, len, err, sizeof err);
    CHECK(ok && ok->heartbeat->n_peers == TS_MSG_MAX_PEERS && strcmp(ok->heartbeat->peers[63]->client, ps.client) == 0 &&
              ok->heartbeat->peers[0]->up_bps == 2e6 && ok->heartbeat->peers[0]->source &&
              !ok->heartbeat->peers[0]->has_down_bps && !ok->heartbeat->peers[0]->via,
          "64 peers read back: %s", ok ? "" : err);
    ts_msg_free(ok);
    free(buf);

    hb.n_peers = TS_MSG_MAX_PEERS + 1;
    CHECK(ts_msg_pack(&e, &buf, &len) == 0, "pack");
    CHECK(ts_msg_unpack(buf, len, err, sizeof err) == NULL && strstr(err, "too many peers"), "65 peers refused: %s", err);
    free(buf);

    memset(longtext, 'x', sizeof longtext - 1);
    longtext[sizeof longtext - 1] = 0;
    hb.n_peers = 1, ps.client = longtext;
    CHECK(ts_msg_pack(&e, &buf, &len) == 0, "pack");
    CHECK(ts_msg_unpack(buf, len, err, sizeof err) == NULL && strstr(err, "too long"), "a long client refused: %s", err);
    free(buf);

    Ts__InstanceStatus in = TS__INSTANCE_STATUS__INIT;
    in.state_dir = "/tmp/x", in.n_peer_list = 1, in.peer_list = pp;
    e.type = TS__MSG_TYPE__MSG_STATUS_REP, e.heartbeat = NULL, e.status = &in;
    CHECK(ts_msg_pack(&e, &buf, &len) == 0, "pack");
    CHECK(ts_msg_unpack(buf, len, err, sizeof err) == NULL && strstr(err, "too long"),
          "a long client refused in a status: %s", err);
    free(buf);
}

int main(void)
{
    test_envelope();
    test_status_reply();
    test_peers();
    CHECK_DONE();
}
