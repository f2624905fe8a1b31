#include "engine_url.h"
#include "ts_hex.h"
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int bad(eng_req_t *r, const char *why)
{
    r->kind = ENG_BAD;
    snprintf(r->why, sizeof r->why, "%s", why);
    return -1;
}

static int infohash(const char *s, size_t n, eng_req_t *r)
{
    if (n != 40)
        return bad(r, "an infohash is 40 hex digits");
    for (size_t i = 0; i < 20; i++) {
        int hi = ts_hex_val(s[2 * i]), lo = ts_hex_val(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return bad(r, "an infohash is 40 hex digits");
        r->infohash[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* Percent-decode s[0..n) into out (cap bytes with its NUL); '+' stays '+' (a magnet's dn may hold
 * one). Length, or -1: a bad escape, a NUL, too long. */
static long decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = ts_hex_val(s[i + 1]), lo = ts_hex_val(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi << 4 | lo;
            i += 2;
        }
        if (c == 0 || k + 1 >= cap)
            return -1;
        out[k++] = (char)c;
    }
    out[k] = 0;
    return (long)k;
}

/* The first value of key in a query (a=1&b=2), decoded. 1 found, 0 absent, -1 malformed. */
static int param(const char *q, size_t qn, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    const char *p = q, *end = q + qn;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        size_t n = (size_t)((amp ? amp : end) - p);
        if (n > kl && p[kl] == '=' && memcmp(p, key, kl) == 0)
            return decode(p + kl + 1, n - kl - 1, out, cap) < 0 ? -1 : 1;
        p = amp ? amp + 1 : end;
    }
    return 0;
}

static int ace(const char *query, size_t qlen, eng_req_t *r, eng_kind_t kind)
{
    char v[64];
    int rc = param(query, qlen, "infohash", v, sizeof v);
    if (rc == 0)
        rc = param(query, qlen, "id", v, sizeof v);
    if (rc <= 0)
        return bad(r, rc < 0 ? "malformed infohash= or id= (40 hex digits)" : "no infohash= or id= (40 hex digits)");
    if (infohash(v, strlen(v), r) < 0)
        return -1;
    r->kind = kind;
    return 0;
}

/* A path below the stream that the player-bridge may be asked for as is. */
static int sub_ok(const char *s, size_t n)
{
    if (n == 0 || n > ENG_SUB_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("._-~/=&%", c)))
            return 0;
        if (c == '.' && i + 1 < n && s[i + 1] == '.')
            return 0;
    }
    return 1;
}

static void magnet(const char *query, size_t qlen, eng_req_t *r)
{
    if (qlen < 7 || memcmp(query, "magnet=", 7) != 0) {
        bad(r, "expected /watch?magnet=LINK");
        return;
    }
    const char *v = query + 7;
    size_t n = qlen - 7;
    /* The link unencoded (its own '&' and escapes kept), or percent-encoded as a whole. */
    if (n >= 7 && strncasecmp(v, "magnet:", 7) == 0) {
        if (n > TS_MAGNET_MAX || memchr(v, 0, n)) {
            bad(r, "magnet link too long");
            return;
        }
        memcpy(r->magnet, v, n);
        r->magnet[n] = 0;
    } else if (decode(v, n, r->magnet, sizeof r->magnet) < 0) {
        bad(r, "malformed percent-encoding in magnet=, or the link is too long");
        return;
    }
    ts_magnet_t m;
    char err[256];
    if (ts_magnet_parse(r->magnet, &m, err, sizeof err) < 0) {
        snprintf(r->why, sizeof r->why, "bad magnet link: %s", err);
        r->kind = ENG_BAD;
        return;
    }
    memcpy(r->infohash, m.infohash, 20);
    r->kind = ENG_MAGNET;
}

void eng_url_parse(const char *path, size_t plen, const char *query, size_t qlen, eng_req_t *r)
{
    memset(r, 0, sizeof *r);
    r->kind = ENG_NONE;
    static const char W[] = "/watch", G[] = "/ace/getstream", M[] = "/ace/manifest.m3u8";
    if (plen == sizeof G - 1 && memcmp(path, G, plen) == 0) {
        ace(query, qlen, r, ENG_TS);
        return;
    }
    if (plen == sizeof M - 1 && memcmp(path, M, plen) == 0) {
        ace(query, qlen, r, ENG_M3U8);
        return;
    }
    if (plen < sizeof W - 1 || memcmp(path, W, sizeof W - 1) != 0)
        return;
    const char *s = path + sizeof W - 1;
    size_t n = plen - (sizeof W - 1);
    if (n == 0 || (n == 1 && s[0] == '/')) {
        magnet(query, qlen, r);
        return;
    }
    if (s[0] != '/')
        return; /* /watchers: not ours */
    s++, n--;
    if (n > 43 && s[40] == '/') {
        if (infohash(s, 40, r) < 0)
            return;
        size_t sl = n - 40;
        if (!sub_ok(s + 40, sl) || (qlen && !sub_ok(query, qlen)) || sl + 1 + qlen > ENG_SUB_MAX) {
            bad(r, "a path below /watch/INFOHASH/ has only [A-Za-z0-9._-~/] (no '..'), at most 200 bytes");
            return;
        }
        snprintf(r->sub, sizeof r->sub, "%.*s%s%.*s", (int)sl, s + 40, qlen ? "?" : "", (int)qlen, query);
        r->kind = ENG_SUB;
        return;
    }
    const char *dot = memchr(s, '.', n);
    if (!dot) {
        bad(r, "expected /watch/INFOHASH.ts or /watch/INFOHASH.m3u8");
        return;
    }
    size_t ext = n - (size_t)(dot - s);
    eng_kind_t k = ext == 3 && memcmp(dot, ".ts", 3) == 0     ? ENG_TS
                   : ext == 5 && memcmp(dot, ".m3u8", 5) == 0 ? ENG_M3U8
                                                              : ENG_NONE;
    if (k == ENG_NONE) {
        bad(r, "expected /watch/INFOHASH.ts or /watch/INFOHASH.m3u8");
        return;
    }
    if (infohash(s, (size_t)(dot - s), r) < 0)
        return;
    r->kind = k;
}
