/* libcurl's multi interface driven by our libev loop (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION),
 * rather than a reader thread feeding a pipe: everything stays on one thread, so the write
 * callback can hand bytes to the pacer with no locking, pausing the transfer (CURL_WRITEFUNC_PAUSE)
 * is the back-pressure when the pacer holds enough, and stopping is just removing the handle. */
#include "src_http.h"
#include "backoff.h"
#include "pacer.h"
#include "ts_log.h"
#include "ts_time.h"
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RESTART_MIN_NS TS_NS_PER_S
#define RESTART_MAX_NS 30000000000ull
#define RESTART_HEALTHY_NS 30000000000ull
#define CONNECT_TIMEOUT_S 10L
#define STALL_S 10L       /* no byte for this long: the connection is dead, reconnect */
#define PACE_S 0.01       /* pacing tick */
#define FP_MAX 65536      /* a run's first bytes, kept to recognise the same resource sent again */

typedef struct {
    ev_io io;
    struct ts_src_http *h;
    curl_socket_t fd;
} sock_t;

/* What this response's body is to us, decided at its first byte. */
typedef enum { BODY_NEW, BODY_COMPARE, BODY_SKIP } body_mode_t;

struct ts_src_http {
    struct ev_loop *loop;
    ts_source_cb_t cb;
    void *arg;
    char *url;
    CURLM *multi;
    CURL *easy;
    char errbuf[CURL_ERROR_SIZE];
    int stopped, paused;
    int over;       /* the transfer ended: reconnect once the pacer has handed on its bytes */
    int plain_next; /* the resource became shorter than what we sent: ask for all of it */
    int run_begun;  /* this response's first body byte has been seen */
    body_mode_t mode;
    uint64_t sent;  /* bytes of the current run handed to the pacer: a reconnect asks from here */
    uint64_t sent0; /* sent when this transfer started */
    uint64_t body;  /* bytes of this response's body seen */
    uint64_t started_ns, bytes, ran_ns;
    long long range_total; /* a 416's Content-Range total, -1 if none */
    size_t fp_len;
    ts_pacer_t *pacer;
    uint64_t bps;
    ts_backoff_t backoff;
    ev_timer timeout, restart, pace;
    uint8_t fp[FP_MAX];
};

static int start(ts_src_http_t *h);

/* Bytes that are new: on to the pacer, the first FP_MAX kept. */
static void accept_bytes(ts_src_http_t *h, const uint8_t *p, size_t n)
{
    if (h->fp_len < FP_MAX) {
        size_t k = FP_MAX - h->fp_len < n ? FP_MAX - h->fp_len : n;
        memcpy(h->fp + h->fp_len, p, k);
        h->fp_len += k;
    }
    h->sent += n;
    if (ts_pacer_push(h->pacer, p, n) < 0)
        ts_error("out of memory pacing the source: %zu bytes lost", n);
}

/* The body is another resource (or the live edge of a stream): a new run. Its first keep bytes
 * matched our fingerprint so far: they are its first bytes too. */
static void new_run(ts_src_http_t *h, size_t keep)
{
    h->sent = 0;
    h->fp_len = 0;
    h->mode = BODY_NEW;
    ts_pacer_restart(h->pacer);
    h->cb.restarted(h->arg);
    if (keep) {
        h->fp_len = keep; /* fp[0..keep) already holds them */
        h->sent = keep;
        if (ts_pacer_push(h->pacer, h->fp, keep) < 0)
            ts_error("out of memory pacing the source: %zu bytes lost", keep);
    }
}

