#include "server.h"
#include "hls.h"
#include "hls_req.h"
#include "outq.h"
#include "ts_http.h"
#include "ts_log.h"
#include "ts_piece.h"
#include "ts_sock.h"
#include "ts_time.h"
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LINGER_S 2.0       /* after a reply, wait this long for the client to close first */
#define READ_SCRATCH 4096

typedef enum {
    C_REQUEST, /* reading the request head */
    C_STREAM,  /* a player receiving the stream */
    C_REPLY,   /* a short response is being written */
    C_LINGER,  /* reply written and our side shut: draining until the client closes */
    C_HOLD,    /* an HLS request held until what it asks for exists (blocking reload, the next part) */
} cstate_t;

typedef struct client {
    struct client *prev, *next;
    ts_server_t *srv;
    int fd;
    cstate_t st;
    int wait_rap; /* streaming, but no RAP seen yet: send nothing until one comes */
    int peer_eof; /* the client shut its side after the request */
    char addr[64]; /* "[v6]:port" */
    char what[96]; /* "GET /x.ts 200" for the disconnect line */
    uint8_t *req;  /* request head bytes, freed once parsed */
    size_t req_len;
    ev_io rio, wio;
    ev_timer timer; /* request timeout, then hold or linger timeout */
    ts_hls_req_t hreq; /* C_HOLD: what it waits for */
    int head_only;
    ts_outq_t q;
    uint64_t sent, t0_ns;
} client_t;

struct ts_server {
    struct ev_loop *loop;
    const ts_ring_t *ring;
    char path[256];
    ts_acceptor_t *acc; /* pauses when out of descriptors */
    uint16_t port;
    client_t *head, *tail; /* in accept order */
    size_t n_stream, n_other, n_held;
    ts_server_stats_t stats;
    ts_hls_t *hls;
    char hls_base[256]; /* the stream's path without ".ts", as a player may type it */
};

static const char CORS[] = "Access-Control-Allow-Origin: *\r\n";
/* No Content-Length: the body is the live stream, ended by closing the connection. */
static const char STREAM_HEAD[] = "HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nCache-Control: no-cache\r\n"
                                  "Access-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n";

/* ------------------------------------------------------------------ connections */

static void client_close(client_t *cl, const char *why)
{
    ts_server_t *s = cl->srv;
    double secs = ts_ns_to_s(ts_mono_ns() - cl->t0_ns);
    ts_info("client %s disconnected (%s%s%s): %llu bytes sent in %.1f s", cl->addr, cl->what[0] ? cl->what : "",
            cl->what[0] ? ", " : "", why, (unsigned long long)cl->sent, secs);
    ev_io_stop(s->loop, &cl->rio);
    ev_io_stop(s->loop, &cl->wio);
    ev_timer_stop(s->loop, &cl->timer);
    close(cl->fd);
    ts_outq_clear(&cl->q);
    free(cl->req);
    if (cl->st == C_STREAM)
        s->n_stream--;
    else if (cl->st == C_HOLD)
        s->n_held--;
    else
        s->n_other--;
    s->stats.clients = s->n_stream;
    s->stats.hls_held = s->n_held;
    if (cl->prev)
        cl->prev->next = cl->next;
    else
        s->head = cl->next;
    if (cl->next)
        cl->next->prev = cl->prev;
    else
        s->tail = cl->prev;
    free(cl);
}

/* Queue bytes toward the client. 0, or -1 if the client was closed (over its limit, or no memory). */
static int client_push(client_t *cl, ts_chunk_t *c)
{
    if (cl->q.bytes + c->len > SERVER_MAX_QUEUE) {
        ts_warn("client %s is not keeping up (%zu bytes queued): dropping it", cl->addr, cl->q.bytes);
        cl->srv->stats.clients_dropped++;
        /* Reset, not close: a plain close leaves what the kernel still holds for it (megabytes)
         * in an orphan socket that lives as long as the client answers zero-window probes, so a
         * client that stalls, is dropped and reconnects would pin that much kernel memory each
         * time. What it has not read is of no use to it anyway. */
        struct linger rst = { .l_onoff = 1, .l_linger = 0 };
        setsockopt(cl->fd, SOL_SOCKET, SO_LINGER, &rst, sizeof rst);
        client_close(cl, "too slow");
        return -1;
    }
    if (ts_outq_push(&cl->q, c) < 0) {
        client_close(cl, "out of memory");
        return -1;
    }
    ev_io_start(cl->srv->loop, &cl->wio);
    return 0;
}

