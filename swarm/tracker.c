/* HTTP tracker: embedded server state and the client's request/response codecs. See tracker.h. */
#include "tracker.h"
#include "ts_hex.h"
#include "ts_http.h"
#include "ts_url.h"
#include "ts_err.h"
#include "ts_bencode.h"
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#define MIN_INTERVAL_S 5
#define RESP_INTERVAL_MAX 86400 /* client: a tracker cannot put us to sleep for longer than a day */

/* ================================================================ server */

typedef struct {
    uint32_t ip;
    uint16_t port;
    uint8_t pinned; /* registered with ts_tracker_add: never expires or leaves */
    uint64_t seen;
} entry_t;

typedef struct {
    uint8_t infohash[20];
    entry_t *peers;
    size_t n, cap;
} tswarm_t;

struct ts_tracker {
    size_t max_peers;
    uint64_t ttl_ns;
    tswarm_t *swarms;
    size_t nswarms;
    uint64_t rng;
};

/* splitmix64: peer-list sampling only needs to be unpredictable enough to spread load. */
static uint64_t rng_next(ts_tracker_t *t)
{
    uint64_t z = (t->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0; the modulo bias is irrelevant at these sizes. */
static size_t rng_below(ts_tracker_t *t, size_t n) { return (size_t)(rng_next(t) % n); }

ts_tracker_t *ts_tracker_new(size_t max_peers_per_swarm, uint64_t peer_ttl_ns)
{
    ts_tracker_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->max_peers = max_peers_per_swarm;
    t->ttl_ns = peer_ttl_ns;
    if (getrandom(&t->rng, sizeof t->rng, GRND_NONBLOCK) != (ssize_t)sizeof t->rng) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        t->rng = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)(uintptr_t)t;
    }
    return t;
}

void ts_tracker_destroy(ts_tracker_t **t)
{
    if (!t || !*t)
        return;
    for (size_t i = 0; i < (*t)->nswarms; i++)
        free((*t)->swarms[i].peers);
    free((*t)->swarms);
    free(*t);
    *t = NULL;
}

static tswarm_t *find_swarm(ts_tracker_t *t, const uint8_t infohash[20])
{
    for (size_t i = 0; i < t->nswarms; i++)
        if (memcmp(t->swarms[i].infohash, infohash, 20) == 0)
            return &t->swarms[i];
    return NULL;
}

void ts_tracker_allow(ts_tracker_t *t, const uint8_t infohash[20])
{
    if (!t || find_swarm(t, infohash))
        return;
    tswarm_t *s = realloc(t->swarms, (t->nswarms + 1) * sizeof *s);
    if (!s)
        return;
    t->swarms = s;
    s = &t->swarms[t->nswarms++];
    memset(s, 0, sizeof *s);
    memcpy(s->infohash, infohash, 20);
}

static entry_t *find_peer(tswarm_t *s, uint32_t ip, uint16_t port)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->peers[i].ip == ip && s->peers[i].port == port)
            return &s->peers[i];
    return NULL;
}

static void remove_at(tswarm_t *s, size_t i) { s->peers[i] = s->peers[--s->n]; }

static void expire(ts_tracker_t *t, tswarm_t *s, uint64_t now_ns)
{
    for (size_t i = 0; i < s->n;) {
        entry_t *e = &s->peers[i];
        /* now < seen (a caller's clock going backwards) counts as fresh rather than wrapping. */
        if (!e->pinned && now_ns > e->seen && now_ns - e->seen > t->ttl_ns)
            remove_at(s, i);
        else
            i++;
    }
}

/* Insert a new peer. A full swarm makes room by dropping the non-permanent peer seen longest ago;
 * permanent peers always get in. NULL if there is no room or no memory. */