/* The first body byte of a response: does it continue what we sent, repeat it, or start anew? */
static void begin_body(ts_src_http_t *h)
{
    long status = 0;
    curl_off_t len = -1;
    curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(h->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
    h->run_begun = 1;
    h->body = 0;
    h->mode = BODY_NEW;
    if (h->sent == 0)
        return;
    if (status == 206) {
        ts_info("server resumed the stream at byte %llu", (unsigned long long)h->sent);
    } else if (len >= 0 && (uint64_t)len < h->sent) {
        ts_warn("the resource has %lld bytes, fewer than the %llu sent: a new one, sent as a new run", (long long)len,
                (unsigned long long)h->sent);
        new_run(h, 0);
    } else if (h->fp_len) {
        h->mode = BODY_COMPARE; /* the whole resource again? its first bytes tell */
    } else if (len >= 0) {
        ts_warn("server ignored our Range request (HTTP %ld): skipping the %llu bytes sent before", status,
                (unsigned long long)h->sent);
        h->mode = BODY_SKIP; /* resumed after a restart: a resource as long as ours is taken to be it */
    } else {
        ts_warn("server ignored our Range request (HTTP %ld): continuing at what it sends, not at byte %llu", status,
                (unsigned long long)h->sent);
        new_run(h, 0);
    }
}

/* Body bytes: compared with what we sent, skipped as sent before, or new. */
static void take_body(ts_src_http_t *h, const uint8_t *p, size_t n)
{
    while (n) {
        size_t k = 0, i = 0;
        switch (h->mode) {
        case BODY_NEW:
            h->body += n;
            accept_bytes(h, p, n);
            return;
        case BODY_COMPARE:
            k = h->fp_len - h->body < n ? (size_t)(h->fp_len - h->body) : n;
            while (i < k && p[i] == h->fp[h->body + i])
                i++;
            if (i < k) {
                ts_warn("server sent another resource (it differs at byte %llu): sent as a new run",
                        (unsigned long long)(h->body + i));
                h->body += i;
                new_run(h, (size_t)h->body);
                p += i;
                n -= i;
                continue;
            }
            if (h->body + k == h->fp_len) {
                ts_info("server sent the resource from its start again: skipping the %llu bytes sent before",
                        (unsigned long long)h->sent);
                h->mode = BODY_SKIP;
            }
            break;
        case BODY_SKIP:
            k = h->sent - h->body < n ? (size_t)(h->sent - h->body) : n;
            if (h->body + k == h->sent)
                h->mode = BODY_NEW;
            break;
        }
        h->body += k;
        p += k;
        n -= k;
    }
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    ts_src_http_t *h = arg;
    size_t n = size * nmemb;
    if (!n)
        return 0;
    if (ts_pacer_queued(h->pacer) >= TS_PACER_CAP) {
        h->paused = 1; /* curl keeps these bytes and offers them again once unpaused */
        return CURL_WRITEFUNC_PAUSE;
    }
    if (!h->run_begun)
        begin_body(h);
    h->bytes += n;
    take_body(h, (const uint8_t *)ptr, n);
    return n;
}

static size_t on_header(char *buf, size_t size, size_t nmemb, void *arg)
{
    ts_src_http_t *h = arg;
    size_t n = size * nmemb;
    const char *star;
    /* "Content-Range: bytes * /LENGTH" on a 416: how long the resource is now. */
    if (n > 14 && strncasecmp(buf, "Content-Range:", 14) == 0 && (star = memchr(buf, '*', n)) && star + 2 < buf + n &&
        star[1] == '/')
        h->range_total = atoll(star + 2);
    return n;
}

/* The transfer ended: say so, then reconnect once the pacer has handed on what it holds. */
static void check_done(ts_src_http_t *h)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(h->multi, &left))) {
        if (m->msg != CURLMSG_DONE || m->easy_handle != h->easy)
            continue;
        CURLcode rc = m->data.result;
        long status = 0;
        curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_multi_remove_handle(h->multi, h->easy);
        curl_easy_cleanup(h->easy);
        h->easy = NULL;
        h->paused = 0;
        h->ran_ns = ts_mono_ns() - h->started_ns;
        ts_warn("source connection ended after %.1f s and %llu bytes: %s (HTTP %ld)", ts_ns_to_s(h->ran_ns),
                (unsigned long long)h->bytes, rc == CURLE_OK ? "server closed the stream"
                                              : h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc),
                status);
        if (status == 416 && h->range_total >= 0 && (uint64_t)h->range_total < h->sent) {
            ts_warn("the resource has %lld bytes, fewer than the %llu sent: asking for all of it", h->range_total,
                    (unsigned long long)h->sent);
            h->plain_next = 1;
        } else if (h->sent && h->sent == h->sent0 && (status == 416 || h->run_begun)) {
            ts_info("nothing new past byte %llu: the resource ended; asking again later", (unsigned long long)h->sent);
        }
        h->over = 1;
        ts_pacer_end(h->pacer);
        return;
    }
}

