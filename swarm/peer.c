/* One BitTorrent connection: handshake, wire dispatch, serving and requesting pieces.
 * Every length from the peer is checked by wire.c before use; any protocol error or a
 * piece that fails verification closes the connection. */
#include "swarm.h"
#include "ts_log.h"
#include "ts_time.h"
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LIVE_EXT_ID 1 /* the ids under which we accept ts_live and ut_pex messages */
#define PEX_EXT_ID 2
#define MD_EXT_ID 3   /* ut_metadata (BEP 9) */
#define MD_SERVE_MAX 4 /* times one peer may fetch the whole info dict before further requests are junk */
#define HTTP_MAX 8192

static void on_read(struct ev_loop *loop, ev_io *w, int revents);
static void on_write(struct ev_loop *loop, ev_io *w, int revents);
static int upload_idle(const swarm_t *sw);
static void g2g_note(peer_t *q, uint64_t seq, uint64_t now, int request);
static void g2g_progress(peer_t *r, uint64_t seq, uint64_t now, int served);

int peer_alive(const peer_t *p) { return p->fd >= 0; }
#define alive peer_alive

const char *peer_addr(const peer_t *p, char *buf, size_t len)
{
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &p->addr.sin_addr, ip, sizeof ip);
    snprintf(buf, len, "%s:%u", ip, ntohs(p->addr.sin_port));
    return buf;
}

/* Write what we can; keep the write watcher on while anything is queued. Messages queued while
 * handling events are written by peer_flush_all just before the loop blocks: one write per peer
 * per loop turn, however many HAVEs, requests and pieces went to it. */
static int flush(peer_t *p)
{
    while (p->out.len > 0) {
        ssize_t n = write(p->fd, p->out.data, p->out.len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            peer_close(p, strerror(errno));
            return -1;
        }
        p->last_tx_ns = ts_mono_ns();
        p->bytes_up += (uint64_t)n;
        p->sw->c_bytes_up += (uint64_t)n; /* every byte: headers, HAVEs, tracker replies too */
        ts_buf_consume(&p->out, (size_t)n);
    }
    if (p->out.err) {
        peer_close(p, "out of memory");
        return -1;
    }
    if (p->out.len > 0)
        ev_io_start(p->sw->loop, &p->wio);
    else {
        ev_io_stop(p->sw->loop, &p->wio);
        if (p->state == PEER_HTTP && p->in.len == 0) {
            peer_close(p, NULL); /* tracker response sent */
            return -1;
        }
    }
    return 0;
}

void peer_flush_all(swarm_t *sw)
{
    if (sw->pick_pending) {
        sw->pick_pending = 0;
        pick_all(sw);
    }
    for (peer_t *p = sw->peers; p; p = p->next)
        if (alive(p) && p->out.len > 0 && !ev_is_active(&p->wio) && p->state != PEER_CONNECTING)
            flush(p);
}

static void send_handshake(peer_t *p)
{
    ts_handshake_t h;
    memset(&h, 0, sizeof h);
    h.reserved[5] |= 0x10; /* BEP 10 */
    memcpy(h.infohash, p->sw->meta.infohash, 20);
    memcpy(h.peer_id, p->sw->peer_id, 20);
    uint8_t buf[TS_WIRE_HANDSHAKE_LEN];
    ts_wire_handshake_encode(&h, buf);
    ts_buf_put(&p->out, buf, sizeof buf);
}

int peer_has(const peer_t *p, uint64_t seq) { return p->has && p->has[seq % p->sw->n] == seq + 1; }

static void peer_mark(peer_t *p, uint64_t seq)
{
    swarm_mark_safe(p->sw, seq);
    if (!p->has)
        return;
    uint64_t *slot = &p->has[seq % p->sw->n];
    if (*slot < seq + 1)
        *slot = seq + 1;
    if (!p->has_edge || seq > p->edge) {
        p->edge = seq;
        p->has_edge = 1;
    }
}

void peer_close(peer_t *p, const char *why)
{
    if (!alive(p))
        return;
    char a[64];
    if (why && p->state == PEER_ACTIVE) {
        ts_log_fields_t f = { 0 };
        ts_log_field(&f, "peer", "%s", peer_addr(p, a, sizeof a));
        ts_log_field(&f, "reason", "%s", why);
        ts_log_field(&f, "up_bytes", "%llu", (unsigned long long)p->bytes_up);
        ts_log_field(&f, "down_bytes", "%llu", (unsigned long long)p->bytes_down);
        /* its delivery record, for an operator asking why a peer went */
        ts_log_field(&f, "answered", "%llu", (unsigned long long)p->answered);
        ts_log_field(&f, "answer_ms", "%.1f", p->answered ? p->ans_ns / 1e6 : 0.0);
        ts_log_field(&f, "timeouts", "%llu", (unsigned long long)p->timeouts);
        ts_log_field(&f, "wrong", "%llu", (unsigned long long)p->wrong);
        ts_log_kv(TS_LOG_INFO, &f, "peer %s closed: %s (up %llu B, down %llu B)", a, why,
                  (unsigned long long)p->bytes_up, (unsigned long long)p->bytes_down);
    }
    else if (why)
        ts_debug("connection %s closed: %s", peer_addr(p, a, sizeof a), why);
    pick_clear_peer(p);
    ev_io_stop(p->sw->loop, &p->rio);
    ev_io_stop(p->sw->loop, &p->wio);
    close(p->fd);
    p->fd = -1; /* freed by peer_tick: callers up the stack may still hold p */
}

