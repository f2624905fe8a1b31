#include "src_tcp.h"
#include "ts_log.h"
#include "ts_mpegts.h"
#include "ts_sock.h"
#include "ts_time.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK 65536
#define READS_PER_WAKEUP 16
#define HEAD 564        /* three packets: enough to tell MPEG-TS (ts_mpegts_looks) */
#define HEAD_WAIT_S 5.0 /* a connection that has not shown MPEG-TS by then gives the slot back */

struct ts_src_tcp {
    struct ev_loop *loop;
    ts_source_cb_t cb;
    void *arg;
    ts_acceptor_t *acc;
    int fd;          /* the encoder's connection, -1 when none */
    int checked;     /* its first bytes were MPEG-TS: its bytes go on */
    size_t head_len; /* bytes held until then */
    uint64_t runs, bytes, last_ns;
    char peer[48];
    ev_io io;
    ev_timer watch; /* head wait, then silence */
    ts_log_limit_t lim_busy, lim_bad;
    uint8_t head[HEAD];
    uint8_t buf[CHUNK];
};

static void addr_str(const struct sockaddr *sa, char *out, size_t n)
{
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    char ip[INET_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
    snprintf(out, n, "%s:%u", ip, sa->sa_family == AF_INET ? ntohs(in->sin_port) : 0);
}

/* The encoder's connection is over: said once; a checked one ends a run. */
static void drop(ts_src_tcp_t *t, const char *why)
{
    ev_io_stop(t->loop, &t->io);
    ev_timer_stop(t->loop, &t->watch);
    close(t->fd);
    t->fd = -1;
    if (!t->checked)
        return;
    ts_warn("encoder %s %s after %llu bytes: waiting for the next connection", t->peer, why,
            (unsigned long long)t->bytes);
    t->cb.ended(1, t->arg);
}

static void refuse_head(ts_src_tcp_t *t, const char *why)
{
    ts_log_limited(&t->lim_bad, TS_LOG_WARN, "connection from %s closed: %s", t->peer, why);
    t->cb.refused(t->head_len, t->arg);
    drop(t, why);
}

/* The first bytes: MPEG-TS, or the connection goes. */
static int take_head(ts_src_tcp_t *t, const uint8_t *p, size_t n)
{
    size_t take = n < HEAD - t->head_len ? n : HEAD - t->head_len;
    memcpy(t->head + t->head_len, p, take);
    t->head_len += take;
    if (t->head_len < HEAD)
        return 0;
    if (!ts_mpegts_looks(t->head, t->head_len)) {
        t->head_len += n - take; /* counted as dropped too */
        refuse_head(t, "its first bytes are not MPEG-TS");
        return -1;
    }
    t->checked = 1;
    t->bytes = 0;
    ts_info("encoder connected from %s: MPEG-TS, run %llu", t->peer, (unsigned long long)t->runs + 1);
    if (t->runs++)
        t->cb.restarted(t->arg);
    t->bytes = t->head_len + (n - take);
    t->cb.data(t->head, t->head_len, t->arg);
    if (n > take)
        t->cb.data(p + take, n - take, t->arg);
    t->watch.repeat = TS_SRC_TCP_IDLE_S; /* from the head wait to the silence check */
    ev_timer_again(t->loop, &t->watch);
    return 0;
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    ts_src_tcp_t *t = w->data;
    for (int i = 0; i < READS_PER_WAKEUP && t->fd >= 0; i++) {
        ssize_t n = read(t->fd, t->buf, sizeof t->buf);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            break;
        if (n <= 0) {
            if (!t->checked)
                refuse_head(t, n == 0 ? "closed before sending MPEG-TS" : strerror(errno));
            else
                drop(t, n == 0 ? "disconnected" : strerror(errno));
            return;
        }
        t->last_ns = ts_mono_ns();
        if (!t->checked) {
            if (take_head(t, t->buf, (size_t)n) < 0)
                return;
            continue;
        }
        t->bytes += (uint64_t)n;
        t->cb.data(t->buf, (size_t)n, t->arg);
    }
}

static void on_watch(struct ev_loop *loop, ev_timer *w, int revents)
{
    ts_src_tcp_t *t = w->data;
    if (!t->checked) {
        refuse_head(t, "no MPEG-TS within 5 s");
        return;
    }
    if (ts_mono_ns() - t->last_ns >= (uint64_t)(TS_SRC_TCP_IDLE_S * TS_NS_PER_S_F))
        drop(t, "sent nothing for 15 s (gone?)");
}

static int on_accept(int fd, const struct sockaddr *sa, socklen_t salen, void *arg)
{
    ts_src_tcp_t *t = arg;
    char who[48];
    addr_str(sa, who, sizeof who);
    if (t->fd >= 0) {
        /* One encoder at a time: a second would interleave two streams into one. */
        ts_log_limited(&t->lim_busy, TS_LOG_WARN, "refused a connection from %s: an encoder is connected (%s)", who,
                       t->peer);
        close(fd);
        t->cb.refused(0, t->arg);
        return 0;
    }
    t->fd = fd;
    t->checked = 0;
    t->head_len = 0;
    t->last_ns = ts_mono_ns();
    snprintf(t->peer, sizeof t->peer, "%s", who);
    ev_io_set(&t->io, fd, EV_READ);
    ev_io_start(t->loop, &t->io);
    ev_timer_set(&t->watch, HEAD_WAIT_S, 0.);
    ev_timer_start(t->loop, &t->watch);
    return 0;
}

ts_src_tcp_t *ts_src_tcp_new(struct ev_loop *loop, const ts_pushurl_t *u, const ts_source_cb_t *cb, void *arg,
                             char *err, size_t errlen)
{
    ts_src_tcp_t *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->loop = loop;
    t->cb = *cb;
    t->arg = arg;
    t->fd = -1;
    ev_init(&t->io, on_read);
    ev_init(&t->watch, on_watch);
    t->io.data = t->watch.data = t;
    uint16_t bound;
    int e;
    int lfd = ts_sock_listen(u->host[0] ? u->host : "0.0.0.0", u->port, 4, &bound, &e, err, errlen);
    if (lfd < 0 || !(t->acc = ts_acceptor_new(loop, lfd, "encoder", on_accept, t))) {
        if (lfd >= 0)
            snprintf(err, errlen, "out of memory");
        free(t);
        return NULL;
    }
    ts_info("waiting for an encoder on tcp://%s:%u (MPEG-TS, one connection at a time)",
            u->host[0] ? u->host : "0.0.0.0", bound);
    return t;
}

void ts_src_tcp_stop(ts_src_tcp_t *t)
{
    ts_acceptor_destroy(&t->acc);
    ev_io_stop(t->loop, &t->io);
    ev_timer_stop(t->loop, &t->watch);
}

void ts_src_tcp_destroy(ts_src_tcp_t **self)
{
    ts_src_tcp_t *t = *self;
    if (!t)
        return;
    ts_src_tcp_stop(t);
    if (t->fd >= 0)
        close(t->fd);
    free(t);
    *self = NULL;
}