static entry_t *add_peer(ts_tracker_t *t, tswarm_t *s, uint32_t ip, uint16_t port, int pinned, uint64_t now_ns)
{
    if (!pinned && s->n >= t->max_peers) {
        size_t victim = SIZE_MAX;
        for (size_t i = 0; i < s->n; i++)
            if (!s->peers[i].pinned && (victim == SIZE_MAX || s->peers[i].seen < s->peers[victim].seen))
                victim = i;
        if (victim == SIZE_MAX)
            return NULL;
        remove_at(s, victim);
        if (s->n >= t->max_peers)
            return NULL; /* pinned peers fill it (or max is 0) */
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        entry_t *p = realloc(s->peers, cap * sizeof *p);
        if (!p)
            return NULL;
        s->peers = p;
        s->cap = cap;
    }
    entry_t *e = &s->peers[s->n++];
    *e = (entry_t){ ip, port, (uint8_t)(pinned != 0), now_ns };
    return e;
}

void ts_tracker_add(ts_tracker_t *t, const uint8_t infohash[20], ts_peer_addr_t a, uint64_t now_ns)
{
    tswarm_t *s = t ? find_swarm(t, infohash) : NULL;
    if (!s)
        return;
    entry_t *e = find_peer(s, a.ip, a.port);
    if (e) {
        e->pinned = 1;
        e->seen = now_ns;
        return;
    }
    add_peer(t, s, a.ip, a.port, 1, now_ns);
}

size_t ts_tracker_count(ts_tracker_t *t, const uint8_t infohash[20])
{
    tswarm_t *s = t ? find_swarm(t, infohash) : NULL;
    return s ? s->n : 0;
}

/* ---------------------------------------------------------------- request parsing */

/* %-decode src[0..n) into dst (at most cap bytes). -1 on a bad escape or if it does not fit. '+' is
 * kept literally: BitTorrent clients escape every byte that is not unreserved. */
static int pct_decode(const char *src, size_t n, uint8_t *dst, size_t cap, size_t *outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)src[i];
        if (c == '%') {
            if (n - i < 3)
                return -1;
            int hi = ts_hex_val((unsigned char)src[i + 1]), lo = ts_hex_val((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi << 4 | lo;
            i += 2;
        }
        if (o == cap)
            return -1;
        dst[o++] = (uint8_t)c;
    }
    *outlen = o;
    return 0;
}

/* Decimal without sign, at most max; -1 if empty, not all digits, or too large. */
static int parse_uint(const uint8_t *s, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0 || n > 20)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

typedef struct {
    int has_ih, has_id, has_port, stopped;
    uint8_t infohash[20], peer_id[20];
    uint16_t port;
    size_t numwant;
} announce_t;

/* Parse the query string; NULL or a failure reason. */
static const char *parse_query(const char *q, size_t n, announce_t *a)
{
    memset(a, 0, sizeof *a);
    a->numwant = TS_TRACKER_NUMWANT_DEFAULT;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && q[j] != '&')
            j++;
        const char *kv = q + i, *eq = memchr(kv, '=', j - i);
        size_t klen = eq ? (size_t)(eq - kv) : j - i;
        const char *v = eq ? eq + 1 : kv + j - i;
        size_t vlen = (size_t)(q + j - v);
        i = j + 1;
        /* Keys we know are plain ASCII; an escaped key is simply not one of them. */
        uint8_t val[64];
        size_t len = 0;
#define KEY(s) (klen == sizeof s - 1 && memcmp(kv, s, klen) == 0)
        if (KEY("info_hash") || KEY("peer_id")) {
            int ih = KEY("info_hash");
            if (ih ? a->has_ih : a->has_id)
                return ih ? "repeated info_hash" : "repeated peer_id";
            if (pct_decode(v, vlen, val, sizeof val, &len) < 0)
                return ih ? "invalid info_hash (bad %-escape or too long)" : "invalid peer_id (bad %-escape or too long)";
            if (len != 20)
                return ih ? "info_hash is not 20 bytes" : "peer_id is not 20 bytes";
            memcpy(ih ? a->infohash : a->peer_id, val, 20);
            *(ih ? &a->has_ih : &a->has_id) = 1;
        } else if (KEY("port") || KEY("numwant") || KEY("event")) {
            if (pct_decode(v, vlen, val, sizeof val, &len) < 0)
                return "bad %-escape";
            uint64_t x;
            if (KEY("port")) {
                if (a->has_port)
                    return "repeated port";
                if (parse_uint(val, len, 65535, &x) < 0 || x == 0)
                    return "invalid port";
                a->port = (uint16_t)x;
                a->has_port = 1;
            } else if (KEY("numwant")) {
                if (parse_uint(val, len, UINT64_MAX, &x) < 0)
                    return "invalid numwant";
                a->numwant = x > TS_TRACKER_NUMWANT_MAX ? TS_TRACKER_NUMWANT_MAX : (size_t)x;
            } else {
                a->stopped = len == 7 && memcmp(val, "stopped", 7) == 0;
            }
        }
