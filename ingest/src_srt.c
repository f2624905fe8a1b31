#include "src_srt.h"
#include "backoff.h"
#include "ts_log.h"
#include "ts_sock.h"
#include "ts_time.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <srt/srt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define MSG_MAX 2048 /* above SRT's largest live payload (1456) */
#define MSGS_PER_POLL 512
#define BROKEN_GRACE_MS 500 /* beyond the latency, reading what a closed connection still holds */
#define RETRY_MIN_NS TS_NS_PER_S
#define RETRY_MAX_NS 30000000000ull
#define RETRY_HEALTHY_NS 30000000000ull

struct ts_src_srt {
    struct ev_loop *loop;
    ts_source_cb_t cb;
    void *arg;
    ts_pushurl_t u;
    int eid;
    SRTSOCKET lsn;  /* listener mode, else SRT_INVALID_SOCK */
    SRTSOCKET conn; /* the encoder's connection, SRT_INVALID_SOCK when none */
    int connecting; /* caller mode: conn is still handshaking */
    uint64_t broken_ns; /* the encoder closed at this time: its last packets are still being read */
    int stopped;
    uint64_t runs, bytes, conn_ns;
    char peer[48];
    ts_backoff_t backoff;
    ev_timer poll, retry;
    ts_log_limit_t lim_refused, lim_bad, lim_call;
    uint8_t buf[MSG_MAX];
};

static int started; /* srt_startup is process-wide */

