/* The BitTorrent peer protocol on one connection: handshake and message dispatch. Every length
 * from the peer is checked by wire.c before use; a protocol error or a piece that fails
 * verification closes the connection and bans the address (known_misbehaved). */
#include "dispatch.h"
#include "edge.h"
#include "fanout.h"
#include "g2g.h"
#include "guard.h"
#include "holepunch.h"
#include "known.h"
#include "peer.h"
#include "picker.h"
#include "playout.h"
#include "reach.h"
#include "push.h"
#include "ts_log.h"
#include "ts_time.h"
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define LIVE_EXT_ID 1 /* the ids under which we accept ts_live and ut_pex messages */
#define PEX_EXT_ID 2
#define MD_EXT_ID 3   /* ut_metadata (BEP 9) */
#define MD_SERVE_MAX 4 /* times one peer may fetch the whole info dict before further requests are junk */
#define HTTP_MAX 8192

#define alive peer_alive

static void send_bitfield(peer_t *p)
{
    swarm_t *sw = p->sw;
    if (!sw->has_edge)
        return;
    size_t nbytes = (size_t)((sw->n + 7) / 8);
    uint8_t *bits = calloc(1, nbytes);
    if (!bits)
        return;
    uint64_t lo = sw->edge >= sw->n ? sw->edge - sw->n + 1 : 0;
    for (uint64_t s = lo; s <= sw->edge; s++)
        if (ts_window_has(sw->win, s)) {
            uint64_t i = s % sw->n;
            bits[i / 8] |= (uint8_t)(0x80 >> (i % 8));
            p->told[i] = s + 1; /* announced: its requests for these show nothing (give-to-get) */
        }
    ts_wire_put_bitfield(&p->out, bits, nbytes);
    free(bits);
}

static void send_ext_handshake(peer_t *p)
{
    swarm_t *sw = p->sw;
    /* "p": where others reach us, the mapped port when the router maps one; "yourip": where we see
     * it, so that it learns whether it is behind NAT (reach.c) */
    ts_ext_hs_t x = { .has_live = 1, .live_id = LIVE_EXT_ID, .port = sw->ext_port ? sw->ext_port : sw->port,
                      .has_edge = sw->has_edge, .edge = sw->edge, .rap = sw->rap, .source = sw->is_source,
                      .pex_id = PEX_EXT_ID, .md_id = MD_EXT_ID, .md_size = sw->meta.info_len,
                      .has_yourip = 1, .yourip = ntohl(p->addr.sin_addr.s_addr),
                      .hp_id = sw->no_holepunch ? 0 : HP_EXT_ID, .push = !sw->push_off && !sw->is_source,
                      .reject = 1 };
    ts_wire_put_ext_handshake(&p->out, &x);
    p->told_edge = sw->has_edge;
}

/* A second connection to a peer we are connected to. Dials that crossed (one each way, both new):
 * keep the one dialled by the smaller peer id, as the other end decides too. Otherwise (one side
 * reaches the other at a second address: NAT, a container's gateway) keep the settled one —
 * keeping the newer swapped the two on every redial, for ever. Our handshake goes out before we
 * close a dial we answered, so that its dialler learns whom it reached: the address a dropped
 * dial of ours went to is not dialled again while that peer stays connected (known.c). The
 * close is routine: logged at debug (a settled one we drop, announced at info, at info). */
static int duplicate(peer_t *p)
{
    int we_lower = memcmp(p->sw->peer_id, p->id, 20) < 0;
    uint64_t now = ts_mono_ns();
    for (peer_t *q = p->sw->peers; q; q = q->next) {
        if (q == p || !alive(q) || q->state != PEER_ACTIVE || memcmp(q->id, p->id, 20) != 0)
            continue;
        int settled = q->outgoing == p->outgoing || now - q->connected_ns >= SW_DUP_SETTLED_NS;
        peer_t *keep = settled || q->outgoing == we_lower ? q : p, *drop = keep == p ? q : p;
        if (drop->outgoing)
            known_alias(p->sw, ntohl(drop->addr.sin_addr.s_addr), ntohs(drop->addr.sin_port), p->id);
        p->sw->c_dup_conns++;
        peer_close_gently(drop, "duplicate connection");
        return keep != p;
    }
    return 0;
}

