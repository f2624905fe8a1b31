/* swarm/holepunch.c as relay and as target: which ut_holepunch messages go out to whom, the
 * BEP 55 error codes, the per-peer budget, and a malformed message closing the connection.
 * Peers are socketpairs: what the relay writes is read back from the other end. */
#include "check.h"
#include "holepunch.h"
#include "peer.h"
#include "ts_buf.h"
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static swarm_t sw;
static peer_t peers[3];
static int far_end[3];

static void mkpeer(int i, uint32_t ip, uint16_t port, uint8_t hp_id)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    peer_t *p = &peers[i];
    memset(p, 0, sizeof *p);
    p->sw = &sw;
    p->fd = sv[0];
    far_end[i] = sv[1];
    p->addr.sin_family = AF_INET;
    p->addr.sin_addr.s_addr = htonl(ip);
    p->addr.sin_port = htons(port);
    p->listen_port = port;
    p->state = PEER_ACTIVE;
    p->hp_id = hp_id;
    p->serial = (uint64_t)i + 1;
    ts_buf_init(&p->in);
    ts_buf_init(&p->out);
    p->next = sw.peers;
    sw.peers = p;
}

/* The ut_holepunch messages peer i was sent since last asked: how many, the last one in *h. */
static int received(int i, uint8_t want_id, ts_wire_hp_t *h)
{
    uint8_t buf[1024];
    peer_flush_all(&sw); /* what the loop writes before it waits */
    ssize_t n = recv(far_end[i], buf, sizeof buf, MSG_DONTWAIT);
    int count = 0;
    size_t off = 0;
    while (n > 0 && off < (size_t)n) {
        ts_wire_msg_t m;
        ssize_t used = ts_wire_parse(buf + off, (size_t)n - off, 1024, &m);
        if (used <= 0 || m.id != TS_WIRE_EXTENDED || m.ext_id != want_id ||
            ts_wire_parse_holepunch(m.data, m.data_len, h) < 0)
            return -1;
        count++;
        off += (size_t)used;
    }
    return count;
}

static void send_to_relay(int from, uint8_t type, uint32_t ip, uint16_t port)
{
    ts_buf_t b;
    ts_buf_init(&b);
    ts_wire_put_holepunch(&b, HP_EXT_ID, type, ip, port, 0);
    ts_wire_msg_t m;
    ts_wire_parse(b.data, b.len, 1024, &m);
    hp_on_message(&peers[from], m.data, m.data_len);
    ts_buf_free(&b);
}

int main(void)
{
    memset(&sw, 0, sizeof sw);
    sw.loop = ev_default_loop(0);
    sw.max_peers = 24;
    sw.announce_ip = 0x0b000001; /* the relay: 11.0.0.1:7000 */
    sw.port = 7000;
    mkpeer(0, 0x0b000101, 5001, 9);  /* I, the initiator */
    mkpeer(1, 0x0b000201, 5002, 10); /* T, the target */
    mkpeer(2, 0x0b000301, 5003, 0);  /* N, no ut_holepunch */
    ts_wire_hp_t h;

    send_to_relay(0, TS_WIRE_HP_RENDEZVOUS, 0x0b000201, 5002);
    CHECK(received(1, 10, &h) == 1 && h.type == TS_WIRE_HP_CONNECT && h.ip == 0x0b000101 && h.port == 5001,
          "the target is told to connect to the initiator, under the target's id");
    CHECK(received(0, 9, &h) == 1 && h.type == TS_WIRE_HP_CONNECT && h.ip == 0x0b000201 && h.port == 5002,
          "the initiator is told to connect to the target");
    CHECK(sw.c_punch_relayed == 1, "punch_relayed counted");

    struct { uint32_t ip; uint16_t port; uint32_t err; const char *what; } cases[] = {
        { 0x0b000301, 5003, TS_WIRE_HP_NO_SUPPORT, "a target without ut_holepunch: NoSupport" },
        { 0x0b090909, 1, TS_WIRE_HP_NOT_CONNECTED, "a target we are not connected to: NotConnected" },
        { 0x0b000001, 7000, TS_WIRE_HP_NO_SELF, "the relay itself: NoSelf" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        send_to_relay(0, TS_WIRE_HP_RENDEZVOUS, cases[i].ip, cases[i].port);
        CHECK(received(0, 9, &h) == 1 && h.type == TS_WIRE_HP_ERROR && h.err == cases[i].err && h.ip == cases[i].ip &&
                  h.port == cases[i].port,
              "%s", cases[i].what);
        CHECK(received(1, 10, &h) == 0 && received(2, 0, &h) == 0, "%s: nobody else told", cases[i].what);
    }
    /* that was 4 rendezvous at once, the burst: the 5th is refused and counted as junk */
    uint64_t junk = peers[0].junk;
    send_to_relay(0, TS_WIRE_HP_RENDEZVOUS, 0x0b000201, 5002);
    CHECK(received(0, 9, &h) == 0 && received(1, 10, &h) == 0 && peers[0].junk == junk + 1,
          "a rendezvous beyond the budget is dropped as junk");
    CHECK(sw.c_punch_relayed == 1, "... and not relayed");

    /* a peer that did not announce ut_holepunch gets nothing relayed and cannot make us dial */
    send_to_relay(2, TS_WIRE_HP_RENDEZVOUS, 0x0b000201, 5002);
    send_to_relay(2, TS_WIRE_HP_CONNECT, 0x0b090909, 6000);
    CHECK(received(1, 10, &h) == 0 && peers[2].junk == 2 && sw.c_punch_attempts == 0,
          "no relay, no dial for a peer without ut_holepunch (junk)");
    /* IPv6 is parsed and ignored; a malformed message closes the connection */
    uint8_t v6[TS_WIRE_HP_LEN6] = { TS_WIRE_HP_RENDEZVOUS, 1 };
    hp_on_message(&peers[1], v6, sizeof v6);
    CHECK(received(1, 10, &h) == 0 && peers[1].fd >= 0 && peers[1].junk == 0, "IPv6 rendezvous ignored");
    hp_on_message(&peers[1], v6, sizeof v6 - 1);
    CHECK(peers[1].fd < 0 && sw.c_banned == 1, "a malformed ut_holepunch message closes and bans");

    sw.no_holepunch = 1;
    send_to_relay(0, TS_WIRE_HP_RENDEZVOUS, 0x0b000201, 5002);
    CHECK(received(0, 9, &h) == 0 && sw.c_punch_relayed == 1, "--no-holepunch: no relaying");

    for (int i = 0; i < 3; i++) {
        if (peers[i].fd >= 0)
            close(peers[i].fd);
        close(far_end[i]);
        ts_buf_free(&peers[i].in);
        ts_buf_free(&peers[i].out);
    }
    hp_free(&sw);
    CHECK_DONE();
}
