/* HTTP tracker: embedded server (announce, stopped, expiry, failures, hostile requests) and the
 * client codecs (request building, response parsing). Server responses are read back with the
 * client parser, so each side also checks the other. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "check.h"
#include "tracker.h"
#include "ts_buf.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>



#define SEC 1000000000ull
#define TTL (120 * SEC)
#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static uint8_t IH[20], IH2[20];

static void escape(ts_buf_t *b, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ts_buf_printf(b, "%%%02x", p[i]);
}

/* "GET /announce?info_hash=..&peer_id=..&port=.. <extra> HTTP/1.1 ..." into b. */
static void make_req(ts_buf_t *b, const uint8_t ih[20], int peer, int port, const char *extra)
{
    uint8_t id[20];
    memset(id, 'A' + peer, 20);
    memcpy(id, "-XX0001-", 8);
    b->len = 0;
    ts_buf_printf(b, "GET /announce?info_hash=");
    escape(b, ih, 20);
    ts_buf_printf(b, "&peer_id=");
    escape(b, id, 20);
    ts_buf_printf(b, "&port=%d&uploaded=0&downloaded=0&left=0&compact=1%s HTTP/1.1\r\nHost: x\r\n\r\n", port,
                  extra ? extra : "");
}

/* Send req and parse the answer with the client parser. Returns the HTTP status. */
static int ask(ts_tracker_t *t, const ts_buf_t *req, uint32_t ip, uint64_t now, ts_announce_resp_t *r)
{
    ts_buf_t out;
    ts_buf_init(&out);
    int st = ts_tracker_handle(t, (const char *)req->data, req->len, ip, now, 15, &out);
    char err[256] = "";
    memset(r, 0, sizeof *r);
    if (st > 0 && !out.err) {
        /* Header sanity: status line, Content-Length that matches, Connection: close. */
        const char *hdr_end = memmem(out.data, out.len, "\r\n\r\n", 4);
        if (!hdr_end || !memmem(out.data, out.len, "Content-Type: text/plain\r\n", 26) ||
            !memmem(out.data, out.len, "Connection: close\r\n", 19))
            CHECK(0, "response headers incomplete");
        if (ts_tracker_parse_response(out.data, out.len, r, err, sizeof err) < 0)
            CHECK(0, "own response does not parse: %s (status %d)", err, st);
    }
    ts_buf_free(&out);
    return st;
}

static int has_peer(const ts_announce_resp_t *r, uint32_t ip, uint16_t port)
{
    for (size_t i = 0; i < r->npeers; i++)
        if (r->peers[i].ip == ip && r->peers[i].port == port)
            return 1;
    return 0;
}

