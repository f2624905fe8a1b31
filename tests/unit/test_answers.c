/* What a piece on the wire settles. For a viewer (swarm/dispatch.c + picker.c): the answer to its
 * request (PROTOCOL.md section 3). For the broadcaster (fanout.c + source.c): when a piece it sent
 * may be acked to the signer, i.e. is no longer lost if the broadcaster dies.
 *
 * The first. A request names an index and a server answers with the newest piece it holds there,
 * so a viewer a window behind its server, asking for s just as s + N arrived there, gets s + N.
 * That is an honest answer: the server has also marked the viewer as holding s + N and will never
 * announce it. The viewer must end its request without blaming the server, learn that the server
 * holds s + N (or it never asks for it: at the end of a broadcast it then waits for its last piece
 * forever), and must not take a piece a window ahead for a jump of the stream. A seq that cannot
 * exist yet stays a wrong answer.
 *
 * A real viewer swarm (metainfo, verifier, window) with one peer on a socketpair; the peer's
 * messages go into its input buffer and through dispatch_input, as the read callback would.
 *
 * The second: a fault-injection run lost a piece when the broadcaster's swarm was killed 0.2 s
 * after the piece arrived: it had queued the piece to a viewer, counted it safe at once, acked it,
 * and died before the viewer got it; the signer replayed only what followed. Safe now means the
 * viewer's kernel has acknowledged the bytes (a TCP connection over the loopback here). */
#include "check.h"
#include "dispatch.h"
#include "edge.h"
#include "fanout.h"
#include "peer.h"
#include "picker.h"
#include "run.h"
#include "sign.h"
#include "ts_metainfo.h"
#include "ts_piece.h"
#include "ts_time.h"
#include "wire.h"
#include "../../swarm/source.h" /* (ingest has a source.h too) */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define N 64
#define PL 1024u

static char dir[] = "/tmp/ts-answers-XXXXXX";
static ts_signkey_t *key;

/* A signed piece of seq made `age_s` seconds ago into piece[]; its length. */
static size_t make_piece(const swarm_t *sw, uint64_t seq, double age_s, uint8_t *piece, ts_trailer_t *t)
{
    uint8_t payload[64];
    memset(t, 0, sizeof *t);
    memset(payload, (int)seq, sizeof payload);
    t->version = TS_PIECE_VERSION;
    t->payload_len = sizeof payload;
    t->seq = seq;
    t->timestamp_us = ts_wall_us() - (uint64_t)(age_s * 1e6);
    CHECK(ts_signkey_sign(key, sw->meta.infohash, t, payload) == 0, "piece %llu signed", (unsigned long long)seq);
    memcpy(piece, payload, sizeof payload);
    ts_trailer_encode(t, piece + sizeof payload);
    return sizeof payload + TS_TRAILER_LEN;
}

/* ... as a wire PIECE message from p, read as the read callback would. */
static void feed_piece(peer_t *p, uint64_t seq, double age_s)
{
    uint8_t piece[64 + TS_TRAILER_LEN];
    ts_trailer_t t;
    size_t len = make_piece(p->sw, seq, age_s, piece, &t);
    ts_buf_t b;
    ts_buf_init(&b);
    ts_wire_put_piece(&b, (uint32_t)(seq % N), 0, piece, len);
    ts_buf_put(&p->in, b.data, b.len);
    ts_buf_free(&b);
    dispatch_input(p);
}

/* A viewer hooked at seq 100 holding 96..99, made `age_s` ago, and one peer that announced
 * 100..110 and has been asked for them. */
static peer_t *setup(swarm_t *sw, double age_s)
{
    memset(sw, 0, sizeof *sw);
    sw->loop = ev_loop_new(0);
    char path[64];
    snprintf(path, sizeof path, "%s/s.tstream", dir);
    swarm_cfg_t cfg = { .tstream = path };
    CHECK(swarm_load(sw, &cfg) == 0, "viewer swarm loaded");
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    close(sv[1]);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(6881) };
    a.sin_addr.s_addr = htonl(0x0a000002u);
    peer_t *p = peer_new(sw, sv[0], &a, 0, 0);
    p->state = PEER_ACTIVE;
    p->peer_choking = 0;
    p->has = calloc(N, sizeof *p->has);
    p->told = calloc(N, sizeof *p->told);
    for (uint64_t s = 96; s < 100; s++) {
        uint8_t piece[64 + TS_TRAILER_LEN];
        ts_trailer_t t;
        size_t len = make_piece(sw, s, age_s, piece, &t);
        CHECK(ts_window_put(sw->win, piece, len, &t, s % N) == TS_WIN_OK, "piece %llu held", (unsigned long long)s);
        edge_note(sw, s, &t);
    }
    sw->hooked = 1;
    sw->play_seq = 100;
    for (uint64_t s = 100; s <= 110; s++)
        peer_mark(p, s);
    pick_all(sw);
    return p;
}

static int asked(const peer_t *p, uint64_t seq)
{
    for (int i = 0; i < p->nreq; i++)
        if (p->req[i].seq == seq)
            return 1;
    return 0;
}

static void teardown(swarm_t *sw)
{
    struct ev_loop *loop = sw->loop;
    swarm_close(sw);
    swarm_free(sw);
    ev_loop_destroy(loop);
}

