/* lib/ts_pushurl.c: the srt://, udp://, tcp:// source forms, their refusals, the passphrase mask
 * and the whole-TS-packets check of datagrams. */
#include "check.h"
#include "ts_pushurl.h"
#include <string.h>

static ts_pushurl_t ok(const char *spec)
{
    ts_pushurl_t u;
    char err[256] = "";
    CHECK(ts_pushurl_parse(spec, &u, err, sizeof err) == 0, "%s refused: %s", spec, err);
    return u;
}

static void bad(const char *spec, const char *says)
{
    ts_pushurl_t u;
    char err[256] = "";
    CHECK(ts_pushurl_parse(spec, &u, err, sizeof err) < 0 && strstr(err, says), "%s: '%s', expected '%s'", spec, err,
          says);
}

int main(void)
{
    ts_pushurl_t u = ok("srt://:9000");
    CHECK(u.kind == TS_PUSH_SRT && u.listen && u.port == 9000 && !u.passphrase[0] && u.latency_ms == -1, "srt listener");
    u = ok("srt://encoder.example:9000?passphrase=0123456789&latency=250");
    CHECK(!u.listen && !strcmp(u.host, "encoder.example") && !strcmp(u.passphrase, "0123456789") && u.latency_ms == 250,
          "srt caller with options");
    u = ok("udp://@239.1.2.3:5000?iface=10.0.0.2");
    CHECK(u.kind == TS_PUSH_UDP && u.multicast && !strcmp(u.host, "239.1.2.3") && !strcmp(u.iface, "10.0.0.2"),
          "udp multicast");
    u = ok("udp://:5000");
    CHECK(!u.multicast && !u.host[0] && u.port == 5000, "udp any");
    u = ok("tcp://127.0.0.1:7000");
    CHECK(u.kind == TS_PUSH_TCP && u.listen && !strcmp(u.host, "127.0.0.1"), "tcp");
    CHECK(ts_pushurl_kind("http://x") == TS_PUSH_NONE && ts_pushurl_kind("tcp://") == TS_PUSH_TCP, "kind");

    bad("srt://:0", "bad port");
    bad("srt://:65536", "bad port");
    bad("tcp://:12a", "bad port");
    bad("tcp://", "needs :PORT");
    bad("srt://:9000?foo=1", "unknown query key 'foo'");
    bad("tcp://:9000?latency=5", "unknown query key");
    bad("udp://:5000?iface=1.2.3.4", "unknown query key"); /* iface only with a group */
    bad("srt://:9000?passphrase=short", "10 to 79");
    bad("srt://:9000?latency=-1", "latency");
    bad("srt://:9000?passphrase", "KEY=VALUE");
    bad("udp://@10.1.2.3:5000", "bad multicast group");
    bad("udp://@:5000", "bad multicast group");
    bad("udp://239.1.2.3:5000", "join it with udp://@239.1.2.3:5000");
    bad("tcp://example.com:80", "bad local address");
    bad("srt://bad_host:1", "bad host");
    bad("srt://:9000/live", "no path");

    char shown[128];
    ts_pushurl_redact("srt://:9000?latency=20&passphrase=0123456789abc&x=1", shown, sizeof shown);
    CHECK(!strcmp(shown, "srt://:9000?latency=20&passphrase=***&x=1"), "redacted: %s", shown);
    ts_pushurl_redact("srt://:9000?passphrase=0123456789", shown, 16);
    CHECK(strlen(shown) == 15 && !strstr(shown, "0123"), "redacted, truncated: %s", shown);

    uint8_t d[1316] = { 0 };
    for (int i = 0; i < 7; i++)
        d[i * 188] = 0x47;
    CHECK(ts_push_packets(d, 1316) && ts_push_packets(d, 188), "whole packets");
    CHECK(!ts_push_packets(d, 0) && !ts_push_packets(d, 1000) && !ts_push_packets(d + 1, 188), "not whole packets");
    d[376] = 0;
    CHECK(!ts_push_packets(d, 1316), "a packet without sync");
    CHECK_DONE();
}
