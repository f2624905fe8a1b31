#include "ts_pushurl.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *prefix;
    ts_push_kind_t kind;
    const char *keys; /* the query keys it takes, for the error message */
} schemes[] = {
    { "srt://", TS_PUSH_SRT, "passphrase, latency" },
    { "udp://", TS_PUSH_UDP, "iface (with @GROUP)" },
    { "tcp://", TS_PUSH_TCP, "none" },
};

ts_push_kind_t ts_pushurl_kind(const char *spec)
{
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (strncmp(spec, schemes[i].prefix, strlen(schemes[i].prefix)) == 0)
            return schemes[i].kind;
    return TS_PUSH_NONE;
}

static int fail(char *err, size_t errlen, const char *what, const char *s, size_t n)
{
    snprintf(err, errlen, "%s '%.*s'", what, (int)(n > 80 ? 80 : n), s);
    return -1;
}

/* A decimal in lo..hi, the whole of s[0..n). */
static int number(const char *s, size_t n, long lo, long hi, long *v)
{
    if (n == 0 || n > 6)
        return -1;
    long x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    if (x < lo || x > hi)
        return -1;
    *v = x;
    return 0;
}

/* A dotted IPv4 address, the whole of s[0..n), into out (host byte order in *ip). */
static int ipv4(const char *s, size_t n, char *out, size_t outlen, uint32_t *ip)
{
    char tmp[16];
    struct in_addr a;
    if (n == 0 || n >= sizeof tmp || n >= outlen)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (inet_pton(AF_INET, tmp, &a) != 1)
        return -1;
    memcpy(out, tmp, n + 1);
    *ip = ntohl(a.s_addr);
    return 0;
}

/* A host name: letters, digits, '-', '.'; not empty, no leading '-' or '.'. */
static int hostname(const char *s, size_t n, char *out, size_t outlen)
{
    if (n == 0 || n >= outlen || s[0] == '-' || s[0] == '.')
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '-' || s[i] == '.'))
            return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

static int query(ts_pushurl_t *u, const char *keys, const char *q, char *err, size_t errlen)
{
    while (*q) {
        size_t n = strcspn(q, "&"), kn = strcspn(q, "=");
        if (kn >= n)
            return fail(err, errlen, "a query item needs KEY=VALUE:", q, n);
        const char *v = q + kn + 1;
        size_t vn = n - kn - 1;
        long x;
        if (u->kind == TS_PUSH_SRT && kn == 10 && !strncmp(q, "passphrase", kn)) {
            if (vn < TS_PUSH_PASS_MIN || vn > TS_PUSH_PASS_MAX) {
                snprintf(err, errlen, "the SRT passphrase must be %d to %d characters (it has %zu)", TS_PUSH_PASS_MIN,
                         TS_PUSH_PASS_MAX, vn);
                return -1;
            }
            for (size_t i = 0; i < vn; i++)
                if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f) {
                    snprintf(err, errlen, "the SRT passphrase must be printable ASCII without spaces");
                    return -1;
                }
            memcpy(u->passphrase, v, vn);
            u->passphrase[vn] = '\0';
        } else if (u->kind == TS_PUSH_SRT && kn == 7 && !strncmp(q, "latency", kn)) {
            if (number(v, vn, 0, 60000, &x) < 0)
                return fail(err, errlen, "latency is milliseconds from 0 to 60000, not", v, vn);
            u->latency_ms = (int)x;
        } else if (u->kind == TS_PUSH_UDP && u->multicast && kn == 5 && !strncmp(q, "iface", kn)) {
            uint32_t ip;
            if (ipv4(v, vn, u->iface, sizeof u->iface, &ip) < 0)
                return fail(err, errlen, "iface must be an IPv4 address of this host, not", v, vn);
        } else {
            snprintf(err, errlen, "unknown query key '%.*s' (%s takes: %s)", (int)(kn > 40 ? 40 : kn), q,
                     schemes[u->kind - 1].prefix, keys);
            return -1;
        }
        q += n + (q[n] == '&');
    }
    return 0;
}

int ts_pushurl_parse(const char *spec, ts_pushurl_t *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    u->latency_ms = -1;
    u->kind = ts_pushurl_kind(spec);
    if (u->kind == TS_PUSH_NONE) {
        snprintf(err, errlen, "not srt://, udp:// or tcp://");
        return -1;
    }
    if (strlen(spec) > TS_PUSHURL_MAX) {
        snprintf(err, errlen, "longer than %d characters", TS_PUSHURL_MAX);
        return -1;
    }
    const char *keys = schemes[u->kind - 1].keys;
    const char *a = spec + 6; /* every prefix is 6 characters */
    size_t an = strcspn(a, "?/#");
    if (a[an] == '/' || a[an] == '#')
        return fail(err, errlen, "no path or fragment after the port:", a + an, strlen(a + an));
    if (u->kind == TS_PUSH_UDP && an && a[0] == '@') {
        u->multicast = 1;
        a++, an--;
    }
    const char *colon = memchr(a, ':', an);
    if (!colon)
        return fail(err, errlen, "needs :PORT, as in", spec, strlen(spec));
    size_t hn = (size_t)(colon - a);
    long port;
    if (number(colon + 1, an - hn - 1, 1, 65535, &port) < 0)
        return fail(err, errlen, "bad port (1 to 65535):", colon + 1, an - hn - 1);
    u->port = (uint16_t)port;
    uint32_t ip = 0;
    if (u->kind == TS_PUSH_SRT) {
        u->listen = hn == 0;
        if (hn && ipv4(a, hn, u->host, sizeof u->host, &ip) < 0 && hostname(a, hn, u->host, sizeof u->host) < 0)
            return fail(err, errlen, "bad host", a, hn);
    } else if (u->multicast) {
        if (ipv4(a, hn, u->host, sizeof u->host, &ip) < 0 || (ip >> 28) != 0xe)
            return fail(err, errlen, "bad multicast group (an address in 224.0.0.0 to 239.255.255.255):", a, hn);
    } else {
        u->listen = u->kind == TS_PUSH_TCP;
        if (hn && ipv4(a, hn, u->host, sizeof u->host, &ip) < 0)
            return fail(err, errlen, "bad local address (a dotted IPv4 address, or none for every address):", a, hn);
        if (hn && (ip >> 28) == 0xe) {
            snprintf(err, errlen, "%s is a multicast group: join it with udp://@%s:%u", u->host, u->host, u->port);
            return -1;
        }
    }
    return a[an] == '?' ? query(u, keys, a + an + 1, err, errlen) : 0;
}

void ts_pushurl_redact(const char *spec, char *out, size_t outlen)
{
    if (!outlen)
        return;
    size_t o = 0;
    const char *p = spec;
    while (*p && o + 1 < outlen) {
        out[o++] = *p;
        if ((*p == '?' || *p == '&') && !strncmp(p + 1, "passphrase=", 11)) {
            size_t skip = strcspn(p + 12, "&");
            int n = snprintf(out + o, outlen - o, "passphrase=***");
            o = n < 0 || (size_t)n >= outlen - o ? outlen - 1 : o + (size_t)n;
            p += 12 + skip;
            continue;
        }
        p++;
    }
    out[o] = '\0';
}

int ts_push_packets(const uint8_t *buf, size_t len)
{
    if (len == 0 || len % 188)
        return 0;
    for (size_t i = 0; i < len; i += 188)
        if (buf[i] != 0x47)
            return 0;
    return 1;
}