/* ---------------------------------------------------------------- offenders */

/* This host's own processes (tests, benchmarks run many peers on 127.0.0.1): exempt from the
 * per-address connection limit, whose job the overall limits do for them, but not from bans. */
static int exempt(uint32_t ip) { return ip == 0x7f000001; }

/* Keep an address out for SW_BAN_NS: new connections from it are refused and it is not dialled. */
void peer_ban(swarm_t *sw, uint32_t ip, uint64_t now)
{
    int slot = 0;
    for (int i = 0; i < SW_MAX_BANS; i++) {
        if (sw->bans[i].ip == ip || sw->bans[i].until_ns < sw->bans[slot].until_ns) {
            slot = i;
            if (sw->bans[i].ip == ip)
                break;
        }
    }
    sw->bans[slot] = (struct ban){ ip, now + SW_BAN_NS };
    sw->c_banned++;
}

/* May a connection from (or to) ip go ahead? Not when banned, nor beyond SW_MAX_PER_IP. */
int peer_admit(swarm_t *sw, uint32_t ip, uint64_t now)
{
    for (int i = 0; i < SW_MAX_BANS; i++)
        if (sw->bans[i].ip == ip && sw->bans[i].until_ns > now)
            return 0;
    if (exempt(ip))
        return 1;
    int n = 0;
    for (peer_t *p = sw->peers; p; p = p->next)
        n += alive(p) && ntohl(p->addr.sin_addr.s_addr) == ip;
    return n < SW_MAX_PER_IP;
}

/* A peer broke the protocol or sent a bad piece: drop it and keep its address out a while. */
static void misbehaved(peer_t *p, const char *why)
{
    char a[64];
    if (!alive(p))
        return;
    ts_log_fields_t f = { 0 };
    ts_log_field(&f, "peer", "%s", peer_addr(p, a, sizeof a));
    ts_log_field(&f, "reason", "%s", why);
    ts_log_field(&f, "ban_s", "%llu", (unsigned long long)(SW_BAN_NS / 1000000000ull));
    ts_log_kv(TS_LOG_WARN, &f, "peer %s misbehaved (%s): disconnected and banned for %llu s", a, why,
              (unsigned long long)(SW_BAN_NS / 1000000000ull));
    peer_ban(p->sw, ntohl(p->addr.sin_addr.s_addr), ts_mono_ns());
    peer_close(p, NULL);
}

/* A message that is allowed but useless (a cancel race can cause a few): past SW_JUNK_MAX of
 * them the peer is flooding. */
static void peer_junk(peer_t *p, const char *what)
{
    if (++p->junk > SW_JUNK_MAX)
        misbehaved(p, what);
}

void peer_update_interest(peer_t *p)
{
    swarm_t *sw = p->sw;
    int want = 0;
    if (!sw->is_source && sw->hooked && p->has_edge && p->edge >= sw->play_seq) {
        uint64_t lo = sw->play_seq, hi = p->edge;
        if (hi - lo >= sw->n)
            lo = hi - sw->n + 1;
        for (uint64_t s = lo; s <= hi && !want; s++)
            want = peer_has(p, s) && !ts_window_has(sw->win, s);
    }
    if (want != p->am_interested) {
        p->am_interested = want;
        ts_wire_put_simple(&p->out, want ? TS_WIRE_INTERESTED : TS_WIRE_NOT_INTERESTED);
    }
}

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
    ts_ext_hs_t x = { .has_live = 1, .live_id = LIVE_EXT_ID, .port = sw->port, .has_edge = sw->has_edge,
                      .edge = sw->edge, .rap = sw->rap, .source = sw->is_source, .pex_id = PEX_EXT_ID,
                      .md_id = MD_EXT_ID, .md_size = sw->meta.info_len };
    ts_wire_put_ext_handshake(&p->out, &x);
    p->told_edge = sw->has_edge;
}

/* Our edge and newest random-access point, to a peer that speaks ts_live. */
static void live_to(peer_t *p)
{
    if (p->live_id) {
        ts_wire_put_live(&p->out, p->live_id, p->sw->edge, p->sw->rap);
        p->told_edge = 1;
    }
}

/* A HAVE carries seq mod N: a peer must know an edge of ours to place it, so it gets ts_live first
 * if it has none yet (it joined before we held anything). */
static void have_index(peer_t *p, uint64_t seq)
{
    if (!p->told)
        return;
    uint64_t *told = &p->told[seq % p->sw->n];
    if (*told == seq + 1)
        return; /* once per piece: a second HAVE is junk to the receiver (a slow one may not have
                 * asked for it yet when the late announcements go out) */
    *told = seq + 1;
    if (!p->told_edge)
        live_to(p);
    ts_wire_put_have(&p->out, (uint32_t)(seq % p->sw->n));
}

/* Redial backoff of a known address after `fails` failures: 0.5 s, 1 s, ... 16 s. */
#define REDIAL_FAILS_MAX 6
static uint64_t redial_delay_ns(int fails) { return 250ull * 1000000 << fails; }

/* Redial a known address only after `delay_ns` (and then with the longest backoff): it leads to
 * a peer we are already connected to by another address, or to one we dropped. */