#undef KEY
        /* uploaded, downloaded, left, compact, key, ip, ...: not needed; "ip" is deliberately ignored. */
    }
    if (!a->has_ih)
        return "missing info_hash";
    if (!a->has_id)
        return "missing peer_id";
    if (!a->has_port)
        return "missing port";
    return NULL;
}

/* ---------------------------------------------------------------- responses */

static int respond(ts_buf_t *out, int status, const ts_buf_t *body)
{
    const char *text = status == 200 ? "OK" : status == 404 ? "Not Found" : "Bad Request";
    if (body->err) {
        out->err = 1;
        return -1;
    }
    ts_buf_printf(out, "HTTP/1.0 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                  status, text, body->len);
    ts_buf_put(out, body->data, body->len);
    return out->err ? -1 : status;
}

static int respond_failure(ts_buf_t *out, int status, const char *reason)
{
    ts_buf_t body;
    ts_buf_init(&body);
    ts_ben_put_dict(&body);
    ts_ben_put_cstr(&body, "failure reason");
    ts_ben_put_cstr(&body, reason);
    ts_ben_put_end(&body);
    int rc = respond(out, status, &body);
    ts_buf_free(&body);
    return rc;
}

static void put_compact(ts_buf_t *b, const entry_t *e)
{
    uint8_t p[6];
    ts_set_u32be(p, e->ip);
    p[4] = (uint8_t)(e->port >> 8);
    p[5] = (uint8_t)e->port;
    ts_buf_put(b, p, 6);
}

/* Up to want peers other than the requester (self_ip:self_port, matched by address so it is left out
 * whether or not it is stored): permanent ones (the broadcaster) first, then a uniform random sample
 * of the others (reservoir sampling, so no allocation). */
static void put_peers(ts_tracker_t *t, tswarm_t *s, uint32_t self_ip, uint16_t self_port, size_t want, ts_buf_t *b)
{
    const entry_t *pick[TS_TRACKER_NUMWANT_MAX];
    size_t npick = 0, seen = 0;
    if (want > TS_TRACKER_NUMWANT_MAX)
        want = TS_TRACKER_NUMWANT_MAX;
#define IS_SELF(e) ((e)->ip == self_ip && (e)->port == self_port)
    for (size_t i = 0; i < s->n && npick < want; i++)
        if (s->peers[i].pinned && !IS_SELF(&s->peers[i]))
            pick[npick++] = &s->peers[i];
    size_t fixed = npick;
    for (size_t i = 0; i < s->n && want > fixed; i++) {
        const entry_t *e = &s->peers[i];
        if (e->pinned || IS_SELF(e))
            continue;
        seen++;
        if (npick < want) {
            pick[npick++] = e;
        } else {
            size_t j = rng_below(t, seen);
            if (j < want - fixed)
                pick[fixed + j] = e;
        }
    }
#undef IS_SELF
    /* Shuffle the sampled part so that storage order does not leak into who is dialled first. */
    for (size_t i = npick; i > fixed + 1; i--) {
        size_t j = fixed + rng_below(t, i - fixed);
        const entry_t *tmp = pick[i - 1];
        pick[i - 1] = pick[j];
        pick[j] = tmp;
    }
    ts_buf_printf(b, "%zu:", npick * 6);
    for (size_t i = 0; i < npick; i++)
        put_compact(b, pick[i]);
}

int ts_tracker_handle(ts_tracker_t *t, const char *req, size_t len, uint32_t remote_ip, uint64_t now_ns,
                      int interval_s, ts_buf_t *out)
{
    if (!t || !req)
        return respond_failure(out, 400, "bad request");
    if (len > TS_TRACKER_REQ_MAX)
        return respond_failure(out, 400, "request too large");
    /* Request line: "GET <target> HTTP/1.x", ended by LF (CRLF); nothing but printable ASCII in it. */
    const char *eol = memchr(req, '\n', len);
    if (!eol)
        return respond_failure(out, 400, "bad request line");
    size_t ll = (size_t)(eol - req);
    if (ll && req[ll - 1] == '\r')
        ll--;
    for (size_t i = 0; i < ll; i++)
        if ((unsigned char)req[i] < 0x20 || (unsigned char)req[i] > 0x7E)
            return respond_failure(out, 400, "bad request line");
    if (ll < 4 || memcmp(req, "GET ", 4) != 0)
        return respond_failure(out, 400, "only GET is supported");
    const char *target = req + 4, *end = req + ll;
    const char *sp = memchr(target, ' ', (size_t)(end - target));
    if (!sp || sp == target || *target != '/')
        return respond_failure(out, 400, "bad request line");
    const char *ver = sp + 1;
    size_t vlen = (size_t)(end - ver);
    if (vlen != 8 || memcmp(ver, "HTTP/1.", 7) != 0 || (ver[7] != '0' && ver[7] != '1'))
        return respond_failure(out, 400, "bad request line");

    const char *qm = memchr(target, '?', (size_t)(sp - target));
    size_t plen = qm ? (size_t)(qm - target) : (size_t)(sp - target);
    if (plen != 9 || memcmp(target, "/announce", 9) != 0)
        return respond_failure(out, 404, "not found");
    announce_t a;
    const char *why = qm ? parse_query(qm + 1, (size_t)(sp - qm - 1), &a) : "missing info_hash";
    if (why)
        return respond_failure(out, 200, why);
    tswarm_t *s = find_swarm(t, a.infohash);
    if (!s)
        return respond_failure(out, 200, "unknown info_hash");

    expire(t, s, now_ns);
    entry_t *self = find_peer(s, remote_ip, a.port);
    if (a.stopped) {
        if (self && !self->pinned)
            remove_at(s, (size_t)(self - s->peers));
        a.numwant = 0; /* a leaving peer needs nobody */
    } else if (self) {
        self->seen = now_ns;
    } else {
        add_peer(t, s, remote_ip, a.port, 0, now_ns); /* fails only when full of permanent peers: still answered */
    }

    ts_buf_t body;
    ts_buf_init(&body);
    ts_ben_put_dict(&body); /* keys in byte order */
    ts_ben_put_cstr(&body, "complete");
    ts_ben_put_int(&body, (int64_t)s->n);
    ts_ben_put_cstr(&body, "incomplete");
    ts_ben_put_int(&body, 0);
    ts_ben_put_cstr(&body, "interval");
    ts_ben_put_int(&body, interval_s);
    ts_ben_put_cstr(&body, "min interval");
    ts_ben_put_int(&body, MIN_INTERVAL_S);
    ts_ben_put_cstr(&body, "peers");
    put_peers(t, s, remote_ip, a.port, a.numwant, &body);
    ts_ben_put_end(&body);
    int rc = respond(out, 200, &body);
    ts_buf_free(&body);
    return rc;
}

/* ================================================================ client */

static int is_unreserved(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

static void put_escaped(ts_buf_t *b, const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        if (is_unreserved(p[i])) {
            ts_buf_putc(b, p[i]);
        } else {
            char e[3] = { '%', hex[p[i] >> 4], hex[p[i] & 15] };
            ts_buf_put(b, e, 3);
        }
    }
}

int ts_tracker_request(const char *announce_url, const uint8_t infohash[20], const uint8_t peer_id[20], uint16_t port,
                       uint64_t uploaded, uint64_t downloaded, const char *event, char *host, size_t hostlen,
                       uint16_t *tport, ts_buf_t *request)
{
    ts_url_t u;
    if (!announce_url || ts_url_split(announce_url, &u, NULL, 0) < 0 || strcmp(u.scheme, "http") != 0)
        return -1;
    if (event && strcmp(event, "started") != 0 && strcmp(event, "stopped") != 0 && strcmp(event, "completed") != 0)
        return -1;
    size_t hlen = strlen(u.host), rlen = strlen(u.target);
    if (hlen >= hostlen)
        return -1;
    const char *rest = u.target; /* path and query, "/" at least, no fragment */

    size_t mark = request->len;
    int had_err = request->err;
    ts_buf_printf(request, "GET ");
    ts_buf_put(request, rest, rlen);
    const char *q = memchr(rest, '?', rlen);
    if (!q)
        ts_buf_putc(request, '?');
    else if (rest + rlen - 1 != q && rest[rlen - 1] != '&')
        ts_buf_putc(request, '&');
    ts_buf_printf(request, "info_hash=");
    put_escaped(request, infohash, 20);
    ts_buf_printf(request, "&peer_id=");
    put_escaped(request, peer_id, 20);
    ts_buf_printf(request, "&port=%u&uploaded=%" PRIu64 "&downloaded=%" PRIu64 "&left=0&compact=1&numwant=%d",
                  (unsigned)port, uploaded, downloaded, TS_TRACKER_NUMWANT_DEFAULT);
    if (event)
        ts_buf_printf(request, "&event=%s", event);
    ts_buf_printf(request, " HTTP/1.0\r\nHost: %s%s%s", u.ipv6 ? "[" : "", u.host, u.ipv6 ? "]" : "");
    if (u.port != 80)
        ts_buf_printf(request, ":%u", (unsigned)u.port);
    ts_buf_printf(request, "\r\nUser-Agent: tstream/0.1\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n");
    if (request->err) {
        if (!had_err)
            request->len = mark; /* leave it as it was */
        return -1;
    }
    memcpy(host, u.host, hlen + 1);
    *tport = u.port;
    return 0;
}

/* ---------------------------------------------------------------- response parsing */


/* "a.b.c.d", each 0..255 with 1-3 digits. */
static int parse_ipv4(const uint8_t *s, size_t n, uint32_t *ip)
{
    uint32_t v = 0;
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part) {
            if (i >= n || s[i] != '.')
                return -1;
            i++;
        }
        size_t start = i;
        unsigned x = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3)
            x = x * 10 + (unsigned)(s[i++] - '0');
        if (i == start || x > 255)
            return -1;
        v = v << 8 | x;
    }
    if (i != n)
        return -1;
    *ip = v;
    return 0;
}