static void addr_str(const struct sockaddr *sa, char *out, size_t n)
{
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    char ip[INET_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
    snprintf(out, n, "%s:%u", ip, sa->sa_family == AF_INET ? ntohs(in->sin_port) : 0);
}

/* Options every socket of ours gets: non-blocking, the passphrase, the latency. */
static void set_opts(ts_src_srt_t *s, SRTSOCKET so)
{
    int no = 0;
    srt_setsockflag(so, SRTO_RCVSYN, &no, sizeof no);
    srt_setsockflag(so, SRTO_SNDSYN, &no, sizeof no);
    if (s->u.passphrase[0])
        srt_setsockflag(so, SRTO_PASSPHRASE, s->u.passphrase, (int)strlen(s->u.passphrase));
    if (s->u.latency_ms >= 0)
        srt_setsockflag(so, SRTO_LATENCY, &s->u.latency_ms, sizeof s->u.latency_ms);
}

static void schedule_call(ts_src_srt_t *s, uint64_t ran_ns)
{
    if (s->stopped || s->u.listen)
        return;
    uint64_t d = ts_backoff_next(&s->backoff, ran_ns);
    ev_timer_set(&s->retry, ts_ns_to_s(d), 0.);
    ev_timer_start(s->loop, &s->retry);
}

/* The encoder's connection is over (or, calling, never came up). */
static void lost(ts_src_srt_t *s, const char *why)
{
    int was_up = !s->connecting;
    srt_epoll_remove_usock(s->eid, s->conn);
    int reason = s->connecting ? srt_getrejectreason(s->conn) : 0;
    srt_close(s->conn);
    s->conn = SRT_INVALID_SOCK;
    s->connecting = 0;
    s->broken_ns = 0;
    if (!was_up) {
        ts_log_limited(&s->lim_call, TS_LOG_WARN, "cannot connect to srt://%s:%u: %s; trying again", s->u.host,
                       s->u.port, srt_rejectreason_str(reason));
        schedule_call(s, 0);
        return;
    }
    uint64_t ran = ts_mono_ns() - s->conn_ns;
    ts_warn("encoder %s disconnected (%s) after %llu bytes: waiting for it%s", s->peer, why, (unsigned long long)s->bytes,
            s->u.listen ? " to connect again" : " (calling again)");
    s->cb.ended(1, s->arg);
    schedule_call(s, ran);
}

static void up(ts_src_srt_t *s)
{
    int ev = SRT_EPOLL_IN | SRT_EPOLL_ERR;
    srt_epoll_update_usock(s->eid, s->conn, &ev);
    s->connecting = 0;
    s->bytes = 0;
    s->conn_ns = ts_mono_ns();
    ts_info("encoder connected by SRT%s: %s, run %llu", s->u.passphrase[0] ? " (encrypted)" : "", s->peer,
            (unsigned long long)s->runs + 1);
    if (s->runs++)
        s->cb.restarted(s->arg);
}

/* Why an accepted caller may not send to us, or NULL. */
static const char *refusal(ts_src_srt_t *s, SRTSOCKET c)
{
    int km = SRT_KM_S_UNSECURED, len = sizeof km;
    srt_getsockflag(c, SRTO_KMSTATE, &km, &len);
    if (s->u.passphrase[0] && km != SRT_KM_S_SECURED)
        return km == SRT_KM_S_BADSECRET ? "wrong passphrase" : "no passphrase (this source requires one)";
    if (!s->u.passphrase[0] && km != SRT_KM_S_UNSECURED)
        return "it encrypts, and this source has no ?passphrase=";
    if (s->conn != SRT_INVALID_SOCK)
        return "an encoder is connected";
    return NULL;
}

static void accept_all(ts_src_srt_t *s)
{
    for (;;) {
        struct sockaddr_storage sa;
        int len = sizeof sa;
        SRTSOCKET c = srt_accept(s->lsn, (struct sockaddr *)&sa, &len);
        if (c == SRT_INVALID_SOCK)
            return; /* none waiting (SRT_EASYNCRCV) */
        char who[48];
        addr_str((struct sockaddr *)&sa, who, sizeof who);
        const char *why = refusal(s, c);
        if (why) {
            ts_log_limited(&s->lim_refused, TS_LOG_WARN, "refused SRT caller %s: %s", who, why);
            srt_close(c);
            s->cb.refused(0, s->arg);
            continue;
        }
        set_opts(s, c);
        s->conn = c;
        snprintf(s->peer, sizeof s->peer, "%s", who);
        int ev = SRT_EPOLL_IN | SRT_EPOLL_ERR;
        srt_epoll_add_usock(s->eid, c, &ev);
        up(s);
    }
}

static void read_all(ts_src_srt_t *s)
{
    for (int i = 0; i < MSGS_PER_POLL; i++) {
        int n = srt_recvmsg(s->conn, (char *)s->buf, sizeof s->buf);
        if (n == SRT_ERROR) {
            if (srt_getlasterror(NULL) != SRT_EASYNCRCV && !s->broken_ns)
                s->broken_ns = ts_mono_ns(); /* on_poll reads on a while, then lets it go */
            return;
        }
        if (!ts_push_packets(s->buf, (size_t)n)) {
            ts_log_limited(&s->lim_bad, TS_LOG_WARN, "dropped a %d-byte SRT message from %s: not whole MPEG-TS packets",
                           n, s->peer);
            s->cb.refused((size_t)n, s->arg);
            continue;
        }
        s->bytes += (uint64_t)n;
        s->cb.data(s->buf, (size_t)n, s->arg);
    }
}

static void on_poll(struct ev_loop *loop, ev_timer *w, int revents)
{
    ts_src_srt_t *s = w->data;
    SRT_EPOLL_EVENT ev[8];
    int n = srt_epoll_uwait(s->eid, ev, 8, 0);
    for (int i = 0; i < n && !s->stopped; i++) {
        if (ev[i].fd == s->lsn && s->lsn != SRT_INVALID_SOCK) {
            accept_all(s);
            continue;
        }
        if (ev[i].fd != s->conn || s->conn == SRT_INVALID_SOCK)
            continue;
        SRT_SOCKSTATUS st = srt_getsockstate(s->conn);
        if (s->connecting && st == SRTS_CONNECTED)
            up(s);
        if (!s->connecting && (ev[i].events & SRT_EPOLL_IN))
            read_all(s);
        if (s->conn != SRT_INVALID_SOCK && !s->connecting && !s->broken_ns &&
            (ev[i].events & SRT_EPOLL_ERR || st >= SRTS_BROKEN)) {
            /* Packets it sent last are held back for the latency (TSBPD): read on until they are due. */
            s->broken_ns = ts_mono_ns();
            int ev_in = SRT_EPOLL_IN;
            srt_epoll_update_usock(s->eid, s->conn, &ev_in);
        } else if (s->conn != SRT_INVALID_SOCK && (ev[i].events & SRT_EPOLL_ERR || st >= SRTS_BROKEN) && s->connecting) {
            lost(s, "closed");
        }
    }
    if (s->broken_ns && s->conn != SRT_INVALID_SOCK) {
        read_all(s);
        int lat = s->u.latency_ms >= 0 ? s->u.latency_ms : 120;
        if (ts_mono_ns() - s->broken_ns > (uint64_t)(lat + BROKEN_GRACE_MS) * TS_NS_PER_MS)
            lost(s, "closed");
    }
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    ts_src_srt_t *s = w->data;
    uint32_t ip;
    char err[300];
    if (ts_sock_resolve4(s->u.host, &ip, err, sizeof err) < 0) {
        ts_log_limited(&s->lim_call, TS_LOG_WARN, "cannot call srt://%s:%u: %s", s->u.host, s->u.port, err);
        schedule_call(s, 0);
        return;
    }
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(s->u.port), .sin_addr.s_addr = htonl(ip) };
    s->conn = srt_create_socket();
    set_opts(s, s->conn);
    int ev = SRT_EPOLL_IN | SRT_EPOLL_OUT | SRT_EPOLL_ERR;
    srt_epoll_add_usock(s->eid, s->conn, &ev);
    s->connecting = 1;
    addr_str((struct sockaddr *)&a, s->peer, sizeof s->peer);
    if (srt_connect(s->conn, (struct sockaddr *)&a, sizeof a) == SRT_ERROR)
        lost(s, srt_getlasterror_str());
}