void peer_known_later(swarm_t *sw, uint32_t ip, uint16_t port, uint64_t delay_ns)
{
    for (int i = 0; i < sw->nknown; i++)
        if (sw->known[i].ip == ip && sw->known[i].port == port) {
            sw->known[i].fails = REDIAL_FAILS_MAX;
            sw->known[i].next_ns = ts_mono_ns() + delay_ns;
        }
}

/* Two connections to the same peer (both dialled): keep the one dialled by the smaller peer id. */
static int duplicate(peer_t *p)
{
    int we_lower = memcmp(p->sw->peer_id, p->id, 20) < 0;
    for (peer_t *q = p->sw->peers; q; q = q->next) {
        if (q == p || !alive(q) || q->state != PEER_ACTIVE || memcmp(q->id, p->id, 20) != 0)
            continue;
        peer_t *keep = (q->outgoing == we_lower) ? q : p, *drop = keep == p ? q : p;
        if (drop->outgoing) /* the peer is reachable at another address (NAT, container gateway): */
            peer_known_later(p->sw, ntohl(drop->addr.sin_addr.s_addr), ntohs(drop->addr.sin_port),
                             redial_delay_ns(REDIAL_FAILS_MAX));
        peer_close(drop, "duplicate connection");
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
            misbehaved(p, "not a BitTorrent handshake");
        else
            peer_close(p, "wrong infohash");
        return -1;
    }
    if (memcmp(h.peer_id, sw->peer_id, 20) == 0) {
        peer_close(p, "connected to self");
        return -1;
    }
    if (!p->outgoing && swarm_count_peers(sw) >= sw->max_peers) {
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
        send_handshake(p);
    p->state = PEER_ACTIVE;
    if (duplicate(p))
        return -1;
    pick_new_peer(p, ts_mono_ns());
    char a[64];
    ts_log_fields_t f = { 0 };
    ts_log_field(&f, "peer", "%s", peer_addr(p, a, sizeof a));
    ts_log_field(&f, "direction", "%s", p->outgoing ? "out" : "in");
    ts_log_kv(TS_LOG_INFO, &f, "peer %s connected (%s)", a, p->outgoing ? "out" : "in");
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
        misbehaved(p, "malformed ut_metadata message");
        return;
    }
    if (md.type != TS_WIRE_MD_REQUEST) {
        if (md.type <= TS_WIRE_MD_REJECT)
            peer_junk(p, "unrequested metadata");
        return; /* BEP 9: unknown message types are ignored */
    }
    if (!p->md_id)
        return; /* it gave us no id to answer under */
    size_t total = sw->meta.info_len, npieces = (total + TS_WIRE_MD_PIECE - 1) / TS_WIRE_MD_PIECE;
    if (md.piece >= npieces || p->md_served >= MD_SERVE_MAX * npieces) {
        if (md.piece < npieces)
            peer_junk(p, "metadata request flood");
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
    if (sw->is_source || edge <= swarm_edge_bound(sw, ts_mono_ns()))
        return 1;
    char a[64]; /* not junk: a source bursting past twice its measured rate makes honest ones */
    ts_debug("peer %s claims edge %llu beyond the plausible live edge %llu: claim ignored", peer_addr(p, a, sizeof a),
             (unsigned long long)edge, (unsigned long long)swarm_edge_bound(sw, ts_mono_ns()));
    return 0;
}

static void on_ext(peer_t *p, const ts_wire_msg_t *m)
{
    swarm_t *sw = p->sw;
    uint64_t edge, rap;
    if (m->ext_id == 0) {
        ts_ext_hs_t x;
        if (ts_wire_parse_ext_handshake(m->data, m->data_len, &x) < 0) {
            misbehaved(p, "malformed extension handshake");
            return;
        }
        p->live_id = x.has_live ? x.live_id : 0;
        if (x.port) {
            p->listen_port = x.port;
            peer_learn(sw, ntohl(p->addr.sin_addr.s_addr), x.port);
        }
        p->source = x.source;
        p->pex_id = x.pex_id;
        p->md_id = x.md_id;
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
            misbehaved(p, "malformed ut_pex message");
            return;
        }
        for (size_t i = 0; i < n; i++) {
            peer_learn(sw, a[i].ip, a[i].port);
            peer_connect(sw, a[i].ip, a[i].port);
        }
        return;
    } else if (m->ext_id == MD_EXT_ID) {
        on_metadata(p, m);
        return;
    } else if (m->ext_id == LIVE_EXT_ID) {
        if (ts_wire_parse_live(m->data, m->data_len, &edge, &rap) < 0) {
            misbehaved(p, "malformed ts_live message");
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
        swarm_consider_hook(sw);
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
        misbehaved(p, "piece outside the piece space");
        return;
    }
    ts_trailer_t t;
    if (ts_piece_parse(m->data, m->data_len, sw->meta.piece_len, &t) < 0) {
        sw->c_bad_pieces++;
        sw->c_verify_failed++;
        misbehaved(p, "piece failed verification");
        return;
    }
    if (t.seq % sw->n != m->index) {
        sw->c_bad_pieces++;
        misbehaved(p, "piece sent under the wrong index");
        return;
    }
    int kind = pick_answer(p, t.seq, now), asked = kind == PICK_ASKED || kind == PICK_LATE;
    /* Rule 4 for what we did not ask for, whether or not we still hold it: a replay. */
    if (!asked && !ts_window_empty(sw->win) && t.seq < ts_window_highest(sw->win) &&
        ts_window_highest(sw->win) - t.seq >= sw->n / 2) {
        sw->c_bad_pieces += kind == PICK_WRONG;
        misbehaved(p, kind == PICK_WRONG ? "answered a request with a piece older than the window"
                                         : "unrequested piece older than the window (replay)");
        return;
    }
    int same = ts_window_same(sw->win, m->data, m->data_len, t.seq);
    if (same == 1) { /* the very bytes we hold: nothing to verify */
        peer_mark(p, t.seq);
        if (kind == PICK_WRONG)
            pick_wrong(p, t.seq, now);
        if (!asked)
            peer_junk(p, "unrequested pieces we hold");
        return;
    }
    if (same < 0 && kind == PICK_WRONG) { /* not what we asked for: we do not want it */
        pick_wrong(p, t.seq, now);
        peer_junk(p, "pieces other than the one requested");
        return;
    }
    if (same < 0 && !asked && ts_window_empty(sw->win)) {
        peer_junk(p, "unrequested pieces"); /* nothing to judge it against yet */
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
        misbehaved(p, "piece failed verification");
        return;
    }
    p->good_pieces++;
    peer_mark(p, t.seq);
    int rc = ts_window_put(sw->win, m->data, m->data_len, &t, m->index);
    if (rc == TS_WIN_FAR && swarm_jumped(sw, &t))
        rc = ts_window_put(sw->win, m->data, m->data_len, &t, m->index);
    if (rc == TS_WIN_CONFLICT) {
        sw->c_bad_pieces++;
        misbehaved(p, "two different pieces signed for one sequence number");
        return;
    }
    if (rc == TS_WIN_OK) {
        sw->c_pieces_in++;
        sw->c_payload_down += t.payload_len;
        pick_got(sw, p, t.seq, now);
        swarm_piece_stored(sw, t.seq, &t);
    }
}

static void on_request(peer_t *p, const ts_wire_msg_t *m)
{
    swarm_t *sw = p->sw;
    if (m->index >= sw->n) {
        misbehaved(p, "request outside the piece space");
        return;
    }
    if (p->rq_len == SW_RQ_MAX) {
        peer_junk(p, "request flood"); /* a peer asking for more than we queue waits and asks again */
        return;
    }
    if (p->am_choking || m->begin != 0)
        return;
    uint64_t held = ts_window_at_index(sw->win, m->index);
    if (held) {
        g2g_note(p, held - 1, ts_mono_ns(), 1);
        g2g_progress(p, held - 1, ts_mono_ns(), 0);
    }
    p->rq[(p->rq_head + p->rq_len++) % SW_RQ_MAX] = m->index;
    peer_serve(sw);
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

/* Send one queued piece to p. 1 if something was sent. */
static int serve_one(peer_t *p)
{
    swarm_t *sw = p->sw;
    while (p->rq_len > 0) {
        uint32_t idx = p->rq[p->rq_head];
        p->rq_head = (p->rq_head + 1) % SW_RQ_MAX;
        p->rq_len--;
        if (!sw->has_edge)
            continue;
        /* Whatever the slot holds: a requester can only ask for a piece we announced, and we hold
         * the newest with that index (reading the index against our edge would send a requester
         * that lags half a window behind us looking for a piece we do not have). */
        size_t len;
        ts_trailer_t t;
        uint64_t at = ts_window_at_index(sw->win, idx);
        const uint8_t *piece = at ? ts_window_get(sw->win, at - 1, &len, &t) : NULL;
        if (!piece) {
            peer_junk(p, "requests for pieces we do not have");
            if (!alive(p))
                return 0;
            continue;
        }
        ts_wire_put_piece(&p->out, idx, 0, piece, len);
        peer_mark(p, t.seq); /* it holds it now: no late HAVE of it to this peer (it would be junk) */
        g2g_progress(p, t.seq, ts_mono_ns(), 1);
        sw->c_pieces_up++;
        sw->c_payload_up += t.payload_len;
        if (sw->up_rate > 0)
            sw->up_tokens -= (double)(len + 13);
        return 1;
    }
    return 0;
}

static void on_up_timer(struct ev_loop *loop, ev_timer *w, int revents) { peer_serve(w->data); }

/* Serve queued requests round-robin across peers, as fast as the upload cap allows. */
void peer_serve(swarm_t *sw)
{
    uint64_t now = ts_mono_ns();
    if (sw->up_rate > 0) {
        sw->up_tokens += sw->up_rate * (double)(now - sw->up_last_ns) / 1e9;
        if (sw->up_tokens > sw->up_burst)
            sw->up_tokens = sw->up_burst;
    }
    sw->up_last_ns = now;
    for (;;) {
        if (sw->up_rate > 0 && sw->up_tokens <= 0) {
            if (!ev_is_active(&sw->up_timer)) {
                ev_timer_init(&sw->up_timer, on_up_timer, -sw->up_tokens / sw->up_rate + 0.001, 0);
                sw->up_timer.data = sw;
                ev_timer_start(sw->loop, &sw->up_timer);
            }
            return;
        }
        /* next peer after the last served one that has a request and room in its send queue */
        peer_t *start = sw->serve_next && alive(sw->serve_next) ? sw->serve_next : sw->peers, *p = start, *found = NULL;
        if (!start)
            return;
        do {
            p = p->next ? p->next : sw->peers;
            if (alive(p) && p->state == PEER_ACTIVE && p->rq_len > 0 && p->out.len < SW_OUTBUF_MAX)
                found = p;
        } while (!found && p != start);
        if (!found) {
            if (sw->npending_have > 0 && upload_idle(sw))
                peer_late_haves(sw, now);
            return;
        }
        sw->serve_next = found;
        serve_one(found);
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
            misbehaved(p, "have outside the piece space");
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
        if (!sw->is_source && seq > swarm_edge_bound(sw, now))
            break;
        if (peer_has(p, seq))
            peer_junk(p, "repeated have");
        if (sw->is_source)
            g2g_note(p, seq, now, 0);
        peer_mark(p, seq);
        sw->pick_pending = 1;
        break;
    }
    case TS_WIRE_BITFIELD:
        if (!ts_wire_bitfield_valid(m->data, m->data_len, sw->n)) {
            misbehaved(p, "bitfield of the wrong size");
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
        on_piece(p, m); /* a stored piece triggers picking through swarm_piece_stored */
        break;
    case TS_WIRE_CANCEL:
        if (m->index < sw->n)
            on_cancel(p, m);
        break;
    case TS_WIRE_EXTENDED:
        on_ext(p, m);
        break;
    case 9:         /* port (BEP 5) */
    case 13: case 14: case 15: case 16: case 17: /* fast extension (BEP 6): not negotiated; harmless */
        break;
    default:
        misbehaved(p, "unknown message id"); /* none we negotiated; BEP 3's "ignore" invites floods */
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
    flush(p);
}

static void process(peer_t *p)
{
    if (p->state == PEER_SNIFF && p->in.len > 0) {
        if (p->in.data[0] == 19)
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
            misbehaved(p, "protocol error");
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

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    peer_t *p = w->data;
    for (int i = 0; i < 16 && alive(p); i++) {
        if (ts_buf_reserve(&p->in, 65536) < 0) {
            peer_close(p, "out of memory");
            return;
        }
        ssize_t n = read(p->fd, p->in.data + p->in.len, 65536);
        if (n == 0) {
            peer_close(p, "closed by peer");
            return;
        }
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                peer_close(p, strerror(errno));
            break;
        }
        p->in.len += (size_t)n;
        p->bytes_down += (uint64_t)n;
        p->sw->c_bytes_down += (uint64_t)n;
        process(p);
        if ((size_t)n < 65536)
            break;
    }
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    peer_t *p = w->data;
    if (p->state == PEER_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            peer_close(p, strerror(err));
            return;
        }
        p->state = PEER_HANDSHAKE;
        send_handshake(p);
        ev_io_start(loop, &p->rio);
    }
    flush(p);
}

peer_t *peer_new(swarm_t *sw, int fd, const struct sockaddr_in *addr, int outgoing, int connecting)
{
    peer_t *p = calloc(1, sizeof *p);
    if (!p) {
        close(fd);
        return NULL;
    }
    p->sw = sw;
    p->serial = ++sw->next_serial;
    p->fd = fd;
    p->addr = *addr;
    int one = 1; /* writes are already batched per loop turn (peer_flush_all): no Nagle wait on HAVEs */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    p->outgoing = outgoing;
    if (outgoing)
        p->listen_port = ntohs(addr->sin_port);
    p->am_choking = p->peer_choking = 1;
    p->connected_ns = p->last_rx_ns = p->last_tx_ns = ts_mono_ns();
    ts_buf_init(&p->in);
    ts_buf_init(&p->out);
    ev_io_init(&p->rio, on_read, fd, EV_READ);
    ev_io_init(&p->wio, on_write, fd, EV_WRITE);
    p->rio.data = p->wio.data = p;
    p->next = sw->peers;
    sw->peers = p;
    if (connecting) {
        p->state = PEER_CONNECTING;
        ev_io_start(sw->loop, &p->wio);
    } else {
        p->state = outgoing ? PEER_HANDSHAKE : PEER_SNIFF;
        if (outgoing) {
            send_handshake(p);
            flush(p);
        }
        ev_io_start(sw->loop, &p->rio);
    }
    return p;
}

void peer_connect(swarm_t *sw, uint32_t ip, uint16_t port)
{
    if (ip == sw->announce_ip && port == sw->port)
        return;
    int n = 0;
    for (peer_t *p = sw->peers; p; p = p->next) {
        if (!alive(p))
            continue;
        n++;
        if (p->addr.sin_addr.s_addr == htonl(ip) && (p->addr.sin_port == htons(port) || p->listen_port == port))
            return;
    }
    uint64_t now = ts_mono_ns();
    if (n >= (sw->max_peers < SW_OUT_TARGET ? sw->max_peers : SW_OUT_TARGET) || !peer_admit(sw, ip, now))
        return;
    for (int i = 0; i < SW_MAX_DROPPED; i++)
        if (sw->dropped[i].ip == ip && sw->dropped[i].until_ns > now)
            return; /* dropped for not delivering: it may come to us, we do not go to it */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    if (sw->bind_ip) { /* peers see us at the address we listen on */
        struct sockaddr_in b = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(sw->bind_ip) };
        if (bind(fd, (struct sockaddr *)&b, sizeof b) < 0) {
            close(fd);
            return;
        }
    }
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(ip) };
    int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    if (rc < 0 && errno != EINPROGRESS) {
        close(fd);
        return;
    }
    peer_new(sw, fd, &a, 1, rc < 0);
}

