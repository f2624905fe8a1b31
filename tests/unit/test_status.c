/* The status message rendered (tsctl/status_render.c): a fixed Ts__Status as `tsctl status
 * --json` prints it, byte for byte as README.md documents it and tests/e2e parse it (field names,
 * order, nesting, number formats, null, a down instance); the same for /status.json and the
 * text of `tsctl status` (-v: every counter; else the key ones), and its exit code per instance. */
#include "check.h"
#include "status_render.h"
#include "ts_exit.h"
#include "sup_status.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static Ts__Counter c_ingest[] = {
    { PROTOBUF_C_MESSAGE_INIT(&ts__counter__descriptor), "seq", 109 },
    { PROTOBUF_C_MESSAGE_INIT(&ts__counter__descriptor), "pieces_out", 109 },
    { PROTOBUF_C_MESSAGE_INIT(&ts__counter__descriptor), "source_idle_s", 12 },
};
static Ts__Counter c_swarm[] = {
    { PROTOBUF_C_MESSAGE_INIT(&ts__counter__descriptor), "seq", 115 },
    { PROTOBUF_C_MESSAGE_INIT(&ts__counter__descriptor), "peers", 1 },
    { PROTOBUF_C_MESSAGE_INIT(&ts__counter__descriptor), "bytes_up", -1 },
    { PROTOBUF_C_MESSAGE_INIT(&ts__counter__descriptor), "reachable", 3 },
    { PROTOBUF_C_MESSAGE_INIT(&ts__counter__descriptor), "portmap_via", 1 },
    { PROTOBUF_C_MESSAGE_INIT(&ts__counter__descriptor), "ext_ip", 184549377 }, /* 11.0.0.1 */
    { PROTOBUF_C_MESSAGE_INIT(&ts__counter__descriptor), "ext_port", 40001 },
};

static const char golden_json[] =
    "{\"instances\":[\n"
    "{\"name\":\"demo\",\"role\":\"broadcast\",\"tstream\":\"/tmp/demo.tstream\",\"infohash\":"
    "\"2c31ecda9909c76a506b4a6929b4b219d9f44541\",\"magnet\":\"magnet:?xt=urn:btih:2c31&dn=demo\","
    "\"source\":\"testsrc\",\"tracker\":\"http://127.0.0.1:30704/announce\",\"status_url\":\"http://127.0.0.1:38387/\","
    "\"last_piece_age_s\":0.6,\"peers\":1,\"viewers\":1,\"up_bps\":2062834,\"down_bps\":2320,\"restarts_1h\":2,"
    "\"state_dir\":\"/tmp/home/demo\",\"supervisor_pid\":28611,\"stages\":["
    "{\"name\":\"ingest\",\"pid\":28614,\"state\":\"ready\",\"restarts\":0,\"metrics_url\":"
    "\"http://127.0.0.1:35185/metrics\",\"restarts_1h\":0,\"uptime_s\":7.6,\"seq\":109,\"pieces_out\":109,"
    "\"source_idle_s\":12},"
    "{\"name\":\"signer\",\"pid\":0,\"state\":\"failed\",\"restarts\":6,\"reason\":\"exit code 101: "
    "\\\"bad\\\" key\\\\x\\u0001\",\"restarts_1h\":2,\"uptime_s\":0.0}]},\n"
    "{\"name\":\"v1\",\"role\":\"viewer\",\"tstream\":\"demo.tstream\",\"infohash\":"
    "\"2c31ecda9909c76a506b4a6929b4b219d9f44541\",\"player_url\":\"http://127.0.0.1:21552/demo.ts\","
    "\"output\":\"/tmp/out.ts\",\"status_url\":\"http://127.0.0.1:44431/\",\"last_piece_age_s\":null,\"peers\":1,"
    "\"viewers\":0,\"restarts_1h\":0,\"state_dir\":\"/tmp/home/v1\",\"supervisor_pid\":28741,\"stages\":["
    "{\"name\":\"swarm\",\"pid\":28744,\"state\":\"starting\",\"restarts\":0,\"external\":\"11.0.0.1:40001\","
    "\"uptime_s\":4.1,\"seq\":115,\"peers\":1,\"bytes_up\":-1,\"reachable\":3,\"portmap_via\":1,\"ext_ip\":184549377,"
    "\"ext_port\":40001}],\"peer_list\":["
    "{\"addr\":\"127.0.0.1:6881\",\"client\":\"tstream 1\\\"\\u0001\\ufffd\\u007f\xc2\xb5\",\"incoming\":false,"
    "\"up_bps\":2320,\"down_bps\":2062834,\"up_bytes\":1000,\"down_bytes\":5000000,\"connected_s\":4.1,\"source\":true},"
    "{\"addr\":\"10.0.0.2:51000\",\"incoming\":true,\"connected_s\":12.0,\"via\":\"punched\",\"source\":false}]},\n"
    "{\"name\":\"ghost\",\"state_dir\":\"/tmp/nowhere\",\"state\":\"down\",\"stages\":[]}\n"
    "]}\n";

