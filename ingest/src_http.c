/* libcurl's multi interface driven by our libev loop (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION),
 * rather than a reader thread feeding a pipe: everything stays on one thread, so the write
 * callback can hand bytes straight to the cutter with no locking and no extra copy, and stopping
 * is just removing the handle. */
#include "src_http.h"
#include "backoff.h"
#include "ts_log.h"
#include "ts_time.h"
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESTART_MIN_NS TS_NS_PER_S
#define RESTART_MAX_NS 30000000000ull
#define RESTART_HEALTHY_NS 30000000000ull
#define CONNECT_TIMEOUT_S 10L
#define STALL_S 10L /* no byte for this long: the connection is dead, reconnect */

typedef struct {
    ev_io io;
    struct ts_src_http *h;
    curl_socket_t fd;
} sock_t;

struct ts_src_http {
    struct ev_loop *loop;
    ts_source_cb_t cb;
    void *arg;
    char *url;
    CURLM *multi;
    CURL *easy;
    char errbuf[CURL_ERROR_SIZE];
    int stopped;
    int had_bytes;  /* a run delivered bytes before (or we resumed): a new run is a discontinuity */
    int run_begun;  /* this run's first body byte has been seen */
    uint64_t range; /* ask for bytes from here (a resume); 0 once asked and answered */
    uint64_t started_ns, bytes;
    ts_backoff_t backoff;
    ev_timer timeout, restart;
};

static int start(ts_src_http_t *h);

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    ts_src_http_t *h = arg;
    size_t n = size * nmemb;
    if (n && !h->run_begun) {
        long status = 0;
        curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
        int continues = h->range && status == 206;
        if (h->range && !continues)
            ts_warn("server ignored our Range request (HTTP %ld): continuing at what it sends, not at byte %llu",
                    status, (unsigned long long)h->range);
        else if (continues)
            ts_info("server resumed the stream at byte %llu", (unsigned long long)h->range);
        h->range = 0;
        h->run_begun = 1;
        if (!continues && h->had_bytes)
            h->cb.restarted(h->arg);
        h->had_bytes = 1;
    }
    if (n) {
        h->bytes += n;
        h->cb.data((const uint8_t *)ptr, n, h->arg);
    }
    return n;
}

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
        if (status)
            h->range = 0; /* the server answered the Range (416...): ask plainly from now on */
        curl_multi_remove_handle(h->multi, h->easy);
        curl_easy_cleanup(h->easy);
        h->easy = NULL;
        uint64_t ran = ts_mono_ns() - h->started_ns;
        ts_warn("source connection ended after %.1f s and %llu bytes: %s (HTTP %ld)", ts_ns_to_s(ran),
                (unsigned long long)h->bytes, rc == CURLE_OK ? "server closed the stream"
                                              : h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc),
                status);
        if (h->stopped)
            return;
        h->cb.ended(1, h->arg);
        uint64_t d = ts_backoff_next(&h->backoff, ran);
        ts_info("reconnecting in %.0f s", ts_ns_to_s(d));
        ev_timer_set(&h->restart, ts_ns_to_s(d), 0.);
        ev_timer_start(h->loop, &h->restart);
        return;
    }
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
    curl_easy_setopt(e, CURLOPT_URL, h->url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
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
    if (h->range) {
        snprintf(range, sizeof range, "%llu-", (unsigned long long)h->range);
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
    if (h->range)
        ts_info("source: connecting to %s from byte %llu", h->url, (unsigned long long)h->range);
    else
        ts_info("source: connecting to %s", h->url);
    return 0;
}

ts_src_http_t *ts_src_http_new(struct ev_loop *loop, const char *url, uint64_t offset, const ts_source_cb_t *cb,
                               void *arg, char *err, size_t errlen)
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
    if (!h || !(h->url = strdup(url)) || !(h->multi = curl_multi_init())) {
        snprintf(err, errlen, "out of memory");
        ts_src_http_destroy(&h);
        return NULL;
    }
    h->loop = loop;
    h->cb = *cb;
    h->arg = arg;
    h->range = offset;
    h->had_bytes = offset > 0; /* resumed: there were bytes before ours */
    ts_backoff_init(&h->backoff, RESTART_MIN_NS, RESTART_MAX_NS, RESTART_HEALTHY_NS);
    ev_init(&h->timeout, on_timeout);
    ev_init(&h->restart, on_restart);
    h->timeout.data = h->restart.data = h;
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
    free(h->url);
    free(h);
    *self = NULL;
}