static void test_announce(void)
{
    ts_tracker_t *t = ts_tracker_new(1000, TTL);
    CHECK(t != NULL, "new");
    ts_tracker_allow(t, IH);
    ts_tracker_allow(t, IH); /* twice is harmless */
    ts_buf_t req;
    ts_buf_init(&req);
    ts_announce_resp_t r;
    uint32_t ips[3] = { IP(10, 0, 0, 1), IP(10, 0, 0, 2), IP(127, 0, 0, 1) };
    int ports[3] = { 6881, 6882, 6881 };
    uint64_t now = 1000 * SEC;
    for (int i = 0; i < 3; i++) {
        make_req(&req, IH, i, ports[i], i == 0 ? "&event=started" : NULL);
        CHECK(ask(t, &req, ips[i], now, &r) == 200 && !r.failure[0], "announce %d", i);
        CHECK(r.interval == 15, "interval %d", r.interval);
        CHECK(r.npeers == (size_t)i, "announce %d sees %zu peers", i, r.npeers);
        ts_announce_resp_free(&r);
    }
    CHECK(ts_tracker_count(t, IH) == 3, "3 tracked");
    /* Re-announce: each sees exactly the other two, never itself. */
    for (int i = 0; i < 3; i++) {
        make_req(&req, IH, i, ports[i], NULL);
        ask(t, &req, ips[i], now + SEC, &r);
        CHECK(r.npeers == 2, "peer %d gets %zu peers", i, r.npeers);
        for (int j = 0; j < 3; j++)
            CHECK(has_peer(&r, ips[j], (uint16_t)ports[j]) == (i != j), "peer %d sees %d: %d", i, j, i != j);
        ts_announce_resp_free(&r);
    }
    CHECK(ts_tracker_count(t, IH) == 3, "re-announce does not duplicate");

    /* Same IP, different port: another peer (viewers on one host). */
    make_req(&req, IH, 3, 7000, NULL);
    ask(t, &req, ips[2], now + SEC, &r);
    CHECK(r.npeers == 3 && has_peer(&r, ips[2], 6881) && !has_peer(&r, ips[2], 7000), "same ip, other port");
    ts_announce_resp_free(&r);
    CHECK(ts_tracker_count(t, IH) == 4, "4 tracked");

    /* numwant */
    make_req(&req, IH, 0, 6881, "&numwant=1");
    ask(t, &req, ips[0], now + SEC, &r);
    CHECK(r.npeers == 1, "numwant=1 gives %zu", r.npeers);
    ts_announce_resp_free(&r);
    make_req(&req, IH, 0, 6881, "&numwant=0");
    ask(t, &req, ips[0], now + SEC, &r);
    CHECK(r.npeers == 0, "numwant=0 gives %zu", r.npeers);
    ts_announce_resp_free(&r);
    make_req(&req, IH, 0, 6881, "&numwant=99999");
    ask(t, &req, ips[0], now + SEC, &r);
    CHECK(r.npeers == 3, "huge numwant capped, gives all 3: %zu", r.npeers);
    ts_announce_resp_free(&r);

    /* stopped removes */
    make_req(&req, IH, 1, 6882, "&event=stopped");
    CHECK(ask(t, &req, ips[1], now + 2 * SEC, &r) == 200 && !r.failure[0] && r.npeers == 0, "stopped answered");
    ts_announce_resp_free(&r);
    CHECK(ts_tracker_count(t, IH) == 3, "stopped removed");
    make_req(&req, IH, 0, 6881, NULL);
    ask(t, &req, ips[0], now + 2 * SEC, &r);
    CHECK(r.npeers == 2 && !has_peer(&r, ips[1], 6882), "stopped peer no longer listed");
    ts_announce_resp_free(&r);

    /* Expiry: peer 0 keeps announcing, the others fall silent past the ttl. */
    make_req(&req, IH, 0, 6881, NULL);
    ask(t, &req, ips[0], now + TTL + 3 * SEC, &r);
    ts_announce_resp_free(&r);
    CHECK(ts_tracker_count(t, IH) == 1, "others expired: %zu left", ts_tracker_count(t, IH));
    make_req(&req, IH, 1, 6882, NULL);
    ask(t, &req, ips[1], now + TTL + 4 * SEC, &r);
    CHECK(r.npeers == 1 && has_peer(&r, ips[0], 6881), "only the live peer listed");
    ts_announce_resp_free(&r);
    /* Exactly at the ttl a peer is still there. */
    make_req(&req, IH, 2, 6881, NULL);
    ask(t, &req, ips[2], now + 2 * TTL + 3 * SEC, &r);
    CHECK(has_peer(&r, ips[0], 6881), "peer seen exactly ttl ago kept");
    ts_announce_resp_free(&r);

    /* The broadcaster registers itself: listed always, never expires, not removed by stopped. */
    ts_peer_addr_t bc = { IP(192, 168, 1, 1), 9000 };
    ts_tracker_add(t, IH, bc, now);
    ts_peer_addr_t other = { IP(1, 2, 3, 4), 5 };
    ts_tracker_add(t, IH2, other, now); /* not allowed: ignored */
    CHECK(ts_tracker_count(t, IH2) == 0, "add to unknown infohash ignored");
    make_req(&req, IH, 5, 5555, NULL);
    ask(t, &req, IP(10, 9, 9, 9), now + 10 * TTL, &r);
    CHECK(r.npeers == 1 && has_peer(&r, bc.ip, bc.port), "broadcaster listed after 10 ttl (%zu peers)", r.npeers);
    ts_announce_resp_free(&r);
    make_req(&req, IH, 6, 9000, "&event=stopped");
    ask(t, &req, bc.ip, now + 10 * TTL, &r);
    ts_announce_resp_free(&r);
    make_req(&req, IH, 5, 5555, NULL);
    ask(t, &req, IP(10, 9, 9, 9), now + 10 * TTL, &r);
    CHECK(has_peer(&r, bc.ip, bc.port), "stopped cannot remove the broadcaster");
    ts_announce_resp_free(&r);
    /* ...but the broadcaster itself is not told about itself. */
    make_req(&req, IH, 6, 9000, NULL);
    ask(t, &req, bc.ip, now + 10 * TTL, &r);
    CHECK(!has_peer(&r, bc.ip, bc.port) && r.npeers == 1, "broadcaster not given itself");
    ts_announce_resp_free(&r);

    ts_buf_free(&req);
    ts_tracker_destroy(&t);
    CHECK(t == NULL, "destroy clears");
    ts_tracker_destroy(&t);
}