static void have_to(peer_t *p, uint64_t seq, int rap_changed)
{
    /* ts_live first: a peer that knows no edge yet could not place the HAVE's index. */
    if (rap_changed)
        live_to(p);
    if (!peer_has(p, seq))
        have_index(p, seq);
}

/* ------------------------------------------------- give-to-get (broadcaster only) */

/* The broadcaster told r of a new piece before anyone else. */
static void g2g_first(peer_t *r, uint64_t seq, uint64_t now)
{
    swarm_t *sw = r->sw;
    sw->first[seq % sw->n] = (struct sw_first){ .seq1 = seq + 1, .serial = r->serial, .t0_ns = now };
    r->g2g_first++;
}

static int g2g_is_poor(const peer_t *r)
{
    return r->g2g_miss >= SW_G2G_TRIALS && r->g2g_credit * 4 < r->g2g_miss;
}

static peer_t *by_serial(swarm_t *sw, uint64_t serial)
{
    for (peer_t *r = sw->peers; r; r = r->next)
        if (r->serial == serial && alive(r))
            return r;
    return NULL;
}

/* q sent a HAVE for seq, or requested it (`request`).
 * - A HAVE before we told q of it: q got it from another peer, so the piece's first recipient
 *   passed it on. Its credit, and a sample of how long spreading takes. Not from the recipient's
 *   own address (but 127.0.0.1, where tests run every peer): a free-rider with a second
 *   connection would credit itself, and we would then wait the full second for it. A request
 *   before we told q proves nothing (it may be that second connection, guessing).
 * - A request after we told q (the early or late announcement): q did not get it from the first
 *   recipient. That counts against the recipient only if q is a peer that has shown it gets
 *   pieces from others (a witness): a lone viewer next to a free-rider cannot prove it forwards
 *   — the free-rider would ask us anyway — and is not blamed for that. */