static int on_handshake(peer_t *p)
{
    swarm_t *sw = p->sw;
    ts_handshake_t h;
    int rc = ts_wire_handshake_decode(p->in.data, p->in.len, &h);
    if (rc == 1)
        return 0;
    if (rc < 0 || memcmp(h.infohash, sw->meta.infohash, 20) != 0) {
        if (rc < 0)
            known_misbehaved(p, "not a BitTorrent handshake");
        else
            peer_close(p, "wrong infohash");
        return -1;
    }
    if (memcmp(h.peer_id, sw->peer_id, 20) == 0) {
        peer_close(p, "connected to self");
        return -1;
    }
    if (!p->outgoing && peer_count(sw) >= sw->max_peers) {
        peer_close(p, "too many peers");
        return -1;
    }
    /* Before anything else is spent on it (our bitfield, its pieces' signatures): a bounded rate
     * of new peers per /24 and overall, so many addresses do not buy many chances. */
    if (!p->outgoing && !p->admitted && guard_admit(sw, ntohl(p->addr.sin_addr.s_addr), ts_mono_ns()) <= 0) {
        peer_close(p, "admission rate exceeded");
        return -1;
    }
    /* per-index tables, only now that it is a peer (a flood of connections costs no memory) */
    if (!(p->has = calloc(sw->n, sizeof *p->has)) || !(p->told = calloc(sw->n, sizeof *p->told))) {
        peer_close(p, "out of memory");
        return -1;
    }
    ts_buf_consume(&p->in, TS_WIRE_HANDSHAKE_LEN);
    memcpy(p->id, h.peer_id, 20);
    p->ext = ts_wire_handshake_ext(&h);
    if (!p->outgoing)
        peer_send_handshake(p);
    p->state = PEER_ACTIVE;
    if (duplicate(p))
        return -1;
    pick_new_peer(p, ts_mono_ns());
    char a[64];
    const char *dir = hp_connected(p) ? "punch" : p->outgoing ? "out" : "in";
    ts_log_fields_t f = { 0 };
    ts_log_field(&f, "peer", "%s", peer_addr(p, a, sizeof a));
    ts_log_field(&f, "direction", "%s", dir);
    ts_log_kv(TS_LOG_INFO, &f, "peer %s connected (%s)", a, dir);
    p->announced = 1;
    if (!p->outgoing && !p->punch) /* a punched one came in through the hole we made */
        reach_note_incoming(sw, ntohl(p->addr.sin_addr.s_addr));
    if (p->ext)
        send_ext_handshake(p);
    send_bitfield(p);
    /* Live: everyone who asks is served; upload is bounded by the send-queue limit. */
    p->am_choking = 0;
    ts_wire_put_simple(&p->out, TS_WIRE_UNCHOKE);
    return 1;
}

/* ut_metadata: serve the info dict to a peer that joined with a magnet link. We never ask for
 * it (a swarm starts from a .tstream), so data and rejects sent to us are junk. */