static void test_newer_answer(void)
{
    swarm_t sw;
    /* our newest piece was made 40 s ago: the live edge may be far ahead (we lag) */
    peer_t *p = setup(&sw, 40);
    CHECK(ts_window_has(sw.win, 99) && asked(p, 101), "the viewer holds 96..99 and asked its peer for 101");
    feed_piece(p, 101 + N, 40 - (double)N / 15);
    CHECK(peer_alive(p) && p->junk == 0, "an answer with seq 101 + N is no junk (junk %llu)", (unsigned long long)p->junk);
    CHECK(sw.c_answers_gone == 1 && sw.c_wrong_pieces == 0, "counted as answers_gone (%llu), not wrong (%llu)",
          (unsigned long long)sw.c_answers_gone, (unsigned long long)sw.c_wrong_pieces);
    CHECK(!asked(p, 101) && p->fails == 0, "the request for 101 is over, and no miss of the peer's");
    CHECK(peer_has(p, 101 + N) && !peer_has(p, 101), "the peer is known to hold 101 + N (and no longer 101)");
    CHECK(!ts_window_has(sw.win, 101 + N) && ts_window_has(sw.win, 99) && sw.play_seq == 100,
          "a piece a window ahead is not kept, and is no jump: the window and the playback point stay");
    pick_all(&sw);
    CHECK(!asked(p, 101), "101 is not asked of it again");
    teardown(&sw);
}

static void test_newer_beyond_bound(void)
{
    swarm_t sw;
    /* our newest piece is fresh: nothing can be a window ahead of it yet */
    peer_t *p = setup(&sw, 0);
    CHECK(asked(p, 101), "asked its peer for 101");
    feed_piece(p, 101 + N, 0);
    CHECK(sw.c_wrong_pieces == 1 && sw.c_answers_gone == 0 && p->junk == 1,
          "a newer seq beyond the live edge we can believe is a wrong answer (wrong %llu, gone %llu, junk %llu)",
          (unsigned long long)sw.c_wrong_pieces, (unsigned long long)sw.c_answers_gone, (unsigned long long)p->junk);
    CHECK(!peer_has(p, 101 + N), "... and not believed");
    teardown(&sw);
}

static void test_older_answer(void)
{
    swarm_t sw;
    peer_t *p = setup(&sw, 40);
    /* 105 - N is older than the window by far: a replay, the peer is banned */
    feed_piece(p, 105 - N, 40);
    CHECK(!peer_alive(p) && sw.c_answers_gone == 0, "an answer one window older than asked is a replay: closed");
    teardown(&sw);
}

/* A TCP connection over the loopback: *ours is the broadcaster's end, the return value the
 * viewer's. */
static int tcp_pair(int *ours)
{
    int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    CHECK(l >= 0 && c >= 0 && bind(l, (struct sockaddr *)&a, sizeof a) == 0 && listen(l, 1) == 0 &&
              getsockname(l, (struct sockaddr *)&a, &al) == 0 && connect(c, (struct sockaddr *)&a, sizeof a) == 0,
          "loopback connection");
    *ours = accept(l, NULL, NULL);
    close(l);
    return c;
}

static void test_ack_after_delivery(void)
{
    swarm_t sw;
    memset(&sw, 0, sizeof sw);
    sw.loop = ev_loop_new(0);
    sw.is_source = 1;
    char path[64];
    snprintf(path, sizeof path, "%s/s.tstream", dir);
    swarm_cfg_t cfg = { .tstream = path };
    CHECK(swarm_load(&sw, &cfg) == 0 && sw.src_safe, "broadcaster swarm loaded");
    int ours, theirs = tcp_pair(&ours);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(6881) };
    a.sin_addr.s_addr = htonl(0x0a000003u);
    peer_t *p = peer_new(&sw, ours, &a, 0, 0);
    p->state = PEER_ACTIVE;
    p->has = calloc(N, sizeof *p->has);
    p->told = calloc(N, sizeof *p->told);
    uint8_t piece[64 + TS_TRAILER_LEN];
    ts_trailer_t t;
    size_t len = make_piece(&sw, 7, 0, piece, &t);
    CHECK(ts_window_put(sw.win, piece, len, &t, 7) == TS_WIN_OK, "piece 7 held");
    edge_note(&sw, 7, &t);
    p->rq[0] = 7; /* the viewer asked for index 7 */
    p->rq_len = 1;
    fanout_serve(&sw);
    CHECK(p->out.len > len && peer_has(p, 7), "piece 7 queued to the viewer, which now counts as holding it");
    source_confirm_sent(&sw);
    CHECK(sw.src_safe[7] != 8 && p->sent_len == 1, "not yet safe: the piece is still in our buffer");
    peer_flush(p);
    CHECK(p->out.len == 0, "written to the socket");
    for (int i = 0; i < 300 && sw.src_safe[7] != 8; i++) { /* (a delayed ACK: up to 3 s) */
        usleep(10000);
        source_confirm_sent(&sw);
    }
    CHECK(sw.src_safe[7] == 8 && p->sent_len == 0, "safe once the viewer's kernel acknowledged its bytes");
    close(theirs);
    teardown(&sw);
}

int main(void)
{
    CHECK(mkdtemp(dir) != NULL, "temporary directory");
    char path[64];
    snprintf(path, sizeof path, "%s/key.pem", dir);
    char err[256];
    key = ts_signkey_load(path, 1, err, sizeof err);
    CHECK(key != NULL, "signing key created: %s", key ? "" : err);
    ts_metainfo_t m;
    memset(&m, 0, sizeof m);
    strcpy(m.name, "answers");
    strcpy(m.authmethod, "ECDSA");
    m.piece_len = PL;
    m.npieces = N;
    CHECK(ts_signkey_pubkey_der(key, &m.pubkey, &m.pubkey_len) == 0, "public key");
    snprintf(path, sizeof path, "%s/s.tstream", dir);
    CHECK(ts_metainfo_save(path, &m, err, sizeof err) == 0, "metainfo saved: %s", err);
    free(m.pubkey);
    test_newer_answer();
    test_newer_beyond_bound();
    test_older_answer();
    test_ack_after_delivery();
    ts_signkey_destroy(&key);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "temporary directory removed");
    CHECK_DONE();
}
