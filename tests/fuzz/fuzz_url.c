/* libFuzzer target for the URL splitter (lib/ts_url.c: tracker URLs, magnet trackers, tsctl probe
 * and watch). Beyond "no crash, no out-of-bounds read": what it accepts is safe to put into a
 * request line and a Host header (printable ASCII, no space, no fragment, host of the allowed
 * characters), and splitting the URL put back together from its parts gives the same parts. */
#include "ts_url.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_parts(const ts_url_t *u)
{
    size_t hl = strlen(u->host), tl = strlen(u->target);
    if (!u->scheme[0] || hl == 0 || hl > TS_URL_MAX_HOST || tl == 0 || tl >= TS_URL_MAX || u->target[0] != '/')
        abort();
    for (size_t i = 0; i < hl; i++)
        if (strchr("@/?#[] \r\n", u->host[i]) || (!u->ipv6 && u->host[i] == ':'))
            abort();
    for (size_t i = 0; i < tl; i++)
        if ((unsigned char)u->target[i] <= 0x20 || (unsigned char)u->target[i] >= 0x7f || u->target[i] == '#')
            abort();
    if (u->path_len > tl || (u->target[u->path_len] != '\0' && u->target[u->path_len] != '?'))
        abort();
    if (u->has_port && u->port == 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0'; /* a NUL inside just ends the URL early, as it would for a C caller */
    ts_url_t u, u2;
    char err[128];
    if (ts_url_split(s, &u, err, sizeof err) == 0) {
        check_parts(&u);
        char auth[TS_URL_MAX_HOST + 16];
        if (ts_url_authority(&u, 1, auth, sizeof auth) < 0)
            abort();
        static char again[TS_URL_MAX + 64];
        int n = snprintf(again, sizeof again, "%s://%s%s", u.scheme, auth, u.target);
        if (n > 0 && (size_t)n < TS_URL_MAX) {
            if (ts_url_split(again, &u2, err, sizeof err) < 0)
                abort();
            if (strcmp(u.scheme, u2.scheme) || strcmp(u.host, u2.host) || u.ipv6 != u2.ipv6 || u.port != u2.port ||
                strcmp(u.target, u2.target) || u.path_len != u2.path_len)
                abort();
        }
    } else if (!err[0]) {
        abort();
    }
    free(s);
    return 0;
}