int ts_tracker_parse_response(const uint8_t *resp, size_t len, ts_announce_resp_t *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    if (err && errlen)
        err[0] = '\0';
    if (!resp || len == 0)
        return ts_err(err, errlen, "empty response");

    /* The head (status line, headers): lib/ts_http's one response parser. */
    ts_http_resp_t h;
    int hrc = ts_http_resp_parse(resp, len, &h);
    if (hrc == TS_HTTP_PARTIAL)
        return ts_err(err, errlen, "truncated headers");
    if (hrc != TS_HTTP_DONE)
        return ts_err(err, errlen, "bad response head: %s", h.error ? h.error : "malformed");
    int status = h.status;
    const char *v;
    size_t vl;
    /* We ask with HTTP/1.0, so a server must not chunk; rather refuse than misread. */
    if (h.has_te) {
        if (ts_http_resp_header(resp, &h, "Transfer-Encoding", &v, &vl) < 0) {
            v = "";
            vl = 0;
        }
        if (h.chunked || vl != 8 || strncasecmp(v, "identity", 8) != 0)
            return ts_err(err, errlen, "unsupported Transfer-Encoding %.*s", (int)(vl > 32 ? 32 : vl), v);
    }
    size_t pos = h.head_len, blen = len - pos;
    if (h.has_length) {
        if (h.content_length > blen)
            return ts_err(err, errlen, "truncated body: %zu of %" PRIu64 " bytes", blen, h.content_length);
        blen = (size_t)h.content_length;
    }
    const uint8_t *body = resp + pos;
    if (blen == 0)
        return ts_err(err, errlen, status == 200 ? "empty body" : "HTTP status %d", (int)status);

    char berr[128];
    size_t used = 0;
    ts_ben_t *t = ts_ben_parse(body, blen, &used, berr, sizeof berr);
    if (!t)
        return status == 200 ? ts_err(err, errlen, "body: %s", berr)
                             : ts_err(err, errlen, "HTTP status %d", (int)status);
    int rc = -1;
    for (size_t i = used; i < blen; i++)
        if (body[i] != '\r' && body[i] != '\n' && body[i] != ' ' && body[i] != '\t') {
            ts_err(err, errlen, "trailing bytes after the body's dictionary");
            goto out;
        }
    if (t->type != TS_BEN_DICT) {
        ts_err(err, errlen, "body is not a dictionary");
        goto out;
    }
    const ts_ben_t *fr = ts_ben_dict_get(t, "failure reason");
    if (fr) {
        if (fr->type != TS_BEN_STR) {
            ts_err(err, errlen, "failure reason is not a string");
            goto out;
        }
        /* Shown in logs: keep it printable. */
        size_t n = fr->len < sizeof r->failure - 1 ? fr->len : sizeof r->failure - 1;
        for (size_t i = 0; i < n; i++)
            r->failure[i] = fr->s[i] >= 0x20 && fr->s[i] < 0x7F ? (char)fr->s[i] : '?';
        r->failure[n] = '\0';
        if (n == 0)
            snprintf(r->failure, sizeof r->failure, "(empty failure reason)");
        rc = 0;
        goto out;
    }
    if (status != 200) {
        ts_err(err, errlen, "HTTP status %d", (int)status);
        goto out;
    }
    const ts_ben_t *iv = ts_ben_dict_get(t, "interval");
    if (iv) {
        if (iv->type != TS_BEN_INT) {
            ts_err(err, errlen, "interval is not an integer");
            goto out;
        }
        r->interval = iv->i < 0 ? 0 : iv->i > RESP_INTERVAL_MAX ? RESP_INTERVAL_MAX : (int)iv->i;
    }
    const ts_ben_t *pe = ts_ben_dict_get(t, "peers");
    if (pe && pe->type == TS_BEN_STR) {
        if (pe->len % 6) {
            ts_err(err, errlen, "compact peers of %zu bytes, not a multiple of 6", pe->len);
            goto out;
        }
        size_t n = pe->len / 6;
        if (n > TS_TRACKER_RESP_PEERS_MAX)
            n = TS_TRACKER_RESP_PEERS_MAX;
        if (n && !(r->peers = malloc(n * sizeof *r->peers))) {
            ts_err(err, errlen, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            const uint8_t *p = pe->s + 6 * i;
            ts_peer_addr_t a = { ts_get_u32be(p), (uint16_t)(p[4] << 8 | p[5]) };
            if (a.ip && a.port)
                r->peers[r->npeers++] = a;
        }
    } else if (pe && pe->type == TS_BEN_LIST) {
        size_t n = pe->n < TS_TRACKER_RESP_PEERS_MAX ? pe->n : TS_TRACKER_RESP_PEERS_MAX;
        if (n && !(r->peers = malloc(n * sizeof *r->peers))) {
            ts_err(err, errlen, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < pe->n && r->npeers < n; i++) {
            const ts_ben_t *d = pe->items[i];
            size_t iplen;
            const uint8_t *ip = ts_ben_get_str(d, "ip", &iplen);
            int64_t port;
            ts_peer_addr_t a;
            /* Hostnames and IPv6 entries are legal in this model but of no use to us: skipped. */
            if (!ip || ts_ben_get_int(d, "port", &port) < 0 || port < 1 || port > 65535 ||
                parse_ipv4(ip, iplen, &a.ip) < 0 || a.ip == 0)
                continue;
            a.port = (uint16_t)port;
            r->peers[r->npeers++] = a;
        }
    } else if (pe) {
        ts_err(err, errlen, "peers is neither a string nor a list");
        goto out;
    }
    rc = 0;
out:
    ts_ben_free(&t);
    if (rc < 0) {
        free(r->peers);
        memset(r, 0, sizeof *r);
    }
    return rc;
}

void ts_announce_resp_free(ts_announce_resp_t *r)
{
    if (!r)
        return;
    free(r->peers);
    r->peers = NULL;
    r->npeers = 0;
}
