/* libFuzzer target for the HTTP response-head parser (lib/ts_http.c: tracker announces, magnet
 * fetch, tsctl probe and watch). Beyond "no crash, no out-of-bounds read": the answer is monotonic
 * over prefixes (PARTIAL may turn DONE or BAD, those never change), a DONE head is exactly head_len
 * bytes, the reason and header values stay inside the head, and what a client sizes the body by
 * (Content-Length, chunked) is the same whichever prefix first made the head DONE. */
#include "ts_http.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void within(const uint8_t *buf, size_t len, const char *p, size_t n)
{
    if (n && ((const uint8_t *)p < buf || (const uint8_t *)p + n > buf + len))
        abort();
}

static int same(const ts_http_resp_t *a, const ts_http_resp_t *b)
{
    return a->status == b->status && a->version_minor == b->version_minor && a->head_len == b->head_len &&
           a->nheaders == b->nheaders && a->has_length == b->has_length && a->content_length == b->content_length &&
           a->has_te == b->has_te && a->chunked == b->chunked && a->reason_len == b->reason_len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copy so reads past the end are caught by ASan even when libFuzzer's buffer is larger. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    ts_http_resp_t r, r2;
    int rc = ts_http_resp_parse(buf, size, &r);
    if (rc == TS_HTTP_DONE) {
        if (r.head_len < 14 || r.head_len > size || r.head_len > TS_HTTP_MAX_RESP_HEAD || r.error)
            abort(); /* "HTTP/1.x NNN\n\n" is the shortest head */
        if (r.status < 100 || r.status > 999 || r.version_minor < 0 || r.version_minor > 9)
            abort();
        if (r.has_length && r.content_length >= 1000000000000000000ull)
            abort();
        if (r.chunked && !r.has_te)
            abort();
        within(buf, r.head_len, r.reason, r.reason_len);
        if (ts_http_resp_parse(buf, r.head_len, &r2) != TS_HTTP_DONE || !same(&r, &r2))
            abort();
        if (ts_http_resp_parse(buf, r.head_len - 1, &r2) != TS_HTTP_PARTIAL)
            abort();
        static const char *names[] = { "Content-Length", "transfer-encoding", "Location", "A", "" };
        for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
            const char *v;
            size_t vl;
            if (ts_http_resp_header(buf, &r, names[i], &v, &vl) == 0) {
                within(buf, r.head_len, v, vl);
                for (size_t k = 0; k < vl; k++)
                    if (v[k] == '\r' || v[k] == '\n' || v[k] == 0)
                        abort();
            }
        }
    } else if (rc == TS_HTTP_BAD) {
        if (!r.error)
            abort();
    } else if (rc != TS_HTTP_PARTIAL || size >= TS_HTTP_MAX_RESP_HEAD) {
        abort();
    }
    /* A few prefixes: none may contradict the full answer. */
    size_t cuts[] = { size / 2, size / 3, size ? size - 1 : 0, size > 17 ? 17 : 0 };
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        int p = ts_http_resp_parse(buf, cuts[i], &r2);
        if (p == TS_HTTP_BAD && rc != TS_HTTP_BAD)
            abort();
        if (p == TS_HTTP_DONE && (rc != TS_HTTP_DONE || !same(&r, &r2)))
            abort();
    }
    free(buf);
    return 0;
}
