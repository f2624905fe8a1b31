#include "ts_httpd.h"
#include "ts_err.h"
#include "ts_log.h"
#include "ts_metrics.h"
#include "ts_sock.h"
#include "ts_time.h"
#include "ts_units.h"
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define LINGER_S 1.0       /* after the response, wait this long (at most) for the client to close */
#define MAX_PATH 128
#define HEAD_MAX 512       /* the response head we write */

typedef enum {
    C_REQUEST, /* reading the request head */
    C_REPLY,   /* writing the response */
    C_LINGER,  /* response written and our side shut: draining until the client closes */
} cstate_t;

typedef struct conn {
    struct conn *prev, *next;
    ts_httpd_t *h;
    int fd;
    cstate_t st;
    int peer_eof; /* the client shut its side after the request */
    ev_io rio, wio;
    ev_timer timer;
    size_t req_len;
    char head[HEAD_MAX]; /* the response head */
    size_t head_len;
    ts_buf_t body;
    size_t off; /* bytes of head + body written */
    int with_body;
    uint8_t req[TS_HTTP_MAX_HEAD];
} conn_t;

typedef struct {
    char path[MAX_PATH];
    ts_httpd_fn *fn;
    void *arg;
    ts_httpd_t *h;
    ts_httpd_ready_fn *ready;
    void *ready_arg;
    ts_httpd_take_fn *take; /* a prefix route: the connection is handed over */
} route_t;

struct ts_httpd {
    struct ev_loop *loop;
    ts_acceptor_t *acc; /* pauses when out of descriptors */
    uint16_t port;
    double timeout;
    size_t max_conns;
    conn_t *head;
    route_t routes[TS_HTTPD_MAX_ROUTES];
    size_t nroutes;
    ts_httpd_stats_t stats;
    /* livez: loop turn lengths */
    int livez_on, in_turn;
    ev_check turn_begin;
    ev_prepare turn_end;
    uint64_t turn_start_ns, win_start_ns, worst_cur_ns, worst_prev_ns;
    double stall, window;
};

static const char TEXT_PLAIN[] = "text/plain; charset=utf-8";

/* ------------------------------------------------------------------ connections */

/* Forget the connection; its descriptor stays open (closed by the caller, or handed over). */
static void conn_unlink(conn_t *c)
{
    ts_httpd_t *h = c->h;
    ev_io_stop(h->loop, &c->rio);
    ev_io_stop(h->loop, &c->wio);
    ev_timer_stop(h->loop, &c->timer);
    ts_buf_free(&c->body);
    if (c->prev)
        c->prev->next = c->next;
    else
        h->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    h->stats.conns--;
    free(c);
}

static void conn_close(conn_t *c)
{
    close(c->fd);
    conn_unlink(c);
}

static void conn_timer(conn_t *c, double secs)
{
    ev_timer_stop(c->h->loop, &c->timer);
    ev_timer_set(&c->timer, secs, 0);
    ev_timer_start(c->h->loop, &c->timer);
}

/* Write what the socket takes. 0 while the connection lives, -1 once it was closed. */
static int conn_write(conn_t *c)
{
    ts_httpd_t *h = c->h;
    size_t total = c->head_len + (c->with_body ? c->body.len : 0);
    while (c->off < total) {
        struct iovec iov[2];
        int n = 0;
        if (c->off < c->head_len) {
            iov[n].iov_base = c->head + c->off;
            iov[n++].iov_len = c->head_len - c->off;
        }
        size_t boff = c->off > c->head_len ? c->off - c->head_len : 0;
        if (c->with_body && boff < c->body.len) {
            iov[n].iov_base = c->body.data + boff;
            iov[n++].iov_len = c->body.len - boff;
        }
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
        ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ev_io_start(h->loop, &c->wio);
            return 0;
        }
        if (w < 0) {
            conn_close(c); /* EPIPE, ECONNRESET: the client went away */
            return -1;
        }
        c->off += (size_t)w;
    }
    ev_io_stop(h->loop, &c->wio);
    ts_buf_free(&c->body);
    if (c->peer_eof) {
        conn_close(c);
        return -1;
    }
    /* Half-close and drain, so the response is not lost to a reset from unread request bytes. */
    shutdown(c->fd, SHUT_WR);
    c->st = C_LINGER;
    ev_io_start(h->loop, &c->rio);
    conn_timer(c, h->timeout < LINGER_S ? h->timeout : LINGER_S);
    return 0;
}

