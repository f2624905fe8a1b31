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

static int alive(const peer_t *p) { return p->fd >= 0; }

static const char *addr_str(const peer_t *p, char *buf, size_t len)
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
        peer_pick_all(sw);
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

static int peer_has(const peer_t *p, uint64_t seq) { return p->has[seq % p->sw->n] == seq + 1; }

static void peer_mark(peer_t *p, uint64_t seq)
{
    swarm_mark_safe(p->sw, seq);
    uint64_t *slot = &p->has[seq % p->sw->n];
    if (*slot < seq + 1)
        *slot = seq + 1;
    if (!p->has_edge || seq > p->edge) {
        p->edge = seq;
        p->has_edge = 1;
    }
}

static void clear_requests(peer_t *p)
{
    swarm_t *sw = p->sw;
    for (uint64_t i = 0; i < sw->n && p->nreq > 0; i++)
        if (sw->req_peer[i] == p) {
            sw->req_peer[i] = NULL;
            p->nreq--;
        }
    p->nreq = 0;
}

void peer_close(peer_t *p, const char *why)
{
    if (!alive(p))
        return;
    char a[64];
    if (why && p->state == PEER_ACTIVE) {
        ts_log_fields_t f = { 0 };
        ts_log_field(&f, "peer", "%s", addr_str(p, a, sizeof a));
        ts_log_field(&f, "reason", "%s", why);
        ts_log_field(&f, "up_bytes", "%llu", (unsigned long long)p->bytes_up);
        ts_log_field(&f, "down_bytes", "%llu", (unsigned long long)p->bytes_down);
        ts_log_kv(TS_LOG_INFO, &f, "peer %s closed: %s (up %llu B, down %llu B)", a, why,
                  (unsigned long long)p->bytes_up, (unsigned long long)p->bytes_down);
    }
    else if (why)
        ts_debug("connection %s closed: %s", addr_str(p, a, sizeof a), why);
    clear_requests(p);
    ev_io_stop(p->sw->loop, &p->rio);
    ev_io_stop(p->sw->loop, &p->wio);
    close(p->fd);
    p->fd = -1; /* freed by peer_tick: callers up the stack may still hold p */
}

/* ---------------------------------------------------------------- offenders */

static int exempt(uint32_t ip) { return ip == 0x7f000001; } /* this host's own processes (tests, benchmarks) */