static void g2g_note(peer_t *q, uint64_t seq, uint64_t now, int request)
{
    swarm_t *sw = q->sw;
    if (!sw->first || !q->told)
        return;
    struct sw_first *f = &sw->first[seq % sw->n];
    if (f->seq1 != seq + 1 || f->credited || f->missed || f->serial == q->serial)
        return;
    peer_t *r = by_serial(sw, f->serial);
    if (q->told[seq % sw->n] != seq + 1) {
        uint32_t qip = ntohl(q->addr.sin_addr.s_addr);
        if (request || (r && qip == ntohl(r->addr.sin_addr.s_addr) && qip != 0x7f000001))
            return;
        q->g2g_reports++;
        f->credited = 1;
        double d = (double)(now - (f->served_ns ? f->served_ns : f->t0_ns));
        sw->spread_ns = sw->spread_ns > 0 ? 0.9 * sw->spread_ns + 0.1 * d : d;
        if (r) {
            r->g2g_credit++;
            r->g2g_poor = g2g_is_poor(r);
        }
        return;
    }
    /* not when the recipient asked for it but our own upload had not sent it yet */
    if (!request || !q->g2g_reports || !r || (f->req_ns && !f->served_ns))
        return;
    f->missed = 1;
    r->g2g_miss++;
    if (!r->g2g_poor && g2g_is_poor(r)) {
        char a[64];
        ts_log_fields_t lf = { 0 };
        ts_log_field(&lf, "peer", "%s", peer_addr(r, a, sizeof a));
        ts_log_kv(TS_LOG_INFO, &lf, "peer %s forwards nothing: no longer a first recipient (%llu of %llu spread)", a,
                  (unsigned long long)r->g2g_credit, (unsigned long long)(r->g2g_credit + r->g2g_miss));
    }
    r->g2g_poor = g2g_is_poor(r);
}

