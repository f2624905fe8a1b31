/* The HTTP head parsers (lib/ts_http.c). Requests (ts_httpd, the player-bridge): every prefix of a
 * valid request is PARTIAL and the whole is DONE; malformed input turns BAD at the offending byte and
 * stays BAD; oversized heads, NUL bytes, bare LFs, header lookup. Responses (the clients): status
 * line, Content-Length and chunked, the same prefix rule, malformed and oversized heads. */
#include "check.h"
#include "ts_http.h"
#include "ts_piece.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>



static int parse(const char *s, size_t n, ts_http_req_t *r) { return ts_http_parse((const uint8_t *)s, n, r); }

static int streq(const char *p, size_t n, const char *want) { return n == strlen(want) && memcmp(p, want, n) == 0; }

/* Printable name for failure messages. */
static const char *show(const char *s, size_t n)
{
    static char out[200];
    size_t j = 0;
    for (size_t i = 0; i < n && j + 5 < sizeof out; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r') { out[j++] = '\\'; out[j++] = 'r'; }
        else if (c == '\n') { out[j++] = '\\'; out[j++] = 'n'; }
        else if (c < 0x20 || c >= 0x7f) j += (size_t)snprintf(out + j, sizeof out - j, "\\x%02x", c);
        else out[j++] = (char)c;
    }
    out[j] = 0;
    return out;
}

/* ------------------------------------------------------------------ valid requests */

typedef struct {
    const char *text;
    size_t len; /* 0: strlen */
    ts_http_method_t method;
    const char *path;
    int minor;
    size_t head_len; /* 0: the whole text */
} valid_t;

static void check_valid(const valid_t *v)
{
    size_t n = v->len ? v->len : strlen(v->text);
    size_t head = v->head_len ? v->head_len : n;
    ts_http_req_t r;
    int prefix_ok = 1;
    for (size_t k = 0; k < head; k++) {
        int rc = parse(v->text, k, &r);
        if (rc != TS_HTTP_PARTIAL) {
            prefix_ok = 0;
            CHECK(0, "%s: prefix of %zu bytes gives %d (%s)", show(v->text, n), k, rc, r.error ? r.error : "");
            break;
        }
    }
    CHECK(prefix_ok, "%s: every proper prefix partial", show(v->text, n));
    for (size_t k = head; k <= n; k++) {
        int rc = parse(v->text, k, &r);
        if (rc != TS_HTTP_DONE || r.head_len != head) {
            CHECK(0, "%s: %zu bytes give %d, head_len %zu (want DONE, %zu) %s", show(v->text, n), k, rc, r.head_len,
                  head, r.error ? r.error : "");
            return;
        }
    }
    CHECK(r.method == v->method, "%s: method %d, want %d", show(v->text, n), r.method, v->method);
    CHECK(streq(r.path, r.path_len, v->path), "%s: path '%.*s', want '%s'", show(v->text, n), (int)r.path_len, r.path,
          v->path);
    CHECK(r.version_minor == v->minor, "%s: HTTP/1.%d, want 1.%d", show(v->text, n), r.version_minor, v->minor);
}