static void on_metadata(peer_t *p, const ts_wire_msg_t *m)
{
    swarm_t *sw = p->sw;
    ts_wire_md_t md;
    if (ts_wire_parse_metadata(m->data, m->data_len, &md) < 0) {
        known_misbehaved(p, "malformed ut_metadata message");
        return;
    }
    if (md.type != TS_WIRE_MD_REQUEST) {
        if (md.type <= TS_WIRE_MD_REJECT)
            known_junk(p, "unrequested metadata");
        return; /* BEP 9: unknown message types are ignored */
    }
    if (!p->md_id)
        return; /* it gave us no id to answer under */
    size_t total = sw->meta.info_len, npieces = (total + TS_WIRE_MD_PIECE - 1) / TS_WIRE_MD_PIECE;
    if (md.piece >= npieces || p->md_served >= MD_SERVE_MAX * npieces) {
        if (md.piece < npieces)
            known_junk(p, "metadata request flood");
        ts_wire_put_metadata(&p->out, p->md_id, TS_WIRE_MD_REJECT, md.piece, 0, NULL, 0);
        return;
    }
    size_t off = (size_t)md.piece * TS_WIRE_MD_PIECE, len = total - off < TS_WIRE_MD_PIECE ? total - off : TS_WIRE_MD_PIECE;
    ts_wire_put_metadata(&p->out, p->md_id, TS_WIRE_MD_DATA, md.piece, total, sw->meta.info + off, len);
    p->md_served++;
    sw->c_md_served++;
}

/* An edge a peer states (handshake, ts_live) is believed only up to the live edge our own
 * verified pieces make plausible: beyond it, it cannot hold what it claims. */
static int claim_ok(peer_t *p, uint64_t edge)
{
    swarm_t *sw = p->sw;
    if (sw->is_source || edge <= edge_bound(sw, ts_mono_ns()))
        return 1;
    char a[64]; /* not junk: a source bursting past twice its measured rate makes honest ones */
    ts_debug("peer %s claims edge %llu beyond the plausible live edge %llu: claim ignored", peer_addr(p, a, sizeof a),
             (unsigned long long)edge, (unsigned long long)edge_bound(sw, ts_mono_ns()));
    return 0;
}

static void on_ext(peer_t *p, const ts_wire_msg_t *m)
{
    swarm_t *sw = p->sw;
    uint64_t edge, rap;
    if (m->ext_id == TS_WIRE_EXT_HANDSHAKE) {
        ts_ext_hs_t x;
        if (ts_wire_parse_ext_handshake(m->data, m->data_len, &x) < 0) {
            known_misbehaved(p, "malformed extension handshake");
            return;
        }
        p->live_id = x.has_live ? x.live_id : 0;
        if (x.port) {
            p->listen_port = x.port;
            known_learn(sw, ntohl(p->addr.sin_addr.s_addr), x.port);
        }
        if (x.has_yourip)
            reach_note_yourip(sw, ntohl(p->addr.sin_addr.s_addr), x.yourip);
        p->source = x.source;
        p->pex_id = x.pex_id;
        p->md_id = x.md_id;
        p->hp_id = sw->no_holepunch ? 0 : x.hp_id;
        p->push = x.push;
        p->reject = x.reject;
        memcpy(p->client, x.client, sizeof p->client);
        if (x.has_edge && claim_ok(p, x.edge)) {
            /* Where it is, for hook-in and for reading its bitfield; what it holds comes from
             * the bitfield and HAVEs (the broadcaster tells only a few peers of each new piece). */
            p->edge = x.edge;
            p->has_edge = 1;
            p->rap = x.rap;
            p->has_rap = 1;
        }
    } else if (m->ext_id == PEX_EXT_ID) {
        /* Peer exchange: once joined, a viewer finds peers without the tracker. */
        ts_wire_addr_t a[TS_WIRE_PEX_MAX];
        size_t n;
        if (ts_wire_parse_pex(m->data, m->data_len, a, TS_WIRE_PEX_MAX, &n) < 0) {
            known_misbehaved(p, "malformed ut_pex message");
            return;
        }
        hp_pex(p, a, n); /* learnt, with their flags and p as a relay, and dialled */
        return;
    } else if (m->ext_id == HP_EXT_ID) {
        hp_on_message(p, m->data, m->data_len);
        return;
    } else if (m->ext_id == MD_EXT_ID) {
        on_metadata(p, m);
        return;
    } else if (m->ext_id == LIVE_EXT_ID) {
        if (ts_wire_parse_live(m->data, m->data_len, &edge, &rap) < 0) {
            known_misbehaved(p, "malformed ts_live message");
            return;
        }
        if (!claim_ok(p, edge))
            return;
        if (!p->has_edge || edge > p->edge) {
            p->edge = edge;
            p->has_edge = 1;
        }
        if (rap > p->rap || !p->has_rap)
            p->rap = rap;
        p->has_rap = 1;
    }
    if (!sw->is_source)
        playout_consider_hook(sw);
}