/* A header value we are willing to send: printable ASCII, nothing that could end the line. */
static int header_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (s[n] < 0x20 || s[n] > 0x7e)
            return 0;
    return n > 0 && n < 200;
}

/* Answer with status and c->body (already filled). */
static void conn_respond(conn_t *c, int status, const char *ctype, const char *extra, int with_body)
{
    ts_httpd_t *h = c->h;
    if (c->body.err || status < 200 || status > 599 || status == 204 || status == 304 || !header_ok(ctype)) {
        ts_warn("http: bad response (status %d, content type '%.40s'%s): answering 500", status, ctype,
                c->body.err ? ", body out of memory" : "");
        ts_buf_free(&c->body);
        ts_buf_printf(&c->body, "internal server error\n");
        status = 500;
        ctype = TEXT_PLAIN;
        extra = NULL;
    }
    int n = snprintf(c->head, sizeof c->head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
                     "%sConnection: close\r\n\r\n",
                     status, ts_http_reason(status), ctype, c->body.len, extra ? extra : "");
    c->head_len = n > 0 && (size_t)n < sizeof c->head ? (size_t)n : 0; /* cannot overflow: ctype < 200 */
    c->with_body = with_body;
    c->off = 0;
    c->st = C_REPLY;
    h->stats.requests++;
    conn_timer(c, h->timeout);
    conn_write(c);
}

static void conn_respond_text(conn_t *c, int status, const char *extra, const char *text, int with_body)
{
    ts_buf_free(&c->body);
    ts_buf_printf(&c->body, "%s", text);
    conn_respond(c, status, TEXT_PLAIN, extra, with_body);
}

static void conn_request(conn_t *c, const ts_http_req_t *req)
{
    ts_httpd_t *h = c->h;
    const route_t *rt = NULL;
    for (size_t i = 0; i < h->nroutes && !rt; i++)
        if (!h->routes[i].take && strlen(h->routes[i].path) == req->path_len &&
            memcmp(h->routes[i].path, req->path, req->path_len) == 0)
            rt = &h->routes[i];
    for (size_t i = 0; i < h->nroutes && !rt; i++) {
        size_t n = strlen(h->routes[i].path);
        if (h->routes[i].take && n <= req->path_len && memcmp(h->routes[i].path, req->path, n) == 0) {
            int fd = c->fd;
            uint8_t head[TS_HTTP_MAX_HEAD];
            ts_http_req_t moved = *req; /* its pointers move with the bytes into head */
            const char *from = (const char *)c->req, *to = (const char *)head;
            memcpy(head, c->req, req->head_len);
            moved.method_str = to + (req->method_str - from);
            moved.target = to + (req->target - from);
            moved.path = to + (req->path - from);
            h->stats.requests++;
            conn_unlink(c);
            h->routes[i].take(fd, &moved, head, h->routes[i].arg);
            return;
        }
    }
    int head_only = req->method == TS_HTTP_M_HEAD;
    if (!rt) {
        conn_respond_text(c, 404, NULL, "not found\n", !head_only);
        return;
    }
    if (req->method != TS_HTTP_M_GET && !head_only) {
        conn_respond_text(c, 405, "Allow: GET, HEAD\r\n", "method not allowed\n", 1);
        return;
    }
    ts_httpd_resp_t resp = { .status = 200, .content_type = NULL };
    ts_buf_init(&resp.body);
    rt->fn(req, c->req, &resp, rt->arg);
    ts_buf_free(&c->body);
    c->body = resp.body;
    conn_respond(c, resp.status, resp.content_type ? resp.content_type : TEXT_PLAIN, NULL, !head_only);
}