static int client_push_bytes(client_t *cl, const char *data, size_t len)
{
    ts_chunk_t *c = ts_chunk_new(0, 0, 0, data, len);
    if (!c) {
        client_close(cl, "out of memory");
        return -1;
    }
    int rc = client_push(cl, c);
    ts_chunk_unref(&c);
    return rc;
}

/* A short response follows; it gets as long to leave as the request had to come in. */
static void client_replying(client_t *cl)
{
    if (cl->st == C_HOLD) {
        cl->srv->n_held--;
        cl->srv->n_other++;
        cl->srv->stats.hls_held = cl->srv->n_held;
    }
    cl->st = C_REPLY;
    ev_timer_stop(cl->srv->loop, &cl->timer);
    ev_timer_set(&cl->timer, SERVER_REQUEST_TIMEOUT, 0);
    ev_timer_start(cl->srv->loop, &cl->timer);
}

/* A complete short response; the connection closes once it is written. */
static void client_reply(client_t *cl, int status, const char *extra, const char *body, int with_body)
{
    const char *reason = ts_http_reason(status);
    char buf[1024];
    size_t blen = body ? strlen(body) : 0;
    int n;
    if (status == 204)
        n = snprintf(buf, sizeof buf, "HTTP/1.1 %d %s\r\n%s%sConnection: close\r\n\r\n", status, reason, CORS,
                     extra ? extra : "");
    else
        n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-cache\r\n%s%sConnection: close\r\n\r\n%s",
                     status, reason, blen, CORS, extra ? extra : "", with_body && body ? body : "");
    if (n < 0 || (size_t)n >= sizeof buf)
        n = snprintf(buf, sizeof buf, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n%s"
                     "Connection: close\r\n\r\n", CORS);
    size_t w = strlen(cl->what);
    snprintf(cl->what + w, sizeof cl->what - w, "%s%d", w ? " " : "", status);
    client_replying(cl);
    client_push_bytes(cl, buf, (size_t)n);
}

/* GET of the stream: headers now, then from the newest RAP in the ring (or the next one). */
static void client_stream(client_t *cl)
{
    ts_server_t *s = cl->srv;
    size_t w = strlen(cl->what);
    snprintf(cl->what + w, sizeof cl->what - w, " 200");
    ev_timer_stop(s->loop, &cl->timer);
    free(cl->req); /* the request is done with; a player may stay for hours */
    cl->req = NULL;
    cl->st = C_STREAM;
    s->n_other--;
    s->n_stream++;
    s->stats.clients = s->n_stream;
    if (client_push_bytes(cl, STREAM_HEAD, sizeof STREAM_HEAD - 1) < 0)
        return;
    long rap = ts_ring_newest_rap(s->ring);
    /* Starting further back than the queue limit would only get the player dropped at once. */
    if (rap < 0 || ts_ring_bytes_from(s->ring, (size_t)rap) > SERVER_MAX_QUEUE / 2) {
        cl->wait_rap = 1;
        return;
    }
    for (size_t i = (size_t)rap; i < ts_ring_count(s->ring); i++)
        if (client_push(cl, ts_ring_at(s->ring, i)) < 0)
            return;
}

static int path_is(const ts_http_req_t *r, const char *p)
{
    size_t n = strlen(p);
    return r->path_len == n && memcmp(r->path, p, n) == 0;
}