static void test_valid(void)
{
    static const char obs[] = "GET /x HTTP/1.1\r\nUser-Agent: caf\xc3\xa9\xff\r\n\r\n";
    static const valid_t cases[] = {
        { "GET /live.ts HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: VLC/3.0\r\n\r\n", 0, TS_HTTP_M_GET,
          "/live.ts", 1, 0 },
        { "GET /live.ts HTTP/1.0\n\n", 0, TS_HTTP_M_GET, "/live.ts", 0, 0 },
        { "HEAD / HTTP/1.1\r\n\r\n", 0, TS_HTTP_M_HEAD, "/", 1, 0 },
        { "OPTIONS * HTTP/1.1\r\nOrigin: http://a.example\r\nAccess-Control-Request-Method: GET\r\n\r\n", 0,
          TS_HTTP_M_OPTIONS, "*", 1, 0 },
        { "OPTIONS /live.ts HTTP/1.1\r\n\r\n", 0, TS_HTTP_M_OPTIONS, "/live.ts", 1, 0 },
        { "GET /live.ts?token=1&x=%20#frag HTTP/1.1\r\nA:\r\nB: v v \r\n\r\n", 0, TS_HTTP_M_GET, "/live.ts", 1, 0 },
        { "GET http://host:8080/live.ts?x HTTP/1.1\r\n\r\n", 0, TS_HTTP_M_GET, "/live.ts", 1, 0 },
        { "GET HTTPS://host HTTP/1.1\r\n\r\n", 0, TS_HTTP_M_GET, "/", 1, 0 },
        { "GET http://host?q=/a HTTP/1.1\r\n\r\n", 0, TS_HTTP_M_GET, "/", 1, 0 },
        { "\r\n\r\nGET / HTTP/1.1\r\n\r\n", 0, TS_HTTP_M_GET, "/", 1, 0 },
        { "\nGET / HTTP/1.1\nA: b\r\nC:d\n\r\n", 0, TS_HTTP_M_GET, "/", 1, 0 },
        { "GET / HTTP/1.9\r\n\r\n", 0, TS_HTTP_M_GET, "/", 9, 0 },
        { "POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 0, TS_HTTP_M_OTHER, "/x", 1, 39 },
        { "DELETE /live.ts HTTP/1.1\r\n\r\n", 0, TS_HTTP_M_OTHER, "/live.ts", 1, 0 },
        { "get / HTTP/1.1\r\n\r\n", 0, TS_HTTP_M_OTHER, "/", 1, 0 }, /* methods are case-sensitive */
        { "GETS / HTTP/1.1\r\n\r\n", 0, TS_HTTP_M_OTHER, "/", 1, 0 },
        { "X-Custom!#$%&'*+-.^_`|~ / HTTP/1.1\r\n\r\n", 0, TS_HTTP_M_OTHER, "/", 1, 0 },
        { "GET / HTTP/1.1\r\nX:\t tab\t\r\n\r\n", 0, TS_HTTP_M_GET, "/", 1, 0 },
        { "GET / HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 0, TS_HTTP_M_GET, "/", 1, 18 }, /* pipelined */
        { obs, sizeof obs - 1, TS_HTTP_M_GET, "/x", 1, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_valid(&cases[i]);
}

/* ------------------------------------------------------------------ malformed requests */

/* BAD at exactly bad_at bytes (0: only check the whole text is BAD), PARTIAL before, BAD after. */
static void check_bad(const char *text, size_t n, size_t bad_at)
{
    if (!n)
        n = strlen(text);
    ts_http_req_t r;
    int first_bad = -1;
    for (size_t k = 0; k <= n; k++) {
        int rc = parse(text, k, &r);
        if (rc == TS_HTTP_DONE) {
            CHECK(0, "%s: %zu bytes parse as a complete request", show(text, n), k);
            return;
        }
        if (rc == TS_HTTP_BAD && first_bad < 0) {
            first_bad = (int)k;
            CHECK(r.error && *r.error, "%s: BAD gives a reason", show(text, n));
        }
        if (rc != TS_HTTP_BAD && first_bad >= 0) {
            CHECK(0, "%s: BAD at %d but %d at %zu", show(text, n), first_bad, rc, k);
            return;
        }
    }
    CHECK(first_bad >= 0, "%s: never BAD", show(text, n));
    if (bad_at)
        CHECK(first_bad == (int)bad_at, "%s: BAD at %d bytes, want %zu", show(text, n), first_bad, bad_at);
}

static void test_malformed(void)
{
    static const struct {
        const char *text;
        size_t len, bad_at;
    } cases[] = {
        { "GET  / HTTP/1.1\r\n\r\n", 0, 5 },             /* two spaces */
        { " GET / HTTP/1.1\r\n\r\n", 0, 1 },             /* leading space */
        { "GET / HTTP/1.1 \r\n\r\n", 0, 15 },            /* space after the version */
        { "GET / HTTP/2.0\r\n\r\n", 0, 12 },             /* HTTP/2 in text form */
        { "GET / HTTP/1.x\r\n\r\n", 0, 14 },
        { "GET / HTTP/1.10\r\n\r\n", 0, 15 },
        { "GET / http/1.1\r\n\r\n", 0, 7 },
        { "GET /\r\n\r\n", 0, 6 },                       /* HTTP/0.9 */
        { "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 0, 21 }, /* space before the colon */
        { "GET / HTTP/1.1\r\n folded\r\n\r\n", 0, 17 },  /* obs-fold */
        { "GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n", 0, 23 },
        { "GET / HTTP/1.1\rX\r\n\r\n", 0, 16 },          /* CR without LF */
        { "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 0, 22 },
        { "GET / HTTP/1.1\r\n\rX", 0, 18 },
        { "\rGET / HTTP/1.1\r\n\r\n", 0, 2 },
        { "GET / HTTP/1.1\r\nNoColon\r\n\r\n", 0, 24 },
        { "GET / HTTP/1.1\r\n:empty-name\r\n\r\n", 0, 17 },
        { "GET foo HTTP/1.1\r\n\r\n", 0, 8 },            /* neither a path nor a URL */
        { "GET ftp://h/x HTTP/1.1\r\n\r\n", 0, 14 },
        { "GET * HTTP/1.1\r\n\r\n", 0, 6 },              /* '*' only for OPTIONS */
        { "GET /a\tb HTTP/1.1\r\n\r\n", 0, 7 },
        { "GET /\x80 HTTP/1.1\r\n\r\n", 0, 6 },
        { "G\x7fT / HTTP/1.1\r\n\r\n", 0, 2 },
        { "GET / HTTP/1.1\r\nA: \x01\r\n\r\n", 0, 20 },
        { "GET / HTTP/1.1\r\nA: \x7f\r\n\r\n", 0, 20 },
        { "GET / HTTP/1.1\r\nA(b): c\r\n\r\n", 0, 18 },
        { "GET(/) HTTP/1.1\r\n\r\n", 0, 4 },
        { "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11, 1 }, /* a TLS ClientHello */
        { "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0, 6 },    /* HTTP/2 preface: "*" outside OPTIONS */
        /* NUL bytes anywhere */
        { "\0GET / HTTP/1.1\r\n\r\n", 19, 1 },
        { "GE\0T / HTTP/1.1\r\n\r\n", 19, 3 },
        { "GET /a\0b HTTP/1.1\r\n\r\n", 21, 7 },
        { "GET / HTTP/1.1\0\r\n\r\n", 19, 15 },
        { "GET / HTTP/1.1\r\nA\0: b\r\n\r\n", 25, 18 },
        { "GET / HTTP/1.1\r\nA: b\0c\r\n\r\n", 26, 21 },
        { "GET / HTTP/1.1\r\n\0\r\n", 19, 17 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_bad(cases[i].text, cases[i].len, cases[i].bad_at);

    char m[64];
    memset(m, 'A', TS_HTTP_MAX_METHOD);
    snprintf(m + TS_HTTP_MAX_METHOD, sizeof m - TS_HTTP_MAX_METHOD, " / HTTP/1.1\r\n\r\n");
    ts_http_req_t r;
    CHECK(parse(m, strlen(m), &r) == TS_HTTP_DONE, "a %d-byte method is accepted", TS_HTTP_MAX_METHOD);
    memset(m, 'A', TS_HTTP_MAX_METHOD + 1);
    snprintf(m + TS_HTTP_MAX_METHOD + 1, sizeof m - TS_HTTP_MAX_METHOD - 1, " / HTTP/1.1\r\n\r\n");
    check_bad(m, 0, TS_HTTP_MAX_METHOD + 1);
}

/* ------------------------------------------------------------------ sizes */

static void test_sizes(void)
{
    size_t big = 3 * TS_HTTP_MAX_HEAD;
    char *b = malloc(big);
    ts_http_req_t r;
    /* A head of exactly the limit is fine; one byte more is not. */
    const char *pre = "GET /live.ts HTTP/1.1\r\nX-Pad: ";
    size_t pl = strlen(pre);
    memcpy(b, pre, pl);
    memset(b + pl, 'p', TS_HTTP_MAX_HEAD - pl - 4);
    memcpy(b + TS_HTTP_MAX_HEAD - 4, "\r\n\r\n", 4);
    CHECK(parse(b, TS_HTTP_MAX_HEAD, &r) == TS_HTTP_DONE && r.head_len == TS_HTTP_MAX_HEAD,
          "a head of exactly %d bytes is DONE", TS_HTTP_MAX_HEAD);
    CHECK(parse(b, TS_HTTP_MAX_HEAD - 1, &r) == TS_HTTP_PARTIAL, "one byte short is PARTIAL");
    memset(b + pl, 'p', TS_HTTP_MAX_HEAD - pl - 3);
    memcpy(b + TS_HTTP_MAX_HEAD - 3, "\r\n\r\n", 4);
    CHECK(parse(b, TS_HTTP_MAX_HEAD + 1, &r) == TS_HTTP_BAD, "a head of %d bytes is BAD", TS_HTTP_MAX_HEAD + 1);
    CHECK(parse(b, TS_HTTP_MAX_HEAD - 1, &r) == TS_HTTP_PARTIAL, "... but PARTIAL until the limit");
    CHECK(parse(b, TS_HTTP_MAX_HEAD, &r) == TS_HTTP_BAD, "... and BAD once the limit is reached");
    /* A request line that never ends. */
    memcpy(b, "GET /", 5);
    memset(b + 5, 'a', big - 5);
    CHECK(parse(b, TS_HTTP_MAX_HEAD - 1, &r) == TS_HTTP_PARTIAL, "long target: PARTIAL below the limit");
    CHECK(parse(b, big, &r) == TS_HTTP_BAD && strstr(r.error, "large"), "long target: BAD (%s)",
          r.error ? r.error : "");
    /* Endless blank lines before the request, endless headers. */
    memset(b, '\n', big);
    CHECK(parse(b, big, &r) == TS_HTTP_BAD, "endless empty lines: BAD");
    size_t off = (size_t)snprintf(b, big, "GET / HTTP/1.1\r\n");
    while (off + 8 < big)
        off += (size_t)snprintf(b + off, big - off, "A: b\r\n");
    CHECK(parse(b, off, &r) == TS_HTTP_BAD, "endless headers: BAD");
    /* Many small headers within the limit. */
    off = (size_t)snprintf(b, big, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 500; i++)
        off += (size_t)snprintf(b + off, big - off, "H%d: %d\r\n", i, i);
    off += (size_t)snprintf(b + off, big - off, "\r\n");
    CHECK(off <= TS_HTTP_MAX_HEAD && parse(b, off, &r) == TS_HTTP_DONE && r.nheaders == 500, "500 headers: DONE (%zu)",
          r.nheaders);
    const char *v;
    size_t vl;
    CHECK(ts_http_header((uint8_t *)b, &r, "h499", &v, &vl) == 0 && streq(v, vl, "499"), "last of 500 headers found");
    free(b);
}

/* ------------------------------------------------------------------ header lookup */

static void test_headers(void)
{
    static const char req[] = "GET / HTTP/1.1\r\nHostx: no\r\nhost:  a.example:80  \r\nHost: second\r\nEmpty:\r\n"
                              "Tabs:\tv\t\nAccess-Control-Request-Headers: range, x-y\r\n\r\nBody: no\r\n";
    ts_http_req_t r;
    const char *v;
    size_t vl;
    CHECK(parse(req, sizeof req - 1, &r) == TS_HTTP_DONE, "lookup request parses");
    CHECK(r.nheaders == 6, "6 headers (%zu)", r.nheaders);
    CHECK(ts_http_header((const uint8_t *)req, &r, "Host", &v, &vl) == 0 && streq(v, vl, "a.example:80"),
          "Host: first one, trimmed, case-insensitive ('%.*s')", (int)vl, v);
    CHECK(ts_http_header((const uint8_t *)req, &r, "EMPTY", &v, &vl) == 0 && vl == 0, "empty value");
    CHECK(ts_http_header((const uint8_t *)req, &r, "tabs", &v, &vl) == 0 && streq(v, vl, "v"), "tabs trimmed, bare LF");
    CHECK(ts_http_header((const uint8_t *)req, &r, "access-control-request-headers", &v, &vl) == 0 &&
              streq(v, vl, "range, x-y"),
          "CORS request headers");
    CHECK(ts_http_header((const uint8_t *)req, &r, "Body", &v, &vl) == -1, "nothing after the head");
    CHECK(ts_http_header((const uint8_t *)req, &r, "Hos", &v, &vl) == -1, "no prefix match");
    CHECK(ts_http_header((const uint8_t *)req, &r, "Range", &v, &vl) == -1, "absent header");
}

/* ------------------------------------------------------------------ random input */

static uint32_t rnd(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Mutated requests: the answer must be monotonic over prefixes and head_len stable once DONE. */
static void test_random(void)
{
    static const char base[] = "GET /live.ts HTTP/1.1\r\nHost: h\r\nRange: bytes=0-\r\n\r\n";
    static const char alphabet[] = "\r\n :\t/\0\x80\x7f" "AZaz09*?#";
    uint32_t x = 12345;
    int ok = 1;
    char buf[128];
    for (int iter = 0; iter < 20000 && ok; iter++) {
        size_t n = sizeof base - 1;
        memcpy(buf, base, n);
        int muts = 1 + (int)(rnd(&x) % 3);
        for (int m = 0; m < muts; m++)
            buf[rnd(&x) % n] = alphabet[rnd(&x) % (sizeof alphabet - 1)];
        int state = TS_HTTP_PARTIAL;
        size_t head = 0;
        for (size_t k = 0; k <= n; k++) {
            ts_http_req_t r;
            int rc = parse(buf, k, &r);
            if ((state == TS_HTTP_BAD && rc != TS_HTTP_BAD) ||
                (state == TS_HTTP_DONE && (rc != TS_HTTP_DONE || r.head_len != head)) ||
                (rc == TS_HTTP_DONE && (r.head_len > k || r.path_len == 0 || r.path_len > r.target_len))) {
                CHECK(0, "random %d: %s: %d at %zu after %d", iter, show(buf, n), rc, k, state);
                ok = 0;
                break;
            }
            if (rc == TS_HTTP_DONE && state != TS_HTTP_DONE)
                head = r.head_len;
            state = rc;
        }
    }
    CHECK(ok, "20000 mutated requests: answers monotonic over prefixes");
}

/* ------------------------------------------------------------------ responses */

static int rparse(const char *s, size_t n, ts_http_resp_t *r) { return ts_http_resp_parse((const uint8_t *)s, n, r); }

/* Every proper prefix of a complete head is PARTIAL, the whole DONE; a body after it is not read. */
static void resp_ok(const char *text, int status, const char *reason, int has_len, uint64_t len, int chunked)
{
    size_t n = strlen(text);
    ts_http_resp_t r;
    int ok = 1;
    const char *end = strstr(text, "\r\n\r\n");
    const char *lfend = strstr(text, "\n\n");
    size_t head = end ? (size_t)(end - text) + 4 : (size_t)(lfend - text) + 2;
    if (lfend && (size_t)(lfend - text) + 2 < head)
        head = (size_t)(lfend - text) + 2;
    for (size_t i = 0; i < head; i++)
        LOOP_CHECK(ok, rparse(text, i, &r) == TS_HTTP_PARTIAL, "%s: prefix %zu not PARTIAL (%s)", show(text, n), i,
                   r.error ? r.error : "");
    CHECK(ok, "prefixes of %s", show(text, n));
    int rc = rparse(text, n, &r);
    CHECK(rc == TS_HTTP_DONE, "%s: %d (%s)", show(text, n), rc, r.error ? r.error : "");
    CHECK(r.head_len == head, "%s: head_len %zu, want %zu", show(text, n), r.head_len, head);
    CHECK(r.status == status && streq(r.reason, r.reason_len, reason), "%s: status %d reason %.*s", show(text, n),
          r.status, (int)r.reason_len, r.reason);
    CHECK(r.has_length == has_len && (!has_len || r.content_length == len) && r.chunked == chunked,
          "%s: length %d %llu chunked %d", show(text, n), r.has_length, (unsigned long long)r.content_length,
          r.chunked);
}

static void resp_bad(const char *text)
{
    size_t n = strlen(text);
    ts_http_resp_t r;
    CHECK(rparse(text, n, &r) == TS_HTTP_BAD && r.error, "%s not BAD", show(text, n));
}

static void test_responses(void)
{
    resp_ok("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, "OK", 1, 5, 0);
    resp_ok("HTTP/1.0 404 Not Found\r\n\r\n", 404, "Not Found", 0, 0, 0);
    resp_ok("HTTP/1.1 200\r\n\r\n", 200, "", 0, 0, 0);
    resp_ok("HTTP/1.1 204 \r\n\r\n", 204, "", 0, 0, 0);
    resp_ok("HTTP/1.0 200 OK\nContent-Type: text/plain\ncontent-length:  12 \n\nd8:intervali", 200, "OK", 1, 12, 0);
    resp_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n", 200, "OK", 0, 0, 1);
    resp_ok("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\nX: \xe9t\xe9\r\n\r\n", 200, "OK", 1, 3, 0);
    resp_ok("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\r\nbusy\n", 503, "Service Unavailable", 0, 0, 0);

    ts_http_resp_t r;
    const char *t = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\nServer:  tst \r\n\r\n";
    CHECK(rparse(t, strlen(t), &r) == TS_HTTP_DONE && r.has_te && !r.chunked && r.nheaders == 2,
          "TE not ending in chunked");
    const char *v;
    size_t vl;
    CHECK(ts_http_resp_header((const uint8_t *)t, &r, "server", &v, &vl) == 0 && streq(v, vl, "tst"), "header lookup");
    CHECK(ts_http_resp_header((const uint8_t *)t, &r, "Serve", &v, &vl) < 0, "no prefix match");

    CHECK(!strcmp(ts_http_reason(404), "Not Found") && !strcmp(ts_http_reason(204), "No Content") &&
              !strcmp(ts_http_reason(299), ""),
          "reason phrases");
    resp_bad("HTTP/2 200 OK\r\n\r\n");
    resp_bad("HTTP/1.1 20 OK\r\n\r\n");
    resp_bad("HTTP/1.1 2000 OK\r\n\r\n");
    resp_bad("HTTP/1.1 099 Low\r\n\r\n");
    resp_bad("HTTP/1.1 abc OK\r\n\r\n");
    resp_bad("HTTP/1.1  200 OK\r\n\r\n");
    resp_bad("ICY 200 OK\r\n\r\n");
    resp_bad("\r\nHTTP/1.1 200 OK\r\n\r\n");
    resp_bad("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
    resp_bad("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n");
    resp_bad("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n");
    resp_bad("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n");
    resp_bad("HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999999\r\n\r\n");
    resp_bad("HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n");
    resp_bad("HTTP/1.1 200 OK\r\nNo colon\r\n\r\n");
    resp_bad("HTTP/1.1 200 OK\r\n: empty name\r\n\r\n");
    resp_bad("HTTP/1.1 200 OK\r\nX : space before colon\r\n\r\n");
    resp_bad("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n");
    resp_bad("HTTP/1.1 200 O\x01K\r\n\r\n");
    const char nul[] = "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n";
    CHECK(rparse(nul, sizeof nul - 1, &r) == TS_HTTP_BAD, "NUL in a value");

    /* bounded: a head that never ends is BAD at TS_HTTP_MAX_RESP_HEAD, PARTIAL below it */
    static char big[TS_HTTP_MAX_RESP_HEAD + 64];
    size_t n = (size_t)snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\n");
    while (n + 12 < sizeof big)
        n += (size_t)snprintf(big + n, sizeof big - n, "X-Pad: abc\r\n");
    CHECK(rparse(big, TS_HTTP_MAX_RESP_HEAD - 1, &r) == TS_HTTP_PARTIAL, "under the limit: PARTIAL");
    CHECK(rparse(big, n, &r) == TS_HTTP_BAD, "over the limit: BAD");
}

int main(void)
{
    test_valid();
    test_malformed();
    test_sizes();
    test_headers();
    test_random();
    test_responses();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
