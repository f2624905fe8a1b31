/* libFuzzer target for the HTTP request-head parser (lib/ts_http.c: player-bridge, ts_httpd).
 * Beyond "no crash, no out-of-bounds read": the answer is monotonic over prefixes (PARTIAL may turn
 * DONE or BAD, those never change), a DONE head is exactly head_len bytes, every pointer stays
 * inside the buffer, and header lookup never leaves the head. */
#include "ts_http.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void within(const uint8_t *buf, size_t len, const char *p, size_t n)
{
    if (n && ((const uint8_t *)p < buf || (const uint8_t *)p + n > buf + len))
        abort();
}

static int same(const ts_http_req_t *a, const ts_http_req_t *b)
{
    return a->method == b->method && a->head_len == b->head_len && a->target == b->target &&
           a->target_len == b->target_len && a->path_len == b->path_len && a->version_minor == b->version_minor &&
           a->nheaders == b->nheaders;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copy so reads past the end are caught by ASan even when libFuzzer's buffer is larger. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    ts_http_req_t r, r2;
    int rc = ts_http_parse(buf, size, &r);
    if (rc == TS_HTTP_DONE) {
        if (r.head_len == 0 || r.head_len > size || r.head_len > TS_HTTP_MAX_HEAD || r.path_len == 0 || r.error)
            abort();
        within(buf, size, r.method_str, r.method_len);
        within(buf, size, r.target, r.target_len);
        if (r.path_len > r.target_len || r.method_len == 0 || r.method_len > TS_HTTP_MAX_METHOD)
            abort();
        if (r.path[0] != '/' && r.path[0] != '*')
            abort();
        /* the head alone is DONE the same way; one byte less is PARTIAL */
        if (ts_http_parse(buf, r.head_len, &r2) != TS_HTTP_DONE || !same(&r, &r2))
            abort();
        if (ts_http_parse(buf, r.head_len - 1, &r2) != TS_HTTP_PARTIAL)
            abort();
        static const char *names[] = { "Host", "host", "Range", "Access-Control-Request-Headers", "A", "" };
        for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
            const char *v;
            size_t vl;
            if (ts_http_header(buf, &r, names[i], &v, &vl) == 0) {
                within(buf, r.head_len, v, vl);
                for (size_t k = 0; k < vl; k++)
                    if (v[k] == '\r' || v[k] == '\n' || v[k] == 0)
                        abort(); /* a value must never smuggle a line end into a response */
            }
        }
    } else if (rc == TS_HTTP_BAD) {
        if (!r.error)
            abort();
    } else if (rc != TS_HTTP_PARTIAL || size >= TS_HTTP_MAX_HEAD) {
        abort();
    }
    /* A few prefixes: none may contradict the full answer. */
    size_t cuts[] = { size / 2, size / 3, size ? size - 1 : 0, size > 17 ? 17 : 0 };
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        int p = ts_http_parse(buf, cuts[i], &r2);
        if (p == TS_HTTP_BAD && rc != TS_HTTP_BAD)
            abort();
        if (p == TS_HTTP_DONE && (rc != TS_HTTP_DONE || !same(&r, &r2)))
            abort();
    }
    free(buf);
    return 0;
}
