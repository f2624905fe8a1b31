#include "src_udp.h"
#include "ts_log.h"
#include "ts_time.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DGRAM_MAX 65536
#define DGRAMS_PER_WAKEUP 256 /* a flood cannot hold the loop longer than this many reads */
#define RCVBUF (4 << 20)      /* a burst of a few Mbit/s outlasts a busy loop turn (capped by rmem_max) */

struct ts_src_udp {
    struct ev_loop *loop;
    ts_source_cb_t cb;
    void *arg;
    int fd;
    int sending;                /* a sender is current: sender holds its address */
    struct sockaddr_in sender;
    uint64_t runs, last_ns;
    ev_io io;
    ev_timer gone;
    ts_log_limit_t lim_bad, lim_other;
    uint8_t buf[DGRAM_MAX];
};

static void str(const struct sockaddr_in *a, char *out, size_t n)
{
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    snprintf(out, n, "%s:%u", ip, ntohs(a->sin_port));
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    ts_src_udp_t *s = w->data;
    for (int i = 0; i < DGRAMS_PER_WAKEUP; i++) {
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(s->fd, s->buf, sizeof s->buf, MSG_TRUNC, (struct sockaddr *)&from, &fl);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                ts_log_limited(&s->lim_bad, TS_LOG_WARN, "receiving a datagram: %s", strerror(errno));
            return;
        }
        char who[40];
        size_t len = (size_t)n;
        if (len > sizeof s->buf || !ts_push_packets(s->buf, len)) {
            str(&from, who, sizeof who);
            ts_log_limited(&s->lim_bad, TS_LOG_WARN,
                           "dropped a %zu-byte datagram from %s: not whole MPEG-TS packets (188 bytes each, "
                           "starting 0x47)", len, who);
            s->cb.refused(len, s->arg);
            continue;
        }
        if (s->sending && (from.sin_addr.s_addr != s->sender.sin_addr.s_addr || from.sin_port != s->sender.sin_port)) {
            char cur[40];
            str(&from, who, sizeof who);
            str(&s->sender, cur, sizeof cur);
            ts_log_limited(&s->lim_other, TS_LOG_WARN, "dropped datagrams from %s: %s is sending", who, cur);
            s->cb.refused(len, s->arg);
            continue;
        }
        s->last_ns = ts_mono_ns();
        if (!s->sending) {
            s->sending = 1;
            s->sender = from;
            str(&from, who, sizeof who);
            ts_info("datagrams from %s: MPEG-TS, run %llu", who, (unsigned long long)s->runs + 1);
            if (s->runs++)
                s->cb.restarted(s->arg);
            ev_timer_again(s->loop, &s->gone);
        }
        s->cb.data(s->buf, len, s->arg);
    }
}

/* Checked every TS_SRC_UDP_GONE_S: a sender silent since is gone (UDP has no goodbye). */
static void on_gone(struct ev_loop *loop, ev_timer *w, int revents)
{
    ts_src_udp_t *s = w->data;
    if (!s->sending || ts_mono_ns() - s->last_ns < (uint64_t)(TS_SRC_UDP_GONE_S * TS_NS_PER_S_F))
        return;
    char who[40];
    str(&s->sender, who, sizeof who);
    ts_warn("no datagram from %s for %.0f s: its run is over, waiting for a sender", who, TS_SRC_UDP_GONE_S);
    s->sending = 0;
    ev_timer_stop(s->loop, &s->gone);
    s->cb.ended(1, s->arg);
}

static int open_socket(const ts_pushurl_t *u, char *err, size_t errlen)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1, rcv = RCVBUF;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* several receivers of one group */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(u->port) };
    /* A multicast socket bound to its group hears that group only, not the port's other traffic. */
    if (u->host[0])
        inet_pton(AF_INET, u->host, &a.sin_addr);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        snprintf(err, errlen, "cannot bind udp %s:%u: %s", u->host[0] ? u->host : "0.0.0.0", u->port, strerror(errno));
        close(fd);
        return -1;
    }
    if (u->multicast) {
        struct ip_mreq m;
        memset(&m, 0, sizeof m);
        m.imr_multiaddr = a.sin_addr;
        if (u->iface[0])
            inet_pton(AF_INET, u->iface, &m.imr_interface);
        if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) < 0) {
            snprintf(err, errlen, "cannot join %s%s%s: %s", u->host, u->iface[0] ? " on " : "", u->iface,
                     strerror(errno));
            close(fd);
            return -1;
        }
    }
    return fd;
}

ts_src_udp_t *ts_src_udp_new(struct ev_loop *loop, const ts_pushurl_t *u, const ts_source_cb_t *cb, void *arg,
                             char *err, size_t errlen)
{
    ts_src_udp_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if ((s->fd = open_socket(u, err, errlen)) < 0) {
        free(s);
        return NULL;
    }
    s->loop = loop;
    s->cb = *cb;
    s->arg = arg;
    ev_io_init(&s->io, on_read, s->fd, EV_READ);
    ev_init(&s->gone, on_gone);
    s->gone.repeat = TS_SRC_UDP_GONE_S;
    s->io.data = s->gone.data = s;
    ev_io_start(loop, &s->io);
    if (u->multicast)
        ts_info("joined multicast group %s port %u%s%s: waiting for MPEG-TS datagrams", u->host, u->port,
                u->iface[0] ? " on " : "", u->iface);
    else
        ts_info("waiting for MPEG-TS datagrams on udp://%s:%u", u->host[0] ? u->host : "0.0.0.0", u->port);
    return s;
}

void ts_src_udp_stop(ts_src_udp_t *s)
{
    ev_io_stop(s->loop, &s->io);
    ev_timer_stop(s->loop, &s->gone);
}

void ts_src_udp_destroy(ts_src_udp_t **self)
{
    ts_src_udp_t *s = *self;
    if (!s)
        return;
    ts_src_udp_stop(s);
    close(s->fd); /* leaves the group too */
    free(s);
    *self = NULL;
}
