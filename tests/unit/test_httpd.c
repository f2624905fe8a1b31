/* The endpoint server (lib/ts_httpd.c) on an ephemeral loopback port, driven by a libev loop in
 * this process and talked to with plain sockets: routes, HEAD, 404/405/400/503, size limit,
 * timeouts, handler mistakes, a client that never reads, livez/readyz, and the /metrics route. */
#include "check.h"
#include "ts_httpd.h"
#include "ts_metrics.h"
#include "ts_time.h"
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct ev_loop *loop;
static ts_httpd_t *srv;
static uint16_t port;

static void pump(double secs)
{
    uint64_t end = ts_mono_ns() + (uint64_t)(secs * 1e9);
    do {
        ev_run(loop, EVRUN_NOWAIT);
        usleep(500);
    } while (ts_mono_ns() < end);
}

/* A connected, non-blocking socket; rcvbuf > 0 shrinks the receive buffer (before connecting, so
 * the window is small too). */
static int cconnect(int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { /* loopback: done before the server accepts */
        printf("connect: %s\n", strerror(errno));
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

static void csend(int fd, const void *data, size_t len)
{
    const char *p = data;
    uint64_t end = ts_mono_ns() + 5000000000ull;
    while (len && ts_mono_ns() < end) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w > 0)
            p += w, len -= (size_t)w;
        else if (w < 0 && errno != EAGAIN)
            return;
        else
            pump(0.001);
    }
}

/* Read until EOF or reset, or timeout seconds, running the server meanwhile. 1 at EOF, 2 on a
 * reset, 0 on timeout. */
static int crecv_all(int fd, ts_buf_t *out, double timeout)
{
    uint64_t end = ts_mono_ns() + (uint64_t)(timeout * 1e9);
    uint8_t tmp[65536];
    while (ts_mono_ns() < end) {
        ssize_t r = recv(fd, tmp, sizeof tmp, 0);
        if (r > 0) {
            ts_buf_put(out, tmp, (size_t)r);
            continue;
        }
        if (r == 0)
            return 1;
        if (errno != EAGAIN)
            return 2;
        ev_run(loop, EVRUN_NOWAIT);
        usleep(200);
    }
    return 0;
}

typedef struct {
    int status;
    char head[1024];
    long content_length; /* -1 if none */
    const uint8_t *body;
    size_t body_len;
    ts_buf_t raw;
    int end; /* how crecv_all ended */
} resp_t;

static void resp_parse(resp_t *r)
{
    r->status = -1;
    r->content_length = -1;
    r->body = NULL;
    r->body_len = 0;
    r->head[0] = 0;
    const uint8_t *e = r->raw.len ? memmem(r->raw.data, r->raw.len, "\r\n\r\n", 4) : NULL;
    if (!e)
        return;
    size_t hl = (size_t)(e - r->raw.data) + 4;
    snprintf(r->head, sizeof r->head, "%.*s", (int)hl, (const char *)r->raw.data);
    if (sscanf(r->head, "HTTP/1.1 %d", &r->status) != 1)
        r->status = -1;
    const char *cl = strstr(r->head, "\r\nContent-Length: ");
    if (cl)
        r->content_length = strtol(cl + 18, NULL, 10);
    r->body = r->raw.data + hl;
    r->body_len = r->raw.len - hl;
}

/* One exchange on a fresh connection. */
static void request(const char *raw, size_t len, resp_t *r)
{
    ts_buf_init(&r->raw);
    int fd = cconnect(0);
    csend(fd, raw, len);
    r->end = crecv_all(fd, &r->raw, 3.0);
    close(fd);
    resp_parse(r);
}

/* Run the server until it has n connections (those of clients that closed are gone). */
static void settle(uint64_t n)
{
    uint64_t end = ts_mono_ns() + 1000000000ull;
    while (ts_httpd_stats(srv)->conns != n && ts_mono_ns() < end)
        pump(0.001);
}

static void get(const char *req, resp_t *r) { request(req, strlen(req), r); }