/* CORS preflight: echo the headers the page asks for, if they look like header names. */
static void client_preflight(client_t *cl, const ts_http_req_t *r)
{
    char extra[512];
    int n = snprintf(extra, sizeof extra, "Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n"
                                          "Access-Control-Max-Age: 600\r\n");
    const char *v;
    size_t vlen;
    if (ts_http_header(cl->req, r, "Access-Control-Request-Headers", &v, &vlen) == 0 && vlen > 0 && vlen <= 256 &&
        strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_, ") >= vlen)
        snprintf(extra + n, sizeof extra - (size_t)n, "Access-Control-Allow-Headers: %.*s\r\n", (int)vlen, v);
    client_reply(cl, 204, extra, NULL, 0);
}

/* ------------------------------------------------------------------ HLS (hls.c has the media) */

/* 200 with a body of shared chunks (a segment's pieces are not copied). */
static void client_reply_chunks(client_t *cl, const char *type, const char *cache, ts_chunk_t **c, size_t n,
                                size_t bytes)
{
    char head[512];
    int len = snprintf(head, sizeof head,
                       "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: %s\r\n%s"
                       "Connection: close\r\n\r\n",
                       type, bytes, cache, CORS);
    size_t w = strlen(cl->what);
    snprintf(cl->what + w, sizeof cl->what - w, " 200");
    client_replying(cl);
    if (client_push_bytes(cl, head, (size_t)len) < 0 || cl->head_only)
        return;
    for (size_t i = 0; i < n; i++)
        if (client_push(cl, c[i]) < 0)
            return;
}

static void hls_playlist(client_t *cl)
{
    ts_buf_t b;
    ts_buf_init(&b);
    ts_chunk_t *c = ts_hls_playlist(cl->srv->hls, !cl->hreq.no_ll, &b) == 0 ? ts_chunk_new(0, 0, 0, b.data, b.len)
                                                                              : NULL;
    ts_buf_free(&b);
    if (!c) {
        client_reply(cl, 500, NULL, "out of memory\n", 1);
        return;
    }
    client_reply_chunks(cl, "application/vnd.apple.mpegurl", "no-cache", &c, 1, c->len);
    ts_chunk_unref(&c);
}

/* Answer the HLS request if what it asks for exists: 1 answered (cl may be gone), 0 not yet. */
static int hls_try(client_t *cl)
{
    const ts_hls_req_t *r = &cl->hreq;
    if (r->kind == TS_HLS_PLAYLIST) {
        int rc = ts_hls_ready(cl->srv->hls, r);
        if (rc < 0)
            client_reply(cl, 400, NULL, "_HLS_msn is too far ahead\n", !cl->head_only);
        else if (rc > 0)
            hls_playlist(cl);
        return rc != 0;
    }
    ts_hls_media_t m;
    int rc = ts_hls_media(cl->srv->hls, r, &m);
    if (rc < 0)
        client_reply(cl, 404, NULL, "no such segment or part\n", !cl->head_only);
    if (rc > 0) /* segments are never rewritten: an MSN is never reused, across restarts too */
        client_reply_chunks(cl, "video/mp2t", "max-age=600", m.c, m.n, m.bytes);
    ts_hls_media_free(&m);
    return rc != 0;
}

/* Not there yet: hold it (bounded in number and time) until ts_server_hls_changed says it is. */
static void hls_hold(client_t *cl)
{
    ts_server_t *s = cl->srv;
    if (cl->head_only || s->n_held >= SERVER_MAX_HELD) {
        s->stats.hls_refused++;
        client_reply(cl, 503, "Retry-After: 1\r\n", "not available yet\n", !cl->head_only);
        return;
    }
    double wait = 3.0 * ts_hls_target_s(s->hls); /* RFC 8216bis: three target durations */
    ev_timer_stop(s->loop, &cl->timer);
    ev_timer_set(&cl->timer, wait < SERVER_HOLD_MAX ? wait : SERVER_HOLD_MAX, 0);
    ev_timer_start(s->loop, &cl->timer);
    free(cl->req); /* held requests do not keep 8 KiB each */
    cl->req = NULL;
    cl->st = C_HOLD;
    s->n_other--;
    s->n_held++;
    s->stats.hls_held = s->n_held;
}

/* Is r an HLS path of ours? The base as the playlist writes it, or as a player may type it. */
static int hls_parse(ts_server_t *s, const ts_http_req_t *r, ts_hls_req_t *hr, const char **why)
{
    const char *q = r->path + r->path_len, *end = r->target + r->target_len;
    size_t qlen = 0;
    if (q < end && *q == '?') {
        q++;
        while (q + qlen < end && q[qlen] != '#')
            qlen++;
    }
    int rc = ts_hls_req_parse(ts_hls_base(s->hls), r->path, r->path_len, q, qlen, hr, why);
    if (rc == 0 && hr->kind == TS_HLS_NONE && strcmp(ts_hls_base(s->hls), s->hls_base) != 0)
        rc = ts_hls_req_parse(s->hls_base, r->path, r->path_len, q, qlen, hr, why);
    return rc;
}

static void hls_request(client_t *cl, int get, int rc, const ts_hls_req_t *hr, const char *why)
{
    cl->srv->stats.hls_requests++;
    if (rc < 0) {
        char body[128];
        snprintf(body, sizeof body, "%s\n", why);
        client_reply(cl, hr->kind == TS_HLS_PLAYLIST ? 400 : 404, NULL, body, get);
        return;
    }
    cl->hreq = *hr;
    cl->head_only = !get;
    if (!hls_try(cl))
        hls_hold(cl);
}

void ts_server_hls_changed(ts_server_t *s)
{
    client_t *next;
    for (client_t *cl = s->head; cl; cl = next) {
        next = cl->next; /* cl may be closed below */
        if (cl->st == C_HOLD)
            hls_try(cl);
    }
}

static void client_request(client_t *cl, const ts_http_req_t *r)
{
    ts_server_t *s = cl->srv;
    snprintf(cl->what, sizeof cl->what, "%.*s %.*s", (int)(r->method_len > 16 ? 16 : r->method_len), r->method_str,
             (int)(r->target_len > 64 ? 64 : r->target_len), r->target);
    int stream = path_is(r, s->path), index = path_is(r, "/");
    ts_hls_req_t hr = { 0 };
    const char *why = "";
    int hls_rc = s->hls ? hls_parse(s, r, &hr, &why) : 0, hls = hr.kind != TS_HLS_NONE;
    switch (r->method) {
    case TS_HTTP_M_OPTIONS:
        if (stream || index || hls || path_is(r, "*"))
            client_preflight(cl, r);
        else
            client_reply(cl, 404, NULL, "not found\n", 1);
        return;
    case TS_HTTP_M_OTHER:
        client_reply(cl, 405, "Allow: GET, HEAD, OPTIONS\r\n", "method not allowed\n", 1);
        return;
    case TS_HTTP_M_GET:
    case TS_HTTP_M_HEAD:
        break;
    }
    int get = r->method == TS_HTTP_M_GET;
    if (index) {
        char body[400];
        snprintf(body, sizeof body, "tstream live stream (MPEG-TS): %s\n%s%s%s", s->path, s->hls ? "HLS: " : "",
                 s->hls ? s->hls_base : "", s->hls ? ".m3u8\n" : "");
        client_reply(cl, 200, NULL, body, get);
    } else if (hls) {
        hls_request(cl, get, hls_rc, &hr, why);
    } else if (!stream) {
        client_reply(cl, 404, NULL, "not found\n", get);
    } else if (!get) {
        snprintf(cl->what + strlen(cl->what), sizeof cl->what - strlen(cl->what), " 200");
        client_replying(cl);
        client_push_bytes(cl, STREAM_HEAD, sizeof STREAM_HEAD - 1);
    } else if (s->n_stream >= SERVER_MAX_STREAMS) {
        ts_warn("client %s refused: already %zu players", cl->addr, s->n_stream);
        client_reply(cl, 503, "Retry-After: 5\r\n", "too many players\n", 1);
    } else {
        client_stream(cl);
    }
}

static void on_client_read(struct ev_loop *loop, ev_io *w, int revents)
{
    client_t *cl = w->data;
    if (cl->st == C_REQUEST) {
        size_t room = TS_HTTP_MAX_HEAD - cl->req_len; /* > 0: a full buffer is always answered */
        ssize_t r = read(cl->fd, cl->req + cl->req_len, room);
        if (r == 0) {
            client_close(cl, "closed before a complete request");
            return;
        }
        if (r < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                client_close(cl, strerror(errno));
            return;
        }
        size_t old = cl->req_len;
        cl->req_len += (size_t)r;
        /* Reparse only when a line ended (or the buffer is full): a client feeding one byte at a
         * time cannot make us rescan the head for every byte. */
        if (!memchr(cl->req + old, '\n', (size_t)r) && cl->req_len < TS_HTTP_MAX_HEAD)
            return;
        ts_http_req_t req;
        int rc = ts_http_parse(cl->req, cl->req_len, &req);
        if (rc == TS_HTTP_PARTIAL)
            return;
        if (rc == TS_HTTP_BAD) {
            snprintf(cl->what, sizeof cl->what, "bad request (%s)", req.error);
            client_reply(cl, 400, NULL, "bad request\n", 1);
            return;
        }
        client_request(cl, &req);
        return; /* cl may be gone */
    }
    /* Any later bytes (a body, pipelined requests) are read and dropped; what matters is EOF. */
    uint8_t scratch[READ_SCRATCH];
    ssize_t r = read(cl->fd, scratch, sizeof scratch);
    if (r == 0 && cl->st == C_HOLD)
        /* A player that gives up on a blocking reload (hls.js aborts after 1.6 s) closes: its
         * slot must not stay taken until the hold times out, or a few players fill them all. */
        client_close(cl, "gave up waiting");
    else if (r == 0 && cl->st == C_REPLY) {
        /* Half-closed after its request (nc -N, some scripts): the reply is still owed. */
        ev_io_stop(loop, &cl->rio);
        cl->peer_eof = 1;
    } else if (r == 0)
        client_close(cl, cl->st == C_STREAM ? "player closed" : "closed");
    else if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        client_close(cl, errno == ECONNRESET ? "player went away" : strerror(errno));
}

static void on_client_write(struct ev_loop *loop, ev_io *w, int revents)
{
    client_t *cl = w->data;
    ssize_t n = ts_outq_write(&cl->q, cl->fd);
    if (n < 0) {
        client_close(cl, errno == EPIPE || errno == ECONNRESET ? "player went away" : strerror(errno));
        return;
    }
    cl->sent += (uint64_t)n;
    cl->srv->stats.bytes_out += (uint64_t)n;
    if (cl->q.n)
        return;
    ev_io_stop(loop, &cl->wio);
    if (cl->st == C_REPLY && cl->peer_eof) {
        client_close(cl, "done");
    } else if (cl->st == C_REPLY) {
        /* Half-close and drain, so the reply is not lost to a reset from unread request bytes. */
        shutdown(cl->fd, SHUT_WR);
        cl->st = C_LINGER;
        ev_timer_set(&cl->timer, LINGER_S, 0);
        ev_timer_start(loop, &cl->timer);
    }
}

static void on_client_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    client_t *cl = w->data;
    if (cl->st == C_HOLD) {
        cl->srv->stats.hls_refused++;
        client_reply(cl, 503, "Retry-After: 1\r\n", "not available in time\n", !cl->head_only);
        return;
    }
    client_close(cl, cl->st == C_REQUEST ? "request timeout" : cl->st == C_REPLY ? "reply timeout" : "done");
}