static const char golden_text[] =
    "demo  (broadcast)  infohash 2c31ecda9909c76a506b4a6929b4b219d9f44541\n"
    "  magnet:   magnet:?xt=urn:btih:2c31&dn=demo\n"
    "  stream:   flowing (last new piece 0.6 s ago) \xc2\xb7 peers 1 \xc2\xb7 viewers 1 \xc2\xb7 up 2.06 Mbit/s "
    "\xc2\xb7 down 0.00 Mbit/s \xc2\xb7 restarts in the last hour 2\n"
    "  page:     http://127.0.0.1:38387/\n"
    "  STAGE               PID STATE     RESTARTS  UPTIME_S  COUNTERS\n"
    "  ingest            28614 ready            0       7.6  seq=109 pieces_out=109 source_idle_s=12 \n"
    "  !! no data from the source for 12 s; ingest keeps waiting for it (tsctl logs demo ingest)\n"
    "  signer                0 failed           6       0.0  \n"
    "  !! signer FAILED: exit code 101: \"bad\" key\\x\x01\n"
    "     (tsctl logs demo signer; tsctl restart demo signer)\n"
    "\n"
    "v1  (viewer)  infohash 2c31ecda9909c76a506b4a6929b4b219d9f44541  player http://127.0.0.1:21552/demo.ts\n"
    "  stream:   no piece yet \xc2\xb7 peers 1 \xc2\xb7 viewers 0 \xc2\xb7 restarts in the last hour 0\n"
    "  page:     http://127.0.0.1:44431/\n"
    "  STAGE               PID STATE     RESTARTS  UPTIME_S  COUNTERS\n"
    "  swarm             28744 starting         0       4.1  seq=115 peers=1 bytes_up=-1 reachable=3 portmap_via=1 "
    "ext_port=40001 \n"
    "  reachable: yes (UPnP) at 11.0.0.1:40001\n"
    "\n"
    "ghost  down (state in /tmp/nowhere)\n";

/* tsctl status -v adds the swarm's peers under its stages. */
static const char golden_peers[] =
    "  peers:\n"
    "    127.0.0.1:6881        \xe2\x86\x91" "0.00 \xe2\x86\x93" "2.06 Mbit/s  4 s  out  broadcaster  tstream 1\"???\xc2\xb5\n"
    "    10.0.0.2:51000         12 s  in (punched)\n";
static const char peers_after[] = "  reachable: yes (UPnP) at 11.0.0.1:40001\n";

static int same(const ts_buf_t *b, const char *want)
{
    if (b->len == strlen(want) && memcmp(b->data, want, b->len) == 0)
        return 1;
    size_t i = 0;
    while (i < b->len && want[i] && b->data[i] == (uint8_t)want[i])
        i++;
    printf("differs at byte %zu:\n  got:  %.*s\n  want: %.60s\n", i, (int)(b->len - i < 60 ? b->len - i : 60),
           (const char *)b->data + i, want + i);
    return 0;
}

/* Without -v, the swarm's line drops what is not a key counter (bytes_up, reachable, portmap_via,
 * ext_port); the rest is as with -v. The exit code of `tsctl status NAME` for each instance. */