static void test_capacity(void)
{
    /* 300 peers, max 250 (the broadcaster counts): the oldest give way; a response holds at most 200, always the broadcaster. */
    ts_tracker_t *t = ts_tracker_new(250, TTL);
    ts_tracker_allow(t, IH);
    ts_peer_addr_t bc = { IP(192, 168, 1, 1), 9000 };
    ts_tracker_add(t, IH, bc, 0);
    ts_buf_t req;
    ts_buf_init(&req);
    ts_announce_resp_t r;
    for (int i = 0; i < 300; i++) {
        make_req(&req, IH, i % 26, 1000 + i, "&numwant=0");
        ask(t, &req, IP(10, 1, i >> 8, i & 255), (uint64_t)i * 1000, &r);
        ts_announce_resp_free(&r);
    }
    CHECK(ts_tracker_count(t, IH) == 250, "capped at 250, broadcaster included: %zu", ts_tracker_count(t, IH));
    make_req(&req, IH, 0, 1000, "&numwant=500");
    ask(t, &req, IP(10, 1, 0, 0), 400000, &r);
    CHECK(r.npeers == 200, "numwant capped at 200: %zu", r.npeers);
    CHECK(has_peer(&r, bc.ip, bc.port), "broadcaster always in the sample");
    int dup = 0;
    for (size_t i = 0; i < r.npeers; i++)
        for (size_t j = i + 1; j < r.npeers; j++)
            dup |= r.peers[i].ip == r.peers[j].ip && r.peers[i].port == r.peers[j].port;
    CHECK(!dup, "no duplicates in the sample");
    ts_announce_resp_free(&r);
    ts_buf_free(&req);
    ts_tracker_destroy(&t);
}

static void expect_failure(ts_tracker_t *t, const char *reqs, const char *what)
{
    ts_buf_t req;
    ts_buf_init(&req);
    ts_buf_printf(&req, "%s", reqs);
    ts_announce_resp_t r;
    int st = ask(t, &req, IP(10, 0, 0, 1), SEC, &r);
    CHECK(st == 200 && r.failure[0], "%s: status %d, failure \"%s\"", what, st, r.failure);
    ts_announce_resp_free(&r);
    ts_buf_free(&req);
}

static int status_of(ts_tracker_t *t, const char *req, size_t len)
{
    ts_buf_t out;
    ts_buf_init(&out);
    int st = ts_tracker_handle(t, req, len, IP(10, 0, 0, 1), SEC, 15, &out);
    int line = -1;
    if (out.len > 12 && memcmp(out.data, "HTTP/1.0 ", 9) == 0)
        line = atoi((const char *)out.data + 9);
    CHECK(line == st, "status line %d matches return %d", line, st);
    ts_buf_free(&out);
    return st;
}

#define IHQ "info_hash=%01%02%03%04%05%06%07%08%09%0a%0b%0c%0d%0e%0f%10%11%12%13%14"
#define PIDQ "peer_id=-XX0001-abcdefghijkl"