/* ------------------------------------------------------------------ listener */

static void format_addr(const struct sockaddr *sa, socklen_t len, char *out, size_t outlen)
{
    char host[48], serv[8]; /* numeric only: an IPv6 address fits in 46 */
    if (getnameinfo(sa, len, host, sizeof host, serv, sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, outlen, "?");
        return;
    }
    if (sa->sa_family == AF_INET6)
        snprintf(out, outlen, "[%s]:%s", host, serv);
    else
        snprintf(out, outlen, "%s:%s", host, serv);
}

static void add_client(ts_server_t *s, int fd, const struct sockaddr *sa, socklen_t salen)
{
    if (s->n_other >= SERVER_MAX_OTHERS) {
        /* Full of connections that are not (yet) players: the oldest is the likeliest to be stuck. */
        for (client_t *c = s->head; c; c = c->next)
            if (c->st != C_STREAM && c->st != C_HOLD) {
                client_close(c, "closed to make room for a new connection");
                break;
            }
    }
    client_t *cl = calloc(1, sizeof *cl);
    uint8_t *req = malloc(TS_HTTP_MAX_HEAD);
    if (!cl || !req) {
        free(cl);
        free(req);
        close(fd);
        ts_warn("out of memory: connection refused");
        return;
    }
    cl->srv = s;
    cl->fd = fd;
    cl->req = req;
    cl->st = C_REQUEST;
    cl->t0_ns = ts_mono_ns();
    format_addr(sa, salen, cl->addr, sizeof cl->addr);
    ts_outq_init(&cl->q);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* pieces go out whole; no Nagle wait */
    ev_io_init(&cl->rio, on_client_read, fd, EV_READ);
    ev_io_init(&cl->wio, on_client_write, fd, EV_WRITE);
    ev_timer_init(&cl->timer, on_client_timer, SERVER_REQUEST_TIMEOUT, 0);
    cl->rio.data = cl->wio.data = cl->timer.data = cl;
    ev_io_start(s->loop, &cl->rio);
    ev_timer_start(s->loop, &cl->timer);
    cl->prev = s->tail;
    if (s->tail)
        s->tail->next = cl;
    else
        s->head = cl;
    s->tail = cl;
    s->n_other++;
    ts_info("client %s connected", cl->addr);
}

