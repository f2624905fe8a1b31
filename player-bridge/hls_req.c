#include "hls_req.h"
#include <string.h>

/* Decimal digits only, at most maxdig of them, no sign or space. 0, or -1. */
static int parse_num(const char *s, size_t n, size_t maxdig, uint64_t *out)
{
    if (n == 0 || n > maxdig)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0'); /* maxdig <= 15 digits: no overflow */
    }
    *out = v;
    return 0;
}

static int key_is(const char *k, size_t kl, const char *want)
{
    return kl == strlen(want) && memcmp(k, want, kl) == 0;
}

static int parse_query(const char *q, size_t qlen, ts_hls_req_t *r, const char **why)
{
    if (qlen > TS_HLS_MAX_QUERY) {
        *why = "query too long";
        return -1;
    }
    size_t i = 0;
    while (i < qlen) {
        size_t end = i;
        while (end < qlen && q[end] != '&')
            end++;
        const char *k = q + i, *eq = memchr(k, '=', end - i);
        size_t kl = eq ? (size_t)(eq - k) : end - i;
        const char *v = eq ? eq + 1 : k + kl;
        size_t vl = (size_t)(q + end - v);
        uint64_t n;
        if (key_is(k, kl, "_HLS_msn")) {
            if (r->has_msn || parse_num(v, vl, 15, &n) < 0) {
                *why = "bad _HLS_msn";
                return -1;
            }
            r->has_msn = 1;
            r->msn = n;
        } else if (key_is(k, kl, "_HLS_part")) {
            if (r->has_part || parse_num(v, vl, 4, &n) < 0) {
                *why = "bad _HLS_part";
                return -1;
            }
            r->has_part = 1;
            r->part = (uint32_t)n;
        } else if (key_is(k, kl, "_HLS_skip")) {
            if (!((vl == 3 && memcmp(v, "YES", 3) == 0) || (vl == 2 && memcmp(v, "v2", 2) == 0))) {
                *why = "bad _HLS_skip";
                return -1;
            }
            r->skip = 1; /* accepted, never acted on: the playlist offers no skipping */
        } else if (key_is(k, kl, "ll")) {
            r->no_ll = vl == 1 && v[0] == '0';
        }
        i = end + 1;
    }
    if (r->has_part && !r->has_msn) {
        *why = "_HLS_part without _HLS_msn";
        return -1;
    }
    return 0;
}

/* "N.ts" or "N.M.ts" after BASE/. */
static int parse_media(const char *s, size_t n, ts_hls_req_t *r, const char **why)
{
    *why = "no such segment";
    if (n < 4 || memcmp(s + n - 3, ".ts", 3) != 0)
        return -1;
    n -= 3;
    const char *dot = memchr(s, '.', n);
    uint64_t v;
    if (parse_num(s, dot ? (size_t)(dot - s) : n, 15, &r->msn) < 0)
        return -1;
    r->kind = TS_HLS_SEGMENT;
    if (dot) {
        if (parse_num(dot + 1, n - (size_t)(dot + 1 - s), 4, &v) < 0)
            return -1;
        r->kind = TS_HLS_PART;
        r->part = (uint32_t)v;
    }
    return 0;
}

int ts_hls_req_parse(const char *base, const char *path, size_t path_len, const char *query, size_t qlen,
                     ts_hls_req_t *r, const char **why)
{
    memset(r, 0, sizeof *r);
    *why = "";
    size_t bl = strlen(base);
    if (path_len <= bl || memcmp(path, base, bl) != 0)
        return 0;
    const char *rest = path + bl;
    size_t rl = path_len - bl;
    if (rl == 5 && memcmp(rest, ".m3u8", 5) == 0) {
        r->kind = TS_HLS_PLAYLIST;
        return parse_query(query, qlen, r, why);
    }
    if (rest[0] != '/')
        return 0;
    if (parse_media(rest + 1, rl - 1, r, why) < 0) {
        r->kind = TS_HLS_SEGMENT; /* under BASE/ but no segment name: 404, not someone else's path */
        return -1;
    }
    return 0;
}