/* Anything that arrives after the request (a body, a second request) is read and dropped; what
 * matters is EOF. Returns -1 if the connection was closed. */
static int conn_drain(conn_t *c)
{
    uint8_t scratch[4096];
    for (;;) {
        ssize_t r = recv(c->fd, scratch, sizeof scratch, MSG_DONTWAIT);
        if (r > 0)
            continue;
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (r == 0 && c->st == C_REPLY) {
            /* Half-closed after its request (nc -N, some scripts): the response is still owed. */
            ev_io_stop(c->h->loop, &c->rio);
            c->peer_eof = 1;
            return 0;
        }
        conn_close(c); /* EOF while lingering, or an error */
        return -1;
    }
}

static void on_conn_read(struct ev_loop *loop, ev_io *w, int revents)
{
    conn_t *c = w->data;
    if (c->st != C_REQUEST) {
        conn_drain(c);
        return;
    }
    size_t room = sizeof c->req - c->req_len; /* > 0: a full buffer is always answered */
    ssize_t r = recv(c->fd, c->req + c->req_len, room, MSG_DONTWAIT);
    if (r == 0) {
        conn_close(c); /* closed before a complete request */
        return;
    }
    if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            conn_close(c);
        return;
    }
    size_t old = c->req_len;
    c->req_len += (size_t)r;
    /* Parse the first bytes (junk such as a TLS hello is refused at once), then only when a line
     * ended or the buffer is full, so a client feeding one byte at a time cannot make us rescan
     * the head for every byte. */
    if (old > 0 && !memchr(c->req + old, '\n', (size_t)r) && c->req_len < sizeof c->req)
        return;
    ts_http_req_t req;
    int rc = ts_http_parse(c->req, c->req_len, &req);
    if (rc == TS_HTTP_PARTIAL)
        return;
    if (rc == TS_HTTP_BAD) {
        c->h->stats.bad++;
        conn_respond_text(c, 400, NULL, "bad request\n", 1);
        return;
    }
    conn_request(c, &req);
}

static void on_conn_write(struct ev_loop *loop, ev_io *w, int revents) { conn_write(w->data); }

static void on_conn_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    conn_t *c = w->data;
    if (c->st != C_LINGER)
        c->h->stats.timeouts++;
    conn_close(c);
}

/* ------------------------------------------------------------------ listener */

/* Over the limit: a 503 the socket surely takes (a fresh connection has a whole send buffer), then
 * close. What the client already sent is read first, so the close does not turn into a reset that
 * would destroy the 503 before the client reads it. */
static void reject(ts_httpd_t *h, int fd)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
                               "Content-Length: 5\r\nRetry-After: 1\r\nConnection: close\r\n\r\nbusy\n";
    uint8_t scratch[4096];
    for (int i = 0; i < 4 && recv(fd, scratch, sizeof scratch, MSG_DONTWAIT) > 0; i++)
        ;
    (void)!send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    close(fd);
    h->stats.rejected++;
    h->stats.requests++;
}

static int on_conn(int fd, const struct sockaddr *sa, socklen_t salen, void *arg)
{
    ts_httpd_t *h = arg;
    struct ev_loop *loop = h->loop;
    if (h->stats.conns >= h->max_conns) {
        reject(h, fd);
        return 0;
    }
    conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return 0;
    }
    c->h = h;
    c->fd = fd;
    c->st = C_REQUEST;
    ts_buf_init(&c->body);
    ev_io_init(&c->rio, on_conn_read, fd, EV_READ);
    ev_io_init(&c->wio, on_conn_write, fd, EV_WRITE);
    ev_timer_init(&c->timer, on_conn_timer, h->timeout, 0);
    c->rio.data = c->wio.data = c->timer.data = c;
    ev_io_start(loop, &c->rio);
    ev_timer_start(loop, &c->timer);
    c->next = h->head;
    if (h->head)
        h->head->prev = c;
    h->head = c;
    h->stats.conns++;
    return 0;
}