/* The first recipient asked us for seq, or we sent it to it: when it had it, it could pass it on. */
static void g2g_progress(peer_t *r, uint64_t seq, uint64_t now, int served)
{
    swarm_t *sw = r->sw;
    struct sw_first *f = sw->first ? &sw->first[seq % sw->n] : NULL;
    if (!f || f->seq1 != seq + 1 || f->serial != r->serial)
        return;
    if (!served && !f->req_ns)
        f->req_ns = now;
    if (served && !f->served_ns)
        f->served_ns = now;
}

/* How long the broadcaster waits for a sign that a piece is spreading before it tells everyone,
 * counted from when its first recipient had it: about twice the measured spread delay
 * (SW_SRC_EARLY_NS until measured). */
static uint64_t src_early_ns(const swarm_t *sw)
{
    if (sw->spread_ns <= 0)
        return SW_SRC_EARLY_NS;
    uint64_t d = (uint64_t)(2 * sw->spread_ns) + 20ull * 1000000;
    if (d < SW_SRC_EARLY_MIN_NS)
        d = SW_SRC_EARLY_MIN_NS;
    return d > SW_SRC_HAVE_DELAY_NS ? SW_SRC_HAVE_DELAY_NS : d;
}

/* ------------------------------------------------------------ announcing */