static void brief_and_verdicts(const Ts__Status *st, Ts__InstanceStatus *b, Ts__InstanceStatus *v,
                               const Ts__InstanceStatus *d)
{
    static const char extra[] = "bytes_up=-1 reachable=3 portmap_via=1 ext_port=40001 ";
    char want[sizeof golden_text];
    const char *at = strstr(golden_text, extra);
    snprintf(want, sizeof want, "%.*s%s", (int)(at - golden_text), golden_text, at + strlen(extra));
    ts_buf_t out;
    ts_buf_init(&out);
    status_render(st, STATUS_TEXT, &out);
    CHECK(same(&out, want), "tsctl status: key counters only");
    ts_buf_free(&out);

    CHECK(status_verdict(b) == TS_EXIT_DOWN, "a failed stage: down");
    CHECK(status_verdict(v) == TS_EXIT_DEGRADED, "a stage starting, no piece yet: degraded");
    CHECK(status_verdict(d) == TS_EXIT_DOWN, "no supervisor: down");
    size_t n = b->n_stages;
    b->n_stages = 1; /* ingest alone: ready, a piece 0.6 s ago */
    CHECK(status_verdict(b) == TS_EXIT_OK, "ready and flowing: ok");
    b->last_piece_age_s = STATUS_STALL_S + 1;
    CHECK(status_verdict(b) == TS_EXIT_DEGRADED, "stalled: degraded");
    b->last_piece_age_s = 0.6;
    b->n_stages = n;
    v->stages[0]->state = "ready";
    v->last_piece_age_s = 1;
    CHECK(status_verdict(v) == TS_EXIT_OK, "a viewer ready and flowing: ok");
    v->stages[0]->state = "starting";
    v->last_piece_age_s = NAN;
}