static int listen_on(ts_httpd_t *h, const char *spec, char *err, size_t errlen)
{
    char addr[256];
    uint16_t port;
    if (!spec || !*spec)
        spec = "127.0.0.1:0";
    if (ts_units_hostport(spec, addr, sizeof addr, &port) < 0)
        return ts_err(err, errlen, "bad address '%s' (want ADDR:PORT)", spec);
    int e, fd = ts_sock_listen(addr, port, 64, &h->port, &e, err, errlen);
    if (fd < 0)
        return -1;
    if (!(h->acc = ts_acceptor_new(h->loop, fd, "http", on_conn, h)))
        return ts_err(err, errlen, "out of memory");
    return 0;
}

ts_httpd_t *ts_httpd_new(struct ev_loop *loop, const char *addr, char *err, size_t errlen)
{
    ts_httpd_t *h = calloc(1, sizeof *h);
    if (!h) {
        ts_err(err, errlen, "out of memory");
        return NULL;
    }
    h->loop = loop;
    h->timeout = TS_HTTPD_TIMEOUT;
    h->max_conns = TS_HTTPD_MAX_CONNS;
    h->stall = TS_HTTPD_LIVEZ_STALL;
    h->window = TS_HTTPD_LIVEZ_WINDOW;
    if (listen_on(h, addr, err, errlen) < 0) {
        free(h);
        return NULL;
    }
    return h;
}

void ts_httpd_destroy(ts_httpd_t **self)
{
    ts_httpd_t *h = *self;
    if (!h)
        return;
    while (h->head)
        conn_close(h->head);
    ts_acceptor_destroy(&h->acc);
    if (h->livez_on) {
        ev_ref(h->loop);
        ev_check_stop(h->loop, &h->turn_begin);
        ev_ref(h->loop);
        ev_prepare_stop(h->loop, &h->turn_end);
    }
    free(h);
    *self = NULL;
}

uint16_t ts_httpd_port(const ts_httpd_t *h) { return h->port; }

void ts_httpd_set_timeout(ts_httpd_t *h, double seconds)
{
    if (seconds > 0)
        h->timeout = seconds;
}

void ts_httpd_set_max_conns(ts_httpd_t *h, size_t n)
{
    if (n > 0)
        h->max_conns = n;
}

const ts_httpd_stats_t *ts_httpd_stats(const ts_httpd_t *h) { return &h->stats; }

static route_t *route_add(ts_httpd_t *h, const char *path, ts_httpd_fn *fn, void *arg)
{
    if (!path || path[0] != '/' || strlen(path) >= MAX_PATH || !fn || h->nroutes == TS_HTTPD_MAX_ROUTES)
        return NULL;
    for (size_t i = 0; i < h->nroutes; i++)
        if (strcmp(h->routes[i].path, path) == 0)
            return NULL;
    route_t *rt = &h->routes[h->nroutes++];
    memset(rt, 0, sizeof *rt);
    snprintf(rt->path, sizeof rt->path, "%s", path);
    rt->fn = fn;
    rt->arg = arg;
    rt->h = h;
    return rt;
}

int ts_httpd_route(ts_httpd_t *h, const char *path, ts_httpd_fn *fn, void *arg)
{
    return route_add(h, path, fn, arg) ? 0 : -1;
}

static void take_unused(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *resp, void *arg) {}

int ts_httpd_route_take(ts_httpd_t *h, const char *prefix, ts_httpd_take_fn *fn, void *arg)
{
    route_t *rt = fn ? route_add(h, prefix, take_unused, arg) : NULL;
    if (!rt)
        return -1;
    rt->take = fn;
    return 0;
}

/* ------------------------------------------------------------------ livez, readyz, metrics */

static void on_turn_begin(struct ev_loop *loop, ev_check *w, int revents)
{
    ts_httpd_t *h = w->data;
    h->turn_start_ns = ts_mono_ns();
    h->in_turn = 1;
}