static void test_malformed(void)
{
    ts_tracker_t *t = ts_tracker_new(1000, TTL);
    ts_tracker_allow(t, IH);
    /* The control: IHQ and PIDQ make a valid request, so each failure below is down to its one defect. */
    {
        ts_buf_t req;
        ts_buf_init(&req);
        ts_buf_printf(&req, "%s", "GET /announce?" IHQ "&" PIDQ "&port=6881 HTTP/1.0\r\n\r\n");
        ts_announce_resp_t r;
        CHECK(ask(t, &req, 1, SEC, &r) == 200 && !r.failure[0], "control request accepted: %s", r.failure);
        ts_announce_resp_free(&r);
        ts_buf_free(&req);
    }
    expect_failure(t, "GET /announce?info_hash=%01%02%03%04%05%06%07%08%09%0a%0b%0c%0d%0e%0f%10%11%12%13%1 HTTP/1.0\r\n\r\n",
                   "truncated escape");
    expect_failure(t, "GET /announce?info_hash=%01%02%03%04%05%06%07%08%09%0a%0b%0c%0d%0e%0f%10%11%12%13%zz&" PIDQ
                      "&port=1 HTTP/1.0\r\n\r\n",
                   "bad hex");
    expect_failure(t, "GET /announce?info_hash=%01%02%03%04%05%06%07%08%09%0a%0b%0c%0d%0e%0f%10%11%12%13&" PIDQ
                      "&port=1 HTTP/1.0\r\n\r\n",
                   "19-byte info_hash");
    expect_failure(t, "GET /announce?info_hash=%01%02%03%04%05%06%07%08%09%0a%0b%0c%0d%0e%0f%10%11%12%13%14%15&" PIDQ
                      "&port=1 HTTP/1.0\r\n\r\n",
                   "21-byte info_hash");
    expect_failure(t, "GET /announce?" IHQ "&peer_id=short&port=1 HTTP/1.0\r\n\r\n", "short peer_id");
    expect_failure(t, "GET /announce?" IHQ "&" PIDQ "&port=0 HTTP/1.0\r\n\r\n", "port 0");
    expect_failure(t, "GET /announce?" IHQ "&" PIDQ "&port=65536 HTTP/1.0\r\n\r\n", "port 65536");
    expect_failure(t, "GET /announce?" IHQ "&" PIDQ "&port=-1 HTTP/1.0\r\n\r\n", "port -1");
    expect_failure(t, "GET /announce?" IHQ "&" PIDQ "&port= HTTP/1.0\r\n\r\n", "empty port");
    expect_failure(t, "GET /announce?" IHQ "&" PIDQ " HTTP/1.0\r\n\r\n", "no port");
    expect_failure(t, "GET /announce?" PIDQ "&port=1 HTTP/1.0\r\n\r\n", "no info_hash");
    expect_failure(t, "GET /announce?" IHQ "&port=1 HTTP/1.0\r\n\r\n", "no peer_id");
    expect_failure(t, "GET /announce HTTP/1.0\r\n\r\n", "no query");
    expect_failure(t, "GET /announce? HTTP/1.0\r\n\r\n", "empty query");
    expect_failure(t, "GET /announce?&&&=&== HTTP/1.0\r\n\r\n", "junk query");
    expect_failure(t, "GET /announce?" IHQ "&" IHQ "&" PIDQ "&port=1 HTTP/1.0\r\n\r\n", "repeated info_hash");
    expect_failure(t, "GET /announce?" IHQ "&" PIDQ "&port=1&numwant=x HTTP/1.0\r\n\r\n", "bad numwant");
    expect_failure(t, "GET /announce?" IHQ "&" PIDQ "&port=1&numwant=-5 HTTP/1.0\r\n\r\n", "negative numwant");
    /* IH2 was never allowed. */
    {
        ts_buf_t req;
        ts_buf_init(&req);
        make_req(&req, IH2, 0, 6881, NULL);
        ts_announce_resp_t r;
        CHECK(ask(t, &req, 1, SEC, &r) == 200 && strstr(r.failure, "unknown"), "unknown infohash: %s", r.failure);
        ts_announce_resp_free(&r);
        ts_buf_free(&req);
    }

    const char *bad400[] = {
        "POST /announce?" IHQ " HTTP/1.0\r\n\r\n",
        "get /announce HTTP/1.0\r\n\r\n",
        "GET /announce\r\n\r\n",
        "GET  /announce HTTP/1.0\r\n\r\n",
        "GET /announce HTTP/2.0\r\n\r\n",
        "GET /announce HTTP/1.0 extra\r\n\r\n",
        "GET announce HTTP/1.0\r\n\r\n",
        "GET http://x/announce HTTP/1.0\r\n\r\n",
        "GET /announce HTTP/1.0",           /* no line end at all */
        "\r\n\r\n",
        "",
        "\023BitTorrent protocol",
    };
    for (size_t i = 0; i < sizeof bad400 / sizeof *bad400; i++)
        CHECK(status_of(t, bad400[i], strlen(bad400[i])) == 400, "400 for %s", bad400[i]);
    static const char nul[] = "GET /announce?a\0b HTTP/1.0\r\n\r\n";
    CHECK(status_of(t, nul, sizeof nul - 1) == 400, "NUL in request line");
    CHECK(status_of(t, "GET /scrape?" IHQ " HTTP/1.0\r\n\r\n", strlen("GET /scrape?" IHQ " HTTP/1.0\r\n\r\n")) == 404,
          "scrape is 404");
    CHECK(status_of(t, "GET / HTTP/1.0\r\n\r\n", 18) == 404, "root is 404");

    /* A huge request is refused without being looked at. */
    size_t big = 100000;
    char *huge = malloc(big);
    memset(huge, 'A', big);
    memcpy(huge, "GET /announce?", 14);
    memcpy(huge + big - 13, " HTTP/1.0\r\n\r\n", 13);
    CHECK(status_of(t, huge, big) == 400, "100 kB request");
    CHECK(status_of(t, huge, TS_TRACKER_REQ_MAX + 1) == 400, "8 KiB + 1 request");
    free(huge);
    /* A long but legal one under the limit (many ignored parameters). */
    ts_buf_t req;
    ts_buf_init(&req);
    make_req(&req, IH, 0, 6881, NULL);
    ts_buf_t longer;
    ts_buf_init(&longer);
    const char *q = memchr(req.data, ' ', req.len);
    q = memchr(q + 1, ' ', req.len - (size_t)(q + 1 - (const char *)req.data));
    ts_buf_put(&longer, req.data, (size_t)(q - (const char *)req.data));
    for (int i = 0; i < 500; i++)
        ts_buf_printf(&longer, "&k%d=v", i);
    ts_buf_printf(&longer, "%s", q);
    CHECK(longer.len < TS_TRACKER_REQ_MAX, "long request under the limit (%zu)", longer.len);
    ts_announce_resp_t r;
    CHECK(ask(t, &longer, 1, SEC, &r) == 200 && !r.failure[0], "long request with unknown keys accepted");
    ts_announce_resp_free(&r);
    ts_buf_free(&longer);
    ts_buf_free(&req);
    ts_tracker_destroy(&t);
}