/* Keep an address out for SW_BAN_NS: new connections from it are refused and it is not dialled. */
void peer_ban(swarm_t *sw, uint32_t ip, uint64_t now)
{
    if (exempt(ip))
        return;
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
    if (exempt(ip))
        return 1;
    for (int i = 0; i < SW_MAX_BANS; i++)
        if (sw->bans[i].ip == ip && sw->bans[i].until_ns > now)
            return 0;
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
    ts_log_field(&f, "peer", "%s", addr_str(p, a, sizeof a));
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

static void update_interest(peer_t *p)
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

static int requested(const swarm_t *sw, uint64_t seq)
{
    uint64_t idx = seq % sw->n;
    return sw->req_peer[idx] && sw->req_seq[idx] == seq;
}

static void request(peer_t *p, uint64_t seq, uint64_t now)
{
    swarm_t *sw = p->sw;
    uint64_t idx = seq % sw->n;
    ts_wire_put_request(&p->out, TS_WIRE_REQUEST, (uint32_t)idx, 0, sw->meta.piece_len);
    sw->req_peer[idx] = p;
    sw->req_seq[idx] = seq;
    sw->req_ns[idx] = now;
    p->nreq++;
}

/* Request every missing piece from the playback point up: deadline first. Each goes to the
 * holder with the fewest of our requests outstanding (ties broken at random, so a new piece's
 * requesters spread over its holders). The broadcaster is asked only for what no one else
 * has, or when playout has been blocked on it too long: that keeps its upload near one copy. */
void peer_pick_all(swarm_t *sw)
{
    if (sw->is_source || !sw->hooked)
        return;
    uint64_t now = ts_mono_ns(), hi = 0;
    int any = 0;
    for (peer_t *p = sw->peers; p; p = p->next)
        if (alive(p) && p->state == PEER_ACTIVE && p->has_edge && p->edge >= sw->play_seq) {
            update_interest(p);
            if (!any || p->edge > hi)
                hi = p->edge;
            any = 1;
        }
    if (!any)
        goto out;
    /* Deadline first: from the playback point, at most half a window ahead (a peer claiming more
     * must not make us stop asking for what playout needs; falling that far behind re-tunes). */
    uint64_t lo = sw->play_seq;
    if (hi - lo >= sw->n / 2)
        hi = lo + sw->n / 2 - 1;
    int urgent_ok = sw->blocked_since_ns && now - sw->blocked_since_ns > SW_SRC_URGENT_NS;
    for (uint64_t s = lo; s <= hi; s++) {
        if (ts_window_has(sw->win, s) || requested(sw, s))
            continue;
        peer_t *best = NULL, *src = NULL;
        uint32_t best_key = UINT32_MAX;
        for (peer_t *p = sw->peers; p; p = p->next) {
            if (!alive(p) || p->state != PEER_ACTIVE || p->peer_choking || !peer_has(p, s))
                continue;
            if (p->source) {
                src = p;
                continue;
            }
            if (p->nreq >= SW_PIPELINE)
                continue;
            uint32_t key = (uint32_t)p->strikes << 24 | (uint32_t)p->nreq << 16 | (uint32_t)(rand() & 0xffff);
            if (key < best_key) {
                best_key = key;
                best = p;
            }
        }
        if (best)
            request(best, s, now);
        else if (src && src->nreq < SW_PIPELINE) {
            /* only the broadcaster has it: unless some peer does but is busy, or it is urgent */
            int elsewhere = 0;
            for (peer_t *p = sw->peers; p && !elsewhere; p = p->next)
                elsewhere = p != src && alive(p) && p->state == PEER_ACTIVE && peer_has(p, s);
            if (!elsewhere || (s == sw->play_seq && urgent_ok))
                request(src, s, now);
        }
    }
out:;
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
    if (!p->told_edge)
        live_to(p);
    ts_wire_put_have(&p->out, (uint32_t)(seq % p->sw->n));
}

/* Redial backoff of a known address after `fails` failures: 0.5 s, 1 s, ... 16 s. */
#define REDIAL_FAILS_MAX 6
static uint64_t redial_delay_ns(int fails) { return 250ull * 1000000 << fails; }

/* Redial a known address only after the longest backoff: it leads to a peer we are already
 * connected to by another address. */
static void peer_known_later(swarm_t *sw, uint32_t ip, uint16_t port)
{
    for (int i = 0; i < sw->nknown; i++)
        if (sw->known[i].ip == ip && sw->known[i].port == port) {
            sw->known[i].fails = REDIAL_FAILS_MAX;
            sw->known[i].next_ns = ts_mono_ns() + redial_delay_ns(REDIAL_FAILS_MAX);
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
            peer_known_later(p->sw, ntohl(drop->addr.sin_addr.s_addr), ntohs(drop->addr.sin_port));
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
    ts_buf_consume(&p->in, TS_WIRE_HANDSHAKE_LEN);
    memcpy(p->id, h.peer_id, 20);
    p->ext = ts_wire_handshake_ext(&h);
    if (!p->outgoing)
        send_handshake(p);
    p->state = PEER_ACTIVE;
    if (duplicate(p))
        return -1;
    char a[64];
    ts_log_fields_t f = { 0 };
    ts_log_field(&f, "peer", "%s", addr_str(p, a, sizeof a));
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
        if (x.has_edge) {
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
        if (!p->has_edge || edge > p->edge) {
            p->edge = edge;
            p->has_edge = 1;
        }
        if (rap > p->rap || !p->has_rap)
            p->rap = rap;
        p->has_rap = 1;
    }
    if (!sw->is_source && !sw->hooked)
        swarm_consider_hook(sw);
}

static void on_piece(peer_t *p, const ts_wire_msg_t *m)
{
    swarm_t *sw = p->sw;
    if (m->index >= sw->n || m->begin != 0 || m->data_len > sw->meta.piece_len) {
        misbehaved(p, "piece outside the piece space");
        return;
    }
    ts_trailer_t t;
    if (ts_verifier_check(sw->verifier, m->data, m->data_len, sw->meta.piece_len, &t) < 0) {
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
    int asked = sw->req_peer[m->index] == p;
    if (asked) {
        sw->req_peer[m->index] = NULL;
        p->nreq--;
    }
    peer_mark(p, t.seq);
    int rc = ts_window_put(sw->win, m->data, m->data_len, &t, m->index);
    if (rc == TS_WIN_FAR && swarm_jumped(sw, &t))
        rc = ts_window_put(sw->win, m->data, m->data_len, &t, m->index);
    if (rc == TS_WIN_CONFLICT) {
        sw->c_bad_pieces++;
        misbehaved(p, "two different pieces signed for one sequence number");
        return;
    }
    if (!asked && rc == TS_WIN_OLD) {
        misbehaved(p, "unrequested piece older than the window (replay)");
        return;
    }
    if (!asked && rc == TS_WIN_DUP)
        peer_junk(p, "unrequested pieces we hold");
    if (rc == TS_WIN_OK) {
        sw->c_pieces_in++;
        sw->c_payload_down += t.payload_len;
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
        size_t len;
        ts_trailer_t t;
        const uint8_t *piece = ts_window_get(sw->win, ts_window_seq_for_index(sw->win, idx, sw->edge), &len, &t);
        if (!piece) {
            peer_junk(p, "requests for pieces we do not have");
            if (!alive(p))
                return 0;
            continue;
        }
        ts_wire_put_piece(&p->out, idx, 0, piece, len);
        peer_mark(p, t.seq); /* it holds it now: no late HAVE of it to this peer (it would be junk) */
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
        clear_requests(p);
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
        /* Read the index against our own edge once we have one: against the peer's claimed edge,
         * a stream of HAVEs could walk its edge (and our picker) arbitrarily far ahead. */
        if (!sw->has_edge && !p->has_edge)
            break; /* no edge to read the index against (it sends ts_live before the HAVE it needs) */
        uint64_t ref = sw->has_edge ? sw->edge : p->edge;
        uint64_t seq = ts_window_seq_for_index(sw->win, m->index, ref);
        if (peer_has(p, seq))
            peer_junk(p, "repeated have");
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
    if (!p || !(p->has = calloc(sw->n, sizeof *p->has))) {
        free(p);
        close(fd);
        return NULL;
    }
    p->sw = sw;
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
    if (n >= (sw->max_peers < SW_OUT_TARGET ? sw->max_peers : SW_OUT_TARGET) || !peer_admit(sw, ip, ts_mono_ns()))
        return;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
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

/* Tell peers we hold a new piece: a few at once (sw->fanout, in turn), the rest a little later
 * (pending_have). Each new holder does the same, so a piece spreads as a tree whose nodes each
 * serve about as many copies as their upload allows in a piece's time, instead of every
 * neighbour asking the first holder at once; peers that got it meanwhile need no HAVE at all.
 * The broadcaster tells one viewer and the rest only after a second: it uploads each piece
 * about once. */
void peer_have_broadcast(swarm_t *sw, uint64_t seq, int rap_changed)
{
    int active = 0, told = 0;
    for (peer_t *p = sw->peers; p; p = p->next)
        active += alive(p) && p->state == PEER_ACTIVE && !peer_has(p, seq);
    if (active == 0) {
        if (rap_changed)
            for (peer_t *p = sw->peers; p; p = p->next)
                if (alive(p) && p->state == PEER_ACTIVE && p->live_id)
                    live_to(p);
        return;
    }
    /* choose sw->fanout of the `active` peers that lack it, uniformly at random */
    int want = sw->fanout < active ? sw->fanout : active, left = active;
    for (peer_t *p = sw->peers; p; p = p->next) {
        if (!alive(p) || p->state != PEER_ACTIVE)
            continue;
        if (peer_has(p, seq)) {
            if (rap_changed)
                live_to(p);
            continue;
        }
        if (want > 0 && rand() % left < want) {
            have_to(p, seq, rap_changed);
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
        uint64_t now = ts_mono_ns(), min = SW_HAVE_MIN_NS;
        if (sw->up_rate > 0) {
            uint64_t serve = (uint64_t)((double)told * (sw->meta.piece_len + 13) / sw->up_rate * 1e9);
            if (serve > min)
                min = serve;
        }
        uint64_t max = sw->is_source ? SW_SRC_HAVE_DELAY_NS : SW_HAVE_DELAY_NS;
        if (sw->is_source)
            min = max; /* the broadcaster waits the full delay: its upload stays near one copy */
        sw->pending_have[sw->npending_have].seq = seq;
        sw->pending_have[sw->npending_have].min_ns = now + min;
        sw->pending_have[sw->npending_have++].max_ns = now + max;
        if (!ev_is_active(&sw->have_timer)) {
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

/* Announce pending pieces to the peers not yet told: those past their maximum delay, and, while
 * our upload is idle, those past their minimum. */
void peer_late_haves(swarm_t *sw, uint64_t now)
{
    int done = 0, idle = -1;
    while (done < sw->npending_have) {
        if (now < sw->pending_have[done].max_ns) {
            if (now < sw->pending_have[done].min_ns)
                break;
            if (idle < 0)
                idle = upload_idle(sw);
            if (!idle)
                break;
        }
        uint64_t seq = sw->pending_have[done++].seq;
        if (!ts_window_has(sw->win, seq))
            continue;
        for (peer_t *p = sw->peers; p; p = p->next)
            if (alive(p) && p->state == PEER_ACTIVE && !peer_has(p, seq))
                have_index(p, seq);
    }
    memmove(sw->pending_have, sw->pending_have + done, (size_t)(sw->npending_have - done) * sizeof *sw->pending_have);
    sw->npending_have -= done;
    /* next due: the head's minimum (or, while upload is busy, peer_serve calls us when it drains) */
    ev_timer_stop(sw->loop, &sw->have_timer);
    if (sw->npending_have > 0 && now < sw->pending_have[0].min_ns) {
        ev_timer_set(&sw->have_timer, (double)(sw->pending_have[0].min_ns - now) / 1e9, 0);
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

static int other_holder(swarm_t *sw, peer_t *not, uint64_t seq)
{
    for (peer_t *p = sw->peers; p; p = p->next)
        if (p != not && alive(p) && p->state == PEER_ACTIVE && !p->peer_choking && !p->source && peer_has(p, seq) &&
            p->nreq < SW_PIPELINE)
            return 1;
    return 0;
}

/* Playback moved on to seq (hook-in, re-tune): requests for earlier pieces are waste; cancel
 * them, so they neither hold pipeline slots nor use the holders' upload. */
void peer_cancel_before(swarm_t *sw, uint64_t seq)
{
    for (uint64_t i = 0; i < sw->n; i++) {
        peer_t *p = sw->req_peer[i];
        if (!p || sw->req_seq[i] >= seq)
            continue;
        sw->req_peer[i] = NULL;
        p->nreq--;
        if (alive(p))
            ts_wire_put_request(&p->out, TS_WIRE_CANCEL, (uint32_t)i, 0, sw->meta.piece_len);
    }
}

void peer_tick(swarm_t *sw, uint64_t now)
{
    /* A request unanswered for long, or for a while when another peer could serve it: cancel it
     * and let the picker ask again (a holder with a long queue is then skipped). */
    for (uint64_t i = 0; i < sw->n; i++) {
        peer_t *p = sw->req_peer[i];
        if (!p)
            continue;
        uint64_t age = now - sw->req_ns[i];
        if (age > SW_REQ_TIMEOUT_NS && p->strikes < 255)
            p->strikes++; /* announced but did not send (busy, stalled or lying): asked last from now on */
        if (age > SW_REQ_TIMEOUT_NS || (age > SW_REREQ_NS && other_holder(sw, p, sw->req_seq[i]))) {
            sw->req_peer[i] = NULL;
            p->nreq--;
            ts_wire_put_request(&p->out, TS_WIRE_CANCEL, (uint32_t)i, 0, sw->meta.piece_len);
        }
    }
    peer_late_haves(sw, now);
    peer_serve(sw);
    pex_send(sw, now);
    peer_t **pp = &sw->peers;
    while (*pp) {
        peer_t *p = *pp;
        if (now - p->decay_ns > 10ull * 1000000000) { /* old sins fade: what counts is a burst */
            p->decay_ns = now;
            p->junk /= 2;
            p->strikes /= 2;
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