static void on_turn_end(struct ev_loop *loop, ev_prepare *w, int revents)
{
    ts_httpd_t *h = w->data;
    if (!h->in_turn)
        return; /* the first turn: no start seen */
    h->in_turn = 0;
    uint64_t now = ts_mono_ns(), win = ts_s_to_ns(h->window);
    if (now - h->win_start_ns >= win) {
        h->worst_prev_ns = now - h->win_start_ns >= 2 * win ? 0 : h->worst_cur_ns;
        h->worst_cur_ns = 0;
        h->win_start_ns = now;
    }
    if (now - h->turn_start_ns > h->worst_cur_ns)
        h->worst_cur_ns = now - h->turn_start_ns;
}

double ts_httpd_loop_stall(const ts_httpd_t *h)
{
    uint64_t now = ts_mono_ns(), win = ts_s_to_ns(h->window), age = now - h->win_start_ns, w = 0;
    if (age < win)
        w = h->worst_cur_ns > h->worst_prev_ns ? h->worst_cur_ns : h->worst_prev_ns;
    else if (age < 2 * win)
        w = h->worst_cur_ns; /* about to become the previous window */
    if (h->in_turn && now - h->turn_start_ns > w)
        w = now - h->turn_start_ns;
    return ts_ns_to_s(w);
}

void ts_httpd_set_livez(ts_httpd_t *h, double stall, double window)
{
    if (stall > 0)
        h->stall = stall;
    if (window > 0)
        h->window = window;
}

static void livez(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *resp, void *arg)
{
    const ts_httpd_t *h = ((const route_t *)arg)->h;
    double s = ts_httpd_loop_stall(h);
    if (s > h->stall) {
        resp->status = 503;
        ts_buf_printf(&resp->body, "loop stalled: a turn took %.3f s (limit %.3f s)\n", s, h->stall);
    } else {
        ts_buf_printf(&resp->body, "ok\n");
    }
}

int ts_httpd_route_livez(ts_httpd_t *h, const char *path)
{
    route_t *rt = route_add(h, path, livez, NULL);
    if (!rt)
        return -1;
    rt->arg = rt;
    if (!h->livez_on) {
        h->livez_on = 1;
        h->win_start_ns = ts_mono_ns();
        ev_check_init(&h->turn_begin, on_turn_begin);
        ev_set_priority(&h->turn_begin, EV_MAXPRI); /* before every other callback of the turn */
        ev_prepare_init(&h->turn_end, on_turn_end);
        ev_set_priority(&h->turn_end, EV_MINPRI); /* after other prepare watchers, which may do work */
        h->turn_begin.data = h->turn_end.data = h;
        ev_check_start(h->loop, &h->turn_begin);
        ev_unref(h->loop);
        ev_prepare_start(h->loop, &h->turn_end);
        ev_unref(h->loop);
    }
    return 0;
}

static void readyz(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *resp, void *arg)
{
    const route_t *rt = arg;
    char why[256] = "";
    int ok = rt->ready(rt->ready_arg, why, sizeof why) == 1;
    why[sizeof why - 1] = 0;
    resp->status = ok ? 200 : 503;
    ts_buf_printf(&resp->body, "%s%s%s\n", ok ? "ok" : "not ready", why[0] ? ": " : "", why);
}

int ts_httpd_route_readyz(ts_httpd_t *h, const char *path, ts_httpd_ready_fn *fn, void *arg)
{
    if (!fn)
        return -1;
    route_t *rt = route_add(h, path, readyz, NULL);
    if (!rt)
        return -1;
    rt->arg = rt;
    rt->ready = fn;
    rt->ready_arg = arg;
    return 0;
}

static void metrics(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *resp, void *arg)
{
    ts_metrics_render(arg, &resp->body);
    resp->content_type = TS_METRICS_CONTENT_TYPE;
}

int ts_httpd_route_metrics(ts_httpd_t *h, const char *path, const struct ts_metrics *reg)
{
    return reg ? ts_httpd_route(h, path, metrics, (void *)reg) : -1;
}
