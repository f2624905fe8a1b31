#include "engine_proxy.h"
#include "ts_http.h"
#include "ts_sock.h"
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef enum { P_HOLD, P_CONNECT, P_RELAY, P_REPLY, P_LINGER } pstate_t;

struct proxy {
    struct ev_loop *loop;
    pstate_t st;
    int fd, up; /* the player; the bridge (-1 until relaying) */
    int head_only, up_eof;
    ev_io prd, pwr, urd, uwr;
    ev_timer timer;
    uint8_t *buf; /* cap bytes (PROXY_BUF when relaying): [start, end) waits for the player */
    size_t cap, start, end;
    uint64_t sent, sent_at_check;
    char req[512]; /* the request to the bridge */
    size_t req_len, req_off;
    proxy_end_fn *end_fn;
    void *arg;
};

static unsigned live; /* connections taken and not yet closed, whatever their state */

unsigned proxy_count(void) { return live; }

void proxy_close(proxy_t *p, const char *why)
{
    live--;
    ev_io_stop(p->loop, &p->prd);
    ev_io_stop(p->loop, &p->pwr);
    ev_io_stop(p->loop, &p->urd);
    ev_io_stop(p->loop, &p->uwr);
    ev_timer_stop(p->loop, &p->timer);
    close(p->fd);
    if (p->up >= 0)
        close(p->up);
    if (p->end_fn)
        p->end_fn(p, why, p->arg);
    free(p->buf);
    free(p);
}

static void set_timer(proxy_t *p, double after, double repeat)
{
    ev_timer_stop(p->loop, &p->timer);
    ev_timer_set(&p->timer, after, repeat);
    ev_timer_start(p->loop, &p->timer);
}

/* Send what waits; returns -1 if p was closed. */
static int flush(proxy_t *p)
{
    while (p->start < p->end) {
        ssize_t w = send(p->fd, p->buf + p->start, p->end - p->start, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ev_io_start(p->loop, &p->pwr);
            return 0;
        }
        if (w <= 0) {
            proxy_close(p, "player closed");
            return -1;
        }
        p->start += (size_t)w;
        p->sent += (uint64_t)w;
    }
    ev_io_stop(p->loop, &p->pwr);
    p->start = p->end = 0;
    if (p->st == P_REPLY) {
        /* Half-close and wait for the player's close, so unread bytes do not turn it into a reset. */
        shutdown(p->fd, SHUT_WR);
        p->st = P_LINGER;
        set_timer(p, PROXY_LINGER_S, 0);
        return 0;
    }
    if (p->up_eof) {
        proxy_close(p, "viewer ended the response");
        return -1;
    }
    if (p->st == P_RELAY)
        ev_io_start(p->loop, &p->urd); /* room again */
    return 0;
}

void proxy_reply(proxy_t *p, int status, const char *headers, const char *body)
{
    if (p->up >= 0) {
        ev_io_stop(p->loop, &p->urd);
        ev_io_stop(p->loop, &p->uwr);
        close(p->up);
        p->up = -1;
    }
    /* A short answer gets a buffer its size, not a relay's PROXY_BUF. */
    size_t need = 512 + (headers ? strlen(headers) : 0) + strlen(body);
    if (!p->buf || p->cap < need) {
        free(p->buf);
        if (!(p->buf = malloc(need))) {
            proxy_close(p, "out of memory");
            return;
        }
        p->cap = need;
    }
    int n = snprintf((char *)p->buf, p->cap,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n%s",
                     status, ts_http_reason(status), p->head_only ? 0 : strlen(body), headers ? headers : "",
                     p->head_only ? "" : body);
    p->start = 0;
    p->end = n > 0 && (size_t)n < p->cap ? (size_t)n : 0;
    p->st = P_REPLY;
    set_timer(p, PROXY_STALL_S, 0);
    flush(p);
}

static void on_player_read(struct ev_loop *loop, ev_io *w, int revents)
{
    proxy_t *p = w->data;
    uint8_t scratch[2048];
    for (int n = 0; n < 16; n++) { /* 32 KiB a turn: a client that floods us must not hold the loop */
        ssize_t r = recv(p->fd, scratch, sizeof scratch, MSG_DONTWAIT);
        if (r > 0)
            continue; /* a player says nothing after its request that matters here */
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        proxy_close(p, "player closed");
        return;
    }
}

static void on_player_write(struct ev_loop *loop, ev_io *w, int revents) { flush(w->data); }

