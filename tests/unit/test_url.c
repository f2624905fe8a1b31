/* lib/ts_url.c: URLs split into scheme, host (IPv6 in brackets), port (default per scheme) and
 * request target; everything that could smuggle bytes into a request line or Host header refused. */
#include "check.h"
#include "ts_url.h"
#include <string.h>

static void ok(const char *url, const char *scheme, const char *host, int v6, unsigned port, int has_port,
               const char *target, size_t path_len)
{
    ts_url_t u;
    char err[128] = "";
    int rc = ts_url_split(url, &u, err, sizeof err);
    CHECK(rc == 0, "%s: %s", url, err);
    if (rc)
        return;
    CHECK(!strcmp(u.scheme, scheme), "%s: scheme %s", url, u.scheme);
    CHECK(!strcmp(u.host, host), "%s: host %s", url, u.host);
    CHECK(u.ipv6 == v6 && u.port == port && u.has_port == has_port, "%s: v6 %d port %u has %d", url, u.ipv6, u.port,
          u.has_port);
    CHECK(!strcmp(u.target, target) && u.path_len == path_len, "%s: target %s path_len %zu", url, u.target,
          u.path_len);
}

static void bad(const char *url, const char *why)
{
    ts_url_t u;
    char err[128] = "";
    CHECK(ts_url_split(url, &u, err, sizeof err) < 0 && err[0], "%s accepted (%s)", url, why);
}

int main(void)
{
    ok("http://tracker.example:6969/announce", "http", "tracker.example", 0, 6969, 1, "/announce", 9);
    ok("http://t/a?x=1&y", "http", "t", 0, 80, 0, "/a?x=1&y", 2);
    ok("HTTP://Host.Example", "http", "Host.Example", 0, 80, 0, "/", 1);
    ok("https://h?q", "https", "h", 0, 443, 0, "/?q", 1);
    ok("http://127.0.0.1:8080/readyz#frag", "http", "127.0.0.1", 0, 8080, 1, "/readyz", 7);
    ok("http://[::1]:7000/x", "http", "::1", 1, 7000, 1, "/x", 2);
    ok("http://[fe80::1]", "http", "fe80::1", 1, 80, 0, "/", 1);
    ok("udp://tracker:1337", "udp", "tracker", 0, 1337, 1, "/", 1);
    ok("foo+bar://h_1-2.x/", "foo+bar", "h_1-2.x", 0, 0, 0, "/", 1);

    bad("tracker.example/announce", "no scheme");
    bad("http:/x", "one slash");
    bad("://h", "empty scheme");
    bad("1http://h", "scheme starts with a digit");
    bad("http://", "no host");
    bad("http:///path", "empty host");
    bad("http://user@h/", "user info");
    bad("http://h:/", "empty port");
    bad("http://h:0/", "port 0");
    bad("http://h:65536/", "port too big");
    bad("http://h:123456/", "port too long");
    bad("http://h:8x/", "port not a number");
    bad("http://[::1/", "no closing bracket");
    bad("http://[::1]x/", "junk after the bracket");
    bad("http://[]/", "empty v6");
    bad("http://[g::1]/", "not hex");
    bad("http://h~/", "tilde in a host");
    bad("http://h/a b", "space");
    bad("http://h/a\r\nHost: evil", "CRLF");
    bad("http://h/\x7f", "DEL");
    bad("http://h/\xc3\xa9", "non-ASCII");
    bad(NULL, "NULL");

    char longhost[300];
    memset(longhost, 'a', sizeof longhost);
    memcpy(longhost, "http://", 7);
    longhost[sizeof longhost - 1] = 0;
    bad(longhost, "host over 255 bytes");
    static char huge[TS_URL_MAX + 10];
    memset(huge, 'a', sizeof huge);
    memcpy(huge, "http://h/", 9);
    huge[sizeof huge - 1] = 0;
    bad(huge, "URL too long");
    huge[TS_URL_MAX - 1] = 0;
    ts_url_t u;
    CHECK(ts_url_split(huge, &u, NULL, 0) == 0 && strlen(u.target) == TS_URL_MAX - 1 - 8, "longest URL fits");

    char a[64];
    ts_url_split("http://[::1]:80/x", &u, NULL, 0);
    CHECK(ts_url_authority(&u, 0, a, sizeof a) == 0 && !strcmp(a, "[::1]:80"), "authority %s", a);
    ts_url_split("http://h/x", &u, NULL, 0);
    CHECK(ts_url_authority(&u, 0, a, sizeof a) == 0 && !strcmp(a, "h"), "authority %s", a);
    CHECK(ts_url_authority(&u, 1, a, sizeof a) == 0 && !strcmp(a, "h:80"), "authority %s", a);
    CHECK(ts_url_authority(&u, 1, a, 3) < 0, "authority does not fit");
    CHECK(ts_url_default_port("HTTPS") == 443 && ts_url_default_port("ftp") == 0, "default ports");
    CHECK_DONE();
}
