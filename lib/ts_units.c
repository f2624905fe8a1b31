#include "ts_units.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int scaled(const char *s, uint64_t k, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -1;
    uint64_t mul = 1;
    switch (*end) {
    case 0: break;
    case 'k': case 'K': mul = k; end++; break;
    case 'm': case 'M': mul = k * k; end++; break;
    case 'g': case 'G': mul = k * k * k; end++; break;
    default: return -1;
    }
    if (*end == 'b' || *end == 'B')
        end++; /* "2Mb", "16kB" */
    if (*end)
        return -1;
    double r = v * (double)mul;
    if (r >= 1.8e19)
        return -1;
    *out = (uint64_t)(r + 0.5);
    return 0;
}

int ts_units_rate(const char *s, uint64_t *bps) { return scaled(s, 1000, bps); }

int ts_units_size(const char *s, uint64_t *bytes) { return scaled(s, 1024, bytes); }

int ts_units_duration(const char *s, uint64_t *us)
{
    uint64_t v = 0, mul = 1;
    size_t i = 0;
    for (; s[i] >= '0' && s[i] <= '9' && i < 7; i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    if (i == 0)
        return -1;
    if (s[i] == 'm' || s[i] == 'h')
        mul = s[i++] == 'm' ? 60 : 3600;
    else if (s[i] == 's')
        i++;
    if (s[i] || v * mul > 7 * 24 * 3600)
        return -1;
    *us = v * mul * 1000000;
    return 0;
}

int ts_units_hostport(const char *s, char *addr, unsigned addrlen, uint16_t *port)
{
    if (!s || !*s)
        return -1;
    const char *colon = strrchr(s, ':');
    const char *p = colon ? colon + 1 : s;
    size_t alen = colon ? (size_t)(colon - s) : 0;
    if (alen == 0) {
        snprintf(addr, addrlen, "127.0.0.1");
    } else {
        if (alen >= addrlen)
            return -1;
        memcpy(addr, s, alen);
        addr[alen] = 0;
    }
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (errno || end == p || *end || v < 0 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}