static void reconnect_later(ts_src_http_t *h)
{
    h->over = 0;
    if (h->stopped)
        return;
    h->cb.ended(1, h->arg);
    uint64_t d = ts_backoff_next(&h->backoff, h->ran_ns);
    ts_info("reconnecting in %.0f s%s", ts_ns_to_s(d), h->sent && !h->plain_next ? ", asking from where we are" : "");
    ev_timer_set(&h->restart, ts_ns_to_s(d), 0.);
    ev_timer_start(h->loop, &h->restart);
}

static void on_paced(const uint8_t *buf, size_t len, void *arg)
{
    ts_src_http_t *h = arg;
    h->cb.data(buf, len, h->arg);
}

static void on_pace(struct ev_loop *loop, ev_timer *w, int revents)
{
    ts_src_http_t *h = w->data;
    int no_pcr = ts_pacer_no_pcr(h->pacer);
    ts_pacer_run(h->pacer, ts_mono_ns());
    if (!no_pcr && ts_pacer_no_pcr(h->pacer))
        ts_warn("no MPEG-TS PCR in %d bytes from the server: the stream goes %s", TS_PACER_CAP,
                h->bps ? "at --bitrate from now on" : "unpaced (--bitrate would pace it)");
    if (h->paused && h->easy && ts_pacer_queued(h->pacer) < TS_PACER_CAP / 2) {
        h->paused = 0;
        curl_easy_pause(h->easy, CURLPAUSE_CONT); /* may hand us the held bytes at once */
    }
    if (h->over && ts_pacer_queued(h->pacer) == 0)
        reconnect_later(h);
}

static void on_sock_event(struct ev_loop *loop, ev_io *w, int revents)
{
    sock_t *s = w->data;
    ts_src_http_t *h = s->h;
    int action = (revents & EV_READ ? CURL_CSELECT_IN : 0) | (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(h->multi, s->fd, action, &running); /* may free s via on_socket */
    check_done(h);
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    ts_src_http_t *h = w->data;
    int running;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

/* curl tells us which sockets to watch for what. */
static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    ts_src_http_t *h = userp;
    sock_t *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            ev_io_stop(h->loop, &s->io);
            free(s);
        }
        curl_multi_assign(h->multi, fd, NULL);
        return 0;
    }
    if (!s) {
        if (!(s = calloc(1, sizeof *s)))
            return -1;
        s->h = h;
        s->fd = fd;
        ev_init(&s->io, on_sock_event);
        s->io.data = s;
        curl_multi_assign(h->multi, fd, s);
    } else {
        ev_io_stop(h->loop, &s->io);
    }
    ev_io_set(&s->io, fd, (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0));
    ev_io_start(h->loop, &s->io);
    return 0;
}

/* curl asks to be called back after timeout_ms (-1: cancel). */
static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    ts_src_http_t *h = userp;
    ev_timer_stop(h->loop, &h->timeout);
    if (timeout_ms >= 0) {
        ev_timer_set(&h->timeout, (double)timeout_ms / TS_MS_PER_S_F, 0.);
        ev_timer_start(h->loop, &h->timeout);
    }
    return 0;
}