/* A piece from a peer (PROTOCOL.md section 3). The cheap checks come first — trailer, index,
 * whether we asked for this seq, the window rule, a duplicate of a piece we hold (compared by
 * digest) — so that the signature, the costly part, is checked only for a piece we will keep,
 * and only within the verification budget for a peer that has not yet delivered a good one. */
static void on_piece(peer_t *p, const ts_wire_msg_t *m)
{
    swarm_t *sw = p->sw;
    uint64_t now = ts_mono_ns();
    if (m->index >= sw->n || m->begin != 0 || m->data_len > sw->meta.piece_len) {
        known_misbehaved(p, "piece outside the piece space");
        return;
    }
    ts_trailer_t t;
    if (ts_piece_parse(m->data, m->data_len, sw->meta.piece_len, &t) < 0) {
        sw->c_bad_pieces++;
        sw->c_verify_failed++;
        known_misbehaved(p, "piece failed verification");
        return;
    }
    if (t.seq % sw->n != m->index) {
        sw->c_bad_pieces++;
        known_misbehaved(p, "piece sent under the wrong index");
        return;
    }
    int kind = pick_answer(p, t.seq, now);
    if (kind == PICK_WRONG && pick_forgotten(p, t.seq, now))
        kind = PICK_LATE; /* the answer to an earlier request at that index, which we forgot */
    if (kind == PICK_NEWER) {
        /* What we asked for is gone from p; it holds this one (believed like a HAVE, within
         * the edge bound), and has marked us as holding it, so it will not announce it to us:
         * without the mark, a viewer lagging a window behind never asks for it again (at the
         * end of a broadcast it then waits for its last piece forever). Kept only if it fits
         * our window; at least a window ahead of us it would read as a jump of the stream. */
        if (t.seq > edge_bound(sw, now)) { /* a seq that cannot exist yet: a wrong answer after all */
            pick_wrong(p, t.seq, now);
            known_junk(p, "pieces other than the one requested");
            return;
        }
        sw->c_answers_gone++;
        peer_mark(p, t.seq);
        sw->pick_pending = 1;
        if (ts_window_check(sw->win, t.seq, m->index) != TS_WIN_OK)
            return;
        kind = PICK_ASKED;
    }
    int asked = kind == PICK_ASKED || kind == PICK_LATE;
    int old = !ts_window_empty(sw->win) && t.seq < ts_window_highest(sw->win) &&
              ts_window_highest(sw->win) - t.seq >= sw->n / 2;
    if (old && pick_forgotten(p, t.seq, now))
        return; /* on its way before we forgot or stalled: dropped unverified, nothing to blame */
    /* Rule 4 for what we did not ask for, whether or not we still hold it: a replay. */
    if (!asked && old) {
        sw->c_bad_pieces += kind == PICK_WRONG;
        known_misbehaved(p, kind == PICK_WRONG ? "answered a request with a piece older than the window"
                                         : "unrequested piece older than the window (replay)");
        return;
    }
    int same = ts_window_same(sw->win, m->data, m->data_len, t.seq);
    if (same == 1) { /* the very bytes we hold: nothing to verify */
        peer_mark(p, t.seq);
        if (kind == PICK_WRONG)
            pick_wrong(p, t.seq, now);
        if (!asked && !push_dup_ok(p, t.seq))
            known_junk(p, "unrequested pieces we hold");
        return;
    }
    if (same < 0 && kind == PICK_WRONG) { /* not what we asked for: we do not want it */
        pick_wrong(p, t.seq, now);
        known_junk(p, "pieces other than the one requested");
        return;
    }
    if (same < 0 && !asked && ts_window_empty(sw->win)) {
        known_junk(p, "unrequested pieces"); /* nothing to judge it against yet */
        return;
    }
    if (!guard_may_verify(p, now)) {
        sw->c_verify_shed++;
        peer_close(p, "verification budget spent: piece dropped unverified");
        return;
    }
    if (ts_verifier_check(sw->verifier, m->data, m->data_len, sw->meta.piece_len, &t) < 0) {
        sw->c_bad_pieces++;
        sw->c_verify_failed++;
        guard_verify_failed(p, now);
        known_misbehaved(p, "piece failed verification");
        return;
    }
    p->good_pieces++;
    peer_mark(p, t.seq);
    int rc = ts_window_put(sw->win, m->data, m->data_len, &t, m->index);
    if (rc == TS_WIN_FAR && playout_jumped(sw, &t))
        rc = ts_window_put(sw->win, m->data, m->data_len, &t, m->index);
    if (rc == TS_WIN_CONFLICT) {
        sw->c_bad_pieces++;
        known_misbehaved(p, "two different pieces signed for one sequence number");
        return;
    }
    if (rc == TS_WIN_OK) {
        sw->c_pieces_in++;
        sw->c_payload_down += t.payload_len;
        pick_got(sw, p, t.seq, now);
        push_got(p, t.seq, asked, t.timestamp_us, now);
        playout_piece_stored(sw, t.seq, &t);
    }
}