/* Tell peers we hold a new piece: a few at once (sw->fanout, in turn), the rest a little later
 * (pending_have). Each new holder does the same, so a piece spreads as a tree whose nodes each
 * serve about as many copies as their upload allows in a piece's time, instead of every
 * neighbour asking the first holder at once; peers that got it meanwhile need no HAVE at all.
 * The broadcaster tells one viewer first — one whose first pieces are seen spreading, when it
 * can tell — and the rest after a second, or as soon as nobody shows it got the piece from that
 * viewer within about twice the usual spread delay: it uploads each piece about once, and a
 * free-riding or slow first recipient costs the others that short delay, not a second. */
void peer_have_broadcast(swarm_t *sw, uint64_t seq, int rap_changed)
{
    int active = 0, good = 0, told = 0;
    for (peer_t *p = sw->peers; p; p = p->next)
        if (alive(p) && p->state == PEER_ACTIVE && !peer_has(p, seq)) {
            active++;
            good += !p->g2g_poor;
        }
    if (active == 0) {
        if (rap_changed)
            for (peer_t *p = sw->peers; p; p = p->next)
                if (alive(p) && p->state == PEER_ACTIVE && p->live_id)
                    live_to(p);
        return;
    }
    uint64_t now = ts_mono_ns();
    /* choose sw->fanout of the candidates that lack it, uniformly at random; the broadcaster's
     * candidates are the peers that forward, unless none does */
    int pool = sw->is_source && good > 0 ? good : active;
    int want = sw->fanout < pool ? sw->fanout : pool, left = pool;
    for (peer_t *p = sw->peers; p; p = p->next) {
        if (!alive(p) || p->state != PEER_ACTIVE)
            continue;
        if (peer_has(p, seq)) {
            if (rap_changed)
                live_to(p);
            continue;
        }
        if (pool == good && sw->is_source && p->g2g_poor) {
            if (rap_changed)
                live_to(p);
            continue;
        }
        if (want > 0 && rand() % left < want) {
            have_to(p, seq, rap_changed);
            if (sw->is_source && active > 1)
                g2g_first(p, seq, now);
            told++;
            want--;
        } else if (rap_changed) {
            live_to(p);
        }
        left--;
    }
    if (told < active) {
        if (sw->npending_have == (int)(sizeof sw->pending_have / sizeof *sw->pending_have)) {
            memmove(sw->pending_have, sw->pending_have + 1, sizeof sw->pending_have - sizeof *sw->pending_have);
            sw->npending_have--;
        }
        /* The rest are told once our upload has served the first ones (they have asked by
         * then): at least the time the cap needs for `told` pieces, at most SW_HAVE_DELAY_NS.
         * Idle upload means spare capacity, so more askers do not queue behind each other. */
        uint64_t min = SW_HAVE_MIN_NS, max = SW_HAVE_DELAY_NS;
        if (sw->up_rate > 0) {
            uint64_t serve = (uint64_t)((double)told * (sw->meta.piece_len + 13) / sw->up_rate * 1e9);
            if (serve > min)
                min = serve;
        }
        if (sw->is_source) {
            min = src_early_ns(sw);
            max = SW_SRC_HAVE_DELAY_NS;
        }
        sw->pending_have[sw->npending_have].seq = seq;
        sw->pending_have[sw->npending_have].min_ns = now + min;
        sw->pending_have[sw->npending_have++].max_ns = now + max;
        if (!ev_is_active(&sw->have_timer) || ev_timer_remaining(sw->loop, &sw->have_timer) > (double)min / 1e9) {
            ev_timer_stop(sw->loop, &sw->have_timer);
            ev_timer_set(&sw->have_timer, (double)min / 1e9, 0);
            ev_timer_start(sw->loop, &sw->have_timer);
        }
    }
}

static int upload_idle(const swarm_t *sw)
{
    for (const peer_t *p = sw->peers; p; p = p->next)
        if (alive(p) && p->state == PEER_ACTIVE && p->rq_len > 0)
            return 0;
    return 1;
}

/* When the broadcaster tells everyone of seq: once its first recipient has had it the early
 * deadline long with no sign of it spreading, or has not even asked for it by then; when a sign
 * came, or the recipient still waits in our own upload queue, at max_ns. */
static uint64_t src_due_ns(const swarm_t *sw, uint64_t seq, uint64_t max_ns)
{
    const struct sw_first *f = &sw->first[seq % sw->n];
    if (f->seq1 != seq + 1)
        return 0;
    if (f->credited)
        return max_ns;
    if (f->served_ns)
        return f->served_ns + src_early_ns(sw);
    if (!f->req_ns)
        return f->t0_ns + src_early_ns(sw);
    return max_ns;
}

/* Announce pending pieces to the peers not yet told: those past their maximum delay, and past
 * their minimum those that a viewer can serve now (its upload is idle) or that the broadcaster
 * has seen no sign of spreading. */
