/* One URL splitter for every client (tracker announces, magnet trackers, tsctl probe and watch):
 * scheme://host[:port][/path][?query][#fragment] into bounded fields. Pure (no I/O, no
 * allocation, no name lookup), so it is unit-tested and fuzzed.
 *
 * Strict, because the parts go into request lines, Host headers and getaddrinfo: the host is a
 * name or IPv4 address of letters, digits, '-', '.', '_', or an IPv6 address in brackets (hex
 * digits, ':', '.'); no user info ('@'); the path and query only printable ASCII without spaces. */
#ifndef TS_URL_H
#define TS_URL_H
#include <stddef.h>
#include <stdint.h>

#define TS_URL_MAX 4096        /* longer URLs are refused */
#define TS_URL_MAX_SCHEME 15
#define TS_URL_MAX_HOST 255

typedef struct {
    char scheme[TS_URL_MAX_SCHEME + 1]; /* lowercased: "http" */
    char host[TS_URL_MAX_HOST + 1];     /* as written, without the brackets of an IPv6 address */
    int ipv6;                           /* host was in brackets: write it as [host] in a Host header */
    uint16_t port;                      /* the URL's, else the scheme's default (0 if it has none) */
    int has_port;                       /* the URL named the port */
    char target[TS_URL_MAX];            /* path and query, for a request line: "/" at least, no fragment */
    size_t path_len;                    /* the path is target[0..path_len); a query follows from '?' */
} ts_url_t;

/* Split url. 0, or -1 with err saying why: no "scheme://", an empty or bad host, a bad or zero
 * port, user info, a byte outside printable ASCII, a part too long. */
int ts_url_split(const char *url, ts_url_t *u, char *err, size_t errlen);
/* The default port of a scheme (http 80, https 443), or 0. */
uint16_t ts_url_default_port(const char *scheme);
/* host and port as "host:port" or "[v6]:port" (port left out when it is the scheme's default and
 * not given, as in a Host header). -1 if it does not fit. */
int ts_url_authority(const ts_url_t *u, int with_default_port, char *out, size_t outlen);
#endif