static void on_request(peer_t *p, const ts_wire_msg_t *m)
{
    swarm_t *sw = p->sw;
    if (m->index >= sw->n) {
        known_misbehaved(p, "request outside the piece space");
        return;
    }
    if (p->rq_len == SW_RQ_MAX) {
        known_junk(p, "request flood"); /* a peer asking for more than we queue waits and asks again */
        return;
    }
    if (p->am_choking || m->begin != 0)
        return;
    uint64_t held = ts_window_at_index(sw->win, m->index);
    if (held) {
        g2g_note(p, held - 1, ts_mono_ns(), 1);
        g2g_progress(p, held - 1, ts_mono_ns(), 0);
    }
    if (!fanout_admit(p, m->index))
        return;
    p->rq[(p->rq_head + p->rq_len++) % SW_RQ_MAX] = m->index;
    fanout_serve(sw);
}

static void on_cancel(peer_t *p, const ts_wire_msg_t *m)
{
    for (int i = 0; i < p->rq_len; i++) {
        int at = (p->rq_head + i) % SW_RQ_MAX;
        if (p->rq[at] != m->index)
            continue;
        for (int j = i; j + 1 < p->rq_len; j++)
            p->rq[(p->rq_head + j) % SW_RQ_MAX] = p->rq[(p->rq_head + j + 1) % SW_RQ_MAX];
        p->rq_len--;
        return;
    }
}