static void test_request(void)
{
    uint8_t id[20];
    memcpy(id, "-TS0001-", 8);
    for (int i = 8; i < 20; i++)
        id[i] = (uint8_t)(i == 10 ? ' ' : i == 11 ? 0xFF : 'a' + i);
    char host[256];
    uint16_t port = 0;
    ts_buf_t b;
    ts_buf_init(&b);

    CHECK(ts_tracker_request("http://127.0.0.1:7000/announce", IH, id, 6881, 10, 20, "started", host, sizeof host,
                             &port, &b) == 0,
          "basic url");
    ts_buf_putc(&b, 0);
    const char *s = (const char *)b.data;
    CHECK(strcmp(host, "127.0.0.1") == 0 && port == 7000, "host %s port %u", host, port);
    static const char start[] = "GET /announce?info_hash=%01%02%03%04%05%06%07%08%09%0A%0B%0C%0D%0E%0F%10%11%12%13%14";
    CHECK(strncmp(s, start, sizeof start - 1) == 0,
          "target start: %s", s);
    CHECK(strstr(s, "&peer_id=-TS0001-ij%20%FFmnopqrst&port=6881&uploaded=10&downloaded=20&left=0&compact=1"
                    "&numwant=50&event=started HTTP/1.0\r\n") != NULL,
          "target rest: %s", s);
    CHECK(strstr(s, "\r\nHost: 127.0.0.1:7000\r\n") && strstr(s, "Connection: close\r\n") &&
              b.len > 5 && memcmp(s + b.len - 5, "\r\n\r\n", 4) == 0,
          "headers: %s", s);

    /* The server must accept what the client builds. */
    ts_tracker_t *t = ts_tracker_new(10, TTL);
    ts_tracker_allow(t, IH);
    ts_buf_t out;
    ts_buf_init(&out);
    CHECK(ts_tracker_handle(t, s, b.len - 1, IP(127, 0, 0, 1), SEC, 15, &out) == 200, "server accepts client request");
    ts_announce_resp_t r;
    char err[128];
    CHECK(ts_tracker_parse_response(out.data, out.len, &r, err, sizeof err) == 0 && !r.failure[0],
          "no failure: %s", r.failure);
    ts_announce_resp_free(&r);
    CHECK(ts_tracker_count(t, IH) == 1, "client registered");
    ts_buf_free(&out);
    ts_tracker_destroy(&t);

    /* No port, no path: port 80, path "/", Host without port. */
    b.len = 0;
    CHECK(ts_tracker_request("http://tracker.example.org", IH, id, 1, 0, 0, NULL, host, sizeof host, &port, &b) == 0,
          "bare host");
    ts_buf_putc(&b, 0);
    s = (const char *)b.data;
    CHECK(port == 80 && strcmp(host, "tracker.example.org") == 0, "bare host: %s %u", host, port);
    CHECK(strncmp(s, "GET /?info_hash=", 16) == 0 && !strstr(s, "event=") &&
              strstr(s, "\r\nHost: tracker.example.org\r\n"),
          "bare host request: %s", s);

    /* A path with a query already: parameters appended with '&'; fragment dropped. */
    b.len = 0;
    CHECK(ts_tracker_request("HTTP://t.example:8080/a/announce.php?passkey=abc%20d#frag", IH, id, 2, 0, 0, "stopped",
                             host, sizeof host, &port, &b) == 0,
          "path with query");
    ts_buf_putc(&b, 0);
    s = (const char *)b.data;
    CHECK(port == 8080 && strncmp(s, "GET /a/announce.php?passkey=abc%20d&info_hash=", 46) == 0 &&
              strstr(s, "&event=stopped HTTP/1.0\r\n") && !strstr(s, "frag") && strstr(s, "Host: t.example:8080\r\n"),
          "path with query: %s", s);
    b.len = 0;
    CHECK(ts_tracker_request("http://t.example/ann?", IH, id, 2, 0, 0, NULL, host, sizeof host, &port, &b) == 0 &&
              b.len > 20 && memcmp(b.data, "GET /ann?info_hash=", 19) == 0,
          "query that is just '?'");
    b.len = 0;
    CHECK(ts_tracker_request("http://t.example?x=1", IH, id, 2, 0, 0, NULL, host, sizeof host, &port, &b) == 0 &&
              b.len > 20 && memcmp(b.data, "GET /?x=1&info_hash=", 20) == 0,
          "query without path");
    b.len = 0;
    CHECK(ts_tracker_request("http://[::1]:6969/announce", IH, id, 2, 0, 0, NULL, host, sizeof host, &port, &b) == 0 &&
              strcmp(host, "::1") == 0 && port == 6969 && memmem(b.data, b.len, "Host: [::1]:6969\r\n", 18),
          "IPv6 literal");

    const char *bad[] = {
        "https://t.example/announce",   "udp://t.example:80",          "http://",
        "http:///announce",             "http://t.example:/a",         "http://t.example:0/a",
        "http://t.example:65536/a",     "http://t.example:80x/a",      "http://user:pw@t.example/a",
        "http://t.ex ample/a",          "http://t.example/a b",        "http://t.example/a\r\nX: y",
        "http://[::1/a",                "http://[::1]x/a",             "http://[zz]/a",
        "ftp://t.example",              "t.example/announce",          "",
        "http://t.example/\x7f",        "http://t.example/\xc3\xa9",
    };
    size_t before = b.len = 0;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = ts_tracker_request(bad[i], IH, id, 2, 0, 0, NULL, host, sizeof host, &port, &b);
        CHECK(rc == -1 && b.len == before, "bad url accepted: %s", bad[i]);
    }
    CHECK(ts_tracker_request("http://t.example/a", IH, id, 2, 0, 0, "paused", host, sizeof host, &port, &b) == -1,
          "unknown event");
    char small[4];
    CHECK(ts_tracker_request("http://t.example/a", IH, id, 2, 0, 0, NULL, small, sizeof small, &port, &b) == -1,
          "host buffer too small");
    /* Appends to what is already in the buffer. */
    b.len = 0;
    ts_buf_printf(&b, "xx");
    CHECK(ts_tracker_request("http://a/", IH, id, 2, 0, 0, NULL, host, sizeof host, &port, &b) == 0 && b.len > 2 &&
              memcmp(b.data, "xxGET /?", 8) == 0,
          "appends");
    ts_buf_free(&b);
}