static int body_is(const resp_t *r, const char *s)
{
    return r->body && r->body_len == strlen(s) && memcmp(r->body, s, r->body_len) == 0;
}

static int has_header(const resp_t *r, const char *line) { return strstr(r->head, line) != NULL; }

/* ------------------------------------------------------------------ handlers */

static ts_metrics_t *reg;
static int ready_state;
static size_t big_len = 16u << 20;

static int ready(void *arg, char *why, size_t whylen)
{
    if (!ready_state)
        snprintf(why, whylen, "upstream %s not connected", (const char *)arg);
    return ready_state;
}

static void h_teapot(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *resp, void *arg)
{
    resp->status = 418;
    resp->content_type = "application/json";
    ts_buf_printf(&resp->body, "{\"path\":\"%.*s\"}", (int)req->path_len, req->path);
}

static void h_bad_status(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *resp, void *arg)
{
    resp->status = 204;
}

static void h_bad_type(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *resp, void *arg)
{
    resp->content_type = "text/plain\r\nSet-Cookie: x=1";
    ts_buf_printf(&resp->body, "hi\n");
}

static void h_header(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *resp, void *arg)
{
    const char *v;
    size_t vl;
    if (ts_http_header(head, req, "X-Test", &v, &vl) == 0)
        ts_buf_printf(&resp->body, "%.*s", (int)vl, v);
}

static void h_big(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *resp, void *arg)
{
    ts_buf_reserve(&resp->body, big_len);
    memset(resp->body.data, 'b', big_len);
    resp->body.len = big_len;
}

static void h_sleep(const ts_http_req_t *req, const uint8_t *head, ts_httpd_resp_t *resp, void *arg)
{
    usleep(300000); /* a callback that holds the loop */
    ts_buf_printf(&resp->body, "slept\n");
}

/* ------------------------------------------------------------------ tests */

static void test_setup(void)
{
    char err[256] = "";
    CHECK(ts_httpd_new(loop, "127.0.0.1:notaport", err, sizeof err) == NULL && err[0], "bad port refused (%s)", err);
    err[0] = 0;
    CHECK(ts_httpd_new(loop, "256.1.1.1:0", err, sizeof err) == NULL && err[0], "bad address refused (%s)", err);
    srv = ts_httpd_new(loop, NULL, err, sizeof err);
    CHECK(srv != NULL, "server on 127.0.0.1, any port (%s)", err);
    port = ts_httpd_port(srv);
    CHECK(port != 0, "ephemeral port %u", port);
    char spec[32];
    snprintf(spec, sizeof spec, "127.0.0.1:%u", port);
    err[0] = 0;
    CHECK(ts_httpd_new(loop, spec, err, sizeof err) == NULL && strstr(err, "cannot listen"), "port taken (%s)", err);
    ts_httpd_t *h2 = ts_httpd_new(loop, ":0", err, sizeof err);
    CHECK(h2 && ts_httpd_port(h2) != 0 && ts_httpd_port(h2) != port, "':0' listens too (%s)", err);
    ts_httpd_destroy(&h2);
    CHECK(h2 == NULL, "destroy clears the pointer");

    reg = ts_metrics_new((const char *[]){ "stage", "test", NULL });
    ts_metrics_build_info(reg, "1.0", "abc");
    ts_metrics_counter_add(ts_metrics_counter(reg, "ts_pieces_in_total", "Pieces in.", NULL), 5);
    CHECK(ts_httpd_route_metrics(srv, "/metrics", reg) == 0, "route /metrics");
    CHECK(ts_httpd_route_livez(srv, "/livez") == 0, "route /livez");
    CHECK(ts_httpd_route_readyz(srv, "/readyz", ready, "signer") == 0, "route /readyz");
    CHECK(ts_httpd_route(srv, "/teapot", h_teapot, NULL) == 0, "route /teapot");
    ts_httpd_route(srv, "/bad-status", h_bad_status, NULL);
    ts_httpd_route(srv, "/bad-type", h_bad_type, NULL);
    ts_httpd_route(srv, "/header", h_header, NULL);
    ts_httpd_route(srv, "/big", h_big, NULL);
    ts_httpd_route(srv, "/sleep", h_sleep, NULL);
    CHECK(ts_httpd_route(srv, "/metrics", h_teapot, NULL) == -1, "a path twice is refused");
    CHECK(ts_httpd_route(srv, "metrics", h_teapot, NULL) == -1, "a path without '/' is refused");
    CHECK(ts_httpd_route(srv, "/x", NULL, NULL) == -1, "a route without a handler is refused");
    CHECK(ts_httpd_route_readyz(srv, "/r2", NULL, NULL) == -1, "readyz without a callback is refused");
    CHECK(ts_httpd_route_metrics(srv, "/m2", NULL) == -1, "metrics without a registry is refused");
    int n = 0;
    char p[16];
    for (int i = 0; i < 40; i++) {
        snprintf(p, sizeof p, "/r%d", i);
        n += ts_httpd_route(srv, p, h_teapot, NULL) == 0;
    }
    CHECK(n == TS_HTTPD_MAX_ROUTES - 9, "the route table holds %d (%d more fitted)", TS_HTTPD_MAX_ROUTES, n);
}

