#include "ts_bus.h"
#include "ts_curve.h"
#include "ts_log.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define BUS_BATCH 64 /* messages handled per loop turn, for fairness between sockets */

struct ts_bus {
    struct ev_loop *loop;
    void *sock;
    int type;
    ts_bus_fn *fn;
    void *arg;
    ev_io io;
    ev_prepare prepare;
    ev_check check;
    ev_idle idle;
    int pending;     /* ZMQ_EVENTS must be looked at: FD fired, we sent, or a drain hit its batch */
    uint64_t rejected;
    char endpoint[256];
};

static int readable(ts_bus_t *b)
{
    int ev = 0;
    size_t sz = sizeof ev;
    if (zmq_getsockopt(b->sock, ZMQ_EVENTS, &ev, &sz) < 0)
        return 0;
    return (ev & ZMQ_POLLIN) != 0;
}

/* Handle up to BUS_BATCH messages. Once a receive finds nothing, the next message raises the
 * edge on ZMQ_FD again, so pending can be cleared. */
static void drain(ts_bus_t *b)
{
    for (int i = 0; i < BUS_BATCH; i++) {
        zmq_msg_t id, body;
        uint8_t idbuf[256];
        size_t idlen = 0;
        if (b->type == ZMQ_ROUTER) {
            zmq_msg_init(&id);
            if (zmq_msg_recv(&id, b->sock, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&id);
                b->pending = 0;
                return;
            }
            idlen = zmq_msg_size(&id);
            if (idlen > sizeof idbuf)
                idlen = sizeof idbuf;
            memcpy(idbuf, zmq_msg_data(&id), idlen);
            zmq_msg_close(&id);
        }
        zmq_msg_init(&body);
        if (zmq_msg_recv(&body, b->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&body);
            b->pending = 0;
            return;
        }
        /* Exactly one body frame is expected; anything after it is garbage to discard. */
        int more = zmq_msg_more(&body);
        char err[128];
        Ts__Envelope *e = more ? NULL : ts_msg_unpack(zmq_msg_data(&body), zmq_msg_size(&body), err, sizeof err);
        if (more)
            snprintf(err, sizeof err, "multi-frame message");
        zmq_msg_close(&body);
        while (more) {
            zmq_msg_t x;
            zmq_msg_init(&x);
            if (zmq_msg_recv(&x, b->sock, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&x);
                break;
            }
            more = zmq_msg_more(&x);
            zmq_msg_close(&x);
        }
        if (!e) {
            b->rejected++;
            ts_warn("dropped malformed message on %s: %s", b->endpoint, err);
            continue;
        }
        b->fn(b, b->type == ZMQ_ROUTER ? idbuf : NULL, idlen, e, b->arg);
        ts_msg_free(e);
    }
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    ((ts_bus_t *)w->data)->pending = 1;
}

static void on_idle(struct ev_loop *loop, ev_idle *w, int revents) { (void)loop; (void)w; (void)revents; }

/* ZMQ_FD is edge-triggered: the FD, a send or an unfinished drain sets `pending`, and only then
 * is ZMQ_EVENTS read (each read costs a poll and a getpid, so not on every loop turn). */
static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)revents;
    ts_bus_t *b = w->data;
    if (b->pending)
        ev_idle_start(loop, &b->idle); /* do not block: on_check has work */
}

static void on_check(struct ev_loop *loop, ev_check *w, int revents)
{
    (void)revents;
    ts_bus_t *b = w->data;
    ev_idle_stop(loop, &b->idle);
    if (!b->pending)
        return;
    if (readable(b))
        drain(b);
    else
        b->pending = 0;
}

ts_bus_t *ts_bus_new(struct ev_loop *loop, void *zctx, int type, const char *endpoint, int bind,
                     const char *identity, const char *server, ts_bus_fn *fn, void *arg)
{
    ts_bus_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->loop = loop;
    b->type = type;
    b->fn = fn;
    b->arg = arg;
    snprintf(b->endpoint, sizeof b->endpoint, "%s", endpoint);
    b->sock = zmq_socket(zctx, type);
    if (!b->sock)
        goto fail;
    int zero = 0, one = 1, hwm = 20000, ivl = 100, ivl_max = 1000;
    int64_t maxmsg = TS_MSG_MAX;
    zmq_setsockopt(b->sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(b->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt(b->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(b->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(b->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(b->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
    if (type == ZMQ_ROUTER) {
        /* Report unroutable sends instead of dropping them; let a restarted peer take over its id. */
        zmq_setsockopt(b->sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
        zmq_setsockopt(b->sock, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    }
    if (identity && *identity)
        zmq_setsockopt(b->sock, ZMQ_ROUTING_ID, identity, strlen(identity));
    char err[256];
    if (ts_curve_apply(b->sock, endpoint, bind, server, err, sizeof err) < 0) {
        ts_error("%s", err);
        goto fail;
    }
    if ((bind ? zmq_bind(b->sock, endpoint) : zmq_connect(b->sock, endpoint)) < 0) {
        ts_error("cannot %s %s: %s", bind ? "bind" : "connect", endpoint, zmq_strerror(errno));
        goto fail;
    }
    int fd;
    size_t sz = sizeof fd;
    if (zmq_getsockopt(b->sock, ZMQ_FD, &fd, &sz) < 0)
        goto fail;
    ev_io_init(&b->io, on_io, fd, EV_READ);
    ev_prepare_init(&b->prepare, on_prepare);
    ev_check_init(&b->check, on_check);
    ev_idle_init(&b->idle, on_idle);
    b->prepare.data = b->check.data = b->idle.data = b->io.data = b;
    b->pending = 1;
    ev_io_start(loop, &b->io);
    ev_prepare_start(loop, &b->prepare);
    ev_check_start(loop, &b->check);
    return b;
fail:
    if (b->sock)
        zmq_close(b->sock);
    free(b);
    return NULL;
}

void ts_bus_destroy(ts_bus_t **self)
{
    ts_bus_t *b = *self;
    if (!b)
        return;
    ev_io_stop(b->loop, &b->io);
    ev_prepare_stop(b->loop, &b->prepare);
    ev_check_stop(b->loop, &b->check);
    ev_idle_stop(b->loop, &b->idle);
    zmq_close(b->sock);
    free(b);
    *self = NULL;
}

int ts_bus_send_raw(ts_bus_t *b, const uint8_t *peer, size_t peer_len, const uint8_t *data, size_t len)
{
    int rc = 0;
    if (b->type == ZMQ_ROUTER && zmq_send(b->sock, peer, peer_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        rc = -1;
    if (rc == 0 && zmq_send(b->sock, data, len, ZMQ_DONTWAIT) < 0)
        rc = -1;
    int saved = errno;
    /* A send can consume the edge on ZMQ_FD: make sure the next check looks at ZMQ_EVENTS. */
    b->pending = 1;
    ev_idle_start(b->loop, &b->idle);
    errno = saved;
    return rc;
}

int ts_bus_send(ts_bus_t *b, const uint8_t *peer, size_t peer_len, const Ts__Envelope *msg)
{
    uint8_t *data;
    size_t len;
    if (ts_msg_pack(msg, &data, &len) < 0) {
        errno = EMSGSIZE;
        return -1;
    }
    int rc = ts_bus_send_raw(b, peer, peer_len, data, len);
    int saved = errno;
    free(data);
    errno = saved;
    return rc;
}

uint64_t ts_bus_rejected(const ts_bus_t *b) { return b->rejected; }

void *ts_bus_socket(ts_bus_t *b) { return b->sock; }