static int listen_on(ts_src_srt_t *s, char *err, size_t errlen)
{
    int no = 0;
    s->lsn = srt_create_socket();
    set_opts(s, s->lsn);
    /* Let callers with a wrong or no passphrase through the handshake, to refuse them ourselves with
     * a log line and a count (libsrt would drop them silently). */
    srt_setsockflag(s->lsn, SRTO_ENFORCEDENCRYPTION, &no, sizeof no);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(s->u.port), .sin_addr.s_addr = INADDR_ANY };
    if (srt_bind(s->lsn, (struct sockaddr *)&a, sizeof a) == SRT_ERROR || srt_listen(s->lsn, 4) == SRT_ERROR) {
        snprintf(err, errlen, "cannot listen on srt port %u: %s", s->u.port, srt_getlasterror_str());
        return -1;
    }
    int ev = SRT_EPOLL_IN | SRT_EPOLL_ERR;
    srt_epoll_add_usock(s->eid, s->lsn, &ev);
    ts_info("waiting for an encoder on srt://:%u%s (one caller at a time)", s->u.port,
            s->u.passphrase[0] ? ", passphrase required" : "");
    return 0;
}

ts_src_srt_t *ts_src_srt_new(struct ev_loop *loop, const ts_pushurl_t *u, const ts_source_cb_t *cb, void *arg,
                             char *err, size_t errlen)
{
    ts_src_srt_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!started++) {
        srt_startup();
        srt_setloglevel(LOG_CRIT); /* its own lines are not logfmt; ours say what happened */
    }
    s->loop = loop;
    s->cb = *cb;
    s->arg = arg;
    s->u = *u;
    s->lsn = s->conn = SRT_INVALID_SOCK;
    s->eid = srt_epoll_create();
    srt_epoll_set(s->eid, SRT_EPOLL_ENABLE_EMPTY); /* a caller between attempts waits on nothing */
    ts_backoff_init(&s->backoff, RETRY_MIN_NS, RETRY_MAX_NS, RETRY_HEALTHY_NS);
    ev_timer_init(&s->poll, on_poll, TS_SRC_SRT_POLL_S, TS_SRC_SRT_POLL_S);
    ev_init(&s->retry, on_retry);
    s->poll.data = s->retry.data = s;
    if (u->listen && listen_on(s, err, errlen) < 0) {
        ts_src_srt_destroy(&s);
        return NULL;
    }
    if (!u->listen) {
        ts_info("calling the encoder at srt://%s:%u", u->host, u->port);
        ev_timer_set(&s->retry, 0., 0.);
        ev_timer_start(loop, &s->retry);
    }
    ev_timer_start(loop, &s->poll);
    return s;
}

void ts_src_srt_stop(ts_src_srt_t *s)
{
    s->stopped = 1;
    ev_timer_stop(s->loop, &s->poll);
    ev_timer_stop(s->loop, &s->retry);
}

void ts_src_srt_destroy(ts_src_srt_t **self)
{
    ts_src_srt_t *s = *self;
    if (!s)
        return;
    ts_src_srt_stop(s);
    if (s->conn != SRT_INVALID_SOCK)
        srt_close(s->conn);
    if (s->lsn != SRT_INVALID_SOCK)
        srt_close(s->lsn);
    srt_epoll_release(s->eid);
    free(s);
    *self = NULL;
    if (!--started)
        srt_cleanup();
}