static void dispatch(peer_t *p, const ts_wire_msg_t *m)
{
    swarm_t *sw = p->sw;
    p->last_rx_ns = ts_mono_ns();
    switch (m->id) {
    case TS_WIRE_KEEPALIVE:
        break;
    case TS_WIRE_CHOKE:
        p->peer_choking = 1;
        pick_clear_peer(p);
        break;
    case TS_WIRE_UNCHOKE:
        p->peer_choking = 0;
        sw->pick_pending = 1;
        break;
    case TS_WIRE_INTERESTED:
        p->peer_interested = 1;
        break;
    case TS_WIRE_NOT_INTERESTED:
        p->peer_interested = 0;
        break;
    case TS_WIRE_HAVE:
        if (m->index >= sw->n) {
            known_misbehaved(p, "have outside the piece space");
            return;
        }
    {
        /* Read the index against the sender's edge (section 4), which may be far from ours when
         * one of us lags: against our own, a slow viewer would misplace a fast peer's HAVEs by a
         * whole window and count them as repeats. A HAVE placed beyond the live edge our verified
         * pieces make plausible is ignored (not junk: it may be our bound that is short), so a
         * stream of HAVEs cannot walk a sender's edge ahead. */
        if (!sw->has_edge && !p->has_edge)
            break; /* no edge to read the index against (it sends ts_live before the HAVE it needs) */
        uint64_t now = ts_mono_ns();
        uint64_t ref = p->has_edge && !sw->is_source ? p->edge : sw->edge; /* nothing is newer than a
                                                                          * broadcaster's own edge */
        uint64_t seq = ts_window_seq_for_index(sw->win, m->index, ref);
        if (!sw->is_source && seq > edge_bound(sw, now))
            break;
        int repeat = peer_has(p, seq);
        if (sw->is_source)
            g2g_note(p, seq, now, 0);
        else
            push_seen(sw, seq, now);
        peer_mark(p, seq);
        sw->pick_pending = 1;
        /* We knew it held seq. Because we sent it the piece (or a HAVE) while its HAVE was on the
         * way — it got the piece elsewhere first, or took ours for a cancelled request — once per
         * piece: a crossing, not junk (honest viewers were banned for these on slow links).
         * Because it told us before: a repeat. */
        if (repeat && p->told && p->told[m->index] == seq + 1)
            p->told[m->index] = 0;
        else if (repeat)
            known_junk(p, "repeated have");
        break;
    }
    case TS_WIRE_BITFIELD:
        if (!ts_wire_bitfield_valid(m->data, m->data_len, sw->n)) {
            known_misbehaved(p, "bitfield of the wrong size");
            return;
        }
        /* Bit i stands for the newest seq <= the edge it announced with that index. */
        if (p->has_edge)
            for (uint64_t i = 0; i < sw->n; i++)
                if (m->data[i / 8] & (0x80 >> (i % 8))) {
                    uint64_t d = (p->edge % sw->n + sw->n - i) % sw->n;
                    if (d <= p->edge)
                        peer_mark(p, p->edge - d);
                }
        sw->pick_pending = 1;
        break;
    case TS_WIRE_REQUEST:
        on_request(p, m);
        break;
    case TS_WIRE_PIECE:
        on_piece(p, m); /* a stored piece triggers picking through playout_piece_stored */
        break;
    case TS_WIRE_CANCEL:
        if (m->index < sw->n)
            on_cancel(p, m);
        break;
    case TS_WIRE_EXTENDED:
        on_ext(p, m);
        break;
    case TS_WIRE_PORT: /* DHT port (BEP 5) */
    case TS_WIRE_REJECT: /* "ts_reject" (section 5): not served, ask elsewhere */
        if (m->index < sw->n)
            pick_rejected(p, m->index, ts_mono_ns());
        break;
    case TS_WIRE_SUGGEST: case TS_WIRE_HAVE_ALL: case TS_WIRE_HAVE_NONE:
    case TS_WIRE_ALLOWED_FAST: /* fast extension (BEP 6): not negotiated; harmless */
        break;
    default:
        known_misbehaved(p, "unknown message id"); /* none we negotiated; BEP 3's "ignore" invites floods */
        break;
    }
}

/* 1 while the bytes so far can begin an HTTP request line ("GET "), else 0. Anything else, such
 * as an encrypted BitTorrent handshake (MSE, which libtorrent tries first), is closed at once so
 * the client falls back to a plain handshake instead of waiting out our timeout. */
static int http_plausible(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n && i < 8; i++) {
        if (d[i] == ' ')
            return i > 0;
        if (d[i] < 'A' || d[i] > 'Z')
            return 0;
    }
    return n < 8;
}