static void test_basic(void)
{
    ts_buf_t want;
    ts_buf_init(&want);
    ts_metrics_render(reg, &want);
    resp_t r;
    get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    CHECK(r.status == 200 && r.end == 1, "GET /metrics: 200 then EOF (%d, %d)", r.status, r.end);
    CHECK(r.content_length == (long)want.len && r.body_len == want.len && memcmp(r.body, want.data, want.len) == 0,
          "Content-Length %ld and the rendered body (%zu bytes)", r.content_length, r.body_len);
    CHECK(has_header(&r, "\r\nContent-Type: " TS_METRICS_CONTENT_TYPE "\r\n"), "metrics content type");
    CHECK(has_header(&r, "\r\nConnection: close\r\n"), "Connection: close");
    CHECK(strncmp(r.head, "HTTP/1.1 200 OK\r\n", 17) == 0, "status line");
    ts_buf_free(&r.raw);

    get("HEAD /metrics HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 200 && r.content_length == (long)want.len && r.body_len == 0 && r.end == 1,
          "HEAD: 200, Content-Length %ld, no body (%zu)", r.content_length, r.body_len);
    ts_buf_free(&r.raw);

    get("GET /metrics?x=1&y HTTP/1.0\r\n\r\n", &r);
    CHECK(r.status == 200 && r.body_len == want.len, "query ignored, HTTP/1.0 served");
    ts_buf_free(&r.raw);
    get("GET http://example/metrics HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 200, "absolute-form target");
    ts_buf_free(&r.raw);
    get("\r\nGET /metrics HTTP/1.1\nHost: x\n\n", &r);
    CHECK(r.status == 200, "leading empty line and bare LFs");
    ts_buf_free(&r.raw);
    ts_buf_free(&want);

    get("GET /nope HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 404 && r.content_length == (long)r.body_len && body_is(&r, "not found\n"), "unknown path 404");
    ts_buf_free(&r.raw);
    get("HEAD /nope HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 404 && r.body_len == 0 && r.content_length == 10, "HEAD of an unknown path: 404, no body");
    ts_buf_free(&r.raw);
    get("GET /metrics/ HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 404, "paths match exactly");
    ts_buf_free(&r.raw);

    get("POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", &r);
    CHECK(r.status == 405 && has_header(&r, "\r\nAllow: GET, HEAD\r\n") && r.content_length == (long)r.body_len,
          "POST 405 with Allow (%d)", r.status);
    ts_buf_free(&r.raw);
    get("OPTIONS /livez HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 405, "OPTIONS 405");
    ts_buf_free(&r.raw);
    get("DELETE /nope HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 404, "other method on an unknown path: 404");
    ts_buf_free(&r.raw);

    static const char *garbage[] = { "hello\r\n\r\n", "GET /metrics HTTP/2.0\r\n\r\n", "GET metrics HTTP/1.1\r\n\r\n",
                                     "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "GET / HTTP/1.1\r\nA b: c\r\n\r\n",
                                     "GET /\x01 HTTP/1.1\r\n\r\n" };
    for (size_t i = 0; i < sizeof garbage / sizeof *garbage; i++) {
        get(garbage[i], &r);
        CHECK(r.status == 400 && body_is(&r, "bad request\n") && r.end == 1, "garbage %zu: 400 (%d)", i, r.status);
        ts_buf_free(&r.raw);
    }
    /* A head of exactly the limit is served; one byte more is refused. */
    char *big = malloc(TS_HTTP_MAX_HEAD + 64);
    const char *pre = "GET /livez HTTP/1.1\r\nX-Pad: ";
    size_t pl = strlen(pre);
    memcpy(big, pre, pl);
    memset(big + pl, 'p', TS_HTTP_MAX_HEAD - pl - 4);
    memcpy(big + TS_HTTP_MAX_HEAD - 4, "\r\n\r\n", 4);
    request(big, TS_HTTP_MAX_HEAD, &r);
    CHECK(r.status == 200, "a %d-byte head is served (%d)", TS_HTTP_MAX_HEAD, r.status);
    ts_buf_free(&r.raw);
    memset(big + pl, 'p', TS_HTTP_MAX_HEAD - pl - 3);
    memcpy(big + TS_HTTP_MAX_HEAD - 3, "\r\n\r\n", 4);
    request(big, TS_HTTP_MAX_HEAD + 1, &r);
    CHECK(r.status == 400 && r.end == 1, "a %d-byte head: 400 (%d)", TS_HTTP_MAX_HEAD + 1, r.status);
    ts_buf_free(&r.raw);
    /* A head that never ends, much longer than the limit: 400, the rest drained, no reset. */
    char *huge = malloc(256 * 1024);
    memcpy(huge, "GET /livez HTTP/1.1\r\nX: ", 24);
    memset(huge + 24, 'a', 256 * 1024 - 24);
    request(huge, 256 * 1024, &r);
    CHECK(r.status == 400 && r.end == 1, "a 256 KiB head: 400 (%d, end %d)", r.status, r.end);
    ts_buf_free(&r.raw);
    free(huge);
    free(big);
    CHECK(ts_httpd_stats(srv)->bad == sizeof garbage / sizeof *garbage + 2, "bad requests counted (%llu)",
          (unsigned long long)ts_httpd_stats(srv)->bad);
}

static void test_handlers(void)
{
    resp_t r;
    get("GET /teapot HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 418 && strncmp(r.head, "HTTP/1.1 418 \r\n", 15) == 0, "handler's status (%.20s)", r.head);
    CHECK(has_header(&r, "\r\nContent-Type: application/json\r\n") && body_is(&r, "{\"path\":\"/teapot\"}"),
          "handler's content type and body");
    ts_buf_free(&r.raw);
    get("GET /header HTTP/1.1\r\nX-Test:  value 1 \r\n\r\n", &r);
    CHECK(r.status == 200 && body_is(&r, "value 1") && has_header(&r, "text/plain; charset=utf-8"),
          "handlers read headers; text/plain by default");
    ts_buf_free(&r.raw);
    get("GET /bad-status HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 500 && r.content_length == (long)r.body_len, "status 204 from a handler: 500 (%d)", r.status);
    ts_buf_free(&r.raw);
    get("GET /bad-type HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 500 && !strstr(r.head, "Set-Cookie"), "a content type with CRLF: 500, nothing injected");
    ts_buf_free(&r.raw);

    ready_state = 0;
    get("GET /readyz HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 503 && body_is(&r, "not ready: upstream signer not connected\n"), "readyz 503 with the reason");
    ts_buf_free(&r.raw);
    ready_state = 1;
    get("GET /readyz HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 200 && body_is(&r, "ok\n"), "readyz 200");
    ts_buf_free(&r.raw);
    get("GET /livez HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 200 && body_is(&r, "ok\n"), "livez 200 ok");
    ts_buf_free(&r.raw);

    /* One request byte at a time, then the client half-closes: still answered. */
    const char *req = "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n";
    int fd = cconnect(0);
    for (const char *p = req; *p; p++) {
        csend(fd, p, 1);
        pump(0.001);
    }
    shutdown(fd, SHUT_WR);
    ts_buf_init(&r.raw);
    r.end = crecv_all(fd, &r.raw, 3.0);
    resp_parse(&r);
    CHECK(r.status == 200 && body_is(&r, "ok\n") && r.end == 1, "byte by byte, then half-closed: 200");
    ts_buf_free(&r.raw);
    close(fd);
}

/* A turn of the loop that holds it (a slow callback) fails /livez for a while. */
static void test_livez_stall(void)
{
    ts_httpd_set_livez(srv, 0.2, 0.5);
    resp_t r;
    get("GET /sleep HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 200, "the slow handler answers");
    ts_buf_free(&r.raw);
    CHECK(ts_httpd_loop_stall(srv) >= 0.3, "stall seen (%.3f s)", ts_httpd_loop_stall(srv));
    get("GET /livez HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 503 && r.body_len > 12 && memcmp(r.body, "loop stalled", 12) == 0,
          "livez 503 after a stall (%.*s)", (int)r.body_len, r.body ? (const char *)r.body : "");
    ts_buf_free(&r.raw);
    pump(1.1); /* two windows */
    get("GET /livez HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 200 && ts_httpd_loop_stall(srv) < 0.2, "livez 200 again two windows later (%.3f s)",
          ts_httpd_loop_stall(srv));
    ts_buf_free(&r.raw);
    ts_httpd_set_livez(srv, TS_HTTPD_LIVEZ_STALL, TS_HTTPD_LIVEZ_WINDOW);
}

static void test_limit(void)
{
    int fds[TS_HTTPD_MAX_CONNS];
    settle(0);
    for (int i = 0; i < TS_HTTPD_MAX_CONNS; i++)
        fds[i] = cconnect(0);
    pump(0.05);
    CHECK(ts_httpd_stats(srv)->conns == TS_HTTPD_MAX_CONNS, "%d idle connections held (%llu)", TS_HTTPD_MAX_CONNS,
          (unsigned long long)ts_httpd_stats(srv)->conns);
    uint64_t rejected = ts_httpd_stats(srv)->rejected;
    resp_t r;
    get("GET /livez HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 503 && has_header(&r, "\r\nRetry-After: 1\r\n") && r.content_length == (long)r.body_len &&
              r.end == 1,
          "one more: 503 (%d, end %d)", r.status, r.end);
    ts_buf_free(&r.raw);
    CHECK(ts_httpd_stats(srv)->rejected == rejected + 1, "rejection counted");
    close(fds[0]);
    pump(0.05);
    get("GET /livez HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 200, "served again once one closed (%d)", r.status);
    ts_buf_free(&r.raw);
    for (int i = 1; i < TS_HTTPD_MAX_CONNS; i++)
        close(fds[i]);
    pump(0.05);
    CHECK(ts_httpd_stats(srv)->conns == 0, "all gone (%llu)", (unsigned long long)ts_httpd_stats(srv)->conns);

    ts_httpd_set_max_conns(srv, 1);
    int fd = cconnect(0);
    pump(0.02);
    get("GET /livez HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 503, "a limit of 1");
    ts_buf_free(&r.raw);
    close(fd);
    pump(0.02);
    ts_httpd_set_max_conns(srv, TS_HTTPD_MAX_CONNS);
}

static void test_timeouts(void)
{
    ts_httpd_set_timeout(srv, 0.3);
    uint64_t timeouts = ts_httpd_stats(srv)->timeouts;
    int silent = cconnect(0);
    int partial = cconnect(0);
    const char *unfinished = "GET /livez HTTP/1.1\r\nHost: x\r\n";
    csend(partial, unfinished, strlen(unfinished));
    uint64_t t0 = ts_mono_ns();
    ts_buf_t got;
    ts_buf_init(&got);
    int end = crecv_all(silent, &got, 3.0);
    double secs = (double)(ts_mono_ns() - t0) / 1e9;
    CHECK(end == 1 && got.len == 0, "a client that sends nothing is closed, told nothing (%d, %zu)", end, got.len);
    CHECK(secs >= 0.25 && secs < 1.5, "... after the timeout (%.2f s)", secs);
    end = crecv_all(partial, &got, 3.0);
    CHECK(end == 1 && got.len == 0, "an unfinished request is closed too (%d)", end);
    CHECK(ts_httpd_stats(srv)->timeouts == timeouts + 2, "timeouts counted");
    close(silent);
    close(partial);
    ts_buf_free(&got);

    /* A client that never reads a large response: others are served meanwhile; it is closed once
     * the response has not gone out within the timeout. */
    ts_httpd_set_timeout(srv, 1.0);
    int slow = cconnect(4096);
    csend(slow, "GET /big HTTP/1.1\r\n\r\n", 21);
    settle(1);
    pump(0.1);
    CHECK(ts_httpd_stats(srv)->conns == 1, "the slow reader's connection is open");
    t0 = ts_mono_ns();
    resp_t r;
    get("GET /metrics HTTP/1.1\r\n\r\n", &r);
    secs = (double)(ts_mono_ns() - t0) / 1e9;
    CHECK(r.status == 200 && secs < 0.5, "served beside a stuck client in %.3f s", secs);
    ts_buf_free(&r.raw);
    get("GET /livez HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 200, "livez beside a stuck client: 200 (the loop never blocked)");
    ts_buf_free(&r.raw);
    settle(1);
    CHECK(ts_httpd_stats(srv)->conns == 1, "the slow reader is still there");
    pump(1.2);
    CHECK(ts_httpd_stats(srv)->conns == 0 && ts_httpd_stats(srv)->timeouts == timeouts + 3,
          "the slow reader is closed after the timeout (%llu open)", (unsigned long long)ts_httpd_stats(srv)->conns);
    ts_buf_init(&got);
    end = crecv_all(slow, &got, 3.0);
    CHECK(end != 0 && got.len < big_len, "it got %zu of %zu bytes, then the end", got.len, big_len);
    ts_buf_free(&got);
    close(slow);

    /* A big response to a client that reads arrives whole. */
    ts_httpd_set_timeout(srv, 5.0);
    get("GET /big HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 200 && r.body_len == big_len && r.content_length == (long)big_len, "16 MiB delivered (%zu)",
          r.body_len);
    ts_buf_free(&r.raw);
}

static void test_destroy(void)
{
    settle(0);
    int fd = cconnect(0);
    pump(0.02);
    CHECK(ts_httpd_stats(srv)->conns == 1, "one connection open");
    ts_httpd_destroy(&srv);
    ts_buf_t got;
    ts_buf_init(&got);
    CHECK(crecv_all(fd, &got, 2.0) != 0, "destroy closes open connections");
    ts_buf_free(&got);
    close(fd);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    CHECK(connect(c, (struct sockaddr *)&sa, sizeof sa) < 0 && errno == ECONNREFUSED, "and the port is closed");
    close(c);
    /* The livez watchers are unref'd and gone: the loop has nothing left to run. */
    CHECK(ev_run(loop, EVRUN_NOWAIT) == 0, "no watcher keeps the loop running");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    loop = ev_default_loop(0);
    test_setup();
    if (!srv)
        CHECK_DONE();
    test_basic();
    test_handlers();
    test_livez_stall();
    test_limit();
    test_timeouts();
    test_destroy();
    ts_metrics_destroy(&reg);
    CHECK_DONE();
}