static void on_up_read(struct ev_loop *loop, ev_io *w, int revents)
{
    proxy_t *p = w->data;
    if (p->end == p->cap && p->start > 0) {
        memmove(p->buf, p->buf + p->start, p->end - p->start);
        p->end -= p->start;
        p->start = 0;
    }
    if (p->end == p->cap) {
        ev_io_stop(loop, &p->urd); /* full: the bridge waits until the player takes some */
        return;
    }
    ssize_t r = recv(p->up, p->buf + p->end, p->cap - p->end, MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (r <= 0) {
        ev_io_stop(loop, &p->urd);
        p->up_eof = 1;
        if (p->sent == 0 && p->end == 0) {
            proxy_reply(p, 502, NULL, "the viewer's player-bridge closed the connection without answering\n");
            return;
        }
        flush(p);
        return;
    }
    p->end += (size_t)r;
    flush(p);
}

static void on_up_write(struct ev_loop *loop, ev_io *w, int revents)
{
    proxy_t *p = w->data;
    if (p->st == P_CONNECT) {
        if (ts_sock_connected(p->up) < 0) {
            proxy_reply(p, 502, NULL, "the viewer's player-bridge does not answer\n");
            return;
        }
        p->st = P_RELAY;
        set_timer(p, PROXY_STALL_S, PROXY_STALL_S);
    }
    while (p->req_off < p->req_len) {
        ssize_t n = send(p->up, p->req + p->req_off, p->req_len - p->req_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (n <= 0) {
            proxy_reply(p, 502, NULL, "the viewer's player-bridge closed the connection\n");
            return;
        }
        p->req_off += (size_t)n;
    }
    ev_io_stop(loop, &p->uwr);
    ev_io_start(loop, &p->urd);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    proxy_t *p = w->data;
    switch (p->st) {
    case P_CONNECT: proxy_reply(p, 502, NULL, "the viewer's player-bridge does not answer\n"); return;
    case P_RELAY:
        if (p->start < p->end && p->sent == p->sent_at_check) {
            proxy_close(p, "player too slow");
            return;
        }
        p->sent_at_check = p->sent;
        return;
    case P_REPLY: proxy_close(p, "player did not take the response"); return;
    case P_LINGER: proxy_close(p, "answered"); return;
    default: return;
    }
}

proxy_t *proxy_new(struct ev_loop *loop, int fd, int head_only, proxy_end_fn *end, void *arg)
{
    proxy_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->loop = loop;
    p->fd = fd;
    p->up = -1;
    p->head_only = head_only;
    p->end_fn = end;
    p->arg = arg;
    p->st = P_HOLD;
    live++;
    ev_io_init(&p->prd, on_player_read, fd, EV_READ);
    ev_io_init(&p->pwr, on_player_write, fd, EV_WRITE);
    ev_timer_init(&p->timer, on_timer, 0, 0);
    p->prd.data = p->pwr.data = p->urd.data = p->uwr.data = p->timer.data = p;
    ev_io_start(loop, &p->prd); /* a player that gives up while waiting is noticed */
    return p;
}

void proxy_relay(proxy_t *p, uint16_t port, const char *path)
{
    int pending;
    free(p->buf);
    if (!(p->buf = malloc(PROXY_BUF))) {
        proxy_close(p, "out of memory");
        return;
    }
    p->cap = PROXY_BUF;
    p->start = p->end = 0;
    int n = snprintf(p->req, sizeof p->req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUser-Agent: tstream-engine\r\nConnection: close\r\n\r\n",
                     p->head_only ? "HEAD" : "GET", path, port);
    p->req_len = n > 0 && (size_t)n < sizeof p->req ? (size_t)n : 0;
    p->up = p->req_len ? ts_sock_connect4(INADDR_LOOPBACK, port, 0, &pending) : -1;
    if (p->up < 0) {
        proxy_reply(p, 502, NULL, "cannot connect to the viewer's player-bridge\n");
        return;
    }
    ev_io_init(&p->urd, on_up_read, p->up, EV_READ);
    ev_io_init(&p->uwr, on_up_write, p->up, EV_WRITE);
    p->st = P_CONNECT;
    set_timer(p, PROXY_CONNECT_S, 0);
    ev_io_start(p->loop, &p->uwr);
}

void proxy_set_end(proxy_t *p, proxy_end_fn *end, void *arg)
{
    p->end_fn = end;
    p->arg = arg;
}

int proxy_relaying(const proxy_t *p) { return p->st == P_CONNECT || p->st == P_RELAY; }
uint64_t proxy_bytes(const proxy_t *p) { return p->sent; }
void *proxy_arg(const proxy_t *p) { return p->arg; }
