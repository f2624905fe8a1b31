/* One BitTorrent connection: its socket, buffers and lifetime. Nothing here reads a message:
 * the bytes go to sw->on_input (dispatch.c), which checks every length before use. */
#include "peer.h"
#include "ts_log.h"
#include "ts_time.h"
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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
int peer_flush(peer_t *p)
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

/* The kernel's own queue for p: TCP_NOTSENT_LOWAT keeps it short only between writes (a write
 * goes on filling a 64 KB segment buffer past the mark), so we write a piece only when little is
 * unsent, by the same test the kernel uses to report the socket writable — so that when it is
 * not, the write watcher wakes us exactly when it is. */
int peer_kernel_room(peer_t *p)
{
    int unsent = 0;
    if (ioctl(p->fd, SIOCOUTQNSD, &unsent) < 0 || 2 * unsent < SW_NOTSENT_LOWAT)
        return 1;
    ev_io_start(p->sw->loop, &p->wio);
    return 0;
}

static int room(peer_t *p) { return p->sw->has_room && p->sw->has_room(p); }

/* Also serves the next queued piece of a peer whose send queue this emptied (fanout_room: one
 * piece at a time): waiting for the next event instead — a request, a new piece, the 50 ms tick —
 * capped a fast connection at a piece per tick. A few rounds per loop turn; past them, the write
 * watcher of a peer with room fires at once and serves on. */
void peer_flush_all(swarm_t *sw)
{
    for (int round = 0; round < 8; round++) {
        int more = 0;
        for (peer_t *p = sw->peers; p; p = p->next) {
            if (!alive(p) || p->out.len == 0 || ev_is_active(&p->wio) || p->state == PEER_CONNECTING)
                continue;
            if (peer_flush(p) == 0 && room(p))
                more = 1;
        }
        if (!more)
            return;
        sw->serve(sw);
    }
    for (peer_t *p = sw->peers; p; p = p->next)
        if (alive(p) && p->out.len == 0 && room(p))
            ev_io_start(sw->loop, &p->wio);
}

void peer_send_handshake(peer_t *p)
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

static void note_has(peer_t *p, uint64_t seq);

void peer_mark(peer_t *p, uint64_t seq)
{
    swarm_t *sw = p->sw;
    /* broadcaster: a piece a peer has is safe to ack to the signer (source.c) */
    if (sw->src_safe)
        sw->src_safe[seq % sw->n] = seq + 1;
    note_has(p, seq);
}

/* A piece just queued to p: it is p's as far as announcing goes (no HAVE of it to p), but the
 * broadcaster counts it safe only once p's kernel has acknowledged its last byte (source.c): a
 * swarm killed with the piece still in our buffers, or in a send queue that the kernel discards
 * with a reset at our death, would otherwise have acked a piece nobody got. */
void peer_mark_sent(peer_t *p, uint64_t seq)
{
    if (p->sw->src_safe) {
        if (p->sent_len == SW_SENT_MAX) { /* the oldest waits for the 5 s rule instead */
            p->sent_head = (p->sent_head + 1) % SW_SENT_MAX;
            p->sent_len--;
        }
        p->sent[(p->sent_head + p->sent_len++) % SW_SENT_MAX] = (struct sw_sent){ seq, p->bytes_up + p->out.len };
    }
    note_has(p, seq);
}

static void note_has(peer_t *p, uint64_t seq)
{
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
    if (why && p->announced) {
        ts_log_fields_t f = { 0 };
        ts_log_field(&f, "peer", "%s", peer_addr(p, a, sizeof a));
        ts_log_field(&f, "reason", "%s", why);
        ts_log_field(&f, "up_bytes", "%llu", (unsigned long long)p->bytes_up);
        ts_log_field(&f, "down_bytes", "%llu", (unsigned long long)p->bytes_down);
        /* its delivery record, for an operator asking why a peer went */
        ts_log_field(&f, "answered", "%llu", (unsigned long long)p->answered);
        ts_log_field(&f, "answer_ms", "%.1f", p->answered ? p->ans_ns / TS_NS_PER_MS : 0.0);
        ts_log_field(&f, "timeouts", "%llu", (unsigned long long)p->timeouts);
        ts_log_field(&f, "wrong", "%llu", (unsigned long long)p->wrong);
        ts_log_kv(TS_LOG_INFO, &f, "peer %s closed: %s (up %llu B, down %llu B)", a, why,
                  (unsigned long long)p->bytes_up, (unsigned long long)p->bytes_down);
    }
    else if (why)
        ts_debug("connection %s closed: %s", peer_addr(p, a, sizeof a), why);
    if (p->sw->on_closed)
        p->sw->on_closed(p); /* the picker forgets its requests */
    ev_io_stop(p->sw->loop, &p->rio);
    ev_io_stop(p->sw->loop, &p->wio);
    close(p->fd);
    p->fd = -1; /* freed by peer_reap: callers up the stack may still hold p */
}

void peer_close_gently(peer_t *p, const char *why)
{
    uint8_t junk[4096];
    if (peer_flush(p) < 0)
        return;
    while (read(p->fd, junk, sizeof junk) > 0)
        ;
    peer_close(p, why);
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
        p->sw->on_input(p);
        if ((size_t)n < 65536)
            break;
    }
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    peer_t *p = w->data;
    if (p->state == PEER_CONNECTING) {
        if (ts_sock_connected(p->fd) < 0) {
            peer_close(p, strerror(errno));
            return;
        }
        p->state = PEER_HANDSHAKE;
        peer_send_handshake(p);
        ev_io_start(loop, &p->rio);
    }
    if (peer_flush(p) == 0 && room(p))
        p->sw->serve(p->sw); /* its queue drained: the next of its requests */
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
    /* The kernel takes more only once it has sent nearly all it holds, not the megabytes an
     * autotuned send buffer holds (seconds of stream on a slow uplink, every piece behind them
     * late): what waits stays in our queue (fanout_room), where a fresh piece can go first. */
    int lowat = SW_NOTSENT_LOWAT;
    setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);
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
            peer_send_handshake(p);
            peer_flush(p);
        }
        ev_io_start(sw->loop, &p->rio);
    }
    return p;
}

/* Free the peers closed since the last call (peer_close leaves them in the list: callers up the
 * stack may still hold them). */
void peer_reap(swarm_t *sw)
{
    peer_t **pp = &sw->peers;
    while (*pp) {
        peer_t *p = *pp;
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

int peer_count(swarm_t *sw)
{
    int n = 0;
    for (peer_t *p = sw->peers; p; p = p->next)
        n += alive(p) && p->state == PEER_ACTIVE;
    return n;
}