static int on_conn(int fd, const struct sockaddr *sa, socklen_t salen, void *arg)
{
    add_client(arg, fd, sa, salen);
    return 0;
}

static int listen_on(ts_server_t *s, const char *addr, uint16_t port, int *fatal_config, char *err, size_t errlen)
{
    int e, fd = ts_sock_listen(addr, port, 128, &s->port, &e, err, errlen);
    if (fd < 0) {
        /* a bad host, an address not ours or a privileged port will not change by restarting */
        *fatal_config = e == 0 || e == EADDRNOTAVAIL || e == EACCES;
        return -1;
    }
    if (!(s->acc = ts_acceptor_new(s->loop, fd, "http", on_conn, s))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

ts_server_t *ts_server_new(struct ev_loop *loop, const char *addr, uint16_t port, const char *path,
                           const ts_ring_t *ring, int *fatal_config, char *err, size_t errlen)
{
    *fatal_config = 0;
    if (strlen(path) >= sizeof ((ts_server_t *)0)->path) {
        *fatal_config = 1;
        snprintf(err, errlen, "path too long");
        return NULL;
    }
    ts_server_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->ring = ring;
    snprintf(s->path, sizeof s->path, "%s", path);
    if (listen_on(s, addr, port, fatal_config, err, errlen) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

void ts_server_destroy(ts_server_t **self)
{
    ts_server_t *s = *self;
    if (!s)
        return;
    while (s->head)
        client_close(s->head, "server stopping");
    ts_acceptor_destroy(&s->acc);
    free(s);
    *self = NULL;
}

uint16_t ts_server_port(const ts_server_t *s) { return s->port; }

void ts_server_set_hls(ts_server_t *s, ts_hls_t *hls)
{
    s->hls = hls;
    size_t n = strlen(s->path);
    n = n > 3 && strcmp(s->path + n - 3, ".ts") == 0 ? n - 3 : n;
    snprintf(s->hls_base, sizeof s->hls_base, "%.*s", (int)n, s->path);
}

void ts_server_piece(ts_server_t *s, ts_chunk_t *c)
{
    client_t *next;
    for (client_t *cl = s->head; cl; cl = next) {
        next = cl->next; /* cl may be closed below */
        if (cl->st != C_STREAM)
            continue;
        if (cl->wait_rap) {
            if (!(c->flags & TS_PIECE_RAP))
                continue;
            cl->wait_rap = 0;
        }
        client_push(cl, c);
    }
}

const ts_server_stats_t *ts_server_stats(const ts_server_t *s) { return &s->stats; }