void peer_late_haves(swarm_t *sw, uint64_t now)
{
    int keep = 0, idle = -1;
    uint64_t next = UINT64_MAX;
    for (int i = 0; i < sw->npending_have; i++) {
        uint64_t seq = sw->pending_have[i].seq, min = sw->pending_have[i].min_ns, max = sw->pending_have[i].max_ns;
        int due = now >= max;
        if (sw->is_source) {
            min = src_due_ns(sw, seq, max);
            due = now >= min || due;
        } else if (!due && now >= min) {
            if (idle < 0)
                idle = upload_idle(sw);
            due = idle; /* else peer_serve calls us when its queue drains */
        }
        if (!due) {
            sw->pending_have[keep++] = sw->pending_have[i];
            uint64_t at = now < min ? min : max;
            if (at < next)
                next = at;
            continue;
        }
        if (!ts_window_has(sw->win, seq))
            continue;
        for (peer_t *p = sw->peers; p; p = p->next)
            if (alive(p) && p->state == PEER_ACTIVE && !peer_has(p, seq))
                have_index(p, seq);
    }
    sw->npending_have = keep;
    ev_timer_stop(sw->loop, &sw->have_timer);
    if (next != UINT64_MAX) {
        ev_timer_set(&sw->have_timer, (double)(next - now) / 1e9, 0);
        ev_timer_start(sw->loop, &sw->have_timer);
    }
}

/* Tell each peer where our other peers listen: 1 s after the handshake, then every 30 s. */
static void pex_send(swarm_t *sw, uint64_t now)
{
    for (peer_t *p = sw->peers; p; p = p->next) {
        if (!alive(p) || p->state != PEER_ACTIVE || !p->pex_id)
            continue;
        if (p->pex_ns ? now - p->pex_ns < SW_PEX_NS : now - p->connected_ns < 1000000000ull)
            continue;
        p->pex_ns = now;
        ts_wire_addr_t a[TS_WIRE_PEX_MAX];
        size_t n = 0;
        for (peer_t *q = sw->peers; q && n < TS_WIRE_PEX_MAX; q = q->next)
            if (q != p && alive(q) && q->state == PEER_ACTIVE && q->listen_port)
                a[n++] = (ts_wire_addr_t){ ntohl(q->addr.sin_addr.s_addr), q->listen_port };
        if (n > 0)
            ts_wire_put_pex(&p->out, p->pex_id, a, n);
    }
}

void peer_tick(swarm_t *sw, uint64_t now)
{
    pick_tick(sw, now);
    peer_late_haves(sw, now);
    peer_serve(sw);
    pex_send(sw, now);
    peer_t **pp = &sw->peers;
    while (*pp) {
        peer_t *p = *pp;
        if (now - p->decay_ns > 10ull * 1000000000) { /* old sins fade: what counts is a burst */
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
                misbehaved(p, "no handshake within 10 s");
        }
        if (alive(p) && p->partial_since_ns && now - p->partial_since_ns > SW_PARTIAL_NS)
            misbehaved(p, "message left unfinished");
        if (alive(p) && p->out.len > SW_OUTBUF_HARD)
            peer_close(p, "reads nothing: send queue over 16 MiB");
        if (alive(p) && p->state == PEER_ACTIVE && now - p->last_tx_ns > 30ull * 1000000000)
            ts_wire_put_keepalive(&p->out);
        if (!alive(p)) {
            *pp = p->next;
            if (sw->serve_next == p)
                sw->serve_next = NULL;
            ts_buf_free(&p->in);
            ts_buf_free(&p->out);
            free(p->has);
            free(p->told);
            free(p);
            continue;
        }
        pp = &p->next;
    }
}

int swarm_count_peers(swarm_t *sw)
{
    int n = 0;
    for (peer_t *p = sw->peers; p; p = p->next)
        n += alive(p) && p->state == PEER_ACTIVE;
    return n;
}

/* Remember a listening peer so that a lost connection (its restart, ours) is dialled again. */
void peer_learn(swarm_t *sw, uint32_t ip, uint16_t port)
{
    if (ip == sw->announce_ip && port == sw->port)
        return;
    for (int i = 0; i < sw->nknown; i++)
        if (sw->known[i].ip == ip && sw->known[i].port == port)
            return;
    int i = sw->nknown < SW_MAX_KNOWN ? sw->nknown++ : (int)(ts_mono_ns() % SW_MAX_KNOWN);
    sw->known[i] = (struct known){ .ip = ip, .port = port };
}

/* Dial known peers we are not connected to, backing off from those that do not answer. */
void peer_redial(swarm_t *sw, uint64_t now)
{
    for (int i = 0; i < sw->nknown; i++) {
        struct known *k = &sw->known[i];
        int connected = 0, pending = 0;
        for (peer_t *p = sw->peers; p && !connected; p = p->next)
            if (alive(p) && p->addr.sin_addr.s_addr == htonl(k->ip) &&
                (p->listen_port == k->port || (p->outgoing && ntohs(p->addr.sin_port) == k->port))) {
                connected = p->state == PEER_ACTIVE;
                pending = 1;
            }
        if (connected) {
            k->fails = 0;
            k->next_ns = 0;
            continue;
        }
        /* A dial still in its handshake neither proves the address good nor needs another one
         * (resetting the backoff here made a dial that ends as a duplicate repeat every tick). */
        if (pending || now < k->next_ns)
            continue;
        k->fails = k->fails < REDIAL_FAILS_MAX ? k->fails + 1 : REDIAL_FAILS_MAX;
        k->next_ns = now + redial_delay_ns(k->fails);
        peer_connect(sw, k->ip, k->port);
    }
}