int main(void)
{
    Ts__Counter *ci[] = { &c_ingest[0], &c_ingest[1], &c_ingest[2] }, *cs[] = { &c_swarm[0], &c_swarm[1], &c_swarm[2], &c_swarm[3],
                                                                                   &c_swarm[4], &c_swarm[5], &c_swarm[6] };
    Ts__StageStatus ingest = TS__STAGE_STATUS__INIT, signer = TS__STAGE_STATUS__INIT, swarm = TS__STAGE_STATUS__INIT;
    ingest.name = "ingest", ingest.pid = 28614, ingest.state = "ready", ingest.restarts = 0;
    ingest.metrics_url = "http://127.0.0.1:35185/metrics", ingest.has_restarts_1h = 1, ingest.restarts_1h = 0;
    ingest.uptime_s = 7.6, ingest.n_counters = 3, ingest.counters = ci;
    signer.name = "signer", signer.pid = 0, signer.state = "failed", signer.restarts = 6;
    signer.reason = "exit code 101: \"bad\" key\\x\x01", signer.has_restarts_1h = 1, signer.restarts_1h = 2;
    swarm.name = "swarm", swarm.pid = 28744, swarm.state = "starting", swarm.uptime_s = 4.14;
    swarm.n_counters = 7, swarm.counters = cs;
    Ts__StageStatus *bst[] = { &ingest, &signer }, *vst[] = { &swarm };
    /* The swarm's peers: a client string from the network with a quote, controls and a byte that is
     * not UTF-8 (escaped, or replaced), and a peer whose rates are absent (left out). */
    Ts__PeerStatus p1 = TS__PEER_STATUS__INIT, p2 = TS__PEER_STATUS__INIT, *vpeers[] = { &p1, &p2 };
    p1.addr = "127.0.0.1:6881", p1.client = "tstream 1\"\x01\xff\x7f\xc2\xb5", p1.has_incoming = 1;
    p1.has_up_bps = p1.has_down_bps = 1, p1.up_bps = 2320.4, p1.down_bps = 2062834.4, p1.has_up_bytes = 1;
    p1.up_bytes = 1000, p1.has_down_bytes = 1, p1.down_bytes = 5000000, p1.has_connected_s = 1, p1.connected_s = 4.1;
    p1.has_source = 1, p1.source = 1;
    p2.addr = "10.0.0.2:51000", p2.has_incoming = 1, p2.incoming = 1, p2.has_connected_s = 1, p2.connected_s = 12;
    p2.via = "punched", p2.has_source = 1;

    Ts__InstanceStatus b = TS__INSTANCE_STATUS__INIT, v = TS__INSTANCE_STATUS__INIT, d = TS__INSTANCE_STATUS__INIT;
    b.name = "demo", b.role = "broadcast", b.tstream = "/tmp/demo.tstream";
    b.infohash = "2c31ecda9909c76a506b4a6929b4b219d9f44541", b.magnet = "magnet:?xt=urn:btih:2c31&dn=demo";
    b.source = "testsrc", b.tracker = "http://127.0.0.1:30704/announce", b.status_url = "http://127.0.0.1:38387/";
    b.has_last_piece_age_s = 1, b.last_piece_age_s = 0.6, b.has_peers = 1, b.peers = 1, b.has_viewers = 1;
    b.viewers = 1, b.has_up_bps = b.has_down_bps = 1, b.up_bps = 2062834.4, b.down_bps = 2319.5;
    b.has_restarts_1h = 1, b.restarts_1h = 2, b.state_dir = "/tmp/home/demo", b.has_supervisor_pid = 1;
    b.supervisor_pid = 28611, b.n_stages = 2, b.stages = bst;
    v.name = "v1", v.role = "viewer", v.tstream = "demo.tstream", v.infohash = b.infohash;
    v.player_url = "http://127.0.0.1:21552/demo.ts", v.output = "/tmp/out.ts", v.status_url = "http://127.0.0.1:44431/";
    v.has_last_piece_age_s = 1, v.last_piece_age_s = NAN, v.has_peers = 1, v.peers = 1, v.has_viewers = 1;
    v.viewers = 0, v.has_restarts_1h = 1, v.state_dir = "/tmp/home/v1", v.has_supervisor_pid = 1;
    v.supervisor_pid = 28741, v.n_stages = 1, v.stages = vst, v.n_peer_list = 2, v.peer_list = vpeers;
    d.name = "ghost", d.state_dir = "/tmp/nowhere", d.state = "down";
    Ts__InstanceStatus *all[] = { &b, &v, &d };
    Ts__Status st = TS__STATUS__INIT;
    st.n_instances = 3, st.instances = all;

    ts_buf_t out;
    ts_buf_init(&out);
    status_render(&st, STATUS_JSON, &out);
    CHECK(same(&out, golden_json), "tsctl status --json");
    ts_buf_free(&out);

    /* The message survives the trip from supervisor to tsctl status unchanged. */
    Ts__Envelope e = TS__ENVELOPE__INIT;
    Ts__Text t = TS__TEXT__INIT;
    e.version = TS_MSG_VERSION, e.type = TS__MSG_TYPE__MSG_STATUS_REP, e.text = &t, t.text = "", e.status = &b;
    uint8_t *wire;
    size_t len;
    CHECK(ts_msg_pack(&e, &wire, &len) == 0, "pack");
    Ts__Envelope *back = ts_msg_unpack(wire, len, NULL, 0);
    CHECK(back && back->status, "unpack");
    if (back && back->status) {
        Ts__InstanceStatus *one[] = { back->status, &v, &d };
        Ts__Status st2 = st;
        st2.instances = one;
        ts_buf_init(&out);
        status_render(&st2, STATUS_JSON, &out);
        CHECK(same(&out, golden_json), "--json after the wire");
        ts_buf_free(&out);
    }
    ts_msg_free(back);
    free(wire);
    e.status = &v; /* and the peers with it */
    CHECK(ts_msg_pack(&e, &wire, &len) == 0, "pack a viewer");
    back = ts_msg_unpack(wire, len, NULL, 0);
    CHECK(back && back->status && back->status->n_peer_list == 2, "unpack a viewer");
    if (back && back->status) {
        Ts__InstanceStatus *one[] = { &b, back->status, &d };
        Ts__Status st2 = st;
        st2.instances = one;
        ts_buf_init(&out);
        status_render(&st2, STATUS_JSON, &out);
        CHECK(same(&out, golden_json), "--json after the wire, with peers");
        ts_buf_free(&out);
    }
    ts_msg_free(back);
    free(wire);

    ts_buf_init(&out);
    status_render(&st, STATUS_JSON_ONE, &out);
    const char *first = strchr(golden_json, '\n') + 1;
    char want[2048];
    snprintf(want, sizeof want, "%.*s", (int)(strstr(first, "]},\n") + 2 - first), first);
    CHECK(same(&out, want), "/status.json: one instance's object");
    ts_buf_free(&out);

    ts_buf_init(&out);
    status_render(&st, STATUS_TEXT_ALL, &out);
    char want_all[sizeof golden_text + sizeof golden_peers];
    const char *cut = strstr(golden_text, peers_after) + strlen(peers_after);
    snprintf(want_all, sizeof want_all, "%.*s%s%s", (int)(cut - golden_text), golden_text, golden_peers, cut);
    CHECK(same(&out, want_all), "tsctl status -v");
    ts_buf_free(&out);
    brief_and_verdicts(&st, &b, &v, &d);

    Ts__Status none = TS__STATUS__INIT;
    ts_buf_init(&out);
    status_render(&none, STATUS_JSON, &out);
    CHECK(same(&out, "{\"instances\":[]}\n"), "no instances, JSON");
    ts_buf_free(&out);
    ts_buf_init(&out);
    status_render(&none, STATUS_TEXT, &out);
    CHECK(same(&out, "no instances\n"), "no instances, text");
    ts_buf_free(&out);

    /* One definition of ready (issue 16): an up stage is shown as its own readiness says. */
    proc_t p;
    const char *why;
    memset(&p, 0, sizeof p);
    p.state = S_READY;
    snprintf(p.why, sizeof p.why, "no signer heard from for 5 s");
    CHECK(strcmp(sup_status_state(&p, &why), "unready") == 0 && why && strcmp(why, p.why) == 0,
          "an up stage that is not ready is unready, with its reason");
    p.ok = 1;
    p.why[0] = 0;
    CHECK(strcmp(sup_status_state(&p, &why), "ready") == 0 && !why, "an up stage that is ready");
    snprintf(p.why, sizeof p.why, "source idle 12 s");
    CHECK(strcmp(sup_status_state(&p, &why), "ready") == 0 && why && strcmp(why, "source idle 12 s") == 0,
          "a ready stage with a note");
    p.state = S_FAILED;
    snprintf(p.reason, sizeof p.reason, "exit code 101: configuration or usage error");
    CHECK(strcmp(sup_status_state(&p, &why), "failed") == 0 && why == p.reason, "failed, with its reason");
    p.state = S_STARTING;
    CHECK(strcmp(sup_status_state(&p, &why), "starting") == 0 && !why, "starting");

    Ts__StageStatus un = TS__STAGE_STATUS__INIT, *unp = &un;
    Ts__InstanceStatus ui = TS__INSTANCE_STATUS__INIT, *uip = &ui;
    Ts__Status us = TS__STATUS__INIT;
    un.name = "swarm", un.pid = 7, un.state = "unready", un.reason = "no peers";
    ui.name = "v1", ui.role = "viewer", ui.state_dir = "/tmp/v1", ui.n_stages = 1, ui.stages = &unp;
    us.n_instances = 1, us.instances = &uip;
    ts_buf_init(&out);
    status_render(&us, STATUS_TEXT, &out);
    ts_buf_putc(&out, 0);
    CHECK(strstr((char *)out.data, "  swarm                 7 unready  ") &&
              strstr((char *)out.data, "\n  !! swarm not ready: no peers\n"),
          "text: an unready stage and why");
    ts_buf_free(&out);
    ts_buf_init(&out);
    status_render(&us, STATUS_JSON, &out);
    ts_buf_putc(&out, 0);
    CHECK(strstr((char *)out.data, "\"state\":\"unready\",\"restarts\":0,\"reason\":\"no peers\""), "JSON: state and reason");
    ts_buf_free(&out);
    CHECK_DONE();
}
