/* Tracker client: announce over HTTP on a libev loop and hand the peers returned to the owner
 * (the swarm, or the magnet-link metadata fetch). Announces at start, then at the tracker's
 * interval (sooner while the owner has few peers). */
#include "announce.h"
#include "tracker.h"
#include "ts_log.h"
#include "ts_sock.h"
#include "ts_time.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ANN_RESP_MAX (64 * 1024)
#define ANN_TIMEOUT_S 10.0
#define ANN_FEW_PEERS 3
#define ANN_RETRY_S 5.0

struct announce {
    announce_cfg_t cfg;
    struct ev_loop *loop;
    char url[512];
    int fd, started;
    ev_io io;
    ev_timer timer;
    ts_buf_t req, resp;
    size_t req_off;
    int interval;
    int again;     /* announce again as soon as the one in flight ends */
};

static void ann_schedule(struct announce *a, double after)
{
    ev_timer_stop(a->loop, &a->timer);
    ev_timer_set(&a->timer, after, 0);
    ev_timer_start(a->loop, &a->timer);
}

static void ann_finish(struct announce *a, int ok)
{
    if (a->fd >= 0) {
        ev_io_stop(a->loop, &a->io);
        close(a->fd);
        a->fd = -1;
    }
    double next = a->interval > 0 ? a->interval : 30;
    if (!ok || a->cfg.npeers(a->cfg.arg) < ANN_FEW_PEERS)
        next = ANN_RETRY_S;
    if (a->again)
        next = 0;
    a->again = 0;
    ann_schedule(a, next);
}

static void ann_parse(struct announce *a)
{
    ts_announce_resp_t r;
    char err[256];
    if (ts_tracker_parse_response(a->resp.data, a->resp.len, &r, err, sizeof err) < 0) {
        ts_warn("tracker %s: %s", a->url, err);
        ann_finish(a, 0);
        return;
    }
    if (a->cfg.announces)
        (*a->cfg.announces)++;
    if (r.failure[0]) {
        ts_warn("tracker %s: announce refused: %s", a->url, r.failure);
        ts_announce_resp_free(&r);
        ann_finish(a, 0);
        return;
    }
    a->started = 1;
    a->interval = r.interval > 5 ? r.interval : 5;
    ts_debug("tracker: %zu peers, interval %d s", r.npeers, r.interval);
    for (size_t i = 0; i < r.npeers; i++)
        a->cfg.on_peer(a->cfg.arg, r.peers[i].ip, r.peers[i].port);
    ts_announce_resp_free(&r);
    ann_finish(a, 1);
}

static void ann_on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct announce *a = w->data;
    if (revents & EV_WRITE) {
        if (ts_sock_connected(a->fd) < 0) {
            ts_warn("tracker %s: %s", a->url, strerror(errno));
            ann_finish(a, 0);
            return;
        }
        ssize_t n = write(a->fd, a->req.data + a->req_off, a->req.len - a->req_off);
        if (n < 0 && errno != EAGAIN) {
            ann_finish(a, 0);
            return;
        }
        if (n > 0) {
            a->req_off += (size_t)n;
            if (a->cfg.bytes_up)
                *a->cfg.bytes_up += (uint64_t)n; /* tracker traffic counts as overhead */
        }
        if (a->req_off == a->req.len) {
            ev_io_stop(loop, &a->io);
            ev_io_set(&a->io, a->fd, EV_READ);
            ev_io_start(loop, &a->io);
        }
        return;
    }
    if (ts_buf_reserve(&a->resp, 4096) < 0) {
        ann_finish(a, 0);
        return;
    }
    ssize_t n = read(a->fd, a->resp.data + a->resp.len, 4096);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        ann_parse(a);
        return;
    }
    a->resp.len += (size_t)n;
    if (a->cfg.bytes_down)
        *a->cfg.bytes_down += (uint64_t)n;
    if (a->resp.len > ANN_RESP_MAX) {
        ts_warn("tracker %s: response too large", a->url);
        ann_finish(a, 0);
    }
}

static void ann_start(struct announce *a)
{
    char host[256];
    uint16_t port;
    a->req.len = 0;
    a->resp.len = 0;
    a->req_off = 0;
    uint64_t up = a->cfg.bytes_up ? *a->cfg.bytes_up : 0, down = a->cfg.bytes_down ? *a->cfg.bytes_down : 0;
    if (ts_tracker_request(a->url, a->cfg.infohash, a->cfg.peer_id, a->cfg.port, up, down,
                           a->started ? NULL : "started", host, sizeof host, &port, &a->req) < 0) {
        ts_error("tracker URL %s is not usable (http:// only)", a->url);
        return;
    }
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res = NULL;
    char ports[8];
    snprintf(ports, sizeof ports, "%u", port);
    if (getaddrinfo(host, ports, &hints, &res) != 0 || !res) {
        ts_warn("tracker %s: cannot resolve %s", a->url, host);
        ann_finish(a, 0);
        return;
    }
    /* the tracker records the address it sees: ours, as bound (where we listen) */
    struct sockaddr_in b = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(a->cfg.bind_ip) };
    int pending;
    a->fd = ts_sock_connect(res->ai_addr, res->ai_addrlen, a->cfg.bind_ip ? (struct sockaddr *)&b : NULL, sizeof b,
                            &pending);
    freeaddrinfo(res);
    if (a->fd < 0) {
        ts_warn("tracker %s: %s", a->url, strerror(errno));
        ann_finish(a, 0);
        return;
    }
    ev_io_set(&a->io, a->fd, EV_WRITE);
    ev_io_start(a->loop, &a->io);
    ann_schedule(a, ANN_TIMEOUT_S);
}

static void ann_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct announce *a = w->data;
    if (a->fd >= 0) {
        ts_warn("tracker %s: no answer in %.0f s", a->url, ANN_TIMEOUT_S);
        ann_finish(a, 0);
        return;
    }
    ann_start(a);
}

struct announce *announce_new(struct ev_loop *loop, const announce_cfg_t *cfg, const char *url)
{
    struct announce *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->loop = loop;
    a->cfg = *cfg;
    a->fd = -1;
    snprintf(a->url, sizeof a->url, "%s", url);
    ts_buf_init(&a->req);
    ts_buf_init(&a->resp);
    ev_init(&a->io, ann_on_io);
    a->io.data = a;
    ev_init(&a->timer, ann_on_timer);
    a->timer.data = a;
    ann_start(a);
    return a;
}

void announce_destroy(struct announce **self)
{
    struct announce *a = *self;
    if (!a)
        return;
    if (a->fd >= 0) {
        ev_io_stop(a->loop, &a->io);
        close(a->fd);
    }
    ev_timer_stop(a->loop, &a->timer);
    ts_buf_free(&a->req);
    ts_buf_free(&a->resp);
    free(a);
    *self = NULL;
}

void announce_set_port(struct announce *a, uint16_t port)
{
    if (!a || a->cfg.port == port)
        return;
    a->cfg.port = port;
    if (a->fd >= 0)
        a->again = 1;
    else
        ann_schedule(a, 0);
}
