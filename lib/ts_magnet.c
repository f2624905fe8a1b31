#include "ts_magnet.h"
#include "ts_err.h"
#include "ts_hex.h"
#include "ts_metainfo.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Percent-decode s[0..len) into out (NUL-terminated, at most cap - 1 bytes); '+' is a space as
 * in query strings. -1 on a bad escape, a control byte or NUL, or a value too long. */
static int decode(const char *s, size_t len, char *out, size_t cap, const char **why)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int hi = i + 2 < len ? ts_hex_val(s[i + 1]) : -1, lo = i + 2 < len ? ts_hex_val(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                *why = "bad percent-escape";
                return -1;
            }
            c = hi << 4 | lo;
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c < 0x20 || c == 0x7f) {
            *why = "control character";
            return -1;
        }
        if (n + 1 >= cap) {
            *why = "value too long";
            return -1;
        }
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return 0;
}

static int parse_btih(const char *v, uint8_t ih[20])
{
    size_t len = strlen(v);
    if (len == 40) {
        for (int i = 0; i < 20; i++) {
            int hi = ts_hex_val(v[2 * i]), lo = ts_hex_val(v[2 * i + 1]);
            if (hi < 0 || lo < 0)
                return -1;
            ih[i] = (uint8_t)(hi << 4 | lo);
        }
        return 0;
    }
    if (len == 32) { /* RFC 4648 base32, 160 bits exactly */
        uint64_t acc = 0;
        int bits = 0, k = 0;
        for (size_t i = 0; i < 32; i++) {
            int c = v[i], d;
            if (c >= 'A' && c <= 'Z')
                d = c - 'A';
            else if (c >= 'a' && c <= 'z')
                d = c - 'a';
            else if (c >= '2' && c <= '7')
                d = c - '2' + 26;
            else
                return -1;
            acc = acc << 5 | (uint64_t)d;
            bits += 5;
            if (bits >= 8) {
                bits -= 8;
                ih[k++] = (uint8_t)(acc >> bits);
            }
        }
        return 0;
    }
    return -1;
}

static int parse_pe(const char *v, uint32_t *ip, uint16_t *port)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v || (size_t)(colon - v) >= INET_ADDRSTRLEN)
        return -1;
    char host[INET_ADDRSTRLEN];
    memcpy(host, v, (size_t)(colon - v));
    host[colon - v] = '\0';
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) != 1)
        return -1;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || p < 1 || p > 65535)
        return -1;
    *ip = ntohl(a.s_addr);
    *port = (uint16_t)p;
    return 0;
}

int ts_magnet_parse(const char *uri, ts_magnet_t *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    size_t total = strnlen(uri, TS_MAGNET_MAX + 1);
    if (total > TS_MAGNET_MAX)
        return ts_err(err, errlen, "magnet link longer than %d bytes", TS_MAGNET_MAX);
    if (strncasecmp(uri, "magnet:?", 8) != 0)
        return ts_err(err, errlen, "not a magnet link (must start with magnet:?)");
    int have_ih = 0;
    const char *p = uri + 8;
    while (*p) {
        size_t len = strcspn(p, "&");
        const char *eq = memchr(p, '=', len);
        size_t klen = eq ? (size_t)(eq - p) : 0;
        int known = eq && ((klen == 2 && (memcmp(p, "xt", 2) == 0 || memcmp(p, "dn", 2) == 0 ||
                                          memcmp(p, "tr", 2) == 0)) ||
                           (klen == 4 && memcmp(p, "x.pe", 4) == 0));
        if (known) { /* other parameters are skipped undecoded, whatever their length */
            const char *vs = eq + 1;
            size_t vlen = len - klen - 1;
            char v[TS_MAGNET_STR_MAX + 1];
            const char *why = NULL;
            if (decode(vs, vlen, v, sizeof v, &why) < 0)
                return ts_err(err, errlen, "magnet link: %.*s: %s", (int)klen, p, why);
            if (klen == 2 && memcmp(p, "xt", 2) == 0 && strncasecmp(v, "urn:btih:", 9) == 0) {
                if (have_ih)
                    return ts_err(err, errlen, "magnet link: more than one urn:btih");
                if (parse_btih(v + 9, m->infohash) < 0)
                    return ts_err(err, errlen, "magnet link: infohash must be 40 hex digits or 32 base32 characters");
                have_ih = 1;
            } else if (klen == 2 && memcmp(p, "dn", 2) == 0) {
                memcpy(m->name, v, strlen(v) + 1);
            } else if (klen == 2 && memcmp(p, "tr", 2) == 0) {
                if (m->ntr < TS_MAGNET_TR_MAX && v[0])
                    memcpy(m->tr[m->ntr++], v, strlen(v) + 1);
            } else if (klen == 4 && memcmp(p, "x.pe", 4) == 0) {
                uint32_t ip;
                uint16_t port;
                if (parse_pe(v, &ip, &port) < 0)
                    return ts_err(err, errlen, "magnet link: x.pe must be IPv4:PORT, got \"%s\"", v);
                if (m->npe < TS_MAGNET_PE_MAX) {
                    m->pe[m->npe].ip = ip;
                    m->pe[m->npe++].port = port;
                }
            }
        }
        p += len;
        if (*p == '&')
            p++;
    }
    if (!have_ih) {
        memset(m, 0, sizeof *m);
        return ts_err(err, errlen, "magnet link has no xt=urn:btih:<infohash>");
    }
    return 0;
}

static int put_encoded(char *out, size_t outlen, size_t *n, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '_' || c == '~';
        if (*n + (plain ? 1 : 3) >= outlen)
            return -1;
        if (plain) {
            out[(*n)++] = (char)c;
        } else {
            out[(*n)++] = '%';
            out[(*n)++] = hex[c >> 4];
            out[(*n)++] = hex[c & 15];
        }
    }
    out[*n] = '\0';
    return 0;
}

int ts_magnet_format(const uint8_t infohash[20], const char *name, const char *tracker, char *out, size_t outlen)
{
    char ih[41];
    ts_metainfo_hex(infohash, ih);
    int w = snprintf(out, outlen, "magnet:?xt=urn:btih:%s", ih);
    if (w < 0 || (size_t)w >= outlen)
        return -1;
    size_t n = (size_t)w;
    if (name && name[0]) {
        if (n + 4 >= outlen)
            return -1;
        memcpy(out + n, "&dn=", 5);
        n += 4;
        if (put_encoded(out, outlen, &n, name) < 0)
            return -1;
    }
    if (tracker && tracker[0]) {
        if (n + 4 >= outlen)
            return -1;
        memcpy(out + n, "&tr=", 5);
        n += 4;
        if (put_encoded(out, outlen, &n, tracker) < 0)
            return -1;
    }
    return 0;
}