static void on_restart(struct ev_loop *loop, ev_timer *w, int revents)
{
    ts_src_http_t *h = w->data;
    if (start(h) < 0) {
        ts_error("cannot start a transfer for %s", h->url);
        uint64_t d = ts_backoff_next(&h->backoff, 0);
        ev_timer_set(&h->restart, ts_ns_to_s(d), 0.);
        ev_timer_start(h->loop, &h->restart);
        return;
    }
    /* restarted is called at the first body byte, once we know whether the server resumed. */
}

static int start(ts_src_http_t *h)
{
    CURL *e = curl_easy_init();
    if (!e)
        return -1;
    h->errbuf[0] = 0;
    h->range_total = -1;
    uint64_t from = h->plain_next ? 0 : h->sent;
    h->plain_next = 0;
    h->sent0 = h->sent;
    curl_easy_setopt(e, CURLOPT_URL, h->url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(e, CURLOPT_FAILONERROR, 1L); /* a 404 page is not a stream */
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, STALL_S);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "tstream-ingest");
    char range[32];
    if (from) {
        snprintf(range, sizeof range, "%llu-", (unsigned long long)from);
        curl_easy_setopt(e, CURLOPT_RANGE, range); /* curl copies it */
    }
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        return -1;
    }
    h->easy = e;
    h->started_ns = ts_mono_ns();
    h->bytes = 0;
    h->run_begun = 0;
    if (from)
        ts_info("source: connecting to %s from byte %llu", h->url, (unsigned long long)from);
    else
        ts_info("source: connecting to %s", h->url);
    return 0;
}

ts_src_http_t *ts_src_http_new(struct ev_loop *loop, const char *url, uint64_t bps, uint64_t offset,
                               const ts_source_cb_t *cb, void *arg, char *err, size_t errlen)
{
    static int curl_ready;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            snprintf(err, errlen, "libcurl initialisation failed");
            return NULL;
        }
        curl_ready = 1;
    }
    ts_src_http_t *h = calloc(1, sizeof *h);
    if (!h || !(h->url = strdup(url)) || !(h->multi = curl_multi_init()) ||
        !(h->pacer = ts_pacer_new(bps, 1, on_paced, h))) {
        snprintf(err, errlen, "out of memory");
        ts_src_http_destroy(&h);
        return NULL;
    }
    h->loop = loop;
    h->cb = *cb;
    h->arg = arg;
    h->bps = bps;
    h->sent = offset; /* resumed: the bytes before it were sent by a previous ingest */
    ts_backoff_init(&h->backoff, RESTART_MIN_NS, RESTART_MAX_NS, RESTART_HEALTHY_NS);
    ev_init(&h->timeout, on_timeout);
    ev_init(&h->restart, on_restart);
    ev_timer_init(&h->pace, on_pace, PACE_S, PACE_S);
    h->timeout.data = h->restart.data = h->pace.data = h;
    ev_timer_start(loop, &h->pace);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    if (start(h) < 0) {
        snprintf(err, errlen, "cannot start a transfer for %s", url);
        ts_src_http_destroy(&h);
        return NULL;
    }
    return h;
}

void ts_src_http_stop(ts_src_http_t *h)
{
    h->stopped = 1;
    if (h->loop) {
        ev_timer_stop(h->loop, &h->restart);
        ev_timer_stop(h->loop, &h->timeout);
        ev_timer_stop(h->loop, &h->pace);
    }
    if (h->easy) {
        curl_multi_remove_handle(h->multi, h->easy); /* closes its sockets through on_socket */
        curl_easy_cleanup(h->easy);
        h->easy = NULL;
    }
}

void ts_src_http_destroy(ts_src_http_t **self)
{
    ts_src_http_t *h = *self;
    if (!h)
        return;
    if (h->multi) {
        ts_src_http_stop(h);
        curl_multi_cleanup(h->multi); /* drops cached connections through on_socket, may re-arm the timer */
        ev_timer_stop(h->loop, &h->timeout);
    }
    ts_pacer_destroy(&h->pacer);
    free(h->url);
    free(h);
    *self = NULL;
}