static int parse_s(const char *s, size_t len, ts_announce_resp_t *r, char *err, size_t errlen)
{
    return ts_tracker_parse_response((const uint8_t *)s, len, r, err, errlen);
}

#define P(lit) lit, sizeof lit - 1

static void test_response(void)
{
    ts_announce_resp_t r;
    char err[256];
    CHECK(parse_s(P("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                    "d8:intervali1800e5:peers12:\x7f\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x00\x50" "e"),
                  &r, err, sizeof err) == 0,
          "compact: %s", err);
    CHECK(r.interval == 1800 && r.npeers == 2 && r.peers[0].ip == IP(127, 0, 0, 1) && r.peers[0].port == 6881 &&
              r.peers[1].ip == IP(10, 0, 0, 2) && r.peers[1].port == 80 && !r.failure[0],
          "compact fields");
    ts_announce_resp_free(&r);
    CHECK(r.peers == NULL && r.npeers == 0, "free clears");
    ts_announce_resp_free(&r);

    CHECK(parse_s(P("HTTP/1.1 200 OK\r\ncontent-length: 114\r\n\r\n"
                    "d8:intervali60e5:peersld2:ip8:10.1.2.37:peer id20:aaaaaaaaaaaaaaaaaaaa4:porti6881eed2:ip11:"
                    "example.org4:porti1eeee"),
                  &r, err, sizeof err) == 0,
          "dict model: %s", err);
    CHECK(r.interval == 60 && r.npeers == 1 && r.peers[0].ip == IP(10, 1, 2, 3) && r.peers[0].port == 6881,
          "dict model fields (hostname skipped): %zu", r.npeers);
    ts_announce_resp_free(&r);

    CHECK(parse_s(P("HTTP/1.0 200 OK\n\nd14:failure reason17:torrent not founde"), &r, err, sizeof err) == 0 &&
              strcmp(r.failure, "torrent not found") == 0 && r.npeers == 0,
          "failure reason (bare LF): %s / %s", err, r.failure);
    ts_announce_resp_free(&r);
    CHECK(parse_s(P("HTTP/1.0 400 Bad Request\r\nContent-Length: 29\r\n\r\nd14:failure reason8:bad \x01\xffmee"), &r,
                  err, sizeof err) == 0 &&
              strcmp(r.failure, "bad ??me") == 0,
          "failure on 400, sanitised: %s", r.failure);
    ts_announce_resp_free(&r);

    /* Content-Length shorter than the data: the rest is ignored. Trailing newline tolerated. */
    CHECK(parse_s(P("HTTP/1.0 200 OK\r\nContent-Length: 24\r\n\r\nd8:intervali5e5:peers0:eGARBAGE"), &r, err,
                  sizeof err) == 0 &&
              r.interval == 5 && r.npeers == 0,
          "content-length honoured: %s", err);
    ts_announce_resp_free(&r);
    CHECK(parse_s(P("HTTP/1.0 200 OK\r\n\r\nd8:intervali5e5:peers0:e\r\n"), &r, err, sizeof err) == 0,
          "trailing CRLF: %s", err);
    ts_announce_resp_free(&r);
    CHECK(parse_s(P("HTTP/1.0 200 OK\r\n\r\nd8:intervali-5ee"), &r, err, sizeof err) == 0 && r.interval == 0,
          "negative interval clamped");
    ts_announce_resp_free(&r);
    CHECK(parse_s(P("HTTP/1.0 200 OK\r\n\r\nd8:intervali999999999999ee"), &r, err, sizeof err) == 0 &&
              r.interval == 86400,
          "huge interval clamped");
    ts_announce_resp_free(&r);

    /* Our own server's format with more than 1000 compact peers: capped. */
    ts_buf_t big;
    ts_buf_init(&big);
    ts_buf_printf(&big, "HTTP/1.0 200 OK\r\n\r\nd8:intervali15e5:peers%d:", 1500 * 6);
    for (int i = 0; i < 1500; i++) {
        uint8_t p[6] = { 10, 0, (uint8_t)(i >> 8), (uint8_t)i, 0x1a, 0xe1 };
        ts_buf_put(&big, p, 6);
    }
    ts_buf_printf(&big, "e");
    CHECK(ts_tracker_parse_response(big.data, big.len, &r, err, sizeof err) == 0 && r.npeers == 1000,
          "capped at 1000: %zu", r.npeers);
    ts_announce_resp_free(&r);
    ts_buf_free(&big);

    const char *bad[] = {
        "",
        "HTTP/1.0 200 OK",
        "HTTP/1.0 200 OK\r\n",
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n",
        "HTTP/1.0 200 OK\r\n\r\n",
        "HTTP/1.0 200 OK\r\n\r\nd8:intervali5e5:peers",
        "HTTP/1.0 200 OK\r\n\r\nd8:intervali5e5:peers5:abcdee",
        "HTTP/1.0 200 OK\r\n\r\nd8:intervali5e5:peers7:abcdefge",
        "HTTP/1.0 200 OK\r\n\r\nd8:intervali5e5:peersi3ee",
        "HTTP/1.0 200 OK\r\n\r\nd8:interval1:5e",
        "HTTP/1.0 200 OK\r\n\r\nli1ee",
        "HTTP/1.0 200 OK\r\n\r\nd8:intervali5eeXX",
        "HTTP/1.0 200 OK\r\n\r\n<html>not bencode</html>",
        "HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\nd8:intervali5ee",
        "HTTP/1.0 200 OK\r\nContent-Length: x\r\n\r\nd8:intervali5ee",
        "HTTP/1.0 200 OK\r\nContent-Length: 15\r\nContent-Length: 16\r\n\r\nd8:intervali5ee",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nf\r\nd8:intervali5ee\r\n0\r\n\r\n",
        "HTTP/1.0 404 Not Found\r\n\r\n<html></html>",
        "HTTP/1.0 500 Oops\r\n\r\n",
        "HTTP/1.0 302 Found\r\nLocation: http://x/\r\n\r\nd8:intervali5ee",
        "HTTP/1.0 2000 OK\r\n\r\nde",
        "HTTP/1.0 20x OK\r\n\r\nde",
        "ICY 200 OK\r\n\r\nde",
        "HTTP/1.0 200 OK\r\n\r\nd14:failure reasoni1ee",
        "d8:intervali5e5:peers0:e",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = 0;
        r.npeers = 99;
        int rc = parse_s(bad[i], strlen(bad[i]), &r, err, sizeof err);
        CHECK(rc == -1 && err[0] && r.peers == NULL && r.npeers == 0, "bad response accepted (%d): %s", rc, bad[i]);
    }
    /* Every truncation of a good response either fails or yields a prefix of its peers, never more. */
    static const char good[] = "HTTP/1.0 200 OK\r\nContent-Length: 38\r\n\r\n"
                               "d8:intervali30e5:peers12:\x7f\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x00\x50" "e";
    for (size_t n = 0; n < sizeof good - 1; n++) {
        int rc = parse_s(good, n, &r, err, sizeof err);
        if (rc != -1) {
            CHECK(0, "truncated response of %zu bytes accepted", n);
            ts_announce_resp_free(&r);
            break;
        }
    }
    CHECK(parse_s(good, sizeof good - 1, &r, err, sizeof err) == 0 && r.npeers == 2, "untruncated good: %s", err);
    ts_announce_resp_free(&r);
}

int main(void)
{
    for (int i = 0; i < 20; i++) {
        IH[i] = (uint8_t)(i + 1);
        IH2[i] = (uint8_t)(0xF0 ^ i);
    }
    test_announce();
    test_capacity();
    test_malformed();
    test_request();
    test_response();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