static void on_http(peer_t *p)
{
    if (!http_plausible(p->in.data, p->in.len)) {
        peer_close(p, "neither a BitTorrent handshake nor HTTP (encrypted handshakes are not supported)");
        return;
    }
    uint8_t *end = memmem(p->in.data, p->in.len, "\r\n\r\n", 4);
    if (!end) {
        if (p->in.len > HTTP_MAX)
            peer_close(p, "oversized tracker request");
        return;
    }
    size_t len = (size_t)(end - p->in.data) + 4;
    ts_tracker_handle(p->sw->tracker, (const char *)p->in.data, len, ntohl(p->addr.sin_addr.s_addr), ts_mono_ns(),
                      15, &p->out);
    p->sw->c_announces++;
    p->in.len = 0;
    ev_io_stop(p->sw->loop, &p->rio);
    peer_flush(p);
}

static void process(peer_t *p)
{
    if (p->state == PEER_SNIFF && p->in.len > 0) {
        if (p->in.data[0] == sizeof TS_WIRE_PSTR - 1) /* a handshake starts with its length */
            p->state = PEER_HANDSHAKE;
        else if (p->sw->tracker)
            p->state = PEER_HTTP;
        else {
            peer_close(p, "not a BitTorrent peer");
            return;
        }
    }
    if (p->state == PEER_HTTP) {
        on_http(p);
        return;
    }
    if (p->state == PEER_HANDSHAKE && on_handshake(p) <= 0)
        return;
    size_t off = 0;
    size_t max = p->sw->meta.piece_len + 64;
    if (max < p->sw->n / 8 + 64)
        max = p->sw->n / 8 + 64;
    while (alive(p) && p->state == PEER_ACTIVE) {
        ts_wire_msg_t m;
        ssize_t n = ts_wire_parse(p->in.data + off, p->in.len - off, max, &m);
        if (n < 0) {
            known_misbehaved(p, "protocol error");
            return;
        }
        if (n == 0)
            break;
        dispatch(p, &m);
        off += (size_t)n;
    }
    if (alive(p)) {
        ts_buf_consume(&p->in, off);
        if (p->in.len == 0)
            p->partial_since_ns = 0;
        else if (off > 0 || !p->partial_since_ns)
            p->partial_since_ns = ts_mono_ns(); /* progress: the clock restarts for the rest */
    }
}

void dispatch_input(peer_t *p) { process(p); }

/* Per peer, each tick: old sins fade; silent, stuck or unread connections are closed. */
void dispatch_tick(swarm_t *sw, uint64_t now)
{
    for (peer_t *p = sw->peers; p; p = p->next) {
        if (now - p->decay_ns > 10 * TS_NS_PER_S) { /* old sins fade: what counts is a burst */
            p->decay_ns = now;
            p->junk /= 2;
            p->g2g_first /= 2;
            p->g2g_credit /= 2;
            p->g2g_miss /= 2;
            p->g2g_poor = g2g_is_poor(p);
        }
        if (alive(p) && now - p->last_rx_ns > SW_IDLE_NS)
            peer_close(p, "idle");
        if (alive(p) && p->state != PEER_ACTIVE && now - p->connected_ns > SW_HANDSHAKE_NS) {
            if (p->state == PEER_CONNECTING || p->state == PEER_HTTP || p->outgoing)
                peer_close(p, "handshake timed out");
            else
                known_misbehaved(p, "no handshake within 10 s");
        }
        if (alive(p) && p->partial_since_ns && now - p->partial_since_ns > SW_PARTIAL_NS)
            known_misbehaved(p, "message left unfinished");
        if (alive(p) && p->out.len > SW_OUTBUF_HARD)
            peer_close(p, "reads nothing: send queue over 16 MiB");
        if (alive(p) && p->state == PEER_ACTIVE && now - p->last_tx_ns > 30 * TS_NS_PER_S)
            ts_wire_put_keepalive(&p->out);
    }
}
