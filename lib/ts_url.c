#include "ts_url.h"
#include "ts_err.h"
#include <stdio.h>
#include <string.h>
#include <strings.h>

uint16_t ts_url_default_port(const char *scheme)
{
    if (!strcasecmp(scheme, "http"))
        return 80;
    if (!strcasecmp(scheme, "https"))
        return 443;
    return 0;
}

static int host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_';
}

static int v6_char(char c)
{
    return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') || c == ':' || c == '.';
}

int ts_url_split(const char *url, ts_url_t *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    if (!url)
        return ts_err(err, errlen, "no URL");
    size_t n = strnlen(url, TS_URL_MAX);
    if (n >= TS_URL_MAX)
        return ts_err(err, errlen, "URL longer than %d bytes", TS_URL_MAX - 1);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
            return ts_err(err, errlen, "URL has a space, a control character or a non-ASCII byte");
    /* scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 3.1) */
    size_t s = 0;
    while (s < n && ((url[s] >= 'a' && url[s] <= 'z') || (url[s] >= 'A' && url[s] <= 'Z') ||
                     (s > 0 && ((url[s] >= '0' && url[s] <= '9') || url[s] == '+' || url[s] == '-' || url[s] == '.'))))
        s++;
    if (s == 0 || s > TS_URL_MAX_SCHEME || strncmp(url + s, "://", 3) != 0)
        return ts_err(err, errlen, "not a URL (want scheme://host[:port]/path)");
    for (size_t i = 0; i < s; i++)
        u->scheme[i] = (char)(url[i] >= 'A' && url[i] <= 'Z' ? url[i] - 'A' + 'a' : url[i]);
    const char *auth = url + s + 3;
    size_t alen = strcspn(auth, "/?#");
    const char *rest = auth + alen, *h = auth, *pstart = NULL;
    size_t hlen;
    if (memchr(auth, '@', alen))
        return ts_err(err, errlen, "user info in a URL is not supported");
    if (alen && auth[0] == '[') {
        const char *rb = memchr(auth, ']', alen);
        if (!rb)
            return ts_err(err, errlen, "IPv6 address without ']'");
        h = auth + 1;
        hlen = (size_t)(rb - h);
        for (size_t i = 0; i < hlen; i++)
            if (!v6_char(h[i]))
                return ts_err(err, errlen, "bad IPv6 address");
        if (hlen < 2)
            return ts_err(err, errlen, "bad IPv6 address");
        u->ipv6 = 1;
        if (rb + 1 < auth + alen) {
            if (rb[1] != ':')
                return ts_err(err, errlen, "junk after the IPv6 address");
            pstart = rb + 2;
        }
    } else {
        const char *colon = memchr(auth, ':', alen);
        hlen = colon ? (size_t)(colon - auth) : alen;
        if (colon)
            pstart = colon + 1;
        for (size_t i = 0; i < hlen; i++)
            if (!host_char(h[i]))
                return ts_err(err, errlen, "bad host name");
    }
    if (hlen == 0)
        return ts_err(err, errlen, "no host");
    if (hlen > TS_URL_MAX_HOST)
        return ts_err(err, errlen, "host name too long");
    memcpy(u->host, h, hlen);
    u->host[hlen] = '\0';
    u->port = ts_url_default_port(u->scheme);
    if (pstart) {
        size_t plen = (size_t)(auth + alen - pstart);
        unsigned v = 0;
        if (plen == 0 || plen > 5)
            return ts_err(err, errlen, "bad port");
        for (size_t i = 0; i < plen; i++) {
            if (pstart[i] < '0' || pstart[i] > '9')
                return ts_err(err, errlen, "bad port");
            v = v * 10 + (unsigned)(pstart[i] - '0');
        }
        if (v == 0 || v > 65535)
            return ts_err(err, errlen, "port out of range (1..65535)");
        u->port = (uint16_t)v;
        u->has_port = 1;
    }
    /* The target: path and query up to any fragment; "/" if the path is empty ("http://h?x" too). */
    size_t rlen = strcspn(rest, "#"), t = 0;
    if (rest[0] != '/')
        u->target[t++] = '/';
    memcpy(u->target + t, rest, rlen); /* fits: rlen + 1 < n < TS_URL_MAX */
    u->target[t + rlen] = '\0';
    u->path_len = strcspn(u->target, "?");
    return 0;
}

int ts_url_authority(const ts_url_t *u, int with_default_port, char *out, size_t outlen)
{
    int n;
    const char *l = u->ipv6 ? "[" : "", *r = u->ipv6 ? "]" : "";
    if (u->has_port || with_default_port)
        n = snprintf(out, outlen, "%s%s%s:%u", l, u->host, r, (unsigned)u->port);
    else
        n = snprintf(out, outlen, "%s%s%s", l, u->host, r);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}
